/*
 * handoff — events: one typed stream of what the library does, for logs,
 * traces (qlog), counters and tests.
 *
 * Every event is an ho_event: a type, a log level, the connection it is
 * about (an id, and for QUIC its original destination connection ID), a
 * timestamp from that connection's clock, and a payload (the union `u`,
 * one member per QUIC event; the older TLS/TCP events use a, b, detail).
 *
 * Subscribers register with a mask of the types they want
 * (ho_event_subscribe_mask; HO_EVM_* are the categories, HO_EV_BIT(t) one
 * type) and are called synchronously, on the thread of the connection
 * that emits (for a QUIC connection: the thread that drives it; never two
 * threads at once for one connection). Subscribe and unsubscribe while no
 * event can be in flight (at start-up, before threads; tests between
 * runs). Several subscribers may be registered at once (up to 8).
 *
 * Cost without a subscriber: an event site tests one bit of a global mask
 * (ho_event_wanted) before it builds the payload; nothing else runs.
 *
 * HANDOFF_LOG=error|warn|info|debug|trace installs the stderr subscriber
 * at the first event: it takes the types whose level is within the
 * threshold (QUIC packet and metrics events are trace, the other QUIC
 * events debug).
 *
 * Times: QUIC events carry the `now` of the call in progress on the
 * connection (ho_quic_time ns on the caller's clock; netsim's virtual
 * clock in tests, so transcripts are deterministic). TLS/TCP events carry
 * no connection time (0; the stderr writer prints the wall clock).
 */
#ifndef HANDOFF_EVENT_H
#define HANDOFF_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HO_LOG_OFF = 0,
    HO_LOG_ERROR,
    HO_LOG_WARN,
    HO_LOG_INFO,
    HO_LOG_DEBUG,
    HO_LOG_TRACE,
} ho_log_level;

typedef enum {
    /* TLS (over TCP and inside QUIC) and the TCP server: a, b, detail. */
    HO_EV_HANDSHAKE_START,
    HO_EV_MSG_RECV,        /* a = handshake type, b = length */
    HO_EV_MSG_SENT,        /* a = handshake type, b = length */
    HO_EV_SECRET_INSTALLED,/* a = epoch, b = 1 write / 0 read */
    HO_EV_ALERT_SENT,      /* a = alert description */
    HO_EV_ALERT_RECV,      /* a = alert description */
    HO_EV_HANDSHAKE_DONE,  /* detail = suite/group/alpn summary */
    HO_EV_HANDSHAKE_FAILED,/* a = error */
    HO_EV_KEY_UPDATE,      /* TLS KeyUpdate: b = 1 write / 0 read */
    HO_EV_CONN_OPEN,
    HO_EV_CONN_CLOSE,
    HO_EV_NOTE,            /* free-form, detail */
    HO_EV_OFFLOAD_QUEUED,  /* a = queue depth after submit */
    HO_EV_OFFLOAD_DONE,    /* a = ns queued, b = ns running */
    HO_EV_KTLS,            /* a = 1 engaged / 0 fallback, detail = why */
    HO_EV_TIMEOUT,         /* detail = which timeout */
    /* QUIC connection events (u.<member>; time = the connection's now). */
    HO_EV_QUIC_PACKET_SENT,     /* u.packet */
    HO_EV_QUIC_PACKET_RECEIVED, /* u.packet (processed: decrypted, frames handled) */
    HO_EV_QUIC_PACKET_LOST,     /* u.packet (no frames; reason HO_EV_LOSS_*) */
    HO_EV_QUIC_PACKET_DROPPED,  /* u.packet (reason HO_EV_DROP_*; pn may be unknown) */
    HO_EV_QUIC_RTT_UPDATED,     /* u.metrics: a new RTT sample */
    HO_EV_QUIC_CC_UPDATED,      /* u.metrics: cwnd, bytes in flight or ssthresh changed */
    HO_EV_QUIC_KEY_UPDATED,     /* u.key: keys installed (tls) or a 1-RTT key update */
    HO_EV_QUIC_PATH,            /* u.path: validation, migration */
    HO_EV_QUIC_ECN_STATE,       /* u.ecn */
    HO_EV_QUIC_PMTUD,           /* u.pmtud */
    HO_EV_QUIC_STATE,           /* u.state: connection state changed */
    HO_EV_QUIC_PARAMS,          /* u.params: transport parameters (ours, then the peer's) */
    /* QUIC endpoint events (no connection: odcid is the datagram's DCID
     * when known; time = the endpoint call's now). */
    HO_EV_QUIC_DATAGRAM_DROPPED,/* u.datagram: dropped at the endpoint, reason HO_EV_DROP_* */
    HO_EV_QUIC_RETRY_SENT,      /* u.datagram (size) */
    HO_EV_QUIC_VN_SENT,         /* u.datagram (size) */
    HO_EV_QUIC_RESET_SENT,      /* u.datagram (size): stateless reset */
    HO_EV__COUNT
} ho_event_type;

