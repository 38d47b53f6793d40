/* test_h3: HTTP/3 (src/http/h3.c) between an in-memory QUIC client and
 * server (simulated link, virtual clock, deterministic loss) serving the
 * HttpArena routes: /baseline2, /json byte-equal to a direct router
 * dispatch, /static with brotli, 404, 20 concurrent requests, a 200 kB file
 * under 10% loss, malformed requests reset with H3_MESSAGE_ERROR while the
 * connection keeps serving, GOAWAY and H3_NO_ERROR close (also with requests
 * in flight: those below the GOAWAY ID finish, a later one is rejected), a critical stream
 * closed (H3_CLOSED_CRITICAL_STREAM). Then our client against ngtcp2's
 * gtlsserver over loopback UDP (a missing peer is a failure). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/crypto.h"
#include "arena.h"
#include "handoff/http.h"
#include "handoff/quic.h"
#include "quic/conn_int.h"
#include "quic/packet.h"
#include "quic/quic_types.h"
#include "quic_pair.h"

/* The connection pair (quic_pair.h) with HTTP/3 on each side. */
typedef struct sim {
    quic_pair p;
    ho_h3_conn *h3[2];
    const ho_router *router;
    uint64_t raw_id;        /* client stream written by hand, not by nghttp3 */
    uint64_t raw_reset;     /* its RESET_STREAM code as seen by the client */
    uint64_t raw_from;      /* client bidi streams from this ID on are raw too */
    size_t max_bodies, max_out; /* the server's ho_h3_held, highest seen */
} sim;

static bool is_raw(const sim *s, uint64_t id) { return id == s->raw_id || (id >= s->raw_from && (id & 3) == 0); }

static ho_tls_config *server_tls, *client_tls;
static ho_router *router;
static app_arena *arena;

static int side_of(sim *s, ho_quic_conn *c) { return quic_pair_side(&s->p, c); }

static void cb_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    sim *s = ctx;
    if (side_of(s, c) == 0 && is_raw(s, id))
        return;
    ho_h3_on_stream_readable(s->h3[side_of(s, c)], id);
}
static void cb_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    sim *s = ctx;
    ho_h3_on_stream_writable(s->h3[side_of(s, c)], id);
}
static void cb_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    sim *s = ctx;
    if (side_of(s, c) == 0 && is_raw(s, id)) {
        if (!stop)
            s->raw_reset = code;
        return;
    }
    ho_h3_on_stream_reset(s->h3[side_of(s, c)], id, code, stop);
}

static void make_tls(void) { quic_test_tls("h3", &server_tls, &client_tls); }

/* HTTP/3 hands its frames to the streams before each send. */
static void h3_app(quic_pair *p)
{
    sim *s = p->user;
    for (int side = 0; side < 2; side++)
        if (s->h3[side] != NULL)
            ho_h3_flush(s->h3[side], p->now);
    if (s->h3[1] != NULL) {
        size_t bodies, out;
        ho_h3_held(s->h3[1], &bodies, &out);
        if (bodies > s->max_bodies)
            s->max_bodies = bodies;
        if (out > s->max_out)
            s->max_out = out;
    }
}

static void h3_on_server(quic_pair *p)
{
    sim *s = p->user;
    s->h3[1] = ho_h3_server_attach(p->conn[QP_SERVER], s->router);
}

static void sim_init(sim *s, unsigned loss_pct, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->router = router;
    s->raw_id = UINT64_MAX;
    s->raw_from = UINT64_MAX;
    ho_quic_callbacks cb = {
        .ctx = s, .stream_readable = cb_readable, .stream_writable = cb_writable, .stream_reset = cb_reset};
    quic_pair_init(&s->p, &cb, server_tls, client_tls, loss_pct, seed);
    s->p.app = h3_app;
    s->p.on_server = h3_on_server;
    s->p.user = s;
    quic_pair_start(&s->p);
    s->h3[0] = ho_h3_client_attach(s->p.conn[QP_CLIENT]);
}

static void sim_free(sim *s)
{
    ho_h3_free(s->h3[0]);
    ho_h3_free(s->h3[1]);
    quic_pair_free(&s->p);
}

typedef bool (*done_fn)(sim *s, void *arg);

typedef struct done_call {
    done_fn fn;
    void *arg;
} done_call;

static bool call_done(quic_pair *p, void *arg)
{
    done_call *d = arg;
    return d->fn(p->user, d->arg);
}

static bool run(sim *s, done_fn done, void *arg, ho_quic_time limit)
{
    done_call d = {done, arg};
    return quic_pair_run(&s->p, done != NULL ? call_done : NULL, &d, limit);
}

static bool hs_done(sim *s, void *arg) { return quic_pair_hs_done(&s->p, arg); }

typedef struct resp_set {
    ho_h3_response *r[64];
    size_t n;
} resp_set;

static bool all_done(sim *s, void *arg)
{
    (void)s;
    resp_set *rs = arg;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i] == NULL || !(rs->r[i]->complete || rs->r[i]->reset))
            return false;
    return true;
}

/* A pair with HTTP/3 on both sides after a confirmed handshake (checked);
 * on failure it is freed already. */
static bool start(sim *s, unsigned loss, uint64_t seed)
{
    sim_init(s, loss, seed);
    bool ok = run(s, hs_done, NULL, HO_QUIC_SEC(10));
    CHECK(ok);
    CHECK(s->h3[1] != NULL);
    if (ok && s->h3[1] != NULL)
        return true;
    sim_free(s);
    return false;
}

/* GET through the pair; NULL on failure. */
static ho_h3_response *fetch(sim *s, const char *path, const char *ae)
{
    resp_set rs = {.n = 1};
    if (ho_h3_client_get(s->h3[0], "localhost", path, ae, &rs.r[0]) != HO_OK)
        return NULL;
    if (!run(s, all_done, &rs, HO_QUIC_SEC(20)))
        return NULL;
    return rs.r[0];
}

/* What the router answers for the same request without HTTP/3. */
static void direct(const char *target, const char *extra, ho_buf *out, ho_http_response *resp)
{
    char text[512];
    snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", target, extra ? extra : "");
    ho_http_request req;
    size_t used;
    CHECK_EQ(ho_http1_parse((const uint8_t *)text, strlen(text), NULL, &req, &used), HO_HTTP_COMPLETE);
    static ho_buf scratch;
    ho_http_response_reset(resp, &scratch);
    ho_router_dispatch(router, &req, resp);
    size_t n;
    const uint8_t *p = ho_http_response_body(resp, &n);
    out->len = 0;
    ho_put_bytes(out, p, n);
}

static bool body_eq(const ho_h3_response *r, const ho_buf *want)
{
    return r->body.len == want->len && (want->len == 0 || memcmp(r->body.data, want->data, want->len) == 0);
}

