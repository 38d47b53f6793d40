/* QUIC on the server's I/O threads (include/handoff/io.h, "QUIC on the
 * server's I/O threads"): per thread an SO_REUSEPORT UDP socket, a QUIC
 * endpoint and a hand-over queue on the thread's epoll loop; one classic
 * BPF program on the reuseport group that steers each datagram to the
 * socket of the thread its destination CID names. docs/QUIC.md "Threads
 * and steering" describes the path of a datagram. */
#define _GNU_SOURCE
#include "base/mem.h"
#include "server_int.h"
#include "quic/conn_int.h" /* ho_quic_conn_fail */

#include "handoff/crypto.h"

#include <errno.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

enum {
    RX_BATCH = 32,
    TX_BUF = 64 * 1500,       /* at most one connection's output per call */
    /* Outputs of several connections leave in one sendmmsg: up to TX_REQS
     * of them in TX_AREA bytes. A call gets at least TX_ROOM bytes, more
     * than the largest datagram (65527), so that a connection never sends
     * nothing for want of room (the endpoint would then set it aside). */
    TX_REQS = 32,
    TX_ROOM = 65536,
    TX_AREA = TX_BUF + TX_ROOM,
    FWD_QUEUE_MAX = 4096,     /* datagrams waiting in one thread's hand-over queue */
    STOP_GRACE_MS = 200,      /* CONNECTION_CLOSE goes out, then the thread may leave */
};

/* A datagram handed to its owner thread (a copy: the reader's buffers are
 * reused by its next recvmmsg). */
typedef struct fwd_item {
    struct fwd_item *next;
    ho_udp_addr peer, local;
    uint8_t ecn;
    size_t len;
    uint8_t data[];
} fwd_item;

typedef struct quic_stats {
    _Atomic uint64_t handshakes, resumed, handshakes_pq, key_updates, requests, migrations, paths_validated;
    _Atomic uint64_t client_certs_verified, client_certs_refused;
    _Atomic uint64_t forwarded, forwarded_in, forward_drops;
    /* copies of the endpoint's counters, refreshed every tick */
    _Atomic uint64_t connections, connections_closed, vn_sent, retry_sent, resets_sent, refused;
    _Atomic uint64_t admission_retries, admission_refused, handshakes_in_progress;
    _Atomic uint64_t new_tokens_issued, new_tokens_accepted, new_tokens_refused;
    _Atomic uint64_t early_accepted, early_rejected, early_replayed;
    _Atomic uint64_t zero_rtt_received, zero_rtt_accepted, zero_rtt_dropped;
    _Atomic uint64_t datagrams_received, datagrams_dropped;
    _Atomic uint64_t steps_offloaded, steps_inline, step_queued, step_queue_overflows, step_queue_us, step_out_us;
    _Atomic uint64_t async_started, async_completed, async_waiting, served_during_async;
    /* datagrams for no connection dropped, by reason (the endpoint's) */
    _Atomic uint64_t initial_too_small, initial_undecryptable, initial_bad_frames, initial_bad_dcid, initial_bad_token, unknown_long, unknown_version;
    /* packets of freed connections (the endpoint's sums) */
    _Atomic uint64_t packets_sent, packets_received, packets_lost;
    _Atomic uint64_t send_calls, send_gathered;
    /* handshake durations: accepted to complete, by where its steps ran */
    hist_atomic hs_inline, hs_offloaded;
} quic_stats;

struct quic_thread {
    io_thread *t;                  /* NULL until io_quic_thread_setup */
    ho_server *s;
    ho_udp_socket sock;
    ho_udp_addr local;
    ho_quic_endpoint *ep;
    ho_udp_rx *rx;
    uint8_t *txbuf;                /* TX_AREA bytes */
    ho_quic_endpoint_out *outs;    /* TX_REQS outputs gathered for one sendmmsg */
    /* The hand-over queue: any thread appends, the owner drains. */
    pthread_mutex_t fwd_lock;
    fwd_item *fwd_head, *fwd_tail;
    size_t fwd_len;
    int fwd_fd;                    /* eventfd: readable while items wait */
    bool stopping;
    bool all_closed;               /* every connection was told to close */
    int64_t close_deadline_ms;     /* requests in progress end here */
    int64_t stop_deadline_ms;      /* the thread may leave from here */
    quic_stats stats;
};

#define QSTAT_ADD(q, f, n) atomic_fetch_add_explicit(&(q)->stats.f, (n), memory_order_relaxed)
#define QSTAT_SET(q, f, v) atomic_store_explicit(&(q)->stats.f, (v), memory_order_relaxed)
#define QSTAT_GET(q, f) atomic_load_explicit(&((quic_thread *)(q))->stats.f, memory_order_relaxed)

/* ---- steering: which thread a datagram belongs to ------------------------- */

/* RFC 9000 §17.2: a long header has the DCID length at octet 5 and the
 * DCID from octet 6; §17.3: a short header has the DCID (of the length we
 * chose) from octet 1. The thread octet is thread_offset into the DCID. */
int io_quic_owner(const ho_quic_cid_layout *l, const uint8_t *d, size_t len)
{
    size_t off = ho_quic_cid_layout_thread_offset(l);
    if (len < 1)
        return -1;
    if (d[0] & 0x80) {
        if (len <= 6 + off || d[5] <= off)
            return -1;
        return (int)(d[6 + off] % l->nthreads);
    }
    if (len <= 1 + off)
        return -1;
    return (int)(d[1 + off] % l->nthreads);
}

