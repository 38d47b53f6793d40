/*
 * QUIC frames (RFC 9000 §19, DATAGRAM from RFC 9221 §4): a decoded-frame
 * tagged union, a validating decoder, encoders, and the dispatch table
 * (RFC 9000 §12.4 Table 3, §12.5): which packet types may carry each frame
 * type, which endpoint may send it, and whether it is ack-eliciting, counts
 * toward bytes in flight, is a probing frame, or is flow controlled.
 *
 * Decoding allocates nothing: data, tokens, reasons and ACK ranges point
 * into the (decrypted) payload, which must outlive the frame.
 *
 * Errors, all as HO_ERR_QUIC(code) (transport_error.h):
 *  - FRAME_ENCODING_ERROR: truncated frame, unknown frame type (§12.4), a
 *    value the frame cannot carry (§19.3.1 negative ACK packet number,
 *    §19.6/§19.8 offset + length > 2^62-1, §19.7 empty token, §19.11/§19.14
 *    stream count > 2^60, §19.15 CID length outside 1..20 or Retire Prior
 *    To > Sequence Number);
 *  - PROTOCOL_VIOLATION: frame type not minimally encoded (§12.4, MAY),
 *    a frame in a packet type that may not carry it (§12.4, §12.5), a frame
 *    the peer's role may not send (§19.7 NEW_TOKEN from a client, §19.20
 *    HANDSHAKE_DONE from a client), a packet without frames (§12.4).
 * Semantic checks that need connection state (stream direction, limits,
 * sequence numbers already seen, whether DATAGRAM was negotiated) belong
 * to the connection.
 */
#ifndef HO_QUIC_FRAME_H
#define HO_QUIC_FRAME_H

#include "quic/packet.h"

/* Frame type values (RFC 9000 §12.4 Table 3, RFC 9221 §4). */
enum {
    HO_QUIC_FT_PADDING = 0x00,
    HO_QUIC_FT_PING = 0x01,
    HO_QUIC_FT_ACK = 0x02,
    HO_QUIC_FT_ACK_ECN = 0x03,
    HO_QUIC_FT_RESET_STREAM = 0x04,
    HO_QUIC_FT_STOP_SENDING = 0x05,
    HO_QUIC_FT_CRYPTO = 0x06,
    HO_QUIC_FT_NEW_TOKEN = 0x07,
    HO_QUIC_FT_STREAM = 0x08,          /* 0x08..0x0f: | OFF | LEN | FIN */
    HO_QUIC_FT_STREAM_MAX = 0x0f,
    HO_QUIC_FT_MAX_DATA = 0x10,
    HO_QUIC_FT_MAX_STREAM_DATA = 0x11,
    HO_QUIC_FT_MAX_STREAMS_BIDI = 0x12,
    HO_QUIC_FT_MAX_STREAMS_UNI = 0x13,
    HO_QUIC_FT_DATA_BLOCKED = 0x14,
    HO_QUIC_FT_STREAM_DATA_BLOCKED = 0x15,
    HO_QUIC_FT_STREAMS_BLOCKED_BIDI = 0x16,
    HO_QUIC_FT_STREAMS_BLOCKED_UNI = 0x17,
    HO_QUIC_FT_NEW_CONNECTION_ID = 0x18,
    HO_QUIC_FT_RETIRE_CONNECTION_ID = 0x19,
    HO_QUIC_FT_PATH_CHALLENGE = 0x1a,
    HO_QUIC_FT_PATH_RESPONSE = 0x1b,
    HO_QUIC_FT_CONNECTION_CLOSE = 0x1c,     /* transport error */
    HO_QUIC_FT_CONNECTION_CLOSE_APP = 0x1d, /* application error */
    HO_QUIC_FT_HANDSHAKE_DONE = 0x1e,
    HO_QUIC_FT_DATAGRAM = 0x30,             /* RFC 9221: runs to the end of the packet */
    HO_QUIC_FT_DATAGRAM_LEN = 0x31,         /* RFC 9221: with a Length field */
};

/* STREAM type bits (RFC 9000 §19.8). */
#define HO_QUIC_STREAM_FIN 0x01
#define HO_QUIC_STREAM_LEN 0x02
#define HO_QUIC_STREAM_OFF 0x04

