/*
 * Private keys, TLS 1.3 signing (RFC 8446 §4.2.3, §4.4.3) and verification
 * of a peer's signature with the key in its certificate.
 */
#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* ---- signature schemes ----------------------------------------------- */

typedef enum { KEY_EC, KEY_RSA, KEY_RSA_PSS, KEY_ED25519, KEY_ED448, KEY_OTHER } key_kind;
typedef enum { MD_NONE, MD_SHA256, MD_SHA384, MD_SHA512 } md_kind;

typedef struct scheme_info {
    uint16_t scheme;
    key_kind key;
    int ec_bits; /* TLS 1.3 binds ECDSA schemes to one curve */
    md_kind md;
    bool pss;
} scheme_info;

/* The schemes we verify. rsa_pkcs1_* is deliberately absent: RFC 8446
 * §4.4.3 forbids it in CertificateVerify. */
static const scheme_info g_schemes[] = {
    {HO_SIG_ECDSA_SECP256R1_SHA256, KEY_EC, 256, MD_SHA256, false},
    {0x0503, KEY_EC, 384, MD_SHA384, false}, /* ecdsa_secp384r1_sha384 */
    {0x0603, KEY_EC, 521, MD_SHA512, false}, /* ecdsa_secp521r1_sha512 */
    {HO_SIG_RSA_PSS_RSAE_SHA256, KEY_RSA, 0, MD_SHA256, true},
    {0x0805, KEY_RSA, 0, MD_SHA384, true},   /* rsa_pss_rsae_sha384 */
    {0x0806, KEY_RSA, 0, MD_SHA512, true},   /* rsa_pss_rsae_sha512 */
    {HO_SIG_ED25519, KEY_ED25519, 0, MD_NONE, false},
    {0x0808, KEY_ED448, 0, MD_NONE, false},  /* ed448 */
    {0x0809, KEY_RSA_PSS, 0, MD_SHA256, true}, /* rsa_pss_pss_sha256 */
    {0x080a, KEY_RSA_PSS, 0, MD_SHA384, true}, /* rsa_pss_pss_sha384 */
    {0x080b, KEY_RSA_PSS, 0, MD_SHA512, true}, /* rsa_pss_pss_sha512 */
};

static const scheme_info *scheme_find(uint16_t scheme)
{
    for (size_t i = 0; i < sizeof(g_schemes) / sizeof(g_schemes[0]); i++)
        if (g_schemes[i].scheme == scheme)
            return &g_schemes[i];
    return NULL;
}

static key_kind key_kind_of(const EVP_PKEY *pkey)
{
    if (EVP_PKEY_is_a(pkey, "EC"))
        return KEY_EC;
    if (EVP_PKEY_is_a(pkey, "RSA"))
        return KEY_RSA;
    if (EVP_PKEY_is_a(pkey, "RSA-PSS"))
        return KEY_RSA_PSS;
    if (EVP_PKEY_is_a(pkey, "ED25519"))
        return KEY_ED25519;
    if (EVP_PKEY_is_a(pkey, "ED448"))
        return KEY_ED448;
    return KEY_OTHER;
}

static bool scheme_fits_key(const scheme_info *s, const EVP_PKEY *pkey)
{
    if (key_kind_of(pkey) != s->key)
        return false;
    return s->key != KEY_EC || EVP_PKEY_get_bits(pkey) == s->ec_bits;
}

static const EVP_MD *scheme_md(const scheme_info *s)
{
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    if (algs == NULL)
        return NULL;
    switch (s->md) {
    case MD_SHA256: return algs->md[HO_HASH_SHA256];
    case MD_SHA384: return algs->md[HO_HASH_SHA384];
    case MD_SHA512: return algs->sha512;
    case MD_NONE: break;
    }
    return NULL;
}

/* Sets digest and padding on a sign/verify-initialised context. RFC 8446
 * §4.2.3: RSASSA-PSS with MGF1 over the same hash and salt length equal to
 * the digest length. */
static bool scheme_configure(EVP_PKEY_CTX *pctx, const scheme_info *s, const EVP_MD *md)
{
    if (EVP_PKEY_CTX_set_signature_md(pctx, md) != 1)
        return false;
    if (!s->pss)
        return true;
    return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
           EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) == 1 &&
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
}

/* ---- private keys ---------------------------------------------------- */

struct ho_privkey {
    EVP_PKEY *pkey;
    uint16_t scheme; /* the one scheme we sign with by preference */
    /* A context initialised for `scheme`, reused across signatures so each
     * one skips the method fetch and context set-up. The mutex is only
     * try-locked: a concurrent signer builds its own context instead. */
    pthread_mutex_t lock;
    EVP_PKEY_CTX *sign_ctx;
};

