/* RFC 8446 conformance the independent peers of issue 10 found broken: the
 * middlebox-compatibility change_cipher_spec (App. D.4, never over QUIC:
 * RFC 9001 §8.4), record-layer rules of §5.1-§5.4 (zero-length alerts,
 * key changes at record boundaries, no interleaving, records at and over
 * the size limits), whole supported_groups / signature_algorithms lists
 * (§4.2.3, §4.2.7, §4.2.8), skipping rejected early data (§4.2.10), old
 * legacy_version values (App. D.5) and the client's psk_key_exchange_modes
 * (§4.2.9), psk_ke resumption as an opt-in (§4.2.9), and the client's signature schemes for RSA-PSS and Ed25519
 * certificates (§4.2.3). Each case names the rule it checks; the compliance report
 * (docs/COMPLIANCE.md) lists these citations. Kept apart from
 * test_tls_badinput.c, which is already past the size a file should have. */
#include "harness.h"
#include "tls_builder.h"
#include "tls_pair.h"

#include <time.h>

#define ALERT(x) HO_ERR_TLS_ALERT(HO_ALERT_##x)

static int64_t now_ms;
static ho_tls_config *scfg;      /* ECDSA P-256 "localhost" */
static ho_tls_config *scfg_p256; /* same, groups {P-256}: an X25519 client gets HRR */
static ho_cert_chain server_cert;
static crypto_kex *kex_x25519, *kex_p256;

static ho_tls_config *new_server_cfg(void)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    ho_cert_chain_add_der(&server_cert, chain.der[0], chain.len[0]); /* clients trust them all */
    ho_tls_config *cfg = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(cfg, &chain, key), HO_OK);
    return cfg;
}

static ho_tls_config *new_client_cfg(uint16_t suite)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    for (size_t i = 0; i < server_cert.count; i++)
        ho_trust_store_add_der(ts, server_cert.der[i], server_cert.len[i]);
    ho_tls_config_set_trust(cfg, ts);
    if (suite != 0)
        ho_tls_config_set_suites(cfg, &suite, 1);
    return cfg;
}

/* ---- records between a client and a server conn ------------------------ */

struct rec {
    ho_tls_config *ccfg;
    ho_tls_conn *client, *server;
    uint16_t suite;
    uint8_t client_hs[32], client_ap[32]; /* from the client's key log */
    bool have_hs, have_ap;
};

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : 0;
}

static void grab(const char *line, const char *label, uint8_t *out, bool *have)
{
    size_t n = strlen(label);
    if (strncmp(line, label, n) != 0 || line[n] != ' ')
        return;
    const char *hex = strchr(line + n + 1, ' ');
    if (hex == NULL || strlen(hex + 1) != 64)
        return;
    for (int i = 0; i < 32; i++)
        out[i] = (uint8_t)(hexval(hex[1 + 2 * i]) << 4 | hexval(hex[2 + 2 * i]));
    *have = true;
}

static void rec_keylog(void *ctx, ho_tls *tls, const char *line)
{
    struct rec *r = ctx;
    (void)tls;
    grab(line, "CLIENT_HANDSHAKE_TRAFFIC_SECRET", r->client_hs, &r->have_hs);
    grab(line, "CLIENT_TRAFFIC_SECRET_0", r->client_ap, &r->have_ap);
}

static int transfer(ho_tls_conn *from, ho_tls_conn *to)
{
    ho_buf *out = ho_tls_conn_out(from);
    int rc = out->len ? ho_tls_conn_receive(to, out->data, out->len) : HO_OK;
    ho_buf_consume(out, out->len);
    return rc;
}

static void rec_begin(struct rec *r, ho_tls_config *server_cfg, uint16_t suite)
{
    memset(r, 0, sizeof(*r));
    r->suite = suite;
    r->ccfg = new_client_cfg(suite);
    ho_tls_callbacks cb = {.keylog = rec_keylog, .ctx = r};
    ho_tls_config_set_callbacks(r->ccfg, &cb);
    r->client = ho_tls_conn_new(r->ccfg, "localhost");
    r->server = ho_tls_conn_new(server_cfg, NULL);
    ho_tls_set_now(ho_tls_conn_tls(r->client), now_ms);
    ho_tls_set_now(ho_tls_conn_tls(r->server), now_ms);
}

static void rec_connect(struct rec *r)
{
    CHECK_EQ(ho_tls_conn_start(r->client), HO_OK);
    for (int i = 0; i < 6; i++) {
        CHECK_EQ(transfer(r->client, r->server), HO_OK);
        CHECK_EQ(transfer(r->server, r->client), HO_OK);
    }
    CHECK(ho_tls_conn_handshake_done(r->client) && ho_tls_conn_handshake_done(r->server) && r->have_ap);
}

static void rec_end(struct rec *r)
{
    ho_tls_conn_free(r->client);
    ho_tls_conn_free(r->server);
    ho_tls_config_free(r->ccfg);
}

static ho_aead_alg suite_aead(uint16_t suite)
{
    return suite == HO_TLS_CHACHA20_POLY1305_SHA256 ? HO_AEAD_CHACHA20_POLY1305 : HO_AEAD_AES_128_GCM;
}

/* Appends a record protected as the client would with `secret` (SHA-256
 * suites) at sequence `seq`: inner = content || type || zeros. */
static void seal(uint16_t suite, const uint8_t *secret, uint64_t seq, const uint8_t *inner, size_t inner_len,
                 ho_buf *out)
{
    uint8_t key[32], iv[HO_AEAD_IV_LEN];
    ho_aead_alg alg = suite_aead(suite);
    size_t key_len = crypto_aead_key_len(alg);
    crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "key", NULL, 0, key, key_len);
    crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "iv", NULL, 0, iv, sizeof(iv));
    crypto_aead *a = crypto_aead_new(alg, true, key, iv);
    size_t body = inner_len + CRYPTO_AEAD_TAG_LEN;
    uint8_t header[5] = {23, 3, 3, (uint8_t)(body >> 8), (uint8_t)body};
    ho_put_bytes(out, header, 5);
    uint8_t *p = ho_put_space(out, body);
    CHECK(a != NULL && p != NULL && crypto_aead_seal(a, seq, header, 5, inner, inner_len, p) == HO_OK);
    crypto_aead_free(a);
}

