/* Loss detection (src/quic/recovery.c) against RFC 9002 §6, §7.6 and
 * Appendix A, on a virtual clock (ho_quic_time nanoseconds). */
#include "harness.h"

#include "quic/recovery.h"

#include <time.h>

#define MS(x) HO_QUIC_MS(x)
#define US(x) HO_QUIC_US(x)
#define MDS 1200
#define APP HO_QUIC_PN_SPACE_APPLICATION
#define HS HO_QUIC_PN_SPACE_HANDSHAKE
#define INI HO_QUIC_PN_SPACE_INITIAL
#define AE_IF (HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT)
#define MAX_EVENTS 512

typedef struct events {
    uint64_t acked[MAX_EVENTS], lost[MAX_EVENTS], discarded[MAX_EVENTS];
    size_t n_acked, n_lost, n_discarded;
    uintptr_t frames_sum; /* sum of the handles seen back, all callbacks */
    int bad_space;
} events;

typedef struct fixture {
    ho_quic_cc cc;
    ho_quic_recovery r;
    events ev;
    ho_quic_pn_space expect_space;
} fixture;

static void record(uint64_t *arr, size_t *n, uint64_t pn)
{
    if (*n < MAX_EVENTS)
        arr[*n] = pn;
    (*n)++;
}

static void on_acked(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *p)
{
    fixture *f = ctx;
    record(f->ev.acked, &f->ev.n_acked, p->pn);
    f->ev.frames_sum += p->frames;
    if (space != f->expect_space)
        f->ev.bad_space++;
}

static void on_lost(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *p)
{
    fixture *f = ctx;
    record(f->ev.lost, &f->ev.n_lost, p->pn);
    f->ev.frames_sum += p->frames;
    if (space != f->expect_space)
        f->ev.bad_space++;
}

static void on_discarded(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *p)
{
    fixture *f = ctx;
    record(f->ev.discarded, &f->ev.n_discarded, p->pn);
    f->ev.frames_sum += p->frames;
    if (space != f->expect_space)
        f->ev.bad_space++;
}

static void fx_init(fixture *f, bool is_server, bool confirmed)
{
    memset(f, 0, sizeof(*f));
    f->expect_space = APP;
    ho_quic_cc_init(&f->cc, &ho_quic_cc_newreno, MDS, 0);
    ho_quic_recovery_callbacks cb = {.ctx = f, .on_acked = on_acked, .on_lost = on_lost, .on_discarded = on_discarded};
    ho_quic_recovery_init(&f->r, is_server, &f->cc, &cb, 0);
    if (confirmed)
        ho_quic_recovery_on_handshake_confirmed(&f->r, 0);
}

static void fx_free(fixture *f) { ho_quic_recovery_free(&f->r); }

static void clear_events(fixture *f) { memset(&f->ev, 0, sizeof(f->ev)); }

static int send_pkt(fixture *f, ho_quic_pn_space space, uint64_t pn, uint32_t bytes, uint8_t flags, ho_quic_time now)
{
    ho_quic_sent_packet p = {.pn = pn, .bytes = bytes, .flags = flags, .frames = (uintptr_t)(pn + 1)};
    return ho_quic_recovery_on_packet_sent(&f->r, space, &p, now);
}

/* ACK of the given ranges, descending pairs {smallest, largest}. */
static int ack_ranges(fixture *f, ho_quic_pn_space space, const ho_quic_pn_range *ranges, size_t n,
                      ho_quic_time ack_delay, ho_quic_time now)
{
    ho_quic_ack_info a = {.ranges = ranges, .range_count = n, .ack_delay = ack_delay};
    return ho_quic_recovery_on_ack_received(&f->r, space, &a, now);
}

static int ack1(fixture *f, ho_quic_pn_space space, uint64_t lo, uint64_t hi, ho_quic_time ack_delay, ho_quic_time now)
{
    ho_quic_pn_range rg = {lo, hi};
    return ack_ranges(f, space, &rg, 1, ack_delay, now);
}

/* One RTT sample of `rtt` in `space` using packet pn sent at `t`. */
static void rtt_sample(fixture *f, ho_quic_pn_space space, uint64_t pn, ho_quic_time t, ho_quic_time rtt)
{
    send_pkt(f, space, pn, MDS, AE_IF, t);
    ack1(f, space, pn, pn, 0, t + rtt);
}

static bool list_is(const uint64_t *got, size_t n, const uint64_t *want, size_t m)
{
    if (n != m)
        return false;
    for (size_t i = 0; i < n; i++)
        if (got[i] != want[i])
            return false;
    return true;
}

/* ---- ACK processing ----------------------------------------------------- */

