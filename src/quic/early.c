/* 0-RTT over QUIC (RFC 9001 §4.6, §4.9.3, §5.6; RFC 9000 §7.4.1, §12.3,
 * §17.2.3; RFC 9369 §5). The TLS engine decides (src/tls/early.c: the
 * ticket, its age, the strike register, the application context); this
 * file holds what the transport adds:
 *
 * - the client's session blob: the TLS session wrapped with the QUIC
 *   version it was issued on and the server's transport parameters that
 *   0-RTT may use (§7.4.1), so a later connection starts in that version
 *   and sends 0-RTT within those limits;
 * - the 0-RTT keys (client write, server read) and their discard: the
 *   client's when 1-RTT keys are installed, the server's three PTOs after
 *   the first 1-RTT packet (RFC 9001 §4.9.3);
 * - the client's reaction to the server's answer: accepted, the new
 *   parameters must not be smaller (§7.4.1); rejected, the 0-RTT packets
 *   are forgotten and their frames sent again in 1-RTT (RFC 9001 §4.6.2,
 *   RFC 9002 §6.4);
 * - the server's context: a digest of its transport parameters and the
 *   application's settings, sealed in tickets; 0-RTT on a ticket of
 *   another context is rejected (RFC 9001 §4.6.2). */
#include <string.h>

#include "base/mem.h"
#include "crypto/prim.h"
#include "quic/conn_int.h"

/* The session blob: magic, format, version, the parameters, the TLS blob.
 * A TLS session blob starts with its version (1..3), never 0xff: an older
 * blob (a bare TLS session) still resumes, without 0-RTT. */
#define WRAP_MAGIC0 0xff
#define WRAP_MAGIC1 'Q'
#define WRAP_FORMAT 1
#define WRAP_HEADER (3 + 4 + 1 + 8 * HO_QUIC_EARLY_TP)

/* RFC 9000 §7.4.1 (and RFC 9221 §3): the parameters a client remembers,
 * in this order. */
static void tp_get(const ho_quic_tparams *p, uint64_t v[HO_QUIC_EARLY_TP])
{
    v[0] = p->initial_max_data;
    v[1] = p->initial_max_stream_data_bidi_local;
    v[2] = p->initial_max_stream_data_bidi_remote;
    v[3] = p->initial_max_stream_data_uni;
    v[4] = p->initial_max_streams_bidi;
    v[5] = p->initial_max_streams_uni;
    v[6] = p->active_connection_id_limit;
    v[7] = p->max_datagram_frame_size;
}

static void tp_set(ho_quic_tparams *p, const uint64_t v[HO_QUIC_EARLY_TP])
{
    p->initial_max_data = v[0];
    p->initial_max_stream_data_bidi_local = v[1];
    p->initial_max_stream_data_bidi_remote = v[2];
    p->initial_max_stream_data_uni = v[3];
    p->initial_max_streams_bidi = v[4];
    p->initial_max_streams_uni = v[5];
    p->active_connection_id_limit = v[6];
    p->max_datagram_frame_size = v[7];
}

int ho_quic_early_wrap_session(const ho_quic_conn *c, const uint8_t *tls_blob, size_t len, ho_buf *out)
{
    uint64_t v[HO_QUIC_EARLY_TP];
    tp_get(&c->tpx.peer, v);
    ho_put_u8(out, WRAP_MAGIC0);
    ho_put_u8(out, WRAP_MAGIC1);
    ho_put_u8(out, WRAP_FORMAT);
    ho_put_u32(out, c->version);
    ho_put_u8(out, HO_QUIC_EARLY_TP);
    for (size_t i = 0; i < HO_QUIC_EARLY_TP; i++)
        ho_put_u64(out, v[i]);
    ho_put_bytes(out, tls_blob, len);
    return out->failed ? HO_ERR_NOMEM : HO_OK;
}

static bool is_wrapped(const uint8_t *p, size_t len)
{
    return len > WRAP_HEADER && p[0] == WRAP_MAGIC0 && p[1] == WRAP_MAGIC1 && p[2] == WRAP_FORMAT &&
           p[7] == HO_QUIC_EARLY_TP;
}