/* Opens the first record of `in` with `secret` at `seq` into inner. */
static bool open_first(uint16_t suite, const uint8_t *secret, uint64_t seq, const ho_buf *in, uint8_t *inner,
                       size_t *inner_len)
{
    if (in->len < 5 || in->data[0] != 23)
        return false;
    size_t len = (size_t)in->data[3] << 8 | in->data[4];
    if (in->len < 5 + len || len < CRYPTO_AEAD_TAG_LEN)
        return false;
    uint8_t key[32], iv[HO_AEAD_IV_LEN];
    ho_aead_alg alg = suite_aead(suite);
    crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "key", NULL, 0, key, crypto_aead_key_len(alg));
    crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "iv", NULL, 0, iv, sizeof(iv));
    crypto_aead *a = crypto_aead_new(alg, false, key, iv);
    bool ok = a != NULL && crypto_aead_open(a, seq, in->data, 5, in->data + 5, len, inner) == HO_OK;
    crypto_aead_free(a);
    *inner_len = len - CRYPTO_AEAD_TAG_LEN;
    return ok;
}

/* The content types of the records in b. */
static size_t record_types(const ho_buf *b, uint8_t *types, size_t max)
{
    ho_cursor c = ho_cursor_make(b->data, b->len), body;
    size_t n = 0;
    uint8_t type;
    uint16_t version;
    while (n < max && ho_get_u8(&c, &type) && ho_get_u16(&c, &version) && ho_get_block(&c, 2, &body))
        types[n++] = type;
    return n;
}

/* A plaintext record around `body`. */
static void plain_record(ho_buf *out, uint8_t type, const uint8_t *body, size_t len)
{
    const uint8_t h[5] = {type, 3, 3, (uint8_t)(len >> 8), (uint8_t)len};
    ho_put_bytes(out, h, 5);
    ho_put_bytes(out, body, len);
}

/* The server's result for `in`, and the fatal alert it must have queued
 * last (encrypted ones are read by the client). */
static void expect_server_alert(struct rec *r, const uint8_t *in, size_t len, int want, bool encrypted)
{
    CHECK_EQ(ho_tls_conn_receive(r->server, in, len), want);
    ho_buf *out = ho_tls_conn_out(r->server);
    uint8_t desc = ho_err_alert(want);
    if (!encrypted) {
        const uint8_t alert[7] = {21, 3, 3, 0, 2, 2, desc};
        CHECK(out->len >= 7 && memcmp(out->data + out->len - 7, alert, 7) == 0);
    } else {
        CHECK_EQ(transfer(r->server, r->client), HO_ERR_TLS_PEER_ALERT(desc));
    }
}

/* ---- item 1: the compatibility change_cipher_spec (App. D.4) ------------ */

static void test_compat_ccs(void)
{
    struct rec r;
    uint8_t types[16];
    /* Our client sends a 32-byte legacy_session_id: ServerHello, then one
     * change_cipher_spec, then only protected records. */
    rec_begin(&r, scfg, 0);
    CHECK_EQ(ho_tls_conn_start(r.client), HO_OK);
    CHECK_EQ(transfer(r.client, r.server), HO_OK);
    size_t n = record_types(ho_tls_conn_out(r.server), types, 16);
    CHECK(n >= 3);
    CHECK_EQ(types[0], 22);
    CHECK_EQ(types[1], 20);
    const uint8_t ccs[6] = {20, 3, 3, 0, 1, 1};
    ho_buf *sout = ho_tls_conn_out(r.server);
    size_t sh_len = 5 + ((size_t)sout->data[3] << 8 | sout->data[4]);
    CHECK(sout->len >= sh_len + 6 && memcmp(sout->data + sh_len, ccs, 6) == 0);
    for (size_t i = 2; i < n; i++)
        CHECK_EQ(types[i], 23);
    CHECK_EQ(transfer(r.server, r.client), HO_OK);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(transfer(r.client, r.server), HO_OK);
        CHECK_EQ(transfer(r.server, r.client), HO_OK);
    }
    CHECK(ho_tls_conn_handshake_done(r.client) && ho_tls_conn_handshake_done(r.server));
    rec_end(&r);

    /* After a HelloRetryRequest: CCS right after it, none after the
     * ServerHello that follows (only after the first hello). */
    rec_begin(&r, scfg_p256, 0);
    CHECK_EQ(ho_tls_conn_start(r.client), HO_OK);
    CHECK_EQ(transfer(r.client, r.server), HO_OK);
    n = record_types(ho_tls_conn_out(r.server), types, 16);
    CHECK_EQ(n, 2);
    CHECK_EQ(types[0], 22);
    CHECK_EQ(types[1], 20);
    CHECK_EQ(transfer(r.server, r.client), HO_OK);
    CHECK(ho_tls_did_hrr(ho_tls_conn_tls(r.client)));
    CHECK_EQ(transfer(r.client, r.server), HO_OK);
    n = record_types(ho_tls_conn_out(r.server), types, 16);
    CHECK(n >= 2);
    CHECK_EQ(types[0], 22);
    for (size_t i = 1; i < n; i++)
        CHECK_EQ(types[i], 23);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(transfer(r.server, r.client), HO_OK);
        CHECK_EQ(transfer(r.client, r.server), HO_OK);
    }
    CHECK(ho_tls_conn_handshake_done(r.client) && ho_tls_conn_handshake_done(r.server));
    rec_end(&r);

    /* An empty legacy_session_id: no change_cipher_spec. */
    rec_begin(&r, scfg, 0);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ch.session_id_len = 0;
    ho_buf m, b;
    ho_buf_init(&m);
    ho_buf_init(&b);
    tb_ch_build(&ch, &m);
    plain_record(&b, 22, m.data, m.len);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    n = record_types(ho_tls_conn_out(r.server), types, 16);
    CHECK(n >= 2);
    for (size_t i = 1; i < n; i++)
        CHECK_EQ(types[i], 23);
    ho_buf_free(&m);
    ho_buf_free(&b);
    rec_end(&r);
}

