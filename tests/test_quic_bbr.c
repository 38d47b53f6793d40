/* BBR (src/quic/cc/bbr.c, draft-ietf-ccwg-bbr): the state machine driven
 * through the real recovery + controller + pacer over a simulated
 * bottleneck (virtual time), the library's delivery-rate samples, and
 * whole connections in the network simulator: a byte-exact transfer under
 * loss and reordering, and the bottleneck comparison with CUBIC of
 * docs/BENCHMARKS.md, whose figures are deterministic (seeded), so the
 * assertions on them are not timing-dependent. */
#include "harness.h"

#include "netsim.h"
#include "quic/conn_int.h"
#include "quic/recovery.h"
#include "quic/cc/cc.h"

#define MS(x) HO_QUIC_MS(x)
#define SEC(x) HO_QUIC_SEC(x)
#define MDS 1200
#define APP HO_QUIC_PN_SPACE_APPLICATION

/* ---- a sender through one bottleneck ------------------------------------------ */

#define PIPE_FIFO (1 << 15)
#define PIPE_RANGES 16

typedef struct pipe_sim {
    ho_quic_cc cc;
    ho_quic_recovery r;
    ho_quic_pacer pacer;
    uint64_t rate;              /* bottleneck, bytes/s */
    ho_quic_time prop_rtt;      /* propagation round trip */
    uint64_t buffer_pkts;       /* drop-tail queue */
    unsigned loss_per_mille;    /* random loss before the queue */
    uint64_t rng;
    uint64_t pn[PIPE_FIFO];
    ho_quic_time arrive[PIPE_FIFO]; /* when its ACK reaches the sender */
    ho_quic_time depart[PIPE_FIFO];
    uint64_t head, tail, next_pn;
    ho_quic_time link_free, now;
    ho_quic_pn_range rx[PIPE_RANGES];
    size_t rx_n;
    uint64_t delivered_bytes, drops;
} pipe_sim;

static pipe_sim *pipe_new(uint64_t rate, ho_quic_time prop_rtt, uint64_t buffer_pkts)
{
    pipe_sim *s = calloc(1, sizeof(*s));
    ho_quic_cc_init(&s->cc, &ho_quic_cc_bbr, MDS, 0);
    ho_quic_recovery_init(&s->r, true, &s->cc, NULL, 0);
    ho_quic_recovery_on_handshake_confirmed(&s->r, 0);
    ho_quic_pacer_init(&s->pacer, MDS);
    s->rate = rate;
    s->prop_rtt = prop_rtt;
    s->buffer_pkts = buffer_pkts;
    s->rng = 88172645463325252ull;
    return s;
}

static void pipe_free(pipe_sim *s)
{
    ho_quic_recovery_free(&s->r);
    free(s);
}

static void pipe_receive(pipe_sim *s, uint64_t pn)
{
    if (s->rx_n > 0 && pn == s->rx[0].largest + 1) {
        s->rx[0].largest = pn;
        return;
    }
    size_t keep = s->rx_n < PIPE_RANGES ? s->rx_n : PIPE_RANGES - 1;
    memmove(&s->rx[1], &s->rx[0], keep * sizeof(s->rx[0]));
    s->rx[0] = (ho_quic_pn_range){pn, pn};
    s->rx_n = keep + 1;
}

/* Runs one event (an ACK, the loss timer, or a send); false when the
 * clock would pass `until`. */
