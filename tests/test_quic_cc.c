/* Congestion control (src/quic/cc/): NewReno against RFC 9002 §7 and
 * Appendix B, CUBIC against RFC 9438/8312 with reference curves computed
 * here, HyStart++ (RFC 9406), the pacer (§7.7), and a bottleneck
 * simulation that drives recovery + controller + pacer together. All on a
 * virtual clock (ho_quic_time nanoseconds). */
#include "harness.h"

#include "quic/recovery.h"
#include "quic/cc/cc.h"

#define MS(x) HO_QUIC_MS(x)
#define US(x) HO_QUIC_US(x)
#define SEC(x) HO_QUIC_SEC(x)
#define MDS 1200
#define APP HO_QUIC_PN_SPACE_APPLICATION

/* ---- helpers --------------------------------------------------------------- */

static ho_quic_rtt fixed_rtt(ho_quic_time srtt)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, srtt);
    r.latest_rtt = srtt;
    r.min_rtt = srtt;
    r.has_sample = true;
    r.first_sample_time = 0;
    return r;
}

/* Acknowledges one in-flight packet (its own ACK frame). */
static void ack_one(ho_quic_cc *cc, uint64_t pn, ho_quic_time sent, uint64_t bytes, const ho_quic_rtt *rtt,
                    bool sampled, ho_quic_time now)
{
    ho_quic_cc_packet p = {.pn = pn, .time_sent = sent, .bytes = bytes};
    ho_quic_cc_ack a = {.packets = &p, .count = 1, .space = APP, .rtt_sampled = sampled};
    ho_quic_cc_on_packets_acked(cc, &a, rtt, now);
}

/* One round trip of a window-limited sender: sends what the window allows
 * at `now`, all acknowledged (one ACK per packet) one `rtt` later. Returns
 * the time after the round. */
static ho_quic_time full_round(ho_quic_cc *cc, uint64_t *pn, ho_quic_time now, const ho_quic_rtt *rtt)
{
    uint64_t n = cc->cwnd / MDS;
    uint64_t first = *pn;
    for (uint64_t i = 0; i < n; i++)
        ho_quic_cc_on_packet_sent(cc, APP, (*pn)++, MDS, now);
    ho_quic_time t = now + rtt->smoothed_rtt;
    for (uint64_t i = 0; i < n; i++)
        ack_one(cc, first + i, now, MDS, rtt, true, t);
    return t;
}

/* cube root by bisection: independent of the library's Newton iteration. */
static double ref_cbrt(double x)
{
    double lo = 0, hi = x > 1 ? x : 1;
    for (int i = 0; i < 200; i++) {
        double mid = (lo + hi) / 2;
        if (mid * mid * mid < x)
            lo = mid;
        else
            hi = mid;
    }
    return (lo + hi) / 2;
}

static double dabs(double x) { return x < 0 ? -x : x; }

/* ---- registry and windows ---------------------------------------------------- */

static void test_registry_and_windows(void)
{
    CHECK(ho_quic_cc_by_name("cubic") == &ho_quic_cc_cubic);
    CHECK(ho_quic_cc_by_name("NewReno") == &ho_quic_cc_newreno);
    CHECK(ho_quic_cc_by_name(NULL) == &ho_quic_cc_cubic); /* the default */
    CHECK(ho_quic_cc_by_name("") == &ho_quic_cc_cubic);
    CHECK(ho_quic_cc_by_name("bbr") == &ho_quic_cc_bbr);
    CHECK(ho_quic_cc_by_name("bbr9") == NULL);
    CHECK(strcmp(ho_quic_cc_cubic.name, "cubic") == 0);

    /* RFC 9002 §7.2: min(10 * mds, max(14720, 2 * mds)). */
    CHECK_EQ(ho_quic_cc_initial_window(1200), 12000);
    CHECK_EQ(ho_quic_cc_initial_window(1472), 14720);
    CHECK_EQ(ho_quic_cc_initial_window(1500), 14720);
    CHECK_EQ(ho_quic_cc_initial_window(9000), 18000);
    CHECK_EQ(ho_quic_cc_minimum_window(1200), 2400);

    ho_quic_cc cc;
    ho_quic_cc_init(&cc, NULL, 1000, 0); /* below 1200: raised */
    CHECK(cc.ops == &ho_quic_cc_cubic);
    CHECK_EQ(cc.max_datagram_size, 1200);
    CHECK_EQ(cc.cwnd, 12000);
    CHECK_EQ(cc.ssthresh, HO_QUIC_CC_INFINITE_SSTHRESH);
    CHECK_EQ(cc.bytes_in_flight, 0);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    /* §7.2: the initial window follows a new datagram size. */
    ho_quic_cc_set_max_datagram_size(&cc, 1500);
    CHECK_EQ(cc.cwnd, 14720);
}

/* ---- NewReno ------------------------------------------------------------------- */

