/*
 * handoff — crypto layer: the only code that calls libcrypto.
 *
 * Every function returns HO_OK or a negative HO_ERR_* (see base.h) unless
 * documented otherwise. Objects are not thread-safe but have no thread
 * affinity: one thread at a time may use each. Secrets are wiped on free.
 */
#ifndef HANDOFF_CRYPTO_H
#define HANDOFF_CRYPTO_H

#include "handoff/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- random ---------------------------------------------------------- */
HO_API int ho_random(void *out, size_t n);

/* ---- hashes, HMAC, HKDF ---------------------------------------------- */
typedef enum { HO_HASH_SHA256 = 0, HO_HASH_SHA384 = 1 } ho_hash_alg;
#define HO_HASH_MAX 48
HO_API size_t ho_hash_len(ho_hash_alg alg);

HO_API int ho_hash(ho_hash_alg alg, const void *in, size_t len, uint8_t *out);

/* Incremental hash (the TLS transcript). peek returns the digest of what was
 * fed so far and leaves the context usable. */
typedef struct ho_hash_ctx ho_hash_ctx;
HO_API ho_hash_ctx *ho_hash_ctx_new(ho_hash_alg alg);
HO_API int ho_hash_ctx_update(ho_hash_ctx *c, const void *in, size_t len);
HO_API int ho_hash_ctx_peek(ho_hash_ctx *c, uint8_t *out);
HO_API ho_hash_ctx *ho_hash_ctx_dup(const ho_hash_ctx *c);
HO_API void ho_hash_ctx_free(ho_hash_ctx *c);

HO_API int ho_hmac(ho_hash_alg alg, const void *key, size_t keylen, const void *data, size_t len, uint8_t *out);
HO_API int ho_hkdf_extract(ho_hash_alg alg, const void *salt, size_t saltlen, const void *ikm, size_t ikmlen,
                    uint8_t *prk);
HO_API int ho_hkdf_expand(ho_hash_alg alg, const uint8_t *prk, const void *info, size_t infolen, uint8_t *out,
                   size_t outlen);
/* RFC 8446 §7.1 HKDF-Expand-Label: label is given without the "tls13 " prefix. */
HO_API int ho_hkdf_expand_label(ho_hash_alg alg, const uint8_t *secret, const char *label, const void *context,
                         size_t contextlen, uint8_t *out, size_t outlen);

/* Several HKDF-Expand-Labels with an empty context from one secret:
 * outs[k] = HKDF-Expand-Label(secret, labels[k], "", lens[k]). For SHA-256
 * and lengths up to 32 the HMAC key is prepared once for all of them (the
 * QUIC "quic key", "quic iv", "quic hp" triple, RFC 9001 §5.1). */
HO_API int ho_hkdf_expand_labels(ho_hash_alg alg, const uint8_t *secret, size_t n, const char *const labels[],
                                 uint8_t *const outs[], const size_t lens[]);

/* ---- AEAD ------------------------------------------------------------ */
typedef enum { HO_AEAD_AES_128_GCM = 0, HO_AEAD_AES_256_GCM = 1, HO_AEAD_CHACHA20_POLY1305 = 2 } ho_aead_alg;
#define HO_AEAD_IV_LEN 12
#define HO_AEAD_TAG_LEN 16
#define HO_AEAD_KEY_MAX 32
HO_API size_t ho_aead_key_len(ho_aead_alg alg);

/* A key bound to its static IV, created once per key (not per record). The
 * per-record nonce is iv XOR seq (RFC 8446 §5.3, RFC 9001 §5.3). */
typedef struct ho_aead ho_aead;
HO_API ho_aead *ho_aead_new(ho_aead_alg alg, bool encrypt, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN]);
HO_API void ho_aead_free(ho_aead *a);
HO_API ho_aead_alg ho_aead_alg_of(const ho_aead *a);
/* Installs a new key and IV of the same algorithm in a, keeping its cipher
 * context (no allocation): for keys used for one packet each, e.g. QUIC
 * Initial keys checked before a connection exists. */
HO_API int ho_aead_rekey(ho_aead *a, const uint8_t *key, const uint8_t iv[HO_AEAD_IV_LEN]);
/* out receives inlen + HO_AEAD_TAG_LEN bytes; out may equal in. */
HO_API int ho_aead_seal(ho_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                 uint8_t *out);
/* inlen includes the tag; out receives inlen - tag bytes; out may equal in.
 * Returns HO_ERR_DECRYPT when the tag does not verify. */
HO_API int ho_aead_open(ho_aead *a, uint64_t seq, const void *aad, size_t aadlen, const void *in, size_t inlen,
                 uint8_t *out);

/* QUIC header protection (RFC 9001 §5.4): mask from a 16-byte sample. */
typedef struct ho_hp ho_hp;
HO_API ho_hp *ho_hp_new(ho_aead_alg alg, const uint8_t *key);
HO_API int ho_hp_mask(ho_hp *h, const uint8_t sample[16], uint8_t mask[5]);
HO_API void ho_hp_free(ho_hp *h);
/* A new key of the same algorithm in h, keeping its context. */
HO_API int ho_hp_rekey(ho_hp *h, const uint8_t *key);