static void test_basic_routes(void)
{
    sim s;
    if (!start(&s, 0, 1))
        return;
    ho_h3_response *r = fetch(&s, "/baseline2?a=1&b=2", NULL);
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_EQ(r->status, 200);
        CHECK(strncmp(r->content_type, "text/plain", 10) == 0);
        CHECK_EQ(r->body.len, 1);
        CHECK(r->body.len == 1 && r->body.data[0] == '3');
        CHECK_EQ(r->content_length, 1);
    }
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/json/7?m=2", NULL, &want, &dr);
    r = fetch(&s, "/json/7?m=2", NULL);
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_EQ(r->status, 200);
        CHECK(strcmp(r->content_type, "application/json") == 0);
        CHECK(want.len > 100);
        CHECK(body_eq(r, &want));
    }
    direct("/static/app.js", "Accept-Encoding: br\r\n", &want, &dr);
    r = fetch(&s, "/static/app.js", "br");
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_EQ(r->status, 200);
        CHECK(strcmp(r->content_encoding, "br") == 0);
        CHECK(strcmp(r->vary, "accept-encoding") == 0);
        struct stat st; /* the generated app.js.br (scripts/gen-testdata.sh) */
        CHECK(stat(ho_test_data("arena/static/app.js.br"), &st) == 0 && st.st_size > 1000);
        CHECK_EQ(want.len, (size_t)st.st_size);
        CHECK(body_eq(r, &want));
        CHECK_EQ(r->content_length, (int64_t)st.st_size);
    }
    r = fetch(&s, "/nope", NULL);
    CHECK(r != NULL);
    if (r != NULL)
        CHECK_EQ(r->status, 404);
    /* HEAD: the GET's content-length, no body (RFC 9110 §9.3.2). */
    ho_http_header head[] = {{{":method", 7}, {"HEAD", 4}},
                             {{":scheme", 7}, {"https", 5}},
                             {{":authority", 10}, {"localhost", 9}},
                             {{":path", 5}, {"/static/app.js", 14}}};
    resp_set rs = {.n = 1};
    CHECK_EQ(ho_h3_client_request(s.h3[0], head, 4, &rs.r[0]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(5)));
    if (rs.r[0] != NULL) {
        CHECK_EQ(rs.r[0]->status, 200);
        CHECK(rs.r[0]->complete);
        CHECK_EQ(rs.r[0]->content_length, 204800);
        CHECK_EQ(rs.r[0]->body.len, 0);
    }
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), 5);
    CHECK_EQ(ho_h3_error(s.h3[0]), 0);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]));

    /* GOAWAY (RFC 9114 §5.2), then a clean H3_NO_ERROR close. */
    CHECK_EQ(ho_h3_shutdown(s.h3[1]), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(200));
    CHECK(ho_h3_goaway_received(s.h3[0]));
    ho_h3_response *late = NULL;
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/baseline2?a=1&b=1", NULL, &late), HO_ERR_CLOSED);
    CHECK_EQ(ho_h3_active_streams(s.h3[1]), 0);
    ho_quic_conn_close(s.p.conn[1], HO_H3_NO_ERROR, "", s.p.now);
    run(&s, NULL, NULL, HO_QUIC_SEC(5));
    bool is_app = false, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[0], &is_app, &by_peer), HO_H3_NO_ERROR);
    CHECK(is_app && by_peer);
    ho_buf_free(&want);
    sim_free(&s);
}

static void test_concurrent(void)
{
    sim s;
    if (!start(&s, 0, 2))
        return;
    resp_set rs = {.n = 20};
    char path[20][64];
    for (int i = 0; i < 20; i++) {
        snprintf(path[i], sizeof(path[i]), "/baseline2?a=%d&b=%d", i, 1000);
        CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", path[i], NULL, &rs.r[i]), HO_OK);
    }
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(20)));
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        char want[16];
        snprintf(want, sizeof(want), "%d", i + 1000);
        if (rs.r[i] != NULL && rs.r[i]->status == 200 && rs.r[i]->body.len == strlen(want) &&
            memcmp(rs.r[i]->body.data, want, strlen(want)) == 0)
            ok++;
    }
    CHECK_EQ(ok, 20);
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), 20);
    CHECK_EQ(ho_h3_active_streams(s.h3[1]), 0);
    CHECK_EQ(ho_h3_active_streams(s.h3[0]), 0);
    sim_free(&s);
}

static void test_loss(void)
{
    sim s;
    if (!start(&s, 10, 77))
        return;
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/static/components.css", NULL, &want, &dr);
    CHECK_EQ(want.len, 204800);
    resp_set rs = {.n = 2};
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/components.css", NULL, &rs.r[0]), HO_OK);
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/app.js", "identity", &rs.r[1]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(60)));
    CHECK(s.p.dropped > 0);
    if (rs.r[0] != NULL) {
        CHECK_EQ(rs.r[0]->status, 200);
        CHECK(rs.r[0]->complete);
        CHECK(body_eq(rs.r[0], &want));
    }
    direct("/static/app.js", "Accept-Encoding: identity\r\n", &want, &dr);
    if (rs.r[1] != NULL) {
        CHECK(rs.r[1]->complete);
        CHECK_EQ(rs.r[1]->body.len, 204800);
        CHECK(body_eq(rs.r[1], &want));
    }
    fprintf(stderr, "10%% loss: %llu datagrams dropped\n", (unsigned long long)s.p.dropped);
    ho_buf_free(&want);
    sim_free(&s);
}

/* A 4 kB QUIC send buffer per stream: the response stalls on a full
 * buffer again and again (nghttp3_conn_block_stream) and resumes from the
 * writable callback. */
static void test_small_send_buffer(void)
{
    sim s;
    sim_init(&s, 0, 6);
    s.p.scfg.stream_send_buffer = 4096;
    CHECK(run(&s, hs_done, NULL, HO_QUIC_SEC(10)));
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/static/app.js", NULL, &want, &dr);
    resp_set rs = {.n = 3};
    for (size_t i = 0; i < rs.n; i++)
        CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/app.js", NULL, &rs.r[i]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(30)));
    for (size_t i = 0; i < rs.n; i++)
        if (rs.r[i] != NULL) {
            CHECK(rs.r[i]->complete);
            CHECK_EQ(rs.r[i]->body.len, 204800);
            CHECK(body_eq(rs.r[i], &want));
        }
    CHECK_EQ(ho_h3_active_streams(s.h3[1]), 0);
    ho_buf_free(&want);
    sim_free(&s);
}

/* A static body (the arena's file) is sent by reference: while most of it
 * is buffered in the server's QUIC stream, the stream's ring holds only
 * the copied frame headers. */
typedef struct held_probe {
    bool seen;
    uint64_t held, ring_bytes;
    size_t segs;
} held_probe;

static bool body_held(sim *s, void *arg)
{
    held_probe *hp = arg;
    ho_quic_stream *st = s->p.conn[1] != NULL ? ho_quic_stream_find(s->p.conn[1], 0) : NULL;
    if (st == NULL || st->tx.end - st->tx.base < 100000)
        return false;
    hp->seen = true;
    hp->held = st->tx.end - st->tx.base;
    hp->ring_bytes = st->tx.ring_end - st->tx.ring_base;
    hp->segs = st->tx.nseg - st->tx.seg_first;
    return true;
}

