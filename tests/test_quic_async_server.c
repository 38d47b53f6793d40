/* Asynchronous TLS callbacks in the QUIC server (docs/ENGINE.md
 * "Asynchronous callbacks", docs/QUIC.md "Asynchronous callbacks"): one
 * HTTP/3 connection's ClientHello callback answers only after other
 * connections were served, then its signature, likewise; both
 * completions come from another thread. The waiting connection holds no
 * worker (with one worker and offload always, the others still get
 * through) and its datagrams wait in its queue; a refusal later reaches
 * the client as CRYPTO_ERROR with the alert; a connection that timed out
 * while it waited is freed once the application lets go. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

#include "harness.h"
#include "handoff/crypto.h"
#include "handoff/http.h"
#include "handoff/http_server.h"
#include "handoff/io.h"
#include "handoff/quic.h"
#include "handoff/tls.h"

enum { OTHERS = 4 };
static const char hello_body[] = "hello, async quic\n";

static int hello(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx, (void)req;
    resp->content_type = "text/plain";
    ho_put_bytes(resp->body, hello_body, sizeof(hello_body) - 1);
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

/* ---- the application's other thread ------------------------------------ */

typedef struct op {
    pthread_t thread;
    bool started, sign, fail;
    ho_tls *tls;
    const uint8_t *in;
    size_t in_len;
    uint16_t scheme;
    ho_privkey *key;
    int rc;
} op;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int gates_open; /* ops[i] may complete once i < gates_open */
static op ops[8];
static int nops;
static ho_tls_config *named_cfg; /* for "async.test": signs through sign_later */
static atomic_int unsupported_seen;
/* The callbacks complete at once, from inside themselves (test_quic_completed_inside): the
 * wake-up may come before the endpoint saw the step pending. */
static atomic_int complete_inside;

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
    } else if (o->fail) {
        rc = ho_tls_complete_sign(o->tls, NULL, 0); /* the remote key could not sign */
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
    o->tls = tls;
    o->sign = sign;
    o->started = true;
    pthread_mutex_unlock(&lock);
    return o;
}

static void open_gate(void)
{
    pthread_mutex_lock(&lock);
    gates_open++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
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

/* On the I/O thread or a worker: names ending in "async.test" wait. */
static int client_hello(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    if (ch->server_name == NULL || strstr(ch->server_name, "async.test") == NULL)
        return HO_OK;
    if (!ho_tls_async_supported(tls))
        atomic_store(&unsupported_seen, 1);
    if (atomic_load(&complete_inside)) {
        ho_tls_resume(tls, named_cfg, HO_OK);
        return HO_ERR_WANT_ASYNC;
    }
    op *o = op_start(tls, false);
    o->fail = strncmp(ch->server_name, "fail.", 5) == 0;
    pthread_create(&o->thread, NULL, op_main, o);
    return HO_ERR_WANT_ASYNC;
}

static int sign_later(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in, size_t in_len,
                      uint8_t *sig, size_t *sig_len)
{
    (void)ctx;
    if (atomic_load(&complete_inside)) {
        int rc = ho_privkey_sign(key, scheme, in, in_len, sig, sig_len);
        if (rc == HO_OK)
            rc = ho_tls_complete_sign(tls, sig, *sig_len);
        return rc == HO_OK ? HO_ERR_WANT_ASYNC : rc;
    }
    op *o = op_start(tls, true);
    const char *sni = ho_tls_get_server_name(tls);
    o->fail = sni != NULL && strncmp(sni, "nosig.", 6) == 0;
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
    ho_tls_config *tls;
    uint16_t port;
} fixture;

static ho_tls_config *server_tls(const char *name)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate(name, 30, &key, &chain) != HO_OK)
        return NULL;
    ho_tls_config *cfg = ho_tls_config_new(true);
    if (cfg == NULL || ho_tls_config_add_cert(cfg, &chain, key) != HO_OK)
        abort();
    const char *protos[] = {"h3"};
    ho_tls_config_set_alpn(cfg, protos, 1);
    return cfg;
}

