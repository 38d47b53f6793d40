/* QUIC loss detection, RFC 9002 §6 and Appendix A (pseudo-code followed
 * function by function; names in comments are the Appendix's). See
 * recovery.h for the storage and its costs. */
#include "base/mem.h"
#include "quic/recovery.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_RING_CAP 64

/* ---- the per-space ring ------------------------------------------------ */

static ho_quic_sent_packet *ring_at(const ho_quic_recovery_space *sp, size_t i)
{
    return &sp->ring[(sp->head + i) & (sp->cap - 1)];
}

static int ring_push(ho_quic_recovery_space *sp, const ho_quic_sent_packet *pkt)
{
    if (sp->len == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : INITIAL_RING_CAP;
        if (cap > SIZE_MAX / sizeof(*sp->ring))
            return HO_ERR_NOMEM;
        ho_quic_sent_packet *ring = ho_mem_alloc(cap * sizeof(*ring));
        if (ring == NULL)
            return HO_ERR_NOMEM;
        for (size_t i = 0; i < sp->len; i++)
            ring[i] = *ring_at(sp, i);
        ho_mem_free(sp->ring);
        sp->ring = ring;
        sp->cap = cap;
        sp->head = 0;
    }
    *ring_at(sp, sp->len) = *pkt;
    sp->len++;
    return HO_OK;
}

/* First logical index whose pn is >= pn (len if none). */
static size_t ring_lower_bound_pn(const ho_quic_recovery_space *sp, uint64_t pn)
{
    size_t lo = 0, hi = sp->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(sp, mid)->pn < pn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* First logical index whose send time is > t (len if none): send times are
 * non-decreasing along the ring. */
static size_t ring_upper_bound_time(const ho_quic_recovery_space *sp, ho_quic_time t)
{
    size_t lo = 0, hi = sp->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(sp, mid)->time_sent <= t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool resolved(const ho_quic_sent_packet *p)
{
    return (p->flags & (HO_QUIC_SENT_ACKED | HO_QUIC_SENT_LOST | HO_QUIC_SENT_DISCARDED)) != 0;
}

static bool counts_ack_eliciting(const ho_quic_sent_packet *p)
{
    return (p->flags & (HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT)) ==
           (HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT);
}

static void space_reset(ho_quic_recovery_space *sp)
{
    sp->head = 0;
    sp->len = 0;
    sp->time_of_last_ack_eliciting = HO_QUIC_TIME_NEVER;
    sp->loss_time = HO_QUIC_TIME_NEVER;
    sp->ack_eliciting_in_flight = 0;
    sp->probes = 0;
    sp->pc_run = false;
    sp->pc_run_grew = false;
    sp->last_acked_dropped_time = INT64_MIN;
    sp->lost_head = 0;
    sp->lost_len = 0;
}

/* ---- setup --------------------------------------------------------------- */

void ho_quic_recovery_init(ho_quic_recovery *r, bool is_server, ho_quic_cc *cc,
                           const ho_quic_recovery_callbacks *cb, ho_quic_time initial_rtt)
{
    memset(r, 0, sizeof(*r));
    r->is_server = is_server;
    r->cc = cc;
    if (cb != NULL)
        r->cb = *cb;
    /* RFC 9002 A.4 */
    ho_quic_rtt_init(&r->rtt, initial_rtt);
    r->pto_count = 0;
    r->timer = HO_QUIC_TIME_NEVER;
    r->packet_threshold = HO_QUIC_PACKET_THRESHOLD;
    r->time_threshold_8ths = HO_QUIC_TIME_THRESHOLD_8THS;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++)
        space_reset(&r->spaces[s]);
}

void ho_quic_recovery_free(ho_quic_recovery *r)
{
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        ho_mem_free(r->spaces[s].ring);
        ho_mem_free(r->spaces[s].lost);
    }
    ho_mem_free(r->scratch);
    memset(r, 0, sizeof(*r));
    r->timer = HO_QUIC_TIME_NEVER;
}

void ho_quic_recovery_trim(ho_quic_recovery *r)
{
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        ho_quic_recovery_space *sp = &r->spaces[s];
        if (sp->len == 0 && sp->ring != NULL) {
            ho_mem_free(sp->ring);
            sp->ring = NULL;
            sp->cap = sp->head = 0;
        }
        /* The lost history goes too (8 KiB): at rest, a late ACK for an
         * old loss is not worth it. Its episode then cannot be undone. */
        ho_mem_free(sp->lost);
        sp->lost = NULL;
        sp->lost_head = sp->lost_len = 0;
    }
    ho_mem_free(r->scratch);
    r->scratch = NULL;
    r->scratch_cap = 0;
}

/* ---- timer (A.8) ----------------------------------------------------------- */

static bool any_ack_eliciting_in_flight(const ho_quic_recovery *r)
{
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++)
        if (r->spaces[s].ack_eliciting_in_flight > 0)
            return true;
    return false;
}

/* A.8 PeerCompletedAddressValidation */
static bool peer_completed_address_validation(const ho_quic_recovery *r)
{
    /* Clients validate the server's address implicitly; a server has
     * validated ours once a Handshake packet from it carried an ACK, or the
     * handshake is confirmed. */
    if (r->is_server)
        return true;
    return r->handshake_ack_received || r->handshake_confirmed;
}

