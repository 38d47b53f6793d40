/* Packets and frames in: datagram -> coalesced packets (RFC 9000 §12.2)
 * -> unprotect (RFC 9001 §5) -> frames, checked against frame.h's
 * permission table (RFC 9000 §12.4, §12.5) -> handlers. Also ACK
 * scheduling (RFC 9000 §13.2) and address validation (§8.1). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

/* Received packet-number ranges kept per space (for ACK frames). */
#define RX_RANGES_MAX 64
/* Ranges of a received ACK frame handed to recovery. */
#define ACK_RANGES_MAX 256
/* CRYPTO data buffered beyond what TLS consumed (RFC 9000 §7.5: at least
 * 4096 bytes MUST be supported). */
#define CRYPTO_BUFFER_MAX (64u << 10)
/* Ack-eliciting packets after which the ACK is not delayed (§13.2.2). */
#define ACK_ELICITING_THRESHOLD 2

static int on_ack_frame(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_frame *f, ho_quic_time now)
{
    ho_quic_pn_range ranges[ACK_RANGES_MAX];
    size_t n = 0;
    ho_quic_ack_iter it;
    ho_quic_ack_range r;
    ho_quic_ack_iter_init(&it, f);
    while (n < ACK_RANGES_MAX && ho_quic_ack_iter_next(&it, &r)) {
        ranges[n].smallest = r.smallest;
        ranges[n].largest = r.largest;
        n++;
    }
    uint64_t exp = c->tpx.peer_received ? c->tpx.peer.ack_delay_exponent : HO_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT;
    uint64_t delay_us = exp < 63 && f->ack.delay < (UINT64_C(1) << (62 - exp)) ? f->ack.delay << exp : UINT64_C(1) << 40;
    ho_quic_ack_info info = {
        .ranges = ranges,
        .range_count = n,
        .ack_delay = space == HO_QUIC_PN_SPACE_APPLICATION ? HO_QUIC_US(delay_us) : 0,
        /* ECN counts are validated first (ecn.c, RFC 9000 §13.4.2.1), which
         * then reports a CE increase to the controller itself. */
        .has_ecn = false,
    };
    const ho_quic_recovery_space *rs = &c->rec.spaces[space];
    bool had_largest = rs->has_largest_acked;
    uint64_t prev_largest = rs->largest_acked;
    ho_quic_ecn_ack_begin(c);
    int rc = ho_quic_recovery_on_ack_received(&c->rec, space, &info, now);
    if (rc != HO_OK)
        return rc;
    bool increased = rs->has_largest_acked && (!had_largest || rs->largest_acked > prev_largest);
    uint64_t counts[3] = {f->ack.ect0, f->ack.ect1, f->ack.ce};
    ho_quic_ecn_ack_end(c, space, f->type == HO_QUIC_FT_ACK_ECN, counts, increased, now);
    quic_ev_rtt(c);
    quic_ev_cc(c);
    return HO_OK;
}

static int on_crypto_frame(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_frame *f, ho_quic_time now)
{
    ho_quic_space *s = &c->spaces[space];
    uint64_t end = f->crypto.offset + f->crypto.len;
    /* RFC 9000 §7.5: data beyond the buffer we are willing to hold is
     * CRYPTO_BUFFER_EXCEEDED. */
    if (end > s->crypto_rx.read + CRYPTO_BUFFER_MAX)
        return HO_ERR_QUIC(HO_QUIC_CRYPTO_BUFFER_EXCEEDED);
    int rc = ho_quic_recvbuf_insert(&s->crypto_rx, f->crypto.offset, f->crypto.data, f->crypto.len);
    if (rc != HO_OK)
        return rc;
    /* In order bytes go to TLS at once (post-handshake ones too). */
    return ho_quic_conn_tls_input(c, space, now);
}

