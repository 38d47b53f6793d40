/* The event loop: epoll with one callback per descriptor, and timer queues
 * of fixed duration (a FIFO list per duration is already in deadline order,
 * so arming and expiry are O(1) per timer, with no heap). */
#define _GNU_SOURCE
#include "base/mem.h"
#include "handoff/io.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

enum { LOOP_BATCH = 256, LOOP_INITIAL_SLOTS = 64 };

typedef struct loop_slot {
    ho_io_fn fn;
    void *ctx;
    bool used;
} loop_slot;

struct ho_loop {
    int epfd;
    loop_slot *slots; /* indexed by fd */
    size_t nslots;
    int batch;
};

int64_t ho_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ho_now_ms(void) { return ho_now_ns() / 1000000; }

ho_loop *ho_loop_new(void)
{
    ho_loop *l = ho_mem_calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->slots = ho_mem_calloc(LOOP_INITIAL_SLOTS, sizeof(*l->slots));
    if (l->epfd < 0 || l->slots == NULL) {
        ho_loop_free(l);
        return NULL;
    }
    l->nslots = LOOP_INITIAL_SLOTS;
    return l;
}

void ho_loop_free(ho_loop *l)
{
    if (l == NULL)
        return;
    if (l->epfd >= 0)
        close(l->epfd);
    ho_mem_free(l->slots);
    ho_mem_free(l);
}

static int slot_for(ho_loop *l, int fd, loop_slot **out)
{
    if (fd < 0)
        return HO_ERR_INVALID_ARG;
    if ((size_t)fd >= l->nslots) {
        size_t n = l->nslots;
        while (n <= (size_t)fd)
            n *= 2;
        loop_slot *s = ho_mem_realloc(l->slots, n * sizeof(*s));
        if (s == NULL)
            return HO_ERR_NOMEM;
        memset(s + l->nslots, 0, (n - l->nslots) * sizeof(*s));
        l->slots = s;
        l->nslots = n;
    }
    *out = &l->slots[fd];
    return HO_OK;
}

static int loop_ctl(ho_loop *l, int op, int fd, uint32_t events, ho_io_fn fn, void *ctx)
{
    loop_slot *slot;
    int err = slot_for(l, fd, &slot);
    if (err != HO_OK)
        return err;
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0)
        return HO_ERR_IO;
    slot->fn = fn;
    slot->ctx = ctx;
    slot->used = true;
    return HO_OK;
}

int ho_loop_add(ho_loop *l, int fd, uint32_t events, ho_io_fn fn, void *ctx)
{
    return loop_ctl(l, EPOLL_CTL_ADD, fd, events, fn, ctx);
}

int ho_loop_mod(ho_loop *l, int fd, uint32_t events, ho_io_fn fn, void *ctx)
{
    return loop_ctl(l, EPOLL_CTL_MOD, fd, events, fn, ctx);
}

int ho_loop_del(ho_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nslots || !l->slots[fd].used)
        return HO_ERR_INVALID_ARG;
    l->slots[fd].used = false;
    l->slots[fd].fn = NULL;
    return epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) == 0 ? HO_OK : HO_ERR_IO;
}

int ho_loop_run_once(ho_loop *l, int timeout_ms)
{
    struct epoll_event evs[LOOP_BATCH];
    int n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);
    if (n < 0) {
        l->batch = 0;
        return errno == EINTR ? 0 : HO_ERR_IO;
    }
    l->batch = n;
    for (int i = 0; i < n; i++) {
        int fd = evs[i].data.fd;
        /* A callback earlier in this batch may have removed (and the fd
         * number may even have been reused by) a descriptor: the slot is
         * looked up fresh, and a removed one is skipped. */
        if ((size_t)fd >= l->nslots || !l->slots[fd].used)
            continue;
        l->slots[fd].fn(l->slots[fd].ctx, evs[i].events);
    }
    return n;
}

int ho_loop_batch(const ho_loop *l) { return l->batch; }

/* ---- timer queues ---------------------------------------------------- */

void ho_timer_queue_init(ho_timer_queue *q, int64_t duration_ms)
{
    q->head.prev = q->head.next = &q->head;
    q->head.armed = false;
    q->duration_ms = duration_ms;
}

void ho_timer_cancel(ho_timer *t)
{
    if (!t->armed)
        return;
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
    t->armed = false;
}

void ho_timer_arm(ho_timer_queue *q, ho_timer *t, int64_t now_ms)
{
    ho_timer_cancel(t);
    t->deadline_ms = now_ms + q->duration_ms;
    t->prev = q->head.prev;
    t->next = &q->head;
    q->head.prev->next = t;
    q->head.prev = t;
    t->armed = true;
}

int64_t ho_timer_queue_expire(ho_timer_queue *q, int64_t now_ms)
{
    while (q->head.next != &q->head) {
        ho_timer *t = q->head.next;
        if (t->deadline_ms > now_ms)
            return t->deadline_ms - now_ms;
        ho_timer_cancel(t);
        t->fire(t); /* may free the object holding t, or re-arm it */
    }
    return -1;
}
