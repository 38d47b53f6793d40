/* `handoff serve`: a single-threaded epoll HTTPS server (HTTP/1.1, one
 * small page) over the sans-I/O record layer. Nothing here blocks: sockets
 * are non-blocking, unsent output waits for EPOLLOUT, and timeouts are swept
 * from the loop. */
#define _GNU_SOURCE
#include "common.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
    HANDSHAKE_TIMEOUT_MS = 10000,
    IDLE_TIMEOUT_MS = 60000,
    DRAIN_TIMEOUT_MS = 2000,
    SWEEP_INTERVAL_MS = 250,
    MAX_REQUEST_HEAD = 16384,
};

typedef enum {
    CONN_OPEN,      /* handshake and requests */
    CONN_CLOSING,   /* last bytes queued: close once they are written */
    CONN_DRAINING,  /* write side shut: read until EOF so no RST loses our data */
} conn_state;

typedef struct server_conn {
    struct server_conn *prev, *next;
    int fd;
    uint64_t id;
    ho_tls_conn *tls;
    conn_state state;
    bool want_write;    /* EPOLLOUT registered */
    int64_t deadline_ms;
} server_conn;

typedef struct server {
    ho_tls_config *cfg;
    int listen_fd, epoll_fd, signal_fd;
    server_conn *conns;
    uint64_t next_id;
} server;

/* epoll tags for the two non-connection descriptors. */
static char listen_tag, signal_tag;

void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: handoff serve [options]\n"
            "  --port N         TCP port to listen on (default 8443; 0 picks a free one)\n"
            "  --bind ADDR      address to bind, IPv4 or IPv6 literal (default 0.0.0.0)\n"
            "  --cert FILE      certificate chain, PEM (leaf first); needs --key\n"
            "  --key FILE       private key, PEM; needs --cert\n"
            "                   without both: a self-signed ECDSA P-256 certificate for\n"
            "                   localhost is generated and its PEM written to\n"
            "                   ${TMPDIR:-/tmp}/handoff-selfsigned-PORT.pem\n"
            "  --suites LIST    cipher suites in preference order, comma-separated:\n"
            "                   TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,\n"
            "                   TLS_CHACHA20_POLY1305_SHA256\n"
            "  --groups LIST    key-exchange groups in preference order: X25519,P-256\n"
            "                   (also x25519, secp256r1, prime256v1)\n"
            "  --alpn LIST      ALPN protocols to accept, e.g. http/1.1; a client that\n"
            "                   offers none of them is refused\n"
            "  --no-tickets     do not issue session tickets (no resumption)\n"
            "  --hrr-cookie     send a cookie in HelloRetryRequest\n"
            "  -h, --help       this help\n");
}

static void conn_close(server *s, server_conn *c)
{
    epoll_ctl(s->epoll_fd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    ho_tls_conn_free(c->tls);
    free(c);
}

static void conn_set_write_interest(server *s, server_conn *c, bool want)
{
    if (c->want_write == want)
        return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.ptr = c};
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
        c->want_write = want;
}

/* Writes what the record layer has queued. Returns false if the connection
 * was closed. */
static bool conn_flush(server *s, server_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c->tls);
    while (out->len > 0) {
        ssize_t n = send(c->fd, out->data, out->len, MSG_NOSIGNAL);
        if (n > 0) {
            ho_buf_consume(out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_write_interest(s, c, true);
            return true;
        }
        conn_close(s, c);
        return false;
    }
    conn_set_write_interest(s, c, false);
    if (c->state == CONN_CLOSING) {
        /* Half-close and read until the peer closes: closing with unread
         * input would reset the connection and could lose our last bytes. */
        shutdown(c->fd, SHUT_WR);
        c->state = CONN_DRAINING;
        c->deadline_ms = app_now_ms() + DRAIN_TIMEOUT_MS;
    }
    return true;
}

static void respond(server_conn *c, int status, const char *reason, const char *body, bool head_only,
                    bool keep_alive)
{
    ho_buf r;
    ho_buf_init(&r);
    char line[256];
    size_t body_len = strlen(body);
    int n = snprintf(line, sizeof(line),
                     "HTTP/1.1 %d %s\r\nServer: handoff\r\nContent-Type: text/html; charset=utf-8\r\n"
                     "Content-Length: %zu\r\nConnection: %s\r\n\r\n",
                     status, reason, body_len, keep_alive ? "keep-alive" : "close");
    ho_put_bytes(&r, line, (size_t)n);
    if (!head_only)
        ho_put_bytes(&r, body, body_len);
    if (!r.failed)
        ho_tls_conn_write(c->tls, r.data, r.len);
    ho_buf_free(&r);
}

