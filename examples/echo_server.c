/*
 * echo_server — the smallest QUIC server built on handoff: every
 * bidirectional stream a client opens is sent back to it, byte for byte,
 * followed by FIN, and every DATAGRAM frame (RFC 9221) comes back as one.
 *
 *   echo_server [PORT [CERT.pem KEY.pem]]
 *
 * PORT 0 (the default) lets the kernel pick; the port is printed on stdout.
 * Without CERT/KEY a self-signed certificate for "localhost" is generated
 * (clients then need --insecure). ALPN is "echo". SIGINT/SIGTERM stop it.
 *
 * The pieces (all public API):
 *   ho_tls_config    the TLS 1.3 configuration: certificate, ALPN;
 *   ho_quic_endpoint the sans-I/O QUIC server: it accepts connections and
 *                    owns them; it never touches a socket or a clock;
 *   ho_udp_socket    a UDP socket with batched receive (recvmmsg + GRO) and
 *                    send (GSO);
 *   the loop below   moves datagrams between the two and keeps time.
 */
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/crypto.h"
#include "handoff/io.h"
#include "handoff/quic.h"

/* Echo bytes that did not fit into a stream's send buffer yet. */
typedef struct pending {
    struct pending *next;
    uint64_t id;
    uint8_t *data;
    size_t len, off;
    bool fin;
} pending;

/* A DATAGRAM frame goes back as it came (unreliable both ways: if the
 * queue is full it is dropped, as the network could have). */
static void on_datagram(void *ctx, ho_quic_conn *c, const uint8_t *data, size_t len)
{
    (void)ctx;
    ho_quic_conn_send_datagram(c, data, len);
}

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig, stop = 1; }

/* A connection's pending entries hang off its user slot. */
static pending *find(ho_quic_conn *c, uint64_t id)
{
    pending *p = ho_quic_conn_get_user(c);
    while (p != NULL && p->id != id)
        p = p->next;
    return p;
}

static void drop(ho_quic_conn *c, pending *p)
{
    pending *h = ho_quic_conn_get_user(c);
    if (h == p) {
        ho_quic_conn_set_user(c, p->next);
    } else {
        while (h->next != p)
            h = h->next;
        h->next = p->next;
    }
    free(p->data);
    free(p);
}

/* Writes what is pending on stream id; true when nothing is left. */
static bool flush_pending(ho_quic_conn *c, uint64_t id)
{
    pending *p = find(c, id);
    if (p == NULL)
        return true;
    size_t n = 0;
    ho_quic_stream_write(c, id, p->data + p->off, p->len - p->off, p->fin, &n);
    p->off += n;
    if (p->off < p->len)
        return false; /* the stream_writable callback brings us back */
    drop(c, p);
    return true;
}

/* Reads everything readable on stream id and writes it back. Data that does
 * not fit is kept in a pending entry; until it is written we stop reading,
 * so QUIC flow control slows the client down instead of our memory growing. */
static void pump(ho_quic_conn *c, uint64_t id)
{
    uint8_t buf[16384];
    while (flush_pending(c, id)) {
        size_t n = 0, w = 0;
        bool fin = false;
        if (ho_quic_stream_read(c, id, buf, sizeof(buf), &n, &fin) != HO_OK || (n == 0 && !fin))
            return; /* nothing more for now (or the stream is gone) */
        if ((id & 3) != 0) {
            if (fin)
                return;
            continue; /* only client-initiated bidirectional streams are echoed */
        }
        ho_quic_stream_write(c, id, buf, n, fin, &w);
        if (w == n && fin)
            return; /* all echoed, FIN included */
        if (w == n)
            continue;
        pending *p = malloc(sizeof(*p));
        if (p == NULL || (p->data = malloc(n - w)) == NULL) {
            free(p);
            ho_quic_stream_reset(c, id, 1); /* out of memory: give up on this stream */
            return;
        }
        memcpy(p->data, buf + w, n - w);
        p->id = id, p->len = n - w, p->off = 0, p->fin = fin;
        p->next = ho_quic_conn_get_user(c);
        ho_quic_conn_set_user(c, p);
    }
}

static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id) { (void)ctx, pump(c, id); }
static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id) { (void)ctx, pump(c, id); }

/* The endpoint frees a connection after it closed: drop what is pending. */
static void on_conn_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    (void)ctx, (void)ep;
    pending *p = ho_quic_conn_get_user(c);
    while (p != NULL) {
        pending *next = p->next;
        free(p->data);
        free(p);
        p = next;
    }
}