static void on_connection_close(ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now)
{
    c->close_by_peer = true;
    c->close_code = f->close.error_code;
    c->close_is_app = f->type == HO_QUIC_FT_CONNECTION_CLOSE_APP;
    c->close_frame_type = f->close.frame_type;
    size_t n = f->close.reason_len < sizeof(c->close_reason) - 1 ? f->close.reason_len : sizeof(c->close_reason) - 1;
    memcpy(c->close_reason, f->close.reason, n);
    c->close_reason[n] = 0;
    if (c->close_is_app)
        c->error = HO_ERR_CLOSED;
    else if (f->close.error_code < 0x200)
        c->error = HO_ERR_QUIC(f->close.error_code);
    else
        c->error = HO_ERR_QUIC(HO_QUIC_INTERNAL_ERROR);
    /* RFC 9000 §10.2.2: receiving CONNECTION_CLOSE starts draining. */
    ho_quic_conn_enter_draining(c, now);
}

static int on_frame(ho_quic_conn *c, ho_quic_pkt_type pkt, const ho_quic_frame *f, ho_quic_time now)
{
    ho_quic_pn_space space = pkt == HO_QUIC_PKT_INITIAL ? HO_QUIC_PN_SPACE_INITIAL
                           : pkt == HO_QUIC_PKT_HANDSHAKE ? HO_QUIC_PN_SPACE_HANDSHAKE : HO_QUIC_PN_SPACE_APPLICATION;
    uint64_t t = f->type;
    if (t >= HO_QUIC_FT_STREAM && t <= HO_QUIC_FT_STREAM_MAX)
        return ho_quic_stream_on_frame(c, f, now);
    switch (t) {
    case HO_QUIC_FT_PADDING:
    case HO_QUIC_FT_PING:
        return HO_OK;
    case HO_QUIC_FT_ACK:
    case HO_QUIC_FT_ACK_ECN:
        return on_ack_frame(c, space, f, now);
    case HO_QUIC_FT_CRYPTO:
        return on_crypto_frame(c, space, f, now);
    case HO_QUIC_FT_RESET_STREAM:
        return ho_quic_stream_on_reset(c, f);
    case HO_QUIC_FT_STOP_SENDING:
        return ho_quic_stream_on_stop_sending(c, f);
    case HO_QUIC_FT_MAX_STREAM_DATA:
        return ho_quic_stream_on_max_stream_data(c, f);
    case HO_QUIC_FT_MAX_DATA:
        /* §19.9: a MAX_DATA that does not raise the limit is ignored. */
        if (f->max_data.maximum > c->tx_max_data) {
            c->tx_max_data = f->max_data.maximum;
            ho_quic_stream_notify_writable(c);
        }
        return HO_OK;
    case HO_QUIC_FT_MAX_STREAMS_BIDI:
    case HO_QUIC_FT_MAX_STREAMS_UNI: {
        int uni = t == HO_QUIC_FT_MAX_STREAMS_UNI;
        if (f->max_streams.maximum > c->peer_max_streams[uni])
            c->peer_max_streams[uni] = f->max_streams.maximum;
        return HO_OK;
    }
    case HO_QUIC_FT_DATA_BLOCKED:
    case HO_QUIC_FT_STREAMS_BLOCKED_BIDI:
    case HO_QUIC_FT_STREAMS_BLOCKED_UNI:
        return HO_OK;
    case HO_QUIC_FT_NEW_TOKEN:
        return ho_quic_new_token_on_frame(c, f);
    case HO_QUIC_FT_RETIRE_CONNECTION_ID:
        return ho_quic_cid_on_retire(c, f);
    case HO_QUIC_FT_NEW_CONNECTION_ID:
        return ho_quic_cid_on_new(c, f);
    case HO_QUIC_FT_PATH_RESPONSE:
        ho_quic_path_on_response(c, f, now);
        return HO_OK;
    case HO_QUIC_FT_PATH_CHALLENGE:
        ho_quic_path_on_challenge(c, f);
        return HO_OK;
    case HO_QUIC_FT_STREAM_DATA_BLOCKED: {
        ho_quic_stream *s;
        /* §19.13: for a send-only stream this is STREAM_STATE_ERROR. */
        return ho_quic_stream_for_frame(c, f->stream_data_blocked.stream_id, true, &s);
    }
    case HO_QUIC_FT_CONNECTION_CLOSE:
    case HO_QUIC_FT_CONNECTION_CLOSE_APP:
        on_connection_close(c, f, now);
        return HO_ERR_CLOSED;
    case HO_QUIC_FT_HANDSHAKE_DONE:
        /* RFC 9001 §4.1.2: the client's handshake is confirmed. (frame.h
         * already refuses it from a client, RFC 9000 §19.20.) */
        ho_quic_conn_confirm(c, now);
        return HO_OK;
    case HO_QUIC_FT_DATAGRAM:
    case HO_QUIC_FT_DATAGRAM_LEN: {
        /* RFC 9221 §3: a DATAGRAM frame when we announced no
         * max_datagram_frame_size, or one larger than it (type, length
         * and payload), is a PROTOCOL_VIOLATION. */
        uint64_t size = 1 + (t == HO_QUIC_FT_DATAGRAM_LEN ? ho_quic_varint_len(f->datagram.len) : 0) + f->datagram.len;
        if (c->cfg.max_datagram_frame_size == 0 || size > c->cfg.max_datagram_frame_size)
            return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
        c->stats.dgram_frames_received++;
        if (c->cfg.callbacks.datagram != NULL)
            c->cfg.callbacks.datagram(c->cfg.callbacks.ctx, c, f->datagram.data, f->datagram.len);
        return HO_OK;
    }
    default:
        return HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR);
    }
}

