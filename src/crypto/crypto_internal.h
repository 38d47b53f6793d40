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
#include <openssl/x509.h>

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

/* ---- certificates (x509.c, sign.c, certcache.c) ---- */
/* Parses one DER certificate, trailing bytes refused; NULL if it does not
 * parse (the error queue cleared). */
X509 *crypto_x509_parse(const uint8_t *der, size_t len);
/* Fills x's lazily computed extension data now, before x is shared
 * between threads: X509_verify_cert would otherwise write it on first use
 * while another thread's verification reads it (ThreadSanitizer saw this
 * with the certificate cache, OpenSSL 3.0.19). */
void crypto_x509_prepare_shared(X509 *x);
/* The leaf's subject, RFC 2253, truncated to n - 1 bytes. */
int crypto_x509_subject_str(X509 *x, char *buf, size_t n);
/* ho_cert_chain_verify with the leaf already parsed (chain->der[0] is not
 * read) and, if untrusted is not NULL, the rest of the chain too (borrowed;
 * else chain->der[1..] are parsed). On success, if not_before is not NULL, the period in which every
 * certificate of the chain verification built (trust anchor included) is
 * valid, [*not_before, *not_after) in Unix seconds; an empty period if a
 * time does not convert. */
int crypto_chain_verify_x509(ho_trust_store *ts, X509 *leaf, STACK_OF(X509) *untrusted, const ho_cert_chain *chain,
                             const char *hostname, int64_t now_unix, int64_t *not_before, int64_t *not_after);
/* Changes whenever certificates are added to the store; unique across
 * stores. */
uint64_t crypto_trust_store_gen(const ho_trust_store *ts);
/* ho_cert_verify_signature with the public key at hand. */
int crypto_pkey_verify_signature(EVP_PKEY *pkey, uint16_t scheme, const void *msg, size_t msglen, const uint8_t *sig,
                                 size_t siglen);

/* Appends the contents of a memory BIO to out, then frees the BIO. */
int ho_crypto_bio_to_buf(BIO *bio, ho_buf *out);

#endif
