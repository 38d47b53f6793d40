/* test_quic_conn: an in-memory client and server (src/quic/conn*.c) over a
 * simulated link with a virtual clock, one-way delay and deterministic
 * random loss: the handshake, byte-exact 1 MB transfers both ways, 10
 * concurrent streams, uni streams, loss at 10% and 30%, misbehaving peers
 * (flow control, stream limit, forbidden frames), closing and idle timeout. */
#include <string.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/conn_int.h"
#include "netsim.h"

#include "quic_pair.h"

#define MAX_XFER 24

/* One stream transfer checked byte for byte: `tx` bytes go out on the
 * sending side, the receiving side checks and counts them. */
typedef struct xfer {
    bool used;
    int sender;        /* 0 client, 1 server */
    uint64_t id;
    bool opened;       /* receiver has seen it */
    size_t total, written, received;
    bool fin_written, fin_received, bad;
    uint8_t seed;
} xfer;

/* The connection pair (quic_pair.h) and what the tests' applications do on it. */
typedef struct sim {
    quic_pair p;
    int hs_done[2];
    int closed[2];
    int close_err[2];
    xfer x[MAX_XFER];
    bool echo;                 /* server answers each finished client stream with FIN */
    uint64_t accepted[256];
    size_t naccepted;
    uint64_t echoed;
    uint64_t resets_seen[2];
} sim;

static uint8_t pattern(uint8_t seed, size_t i) { return (uint8_t)(seed * 31 + i * 7 + (i >> 8)); }

static int side_of(sim *s, ho_quic_conn *c) { return quic_pair_side(&s->p, c); }

static void cb_hs(void *ctx, ho_quic_conn *c)
{
    sim *s = ctx;
    s->hs_done[side_of(s, c)]++;
}
static void cb_closed(void *ctx, ho_quic_conn *c, int err)
{
    sim *s = ctx;
    int i = side_of(s, c);
    s->closed[i]++;
    s->close_err[i] = err;
}

static void cb_opened(void *ctx, ho_quic_conn *c, uint64_t id)
{
    sim *s = ctx;
    if (side_of(s, c) == 1 && s->naccepted < 256)
        s->accepted[s->naccepted++] = id;
}
static void cb_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    (void)id, (void)code, (void)stop;
    sim *s = ctx;
    s->resets_seen[side_of(s, c)]++;
}

static ho_tls_config *server_tls, *client_tls;

static void make_tls(void) { quic_test_tls("hq-test", &server_tls, &client_tls); }

static void app(quic_pair *p);

static void sim_init(sim *s, unsigned loss_pct, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    ho_quic_callbacks cb = {.ctx = s, .handshake_done = cb_hs, .closed = cb_closed, .stream_opened = cb_opened,
                            .stream_reset = cb_reset};
    quic_pair_init(&s->p, &cb, server_tls, client_tls, loss_pct, seed);
    s->p.app = app;
    s->p.user = s;
}

static void sim_start(sim *s) { quic_pair_start(&s->p); }

static void sim_free(sim *s) { quic_pair_free(&s->p); }

static bool hs_done(sim *s);
static bool run(sim *s, bool (*done)(sim *s), ho_quic_time limit);

/* Starts the client and runs the handshake to confirmation (checked). */
static void sim_connect(sim *s)
{
    sim_start(s);
    CHECK(run(s, hs_done, HO_QUIC_SEC(10)));
}

/* sim_init and sim_connect. */
static void sim_up(sim *s, unsigned loss_pct, uint64_t seed)
{
    sim_init(s, loss_pct, seed);
    sim_connect(s);
}

/* The applications: write what fits, read what is there, check bytes. */
static void app(quic_pair *p)
{
    sim *s = p->user;
    static uint8_t buf[65536];
    for (size_t i = 0; s->echo && i < s->naccepted; i++) {
        /* Echo mode: read the client's stream to its end, then finish ours. */
        size_t n;
        bool fin = false;
        if (s->accepted[i] == UINT64_MAX)
            continue;
        while (ho_quic_stream_read(s->p.conn[1], s->accepted[i], buf, sizeof(buf), &n, &fin) == HO_OK && n > 0 && !fin)
            ;
        size_t w;
        if (fin && ho_quic_stream_write(s->p.conn[1], s->accepted[i], NULL, 0, true, &w) == HO_OK) {
            s->accepted[i] = UINT64_MAX;
            s->echoed++;
        }
    }
    for (int i = 0; i < MAX_XFER; i++) {
        xfer *x = &s->x[i];
        if (!x->used)
            continue;
        ho_quic_conn *tx = s->p.conn[x->sender], *rx = s->p.conn[!x->sender];
        if (tx == NULL || rx == NULL)
            continue;
        while (x->written < x->total) {
            size_t n = x->total - x->written, w = 0;
            if (n > sizeof(buf))
                n = sizeof(buf);
            for (size_t k = 0; k < n; k++)
                buf[k] = pattern(x->seed, x->written + k);
            ho_quic_stream_write(tx, x->id, buf, n, x->written + n == x->total, &w);
            x->written += w;
            if (w < n)
                break;
            if (x->written == x->total)
                x->fin_written = true;
        }
        if (x->fin_received)
            continue;
        for (;;) {
            size_t n = 0;
            bool fin = false;
            if (ho_quic_stream_read(rx, x->id, buf, sizeof(buf), &n, &fin) != HO_OK)
                break;
            for (size_t k = 0; k < n; k++)
                if (buf[k] != pattern(x->seed, x->received + k))
                    x->bad = true;
            x->received += n;
            if (fin) {
                x->fin_received = true;
                break;
            }
            if (n == 0)
                break;
        }
    }
}

typedef bool (*done_fn)(sim *s);

static bool call_done(quic_pair *p, void *arg) { return ((done_fn)arg)(p->user); }

/* Runs until done(s) or the virtual deadline; returns whether done. */
static bool run(sim *s, done_fn done, ho_quic_time limit)
{
    return quic_pair_run(&s->p, done != NULL ? call_done : NULL, (void *)done, limit);
}

static void flush(sim *s, int side) { quic_pair_flush(&s->p, side); }

static bool hs_done(sim *s) { return quic_pair_hs_done(&s->p, NULL); }

static bool xfers_done(sim *s)
{
    for (int i = 0; i < MAX_XFER; i++)
        if (s->x[i].used && !s->x[i].fin_received)
            return false;
    return true;
}

