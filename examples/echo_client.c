/*
 * echo_client — the smallest QUIC client built on handoff: it connects to
 * an echo server (ALPN "echo"), sends one message on one bidirectional
 * stream, prints what comes back and exits.
 *
 *   echo_client [--cafile CA.pem | --insecure] [--datagram TEXT] HOST PORT [MESSAGE]
 *
 * With --datagram, TEXT also goes out as a DATAGRAM frame (RFC 9221), sent
 * again every 200 ms until its echo arrives (datagrams are unreliable) or
 * 5 s have passed; the echo is printed on stderr ("datagram echo: TEXT").
 *
 * Without MESSAGE, stdin is sent (any bytes, any size). Exit status 0 when
 * the whole echo arrived and has the length sent, 1 with a message on
 * stderr otherwise (no server, handshake failure, timeout, ...), 2 on bad
 * usage. The server certificate is checked against CA.pem (or the system
 * store); --insecure skips the check (for a self-signed test server).
 *
 * A QUIC connection is sans-I/O: it never touches a socket or a clock. This
 * program owns a UDP socket (ho_udp_*) and lets the library's datagram pump
 * (ho_quic_pump_step) hand datagrams in (ho_quic_conn_receive), take
 * datagrams out (ho_quic_conn_send) and run the timers
 * (ho_quic_conn_handle_timeout). Everything else happens in the callbacks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "handoff/crypto.h"
#include "handoff/io.h"
#include "handoff/quic.h"

typedef struct client {
    const uint8_t *msg;
    size_t msg_len, sent, echoed;
    uint64_t stream;
    bool opened, done;
    const char *dgram;         /* --datagram: NULL when none */
    bool dgram_echoed;
    ho_quic_time dgram_next;   /* when to send it (again) */
} client;

/* The DATAGRAM frame's echo: the text sent, or something else (reported). */
static void on_datagram(void *ctx, ho_quic_conn *c, const uint8_t *data, size_t len)
{
    (void)c;
    client *cl = ctx;
    if (cl->dgram != NULL && len == strlen(cl->dgram) && memcmp(data, cl->dgram, len) == 0)
        cl->dgram_echoed = true;
    fprintf(stderr, "datagram echo: %.*s\n", (int)len, (const char *)data);
}

/* Writes as much of the message as the stream takes; FIN with the last byte. */
static void send_more(client *cl, ho_quic_conn *c)
{
    size_t n = 0;
    ho_quic_stream_write(c, cl->stream, cl->msg + cl->sent, cl->msg_len - cl->sent, true, &n);
    cl->sent += n; /* the rest goes when the stream_writable callback fires */
}

/* TLS and QUIC are up: open the stream and start sending. */
static void on_handshake_done(void *ctx, ho_quic_conn *c)
{
    client *cl = ctx;
    if (ho_quic_stream_open(c, true, &cl->stream) == HO_OK) {
        cl->opened = true;
        send_more(cl, c);
    }
}

static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    client *cl = ctx;
    if (cl->opened && id == cl->stream && cl->sent < cl->msg_len)
        send_more(cl, c);
}

/* The echo arrives: print it; FIN means it is complete. */
static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    client *cl = ctx;
    uint8_t buf[16384];
    size_t n;
    bool fin = false;
    while (!fin && ho_quic_stream_read(c, id, buf, sizeof(buf), &n, &fin) == HO_OK && (n > 0 || fin)) {
        fwrite(buf, 1, n, stdout);
        cl->echoed += n;
    }
    if (fin && id == cl->stream)
        cl->done = true;
}

/* Why the connection closed, for the error message. */
static const char *describe(int err)
{
    static char text[160];
    if (ho_err_is_alert(err) || ho_err_is_peer_alert(err))
        snprintf(text, sizeof(text), "handshake failed: TLS alert %u %s (42-49: certificate problems)",
                 ho_err_alert(err), ho_err_is_alert(err) ? "sent" : "received");
    else
        snprintf(text, sizeof(text), "connection closed: %s", err == HO_OK ? "idle timeout" : ho_err_str(err));
    return text;
}