static bool fixture_start(fixture *f, int workers, uint64_t idle_ms)
{
    memset(f, 0, sizeof(*f));
    f->router = ho_router_new();
    if (f->router == NULL || ho_router_add(f->router, "GET", "/hello", hello, NULL) != HO_OK)
        return false;
    f->tls = server_tls("localhost");
    named_cfg = server_tls("async.test");
    if (f->tls == NULL || named_cfg == NULL)
        return false;
    /* A config handed over by ho_tls_resume serves QUIC too: it carries
     * the transport parameters extension. */
    if (ho_quic_tls_config_prepare(named_cfg) != HO_OK)
        return false;
    ho_tls_callbacks cb = {.client_hello = client_hello};
    ho_tls_config_set_callbacks(f->tls, &cb);
    ho_tls_config_set_sign_fn(named_cfg, sign_later, NULL);
    ho_server_options o;
    ho_server_options_default(&o);
    o.io_threads = 1;
    o.handshake_workers = workers;
    o.offload = workers > 0 ? HO_OFFLOAD_ALWAYS : HO_OFFLOAD_OFF;
    f->srv = ho_server_new(&o);
    if (f->srv == NULL)
        return false;
    ho_quic_listen_spec qs = {.bind = "127.0.0.1", .tls = f->tls, .handler = &ho_h3_handler, .ctx = f->router,
                              .max_idle_timeout_ms = idle_ms};
    if (ho_server_listen_quic(f->srv, &qs) != HO_OK)
        return false;
    f->port = ho_server_quic_port(f->srv);
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
    named_cfg = NULL;
}

typedef struct fetch {
    const fixture *f;
    const char *sni;
    int timeout_ms;
    pthread_t thread;
    int rc;
    int status;
    bool body_ok;
    ho_h3_fetch_info info;
} fetch;

static void fetch_run(fetch *x)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)x->f->port);
    ho_h3_fetch_opts o = {.host = "127.0.0.1", .port = port, .server_name = x->sni, .insecure = true,
                          .timeout_ms = x->timeout_ms > 0 ? x->timeout_ms : 30000};
    const char *paths[] = {"/hello"};
    ho_h3_response r;
    memset(&r, 0, sizeof(r));
    x->rc = ho_h3_fetch_many(&o, paths, 1, &r, &x->info);
    x->status = r.status;
    x->body_ok = r.body.len == sizeof(hello_body) - 1 && memcmp(r.body.data, hello_body, r.body.len) == 0;
    ho_buf_free(&r.body);
}

static void *fetch_main(void *arg)
{
    fetch_run(arg);
    return NULL;
}

static ho_quic_server_stats qstats(const fixture *f)
{
    ho_quic_server_stats st;
    ho_server_get_quic_stats(f->srv, -1, &st);
    return st;
}