/* The same decision in classic BPF, run by the kernel on the UDP payload
 * of every datagram for the port; it returns the index of the socket in
 * the reuseport group (sockets are indexed in the order they were bound:
 * thread 0 first). An index past the group (here 0xffffffff) makes the
 * kernel fall back to its 4-tuple hash. */
int io_quic_steer_attach(int fd, const ho_quic_cid_layout *l)
{
    uint32_t off = (uint32_t)ho_quic_cid_layout_thread_offset(l);
    uint32_t n = l->nthreads;
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 0, 0, 14),           /* empty: fallback */
        /* 2 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x80, 5, 0),        /* long header: 9 */
        /* short header: DCID from octet 1 */
        /* 4 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 1 + off, 0, 10),
        /* 6 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 1 + off),
        /* 7 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        /* 8 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* long header: DCID length at octet 5, DCID from octet 6 */
        /* 9 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 10 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, 6 + off, 0, 5),
        /* 11 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 5),
        /* 12 */ BPF_JUMP(BPF_JMP | BPF_JGT | BPF_K, off, 0, 3),
        /* 13 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 6 + off),
        /* 14 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        /* 15 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* 16 */ BPF_STMT(BPF_RET | BPF_K, 0xffffffffu), /* the kernel's 4-tuple hash */
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0)
        return HO_ERR_IO;
    return HO_OK;
}

/* ---- the connection's slot and the handler -------------------------------- */

/* A connection's user slot: the application's state and what was counted. */
typedef struct conn_slot {
    void *app;
    bool handshake_counted;
    int64_t accepted_ns;
    uint64_t key_updates_counted, migrations_counted, validated_counted;
    uint64_t zrtt_received_counted, zrtt_accepted_counted, zrtt_dropped_counted; /* 0-RTT packets */
    bool stop_seen;  /* the stop reached it (on_stop called, or closed) */
    bool finishing;  /* stopping gracefully: closes once not busy */
} conn_slot;

static conn_slot *slot_of(ho_quic_conn *c) { return ho_quic_conn_get_user(c); }

static const ho_quic_handler *handler_of(const quic_thread *q) { return q->s->qspec.handler; }

static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    quic_thread *q = ctx;
    conn_slot *slot = slot_of(c);
    if (slot != NULL && slot->app != NULL && handler_of(q)->stream_readable != NULL)
        handler_of(q)->stream_readable(slot->app, c, id);
}

static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    quic_thread *q = ctx;
    conn_slot *slot = slot_of(c);
    if (slot != NULL && slot->app != NULL && handler_of(q)->stream_writable != NULL)
        handler_of(q)->stream_writable(slot->app, c, id);
}

static void on_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop_sending)
{
    quic_thread *q = ctx;
    conn_slot *slot = slot_of(c);
    if (slot != NULL && slot->app != NULL && handler_of(q)->stream_reset != NULL)
        handler_of(q)->stream_reset(slot->app, c, id, code, stop_sending);
}

static void on_accept(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    quic_thread *q = ctx;
    (void)ep;
    conn_slot *slot = ho_mem_calloc(1, sizeof(*slot));
    if (slot == NULL) {
        /* Out of memory for the application's state: a connection that
         * would never answer is closed with INTERNAL_ERROR (RFC 9000 §20.1)
         * instead of left for the peer's idle timeout. */
        ho_quic_conn_fail(c, HO_ERR_NOMEM, 0, ho_now_ns());
        return;
    }
    slot->accepted_ns = ho_now_ns();
    if (handler_of(q)->on_accept != NULL)
        slot->app = handler_of(q)->on_accept(q->s->qspec.ctx, c);
    ho_quic_conn_set_user(c, slot);
}

/* Counts what is new on c: a completed handshake (resumed or not), 1-RTT
 * key updates (RFC 9001 §6), migrations and validated paths. */
static void count_conn(quic_thread *q, ho_quic_conn *c, conn_slot *slot)
{
    if (!slot->handshake_counted && ho_quic_conn_handshake_done(c)) {
        slot->handshake_counted = true;
        QSTAT_ADD(q, handshakes, 1);
        /* Seen at the tick after the step that completed it: at most one
         * loop iteration late. */
        hist_record(ho_quic_endpoint_conn_offloaded(c) ? &q->stats.hs_offloaded : &q->stats.hs_inline,
                    (uint64_t)(ho_now_ns() - slot->accepted_ns));
        ho_tls *t = ho_quic_conn_tls(c);
        if (t != NULL && ho_tls_is_resumed(t))
            QSTAT_ADD(q, resumed, 1);
        if (t != NULL && ho_tls_get_group(t) == HO_GROUP_X25519MLKEM768)
            QSTAT_ADD(q, handshakes_pq, 1);
        if (t != NULL && ho_tls_client_cert_status(t) > 0)
            QSTAT_ADD(q, client_certs_verified, 1);
        switch (ho_quic_conn_early_data(c)) { /* the client offered 0-RTT */
        case HO_TLS_EARLY_ACCEPTED: QSTAT_ADD(q, early_accepted, 1); break;
        case HO_TLS_EARLY_REJECTED: QSTAT_ADD(q, early_rejected, 1); break;
        case HO_TLS_EARLY_REPLAYED: QSTAT_ADD(q, early_replayed, 1); break;
        default: break;
        }
        ho_quic_endpoint_stats es;
        ho_quic_endpoint_get_stats(q->ep, &es);
        if (es.async_waiting > 0) /* another connection waits for the application */
            QSTAT_ADD(q, served_during_async, 1);
    }
    uint64_t ku = ho_quic_conn_key_updates(c);
    if (ku > slot->key_updates_counted) {
        QSTAT_ADD(q, key_updates, ku - slot->key_updates_counted);
        slot->key_updates_counted = ku;
    }
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(c, &st);
    if (st.migrations > slot->migrations_counted) {
        QSTAT_ADD(q, migrations, st.migrations - slot->migrations_counted);
        slot->migrations_counted = st.migrations;
    }
#define COUNT_DELTA(field, counted, stat)                                                                      \
    if (st.field > slot->counted) {                                                                            \
        QSTAT_ADD(q, stat, st.field - slot->counted);                                                          \
        slot->counted = st.field;                                                                              \
    }
    COUNT_DELTA(zero_rtt_received, zrtt_received_counted, zero_rtt_received)
    COUNT_DELTA(zero_rtt_accepted, zrtt_accepted_counted, zero_rtt_accepted)
    COUNT_DELTA(zero_rtt_dropped, zrtt_dropped_counted, zero_rtt_dropped)
#undef COUNT_DELTA
    if (st.paths_validated > slot->validated_counted) {
        QSTAT_ADD(q, paths_validated, st.paths_validated - slot->validated_counted);
        slot->validated_counted = st.paths_validated;
    }
}

