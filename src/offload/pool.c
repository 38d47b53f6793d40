/* The handshake worker pool: one job queue shared by M workers, one
 * completion queue per home (I/O thread) with an eventfd wake-up.
 *
 * Workers lower their own scheduling priority (setpriority on the thread id)
 * so that under a handshake storm the kernel still gives the I/O threads the
 * CPU they need for established connections. */
#define _GNU_SOURCE
#include "base/mem.h"
#include "handoff/offload.h"

#include "base/hist.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct ho_home {
    pthread_mutex_t lock;
    ho_job *done_head, *done_tail; /* completed jobs, FIFO */
    int efd;
    _Atomic unsigned outstanding;
};

struct ho_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ho_job *head, *tail;
    bool stopping;
    bool held;                     /* deterministic mode: jobs wait for ho_pool_run_held */
    unsigned nworkers;
    int nice;
    pthread_t *threads;
    _Atomic uint64_t submitted, completed, inline_runs, depth, max_depth, queued_ns, run_ns;
    /* Time queued (submit to start), one histogram per worker so workers
     * never share a cache line of counters; the last one is for jobs run
     * on other threads (inline, held). Summed by ho_pool_get_stats. */
    hist_atomic *queue_hist;
    unsigned nhist;
    _Atomic unsigned next_worker;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- homes ----------------------------------------------------------- */

ho_home *ho_home_new(void)
{
    ho_home *h = ho_mem_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (h->efd < 0) {
        ho_mem_free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void ho_home_free(ho_home *h)
{
    if (h == NULL)
        return;
    close(h->efd);
    pthread_mutex_destroy(&h->lock);
    ho_mem_free(h);
}

int ho_home_fd(const ho_home *h) { return h->efd; }

unsigned ho_home_outstanding(const ho_home *h) { return atomic_load(&((ho_home *)h)->outstanding); }

static void home_complete(ho_home *h, ho_job *job)
{
    job->next = NULL;
    pthread_mutex_lock(&h->lock);
    bool was_empty = h->done_head == NULL;
    if (h->done_tail != NULL)
        h->done_tail->next = job;
    else
        h->done_head = job;
    h->done_tail = job;
    pthread_mutex_unlock(&h->lock);
    /* One wake-up per batch: the home drains everything queued. */
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(h->efd, &one, sizeof(one));
        (void)n; /* EAGAIN only if the counter is saturated: already awake */
    }
}

void ho_home_post(ho_home *h, ho_job *job)
{
    atomic_fetch_add(&h->outstanding, 1);
    job->home = h;
    home_complete(h, job);
}

size_t ho_home_drain(ho_home *h)
{
    uint64_t v;
    ssize_t n = read(h->efd, &v, sizeof(v));
    (void)n;
    pthread_mutex_lock(&h->lock);
    ho_job *job = h->done_head;
    h->done_head = h->done_tail = NULL;
    pthread_mutex_unlock(&h->lock);
    size_t count = 0;
    while (job != NULL) {
        ho_job *next = job->next;
        atomic_fetch_sub(&h->outstanding, 1);
        job->done(job); /* may free job */
        job = next;
        count++;
    }
    return count;
}

/* ---- the pool -------------------------------------------------------- */

static void run_job(ho_pool *p, ho_job *job, hist_atomic *h)
{
    job->t_start_ns = now_ns();
    uint64_t queued = (uint64_t)(job->t_start_ns - job->t_submit_ns);
    atomic_fetch_add(&p->queued_ns, queued);
    hist_record(h, queued);
    job->run(job);
    job->t_end_ns = now_ns();
    atomic_fetch_add(&p->run_ns, (uint64_t)(job->t_end_ns - job->t_start_ns));
    atomic_fetch_add(&p->completed, 1);
}

static void *worker_main(void *arg)
{
    ho_pool *p = arg;
    hist_atomic *h = &p->queue_hist[atomic_fetch_add(&p->next_worker, 1) % p->nhist];
    /* Linux: nice is per thread, set through the thread id. */
    if (p->nice != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), p->nice);
    pthread_setname_np(pthread_self(), "ho-handshake");
    for (;;) {
        pthread_mutex_lock(&p->lock);
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        ho_job *job = p->head;
        if (job == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&p->lock);
            return NULL;
        }
        p->head = job->next;
        if (p->head == NULL)
            p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        atomic_fetch_sub(&p->depth, 1);
        job->ran_on_worker = true;
        run_job(p, job, h);
        home_complete(job->home, job);
    }
}

