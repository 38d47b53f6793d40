/* The TLS-over-TCP server: N I/O threads, each with its own epoll loop, its
 * own SO_REUSEPORT listener per port, its own timers and connections, and a
 * completion queue through which the handshake pool hands steps back.
 * Connections never move between I/O threads (DESIGN.md "Threads"). */
#define _GNU_SOURCE
#include "base/mem.h"
#include "server_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

void ho_server_options_default(ho_server_options *o)
{
    memset(o, 0, sizeof(*o));
    o->io_threads = 0;
    o->handshake_workers = -1;
    o->offload = HO_OFFLOAD_ADAPTIVE;
    o->ktls = HO_KTLS_AUTO;
    o->handshake_timeout_ms = 10000;
    o->idle_timeout_ms = 60000;
    o->request_timeout_ms = 10000;
    o->shutdown_grace_ms = 5000;
    o->max_connections = 100000;
    o->worker_nice = 10;
    o->send_timeout_ms = 60000;
    o->out_high_water = OUT_HIGH_WATER;
}

static unsigned online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

ho_server *ho_server_new(const ho_server_options *o)
{
    ho_server *s = ho_mem_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    if (o != NULL)
        s->opt = *o;
    else
        ho_server_options_default(&s->opt);
    if (s->opt.send_timeout_ms <= 0)
        s->opt.send_timeout_ms = 60000;
    if (s->opt.out_high_water == 0)
        s->opt.out_high_water = OUT_HIGH_WATER;
    if (s->opt.io_threads == 0)
        s->opt.io_threads = online_cpus();
    if (s->opt.handshake_workers < 0)
        s->opt.handshake_workers = (int)online_cpus();
    s->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->stop_fd < 0) {
        ho_mem_free(s);
        return NULL;
    }
    s->nthreads = s->opt.io_threads;
    s->threads = ho_mem_calloc(s->nthreads, sizeof(*s->threads));
    if (s->threads == NULL) {
        close(s->stop_fd);
        ho_mem_free(s);
        return NULL;
    }
    for (unsigned i = 0; i < s->nthreads; i++) {
        s->threads[i].server = s;
        s->threads[i].index = i;
        for (size_t k = 0; k < SERVER_MAX_LISTEN; k++)
            s->threads[i].listeners[k].fd = -1;
    }
    return s;
}