static void test_static_by_reference(void)
{
    sim s;
    if (!start(&s, 0, 5))
        return;
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/static/app.js", "Accept-Encoding: identity\r\n", &want, &dr);
    resp_set rs = {.n = 1};
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/app.js", "identity", &rs.r[0]), HO_OK);
    held_probe hp = {0};
    CHECK(run(&s, body_held, &hp, HO_QUIC_SEC(10)));
    CHECK(hp.seen);
    CHECK(hp.ring_bytes < 1024); /* HEADERS and the DATA frame header only */
    CHECK(hp.segs >= 2);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(30)));
    if (rs.r[0] != NULL) {
        CHECK(rs.r[0]->complete);
        CHECK(body_eq(rs.r[0], &want));
    }
    fprintf(stderr, "static body by reference: %llu bytes held, %llu in the ring, %zu segments\n",
            (unsigned long long)hp.held, (unsigned long long)hp.ring_bytes, hp.segs);
    ho_buf_free(&want);
    sim_free(&s);
}

static ho_http_header hf(const char *n, const char *v) { return (ho_http_header){{n, strlen(n)}, {v, strlen(v)}}; }

/* RFC 9114 §4.1.2: a malformed request is a stream error H3_MESSAGE_ERROR. */
static void test_malformed(void)
{
    sim s;
    if (!start(&s, 0, 3))
        return;
    resp_set rs = {.n = 5};
    ho_http_header nopath[] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost")};
    CHECK_EQ(ho_h3_client_request(s.h3[0], nopath, 3, &rs.r[0]), HO_OK);
    /* §4.2: connection-specific fields are malformed. */
    ho_http_header conn_hdr[] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost"),
                                 hf(":path", "/baseline2?a=1&b=1"), hf("connection", "keep-alive")};
    CHECK_EQ(ho_h3_client_request(s.h3[0], conn_hdr, 5, &rs.r[1]), HO_OK);
    /* §4.1.2: content-length that does not match the DATA received. */
    ho_http_header cl[] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost"),
                           hf(":path", "/"), hf("content-length", "10")};
    CHECK_EQ(ho_h3_client_request(s.h3[0], cl, 5, &rs.r[2]), HO_OK);
    /* §4.2: TE other than "trailers". */
    ho_http_header te[] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost"),
                           hf(":path", "/"), hf("te", "gzip")};
    CHECK_EQ(ho_h3_client_request(s.h3[0], te, 5, &rs.r[3]), HO_OK);
    /* §4.3: a pseudo-header after a regular field. */
    ho_http_header late[] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost"),
                             hf("x-a", "1"), hf(":path", "/")};
    CHECK_EQ(ho_h3_client_request(s.h3[0], late, 5, &rs.r[4]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(10)));
    for (size_t i = 0; i < rs.n; i++) {
        if (!rs.r[i]->reset)
            fprintf(stderr, "malformed request %zu was answered %d\n", i, rs.r[i]->status);
        CHECK(rs.r[i]->reset);
        CHECK_EQ(rs.r[i]->reset_code, HO_H3_MESSAGE_ERROR);
        CHECK_EQ(rs.r[i]->status, 0);
    }
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), 0);
    /* The connection keeps serving. */
    ho_h3_response *r = fetch(&s, "/baseline2?a=40&b=2", NULL);
    CHECK(r != NULL);
    if (r != NULL) {
        CHECK_EQ(r->status, 200);
        CHECK(r->body.len == 2 && memcmp(r->body.data, "42", 2) == 0);
    }
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);

    /* §4.2: an uppercase field name (nghttp3's encoder would lowercase it,
     * so the HEADERS frame is written by hand: QPACK prefix 0 0, :method
     * GET, :scheme https, :path "/", :authority "localhost", then a
     * literal "X-Up: 1"). */
    static const uint8_t fs[] = {0x00, 0x00, 0xd1, 0xd7, 0xc1, 0x50, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
                                 0x24, 'X', '-', 'U', 'p', 0x01, '1'};
    uint8_t frame[64] = {0x01, (uint8_t)sizeof(fs)};
    memcpy(frame + 2, fs, sizeof(fs));
    size_t w = 0;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, frame, 2 + sizeof(fs), true, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(300));
    CHECK_EQ(s.raw_reset, HO_H3_MESSAGE_ERROR);
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), 1);
    /* RFC 9114 §10.3: a field value with a line feed MUST be treated as
     * malformed. KNOWN GAP: nghttp3 0.8 drops such a field before the
     * recv_header callback (NGHTTP3_ERR_REMOVE_HTTP_HEADER inside the
     * library) and the request is served without it, so h3.c cannot see it.
     * Checked here: it is reset, or served (the gap) and the connection
     * survives; only the reset is what the RFC asks for. */
    static const uint8_t fs2[] = {0x00, 0x00, 0xd1, 0xd7, 0xc1, 0x50, 9, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's',
                                  't', 0x23, 'x', '-', 'a', 0x03, '1', '\n', '2'};
    frame[1] = (uint8_t)sizeof(fs2);
    memcpy(frame + 2, fs2, sizeof(fs2));
    s.raw_reset = 0;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, frame, 2 + sizeof(fs2), true, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(300));
    CHECK(s.raw_reset == HO_H3_MESSAGE_ERROR || ho_h3_requests_served(s.h3[1]) == 2);
    if (s.raw_reset != HO_H3_MESSAGE_ERROR)
        fprintf(stderr, "known gap: a field value with LF was dropped by nghttp3, not rejected (RFC 9114 §10.3)\n");
    r = fetch(&s, "/baseline2?a=1&b=1", NULL);
    CHECK(r != NULL && r->status == 200);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    sim_free(&s);
}

static bool got_some(sim *s, void *arg)
{
    (void)s;
    ho_h3_response *r = arg;
    return r->body.len > 0 || r->complete;
}

static bool both_started(sim *s, void *arg)
{
    (void)s;
    ho_h3_response **r = arg;
    return r[0]->status != 0 && r[1]->status != 0;
}

static bool settled(sim *s, void *arg)
{
    (void)arg;
    return ho_h3_active_streams(s->h3[1]) == 0 && ho_quic_conn_send_settled(s->p.conn[QP_SERVER]);
}

/* A graceful stop with requests in flight (RFC 9114 §5.2): the server's
 * GOAWAY names the first stream it will not process; the two requests
 * below it are answered in full, one the client sent before the GOAWAY
 * reached it is refused with H3_REQUEST_REJECTED, and the client opens no
 * new one. The connection then closes with H3_NO_ERROR, nothing lost. */