static bool both_closed(sim *s) { return quic_pair_closed(&s->p, NULL); }

static xfer *add_xfer(sim *s, int sender, bool bidi, size_t total, uint8_t seed)
{
    for (int i = 0; i < MAX_XFER; i++) {
        xfer *x = &s->x[i];
        if (x->used)
            continue;
        if (ho_quic_stream_open(s->p.conn[sender], bidi, &x->id) != HO_OK)
            return NULL;
        x->used = true;
        x->sender = sender;
        x->total = total;
        x->seed = seed;
        return x;
    }
    return NULL;
}

/* Transfers a and b arrived whole (`size` bytes each, byte-exact) and
 * neither side is closing. */
static void check_intact(sim *s, int a, int b, size_t size)
{
    CHECK(!s->x[a].bad && !s->x[b].bad);
    CHECK_EQ(s->x[a].received, size);
    CHECK_EQ(s->x[b].received, size);
    CHECK(!ho_quic_conn_is_closing(s->p.conn[0]) && !ho_quic_conn_is_closing(s->p.conn[1]));
}

/* ---- tests ---------------------------------------------------------------- */

static void test_handshake(void)
{
    sim s;
    sim_init(&s, 0, 1);
    sim_start(&s);
    CHECK(s.p.conn[0] != NULL);
    /* The client's first datagram: an Initial padded to 1200 (RFC 9000 §14.1). */
    uint8_t buf[4 * 1200];
    size_t seg;
    size_t n = ho_quic_conn_send(s.p.conn[0], buf, sizeof(buf), &seg, s.p.now);
    CHECK_EQ(n, 1200);
    CHECK_EQ(seg, 1200);
    quic_pair_enqueue(&s.p, 1, buf, n, false);
    /* The server may send at most 3x what it received before validation. */
    quic_pair_deliver_first(&s.p);
    CHECK(s.p.conn[1] != NULL);
    static uint8_t big[64 * 1200];
    size_t total = 0;
    for (;;) {
        size_t m = ho_quic_conn_send(s.p.conn[1], big, sizeof(big), &seg, s.p.now);
        if (m == 0)
            break;
        total += m;
        for (size_t off = 0; off < m; off += seg)
            quic_pair_enqueue(&s.p, 0, big + off, m - off < seg ? m - off : seg, false);
    }
    CHECK(total > 0);
    CHECK(total <= 3 * 1200); /* RFC 9000 §8.1 */
    CHECK(s.p.q.n > 0 && s.p.q.heap[0].len == 1200); /* §14.1: ack-eliciting server Initial padded */
    CHECK(run(&s, hs_done, HO_QUIC_SEC(10)));
    CHECK_EQ(s.hs_done[0], 1);
    CHECK_EQ(s.hs_done[1], 1);
    CHECK(ho_quic_conn_handshake_done(s.p.conn[0]) && ho_quic_conn_handshake_done(s.p.conn[1]));
    const char *alpn = ho_tls_get_alpn(ho_quic_conn_tls(s.p.conn[0]));
    CHECK(alpn != NULL && strcmp(alpn, "hq-test") == 0);
    /* RFC 9001 §4.9: Initial and Handshake keys are gone on both sides. */
    for (int k = 0; k < 2; k++) {
        CHECK(!ho_quic_conn_has_keys(s.p.conn[k], HO_EPOCH_INITIAL));
        CHECK(!ho_quic_conn_has_keys(s.p.conn[k], HO_EPOCH_HANDSHAKE));
        CHECK(ho_quic_conn_has_keys(s.p.conn[k], HO_EPOCH_APP));
    }
    /* Peer transport parameters: the CIDs were validated (§7.3) and the
     * client switched to the server's SCID. */
    CHECK(ho_quic_cid_eq(&s.p.conn[0]->dcid, &s.p.conn[1]->scid));
    CHECK(ho_quic_cid_eq(&s.p.conn[1]->dcid, &s.p.conn[0]->scid));
    /* Quiet afterwards: no timers but idle (and ACK/PTO settle). */
    run(&s, NULL, HO_QUIC_SEC(1));
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    /* Application close: the server drains, the client closes after 3 PTO. */
    CHECK_EQ(ho_quic_conn_close(s.p.conn[0], 0x42, "bye", s.p.now), HO_OK);
    CHECK(run(&s, both_closed, HO_QUIC_SEC(10)));
    bool is_app, by_peer;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[1], &is_app, &by_peer), 0x42);
    CHECK(is_app && by_peer);
    CHECK_EQ(ho_quic_conn_error(s.p.conn[1]), HO_ERR_CLOSED);
    CHECK_EQ(s.closed[0], 1);
    CHECK_EQ(s.closed[1], 1);
    sim_free(&s);
}

