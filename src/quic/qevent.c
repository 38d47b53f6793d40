/* Builds the payloads of the QUIC events (handoff/event.h) once a
 * subscriber wants them (qevent.h tests the mask first). Frames are read
 * back from the plaintext of the packet, so the build path keeps no list
 * of its own. */
#include <string.h>

#include "quic/conn_int.h"
#include "quic/qevent.h"

static void ev_init(const ho_quic_conn *c, ho_event *ev, ho_event_type t)
{
    memset(ev, 0, offsetof(ho_event, u));
    ev->type = t;
    ev->level = ho_event_level(t);
    ev->conn = c->cfg.conn_id;
    ev->role = c->is_server ? "server" : "client";
    ev->time = c->now;
    ev->odcid = c->odcid.data;
    ev->odcid_len = c->odcid.len;
    ev->slot = (void **)&c->ev_slot;
}

static uint8_t pkt_type_of(ho_quic_pkt_type t)
{
    switch (t) {
    case HO_QUIC_PKT_INITIAL:
        return HO_EV_PKT_INITIAL;
    case HO_QUIC_PKT_0RTT:
        return HO_EV_PKT_0RTT;
    case HO_QUIC_PKT_HANDSHAKE:
        return HO_EV_PKT_HANDSHAKE;
    case HO_QUIC_PKT_1RTT:
        return HO_EV_PKT_1RTT;
    case HO_QUIC_PKT_RETRY:
        return HO_EV_PKT_RETRY;
    case HO_QUIC_PKT_VERSION_NEGOTIATION:
        return HO_EV_PKT_VERSION_NEGOTIATION;
    }
    return HO_EV_PKT_UNKNOWN;
}

static void read_frames(ho_ev_packet *p, const uint8_t *payload, size_t len)
{
    ho_cursor cur = ho_cursor_make(payload, len);
    ho_quic_frame f;
    while (cur.len > 0) {
        if (ho_quic_frame_decode(&cur, &f) != HO_OK)
            break;
        if (p->nframes == HO_EV_FRAMES_MAX) {
            p->frames_truncated = true;
            break;
        }
        ho_ev_frame *e = &p->frames[p->nframes++];
        memset(e, 0, sizeof(*e));
        e->type = f.type;
        switch (f.type) {
        case HO_QUIC_FT_PADDING:
            e->length = f.padding.len;
            break;
        case HO_QUIC_FT_ACK:
        case HO_QUIC_FT_ACK_ECN:
            e->id = f.ack.largest;
            e->offset = f.ack.delay;
            e->length = f.ack.range_count + 1;
            {
                ho_quic_ack_iter it;
                ho_quic_ack_range r;
                ho_quic_ack_iter_init(&it, &f);
                for (int i = 0; i < HO_EV_ACK_RANGES && ho_quic_ack_iter_next(&it, &r); i++) {
                    e->ack_ranges[i][0] = r.smallest;
                    e->ack_ranges[i][1] = r.largest;
                }
            }
            break;
        case HO_QUIC_FT_NEW_TOKEN:
            e->length = f.new_token.len;
            break;
        case HO_QUIC_FT_DATAGRAM:
        case HO_QUIC_FT_DATAGRAM_LEN:
            e->length = f.datagram.len;
            break;
        case HO_QUIC_FT_CRYPTO:
            e->offset = f.crypto.offset;
            e->length = f.crypto.len;
            break;
        case HO_QUIC_FT_RESET_STREAM:
            e->id = f.reset_stream.stream_id;
            e->offset = f.reset_stream.final_size;
            e->length = f.reset_stream.error_code;
            break;
        case HO_QUIC_FT_STOP_SENDING:
            e->id = f.stop_sending.stream_id;
            e->length = f.stop_sending.error_code;
            break;
        case HO_QUIC_FT_DATA_BLOCKED:
            e->id = f.data_blocked.limit;
            break;
        case HO_QUIC_FT_STREAMS_BLOCKED_BIDI:
        case HO_QUIC_FT_STREAMS_BLOCKED_UNI:
            e->id = f.streams_blocked.limit;
            break;
        case HO_QUIC_FT_STREAM_DATA_BLOCKED:
            e->id = f.stream_data_blocked.stream_id;
            e->offset = f.stream_data_blocked.limit;
            break;
        case HO_QUIC_FT_MAX_DATA:
            e->id = f.max_data.maximum;
            break;
        case HO_QUIC_FT_MAX_STREAMS_BIDI:
        case HO_QUIC_FT_MAX_STREAMS_UNI:
            e->id = f.max_streams.maximum;
            break;
        case HO_QUIC_FT_MAX_STREAM_DATA:
            e->id = f.max_stream_data.stream_id;
            e->offset = f.max_stream_data.maximum;
            break;
        case HO_QUIC_FT_NEW_CONNECTION_ID:
            e->id = f.new_connection_id.seq;
            e->offset = f.new_connection_id.retire_prior_to;
            e->cid_len = f.new_connection_id.cid.len;
            memcpy(e->cid, f.new_connection_id.cid.data, e->cid_len);
            break;
        case HO_QUIC_FT_RETIRE_CONNECTION_ID:
            e->id = f.retire_connection_id.seq;
            break;
        case HO_QUIC_FT_CONNECTION_CLOSE:
        case HO_QUIC_FT_CONNECTION_CLOSE_APP:
            e->id = f.close.error_code;
            break;
        default:
            if (f.type >= HO_QUIC_FT_STREAM && f.type <= HO_QUIC_FT_STREAM_MAX) {
                e->type = HO_QUIC_FT_STREAM;
                e->id = f.stream.stream_id;
                e->offset = f.stream.offset;
                e->length = f.stream.len;
                e->fin = f.stream.fin;
            }
            break;
        }
    }
}

