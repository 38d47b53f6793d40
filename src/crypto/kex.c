/*
 * Ephemeral (EC)DHE for the TLS key_share extension (RFC 8446 §4.2.8, §7.4):
 * X25519 (RFC 7748), secp256r1 and secp384r1 with uncompressed points; and
 * the hybrid X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem §4.1): the client's
 * share is an ML-KEM-768 encapsulation key (1184) || X25519 public (32), the
 * server's an ML-KEM ciphertext (1088) || X25519 public (32), the shared
 * secret ML-KEM's (32) || X25519's (32), ML-KEM first for this group.
 */
#include "base/mem.h"
#include "crypto/crypto_internal.h"
#include "crypto/mlkem.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

struct crypto_kex {
    uint16_t group;
    EVP_PKEY *pkey; /* X25519's key for the hybrid */
    size_t publen;
    uint8_t pub[CRYPTO_KEX_PUB_MAX];
    uint8_t *mlkem_dk; /* X25519MLKEM768 only: MLKEM768_DK_LEN bytes */
};

#define HYBRID_CLIENT_SHARE (MLKEM768_EK_LEN + 32)
#define HYBRID_SERVER_SHARE (MLKEM768_CT_LEN + 32)

/* Public share length and shared secret length per group. */
static bool group_sizes(uint16_t group, size_t *publen, size_t *secretlen)
{
    switch (group) {
    case HO_GROUP_X25519: *publen = 32; *secretlen = 32; return true;
    case HO_GROUP_SECP256R1: *publen = 65; *secretlen = 32; return true;
    case HO_GROUP_SECP384R1: *publen = 97; *secretlen = 48; return true;
    case HO_GROUP_X25519MLKEM768: *publen = HYBRID_CLIENT_SHARE; *secretlen = MLKEM_SS_LEN + 32; return true;
    }
    return false;
}

bool crypto_kex_group_supported(uint16_t group)
{
    size_t a, b;
    return group_sizes(group, &a, &b);
}

static EVP_PKEY *kex_keygen(uint16_t group)
{
    switch (group) {
    case HO_GROUP_X25519:
    case HO_GROUP_X25519MLKEM768: return EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
    case HO_GROUP_SECP256R1: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    case HO_GROUP_SECP384R1: return EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    }
    return NULL;
}

crypto_kex *crypto_kex_new(uint16_t group)
{
    size_t publen, secretlen;
    if (!group_sizes(group, &publen, &secretlen))
        return NULL;
    crypto_kex *k = ho_mem_calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->group = group;
    k->pkey = kex_keygen(group);
    if (k->pkey == NULL)
        goto fail;
    if (group == HO_GROUP_X25519MLKEM768) {
        size_t n = 32;
        if ((k->mlkem_dk = ho_mem_alloc(MLKEM768_DK_LEN)) == NULL ||
            crypto_mlkem768_keygen(k->pub, k->mlkem_dk) != HO_OK ||
            EVP_PKEY_get_raw_public_key(k->pkey, k->pub + MLKEM768_EK_LEN, &n) != 1 || n != 32)
            goto fail;
    } else if (group == HO_GROUP_X25519) {
        size_t n = sizeof(k->pub);
        if (EVP_PKEY_get_raw_public_key(k->pkey, k->pub, &n) != 1 || n != publen)
            goto fail;
    } else {
        /* EC keys default to the uncompressed form RFC 8446 §4.2.8.2 requires. */
        size_t n = 0;
        if (EVP_PKEY_get_octet_string_param(k->pkey, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, k->pub, sizeof(k->pub),
                                            &n) != 1 ||
            n != publen || k->pub[0] != 0x04)
            goto fail;
    }
    k->publen = publen;
    return k;
fail:
    ERR_clear_error();
    crypto_kex_free(k);
    return NULL;
}

uint16_t crypto_kex_group(const crypto_kex *k) { return k->group; }

int crypto_kex_public(const crypto_kex *k, uint8_t *out, size_t *outlen)
{
    memcpy(out, k->pub, k->publen);
    *outlen = k->publen;
    return HO_OK;
}

/* Builds the peer's public key; NULL if the share is not a valid point. */
static EVP_PKEY *kex_peer_key(const crypto_kex *k, const uint8_t *peer, size_t peerlen)
{
    if (k->group == HO_GROUP_X25519MLKEM768)
        return peerlen == 32 ? EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, peerlen) : NULL;
    if (peerlen != k->publen)
        return NULL;
    if (k->group == HO_GROUP_X25519)
        return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, peer, peerlen);
    /* RFC 8446 §4.2.8.2: only the uncompressed form (legacy_form = 4). */
    if (peer[0] != 0x04)
        return NULL;
    EVP_PKEY *p = EVP_PKEY_new();
    /* Decoding the point checks that it lies on the curve (RFC 8446 §4.2.8.2
     * "MUST validate"); P-256 and P-384 have cofactor 1, so no subgroup check
     * is needed beyond that. */
    if (p == NULL || EVP_PKEY_copy_parameters(p, k->pkey) != 1 ||
        EVP_PKEY_set1_encoded_public_key(p, peer, peerlen) != 1) {
        EVP_PKEY_free(p);
        return NULL;
    }
    return p;
}