static void test_ack_ranges(void)
{
    fixture f;
    fx_init(&f, true, true);
    for (uint64_t pn = 0; pn < 10; pn++)
        CHECK_EQ(send_pkt(&f, APP, pn, MDS, AE_IF, MS(pn)), HO_OK);
    CHECK_EQ(f.cc.bytes_in_flight, 10 * MDS);
    CHECK(ho_quic_recovery_has_ack_eliciting_in_flight(&f.r, APP));

    /* Three ranges, largest first, as in the frame. */
    ho_quic_pn_range rg[] = {{7, 9}, {3, 5}, {0, 1}};
    CHECK_EQ(ack_ranges(&f, APP, rg, 3, 0, MS(50)), HO_OK);
    uint64_t want_acked[] = {0, 1, 3, 4, 5, 7, 8, 9};
    CHECK(list_is(f.ev.acked, f.ev.n_acked, want_acked, 8));
    /* §6.1.1: 2 and 6 are at least kPacketThreshold below 9. */
    uint64_t want_lost[] = {2, 6};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, want_lost, 2));
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    CHECK(!ho_quic_recovery_has_ack_eliciting_in_flight(&f.r, APP));
    CHECK_EQ(f.ev.bad_space, 0);
    /* Handles came back: sum of pn + 1 over all ten packets. */
    CHECK_EQ(f.ev.frames_sum, 55);
    /* RTT sample from pn 9: sent at 9 ms, acked at 50 ms. */
    CHECK_EQ(f.r.rtt.latest_rtt, MS(41));
    CHECK_EQ(f.r.stats.packets_acked, 8);
    CHECK_EQ(f.r.stats.packets_lost, 2);

    /* The same ACK again acknowledges nothing new. */
    clear_events(&f);
    CHECK_EQ(ack_ranges(&f, APP, rg, 3, 0, MS(60)), HO_OK);
    CHECK_EQ(f.ev.n_acked, 0);
    CHECK_EQ(f.ev.n_lost, 0);
    CHECK_EQ(f.r.rtt.samples, 1);

    /* RFC 9000 §13.1: acknowledging a packet never sent. */
    CHECK_EQ(ack1(&f, APP, 9, 10, 0, MS(70)), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    /* RFC 9000 §21.4: a skipped packet number must not be acknowledged. */
    CHECK_EQ(send_pkt(&f, APP, 11, MDS, AE_IF, MS(80)), HO_OK);
    CHECK_EQ(send_pkt(&f, APP, 13, MDS, AE_IF, MS(81)), HO_OK);
    CHECK_EQ(ack1(&f, APP, 11, 13, 0, MS(90)), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    CHECK_EQ(f.ev.n_acked, 0); /* nothing applied */
    CHECK_EQ(f.cc.bytes_in_flight, 2 * MDS);
    ho_quic_pn_range skip_ok[] = {{13, 13}, {11, 11}};
    CHECK_EQ(ack_ranges(&f, APP, skip_ok, 2, 0, MS(90)), HO_OK);
    CHECK_EQ(f.ev.n_acked, 2);
    /* Malformed ranges. */
    ho_quic_pn_range ascending[] = {{0, 1}, {3, 5}};
    CHECK_EQ(ack_ranges(&f, APP, ascending, 2, 0, MS(91)), HO_ERR_INVALID_ARG);
    ho_quic_pn_range inverted = {5, 3};
    CHECK_EQ(ack_ranges(&f, APP, &inverted, 1, 0, MS(91)), HO_ERR_INVALID_ARG);
    CHECK_EQ(ack_ranges(&f, APP, NULL, 0, 0, MS(91)), HO_ERR_INVALID_ARG);
    /* Packet numbers only increase. */
    CHECK_EQ(send_pkt(&f, APP, 13, MDS, AE_IF, MS(92)), HO_ERR_INVALID_ARG);
    CHECK_EQ(send_pkt(&f, APP, 12, MDS, AE_IF, MS(92)), HO_ERR_INVALID_ARG);
    fx_free(&f);
}

static void test_rtt_sample_rules(void)
{
    fixture f;
    fx_init(&f, true, true);
    /* §5.1: an ACK that only newly acknowledges non-ack-eliciting packets
     * gives no sample. */
    send_pkt(&f, APP, 0, 50, 0, 0); /* ACK-only: neither ack-eliciting nor in flight */
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), HO_QUIC_TIME_NEVER);
    ack1(&f, APP, 0, 0, 0, MS(30));
    CHECK_EQ(f.ev.n_acked, 1);
    CHECK(!f.r.rtt.has_sample);

    /* §5.1: no sample unless the largest acknowledged is newly acked. */
    send_pkt(&f, APP, 1, MDS, AE_IF, MS(100));
    send_pkt(&f, APP, 2, MDS, AE_IF, MS(101));
    ack1(&f, APP, 2, 2, 0, MS(140));
    CHECK(f.r.rtt.has_sample);
    CHECK_EQ(f.r.rtt.latest_rtt, MS(39));
    ho_quic_pn_range both[] = {{1, 2}};
    ack_ranges(&f, APP, both, 1, 0, MS(141)); /* newly acks 1, not the largest */
    CHECK_EQ(f.r.rtt.samples, 1);
    CHECK_EQ(f.r.rtt.latest_rtt, MS(39));

    /* §5.3: ack delay is ignored for Initial packets, used otherwise. */
    fixture g;
    fx_init(&g, true, false);
    g.expect_space = INI;
    rtt_sample(&g, INI, 0, 0, MS(100));
    send_pkt(&g, INI, 1, MDS, AE_IF, MS(200));
    ack1(&g, INI, 1, 1, MS(50), MS(350)); /* latest 150, delay would give 100 */
    CHECK_EQ(g.r.rtt.smoothed_rtt, (7 * MS(100) + MS(150)) / 8);
    g.expect_space = HS;
    send_pkt(&g, HS, 0, MDS, AE_IF, MS(400));
    ack1(&g, HS, 0, 0, MS(50), MS(550));
    CHECK_EQ(g.r.rtt.latest_rtt, MS(150));
    ho_quic_time srtt1 = (7 * MS(100) + MS(150)) / 8;
    CHECK_EQ(g.r.rtt.smoothed_rtt, (7 * srtt1 + MS(100)) / 8);
    fx_free(&f);
    fx_free(&g);
}

/* ---- loss detection ------------------------------------------------------ */

static void test_packet_threshold(void)
{
    fixture f;
    fx_init(&f, true, true);
    for (uint64_t pn = 0; pn < 5; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, MS(pn));
    /* Largest acked 3: only pn 0 is kPacketThreshold (3) below it. */
    ack1(&f, APP, 3, 3, 0, MS(50));
    uint64_t lost0[] = {0};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost0, 1));
    /* 1 and 2 wait for the time threshold: the timer is their loss time. */
    ho_quic_time loss_delay = ho_quic_rtt_loss_delay(&f.r.rtt);
    CHECK_EQ(f.r.spaces[APP].loss_time, MS(1) + loss_delay);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), MS(1) + loss_delay);
    /* A congestion event happened: NewReno halved the initial window. */
    uint64_t iw = ho_quic_cc_initial_window(MDS);
    CHECK_EQ(f.cc.cwnd, iw / 2);
    CHECK_EQ(f.cc.congestion_events, 1);
    /* Largest acked 4: pn 1 crosses the threshold. */
    ack1(&f, APP, 4, 4, 0, MS(51));
    uint64_t lost01[] = {0, 1};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost01, 2));
    /* Still one reduction: pn 1 was sent before the recovery period began. */
    CHECK_EQ(f.cc.congestion_events, 1);
    CHECK_EQ(f.cc.cwnd, iw / 2);
    CHECK_EQ(f.cc.bytes_in_flight, MDS); /* pn 2 */
    fx_free(&f);
}