void quic_ev_packet_sent_begin(ho_quic_conn *c, ho_event *ev, const ho_quic_header *hdr, const uint8_t *payload,
                               size_t payload_len)
{
    ev_init(c, ev, HO_EV_QUIC_PACKET_SENT);
    ho_ev_packet *p = &ev->u.packet;
    memset(p, 0, offsetof(ho_ev_packet, frames));
    p->pkt_type = pkt_type_of(hdr->type);
    p->key_phase = hdr->key_phase;
    p->pn = hdr->pn;
    p->payload_len = (uint32_t)payload_len;
    if (hdr->type == HO_QUIC_PKT_INITIAL && hdr->token_len > 0) {
        p->token_len = (uint16_t)(hdr->token_len > UINT16_MAX ? UINT16_MAX : hdr->token_len);
        p->token_retry = c->retry_received; /* else the application's NEW_TOKEN token */
    }
    read_frames(p, payload, payload_len);
}

void quic_ev_packet_sent_end(ho_event *ev, size_t size, size_t overhead)
{
    ho_ev_packet *p = &ev->u.packet;
    p->size = (uint32_t)size;
    size_t used = overhead + p->payload_len;
    if (size > used) {
        /* The seal's padding: PADDING frames before the others (packet.c). */
        p->payload_len += (uint32_t)(size - used);
        if (p->nframes == HO_EV_FRAMES_MAX) {
            p->nframes--;
            p->frames_truncated = true;
        }
        memmove(&p->frames[1], &p->frames[0], p->nframes * sizeof(p->frames[0]));
        p->nframes++;
        memset(&p->frames[0], 0, sizeof(p->frames[0]));
        p->frames[0].type = 0x00;
        p->frames[0].length = size - used;
    }
    ho_event_emit(ev);
}

void quic_ev_packet_received_emit(ho_quic_conn *c, const ho_quic_header *hdr, const uint8_t *payload,
                                  size_t payload_len)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PACKET_RECEIVED);
    ho_ev_packet *p = &ev.u.packet;
    memset(p, 0, offsetof(ho_ev_packet, frames));
    p->pkt_type = pkt_type_of(hdr->type);
    p->key_phase = hdr->key_phase;
    p->pn = hdr->pn;
    p->size = (uint32_t)hdr->packet_len;
    p->payload_len = (uint32_t)payload_len;
    if (hdr->type == HO_QUIC_PKT_INITIAL && hdr->token_len > 0) {
        p->token_len = (uint16_t)(hdr->token_len > UINT16_MAX ? UINT16_MAX : hdr->token_len);
        /* server: a connection the endpoint made after its Retry */
        p->token_retry = c->is_server ? ho_quic_tparams_has(&c->tpx.local, HO_QUIC_TP_RETRY_SCID) : false;
    }
    read_frames(p, payload, payload_len);
    ho_event_emit(&ev);
}

