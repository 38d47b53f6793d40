/*
 * Parsed peer certificates and the per-configuration cache of parsed
 * certificates and verified chains (prim.h says what the cache trusts).
 *
 * Why: in OpenSSL 3.0, d2i_X509 decodes the public key through the
 * provider decoder framework, which costs more than the ECDSA P-256
 * signature check of CertificateVerify (docs/BENCHMARKS.md). A client
 * that talks to the same servers again parses each certificate once per
 * configuration, and a chain whose signatures verified is only checked
 * again for its validity period, host name and trust store.
 */
#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>

struct crypto_cert {
    _Atomic unsigned refs;
    X509 *x509;
    EVP_PKEY *pub; /* borrowed from x509 */
};

#define HOST_MAX 256 /* a longer name is verified every time */
/* Longer chains are parsed without the cache, so that one server cannot
 * fill it. */
#define CACHED_INTERMEDIATES 4
#define SHA256_LEN 32

struct cache_entry {
    crypto_cert *cert; /* NULL: a free slot */
    uint8_t leaf_hash[SHA256_LEN];
    uint64_t last_use;
    /* The last chain with this leaf that verified. */
    bool verified;
    uint8_t chain_hash[SHA256_LEN];
    uint64_t store_gen;
    bool has_host;
    char host[HOST_MAX];
    int64_t not_before, not_after; /* valid while not_before <= now < not_after */
};

struct crypto_cert_cache {
    pthread_mutex_t lock;
    size_t cap;
    uint64_t tick;
    struct cache_entry *e;
    crypto_cert_cache_stats st;
};

/* ---- certificates ---------------------------------------------------- */

/* NULL with *rc HO_ERR_CERT_BAD (does not parse, or a public key libcrypto
 * cannot decode) or HO_ERR_NOMEM. */
static crypto_cert *cert_new(const uint8_t *der, size_t len, int *rc)
{
    *rc = HO_ERR_CERT_BAD;
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return NULL;
    crypto_x509_prepare_shared(x); /* before the cache shares it */
    EVP_PKEY *pub = X509_get0_pubkey(x);
    crypto_cert *c = NULL;
    if (pub != NULL && (c = ho_mem_calloc(1, sizeof(*c))) == NULL)
        *rc = HO_ERR_NOMEM;
    if (c == NULL) {
        X509_free(x);
        ERR_clear_error();
        return NULL;
    }
    *rc = HO_OK;
    atomic_init(&c->refs, 1);
    c->x509 = x;
    c->pub = pub;
    return c;
}

static crypto_cert *cert_ref(crypto_cert *c)
{
    atomic_fetch_add(&c->refs, 1);
    return c;
}

void crypto_cert_free(crypto_cert *c)
{
    if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    X509_free(c->x509);
    ho_mem_free(c);
}

int crypto_cert_verify_signature(crypto_cert *x, uint16_t scheme, const void *msg, size_t msglen, const uint8_t *sig,
                                 size_t siglen)
{
    return crypto_pkey_verify_signature(x->pub, scheme, msg, msglen, sig, siglen);
}

int crypto_cert_subject(crypto_cert *x, char *buf, size_t n) { return crypto_x509_subject_str(x->x509, buf, n); }

/* ---- the cache ------------------------------------------------------- */

crypto_cert_cache *crypto_cert_cache_new(size_t max_entries)
{
    if (max_entries == 0)
        return NULL;
    crypto_cert_cache *c = ho_mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->e = ho_mem_calloc(max_entries, sizeof(*c->e));
    if (c->e == NULL) {
        ho_mem_free(c);
        return NULL;
    }
    c->cap = max_entries;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void crypto_cert_cache_free(crypto_cert_cache *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->cap; i++)
        crypto_cert_free(c->e[i].cert);
    pthread_mutex_destroy(&c->lock);
    ho_mem_free(c->e);
    ho_mem_free(c);
}