static void test_goaway_in_flight(void)
{
    sim s;
    if (!start(&s, 0, 11))
        return;
    ho_h3_response *r[3] = {NULL, NULL, NULL};
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/vendor.js", NULL, &r[0]), HO_OK);
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/app.js", NULL, &r[1]), HO_OK);
    if (r[0] == NULL || r[1] == NULL) {
        sim_free(&s);
        return;
    }
    CHECK(run(&s, both_started, r, HO_QUIC_SEC(5)));
    /* Still in flight (the bodies may all be queued in QUIC already). */
    CHECK(!r[0]->complete && !r[1]->complete);
    CHECK(!ho_quic_conn_send_settled(s.p.conn[QP_SERVER]));
    CHECK_EQ(ho_h3_shutdown(s.h3[1]), HO_OK);
    /* Sent before the GOAWAY arrives: on a stream at or above its ID. */
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/baseline2?a=1&b=2", NULL, &r[2]), HO_OK);
    CHECK(!ho_h3_goaway_received(s.h3[0]));
    resp_set rs = {.r = {r[0], r[1], r[2]}, .n = 3};
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(20)));
    CHECK(ho_h3_goaway_received(s.h3[0]));
    /* §5.2: the first client-initiated bidirectional stream not processed:
     * the two requests were on streams 0 and 4, the refused one on 8. */
    CHECK_EQ(ho_h3_goaway_id(s.h3[0]), 8);
    CHECK_EQ(r[0]->stream_id, 0);
    CHECK_EQ(r[1]->stream_id, 4);
    if (r[2] != NULL) {
        CHECK_EQ(r[2]->stream_id, 8);
        CHECK(r[2]->reset);
        CHECK_EQ(r[2]->reset_code, HO_H3_REQUEST_REJECTED);
        CHECK_EQ(r[2]->status, 0);
    }
    CHECK(r[0]->complete && r[0]->status == 200 && r[0]->body.len == 307200);
    CHECK(r[1]->complete && r[1]->status == 200 && r[1]->body.len == 204800);
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), 2);
    /* No new request after the GOAWAY. */
    ho_h3_response *late = NULL;
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/baseline2?a=1&b=1", NULL, &late), HO_ERR_CLOSED);
    /* What the server's stop waits for (src/io/quic_server.c): no request
     * in progress and everything it sent acknowledged. */
    CHECK(run(&s, settled, NULL, HO_QUIC_SEC(5)));
    CHECK_EQ(ho_h3_error(s.h3[0]), 0);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    ho_quic_conn_close(s.p.conn[QP_SERVER], HO_H3_NO_ERROR, "shutdown", s.p.now);
    run(&s, NULL, NULL, HO_QUIC_SEC(5));
    bool is_app = false, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[QP_CLIENT], &is_app, &by_peer), HO_H3_NO_ERROR);
    CHECK(is_app && by_peer);
    sim_free(&s);
}

/* RFC 9114 §4.1.1: the client abandons a large response mid-way: the server
 * stops sending (STOP_SENDING answered with RESET_STREAM), forgets the
 * stream, and the connection keeps serving. */
static void test_cancel(void)
{
    sim s;
    if (!start(&s, 0, 5))
        return;
    ho_h3_response *big = NULL;
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/components.css", NULL, &big), HO_OK);
    CHECK(big != NULL && run(&s, got_some, big, HO_QUIC_SEC(5)));
    if (big == NULL)
        return;
    CHECK(!big->complete);
    CHECK_EQ(big->status, 200);
    CHECK_EQ(ho_h3_client_cancel(s.h3[0], big), HO_OK);
    CHECK(big->reset);
    size_t got = big->body.len;
    run(&s, NULL, NULL, HO_QUIC_MS(300));
    CHECK_EQ(big->body.len, got);
    CHECK(got < 204800);
    CHECK_EQ(ho_h3_active_streams(s.h3[1]), 0);
    CHECK_EQ(ho_h3_active_streams(s.h3[0]), 0);
    ho_h3_response *r = fetch(&s, "/baseline2?a=2&b=3", NULL);
    CHECK(r != NULL && r->status == 200 && r->body.len == 1 && r->body.data[0] == '5');
    CHECK_EQ(ho_h3_error(s.h3[0]), 0);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

/* ho_h3_client_release: a connection that carries many requests (a load
 * generator keeping S in flight) frees each response once read. 600 GETs,
 * 8 in flight, across several MAX_STREAMS renewals: every answer right, and
 * the heap does not grow with the count (without the release every
 * response lives until ho_h3_free). Releasing a response still in progress
 * cancels it and the connection goes on serving. */
static bool any_done(sim *s, void *arg)
{
    (void)s;
    resp_set *rs = arg;
    for (size_t i = 0; i < rs->n; i++)
        if (rs->r[i] != NULL && (rs->r[i]->complete || rs->r[i]->reset))
            return true;
    return false;
}

static void test_client_release(void)
{
    sim s;
    if (!start(&s, 0, 21))
        return;
    enum { INFLIGHT = 8, TOTAL = 600 };
    resp_set rs = {.n = INFLIGHT};
    int want[INFLIGHT] = {0};
    int submitted = 0, ok = 0, bad = 0, rounds = 0;
    size_t heap_mid = 0, heap_end = 0;
    while (ok + bad < TOTAL && rounds++ < 100000) {
        for (size_t i = 0; i < INFLIGHT; i++) {
            ho_h3_response *r = rs.r[i];
            if (r != NULL && (r->complete || r->reset)) {
                char exp[16];
                snprintf(exp, sizeof(exp), "%d", want[i]);
                if (r->complete && r->status == 200 && r->body.len == strlen(exp) &&
                    memcmp(r->body.data, exp, strlen(exp)) == 0)
                    ok++;
                else
                    bad++;
                CHECK_EQ(ho_h3_client_release(s.h3[0], r), HO_OK);
                rs.r[i] = NULL;
            }
            if (rs.r[i] == NULL && submitted < TOTAL) {
                char path[64];
                snprintf(path, sizeof(path), "/baseline2?a=%d&b=1", submitted);
                int e = ho_h3_client_get(s.h3[0], "localhost", path, NULL, &rs.r[i]);
                if (e != HO_OK) {
                    rs.r[i] = NULL;
                    CHECK_EQ(e, HO_ERR_WOULD_BLOCK); /* no stream credit yet: MAX_STREAMS comes */
                    continue;
                }
                want[i] = submitted + 1;
                submitted++;
            }
        }
        if (heap_mid == 0 && ok + bad >= 100)
            heap_mid = mallinfo2().uordblks;
        run(&s, any_done, &rs, HO_QUIC_MS(100));
    }
    heap_end = mallinfo2().uordblks;
    CHECK_EQ(ok, TOTAL);
    CHECK_EQ(bad, 0);
    CHECK_EQ(ho_h3_requests_served(s.h3[1]), TOTAL);
    /* 500 more responses held would be > 500 * sizeof(ho_h3_response). */
    CHECK(heap_end < heap_mid + 100 * sizeof(ho_h3_response));
    if (heap_end >= heap_mid + 100 * sizeof(ho_h3_response))
        fprintf(stderr, "heap grew from %zu to %zu bytes\n", heap_mid, heap_end);

    /* In progress: release cancels (STOP_SENDING / RESET_STREAM). */
    ho_h3_response *big = NULL;
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/static/components.css", NULL, &big), HO_OK);
    CHECK(big != NULL && run(&s, got_some, big, HO_QUIC_SEC(5)));
    if (big != NULL) {
        CHECK(!big->complete);
        CHECK_EQ(ho_h3_client_release(s.h3[0], big), HO_OK);
    }
    run(&s, NULL, NULL, HO_QUIC_MS(300)); /* the rest of its data arrives for no one */
    CHECK_EQ(ho_h3_active_streams(s.h3[1]), 0);
    CHECK_EQ(ho_h3_active_streams(s.h3[0]), 0);
    ho_h3_response *r = fetch(&s, "/baseline2?a=2&b=3", NULL);
    CHECK(r != NULL && r->status == 200 && r->body.len == 1 && r->body.data[0] == '5');
    if (r != NULL)
        CHECK_EQ(ho_h3_client_release(s.h3[0], r), HO_OK);
    /* Bad arguments. */
    CHECK_EQ(ho_h3_client_release(s.h3[0], NULL), HO_ERR_INVALID_ARG);
    ho_h3_response stranger = {0};
    CHECK_EQ(ho_h3_client_release(s.h3[0], &stranger), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_h3_client_release(s.h3[1], &stranger), HO_ERR_INVALID_ARG); /* a server */
    CHECK_EQ(ho_h3_error(s.h3[0]), 0);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[0]));
    sim_free(&s);
}

