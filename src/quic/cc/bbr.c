/* BBR congestion control (draft-ietf-ccwg-bbr; the v3 algorithm where the
 * draft and v1 differ: ProbeBW's DOWN/CRUISE/REFILL/UP phases, the
 * inflight_hi / inflight_lo / bw_lo bounds that respond to loss, a 5 s
 * ProbeRTT interval inside a 10 s min_rtt filter, Drain at 0.35).
 *
 * BBR builds a model of the path — the maximum recent delivery rate
 * (max_bw, a windowed max over two ProbeBW cycles) and the minimum recent
 * RTT (min_rtt, 10 s) — and sets the pacing rate (pacing_gain * bw) and
 * the window (cwnd_gain * bw * min_rtt plus an ACK-aggregation allowance)
 * from it, instead of reacting to every loss as CUBIC and NewReno do.
 * Losses matter through the bounds: a round with loss lowers bw_lo and
 * inflight_lo to max(what was delivered, 0.7 * bound) (so 1 % random loss
 * costs about 1 % of rate, not half the window), and a loss rate above 2 %
 * while probing caps inflight_hi.
 *
 * The delivery-rate samples (ho_quic_cc_ack.rate) and the per-packet
 * send-time state come from the library (cc.c). What the library also
 * does, around BBR (RFC 9002): the recovery period, and the MUSTs of §7.3.2
 * and §7.6.2 — on a congestion event BBR shrinks the window to what is in
 * flight plus one datagram and keeps it there for one round (packet
 * conservation, as the draft's loss recovery does), restoring it after;
 * on persistent congestion the window goes to the minimum.
 *
 * Simplifications, said here so nobody relies on them: no send quantum
 * (the library's pacer bursts up to ten datagrams), idle restart only
 * re-paces at bw in ProbeBW, the Startup loss exit looks at the newest
 * sample of the round rather than a per-round loss fraction. */
#include "quic/cc/cc.h"

#include <string.h>

/* draft-ietf-ccwg-bbr constants */
#define STARTUP_PACING_GAIN 2.77f /* 4 * ln(2) */
#define STARTUP_CWND_GAIN 2.0f
#define DRAIN_PACING_GAIN 0.35f
#define DEFAULT_CWND_GAIN 2.0f
#define PROBE_UP_PACING_GAIN 1.25f
#define PROBE_UP_CWND_GAIN 2.25f
#define PROBE_DOWN_PACING_GAIN 0.9f
#define PROBE_RTT_CWND_GAIN 0.5
#define PACING_MARGIN 0.99        /* BBRPacingMarginPercent = 1 */
#define LOSS_THRESH 0.02          /* BBRLossThresh */
#define BETA 0.7                  /* BBRBeta */
#define HEADROOM 0.15             /* BBRHeadroom */
#define FULL_BW_GROWTH 1.25
#define FULL_BW_COUNT 3
#define STARTUP_FULL_LOSS_COUNT 6
#define MIN_PIPE_CWND_PACKETS 4   /* BBRMinPipeCwnd */
#define PROBE_RTT_INTERVAL HO_QUIC_MS(5000)
#define MIN_RTT_FILTER_LEN HO_QUIC_MS(10000)
#define PROBE_RTT_DURATION HO_QUIC_MS(200)
#define EXTRA_ACKED_ROUNDS 5      /* per slot: a 10-round window in 2 slots */
#define INF UINT64_MAX

enum { ACKS_INIT, ACKS_REFILLING, ACKS_PROBE_STARTING, ACKS_PROBE_FEEDBACK, ACKS_PROBE_STOPPING };

const char *ho_quic_bbr_state_name(unsigned state)
{
    static const char *const names[] = {"startup",        "drain",         "probe_bw_down", "probe_bw_cruise",
                                        "probe_bw_refill", "probe_bw_up", "probe_rtt"};
    return state < sizeof(names) / sizeof(names[0]) ? names[state] : "?";
}

