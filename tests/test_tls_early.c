/* Early data (0-RTT, RFC 8446 §4.2.10, §8): a client resumes with a ticket
 * that allows early data and writes before the handshake completes; the
 * server accepts it, or refuses it (replay, ticket age outside the window,
 * config changed, HelloRetryRequest, register full) and the handshake
 * completes in 1-RTT. In memory, over records (ho_tls_conn), plus the
 * engine's secret hook (tls_pair.h) that QUIC 0-RTT will use. */
#include "harness.h"
#include "tls_pair.h"
#include "tls/tls_int.h"

#include <pthread.h>

#include <time.h>

/* Wall-clock now (the certificate is valid around it), fixed per run. */
static int64_t NOW;

typedef struct fixture {
    ho_tls_config *scfg, *ccfg;
    uint8_t blob[4096];
    size_t blob_len;
} fixture;

static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)tls;
    fixture *f = ctx;
    if (len <= sizeof(f->blob)) {
        memcpy(f->blob, blob, len);
        f->blob_len = len;
    }
}

static void fixture_init(fixture *f, uint32_t server_early, uint32_t client_early)
{
    memset(f, 0, sizeof(*f));
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 1, &key, &chain), HO_OK);
    ho_trust_store *ts = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_der(ts, chain.der[0], chain.len[0]), HO_OK);
    f->scfg = ho_tls_config_new(true);
    f->ccfg = ho_tls_config_new(false);
    CHECK_EQ(ho_tls_config_add_cert(f->scfg, &chain, key), HO_OK);
    ho_tls_config_set_trust(f->ccfg, ts);
    ho_tls_config_set_early_data(f->scfg, server_early);
    ho_tls_config_set_early_data(f->ccfg, client_early);
    ho_tls_callbacks cb = {.session = on_session, .ctx = f};
    ho_tls_config_set_callbacks(f->ccfg, &cb);
}

static void fixture_free(fixture *f)
{
    ho_tls_config_free(f->scfg);
    ho_tls_config_free(f->ccfg);
}

static ho_tls_conn *conn(ho_tls_config *cfg, const char *name, int64_t now)
{
    ho_tls_conn *c = ho_tls_conn_new(cfg, name);
    CHECK(c != NULL);
    ho_tls_set_now(ho_tls_conn_tls(c), now);
    return c;
}

/* Moves everything `from` has to send into `to`. */
static int move(ho_tls_conn *from, ho_tls_conn *to)
{
    ho_buf *out = ho_tls_conn_out(from);
    int err = out->len ? ho_tls_conn_receive(to, out->data, out->len) : HO_OK;
    ho_buf_consume(out, out->len);
    return err;
}

static int pump(ho_tls_conn *c, ho_tls_conn *s)
{
    for (int i = 0; i < 32; i++) {
        bool quiet = ho_tls_conn_out(c)->len == 0 && ho_tls_conn_out(s)->len == 0;
        int err = move(c, s);
        if (err == HO_OK)
            err = move(s, c);
        if (err != HO_OK || quiet)
            return err;
    }
    return HO_ERR_INTERNAL;
}

static bool app_in_is(ho_tls_conn *c, const char *want)
{
    ho_buf *in = ho_tls_conn_app_in(c);
    bool ok = in->len == strlen(want) && memcmp(in->data, want, in->len) == 0;
    ho_buf_consume(in, in->len);
    return ok;
}

/* A full handshake that leaves a ticket in f->blob. */
static void get_ticket(fixture *f)
{
    ho_tls_conn *c = conn(f->ccfg, "localhost", NOW), *s = conn(f->scfg, NULL, NOW);
    CHECK_EQ(ho_tls_conn_start(c), HO_OK);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(ho_tls_conn_handshake_done(c) && ho_tls_conn_handshake_done(s));
    CHECK(f->blob_len > 0);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
}