/* RFC 9114 §4.1: DATA before HEADERS on a request stream is a connection
 * error H3_FRAME_UNEXPECTED; §8.1: the QUIC connection closes with it. And
 * random bytes as a request must never crash, only close with an H3 code. */
static void test_frame_errors(void)
{
    sim s;
    if (!start(&s, 0, 9))
        return;
    static const uint8_t data_first[] = {0x00, 0x01, 'x'};
    size_t w = 0;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, data_first, sizeof(data_first), true, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_SEC(3));
    CHECK_EQ(ho_h3_error(s.h3[1]), HO_H3_FRAME_UNEXPECTED);
    bool is_app = false, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[0], &is_app, &by_peer), HO_H3_FRAME_UNEXPECTED);
    CHECK(is_app && by_peer);
    sim_free(&s);

    int closed = 0, served = 0;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        if (!start(&s, 0, 100 + seed))
            return;
        uint8_t junk[300];
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (uint8_t)quic_pair_rand(&s.p);
        junk[0] = (uint8_t)(seed % 3 == 0 ? 0x01 : junk[0]); /* some start like HEADERS */
        CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
        ho_quic_stream_write(s.p.conn[0], s.raw_id, junk, 1 + quic_pair_rand(&s.p) % sizeof(junk), true, &w);
        run(&s, NULL, NULL, HO_QUIC_SEC(2));
        uint64_t e = ho_h3_error(s.h3[1]);
        CHECK(e == 0 || (e >= 0x100 && e <= 0x110) || (e >= 0x200 && e <= 0x202));
        if (e != 0)
            closed++;
        else {
            /* Not a connection error: the connection still serves. */
            ho_h3_response *r = fetch(&s, "/baseline2?a=1&b=1", NULL);
            CHECK(r != NULL && r->status == 200);
            served++;
        }
        sim_free(&s);
    }
    fprintf(stderr, "random request bytes: %d connection errors, %d connections still serving\n", closed, served);
}

/* ---- field-section limit (issue 12 item 5) -------------------------------- */

/* A GET of /baseline2?a=1&b=1 with one more field "x-big" whose value makes
 * the RFC 9114 §4.2.2 size of the section exactly `size` (name + value + 32
 * per field); value_len instead when size is 0. */
static int big_request(sim *s, size_t size, size_t value_len, ho_h3_response **out)
{
    static char big[200000];
    memset(big, 'a', sizeof(big));
    ho_http_header f[5] = {hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "localhost"),
                           hf(":path", "/baseline2?a=1&b=1"), hf("x-big", "")};
    size_t base = 0;
    for (int i = 0; i < 5; i++)
        base += f[i].name.len + f[i].value.len + 32;
    size_t vlen = size != 0 ? size - base : value_len;
    if (vlen >= sizeof(big))
        return HO_ERR_INVALID_ARG;
    f[4].value = (ho_http_str){big, vlen};
    return ho_h3_client_request(s->h3[0], f, 5, out);
}

static void test_field_section_limit(void)
{
    sim s;
    if (!start(&s, 0, 21))
        return;
    ho_h3_response *r = fetch(&s, "/baseline2?a=1&b=1", NULL);
    CHECK(r != NULL && r->status == 200);
    /* At the limit we announce (16384): served; one byte over: 431 for that
     * request only, while a normal request in flight at the same time on
     * the same connection is answered. */
    resp_set rs = {.n = 4};
    CHECK_EQ(big_request(&s, 16384, 0, &rs.r[0]), HO_OK);
    CHECK_EQ(big_request(&s, 16385, 0, &rs.r[1]), HO_OK);
    CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/baseline2?a=2&b=3", NULL, &rs.r[2]), HO_OK);
    /* ~80 KB: used to be served (200) although over the limit. */
    CHECK_EQ(big_request(&s, 0, 80000, &rs.r[3]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(20)));
    CHECK_EQ(rs.r[0]->status, 200);
    CHECK_EQ(rs.r[1]->status, 431);
    CHECK(!rs.r[1]->reset);
    CHECK_EQ(rs.r[2]->status, 200);
    CHECK(rs.r[2]->body.len == 1 && rs.r[2]->body.data[0] == '5');
    /* An 80,000-byte value encodes in a HEADERS frame over 32 KiB: refused
     * before decoding with H3_REQUEST_REJECTED (or 431 if the encoder's
     * Huffman squeezed it under the frame bound). */
    CHECK((rs.r[3]->reset && rs.r[3]->reset_code == HO_H3_REQUEST_REJECTED) || rs.r[3]->status == 431);
    /* ~100 KB: used to close the connection (H3_GENERAL_PROTOCOL_ERROR). */
    ho_h3_response *huge = NULL;
    CHECK_EQ(big_request(&s, 0, 150000, &huge), HO_OK);
    resp_set one = {.n = 1, .r = {huge}};
    CHECK(run(&s, all_done, &one, HO_QUIC_SEC(20)));
    CHECK(huge->reset);
    CHECK_EQ(huge->reset_code, HO_H3_REQUEST_REJECTED);
    CHECK_EQ(huge->status, 0);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));

    /* A HEADERS frame announcing 1 GiB, of which only a few bytes come: the
     * stream is refused at its frame header, nothing of it buffered. */
    static const uint8_t hdr[] = {0x01, 0xc0, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 'x', 'y'};
    size_t w = 0;
    s.raw_reset = 0;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, hdr, sizeof(hdr), false, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(300));
    CHECK_EQ(s.raw_reset, HO_H3_REQUEST_REJECTED);
    /* The frame header split over two writes (and two reads). */
    static const uint8_t hdr2[] = {0x01, 0x80, 0x01, 0x00, 0x00}; /* length 65536 */
    s.raw_reset = 0;
    CHECK_EQ(ho_quic_stream_open(s.p.conn[0], true, &s.raw_id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, hdr2, 2, false, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(100));
    CHECK_EQ(s.raw_reset, 0);
    CHECK_EQ(ho_quic_stream_write(s.p.conn[0], s.raw_id, hdr2 + 2, sizeof(hdr2) - 2, false, &w), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(300));
    CHECK_EQ(s.raw_reset, HO_H3_REQUEST_REJECTED);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);

    /* After all that, the same connection still answers. */
    r = fetch(&s, "/baseline2?a=40&b=2", NULL);
    CHECK(r != NULL && r->status == 200);
    if (r != NULL)
        CHECK(r->body.len == 2 && memcmp(r->body.data, "42", 2) == 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));
    sim_free(&s);
}

