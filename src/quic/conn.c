/* The QUIC connection: life cycle, the TLS engine and packet protection
 * keys (RFC 9001 §4-§5), transport parameters (RFC 9000 §7.3, §7.4),
 * handshake confirmation and key discard (RFC 9001 §4.1.2, §4.9), timers,
 * closing and draining (RFC 9000 §10). Packets in: conn_recv.c; out:
 * conn_send.c; streams: stream.c. */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

#define DEFAULT_IDLE_MS 30000
#define DEFAULT_MAX_DATA (1u << 20)
#define DEFAULT_MAX_STREAM_DATA (256u << 10)
#define DEFAULT_MAX_STREAMS 100
#define DEFAULT_MAX_ACK_DELAY_MS 25
#define DEFAULT_CID_LEN 8
#define DEFAULT_STREAM_SEND_BUFFER (1u << 20)
#define DEFAULT_DATAGRAM_QUEUE 64

static void emit(const ho_quic_conn *c, ho_event_type type, ho_log_level level, int64_t a, int64_t b,
                 const char *detail)
{
    if (level > ho_event_threshold())
        return;
    ho_event ev = {.type = type,
                   .level = level,
                   .conn = c->cfg.conn_id,
                   .role = c->is_server ? "server" : "client",
                   .a = a,
                   .b = b,
                   .detail = detail,
                   .time = c->now,
                   .odcid = c->odcid.data,
                   .odcid_len = c->odcid.len,
                   .slot = (void **)&c->ev_slot};
    ho_event_emit(&ev);
}

/* ---- the transport-parameter hook --------------------------------------- */

static ho_quic_tp_exchange *exchange_of(ho_tls *tls)
{
    ho_quic_conn *c = ho_tls_get_user(tls);
    return c != NULL ? &c->tpx : NULL;
}

static const ho_quic_tp_hook tp_hook = {exchange_of};

int ho_quic_tls_config_prepare(ho_tls_config *tls) { return ho_quic_tparams_install(tls, &tp_hook); }

/* A handshake callback's result: HO_OK or an alert (RFC 9001 §4.8: the
 * connection closes with CRYPTO_ERROR 0x100 + alert); anything else is
 * taken as handshake_failure, never INTERNAL_ERROR. */
static int refusal(int rc)
{
    if (rc == HO_OK || ho_err_is_alert(rc))
        return rc;
    return HO_ERR_TLS_ALERT(HO_ALERT_HANDSHAKE_FAILURE);
}

static void tp_to_view(const ho_quic_tparams *p, ho_quic_transport_params *v)
{
    v->max_idle_timeout_ms = p->max_idle_timeout;
    v->max_udp_payload_size = p->max_udp_payload_size;
    v->initial_max_data = p->initial_max_data;
    v->initial_max_stream_data_bidi_local = p->initial_max_stream_data_bidi_local;
    v->initial_max_stream_data_bidi_remote = p->initial_max_stream_data_bidi_remote;
    v->initial_max_stream_data_uni = p->initial_max_stream_data_uni;
    v->initial_max_streams_bidi = p->initial_max_streams_bidi;
    v->initial_max_streams_uni = p->initial_max_streams_uni;
    v->ack_delay_exponent = p->ack_delay_exponent;
    v->max_ack_delay_ms = p->max_ack_delay;
    v->active_connection_id_limit = p->active_connection_id_limit;
    v->max_datagram_frame_size = p->max_datagram_frame_size;
    v->disable_active_migration = p->disable_active_migration;
}

/* Server: the application's on_client_params (inside the ClientHello step,
 * on whichever thread runs it). Only tpx is written here; the connection
 * takes the changed values in apply_local_tp, on its own thread. */
static int client_params_cb(ho_quic_conn *c)
{
    const ho_quic_handshake_callbacks *hc = &c->cfg.hs_callbacks;
    if (!c->is_server || hc->on_client_params == NULL)
        return HO_OK;
    ho_quic_transport_params client, server;
    tp_to_view(&c->tpx.peer, &client);
    tp_to_view(&c->tpx.local, &server);
    int rc = refusal(hc->on_client_params(hc->ctx, c->cfg.conn_id, c->tls, &client, &server));
    if (rc != HO_OK)
        return rc;
    uint64_t sd = server.initial_max_stream_data_bidi_local;
    if (server.initial_max_stream_data_bidi_remote < sd)
        sd = server.initial_max_stream_data_bidi_remote;
    if (server.initial_max_stream_data_uni < sd)
        sd = server.initial_max_stream_data_uni;
    /* RFC 9000 §4.6: a stream count above 2^60 cannot be encoded; §16:
     * every value fits a varint. A callback asking for that is a bug. */
    const uint64_t vmax = (1ULL << 62) - 1, smax = 1ULL << 60;
    if (server.max_idle_timeout_ms > vmax || server.initial_max_data > vmax || sd > vmax ||
        server.initial_max_streams_bidi > smax || server.initial_max_streams_uni > smax)
        return HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR);
    ho_quic_tparams *tp = &c->tpx.local;
    tp->max_idle_timeout = server.max_idle_timeout_ms;
    tp->initial_max_data = server.initial_max_data;
    tp->initial_max_stream_data_bidi_local = tp->initial_max_stream_data_bidi_remote =
        tp->initial_max_stream_data_uni = sd;
    tp->initial_max_streams_bidi = server.initial_max_streams_bidi;
    tp->initial_max_streams_uni = server.initial_max_streams_uni;
    c->local_tp_changed = true;
    return HO_OK;
}