/* A client resuming with f->blob, its early data written after start. */
static ho_tls_conn *early_client(fixture *f, int64_t now, const char *early)
{
    ho_tls_conn *c = conn(f->ccfg, "localhost", now);
    CHECK_EQ(ho_tls_set_session(ho_tls_conn_tls(c), f->blob, f->blob_len), HO_OK);
    CHECK_EQ(ho_tls_conn_start(c), HO_OK);
    if (early != NULL)
        CHECK_EQ(ho_tls_conn_write(c, early, strlen(early)), HO_OK);
    return c;
}

static const char REQ[] = "GET /early HTTP/1.1\r\nHost: localhost\r\n\r\n";

static void test_accepted(void)
{
    fixture f;
    fixture_init(&f, 1024, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    ho_tls_conn *c = early_client(&f, NOW + 5000, REQ);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_OFFERED);
    CHECK_EQ(ho_tls_early_data_max(ho_tls_conn_tls(c)), 1024);
    ho_tls_conn *s = conn(f.scfg, NULL, NOW + 5000);
    /* The ClientHello and the early data: the server reads the request
     * before the handshake completes. */
    CHECK_EQ(move(c, s), HO_OK);
    CHECK(!ho_tls_conn_handshake_done(s));
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_ACCEPTED);
    CHECK_EQ(ho_tls_conn_early_received(s), strlen(REQ));
    CHECK(app_in_is(s, REQ));
    /* The server answers at once (0.5-RTT), and the client keeps writing
     * early data until it sees the server's Finished. */
    CHECK_EQ(ho_tls_conn_write(s, "HTTP/1.1 200 OK\r\n", 17), HO_OK);
    CHECK_EQ(ho_tls_conn_write(c, "more", 4), HO_OK);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(ho_tls_conn_handshake_done(c) && ho_tls_conn_handshake_done(s));
    CHECK(ho_tls_is_resumed(ho_tls_conn_tls(c)));
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_ACCEPTED);
    CHECK_EQ(ho_tls_conn_early_received(s), strlen(REQ) + 4);
    CHECK(app_in_is(s, "more"));
    CHECK(app_in_is(c, "HTTP/1.1 200 OK\r\n"));
    /* After the handshake: 1-RTT both ways. */
    CHECK_EQ(ho_tls_conn_write(c, "after", 5), HO_OK);
    CHECK_EQ(ho_tls_conn_write(s, "reply", 5), HO_OK);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(app_in_is(s, "after"));
    CHECK(app_in_is(c, "reply"));
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    fixture_free(&f);
}

/* §8: the same ClientHello and early data a second time (captured on the
 * wire and replayed) is refused as early data; its records are skipped. */
static void test_replay_refused(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    ho_tls_conn *c = early_client(&f, NOW + 1000, REQ);
    ho_buf *flight = ho_tls_conn_out(c);
    uint8_t *copy = malloc(flight->len);
    size_t copy_len = flight->len;
    memcpy(copy, flight->data, copy_len);

    ho_tls_conn *s1 = conn(f.scfg, NULL, NOW + 1000);
    CHECK_EQ(move(c, s1), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s1)), HO_TLS_EARLY_ACCEPTED);
    CHECK(app_in_is(s1, REQ));
    CHECK_EQ(pump(c, s1), HO_OK);
    CHECK(ho_tls_conn_handshake_done(s1));

    ho_tls_conn *s2 = conn(f.scfg, NULL, NOW + 2000);
    CHECK_EQ(ho_tls_conn_receive(s2, copy, copy_len), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s2)), HO_TLS_EARLY_REPLAYED);
    CHECK_EQ(ho_tls_conn_early_received(s2), 0);
    CHECK_EQ(ho_tls_conn_app_in(s2)->len, 0);
    CHECK(ho_tls_conn_out(s2)->len > 0); /* it answers in 1-RTT (resumed) */
    CHECK(ho_tls_is_resumed(ho_tls_conn_tls(s2)));
    free(copy);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s1);
    ho_tls_conn_free(s2);
    fixture_free(&f);
}