/* A QUIC-style transport parameters hook (extension 0x39) that sends an
 * empty body: it makes the engine a QUIC one. */
static int tp_hook(void *ctx, ho_tls *tls, uint8_t msg_type, const uint8_t *peer, size_t peer_len, ho_buf *out)
{
    (void)ctx, (void)tls, (void)msg_type, (void)peer, (void)peer_len, (void)out;
    return HO_OK;
}

static void test_quic_session_id(void)
{
    ho_tls_config *qs = new_server_cfg();
    ho_tls_config *qc = new_client_cfg(0);
    CHECK_EQ(ho_tls_config_add_ext_hook(qs, 0x39, tp_hook, NULL), HO_OK);
    CHECK_EQ(ho_tls_config_add_ext_hook(qc, 0x39, tp_hook, NULL), HO_OK);

    /* RFC 9001 §8.4: a QUIC client does not ask for compatibility mode
     * (empty legacy_session_id), and the handshake completes. */
    struct tls_pair p;
    pair_init(&p, qc, qs, "localhost");
    ho_tls_set_now(p.client, now_ms);
    ho_tls_set_now(p.server, now_ms);
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    ho_cursor sid, exts;
    ho_buf *chb = &p.cout.send[HO_EPOCH_INITIAL];
    CHECK(tb_hello_parse(chb->data, chb->len, &sid, &exts));
    CHECK_EQ(sid.len, 0);
    pair_free(&p);
    pair_init(&p, qc, qs, "localhost");
    ho_tls_set_now(p.client, now_ms);
    ho_tls_set_now(p.server, now_ms);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.server));
    pair_free(&p);

    /* A QUIC ClientHello with a legacy_session_id: PROTOCOL_VIOLATION
     * (HO_ERR_QUIC(0x0a), which the QUIC layer sends as is). */
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    tb_ext_add(&ch.ext, 0x39, NULL, 0);
    ho_buf m;
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    ho_tls *s = ho_tls_new(qs, NULL);
    ho_tls_out out;
    ho_tls_out_init(&out);
    CHECK_EQ(ho_tls_handle(s, HO_EPOCH_INITIAL, m.data, m.len, &out), 0x20000 + 0x0a);
    CHECK_EQ(out.send[HO_EPOCH_INITIAL].len, 0);
    ho_tls_out_free(&out);
    ho_tls_free(s);
    ho_buf_free(&m);
    ho_tls_config_free(qs);
    ho_tls_config_free(qc);
}

/* ---- items 2-5: the record layer (§5.1-§5.4) ---------------------------- */