static void transfer_case_j(unsigned loss, ho_quic_time jitter, uint64_t seed, int nstreams, size_t size_each,
                            const char *what)
{
    sim s;
    sim_init(&s, loss, seed);
    s.p.jitter = jitter;
    sim_start(&s);
    bool ok = run(&s, hs_done, HO_QUIC_SEC(60));
    CHECK(ok);
    if (!ok) {
        fprintf(stderr, "%s: handshake did not complete\n", what);
        sim_free(&s);
        return;
    }
    for (int i = 0; i < nstreams; i++) {
        CHECK(add_xfer(&s, 0, true, size_each, (uint8_t)(i + 1)) != NULL);
        CHECK(add_xfer(&s, 1, true, size_each, (uint8_t)(i + 101)) != NULL);
    }
    ho_quic_time t0 = s.p.now;
    ok = run(&s, xfers_done, HO_QUIC_SEC(600));
    CHECK(ok);
    size_t bad = 0, incomplete = 0;
    for (int i = 0; i < MAX_XFER; i++) {
        if (!s.x[i].used)
            continue;
        bad += s.x[i].bad;
        incomplete += s.x[i].received != s.x[i].total;
    }
    CHECK_EQ(bad, 0);
    CHECK_EQ(incomplete, 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    CHECK_EQ(s.p.cwnd_violations, 0);
    CHECK_EQ(s.p.short_initials, 0);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(s.p.conn[0], &cs);
    ho_quic_conn_get_stats(s.p.conn[1], &ss);
    fprintf(stderr, "%s: %s in %.3f s virtual, dropped %llu datagrams, lost pkts c=%llu s=%llu, PTO c=%llu s=%llu\n",
            what, ok ? "done" : "NOT done", (double)(s.p.now - t0) / 1e9, (unsigned long long)s.p.dropped,
            (unsigned long long)cs.packets_lost, (unsigned long long)ss.packets_lost,
            (unsigned long long)cs.pto_count, (unsigned long long)ss.pto_count);
    sim_free(&s);
}

static void transfer_case(unsigned loss, uint64_t seed, int nstreams, size_t size_each, const char *what)
{
    transfer_case_j(loss, 0, seed, nstreams, size_each, what);
}

static void test_uni_streams(void)
{
    sim s;
    sim_up(&s, 0, 7);
    CHECK(add_xfer(&s, 0, false, 50000, 11) != NULL);
    CHECK(add_xfer(&s, 1, false, 50000, 12) != NULL);
    CHECK((s.x[0].id & 3) == 2);
    CHECK((s.x[1].id & 3) == 3);
    CHECK(run(&s, xfers_done, HO_QUIC_SEC(60)));
    CHECK(!s.x[0].bad && !s.x[1].bad);
    CHECK_EQ(s.x[0].received, 50000);
    CHECK_EQ(s.x[1].received, 50000);
    /* Writing on the peer's uni stream is refused. */
    size_t w;
    int wrc = ho_quic_stream_write(s.p.conn[0], s.x[1].id, "x", 1, false, &w);
    CHECK(wrc == HO_ERR_INVALID_ARG || wrc == HO_ERR_NOT_FOUND); /* freed once read to the end */
    /* Stream limit: open all 100 bidi streams the peer allows, then one more. */
    uint64_t id;
    int opened = 0;
    while (ho_quic_stream_open(s.p.conn[0], true, &id) == HO_OK)
        opened++;
    CHECK_EQ(opened, 100);
    sim_free(&s);
}

/* A client 1-RTT (or Initial) packet with the given frames, sealed with
 * the client's keys (netsim_seal), delivered to the server. */
static void inject(sim *s, ho_quic_pn_space space, const uint8_t *frames, size_t len)
{
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(netsim_seal(s->p.conn[0], space, frames, len, &b), HO_OK);
    ho_quic_conn_receive(s->p.conn[1], b.data, b.len, NULL, s->p.now);
    ho_buf_free(&b);
}

static void expect_server_error(sim *s, uint64_t code, const char *what)
{
    CHECK(ho_quic_conn_is_closing(s->p.conn[1]));
    CHECK_EQ(ho_quic_conn_error(s->p.conn[1]), HO_ERR_QUIC(code));
    /* The client hears it in CONNECTION_CLOSE and drains. */
    run(s, both_closed, HO_QUIC_SEC(10));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s->p.conn[0], &is_app, &by_peer), code);
    CHECK(!is_app && by_peer);
    CHECK(both_closed(s));
    if (ho_quic_conn_error(s->p.conn[1]) != HO_ERR_QUIC(code))
        fprintf(stderr, "%s: got error %d\n", what, ho_quic_conn_error(s->p.conn[1]));
}

/* A fresh pair (the server's initial_max_data set if nonzero), the client
 * injecting the frames in f (consumed) in a 1-RTT packet: the server closes
 * with `code`. */
static void expect_rejected(uint64_t seed, uint64_t max_data, ho_buf *f, uint64_t code, const char *what)
{
    sim s;
    sim_init(&s, 0, seed);
    if (max_data != 0)
        s.p.scfg.initial_max_data = max_data;
    sim_connect(&s);
    inject(&s, HO_QUIC_PN_SPACE_APPLICATION, f->data, f->len);
    ho_buf_consume(f, f->len);
    expect_server_error(&s, code, what);
    sim_free(&s);
}

