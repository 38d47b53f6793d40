/* 1-RTT key update (RFC 9001 §6): the Key Phase bit selects the packet
 * protection key; the header protection key is never updated (§6). Each
 * generation's secret is HKDF-Expand-Label(secret, "quic ku", "", Hash.length)
 * ("quicv2 ku" in version 2, RFC 9369 §3.3.2)
 * of the previous one (ho_quic_key_update_secret). The next read key is
 * derived ahead of time (§6.3: avoids a timing side channel), the previous
 * one kept for reordered packets. */
#include <string.h>

#include "quic/conn_int.h"

static crypto_aead *aead_from_secret(uint32_t version, const ho_tls_suite *suite, const uint8_t *secret, bool encrypt)
{
    ho_quic_key_material m;
    if (ho_quic_key_material_derive(version, suite->hash, suite->aead, secret, &m) != HO_OK)
        return NULL;
    crypto_aead *a = crypto_aead_new(m.aead, encrypt, m.key, m.iv);
    ho_wipe(&m, sizeof(m));
    return a;
}

/* Derives rx_next from rx_secret. */
static int prepare_rx_next(ho_quic_conn *c)
{
    ho_quic_key_phase *kp = &c->kp;
    crypto_aead_free(kp->rx_next);
    kp->rx_next = NULL;
    if (ho_quic_key_update_secret(c->version, kp->suite->hash, kp->rx_secret, kp->rx_next_secret) != HO_OK)
        return HO_ERR_CRYPTO;
    kp->rx_next = aead_from_secret(c->version, kp->suite, kp->rx_next_secret, false);
    return kp->rx_next != NULL ? HO_OK : HO_ERR_CRYPTO;
}

int ho_quic_key_phase_init(ho_quic_conn *c, bool is_write, const ho_tls_suite *suite, const uint8_t *secret)
{
    ho_quic_key_phase *kp = &c->kp;
    size_t n = crypto_hash_len(suite->hash);
    kp->suite = suite;
    if (is_write) {
        memcpy(kp->tx_secret, secret, n);
        return HO_OK;
    }
    memcpy(kp->rx_secret, secret, n);
    return prepare_rx_next(c);
}

void ho_quic_key_phase_free(ho_quic_conn *c)
{
    crypto_aead_free(c->kp.rx_next);
    crypto_aead_free(c->kp.rx_prev);
    ho_wipe(&c->kp, sizeof(c->kp));
}

/* Our write key moves to the next generation (either we initiate, or we
 * answer the peer's update, §6.2). */
static int update_tx(ho_quic_conn *c, unsigned trigger)
{
    ho_quic_key_phase *kp = &c->kp;
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    if (ho_quic_key_update_secret(c->version, kp->suite->hash, kp->tx_secret, kp->tx_secret) != HO_OK)
        return HO_ERR_CRYPTO;
    crypto_aead *a = aead_from_secret(c->version, kp->suite, kp->tx_secret, true);
    if (a == NULL)
        return HO_ERR_CRYPTO;
    crypto_aead_free(s->tx.aead);
    s->tx.aead = a;
    kp->tx_phase = !kp->tx_phase;
    kp->tx_first_pn = s->next_pn;
    quic_ev_key(c, HO_EV_KEY_1RTT, trigger, true);
    return HO_OK;
}

