/* Packets out: datagrams of one size (GSO), each coalescing an Initial, a
 * Handshake and a 1-RTT packet as keys and data allow (RFC 9000 §12.2),
 * frames chosen per space (ACK first, then control frames, CRYPTO, STREAM),
 * the congestion window and pacer (RFC 9002 §7), the anti-amplification
 * limit (RFC 9000 §8.1), PTO probes (RFC 9002 §6.2.4), CONNECTION_CLOSE
 * (§10.2). Every packet gets a record of its retransmittable frames; when
 * recovery reports it lost, the frames (not the packet) are re-queued
 * (§13.3). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

#define OUR_ACK_DELAY_EXPONENT HO_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT
#define ACK_RANGES_SENT_MAX 32
#define AEAD_TAG 16
/* Room a coalesced packet needs: the longest long header (1 + 4 + 21 + 21 +
 * 2 + 4), its tag and a few bytes of frames. */
#define PACKET_MIN_ROOM 80

/* ---- sent-packet records ------------------------------------------------- */

static ho_quic_sent_record *record_alloc(ho_quic_conn *c)
{
    ho_quic_sent_record *r = c->free_records;
    if (r != NULL)
        c->free_records = r->next_free;
    else if ((r = ho_mem_alloc(sizeof(*r))) == NULL)
        return NULL;
    r->n = 0;
    r->next_free = NULL;
    return r;
}

static void record_release(ho_quic_conn *c, ho_quic_sent_record *r)
{
    r->next_free = c->free_records;
    c->free_records = r;
}

void ho_quic_conn_free_records(ho_quic_conn *c)
{
    while (c->free_records != NULL) {
        ho_quic_sent_record *r = c->free_records;
        c->free_records = r->next_free;
        ho_mem_free(r);
    }
}

static bool record_add(ho_quic_sent_record *r, uint8_t kind, uint64_t id, uint64_t off, uint64_t len, bool fin)
{
    if (r->n == HO_QUIC_SENT_FRAMES_MAX)
        return false;
    r->f[r->n++] = (ho_quic_sent_frame){kind, fin, id, off, len};
    return true;
}

void ho_quic_conn_sent_acked(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_quic_conn *c = ctx;
    ho_quic_ecn_on_acked(c, space, pkt);
    ho_quic_pmtud_on_acked(c, space, pkt);
    ho_quic_sent_record *r = (ho_quic_sent_record *)pkt->frames;
    if (r == NULL)
        return;
    for (unsigned i = 0; i < r->n; i++) {
        const ho_quic_sent_frame *f = &r->f[i];
        ho_quic_stream *s;
        switch (f->kind) {
        case HO_QUIC_SF_CRYPTO:
            if (!c->spaces[f->id].discarded)
                ho_quic_sendbuf_on_acked(&c->spaces[f->id].crypto_tx, f->offset, f->len, false);
            break;
        case HO_QUIC_SF_STREAM:
            if ((s = ho_quic_stream_find(c, f->id)) != NULL) {
                ho_quic_sendbuf_on_acked(&s->tx, f->offset, f->len, f->fin);
                if (s->want_writable)
                    c->writable_check = true;
                ho_quic_stream_maybe_free(c, s);
            }
            break;
        case HO_QUIC_SF_RESET_STREAM:
            if ((s = ho_quic_stream_find(c, f->id)) != NULL) {
                s->reset_acked = true;
                ho_quic_stream_maybe_free(c, s);
            }
            break;
        default:
            break;
        }
    }
    record_release(c, r);
}

static void requeue_frames(ho_quic_conn *c, ho_quic_sent_record *r);

void ho_quic_conn_sent_lost(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_quic_conn *c = ctx;
    quic_ev_packet_lost(c, space, pkt);
    ho_quic_ecn_on_lost(c, space, pkt);
    ho_quic_pmtud_on_lost(c, space, pkt);
    ho_quic_sent_record *r = (ho_quic_sent_record *)pkt->frames;
    if (r == NULL)
        return;
    requeue_frames(c, r);
}

/* The frames of a packet declared lost (or of a rejected 0-RTT packet)
 * are sent again as their kind requires (RFC 9000 §13.3). */
static void requeue_frames(ho_quic_conn *c, ho_quic_sent_record *r)
{
    for (unsigned i = 0; i < r->n; i++) {
        const ho_quic_sent_frame *f = &r->f[i];
        ho_quic_stream *s = NULL;
        if (f->kind == HO_QUIC_SF_STREAM || f->kind == HO_QUIC_SF_MAX_STREAM_DATA ||
            f->kind == HO_QUIC_SF_RESET_STREAM || f->kind == HO_QUIC_SF_STOP_SENDING)
            s = ho_quic_stream_find(c, f->id);
        switch (f->kind) {
        case HO_QUIC_SF_CRYPTO:
            if (!c->spaces[f->id].discarded)
                ho_quic_sendbuf_on_lost(&c->spaces[f->id].crypto_tx, f->offset, f->len, false);
            break;
        case HO_QUIC_SF_STREAM:
            /* §13.3: lost data is sent again unless the stream was reset. */
            if (s != NULL && !s->reset_sent && !s->reset_pending)
                ho_quic_sendbuf_on_lost(&s->tx, f->offset, f->len, f->fin);
            break;
        case HO_QUIC_SF_MAX_DATA:
            c->max_data_pending = true; /* §13.3: the current value */
            break;
        case HO_QUIC_SF_MAX_STREAM_DATA:
            if (s != NULL && !s->fin_received)
                s->msd_pending = true;
            break;
        case HO_QUIC_SF_MAX_STREAMS_BIDI:
            c->max_streams_pending[0] = true;
            break;
        case HO_QUIC_SF_MAX_STREAMS_UNI:
            c->max_streams_pending[1] = true;
            break;
        case HO_QUIC_SF_RESET_STREAM:
            if (s != NULL && !s->reset_acked)
                s->reset_pending = true;
            break;
        case HO_QUIC_SF_STOP_SENDING:
            if (s != NULL && !s->fin_received && !s->reset_received)
                s->stop_pending = true;
            break;
        case HO_QUIC_SF_HANDSHAKE_DONE:
            c->handshake_done_pending = true;
            break;
        case HO_QUIC_SF_NEW_TOKEN:
            /* §13.3: a lost NEW_TOKEN is sent again. */
            if (c->new_token != NULL)
                c->new_token_pending = true;
            break;
        case HO_QUIC_SF_NEW_CID:
        case HO_QUIC_SF_RETIRE_CID:
            ho_quic_cid_frame_lost(c, f->kind, f->id);
            break;
        case HO_QUIC_SF_DATAGRAM:
            /* RFC 9221 §5.2: DATAGRAM frames are not retransmitted. */
            c->stats.dgram_frames_lost++;
            break;
        default:
            break;
        }
    }
    record_release(c, r);
}