static void test_newreno_slow_start(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_newreno, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(50));
    uint64_t pn = 0;
    ho_quic_time now = 0;
    /* §7.3.1: the window grows by the bytes acknowledged: doubles per RTT. */
    for (int round = 1; round <= 6; round++) {
        now = full_round(&cc, &pn, now, &rtt);
        CHECK_EQ(cc.cwnd, 12000ULL << round);
        CHECK_EQ(cc.bytes_in_flight, 0);
    }
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
}

static void test_newreno_recovery(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_newreno, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(50));
    ho_quic_time t = SEC(1);
    cc.cwnd = 100 * MDS;
    for (uint64_t pn = 0; pn < 100; pn++)
        ho_quic_cc_on_packet_sent(&cc, APP, pn, MDS, t);
    CHECK(!ho_quic_cc_can_send(&cc, MDS));

    /* Loss of pn 0 detected at t + 60 ms: B.6 halves ssthresh and cwnd. */
    ho_quic_time t_loss = t + MS(60);
    ho_quic_cc_on_packets_lost(&cc, MDS, t, t_loss);
    CHECK_EQ(cc.ssthresh, 50 * MDS);
    CHECK_EQ(cc.cwnd, 50 * MDS);
    CHECK_EQ(cc.congestion_events, 1);
    CHECK_EQ(cc.bytes_in_flight, 99 * MDS);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_RECOVERY);
    /* §7.3.2: one packet may go out at once, past the window. */
    CHECK(ho_quic_cc_can_send(&cc, MDS));
    ho_quic_cc_on_packet_sent(&cc, APP, 100, MDS, t_loss + MS(1));
    CHECK(!ho_quic_cc_can_send(&cc, MDS));

    /* More losses of packets sent before recovery began: no new reduction
     * (one per round trip). */
    ho_quic_cc_on_packets_lost(&cc, 2 * MDS, t, t_loss + MS(5));
    CHECK_EQ(cc.cwnd, 50 * MDS);
    CHECK_EQ(cc.congestion_events, 1);
    /* Their acknowledgments do not grow the window either (B.5). */
    ack_one(&cc, 10, t, MDS, &rtt, true, t_loss + MS(6));
    CHECK_EQ(cc.cwnd, 50 * MDS);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_RECOVERY);

    /* A packet sent after the recovery start is acknowledged: recovery
     * ends, congestion avoidance: +1 datagram per window acknowledged. */
    ack_one(&cc, 100, t_loss + MS(1), MDS, &rtt, true, t_loss + MS(50));
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONGESTION_AVOIDANCE);
    uint64_t w = cc.cwnd;
    ho_quic_time t2 = t_loss + MS(60);
    for (uint64_t i = 0; i < 49; i++)
        ack_one(&cc, 200 + i, t2, MDS, &rtt, true, t2 + MS(50));
    CHECK_EQ(cc.cwnd, w + MDS); /* 50 acknowledged (with pn 100) = one window */
    for (uint64_t i = 0; i < 50; i++)
        ack_one(&cc, 300 + i, t2, MDS, &rtt, true, t2 + MS(50));
    CHECK_EQ(cc.cwnd, w + MDS); /* 50 < the new window of 51 */
    ack_one(&cc, 400, t2, MDS, &rtt, true, t2 + MS(50));
    CHECK_EQ(cc.cwnd, w + 2 * MDS);

    /* A loss of a packet sent after the last recovery began: halves again. */
    uint64_t before = cc.cwnd;
    ho_quic_cc_on_packets_lost(&cc, MDS, t2, t2 + MS(100));
    CHECK_EQ(cc.cwnd, before / 2);
    CHECK_EQ(cc.congestion_events, 2);
    /* ECN-CE counts as a congestion event too (§7.1), once per period. */
    ho_quic_cc_on_ecn_ce(&cc, t2 + MS(100), t2 + MS(150)); /* sent at recovery start: same period */
    CHECK_EQ(cc.cwnd, before / 2);
    ho_quic_cc_on_ecn_ce(&cc, t2 + MS(120), t2 + MS(200));
    CHECK_EQ(cc.cwnd, before / 4);
    CHECK_EQ(cc.ecn_ce_events, 2);
    ho_quic_cc_on_ecn_ce(&cc, t2 + MS(150), t2 + MS(210));
    CHECK_EQ(cc.cwnd, before / 4);
    CHECK_EQ(cc.ecn_ce_events, 3);
    CHECK_EQ(cc.congestion_events, 3);

    /* The window never drops below kMinimumWindow. */
    for (int i = 0; i < 20; i++)
        ho_quic_cc_on_packets_lost(&cc, 0 + MDS, SEC(10 + i), SEC(10 + i) + 1);
    CHECK_EQ(cc.cwnd, 2 * MDS);
    CHECK_EQ(cc.ssthresh, MDS); /* half of the minimum; cwnd is floored, not ssthresh */
}

