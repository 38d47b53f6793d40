/*
 * AEAD record protection (RFC 8446 §5.2-5.3, RFC 9001 §5.3) and QUIC header
 * protection (RFC 9001 §5.4).
 *
 * Each crypto_aead owns one EVP_CIPHER_CTX keyed at creation; a record only
 * installs its nonce, so the key schedule (AES round keys, GHASH tables) is
 * computed once per key, not once per record.
 *
 * Per record OpenSSL 3 still costs a fixed ~0.3 µs on top of the cipher
 * (bench/aead_calls: 1350-byte packets at about 1.6x the cost of
 * EVP_EncryptUpdate alone): setting the nonce goes through the provider's
 * init, which asks the context for its IV length (a parameter lookup),
 * and the tag is a parameter too. The cheapest sequence measured: the
 * nonce by EVP_CipherInit_ex2 and the tag by EVP_CIPHER_CTX_get_params /
 * set_params on a one-entry OSSL_PARAM array, not EVP_CIPHER_CTX_ctrl.
 */
#include "base/mem.h"
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>

size_t crypto_aead_key_len(ho_aead_alg alg)
{
    switch (alg) {
    case HO_AEAD_AES_128_GCM: return 16;
    case HO_AEAD_AES_256_GCM: return 32;
    case HO_AEAD_CHACHA20_POLY1305: return 32;
    }
    return 0;
}

struct crypto_aead {
    ho_aead_alg alg;
    bool encrypt;
    EVP_CIPHER_CTX *ctx;
    uint8_t iv[HO_AEAD_IV_LEN];
};

crypto_aead *crypto_aead_new(ho_aead_alg alg, bool encrypt, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN])
{
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    if (algs == NULL || crypto_aead_key_len(alg) == 0)
        return NULL;
    crypto_aead *a = ho_mem_calloc(1, sizeof(*a));
    if (a == NULL)
        return NULL;
    a->alg = alg;
    a->encrypt = encrypt;
    memcpy(a->iv, iv, HO_AEAD_IV_LEN);
    a->ctx = EVP_CIPHER_CTX_new();
    int enc = encrypt ? 1 : 0;
    if (a->ctx == NULL || EVP_CipherInit_ex(a->ctx, algs->aead[alg], NULL, NULL, NULL, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(a->ctx, EVP_CTRL_AEAD_SET_IVLEN, HO_AEAD_IV_LEN, NULL) != 1 ||
        EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, enc) != 1) {
        crypto_aead_free(a);
        return NULL;
    }
    return a;
}

void crypto_aead_free(crypto_aead *a)
{
    if (a == NULL)
        return;
    EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
    ho_wipe(a->iv, sizeof(a->iv));
    ho_mem_free(a);
}

ho_aead_alg crypto_aead_alg_of(const crypto_aead *a) { return a->alg; }

int crypto_aead_rekey(crypto_aead *a, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN])
{
    memcpy(a->iv, iv, HO_AEAD_IV_LEN);
    /* The cipher and IV length stay; only the key schedule is redone. */
    if (EVP_CipherInit_ex(a->ctx, NULL, NULL, key, NULL, a->encrypt ? 1 : 0) != 1)
        return HO_ERR_CRYPTO;
    return HO_OK;
}

/* RFC 8446 §5.3: the 64-bit sequence number, big-endian and left-padded to
 * the IV length, XORed with the static IV. */
static int aead_set_nonce(crypto_aead *a, uint64_t seq)
{
    uint8_t nonce[HO_AEAD_IV_LEN];
    memcpy(nonce, a->iv, HO_AEAD_IV_LEN);
    for (int i = 0; i < 8; i++)
        nonce[HO_AEAD_IV_LEN - 1 - i] ^= (uint8_t)(seq >> (8 * i));
    int ok = EVP_CipherInit_ex2(a->ctx, NULL, NULL, nonce, a->encrypt ? 1 : 0, NULL);
    ho_wipe(nonce, sizeof(nonce));
    return ok == 1 ? HO_OK : HO_ERR_CRYPTO;
}

int crypto_aead_seal(crypto_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                 uint8_t *out)
{
    if (!a->encrypt || aadlen > INT_MAX || inlen > INT_MAX - CRYPTO_AEAD_TAG_LEN)
        return HO_ERR_INVALID_ARG;
    int rc = aead_set_nonce(a, seq);
    if (rc != HO_OK)
        return rc;
    int n = 0, fin = 0;
    if (aadlen > 0 && EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aadlen) != 1)
        return HO_ERR_CRYPTO;
    n = 0;
    if (inlen > 0 && EVP_CipherUpdate(a->ctx, out, &n, in, (int)inlen) != 1)
        return HO_ERR_CRYPTO;
    if (EVP_CipherFinal_ex(a->ctx, out + n, &fin) != 1 || (size_t)n + (size_t)fin != inlen)
        return HO_ERR_CRYPTO;
    OSSL_PARAM tag[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, out + inlen, CRYPTO_AEAD_TAG_LEN),
                         OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_get_params(a->ctx, tag) != 1)
        return HO_ERR_CRYPTO;
    return HO_OK;
}

