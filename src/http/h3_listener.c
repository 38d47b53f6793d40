/* HTTP/3 listener: a UDP socket (GSO/GRO, ECN, pktinfo), a QUIC endpoint
 * (demux, Version Negotiation, Retry, stateless reset) and an HTTP/3 server
 * on each connection, driven by one thread: wait for datagrams or the next
 * timer, feed the endpoint, let HTTP/3 write, send what is due. */
#define _GNU_SOURCE
#include "handoff/http_server.h"
#include "handoff/crypto.h"
#include "handoff/quic.h"

#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum { RX_BATCH = 32, TX_BUF = 64 * 1500 };

struct ho_h3_listener {
    ho_h3_listener_options opt;
    ho_udp_socket sock;
    ho_udp_addr local;
    ho_quic_endpoint *ep;
    ho_udp_rx *rx;
    uint8_t *txbuf;
    int stop_fd;
    pthread_t thread;
    bool started;
    /* Counters, written by the QUIC thread, read by ho_h3_listener_get_stats. */
    _Atomic uint64_t requests, handshakes, resumed, key_updates;
    _Atomic uint64_t migrations, paths_validated;
    pthread_mutex_t ep_stats_lock;      /* guards ep_stats, a copy taken each loop */
    ho_quic_endpoint_stats ep_stats;
};

/* A connection's user slot: its HTTP/3 state and what was counted of it. */
typedef struct conn_slot {
    ho_h3_conn *h3;
    bool handshake_counted;
    uint64_t key_updates_counted, migrations_counted, validated_counted;
} conn_slot;

static conn_slot *slot_of(ho_quic_conn *c) { return ho_quic_conn_get_user(c); }
static ho_h3_conn *h3_of(ho_quic_conn *c) { return slot_of(c) != NULL ? slot_of(c)->h3 : NULL; }

static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)ctx;
    if (h3_of(c) != NULL)
        ho_h3_on_stream_readable(h3_of(c), id);
}

static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)ctx;
    if (h3_of(c) != NULL)
        ho_h3_on_stream_writable(h3_of(c), id);
}

static void on_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop_sending)
{
    (void)ctx;
    if (h3_of(c) != NULL)
        ho_h3_on_stream_reset(h3_of(c), id, code, stop_sending);
}

static void on_accept(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    ho_h3_listener *l = ctx;
    (void)ep;
    conn_slot *slot = calloc(1, sizeof(*slot));
    if (slot == NULL)
        return; /* no HTTP/3 on it: the peer sees no responses and times out */
    slot->h3 = ho_h3_server_attach(c, l->opt.router);
    ho_quic_conn_set_user(c, slot);
}

/* Counts what is new on c: a completed handshake (resumed or not) and 1-RTT
 * key updates (RFC 9001 §6), as they happen. */
static void count_conn(ho_h3_listener *l, ho_quic_conn *c, conn_slot *slot)
{
    if (!slot->handshake_counted && ho_quic_conn_handshake_done(c)) {
        slot->handshake_counted = true;
        atomic_fetch_add(&l->handshakes, 1);
        ho_tls *t = ho_quic_conn_tls(c);
        if (t != NULL && ho_tls_is_resumed(t))
            atomic_fetch_add(&l->resumed, 1);
    }
    uint64_t ku = ho_quic_conn_key_updates(c);
    if (ku > slot->key_updates_counted) {
        atomic_fetch_add(&l->key_updates, ku - slot->key_updates_counted);
        slot->key_updates_counted = ku;
    }
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(c, &st);
    if (st.migrations > slot->migrations_counted) {
        atomic_fetch_add(&l->migrations, st.migrations - slot->migrations_counted);
        slot->migrations_counted = st.migrations;
    }
    if (st.paths_validated > slot->validated_counted) {
        atomic_fetch_add(&l->paths_validated, st.paths_validated - slot->validated_counted);
        slot->validated_counted = st.paths_validated;
    }
}

static void on_conn_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    ho_h3_listener *l = ctx;
    (void)ep;
    conn_slot *slot = slot_of(c);
    if (slot == NULL)
        return;
    count_conn(l, c, slot);
    if (slot->h3 != NULL) {
        atomic_fetch_add(&l->requests, ho_h3_requests_served(slot->h3));
        ho_h3_free(slot->h3);
    }
    free(slot);
    ho_quic_conn_set_user(c, NULL);
}

static void flush_conn(void *ctx, ho_quic_conn *c)
{
    conn_slot *slot = slot_of(c);
    if (slot == NULL)
        return;
    count_conn(ctx, c, slot);
    if (slot->h3 != NULL)
        ho_h3_flush(slot->h3, ho_now_ns());
}

