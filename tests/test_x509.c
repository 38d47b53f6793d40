/* The client's certificate cache (src/crypto/certcache.c): a leaf parsed
 * once, a verified chain accepted again only for the same chain, trust
 * store generation and host name inside its validity period; everything
 * else verified in full. Also the TLS client on a warm cache: an unknown
 * or changed chain still refused, CertificateVerify still checked; and a
 * verifying QUIC client against ngtcp2's gtlsserver (needs gtlsserver and
 * openssl: scripts/deps.sh). */
#include "harness.h"
#include "tls_builder.h"
#include "tls_pair.h"

#include "handoff/tls.h"
#include "crypto/prim.h"
#include "tls/tls_int.h"
#include "quic/quic_types.h"

#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static ho_cert_chain load(const char *rel)
{
    ho_cert_chain c = {0};
    CHECK_EQ(ho_cert_chain_load_file(&c, ho_test_data(rel)), HO_OK);
    return c;
}

static ho_trust_store *store_of(const char *rel)
{
    ho_trust_store *ts = ho_trust_store_new();
    CHECK(ts != NULL);
    CHECK_EQ(ho_trust_store_add_file(ts, ho_test_data(rel)), HO_OK);
    return ts;
}

static crypto_cert_cache_stats stats(crypto_cert_cache *c)
{
    crypto_cert_cache_stats st;
    crypto_cert_cache_get_stats(c, &st);
    return st;
}

/* Parses chain's leaf through the cache and verifies the chain. */
static int verify(crypto_cert_cache *c, ho_trust_store *ts, const ho_cert_chain *chain, const char *host, int64_t now)
{
    crypto_cert *leaf = NULL;
    int rc = crypto_cert_get(c, chain->der[0], chain->len[0], &leaf);
    if (rc != HO_OK)
        return rc;
    rc = crypto_cert_chain_verify(c, ts, chain, leaf, host, now);
    crypto_cert_free(leaf);
    return rc;
}

static void test_parse_once(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_cert_chain alice = load("mtls/client.crt");
    crypto_cert *a = NULL, *b = NULL;
    CHECK_EQ(crypto_cert_get(c, alice.der[0], alice.len[0], &a), HO_OK);
    CHECK_EQ(crypto_cert_get(c, alice.der[0], alice.len[0], &b), HO_OK);
    CHECK(a != NULL && a == b); /* the same parsed object */
    crypto_cert_cache_stats st = stats(c);
    CHECK_EQ(st.parse_misses, 1);
    CHECK_EQ(st.parse_hits, 1);
    CHECK_EQ(st.entries, 1);
    char subj[128];
    CHECK_EQ(crypto_cert_subject(a, subj, sizeof(subj)), HO_OK);
    CHECK(strstr(subj, "CN=alice") != NULL);
    crypto_cert_free(a);
    crypto_cert_free(b);
    /* Not a certificate, or trailing bytes: refused and not cached. */
    static const uint8_t junk[] = {0x30, 0x03, 0x01, 0x01, 0x00};
    CHECK_EQ(crypto_cert_get(c, junk, sizeof(junk), &a), HO_ERR_CERT_BAD);
    CHECK(a == NULL);
    uint8_t *longer = malloc(alice.len[0] + 1);
    memcpy(longer, alice.der[0], alice.len[0]);
    longer[alice.len[0]] = 0;
    CHECK_EQ(crypto_cert_get(c, longer, alice.len[0] + 1, &a), HO_ERR_CERT_BAD);
    CHECK_EQ(stats(c).entries, 1);
    free(longer);
    /* Without a cache: parsed every time. */
    CHECK_EQ(crypto_cert_get(NULL, alice.der[0], alice.len[0], &a), HO_OK);
    CHECK_EQ(crypto_cert_get(NULL, alice.der[0], alice.len[0], &b), HO_OK);
    CHECK(a != NULL && b != NULL && a != b);
    crypto_cert_free(a);
    crypto_cert_free(b);
    ho_cert_chain_free(&alice);
    crypto_cert_cache_free(c);
}

/* A repeat of a verified chain skips X509_verify_cert; the result is the
 * same as a full verification. */