static void test_time_threshold(void)
{
    fixture f;
    fx_init(&f, true, true);
    rtt_sample(&f, APP, 0, 0, MS(80)); /* srtt 80 ms */
    ho_quic_time t = MS(1000);
    send_pkt(&f, APP, 1, MDS, AE_IF, t);
    send_pkt(&f, APP, 2, MDS, AE_IF, t + MS(1));
    /* pn 2 acknowledged after 70 ms; pn 1 is only 1 below: not lost yet. */
    ack1(&f, APP, 2, 2, 0, t + MS(71));
    CHECK_EQ(f.ev.n_lost, 0);
    /* §6.1.2: 9/8 * max(srtt, latest_rtt). srtt = 7/8*80 + 1/8*70. */
    ho_quic_time srtt = (7 * MS(80) + MS(70)) / 8;
    CHECK_EQ(f.r.rtt.smoothed_rtt, srtt);
    ho_quic_time loss_time = t + srtt * 9 / 8;
    CHECK_EQ(ho_quic_recovery_timer(&f.r), loss_time);

    /* The virtual clock before the deadline: nothing happens. */
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f.r, loss_time - 1, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_NONE);
    CHECK_EQ(f.ev.n_lost, 0);
    /* At the deadline pn 1 is declared lost by the timer. */
    ho_quic_recovery_on_timeout(&f.r, loss_time, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_LOSS);
    CHECK_EQ(act.space, APP);
    uint64_t lost1[] = {1};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost1, 1));
    CHECK_EQ(f.r.stats.loss_timer_expirations, 1);
    CHECK_EQ(f.r.pto_count, 0); /* a loss timer is not a PTO */
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), HO_QUIC_TIME_NEVER);
    fx_free(&f);
}

static void test_reordering_below_threshold(void)
{
    fixture f;
    fx_init(&f, true, true);
    rtt_sample(&f, APP, 0, 0, MS(50));
    ho_quic_time t = MS(1000);
    for (uint64_t pn = 1; pn <= 6; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, t + US(100 * pn));
    /* 1 arrives late: 2 and 3 are acknowledged first (only 2 above it). */
    ack1(&f, APP, 2, 3, 0, t + MS(50));
    CHECK_EQ(f.ev.n_lost, 0);
    CHECK(f.r.spaces[APP].loss_time != HO_QUIC_TIME_NEVER);
    /* Then 1 is acknowledged before its loss time: no loss, no reduction. */
    ho_quic_pn_range rg[] = {{1, 3}};
    ack_ranges(&f, APP, rg, 1, 0, t + MS(52));
    CHECK_EQ(f.ev.n_lost, 0);
    CHECK_EQ(f.cc.congestion_events, 0);
    CHECK_EQ(f.r.spaces[APP].loss_time, HO_QUIC_TIME_NEVER);
    /* 4..6 still in flight, above the largest acked: the PTO is armed. */
    CHECK_EQ(f.cc.bytes_in_flight, 3 * MDS);
    ho_quic_time pto = ho_quic_recovery_pto_period(&f.r, APP);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t + US(600) + pto);
    fx_free(&f);
}

/* Issue 16: a packet declared lost by the packet threshold and then
 * acknowledged was reordered. It counts as spurious, lifts the packet
 * threshold out of the way (RACK-style) and the time threshold to the
 * time it took, and once every loss of the episode proved spurious the
 * window, ssthresh and the algorithm's state come back (RFC 9002 §6.1). */
static void spurious_case(const ho_quic_cc_ops *ops)
{
    fixture f;
    fx_init(&f, true, true);
    ho_quic_cc_init(&f.cc, ops, MDS, 0);
    rtt_sample(&f, APP, 0, 0, MS(50));
    uint64_t cwnd0 = f.cc.cwnd, ssthresh0 = f.cc.ssthresh;
    CHECK_EQ(f.r.packet_threshold, HO_QUIC_PACKET_THRESHOLD);
    CHECK_EQ(f.r.time_threshold_8ths, HO_QUIC_TIME_THRESHOLD_8THS);
    ho_quic_time t = MS(1000);
    for (uint64_t pn = 1; pn <= 12; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, t + US(100 * pn));
    ho_quic_cc u0 = f.cc; /* the algorithm's state before the event */
    /* 5 arrives first: 1 and 2 are kPacketThreshold below it. */
    ack1(&f, APP, 5, 5, 0, t + MS(50));
    uint64_t lost12[] = {1, 2};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost12, 2));
    CHECK_EQ(f.cc.congestion_events, 1);
    CHECK(f.cc.cwnd < cwnd0);
    uint64_t reduced = f.cc.cwnd;
    CHECK_EQ(f.r.stats.packets_spurious_lost, 0);

    /* 1 turns up: spurious, reordered by 5 - 1 = 4 packets. 2 may still be
     * really lost: the reduction stands. */
    ho_quic_pn_range r1[] = {{5, 5}, {1, 1}};
    ack_ranges(&f, APP, r1, 2, 0, t + MS(60));
    CHECK_EQ(f.r.stats.packets_spurious_lost, 1);
    CHECK_EQ(f.r.packet_threshold, HO_QUIC_PACKET_THRESHOLD_MAX);
    CHECK_EQ(f.r.stats.reorder_distance_max, 4);
    /* It took 60 ms against max(srtt, latest_rtt) of 50 ms: 10/8 would not
     * have waited; the threshold now would. */
    CHECK(f.r.time_threshold_8ths > HO_QUIC_TIME_THRESHOLD_8THS);
    CHECK(f.r.time_threshold_8ths <= HO_QUIC_TIME_THRESHOLD_8THS_MAX);
    ho_quic_time base = f.r.rtt.smoothed_rtt > f.r.rtt.latest_rtt ? f.r.rtt.smoothed_rtt : f.r.rtt.latest_rtt;
    CHECK(base / 8 * (ho_quic_time)f.r.time_threshold_8ths >= MS(60) - US(100));
    CHECK_EQ(f.r.stats.congestion_undos, 0);
    CHECK_EQ(f.cc.cwnd, reduced);

    /* 2 as well: every loss of the episode was spurious: undone. */
    ho_quic_pn_range r2[] = {{5, 5}, {1, 2}};
    ack_ranges(&f, APP, r2, 2, 0, t + MS(61));
    CHECK_EQ(f.r.stats.packets_spurious_lost, 2);
    CHECK_EQ(f.r.stats.congestion_undos, 1);
    CHECK_EQ(f.cc.cwnd, cwnd0);
    CHECK_EQ(f.cc.ssthresh, ssthresh0);
    CHECK(!f.cc.in_recovery);
    CHECK(memcmp(&f.cc.u, &u0.u, sizeof(u0.u)) == 0);
    /* The same ranges again change nothing; 3 and 4 then grow the
     * window from the restored one (slow start again). */
    ack1(&f, APP, 1, 5, 0, t + MS(62));
    CHECK_EQ(f.r.stats.packets_spurious_lost, 2);
    CHECK_EQ(f.r.stats.congestion_undos, 1);
    CHECK(f.cc.cwnd > cwnd0);

    /* The raised packet threshold: 6 is 4 below 10, not lost (it would
     * be with 3); the time threshold will decide. */
    f.ev.n_lost = 0;
    ack1(&f, APP, 10, 10, 0, t + MS(63));
    CHECK_EQ(f.ev.n_lost, 0);
    /* A real loss later is still one: 6 stays missing, the timer declares
     * it, the window shrinks and is not restored. */
    ho_quic_timeout_action act;
    ho_quic_time deadline = ho_quic_recovery_timer(&f.r);
    CHECK(deadline != HO_QUIC_TIME_NEVER);
    ho_quic_recovery_on_timeout(&f.r, deadline, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_LOSS);
    CHECK(f.ev.n_lost >= 1 && f.ev.lost[0] == 6);
    CHECK_EQ(f.cc.congestion_events, 2);
    CHECK(f.cc.cwnd < cwnd0);
    CHECK_EQ(f.r.stats.congestion_undos, 1);
    /* An ACK for it long after (more than four PTOs) is not recognised:
     * the history is bounded in time. */
    ho_quic_time late = deadline + 5 * ho_quic_recovery_pto_period(&f.r, APP);
    ack1(&f, APP, 6, 12, 0, late);
    CHECK_EQ(f.r.stats.packets_spurious_lost, 2);
    CHECK_EQ(f.r.stats.congestion_undos, 1);
    fx_free(&f);
}

