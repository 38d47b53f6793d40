/* RTT estimator (src/quic/rtt.c) against RFC 9002 §5 / Appendix A.7. */
#include "harness.h"

#include "quic/rtt.h"

#define MS(x) HO_QUIC_MS(x)
#define US(x) HO_QUIC_US(x)

static void test_initial_state(void)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, 0);
    /* §6.2.2, A.4: kInitialRtt 333 ms, rttvar = kInitialRtt / 2. */
    CHECK_EQ(r.smoothed_rtt, MS(333));
    CHECK_EQ(r.rttvar, US(166500));
    CHECK_EQ(r.min_rtt, 0);
    CHECK_EQ(r.latest_rtt, 0);
    CHECK(!r.has_sample);
    CHECK_EQ(r.max_ack_delay, MS(25));
    /* PTO before any sample: 333 + 4 * 166.5 = 999 ms (§6.2.2: "a PTO of 1 second"). */
    CHECK_EQ(ho_quic_rtt_pto_base(&r), MS(999));

    /* A resumed connection may start from its previous smoothed RTT. */
    ho_quic_rtt_init(&r, MS(50));
    CHECK_EQ(r.smoothed_rtt, MS(50));
    CHECK_EQ(r.rttvar, MS(25));
}

static void test_first_sample(void)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, 0);
    ho_quic_time t0 = MS(1000);
    /* §5.3: the first sample resets the estimator; the ack delay is not
     * used for it. */
    ho_quic_rtt_update(&r, t0, MS(20), false, t0 + MS(100));
    CHECK(r.has_sample);
    CHECK_EQ(r.latest_rtt, MS(100));
    CHECK_EQ(r.min_rtt, MS(100));
    CHECK_EQ(r.smoothed_rtt, MS(100));
    CHECK_EQ(r.rttvar, MS(50));
    CHECK_EQ(r.first_sample_time, t0 + MS(100));
    CHECK_EQ(r.samples, 1);
}

static void test_smoothing_and_ack_delay(void)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, 0);
    ho_quic_rtt_update(&r, 0, 0, false, MS(100));

    /* latest 120, ack_delay 10: 120 >= min 100 + 10, so adjusted = 110.
     * rttvar = 3/4 * 50 + 1/4 * |100 - 110| = 40; srtt = 7/8 * 100 + 1/8 * 110. */
    ho_quic_rtt_update(&r, MS(1000), MS(10), false, MS(1120));
    CHECK_EQ(r.latest_rtt, MS(120));
    CHECK_EQ(r.min_rtt, MS(100));
    CHECK_EQ(r.rttvar, MS(40));
    CHECK_EQ(r.smoothed_rtt, US(101250));

    /* §5.3 MUST NOT subtract an ack delay that would go below min_rtt:
     * latest 105, ack_delay 10 -> 105 < 110, sample used raw. */
    ho_quic_rtt r2 = r;
    ho_quic_rtt_update(&r2, MS(2000), MS(10), false, MS(2105));
    CHECK_EQ(r2.smoothed_rtt, (7 * US(101250) + MS(105)) / 8);
    CHECK_EQ(r2.rttvar, (3 * MS(40) + (MS(105) - US(101250))) / 4);

    /* §5.2: min_rtt takes raw samples, ignoring the ack delay. */
    ho_quic_rtt_update(&r2, MS(3000), MS(5), false, MS(3090));
    CHECK_EQ(r2.min_rtt, MS(90));
}