int ho_quic_conn_handle_frames(ho_quic_conn *c, ho_quic_pkt_type pkt, const uint8_t *payload, size_t len,
                               bool *ack_eliciting, ho_quic_time now)
{
    ho_quic_frame_reader r;
    ho_quic_frame f;
    int rc;
    ho_quic_frame_reader_init(&r, payload, len, pkt, !c->is_server);
    c->rx_non_probing = false;
    while ((rc = ho_quic_frame_read(&r, &f)) == HO_OK) {
        /* RFC 9000 §9.1: the probing frames. */
        if (f.type != HO_QUIC_FT_PADDING && f.type != HO_QUIC_FT_PATH_CHALLENGE &&
            f.type != HO_QUIC_FT_PATH_RESPONSE && f.type != HO_QUIC_FT_NEW_CONNECTION_ID)
            c->rx_non_probing = true;
        rc = on_frame(c, pkt, &f, now);
        if (rc == HO_ERR_CLOSED)
            return rc; /* CONNECTION_CLOSE: now draining */
        if (rc != HO_OK) {
            ho_quic_conn_fail(c, rc, f.type, now);
            return rc;
        }
        if (c->state >= HO_QUIC_STATE_CLOSING)
            return HO_ERR_CLOSED;
    }
    *ack_eliciting = (r.flags & HO_QUIC_FRAME_ACK_ELICITING) != 0;
    if (rc != HO_ERR_NOT_FOUND) {
        /* frame.h: encoding errors and frames not permitted in this packet
         * type (PROTOCOL_VIOLATION, RFC 9000 §12.4). */
        ho_quic_conn_fail(c, rc, r.error_frame_type, now);
        return rc;
    }
    return HO_OK;
}

static void schedule_ack(ho_quic_conn *c, ho_quic_pn_space space, uint64_t pn, bool eliciting, ho_quic_time now)
{
    ho_quic_space *s = &c->spaces[space];
    bool out_of_order = s->largest_rx != HO_QUIC_PN_NONE && pn != s->largest_rx + 1;
    s->ack_pending = true;
    if (!eliciting)
        return; /* §13.2.1: non-ack-eliciting packets are acknowledged only with others */
    s->unacked_eliciting++;
    ho_quic_time deadline;
    if (space != HO_QUIC_PN_SPACE_APPLICATION || s->unacked_eliciting >= ACK_ELICITING_THRESHOLD || out_of_order) {
        /* §13.2.1: Initial and Handshake ACKs are not delayed; §13.2.2:
         * every second ack-eliciting packet; §13.2.1: immediately when out
         * of order. */
        deadline = now;
    } else {
        /* §13.2.1: within max_ack_delay. */
        deadline = now + HO_QUIC_MS(c->cfg.max_ack_delay_ms);
    }
    if (deadline < s->ack_deadline)
        s->ack_deadline = deadline;
}