void ho_quic_conn_sent_discarded(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_quic_conn *c = ctx;
    if (pkt->frames == 0)
        return;
    /* RFC 9001 §4.6.2: 0-RTT rejected: its data goes again in 1-RTT (early.c). */
    if (c->early.requeue && space == HO_QUIC_PN_SPACE_APPLICATION)
        requeue_frames(c, (ho_quic_sent_record *)pkt->frames);
    else
        record_release(c, (ho_quic_sent_record *)pkt->frames);
}

/* ---- building one packet ---------------------------------------------------- */

typedef struct packet_builder {
    ho_quic_conn *c;
    ho_quic_pn_space space;
    ho_quic_header hdr;
    size_t start;           /* in c->pkt */
    size_t end_limit;       /* frames must end by here (tag excluded) */
    ho_quic_sent_record *rec;
    bool eliciting, in_flight, has_frames;
    bool pmtu_probe;
    size_t payload_start;   /* in c->pkt: the first frame byte */
} packet_builder;

static size_t room(const packet_builder *pb) { return pb->end_limit > pb->c->pkt.len ? pb->end_limit - pb->c->pkt.len : 0; }

static bool write_ack(packet_builder *pb, ho_quic_time now)
{
    ho_quic_conn *c = pb->c;
    ho_quic_space *s = &c->spaces[pb->space];
    if (!s->ack_pending || s->rx_pns.n == 0)
        return true;
    ho_quic_ack_range ranges[ACK_RANGES_SENT_MAX];
    size_t n = 0;
    for (size_t i = s->rx_pns.n; i > 0 && n < ACK_RANGES_SENT_MAX; i--) {
        ranges[n].smallest = s->rx_pns.r[i - 1].start;
        ranges[n].largest = s->rx_pns.r[i - 1].end - 1;
        n++;
    }
    uint64_t delay = 0;
    if (pb->space == HO_QUIC_PN_SPACE_APPLICATION && now > s->largest_rx_time)
        delay = (uint64_t)((now - s->largest_rx_time) / 1000) >> OUR_ACK_DELAY_EXPONENT;
    /* RFC 9000 §13.4.1: ACK_ECN once ECN-marked packets arrived. */
    const uint64_t *ecn = ho_quic_ecn_ack_counts(c, pb->space);
    size_t ecn_room = ecn != NULL ? 3 * 8 : 0;
    /* Trim ranges until the frame fits. */
    while (n > 0 && 1 + 8 + 8 + 8 + 8 + ecn_room + 16 * (n - 1) > room(pb) + 0 && n > 1)
        n--;
    if (1 + 8 + 8 + 8 + 8 + ecn_room > room(pb))
        return false;
    size_t before = c->pkt.len;
    if (ho_quic_ack_write(&c->pkt, ranges, n, delay, ecn) != HO_OK) {
        c->pkt.len = before;
        return false;
    }
    record_add(pb->rec, HO_QUIC_SF_ACK, ranges[0].largest, 0, 0, false);
    s->ack_pending = false;
    s->unacked_eliciting = 0;
    s->ack_deadline = HO_QUIC_TIME_NEVER;
    pb->has_frames = true;
    return true;
}

static bool write_frame(packet_builder *pb, const ho_quic_frame *f, size_t max_size)
{
    if (max_size > room(pb))
        return false;
    size_t before = pb->c->pkt.len;
    if (ho_quic_frame_encode(&pb->c->pkt, f) != HO_OK || pb->c->pkt.len > pb->end_limit) {
        pb->c->pkt.len = before;
        pb->c->pkt.failed = false;
        return false;
    }
    pb->has_frames = pb->eliciting = pb->in_flight = true;
    return true;
}

