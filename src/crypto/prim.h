/*
 * handoff — the engine's cryptographic primitives: hashes, HMAC, HKDF,
 * AEAD, QUIC header protection and key exchange. Internal to the library
 * (no HO_API: not exported from libhandoff.so); src/tls and src/quic use
 * them, and tests, fuzz targets and benchmarks, which link the static
 * library. What library users need is in handoff/crypto.h.
 *
 * Every function returns HO_OK or a negative HO_ERR_* unless documented
 * otherwise. Objects are not thread-safe but have no thread affinity: one
 * thread at a time may use each. Secrets are wiped on free.
 */
#ifndef HO_CRYPTO_PRIM_H
#define HO_CRYPTO_PRIM_H

#include "handoff/crypto.h"

/* ---- hashes, HMAC, HKDF ---------------------------------------------- */
#define CRYPTO_HASH_MAX 48
size_t crypto_hash_len(ho_hash_alg alg);

int crypto_hash(ho_hash_alg alg, const void *in, size_t len, uint8_t *out);

/* Incremental hash (the TLS transcript). peek returns the digest of what was
 * fed so far and leaves the context usable. */
typedef struct crypto_hash_ctx crypto_hash_ctx;
crypto_hash_ctx *crypto_hash_ctx_new(ho_hash_alg alg);
int crypto_hash_ctx_update(crypto_hash_ctx *c, const void *in, size_t len);
int crypto_hash_ctx_peek(crypto_hash_ctx *c, uint8_t *out);
crypto_hash_ctx *crypto_hash_ctx_dup(const crypto_hash_ctx *c);
void crypto_hash_ctx_free(crypto_hash_ctx *c);

int crypto_hmac(ho_hash_alg alg, const void *key, size_t keylen, const void *data, size_t len, uint8_t *out);
int crypto_hkdf_extract(ho_hash_alg alg, const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                        uint8_t *prk);
int crypto_hkdf_expand(ho_hash_alg alg, const uint8_t *prk, const void *info, size_t infolen, uint8_t *out,
                       size_t outlen);
/* RFC 8446 §7.1 HKDF-Expand-Label: label is given without the "tls13 " prefix. */
int crypto_hkdf_expand_label(ho_hash_alg alg, const uint8_t *secret, const char *label, const void *context,
                             size_t contextlen, uint8_t *out, size_t outlen);
/* Several HKDF-Expand-Labels with an empty context from one secret:
 * outs[k] = HKDF-Expand-Label(secret, labels[k], "", lens[k]). For SHA-256
 * and lengths up to 32 the HMAC key is prepared once for all of them (the
 * QUIC "quic key", "quic iv", "quic hp" triple, RFC 9001 §5.1). */
int crypto_hkdf_expand_labels(ho_hash_alg alg, const uint8_t *secret, size_t n, const char *const labels[],
                              uint8_t *const outs[], const size_t lens[]);

/* ---- AEAD ------------------------------------------------------------ */
/* HO_AEAD_IV_LEN and HO_AEAD_KEY_MAX are public (handoff/crypto.h). */
#define CRYPTO_AEAD_TAG_LEN 16
size_t crypto_aead_key_len(ho_aead_alg alg);

/* A key bound to its static IV, created once per key (not per record). The
 * per-record nonce is iv XOR seq (RFC 8446 §5.3, RFC 9001 §5.3). */
typedef struct crypto_aead crypto_aead;
crypto_aead *crypto_aead_new(ho_aead_alg alg, bool encrypt, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN]);
void crypto_aead_free(crypto_aead *a);
/* Installs a new key and IV of the same algorithm in a, keeping its cipher
 * context (no allocation): for keys used for one packet each, e.g. QUIC
 * Initial keys checked before a connection exists. */
int crypto_aead_rekey(crypto_aead *a, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN]);
ho_aead_alg crypto_aead_alg_of(const crypto_aead *a);
/* out receives inlen + CRYPTO_AEAD_TAG_LEN bytes; out may equal in. */
int crypto_aead_seal(crypto_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                     uint8_t *out);
/* inlen includes the tag; out receives inlen - tag bytes; out may equal in.
 * Returns HO_ERR_DECRYPT when the tag does not verify. */
int crypto_aead_open(crypto_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                     uint8_t *out);

