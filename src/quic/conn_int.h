/* Internal state of the QUIC connection (include/handoff/quic.h), shared by
 * conn.c (life cycle, TLS, keys, timers, close), conn_recv.c (packets and
 * frames in), conn_send.c (packets out), stream.c (streams and flow
 * control) and crypto_stream.c (range sets, send and receive buffers used
 * by CRYPTO and STREAM data alike). */
#ifndef HO_QUIC_CONN_INT_H
#define HO_QUIC_CONN_INT_H

#include "handoff/quic.h"
#include "quic/quic_types.h"
#include "quic/packet.h"
#include "quic/frame.h"
#include "quic/tparams.h"
#include "quic/recovery.h"
#include "quic/cc/cc.h"
#include "quic/ecn.h"
#include "quic/pmtud.h"
#include "quic/qevent.h"
#include "handoff/offload.h"

/* ---- range sets and stream buffers (crypto_stream.c) ------------------ */

/* Disjoint, non-adjacent [start, end) ranges in ascending order. */
typedef struct ho_quic_range {
    uint64_t start, end;
} ho_quic_range;

typedef struct ho_quic_rangeset {
    ho_quic_range *r;
    size_t n, cap;
} ho_quic_rangeset;

int ho_quic_rangeset_add(ho_quic_rangeset *s, uint64_t start, uint64_t end);
void ho_quic_rangeset_remove(ho_quic_rangeset *s, uint64_t start, uint64_t end);
bool ho_quic_rangeset_contains(const ho_quic_rangeset *s, uint64_t v);
/* Drops the lowest ranges until at most max remain. */
void ho_quic_rangeset_trim(ho_quic_rangeset *s, size_t max);
void ho_quic_rangeset_free(ho_quic_rangeset *s);

/* A piece of a send buffer that has references (ho_quic_stream_write_ref):
 * stream offsets [off, off + len), either borrowed memory or bytes of the
 * ring starting at ring index ring_idx. */
typedef struct ho_quic_sendseg {
    uint64_t off, len;
    const uint8_t *ref;          /* NULL: in the ring */
    uint64_t ring_idx;           /* (ring segments) */
    ho_quic_release_fn release;  /* (references) may be NULL */
    void *release_ud;
} ho_quic_sendseg;

/* Outgoing byte stream (CRYPTO at one epoch, or a stream's send side).
 * Data is retained from `base` (everything below is acknowledged) to
 * `end`; frames are retransmitted as ranges, never as packets.
 * Copied bytes live in a ring, numbered by a ring index that only grows:
 * index i (ring_base <= i < ring_end) is at ring[(head + i - ring_base)
 * mod cap]. Acknowledging the prefix only moves `head`; live bytes move
 * only when the ring grows (to hold more than `cap` unacknowledged bytes),
 * so a stream bounded by its send buffer stops copying once its ring has
 * reached that size. Without references (nseg == 0) [base, end) is all in
 * the ring, from ring_base on; once a reference is written, the segments
 * segs[seg_first..nseg) cover [base, end) in order, until all of it is
 * acknowledged. */
typedef struct ho_quic_sendbuf {
    uint8_t *ring;
    size_t cap;             /* bytes allocated at ring */
    size_t head;            /* position of ring index ring_base (< cap, or 0) */
    uint64_t ring_base, ring_end;
    ho_quic_sendseg *segs;
    size_t seg_first, nseg, seg_cap;
    uint64_t base, end;
    uint64_t next;          /* first offset never sent */
    ho_quic_rangeset retx;  /* declared lost, to send again */
    ho_quic_rangeset acked; /* acknowledged above base */
    bool fin, fin_sent, fin_acked, fin_lost;
} ho_quic_sendbuf;

/* Frees the buffer; references still held are released. */
void ho_quic_sendbuf_free(ho_quic_sendbuf *sb);
int ho_quic_sendbuf_write(ho_quic_sendbuf *sb, const void *p, size_t len);
/* Appends a reference to p (see ho_quic_stream_write_ref). On failure
 * (HO_ERR_NOMEM) nothing is kept and release is not called. */
int ho_quic_sendbuf_write_ref(ho_quic_sendbuf *sb, const void *p, size_t len, ho_quic_release_fn release,
                              void *ud);
/* The next chunk to send: a lost range first, then new data below
 * `limit` (flow control). Returns false if nothing (not even a lone FIN)
 * is due. *data points into the buffer; a chunk is contiguous, so it
 * stops where the ring wraps (the rest comes with the next peek). */
bool ho_quic_sendbuf_peek(const ho_quic_sendbuf *sb, uint64_t limit, size_t max_len, uint64_t *off, size_t *len,
                          bool *fin, const uint8_t **data);
/* The chunk went out; returns how many bytes of it were new (first send). */
uint64_t ho_quic_sendbuf_on_sent(ho_quic_sendbuf *sb, uint64_t off, size_t len, bool fin);
void ho_quic_sendbuf_on_acked(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin);
void ho_quic_sendbuf_on_lost(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin);
/* Marks everything sent and unacknowledged for retransmission (PTO). */
void ho_quic_sendbuf_requeue_unacked(ho_quic_sendbuf *sb);
/* Marks up to `max` bytes of the oldest sent, unacknowledged data (or an
 * unacknowledged lone FIN) for retransmission; returns the bytes marked. */
uint64_t ho_quic_sendbuf_requeue_oldest(ho_quic_sendbuf *sb, uint64_t max);
bool ho_quic_sendbuf_done(const ho_quic_sendbuf *sb);
/* With everything written acknowledged, frees the ring and the segment and
 * range arrays (a stream at rest; ho_quic_conn_trim). A busy buffer keeps
 * its ring, so that a stream bounded by its send buffer stops copying. */