static void write_control(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    ho_quic_frame f;
    if (c->handshake_done_pending && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
        f.type = HO_QUIC_FT_HANDSHAKE_DONE;
        if (write_frame(pb, &f, 1)) {
            c->handshake_done_pending = false;
            record_add(pb->rec, HO_QUIC_SF_HANDSHAKE_DONE, 0, 0, 0, false);
        }
    }
    /* §8.1.3: NEW_TOKEN, after HANDSHAKE_DONE (the endpoint queues it
     * once the handshake is confirmed). */
    if (c->new_token_pending && c->hs_done && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
        f.type = HO_QUIC_FT_NEW_TOKEN;
        f.new_token.token = c->new_token;
        f.new_token.len = c->new_token_len;
        if (write_frame(pb, &f, 1 + 8 + c->new_token_len)) {
            c->new_token_pending = false;
            record_add(pb->rec, HO_QUIC_SF_NEW_TOKEN, 0, 0, 0, false);
        }
    }
    /* The CID frames (§19.15, §19.16). */
    while (pb->rec->n < HO_QUIC_SENT_FRAMES_MAX && ho_quic_cid_next_frame(c, &f)) {
        bool retire = f.type == HO_QUIC_FT_RETIRE_CONNECTION_ID;
        uint64_t seq = retire ? f.retire_connection_id.seq : f.new_connection_id.seq;
        if (!write_frame(pb, &f, retire ? 9 : 1 + 8 + 8 + 1 + HO_QUIC_MAX_CID_LEN + HO_QUIC_RESET_TOKEN_LEN))
            break;
        ho_quic_cid_frame_sent(c, &f);
        record_add(pb->rec, retire ? HO_QUIC_SF_RETIRE_CID : HO_QUIC_SF_NEW_CID, seq, 0, 0, false);
    }
    if (c->max_data_pending && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
        f.type = HO_QUIC_FT_MAX_DATA;
        f.max_data.maximum = c->rx_max_data;
        if (write_frame(pb, &f, 9)) {
            c->max_data_pending = false;
            record_add(pb->rec, HO_QUIC_SF_MAX_DATA, 0, 0, 0, false);
        }
    }
    for (int uni = 0; uni < 2; uni++) {
        if (!c->max_streams_pending[uni] || pb->rec->n == HO_QUIC_SENT_FRAMES_MAX)
            continue;
        f.type = uni ? HO_QUIC_FT_MAX_STREAMS_UNI : HO_QUIC_FT_MAX_STREAMS_BIDI;
        f.max_streams.maximum = c->local_max_streams[uni];
        if (write_frame(pb, &f, 9)) {
            c->max_streams_pending[uni] = false;
            record_add(pb->rec, uni ? HO_QUIC_SF_MAX_STREAMS_UNI : HO_QUIC_SF_MAX_STREAMS_BIDI, 0, 0, 0, false);
        }
    }
    for (size_t i = 0; i < c->nstreams && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX; i++) {
        ho_quic_stream *s = c->streams[i];
        if (s->msd_pending) {
            f.type = HO_QUIC_FT_MAX_STREAM_DATA;
            f.max_stream_data.stream_id = s->id;
            f.max_stream_data.maximum = s->rx_max;
            if (write_frame(pb, &f, 17)) {
                s->msd_pending = false;
                record_add(pb->rec, HO_QUIC_SF_MAX_STREAM_DATA, s->id, 0, 0, false);
            }
        }
        if (s->reset_pending && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
            f.type = HO_QUIC_FT_RESET_STREAM;
            f.reset_stream.stream_id = s->id;
            f.reset_stream.error_code = s->reset_code;
            f.reset_stream.final_size = s->tx.next; /* §19.4: what was sent */
            if (write_frame(pb, &f, 25)) {
                s->reset_pending = false;
                s->reset_sent = true;
                ho_quic_rangeset_free(&s->tx.retx);
                record_add(pb->rec, HO_QUIC_SF_RESET_STREAM, s->id, 0, 0, false);
            }
        }
        if (s->stop_pending && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
            f.type = HO_QUIC_FT_STOP_SENDING;
            f.stop_sending.stream_id = s->id;
            f.stop_sending.error_code = s->stop_code;
            if (write_frame(pb, &f, 17)) {
                s->stop_pending = false;
                s->stop_sent = true;
                record_add(pb->rec, HO_QUIC_SF_STOP_SENDING, s->id, 0, 0, false);
            }
        }
    }
}

/* PATH_RESPONSE and PATH_CHALLENGE: small, and not held back by the
 * congestion window (a new path must be validated before its window
 * matters). Neither is retransmitted as such (§13.3): path.c sends a
 * fresh challenge each PTO. */
static void write_path_frames(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    ho_quic_frame f;
    if (c->path_response_pending) {
        /* RFC 9000 §8.2.2 */
        f.type = HO_QUIC_FT_PATH_RESPONSE;
        memcpy(f.path.data, c->path_response, sizeof(f.path.data));
        if (write_frame(pb, &f, 1 + HO_QUIC_PATH_DATA_LEN))
            c->path_response_pending = false;
    }
    /* RFC 9000 §8.2.1 */
    if (c->pv.challenge_pending && room(pb) >= 1 + HO_QUIC_PATH_DATA_LEN && ho_quic_path_next_challenge(c, &f))
        write_frame(pb, &f, 1 + HO_QUIC_PATH_DATA_LEN);
}

static void write_crypto(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    ho_quic_sendbuf *sb = &c->spaces[pb->space].crypto_tx;
    while (pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
        size_t r = room(pb);
        if (r < 1 + 8 + 4 + 16)
            return;
        uint64_t off;
        size_t len;
        bool fin;
        const uint8_t *data;
        if (!ho_quic_sendbuf_peek(sb, UINT64_MAX, r - (1 + 8 + 4), &off, &len, &fin, &data) || len == 0)
            return;
        size_t before = c->pkt.len;
        if (ho_quic_crypto_frame_write(&c->pkt, off, data, len) != HO_OK || c->pkt.len > pb->end_limit) {
            c->pkt.len = before;
            c->pkt.failed = false;
            return;
        }
        ho_quic_sendbuf_on_sent(sb, off, len, false);
        record_add(pb->rec, HO_QUIC_SF_CRYPTO, pb->space, off, len, false);
        pb->has_frames = pb->eliciting = pb->in_flight = true;
    }
}