void ho_quic_early_client_load(ho_quic_conn *c)
{
    if (c->session == NULL || !is_wrapped(c->session, c->session_len))
        return;
    ho_cursor r = ho_cursor_make(c->session + 3, WRAP_HEADER - 3);
    uint32_t version = 0;
    uint8_t n = 0;
    ho_get_u32(&r, &version);
    ho_get_u8(&r, &n);
    for (size_t i = 0; i < HO_QUIC_EARLY_TP; i++)
        ho_get_u64(&r, &c->early.tp[i]);
    c->early.session_version = version;
    c->early.remembered = true;
    /* RFC 9369 §5: a ticket is used only with the version it was issued
     * on: start in it when the configuration leaves the choice to us. */
    if (c->cfg.version == 0 && ho_quic_version_accepts(c, version))
        c->version = version;
}

const uint8_t *ho_quic_early_tls_session(const ho_quic_conn *c, size_t *len)
{
    *len = 0;
    if (c->session == NULL)
        return NULL;
    if (!is_wrapped(c->session, c->session_len)) {
        *len = c->session_len;
        return c->session;
    }
    /* RFC 9369 §5: not with another version than the ticket's. */
    if (c->early.session_version != c->version)
        return NULL;
    *len = c->session_len - WRAP_HEADER;
    return c->session + WRAP_HEADER;
}

int ho_quic_early_server_setup(ho_quic_conn *c)
{
    /* RFC 9001 §4.6.2: the server's transport parameters (and the
     * application's settings) the 0-RTT of a ticket depends on; equal
     * values mean none is reduced (RFC 9000 §7.4.1). */
    uint64_t v[HO_QUIC_EARLY_TP];
    tp_get(&c->tpx.local, v);
    ho_buf b;
    ho_buf_init(&b);
    ho_put_bytes(&b, "handoff quic 0-rtt 1", 20);
    for (size_t i = 0; i < HO_QUIC_EARLY_TP; i++)
        ho_put_u64(&b, v[i]);
    ho_put_u64(&b, c->cfg.early_context_len);
    if (c->cfg.early_context != NULL)
        ho_put_bytes(&b, c->cfg.early_context, c->cfg.early_context_len);
    uint8_t d[32];
    int rc = b.failed ? HO_ERR_NOMEM : crypto_hash(HO_HASH_SHA256, b.data, b.len, d);
    ho_buf_free(&b);
    c->cfg.early_context = NULL; /* not kept */
    c->cfg.early_context_len = 0;
    if (rc == HO_OK)
        rc = ho_tls_set_early_context(c->tls, d, sizeof(d));
    return rc;
}

int ho_quic_early_install(ho_quic_conn *c, bool is_write, const ho_tls_suite *suite, const uint8_t *secret)
{
    if (is_write == c->is_server || secret == NULL)
        return HO_OK; /* client writes, server reads 0-RTT */
    /* A client without remembered parameters (an older blob) sends no 0-RTT. */
    if (!c->is_server && !c->early.remembered)
        return HO_OK;
    ho_quic_keys *k = is_write ? &c->early.tx : &c->early.rx;
    if (is_write ? c->early.has_tx : c->early.has_rx)
        return HO_OK;
    /* RFC 9001 §5.1: 0-RTT packet protection from client_early_traffic_secret,
     * with the labels of the version (RFC 9369 §3.3). */
    ho_quic_key_material m;
    int rc = ho_quic_key_material_derive(c->version, suite->hash, suite->aead, secret, &m);
    if (rc == HO_OK)
        rc = ho_quic_keys_new(k, &m, is_write);
    ho_wipe(&m, sizeof(m));
    if (rc != HO_OK)
        return rc;
    if (!is_write) {
        c->early.has_rx = true;
        quic_ev_key(c, HO_EV_KEY_0RTT, HO_EV_KEY_TLS, false);
        return HO_OK;
    }
    c->early.has_tx = true;
    c->early.offered = true;
    quic_ev_key(c, HO_EV_KEY_0RTT, HO_EV_KEY_TLS, true);
    /* RFC 9000 §7.4.1: until the server's parameters arrive, 0-RTT uses
     * the remembered ones. */
    tp_set(&c->tpx.peer, c->early.tp);
    c->tx_max_data = c->early.tp[0];
    c->peer_max_streams[0] = c->early.tp[4];
    c->peer_max_streams[1] = c->early.tp[5];
    return HO_OK;
}