/* The message: the argument, or all of stdin. */
static uint8_t *read_message(const char *arg, size_t *len)
{
    if (arg != NULL) {
        *len = strlen(arg);
        return (uint8_t *)strdup(arg);
    }
    size_t cap = 65536, n = 0, r;
    uint8_t *buf = malloc(cap);
    while (buf != NULL && (r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap) {
            uint8_t *grown = realloc(buf, cap *= 2);
            if (grown == NULL)
                free(buf);
            buf = grown;
        }
    }
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    int a = 1;
    const char *cafile = NULL, *dgram = NULL;
    bool insecure = false;
    for (; a < argc && argv[a][0] == '-' && argv[a][1] == '-'; a++) {
        if (strcmp(argv[a], "--insecure") == 0)
            insecure = true;
        else if (strcmp(argv[a], "--cafile") == 0 && a + 1 < argc)
            cafile = argv[++a];
        else if (strcmp(argv[a], "--datagram") == 0 && a + 1 < argc)
            dgram = argv[++a];
        else
            break;
    }
    if (argc - a < 2 || argc - a > 3) {
        fprintf(stderr, "usage: echo_client [--cafile CA.pem | --insecure] [--datagram TEXT] HOST PORT [MESSAGE]\n");
        return 2;
    }
    const char *host = argv[a], *port = argv[a + 1];
    client cl = {.dgram = dgram};
    uint8_t *msg = read_message(argc - a == 3 ? argv[a + 2] : NULL, &cl.msg_len);
    cl.msg = msg;

    /* The server's address, and a UDP socket of the same family connected
     * to it (so that an ICMP "port unreachable" is reported to us). */
    struct sockaddr_storage server, any;
    socklen_t server_len;
    ho_udp_socket sock;
    if (msg == NULL || ho_sockaddr_parse(host, (uint16_t)atoi(port), &server, &server_len) != HO_OK) {
        fprintf(stderr, "echo_client: %s\n", msg == NULL ? "out of memory" : "HOST must be an IP address");
        free(msg);
        return msg == NULL ? 1 : 2;
    }
    memset(&any, 0, sizeof(any));
    any.ss_family = server.ss_family;
    if (ho_udp_open(&sock, (struct sockaddr *)&any, server_len, NULL) != HO_OK ||
        connect(sock.fd, (struct sockaddr *)&server, server_len) != 0) {
        perror("echo_client: UDP socket");
        free(msg);
        return 1;
    }

    /* TLS: ALPN "echo", and how to check the server's certificate. */
    ho_tls_config *tls = ho_tls_config_new(false);
    static const char *const alpn[] = {"echo"};
    ho_tls_config_set_alpn(tls, alpn, 1);
    if (insecure) {
        ho_tls_config_set_verify_peer(tls, false);
    } else if (cafile != NULL) {
        ho_trust_store *ts = ho_trust_store_new();
        if (ho_trust_store_add_file(ts, cafile) != HO_OK)
            fprintf(stderr, "echo_client: cannot load %s\n", cafile);
        ho_tls_config_set_trust(tls, ts); /* takes ts */
    }
    ho_quic_tls_config_prepare(tls);

    /* The connection. wall_clock_ms lets TLS check the certificate dates. */
    ho_quic_config cfg = {
        .tls = tls,
        .server_name = host,
        .max_idle_timeout_ms = 10000,
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = &cl, .handshake_done = on_handshake_done, .stream_readable = on_readable,
                      .stream_writable = on_writable, .datagram = on_datagram},
        .max_datagram_frame_size = dgram != NULL ? 65535 : 0, /* DATAGRAM on only when used */
    };
    ho_quic_conn *c = ho_quic_conn_new_client(&cfg, NULL, ho_now_ns());
    /* The library's datagram pump: sends what is due, waits for datagrams
     * or the next timer, feeds them in, runs the timers. */
    ho_quic_pump *pump =
        c != NULL ? ho_quic_pump_new(&sock, c, (struct sockaddr *)&server, server_len, NULL) : NULL;
    const char *error = pump == NULL ? "out of memory" : NULL;
    ho_quic_time handshake_deadline = ho_now_ns() + 5000000000LL;

    ho_quic_time dgram_deadline = 0;
    while (error == NULL && !(cl.done && (dgram == NULL || cl.dgram_echoed)) && !ho_quic_conn_is_closing(c) &&
           !ho_quic_conn_is_closed(c)) {
        bool dgram_wait = dgram != NULL && !cl.dgram_echoed && ho_quic_conn_handshake_done(c);
        if (ho_quic_pump_step(pump, dgram_wait ? 50 : 1000) == HO_ERR_IO && errno == ECONNREFUSED)
            error = "connection refused (nothing listens on that UDP port)";
        if (!ho_quic_conn_handshake_done(c) && ho_now_ns() > handshake_deadline)
            error = "no handshake within 5 s";
        if (dgram_wait && ho_now_ns() >= cl.dgram_next) {
            if (dgram_deadline == 0)
                dgram_deadline = ho_now_ns() + 5000000000LL;
            else if (ho_now_ns() > dgram_deadline)
                error = "no datagram echo within 5 s";
            /* HO_ERR_INVALID_ARG: the server does not take DATAGRAM frames, or not this large. */
            if (error == NULL && ho_quic_conn_send_datagram(c, (const uint8_t *)dgram, strlen(dgram)) == HO_ERR_INVALID_ARG)
                error = "the server does not take this datagram (no DATAGRAM support, or too large)";
            cl.dgram_next = ho_now_ns() + 200000000LL;
        }
    }
    fflush(stdout);
    if (error == NULL && !cl.done) /* the connection closed before the echo was complete */
        error = describe(ho_quic_conn_error(c));
    if (error == NULL && cl.echoed != cl.msg_len)
        error = "the echo differs in length from the message";
    if (error == NULL) {
        /* Done: say goodbye with an application CONNECTION_CLOSE (code 0). */
        ho_quic_conn_close(c, 0, "done", ho_now_ns());
        ho_quic_pump_flush(pump);
    } else {
        fprintf(stderr, "echo_client: %s\n", error);
    }
    ho_quic_pump_free(pump);
    ho_quic_conn_free(c);
    ho_udp_close(&sock);
    ho_tls_config_free(tls);
    free(msg);
    return error == NULL ? 0 : 1;
}