static bool stream_has_data(const ho_quic_conn *c, const ho_quic_stream *s)
{
    if (!s->has_send || s->reset_sent || s->reset_pending)
        return false;
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *data;
    uint64_t credit = c->tx_max_data > c->tx_data_sent ? c->tx_max_data - c->tx_data_sent : 0;
    uint64_t limit = s->tx.next + credit < s->tx_max ? s->tx.next + credit : s->tx_max;
    return ho_quic_sendbuf_peek(&s->tx, limit, 1, &off, &len, &fin, &data) && (len > 0 || fin);
}

static void write_streams(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    size_t n = c->nstreams, start = c->rr;
    bool full = false;
    /* Every stream with data gets its turn in this packet, from `start`
     * (c->rr moves below, for the next packet: indexing from it here would
     * skip the stream after each one written). */
    for (size_t k = 0; k < n && !full; k++) {
        size_t idx = (start + k) % n;
        ho_quic_stream *s = c->streams[idx];
        /* A stream's data may lie in several pieces (each reference is
         * one, e.g. an HTTP/3 HEADERS frame and a static body): one frame
         * each, all of them while there is room. */
        while (!full && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX && stream_has_data(c, s)) {
            size_t r = room(pb);
            size_t overhead = ho_quic_stream_frame_overhead(s->id, s->tx.next, r, true);
            if (r <= overhead + 1) {
                full = true;
                break;
            }
            uint64_t credit = c->tx_max_data > c->tx_data_sent ? c->tx_max_data - c->tx_data_sent : 0;
            uint64_t limit = s->tx.next + credit < s->tx_max ? s->tx.next + credit : s->tx_max;
            uint64_t off;
            size_t len;
            bool fin;
            const uint8_t *data;
            if (!ho_quic_sendbuf_peek(&s->tx, limit, r - overhead, &off, &len, &fin, &data))
                break;
            size_t before = c->pkt.len;
            if (ho_quic_stream_frame_write(&c->pkt, s->id, off, data, len, fin, true) != HO_OK ||
                c->pkt.len > pb->end_limit) {
                c->pkt.len = before;
                c->pkt.failed = false;
                full = true;
                break;
            }
            c->tx_data_sent += ho_quic_sendbuf_on_sent(&s->tx, off, len, fin);
            record_add(pb->rec, HO_QUIC_SF_STREAM, s->id, off, len, fin);
            pb->has_frames = pb->eliciting = pb->in_flight = true;
            /* The next packet starts with the next stream (fairness). */
            c->rr = (idx + 1) % n;
            if (room(pb) < 32)
                full = true;
        }
        if (pb->rec->n >= HO_QUIC_SENT_FRAMES_MAX)
            full = true;
    }
}

/* ---- DATAGRAM frames (RFC 9221) --------------------------------------------- */

void ho_quic_dgram_clear(ho_quic_conn *c)
{
    while (c->dgq_head != NULL) {
        ho_quic_dgram *d = c->dgq_head;
        c->dgq_head = d->next;
        ho_mem_free(d);
    }
    c->dgq_tail = NULL;
    c->dgq_n = 0;
}

/* The largest payload whose DATAGRAM frame (type 0x31, length, payload)
 * is at most `frame_max` bytes. */
static size_t dgram_payload_max(size_t frame_max)
{
    static const size_t vlens[] = {1, 2, 4, 8}, caps[] = {63, 16383, 1073741823, SIZE_MAX};
    size_t best = 0;
    for (size_t i = 0; i < 4; i++) {
        if (frame_max <= 1 + vlens[i])
            break;
        size_t p = frame_max - 1 - vlens[i];
        if (p > caps[i])
            p = caps[i]; /* the length field stays vlens[i] bytes */
        if (p > best)
            best = p;
    }
    return best;
}

size_t ho_quic_conn_datagram_max(const ho_quic_conn *c)
{
    /* §3: only once the peer announced a non-zero max_datagram_frame_size
     * (hs_done: its transport parameters are in, and no handshake step is
     * out on a worker writing them). */
    if (!c->hs_done || c->state >= HO_QUIC_STATE_CLOSING || c->tpx.peer.max_datagram_frame_size == 0)
        return 0;
    uint64_t peer = c->tpx.peer.max_datagram_frame_size;
    size_t by_peer = dgram_payload_max(peer > 65535 ? 65535 : (size_t)peer);
    /* A 1-RTT packet alone in the datagram: short header (flags, DCID, a
     * packet number of up to 4 bytes), the frame, the AEAD tag. */
    size_t mds = c->pmtud.current != 0 ? c->pmtud.current : c->cfg.max_datagram_size;
    size_t overhead = 1 + c->dcid.len + 4 + AEAD_TAG;
    size_t by_path = mds > overhead ? dgram_payload_max(mds - overhead) : 0;
    return by_peer < by_path ? by_peer : by_path;
}

int ho_quic_conn_send_datagram(ho_quic_conn *c, const uint8_t *data, size_t len)
{
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    /* RFC 9221 §3: never above the peer's max_datagram_frame_size, nor
     * without it. */
    if (len > ho_quic_conn_datagram_max(c) || (data == NULL && len > 0))
        return HO_ERR_INVALID_ARG;
    if (c->dgq_n >= c->cfg.datagram_queue) {
        c->stats.dgram_frames_dropped++;
        return HO_ERR_WOULD_BLOCK;
    }
    ho_quic_dgram *d = ho_mem_alloc(sizeof(*d) + len);
    if (d == NULL)
        return HO_ERR_NOMEM;
    d->next = NULL;
    d->len = len;
    if (len > 0)
        memcpy(d->data, data, len);
    if (c->dgq_tail != NULL)
        c->dgq_tail->next = d;
    else
        c->dgq_head = d;
    c->dgq_tail = d;
    c->dgq_n++;
    quic_conn_wake(c);
    return HO_OK;
}