static int spurious_hook_calls;
static void count_spurious(ho_quic_cc *cc, ho_quic_time now)
{
    (void)cc, (void)now;
    spurious_hook_calls++;
}

static void test_spurious_loss(void)
{
    spurious_case(&ho_quic_cc_newreno);
    spurious_case(&ho_quic_cc_cubic);
    /* A controller with the hook hears of the undo, once, after its state
     * was restored (spurious_case checks the restored state). */
    ho_quic_cc_ops hooked = ho_quic_cc_newreno;
    hooked.on_spurious_congestion = count_spurious;
    spurious_case(&hooked);
    CHECK_EQ(spurious_hook_calls, 1);
}

/* The reordering distance is bounded, and so is the lost history. */
static void test_spurious_bounds(void)
{
    fixture f;
    fx_init(&f, true, true);
    rtt_sample(&f, APP, 0, 0, MS(50));
    ho_quic_time t = MS(1000);
    uint64_t n = 2 * HO_QUIC_LOST_HISTORY;
    for (uint64_t pn = 1; pn <= n; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, t + US(pn));
    /* Only n is acknowledged: everything before it is lost at once. */
    ack1(&f, APP, n, n, 0, t + MS(50));
    CHECK_EQ(f.ev.n_lost, n - HO_QUIC_PACKET_THRESHOLD);
    CHECK(f.r.spaces[APP].lost_len <= HO_QUIC_LOST_HISTORY);
    /* Then all of them arrive: those still remembered are spurious; the
     * threshold stays within its bound. The oldest were forgotten, so the
     * episode cannot be proved spurious: no undo. */
    ack1(&f, APP, 1, n, 0, t + MS(55));
    CHECK_EQ(f.r.stats.packets_spurious_lost, HO_QUIC_LOST_HISTORY);
    CHECK_EQ(f.r.packet_threshold, HO_QUIC_PACKET_THRESHOLD_MAX);
    CHECK_EQ(f.r.stats.congestion_undos, 0);
    /* A connection at rest gives the history back. */
    CHECK(f.r.spaces[APP].lost != NULL);
    ho_quic_recovery_trim(&f.r);
    CHECK(f.r.spaces[APP].lost == NULL && f.r.spaces[APP].lost_len == 0);
    fx_free(&f);
}

static void test_ecn_ce(void)
{
    fixture f;
    fx_init(&f, true, true);
    for (uint64_t pn = 0; pn < 4; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, MS(pn));
    ho_quic_pn_range rg = {0, 1};
    ho_quic_ack_info a = {.ranges = &rg, .range_count = 1, .has_ecn = true, .ect0 = 2, .ecn_ce = 1};
    uint64_t cwnd = f.cc.cwnd;
    CHECK_EQ(ho_quic_recovery_on_ack_received(&f.r, APP, &a, MS(40)), HO_OK);
    /* RFC 9002 §7.1 / B.7: a CE increase is a congestion event. */
    CHECK_EQ(f.cc.ecn_ce_events, 1);
    CHECK_EQ(f.cc.congestion_events, 1);
    CHECK_EQ(f.cc.cwnd, cwnd / 2);
    /* Same count again: nothing new. */
    rg.largest = 2;
    CHECK_EQ(ho_quic_recovery_on_ack_received(&f.r, APP, &a, MS(41)), HO_OK);
    CHECK_EQ(f.cc.ecn_ce_events, 1);
    fx_free(&f);
}

/* ---- PTO ------------------------------------------------------------------ */

