/* One TCP connection on an I/O thread: reading, the TLS handshake (inline or
 * on the pool), handing records to the kernel (kTLS), the application's
 * plaintext callbacks, buffered writes, timeouts and graceful close.
 *
 * States: HANDSHAKE ⇄ OFFLOADED → OPEN → CLOSING → DRAINING → freed.
 * While OFFLOADED the worker owns c->tls; the I/O thread does not read the
 * socket (the kernel buffers what arrives, so nothing is lost) and touches
 * nothing of the TLS state until the completion comes back. A handshake
 * waiting for an asynchronous callback of the application (async_wait)
 * holds no worker and is not read either; the application's completion,
 * from any thread, is posted to this thread's home (async_done). */
#define _GNU_SOURCE
#include "base/mem.h"
#include "server_int.h"
#include "io/send_fault.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void conn_io(void *ctx, uint32_t events);
static bool conn_after_input(ho_conn *c, int err);
static size_t pending_out(const ho_conn *c);
static bool stop_open(ho_conn *c);
static void async_wake(void *ctx, ho_tls *tls);
static void async_done(ho_job *job);
static void handshake_input(ho_conn *c, const uint8_t *data, size_t len);

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void emit(ho_conn *c, ho_event_type type, ho_log_level level, int64_t a, const char *detail)
{
    ho_event ev = {.type = type, .level = level, .conn = c->id, .role = "server", .a = a, .detail = detail};
    ho_event_emit(&ev);
}

static ho_conn *timer_conn(ho_timer *t) { return (ho_conn *)((char *)t - offsetof(ho_conn, timer)); }

static void set_events(ho_conn *c, uint32_t events)
{
    if (c->events == events)
        return;
    if (ho_loop_mod(c->t->loop, c->fd, events, conn_io, c) == HO_OK)
        c->events = events;
}

/* ---- timers ---------------------------------------------------------- */

static void timer_fired(ho_timer *tm)
{
    ho_conn *c = timer_conn(tm);
    io_thread *t = c->t;
    const char *which;
    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_OFFLOADED:
        which = "handshake";
        STAT_ADD(t, handshake_timeouts, 1);
        break;
    case CONN_OPEN:
    case CONN_CLOSING:
        if (c->send_clock) {
            /* Output pending and nothing sent for send_timeout_ms: a
             * reader that stopped reading is not kept. */
            emit(c, HO_EV_TIMEOUT, HO_LOG_DEBUG, 0, "send");
            CSTAT_ADD(c, send_timeouts, 1);
            io_conn_close_now(c);
            return;
        }
        if (c->state == CONN_CLOSING) {
            which = "drain";
            break;
        }
        which = c->request_pending ? "request" : "idle";
        if (c->request_pending)
            CSTAT_ADD(c, request_timeouts, 1);
        else
            CSTAT_ADD(c, idle_timeouts, 1);
        break;
    default:
        which = "drain";
        break;
    }
    emit(c, HO_EV_TIMEOUT, HO_LOG_DEBUG, 0, which);
    if (c->state == CONN_OFFLOADED) {
        c->close_when_done = true;
        return;
    }
    if (c->state == CONN_OPEN && !c->request_pending) {
        io_conn_begin_shutdown(c); /* idle keep-alive: close_notify, then close */
        return;
    }
    io_conn_close_now(c);
}

static void arm_for_state(ho_conn *c)
{
    io_thread *t = c->t;
    switch (c->state) {
    case CONN_HANDSHAKE:
    case CONN_OFFLOADED:
        if (!c->timer.armed)
            ho_timer_arm(&t->handshake_q, &c->timer, t->now_ms);
        break;
    case CONN_OPEN:
    case CONN_CLOSING:
        /* While output is pending the send clock runs: it restarts on
         * every byte sent (send_timeout_ms without progress closes). */
        c->send_clock = pending_out(c) > 0;
        c->sent_progress = false;
        if (c->send_clock)
            ho_timer_arm(&t->send_q, &c->timer, t->now_ms);
        else if (c->state == CONN_OPEN)
            ho_timer_arm(c->request_pending ? &t->request_q : &t->idle_q, &c->timer, t->now_ms);
        else
            ho_timer_arm(&t->drain_q, &c->timer, t->now_ms);
        break;
    default:
        c->send_clock = false;
        ho_timer_arm(&t->drain_q, &c->timer, t->now_ms);
        break;
    }
}

/* ---- accept / close -------------------------------------------------- */

