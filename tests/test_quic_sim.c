/* test_quic_sim: our client against our server endpoint over the
 * deterministic network simulator (netsim.h): scripted handshake losses
 * (client Initials, the server's first flight, Handshake packets), random
 * loss during the handshake, a 2 MB transfer at 30 % loss, reordering,
 * duplication, delay with jitter, a 10 Mbit/s bottleneck with a small
 * queue, a 3 s blackhole, a blackhole longer than the idle timeout, and all
 * impairments together. Every transfer is checked byte for byte in both
 * directions within a virtual-time budget; each scenario prints its
 * virtual times and loss counts. */
#include <string.h>

#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"

typedef struct result {
    ho_quic_time hs_time, xfer_time;
    ho_quic_conn_stats cs, ss;
} result;

static void stats_of(netsim *ns, result *r)
{
    ho_quic_conn *s = netsim_server_conn(ns, 0);
    ho_quic_conn_get_stats(ns->cl[0], &r->cs);
    if (s != NULL)
        ho_quic_conn_get_stats(s, &r->ss);
    else
        r->ss = ns->srv_last_stats[0];
}

static void report(netsim *ns, const result *r, double mbit)
{
    const netsim_link *u = &ns->link[0][NETSIM_C2S], *d = &ns->link[0][NETSIM_S2C];
    fprintf(stderr,
            "sim %-26s seed %llu: hs %.3f s, xfer %.3f s; link c->s lost %llu blackholed %llu filtered %llu "
            "qdrop %llu, s->c lost %llu blackholed %llu filtered %llu qdrop %llu; dup %llu reord %llu; "
            "pkts lost cli %llu srv %llu, PTO cli %llu srv %llu\n",
            ns->name, (unsigned long long)ns->seed, (double)r->hs_time / 1e9, (double)r->xfer_time / 1e9,
            (unsigned long long)u->lost, (unsigned long long)u->blackholed,
            (unsigned long long)u->filtered, (unsigned long long)u->queue_drops, (unsigned long long)d->lost,
            (unsigned long long)d->blackholed, (unsigned long long)d->filtered, (unsigned long long)d->queue_drops,
            (unsigned long long)(u->duplicated + d->duplicated), (unsigned long long)(u->reordered + d->reordered),
            (unsigned long long)r->cs.packets_lost, (unsigned long long)r->ss.packets_lost,
            (unsigned long long)r->cs.pto_count, (unsigned long long)r->ss.pto_count);
    if (mbit > 0)
        fprintf(stderr, "sim %-26s seed %llu: goodput %.2f Mbit/s\n", ns->name, (unsigned long long)ns->seed, mbit);
}

/* Handshake within hs_budget, then `streams` transfers of up/down bytes
 * each within xfer_budget, checked byte for byte. */
static bool handshake(netsim *ns, ho_quic_time budget, result *r)
{
    ho_quic_time t0 = ns->now;
    bool ok = netsim_run(ns, netsim_hs_done, budget);
    r->hs_time = ns->now - t0;
    CHECK(ok);
    if (!ok)
        netsim_dump(ns, "handshake did not complete");
    return ok;
}

static bool transfer(netsim *ns, int streams, uint64_t up, uint64_t down, ho_quic_time budget, result *r)
{
    for (int k = 0; k < streams; k++)
        CHECK(netsim_xfer_add(ns, 0, up, down, (uint8_t)(k * 17 + 3)) != NULL);
    ho_quic_time t0 = ns->now;
    bool ok = netsim_run(ns, netsim_xfers_done, budget);
    r->xfer_time = ns->now - t0;
    CHECK(ok);
    CHECK_EQ(netsim_xfers_check(ns), 0);
    CHECK(!ho_quic_conn_is_closing(ns->cl[0]));
    if (!ok)
        netsim_dump(ns, "transfer did not complete");
    stats_of(ns, r);
    return ok;
}

/* One client, the same impairments both ways; the link counters of both
 * directions are summed into *sum (if not NULL) for the caller's checks. */