/* d * 2^n, saturating. */
static ho_quic_time backoff(ho_quic_time d, unsigned n)
{
    while (n-- > 0) {
        if (d > INT64_MAX / 4)
            return INT64_MAX / 4;
        d *= 2;
    }
    return d;
}

/* A.8 GetLossTimeAndSpace */
static ho_quic_time loss_time_and_space(const ho_quic_recovery *r, ho_quic_pn_space *space)
{
    ho_quic_time t = HO_QUIC_TIME_NEVER;
    *space = HO_QUIC_PN_SPACE_INITIAL;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        if (r->spaces[s].loss_time < t) {
            t = r->spaces[s].loss_time;
            *space = (ho_quic_pn_space)s;
        }
    }
    return t;
}

/* A.8 GetPtoTimeAndSpace */
static ho_quic_time pto_time_and_space(const ho_quic_recovery *r, ho_quic_time now, ho_quic_pn_space *space)
{
    ho_quic_time duration = backoff(ho_quic_rtt_pto_base(&r->rtt), r->pto_count);
    /* Anti-deadlock PTO (§6.2.2.1) starts from the current time. */
    if (!any_ack_eliciting_in_flight(r)) {
        *space = r->has_handshake_keys ? HO_QUIC_PN_SPACE_HANDSHAKE : HO_QUIC_PN_SPACE_INITIAL;
        return now + duration;
    }
    ho_quic_time timeout = HO_QUIC_TIME_NEVER;
    *space = HO_QUIC_PN_SPACE_INITIAL;
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        const ho_quic_recovery_space *sp = &r->spaces[s];
        if (sp->ack_eliciting_in_flight == 0)
            continue;
        if (s == HO_QUIC_PN_SPACE_APPLICATION) {
            /* §6.2.1: MUST NOT arm the Application Data PTO before the
             * handshake is confirmed. */
            if (!r->handshake_confirmed)
                return timeout;
            /* §6.2.1: max_ack_delay (with backoff) only for Application
             * Data; the peer does not delay Initial/Handshake ACKs. */
            duration += backoff(r->rtt.max_ack_delay, r->pto_count);
        }
        ho_quic_time t = sp->time_of_last_ack_eliciting + duration;
        if (t < timeout) {
            timeout = t;
            *space = (ho_quic_pn_space)s;
        }
    }
    return timeout;
}

/* A.8 SetLossDetectionTimer */
static void set_loss_detection_timer(ho_quic_recovery *r, ho_quic_time now)
{
    ho_quic_pn_space space;
    ho_quic_time earliest_loss_time = loss_time_and_space(r, &space);
    if (earliest_loss_time != HO_QUIC_TIME_NEVER) {
        /* Time threshold loss detection; §6.2.1: the PTO MUST NOT be set
         * while a loss-time timer is. */
        r->timer = earliest_loss_time;
        return;
    }
    if (r->is_server && r->amplification_limited) {
        /* §6.2.2.1: a server blocked by the amplification limit MUST NOT
         * arm its PTO: nothing could be sent. */
        r->timer = HO_QUIC_TIME_NEVER;
        return;
    }
    if (!any_ack_eliciting_in_flight(r) && peer_completed_address_validation(r)) {
        /* Nothing to detect lost; a client that might still be blocking
         * the server's amplification limit keeps the timer (§6.2.2.1). */
        r->timer = HO_QUIC_TIME_NEVER;
        return;
    }
    r->timer = pto_time_and_space(r, now, &space);
}

ho_quic_time ho_quic_recovery_timer(const ho_quic_recovery *r) { return r->timer; }

ho_quic_time ho_quic_recovery_pto_period(const ho_quic_recovery *r, ho_quic_pn_space space)
{
    ho_quic_time d = ho_quic_rtt_pto_base(&r->rtt);
    if (space == HO_QUIC_PN_SPACE_APPLICATION)
        d += r->rtt.max_ack_delay;
    return d;
}

/* ---- sending (A.5) --------------------------------------------------------- */

