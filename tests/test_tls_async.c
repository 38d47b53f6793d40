/* Asynchronous callbacks in the engine (docs/ENGINE.md "Asynchronous
 * callbacks"): a client-hello callback and a signing function that answer
 * later, from another thread; the pending status, the resume, the
 * completion, failures and their alerts; the same over TLS records. */
#include "harness.h"
#include "tls_pair.h"

#include <errno.h>
#include <pthread.h>
#include <time.h>

static ho_tls_config *cfg_ecdsa, *cfg_rsa; /* servers: one ECDSA, one RSA certificate */
static ho_privkey *ecdsa_key;              /* owned by cfg_ecdsa */
static ho_cert_chain ecdsa_leaf;

static void setup(void)
{
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &ecdsa_key, &chain), HO_OK);
    ho_cert_chain_add_der(&ecdsa_leaf, chain.der[0], chain.len[0]);
    cfg_ecdsa = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(cfg_ecdsa, &chain, ecdsa_key), HO_OK);
    cfg_rsa = ho_tls_config_new(true);
    char crt[4096], k[4096]; /* ho_test_data's buffer is static */
    snprintf(crt, sizeof(crt), "%s", ho_test_data("arena/certs/server.crt"));
    snprintf(k, sizeof(k), "%s", ho_test_data("arena/certs/server.key"));
    CHECK_EQ(ho_tls_config_load_cert_files(cfg_rsa, crt, k), HO_OK);
}

static ho_tls_config *client_cfg(void)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    ho_trust_store_add_der(ts, ecdsa_leaf.der[0], ecdsa_leaf.len[0]);
    ho_trust_store_add_file(ts, ho_test_data("arena/certs/server.crt"));
    ho_tls_config_set_trust(cfg, ts);
    return cfg;
}

/* ---- the other thread: a gate the test opens, then the completion -------- */

enum { OP_RESUME, OP_SIGN, OP_SIGN_FAIL, OP_SIGN_GARBAGE };

struct helper {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool gate_open;   /* the test lets the helper complete */
    bool woken;       /* the engine's wake function ran */
    ho_tls *woken_tls;
    pthread_t wake_thread;
    bool wake_on_helper; /* the wake ran on the helper thread */
    /* the operation */
    int op;
    ho_tls *tls;
    ho_tls_config *resume_cfg;
    int resume_result;
    const uint8_t *in; /* engine's copy of the signing input */
    size_t in_len;
    uint16_t scheme;
    int complete_rc;
    int calls; /* callback invocations */
    pthread_t thread;
};

static struct helper H;

static void helper_reset(int op)
{
    memset(&H, 0, sizeof(H));
    pthread_mutex_init(&H.lock, NULL);
    pthread_cond_init(&H.cond, NULL);
    H.op = op;
}

static void helper_done(void)
{
    pthread_mutex_destroy(&H.lock);
    pthread_cond_destroy(&H.cond);
}

static void *helper_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&H.lock);
    while (!H.gate_open)
        pthread_cond_wait(&H.cond, &H.lock);
    pthread_mutex_unlock(&H.lock);
    int rc;
    if (H.op == OP_RESUME) {
        rc = ho_tls_resume(H.tls, H.resume_cfg, H.resume_result);
    } else if (H.op == OP_SIGN) {
        uint8_t sig[HO_TLS_SIG_MAX];
        size_t len = sizeof(sig);
        rc = ho_privkey_sign(ecdsa_key, H.scheme, H.in, H.in_len, sig, &len);
        if (rc == HO_OK)
            rc = ho_tls_complete_sign(H.tls, sig, len);
    } else if (H.op == OP_SIGN_GARBAGE) {
        uint8_t sig[72];
        memset(sig, 0x5a, sizeof(sig));
        rc = ho_tls_complete_sign(H.tls, sig, sizeof(sig));
    } else {
        rc = ho_tls_complete_sign(H.tls, NULL, 0);
    }
    pthread_mutex_lock(&H.lock);
    H.complete_rc = rc;
    pthread_mutex_unlock(&H.lock);
    return NULL;
}

/* The connection's wake function: in a server it posts to the I/O thread;
 * here it signals the test. */
