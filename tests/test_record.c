/* Unit tests for src/tls/record.c: a client and a server ho_tls_conn in
 * memory, bytes pumped between them; then hostile records. */
#include "harness.h"
#include "handoff/tls.h"

typedef struct pair {
    ho_tls_config *client_cfg, *server_cfg;
    ho_tls_conn *client, *server;
} pair;

static const uint16_t all_suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                                      HO_TLS_CHACHA20_POLY1305_SHA256};

/* Server with a fresh self-signed certificate, client trusting it. */
static bool pair_new(pair *p, uint16_t suite)
{
    memset(p, 0, sizeof(*p));
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 1, &key, &chain) != HO_OK)
        return false;
    ho_trust_store *ts = ho_trust_store_new();
    if (ts == NULL || ho_trust_store_add_der(ts, chain.der[0], chain.len[0]) != HO_OK) {
        ho_trust_store_free(ts);
        ho_cert_chain_free(&chain);
        ho_privkey_free(key);
        return false;
    }
    p->server_cfg = ho_tls_config_new(true);
    p->client_cfg = ho_tls_config_new(false);
    if (ho_tls_config_add_cert(p->server_cfg, &chain, key) != HO_OK)
        return false;
    ho_tls_config_set_trust(p->client_cfg, ts);
    if (suite != 0) {
        ho_tls_config_set_suites(p->server_cfg, &suite, 1);
        ho_tls_config_set_suites(p->client_cfg, &suite, 1);
    }
    p->client = ho_tls_conn_new(p->client_cfg, "localhost");
    p->server = ho_tls_conn_new(p->server_cfg, NULL);
    return p->client != NULL && p->server != NULL;
}

static void pair_free(pair *p)
{
    ho_tls_conn_free(p->client);
    ho_tls_conn_free(p->server);
    ho_tls_config_free(p->client_cfg);
    ho_tls_config_free(p->server_cfg);
}

/* Moves `from`'s output into `to`, in chunks of at most `chunk` bytes. */
static int transfer(ho_tls_conn *from, ho_tls_conn *to, size_t chunk, bool *moved)
{
    ho_buf *out = ho_tls_conn_out(from);
    while (out->len > 0) {
        size_t n = out->len < chunk ? out->len : chunk;
        int err = ho_tls_conn_receive(to, out->data, n);
        ho_buf_consume(out, n);
        *moved = true;
        if (err != HO_OK)
            return err;
    }
    return HO_OK;
}

/* Pumps both ways until quiet. Returns the first error with the side that
 * raised it in *who (0 client, 1 server). */
static int pump_chunked(pair *p, size_t chunk, int *who)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        int err = transfer(p->client, p->server, chunk, &moved);
        if (err != HO_OK) {
            if (who)
                *who = 1;
            return err;
        }
        err = transfer(p->server, p->client, chunk, &moved);
        if (err != HO_OK) {
            if (who)
                *who = 0;
            return err;
        }
        if (!moved)
            return HO_OK;
    }
    return HO_ERR_INTERNAL;
}

static int pump(pair *p) { return pump_chunked(p, SIZE_MAX, NULL); }

static bool handshake(pair *p, size_t chunk)
{
    if (ho_tls_conn_start(p->client) != HO_OK)
        return false;
    int err = pump_chunked(p, chunk, NULL);
    if (err != HO_OK)
        fprintf(stderr, "  handshake failed: %s (alert %d)\n", ho_err_str(err), ho_err_alert(err));
    return err == HO_OK && ho_tls_conn_handshake_done(p->client) && ho_tls_conn_handshake_done(p->server);
}

/* Writes len bytes from `from`, pumps, checks `to` got exactly them. */
static void check_transfer(pair *p, ho_tls_conn *from, ho_tls_conn *to, size_t len)
{
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 7 + len);
    CHECK_EQ(ho_tls_conn_write(from, data, len), HO_OK);
    CHECK_EQ(pump(p), HO_OK);
    ho_buf *in = ho_tls_conn_app_in(to);
    CHECK_EQ(in->len, len);
    if (in->len == len)
        CHECK_MEM(in->data, data, len);
    ho_buf_consume(in, in->len);
    free(data);
}

