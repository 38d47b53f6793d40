/* HyStart++ (RFC 9406; draft -04 has the same
 * algorithm): leave slow start when the
 * per-round minimum RTT rises, then spend a few rounds in Conservative Slow
 * Start to check the rise was not jitter.
 *
 * Rounds are measured in Application Data packet numbers (the role TCP's
 * sequence numbers play in §4.2): the handshake spaces carry a few packets
 * at the initial window, where an early exit would be moot, and their
 * packet numbers are not comparable with 1-RTT ones.
 *
 * L (the per-ACK growth cap of §4.2) is infinity: QUIC senders pace, and
 * §4.3 says a paced sender SHOULD use L = infinity. */
#include "quic/cc/cc.h"

#include <string.h>

/* RFC 9406 §4.3 */
#define MIN_RTT_THRESH HO_QUIC_MS(4)
#define MAX_RTT_THRESH HO_QUIC_MS(16)
#define MIN_RTT_DIVISOR 8
#define N_RTT_SAMPLE 8
#define CSS_GROWTH_DIVISOR 4
#define CSS_ROUNDS 5

#define INF HO_QUIC_TIME_NEVER

void ho_quic_hystart_init(ho_quic_hystart *h)
{
    memset(h, 0, sizeof(*h));
    h->active = true;
    /* §4.2: lastRoundMinRTT and currentRoundMinRTT start at infinity. */
    h->last_round_min_rtt = INF;
    h->current_round_min_rtt = INF;
    h->css_baseline_min_rtt = INF;
}

void ho_quic_hystart_stop(ho_quic_hystart *h)
{
    h->active = false;
    h->in_css = false;
    h->css_done = false;
}

void ho_quic_hystart_on_packet_sent(ho_quic_hystart *h, ho_quic_pn_space space, uint64_t pn)
{
    if (space != HO_QUIC_PN_SPACE_APPLICATION)
        return;
    if (!h->has_sent || pn > h->largest_sent) {
        h->largest_sent = pn;
        h->has_sent = true;
    }
    /* §4.2: windowEnd starts at SND.UNA, the first packet of the flow. */
    if (!h->has_window_end) {
        h->window_end = pn;
        h->has_window_end = true;
    }
}

static void start_round(ho_quic_hystart *h)
{
    /* §4.2: at the start of each round in slow start and CSS. */
    h->last_round_min_rtt = h->current_round_min_rtt;
    h->current_round_min_rtt = INF;
    h->rtt_sample_count = 0;
    h->window_end = h->largest_sent + 1; /* SND.NXT */
    h->rounds++;
}

void ho_quic_hystart_on_ack(ho_quic_hystart *h, const ho_quic_cc_ack *ack)
{
    if (!h->active || ack->space != HO_QUIC_PN_SPACE_APPLICATION)
        return;
    /* §4.2: the round ends when windowEnd is acknowledged. The sample this
     * ACK carries is for a packet of the new round, so it counts there. */
    if (ack->count > 0 && h->has_window_end && ack->packets[ack->count - 1].pn >= h->window_end) {
        if (h->in_css) {
            /* §4.2: a partial round at CSS entry counts towards CSS_ROUNDS. */
            if (++h->css_rounds >= CSS_ROUNDS)
                h->css_done = true;
        }
        start_round(h);
    }
    if (ack->rtt_sampled) {
        if (ack->latest_rtt < h->current_round_min_rtt)
            h->current_round_min_rtt = ack->latest_rtt;
        h->rtt_sample_count++;
    }
}

ho_quic_hystart_verdict ho_quic_hystart_check(ho_quic_hystart *h)
{
    if (!h->active)
        return HO_QUIC_HYSTART_CONTINUE;
    if (h->css_done) {
        /* §4.2: CSS_ROUNDS complete: enter congestion avoidance. */
        ho_quic_hystart_stop(h);
        return HO_QUIC_HYSTART_EXIT;
    }
    if (h->rtt_sample_count < N_RTT_SAMPLE || h->current_round_min_rtt == INF)
        return HO_QUIC_HYSTART_CONTINUE;
    if (!h->in_css) {
        if (h->last_round_min_rtt == INF)
            return HO_QUIC_HYSTART_CONTINUE;
        /* §4.2: RttThresh = clamp(MIN_RTT_THRESH, lastRoundMinRTT / 8, MAX_RTT_THRESH). */
        ho_quic_time thresh = h->last_round_min_rtt / MIN_RTT_DIVISOR;
        if (thresh < MIN_RTT_THRESH)
            thresh = MIN_RTT_THRESH;
        if (thresh > MAX_RTT_THRESH)
            thresh = MAX_RTT_THRESH;
        if (h->current_round_min_rtt >= h->last_round_min_rtt + thresh) {
            h->css_baseline_min_rtt = h->current_round_min_rtt;
            h->in_css = true;
            h->css_rounds = 0;
            h->css_entries++;
            return HO_QUIC_HYSTART_ENTER_CSS;
        }
        return HO_QUIC_HYSTART_CONTINUE;
    }
    /* §4.2: in CSS, an RTT below the baseline means the exit was spurious:
     * resume slow start, HyStart++ included. */
    if (h->current_round_min_rtt < h->css_baseline_min_rtt) {
        h->css_baseline_min_rtt = INF;
        h->in_css = false;
        h->css_rounds = 0;
        return HO_QUIC_HYSTART_RESUME_SS;
    }
    return HO_QUIC_HYSTART_CONTINUE;
}

uint64_t ho_quic_hystart_growth_divisor(const ho_quic_hystart *h)
{
    return h->active && h->in_css ? CSS_GROWTH_DIVISOR : 1;
}