/* Our parameters as sent, into the connection's limits (its thread). */
static void apply_local_tp(ho_quic_conn *c)
{
    if (!c->local_tp_changed)
        return;
    c->local_tp_changed = false;
    const ho_quic_tparams *tp = &c->tpx.local;
    ho_quic_config *k = &c->cfg;
    k->max_idle_timeout_ms = tp->max_idle_timeout;
    k->initial_max_data = tp->initial_max_data;
    k->initial_max_stream_data = tp->initial_max_stream_data_uni;
    k->initial_max_streams_bidi = tp->initial_max_streams_bidi;
    k->initial_max_streams_uni = tp->initial_max_streams_uni;
    c->rx_max_data = c->rx_data_window = tp->initial_max_data;
    c->local_max_streams[0] = tp->initial_max_streams_bidi;
    c->local_max_streams[1] = tp->initial_max_streams_uni;
    c->idle_timeout = HO_QUIC_MS(tp->max_idle_timeout);
}

static void apply_peer_tparams(ho_quic_conn *c);

/* The peer's transport parameters arrived (inside ho_tls_handle). */
static int on_peer_tparams(void *ctx, ho_quic_tp_exchange *x)
{
    ho_quic_conn *c = ctx;
    const ho_quic_tparams *p = &x->peer;
    /* RFC 9000 §7.3: initial_source_connection_id MUST be present and equal
     * the Source Connection ID of the peer's first Initial; a server's
     * original_destination_connection_id MUST equal the client's first
     * DCID; retry_source_connection_id as client.c checks. */
    if (!ho_quic_tparams_has(p, HO_QUIC_TP_INITIAL_SCID) || !ho_quic_cid_eq(&p->initial_scid, &c->peer_first_scid))
        return HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR);
    /* RFC 9368 §4, RFC 9369 §4 (version.c); the server may pick another
     * version here, before its own parameters are encoded. */
    int vrc = ho_quic_version_on_peer_tparams(c, p);
    if (vrc != HO_OK)
        return vrc;
    if (!c->is_server) {
        if (!ho_quic_tparams_has(p, HO_QUIC_TP_ORIGINAL_DCID) || !ho_quic_cid_eq(&p->original_dcid, &c->odcid))
            return HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR);
        if (!ho_quic_client_retry_tparam_ok(c, p)) /* client.c */
            return HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR);
    }
    int rc = client_params_cb(c);
    if (rc != HO_OK)
        return rc;
    if (c->step.on_worker) {
        c->step.peer_tp = true; /* applied by ho_quic_step_finish */
        return HO_OK;
    }
    if ((rc = ho_quic_version_apply(c)) != HO_OK)
        return rc;
    apply_local_tp(c);
    apply_peer_tparams(c);
    return HO_OK;
}

/* Apply them (§7.4, §18.2), on the connection's thread. */
static void apply_peer_tparams(ho_quic_conn *c)
{
    const ho_quic_tparams *p = &c->tpx.peer;
    quic_ev_params(c); /* ours are final too (on_client_params ran) */
    c->tx_max_data = p->initial_max_data;
    c->peer_max_streams[0] = p->initial_max_streams_bidi;
    c->peer_max_streams[1] = p->initial_max_streams_uni;
    ho_quic_rtt_set_max_ack_delay(&c->rec.rtt, HO_QUIC_MS(p->max_ack_delay));
    /* §10.1: the effective idle timeout is the minimum of both, where 0 means
     * "none" on that side. */
    uint64_t ours = c->tpx.local.max_idle_timeout, theirs = p->max_idle_timeout;
    uint64_t idle = ours == 0 ? theirs : theirs == 0 ? ours : ours < theirs ? ours : theirs;
    c->idle_timeout = HO_QUIC_MS(idle);
    ho_quic_cid_on_peer_tparams(c);
}

/* ---- keys ---------------------------------------------------------------- */

static int apply_secret(ho_quic_conn *c, bool is_write, ho_epoch epoch, const ho_tls_suite *suite,
                        const uint8_t *secret);

static int on_secret(void *ctx, ho_tls *tls, bool is_write, ho_epoch epoch, const ho_tls_suite *suite,
                     const uint8_t *secret)
{
    (void)tls;
    ho_quic_conn *c = ctx;
    if (epoch == HO_EPOCH_APP)
        c->app_secret_seen = true; /* the exporter secret exists too (RFC 8446 §7.1) */
    if (c->step.on_worker) {
        /* Installed on the connection's thread (ho_quic_step_finish): the
         * keys, recovery and the key phase are its state. */
        if (c->step.nsecrets == HO_QUIC_STEP_SECRETS)
            return HO_ERR_INVALID_ARG;
        ho_quic_step_secret *k = &c->step.secrets[c->step.nsecrets++];
        k->is_write = is_write;
        k->epoch = epoch;
        k->suite = suite;
        memcpy(k->secret, secret, crypto_hash_len(suite->hash));
        return HO_OK;
    }
    return apply_secret(c, is_write, epoch, suite, secret);
}