void ho_quic_sendbuf_trim(ho_quic_sendbuf *sb);
bool ho_quic_sendbuf_has_unacked(const ho_quic_sendbuf *sb);

/* Incoming byte stream with reassembly. */
typedef struct ho_quic_recvbuf {
    ho_buf data;            /* data.data[i] is offset read + i */
    uint64_t read;          /* delivered to the consumer */
    uint64_t highest;       /* largest end offset received */
    ho_quic_rangeset have;
} ho_quic_recvbuf;

void ho_quic_recvbuf_free(ho_quic_recvbuf *rb);
int ho_quic_recvbuf_insert(ho_quic_recvbuf *rb, uint64_t off, const uint8_t *p, size_t len);
/* Contiguous bytes available at `read`. */
size_t ho_quic_recvbuf_readable(const ho_quic_recvbuf *rb);
size_t ho_quic_recvbuf_read(ho_quic_recvbuf *rb, uint8_t *out, size_t cap);
/* With nothing buffered, frees the buffer and range storage (at rest). */
void ho_quic_recvbuf_trim(ho_quic_recvbuf *rb);

/* ---- streams (stream.c) ----------------------------------------------- */

typedef struct ho_quic_stream {
    uint64_t id;
    bool has_send, has_recv;
    /* send side */
    ho_quic_sendbuf tx;
    uint64_t tx_max;             /* peer's MAX_STREAM_DATA */
    bool want_writable;          /* a write was refused: tell when it can go on */
    bool reset_pending, reset_sent, reset_acked;
    uint64_t reset_code;
    /* receive side */
    ho_quic_recvbuf rx;
    uint64_t rx_max, rx_window;  /* our MAX_STREAM_DATA and its window */
    bool msd_pending;            /* MAX_STREAM_DATA to send */
    bool fin_received, fin_read, reset_received;
    uint64_t final_size;
    bool stop_pending, stop_sent;
    uint64_t stop_code;
    bool in_send_queue;
} ho_quic_stream;

/* ---- sent-packet records ---------------------------------------------- */

enum {
    HO_QUIC_SF_CRYPTO = 1,
    HO_QUIC_SF_STREAM,
    HO_QUIC_SF_MAX_DATA,
    HO_QUIC_SF_MAX_STREAM_DATA,
    HO_QUIC_SF_MAX_STREAMS_BIDI,
    HO_QUIC_SF_MAX_STREAMS_UNI,
    HO_QUIC_SF_RESET_STREAM,
    HO_QUIC_SF_STOP_SENDING,
    HO_QUIC_SF_HANDSHAKE_DONE,
    HO_QUIC_SF_ACK,
    HO_QUIC_SF_NEW_CID,     /* id: sequence number */
    HO_QUIC_SF_RETIRE_CID,  /* id: sequence number */
    HO_QUIC_SF_DATAGRAM,    /* len: payload bytes; never retransmitted (RFC 9221 §5.2) */
    HO_QUIC_SF_NEW_TOKEN,   /* server: c->new_token (RFC 9000 §19.7) */
};

/* A DATAGRAM frame's payload waiting to be sent (RFC 9221). */
typedef struct ho_quic_dgram {
    struct ho_quic_dgram *next;
    size_t len;
    uint8_t data[];
} ho_quic_dgram;

typedef struct ho_quic_sent_frame {
    uint8_t kind;
    bool fin;
    uint64_t id;      /* stream id; ACK: largest acknowledged; CRYPTO: space */
    uint64_t offset;
    uint64_t len;
} ho_quic_sent_frame;

#define HO_QUIC_SENT_FRAMES_MAX 24

typedef struct ho_quic_sent_record {
    struct ho_quic_sent_record *next_free;
    unsigned n;
    ho_quic_sent_frame f[HO_QUIC_SENT_FRAMES_MAX];
} ho_quic_sent_record;

/* ---- connection IDs and paths (cid.c, path.c) ------------------------- */

/* RFC 9000 §5.1.1 / §18.2: the active_connection_id_limit we announce —
 * how many of the peer's CIDs we keep. Above the default 2, so a client
 * holds spares for several migrations (§9.5: each needs an unused CID)
 * without waiting a round trip for a NEW_CONNECTION_ID. */
#define HO_QUIC_ACTIVE_CID_LIMIT 4
#define HO_QUIC_LOCAL_CIDS_MAX 4     /* we issue at most this many (§5.1.1) */
#define HO_QUIC_PEER_CIDS_MAX HO_QUIC_ACTIVE_CID_LIMIT /* our active_connection_id_limit */
#define HO_QUIC_RETIRE_PENDING_MAX 16
#define HO_QUIC_CHALLENGES_MAX 3     /* PATH_CHALLENGE data values outstanding */

typedef struct ho_quic_local_cid {
    ho_quic_cid cid;
    uint64_t seq;
    uint8_t token[HO_QUIC_RESET_TOKEN_LEN];
    bool in_use, new_pending;        /* NEW_CONNECTION_ID to (re)send */
} ho_quic_local_cid;

typedef struct ho_quic_peer_cid {
    ho_quic_cid cid;
    uint64_t seq;
    uint8_t token[HO_QUIC_RESET_TOKEN_LEN];
    bool in_use, has_token;
    bool used;                       /* we sent with it: its token may be checked (§10.3.1) */
} ho_quic_peer_cid;

