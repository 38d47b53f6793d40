/*
 * QUIC transport parameters (RFC 9000 §7.4, §18; max_datagram_frame_size
 * from RFC 9221 §3; version_information from RFC 9368 §3): the codec for the quic_transport_parameters TLS
 * extension (0x39, RFC 9001 §8.2), and an adapter that plugs it into the
 * TLS engine's extension hook (ho_tls_config_add_ext_hook).
 *
 * Errors: decoding returns HO_ERR_QUIC(TRANSPORT_PARAMETER_ERROR) for
 * anything §18.2 / §7.3 / §7.4 forbid (malformed, out of range, duplicate,
 * server-only parameter from a client, mandatory parameter missing);
 * encoding returns HO_ERR_INVALID_ARG for parameters we must not send and
 * HO_ERR_NOMEM if the buffer failed. Decoding allocates nothing.
 */
#ifndef HO_QUIC_TPARAMS_H
#define HO_QUIC_TPARAMS_H

#include "handoff/tls.h"
#include "quic/packet.h"

#define HO_QUIC_TP_EXTENSION 0x39 /* RFC 9001 §8.2 */

/* Transport parameter IDs (RFC 9000 §18.2, RFC 9221 §3). */
enum {
    HO_QUIC_TP_ORIGINAL_DCID = 0x00,
    HO_QUIC_TP_MAX_IDLE_TIMEOUT = 0x01,
    HO_QUIC_TP_STATELESS_RESET_TOKEN = 0x02,
    HO_QUIC_TP_MAX_UDP_PAYLOAD_SIZE = 0x03,
    HO_QUIC_TP_INITIAL_MAX_DATA = 0x04,
    HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_LOCAL = 0x05,
    HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_REMOTE = 0x06,
    HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_UNI = 0x07,
    HO_QUIC_TP_INITIAL_MAX_STREAMS_BIDI = 0x08,
    HO_QUIC_TP_INITIAL_MAX_STREAMS_UNI = 0x09,
    HO_QUIC_TP_ACK_DELAY_EXPONENT = 0x0a,
    HO_QUIC_TP_MAX_ACK_DELAY = 0x0b,
    HO_QUIC_TP_DISABLE_ACTIVE_MIGRATION = 0x0c,
    HO_QUIC_TP_PREFERRED_ADDRESS = 0x0d,
    HO_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT = 0x0e,
    HO_QUIC_TP_INITIAL_SCID = 0x0f,
    HO_QUIC_TP_RETRY_SCID = 0x10,
    HO_QUIC_TP_VERSION_INFORMATION = 0x11, /* RFC 9368 §3, §10.1 */
    HO_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE = 0x20,
};

/* Defaults when absent (RFC 9000 §18.2; 0 for everything else). */
#define HO_QUIC_TP_DEFAULT_MAX_UDP_PAYLOAD_SIZE 65527
#define HO_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT 3
#define HO_QUIC_TP_DEFAULT_MAX_ACK_DELAY 25
#define HO_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT 2
/* Limits (RFC 9000 §18.2). */
#define HO_QUIC_TP_MAX_ACK_DELAY_EXPONENT 20
#define HO_QUIC_TP_MAX_ACK_DELAY_LIMIT (1u << 14) /* values >= this are invalid */

typedef struct ho_quic_preferred_address {
    uint8_t ipv4[4];
    uint16_t ipv4_port;
    uint8_t ipv6[16];
    uint16_t ipv6_port;
    ho_quic_cid cid;                                 /* 1..20 bytes */
    uint8_t reset_token[HO_QUIC_RESET_TOKEN_LEN];
} ho_quic_preferred_address;

/* Available Versions we keep from a peer's version_information; more are
 * validated (RFC 9368 §4: none may be 0) but not kept. */
#define HO_QUIC_VI_MAX 16

