/*
 * ho_h3_fetch: one HTTP/3 GET over a connected UDP socket with a blocking
 * poll loop — the library piece behind a command-line "get --h3". The QUIC
 * connection stays sans-I/O; the socket, the clock and the loop live here.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff/http.h"
#include "handoff/io.h"

#define IO_BUF 65536 /* one GSO batch out */
#define RX_BATCH 16  /* recvmmsg messages per call (each up to 64 KiB with GRO) */

static ho_quic_time fetch_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ho_quic_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void f_readable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_readable(*(ho_h3_conn **)ctx, id); }
static void f_writable(void *ctx, ho_quic_conn *c, uint64_t id) { ho_h3_on_stream_writable(*(ho_h3_conn **)ctx, id); }
static void f_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    ho_h3_on_stream_reset(*(ho_h3_conn **)ctx, id, code, stop);
}

/* A UDP socket (ho_udp: GSO sends, GRO + recvmmsg receives) bound to the
 * wildcard address of the server's family and connected to it, so that only
 * its datagrams arrive and an ICMP "port unreachable" surfaces. */
static int udp_connect(const char *host, const char *port, ho_udp_socket *us, struct sockaddr_storage *peer,
                       socklen_t *peer_len)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return HO_ERR_IO;
    int rc = HO_ERR_IO;
    for (struct addrinfo *ai = res; ai != NULL && rc != HO_OK; ai = ai->ai_next) {
        struct sockaddr_storage any = {.ss_family = (sa_family_t)ai->ai_family};
        socklen_t any_len = ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        ho_udp_options uo = {.no_ecn = true, .no_pktinfo = true};
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ho_udp_open(us, (struct sockaddr *)&any, any_len, &uo) != HO_OK)
            continue;
        if (connect(us->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            ho_udp_close(us);
            continue;
        }
        memcpy(peer, ai->ai_addr, ai->ai_addrlen);
        *peer_len = ai->ai_addrlen;
        rc = HO_OK;
    }
    freeaddrinfo(res);
    return rc;
}

