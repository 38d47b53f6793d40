/* ktls_echo_server: a small TLS 1.3 server for the kTLS VM test
 * (scripts/ktls-vm.sh), built on the library alone.
 *
 * One connection at a time, blocking sockets: accept, run our handshake in
 * userspace (ho_tls_conn), move both directions to the kernel with
 * ho_ktls_enable, read one HTTP-like request with ho_ktls_recv, answer with
 * plain send(), then close_notify through the kernel (a control record) and
 * wait for the peer's. With --ktls off, or when the kernel refuses, the
 * same exchange runs on userspace records.
 *
 *   ktls_echo_server --port N --cert F --key F [--ktls on|off|auto] [--conns N]
 *
 * GET /bytes/N answers with N bytes of body (to push many records through
 * the kernel); any other path with a short body. One line per connection
 * event goes to stdout ("conn 1: ktls on", ...) for the test to check;
 * HANDOFF_LOG=warn shows the library's warnings on stderr. */
#define _GNU_SOURCE /* accept4 */

#include "handoff/io.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum { RECORD_HEADER_LEN = 5, IO_TIMEOUT_S = 10, MAX_BODY = 16 << 20 };

typedef struct conn {
    unsigned long id;
    int fd;
    ho_tls_conn *tls;
    bool ktls;
} conn;

static void say(const conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const conn *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("conn %lu: ", c->id);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

/* close_notify alerts the record layer received (the kernel hands them
 * up as control records): single-threaded, so a plain counter. */
static unsigned long close_notify_received;

static void on_event(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->type == HO_EV_ALERT_RECV && ev->a == HO_ALERT_CLOSE_NOTIFY)
        close_notify_received++;
}

static bool send_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