static void simple_case(const char *name, uint64_t seed, const netsim_link *link, int streams, uint64_t up,
                        uint64_t down, ho_quic_time xfer_budget, netsim_link *sum, result *out)
{
    netsim ns;
    result r = {0};
    netsim_init(&ns, seed, name);
    netsim_set_links(&ns, -1, link);
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    if (handshake(&ns, HO_QUIC_SEC(30), &r))
        transfer(&ns, streams, up, down, xfer_budget, &r);
    report(&ns, &r, 0);
    if (sum != NULL) {
        memset(sum, 0, sizeof(*sum));
        for (int d = 0; d < 2; d++) {
            const netsim_link *l = &ns.link[0][d];
            sum->offered += l->offered;
            sum->delivered += l->delivered;
            sum->lost += l->lost;
            sum->duplicated += l->duplicated;
            sum->reordered += l->reordered;
        }
    }
    if (out != NULL)
        *out = r;
    netsim_free(&ns);
}

/* ---- handshake loss ----------------------------------------------------- */

typedef enum { DROP_CLIENT_INITIALS, DROP_SERVER_FIRST_FLIGHT, DROP_HANDSHAKE } drop_mode;

typedef struct drop_ctx {
    drop_mode mode;
    unsigned n;             /* how many to drop */
    unsigned done[2];       /* dropped so far, per direction */
    ho_quic_time flight_end;/* server first flight: datagrams sent before */
    netsim *ns;
} drop_ctx;

static bool drop_filter(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                        uint8_t *ecn)
{
    (void)client, (void)index, (void)ecn;
    drop_ctx *f = ctx;
    unsigned types = netsim_pkt_types(d, len);
    bool drop = false;
    switch (f->mode) {
    case DROP_CLIENT_INITIALS:
        drop = dir == NETSIM_C2S && (types & (1u << HO_QUIC_PKT_INITIAL)) && f->done[dir] < f->n;
        break;
    case DROP_SERVER_FIRST_FLIGHT:
        drop = dir == NETSIM_S2C && f->ns->now < f->flight_end;
        break;
    case DROP_HANDSHAKE:
        drop = (types & (1u << HO_QUIC_PKT_HANDSHAKE)) && f->done[dir] < f->n;
        break;
    }
    if (drop)
        f->done[dir]++;
    return drop;
}

static void handshake_drop_case(const char *name, drop_mode mode, unsigned n, uint64_t seed)
{
    netsim ns;
    result r = {0};
    drop_ctx f = {.mode = mode, .n = n, .ns = &ns};
    netsim_init(&ns, seed, name);
    ns.filter = drop_filter;
    ns.filter_ctx = &f;
    /* The server's first flight leaves 10 ms after start (one-way delay):
     * everything it sends within the first 15 ms is that flight. */
    f.flight_end = ns.now + HO_QUIC_MS(15);
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    if (handshake(&ns, HO_QUIC_SEC(20), &r))
        transfer(&ns, 1, 100000, 100000, HO_QUIC_SEC(10), &r);
    /* The scripted losses really happened. */
    if (mode == DROP_SERVER_FIRST_FLIGHT)
        CHECK(f.done[NETSIM_S2C] >= 1);
    else if (mode == DROP_CLIENT_INITIALS)
        CHECK_EQ(f.done[NETSIM_C2S], n);
    else
        CHECK(f.done[NETSIM_C2S] == n && f.done[NETSIM_S2C] == n);
    /* Recovery came from the PTO (nothing else could resend a lost flight). */
    CHECK(r.cs.pto_count + r.ss.pto_count >= 1);
    report(&ns, &r, 0);
    netsim_free(&ns);
}