static void test_misbehaving(void)
{
    ho_buf f;
    /* 1. Flow control: a STREAM frame beyond the stream's 256 KiB limit. */
    ho_buf_init(&f);
    ho_quic_stream_frame_write(&f, 0, 300000, "abc", 3, false, true);
    expect_rejected(3, 0, &f, HO_QUIC_FLOW_CONTROL_ERROR, "flow control");
    /* 1b. Connection flow control: several streams, each within its own
     * limit, together beyond initial_max_data. */
    for (uint64_t i = 0; i < 3; i++)
        ho_quic_stream_frame_write(&f, i * 4, 40000, "abc", 3, false, true);
    expect_rejected(4, 100000, &f, HO_QUIC_FLOW_CONTROL_ERROR, "connection flow control");
    /* 2. Stream limit: client bidi stream 100 (id 400) with a limit of 100. */
    ho_quic_stream_frame_write(&f, 400, 0, "abc", 3, false, true);
    expect_rejected(5, 0, &f, HO_QUIC_STREAM_LIMIT_ERROR, "stream limit");
    /* 3. A frame the client may not send: HANDSHAKE_DONE (RFC 9000 §19.20). */
    ho_put_u8(&f, HO_QUIC_FT_HANDSHAKE_DONE);
    expect_rejected(6, 0, &f, HO_QUIC_PROTOCOL_VIOLATION, "HANDSHAKE_DONE from client");
    ho_buf_free(&f);
    /* 4. A frame forbidden in the epoch: MAX_DATA in an Initial packet
     * (RFC 9000 §12.4, frame.h's table). */
    {
        sim s;
        sim_init(&s, 0, 8);
        sim_start(&s);
        flush(&s, 0);
        quic_pair_deliver_first(&s.p);
        CHECK(s.p.conn[1] != NULL);
        uint8_t md[] = {HO_QUIC_FT_MAX_DATA, 0x40, 0x80};
        inject(&s, HO_QUIC_PN_SPACE_INITIAL, md, sizeof(md));
        CHECK(ho_quic_conn_is_closing(s.p.conn[1]));
        CHECK_EQ(ho_quic_conn_error(s.p.conn[1]), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
        run(&s, NULL, HO_QUIC_SEC(5));
        CHECK(ho_quic_conn_is_closed(s.p.conn[1]));
        sim_free(&s);
    }
    /* 5. NEW_CONNECTION_ID beyond our active_connection_id_limit
     * (HO_QUIC_PEER_CIDS_MAX, 4; §5.1.1): the client already issued IDs 1..3
     * (cid.c); repeating them is harmless, a fifth active ID is
     * CONNECTION_ID_LIMIT_ERROR. */
    {
        sim s;
        sim_up(&s, 0, 23);
        run(&s, NULL, HO_QUIC_MS(200));
        for (uint64_t seq = 1; seq <= HO_QUIC_PEER_CIDS_MAX; seq++) {
            ho_quic_frame nc = {.type = HO_QUIC_FT_NEW_CONNECTION_ID};
            nc.new_connection_id.seq = seq;
            nc.new_connection_id.cid.len = 8;
            memset(nc.new_connection_id.cid.data, (int)seq, 8);
            memset(nc.new_connection_id.reset_token, (int)seq, 16);
            for (size_t k = 0; k < HO_QUIC_LOCAL_CIDS_MAX; k++) {
                const ho_quic_local_cid *l = &s.p.conn[0]->local_cids[k];
                if (l->in_use && l->seq == seq) {
                    nc.new_connection_id.cid = l->cid;
                    memcpy(nc.new_connection_id.reset_token, l->token, 16);
                }
            }
            ho_buf_init(&f);
            CHECK_EQ(ho_quic_frame_encode(&f, &nc), HO_OK);
            inject(&s, HO_QUIC_PN_SPACE_APPLICATION, f.data, f.len);
            inject(&s, HO_QUIC_PN_SPACE_APPLICATION, f.data, f.len); /* a repeat is harmless */
            ho_buf_free(&f);
            CHECK_EQ(ho_quic_conn_is_closing(s.p.conn[1]), seq == HO_QUIC_PEER_CIDS_MAX);
        }
        expect_server_error(&s, HO_QUIC_CONNECTION_ID_LIMIT_ERROR, "connection id limit");
        sim_free(&s);
    }
    /* 6. STREAM data from the client on the server's send-only (uni)
     * stream 3: STREAM_STATE_ERROR (§19.8). */
    {
        sim s;
        sim_up(&s, 0, 9);
        ho_buf_init(&f);
        ho_quic_stream_frame_write(&f, 3, 0, "abc", 3, false, true);
        inject(&s, HO_QUIC_PN_SPACE_APPLICATION, f.data, f.len);
        ho_buf_free(&f);
        expect_server_error(&s, HO_QUIC_STREAM_STATE_ERROR, "stream state");
        sim_free(&s);
    }
}

/* Several streams with a little data each share one packet: each gets its
 * turn in the packet being built (the round-robin start moves only for the
 * next packet), and a stream's data in several pieces (references) goes
 * whole while there is room. Indexing from the moving start skipped the
 * stream after each one written, and one frame per stream left the rest of
 * a response for the next packet: a small HTTP/3 response took two packets
 * (the QPACK decoder stream's bytes and the HEADERS in one, the body in the
 * next). */
static void test_streams_share_packet(void)
{
    sim s;
    sim_up(&s, 0, 31);
    ho_quic_conn *c = s.p.conn[0];
    enum { N = 6 };
    uint64_t id[N];
    for (int i = 0; i < N; i++) {
        size_t w = 0;
        CHECK_EQ(ho_quic_stream_open(c, true, &id[i]), HO_OK);
        CHECK_EQ(ho_quic_stream_write(c, id[i], "hello", 5, true, &w), HO_OK);
        CHECK_EQ(w, 5);
    }
    /* One more stream in three pieces: copied, by reference, copied + FIN
     * (an HTTP/3 response: HEADERS, a static body, ...). */
    static const char body[] = "a static body";
    uint64_t pieces;
    size_t w = 0;
    CHECK_EQ(ho_quic_stream_open(c, true, &pieces), HO_OK);
    CHECK_EQ(ho_quic_stream_write(c, pieces, "head", 4, false, &w), HO_OK);
    CHECK_EQ(ho_quic_stream_write_ref(c, pieces, body, sizeof(body) - 1, false, NULL, NULL, &w), HO_OK);
    CHECK_EQ(ho_quic_stream_write(c, pieces, "tail", 4, true, &w), HO_OK);
    for (int round = 0; round < 2; round++) { /* from two round-robin starts */
        uint8_t buf[1500];
        size_t seg = 0;
        size_t len = ho_quic_conn_send(c, buf, sizeof(buf), &seg, s.p.now); /* room for one datagram */
        CHECK(len > 0 && len <= seg);
        int sent = 0;
        for (size_t i = 0; i < c->nstreams; i++)
            sent += c->streams[i]->tx.fin_sent;
        CHECK_EQ(sent, N * (round + 1) + 1);
        if (sent != N * (round + 1) + 1)
            fprintf(stderr, "round %d: %d of %d streams in the datagram\n", round, sent, N * (round + 1) + 1);
        for (int i = 0; i < N && round == 0; i++) { /* the next batch starts after the first packet's rr */
            CHECK_EQ(ho_quic_stream_open(c, true, &id[i]), HO_OK);
            CHECK_EQ(ho_quic_stream_write(c, id[i], "world", 5, true, &w), HO_OK);
        }
    }
    run(&s, NULL, HO_QUIC_MS(200)); /* resent (the test dropped them), acknowledged: no error */
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

static void test_idle_timeout(void)
{
    sim s;
    sim_init(&s, 0, 10);
    s.p.ccfg.max_idle_timeout_ms = 2000;
    s.p.scfg.max_idle_timeout_ms = 5000;
    sim_connect(&s);
    ho_quic_time t0 = s.p.now;
    CHECK(run(&s, both_closed, HO_QUIC_SEC(60)));
    /* §10.1: the minimum of both (2 s), at least 3 PTO; silent close. */
    CHECK(s.p.now - t0 >= HO_QUIC_MS(1900));
    CHECK(s.p.now - t0 <= HO_QUIC_MS(2500));
    CHECK_EQ(s.close_err[0], HO_OK);
    CHECK_EQ(s.close_err[1], HO_OK);
    sim_free(&s);
}

static void test_reset_stream(void)
{
    sim s;
    sim_up(&s, 0, 12);
    uint64_t id;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &id), HO_OK);
    size_t w;
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], id, "hello", 5, false, &w), HO_OK);
    run(&s, NULL, HO_QUIC_MS(100));
    CHECK_EQ(ho_quic_stream_reset(s.p.conn[0], id, 7), HO_OK);
    run(&s, NULL, HO_QUIC_MS(100));
    uint8_t buf[16];
    size_t n;
    bool fin;
    int rc = ho_quic_stream_read(s.p.conn[1], id, buf, sizeof(buf), &n, &fin);
    CHECK(rc == HO_ERR_NOT_FOUND || rc == HO_ERR_CLOSED);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