static void on_packet(ho_quic_conn *c, uint8_t *pkt, ho_quic_header *hdr, size_t dgram_len, ho_quic_time now)
{
    unsigned reason = HO_EV_DROP_UNEXPECTED;
    bool zero_rtt = hdr->type == HO_QUIC_PKT_0RTT;
    if (hdr->type == HO_QUIC_PKT_VERSION_NEGOTIATION || hdr->type == HO_QUIC_PKT_RETRY) {
        if (c->is_server) {
            reason = HO_EV_DROP_UNEXPECTED;
            goto drop; /* the endpoint's business */
        }
        ho_quic_client_on_retry_or_vn(c, pkt, hdr, now); /* client.c */
        return;
    }
    if (zero_rtt) {
        /* RFC 9001 §4.6.2, §5.7: a server without 0-RTT keys (0-RTT
         * rejected or off, or the keys discarded, §4.9.3) drops them; a
         * client never accepts one (RFC 9000 §17.2.3). Counted. */
        reason = HO_EV_DROP_KEY_UNAVAILABLE;
        if (!c->is_server)
            goto drop;
        c->stats.zero_rtt_received++;
        if (!c->early.has_rx)
            goto drop;
    }
    bool ours = ho_quic_cid_is_ours(c, &hdr->dcid) ||
                (c->is_server && hdr->type != HO_QUIC_PKT_1RTT && ho_quic_cid_eq(&hdr->dcid, &c->odcid));
    if (!ours) {
        reason = HO_EV_DROP_UNKNOWN_CONN;
        goto drop;
    }
    ho_quic_pn_space space = hdr->type == HO_QUIC_PKT_INITIAL ? HO_QUIC_PN_SPACE_INITIAL
                           : hdr->type == HO_QUIC_PKT_HANDSHAKE ? HO_QUIC_PN_SPACE_HANDSHAKE
                                                               : HO_QUIC_PN_SPACE_APPLICATION;
    ho_quic_space *s = &c->spaces[space];
    reason = HO_EV_DROP_KEY_UNAVAILABLE;
    if ((!s->has_rx && !zero_rtt) || s->discarded)
        goto drop; /* RFC 9001 §4.9, §5.7: no keys (yet, or any more) */
    /* RFC 9369 §4.1: packets of another version than the connection's are
     * dropped, but for the compatible switch (version.c). */
    const ho_quic_keys *vkeys;
    reason = HO_EV_DROP_UNEXPECTED;
    if (!ho_quic_version_rx(c, hdr, &vkeys))
        goto drop;
    reason = HO_EV_DROP_KEY_UNAVAILABLE;
    /* RFC 9001 §5.7: a server MUST NOT process 1-RTT packets before the
     * handshake is complete (the client's Finished verified). */
    if (c->is_server && hdr->type == HO_QUIC_PKT_1RTT && !c->hs_done)
        goto drop;
    if (space == HO_QUIC_PN_SPACE_INITIAL) {
        /* RFC 9000 §14.1: a server MUST discard an Initial in a datagram
         * smaller than 1200 bytes. */
        reason = HO_EV_DROP_UNEXPECTED;
        if (c->is_server && dgram_len < HO_QUIC_MIN_DATAGRAM)
            goto drop;
        /* §17.2.2: a client MUST discard (or reject) a server Initial with a
         * non-empty token. */
        if (!c->is_server && hdr->token_len != 0)
            goto drop;
    }
    /* 0-RTT: the Application Data space, its own keys (RFC 9001 §5.6). */
    int rc = zero_rtt ? ho_quic_packet_unprotect(&c->early.rx, pkt, hdr, s->largest_rx)
             : space == HO_QUIC_PN_SPACE_APPLICATION
                 ? ho_quic_key_phase_unprotect(c, pkt, hdr)
                 : ho_quic_packet_unprotect(vkeys != NULL ? vkeys : &s->rx, pkt, hdr, s->largest_rx);
    if (!c->is_server && vkeys != NULL)
        ho_quic_version_commit(c, hdr, rc == HO_OK);
    if (rc != HO_OK) {
        if (ho_quic_err_is_transport(rc))
            ho_quic_conn_fail(c, rc, 0, now); /* reserved bits (§17.2) */
        reason = ho_quic_err_is_transport(rc) ? HO_EV_DROP_PROTOCOL : HO_EV_DROP_DECRYPTION;
        goto drop;
    }
    uint64_t pn = hdr->pn;
    /* RFC 9000 §12.3: a duplicate MUST be discarded; below what we still
     * track counts as a duplicate. */
    if (ho_quic_rangeset_contains(&s->rx_pns, pn) ||
        (s->rx_pns.n == RX_RANGES_MAX && pn < s->rx_pns.r[0].start)) {
        reason = HO_EV_DROP_DUPLICATE;
        goto drop;
    }
    if (c->state >= HO_QUIC_STATE_CLOSING) {
        /* §10.2.1: answer with CONNECTION_CLOSE, process nothing. */
        if (c->state == HO_QUIC_STATE_CLOSING)
            c->close_send_pending = true;
        return;
    }
    if (!c->is_server && space == HO_QUIC_PN_SPACE_INITIAL && !c->dcid_from_server) {
        /* RFC 9000 §7.2: the client uses the SCID of the server's first
         * Initial as DCID from now on. */
        c->dcid = hdr->scid;
        c->peer_first_scid = hdr->scid;
        c->dcid_from_server = true;
    }
    c->stats.packets_received++;
    if (zero_rtt)
        c->stats.zero_rtt_accepted++;
    else if (hdr->type == HO_QUIC_PKT_1RTT)
        ho_quic_early_on_1rtt_packet(c, now); /* RFC 9001 §4.9.3 (early.c) */
    if (c->is_server && space == HO_QUIC_PN_SPACE_HANDSHAKE)
        ho_quic_version_on_handshake_rx(c);
    quic_ev_packet_received(c, hdr, pkt + hdr->payload_offset, hdr->payload_len);
    c->rx_dcid = hdr->dcid;
    bool largest = s->largest_rx == HO_QUIC_PN_NONE || pn > s->largest_rx;
    bool eliciting = false;
    rc = ho_quic_conn_handle_frames(c, hdr->type, pkt + hdr->payload_offset, hdr->payload_len, &eliciting, now);
    if (rc != HO_OK && c->state == HO_QUIC_STATE_CLOSED)
        return;
    /* The frames may have confirmed the handshake and dropped this space. */
    if (!s->discarded && (c->state < HO_QUIC_STATE_CLOSING || rc == HO_OK)) {
        schedule_ack(c, space, pn, eliciting, now);
        ho_quic_ecn_on_packet_received(c, space, c->ecn.rx_mark);
        ho_quic_rangeset_add(&s->rx_pns, pn, pn + 1);
        ho_quic_rangeset_trim(&s->rx_pns, RX_RANGES_MAX);
        if (s->largest_rx == HO_QUIC_PN_NONE || pn > s->largest_rx) {
            s->largest_rx = pn;
            s->largest_rx_time = now;
        }
    }
    if (space == HO_QUIC_PN_SPACE_HANDSHAKE && c->is_server) {
        /* RFC 9000 §8.1: a Handshake packet from the client validates its
         * address. RFC 9001 §4.9.1: the server discards Initial keys when it
         * first successfully processes a Handshake packet. */
        c->address_validated = true;
        ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
        ho_quic_conn_discard_space(c, HO_QUIC_PN_SPACE_INITIAL, now);
    }
    if (hdr->type == HO_QUIC_PKT_1RTT && rc == HO_OK)
        ho_quic_path_on_packet(c, largest, now); /* RFC 9000 §9.3 */
    /* RFC 9000 §10.1: restart the idle timer on a processed packet. */
    ho_quic_conn_restart_idle(c, now);
    c->eliciting_sent_since_rx = false;
    return;
drop:
    if (zero_rtt && c->is_server)
        c->stats.zero_rtt_dropped++;
    c->stats.packets_dropped++;
    quic_ev_packet_dropped(c, hdr, hdr->packet_len, reason);
}

