/* Streams (RFC 9000 §2-§3), flow control (§4) and stream limits (§4.6):
 * the application calls and the handlers of STREAM, RESET_STREAM,
 * STOP_SENDING and MAX_STREAM_DATA. Stream lookup is a linear scan of the
 * open streams (fine for the tens of streams an HTTP/3 connection keeps). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

ho_quic_stream *ho_quic_stream_find(ho_quic_conn *c, uint64_t id)
{
    for (size_t i = 0; i < c->nstreams; i++)
        if (c->streams[i]->id == id)
            return c->streams[i];
    return NULL;
}

static uint64_t peer_initial_max_stream_data(const ho_quic_conn *c, uint64_t id)
{
    const ho_quic_tparams *p = &c->tpx.peer;
    if (ho_quic_stream_is_uni(id))
        return p->initial_max_stream_data_uni;
    /* §18.2: bidi_local applies to streams the peer opened, bidi_remote to ours. */
    return ho_quic_stream_is_local(c, id) ? p->initial_max_stream_data_bidi_remote
                                          : p->initial_max_stream_data_bidi_local;
}

static ho_quic_stream *stream_new(ho_quic_conn *c, uint64_t id)
{
    if (c->nstreams == c->cap_streams) {
        size_t cap = c->cap_streams ? c->cap_streams * 2 : 16;
        ho_quic_stream **v = ho_mem_realloc(c->streams, cap * sizeof(*v));
        if (v == NULL)
            return NULL;
        c->streams = v;
        c->cap_streams = cap;
    }
    ho_quic_stream *s = ho_mem_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->id = id;
    bool local = ho_quic_stream_is_local(c, id), uni = ho_quic_stream_is_uni(id);
    s->has_send = !uni || local;
    s->has_recv = !uni || !local;
    s->tx_max = peer_initial_max_stream_data(c, id);
    s->rx_max = s->rx_window = c->cfg.initial_max_stream_data;
    c->streams[c->nstreams++] = s;
    return s;
}

static void stream_destroy(ho_quic_stream *s)
{
    ho_quic_sendbuf_free(&s->tx);
    ho_quic_recvbuf_free(&s->rx);
    ho_mem_free(s);
}

void ho_quic_streams_free(ho_quic_conn *c)
{
    for (size_t i = 0; i < c->nstreams; i++)
        stream_destroy(c->streams[i]);
    ho_mem_free(c->streams);
    c->streams = NULL;
    c->nstreams = c->cap_streams = 0;
}

void ho_quic_streams_trim(ho_quic_conn *c)
{
    for (size_t i = 0; i < c->nstreams; i++) {
        ho_quic_sendbuf_trim(&c->streams[i]->tx);
        ho_quic_recvbuf_trim(&c->streams[i]->rx);
    }
}

/* Frees a stream whose both sides are finished; a peer stream's slot goes
 * back to the peer with MAX_STREAMS (§4.6). */
void ho_quic_stream_maybe_free(ho_quic_conn *c, ho_quic_stream *s)
{
    bool send_done = !s->has_send || ho_quic_sendbuf_done(&s->tx) || s->reset_acked;
    bool recv_done = !s->has_recv || s->fin_read || s->reset_received;
    if (!send_done || !recv_done || s->msd_pending || s->stop_pending || s->reset_pending)
        return;
    for (size_t i = 0; i < c->nstreams; i++) {
        if (c->streams[i] != s)
            continue;
        c->streams[i] = c->streams[--c->nstreams];
        break;
    }
    if (!ho_quic_stream_is_local(c, s->id)) {
        int uni = ho_quic_stream_is_uni(s->id);
        c->closed_peer[uni]++;
        /* Raise the limit once a few slots are free (or half the window). */
        uint64_t window = uni ? c->cfg.initial_max_streams_uni : c->cfg.initial_max_streams_bidi;
        uint64_t target = c->closed_peer[uni] + window;
        if (target > c->local_max_streams[uni] && target - c->local_max_streams[uni] >= (window + 1) / 2) {
            c->local_max_streams[uni] = target;
            c->max_streams_pending[uni] = true;
        }
    }
    stream_destroy(s);
}