/* Queued DATAGRAM frames, oldest first, while they fit. One that no
 * longer fits any packet (the path's size shrank) is dropped, counted. */
static void write_datagrams(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    while (c->dgq_head != NULL && pb->rec->n < HO_QUIC_SENT_FRAMES_MAX) {
        ho_quic_dgram *d = c->dgq_head;
        size_t need = 1 + ho_quic_varint_len(d->len) + d->len;
        bool fits = need <= room(pb);
        if (!fits && d->len <= ho_quic_conn_datagram_max(c))
            break; /* the next packet takes it */
        if (fits) {
            ho_quic_frame f = {.type = HO_QUIC_FT_DATAGRAM_LEN};
            f.datagram.data = d->data;
            f.datagram.len = d->len;
            if (!write_frame(pb, &f, need))
                break;
            record_add(pb->rec, HO_QUIC_SF_DATAGRAM, 0, 0, d->len, false);
            c->stats.dgram_frames_sent++;
        } else {
            c->stats.dgram_frames_dropped++;
        }
        c->dgq_head = d->next;
        if (c->dgq_head == NULL)
            c->dgq_tail = NULL;
        c->dgq_n--;
        ho_mem_free(d);
    }
}

static bool write_close(packet_builder *pb)
{
    ho_quic_conn *c = pb->c;
    ho_quic_frame f;
    memset(&f, 0, sizeof(f));
    if (c->close_is_app && pb->space != HO_QUIC_PN_SPACE_APPLICATION) {
        /* RFC 9000 §10.2.3: 0x1d may not go in Initial/Handshake; send 0x1c
         * APPLICATION_ERROR instead, without the reason. */
        f.type = HO_QUIC_FT_CONNECTION_CLOSE;
        f.close.error_code = HO_QUIC_APPLICATION_ERROR;
    } else {
        f.type = c->close_is_app ? HO_QUIC_FT_CONNECTION_CLOSE_APP : HO_QUIC_FT_CONNECTION_CLOSE;
        f.close.error_code = c->close_code;
        f.close.frame_type = c->close_frame_type;
        f.close.reason = (const uint8_t *)c->close_reason;
        f.close.reason_len = strlen(c->close_reason);
    }
    size_t before = c->pkt.len;
    if (ho_quic_frame_encode(&c->pkt, &f) != HO_OK || c->pkt.len > pb->end_limit) {
        c->pkt.len = before;
        c->pkt.failed = false;
        return false;
    }
    pb->has_frames = true; /* not ack-eliciting, not in flight (RFC 9002 §2) */
    return true;
}

/* Starts a packet of `space` in c->pkt; false if it cannot fit. */
static bool packet_begin(packet_builder *pb, ho_quic_conn *c, ho_quic_pn_space space, size_t dgram_limit)
{
    ho_quic_space *s = &c->spaces[space];
    memset(pb, 0, sizeof(*pb));
    pb->c = c;
    pb->space = space;
    const ho_quic_recovery_space *rs = &c->rec.spaces[space];
    pb->hdr.type = ho_quic_space_pkt(space);
    /* A client's Application Data before 1-RTT keys: 0-RTT (early.c). */
    if (space == HO_QUIC_PN_SPACE_APPLICATION && !s->has_tx)
        pb->hdr.type = HO_QUIC_PKT_0RTT;
    /* RFC 9369: our long headers use the connection's version; one we do
     * not speak (a client drawing VN, tests) goes out as version 1 with
     * that version number patched in below. */
    pb->hdr.version = ho_quic_version_supported(c->version) ? c->version : HO_QUIC_VERSION_1;
    pb->hdr.dcid = c->dcid;
    pb->hdr.scid = c->scid;
    pb->hdr.pn = s->next_pn;
    pb->hdr.key_phase = pb->hdr.type == HO_QUIC_PKT_1RTT && c->kp.tx_phase;
    pb->hdr.pn_len = ho_quic_pn_len(s->next_pn, rs->has_largest_acked ? rs->largest_acked : HO_QUIC_PN_NONE);
    /* RFC 9000 §17.1: SHOULD encode wide enough for a packet that arrives
     * after later ones. Twice the unacknowledged range is not, once the
     * path reorders by more than that (spurious losses raised the packet
     * threshold): the peer would decode a late packet wrongly and drop it.
     * Two bytes cover 32768 packets. */
    if (pb->hdr.pn_len < 2 && c->rec.packet_threshold > HO_QUIC_PACKET_THRESHOLD)
        pb->hdr.pn_len = 2;
    if (!c->is_server && space == HO_QUIC_PN_SPACE_INITIAL) {
        /* RFC 9000 §17.2.5.2: every Initial after a Retry carries its token. */
        pb->hdr.token = c->retry_token;
        pb->hdr.token_len = c->retry_token_len;
    }
    size_t mark = c->pkt.len;
    if (ho_quic_header_write(&c->pkt, &pb->hdr, &pb->start) != HO_OK) {
        c->pkt.len = mark;
        c->pkt.failed = false;
        return false;
    }
    if (pb->hdr.type != HO_QUIC_PKT_1RTT && c->version != pb->hdr.version) {
        /* Client before Version Negotiation (client.c): the version field
         * (not header-protected, authenticated as AAD by the seal) says
         * what the configuration chose; the packet is v1 otherwise. */
        uint8_t *v = c->pkt.data + pb->start + 1;
        v[0] = (uint8_t)(c->version >> 24);
        v[1] = (uint8_t)(c->version >> 16);
        v[2] = (uint8_t)(c->version >> 8);
        v[3] = (uint8_t)c->version;
    }
    if (c->pkt.len + AEAD_TAG + 8 > dgram_limit) {
        c->pkt.len = mark;
        return false;
    }
    pb->end_limit = dgram_limit - AEAD_TAG;
    pb->payload_start = c->pkt.len;
    pb->rec = record_alloc(c);
    if (pb->rec == NULL) {
        c->pkt.len = mark;
        return false;
    }
    return true;
}

