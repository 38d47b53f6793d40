/* Full TLS 1.3 handshakes in memory: handoff (ho_tls, sans-I/O) against
 * OpenSSL libssl (BIO pair), under the same conditions: one ECDSA P-256
 * certificate, X25519 only, TLS_AES_128_GCM_SHA256 only, no tickets, no
 * certificate verification by the client.
 *
 * The figure of merit is the SERVER's CPU per handshake: only the server's
 * calls are timed, with CLOCK_THREAD_CPUTIME_ID, and summed. The client is
 * timed the same way. Blocks of the two implementations alternate so that
 * machine noise hits both; the median over rounds is reported.
 *
 * With --verify both clients also verify the server's chain and host name
 * against a trust store holding the certificate (handoff: ho_tls_config_set_trust;
 * OpenSSL: SSL_VERIFY_PEER, the certificate in the context's store,
 * SSL_set1_host per connection).
 *
 * The handoff client keeps parsed certificates and verified chains in its
 * config (src/crypto/certcache.c), so from the second handshake on it finds
 * the server's; --cold gives it a new config for every handshake (made
 * outside the timed sections), the cost of a first connection.
 *
 * Usage: handshake [-n N] [-r ROUNDS] [--impl handoff|openssl|both] [--verify] [--cold] [--no-pq] [--quiet]
 */
#include "handoff/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXPORT_LABEL "EXPORTER-handoff-bench"
#define EXPORT_LEN 32
#define WARMUP_HANDSHAKES 20
#define MAX_ROUNDS 64
/* valgrind --tool=callgrind --toggle-collect='bench_server_*' selects the server. */
#define BENCH_NOINLINE __attribute__((noinline))
#define BENCH_HOST "localhost"

/* --verify: the clients verify the chain and the host name. */
static bool g_verify;
/* --cold: a new handoff client config for every handshake (made untimed),
 * so nothing is cached from the previous connection to the same server. */
static bool g_cold;

/* ---- timing ------------------------------------------------------------ */

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

/* What one timed section costs in clock reads alone (CLOCK_THREAD_CPUTIME_ID
 * is a system call, not a vDSO read); subtracted from every section. */
static double section_overhead_ns;

static void calibrate_clock(void)
{
    enum { REPS = 20000 };
    double sum = 0;
    for (int i = 0; i < REPS; i++) {
        double t0 = thread_cpu_ns();
        double t1 = thread_cpu_ns();
        sum += t1 - t0;
    }
    section_overhead_ns = sum / REPS;
}

/* CPU time of one side of one handshake: sections are summed. */
struct side_clock {
    double ns;
    int sections;
    double start;
};

static void side_begin(struct side_clock *c) { c->start = thread_cpu_ns(); }

static void side_end(struct side_clock *c)
{
    c->ns += thread_cpu_ns() - c->start;
    c->sections++;
}

static double side_net_ns(const struct side_clock *c) { return c->ns - c->sections * section_overhead_ns; }

/* Totals for one block of handshakes. */
struct block_result {
    double server_ns, client_ns, wall_ns;
    long handshakes;
};

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "handshake: %s%s%s\n", what, detail != NULL ? ": " : "", detail != NULL ? detail : "");
    exit(1);
}