void crypto_cert_cache_get_stats(crypto_cert_cache *c, crypto_cert_cache_stats *st)
{
    pthread_mutex_lock(&c->lock);
    *st = c->st;
    st->entries = 0;
    for (size_t i = 0; i < c->cap; i++)
        st->entries += c->e[i].cert != NULL;
    pthread_mutex_unlock(&c->lock);
}

/* The entry for a leaf hash, or NULL. Under the lock. */
static struct cache_entry *find_leaf(crypto_cert_cache *c, const uint8_t *leaf_hash)
{
    for (size_t i = 0; i < c->cap; i++)
        if (c->e[i].cert != NULL && memcmp(c->e[i].leaf_hash, leaf_hash, SHA256_LEN) == 0)
            return &c->e[i];
    return NULL;
}

/* A free slot, else the least recently used one, emptied (its certificate
 * is handed back in *evicted to be freed outside the lock). */
static struct cache_entry *take_slot(crypto_cert_cache *c, crypto_cert **evicted)
{
    struct cache_entry *victim = &c->e[0];
    for (size_t i = 0; i < c->cap; i++) {
        if (c->e[i].cert == NULL) {
            victim = &c->e[i];
            break;
        }
        if (c->e[i].last_use < victim->last_use)
            victim = &c->e[i];
    }
    *evicted = victim->cert;
    memset(victim, 0, sizeof(*victim));
    return victim;
}