void quic_ev_packet_lost_emit(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PACKET_LOST);
    ho_ev_packet *p = &ev.u.packet;
    memset(p, 0, offsetof(ho_ev_packet, frames));
    p->pkt_type = pkt_type_of(ho_quic_space_pkt(space));
    p->pn = pkt->pn;
    p->size = pkt->bytes;
    /* RFC 9002 §6.1.1: the packet threshold; else the time threshold
     * (§6.1.2). A probe is declared lost the same ways. */
    const ho_quic_recovery_space *rs = &c->rec.spaces[space];
    p->reason = rs->has_largest_acked && rs->largest_acked >= pkt->pn + HO_QUIC_PACKET_THRESHOLD ? HO_EV_LOSS_REORDERING
                                                                                                 : HO_EV_LOSS_TIME;
    ho_event_emit(&ev);
}

void quic_ev_packet_dropped_emit(ho_quic_conn *c, const ho_quic_header *hdr, size_t size, unsigned reason)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PACKET_DROPPED);
    ho_ev_packet *p = &ev.u.packet;
    memset(p, 0, offsetof(ho_ev_packet, frames));
    p->pkt_type = hdr != NULL ? pkt_type_of(hdr->type) : HO_EV_PKT_UNKNOWN;
    p->pn = UINT64_MAX;
    p->size = (uint32_t)size;
    p->reason = (uint8_t)reason;
    ho_event_emit(&ev);
}

static void metrics(const ho_quic_conn *c, ho_ev_metrics *m)
{
    const ho_quic_rtt *r = &c->rec.rtt;
    m->min_rtt = r->min_rtt;
    m->smoothed_rtt = r->smoothed_rtt;
    m->latest_rtt = r->latest_rtt;
    m->rtt_variance = r->rttvar;
    m->cwnd = c->cc.cwnd;
    m->bytes_in_flight = c->cc.bytes_in_flight;
    m->ssthresh = c->cc.ssthresh == HO_QUIC_CC_INFINITE_SSTHRESH ? UINT64_MAX : c->cc.ssthresh;
    m->pto_count = c->rec.pto_count;
}

void quic_ev_rtt_emit(ho_quic_conn *c)
{
    if (c->rec.rtt.samples == c->ev_rtt_samples)
        return;
    c->ev_rtt_samples = c->rec.rtt.samples;
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_RTT_UPDATED);
    metrics(c, &ev.u.metrics);
    ho_event_emit(&ev);
}

void quic_ev_cc_emit(ho_quic_conn *c)
{
    if (c->cc.cwnd == c->ev_cwnd && c->cc.bytes_in_flight == c->ev_bytes_in_flight && c->cc.ssthresh == c->ev_ssthresh)
        return;
    c->ev_cwnd = c->cc.cwnd;
    c->ev_bytes_in_flight = c->cc.bytes_in_flight;
    c->ev_ssthresh = c->cc.ssthresh;
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_CC_UPDATED);
    metrics(c, &ev.u.metrics);
    ho_event_emit(&ev);
}

void quic_ev_key_emit(ho_quic_conn *c, unsigned key_type, unsigned trigger, bool is_write)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_KEY_UPDATED);
    ev.u.key.key_type = (uint8_t)key_type;
    ev.u.key.trigger = (uint8_t)trigger;
    ev.u.key.is_write = is_write;
    ev.u.key.generation = key_type == HO_EV_KEY_1RTT ? c->kp.updates + (is_write && trigger == HO_EV_KEY_LOCAL_UPDATE) : 0;
    ho_event_emit(&ev);
}

void quic_ev_path_emit(ho_quic_conn *c, unsigned what)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PATH);
    ev.u.path.what = (uint8_t)what;
    ho_event_emit(&ev);
}

void quic_ev_ecn_emit(ho_quic_conn *c, unsigned old_state, unsigned new_state)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_ECN_STATE);
    ev.u.ecn.old_state = (uint8_t)old_state;
    ev.u.ecn.new_state = (uint8_t)new_state;
    ho_event_emit(&ev);
}