static void die_openssl(const char *what)
{
    fprintf(stderr, "handshake: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* ---- the shared certificate ------------------------------------------ */

struct credentials {
    ho_cert_chain chain; /* handed to the handoff config (which takes it) */
    ho_privkey *key;
    ho_buf cert_pem, key_pem; /* the same certificate and key, for OpenSSL */
};

static void credentials_make(struct credentials *cr)
{
    memset(cr, 0, sizeof(*cr));
    ho_buf_init(&cr->cert_pem);
    ho_buf_init(&cr->key_pem);
    int rc = ho_selfsigned_generate("localhost", 30, &cr->key, &cr->chain);
    if (rc != HO_OK)
        die("ho_selfsigned_generate", ho_err_str(rc));
    if ((rc = ho_cert_to_pem(cr->chain.der[0], cr->chain.len[0], &cr->cert_pem)) != HO_OK ||
        (rc = ho_privkey_to_pem(cr->key, &cr->key_pem)) != HO_OK)
        die("PEM encoding of the certificate", ho_err_str(rc));
}

static void credentials_free(struct credentials *cr)
{
    ho_cert_chain_free(&cr->chain);
    ho_privkey_free(cr->key);
    ho_buf_free(&cr->cert_pem);
    ho_buf_free(&cr->key_pem);
}

/* ---- handoff ----------------------------------------------------------- */

struct handoff_env {
    uint16_t group;
    ho_tls_config *server_cfg, *client_cfg;
    ho_cert_chain trusted; /* the server's certificate, for the client's store */
    ho_tls_out client_out, server_out;
};

static ho_tls_config *handoff_client_config(const struct handoff_env *env)
{
    static const uint16_t suite = HO_TLS_AES_128_GCM_SHA256;
    ho_tls_config *cfg = ho_tls_config_new(false);
    if (cfg == NULL)
        die("ho_tls_config_new", NULL);
    if (g_verify) {
        ho_trust_store *ts = ho_trust_store_new();
        if (ts == NULL || ho_trust_store_add_der(ts, env->trusted.der[0], env->trusted.len[0]) != HO_OK)
            die("handoff trust store", NULL);
        ho_tls_config_set_trust(cfg, ts);
    }
    int rc;
    if ((rc = ho_tls_config_set_suites(cfg, &suite, 1)) != HO_OK ||
        (rc = ho_tls_config_set_groups(cfg, &env->group, 1)) != HO_OK)
        die("handoff client configuration", ho_err_str(rc));
    ho_tls_config_set_verify_peer(cfg, g_verify);
    return cfg;
}

/* group: X25519, or X25519MLKEM768 for the post-quantum hybrid row. */
static void handoff_env_init(struct handoff_env *env, struct credentials *cr, uint16_t group)
{
    static const uint16_t suite = HO_TLS_AES_128_GCM_SHA256;
    env->group = group;
    env->server_cfg = ho_tls_config_new(true);
    memset(&env->trusted, 0, sizeof(env->trusted));
    /* Before the server's config takes the chain. */
    if (env->server_cfg == NULL || ho_cert_chain_add_der(&env->trusted, cr->chain.der[0], cr->chain.len[0]) != HO_OK)
        die("ho_tls_config_new", NULL);
    env->client_cfg = handoff_client_config(env);
    int rc = ho_tls_config_add_cert(env->server_cfg, &cr->chain, cr->key);
    cr->key = NULL; /* taken, also on failure */
    if (rc != HO_OK)
        die("ho_tls_config_add_cert", ho_err_str(rc));
    if ((rc = ho_tls_config_set_suites(env->server_cfg, &suite, 1)) != HO_OK ||
        (rc = ho_tls_config_set_groups(env->server_cfg, &group, 1)) != HO_OK)
        die("handoff configuration", ho_err_str(rc));
    ho_tls_config_set_tickets(env->server_cfg, 0, 7200, 3600);
    ho_tls_out_init(&env->client_out);
    ho_tls_out_init(&env->server_out);
}

static void handoff_env_free(struct handoff_env *env)
{
    ho_tls_out_free(&env->client_out);
    ho_tls_out_free(&env->server_out);
    ho_tls_config_free(env->server_cfg);
    ho_tls_config_free(env->client_cfg);
    ho_cert_chain_free(&env->trusted);
}

/* Feeds every pending epoch of `from` to `to`; returns bytes moved. */
static size_t handoff_deliver(ho_tls_out *from, ho_tls *to, ho_tls_out *to_out, int *err)
{
    size_t moved = 0;
    for (int e = 0; e < HO_EPOCH_COUNT; e++) {
        ho_buf *b = &from->send[e];
        if (b->len == 0)
            continue;
        moved += b->len;
        if (*err == HO_OK)
            *err = ho_tls_handle(to, (ho_epoch)e, b->data, b->len, to_out);
        b->len = 0;
    }
    return moved;
}

static void handoff_check(const struct handoff_env *env, ho_tls *client, ho_tls *server, int client_err,
                          int server_err)
{
    if (client_err != HO_OK || server_err != HO_OK) {
        fprintf(stderr, "handshake: handoff handshake failed: client %s, server %s\n", ho_err_str(client_err),
                ho_err_str(server_err));
        exit(1);
    }
    if (!ho_tls_handshake_done(client) || !ho_tls_handshake_done(server))
        die("handoff handshake did not complete", NULL);
    const ho_tls_suite *suite = ho_tls_get_suite(server);
    if (suite == NULL || suite->id != HO_TLS_AES_128_GCM_SHA256 || ho_tls_get_group(server) != env->group ||
        ho_tls_is_resumed(server) || ho_tls_did_hrr(server) || ho_tls_get_sig_scheme(server) != HO_SIG_ECDSA_SECP256R1_SHA256)
        die("handoff negotiated something other than AES-128-GCM, the group asked, ECDSA P-256, full", NULL);
    /* Both sides must hold the same master secret. */
    uint8_t ck[EXPORT_LEN], sk[EXPORT_LEN];
    if (ho_tls_export(client, EXPORT_LABEL, NULL, 0, ck, sizeof(ck)) != HO_OK ||
        ho_tls_export(server, EXPORT_LABEL, NULL, 0, sk, sizeof(sk)) != HO_OK || memcmp(ck, sk, sizeof(ck)) != 0)
        die("handoff client and server disagree on the exporter secret", NULL);
}

/* Each side's work lives in functions of its own, never inlined, named
 * bench_server_* and bench_client_*, so that a profiler can select one side. */
static BENCH_NOINLINE ho_tls *bench_server_handoff_new(struct handoff_env *env) { return ho_tls_new(env->server_cfg, NULL); }
static BENCH_NOINLINE size_t bench_server_handoff_receive(struct handoff_env *env, ho_tls *server, int *err)
{
    return handoff_deliver(&env->client_out, server, &env->server_out, err);
}
static BENCH_NOINLINE void bench_server_handoff_free(ho_tls *server) { ho_tls_free(server); }

static BENCH_NOINLINE ho_tls *bench_client_handoff_start(struct handoff_env *env, int *err)
{
    ho_tls *client = ho_tls_new(env->client_cfg, BENCH_HOST);
    *err = client != NULL ? ho_tls_start(client, &env->client_out) : HO_ERR_NOMEM;
    return client;
}
static BENCH_NOINLINE size_t bench_client_handoff_receive(struct handoff_env *env, ho_tls *client, int *err)
{
    return handoff_deliver(&env->server_out, client, &env->client_out, err);
}
static BENCH_NOINLINE void bench_client_handoff_free(ho_tls *client) { ho_tls_free(client); }

static void handoff_one(struct handoff_env *env, struct side_clock *sc, struct side_clock *cc)
{
    int client_err, server_err = HO_OK;
    if (g_cold) {
        ho_tls_config_free(env->client_cfg);
        env->client_cfg = handoff_client_config(env);
    }

    side_begin(cc);
    ho_tls *client = bench_client_handoff_start(env, &client_err);
    side_end(cc);

    side_begin(sc);
    ho_tls *server = bench_server_handoff_new(env);
    side_end(sc);
    if (client == NULL || server == NULL)
        die("ho_tls_new", NULL);

    /* A full handshake is three flights; allow a few more before giving up. */
    for (int flight = 0; flight < 8; flight++) {
        size_t moved = 0;
        side_begin(sc);
        moved += bench_server_handoff_receive(env, server, &server_err);
        side_end(sc);
        side_begin(cc);
        moved += bench_client_handoff_receive(env, client, &client_err);
        side_end(cc);
        if (moved == 0)
            break;
    }
    handoff_check(env, client, server, client_err, server_err);

    side_begin(sc);
    bench_server_handoff_free(server);
    side_end(sc);
    side_begin(cc);
    bench_client_handoff_free(client);
    side_end(cc);
}

static void handoff_block(struct handoff_env *env, long n, struct block_result *res)
{
    double w0 = clock_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        struct side_clock sc = {0}, cc = {0};
        handoff_one(env, &sc, &cc);
        res->server_ns += side_net_ns(&sc);
        res->client_ns += side_net_ns(&cc);
    }
    res->wall_ns += clock_ns(CLOCK_MONOTONIC) - w0;
    res->handshakes += n;
}

/* ---- OpenSSL ----------------------------------------------------------- */

struct openssl_env {
    SSL_CTX *server_ctx, *client_ctx;
};

static void openssl_ctx_common(SSL_CTX *ctx)
{
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) || !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) ||
        !SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256") || !SSL_CTX_set1_groups_list(ctx, "X25519"))
        die_openssl("OpenSSL context configuration");
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
}