static void test_zero_length_alert(void)
{
    struct rec r;
    /* §5.1: zero-length Alert fragments MUST NOT be sent. */
    rec_begin(&r, scfg, 0);
    const uint8_t empty[] = {21, 3, 3, 0, 0};
    expect_server_alert(&r, empty, sizeof(empty), ALERT(UNEXPECTED_MESSAGE), false);
    rec_end(&r);
    /* And protected, after the handshake. */
    rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
    rec_connect(&r);
    ho_buf b;
    ho_buf_init(&b);
    const uint8_t inner[] = {21};
    seal(r.suite, r.client_ap, 0, inner, sizeof(inner), &b);
    expect_server_alert(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    ho_buf_free(&b);
    rec_end(&r);
}

static void test_key_change_boundary(void)
{
    struct rec r;
    ho_buf b;
    /* §5.1: two KeyUpdates in one record: the first precedes a key change
     * and does not end the record. */
    const uint8_t two[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 0, HO_HS_KEY_UPDATE, 0, 0, 1, 0, 22};
    const uint8_t two_req[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 1, HO_HS_KEY_UPDATE, 0, 0, 1, 0, 22};
    for (int v = 0; v < 2; v++) {
        rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
        rec_connect(&r);
        ho_buf_init(&b);
        seal(r.suite, r.client_ap, 0, v ? two_req : two, sizeof(two), &b);
        expect_server_alert(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
        ho_buf_free(&b);
        rec_end(&r);
    }
    /* A KeyUpdate followed by the first byte of the next message. */
    rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
    rec_connect(&r);
    ho_buf_init(&b);
    const uint8_t ku_and_byte[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 0, HO_HS_KEY_UPDATE, 22};
    seal(r.suite, r.client_ap, 0, ku_and_byte, sizeof(ku_and_byte), &b);
    expect_server_alert(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    ho_buf_free(&b);
    rec_end(&r);
    /* One KeyUpdate per record is fine, also split over two records. */
    rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
    rec_connect(&r);
    ho_buf_init(&b);
    const uint8_t ku_a[] = {HO_HS_KEY_UPDATE, 0, 22}, ku_b[] = {1, 0, 22};
    seal(r.suite, r.client_ap, 0, ku_a, sizeof(ku_a), &b);
    seal(r.suite, r.client_ap, 1, ku_b, sizeof(ku_b), &b);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    ho_buf_free(&b);
    rec_end(&r);

    /* The client's Finished followed by more handshake bytes in its record
     * (re-sealed from the client's own Finished record). */
    rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
    CHECK_EQ(ho_tls_conn_start(r.client), HO_OK);
    CHECK_EQ(transfer(r.client, r.server), HO_OK);
    CHECK_EQ(transfer(r.server, r.client), HO_OK);
    uint8_t inner[256];
    size_t inner_len = 0;
    CHECK(r.have_hs && open_first(r.suite, r.client_hs, 0, ho_tls_conn_out(r.client), inner, &inner_len));
    CHECK(inner_len > 0 && inner_len < 200 && inner[inner_len - 1] == 22);
    inner[inner_len - 1] = HO_HS_KEY_UPDATE; /* the next message's first byte */
    inner[inner_len++] = 22;
    ho_buf_init(&b);
    seal(r.suite, r.client_hs, 0, inner, inner_len, &b);
    ho_buf_consume(ho_tls_conn_out(r.client), ho_tls_conn_out(r.client)->len);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), ALERT(UNEXPECTED_MESSAGE));
    ho_buf_free(&b);
    rec_end(&r);
}

static void test_no_interleaving(void)
{
    struct rec r;
    ho_buf b;
    /* §5.1: a KeyUpdate split 1/4 with application data between. */
    rec_begin(&r, scfg, HO_TLS_AES_128_GCM_SHA256);
    rec_connect(&r);
    ho_buf_init(&b);
    const uint8_t first[] = {HO_HS_KEY_UPDATE, 22}, data[] = {'x', 23}, rest[] = {0, 0, 1, 0, 22};
    seal(r.suite, r.client_ap, 0, first, sizeof(first), &b);
    seal(r.suite, r.client_ap, 1, data, sizeof(data), &b);
    seal(r.suite, r.client_ap, 2, rest, sizeof(rest), &b);
    expect_server_alert(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    CHECK_EQ(ho_tls_conn_app_in(r.server)->len, 0);
    ho_buf_free(&b);
    rec_end(&r);
    /* A ClientHello split over two records with a change_cipher_spec
     * between. */
    rec_begin(&r, scfg, 0);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf m;
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    ho_buf_init(&b);
    plain_record(&b, 22, m.data, 10);
    const uint8_t one = 1;
    plain_record(&b, 20, &one, 1);
    plain_record(&b, 22, m.data + 10, m.len - 10);
    expect_server_alert(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), false);
    ho_buf_free(&m);
    ho_buf_free(&b);
    rec_end(&r);
}

/* The client's Finished re-sealed with its inner plaintext padded to
 * `inner_len` bytes (content, type, zeros). Returns the server's result. */
static int padded_finished(uint16_t suite, size_t inner_len, bool *done)
{
    struct rec r;
    rec_begin(&r, scfg, suite);
    CHECK_EQ(ho_tls_conn_start(r.client), HO_OK);
    CHECK_EQ(transfer(r.client, r.server), HO_OK);
    CHECK_EQ(transfer(r.server, r.client), HO_OK);
    uint8_t *inner = calloc(1, inner_len + 256);
    size_t got = 0;
    CHECK(inner != NULL && r.have_hs && open_first(suite, r.client_hs, 0, ho_tls_conn_out(r.client), inner, &got));
    ho_buf b;
    ho_buf_init(&b);
    if (got <= inner_len)
        seal(suite, r.client_hs, 0, inner, inner_len, &b); /* zeros after the type */
    ho_buf_consume(ho_tls_conn_out(r.client), ho_tls_conn_out(r.client)->len);
    int rc = ho_tls_conn_receive(r.server, b.data, b.len);
    *done = ho_tls_conn_handshake_done(r.server);
    if (rc != HO_OK)
        CHECK(ho_tls_conn_out(r.server)->len > 0); /* the alert is queued */
    free(inner);
    ho_buf_free(&b);
    rec_end(&r);
    return rc;
}

static void test_record_limits(void)
{
    const uint16_t suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_CHACHA20_POLY1305_SHA256};
    for (int i = 0; i < 2; i++) {
        bool done = false;
        /* §5.4: an inner plaintext of exactly 2^14 + 1 is processed. */
        CHECK_EQ(padded_finished(suites[i], (1 << 14) + 1, &done), HO_OK);
        CHECK(done);
        /* One byte more: record_overflow (§5.2, §5.4). */
        CHECK_EQ(padded_finished(suites[i], (1 << 14) + 2, &done), ALERT(RECORD_OVERFLOW));
        CHECK(!done);
        /* A ciphertext of exactly 2^14 + 256 (the §5.2 limit) carries more
         * than 2^14 + 1 of plaintext: record_overflow, never a hang. */
        CHECK_EQ(padded_finished(suites[i], (1 << 14) + 256 - CRYPTO_AEAD_TAG_LEN, &done), ALERT(RECORD_OVERFLOW));
        CHECK(!done);
    }
    /* A plaintext record of exactly 2^14 is processed: a ClientHello padded
     * (unknown extension) to fill one. */
    struct rec r;
    rec_begin(&r, scfg, 0);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf m, b;
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    size_t fill = (1 << 14) - m.len; /* extension headers (4 bytes) included */
    static uint8_t zeros[TB_EXT_MAX_BODY];
    for (int k = 0; fill >= 4; k++) {
        size_t n = fill - 4 < TB_EXT_MAX_BODY ? fill - 4 : TB_EXT_MAX_BODY;
        tb_ext_add(&ch.ext, (uint16_t)(0x7a00 + k), zeros, n);
        fill -= n + 4;
    }
    ho_buf_free(&m);
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    CHECK_EQ(m.len, 1 << 14);
    ho_buf_init(&b);
    plain_record(&b, 22, m.data, m.len);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    CHECK(ho_tls_conn_out(r.server)->len > 0);
    ho_buf_free(&m);
    ho_buf_free(&b);
    rec_end(&r);
}

/* ---- item 6: whole lists (§4.2.3, §4.2.7, §4.2.8) ----------------------- */