struct ho_quic_conn;
/* How a server connection tells its endpoint about the CIDs it issues
 * (routing, reset tokens) and the peer's reset tokens it uses. */
typedef struct ho_quic_cid_hooks {
    void *ctx;
    void *owner;                     /* the endpoint's record of the connection */
    /* A new CID of ours: fill its stateless reset token; an error (a
     * collision in the routing table) makes the connection pick another. */
    int (*issued)(void *ctx, struct ho_quic_conn *c, const ho_quic_cid *cid, uint8_t token[16]);
    void (*retired)(void *ctx, struct ho_quic_conn *c, const ho_quic_cid *cid);
    /* A peer token became checkable (add) or was retired. */
    void (*peer_token)(void *ctx, struct ho_quic_conn *c, const uint8_t token[16], bool add);
    /* The application changed the connection (quic_conn_wake). */
    void (*wake)(void *ctx, struct ho_quic_conn *c);
} ho_quic_cid_hooks;

/* Called by every public function through which the application changes
 * a connection, so that an endpoint looks at it at its next send. */
static inline void quic_conn_wake(struct ho_quic_conn *c);

typedef struct ho_quic_path_validation {
    bool active;
    bool challenge_pending;          /* a PATH_CHALLENGE to send */
    uint8_t data[HO_QUIC_CHALLENGES_MAX][HO_QUIC_PATH_DATA_LEN];
    unsigned ndata;
    ho_quic_time retransmit_at, expires_at;
    bool pad;                        /* pad the datagram carrying it (§8.2.1) */
} ho_quic_path_validation;

typedef struct ho_quic_side_path {
    ho_quic_path addr;
    bool valid;
    bool response_pending;
    uint8_t response[HO_QUIC_PATH_DATA_LEN];
    uint64_t amp_received, amp_sent; /* §8.1: 3x what came from there */
} ho_quic_side_path;

/* ---- the connection --------------------------------------------------- */

typedef struct ho_quic_space {
    bool has_tx, has_rx, discarded;
    ho_quic_keys tx, rx;
    uint64_t next_pn;
    uint64_t largest_rx;          /* HO_QUIC_PN_NONE before the first */
    ho_quic_time largest_rx_time;
    ho_quic_rangeset rx_pns;      /* received packet numbers (recent ranges) */
    unsigned unacked_eliciting;   /* ack-eliciting received since our last ACK */
    bool ack_pending;             /* something to acknowledge */
    ho_quic_time ack_deadline;    /* HO_QUIC_TIME_NEVER when no ACK is owed */
    unsigned probes;              /* ack-eliciting probe packets owed (PTO) */
    ho_quic_sendbuf crypto_tx;
    ho_quic_recvbuf crypto_rx;
} ho_quic_space;

/* 1-RTT key phases (RFC 9001 §6), key_update.c. The current keys are in
 * spaces[APPLICATION].tx/rx; the header protection key never changes. */
typedef struct ho_quic_key_phase {
    const ho_tls_suite *suite;
    uint8_t tx_secret[CRYPTO_HASH_MAX], rx_secret[CRYPTO_HASH_MAX]; /* current generation */
    uint8_t rx_next_secret[CRYPTO_HASH_MAX];
    crypto_aead *rx_next;          /* precomputed next-generation read key */
    crypto_aead *rx_prev;          /* previous read key, for reordered packets */
    bool tx_phase, rx_phase;   /* Key Phase bits in use */
    uint64_t tx_first_pn;      /* first packet number sent with the current write key */
    uint64_t rx_first_pn;      /* first packet number received with the current read key */
    uint64_t updates;          /* completed read-key updates */
    ho_quic_time rx_prev_until;   /* rx_prev is dropped then (3 PTO, §6.5) */
    ho_quic_time next_update_at;  /* no scheduled update before (§6.5) */
} ho_quic_key_phase;

/* 0-RTT (early.c, RFC 9001 §4.6): keys and the client's remembered
 * transport parameters (RFC 9000 §7.4.1). */
#define HO_QUIC_EARLY_TP 8
typedef struct ho_quic_early {
    bool has_tx, has_rx;          /* client writes / server reads 0-RTT */
    ho_quic_keys tx, rx;
    bool remembered;              /* client: the session carried the server's parameters */
    uint32_t session_version;     /* client: the session's QUIC version, 0: unknown (old blob) */
    uint64_t tp[HO_QUIC_EARLY_TP];/* client: remembered parameters (early.c order) */
    bool offered;                 /* client: 0-RTT was attempted (keys and limits were set) */
    bool resolved;                /* client: the server's answer was acted on */
    bool requeue;                 /* client: discarded 0-RTT packets give their frames back */
    bool discard_armed;           /* server: the read keys go at discard_at (§4.9.3) */
    ho_quic_time discard_at;
} ho_quic_early;

typedef enum {
    HO_QUIC_STATE_HANDSHAKE,
    HO_QUIC_STATE_ESTABLISHED,
    HO_QUIC_STATE_CLOSING,  /* RFC 9000 §10.2.1 */
    HO_QUIC_STATE_DRAINING, /* RFC 9000 §10.2.2 */
    HO_QUIC_STATE_CLOSED,
} ho_quic_state;

/* A server TLS step taken out of line (handshake offload): the endpoint
 * enables capture; ho_quic_conn_tls_input then takes complete handshake
 * messages of the Initial/Handshake spaces into `input` instead of
 * feeding TLS, and the endpoint runs ho_quic_step_run (on a worker, where
 * only tls, tpx, tls_out and this struct are touched) and
 * ho_quic_step_finish (back on the connection's thread). */