#define HO_QUIC_MAX_STREAMS (1ULL << 60)       /* §19.11, §19.14 */
#define HO_QUIC_MAX_STREAM_OFFSET HO_QUIC_PN_MAX /* 2^62-1, §19.6, §19.8 */
#define HO_QUIC_PATH_DATA_LEN 8

/* A decoded frame. `type` is the wire type (e.g. 0x0e for a STREAM frame
 * with OFF and LEN); the union member follows from it. */
typedef struct ho_quic_frame {
    uint64_t type;
    union {
        struct {
            size_t len; /* a run of consecutive 0x00 bytes, decoded as one */
        } padding;
        struct {
            uint64_t largest;     /* Largest Acknowledged */
            uint64_t delay;       /* ACK Delay, still scaled by ack_delay_exponent */
            uint64_t range_count; /* ACK Range Count (ranges after the first) */
            uint64_t first_range; /* First ACK Range */
            ho_cursor ranges;     /* the range_count Gap/Length pairs, validated */
            uint64_t smallest;    /* lowest packet number acknowledged (decode) */
            uint64_t ect0, ect1, ce; /* type 0x03 only (§19.3.2) */
        } ack;
        struct {
            uint64_t stream_id, error_code, final_size;
        } reset_stream;
        struct {
            uint64_t stream_id, error_code;
        } stop_sending;
        struct {
            uint64_t offset;
            const uint8_t *data;
            size_t len;
        } crypto;
        struct {
            const uint8_t *token;
            size_t len;
        } new_token;
        struct {
            uint64_t stream_id, offset; /* offset 0 when the OFF bit is clear */
            const uint8_t *data;
            size_t len;
            bool fin;                   /* = type & HO_QUIC_STREAM_FIN */
        } stream;
        struct {
            uint64_t maximum;
        } max_data, max_streams; /* max_streams: bidi for 0x12, uni for 0x13 */
        struct {
            uint64_t stream_id, maximum;
        } max_stream_data;
        struct {
            uint64_t limit;
        } data_blocked, streams_blocked;
        struct {
            uint64_t stream_id, limit;
        } stream_data_blocked;
        struct {
            uint64_t seq, retire_prior_to;
            ho_quic_cid cid;
            uint8_t reset_token[HO_QUIC_RESET_TOKEN_LEN];
        } new_connection_id;
        struct {
            uint64_t seq;
        } retire_connection_id;
        struct {
            uint8_t data[HO_QUIC_PATH_DATA_LEN];
        } path; /* PATH_CHALLENGE and PATH_RESPONSE */
        struct {
            uint64_t error_code;
            uint64_t frame_type; /* 0x1c only */
            const uint8_t *reason;
            size_t reason_len;
        } close;
        struct {
            const uint8_t *data;
            size_t len;
        } datagram;
    };
} ho_quic_frame;

/* ---- the dispatch table ----------------------------------------------- */

/* Bits of ho_quic_frame_info.pkts: one per packet type that carries frames. */
#define HO_QUIC_PKTS_INITIAL (1u << HO_QUIC_PKT_INITIAL)
#define HO_QUIC_PKTS_0RTT (1u << HO_QUIC_PKT_0RTT)
#define HO_QUIC_PKTS_HANDSHAKE (1u << HO_QUIC_PKT_HANDSHAKE)
#define HO_QUIC_PKTS_1RTT (1u << HO_QUIC_PKT_1RTT)

/* Bits of ho_quic_frame_info.flags. */
#define HO_QUIC_FRAME_ACK_ELICITING 0x01 /* not "N" in Table 3 (§13.2) */
#define HO_QUIC_FRAME_IN_FLIGHT 0x02     /* counts toward bytes in flight (RFC 9002 §2) */
#define HO_QUIC_FRAME_PROBING 0x04       /* "P": path probing (§9.1) */
#define HO_QUIC_FRAME_FLOW_CONTROLLED 0x08 /* "F" (§4) */

/* Bits of ho_quic_frame_info.senders. */
#define HO_QUIC_SENDER_CLIENT 0x01
#define HO_QUIC_SENDER_SERVER 0x02

typedef struct ho_quic_frame_info {
    const char *name;
    uint8_t pkts;
    uint8_t flags;
    uint8_t senders;
} ho_quic_frame_info;

/* The table entry for a frame type, or NULL for an unknown type. */
const ho_quic_frame_info *ho_quic_frame_info_of(uint64_t type);
/* HO_OK if a frame of `type`, sent by the server (sender_is_server) or the
 * client, may arrive in a packet of type pkt; HO_ERR_QUIC(PROTOCOL_VIOLATION)
 * if not; HO_ERR_QUIC(FRAME_ENCODING_ERROR) for an unknown type. */