static bool recv_exact(int fd, uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* Userspace records queued in out go to the socket (before kTLS, or when
 * the connection stayed in userspace). */
static bool flush_userspace(conn *c)
{
    ho_buf *out = ho_tls_conn_out(c->tls);
    bool ok = send_all(c->fd, out->data, out->len);
    ho_buf_consume(out, out->len);
    return ok;
}

/* The handshake reads one record at a time: bytes past the client's
 * Finished belong to the kernel once kTLS is on (ho_tls_conn_kernel_ready
 * is false while a partial record sits in the record layer). */
static int handshake(conn *c)
{
    uint8_t *record = malloc(RECORD_HEADER_LEN + 65535);
    int err = record == NULL ? HO_ERR_NOMEM : HO_OK;
    while (err == HO_OK && !ho_tls_conn_handshake_done(c->tls)) {
        if (!recv_exact(c->fd, record, RECORD_HEADER_LEN)) {
            err = HO_ERR_IO;
            break;
        }
        size_t len = (size_t)record[3] << 8 | record[4];
        if (!recv_exact(c->fd, record + RECORD_HEADER_LEN, len)) {
            err = HO_ERR_IO;
            break;
        }
        err = ho_tls_conn_receive(c->tls, record, RECORD_HEADER_LEN + len);
        if (!flush_userspace(c) && err == HO_OK)
            err = HO_ERR_IO;
    }
    free(record);
    return err;
}

/* Reads more application data into app. Returns > 0, or an error
 * (HO_ERR_CLOSED for close_notify / EOF). Non-data records are handled. */
static ssize_t read_more(conn *c, ho_buf *app)
{
    for (;;) {
        if (c->ktls) {
            ssize_t n = ho_ktls_recv(c->fd, c->tls, app);
            if (n != 0)
                return n;
            say(c, "control record handled by the record layer");
            continue;
        }
        uint8_t buf[16384];
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return HO_ERR_IO; /* EAGAIN: the receive timeout */
        if (n == 0)
            return HO_ERR_CLOSED;
        ho_buf *in = ho_tls_conn_app_in(c->tls);
        size_t before = in->len;
        int err = ho_tls_conn_receive(c->tls, buf, (size_t)n);
        flush_userspace(c); /* an alert, a KeyUpdate answer */
        size_t got = in->len - before;
        if (got > 0) {
            ho_put_bytes(app, in->data + before, got);
            ho_buf_consume(in, in->len);
            if (err == HO_OK)
                return (ssize_t)got;
        }
        if (err != HO_OK)
            return err;
    }
}

static bool write_app(conn *c, const void *data, size_t len)
{
    if (c->ktls)
        return send_all(c->fd, data, len); /* the kernel seals */
    return ho_tls_conn_write(c->tls, data, len) == HO_OK && flush_userspace(c);
}

/* close_notify: through the kernel as an alert record, or sealed here. */
static bool send_close_notify(conn *c)
{
    if (ho_tls_conn_close(c->tls) != HO_OK)
        return false;
    return c->ktls ? ho_ktls_flush_control(c->fd, c->tls) == HO_OK : flush_userspace(c);
}

static const char *find_head_end(const ho_buf *b)
{
    return b->len < 4 ? NULL : memmem(b->data, b->len, "\r\n\r\n", 4);
}

static void respond(conn *c, const char *request_line, const char *suite)
{
    size_t extra = 0;
    const char *p = strstr(request_line, " /bytes/");
    if (p != NULL) {
        unsigned long n = strtoul(p + 8, NULL, 10);
        extra = n > MAX_BODY ? MAX_BODY : n;
    }
    char head_body[512];
    int body_len = snprintf(head_body, sizeof(head_body), "ktls-echo suite=%s ktls=%s\nrequest: %s\n", suite,
                            c->ktls ? "on" : "off", request_line);
    char head[256];
    int head_len = snprintf(head, sizeof(head),
                            "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                            "Connection: close\r\n\r\n",
                            (size_t)body_len + extra + (extra ? 5 : 0));
    bool ok = write_app(c, head, (size_t)head_len) && write_app(c, head_body, (size_t)body_len);
    if (ok && extra > 0) {
        char *bulk = malloc(extra);
        ok = bulk != NULL;
        for (size_t i = 0; ok && i < extra; i++)
            bulk[i] = (char)('a' + i % 26);
        ok = ok && write_app(c, bulk, extra) && write_app(c, "\nend\n", 5);
        free(bulk);
    }
    say(c, "response %zu body bytes%s", (size_t)body_len + extra + (extra ? 5 : 0), ok ? "" : " (send failed)");
}

static void serve(conn *c, ho_ktls_mode mode)
{
    int err = handshake(c);
    if (err != HO_OK) {
        say(c, "handshake failed: %s", ho_err_str(err));
        return;
    }
    const ho_tls_suite *s = ho_tls_get_suite(ho_tls_conn_tls(c->tls));
    const char *suite = s != NULL ? s->name : "?";
    say(c, "handshake done suite=%s", suite);
    if (mode != HO_KTLS_OFF) {
        const char *why = NULL;
        err = ho_ktls_enable(c->fd, c->tls, &why);
        if (err == HO_OK) {
            c->ktls = true;
            say(c, "ktls on");
        } else {
            say(c, "ktls fallback: %s (%s)", why ? why : "?", ho_err_str(err));
            if (err != HO_ERR_NOT_FOUND || mode == HO_KTLS_ON)
                return;
        }
    } else {
        say(c, "ktls off");
    }

    ho_buf app;
    ho_buf_init(&app);
    const char *end = NULL;
    ssize_t n = 1;
    while ((end = find_head_end(&app)) == NULL && n > 0)
        n = read_more(c, &app);
    if (end == NULL) {
        say(c, "no request: %s", ho_err_str((int)n));
    } else {
        const char *eol = memchr(app.data, '\r', app.len);
        char line[200];
        size_t line_len = (size_t)(eol - (const char *)app.data);
        if (line_len >= sizeof(line))
            line_len = sizeof(line) - 1;
        memcpy(line, app.data, line_len);
        line[line_len] = '\0';
        say(c, "request '%s'", line);
        respond(c, line, suite);
        say(c, "close_notify sent: %s", send_close_notify(c) ? "yes" : "no");
        /* RFC 8446 §6.1: the peer answers with its own close_notify. */
        ho_buf_consume(&app, app.len);
        unsigned long alerts = close_notify_received;
        do
            n = read_more(c, &app);
        while (n > 0);
        if (n == HO_ERR_CLOSED)
            say(c, "peer %s", close_notify_received > alerts ? "close_notify" : "EOF without close_notify");
        else
            say(c, "peer: %s", ho_err_str((int)n));
    }
    ho_buf_free(&app);
}

static void usage(void)
{
    fprintf(stderr, "usage: ktls_echo_server --port N --cert F --key F [--ktls on|off|auto] [--conns N]\n");
}

int main(int argc, char **argv)
{
    int port = 4433;
    const char *cert = NULL, *key = NULL;
    ho_ktls_mode mode = HO_KTLS_ON;
    unsigned long conns = 0;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            usage();
            return 2;
        }
        if (strcmp(argv[i], "--port") == 0)
            port = atoi(v);
        else if (strcmp(argv[i], "--cert") == 0)
            cert = v;
        else if (strcmp(argv[i], "--key") == 0)
            key = v;
        else if (strcmp(argv[i], "--conns") == 0)
            conns = strtoul(v, NULL, 10);
        else if (strcmp(argv[i], "--ktls") == 0)
            mode = strcmp(v, "off") == 0 ? HO_KTLS_OFF : strcmp(v, "auto") == 0 ? HO_KTLS_AUTO : HO_KTLS_ON;
        else {
            usage();
            return 2;
        }
        i++;
    }
    if (cert == NULL || key == NULL) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ho_event_subscribe(on_event, NULL);
    ho_tls_config *cfg = ho_tls_config_new(true);
    int err = ho_tls_config_load_cert_files(cfg, cert, key);
    if (err != HO_OK) {
        fprintf(stderr, "ktls_echo_server: %s / %s: %s\n", cert, key, ho_err_str(err));
        return 1;
    }
    int listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int off = 0, one = 1;
    struct sockaddr_in6 addr = {0};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons((uint16_t)port);
    if (listener < 0 || setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) != 0 ||
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(listener, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(listener, 16) != 0) {
        perror("ktls_echo_server: listen");
        return 1;
    }
    printf("listening on port %d (kTLS in this kernel: %s)\n", port, ho_ktls_supported() ? "yes" : "no");
    fflush(stdout);
    for (unsigned long id = 1; conns == 0 || id <= conns; id++) {
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            perror("ktls_echo_server: accept");
            return 1;
        }
        struct timeval tv = {IO_TIMEOUT_S, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        conn c = {id, fd, ho_tls_conn_new(cfg, NULL), false};
        if (c.tls != NULL)
            serve(&c, mode);
        say(&c, "closed");
        ho_tls_conn_free(c.tls);
        close(fd);
    }
    close(listener);
    ho_tls_config_free(cfg);
    return 0;
}