static void test_max_ack_delay_after_confirmation(void)
{
    ho_quic_rtt a, b;
    ho_quic_rtt_init(&a, 0);
    ho_quic_rtt_set_max_ack_delay(&a, MS(25));
    ho_quic_rtt_update(&a, 0, 0, false, MS(50));
    b = a;
    /* latest 200 ms with a claimed ack delay of 100 ms (> max_ack_delay). */
    /* §5.3: before confirmation, SHOULD ignore max_ack_delay: adjusted 100. */
    ho_quic_rtt_update(&a, MS(1000), MS(100), false, MS(1200));
    CHECK_EQ(a.smoothed_rtt, (7 * MS(50) + MS(100)) / 8);
    /* After confirmation, MUST use min(ack_delay, max_ack_delay): adjusted 175. */
    ho_quic_rtt_update(&b, MS(1000), MS(100), true, MS(1200));
    CHECK_EQ(b.smoothed_rtt, (7 * MS(50) + MS(175)) / 8);
    CHECK_EQ(b.rttvar, (3 * MS(25) + (MS(175) - MS(50))) / 4);
}

static void test_derived_durations(void)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, 0);
    ho_quic_rtt_update(&r, 0, 0, false, MS(40));
    /* srtt 40, rttvar 20: PTO base = 40 + 80. */
    CHECK_EQ(ho_quic_rtt_pto_base(&r), MS(120));
    /* §6.1.2: 9/8 * max(srtt, latest) = 45 ms. */
    CHECK_EQ(ho_quic_rtt_loss_delay(&r), MS(45));
    /* latest above srtt drives the loss delay. */
    ho_quic_rtt_update(&r, MS(100), 0, false, MS(180));
    CHECK_EQ(r.latest_rtt, MS(80));
    CHECK_EQ(ho_quic_rtt_loss_delay(&r), MS(90));
    /* §7.6.1: (srtt + max(4 rttvar, 1ms) + max_ack_delay) * 3. */
    ho_quic_rtt_set_max_ack_delay(&r, MS(25));
    CHECK_EQ(ho_quic_rtt_persistent_congestion_duration(&r), (ho_quic_rtt_pto_base(&r) + MS(25)) * 3);

    /* Tiny RTTs: kGranularity floors both (§6.1.2, §6.2.1). */
    ho_quic_rtt t;
    ho_quic_rtt_init(&t, 0);
    ho_quic_rtt_update(&t, 0, 0, false, US(100));
    for (int i = 0; i < 200; i++)
        ho_quic_rtt_update(&t, MS(i), 0, false, MS(i) + US(100));
    CHECK_EQ(t.rttvar, 0);
    CHECK_EQ(ho_quic_rtt_pto_base(&t), US(100) + MS(1));
    CHECK_EQ(ho_quic_rtt_loss_delay(&t), MS(1));
}

static void test_edge_cases(void)
{
    ho_quic_rtt r;
    ho_quic_rtt_init(&r, 0);
    /* A clock that went backwards gives a zero sample, not a negative one. */
    ho_quic_rtt_update(&r, MS(10), 0, false, MS(5));
    CHECK_EQ(r.latest_rtt, 0);
    CHECK_EQ(r.smoothed_rtt, 0);
    /* Negative ack delays are treated as zero. */
    ho_quic_rtt_update(&r, MS(10), -MS(5), true, MS(30));
    CHECK_EQ(r.latest_rtt, MS(20));
    CHECK_EQ(r.smoothed_rtt, MS(20) / 8);
    /* §5.2: after persistent congestion min_rtt restarts at the newest sample. */
    CHECK_EQ(r.min_rtt, 0);
    ho_quic_rtt_on_persistent_congestion(&r);
    CHECK_EQ(r.min_rtt, MS(20));
    /* Virtual clocks may start at 0: a first sample at t = 0 still counts. */
    ho_quic_rtt z;
    ho_quic_rtt_init(&z, 0);
    ho_quic_rtt_update(&z, -MS(30), 0, false, 0);
    CHECK(z.has_sample);
    CHECK_EQ(z.first_sample_time, 0);
    CHECK_EQ(z.smoothed_rtt, MS(30));
}

int main(void)
{
    RUN(test_initial_state);
    RUN(test_first_sample);
    RUN(test_smoothing_and_ack_delay);
    RUN(test_max_ack_delay_after_confirmation);
    RUN(test_derived_durations);
    RUN(test_edge_cases);
    return ho_test_summary("test_quic_rtt");
}