static void test_newreno_persistent_congestion(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_newreno, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(50));
    cc.cwnd = 80 * MDS;
    for (uint64_t pn = 0; pn < 80; pn++)
        ho_quic_cc_on_packet_sent(&cc, APP, pn, MDS, SEC(1));
    ho_quic_cc_on_packets_lost(&cc, 80 * MDS, SEC(1), SEC(2));
    ho_quic_cc_on_persistent_congestion(&cc, SEC(2));
    /* §7.6.2: kMinimumWindow, recovery over, slow start up to ssthresh. */
    CHECK_EQ(cc.cwnd, 2 * MDS);
    CHECK_EQ(cc.ssthresh, 40 * MDS);
    CHECK_EQ(cc.bytes_in_flight, 0);
    CHECK_EQ(cc.persistent_congestion_events, 1);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    uint64_t pn = 100;
    ho_quic_time now = SEC(2);
    now = full_round(&cc, &pn, now, &rtt);
    CHECK_EQ(cc.cwnd, 4 * MDS);
}

static void test_app_limited(void)
{
    const ho_quic_cc_ops *algs[] = {&ho_quic_cc_newreno, &ho_quic_cc_cubic};
    for (int a = 0; a < 2; a++) {
        ho_quic_cc cc;
        ho_quic_cc_init(&cc, algs[a], MDS, 0);
        ho_quic_rtt rtt = fixed_rtt(MS(50));
        /* Only 3 packets to send: §7.8, the window must not grow. */
        for (uint64_t pn = 0; pn < 3; pn++)
            ho_quic_cc_on_packet_sent(&cc, APP, pn, MDS, 0);
        ho_quic_cc_set_app_limited(&cc, true, 0);
        for (uint64_t pn = 0; pn < 3; pn++)
            ack_one(&cc, pn, 0, MDS, &rtt, true, MS(50));
        CHECK_EQ(cc.cwnd, 12000);
        CHECK_EQ(cc.bytes_in_flight, 0);
        /* Filling the window ends the app-limited state by itself. */
        for (uint64_t pn = 3; pn < 13; pn++)
            ho_quic_cc_on_packet_sent(&cc, APP, pn, MDS, MS(60));
        CHECK(!cc.app_limited);
        ack_one(&cc, 3, MS(60), MDS, &rtt, true, MS(110));
        CHECK_EQ(cc.cwnd, 12000 + MDS);
    }
}

/* ---- CUBIC ----------------------------------------------------------------------- */

#define CUBIC_C 0.4
#define CUBIC_BETA 0.7

/* Grows a fresh CUBIC controller to `packets` datagrams in slow start
 * (constant RTT, so HyStart++ stays quiet) and returns the time. */
static ho_quic_time cubic_grow(ho_quic_cc *cc, uint64_t *pn, uint64_t packets, const ho_quic_rtt *rtt)
{
    ho_quic_time now = 0;
    while (cc->cwnd < packets * MDS) {
        uint64_t p = (*pn)++;
        ho_quic_cc_on_packet_sent(cc, APP, p, MDS, now);
        now += US(10);
        ack_one(cc, p, now - US(10), MDS, rtt, true, now);
    }
    cc->cwnd = packets * MDS;
    return now;
}

/* Window-limited congestion avoidance with one ACK per packet spread evenly
 * over each RTT; records cwnd at whole seconds after `t_origin`. */
static ho_quic_time cubic_run(ho_quic_cc *cc, uint64_t *pn, ho_quic_time from, ho_quic_time until,
                              const ho_quic_rtt *rtt, ho_quic_time t_origin, double *cwnd_at_sec, int max_sec)
{
    ho_quic_time now = from;
    int next_sec = (int)((from - t_origin) / SEC(1)) + 1;
    while (now < until) {
        uint64_t per_rtt = cc->cwnd / MDS;
        ho_quic_time dt = rtt->smoothed_rtt / (ho_quic_time)per_rtt;
        now += dt;
        uint64_t p = (*pn)++;
        ho_quic_cc_on_packet_sent(cc, APP, p, MDS, now - rtt->smoothed_rtt);
        ack_one(cc, p, now - rtt->smoothed_rtt, MDS, rtt, true, now);
        while (next_sec <= max_sec && now >= t_origin + (ho_quic_time)next_sec * SEC(1)) {
            cwnd_at_sec[next_sec] = (double)cc->cwnd;
            next_sec++;
        }
    }
    return now;
}

