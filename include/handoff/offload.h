/*
 * handoff — the handshake worker pool (DESIGN.md "Handshake offload").
 *
 * M worker threads take jobs from one queue and run them at a lower
 * scheduling priority than the I/O threads. A finished job goes on the
 * completion queue of the thread that submitted it (its "home"), whose
 * eventfd wakes that thread's event loop; the home thread then runs the
 * job's `done` step. A job object is owned by the pool from submit until
 * `done` runs, and whatever it points to (a handshake) is touched by exactly
 * one thread at a time.
 */
#ifndef HANDOFF_OFFLOAD_H
#define HANDOFF_OFFLOAD_H

#include "handoff/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where handshake steps run, for TCP (ho_server_options) and QUIC
 * (ho_quic_endpoint_config) alike: inline on the I/O thread, always on a
 * worker, or on a worker only while inline work would delay others. */
typedef enum { HO_OFFLOAD_OFF, HO_OFFLOAD_ALWAYS, HO_OFFLOAD_ADAPTIVE } ho_offload_mode;

typedef struct ho_pool ho_pool;
typedef struct ho_home ho_home;
typedef struct ho_job ho_job;

struct ho_job {
    ho_job *next;                 /* queue link (pool-owned while queued) */
    void (*run)(ho_job *job);     /* on a worker */
    void (*done)(ho_job *job);    /* on the home thread, after run */
    ho_home *home;
    int64_t t_submit_ns, t_start_ns, t_end_ns; /* CLOCK_MONOTONIC, filled in */
    bool ran_on_worker;           /* false when run inline (no workers) */
};

typedef struct ho_pool_stats {
    uint64_t submitted;      /* jobs submitted */
    uint64_t completed;      /* jobs whose run finished */
    uint64_t inline_runs;    /* jobs run on the submitting thread (0 workers) */
    uint64_t depth;          /* jobs queued, not yet started (now) */
    uint64_t max_depth;      /* high-water mark of depth */
    uint64_t queued_ns;      /* sum over started jobs of time spent queued */
    uint64_t run_ns;         /* sum over finished jobs of run time */
    ho_hist queued;          /* time queued (submit to a worker taking it) */
} ho_pool_stats;

/* workers: thread count (0: run every job inline, in ho_pool_submit).
 * nice: added to the workers' nice value (setpriority per thread; e.g. 10),
 * so a handshake storm cannot starve the I/O threads of CPU. */
HO_API ho_pool *ho_pool_new(unsigned workers, int nice);
/* Stops the workers after the queued jobs ran (their `done` steps are left
 * on the completion queues for the homes to drain or discard). */
HO_API void ho_pool_free(ho_pool *p);
HO_API unsigned ho_pool_workers(const ho_pool *p);
HO_API void ho_pool_get_stats(const ho_pool *p, ho_pool_stats *out);

/* A completion queue for one thread, with an eventfd to poll. */
HO_API ho_home *ho_home_new(void);
HO_API void ho_home_free(ho_home *h);
HO_API int ho_home_fd(const ho_home *h);
/* Jobs submitted from this home and not yet drained. */
HO_API unsigned ho_home_outstanding(const ho_home *h);
/* Runs `done` for every completed job (on the calling thread, which must be
 * the home's). Returns how many. Call when ho_home_fd is readable. */
HO_API size_t ho_home_drain(ho_home *h);

/* From any thread: puts job straight on home's completion queue (no run
 * step); the home's next ho_home_drain runs done. It counts as outstanding
 * until then. The I/O layer wakes a connection this way when the
 * application completes an asynchronous TLS callback. */
HO_API void ho_home_post(ho_home *home, ho_job *job);

/* Queues job (run on a worker, then done on `home`). With 0 workers, runs
 * job->run now on this thread and leaves done for the next drain. A held
 * pool (ho_pool_new_held) keeps it until ho_pool_run_held. */
HO_API void ho_pool_submit(ho_pool *p, ho_home *home, ho_job *job);

/* ---- deterministic mode (tests, simulators) ----------------------------
 * A held pool has no threads: a submitted job waits (it counts in depth)
 * until the caller picks it with ho_pool_run_held, which runs job->run on
 * the calling thread and posts the job to its home's completion queue; the
 * home's next ho_home_drain runs done. The caller thus chooses when (in
 * virtual time) and in which order every job completes. ho_pool_workers is
 * 0, ran_on_worker is true for held jobs (they stand for worker runs) and
 * ho_pool_free runs the jobs still held (their done steps go to the homes). */
HO_API ho_pool *ho_pool_new_held(void);
/* Jobs held now. */
HO_API size_t ho_pool_held(const ho_pool *p);
/* The index-th held job (0: the oldest), NULL if fewer are held. */
HO_API ho_job *ho_pool_held_job(const ho_pool *p, size_t index);
/* Runs and completes the index-th held job; false if fewer are held. */
HO_API bool ho_pool_run_held(ho_pool *p, size_t index);

#ifdef __cplusplus
}
#endif
#endif