static int apply_secret(ho_quic_conn *c, bool is_write, ho_epoch epoch, const ho_tls_suite *suite,
                        const uint8_t *secret)
{
    ho_quic_pn_space space;
    if (epoch == HO_EPOCH_HANDSHAKE)
        space = HO_QUIC_PN_SPACE_HANDSHAKE;
    else if (epoch == HO_EPOCH_APP)
        space = HO_QUIC_PN_SPACE_APPLICATION;
    else if (epoch == HO_EPOCH_EARLY)
        return ho_quic_early_install(c, is_write, suite, secret); /* early.c */
    else
        return HO_OK;
    ho_quic_space *s = &c->spaces[space];
    if ((is_write ? s->has_tx : s->has_rx) || s->discarded)
        return HO_OK; /* RFC 9001 §6: QUIC updates keys itself (key_update.c), not by TLS KeyUpdate */
    if (c->is_server && space == HO_QUIC_PN_SPACE_HANDSHAKE && !c->tpx.peer_received) {
        /* The version may still change (version.c): keep the secret. */
        memcpy(c->hs_secret[is_write], secret, crypto_hash_len(suite->hash));
        c->hs_suite[is_write] = suite;
    }
    ho_quic_key_material m;
    int rc = ho_quic_key_material_derive(c->version, suite->hash, suite->aead, secret, &m);
    if (rc == HO_OK)
        rc = ho_quic_keys_new(is_write ? &s->tx : &s->rx, &m, is_write);
    ho_wipe(&m, sizeof(m));
    if (rc != HO_OK)
        return rc;
    if (space == HO_QUIC_PN_SPACE_APPLICATION && (rc = ho_quic_key_phase_init(c, is_write, suite, secret)) != HO_OK)
        return rc;
    if (space == HO_QUIC_PN_SPACE_APPLICATION)
        ho_quic_early_on_1rtt_keys(c, is_write);
    if (is_write)
        s->has_tx = true;
    else
        s->has_rx = true;
    if (space == HO_QUIC_PN_SPACE_HANDSHAKE && s->has_tx && s->has_rx)
        ho_quic_recovery_on_handshake_keys(&c->rec, c->now);
    quic_ev_key(c, space == HO_QUIC_PN_SPACE_HANDSHAKE ? HO_EV_KEY_HANDSHAKE : HO_EV_KEY_1RTT, HO_EV_KEY_TLS, is_write);
    return HO_OK;
}

bool ho_quic_conn_has_keys(const ho_quic_conn *c, ho_epoch epoch)
{
    ho_quic_pn_space s = epoch == HO_EPOCH_INITIAL ? HO_QUIC_PN_SPACE_INITIAL
                       : epoch == HO_EPOCH_HANDSHAKE ? HO_QUIC_PN_SPACE_HANDSHAKE : HO_QUIC_PN_SPACE_APPLICATION;
    return c->spaces[s].has_tx || c->spaces[s].has_rx;
}

void ho_quic_conn_discard_space(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_time now)
{
    ho_quic_space *s = &c->spaces[space];
    if (s->discarded)
        return;
    s->discarded = true;
    ho_quic_keys_free(&s->tx);
    ho_quic_keys_free(&s->rx);
    s->has_tx = s->has_rx = false;
    s->ack_pending = false;
    s->ack_deadline = HO_QUIC_TIME_NEVER;
    s->probes = 0;
    ho_quic_recovery_discard_space(&c->rec, space, now);
    ho_quic_sendbuf_free(&s->crypto_tx);
    memset(&s->crypto_tx, 0, sizeof(s->crypto_tx));
}

/* RFC 9001 §4.1.2: confirmed — server at handshake completion, client on
 * HANDSHAKE_DONE. §4.9.2: Handshake keys are discarded then. */
void ho_quic_conn_confirm(ho_quic_conn *c, ho_quic_time now)
{
    if (c->hs_confirmed)
        return;
    c->hs_confirmed = true;
    ho_quic_recovery_on_handshake_confirmed(&c->rec, now);
    quic_ev_state(c, HO_EV_QSTATE_CONFIRMED);
    ho_quic_conn_discard_space(c, HO_QUIC_PN_SPACE_HANDSHAKE, now);
    ho_quic_pmtud_start(c, now); /* RFC 9000 §14.3: probe once confirmed */
}

/* on_exporter_secret, once, after a TLS call that derived the secret. */
static int exporter_cb(ho_quic_conn *c)
{
    const ho_quic_handshake_callbacks *hc = &c->cfg.hs_callbacks;
    if (hc->on_exporter_secret == NULL || c->exporter_done || !c->app_secret_seen)
        return HO_OK;
    c->exporter_done = true;
    return refusal(hc->on_exporter_secret(hc->ctx, c->cfg.conn_id, c->tls));
}

/* Whether the CRYPTO bytes hold at least one whole handshake message
 * (type, 24-bit length, body: RFC 8446 §4): only then is a step worth
 * taking out of line; a partial ClientHello waits in the receive buffer. */
static bool has_whole_message(const uint8_t *d, size_t n)
{
    if (n < 4)
        return false;
    size_t len = (size_t)d[1] << 16 | (size_t)d[2] << 8 | d[3];
    return 4 + len <= n;
}

static int after_tls(ho_quic_conn *c, int rc, ho_quic_time now);

/* Feeds the contiguous CRYPTO bytes of `space` to TLS and queues its output. */
int ho_quic_conn_tls_input(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_time now)
{
    ho_quic_recvbuf *rb = &c->spaces[space].crypto_rx;
    size_t n = ho_quic_recvbuf_readable(rb);
    int rc = HO_OK;
    if (c->step.enabled && c->is_server && !c->hs_done && space != HO_QUIC_PN_SPACE_APPLICATION) {
        /* Handshake offload: the ClientHello and the client's Finished are
         * the expensive steps; the endpoint runs them (maybe on a worker).
         * While one is pending or out, further bytes wait here. */
        if (c->step.pending || c->step.out || !has_whole_message(rb->data.data, n))
            return HO_OK;
        c->step.input.len = 0;
        ho_put_bytes(&c->step.input, rb->data.data, n);
        if (c->step.input.failed)
            return HO_ERR_NOMEM;
        ho_buf_consume(&rb->data, n);
        rb->read += n;
        ho_quic_rangeset_remove(&rb->have, 0, rb->read);
        c->step.space = space;
        c->step.pending = true;
        return HO_OK;
    }
    if (n > 0) {
        /* The wall clock moves on with ours: a ticket's age is from when
         * it arrived (RFC 8446 §4.2.11.1), not from the connection's start. */
        if (c->cfg.wall_clock_ms != 0 && now > c->created_at)
            ho_tls_set_now(c->tls, c->cfg.wall_clock_ms + (int64_t)((now - c->created_at) / HO_QUIC_MS(1)));
        rc = ho_tls_handle(c->tls, ho_quic_space_epoch(space), rb->data.data, n, &c->tls_out);
        ho_buf_consume(&rb->data, n);
        rb->read += n;
        ho_quic_rangeset_remove(&rb->have, 0, rb->read);
        if (rc == HO_OK && (rc = exporter_cb(c)) != HO_OK) {
            /* Nothing of a refused flight goes out (the CONNECTION_CLOSE does). */
            for (int e = 0; e < HO_EPOCH_COUNT; e++)
                c->tls_out.send[e].len = 0;
        }
    }
    return after_tls(c, rc, now);
}

