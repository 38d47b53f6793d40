/*
 * QUIC frame codec and dispatch table. See frame.h for the contracts.
 */
#include "quic/frame.h"

#include <string.h>

#define FEE HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR)
#define PV HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION)

/* ---- the dispatch table ----------------------------------------------- */

#define I HO_QUIC_PKTS_INITIAL
#define Z HO_QUIC_PKTS_0RTT
#define H HO_QUIC_PKTS_HANDSHAKE
#define O HO_QUIC_PKTS_1RTT
#define AE HO_QUIC_FRAME_ACK_ELICITING
#define IF HO_QUIC_FRAME_IN_FLIGHT
#define PR HO_QUIC_FRAME_PROBING
#define FC HO_QUIC_FRAME_FLOW_CONTROLLED
#define CS (HO_QUIC_SENDER_CLIENT | HO_QUIC_SENDER_SERVER)
#define S HO_QUIC_SENDER_SERVER

/* RFC 9000 §12.4 Table 3 ("Pkts", "Spec"), narrowed by §12.5 and RFC 9001
 * §8.3 for 0-RTT, and §19.7/§19.20 for the sender. "In flight" follows RFC
 * 9002 §2: ack-eliciting frames and PADDING count, ACK and
 * CONNECTION_CLOSE do not. */
static const ho_quic_frame_info frame_table[0x1f] = {
    [0x00] = {"PADDING", I | Z | H | O, IF | PR, CS},
    [0x01] = {"PING", I | Z | H | O, AE | IF, CS},
    /* §12.5: 0-RTT cannot carry ACK (it could only acknowledge 1-RTT). */
    [0x02] = {"ACK", I | H | O, 0, CS},
    [0x03] = {"ACK_ECN", I | H | O, 0, CS},
    [0x04] = {"RESET_STREAM", Z | O, AE | IF, CS},
    [0x05] = {"STOP_SENDING", Z | O, AE | IF, CS},
    /* RFC 9001 §8.3: a CRYPTO frame in 0-RTT is a PROTOCOL_VIOLATION. */
    [0x06] = {"CRYPTO", I | H | O, AE | IF, CS},
    /* §19.7: a server MUST treat a NEW_TOKEN as PROTOCOL_VIOLATION. */
    [0x07] = {"NEW_TOKEN", O, AE | IF, S},
    [0x08] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x09] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0a] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0b] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0c] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0d] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0e] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x0f] = {"STREAM", Z | O, AE | IF | FC, CS},
    [0x10] = {"MAX_DATA", Z | O, AE | IF, CS},
    [0x11] = {"MAX_STREAM_DATA", Z | O, AE | IF, CS},
    [0x12] = {"MAX_STREAMS_BIDI", Z | O, AE | IF, CS},
    [0x13] = {"MAX_STREAMS_UNI", Z | O, AE | IF, CS},
    [0x14] = {"DATA_BLOCKED", Z | O, AE | IF, CS},
    [0x15] = {"STREAM_DATA_BLOCKED", Z | O, AE | IF, CS},
    [0x16] = {"STREAMS_BLOCKED_BIDI", Z | O, AE | IF, CS},
    [0x17] = {"STREAMS_BLOCKED_UNI", Z | O, AE | IF, CS},
    [0x18] = {"NEW_CONNECTION_ID", Z | O, AE | IF | PR, CS},
    /* §12.5: RETIRE_CONNECTION_ID cannot be sent in 0-RTT (Table 3 says
     * __01; the server MAY refuse it, and we do). */
    [0x19] = {"RETIRE_CONNECTION_ID", O, AE | IF, CS},
    [0x1a] = {"PATH_CHALLENGE", Z | O, AE | IF | PR, CS},
    [0x1b] = {"PATH_RESPONSE", O, AE | IF | PR, CS},
    /* Table 3 "ih": only type 0x1c in Initial and Handshake packets. */
    [0x1c] = {"CONNECTION_CLOSE", I | Z | H | O, 0, CS},
    [0x1d] = {"CONNECTION_CLOSE_APP", Z | O, 0, CS},
    /* §19.20: a server MUST treat a HANDSHAKE_DONE as PROTOCOL_VIOLATION. */
    [0x1e] = {"HANDSHAKE_DONE", O, AE | IF, S},
};