/* ---- masks ---------------------------------------------------------------- */

typedef uint64_t ho_event_mask;
#define HO_EV_BIT(t) ((ho_event_mask)1 << (t))
#define HO_EVM_TLS                                                                                               \
    (HO_EV_BIT(HO_EV_HANDSHAKE_START) | HO_EV_BIT(HO_EV_MSG_RECV) | HO_EV_BIT(HO_EV_MSG_SENT) |                  \
     HO_EV_BIT(HO_EV_SECRET_INSTALLED) | HO_EV_BIT(HO_EV_ALERT_SENT) | HO_EV_BIT(HO_EV_ALERT_RECV) |             \
     HO_EV_BIT(HO_EV_HANDSHAKE_DONE) | HO_EV_BIT(HO_EV_HANDSHAKE_FAILED) | HO_EV_BIT(HO_EV_KEY_UPDATE))
#define HO_EVM_CONN                                                                                              \
    (HO_EV_BIT(HO_EV_CONN_OPEN) | HO_EV_BIT(HO_EV_CONN_CLOSE) | HO_EV_BIT(HO_EV_TIMEOUT) |                       \
     HO_EV_BIT(HO_EV_KTLS) | HO_EV_BIT(HO_EV_OFFLOAD_QUEUED) | HO_EV_BIT(HO_EV_OFFLOAD_DONE))
#define HO_EVM_NOTE HO_EV_BIT(HO_EV_NOTE)
#define HO_EVM_QUIC_PACKET                                                                                       \
    (HO_EV_BIT(HO_EV_QUIC_PACKET_SENT) | HO_EV_BIT(HO_EV_QUIC_PACKET_RECEIVED) |                                 \
     HO_EV_BIT(HO_EV_QUIC_PACKET_LOST) | HO_EV_BIT(HO_EV_QUIC_PACKET_DROPPED))
#define HO_EVM_QUIC_RECOVERY (HO_EV_BIT(HO_EV_QUIC_RTT_UPDATED) | HO_EV_BIT(HO_EV_QUIC_CC_UPDATED))
#define HO_EVM_QUIC_SECURITY HO_EV_BIT(HO_EV_QUIC_KEY_UPDATED)
#define HO_EVM_QUIC_PATH (HO_EV_BIT(HO_EV_QUIC_PATH) | HO_EV_BIT(HO_EV_QUIC_ECN_STATE) | HO_EV_BIT(HO_EV_QUIC_PMTUD))
#define HO_EVM_QUIC_CONN (HO_EV_BIT(HO_EV_QUIC_STATE) | HO_EV_BIT(HO_EV_QUIC_PARAMS))
#define HO_EVM_QUIC_ENDPOINT                                                                                     \
    (HO_EV_BIT(HO_EV_QUIC_DATAGRAM_DROPPED) | HO_EV_BIT(HO_EV_QUIC_RETRY_SENT) | HO_EV_BIT(HO_EV_QUIC_VN_SENT) | \
     HO_EV_BIT(HO_EV_QUIC_RESET_SENT))
#define HO_EVM_QUIC                                                                                              \
    (HO_EVM_QUIC_PACKET | HO_EVM_QUIC_RECOVERY | HO_EVM_QUIC_SECURITY | HO_EVM_QUIC_PATH | HO_EVM_QUIC_CONN |    \
     HO_EVM_QUIC_ENDPOINT)
#define HO_EVM_ALL (HO_EV_BIT(HO_EV__COUNT) - 1)

/* ---- QUIC payloads --------------------------------------------------------- */

/* Packet types (u.packet.pkt_type). */
enum {
    HO_EV_PKT_INITIAL,
    HO_EV_PKT_0RTT,
    HO_EV_PKT_HANDSHAKE,
    HO_EV_PKT_1RTT,
    HO_EV_PKT_RETRY,
    HO_EV_PKT_VERSION_NEGOTIATION,
    HO_EV_PKT_STATELESS_RESET,
    HO_EV_PKT_UNKNOWN,
};