void quic_ev_pmtud_emit(ho_quic_conn *c, unsigned what, uint64_t probe, uint64_t old_size, uint64_t new_size)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PMTUD);
    ev.u.pmtud.what = (uint8_t)what;
    ev.u.pmtud.probe_size = probe;
    ev.u.pmtud.old_size = old_size;
    ev.u.pmtud.new_size = new_size;
    ho_event_emit(&ev);
}

void quic_ev_state_emit(ho_quic_conn *c, unsigned state)
{
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_STATE);
    ev.u.state.old_state = c->ev_state;
    ev.u.state.new_state = (uint8_t)state;
    ev.u.state.error = state >= HO_EV_QSTATE_CLOSING ? c->error : 0;
    ev.u.state.reason = "";
    if (state == HO_EV_QSTATE_STARTED) {
        ev.u.state.local = c->path.local_len != 0 ? (const struct sockaddr *)&c->path.local : NULL;
        ev.u.state.remote = c->path.remote_len != 0 ? (const struct sockaddr *)&c->path.remote : NULL;
    } else if (state >= HO_EV_QSTATE_CLOSING && state <= HO_EV_QSTATE_CLOSED) {
        ho_ev_state *st = &ev.u.state;
        st->by_peer = c->close_by_peer;
        if (c->error == HO_OK) {
            st->trigger = HO_EV_CLOSE_IDLE_TIMEOUT;
        } else if (c->error == HO_ERR_QUIC_STATELESS_RESET) {
            st->trigger = HO_EV_CLOSE_STATELESS_RESET;
        } else if (c->error == HO_ERR_QUIC_VERSION) {
            st->trigger = HO_EV_CLOSE_VERSION_MISMATCH;
        } else {
            st->trigger = c->close_is_app ? HO_EV_CLOSE_APPLICATION : HO_EV_CLOSE_ERROR;
            st->code = c->close_code;
            st->frame_type = c->close_is_app ? 0 : c->close_frame_type;
            st->reason = c->close_reason;
        }
    }
    ho_event_emit(&ev);
}

void quic_ev_state(ho_quic_conn *c, unsigned state)
{
    if (state == c->ev_state && state != HO_EV_QSTATE_STARTED)
        return;
    if (QUIC_EV(HO_EV_QUIC_STATE))
        quic_ev_state_emit(c, state);
    c->ev_state = (uint8_t)state;
}

void quic_ev_endpoint_emit(ho_event_type t, const uint8_t *dcid, size_t dcid_len, size_t size, unsigned reason,
                           ho_quic_time now)
{
    ho_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.type = t;
    ev.level = ho_event_level(t);
    ev.role = "server";
    ev.time = now;
    ev.odcid = dcid;
    ev.odcid_len = dcid != NULL ? dcid_len : 0;
    ev.u.datagram.size = (uint32_t)size;
    ev.u.datagram.reason = (uint8_t)reason;
    ho_event_emit(&ev);
}

void quic_ev_params_emit(ho_quic_conn *c, bool remote)
{
    const ho_quic_tparams *t = remote ? &c->tpx.peer : &c->tpx.local;
    ho_event ev;
    ev_init(c, &ev, HO_EV_QUIC_PARAMS);
    ho_ev_params *p = &ev.u.params;
    memset(p, 0, sizeof(*p));
    p->remote = remote;
    p->max_idle_timeout_ms = t->max_idle_timeout;
    p->max_udp_payload_size = t->max_udp_payload_size;
    p->initial_max_data = t->initial_max_data;
    p->initial_max_stream_data_bidi_local = t->initial_max_stream_data_bidi_local;
    p->initial_max_stream_data_bidi_remote = t->initial_max_stream_data_bidi_remote;
    p->initial_max_stream_data_uni = t->initial_max_stream_data_uni;
    p->initial_max_streams_bidi = t->initial_max_streams_bidi;
    p->initial_max_streams_uni = t->initial_max_streams_uni;
    p->ack_delay_exponent = t->ack_delay_exponent;
    p->max_ack_delay_ms = t->max_ack_delay;
    p->active_connection_id_limit = t->active_connection_id_limit;
    p->max_datagram_frame_size = t->max_datagram_frame_size;
    p->disable_active_migration = t->disable_active_migration;
    p->initial_scid_len = t->initial_scid.len;
    memcpy(p->initial_scid, t->initial_scid.data, t->initial_scid.len);
    ho_event_emit(&ev);
}
