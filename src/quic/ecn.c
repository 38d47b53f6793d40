/* ECN (RFC 9000 §13.4, Appendix A.4; RFC 9002 §7.1, B.7): counting the
 * codepoints of received packets per packet number space for ACK_ECN,
 * marking what we send with ECT(0) while testing or once validated, and
 * validating the peer's counts (§13.4.2.1) before a CE increase becomes a
 * congestion event. */
#include "quic/conn_int.h"

static bool marking(const ho_quic_ecn *e) { return e->state == HO_QUIC_ECN_TESTING || e->state == HO_QUIC_ECN_CAPABLE; }

static void fail(ho_quic_conn *c)
{
    /* §13.4.2.2: if validation fails, the endpoint MUST disable ECN. */
    c->ecn.state = HO_QUIC_ECN_FAILED;
    c->ecn.tx_mark = HO_QUIC_ECN_NOT_ECT;
    c->ecn.validation_failures++;
}

void ho_quic_ecn_init(ho_quic_conn *c)
{
    ho_quic_ecn *e = &c->ecn;
    e->state = c->cfg.no_ecn ? HO_QUIC_ECN_FAILED : HO_QUIC_ECN_TESTING;
    e->testing_start = HO_QUIC_TIME_NEVER;
}

uint8_t ho_quic_ecn_begin_send(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_ecn *e = &c->ecn;
    ho_quic_ecn_state old = e->state;
    if (e->state == HO_QUIC_ECN_TESTING && e->testing_start != HO_QUIC_TIME_NEVER) {
        /* A.4: the testing period ends after ten packets or three PTOs. */
        ho_quic_time pto = ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
        if (e->testing_sent >= HO_QUIC_ECN_TESTING_PACKETS || now - e->testing_start > HO_QUIC_ECN_TESTING_PTOS * pto)
            e->state = HO_QUIC_ECN_UNKNOWN;
    }
    if (e->state == HO_QUIC_ECN_UNKNOWN && e->testing_sent > 0 && e->testing_lost >= e->testing_sent)
        fail(c); /* A.4: every packet marked while testing was lost */
    e->tx_mark = marking(e) ? HO_QUIC_ECN_ECT0 : HO_QUIC_ECN_NOT_ECT;
    quic_ev_ecn(c, (unsigned)old, (unsigned)e->state);
    return e->tx_mark;
}

bool ho_quic_ecn_batch_must_end(const ho_quic_conn *c)
{
    const ho_quic_ecn *e = &c->ecn;
    return e->state == HO_QUIC_ECN_TESTING && e->tx_mark != HO_QUIC_ECN_NOT_ECT &&
           e->testing_sent >= HO_QUIC_ECN_TESTING_PACKETS;
}

void ho_quic_ecn_on_packet_sent(ho_quic_conn *c, ho_quic_pn_space space, ho_quic_sent_packet *sp)
{
    ho_quic_ecn *e = &c->ecn;
    if (e->tx_mark != HO_QUIC_ECN_ECT0)
        return;
    sp->flags |= HO_QUIC_SENT_ECT0;
    e->ect0_sent[space]++;
    if (e->state == HO_QUIC_ECN_TESTING) {
        if (e->testing_start == HO_QUIC_TIME_NEVER)
            e->testing_start = c->now;
        e->testing_sent++;
    }
}

void ho_quic_ecn_on_packet_received(ho_quic_conn *c, ho_quic_pn_space space, uint8_t codepoint)
{
    /* §13.4.1: count each processed packet by its IP header's codepoint
     * (every packet of a coalesced datagram), per packet number space. */
    uint64_t *rx = c->ecn.rx[space];
    switch (codepoint & 3) {
    case HO_QUIC_ECN_ECT0: rx[0]++; break;
    case HO_QUIC_ECN_ECT1: rx[1]++; break;
    case HO_QUIC_ECN_CE: rx[2]++; break;
    default: break;
    }
}