/* Answers every complete request head in app_in. */
static void conn_serve_http(server_conn *c)
{
    ho_buf *in = ho_tls_conn_app_in(c->tls);
    while (c->state == CONN_OPEN) {
        size_t head_len = app_http_head_len(in->data, in->len);
        if (head_len == 0) {
            if (in->len > MAX_REQUEST_HEAD) {
                respond(c, 431, "Request Header Fields Too Large", "<html><body>too large</body></html>\n",
                        false, false);
                ho_tls_conn_close(c->tls);
                c->state = CONN_CLOSING;
            }
            return;
        }
        char method[16] = "", path[1024] = "", version[16] = "";
        char fmt_line[1100];
        size_t line_len = 0;
        while (line_len < head_len && in->data[line_len] != '\r' && line_len < sizeof(fmt_line) - 1)
            line_len++;
        memcpy(fmt_line, in->data, line_len);
        fmt_line[line_len] = '\0';
        int fields = sscanf(fmt_line, "%15s %1023s %15s", method, path, version);
        char connection[64] = "";
        app_http_header(in->data, head_len, "Connection", connection, sizeof(connection));
        char content_length[32] = "";
        bool has_body = app_http_header(in->data, head_len, "Content-Length", content_length,
                                        sizeof(content_length)) && strcmp(content_length, "0") != 0;
        has_body = has_body || app_http_header(in->data, head_len, "Transfer-Encoding", content_length,
                                               sizeof(content_length));
        bool keep_alive = fields == 3 && strcmp(version, "HTTP/1.1") == 0 && strcasecmp(connection, "close") != 0;
        bool is_head = strcmp(method, "HEAD") == 0;
        ho_buf_consume(in, head_len);
        if (fields != 3 || strncmp(version, "HTTP/1.", 7) != 0) {
            respond(c, 400, "Bad Request", "<html><body>bad request</body></html>\n", false, false);
            keep_alive = false;
        } else if ((strcmp(method, "GET") != 0 && !is_head) || has_body) {
            /* No request bodies here: refusing keeps the parser trivial. */
            respond(c, 405, "Method Not Allowed", "<html><body>method not allowed</body></html>\n", false,
                    false);
            keep_alive = false;
        } else if (strcmp(path, "/") == 0) {
            ho_tls *t = ho_tls_conn_tls(c->tls);
            const ho_tls_suite *suite = ho_tls_get_suite(t);
            char page[512];
            snprintf(page, sizeof(page),
                     "<html><body><h1>handoff</h1><p>TLS 1.3: %s, %s</p><p>ALPN: %s, resumed: %s</p>"
                     "</body></html>\n",
                     suite ? suite->name : "?", app_group_name(ho_tls_get_group(t)),
                     ho_tls_get_alpn(t) ? ho_tls_get_alpn(t) : "none", ho_tls_is_resumed(t) ? "yes" : "no");
            respond(c, 200, "OK", page, is_head, keep_alive);
        } else {
            respond(c, 404, "Not Found", "<html><body><h1>404</h1><p>not found</p></body></html>\n", is_head,
                    keep_alive);
        }
        if (!keep_alive) {
            ho_tls_conn_close(c->tls);
            c->state = CONN_CLOSING;
        } else {
            c->deadline_ms = app_now_ms() + IDLE_TIMEOUT_MS;
        }
    }
}

static void conn_readable(server *s, server_conn *c)
{
    uint8_t buf[16384];
    for (;;) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            /* EOF or reset: nothing more can be delivered. */
            conn_close(s, c);
            return;
        }
        if (c->state != CONN_OPEN)
            continue; /* closing: discard input */
        ho_tls_set_now(ho_tls_conn_tls(c->tls), app_now_ms());
        bool was_done = ho_tls_conn_handshake_done(c->tls);
        int err = ho_tls_conn_receive(c->tls, buf, (size_t)n);
        if (!was_done && ho_tls_conn_handshake_done(c->tls))
            c->deadline_ms = app_now_ms() + IDLE_TIMEOUT_MS;
        if (err == HO_ERR_CLOSED) {
            /* The peer closed its write side (a request may have come in the
             * same read): answer what is complete, then RFC 8446 §6.1:
             * send our close_notify. */
            if (ho_tls_conn_handshake_done(c->tls))
                conn_serve_http(c);
            if (c->state == CONN_OPEN) {
                ho_tls_conn_close(c->tls);
                c->state = CONN_CLOSING;
            }
        } else if (err != HO_OK) {
            char what[64];
            snprintf(what, sizeof(what), "connection %llu", (unsigned long long)c->id);
            app_report_error(what, err);
            c->state = CONN_CLOSING; /* the alert, if any, is queued */
        } else if (ho_tls_conn_handshake_done(c->tls)) {
            conn_serve_http(c);
        }
    }
    conn_flush(s, c);
}

