/* Ticket keys shared by a fleet (ho_tls_config_set_ticket_keys and the key
 * file): parsing, the first key seals and all open, two configs with the
 * same keys resume each other's tickets, a rotation keeps old tickets
 * working, refused key sets leave the keys in use alone, replaced keys are
 * wiped, and a replacement while other threads seal and open tickets is
 * race-free (this test runs under TSan: scripts/test.sh TSAN_TESTS). */
#include "harness.h"
#include "tls_pair.h"
#include "tls/tls_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#define SL HO_TLS_TICKET_SECRET_LEN

static ho_tls_config *server_cfg(void)
{
    ho_tls_config *cfg = ho_tls_config_new(true);
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    CHECK_EQ(ho_tls_config_add_cert(cfg, &chain, key), HO_OK);
    return cfg;
}

static void make_secret(uint8_t *s, uint8_t fill)
{
    for (size_t i = 0; i < SL; i++)
        s[i] = (uint8_t)(fill + i);
}

/* ---- the file format ------------------------------------------------------ */

static const char KEY_A[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char KEY_B[] = "F0F1F2F3F4F5F6F7F8F9FAFBFCFDFEFF000102030405060708090A0B0C0D0E0F";

static int parse(const char *text, uint8_t *keys, size_t max, size_t *n, char *err)
{
    return ho_tls_ticket_keys_parse(text, strlen(text), keys, max, n, err, 160);
}

static void test_parse(void)
{
    uint8_t keys[HO_TLS_TICKET_KEYS_MAX * SL];
    size_t n = 99;
    char err[160], text[1024];
    /* Comments, blank lines, CRLF and spaces around a key are fine. */
    snprintf(text, sizeof(text), "# fleet keys\r\n\n  %s \r\n\t%s\n# end", KEY_A, KEY_B);
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_OK);
    CHECK_EQ(n, 2);
    CHECK_HEX(keys, SL, KEY_A);
    CHECK_HEX(keys + SL, SL, KEY_B);
    /* Without a final newline. */
    CHECK_EQ(parse(KEY_A, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_OK);
    CHECK_EQ(n, 1);

    /* Refused, with the line named. */
    CHECK_EQ(parse("", keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    CHECK(strstr(err, "no key") != NULL);
    CHECK_EQ(n, 0);
    CHECK_EQ(parse("# only a comment\n\n", keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    snprintf(text, sizeof(text), "%s\n%.62s\n", KEY_A, KEY_B); /* short */
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    CHECK(strstr(err, "line 2:") != NULL);
    snprintf(text, sizeof(text), "%s00\n", KEY_A); /* long */
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    CHECK(strstr(err, "line 1:") != NULL);
    snprintf(text, sizeof(text), "%.63sg\n", KEY_A); /* not hex */
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    snprintf(text, sizeof(text), "%.32s %.32s\n", KEY_A, KEY_A + 32); /* a space inside */
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    snprintf(text, sizeof(text), "%s\n%s\n\n%s\n", KEY_A, KEY_B, KEY_A); /* given twice */
    CHECK_EQ(parse(text, keys, HO_TLS_TICKET_KEYS_MAX, &n, err), HO_ERR_INVALID_ARG);
    CHECK(strstr(err, "line 4:") != NULL);
    snprintf(text, sizeof(text), "%s\n%s\n", KEY_A, KEY_B); /* more than max */
    CHECK_EQ(parse(text, keys, 1, &n, err), HO_ERR_INVALID_ARG);
    CHECK(strstr(err, "more than 1") != NULL);
    /* A refused parse leaves no key material behind. */
    static const uint8_t zero[2 * SL];
    CHECK_MEM(keys, zero, SL);
    /* A NUL byte is not a key character. */
    char nul[65];
    memcpy(nul, KEY_A, 64);
    nul[10] = '\0';
    CHECK_EQ(ho_tls_ticket_keys_parse(nul, 64, keys, 4, &n, NULL, 0), HO_ERR_INVALID_ARG);
}

static void test_read_file(void)
{
    char path[] = "/tmp/ho-ticketkeys-XXXXXX", err[160];
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    char text[256];
    int len = snprintf(text, sizeof(text), "%s\n%s\n", KEY_B, KEY_A);
    CHECK_EQ(write(fd, text, (size_t)len), len);
    close(fd);
    uint8_t keys[4 * SL];
    size_t n = 0;
    CHECK_EQ(ho_tls_ticket_keys_read(path, keys, 4, &n, err, sizeof(err)), HO_OK);
    CHECK_EQ(n, 2);
    CHECK_HEX(keys, SL, KEY_B);
    unlink(path);
    CHECK_EQ(ho_tls_ticket_keys_read(path, keys, 4, &n, err, sizeof(err)), HO_ERR_IO);
    CHECK(strstr(err, path) != NULL);
    CHECK_EQ(ho_tls_ticket_keys_read("/", keys, 4, &n, err, sizeof(err)), HO_ERR_IO);
}

/* ---- handshakes ----------------------------------------------------------- */

struct saved { uint8_t blob[4096]; size_t len; int count; };
static void save_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)tls;
    struct saved *s = ctx;
    if (len <= sizeof(s->blob)) {
        memcpy(s->blob, blob, len);
        s->len = len;
        s->count++;
    }
}

static ho_tls_config *client_cfg(struct saved *saved)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(cfg, false);
    ho_tls_callbacks cb = {.session = save_session, .ctx = saved};
    ho_tls_config_set_callbacks(cfg, &cb);
    return cfg;
}

/* One handshake against srv, offering `offer` (NULL: none); the new ticket
 * lands in *got. Returns whether the server resumed. */
static bool handshake(ho_tls_config *srv, const struct saved *offer, struct saved *got)
{
    const int64_t now = (int64_t)time(NULL) * 1000;
    ho_tls_config *c = client_cfg(got);
    struct tls_pair p;
    pair_init(&p, c, srv, "localhost");
    ho_tls_set_now(p.client, now);
    ho_tls_set_now(p.server, now);
    if (offer != NULL)
        CHECK_EQ(ho_tls_set_session(p.client, offer->blob, offer->len), HO_OK);
    int before = got->count;
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    CHECK_EQ(got->count, before + 1);
    bool resumed = ho_tls_is_resumed(p.server);
    CHECK_EQ(ho_tls_is_resumed(p.client), resumed);
    pair_free(&p);
    ho_tls_config_free(c);
    return resumed;
}

/* The key id at the start of the ticket inside a client's session blob. */
static bool ticket_id(const struct saved *s, uint8_t id[4])
{
    struct session sess;
    if (tls_session_decode(s->blob, s->len, &sess) != HO_OK || sess.ticket_len < 4)
        return false;
    memcpy(id, sess.ticket, 4);
    tls_session_clear(&sess);
    return true;
}

static void test_fleet_rotation(void)
{
    uint8_t k_old[SL], k_new[SL], set[2 * SL], id_old[4], id_new[4], id[4];
    make_secret(k_old, 0x10);
    make_secret(k_new, 0x80);
    CHECK_EQ(ho_tls_ticket_key_id(k_old, id_old), HO_OK);
    CHECK_EQ(ho_tls_ticket_key_id(k_new, id_new), HO_OK);
    CHECK(memcmp(id_old, id_new, 4) != 0);
    ho_tls_config *a = server_cfg(), *b = server_cfg(), *lone = server_cfg();
    CHECK_EQ(ho_tls_config_set_ticket_keys(a, k_old, 1), HO_OK);
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, k_old, 1), HO_OK);

    /* A ticket from server a resumes on b (the same key file), not on a
     * server with keys of its own. */
    struct saved t1 = {0}, t2 = {0}, t3 = {0}, t4 = {0};
    CHECK(!handshake(a, NULL, &t1));
    CHECK(ticket_id(&t1, id) && memcmp(id, id_old, 4) == 0);
    CHECK(handshake(b, &t1, &t2));
    CHECK(!handshake(lone, &t1, &t3));

    /* Rotation: the new key first, the old one second. The old ticket still
     * resumes on both; new tickets carry the new key id and open on both. */
    memcpy(set, k_new, SL);
    memcpy(set + SL, k_old, SL);
    CHECK_EQ(ho_tls_config_set_ticket_keys(a, set, 2), HO_OK);
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, set, 2), HO_OK);
    CHECK(handshake(a, &t1, &t3));
    CHECK(ticket_id(&t3, id) && memcmp(id, id_new, 4) == 0);
    CHECK(handshake(b, &t3, &t4));
    CHECK(handshake(b, &t1, &t4));

    /* The old key retired: its tickets give a full handshake. */
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, k_new, 1), HO_OK);
    CHECK(!handshake(b, &t1, &t4));
    CHECK(handshake(b, &t3, &t4));

    /* A refused set leaves the keys in use working. */
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, k_old, 0), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, k_old, HO_TLS_TICKET_KEYS_MAX + 1), HO_ERR_INVALID_ARG);
    memcpy(set, k_old, SL);
    memcpy(set + SL, k_old, SL); /* one key id twice */
    CHECK_EQ(ho_tls_config_set_ticket_keys(b, set, 2), HO_ERR_INVALID_ARG);
    CHECK(handshake(b, &t3, &t4));
    CHECK(ticket_id(&t4, id) && memcmp(id, id_new, 4) == 0);

    ho_tls_config_free(a);
    ho_tls_config_free(b);
    ho_tls_config_free(lone);
}