static uint16_t default_scheme(const EVP_PKEY *pkey)
{
    switch (key_kind_of(pkey)) {
    case KEY_EC:
        switch (EVP_PKEY_get_bits(pkey)) {
        case 256: return HO_SIG_ECDSA_SECP256R1_SHA256;
        case 384: return 0x0503;
        case 521: return 0x0603;
        }
        return 0;
    case KEY_RSA: return HO_SIG_RSA_PSS_RSAE_SHA256;
    /* An id-RSASSA-PSS key signs only with rsa_pss_pss_* (RFC 8446 §4.2.3). */
    case KEY_RSA_PSS: return 0x0809; /* rsa_pss_pss_sha256 */
    case KEY_ED25519: return HO_SIG_ED25519;
    default: return 0;
    }
}

/* A fresh context set up to sign with scheme s; NULL on failure. */
static EVP_PKEY_CTX *sign_ctx_new(EVP_PKEY *pkey, const scheme_info *s)
{
    const EVP_MD *md = scheme_md(s);
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (md == NULL || pctx == NULL || EVP_PKEY_sign_init(pctx) != 1 || !scheme_configure(pctx, s, md)) {
        EVP_PKEY_CTX_free(pctx);
        return NULL;
    }
    return pctx;
}

ho_privkey *ho_privkey_from_pkey(EVP_PKEY *pkey)
{
    if (pkey == NULL)
        return NULL;
    uint16_t scheme = default_scheme(pkey);
    ho_privkey *k = scheme != 0 ? ho_mem_calloc(1, sizeof(*k)) : NULL;
    if (k == NULL) {
        EVP_PKEY_free(pkey);
        return NULL;
    }
    k->pkey = pkey;
    k->scheme = scheme;
    pthread_mutex_init(&k->lock, NULL);
    if (scheme != HO_SIG_ED25519) {
        k->sign_ctx = sign_ctx_new(pkey, scheme_find(scheme));
        if (k->sign_ctx == NULL) {
            ho_privkey_free(k);
            ERR_clear_error();
            return NULL;
        }
    }
    return k;
}

EVP_PKEY *ho_privkey_pkey(const ho_privkey *k) { return k->pkey; }

/* Never prompt on a terminal for an encrypted key. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    (void)buf, (void)size, (void)rwflag, (void)u;
    return 0;
}

ho_privkey *ho_privkey_load_pem(const void *pem, size_t len)
{
    if (pem == NULL || len > INT_MAX)
        return NULL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return NULL;
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return ho_privkey_from_pkey(pkey);
}

ho_privkey *ho_privkey_load_file(const char *pem_path)
{
    BIO *bio = BIO_new_file(pem_path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return NULL;
    }
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return ho_privkey_from_pkey(pkey);
}

ho_privkey *ho_privkey_generate_p256(void)
{
    return ho_privkey_from_pkey(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
}

void ho_privkey_free(ho_privkey *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_CTX_free(k->sign_ctx);
    EVP_PKEY_free(k->pkey); /* libcrypto cleanses the private key */
    pthread_mutex_destroy(&k->lock);
    ho_mem_free(k);
}

size_t ho_privkey_schemes(const ho_privkey *k, uint16_t *out, size_t max)
{
    if (max == 0)
        return 0;
    out[0] = k->scheme;
    size_t n = 1;
    /* An rsaEncryption key signs PSS with any of the three hashes (RFC 8446
     * §4.2.3); SHA-256 first. A peer that lists only rsa_pss_rsae_sha384
     * or _sha512 is served rather than refused. ECDSA schemes are bound to
     * the key's curve, and an RSASSA-PSS key's parameters may restrict its
     * hash: one scheme each. */
    if (k->scheme == HO_SIG_RSA_PSS_RSAE_SHA256) {
        static const uint16_t more[] = {0x0805 /* sha384 */, 0x0806 /* sha512 */};
        for (size_t i = 0; i < sizeof(more) / sizeof(more[0]) && n < max; i++)
            out[n++] = more[i];
    }
    return n;
}

static int sign_digest(ho_privkey *k, const scheme_info *s, const uint8_t *dgst, size_t dlen, uint8_t *sig,
                       size_t *siglen)
{
    EVP_PKEY_CTX *pctx = NULL;
    bool locked = false;
    if (s->scheme == k->scheme && pthread_mutex_trylock(&k->lock) == 0) {
        locked = true;
        pctx = k->sign_ctx;
    } else {
        pctx = sign_ctx_new(k->pkey, s);
    }
    int rc = HO_ERR_CRYPTO;
    if (pctx != NULL && EVP_PKEY_sign(pctx, sig, siglen, dgst, dlen) == 1)
        rc = HO_OK;
    if (locked)
        pthread_mutex_unlock(&k->lock);
    else
        EVP_PKEY_CTX_free(pctx);
    return rc;
}