int ho_quic_recovery_on_packet_sent(ho_quic_recovery *r, ho_quic_pn_space space,
                                    const ho_quic_sent_packet *pkt, ho_quic_time now)
{
    if ((unsigned)space >= HO_QUIC_PN_SPACE_COUNT)
        return HO_ERR_INVALID_ARG;
    ho_quic_recovery_space *sp = &r->spaces[space];
    if (sp->discarded)
        return HO_ERR_INVALID_ARG;
    /* RFC 9000 §12.3: packet numbers only increase within a space; the
     * ring's ordering and the loss-detection prefix rely on it. */
    if (sp->has_sent && pkt->pn <= sp->largest_sent)
        return HO_ERR_INVALID_ARG;

    ho_quic_sent_packet rec = *pkt;
    rec.flags &= HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT | HO_QUIC_SENT_ZERO_RTT | HO_QUIC_SENT_ECT0 |
                 HO_QUIC_SENT_PMTU_PROBE;
    rec.time_sent = now;
    if (sp->len > 0 && ring_at(sp, sp->len - 1)->time_sent > now)
        rec.time_sent = ring_at(sp, sp->len - 1)->time_sent;
    int rv = ring_push(sp, &rec);
    if (rv != HO_OK)
        return rv;
    sp->has_sent = true;
    sp->largest_sent = rec.pn;
    r->stats.packets_sent++;

    if (rec.flags & HO_QUIC_SENT_ACK_ELICITING) {
        if (sp->probes > 0)
            sp->probes--;
    }
    if (rec.flags & HO_QUIC_SENT_IN_FLIGHT) {
        if (rec.flags & HO_QUIC_SENT_ACK_ELICITING) {
            sp->time_of_last_ack_eliciting = rec.time_sent;
            sp->ack_eliciting_in_flight++;
        }
        /* B.4 OnPacketSentCC */
        if (r->cc != NULL) {
            ho_quic_cc_packet tx;
            ho_quic_cc_on_packet_sent_tx(r->cc, space, rec.pn, rec.bytes, rec.time_sent, &tx);
            ho_quic_sent_packet *stored = ring_at(sp, sp->len - 1);
            stored->cc_delivered = tx.delivered;
            stored->cc_delivered_time = tx.delivered_time;
            stored->cc_first_sent_time = tx.first_sent_time;
            stored->cc_tx_in_flight = tx.tx_in_flight;
            stored->cc_lost = tx.lost;
            stored->cc_app_limited = tx.is_app_limited;
        }
        set_loss_detection_timer(r, now);
    }
    return HO_OK;
}

/* The controller's view of a sent packet (cc/cc.h). */
static void cc_packet_of(ho_quic_cc_packet *c, const ho_quic_sent_packet *p)
{
    c->pn = p->pn;
    c->time_sent = p->time_sent;
    c->bytes = p->bytes;
    c->delivered = p->cc_delivered;
    c->delivered_time = p->cc_delivered_time;
    c->first_sent_time = p->cc_first_sent_time;
    c->tx_in_flight = p->cc_tx_in_flight;
    c->lost = p->cc_lost;
    c->is_app_limited = p->cc_app_limited;
}

/* ---- persistent congestion (§7.6, B.8) ------------------------------------- */

/* Was a packet sent in (t1, t2) acknowledged in a space other than `except`?
 * Exact for records still in a ring; for records already dropped, only the
 * newest acknowledged one is remembered, so an acknowledgment hidden behind
 * a newer one is missed and persistent congestion may be declared — the
 * single-space fallback RFC 9002 §7.6.2 allows. */
static bool acked_in_other_space(const ho_quic_recovery *r, ho_quic_pn_space except, ho_quic_time t1,
                                 ho_quic_time t2)
{
    for (int s = 0; s < HO_QUIC_PN_SPACE_COUNT; s++) {
        const ho_quic_recovery_space *sp = &r->spaces[s];
        if (s == (int)except || sp->discarded)
            continue;
        if (sp->last_acked_dropped_time > t1 && sp->last_acked_dropped_time < t2)
            return true;
        for (size_t i = ring_upper_bound_time(sp, t1); i < sp->len; i++) {
            const ho_quic_sent_packet *p = ring_at(sp, i);
            if (p->time_sent >= t2)
                break;
            if (p->flags & HO_QUIC_SENT_ACKED)
                return true;
        }
    }
    return false;
}

static void evaluate_persistent_congestion(ho_quic_recovery *r, ho_quic_pn_space space)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    if (!sp->pc_run || !sp->pc_run_grew)
        return;
    sp->pc_run_grew = false;
    /* §7.6.2: two ack-eliciting lost packets, nothing sent between them
     * acknowledged in any space, more than the persistent congestion
     * duration (§7.6.1) apart. */
    if (sp->pc_run_end - sp->pc_run_start <= ho_quic_rtt_persistent_congestion_duration(&r->rtt))
        return;
    if (acked_in_other_space(r, space, sp->pc_run_start, sp->pc_run_end))
        return;
    r->pc_pending = true;
    sp->pc_run = false;
}

/* Drops the resolved record at the front, following the lost run. */
static void drop_front(ho_quic_recovery *r, ho_quic_pn_space space)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    const ho_quic_sent_packet *p = ring_at(sp, 0);
    if (p->flags & HO_QUIC_SENT_ACKED) {
        /* An acknowledged packet ends the run; judge the run first. */
        evaluate_persistent_congestion(r, space);
        sp->pc_run = false;
        sp->pc_run_grew = false;
        sp->last_acked_dropped_time = p->time_sent;
    } else if ((p->flags & HO_QUIC_SENT_LOST) && (p->flags & HO_QUIC_SENT_ACK_ELICITING) &&
               !(p->flags & HO_QUIC_SENT_PMTU_PROBE)) {
        /* B.8: only packets sent after the first RTT sample (§7.6.2: the
         * period SHOULD NOT start before there is one). */
        if (r->rtt.has_sample && p->time_sent > r->rtt.first_sample_time) {
            if (!sp->pc_run) {
                sp->pc_run = true;
                sp->pc_run_start = p->time_sent;
            }
            sp->pc_run_end = p->time_sent;
            sp->pc_run_grew = true;
        }
    }
    sp->head = (sp->head + 1) & (sp->cap - 1);
    sp->len--;
}