/* RFC 9221 §4: 0-RTT or 1-RTT only; §5: ack-eliciting, congestion
 * controlled, not flow controlled. */
static const ho_quic_frame_info datagram_info[2] = {
    {"DATAGRAM", Z | O, AE | IF, CS},
    {"DATAGRAM_LEN", Z | O, AE | IF, CS},
};

#undef I
#undef Z
#undef H
#undef O
#undef AE
#undef IF
#undef PR
#undef FC
#undef CS
#undef S

const ho_quic_frame_info *ho_quic_frame_info_of(uint64_t type)
{
    if (type < sizeof(frame_table) / sizeof(frame_table[0]))
        return &frame_table[type];
    if (type == HO_QUIC_FT_DATAGRAM || type == HO_QUIC_FT_DATAGRAM_LEN)
        return &datagram_info[type - HO_QUIC_FT_DATAGRAM];
    return NULL;
}

const char *ho_quic_frame_type_name(uint64_t type)
{
    const ho_quic_frame_info *info = ho_quic_frame_info_of(type);
    return info != NULL ? info->name : "unknown";
}

int ho_quic_frame_permitted(uint64_t type, ho_quic_pkt_type pkt, bool sender_is_server)
{
    const ho_quic_frame_info *info = ho_quic_frame_info_of(type);
    /* RFC 9000 §12.4: unknown frame type → FRAME_ENCODING_ERROR. */
    if (info == NULL)
        return FEE;
    /* RFC 9000 §12.4: a frame in a packet type that does not permit it →
     * PROTOCOL_VIOLATION. Retry and Version Negotiation carry no frames. */
    if (pkt > HO_QUIC_PKT_1RTT || !(info->pkts & (1u << pkt)))
        return PV;
    if (!(info->senders & (sender_is_server ? HO_QUIC_SENDER_SERVER : HO_QUIC_SENDER_CLIENT)))
        return PV;
    return HO_OK;
}

/* ---- decoding ---------------------------------------------------------- */

static bool get_len_bytes(ho_cursor *c, uint64_t len, const uint8_t **p)
{
    return len <= c->len && ho_get_bytes(c, (size_t)len, p);
}

static int decode_ack(ho_cursor *c, ho_quic_frame *f)
{
    uint64_t largest, delay, count, first;
    if (!ho_get_varint(c, &largest) || !ho_get_varint(c, &delay) || !ho_get_varint(c, &count) ||
        !ho_get_varint(c, &first))
        return FEE;
    /* RFC 9000 §19.3.1: smallest = largest - ack_range; a negative packet
     * number MUST be a FRAME_ENCODING_ERROR. */
    if (first > largest)
        return FEE;
    uint64_t smallest = largest - first;
    const uint8_t *ranges = c->p;
    for (uint64_t i = 0; i < count; i++) {
        uint64_t gap, len;
        /* Each range takes at least two bytes, so a huge count ends here
         * (FRAME_ENCODING_ERROR, §20.1: more ranges than the packet holds). */
        if (!ho_get_varint(c, &gap) || !ho_get_varint(c, &len))
            return FEE;
        /* §19.3.1: largest = previous_smallest - gap - 2. */
        if (smallest < gap + 2)
            return FEE;
        uint64_t range_largest = smallest - gap - 2;
        if (len > range_largest)
            return FEE;
        smallest = range_largest - len;
    }
    f->ack.largest = largest;
    f->ack.delay = delay;
    f->ack.range_count = count;
    f->ack.first_range = first;
    f->ack.ranges = ho_cursor_make(ranges, (size_t)(c->p - ranges));
    f->ack.smallest = smallest;
    f->ack.ect0 = f->ack.ect1 = f->ack.ce = 0;
    /* §19.3.2: type 0x03 carries the three ECN counts. */
    if (f->type == HO_QUIC_FT_ACK_ECN &&
        (!ho_get_varint(c, &f->ack.ect0) || !ho_get_varint(c, &f->ack.ect1) || !ho_get_varint(c, &f->ack.ce)))
        return FEE;
    return HO_OK;
}

