/* A two-connection QUIC simulation on a virtual clock for the ECN and
 * DPLPMTUD tests: datagrams carry their ECN codepoint, and a per-test
 * network hook may drop them or rewrite the codepoint. One server stream
 * (`total` bytes to the client) checks that data still flows. */
#ifndef HO_TEST_QUIC_SIM_H
#define HO_TEST_QUIC_SIM_H

#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/conn_int.h"

#define SIM_ONE_WAY HO_QUIC_MS(10)
#define SIM_MAX_QUEUE 2048
#define SIM_MAX_DGRAM 4200

typedef struct sim_dgram {
    ho_quic_time at;
    int to; /* 0 client, 1 server */
    uint8_t ecn;
    size_t len;
    uint8_t data[SIM_MAX_DGRAM];
} sim_dgram;

typedef struct sim sim;
/* The network: may rewrite *ecn; returns false to drop the datagram. */
typedef bool (*sim_net_fn)(sim *s, int to, size_t len, uint8_t *ecn);

struct sim {
    ho_quic_config ccfg, scfg;
    ho_quic_conn *conn[2];
    ho_quic_time now;
    sim_dgram *q;
    size_t qn;
    sim_net_fn net;
    void *net_ctx;
    /* one server -> client stream */
    uint64_t stream;
    bool stream_open;
    size_t total, written, received;
    bool fin_received;
    /* what each side sent: datagrams marked ECT(0), sizes seen */
    uint64_t marked[2], unmarked[2];
    size_t max_size[2];
    uint64_t too_big; /* dropped by the simulator (over SIM_MAX_DGRAM) */
};

static ho_tls_config *sim_server_tls, *sim_client_tls;

static void sim_make_tls(void)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 30, &key, &chain) != HO_OK)
        abort();
    sim_server_tls = ho_tls_config_new(true);
    ho_tls_config_add_cert(sim_server_tls, &chain, key);
    const char *alpn[] = {"hq-test"};
    ho_tls_config_set_alpn(sim_server_tls, alpn, 1);
    ho_quic_tls_config_prepare(sim_server_tls);
    sim_client_tls = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(sim_client_tls, false);
    ho_tls_config_set_alpn(sim_client_tls, alpn, 1);
    ho_quic_tls_config_prepare(sim_client_tls);
}

static void sim_free_tls(void)
{
    ho_tls_config_free(sim_server_tls);
    ho_tls_config_free(sim_client_tls);
}

static void sim_init(sim *s)
{
    memset(s, 0, sizeof(*s));
    s->q = calloc(SIM_MAX_QUEUE, sizeof(sim_dgram));
    s->now = HO_QUIC_SEC(1000);
    s->ccfg = (ho_quic_config){.is_server = false, .tls = sim_client_tls, .server_name = "localhost"};
    s->scfg = (ho_quic_config){.is_server = true, .tls = sim_server_tls};
}

static void sim_start(sim *s) { s->conn[0] = ho_quic_conn_new_client(&s->ccfg, NULL, s->now); }

static void sim_free(sim *s)
{
    ho_quic_conn_free(s->conn[0]);
    ho_quic_conn_free(s->conn[1]);
    free(s->q);
}

static void sim_flush(sim *s, int side)
{
    static uint8_t buf[16 * SIM_MAX_DGRAM];
    ho_quic_conn *c = s->conn[side];
    if (c == NULL)
        return;
    for (;;) {
        size_t seg;
        size_t n = ho_quic_conn_send(c, buf, sizeof(buf), &seg, s->now);
        if (n == 0)
            break;
        uint8_t mark = ho_quic_conn_ecn_codepoint(c);
        for (size_t off = 0; off < n; off += seg) {
            size_t len = n - off < seg ? n - off : seg;
            if (mark == HO_QUIC_ECN_ECT0)
                s->marked[side]++;
            else
                s->unmarked[side]++;
            if (len > s->max_size[side])
                s->max_size[side] = len;
            uint8_t ecn = mark;
            if (s->net != NULL && !s->net(s, !side, len, &ecn))
                continue;
            if (len > SIM_MAX_DGRAM || s->qn == SIM_MAX_QUEUE) {
                s->too_big++;
                continue;
            }
            sim_dgram *d = &s->q[s->qn++];
            d->at = s->now + SIM_ONE_WAY;
            d->to = !side;
            d->ecn = ecn;
            d->len = len;
            memcpy(d->data, buf + off, len);
        }
    }
}