/* ---- spurious losses (RFC 9002 §6.1.1, §6.1.2) ------------------------------- */

/* §6.1.2: max(kTimeThreshold * max(smoothed_rtt, latest_rtt), kGranularity),
 * kTimeThreshold being 9/8 until reordering made it adapt. */
static ho_quic_time loss_delay(const ho_quic_recovery *r)
{
    ho_quic_time base = r->rtt.smoothed_rtt > r->rtt.latest_rtt ? r->rtt.smoothed_rtt : r->rtt.latest_rtt;
    ho_quic_time d = base / 8 * (ho_quic_time)r->time_threshold_8ths;
    return d > HO_QUIC_GRANULARITY ? d : HO_QUIC_GRANULARITY;
}

static ho_quic_lost_record *lost_at(const ho_quic_recovery_space *sp, size_t i)
{
    return &sp->lost[(sp->lost_head + i) & (HO_QUIC_LOST_HISTORY - 1)];
}

/* Remembers a packet just declared lost (the oldest record makes room).
 * Without memory it is simply not remembered: a late ACK for it will then
 * not count as spurious. */
static bool lost_push(ho_quic_recovery_space *sp, const ho_quic_sent_packet *p, bool congestion, ho_quic_time now)
{
    if (sp->lost == NULL) {
        sp->lost = ho_mem_alloc(HO_QUIC_LOST_HISTORY * sizeof(*sp->lost));
        if (sp->lost == NULL)
            return false;
        sp->lost_head = sp->lost_len = 0;
    }
    if (sp->lost_len == HO_QUIC_LOST_HISTORY) {
        sp->lost_head = (sp->lost_head + 1) & (HO_QUIC_LOST_HISTORY - 1);
        sp->lost_len--;
    }
    ho_quic_lost_record *l = lost_at(sp, sp->lost_len++);
    l->pn = p->pn;
    l->time_sent = p->time_sent;
    l->time_lost = now;
    l->episode = 0;
    l->congestion = congestion;
    l->spurious = false;
    return true;
}

/* Forgets records declared lost more than four PTO periods ago, and
 * spurious ones at the front. */
static void lost_expire(ho_quic_recovery *r, ho_quic_pn_space space, ho_quic_time now)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    ho_quic_time keep = 4 * ho_quic_recovery_pto_period(r, space);
    while (sp->lost_len > 0) {
        const ho_quic_lost_record *l = lost_at(sp, 0);
        if (!l->spurious && now - l->time_lost <= keep)
            break;
        sp->lost_head = (sp->lost_head + 1) & (HO_QUIC_LOST_HISTORY - 1);
        sp->lost_len--;
    }
}

/* First index of the lost history with pn >= pn. */
static size_t lost_lower_bound(const ho_quic_recovery_space *sp, uint64_t pn)
{
    size_t lo = 0, hi = sp->lost_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (lost_at(sp, mid)->pn < pn)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Undoes the congestion response of the newest episode, whose every loss
 * proved spurious: the window, ssthresh and the algorithm's state (CUBIC's
 * curve, NewReno's counter) as they were before the event. The generic
 * layer does it from the saved copy, so no algorithm needs an undo hook;
 * a controller with on_spurious_congestion hears of it afterwards. */
static void undo_congestion_event(ho_quic_recovery *r, ho_quic_time now)
{
    ho_quic_loss_episode *ep = &r->episode;
    ho_quic_cc *cc = r->cc;
    ep->undoable = false;
    if (cc == NULL || cc->congestion_events != ep->events_after)
        return; /* a later event (ECN-CE) stands */
    uint64_t cwnd = cc->cwnd;
    cc->u = ep->saved.u;
    cc->ssthresh = ep->saved.ssthresh;
    cc->cwnd = ep->saved.cwnd > cwnd ? ep->saved.cwnd : cwnd;
    cc->recovery_start_time = ep->saved.recovery_start_time;
    cc->in_recovery = false;
    cc->recovery_send_credit = false;
    r->stats.congestion_undos++;
    ho_quic_cc_on_spurious_congestion(cc, now);
}

/* The acknowledged ranges against the lost history: a packet declared lost
 * and now acknowledged was only reordered (or its ACK was). RFC 9002
 * §6.1.1 / §6.1.2 allow raising the thresholds after such spurious
 * losses: the packet threshold out of the way, the time threshold to
 * cover the time the packet took. prev_largest is the largest
 * acknowledged before this ACK. */
static void detect_spurious_losses(ho_quic_recovery *r, ho_quic_pn_space space, const ho_quic_ack_info *ack,
                                   bool had_largest, uint64_t prev_largest, ho_quic_time now)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    lost_expire(r, space, now);
    if (sp->lost_len == 0)
        return;
    bool undo = false;
    for (size_t k = 0; k < ack->range_count; k++) {
        const ho_quic_pn_range *rg = &ack->ranges[k];
        for (size_t i = lost_lower_bound(sp, rg->smallest); i < sp->lost_len; i++) {
            ho_quic_lost_record *l = lost_at(sp, i);
            if (l->pn > rg->largest)
                break;
            if (l->spurious)
                continue;
            l->spurious = true;
            r->stats.packets_spurious_lost++;
            /* §6.1.1: reordered by (largest acknowledged before it) - pn
             * packets. The packet threshold then steps aside for the time
             * threshold, as RACK does once it sees reordering (RFC 8985
             * §6.2): raising it to the distance seen + 1 kept producing
             * spurious losses while the window (and with it the distance)
             * grew (netsim reorder scenario: 0.50-0.56 s against 0.46 s). */
            if (had_largest && prev_largest > l->pn) {
                uint64_t distance = prev_largest - l->pn;
                if (distance > r->stats.reorder_distance_max)
                    r->stats.reorder_distance_max = distance;
                r->packet_threshold = HO_QUIC_PACKET_THRESHOLD_MAX;
            }
            /* §6.1.2: a threshold that would have waited for it, with an
             * eighth more for the next one. */
            ho_quic_time base = r->rtt.smoothed_rtt > r->rtt.latest_rtt ? r->rtt.smoothed_rtt : r->rtt.latest_rtt;
            if (base >= 8) {
                ho_quic_time took = now - l->time_sent;
                uint64_t want = (uint64_t)(took * 9 / 8 / (base / 8)) + 1;
                if (want > HO_QUIC_TIME_THRESHOLD_8THS_MAX)
                    want = HO_QUIC_TIME_THRESHOLD_8THS_MAX;
                if (want > r->time_threshold_8ths)
                    r->time_threshold_8ths = (uint32_t)want;
            }
            ho_quic_loss_episode *ep = &r->episode;
            if (l->episode != 0 && l->episode == ep->id && ep->undoable && ++ep->spurious == ep->lost)
                undo = true;
        }
    }
    if (undo)
        undo_congestion_event(r, now);
    lost_expire(r, space, now);
}

