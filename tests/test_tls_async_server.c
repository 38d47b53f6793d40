/* Asynchronous TLS callbacks in the TCP server (docs/ENGINE.md
 * "Asynchronous callbacks"): one connection's ClientHello callback answers
 * only after N other handshakes (and their requests) completed, then its
 * signature, likewise; both completions come from another thread. The
 * waiting connection holds no worker (with one worker and offload always,
 * the others still get through), the counters say so, and a connection
 * whose client left while it waited is freed once the application lets go. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "handoff/crypto.h"
#include "handoff/http.h"
#include "handoff/http_server.h"
#include "handoff/io.h"
#include "handoff/tls.h"

enum { OTHERS = 5 };
static const char hello_body[] = "hello, async\n";

static int hello(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx, (void)req;
    resp->content_type = "text/plain";
    ho_put_bytes(resp->body, hello_body, sizeof(hello_body) - 1);
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

/* ---- the application's other thread ------------------------------------ */

/* One pending operation: which, its connection, and the gate the test
 * opens when it wants the completion. */
typedef struct op {
    pthread_t thread;
    bool started;
    bool sign;
    bool fail;
    ho_tls *tls;
    const uint8_t *in;
    size_t in_len;
    uint16_t scheme;
    ho_privkey *key;
    int rc;
} op;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int gates_open;     /* ops[i] may complete once i < gates_open */
static op ops[8];
static int nops;
static ho_tls_config *named_cfg; /* the config for "async.test": signs through sign_later */

static void *op_main(void *arg)
{
    op *o = arg;
    int index = (int)(o - ops);
    pthread_mutex_lock(&lock);
    while (gates_open <= index)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    int rc;
    if (!o->sign) {
        rc = ho_tls_resume(o->tls, o->fail ? NULL : named_cfg,
                           o->fail ? HO_ERR_TLS_ALERT(HO_ALERT_UNRECOGNIZED_NAME) : HO_OK);
    } else {
        uint8_t sig[HO_TLS_SIG_MAX];
        size_t len = sizeof(sig);
        rc = ho_privkey_sign(o->key, o->scheme, o->in, o->in_len, sig, &len);
        if (rc == HO_OK)
            rc = ho_tls_complete_sign(o->tls, sig, len);
    }
    pthread_mutex_lock(&lock);
    o->rc = rc;
    pthread_mutex_unlock(&lock);
    return NULL;
}

static op *op_start(ho_tls *tls, bool sign)
{
    pthread_mutex_lock(&lock);
    op *o = &ops[nops++];
    pthread_mutex_unlock(&lock);
    o->tls = tls;
    o->sign = sign;
    o->started = true;
    return o;
}

static void open_gate(void)
{
    pthread_mutex_lock(&lock);
    gates_open++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}


static atomic_int unsupported_seen;

/* On the I/O thread (or a worker): names ending in "async.test" wait. */
static int client_hello(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    if (ch->server_name == NULL || strstr(ch->server_name, "async.test") == NULL)
        return HO_OK;
    if (!ho_tls_async_supported(tls)) /* checked on the test's thread (the harness is not thread-safe) */
        atomic_store(&unsupported_seen, 1);
    op *o = op_start(tls, false);
    o->fail = strncmp(ch->server_name, "fail.", 5) == 0;
    pthread_create(&o->thread, NULL, op_main, o);
    return HO_ERR_WANT_ASYNC;
}

static int sign_later(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in, size_t in_len,
                      uint8_t *sig, size_t *sig_len)
{
    (void)ctx, (void)sig, (void)sig_len;
    op *o = op_start(tls, true);
    o->key = key;
    o->in = in;
    o->in_len = in_len;
    o->scheme = scheme;
    pthread_create(&o->thread, NULL, op_main, o);
    return HO_ERR_WANT_ASYNC;
}

/* ---- server and clients --------------------------------------------------- */

typedef struct fixture {
    ho_server *srv;
    ho_router *router;
    ho_h1_service h1;
    ho_tls_config *tls, *client_tls;
    uint16_t port;
} fixture;