int ho_quic_stream_for_frame(ho_quic_conn *c, uint64_t id, bool sending_frame, ho_quic_stream **out)
{
    *out = NULL;
    bool local = ho_quic_stream_is_local(c, id), uni = ho_quic_stream_is_uni(id);
    /* sending_frame: the frame is about the peer's sending part (STREAM,
     * RESET_STREAM, STREAM_DATA_BLOCKED); otherwise about ours (MAX_STREAM_DATA,
     * STOP_SENDING). §19.8, §19.4, §19.13: data on our send-only stream;
     * §19.10, §19.5: credit for the peer's send-only stream. */
    if (uni && local && sending_frame)
        return HO_ERR_QUIC(HO_QUIC_STREAM_STATE_ERROR);
    if (uni && !local && !sending_frame)
        return HO_ERR_QUIC(HO_QUIC_STREAM_STATE_ERROR);
    uint64_t seq = id >> 2;
    if (local) {
        /* §19.8 etc.: a frame for a local stream not yet opened. */
        if (seq >= c->opened_local[uni])
            return HO_ERR_QUIC(HO_QUIC_STREAM_STATE_ERROR);
        *out = ho_quic_stream_find(c, id);
        return HO_OK;
    }
    /* §4.6: a stream id beyond our limit is STREAM_LIMIT_ERROR. */
    if (seq >= c->local_max_streams[uni])
        return HO_ERR_QUIC(HO_QUIC_STREAM_LIMIT_ERROR);
    if (seq < c->opened_peer[uni]) {
        *out = ho_quic_stream_find(c, id);
        return HO_OK;
    }
    /* §3.2: opening a stream opens the lower-numbered ones of its type. */
    for (uint64_t n = c->opened_peer[uni]; n <= seq; n++) {
        uint64_t sid = (n << 2) | (id & 3);
        ho_quic_stream *s = stream_new(c, sid);
        if (s == NULL)
            return HO_ERR_NOMEM;
        c->opened_peer[uni] = n + 1;
        if (c->cfg.callbacks.stream_opened != NULL)
            c->cfg.callbacks.stream_opened(c->cfg.callbacks.ctx, c, sid);
        *out = s;
    }
    *out = ho_quic_stream_find(c, id);
    return HO_OK;
}

/* ---- frames in ----------------------------------------------------------- */

/* Connection-level accounting of a new highest offset on a stream. */
static int account_rx(ho_quic_conn *c, ho_quic_stream *s, uint64_t end)
{
    if (end <= s->rx.highest)
        return HO_OK;
    uint64_t more = end - s->rx.highest;
    /* §4.1: beyond the connection limit we advertised: FLOW_CONTROL_ERROR. */
    if (c->rx_data_highest + more > c->rx_max_data)
        return HO_ERR_QUIC(HO_QUIC_FLOW_CONTROL_ERROR);
    c->rx_data_highest += more;
    return HO_OK;
}

int ho_quic_stream_on_frame(ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now)
{
    (void)now;
    ho_quic_stream *s;
    int rc = ho_quic_stream_for_frame(c, f->stream.stream_id, true, &s);
    if (rc != HO_OK || s == NULL)
        return rc;
    uint64_t end = f->stream.offset + f->stream.len;
    if (s->reset_received)
        return HO_OK;
    /* §4.1: data beyond the stream's limit is FLOW_CONTROL_ERROR. */
    if (end > s->rx_max)
        return HO_ERR_QUIC(HO_QUIC_FLOW_CONTROL_ERROR);
    /* §4.5: a final size that changes, or data beyond it, is FINAL_SIZE_ERROR. */
    if (s->fin_received && (end > s->final_size || (f->stream.fin && end != s->final_size)))
        return HO_ERR_QUIC(HO_QUIC_FINAL_SIZE_ERROR);
    if (f->stream.fin && !s->fin_received && end < s->rx.highest)
        return HO_ERR_QUIC(HO_QUIC_FINAL_SIZE_ERROR);
    if ((rc = account_rx(c, s, end)) != HO_OK)
        return rc;
    if (f->stream.fin) {
        s->fin_received = true;
        s->final_size = end;
    }
    if (s->fin_read)
        return HO_OK;
    size_t before = ho_quic_recvbuf_readable(&s->rx);
    if ((rc = ho_quic_recvbuf_insert(&s->rx, f->stream.offset, f->stream.data, f->stream.len)) != HO_OK)
        return rc;
    size_t after = ho_quic_recvbuf_readable(&s->rx);
    bool fin_ready = s->fin_received && s->rx.read + after == s->final_size;
    if ((after > before || fin_ready) && c->cfg.callbacks.stream_readable != NULL)
        c->cfg.callbacks.stream_readable(c->cfg.callbacks.ctx, c, s->id);
    return HO_OK;
}