/* ---- loss detection (A.10, B.8) -------------------------------------------- */

/* B.8 OnPacketsLost, congestion half: the controller's response, and the
 * loss episode it belongs to. A new congestion event starts an episode
 * with a copy of the controller from before it; losses inside its recovery
 * period join it. Its n congestion losses, among the last `pushed` lost
 * records (this call's), get its id. */
static void on_congestion_losses(ho_quic_recovery *r, ho_quic_recovery_space *sp, uint64_t lost_bytes, size_t n,
                                 size_t pushed, ho_quic_time newest_lost_time, ho_quic_time now)
{
    ho_quic_loss_episode *ep = &r->episode;
    ho_quic_cc *cc = r->cc;
    uint64_t events = cc->congestion_events;
    bool may_start = !ho_quic_cc_in_recovery(cc, newest_lost_time);
    if (may_start)
        ep->saved = *cc;
    ho_quic_cc_on_packets_lost(cc, lost_bytes, newest_lost_time, now);
    uint32_t id = 0;
    if (cc->congestion_events != events) {
        ep->id++;
        if (ep->id == 0)
            ep->id = 1;
        ep->undoable = may_start;
        ep->lost = n;
        ep->spurious = 0;
        ep->events_after = cc->congestion_events;
        id = ep->id;
    } else if (ep->undoable && cc->congestion_events == ep->events_after) {
        ep->lost += n; /* inside the episode's recovery period */
        id = ep->id;
    }
    if (id == 0 || sp->lost == NULL)
        return;
    size_t tagged = 0;
    for (size_t i = sp->lost_len, k = 0; i-- > 0 && k < pushed; k++) {
        ho_quic_lost_record *l = lost_at(sp, i);
        if (l->congestion) {
            l->episode = id;
            tagged++;
        }
    }
    if (tagged < n) /* some records were not kept: the episode cannot be proved spurious */
        ep->undoable = false;
}

/* A.10 DetectAndRemoveLostPackets followed by B.8 OnPacketsLost. Lost
 * packets are always a prefix of the unresolved ones (both thresholds are
 * monotone along the ring), so only the front is examined, and everything
 * resolved there is dropped on the way. */
