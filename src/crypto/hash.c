/*
 * Hashes, the transcript hash context, HMAC (RFC 2104) and HKDF (RFC 5869,
 * RFC 8446 §7.1).
 *
 * HMAC is built directly on EVP_Digest* with the cached EVP_MD: in OpenSSL
 * 3.0 EVP_MAC and EVP_KDF fetch and allocate per call and are several times
 * slower for the short inputs TLS uses. HMAC-SHA-256, the hash of QUIC's
 * Initial keys and of most TLS key schedules, goes further: the low-level
 * SHA256_* functions on a stack context, no allocation and no provider
 * dispatch (about 3x faster per HMAC than EVP here), so that deriving the
 * Initial keys of a forged QUIC Initial stays cheap (docs/QUIC.md).
 */
/* SHA256_Init & co. are deprecated in OpenSSL 3.0 but stay supported
 * through 3.x; this must precede every OpenSSL header. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <openssl/sha.h>
#include <string.h>

#define HMAC_BLOCK_MAX 128 /* SHA-384 block size */

size_t crypto_hash_len(ho_hash_alg alg)
{
    switch (alg) {
    case HO_HASH_SHA256: return 32;
    case HO_HASH_SHA384: return 48;
    }
    return 0;
}

int crypto_hash(ho_hash_alg alg, const void *in, size_t len, uint8_t *out)
{
    const EVP_MD *md = ho_crypto_md(alg);
    if (md == NULL)
        return HO_ERR_INVALID_ARG;
    if (in == NULL && len != 0)
        return HO_ERR_INVALID_ARG;
    return EVP_Digest(in, len, out, NULL, md, NULL) == 1 ? HO_OK : HO_ERR_CRYPTO;
}

/* ---- transcript hash ------------------------------------------------- */

struct crypto_hash_ctx {
    ho_hash_alg alg;
    EVP_MD_CTX *md;
    EVP_MD_CTX *scratch; /* reused by peek so it does not allocate a context each time */
};

crypto_hash_ctx *crypto_hash_ctx_new(ho_hash_alg alg)
{
    const EVP_MD *md = ho_crypto_md(alg);
    if (md == NULL)
        return NULL;
    crypto_hash_ctx *c = ho_mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->alg = alg;
    c->md = EVP_MD_CTX_new();
    if (c->md == NULL || EVP_DigestInit_ex(c->md, md, NULL) != 1) {
        crypto_hash_ctx_free(c);
        return NULL;
    }
    return c;
}

int crypto_hash_ctx_update(crypto_hash_ctx *c, const void *in, size_t len)
{
    if (len == 0)
        return HO_OK;
    return EVP_DigestUpdate(c->md, in, len) == 1 ? HO_OK : HO_ERR_CRYPTO;
}

int crypto_hash_ctx_peek(crypto_hash_ctx *c, uint8_t *out)
{
    if (c->scratch == NULL && (c->scratch = EVP_MD_CTX_new()) == NULL)
        return HO_ERR_NOMEM;
    if (EVP_MD_CTX_copy_ex(c->scratch, c->md) != 1 || EVP_DigestFinal_ex(c->scratch, out, NULL) != 1)
        return HO_ERR_CRYPTO;
    return HO_OK;
}

crypto_hash_ctx *crypto_hash_ctx_dup(const crypto_hash_ctx *c)
{
    crypto_hash_ctx *d = ho_mem_calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    d->alg = c->alg;
    d->md = EVP_MD_CTX_new();
    if (d->md == NULL || EVP_MD_CTX_copy_ex(d->md, c->md) != 1) {
        crypto_hash_ctx_free(d);
        return NULL;
    }
    return d;
}

void crypto_hash_ctx_free(crypto_hash_ctx *c)
{
    if (c == NULL)
        return;
    EVP_MD_CTX_free(c->md); /* EVP_MD_CTX_free cleanses the provider state */
    EVP_MD_CTX_free(c->scratch);
    ho_mem_free(c);
}

/* ---- HMAC ------------------------------------------------------------ */

typedef struct hmac_part {
    const void *p;
    size_t n;
} hmac_part;

/* HMAC-SHA-256(key, parts...) with the low-level API (RFC 2104). */
static int hmac_sha256_parts(const void *key, size_t keylen, const hmac_part *parts, size_t nparts, uint8_t *out)
{
    uint8_t pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH];
    SHA256_CTX c;
    int ok = 1;
    memset(pad, 0, sizeof(pad));
    if (keylen > sizeof(pad)) /* RFC 2104 §2: hash keys longer than the block */
        ok &= SHA256(key, keylen, pad) != NULL;
    else if (keylen > 0)
        memcpy(pad, key, keylen);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] ^= 0x36;
    ok &= SHA256_Init(&c);
    ok &= SHA256_Update(&c, pad, sizeof(pad));
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].n > 0)
            ok &= SHA256_Update(&c, parts[i].p, parts[i].n);
    ok &= SHA256_Final(inner, &c);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] ^= 0x36 ^ 0x5c;
    ok &= SHA256_Init(&c);
    ok &= SHA256_Update(&c, pad, sizeof(pad));
    ok &= SHA256_Update(&c, inner, sizeof(inner));
    ok &= SHA256_Final(out, &c);
    ho_wipe(pad, sizeof(pad));
    ho_wipe(inner, sizeof(inner));
    ho_wipe(&c, sizeof(c));
    return ok == 1 ? HO_OK : HO_ERR_CRYPTO;
}