static void test_cubic_reduction_and_curve(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_cubic, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(100));
    uint64_t pn = 0;
    const uint64_t W = 1000; /* packets */
    ho_quic_time now = cubic_grow(&cc, &pn, W, &rtt);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);

    /* A loss: RFC 9438 §4.6: cwnd = β_cubic * cwnd, W_max = cwnd before. */
    ho_quic_time t_loss = now + MS(1);
    ho_quic_cc_on_packets_lost(&cc, MDS, now, t_loss);
    double w_max = (double)(W * MDS);
    CHECK_EQ(cc.cwnd, (uint64_t)(w_max * CUBIC_BETA));
    CHECK_EQ(cc.ssthresh, cc.cwnd);
    CHECK(dabs(cc.u.cubic.w_max - w_max) < 1e-6);
    CHECK(!cc.u.cubic.hystart.active);

    /* Reference: W(t) = C * (t - K)^3 + W_max in segments, K from
     * cwnd_epoch = β W_max (§4.2). */
    double wmax_seg = (double)W, epoch_seg = (double)cc.cwnd / MDS;
    double K = ref_cbrt((wmax_seg - epoch_seg) / CUBIC_C);
    CHECK(dabs(K - cc.u.cubic.k) < 1e-6);
    CHECK(dabs(K - 9.0856) < 1e-3); /* cbrt(300 / 0.4) */

    /* Congestion avoidance for 20 s; the window must follow W(t) (the
     * algorithm aims at W(t + RTT) and closes most of the gap each RTT, so
     * a couple of percent either way). */
    double at[32] = {0};
    cubic_run(&cc, &pn, t_loss, t_loss + SEC(20), &rtt, t_loss, at, 20);
    int off = 0;
    for (int s = 1; s <= 20; s++) {
        double d = s - K;
        double ref = (CUBIC_C * d * d * d + wmax_seg) * MDS;
        if (dabs(at[s] - ref) / ref > 0.02) {
            off++;
            fprintf(stderr, "cubic t=%d s: cwnd %.0f ref %.0f (%.2f%%)\n", s, at[s], ref, 100 * (at[s] - ref) / ref);
        }
    }
    CHECK_EQ(off, 0);
    printf("cubic curve: W_max %llu B, K %.3f s; cwnd at t=1,5,9,13,17 s: %.0f %.0f %.0f %.0f %.0f pkts\n",
           (unsigned long long)(W * MDS), K, at[1] / MDS, at[5] / MDS, at[9] / MDS, at[13] / MDS, at[17] / MDS);

    /* Concave, plateau, convex (§4.4, §4.5): per-second growth shrinks
     * towards K, then grows again. */
    double g_early = at[2] - at[1], g_plateau = at[9] - at[8], g_late = at[16] - at[15];
    CHECK(g_early > 3 * g_plateau);
    CHECK(g_late > 3 * g_plateau);
    CHECK(at[8] < w_max && at[11] > w_max);
    /* Strictly: increments fall up to K, rise after it. */
    int shape = 0;
    for (int s = 3; s <= 8; s++)
        shape += !(at[s] - at[s - 1] < at[s - 1] - at[s - 2]);
    for (int s = 12; s <= 20; s++)
        shape += !(at[s] - at[s - 1] > at[s - 1] - at[s - 2]);
    CHECK_EQ(shape, 0);
}

static void test_cubic_fast_convergence(void)
{
    ho_quic_rtt rtt = fixed_rtt(MS(100));
    for (int fc = 1; fc >= 0; fc--) {
        ho_quic_cc cc;
        ho_quic_cc_init(&cc, &ho_quic_cc_cubic, MDS, 0);
        cc.u.cubic.fast_convergence = fc;
        uint64_t pn = 0;
        ho_quic_time now = cubic_grow(&cc, &pn, 1000, &rtt);
        ho_quic_cc_on_packets_lost(&cc, MDS, now, now + 1);
        /* Grow for 3 s (well short of K = 9 s), then lose again below W_max. */
        double at[8];
        now = cubic_run(&cc, &pn, now + 1, now + SEC(3), &rtt, now, at, 0);
        double w2 = (double)cc.cwnd;
        CHECK(w2 < 1000.0 * MDS);
        ho_quic_cc_on_packets_lost(&cc, MDS, now, now + 1);
        /* §4.7: with fast convergence W_max = cwnd * (1 + β) / 2. */
        double want = fc ? w2 * (1 + CUBIC_BETA) / 2 : w2;
        CHECK(dabs(cc.u.cubic.w_max - want) < 1.0);
        CHECK_EQ(cc.cwnd, (uint64_t)(w2 * CUBIC_BETA));
        CHECK(dabs(cc.u.cubic.cwnd_prior - w2) < 1.0);
    }
}

static void test_cubic_reno_friendly(void)
{
    /* 1 ms RTT, W_max = 100 packets: K = cbrt(30 / 0.4) = 4.2 s, while Reno
     * adds a packet per millisecond: W_est dominates (§4.3). */
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_cubic, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(1));
    uint64_t pn = 0;
    ho_quic_time now = cubic_grow(&cc, &pn, 100, &rtt);
    ho_quic_time t_loss = now + 1;
    ho_quic_cc_on_packets_lost(&cc, MDS, now, t_loss);
    CHECK_EQ(cc.cwnd, 70 * MDS);
    double at[2] = {0};
    /* 200 RTTs. */
    now = cubic_run(&cc, &pn, t_loss, t_loss + MS(200), &rtt, t_loss, at, 0);
    double t = (double)(now - t_loss) / 1e9;
    double K = ref_cbrt(30 / CUBIC_C);
    double w_cubic = (CUBIC_C * (t - K) * (t - K) * (t - K) + 100) * MDS;
    /* Reference AIMD estimate in segments: α = 3(1-β)/(1+β) per RTT up to
     * cwnd_prior (100), then 1 per RTT (§4.3). */
    double alpha = 3 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA);
    double rtts = t / 1e-3, rtts_to_prior = 30 / alpha;
    double w_est = rtts <= rtts_to_prior ? 70 + alpha * rtts : 100 + (rtts - rtts_to_prior);
    printf("reno-friendly (RTT 1 ms, 200 RTTs): cwnd %.1f pkts, W_est ref %.1f, W_cubic %.1f\n",
           (double)cc.cwnd / MDS, w_est, w_cubic / MDS);
    CHECK((double)cc.cwnd > 2 * w_cubic);
    CHECK(dabs((double)cc.cwnd / MDS - w_est) / w_est < 0.05);
    CHECK(cc.u.cubic.alpha == 1.0);
}

