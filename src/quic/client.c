/* The client side of connection establishment that the server never shows
 * a connection: Retry (RFC 9000 §8.1.2, §17.2.5; RFC 9001 §5.8), Version
 * Negotiation (RFC 9000 §6.2, §17.2.1), and TLS session resumption (the
 * session to offer, tickets routed to the connection's callback).
 *
 * Both restart the Initial exchange in place, under new Initial keys, with
 * packet numbers going on (§17.2.5.3). After a Retry the ClientHello is
 * unchanged (the server never processed it): the TLS state is kept and the
 * CRYPTO data is sent again from offset 0. After a Version Negotiation the
 * first flight is new (RFC 9368 §4): a fresh ClientHello whose
 * version_information names the version now chosen. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"


/* Initial keys from the current DCID (RFC 9001 §5.2) and a fresh start of
 * the Initial space's loss recovery (RFC 9002 §6.3: "Clients that receive a
 * Retry packet reset congestion control and loss recovery state, including
 * resetting any pending timers"; VN restarts the attempt likewise). */
static int restart_initial(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    ho_quic_keys_free(&s->tx);
    ho_quic_keys_free(&s->rx);
    s->has_tx = s->has_rx = false;
    c->initial_cid = c->dcid;
    uint32_t v = ho_quic_version_supported(c->version) ? c->version : HO_QUIC_VERSION_1;
    int rc = ho_quic_initial_keys(v, c->dcid.data, c->dcid.len, false, &s->tx, &s->rx);
    if (rc != HO_OK)
        return rc;
    s->has_tx = s->has_rx = true;
    quic_ev_key(c, HO_EV_KEY_INITIAL, HO_EV_KEY_TLS, true);
    quic_ev_key(c, HO_EV_KEY_INITIAL, HO_EV_KEY_TLS, false);
    /* Forget the packets in flight (their records come back through
     * on_discarded), then reopen the space: packet numbers go on from
     * next_pn, which recovery accepts on an empty space. */
    ho_quic_recovery_discard_space(&c->rec, HO_QUIC_PN_SPACE_INITIAL, now);
    c->rec.spaces[HO_QUIC_PN_SPACE_INITIAL].discarded = false;
    s->probes = 0;
    /* §17.2.5.2: the client "MUST ... send the same CRYPTO frames" — all of
     * the ClientHello again, from offset 0. */
    ho_quic_sendbuf_requeue_unacked(&s->crypto_tx);
    return HO_OK;
}

static void on_retry(ho_quic_conn *c, const uint8_t *pkt, const ho_quic_header *hdr, ho_quic_time now)
{
    /* RFC 9000 §17.2.5.2: at most one Retry per connection attempt, and none
     * after any other packet from the server was processed. */
    if (c->retry_received || c->dcid_from_server || c->stats.packets_received > 0)
        goto drop;
    /* §5.2: it must be addressed to us. */
    if (!ho_quic_cid_eq(&hdr->dcid, &c->scid))
        goto drop;
    /* §17.2.5.2: MUST discard a Retry whose SCID equals the DCID of our Initial. */
    if (ho_quic_cid_eq(&hdr->scid, &c->dcid))
        goto drop;
    /* RFC 9001 §5.8 / RFC 9000 §17.2.5.2: MUST discard a Retry whose
     * integrity tag does not verify against our original DCID. (An empty
     * token was refused by the header parser.) */
    /* RFC 9369 §4.1: a Retry comes in the original version (ours); the
     * header parser only returned it for a version we know. */
    if (hdr->version != c->version ||
        ho_quic_retry_verify(NULL, hdr->version, c->odcid.data, c->odcid.len, pkt, hdr->packet_len) != HO_OK)
        goto drop;
    uint8_t *tok = ho_mem_alloc(hdr->token_len);
    if (tok == NULL)
        goto drop;
    memcpy(tok, hdr->token, hdr->token_len);
    ho_mem_free(c->retry_token);
    c->retry_token = tok;
    c->retry_token_len = hdr->token_len;
    c->retry_received = true;
    /* §17.2.5.2: the Retry's SCID is our DCID from now on, and the Initial
     * keys are derived from it (RFC 9001 §5.2). */
    c->retry_scid = hdr->scid;
    c->dcid = hdr->scid;
    if (restart_initial(c, now) != HO_OK)
        ho_quic_conn_fail(c, HO_ERR_NOMEM, 0, now);
    return;
drop:
    c->stats.packets_dropped++;
    quic_ev_packet_dropped(c, hdr, hdr->packet_len, HO_EV_DROP_UNEXPECTED);
}

