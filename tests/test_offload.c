/* The handshake worker pool and the event loop's timer queues: jobs run on
 * workers at a lower priority, complete on their home thread through the
 * eventfd, stats add up; with no workers jobs run inline; timers fire in
 * deadline order and can be re-armed and cancelled. */
#define _GNU_SOURCE
#include "harness.h"

#include "handoff/io.h"
#include "handoff/offload.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

typedef struct test_job {
    ho_job job;
    pid_t run_tid, done_tid;
    int run_nice;
    int value;
    int *done_counter;
} test_job;

static pid_t tid(void) { return (pid_t)syscall(SYS_gettid); }

static void run_square(ho_job *j)
{
    test_job *t = (test_job *)j;
    t->run_tid = tid();
    errno = 0;
    t->run_nice = getpriority(PRIO_PROCESS, (id_t)t->run_tid);
    t->value = t->value * t->value;
}

static void done_count(ho_job *j)
{
    test_job *t = (test_job *)j;
    t->done_tid = tid();
    (*t->done_counter)++;
}

/* Waits on the home's eventfd and drains until `want` jobs are done. */
static void drain_until(ho_home *h, int *counter, int want)
{
    for (int spins = 0; *counter < want && spins < 10000; spins++) {
        struct pollfd p = {.fd = ho_home_fd(h), .events = POLLIN};
        poll(&p, 1, 100);
        ho_home_drain(h);
    }
}

static void test_pool_workers(void)
{
    enum { N = 1000 };
    ho_pool *pool = ho_pool_new(2, 5);
    ho_home *home = ho_home_new();
    CHECK(pool != NULL && home != NULL);
    CHECK_EQ(ho_pool_workers(pool), 2);
    static test_job jobs[N];
    int done = 0;
    pid_t me = tid();
    int my_nice = getpriority(PRIO_PROCESS, (id_t)me);
    for (int i = 0; i < N; i++) {
        jobs[i] = (test_job){.value = i, .done_counter = &done};
        jobs[i].job.run = run_square;
        jobs[i].job.done = done_count;
        ho_pool_submit(pool, home, &jobs[i].job);
    }
    drain_until(home, &done, N);
    CHECK_EQ(done, N);
    CHECK_EQ(ho_home_outstanding(home), 0);
    int wrong = 0, on_home = 0, on_worker = 0, niced = 0;
    for (int i = 0; i < N; i++) {
        wrong += jobs[i].value != i * i;
        on_home += jobs[i].done_tid == me;
        on_worker += jobs[i].job.ran_on_worker && jobs[i].run_tid != me;
        niced += jobs[i].run_nice == my_nice + 5 || jobs[i].run_nice == 19;
        if (jobs[i].job.t_end_ns < jobs[i].job.t_start_ns || jobs[i].job.t_start_ns < jobs[i].job.t_submit_ns)
            wrong++;
    }
    CHECK_EQ(wrong, 0);
    CHECK_EQ(on_home, N);    /* done steps ran on the home thread */
    CHECK_EQ(on_worker, N);  /* run steps ran on workers */
    CHECK_EQ(niced, N);      /* at the lower priority */
    ho_pool_stats st;
    ho_pool_get_stats(pool, &st);
    CHECK_EQ(st.submitted, N);
    CHECK_EQ(st.completed, N);
    CHECK_EQ(st.inline_runs, 0);
    CHECK_EQ(st.depth, 0);
    CHECK(st.max_depth >= 1 && st.max_depth <= N);
    CHECK(st.run_ns > 0);
    ho_pool_free(pool);
    ho_home_free(home);
}

