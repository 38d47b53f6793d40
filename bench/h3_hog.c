/*
 * h3_hog — an HTTP/3 client that asks for a lot and reads nothing, for the
 * memory checks of stress/memory.sh (issue 12).
 *
 *   h3_hog [options] ADDR:PORT
 *     -c N          connections (default 1)
 *     -s N          request streams per connection (default: as many as the
 *                   server's MAX_STREAMS allows, initial_max_streams_bidi)
 *     -p PATH       request target (default /)
 *     --post BYTES  POST a body of BYTES bytes on every stream (default: GET)
 *     --insecure    accepted for symmetry with quic_load (never verifies)
 *
 * Each connection completes its handshake, opens its HTTP/3 control and
 * QPACK streams (ho_h3_client_attach) and then its request streams, with
 * HEADERS (QPACK static table and literals only) and, for --post, DATA
 * frames written straight onto the QUIC streams. It never reads a request
 * stream: the QUIC layer gives flow-control credit only as bytes are read,
 * so every response stream's window stays at its initial value and the
 * server can send no more than that. It keeps ACKing (the connection must
 * live) and answers the server's control streams.
 *
 * Prints "ready CONNS STREAMS" once every connection has written all its
 * requests (the POST bodies: as far as the server's flow control lets them),
 * then a status line every second ("conns N open, resets R"), and runs until
 * SIGTERM / SIGINT. Exit 1 when a connection failed before it was ready.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "handoff/http.h"
#include "handoff/io.h"
#include "handoff/quic.h"

#define TXBUF 65536
#define MAX_STREAMS 1000

typedef struct req {
    uint64_t id;
    uint64_t body_left; /* POST body bytes still to write */
    bool head_done, done;
} req;

typedef struct hog {
    ho_udp_socket sock;
    ho_quic_path path;
    ho_quic_conn *c;
    ho_h3_conn *h3;
    req *reqs;
    size_t nreqs;
    bool hs, opened_all, ready, dead;
    uint64_t resets;
    int64_t next_to;
} hog;

static const char *g_path = "/";
static uint64_t g_post;  /* 0: GET */
static long g_streams = -1;
static char g_authority[64];
static uint8_t g_zero[1 << 16];
static uint8_t g_tx[TXBUF];
static volatile sig_atomic_t g_stop;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_stop(int sig) { (void)sig, g_stop = 1; }

static void on_hs(void *ctx, ho_quic_conn *c) { (void)c, ((hog *)ctx)->hs = true; }
static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    if ((id & 2) != 0) /* control / QPACK streams: read; request streams: never */
        ho_h3_on_stream_readable(((hog *)ctx)->h3, id);
}
static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    if ((id & 2) != 0)
        ho_h3_on_stream_writable(((hog *)ctx)->h3, id);
}
static void on_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    (void)c;
    hog *g = ctx;
    if ((id & 2) != 0)
        ho_h3_on_stream_reset(g->h3, id, code, stop);
    else
        g->resets++;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    if (v < 64) {
        p[0] = (uint8_t)v;
        return 1;
    }
    if (v < 16384) {
        p[0] = (uint8_t)(0x40 | v >> 8);
        p[1] = (uint8_t)v;
        return 2;
    }
    p[0] = (uint8_t)(0x80 | v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return 4; /* callers keep v < 2^30 */
}

/* A literal field line with a static name reference (RFC 9204 §4.5.4). */
static size_t put_literal(uint8_t *p, unsigned idx, const char *v)
{
    size_t n = strlen(v), k = 0;
    p[k++] = (uint8_t)(0x50 | idx); /* idx < 15 */
    p[k++] = (uint8_t)n;            /* n < 127, no Huffman */
    memcpy(p + k, v, n);
    return k + n;
}

/* HEADERS (and the DATA frame header for a POST) of one request. */
static size_t request_head(uint8_t *out)
{
    uint8_t fs[512];
    size_t n = 0;
    fs[n++] = 0; /* Required Insert Count 0 (RFC 9204 §4.5.1) */
    fs[n++] = 0; /* Base 0 */
    fs[n++] = g_post ? 0xc0 | 20 : 0xc0 | 17; /* :method POST / GET (Appendix A) */
    fs[n++] = 0xc0 | 23;                      /* :scheme https */
    n += put_literal(fs + n, 0, g_authority); /* :authority */
    n += put_literal(fs + n, 1, g_path);      /* :path */
    if (g_post) {
        char cl[24];
        snprintf(cl, sizeof(cl), "%llu", (unsigned long long)g_post);
        n += put_literal(fs + n, 4, cl); /* content-length */
    }
    size_t k = 0;
    out[k++] = 0x01; /* HEADERS (RFC 9114 §7.2.2) */
    k += put_varint(out + k, n);
    memcpy(out + k, fs, n);
    k += n;
    if (g_post) {
        out[k++] = 0x00; /* DATA */
        k += put_varint(out + k, g_post);
    }
    return k;
}