static void on_conn_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    quic_thread *q = ctx;
    (void)ep;
    conn_slot *slot = slot_of(c);
    if (slot == NULL)
        return;
    count_conn(q, c, slot);
    /* A handshake that failed on the client's certificate (mutual TLS). */
    ho_tls *t = ho_quic_conn_tls(c);
    if (!slot->handshake_counted && t != NULL && ho_tls_client_cert_status(t) < 0)
        QSTAT_ADD(q, client_certs_refused, 1);
    if (slot->app != NULL) {
        if (handler_of(q)->requests != NULL)
            QSTAT_ADD(q, requests, handler_of(q)->requests(slot->app));
        if (handler_of(q)->on_close != NULL)
            handler_of(q)->on_close(slot->app, c);
    }
    ho_mem_free(slot);
    ho_quic_conn_set_user(c, NULL);
}

/* Every CID a thread's connections issue names the thread. */
static void cid_generate(void *ctx, uint8_t *cid, size_t len)
{
    quic_thread *q = ctx;
    const ho_quic_cid_layout *l = &q->s->qlayout;
    if (len != l->cid_len) { /* not ours to shape (cannot happen: cid_len is the layout's) */
        ho_random(cid, len);
        return;
    }
    ho_quic_cid_layout_make(l, q->t != NULL ? q->t->index : 0, cid);
}

/* ---- receiving ------------------------------------------------------------ */

static void feed(quic_thread *q, const uint8_t *data, size_t len, const ho_udp_addr *peer, const ho_udp_addr *local,
                 uint8_t ecn)
{
    ho_quic_path path = {0};
    if (local->len == 0)
        local = &q->local;
    path.local = local->ss;
    path.local_len = local->len;
    path.remote = peer->ss;
    path.remote_len = peer->len;
    path.ecn = ecn;
    ho_quic_endpoint_receive(q->ep, data, len, &path, ho_now_ns());
}

/* Hands a datagram to its owner's queue; false when the queue is full. */
static bool hand_over(quic_thread *to, const ho_udp_dgram *d)
{
    fwd_item *it = ho_mem_alloc(sizeof(*it) + d->len);
    if (it == NULL)
        return false;
    it->next = NULL;
    it->peer = d->peer;
    it->local = d->local;
    it->ecn = d->ecn;
    it->len = d->len;
    memcpy(it->data, d->data, d->len);
    pthread_mutex_lock(&to->fwd_lock);
    bool ok = to->fwd_len < FWD_QUEUE_MAX;
    bool wake = ok && to->fwd_len == 0;
    if (ok) {
        if (to->fwd_tail != NULL)
            to->fwd_tail->next = it;
        else
            to->fwd_head = it;
        to->fwd_tail = it;
        to->fwd_len++;
    }
    pthread_mutex_unlock(&to->fwd_lock);
    if (!ok) {
        ho_mem_free(it);
        return false;
    }
    if (wake) {
        uint64_t one = 1;
        ssize_t n = write(to->fwd_fd, &one, sizeof(one));
        (void)n;
    }
    return true;
}

static void on_udp(void *ctx, uint32_t events)
{
    quic_thread *q = ctx;
    ho_server *s = q->s;
    (void)events;
    unsigned self = q->t->index;
    ho_udp_dgram *d;
    int n;
    /* Bounded per wake-up, so a flood of datagrams cannot hold the loop
     * away from the TCP connections. */
    for (int round = 0; round < 8 && (n = ho_udp_recv_batch(&q->sock, q->rx, &d)) > 0; round++) {
        for (int i = 0; i < n; i++) {
            int owner = s->nthreads > 1 ? io_quic_owner(&s->qlayout, d[i].data, d[i].len) : -1;
            if (owner >= 0 && (unsigned)owner != self) {
                quic_thread *to = s->threads[owner].quic;
                if (hand_over(to, &d[i])) {
                    QSTAT_ADD(q, forwarded, 1);
                } else {
                    QSTAT_ADD(q, forward_drops, 1);
                }
                continue;
            }
            feed(q, d[i].data, d[i].len, &d[i].peer, &d[i].local, d[i].ecn);
        }
    }
}