static void test_handshake_loss(void)
{
    handshake_drop_case("hs-drop-1-client-initial", DROP_CLIENT_INITIALS, 1, 1);
    handshake_drop_case("hs-drop-3-client-initials", DROP_CLIENT_INITIALS, 3, 2);
    handshake_drop_case("hs-drop-server-first-flight", DROP_SERVER_FIRST_FLIGHT, 0, 3);
    handshake_drop_case("hs-drop-2-handshake-each-way", DROP_HANDSHAKE, 2, 4);
    /* Random 30 % loss in both directions from the first packet on. */
    for (uint64_t seed = 1; seed <= 6; seed++) {
        netsim_link l = {.loss_pct = 30, .delay = HO_QUIC_MS(10)};
        netsim_link sum;
        simple_case("hs-random-30pct-loss", seed, &l, 1, 20000, 20000, HO_QUIC_SEC(30), &sum, NULL);
        CHECK(sum.lost > 0);
    }
}

/* ---- impairments during transfers --------------------------------------- */

static void test_bulk_loss(void)
{
    for (uint64_t seed = 1; seed <= 2; seed++) {
        netsim_link l = {.loss_pct = 30, .delay = HO_QUIC_MS(10)};
        netsim_link sum;
        result r;
        simple_case("bulk-2MB-30pct-loss", seed, &l, 1, 1000, 2u << 20, HO_QUIC_SEC(120), &sum, &r);
        /* About 30 % of what was offered vanished, and the sender saw it. */
        CHECK(sum.lost * 100 > sum.offered * 25 && sum.lost * 100 < sum.offered * 35);
        CHECK(r.ss.packets_lost > 0);
    }
}

static void test_reorder_dup_jitter(void)
{
    for (uint64_t seed = 1; seed <= 3; seed++) {
        /* 20 % held back by up to 2 x RTT (RTT 20 ms). */
        netsim_link l = {.reorder_pct = 20, .reorder_delay = HO_QUIC_MS(40), .delay = HO_QUIC_MS(10)};
        netsim_link sum;
        simple_case("reorder-20pct-2rtt", seed, &l, 2, 256 * 1024, 1u << 20, HO_QUIC_SEC(60), &sum, NULL);
        CHECK(sum.reordered * 100 > sum.offered * 15 && sum.lost == 0);
    }
    for (uint64_t seed = 1; seed <= 3; seed++) {
        netsim_link l = {.dup_pct = 20, .delay = HO_QUIC_MS(10)};
        netsim_link sum;
        result r;
        simple_case("dup-20pct", seed, &l, 2, 256 * 1024, 1u << 20, HO_QUIC_SEC(60), &sum, &r);
        CHECK(sum.duplicated * 100 > sum.offered * 15);
        /* (a few may still be on their way when the transfer is done) */
        CHECK(sum.delivered > sum.offered && sum.delivered <= sum.offered + sum.duplicated);
        /* Duplicates are discarded by packet number (RFC 9000 §12.3). */
        CHECK(r.ss.packets_dropped > 0 && r.cs.packets_dropped > 0);
    }
    for (uint64_t seed = 1; seed <= 3; seed++) {
        netsim_link l = {.delay = HO_QUIC_MS(50), .jitter = HO_QUIC_MS(20)};
        result r;
        simple_case("delay-50ms-jitter-20ms", seed, &l, 2, 256 * 1024, 1u << 20, HO_QUIC_SEC(60), NULL, &r);
        /* RTT between 60 and 140 ms: 2 x (50 +- 20) plus ACK delay. */
        CHECK(r.cs.smoothed_rtt > HO_QUIC_MS(60) && r.cs.smoothed_rtt < HO_QUIC_MS(140));
    }
    for (uint64_t seed = 1; seed <= 3; seed++) {
        netsim_link l = {.loss_pct = 5, .reorder_pct = 10, .reorder_delay = HO_QUIC_MS(30), .dup_pct = 5,
                         .delay = HO_QUIC_MS(30), .jitter = HO_QUIC_MS(5)};
        netsim_link sum;
        simple_case("combined-loss-reord-dup-delay", seed, &l, 2, 512 * 1024, 1u << 20, HO_QUIC_SEC(120), &sum,
                    NULL);
        CHECK(sum.lost > 0 && sum.reordered > 0 && sum.duplicated > 0);
    }
}