static bool pipe_step(pipe_sim *s, ho_quic_time until)
{
    ho_quic_time t_ack = s->head < s->tail ? s->arrive[s->head % PIPE_FIFO] : HO_QUIC_TIME_NEVER;
    ho_quic_time t_timer = ho_quic_recovery_timer(&s->r);
    bool probe = ho_quic_recovery_probes_pending(&s->r, APP) > 0;
    ho_quic_time t_send = HO_QUIC_TIME_NEVER;
    if (probe)
        t_send = s->now;
    else if (ho_quic_cc_can_send(&s->cc, MDS) && s->tail - s->head < PIPE_FIFO)
        t_send = ho_quic_pacer_next_send_time(&s->pacer, &s->cc, &s->r.rtt, MDS, s->now);
    ho_quic_time t = t_ack < t_timer ? t_ack : t_timer;
    if (t_send < t)
        t = t_send;
    if (t < s->now)
        t = s->now;
    if (t > until)
        return false;
    s->now = t;
    if (t == t_ack) {
        uint64_t pn = s->pn[s->head % PIPE_FIFO];
        s->head++;
        pipe_receive(s, pn);
        ho_quic_ack_info a = {.ranges = s->rx, .range_count = s->rx_n};
        CHECK_EQ(ho_quic_recovery_on_ack_received(&s->r, APP, &a, s->now), HO_OK);
    } else if (t == t_timer) {
        ho_quic_timeout_action act;
        ho_quic_recovery_on_timeout(&s->r, s->now, &act);
    } else {
        uint64_t pn = s->next_pn++;
        ho_quic_sent_packet p = {.pn = pn, .bytes = MDS, .flags = HO_QUIC_SENT_ACK_ELICITING | HO_QUIC_SENT_IN_FLIGHT};
        ho_quic_recovery_on_packet_sent(&s->r, APP, &p, s->now);
        if (!probe)
            ho_quic_pacer_on_packet_sent(&s->pacer, &s->cc, &s->r.rtt, MDS, s->now);
        /* packets still queued: departures after now */
        uint64_t queued = 0;
        for (uint64_t i = s->tail; i > s->head && queued <= s->buffer_pkts; i--)
            if (s->depart[(i - 1) % PIPE_FIFO] > s->now)
                queued++;
        s->rng ^= s->rng << 13;
        s->rng ^= s->rng >> 7;
        s->rng ^= s->rng << 17;
        if (queued >= s->buffer_pkts || (s->loss_per_mille && s->rng % 1000 < s->loss_per_mille)) {
            s->drops++;
        } else {
            ho_quic_time tx = (ho_quic_time)((uint64_t)MDS * HO_QUIC_NS_PER_SEC / s->rate);
            ho_quic_time d = (s->now > s->link_free ? s->now : s->link_free) + tx;
            s->link_free = d;
            s->pn[s->tail % PIPE_FIFO] = pn;
            s->depart[s->tail % PIPE_FIFO] = d;
            s->arrive[s->tail % PIPE_FIFO] = d + s->prop_rtt;
            s->tail++;
            s->delivered_bytes += MDS;
        }
    }
    return true;
}

/* ---- unit tests ------------------------------------------------------------------ */

static void test_bbr_registry(void)
{
    CHECK(ho_quic_cc_by_name("bbr") == &ho_quic_cc_bbr);
    CHECK(ho_quic_cc_by_name("BBR") == &ho_quic_cc_bbr);
    CHECK(strcmp(ho_quic_cc_bbr.name, "bbr") == 0);
    CHECK_EQ(ho_quic_cc_register("bbr", &ho_quic_cc_newreno), HO_ERR_EXISTS);
    CHECK(sizeof(ho_quic_bbr) <= HO_QUIC_CC_STATE_SIZE);
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_bbr, MDS, 0);
    CHECK_EQ(cc.u.bbr.state, HO_QUIC_BBR_STARTUP);
    CHECK_EQ(cc.cwnd, ho_quic_cc_initial_window(MDS));
    CHECK(strcmp(ho_quic_bbr_state_name(HO_QUIC_BBR_PROBE_RTT), "probe_rtt") == 0);
}

/* The library's delivery-rate sample: a window-limited flight over a
 * 1 MB/s bottleneck measures 1 MB/s. */
static void test_rate_sample(void)
{
    pipe_sim *s = pipe_new(1000000, MS(50), 1000);
    uint64_t samples = 0;
    double worst = 0;
    while (pipe_step(s, SEC(3))) {
        /* the max-bandwidth filter only takes valid samples */
        if (s->now > SEC(1) && s->cc.u.bbr.max_bw > 0) {
            double err = (double)s->cc.u.bbr.max_bw / 1e6 - 1.0;
            if (err < 0)
                err = -err;
            if (err > worst)
                worst = err;
            samples++;
        }
    }
    printf("rate samples: max_bw within %.2f %% of the bottleneck over %llu events\n", worst * 100,
           (unsigned long long)samples);
    CHECK(samples > 1000);
    CHECK(worst < 0.03);
    CHECK(s->cc.rate.delivered > 2000000);
    pipe_free(s);
}