/* Queues TLS's output (also the alert-less partial flight of a failed
 * call) and notes handshake completion; returns rc or HO_ERR_NOMEM. */
static int after_tls(ho_quic_conn *c, int rc, ho_quic_time now)
{
    /* Queue the output per epoch, also the alert-less partial flight. */
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        ho_buf *b = &c->tls_out.send[ho_quic_space_epoch((ho_quic_pn_space)s)];
        if (b->len == 0)
            continue;
        if (!c->spaces[s].discarded && ho_quic_sendbuf_write(&c->spaces[s].crypto_tx, b->data, b->len) != HO_OK)
            rc = HO_ERR_NOMEM;
        b->len = 0;
    }
    if (rc != HO_OK)
        return rc;
    if ((rc = ho_quic_early_after_tls(c, now)) != HO_OK) /* early.c */
        return rc;
    if (!c->hs_done && ho_tls_handshake_done(c->tls)) {
        c->hs_done = true;
        if (c->state == HO_QUIC_STATE_HANDSHAKE)
            c->state = HO_QUIC_STATE_ESTABLISHED;
        quic_ev_state(c, HO_EV_QSTATE_HANDSHAKE_COMPLETE);
        if (c->is_server) {
            /* RFC 9000 §19.20: the server sends HANDSHAKE_DONE; RFC 9001
             * §4.1.2: the handshake is confirmed at completion. */
            c->handshake_done_pending = true;
            ho_quic_conn_confirm(c, now);
        }
        ho_quic_cid_issue(c); /* RFC 9000 §5.1.1 */
        if (c->cfg.callbacks.handshake_done != NULL)
            c->cfg.callbacks.handshake_done(c->cfg.callbacks.ctx, c);
    }
    return HO_OK;
}

/* ---- handshake steps out of line (the endpoint's offload) ----------------- */

void ho_quic_step_begin(ho_quic_conn *c)
{
    c->step.pending = false;
    c->step.out = true;
    c->step.rc = HO_OK;
    c->step.nsecrets = 0;
    c->step.peer_tp = false;
}

void ho_quic_step_run(ho_quic_conn *c)
{
    ho_quic_step *st = &c->step;
    st->on_worker = true;
    int rc = ho_tls_handle(c->tls, ho_quic_space_epoch(st->space), st->input.data, st->input.len, &c->tls_out);
    if (rc == HO_OK)
        rc = exporter_cb(c);
    /* A callback answered later (HO_ERR_WANT_ASYNC): TLS kept the input;
     * the step runs again, on nothing new, once the application completed
     * it (the endpoint). */
    if (rc == HO_ERR_WANT_ASYNC)
        st->input.len = 0;
    st->on_worker = false;
    st->rc = rc;
}

void ho_quic_step_finish(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_step *st = &c->step;
    st->out = false;
    st->input.len = 0;
    c->now = now;
    int rc = st->rc;
    if (rc == HO_OK && st->peer_tp)
        rc = ho_quic_version_apply(c);
    if (rc == HO_OK && st->peer_tp) {
        apply_local_tp(c);
        apply_peer_tparams(c);
    }
    for (int i = 0; i < st->nsecrets && rc == HO_OK; i++) {
        ho_quic_step_secret *k = &st->secrets[i];
        rc = apply_secret(c, k->is_write, k->epoch, k->suite, k->secret);
    }
    for (int i = 0; i < st->nsecrets; i++)
        ho_wipe(st->secrets[i].secret, sizeof(st->secrets[i].secret));
    st->nsecrets = 0;
    if (c->state >= HO_QUIC_STATE_CLOSING) {
        /* Closed while the step was out (the application, a timer): its
         * output has no use. */
        for (int e = 0; e < HO_EPOCH_COUNT; e++)
            c->tls_out.send[e].len = 0;
        return;
    }
    if (rc != HO_OK) {
        for (int e = 0; e < HO_EPOCH_COUNT; e++)
            c->tls_out.send[e].len = 0;
        ho_quic_conn_fail(c, rc, HO_QUIC_FT_CRYPTO, now);
        return;
    }
    if ((rc = after_tls(c, HO_OK, now)) != HO_OK) {
        ho_quic_conn_fail(c, rc, HO_QUIC_FT_CRYPTO, now);
        return;
    }
    /* Bytes that arrived for TLS meanwhile (none while the endpoint held
     * the datagrams back, but a complete message may already wait). */
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT && !c->step.pending && c->state < HO_QUIC_STATE_CLOSING; s++)
        if (!c->spaces[s].discarded && ho_quic_recvbuf_readable(&c->spaces[s].crypto_rx) > 0 &&
            (rc = ho_quic_conn_tls_input(c, (ho_quic_pn_space)s, now)) != HO_OK)
            ho_quic_conn_fail(c, rc, HO_QUIC_FT_CRYPTO, now);
}

/* ---- creation ------------------------------------------------------------- */