static void sim_deliver(sim *s, const sim_dgram *d)
{
    if (d->to == 1 && s->conn[1] == NULL) {
        ho_quic_header h;
        if (ho_quic_header_parse(d->data, d->len, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
            return;
        s->conn[1] = ho_quic_conn_new_server(&s->scfg, h.dcid.data, h.dcid.len, h.scid.data, h.scid.len, NULL,
                                             s->now);
        if (s->conn[1] == NULL)
            return;
    }
    ho_quic_path path = {.ecn = d->ecn};
    ho_quic_conn_receive(s->conn[d->to], d->data, d->len, &path, s->now);
}

static uint8_t sim_pattern(size_t i) { return (uint8_t)(i * 7 + (i >> 8)); }

static void sim_app(sim *s)
{
    static uint8_t buf[65536];
    ho_quic_conn *srv = s->conn[1], *cli = s->conn[0];
    if (srv == NULL || s->total == 0 || !ho_quic_conn_handshake_done(srv))
        return;
    if (!s->stream_open) {
        if (ho_quic_stream_open(srv, false, &s->stream) != HO_OK)
            return;
        s->stream_open = true;
    }
    while (s->written < s->total) {
        size_t n = s->total - s->written, w = 0;
        if (n > sizeof(buf))
            n = sizeof(buf);
        for (size_t k = 0; k < n; k++)
            buf[k] = sim_pattern(s->written + k);
        ho_quic_stream_write(srv, s->stream, buf, n, s->written + n == s->total, &w);
        s->written += w;
        if (w < n)
            break;
    }
    for (;;) {
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(cli, s->stream, buf, sizeof(buf), &n, &fin) != HO_OK)
            break;
        for (size_t k = 0; k < n; k++)
            if (buf[k] != sim_pattern(s->received + k))
                s->total = 0; /* corrupt: never finishes */
        s->received += n;
        if (fin)
            s->fin_received = true;
        if (fin || n == 0)
            break;
    }
}

typedef bool (*sim_done_fn)(sim *s);

/* Runs until done(s) (NULL: quiescence) or `limit` of virtual time. */
static bool sim_run(sim *s, sim_done_fn done, ho_quic_time limit)
{
    ho_quic_time end = s->now + limit;
    while (s->now < end) {
        sim_app(s);
        sim_flush(s, 0);
        sim_flush(s, 1);
        if (done != NULL && done(s))
            return true;
        ho_quic_time next = HO_QUIC_TIME_NEVER;
        for (size_t i = 0; i < s->qn; i++)
            if (s->q[i].at < next)
                next = s->q[i].at;
        for (int k = 0; k < 2; k++)
            if (s->conn[k] != NULL && ho_quic_conn_next_timeout(s->conn[k]) < next)
                next = ho_quic_conn_next_timeout(s->conn[k]);
        if (next == HO_QUIC_TIME_NEVER)
            return done == NULL || done(s);
        if (next > end) {
            s->now = end;
            break;
        }
        if (next > s->now)
            s->now = next;
        size_t w = 0;
        for (size_t i = 0; i < s->qn; i++) {
            if (s->q[i].at <= s->now)
                sim_deliver(s, &s->q[i]);
            else
                s->q[w++] = s->q[i];
        }
        s->qn = w;
        for (int k = 0; k < 2; k++)
            if (s->conn[k] != NULL && ho_quic_conn_next_timeout(s->conn[k]) <= s->now)
                ho_quic_conn_handle_timeout(s->conn[k], s->now);
    }
    return done != NULL && done(s);
}

static bool sim_confirmed(sim *s)
{
    return s->conn[1] != NULL && ho_quic_conn_handshake_confirmed(s->conn[0]) &&
           ho_quic_conn_handshake_confirmed(s->conn[1]);
}

static bool sim_stream_done(sim *s) { return s->fin_received && s->received == s->total; }

#endif