static uint64_t mul(uint64_t v, double gain)
{
    if (v == INF)
        return INF;
    double r = (double)v * gain;
    return r >= 1.8e19 ? INF : (uint64_t)r;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t rng_next(ho_quic_bbr *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

static uint64_t min_pipe_cwnd(const ho_quic_cc *cc)
{
    return MIN_PIPE_CWND_PACKETS * cc->max_datagram_size;
}

static bool in_probe_bw(const ho_quic_bbr *b)
{
    return b->state >= HO_QUIC_BBR_PROBE_BW_DOWN && b->state <= HO_QUIC_BBR_PROBE_BW_UP;
}

/* BBRIsProbingBW: the states whose losses say nothing about the lower bounds. */
static bool probing_bw(const ho_quic_bbr *b)
{
    return b->state == HO_QUIC_BBR_STARTUP || b->state == HO_QUIC_BBR_PROBE_BW_REFILL ||
           b->state == HO_QUIC_BBR_PROBE_BW_UP;
}

/* ---- model helpers ------------------------------------------------------ */

/* BBRBDPMultiple: gain * bw * min_rtt, the initial window before any RTT. */
static uint64_t bdp_multiple(const ho_quic_cc *cc, uint64_t bw, double gain)
{
    const ho_quic_bbr *b = &cc->u.bbr;
    if (b->min_rtt == HO_QUIC_TIME_NEVER)
        return ho_quic_cc_initial_window(cc->max_datagram_size);
    unsigned __int128 bdp = (unsigned __int128)bw * (uint64_t)b->min_rtt / HO_QUIC_NS_PER_SEC;
    return mul(bdp > INF ? INF : (uint64_t)bdp, gain);
}

/* BBRQuantizationBudget, with BBR.offload_budget = 3 * send_quantum. */
static uint64_t quantization_budget(const ho_quic_cc *cc, uint64_t inflight)
{
    const ho_quic_bbr *b = &cc->u.bbr;
    uint64_t mds = cc->max_datagram_size;
    /* BBRSetSendQuantum: pacing_rate * 1 ms within [1 or 2 datagrams, 64 KB]. */
    uint64_t floor = cc->pacing_rate < 150000 ? mds : 2 * mds;
    uint64_t quantum = min_u64(cc->pacing_rate / 1000, 65536);
    quantum = max_u64(quantum, floor);
    inflight = max_u64(inflight, 3 * quantum);
    inflight = max_u64(inflight, min_pipe_cwnd(cc));
    if (b->state == HO_QUIC_BBR_PROBE_BW_UP)
        inflight += 2 * mds;
    return inflight;
}

/* BBRInflight(bw, gain) */
static uint64_t inflight_for(const ho_quic_cc *cc, uint64_t bw, double gain)
{
    return quantization_budget(cc, bdp_multiple(cc, bw, gain));
}

/* BBRInflightWithHeadroom */
static uint64_t inflight_with_headroom(const ho_quic_cc *cc)
{
    const ho_quic_bbr *b = &cc->u.bbr;
    if (b->inflight_hi == INF)
        return INF;
    uint64_t headroom = max_u64(1, mul(b->inflight_hi, HEADROOM));
    if (b->inflight_hi <= headroom)
        return min_pipe_cwnd(cc);
    return max_u64(b->inflight_hi - headroom, min_pipe_cwnd(cc));
}

/* BBRTargetInflight */
static uint64_t target_inflight(const ho_quic_cc *cc)
{
    return min_u64(bdp_multiple(cc, cc->u.bbr.bw, 1.0), cc->cwnd);
}

static uint64_t extra_acked(const ho_quic_bbr *b)
{
    return max_u64(b->extra_acked_slot[0], b->extra_acked_slot[1]);
}

/* ---- state transitions -------------------------------------------------- */

static void start_round(ho_quic_cc *cc)
{
    cc->u.bbr.next_round_delivered = cc->rate.delivered;
}

static void reset_congestion_signals(ho_quic_bbr *b)
{
    b->loss_in_round = false;
    b->loss_events_in_round = 0;
    b->bw_latest = 0;
    b->inflight_latest = 0;
}

static void reset_lower_bounds(ho_quic_bbr *b)
{
    b->bw_lo = INF;
    b->inflight_lo = INF;
}

static void enter_startup(ho_quic_bbr *b)
{
    b->state = HO_QUIC_BBR_STARTUP;
    b->pacing_gain = STARTUP_PACING_GAIN;
    b->cwnd_gain = STARTUP_CWND_GAIN;
}

static void enter_drain(ho_quic_bbr *b)
{
    b->state = HO_QUIC_BBR_DRAIN;
    b->pacing_gain = DRAIN_PACING_GAIN;
    b->cwnd_gain = STARTUP_CWND_GAIN;
}

/* BBRPickProbeWait: 2-3 s of wall clock, and 0 or 1 extra rounds. */
static void pick_probe_wait(ho_quic_bbr *b)
{
    b->rounds_since_bw_probe = (uint32_t)(rng_next(b) & 1);
    b->bw_probe_wait = HO_QUIC_MS(2000) + (ho_quic_time)(rng_next(b) % (uint64_t)HO_QUIC_MS(1000));
}

static void start_probe_bw_down(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    reset_congestion_signals(b);
    b->probe_up_cnt = INF;
    pick_probe_wait(b);
    b->cycle_stamp = now;
    b->ack_phase = ACKS_PROBE_STOPPING;
    start_round(cc);
    b->state = HO_QUIC_BBR_PROBE_BW_DOWN;
    b->pacing_gain = PROBE_DOWN_PACING_GAIN;
    b->cwnd_gain = DEFAULT_CWND_GAIN;
}

static void start_probe_bw_cruise(ho_quic_bbr *b)
{
    b->state = HO_QUIC_BBR_PROBE_BW_CRUISE;
    b->pacing_gain = 1.0f;
    b->cwnd_gain = DEFAULT_CWND_GAIN;
}

static void start_probe_bw_refill(ho_quic_cc *cc)
{
    ho_quic_bbr *b = &cc->u.bbr;
    reset_lower_bounds(b);
    b->bw_probe_up_rounds = 0;
    b->bw_probe_up_acks = 0;
    b->ack_phase = ACKS_REFILLING;
    start_round(cc);
    b->state = HO_QUIC_BBR_PROBE_BW_REFILL;
    b->pacing_gain = 1.0f;
    b->cwnd_gain = DEFAULT_CWND_GAIN;
}

/* BBRRaiseInflightHiSlope: inflight_hi grows 1, 2, 4, ... datagrams per round. */
static void raise_inflight_hi_slope(ho_quic_cc *cc)
{
    ho_quic_bbr *b = &cc->u.bbr;
    uint64_t growth = cc->max_datagram_size << b->bw_probe_up_rounds;
    if (b->bw_probe_up_rounds < 30)
        b->bw_probe_up_rounds++;
    b->probe_up_cnt = max_u64(cc->cwnd / growth, 1);
}

static void start_probe_bw_up(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    b->ack_phase = ACKS_PROBE_STARTING;
    start_round(cc);
    b->cycle_stamp = now;
    b->state = HO_QUIC_BBR_PROBE_BW_UP;
    b->pacing_gain = PROBE_UP_PACING_GAIN;
    b->cwnd_gain = PROBE_UP_CWND_GAIN;
    raise_inflight_hi_slope(cc);
}

/* ---- loss: the upper bound ------------------------------------------------ */

static bool inflight_too_high(uint64_t lost, uint64_t tx_in_flight)
{
    return (double)lost > (double)tx_in_flight * LOSS_THRESH;
}

/* BBRHandleInflightTooHigh */
static void handle_inflight_too_high(ho_quic_cc *cc, uint64_t tx_in_flight, bool app_limited, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    b->bw_probe_samples = false; /* react once per bandwidth probe */
    if (!app_limited)
        b->inflight_hi = max_u64(tx_in_flight, mul(target_inflight(cc), BETA));
    if (b->state == HO_QUIC_BBR_PROBE_BW_UP)
        start_probe_bw_down(cc, now);
}

static void bbr_on_packet_lost(ho_quic_cc *cc, const ho_quic_cc_packet *p, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    b->loss_events_in_round++;
    /* BBRHandleLostPacket: only packets sent while probing. */
    if (!b->bw_probe_samples)
        return;
    uint64_t lost = cc->rate.lost - p->lost; /* includes this packet */
    if (!inflight_too_high(lost, p->tx_in_flight))
        return;
    /* BBRInflightHiFromLostPacket: where in the flight the loss rate
     * crossed BBRLossThresh. */
    double inflight_prev = (double)p->tx_in_flight - (double)p->bytes;
    double lost_prev = (double)lost - (double)p->bytes;
    double lost_prefix = (LOSS_THRESH * inflight_prev - lost_prev) / (1.0 - LOSS_THRESH);
    double inflight = inflight_prev + lost_prefix;
    handle_inflight_too_high(cc, inflight > 0 ? (uint64_t)inflight : 0, p->is_app_limited, now);
}

/* CheckInflightTooHigh, on the ACK's sample. */
static bool check_inflight_too_high(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs, ho_quic_time now)
{
    if (rs->tx_in_flight == 0 || !inflight_too_high(rs->lost, rs->tx_in_flight))
        return false;
    if (cc->u.bbr.bw_probe_samples)
        handle_inflight_too_high(cc, rs->tx_in_flight, rs->is_app_limited, now);
    return true;
}

/* BBRProbeInflightHiUpward */
static void probe_inflight_hi_upward(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (!b->cwnd_limited || cc->cwnd < b->inflight_hi)
        return; /* not using inflight_hi: don't grow it */
    b->bw_probe_up_acks += rs->newly_acked;
    if (b->bw_probe_up_acks >= b->probe_up_cnt) {
        uint64_t delta = b->bw_probe_up_acks / b->probe_up_cnt;
        b->bw_probe_up_acks -= delta * b->probe_up_cnt;
        b->inflight_hi += delta * cc->max_datagram_size;
    }
    if (b->round_start)
        raise_inflight_hi_slope(cc);
}

static void advance_max_bw_filter(ho_quic_bbr *b)
{
    b->cycle_count++;
    b->max_bw_slot[b->cycle_count & 1] = 0;
}

/* BBRAdaptUpperBounds */
static void adapt_upper_bounds(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (b->ack_phase == ACKS_PROBE_STARTING && b->round_start)
        b->ack_phase = ACKS_PROBE_FEEDBACK; /* the first round of probe samples */
    if (b->ack_phase == ACKS_PROBE_STOPPING && b->round_start) {
        /* The last samples of a bandwidth probe are in: the best time to
         * start a new cycle of the max filter, once (the draft leaves the
         * phase change implicit; Linux's BBRv3 returns to ACKS_INIT). */
        b->bw_probe_samples = false;
        b->ack_phase = ACKS_INIT;
        if (in_probe_bw(b) && !rs->is_app_limited)
            advance_max_bw_filter(b);
    }
    if (check_inflight_too_high(cc, rs, now))
        return;
    if (b->inflight_hi == INF)
        return; /* no upper bound to raise */
    if (rs->tx_in_flight > b->inflight_hi)
        b->inflight_hi = rs->tx_in_flight;
    if (b->state == HO_QUIC_BBR_PROBE_BW_UP)
        probe_inflight_hi_upward(cc, rs);
}

/* ---- per-ACK model update ------------------------------------------------- */

static void update_round(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (rs->prior_delivered >= b->next_round_delivered) {
        start_round(cc);
        b->round_count++;
        b->rounds_since_bw_probe++;
        b->round_start = true;
    } else {
        b->round_start = false;
    }
}

static void update_max_bw(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    update_round(cc, rs);
    /* App-limited samples only when they show more than we knew. */
    if (rs->delivery_rate > 0 && (rs->delivery_rate >= b->max_bw || !rs->is_app_limited)) {
        uint64_t *slot = &b->max_bw_slot[b->cycle_count & 1];
        if (rs->delivery_rate > *slot)
            *slot = rs->delivery_rate;
        b->max_bw = max_u64(b->max_bw_slot[0], b->max_bw_slot[1]);
    }
}

static void update_latest_delivery_signals(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    b->loss_round_start = false;
    b->bw_latest = max_u64(b->bw_latest, rs->delivery_rate);
    b->inflight_latest = max_u64(b->inflight_latest, rs->delivered);
    if (rs->prior_delivered >= b->loss_round_delivered) {
        b->loss_round_delivered = cc->rate.delivered;
        b->loss_round_start = true;
    }
}

/* BBRUpdateCongestionSignals and BBRAdaptLowerBoundsFromCongestion: once
 * per round with loss, outside bandwidth probing, bw_lo and inflight_lo go
 * to max(this round's delivery, BBRBeta * themselves). */
static void update_congestion_signals(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    update_max_bw(cc, rs);
    if (rs->newly_lost > 0)
        b->loss_in_round = true;
    if (!b->loss_round_start)
        return;
    if (b->loss_in_round && !probing_bw(b)) {
        if (b->bw_lo == INF)
            b->bw_lo = b->max_bw;
        if (b->inflight_lo == INF)
            b->inflight_lo = cc->cwnd;
        b->bw_lo = max_u64(b->bw_latest, mul(b->bw_lo, BETA));
        b->inflight_lo = max_u64(b->inflight_latest, mul(b->inflight_lo, BETA));
    }
    b->loss_in_round = false;
}

/* BBRUpdateACKAggregation: how far deliveries ran ahead of bw, max over
 * about ten rounds. */
static void update_ack_aggregation(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (b->round_start && b->round_count % EXTRA_ACKED_ROUNDS == 0)
        b->extra_acked_slot[(b->round_count / EXTRA_ACKED_ROUNDS) & 1] = 0;
    ho_quic_time interval = now - b->extra_acked_interval_start;
    unsigned __int128 e = (unsigned __int128)b->bw * (uint64_t)(interval > 0 ? interval : 0) / HO_QUIC_NS_PER_SEC;
    uint64_t expected = e > INF ? INF : (uint64_t)e;
    if (b->extra_acked_delivered <= expected) {
        b->extra_acked_delivered = 0;
        b->extra_acked_interval_start = now;
        expected = 0;
    }
    b->extra_acked_delivered += rs->newly_acked;
    uint64_t extra = b->extra_acked_delivered > expected ? b->extra_acked_delivered - expected : 0;
    extra = min_u64(extra, cc->cwnd);
    uint64_t *slot = &b->extra_acked_slot[(b->round_count / EXTRA_ACKED_ROUNDS) & 1];
    if (extra > *slot)
        *slot = extra;
}

/* BBRCheckStartupFullBandwidth and BBRCheckStartupHighLoss */
static void check_startup_done(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (!b->filled_pipe && b->round_start && !rs->is_app_limited) {
        if ((double)b->max_bw >= (double)b->full_bw * FULL_BW_GROWTH) {
            b->full_bw = b->max_bw; /* still growing */
            b->full_bw_count = 0;
        } else if (++b->full_bw_count >= FULL_BW_COUNT) {
            b->filled_pipe = true; /* three rounds without 25 % growth */
        }
    }
    /* v3: a round of Startup with many losses and a loss rate above
     * BBRLossThresh ends it, with inflight_hi at what was delivered. */
    if (!b->filled_pipe && b->state == HO_QUIC_BBR_STARTUP && b->loss_round_start &&
        b->loss_events_in_round >= STARTUP_FULL_LOSS_COUNT && rs->tx_in_flight > 0 &&
        inflight_too_high(rs->lost, rs->tx_in_flight)) {
        b->filled_pipe = true;
        b->inflight_hi = max_u64(bdp_multiple(cc, b->max_bw, 1.0), b->inflight_latest);
    }
    if (b->loss_round_start)
        b->loss_events_in_round = 0;
    if (b->state == HO_QUIC_BBR_STARTUP && b->filled_pipe)
        enter_drain(b);
}

static bool check_time_to_probe_bw(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    /* BBRIsRenoCoexistenceProbeTime: no longer than a Reno flow would take
     * to fill the same BDP, at most 63 rounds. */
    uint64_t reno_rounds = min_u64(target_inflight(cc) / cc->max_datagram_size, 63);
    if (now > b->cycle_stamp + b->bw_probe_wait || b->rounds_since_bw_probe >= reno_rounds) {
        start_probe_bw_refill(cc);
        return true;
    }
    return false;
}

static bool check_time_to_cruise(const ho_quic_cc *cc)
{
    uint64_t inflight = cc->bytes_in_flight;
    if (inflight > inflight_with_headroom(cc))
        return false;
    return inflight <= inflight_for(cc, cc->u.bbr.max_bw, 1.0);
}

static void update_probe_bw_cycle_phase(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (!b->filled_pipe)
        return;
    adapt_upper_bounds(cc, rs, now);
    switch (b->state) {
    case HO_QUIC_BBR_PROBE_BW_DOWN:
        if (check_time_to_probe_bw(cc, now))
            return;
        if (check_time_to_cruise(cc))
            start_probe_bw_cruise(b);
        break;
    case HO_QUIC_BBR_PROBE_BW_CRUISE:
        check_time_to_probe_bw(cc, now);
        break;
    case HO_QUIC_BBR_PROBE_BW_REFILL:
        /* One round at the estimated rate, then probe. */
        if (b->round_start) {
            b->bw_probe_samples = true;
            start_probe_bw_up(cc, now);
        }
        break;
    case HO_QUIC_BBR_PROBE_BW_UP:
        if (b->min_rtt != HO_QUIC_TIME_NEVER && now > b->cycle_stamp + b->min_rtt &&
            cc->bytes_in_flight > inflight_for(cc, b->max_bw, PROBE_UP_PACING_GAIN))
            start_probe_bw_down(cc, now);
        break;
    default:
        break;
    }
}

static void update_min_rtt(ho_quic_cc *cc, ho_quic_time rtt, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    b->probe_rtt_expired = now > b->probe_rtt_min_stamp + PROBE_RTT_INTERVAL;
    if (rtt >= 0 && (rtt < b->probe_rtt_min_delay || b->probe_rtt_expired)) {
        b->probe_rtt_min_delay = rtt;
        b->probe_rtt_min_stamp = now;
    }
    bool min_rtt_expired = now > b->min_rtt_stamp + MIN_RTT_FILTER_LEN;
    if (b->probe_rtt_min_delay < b->min_rtt || min_rtt_expired) {
        b->min_rtt = b->probe_rtt_min_delay;
        b->min_rtt_stamp = b->probe_rtt_min_stamp;
    }
}

static uint64_t probe_rtt_cwnd(const ho_quic_cc *cc)
{
    return max_u64(bdp_multiple(cc, cc->u.bbr.bw, PROBE_RTT_CWND_GAIN), min_pipe_cwnd(cc));
}

static void save_cwnd(ho_quic_cc *cc)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (!b->packet_conservation && b->state != HO_QUIC_BBR_PROBE_RTT)
        b->prior_cwnd = cc->cwnd;
    else
        b->prior_cwnd = max_u64(b->prior_cwnd, cc->cwnd);
}

static void restore_cwnd(ho_quic_cc *cc)
{
    cc->cwnd = max_u64(cc->cwnd, cc->u.bbr.prior_cwnd);
}

static void check_probe_rtt_done(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (b->probe_rtt_done_stamp == 0 || now <= b->probe_rtt_done_stamp)
        return;
    b->probe_rtt_min_stamp = now; /* the next ProbeRTT in 5 s */
    restore_cwnd(cc);
    /* BBRExitProbeRTT */
    reset_lower_bounds(b);
    if (b->filled_pipe) {
        start_probe_bw_down(cc, now);
        start_probe_bw_cruise(b);
    } else {
        enter_startup(b);
    }
}

static void check_probe_rtt(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (b->state != HO_QUIC_BBR_PROBE_RTT && b->probe_rtt_expired && !b->idle_restart) {
        /* BBREnterProbeRTT: no new min_rtt for ProbeRTTInterval. */
        save_cwnd(cc);
        b->state = HO_QUIC_BBR_PROBE_RTT;
        b->pacing_gain = 1.0f;
        b->cwnd_gain = (float)PROBE_RTT_CWND_GAIN;
        b->probe_rtt_done_stamp = 0;
        b->ack_phase = ACKS_PROBE_STOPPING;
        start_round(cc);
    }
    if (b->state == HO_QUIC_BBR_PROBE_RTT) {
        /* BBRHandleProbeRTT: its samples say nothing of the bandwidth. */
        ho_quic_cc_mark_app_limited(cc);
        if (b->probe_rtt_done_stamp == 0 && cc->bytes_in_flight <= probe_rtt_cwnd(cc)) {
            b->probe_rtt_done_stamp = now + PROBE_RTT_DURATION;
            b->probe_rtt_round_done = false;
            start_round(cc);
        } else if (b->probe_rtt_done_stamp != 0) {
            if (b->round_start)
                b->probe_rtt_round_done = true;
            if (b->probe_rtt_round_done)
                check_probe_rtt_done(cc, now);
        }
    }
    if (rs->delivered > 0)
        b->idle_restart = false;
}

/* ---- control parameters --------------------------------------------------- */

static void set_pacing_rate_with_gain(ho_quic_cc *cc, double gain)
{
    ho_quic_bbr *b = &cc->u.bbr;
    if (b->bw == 0)
        return; /* no sample yet: keep the initial rate */
    uint64_t rate = mul(b->bw, gain * PACING_MARGIN);
    if (rate == 0)
        rate = 1;
    if (b->filled_pipe || rate > cc->pacing_rate)
        cc->pacing_rate = rate;
}

/* BBRInitPacingRate: Startup's gain over the initial window per RTT. */
static void init_pacing_rate(ho_quic_cc *cc, ho_quic_time srtt)
{
    if (srtt <= 0)
        srtt = HO_QUIC_MS(1);
    unsigned __int128 nominal =
        (unsigned __int128)ho_quic_cc_initial_window(cc->max_datagram_size) * HO_QUIC_NS_PER_SEC / (uint64_t)srtt;
    cc->pacing_rate = mul((uint64_t)nominal, STARTUP_PACING_GAIN);
}

static void set_cwnd(ho_quic_cc *cc, const ho_quic_cc_rate_sample *rs)
{
    ho_quic_bbr *b = &cc->u.bbr;
    uint64_t mds = cc->max_datagram_size;
    /* BBRUpdateMaxInflight */
    uint64_t max_inflight = quantization_budget(cc, bdp_multiple(cc, b->bw, b->cwnd_gain) + extra_acked(b));
    uint64_t cwnd = cc->cwnd;
    /* BBRModulateCwndForRecovery */
    if (rs->newly_lost > 0)
        cwnd = cwnd > rs->newly_lost + mds ? cwnd - rs->newly_lost : mds;
    if (b->packet_conservation) {
        cwnd = max_u64(cwnd, cc->bytes_in_flight + rs->newly_acked);
    } else {
        if (b->filled_pipe)
            cwnd = min_u64(cwnd + rs->newly_acked, max_inflight);
        else if (cwnd < max_inflight || cc->rate.delivered < ho_quic_cc_initial_window(mds))
            cwnd += rs->newly_acked;
        cwnd = max_u64(cwnd, min_pipe_cwnd(cc));
    }
    /* BBRBoundCwndForProbeRTT */
    if (b->state == HO_QUIC_BBR_PROBE_RTT)
        cwnd = min_u64(cwnd, probe_rtt_cwnd(cc));
    /* BBRBoundCwndForModel */
    uint64_t cap = INF;
    if (in_probe_bw(b) && b->state != HO_QUIC_BBR_PROBE_BW_CRUISE)
        cap = b->inflight_hi;
    else if (b->state == HO_QUIC_BBR_PROBE_RTT || b->state == HO_QUIC_BBR_PROBE_BW_CRUISE)
        cap = inflight_with_headroom(cc);
    cap = min_u64(cap, b->inflight_lo);
    cap = max_u64(cap, min_pipe_cwnd(cc));
    cwnd = min_u64(cwnd, cap);
    /* RFC 9002 §7.2: never below the minimum window. */
    cc->cwnd = max_u64(cwnd, ho_quic_cc_minimum_window(mds));
}

/* ---- the callbacks ---------------------------------------------------------- */

static void bbr_init(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    memset(b, 0, sizeof(*b));
    /* Probe-wait randomisation: a seed from the clock, so a simulated run
     * stays a function of its virtual time. */
    b->rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)now;
    if (b->rng == 0)
        b->rng = 1;
    b->min_rtt = HO_QUIC_TIME_NEVER;
    b->min_rtt_stamp = now;
    b->probe_rtt_min_delay = HO_QUIC_TIME_NEVER;
    b->probe_rtt_min_stamp = now;
    b->extra_acked_interval_start = now;
    b->inflight_hi = INF;
    b->probe_up_cnt = INF;
    reset_congestion_signals(b);
    reset_lower_bounds(b);
    cc->ssthresh = HO_QUIC_CC_INFINITE_SSTHRESH; /* unused by BBR */
    init_pacing_rate(cc, 0);
    enter_startup(b);
}