static void test_cubic_persistent_congestion(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_cubic, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(20));
    uint64_t pn = 0;
    ho_quic_time now = cubic_grow(&cc, &pn, 200, &rtt);
    ho_quic_cc_on_packets_lost(&cc, MDS, now, now + 1);
    ho_quic_cc_on_persistent_congestion(&cc, now + 1);
    CHECK_EQ(cc.cwnd, 2 * MDS);
    CHECK_EQ(cc.ssthresh, 140 * MDS);
    CHECK(!cc.u.cubic.epoch_valid);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    /* Slow start back to ssthresh, then congestion avoidance with K = 0 and
     * W_max = cwnd (RFC 9438 §4.8). */
    now += MS(1);
    while (cc.cwnd < cc.ssthresh)
        now = full_round(&cc, &pn, now, &rtt);
    now = full_round(&cc, &pn, now, &rtt);
    CHECK(cc.u.cubic.epoch_valid);
    CHECK(cc.u.cubic.k == 0.0);
    CHECK(cc.u.cubic.w_max >= 140.0 * MDS);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONGESTION_AVOIDANCE);
}

/* ---- HyStart++ ------------------------------------------------------------------ */

/* One slow-start round: sends the window, acknowledges each packet in its
 * own ACK with an RTT sample of `rtt_sample`. */
static ho_quic_time hystart_round(ho_quic_cc *cc, uint64_t *pn, ho_quic_time now, ho_quic_time rtt_sample,
                                  ho_quic_cc_phase *phase_after_8)
{
    ho_quic_rtt rtt = fixed_rtt(rtt_sample);
    uint64_t n = cc->cwnd / MDS, first = *pn;
    for (uint64_t i = 0; i < n; i++)
        ho_quic_cc_on_packet_sent(cc, APP, (*pn)++, MDS, now);
    now += rtt_sample;
    for (uint64_t i = 0; i < n; i++) {
        ack_one(cc, first + i, now - rtt_sample, MDS, &rtt, true, now);
        if (i == 7 && phase_after_8 != NULL)
            *phase_after_8 = ho_quic_cc_phase_of(cc);
    }
    return now;
}