const uint64_t *ho_quic_ecn_ack_counts(const ho_quic_conn *c, ho_quic_pn_space space)
{
    const uint64_t *rx = c->ecn.rx[space];
    /* §13.4.1: feedback about the markings received, once there are any. */
    return rx[0] | rx[1] | rx[2] ? rx : NULL;
}

void ho_quic_ecn_ack_begin(ho_quic_conn *c)
{
    c->ecn.acked_ect0 = 0;
    c->ecn.acked_any = false;
}

void ho_quic_ecn_on_acked(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    (void)space;
    ho_quic_ecn *e = &c->ecn;
    if (pkt->flags & HO_QUIC_SENT_ECT0)
        e->acked_ect0++;
    /* Called in ascending order: the last one is the largest. */
    e->acked_largest_time = pkt->time_sent;
    e->acked_any = true;
}

void ho_quic_ecn_on_lost(ho_quic_conn *c, ho_quic_pn_space space, const ho_quic_sent_packet *pkt)
{
    (void)space;
    ho_quic_ecn *e = &c->ecn;
    if ((pkt->flags & HO_QUIC_SENT_ECT0) && (e->state == HO_QUIC_ECN_TESTING || e->state == HO_QUIC_ECN_UNKNOWN))
        e->testing_lost++;
}

static void ack_end(ho_quic_conn *c, ho_quic_pn_space space, bool has_ecn, const uint64_t counts[3],
                    bool largest_increased, ho_quic_time now)
{
    ho_quic_ecn *e = &c->ecn;
    if (e->state == HO_QUIC_ECN_FAILED)
        return; /* the counts are no longer used */
    uint64_t newly = e->acked_ect0;
    if (!has_ecn) {
        /* §13.4.2.1: newly acknowledging an ECT(0) packet without ECN counts
         * (the network bleached the field, or the peer does not report). */
        if (newly > 0)
            fail(c);
        return;
    }
    /* §13.4.2.1: MUST NOT fail validation on an ACK that does not increase
     * the largest acknowledged (reordered); its counts are not used. */
    if (!largest_increased)
        return;
    uint64_t *prev = e->peer[space];
    if (counts[0] < prev[0] || counts[1] < prev[1] || counts[2] < prev[2]) {
        fail(c); /* counts never decrease */
        return;
    }
    uint64_t d_ect0 = counts[0] - prev[0], d_ce = counts[2] - prev[2];
    /* §13.4.2.1: the increase in ECT(0) + CE must cover the newly
     * acknowledged ECT(0) packets; a count above what we ever marked (or
     * any ECT(1): we never apply it) means remarking in the network. */
    if (d_ect0 + d_ce < newly || counts[1] != 0 || counts[0] + counts[2] > e->ect0_sent[space]) {
        fail(c);
        return;
    }
    prev[0] = counts[0];
    prev[1] = counts[1];
    prev[2] = counts[2];
    if (d_ce > 0 && e->acked_any) {
        /* RFC 9002 §7.1 / B.7: an increased CE count is a congestion event
         * for the largest newly acknowledged packet (once per round: cc.c). */
        e->ce_reported += d_ce;
        ho_quic_cc_on_ecn_ce(&c->cc, e->acked_largest_time, now);
    }
    if (newly > 0 && (e->state == HO_QUIC_ECN_TESTING || e->state == HO_QUIC_ECN_UNKNOWN))
        e->state = HO_QUIC_ECN_CAPABLE;
}

void ho_quic_ecn_ack_end(ho_quic_conn *c, ho_quic_pn_space space, bool has_ecn, const uint64_t counts[3],
                         bool largest_increased, ho_quic_time now)
{
    ho_quic_ecn_state old = c->ecn.state;
    ack_end(c, space, has_ecn, counts, largest_increased, now);
    quic_ev_ecn(c, (unsigned)old, (unsigned)c->ecn.state);
}