static void detect_and_remove_lost_packets(ho_quic_recovery *r, ho_quic_pn_space space, ho_quic_time now)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    sp->loss_time = HO_QUIC_TIME_NEVER;
    if (!sp->has_largest_acked)
        return;

    /* §6.1.2: max(9/8 * max(latest_rtt, smoothed_rtt), kGranularity), the
     * 9/8 adapted to the reordering seen. */
    ho_quic_time delay = loss_delay(r);
    /* Packets sent before this time are deemed lost. */
    ho_quic_time lost_send_time = now - delay;
    uint64_t lost_bytes = 0;
    ho_quic_time newest_lost_time = INT64_MIN;
    size_t cong_lost = 0; /* in-flight losses that are a congestion signal */
    size_t pushed = 0;    /* records added to the lost history */

    while (sp->len > 0) {
        ho_quic_sent_packet *p = ring_at(sp, 0);
        if (resolved(p)) {
            r->stats.records_visited++;
            drop_front(r, space);
            continue;
        }
        if (p->pn > sp->largest_acked)
            break;
        /* §6.1: lost if sent kPacketThreshold before an acknowledged packet
         * (§6.1.1) or long enough ago (§6.1.2). */
        if (p->time_sent <= lost_send_time || sp->largest_acked >= p->pn + r->packet_threshold) {
            p->flags |= HO_QUIC_SENT_LOST;
            if (counts_ack_eliciting(p))
                sp->ack_eliciting_in_flight--;
            if ((p->flags & HO_QUIC_SENT_IN_FLIGHT) && (p->flags & HO_QUIC_SENT_PMTU_PROBE)) {
                /* RFC 9002 §3 / RFC 9000 §14.4: a lost PMTU probe leaves the
                 * flight without a congestion event (nor persistent
                 * congestion, drop_front). */
                if (r->cc != NULL)
                    ho_quic_cc_on_discarded(r->cc, p->bytes);
            }
            bool congestion = (p->flags & (HO_QUIC_SENT_IN_FLIGHT | HO_QUIC_SENT_PMTU_PROBE)) == HO_QUIC_SENT_IN_FLIGHT;
            if (congestion) {
                if (r->cc != NULL) {
                    ho_quic_cc_packet lp;
                    cc_packet_of(&lp, p);
                    ho_quic_cc_on_packet_lost(r->cc, &lp, now);
                }
                lost_bytes += p->bytes;
                if (p->time_sent > newest_lost_time)
                    newest_lost_time = p->time_sent;
                cong_lost++;
            }
            /* Its episode is set once the congestion event is known. */
            if (lost_push(sp, p, congestion, now))
                pushed++;
            r->stats.packets_lost++;
            if (r->cb.on_lost != NULL)
                r->cb.on_lost(r->cb.ctx, space, p);
            continue; /* dropped at the next turn, extending the lost run */
        }
        /* The first packet not yet lost sets the timer for the rest. */
        sp->loss_time = p->time_sent + delay;
        break;
    }
    evaluate_persistent_congestion(r, space);

    /* B.8 OnPacketsLost: congestion event for in-flight losses, then
     * persistent congestion. */
    if (r->cc != NULL && lost_bytes > 0)
        on_congestion_losses(r, sp, lost_bytes, cong_lost, pushed, newest_lost_time, now);
    if (r->pc_pending) {
        r->pc_pending = false;
        r->episode.undoable = false; /* §7.6.2 stands: no undo */
        r->stats.persistent_congestion++;
        if (r->cc != NULL)
            ho_quic_cc_on_persistent_congestion(r->cc, now);
        ho_quic_rtt_on_persistent_congestion(&r->rtt); /* §5.2 */
    }
}

/* ---- acknowledgments (A.7) -------------------------------------------------- */

/* Checks the ranges against what was sent; *covered gets the number of
 * ring records they cover (an upper bound on newly acked packets). */
static int validate_ack(const ho_quic_recovery_space *sp, const ho_quic_ack_info *ack, size_t *covered_out)
{
    if (ack->range_count == 0 || ack->ranges == NULL)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < ack->range_count; i++) {
        const ho_quic_pn_range *rg = &ack->ranges[i];
        if (rg->smallest > rg->largest)
            return HO_ERR_INVALID_ARG;
        if (i > 0 && rg->largest >= ack->ranges[i - 1].smallest)
            return HO_ERR_INVALID_ARG;
    }
    /* RFC 9000 §13.1: an acknowledgment for a packet never sent is a
     * PROTOCOL_VIOLATION. */
    if (!sp->has_sent || ack->ranges[0].largest > sp->largest_sent)
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    size_t covered = 0;
    for (size_t i = 0; i < ack->range_count; i++) {
        const ho_quic_pn_range *rg = &ack->ranges[i];
        if (sp->len == 0)
            continue;
        /* Records below the front were resolved and dropped; from the front
         * on, every packet number sent is in the ring, so a gap inside a
         * range is a skipped packet number (RFC 9000 §21.4). */
        uint64_t lo = rg->smallest;
        uint64_t front = ring_at(sp, 0)->pn;
        if (lo < front)
            lo = front;
        if (lo > rg->largest)
            continue;
        size_t a = ring_lower_bound_pn(sp, lo);
        size_t b = ring_lower_bound_pn(sp, rg->largest + 1);
        if ((uint64_t)(b - a) != rg->largest - lo + 1)
            return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
        covered += b - a;
    }
    *covered_out = covered;
    return HO_OK;
}

static int reserve_scratch(ho_quic_recovery *r, size_t n)
{
    if (n <= r->scratch_cap)
        return HO_OK;
    size_t cap = r->scratch_cap ? r->scratch_cap : 64;
    while (cap < n)
        cap *= 2;
    ho_quic_cc_packet *s = ho_mem_realloc(r->scratch, cap * sizeof(*s));
    if (s == NULL)
        return HO_ERR_NOMEM;
    r->scratch = s;
    r->scratch_cap = cap;
    return HO_OK;
}