void io_conn_accept(io_thread *t, const ho_listen_spec *spec, int fd)
{
    ho_conn *c = ho_mem_calloc(1, sizeof(*c));
    if (c == NULL) {
        close(fd);
        return;
    }
    c->t = t;
    c->spec = spec;
    c->fd = fd;
    c->id = atomic_fetch_add(&t->server->next_id, 1) + 1;
    c->stats = spec->no_stats ? &t->unlisted : &t->stats;
    c->timer.fire = timer_fired;
    ho_buf_init(&c->in_plain);
    ho_buf_init(&c->out_plain);
    ho_buf_init(&c->job_in);
    if (spec->tls != NULL) {
        c->tls = ho_tls_conn_new(spec->tls, NULL);
        if (c->tls == NULL) {
            close(fd);
            ho_mem_free(c);
            return;
        }
        ho_tls *tls = ho_tls_conn_tls(c->tls);
        ho_tls_set_conn_id(tls, c->id);
        c->async_job.done = async_done;
        ho_tls_set_async_wake(tls, async_wake, c);
        ho_tls_set_now(tls, wall_ms());
        c->state = CONN_HANDSHAKE;
    } else {
        c->state = CONN_OPEN;
        c->ktls_decided = true;
    }
    if (ho_loop_add(t->loop, fd, EPOLLIN, conn_io, c) != HO_OK) {
        ho_tls_conn_free(c->tls);
        close(fd);
        ho_mem_free(c);
        return;
    }
    c->events = EPOLLIN;
    c->next = t->conns;
    if (t->conns != NULL)
        t->conns->prev = c;
    t->conns = c;
    t->nconns++;
    CSTAT_ADD(c, accepted, 1);
    CSTAT_ADD(c, active, 1);
    emit(c, HO_EV_CONN_OPEN, HO_LOG_DEBUG, spec->port, spec->tls ? "tls" : "tcp");
    arm_for_state(c);
    if (t->stopping)
        io_conn_begin_shutdown(c);
}

void io_conn_close_now(ho_conn *c)
{
    io_thread *t = c->t;
    if (c->state == CONN_OFFLOADED) {
        /* The worker owns the TLS state: finish when it hands it back. */
        c->close_when_done = true;
        return;
    }
    if (c->spec->handler->on_close != NULL)
        c->spec->handler->on_close(c->spec->ctx, c);
    ho_timer_cancel(&c->timer);
    ho_loop_del(t->loop, c->fd);
    close(c->fd);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    t->nconns--;
    CSTAT_ADD(c, closed, 1);
    CSTAT_SUB(c, active, 1);
    emit(c, HO_EV_CONN_CLOSE, HO_LOG_DEBUG, 0, NULL);
    if (c->async_wait) {
        c->async_wait = false;
        t->async_waiting--;
    }
    /* The application still holds the handshake (a callback is out, its
     * wake-up not yet here): the memory stays until async_done. */
    if (c->tls != NULL && !c->async_woken && ho_tls_async_pending(ho_tls_conn_tls(c->tls))) {
        c->zombie = true;
        t->async_zombies++;
        return;
    }
    ho_tls_conn_free(c->tls);
    ho_buf_free(&c->in_plain);
    ho_buf_free(&c->out_plain);
    ho_buf_free(&c->job_in);
    ho_mem_free(c);
}

/* ---- writing --------------------------------------------------------- */

static ho_buf *conn_in(ho_conn *c) { return c->tls != NULL ? ho_tls_conn_app_in(c->tls) : &c->in_plain; }

/* Everything queued and not yet handed to the kernel. */
static size_t pending_out(const ho_conn *c)
{
    size_t n = c->out_plain.len + c->ref_len;
    if (c->tls != NULL)
        n += ho_tls_conn_out(c->tls)->len;
    return n;
}

/* Sends from b as far as the socket takes; what went is consumed once, at
 * the end (a partial send moves the rest once, not once per send). */
static int write_buf(ho_conn *c, ho_buf *b)
{
    size_t off = 0;
    int err = HO_OK;
    while (off < b->len) {
        ssize_t n = io_tcp_send(c->fd, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            err = errno == EAGAIN ? HO_ERR_WOULD_BLOCK : HO_ERR_IO;
            break;
        }
        off += (size_t)n;
        c->sent_progress = true;
    }
    ho_buf_consume(b, off);
    return err;
}

/* Plaintext port or kTLS: the referenced body goes from where it lies
 * straight to the socket (the kernel seals it under kTLS). */
static int write_ref_direct(ho_conn *c)
{
    while (c->ref_len > 0) {
        ssize_t n = io_tcp_send(c->fd, c->ref, c->ref_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN ? HO_ERR_WOULD_BLOCK : HO_ERR_IO;
        }
        c->ref += n;
        c->ref_len -= (size_t)n;
        c->sent_progress = true;
    }
    c->ref = NULL;
    return HO_OK;
}

/* Userspace TLS: the sealed records go out; the referenced body is sealed
 * one REF_CHUNK at a time, each once the previous one has gone, so the
 * output never holds more than a chunk of it. */
static int write_tls(ho_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c->tls);
    for (;;) {
        int err = write_buf(c, out);
        if (err != HO_OK || c->ref_len == 0)
            return err;
        size_t n = c->ref_len < REF_CHUNK ? c->ref_len : REF_CHUNK;
        err = ho_tls_conn_write(c->tls, c->ref, n);
        if (err != HO_OK)
            return err;
        c->ref += n;
        c->ref_len -= n;
        if (c->ref_len == 0)
            c->ref = NULL;
    }
}

/* Whether the connection may be read: not while a worker owns the TLS
 * state, nor while closing (level-triggered EPOLLIN would spin), nor after
 * the peer's EOF; and, for back-pressure, not while its output is above the
 * mark, nor while output is pending and input is left (pipelined requests
 * held back: the client gets its responses before more is read). */
