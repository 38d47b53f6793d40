/*
 * ML-KEM-768 (FIPS 203), the key-encapsulation half of the TLS hybrid group
 * X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem). Internal to src/crypto/ and
 * its tests; TLS reaches it through crypto_kex (prim.h).
 *
 * SHA3-256 (H), SHA3-512 (G), SHAKE128 (XOF) and SHAKE256 (J, PRF) come from
 * libcrypto; the lattice arithmetic is here and constant time: no branch or
 * table index depends on a secret (reductions and divisions by q are
 * multiplications, the implicit-rejection choice is a mask).
 *
 * Functions return HO_OK or a negative HO_ERR_*.
 */
#ifndef HO_CRYPTO_MLKEM_H
#define HO_CRYPTO_MLKEM_H

#include <stddef.h>
#include <stdint.h>

#define MLKEM768_EK_LEN 1184 /* 384k + 32 */
#define MLKEM768_DK_LEN 2400 /* 768k + 96 */
#define MLKEM768_CT_LEN 1088 /* 32 (du k + dv) */
#define MLKEM_SS_LEN 32
#define MLKEM_SEED_LEN 32

/* ML-KEM.KeyGen_internal (FIPS 203 Algorithm 16) from the seeds d and z. */
int crypto_mlkem768_keygen_internal(const uint8_t d[MLKEM_SEED_LEN], const uint8_t z[MLKEM_SEED_LEN],
                                    uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN]);
/* The same with FIPS 203 ipd's (rho, sigma) = G(d) (no k byte), the only
 * difference from FIPS 203 in ML-KEM-768's outputs: for tests against the
 * accumulated vectors published for the draft (C2SP CCTV). Not for use. */
int crypto_mlkem768_keygen_ipd(const uint8_t d[MLKEM_SEED_LEN], const uint8_t z[MLKEM_SEED_LEN],
                               uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN]);
/* ML-KEM.KeyGen (Algorithm 19): d and z from the CSPRNG. */
int crypto_mlkem768_keygen(uint8_t ek[MLKEM768_EK_LEN], uint8_t dk[MLKEM768_DK_LEN]);

/* ML-KEM.Encaps_internal (Algorithm 17) with the message m. Checks the
 * encapsulation key first (FIPS 203 §7.2: length and modulus check) and
 * returns HO_ERR_BAD_PEER_KEY if it fails. */
int crypto_mlkem768_encaps_internal(const uint8_t *ek, size_t eklen, const uint8_t m[MLKEM_SEED_LEN],
                                    uint8_t ct[MLKEM768_CT_LEN], uint8_t ss[MLKEM_SS_LEN]);
/* ML-KEM.Encaps (Algorithm 20): m from the CSPRNG. */
int crypto_mlkem768_encaps(const uint8_t *ek, size_t eklen, uint8_t ct[MLKEM768_CT_LEN], uint8_t ss[MLKEM_SS_LEN]);

/* ML-KEM.Decaps (Algorithm 21, with the input checks of §7.3): a ciphertext
 * of the wrong length is HO_ERR_BAD_PEER_KEY; a decapsulation key whose
 * embedded hash does not match is HO_ERR_INVALID_ARG. A well-sized but
 * altered ciphertext is not an error: it yields the implicit-rejection key
 * J(z || c), indistinguishable from a real one. */
int crypto_mlkem768_decaps(const uint8_t dk[MLKEM768_DK_LEN], const uint8_t *ct, size_t ctlen,
                           uint8_t ss[MLKEM_SS_LEN]);

#endif