static int hog_open(hog *g, const struct sockaddr_storage *addr, socklen_t alen, ho_tls_config *tls, int ep)
{
    struct sockaddr_storage any = {.ss_family = addr->ss_family};
    ho_udp_options uo = {.no_pktinfo = true};
    if (ho_udp_open(&g->sock, (struct sockaddr *)&any, alen, &uo) != HO_OK)
        return -1;
    if (connect(g->sock.fd, (const struct sockaddr *)addr, alen) != 0)
        return -1;
    memcpy(&g->path.remote, addr, alen);
    g->path.remote_len = alen;
    g->path.local_len = sizeof(g->path.local);
    if (getsockname(g->sock.fd, (struct sockaddr *)&g->path.local, &g->path.local_len) != 0)
        g->path.local_len = 0;
    ho_quic_config cfg = {
        .tls = tls,
        .server_name = "localhost",
        .max_idle_timeout_ms = 600000,
        .stream_send_buffer = (size_t)1 << 30, /* bodies are written by reference */
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = g, .handshake_done = on_hs, .stream_readable = on_readable,
                      .stream_writable = on_writable, .stream_reset = on_reset},
    };
    int64_t now = now_ns();
    g->c = ho_quic_conn_new_client(&cfg, &g->path, now);
    g->h3 = g->c != NULL ? ho_h3_client_attach(g->c) : NULL;
    g->reqs = calloc(MAX_STREAMS, sizeof(req));
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = g};
    if (g->h3 == NULL || g->reqs == NULL || epoll_ctl(ep, EPOLL_CTL_ADD, g->sock.fd, &ev) != 0)
        return -1;
    return 0;
}

static void hog_send(hog *g, int64_t now)
{
    ho_h3_flush(g->h3, now);
    size_t len, seg;
    while ((len = ho_quic_conn_send(g->c, g_tx, TXBUF, &seg, now)) > 0)
        (void)ho_udp_send(&g->sock, g_tx, len, seg, (const struct sockaddr *)&g->path.remote, g->path.remote_len, NULL,
                          0, ho_quic_conn_ecn_codepoint(g->c));
    g->next_to = ho_quic_conn_next_timeout(g->c);
}

/* Opens request streams and writes what it can of every request. */
static void hog_service(hog *g, int64_t now)
{
    if (g->dead)
        return;
    if (ho_quic_conn_is_closing(g->c) || ho_quic_conn_is_closed(g->c)) {
        bool app = false, by_peer = false;
        uint64_t code = ho_quic_conn_close_code(g->c, &app, &by_peer);
        fprintf(stderr, "h3_hog: connection closed: %s (%s %s error 0x%llx)\n", ho_err_str(ho_quic_conn_error(g->c)),
                by_peer ? "peer" : "local", app ? "application" : "transport", (unsigned long long)code);
        g->dead = true;
        return;
    }
    if (g->hs) {
        ho_h3_flush(g->h3, now); /* binds the control and QPACK streams */
        while (!g->opened_all) {
            if ((g_streams >= 0 && g->nreqs >= (size_t)g_streams) || g->nreqs == MAX_STREAMS) {
                g->opened_all = true;
                break;
            }
            uint64_t id;
            int rc = ho_quic_stream_open(g->c, true, &id);
            if (rc == HO_ERR_WOULD_BLOCK && g_streams < 0) {
                g->opened_all = true; /* the server's MAX_STREAMS */
                break;
            }
            if (rc != HO_OK)
                break;
            g->reqs[g->nreqs++] = (req){.id = id, .body_left = g_post};
        }
        bool all = g->opened_all;
        uint8_t head[600];
        size_t hl = request_head(head);
        for (size_t i = 0; i < g->nreqs; i++) {
            req *r = &g->reqs[i];
            size_t w = 0;
            if (!r->head_done) {
                if (ho_quic_stream_write(g->c, r->id, head, hl, g_post == 0, &w) != HO_OK || w < hl) {
                    all = false; /* an unlikely partial HEADERS would be resent whole: stop here */
                    continue;
                }
                r->head_done = true;
            }
            while (r->body_left > 0) {
                size_t n = r->body_left < sizeof(g_zero) ? (size_t)r->body_left : sizeof(g_zero);
                if (ho_quic_stream_write_ref(g->c, r->id, g_zero, n, r->body_left == n, NULL, NULL, &w) != HO_OK)
                    break;
                r->body_left -= w;
                if (w < n)
                    break;
            }
            if (r->body_left == 0)
                r->done = true;
            else
                all = false;
        }
        if (all && !g->ready)
            g->ready = true;
    }
    hog_send(g, now);
}