/* No RTT estimate, no rate sample: an ACK handed to the controller before
 * any RTT sample (min_rtt 0) has no lower bound for its interval, and a
 * flight acked a few nanoseconds after the previous delivery would claim
 * terabytes per second, from which BBR would size its window. */
static void test_rate_sample_without_rtt(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &ho_quic_cc_bbr, MDS, 0);
    ho_quic_cc_packet p = {.pn = 0, .time_sent = MS(100), .bytes = MDS, .delivered_time = MS(100) - 5,
                           .first_sent_time = MS(100)};
    ho_quic_cc_on_packet_sent(&cc, APP, 0, MDS, MS(100));
    ho_quic_cc_ack a = {.packets = &p, .count = 1, .space = APP};
    ho_quic_rtt rtt;
    ho_quic_rtt_init(&rtt, 0);
    ho_quic_cc_on_packets_acked(&cc, &a, &rtt, MS(100));
    CHECK_EQ(rtt.min_rtt, 0);
    CHECK_EQ(cc.u.bbr.max_bw, 0);
}

/* Startup ends on a bandwidth plateau (three rounds without 25 % growth),
 * with no loss: then Drain, then ProbeBW; the pacing rate follows the
 * model (pacing_gain * bw * 99 %). */
static void test_bbr_startup_plateau(void)
{
    const uint64_t rate = 1250000; /* 10 Mbit/s */
    pipe_sim *s = pipe_new(rate, MS(40), 10000); /* a buffer that never fills */
    ho_quic_time startup_end = 0, drain_end = 0;
    uint64_t round_at_exit = 0, checked = 0, bad_pacing = 0;
    while (pipe_step(s, SEC(4))) {
        const ho_quic_bbr *b = &s->cc.u.bbr;
        if (startup_end == 0 && b->state != HO_QUIC_BBR_STARTUP) {
            startup_end = s->now;
            round_at_exit = b->round_count;
            CHECK(b->filled_pipe);
            CHECK_EQ(b->full_bw_count, 3);
            CHECK_EQ(b->state, HO_QUIC_BBR_DRAIN);
            CHECK((double)b->max_bw > 0.9 * (double)rate && (double)b->max_bw < 1.1 * (double)rate);
        }
        if (startup_end != 0 && drain_end == 0 && b->state != HO_QUIC_BBR_DRAIN) {
            drain_end = s->now;
            CHECK(b->state >= HO_QUIC_BBR_PROBE_BW_DOWN && b->state <= HO_QUIC_BBR_PROBE_BW_UP);
        }
        if (drain_end != 0 && b->bw > 0) {
            /* BBRSetPacingRateWithGain */
            double want = (double)b->bw * b->pacing_gain * 0.99;
            checked++;
            if ((double)s->cc.pacing_rate < want * 0.999 || (double)s->cc.pacing_rate > want * 1.001 + 1)
                bad_pacing++;
        }
    }
    const ho_quic_bbr *b = &s->cc.u.bbr;
    printf("startup ended at %.3f s (round %llu), drain at %.3f s; bw %.3f MB/s; %llu pacing checks\n",
           (double)startup_end / 1e9, (unsigned long long)round_at_exit, (double)drain_end / 1e9,
           (double)b->bw / 1e6, (unsigned long long)checked);
    CHECK(startup_end > 0 && startup_end < SEC(2));
    CHECK(drain_end > startup_end);
    CHECK_EQ(s->cc.congestion_events, 0); /* the exit was the plateau, not loss */
    CHECK_EQ(s->drops, 0);
    CHECK(checked > 1000);
    CHECK_EQ(bad_pacing, 0);
    /* the model matches the path */
    CHECK((double)b->bw > 0.9 * (double)rate && (double)b->bw < 1.1 * (double)rate);
    CHECK(b->min_rtt >= MS(40) && b->min_rtt < MS(42));
    pipe_free(s);
}

/* ProbeRTT: entered once no lower RTT was seen for ProbeRTTInterval (5 s
 * in v3; the 10 s min_rtt filter is twice that), the window held at half
 * a BDP for 200 ms and a round, then back to ProbeBW. */