static int feed_ch(ho_tls_config *cfg, const struct tb_client_hello *ch, size_t *answer)
{
    ho_buf m;
    ho_buf_init(&m);
    tb_ch_build(ch, &m);
    ho_tls *s = ho_tls_new(cfg, NULL);
    ho_tls_set_now(s, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    int rc = ho_tls_handle(s, HO_EPOCH_INITIAL, m.data, m.len, &out);
    if (answer != NULL)
        *answer = out.send[HO_EPOCH_INITIAL].len;
    ho_tls_out_free(&out);
    ho_tls_free(s);
    ho_buf_free(&m);
    return rc;
}

/* §4.2.3: the client-hello callback sees the schemes the client accepts in
 * certificates: signature_algorithms_cert when sent (known schemes, in the
 * client's order), else signature_algorithms; a malformed one is decode_error. */
static uint16_t seen_cert_sigs[8];
static size_t seen_cert_sig_count, seen_sig_count;
static int record_cert_sigs(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx;
    (void)tls;
    seen_sig_count = ch->sig_scheme_count;
    seen_cert_sig_count = ch->cert_sig_scheme_count;
    for (size_t i = 0; i < ch->cert_sig_scheme_count && i < 8; i++)
        seen_cert_sigs[i] = ch->cert_sig_schemes[i];
    return HO_OK;
}

static void test_sig_algs_cert(void)
{
    ho_tls_config *cfg = new_server_cfg();
    ho_tls_callbacks cb = {.client_hello = record_cert_sigs};
    ho_tls_config_set_callbacks(cfg, &cb);
    struct tb_client_hello ch;
    size_t answer = 0;
    tb_ch_init(&ch, kex_x25519, "localhost");
    CHECK_EQ(feed_ch(cfg, &ch, &answer), HO_OK);
    CHECK(answer > 0);
    CHECK(seen_sig_count > 0 && seen_cert_sig_count == seen_sig_count); /* absent: signature_algorithms */
    const uint16_t cert_sigs[] = {0x0a0a /* unknown: skipped */, HO_SIG_ED25519, HO_SIG_ECDSA_SECP256R1_SHA256};
    tb_ext_set_u16_list(&ch.ext, 50 /* signature_algorithms_cert */, 2, cert_sigs, 3);
    CHECK_EQ(feed_ch(cfg, &ch, &answer), HO_OK);
    CHECK(answer > 0);
    CHECK_EQ(seen_cert_sig_count, 2);
    CHECK_EQ(seen_cert_sigs[0], HO_SIG_ED25519);
    CHECK_EQ(seen_cert_sigs[1], HO_SIG_ECDSA_SECP256R1_SHA256);
    const uint8_t odd[] = {0, 3, 8, 7, 4}; /* an odd-length list */
    tb_ext_set(&ch.ext, 50, odd, sizeof(odd));
    CHECK_EQ(feed_ch(cfg, &ch, NULL), ALERT(DECODE_ERROR));
    ho_tls_config_free(cfg);
}

static void test_whole_lists(void)
{
    struct tb_client_hello ch;
    size_t answer = 0;
    /* 213 signature schemes, the only one our certificate can use last. */
    uint16_t sigs[213];
    for (int i = 0; i < 212; i++)
        sigs[i] = (uint16_t)(0x0a00 + i);
    sigs[212] = HO_SIG_ECDSA_SECP256R1_SHA256;
    tb_ch_init(&ch, kex_x25519, "localhost");
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, sigs, 213);
    CHECK_EQ(feed_ch(scfg, &ch, &answer), HO_OK);
    CHECK(answer > 0);
    /* The same scheme repeated does not hide a later one. */
    for (int i = 0; i < 212; i++)
        sigs[i] = HO_SIG_RSA_PSS_RSAE_SHA256;
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, sigs, 213);
    CHECK_EQ(feed_ch(scfg, &ch, &answer), HO_OK);

    /* 100 unknown groups, then X25519 with its key share. */
    uint16_t groups[101];
    for (int i = 0; i < 100; i++)
        groups[i] = (uint16_t)(0x2a00 + i);
    groups[100] = HO_GROUP_X25519;
    tb_ch_init(&ch, kex_x25519, "localhost");
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SUPPORTED_GROUPS, 2, groups, 101);
    CHECK_EQ(feed_ch(scfg, &ch, &answer), HO_OK);
    CHECK(answer > 0);
    /* A share for an unknown group listed late, then ours: the unknown one
     * is skipped, ours is used. */
    uint8_t pub[CRYPTO_KEX_PUB_MAX];
    size_t pub_len = sizeof(pub);
    crypto_kex_public(kex_x25519, pub, &pub_len);
    const uint8_t junk[32] = {1};
    struct tb_share shares[2] = {{0x2a50, junk, sizeof(junk)}, {HO_GROUP_X25519, pub, pub_len}};
    tb_ext_set_key_shares(&ch.ext, shares, 2);
    CHECK_EQ(feed_ch(scfg, &ch, &answer), HO_OK);
    /* A share for a group not listed at all is still illegal_parameter. */
    shares[0].group = 0x3a00;
    tb_ext_set_key_shares(&ch.ext, shares, 2);
    CHECK_EQ(feed_ch(scfg, &ch, NULL), ALERT(ILLEGAL_PARAMETER));
    /* supported_versions with TLS 1.3 after 100 other values. */
    uint16_t versions[101];
    for (int i = 0; i < 100; i++)
        versions[i] = (uint16_t)(0x7f00 + i);
    versions[100] = 0x0304;
    tb_ch_init(&ch, kex_x25519, "localhost");
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SUPPORTED_VERSIONS, 1, versions, 101);
    CHECK_EQ(feed_ch(scfg, &ch, &answer), HO_OK);
}

/* ---- item 7: rejected early data is skipped (§4.2.10) -------------------- */