static void test_hystart(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_cubic, MDS, 0);
    uint64_t pn = 0;
    ho_quic_time now = 0;
    ho_quic_cc_phase ph;
    /* Constant 50 ms RTT: plain slow start, doubling. */
    for (int r = 0; r < 3; r++)
        now = hystart_round(&cc, &pn, now, MS(50), NULL);
    CHECK_EQ(cc.cwnd, 12000 * 8);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    CHECK_EQ(cc.u.cubic.hystart.css_entries, 0);

    /* RTT up by less than the threshold (max(4 ms, min(50/8, 16 ms)) = 6.25 ms): stays. */
    now = hystart_round(&cc, &pn, now, MS(56), NULL);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    now = hystart_round(&cc, &pn, now, MS(50), NULL);

    /* Up by 10 ms: after N_RTT_SAMPLE (8) samples of the round, CSS. */
    uint64_t w0 = cc.cwnd, n = w0 / MDS;
    now = hystart_round(&cc, &pn, now, MS(60), &ph);
    CHECK_EQ(ph, HO_QUIC_CC_CONSERVATIVE_SLOW_START);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONSERVATIVE_SLOW_START);
    CHECK_EQ(cc.u.cubic.hystart.css_entries, 1);
    CHECK_EQ(cc.u.cubic.hystart.css_baseline_min_rtt, MS(60));
    /* 8 packets at full growth, the rest at 1/CSS_GROWTH_DIVISOR (4). */
    CHECK_EQ(cc.cwnd, w0 + 8 * MDS + (n - 8) * MDS / 4);

    /* RTT back down below the baseline: the exit was spurious: slow start. */
    now = hystart_round(&cc, &pn, now, MS(50), &ph);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_SLOW_START);
    CHECK_EQ(cc.ssthresh, HO_QUIC_CC_INFINITE_SSTHRESH);

    /* Up again and staying up: CSS, then after CSS_ROUNDS (5, the partial
     * entry round counting) congestion avoidance with ssthresh = cwnd. */
    now = hystart_round(&cc, &pn, now, MS(50), NULL);
    now = hystart_round(&cc, &pn, now, MS(60), &ph);
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONSERVATIVE_SLOW_START);
    CHECK_EQ(cc.u.cubic.hystart.css_entries, 2);
    for (int r = 0; r < 4; r++) {
        uint64_t before = cc.cwnd;
        now = hystart_round(&cc, &pn, now, MS(60), NULL);
        CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONSERVATIVE_SLOW_START);
        CHECK_EQ(cc.cwnd, before + (before / MDS) * MDS / 4); /* 1/4 growth all round */
    }
    /* The first ACK of the next round completes the fifth CSS round. */
    uint64_t p = pn++;
    ho_quic_cc_on_packet_sent(&cc, APP, p, MDS, now);
    ho_quic_rtt rtt60 = fixed_rtt(MS(60));
    ack_one(&cc, p, now, MDS, &rtt60, true, now + MS(60));
    CHECK_EQ(ho_quic_cc_phase_of(&cc), HO_QUIC_CC_CONGESTION_AVOIDANCE);
    CHECK_EQ(cc.ssthresh, cc.cwnd);
    CHECK(!cc.u.cubic.hystart.active);
    CHECK(cc.u.cubic.epoch_valid);
    CHECK(cc.u.cubic.k == 0.0);

    /* HyStart++ only counts Application Data rounds: a handshake-space ACK
     * does not end a round or add a sample. */
    ho_quic_cc c2;
    ho_quic_cc_init(&c2, &ho_quic_cc_cubic, MDS, 0);
    ho_quic_cc_on_packet_sent(&c2, HO_QUIC_PN_SPACE_HANDSHAKE, 0, MDS, 0);
    ho_quic_cc_packet hp = {.pn = 0, .time_sent = 0, .bytes = MDS};
    ho_quic_cc_ack ha = {.packets = &hp, .count = 1, .space = HO_QUIC_PN_SPACE_HANDSHAKE, .rtt_sampled = true};
    ho_quic_rtt r50 = fixed_rtt(MS(50));
    ho_quic_cc_on_packets_acked(&c2, &ha, &r50, MS(50));
    CHECK_EQ(c2.u.cubic.hystart.rtt_sample_count, 0);
    CHECK(!c2.u.cubic.hystart.has_window_end);
    CHECK_EQ(c2.cwnd, 12000 + MDS);
}

/* ---- pacer --------------------------------------------------------------------- */

static void test_pacer(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_newreno, MDS, 0);
    ho_quic_rtt rtt = fixed_rtt(MS(100));
    /* §7.7: rate = 1.25 * cwnd / srtt = 1.25 * 12000 B / 0.1 s. */
    CHECK_EQ(ho_quic_cc_pacing_rate(&cc, &rtt), 150000);
    ho_quic_rtt zero = fixed_rtt(MS(1));
    zero.smoothed_rtt = 0;
    CHECK_EQ(ho_quic_cc_pacing_rate(&cc, &zero), UINT64_MAX);

    ho_quic_pacer p;
    ho_quic_pacer_init(&p, MDS);
    ho_quic_time now = SEC(1);
    /* A burst of ten datagrams leaves at once. */
    int burst = 0;
    while (ho_quic_pacer_next_send_time(&p, &cc, &rtt, MDS, now) == now && burst < 100) {
        ho_quic_pacer_on_packet_sent(&p, &cc, &rtt, MDS, now);
        burst++;
    }
    CHECK_EQ(burst, HO_QUIC_PACER_BURST_PACKETS);
    /* Then one per 1200 / 150000 s = 8 ms. */
    ho_quic_time next = ho_quic_pacer_next_send_time(&p, &cc, &rtt, MDS, now);
    CHECK_EQ(next - now, MS(8));
    /* Over one second of steady sending: 125 more datagrams. */
    int sent = 0;
    ho_quic_time end = now + SEC(1);
    while (1) {
        ho_quic_time t = ho_quic_pacer_next_send_time(&p, &cc, &rtt, MDS, now);
        if (t > end)
            break;
        now = t;
        ho_quic_pacer_on_packet_sent(&p, &cc, &rtt, MDS, now);
        sent++;
    }
    CHECK_EQ(sent, 125);
    /* The rate follows the window. */
    cc.cwnd *= 4;
    CHECK_EQ(ho_quic_pacer_next_send_time(&p, &cc, &rtt, MDS, now) - now, MS(2));
    /* After a long idle period the bucket holds one burst, not more. */
    now += SEC(60);
    burst = 0;
    while (ho_quic_pacer_next_send_time(&p, &cc, &rtt, MDS, now) == now && burst < 100) {
        ho_quic_pacer_on_packet_sent(&p, &cc, &rtt, MDS, now);
        burst++;
    }
    CHECK_EQ(burst, HO_QUIC_PACER_BURST_PACKETS);
}

/* ---- bottleneck simulation ----------------------------------------------------- */

/* One sender (recovery + controller + pacer) through a drop-tail
 * bottleneck of fixed rate, then a fixed propagation delay; the receiver
 * acknowledges every packet at once with up to 16 ranges. Packet-level,
 * event-driven, virtual time. */