int crypto_aead_open(crypto_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                 uint8_t *out)
{
    if (a->encrypt || aadlen > INT_MAX || inlen > INT_MAX)
        return HO_ERR_INVALID_ARG;
    if (inlen < CRYPTO_AEAD_TAG_LEN)
        return HO_ERR_DECRYPT;
    size_t ctlen = inlen - CRYPTO_AEAD_TAG_LEN;
    int rc = aead_set_nonce(a, seq);
    if (rc != HO_OK)
        return rc;
    /* Set the tag first: when out == in, decrypting overwrites only the
     * ciphertext, but a copy now keeps that reasoning unnecessary. */
    uint8_t tag[CRYPTO_AEAD_TAG_LEN];
    memcpy(tag, (const uint8_t *)in + ctlen, CRYPTO_AEAD_TAG_LEN);
    OSSL_PARAM tp[2] = {OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, CRYPTO_AEAD_TAG_LEN),
                        OSSL_PARAM_construct_end()};
    if (EVP_CIPHER_CTX_set_params(a->ctx, tp) != 1)
        return HO_ERR_CRYPTO;
    int n = 0, fin = 0;
    if (aadlen > 0 && EVP_CipherUpdate(a->ctx, NULL, &n, aad, (int)aadlen) != 1)
        return HO_ERR_CRYPTO;
    n = 0;
    if (ctlen > 0 && EVP_CipherUpdate(a->ctx, out, &n, in, (int)ctlen) != 1)
        return HO_ERR_CRYPTO;
    if (EVP_CipherFinal_ex(a->ctx, out + n, &fin) != 1) {
        /* Never release unauthenticated plaintext. */
        ho_wipe(out, ctlen);
        return HO_ERR_DECRYPT;
    }
    return HO_OK;
}

/* ---- QUIC header protection ------------------------------------------ */

struct crypto_hp {
    ho_aead_alg alg;
    EVP_CIPHER_CTX *ctx;
};

crypto_hp *crypto_hp_new(ho_aead_alg alg, const uint8_t *key)
{
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    if (algs == NULL)
        return NULL;
    const EVP_CIPHER *cipher;
    switch (alg) {
    case HO_AEAD_AES_128_GCM: cipher = algs->aes128_ecb; break;
    case HO_AEAD_AES_256_GCM: cipher = algs->aes256_ecb; break;
    case HO_AEAD_CHACHA20_POLY1305: cipher = algs->chacha20; break;
    default: return NULL;
    }
    crypto_hp *h = ho_mem_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->alg = alg;
    h->ctx = EVP_CIPHER_CTX_new();
    if (h->ctx == NULL || EVP_EncryptInit_ex(h->ctx, cipher, NULL, key, NULL) != 1) {
        crypto_hp_free(h);
        return NULL;
    }
    if (alg != HO_AEAD_CHACHA20_POLY1305)
        EVP_CIPHER_CTX_set_padding(h->ctx, 0);
    return h;
}

int crypto_hp_mask(crypto_hp *h, const uint8_t sample[16], uint8_t mask[5])
{
    uint8_t block[16];
    int n = 0;
    if (h->alg == HO_AEAD_CHACHA20_POLY1305) {
        /* RFC 9001 §5.4.4: counter = sample[0..3] (little-endian), nonce =
         * sample[4..15]; OpenSSL's ChaCha20 IV is exactly counter || nonce.
         * The mask is the keystream over five zero bytes. */
        static const uint8_t zeros[5];
        if (EVP_EncryptInit_ex(h->ctx, NULL, NULL, NULL, sample) != 1 ||
            EVP_EncryptUpdate(h->ctx, mask, &n, zeros, 5) != 1 || n != 5)
            return HO_ERR_CRYPTO;
        return HO_OK;
    }
    /* RFC 9001 §5.4.3: mask = AES-ECB(hp_key, sample). */
    if (EVP_EncryptUpdate(h->ctx, block, &n, sample, 16) != 1 || n != 16)
        return HO_ERR_CRYPTO;
    memcpy(mask, block, 5);
    return HO_OK;
}

int crypto_hp_rekey(crypto_hp *h, const uint8_t *key)
{
    if (EVP_EncryptInit_ex(h->ctx, NULL, NULL, key, NULL) != 1)
        return HO_ERR_CRYPTO;
    return HO_OK;
}

void crypto_hp_free(crypto_hp *h)
{
    if (h == NULL)
        return;
    EVP_CIPHER_CTX_free(h->ctx);
    ho_mem_free(h);
}