/* MAX_STREAMS: with a limit of 2, a client finishes 6 streams one pair at a
 * time as the server frees them (RFC 9000 §4.6). */
static bool six_echoed(sim *s) { return s->echoed == 6 && s->x[0].used; }

static void test_max_streams(void)
{
    sim s;
    sim_init(&s, 0, 13);
    s.p.scfg.initial_max_streams_bidi = 2;
    s.echo = true;
    sim_connect(&s);
    int opened = 0, refused = 0;
    for (int round = 0; round < 200 && opened < 6; round++) {
        uint64_t id;
        int rc = ho_quic_stream_open(s.p.conn[0], true, &id);
        if (rc == HO_OK) {
            size_t w;
            CHECK_EQ(ho_quic_stream_write(s.p.conn[0], id, "ping", 4, true, &w), HO_OK);
            opened++;
        } else {
            CHECK_EQ(rc, HO_ERR_WOULD_BLOCK);
            refused++;
            run(&s, NULL, HO_QUIC_MS(20));
        }
    }
    CHECK_EQ(opened, 6);
    CHECK(refused > 0);
    s.x[0].used = true; /* a dummy so six_echoed can tell the end */
    s.x[0].fin_received = true;
    run(&s, six_echoed, HO_QUIC_SEC(10));
    CHECK_EQ(s.echoed, 6);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

/* STOP_SENDING: the server answers with RESET_STREAM (RFC 9000 §3.5). */
static void test_stop_sending(void)
{
    sim s;
    sim_up(&s, 0, 14);
    xfer *x = add_xfer(&s, 1, true, 4u << 20, 9);
    CHECK(x != NULL);
    run(&s, NULL, HO_QUIC_MS(60));
    CHECK_EQ(ho_quic_stream_stop_sending(s.p.conn[0], x->id, 5), HO_OK);
    x->used = false; /* the client app stops reading */
    run(&s, NULL, HO_QUIC_MS(200));
    CHECK_EQ(s.resets_seen[1], 1); /* server: STOP_SENDING */
    CHECK_EQ(s.resets_seen[0], 1); /* client: RESET_STREAM */
    uint8_t buf[16];
    size_t n;
    bool fin;
    int rc = ho_quic_stream_read(s.p.conn[0], x->id, buf, sizeof(buf), &n, &fin);
    CHECK(rc == HO_ERR_CLOSED || rc == HO_ERR_NOT_FOUND);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

/* Closing during the handshake: an application close goes out as 0x1c
 * APPLICATION_ERROR in Initial/Handshake packets (RFC 9000 §10.2.3). */
static void first_flight(sim *s)
{
    flush(s, 0);
    quic_pair_deliver_first(&s->p);
}

static void test_close_in_handshake(void)
{
    sim s;
    sim_init(&s, 0, 15);
    sim_start(&s);
    first_flight(&s);
    CHECK(s.p.conn[1] != NULL);
    CHECK_EQ(ho_quic_conn_close(s.p.conn[1], 0x99, "early", s.p.now), HO_OK);
    CHECK(run(&s, both_closed, HO_QUIC_SEC(10)));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[0], &is_app, &by_peer), HO_QUIC_APPLICATION_ERROR);
    CHECK(!is_app && by_peer);
    sim_free(&s);
}

/* A TLS failure is CRYPTO_ERROR 0x100 + alert (RFC 9001 §4.8): ALPN
 * mismatch -> no_application_protocol (120). */
static void test_crypto_error(void)
{
    ho_tls_config *other = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(other, false);
    const char *alpn[] = {"nope"};
    ho_tls_config_set_alpn(other, alpn, 1);
    ho_quic_tls_config_prepare(other);
    sim s;
    sim_init(&s, 0, 16);
    s.p.ccfg.tls = other;
    sim_start(&s);
    CHECK(run(&s, both_closed, HO_QUIC_SEC(10)));
    CHECK_EQ(ho_quic_conn_error(s.p.conn[1]), HO_ERR_TLS_ALERT(HO_ALERT_NO_APPLICATION_PROTOCOL));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[0], &is_app, &by_peer), HO_QUIC_CRYPTO_ERROR + HO_ALERT_NO_APPLICATION_PROTOCOL);
    CHECK(!is_app && by_peer);
    CHECK(!ho_quic_conn_handshake_done(s.p.conn[0]));
    sim_free(&s);
    ho_tls_config_free(other);
}

/* RFC 9000 §7.3: a server whose original_destination_connection_id does
 * not match the client's first DCID fails the client's handshake. */
static void test_tparams_cid_mismatch(void)
{
    sim s;
    sim_init(&s, 0, 17);
    sim_start(&s);
    flush(&s, 0);
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(s.p.q.heap[0].data, s.p.q.heap[0].len, 8, &h), HO_OK);
    s.p.conn[1] = ho_quic_conn_new_server(&s.p.scfg, h.dcid.data, h.dcid.len, h.scid.data, h.scid.len, NULL, s.p.now);
    CHECK(s.p.conn[1] != NULL);
    /* Corrupt what the server will announce, before it reads the ClientHello. */
    s.p.conn[1]->tpx.local.original_dcid.data[0] ^= 0xff;
    run(&s, both_closed, HO_QUIC_SEC(10));
    CHECK_EQ(ho_quic_conn_error(s.p.conn[0]), HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR));
    bool is_app = true, by_peer = true;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[0], &is_app, &by_peer), HO_QUIC_TRANSPORT_PARAMETER_ERROR);
    CHECK(!is_app && !by_peer);
    CHECK(!ho_quic_conn_handshake_done(s.p.conn[0]));
    sim_free(&s);
}

/* The server's next packet, read with the client's 1-RTT keys into buf
 * (its frames at h->payload_offset; each step checked). */
static void read_server_packet(sim *s, uint8_t *buf, size_t cap, ho_quic_header *h)
{
    size_t seg;
    size_t n = ho_quic_conn_send(s->p.conn[1], buf, cap, &seg, s->p.now);
    CHECK(n > 0);
    memset(h, 0, sizeof(*h));
    CHECK_EQ(ho_quic_header_parse(buf, n < seg ? n : seg, s->p.conn[0]->scid.len, h), HO_OK);
    ho_quic_space *sp = &s->p.conn[0]->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    CHECK_EQ(ho_quic_packet_unprotect(&sp->rx, buf, h, sp->largest_rx), HO_OK);
}