static void accept_all(server *s)
{
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                fprintf(stderr, "handoff: accept: %s\n", strerror(errno));
            return;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        server_conn *c = calloc(1, sizeof(*c));
        if (c != NULL)
            c->tls = ho_tls_conn_new(s->cfg, NULL);
        if (c == NULL || c->tls == NULL) {
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->id = ++s->next_id;
        c->state = CONN_OPEN;
        c->deadline_ms = app_now_ms() + HANDSHAKE_TIMEOUT_MS;
        ho_tls_set_conn_id(ho_tls_conn_tls(c->tls), c->id);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            ho_tls_conn_free(c->tls);
            free(c);
            close(fd);
            continue;
        }
        c->next = s->conns;
        if (s->conns)
            s->conns->prev = c;
        s->conns = c;
    }
}

/* Handshake timeout, keep-alive idle timeout, drain timeout. */
static void sweep_timeouts(server *s, int64_t now)
{
    server_conn *c = s->conns;
    while (c != NULL) {
        server_conn *next = c->next;
        if (now >= c->deadline_ms)
            conn_close(s, c);
        c = next;
    }
}

static int open_listener(const char *bind_addr, int port, char *shown, size_t shown_len)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t sl;
    char host[INET6_ADDRSTRLEN + 2];
    snprintf(host, sizeof(host), "%s", bind_addr);
    size_t hl = strlen(host);
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
    bool v6 = strchr(host, ':') != NULL;
    if (v6 ? inet_pton(AF_INET6, host, &a6->sin6_addr) != 1 : inet_pton(AF_INET, host, &a4->sin_addr) != 1) {
        fprintf(stderr, "handoff: --bind: not an IPv4 or IPv6 address: %s\n", bind_addr);
        return -1;
    }
    if (v6) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        sl = sizeof(*a6);
    } else {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        sl = sizeof(*a4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("handoff: socket");
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 512) != 0) {
        fprintf(stderr, "handoff: bind %s port %d: %s\n", bind_addr, port, strerror(errno));
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int actual = ntohs(v6 ? a6->sin6_port : a4->sin_port);
    snprintf(shown, shown_len, v6 ? "[%s]:%d" : "%s:%d", host, actual);
    return fd;
}

/* Without --cert/--key: a fresh self-signed certificate for localhost, its
 * PEM written where clients can --cafile it. */
static int use_selfsigned(ho_tls_config *cfg, int port)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    int err = ho_selfsigned_generate("localhost", 30, &key, &chain);
    if (err != HO_OK) {
        app_report_error("generating a self-signed certificate", err);
        return err;
    }
    ho_buf pem;
    ho_buf_init(&pem);
    err = ho_cert_to_pem(chain.der[0], chain.len[0], &pem);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/handoff-selfsigned-%d.pem", dir && *dir ? dir : "/tmp", port);
    if (err == HO_OK)
        err = app_write_file(path, pem.data, pem.len);
    ho_buf_free(&pem);
    if (err != HO_OK) {
        app_report_error("writing the self-signed certificate", err);
        ho_cert_chain_free(&chain);
        ho_privkey_free(key);
        return err;
    }
    fprintf(stderr, "handoff: no --cert/--key: using a self-signed certificate for localhost, written to %s\n",
            path);
    err = ho_tls_config_add_cert(cfg, &chain, key); /* takes both */
    if (err != HO_OK)
        app_report_error("certificate", err);
    return err;
}

