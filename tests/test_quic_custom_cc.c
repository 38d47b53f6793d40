/* test_quic_custom_cc: a congestion controller registered through the
 * public interface (handoff/quic_cc.h) — the one of examples/custom_cc.c,
 * compiled in here — runs a server's transfers over the network simulator:
 * the bytes arrive intact, its counters show the library called it, and
 * bytes in flight stayed within the window it chose. Also the registry's
 * refusals (duplicates, built-in names, a full table, bad ops). */
#include <string.h>

#include "harness.h"
#include "netsim.h"
#include "quic/cc/cc.h"
#include "quic/conn_int.h"

#define CUSTOM_CC_NO_MAIN
#include "../examples/custom_cc.c"

static void reset_stats(void)
{
    memset(&aimd_stats, 0, sizeof(aimd_stats));
}

static void test_register(void)
{
    CHECK_EQ(ho_quic_cc_register(AIMD_NAME, &aimd_ops), HO_OK);
    CHECK(ho_quic_cc_by_name(AIMD_NAME) == &aimd_ops);
    CHECK(ho_quic_cc_by_name("AIMD-Example") == &aimd_ops); /* case-insensitive */
    /* Duplicates, built-in names included, are refused. */
    CHECK_EQ(ho_quic_cc_register(AIMD_NAME, &aimd_ops), HO_ERR_EXISTS);
    CHECK_EQ(ho_quic_cc_register("AIMD-EXAMPLE", &ho_quic_cc_newreno), HO_ERR_EXISTS);
    CHECK_EQ(ho_quic_cc_register("cubic", &aimd_ops), HO_ERR_EXISTS);
    CHECK_EQ(ho_quic_cc_register("Reno", &aimd_ops), HO_ERR_EXISTS);
    /* Bad arguments. */
    ho_quic_cc_ops partial = aimd_ops;
    partial.on_persistent_congestion = NULL;
    CHECK_EQ(ho_quic_cc_register("partial", &partial), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cc_register("nil", NULL), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cc_register("", &aimd_ops), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cc_register(NULL, &aimd_ops), HO_ERR_INVALID_ARG);
    char longname[HO_QUIC_CC_NAME_MAX + 2];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    CHECK_EQ(ho_quic_cc_register(longname, &aimd_ops), HO_ERR_INVALID_ARG);
    longname[HO_QUIC_CC_NAME_MAX] = '\0'; /* exactly the limit */
    CHECK_EQ(ho_quic_cc_register(longname, &aimd_ops), HO_OK);
    CHECK_EQ(ho_quic_cc_unregister(longname), HO_OK);
    /* A bounded table: the slots left after AIMD_NAME, then HO_ERR_FULL. */
    char names[HO_QUIC_CC_REGISTRY_MAX][16];
    for (int i = 0; i < HO_QUIC_CC_REGISTRY_MAX - 1; i++) {
        snprintf(names[i], sizeof(names[i]), "extra-%d", i);
        CHECK_EQ(ho_quic_cc_register(names[i], &aimd_ops), HO_OK);
    }
    CHECK_EQ(ho_quic_cc_register("one-too-many", &aimd_ops), HO_ERR_FULL);
    CHECK(ho_quic_cc_by_name("one-too-many") == NULL);
    for (int i = 0; i < HO_QUIC_CC_REGISTRY_MAX - 1; i++)
        CHECK_EQ(ho_quic_cc_unregister(names[i]), HO_OK);
    CHECK_EQ(ho_quic_cc_unregister("extra-0"), HO_ERR_NOT_FOUND);
    CHECK_EQ(ho_quic_cc_unregister("cubic"), HO_ERR_NOT_FOUND); /* built-ins stay */
    CHECK(ho_quic_cc_by_name("cubic") == &ho_quic_cc_cubic);
    /* A freed slot can be taken again. */
    CHECK_EQ(ho_quic_cc_register("one-too-many", &aimd_ops), HO_OK);
    CHECK_EQ(ho_quic_cc_unregister("one-too-many"), HO_OK);
    CHECK_EQ(ho_quic_cc_unregister(AIMD_NAME), HO_OK);
    CHECK(ho_quic_cc_by_name(AIMD_NAME) == NULL);
}

static ho_quic_cc_ack seen_ack;

static void probe_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now)
{
    (void)cc, (void)now;
    seen_ack = *ack;
}

/* The public accessors on a bare controller: the state area is zeroed,
 * the window never goes below 2 datagrams (RFC 9002 §7.2), a pacing rate
 * set by the controller replaces the default. */