/* ---- memory bounds (issue 12, item 1) ------------------------------------- */

/* A POST of `len` bytes to /upload on a new client stream written by hand
 * (HEADERS with the QPACK static table and literals, one DATA frame). */
static int raw_post(sim *s, size_t len, uint64_t *id)
{
    static uint8_t zero[1 << 20];
    char cl[24];
    int cln = snprintf(cl, sizeof(cl), "%zu", len);
    uint8_t f[128];
    size_t n = 0;
    f[n++] = 0x01; /* HEADERS */
    f[n++] = 0;    /* its length, below */
    f[n++] = 0, f[n++] = 0; /* Required Insert Count, Base (RFC 9204 §4.5.1) */
    f[n++] = 0xc0 | 20;     /* :method POST (Appendix A) */
    f[n++] = 0xc0 | 23;     /* :scheme https */
    f[n++] = 0x50 | 0, f[n++] = 9;
    memcpy(f + n, "localhost", 9), n += 9; /* :authority */
    f[n++] = 0x50 | 1, f[n++] = 7;
    memcpy(f + n, "/upload", 7), n += 7; /* :path */
    f[n++] = 0x50 | 4, f[n++] = (uint8_t)cln;
    memcpy(f + n, cl, (size_t)cln), n += (size_t)cln; /* content-length */
    f[1] = (uint8_t)(n - 2);
    f[n++] = 0x00; /* DATA, 4-byte length */
    f[n++] = (uint8_t)(0x80 | len >> 24), f[n++] = (uint8_t)(len >> 16), f[n++] = (uint8_t)(len >> 8);
    f[n++] = (uint8_t)len;
    size_t w;
    int rc = ho_quic_stream_open(s->p.conn[0], true, id);
    if (rc == HO_OK)
        rc = ho_quic_stream_write(s->p.conn[0], *id, f, n, false, &w);
    if (rc == HO_OK && len <= sizeof(zero))
        rc = ho_quic_stream_write(s->p.conn[0], *id, zero, len, true, &w);
    return rc == HO_OK && w == len ? HO_OK : HO_ERR_INTERNAL;
}

typedef struct raw_set {
    uint64_t id[64];
    ho_buf got[64];
    bool fin[64], reset[64];
    size_t n;
} raw_set;

/* Reads the raw streams' responses as they come; done when all have ended
 * (FIN, or reset by the server). */
static bool raw_all_done(sim *s, void *arg)
{
    raw_set *rs = arg;
    bool all = true;
    for (size_t i = 0; i < rs->n; i++) {
        uint8_t buf[4096];
        size_t n;
        bool fin = false;
        int rc;
        while (!rs->fin[i] && !rs->reset[i] &&
               (rc = ho_quic_stream_read(s->p.conn[0], rs->id[i], buf, sizeof(buf), &n, &fin)) == HO_OK &&
               (n > 0 || fin)) {
            ho_put_bytes(&rs->got[i], buf, n);
            rs->fin[i] = fin;
        }
        ho_quic_stream *st = ho_quic_stream_find(s->p.conn[0], rs->id[i]);
        if (!rs->fin[i] && (st == NULL || st->reset_received))
            rs->reset[i] = true;
        all = all && (rs->fin[i] || rs->reset[i]);
    }
    return all;
}

/* The response of /upload: HEADERS with :status 200 (static index 25,
 * RFC 9204 Appendix A) and then a DATA frame of the decimal count. */
static bool upload_answer_is(const ho_buf *got, size_t len)
{
    char want[24];
    int n = snprintf(want, sizeof(want), "%zu", len);
    if (got->len < 5 + (size_t)n || got->data[0] != 0x01 || got->data[4] != (0xc0 | 25))
        return false;
    const uint8_t *tail = got->data + got->len - (size_t)n;
    return tail[-2] == 0x00 && tail[-1] == (uint8_t)n && memcmp(tail, want, (size_t)n) == 0;
}

/* Request bodies over HTTP/3: the service's max_body per request (over it:
 * that request refused, the connection serving on), and 14 bodies of
 * 300 kB at once (4.2 MB): the connection never buffers more than its
 * 1 MiB budget plus one body (docs/RELIABILITY.md); the requests over the
 * budget are refused with H3_REQUEST_REJECTED, the others answered, and
 * sent again one at a time they are all answered. */
static void test_request_bodies_bounded(void)
{
    sim s;
    if (!start(&s, 0, 31))
        return;
    CHECK_EQ(ho_h3_set_max_body(s.h3[1], 400000), HO_OK);
    CHECK_EQ(ho_h3_set_max_body(s.h3[0], 400000), HO_ERR_INVALID_ARG);
    s.raw_from = 0;
    raw_set rs = {.n = 14};
    for (size_t i = 0; i < rs.n; i++) {
        ho_buf_init(&rs.got[i]);
        CHECK_EQ(raw_post(&s, 300000, &rs.id[i]), HO_OK);
    }
    CHECK(run(&s, raw_all_done, &rs, HO_QUIC_SEC(60)));
    size_t ok = 0, refused = 0;
    for (size_t i = 0; i < rs.n; i++) {
        if (rs.fin[i]) {
            CHECK(upload_answer_is(&rs.got[i], 300000));
            ok++;
        } else {
            refused++;
        }
    }
    fprintf(stderr, "14 x 300 kB POST at once: %zu answered, %zu refused; request bodies held at most %zu bytes\n",
            ok, refused, s.max_bodies);
    CHECK(ok >= 3);
    CHECK(refused > 0);
    CHECK(s.max_bodies > 0);
    CHECK(s.max_bodies <= (1u << 20) + 400000);
    size_t bodies, out;
    ho_h3_held(s.h3[1], &bodies, &out);
    CHECK_EQ(bodies, 0);
    for (size_t i = 0; i < 4; i++) {
        raw_set seq = {.n = 1};
        ho_buf_init(&seq.got[0]);
        CHECK_EQ(raw_post(&s, 300000, &seq.id[0]), HO_OK);
        CHECK(run(&s, raw_all_done, &seq, HO_QUIC_SEC(20)));
        CHECK(seq.fin[0] && upload_answer_is(&seq.got[0], 300000));
        ho_buf_free(&seq.got[0]);
    }

    /* max_body: 400000 is taken, 400001 refused (RFC 9114 §4.1.1). */
    raw_set one = {.n = 1};
    ho_buf_init(&one.got[0]);
    CHECK_EQ(raw_post(&s, 400000, &one.id[0]), HO_OK);
    CHECK(run(&s, raw_all_done, &one, HO_QUIC_SEC(20)));
    CHECK(upload_answer_is(&one.got[0], 400000));
    s.raw_reset = 0;
    uint64_t id;
    CHECK_EQ(raw_post(&s, 400001, &id), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_MS(500));
    CHECK_EQ(s.raw_reset, HO_H3_REQUEST_REJECTED);
    CHECK_EQ(ho_h3_error(s.h3[1]), 0);
    CHECK(!ho_quic_conn_is_closing(s.p.conn[1]));
    for (size_t i = 0; i < rs.n; i++)
        ho_buf_free(&rs.got[i]);
    ho_buf_free(&one.got[0]);
    sim_free(&s);
}