int ho_sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (addr == NULL)
        addr = "0.0.0.0";
    if (inet_pton(AF_INET, addr, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        *len = sizeof(*v4);
    } else if (inet_pton(AF_INET6, addr, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        *len = sizeof(*v6);
    } else {
        return HO_ERR_INVALID_ARG;
    }
    return HO_OK;
}

/* A listening socket with SO_REUSEPORT, so each I/O thread has its own and
 * the kernel spreads connections over them. */
static int open_listener(const char *bind_addr, uint16_t port, uint16_t *bound_port)
{
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (ho_sockaddr_parse(bind_addr, port, &ss, &sslen) != HO_OK) {
        ho_log(HO_LOG_ERROR, "server: bad bind address '%s'", bind_addr);
        return HO_ERR_INVALID_ARG;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HO_ERR_IO;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6) {
        /* Dual-stack whatever net.ipv6.bindv6only says: "::" takes IPv4 too. */
        int off = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
    }
    if (bind(fd, (struct sockaddr *)&ss, sslen) != 0 || listen(fd, 4096) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return HO_ERR_IO;
    }
    if (bound_port != NULL) {
        struct sockaddr_storage got;
        socklen_t gl = sizeof(got);
        getsockname(fd, (struct sockaddr *)&got, &gl);
        *bound_port = ntohs(got.ss_family == AF_INET ? ((struct sockaddr_in *)&got)->sin_port
                                                     : ((struct sockaddr_in6 *)&got)->sin6_port);
    }
    return fd;
}

int ho_server_listen(ho_server *s, const ho_listen_spec *spec)
{
    if (s->started || s->nspecs == SERVER_MAX_LISTEN || spec->handler == NULL || spec->handler->on_data == NULL)
        return HO_ERR_INVALID_ARG;
    size_t i = s->nspecs;
    uint16_t port = spec->port;
    /* Bind the first thread's socket now: errors (port in use) show before
     * any thread starts, and port 0 gets its number. */
    int fd = open_listener(spec->bind, port, &port);
    if (fd < 0) {
        ho_log(HO_LOG_ERROR, "server: cannot listen on %s:%u: %s", spec->bind ? spec->bind : "0.0.0.0",
               (unsigned)spec->port, strerror(errno));
        return fd;
    }
    s->specs[i] = *spec;
    s->specs[i].port = port;
    s->ports[i] = port;
    s->threads[0].listeners[i].fd = fd;
    s->nspecs++;
    return HO_OK;
}

uint16_t ho_server_port(const ho_server *s, size_t i) { return i < s->nspecs ? s->ports[i] : 0; }

/* ---- the I/O thread -------------------------------------------------- */

static void on_listener(void *ctx, uint32_t events);

/* No descriptor for the pending connection: stop watching the listener for
 * ACCEPT_BACKOFF_MS (listeners_resume), so the loop serves established
 * connections instead of spinning on a readable listener. The connection
 * waits in the backlog until a descriptor frees up. */
static void accept_pause(listener *l, int err)
{
    io_thread *t = l->thread;
    STAT_ADD(t, accept_emfile, 1);
    if (!l->exhausted) {
        l->exhausted = true;
        ho_log(HO_LOG_WARN, "server: accept: %s; pausing accepts", strerror(err));
    }
    if (ho_loop_mod(t->loop, l->fd, 0, on_listener, l) == HO_OK) {
        l->paused = true;
        l->resume_ms = t->now_ms + ACCEPT_BACKOFF_MS;
    }
}

/* Watches paused listeners again once their back-off is over; returns the
 * wait until the next one is due (-1: none paused). */
static int64_t listeners_resume(io_thread *t)
{
    int64_t wait = -1;
    for (size_t i = 0; i < t->nlisteners; i++) {
        listener *l = &t->listeners[i];
        if (!l->paused || l->fd < 0)
            continue;
        if (t->now_ms >= l->resume_ms) {
            if (ho_loop_mod(t->loop, l->fd, EPOLLIN, on_listener, l) == HO_OK)
                l->paused = false;
            else
                l->resume_ms = t->now_ms + ACCEPT_BACKOFF_MS;
        }
        if (l->paused && (wait < 0 || l->resume_ms - t->now_ms < wait))
            wait = l->resume_ms - t->now_ms;
    }
    return wait;
}

static void on_listener(void *ctx, uint32_t events)
{
    listener *l = ctx;
    io_thread *t = l->thread;
    (void)events;
    t->now_ms = ho_now_ms(); /* after a long epoll_wait, arm from now */
    /* Bounded per wake-up, so a flood of connections cannot hold the loop
     * away from established ones. */
    for (int i = 0; i < 64 && !t->stopping; i++) {
        int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                accept_pause(l, errno);
            else if (errno != EAGAIN)
                ho_log(HO_LOG_WARN, "server: accept: %s", strerror(errno));
            return;
        }
        l->exhausted = false;
        if (t->nconns >= t->server->opt.max_connections) {
            close(fd);
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        io_conn_accept(t, l->spec, fd);
    }
}

static void on_home(void *ctx, uint32_t events)
{
    io_thread *t = ctx;
    (void)events;
    t->now_ms = ho_now_ms();
    ho_home_drain(t->home);
}

static void close_listeners(io_thread *t)
{
    for (size_t i = 0; i < t->nlisteners; i++) {
        if (t->listeners[i].fd >= 0) {
            ho_loop_del(t->loop, t->listeners[i].fd);
            close(t->listeners[i].fd);
            t->listeners[i].fd = -1;
        }
    }
}

static void begin_stop(io_thread *t)
{
    if (t->stopping)
        return;
    t->stopping = true;
    t->stop_deadline_ms = t->now_ms + t->server->opt.shutdown_grace_ms;
    close_listeners(t);
    ho_loop_del(t->loop, t->server->stop_fd);
    io_quic_thread_begin_stop(t);
    for (ho_conn *c = t->conns, *next; c != NULL; c = next) {
        next = c->next;
        io_conn_begin_shutdown(c);
    }
}

static void on_stop(void *ctx, uint32_t events)
{
    io_thread *t = ctx;
    (void)events;
    t->now_ms = ho_now_ms();
    begin_stop(t); /* the eventfd stays readable: every thread sees it */
}

static int64_t min_wait(int64_t a, int64_t b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

void (*io_test_thread_hook)(unsigned index);

static void *io_thread_main(void *arg)
{
    io_thread *t = arg;
    char name[16];
    snprintf(name, sizeof(name), "ho-io-%u", t->index);
    pthread_setname_np(pthread_self(), name);
    if (io_test_thread_hook != NULL)
        io_test_thread_hook(t->index);
    for (;;) {
        t->now_ms = ho_now_ms();
        int64_t wait = -1;
        wait = min_wait(wait, ho_timer_queue_expire(&t->handshake_q, t->now_ms));
        wait = min_wait(wait, ho_timer_queue_expire(&t->idle_q, t->now_ms));
        wait = min_wait(wait, ho_timer_queue_expire(&t->request_q, t->now_ms));
        wait = min_wait(wait, ho_timer_queue_expire(&t->drain_q, t->now_ms));
        wait = min_wait(wait, ho_timer_queue_expire(&t->send_q, t->now_ms));
        wait = min_wait(wait, io_conn_trim_heap(t));
        wait = min_wait(wait, listeners_resume(t));
        /* QUIC: timers, the application's output, sends. */
        wait = min_wait(wait, io_quic_thread_tick(t));
        if (t->stopping) {
            /* A connection closed while the application held its
             * handshake (async_zombies) ends when the application
             * completes: the completion must not find the thread gone. */
            if (t->nconns == 0 && t->async_zombies == 0 && ho_home_outstanding(t->home) == 0 &&
                io_quic_thread_done(t))
                break;
            if (t->now_ms >= t->stop_deadline_ms) {
                /* Grace period over: whatever is left goes now (a
                 * connection whose step is on a worker closes when the
                 * step comes back). */
                for (ho_conn *c = t->conns, *next; c != NULL; c = next) {
                    next = c->next;
                    if (c->state == CONN_OFFLOADED)
                        c->close_when_done = true;
                    else
                        io_conn_close_now(c);
                }
                wait = 10;
            } else {
                wait = min_wait(wait, t->stop_deadline_ms - t->now_ms);
            }
        }
        if (ho_loop_run_once(t->loop, (int)(wait > 1000 ? 1000 : wait)) < 0)
            break;
    }
    return NULL;
}

static int thread_setup(ho_server *s, io_thread *t)
{
    t->loop = ho_loop_new();
    t->home = ho_home_new();
    t->rbuf = ho_mem_alloc(READ_CHUNK);
    if (t->loop == NULL || t->home == NULL || t->rbuf == NULL)
        return HO_ERR_NOMEM;
    ho_timer_queue_init(&t->handshake_q, s->opt.handshake_timeout_ms);
    ho_timer_queue_init(&t->idle_q, s->opt.idle_timeout_ms);
    ho_timer_queue_init(&t->request_q, s->opt.request_timeout_ms);
    ho_timer_queue_init(&t->drain_q, DRAIN_TIMEOUT_MS);
    ho_timer_queue_init(&t->send_q, s->opt.send_timeout_ms);
    t->nlisteners = s->nspecs;
    for (size_t i = 0; i < s->nspecs; i++) {
        listener *l = &t->listeners[i];
        l->spec = &s->specs[i];
        l->thread = t;
        if (l->fd < 0) {
            l->fd = open_listener(s->specs[i].bind, s->ports[i], NULL);
            if (l->fd < 0)
                return l->fd;
        }
        int err = ho_loop_add(t->loop, l->fd, EPOLLIN, on_listener, l);
        if (err != HO_OK)
            return err;
    }
    int err = ho_loop_add(t->loop, ho_home_fd(t->home), EPOLLIN, on_home, t);
    if (err == HO_OK)
        err = ho_loop_add(t->loop, s->stop_fd, EPOLLIN, on_stop, t);
    if (err == HO_OK)
        err = io_quic_thread_setup(s, t);
    return err;
}

int ho_server_start(ho_server *s)
{
    if (s->started || (s->nspecs == 0 && !s->has_quic))
        return HO_ERR_INVALID_ARG;
    if (s->opt.ktls == HO_KTLS_ON && !ho_ktls_supported()) {
        ho_log(HO_LOG_ERROR, "server: --ktls on, but this kernel has no kTLS (TCP_ULP \"tls\")");
        return HO_ERR_NOT_FOUND;
    }
    unsigned workers = s->opt.offload == HO_OFFLOAD_OFF ? 0 : (unsigned)s->opt.handshake_workers;
    s->pool = ho_pool_new(workers, s->opt.worker_nice);
    if (s->pool == NULL)
        return HO_ERR_NOMEM;
    for (unsigned i = 0; i < s->nthreads; i++) {
        int err = thread_setup(s, &s->threads[i]);
        if (err != HO_OK)
            return err;
    }
    int qerr = io_quic_attach_steering(s);
    if (qerr != HO_OK)
        return qerr;
    s->started = true;
    for (unsigned i = 0; i < s->nthreads; i++) {
        if (pthread_create(&s->threads[i].thread, NULL, io_thread_main, &s->threads[i]) != 0) {
            s->nthreads = i; /* only those are joined */
            ho_server_request_stop(s);
            return HO_ERR_NOMEM;
        }
    }
    return HO_OK;
}

void ho_server_request_stop(ho_server *s)
{
    uint64_t one = 1;
    ssize_t n = write(s->stop_fd, &one, sizeof(one));
    (void)n;
}

void ho_server_wait(ho_server *s)
{
    if (!s->started)
        return;
    for (unsigned i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i].thread, NULL);
    s->started = false;
}

void ho_server_stop(ho_server *s)
{
    ho_server_request_stop(s);
    ho_server_wait(s);
}

void ho_server_free(ho_server *s)
{
    if (s == NULL)
        return;
    if (s->started)
        ho_server_stop(s);
    /* Workers finish what is queued; the homes are freed after, so no
     * completion lands in freed memory. */
    ho_pool_free(s->pool);
    for (unsigned i = 0; i < s->opt.io_threads; i++) {
        io_thread *t = &s->threads[i];
        if (t->home != NULL)
            ho_home_drain(t->home); /* completions of connections closing */
        while (t->conns != NULL)
            io_conn_close_now(t->conns);
        for (size_t k = 0; k < SERVER_MAX_LISTEN; k++)
            if (t->listeners[k].fd >= 0)
                close(t->listeners[k].fd);
        io_quic_thread_free(t->quic);
        ho_loop_free(t->loop);
        ho_home_free(t->home);
        ho_mem_free(t->rbuf);
    }
    io_quic_thread_free(s->quic0); /* listened, never started */
    ho_mem_free(s->threads);
    close(s->stop_fd);
    ho_wipe(s->qsecret, sizeof(s->qsecret)); /* the QUIC token and reset keys' secret */
    ho_mem_free(s);
}

static void add_thread_stats(const thread_stats *ts, ho_server_stats *out)
{
#define SUM(f) out->f += atomic_load_explicit(&((thread_stats *)ts)->f, memory_order_relaxed)
    SUM(accepted);
    SUM(closed);
    SUM(active);
    SUM(handshakes_done);
    SUM(handshakes_pq);
    SUM(client_certs_verified);
    SUM(client_certs_refused);
    SUM(early_accepted);
    SUM(early_rejected);
    SUM(early_replayed);
    SUM(handshakes_failed);
    SUM(handshake_timeouts);
    SUM(handshakes_offloaded);
    SUM(handshakes_inline);
    SUM(worker_steps);
    SUM(served_during_offload);
    SUM(requests);
    SUM(async_started);
    SUM(async_completed);
    SUM(served_during_async);
    SUM(idle_timeouts);
    SUM(request_timeouts);
    SUM(ktls_engaged);
    SUM(ktls_fallback);
    SUM(send_timeouts);
    SUM(trims);
    SUM(accept_emfile);
#undef SUM
    hist_load_into(&ts->hs_inline, &out->handshake_inline);
    hist_load_into(&ts->hs_offloaded, &out->handshake_offloaded);
}

void ho_server_get_stats(const ho_server *s, ho_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned i = 0; i < s->opt.io_threads; i++)
        add_thread_stats(&s->threads[i].stats, out);
    if (s->pool != NULL)
        ho_pool_get_stats(s->pool, &out->pool);
}