/* Why a packet was declared lost (RFC 9002 §6.1, §6.2). */
enum {
    HO_EV_LOSS_REORDERING,  /* packet threshold */
    HO_EV_LOSS_TIME,        /* time threshold */
    HO_EV_LOSS_PTO,         /* a probe timeout (the PMTUD probe that never came back) */
};

/* Why a packet (connection) or datagram (endpoint) was dropped. */
enum {
    HO_EV_DROP_KEY_UNAVAILABLE,  /* no keys (yet, or any more) for its space */
    HO_EV_DROP_DECRYPTION,       /* header protection or AEAD failed */
    HO_EV_DROP_DUPLICATE,        /* packet number already received */
    HO_EV_DROP_HEADER,           /* malformed header, unsupported or coalesced garbage */
    HO_EV_DROP_UNEXPECTED,       /* valid but not wanted now (late Retry/VN, closing, path refused) */
    HO_EV_DROP_PROTOCOL,         /* carried a protocol violation (the connection closes) */
    /* endpoint only */
    HO_EV_DROP_UNKNOWN_CONN,     /* short header or Handshake for no connection */
    HO_EV_DROP_UNSUPPORTED_VERSION,
    HO_EV_DROP_SHORT_INITIAL,    /* client Initial in a datagram under 1200 bytes (RFC 9000 §14.1) */
    HO_EV_DROP_BAD_DCID,         /* client Initial with a DCID under 8 bytes (§7.2) */
    HO_EV_DROP_INVALID_TOKEN,
    HO_EV_DROP_BAD_FRAMES,       /* Initial with frames not allowed there */
    HO_EV_DROP_QUEUE_FULL,       /* connection's step queue or the endpoint's queue is full */
    HO_EV_DROP_REFUSED,          /* connection refused (limit or load) */
    HO_EV_DROP__COUNT
};

#define HO_EV_FRAMES_MAX 32
#define HO_EV_ACK_RANGES 4

/* One frame. type is the wire type (STREAM: 0x08 whatever the bits). */
typedef struct ho_ev_frame {
    uint64_t type;
    /* STREAM, RESET_STREAM, STOP_SENDING, MAX_STREAM_DATA,
     * STREAM_DATA_BLOCKED: stream id; ACK: largest acknowledged;
     * NEW/RETIRE_CONNECTION_ID: sequence; CONNECTION_CLOSE: error code;
     * MAX_DATA, MAX_STREAMS, DATA_BLOCKED, STREAMS_BLOCKED: the value. */
    uint64_t id;
    /* STREAM, CRYPTO: offset; ACK: ack delay (raw field); RESET_STREAM:
     * final size; MAX_STREAM_DATA, STREAM_DATA_BLOCKED: the value;
     * NEW_CONNECTION_ID: retire prior to. */
    uint64_t offset;
    /* STREAM, CRYPTO, DATAGRAM: length; ACK: number of ranges; PADDING:
     * bytes; RESET_STREAM, STOP_SENDING: application error code;
     * NEW_TOKEN: the token's length. */
    uint64_t length;
    bool fin;
    union {
        struct {
            uint8_t cid_len;  /* NEW_CONNECTION_ID: the connection ID */
            uint8_t cid[20];
        };
        /* ACK: the first min(length, HO_EV_ACK_RANGES) ranges, largest
         * first, as {smallest, largest} */
        uint64_t ack_ranges[HO_EV_ACK_RANGES][2];
    };
} ho_ev_frame;

typedef struct ho_ev_packet {
    uint8_t pkt_type;     /* HO_EV_PKT_* */
    uint8_t reason;       /* lost: HO_EV_LOSS_*; dropped: HO_EV_DROP_* */
    bool key_phase;       /* 1-RTT */
    bool frames_truncated;/* more than HO_EV_FRAMES_MAX frames */
    /* sent/received Initial: the length of its token (0: none) and whether
     * it is a Retry token (else a NEW_TOKEN token, RFC 9000 §8.1.3) */
    bool token_retry;
    uint16_t token_len;
    uint64_t pn;          /* UINT64_MAX when unknown (dropped before decryption) */
    uint32_t size;        /* bytes on the wire (header, payload, tag) */
    uint32_t payload_len; /* plaintext frame bytes (sent/received) */
    uint32_t nframes;
    ho_ev_frame frames[HO_EV_FRAMES_MAX];
} ho_ev_packet;

typedef struct ho_ev_metrics {
    int64_t min_rtt, smoothed_rtt, latest_rtt, rtt_variance; /* ns */
    uint64_t cwnd, bytes_in_flight, ssthresh;                  /* bytes; ssthresh UINT64_MAX: none */
    uint32_t pto_count;
} ho_ev_metrics;