static bool may_read(ho_conn *c)
{
    if (c->async_wait)
        return false;
    if (c->state == CONN_HANDSHAKE)
        return true;
    if (c->state != CONN_OPEN || c->peer_eof)
        return false;
    size_t pending = pending_out(c);
    if (pending > c->t->server->opt.out_high_water || c->ref_len > 0)
        return false;
    return pending == 0 || conn_in(c)->len == 0;
}

/* Sends what is queued. Returns HO_OK when everything went, WOULD_BLOCK
 * when the socket is full (EPOLLOUT is then registered), or an error. */
static int flush(ho_conn *c)
{
    int err = HO_OK;
    if (c->ktls) {
        /* Application bytes first, then control records (close_notify). */
        err = write_buf(c, &c->out_plain);
        if (err == HO_OK)
            err = write_ref_direct(c);
        if (err == HO_OK && ho_tls_conn_out(c->tls)->len > 0)
            err = ho_ktls_flush_control(c->fd, c->tls);
    } else if (c->tls != NULL) {
        err = write_tls(c);
    } else {
        err = write_buf(c, &c->out_plain);
        if (err == HO_OK)
            err = write_ref_direct(c);
    }
    /* The send clock: restarted by progress, stopped once all is out. */
    if ((c->state == CONN_OPEN || c->state == CONN_CLOSING) &&
        (c->sent_progress || c->send_clock != (pending_out(c) > 0)))
        arm_for_state(c);
    /* Waiting for the application, only the peer's leaving is watched. */
    uint32_t want = may_read(c) ? EPOLLIN : c->async_wait ? EPOLLRDHUP : 0;
    if (err == HO_ERR_WOULD_BLOCK)
        want |= EPOLLOUT;
    set_events(c, want);
    return err;
}

/* An open connection with nothing queued and nothing received holds no
 * buffers (nginx and h2o do the same with idle keep-alive connections). */
static void release_buffers(ho_conn *c)
{
    if (c->in_plain.len == 0)
        ho_buf_free(&c->in_plain);
    if (c->out_plain.len == 0)
        ho_buf_free(&c->out_plain);
    if (c->job_in.len == 0)
        ho_buf_free(&c->job_in);
    if (c->tls != NULL)
        ho_tls_conn_trim(c->tls);
}

/* Writes what is queued; once all of it is out, gives the handler the
 * input it left while output was pending (pipelined requests held back by
 * the mark), as long as it answers some. Returns flush's result. */
static int pump(ho_conn *c)
{
    for (;;) {
        int err = flush(c);
        if (err != HO_OK || c->state != CONN_OPEN || c->in_handler)
            return err;
        ho_buf *in = conn_in(c);
        if (in->len == 0 || !c->held) {
            if (in->len == 0)
                release_buffers(c);
            return err;
        }
        size_t before = in->len;
        c->held = false;
        c->in_handler = true;
        int herr = c->spec->handler->on_data(c->spec->ctx, c, in);
        c->in_handler = false;
        c->held = in->len > 0 && pending_out(c) > 0;
        if (herr != HO_OK)
            c->close_after_write = true;
        if (in->len == before && pending_out(c) == 0)
            return flush(c);
    }
}

int ho_conn_write(ho_conn *c, const void *data, size_t len)
{
    if (c->state >= CONN_CLOSING)
        return HO_ERR_CLOSED;
    if (c->ref_len > 0)
        return HO_ERR_INVALID_ARG; /* would overtake the referenced body */
    if (c->tls != NULL && !c->ktls)
        return ho_tls_conn_write(c->tls, data, len);
    ho_put_bytes(&c->out_plain, data, len);
    return c->out_plain.failed ? HO_ERR_NOMEM : HO_OK;
}

int ho_conn_write_ref(ho_conn *c, const void *data, size_t len)
{
    if (c->state >= CONN_CLOSING)
        return HO_ERR_CLOSED;
    if (c->ref_len > 0)
        return HO_ERR_INVALID_ARG;
    if (len == 0)
        return HO_OK;
    c->ref = data;
    c->ref_len = len;
    return HO_OK;
}

bool ho_conn_writable(const ho_conn *c)
{
    return c->ref_len == 0 && pending_out(c) < c->t->server->opt.out_high_water;
}

size_t ho_conn_pending(const ho_conn *c) { return pending_out(c); }

void ho_conn_close_after_write(ho_conn *c) { c->close_after_write = true; }

void ho_conn_set_request_pending(ho_conn *c, bool pending)
{
    if (c->request_pending == pending)
        return;
    c->request_pending = pending;
    if (c->state == CONN_OPEN)
        arm_for_state(c);
}

void ho_conn_request_done(ho_conn *c)
{
    io_thread *t = c->t;
    CSTAT_ADD(c, requests, 1);
    if (ho_home_outstanding(t->home) > 0)
        CSTAT_ADD(c, served_during_offload, 1);
    if (t->async_waiting > 0)
        CSTAT_ADD(c, served_during_async, 1);
    if (t->stopping)
        c->close_after_write = true; /* finish this response, then go */
}