static void bbr_on_packet_sent(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                               ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    (void)space;
    (void)pn;
    /* BBRHandleRestartFromIdle: the first packet after an app-limited idle. */
    if (cc->bytes_in_flight == bytes && cc->rate.app_limited != 0) {
        b->idle_restart = true;
        b->extra_acked_interval_start = now;
        if (in_probe_bw(b))
            set_pacing_rate_with_gain(cc, 1.0);
        else if (b->state == HO_QUIC_BBR_PROBE_RTT)
            check_probe_rtt_done(cc, now);
    }
    if (cc->bytes_in_flight + cc->max_datagram_size > cc->cwnd)
        b->cwnd_limited = true;
}

static void bbr_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    const ho_quic_cc_rate_sample *rs = &ack->rate;
    if (!b->has_seen_rtt && ack->smoothed_rtt > 0 && ack->rtt_sampled) {
        /* Linux does the same: the draft's initial rate assumed 1 ms. */
        b->has_seen_rtt = true;
        init_pacing_rate(cc, ack->smoothed_rtt);
    }
    /* RFC 9002 §7.3.2: recovery ends with the ACK of a packet sent in it;
     * then the draft's BBRRestoreCwnd. */
    if (b->packet_conservation) {
        for (size_t i = 0; i < ack->count; i++) {
            if (!ho_quic_cc_in_recovery(cc, ack->packets[i].time_sent)) {
                b->packet_conservation = false;
                restore_cwnd(cc);
                break;
            }
        }
    }
    /* BBRUpdateModelAndState */
    update_latest_delivery_signals(cc, rs);
    update_congestion_signals(cc, rs);
    update_ack_aggregation(cc, rs, now);
    check_startup_done(cc, rs);
    if (b->state == HO_QUIC_BBR_DRAIN && cc->bytes_in_flight <= inflight_for(cc, b->max_bw, 1.0))
        start_probe_bw_down(cc, now); /* BBRCheckDrain: the queue is gone */
    update_probe_bw_cycle_phase(cc, rs, now);
    update_min_rtt(cc, ack->rtt_sampled ? ack->latest_rtt : -1, now);
    check_probe_rtt(cc, rs, now);
    if (b->loss_round_start) {
        /* BBRAdvanceLatestDeliverySignals */
        b->bw_latest = rs->delivery_rate;
        b->inflight_latest = rs->delivered;
    }
    b->bw = min_u64(b->max_bw, b->bw_lo); /* BBRBoundBWForModel */
    /* BBRUpdateControlParameters */
    set_pacing_rate_with_gain(cc, b->pacing_gain);
    set_cwnd(cc, rs);
    if (b->round_start)
        b->cwnd_limited = false;
}