/* Time rotation is off with fixed keys: an hour later the same key seals. */
static void test_no_time_rotation(void)
{
    uint8_t k[SL], id[4];
    make_secret(k, 0x33);
    ho_tls_ticket_key_id(k, id);
    ho_tls_config *cfg = server_cfg();
    ho_tls_config_set_tickets(cfg, 1, 7200, 60);
    CHECK_EQ(ho_tls_config_set_ticket_keys(cfg, k, 1), HO_OK);
    struct session s = {.suite = HO_TLS_AES_128_GCM_SHA256, .psk_len = 32, .lifetime_s = 7200};
    int64_t t0 = 1700000000000;
    for (int i = 0; i < 3; i++) {
        ho_buf out;
        ho_buf_init(&out);
        s.issued_ms = t0 + i * 3600000LL;
        CHECK_EQ(tls_ticket_seal(cfg, s.issued_ms, &s, &out), HO_OK);
        CHECK(out.len > 4 && memcmp(out.data, id, 4) == 0);
        ho_buf_free(&out);
    }
    ho_tls_config_free(cfg);
}

/* Replaced key material is wiped: slots the new set does not use hold
 * zeros, and the AES keys of the old set are nowhere in the config. */
static void test_wiped(void)
{
    uint8_t three[3 * SL], one[SL];
    for (int i = 0; i < 3; i++)
        make_secret(three + i * SL, (uint8_t)(0x40 + 0x20 * i));
    make_secret(one, 0x07);
    ho_tls_config *cfg = server_cfg();
    CHECK_EQ(ho_tls_config_set_ticket_keys(cfg, three, 3), HO_OK);
    uint8_t old_keys[3][32];
    for (int i = 0; i < 3; i++)
        memcpy(old_keys[i], cfg->ticket_keys[i].key, 32);
    CHECK_EQ(cfg->ticket_key_count, 3);
    CHECK_EQ(ho_tls_config_set_ticket_keys(cfg, one, 1), HO_OK);
    CHECK_EQ(cfg->ticket_key_count, 1);
    static const struct ticket_key zero;
    for (size_t i = 1; i < HO_TLS_TICKET_KEYS_MAX; i++)
        CHECK_MEM(&cfg->ticket_keys[i], &zero, sizeof(zero));
    const uint8_t *raw = (const uint8_t *)cfg;
    for (int i = 0; i < 3; i++) {
        bool found = false;
        for (size_t off = 0; off + 32 <= sizeof(*cfg) && !found; off++)
            found = memcmp(raw + off, old_keys[i], 32) == 0;
        CHECK(!found);
    }
    ho_wipe(old_keys, sizeof(old_keys));
    ho_tls_config_free(cfg);
}

