/* CUBIC (RFC 9438, which obsoletes RFC 8312; section numbers below are
 * RFC 9438's, with 8312's where they differ), windows in bytes, with HyStart++ (RFC 9406,
 * hystart.c) in the initial slow start.
 *
 * The window functions are written in segments in the RFC; in bytes they
 * read W_cubic(t) = C * mds * (t - K)^3 + W_max and
 * K = cbrt((W_max - cwnd_epoch) / (C * mds)), t in seconds.
 *
 * Time origin: t_epoch is the congestion event itself (recovery start), so
 * the curve runs through the recovery period; after a slow start that ends
 * without loss (HyStart++ exit, or reaching ssthresh after persistent
 * congestion) it is the first ACK in congestion avoidance, with K = 0 and
 * W_max = cwnd (§4.10 / RFC 8312 §4.8). Time spent application-limited is
 * cut out of t (§5.8), so an idle sender does not come back to a window
 * the curve "grew" while nothing was sent.
 *
 * Floating point is used for the curve (doubles are exact far beyond any
 * window); the window itself stays an integer number of bytes, with the
 * fractional remainder carried over. No libm: the cube root is computed
 * here. */
#include "quic/cc/cc.h"

#include <string.h>

/* RFC 9438 §4.1.1 / §5 */
#define CUBIC_C 0.4
#define CUBIC_BETA 0.7
/* α_cubic = 3 * (1 - β) / (1 + β) (§4.3): Reno-friendly additive increase. */
#define CUBIC_ALPHA (3.0 * (1.0 - CUBIC_BETA) / (1.0 + CUBIC_BETA))

static double cube_root(double x)
{
    if (x <= 0.0)
        return 0.0;
    /* Newton's method from a power-of-two estimate within 2x of the root. */
    double y = 1.0;
    if (x > 1.0) {
        while (y * y * y < x)
            y *= 2.0;
    } else {
        while (y * y * y > x)
            y *= 0.5;
    }
    for (int i = 0; i < 100; i++) {
        double next = y - (y * y * y - x) / (3.0 * y * y);
        if (next == y)
            break;
        y = next;
    }
    return y;
}

static double seconds(ho_quic_time t) { return (double)t / (double)HO_QUIC_NS_PER_SEC; }

/* W_cubic(t), bytes (§4.2 Eq. 1). */
static double w_cubic(const ho_quic_cc *cc, double t)
{
    const ho_quic_cubic *c = &cc->u.cubic;
    double d = t - c->k;
    return CUBIC_C * (double)cc->max_datagram_size * d * d * d + c->w_max;
}

/* Starts a congestion-avoidance epoch at `now` with the current window as
 * cwnd_epoch. */
static void start_epoch(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    c->epoch_valid = true;
    c->t_epoch = now;
    c->cwnd_epoch = (double)cc->cwnd;
    /* §4.2 Eq. 2: K = cubic_root((W_max - cwnd_epoch) / C). */
    if (c->w_max > c->cwnd_epoch)
        c->k = cube_root((c->w_max - c->cwnd_epoch) / (CUBIC_C * (double)cc->max_datagram_size));
    else
        c->k = 0.0;
    /* §4.3: W_est starts at cwnd_epoch. */
    c->w_est = c->cwnd_epoch;
    c->alpha = c->w_est >= c->cwnd_prior ? 1.0 : CUBIC_ALPHA;
    c->cwnd_frac = 0.0;
    if (cc->app_limited)
        c->app_limited_since = now;
}

static void cubic_init(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    memset(c, 0, sizeof(*c));
    ho_quic_hystart_init(&c->hystart);
    /* §4.7: fast convergence SHOULD be on (a single flow alone on its path
     * may turn it off). */
    c->fast_convergence = true;
    c->epoch_valid = false;
    c->app_limited_since = HO_QUIC_TIME_NEVER;
}

static void cubic_on_packet_sent(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                                 ho_quic_time now)
{
    ho_quic_hystart_on_packet_sent(&cc->u.cubic.hystart, space, pn);
}

/* §4.10 / RFC 8312 §4.8: congestion avoidance entered without a congestion
 * event: W_max = cwnd, K = 0, t_epoch = now. */
static void enter_avoidance_without_loss(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    c->w_max = (double)cc->cwnd;
    c->cwnd_prior = (double)cc->cwnd;
    start_epoch(cc, now);
}

/* One acknowledged packet in congestion avoidance (§4.2-§4.5). */
static void avoidance_on_ack(ho_quic_cc *cc, uint64_t acked_bytes, ho_quic_time smoothed_rtt,
                             ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    if (!c->epoch_valid)
        enter_avoidance_without_loss(cc, now);

    double mds = (double)cc->max_datagram_size;
    double cwnd = (double)cc->cwnd;
    double t = seconds(now - c->t_epoch);
    if (t < 0.0)
        t = 0.0;

    /* §4.2: target = W_cubic(t + RTT), bounded to [cwnd, 1.5 * cwnd]; RTT
     * is the smoothed RTT. */
    double target = w_cubic(cc, t + seconds(smoothed_rtt));
    if (target < cwnd)
        target = cwnd;
    if (target > 1.5 * cwnd)
        target = 1.5 * cwnd;

    /* §4.3: W_est += α_cubic * segments_acked / cwnd (in segments); α_cubic
     * becomes 1 once W_est has reached cwnd_prior (SHOULD). */
    c->w_est += c->alpha * mds * (double)acked_bytes / cwnd;
    if (c->w_est >= c->cwnd_prior)
        c->alpha = 1.0;

    double next;
    if (w_cubic(cc, t) < c->w_est) {
        /* §4.3 Reno-friendly region: cwnd SHOULD be set to W_est. Never
         * below the current window, which the curve's target may already
         * have taken past W_est. */
        next = c->w_est > cwnd ? c->w_est : cwnd;
        c->cwnd_frac = 0.0;
    } else {
        /* §4.4 concave (cwnd < W_max) and §4.5 convex regions: cwnd MUST
         * grow by (target - cwnd) / cwnd per acknowledged segment. */
        c->cwnd_frac += (target - cwnd) * (double)acked_bytes / cwnd;
        double whole = (double)(uint64_t)c->cwnd_frac;
        c->cwnd_frac -= whole;
        next = cwnd + whole;
    }
    cc->cwnd = (uint64_t)next;
}

