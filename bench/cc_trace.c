/* cc_trace: the congestion window and bytes in flight of our QUIC server
 * over virtual time, in the network simulator (tests/netsim.c), for the
 * charts of docs/BENCHMARKS.md (bench/charts.sh).
 *
 *   cc_trace SCENARIO CC [--short]
 *
 * SCENARIO: loss (20 Mbit/s, 20 ms RTT, 2 % random loss both ways),
 * blackhole (10 Mbit/s, 20 ms RTT, everything dropped for 3 s from 300 ms
 * into the transfer), bottleneck (10 Mbit/s behind a 30 KB tail-drop queue,
 * 40 ms RTT). CC: a controller of ho_quic_config.cc_name ("cubic",
 * "newreno", "bbr"). One client downloads 4 MB (--short: 256 KB, and the
 * blackhole lasts 1 s) from the server; each time the server connection's
 * window or bytes in flight changes (ho_quic_conn_get_stats), a line
 * "t_ms<TAB>cwnd<TAB>bytes_in_flight" goes to stdout (at most one per
 * 0.5 ms of virtual time, plus every change of the window). The run is
 * deterministic (seed 1). Exit status 1 if the transfer did not complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"
#include "quic/conn_int.h"

typedef struct trace {
    ho_quic_time t0, last_t;
    uint64_t last_cwnd, last_bif;
    bool any;
} trace;

static void sample(netsim *ns)
{
    trace *tr = ns->user;
    ho_quic_conn *s = netsim_server_conn(ns, 0);
    if (s == NULL || tr->t0 == 0)
        return;
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(s, &st);
    bool changed = st.cwnd != tr->last_cwnd || st.bytes_in_flight != tr->last_bif;
    if (!changed || (tr->any && st.cwnd == tr->last_cwnd && ns->now - tr->last_t < HO_QUIC_MS(1) / 2))
        return;
    printf("%.3f\t%llu\t%llu\n", (double)(ns->now - tr->t0) / 1e6, (unsigned long long)st.cwnd,
           (unsigned long long)st.bytes_in_flight);
    tr->last_t = ns->now;
    tr->last_cwnd = st.cwnd;
    tr->last_bif = st.bytes_in_flight;
    tr->any = true;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cc_trace loss|blackhole|bottleneck CC [--short]\n");
        return 2;
    }
    const char *scen = argv[1], *cc = argv[2];
    bool short_run = argc > 3 && strcmp(argv[3], "--short") == 0;
    uint64_t size = short_run ? 256u << 10 : 4u << 20;
    netsim_link l = {0};
    ho_quic_time hole = 0;
    if (strcmp(scen, "loss") == 0) {
        l = (netsim_link){.loss_pct = 2, .delay = HO_QUIC_MS(10), .rate_bps = 20000000, .queue_bytes = 100000};
    } else if (strcmp(scen, "blackhole") == 0) {
        l = (netsim_link){.delay = HO_QUIC_MS(10), .rate_bps = 10000000, .queue_bytes = 60000};
        hole = short_run ? HO_QUIC_SEC(1) : HO_QUIC_SEC(3);
    } else if (strcmp(scen, "bottleneck") == 0) {
        l = (netsim_link){.delay = HO_QUIC_MS(20), .rate_bps = 10000000, .queue_bytes = 30000};
    } else {
        fprintf(stderr, "cc_trace: unknown scenario %s\n", scen);
        return 2;
    }
    if (strcmp(cc, "cubic") != 0 && strcmp(cc, "newreno") != 0 && strcmp(cc, "bbr") != 0) {
        fprintf(stderr, "cc_trace: unknown controller %s\n", cc);
        return 2;
    }
    netsim_global_init();
    netsim ns;
    trace tr = {0};
    netsim_init(&ns, 1, scen);
    ns.ecfg.conn.cc_name = cc;
    ns.user = &tr;
    ns.app = sample;
    netsim_set_links(&ns, -1, &l);
    bool ok = netsim_start(&ns) && netsim_add_client(&ns) == 0 && netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10));
    if (ok) {
        tr.t0 = ns.now;
        if (hole != 0)
            for (int d = 0; d < 2; d++) {
                ns.link[0][d].blackhole_from = ns.now + HO_QUIC_MS(300);
                ns.link[0][d].blackhole_until = ns.now + HO_QUIC_MS(300) + hole;
            }
        ok = netsim_xfer_add(&ns, 0, 1000, size, 3) != NULL && netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(120)) &&
             netsim_xfers_check(&ns) == 0;
    }
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    /* Persistent congestion (RFC 9002 §7.6) declared by the server: an
     * internal counter (quic/recovery.h), read only. */
    unsigned long long pc = s != NULL ? (unsigned long long)s->rec.stats.persistent_congestion : 0;
    if (!ok)
        netsim_dump(&ns, "cc_trace: the transfer did not complete");
    else
        fprintf(stderr, "cc_trace %s %s: %llu bytes in %.3f s, persistent congestion %llu\n", scen, cc,
                (unsigned long long)size, (double)(ns.now - tr.t0) / 1e9, pc);
    netsim_free(&ns);
    netsim_global_free();
    return ok ? 0 : 1;
}