int ho_server_get_thread_stats(const ho_server *s, unsigned thread, ho_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (thread >= s->opt.io_threads)
        return HO_ERR_NOT_FOUND;
    add_thread_stats(&s->threads[thread].stats, out);
    return HO_OK;
}

unsigned ho_server_threads(const ho_server *s) { return s->opt.io_threads; }

static void put_str(ho_buf *b, const char *s) { ho_put_bytes(b, s, strlen(s)); }

void ho_server_stats_json(const ho_server_stats *st, ho_buf *out)
{
    char tmp[128];
#define FIELD(name, value, sep)                                                                                   \
    do {                                                                                                          \
        snprintf(tmp, sizeof(tmp), "\"%s\":%llu%s", name, (unsigned long long)(value), sep);                      \
        put_str(out, tmp);                                                                                        \
    } while (0)
    put_str(out, "{");
    FIELD("accepted", st->accepted, ",");
    FIELD("closed", st->closed, ",");
    FIELD("active", st->active, ",");
    FIELD("handshakes_done", st->handshakes_done, ",");
    FIELD("handshakes_pq", st->handshakes_pq, ",");
    FIELD("client_certs_verified", st->client_certs_verified, ",");
    FIELD("client_certs_refused", st->client_certs_refused, ",");
    FIELD("early_accepted", st->early_accepted, ",");
    FIELD("early_rejected", st->early_rejected, ",");
    FIELD("early_replayed", st->early_replayed, ",");
    FIELD("handshakes_failed", st->handshakes_failed, ",");
    FIELD("handshake_timeouts", st->handshake_timeouts, ",");
    FIELD("handshakes_offloaded", st->handshakes_offloaded, ",");
    FIELD("handshakes_inline", st->handshakes_inline, ",");
    FIELD("worker_steps", st->worker_steps, ",");
    FIELD("served_during_offload", st->served_during_offload, ",");
    FIELD("requests", st->requests, ",");
    FIELD("async_started", st->async_started, ",");
    FIELD("async_completed", st->async_completed, ",");
    FIELD("served_during_async", st->served_during_async, ",");
    FIELD("idle_timeouts", st->idle_timeouts, ",");
    FIELD("request_timeouts", st->request_timeouts, ",");
    FIELD("ktls_engaged", st->ktls_engaged, ",");
    FIELD("ktls_fallback", st->ktls_fallback, ",");
    FIELD("send_timeouts", st->send_timeouts, ",");
    FIELD("trims", st->trims, ",");
    FIELD("accept_emfile", st->accept_emfile, ",");
    FIELD("pool_jobs", st->pool.submitted, ",");
    FIELD("pool_completed", st->pool.completed, ",");
    FIELD("pool_inline", st->pool.inline_runs, ",");
    FIELD("pool_depth", st->pool.depth, ",");
    FIELD("pool_max_depth", st->pool.max_depth, ",");
    FIELD("pool_queued_us", st->pool.queued_ns / 1000, ",");
    FIELD("pool_run_us", st->pool.run_ns / 1000, "");
    put_str(out, "}");
#undef FIELD
}