static void on_fwd(void *ctx, uint32_t events)
{
    quic_thread *q = ctx;
    (void)events;
    uint64_t v;
    ssize_t r = read(q->fwd_fd, &v, sizeof(v));
    (void)r;
    pthread_mutex_lock(&q->fwd_lock);
    fwd_item *it = q->fwd_head;
    q->fwd_head = q->fwd_tail = NULL;
    q->fwd_len = 0;
    pthread_mutex_unlock(&q->fwd_lock);
    while (it != NULL) {
        fwd_item *next = it->next;
        QSTAT_ADD(q, forwarded_in, 1);
        feed(q, it->data, it->len, &it->peer, &it->local, it->ecn);
        ho_mem_free(it);
        it = next;
    }
}

/* ---- sending and timers --------------------------------------------------- */

static void flush_conn(void *ctx, ho_quic_conn *c)
{
    quic_thread *q = ctx;
    conn_slot *slot = slot_of(c);
    if (slot == NULL)
        return;
    count_conn(q, c, slot);
    if (slot->app != NULL && handler_of(q)->flush != NULL)
        handler_of(q)->flush(slot->app, c, ho_now_ns());
}

static void close_conn(void *ctx, ho_quic_conn *c)
{
    quic_thread *q = ctx;
    ho_quic_conn_close(c, handler_of(q)->shutdown_code, "shutdown", ho_now_ns());
}

/* ---- graceful stop -------------------------------------------------------- */

typedef struct stop_walk {
    quic_thread *q;
    bool deadline; /* the grace is over: close whatever is left */
    size_t left;   /* connections still finishing */
} stop_walk;

/* The stop reaches a connection (at the stop, or, for one accepted later,
 * at the next tick): the handler may finish what is in progress (HTTP/3:
 * GOAWAY, RFC 9114 §5.2), otherwise it closes now. */
static void stop_conn(quic_thread *q, ho_quic_conn *c, conn_slot *slot)
{
    const ho_quic_handler *h = handler_of(q);
    slot->stop_seen = true;
    if (slot->app != NULL && h->on_stop != NULL && h->busy != NULL && !ho_quic_conn_is_closing(c) &&
        h->on_stop(slot->app, c)) {
        slot->finishing = true;
        if (h->flush != NULL)
            h->flush(slot->app, c, ho_now_ns()); /* the GOAWAY goes out now */
        return;
    }
    close_conn(q, c);
}

/* A finishing connection closes (H3_NO_ERROR) once nothing is in progress
 * and all it sent was acknowledged (closing earlier would drop the last
 * responses still in flight), or when the grace is over. */
static void stop_check(void *ctx, ho_quic_conn *c)
{
    stop_walk *w = ctx;
    conn_slot *slot = slot_of(c);
    if (slot == NULL || ho_quic_conn_is_closing(c) || ho_quic_conn_is_closed(c))
        return;
    if (!slot->stop_seen && !w->deadline)
        stop_conn(w->q, c, slot);
    if (slot->finishing && !w->deadline &&
        (handler_of(w->q)->busy(slot->app) || !ho_quic_conn_send_settled(c))) {
        w->left++;
        return;
    }
    slot->finishing = false;
    if (!ho_quic_conn_is_closing(c))
        close_conn(w->q, c);
}

static void stop_tick(quic_thread *q)
{
    if (q->all_closed)
        return;
    stop_walk w = {.q = q, .deadline = ho_now_ms() >= q->close_deadline_ms};
    ho_quic_endpoint_foreach(q->ep, stop_check, &w);
    if (w.left == 0) {
        /* Every CONNECTION_CLOSE goes out at this tick; the thread may
         * leave once they are (or the closing periods ended). */
        q->all_closed = true;
        int64_t end = ho_now_ms() + STOP_GRACE_MS;
        if (end < q->stop_deadline_ms)
            q->stop_deadline_ms = end;
    }
}

static void snapshot_stats(quic_thread *q)
{
    ho_quic_endpoint_stats es;
    ho_quic_endpoint_get_stats(q->ep, &es);
    QSTAT_SET(q, connections, es.accepted);
    QSTAT_SET(q, connections_closed, es.freed);
    QSTAT_SET(q, packets_sent, es.packets_sent);
    QSTAT_SET(q, packets_received, es.packets_received);
    QSTAT_SET(q, packets_lost, es.packets_lost);
    QSTAT_SET(q, send_calls, q->sock.send_calls);
    QSTAT_SET(q, vn_sent, es.vn_sent);
    QSTAT_SET(q, retry_sent, es.retry_sent);
    QSTAT_SET(q, resets_sent, es.resets_sent);
    QSTAT_SET(q, refused, es.refused);
    QSTAT_SET(q, admission_retries, es.retry_load);
    QSTAT_SET(q, admission_refused, es.refused_load);
    QSTAT_SET(q, handshakes_in_progress, es.handshakes_in_progress);
    QSTAT_SET(q, new_tokens_issued, es.new_tokens_issued);
    QSTAT_SET(q, new_tokens_accepted, es.new_tokens_accepted);
    QSTAT_SET(q, new_tokens_refused, es.new_tokens_refused);
    QSTAT_SET(q, datagrams_received, es.datagrams_received);
    QSTAT_SET(q, datagrams_dropped, es.datagrams_dropped);
    QSTAT_SET(q, steps_offloaded, es.steps_offloaded);
    QSTAT_SET(q, steps_inline, es.steps_inline);
    QSTAT_SET(q, step_queued, es.step_queued);
    QSTAT_SET(q, step_queue_overflows, es.step_queue_overflows);
    QSTAT_SET(q, step_queue_us, es.step_queue_ns / 1000);
    QSTAT_SET(q, step_out_us, es.step_out_ns / 1000);
    QSTAT_SET(q, async_started, es.async_started);
    QSTAT_SET(q, async_completed, es.async_completed);
    QSTAT_SET(q, async_waiting, es.async_waiting);
    QSTAT_SET(q, initial_too_small, es.short_initials_dropped);
    QSTAT_SET(q, initial_undecryptable, es.initial_undecryptable);
    QSTAT_SET(q, initial_bad_frames, es.initial_bad_frames);
    QSTAT_SET(q, initial_bad_dcid, es.initial_bad_dcid);
    QSTAT_SET(q, initial_bad_token, es.invalid_tokens);
    QSTAT_SET(q, unknown_long, es.unknown_long);
    QSTAT_SET(q, unknown_version, es.unknown_version);
}