typedef struct sim_params {
    uint64_t rate;         /* bottleneck, bytes/s */
    ho_quic_time prop_rtt; /* propagation round trip */
    uint64_t buffer_pkts;  /* drop-tail queue, datagrams */
    ho_quic_time duration;
    ho_quic_time warmup;   /* excluded from the figures */
} sim_params;

typedef struct sim_result {
    double utilisation;
    double mean_peak_pkts, mean_trough_pkts; /* window before / after reductions */
    uint64_t losses, drops, congestion_events, pto, persistent, errors;
    uint64_t css_entries; /* HyStart++ (CUBIC only) */
    double first_loss_cwnd_pkts; /* window at the first congestion event: the slow-start exit */
    double min_cwnd_pkts, max_cwnd_pkts;
} sim_result;

#define SIM_FIFO (1 << 16)
#define SIM_RANGES 16

typedef struct sim {
    ho_quic_cc cc;
    ho_quic_recovery r;
    ho_quic_pacer pacer;
    /* packets in the network, in departure order */
    uint64_t pn[SIM_FIFO];
    ho_quic_time depart[SIM_FIFO];
    uint64_t head, queue_head, tail; /* head: next ACK; queue_head: first not yet departed */
    ho_quic_time link_free;
    ho_quic_pn_range rx[SIM_RANGES];
    size_t rx_n;
} sim;

static void sim_receive(sim *s, uint64_t pn)
{
    if (s->rx_n > 0 && pn == s->rx[0].largest + 1) {
        s->rx[0].largest = pn;
        return;
    }
    size_t keep = s->rx_n < SIM_RANGES ? s->rx_n : SIM_RANGES - 1;
    memmove(&s->rx[1], &s->rx[0], keep * sizeof(s->rx[0]));
    s->rx[0] = (ho_quic_pn_range){pn, pn};
    s->rx_n = keep + 1;
}

static void simulate(const ho_quic_cc_ops *ops, const sim_params *prm, sim_result *res)
{
    sim *s = calloc(1, sizeof(*s));
    ho_quic_cc_init(&s->cc, ops, MDS, 0);
    ho_quic_recovery_init(&s->r, true, &s->cc, NULL, 0);
    ho_quic_recovery_on_handshake_confirmed(&s->r, 0);
    ho_quic_pacer_init(&s->pacer, MDS);
    memset(res, 0, sizeof(*res));
    res->min_cwnd_pkts = 1e18;

    const ho_quic_time tx_time = (ho_quic_time)((uint64_t)MDS * HO_QUIC_NS_PER_SEC / prm->rate);
    uint64_t next_pn = 0, delivered = 0, peaks = 0;
    double peak_sum = 0, trough_sum = 0;
    ho_quic_time now = 0;
    while (now < prm->duration) {
        /* Next event: an ACK reaching the sender, the loss timer, a send. */
        ho_quic_time t_ack = s->head < s->tail ? s->depart[s->head % SIM_FIFO] + prm->prop_rtt : HO_QUIC_TIME_NEVER;
        ho_quic_time t_timer = ho_quic_recovery_timer(&s->r);
        bool probe = ho_quic_recovery_probes_pending(&s->r, APP) > 0;
        ho_quic_time t_send = HO_QUIC_TIME_NEVER;
        if (probe)
            t_send = now;
        else if (ho_quic_cc_can_send(&s->cc, MDS))
            t_send = ho_quic_pacer_next_send_time(&s->pacer, &s->cc, &s->r.rtt, MDS, now);
        ho_quic_time t = t_ack < t_timer ? t_ack : t_timer;
        if (t_send < t)
            t = t_send;
        if (t < now)
            t = now;
        now = t;

        if (now == t_ack) {
            uint64_t pn = s->pn[s->head % SIM_FIFO];
            s->head++;
            sim_receive(s, pn);
            ho_quic_ack_info a = {.ranges = s->rx, .range_count = s->rx_n};
            uint64_t cwnd_before = s->cc.cwnd, events_before = s->cc.congestion_events;
            if (ho_quic_recovery_on_ack_received(&s->r, APP, &a, now) != HO_OK)
                res->errors++;
            if (s->cc.congestion_events != events_before && events_before == 0)
                res->first_loss_cwnd_pkts = (double)cwnd_before / MDS;
            if (s->cc.congestion_events != events_before && now >= prm->warmup) {
                peak_sum += (double)cwnd_before / MDS;
                trough_sum += (double)s->cc.cwnd / MDS;
                peaks++;
            }
        } else if (now == t_timer) {
            ho_quic_timeout_action act;
            ho_quic_recovery_on_timeout(&s->r, now, &act);
        } else {
            /* Send one datagram into the bottleneck. */
            uint64_t pn = next_pn++;
            ho_quic_sent_packet p = {.pn = pn, .bytes = MDS,
                                     .flags = HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT};
            ho_quic_recovery_on_packet_sent(&s->r, APP, &p, now);
            if (!probe)
                ho_quic_pacer_on_packet_sent(&s->pacer, &s->cc, &s->r.rtt, MDS, now);
            while (s->queue_head < s->tail && s->depart[s->queue_head % SIM_FIFO] <= now)
                s->queue_head++;
            if (s->tail - s->queue_head >= prm->buffer_pkts || s->tail - s->head >= SIM_FIFO) {
                res->drops++;
            } else {
                ho_quic_time d = (now > s->link_free ? now : s->link_free) + tx_time;
                s->link_free = d;
                s->pn[s->tail % SIM_FIFO] = pn;
                s->depart[s->tail % SIM_FIFO] = d;
                s->tail++;
                if (d >= prm->warmup && d < prm->duration)
                    delivered++;
            }
        }
        if (now >= prm->warmup) {
            double w = (double)s->cc.cwnd / MDS;
            if (w < res->min_cwnd_pkts)
                res->min_cwnd_pkts = w;
            if (w > res->max_cwnd_pkts)
                res->max_cwnd_pkts = w;
        }
    }
    double window_s = (double)(prm->duration - prm->warmup) / 1e9;
    res->utilisation = (double)delivered * MDS / ((double)prm->rate * window_s);
    res->mean_peak_pkts = peaks ? peak_sum / (double)peaks : 0;
    res->mean_trough_pkts = peaks ? trough_sum / (double)peaks : 0;
    res->losses = s->r.stats.packets_lost;
    res->congestion_events = s->cc.congestion_events;
    res->pto = s->r.stats.pto_expirations;
    res->persistent = s->cc.persistent_congestion_events;
    if (ops == &ho_quic_cc_cubic)
        res->css_entries = s->cc.u.cubic.hystart.css_entries;
    ho_quic_recovery_free(&s->r);
    free(s);
}

