/*
 * Certificates: PEM/DER chains, self-signed generation, the trust store and
 * chain verification with host name / IP address matching (RFC 6125 as
 * implemented by X509_check_host / X509_check_ip).
 */
#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <arpa/inet.h>
#include <limits.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* ---- chains ---------------------------------------------------------- */

int ho_cert_chain_add_der(ho_cert_chain *chain, const uint8_t *der, size_t len)
{
    if (der == NULL || len == 0)
        return HO_ERR_INVALID_ARG;
    uint8_t **ders = ho_mem_realloc(chain->der, (chain->count + 1) * sizeof(*ders));
    if (ders == NULL)
        return HO_ERR_NOMEM;
    chain->der = ders;
    size_t *lens = ho_mem_realloc(chain->len, (chain->count + 1) * sizeof(*lens));
    if (lens == NULL)
        return HO_ERR_NOMEM;
    chain->len = lens;
    uint8_t *copy = ho_mem_alloc(len);
    if (copy == NULL)
        return HO_ERR_NOMEM;
    memcpy(copy, der, len);
    chain->der[chain->count] = copy;
    chain->len[chain->count] = len;
    chain->count++;
    return HO_OK;
}

static int chain_add_x509(ho_cert_chain *chain, X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    if (n <= 0)
        return HO_ERR_CERT_BAD;
    int rc = ho_cert_chain_add_der(chain, der, (size_t)n);
    OPENSSL_free(der);
    return rc;
}

static void chain_truncate(ho_cert_chain *chain, size_t count)
{
    while (chain->count > count) {
        chain->count--;
        ho_mem_free(chain->der[chain->count]);
        chain->der[chain->count] = NULL;
    }
}

/* Appends every certificate in the PEM stream; on failure the chain is left
 * as it was. */
static int chain_load_bio(ho_cert_chain *chain, BIO *bio)
{
    size_t before = chain->count;
    int rc = HO_OK;
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        rc = chain_add_x509(chain, x);
        X509_free(x);
        if (rc != HO_OK)
            break;
    }
    /* The loop ends with "no start line" at end of input; anything else is
     * a damaged block. */
    unsigned long err = ERR_peek_last_error();
    if (rc == HO_OK && err != 0 &&
        !(ERR_GET_LIB(err) == ERR_LIB_PEM && ERR_GET_REASON(err) == PEM_R_NO_START_LINE))
        rc = HO_ERR_CERT_BAD;
    if (rc == HO_OK && chain->count == before)
        rc = HO_ERR_CERT_BAD;
    ERR_clear_error();
    if (rc != HO_OK)
        chain_truncate(chain, before);
    return rc;
}

int ho_cert_chain_load_pem(ho_cert_chain *chain, const void *pem, size_t len)
{
    if (pem == NULL || len > INT_MAX)
        return HO_ERR_INVALID_ARG;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL)
        return HO_ERR_NOMEM;
    int rc = chain_load_bio(chain, bio);
    BIO_free(bio);
    return rc;
}

int ho_cert_chain_load_file(ho_cert_chain *chain, const char *pem_path)
{
    BIO *bio = BIO_new_file(pem_path, "r");
    if (bio == NULL) {
        ERR_clear_error();
        return HO_ERR_IO;
    }
    int rc = chain_load_bio(chain, bio);
    BIO_free(bio);
    return rc;
}

void ho_cert_chain_free(ho_cert_chain *chain)
{
    if (chain == NULL)
        return;
    chain_truncate(chain, 0);
    ho_mem_free(chain->der);
    ho_mem_free(chain->len);
    memset(chain, 0, sizeof(*chain));
}

void crypto_x509_prepare_shared(X509 *x)
{
    /* Any purpose (-1): only fills the extension cache (key identifiers,
     * constraints), as X509_verify_cert would on first use. Whether the
     * certificate is fit for a purpose is judged later, by verification. */
    (void)X509_check_purpose(x, -1, 0);
    ERR_clear_error();
}

X509 *crypto_x509_parse(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    if (der == NULL || len > LONG_MAX)
        return NULL;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x != NULL && p != der + len) { /* trailing bytes */
        X509_free(x);
        x = NULL;
    }
    if (x == NULL)
        ERR_clear_error();
    return x;
}