/* Record types in a buffer of whole records. */
static size_t record_types(const ho_buf *b, uint8_t *types, size_t max)
{
    ho_cursor c = ho_cursor_make(b->data, b->len);
    size_t n = 0;
    uint8_t type;
    uint16_t version;
    ho_cursor body;
    while (n < max && ho_get_u8(&c, &type) && ho_get_u16(&c, &version) && ho_get_block(&c, 2, &body))
        types[n++] = type;
    return n;
}

static void test_suite(uint16_t suite)
{
    pair p;
    CHECK(pair_new(&p, suite));
    CHECK_EQ(ho_tls_conn_start(p.client), HO_OK);
    uint8_t types[16];
    /* The ClientHello goes in one plaintext handshake record. */
    CHECK_EQ(record_types(ho_tls_conn_out(p.client), types, 16), 1);
    CHECK_EQ(types[0], 22);
    bool moved = false;
    CHECK_EQ(transfer(p.client, p.server, SIZE_MAX, &moved), HO_OK);
    /* Server flight: ServerHello in the clear, the compatibility
     * change_cipher_spec (our client sends a legacy_session_id, App. D.4),
     * then protected records only. */
    size_t n = record_types(ho_tls_conn_out(p.server), types, 16);
    CHECK(n >= 3);
    CHECK_EQ(types[0], 22);
    CHECK_EQ(types[1], 20);
    for (size_t i = 2; i < n; i++)
        CHECK_EQ(types[i], 23);
    CHECK_EQ(pump(&p), HO_OK);
    CHECK(ho_tls_conn_handshake_done(p.client));
    CHECK(ho_tls_conn_handshake_done(p.server));
    const ho_tls_suite *s = ho_tls_get_suite(ho_tls_conn_tls(p.client));
    CHECK(s != NULL && s->id == suite);

    check_transfer(&p, p.client, p.server, 1);
    check_transfer(&p, p.server, p.client, 300);
    check_transfer(&p, p.client, p.server, 100 * 1024);
    check_transfer(&p, p.server, p.client, 100 * 1024);
    check_transfer(&p, p.client, p.server, 16384);

    /* KeyUpdate in both directions, each asking the peer to update too. */
    CHECK_EQ(ho_tls_conn_key_update(p.client, true), HO_OK);
    CHECK_EQ(pump(&p), HO_OK);
    check_transfer(&p, p.client, p.server, 5000);
    check_transfer(&p, p.server, p.client, 5000);
    CHECK_EQ(ho_tls_conn_key_update(p.server, true), HO_OK);
    check_transfer(&p, p.server, p.client, 20000);
    check_transfer(&p, p.client, p.server, 20000);
    CHECK_EQ(ho_tls_conn_key_update(p.client, false), HO_OK);
    check_transfer(&p, p.client, p.server, 10);

    /* close_notify: the peer sees HO_ERR_CLOSED. */
    CHECK_EQ(ho_tls_conn_close(p.client), HO_OK);
    CHECK_EQ(ho_tls_conn_write(p.client, "x", 1), HO_ERR_CLOSED);
    int who = -1;
    CHECK_EQ(pump_chunked(&p, SIZE_MAX, &who), HO_ERR_CLOSED);
    CHECK_EQ(who, 1);
    /* Half-close: the server may still answer, then close too. */
    CHECK_EQ(ho_tls_conn_write(p.server, "bye", 3), HO_OK);
    CHECK_EQ(ho_tls_conn_close(p.server), HO_OK);
    bool m = false;
    CHECK_EQ(transfer(p.server, p.client, SIZE_MAX, &m), HO_ERR_CLOSED);
    CHECK_EQ(ho_tls_conn_app_in(p.client)->len, 3);
    pair_free(&p);
}

/* Handshake and data with the byte stream cut into tiny pieces. */
static void test_fragmented(void)
{
    pair p;
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, 1));
    check_transfer(&p, p.client, p.server, 40000);
    pair_free(&p);
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, 7));
    pair_free(&p);
}

/* The last alert_sent event: its connection id and alert. */
static uint64_t alert_ev_conn;
static int64_t alert_ev_desc = -1;
static void on_event(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->type == HO_EV_ALERT_SENT) {
        alert_ev_conn = ev->conn;
        alert_ev_desc = ev->a;
    }
}