/* Sends what every connection has to send. The outputs are gathered, up
 * to TX_REQS of them or TX_AREA bytes, and leave in one sendmmsg: with many
 * connections each sending a datagram or two per tick, one system call per
 * connection was most of the sending cost (issue 16 item 6). */
static void send_all(quic_thread *q)
{
    ho_udp_tx tx[TX_REQS];
    size_t n = 0, used = 0;
    for (;;) {
        size_t room = TX_AREA - used;
        ho_quic_endpoint_out *o = &q->outs[n];
        *o = (ho_quic_endpoint_out){.buf = q->txbuf + used, .cap = room < TX_BUF ? room : TX_BUF};
        size_t w = ho_quic_endpoint_send(q->ep, o, ho_now_ns());
        if (w > 0) {
            tx[n] = (ho_udp_tx){.data = o->buf,
                                .len = o->len,
                                .segment_size = o->segment_size,
                                .peer = (const struct sockaddr *)&o->path.remote,
                                .peer_len = o->path.remote_len,
                                .local = o->path.local_len ? (const struct sockaddr *)&o->path.local : NULL,
                                .local_len = o->path.local_len,
                                .ecn = o->ecn};
            n++;
            used += w;
        }
        if (n > 0 && (w == 0 || n == TX_REQS || TX_AREA - used < TX_ROOM)) {
            /* A full socket buffer drops the rest: QUIC's loss recovery
             * resends what mattered (RFC 9002). */
            (void)ho_udp_send_batch(&q->sock, tx, n);
            if (n >= 2) /* one output per connection: several connections in one call */
                QSTAT_ADD(q, send_gathered, 1);
            n = 0;
            used = 0;
        }
        if (w == 0)
            return;
    }
}

int64_t io_quic_thread_tick(io_thread *t)
{
    quic_thread *q = t->quic;
    if (q == NULL)
        return -1;
    ho_quic_endpoint_handle_timeout(q->ep, ho_now_ns());
    ho_quic_endpoint_foreach_active(q->ep, flush_conn, q);
    if (q->stopping)
        stop_tick(q);
    send_all(q);
    snapshot_stats(q);
    ho_quic_time now = ho_now_ns(), next = ho_quic_endpoint_next_timeout(q->ep);
    int64_t wait = -1;
    if (next != HO_QUIC_TIME_NEVER)
        wait = next <= now ? 0 : (int64_t)((next - now) / 1000000 + 1);
    if (q->stopping) {
        /* Wake when the requests' grace ends, and when the thread may
         * leave. */
        int64_t left = (q->all_closed ? q->stop_deadline_ms : q->close_deadline_ms) - ho_now_ms();
        if (left < 0)
            left = 0;
        if (wait < 0 || left < wait)
            wait = left;
    }
    return wait;
}

void io_quic_thread_begin_stop(io_thread *t)
{
    quic_thread *q = t->quic;
    if (q == NULL || q->stopping)
        return;
    q->stopping = true;
    /* Requests in progress get the server's grace, less the time for the
     * CONNECTION_CLOSEs to go out. */
    int64_t now = ho_now_ms(), grace = (int64_t)t->server->opt.shutdown_grace_ms;
    q->close_deadline_ms = now + (grace > 2 * STOP_GRACE_MS ? grace - STOP_GRACE_MS : STOP_GRACE_MS);
    q->stop_deadline_ms = q->close_deadline_ms + STOP_GRACE_MS;
    /* Each connection finishes what it was asked (handler's on_stop) or
     * closes with the handler's code (HTTP/3: H3_NO_ERROR); a
     * CONNECTION_CLOSE goes out at the next tick. */
    stop_tick(q);
}

size_t io_quic_thread_conns(const io_thread *t)
{
    return t->quic != NULL ? ho_quic_endpoint_conn_count(t->quic->ep) : 0;
}

bool io_quic_thread_done(const io_thread *t)
{
    const quic_thread *q = t->quic;
    if (q == NULL)
        return true;
    /* A connection whose asynchronous callback is out (also one already
     * closed) waits for the application's completion, which must not find
     * the thread (its home) gone: as TCP's async_zombies. */
    ho_quic_endpoint_stats es;
    ho_quic_endpoint_get_stats(q->ep, &es);
    if (es.async_waiting > 0)
        return false;
    return q->stopping && (ho_quic_endpoint_conn_count(q->ep) == 0 || ho_now_ms() >= q->stop_deadline_ms);
}

/* ---- setup ---------------------------------------------------------------- */

static int open_socket(ho_server *s, quic_thread *q)
{
    const ho_quic_listen_spec *sp = &s->qspec;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (ho_sockaddr_parse(sp->bind, s->qport, &ss, &sslen) != HO_OK)
        return HO_ERR_INVALID_ARG;
    ho_udp_options uo = {.no_gso = sp->no_gso, .no_gro = sp->no_gro, .no_ecn = sp->no_ecn, .reuseport = true};
    int err = ho_udp_open(&q->sock, (struct sockaddr *)&ss, sslen, &uo);
    if (err != HO_OK)
        return err;
    ho_udp_local_addr(&q->sock, &q->local);
    return HO_OK;
}