static void test_accessors(void)
{
    ho_quic_cc cc;
    ho_quic_cc_init(&cc, &aimd_ops, 1200, 0);
    ho_quic_cc_info in;
    ho_quic_cc_get_info(&cc, &in);
    CHECK_EQ(in.cwnd, 4 * 1200); /* AIMD_INITIAL_PACKETS, not the RFC's 10 */
    CHECK_EQ(in.min_window, 2 * 1200);
    CHECK_EQ(in.initial_window, 10 * 1200);
    CHECK_EQ(in.ssthresh, in.cwnd);
    unsigned char *area = ho_quic_cc_state(&cc);
    CHECK(area == (unsigned char *)&cc.u);
    ho_quic_cc_set_window(&cc, 100, 5000);
    CHECK_EQ(cc.cwnd, 2 * 1200);
    CHECK_EQ(cc.ssthresh, 5000);
    ho_quic_rtt rtt;
    ho_quic_rtt_init(&rtt, HO_QUIC_MS(100));
    uint64_t def = ho_quic_cc_pacing_rate(&cc, &rtt);
    CHECK(def > 0 && def != 123456);
    ho_quic_cc_set_pacing_rate(&cc, 123456);
    CHECK_EQ(ho_quic_cc_pacing_rate(&cc, &rtt), 123456);
    ho_quic_cc_set_pacing_rate(&cc, 0);
    CHECK_EQ(ho_quic_cc_pacing_rate(&cc, &rtt), def);
    /* The undo hook is optional: the example does not have one. */
    CHECK(!ho_quic_cc_on_spurious_congestion(&cc, 0));
    /* The RTT estimates come with each ACK. */
    ho_quic_rtt_update(&rtt, 0, 0, false, HO_QUIC_MS(40));
    ho_quic_cc_packet p = {.pn = 0, .time_sent = 0, .bytes = 1200};
    ho_quic_cc_ack a = {.packets = &p, .count = 1, .space = HO_QUIC_PN_SPACE_APPLICATION, .rtt_sampled = true};
    reset_stats();
    ho_quic_cc_on_packet_sent(&cc, HO_QUIC_PN_SPACE_APPLICATION, 0, 1200, 0);
    ho_quic_cc_on_packets_acked(&cc, &a, &rtt, HO_QUIC_MS(40));
    CHECK_EQ(atomic_load(&aimd_stats.sent), 1);
    CHECK_EQ(atomic_load(&aimd_stats.acked), 1);
    CHECK_EQ(cc.bytes_in_flight, 0);
    /* ... with the estimates after this sample. */
    ho_quic_cc_ops probe = aimd_ops;
    probe.on_packets_acked = probe_acked;
    ho_quic_cc_init(&cc, &probe, 1200, 0);
    ho_quic_cc_on_packet_sent(&cc, HO_QUIC_PN_SPACE_APPLICATION, 0, 1200, 0);
    ho_quic_cc_on_packets_acked(&cc, &a, &rtt, HO_QUIC_MS(40));
    CHECK_EQ(seen_ack.count, 1);
    CHECK(seen_ack.rtt_sampled);
    CHECK_EQ(seen_ack.latest_rtt, HO_QUIC_MS(40));
    CHECK_EQ(seen_ack.smoothed_rtt, rtt.smoothed_rtt);
    CHECK_EQ(seen_ack.min_rtt, HO_QUIC_MS(40));
    CHECK_EQ(seen_ack.rttvar, rtt.rttvar);
    CHECK_EQ(seen_ack.space, HO_QUIC_PN_SPACE_APPLICATION);
}

typedef struct run_result {
    ho_quic_conn_stats ss;
    ho_quic_time xfer_time;
} run_result;

/* One client downloads `down` bytes from a server running AIMD_NAME over
 * `link` (both directions). */
static bool run(const char *name, uint64_t seed, const netsim_link *link, uint64_t down, run_result *out)
{
    netsim ns;
    bool ok = false;
    netsim_init(&ns, seed, name);
    ns.ecfg.conn.cc_name = AIMD_NAME;
    netsim_set_links(&ns, -1, link);
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    if (netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10))) {
        CHECK(netsim_xfer_add(&ns, 0, 1000, down, 7) != NULL);
        ho_quic_time t0 = ns.now;
        ok = netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(120));
        out->xfer_time = ns.now - t0;
        CHECK(ok);
        CHECK_EQ(netsim_xfers_check(&ns), 0); /* byte for byte, both ways */
        ho_quic_conn *s = netsim_server_conn(&ns, 0);
        CHECK(s != NULL);
        if (s != NULL)
            ho_quic_conn_get_stats(s, &out->ss);
        if (!ok)
            netsim_dump(&ns, "transfer did not complete");
    } else {
        CHECK(!"handshake did not complete");
        netsim_dump(&ns, "handshake did not complete");
    }
    fprintf(stderr,
            "%s: %.3f s; aimd inits %llu sent %llu acked %llu congestion %llu persistent %llu "
            "app_limited %llu max_cwnd %llu over_window %llu (max %llu B) recovery_sends %llu; server cwnd %llu "
            "lost %llu pto %llu\n",
            name, (double)out->xfer_time / 1e9, (unsigned long long)atomic_load(&aimd_stats.inits),
            (unsigned long long)atomic_load(&aimd_stats.sent), (unsigned long long)atomic_load(&aimd_stats.acked),
            (unsigned long long)atomic_load(&aimd_stats.congestion),
            (unsigned long long)atomic_load(&aimd_stats.persistent),
            (unsigned long long)atomic_load(&aimd_stats.app_limited),
            (unsigned long long)atomic_load(&aimd_stats.max_cwnd),
            (unsigned long long)atomic_load(&aimd_stats.over_window),
            (unsigned long long)atomic_load(&aimd_stats.max_over),
            (unsigned long long)atomic_load(&aimd_stats.recovery_sends), (unsigned long long)out->ss.cwnd,
            (unsigned long long)out->ss.packets_lost, (unsigned long long)out->ss.pto_count);
    netsim_free(&ns);
    return ok;
}