static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len);

static int offer_session(ho_quic_conn *c)
{
    if (c->cfg.callbacks.session_ticket != NULL)
        ho_tls_set_session_cb(c->tls, on_session, c);
    /* An unusable blob (corrupt, other version) means a full handshake; so
     * does a session of another QUIC version (early.c). */
    size_t len;
    const uint8_t *s = ho_quic_early_tls_session(c, &len);
    if (s != NULL)
        (void)ho_tls_set_session(c->tls, s, len);
    return HO_OK;
}

/* RFC 9368 §4: after Version Negotiation the client "SHALL ... send a new
 * first flight with that version": a new TLS engine (the old one's
 * ClientHello named the original version in its version_information,
 * which a server MUST refuse, §6), the same session offered, and the
 * Initial CRYPTO stream started again from offset 0. */
static int new_first_flight(ho_quic_conn *c, ho_quic_time now)
{
    ho_tls *t = ho_quic_conn_tls_new(c, ho_tls_get_server_name(c->tls));
    if (t == NULL)
        return HO_ERR_NOMEM;
    ho_tls_free(c->tls);
    c->tls = t;
    ho_tls_out_free(&c->tls_out);
    ho_tls_out_init(&c->tls_out);
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    ho_quic_sendbuf_free(&s->crypto_tx);
    memset(&s->crypto_tx, 0, sizeof(s->crypto_tx));
    int rc = restart_initial(c, now);
    if (rc != HO_OK || (rc = offer_session(c)) != HO_OK)
        return rc;
    ho_quic_version_set_local(c); /* encoded into the new ClientHello */
    if ((rc = ho_tls_start(c->tls, &c->tls_out)) != HO_OK)
        return rc;
    return ho_quic_conn_tls_input(c, HO_QUIC_PN_SPACE_INITIAL, now);
}

static void on_version_negotiation(ho_quic_conn *c, const ho_quic_header *hdr, ho_quic_time now)
{
    /* RFC 9000 §6.2: a client MUST discard a Version Negotiation packet once
     * it processed any other packet (an earlier VN or a Retry included). */
    if (c->vn_received || c->retry_received || c->dcid_from_server || c->stats.packets_received > 0)
        goto drop;
    /* §17.2.1: the CIDs echo ours, swapped. */
    if (!ho_quic_cid_eq(&hdr->dcid, &c->scid) || !ho_quic_cid_eq(&hdr->scid, &c->dcid))
        goto drop;
    for (size_t i = 0; i < hdr->version_count; i++) {
        uint32_t v = ho_quic_vn_version(hdr, i);
        /* §6.2: MUST ignore a Version Negotiation that lists the version we
         * chose (RFC 9368 §4: the Original Version). */
        if (v == c->version)
            goto drop;
    }
    uint32_t next = ho_quic_version_after_vn(c, hdr);
    if (next == 0) {
        /* §6.2: no version in common: abandon the connection attempt. The
         * server cannot read a CONNECTION_CLOSE of ours: close silently. */
        c->error = HO_ERR_QUIC_VERSION;
        ho_quic_conn_set_closed(c);
        return;
    }
    /* Restart the attempt with the version we prefer among the server's: a
     * new random DCID (§7.2), which the server will echo as
     * original_destination_connection_id. */
    c->vn_received = true;
    c->version = c->original_version = next;
    ho_random(c->dcid.data, c->dcid.len);
    c->odcid = c->dcid;
    if (new_first_flight(c, now) != HO_OK)
        ho_quic_conn_fail(c, HO_ERR_NOMEM, 0, now);
    return;
drop:
    c->stats.packets_dropped++;
    quic_ev_packet_dropped(c, hdr, hdr->packet_len, HO_EV_DROP_UNEXPECTED);
}