static quic_thread *quic_thread_new(ho_server *s)
{
    quic_thread *q = ho_mem_calloc(1, sizeof(*q));
    if (q == NULL)
        return NULL;
    q->s = s;
    q->sock.fd = -1;
    q->fwd_fd = -1;
    pthread_mutex_init(&q->fwd_lock, NULL);
    return q;
}

void io_quic_thread_free(quic_thread *q)
{
    if (q == NULL)
        return;
    if (q->ep != NULL)
        ho_quic_endpoint_free(q->ep); /* on_conn_free frees each application state */
    if (q->rx != NULL)
        ho_udp_rx_free(q->rx);
    if (q->sock.fd >= 0)
        ho_udp_close(&q->sock);
    if (q->fwd_fd >= 0)
        close(q->fwd_fd);
    for (fwd_item *it = q->fwd_head, *next; it != NULL; it = next) {
        next = it->next;
        ho_mem_free(it);
    }
    pthread_mutex_destroy(&q->fwd_lock);
    ho_mem_free(q->txbuf);
    ho_mem_free(q->outs);
    ho_mem_free(q);
}

int ho_server_listen_quic(ho_server *s, const ho_quic_listen_spec *spec)
{
    if (s->started || s->has_quic || spec == NULL || spec->tls == NULL || spec->handler == NULL ||
        spec->server_id_len > sizeof(spec->server_id))
        return HO_ERR_INVALID_ARG;
    s->qspec = *spec;
    ho_wipe(s->qspec.static_secret, sizeof(s->qspec.static_secret)); /* kept in qsecret only */
    if (s->qspec.server_id_len == 0) {
        s->qspec.server_id[0] = 0;
        s->qspec.server_id_len = 1;
    }
    int err = ho_quic_cid_layout_init(&s->qlayout, s->qspec.config_id, s->qspec.server_id, s->qspec.server_id_len,
                                      s->nthreads);
    if (err != HO_OK) {
        ho_log(HO_LOG_ERROR, "server: QUIC: bad server id or config id (or more than 256 threads)");
        return err;
    }
    if (spec->static_secret_set)
        memcpy(s->qsecret, spec->static_secret, sizeof(s->qsecret));
    else if ((err = ho_random(s->qsecret, sizeof(s->qsecret))) != HO_OK)
        return err;
    if ((err = ho_quic_tls_config_prepare(spec->tls)) != HO_OK)
        return err;
    s->quic0 = quic_thread_new(s);
    if (s->quic0 == NULL)
        return HO_ERR_NOMEM;
    s->qport = spec->port;
    err = open_socket(s, s->quic0);
    if (err != HO_OK) {
        ho_log(HO_LOG_ERROR, "server: cannot bind QUIC on %s UDP port %u: %s", spec->bind ? spec->bind : "0.0.0.0",
               (unsigned)spec->port, strerror(errno));
        io_quic_thread_free(s->quic0);
        s->quic0 = NULL;
        return err;
    }
    const struct sockaddr *sa = (const struct sockaddr *)&s->quic0->local.ss;
    s->qport = ntohs(sa->sa_family == AF_INET ? ((const struct sockaddr_in *)sa)->sin_port
                                              : ((const struct sockaddr_in6 *)sa)->sin6_port);
    s->has_quic = true;
    return HO_OK;
}

/* Called for thread 0, 1, ... in order: the sockets join the reuseport
 * group in thread order, which is the index the BPF program returns. */
int io_quic_thread_setup(ho_server *s, io_thread *t)
{
    if (!s->has_quic)
        return HO_OK;
    quic_thread *q;
    if (t->index == 0) {
        q = s->quic0;
        s->quic0 = NULL;
    } else {
        q = quic_thread_new(s);
        if (q == NULL)
            return HO_ERR_NOMEM;
        int err = open_socket(s, q);
        if (err != HO_OK) {
            io_quic_thread_free(q);
            return err;
        }
    }
    t->quic = q;
    q->t = t;
    const ho_quic_listen_spec *sp = &s->qspec;
    ho_quic_endpoint_config ec = {0};
    ec.conn.is_server = true;
    ec.conn.tls = sp->tls;
    ec.conn.callbacks = (ho_quic_callbacks){
        .ctx = q, .stream_readable = on_readable, .stream_writable = on_writable, .stream_reset = on_reset};
    ec.conn.key_update_packets = sp->key_update_packets;
    memcpy(ec.conn.versions, sp->quic_versions, sizeof(ec.conn.versions));
    ec.conn.cc_name = sp->cc_name;
    ec.conn.no_ecn = sp->no_ecn;
    ec.conn.max_udp_payload = sp->max_udp_payload;
    ec.conn.max_idle_timeout_ms = sp->max_idle_timeout_ms;
    ec.conn.cid_len = s->qlayout.cid_len;
    ec.conn.cid_generate = cid_generate;
    ec.conn.cid_generate_ctx = q;
    ec.force_retry = sp->force_retry;
    ec.new_token_lifetime_ms = sp->new_token_lifetime_ms;
    ec.retry_handshakes = sp->retry_handshakes;
    ec.refuse_handshakes = sp->refuse_handshakes;
    ec.on_accept = on_accept;
    ec.on_conn_free = on_conn_free;
    ec.ctx = q;
    /* Every thread's endpoint shares the secret: a Retry token or a
     * stateless reset made by one is valid on all. */
    memcpy(ec.static_secret, s->qsecret, sizeof(ec.static_secret));
    /* Handshake offload: the QUIC steps go to the pool TCP uses; their
     * done steps come back on this thread's home (drained by on_home on
     * this loop, which then ticks QUIC: the endpoint finishes them). */
    ec.pool = s->pool;
    ec.home = t->home;
    ec.offload = s->opt.offload;
    ec.retry_pool_depth = sp->retry_pool_depth;
    ec.refuse_pool_depth = sp->refuse_pool_depth;
    q->ep = ho_quic_endpoint_new(&ec);
    ho_wipe(ec.static_secret, sizeof(ec.static_secret));
    q->rx = ho_udp_rx_new(RX_BATCH);
    q->txbuf = ho_mem_alloc(TX_AREA);
    q->outs = ho_mem_calloc(TX_REQS, sizeof(*q->outs));
    q->fwd_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (q->ep == NULL || q->rx == NULL || q->txbuf == NULL || q->outs == NULL || q->fwd_fd < 0)
        return HO_ERR_NOMEM;
    int err = ho_loop_add(t->loop, q->sock.fd, EPOLLIN, on_udp, q);
    if (err == HO_OK)
        err = ho_loop_add(t->loop, q->fwd_fd, EPOLLIN, on_fwd, q);
    return err;
}