static uint64_t stream_limit(const ho_quic_conn *c, uint64_t id)
{
    const ho_quic_tparams *p = &c->tpx.peer;
    if (ho_quic_stream_is_uni(id))
        return p->initial_max_stream_data_uni;
    return ho_quic_stream_is_local(c, id) ? p->initial_max_stream_data_bidi_remote
                                          : p->initial_max_stream_data_bidi_local;
}

int ho_quic_early_after_tls(ho_quic_conn *c, ho_quic_time now)
{
    if (c->is_server || !c->early.offered || c->early.resolved)
        return HO_OK;
    ho_tls_early_status st = ho_tls_early_data_status(c->tls);
    if (st == HO_TLS_EARLY_OFFERED)
        return HO_OK;
    c->early.resolved = true;
    if (st == HO_TLS_EARLY_ACCEPTED) {
        /* RFC 9000 §7.4.1: a server that accepts 0-RTT MUST NOT reduce the
         * remembered limits; a client MAY treat that as a connection error
         * of type PROTOCOL_VIOLATION. */
        uint64_t v[HO_QUIC_EARLY_TP];
        tp_get(&c->tpx.peer, v);
        for (size_t i = 0; i < HO_QUIC_EARLY_TP; i++)
            if (v[i] < c->early.tp[i])
                return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    } else {
        /* RFC 9001 §4.6.2 / RFC 9002 §6.4: rejected: the 0-RTT packets are
         * forgotten (out of bytes in flight) and what they carried goes
         * again in 1-RTT packets, under the server's new limits. */
        ho_quic_keys_free(&c->early.tx);
        c->early.has_tx = false;
        c->early.requeue = true;
        ho_quic_recovery_discard_0rtt(&c->rec, now);
        c->early.requeue = false;
    }
    for (size_t i = 0; i < c->nstreams; i++) {
        ho_quic_stream *s = c->streams[i];
        uint64_t lim = stream_limit(c, s->id);
        if (s->has_send && (st != HO_TLS_EARLY_ACCEPTED || lim > s->tx_max))
            s->tx_max = lim;
    }
    return HO_OK;
}

void ho_quic_early_on_1rtt_keys(ho_quic_conn *c, bool is_write)
{
    /* RFC 9001 §4.9.3: a client SHOULD discard 0-RTT keys as soon as it
     * installs 1-RTT keys, as they have no use after that. */
    if (c->is_server || !is_write || !c->early.has_tx)
        return;
    ho_quic_keys_free(&c->early.tx);
    c->early.has_tx = false;
}

void ho_quic_early_on_1rtt_packet(ho_quic_conn *c, ho_quic_time now)
{
    /* RFC 9001 §4.9.3: a server MAY keep 0-RTT keys for reordered packets,
     * but discards them no later than three times the PTO after it
     * receives the first 1-RTT packet. */
    if (!c->is_server || !c->early.has_rx || c->early.discard_armed)
        return;
    c->early.discard_armed = true;
    c->early.discard_at = now + 3 * ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
}

ho_quic_time ho_quic_early_next_timeout(const ho_quic_conn *c)
{
    return c->early.has_rx && c->early.discard_armed ? c->early.discard_at : HO_QUIC_TIME_NEVER;
}

void ho_quic_early_on_timeout(ho_quic_conn *c, ho_quic_time now)
{
    if (!c->early.has_rx || !c->early.discard_armed || now < c->early.discard_at)
        return;
    ho_quic_keys_free(&c->early.rx);
    c->early.has_rx = false;
}

void ho_quic_early_free(ho_quic_conn *c)
{
    ho_quic_keys_free(&c->early.tx);
    ho_quic_keys_free(&c->early.rx);
    c->early.has_tx = c->early.has_rx = false;
}

ho_tls_early_status ho_quic_conn_early_data(const ho_quic_conn *c)
{
    if (!c->is_server && !c->early.offered)
        return HO_TLS_EARLY_NONE;
    return ho_tls_early_data_status(c->tls);
}