static ho_tls_config *make_tls(int argc, char **argv)
{
    ho_tls_config *tls = ho_tls_config_new(true);
    static const char *const alpn[] = {"echo"};
    int rc = tls == NULL ? HO_ERR_NOMEM : ho_tls_config_set_alpn(tls, alpn, 1);
    if (rc == HO_OK && argc >= 4) {
        rc = ho_tls_config_load_cert_files(tls, argv[2], argv[3]);
    } else if (rc == HO_OK) {
        ho_privkey *key = NULL;
        ho_cert_chain chain = {0};
        rc = ho_selfsigned_generate("localhost", 30, &key, &chain);
        if (rc == HO_OK)
            rc = ho_tls_config_add_cert(tls, &chain, key); /* takes both */
    }
    if (rc == HO_OK)
        rc = ho_quic_tls_config_prepare(tls); /* QUIC transport parameters */
    if (rc != HO_OK) {
        fprintf(stderr, "echo_server: TLS setup: %s\n", ho_err_str(rc));
        ho_tls_config_free(tls);
        return NULL;
    }
    return tls;
}

int main(int argc, char **argv)
{
    int port = argc >= 2 ? atoi(argv[1]) : 0;
    if (argc == 3 || argc > 4 || port < 0 || port > 65535) {
        fprintf(stderr, "usage: echo_server [PORT [CERT.pem KEY.pem]]\n");
        return 2;
    }
    ho_tls_config *tls = make_tls(argc, argv);
    if (tls == NULL)
        return 1;

    /* A UDP socket on 127.0.0.1 (use "::" or "0.0.0.0" to serve others). */
    ho_udp_socket sock;
    ho_udp_addr local;
    struct sockaddr_storage ss;
    socklen_t sslen;
    if (ho_sockaddr_parse("127.0.0.1", (uint16_t)port, &ss, &sslen) != HO_OK ||
        ho_udp_open(&sock, (struct sockaddr *)&ss, sslen, NULL) != HO_OK) {
        perror("echo_server: UDP socket");
        ho_tls_config_free(tls);
        return 1;
    }
    ho_udp_local_addr(&sock, &local);

    /* The endpoint: one template for every connection it accepts. */
    ho_quic_endpoint_config ec = {0};
    ec.conn.is_server = true;
    ec.conn.tls = tls;
    ec.conn.callbacks =
        (ho_quic_callbacks){.stream_readable = on_readable, .stream_writable = on_writable, .datagram = on_datagram};
    ec.conn.max_datagram_frame_size = 65535; /* DATAGRAM frames on, any size that fits a packet */
    ec.on_conn_free = on_conn_free;
    ho_random(ec.static_secret, sizeof(ec.static_secret)); /* keys for Retry tokens and resets */
    ho_quic_endpoint *ep = ho_quic_endpoint_new(&ec);
    ho_udp_rx *rx = ho_udp_rx_new(32);
    static uint8_t txbuf[65536];
    if (ep == NULL || rx == NULL) {
        fprintf(stderr, "echo_server: out of memory\n");
        return 1;
    }
    printf("echo_server: listening on UDP 127.0.0.1:%u\n", ntohs(((struct sockaddr_in *)&local.ss)->sin_port));
    fflush(stdout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    while (!stop) {
        /* 1. Sleep until a datagram arrives or the next QUIC timer is due. */
        ho_quic_time next = ho_quic_endpoint_next_timeout(ep), now = ho_now_ns();
        int wait_ms = next == HO_QUIC_TIME_NEVER ? 1000 : next <= now ? 0 : (int)((next - now) / 1000000 + 1);
        struct pollfd pfd = {.fd = sock.fd, .events = POLLIN};
        poll(&pfd, 1, wait_ms > 1000 ? 1000 : wait_ms);

        /* 2. Feed every datagram to the endpoint with its path. */
        ho_udp_dgram *d;
        int n;
        while ((n = ho_udp_recv_batch(&sock, rx, &d)) > 0) {
            for (int i = 0; i < n; i++) {
                ho_quic_path path = {.local = local.ss, .local_len = local.len};
                path.remote = d[i].peer.ss;
                path.remote_len = d[i].peer.len;
                ho_quic_endpoint_receive(ep, d[i].data, d[i].len, &path, ho_now_ns());
            }
        }
        /* 3. Expired timers (loss detection, idle timeouts, ...). */
        ho_quic_endpoint_handle_timeout(ep, ho_now_ns());

        /* 4. Send what is due, one GSO batch at a time. */
        ho_quic_endpoint_out out = {.buf = txbuf, .cap = sizeof(txbuf)};
        while (ho_quic_endpoint_send(ep, &out, ho_now_ns()) > 0) {
            ho_udp_send(&sock, out.buf, out.len, out.segment_size, (struct sockaddr *)&out.path.remote,
                        out.path.remote_len, NULL, 0, 0);
            out = (ho_quic_endpoint_out){.buf = txbuf, .cap = sizeof(txbuf)};
        }
    }
    ho_quic_endpoint_free(ep); /* frees the connections (on_conn_free for each) */
    ho_udp_rx_free(rx);
    ho_udp_close(&sock);
    ho_tls_config_free(tls);
    return 0;
}
