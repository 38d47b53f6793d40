/* QUIC versions 1 and 2 on one connection: the version_information
 * transport parameter (RFC 9368 §3), its validation (RFC 9368 §4), and
 * compatible version negotiation between versions 1 and 2 (RFC 9368 §2.3,
 * RFC 9369 §4).
 *
 * The server answers in the client's original version unless it was given
 * a preference list (ho_quic_config.versions): then it picks the first of
 * its versions that the client listed as compatible, sends everything from
 * then on in it (RFC 9369 §4.1: all CRYPTO frames in the negotiated
 * version) and keeps the original version's Initial read keys for the
 * client's Initials sent before it noticed. The client notices the switch
 * from the Version field of the server's first long header (RFC 9369
 * §4.1) and derives Initial keys of the new version. */
#include <string.h>

#include "quic/conn_int.h"

#define VNE HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR)

size_t ho_quic_version_list(const ho_quic_conn *c, uint32_t out[HO_QUIC_CONFIG_VERSIONS])
{
    size_t n = 0;
    for (size_t i = 0; i < HO_QUIC_CONFIG_VERSIONS; i++) {
        uint32_t v = c->cfg.versions[i];
        if (v == 0)
            break;
        if (ho_quic_version_supported(v))
            out[n++] = v;
    }
    if (n == 0) {
        if (c->is_server) {
            /* Default server: both versions, no preference (the client's). */
            out[n++] = HO_QUIC_VERSION_1;
            out[n++] = HO_QUIC_VERSION_2;
        } else {
            /* Default client: the version it starts with, then the other
             * one, offered for compatible negotiation (RFC 9369 §4). */
            uint32_t first = ho_quic_version_supported(c->original_version) ? c->original_version
                                                                           : HO_QUIC_VERSION_1;
            out[n++] = first;
            out[n++] = first == HO_QUIC_VERSION_1 ? HO_QUIC_VERSION_2 : HO_QUIC_VERSION_1;
        }
    }
    return n;
}