/* Issue 16 item 5: reordering must not look like loss. The reorder
 * scenario of test_reorder_dup_jitter (20 % of datagrams held back by up to
 * 2 x RTT, RTT 20 ms) against the same transfer (2 streams, 256 KB up and
 * 1 MB down each) on a clean link and under real random loss. netsim is
 * deterministic, so the times are virtual and exact; docs/BENCHMARKS.md
 * has the table these lines print. */
typedef struct rr_run {
    result r;
    uint64_t srv_congestion_events;
} rr_run;

static void rr_case(const char *name, uint64_t seed, const netsim_link *link, rr_run *out)
{
    netsim ns;
    memset(out, 0, sizeof(*out));
    netsim_init(&ns, seed, name);
    netsim_set_links(&ns, -1, link);
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    if (handshake(&ns, HO_QUIC_SEC(30), &out->r) &&
        transfer(&ns, 2, 256 * 1024, 1u << 20, HO_QUIC_SEC(120), &out->r)) {
        ho_quic_conn *s = netsim_server_conn(&ns, 0);
        CHECK(s != NULL);
        if (s != NULL)
            out->srv_congestion_events = s->cc.congestion_events;
    }
    const result *r = &out->r;
    fprintf(stderr,
            "rr %-22s seed %llu: xfer %.3f s; lost cli %llu srv %llu, spurious cli %llu srv %llu, undos cli %llu "
            "srv %llu, dropped cli %llu srv %llu, srv congestion events %llu, thresholds srv %llu pkts %llu/8 rtt\n",
            name, (unsigned long long)seed, (double)r->xfer_time / 1e9, (unsigned long long)r->cs.packets_lost,
            (unsigned long long)r->ss.packets_lost, (unsigned long long)r->cs.packets_spurious_lost,
            (unsigned long long)r->ss.packets_spurious_lost, (unsigned long long)r->cs.congestion_undos,
            (unsigned long long)r->ss.congestion_undos, (unsigned long long)r->cs.packets_dropped,
            (unsigned long long)r->ss.packets_dropped, (unsigned long long)out->srv_congestion_events,
            (unsigned long long)r->ss.packet_threshold, (unsigned long long)r->ss.time_threshold_8ths);
    netsim_free(&ns);
}

static void test_reorder_recovery(void)
{
    const netsim_link clean = {.delay = HO_QUIC_MS(10)};
    const netsim_link reorder = {.reorder_pct = 20, .reorder_delay = HO_QUIC_MS(40), .delay = HO_QUIC_MS(10)};
    /* Before spurious-loss detection (issue 16): 0.935, 1.731, 2.210 s at
     * 1 % and 5.781, 7.090, 6.220 s at 5 % (seeds 1-3). Real loss must not
     * get slower: bounds 10 % above the worst of them. */
    static const struct {
        const char *name;
        unsigned pct;
        double max_s;
    } loss[] = {{"rr-loss-1pct", 1, 2.43}, {"rr-loss-5pct", 5, 7.80}};
    for (uint64_t seed = 1; seed <= 3; seed++) {
        rr_run c, o;
        rr_case("rr-clean", seed, &clean, &c);
        rr_case("rr-reorder-20pct-2rtt", seed, &reorder, &o);
        /* Goal: within 2x of the clean run (before: 12.4-14.8 s, ~60x).
         * Measured 2.03x; asserted with a margin for other changes. */
        CHECK(o.r.xfer_time <= c.r.xfer_time * 5 / 2);
        fprintf(stderr, "rr reorder/clean seed %llu: %.2fx\n", (unsigned long long)seed,
                (double)o.r.xfer_time / (double)c.r.xfer_time);
        /* The losses declared were recognised as spurious, and undone. */
        CHECK(o.r.ss.packets_spurious_lost > 0 && o.r.cs.packets_spurious_lost > 0);
        CHECK(o.r.ss.packets_spurious_lost * 10 >= o.r.ss.packets_lost * 9);
        CHECK(o.r.ss.congestion_undos > 0);
        CHECK(o.r.ss.packet_threshold > HO_QUIC_PACKET_THRESHOLD);
        CHECK(o.r.ss.time_threshold_8ths > HO_QUIC_TIME_THRESHOLD_8THS);
        /* Late packets decode (RFC 9000 §17.1, wider packet numbers once
         * reordering is seen): nothing is dropped, there is no duplicate. */
        CHECK_EQ(o.r.cs.packets_dropped, 0);
        CHECK_EQ(o.r.ss.packets_dropped, 0);
        CHECK_EQ(c.r.ss.packets_spurious_lost, 0);
        for (size_t k = 0; k < sizeof(loss) / sizeof(loss[0]); k++) {
            netsim_link l = {.loss_pct = loss[k].pct, .delay = HO_QUIC_MS(10)};
            rr_run x;
            rr_case(loss[k].name, seed, &l, &x);
            CHECK((double)x.r.xfer_time / 1e9 <= loss[k].max_s);
            /* Real losses stay losses: the window was cut, nothing undone,
             * the thresholds are the RFC's. */
            CHECK(x.srv_congestion_events > 0);
            CHECK_EQ(x.r.ss.congestion_undos, 0);
            CHECK_EQ(x.r.ss.packets_spurious_lost, 0);
            CHECK_EQ(x.r.ss.packet_threshold, HO_QUIC_PACKET_THRESHOLD);
            CHECK_EQ(x.r.ss.time_threshold_8ths, HO_QUIC_TIME_THRESHOLD_8THS);
        }
    }
}