static void set_local_tparams(ho_quic_conn *c)
{
    ho_quic_tparams *tp = &c->tpx.local;
    const ho_quic_config *cfg = &c->cfg;
    ho_quic_tparams_init(tp);
    tp->max_idle_timeout = cfg->max_idle_timeout_ms;
    /* What we can receive: our DPLPMTUD ceiling (receive buffers take 64 KiB). */
    tp->max_udp_payload_size = cfg->max_udp_payload;
    tp->initial_max_data = cfg->initial_max_data;
    tp->initial_max_stream_data_bidi_local = cfg->initial_max_stream_data;
    tp->initial_max_stream_data_bidi_remote = cfg->initial_max_stream_data;
    tp->initial_max_stream_data_uni = cfg->initial_max_stream_data;
    tp->initial_max_streams_bidi = cfg->initial_max_streams_bidi;
    tp->initial_max_streams_uni = cfg->initial_max_streams_uni;
    tp->max_ack_delay = cfg->max_ack_delay_ms;
    /* RFC 9000 §18.2: at least 2; §5.1.1: a peer SHOULD supply this many. */
    tp->active_connection_id_limit = HO_QUIC_PEER_CIDS_MAX;
    tp->initial_scid = c->scid;
    tp->present |= ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    tp->disable_active_migration = cfg->disable_active_migration;
    /* RFC 9221 §3: announced only when DATAGRAM is on (absent = 0 = off). */
    tp->max_datagram_frame_size = cfg->max_datagram_frame_size;
    if (c->is_server) {
        /* RFC 9000 §7.3: the server echoes the client's first DCID. */
        tp->original_dcid = c->odcid;
        tp->present |= ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID);
        ho_random(tp->stateless_reset_token, sizeof(tp->stateless_reset_token));
        tp->present |= ho_quic_tp_bit(HO_QUIC_TP_STATELESS_RESET_TOKEN);
    }
    c->rx_max_data = c->rx_data_window = cfg->initial_max_data;
    c->local_max_streams[0] = cfg->initial_max_streams_bidi;
    c->local_max_streams[1] = cfg->initial_max_streams_uni;
    c->idle_timeout = HO_QUIC_MS(cfg->max_idle_timeout_ms);
}

ho_tls *ho_quic_conn_tls_new(ho_quic_conn *c, const char *server_name)
{
    ho_tls *t = ho_tls_new(c->cfg.tls, server_name);
    if (t == NULL)
        return NULL;
    ho_tls_set_user(t, c);
    ho_tls_set_secret_cb(t, on_secret, c);
    if (c->cfg.wall_clock_ms != 0)
        ho_tls_set_now(t, c->cfg.wall_clock_ms);
    ho_tls_set_conn_id(t, c->cfg.conn_id);
    return t;
}

static ho_quic_conn *conn_new(const ho_quic_config *cfg, bool is_server, const ho_quic_path *path, ho_quic_time now)
{
    if (cfg == NULL || cfg->tls == NULL || ho_tls_config_is_server(cfg->tls) != is_server)
        return NULL;
    ho_quic_conn *c = ho_mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->cfg = *cfg;
    ho_quic_config *k = &c->cfg;
    if (k->max_idle_timeout_ms == 0)
        k->max_idle_timeout_ms = DEFAULT_IDLE_MS;
    if (k->initial_max_data == 0)
        k->initial_max_data = DEFAULT_MAX_DATA;
    if (k->initial_max_stream_data == 0)
        k->initial_max_stream_data = DEFAULT_MAX_STREAM_DATA;
    if (k->initial_max_streams_bidi == 0)
        k->initial_max_streams_bidi = DEFAULT_MAX_STREAMS;
    if (k->initial_max_streams_uni == 0)
        k->initial_max_streams_uni = DEFAULT_MAX_STREAMS;
    if (k->max_ack_delay_ms == 0)
        k->max_ack_delay_ms = DEFAULT_MAX_ACK_DELAY_MS;
    if (k->max_datagram_size < HO_QUIC_MIN_DATAGRAM)
        k->max_datagram_size = HO_QUIC_MIN_DATAGRAM;
    if (k->max_udp_payload == 0)
        k->max_udp_payload = HO_QUIC_PMTUD_DEFAULT_MAX;
    if (k->max_udp_payload > 65527) /* RFC 9000 §18.2 */
        k->max_udp_payload = 65527;
    if (k->max_udp_payload < k->max_datagram_size)
        k->max_udp_payload = k->max_datagram_size;
    if (k->cid_len == 0 || k->cid_len > HO_QUIC_MAX_CID_LEN)
        k->cid_len = DEFAULT_CID_LEN;
    if (k->stream_send_buffer == 0)
        k->stream_send_buffer = DEFAULT_STREAM_SEND_BUFFER;
    if (k->datagram_queue == 0)
        k->datagram_queue = DEFAULT_DATAGRAM_QUEUE;
    if (k->max_datagram_frame_size > 65535)
        k->max_datagram_frame_size = 65535; /* no frame is larger than a UDP payload */
    c->is_server = is_server;
    c->state = HO_QUIC_STATE_HANDSHAKE;
    c->version = c->original_version = HO_QUIC_VERSION_1;
    if (path != NULL)
        c->path = *path;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        c->spaces[s].largest_rx = HO_QUIC_PN_NONE;
        c->spaces[s].ack_deadline = HO_QUIC_TIME_NEVER;
    }
    c->close_deadline = HO_QUIC_TIME_NEVER;
    c->idle_deadline = HO_QUIC_TIME_NEVER;
    c->created_at = now;
    c->pace_at = HO_QUIC_TIME_NEVER;
    const ho_quic_cc_ops *ops = ho_quic_cc_by_name(k->cc_name);
    ho_quic_cc_init(&c->cc, ops, k->max_datagram_size, now);
    ho_quic_recovery_callbacks cb = {c, ho_quic_conn_sent_acked, ho_quic_conn_sent_lost,
                                     ho_quic_conn_sent_discarded};
    ho_quic_recovery_init(&c->rec, is_server, &c->cc, &cb, k->initial_rtt);
    ho_quic_pacer_init(&c->pacer, k->max_datagram_size);
    ho_buf_init(&c->pkt);
    ho_quic_ecn_init(c);
    ho_quic_pmtud_init(c);
    ho_tls_out_init(&c->tls_out);
    c->scid.len = (uint8_t)k->cid_len;
    ho_quic_cid_generate(k, c->scid.data, c->scid.len);
    ho_quic_cid_init(c);
    c->tls = ho_quic_conn_tls_new(c, is_server ? NULL : k->server_name);
    if (c->tls == NULL) {
        ho_quic_conn_free(c);
        return NULL;
    }
    emit(c, HO_EV_CONN_OPEN, HO_LOG_DEBUG, 0, 0, "quic");
    c->tpx.on_peer = on_peer_tparams;
    c->tpx.on_peer_ctx = c;
    c->idle_deadline = now + HO_QUIC_MS(k->max_idle_timeout_ms);
    return c;
}