static bool listed(const uint32_t *list, size_t n, uint32_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

bool ho_quic_version_accepts(const ho_quic_conn *c, uint32_t v)
{
    uint32_t list[HO_QUIC_CONFIG_VERSIONS];
    size_t n = ho_quic_version_list(c, list);
    return listed(list, n, v);
}

void ho_quic_version_set_local(ho_quic_conn *c)
{
    ho_quic_tparams *tp = &c->tpx.local;
    uint32_t list[HO_QUIC_CONFIG_VERSIONS];
    size_t n = ho_quic_version_list(c, list);
    if (!ho_quic_version_supported(c->version)) {
        /* A client told to start with a version we do not speak (to draw a
         * Version Negotiation, tests) announces none; the new first flight
         * after VN does (client.c). */
        tp->present &= ~ho_quic_tp_bit(HO_QUIC_TP_VERSION_INFORMATION);
        return;
    }
    /* RFC 9368 §3: Chosen Version, then Available Versions; a client's
     * list includes the chosen one. */
    tp->vi_chosen = c->version_switch_pending ? c->version_next : c->version;
    tp->vi_count = 0;
    if (!c->is_server && !listed(list, n, c->version))
        tp->vi_available[tp->vi_count++] = c->version;
    for (size_t i = 0; i < n && tp->vi_count < HO_QUIC_VI_MAX; i++)
        tp->vi_available[tp->vi_count++] = list[i];
    tp->present |= ho_quic_tp_bit(HO_QUIC_TP_VERSION_INFORMATION);
}

/* The version a client would pick from a server's versions (RFC 9368 §4:
 * "would have selected the same version"): the first of ours listed. */
static uint32_t client_pick(const ho_quic_conn *c, const uint32_t *theirs, size_t n, uint32_t also)
{
    uint32_t ours[HO_QUIC_CONFIG_VERSIONS];
    size_t k = ho_quic_version_list(c, ours);
    for (size_t i = 0; i < k; i++)
        if (ours[i] == also || listed(theirs, n, ours[i]))
            return ours[i];
    return 0;
}

uint32_t ho_quic_version_after_vn(const ho_quic_conn *c, const ho_quic_header *vn)
{
    uint32_t theirs[64] = {0};
    size_t n = 0;
    for (size_t i = 0; i < vn->version_count && n < 64; i++)
        theirs[n++] = ho_quic_vn_version(vn, i);
    uint32_t v = client_pick(c, theirs, n, 0);
    /* A client started on an unsupported version (tests) falls back to 1. */
    if (v == 0 && listed(theirs, n, HO_QUIC_VERSION_1))
        v = HO_QUIC_VERSION_1;
    return v;
}

int ho_quic_version_on_peer_tparams(ho_quic_conn *c, const ho_quic_tparams *p)
{
    bool has = ho_quic_tparams_has(p, HO_QUIC_TP_VERSION_INFORMATION);
    if (c->is_server) {
        if (!has)
            return HO_OK; /* RFC 9368 §4: servers MAY complete the handshake */
        /* RFC 9368 §4: the client's Chosen Version MUST match the version
         * in use (the one of its Initial packets), else a version
         * negotiation error. */
        if (p->vi_chosen != c->original_version)
            return VNE;
        if (c->cfg.versions[0] != 0) {
            /* RFC 9368 §2.3: select a version we support that the client
             * listed as compatible (versions 1 and 2 are mutually
             * compatible, RFC 9369 §4): ours in our order of preference. */
            uint32_t ours[HO_QUIC_CONFIG_VERSIONS];
            size_t n = ho_quic_version_list(c, ours);
            for (size_t i = 0; i < n; i++) {
                if (listed(p->vi_available, p->vi_count, ours[i])) {
                    if (ours[i] != c->version) {
                        /* Taken on the connection's thread (this may run
                         * on an offload worker): ho_quic_version_apply. */
                        c->version_next = ours[i];
                        c->version_switch_pending = true;
                    }
                    break;
                }
            }
        }
        ho_quic_version_set_local(c); /* ours are encoded after this */
        return HO_OK;
    }
    if (!has) {
        /* RFC 9368 §8: a client that reacted to VN and is now on version 1
         * proceeds as if the server sent (1, [1]); any other version needs
         * the parameter (§4), and so does a switched connection (RFC 9369
         * §4: an endpoint supporting v2 MUST send it). */
        if (c->vn_received && c->version != HO_QUIC_VERSION_1)
            return VNE;
        if (c->version != c->original_version)
            return VNE;
        return HO_OK;
    }
    /* RFC 9368 §4: the server's Chosen Version MUST equal the negotiated
     * version (the one of its long headers), which we offered. */
    if (p->vi_chosen != c->version || !ho_quic_version_accepts(c, p->vi_chosen))
        return VNE;
    if (c->vn_received) {
        /* §4: after VN, we would have picked the same version knowing the
         * server's Available Versions (plus the negotiated one); an empty
         * list fails. */
        if (p->vi_count == 0 || client_pick(c, p->vi_available, p->vi_count, c->version) != c->version)
            return VNE;
    }
    return HO_OK;
}

int ho_quic_version_apply(ho_quic_conn *c)
{
    if (!c->version_switch_pending) {
        ho_wipe(c->hs_secret, sizeof(c->hs_secret));
        c->hs_suite[0] = c->hs_suite[1] = NULL;
        return HO_OK;
    }
    c->version_switch_pending = false;
    c->version = c->version_next;
    /* Server: Initial keys of the negotiated version for everything we
     * send from now on; RFC 9369 §4.1: the original version's read keys
     * stay until a Handshake packet of the negotiated version arrives. */
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    ho_quic_keys tx, rx;
    int rc = ho_quic_initial_keys(c->version, c->initial_cid.data, c->initial_cid.len, c->is_server, &tx, &rx);
    if (rc != HO_OK)
        return rc;
    ho_quic_keys_free(&s->tx);
    ho_quic_keys_free(&c->initial_rx_orig);
    c->initial_rx_orig = s->rx;
    s->tx = tx;
    s->rx = rx;
    c->version_switched = true;
    /* Handshake keys the TLS engine installed before the choice: derived
     * again with the negotiated version's labels (RFC 9369 §3.3.2). */
    ho_quic_space *hs = &c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE];
    for (int w = 0; w < 2 && rc == HO_OK; w++) {
        const ho_tls_suite *suite = c->hs_suite[w];
        if (suite == NULL || !(w ? hs->has_tx : hs->has_rx))
            continue;
        ho_quic_key_material m;
        ho_quic_keys k;
        rc = ho_quic_key_material_derive(c->version, suite->hash, suite->aead, c->hs_secret[w], &m);
        if (rc == HO_OK)
            rc = ho_quic_keys_new(&k, &m, w != 0);
        ho_wipe(&m, sizeof(m));
        if (rc == HO_OK) {
            ho_quic_keys_free(w ? &hs->tx : &hs->rx);
            *(w ? &hs->tx : &hs->rx) = k;
        }
    }
    ho_wipe(c->hs_secret, sizeof(c->hs_secret));
    c->hs_suite[0] = c->hs_suite[1] = NULL;
    return rc;
}