int ho_quic_frame_permitted(uint64_t type, ho_quic_pkt_type pkt, bool sender_is_server);

/* ---- decoding ---------------------------------------------------------- */

/* Decodes one frame at c and advances c past it. On error c is unchanged
 * and f->type holds the frame type if it could be read (for the Frame Type
 * field of CONNECTION_CLOSE), else 0. Errors as listed above. */
int ho_quic_frame_decode(ho_cursor *c, ho_quic_frame *f);

/* Reads the frames of one decrypted payload, checking each against the
 * dispatch table. */
typedef struct ho_quic_frame_reader {
    ho_cursor c;
    ho_quic_pkt_type pkt;
    bool peer_is_server;
    unsigned count;    /* frames read so far */
    uint8_t flags;     /* OR of the flags of the frames read */
    bool non_probing;  /* a non-probing frame was read (§9.1) */
    int error;         /* sticky: the first error returned */
    uint64_t error_frame_type; /* the type of the frame that failed, 0 if unknown */
} ho_quic_frame_reader;

void ho_quic_frame_reader_init(ho_quic_frame_reader *r, const uint8_t *payload, size_t len, ho_quic_pkt_type pkt,
                               bool peer_is_server);
/* HO_OK: the next frame is in f. HO_ERR_NOT_FOUND: the payload is done.
 * An empty payload is HO_ERR_QUIC(PROTOCOL_VIOLATION) on the first call
 * (§12.4); otherwise errors as ho_quic_frame_decode and
 * ho_quic_frame_permitted. After an error the reader stays failed. */
int ho_quic_frame_read(ho_quic_frame_reader *r, ho_quic_frame *f);

/* ACK ranges, largest first. */
typedef struct ho_quic_ack_range {
    uint64_t smallest, largest;
} ho_quic_ack_range;

typedef struct ho_quic_ack_iter {
    ho_cursor ranges;
    uint64_t left;       /* ranges still to yield after the current one */
    ho_quic_ack_range next;
    bool has_next;
} ho_quic_ack_iter;

/* For a decoded ACK frame (the ranges were validated by the decoder). */
void ho_quic_ack_iter_init(ho_quic_ack_iter *it, const ho_quic_frame *ack);
bool ho_quic_ack_iter_next(ho_quic_ack_iter *it, ho_quic_ack_range *r);

/* ---- encoding ---------------------------------------------------------- */

/* Appends f (any type above). STREAM follows f->type's OFF/LEN/FIN bits (a
 * non-zero offset needs OFF; FIN must match f->stream.fin); without LEN, or
 * DATAGRAM type 0x30, the frame must be the last in the packet. ACK writes
 * f->ack.ranges as they are (use ho_quic_ack_write to build from ranges).
 * HO_ERR_INVALID_ARG for a frame the decoder would reject or a value over
 * 2^62-1; HO_ERR_NOMEM if b failed. */
int ho_quic_frame_encode(ho_buf *b, const ho_quic_frame *f);

/* Appends an ACK frame for `count` ranges, largest first, disjoint and
 * non-adjacent (each smallest >= next largest + 2). delay is the already
 * scaled ACK Delay field. ecn (ECT(0), ECT(1), ECN-CE) may be NULL: type
 * 0x02. HO_ERR_INVALID_ARG if the ranges are not in that shape. */
int ho_quic_ack_write(ho_buf *b, const ho_quic_ack_range *ranges, size_t count, uint64_t delay,
                      const uint64_t ecn[3]);

/* Bytes of a STREAM frame header (type, id, offset if non-zero, length if
 * with_len) for `len` bytes of data: what a packetizer reserves. */
size_t ho_quic_stream_frame_overhead(uint64_t stream_id, uint64_t offset, size_t len, bool with_len);
/* Appends a STREAM frame: OFF when offset != 0, LEN when with_len. */
int ho_quic_stream_frame_write(ho_buf *b, uint64_t stream_id, uint64_t offset, const void *data, size_t len,
                               bool fin, bool with_len);
/* Appends a CRYPTO frame. */
int ho_quic_crypto_frame_write(ho_buf *b, uint64_t offset, const void *data, size_t len);

const char *ho_quic_frame_type_name(uint64_t type);

#endif
