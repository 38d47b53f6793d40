/* Shared by the fuzz targets and gen_corpus: deterministic randomness, the
 * fixed configurations, and the one-input drivers. gen_corpus builds its
 * seeds with exactly these configurations and checks each seed by running it
 * through the same driver the target uses.
 *
 * Determinism: OpenSSL's DRBGs are replaced by its TEST-RAND generator fed
 * from a fixed buffer, rewound before every input. Our client's random and
 * key share are then the same in every run, so a server flight recorded
 * against that ClientHello verifies (CertificateVerify, Finished) and the
 * fuzzer reaches the whole client state machine, NewSessionTicket included.
 * The server's ticket key and certificate are fixed too (the key set through
 * the internal config), so seeded PSK offers open and their binders are
 * checked, and the server's transcript is the same in every process. */
#ifndef HO_FUZZ_COMMON_H
#define HO_FUZZ_COMMON_H

#include "handoff/tls.h"
#include "tls/tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Wall clock seen by every ho_tls (2024-01-01T00:00:00Z). */
#define FUZZ_NOW_MS 1704067200000LL
#define FUZZ_SERVER_NAME "localhost"

static inline void fuzz_die(const char *what)
{
    fprintf(stderr, "fuzz set-up failed: %s\n", what);
    abort();
}

static uint8_t fuzz_entropy[1 << 16];

/* Rewinds the deterministic generators (public and private DRBG). */
static inline void fuzz_rng_reset(void)
{
    unsigned int strength = 256;
    size_t max_request = sizeof(fuzz_entropy);
    OSSL_PARAM p[4];
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_RAND_PARAM_TEST_ENTROPY, fuzz_entropy, sizeof(fuzz_entropy));
    p[1] = OSSL_PARAM_construct_uint(OSSL_RAND_PARAM_STRENGTH, &strength);
    p[2] = OSSL_PARAM_construct_size_t(OSSL_RAND_PARAM_MAX_REQUEST, &max_request);
    p[3] = OSSL_PARAM_construct_end();
    if (!EVP_RAND_CTX_set_params(RAND_get0_public(NULL), p) || !EVP_RAND_CTX_set_params(RAND_get0_private(NULL), p))
        fuzz_die("TEST-RAND parameters");
}

/* Must run before anything draws randomness. */
static inline void fuzz_rng_init(void)
{
    uint32_t x = 0x9e3779b9u; /* xorshift32: bytes that look random, same every time */
    for (size_t i = 0; i < sizeof(fuzz_entropy); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        fuzz_entropy[i] = (uint8_t)x;
    }
    if (!RAND_set_DRBG_type(NULL, "TEST-RAND", NULL, NULL, NULL))
        fuzz_die("RAND_set_DRBG_type(TEST-RAND)");
    fuzz_rng_reset();
}

static inline void fuzz_fixed_ticket_key(ho_tls_config *cfg)
{
    struct ticket_key *k = &cfg->ticket_keys[0];
    memset(k, 0, sizeof(*k));
    memcpy(k->id, "fuzz", 4);
    for (size_t i = 0; i < sizeof(k->key); i++)
        k->key[i] = (uint8_t)(0xa0 + i);
    k->created_ms = FUZZ_NOW_MS;
    k->valid = true;
}

/* The server's certificate: a fixed self-signed ECDSA P-256 one (CN and
 * SAN localhost, 100 years). Not ho_selfsigned_generate: it stamps the
 * validity with the wall clock, so every process would send a different
 * Certificate message and the record seeds' client Finished (made over the
 * generator's transcript) would not verify in the target. */
static const char fuzz_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBmjCCAUGgAwIBAgIUIEIpZqZtd/mlBiCqJ9cceGtuqC0wCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEyMjAzMDczMloYDzIxMjYxMDI5\n"
    "MDMwNzMyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO\n"
    "PQMBBwNCAAQizFxA6ks2/rx4aENaDzE5eedO7+wWewTzyY6hIK2/7KOQX2qJ9f9j\n"
    "bUushCpODSQ8AQQtLQEnbJiKQbACpvoro28wbTAdBgNVHQ4EFgQU3cI3yXvhM/u3\n"
    "cp0mMNO9em2jkyQwHwYDVR0jBBgwFoAU3cI3yXvhM/u3cp0mMNO9em2jkyQwDwYD\n"
    "VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI\n"
    "zj0EAwIDRwAwRAIgPt0hUTtwyKx5GAkmsqOcyEuxzOMpqBg768slq3UMKrsCIDvJ\n"
    "DiRJeoxZ3kzh1Nk/oECwlw+XyrwksGEYJq6nozsq\n"
    "-----END CERTIFICATE-----\n";
static const char fuzz_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyOkCxM9kHYavX82b\n"
    "1Oc9j9EXXItMPMVBtvuqx45chgehRANCAAQizFxA6ks2/rx4aENaDzE5eedO7+wW\n"
    "ewTzyY6hIK2/7KOQX2qJ9f9jbUushCpODSQ8AQQtLQEnbJiKQbACpvor\n"
    "-----END PRIVATE KEY-----\n";

/* The server: that certificate, default suites and groups, one ticket under
 * the fixed key, no ALPN list, early data accepted (so a ClientHello
 * offering it on one of its tickets reaches the anti-replay checks). */