/* full_len: the size of the datagram as it arrived (the rest of one kept
 * by a handshake step is shorter: §14.1 applies to the whole). */
static int conn_receive(ho_quic_conn *c, const uint8_t *dgram, size_t len, size_t full_len, const ho_quic_path *path,
                        ho_quic_time now)
{
    c->now = now;
    c->ecn.rx_mark = path != NULL ? path->ecn & 3 : 0;
    if (c->state == HO_QUIC_STATE_CLOSED)
        return HO_ERR_CLOSED;
    if (c->state == HO_QUIC_STATE_DRAINING)
        return HO_OK; /* §10.2.2: nothing is processed or sent */
    if (!ho_quic_path_accept_datagram(c, path)) {
        c->stats.packets_dropped++;
        quic_ev_packet_dropped(c, NULL, len, HO_EV_DROP_UNEXPECTED);
        return HO_OK;
    }
    c->rx_dgram_len = full_len;
    if (len > c->rx_copy_cap) {
        uint8_t *p = ho_mem_realloc(c->rx_copy, len);
        if (p == NULL)
            return HO_ERR_NOMEM;
        c->rx_copy = p;
        c->rx_copy_cap = len;
    }
    memcpy(c->rx_copy, dgram, len);
    c->receiving = true;
    if (!c->rx_is_rest) {
        c->stats.datagrams_received++;
        c->stats.bytes_received += len;
        if (ho_quic_path_same(path, &c->path))
            c->amp_received += len; /* a new path counts from its migration (path.c) */
    }
    uint64_t processed = c->stats.packets_received;
    ho_quic_datagram_iter it;
    ho_quic_datagram_iter_init(&it, c->rx_copy, len, c->scid.len);
    ho_quic_header hdr;
    uint8_t *pkt;
    while (c->state != HO_QUIC_STATE_CLOSED && c->state != HO_QUIC_STATE_DRAINING &&
           ho_quic_datagram_next(&it, &hdr, &pkt) == HO_OK) {
        on_packet(c, pkt, &hdr, full_len, now);
        if (c->step.pending && it.len > 0) {
            /* A handshake step was taken out of line: the packets after
             * this one (a 1-RTT packet after the client's Finished) need
             * its result; they are fed when it is back (in order, before
             * any later datagram). */
            size_t off = len - it.len;
            c->step.rest.len = 0;
            ho_put_bytes(&c->step.rest, dgram + off, it.len);
            if (!c->step.rest.failed) {
                c->step.has_rest = true;
                c->step.rest_path = path != NULL ? *path : c->path;
                c->step.rest_dgram_len = full_len;
            }
            break;
        }
    }
    if (c->stats.packets_received == processed && c->state < HO_QUIC_STATE_DRAINING &&
        ho_quic_cid_is_stateless_reset(c, dgram, len)) {
        /* RFC 9000 §10.3.1: a datagram we could not process that ends with
         * a token of the peer's: enter draining, send nothing more. */
        c->error = HO_ERR_QUIC_STATELESS_RESET;
        c->close_by_peer = true;
        ho_quic_conn_enter_draining(c, now);
    }
    c->rx_path = NULL;
    c->receiving = false;
    if (c->is_server && !c->address_validated) {
        /* A.6: a datagram may unblock the amplification limit. */
        bool limited = c->amp_sent >= 3 * c->amp_received;
        ho_quic_recovery_set_amplification_limited(&c->rec, limited, now);
    }
    if (c->writable_check) {
        c->writable_check = false;
        ho_quic_stream_notify_writable(c);
    }
    return HO_OK;
}

int ho_quic_conn_receive(ho_quic_conn *c, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                         ho_quic_time now)
{
    return conn_receive(c, dgram, len, len, path, now);
}

bool ho_quic_step_feed_rest(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_step *st = &c->step;
    if (!st->has_rest)
        return false;
    st->has_rest = false;
    /* The buffer is reused by a step this rest may capture: feed a copy. */
    ho_buf rest = st->rest;
    ho_buf_init(&st->rest);
    ho_quic_path path = st->rest_path;
    c->rx_is_rest = true;
    conn_receive(c, rest.data, rest.len, st->rest_dgram_len, &path, now);
    c->rx_is_rest = false;
    ho_buf_free(&rest);
    return true;
}