/* QUIC header protection (RFC 9001 §5.4): mask from a 16-byte sample. */
typedef struct crypto_hp crypto_hp;
crypto_hp *crypto_hp_new(ho_aead_alg alg, const uint8_t *key);
int crypto_hp_mask(crypto_hp *h, const uint8_t sample[16], uint8_t mask[5]);
void crypto_hp_free(crypto_hp *h);
/* A new key of the same algorithm in h, keeping its context. */
int crypto_hp_rekey(crypto_hp *h, const uint8_t *key);

/* ---- key exchange ---------------------------------------------------- */
/* Groups are the TLS NamedGroup code points (HO_GROUP_*, handoff/crypto.h). */
/* X25519MLKEM768: client share 1184 + 32, server share 1088 + 32. */
#define CRYPTO_KEX_PUB_MAX 1216
#define CRYPTO_KEX_SECRET_MAX 64

typedef struct crypto_kex crypto_kex;
/* Generates an ephemeral key pair; NULL if the group is unsupported. */
crypto_kex *crypto_kex_new(uint16_t group);
uint16_t crypto_kex_group(const crypto_kex *k);
/* X25519: 32 bytes; P-256: 65-byte uncompressed point (RFC 8446 §4.2.8.2). */
int crypto_kex_public(const crypto_kex *k, uint8_t *out, size_t *outlen);
/* Returns HO_ERR_BAD_PEER_KEY for a malformed/invalid peer share or an
 * all-zero X25519 result. */
int crypto_kex_derive(crypto_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *secret, size_t *secretlen);
void crypto_kex_free(crypto_kex *k);
/* The server's side in one step: from the client's share, our share (pub,
 * up to CRYPTO_KEX_PUB_MAX) and the shared secret. For the (EC)DHE groups a
 * fresh key pair and derive; for X25519MLKEM768 an ML-KEM encapsulation to
 * the client's key plus X25519. HO_ERR_BAD_PEER_KEY for a malformed share. */
int crypto_kex_respond(uint16_t group, const uint8_t *peer, size_t peerlen, uint8_t *pub, size_t *publen,
                       uint8_t *secret, size_t *secretlen);
bool crypto_kex_group_supported(uint16_t group);

/* ---- certificates ---------------------------------------------------- */
/* Appends the DER of the subject Name of certificate `der` (a
 * DistinguishedName of RFC 8446 §4.2.4) to out. HO_ERR_CERT_BAD if the
 * certificate does not parse. */
int crypto_cert_subject_der(const uint8_t *der, size_t len, ho_buf *out);

/* A parsed peer certificate (reference counted) and a per-configuration
 * cache of parsed certificates and verified chains (certcache.c).
 *
 * What the cache trusts: a chain whose SHA-256 (over every certificate, in
 * order) it has seen verified, against the same trust store generation and
 * for the same host name, is verified again only for its validity period:
 * the intersection of the periods of the chain that verification built.
 * Anything else (another chain, host or store, a time outside the period)
 * is verified in full. Bounded to max_entries certificates, least recently
 * used replaced; thread safe. */
typedef struct crypto_cert crypto_cert;
typedef struct crypto_cert_cache crypto_cert_cache;
#define CRYPTO_CERT_CACHE_DEFAULT 64
crypto_cert_cache *crypto_cert_cache_new(size_t max_entries);
void crypto_cert_cache_free(crypto_cert_cache *c);
/* The parsed certificate der (from the cache when there, c may be NULL):
 * a new reference in *out. HO_ERR_CERT_BAD if it does not parse,
 * HO_ERR_NOMEM. */
int crypto_cert_get(crypto_cert_cache *c, const uint8_t *der, size_t len, crypto_cert **out);
void crypto_cert_free(crypto_cert *x);
/* CertificateVerify: the signature by x's public key (ho_cert_verify_signature). */
int crypto_cert_verify_signature(crypto_cert *x, uint16_t scheme, const void *msg, size_t msglen, const uint8_t *sig,
                                 size_t siglen);
int crypto_cert_subject(crypto_cert *x, char *buf, size_t n);
/* ho_cert_chain_verify with leaf = the parsed chain->der[0]; c may be NULL.
 * now_unix 0 is the current time. */
int crypto_cert_chain_verify(crypto_cert_cache *c, ho_trust_store *ts, const ho_cert_chain *chain, crypto_cert *leaf,
                             const char *hostname, int64_t now_unix);
/* For tests: certificates parsed, chains whose verification was skipped. */
typedef struct crypto_cert_cache_stats {
    uint64_t parse_hits, parse_misses, verify_hits, verify_misses;
    size_t entries;
} crypto_cert_cache_stats;
void crypto_cert_cache_get_stats(crypto_cert_cache *c, crypto_cert_cache_stats *st);

#endif