/* ---- key exchange ---------------------------------------------------- */
/* Values are the TLS NamedGroup code points. */
enum { HO_GROUP_SECP256R1 = 0x0017, HO_GROUP_SECP384R1 = 0x0018, HO_GROUP_X25519 = 0x001d };
#define HO_KEX_PUB_MAX 97
#define HO_KEX_SECRET_MAX 48

typedef struct ho_kex ho_kex;
/* Generates an ephemeral key pair; NULL if the group is unsupported. */
HO_API ho_kex *ho_kex_new(uint16_t group);
HO_API uint16_t ho_kex_group(const ho_kex *k);
/* X25519: 32 bytes; P-256: 65-byte uncompressed point (RFC 8446 §4.2.8.2). */
HO_API int ho_kex_public(const ho_kex *k, uint8_t *out, size_t *outlen);
/* Returns HO_ERR_BAD_PEER_KEY for a malformed/invalid peer share or an
 * all-zero X25519 result. */
HO_API int ho_kex_derive(ho_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *secret, size_t *secretlen);
HO_API void ho_kex_free(ho_kex *k);
HO_API bool ho_kex_group_supported(uint16_t group);

/* ---- signatures, keys, certificates ---------------------------------- */
/* Values are the TLS SignatureScheme code points. */
enum {
    HO_SIG_ECDSA_SECP256R1_SHA256 = 0x0403,
    HO_SIG_RSA_PSS_RSAE_SHA256 = 0x0804,
    HO_SIG_ED25519 = 0x0807,
};

typedef struct ho_privkey ho_privkey;
HO_API ho_privkey *ho_privkey_load_file(const char *pem_path);            /* NULL on failure */
HO_API ho_privkey *ho_privkey_load_pem(const void *pem, size_t len);
HO_API ho_privkey *ho_privkey_generate_p256(void);
HO_API void ho_privkey_free(ho_privkey *k);
/* The schemes this key can sign with, in preference order; returns count. */
HO_API size_t ho_privkey_schemes(const ho_privkey *k, uint16_t *out, size_t max);
/* *siglen: capacity in, length out (512 bytes always suffice). */
HO_API int ho_privkey_sign(ho_privkey *k, uint16_t scheme, const void *msg, size_t len, uint8_t *sig, size_t *siglen);
/* PEM encoding of the key (PKCS#8), appended to out. */
HO_API int ho_privkey_to_pem(const ho_privkey *k, ho_buf *out);

/* A certificate chain, leaf first, as DER. */
typedef struct ho_cert_chain {
    size_t count;
    uint8_t **der;
    size_t *len;
} ho_cert_chain;
HO_API int ho_cert_chain_load_file(ho_cert_chain *chain, const char *pem_path);
HO_API int ho_cert_chain_load_pem(ho_cert_chain *chain, const void *pem, size_t len);
HO_API int ho_cert_chain_add_der(ho_cert_chain *chain, const uint8_t *der, size_t len);
HO_API void ho_cert_chain_free(ho_cert_chain *chain);
/* True if the leaf's public key matches the private key. */
HO_API bool ho_cert_matches_key(const uint8_t *der, size_t len, const ho_privkey *k);
HO_API int ho_cert_to_pem(const uint8_t *der, size_t len, ho_buf *out);

/* Self-signed ECDSA P-256 certificate for `cn` (also DNS SAN `cn`, plus
 * IP SANs 127.0.0.1 and ::1), valid from now-1h for `days`. */
HO_API int ho_selfsigned_generate(const char *cn, int days, ho_privkey **key, ho_cert_chain *chain);

/* Verifies `sig` over `msg` with the public key of certificate `der` using
 * TLS signature scheme `scheme` (RSA-PSS uses salt length = hash length).
 * Returns HO_ERR_BAD_SIGNATURE on mismatch, HO_ERR_CERT_BAD if the scheme
 * does not fit the key. */
HO_API int ho_cert_verify_signature(const uint8_t *der, size_t len, uint16_t scheme, const void *msg, size_t msglen,
                             const uint8_t *sig, size_t siglen);

/* Trust store for chain verification. */
typedef struct ho_trust_store ho_trust_store;
HO_API ho_trust_store *ho_trust_store_new(void);
HO_API int ho_trust_store_add_file(ho_trust_store *ts, const char *pem_path);  /* one or more CA certs */
HO_API int ho_trust_store_add_der(ho_trust_store *ts, const uint8_t *der, size_t len);
HO_API int ho_trust_store_add_system(ho_trust_store *ts);                      /* OpenSSL default paths */
HO_API void ho_trust_store_free(ho_trust_store *ts);
/* Verifies chain (leaf first) up to a trusted root at time `now_unix`
 * (0 = current time), and, when hostname is non-NULL, that the leaf matches
 * it (DNS name, or IP address literal). Returns HO_OK, HO_ERR_CERT_UNTRUSTED,
 * HO_ERR_CERT_EXPIRED, HO_ERR_CERT_HOSTNAME or HO_ERR_CERT_BAD. */
HO_API int ho_cert_chain_verify(ho_trust_store *ts, const ho_cert_chain *chain, const char *hostname, int64_t now_unix);

#ifdef __cplusplus
}
#endif
#endif