bool ho_conn_closing(const ho_conn *c) { return c->close_after_write || c->t->stopping; }

uint64_t ho_conn_id(const ho_conn *c) { return c->id; }
ho_tls *ho_conn_tls(ho_conn *c) { return c->tls != NULL ? ho_tls_conn_tls(c->tls) : NULL; }
bool ho_conn_ktls(const ho_conn *c) { return c->ktls; }
void ho_conn_set_user(ho_conn *c, void *user) { c->user = user; }
void *ho_conn_get_user(const ho_conn *c) { return c->user; }

/* ---- closing --------------------------------------------------------- */

/* Everything queued is out: half-close and read until the peer closes, so
 * that unread input does not turn our close into a reset that could
 * destroy the last response in flight. */
static void start_draining(ho_conn *c)
{
    shutdown(c->fd, SHUT_WR);
    c->state = CONN_DRAINING;
    arm_for_state(c);
    set_events(c, EPOLLIN);
}

/* Nothing more will be queued: write what is, then half-close and drain
 * (or close at once on a write error). */
static bool finish_writing(ho_conn *c)
{
    c->state = CONN_CLOSING;
    arm_for_state(c);
    int err = flush(c);
    if (err == HO_OK)
        start_draining(c);
    else if (err != HO_ERR_WOULD_BLOCK) {
        io_conn_close_now(c);
        return false;
    }
    return true;
}

/* Queue close_notify (TLS) and close once the output is written. Returns
 * false when the connection is gone. */
static bool start_closing(ho_conn *c)
{
    if (c->state >= CONN_CLOSING)
        return true;
    if (c->ref_len > 0) {
        /* close_notify must follow the body: once it is out (after_flush). */
        c->close_after_write = true;
        return true;
    }
    if (c->tls != NULL && ho_tls_conn_handshake_done(c->tls))
        (void)ho_tls_conn_close(c->tls); /* RFC 8446 §6.1 close_notify */
    return finish_writing(c);
}

/* ---- kTLS ------------------------------------------------------------ */

/* Returns false if the connection had to be closed. */
static bool ktls_decide(ho_conn *c)
{
    io_thread *t = c->t;
    ho_ktls_mode mode = t->server->opt.ktls;
    c->ktls_decided = true;
    if (mode == HO_KTLS_OFF)
        return true;
    const char *why = NULL;
    int err = HO_ERR_NOT_FOUND;
    if (!ho_ktls_supported())
        why = "kernel has no TCP_ULP \"tls\"";
    else if (!ho_tls_conn_kernel_ready(c->tls))
        why = "data already buffered in userspace";
    else
        err = ho_ktls_enable(c->fd, c->tls, &why);
    if (err == HO_OK) {
        c->ktls = true;
        STAT_ADD(t, ktls_engaged, 1);
        emit(c, HO_EV_KTLS, HO_LOG_DEBUG, 1, "engaged");
        return true;
    }
    STAT_ADD(t, ktls_fallback, 1);
    /* Logged once per process; counted and emitted per connection. */
    static atomic_flag logged = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&logged))
        ho_log(mode == HO_KTLS_ON ? HO_LOG_WARN : HO_LOG_INFO, "kTLS not used, userspace records instead: %s",
               why ? why : "unknown");
    emit(c, HO_EV_KTLS, HO_LOG_DEBUG, 0, why);
    if (err == HO_ERR_IO) { /* half-configured socket: unusable */
        io_conn_close_now(c);
        return false;
    }
    return true;
}

/* ---- the handshake, inline or offloaded -------------------------------- */

static void job_run(ho_job *job)
{
    ho_conn *c = (ho_conn *)((char *)job - offsetof(ho_conn, job));
    c->job_err = ho_tls_conn_receive(c->tls, c->job_in.data, c->job_in.len);
}

static void job_done(ho_job *job)
{
    ho_conn *c = (ho_conn *)((char *)job - offsetof(ho_conn, job));
    io_thread *t = c->t;
    if (job->ran_on_worker)
        STAT_ADD(t, worker_steps, 1);
    ho_event ev = {.type = HO_EV_OFFLOAD_DONE,
                   .level = HO_LOG_TRACE,
                   .conn = c->id,
                   .role = "server",
                   .a = job->t_start_ns - job->t_submit_ns,
                   .b = job->t_end_ns - job->t_start_ns};
    ho_event_emit(&ev);
    ho_buf_consume(&c->job_in, c->job_in.len);
    c->state = CONN_HANDSHAKE;
    if (c->close_when_done) {
        io_conn_close_now(c);
        return;
    }
    t->now_ms = ho_now_ms();
    if (!conn_after_input(c, c->job_err))
        return;
    /* Stopped while the step was out: the handshake may have finished
     * with a request in the same flight; it is answered, or the
     * connection closes (io_conn_begin_shutdown). */
    if (c->stop_when_done) {
        c->stop_when_done = false;
        io_conn_begin_shutdown(c);
    }
}

