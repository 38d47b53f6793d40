/* The QUIC endpoint's handshake steps (docs/QUIC.md "QUIC handshake
 * offload"): a server connection's expensive TLS steps run inline or on
 * the offload pool while its datagrams wait in a bounded queue; and the
 * application's asynchronous TLS callbacks (docs/ENGINE.md "Asynchronous
 * callbacks"): a step that answered HO_ERR_WANT_ASYNC parks the connection
 * until the completion's wake-up comes back to this thread. */
#include <stddef.h>
#include <string.h>

#include "base/mem.h"
#include "handoff/io.h" /* ho_offload_mode */
#include "quic/endpoint_int.h"

/* ---- handshake steps on the pool (docs/QUIC.md "QUIC handshake offload") -- */

void quic_ep_step_unlink(ho_quic_endpoint *ep, ep_step *s)
{
    if (s->back) {
        ep_step **pp = &ep->back_head, *prev = NULL;
        while (*pp != NULL && *pp != s) {
            prev = *pp;
            pp = &(*pp)->next_back;
        }
        if (*pp == s) {
            *pp = s->next_back;
            if (ep->back_tail == s)
                ep->back_tail = prev;
        }
        return;
    }
    s->prev->next = s->next;
    s->next->prev = s->prev;
    s->prev = s->next = s;
    ep->st.steps_out--;
}

static void step_run(ho_job *job)
{
    ep_step *s = (ep_step *)job;
    ho_quic_step_run(s->c); /* on a worker: the connection's TLS and step state only */
}

/* On the home thread (ho_home_drain), without the caller's clock: the step
 * is finished by the endpoint's next call that has one. */
static void step_done(ho_job *job)
{
    ep_step *s = (ep_step *)job;
    ho_quic_endpoint *ep = s->ep;
    if (ep != NULL)
        quic_ep_step_unlink(ep, s); /* from the steps out */
    if (s->ec == NULL) {
        /* The connection (or the whole endpoint) went while the step ran. */
        ho_quic_conn *c = s->c;
        ho_mem_free(s);
        if (c->step.rc == HO_ERR_WANT_ASYNC && !c->async.woken) {
            /* Its callback is still out: the completion frees it. */
            c->async.parked = true;
            c->async.ep = ep;
            if (ep != NULL) {
                ep->st.async_started++;
                ep->st.async_waiting++;
                c->async.next_zombie = ep->zombies;
                ep->zombies = c;
            }
            return;
        }
        ho_quic_conn_free(c);
        return;
    }
    s->back = true;
    s->next_back = NULL;
    if (ep->back_tail != NULL)
        ep->back_tail->next_back = s;
    else
        ep->back_head = s;
    ep->back_tail = s;
}

static bool should_offload(const ho_quic_endpoint *ep)
{
    if (ep->cfg.pool == NULL)
        return false;
    switch (ep->cfg.offload) {
    case HO_OFFLOAD_ALWAYS:
        return true;
    case HO_OFFLOAD_ADAPTIVE:
        /* Inline work would stall other connections of this thread (or
         * its TCP handshakes out on the pool). */
        return ep->nconns > 1 || ep->st.steps_out > 0 || ho_home_outstanding(ep->cfg.home) > 0;
    default:
        return false;
    }
}

static bool async_park(ho_quic_endpoint *ep, ep_conn *ec);

/* The connection's begun step goes to the pool (s: its job, zeroed). */
static void step_submit(ho_quic_endpoint *ep, ep_conn *ec, ep_step *s, ho_quic_time now)
{
    s->job.run = step_run;
    s->job.done = step_done;
    s->ep = ep;
    s->ec = ec;
    s->c = ec->c;
    s->next = &ep->steps;
    s->prev = ep->steps.prev;
    ep->steps.prev->next = s;
    ep->steps.prev = s;
    ep->st.steps_out++;
    ep->st.steps_offloaded++;
    ec->step_offloaded = true;
    ec->step = s;
    s->submitted = now;
    ho_pool_submit(ep->cfg.pool, ep->cfg.home, &s->job);
}

/* Runs the connection's begun step inline, or submits it to the pool.
 * Returns true when it is out: on the pool, or parked until the
 * application completes a callback that answered later. */
