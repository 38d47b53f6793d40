/* cc_compare: goodput and bottleneck queueing delay of the QUIC congestion
 * controllers side by side, in the network simulator (tests/netsim.c,
 * netsim_cc_bottleneck): 10 Mbit/s behind a 30 KB tail-drop queue, 80 ms
 * RTT, with 0 % and 1 % random loss, one download per controller.
 *
 *   cc_compare [--bytes N] [--seed S] [--loss PCT ...] [CC ...]
 *
 * Defaults: 8 MB, seed 1, losses 0 and 1, controllers bbr cubic newreno.
 * Deterministic: the same arguments print the same table (Markdown, for
 * docs/BENCHMARKS.md). Exit status 1 if a transfer did not complete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "netsim.h"

int main(int argc, char **argv)
{
    uint64_t bytes = 8u << 20, seed = 1;
    unsigned losses[8];
    size_t nloss = 0, ncc = 0;
    const char *ccs[8];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
            bytes = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--loss") == 0 && i + 1 < argc && nloss < 8)
            losses[nloss++] = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (argv[i][0] != '-' && ncc < 8)
            ccs[ncc++] = argv[i];
        else {
            fprintf(stderr, "usage: cc_compare [--bytes N] [--seed S] [--loss PCT ...] [CC ...]\n");
            return 2;
        }
    }
    if (nloss == 0) {
        losses[nloss++] = 0;
        losses[nloss++] = 1;
    }
    if (ncc == 0) {
        ccs[ncc++] = "bbr";
        ccs[ncc++] = "cubic";
        ccs[ncc++] = "newreno";
    }
    netsim_global_init();
    int rc = 0;
    printf("| loss | cc | goodput Mbit/s | time s | queue delay mean ms | queue delay p95 ms | queue drops | "
           "random losses | congestion events |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (size_t li = 0; li < nloss; li++) {
        for (size_t ci = 0; ci < ncc; ci++) {
            netsim_cc_result r;
            if (!netsim_cc_bottleneck(ccs[ci], losses[li], bytes, seed, &r))
                rc = 1;
            printf("| %u %% | %s | %.2f | %.2f | %.1f | %.1f | %llu | %llu | %llu |%s\n", losses[li], ccs[ci],
                   r.goodput_mbps, r.seconds, r.qdelay_mean_ms, r.qdelay_p95_ms, (unsigned long long)r.queue_drops,
                   (unsigned long long)r.random_losses, (unsigned long long)r.congestion_events,
                   r.ok ? "" : " INCOMPLETE");
            fflush(stdout);
        }
    }
    netsim_global_free();
    return rc;
}