int io_quic_attach_steering(ho_server *s)
{
    s->qsteering = false;
    if (!s->has_quic || s->nthreads < 2 || s->qspec.no_steering)
        return HO_OK;
    if (io_quic_steer_attach(s->threads[0].quic->sock.fd, &s->qlayout) != HO_OK) {
        ho_log(HO_LOG_WARN, "server: QUIC: the kernel refused the steering program (%s): datagrams that reach "
                            "the wrong thread are handed over",
               strerror(errno));
        return HO_OK;
    }
    s->qsteering = true;
    return HO_OK;
}

/* ---- queries -------------------------------------------------------------- */

uint16_t ho_server_quic_port(const ho_server *s) { return s->has_quic ? s->qport : 0; }

static const quic_thread *first_quic(const ho_server *s)
{
    if (s->quic0 != NULL)
        return s->quic0;
    return s->threads != NULL ? s->threads[0].quic : NULL;
}

void ho_server_quic_socket_features(const ho_server *s, bool *gso, bool *gro, bool *ecn)
{
    const quic_thread *q = first_quic(s);
    *gso = q != NULL && q->sock.gso;
    *gro = q != NULL && q->sock.gro;
    *ecn = q != NULL && q->sock.ecn;
}

bool ho_server_quic_steering(const ho_server *s) { return s->qsteering; }

const ho_quic_cid_layout *ho_server_quic_cid_layout(const ho_server *s) { return s->has_quic ? &s->qlayout : NULL; }

static void add_thread(const quic_thread *q, ho_quic_server_stats *o)
{
#define ADD(f) o->f += QSTAT_GET(q, f)
    ADD(connections);
    ADD(connections_closed);
    ADD(handshakes);
    ADD(resumed);
    ADD(handshakes_pq);
    ADD(client_certs_verified);
    ADD(client_certs_refused);
    ADD(key_updates);
    ADD(requests);
    ADD(vn_sent);
    ADD(retry_sent);
    ADD(resets_sent);
    ADD(refused);
    ADD(admission_retries);
    ADD(admission_refused);
    ADD(handshakes_in_progress);
    ADD(new_tokens_issued);
    ADD(new_tokens_accepted);
    ADD(new_tokens_refused);
    ADD(early_accepted);
    ADD(early_rejected);
    ADD(early_replayed);
    ADD(zero_rtt_received);
    ADD(zero_rtt_accepted);
    ADD(zero_rtt_dropped);
    ADD(datagrams_received);
    ADD(datagrams_dropped);
    ADD(migrations);
    ADD(paths_validated);
    ADD(forwarded);
    ADD(forwarded_in);
    ADD(forward_drops);
    ADD(steps_offloaded);
    ADD(steps_inline);
    ADD(step_queued);
    ADD(step_queue_overflows);
    ADD(step_queue_us);
    ADD(step_out_us);
    ADD(async_started);
    ADD(async_completed);
    ADD(async_waiting);
    ADD(served_during_async);
    ADD(initial_too_small);
    ADD(initial_undecryptable);
    ADD(initial_bad_frames);
    ADD(initial_bad_dcid);
    ADD(initial_bad_token);
    ADD(unknown_long);
    ADD(unknown_version);
    ADD(packets_sent);
    ADD(packets_received);
    ADD(packets_lost);
    ADD(send_calls);
    ADD(send_gathered);
#undef ADD
    hist_load_into(&q->stats.hs_inline, &o->handshake_inline);
    hist_load_into(&q->stats.hs_offloaded, &o->handshake_offloaded);
}

int ho_server_get_quic_stats(const ho_server *s, int thread, ho_quic_server_stats *out)
{
    memset(out, 0, sizeof(*out));
    if (!s->has_quic || (thread >= 0 && (unsigned)thread >= s->nthreads))
        return HO_ERR_NOT_FOUND;
    for (unsigned i = 0; i < s->nthreads; i++) {
        if ((thread < 0 || (unsigned)thread == i) && s->threads[i].quic != NULL)
            add_thread(s->threads[i].quic, out);
    }
    return HO_OK;
}