/* 10 Mbit/s with a 30 KB queue (24 ms at that rate): 20 ms RTT with
 * CUBIC and NewReno, 80 ms RTT (BDP 100 KB, the queue a quarter of it)
 * with CUBIC. */
static void test_bandwidth(void)
{
    const uint64_t rate = 10000000, size = 4u << 20;
    static const struct {
        const char *name, *cc;
        int one_way_ms;
    } runs[] = {
        {"bw-10Mbit-30KB-q-20ms-cubic", "cubic", 10},
        {"bw-10Mbit-30KB-q-20ms-newreno", "newreno", 10},
        {"bw-10Mbit-30KB-q-80ms-cubic", "cubic", 40}, /* queue = 1/4 of the BDP */
    };
    for (uint64_t seed = 1; seed <= sizeof(runs) / sizeof(runs[0]); seed++) {
        netsim ns;
        result r = {0};
        netsim_link l = {.delay = HO_QUIC_MS(runs[seed - 1].one_way_ms), .rate_bps = rate, .queue_bytes = 30000};
        netsim_init(&ns, seed, runs[seed - 1].name);
        ns.ecfg.conn.cc_name = runs[seed - 1].cc;
        netsim_set_links(&ns, -1, &l);
        CHECK(netsim_start(&ns));
        CHECK(netsim_add_client(&ns) == 0);
        if (handshake(&ns, HO_QUIC_SEC(10), &r) && transfer(&ns, 1, 1000, size, HO_QUIC_SEC(60), &r)) {
            double secs = (double)(ns.x[0].finished - ns.x[0].started) / 1e9;
            double mbit = (double)size * 8 / secs / 1e6;
            /* Goodput (stream bytes) against the link rate, which also
             * carries headers, padding and retransmissions. */
            CHECK(mbit >= 0.70 * (double)rate / 1e6);
            /* ... and the limiter held: never above the link rate, and the
             * small queue overflowed (slow start found the limit). */
            CHECK(mbit < (double)rate / 1e6);
            CHECK(ns.link[0][NETSIM_S2C].queue_drops > 0);
            if (mbit < 0.70 * (double)rate / 1e6)
                netsim_dump(&ns, "throughput under 70 % of the link");
            /* CUBIC did not collapse: the window ends above the minimum
             * (2 datagrams, RFC 9002 §7.2) by a wide margin. */
            CHECK(r.ss.cwnd >= 8 * 1200);
            report(&ns, &r, mbit);
            fprintf(stderr, "sim %-26s seed %llu: final cwnd %llu bytes, srtt %.1f ms\n", ns.name,
                    (unsigned long long)seed, (unsigned long long)r.ss.cwnd, (double)r.ss.smoothed_rtt / 1e6);
        } else {
            report(&ns, &r, 0);
        }
        netsim_free(&ns);
    }
}