static void on_wake(void *ctx, ho_tls *tls)
{
    (void)ctx;
    pthread_mutex_lock(&H.lock);
    H.woken = true;
    H.woken_tls = tls;
    H.wake_on_helper = pthread_equal(pthread_self(), H.thread) != 0;
    pthread_cond_broadcast(&H.cond);
    pthread_mutex_unlock(&H.lock);
}

static void open_gate(void)
{
    pthread_mutex_lock(&H.lock);
    H.gate_open = true;
    pthread_cond_broadcast(&H.cond);
    pthread_mutex_unlock(&H.lock);
}

/* Waits (bounded: 10 s) for the wake function. */
static bool wait_woken(void)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 10;
    pthread_mutex_lock(&H.lock);
    int rc = 0;
    while (!H.woken && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&H.cond, &H.lock, &until);
    bool woken = H.woken;
    pthread_mutex_unlock(&H.lock);
    return woken;
}

static int ch_pending_cb(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    H.calls++;
    CHECK(ch->server_name != NULL && strcmp(ch->server_name, "localhost") == 0);
    H.tls = tls;
    pthread_create(&H.thread, NULL, helper_main, NULL);
    return HO_ERR_WANT_ASYNC;
}

static int sign_pending_fn(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in,
                           size_t in_len, uint8_t *sig, size_t *sig_len)
{
    (void)ctx;
    (void)sig;
    (void)sig_len;
    H.calls++;
    CHECK(key == ecdsa_key);
    H.tls = tls;
    H.in = in;
    H.in_len = in_len;
    H.scheme = scheme;
    pthread_create(&H.thread, NULL, helper_main, NULL);
    return HO_ERR_WANT_ASYNC;
}

static int sign_sync_fn(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in,
                        size_t in_len, uint8_t *sig, size_t *sig_len)
{
    (void)ctx;
    (void)tls;
    H.calls++;
    return ho_privkey_sign(key, scheme, in, in_len, sig, sig_len);
}

static size_t out_len(const ho_tls_out *o)
{
    size_t n = 0;
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        n += o->send[e].len;
    return n;
}

/* A server config whose callbacks are set, sharing cfg_ecdsa's certificate. */
static ho_tls_config *server_with_ch_cb(void)
{
    ho_tls_config *cfg = ho_tls_config_new(true);
    ho_cert_chain chain = {0};
    ho_privkey *key = NULL;
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    CHECK_EQ(ho_tls_config_add_cert(cfg, &chain, key), HO_OK); /* untrusted: must be replaced */
    ho_tls_callbacks cb = {.client_hello = ch_pending_cb};
    ho_tls_config_set_callbacks(cfg, &cb);
    return cfg;
}

/* The ClientHello callback answers later, from another thread, with the
 * configuration for the name (RSA): nothing is produced while it waits,
 * the next drive goes on, the callback does not run again. */
static void test_client_hello_pending(void)
{
    helper_reset(OP_RESUME);
    H.resume_cfg = cfg_rsa;
    H.resume_result = HO_OK;
    ho_tls_config *scfg = server_with_ch_cb(), *ccfg = client_cfg();
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    CHECK_EQ(H.calls, 1);
    CHECK(ho_tls_async_pending(p.server));
    CHECK_EQ(out_len(&p.sout), 0);
    /* Still waiting: a drive with nothing new, and set_config refused. */
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_ERR_WANT_ASYNC);
    CHECK_EQ(out_len(&p.sout), 0);
    CHECK_EQ(ho_tls_complete_sign(p.server, (const uint8_t *)"x", 1), HO_ERR_INVALID_ARG);
    CHECK(!H.woken);
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    CHECK_EQ(H.complete_rc, HO_OK);
    CHECK(H.wake_on_helper);
    CHECK(H.woken_tls == p.server);
    /* A second completion is refused. */
    CHECK_EQ(ho_tls_resume(p.server, NULL, HO_OK), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_OK);
    CHECK(!ho_tls_async_pending(p.server));
    CHECK(out_len(&p.sout) > 0);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_OK);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(H.calls, 1);
    CHECK_EQ(ho_tls_get_sig_scheme(p.server), 0x0804); /* the RSA config's (rsa_pss_rsae_sha256) */
    CHECK(strcmp(ho_tls_get_server_name(p.server), "localhost") == 0);
    pair_free(&p);
    ho_tls_config_free(scfg);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* A pending first ClientHello that then gets a HelloRetryRequest: the
 * callback runs once, the second ClientHello goes through. */