#define HO_QUIC_STEP_SECRETS 4
typedef struct ho_quic_step_secret {
    bool is_write;
    ho_epoch epoch;
    const ho_tls_suite *suite;
    uint8_t secret[CRYPTO_HASH_MAX];
} ho_quic_step_secret;

typedef struct ho_quic_step {
    bool enabled;            /* capture expensive steps (set by the endpoint) */
    bool pending;            /* captured, not started: the endpoint must run it */
    bool out;                /* started, not finished */
    bool on_worker;          /* inside ho_quic_step_run: record, do not apply */
    ho_quic_pn_space space;
    ho_buf input;            /* the handshake bytes of the step */
    int rc;                  /* ho_tls_handle's result (and the callbacks') */
    ho_quic_step_secret secrets[HO_QUIC_STEP_SECRETS];
    int nsecrets;
    bool peer_tp;            /* the peer's transport parameters arrived in the step */
    /* the packets after the one that captured the step, in its datagram */
    bool has_rest;
    ho_buf rest;
    ho_quic_path rest_path;
    size_t rest_dgram_len;
} ho_quic_step;

/* An asynchronous TLS callback of a server connection (endpoint_step.c,
 * docs/ENGINE.md "Asynchronous callbacks"). The completing thread only
 * posts `job` to `home` (through the TLS engine's wake function); every
 * other field is the connection's thread's. */
typedef struct ho_quic_async {
    ho_job job;                   /* the wake-up, posted to home */
    ho_home *home;
    void *ep, *owner;             /* the endpoint and its ep_conn (NULL once released) */
    bool parked;                  /* the step waits for the application */
    bool woken;                   /* the completion came while the step was still out */
    struct ho_quic_conn *next_zombie; /* released while parked: the endpoint's list */
} ho_quic_async;

struct ho_quic_conn {
    ho_quic_config cfg;
    void *user; /* the application's slot (ho_quic_conn_set_user) */
    bool is_server;
    ho_quic_state state;
    ho_tls *tls;
    ho_tls_out tls_out;
    ho_quic_tp_exchange tpx;
    ho_quic_cid scid;           /* ours */
    ho_quic_cid dcid;           /* the peer's, as we address it */
    ho_quic_cid odcid;          /* the client's first DCID */
    ho_quic_cid peer_first_scid;/* SCID of the peer's first long header packet */
    bool dcid_from_server;      /* client: switched to the server's SCID (§7.2) */
    ho_quic_path path;
    ho_quic_space spaces[HO_QUIC_PN_SPACE_COUNT];
    ho_quic_key_phase kp;
    ho_quic_early early;          /* 0-RTT (early.c) */
    ho_quic_cc cc;
    ho_quic_recovery rec;
    ho_quic_pacer pacer;

    bool hs_done, hs_confirmed;
    bool handshake_done_pending;  /* server: HANDSHAKE_DONE to (re)send */
    bool address_validated;       /* RFC 9000 §8.1 */
    uint64_t amp_received, amp_sent;

    /* closing */
    int error;
    uint64_t close_code, close_frame_type;
    bool close_is_app, close_by_peer;
    char close_reason[64];
    bool close_send_pending;
    ho_quic_time close_deadline;

    /* idle timeout (§10.1) */
    ho_quic_time idle_timeout;    /* negotiated, 0 = none */
    ho_quic_time idle_deadline;
    bool eliciting_sent_since_rx;

    /* connection flow control (§4.1) */
    uint64_t rx_max_data, rx_data_window, rx_data_highest, rx_data_read;
    bool max_data_pending;
    uint64_t tx_max_data, tx_data_sent;

    /* streams */
    ho_quic_stream **streams;
    size_t nstreams, cap_streams;
    size_t rr;                    /* round-robin start */
    uint64_t opened_local[2];     /* [bidi, uni] count of our streams */
    uint64_t peer_max_streams[2]; /* the peer's limit for ours */
    uint64_t opened_peer[2];      /* highest count of the peer's streams seen */
    uint64_t local_max_streams[2];/* our limit for the peer's */
    uint64_t closed_peer[2];      /* the peer's streams finished and freed */
    bool max_streams_pending[2];

    ho_quic_sent_record *free_records;
    ho_buf pkt;                   /* one datagram under construction */
    uint8_t *rx_copy;
    size_t rx_copy_cap;
    ho_quic_conn_stats stats;
    ho_quic_dgram *dgq_head, *dgq_tail; /* DATAGRAM frames to send, oldest first */
    size_t dgq_n;
    ho_quic_time now;             /* of the call in progress */
    ho_quic_time created_at;      /* cfg.wall_clock_ms was then (TLS time, ticket ages) */
    ho_quic_time pace_at;         /* pacing held data back until then */
    bool writable_check;          /* acknowledged stream data freed buffer room */
    bool handshake_pkt_sent;      /* client: Initial keys go once one is sent */
    bool path_response_pending;   /* PATH_CHALLENGE to echo (RFC 9000 §8.2.2) */
    uint8_t path_response[HO_QUIC_PATH_DATA_LEN];

    /* ECN (ecn.c, RFC 9000 §13.4) and DPLPMTUD (pmtud.c, RFC 8899) */
    ho_quic_ecn ecn;
    ho_quic_pmtud pmtud;