ho_pool *ho_pool_new(unsigned workers, int nice)
{
    ho_pool *p = ho_mem_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->nice = nice;
    p->nhist = workers + 1;
    p->queue_hist = ho_mem_calloc(p->nhist, sizeof(*p->queue_hist));
    if (p->queue_hist == NULL) {
        ho_pool_free(p);
        return NULL;
    }
    if (workers > 0) {
        p->threads = ho_mem_calloc(workers, sizeof(*p->threads));
        if (p->threads == NULL) {
            ho_pool_free(p);
            return NULL;
        }
    }
    for (unsigned i = 0; i < workers; i++) {
        if (pthread_create(&p->threads[i], NULL, worker_main, p) != 0) {
            ho_pool_free(p);
            return NULL;
        }
        p->nworkers++;
    }
    return p;
}

void ho_pool_free(ho_pool *p)
{
    if (p == NULL)
        return;
    while (p->held && ho_pool_run_held(p, 0)) {
    }
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nworkers; i++)
        pthread_join(p->threads[i], NULL);
    ho_mem_free(p->threads);
    ho_mem_free(p->queue_hist);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    ho_mem_free(p);
}

unsigned ho_pool_workers(const ho_pool *p) { return p->nworkers; }

void ho_pool_get_stats(const ho_pool *p, ho_pool_stats *out)
{
    ho_pool *m = (ho_pool *)p;
    out->submitted = atomic_load(&m->submitted);
    out->completed = atomic_load(&m->completed);
    out->inline_runs = atomic_load(&m->inline_runs);
    out->depth = atomic_load(&m->depth);
    out->max_depth = atomic_load(&m->max_depth);
    out->queued_ns = atomic_load(&m->queued_ns);
    out->run_ns = atomic_load(&m->run_ns);
    memset(&out->queued, 0, sizeof(out->queued));
    for (unsigned i = 0; i < m->nhist; i++)
        hist_load_into(&m->queue_hist[i], &out->queued);
}

void ho_pool_submit(ho_pool *p, ho_home *home, ho_job *job)
{
    job->home = home;
    job->next = NULL;
    job->ran_on_worker = false;
    job->t_submit_ns = now_ns();
    atomic_fetch_add(&home->outstanding, 1);
    atomic_fetch_add(&p->submitted, 1);
    if (p->nworkers == 0 && !p->held) {
        atomic_fetch_add(&p->inline_runs, 1);
        run_job(p, job, &p->queue_hist[p->nhist - 1]);
        home_complete(home, job);
        return;
    }
    uint64_t depth = atomic_fetch_add(&p->depth, 1) + 1;
    uint64_t max = atomic_load(&p->max_depth);
    while (depth > max && !atomic_compare_exchange_weak(&p->max_depth, &max, depth)) {
    }
    pthread_mutex_lock(&p->lock);
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* ---- deterministic mode ------------------------------------------------- */

ho_pool *ho_pool_new_held(void)
{
    ho_pool *p = ho_pool_new(0, 0);
    if (p != NULL)
        p->held = true;
    return p;
}

size_t ho_pool_held(const ho_pool *p)
{
    ho_pool *m = (ho_pool *)p;
    size_t n = 0;
    pthread_mutex_lock(&m->lock);
    for (const ho_job *j = m->head; j != NULL; j = j->next)
        n++;
    pthread_mutex_unlock(&m->lock);
    return n;
}

ho_job *ho_pool_held_job(const ho_pool *p, size_t index)
{
    ho_pool *m = (ho_pool *)p;
    pthread_mutex_lock(&m->lock);
    ho_job *j = m->head;
    while (j != NULL && index-- > 0)
        j = j->next;
    pthread_mutex_unlock(&m->lock);
    return j;
}

bool ho_pool_run_held(ho_pool *p, size_t index)
{
    pthread_mutex_lock(&p->lock);
    ho_job **pp = &p->head, *prev = NULL;
    while (*pp != NULL && index > 0) {
        prev = *pp;
        pp = &(*pp)->next;
        index--;
    }
    ho_job *job = *pp;
    if (job == NULL) {
        pthread_mutex_unlock(&p->lock);
        return false;
    }
    *pp = job->next;
    if (p->tail == job)
        p->tail = prev;
    pthread_mutex_unlock(&p->lock);
    atomic_fetch_sub(&p->depth, 1);
    job->ran_on_worker = true;
    run_job(p, job, &p->queue_hist[p->nhist - 1]);
    home_complete(job->home, job);
    return true;
}