static int decode_stream(ho_cursor *c, ho_quic_frame *f)
{
    uint64_t len;
    if (!ho_get_varint(c, &f->stream.stream_id))
        return FEE;
    f->stream.offset = 0;
    if ((f->type & HO_QUIC_STREAM_OFF) && !ho_get_varint(c, &f->stream.offset))
        return FEE;
    if (f->type & HO_QUIC_STREAM_LEN) {
        if (!ho_get_varint(c, &len))
            return FEE;
    } else {
        len = c->len; /* §19.8: without LEN, the data runs to the end of the packet */
    }
    if (!get_len_bytes(c, len, &f->stream.data))
        return FEE;
    f->stream.len = (size_t)len;
    f->stream.fin = (f->type & HO_QUIC_STREAM_FIN) != 0;
    /* §19.8: offset + length > 2^62-1 MUST be FRAME_ENCODING_ERROR or
     * FLOW_CONTROL_ERROR. */
    if (len > HO_QUIC_MAX_STREAM_OFFSET - f->stream.offset)
        return FEE;
    return HO_OK;
}

static int decode_body(ho_cursor *c, ho_quic_frame *f)
{
    uint64_t t = f->type, len;
    uint8_t n;
    const uint8_t *p;
    if (t >= HO_QUIC_FT_STREAM && t <= HO_QUIC_FT_STREAM_MAX)
        return decode_stream(c, f);
    switch (t) {
    case HO_QUIC_FT_PADDING:
        /* §19.1: no content; a run of them is decoded as one frame. */
        f->padding.len = 1;
        while (c->len > 0 && c->p[0] == 0) {
            ho_skip(c, 1);
            f->padding.len++;
        }
        return HO_OK;
    case HO_QUIC_FT_PING:
    case HO_QUIC_FT_HANDSHAKE_DONE:
        return HO_OK;
    case HO_QUIC_FT_ACK:
    case HO_QUIC_FT_ACK_ECN:
        return decode_ack(c, f);
    case HO_QUIC_FT_RESET_STREAM:
        if (!ho_get_varint(c, &f->reset_stream.stream_id) || !ho_get_varint(c, &f->reset_stream.error_code) ||
            !ho_get_varint(c, &f->reset_stream.final_size))
            return FEE;
        return HO_OK;
    case HO_QUIC_FT_STOP_SENDING:
        if (!ho_get_varint(c, &f->stop_sending.stream_id) || !ho_get_varint(c, &f->stop_sending.error_code))
            return FEE;
        return HO_OK;
    case HO_QUIC_FT_CRYPTO:
        if (!ho_get_varint(c, &f->crypto.offset) || !ho_get_varint(c, &len) ||
            !get_len_bytes(c, len, &f->crypto.data))
            return FEE;
        f->crypto.len = (size_t)len;
        /* §19.6: offset + length > 2^62-1 MUST be FRAME_ENCODING_ERROR or
         * CRYPTO_BUFFER_EXCEEDED. */
        if (len > HO_QUIC_MAX_STREAM_OFFSET - f->crypto.offset)
            return FEE;
        return HO_OK;
    case HO_QUIC_FT_NEW_TOKEN:
        if (!ho_get_varint(c, &len) || !get_len_bytes(c, len, &f->new_token.token))
            return FEE;
        f->new_token.len = (size_t)len;
        /* §19.7: an empty token MUST be a FRAME_ENCODING_ERROR. */
        return len == 0 ? FEE : HO_OK;
    case HO_QUIC_FT_MAX_DATA:
        return ho_get_varint(c, &f->max_data.maximum) ? HO_OK : FEE;
    case HO_QUIC_FT_MAX_STREAM_DATA:
        if (!ho_get_varint(c, &f->max_stream_data.stream_id) || !ho_get_varint(c, &f->max_stream_data.maximum))
            return FEE;
        return HO_OK;
    case HO_QUIC_FT_MAX_STREAMS_BIDI:
    case HO_QUIC_FT_MAX_STREAMS_UNI:
        if (!ho_get_varint(c, &f->max_streams.maximum))
            return FEE;
        /* §19.11: more than 2^60 MUST be a FRAME_ENCODING_ERROR (§4.6 too). */
        return f->max_streams.maximum > HO_QUIC_MAX_STREAMS ? FEE : HO_OK;
    case HO_QUIC_FT_DATA_BLOCKED:
        return ho_get_varint(c, &f->data_blocked.limit) ? HO_OK : FEE;
    case HO_QUIC_FT_STREAM_DATA_BLOCKED:
        if (!ho_get_varint(c, &f->stream_data_blocked.stream_id) ||
            !ho_get_varint(c, &f->stream_data_blocked.limit))
            return FEE;
        return HO_OK;
    case HO_QUIC_FT_STREAMS_BLOCKED_BIDI:
    case HO_QUIC_FT_STREAMS_BLOCKED_UNI:
        if (!ho_get_varint(c, &f->streams_blocked.limit))
            return FEE;
        /* §19.14: more than 2^60 MUST be STREAM_LIMIT_ERROR or
         * FRAME_ENCODING_ERROR. */
        return f->streams_blocked.limit > HO_QUIC_MAX_STREAMS ? FEE : HO_OK;
    case HO_QUIC_FT_NEW_CONNECTION_ID:
        if (!ho_get_varint(c, &f->new_connection_id.seq) || !ho_get_varint(c, &f->new_connection_id.retire_prior_to) ||
            !ho_get_u8(c, &n))
            return FEE;
        /* §19.15: a length outside 1..20 MUST be FRAME_ENCODING_ERROR. */
        if (n < 1 || n > HO_QUIC_MAX_CID_LEN || !ho_get_bytes(c, n, &p) ||
            !ho_get_copy(c, f->new_connection_id.reset_token, HO_QUIC_RESET_TOKEN_LEN))
            return FEE;
        ho_quic_cid_set(&f->new_connection_id.cid, p, n);
        /* §19.15: Retire Prior To greater than Sequence Number MUST be
         * FRAME_ENCODING_ERROR. */
        return f->new_connection_id.retire_prior_to > f->new_connection_id.seq ? FEE : HO_OK;
    case HO_QUIC_FT_RETIRE_CONNECTION_ID:
        return ho_get_varint(c, &f->retire_connection_id.seq) ? HO_OK : FEE;
    case HO_QUIC_FT_PATH_CHALLENGE:
    case HO_QUIC_FT_PATH_RESPONSE:
        return ho_get_copy(c, f->path.data, HO_QUIC_PATH_DATA_LEN) ? HO_OK : FEE;
    case HO_QUIC_FT_CONNECTION_CLOSE:
    case HO_QUIC_FT_CONNECTION_CLOSE_APP:
        f->close.frame_type = 0;
        if (!ho_get_varint(c, &f->close.error_code))
            return FEE;
        /* §19.19: the Frame Type field is in type 0x1c only. */
        if (t == HO_QUIC_FT_CONNECTION_CLOSE && !ho_get_varint(c, &f->close.frame_type))
            return FEE;
        if (!ho_get_varint(c, &len) || !get_len_bytes(c, len, &f->close.reason))
            return FEE;
        f->close.reason_len = (size_t)len;
        return HO_OK;
    case HO_QUIC_FT_DATAGRAM:
        /* RFC 9221 §4: type 0x30 has no Length: the data fills the packet. */
        f->datagram.data = c->p;
        f->datagram.len = c->len;
        ho_skip(c, c->len);
        return HO_OK;
    case HO_QUIC_FT_DATAGRAM_LEN:
        if (!ho_get_varint(c, &len) || !get_len_bytes(c, len, &f->datagram.data))
            return FEE;
        f->datagram.len = (size_t)len;
        return HO_OK;
    }
    /* RFC 9000 §12.4: an unknown frame type MUST be FRAME_ENCODING_ERROR. */
    return FEE;
}