/* A refusal completes in 1-RTT; the client learns it and resends. */
static void check_rejected_then_resend(fixture *f, int64_t client_now, int64_t server_now,
                                       ho_tls_early_status server_status)
{
    ho_tls_conn *c = early_client(f, client_now, REQ);
    ho_tls_conn *s = conn(f->scfg, NULL, server_now);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(ho_tls_conn_handshake_done(c) && ho_tls_conn_handshake_done(s));
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), server_status);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_REJECTED);
    CHECK_EQ(ho_tls_conn_app_in(s)->len, 0);
    CHECK_EQ(ho_tls_conn_early_received(s), 0);
    /* Too late for early data now: the application writes it again. */
    CHECK_EQ(ho_tls_conn_write(c, REQ, strlen(REQ)), HO_OK);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(app_in_is(s, REQ));
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
}

/* §8.1: a ticket gives early data once; a client using it again (a fresh
 * ClientHello, new binder) resumes in 1-RTT. */
static void test_ticket_reuse(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    uint8_t saved[sizeof(f.blob)];
    size_t saved_len = f.blob_len;
    memcpy(saved, f.blob, saved_len);
    ho_tls_conn *c = early_client(&f, NOW, REQ), *s = conn(f.scfg, NULL, NOW);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_ACCEPTED);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    memcpy(f.blob, saved, saved_len);
    f.blob_len = saved_len;
    check_rejected_then_resend(&f, NOW + 100, NOW + 100, HO_TLS_EARLY_REPLAYED);
    /* A fresh ticket (from the last connection) gives early data again. */
    c = early_client(&f, NOW + 200, REQ);
    s = conn(f.scfg, NULL, NOW + 200);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_ACCEPTED);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    fixture_free(&f);
}

static void test_rejected_config_changed(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    ho_tls_config_set_early_data(f.scfg, 0); /* the server turned it off */
    check_rejected_then_resend(&f, NOW + 1000, NOW + 1000, HO_TLS_EARLY_REJECTED);
    fixture_free(&f);
}

static void test_rejected_age_window(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    /* §8.3: the server's clock says 60 s later than the client's age. */
    check_rejected_then_resend(&f, NOW + 1000, NOW + 61000, HO_TLS_EARLY_REPLAYED);
    fixture_free(&f);
}

static void test_rejected_alpn_changed(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    const char *h1[] = {"http/1.1"}, *both[] = {"h2", "http/1.1"};
    CHECK_EQ(ho_tls_config_set_alpn(f.scfg, both, 2), HO_OK);
    CHECK_EQ(ho_tls_config_set_alpn(f.ccfg, h1, 1), HO_OK);
    get_ticket(&f);
    /* §4.2.10: the resumption would negotiate h2, the ticket says http/1.1. */
    const char *h2[] = {"h2", "http/1.1"};
    CHECK_EQ(ho_tls_config_set_alpn(f.ccfg, h2, 2), HO_OK);
    check_rejected_then_resend(&f, NOW, NOW, HO_TLS_EARLY_REJECTED);
    fixture_free(&f);
}

/* §4.2.10: a HelloRetryRequest rejects early data; the client's second
 * ClientHello goes in the clear without early_data. */
static void test_rejected_hrr(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    const uint16_t p256 = HO_GROUP_SECP256R1;
    CHECK_EQ(ho_tls_config_set_groups(f.scfg, &p256, 1), HO_OK);
    ho_tls_conn *c = early_client(&f, NOW, REQ);
    ho_tls_conn *s = conn(f.scfg, NULL, NOW);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(ho_tls_did_hrr(ho_tls_conn_tls(c)));
    CHECK(ho_tls_conn_handshake_done(c) && ho_tls_conn_handshake_done(s));
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_REJECTED);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_REJECTED);
    CHECK_EQ(ho_tls_conn_app_in(s)->len, 0);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    fixture_free(&f);
}