static void test_pool_inline(void)
{
    ho_pool *pool = ho_pool_new(0, 10);
    ho_home *home = ho_home_new();
    test_job j = {.value = 7};
    int done = 0;
    j.done_counter = &done;
    j.job.run = run_square;
    j.job.done = done_count;
    ho_pool_submit(pool, home, &j.job);
    CHECK_EQ(j.value, 49);         /* ran inside submit */
    CHECK_EQ(j.run_tid, tid());
    CHECK(!j.job.ran_on_worker);
    CHECK_EQ(done, 0);             /* done waits for the drain */
    CHECK_EQ(ho_home_outstanding(home), 1);
    struct pollfd p = {.fd = ho_home_fd(home), .events = POLLIN};
    CHECK_EQ(poll(&p, 1, 0), 1);   /* and the eventfd says so */
    CHECK_EQ(ho_home_drain(home), 1);
    CHECK_EQ(done, 1);
    ho_pool_stats st;
    ho_pool_get_stats(pool, &st);
    CHECK_EQ(st.inline_runs, 1);
    ho_pool_free(pool);
    ho_home_free(home);
}

/* Two homes on two threads: every completion reaches its own home. */
/* Held (deterministic) mode: nothing runs until the caller picks a job,
 * in any order; the done step waits for the home's drain; freeing the
 * pool runs what is still held. */
static void test_pool_held(void)
{
    ho_pool *pool = ho_pool_new_held();
    ho_home *home = ho_home_new();
    CHECK(pool != NULL && home != NULL);
    CHECK_EQ(ho_pool_workers(pool), 0);
    int done = 0;
    test_job jobs[3];
    for (int i = 0; i < 3; i++) {
        jobs[i] = (test_job){.job = {.run = run_square, .done = done_count}, .value = i + 2, .done_counter = &done};
        ho_pool_submit(pool, home, &jobs[i].job);
    }
    CHECK_EQ(ho_pool_held(pool), 3);
    CHECK_EQ(jobs[0].value, 2); /* not run */
    ho_pool_stats st;
    ho_pool_get_stats(pool, &st);
    CHECK_EQ(st.depth, 3);
    CHECK_EQ(st.inline_runs, 0);
    CHECK(ho_pool_held_job(pool, 1) == &jobs[1].job);
    CHECK(ho_pool_held_job(pool, 3) == NULL);
    CHECK(ho_pool_run_held(pool, 1)); /* the middle one first */
    CHECK(!ho_pool_run_held(pool, 2));
    CHECK_EQ(jobs[1].value, 9);
    CHECK(jobs[1].job.ran_on_worker);
    CHECK_EQ(done, 0); /* done waits for the home */
    CHECK_EQ(ho_home_outstanding(home), 3);
    CHECK_EQ(ho_home_drain(home), 1);
    CHECK_EQ(done, 1);
    CHECK_EQ(ho_pool_held(pool), 2);
    CHECK(ho_pool_held_job(pool, 0) == &jobs[0].job);
    ho_pool_free(pool); /* runs the two still held */
    CHECK_EQ(jobs[0].value, 4);
    CHECK_EQ(jobs[2].value, 16);
    CHECK_EQ(ho_home_drain(home), 2);
    CHECK_EQ(done, 3);
    CHECK_EQ(ho_home_outstanding(home), 0);
    ho_home_free(home);
}

typedef struct home_thread {
    ho_pool *pool;
    ho_home *home;
    test_job jobs[200];
    int done;
    int misrouted;
} home_thread;

static void *home_main(void *arg)
{
    home_thread *h = arg;
    pid_t me = tid();
    for (int i = 0; i < 200; i++) {
        h->jobs[i] = (test_job){.value = i, .done_counter = &h->done};
        h->jobs[i].job.run = run_square;
        h->jobs[i].job.done = done_count;
        ho_pool_submit(h->pool, h->home, &h->jobs[i].job);
    }
    drain_until(h->home, &h->done, 200);
    for (int i = 0; i < 200; i++)
        h->misrouted += h->jobs[i].done_tid != me;
    return NULL;
}