int ho_quic_recovery_on_ack_received(ho_quic_recovery *r, ho_quic_pn_space space,
                                     const ho_quic_ack_info *ack, ho_quic_time now)
{
    if ((unsigned)space >= HO_QUIC_PN_SPACE_COUNT || ack == NULL)
        return HO_ERR_INVALID_ARG;
    ho_quic_recovery_space *sp = &r->spaces[space];
    if (sp->discarded)
        return HO_OK; /* §6.4: its acknowledgments can no longer be processed */
    size_t covered = 0;
    int rv = validate_ack(sp, ack, &covered);
    if (rv != HO_OK)
        return rv;
    if (reserve_scratch(r, covered) != HO_OK)
        return HO_ERR_NOMEM;

    /* A.8 PeerCompletedAddressValidation: a Handshake ACK tells a client
     * that the server has validated its address. */
    if (space == HO_QUIC_PN_SPACE_HANDSHAKE)
        r->handshake_ack_received = true;

    /* A.7: largest_acked_packet = max(largest_acked_packet, ack.largest_acked) */
    bool had_largest = sp->has_largest_acked;
    uint64_t prev_largest = sp->largest_acked;
    uint64_t largest = ack->ranges[0].largest;
    if (!sp->has_largest_acked || largest > sp->largest_acked) {
        sp->largest_acked = largest;
        sp->has_largest_acked = true;
    }

    /* A.7 DetectAndRemoveAckedPackets: smallest range first, so packets
     * come out in ascending order. */
    size_t n_inflight = 0;
    bool includes_ack_eliciting = false;
    bool any_newly_acked = false;
    const ho_quic_sent_packet *largest_newly = NULL;
    for (size_t k = ack->range_count; k-- > 0;) {
        const ho_quic_pn_range *rg = &ack->ranges[k];
        for (size_t i = ring_lower_bound_pn(sp, rg->smallest); i < sp->len; i++) {
            ho_quic_sent_packet *p = ring_at(sp, i);
            if (p->pn > rg->largest)
                break;
            r->stats.records_visited++;
            if (resolved(p))
                continue; /* acknowledged before, or already declared lost */
            p->flags |= HO_QUIC_SENT_ACKED;
            any_newly_acked = true;
            largest_newly = p;
            r->stats.packets_acked++;
            if (p->flags & HO_QUIC_SENT_ACK_ELICITING)
                includes_ack_eliciting = true;
            if (counts_ack_eliciting(p))
                sp->ack_eliciting_in_flight--;
            if (p->flags & HO_QUIC_SENT_IN_FLIGHT)
                cc_packet_of(&r->scratch[n_inflight++], p);
            if (r->cb.on_acked != NULL)
                r->cb.on_acked(r->cb.ctx, space, p);
        }
    }
    /* Packets declared lost that this ACK covers were not lost: adapt the
     * thresholds before this ACK's loss detection, maybe undo (§6.1). */
    detect_spurious_losses(r, space, ack, had_largest, prev_largest, now);

    /* A.7: nothing more to do if nothing was newly acknowledged. */
    if (!any_newly_acked)
        return HO_OK;

    /* A.7 / §5.1: an RTT sample if the largest acknowledged is newly
     * acknowledged and something ack-eliciting was. */
    bool rtt_sampled = false;
    if (largest_newly->pn == largest && includes_ack_eliciting) {
        /* §5.3: MAY ignore the ack delay for Initial packets, which the
         * peer does not delay (RFC 9000 §13.2.1). */
        ho_quic_time ack_delay = space == HO_QUIC_PN_SPACE_INITIAL ? 0 : ack->ack_delay;
        ho_quic_rtt_update(&r->rtt, largest_newly->time_sent, ack_delay, r->handshake_confirmed, now);
        rtt_sampled = true;
    }

    /* B.7 ProcessECN: an increased ECN-CE count is a congestion event for
     * the send time of the largest newly acknowledged packet. */
    if (ack->has_ecn && ack->ecn_ce > sp->ecn_ce) {
        sp->ecn_ce = ack->ecn_ce;
        if (r->cc != NULL)
            ho_quic_cc_on_ecn_ce(r->cc, largest_newly->time_sent, now);
    }

    /* A.7: losses, then acknowledgments, to the congestion controller. */
    detect_and_remove_lost_packets(r, space, now);
    if (r->cc != NULL) {
        ho_quic_cc_ack cc_ack = {
            .packets = r->scratch,
            .count = n_inflight,
            .space = space,
            .rtt_sampled = rtt_sampled,
        };
        ho_quic_cc_on_packets_acked(r->cc, &cc_ack, &r->rtt, now);
    }

    /* §6.2.1: reset the PTO backoff, except at a client not yet sure the
     * server validated its address. */
    if (peer_completed_address_validation(r))
        r->pto_count = 0;
    set_loss_detection_timer(r, now);
    return HO_OK;
}

/* ---- timeout (A.9) ------------------------------------------------------------ */