/* A ticket from a server without early data: nothing is offered. */
static void test_not_offered(void)
{
    fixture f;
    fixture_init(&f, 0, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    ho_tls_conn *c = early_client(&f, NOW, NULL);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_NONE);
    CHECK_EQ(ho_tls_conn_write(c, "x", 1), HO_ERR_EARLY_DATA);
    ho_tls_conn *s = conn(f.scfg, NULL, NOW);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK(ho_tls_is_resumed(ho_tls_conn_tls(s)));
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_NONE);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    /* A client without early data configured offers none either. */
    fixture g;
    fixture_init(&g, HO_TLS_EARLY_DATA_DEFAULT, 0);
    get_ticket(&g);
    c = early_client(&g, NOW, NULL);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(c)), HO_TLS_EARLY_NONE);
    ho_tls_conn_free(c);
    fixture_free(&f);
    fixture_free(&g);
}

/* Misuse: over the ticket's limit the client refuses; a server reading more
 * than max_early_data_size closes with unexpected_message (§4.2.10). */
static void test_limits(void)
{
    fixture f;
    fixture_init(&f, 100, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    char big[101];
    memset(big, 'a', sizeof(big));
    ho_tls_conn *c = early_client(&f, NOW, NULL);
    CHECK_EQ(ho_tls_conn_write(c, big, 101), HO_ERR_EARLY_DATA);
    CHECK_EQ(ho_tls_conn_write(c, big, 60), HO_OK);
    CHECK_EQ(ho_tls_conn_write(c, big, 41), HO_ERR_EARLY_DATA);
    CHECK_EQ(ho_tls_conn_write(c, big, 40), HO_OK);
    ho_tls_conn_free(c);

    /* A client that ignores the limit (forced past it here). */
    c = early_client(&f, NOW, NULL);
    ho_tls_conn_tls(c)->early_max = 1000;
    CHECK_EQ(ho_tls_conn_write(c, big, 101), HO_OK);
    ho_tls_conn *s = conn(f.scfg, NULL, NOW);
    int err = move(c, s);
    CHECK_EQ(err, HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    /* A server never writes early data; a client after a refusal neither. */
    s = conn(f.scfg, NULL, NOW);
    CHECK_EQ(ho_tls_conn_write(s, "x", 1), HO_ERR_INVALID_ARG);
    ho_tls_conn_free(s);
    fixture_free(&f);
}

/* A full strike register refuses early data instead of forgetting. */
static void test_register_full(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    CHECK_EQ(ho_tls_config_set_anti_replay(f.scfg, 10000, 1), HO_OK);
    get_ticket(&f);
    ho_tls_conn *c = early_client(&f, NOW, REQ), *s = conn(f.scfg, NULL, NOW);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_ACCEPTED);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    check_rejected_then_resend(&f, NOW + 1, NOW + 1, HO_TLS_EARLY_REJECTED);
    /* Once the first entry is older than twice the window, it is reused. */
    c = early_client(&f, NOW + 25000, REQ);
    s = conn(f.scfg, NULL, NOW + 25000);
    CHECK_EQ(pump(c, s), HO_OK);
    CHECK_EQ(ho_tls_early_data_status(ho_tls_conn_tls(s)), HO_TLS_EARLY_ACCEPTED);
    ho_tls_conn_free(c);
    ho_tls_conn_free(s);
    CHECK_EQ(ho_tls_config_set_anti_replay(f.ccfg, 10000, 1), HO_ERR_INVALID_ARG);
    fixture_free(&f);
}

/* The register is shared by threads: one flight replayed to 8 server
 * connections at once is accepted exactly once. */
struct race {
    fixture *f;
    const uint8_t *flight;
    size_t len;
    ho_tls_early_status status;
};

static void *race_main(void *arg)
{
    struct race *r = arg;
    ho_tls_conn *s = ho_tls_conn_new(r->f->scfg, NULL);
    ho_tls_set_now(ho_tls_conn_tls(s), NOW);
    if (ho_tls_conn_receive(s, r->flight, r->len) == HO_OK)
        r->status = ho_tls_early_data_status(ho_tls_conn_tls(s));
    ho_tls_conn_free(s);
    return NULL;
}

static void test_replay_threads(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    ho_tls_conn *c = early_client(&f, NOW, REQ);
    ho_buf *flight = ho_tls_conn_out(c);
    struct race r[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        r[i] = (struct race){.f = &f, .flight = flight->data, .len = flight->len};
        CHECK_EQ(pthread_create(&t[i], NULL, race_main, &r[i]), 0);
    }
    int accepted = 0, replayed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        accepted += r[i].status == HO_TLS_EARLY_ACCEPTED;
        replayed += r[i].status == HO_TLS_EARLY_REPLAYED;
    }
    CHECK_EQ(accepted, 1);
    CHECK_EQ(replayed, 7);
    ho_tls_conn_free(c);
    fixture_free(&f);
}