/* Records when the server sends during the blackhole (it all vanishes). */
typedef struct probe_log {
    ho_quic_time from, until;
    ho_quic_time t[256];
    size_t n;
    netsim *ns;
} probe_log;

static bool probe_filter(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                         uint8_t *ecn)
{
    (void)client, (void)d, (void)len, (void)index, (void)ecn;
    probe_log *p = ctx;
    if (dir == NETSIM_S2C && p->ns->now >= p->from && p->ns->now < p->until && p->n < 256)
        p->t[p->n++] = p->ns->now;
    return false;
}

/* The gaps between the server's sending bursts inside the blackhole: the
 * PTO doubles each time (RFC 9002 §6.2.1), so once the window's worth of
 * data is gone they must grow. Returns the number of gaps found. */
static size_t pto_gaps(const probe_log *p, ho_quic_time *gaps, size_t max)
{
    size_t n = 0;
    ho_quic_time last = p->n ? p->t[0] : 0;
    for (size_t k = 1; k < p->n && n < max; k++) {
        if (p->t[k] - last > HO_QUIC_MS(5))
            gaps[n++] = p->t[k] - last;
        last = p->t[k];
    }
    return n;
}

static void test_blackhole(void)
{
    /* 3 s of silence in both directions, 300 ms into a 2 MB download (the
     * second time with 5 % random loss besides). */
    for (uint64_t seed = 1; seed <= 2; seed++) {
        netsim ns;
        result r = {0};
        probe_log log = {.ns = &ns};
        netsim_init(&ns, seed, seed == 1 ? "blackhole-3s-mid-transfer" : "blackhole-3s-plus-5pct-loss");
        if (seed > 1) {
            netsim_link l = {.loss_pct = 5, .delay = HO_QUIC_MS(10)};
            netsim_set_links(&ns, -1, &l);
        }
        ns.filter = probe_filter;
        ns.filter_ctx = &log;
        CHECK(netsim_start(&ns));
        CHECK(netsim_add_client(&ns) == 0);
        if (handshake(&ns, HO_QUIC_SEC(10), &r)) {
            log.from = ns.now + HO_QUIC_MS(300);
            log.until = ns.now + HO_QUIC_MS(3300);
            for (int d = 0; d < 2; d++) {
                ns.link[0][d].blackhole_from = log.from;
                ns.link[0][d].blackhole_until = log.until;
            }
            transfer(&ns, 1, 1000, 2u << 20, HO_QUIC_SEC(60), &r);
            CHECK(ns.link[0][NETSIM_S2C].blackholed > 0);
            /* PTO backoff: several probes were needed to cross 3 s, each
             * wait longer than the one before. */
            CHECK(r.ss.pto_count >= 3);
            CHECK(r.xfer_time > HO_QUIC_MS(3300));
            ho_quic_time gaps[16];
            size_t ng = pto_gaps(&log, gaps, 16);
            CHECK(ng >= 3);
            for (size_t k = 1; k < ng; k++)
                CHECK(gaps[k] > gaps[k - 1] * 3 / 2);
            fprintf(stderr, "sim %-26s seed %llu: server probe gaps in the blackhole:", ns.name,
                    (unsigned long long)seed);
            for (size_t k = 0; k < ng; k++)
                fprintf(stderr, " %.0f ms", (double)gaps[k] / 1e6);
            fprintf(stderr, "\n");
        }
        report(&ns, &r, 0);
        netsim_free(&ns);
    }
    /* Longer than the idle timeout (5 s): both sides close, nothing hangs. */
    {
        netsim ns;
        result r = {0};
        netsim_init(&ns, 1, "blackhole-beyond-idle-timeout");
        ns.ccfg.max_idle_timeout_ms = 5000;
        ns.ecfg.conn.max_idle_timeout_ms = 5000;
        CHECK(netsim_start(&ns));
        CHECK(netsim_add_client(&ns) == 0);
        if (handshake(&ns, HO_QUIC_SEC(10), &r)) {
            for (int d = 0; d < 2; d++) {
                ns.link[0][d].blackhole_from = ns.now + HO_QUIC_MS(200);
                ns.link[0][d].blackhole_until = ns.now + HO_QUIC_SEC(3600);
            }
            CHECK(netsim_xfer_add(&ns, 0, 1000, 2u << 20, 9) != NULL);
            ho_quic_time t0 = ns.now;
            CHECK(netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(60)));
            r.xfer_time = ns.now - t0;
            CHECK(!netsim_xfers_done(&ns));
            CHECK(ho_quic_conn_is_closed(ns.cl[0]));
            CHECK(netsim_server_conn(&ns, 0) == NULL);
            CHECK_EQ(ns.cli_closed[0], 1);
            CHECK_EQ(ns.cli_close_err[0], HO_OK); /* idle timeout: silent close */
            CHECK(ns.srv_freed[0]);
            CHECK_EQ(ns.srv_close_err[0], HO_OK);
            /* Closed after about the idle timeout (§10.1: at least 3 PTO). */
            CHECK(r.xfer_time >= HO_QUIC_SEC(5) && r.xfer_time <= HO_QUIC_SEC(20));
            stats_of(&ns, &r);
            fprintf(stderr, "sim %-26s seed 1: both sides closed %.3f s after the blackhole began\n", ns.name,
                    (double)(r.xfer_time - HO_QUIC_MS(200)) / 1e9);
        }
        report(&ns, &r, 0);
        netsim_free(&ns);
    }
}