int ho_quic_frame_decode(ho_cursor *c, ho_quic_frame *f)
{
    memset(f, 0, sizeof(*f));
    ho_cursor w = *c;
    uint64_t type;
    if (!ho_get_varint(&w, &type))
        return FEE;
    f->type = type;
    /* RFC 9000 §12.4: the frame type MUST use the shortest encoding; an
     * endpoint MAY treat a longer one as PROTOCOL_VIOLATION. */
    if (c->len - w.len != ho_quic_varint_len(type))
        return PV;
    int rc = decode_body(&w, f);
    if (rc != HO_OK)
        return rc;
    *c = w;
    return HO_OK;
}

void ho_quic_frame_reader_init(ho_quic_frame_reader *r, const uint8_t *payload, size_t len, ho_quic_pkt_type pkt,
                               bool peer_is_server)
{
    memset(r, 0, sizeof(*r));
    r->c = ho_cursor_make(payload, len);
    r->pkt = pkt;
    r->peer_is_server = peer_is_server;
}

int ho_quic_frame_read(ho_quic_frame_reader *r, ho_quic_frame *f)
{
    if (r->error != HO_OK)
        return r->error;
    if (ho_cursor_empty(&r->c)) {
        if (r->count > 0)
            return HO_ERR_NOT_FOUND;
        /* RFC 9000 §12.4: a packet containing no frames MUST be a
         * PROTOCOL_VIOLATION. */
        return r->error = PV;
    }
    int rc = ho_quic_frame_decode(&r->c, f);
    if (rc == HO_OK)
        rc = ho_quic_frame_permitted(f->type, r->pkt, r->peer_is_server);
    if (rc != HO_OK) {
        /* For CONNECTION_CLOSE's Frame Type (§19.19); 0 if it was unreadable. */
        r->error_frame_type = f->type;
        return r->error = rc;
    }
    const ho_quic_frame_info *info = ho_quic_frame_info_of(f->type);
    r->count++;
    r->flags |= info->flags;
    if (!(info->flags & HO_QUIC_FRAME_PROBING))
        r->non_probing = true;
    return HO_OK;
}