typedef struct ho_quic_tparams {
    /* Bit ho_quic_tp_bit(id) per parameter: on decode, the ones received;
     * on encode, the ones to send (integers differing from their default
     * and disable_active_migration == true are sent regardless). */
    uint32_t present;
    ho_quic_cid original_dcid;                  /* server only */
    uint64_t max_idle_timeout;                  /* ms; 0 = none */
    uint8_t stateless_reset_token[HO_QUIC_RESET_TOKEN_LEN]; /* server only */
    uint64_t max_udp_payload_size;
    uint64_t initial_max_data;
    uint64_t initial_max_stream_data_bidi_local;
    uint64_t initial_max_stream_data_bidi_remote;
    uint64_t initial_max_stream_data_uni;
    uint64_t initial_max_streams_bidi;
    uint64_t initial_max_streams_uni;
    uint64_t ack_delay_exponent;
    uint64_t max_ack_delay;                     /* ms */
    bool disable_active_migration;
    ho_quic_preferred_address preferred_address; /* server only */
    uint64_t active_connection_id_limit;
    ho_quic_cid initial_scid;                   /* mandatory (§7.3), may be empty */
    ho_quic_cid retry_scid;                     /* server only, after a Retry */
    uint64_t max_datagram_frame_size;           /* 0: no DATAGRAM support */
    /* version_information (RFC 9368 §3): Chosen Version, then Available
     * Versions (a client's: in preference order, the chosen one included;
     * a server's: its fully deployed versions). */
    uint32_t vi_chosen;
    uint32_t vi_available[HO_QUIC_VI_MAX];
    uint8_t vi_count;
} ho_quic_tparams;

/* The presence bit of a known parameter id, 0 for an unknown one. */
static inline uint32_t ho_quic_tp_bit(uint64_t id)
{
    if (id <= HO_QUIC_TP_RETRY_SCID)
        return 1u << id;
    if (id == HO_QUIC_TP_VERSION_INFORMATION)
        return 1u << 18;
    return id == HO_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE ? 1u << 17 : 0;
}
static inline bool ho_quic_tparams_has(const ho_quic_tparams *tp, uint64_t id)
{
    return (tp->present & ho_quic_tp_bit(id)) != 0;
}

/* Every field at its §18.2 default, nothing present. */
void ho_quic_tparams_init(ho_quic_tparams *tp);

/* Appends the extension body. is_server: our role; a client refuses to
 * send server-only parameters (§18.2: MUST NOT). Values outside the ranges
 * §18.2 allows are refused too. */
int ho_quic_tparams_encode(ho_buf *b, const ho_quic_tparams *tp, bool is_server);

/* Decodes the peer's extension body into tp (initialised to defaults
 * first). from_server: the peer's role. Unknown and reserved (31*N+27,
 * §18.1) parameters are skipped (§7.4.2). A version_information that does
 * not parse (RFC 9368 §4: length not a non-zero multiple of 4, a zero
 * version, or from a client a Chosen Version missing from its Available
 * Versions) is a TRANSPORT_PARAMETER_ERROR too; whether the versions are
 * acceptable is the connection's check (VERSION_NEGOTIATION_ERROR). */
int ho_quic_tparams_decode(const uint8_t *p, size_t len, bool from_server, ho_quic_tparams *tp);

/* ---- the TLS engine hook ------------------------------------------------ */

/* One connection's side of the exchange. */
typedef struct ho_quic_tp_exchange {
    ho_quic_tparams local;  /* ours: filled before the handshake */
    ho_quic_tparams peer;   /* the peer's, once peer_received */
    bool peer_received;
    /* Optional: runs once the peer's parameters are decoded and, on a
     * server, before ours are encoded, so they can depend on the client's
     * (DESIGN.md: read the peer's and write ours in one step). A non-OK
     * return fails the handshake with that error. */
    int (*on_peer)(void *ctx, struct ho_quic_tp_exchange *x);
    void *on_peer_ctx;
} ho_quic_tp_exchange;

typedef struct ho_quic_tp_hook {
    /* The exchange of the connection that owns tls (e.g. through
     * ho_tls_get_user). NULL fails the handshake with internal_error. */
    ho_quic_tp_exchange *(*exchange_of)(ho_tls *tls);
} ho_quic_tp_hook;

/* An ho_tls_ext_fn; ctx is a const ho_quic_tp_hook *. A missing extension
 * is HO_ERR_TLS_ALERT(missing_extension) (RFC 9001 §8.2: error 0x016d);
 * invalid parameters are HO_ERR_QUIC(TRANSPORT_PARAMETER_ERROR), which
 * ho_tls_handle returns as is (ho_quic_err_wire_code maps both). */
int ho_quic_tparams_ext_fn(void *ctx, ho_tls *tls, uint8_t msg_type, const uint8_t *peer, size_t peer_len,
                           ho_buf *out);
/* Registers ho_quic_tparams_ext_fn for extension 0x39 on cfg; hook must
 * outlive cfg. */
int ho_quic_tparams_install(ho_tls_config *cfg, const ho_quic_tp_hook *hook);

#endif
