/* Shared by test_tls_badinput.c (server side, records) and
 * test_tls_badinput_client.c (client side): per-case bookkeeping (each
 * case counts once, prints its name on failure) and the fixtures (server
 * configurations, key shares, a ticket for the PSK cases). */
#ifndef HO_TEST_TLS_BADINPUT_H
#define HO_TEST_TLS_BADINPUT_H

#include "harness.h"
#include "tls_builder.h"
#include "tls_pair.h"

#include <time.h>

/* ---- case bookkeeping ------------------------------------------------- */

static const char *cur_case = "?";
static int case_count, case_failed;
static bool cur_failed;
static int64_t now_ms;

/* HO_BADINPUT_VERBOSE=1 prints, per case, why the engine failed (its
 * handshake_failed event), to check each case hits the intended check. */
static bool verbose;
static char last_failure[200];

static inline void on_event(void *ctx, const ho_event *ev)
{
    if (ev->type == HO_EV_HANDSHAKE_FAILED && ev->detail != NULL)
        snprintf(last_failure, sizeof(last_failure), "%s: %s", ev->role ? ev->role : "?", ev->detail);
}

static inline void begin_case(const char *name)
{
    cur_case = name;
    last_failure[0] = '\0';
    cur_failed = false;
    case_count++;
}

static inline void end_case(void)
{
    if (verbose)
        printf("%-48s %s\n", cur_case, last_failure[0] ? last_failure : "(no failure)");
    if (cur_failed)
        case_failed++;
}

static const char *err_name(int e, char *buf, size_t n)
{
    if (e == HO_OK)
        snprintf(buf, n, "HO_OK");
    else if (ho_err_is_alert(e))
        snprintf(buf, n, "alert %s(%u)", ho_tls_alert_name(ho_err_alert(e)), ho_err_alert(e));
    else
        snprintf(buf, n, "%s(%d)", ho_err_str(e), e);
    return buf;
}

/* Records a result of the current case; prints the case name on failure. */
static inline void expect_rc(const char *what, int got, int want)
{
    if (got == want) {
        ho_test_passed++;
        return;
    }
    char g[64], w[64];
    ho_test_failed++;
    cur_failed = true;
    fprintf(stderr, "FAIL [%s] %s: got %s, want %s\n", cur_case, what, err_name(got, g, sizeof(g)),
            err_name(want, w, sizeof(w)));
}

static inline void expect_true(const char *what, bool ok)
{
    if (ok) {
        ho_test_passed++;
        return;
    }
    ho_test_failed++;
    cur_failed = true;
    fprintf(stderr, "FAIL [%s] %s\n", cur_case, what);
}

/* After an error, any further input gets the same error back. */
static inline void expect_sticky(ho_tls *tls, ho_epoch epoch, ho_tls_out *out, int want)
{
    if (want == HO_OK)
        return;
    const uint8_t more[] = {HO_HS_FINISHED, 0, 0, 0};
    expect_rc("sticky error", ho_tls_handle(tls, epoch, more, sizeof(more), out), want);
    expect_rc("sticky error (other epoch)", ho_tls_handle(tls, HO_EPOCH_APP, more, sizeof(more), out), want);
}

#define ALERT(x) HO_ERR_TLS_ALERT(HO_ALERT_##x)

/* ---- fixtures --------------------------------------------------------- */

static ho_tls_config *scfg;      /* self-signed ECDSA P-256 "localhost", tickets on */
static ho_tls_config *scfg_alpn; /* same, ALPN {"h2"} */
static ho_tls_config *scfg_hrr;  /* P-256 only, HRR cookie on */
static ho_cert_chain server_cert; /* a copy of the leaf, for client trust */
static crypto_kex *kex_x25519, *kex_p256, *kex_mlkem;
static uint8_t session_blob[4096];
static size_t session_len;

static ho_tls_config *new_server_cfg(void)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    if (server_cert.count == 0)
        ho_cert_chain_add_der(&server_cert, chain.der[0], chain.len[0]);
    ho_tls_config *cfg = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(cfg, &chain, key), HO_OK);
    return cfg;
}

/* A client that trusts the server certificate of scfg. */
static ho_tls_config *new_client_cfg(void)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    ho_trust_store_add_der(ts, server_cert.der[0], server_cert.len[0]);
    ho_tls_config_set_trust(cfg, ts);
    return cfg;
}

static inline void save_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    if (len <= sizeof(session_blob) && session_len == 0) {
        memcpy(session_blob, blob, len);
        session_len = len;
    }
}

static inline void pair_begin(struct tls_pair *p, ho_tls_config *ccfg, ho_tls_config *s)
{
    pair_init(p, ccfg, s, "localhost");
    ho_tls_set_now(p->client, now_ms);
    ho_tls_set_now(p->server, now_ms);
}

static inline void setup(void)
{
    now_ms = (int64_t)time(NULL) * 1000;
    scfg = new_server_cfg();
    scfg_alpn = new_server_cfg();
    const char *h2 = "h2";
    ho_tls_config_set_alpn(scfg_alpn, &h2, 1);
    scfg_hrr = new_server_cfg();
    const uint16_t p256 = HO_GROUP_SECP256R1;
    ho_tls_config_set_groups(scfg_hrr, &p256, 1);
    ho_tls_config_set_hrr_cookie(scfg_hrr, true);
    kex_x25519 = crypto_kex_new(HO_GROUP_X25519);
    kex_p256 = crypto_kex_new(HO_GROUP_SECP256R1);
    kex_mlkem = crypto_kex_new(HO_GROUP_X25519MLKEM768);

    /* A ticket from scfg for the PSK cases. */
    ho_tls_config *c = new_client_cfg();
    ho_tls_callbacks cb = {.session = save_session};
    ho_tls_config_set_callbacks(c, &cb);
    struct tls_pair p;
    pair_begin(&p, c, scfg);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(session_len > 0);
    pair_free(&p);
    ho_tls_config_free(c);
}

static inline void teardown(void)
{
    ho_tls_config_free(scfg);
    ho_tls_config_free(scfg_alpn);
    ho_tls_config_free(scfg_hrr);
    ho_cert_chain_free(&server_cert);
    crypto_kex_free(kex_x25519);
    crypto_kex_free(kex_p256);
    crypto_kex_free(kex_mlkem);
}

#endif