int ho_quic_key_phase_unprotect(ho_quic_conn *c, uint8_t *pkt, ho_quic_header *hdr)
{
    ho_quic_key_phase *kp = &c->kp;
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    int rc = ho_quic_hp_remove(s->rx.hp, pkt, hdr);
    if (rc != HO_OK)
        return rc;
    uint64_t pn = ho_quic_pn_decode(hdr->pn, hdr->pn_len, s->largest_rx);
    if (pn > HO_QUIC_PN_MAX)
        return HO_ERR_QUIC_DISCARD;
    if (hdr->key_phase == kp->rx_phase)
        return ho_quic_payload_decrypt(s->rx.aead, pkt, hdr, pn);
    if (kp->rx_prev != NULL && pn < kp->rx_first_pn) {
        /* A packet from before the last update, reordered. */
        return ho_quic_payload_decrypt(kp->rx_prev, pkt, hdr, pn);
    }
    if (kp->rx_next == NULL)
        return HO_ERR_DECRYPT;
    rc = ho_quic_payload_decrypt(kp->rx_next, pkt, hdr, pn);
    if (rc != HO_OK)
        return rc; /* §6.3: not distinguishable from a forgery: drop */
    /* §6.4: an update before the handshake is confirmed is an error. */
    if (!c->hs_confirmed)
        return HO_ERR_QUIC(HO_QUIC_KEY_UPDATE_ERROR);
    /* §6.2: the peer updated: rotate the read keys ... */
    crypto_aead_free(kp->rx_prev);
    kp->rx_prev = s->rx.aead;
    s->rx.aead = kp->rx_next;
    kp->rx_next = NULL;
    memcpy(kp->rx_secret, kp->rx_next_secret, sizeof(kp->rx_secret));
    kp->rx_phase = !kp->rx_phase;
    kp->rx_first_pn = pn;
    kp->updates++;
    /* §6.5: keep the old read key for about three PTOs after the first
     * packet under the new one, and wait as long before we start another
     * update, so the peer still has its old key for our late packets. */
    ho_quic_time three_pto = 3 * ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
    kp->rx_prev_until = c->now + three_pto;
    kp->next_update_at = c->now + three_pto;
    bool remote = kp->tx_phase != kp->rx_phase;
    quic_ev_key(c, HO_EV_KEY_1RTT, remote ? HO_EV_KEY_REMOTE_UPDATE : HO_EV_KEY_LOCAL_UPDATE, false);
    int prc = prepare_rx_next(c);
    /* ... and answer with ours unless this was the answer to our own. */
    if (prc == HO_OK && remote)
        prc = update_tx(c, HO_EV_KEY_REMOTE_UPDATE);
    return prc == HO_OK ? HO_OK : HO_ERR_QUIC(HO_QUIC_INTERNAL_ERROR);
}

/* wait_3pto: also refuse within three PTOs of the last rotation (§6.5);
 * the §6.6 limit may not wait. */
static int key_update(ho_quic_conn *c, bool wait_3pto)
{
    ho_quic_key_phase *kp = &c->kp;
    const ho_quic_recovery_space *rs = &c->rec.spaces[HO_QUIC_PN_SPACE_APPLICATION];
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    /* §6.1: not before the handshake is confirmed, not before the peer
     * answered the previous update, and only once a packet sent with the
     * current key was acknowledged. */
    if (!c->hs_confirmed || kp->suite == NULL || kp->tx_phase != kp->rx_phase || !rs->has_largest_acked ||
        rs->largest_acked < kp->tx_first_pn || (wait_3pto && c->now < kp->next_update_at))
        return HO_ERR_WOULD_BLOCK;
    return update_tx(c, HO_EV_KEY_LOCAL_UPDATE);
}

int ho_quic_conn_key_update(ho_quic_conn *c, ho_quic_time now)
{
    quic_conn_wake(c);
    c->now = now;
    return key_update(c, true);
}

uint64_t ho_quic_conn_key_updates(const ho_quic_conn *c) { return c->kp.updates; }

/* RFC 9001 §6.6: AES-GCM may protect 2^23 packets with one key; for
 * ChaCha20-Poly1305 the limit (2^62) is beyond any packet number here. */
static uint64_t confidentiality_limit(const ho_tls_suite *suite)
{
    return suite->aead == HO_AEAD_CHACHA20_POLY1305 ? UINT64_MAX : (uint64_t)1 << 23;
}

int ho_quic_key_phase_before_send(ho_quic_conn *c)
{
    ho_quic_key_phase *kp = &c->kp;
    if (kp->suite == NULL || !c->hs_confirmed)
        return HO_OK;
    if (kp->rx_prev != NULL && c->now >= kp->rx_prev_until) {
        crypto_aead_free(kp->rx_prev); /* §6.5: old keys retained for 3 PTO at most */
        kp->rx_prev = NULL;
    }
    uint64_t sent = c->spaces[HO_QUIC_PN_SPACE_APPLICATION].next_pn - kp->tx_first_pn;
    uint64_t every = c->cfg.key_update_packets ? c->cfg.key_update_packets : (uint64_t)1 << 22;
    uint64_t limit = confidentiality_limit(kp->suite);
    if (sent < limit && (sent < every || c->now < kp->next_update_at))
        return HO_OK; /* (the 3-PTO wait of §6.5 is checked here, not in key_update) */
    /* §6.6: "Endpoints MUST initiate a key update before reaching the
     * confidentiality limit". Refused until the peer answered our last
     * update and acknowledged a packet under the current key (§6.1). */
    int rc = key_update(c, false);
    if (rc == HO_ERR_WOULD_BLOCK && sent >= limit)
        return HO_ERR_QUIC(HO_QUIC_AEAD_LIMIT_REACHED); /* §6.6: stop using the key */
    return rc == HO_ERR_WOULD_BLOCK || rc == HO_ERR_CLOSED ? HO_OK : rc;
}