/* Generated bodies: 60 GETs of an 8 kB /json at once are all answered
 * byte-equal, while the connection holds at most 256 KiB of them plus one
 * (the rest wait to be dispatched). */
static void test_generated_responses_bounded(void)
{
    sim s;
    if (!start(&s, 0, 32))
        return;
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/json/50?m=3", NULL, &want, &dr);
    resp_set rs = {.n = 60};
    for (size_t i = 0; i < rs.n; i++)
        CHECK_EQ(ho_h3_client_get(s.h3[0], "localhost", "/json/50?m=3", NULL, &rs.r[i]), HO_OK);
    CHECK(run(&s, all_done, &rs, HO_QUIC_SEC(60)));
    for (size_t i = 0; i < rs.n; i++)
        CHECK(rs.r[i] != NULL && rs.r[i]->status == 200 && body_eq(rs.r[i], &want));
    fprintf(stderr, "60 x %zu B generated: held at most %zu bytes\n", want.len, s.max_out);
    CHECK(want.len * rs.n > (256u << 10)); /* the mark is reached */
    CHECK(s.max_out >= (256u << 10));
    CHECK(s.max_out <= (256u << 10) + want.len);
    /* Every body was released (acknowledged) by the end. */
    run(&s, NULL, NULL, HO_QUIC_MS(500));
    size_t bodies, out;
    ho_h3_held(s.h3[1], &bodies, &out);
    CHECK_EQ(out, 0);
    ho_buf_free(&want);
    sim_free(&s);
}

/* RFC 9114 §6.2.1: closing a control stream is H3_CLOSED_CRITICAL_STREAM. */
static void test_critical_stream(void)
{
    sim s;
    if (!start(&s, 0, 4))
        return;
    CHECK(fetch(&s, "/baseline2?a=1&b=1", NULL) != NULL);
    /* The client's control stream is its first uni stream (id 2): reset it. */
    CHECK_EQ(ho_quic_stream_reset(s.p.conn[0], 2, HO_H3_NO_ERROR), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_SEC(3));
    CHECK_EQ(ho_h3_error(s.h3[1]), HO_H3_CLOSED_CRITICAL_STREAM);
    bool is_app = false, by_peer = true;
    CHECK_EQ(ho_quic_conn_close_code(s.p.conn[1], &is_app, &by_peer), HO_H3_CLOSED_CRITICAL_STREAM);
    CHECK(is_app && !by_peer);
    CHECK(ho_quic_conn_is_closing(s.p.conn[0]) || ho_quic_conn_is_closed(s.p.conn[0]));
    sim_free(&s);

    /* STOP_SENDING on the server's control stream (its first uni stream,
     * id 3): the QUIC layer resets it, which closes a critical stream. */
    if (!start(&s, 0, 8))
        return;
    CHECK(fetch(&s, "/baseline2?a=1&b=1", NULL) != NULL);
    CHECK_EQ(ho_quic_stream_stop_sending(s.p.conn[0], 3, HO_H3_NO_ERROR), HO_OK);
    run(&s, NULL, NULL, HO_QUIC_SEC(3));
    CHECK_EQ(ho_h3_error(s.h3[1]), HO_H3_CLOSED_CRITICAL_STREAM);
    CHECK(ho_quic_conn_is_closing(s.p.conn[0]) || ho_quic_conn_is_closed(s.p.conn[0]));
    sim_free(&s);
}

/* ---- our client against gtlsserver --------------------------------------- */

static ho_h3_conn *udp_h3;
static void u_readable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_readable(udp_h3, id); }
static void u_writable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_writable(udp_h3, id); }
static void u_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    ho_h3_on_stream_reset(udp_h3, id, code, stop);
}

typedef struct fetch_sink {
    size_t bytes, calls, fail_after;
    bool status_seen;
} fetch_sink;

static int sink_fn(void *ctx, const ho_h3_response *r, const uint8_t *data, size_t len)
{
    fetch_sink *k = ctx;
    (void)data;
    k->status_seen = r->status == 200;
    k->bytes += len;
    k->calls++;
    return k->fail_after != 0 && k->bytes >= k->fail_after ? -1 : 0;
}

static void test_client_vs_gtlsserver(void)
{
    ho_test_gtls g;
    ho_tls_config *tls;
    if (!ho_test_gtls_client(&g, "h3", &tls))
        return;
    ho_quic_config cfg = {.tls = tls,
                          .server_name = "localhost",
                          .wall_clock_ms = (int64_t)time(NULL) * 1000,
                          .callbacks = {.stream_readable = u_readable, .stream_writable = u_writable,
                                        .stream_reset = u_reset}};
    ho_quic_conn *c = ho_quic_conn_new_client(&cfg, NULL, ho_test_mono_now());
    CHECK(c != NULL);
    udp_h3 = ho_h3_client_attach(c);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char authority[64];
    snprintf(authority, sizeof(authority), "127.0.0.1:%s", g.port_s);
    ho_h3_response *r[2] = {NULL, NULL};
    ho_quic_time deadline = ho_test_mono_now() + HO_QUIC_SEC(15);
    bool closed_sent = false;
    while (c != NULL && ho_test_mono_now() < deadline && !ho_quic_conn_is_closed(c)) {
        if (r[0] == NULL && ho_quic_conn_handshake_done(c)) {
            CHECK_EQ(ho_h3_client_get(udp_h3, authority, "/5000", NULL, &r[0]), HO_OK);
            CHECK_EQ(ho_h3_client_get(udp_h3, authority, "/300000", NULL, &r[1]), HO_OK);
        }
        bool done = r[0] != NULL && (r[0]->complete || r[0]->reset) && r[1] != NULL &&
                    (r[1]->complete || r[1]->reset);
        if (done && !closed_sent) {
            ho_quic_conn_close(c, HO_H3_NO_ERROR, "", ho_test_mono_now());
            closed_sent = true;
        }
        ho_h3_flush(udp_h3, ho_test_mono_now());
        ho_test_udp_conn_send(c, fd, (struct sockaddr *)&g.addr, sizeof(g.addr));
        if (closed_sent && ho_quic_conn_is_closing(c))
            break;
        ho_test_udp_wait(fd, ho_quic_conn_next_timeout(c));
        ho_test_udp_conn_recv(fd, &c, NULL, NULL);
        ho_test_conn_timeout(c);
    }
    CHECK(ho_quic_conn_handshake_confirmed(c));
    CHECK(r[0] != NULL && r[1] != NULL);
    if (r[0] != NULL && r[1] != NULL) {
        CHECK(r[0]->complete);
        CHECK_EQ(r[0]->status, 200);
        CHECK_EQ(r[0]->body.len, 5000);
        CHECK(r[1]->complete);
        CHECK_EQ(r[1]->status, 200);
        CHECK_EQ(r[1]->body.len, 300000);
        fprintf(stderr, "client vs gtlsserver: status %d/%d, bodies %zu/%zu, h3 error %llu\n", r[0]->status,
                r[1]->status, r[0]->body.len, r[1]->body.len, (unsigned long long)ho_h3_error(udp_h3));
    }
    CHECK_EQ(ho_h3_error(udp_h3), 0);

    /* ho_h3_fetch, the blocking one-shot client, against the same server. */
    ho_h3_fetch_opts fo = {.host = "127.0.0.1", .port = g.port_s, .server_name = "localhost", .path = "/7000",
                           .insecure = true, .timeout_ms = 10000};
    ho_h3_response fr;
    CHECK_EQ(ho_h3_fetch(&fo, &fr), HO_OK);
    CHECK_EQ(fr.status, 200);
    CHECK(fr.complete);
    CHECK_EQ(fr.body.len, 7000);
    ho_buf_free(&fr.body);
    /* A body sink: the bytes stream to on_body, out->body stays empty; a
     * failing sink aborts the fetch with HO_ERR_IO. */
    fetch_sink sink = {0};
    fo.path = "/300000";
    fo.on_body = sink_fn;
    fo.body_ctx = &sink;
    CHECK_EQ(ho_h3_fetch(&fo, &fr), HO_OK);
    CHECK_EQ(fr.status, 200);
    CHECK_EQ(fr.body.len, 0);
    CHECK_EQ(sink.bytes, 300000);
    CHECK(sink.calls > 1);
    CHECK(sink.status_seen);
    ho_buf_free(&fr.body);
    sink = (fetch_sink){.fail_after = 20000};
    CHECK_EQ(ho_h3_fetch(&fo, &fr), HO_ERR_IO);
    CHECK(sink.bytes >= 20000 && sink.bytes < 300000);
    ho_buf_free(&fr.body);
    fo.on_body = NULL;
    fo.path = "/7000";
    /* Nothing listening: an error, never a hang or a crash. */
    int freed_port = 0;
    close(ho_test_udp_socket(&freed_port));
    char dead_port[16];
    snprintf(dead_port, sizeof(dead_port), "%d", freed_port);
    fo.port = dead_port;
    fo.timeout_ms = 500;
    /* The ICMP port unreachable ends it with HO_ERR_REFUSED (not the timeout). */
    CHECK_EQ(ho_h3_fetch(&fo, &fr), HO_ERR_REFUSED);
    CHECK_EQ(fr.status, 0);
    ho_buf_free(&fr.body);
    ho_test_gtls_stop(&g);
    ho_h3_free(udp_h3);
    udp_h3 = NULL;
    ho_quic_conn_free(c);
    ho_tls_config_free(tls);
    close(fd);
}