/* PATH_CHALLENGE is answered with PATH_RESPONSE (RFC 9000 §8.2.2). */
static void test_path_challenge(void)
{
    sim s;
    sim_up(&s, 0, 18);
    uint8_t pc[9] = {HO_QUIC_FT_PATH_CHALLENGE, 1, 2, 3, 4, 5, 6, 7, 8};
    inject(&s, HO_QUIC_PN_SPACE_APPLICATION, pc, sizeof(pc));
    CHECK(s.p.conn[1]->path_response_pending);
    uint8_t buf[4 * 1200];
    ho_quic_header h;
    read_server_packet(&s, buf, sizeof(buf), &h);
    ho_quic_frame_reader r;
    ho_quic_frame f;
    bool found = false;
    ho_quic_frame_reader_init(&r, buf + h.payload_offset, h.payload_len, HO_QUIC_PKT_1RTT, true);
    while (ho_quic_frame_read(&r, &f) == HO_OK)
        if (f.type == HO_QUIC_FT_PATH_RESPONSE && memcmp(f.path.data, pc + 1, 8) == 0)
            found = true;
    CHECK(found);
    sim_free(&s);
}

/* Key update (RFC 9001 §6): the client initiates twice during a transfer,
 * the server follows; reordered old-phase packets still decrypt. */
static void test_key_update(void)
{
    sim s;
    sim_up(&s, 0, 19);
    /* §6.1: only once a 1-RTT packet of ours was acknowledged. */
    CHECK(add_xfer(&s, 0, true, 1000, 30) != NULL);
    run(&s, NULL, HO_QUIC_MS(100));
    CHECK_EQ(ho_quic_conn_key_update(s.p.conn[0], s.p.now), HO_OK);
    /* Not again before the peer answered (§6.1). */
    CHECK_EQ(ho_quic_conn_key_update(s.p.conn[0], s.p.now), HO_ERR_WOULD_BLOCK);
    CHECK(add_xfer(&s, 0, true, 300000, 31) != NULL);
    CHECK(add_xfer(&s, 1, true, 300000, 32) != NULL);
    run(&s, NULL, HO_QUIC_MS(100));
    CHECK_EQ(ho_quic_conn_key_updates(s.p.conn[1]), 1);
    CHECK_EQ(ho_quic_conn_key_updates(s.p.conn[0]), 1);
    /* §6.5: not again within three PTOs of the rotation (about 0.2 s
     * here); afterwards, yes. */
    CHECK_EQ(ho_quic_conn_key_update(s.p.conn[0], s.p.now), HO_ERR_WOULD_BLOCK);
    run(&s, NULL, HO_QUIC_SEC(1));
    CHECK_EQ(ho_quic_conn_key_update(s.p.conn[0], s.p.now), HO_OK);
    CHECK(add_xfer(&s, 0, true, 5000, 33) != NULL); /* traffic under the third key */
    CHECK(run(&s, xfers_done, HO_QUIC_SEC(30)));
    run(&s, NULL, HO_QUIC_MS(100)); /* the server's ACKs under its new key */
    CHECK_EQ(ho_quic_conn_key_updates(s.p.conn[1]), 2);
    CHECK_EQ(ho_quic_conn_key_updates(s.p.conn[0]), 2);
    check_intact(&s, 1, 2, 300000);
    sim_free(&s);
}

/* Scheduled key updates (RFC 9001 §6.6: before the confidentiality
 * limit): with key_update_packets 20 the server initiates an update after
 * 20 packets under a key, each once the client answered the last and three
 * PTOs later (§6.5); with 2 % loss both ways the transfers arrive intact. */
static void test_key_update_schedule(void)
{
    sim s;
    sim_init(&s, 2, 23);
    s.p.scfg.key_update_packets = 20;
    sim_connect(&s);
    CHECK(add_xfer(&s, 0, true, 1000000, 41) != NULL);
    CHECK(add_xfer(&s, 1, true, 1000000, 42) != NULL);
    CHECK(run(&s, xfers_done, HO_QUIC_SEC(60)));
    run(&s, NULL, HO_QUIC_MS(200));
    uint64_t ku_c = ho_quic_conn_key_updates(s.p.conn[0]), ku_s = ho_quic_conn_key_updates(s.p.conn[1]);
    printf("scheduled key updates: server %llu, client %llu\n", (unsigned long long)ku_s, (unsigned long long)ku_c);
    CHECK(ku_s >= 3);
    CHECK(ku_c + 1 >= ku_s && ku_s + 1 >= ku_c); /* the client followed each one */
    check_intact(&s, 0, 1, 1000000);
    sim_free(&s);
}

/* Closing and draining (RFC 9000 §10.2): the closer's first
 * CONNECTION_CLOSE is lost; the peer keeps sending; the closer answers
 * again from the closing state; the peer drains for 3 PTO; the closer
 * lasts 3 PTO from the close. */
static void test_closing_draining(void)
{
    sim s;
    sim_up(&s, 0, 20);
    run(&s, NULL, HO_QUIC_MS(200));
    ho_quic_time pto = ho_quic_recovery_pto_period(&s.p.conn[0]->rec, HO_QUIC_PN_SPACE_APPLICATION);
    ho_quic_time t_close = s.p.now;
    CHECK_EQ(ho_quic_conn_close(s.p.conn[0], 7, "lost", s.p.now), HO_OK);
    /* Send the CONNECTION_CLOSE and lose it. */
    uint8_t buf[4 * 1200];
    size_t seg;
    CHECK(ho_quic_conn_send(s.p.conn[0], buf, sizeof(buf), &seg, s.p.now) > 0);
    CHECK_EQ(ho_quic_conn_send(s.p.conn[0], buf, sizeof(buf), &seg, s.p.now), 0); /* once per trigger */
    CHECK(ho_quic_conn_is_closing(s.p.conn[0]));
    /* The server keeps sending on a stream; the client answers with CC. */
    CHECK(add_xfer(&s, 1, true, 1000, 40) != NULL);
    s.x[0].used = true;
    ho_quic_time t_drain = 0;
    while (!ho_quic_conn_is_closing(s.p.conn[1]) && s.p.now < t_close + HO_QUIC_SEC(5)) {
        run(&s, NULL, HO_QUIC_MS(1));
        if (ho_quic_conn_is_closing(s.p.conn[1]))
            t_drain = s.p.now;
    }
    CHECK(t_drain > 0);
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[1], NULL, NULL), 7);
    s.x[0].used = false;
    while (!ho_quic_conn_is_closed(s.p.conn[1]) && s.p.now < t_close + HO_QUIC_SEC(10))
        run(&s, NULL, HO_QUIC_MS(1));
    ho_quic_time drain_len = s.p.now - t_drain;
    ho_quic_time pto_s = ho_quic_recovery_pto_period(&s.p.conn[1]->rec, HO_QUIC_PN_SPACE_APPLICATION);
    CHECK(drain_len >= 3 * pto_s - HO_QUIC_MS(2));
    CHECK(drain_len <= 3 * pto_s + HO_QUIC_MS(2));
    while (!ho_quic_conn_is_closed(s.p.conn[0]) && s.p.now < t_close + HO_QUIC_SEC(10))
        run(&s, NULL, HO_QUIC_MS(1));
    CHECK(ho_quic_conn_is_closed(s.p.conn[0]));
    CHECK(s.p.now - t_close >= 3 * pto - HO_QUIC_MS(2));
    sim_free(&s);
}