static void test_pto_and_backoff(void)
{
    fixture f;
    fx_init(&f, true, true);
    ho_quic_rtt_set_max_ack_delay(&f.r.rtt, MS(25));
    rtt_sample(&f, APP, 0, 0, MS(100)); /* srtt 100, rttvar 50 */
    CHECK_EQ(ho_quic_recovery_timer(&f.r), HO_QUIC_TIME_NEVER); /* nothing in flight */

    /* §6.2.1: PTO = srtt + max(4 rttvar, 1 ms) + max_ack_delay = 325 ms. */
    ho_quic_time pto = MS(100) + MS(200) + MS(25);
    CHECK_EQ(ho_quic_recovery_pto_period(&f.r, APP), pto);
    CHECK_EQ(ho_quic_recovery_pto_period(&f.r, HS), pto - MS(25));
    ho_quic_time t = MS(1000);
    send_pkt(&f, APP, 1, MDS, AE_IF, t);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t + pto);

    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f.r, t + pto, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(act.space, APP);
    CHECK_EQ(act.probes, 2);
    CHECK_EQ(f.r.pto_count, 1);
    CHECK_EQ(f.ev.n_lost, 0); /* §6.2: a PTO MUST NOT mark packets lost */
    CHECK_EQ(ho_quic_recovery_probes_pending(&f.r, APP), 2);
    /* Backoff doubles the whole period, max_ack_delay included. */
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t + 2 * pto);

    /* Probes bypass the window; sending them re-arms from the last one. */
    ho_quic_time t2 = t + pto + MS(1);
    send_pkt(&f, APP, 2, MDS, AE_IF, t2);
    send_pkt(&f, APP, 3, MDS, AE_IF, t2);
    CHECK_EQ(ho_quic_recovery_probes_pending(&f.r, APP), 0);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t2 + 2 * pto);

    ho_quic_recovery_on_timeout(&f.r, t2 + 2 * pto, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(f.r.pto_count, 2);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t2 + 4 * pto);
    ho_quic_recovery_on_timeout(&f.r, t2 + 4 * pto, &act);
    CHECK_EQ(f.r.pto_count, 3);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), t2 + 8 * pto);
    CHECK_EQ(f.r.stats.pto_expirations, 3);

    /* An acknowledgment resets the backoff (§6.2.1). */
    ack1(&f, APP, 3, 3, 0, t2 + MS(5000));
    CHECK_EQ(f.r.pto_count, 0);
    fx_free(&f);
}

static void test_pto_per_space_rules(void)
{
    /* Initial and Handshake: no max_ack_delay; the earlier space wins. */
    fixture f;
    fx_init(&f, true, false);
    ho_quic_rtt_set_max_ack_delay(&f.r.rtt, MS(25));
    ho_quic_time base = ho_quic_rtt_pto_base(&f.r.rtt); /* 999 ms before a sample */
    send_pkt(&f, INI, 0, MDS, AE_IF, MS(0));
    send_pkt(&f, HS, 0, MDS, AE_IF, MS(10));
    CHECK_EQ(ho_quic_recovery_timer(&f.r), base);
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f.r, base, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(act.space, INI);
    /* §6.2.1: a timeout in Initial doubles Handshake's period as well. */
    f.expect_space = INI;
    ack1(&f, INI, 0, 0, 0, base + MS(1)); /* server: backoff reset, Initial clear */
    CHECK_EQ(f.r.pto_count, 0);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), MS(10) + ho_quic_rtt_pto_base(&f.r.rtt));

    /* §6.2.1: no Application Data PTO before the handshake is confirmed. */
    fixture g;
    fx_init(&g, true, false);
    send_pkt(&g, APP, 0, MDS, AE_IF, 0);
    CHECK_EQ(ho_quic_recovery_timer(&g.r), HO_QUIC_TIME_NEVER);
    ho_quic_recovery_on_handshake_confirmed(&g.r, MS(5));
    CHECK_EQ(ho_quic_recovery_timer(&g.r), ho_quic_rtt_pto_base(&g.r.rtt) + g.r.rtt.max_ack_delay);
    /* App data with a Handshake packet in flight before confirmation: only
     * Handshake counts. */
    fixture h;
    fx_init(&h, true, false);
    send_pkt(&h, HS, 0, MDS, AE_IF, MS(50));
    send_pkt(&h, APP, 0, MDS, AE_IF, 0);
    CHECK_EQ(ho_quic_recovery_timer(&h.r), MS(50) + ho_quic_rtt_pto_base(&h.r.rtt));

    /* §6.2.2.1: an amplification-limited server does not arm its PTO. */
    ho_quic_recovery_set_amplification_limited(&h.r, true, MS(60));
    CHECK_EQ(ho_quic_recovery_timer(&h.r), HO_QUIC_TIME_NEVER);
    /* A.6: unblocked by a datagram; the timer may be due already. */
    ho_quic_time late = MS(50) + ho_quic_rtt_pto_base(&h.r.rtt) + MS(100);
    ho_quic_recovery_set_amplification_limited(&h.r, false, late);
    CHECK(ho_quic_recovery_timer(&h.r) <= late);
    ho_quic_recovery_on_timeout(&h.r, late, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(act.space, HS);
    fx_free(&f);
    fx_free(&g);
    fx_free(&h);
}

static void test_client_anti_deadlock(void)
{
    fixture f;
    fx_init(&f, false, false); /* client */
    f.expect_space = INI;
    /* Client Initial sent and acknowledged: nothing in flight, but the
     * server may be stuck at its amplification limit (§6.2.2.1). */
    send_pkt(&f, INI, 0, MDS, AE_IF | 0, 0);
    ack1(&f, INI, 0, 0, 0, MS(100));
    CHECK(!ho_quic_recovery_has_ack_eliciting_in_flight(&f.r, INI));
    ho_quic_time pto = ho_quic_rtt_pto_base(&f.r.rtt);
    /* A.8: the anti-deadlock PTO runs from now. */
    CHECK_EQ(ho_quic_recovery_timer(&f.r), MS(100) + pto);
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f.r, MS(100) + pto, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_ANTI_DEADLOCK);
    CHECK_EQ(act.space, INI);
    CHECK(act.pad_initial);
    CHECK_EQ(act.probes, 1);
    CHECK_EQ(f.r.pto_count, 1);
    /* §6.2.1: an Initial ACK does not reset a client's backoff. */
    send_pkt(&f, INI, 1, MDS, AE_IF, MS(100) + pto);
    ack1(&f, INI, 1, 1, 0, MS(100) + pto + MS(100));
    CHECK_EQ(f.r.pto_count, 1);
    /* With Handshake keys, the probe is a Handshake packet. */
    ho_quic_recovery_on_handshake_keys(&f.r, MS(1500));
    ho_quic_time due = ho_quic_recovery_timer(&f.r);
    CHECK(due != HO_QUIC_TIME_NEVER);
    ho_quic_recovery_on_timeout(&f.r, due, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_ANTI_DEADLOCK);
    CHECK_EQ(act.space, HS);
    CHECK(!act.pad_initial);
    CHECK_EQ(f.r.pto_count, 2);
    /* A Handshake ACK proves the server validated us: backoff reset, and
     * with nothing in flight the timer goes quiet. */
    f.expect_space = HS;
    send_pkt(&f, HS, 0, MDS, AE_IF, due);
    ack1(&f, HS, 0, 0, 0, due + MS(100));
    CHECK_EQ(f.r.pto_count, 0);
    CHECK_EQ(ho_quic_recovery_timer(&f.r), HO_QUIC_TIME_NEVER);
    fx_free(&f);

    /* A server with nothing in flight never arms a timer. */
    fixture s;
    fx_init(&s, true, false);
    ho_quic_recovery_on_handshake_keys(&s.r, 0);
    CHECK_EQ(ho_quic_recovery_timer(&s.r), HO_QUIC_TIME_NEVER);
    fx_free(&s);
}