static void packet_abort(packet_builder *pb)
{
    pb->c->pkt.len = pb->start;
    record_release(pb->c, pb->rec);
}

/* Seals the packet and tells recovery. */
static int packet_finish(packet_builder *pb, size_t min_len, ho_quic_time now)
{
    ho_quic_conn *c = pb->c;
    ho_quic_space *s = &c->spaces[pb->space];
    /* The frames are read back for the event before the seal encrypts
     * them (qevent.c); sealing pads the packet to min_len. */
    ho_event *ev = NULL;
    ho_event ev_buf;
    if (QUIC_EV(HO_EV_QUIC_PACKET_SENT)) {
        ev = &ev_buf;
        quic_ev_packet_sent_begin(c, ev, &pb->hdr, c->pkt.data + pb->payload_start, c->pkt.len - pb->payload_start);
    }
    bool zero_rtt = pb->hdr.type == HO_QUIC_PKT_0RTT;
    int rc = ho_quic_packet_seal(&c->pkt, pb->start, &pb->hdr, zero_rtt ? &c->early.tx : &s->tx, min_len);
    if (rc != HO_OK) {
        packet_abort(pb);
        return rc;
    }
    size_t bytes = c->pkt.len - pb->start;
    if (ev != NULL)
        quic_ev_packet_sent_end(ev, bytes, pb->payload_start - pb->start + AEAD_TAG);
    ho_quic_sent_packet sp = {
        .pn = pb->hdr.pn,
        .frames = (uintptr_t)pb->rec,
        .bytes = (uint32_t)bytes,
        .flags = (uint8_t)((pb->eliciting ? HO_QUIC_SENT_ACK_ELICITING : 0) |
                           (pb->in_flight || pb->eliciting ? HO_QUIC_SENT_IN_FLIGHT : 0)),
    };
    if (min_len > 0)
        sp.flags |= HO_QUIC_SENT_IN_FLIGHT; /* padding counts in flight (RFC 9002 §2) */
    if (pb->pmtu_probe)
        sp.flags |= HO_QUIC_SENT_PMTU_PROBE;
    if (zero_rtt) {
        sp.flags |= HO_QUIC_SENT_ZERO_RTT; /* forgotten if 0-RTT is rejected (RFC 9002 §6.4) */
        c->stats.zero_rtt_sent++;
    }
    ho_quic_ecn_on_packet_sent(c, pb->space, &sp);
    if (ho_quic_recovery_on_packet_sent(&c->rec, pb->space, &sp, now) != HO_OK) {
        /* Untracked, its frames would never be retransmitted and its ACK
         * would look like one for a packet never sent: out of memory is a
         * connection error (INTERNAL_ERROR, RFC 9000 §20.1). */
        record_release(c, pb->rec);
        ho_quic_conn_fail(c, HO_ERR_NOMEM, 0, now);
    }
    s->next_pn++;
    c->stats.packets_sent++;
    if (pb->eliciting) {
        if (s->probes > 0)
            s->probes--;
        /* RFC 9000 §10.1: restart the idle timer when sending the first
         * ack-eliciting packet since the last one received. */
        if (!c->eliciting_sent_since_rx) {
            c->eliciting_sent_since_rx = true;
            ho_quic_conn_restart_idle(c, now);
        }
    }
    if (sp.flags & HO_QUIC_SENT_IN_FLIGHT)
        ho_quic_pacer_on_packet_sent(&c->pacer, &c->cc, &c->rec.rtt, bytes, now);
    if (!c->is_server && pb->space == HO_QUIC_PN_SPACE_HANDSHAKE)
        c->handshake_pkt_sent = true;
    return HO_OK;
}

static bool space_wants_data(ho_quic_conn *c, ho_quic_pn_space space)
{
    ho_quic_space *s = &c->spaces[space];
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *data;
    if (ho_quic_sendbuf_peek(&s->crypto_tx, UINT64_MAX, 1, &off, &len, &fin, &data) && len > 0)
        return true;
    if (space != HO_QUIC_PN_SPACE_APPLICATION)
        return false;
    ho_quic_frame f;
    if (c->handshake_done_pending || (c->new_token_pending && c->hs_done) || c->max_data_pending || c->max_streams_pending[0] || c->max_streams_pending[1] ||
        c->path_response_pending || c->pv.challenge_pending || ho_quic_cid_next_frame(c, &f) ||
        (c->dgq_head != NULL && c->hs_done))
        return true;
    for (size_t i = 0; i < c->nstreams; i++) {
        ho_quic_stream *st = c->streams[i];
        if (st->msd_pending || st->reset_pending || st->stop_pending || stream_has_data(c, st))
            return true;
    }
    return false;
}