static void test_pool_two_homes(void)
{
    ho_pool *pool = ho_pool_new(3, 0);
    static home_thread hs[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        hs[i] = (home_thread){.pool = pool, .home = ho_home_new()};
        pthread_create(&th[i], NULL, home_main, &hs[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(hs[i].done, 200);
        CHECK_EQ(hs[i].misrouted, 0);
        ho_home_free(hs[i].home);
    }
    ho_pool_free(pool);
}

/* ---- timers ---------------------------------------------------------- */

static int fired[8], nfired;

typedef struct tagged_timer {
    ho_timer t;
    int tag;
} tagged_timer;

static void on_fire(ho_timer *t) { fired[nfired++] = ((tagged_timer *)t)->tag; }

static void test_timers(void)
{
    ho_timer_queue q;
    ho_timer_queue_init(&q, 100);
    tagged_timer a = {.t.fire = on_fire, .tag = 1}, b = {.t.fire = on_fire, .tag = 2},
                 c = {.t.fire = on_fire, .tag = 3};
    CHECK_EQ(ho_timer_queue_expire(&q, 0), -1); /* empty */
    ho_timer_arm(&q, &a.t, 0);   /* deadline 100 */
    ho_timer_arm(&q, &b.t, 10);  /* 110 */
    ho_timer_arm(&q, &c.t, 20);  /* 120 */
    CHECK_EQ(ho_timer_queue_expire(&q, 50), 50);
    ho_timer_arm(&q, &a.t, 60);  /* re-armed: 160, now last */
    ho_timer_cancel(&b.t);
    CHECK(!b.t.armed);
    ho_timer_cancel(&b.t);       /* twice is harmless */
    CHECK_EQ(ho_timer_queue_expire(&q, 119), 1);
    CHECK_EQ(nfired, 0);
    CHECK_EQ(ho_timer_queue_expire(&q, 130), 30);
    CHECK_EQ(nfired, 1);
    CHECK_EQ(fired[0], 3);
    CHECK_EQ(ho_timer_queue_expire(&q, 1000), -1);
    CHECK_EQ(nfired, 2);
    CHECK_EQ(fired[1], 1);
    CHECK(!a.t.armed && !c.t.armed);
}

/* ---- the loop -------------------------------------------------------- */

static int loop_hits;
static void on_ready(void *ctx, uint32_t events)
{
    (void)events;
    int fd = *(int *)ctx;
    uint64_t v;
    if (read(fd, &v, sizeof(v)) == sizeof(v))
        loop_hits++;
}

static void test_loop(void)
{
    ho_loop *l = ho_loop_new();
    CHECK(l != NULL);
    int p[2];
    CHECK_EQ(pipe(p), 0);
    /* a pipe carries 8 bytes per "event" here */
    CHECK_EQ(ho_loop_add(l, p[0], 1 /* EPOLLIN */, on_ready, &p[0]), HO_OK);
    CHECK_EQ(ho_loop_run_once(l, 0), 0); /* nothing ready */
    uint64_t one = 1;
    CHECK_EQ(write(p[1], &one, sizeof(one)), (long)sizeof(one));
    CHECK_EQ(ho_loop_run_once(l, 1000), 1);
    CHECK_EQ(loop_hits, 1);
    CHECK_EQ(ho_loop_batch(l), 1);
    CHECK_EQ(ho_loop_del(l, p[0]), HO_OK);
    CHECK_EQ(ho_loop_del(l, p[0]), HO_ERR_INVALID_ARG);
    CHECK_EQ(write(p[1], &one, sizeof(one)), (long)sizeof(one));
    CHECK_EQ(ho_loop_run_once(l, 0), 0); /* removed: not dispatched */
    close(p[0]);
    close(p[1]);
    ho_loop_free(l);
}

int main(void)
{
    RUN(test_pool_workers);
    RUN(test_pool_inline);
    RUN(test_pool_held);
    RUN(test_pool_two_homes);
    RUN(test_timers);
    RUN(test_loop);
    return ho_test_summary("test_offload");
}