static void test_simulation(void)
{
    /* 12 Mbit/s, 40 ms: BDP = 60 kB = 50 datagrams. */
    sim_params base = {
        .rate = 1500000,
        .prop_rtt = MS(40),
        .buffer_pkts = 50,
        .duration = SEC(120), /* 3000 propagation RTTs */
        .warmup = SEC(10),
    };
    const double bdp = 50.0;
    uint64_t buffers[] = {50, 13};
    for (int b = 0; b < 2; b++) {
        sim_params prm = base;
        prm.buffer_pkts = buffers[b];
        double target = bdp + (double)prm.buffer_pkts;
        const ho_quic_cc_ops *algs[] = {&ho_quic_cc_newreno, &ho_quic_cc_cubic};
        for (int a = 0; a < 2; a++) {
            sim_result res;
            simulate(algs[a], &prm, &res);
            printf("sim %-7s BDP 50 pkts, buffer %2llu pkts: utilisation %.1f%%, window peaks %.1f pkts"
                   " (BDP+buffer %.0f), troughs %.1f, range %.0f..%.0f, %llu congestion events,"
                   " %llu lost, %llu dropped, %llu PTOs, %llu persistent; slow start ended at %.0f pkts,"
                   " %llu HyStart++ CSS entries\n",
                   algs[a]->name, (unsigned long long)prm.buffer_pkts, res.utilisation * 100, res.mean_peak_pkts,
                   target, res.mean_trough_pkts, res.min_cwnd_pkts, res.max_cwnd_pkts,
                   (unsigned long long)res.congestion_events, (unsigned long long)res.losses,
                   (unsigned long long)res.drops, (unsigned long long)res.pto, (unsigned long long)res.persistent,
                   res.first_loss_cwnd_pkts, (unsigned long long)res.css_entries);
            CHECK_EQ(res.errors, 0);
            CHECK(res.utilisation >= 0.80);
            CHECK(res.utilisation <= 1.0 + 1e-9);
            CHECK(res.congestion_events > 10);
            CHECK_EQ(res.persistent, 0);
            /* Losses are seen: every drop is eventually declared lost. */
            CHECK(res.losses >= res.drops * 9 / 10);
            if (algs[a] == &ho_quic_cc_cubic) {
                /* CUBIC's window oscillates around BDP + buffer: the peaks
                 * (W_max) sit at it, the troughs at β of it. */
                CHECK(res.mean_peak_pkts > 0.85 * target && res.mean_peak_pkts < 1.25 * target);
                CHECK(res.mean_trough_pkts > 0.6 * target && res.mean_trough_pkts < 0.9 * target);
            }
        }
    }
}

int main(void)
{
    RUN(test_registry_and_windows);
    RUN(test_newreno_slow_start);
    RUN(test_newreno_recovery);
    RUN(test_newreno_persistent_congestion);
    RUN(test_app_limited);
    RUN(test_cubic_reduction_and_curve);
    RUN(test_cubic_fast_convergence);
    RUN(test_cubic_reno_friendly);
    RUN(test_cubic_persistent_congestion);
    RUN(test_hystart);
    RUN(test_pacer);
    RUN(test_simulation);
    return ho_test_summary("test_quic_cc");
}