    /* ---- client: Retry, Version Negotiation, resumption (client.c) ---- */
    uint32_t version;             /* in our long headers: cfg.version, 1 after VN; the
                                   * negotiated one after a switch (version.c) */
    uint32_t original_version;    /* of the client's first Initial (RFC 9368 §2) */
    bool version_switched;        /* compatible negotiation changed it (version.c) */
    bool version_switch_pending;  /* server: version_next chosen, keys to install */
    uint32_t version_next;        /* server: the negotiated version, until applied */
    ho_quic_cid initial_cid;      /* the DCID the Initial keys come from (RFC 9001 §5.2) */
    ho_quic_keys initial_rx_orig; /* server: original version's Initial read keys */
    ho_quic_keys switch_tx, switch_rx; /* client: the new version's, until one opens */
    /* Server: the Handshake secrets (the TLS engine installs them before it
     * asks for our transport parameters, i.e. before the version is
     * chosen), kept to derive the keys again if it changes; wiped then. */
    uint8_t hs_secret[2][CRYPTO_HASH_MAX]; /* [is_write] */
    const ho_tls_suite *hs_suite[2];
    bool retry_received;          /* a Retry was followed (at most one, §17.2.5.2) */
    bool vn_received;             /* a Version Negotiation was followed (at most one, §6.2) */
    ho_quic_cid retry_scid;       /* the Retry's SCID: retry_source_connection_id (§7.3) */
    /* Sent in every Initial: after a Retry its token (§17.2.5.2), before
     * one the NEW_TOKEN token the application gave (cfg.token, §8.1.3). */
    uint8_t *retry_token;
    size_t retry_token_len;
    uint8_t *session;             /* the session offered, kept for a new first flight after VN */
    size_t session_len;
    uint8_t *rx_token;            /* client: the last NEW_TOKEN token received (§19.7) */
    size_t rx_token_len;
    /* server: the NEW_TOKEN token the endpoint made for the client, sent
     * once the handshake is confirmed and again if lost (§8.1.3, §13.3) */
    uint8_t *new_token;
    size_t new_token_len;
    bool new_token_pending;

    /* ---- connection IDs (cid.c) and paths (path.c) ---- */
    ho_quic_cid_hooks cid_hooks;  /* the endpoint's routing table, or none */
    ho_quic_local_cid local_cids[HO_QUIC_LOCAL_CIDS_MAX]; /* ours; [seq 0] is scid */
    uint64_t local_cid_next_seq;
    ho_quic_peer_cid peer_cids[HO_QUIC_PEER_CIDS_MAX];    /* the peer's, dcid among them */
    uint64_t dcid_seq;            /* sequence number of dcid */
    uint64_t peer_retire_prior_to;
    uint64_t retire_pending[HO_QUIC_RETIRE_PENDING_MAX];  /* RETIRE_CONNECTION_ID to send */
    size_t nretire_pending;
    uint64_t peer_retired[HO_QUIC_RETIRE_PENDING_MAX];    /* recently retired (ring): a late */
    size_t npeer_retired;                                 /* NEW_CONNECTION_ID is no new CID */
    ho_quic_cid rx_dcid;          /* DCID of the packet being processed */
    bool rx_non_probing;          /* it carried a non-probing frame (§9.1) */
    const ho_quic_path *rx_path;  /* where the datagram being processed came from */
    bool receiving;               /* inside conn_receive: rx_copy is in use */
    size_t rx_dgram_len;
    ho_quic_path_validation pv;   /* validation of the current path */
    ho_quic_path old_path;        /* last validated path (§9.3.2 fallback) */
    bool has_old_path;
    ho_quic_side_path side;       /* a probing peer address (§9.1) */
    const ho_quic_path *send_path;/* the path of the datagrams the last send returned */

    /* ---- handshake steps and callbacks (conn.c) ---- */
    ho_quic_step step;
    ho_quic_async async;          /* endpoint_step.c */
    bool app_secret_seen;         /* TLS derived the application secrets (the exporter exists) */
    bool exporter_done;           /* on_exporter_secret ran */
    bool local_tp_changed;        /* on_client_params changed ours: apply to the connection */
    bool rx_is_rest;              /* receiving the rest of a datagram already counted */

    /* ---- events (qevent.c, handoff/event.h) ---- */
    void *ev_slot;                /* a subscriber's per-connection state (the qlog writer) */
    uint8_t ev_state;             /* HO_EV_QSTATE_* last reached */
    uint64_t ev_rtt_samples;      /* RTT samples already reported */
    uint64_t ev_cwnd, ev_bytes_in_flight, ev_ssthresh; /* last reported */
};

static inline ho_epoch ho_quic_space_epoch(ho_quic_pn_space s)
{
    return s == HO_QUIC_PN_SPACE_INITIAL ? HO_EPOCH_INITIAL
         : s == HO_QUIC_PN_SPACE_HANDSHAKE ? HO_EPOCH_HANDSHAKE : HO_EPOCH_APP;
}
static inline ho_quic_pkt_type ho_quic_space_pkt(ho_quic_pn_space s)
{
    return s == HO_QUIC_PN_SPACE_INITIAL ? HO_QUIC_PKT_INITIAL
         : s == HO_QUIC_PN_SPACE_HANDSHAKE ? HO_QUIC_PKT_HANDSHAKE : HO_QUIC_PKT_1RTT;
}

/* conn.c */
void ho_quic_conn_fail(ho_quic_conn *c, int err, uint64_t frame_type, ho_quic_time now);
void ho_quic_conn_enter_draining(ho_quic_conn *c, ho_quic_time now);
int ho_quic_conn_tls_input(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_time now);
void ho_quic_conn_discard_space(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_time now);
void ho_quic_conn_confirm(ho_quic_conn *c, ho_quic_time now);
void ho_quic_conn_restart_idle(ho_quic_conn *c, ho_quic_time now);
void ho_quic_conn_set_closed(ho_quic_conn *c);