int crypto_cert_get(crypto_cert_cache *c, const uint8_t *der, size_t len, crypto_cert **out)
{
    *out = NULL;
    if (der == NULL || len == 0)
        return HO_ERR_CERT_BAD;
    uint8_t h[SHA256_LEN];
    int rc;
    if (c == NULL || crypto_hash(HO_HASH_SHA256, der, len, h) != HO_OK) {
        *out = cert_new(der, len, &rc);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = find_leaf(c, h);
    if (e != NULL) {
        e->last_use = ++c->tick;
        c->st.parse_hits++;
        *out = cert_ref(e->cert);
    } else {
        c->st.parse_misses++;
    }
    pthread_mutex_unlock(&c->lock);
    if (*out != NULL)
        return HO_OK;

    /* Parsed outside the lock; another thread may have added it meanwhile. */
    crypto_cert *x = cert_new(der, len, &rc);
    if (x == NULL)
        return rc; /* a certificate that does not parse is not cached */
    crypto_cert *evicted = NULL;
    pthread_mutex_lock(&c->lock);
    if (find_leaf(c, h) == NULL) {
        e = take_slot(c, &evicted);
        e->cert = cert_ref(x);
        memcpy(e->leaf_hash, h, SHA256_LEN);
        e->last_use = ++c->tick;
    }
    pthread_mutex_unlock(&c->lock);
    crypto_cert_free(evicted);
    *out = x;
    return HO_OK;
}

/* SHA-256 over every certificate of the chain, each prefixed with its
 * length, so that two chains hash alike only if they are the same list. */
static bool chain_hash(const ho_cert_chain *chain, uint8_t *out)
{
    const EVP_MD *md = ho_crypto_md(HO_HASH_SHA256);
    EVP_MD_CTX *m = md != NULL ? EVP_MD_CTX_new() : NULL;
    bool ok = m != NULL && EVP_DigestInit_ex(m, md, NULL) == 1;
    for (size_t i = 0; ok && i < chain->count; i++) {
        uint8_t n[8];
        uint64_t l = chain->len[i];
        for (int b = 0; b < 8; b++)
            n[b] = (uint8_t)(l >> (56 - 8 * b));
        ok = EVP_DigestUpdate(m, n, sizeof(n)) == 1 && EVP_DigestUpdate(m, chain->der[i], chain->len[i]) == 1;
    }
    unsigned int outlen = 0;
    ok = ok && EVP_DigestFinal_ex(m, out, &outlen) == 1 && outlen == SHA256_LEN;
    EVP_MD_CTX_free(m);
    if (!ok)
        ERR_clear_error();
    return ok;
}

/* X509_verify_cert, with the first intermediates taken from the cache (a
 * CA's certificate recurs across servers): a chain never seen still costs
 * one parse per certificate only once. */
static int verify_full(crypto_cert_cache *c, ho_trust_store *ts, const ho_cert_chain *chain, crypto_cert *leaf,
                       const char *hostname, int64_t now, int64_t *nb, int64_t *na)
{
    if (c == NULL || chain->count < 2 || chain->count - 1 > CACHED_INTERMEDIATES)
        return crypto_chain_verify_x509(ts, leaf->x509, NULL, chain, hostname, now, nb, na);
    crypto_cert *held[CACHED_INTERMEDIATES] = {0};
    size_t n = 0;
    bool ready = true;
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    for (size_t i = 1; ready && i < chain->count; i++) {
        /* One that does not parse (or has a key libcrypto cannot decode)
         * leaves the whole chain to ho_cert_chain_verify's own parsing. */
        ready = untrusted != NULL && crypto_cert_get(c, chain->der[i], chain->len[i], &held[n]) == HO_OK;
        if (ready) {
            n++;
            ready = sk_X509_push(untrusted, held[n - 1]->x509) > 0;
        }
    }
    int rc = crypto_chain_verify_x509(ts, leaf->x509, ready ? untrusted : NULL, chain, hostname, now, nb, na);
    sk_X509_free(untrusted); /* the certificates are held[]'s */
    for (size_t i = 0; i < n; i++)
        crypto_cert_free(held[i]);
    return rc;
}

static bool host_equal(const struct cache_entry *e, const char *hostname)
{
    if (hostname == NULL)
        return !e->has_host;
    return e->has_host && strcmp(e->host, hostname) == 0;
}

int crypto_cert_chain_verify(crypto_cert_cache *c, ho_trust_store *ts, const ho_cert_chain *chain, crypto_cert *leaf,
                             const char *hostname, int64_t now_unix)
{
    if (chain == NULL || chain->count == 0 || leaf == NULL)
        return HO_ERR_CERT_BAD;
    int64_t now = now_unix != 0 ? now_unix : (int64_t)time(NULL);
    uint8_t leaf_h[SHA256_LEN], chain_h[SHA256_LEN];
    bool cacheable = c != NULL && (hostname == NULL || strlen(hostname) < HOST_MAX) &&
                     crypto_hash(HO_HASH_SHA256, chain->der[0], chain->len[0], leaf_h) == HO_OK &&
                     chain_hash(chain, chain_h);
    uint64_t gen = crypto_trust_store_gen(ts);
    if (cacheable) {
        bool hit = false;
        pthread_mutex_lock(&c->lock);
        struct cache_entry *e = find_leaf(c, leaf_h);
        /* The same chain, store and host, and every certificate still
         * inside its validity period (RFC 5280 §6.1.3 (a)(2)). */
        if (e != NULL && e->verified && memcmp(e->chain_hash, chain_h, SHA256_LEN) == 0 && e->store_gen == gen &&
            host_equal(e, hostname) && e->not_before <= now && now < e->not_after) {
            hit = true;
            e->last_use = ++c->tick;
            c->st.verify_hits++;
        } else {
            c->st.verify_misses++;
        }
        pthread_mutex_unlock(&c->lock);
        if (hit)
            return HO_OK;
    }

    int64_t nb, na;
    int rc = verify_full(c, ts, chain, leaf, hostname, now, &nb, &na);
    if (!cacheable)
        return rc;
    pthread_mutex_lock(&c->lock);
    struct cache_entry *e = find_leaf(c, leaf_h);
    if (e != NULL) {
        /* A failure forgets an earlier success with this leaf. */
        e->verified = rc == HO_OK && nb < na;
        if (e->verified) {
            memcpy(e->chain_hash, chain_h, SHA256_LEN);
            e->store_gen = gen;
            e->has_host = hostname != NULL;
            if (hostname != NULL)
                memcpy(e->host, hostname, strlen(hostname) + 1);
            e->not_before = nb;
            e->not_after = na;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