int ho_quic_stream_on_reset(ho_quic_conn *c, const ho_quic_frame *f)
{
    ho_quic_stream *s;
    int rc = ho_quic_stream_for_frame(c, f->reset_stream.stream_id, true, &s);
    if (rc != HO_OK || s == NULL)
        return rc;
    uint64_t fs = f->reset_stream.final_size;
    /* §4.5: the final size must agree with what was received. */
    if ((s->fin_received && fs != s->final_size) || fs < s->rx.highest)
        return HO_ERR_QUIC(HO_QUIC_FINAL_SIZE_ERROR);
    if (fs > s->rx_max)
        return HO_ERR_QUIC(HO_QUIC_FLOW_CONTROL_ERROR);
    if ((rc = account_rx(c, s, fs)) != HO_OK)
        return rc;
    s->rx.highest = fs;
    if (s->reset_received)
        return HO_OK;
    s->reset_received = true;
    s->fin_received = true;
    s->final_size = fs;
    /* The unread bytes count as consumed for connection flow control (§4.5). */
    c->rx_data_read += fs - s->rx.read;
    if (c->cfg.callbacks.stream_reset != NULL)
        c->cfg.callbacks.stream_reset(c->cfg.callbacks.ctx, c, s->id, f->reset_stream.error_code, false);
    ho_quic_stream_maybe_free(c, s);
    return HO_OK;
}

int ho_quic_stream_on_stop_sending(ho_quic_conn *c, const ho_quic_frame *f)
{
    ho_quic_stream *s;
    int rc = ho_quic_stream_for_frame(c, f->stop_sending.stream_id, false, &s);
    if (rc != HO_OK || s == NULL)
        return rc;
    /* §3.5: answer STOP_SENDING with RESET_STREAM (SHOULD: same code). */
    if (!s->reset_sent && !s->reset_pending && !ho_quic_sendbuf_done(&s->tx)) {
        s->reset_pending = true;
        s->reset_code = f->stop_sending.error_code;
    }
    if (c->cfg.callbacks.stream_reset != NULL)
        c->cfg.callbacks.stream_reset(c->cfg.callbacks.ctx, c, s->id, f->stop_sending.error_code, true);
    return HO_OK;
}

int ho_quic_stream_on_max_stream_data(ho_quic_conn *c, const ho_quic_frame *f)
{
    ho_quic_stream *s;
    int rc = ho_quic_stream_for_frame(c, f->max_stream_data.stream_id, false, &s);
    if (rc != HO_OK || s == NULL)
        return rc;
    if (f->max_stream_data.maximum > s->tx_max) {
        s->tx_max = f->max_stream_data.maximum;
        if (s->want_writable) {
            s->want_writable = false;
            if (c->cfg.callbacks.stream_writable != NULL)
                c->cfg.callbacks.stream_writable(c->cfg.callbacks.ctx, c, s->id);
        }
    }
    return HO_OK;
}

void ho_quic_stream_notify_writable(ho_quic_conn *c)
{
    for (size_t i = 0; i < c->nstreams; i++) {
        ho_quic_stream *s = c->streams[i];
        if (!s->want_writable)
            continue;
        if (s->tx.end - s->tx.base >= c->cfg.stream_send_buffer)
            continue;
        s->want_writable = false;
        if (c->cfg.callbacks.stream_writable != NULL)
            c->cfg.callbacks.stream_writable(c->cfg.callbacks.ctx, c, s->id);
    }
}

/* ---- the application side ------------------------------------------------- */

int ho_quic_stream_open(ho_quic_conn *c, bool bidi, uint64_t *id)
{
    quic_conn_wake(c);
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    int uni = !bidi;
    /* §4.6: never beyond the peer's MAX_STREAMS. Before its transport
     * parameters arrive the limit is 0. */
    if (c->opened_local[uni] >= c->peer_max_streams[uni])
        return HO_ERR_WOULD_BLOCK;
    uint64_t sid = (c->opened_local[uni] << 2) | (uint64_t)(uni ? 2 : 0) | (uint64_t)(c->is_server ? 1 : 0);
    ho_quic_stream *s = stream_new(c, sid);
    if (s == NULL)
        return HO_ERR_NOMEM;
    c->opened_local[uni]++;
    *id = sid;
    return HO_OK;
}

/* ho_quic_stream_write (ref == false) and ho_quic_stream_write_ref. */
static int stream_write(ho_quic_conn *c, uint64_t id, const void *data, size_t len, bool fin, bool ref,
                        ho_quic_release_fn release, void *ud, size_t *written)
{
    *written = 0;
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    ho_quic_stream *s = ho_quic_stream_find(c, id);
    if (s == NULL)
        return HO_ERR_NOT_FOUND;
    if (!s->has_send || s->tx.fin || s->reset_pending || s->reset_sent)
        return HO_ERR_INVALID_ARG;
    size_t held = (size_t)(s->tx.end - s->tx.base);
    size_t room = held < c->cfg.stream_send_buffer ? c->cfg.stream_send_buffer - held : 0;
    size_t n = len < room ? len : room;
    int rc = ref ? (n > 0 ? ho_quic_sendbuf_write_ref(&s->tx, data, n, release, ud) : HO_OK)
                 : ho_quic_sendbuf_write(&s->tx, data, n);
    if (rc != HO_OK)
        return rc;
    *written = n;
    if (n < len) {
        s->want_writable = true;
        return n == 0 ? HO_ERR_WOULD_BLOCK : HO_OK;
    }
    if (fin)
        s->tx.fin = true;
    return HO_OK;
}