/* The simulator itself: same seed, same run (decisions, counts, times). */
static void test_determinism(void)
{
    ho_quic_time t[2];
    uint64_t lost[2], delivered[2];
    for (int k = 0; k < 2; k++) {
        netsim ns;
        result r = {0};
        netsim_link l = {.loss_pct = 10, .reorder_pct = 10, .reorder_delay = HO_QUIC_MS(20), .dup_pct = 5,
                         .delay = HO_QUIC_MS(10), .jitter = HO_QUIC_MS(2)};
        netsim_init(&ns, 42, "determinism");
        netsim_set_links(&ns, -1, &l);
        CHECK(netsim_start(&ns));
        CHECK(netsim_add_client(&ns) == 0);
        if (handshake(&ns, HO_QUIC_SEC(30), &r))
            transfer(&ns, 1, 50000, 200000, HO_QUIC_SEC(30), &r);
        t[k] = ns.now;
        lost[k] = ns.link[0][0].lost + ns.link[0][1].lost;
        delivered[k] = ns.link[0][0].delivered + ns.link[0][1].delivered;
        netsim_free(&ns);
    }
    /* Packet contents differ between runs (random CIDs and keys, ECDSA
     * signatures of varying length), so allow a tiny difference. */
    CHECK(t[0] - t[1] < HO_QUIC_MS(50) && t[1] - t[0] < HO_QUIC_MS(50));
    CHECK(lost[0] + 5 >= lost[1] && lost[1] + 5 >= lost[0]);
    CHECK(delivered[0] + 20 >= delivered[1] && delivered[1] + 20 >= delivered[0]);
    fprintf(stderr, "sim determinism seed 42: t %.6f / %.6f, lost %llu / %llu, delivered %llu / %llu\n",
            (double)t[0] / 1e9, (double)t[1] / 1e9, (unsigned long long)lost[0], (unsigned long long)lost[1],
            (unsigned long long)delivered[0], (unsigned long long)delivered[1]);
}