/* HMAC(key, parts[0] || parts[1] || ...) using ctx as the work context;
 * ctx NULL: SHA-256 without EVP. */
static int hmac_parts(const EVP_MD *md, EVP_MD_CTX *ctx, const void *key, size_t keylen, const hmac_part *parts,
                      size_t nparts, uint8_t *out)
{
    if (ctx == NULL)
        return hmac_sha256_parts(key, keylen, parts, nparts, out);
    size_t block = (size_t)EVP_MD_get_block_size(md);
    size_t hlen = (size_t)EVP_MD_get_size(md);
    uint8_t pad[HMAC_BLOCK_MAX];
    uint8_t inner[EVP_MAX_MD_SIZE];
    int rc = HO_ERR_CRYPTO;

    memset(pad, 0, block);
    if (keylen > block) { /* RFC 2104 §2: hash keys longer than the block */
        if (EVP_Digest(key, keylen, pad, NULL, md, NULL) != 1)
            goto out;
    } else if (keylen > 0) {
        memcpy(pad, key, keylen);
    }
    for (size_t i = 0; i < block; i++)
        pad[i] ^= 0x36;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, block) != 1)
        goto out;
    for (size_t i = 0; i < nparts; i++)
        if (parts[i].n > 0 && EVP_DigestUpdate(ctx, parts[i].p, parts[i].n) != 1)
            goto out;
    if (EVP_DigestFinal_ex(ctx, inner, NULL) != 1)
        goto out;
    for (size_t i = 0; i < block; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    if (EVP_DigestInit_ex(ctx, md, NULL) != 1 || EVP_DigestUpdate(ctx, pad, block) != 1 ||
        EVP_DigestUpdate(ctx, inner, hlen) != 1 || EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        goto out;
    rc = HO_OK;
out:
    ho_wipe(pad, sizeof(pad));
    ho_wipe(inner, sizeof(inner));
    return rc;
}

int crypto_hmac(ho_hash_alg alg, const void *key, size_t keylen, const void *data, size_t len, uint8_t *out)
{
    const EVP_MD *md = ho_crypto_md(alg);
    if (md == NULL || (key == NULL && keylen != 0) || (data == NULL && len != 0))
        return HO_ERR_INVALID_ARG;
    EVP_MD_CTX *ctx = NULL;
    if (alg != HO_HASH_SHA256 && (ctx = EVP_MD_CTX_new()) == NULL)
        return HO_ERR_NOMEM;
    hmac_part part = {data, len};
    int rc = hmac_parts(md, ctx, key, keylen, &part, 1, out);
    EVP_MD_CTX_free(ctx);
    return rc;
}

/* ---- HKDF ------------------------------------------------------------ */

int crypto_hkdf_extract(ho_hash_alg alg, const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                    uint8_t *prk)
{
    /* RFC 5869 §2.2: an absent salt is HashLen zeros, which HMAC pads to
     * the same key as an empty one. */
    return crypto_hmac(alg, salt, saltlen, ikm, ikmlen, prk);
}

int crypto_hkdf_expand(ho_hash_alg alg, const uint8_t *prk, const void *info, size_t infolen, uint8_t *out,
                   size_t outlen)
{
    const EVP_MD *md = ho_crypto_md(alg);
    size_t hlen = crypto_hash_len(alg);
    /* RFC 5869 §2.3: L <= 255*HashLen. */
    if (md == NULL || outlen > 255 * hlen || (info == NULL && infolen != 0))
        return HO_ERR_INVALID_ARG;
    EVP_MD_CTX *ctx = NULL;
    if (alg != HO_HASH_SHA256 && (ctx = EVP_MD_CTX_new()) == NULL)
        return HO_ERR_NOMEM;
    uint8_t t[EVP_MAX_MD_SIZE], key[EVP_MAX_MD_SIZE];
    size_t tlen = 0, done = 0;
    int rc = HO_OK;
    memcpy(key, prk, hlen); /* out may alias prk (e.g. a key update in place) */
    for (uint8_t i = 1; done < outlen; i++) {
        /* T(i) = HMAC(PRK, T(i-1) | info | i) */
        hmac_part parts[3] = {{t, tlen}, {info, infolen}, {&i, 1}};
        if ((rc = hmac_parts(md, ctx, key, hlen, parts, 3, t)) != HO_OK)
            break;
        tlen = hlen;
        size_t take = outlen - done < hlen ? outlen - done : hlen;
        memcpy(out + done, t, take);
        done += take;
    }
    ho_wipe(t, sizeof(t));
    ho_wipe(key, sizeof(key));
    EVP_MD_CTX_free(ctx);
    if (rc != HO_OK)
        ho_wipe(out, outlen);
    return rc;
}

int crypto_hkdf_expand_label(ho_hash_alg alg, const uint8_t *secret, const char *label, const void *context,
                         size_t contextlen, uint8_t *out, size_t outlen)
{
    /* RFC 8446 §7.1:
     *   struct {
     *       uint16 length = Length;
     *       opaque label<7..255> = "tls13 " + Label;
     *       opaque context<0..255> = Context;
     *   } HkdfLabel;                                                      */
    static const char prefix[] = "tls13 ";
    size_t labellen = strlen(label);
    if (outlen > 0xffff || labellen + 6 > 255 || contextlen > 255 || (context == NULL && contextlen != 0))
        return HO_ERR_INVALID_ARG;
    uint8_t info[2 + 1 + 255 + 1 + 255];
    size_t n = 0;
    info[n++] = (uint8_t)(outlen >> 8);
    info[n++] = (uint8_t)outlen;
    info[n++] = (uint8_t)(labellen + 6);
    memcpy(info + n, prefix, 6);
    n += 6;
    memcpy(info + n, label, labellen);
    n += labellen;
    info[n++] = (uint8_t)contextlen;
    if (contextlen > 0)
        memcpy(info + n, context, contextlen);
    n += contextlen;
    return crypto_hkdf_expand(alg, secret, info, n, out, outlen);
}

int crypto_hkdf_expand_labels(ho_hash_alg alg, const uint8_t *secret, size_t n, const char *const labels[],
                          uint8_t *const outs[], const size_t lens[])
{
    bool fast = alg == HO_HASH_SHA256;
    for (size_t k = 0; k < n; k++)
        if (lens[k] > SHA256_DIGEST_LENGTH || strlen(labels[k]) + 6 > 255)
            fast = false;
    if (!fast) {
        for (size_t k = 0; k < n; k++) {
            int rc = crypto_hkdf_expand_label(alg, secret, labels[k], NULL, 0, outs[k], lens[k]);
            if (rc != HO_OK)
                return rc;
        }
        return HO_OK;
    }
    /* RFC 2104 §4: the key's inner and outer pads are hashed once, and each
     * label's T(1) = HMAC(secret, HkdfLabel | 0x01) (RFC 5869 §2.3, one
     * block since L <= 32) continues from them. */
    uint8_t pad[SHA256_CBLOCK], inner[SHA256_DIGEST_LENGTH], t[SHA256_DIGEST_LENGTH];
    SHA256_CTX ci, co, c;
    int ok = 1;
    memset(pad, 0, sizeof(pad));
    memcpy(pad, secret, SHA256_DIGEST_LENGTH);
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] ^= 0x36;
    ok &= SHA256_Init(&ci);
    ok &= SHA256_Update(&ci, pad, sizeof(pad));
    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] ^= 0x36 ^ 0x5c;
    ok &= SHA256_Init(&co);
    ok &= SHA256_Update(&co, pad, sizeof(pad));
    for (size_t k = 0; k < n; k++) {
        /* RFC 8446 §7.1 HkdfLabel with an empty context, then the counter. */
        uint8_t info[2 + 1 + 255 + 1 + 1];
        size_t labellen = strlen(labels[k]), m = 0;
        info[m++] = (uint8_t)(lens[k] >> 8);
        info[m++] = (uint8_t)lens[k];
        info[m++] = (uint8_t)(labellen + 6);
        memcpy(info + m, "tls13 ", 6);
        m += 6;
        memcpy(info + m, labels[k], labellen);
        m += labellen;
        info[m++] = 0; /* context length */
        info[m++] = 1; /* T(1) */
        c = ci;
        ok &= SHA256_Update(&c, info, m);
        ok &= SHA256_Final(inner, &c);
        c = co;
        ok &= SHA256_Update(&c, inner, sizeof(inner));
        ok &= SHA256_Final(t, &c);
        memcpy(outs[k], t, lens[k]);
    }
    ho_wipe(pad, sizeof(pad));
    ho_wipe(inner, sizeof(inner));
    ho_wipe(t, sizeof(t));
    ho_wipe(&ci, sizeof(ci));
    ho_wipe(&co, sizeof(co));
    ho_wipe(&c, sizeof(c));
    if (ok != 1) {
        for (size_t k = 0; k < n; k++)
            ho_wipe(outs[k], lens[k]);
        return HO_ERR_CRYPTO;
    }
    return HO_OK;
}