bool ho_cert_matches_key(const uint8_t *der, size_t len, const ho_privkey *k)
{
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return false;
    EVP_PKEY *pub = X509_get0_pubkey(x);
    bool ok = pub != NULL && EVP_PKEY_eq(pub, ho_privkey_pkey(k)) == 1;
    X509_free(x);
    ERR_clear_error();
    return ok;
}

int ho_cert_to_pem(const uint8_t *der, size_t len, ho_buf *out)
{
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return HO_ERR_CERT_BAD;
    BIO *bio = BIO_new(BIO_s_mem());
    int rc = HO_ERR_NOMEM;
    if (bio != NULL) {
        if (PEM_write_bio_X509(bio, x) == 1) {
            rc = ho_crypto_bio_to_buf(bio, out);
        } else {
            rc = HO_ERR_CRYPTO;
            BIO_free(bio);
        }
    }
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* ---- self-signed certificates ---------------------------------------- */

static bool x509_add_ext(X509 *x, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    bool ok = ext != NULL && X509_add_ext(x, ext, -1) == 1;
    X509_EXTENSION_free(ext);
    return ok;
}

int ho_selfsigned_generate(const char *cn, int days, ho_privkey **key, ho_cert_chain *chain)
{
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    if (cn == NULL || *cn == '\0' || days <= 0 || strlen(cn) > 64 || algs == NULL)
        return HO_ERR_INVALID_ARG;
    int rc = HO_ERR_CRYPTO;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    BIGNUM *serial_bn = NULL;
    char san[64 + 64];
    uint8_t serial[16];
    if (pkey == NULL || x == NULL)
        goto out;
    /* RFC 5280 §4.1.2.2: positive, at most 20 octets. */
    if (ho_random(serial, sizeof(serial)) != HO_OK)
        goto out;
    serial[0] &= 0x7f;
    serial[0] |= 0x01;
    serial_bn = BN_bin2bn(serial, sizeof(serial), NULL);
    X509_NAME *name = X509_get_subject_name(x);
    snprintf(san, sizeof(san), "DNS:%s,IP:127.0.0.1,IP:::1", cn);
    if (serial_bn == NULL || X509_set_version(x, X509_VERSION_3) != 1 ||
        BN_to_ASN1_INTEGER(serial_bn, X509_get_serialNumber(x)) == NULL ||
        X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) == NULL ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, pkey) != 1 ||
        !x509_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") ||
        !x509_add_ext(x, NID_key_usage, "critical,digitalSignature") ||
        !x509_add_ext(x, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !x509_add_ext(x, NID_subject_key_identifier, "hash") || !x509_add_ext(x, NID_subject_alt_name, san) ||
        X509_sign(x, pkey, algs->md[HO_HASH_SHA256]) <= 0)
        goto out;
    size_t before = chain->count;
    if ((rc = chain_add_x509(chain, x)) != HO_OK)
        goto out;
    *key = ho_privkey_from_pkey(pkey);
    pkey = NULL; /* owned (or freed) by ho_privkey_from_pkey */
    if (*key == NULL) {
        chain_truncate(chain, before);
        rc = HO_ERR_CRYPTO;
        goto out;
    }
    rc = HO_OK;
out:
    ERR_clear_error();
    BN_free(serial_bn);
    X509_free(x);
    EVP_PKEY_free(pkey);
    return rc;
}