static int install_initial_keys(ho_quic_conn *c)
{
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    c->initial_cid = c->odcid;
    /* A client drawing VN with a version we do not speak (tests) protects
     * its Initial as version 1 (conn_send.c patches the number). */
    uint32_t v = ho_quic_version_supported(c->version) ? c->version : HO_QUIC_VERSION_1;
    int rc = ho_quic_initial_keys(v, c->odcid.data, c->odcid.len, c->is_server, &s->tx, &s->rx);
    if (rc == HO_OK) {
        s->has_tx = s->has_rx = true;
        quic_ev_key(c, HO_EV_KEY_INITIAL, HO_EV_KEY_TLS, true);
        quic_ev_key(c, HO_EV_KEY_INITIAL, HO_EV_KEY_TLS, false);
    }
    return rc;
}

ho_quic_conn *ho_quic_conn_new_client(const ho_quic_config *cfg, const ho_quic_path *path, ho_quic_time now)
{
    ho_quic_conn *c = conn_new(cfg, false, path, now);
    if (c == NULL)
        return NULL;
    /* RFC 9000 §7.2: an unpredictable DCID of at least 8 bytes. */
    c->dcid.len = HO_QUIC_MIN_INITIAL_DCID_LEN;
    ho_random(c->dcid.data, c->dcid.len);
    c->odcid = c->dcid;
    c->now = now;
    ho_event_threshold(); /* reads HANDOFF_LOG once */
    quic_ev_state(c, HO_EV_QSTATE_STARTED);
    set_local_tparams(c);
    if (ho_quic_client_setup_tls(c) != HO_OK || ho_quic_new_token_setup_client(c) != HO_OK ||
        install_initial_keys(c) != HO_OK || ho_tls_start(c->tls, &c->tls_out) != HO_OK ||
        ho_quic_conn_tls_input(c, HO_QUIC_PN_SPACE_INITIAL, now) != HO_OK) {
        ho_quic_conn_free(c);
        return NULL;
    }
    c->address_validated = true; /* a client never limits itself (§8.1 is the server's rule) */
    return c;
}

ho_quic_conn *ho_quic_conn_new_server(const ho_quic_config *cfg, const uint8_t *client_dcid, size_t client_dcid_len,
                                      const uint8_t *client_scid, size_t client_scid_len, const ho_quic_path *path,
                                      ho_quic_time now)
{
    /* RFC 9000 §7.2: a first Initial's DCID is at least 8 bytes. */
    if (client_dcid_len < HO_QUIC_MIN_INITIAL_DCID_LEN || client_dcid_len > HO_QUIC_MAX_CID_LEN ||
        client_scid_len > HO_QUIC_MAX_CID_LEN)
        return NULL;
    ho_quic_conn *c = conn_new(cfg, true, path, now);
    if (c == NULL)
        return NULL;
    c->cfg.token = NULL; /* client only */
    c->cfg.token_len = 0;
    ho_quic_cid_set(&c->odcid, client_dcid, client_dcid_len);
    ho_quic_cid_set(&c->dcid, client_scid, client_scid_len);
    c->peer_first_scid = c->dcid;
    c->now = now;
    ho_event_threshold(); /* reads HANDOFF_LOG once */
    quic_ev_state(c, HO_EV_QSTATE_STARTED);
    set_local_tparams(c);
    ho_quic_version_set_local(c);
    if (install_initial_keys(c) != HO_OK || ho_quic_early_server_setup(c) != HO_OK) {
        ho_quic_conn_free(c);
        return NULL;
    }
    ho_quic_recovery_set_amplification_limited(&c->rec, true, now);
    return c;
}

void ho_quic_conn_set_user(ho_quic_conn *c, void *user) { c->user = user; }
void *ho_quic_conn_get_user(const ho_quic_conn *c) { return c->user; }

void ho_quic_conn_free(ho_quic_conn *c)
{
    if (c == NULL)
        return;
    /* The last event: a subscriber frees what it hangs on the connection. */
    if (c->ev_slot != NULL || QUIC_EV(HO_EV_QUIC_STATE))
        quic_ev_state_emit(c, HO_EV_QSTATE_FREED);
    ho_quic_version_free(c);
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        ho_quic_space *sp = &c->spaces[s];
        ho_quic_keys_free(&sp->tx);
        ho_quic_keys_free(&sp->rx);
        ho_quic_rangeset_free(&sp->rx_pns);
        ho_quic_sendbuf_free(&sp->crypto_tx);
        ho_quic_recvbuf_free(&sp->crypto_rx);
    }
    /* Recovery frees its rings without callbacks: release the records of
     * the packets still outstanding first. */
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        const ho_quic_recovery_space *rs = &c->rec.spaces[s];
        for (size_t i = 0; i < rs->len; i++) {
            const ho_quic_sent_packet *p = &rs->ring[(rs->head + i) & (rs->cap - 1)];
            if (p->frames != 0 && !(p->flags & (HO_QUIC_SENT_ACKED | HO_QUIC_SENT_LOST | HO_QUIC_SENT_DISCARDED)))
                ho_mem_free((void *)p->frames);
        }
    }
    ho_quic_recovery_free(&c->rec);
    ho_quic_key_phase_free(c);
    ho_quic_early_free(c);
    ho_quic_conn_free_records(c);
    ho_quic_dgram_clear(c);
    ho_quic_streams_free(c);
    ho_quic_client_free(c);
    ho_quic_new_token_free(c);
    ho_tls_free(c->tls);
    ho_tls_out_free(&c->tls_out);
    ho_buf_free(&c->step.input);
    ho_buf_free(&c->step.rest);
    ho_wipe(c->step.secrets, sizeof(c->step.secrets));
    ho_buf_free(&c->pkt);
    ho_mem_free(c->rx_copy);
    ho_mem_free(c);
}