static void openssl_env_init(struct openssl_env *env, const struct credentials *cr)
{
    env->server_ctx = SSL_CTX_new(TLS_server_method());
    env->client_ctx = SSL_CTX_new(TLS_client_method());
    if (env->server_ctx == NULL || env->client_ctx == NULL)
        die_openssl("SSL_CTX_new");
    openssl_ctx_common(env->server_ctx);
    openssl_ctx_common(env->client_ctx);

    BIO *cb = BIO_new_mem_buf(cr->cert_pem.data, (int)cr->cert_pem.len);
    BIO *kb = BIO_new_mem_buf(cr->key_pem.data, (int)cr->key_pem.len);
    X509 *cert = cb != NULL ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb != NULL ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    if (cert == NULL || key == NULL || SSL_CTX_use_certificate(env->server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey(env->server_ctx, key) != 1 || SSL_CTX_check_private_key(env->server_ctx) != 1)
        die_openssl("loading the certificate and key into OpenSSL");
    if (g_verify && X509_STORE_add_cert(SSL_CTX_get_cert_store(env->client_ctx), cert) != 1)
        die_openssl("X509_STORE_add_cert");
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);

    /* No tickets: none sent (num_tickets 0), none stateless (NO_TICKET). */
    if (!SSL_CTX_set_num_tickets(env->server_ctx, 0))
        die_openssl("SSL_CTX_set_num_tickets");
    SSL_CTX_set_options(env->server_ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(env->client_ctx, g_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
}

static void openssl_env_free(struct openssl_env *env)
{
    SSL_CTX_free(env->server_ctx);
    SSL_CTX_free(env->client_ctx);
}

/* One SSL_do_handshake step; returns 1 when done, 0 when it wants I/O. */
static int openssl_step(SSL *ssl, const char *who)
{
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return 1;
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
        return 0;
    fprintf(stderr, "handshake: OpenSSL %s handshake failed (SSL_get_error %d)\n", who, e);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static void openssl_check(SSL *client, SSL *server)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(server);
    if (SSL_version(server) != TLS1_3_VERSION || SSL_version(client) != TLS1_3_VERSION || c == NULL ||
        SSL_CIPHER_get_protocol_id(c) != HO_TLS_AES_128_GCM_SHA256 || SSL_session_reused(server))
        die("OpenSSL negotiated something other than TLS 1.3, AES-128-GCM, full", NULL);
    if (g_verify && SSL_get_verify_result(client) != X509_V_OK)
        die("OpenSSL client did not verify the chain", NULL);
    uint8_t ck[EXPORT_LEN], sk[EXPORT_LEN];
    if (SSL_export_keying_material(client, ck, sizeof(ck), EXPORT_LABEL, strlen(EXPORT_LABEL), NULL, 0, 0) != 1 ||
        SSL_export_keying_material(server, sk, sizeof(sk), EXPORT_LABEL, strlen(EXPORT_LABEL), NULL, 0, 0) != 1 ||
        memcmp(ck, sk, sizeof(ck)) != 0)
        die("OpenSSL client and server disagree on the exporter secret", NULL);
}

static BENCH_NOINLINE SSL *bench_server_openssl_new(struct openssl_env *env, BIO *bio)
{
    SSL *server = SSL_new(env->server_ctx);
    if (server != NULL) {
        SSL_set_bio(server, bio, bio);
        SSL_set_accept_state(server);
    }
    return server;
}
static BENCH_NOINLINE int bench_server_openssl_step(SSL *server) { return openssl_step(server, "server"); }
static BENCH_NOINLINE void bench_server_openssl_free(SSL *server) { SSL_free(server); }

static BENCH_NOINLINE SSL *bench_client_openssl_new(struct openssl_env *env, BIO *bio)
{
    SSL *client = SSL_new(env->client_ctx);
    if (client != NULL) {
        SSL_set_bio(client, bio, bio);
        SSL_set_connect_state(client);
        if (g_verify && SSL_set1_host(client, BENCH_HOST) != 1)
            die_openssl("SSL_set1_host");
    }
    return client;
}
static BENCH_NOINLINE int bench_client_openssl_step(SSL *client) { return openssl_step(client, "client"); }
static BENCH_NOINLINE void bench_client_openssl_free(SSL *client) { SSL_free(client); }

static void openssl_one(struct openssl_env *env, struct side_clock *sc, struct side_clock *cc)
{
    /* The BIO pair is the transport: not charged to either side. Each SSL
     * owns one end and frees it. */
    BIO *client_bio, *server_bio;
    if (!BIO_new_bio_pair(&client_bio, 0, &server_bio, 0))
        die_openssl("BIO_new_bio_pair");

    side_begin(cc);
    SSL *client = bench_client_openssl_new(env, client_bio);
    side_end(cc);
    side_begin(sc);
    SSL *server = bench_server_openssl_new(env, server_bio);
    side_end(sc);
    if (client == NULL || server == NULL)
        die_openssl("SSL_new");

    int client_done = 0, server_done = 0;
    for (int step = 0; step < 16 && !(client_done && server_done); step++) {
        if (!client_done) {
            side_begin(cc);
            client_done = bench_client_openssl_step(client);
            side_end(cc);
        }
        if (!server_done) {
            side_begin(sc);
            server_done = bench_server_openssl_step(server);
            side_end(sc);
        }
    }
    if (!client_done || !server_done)
        die("OpenSSL handshake did not complete", NULL);
    openssl_check(client, server);

    side_begin(sc);
    bench_server_openssl_free(server);
    side_end(sc);
    side_begin(cc);
    bench_client_openssl_free(client);
    side_end(cc);
}

static void openssl_block(struct openssl_env *env, long n, struct block_result *res)
{
    double w0 = clock_ns(CLOCK_MONOTONIC);
    for (long i = 0; i < n; i++) {
        struct side_clock sc = {0}, cc = {0};
        openssl_one(env, &sc, &cc);
        res->server_ns += side_net_ns(&sc);
        res->client_ns += side_net_ns(&cc);
    }
    res->wall_ns += clock_ns(CLOCK_MONOTONIC) - w0;
    res->handshakes += n;
}

/* ---- driver ------------------------------------------------------------ */

enum { IMPL_HANDOFF = 1, IMPL_OPENSSL = 2, IMPL_BOTH = 3 };

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, (size_t)n * sizeof(double));
    qsort(s, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* Per-round, per-handshake microseconds of one implementation. */
struct impl_rounds {
    double server_us[MAX_ROUNDS], client_us[MAX_ROUNDS], wall_us[MAX_ROUNDS];
    long handshakes;
};

static void record_round(struct impl_rounds *ir, int round, const struct block_result *r)
{
    ir->server_us[round] = r->server_ns / 1e3 / (double)r->handshakes;
    ir->client_us[round] = r->client_ns / 1e3 / (double)r->handshakes;
    ir->wall_us[round] = r->wall_ns / 1e3 / (double)r->handshakes;
    ir->handshakes += r->handshakes;
}

static void print_row(const char *name, const struct impl_rounds *ir, int rounds)
{
    printf("%-10s %13.1f %13.1f %11.1f %11ld\n", name, median(ir->server_us, rounds), median(ir->client_us, rounds),
           median(ir->wall_us, rounds), ir->handshakes);
}

static void usage(void)
{
    fprintf(stderr, "usage: handshake [-n N] [-r ROUNDS] [--impl handoff|openssl|both] [--verify] [--cold] [--no-pq] [--quiet]\n"
                    "  -n N        handshakes per implementation (default 2000)\n"
                    "  -r ROUNDS   interleaved rounds, N/ROUNDS handshakes each (default 5)\n"
                    "  --impl      which implementations to run (default both)\n"
                    "  --verify    clients verify the chain and host name (default: no)\n"
                    "  --cold      a new handoff client config per handshake (nothing cached)\n"
                    "  --no-pq     leave out the handoff-pq row\n"
                    "  --quiet     print the table only\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long n = 2000;
    int rounds = 5, impl = IMPL_BOTH;
    bool quiet = false, pq = true;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-n") == 0 && i + 1 < argc)
            n = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "-r") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "--impl") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            impl = strcmp(v, "handoff") == 0 ? IMPL_HANDOFF : strcmp(v, "openssl") == 0 ? IMPL_OPENSSL
                   : strcmp(v, "both") == 0  ? IMPL_BOTH : 0;
            if (impl == 0)
                usage();
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0)
            quiet = true;
        else if (strcmp(a, "--verify") == 0)
            g_verify = true;
        else if (strcmp(a, "--cold") == 0)
            g_cold = true;
        else if (strcmp(a, "--no-pq") == 0)
            pq = false;
        else
            usage();
    }
    if (n < 1 || rounds < 1 || rounds > MAX_ROUNDS)
        usage();
    if (rounds > n)
        rounds = (int)n;

    calibrate_clock();
    struct credentials cr;
    credentials_make(&cr);
    struct openssl_env oenv;
    openssl_env_init(&oenv, &cr); /* reads the PEM copies before handoff takes the key */
    struct handoff_env henv, hpq;
    handoff_env_init(&henv, &cr, HO_GROUP_X25519);
    struct credentials cr_pq; /* a certificate of its own: the config takes the key */
    credentials_make(&cr_pq);
    handoff_env_init(&hpq, &cr_pq, HO_GROUP_X25519MLKEM768);

    if (!quiet)
        printf("TLS 1.3 full handshake in memory: ECDSA P-256, X25519, TLS_AES_128_GCM_SHA256, no tickets\n"
               "(row handoff-pq: the same with X25519MLKEM768, handoff's ML-KEM-768; OpenSSL 3.0 has none)\n"
               "%ld handshakes per implementation in %d interleaved rounds; %s; clock read %.0f ns/section\n",
               n, rounds, OpenSSL_version(OPENSSL_VERSION), section_overhead_ns);

    /* Warm caches, lazy algorithm fetches and allocator pools on both. */
    struct block_result warm = {0};
    if (impl & IMPL_HANDOFF) {
        handoff_block(&henv, WARMUP_HANDSHAKES, &warm);
        if (pq)
            handoff_block(&hpq, WARMUP_HANDSHAKES, &warm);
    }
    if (impl & IMPL_OPENSSL)
        openssl_block(&oenv, WARMUP_HANDSHAKES, &warm);

    struct impl_rounds hr = {0}, orr = {0}, pqr = {0};
    for (int r = 0; r < rounds; r++) {
        long per = n / rounds + (r < n % rounds ? 1 : 0);
        /* Alternate which goes first, so neither always follows the other. */
        for (int k = 0; k < 2; k++) {
            int which = (r + k) % 2 == 0 ? IMPL_HANDOFF : IMPL_OPENSSL;
            if (!(impl & which))
                continue;
            struct block_result res = {0};
            if (which == IMPL_HANDOFF) {
                handoff_block(&henv, per, &res);
                record_round(&hr, r, &res);
                struct block_result pqres = {0};
                if (pq) {
                    handoff_block(&hpq, per, &pqres);
                    record_round(&pqr, r, &pqres);
                }
                if (pq && !quiet)
                    printf("  round %d %-10s server %8.1f us/hs  client %8.1f us/hs  wall %8.1f us/hs\n", r + 1,
                           "handoff-pq", pqres.server_ns / 1e3 / (double)per, pqres.client_ns / 1e3 / (double)per,
                           pqres.wall_ns / 1e3 / (double)per);
            } else {
                openssl_block(&oenv, per, &res);
                record_round(&orr, r, &res);
            }
            if (!quiet)
                printf("  round %d %-10s server %8.1f us/hs  client %8.1f us/hs  wall %8.1f us/hs\n", r + 1,
                       which == IMPL_HANDOFF ? "handoff" : "openssl", res.server_ns / 1e3 / (double)per,
                       res.client_ns / 1e3 / (double)per, res.wall_ns / 1e3 / (double)per);
        }
    }

    printf("impl        server_us/hs  client_us/hs  wall_us/hs  handshakes\n");
    if (impl & IMPL_HANDOFF) {
        print_row("handoff", &hr, rounds);
        if (pq)
            print_row("handoff-pq", &pqr, rounds);
    }
    if (impl & IMPL_OPENSSL)
        print_row("openssl", &orr, rounds);
    if (impl == IMPL_BOTH) {
        printf("ratio (handoff/openssl server CPU): %.2f\n",
               median(hr.server_us, rounds) / median(orr.server_us, rounds));
        printf("ratio (handoff/openssl client CPU): %.2f%s\n",
               median(hr.client_us, rounds) / median(orr.client_us, rounds),
               g_verify && g_cold ? " (chain verified, cold)" : g_verify ? " (chain verified)" : g_cold ? " (cold)" : "");
    }

    handoff_env_free(&henv);
    handoff_env_free(&hpq);
    credentials_free(&cr_pq);
    openssl_env_free(&oenv);
    credentials_free(&cr);
    return 0;
}