static void usage(void)
{
    fprintf(stderr, "usage: h3_hog [-c CONNS] [-s STREAMS] [-p PATH] [--post BYTES] ADDR:PORT\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long conns = 1;
    const char *target = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 && i + 1 < argc)
            conns = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "-s") == 0 && i + 1 < argc)
            g_streams = strtol(argv[++i], NULL, 10);
        else if (strcmp(a, "-p") == 0 && i + 1 < argc)
            g_path = argv[++i];
        else if (strcmp(a, "--post") == 0 && i + 1 < argc)
            g_post = strtoull(argv[++i], NULL, 10);
        else if (strcmp(a, "--insecure") == 0)
            ;
        else if (a[0] != '-' && target == NULL)
            target = a;
        else
            usage();
    }
    if (target == NULL || conns < 1 || conns > 100000 || strlen(g_path) > 120 || g_post >= (1ull << 30) ||
        g_streams > MAX_STREAMS)
        usage();
    char host[64];
    const char *colon = strrchr(target, ':');
    if (colon == NULL || (size_t)(colon - target) >= sizeof(host))
        usage();
    memcpy(host, target, (size_t)(colon - target));
    host[colon - target] = '\0';
    struct sockaddr_storage addr = {0};
    struct sockaddr_in *sin = (struct sockaddr_in *)&addr;
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        usage();
    snprintf(g_authority, sizeof(g_authority), "%s", target);

    static const char *const alpn[] = {"h3"};
    ho_tls_config *tls = ho_tls_config_new(false);
    if (tls == NULL || ho_tls_config_set_alpn(tls, alpn, 1) != HO_OK)
        return 1;
    ho_tls_config_set_verify_peer(tls, false);
    ho_quic_tls_config_prepare(tls);

    signal(SIGTERM, on_stop);
    signal(SIGINT, on_stop);
    int ep = epoll_create1(0);
    hog *gs = calloc((size_t)conns, sizeof(hog));
    ho_udp_rx *rx = ho_udp_rx_new(16);
    if (ep < 0 || gs == NULL || rx == NULL)
        return 1;
    /* Connections are opened a few at a time (a burst of handshakes would
     * only measure the server's handshake queue). */
    long opened = 0;
    bool ready_said = false;
    int64_t next_status = 0, started = now_ns();
    while (!g_stop) {
        int64_t now = now_ns();
        long est = 0, ready = 0, open = 0;
        for (long i = 0; i < opened; i++)
            est += gs[i].hs;
        while (opened < conns && opened - est < 16) {
            if (hog_open(&gs[opened], &addr, sizeof(*sin), tls, ep) != 0) {
                fprintf(stderr, "h3_hog: cannot open connection %ld\n", opened);
                return 1;
            }
            hog_service(&gs[opened++], now);
        }
        uint64_t resets = 0;
        size_t streams = 0;
        est = 0;
        for (long i = 0; i < opened; i++) {
            est += gs[i].hs;
            ready += gs[i].ready;
            open += !gs[i].dead;
            resets += gs[i].resets;
            streams += gs[i].nreqs;
        }
        if (!ready_said && ready == conns) {
            printf("ready %ld %zu\n", conns, streams);
            fflush(stdout);
            ready_said = true;
        }
        if (!ready_said && open < opened) {
            fprintf(stderr, "h3_hog: %ld connections closed before ready\n", opened - open);
            return 1;
        }
        if (now >= next_status) {
            printf("conns %ld open, %ld established, %ld ready, %zu streams, resets %llu, %.1f s\n", open, est,
                   ready, streams, (unsigned long long)resets, (double)(now - started) / 1e9);
            fflush(stdout);
            next_status = now + 1000000000LL;
        }
        int64_t next = now + 100000000LL;
        for (long i = 0; i < opened; i++)
            if (!gs[i].dead && gs[i].next_to < next)
                next = gs[i].next_to;
        struct epoll_event evs[256];
        int wait_ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        int n = epoll_wait(ep, evs, 256, wait_ms);
        for (int i = 0; i < n; i++) {
            hog *g = evs[i].data.ptr;
            ho_udp_dgram *d;
            int got;
            while ((got = ho_udp_recv_batch(&g->sock, rx, &d)) > 0) {
                int64_t t = now_ns();
                for (int k = 0; k < got; k++) {
                    g->path.ecn = d[k].ecn;
                    ho_quic_conn_receive(g->c, d[k].data, d[k].len, &g->path, t);
                }
            }
            hog_service(g, now_ns());
        }
        now = now_ns();
        for (long i = 0; i < opened; i++)
            if (!gs[i].dead && gs[i].next_to <= now) {
                ho_quic_conn_handle_timeout(gs[i].c, now);
                hog_service(&gs[i], now);
            }
    }
    for (long i = 0; i < opened; i++) {
        if (gs[i].c != NULL && !ho_quic_conn_is_closed(gs[i].c)) {
            ho_quic_conn_close(gs[i].c, HO_H3_NO_ERROR, "", now_ns());
            hog_send(&gs[i], now_ns());
        }
        ho_h3_free(gs[i].h3);
        ho_quic_conn_free(gs[i].c);
        ho_udp_close(&gs[i].sock);
        free(gs[i].reqs);
    }
    free(gs);
    ho_udp_rx_free(rx);
    ho_tls_config_free(tls);
    close(ep);
    return 0;
}