static bool step_start(ho_quic_endpoint *ep, ep_conn *ec, ho_quic_time now)
{
    ho_quic_conn *c = ec->c;
    for (;;) {
        ep_step *s = should_offload(ep) ? ho_mem_calloc(1, sizeof(*s)) : NULL;
        if (s != NULL) {
            step_submit(ep, ec, s, now);
            return true;
        }
        ep->st.steps_inline++; /* (also when there is no memory for the job) */
        ho_quic_step_run(c);
        if (c->step.rc != HO_ERR_WANT_ASYNC) {
            ho_quic_step_finish(c, now);
            return false;
        }
        if (async_park(ep, ec))
            return true;
        /* completed already (from inside the callback): run on */
    }
}

/* Runs the connection until it waits for a step out (or an asynchronous
 * callback) or has nothing queued: the captured step (inline or
 * submitted), the rest of the datagram that captured it, the datagrams
 * queued meanwhile, in order. */
void quic_ep_conn_pump(ho_quic_endpoint *ep, ep_conn *ec, ho_quic_time now)
{
    ho_quic_conn *c = ec->c;
    while (!c->step.out && !ho_quic_conn_is_closed(c)) {
        if (ho_quic_step_pending(c)) {
            ho_quic_step_begin(c);
            if (step_start(ep, ec, now))
                return;
            continue;
        }
        if (ho_quic_step_feed_rest(c, now))
            continue;
        ep_dgram *d = ec->q_head;
        if (d == NULL)
            break;
        ec->q_head = d->next;
        if (ec->q_head == NULL)
            ec->q_tail = NULL;
        ec->qn--;
        ep->st.step_queue_ns += (uint64_t)(now > d->at ? now - d->at : 0);
        ho_quic_conn_receive(c, d->data, d->len, &d->path, now);
        ho_mem_free(d);
    }
}

/* A datagram for a connection whose step is out: it waits (RFC 9000 §5.2
 * puts no bound on buffering; ours is step_queue_max per connection). */
static void conn_enqueue(ho_quic_endpoint *ep, ep_conn *ec, const uint8_t *dgram, size_t len,
                         const ho_quic_path *path, ho_quic_time now)
{
    ep_dgram *d = ec->qn < ep->cfg.step_queue_max ? ho_mem_alloc(sizeof(*d) + len) : NULL;
    if (d == NULL) {
        ep->st.step_queue_overflows++;
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, ec->c->odcid.data, ec->c->odcid.len, len,
                         HO_EV_DROP_QUEUE_FULL, now);
        return;
    }
    d->next = NULL;
    d->at = now;
    d->len = len;
    if (path != NULL)
        d->path = *path;
    else
        memset(&d->path, 0, sizeof(d->path));
    memcpy(d->data, dgram, len);
    if (ec->q_tail != NULL)
        ec->q_tail->next = d;
    else
        ec->q_head = d;
    ec->q_tail = d;
    ec->qn++;
    ep->st.step_queued++;
}

/* A datagram for a known connection: now, or after its step. */
void quic_ep_conn_input(ho_quic_endpoint *ep, ep_conn *ec, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                       ho_quic_time now)
{
    if (ec->c->step.out || ec->q_head != NULL || ec->c->step.has_rest) {
        conn_enqueue(ep, ec, dgram, len, path, now);
        return;
    }
    ho_quic_conn_receive(ec->c, dgram, len, path, now);
    quic_ep_conn_pump(ep, ec, now);
}

/* Finishes the steps whose done ran (on this thread) since the last call. */
void quic_ep_steps_back(ho_quic_endpoint *ep, ho_quic_time now)
{
    while (ep->back_head != NULL) {
        ep_step *s = ep->back_head;
        ep->back_head = s->next_back;
        if (ep->back_head == NULL)
            ep->back_tail = NULL;
        ep_conn *ec = s->ec;
        ep->st.step_out_ns += (uint64_t)(now > s->submitted ? now - s->submitted : 0);
        ho_mem_free(s);
        ec->step = NULL;
        quic_ep_activate(ep, ec);
        if (ec->c->step.rc != HO_ERR_WANT_ASYNC)
            ho_quic_step_finish(ec->c, now);
        else if (!async_park(ep, ec))
            (void)step_start(ep, ec, now); /* completed while on the worker */
        quic_ep_conn_pump(ep, ec, now);
        quic_ep_hs_update(ep, ec);
        quic_ep_maybe_release(ep, ec);
    }
    /* Asynchronous callbacks completed: the step runs on (inline or on
     * the pool), then the datagrams that waited, in order. */
    while (ep->resume_head != NULL) {
        ep_conn *ec = ep->resume_head;
        ep->resume_head = ec->next_resume;
        if (ep->resume_head == NULL)
            ep->resume_tail = NULL;
        ec->resume_queued = false;
        quic_ep_activate(ep, ec);
        (void)step_start(ep, ec, now);
        quic_ep_conn_pump(ep, ec, now);
        quic_ep_hs_update(ep, ec);
        quic_ep_maybe_release(ep, ec);
    }
}

