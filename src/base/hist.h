/* Lock-free latency histograms: written by one thread (or a few) with
 * relaxed atomics, read at any time by a scrape (ho_hist). The buckets are
 * those of ho_hist (handoff/base.h). */
#ifndef HANDOFF_BASE_HIST_H
#define HANDOFF_BASE_HIST_H

#include "handoff/base.h"

#include <stdatomic.h>

typedef struct hist_atomic {
    _Atomic uint64_t bucket[HO_HIST_BOUNDS + 1];
    _Atomic uint64_t count, sum_ns;
} hist_atomic;

/* The bucket an observation of ns falls in (HO_HIST_BOUNDS: above all). */
static inline size_t hist_bucket(uint64_t ns)
{
    size_t i = 0;
    while (i < HO_HIST_BOUNDS && ns > ho_hist_bounds_ns[i])
        i++;
    return i;
}

static inline void hist_record(hist_atomic *h, uint64_t ns)
{
    atomic_fetch_add_explicit(&h->bucket[hist_bucket(ns)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->count, 1, memory_order_relaxed);
}

/* Adds h's observations into out. A scrape racing a record may see the
 * bucket before the count: the sum of buckets is what is reported as the
 * count by the metrics text, so both stay consistent. */
static inline void hist_load_into(const hist_atomic *h, ho_hist *out)
{
    hist_atomic *m = (hist_atomic *)h;
    for (size_t i = 0; i <= HO_HIST_BOUNDS; i++)
        out->bucket[i] += atomic_load_explicit(&m->bucket[i], memory_order_relaxed);
    out->count += atomic_load_explicit(&m->count, memory_order_relaxed);
    out->sum_ns += atomic_load_explicit(&m->sum_ns, memory_order_relaxed);
}

#endif