bool ho_quic_version_rx(ho_quic_conn *c, const ho_quic_header *hdr, const ho_quic_keys **keys)
{
    *keys = NULL;
    if (hdr->type == HO_QUIC_PKT_1RTT || hdr->version == c->version)
        return true;
    if (c->is_server) {
        /* The client's Initials of the original version, until it noticed
         * the switch (RFC 9369 §4.1). Handshake packets: only the
         * negotiated version ("MUST drop packets using any other"). */
        if (hdr->type == HO_QUIC_PKT_INITIAL && c->version_switched && hdr->version == c->original_version &&
            c->initial_rx_orig.aead != NULL) {
            *keys = &c->initial_rx_orig;
            return true;
        }
        return false;
    }
    /* Client: the first long header from the server in another version we
     * offered is the compatible negotiation (RFC 9369 §4.1). Not after a
     * VN, nor once the server's CRYPTO data came in the original version
     * (its ServerHello gave us Handshake keys: "the negotiated version is
     * equal to the original version"); an ACK-only Initial of the original
     * version may come first (RFC 9368 §2.3). */
    if (c->version_switched || c->vn_received || c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].has_rx ||
        !ho_quic_version_supported(c->version) || !ho_quic_version_accepts(c, hdr->version) ||
        (hdr->type != HO_QUIC_PKT_INITIAL && hdr->type != HO_QUIC_PKT_HANDSHAKE))
        return false;
    if (hdr->type != HO_QUIC_PKT_INITIAL)
        return false; /* the switch is learnt from an Initial we can open */
    /* Keys of the new version, committed only if the packet opens with
     * them (ho_quic_version_commit): a forged header changes nothing. */
    ho_quic_keys_free(&c->switch_tx);
    ho_quic_keys_free(&c->switch_rx);
    if (ho_quic_initial_keys(hdr->version, c->initial_cid.data, c->initial_cid.len, false, &c->switch_tx,
                             &c->switch_rx) != HO_OK)
        return false;
    *keys = &c->switch_rx;
    return true;
}

void ho_quic_version_commit(ho_quic_conn *c, const ho_quic_header *hdr, bool opened)
{
    if (c->switch_rx.aead == NULL)
        return;
    if (opened) {
        ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
        ho_quic_keys_free(&s->tx);
        ho_quic_keys_free(&s->rx);
        s->tx = c->switch_tx;
        s->rx = c->switch_rx;
        c->switch_tx = (ho_quic_keys){0};
        c->switch_rx = (ho_quic_keys){0};
        c->version = hdr->version;
        c->version_switched = true;
        return;
    }
    ho_quic_keys_free(&c->switch_tx);
    ho_quic_keys_free(&c->switch_rx);
}

void ho_quic_version_on_handshake_rx(ho_quic_conn *c)
{
    /* RFC 9369 §4.1: a Handshake packet of the negotiated version ends the
     * need for the original version's Initial read keys. */
    ho_quic_keys_free(&c->initial_rx_orig);
}

int ho_quic_version_server_start(ho_quic_conn *c, uint32_t version)
{
    if (!ho_quic_version_supported(version))
        return HO_ERR_INVALID_ARG;
    if (version == c->version)
        return HO_OK;
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    ho_quic_keys tx, rx;
    int rc = ho_quic_initial_keys(version, c->initial_cid.data, c->initial_cid.len, true, &tx, &rx);
    if (rc != HO_OK)
        return rc;
    ho_quic_keys_free(&s->tx);
    ho_quic_keys_free(&s->rx);
    s->tx = tx;
    s->rx = rx;
    c->version = c->original_version = version;
    ho_quic_version_set_local(c);
    return HO_OK;
}

void ho_quic_version_free(ho_quic_conn *c)
{
    ho_wipe(c->hs_secret, sizeof(c->hs_secret));
    ho_quic_keys_free(&c->initial_rx_orig);
    ho_quic_keys_free(&c->switch_tx);
    ho_quic_keys_free(&c->switch_rx);
}

uint32_t ho_quic_conn_original_version(const ho_quic_conn *c) { return c->original_version; }
bool ho_quic_conn_version_switched(const ho_quic_conn *c) { return c->version_switched; }