/* One datagram of at most `limit` bytes at c->pkt; returns its length. */
static size_t build_datagram(ho_quic_conn *c, size_t limit, ho_quic_time now)
{
    c->pkt.len = 0;
    c->pkt.failed = false;
    bool closing = c->state == HO_QUIC_STATE_CLOSING;
    bool probing = false;
    for (int i = 0; i < HO_QUIC_PN_SPACE_COUNT; i++)
        probing |= c->spaces[i].probes > 0;
    bool cc_ok = probing || ho_quic_cc_can_send(&c->cc, limit);
    if (cc_ok && !probing) {
        ho_quic_time t = ho_quic_pacer_next_send_time(&c->pacer, &c->cc, &c->rec.rtt, limit, now);
        if (t > now) {
            cc_ok = false;
            c->pace_at = t;
        }
    }
    packet_builder pb, last;
    bool have_last = false, has_initial = false, sealed = false;
    size_t last_min = 0;
    for (int sp = 0; sp < HO_QUIC_PN_SPACE_COUNT; sp++) {
        ho_quic_pn_space space = (ho_quic_pn_space)sp;
        ho_quic_space *s = &c->spaces[sp];
        bool zero_rtt = space == HO_QUIC_PN_SPACE_APPLICATION && !s->has_tx && ho_quic_early_can_send(c);
        if ((!s->has_tx && !zero_rtt) || s->discarded)
            continue;
        /* A space sends when an ACK is due, data may go (window and
         * pacer), or a PTO asked for a probe. The server may send 0.5-RTT
         * data once it has 1-RTT write keys. */
        bool want;
        if (closing)
            want = c->close_send_pending;
        else {
            bool ack_due = s->ack_pending && s->ack_deadline <= now;
            bool data = cc_ok && space_wants_data(c, space);
            bool path = space == HO_QUIC_PN_SPACE_APPLICATION && (c->path_response_pending || c->pv.challenge_pending);
            want = ack_due || data || path || s->probes > 0;
        }
        if (!want)
            continue;
        if (have_last) {
            /* Coalesce only if another packet fits after the open one's tag;
             * else the open one stays last (and can take the padding). */
            if (c->pkt.len + AEAD_TAG + PACKET_MIN_ROOM > limit)
                break;
            if (packet_finish(&last, 0, now) != HO_OK)
                return 0;
            have_last = false;
            sealed = true;
        }
        if (!packet_begin(&pb, c, space, limit))
            break;
        if (closing) {
            write_close(&pb);
        } else {
            /* RFC 9000 §12.4: no ACK or PATH_RESPONSE in 0-RTT. */
            if (!zero_rtt)
                write_ack(&pb, now);
            if (space == HO_QUIC_PN_SPACE_APPLICATION && !zero_rtt)
                write_path_frames(&pb);
            if (cc_ok || s->probes > 0) {
                if (space == HO_QUIC_PN_SPACE_APPLICATION)
                    write_control(&pb);
                write_crypto(&pb);
                /* Datagrams before stream data: they are for what cannot wait. */
                if (space == HO_QUIC_PN_SPACE_APPLICATION && c->hs_done)
                    write_datagrams(&pb);
                if (space == HO_QUIC_PN_SPACE_APPLICATION)
                    write_streams(&pb);
            }
            if (s->probes > 0 && !pb.eliciting) {
                ho_quic_frame ping = {.type = HO_QUIC_FT_PING};
                write_frame(&pb, &ping, 1);
            }
        }
        if (!pb.has_frames) {
            packet_abort(&pb);
            continue;
        }
        if (space == HO_QUIC_PN_SPACE_INITIAL)
            has_initial = true;
        last = pb;
        have_last = true;
    }
    if (!have_last) {
        /* Only if packet_begin failed after sealing (allocation). */
        if (sealed && closing)
            c->close_send_pending = false;
        return sealed ? c->pkt.len : 0;
    }
    /* RFC 9000 §14.1: a client pads every datagram with an Initial packet
     * to 1200 bytes; a server pads those with ack-eliciting Initials. */
    if (has_initial && (!c->is_server || c->rec.spaces[0].ack_eliciting_in_flight > 0 || last.eliciting ||
                        last.space == HO_QUIC_PN_SPACE_INITIAL))
        last_min = HO_QUIC_MIN_DATAGRAM > last.start ? HO_QUIC_MIN_DATAGRAM - last.start : 0;
    if (c->pv.pad) {
        /* RFC 9000 §8.2.1: a datagram with PATH_CHALLENGE is at least 1200
         * bytes, unless the amplification limit forbids it. */
        c->pv.pad = false;
        size_t want = HO_QUIC_MIN_DATAGRAM > last.start ? HO_QUIC_MIN_DATAGRAM - last.start : 0;
        if (want > last_min)
            last_min = want;
    }
    if (last_min + last.start > limit)
        last_min = limit - last.start;
    if (packet_finish(&last, last_min, now) != HO_OK)
        return 0;
    if (closing)
        c->close_send_pending = false;
    return c->pkt.len;
}

/* RFC 9000 §14.3 / RFC 8899 §4.1: a DPLPMTUD probe, PING and PADDING to
 * exactly `size` bytes, alone in its datagram; ack-eliciting and in
 * flight, but its loss is no congestion signal (recovery.c). */
static size_t build_probe(ho_quic_conn *c, size_t size, ho_quic_time now)
{
    c->pkt.len = 0;
    c->pkt.failed = false;
    packet_builder pb;
    if (!packet_begin(&pb, c, HO_QUIC_PN_SPACE_APPLICATION, size))
        return 0;
    ho_quic_frame ping = {.type = HO_QUIC_FT_PING};
    if (!write_frame(&pb, &ping, 1)) {
        packet_abort(&pb);
        return 0;
    }
    pb.pmtu_probe = true;
    uint64_t pn = pb.hdr.pn;
    if (packet_finish(&pb, size, now) != HO_OK)
        return 0;
    ho_quic_pmtud_on_probe_sent(c, pn);
    return c->pkt.len;
}