/* ACK ranges (RFC 9000 §13.2.3, §19.3.1): after a lost datagram the
 * receiver acknowledges around the gap. */
static void test_ack_ranges(void)
{
    sim s;
    sim_up(&s, 0, 21);
    run(&s, NULL, HO_QUIC_MS(200));
    uint64_t id;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &id), HO_OK);
    uint8_t data[5000];
    memset(data, 'x', sizeof(data));
    size_t w;
    ho_quic_stream_write(s.p.conn[0], id, data, sizeof(data), false, &w);
    static uint8_t buf[16 * 1200];
    size_t seg;
    size_t n = ho_quic_conn_send(s.p.conn[0], buf, sizeof(buf), &seg, s.p.now);
    CHECK(n > 3 * seg);
    /* Deliver all but the second datagram. */
    for (size_t off = 0, i = 0; off < n; off += seg, i++)
        if (i != 1)
            ho_quic_conn_receive(s.p.conn[1], buf + off, n - off < seg ? n - off : seg, NULL, s.p.now);
    ho_quic_header h;
    read_server_packet(&s, buf, sizeof(buf), &h);
    ho_quic_frame_reader r;
    ho_quic_frame f;
    uint64_t ranges = 0;
    ho_quic_frame_reader_init(&r, buf + h.payload_offset, h.payload_len, HO_QUIC_PKT_1RTT, true);
    while (ho_quic_frame_read(&r, &f) == HO_OK)
        if (f.type == HO_QUIC_FT_ACK)
            ranges = f.ack.range_count + 1;
    CHECK(ranges >= 2);
    sim_free(&s);
}

/* Garbage and mutated datagrams are dropped silently (RFC 9000 §12.2,
 * RFC 9001 §5.5 / §9.5): the connection survives and still works. */
static void test_garbage(void)
{
    sim s;
    sim_up(&s, 0, 22);
    static uint8_t buf[16 * 1200];
    uint8_t junk[1500];
    for (int i = 0; i < 2000; i++) {
        size_t len = 1 + quic_pair_rand(&s.p) % sizeof(junk);
        for (size_t k = 0; k < len; k++)
            junk[k] = (uint8_t)quic_pair_rand(&s.p);
        if (i % 3 == 1)
            junk[0] = (uint8_t)(0x40 | (junk[0] & 0x3f)); /* short header */
        if (i % 3 == 2)
            junk[0] |= 0xc0; /* long header */
        ho_quic_conn_receive(s.p.conn[i & 1], junk, len, NULL, s.p.now);
    }
    /* Real packets with one flipped byte. */
    uint64_t id;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &id), HO_OK);
    for (int i = 0; i < 200; i++) {
        size_t w;
        ho_quic_stream_write(s.p.conn[0], id, "0123456789", 10, false, &w);
        size_t seg;
        size_t n = ho_quic_conn_send(s.p.conn[0], buf, sizeof(buf), &seg, s.p.now);
        if (n == 0)
            continue;
        size_t len = n < seg ? n : seg;
        buf[quic_pair_rand(&s.p) % len] ^= (uint8_t)(1 + quic_pair_rand(&s.p) % 255);
        ho_quic_conn_receive(s.p.conn[1], buf, len, NULL, s.p.now);
    }
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]) && !ho_quic_conn_is_closing(s.p.conn[1]));
    CHECK(s.p.conn[1]->stats.packets_dropped > 0);
    /* Still usable: a transfer completes (the mutated data is resent). */
    CHECK(add_xfer(&s, 0, true, 20000, 50) != NULL);
    CHECK(run(&s, xfers_done, HO_QUIC_SEC(30)));
    CHECK(!s.x[0].bad);
    sim_free(&s);
}

/* The byte-stream pieces under the connection (crypto_stream.c). */
/* Both transfers delivered and acknowledged: nothing in flight either way. */
static bool at_rest(sim *s)
{
    return xfers_done(s) && s->p.conn[0]->cc.bytes_in_flight == 0 && s->p.conn[1]->cc.bytes_in_flight == 0;
}

/* A connection at rest holds no scratch memory (ho_quic_conn_trim, issue
 * 12's memory per idle connection): no packet or receive copy, no spare
 * sent-frame records, no ACK scratch, and an open stream whose data was all
 * delivered and acknowledged holds no send ring and no receive buffer. */
static void test_trim_at_rest(void)
{
    sim s;
    sim_up(&s, 0, 21);
    xfer *x = add_xfer(&s, 0, true, 40000, 5); /* client -> server; the server never answers */
    CHECK(x != NULL);
    CHECK(run(&s, at_rest, HO_QUIC_SEC(60)));
    for (int k = 0; k < 2; k++) {
        ho_quic_conn *c = s.p.conn[k];
        CHECK(c->rx_copy == NULL && c->rx_copy_cap == 0);
        CHECK(c->pkt.data == NULL);
        CHECK(c->free_records == NULL);
        CHECK(c->rec.scratch == NULL);
        for (int e = 0; e < HO_EPOCH_COUNT; e++)
            CHECK(c->tls_out.send[e].data == NULL);
    }
    /* The stream stays open (the server's side of it never finishes). */
    ho_quic_stream *cs = ho_quic_stream_find(s.p.conn[0], x->id);
    ho_quic_stream *ss = ho_quic_stream_find(s.p.conn[1], x->id);
    CHECK(cs != NULL && ss != NULL);
    if (cs != NULL && ss != NULL) {
        CHECK(cs->tx.ring == NULL && cs->tx.cap == 0 && cs->tx.base == 40000);
        CHECK(ss->rx.data.data == NULL && ss->rx.read == 40000);
    }
    /* It works on after a trim: the server answers on the same stream. */
    size_t w;
    CHECK_EQ(ho_quic_stream_write(s.p.conn[1], x->id, "done", 4, true, &w), HO_OK);
    CHECK_EQ(w, 4);
    bool got = false;
    for (int i = 0; i < 100 && !got; i++) {
        run(&s, NULL, HO_QUIC_MS(10));
        uint8_t out[8];
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(s.p.conn[0], x->id, out, sizeof(out), &n, &fin) == HO_OK && n == 4)
            got = fin && memcmp(out, "done", 4) == 0;
    }
    CHECK(got);
    sim_free(&s);
}