void ho_quic_conn_trim(ho_quic_conn *c)
{
    /* Not from inside a datagram's processing (rx_copy is in use), and not
     * before the handshake is done: until then a handshake step may be out
     * on a worker, writing the TLS output buffers (found by TSan,
     * test_quic_offload). hs_done is the I/O thread's own: reading the step's
     * flags here raced with the worker's writes next to them. No step is
     * taken out once the handshake is done. */
    if (c->receiving || !c->hs_done)
        return;
    ho_buf_free(&c->pkt);
    ho_mem_free(c->rx_copy);
    c->rx_copy = NULL;
    c->rx_copy_cap = 0;
    ho_quic_conn_free_records(c);
    ho_quic_recovery_trim(&c->rec);
    ho_quic_streams_trim(c);
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        ho_quic_sendbuf_trim(&c->spaces[s].crypto_tx);
        ho_quic_recvbuf_trim(&c->spaces[s].crypto_rx);
    }
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        if (c->tls_out.send[e].len == 0)
            ho_buf_free(&c->tls_out.send[e]);
}

/* ---- closing (RFC 9000 §10) ------------------------------------------------ */

static ho_quic_time three_pto(const ho_quic_conn *c)
{
    return 3 * ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
}

void ho_quic_conn_set_closed(ho_quic_conn *c)
{
    if (c->state == HO_QUIC_STATE_CLOSED)
        return;
    c->state = HO_QUIC_STATE_CLOSED;
    c->close_send_pending = false;
    quic_ev_state(c, HO_EV_QSTATE_CLOSED);
    emit(c, HO_EV_CONN_CLOSE, HO_LOG_DEBUG, (int64_t)c->close_code, c->close_by_peer,
         c->error == HO_OK ? "quic idle timeout" : c->close_is_app ? "quic application close" : "quic transport close");
    if (c->cfg.callbacks.closed != NULL)
        c->cfg.callbacks.closed(c->cfg.callbacks.ctx, c, c->error);
}

/* A connection error detected locally: enter the closing period and send
 * CONNECTION_CLOSE (§10.2.1). */
void ho_quic_conn_fail(ho_quic_conn *c, int err, uint64_t frame_type, ho_quic_time now)
{
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return;
    c->error = err;
    c->close_code = ho_quic_err_wire_code(err);
    c->close_frame_type = frame_type;
    c->close_is_app = false;
    c->close_by_peer = false;
    c->state = HO_QUIC_STATE_CLOSING;
    quic_ev_state(c, HO_EV_QSTATE_CLOSING);
    c->close_send_pending = true;
    /* §10.2: the closing state lasts at least three times the PTO. */
    c->close_deadline = now + three_pto(c);
}

void ho_quic_conn_enter_draining(ho_quic_conn *c, ho_quic_time now)
{
    if (c->state == HO_QUIC_STATE_CLOSED || c->state == HO_QUIC_STATE_DRAINING)
        return;
    c->state = HO_QUIC_STATE_DRAINING;
    quic_ev_state(c, HO_EV_QSTATE_DRAINING);
    c->close_send_pending = false;
    /* §10.2.2: no packets are sent while draining; it lasts 3 x PTO. */
    c->close_deadline = now + three_pto(c);
}

int ho_quic_conn_close(ho_quic_conn *c, uint64_t app_error, const char *reason, ho_quic_time now)
{
    quic_conn_wake(c);
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    c->error = HO_ERR_CLOSED;
    c->close_code = app_error;
    c->close_is_app = true;
    c->close_by_peer = false;
    c->close_reason[0] = 0;
    if (reason != NULL) {
        strncpy(c->close_reason, reason, sizeof(c->close_reason) - 1);
        c->close_reason[sizeof(c->close_reason) - 1] = 0;
    }
    c->state = HO_QUIC_STATE_CLOSING;
    c->now = now;
    quic_ev_state(c, HO_EV_QSTATE_CLOSING);
    c->close_send_pending = true;
    c->close_deadline = now + three_pto(c);
    return HO_OK;
}

void ho_quic_conn_restart_idle(ho_quic_conn *c, ho_quic_time now)
{
    if (c->idle_timeout == 0) {
        c->idle_deadline = HO_QUIC_TIME_NEVER;
        return;
    }
    /* RFC 9000 §10.1: at least three times the current PTO. */
    ho_quic_time t = c->idle_timeout, min = three_pto(c);
    c->idle_deadline = now + (t > min ? t : min);
}

/* ---- timers ---------------------------------------------------------------- */