/* A clean 20 ms path: the controller is called for every send and ACK,
 * grows its window additively from 4 datagrams up to its cap of 64, and
 * the library never puts more than its window in flight. */
static void test_transfer_clean(void)
{
    CHECK_EQ(ho_quic_cc_register(AIMD_NAME, &aimd_ops), HO_OK);
    reset_stats();
    netsim_link l = {.delay = HO_QUIC_MS(10)};
    run_result r = {0};
    const uint64_t down = 2u << 20;
    if (run("custom-cc-clean", 1, &l, down, &r)) {
        CHECK(atomic_load(&aimd_stats.inits) >= 1);
        CHECK(atomic_load(&aimd_stats.sent) >= down / 1500);
        CHECK(atomic_load(&aimd_stats.acked) > 0);
        CHECK_EQ(atomic_load(&aimd_stats.congestion), 0);
        /* The window was obeyed: bytes in flight never above its cwnd. */
        CHECK_EQ(atomic_load(&aimd_stats.over_window), 0);
        CHECK_EQ(atomic_load(&aimd_stats.recovery_sends), 0);
        /* Its own logic set the window: grown past the initial 4 datagrams,
         * never past its cap of 64 (the connection's cwnd is its value). */
        CHECK(r.ss.cwnd > 4 * r.ss.max_datagram_size);
        CHECK(r.ss.cwnd <= AIMD_MAX_PACKETS * r.ss.max_datagram_size);
        CHECK(atomic_load(&aimd_stats.max_cwnd) <= AIMD_MAX_PACKETS * r.ss.max_datagram_size);
    }
    CHECK_EQ(ho_quic_cc_unregister(AIMD_NAME), HO_OK);
}

/* A 10 Mbit/s bottleneck with a 30 KB queue: the queue overflows, the
 * controller sees congestion events and cuts its window, and the transfer
 * still completes intact. Past the window only the one packet RFC 9002 B.6
 * allows on entering recovery (at most one per cut) and PTO probes (§7.5,
 * at most one per PTO) may go. */
static void test_transfer_bottleneck(void)
{
    CHECK_EQ(ho_quic_cc_register(AIMD_NAME, &aimd_ops), HO_OK);
    reset_stats();
    netsim_link l = {.delay = HO_QUIC_MS(10), .rate_bps = 10000000, .queue_bytes = 30000};
    run_result r = {0};
    if (run("custom-cc-bottleneck", 2, &l, 2u << 20, &r)) {
        CHECK(atomic_load(&aimd_stats.sent) > 0);
        CHECK(atomic_load(&aimd_stats.congestion) > 0);
        CHECK(r.ss.packets_lost > 0);
        CHECK(atomic_load(&aimd_stats.recovery_sends) <= atomic_load(&aimd_stats.congestion));
        CHECK(atomic_load(&aimd_stats.over_window) <= r.ss.pto_count);
        CHECK(r.ss.cwnd <= AIMD_MAX_PACKETS * r.ss.max_datagram_size);
        CHECK(r.ss.cwnd >= 2 * r.ss.max_datagram_size);
    }
    CHECK_EQ(ho_quic_cc_unregister(AIMD_NAME), HO_OK);
}

/* An unknown cc_name falls back to the default controller; a name
 * registered after a connection was made does not change it. */
static void test_unregistered_name(void)
{
    reset_stats();
    netsim ns;
    netsim_init(&ns, 3, "custom-cc-unregistered");
    ns.ecfg.conn.cc_name = AIMD_NAME; /* not registered now */
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK_EQ(atomic_load(&aimd_stats.inits), 0);
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL);
    if (s != NULL)
        CHECK(ho_quic_cc_by_name(NULL) == s->cc.ops);
    netsim_free(&ns);
}

int main(void)
{
    netsim_global_init();
    RUN(test_register);
    RUN(test_accessors);
    RUN(test_transfer_clean);
    RUN(test_transfer_bottleneck);
    RUN(test_unregistered_name);
    netsim_global_free();
    return ho_test_summary("test_quic_custom_cc");
}