static void test_bbr_probe_rtt(void)
{
    const uint64_t rate = 1250000;
    pipe_sim *s = pipe_new(rate, MS(40), 100);
    ho_quic_time entered = 0, left = 0, stamp = 0;
    uint64_t max_cwnd_in = 0;
    while (entered == 0 || left == 0) {
        ho_quic_time prev_stamp = s->cc.u.bbr.probe_rtt_min_stamp;
        if (!pipe_step(s, SEC(8)))
            break;
        const ho_quic_bbr *b = &s->cc.u.bbr;
        if (entered == 0 && b->state == HO_QUIC_BBR_PROBE_RTT) {
            entered = s->now;
            stamp = prev_stamp; /* the last new minimum before it */
        }
        if (entered != 0 && left == 0) {
            if (b->state == HO_QUIC_BBR_PROBE_RTT) {
                if (s->cc.cwnd > max_cwnd_in)
                    max_cwnd_in = s->cc.cwnd;
            } else {
                left = s->now;
                CHECK(b->state >= HO_QUIC_BBR_PROBE_BW_DOWN && b->state <= HO_QUIC_BBR_PROBE_BW_UP);
            }
        }
    }
    double bdp = (double)rate * 0.040;
    printf("probe_rtt: min_rtt stamp %.3f s, entered %.3f s, left %.3f s, max cwnd inside %llu (BDP %.0f)\n",
           (double)stamp / 1e9, (double)entered / 1e9, (double)left / 1e9, (unsigned long long)max_cwnd_in, bdp);
    CHECK(entered > 0);
    CHECK(entered - stamp > SEC(5) && entered - stamp < SEC(5) + MS(200));
    CHECK(left - entered >= MS(200));
    CHECK(left - entered < MS(600));
    CHECK((double)max_cwnd_in <= 0.5 * bdp * 1.1 + 4 * MDS);
    CHECK(s->cc.u.bbr.probe_rtt_min_stamp >= left - MS(1));
    pipe_free(s);
}

/* 1 % random loss: BBR's model keeps the bandwidth (the loss response
 * cuts the lower bounds by at most the loss per round), where a halving
 * controller would collapse. */
static void test_bbr_random_loss(void)
{
    const uint64_t rate = 1250000;
    pipe_sim *s = pipe_new(rate, MS(80), 25);
    s->loss_per_mille = 10;
    while (pipe_step(s, SEC(20)))
        ;
    double util = (double)s->delivered_bytes / ((double)rate * 20);
    printf("1 %% loss: utilisation %.1f %%, %llu congestion events, %llu drops, state %s\n", util * 100,
           (unsigned long long)s->cc.congestion_events, (unsigned long long)s->drops,
           ho_quic_bbr_state_name(s->cc.u.bbr.state));
    CHECK(util > 0.75);
    CHECK(s->cc.congestion_events > 20);
    CHECK_EQ(s->cc.persistent_congestion_events, 0);
    pipe_free(s);
}

/* RFC 9002 §7.3.2 and §7.6.2 around BBR: a congestion event shrinks the
 * window; persistent congestion takes it to the minimum. */
static void test_bbr_rfc9002_musts(void)
{
    pipe_sim *s = pipe_new(1250000, MS(40), 10000);
    while (pipe_step(s, SEC(2)))
        ;
    uint64_t before = s->cc.cwnd;
    CHECK(ho_quic_cc_on_congestion_event(&s->cc, s->now - MS(1), s->now));
    CHECK(s->cc.cwnd < before);
    CHECK(s->cc.u.bbr.packet_conservation);
    ho_quic_cc_on_persistent_congestion(&s->cc, s->now);
    CHECK_EQ(s->cc.cwnd, ho_quic_cc_minimum_window(MDS));
    CHECK_EQ(s->cc.u.bbr.prior_cwnd, 0);
    pipe_free(s);
}

/* ---- whole connections in the network simulator ------------------------------------- */

/* A BBR server under 3 % loss and 10 % reordering both ways, behind a
 * 20 Mbit/s bottleneck: both directions byte-exact. */