static void test_early_data_skip(void)
{
    struct rec r;
    struct tb_client_hello ch;
    ho_buf m, b;
    uint8_t garbage[5 + 1000];
    garbage[0] = 23, garbage[1] = 3, garbage[2] = 3, garbage[3] = 1000 >> 8, garbage[4] = 1000 & 0xff;
    for (int i = 0; i < 1000; i++)
        garbage[5 + i] = (uint8_t)(i * 31 + 7);

    /* early_data offered, no HRR: records that fail to decrypt under the
     * handshake key are skipped up to max_early_data_size (2^14 here). */
    rec_begin(&r, scfg, 0);
    tb_ch_init(&ch, kex_x25519, "localhost");
    tb_ext_add(&ch.ext, TB_EXT_EARLY_DATA, NULL, 0);
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    ho_buf_init(&b);
    plain_record(&b, 22, m.data, m.len);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    for (int i = 0; i < 16; i++) /* 16 x 984 bytes <= 2^14 */
        CHECK_EQ(ho_tls_conn_receive(r.server, garbage, sizeof(garbage)), HO_OK);
    /* Past the limit: bad_record_mac. */
    CHECK_EQ(ho_tls_conn_receive(r.server, garbage, sizeof(garbage)), ALERT(BAD_RECORD_MAC));
    ho_buf_free(&b);
    rec_end(&r);

    /* Without early_data in the ClientHello nothing is skipped. */
    rec_begin(&r, scfg, 0);
    tb_ext_remove(&ch.ext, TB_EXT_EARLY_DATA);
    ho_buf_free(&m);
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    ho_buf_init(&b);
    plain_record(&b, 22, m.data, m.len);
    CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    CHECK_EQ(ho_tls_conn_receive(r.server, garbage, sizeof(garbage)), ALERT(BAD_RECORD_MAC));
    ho_buf_free(&b);
    rec_end(&r);

    /* After a HelloRetryRequest, application_data records are skipped until
     * the second ClientHello; after it, a bad record is bad_record_mac. */
    for (int offered = 1; offered >= 0; offered--) {
        rec_begin(&r, scfg_p256, 0);
        tb_ch_init(&ch, kex_x25519, "localhost");
        if (offered)
            tb_ext_add(&ch.ext, TB_EXT_EARLY_DATA, NULL, 0);
        ho_buf_free(&m);
        ho_buf_init(&m);
        tb_ch_build(&ch, &m);
        ho_buf_init(&b);
        plain_record(&b, 22, m.data, m.len);
        CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
        CHECK(ho_tls_did_hrr(ho_tls_conn_tls(r.server)));
        if (!offered) {
            expect_server_alert(&r, garbage, sizeof(garbage), ALERT(UNEXPECTED_MESSAGE), false);
            ho_buf_free(&b);
            rec_end(&r);
            continue;
        }
        for (int i = 0; i < 3; i++)
            CHECK_EQ(ho_tls_conn_receive(r.server, garbage, sizeof(garbage)), HO_OK);
        tb_ch_init(&ch, kex_p256, "localhost");
        ho_buf_free(&m);
        ho_buf_init(&m);
        tb_ch_build(&ch, &m);
        ho_buf_free(&b);
        ho_buf_init(&b);
        plain_record(&b, 22, m.data, m.len);
        CHECK_EQ(ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
        CHECK_EQ(ho_tls_conn_receive(r.server, garbage, sizeof(garbage)), ALERT(BAD_RECORD_MAC));
        ho_buf_free(&b);
        rec_end(&r);
    }
    ho_buf_free(&m);
}

/* ---- item 8: legacy_version (App. D.5, §4.1.2) --------------------------- */

static void test_legacy_version(void)
{
    const uint16_t bad[] = {0x0300, 0x0000, 0x0102, 0x0301, 0x0302};
    struct tb_client_hello ch;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        tb_ch_init(&ch, kex_x25519, "localhost");
        ch.legacy_version = bad[i];
        CHECK_EQ(feed_ch(scfg, &ch, NULL), ALERT(PROTOCOL_VERSION));
    }
    /* Higher values are ignored in favour of supported_versions (§4.2.1). */
    tb_ch_init(&ch, kex_x25519, "localhost");
    ch.legacy_version = 0x0304;
    CHECK_EQ(feed_ch(scfg, &ch, NULL), HO_OK);
}

/* ---- item 9: psk_key_exchange_modes in every ClientHello (§4.2.9) ------- */

static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)tls, (void)blob, (void)len;
}

static void test_client_psk_modes(void)
{
    ho_tls_config *c = new_client_cfg(0);
    ho_tls_callbacks cb = {.session = on_session};
    ho_tls_config_set_callbacks(c, &cb);
    ho_tls *t = ho_tls_new(c, "localhost");
    ho_tls_set_now(t, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    CHECK_EQ(ho_tls_start(t, &out), HO_OK);
    ho_cursor modes = {NULL, 0};
    ho_buf *chb = &out.send[HO_EPOCH_INITIAL];
    CHECK(tb_hello_ext(chb->data, chb->len, TB_EXT_PSK_KEY_EXCHANGE_MODES, &modes));
    const uint8_t want[] = {1, 1}; /* psk_dhe_ke */
    CHECK(modes.len == 2 && memcmp(modes.p, want, 2) == 0);
    CHECK(!tb_hello_ext(chb->data, chb->len, TB_EXT_PRE_SHARED_KEY, &modes));
    ho_tls_out_free(&out);
    ho_tls_free(t);

    /* The per-connection session callback (QUIC's) counts too. */
    ho_tls_config *plain = new_client_cfg(0);
    t = ho_tls_new(plain, "localhost");
    ho_tls_set_session_cb(t, on_session, NULL);
    ho_tls_out_init(&out);
    CHECK_EQ(ho_tls_start(t, &out), HO_OK);
    CHECK(tb_hello_ext(out.send[0].data, out.send[0].len, TB_EXT_PSK_KEY_EXCHANGE_MODES, &modes));
    ho_tls_out_free(&out);
    ho_tls_free(t);
    ho_tls_config_free(plain);
    ho_tls_config_free(c);
}

/* ---- item 11: psk_ke, resumption without (EC)DHE (§4.2.9), opt-in ------- */

static uint8_t ke_blob[4096];
static size_t ke_blob_len;

static void keep_blob(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)tls;
    if (len <= sizeof(ke_blob)) {
        memcpy(ke_blob, blob, len);
        ke_blob_len = len;
    }
}