/* The engine hook QUIC uses: client_early_traffic_secret is announced as a
 * client write and a server read at HO_EPOCH_EARLY, the same on both. */
static void test_secret_hook(void)
{
    fixture f;
    fixture_init(&f, HO_TLS_EARLY_DATA_DEFAULT, HO_TLS_EARLY_DATA_DEFAULT);
    get_ticket(&f);
    struct tls_pair p;
    pair_init(&p, f.ccfg, f.scfg, "localhost");
    ho_tls_set_now(p.client, NOW);
    ho_tls_set_now(p.server, NOW);
    CHECK_EQ(ho_tls_set_session(p.client, f.blob, f.blob_len), HO_OK);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(ho_tls_early_data_status(p.server), HO_TLS_EARLY_ACCEPTED);
    CHECK_EQ(ho_tls_early_data_status(p.client), HO_TLS_EARLY_ACCEPTED);
    static const uint8_t zero[CRYPTO_HASH_MAX];
    CHECK(memcmp(p.cs.write[HO_EPOCH_EARLY], zero, 32) != 0);
    CHECK_MEM(p.cs.write[HO_EPOCH_EARLY], p.ss.read[HO_EPOCH_EARLY], 32);
    CHECK_MEM(p.cs.write[HO_EPOCH_HANDSHAKE], p.ss.read[HO_EPOCH_HANDSHAKE], 32);
    pair_free(&p);
    fixture_free(&f);
}

/* Sessions stored by a version without early data still resume. */
static void test_session_v1(void)
{
    struct session s;
    memset(&s, 0, sizeof(s));
    s.suite = HO_TLS_AES_128_GCM_SHA256;
    s.psk_len = 32;
    s.max_early = 777;
    uint8_t t[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    s.ticket = t;
    s.ticket_len = sizeof(t);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(tls_session_encode(&s, &b), HO_OK);
    struct session d;
    CHECK_EQ(tls_session_decode(b.data, b.len, &d), HO_OK);
    CHECK_EQ(d.max_early, 777);
    tls_session_clear(&d);
    /* version 1: no trailing max_early_data_size */
    b.data[0] = 1;
    CHECK_EQ(tls_session_decode(b.data, b.len - 4, &d), HO_OK);
    CHECK_EQ(d.max_early, 0);
    tls_session_clear(&d);
    CHECK_EQ(tls_session_decode(b.data, b.len, &d), HO_ERR_INVALID_ARG);
    tls_session_clear(&d);
    /* Without early data the blob is version 1, as before (same size). */
    size_t v2_len = b.len;
    b.len = 0;
    s.max_early = 0;
    CHECK_EQ(tls_session_encode(&s, &b), HO_OK);
    CHECK_EQ(b.data[0], 1);
    CHECK_EQ(b.len, v2_len - 4);
    ho_buf_free(&b);
}

int main(void)
{
    NOW = (int64_t)time(NULL) * 1000;
    RUN(test_accepted);
    RUN(test_replay_refused);
    RUN(test_ticket_reuse);
    RUN(test_rejected_config_changed);
    RUN(test_rejected_age_window);
    RUN(test_rejected_alpn_changed);
    RUN(test_rejected_hrr);
    RUN(test_not_offered);
    RUN(test_limits);
    RUN(test_register_full);
    RUN(test_replay_threads);
    RUN(test_secret_hook);
    RUN(test_session_v1);
    return ho_test_summary("test_tls_early");
}