/* Key types and triggers of HO_EV_QUIC_KEY_UPDATED. */
enum { HO_EV_KEY_INITIAL, HO_EV_KEY_HANDSHAKE, HO_EV_KEY_1RTT, HO_EV_KEY_0RTT };
enum { HO_EV_KEY_TLS, HO_EV_KEY_LOCAL_UPDATE, HO_EV_KEY_REMOTE_UPDATE };
typedef struct ho_ev_key {
    uint8_t key_type;     /* HO_EV_KEY_INITIAL.. */
    uint8_t trigger;      /* HO_EV_KEY_TLS.. */
    bool is_write;        /* our write key (else our read key) */
    uint64_t generation;  /* 1-RTT key phase generation (0 first) */
} ho_ev_key;

enum {
    HO_EV_PATH_VALIDATING,  /* a PATH_CHALLENGE went out for a new path */
    HO_EV_PATH_VALIDATED,
    HO_EV_PATH_FAILED,      /* validation timed out; back to the old path */
    HO_EV_PATH_MIGRATED,    /* the connection moved to a new peer address / local path */
    HO_EV_PATH_REBOUND,     /* the peer's port changed (NAT rebinding) */
};
typedef struct ho_ev_path {
    uint8_t what;
} ho_ev_path;

/* ECN states (RFC 9000 §13.4.2, Appendix A.4). */
enum { HO_EV_ECN_TESTING, HO_EV_ECN_UNKNOWN, HO_EV_ECN_CAPABLE, HO_EV_ECN_FAILED };
typedef struct ho_ev_ecn {
    uint8_t old_state, new_state;
} ho_ev_ecn;

enum {
    HO_EV_PMTUD_PROBE_SENT,
    HO_EV_PMTUD_PROBE_ACKED,   /* the size in use grew */
    HO_EV_PMTUD_PROBE_LOST,
    HO_EV_PMTUD_BLACK_HOLE,    /* back to the base size */
    HO_EV_PMTUD_DONE,          /* search over */
};
typedef struct ho_ev_pmtud {
    uint8_t what;
    uint64_t probe_size;       /* probes */
    uint64_t old_size, new_size;/* datagram size in use */
} ho_ev_pmtud;

/* Connection states (HO_EV_QUIC_STATE). */
enum {
    HO_EV_QSTATE_STARTED,            /* created (client: first Initial queued) */
    HO_EV_QSTATE_HANDSHAKE_COMPLETE, /* TLS done */
    HO_EV_QSTATE_CONFIRMED,          /* RFC 9001 §4.1.2 */
    HO_EV_QSTATE_CLOSING,
    HO_EV_QSTATE_DRAINING,
    HO_EV_QSTATE_CLOSED,
    HO_EV_QSTATE_FREED,              /* about to be freed: the last event of a connection */
};
/* How a connection ended (HO_EV_QSTATE_CLOSING and after). */
enum {
    HO_EV_CLOSE_NONE,            /* not closing */
    HO_EV_CLOSE_ERROR,           /* CONNECTION_CLOSE with a transport error (0x1c) */
    HO_EV_CLOSE_APPLICATION,     /* CONNECTION_CLOSE of the application (0x1d) */
    HO_EV_CLOSE_IDLE_TIMEOUT,    /* RFC 9000 §10.1: silent */
    HO_EV_CLOSE_STATELESS_RESET, /* §10.3: received */
    HO_EV_CLOSE_VERSION_MISMATCH,/* §6.2: no version in common (client) */
};
struct sockaddr;
typedef struct ho_ev_state {
    uint8_t old_state, new_state;   /* HO_EV_QSTATE_* */
    int error;                      /* closing/draining/closed: ho_quic_conn_error */
    /* closing/draining/closed: who ended the connection and how */
    uint8_t trigger;                /* HO_EV_CLOSE_* */
    bool by_peer;                   /* the peer (its CONNECTION_CLOSE, a stateless reset) */
    uint64_t code;                  /* the CONNECTION_CLOSE error code (0 when none was sent) */
    uint64_t frame_type;            /* transport errors: the frame type it names (0 none) */
    const char *reason;             /* its reason phrase, NUL-terminated ("" none) */
    /* started: the first path's addresses (NULL, or a zero port, when not
     * known yet: a client before its socket is bound) */
    const struct sockaddr *local, *remote;
} ho_ev_state;