/* ---- key discard ---------------------------------------------------------- */

static void test_discard_initial(void)
{
    fixture f;
    fx_init(&f, false, false);
    f.expect_space = INI;
    send_pkt(&f, INI, 0, MDS, AE_IF, 0);
    send_pkt(&f, INI, 1, MDS, AE_IF, MS(1));
    send_pkt(&f, INI, 2, 40, 0, MS(2)); /* ACK-only, not in flight */
    send_pkt(&f, HS, 0, 500, AE_IF, MS(20));
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f.r, ho_quic_recovery_timer(&f.r), &act);
    CHECK_EQ(act.space, INI);
    CHECK_EQ(f.r.pto_count, 1);
    CHECK_EQ(f.cc.bytes_in_flight, 2 * MDS + 500);

    /* §6.4 / A.11: Initial keys dropped. */
    CHECK_EQ(ho_quic_recovery_discard_space(&f.r, INI, MS(1100)), HO_OK);
    uint64_t want[] = {0, 1, 2};
    CHECK(list_is(f.ev.discarded, f.ev.n_discarded, want, 3));
    CHECK_EQ(f.cc.bytes_in_flight, 500);
    CHECK_EQ(f.r.pto_count, 0);
    CHECK_EQ(f.ev.bad_space, 0);
    /* The timer now follows the Handshake packet, without backoff. */
    CHECK_EQ(ho_quic_recovery_timer(&f.r), MS(20) + ho_quic_rtt_pto_base(&f.r.rtt));
    /* The space is gone: sends are refused, ACKs ignored, discard idempotent. */
    CHECK_EQ(send_pkt(&f, INI, 3, MDS, AE_IF, MS(1200)), HO_ERR_INVALID_ARG);
    CHECK_EQ(ack1(&f, INI, 0, 1, 0, MS(1200)), HO_OK);
    CHECK_EQ(f.ev.n_acked, 0);
    CHECK_EQ(ho_quic_recovery_discard_space(&f.r, INI, MS(1200)), HO_OK);
    CHECK_EQ(f.ev.n_discarded, 3);
    CHECK_EQ(ho_quic_recovery_discard_space(&f.r, APP, MS(1200)), HO_ERR_INVALID_ARG);
    fx_free(&f);
}

static void test_discard_0rtt(void)
{
    fixture f;
    fx_init(&f, false, false);
    send_pkt(&f, APP, 0, MDS, AE_IF | HO_QUIC_SENT_ZERO_RTT, 0);
    send_pkt(&f, APP, 1, MDS, AE_IF | HO_QUIC_SENT_ZERO_RTT, MS(1));
    send_pkt(&f, APP, 2, MDS, AE_IF, MS(2));
    ho_quic_recovery_discard_0rtt(&f.r, MS(3));
    uint64_t want[] = {0, 1};
    CHECK(list_is(f.ev.discarded, f.ev.n_discarded, want, 2));
    CHECK_EQ(f.cc.bytes_in_flight, MDS);
    /* 1-RTT pn 2 is still tracked and acknowledgeable. */
    ack1(&f, APP, 2, 2, 0, MS(50));
    CHECK_EQ(f.ev.n_acked, 1);
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    fx_free(&f);
}

/* ---- persistent congestion (§7.6) ------------------------------------------ */

/* The RFC 9002 §7.6.3 example, with one time unit = 100 ms. The estimator
 * is set up so that smoothed_rtt + max(4*rttvar, kGranularity) +
 * max_ack_delay = 2 units exactly, as the example assumes, and stays so:
 * srtt 20 ms, rttvar 0 (so kGranularity 1 ms applies), max_ack_delay 179 ms.
 * Example packet #k is pn 100 + k. */
#define U(x) ((ho_quic_time)((x) * 100) * 1000000) /* x time units, x in tenths allowed via U10 */
#define U10(x) ((ho_quic_time)(x) * 10 * 1000000)  /* x tenths of a unit */

static void pc_example(bool ack_two_early, bool *pc_declared, fixture *f)
{
    fx_init(f, true, true);
    ho_quic_rtt_set_max_ack_delay(&f->r.rtt, MS(179));
    ho_quic_time t0 = HO_QUIC_SEC(100);
    /* Earlier RTT samples of exactly 20 ms until rttvar has decayed to 0. */
    for (uint64_t pn = 0; pn < 100; pn++)
        rtt_sample(f, APP, pn, t0 - HO_QUIC_SEC(5) + (ho_quic_time)pn * MS(30), MS(20));
    CHECK_EQ(f->r.rtt.smoothed_rtt, MS(20));
    CHECK_EQ(f->r.rtt.rttvar, 0);
    CHECK_EQ(ho_quic_rtt_pto_base(&f->r.rtt) + f->r.rtt.max_ack_delay, U(2));
    uint64_t cwnd_before = f->cc.cwnd;
    clear_events(f);

    /* t=0..6: send #1..#7. */
    for (int k = 1; k <= 7; k++)
        send_pkt(f, APP, (uint64_t)(100 + k), MDS, AE_IF, t0 + U(k - 1));
    /* t=1.2: acknowledgment of #1 (or of #1 and #2). For #1 the sample is
     * 120 ms with 100 ms of reported ack delay: adjusted 20 ms. */
    if (ack_two_early)
        ack1(f, APP, 101, 102, 0, t0 + U10(12));
    else
        ack1(f, APP, 101, 101, MS(100), t0 + U10(12));
    CHECK_EQ(f->r.rtt.smoothed_rtt, MS(20));
    CHECK_EQ(f->r.rtt.rttvar, 0);
    CHECK_EQ(f->ev.n_lost, 0);

    /* PTO 1 at t=8: 2 units after #7 (t=6). */
    CHECK_EQ(ho_quic_recovery_timer(&f->r), t0 + U(8));
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&f->r, t0 + U(8), &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(act.space, APP);
    send_pkt(f, APP, 108, MDS, AE_IF, t0 + U(8));
    /* PTO 2 at t=12: backoff doubles the 2 units, from #8 at t=8. */
    CHECK_EQ(ho_quic_recovery_timer(&f->r), t0 + U(12));
    ho_quic_recovery_on_timeout(&f->r, t0 + U(12), &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_PTO);
    CHECK_EQ(f->r.pto_count, 2);
    send_pkt(f, APP, 109, MDS, AE_IF, t0 + U(12));
    CHECK_EQ(f->ev.n_lost, 0);

    /* t=12.2: acknowledgment of #9. */
    ack1(f, APP, 109, 109, 0, t0 + U10(122));
    *pc_declared = f->r.stats.persistent_congestion == 1;
    (void)cwnd_before;
}