static inline ho_tls_config *fuzz_server_config(void)
{
    ho_privkey *key = ho_privkey_load_pem(fuzz_key_pem, sizeof(fuzz_key_pem) - 1);
    ho_cert_chain chain = {0};
    if (key == NULL || ho_cert_chain_load_pem(&chain, fuzz_cert_pem, sizeof(fuzz_cert_pem) - 1) != HO_OK)
        fuzz_die("fixed certificate");
    ho_tls_config *cfg = ho_tls_config_new(true);
    if (cfg == NULL || ho_tls_config_add_cert(cfg, &chain, key) != HO_OK)
        fuzz_die("server config");
    ho_tls_config_set_tickets(cfg, 1, 7200, 1000000);
    fuzz_fixed_ticket_key(cfg);
    ho_tls_config_set_early_data(cfg, HO_TLS_EARLY_DATA_DEFAULT);
    return cfg;
}

static inline void fuzz_ignore_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)tls, (void)blob, (void)len;
}

/* The client: no chain verification (so CertificateVerify and Finished are
 * reachable), ALPN h2 + http/1.1, default suites and groups, SNI localhost. */
static inline ho_tls_config *fuzz_client_config(void)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    if (cfg == NULL)
        fuzz_die("client config");
    ho_tls_config_set_verify_peer(cfg, false);
    const char *alpn[] = {"h2", "http/1.1"};
    if (ho_tls_config_set_alpn(cfg, alpn, 2) != HO_OK)
        fuzz_die("client alpn");
    ho_tls_callbacks cb = {.session = fuzz_ignore_session};
    ho_tls_config_set_callbacks(cfg, &cb);
    return cfg;
}

static inline void fuzz_out_clear(ho_tls_out *out)
{
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        out->send[e].len = 0;
}

/* fuzz_tls_server input: [split selector][ClientHello bytes...]. The bytes
 * are fed at the initial epoch in two calls, cut at selector % (n + 1)
 * (0: one call). Returns the last ho_tls_handle result; *produced tells
 * whether the server wrote anything. */
static inline int fuzz_server_run(ho_tls_config *cfg, const uint8_t *data, size_t size, size_t *produced)
{
    *produced = 0;
    if (size < 1)
        return HO_OK;
    const uint8_t *p = data + 1;
    size_t n = size - 1, cut = data[0] % (n + 1);
    fuzz_rng_reset();
    ho_tls *tls = ho_tls_new(cfg, NULL);
    if (tls == NULL)
        fuzz_die("ho_tls_new");
    ho_tls_set_now(tls, FUZZ_NOW_MS);
    ho_tls_out out;
    ho_tls_out_init(&out);
    int rc = HO_OK;
    if (cut > 0)
        rc = ho_tls_handle(tls, HO_EPOCH_INITIAL, p, cut, &out);
    if (rc == HO_OK)
        rc = ho_tls_handle(tls, HO_EPOCH_INITIAL, p + cut, n - cut, &out);
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        *produced += out.send[e].len;
    /* The server's flight waits for the client's keys: nothing more to do. */
    ho_tls_out_free(&out);
    ho_tls_free(tls);
    return rc;
}

/* fuzz_tls_client input: chunks [epoch (mod 4)][u16 length][bytes], fed to
 * a started client until an error. A short last chunk is fed as it is.
 * Returns the last result; *done tells whether the handshake completed. */
static inline int fuzz_client_run(ho_tls_config *cfg, const uint8_t *data, size_t size, bool *done)
{
    fuzz_rng_reset();
    ho_tls *tls = ho_tls_new(cfg, FUZZ_SERVER_NAME);
    if (tls == NULL)
        fuzz_die("ho_tls_new");
    ho_tls_set_now(tls, FUZZ_NOW_MS);
    ho_tls_out out;
    ho_tls_out_init(&out);
    int rc = ho_tls_start(tls, &out);
    while (rc == HO_OK && size >= 3) {
        ho_epoch epoch = (ho_epoch)(data[0] & 3);
        size_t len = (size_t)data[1] << 8 | data[2];
        data += 3, size -= 3;
        if (len > size)
            len = size;
        fuzz_out_clear(&out);
        rc = ho_tls_handle(tls, epoch, data, len, &out);
        data += len, size -= len;
    }
    *done = ho_tls_handshake_done(tls);
    ho_tls_out_free(&out);
    ho_tls_free(tls);
    return rc;
}

/* fuzz_tls_record input: [split selector][bytes from the client's socket]:
 * a fresh server ho_tls_conn receives them in two calls cut like
 * fuzz_server_run. Returns the last result (HO_ERR_CLOSED after a
 * close_notify); *done: handshake complete; *app: application bytes read. */
static inline int fuzz_record_run(ho_tls_config *cfg, const uint8_t *data, size_t size, bool *done, size_t *app)
{
    *done = false, *app = 0;
    if (size < 1)
        return HO_OK;
    const uint8_t *p = data + 1;
    size_t n = size - 1, cut = data[0] % (n + 1);
    fuzz_rng_reset();
    ho_tls_conn *c = ho_tls_conn_new(cfg, NULL);
    if (c == NULL)
        fuzz_die("ho_tls_conn_new");
    ho_tls_set_now(ho_tls_conn_tls(c), FUZZ_NOW_MS);
    int rc = HO_OK;
    if (cut > 0)
        rc = ho_tls_conn_receive(c, p, cut);
    ho_buf_consume(ho_tls_conn_out(c), ho_tls_conn_out(c)->len);
    if (rc == HO_OK)
        rc = ho_tls_conn_receive(c, p + cut, n - cut);
    *done = ho_tls_conn_handshake_done(c);
    *app = ho_tls_conn_app_in(c)->len;
    ho_tls_conn_free(c);
    return rc;
}

#endif