int crypto_x509_subject_str(X509 *x, char *buf, size_t n)
{
    if (buf == NULL || n == 0)
        return HO_ERR_INVALID_ARG;
    buf[0] = '\0';
    int rc = HO_ERR_NOMEM;
    BIO *bio = BIO_new(BIO_s_mem());
    /* RFC 2253 order and escaping, UTF-8 kept as is. */
    if (bio != NULL &&
        X509_NAME_print_ex(bio, X509_get_subject_name(x), 0, XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *p;
        long got = BIO_get_mem_data(bio, &p);
        size_t m = got > 0 ? (size_t)got : 0;
        if (m > n - 1)
            m = n - 1;
        memcpy(buf, p, m);
        buf[m] = '\0';
        rc = HO_OK;
    }
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

int ho_cert_subject(const uint8_t *der, size_t len, char *buf, size_t n)
{
    if (buf == NULL || n == 0)
        return HO_ERR_INVALID_ARG;
    buf[0] = '\0';
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return HO_ERR_CERT_BAD;
    int rc = crypto_x509_subject_str(x, buf, n);
    X509_free(x);
    return rc;
}

int crypto_cert_subject_der(const uint8_t *der, size_t len, ho_buf *out)
{
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return HO_ERR_CERT_BAD;
    unsigned char *enc = NULL;
    int n = i2d_X509_NAME(X509_get_subject_name(x), &enc);
    int rc = n > 0 ? HO_OK : HO_ERR_CRYPTO;
    if (n > 0) {
        ho_put_bytes(out, enc, (size_t)n);
        OPENSSL_free(enc);
        if (out->failed)
            rc = HO_ERR_NOMEM;
    }
    X509_free(x);
    ERR_clear_error();
    return rc;
}

/* ---- trust store and chain verification ------------------------------ */

struct ho_trust_store {
    X509_STORE *store;
    _Atomic uint64_t gen; /* changes with every addition (certcache.c) */
};

/* Generations are unique across stores, so a cached result can never be
 * taken for another store's, even one allocated at the same address. */
static _Atomic uint64_t g_store_gen;

static void store_touch(ho_trust_store *ts) { atomic_store(&ts->gen, atomic_fetch_add(&g_store_gen, 1) + 1); }

uint64_t crypto_trust_store_gen(const ho_trust_store *ts) { return atomic_load(&ts->gen); }

ho_trust_store *ho_trust_store_new(void)
{
    ho_trust_store *ts = ho_mem_calloc(1, sizeof(*ts));
    if (ts == NULL)
        return NULL;
    ts->store = X509_STORE_new();
    if (ts->store == NULL) {
        ho_mem_free(ts);
        return NULL;
    }
    /* Any certificate in the store is a trust anchor, including a
     * self-signed leaf pinned by the user (not only self-signed roots). */
    X509_STORE_set_flags(ts->store, X509_V_FLAG_PARTIAL_CHAIN);
    store_touch(ts);
    return ts;
}

void ho_trust_store_free(ho_trust_store *ts)
{
    if (ts == NULL)
        return;
    X509_STORE_free(ts->store);
    ho_mem_free(ts);
}

int ho_trust_store_add_der(ho_trust_store *ts, const uint8_t *der, size_t len)
{
    X509 *x = crypto_x509_parse(der, len);
    if (x == NULL)
        return HO_ERR_CERT_BAD;
    crypto_x509_prepare_shared(x);
    int rc = X509_STORE_add_cert(ts->store, x) == 1 ? HO_OK : HO_ERR_CRYPTO;
    store_touch(ts);
    X509_free(x);
    ERR_clear_error();
    return rc;
}

int ho_trust_store_add_file(ho_trust_store *ts, const char *pem_path)
{
    ho_cert_chain certs = {0};
    int rc = ho_cert_chain_load_file(&certs, pem_path);
    for (size_t i = 0; rc == HO_OK && i < certs.count; i++)
        rc = ho_trust_store_add_der(ts, certs.der[i], certs.len[i]);
    ho_cert_chain_free(&certs);
    return rc;
}

int ho_trust_store_add_system(ho_trust_store *ts)
{
    int rc = X509_STORE_set_default_paths(ts->store) == 1 ? HO_OK : HO_ERR_NOT_FOUND;
    store_touch(ts);
    ERR_clear_error();
    return rc;
}

static int verify_error_map(int err)
{
    switch (err) {
    case X509_V_OK: return HO_OK;
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
        return HO_ERR_CERT_EXPIRED;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
    case X509_V_ERR_EMAIL_MISMATCH:
        return HO_ERR_CERT_HOSTNAME;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_CERT_UNTRUSTED:
    case X509_V_ERR_CERT_REJECTED:
    case X509_V_ERR_CERT_CHAIN_TOO_LONG:
    case X509_V_ERR_INVALID_CA:
    case X509_V_ERR_PATH_LENGTH_EXCEEDED:
    case X509_V_ERR_INVALID_PURPOSE:
    case X509_V_ERR_CERT_REVOKED:
        return HO_ERR_CERT_UNTRUSTED;
    default:
        return HO_ERR_CERT_BAD;
    }
}

/* Sets the expected identity: an IP literal (optionally [bracketed] IPv6)
 * matches iPAddress SANs only, anything else a DNS name. */
static bool verify_param_set_peer(X509_VERIFY_PARAM *param, const char *hostname)
{
    unsigned char addr[16];
    char ip[64];
    size_t n = strlen(hostname);
    if (n >= 2 && n < sizeof(ip) && hostname[0] == '[' && hostname[n - 1] == ']') {
        memcpy(ip, hostname + 1, n - 2);
        ip[n - 2] = '\0';
        if (inet_pton(AF_INET6, ip, addr) == 1)
            return X509_VERIFY_PARAM_set1_ip_asc(param, ip) == 1;
    }
    if (inet_pton(AF_INET, hostname, addr) == 1 || inet_pton(AF_INET6, hostname, addr) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(param, hostname) == 1;
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(param, hostname, 0) == 1;
}

/* The Unix time of an ASN1_TIME; false if it does not convert. */
static bool asn1_time_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    time_t u = timegm(&tm);
    if (u == (time_t)-1)
        return false;
    *out = (int64_t)u;
    return true;
}

/* The period in which every certificate of the verified chain is valid:
 * [latest notBefore, earliest notAfter). False if a time does not convert. */
static bool chain_window(X509_STORE_CTX *ctx, int64_t *not_before, int64_t *not_after)
{
    STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
    int n = built != NULL ? sk_X509_num(built) : 0;
    if (n <= 0)
        return false;
    int64_t nb = INT64_MIN, na = INT64_MAX;
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(built, i);
        int64_t b, a;
        if (!asn1_time_unix(X509_get0_notBefore(x), &b) || !asn1_time_unix(X509_get0_notAfter(x), &a))
            return false;
        if (b > nb)
            nb = b;
        if (a < na)
            na = a;
    }
    *not_before = nb;
    *not_after = na;
    return true;
}

int crypto_chain_verify_x509(ho_trust_store *ts, X509 *leaf, STACK_OF(X509) *given, const ho_cert_chain *chain,
                             const char *hostname, int64_t now_unix, int64_t *not_before, int64_t *not_after)
{
    int rc = HO_ERR_CERT_BAD;
    STACK_OF(X509) *untrusted = given != NULL ? given : sk_X509_new_null();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (not_before != NULL)
        *not_before = INT64_MAX, *not_after = INT64_MIN; /* an empty window unless verified */
    if (untrusted == NULL || ctx == NULL) {
        rc = HO_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 1; given == NULL && i < chain->count; i++) {
        X509 *x = crypto_x509_parse(chain->der[i], chain->len[i]);
        if (x == NULL)
            goto out;
        if (!sk_X509_push(untrusted, x)) {
            X509_free(x);
            rc = HO_ERR_NOMEM;
            goto out;
        }
    }
    if (X509_STORE_CTX_init(ctx, ts->store, leaf, untrusted) != 1) {
        rc = HO_ERR_CRYPTO;
        goto out;
    }
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    if (now_unix != 0)
        X509_VERIFY_PARAM_set_time(param, (time_t)now_unix);
    if (hostname != NULL && !verify_param_set_peer(param, hostname)) {
        rc = HO_ERR_CERT_HOSTNAME;
        goto out;
    }
    if (X509_verify_cert(ctx) == 1) {
        rc = HO_OK;
        if (not_before != NULL && !chain_window(ctx, not_before, not_after))
            *not_before = INT64_MAX, *not_after = INT64_MIN;
    } else {
        rc = verify_error_map(X509_STORE_CTX_get_error(ctx));
    }
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    if (given == NULL)
        sk_X509_pop_free(untrusted, X509_free);
    return rc;
}

int ho_cert_chain_verify(ho_trust_store *ts, const ho_cert_chain *chain, const char *hostname, int64_t now_unix)
{
    if (chain == NULL || chain->count == 0)
        return HO_ERR_CERT_BAD;
    X509 *leaf = crypto_x509_parse(chain->der[0], chain->len[0]);
    if (leaf == NULL)
        return HO_ERR_CERT_BAD;
    int rc = crypto_chain_verify_x509(ts, leaf, NULL, chain, hostname, now_unix, NULL, NULL);
    X509_free(leaf);
    return rc;
}
