/* Randomness and the process-wide algorithm table. */
#include "crypto/crypto_internal.h"

#include <limits.h>
#include <pthread.h>

#include <openssl/rand.h>

static ho_crypto_algs g_algs;
static bool g_algs_ok;
static pthread_once_t g_algs_once = PTHREAD_ONCE_INIT;

static void algs_fetch(void)
{
    g_algs.md[HO_HASH_SHA256] = EVP_MD_fetch(NULL, "SHA2-256", NULL);
    g_algs.md[HO_HASH_SHA384] = EVP_MD_fetch(NULL, "SHA2-384", NULL);
    g_algs.sha512 = EVP_MD_fetch(NULL, "SHA2-512", NULL);
    g_algs.sha3_256 = EVP_MD_fetch(NULL, "SHA3-256", NULL);
    g_algs.sha3_512 = EVP_MD_fetch(NULL, "SHA3-512", NULL);
    g_algs.shake128 = EVP_MD_fetch(NULL, "SHAKE128", NULL);
    g_algs.shake256 = EVP_MD_fetch(NULL, "SHAKE256", NULL);
    g_algs.aead[HO_AEAD_AES_128_GCM] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
    g_algs.aead[HO_AEAD_AES_256_GCM] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    g_algs.aead[HO_AEAD_CHACHA20_POLY1305] = EVP_CIPHER_fetch(NULL, "ChaCha20-Poly1305", NULL);
    g_algs.aes128_ecb = EVP_CIPHER_fetch(NULL, "AES-128-ECB", NULL);
    g_algs.aes256_ecb = EVP_CIPHER_fetch(NULL, "AES-256-ECB", NULL);
    g_algs.chacha20 = EVP_CIPHER_fetch(NULL, "ChaCha20", NULL);
    g_algs_ok = g_algs.md[0] && g_algs.md[1] && g_algs.sha512 && g_algs.aead[0] && g_algs.aead[1] &&
                g_algs.aead[2] && g_algs.aes128_ecb && g_algs.aes256_ecb && g_algs.chacha20 &&
                g_algs.sha3_256 && g_algs.sha3_512 && g_algs.shake128 && g_algs.shake256;
}

const ho_crypto_algs *ho_crypto_algs_get(void)
{
    pthread_once(&g_algs_once, algs_fetch);
    return g_algs_ok ? &g_algs : NULL;
}

const EVP_MD *ho_crypto_md(ho_hash_alg alg)
{
    const ho_crypto_algs *algs = ho_crypto_algs_get();
    if (algs == NULL || (alg != HO_HASH_SHA256 && alg != HO_HASH_SHA384))
        return NULL;
    return algs->md[alg];
}

int ho_random(void *out, size_t n)
{
    uint8_t *p = out;
    while (n > 0) {
        int chunk = n > INT_MAX ? INT_MAX : (int)n;
        if (RAND_bytes(p, chunk) != 1)
            return HO_ERR_CRYPTO;
        p += chunk;
        n -= (size_t)chunk;
    }
    return HO_OK;
}