/* Handshake steps (conn.c; the endpoint drives them). */
static inline bool ho_quic_step_pending(const ho_quic_conn *c) { return c->step.pending; }
/* The captured step starts (pending -> out), on the connection's thread. */
void ho_quic_step_begin(ho_quic_conn *c);
/* Runs TLS on the captured bytes and the handshake callbacks; any thread,
 * while nothing else touches the connection's TLS, tpx or step. */
void ho_quic_step_run(ho_quic_conn *c);
/* Back on the connection's thread: applies what the step produced (keys,
 * the peer's parameters, the flight to send, completion) or fails the
 * connection with the step's error. */
void ho_quic_step_finish(ho_quic_conn *c, ho_quic_time now);
/* Feeds the rest of the datagram that captured the last step (if any):
 * true if there was one. */
bool ho_quic_step_feed_rest(ho_quic_conn *c, ho_quic_time now);

/* client.c */
/* A Retry or Version Negotiation packet for a client (dropped or followed). */
void ho_quic_client_on_retry_or_vn(ho_quic_conn *c, const uint8_t *pkt, const ho_quic_header *hdr, ho_quic_time now);
/* Client set-up after the TLS engine exists: session to offer, ticket hook. */
int ho_quic_client_setup_tls(ho_quic_conn *c);
/* A TLS engine for the connection, its callbacks set (conn.c). */
ho_tls *ho_quic_conn_tls_new(ho_quic_conn *c, const char *server_name);
/* §7.3: retry_source_connection_id present iff a Retry was followed, equal to its SCID. */
bool ho_quic_client_retry_tparam_ok(const ho_quic_conn *c, const ho_quic_tparams *p);
void ho_quic_client_free(ho_quic_conn *c);

/* new_token.c (RFC 9000 §8.1.3, §19.7) */
/* Server: the endpoint's token for this client, sent in a NEW_TOKEN frame
 * (copied; replaces an earlier one). */
int ho_quic_new_token_queue(ho_quic_conn *c, const uint8_t *token, size_t len);
/* A NEW_TOKEN frame arrived (1-RTT). */
int ho_quic_new_token_on_frame(ho_quic_conn *c, const ho_quic_frame *f);
/* Client creation: cfg.token becomes the token of our Initials. */
int ho_quic_new_token_setup_client(ho_quic_conn *c);
void ho_quic_new_token_free(ho_quic_conn *c);

/* early.c: 0-RTT (RFC 9001 §4.6, §4.9.3; RFC 9000 §7.4.1) */
/* Client, before the TLS engine starts: reads the session blob (QUIC
 * version, remembered parameters); may set c->version to the session's. */
void ho_quic_early_client_load(ho_quic_conn *c);
/* Client: the TLS session inside c->session to offer, NULL if none may be
 * (another version than the session's, RFC 9369 §5). */
const uint8_t *ho_quic_early_tls_session(const ho_quic_conn *c, size_t *len);
/* Client: wraps a TLS session blob with the version and the peer's
 * parameters (for the session_ticket callback). */
int ho_quic_early_wrap_session(const ho_quic_conn *c, const uint8_t *tls_blob, size_t len, ho_buf *out);
/* Server: the context tickets carry (our parameters, the application's). */
int ho_quic_early_server_setup(ho_quic_conn *c);
/* The TLS engine installed client_early_traffic_secret. */
int ho_quic_early_install(ho_quic_conn *c, bool is_write, const ho_tls_suite *suite, const uint8_t *secret);
/* After each TLS call: the client acts on accept / reject once. */
int ho_quic_early_after_tls(ho_quic_conn *c, ho_quic_time now);
/* 1-RTT keys were installed (client: 0-RTT write keys go, §4.9.3). */
void ho_quic_early_on_1rtt_keys(ho_quic_conn *c, bool is_write);
/* Server: a 1-RTT packet was processed (starts the 3-PTO discard timer). */
void ho_quic_early_on_1rtt_packet(ho_quic_conn *c, ho_quic_time now);
static inline bool ho_quic_early_can_send(const ho_quic_conn *c)
{
    return !c->is_server && c->early.has_tx && c->early.offered && c->state == HO_QUIC_STATE_HANDSHAKE;
}
ho_quic_time ho_quic_early_next_timeout(const ho_quic_conn *c);
void ho_quic_early_on_timeout(ho_quic_conn *c, ho_quic_time now);
void ho_quic_early_free(ho_quic_conn *c);

/* key_update.c */
/* The 1-RTT secrets arrived (first generation). */
int ho_quic_key_phase_init(ho_quic_conn *c, bool is_write, const ho_tls_suite *suite, const uint8_t *secret);
void ho_quic_key_phase_free(ho_quic_conn *c);
/* Unprotects a 1-RTT packet, choosing the key by its Key Phase bit and
 * following a peer-initiated update (RFC 9001 §6.2). Errors as
 * ho_quic_packet_unprotect, plus KEY_UPDATE_ERROR (§6.4). */
int ho_quic_key_phase_unprotect(ho_quic_conn *c, uint8_t *pkt, ho_quic_header *hdr);
/* Before 1-RTT packets are built: initiates a key update once
 * cfg.key_update_packets were sent with the current write key (§6.6);
 * HO_ERR_QUIC(AEAD_LIMIT_REACHED) when the confidentiality limit is reached
 * and no update is possible yet. */