/* Feeds `rec` to a fresh server; checks the error, the plaintext alert it
 * queued and the alert_sent event (carrying the connection's id). */
static void check_hostile_plain(const uint8_t *rec, size_t len, int want_alert)
{
    pair p;
    CHECK(pair_new(&p, 0));
    ho_tls_set_conn_id(ho_tls_conn_tls(p.server), 4242);
    alert_ev_conn = 0;
    alert_ev_desc = -1;
    int err = ho_tls_conn_receive(p.server, rec, len);
    CHECK_EQ(err, HO_ERR_TLS_ALERT(want_alert));
    CHECK_EQ(alert_ev_desc, want_alert);
    CHECK_EQ(alert_ev_conn, 4242);
    const uint8_t alert[7] = {21, 3, 3, 0, 2, 2, (uint8_t)want_alert};
    ho_buf *out = ho_tls_conn_out(p.server);
    CHECK_EQ(out->len, sizeof(alert));
    if (out->len == sizeof(alert))
        CHECK_MEM(out->data, alert, sizeof(alert));
    /* Dead: later calls return the same error and send nothing more. */
    ho_buf_consume(out, out->len);
    CHECK_EQ(ho_tls_conn_receive(p.server, rec, len), err);
    CHECK_EQ(out->len, 0);
    pair_free(&p);
}