static void test_persistent_congestion_rfc_example(void)
{
    fixture f;
    bool pc = false;
    pc_example(false, &pc, &f);
    /* "Packets 2 through 8 are declared lost when the acknowledgment for
     * packet 9 is received at t = 12.2." */
    uint64_t lost[] = {102, 103, 104, 105, 106, 107, 108};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost, 7));
    /* Congestion period 8 - 1 = 7 units > duration 2 * 3 = 6 units. */
    CHECK_EQ(ho_quic_rtt_persistent_congestion_duration(&f.r.rtt), U(6));
    CHECK(pc);
    CHECK_EQ(f.cc.persistent_congestion_events, 1);
    /* §7.6.2: the window collapses to kMinimumWindow (B.8), and the
     * recovery period ends; A.7 then hands the ACK's newly acknowledged #9
     * (sent after the reset recovery start) to slow start, which adds its
     * bytes: kMinimumWindow + one packet. */
    CHECK_EQ(f.cc.cwnd, 2 * MDS + MDS);
    CHECK(f.cc.cwnd < f.cc.ssthresh); /* back in slow start (§7.3.1) */
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    CHECK_EQ(f.r.pto_count, 0);
    fx_free(&f);

    /* Same, but #2 acknowledged at t=1.2: the lost span is #3 (t=2) to #8
     * (t=8), 6 units, which does not exceed the duration. */
    pc_example(true, &pc, &f);
    uint64_t lost2[] = {103, 104, 105, 106, 107, 108};
    CHECK(list_is(f.ev.lost, f.ev.n_lost, lost2, 6));
    CHECK(!pc);
    CHECK_EQ(f.cc.persistent_congestion_events, 0);
    CHECK_EQ(f.cc.congestion_events, 1);
    CHECK(f.cc.cwnd > 2 * MDS);
    fx_free(&f);
}

/* 100 samples of exactly `rtt`: smoothed_rtt = rtt, rttvar decays to 0, so
 * later samples of `rtt` leave the estimator unchanged. */
static void steady_rtt(fixture *f, uint64_t *pn, ho_quic_time t, ho_quic_time rtt)
{
    for (int i = 0; i < 100; i++, (*pn)++)
        rtt_sample(f, APP, *pn, t + i * (rtt + MS(1)), rtt);
}

static void test_persistent_congestion_conditions(void)
{
    /* No RTT sample before the lost packets were sent: no persistent
     * congestion however long the span (§7.6.2, B.8). */
    fixture f;
    fx_init(&f, true, true);
    for (uint64_t pn = 0; pn < 6; pn++)
        send_pkt(&f, APP, pn, MDS, AE_IF, HO_QUIC_SEC(pn));
    ack1(&f, APP, 5, 5, 0, HO_QUIC_SEC(5) + MS(50));
    CHECK_EQ(f.ev.n_lost, 5);
    CHECK_EQ(f.r.stats.persistent_congestion, 0);
    CHECK_EQ(f.cc.persistent_congestion_events, 0);
    fx_free(&f);

    /* Steady 20 ms RTT, max_ack_delay 25 ms: duration d = (20 + 1 + 25) * 3.
     * Every ACK below arrives 20 ms after the packet it acknowledges, so
     * the estimator does not move and earlier unacknowledged packets (more
     * than 22.5 ms older) are lost by the time threshold. */
    const ho_quic_time t = HO_QUIC_SEC(10);
    const ho_quic_time d = MS(138);
    uint64_t pn0 = 0;

    /* An acknowledged packet between the losses splits the run: {1..4}
     * spans 3d/4, {6, 7} d/4. */
    fixture g;
    fx_init(&g, true, true);
    steady_rtt(&g, &pn0, 0, MS(20));
    CHECK_EQ(ho_quic_rtt_persistent_congestion_duration(&g.r.rtt), d);
    for (uint64_t k = 1; k <= 8; k++)
        send_pkt(&g, APP, 1000 + k, MDS, AE_IF, t + (ho_quic_time)(k - 1) * d / 4);
    ack1(&g, APP, 1005, 1005, 0, t + 4 * d / 4 + MS(20));
    CHECK_EQ(g.ev.n_lost, 4);
    ack1(&g, APP, 1008, 1008, 0, t + 7 * d / 4 + MS(20));
    CHECK_EQ(g.ev.n_lost, 6);
    CHECK_EQ(g.r.stats.persistent_congestion, 0);
    CHECK_EQ(g.cc.persistent_congestion_events, 0);
    fx_free(&g);

    /* A run built over two detections: the ACK of 9 loses 1..6 (span
     * 5d/8) and leaves 7 and 8 (sent just before 9) to the loss timer,
     * which first declares 7 and so extends the run to 1..7 (span 3d/2 >
     * d): persistent congestion from the timer path. */
    fixture h;
    pn0 = 0;
    fx_init(&h, true, true);
    steady_rtt(&h, &pn0, 0, MS(20));
    for (uint64_t k = 1; k <= 6; k++)
        send_pkt(&h, APP, 1000 + k, MDS, AE_IF, t + (ho_quic_time)(k - 1) * d / 8);
    ho_quic_time t7 = t + 3 * d / 2;
    send_pkt(&h, APP, 1007, MDS, AE_IF, t7);
    send_pkt(&h, APP, 1008, MDS, AE_IF, t7 + US(500));
    send_pkt(&h, APP, 1009, MDS, AE_IF, t7 + MS(1));
    ack1(&h, APP, 1009, 1009, 0, t7 + MS(21));
    CHECK_EQ(h.ev.n_lost, 6);
    CHECK_EQ(h.r.stats.persistent_congestion, 0);
    CHECK_EQ(ho_quic_recovery_timer(&h.r), t7 + MS(20) * 9 / 8);
    ho_quic_timeout_action act;
    ho_quic_recovery_on_timeout(&h.r, t7 + MS(20) * 9 / 8, &act);
    CHECK_EQ(act.kind, HO_QUIC_TIMEOUT_LOSS);
    CHECK_EQ(h.ev.n_lost, 7);
    CHECK_EQ(h.r.stats.persistent_congestion, 1);
    CHECK_EQ(h.cc.cwnd, 2 * MDS);
    fx_free(&h);

    /* Across spaces (§7.6.2): a Handshake packet sent in the middle of the
     * Application-space losses and acknowledged prevents it. */
    fixture x;
    pn0 = 0;
    fx_init(&x, true, true);
    steady_rtt(&x, &pn0, 0, MS(20));
    for (uint64_t k = 1; k <= 4; k++)
        send_pkt(&x, APP, 1000 + k, MDS, AE_IF, t + (ho_quic_time)(k - 1) * d);
    x.expect_space = HS;
    send_pkt(&x, HS, 0, MDS, AE_IF, t + d / 2);
    ack1(&x, HS, 0, 0, 0, t + d / 2 + MS(20));
    x.expect_space = APP;
    send_pkt(&x, APP, 1005, MDS, AE_IF, t + 5 * d);
    ack1(&x, APP, 1005, 1005, 0, t + 5 * d + MS(20)); /* 1..4 lost, span 3d */
    CHECK_EQ(x.ev.n_lost, 4);
    CHECK_EQ(x.r.stats.persistent_congestion, 0);
    fx_free(&x);

    /* Control: without that Handshake acknowledgment it is declared. The
     * final sample is 30 ms, above min_rtt 20 ms. */
    pn0 = 0;
    fx_init(&x, true, true);
    steady_rtt(&x, &pn0, 0, MS(20));
    for (uint64_t k = 1; k <= 4; k++)
        send_pkt(&x, APP, 1000 + k, MDS, AE_IF, t + (ho_quic_time)(k - 1) * d);
    send_pkt(&x, APP, 1005, MDS, AE_IF, t + 5 * d);
    CHECK_EQ(x.r.rtt.min_rtt, MS(20));
    ack1(&x, APP, 1005, 1005, 0, t + 5 * d + MS(30));
    CHECK_EQ(x.ev.n_lost, 4);
    CHECK_EQ(x.r.stats.persistent_congestion, 1);
    CHECK_EQ(x.cc.persistent_congestion_events, 1);
    /* §5.2: min_rtt restarts at the newest sample. */
    CHECK_EQ(x.r.rtt.min_rtt, MS(30));
    fx_free(&x);
}