static void close_conn(void *ctx, ho_quic_conn *c)
{
    (void)ctx;
    ho_quic_conn_close(c, HO_H3_NO_ERROR, "shutdown", ho_now_ns());
}

static void send_due(ho_h3_listener *l)
{
    ho_quic_endpoint_foreach(l->ep, flush_conn, l);
    ho_quic_endpoint_out out = {.buf = l->txbuf, .cap = TX_BUF};
    while (ho_quic_endpoint_send(l->ep, &out, ho_now_ns()) > 0) {
        (void)ho_udp_send(&l->sock, out.buf, out.len, out.segment_size, (struct sockaddr *)&out.path.remote,
                          out.path.remote_len, out.path.local_len ? (struct sockaddr *)&out.path.local : NULL,
                          out.path.local_len, out.ecn);
        out = (ho_quic_endpoint_out){.buf = l->txbuf, .cap = TX_BUF};
    }
}

static void receive_all(ho_h3_listener *l)
{
    ho_udp_dgram *d;
    int n;
    while ((n = ho_udp_recv_batch(&l->sock, l->rx, &d)) > 0) {
        for (int i = 0; i < n; i++) {
            ho_quic_path path = {0};
            const ho_udp_addr *local = d[i].local.len != 0 ? &d[i].local : &l->local;
            path.local = local->ss;
            path.local_len = local->len;
            path.remote = d[i].peer.ss;
            path.remote_len = d[i].peer.len;
            path.ecn = d[i].ecn;
            ho_quic_endpoint_receive(l->ep, d[i].data, d[i].len, &path, ho_now_ns());
        }
    }
}

static void *listener_main(void *arg)
{
    ho_h3_listener *l = arg;
    pthread_setname_np(pthread_self(), "ho-quic");
    ho_quic_time stop_deadline = HO_QUIC_TIME_NEVER;
    for (;;) {
        ho_quic_time now = ho_now_ns();
        ho_quic_time next = ho_quic_endpoint_next_timeout(l->ep);
        int wait_ms = 1000;
        if (next != HO_QUIC_TIME_NEVER)
            wait_ms = next <= now ? 0 : (int)((next - now) / 1000000 + 1);
        if (wait_ms > 1000)
            wait_ms = 1000;
        struct pollfd p[2] = {{.fd = l->sock.fd, .events = POLLIN}, {.fd = l->stop_fd, .events = POLLIN}};
        int n = poll(p, stop_deadline == HO_QUIC_TIME_NEVER ? 2 : 1, wait_ms);
        if (n > 0 && (p[0].revents & POLLIN))
            receive_all(l);
        if (stop_deadline == HO_QUIC_TIME_NEVER && n > 0 && (p[1].revents & POLLIN)) {
            /* Stop: close every connection (CONNECTION_CLOSE with
             * H3_NO_ERROR goes out below), then leave after a short grace. */
            ho_quic_endpoint_foreach(l->ep, close_conn, l);
            stop_deadline = ho_now_ns() + 200 * 1000000LL;
        }
        ho_quic_endpoint_handle_timeout(l->ep, ho_now_ns());
        send_due(l);
        pthread_mutex_lock(&l->ep_stats_lock);
        ho_quic_endpoint_get_stats(l->ep, &l->ep_stats);
        pthread_mutex_unlock(&l->ep_stats_lock);
        if (stop_deadline != HO_QUIC_TIME_NEVER && ho_now_ns() >= stop_deadline)
            break;
    }
    return NULL;
}

ho_h3_listener *ho_h3_listener_new(const ho_h3_listener_options *o)
{
    if (o == NULL || o->tls == NULL || o->router == NULL)
        return NULL;
    ho_h3_listener *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->opt = *o;
    l->sock.fd = -1;
    pthread_mutex_init(&l->ep_stats_lock, NULL);
    l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (ho_sockaddr_parse(o->bind, o->port, &ss, &sslen) != HO_OK)
        sslen = 0;
    if (l->stop_fd < 0 || sslen == 0 || ho_quic_tls_config_prepare(o->tls) != HO_OK ||
        ho_udp_open(&l->sock, (struct sockaddr *)&ss, sslen,
                    &(ho_udp_options){.no_gso = o->no_gso, .no_gro = o->no_gro, .no_ecn = o->no_ecn}) != HO_OK) {
        ho_h3_listener_free(l);
        return NULL;
    }
    ho_udp_local_addr(&l->sock, &l->local);
    ho_quic_endpoint_config ec = {0};
    ec.conn.is_server = true;
    ec.conn.tls = o->tls;
    ec.conn.callbacks = (ho_quic_callbacks){
        .ctx = l, .stream_readable = on_readable, .stream_writable = on_writable, .stream_reset = on_reset};
    ec.conn.key_update_packets = o->key_update_packets;
    ec.conn.no_ecn = o->no_ecn;
    ec.conn.max_udp_payload = o->max_udp_payload;
    ec.force_retry = o->force_retry;
    ec.on_accept = on_accept;
    ec.on_conn_free = on_conn_free;
    ec.ctx = l;
    if (ho_random(ec.static_secret, sizeof(ec.static_secret)) != HO_OK) {
        ho_h3_listener_free(l);
        return NULL;
    }
    l->ep = ho_quic_endpoint_new(&ec);
    ho_wipe(ec.static_secret, sizeof(ec.static_secret));
    l->rx = ho_udp_rx_new(RX_BATCH);
    l->txbuf = malloc(TX_BUF);
    if (l->ep == NULL || l->rx == NULL || l->txbuf == NULL) {
        ho_h3_listener_free(l);
        return NULL;
    }
    return l;
}