/* One handshake; with a session blob, a resumption offer. */
static void ke_run(ho_tls_config *c, ho_tls_config *s, bool offer, bool *resumed, uint16_t *group,
                   ho_buf *client_hello)
{
    struct tls_pair p;
    pair_init(&p, c, s, "localhost");
    ho_tls_set_now(p.client, now_ms);
    ho_tls_set_now(p.server, now_ms);
    if (offer)
        CHECK_EQ(ho_tls_set_session(p.client, ke_blob, ke_blob_len), HO_OK);
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    if (client_hello != NULL)
        ho_put_bytes(client_hello, p.cout.send[0].data, p.cout.send[0].len);
    /* pair_run starts the client itself: hand the ClientHello over first. */
    p.server_err = ho_tls_handle(p.server, HO_EPOCH_INITIAL, p.cout.send[0].data, p.cout.send[0].len, &p.sout);
    p.cout.send[0].len = 0;
    for (int round = 0; round < 8; round++) {
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p.sout.send[e];
            if (b->len && p.client_err == HO_OK)
                p.client_err = ho_tls_handle(p.client, (ho_epoch)e, b->data, b->len, &p.cout);
            b->len = 0;
        }
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p.cout.send[e];
            if (b->len && p.server_err == HO_OK)
                p.server_err = ho_tls_handle(p.server, (ho_epoch)e, b->data, b->len, &p.sout);
            b->len = 0;
        }
    }
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    *resumed = ho_tls_is_resumed(p.client) && ho_tls_is_resumed(p.server);
    *group = ho_tls_get_group(p.server);
    CHECK_EQ(ho_tls_get_group(p.client), *group);
    pair_free(&p);
}