/* Whether this handshake step goes to the pool. */
static bool should_offload(ho_conn *c)
{
    io_thread *t = c->t;
    switch (t->server->opt.offload) {
    case HO_OFFLOAD_OFF:
        return false;
    case HO_OFFLOAD_ALWAYS:
        return true;
    case HO_OFFLOAD_ADAPTIVE:
    default:
        /* Inline while the loop is idle: nothing else became ready in this
         * wake-up and no step is already out. Otherwise the handshake would
         * delay the other ready connections: hand it off. */
        return ho_loop_batch(t->loop) > 1 || ho_home_outstanding(t->home) > 0;
    }
}

static void handshake_input(ho_conn *c, const uint8_t *data, size_t len)
{
    io_thread *t = c->t;
    if (c->hs_start_ns == 0)
        c->hs_start_ns = ho_now_ns();
    if (should_offload(c)) {
        c->hs_offloaded = true;
        ho_put_bytes(&c->job_in, data, len);
        if (c->job_in.failed) {
            io_conn_close_now(c);
            return;
        }
        c->state = CONN_OFFLOADED;
        set_events(c, 0); /* the socket is not read until the step is back */
        c->job.run = job_run;
        c->job.done = job_done;
        STAT_ADD(t, handshakes_offloaded, 1);
        ho_pool_submit(t->server->pool, t->home, &c->job);
        ho_event ev = {.type = HO_EV_OFFLOAD_QUEUED, .level = HO_LOG_TRACE, .conn = c->id, .role = "server"};
        ho_event_emit(&ev);
        return;
    }
    STAT_ADD(t, handshakes_inline, 1);
    conn_after_input(c, ho_tls_conn_receive(c->tls, data, len));
}

/* ---- input ----------------------------------------------------------- */

static void run_handler(ho_conn *c)
{
    ho_buf *in = conn_in(c);
    if (in->len == 0 || c->state != CONN_OPEN)
        return;
    c->in_handler = true;
    int err = c->spec->handler->on_data(c->spec->ctx, c, in);
    c->in_handler = false;
    /* Input left with output pending: the handler may have stopped at the
     * mark; it runs again once the output is out (pump). */
    c->held = in->len > 0 && pending_out(c) > 0;
    if (err != HO_OK)
        c->close_after_write = true;
}

/* Early data the engine accepted (RFC 8446 §4.2.10) is in app_in before
 * the handshake completes: the handler sees it now, on this I/O thread
 * (never on a worker: a step on the pool comes back through job_done
 * first), and may answer at once (0.5-RTT). The HTTP handler answers only
 * safe methods early and leaves the rest for after the handshake
 * (h1_server.c); what it leaves, run_handler gives it again then. Nothing
 * is lost to kTLS: the kernel takes the records only after the handshake,
 * with no partial record buffered (ho_tls_conn_kernel_ready). */
static void run_early_handler(ho_conn *c)
{
    if (c->state != CONN_HANDSHAKE || c->tls == NULL || c->in_handler ||
        ho_tls_early_data_status(ho_tls_conn_tls(c->tls)) != HO_TLS_EARLY_ACCEPTED)
        return;
    ho_buf *in = conn_in(c);
    if (in->len == 0)
        return;
    c->in_handler = true;
    int err = c->spec->handler->on_data(c->spec->ctx, c, in);
    c->in_handler = false;
    if (err != HO_OK)
        c->close_after_write = true;
}

/* After a flush of an open connection: close once all is out if asked to
 * (or the peer sent EOF and nothing it asked for is left). */
static bool after_flush(ho_conn *c, int ferr)
{
    if (ferr != HO_OK || c->state != CONN_OPEN)
        return true;
    if (c->close_after_write)
        return start_closing(c);
    if (c->peer_eof && !c->held) {
        if (c->peer_notify)
            return start_closing(c); /* our close_notify, then FIN */
        io_conn_close_now(c);
        return false;
    }
    if (c->stop_read && !c->held) {
        /* Stopped while output was pending: now that it is out, what
         * arrived meanwhile is answered, or the connection closes. */
        c->stop_read = false;
        return stop_open(c);
    }
    return true;
}

/* The counters of a completed handshake. */
static void count_handshake_done(ho_conn *c)
{
    io_thread *t = c->t;
    STAT_ADD(t, handshakes_done, 1);
    if (ho_tls_get_group(ho_tls_conn_tls(c->tls)) == HO_GROUP_X25519MLKEM768)
        STAT_ADD(t, handshakes_pq, 1);
    switch (ho_tls_early_data_status(ho_tls_conn_tls(c->tls))) {
    case HO_TLS_EARLY_ACCEPTED: STAT_ADD(t, early_accepted, 1); break;
    case HO_TLS_EARLY_REJECTED: STAT_ADD(t, early_rejected, 1); break;
    case HO_TLS_EARLY_REPLAYED: STAT_ADD(t, early_replayed, 1); break;
    default: break;
    }
    if (ho_tls_client_cert_status(ho_tls_conn_tls(c->tls)) > 0)
        STAT_ADD(t, client_certs_verified, 1);
}

/* ---- asynchronous callbacks (docs/ENGINE.md) ----------------------------- */

/* The engine waits for the application: send what of the flight is ready
 * (a signing step's ServerHello..Certificate), stop reading. Returns false
 * when the connection is gone. */