static void test_netsim_bbr_transfer(void)
{
    netsim_global_init();
    netsim *ns = calloc(1, sizeof(*ns));
    netsim_init(ns, 7, "bbr loss+reorder");
    ns->ecfg.conn.cc_name = "bbr";
    ns->ccfg.cc_name = "bbr";
    netsim_link l = {.loss_pct = 3, .reorder_pct = 10, .reorder_delay = MS(15), .delay = MS(15),
                     .rate_bps = 20000000, .queue_bytes = 60000};
    netsim_set_links(ns, -1, &l);
    CHECK(netsim_start(ns));
    CHECK_EQ(netsim_add_client(ns), 0);
    CHECK(netsim_run(ns, netsim_hs_done, SEC(10)));
    CHECK(netsim_xfer_add(ns, 0, 300000, 3000000, 9) != NULL);
    CHECK(netsim_run(ns, netsim_xfers_done, SEC(120)));
    CHECK_EQ(netsim_xfers_check(ns), 0);
    ho_quic_conn *srv = netsim_server_conn(ns, 0);
    CHECK(srv != NULL);
    if (srv != NULL) {
        CHECK(strcmp(ho_quic_conn_cc_name(srv), "bbr") == 0);
        CHECK(srv->cc.congestion_events > 0);
        CHECK(srv->rec.stats.packets_lost > 0);
        printf("bbr transfer: %llu lost, %llu congestion events, state %s\n",
               (unsigned long long)srv->rec.stats.packets_lost, (unsigned long long)srv->cc.congestion_events,
               ho_quic_bbr_state_name(srv->cc.u.bbr.state));
    }
    CHECK(strcmp(ho_quic_conn_cc_name(ns->cl[0]), "bbr") == 0);
    CHECK(ns->link[0][NETSIM_S2C].lost > 0 && ns->link[0][NETSIM_S2C].reordered > 0);
    netsim_free(ns);
    free(ns);
    netsim_global_free();
}

/* The bottleneck scenario of docs/BENCHMARKS.md (10 Mbit/s, 30 KB queue,
 * 80 ms RTT; bench/cc_compare), 4 MB, seed 1: BBR keeps the queue shorter
 * than CUBIC at comparable goodput, and holds its goodput at 1 % random
 * loss where CUBIC collapses. */
static void test_netsim_bottleneck_vs_cubic(void)
{
    netsim_global_init();
    const uint64_t bytes = 4000000;
    netsim_cc_result bbr0, cubic0, bbr1, cubic1;
    CHECK(netsim_cc_bottleneck("bbr", 0, bytes, 1, &bbr0));
    CHECK(netsim_cc_bottleneck("cubic", 0, bytes, 1, &cubic0));
    CHECK(netsim_cc_bottleneck("bbr", 1, bytes, 1, &bbr1));
    CHECK(netsim_cc_bottleneck("cubic", 1, bytes, 1, &cubic1));
    const netsim_cc_result *all[] = {&bbr0, &cubic0, &bbr1, &cubic1};
    const char *names[] = {"bbr 0%", "cubic 0%", "bbr 1%", "cubic 1%"};
    for (int i = 0; i < 4; i++)
        printf("%-9s goodput %.2f Mbit/s, queue delay mean %.1f ms p95 %.1f ms, %llu queue drops\n", names[i],
               all[i]->goodput_mbps, all[i]->qdelay_mean_ms, all[i]->qdelay_p95_ms,
               (unsigned long long)all[i]->queue_drops);
    /* 0 %: shorter queue, comparable goodput */
    CHECK(bbr0.qdelay_p95_ms < cubic0.qdelay_p95_ms);
    CHECK(bbr0.qdelay_mean_ms < 0.5 * cubic0.qdelay_mean_ms);
    CHECK(bbr0.goodput_mbps > 0.9 * cubic0.goodput_mbps);
    /* 1 %: more than twice CUBIC's goodput */
    CHECK(bbr1.goodput_mbps > 2 * cubic1.goodput_mbps);
    CHECK(bbr1.goodput_mbps > 5.0);
    netsim_global_free();
}

int main(void)
{
    RUN(test_bbr_registry);
    RUN(test_rate_sample);
    RUN(test_rate_sample_without_rtt);
    RUN(test_bbr_startup_plateau);
    RUN(test_bbr_probe_rtt);
    RUN(test_bbr_random_loss);
    RUN(test_bbr_rfc9002_musts);
    RUN(test_netsim_bbr_transfer);
    RUN(test_netsim_bottleneck_vs_cubic);
    return ho_test_summary("test_quic_bbr");
}