static void test_client_hello_pending_hrr(void)
{
    helper_reset(OP_RESUME);
    ho_tls_config *scfg = server_with_ch_cb(), *ccfg = client_cfg();
    const uint16_t sg[] = {HO_GROUP_X25519}, cg[] = {HO_GROUP_SECP256R1, HO_GROUP_X25519};
    CHECK_EQ(ho_tls_config_set_groups(scfg, sg, 1), HO_OK);
    CHECK_EQ(ho_tls_config_set_groups(ccfg, cg, 2), HO_OK);
    const uint16_t rg[] = {HO_GROUP_X25519};
    CHECK_EQ(ho_tls_config_set_groups(cfg_ecdsa, rg, 1), HO_OK);
    H.resume_cfg = cfg_ecdsa;
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_OK);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK(ho_tls_did_hrr(p.server));
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(H.calls, 1);
    const uint16_t dg[] = {HO_GROUP_X25519, HO_GROUP_SECP256R1};
    CHECK_EQ(ho_tls_config_set_groups(cfg_ecdsa, dg, 2), HO_OK);
    pair_free(&p);
    ho_tls_config_free(scfg);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* The callback refuses later: the handshake fails with its alert. */
static void test_client_hello_refused_later(void)
{
    helper_reset(OP_RESUME);
    H.resume_result = HO_ERR_TLS_ALERT(HO_ALERT_UNRECOGNIZED_NAME);
    ho_tls_config *scfg = server_with_ch_cb(), *ccfg = client_cfg();
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_ERR_TLS_ALERT(HO_ALERT_UNRECOGNIZED_NAME));
    CHECK_EQ(out_len(&p.sout), 0);
    /* Sticky, like every error. */
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_ERR_TLS_ALERT(HO_ALERT_UNRECOGNIZED_NAME));
    pair_free(&p);
    ho_tls_config_free(scfg);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* A callback that completes before it returns (a cache hit through the
 * same path): the drive reports pending, the next one goes on. */
static int ch_resume_inline_cb(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    (void)ch;
    H.calls++;
    CHECK_EQ(ho_tls_resume(tls, NULL, HO_OK), HO_OK);
    return HO_ERR_WANT_ASYNC;
}

static void test_client_hello_resumed_inside(void)
{
    helper_reset(OP_RESUME);
    ho_tls_config *ccfg = client_cfg();
    ho_tls_callbacks cb = {.client_hello = ch_resume_inline_cb};
    ho_tls_config_set_callbacks(cfg_ecdsa, &cb);
    struct tls_pair p;
    pair_init(&p, ccfg, cfg_ecdsa, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    CHECK(H.woken);
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(H.calls, 1);
    ho_tls_callbacks none = {0};
    ho_tls_config_set_callbacks(cfg_ecdsa, &none);
    pair_free(&p);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* Signing answers later from another thread: ServerHello..Certificate are
 * out before it, CertificateVerify and Finished after; the client checks
 * the signature. */
static void run_sign(int op, int want_server, int want_client)
{
    helper_reset(op);
    ho_tls_config_set_sign_fn(cfg_ecdsa, sign_pending_fn, NULL);
    ho_tls_config *ccfg = client_cfg();
    struct tls_pair p;
    pair_init(&p, ccfg, cfg_ecdsa, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    /* The ClientHello by hand: the flight so far stays with the test. */
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    src = ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout);
    ch->len = 0;
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    CHECK_EQ(H.calls, 1);
    CHECK(ho_tls_async_pending(p.server));
    CHECK(p.sout.send[HO_EPOCH_INITIAL].len > 0);   /* ServerHello */
    CHECK(p.sout.send[HO_EPOCH_HANDSHAKE].len > 0); /* EncryptedExtensions, Certificate */
    size_t before = p.sout.send[HO_EPOCH_HANDSHAKE].len;
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_HANDSHAKE, NULL, 0, &p.sout), HO_ERR_WANT_ASYNC);
    CHECK_EQ(p.sout.send[HO_EPOCH_HANDSHAKE].len, before);
    CHECK(H.in_len > 64 && H.in_len <= 64 + 34 + 48); /* §4.4.3 content */
    CHECK_EQ(ho_tls_resume(p.server, NULL, HO_OK), HO_ERR_INVALID_ARG);
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    CHECK_EQ(H.complete_rc, HO_OK);
    CHECK_EQ(ho_tls_complete_sign(p.server, (const uint8_t *)"x", 1), HO_ERR_INVALID_ARG);
    src = ho_tls_handle(p.server, HO_EPOCH_HANDSHAKE, NULL, 0, &p.sout);
    CHECK_EQ(src, want_server);
    CHECK(!ho_tls_async_pending(p.server));
    if (src == HO_OK) {
        CHECK(p.sout.send[HO_EPOCH_HANDSHAKE].len > before);
        pair_pump(&p, NULL, &src);
    }
    CHECK_EQ(p.client_err, want_client);
    if (want_server == HO_OK && want_client == HO_OK) {
        CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
        CHECK_EQ(src, HO_OK);
    }
    ho_tls_config_set_sign_fn(cfg_ecdsa, NULL, NULL);
    pair_free(&p);
    ho_tls_config_free(ccfg);
    helper_done();
}

