/*
 * handoff — crypto layer, what users need: random bytes, algorithm and
 * group identifiers, private keys, certificates, a trust store and
 * self-signed certificates. The engine's primitives (hashes, HMAC, HKDF,
 * AEAD, header protection, key exchange) are internal: src/crypto/prim.h.
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
/* Cryptographically secure random bytes (libcrypto's DRBG). Public because
 * applications need secrets of their own: a QUIC server's static key for
 * Retry tokens and stateless resets (ho_quic_endpoint), ticket keys. */
HO_API int ho_random(void *out, size_t n);

/* ---- algorithm identifiers ------------------------------------------- */
/* The hash and AEAD of a cipher suite (ho_tls_suite, handoff/tls.h). A
 * traffic secret (ho_tls_secret_fn) is 32 bytes with HO_HASH_SHA256 and 48
 * with HO_HASH_SHA384. The primitives themselves are internal to the
 * library (src/crypto/prim.h). */
typedef enum { HO_HASH_SHA256 = 0, HO_HASH_SHA384 = 1 } ho_hash_alg;
typedef enum { HO_AEAD_AES_128_GCM = 0, HO_AEAD_AES_256_GCM = 1, HO_AEAD_CHACHA20_POLY1305 = 2 } ho_aead_alg;
/* Sizes of the record keys handed to the kernel (ho_tls_traffic_keys). */
#define HO_AEAD_IV_LEN 12
#define HO_AEAD_KEY_MAX 32

/* Key exchange groups: the TLS NamedGroup code points
 * (ho_tls_config_set_groups). */
enum { HO_GROUP_SECP256R1 = 0x0017, HO_GROUP_SECP384R1 = 0x0018, HO_GROUP_X25519 = 0x001d,
       /* ML-KEM-768 + X25519 hybrid (draft-ietf-tls-ecdhe-mlkem) */
       HO_GROUP_X25519MLKEM768 = 0x11ec };

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
/* The schemes this key can sign with, in preference order; returns count
 * (an RSA key: rsa_pss_rsae_sha256, _sha384, _sha512; other keys: one). */
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

/* The subject of certificate `der` as one line in RFC 2253 form (e.g.
 * "CN=alice,O=Example"), NUL-terminated in buf (cut at n-1 bytes).
 * HO_ERR_CERT_BAD if the certificate does not parse. */
HO_API int ho_cert_subject(const uint8_t *der, size_t len, char *buf, size_t n);

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