/* Endpoint visits (ho_quic_endpoint_stats.conn_visits) for one small
 * request on client 0 while n-1 other connections sit idle. */
static uint64_t visits_for_one_request(int n)
{
    netsim ns;
    result r = {0};
    netsim_init(&ns, 9, "active_only");
    CHECK(netsim_start(&ns));
    for (int i = 0; i < n; i++)
        CHECK(netsim_add_client(&ns) == i);
    uint64_t visits = UINT64_MAX;
    if (handshake(&ns, HO_QUIC_SEC(10), &r)) {
        netsim_run(&ns, NULL, HO_QUIC_SEC(1)); /* every ACK and HANDSHAKE_DONE out */
        ho_quic_endpoint_stats a, b;
        ho_quic_endpoint_get_stats(ns.ep, &a);
        CHECK(netsim_xfer_add(&ns, 0, 100, 1000, 3) != NULL);
        CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(5)));
        ho_quic_endpoint_get_stats(ns.ep, &b);
        visits = b.conn_visits - a.conn_visits;
    }
    netsim_free(&ns);
    return visits;
}

/* Issue 9: walking every connection on every tick (timers, sending) was
 * most of the I/O thread's CPU under a handshake storm. The endpoint
 * looks only at connections with work: idle ones cost nothing. */
static void test_active_only(void)
{
    uint64_t one = visits_for_one_request(1), many = visits_for_one_request(NETSIM_MAX_CLIENTS);
    fprintf(stderr, "endpoint visits for one request: %llu with 1 connection, %llu with %d\n",
            (unsigned long long)one, (unsigned long long)many, NETSIM_MAX_CLIENTS);
    CHECK(one != UINT64_MAX && many != UINT64_MAX);
    CHECK(many <= one + 4);
}

/* A connection changed through the API outside any callback (here: closed
 * by the application) is sent at the endpoint's next send, although no
 * datagram or timer touched it. */
static void test_api_wakes(void)
{
    netsim ns;
    result r = {0};
    netsim_init(&ns, 11, "api_wakes");
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_add_client(&ns) == 1);
    if (handshake(&ns, HO_QUIC_SEC(10), &r)) {
        netsim_run(&ns, NULL, HO_QUIC_SEC(1));
        ho_quic_conn *s = netsim_server_conn(&ns, 1);
        CHECK(s != NULL);
        uint8_t buf[1500];
        ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
        CHECK(ho_quic_endpoint_send(ns.ep, &out, ns.now) == 0); /* nothing due */
        CHECK(ho_quic_conn_close(s, 0x100, "bye", ns.now) == HO_OK);
        out = (ho_quic_endpoint_out){.buf = buf, .cap = sizeof(buf)};
        CHECK(ho_quic_endpoint_send(ns.ep, &out, ns.now) > 0);
        CHECK(out.conn == s);
    }
    netsim_free(&ns);
}

/* The handshake and transfer scenarios again in QUIC version 2 (RFC 9369). */
static void test_v2_scenarios(void)
{
    netsim_quic_version = HO_QUIC_V2;
    netsim_last_version = 0;
    test_handshake_loss();
    CHECK_EQ(netsim_last_version, HO_QUIC_V2);
    netsim_last_version = 0;
    test_reorder_dup_jitter();
    CHECK_EQ(netsim_last_version, HO_QUIC_V2);
    netsim_last_version = 0;
    test_bulk_loss();
    CHECK_EQ(netsim_last_version, HO_QUIC_V2);
    netsim_quic_version = 0;
}

int main(void)
{
    netsim_global_init();
    RUN(test_determinism);
    RUN(test_handshake_loss);
    RUN(test_bulk_loss);
    RUN(test_reorder_dup_jitter);
    RUN(test_reorder_recovery);
    RUN(test_bandwidth);
    RUN(test_blackhole);
    RUN(test_active_only);
    RUN(test_api_wakes);
    RUN(test_v2_scenarios);
    netsim_global_free();
    return ho_test_summary("test_quic_sim");
}