static ho_tls_config *server_tls(void)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 30, &key, &chain) != HO_OK)
        return NULL;
    ho_tls_config *cfg = ho_tls_config_new(true);
    if (cfg == NULL || ho_tls_config_add_cert(cfg, &chain, key) != HO_OK)
        abort();
    const char *protos[] = {"http/1.1"};
    ho_tls_config_set_alpn(cfg, protos, 1);
    return cfg;
}

static bool fixture_start(fixture *f, int workers)
{
    memset(f, 0, sizeof(*f));
    f->router = ho_router_new();
    if (f->router == NULL || ho_router_add(f->router, "GET", "/hello", hello, NULL) != HO_OK)
        return false;
    f->h1.router = f->router;
    ho_http_limits_default(&f->h1.limits);
    f->tls = server_tls();
    named_cfg = server_tls();
    f->client_tls = ho_tls_config_new(false);
    if (f->tls == NULL || named_cfg == NULL || f->client_tls == NULL)
        return false;
    ho_tls_config_set_verify_peer(f->client_tls, false);
    ho_tls_callbacks cb = {.client_hello = client_hello};
    ho_tls_config_set_callbacks(f->tls, &cb);
    ho_tls_config_set_sign_fn(named_cfg, sign_later, NULL);
    ho_server_options o;
    ho_server_options_default(&o);
    o.io_threads = 1;
    o.handshake_workers = workers;
    o.offload = workers > 0 ? HO_OFFLOAD_ALWAYS : HO_OFFLOAD_OFF;
    o.handshake_timeout_ms = 60000;
    f->srv = ho_server_new(&o);
    if (f->srv == NULL)
        return false;
    ho_listen_spec ls = {.bind = "127.0.0.1", .tls = f->tls, .handler = &ho_h1_handler, .ctx = &f->h1};
    if (ho_server_listen(f->srv, &ls) != HO_OK)
        return false;
    f->port = ho_server_port(f->srv, 0);
    return ho_server_start(f->srv) == HO_OK;
}

static void fixture_stop(fixture *f)
{
    if (f->srv != NULL) {
        ho_server_stop(f->srv);
        ho_server_free(f->srv);
    }
    ho_router_free(f->router);
    ho_tls_config_free(f->tls);
    ho_tls_config_free(named_cfg);
    ho_tls_config_free(f->client_tls);
}

typedef struct client {
    int fd;
    ho_tls_conn *tls;
} client;

static bool send_out(int fd, ho_tls_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c);
    while (out->len > 0) {
        ssize_t n = send(fd, out->data, out->len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        ho_buf_consume(out, (size_t)n);
    }
    return true;
}

static bool client_connect(client *cl, const fixture *f, const char *sni)
{
    cl->tls = NULL;
    cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cl->fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {60, 0}; /* a safety net; the test opens the gates */
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cl->tls = ho_tls_conn_new(f->client_tls, sni);
    return connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && cl->tls != NULL &&
           ho_tls_conn_start(cl->tls) == HO_OK && send_out(cl->fd, cl->tls);
}

/* Returns HO_OK once the handshake is done, else the client's error. */
static int client_handshake(client *cl)
{
    uint8_t buf[16384];
    while (!ho_tls_conn_handshake_done(cl->tls)) {
        ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
        if (n <= 0)
            return HO_ERR_IO;
        int rc = ho_tls_conn_receive(cl->tls, buf, (size_t)n);
        if (rc != HO_OK)
            return rc;
        if (!send_out(cl->fd, cl->tls))
            return HO_ERR_IO;
    }
    return HO_OK;
}

static bool client_get(client *cl)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (ho_tls_conn_write(cl->tls, req, sizeof(req) - 1) != HO_OK || !send_out(cl->fd, cl->tls))
        return false;
    uint8_t buf[16384];
    ho_buf *in = ho_tls_conn_app_in(cl->tls);
    size_t body = sizeof(hello_body) - 1;
    for (;;) {
        if (in->len >= body && memcmp(in->data + in->len - body, hello_body, body) == 0) {
            bool ok = in->len > 12 && memcmp(in->data, "HTTP/1.1 200", 12) == 0;
            ho_buf_consume(in, in->len);
            return ok;
        }
        ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
        if (n <= 0 || ho_tls_conn_receive(cl->tls, buf, (size_t)n) != HO_OK || !send_out(cl->fd, cl->tls))
            return false;
    }
}

