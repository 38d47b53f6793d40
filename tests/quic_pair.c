/* quic_pair: see quic_pair.h. */
#include "quic_pair.h"

#include <stdlib.h>
#include <string.h>

#include "quic/conn_int.h"

void quic_pair_init(quic_pair *p, const ho_quic_callbacks *cb, ho_tls_config *server_tls, ho_tls_config *client_tls,
                    unsigned loss_pct, uint64_t seed)
{
    memset(p, 0, sizeof(*p));
    p->rng = seed;
    p->loss_pct = loss_pct;
    p->delay = HO_QUIC_MS(10);
    p->now = HO_QUIC_SEC(1000);
    p->ccfg = (ho_quic_config){.is_server = false, .tls = client_tls, .server_name = "localhost", .callbacks = *cb};
    p->scfg = (ho_quic_config){.is_server = true, .tls = server_tls, .callbacks = *cb};
}

bool quic_pair_start(quic_pair *p)
{
    p->conn[QP_CLIENT] = ho_quic_conn_new_client(&p->ccfg, NULL, p->now);
    return p->conn[QP_CLIENT] != NULL;
}

void quic_pair_free(quic_pair *p)
{
    ho_quic_conn_free(p->conn[QP_CLIENT]);
    ho_quic_conn_free(p->conn[QP_SERVER]);
    netsim_queue_free(&p->q);
}

uint64_t quic_pair_rand(quic_pair *p)
{
    p->rng ^= p->rng << 13;
    p->rng ^= p->rng >> 7;
    p->rng ^= p->rng << 17;
    return p->rng;
}

int quic_pair_side(const quic_pair *p, const ho_quic_conn *c) { return c == p->conn[QP_SERVER]; }

void quic_pair_enqueue(quic_pair *p, int to, const uint8_t *d, size_t len, bool lossy)
{
    if (len > QUIC_PAIR_MTU) {
        p->too_big++;
        return;
    }
    if (lossy && p->loss_pct && quic_pair_rand(p) % 100 < p->loss_pct) {
        p->dropped++;
        return;
    }
    ho_quic_time extra = p->jitter ? (ho_quic_time)(quic_pair_rand(p) % (uint64_t)p->jitter) : 0;
    netsim_pkt meta = {.at = p->now + p->delay + extra, .dir = to};
    netsim_queue_push(&p->q, &meta, d, len);
}

void quic_pair_flush(quic_pair *p, int side)
{
    static uint8_t buf[64 * 1500];
    ho_quic_conn *c = p->conn[side];
    if (c == NULL)
        return;
    for (;;) {
        size_t seg;
        ho_quic_conn_stats before, st;
        ho_quic_conn_get_stats(c, &before);
        size_t n = ho_quic_conn_send(c, buf, sizeof(buf), &seg, p->now);
        if (n == 0)
            break;
        /* RFC 9002 §7: the window bounds bytes in flight; only PTO probes
         * (two packets, §7.5) and one packet at the start of recovery (B.6)
         * may go beyond it. */
        ho_quic_conn_get_stats(c, &st);
        uint64_t mds = st.max_datagram_size; /* DPLPMTUD may have raised it */
        if (st.bytes_in_flight > st.cwnd + mds && st.bytes_in_flight > before.bytes_in_flight + 2 * mds)
            p->cwnd_violations++;
        for (size_t off = 0; off < n; off += seg) {
            size_t len = n - off < seg ? n - off : seg;
            /* RFC 9000 §14.1: a client's datagram with an Initial (it
             * always comes first) is at least 1200 bytes. */
            if (side == QP_CLIENT && (buf[off] & 0xb0) == 0x80 && len < 1200)
                p->short_initials++;
            quic_pair_enqueue(p, !side, buf + off, len, true);
        }
    }
}

void quic_pair_deliver(quic_pair *p, const netsim_pkt *d)
{
    if (d->dir == QP_SERVER && p->conn[QP_SERVER] == NULL) {
        ho_quic_header h;
        if (ho_quic_header_parse(d->data, d->len, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
            return;
        p->conn[QP_SERVER] =
            ho_quic_conn_new_server(&p->scfg, h.dcid.data, h.dcid.len, h.scid.data, h.scid.len, NULL, p->now);
        if (p->conn[QP_SERVER] == NULL)
            return;
        if (p->on_server != NULL)
            p->on_server(p);
    }
    ho_quic_conn_receive(p->conn[d->dir], d->data, d->len, NULL, p->now);
}

void quic_pair_deliver_first(quic_pair *p)
{
    netsim_pkt d;
    ho_quic_time at = netsim_queue_next(&p->q);
    if (at == HO_QUIC_TIME_NEVER)
        return;
    if (at > p->now)
        p->now = at;
    if (netsim_queue_pop_due(&p->q, p->now, &d)) {
        quic_pair_deliver(p, &d);
        free(d.data);
    }
    netsim_queue_clear(&p->q);
}

bool quic_pair_run(quic_pair *p, quic_pair_done_fn done, void *arg, ho_quic_time budget)
{
    ho_quic_time end = p->now + budget;
    while (p->now < end) {
        if (p->app != NULL)
            p->app(p);
        quic_pair_flush(p, QP_CLIENT);
        quic_pair_flush(p, QP_SERVER);
        if (done != NULL && done(p, arg))
            return true;
        ho_quic_time next = netsim_queue_next(&p->q);
        for (int k = 0; k < 2; k++)
            if (p->conn[k] != NULL && ho_quic_conn_next_timeout(p->conn[k]) < next)
                next = ho_quic_conn_next_timeout(p->conn[k]);
        if (next == HO_QUIC_TIME_NEVER)
            break;
        if (next > end) {
            p->now = end;
            break;
        }
        if (next > p->now)
            p->now = next;
        netsim_pkt d;
        while (netsim_queue_pop_due(&p->q, p->now, &d)) {
            quic_pair_deliver(p, &d);
            free(d.data);
        }
        for (int k = 0; k < 2; k++)
            if (p->conn[k] != NULL && ho_quic_conn_next_timeout(p->conn[k]) <= p->now)
                ho_quic_conn_handle_timeout(p->conn[k], p->now);
    }
    return done != NULL && done(p, arg);
}

bool quic_pair_hs_done(quic_pair *p, void *arg)
{
    (void)arg;
    return p->conn[QP_SERVER] != NULL && ho_quic_conn_handshake_confirmed(p->conn[QP_CLIENT]) &&
           ho_quic_conn_handshake_confirmed(p->conn[QP_SERVER]);
}

bool quic_pair_closed(quic_pair *p, void *arg)
{
    (void)arg;
    return ho_quic_conn_is_closed(p->conn[QP_CLIENT]) && ho_quic_conn_is_closed(p->conn[QP_SERVER]);
}
