/*
 * handoff — crypto layer internals shared by the src/crypto/ files.
 *
 * libcrypto algorithm objects are fetched once per process: in OpenSSL 3.0 an
 * implicit fetch (EVP_sha256(), EVP_get_digestbyname) costs a locked method
 * store lookup on every init, which shows up in handshake profiles.
 */
#ifndef HO_CRYPTO_INTERNAL_H
#define HO_CRYPTO_INTERNAL_H

#include "crypto/prim.h"

#include <openssl/evp.h>

typedef struct ho_crypto_algs {
    EVP_MD *md[2];         /* indexed by ho_hash_alg */
    EVP_MD *sha512;        /* signature verification only */
    EVP_MD *sha3_256, *sha3_512, *shake128, *shake256; /* ML-KEM (mlkem.c) */
    EVP_CIPHER *aead[3];   /* indexed by ho_aead_alg */
    EVP_CIPHER *aes128_ecb, *aes256_ecb, *chacha20; /* header protection */
} ho_crypto_algs;

/* The process-wide algorithm table; NULL if libcrypto lacks an algorithm. */
const ho_crypto_algs *ho_crypto_algs_get(void);

/* The cached EVP_MD for a hash, or NULL for an unknown alg. */
const EVP_MD *ho_crypto_md(ho_hash_alg alg);

/* Wraps a private key libcrypto produced (takes ownership; frees it on
 * failure). */
ho_privkey *ho_privkey_from_pkey(EVP_PKEY *pkey);
/* The key inside a ho_privkey (borrowed). */
EVP_PKEY *ho_privkey_pkey(const ho_privkey *k);

/* Appends the contents of a memory BIO to out, then frees the BIO. */
int ho_crypto_bio_to_buf(BIO *bio, ho_buf *out);

#endif