void ho_quic_ack_iter_init(ho_quic_ack_iter *it, const ho_quic_frame *ack)
{
    it->ranges = ack->ack.ranges;
    it->left = ack->ack.range_count;
    it->next.largest = ack->ack.largest;
    it->next.smallest = ack->ack.largest - ack->ack.first_range;
    it->has_next = ack->ack.first_range <= ack->ack.largest;
}

bool ho_quic_ack_iter_next(ho_quic_ack_iter *it, ho_quic_ack_range *r)
{
    if (!it->has_next)
        return false;
    *r = it->next;
    it->has_next = false;
    uint64_t gap, len;
    /* Re-checked so that an ACK frame built by hand cannot underflow. */
    if (it->left > 0 && ho_get_varint(&it->ranges, &gap) && ho_get_varint(&it->ranges, &len) &&
        r->smallest >= gap + 2 && len <= r->smallest - gap - 2) {
        it->left--;
        it->next.largest = r->smallest - gap - 2;
        it->next.smallest = it->next.largest - len;
        it->has_next = true;
    }
    return true;
}

/* ---- encoding ---------------------------------------------------------- */

/* Varint writer that records a value out of range instead of failing the
 * buffer (that is the caller's mistake, not memory). */
static void put_v(ho_buf *b, uint64_t v, bool *bad)
{
    if (v > HO_QUIC_PN_MAX)
        *bad = true;
    else
        ho_put_varint(b, v);
}

static void put_data(ho_buf *b, const uint8_t *p, size_t len, bool with_len, bool *bad)
{
    if (with_len)
        put_v(b, len, bad);
    ho_put_bytes(b, p, len);
}