ho_quic_time ho_quic_conn_next_timeout(const ho_quic_conn *c)
{
    if (c->state == HO_QUIC_STATE_CLOSED)
        return HO_QUIC_TIME_NEVER;
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return c->close_deadline;
    ho_quic_time t = c->idle_deadline;
    ho_quic_time r = ho_quic_recovery_timer(&c->rec);
    if (r < t)
        t = r;
    /* An ACK cannot leave while the amplification limit blocks the server:
     * its deadline would only spin the caller (the next datagram in lifts it). */
    bool amp_blocked = c->is_server && !c->address_validated &&
                       c->amp_sent + c->cfg.max_datagram_size > 3 * c->amp_received;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT && !amp_blocked; s++)
        if (c->spaces[s].ack_deadline < t)
            t = c->spaces[s].ack_deadline;
    if (c->pace_at < t)
        t = c->pace_at;
    ho_quic_time e = ho_quic_early_next_timeout(c);
    if (e < t)
        t = e;
    ho_quic_time p = ho_quic_path_next_timeout(c);
    return p < t ? p : t;
}

void ho_quic_conn_handle_timeout(ho_quic_conn *c, ho_quic_time now)
{
    c->now = now;
    if (c->state == HO_QUIC_STATE_CLOSED)
        return;
    if (c->state >= HO_QUIC_STATE_CLOSING) {
        if (now >= c->close_deadline)
            ho_quic_conn_set_closed(c);
        return;
    }
    if (now >= c->idle_deadline) {
        /* §10.1: silently closed, no CONNECTION_CLOSE. */
        c->error = HO_OK;
        emit(c, HO_EV_TIMEOUT, HO_LOG_DEBUG, 0, 0, "quic idle");
        ho_quic_conn_set_closed(c);
        return;
    }
    ho_quic_path_on_timeout(c, now);
    ho_quic_early_on_timeout(c, now);
    /* ACK deadlines are acted on by send. */
    if (ho_quic_recovery_timer(&c->rec) <= now) {
        ho_quic_timeout_action a;
        ho_quic_recovery_on_timeout(&c->rec, now, &a);
        quic_ev_cc(c);
        if (a.kind == HO_QUIC_TIMEOUT_PTO || a.kind == HO_QUIC_TIMEOUT_ANTI_DEADLOCK) {
            c->stats.pto_count++;
            ho_quic_pmtud_on_pto(c);
            ho_quic_pn_space sp = a.space;
            if (c->spaces[sp].discarded || !c->spaces[sp].has_tx)
                return;
            c->spaces[sp].probes = a.probes ? a.probes : 1;
            /* §6.2.4: a probe carries data when it can; re-send the unacked
             * CRYPTO data of the handshake spaces. */
            if (sp != HO_QUIC_PN_SPACE_APPLICATION)
                ho_quic_sendbuf_requeue_unacked(&c->spaces[sp].crypto_tx);
            else /* ... and the oldest unacknowledged stream data (stream.c) */
                ho_quic_streams_requeue_for_probe(c, (uint64_t)c->spaces[sp].probes * c->pmtud.current);
            /* §6.2.4: coalesce a probe in the Initial space with Handshake. */
            if (sp == HO_QUIC_PN_SPACE_INITIAL && c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].has_tx &&
                ho_quic_sendbuf_has_unacked(&c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].crypto_tx)) {
                ho_quic_sendbuf_requeue_unacked(&c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].crypto_tx);
                c->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].probes = 1;
            }
        }
    }
}

/* ---- getters ---------------------------------------------------------------- */

bool ho_quic_conn_handshake_done(const ho_quic_conn *c) { return c->hs_done; }
bool ho_quic_conn_handshake_confirmed(const ho_quic_conn *c) { return c->hs_confirmed; }
bool ho_quic_conn_is_closing(const ho_quic_conn *c)
{
    return c->state == HO_QUIC_STATE_CLOSING || c->state == HO_QUIC_STATE_DRAINING;
}
bool ho_quic_conn_is_closed(const ho_quic_conn *c) { return c->state == HO_QUIC_STATE_CLOSED; }
int ho_quic_conn_error(const ho_quic_conn *c) { return c->error; }
ho_tls *ho_quic_conn_tls(ho_quic_conn *c) { return c->tls; }

uint64_t ho_quic_conn_close_code(const ho_quic_conn *c, bool *is_app, bool *by_peer)
{
    if (is_app != NULL)
        *is_app = c->close_is_app;
    if (by_peer != NULL)
        *by_peer = c->close_by_peer;
    return c->close_code;
}

const char *ho_quic_conn_close_reason(const ho_quic_conn *c) { return c->close_reason; }

void ho_quic_conn_get_stats(const ho_quic_conn *c, ho_quic_conn_stats *st)
{
    *st = c->stats;
    st->packets_lost = c->rec.stats.packets_lost;
    st->packets_spurious_lost = c->rec.stats.packets_spurious_lost;
    st->congestion_undos = c->rec.stats.congestion_undos;
    st->packet_threshold = c->rec.packet_threshold;
    st->time_threshold_8ths = c->rec.time_threshold_8ths;
    st->cwnd = c->cc.cwnd;
    st->bytes_in_flight = c->cc.bytes_in_flight;
    st->smoothed_rtt = c->rec.rtt.smoothed_rtt;
    st->ecn_state = (int)c->ecn.state;
    st->ecn_capable = c->ecn.state == HO_QUIC_ECN_CAPABLE;
    st->ecn_ce_reported = c->ecn.ce_reported;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        st->ecn_ect0_received += c->ecn.rx[s][0];
        st->ecn_ce_received += c->ecn.rx[s][2];
    }
    st->max_datagram_size = c->pmtud.current;
    st->pmtud_probes_sent = c->pmtud.probes_sent;
    st->pmtud_probes_acked = c->pmtud.probes_acked;
    st->pmtud_probes_lost = c->pmtud.probes_lost;
    st->pmtud_black_holes = c->pmtud.black_holes;
}

uint8_t ho_quic_conn_ecn_codepoint(const ho_quic_conn *c) { return c->ecn.tx_mark; }