/* ---- asynchronous TLS callbacks (docs/ENGINE.md, docs/QUIC.md) ------------ */

/* A step answered HO_ERR_WANT_ASYNC: the connection parks (no worker held;
 * its datagrams wait in its queue, its timers run) until the completion's
 * wake-up. Returns false when the completion already came: run on. */
static bool async_park(ho_quic_endpoint *ep, ep_conn *ec)
{
    ho_quic_conn *c = ec->c;
    ep->st.async_started++;
    if (c->async.woken) {
        c->async.woken = false;
        ep->st.async_completed++;
        return false;
    }
    c->async.parked = true;
    ep->st.async_waiting++;
    return true;
}

/* Any thread: the application completed the callback (ho_tls_resume,
 * ho_tls_complete_sign). Only the post: the rest is the owner's. */
static void async_wake(void *ctx, ho_tls *tls)
{
    (void)tls;
    ho_quic_conn *c = ctx;
    ho_home_post(c->async.home, &c->async.job);
}

/* On the connection's thread (ho_home_drain), without a clock: the step
 * runs on at the endpoint's next call (steps_back), or a connection
 * released meanwhile is freed. */
static void async_done(ho_job *job)
{
    ho_quic_conn *c = (ho_quic_conn *)(void *)((char *)job - offsetof(ho_quic_conn, async.job));
    if (!c->async.parked) {
        c->async.woken = true; /* its step is still out: async_park sees it */
        return;
    }
    c->async.parked = false;
    ho_quic_endpoint *ep = c->async.ep;
    ep_conn *ec = c->async.owner;
    if (ep != NULL) {
        ep->st.async_waiting--;
        ep->st.async_completed++;
    }
    if (ec == NULL) {
        for (ho_quic_conn **pp = ep != NULL ? &ep->zombies : NULL; pp != NULL && *pp != NULL;
             pp = &(*pp)->async.next_zombie)
            if (*pp == c) {
                *pp = c->async.next_zombie;
                break;
            }
        ho_quic_conn_free(c);
        return;
    }
    ec->next_resume = NULL;
    ec->resume_queued = true;
    if (ep->resume_tail != NULL)
        ep->resume_tail->next_resume = ec;
    else
        ep->resume_head = ec;
    ep->resume_tail = ec;
}

/* The connection leaves the endpoint: off the resume list; a callback
 * still out keeps it (conn_release). */
void quic_ep_async_forget(ho_quic_endpoint *ep, ep_conn *ec)
{
    ec->c->async.owner = NULL;
    if (!ec->resume_queued)
        return;
    ep_conn *prev = NULL;
    for (ep_conn *x = ep->resume_head; x != NULL; prev = x, x = x->next_resume) {
        if (x != ec)
            continue;
        if (prev != NULL)
            prev->next_resume = x->next_resume;
        else
            ep->resume_head = x->next_resume;
        if (ep->resume_tail == x)
            ep->resume_tail = prev;
        break;
    }
    ec->resume_queued = false;
}

/* With a pool (and so a home), the connection's callbacks may answer
 * later. */
void quic_ep_async_enable(ho_quic_endpoint *ep, ep_conn *ec)
{
    ho_quic_conn *c = ec->c;
    if (ep->cfg.pool == NULL || c->tls == NULL)
        return;
    c->async.job.done = async_done;
    c->async.home = ep->cfg.home;
    c->async.ep = ep;
    c->async.owner = ec;
    ho_tls_set_async_wake(c->tls, async_wake, c);
}