int ho_quic_frame_encode(ho_buf *b, const ho_quic_frame *f)
{
    size_t start = b->len;
    uint64_t t = f->type;
    bool bad = false;
    if (b->failed)
        return HO_ERR_NOMEM;
    if (ho_quic_frame_info_of(t) == NULL)
        return HO_ERR_INVALID_ARG;
    if (t != HO_QUIC_FT_PADDING)
        ho_put_varint(b, t); /* minimal, as §12.4 requires */
    if (t >= HO_QUIC_FT_STREAM && t <= HO_QUIC_FT_STREAM_MAX) {
        const uint64_t off = f->stream.offset;
        if ((!(t & HO_QUIC_STREAM_OFF) && off != 0) || f->stream.fin != ((t & HO_QUIC_STREAM_FIN) != 0) ||
            f->stream.len > HO_QUIC_MAX_STREAM_OFFSET - (off > HO_QUIC_MAX_STREAM_OFFSET ? 0 : off))
            bad = true;
        put_v(b, f->stream.stream_id, &bad);
        if (t & HO_QUIC_STREAM_OFF)
            put_v(b, off, &bad);
        put_data(b, f->stream.data, f->stream.len, t & HO_QUIC_STREAM_LEN, &bad);
    } else {
        switch (t) {
        case HO_QUIC_FT_PADDING:
            if (f->padding.len == 0)
                bad = true;
            else if (ho_put_space(b, f->padding.len) != NULL)
                memset(b->data + start, 0, f->padding.len);
            break;
        case HO_QUIC_FT_PING:
        case HO_QUIC_FT_HANDSHAKE_DONE:
            break;
        case HO_QUIC_FT_ACK:
        case HO_QUIC_FT_ACK_ECN:
            if (f->ack.first_range > f->ack.largest)
                bad = true;
            put_v(b, f->ack.largest, &bad);
            put_v(b, f->ack.delay, &bad);
            put_v(b, f->ack.range_count, &bad);
            put_v(b, f->ack.first_range, &bad);
            ho_put_bytes(b, f->ack.ranges.p, f->ack.ranges.len);
            if (t == HO_QUIC_FT_ACK_ECN) {
                put_v(b, f->ack.ect0, &bad);
                put_v(b, f->ack.ect1, &bad);
                put_v(b, f->ack.ce, &bad);
            }
            break;
        case HO_QUIC_FT_RESET_STREAM:
            put_v(b, f->reset_stream.stream_id, &bad);
            put_v(b, f->reset_stream.error_code, &bad);
            put_v(b, f->reset_stream.final_size, &bad);
            break;
        case HO_QUIC_FT_STOP_SENDING:
            put_v(b, f->stop_sending.stream_id, &bad);
            put_v(b, f->stop_sending.error_code, &bad);
            break;
        case HO_QUIC_FT_CRYPTO:
            if (f->crypto.offset > HO_QUIC_MAX_STREAM_OFFSET ||
                f->crypto.len > HO_QUIC_MAX_STREAM_OFFSET - f->crypto.offset)
                bad = true;
            put_v(b, f->crypto.offset, &bad);
            put_data(b, f->crypto.data, f->crypto.len, true, &bad);
            break;
        case HO_QUIC_FT_NEW_TOKEN:
            if (f->new_token.len == 0)
                bad = true;
            put_data(b, f->new_token.token, f->new_token.len, true, &bad);
            break;
        case HO_QUIC_FT_MAX_DATA:
            put_v(b, f->max_data.maximum, &bad);
            break;
        case HO_QUIC_FT_MAX_STREAM_DATA:
            put_v(b, f->max_stream_data.stream_id, &bad);
            put_v(b, f->max_stream_data.maximum, &bad);
            break;
        case HO_QUIC_FT_MAX_STREAMS_BIDI:
        case HO_QUIC_FT_MAX_STREAMS_UNI:
            if (f->max_streams.maximum > HO_QUIC_MAX_STREAMS)
                bad = true;
            put_v(b, f->max_streams.maximum, &bad);
            break;
        case HO_QUIC_FT_DATA_BLOCKED:
            put_v(b, f->data_blocked.limit, &bad);
            break;
        case HO_QUIC_FT_STREAM_DATA_BLOCKED:
            put_v(b, f->stream_data_blocked.stream_id, &bad);
            put_v(b, f->stream_data_blocked.limit, &bad);
            break;
        case HO_QUIC_FT_STREAMS_BLOCKED_BIDI:
        case HO_QUIC_FT_STREAMS_BLOCKED_UNI:
            if (f->streams_blocked.limit > HO_QUIC_MAX_STREAMS)
                bad = true;
            put_v(b, f->streams_blocked.limit, &bad);
            break;
        case HO_QUIC_FT_NEW_CONNECTION_ID: {
            const ho_quic_cid *cid = &f->new_connection_id.cid;
            if (cid->len < 1 || cid->len > HO_QUIC_MAX_CID_LEN ||
                f->new_connection_id.retire_prior_to > f->new_connection_id.seq)
                bad = true;
            put_v(b, f->new_connection_id.seq, &bad);
            put_v(b, f->new_connection_id.retire_prior_to, &bad);
            if (!bad) {
                ho_put_u8(b, cid->len);
                ho_put_bytes(b, cid->data, cid->len);
            }
            ho_put_bytes(b, f->new_connection_id.reset_token, HO_QUIC_RESET_TOKEN_LEN);
            break;
        }
        case HO_QUIC_FT_RETIRE_CONNECTION_ID:
            put_v(b, f->retire_connection_id.seq, &bad);
            break;
        case HO_QUIC_FT_PATH_CHALLENGE:
        case HO_QUIC_FT_PATH_RESPONSE:
            ho_put_bytes(b, f->path.data, HO_QUIC_PATH_DATA_LEN);
            break;
        case HO_QUIC_FT_CONNECTION_CLOSE:
        case HO_QUIC_FT_CONNECTION_CLOSE_APP:
            put_v(b, f->close.error_code, &bad);
            if (t == HO_QUIC_FT_CONNECTION_CLOSE)
                put_v(b, f->close.frame_type, &bad);
            put_data(b, f->close.reason, f->close.reason_len, true, &bad);
            break;
        case HO_QUIC_FT_DATAGRAM:
        case HO_QUIC_FT_DATAGRAM_LEN:
            put_data(b, f->datagram.data, f->datagram.len, t == HO_QUIC_FT_DATAGRAM_LEN, &bad);
            break;
        }
    }
    if (bad) {
        if (!b->failed)
            b->len = start;
        return HO_ERR_INVALID_ARG;
    }
    return b->failed ? HO_ERR_NOMEM : HO_OK;
}