static bool async_begin(ho_conn *c)
{
    io_thread *t = c->t;
    STAT_ADD(t, async_started, 1);
    if (c->async_woken) {
        /* The completion is already back (it came while the step was on a
         * worker): go on at once. */
        c->async_woken = false;
        return conn_after_input(c, ho_tls_conn_receive(c->tls, NULL, 0));
    }
    c->async_wait = true;
    t->async_waiting++;
    int err = flush(c);
    if (err != HO_OK && err != HO_ERR_WOULD_BLOCK) {
        io_conn_close_now(c);
        return false;
    }
    return true;
}

/* Any thread: the application completed the callback. */
static void async_wake(void *ctx, ho_tls *tls)
{
    (void)tls;
    ho_conn *c = ctx;
    ho_home_post(c->t->home, &c->async_job);
}

/* On the connection's thread: continue the handshake (the step may go to
 * the pool like any other), or free a connection closed meanwhile. */
static void async_done(ho_job *job)
{
    ho_conn *c = (ho_conn *)((char *)job - offsetof(ho_conn, async_job));
    io_thread *t = c->t;
    STAT_ADD(t, async_completed, 1);
    if (c->zombie) {
        t->async_zombies--;
        ho_tls_conn_free(c->tls);
        ho_buf_free(&c->in_plain);
        ho_buf_free(&c->out_plain);
        ho_buf_free(&c->job_in);
        ho_mem_free(c);
        return;
    }
    if (!c->async_wait) {
        c->async_woken = true; /* the step is still on a worker (job_done) */
        return;
    }
    c->async_wait = false;
    t->async_waiting--;
    t->now_ms = ho_now_ms();
    handshake_input(c, NULL, 0);
}

static void handshake_finished(ho_conn *c)
{
    io_thread *t = c->t;
    c->state = CONN_OPEN;
    count_handshake_done(c);
    hist_record(c->hs_offloaded ? &t->stats.hs_offloaded : &t->stats.hs_inline,
                (uint64_t)(ho_now_ns() - c->hs_start_ns));
    ho_timer_cancel(&c->timer);
    arm_for_state(c);
}

/* The peer's close_notify after a complete handshake. RFC 8446 §6.1: it
 * closes the peer's write side only, and the peer may go on reading. What
 * it sent before (in the same read, as gnutls-cli does when its input
 * ends, or held back at the output mark) is answered, then our
 * close_notify follows (after_flush). Returns false when the connection is
 * gone. */
static bool peer_close_notify(ho_conn *c)
{
    if (c->state == CONN_HANDSHAKE) /* Finished and close_notify in one read */
        handshake_finished(c);
    c->peer_eof = true; /* reads stop (may_read) */
    c->peer_notify = true;
    run_handler(c);
    int err = pump(c);
    if (err != HO_OK && err != HO_ERR_WOULD_BLOCK) {
        io_conn_close_now(c);
        return false;
    }
    return after_flush(c, err);
}

/* After bytes went into the engine/record layer (inline or back from a
 * worker): report failures, notice the end of the handshake, run the
 * application, write. Returns false when the connection is gone. */
static bool conn_after_input(ho_conn *c, int err)
{
    io_thread *t = c->t;
    if (err == HO_ERR_WANT_ASYNC)
        return async_begin(c);
    if (err == HO_ERR_CLOSED && c->tls != NULL && !c->in_handler && !c->peer_eof &&
        (c->state == CONN_OPEN || c->state == CONN_HANDSHAKE) && ho_tls_conn_handshake_done(c->tls))
        return peer_close_notify(c);
    if (err != HO_OK) {
        if (c->state == CONN_HANDSHAKE) {
            STAT_ADD(t, handshakes_failed, 1);
            if (c->tls != NULL && ho_tls_client_cert_status(ho_tls_conn_tls(c->tls)) < 0)
                STAT_ADD(t, client_certs_refused, 1);
        }
        /* An alert (if any) is queued: send it, then close. A peer's
         * close_notify is answered with ours. */
        /* The rest of a referenced body is not sent after an alert. */
        c->ref = NULL;
        c->ref_len = 0;
        if (err == HO_ERR_CLOSED && c->tls != NULL)
            (void)ho_tls_conn_close(c->tls);
        return finish_writing(c);
    }
    if (c->state == CONN_HANDSHAKE && ho_tls_conn_handshake_done(c->tls))
        handshake_finished(c);
    run_handler(c);
    run_early_handler(c);
    if (c->state == CONN_HANDSHAKE || c->state == CONN_OFFLOADED) {
        flush(c); /* the server flight */
        return true;
    }
    int ferr = pump(c);
    if (ferr != HO_OK && ferr != HO_ERR_WOULD_BLOCK) {
        io_conn_close_now(c);
        return false;
    }
    /* Tickets and responses sealed in userspace are out: the kernel can
     * take over the records now. */
    if (ferr == HO_OK && !c->ktls_decided && c->tls != NULL && !ktls_decide(c))
        return false;
    return after_flush(c, ferr);
}