static void client_close(client *cl)
{
    ho_tls_conn_free(cl->tls);
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->tls = NULL;
}

/* Bounded poll on the server's counters. */
static ho_server_stats stats(const fixture *f)
{
    ho_server_stats st;
    ho_server_get_stats(f->srv, &st);
    return st;
}

static bool wait_stat(const fixture *f, size_t offset, uint64_t want)
{
    for (int i = 0; i < 6000; i++) {
        ho_server_stats st = stats(f);
        if (*(const uint64_t *)(const void *)((const char *)&st + offset) >= want)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}
#define WAIT_STAT(f, field, want) wait_stat((f), offsetof(ho_server_stats, field), (want))

/* OTHERS whole connections (handshake and a request) while one waits. */
static int serve_others(const fixture *f)
{
    int ok = 0;
    for (int i = 0; i < OTHERS; i++) {
        client cl;
        ok += client_connect(&cl, f, "localhost") && client_handshake(&cl) == HO_OK && client_get(&cl);
        client_close(&cl);
    }
    return ok;
}

typedef struct async_client {
    const fixture *f;
    client cl;
    int hs_rc;
    bool got;
} async_client;

static void *async_client_main(void *arg)
{
    async_client *a = arg;
    a->hs_rc = client_handshake(&a->cl);
    a->got = a->hs_rc == HO_OK && client_get(&a->cl);
    return NULL;
}

static void reset_ops(void)
{
    for (int i = 0; i < nops; i++)
        if (ops[i].started)
            pthread_join(ops[i].thread, NULL);
    memset(ops, 0, sizeof(ops));
    nops = 0;
    gates_open = 0;
}

/* One connection waits for its ClientHello callback, then for its
 * signature; OTHERS connections are served during each wait. */
static void run_scenario(int workers)
{
    fixture f;
    bool up = fixture_start(&f, workers);
    CHECK(up);
    if (!up) {
        fixture_stop(&f);
        return;
    }
    async_client a = {.f = &f};
    CHECK(client_connect(&a.cl, &f, "async.test"));
    pthread_t th;
    CHECK(pthread_create(&th, NULL, async_client_main, &a) == 0);
    /* The ClientHello callback is out. */
    CHECK(WAIT_STAT(&f, async_started, 1));
    CHECK_EQ(serve_others(&f), OTHERS);
    ho_server_stats st = stats(&f);
    CHECK_EQ(st.handshakes_done, OTHERS); /* not the waiting one */
    CHECK_EQ(st.async_started, 1);
    CHECK_EQ(st.async_completed, 0);
    CHECK(st.served_during_async >= OTHERS);
    open_gate(); /* the "loader" answers, with the config for the name */
    /* The signature is out: ServerHello..Certificate went, nothing else. */
    CHECK(WAIT_STAT(&f, async_started, 2));
    CHECK_EQ(serve_others(&f), OTHERS);
    st = stats(&f);
    CHECK_EQ(st.handshakes_done, 2 * OTHERS);
    CHECK_EQ(st.async_completed, 1);
    CHECK(st.served_during_async >= 2 * OTHERS);
    open_gate(); /* the "remote key" signs */
    pthread_join(th, NULL);
    CHECK_EQ(a.hs_rc, HO_OK);
    CHECK(a.got);
    CHECK_EQ(ho_tls_get_sig_scheme(ho_tls_conn_tls(a.cl.tls)), HO_SIG_ECDSA_SECP256R1_SHA256);
    client_close(&a.cl);
    st = stats(&f);
    CHECK_EQ(st.async_started, 2);
    CHECK_EQ(st.async_completed, 2);
    CHECK_EQ(st.handshakes_done, 2 * OTHERS + 1);
    if (workers > 0)
        CHECK(st.worker_steps > 0);
    printf("workers=%d: 1 connection waited twice; %d others served meanwhile (served_during_async=%llu)\n",
           workers, 2 * OTHERS, (unsigned long long)st.served_during_async);
    CHECK_EQ(atomic_load(&unsupported_seen), 0);
    reset_ops();
    fixture_stop(&f);
}

static void test_tcp_inline(void) { run_scenario(0); }

/* One worker, every step offloaded: a waiting step must not hold it. */
static void test_tcp_one_worker(void) { run_scenario(1); }

/* The callback refuses later: the client gets the alert. A client that
 * left while its callback was out: the connection goes once the
 * application completes (ASan: nothing leaks, nothing is used after). */
static void test_tcp_refused_and_abandoned(void)
{
    fixture f;
    bool up = fixture_start(&f, 0);
    CHECK(up);
    client cl;
    CHECK(client_connect(&cl, &f, "fail.async.test"));
    CHECK(WAIT_STAT(&f, async_started, 1));
    open_gate();
    CHECK_EQ(client_handshake(&cl), HO_ERR_TLS_PEER_ALERT(HO_ALERT_UNRECOGNIZED_NAME));
    client_close(&cl);
    CHECK(WAIT_STAT(&f, handshakes_failed, 1));

    CHECK(client_connect(&cl, &f, "async.test"));
    CHECK(WAIT_STAT(&f, async_started, 2));
    client_close(&cl); /* the client gives up while the callback is out */
    CHECK(WAIT_STAT(&f, closed, 2));
    ho_server_stats st = stats(&f);
    CHECK_EQ(st.active, 0);
    CHECK_EQ(st.async_completed, 1);
    open_gate(); /* the application lets go: the connection's memory goes */
    CHECK(WAIT_STAT(&f, async_completed, 2));
    CHECK_EQ(serve_others(&f), OTHERS);
    reset_ops();
    fixture_stop(&f);
}

/* RFC 8446 §6.1: a client's close_notify closes its write side only. A
 * request and the close_notify behind it, sent in one segment (gnutls-cli
 * does so when its input ends), get the response, then the server's
 * close_notify. With with_finished, the client's Finished goes in the same
 * segment too: the server finishes the handshake, answers, closes. */
static void request_then_close_notify(bool with_finished)
{
    fixture f;
    bool up = fixture_start(&f, 0);
    CHECK(up);
    client cl;
    CHECK(client_connect(&cl, &f, NULL));
    uint8_t buf[16384];
    while (!ho_tls_conn_handshake_done(cl.tls)) {
        ssize_t n = recv(cl.fd, buf, sizeof(buf), 0);
        CHECK(n > 0);
        if (n <= 0 || ho_tls_conn_receive(cl.tls, buf, (size_t)n) != HO_OK)
            break;
        if (!with_finished || !ho_tls_conn_handshake_done(cl.tls))
            CHECK(send_out(cl.fd, cl.tls));
    }
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    CHECK_EQ(ho_tls_conn_write(cl.tls, req, sizeof(req) - 1), HO_OK);
    CHECK_EQ(ho_tls_conn_close(cl.tls), HO_OK);
    CHECK(send_out(cl.fd, cl.tls)); /* one send(): [Finished,] request, close_notify */
    int rc = HO_OK;
    for (;;) {
        ssize_t n = recv(cl.fd, buf, sizeof(buf), 0);
        if (n <= 0 || (rc = ho_tls_conn_receive(cl.tls, buf, (size_t)n)) != HO_OK)
            break;
    }
    ho_buf *in = ho_tls_conn_app_in(cl.tls);
    size_t body = sizeof(hello_body) - 1;
    CHECK(in->len > 12 && memcmp(in->data, "HTTP/1.1 200", 12) == 0);
    CHECK(in->len >= body && memcmp(in->data + in->len - body, hello_body, body) == 0);
    CHECK_EQ(rc, HO_ERR_CLOSED); /* the server's close_notify ends the stream */
    client_close(&cl);
    CHECK(WAIT_STAT(&f, closed, 1));
    ho_server_stats st = stats(&f);
    CHECK_EQ(st.handshakes_done, 1);
    CHECK_EQ(st.handshakes_failed, 0);
    fixture_stop(&f);
}

static void test_request_then_close_notify(void) { request_then_close_notify(false); }
static void test_finished_request_close_notify(void) { request_then_close_notify(true); }

int main(void)
{
    RUN(test_tcp_inline);
    RUN(test_tcp_one_worker);
    RUN(test_tcp_refused_and_abandoned);
    RUN(test_request_then_close_notify);
    RUN(test_finished_request_close_notify);
    return ho_test_summary("test_tls_async_server");
}