int ho_quic_ack_write(ho_buf *b, const ho_quic_ack_range *ranges, size_t count, uint64_t delay,
                      const uint64_t ecn[3])
{
    if (count == 0 || delay > HO_QUIC_PN_MAX)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < count; i++) {
        if (ranges[i].smallest > ranges[i].largest || ranges[i].largest > HO_QUIC_PN_MAX)
            return HO_ERR_INVALID_ARG;
        /* §19.3.1: gap = previous_smallest - largest - 2, never negative. */
        if (i > 0 && ranges[i - 1].smallest < ranges[i].largest + 2)
            return HO_ERR_INVALID_ARG;
    }
    if (ecn != NULL && (ecn[0] > HO_QUIC_PN_MAX || ecn[1] > HO_QUIC_PN_MAX || ecn[2] > HO_QUIC_PN_MAX))
        return HO_ERR_INVALID_ARG;
    ho_put_varint(b, ecn != NULL ? HO_QUIC_FT_ACK_ECN : HO_QUIC_FT_ACK);
    ho_put_varint(b, ranges[0].largest);
    ho_put_varint(b, delay);
    ho_put_varint(b, count - 1);
    ho_put_varint(b, ranges[0].largest - ranges[0].smallest);
    for (size_t i = 1; i < count; i++) {
        ho_put_varint(b, ranges[i - 1].smallest - ranges[i].largest - 2);
        ho_put_varint(b, ranges[i].largest - ranges[i].smallest);
    }
    if (ecn != NULL) {
        ho_put_varint(b, ecn[0]);
        ho_put_varint(b, ecn[1]);
        ho_put_varint(b, ecn[2]);
    }
    return b->failed ? HO_ERR_NOMEM : HO_OK;
}

size_t ho_quic_stream_frame_overhead(uint64_t stream_id, uint64_t offset, size_t len, bool with_len)
{
    return 1 + ho_quic_varint_len(stream_id) + (offset != 0 ? ho_quic_varint_len(offset) : 0) +
           (with_len ? ho_quic_varint_len(len) : 0);
}

int ho_quic_stream_frame_write(ho_buf *b, uint64_t stream_id, uint64_t offset, const void *data, size_t len,
                               bool fin, bool with_len)
{
    ho_quic_frame f = {.type = HO_QUIC_FT_STREAM | (offset != 0 ? HO_QUIC_STREAM_OFF : 0) |
                               (with_len ? HO_QUIC_STREAM_LEN : 0) | (fin ? HO_QUIC_STREAM_FIN : 0)};
    f.stream.stream_id = stream_id;
    f.stream.offset = offset;
    f.stream.data = data;
    f.stream.len = len;
    f.stream.fin = fin;
    return ho_quic_frame_encode(b, &f);
}

int ho_quic_crypto_frame_write(ho_buf *b, uint64_t offset, const void *data, size_t len)
{
    ho_quic_frame f = {.type = HO_QUIC_FT_CRYPTO};
    f.crypto.offset = offset;
    f.crypto.data = data;
    f.crypto.len = len;
    return ho_quic_frame_encode(b, &f);
}
