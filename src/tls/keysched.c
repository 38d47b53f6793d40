/* The TLS 1.3 key schedule (RFC 8446 §7.1): one struct walks
 * early secret → handshake secret → master secret and keeps the traffic,
 * exporter and resumption secrets derived on the way. */
#include "tls_int.h"

#include <string.h>

/* Derive-Secret(Secret, Label, Messages) with the transcript hash `th`
 * already computed; th == NULL means Hash("") (the empty transcript). */
static int derive_secret(struct keysched *ks, const uint8_t *secret, const char *label, const uint8_t *th,
                         uint8_t *out)
{
    uint8_t empty[CRYPTO_HASH_MAX];
    if (th == NULL) {
        int rc = crypto_hash(ks->hash, "", 0, empty);
        if (rc != HO_OK)
            return rc;
        th = empty;
    }
    return crypto_hkdf_expand_label(ks->hash, secret, label, th, ks->hash_len, out, ks->hash_len);
}

int tls_ks_init(struct keysched *ks, ho_hash_alg hash, const uint8_t *psk, size_t psk_len)
{
    uint8_t zeros[CRYPTO_HASH_MAX] = {0};
    memset(ks, 0, sizeof(*ks));
    ks->hash = hash;
    ks->hash_len = crypto_hash_len(hash);
    /* Early Secret = HKDF-Extract(0, PSK), PSK = 0^HashLen without one. */
    if (psk == NULL) {
        psk = zeros;
        psk_len = ks->hash_len;
    }
    return crypto_hkdf_extract(hash, zeros, ks->hash_len, psk, psk_len, ks->secret);
}

int tls_ks_binder_key(struct keysched *ks, uint8_t *out)
{
    /* Only resumption PSKs exist here: "res binder" (§7.1). */
    return derive_secret(ks, ks->secret, "res binder", NULL, out);
}

/* §7.1: client_early_traffic_secret = Derive-Secret(Early Secret,
 * "c e traffic", ClientHello); call while `secret` is the early secret. */
int tls_ks_early(struct keysched *ks, const uint8_t *th)
{
    return derive_secret(ks, ks->secret, "c e traffic", th, ks->client_early);
}

/* Moves `secret` one stage down: Extract(Derive-Secret(., "derived", ""), ikm). */
static int next_stage(struct keysched *ks, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t derived[CRYPTO_HASH_MAX], zeros[CRYPTO_HASH_MAX] = {0};
    int rc = derive_secret(ks, ks->secret, "derived", NULL, derived);
    if (rc == HO_OK)
        rc = crypto_hkdf_extract(ks->hash, derived, ks->hash_len, ikm ? ikm : zeros, ikm ? ikm_len : ks->hash_len,
                             ks->secret);
    ho_wipe(derived, sizeof(derived));
    return rc;
}

int tls_ks_handshake(struct keysched *ks, const uint8_t *dhe, size_t dhe_len, const uint8_t *th)
{
    int rc = next_stage(ks, dhe, dhe_len);
    if (rc == HO_OK)
        rc = derive_secret(ks, ks->secret, "c hs traffic", th, ks->client_hs);
    if (rc == HO_OK)
        rc = derive_secret(ks, ks->secret, "s hs traffic", th, ks->server_hs);
    return rc;
}

int tls_ks_master(struct keysched *ks, const uint8_t *th)
{
    int rc = next_stage(ks, NULL, 0);
    if (rc == HO_OK)
        rc = derive_secret(ks, ks->secret, "c ap traffic", th, ks->client_ap);
    if (rc == HO_OK)
        rc = derive_secret(ks, ks->secret, "s ap traffic", th, ks->server_ap);
    if (rc == HO_OK)
        rc = derive_secret(ks, ks->secret, "exp master", th, ks->exporter);
    return rc;
}

int tls_ks_resumption(struct keysched *ks, const uint8_t *th)
{
    return derive_secret(ks, ks->secret, "res master", th, ks->resumption);
}

/* §4.4.4: verify_data = HMAC(finished_key, Transcript-Hash). */
int tls_ks_finished(struct keysched *ks, const uint8_t *base_secret, const uint8_t *th, uint8_t *out)
{
    uint8_t key[CRYPTO_HASH_MAX];
    int rc = crypto_hkdf_expand_label(ks->hash, base_secret, "finished", NULL, 0, key, ks->hash_len);
    if (rc == HO_OK)
        rc = crypto_hmac(ks->hash, key, ks->hash_len, th, ks->hash_len, out);
    ho_wipe(key, sizeof(key));
    return rc;
}

/* §7.2: application_traffic_secret_N+1. */
int tls_ks_next_traffic(struct keysched *ks, uint8_t *secret)
{
    uint8_t next[CRYPTO_HASH_MAX];
    int rc = crypto_hkdf_expand_label(ks->hash, secret, "traffic upd", NULL, 0, next, ks->hash_len);
    if (rc == HO_OK)
        memcpy(secret, next, ks->hash_len);
    ho_wipe(next, sizeof(next));
    return rc;
}

/* §4.6.1: PSK = HKDF-Expand-Label(resumption_master_secret, "resumption", nonce). */
int tls_ks_ticket_psk(struct keysched *ks, const uint8_t *nonce, size_t nonce_len, uint8_t *psk)
{
    return crypto_hkdf_expand_label(ks->hash, ks->resumption, "resumption", nonce, nonce_len, psk, ks->hash_len);
}

/* §7.5: TLS-Exporter(label, context, length). */
int tls_ks_export(struct keysched *ks, const char *label, const void *ctx, size_t ctx_len, uint8_t *out, size_t len)
{
    uint8_t secret[CRYPTO_HASH_MAX], ctx_hash[CRYPTO_HASH_MAX];
    int rc = derive_secret(ks, ks->exporter, label, NULL, secret);
    if (rc == HO_OK)
        rc = crypto_hash(ks->hash, ctx ? ctx : "", ctx_len, ctx_hash);
    if (rc == HO_OK)
        rc = crypto_hkdf_expand_label(ks->hash, secret, "exporter", ctx_hash, ks->hash_len, out, len);
    ho_wipe(secret, sizeof(secret));
    return rc;
}

void tls_ks_wipe(struct keysched *ks) { ho_wipe(ks, sizeof(*ks)); }