/* The probe's own send call, when one is due and the window allows it. */
static size_t send_probe(ho_quic_conn *c, uint8_t *buf, size_t cap, size_t *segment_size, ho_quic_time now)
{
    size_t size = ho_quic_pmtud_probe_due(c);
    if (size == 0 || size > cap || c->state != HO_QUIC_STATE_ESTABLISHED ||
        !c->spaces[HO_QUIC_PN_SPACE_APPLICATION].has_tx || !ho_quic_cc_can_send(&c->cc, size))
        return 0;
    size_t n = build_probe(c, size, now);
    if (n == 0)
        return 0;
    memcpy(buf, c->pkt.data, n);
    *segment_size = n;
    c->stats.datagrams_sent++;
    c->stats.bytes_sent += n;
    return n;
}

size_t ho_quic_conn_build_frames(ho_quic_conn *c, const ho_quic_frame *frames, size_t n, size_t limit,
                                 size_t pad_to, ho_quic_time now)
{
    c->pkt.len = 0;
    c->pkt.failed = false;
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    packet_builder pb;
    if (!s->has_tx || s->discarded || !packet_begin(&pb, c, HO_QUIC_PN_SPACE_APPLICATION, limit))
        return 0;
    for (size_t i = 0; i < n; i++)
        write_frame(&pb, &frames[i], 1);
    if (!pb.has_frames) {
        packet_abort(&pb);
        return 0;
    }
    size_t min = pad_to > pb.start ? pad_to - pb.start : 0;
    if (min + pb.start > limit)
        min = limit - pb.start;
    if (packet_finish(&pb, min, now) != HO_OK)
        return 0;
    return c->pkt.len;
}

size_t ho_quic_conn_send(ho_quic_conn *c, uint8_t *buf, size_t cap, size_t *segment_size, ho_quic_time now)
{
    c->now = now;
    c->pace_at = HO_QUIC_TIME_NEVER;
    /* DPLPMTUD: the validated size, unless the caller's buffer is smaller. */
    size_t mds = c->pmtud.current <= cap ? c->pmtud.current : c->cfg.max_datagram_size;
    *segment_size = mds;
    c->send_path = &c->path;
    if (c->state == HO_QUIC_STATE_CLOSED || c->state == HO_QUIC_STATE_DRAINING)
        return 0;
    int kprc = ho_quic_key_phase_before_send(c);
    if (kprc != HO_OK)
        ho_quic_conn_fail(c, kprc, 0, now);
    ho_quic_ecn_begin_send(c, now);
    if (c->side.response_pending && c->state < HO_QUIC_STATE_CLOSING) {
        /* RFC 9000 §8.2.2: a PATH_RESPONSE to a probing address goes
         * alone, to that address (path.c). */
        size_t n = ho_quic_path_build_side(c, now);
        if (n > 0 && n <= cap) {
            memcpy(buf, c->pkt.data, n);
            *segment_size = n;
            c->send_path = &c->side.addr;
            c->stats.datagrams_sent++;
            c->stats.bytes_sent += n;
            return n;
        }
    }
    size_t probe = send_probe(c, buf, cap, segment_size, now);
    if (probe > 0)
        return probe;
    size_t total = 0, count = 0;
    while (cap - total >= mds) {
        size_t limit = mds;
        if (c->is_server && !c->address_validated) {
            /* RFC 9000 §8.1: at most three times the bytes received. */
            uint64_t allowance = 3 * c->amp_received > c->amp_sent ? 3 * c->amp_received - c->amp_sent : 0;
            if (allowance < limit && c->pv.active && allowance >= 64 && count == 0) {
                /* §8.2.1: on a new path the challenge may go in a smaller
                 * datagram rather than wait for the limit to grow. */
                limit = (size_t)allowance;
            } else if (allowance < limit) {
                ho_quic_recovery_set_amplification_limited(&c->rec, true, now);
                break;
            }
        }
        /* The datagram is built and sealed in place in the caller's buffer
         * (no copy): c->pkt borrows it for this one datagram. */
        ho_buf own = c->pkt;
        ho_buf_wrap(&c->pkt, buf + total, cap - total);
        size_t n = build_datagram(c, limit, now);
        c->pkt = own;
        if (n == 0)
            break;
        total += n;
        count++;
        c->amp_sent += n;
        c->stats.datagrams_sent++;
        c->stats.bytes_sent += n;
        if (!c->is_server && c->handshake_pkt_sent && !c->spaces[HO_QUIC_PN_SPACE_INITIAL].discarded) {
            /* RFC 9001 §4.9.1: a client discards Initial keys when it first
             * sends a Handshake packet. */
            ho_quic_conn_discard_space(c, HO_QUIC_PN_SPACE_INITIAL, now);
        }
        if (n < mds) {
            if (count == 1)
                *segment_size = n;
            break; /* GSO: only the last datagram may be shorter */
        }
        if (ho_quic_ecn_batch_must_end(c))
            break; /* the next datagram is marked differently */
    }
    /* RFC 9002 §7.8: app-limited when the window was not the constraint. */
    bool pending = false;
    for (int sp = 0; sp < HO_QUIC_PN_SPACE_COUNT && !pending; sp++)
        pending = (c->spaces[sp].has_tx || (sp == HO_QUIC_PN_SPACE_APPLICATION && ho_quic_early_can_send(c))) &&
                  !c->spaces[sp].discarded && space_wants_data(c, (ho_quic_pn_space)sp);
    ho_quic_cc_set_app_limited(&c->cc, !pending && c->cc.bytes_in_flight < c->cc.cwnd, now);
    if (!pending)
        c->pace_at = HO_QUIC_TIME_NEVER;
    /* At rest: nothing went out, nothing is in flight (and, checked by the
     * trim, the handshake is done, so no step is out on a worker). An
     * idle connection then holds only its state (issue 12: memory per idle
     * connection); a busy one never gets here. */
    if (total == 0 && !pending && c->cc.bytes_in_flight == 0)
        ho_quic_conn_trim(c);
    return total;
}