static void test_psk_ke(void)
{
    /* Servers first: the clients trust every server certificate made so far. */
    ho_tls_config *s_ke = new_server_cfg(), *s_dhe = new_server_cfg();
    ho_tls_config_set_psk_ke(s_ke, true);
    ho_tls_config *c_ke = new_client_cfg(0), *c_dhe = new_client_cfg(0);
    ho_tls_callbacks cb = {.session = keep_blob};
    ho_tls_config_set_callbacks(c_ke, &cb);
    ho_tls_config_set_callbacks(c_dhe, &cb);
    ho_tls_config_set_psk_ke(c_ke, true);

    bool resumed;
    uint16_t group;
    ho_buf ch;
    ho_buf_init(&ch);
    ho_cursor modes;
    /* First handshake: psk_ke and psk_dhe_ke listed (tickets from any server). */
    ke_blob_len = 0;
    ke_run(c_ke, s_ke, false, &resumed, &group, &ch);
    CHECK(!resumed && group == HO_GROUP_X25519MLKEM768 && ke_blob_len > 0);
    const uint8_t both[] = {2, 0, 1}, ke_only[] = {1, 0};
    CHECK(tb_hello_ext(ch.data, ch.len, TB_EXT_PSK_KEY_EXCHANGE_MODES, &modes) && modes.len == 3 &&
          memcmp(modes.p, both, 3) == 0);
    /* Both sides opted in: resumed with no key exchange (group 0), and the
     * offer lists psk_ke alone. */
    ch.len = 0;
    ke_run(c_ke, s_ke, true, &resumed, &group, &ch);
    CHECK(resumed);
    CHECK_EQ(group, 0);
    CHECK(tb_hello_ext(ch.data, ch.len, TB_EXT_PSK_KEY_EXCHANGE_MODES, &modes) && modes.len == 2 &&
          memcmp(modes.p, ke_only, 2) == 0);
    /* A server that has not opted in never uses a mode the client did not
     * ask for, nor psk_ke: a full handshake with the client's key share. */
    ke_blob_len = 0;
    ke_run(c_ke, s_dhe, false, &resumed, &group, NULL);
    ke_run(c_ke, s_dhe, true, &resumed, &group, NULL);
    CHECK(!resumed && group == HO_GROUP_X25519MLKEM768);
    /* A client that has not opted in: resumed with (EC)DHE. */
    ke_blob_len = 0;
    ke_run(c_dhe, s_ke, false, &resumed, &group, NULL);
    ke_run(c_dhe, s_ke, true, &resumed, &group, NULL);
    CHECK(resumed && group == HO_GROUP_X25519MLKEM768);

    /* A ServerHello without key_share to a client that did not offer
     * psk_ke: missing_extension (it would be a psk_ke resumption). */
    ho_tls *t = ho_tls_new(c_dhe, "localhost");
    ho_tls_set_now(t, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    CHECK_EQ(ho_tls_set_session(t, ke_blob, ke_blob_len), HO_OK);
    CHECK_EQ(ho_tls_start(t, &out), HO_OK);
    ho_cursor sid, exts;
    ho_buf *chb = &out.send[HO_EPOCH_INITIAL];
    CHECK(tb_hello_parse(chb->data, chb->len, &sid, &exts));
    struct tb_server_hello sh;
    tb_sh_init(&sh, sid.p, sid.len, HO_TLS_AES_128_GCM_SHA256, NULL);
    const uint8_t zero_index[2] = {0, 0};
    tb_ext_add(&sh.ext, TB_EXT_PRE_SHARED_KEY, zero_index, 2);
    ho_buf shb;
    ho_buf_init(&shb);
    tb_sh_build(&sh, &shb);
    CHECK_EQ(ho_tls_handle(t, HO_EPOCH_INITIAL, shb.data, shb.len, &out), ALERT(MISSING_EXTENSION));
    ho_buf_free(&shb);
    ho_tls_out_free(&out);
    ho_tls_free(t);

    ho_buf_free(&ch);
    ho_tls_config_free(c_ke);
    ho_tls_config_free(c_dhe);
    ho_tls_config_free(s_ke);
    ho_tls_config_free(s_dhe);
}

/* ---- item 12: certificate signature schemes (§4.2.3) -------------------- */

static bool u16_list_has(ho_cursor body, uint16_t v)
{
    ho_cursor list;
    uint16_t x;
    if (!ho_get_block(&body, 2, &list))
        return false;
    while (ho_get_u16(&list, &x))
        if (x == v)
            return true;
    return false;
}

static void test_client_cert_schemes(void)
{
    ho_tls_config *c = new_client_cfg(0);
    ho_tls *t = ho_tls_new(c, "localhost");
    ho_tls_out out;
    ho_tls_out_init(&out);
    CHECK_EQ(ho_tls_start(t, &out), HO_OK);
    ho_buf *chb = &out.send[HO_EPOCH_INITIAL];
    ho_cursor sigs, cert_sigs;
    CHECK(tb_hello_ext(chb->data, chb->len, TB_EXT_SIGNATURE_ALGORITHMS, &sigs));
    /* rsa_pss_pss_* (RSASSA-PSS keys) and Ed25519 in CertificateVerify. */
    CHECK(u16_list_has(sigs, 0x0809) && u16_list_has(sigs, 0x080a) && u16_list_has(sigs, 0x080b));
    CHECK(u16_list_has(sigs, HO_SIG_ED25519));
    CHECK(!u16_list_has(sigs, 0x0401)); /* §4.4.3: never PKCS#1 v1.5 there */
    /* signature_algorithms_cert: PKCS#1 v1.5 accepted in certificates. */
    CHECK(tb_hello_ext(chb->data, chb->len, 50, &cert_sigs));
    CHECK(u16_list_has(cert_sigs, 0x0401) && u16_list_has(cert_sigs, 0x0809) &&
          u16_list_has(cert_sigs, HO_SIG_ECDSA_SECP256R1_SHA256));
    ho_tls_out_free(&out);
    ho_tls_free(t);
    ho_tls_config_free(c);
}

/* §4.2.3: an RSA certificate signs with whichever rsa_pss_rsae_* hash the
 * client lists; one that lists only SHA-384 or SHA-512 is served, and the
 * CertificateVerify verifies (a full in-memory handshake). */
static void test_rsa_pss_hashes(void)
{
    ho_tls_config *s = ho_tls_config_new(true);
    char crt[4096]; /* ho_test_data's buffer is reused by the next call */
    snprintf(crt, sizeof(crt), "%s", ho_test_data("arena/certs/server.crt"));
    CHECK_EQ(ho_tls_config_load_cert_files(s, crt, ho_test_data("arena/certs/server.key")), HO_OK);
    const uint16_t want[] = {HO_SIG_RSA_PSS_RSAE_SHA256, 0x0805, 0x0806};
    for (size_t i = 0; i < 3; i++) {
        struct tb_client_hello ch;
        tb_ch_init(&ch, kex_x25519, "localhost");
        tb_ext_set_u16_list(&ch.ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, &want[i], 1);
        ho_buf m;
        ho_buf_init(&m);
        tb_ch_build(&ch, &m);
        ho_tls *t = ho_tls_new(s, NULL);
        ho_tls_set_now(t, now_ms);
        ho_tls_out out;
        ho_tls_out_init(&out);
        CHECK_EQ(ho_tls_handle(t, HO_EPOCH_INITIAL, m.data, m.len, &out), HO_OK);
        CHECK_EQ(ho_tls_get_sig_scheme(t), want[i]);
        ho_tls_out_free(&out);
        ho_tls_free(t);
        ho_buf_free(&m);
    }
    /* ECDSA P-256 keys stay bound to their curve's one scheme. */
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    const uint16_t only384 = 0x0805;
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, &only384, 1);
    size_t answer = 0;
    CHECK_EQ(feed_ch(scfg, &ch, &answer), ALERT(HANDSHAKE_FAILURE));
    ho_tls_config_free(s);
}

int main(void)
{
    now_ms = (int64_t)time(NULL) * 1000;
    scfg = new_server_cfg();
    scfg_p256 = new_server_cfg();
    const uint16_t p256 = HO_GROUP_SECP256R1;
    ho_tls_config_set_groups(scfg_p256, &p256, 1);
    kex_x25519 = crypto_kex_new(HO_GROUP_X25519);
    kex_p256 = crypto_kex_new(HO_GROUP_SECP256R1);

    RUN(test_compat_ccs);
    RUN(test_quic_session_id);
    RUN(test_zero_length_alert);
    RUN(test_key_change_boundary);
    RUN(test_no_interleaving);
    RUN(test_record_limits);
    RUN(test_whole_lists);
    RUN(test_sig_algs_cert);
    RUN(test_early_data_skip);
    RUN(test_legacy_version);
    RUN(test_client_psk_modes);
    RUN(test_client_cert_schemes);
    RUN(test_rsa_pss_hashes);
    RUN(test_psk_ke);

    ho_tls_config_free(scfg);
    ho_tls_config_free(scfg_p256);
    ho_cert_chain_free(&server_cert);
    crypto_kex_free(kex_x25519);
    crypto_kex_free(kex_p256);
    return ho_test_summary("test_tls_conform");
}