void ho_quic_recovery_on_timeout(ho_quic_recovery *r, ho_quic_time now, ho_quic_timeout_action *out)
{
    memset(out, 0, sizeof(*out));
    out->kind = HO_QUIC_TIMEOUT_NONE;
    if (r->timer == HO_QUIC_TIME_NEVER || now < r->timer)
        return;

    ho_quic_pn_space space;
    ho_quic_time earliest_loss_time = loss_time_and_space(r, &space);
    if (earliest_loss_time != HO_QUIC_TIME_NEVER) {
        /* Time threshold loss detection. */
        r->stats.loss_timer_expirations++;
        detect_and_remove_lost_packets(r, space, now);
        set_loss_detection_timer(r, now);
        out->kind = HO_QUIC_TIMEOUT_LOSS;
        out->space = space;
        return;
    }

    if (!any_ack_eliciting_in_flight(r)) {
        /* §6.2.2.1 anti-deadlock (a client, since a server never arms the
         * timer in this state): a Handshake packet proves address
         * ownership; an Initial is padded to earn amplification credit. */
        space = r->has_handshake_keys ? HO_QUIC_PN_SPACE_HANDSHAKE : HO_QUIC_PN_SPACE_INITIAL;
        out->kind = HO_QUIC_TIMEOUT_ANTI_DEADLOCK;
        out->space = space;
        out->probes = 1;
        out->pad_initial = space == HO_QUIC_PN_SPACE_INITIAL;
    } else {
        /* §6.2.4: one or two ack-eliciting probes in the PTO's space. */
        pto_time_and_space(r, now, &space);
        out->kind = HO_QUIC_TIMEOUT_PTO;
        out->space = space;
        out->probes = 2;
    }
    r->spaces[space].probes = out->probes;
    r->stats.pto_expirations++;
    /* §6.2.1: the backoff MUST increase on each expiry. */
    r->pto_count++;
    set_loss_detection_timer(r, now);
}

unsigned ho_quic_recovery_probes_pending(const ho_quic_recovery *r, ho_quic_pn_space space)
{
    return (unsigned)space < HO_QUIC_PN_SPACE_COUNT ? r->spaces[space].probes : 0;
}

/* ---- key discard (A.11, B.9) -------------------------------------------------- */

static uint64_t forget(ho_quic_recovery *r, ho_quic_pn_space space, ho_quic_sent_packet *p)
{
    ho_quic_recovery_space *sp = &r->spaces[space];
    p->flags |= HO_QUIC_SENT_DISCARDED;
    if (counts_ack_eliciting(p))
        sp->ack_eliciting_in_flight--;
    r->stats.packets_discarded++;
    if (r->cb.on_discarded != NULL)
        r->cb.on_discarded(r->cb.ctx, space, p);
    return (p->flags & HO_QUIC_SENT_IN_FLIGHT) ? p->bytes : 0;
}

int ho_quic_recovery_discard_space(ho_quic_recovery *r, ho_quic_pn_space space, ho_quic_time now)
{
    /* A.11: assert(pn_space != ApplicationData) */
    if (space != HO_QUIC_PN_SPACE_INITIAL && space != HO_QUIC_PN_SPACE_HANDSHAKE)
        return HO_ERR_INVALID_ARG;
    ho_quic_recovery_space *sp = &r->spaces[space];
    if (sp->discarded)
        return HO_OK;
    /* §6.4: MUST discard the recovery state and remove the packets from
     * bytes in flight (B.9 RemoveFromBytesInFlight). */
    uint64_t bytes = 0;
    for (size_t i = 0; i < sp->len; i++) {
        ho_quic_sent_packet *p = ring_at(sp, i);
        if (!resolved(p))
            bytes += forget(r, space, p);
    }
    if (r->cc != NULL)
        ho_quic_cc_on_discarded(r->cc, bytes);
    space_reset(sp);
    ho_mem_free(sp->ring);
    sp->ring = NULL;
    sp->cap = 0;
    ho_mem_free(sp->lost);
    sp->lost = NULL;
    sp->discarded = true;
    /* A.11 / §6.2.2: reset the PTO backoff and the timer: discarding keys
     * is forward progress, and the timer may have been for this space. */
    r->pto_count = 0;
    set_loss_detection_timer(r, now);
    return HO_OK;
}

void ho_quic_recovery_discard_0rtt(ho_quic_recovery *r, ho_quic_time now)
{
    ho_quic_recovery_space *sp = &r->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    uint64_t bytes = 0;
    for (size_t i = 0; i < sp->len; i++) {
        ho_quic_sent_packet *p = ring_at(sp, i);
        if (!resolved(p) && (p->flags & HO_QUIC_SENT_ZERO_RTT))
            bytes += forget(r, HO_QUIC_PN_SPACE_APPLICATION, p);
    }
    if (r->cc != NULL)
        ho_quic_cc_on_discarded(r->cc, bytes);
    while (sp->len > 0 && resolved(ring_at(sp, 0)))
        drop_front(r, HO_QUIC_PN_SPACE_APPLICATION);
    set_loss_detection_timer(r, now);
}

/* ---- handshake progress ----------------------------------------------------- */

void ho_quic_recovery_on_handshake_keys(ho_quic_recovery *r, ho_quic_time now)
{
    r->has_handshake_keys = true;
    set_loss_detection_timer(r, now);
}

void ho_quic_recovery_on_handshake_confirmed(ho_quic_recovery *r, ho_quic_time now)
{
    r->handshake_confirmed = true;
    set_loss_detection_timer(r, now);
}

void ho_quic_recovery_set_amplification_limited(ho_quic_recovery *r, bool limited, ho_quic_time now)
{
    r->amplification_limited = limited;
    /* A.6: unblocking re-arms the timer; the caller runs on_timeout if it
     * is already due. */
    set_loss_detection_timer(r, now);
}

bool ho_quic_recovery_has_ack_eliciting_in_flight(const ho_quic_recovery *r, ho_quic_pn_space space)
{
    return (unsigned)space < HO_QUIC_PN_SPACE_COUNT && r->spaces[space].ack_eliciting_in_flight > 0;
}