static void test_buffers(void)
{
    ho_quic_rangeset rs = {0};
    ho_quic_rangeset_add(&rs, 10, 20);
    ho_quic_rangeset_add(&rs, 30, 40);
    ho_quic_rangeset_add(&rs, 0, 5);
    CHECK_EQ(rs.n, 3);
    ho_quic_rangeset_add(&rs, 15, 31); /* bridges two */
    CHECK_EQ(rs.n, 2);
    CHECK(rs.r[1].start == 10 && rs.r[1].end == 40);
    ho_quic_rangeset_add(&rs, 5, 10); /* adjacent: merges all */
    CHECK_EQ(rs.n, 1);
    ho_quic_rangeset_remove(&rs, 12, 14);
    CHECK_EQ(rs.n, 2);
    CHECK(ho_quic_rangeset_contains(&rs, 11) && !ho_quic_rangeset_contains(&rs, 12) &&
          ho_quic_rangeset_contains(&rs, 14));
    ho_quic_rangeset_free(&rs);

    ho_quic_sendbuf sb = {0};
    uint8_t data[100];
    for (int i = 0; i < 100; i++)
        data[i] = (uint8_t)i;
    ho_quic_sendbuf_write(&sb, data, 100);
    sb.fin = true;
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *p;
    CHECK(ho_quic_sendbuf_peek(&sb, 60, 1000, &off, &len, &fin, &p)); /* flow limit 60 */
    CHECK(off == 0 && len == 60 && !fin);
    CHECK_EQ(ho_quic_sendbuf_on_sent(&sb, 0, 60, false), 60);
    CHECK(ho_quic_sendbuf_peek(&sb, 1000, 1000, &off, &len, &fin, &p));
    CHECK(off == 60 && len == 40 && fin && p[0] == 60);
    ho_quic_sendbuf_on_sent(&sb, 60, 40, true);
    CHECK(!ho_quic_sendbuf_peek(&sb, 1000, 1000, &off, &len, &fin, &p));
    ho_quic_sendbuf_on_lost(&sb, 20, 30, false);  /* [20,50) lost */
    ho_quic_sendbuf_on_acked(&sb, 30, 10, false); /* [30,40) acked meanwhile */
    CHECK(ho_quic_sendbuf_peek(&sb, 1000, 1000, &off, &len, &fin, &p));
    CHECK(off == 20 && len == 10 && p[0] == 20);
    CHECK_EQ(ho_quic_sendbuf_on_sent(&sb, 20, 10, false), 0); /* a retransmission */
    CHECK(ho_quic_sendbuf_peek(&sb, 1000, 1000, &off, &len, &fin, &p));
    CHECK(off == 40 && len == 10);
    ho_quic_sendbuf_on_sent(&sb, 40, 10, false);
    ho_quic_sendbuf_on_acked(&sb, 0, 100, true);
    CHECK(ho_quic_sendbuf_done(&sb));
    CHECK(sb.base == sb.end && sb.head == 0); /* everything released */
    ho_quic_sendbuf_free(&sb);

    ho_quic_recvbuf rb = {0};
    uint8_t out[100];
    ho_quic_recvbuf_insert(&rb, 50, data + 50, 50);
    CHECK_EQ(ho_quic_recvbuf_readable(&rb), 0);
    ho_quic_recvbuf_insert(&rb, 0, data, 30);
    ho_quic_recvbuf_insert(&rb, 20, data + 20, 40); /* overlapping */
    CHECK_EQ(ho_quic_recvbuf_readable(&rb), 100);
    CHECK_EQ(ho_quic_recvbuf_read(&rb, out, 70), 70);
    ho_quic_recvbuf_insert(&rb, 10, data + 10, 10); /* old duplicate */
    CHECK_EQ(ho_quic_recvbuf_read(&rb, out + 70, 100), 30);
    CHECK_MEM(out, data, 100);
    ho_quic_recvbuf_free(&rb);
}

int main(void)
{
    make_tls();
    RUN(test_handshake);
    transfer_case(0, 20, 1, 1 << 20, "1 MB each way, no loss");
    transfer_case(0, 21, 10, 100000, "10 streams each way, no loss");
    transfer_case(10, 22, 1, 1 << 20, "1 MB each way, 10% loss");
    transfer_case(10, 23, 10, 100000, "10 streams each way, 10% loss");
    transfer_case(30, 24, 1, 1 << 20, "1 MB each way, 30% loss");
    transfer_case(30, 25, 10, 100000, "10 streams each way, 30% loss");
    transfer_case_j(5, HO_QUIC_MS(15), 26, 4, 250000, "4 streams each way, 5% loss, 0-15 ms jitter (reordering)");
    RUN(test_uni_streams);
    RUN(test_streams_share_packet);
    RUN(test_misbehaving);
    RUN(test_idle_timeout);
    RUN(test_reset_stream);
    RUN(test_max_streams);
    RUN(test_stop_sending);
    RUN(test_close_in_handshake);
    RUN(test_crypto_error);
    RUN(test_tparams_cid_mismatch);
    RUN(test_buffers);
    RUN(test_trim_at_rest);
    RUN(test_path_challenge);
    RUN(test_key_update);
    RUN(test_key_update_schedule);
    RUN(test_closing_draining);
    RUN(test_ack_ranges);
    RUN(test_garbage);
    ho_tls_config_free(client_tls);
    ho_tls_config_free(server_tls);
    return ho_test_summary("test_quic_conn");
}