/* Bounded poll on a counter (the stats are refreshed every loop tick). */
static bool wait_stat(const fixture *f, size_t offset, uint64_t want)
{
    for (int i = 0; i < 6000; i++) {
        ho_quic_server_stats st = qstats(f);
        if (*(const uint64_t *)(const void *)((const char *)&st + offset) >= want)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}
#define WAIT_STAT(f, field, want) wait_stat((f), offsetof(ho_quic_server_stats, field), (want))

static int serve_others(const fixture *f)
{
    int ok = 0;
    for (int i = 0; i < OTHERS; i++) {
        fetch x = {.f = f, .sni = "localhost"};
        fetch_run(&x);
        ok += x.rc == HO_OK && x.status == 200 && x.body_ok;
    }
    return ok;
}

/* One connection waits for its ClientHello callback, then for its
 * signature; OTHERS connections are served during each wait. */
static void run_scenario(int workers)
{
    fixture f;
    bool up = fixture_start(&f, workers, 0);
    CHECK(up);
    if (!up) {
        fixture_stop(&f);
        return;
    }
    fetch a = {.f = &f, .sni = "async.test"};
    CHECK(pthread_create(&a.thread, NULL, fetch_main, &a) == 0);
    CHECK(WAIT_STAT(&f, async_started, 1)); /* the ClientHello callback is out */
    CHECK_EQ(serve_others(&f), OTHERS);
    ho_quic_server_stats st = qstats(&f);
    CHECK_EQ(st.handshakes, OTHERS); /* not the waiting one */
    CHECK_EQ(st.async_started, 1);
    CHECK_EQ(st.async_completed, 0);
    CHECK_EQ(st.async_waiting, 1);
    CHECK(st.served_during_async >= OTHERS);
    open_gate(); /* the "loader" answers, with the config for the name */
    CHECK(WAIT_STAT(&f, async_started, 2)); /* the signature is out */
    CHECK_EQ(serve_others(&f), OTHERS);
    st = qstats(&f);
    CHECK_EQ(st.handshakes, 2 * OTHERS);
    CHECK_EQ(st.async_completed, 1);
    CHECK(st.served_during_async >= 2 * OTHERS);
    open_gate(); /* the "remote key" signs */
    pthread_join(a.thread, NULL);
    CHECK_EQ(a.rc, HO_OK);
    CHECK_EQ(a.status, 200);
    CHECK(a.body_ok);
    CHECK(WAIT_STAT(&f, handshakes, 2 * OTHERS + 1));
    st = qstats(&f);
    CHECK_EQ(st.async_started, 2);
    CHECK_EQ(st.async_completed, 2);
    CHECK_EQ(st.async_waiting, 0);
    CHECK_EQ(st.step_queue_overflows, 0);
    if (workers > 0) {
        CHECK(st.steps_offloaded > 0);
        CHECK_EQ(st.steps_inline, 0);
    } else {
        CHECK_EQ(st.steps_offloaded, 0);
    }
    printf("workers=%d: 1 QUIC connection waited twice; %d others served meanwhile (h3_served_during_async=%llu, "
           "datagrams queued %llu)\n",
           workers, 2 * OTHERS, (unsigned long long)st.served_during_async, (unsigned long long)st.step_queued);
    CHECK_EQ(atomic_load(&unsupported_seen), 0);
    reset_ops();
    fixture_stop(&f);
}

static void test_quic_inline(void) { run_scenario(0); }

/* One worker, every step offloaded: a waiting step must not hold it. */
static void test_quic_one_worker(void) { run_scenario(1); }

/* The callback refuses later: CRYPTO_ERROR 0x100 + unrecognized_name (RFC
 * 9001 §4.8), never INTERNAL_ERROR. */
static void refused(int workers)
{
    fixture f;
    bool up = fixture_start(&f, workers, 0);
    CHECK(up);
    fetch a = {.f = &f, .sni = "fail.async.test"};
    CHECK(pthread_create(&a.thread, NULL, fetch_main, &a) == 0);
    CHECK(WAIT_STAT(&f, async_started, 1));
    open_gate();
    pthread_join(a.thread, NULL);
    CHECK(a.rc != HO_OK);
    CHECK(a.info.closed);
    CHECK(a.info.close_by_peer);
    CHECK(!a.info.close_is_app);
    CHECK_EQ(a.info.close_code, 0x100 + HO_ALERT_UNRECOGNIZED_NAME);
    CHECK(WAIT_STAT(&f, async_completed, 1));
    CHECK_EQ(serve_others(&f), OTHERS); /* the others are still served */
    ho_quic_server_stats st = qstats(&f);
    CHECK_EQ(st.handshakes, OTHERS);
    CHECK_EQ(st.async_waiting, 0);
    reset_ops();
    fixture_stop(&f);
}

static void test_quic_refused_inline(void) { refused(0); }
static void test_quic_refused_worker(void) { refused(1); }

/* The signature fails later: internal_error as CRYPTO_ERROR 0x150 (RFC
 * 8446 §6.2, RFC 9001 §4.8), not the transport's INTERNAL_ERROR (0x1). */
static void test_quic_signing_failed(void)
{
    fixture f;
    bool up = fixture_start(&f, 1, 0);
    CHECK(up);
    fetch a = {.f = &f, .sni = "nosig.async.test"};
    CHECK(pthread_create(&a.thread, NULL, fetch_main, &a) == 0);
    CHECK(WAIT_STAT(&f, async_started, 1));
    open_gate(); /* the config for the name */
    CHECK(WAIT_STAT(&f, async_started, 2));
    open_gate(); /* no signature */
    pthread_join(a.thread, NULL);
    CHECK(a.rc != HO_OK);
    CHECK(a.info.closed);
    CHECK(a.info.close_by_peer);
    CHECK(!a.info.close_is_app);
    CHECK_EQ(a.info.close_code, 0x100 + HO_ALERT_INTERNAL_ERROR);
    CHECK(WAIT_STAT(&f, async_completed, 2));
    CHECK_EQ(serve_others(&f), OTHERS);
    reset_ops();
    fixture_stop(&f);
}

/* A stop while a callback is out: the stop closes the connection, the
 * thread waits for the completion (which must not find its home gone),
 * then leaves; nothing leaks (ASan). */
static void test_quic_stop_while_waiting(void)
{
    fixture f;
    bool up = fixture_start(&f, 1, 0);
    CHECK(up);
    fetch a = {.f = &f, .sni = "async.test", .timeout_ms = 3000};
    CHECK(pthread_create(&a.thread, NULL, fetch_main, &a) == 0);
    CHECK(WAIT_STAT(&f, async_started, 1));
    ho_server_request_stop(f.srv);
    CHECK(WAIT_STAT(&f, connections_closed, 1)); /* closed by the stop, still held */
    ho_quic_server_stats st = qstats(&f);
    CHECK_EQ(st.async_waiting, 1);
    open_gate();
    ho_server_wait(f.srv); /* returns once the completion came back */
    st = qstats(&f);
    CHECK_EQ(st.async_waiting, 0);
    CHECK_EQ(st.async_completed, 1);
    pthread_join(a.thread, NULL);
    CHECK(a.rc != HO_OK);
    reset_ops();
    fixture_stop(&f);
}

/* The server's idle timeout (RFC 9000 §10.1) ends a handshake that waits:
 * the connection is freed by the endpoint but its memory stays until the
 * application completes (later, from its thread); then it goes (ASan:
 * nothing leaks, nothing is used after it was freed). */
static void abandoned(int workers)
{
    fixture f;
    bool up = fixture_start(&f, workers, 300);
    CHECK(up);
    fetch a = {.f = &f, .sni = "async.test", .timeout_ms = 1500};
    CHECK(pthread_create(&a.thread, NULL, fetch_main, &a) == 0);
    CHECK(WAIT_STAT(&f, async_started, 1));
    CHECK(WAIT_STAT(&f, connections_closed, 1)); /* timed out while it waited */
    ho_quic_server_stats st = qstats(&f);
    CHECK_EQ(st.async_waiting, 1);
    CHECK_EQ(st.async_completed, 0);
    CHECK_EQ(st.handshakes, 0);
    open_gate(); /* the application lets go: the connection's memory goes */
    CHECK(WAIT_STAT(&f, async_completed, 1));
    st = qstats(&f);
    CHECK_EQ(st.async_waiting, 0);
    CHECK_EQ(st.async_started, 1); /* the step did not run on */
    pthread_join(a.thread, NULL);
    CHECK(a.rc != HO_OK);
    CHECK_EQ(serve_others(&f), OTHERS);
    reset_ops();
    fixture_stop(&f);
}

/* The completion comes before the callback returned (from inside it):
 * with a worker, the wake-up reaches the I/O thread before the step is
 * back (the step runs on at once); inline, right after it parked. */
static void completed_inside(int workers)
{
    fixture f;
    bool up = fixture_start(&f, workers, 0);
    CHECK(up);
    atomic_store(&complete_inside, 1);
    fetch a = {.f = &f, .sni = "async.test"};
    fetch_run(&a);
    CHECK_EQ(a.rc, HO_OK);
    CHECK_EQ(a.status, 200);
    CHECK(a.body_ok);
    CHECK(WAIT_STAT(&f, handshakes, 1));
    ho_quic_server_stats st = qstats(&f);
    CHECK_EQ(st.async_started, 2);
    CHECK_EQ(st.async_completed, 2);
    CHECK_EQ(st.async_waiting, 0);
    atomic_store(&complete_inside, 0);
    fixture_stop(&f);
}

static void test_quic_completed_inside_inline(void) { completed_inside(0); }
static void test_quic_completed_inside_worker(void) { completed_inside(1); }

static void test_quic_timeout_while_waiting_inline(void) { abandoned(0); }
static void test_quic_timeout_while_waiting_worker(void) { abandoned(1); }

int main(void)
{
    RUN(test_quic_inline);
    RUN(test_quic_one_worker);
    RUN(test_quic_refused_inline);
    RUN(test_quic_refused_worker);
    RUN(test_quic_signing_failed);
    RUN(test_quic_stop_while_waiting);
    RUN(test_quic_completed_inside_inline);
    RUN(test_quic_completed_inside_worker);
    RUN(test_quic_timeout_while_waiting_inline);
    RUN(test_quic_timeout_while_waiting_worker);
    return ho_test_summary("test_quic_async_server");
}