int ho_quic_key_phase_before_send(ho_quic_conn *c);

/* conn_recv.c */
int ho_quic_conn_handle_frames(ho_quic_conn *c, ho_quic_pkt_type pkt, const uint8_t *payload, size_t len,
                               bool *ack_eliciting, ho_quic_time now);

/* conn_send.c */
void ho_quic_conn_sent_acked(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_conn_sent_lost(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_conn_sent_discarded(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_conn_free_records(ho_quic_conn *c);
/* Frees the DATAGRAM frames still queued (conn_send.c). */
void ho_quic_dgram_clear(ho_quic_conn *c);
/* A connection at rest (nothing in flight, nothing to send) gives back its
 * scratch memory: the packet and receive copies, the free sent-frame
 * records, empty recovery rings, drained stream buffers, drained TLS
 * output buffers (conn.c).
 * Everything is allocated again on demand. */
void ho_quic_conn_trim(ho_quic_conn *c);

/* ecn.c: called by conn.c, conn_recv.c and conn_send.c */
void ho_quic_ecn_init(ho_quic_conn *c);
/* The codepoint for the datagrams of the send call starting now (ends the
 * testing period after its packet budget or three PTOs). */
uint8_t ho_quic_ecn_begin_send(ho_quic_conn *c, ho_quic_time now);
/* Whether the batch must end here because the next packet is marked
 * differently (the testing budget is spent). */
bool ho_quic_ecn_batch_must_end(const ho_quic_conn *c);
/* A packet is about to go to recovery: flags it HO_QUIC_SENT_ECT0 if marked. */
void ho_quic_ecn_on_packet_sent(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_sent_packet *sp);
/* A packet of `space` was processed; its datagram carried `codepoint`. */
void ho_quic_ecn_on_packet_received(ho_quic_conn *c, ho_quic_pn_space space, uint8_t codepoint);
/* The counts for an ACK_ECN frame in `space`, or NULL (plain ACK) if none. */
const uint64_t *ho_quic_ecn_ack_counts(const ho_quic_conn *c, ho_quic_pn_space space);
/* Around one received ACK frame: begin before recovery processes it (the
 * on_acked/on_lost hooks accumulate), end after, with the frame's counts. */
void ho_quic_ecn_ack_begin(ho_quic_conn *c);
void ho_quic_ecn_on_acked(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_ecn_on_lost(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_ecn_ack_end(ho_quic_conn *c, ho_quic_pn_space space, bool has_ecn, const uint64_t counts[3],
                         bool largest_increased, ho_quic_time now);

/* pmtud.c */
void ho_quic_pmtud_init(ho_quic_conn *c);
/* The handshake is confirmed: start searching (peer's limit now known). */
void ho_quic_pmtud_start(ho_quic_conn *c, ho_quic_time now);
/* The size of the probe to send now (at c->now), 0 for none. */
size_t ho_quic_pmtud_probe_due(ho_quic_conn *c);
void ho_quic_pmtud_on_probe_sent(ho_quic_conn *c, uint64_t pn);
void ho_quic_pmtud_on_acked(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
void ho_quic_pmtud_on_lost(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
/* A PTO expired (after the backoff grew): black-hole check. */
void ho_quic_pmtud_on_pto(ho_quic_conn *c);
/* The peer address changed (path.c, not for a NAT rebinding): search again
 * from the base size. */
void ho_quic_pmtud_on_path_change(ho_quic_conn *c);

/* cid.c */
void ho_quic_cid_init(struct ho_quic_conn *c); /* seq 0 of both sides (after tparams are set) */
void ho_quic_cid_generate(const ho_quic_config *cfg, uint8_t *cid, size_t len); /* cfg->cid_generate or random */
/* After the handshake: issue CIDs up to the peer's limit. */
void ho_quic_cid_issue(struct ho_quic_conn *c);
bool ho_quic_cid_is_ours(const struct ho_quic_conn *c, const ho_quic_cid *cid);
int ho_quic_cid_on_new(struct ho_quic_conn *c, const ho_quic_frame *f);
int ho_quic_cid_on_retire(struct ho_quic_conn *c, const ho_quic_frame *f);
/* The peer's transport parameters: its seq-0 token, its limit. */
void ho_quic_cid_on_peer_tparams(struct ho_quic_conn *c);
/* Switches dcid to an unused peer CID, retiring the current one (§9.5).
 * False if none is available. */
bool ho_quic_cid_switch_dcid(struct ho_quic_conn *c);
bool ho_quic_cid_spare_available(const struct ho_quic_conn *c);
/* §10.3.1: the datagram's last 16 bytes are a token of a peer CID we used. */
bool ho_quic_cid_is_stateless_reset(const struct ho_quic_conn *c, const uint8_t *dgram, size_t len);
/* The next NEW/RETIRE_CONNECTION_ID frame to send; committed by _sent. */
bool ho_quic_cid_next_frame(struct ho_quic_conn *c, ho_quic_frame *f);
void ho_quic_cid_frame_sent(struct ho_quic_conn *c, const ho_quic_frame *f);
void ho_quic_cid_frame_lost(struct ho_quic_conn *c, uint8_t kind, uint64_t seq);
/* Before free: the endpoint forgets every CID and token. */
void ho_quic_cid_release_all(struct ho_quic_conn *c);

/* path.c */
bool ho_quic_path_same(const ho_quic_path *a, const ho_quic_path *b);
/* A datagram from `path`: false to drop it (before processing). */
bool ho_quic_path_accept_datagram(struct ho_quic_conn *c, const ho_quic_path *path);
/* A 1-RTT packet was processed: maybe migrate (server, §9.3). */
void ho_quic_path_on_packet(struct ho_quic_conn *c, bool largest, ho_quic_time now);
void ho_quic_path_on_challenge(struct ho_quic_conn *c, const ho_quic_frame *f);
void ho_quic_path_on_response(struct ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now);
ho_quic_time ho_quic_path_next_timeout(const struct ho_quic_conn *c);
void ho_quic_path_on_timeout(struct ho_quic_conn *c, ho_quic_time now);
/* The PATH_CHALLENGE to send on the current path, if due. */
bool ho_quic_path_next_challenge(struct ho_quic_conn *c, ho_quic_frame *f);
/* A datagram for a probing peer address (PATH_RESPONSE), built in c->pkt:
 * its length, 0 if none is due. */
size_t ho_quic_path_build_side(struct ho_quic_conn *c, ho_quic_time now);
/* Starts validating the current path (after a change). */
void ho_quic_path_start_validation(struct ho_quic_conn *c, ho_quic_time now);

/* conn_send.c, for path.c: one 1-RTT packet with just these frames (not
 * retransmitted) in c->pkt, padded to pad_to; its length or 0. */
size_t ho_quic_conn_build_frames(struct ho_quic_conn *c, const ho_quic_frame *frames, size_t n, size_t limit,
                                 size_t pad_to, ho_quic_time now);

/* stream.c */
ho_quic_stream *ho_quic_stream_find(ho_quic_conn *c, uint64_t id);
/* The stream a peer's frame names, opening peer streams (and the lower
 * ones of the same type, §3.2) as needed. *out NULL (HO_OK) for a stream
 * that existed and was freed. Errors: STREAM_STATE_ERROR for a local
 * stream never opened or the wrong direction, STREAM_LIMIT_ERROR (§4.6). */
int ho_quic_stream_for_frame(ho_quic_conn *c, uint64_t id, bool sending_frame, ho_quic_stream **out);
void ho_quic_stream_maybe_free(ho_quic_conn *c, ho_quic_stream *s);
void ho_quic_streams_free(ho_quic_conn *c);
/* ho_quic_sendbuf_trim and ho_quic_recvbuf_trim on every stream. */
void ho_quic_streams_trim(ho_quic_conn *c);
int ho_quic_stream_on_frame(ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now);
int ho_quic_stream_on_reset(ho_quic_conn *c, const ho_quic_frame *f);
int ho_quic_stream_on_stop_sending(ho_quic_conn *c, const ho_quic_frame *f);
int ho_quic_stream_on_max_stream_data(ho_quic_conn *c, const ho_quic_frame *f);
void ho_quic_stream_notify_writable(ho_quic_conn *c);
/* A PTO fired in the application space: unless some stream already has
 * data queued for retransmission, re-queue up to `budget` bytes of the
 * oldest unacknowledged stream data, so the probes carry it (RFC 9002
 * §6.2.4) ahead of any new data. */
void ho_quic_streams_requeue_for_probe(ho_quic_conn *c, uint64_t budget);
static inline bool ho_quic_stream_is_local(const ho_quic_conn *c, uint64_t id)
{
    return ((id & 1) != 0) == c->is_server;
}
static inline bool ho_quic_stream_is_uni(uint64_t id) { return (id & 2) != 0; }

static inline void quic_conn_wake(struct ho_quic_conn *c)
{
    if (c->cid_hooks.wake != NULL)
        c->cid_hooks.wake(c->cid_hooks.ctx, c);
}

/* ---- versions 1 and 2 (version.c) ---- */

/* Our versions in preference order (cfg.versions or the default). */
size_t ho_quic_version_list(const ho_quic_conn *c, uint32_t out[HO_QUIC_CONFIG_VERSIONS]);
bool ho_quic_version_accepts(const ho_quic_conn *c, uint32_t v);
/* Fills version_information in c->tpx.local from c->version. */
void ho_quic_version_set_local(ho_quic_conn *c);
/* Client: the version to restart with after a Version Negotiation; 0 if none. */
uint32_t ho_quic_version_after_vn(const ho_quic_conn *c, const ho_quic_header *vn);
/* RFC 9368 §4 checks of the peer's version_information; on a server also
 * the choice of the negotiated version. HO_OK or VERSION_NEGOTIATION_ERROR. */
int ho_quic_version_on_peer_tparams(ho_quic_conn *c, const ho_quic_tparams *p);
/* Server, on the connection's thread: installs the negotiated version's
 * Initial keys after ho_quic_version_on_peer_tparams chose a new one. */
int ho_quic_version_apply(ho_quic_conn *c);
/* A long header of version hdr->version arrived: whether to process it,
 * and with which Initial read keys (*keys NULL: the space's own). The
 * client switches versions here (compatible negotiation). */
bool ho_quic_version_rx(ho_quic_conn *c, const ho_quic_header *hdr, const ho_quic_keys **keys);
/* After unprotecting with keys from ho_quic_version_rx: a client's switch
 * takes effect if the packet opened, else its keys are dropped. */
void ho_quic_version_commit(ho_quic_conn *c, const ho_quic_header *hdr, bool opened);
void ho_quic_version_on_handshake_rx(ho_quic_conn *c);
void ho_quic_version_free(ho_quic_conn *c);
/* Server: the client's first Initial is of `version` (the endpoint's
 * call, right after ho_quic_conn_new_server, which assumes version 1). */
int ho_quic_version_server_start(ho_quic_conn *c, uint32_t version);

#endif
