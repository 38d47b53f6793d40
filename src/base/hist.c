/* The fixed buckets of the latency histograms (handoff/base.h). */
#include "base/hist.h"

/* 50 us .. 1 s: a handshake on a quiet machine takes a few hundred
 * microseconds, a queued one under a storm tens of milliseconds. */
const uint64_t ho_hist_bounds_ns[HO_HIST_BOUNDS] = {
    50000,    100000,    250000,    500000,    1000000,   2500000,   5000000,
    10000000, 25000000, 50000000, 100000000, 250000000, 500000000, 1000000000,
};

void ho_hist_merge(ho_hist *dst, const ho_hist *src)
{
    for (size_t i = 0; i <= HO_HIST_BOUNDS; i++)
        dst->bucket[i] += src->bucket[i];
    dst->count += src->count;
    dst->sum_ns += src->sum_ns;
}

void ho_hist_observe(ho_hist *h, uint64_t ns)
{
    h->bucket[hist_bucket(ns)]++;
    h->count++;
    h->sum_ns += ns;
}