/* ---- threads: sealing and opening while the keys are replaced ------------ */

static atomic_bool stop_threads;
static ho_tls_config *shared_cfg;

struct worker { long sealed, opened, failed; };

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct session s = {.suite = HO_TLS_AES_128_GCM_SHA256, .psk_len = 32, .lifetime_s = 7200};
    s.issued_ms = 1700000000000;
    ho_random(s.psk, 32);
    while (!atomic_load(&stop_threads) || w->sealed < 200) {
        ho_buf out;
        ho_buf_init(&out);
        int rc = tls_ticket_seal(shared_cfg, s.issued_ms, &s, &out);
        w->sealed += rc == HO_OK;
        struct session back;
        /* Both sets hold both keys: whatever sealed it, it opens. */
        if (rc == HO_OK && tls_ticket_open(shared_cfg, s.issued_ms + 1000, out.data, out.len, &back) == HO_OK) {
            w->opened++;
            w->failed += memcmp(back.psk, s.psk, 32) != 0;
            tls_session_clear(&back);
        } else {
            w->failed++;
        }
        ho_buf_free(&out);
    }
    return NULL;
}

static void test_threads(void)
{
    uint8_t ab[2 * SL], ba[2 * SL];
    make_secret(ab, 0x01);
    make_secret(ab + SL, 0x91);
    memcpy(ba, ab + SL, SL);
    memcpy(ba + SL, ab, SL);
    shared_cfg = server_cfg();
    CHECK_EQ(ho_tls_config_set_ticket_keys(shared_cfg, ab, 2), HO_OK);
    atomic_store(&stop_threads, false);
    enum { N = 3 };
    pthread_t th[N];
    struct worker w[N];
    memset(w, 0, sizeof(w));
    for (int i = 0; i < N; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    int swaps = 0;
    for (; swaps < 2000; swaps++)
        CHECK_EQ(ho_tls_config_set_ticket_keys(shared_cfg, swaps % 2 ? ab : ba, 2), HO_OK);
    atomic_store(&stop_threads, true);
    long sealed = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(w[i].failed, 0);
        CHECK_EQ(w[i].opened, w[i].sealed);
        sealed += w[i].sealed;
    }
    fprintf(stderr, "  %d key swaps while %ld tickets were sealed and opened\n", swaps, sealed);
    ho_tls_config_free(shared_cfg);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_read_file);
    RUN(test_fleet_rotation);
    RUN(test_no_time_rotation);
    RUN(test_wiped);
    RUN(test_threads);
    return ho_test_summary("test_tls_ticketkeys");
}