void ho_quic_client_on_retry_or_vn(ho_quic_conn *c, const uint8_t *pkt, const ho_quic_header *hdr, ho_quic_time now)
{
    if (c->is_server || c->state != HO_QUIC_STATE_HANDSHAKE) {
        c->stats.packets_dropped++;
        quic_ev_packet_dropped(c, hdr, hdr->packet_len, HO_EV_DROP_UNEXPECTED);
        return;
    }
    if (hdr->type == HO_QUIC_PKT_RETRY)
        on_retry(c, pkt, hdr, now);
    else
        on_version_negotiation(c, hdr, now);
}

bool ho_quic_client_retry_tparam_ok(const ho_quic_conn *c, const ho_quic_tparams *p)
{
    /* RFC 9000 §7.3: after a Retry, retry_source_connection_id MUST be
     * present and equal the Retry's SCID; without one it MUST be absent. */
    bool has = ho_quic_tparams_has(p, HO_QUIC_TP_RETRY_SCID);
    if (!c->retry_received)
        return !has;
    return has && ho_quic_cid_eq(&p->retry_scid, &c->retry_scid);
}

/* ---- resumption ------------------------------------------------------------ */

static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)tls;
    ho_quic_conn *c = ctx;
    if (c->cfg.callbacks.session_ticket == NULL)
        return;
    /* With the version and the parameters 0-RTT may use (early.c). */
    ho_buf b;
    ho_buf_init(&b);
    if (ho_quic_early_wrap_session(c, blob, len, &b) == HO_OK)
        c->cfg.callbacks.session_ticket(c->cfg.callbacks.ctx, c, b.data, b.len);
    ho_buf_free(&b);
}

int ho_quic_client_setup_tls(ho_quic_conn *c)
{
    c->version = c->cfg.version != 0       ? c->cfg.version
                 : c->cfg.versions[0] != 0 ? c->cfg.versions[0]
                                           : HO_QUIC_VERSION_1;
    if (c->cfg.version == 0 && !ho_quic_version_supported(c->version))
        c->version = HO_QUIC_VERSION_1;
    if (c->cfg.session != NULL && c->cfg.session_len > 0) {
        /* Copied: the caller's buffer, and a new first flight after Version
         * Negotiation offers it again. */
        c->session = ho_mem_alloc(c->cfg.session_len);
        if (c->session == NULL)
            return HO_ERR_NOMEM;
        memcpy(c->session, c->cfg.session, c->cfg.session_len);
        c->session_len = c->cfg.session_len;
    }
    c->cfg.session = NULL;
    c->cfg.session_len = 0;
    ho_quic_early_client_load(c); /* may start in the session's version */
    c->original_version = c->version;
    ho_quic_version_set_local(c); /* encoded into the ClientHello by ho_tls_start */
    return offer_session(c);
}

void ho_quic_client_free(ho_quic_conn *c)
{
    ho_mem_free(c->retry_token);
    c->retry_token = NULL;
    ho_mem_free(c->session);
    c->session = NULL;
}

bool ho_quic_conn_retried(const ho_quic_conn *c) { return c->retry_received; }
bool ho_quic_conn_version_negotiated(const ho_quic_conn *c) { return c->vn_received; }
uint32_t ho_quic_conn_version(const ho_quic_conn *c) { return c->version; }

const char *ho_quic_conn_cc_name(const ho_quic_conn *c)
{
    return c->cc.ops != NULL && c->cc.ops->name != NULL ? c->cc.ops->name : "";
}