int ho_h3_listener_start(ho_h3_listener *l)
{
    if (l->started)
        return HO_ERR_INVALID_ARG;
    if (pthread_create(&l->thread, NULL, listener_main, l) != 0)
        return HO_ERR_NOMEM;
    l->started = true;
    return HO_OK;
}

void ho_h3_listener_free(ho_h3_listener *l)
{
    if (l == NULL)
        return;
    if (l->started) {
        uint64_t one = 1;
        ssize_t n = write(l->stop_fd, &one, sizeof(one));
        (void)n;
        pthread_join(l->thread, NULL);
    }
    if (l->ep != NULL)
        ho_quic_endpoint_free(l->ep); /* on_conn_free frees each HTTP/3 state */
    if (l->rx != NULL)
        ho_udp_rx_free(l->rx);
    if (l->sock.fd >= 0)
        ho_udp_close(&l->sock);
    if (l->stop_fd >= 0)
        close(l->stop_fd);
    free(l->txbuf);
    pthread_mutex_destroy(&l->ep_stats_lock);
    free(l);
}

uint64_t ho_h3_listener_requests(const ho_h3_listener *l)
{
    return atomic_load(&((ho_h3_listener *)l)->requests);
}

void ho_h3_listener_get_stats(const ho_h3_listener *cl, ho_h3_listener_stats *st)
{
    ho_h3_listener *l = (ho_h3_listener *)cl; /* atomics and the lock */
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&l->ep_stats_lock);
    ho_quic_endpoint_stats ep = l->ep_stats;
    pthread_mutex_unlock(&l->ep_stats_lock);
    st->connections = ep.accepted;
    st->connections_closed = ep.freed;
    st->handshakes = atomic_load(&l->handshakes);
    st->resumed = atomic_load(&l->resumed);
    st->key_updates = atomic_load(&l->key_updates);
    st->migrations = atomic_load(&l->migrations);
    st->paths_validated = atomic_load(&l->paths_validated);
    st->requests = atomic_load(&l->requests);
    st->vn_sent = ep.vn_sent;
    st->retry_sent = ep.retry_sent;
    st->datagrams_received = ep.datagrams_received;
    st->datagrams_dropped = ep.datagrams_dropped;
}

void ho_h3_listener_stats_json(const ho_h3_listener_stats *st, ho_buf *out)
{
    char s[1024];
    int n = snprintf(s, sizeof(s),
                     "{\"h3_connections\":%" PRIu64 ",\"h3_connections_closed\":%" PRIu64
                     ",\"h3_handshakes\":%" PRIu64 ",\"h3_resumed\":%" PRIu64 ",\"h3_key_updates\":%" PRIu64
                     ",\"h3_requests\":%" PRIu64 ",\"h3_vn_sent\":%" PRIu64 ",\"h3_retry_sent\":%" PRIu64
                     ",\"h3_datagrams_received\":%" PRIu64 ",\"h3_datagrams_dropped\":%" PRIu64
                     ",\"h3_migrations\":%" PRIu64 ",\"h3_paths_validated\":%" PRIu64 "}",
                     st->connections, st->connections_closed, st->handshakes, st->resumed, st->key_updates,
                     st->requests, st->vn_sent, st->retry_sent, st->datagrams_received, st->datagrams_dropped,
                     st->migrations, st->paths_validated);
    if (n > 0 && (size_t)n < sizeof(s))
        ho_put_bytes(out, s, (size_t)n);
}

void ho_h3_listener_socket_features(const ho_h3_listener *l, bool *gso, bool *gro, bool *ecn)
{
    *gso = l->sock.gso;
    *gro = l->sock.gro;
    *ecn = l->sock.ecn;
}