int ho_h3_fetch(const ho_h3_fetch_opts *o, ho_h3_response *out)
{
    memset(out, 0, sizeof(*out));
    ho_buf_init(&out->body);
    out->content_length = -1;
    if (o == NULL || o->host == NULL || o->port == NULL || o->path == NULL)
        return HO_ERR_INVALID_ARG;
    ho_tls_config *tls = o->tls, *own_tls = NULL;
    if (tls == NULL) {
        own_tls = tls = ho_tls_config_new(false);
        if (tls == NULL)
            return HO_ERR_NOMEM;
        const char *alpn[] = {"h3"}; /* RFC 9114 §3.1 */
        ho_tls_config_set_alpn(tls, alpn, 1);
        ho_tls_config_set_verify_peer(tls, !o->insecure);
        ho_quic_tls_config_prepare(tls);
    }
    ho_udp_socket us;
    struct sockaddr_storage peer;
    socklen_t peer_len = 0;
    if (udp_connect(o->host, o->port, &us, &peer, &peer_len) != HO_OK) {
        ho_tls_config_free(own_tls);
        return HO_ERR_IO;
    }
    ho_udp_rx *rx = ho_udp_rx_new(RX_BATCH);
    char authority[300];
    if (o->authority != NULL)
        snprintf(authority, sizeof(authority), "%s", o->authority);
    else
        snprintf(authority, sizeof(authority), strchr(o->host, ':') ? "[%s]:%s" : "%s:%s", o->host, o->port);

    ho_h3_conn *h3 = NULL;
    ho_quic_config cfg = {
        .tls = tls,
        .server_name = o->server_name != NULL ? o->server_name : o->host,
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = &h3, .stream_readable = f_readable, .stream_writable = f_writable,
                      .stream_reset = f_reset},
    };
    int rc = HO_ERR_NOMEM;
    ho_quic_conn *c = ho_quic_conn_new_client(&cfg, NULL, fetch_now());
    if (c != NULL && rx != NULL)
        h3 = ho_h3_client_attach(c);
    if (h3 == NULL)
        goto done;
    ho_h3_response *r = NULL;
    const ho_quic_time idle = (ho_quic_time)(o->timeout_ms > 0 ? o->timeout_ms : 10000) * 1000000;
    ho_quic_time deadline = fetch_now() + idle; /* moved on by every datagram received */
    bool closing = false, heard = false;
    rc = HO_ERR_WOULD_BLOCK; /* timed out unless set below */
    uint8_t *io = malloc(IO_BUF);
    if (io == NULL) {
        rc = HO_ERR_NOMEM;
        goto done;
    }
    while (fetch_now() < deadline && !ho_quic_conn_is_closed(c)) {
        if (r == NULL && ho_quic_conn_handshake_done(c)) {
            int e = ho_h3_client_get(h3, authority, o->path, o->accept_encoding, &r);
            if (e != HO_OK && e != HO_ERR_WOULD_BLOCK) {
                rc = e;
                break;
            }
            if (r != NULL) {
                r->on_body = o->on_body;
                r->on_body_ctx = o->body_ctx;
            }
        }
        if (!closing && r != NULL && r->body_failed) {
            ho_quic_conn_close(c, HO_H3_REQUEST_CANCELLED, "", fetch_now());
            closing = true;
        }
        if (!closing && r != NULL && (r->complete || r->reset)) {
            /* RFC 9114 §5.2: a client may close at any time; H3_NO_ERROR. */
            ho_quic_conn_close(c, HO_H3_NO_ERROR, "", fetch_now());
            closing = true;
        }
        ho_h3_flush(h3, fetch_now());
        for (;;) {
            size_t seg;
            size_t n = ho_quic_conn_send(c, io, IO_BUF, &seg, fetch_now());
            if (n == 0)
                break;
            /* One GSO send; a full socket buffer or an ICMP error drops the
             * batch, which QUIC's loss recovery treats as lost. */
            (void)ho_udp_send(&us, io, n, seg, (const struct sockaddr *)&peer, peer_len, NULL, 0, 0);
        }
        if (closing || ho_quic_conn_is_closing(c))
            break; /* our CONNECTION_CLOSE is out, or the peer closed */
        int timeout_ms = 50;
        ho_quic_time t = ho_quic_conn_next_timeout(c), now = fetch_now();
        if (t != HO_QUIC_TIME_NEVER) {
            int64_t ms = t > now ? (t - now) / 1000000 + 1 : 0;
            if (ms < timeout_ms)
                timeout_ms = (int)ms;
        }
        struct pollfd pfd = {.fd = us.fd, .events = POLLIN};
        poll(&pfd, 1, timeout_ms);
        ho_udp_dgram *d;
        int n;
        while ((n = ho_udp_recv_batch(&us, rx, &d)) > 0) {
            ho_quic_time now_rx = fetch_now();
            for (int i = 0; i < n; i++)
                ho_quic_conn_receive(c, d[i].data, d[i].len, NULL, now_rx);
            deadline = now_rx + idle;
            heard = true;
        }
        if (n == HO_ERR_IO && errno == ECONNREFUSED && !heard) {
            rc = HO_ERR_IO; /* ICMP port unreachable before any answer: nobody listens */
            break;
        }
        if (ho_quic_conn_next_timeout(c) <= fetch_now())
            ho_quic_conn_handle_timeout(c, fetch_now());
    }
    if (r != NULL && (r->complete || r->reset)) {
        ho_buf body = out->body;
        *out = *r;
        out->body = r->body; /* hand the body over */
        ho_buf_init(&r->body);
        ho_buf_free(&body);
        rc = r->body_failed ? HO_ERR_IO : r->complete ? HO_OK : HO_ERR_CLOSED;
    } else if (r != NULL && r->body_failed) {
        rc = HO_ERR_IO;
    } else if (ho_quic_conn_is_closing(c) || ho_quic_conn_is_closed(c)) {
        rc = ho_quic_conn_error(c) != HO_OK ? ho_quic_conn_error(c) : HO_ERR_CLOSED;
    }
    free(io);
done:
    ho_h3_free(h3);
    ho_quic_conn_free(c);
    ho_udp_rx_free(rx);
    ho_udp_close(&us);
    ho_tls_config_free(own_tls);
    return rc;
}