static int run_loop(server *s)
{
    struct epoll_event events[64];
    int64_t last_sweep = app_now_ms();
    for (;;) {
        int n = epoll_wait(s->epoll_fd, events, 64, SWEEP_INTERVAL_MS);
        if (n < 0 && errno != EINTR) {
            perror("handoff: epoll_wait");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            void *tag = events[i].data.ptr;
            if (tag == &signal_tag) {
                struct signalfd_siginfo si;
                if (read(s->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
                    fprintf(stderr, "handoff: signal %u, shutting down\n", si.ssi_signo);
                    return 0;
                }
                continue;
            }
            if (tag == &listen_tag) {
                accept_all(s);
                continue;
            }
            server_conn *c = tag;
            if (events[i].events & EPOLLOUT) {
                if (!conn_flush(s, c))
                    continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
                conn_readable(s, c); /* may free c: last use */
        }
        int64_t now = app_now_ms();
        if (now - last_sweep >= SWEEP_INTERVAL_MS) {
            sweep_timeouts(s, now);
            last_sweep = now;
        }
    }
}

int serve_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"port", required_argument, NULL, 'p'},   {"bind", required_argument, NULL, 'b'},
        {"cert", required_argument, NULL, 'c'},   {"key", required_argument, NULL, 'k'},
        {"suites", required_argument, NULL, 's'}, {"groups", required_argument, NULL, 'g'},
        {"alpn", required_argument, NULL, 'a'},   {"no-tickets", no_argument, NULL, 'T'},
        {"hrr-cookie", no_argument, NULL, 'C'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int port = 8443;
    const char *bind_addr = "0.0.0.0", *cert = NULL, *key = NULL, *suites = NULL, *groups = NULL, *alpn = NULL;
    bool no_tickets = false, hrr_cookie = false;
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case 'p': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || v < 0 || v > 65535) {
                fprintf(stderr, "handoff: --port: bad port '%s'\n", optarg);
                return 2;
            }
            port = (int)v;
            break;
        }
        case 'b': bind_addr = optarg; break;
        case 'c': cert = optarg; break;
        case 'k': key = optarg; break;
        case 's': suites = optarg; break;
        case 'g': groups = optarg; break;
        case 'a': alpn = optarg; break;
        case 'T': no_tickets = true; break;
        case 'C': hrr_cookie = true; break;
        case 'h': serve_usage(stdout); return 0;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind != argc || (cert == NULL) != (key == NULL)) {
        fprintf(stderr, optind != argc ? "handoff: unexpected argument '%s'\n" : "handoff: --cert and --key go together\n",
                optind != argc ? argv[optind] : "");
        serve_usage(stderr);
        return 2;
    }

    server s = {.listen_fd = -1, .epoll_fd = -1, .signal_fd = -1};
    int rc = 1;
    char shown[INET6_ADDRSTRLEN + 16];
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    signal(SIGPIPE, SIG_IGN);

    s.cfg = ho_tls_config_new(true);
    if (s.cfg == NULL)
        goto done;
    int err = app_config_lists(s.cfg, suites, groups, alpn);
    if (err != HO_OK) {
        if (err != HO_ERR_INVALID_ARG)
            app_report_error("configuration", err);
        rc = 2;
        goto done;
    }
    if (no_tickets)
        ho_tls_config_set_tickets(s.cfg, 0, 7200, 3600);
    if (hrr_cookie)
        ho_tls_config_set_hrr_cookie(s.cfg, true);
    s.listen_fd = open_listener(bind_addr, port, shown, sizeof(shown));
    if (s.listen_fd < 0)
        goto done;
    if (cert != NULL) {
        err = ho_tls_config_load_cert_files(s.cfg, cert, key);
        if (err != HO_OK) {
            app_report_error("loading --cert/--key", err);
            goto done;
        }
    } else {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof(ss);
        getsockname(s.listen_fd, (struct sockaddr *)&ss, &sl);
        int actual = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                    : ((struct sockaddr_in *)&ss)->sin_port);
        if (use_selfsigned(s.cfg, actual) != HO_OK)
            goto done;
    }

    /* Signals arrive as readable events: no handler races the loop. */
    sigprocmask(SIG_BLOCK, &mask, NULL);
    s.signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (s.signal_fd < 0 || s.epoll_fd < 0) {
        perror("handoff: epoll/signalfd");
        goto done;
    }
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &listen_tag};
    struct epoll_event sev = {.events = EPOLLIN, .data.ptr = &signal_tag};
    if (epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.listen_fd, &lev) != 0 ||
        epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.signal_fd, &sev) != 0) {
        perror("handoff: epoll_ctl");
        goto done;
    }
    fprintf(stderr, "handoff: serving TLS 1.3 on https://%s/\n", shown);
    rc = run_loop(&s);

done:
    while (s.conns != NULL)
        conn_close(&s, s.conns);
    if (s.listen_fd >= 0)
        close(s.listen_fd);
    if (s.signal_fd >= 0)
        close(s.signal_fd);
    if (s.epoll_fd >= 0)
        close(s.epoll_fd);
    ho_tls_config_free(s.cfg);
    return rc;
}