static void bbr_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    (void)sent_time;
    (void)now;
    /* BBROnEnterFastRecovery: packet conservation for a round. RFC 9002
     * §7.3.2 (the window MUST shrink): what is in flight — the lost
     * packets already left it — plus one datagram, never more than the
     * window was. */
    save_cwnd(cc);
    uint64_t cwnd = min_u64(cc->bytes_in_flight + cc->max_datagram_size, cc->cwnd);
    if (cwnd == cc->cwnd && cwnd > cc->max_datagram_size)
        cwnd -= cc->max_datagram_size;
    cc->cwnd = max_u64(cwnd, ho_quic_cc_minimum_window(cc->max_datagram_size));
    b->packet_conservation = true;
}

static void bbr_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    ho_quic_bbr *b = &cc->u.bbr;
    (void)now;
    /* RFC 9002 §7.6.2: MUST go to the minimum window; no restore after. */
    b->prior_cwnd = 0;
    b->packet_conservation = false;
    cc->cwnd = ho_quic_cc_minimum_window(cc->max_datagram_size);
}

static ho_quic_cc_phase bbr_phase(const ho_quic_cc *cc)
{
    return cc->u.bbr.state == HO_QUIC_BBR_STARTUP ? HO_QUIC_CC_SLOW_START : HO_QUIC_CC_CONGESTION_AVOIDANCE;
}

const ho_quic_cc_ops ho_quic_cc_bbr = {
    .name = "bbr",
    .init = bbr_init,
    .on_packet_sent = bbr_on_packet_sent,
    .on_packets_acked = bbr_on_packets_acked,
    .on_congestion_event = bbr_on_congestion_event,
    .on_ecn_ce = NULL,
    .on_persistent_congestion = bbr_on_persistent_congestion,
    .on_app_limited = NULL,
    .phase = bbr_phase,
    .on_spurious_congestion = NULL,
    .on_packet_lost = bbr_on_packet_lost,
};