/* The peer will send nothing more. Whatever we still owe it is written,
 * then the connection closes. */
static void peer_eof(ho_conn *c)
{
    if (c->state != CONN_OPEN || (pending_out(c) == 0 && !c->held)) {
        io_conn_close_now(c);
        return;
    }
    /* Requests held back by the output mark are still answered: stop
     * reading, keep writing; after_flush closes once all is out. */
    c->peer_eof = true;
    int err = pump(c);
    if (err != HO_OK && err != HO_ERR_WOULD_BLOCK)
        io_conn_close_now(c);
    else
        (void)after_flush(c, err);
}

/* One recv into the thread's buffer. Returns the byte count, or 0 when the
 * connection was dealt with (nothing to read now, closed on an error, or
 * the peer's EOF handled: a half-close after the request still gets the
 * response; over TLS, an EOF without close_notify only stops our reading). */
static size_t recv_chunk(ho_conn *c)
{
    ssize_t n = recv(c->fd, c->t->rbuf, READ_CHUNK, 0);
    if (n > 0)
        return (size_t)n;
    if (n == 0)
        peer_eof(c);
    else if (errno != EAGAIN && errno != EINTR)
        io_conn_close_now(c);
    return 0;
}

static void read_tls(ho_conn *c)
{
    size_t n = recv_chunk(c);
    if (n == 0)
        return;
    if (c->state == CONN_HANDSHAKE) {
        handshake_input(c, c->t->rbuf, n);
        return;
    }
    conn_after_input(c, ho_tls_conn_receive(c->tls, c->t->rbuf, n));
}

static void read_ktls(ho_conn *c)
{
    ssize_t n = ho_ktls_recv(c->fd, c->tls, ho_tls_conn_app_in(c->tls));
    if (n == HO_ERR_WOULD_BLOCK)
        return;
    if (n == HO_ERR_CLOSED) {
        conn_after_input(c, HO_ERR_CLOSED);
        return;
    }
    if (n < 0) {
        /* A failure with an alert to send queued it as a control record;
         * otherwise (kernel cannot rekey, decrypt error) just close. */
        if (ho_tls_conn_out(c->tls)->len > 0)
            conn_after_input(c, (int)n);
        else
            io_conn_close_now(c);
        return;
    }
    conn_after_input(c, HO_OK);
}

static void read_plain(ho_conn *c)
{
    size_t n = recv_chunk(c);
    if (n == 0)
        return;
    ho_put_bytes(&c->in_plain, c->t->rbuf, n);
    if (c->in_plain.failed) {
        io_conn_close_now(c);
        return;
    }
    conn_after_input(c, HO_OK);
}

static void drain_input(ho_conn *c)
{
    io_thread *t = c->t;
    for (;;) {
        ssize_t n = recv(c->fd, t->rbuf, READ_CHUNK, 0);
        if (n > 0)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        io_conn_close_now(c); /* EOF or error */
        return;
    }
}

static void conn_io(void *ctx, uint32_t events)
{
    ho_conn *c = ctx;
    /* The loop may have slept long in epoll_wait: timers armed from here
     * must start from now. */
    c->t->now_ms = ho_now_ms();
    if (c->state == CONN_DRAINING) {
        drain_input(c);
        return;
    }
    if (events & EPOLLOUT) {
        int err = c->state == CONN_OPEN ? pump(c) : flush(c);
        if (err == HO_OK && c->state == CONN_CLOSING) {
            start_draining(c);
            return;
        }
        if (err != HO_OK && err != HO_ERR_WOULD_BLOCK) {
            io_conn_close_now(c);
            return;
        }
        if (err == HO_OK && c->state == CONN_OPEN && !c->ktls_decided && c->tls != NULL && !ktls_decide(c))
            return;
        if (c->state == CONN_OPEN && !after_flush(c, err))
            return;
    }
    if (c->state == CONN_OFFLOADED) {
        /* Hang-up and error are reported whatever the interest set: stop
         * watching the socket and close once the worker is done. */
        if (events & (EPOLLERR | EPOLLHUP)) {
            ho_loop_del(c->t->loop, c->fd);
            c->close_when_done = true;
        }
        return;
    }
    if (c->async_wait) {
        /* Waiting for the application: the socket is not read (the kernel
         * keeps what arrives); the peer's leaving (EOF, hang-up, error)
         * closes. */
        if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP))
            io_conn_close_now(c);
        return;
    }
    if (!(events & (EPOLLIN | EPOLLERR | EPOLLHUP)) || c->state == CONN_CLOSING)
        return;
    if (c->state == CONN_OPEN && !c->request_pending)
        arm_for_state(c); /* activity: the idle clock restarts */
    if (c->tls == NULL)
        read_plain(c);
    else if (c->ktls)
        read_ktls(c);
    else
        read_tls(c);
}

/* ---- graceful stop ------------------------------------------------- */

/* At a graceful stop, an open connection with nothing in progress may still
 * have a request on its way: in the socket's receive buffer (or the kernel's
 * TLS records), or in the engine's buffers. One non-blocking read pass takes
 * what is already there (up to STOP_READ_MAX bytes), then the application
 * runs on it as on any input: every complete request is answered, the last
 * response says Connection: close (RFC 9112 §9.6) and the connection closes
 * once it is written. Sets *err (the result for conn_after_input), *eof when
 * the peer has closed its side, and *got to the bytes taken. Returns false
 * when the connection had to be closed (it is gone). */