static void cubic_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    ho_quic_hystart *h = &c->hystart;
    bool slow_start = cc->cwnd < cc->ssthresh;

    if (slow_start)
        ho_quic_hystart_on_ack(h, ack);

    for (size_t i = 0; i < ack->count; i++) {
        const ho_quic_cc_packet *p = &ack->packets[i];
        /* RFC 9002 §7.8 / RFC 9438 §5.8: no growth while app-limited. */
        if (cc->app_limited)
            break;
        /* RFC 9002 B.5: none for packets sent before recovery started. */
        if (ho_quic_cc_in_recovery(cc, p->time_sent))
            continue;
        if (cc->cwnd < cc->ssthresh) {
            /* RFC 9438 §4.10 / RFC 9406 §4.2: slow start, growth divided
             * by CSS_GROWTH_DIVISOR in CSS. L = infinity (paced). */
            cc->cwnd += p->bytes / ho_quic_hystart_growth_divisor(h);
        } else {
            avoidance_on_ack(cc, p->bytes, ack->smoothed_rtt, now);
        }
    }

    if (slow_start) {
        switch (ho_quic_hystart_check(h)) {
        case HO_QUIC_HYSTART_EXIT:
            /* RFC 9406 §4.2: CSS_ROUNDS done: ssthresh = cwnd, congestion
             * avoidance (with K = 0, §4.10). */
            cc->ssthresh = cc->cwnd;
            enter_avoidance_without_loss(cc, now);
            break;
        case HO_QUIC_HYSTART_ENTER_CSS:
        case HO_QUIC_HYSTART_RESUME_SS:
        case HO_QUIC_HYSTART_CONTINUE:
            break;
        }
    }
}

static void cubic_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    /* RFC 9406 §4.2: loss or ECN-CE in slow start or CSS ends HyStart++ and
     * slow start; the reduction below sets ssthresh. */
    ho_quic_hystart_stop(&c->hystart);

    double cwnd = (double)cc->cwnd;
    /* §4.6: cwnd_prior remembers the window before the reduction (for the
     * Reno-friendly region). */
    c->cwnd_prior = cwnd;
    /* §4.7 fast convergence: a loss below the previous W_max means the
     * flow's share shrank; release more by lowering W_max further.
     * (RFC 8312 §4.6 phrases the same with W_last_max.) */
    if (c->fast_convergence && cwnd < c->w_max)
        c->w_max = cwnd * (1.0 + CUBIC_BETA) / 2.0;
    else
        c->w_max = cwnd;

    /* §4.6: ssthresh = cwnd * β_cubic, at least the minimum window
     * (RFC 9002 §7.2, 2 segments in RFC 9438); cwnd = ssthresh. */
    uint64_t min_window = ho_quic_cc_minimum_window(cc->max_datagram_size);
    uint64_t reduced = (uint64_t)(cwnd * CUBIC_BETA);
    if (reduced < min_window)
        reduced = min_window;
    cc->ssthresh = reduced;
    cc->cwnd = reduced;

    /* The epoch starts at the congestion event. */
    start_epoch(cc, now);
}

static void cubic_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    /* RFC 9002 §7.6.2: minimum window. RFC 9438 §4.8 (timeout): ssthresh as
     * for a loss (the congestion event that came with these losses set it),
     * and the next congestion-avoidance epoch starts with K = 0 and
     * W_max = cwnd at its beginning. HyStart++ stays off (RFC 9406 §4.3:
     * only the initial slow start). */
    ho_quic_hystart_stop(&c->hystart);
    cc->cwnd = ho_quic_cc_minimum_window(cc->max_datagram_size);
    c->epoch_valid = false;
    c->cwnd_frac = 0.0;
}

static void cubic_on_app_limited(ho_quic_cc *cc, bool app_limited, ho_quic_time now)
{
    ho_quic_cubic *c = &cc->u.cubic;
    if (app_limited) {
        c->app_limited_since = now;
        return;
    }
    /* §5.8: the window did not grow while app-limited; neither should the
     * curve's clock. */
    if (c->epoch_valid && c->app_limited_since != HO_QUIC_TIME_NEVER && now > c->app_limited_since)
        c->t_epoch += now - c->app_limited_since;
    c->app_limited_since = HO_QUIC_TIME_NEVER;
}

static ho_quic_cc_phase cubic_phase(const ho_quic_cc *cc)
{
    const ho_quic_hystart *h = &cc->u.cubic.hystart;
    return h->active && h->in_css ? HO_QUIC_CC_CONSERVATIVE_SLOW_START : HO_QUIC_CC_SLOW_START;
}

const ho_quic_cc_ops ho_quic_cc_cubic = {
    .name = "cubic",
    .init = cubic_init,
    .on_packet_sent = cubic_on_packet_sent,
    .on_packets_acked = cubic_on_packets_acked,
    .on_congestion_event = cubic_on_congestion_event,
    .on_ecn_ce = NULL,
    .on_persistent_congestion = cubic_on_persistent_congestion,
    .on_app_limited = cubic_on_app_limited,
    .phase = cubic_phase,
};