static void test_verified_chain_hit(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_trust_store *ts = store_of("mtls/client-ca.crt");
    ho_cert_chain alice = load("mtls/client.crt");
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(stats(c).verify_misses, 1);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    crypto_cert_cache_stats st = stats(c);
    CHECK_EQ(st.verify_hits, 2);
    CHECK_EQ(st.verify_misses, 1);
    CHECK_EQ(st.parse_misses, 1);
    ho_cert_chain_free(&alice);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

/* With the cache warm: an expired chain, a time past the cached chain's
 * notAfter or before its notBefore are refused as expired. */
static void test_expired_refused_warm(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_trust_store *ts = store_of("mtls/client-ca.crt");
    ho_cert_chain alice = load("mtls/client.crt"), old = load("mtls/expired.crt");
    int64_t now = (int64_t)time(NULL);
    CHECK_EQ(verify(c, ts, &alice, NULL, now), HO_OK);
    CHECK_EQ(verify(c, ts, &alice, NULL, now + 60), HO_OK);
    CHECK_EQ(stats(c).verify_hits, 1);
    /* alice is valid for 3650 days from when the test data was made. */
    CHECK_EQ(verify(c, ts, &alice, NULL, now + 3660LL * 86400), HO_ERR_CERT_EXPIRED);
    CHECK_EQ(verify(c, ts, &alice, NULL, now - 2 * 86400), HO_ERR_CERT_EXPIRED);
    CHECK_EQ(stats(c).verify_hits, 1);
    /* The failure forgot the success: the next one is verified in full. */
    CHECK_EQ(verify(c, ts, &alice, NULL, now), HO_OK);
    CHECK_EQ(stats(c).verify_hits, 1);
    CHECK_EQ(verify(c, ts, &alice, NULL, now), HO_OK);
    CHECK_EQ(stats(c).verify_hits, 2);
    /* The same CA's expired certificate, cache warm with its sibling. */
    CHECK_EQ(verify(c, ts, &old, NULL, now), HO_ERR_CERT_EXPIRED);
    CHECK_EQ(verify(c, ts, &old, NULL, now), HO_ERR_CERT_EXPIRED);
    ho_cert_chain_free(&alice);
    ho_cert_chain_free(&old);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

/* With the cache warm: another CA's certificate, a tampered copy of the
 * verified one, another host name, another store are all verified in full. */
static void test_changed_chain_refused_warm(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_trust_store *ts = store_of("mtls/client-ca.crt");
    ho_cert_chain alice = load("mtls/client.crt"), mallory = load("mtls/other.crt");
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(stats(c).verify_hits, 1);

    CHECK_EQ(verify(c, ts, &mallory, NULL, 0), HO_ERR_CERT_UNTRUSTED);

    /* alice's bytes with the last byte of the CA's signature changed: it
     * still parses, and it is a new chain whose signature fails. */
    ho_cert_chain forged = {0};
    CHECK_EQ(ho_cert_chain_add_der(&forged, alice.der[0], alice.len[0]), HO_OK);
    forged.der[0][forged.len[0] - 1] ^= 0x01;
    int rc = verify(c, ts, &forged, NULL, 0);
    CHECK(rc != HO_OK);
    CHECK(verify(c, ts, &forged, NULL, 0) != HO_OK);

    /* The same leaf with the CA appended is another chain: verified in full. */
    crypto_cert_cache_stats before = stats(c);
    ho_cert_chain longer = load("mtls/client.crt");
    ho_cert_chain ca = load("mtls/client-ca.crt");
    CHECK_EQ(ho_cert_chain_add_der(&longer, ca.der[0], ca.len[0]), HO_OK);
    CHECK_EQ(verify(c, ts, &longer, NULL, 0), HO_OK);
    CHECK_EQ(stats(c).verify_hits, before.verify_hits);
    /* ... and alice's with other-ca in the untrusted list still verifies
     * through client-ca, in full. */
    ho_cert_chain odd = load("mtls/client.crt");
    ho_cert_chain other_ca = load("mtls/other-ca.crt");
    CHECK_EQ(ho_cert_chain_add_der(&odd, other_ca.der[0], other_ca.len[0]), HO_OK);
    CHECK_EQ(verify(c, ts, &odd, NULL, 0), HO_OK);
    CHECK_EQ(stats(c).verify_hits, before.verify_hits);

    /* Another store (a new generation), and the same store changed. */
    ho_trust_store *other = store_of("mtls/other-ca.crt");
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK); /* warm again */
    CHECK_EQ(verify(c, other, &alice, NULL, 0), HO_ERR_CERT_UNTRUSTED);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    before = stats(c);
    CHECK_EQ(ho_trust_store_add_file(ts, ho_test_data("mtls/other-ca.crt")), HO_OK);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(stats(c).verify_hits, before.verify_hits);
    CHECK_EQ(stats(c).verify_misses, before.verify_misses + 1);

    ho_trust_store_free(other);
    ho_cert_chain_free(&alice);
    ho_cert_chain_free(&mallory);
    ho_cert_chain_free(&forged);
    ho_cert_chain_free(&longer);
    ho_cert_chain_free(&ca);
    ho_cert_chain_free(&odd);
    ho_cert_chain_free(&other_ca);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

/* A CA certificate sent by several servers is parsed once; a chain with an
 * intermediate that does not parse is still judged as before. */
static void test_intermediates(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_trust_store *ts = store_of("mtls/client-ca.crt");
    ho_cert_chain ca = load("mtls/client-ca.crt");
    ho_cert_chain alice = load("mtls/client.crt"), old = load("mtls/expired.crt");
    CHECK_EQ(ho_cert_chain_add_der(&alice, ca.der[0], ca.len[0]), HO_OK);
    CHECK_EQ(ho_cert_chain_add_der(&old, ca.der[0], ca.len[0]), HO_OK);
    CHECK_EQ(verify(c, ts, &alice, NULL, 0), HO_OK);
    CHECK_EQ(verify(c, ts, &old, NULL, 0), HO_ERR_CERT_EXPIRED);
    crypto_cert_cache_stats st = stats(c);
    CHECK_EQ(st.parse_misses, 3); /* alice, the CA, old */
    CHECK_EQ(st.parse_hits, 1);   /* the CA, the second time */
    CHECK_EQ(st.verify_hits, 0);
    static const uint8_t junk[] = {0x30, 0x03, 0x01, 0x01, 0x00};
    ho_cert_chain bad = load("mtls/client.crt");
    CHECK_EQ(ho_cert_chain_add_der(&bad, junk, sizeof(junk)), HO_OK);
    CHECK_EQ(verify(c, ts, &bad, NULL, 0), ho_cert_chain_verify(ts, &bad, NULL, 0));
    CHECK(verify(c, ts, &bad, NULL, 0) != HO_OK);
    ho_cert_chain_free(&ca);
    ho_cert_chain_free(&alice);
    ho_cert_chain_free(&old);
    ho_cert_chain_free(&bad);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

static void test_hostname_warm(void)
{
    crypto_cert_cache *c = crypto_cert_cache_new(8);
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    ho_trust_store *ts = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_der(ts, chain.der[0], chain.len[0]), HO_OK);
    CHECK_EQ(verify(c, ts, &chain, "localhost", 0), HO_OK);
    CHECK_EQ(verify(c, ts, &chain, "localhost", 0), HO_OK);
    CHECK_EQ(stats(c).verify_hits, 1);
    CHECK_EQ(verify(c, ts, &chain, "example.com", 0), HO_ERR_CERT_HOSTNAME);
    CHECK_EQ(verify(c, ts, &chain, "LOCALHOST", 0), HO_OK); /* DNS names match case-insensitively */
    CHECK_EQ(verify(c, ts, &chain, NULL, 0), HO_OK);
    CHECK_EQ(verify(c, ts, &chain, "127.0.0.2", 0), HO_ERR_CERT_HOSTNAME);
    CHECK_EQ(stats(c).verify_hits, 1);
    /* A name too long to keep is verified every time. */
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_EQ(verify(c, ts, &chain, longname, 0), HO_ERR_CERT_HOSTNAME);
    ho_cert_chain_free(&chain);
    ho_privkey_free(key);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

/* At most max_entries certificates; the least recently used goes first. */
static void test_bounded(void)
{
    enum { CAP = 3, N = 6 };
    crypto_cert_cache *c = crypto_cert_cache_new(CAP);
    CHECK(crypto_cert_cache_new(0) == NULL);
    ho_cert_chain chains[N];
    ho_privkey *keys[N];
    for (int i = 0; i < N; i++) {
        memset(&chains[i], 0, sizeof(chains[i]));
        CHECK_EQ(ho_selfsigned_generate("localhost", 30, &keys[i], &chains[i]), HO_OK);
        crypto_cert *x = NULL;
        CHECK_EQ(crypto_cert_get(c, chains[i].der[0], chains[i].len[0], &x), HO_OK);
        crypto_cert_free(x);
        if (i == 1) { /* use 0 again: 1 is now the oldest */
            CHECK_EQ(crypto_cert_get(c, chains[0].der[0], chains[0].len[0], &x), HO_OK);
            crypto_cert_free(x);
        }
    }
    crypto_cert_cache_stats st = stats(c);
    CHECK_EQ(st.entries, CAP);
    CHECK_EQ(st.parse_misses, N);
    /* 3, 4, 5 are kept; 0 was evicted at 5. */
    crypto_cert *x = NULL;
    CHECK_EQ(crypto_cert_get(c, chains[5].der[0], chains[5].len[0], &x), HO_OK);
    crypto_cert_free(x);
    CHECK_EQ(stats(c).parse_hits, st.parse_hits + 1);
    CHECK_EQ(crypto_cert_get(c, chains[0].der[0], chains[0].len[0], &x), HO_OK);
    crypto_cert_free(x);
    CHECK_EQ(stats(c).parse_misses, N + 1);
    CHECK_EQ(stats(c).entries, CAP);
    /* A reference outlives its eviction. */
    CHECK_EQ(crypto_cert_get(c, chains[1].der[0], chains[1].len[0], &x), HO_OK);
    for (int i = 2; i < N; i++) {
        crypto_cert *y = NULL;
        CHECK_EQ(crypto_cert_get(c, chains[i].der[0], chains[i].len[0], &y), HO_OK);
        crypto_cert_free(y);
    }
    char subj[64];
    CHECK_EQ(crypto_cert_subject(x, subj, sizeof(subj)), HO_OK);
    CHECK(strcmp(subj, "CN=localhost") == 0);
    crypto_cert_free(x);
    for (int i = 0; i < N; i++) {
        ho_cert_chain_free(&chains[i]);
        ho_privkey_free(keys[i]);
    }
    crypto_cert_cache_free(c);
}

/* Several threads on one small cache: every answer right, no race (run
 * under ASan/TSan builds). */
struct thread_arg {
    crypto_cert_cache *c;
    ho_trust_store *ts;
    ho_cert_chain *good, *bad;
    int wrong;
};

static void *hammer(void *p)
{
    struct thread_arg *a = p;
    for (int i = 0; i < 200; i++) {
        if (verify(a->c, a->ts, a->good, NULL, 0) != HO_OK)
            a->wrong++;
        if (verify(a->c, a->ts, a->bad, NULL, 0) != HO_ERR_CERT_UNTRUSTED)
            a->wrong++;
    }
    return NULL;
}

static void test_threads(void)
{
    enum { T = 4 };
    crypto_cert_cache *c = crypto_cert_cache_new(1); /* constant eviction */
    ho_trust_store *ts = store_of("mtls/client-ca.crt");
    ho_cert_chain alice = load("mtls/client.crt"), mallory = load("mtls/other.crt");
    pthread_t th[T];
    struct thread_arg args[T];
    for (int i = 0; i < T; i++) {
        args[i] = (struct thread_arg){c, ts, &alice, &mallory, 0};
        CHECK_EQ(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(args[i].wrong, 0);
    }
    CHECK_EQ(stats(c).entries, 1);
    ho_cert_chain_free(&alice);
    ho_cert_chain_free(&mallory);
    ho_trust_store_free(ts);
    crypto_cert_cache_free(c);
}

/* ---- the TLS client on a warm cache -------------------------------- */

struct server {
    ho_tls_config *cfg;
    ho_cert_chain chain; /* a copy, for the client's trust store */
};

static void server_make(struct server *s)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    memset(s, 0, sizeof(*s));
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    CHECK_EQ(ho_cert_chain_add_der(&s->chain, chain.der[0], chain.len[0]), HO_OK);
    s->cfg = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(s->cfg, &chain, key), HO_OK);
    ho_tls_config_set_tickets(s->cfg, 0, 7200, 3600);
}

static void server_free(struct server *s)
{
    ho_tls_config_free(s->cfg);
    ho_cert_chain_free(&s->chain);
}

typedef void (*mangle_fn)(ho_buf *flight);

/* One handshake; mangle (if any) edits the server's handshake-epoch
 * flight before the client sees it. Returns the client's error. */
static int handshake(ho_tls_config *ccfg, ho_tls_config *scfg, const char *name, int64_t now_ms, mangle_fn mangle)
{
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, name);
    if (now_ms != 0)
        ho_tls_set_now(p.client, now_ms);
    p.client_err = ho_tls_start(p.client, &p.cout);
    for (int round = 0; round < 16; round++) {
        size_t moved = 0;
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p.cout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            if (p.server_err == HO_OK)
                p.server_err = ho_tls_handle(p.server, (ho_epoch)e, b->data, b->len, &p.sout);
            b->len = 0;
        }
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p.sout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            if (mangle != NULL && e == HO_EPOCH_HANDSHAKE)
                mangle(b);
            if (p.client_err == HO_OK)
                p.client_err = ho_tls_handle(p.client, (ho_epoch)e, b->data, b->len, &p.cout);
            b->len = 0;
        }
        if (moved == 0)
            break;
    }
    int rc = p.client_err;
    if (rc == HO_OK && !ho_tls_handshake_done(p.client))
        rc = HO_ERR_INTERNAL;
    pair_free(&p);
    return rc;
}