int ho_privkey_sign(ho_privkey *k, uint16_t scheme, const void *msg, size_t len, uint8_t *sig, size_t *siglen)
{
    const scheme_info *s = scheme_find(scheme);
    if (s == NULL || !scheme_fits_key(s, k->pkey))
        return HO_ERR_INVALID_ARG;
    if (*siglen < (size_t)EVP_PKEY_get_size(k->pkey))
        return HO_ERR_INVALID_ARG;
    size_t cap = *siglen;
    int rc = HO_ERR_CRYPTO;
    if (s->md == MD_NONE) {
        /* EdDSA signs the message itself (RFC 8032), in one shot. */
        EVP_MD_CTX *mctx = EVP_MD_CTX_new();
        if (mctx != NULL && EVP_DigestSignInit(mctx, NULL, NULL, NULL, k->pkey) == 1 &&
            EVP_DigestSign(mctx, sig, siglen, msg, len) == 1)
            rc = HO_OK;
        EVP_MD_CTX_free(mctx);
    } else {
        const EVP_MD *md = scheme_md(s);
        uint8_t dgst[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        if (md != NULL && EVP_Digest(msg, len, dgst, &dlen, md, NULL) == 1)
            rc = sign_digest(k, s, dgst, dlen, sig, siglen);
    }
    /* OpenSSL 3.0's ECDSA can report success with a length of (size_t)-1
     * when DER encoding runs out of memory (found by tests/test_faults.c):
     * a length past the buffer is a failure. */
    if (rc == HO_OK && (*siglen == 0 || *siglen > cap))
        rc = HO_ERR_CRYPTO;
    if (rc != HO_OK)
        ERR_clear_error();
    return rc;
}

int ho_crypto_bio_to_buf(BIO *bio, ho_buf *out)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    int rc = HO_OK;
    if (n < 0 || (n > 0 && data == NULL))
        rc = HO_ERR_CRYPTO;
    else if (n > 0) {
        ho_put_bytes(out, data, (size_t)n);
        if (out->failed)
            rc = HO_ERR_NOMEM;
    }
    BIO_free(bio);
    return rc;
}

int ho_privkey_to_pem(const ho_privkey *k, ho_buf *out)
{
    /* A secure-memory BIO: its buffer is cleansed when freed. */
    BIO *bio = BIO_new(BIO_s_secmem());
    if (bio == NULL)
        return HO_ERR_NOMEM;
    if (PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        ERR_clear_error();
        return HO_ERR_CRYPTO;
    }
    return ho_crypto_bio_to_buf(bio, out);
}

/* ---- verification ---------------------------------------------------- */

int crypto_pkey_verify_signature(EVP_PKEY *pkey, uint16_t scheme, const void *msg, size_t msglen, const uint8_t *sig,
                                 size_t siglen)
{
    const scheme_info *s = scheme_find(scheme);
    if (s == NULL || pkey == NULL || !scheme_fits_key(s, pkey)) {
        ERR_clear_error();
        return HO_ERR_CERT_BAD;
    }
    int rc = HO_ERR_BAD_SIGNATURE;
    EVP_MD_CTX *mctx = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    if (s->md == MD_NONE) {
        mctx = EVP_MD_CTX_new();
        if (mctx == NULL || EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, pkey) != 1) {
            rc = HO_ERR_CRYPTO;
            goto out;
        }
        if (EVP_DigestVerify(mctx, sig, siglen, msg, msglen) == 1)
            rc = HO_OK;
    } else {
        const EVP_MD *md = scheme_md(s);
        uint8_t dgst[EVP_MAX_MD_SIZE];
        unsigned int dlen = 0;
        pctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
        if (md == NULL || pctx == NULL || EVP_Digest(msg, msglen, dgst, &dlen, md, NULL) != 1 ||
            EVP_PKEY_verify_init(pctx) != 1 || !scheme_configure(pctx, s, md)) {
            rc = HO_ERR_CRYPTO;
            goto out;
        }
        if (EVP_PKEY_verify(pctx, sig, siglen, dgst, dlen) == 1)
            rc = HO_OK;
    }
out:
    if (rc != HO_OK)
        ERR_clear_error();
    EVP_MD_CTX_free(mctx);
    EVP_PKEY_CTX_free(pctx);
    return rc;
}

int ho_cert_verify_signature(const uint8_t *der, size_t len, uint16_t scheme, const void *msg, size_t msglen,
                             const uint8_t *sig, size_t siglen)
{
    if (scheme_find(scheme) == NULL)
        return HO_ERR_CERT_BAD;
    X509 *cert = crypto_x509_parse(der, len);
    if (cert == NULL)
        return HO_ERR_CERT_BAD;
    int rc = crypto_pkey_verify_signature(X509_get0_pubkey(cert), scheme, msg, msglen, sig, siglen);
    X509_free(cert);
    return rc;
}
