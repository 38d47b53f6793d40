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

/* Outgoing byte stream (CRYPTO at one epoch, or a stream's send side).
 * Data is retained from `base` (everything below is acknowledged) to
 * `end`; frames are retransmitted as ranges, never as packets. */
typedef struct ho_quic_sendbuf {
    ho_buf data;            /* offsets [data_start, end) */
    uint64_t data_start;    /* <= base: the acknowledged prefix is dropped lazily */
    uint64_t base, end;
    uint64_t next;          /* first offset never sent */
    ho_quic_rangeset retx;  /* declared lost, to send again */
    ho_quic_rangeset acked; /* acknowledged above base */
    bool fin, fin_sent, fin_acked, fin_lost;
} ho_quic_sendbuf;

void ho_quic_sendbuf_free(ho_quic_sendbuf *sb);
int ho_quic_sendbuf_write(ho_quic_sendbuf *sb, const void *p, size_t len);
/* The next chunk to send: a lost range first, then new data below
 * `limit` (flow control). Returns false if nothing (not even a lone FIN)
 * is due. *data points into the buffer. */
bool ho_quic_sendbuf_peek(const ho_quic_sendbuf *sb, uint64_t limit, size_t max_len, uint64_t *off, size_t *len,
                          bool *fin, const uint8_t **data);
/* The chunk went out; returns how many bytes of it were new (first send). */
uint64_t ho_quic_sendbuf_on_sent(ho_quic_sendbuf *sb, uint64_t off, size_t len, bool fin);
void ho_quic_sendbuf_on_acked(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin);
void ho_quic_sendbuf_on_lost(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin);
/* Marks everything sent and unacknowledged for retransmission (PTO). */
void ho_quic_sendbuf_requeue_unacked(ho_quic_sendbuf *sb);
bool ho_quic_sendbuf_done(const ho_quic_sendbuf *sb);
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
};

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
    uint8_t tx_secret[HO_HASH_MAX], rx_secret[HO_HASH_MAX]; /* current generation */
    uint8_t rx_next_secret[HO_HASH_MAX];
    ho_aead *rx_next;          /* precomputed next-generation read key */
    ho_aead *rx_prev;          /* previous read key, for reordered packets */
    bool tx_phase, rx_phase;   /* Key Phase bits in use */
    uint64_t tx_first_pn;      /* first packet number sent with the current write key */
    uint64_t rx_first_pn;      /* first packet number received with the current read key */
    uint64_t updates;          /* completed read-key updates */
    ho_quic_time rx_prev_until;   /* rx_prev is dropped then (3 PTO, §6.5) */
    ho_quic_time next_update_at;  /* no scheduled update before (§6.5) */
} ho_quic_key_phase;

typedef enum {
    HO_QUIC_STATE_HANDSHAKE,
    HO_QUIC_STATE_ESTABLISHED,
    HO_QUIC_STATE_CLOSING,  /* RFC 9000 §10.2.1 */
    HO_QUIC_STATE_DRAINING, /* RFC 9000 §10.2.2 */
    HO_QUIC_STATE_CLOSED,
} ho_quic_state;

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
    ho_quic_time now;             /* of the call in progress */
    ho_quic_time pace_at;         /* pacing held data back until then */
    bool writable_check;          /* acknowledged stream data freed buffer room */
    bool handshake_pkt_sent;      /* client: Initial keys go once one is sent */
    uint64_t peer_cid_seqs[HO_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT]; /* NEW_CONNECTION_ID seen (unused yet) */
    size_t peer_cid_count;
    uint64_t peer_retire_prior_to;
    bool path_response_pending;   /* PATH_CHALLENGE to echo (RFC 9000 §8.2.2) */
    uint8_t path_response[HO_QUIC_PATH_DATA_LEN];
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

/* stream.c */
ho_quic_stream *ho_quic_stream_find(ho_quic_conn *c, uint64_t id);
/* The stream a peer's frame names, opening peer streams (and the lower
 * ones of the same type, §3.2) as needed. *out NULL (HO_OK) for a stream
 * that existed and was freed. Errors: STREAM_STATE_ERROR for a local
 * stream never opened or the wrong direction, STREAM_LIMIT_ERROR (§4.6). */
int ho_quic_stream_for_frame(ho_quic_conn *c, uint64_t id, bool sending_frame, ho_quic_stream **out);
void ho_quic_stream_maybe_free(ho_quic_conn *c, ho_quic_stream *s);
void ho_quic_streams_free(ho_quic_conn *c);
int ho_quic_stream_on_frame(ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now);
int ho_quic_stream_on_reset(ho_quic_conn *c, const ho_quic_frame *f);
int ho_quic_stream_on_stop_sending(ho_quic_conn *c, const ho_quic_frame *f);
int ho_quic_stream_on_max_stream_data(ho_quic_conn *c, const ho_quic_frame *f);
void ho_quic_stream_notify_writable(ho_quic_conn *c);
static inline bool ho_quic_stream_is_local(const ho_quic_conn *c, uint64_t id)
{
    return ((id & 1) != 0) == c->is_server;
}
static inline bool ho_quic_stream_is_uni(uint64_t id) { return (id & 2) != 0; }

#endif