static void test_sign_pending(void) { run_sign(OP_SIGN, HO_OK, HO_OK); }

/* RFC 8446 §6.2: a local failure is internal_error. */
static void test_sign_failed(void) { run_sign(OP_SIGN_FAIL, HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR), HO_OK); }

/* A wrong signature is the client's to find (§4.4.3: decrypt_error). */
static void test_sign_wrong(void)
{
    run_sign(OP_SIGN_GARBAGE, HO_OK, HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR));
}

/* A signing function that answers at once needs no drive more. */
static void test_sign_sync(void)
{
    helper_reset(OP_SIGN);
    ho_tls_config_set_sign_fn(cfg_ecdsa, sign_sync_fn, NULL);
    ho_tls_config *ccfg = client_cfg();
    struct tls_pair p;
    pair_init(&p, ccfg, cfg_ecdsa, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(H.calls, 1);
    ho_tls_config_set_sign_fn(cfg_ecdsa, NULL, NULL);
    pair_free(&p);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* Both in one handshake, over TLS records: the ClientHello record waits,
 * then the signature; a resumed drive takes no new bytes. */
static void move(ho_tls_conn *from, ho_tls_conn *to, int *rc)
{
    ho_buf *o = ho_tls_conn_out(from);
    if (o->len == 0)
        return;
    *rc = ho_tls_conn_receive(to, o->data, o->len);
    ho_buf_consume(o, o->len);
}

static void test_records_both(void)
{
    helper_reset(OP_RESUME);
    ho_tls_config *scfg = server_with_ch_cb(), *ccfg = client_cfg();
    ho_tls_config_set_sign_fn(cfg_ecdsa, sign_pending_fn, NULL);
    H.resume_cfg = cfg_ecdsa;
    ho_tls_conn *c = ho_tls_conn_new(ccfg, "localhost"), *s = ho_tls_conn_new(scfg, NULL);
    ho_tls_set_async_wake(ho_tls_conn_tls(s), on_wake, NULL);
    int src = HO_OK, crc = HO_OK;
    CHECK_EQ(ho_tls_conn_start(c), HO_OK);
    move(c, s, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    CHECK_EQ(ho_tls_conn_out(s)->len, 0);
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    /* Now the signature: the same helper, for another operation. */
    pthread_mutex_lock(&H.lock);
    H.op = OP_SIGN;
    H.gate_open = false;
    H.woken = false;
    pthread_mutex_unlock(&H.lock);
    CHECK_EQ(ho_tls_conn_receive(s, NULL, 0), HO_ERR_WANT_ASYNC);
    CHECK(ho_tls_conn_out(s)->len > 0); /* ServerHello .. Certificate */
    move(s, c, &crc);
    CHECK_EQ(crc, HO_OK);
    CHECK(!ho_tls_conn_handshake_done(c));
    open_gate();
    CHECK(wait_woken());
    pthread_join(H.thread, NULL);
    CHECK_EQ(ho_tls_conn_receive(s, NULL, 0), HO_OK);
    move(s, c, &crc);
    CHECK_EQ(crc, HO_OK);
    move(c, s, &src);
    CHECK_EQ(src, HO_OK);
    CHECK(ho_tls_conn_handshake_done(c) && ho_tls_conn_handshake_done(s));
    CHECK_EQ(ho_tls_conn_write(c, "ping", 4), HO_OK);
    move(c, s, &src);
    CHECK_EQ(ho_tls_conn_app_in(s)->len, 4);
    ho_tls_config_set_sign_fn(cfg_ecdsa, NULL, NULL);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    ho_tls_config_free(scfg);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* Nothing pending: the completions are refused; a handshake that fails
 * while its callback is out still takes the completion. */
static void test_misuse(void)
{
    helper_reset(OP_RESUME);
    ho_tls_config *ccfg = client_cfg();
    ho_tls *s = ho_tls_new(cfg_ecdsa, NULL);
    CHECK_EQ(ho_tls_resume(s, NULL, HO_OK), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_tls_complete_sign(s, (const uint8_t *)"x", 1), HO_ERR_INVALID_ARG);
    CHECK(!ho_tls_async_pending(s));
    ho_tls_free(s);
    ho_tls_config *scfg = server_with_ch_cb();
    CHECK_EQ(ho_tls_resume(NULL, NULL, HO_OK), HO_ERR_INVALID_ARG);
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_async_wake(p.server, on_wake, NULL);
    int src = HO_OK;
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    pair_pump(&p, NULL, &src);
    CHECK_EQ(src, HO_ERR_WANT_ASYNC);
    /* A client config is no server's. */
    CHECK_EQ(ho_tls_resume(p.server, ccfg, HO_OK), HO_ERR_INVALID_ARG);
    /* Bytes at another epoch while waiting: unexpected_message. */
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_HANDSHAKE, "\x14\0\0\0", 4, &p.sout),
             HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    open_gate();
    pthread_join(H.thread, NULL);
    /* Accepted (the application lets go of the connection: a transport
     * frees it only then), though the handshake stays dead. */
    CHECK_EQ(H.complete_rc, HO_OK);
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, NULL, 0, &p.sout), HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    pair_free(&p);
    ho_tls_config_free(scfg);
    ho_tls_config_free(ccfg);
    helper_done();
}

/* Without a wake function (a transport that cannot continue), answering
 * later fails the handshake with internal_error; the callbacks can tell. */
static bool seen_supported;
static int ch_probe_cb(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    (void)ch;
    seen_supported = ho_tls_async_supported(tls);
    return HO_ERR_WANT_ASYNC;
}

static int sign_probe_fn(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in,
                         size_t in_len, uint8_t *sig, size_t *sig_len)
{
    (void)ctx, (void)key, (void)scheme, (void)in, (void)in_len, (void)sig, (void)sig_len;
    seen_supported = ho_tls_async_supported(tls);
    return HO_ERR_WANT_ASYNC;
}

static void test_no_wake(void)
{
    ho_tls_config *ccfg = client_cfg();
    for (int which = 0; which < 2; which++) {
        ho_tls_callbacks cb = {.client_hello = ch_probe_cb};
        if (which == 0)
            ho_tls_config_set_callbacks(cfg_ecdsa, &cb);
        else
            ho_tls_config_set_sign_fn(cfg_ecdsa, sign_probe_fn, NULL);
        seen_supported = true;
        struct tls_pair p;
        pair_init(&p, ccfg, cfg_ecdsa, "localhost");
        pair_run(&p);
        CHECK(!seen_supported);
        CHECK_EQ(p.server_err, HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR));
        CHECK(!ho_tls_async_pending(p.server));
        pair_free(&p);
        ho_tls_callbacks none = {0};
        ho_tls_config_set_callbacks(cfg_ecdsa, &none);
        ho_tls_config_set_sign_fn(cfg_ecdsa, NULL, NULL);
    }
    ho_tls_config_free(ccfg);
}

int main(void)
{
    setup();
    RUN(test_client_hello_pending);
    RUN(test_client_hello_pending_hrr);
    RUN(test_client_hello_refused_later);
    RUN(test_client_hello_resumed_inside);
    RUN(test_sign_pending);
    RUN(test_sign_failed);
    RUN(test_sign_wrong);
    RUN(test_sign_sync);
    RUN(test_records_both);
    RUN(test_misuse);
    RUN(test_no_wake);
    ho_tls_config_free(cfg_ecdsa);
    ho_tls_config_free(cfg_rsa);
    ho_cert_chain_free(&ecdsa_leaf);
    return ho_test_summary("test_tls_async");
}