static void flip_cv_signature(ho_buf *flight)
{
    struct tb_msgs m;
    if (!tb_split(flight->data, flight->len, &m))
        return;
    for (size_t i = 0; i < m.n; i++)
        if (m.p[i][0] == HO_HS_CERTIFICATE_VERIFY)
            flight->data[(size_t)(m.p[i] - flight->data) + m.len[i] - 1] ^= 0x01;
}

/* The leaf's outer SEQUENCE tag made a SET: the certificate no longer parses. */
static void corrupt_leaf(ho_buf *flight)
{
    struct tb_msgs m;
    if (!tb_split(flight->data, flight->len, &m))
        return;
    for (size_t i = 0; i < m.n; i++)
        if (m.p[i][0] == HO_HS_CERTIFICATE && m.len[i] > 12) /* header 4, context 1, list 3, entry 3 */
            flight->data[(size_t)(m.p[i] - flight->data) + 11] = 0x31;
}

static ho_tls_config *client_config(const ho_cert_chain *trusted)
{
    ho_tls_config *c = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_der(ts, trusted->der[0], trusted->len[0]), HO_OK);
    ho_tls_config_set_trust(c, ts);
    return c;
}

static void test_tls_warm_cache(void)
{
    struct server a, b;
    server_make(&a);
    server_make(&b);
    ho_tls_config *ccfg = client_config(&a.chain);
    int64_t now_ms = (int64_t)time(NULL) * 1000;

    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", 0, NULL), HO_OK);
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", 0, NULL), HO_OK);
    crypto_cert_cache_stats st;
    crypto_cert_cache_get_stats(ccfg->cert_cache, &st);
    CHECK_EQ(st.parse_misses, 1);
    CHECK_EQ(st.verify_hits, 1);

    /* CertificateVerify is still checked on a cache hit (§4.4.3). */
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", 0, flip_cv_signature), HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR));
    /* An unknown server (its own self-signed certificate). */
    CHECK_EQ(handshake(ccfg, b.cfg, "localhost", 0, NULL), HO_ERR_TLS_ALERT(HO_ALERT_UNKNOWN_CA));
    /* The known one under another name, or after its notAfter (30 days). */
    CHECK_EQ(handshake(ccfg, a.cfg, "example.com", 0, NULL), HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", 0, NULL), HO_OK);
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", now_ms + 31LL * 86400 * 1000, NULL),
             HO_ERR_TLS_ALERT(HO_ALERT_CERTIFICATE_EXPIRED));
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", now_ms, NULL), HO_OK);

    /* Without verification the leaf is still parsed once per config. */
    ho_tls_config *nv = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(nv, false);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(handshake(nv, a.cfg, "localhost", 0, NULL), HO_OK);
    CHECK_EQ(handshake(nv, a.cfg, "localhost", 0, flip_cv_signature), HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR));
    /* A leaf that does not parse is bad_certificate (RFC 8446 §6.2), with
     * or without verification, and is not cached. */
    CHECK_EQ(handshake(nv, a.cfg, "localhost", 0, corrupt_leaf), HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
    CHECK_EQ(handshake(ccfg, a.cfg, "localhost", 0, corrupt_leaf), HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
    crypto_cert_cache_get_stats(nv->cert_cache, &st);
    CHECK_EQ(st.parse_misses, 2); /* the corrupt leaf: parsed, refused, not kept */
    CHECK_EQ(st.parse_hits, 3);
    CHECK_EQ(st.entries, 1);
    CHECK_EQ(st.verify_hits + st.verify_misses, 0);

    ho_tls_config_free(nv);
    ho_tls_config_free(ccfg);
    server_free(&a);
    server_free(&b);
}

/* ---- against a real peer: ngtcp2's gtlsserver over QUIC ------------- */

/* One QUIC handshake with the server at g; true if it was confirmed. The
 * connection is then closed (no request). */
static bool quic_handshake(ho_test_gtls *g, ho_tls_config *tls, int *err)
{
    ho_quic_config cfg = {.tls = tls, .server_name = "localhost", .wall_clock_ms = (int64_t)time(NULL) * 1000};
    ho_quic_conn *conn = ho_quic_conn_new_client(&cfg, NULL, ho_test_mono_now());
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(conn != NULL && fd >= 0);
    ho_quic_time deadline = ho_test_mono_now() + HO_QUIC_SEC(15);
    while (conn != NULL && ho_test_mono_now() < deadline && !ho_quic_conn_is_closed(conn) &&
           !ho_quic_conn_is_closing(conn) && !ho_quic_conn_handshake_confirmed(conn)) {
        ho_test_udp_conn_send(conn, fd, (struct sockaddr *)&g->addr, sizeof(g->addr));
        ho_test_udp_wait(fd, ho_quic_conn_next_timeout(conn));
        ho_test_udp_conn_recv(fd, &conn, NULL, NULL);
        ho_test_conn_timeout(conn);
    }
    bool ok = conn != NULL && ho_quic_conn_handshake_confirmed(conn);
    if (err != NULL)
        *err = conn != NULL ? ho_quic_conn_error(conn) : HO_ERR_NOMEM;
    if (conn != NULL && !ho_quic_conn_is_closed(conn)) {
        ho_quic_conn_close(conn, 0, "", ho_test_mono_now());
        ho_test_udp_conn_send(conn, fd, (struct sockaddr *)&g->addr, sizeof(g->addr));
    }
    ho_quic_conn_free(conn);
    close(fd);
    return ok;
}

/* A verifying client config used for several connections to gtlsserver:
 * the second finds the chain verified; another gtlsserver (its own
 * certificate, not trusted) is refused with the cache warm. */
static void test_gtlsserver_warm(void)
{
    ho_test_gtls g, other;
    if (!ho_test_gtls_start(&g)) {
        CHECK(!"gtlsserver did not start");
        return;
    }
    if (!ho_test_gtls_start(&other)) {
        CHECK(!"second gtlsserver did not start");
        ho_test_gtls_stop(&g);
        return;
    }
    ho_tls_config *tls = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_file(ts, g.cert), HO_OK);
    ho_tls_config_set_trust(tls, ts);
    const char *alpns[] = {"h3"};
    ho_tls_config_set_alpn(tls, alpns, 1);
    CHECK_EQ(ho_quic_tls_config_prepare(tls), HO_OK);

    CHECK(quic_handshake(&g, tls, NULL));
    CHECK(quic_handshake(&g, tls, NULL));
    crypto_cert_cache_stats st;
    crypto_cert_cache_get_stats(tls->cert_cache, &st);
    CHECK_EQ(st.verify_misses, 1);
    CHECK_EQ(st.verify_hits, 1);
    CHECK_EQ(st.parse_hits, 1);
    int err = HO_OK;
    CHECK(!quic_handshake(&other, tls, &err));
    CHECK_EQ(err, HO_ERR_TLS_ALERT(HO_ALERT_UNKNOWN_CA));
    CHECK(quic_handshake(&g, tls, NULL));
    crypto_cert_cache_get_stats(tls->cert_cache, &st);
    CHECK_EQ(st.verify_hits, 2);

    ho_tls_config_free(tls);
    ho_test_gtls_stop(&g);
    ho_test_gtls_stop(&other);
}

int main(void)
{
    (void)pair_run; /* tls_pair.h's; handshake() above mangles flights */
    RUN(test_parse_once);
    RUN(test_verified_chain_hit);
    RUN(test_expired_refused_warm);
    RUN(test_changed_chain_refused_warm);
    RUN(test_intermediates);
    RUN(test_hostname_warm);
    RUN(test_bounded);
    RUN(test_threads);
    RUN(test_tls_warm_cache);
    RUN(test_gtlsserver_warm);
    return ho_test_summary("test_x509");
}