/* A libcrypto failure while using the peer's share is the peer's fault
 * (fallback), unless libcrypto ran out of memory. Clears the error queue. */
static int kex_failure(int fallback)
{
    int rc = fallback;
    for (unsigned long e; (e = ERR_get_error()) != 0;)
        if (ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE)
            rc = HO_ERR_NOMEM;
    return rc;
}

/* The (EC)DH part: k's key with the peer's public value. */
static int kex_dh(crypto_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *secret, size_t *secretlen)
{
    size_t publen = 0, want = 0;
    group_sizes(k->group, &publen, &want);
    if (k->group == HO_GROUP_X25519MLKEM768)
        want = 32;
    EVP_PKEY *peerkey = kex_peer_key(k, peer, peerlen);
    if (peerkey == NULL)
        return kex_failure(HO_ERR_BAD_PEER_KEY);
    int rc = HO_ERR_BAD_PEER_KEY;
    size_t n = want;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (ctx == NULL || EVP_PKEY_derive_init(ctx) != 1) {
        rc = HO_ERR_CRYPTO;
        goto out;
    }
    if (EVP_PKEY_derive_set_peer_ex(ctx, peerkey, 0) != 1 || EVP_PKEY_derive(ctx, secret, &n) != 1 || n != want) {
        rc = kex_failure(HO_ERR_BAD_PEER_KEY);
        goto out;
    }
    if (k->group == HO_GROUP_X25519 || k->group == HO_GROUP_X25519MLKEM768) {
        /* RFC 8446 §7.4.2 / RFC 7748 §6.1: abort on an all-zero result. */
        uint8_t acc = 0;
        for (size_t i = 0; i < n; i++)
            acc |= secret[i];
        if (acc == 0)
            goto out;
    }
    *secretlen = n;
    rc = HO_OK;
out:
    if (rc != HO_OK) {
        ho_wipe(secret, want);
        ERR_clear_error();
    }
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(peerkey);
    return rc;
}

int crypto_kex_derive(crypto_kex *k, const uint8_t *peer, size_t peerlen, uint8_t *secret, size_t *secretlen)
{
    if (k->group != HO_GROUP_X25519MLKEM768)
        return kex_dh(k, peer, peerlen, secret, secretlen);
    /* draft-ietf-tls-ecdhe-mlkem §4.1: the server's share must be exactly
     * ciphertext || X25519 public, else illegal_parameter. */
    if (peerlen != HYBRID_SERVER_SHARE)
        return HO_ERR_BAD_PEER_KEY;
    size_t n = 32;
    int rc = crypto_mlkem768_decaps(k->mlkem_dk, peer, MLKEM768_CT_LEN, secret);
    if (rc == HO_OK)
        rc = kex_dh(k, peer + MLKEM768_CT_LEN, 32, secret + MLKEM_SS_LEN, &n);
    if (rc != HO_OK) {
        ho_wipe(secret, MLKEM_SS_LEN + 32);
        return rc;
    }
    *secretlen = MLKEM_SS_LEN + 32;
    return HO_OK;
}

int crypto_kex_respond(uint16_t group, const uint8_t *peer, size_t peerlen, uint8_t *pub, size_t *publen,
                       uint8_t *secret, size_t *secretlen)
{
    if (group == HO_GROUP_X25519MLKEM768 && peerlen != HYBRID_CLIENT_SHARE)
        return HO_ERR_BAD_PEER_KEY; /* before generating anything */
    /* The hybrid's server side needs only an X25519 key pair. */
    crypto_kex *k = crypto_kex_new(group == HO_GROUP_X25519MLKEM768 ? HO_GROUP_X25519 : group);
    if (k == NULL)
        return HO_ERR_CRYPTO;
    int rc;
    if (group != HO_GROUP_X25519MLKEM768) {
        rc = crypto_kex_public(k, pub, publen);
        if (rc == HO_OK)
            rc = kex_dh(k, peer, peerlen, secret, secretlen);
    } else {
        /* ML-KEM encapsulation to the client's key (its §7.2 modulus check
         * failing is the peer's fault: illegal_parameter), then X25519. */
        size_t n = 32;
        rc = crypto_mlkem768_encaps(peer, MLKEM768_EK_LEN, pub, secret);
        if (rc == HO_OK)
            rc = kex_dh(k, peer + MLKEM768_EK_LEN, 32, secret + MLKEM_SS_LEN, &n);
        if (rc == HO_OK) {
            memcpy(pub + MLKEM768_CT_LEN, k->pub, 32);
            *publen = HYBRID_SERVER_SHARE;
            *secretlen = MLKEM_SS_LEN + 32;
        } else {
            ho_wipe(secret, MLKEM_SS_LEN + 32);
        }
    }
    crypto_kex_free(k);
    return rc;
}

void crypto_kex_free(crypto_kex *k)
{
    if (k == NULL)
        return;
    EVP_PKEY_free(k->pkey); /* libcrypto cleanses private key material */
    if (k->mlkem_dk != NULL) {
        ho_wipe(k->mlkem_dk, MLKEM768_DK_LEN);
        ho_mem_free(k->mlkem_dk);
    }
    ho_mem_free(k);
}
