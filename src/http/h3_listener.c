/* HTTP/3 listener: a UDP socket (GSO/GRO, ECN, pktinfo), a QUIC endpoint
 * (demux, Version Negotiation, Retry, stateless reset) and an HTTP/3 server
 * on each connection, driven by one thread: wait for datagrams or the next
 * timer, feed the endpoint, let HTTP/3 write, send what is due. */
#define _GNU_SOURCE
#include "handoff/http_server.h"
#include "handoff/crypto.h"
#include "handoff/quic.h"

#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
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
    _Atomic uint64_t requests;
    _Atomic uint64_t migrations, paths_validated; /* of connections gone */
};

static ho_h3_conn *h3_of(ho_quic_conn *c) { return ho_quic_conn_get_user(c); }

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
    ho_quic_conn_set_user(c, ho_h3_server_attach(c, l->opt.router));
}

static void on_conn_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    ho_h3_listener *l = ctx;
    (void)ep;
    ho_h3_conn *h = h3_of(c);
    if (h != NULL) {
        atomic_fetch_add(&l->requests, ho_h3_requests_served(h));
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(c, &st);
        atomic_fetch_add(&l->migrations, st.migrations);
        atomic_fetch_add(&l->paths_validated, st.paths_validated);
        ho_h3_free(h);
        ho_quic_conn_set_user(c, NULL);
    }
}

static void flush_conn(void *ctx, ho_quic_conn *c)
{
    (void)ctx;
    if (h3_of(c) != NULL)
        ho_h3_flush(h3_of(c), ho_now_ns());
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
    l->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    if (ho_sockaddr_parse(o->bind, o->port, &ss, &sslen) != HO_OK)
        sslen = 0;
    if (l->stop_fd < 0 || sslen == 0 || ho_quic_tls_config_prepare(o->tls) != HO_OK ||
        ho_udp_open(&l->sock, (struct sockaddr *)&ss, sslen, NULL) != HO_OK) {
        ho_h3_listener_free(l);
        return NULL;
    }
    ho_udp_local_addr(&l->sock, &l->local);
    ho_quic_endpoint_config ec = {0};
    ec.conn.is_server = true;
    ec.conn.tls = o->tls;
    ec.conn.callbacks = (ho_quic_callbacks){
        .ctx = l, .stream_readable = on_readable, .stream_writable = on_writable, .stream_reset = on_reset};
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
    free(l);
}

uint64_t ho_h3_listener_requests(const ho_h3_listener *l)
{
    return atomic_load(&((ho_h3_listener *)l)->requests);
}

void ho_h3_listener_path_stats(const ho_h3_listener *l, uint64_t *migrations, uint64_t *paths_validated)
{
    *migrations = atomic_load(&l->migrations);
    *paths_validated = atomic_load(&l->paths_validated);
}