void ho_quic_server_stats_json_fields(const ho_quic_server_stats *st, ho_buf *out)
{
    char s[3072];
    int n = snprintf(s, sizeof(s),
                     "\"h3_connections\":%" PRIu64 ",\"h3_connections_closed\":%" PRIu64
                     ",\"h3_handshakes\":%" PRIu64 ",\"h3_handshakes_pq\":%" PRIu64 ",\"h3_client_certs_verified\":%" PRIu64
                     ",\"h3_client_certs_refused\":%" PRIu64 ",\"h3_resumed\":%" PRIu64 ",\"h3_key_updates\":%" PRIu64
                     ",\"h3_requests\":%" PRIu64 ",\"h3_vn_sent\":%" PRIu64 ",\"h3_retry_sent\":%" PRIu64
                     ",\"h3_resets_sent\":%" PRIu64 ",\"h3_refused\":%" PRIu64
                     ",\"h3_admission_retries\":%" PRIu64 ",\"h3_admission_refused\":%" PRIu64
                     ",\"h3_handshakes_in_progress\":%" PRIu64
                     ",\"h3_new_tokens_issued\":%" PRIu64 ",\"h3_new_tokens_accepted\":%" PRIu64
                     ",\"h3_new_tokens_refused\":%" PRIu64
                     ",\"h3_early_accepted\":%" PRIu64 ",\"h3_early_rejected\":%" PRIu64
                     ",\"h3_early_replayed\":%" PRIu64 ",\"quic_0rtt_received\":%" PRIu64
                     ",\"quic_0rtt_accepted\":%" PRIu64 ",\"quic_0rtt_dropped\":%" PRIu64
                     ",\"h3_datagrams_received\":%" PRIu64 ",\"h3_datagrams_dropped\":%" PRIu64
                     ",\"h3_migrations\":%" PRIu64 ",\"h3_paths_validated\":%" PRIu64
                     ",\"quic_forwarded\":%" PRIu64 ",\"quic_forwarded_in\":%" PRIu64
                     ",\"quic_forward_drops\":%" PRIu64 ",\"quic_steps_offloaded\":%" PRIu64
                     ",\"quic_steps_inline\":%" PRIu64 ",\"quic_step_queued\":%" PRIu64
                     ",\"quic_step_queue_overflows\":%" PRIu64 ",\"quic_step_queue_us\":%" PRIu64
                     ",\"quic_step_out_us\":%" PRIu64 ",\"h3_async_started\":%" PRIu64
                     ",\"h3_async_completed\":%" PRIu64 ",\"h3_async_waiting\":%" PRIu64
                     ",\"h3_served_during_async\":%" PRIu64 ",\"quic_initial_too_small\":%" PRIu64
                     ",\"quic_initial_undecryptable\":%" PRIu64 ",\"quic_initial_bad_frames\":%" PRIu64
                     ",\"quic_initial_bad_dcid\":%" PRIu64 ",\"quic_initial_bad_token\":%" PRIu64
                     ",\"quic_unknown_long\":%" PRIu64 ",\"quic_unknown_version\":%" PRIu64
                     ",\"quic_packets_sent\":%" PRIu64 ",\"quic_packets_received\":%" PRIu64
                     ",\"quic_packets_lost\":%" PRIu64 ",\"quic_send_calls\":%" PRIu64
                     ",\"quic_send_gathered\":%" PRIu64,
                     st->connections, st->connections_closed, st->handshakes, st->handshakes_pq,
                     st->client_certs_verified, st->client_certs_refused, st->resumed, st->key_updates,
                     st->requests, st->vn_sent, st->retry_sent, st->resets_sent, st->refused,
                     st->admission_retries, st->admission_refused, st->handshakes_in_progress,
                     st->new_tokens_issued, st->new_tokens_accepted, st->new_tokens_refused,
                     st->early_accepted, st->early_rejected, st->early_replayed, st->zero_rtt_received,
                     st->zero_rtt_accepted, st->zero_rtt_dropped,
                     st->datagrams_received, st->datagrams_dropped, st->migrations, st->paths_validated,
                     st->forwarded, st->forwarded_in, st->forward_drops, st->steps_offloaded, st->steps_inline,
                     st->step_queued, st->step_queue_overflows, st->step_queue_us, st->step_out_us,
                     st->async_started, st->async_completed, st->async_waiting, st->served_during_async,
                     st->initial_too_small, st->initial_undecryptable, st->initial_bad_frames, st->initial_bad_dcid,
                     st->initial_bad_token, st->unknown_long, st->unknown_version, st->packets_sent,
                     st->packets_received, st->packets_lost, st->send_calls, st->send_gathered);
    if (n > 0 && (size_t)n < sizeof(s))
        ho_put_bytes(out, s, (size_t)n);
}

void ho_server_quic_stats_json(const ho_server *s, ho_buf *out)
{
    ho_quic_server_stats st;
    ho_put_bytes(out, "{", 1);
    if (ho_server_get_quic_stats(s, -1, &st) == HO_OK) {
        ho_quic_server_stats_json_fields(&st, out);
        char tmp[64];
        int n = snprintf(tmp, sizeof(tmp), ",\"quic_steering\":%s,\"quic_threads\":[",
                         s->qsteering ? "true" : "false");
        ho_put_bytes(out, tmp, (size_t)n);
        for (unsigned i = 0; i < s->nthreads; i++) {
            ho_put_bytes(out, i == 0 ? "{" : ",{", i == 0 ? 1 : 2);
            ho_server_get_quic_stats(s, (int)i, &st);
            ho_quic_server_stats_json_fields(&st, out);
            ho_put_bytes(out, "}", 1);
        }
        ho_put_bytes(out, "]", 1);
    }
    ho_put_bytes(out, "}", 1);
}