static bool stop_read_pass(ho_conn *c, size_t *got, bool *eof, int *err)
{
    *got = 0;
    *eof = false;
    *err = HO_OK;
    while (*got < STOP_READ_MAX) {
        if (c->ktls) {
            ssize_t n = ho_ktls_recv(c->fd, c->tls, ho_tls_conn_app_in(c->tls));
            if (n == HO_ERR_WOULD_BLOCK)
                return true;
            if (n == HO_ERR_CLOSED) {
                *eof = true;
                return true;
            }
            if (n < 0) {
                if (ho_tls_conn_out(c->tls)->len > 0) {
                    *err = (int)n; /* an alert is queued: send it, close */
                    return true;
                }
                io_conn_close_now(c);
                return false;
            }
            *got += (size_t)n + 1; /* a control record counts too */
            continue;
        }
        ssize_t n = recv(c->fd, c->t->rbuf, READ_CHUNK, 0);
        if (n == 0) {
            *eof = true;
            return true;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN)
                return true;
            io_conn_close_now(c);
            return false;
        }
        *got += (size_t)n;
        if (c->tls != NULL) {
            *err = ho_tls_conn_receive(c->tls, c->t->rbuf, (size_t)n);
            if (*err != HO_OK)
                return true;
        } else {
            ho_put_bytes(&c->in_plain, c->t->rbuf, (size_t)n);
            if (c->in_plain.failed) {
                io_conn_close_now(c);
                return false;
            }
        }
    }
    return true;
}

/* Whether an open connection owes its peer nothing: no request being
 * received or answered, no output queued, no input held back. */
static bool conn_idle(ho_conn *c)
{
    return !c->request_pending && !c->in_handler && !c->held && pending_out(c) == 0 && conn_in(c)->len == 0;
}

/* The stop reaches an open connection (or one that was busy is done).
 * Returns false when the connection is gone. */
static bool stop_open(ho_conn *c)
{
    /* A request being received or answered finishes first
     * (ho_conn_request_done marks it to close after its response). */
    if (c->request_pending || c->in_handler) {
        c->close_after_write = true;
        return true;
    }
    /* Output pending (a response being written, requests held behind
     * it): after_flush comes back here once it is out. */
    if (!conn_idle(c)) {
        c->stop_read = true;
        return true;
    }
    size_t got;
    bool eof;
    int err;
    if (!stop_read_pass(c, &got, &eof, &err))
        return false; /* closed */
    if (err == HO_OK && got == 0) {
        if (!eof)
            return start_closing(c); /* nothing pending: close_notify/FIN now */
        io_conn_close_now(c);
        return false;
    }
    /* Requests that were already here are answered (with Connection:
     * close, as t->stopping is set). */
    if (!conn_after_input(c, err))
        return false;
    if (c->state != CONN_OPEN)
        return true;
    if (eof) {
        peer_eof(c); /* answers what it asked, then closes */
        return true;
    }
    /* Whatever came was no request (a TLS control record): nothing owed,
     * close now. A partial request waits for its end (request timeout,
     * stop grace). */
    if (conn_idle(c))
        return start_closing(c);
    if (!c->request_pending)
        c->stop_read = true;
    else
        c->close_after_write = true;
    return true;
}

void io_conn_begin_shutdown(ho_conn *c)
{
    switch (c->state) {
    case CONN_OFFLOADED:
        /* A handshake step on a worker: when it comes back, the
         * connection is stopped like the others (job_done). */
        c->stop_when_done = true;
        break;
    case CONN_HANDSHAKE:
        io_conn_close_now(c);
        break;
    case CONN_OPEN:
        (void)stop_open(c);
        break;
    default:
        break;
    }
}

/* ---- giving memory back ------------------------------------------------ */

enum {
    TRIM_MIN_DROP = 64,      /* connections closed since the peak */
    TRIM_INTERVAL_MS = 1000, /* at most this often per thread */
};

int64_t io_conn_trim_heap(io_thread *t)
{
    /* TCP and QUIC connections alike: a storm of either leaves freed heap. */
    size_t n = t->nconns + io_quic_thread_conns(t);
    if (n > t->trim_peak)
        t->trim_peak = n;
    if (t->trim_peak - n < TRIM_MIN_DROP || n > t->trim_peak / 2)
        return -1;
    int64_t due = t->trim_last_ms + TRIM_INTERVAL_MS - t->now_ms;
    if (due > 0)
        return due; /* the loop wakes up for it, even with no timer armed */
    /* Half the connections of the peak or more are gone: the allocator
     * keeps their memory unless told (freed chunks below the top of an
     * arena stay mapped). malloc_trim also releases the free pages inside
     * every arena. */
    malloc_trim(0);
    t->trim_peak = n;
    t->trim_last_ms = t->now_ms;
    STAT_ADD(t, trims, 1);
    return -1;
}