typedef struct ho_ev_params {
    bool remote;                    /* the peer's (else ours) */
    uint64_t max_idle_timeout_ms, max_udp_payload_size, initial_max_data;
    uint64_t initial_max_stream_data_bidi_local, initial_max_stream_data_bidi_remote, initial_max_stream_data_uni;
    uint64_t initial_max_streams_bidi, initial_max_streams_uni;
    uint64_t ack_delay_exponent, max_ack_delay_ms, active_connection_id_limit, max_datagram_frame_size;
    bool disable_active_migration;
    uint8_t initial_scid_len;
    uint8_t initial_scid[20];
} ho_ev_params;

typedef struct ho_ev_datagram {
    uint32_t size;
    uint8_t reason;      /* dropped: HO_EV_DROP_* */
} ho_ev_datagram;

/* ---- the event -------------------------------------------------------- */

typedef struct ho_event {
    ho_event_type type;
    ho_log_level level;
    uint64_t conn;     /* connection identifier chosen by the owner; 0 if none */
    const char *role;  /* "server" / "client" / NULL */
    int64_t a, b;      /* TLS/TCP events */
    const char *detail;
    /* QUIC events */
    int64_t time;              /* QUIC: the connection's clock (ns); TLS/TCP: 0 */
    const uint8_t *odcid;      /* original destination connection ID (the client's first DCID) */
    size_t odcid_len;
    /* One pointer per connection for a subscriber that keeps per-connection
     * state (the qlog writer): NULL until set; at HO_EV_QSTATE_FREED the
     * subscriber frees what it hangs there. NULL for endpoint events. */
    void **slot;
    union {
        ho_ev_packet packet;
        ho_ev_metrics metrics;
        ho_ev_key key;
        ho_ev_path path;
        ho_ev_ecn ecn;
        ho_ev_pmtud pmtud;
        ho_ev_state state;
        ho_ev_params params;
        ho_ev_datagram datagram;
    } u;
} ho_event;

typedef void (*ho_event_fn)(void *ctx, const ho_event *ev);

/* Subscribes fn for every type (HO_EVM_ALL). HO_ERR_NOMEM when 8 are registered. */
HO_API int ho_event_subscribe(ho_event_fn fn, void *ctx);
/* Subscribes fn for the types in mask. */
HO_API int ho_event_subscribe_mask(ho_event_fn fn, void *ctx, ho_event_mask mask);
/* Removes the subscription of (fn, ctx); HO_ERR_NOT_FOUND if none. */
HO_API int ho_event_unsubscribe(ho_event_fn fn, void *ctx);

/* The union of the subscribers' masks. Read it through ho_event_wanted. */
HO_API extern ho_event_mask ho_event_active;
static inline bool ho_event_wanted(ho_event_type t)
{
    return ((__atomic_load_n(&ho_event_active, __ATOMIC_RELAXED) >> t) & 1) != 0;
}

/* The lowest level any subscriber wants; emit is skipped above it (the
 * TLS/TCP sites check it; QUIC sites check ho_event_wanted). */
HO_API ho_log_level ho_event_threshold(void);
/* Calls the subscribers that want ev->type (and counts it). */
HO_API void ho_event_emit(const ho_event *ev);
HO_API const char *ho_event_name(ho_event_type t);
/* The default level of a type (what the stderr subscriber filters on). */
HO_API ho_log_level ho_event_level(ho_event_type t);
/* Per-type counters of emitted events (QUIC events are emitted only while
 * some subscriber wants them). */
HO_API uint64_t ho_event_count(ho_event_type t);

/* Names for the payload enums (qlog spellings where qlog has one). */
HO_API const char *ho_event_pkt_name(unsigned pkt_type);     /* "initial", "1RTT", ... */
HO_API const char *ho_event_frame_name(uint64_t frame_type); /* "stream", "ack", ... */
HO_API const char *ho_event_drop_name(unsigned reason);      /* "decryption_failure", ... */
HO_API const char *ho_event_loss_name(unsigned reason);      /* "reordering_threshold", ... */
HO_API const char *ho_event_qstate_name(unsigned state);     /* "handshake_complete", ... */
HO_API const char *ho_event_ecn_name(unsigned state);        /* "testing", ... */
HO_API const char *ho_event_path_name(unsigned what);
HO_API const char *ho_event_pmtud_name(unsigned what);
HO_API const char *ho_event_key_name(unsigned key_type, bool is_write, bool is_server);
/* One line (no newline) describing ev's payload, as the stderr writer prints it. */
HO_API size_t ho_event_format(const ho_event *ev, char *buf, size_t cap);

/* printf-style note at a level: goes through the same stream. */
HO_API void ho_log(ho_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#ifdef __cplusplus
}
#endif
#endif