static void test_hostile_plaintext(void)
{
    /* RFC 8446 §5.2: length 2^14 + 257, rejected from the header alone. */
    const uint8_t oversized[] = {22, 3, 3, 0x41, 0x01};
    check_hostile_plain(oversized, sizeof(oversized), HO_ALERT_RECORD_OVERFLOW);
    const uint8_t app_data_early[] = {23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    check_hostile_plain(app_data_early, sizeof(app_data_early), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t bad_ccs[] = {20, 3, 3, 0, 1, 2};
    check_hostile_plain(bad_ccs, sizeof(bad_ccs), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t long_ccs[] = {20, 3, 3, 0, 2, 1, 1};
    check_hostile_plain(long_ccs, sizeof(long_ccs), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t two_ccs[] = {20, 3, 3, 0, 1, 1, 20, 3, 3, 0, 1, 1};
    check_hostile_plain(two_ccs, sizeof(two_ccs), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t unknown_type[] = {99, 3, 3, 0, 1, 0};
    check_hostile_plain(unknown_type, sizeof(unknown_type), HO_ALERT_UNEXPECTED_MESSAGE);
    /* Plaintext HTTP to a TLS port: refused from the header, without
     * waiting for the 8 KB "record" its bytes announce. */
    const char http[] = "GET / HTTP/1.1\r\n";
    check_hostile_plain((const uint8_t *)http, sizeof(http) - 1, HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t empty_handshake[] = {22, 3, 3, 0, 0};
    check_hostile_plain(empty_handshake, sizeof(empty_handshake), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t empty_alert[] = {21, 3, 3, 0, 0};
    /* RFC 8446 §5.1: a zero-length Alert fragment is unexpected_message. */
    check_hostile_plain(empty_alert, sizeof(empty_alert), HO_ALERT_UNEXPECTED_MESSAGE);
    const uint8_t long_alert[] = {21, 3, 3, 0, 3, 2, 40, 0};
    check_hostile_plain(long_alert, sizeof(long_alert), HO_ALERT_DECODE_ERROR);
    /* A plaintext record over 2^14 (but under the ciphertext limit). */
    uint8_t *big = calloc(1, 5 + 16385);
    big[0] = 22, big[1] = 3, big[2] = 3, big[3] = 0x40, big[4] = 0x01;
    check_hostile_plain(big, 5 + 16385, HO_ALERT_RECORD_OVERFLOW);
    free(big);

    pair p;
    CHECK(pair_new(&p, 0));
    /* RFC 8446 §5: a CCS before the first ClientHello is unexpected; after
     * it, a lone CCS of 0x01 is dropped; a peer's alert ends the connection. */
    const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    CHECK_EQ(ho_tls_conn_receive(p.server, ccs, sizeof(ccs)), HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    pair_free(&p);
    CHECK(pair_new(&p, 0));
    CHECK_EQ(ho_tls_conn_start(p.client), HO_OK);
    ho_tls_conn_out(p.client)->len = 0;
    CHECK_EQ(ho_tls_conn_receive(p.client, ccs, sizeof(ccs)), HO_OK);
    const uint8_t fatal[] = {21, 3, 3, 0, 2, 2, 40};
    CHECK_EQ(ho_tls_conn_receive(p.client, fatal, sizeof(fatal)), HO_ERR_TLS_PEER_ALERT(40));
    CHECK_EQ(ho_tls_conn_out(p.client)->len, 0);
    pair_free(&p);

    /* Partial records wait for the rest. */
    CHECK(pair_new(&p, 0));
    CHECK_EQ(ho_tls_conn_receive(p.server, oversized, 3), HO_OK);
    CHECK_EQ(ho_tls_conn_out(p.server)->len, 0);
    pair_free(&p);
}

/* Hostile records once keys are in use. */
static void test_hostile_protected(void)
{
    pair p;
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, SIZE_MAX));
    uint8_t garbage[5 + 40] = {23, 3, 3, 0, 40};
    for (size_t i = 5; i < sizeof(garbage); i++)
        garbage[i] = (uint8_t)(i * 13);
    CHECK_EQ(ho_tls_conn_receive(p.server, garbage, sizeof(garbage)), HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC));
    /* The alert is protected; the client opens it and reports it. */
    uint8_t types[4];
    CHECK_EQ(record_types(ho_tls_conn_out(p.server), types, 4), 1);
    CHECK_EQ(types[0], 23);
    bool moved = false;
    CHECK_EQ(transfer(p.server, p.client, SIZE_MAX, &moved), HO_ERR_TLS_PEER_ALERT(HO_ALERT_BAD_RECORD_MAC));
    CHECK_EQ(ho_tls_conn_write(p.server, "x", 1), HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC));
    pair_free(&p);

    /* Too short to hold a tag. */
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, SIZE_MAX));
    const uint8_t tiny[] = {23, 3, 3, 0, 3, 1, 2, 3};
    CHECK_EQ(ho_tls_conn_receive(p.client, tiny, sizeof(tiny)), HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC));
    pair_free(&p);

    /* Plaintext handshake record after keys are in use. */
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, SIZE_MAX));
    const uint8_t plain_ku[] = {22, 3, 3, 0, 5, 24, 0, 0, 1, 0};
    CHECK_EQ(ho_tls_conn_receive(p.server, plain_ku, sizeof(plain_ku)), HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    pair_free(&p);

    /* change_cipher_spec after the handshake. */
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, SIZE_MAX));
    const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    CHECK_EQ(ho_tls_conn_receive(p.client, ccs, sizeof(ccs)), HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    pair_free(&p);

    /* A flipped bit in a real record. */
    CHECK(pair_new(&p, 0));
    CHECK(handshake(&p, SIZE_MAX));
    CHECK_EQ(ho_tls_conn_write(p.client, "hello", 5), HO_OK);
    ho_buf *out = ho_tls_conn_out(p.client);
    out->data[out->len - 1] ^= 1;
    CHECK_EQ(pump(&p), HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC));
    pair_free(&p);
}

/* Misuse that must not reach the wire. */
static void test_api_guards(void)
{
    pair p;
    CHECK(pair_new(&p, 0));
    CHECK(ho_tls_conn_write(p.client, "x", 1) != HO_OK);
    CHECK(ho_tls_conn_key_update(p.client, false) != HO_OK);
    CHECK_EQ(ho_tls_conn_out(p.client)->len, 0);
    CHECK(ho_tls_conn_tls(p.client) != NULL);
    CHECK(!ho_tls_conn_handshake_done(p.client));
    pair_free(&p);
}

int main(void)
{
    ho_event_subscribe(on_event, NULL);
    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++)
        test_suite(all_suites[i]);
    RUN(test_fragmented);
    RUN(test_hostile_plaintext);
    RUN(test_hostile_protected);
    RUN(test_api_guards);
    return ho_test_summary("record");
}