/* ---- our server against gtlsclient ---------------------------------------- */

static ho_h3_conn *srv_h3;
static void s_readable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_readable(srv_h3, id); }
static void s_writable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_writable(srv_h3, id); }
static void s_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    ho_h3_on_stream_reset(srv_h3, id, code, stop);
}

static bool file_is(const char *path, const ho_buf *want)
{
    size_t size;
    return ho_test_file_match(path, want->data, want->len, &size) == (long)want->len && size == want->len;
}

static void test_server_vs_gtlsclient(void)
{
    ho_quic_config cfg = {
        .is_server = true,
        .tls = server_tls,
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.stream_readable = s_readable, .stream_writable = s_writable, .stream_reset = s_reset},
    };
    int port = 0;
    int fd = ho_test_udp_socket(&port);
    CHECK(fd >= 0);
    ho_test_gtlsclient g;
    static const char *const paths[] = {"/static/app.js", "/static/components.css", NULL};
    CHECK(ho_test_gtlsclient_start(&g, port, NULL, paths, true));
    ho_quic_conn *c = NULL;
    struct sockaddr_in peer;
    ho_quic_time deadline = ho_test_mono_now() + HO_QUIC_SEC(20);
    while (ho_test_mono_now() < deadline && !ho_test_gtlsclient_exited(&g)) {
        ho_test_udp_wait(fd, c != NULL ? ho_quic_conn_next_timeout(c) : HO_QUIC_TIME_NEVER);
        if (ho_test_udp_conn_recv(fd, &c, &cfg, &peer))
            srv_h3 = ho_h3_server_attach(c, router);
        if (c == NULL)
            continue;
        ho_test_conn_timeout(c);
        ho_h3_flush(srv_h3, ho_test_mono_now());
        ho_test_udp_conn_send(c, fd, (struct sockaddr *)&peer, sizeof(peer));
    }
    bool clean = ho_test_gtlsclient_stop(&g);
    CHECK(g.exited);
    CHECK(clean);
    CHECK(c != NULL && srv_h3 != NULL);
    if (srv_h3 != NULL) {
        CHECK_EQ(ho_h3_requests_served(srv_h3), 2);
        CHECK_EQ(ho_h3_error(srv_h3), 0);
    }
    ho_buf want;
    ho_buf_init(&want);
    ho_http_response dr;
    direct("/static/app.js", NULL, &want, &dr);
    CHECK(file_is(ho_test_gtlsclient_file(&g, "app.js"), &want));
    direct("/static/components.css", NULL, &want, &dr);
    CHECK(file_is(ho_test_gtlsclient_file(&g, "components.css"), &want));
    fprintf(stderr, "gtlsclient against our h3 server: exit %d, served %llu\n",
            ho_test_gtlsclient_exit_code(&g),
            srv_h3 != NULL ? (unsigned long long)ho_h3_requests_served(srv_h3) : 0ull);
    ho_buf_free(&want);
    ho_test_gtlsclient_cleanup(&g);
    ho_h3_free(srv_h3);
    srv_h3 = NULL;
    ho_quic_conn_free(c);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    make_tls();
    char err[256] = "";
    char dataset[512];
    snprintf(dataset, sizeof(dataset), "%s", ho_test_data("arena/dataset.json"));
    arena = app_arena_new(dataset, ho_test_data("arena/static"), err, sizeof(err));
    CHECK(arena != NULL);
    if (arena == NULL) {
        fprintf(stderr, "app_arena_new: %s\n", err);
        return ho_test_summary("test_h3");
    }
    router = ho_router_new();
    CHECK_EQ(app_arena_register(arena, router), HO_OK);
    RUN(test_basic_routes);
    RUN(test_concurrent);
    RUN(test_loss);
    RUN(test_small_send_buffer);
    RUN(test_static_by_reference);
    RUN(test_malformed);
    RUN(test_cancel);
    RUN(test_client_release);
    RUN(test_goaway_in_flight);
    RUN(test_critical_stream);
    RUN(test_frame_errors);
    RUN(test_field_section_limit);
    RUN(test_request_bodies_bounded);
    RUN(test_generated_responses_bounded);
    test_client_vs_gtlsserver(); /* a missing gtlsserver fails it */
    if (access("/usr/bin/gtlsclient", X_OK) == 0)
        RUN(test_server_vs_gtlsclient);
    else {
        fprintf(stderr, "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh)\n");
        CHECK(!"gtlsclient missing");
    }
    ho_router_free(router);
    app_arena_free(arena);
    ho_tls_config_free(server_tls);
    ho_tls_config_free(client_tls);
    return ho_test_summary("test_h3");
}