int ho_quic_stream_write(ho_quic_conn *c, uint64_t id, const void *data, size_t len, bool fin, size_t *written)
{
    quic_conn_wake(c);
    return stream_write(c, id, data, len, fin, false, NULL, NULL, written);
}

int ho_quic_stream_write_ref(ho_quic_conn *c, uint64_t id, const void *data, size_t len, bool fin,
                             ho_quic_release_fn release, void *ud, size_t *written)
{
    quic_conn_wake(c);
    return stream_write(c, id, data, len, fin, true, release, ud, written);
}

int ho_quic_stream_read(ho_quic_conn *c, uint64_t id, void *buf, size_t cap, size_t *nread, bool *fin)
{
    quic_conn_wake(c);
    *nread = 0;
    *fin = false;
    ho_quic_stream *s = ho_quic_stream_find(c, id);
    if (s == NULL)
        return HO_ERR_NOT_FOUND;
    if (!s->has_recv)
        return HO_ERR_INVALID_ARG;
    if (s->reset_received)
        return HO_ERR_CLOSED;
    size_t n = ho_quic_recvbuf_read(&s->rx, buf, cap);
    *nread = n;
    c->rx_data_read += n;
    if (s->fin_received && s->rx.read == s->final_size) {
        *fin = true;
        s->fin_read = true;
        s->msd_pending = false;
    }
    /* §4.2: extend the credit once half the window was consumed. */
    if (!s->fin_received && s->rx_max - s->rx.read < s->rx_window / 2) {
        s->rx_max = s->rx.read + s->rx_window;
        s->msd_pending = true;
    }
    if (c->rx_max_data - c->rx_data_read < c->rx_data_window / 2) {
        c->rx_max_data = c->rx_data_read + c->rx_data_window;
        c->max_data_pending = true;
    }
    if (s->fin_read)
        ho_quic_stream_maybe_free(c, s);
    return HO_OK;
}

int ho_quic_stream_reset(ho_quic_conn *c, uint64_t id, uint64_t app_error)
{
    quic_conn_wake(c);
    ho_quic_stream *s = ho_quic_stream_find(c, id);
    if (s == NULL)
        return HO_ERR_NOT_FOUND;
    if (!s->has_send)
        return HO_ERR_INVALID_ARG;
    if (s->reset_pending || s->reset_sent)
        return HO_OK;
    s->reset_pending = true;
    s->reset_code = app_error;
    return HO_OK;
}

int ho_quic_stream_stop_sending(ho_quic_conn *c, uint64_t id, uint64_t app_error)
{
    quic_conn_wake(c);
    ho_quic_stream *s = ho_quic_stream_find(c, id);
    if (s == NULL)
        return HO_ERR_NOT_FOUND;
    if (!s->has_recv)
        return HO_ERR_INVALID_ARG;
    if (!s->stop_sent && !s->fin_received) {
        s->stop_pending = true;
        s->stop_code = app_error;
    }
    return HO_OK;
}

bool ho_quic_conn_send_settled(const ho_quic_conn *c)
{
    for (size_t i = 0; i < c->nstreams; i++) {
        const ho_quic_stream *s = c->streams[i];
        if (!s->has_send || s->reset_acked)
            continue;
        if (s->reset_pending || s->reset_sent)
            return false; /* RESET_STREAM not yet acknowledged */
        const ho_quic_sendbuf *tx = &s->tx;
        if (tx->base < tx->end || (tx->fin && !tx->fin_acked))
            return false;
    }
    return true;
}

void ho_quic_streams_requeue_for_probe(ho_quic_conn *c, uint64_t budget)
{
    /* A probe carrying data the peer may be missing repairs a tail loss at
     * once; a PING would only elicit an ACK, and the repair waits one more
     * round trip. Nothing is re-queued while some stream still has data
     * queued for retransmission. */
    for (size_t i = 0; i < c->nstreams; i++) {
        ho_quic_stream *st = c->streams[i];
        if (st->has_send && !st->reset_pending && !st->reset_sent && st->tx.retx.n > 0)
            return;
    }
    for (size_t i = 0; i < c->nstreams && budget > 0; i++) {
        ho_quic_stream *st = c->streams[i];
        if (!st->has_send || st->reset_pending || st->reset_sent || !ho_quic_sendbuf_has_unacked(&st->tx))
            continue;
        uint64_t n = ho_quic_sendbuf_requeue_oldest(&st->tx, budget);
        budget = n < budget ? budget - n : 0;
    }
}