/* ---- scale ------------------------------------------------------------------ */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 100k packets in flight at once, acknowledged two at a time by ACK frames
 * that repeat up to 8 recent ranges (every 1000th packet is dropped), as a
 * real receiver's would. The work must stay linear. */
static void test_large_window(void)
{
    enum { N = 100000, DROP_EVERY = 1000, MAX_RANGES = 8 };
    fixture f;
    fx_init(&f, true, true);
    f.cc.cwnd = UINT64_MAX / 4; /* not under test */
    double start = now_seconds();
    ho_quic_time t = 0;
    int bad = 0;
    for (uint64_t pn = 0; pn < N; pn++)
        if (send_pkt(&f, APP, pn, MDS, AE_IF, t += US(10)) != HO_OK)
            bad++;
    CHECK_EQ(bad, 0);
    CHECK_EQ(f.cc.bytes_in_flight, (uint64_t)N * MDS);
    CHECK(f.r.spaces[APP].cap >= N && f.r.spaces[APP].cap < 2 * N + 64);

    ho_quic_pn_range ranges[MAX_RANGES];
    ho_quic_time now = t + MS(50);
    for (uint64_t hi = 1; hi < N; hi += 2) {
        /* Ranges of received packets up to hi, largest first. */
        size_t n = 0;
        uint64_t top = hi;
        while (n < MAX_RANGES) {
            uint64_t drop = top / DROP_EVERY * DROP_EVERY; /* the dropped pn at or below top */
            if (drop == 0) {
                ranges[n++] = (ho_quic_pn_range){1, top};
                break;
            }
            if (drop == top) {
                top--;
                continue;
            }
            ranges[n++] = (ho_quic_pn_range){drop + 1, top};
            top = drop - 1;
        }
        now += US(20);
        if (ack_ranges(&f, APP, ranges, n, 0, now) != HO_OK)
            bad++;
    }
    double elapsed = now_seconds() - start;
    CHECK_EQ(bad, 0);
    /* Everything resolved: each multiple of 1000 (0 included) lost, the
     * rest acknowledged. */
    CHECK_EQ(f.r.stats.packets_lost, N / DROP_EVERY);
    CHECK_EQ(f.r.stats.packets_acked, N - N / DROP_EVERY);
    CHECK_EQ(f.cc.bytes_in_flight, 0);
    CHECK_EQ(f.r.spaces[APP].len, 0);
    /* Linear work: each record is visited a bounded number of times
     * (walked once when acknowledged, once when dropped), however many
     * ACK frames repeat its range. */
    printf("large window: %d packets, %d ACK frames, %llu records visited, %.1f ms\n", N, N / 2,
           (unsigned long long)f.r.stats.records_visited, elapsed * 1e3);
    CHECK(f.r.stats.records_visited <= 3ULL * N);
    CHECK(elapsed < 5.0);
    fx_free(&f);
}

int main(void)
{
    RUN(test_ack_ranges);
    RUN(test_rtt_sample_rules);
    RUN(test_packet_threshold);
    RUN(test_time_threshold);
    RUN(test_reordering_below_threshold);
    RUN(test_spurious_loss);
    RUN(test_spurious_bounds);
    RUN(test_ecn_ce);
    RUN(test_pto_and_backoff);
    RUN(test_pto_per_space_rules);
    RUN(test_client_anti_deadlock);
    RUN(test_discard_initial);
    RUN(test_discard_0rtt);
    RUN(test_persistent_congestion_rfc_example);
    RUN(test_persistent_congestion_conditions);
    RUN(test_large_window);
    return ho_test_summary("test_quic_recovery");
}
