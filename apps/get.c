/* `handoff get`: fetch one https:// URL over TLS 1.3 (or several over one
 * HTTP/3 connection with --h3) and write the body to stdout or files. A
 * plain blocking client: one socket, poll() for read timeouts. */
#define _GNU_SOURCE
#include "common.h"

#include "handoff/http.h"
#include "handoff/quic.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    GET_MAX_HEADERS = 32,
    READ_TIMEOUT_MS = 10000,
    TICKET_WAIT_MS = 500, /* after a complete response, for a late NewSessionTicket */
};

typedef struct get_options {
    const char *url, *cafile, *alpn, *resume, *suites, *groups, *output_dir;
    const char *cert, *key; /* --cert/--key: a client certificate (mutual TLS) */
    bool insecure, key_update, verbose, include_head, h3, psk_ke, early_data;
    unsigned key_updates;   /* --h3: how many to initiate */
    uint32_t quic_version;  /* --h3: of the first Initial */
    const char *cc;         /* --h3: --cc */
    const char *local_addr; /* --h3: --local-addr */
    int timeout_ms;
    bool no_gso, no_gro, no_ecn; /* --h3 */
    unsigned long max_udp_payload;
    char **urls;            /* all the URLs (--h3 takes several) */
    int nurls;
    ho_http_header headers[GET_MAX_HEADERS]; /* -H: extra request fields */
    size_t nheaders;
} get_options;

typedef struct url_parts {
    char host[256];
    char port[8];
    char host_header[300];
    const char *path;
} url_parts;

typedef struct session_sink {
    const char *path;
    bool received;
    char token_path[4096];  /* --h3: PATH.token, the NEW_TOKEN token (RFC 9000 §8.1.3) */
} session_sink;

void get_usage(FILE *f)
{
    fprintf(f,
            "usage: handoff get URL [options]      URL: https://host[:port]/path (IPv6: https://[::1]:8443/)\n"
            "  --insecure       do not verify the server's certificate\n"
            "  --cafile FILE    trust the CA certificate(s) in FILE (PEM) instead of the\n"
            "                   system store\n"
            "  --cert FILE      client certificate chain, PEM (leaf first), sent when the server\n"
            "                   asks for one (mutual TLS, also with --h3); needs --key\n"
            "  --key FILE       the client certificate's private key, PEM; needs --cert\n"
            "  --alpn LIST      offer these ALPN protocols, comma-separated (e.g. http/1.1)\n"
            "  --resume FILE    offer the session stored in FILE if it exists; store every\n"
            "                   session ticket received into FILE (the last one wins)\n"
            "  --psk-ke         with --resume: also offer resumption without (EC)DHE (psk_ke)\n"
            "  --early-data     with --resume: send the request as 0-RTT early data (TLS, or\n"
            "                   QUIC 0-RTT packets with --h3) when the stored ticket allows\n"
            "                   it; if the server refuses it, the request goes again after\n"
            "                   the handshake (-v: early-data: ...); answered 425 Too Early,\n"
            "                   it goes once more on a new connection without early data\n"
            "                   (RFC 8470 5.2; -v says so)\n"
            "  --suites LIST    cipher suites in preference order, comma-separated:\n"
            "                   TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,\n"
            "                   TLS_CHACHA20_POLY1305_SHA256\n"
            "  --groups LIST    groups in preference order (the first gets a key share):\n"
            "                   X25519MLKEM768,X25519,P-256 (also x25519, secp256r1,\n"
            "                   prime256v1); default X25519MLKEM768,X25519,P-256, with a\n"
            "                   second share for X25519 when the hybrid comes first\n"
            "  --key-update[=N] send a KeyUpdate (requesting the peer's) before the request;\n"
            "                   --h3: initiate N (default 1) QUIC key updates (RFC 9001 §6)\n"
            "                   once the handshake is confirmed, then 3 PTOs after each answer\n"
            "  -v, --verbose    print suite, group, alpn, resumed, hrr (and key-update) to stderr;\n"
            "                   --h3: suite, resumed, retry, version negotiation, key updates,\n"
            "                   the server's GOAWAY stream ID (RFC 9114 §5.2)\n"
            "  -i, --include    write the status line and headers too\n"
            "  -H, --header 'NAME: VALUE'  add a request header field (repeatable, up to 32;\n"
            "                   the name is sent in lowercase)\n"
            "  --h3             fetch over HTTP/3 (QUIC on UDP, ALPN h3) instead of TLS over TCP;\n"
            "                   takes --insecure, --cafile, --suites, --groups, --resume\n"
            "  --ciphers LIST   the same as --suites (e.g. TLS_CHACHA20_POLY1305_SHA256)\n"
            "  --session-file F the same as --resume (--h3: the QUIC connection's TLS session;\n"
            "                   the server's NEW_TOKEN token goes to F.token and is sent in the\n"
            "                   next Initial, so that the server may skip its Retry)\n"
            "  --local-addr IP  --h3: send from this local address (e.g. 127.0.0.2)\n"
            "  --quic-version HEX  --h3: the version of the first Initial (e.g. 0x1a2a3a4a to\n"
            "                   draw a Version Negotiation; the client then uses version 1)\n"
            "  --quic-versions LIST  --h3: v1 or v2 (RFC 9369) first, e.g. v2,v1: the first is the\n"
            "                   version of the first Initial; the other is offered for compatible\n"
            "                   negotiation (RFC 9368), the server may move the connection to it\n"
            "  -o, --output-dir DIR  --h3: write each body to DIR/NAME, NAME the last path\n"
            "                   segment of its URL (\"index.html\" for \"/\")\n"
            "  --cc NAME        --h3: congestion controller, cubic (default), newreno or bbr\n"
            "  --timeout SEC    --h3: give up after SEC seconds without a datagram from the\n"
            "                   server (default 60)\n"
            "  --no-gso, --no-gro, --no-ecn  --h3: no UDP segmentation offload on send /\n"
            "                   receive, no ECT(0) marking\n"
            "  --max-udp-payload N  --h3: the largest datagram path MTU discovery may reach,\n"
            "                   1200..65527 (default 1452)\n"
            "  --qlog-dir DIR   --h3: write the connection's qlog (JSON-SEQ) to\n"
            "                   DIR/<odcid>_client.sqlog (default: $QLOGDIR if set)\n"
            "  -h, --help       this help\n"
            "--h3 takes several URLs, all on the same host and port: one QUIC connection,\n"
            "every request in flight at once; the bodies go to stdout one after the other\n"
            "in URL order (or to --output-dir files). Any failed URL fails the whole get.\n"
            "Exit status: 0 on success, 1 on a TLS or network failure, 2 on bad usage.\n");
}

static bool parse_url(const char *url, url_parts *u)
{
    static const char scheme[] = "https://";
    if (strncasecmp(url, scheme, sizeof(scheme) - 1) != 0)
        return false;
    const char *p = url + sizeof(scheme) - 1;
    const char *host_end;
    bool v6 = *p == '[';
    if (v6) {
        host_end = strchr(p, ']');
        if (host_end == NULL)
            return false;
        p++;
    } else {
        host_end = p + strcspn(p, ":/?#");
    }
    size_t host_len = (size_t)(host_end - p);
    if (host_len == 0 || host_len >= sizeof(u->host))
        return false;
    memcpy(u->host, p, host_len);
    u->host[host_len] = '\0';
    p = host_end + (v6 ? 1 : 0);
    snprintf(u->port, sizeof(u->port), "443");
    if (*p == ':') {
        p++;
        size_t n = strspn(p, "0123456789");
        if (n == 0 || n >= sizeof(u->port) || atoi(p) > 65535)
            return false;
        memcpy(u->port, p, n);
        u->port[n] = '\0';
        p += n;
    }
    if (*p != '\0' && *p != '/' && *p != '?')
        return false;
    u->path = *p == '/' ? p : "/";
    if (strcmp(u->port, "443") == 0)
        snprintf(u->host_header, sizeof(u->host_header), v6 ? "[%s]" : "%s", u->host);
    else
        snprintf(u->host_header, sizeof(u->host_header), v6 ? "[%s]:%s" : "%s:%s", u->host, u->port);
    return true;
}

static int connect_to(const url_parts *u)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(u->host, u->port, &hints, &res);
    if (gai != 0) {
        fprintf(stderr, "handoff: %s: %s\n", u->host, gai_strerror(gai));
        return -1;
    }
    int fd = -1, saved = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            /* The request follows our Finished at once: without NODELAY it
             * waits ~40 ms for the server's delayed ACK (Nagle). */
            int one = 1;
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        fprintf(stderr, "handoff: connect %s port %s: %s\n", u->host, u->port, strerror(saved));
    return fd;
}

/* A session ticket (TCP or --h3) goes to the --resume/--session-file file. */
static void store_session(session_sink *sink, const uint8_t *blob, size_t len)
{
    if (sink->path == NULL)
        return;
    if (app_write_file(sink->path, blob, len) == HO_OK)
        sink->received = true;
    else
        fprintf(stderr, "handoff: cannot write session to %s\n", sink->path);
}

static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)tls;
    store_session(ctx, blob, len);
}

/* Sends everything queued. */
static int send_out(int fd, ho_tls_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c);
    while (out->len > 0) {
        ssize_t n = send(fd, out->data, out->len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return HO_ERR_IO;
        ho_buf_consume(out, (size_t)n);
    }
    return HO_OK;
}

/* One read from the socket into the record layer. Returns HO_OK, an error,
 * HO_ERR_TIMEOUT on timeout, or HO_ERR_IO with *eof set at TCP EOF. */
static int read_once(int fd, ho_tls_conn *c, int timeout_ms, bool *eof)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r;
    do {
        r = poll(&pfd, 1, timeout_ms);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return HO_ERR_TIMEOUT;
    uint8_t buf[16384];
    ssize_t n;
    do {
        n = recv(fd, buf, sizeof(buf), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        *eof = n == 0;
        return HO_ERR_IO;
    }
    ho_tls_set_now(ho_tls_conn_tls(c), app_now_ms());
    int err = ho_tls_conn_receive(c, buf, (size_t)n);
    int send_err = send_out(fd, c); /* alerts, KeyUpdate answers */
    return err != HO_OK ? err : send_err;
}

/* What the response callbacks need. */
typedef struct resp_out {
    bool include_head;
    bool early;     /* the request went in accepted early data */
    bool too_early; /* and the answer is 425 Too Early: retried, not printed */
} resp_out;

/* The response goes to stdout as it arrives: the heads with -i (interim
 * 1xx ones too), then the body (src/http/h1_response.c frames it). A 425
 * to a request sent in early data is not shown: the request goes again
 * (RFC 8470 §5.2). */
static int on_resp_head(void *ctx, const ho_http1_resp *r, const uint8_t *head, size_t len)
{
    resp_out *ro = ctx;
    if (ro->early && r->status == 425)
        ro->too_early = true;
    return !ro->include_head || ro->too_early || fwrite(head, 1, len, stdout) == len ? 0 : -1;
}

static int on_resp_body(void *ctx, const uint8_t *data, size_t len)
{
    const resp_out *ro = ctx;
    return ro->too_early || fwrite(data, 1, len, stdout) == len ? 0 : -1;
}

/* Feeds what the record layer decrypted to the response parser. */
static int feed_response(ho_tls_conn *c, ho_http1_resp *resp)
{
    ho_buf *in = ho_tls_conn_app_in(c);
    int rc = ho_http1_resp_feed(resp, in->data, in->len, NULL);
    ho_buf_consume(in, in->len); /* bytes after a complete response are dropped */
    return rc;
}

static void report_response_error(int rc)
{
    if (rc == HO_HTTP1_RESP_ERR_CALLBACK)
        fprintf(stderr, "handoff: writing the body: %s\n", strerror(errno));
    else
        fprintf(stderr, "handoff: response: %s\n", ho_http1_resp_err_str(rc));
}

static void print_summary(ho_tls *t)
{
    const ho_tls_suite *suite = ho_tls_get_suite(t);
    const char *alpn = ho_tls_get_alpn(t);
    fprintf(stderr, "suite: %s\n", suite ? suite->name : "none");
    fprintf(stderr, "group: %s\n", app_group_name(ho_tls_get_group(t)));
    fprintf(stderr, "alpn: %s\n", alpn ? alpn : "none");
    fprintf(stderr, "resumed: %s\n", ho_tls_is_resumed(t) ? "yes" : "no");
    fprintf(stderr, "hrr: %s\n", ho_tls_did_hrr(t) ? "yes" : "no");
    fprintf(stderr, "early-data: %s\n", ho_tls_early_status_name(ho_tls_early_data_status(t)));
}

/* One connection, one request. *too_early: the request went in early
 * data and was answered 425 Too Early (nothing printed; the caller sends
 * it again). */
static int fetch(const get_options *o, const url_parts *u, ho_tls_config *cfg, session_sink *sink, bool *too_early)
{
    *too_early = false;
    ho_tls_conn *c = ho_tls_conn_new(cfg, u->host);
    if (c == NULL) {
        app_report_error("connection", HO_ERR_NOMEM);
        return 1;
    }
    ho_tls *t = ho_tls_conn_tls(c);
    int rc = 1, fd = -1, err;
    bool eof = false;
    ho_http1_resp resp;
    ho_http1_resp_init(&resp, false);
    if (o->resume != NULL) {
        ho_buf blob;
        ho_buf_init(&blob);
        err = app_read_file(o->resume, &blob);
        if (err == HO_OK && (err = ho_tls_set_session(t, blob.data, blob.len)) != HO_OK)
            app_report_error("--resume: unusable session, doing a full handshake", err);
        ho_buf_free(&blob);
    }
    fd = connect_to(u);
    if (fd < 0)
        goto done;
    ho_buf req;
    ho_buf_init(&req);
    char line[1400];
    int n = snprintf(line, sizeof(line), "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", u->path,
                     u->host_header);
    ho_put_bytes(&req, line, n > 0 && (size_t)n < sizeof(line) ? (size_t)n : 0);
    for (size_t i = 0; i < o->nheaders; i++) {
        ho_put_bytes(&req, o->headers[i].name.p, o->headers[i].name.len);
        ho_put_bytes(&req, ": ", 2);
        ho_put_bytes(&req, o->headers[i].value.p, o->headers[i].value.len);
        ho_put_bytes(&req, "\r\n", 2);
    }
    ho_put_bytes(&req, "\r\n", 2);
    ho_tls_set_now(t, app_now_ms());
    err = ho_tls_conn_start(c);
    /* 0-RTT: the request right behind the ClientHello, in one send. A
     * request too large for the ticket's limit waits for the handshake. */
    bool sent_early = false;
    if (err == HO_OK && ho_tls_early_data_status(t) == HO_TLS_EARLY_OFFERED) {
        sent_early = ho_tls_conn_write(c, req.data, req.len) == HO_OK;
        if (!sent_early && o->verbose)
            fprintf(stderr, "early-data: request larger than the ticket allows, sent after the handshake\n");
    }
    if (err == HO_OK)
        err = send_out(fd, c);
    if (err != HO_OK) {
        ho_buf_free(&req);
        app_report_error("handshake", err);
        goto done;
    }
    while (!ho_tls_conn_handshake_done(c)) {
        err = read_once(fd, c, READ_TIMEOUT_MS, &eof);
        if (err != HO_OK) {
            if (err == HO_ERR_TIMEOUT)
                fprintf(stderr, "handoff: handshake: timed out\n");
            else if (eof)
                fprintf(stderr, "handoff: handshake: connection closed by the server\n");
            else
                app_report_error("handshake", err);
            ho_buf_free(&req);
            goto done;
        }
    }
    if (o->verbose)
        print_summary(t);
    if (o->key_update) {
        if ((err = ho_tls_conn_key_update(c, true)) != HO_OK) {
            app_report_error("key update", err);
            ho_buf_free(&req);
            goto done;
        }
        if (o->verbose)
            fprintf(stderr, "key-update: sent\n");
    }
    /* Sent already as accepted early data, or (not offered, refused) now:
     * RFC 8446 §4.2.10, a rejected client resends in 1-RTT. */
    err = sent_early && ho_tls_early_data_status(t) == HO_TLS_EARLY_ACCEPTED ? HO_OK
                                                                             : ho_tls_conn_write(c, req.data, req.len);
    ho_buf_free(&req);
    if (err == HO_OK)
        err = send_out(fd, c);
    if (err != HO_OK) {
        app_report_error("sending the request", err);
        goto done;
    }
    resp_out ro = {.include_head = o->include_head,
                   .early = sent_early && ho_tls_early_data_status(t) == HO_TLS_EARLY_ACCEPTED};
    resp.on_head = on_resp_head;
    resp.on_body = on_resp_body;
    resp.ctx = &ro;
    int prc = HO_HTTP_INCOMPLETE;
    for (;;) {
        /* After a complete response, linger briefly only when a session
         * ticket is still wanted. */
        bool complete = prc == HO_HTTP_COMPLETE;
        int timeout = complete ? TICKET_WAIT_MS : READ_TIMEOUT_MS;
        if (complete && (o->resume == NULL || sink->received))
            break;
        err = read_once(fd, c, timeout, &eof);
        prc = feed_response(c, &resp);
        if (prc < 0) {
            report_response_error(prc);
            goto done;
        }
        if (err == HO_ERR_CLOSED) {
            /* close_notify: the end of a close-delimited body, or (RFC 9112
             * §8) of a response cut short. */
            prc = ho_http1_resp_finish(&resp);
            if (prc < 0) {
                report_response_error(prc);
                goto done;
            }
            break;
        }
        if (err != HO_OK && prc == HO_HTTP_COMPLETE)
            break;
        if (err == HO_ERR_IO && eof) {
            /* TCP EOF without close_notify: a truncation attack unless the
             * response was delimited anyway (RFC 8446 §6.1). A body that
             * runs to the close is still taken, as get always did, though
             * RFC 9112 §9.8 calls it complete only after a closure alert. */
            if (resp.framing != HO_HTTP1_BODY_CLOSE) {
                fprintf(stderr, "handoff: response: connection closed without close_notify before the end\n");
                goto done;
            }
            ho_http1_resp_finish(&resp);
            break;
        }
        if (err == HO_ERR_TIMEOUT) {
            fprintf(stderr, "handoff: response: timed out\n");
            goto done;
        }
        if (err != HO_OK) {
            app_report_error("response", err);
            goto done;
        }
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "handoff: writing the body: %s\n", strerror(errno));
        goto done;
    }
    /* Polite close; the server may already be gone. */
    if (ho_tls_conn_close(c) == HO_OK)
        send_out(fd, c);
    *too_early = ro.too_early;
    rc = 0;
done:
    if (fd >= 0)
        close(fd);
    ho_http1_resp_free(&resp);
    ho_tls_conn_free(c);
    return rc;
}

static void on_h3_session(void *ctx, const uint8_t *blob, size_t len) { store_session(ctx, blob, len); }

/* The server's NEW_TOKEN token (--h3) goes to the session file's sibling
 * F.token (raw bytes, the last one wins). */
static void on_h3_token(void *ctx, const uint8_t *token, size_t len)
{
    session_sink *sink = ctx;
    if (app_write_file(sink->token_path, token, len) != HO_OK)
        fprintf(stderr, "handoff: cannot write token to %s\n", sink->token_path);
}

/* DIR/NAME for a URL path: its last segment without the query. */
static bool output_name(const char *dir, const char *path, char *out, size_t cap)
{
    size_t plen = strcspn(path, "?#");
    size_t b = plen;
    while (b > 0 && path[b - 1] != '/')
        b--;
    const char *name = path + b;
    size_t nlen = plen - b;
    if (nlen == 0 || (nlen == 1 && name[0] == '.') || (nlen == 2 && name[0] == '.' && name[1] == '.')) {
        name = "index.html";
        nlen = strlen(name);
    }
    int n = snprintf(out, cap, "%s/%.*s", dir, (int)nlen, name);
    return n > 0 && (size_t)n < cap;
}

/* -i with --h3: the status line and the headers we keep. */
static void print_h3_head(const ho_h3_response *r)
{
    printf("HTTP/3 %d\r\n", r->status);
    if (r->content_type[0] != '\0')
        printf("content-type: %s\r\n", r->content_type);
    if (r->content_encoding[0] != '\0')
        printf("content-encoding: %s\r\n", r->content_encoding);
    printf("\r\n");
}

typedef struct h3_sink {
    bool include_head, head_done;
    uint64_t bytes;
} h3_sink;

/* One URL to stdout: the body goes out as it arrives (stdio buffering, no
 * copy of the whole body in memory); the head first with -i. */
static int h3_body(void *ctx, const ho_h3_response *r, const uint8_t *data, size_t len)
{
    h3_sink *k = ctx;
    if (k->include_head && !k->head_done)
        print_h3_head(r);
    k->head_done = true;
    k->bytes += len;
    /* One thread writes stdout: skip stdio's lock per DATA chunk (~1 KB each). */
    return fwrite_unlocked(data, 1, len, stdout) == len ? 0 : -1;
}

static void print_h3_info(const ho_h3_fetch_info *in)
{
    fprintf(stderr, "suite: %s\n", in->suite[0] != '\0' ? in->suite : "none");
    fprintf(stderr, "resumed: %s\n", in->resumed ? "yes" : "no");
    fprintf(stderr, "early-data: %s\n", ho_tls_early_status_name(in->early));
    fprintf(stderr, "0rtt-packets-sent: %llu\n", (unsigned long long)in->stats.zero_rtt_sent);
    fprintf(stderr, "retry: %s\n", in->retried ? "yes" : "no");
    fprintf(stderr, "version-negotiation: %s\n", in->version_negotiated ? "yes" : "no");
    fprintf(stderr, "quic-version: 0x%08x\n", in->version);
    fprintf(stderr, "congestion-control: %s\n", in->cc != NULL ? in->cc : "");
    fprintf(stderr, "key-updates-initiated: %llu\n", (unsigned long long)in->key_updates_initiated);
    fprintf(stderr, "key-updates: %llu\n", (unsigned long long)in->key_updates);
    if (in->goaway)
        fprintf(stderr, "goaway: %llu\n", (unsigned long long)in->goaway_id);
    else
        fprintf(stderr, "goaway: none\n");
    fprintf(stderr, "packets: sent %llu received %llu lost %llu\n", (unsigned long long)in->stats.packets_sent,
            (unsigned long long)in->stats.packets_received, (unsigned long long)in->stats.packets_lost);
    fprintf(stderr, "packets: spurious-lost %llu congestion-undos %llu thresholds %llu packets %llu/8 rtt\n",
            (unsigned long long)in->stats.packets_spurious_lost, (unsigned long long)in->stats.congestion_undos,
            (unsigned long long)in->stats.packet_threshold, (unsigned long long)in->stats.time_threshold_8ths);
    const ho_quic_conn_stats *q = &in->stats;
    fprintf(stderr, "quic ecn %s (ect0 received %llu, ce reported %llu), max_datagram_size %llu "
                    "(pmtud probes sent %llu, acked %llu, lost %llu)\n",
            q->ecn_capable ? "capable" : q->ecn_state == 3 ? "failed" : "not validated",
            (unsigned long long)q->ecn_ect0_received, (unsigned long long)q->ecn_ce_reported,
            (unsigned long long)q->max_datagram_size, (unsigned long long)q->pmtud_probes_sent,
            (unsigned long long)q->pmtud_probes_acked, (unsigned long long)q->pmtud_probes_lost);
}

/* --h3: GETs over one HTTP/3 connection (src/http/h3_fetch.c). */
/* "server closed: PROTOCOL_VIOLATION (frame encoding)": who closed the
 * connection, the code by its RFC name, and the reason phrase. */
static void print_close(const ho_h3_fetch_info *in)
{
    const char *name;
    char tmp[48];
    if (in->close_is_app) {
        name = ho_h3_error_name(in->close_code);
    } else if (in->close_code >= HO_QUIC_CRYPTO_ERROR && in->close_code <= 0x1ff) {
        snprintf(tmp, sizeof(tmp), "CRYPTO_ERROR (%s)", ho_tls_alert_name((uint8_t)(in->close_code & 0xff)));
        name = tmp;
    } else {
        name = ho_quic_error_name(in->close_code);
    }
    fprintf(stderr, "handoff: HTTP/3 fetch: %s closed: %s (0x%llx)%s%s%s\n", in->close_by_peer ? "server" : "we",
            name, (unsigned long long)in->close_code, in->close_reason[0] != '\0' ? " (" : "", in->close_reason,
            in->close_reason[0] != '\0' ? ")" : "");
}

static int fetch_h3(const get_options *o, ho_tls_config *cfg, session_sink *sink)
{
    static const char *const h3_alpn[] = {"h3"};
    if (o->alpn != NULL) {
        fprintf(stderr, "handoff: --h3 does not take --alpn\n");
        return 2;
    }
    url_parts *u = calloc((size_t)o->nurls, sizeof(*u));
    const char **paths = calloc((size_t)o->nurls, sizeof(*paths));
    ho_h3_response *resp = calloc((size_t)o->nurls, sizeof(*resp));
    ho_buf blob, token;
    ho_buf_init(&blob);
    ho_buf_init(&token);
    int rc = 1;
    if (u == NULL || paths == NULL || resp == NULL) {
        app_report_error("--h3", HO_ERR_NOMEM);
        goto done;
    }
    for (int i = 0; i < o->nurls; i++) {
        if (!parse_url(o->urls[i], &u[i])) {
            fprintf(stderr, "handoff: not an https://host[:port]/path URL: %s\n", o->urls[i]);
            rc = 2;
            goto done;
        }
        if (strcmp(u[i].host, u[0].host) != 0 || strcmp(u[i].port, u[0].port) != 0) {
            fprintf(stderr, "handoff: --h3: all URLs must be on one host and port (%s)\n", o->urls[i]);
            rc = 2;
            goto done;
        }
        paths[i] = u[i].path;
    }
    int err = ho_tls_config_set_alpn(cfg, h3_alpn, 1);
    if (err == HO_OK)
        err = ho_quic_tls_config_prepare(cfg);
    if (err != HO_OK) {
        app_report_error("HTTP/3 configuration", err);
        goto done;
    }
    ho_h3_fetch_opts fo = {.host = u[0].host, .port = u[0].port, .authority = u[0].host_header, .tls = cfg,
                           .timeout_ms = o->timeout_ms, .quic_version = o->quic_version, .cc_name = o->cc,
                           .key_updates = o->key_update ? (o->key_updates ? o->key_updates : 1) : 0,
                           .no_gso = o->no_gso, .no_gro = o->no_gro, .no_ecn = o->no_ecn,
                           .max_udp_payload = (size_t)o->max_udp_payload, .headers = o->headers,
                           .nheaders = o->nheaders, .local_addr = o->local_addr};
    if (o->resume != NULL) {
        err = app_read_file(o->resume, &blob);
        if (err == HO_OK) {
            fo.session = blob.data;
            fo.session_len = blob.len;
        }
        fo.on_session = on_h3_session;
        fo.ctx = sink;
        snprintf(sink->token_path, sizeof(sink->token_path), "%s.token", o->resume);
        if (app_read_file(sink->token_path, &token) == HO_OK && token.len > 0) {
            fo.token = token.data;
            fo.token_len = token.len;
        }
        fo.on_token = on_h3_token;
    }
    if (o->output_dir != NULL && mkdir(o->output_dir, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "handoff: --output-dir %s: %s\n", o->output_dir, strerror(errno));
        goto done;
    }
    /* One URL to stdout streams its body; several are kept and written in
     * order (or to --output-dir files) once all arrived. */
    bool stream = o->nurls == 1 && o->output_dir == NULL;
    h3_sink hs = {.include_head = o->include_head};
    static char obuf[1 << 18]; /* stdout in large writes */
    if (stream) {
        setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
        fo.on_body = h3_body;
        fo.body_ctx = &hs;
    }
    ho_h3_fetch_info info;
    err = ho_h3_fetch_many(&fo, paths, (size_t)o->nurls, resp, &info);
    if (o->verbose) {
        print_h3_info(&info);
        fprintf(stderr, "new-token: sent %s, received %llu\n", fo.token_len > 0 ? "yes" : "no",
                (unsigned long long)info.stats.new_tokens_received);
    }
    if (o->verbose && err == HO_ERR_CLOSED && info.closed)
        print_close(&info);
    if (err != HO_OK && err != HO_ERR_CLOSED) {
        if (err == HO_ERR_TIMEOUT)
            fprintf(stderr, "handoff: HTTP/3 fetch: timed out%s\n",
                    info.handshake_done ? "" : " (no handshake)");
        else if (err == HO_ERR_IO && stream && ferror(stdout))
            fprintf(stderr, "handoff: writing the body: %s\n", strerror(errno));
        else if (err == HO_ERR_IO || err == HO_ERR_REFUSED)
            fprintf(stderr, "handoff: HTTP/3 fetch: cannot reach %s port %s over UDP (%s)\n", u[0].host, u[0].port,
                    err == HO_ERR_REFUSED ? "refused: nothing listens" : "no address");
        else if (info.closed)
            print_close(&info);
        else if (err == HO_ERR_QUIC_VERSION)
            fprintf(stderr, "handoff: HTTP/3 fetch: the server supports none of our QUIC versions\n");
        else
            app_report_error("HTTP/3 fetch", err);
        goto done;
    }
    rc = 0;
    for (int i = 0; i < o->nurls; i++) {
        const ho_h3_response *r = &resp[i];
        if (o->verbose)
            fprintf(stderr, "handoff: %s: HTTP/3 status %d, %llu body bytes%s\n", o->urls[i], r->status,
                    (unsigned long long)(stream ? hs.bytes : r->body.len), r->reset ? " (stream reset)" : "");
        if (r->reset || !r->complete) {
            if (!r->reset && r->status == 0 && r->body.len == 0 && info.goaway)
                fprintf(stderr, "handoff: %s: not requested: the server is shutting down (GOAWAY)\n", o->urls[i]);
            else if (r->reset)
                fprintf(stderr, "handoff: %s: the stream was reset (code 0x%llx)\n", o->urls[i],
                        (unsigned long long)r->reset_code);
            else
                fprintf(stderr, "handoff: %s: incomplete response (%llu bytes), the connection closed\n",
                        o->urls[i], (unsigned long long)(stream ? hs.bytes : r->body.len));
            rc = 1;
            continue;
        }
        if (r->status < 200 || r->status >= 400) {
            fprintf(stderr, "handoff: %s: status %d\n", o->urls[i], r->status);
            rc = 1;
        }
        if (o->output_dir != NULL) {
            char name[4096];
            if (!output_name(o->output_dir, paths[i], name, sizeof(name)) ||
                app_write_file(name, r->body.data, r->body.len) != HO_OK) {
                fprintf(stderr, "handoff: cannot write %s\n", name);
                rc = 1;
            }
            continue;
        }
        if (o->include_head && !(stream && hs.head_done))
            print_h3_head(r); /* (streamed: before the first body byte) */
        if (!stream)
            fwrite(r->body.data, 1, r->body.len, stdout);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "handoff: writing the body: %s\n", strerror(errno));
        rc = 1;
    }
done:
    for (int i = 0; resp != NULL && i < o->nurls; i++)
        ho_buf_free(&resp[i].body);
    ho_buf_free(&blob);
    ho_buf_free(&token);
    free(resp);
    free(paths);
    free(u);
    return rc;
}

int get_main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"insecure", no_argument, NULL, 'k'},     {"cafile", required_argument, NULL, 'c'},
        {"alpn", required_argument, NULL, 'a'},   {"resume", required_argument, NULL, 'r'},
        {"suites", required_argument, NULL, 's'}, {"groups", required_argument, NULL, 'g'},
        {"key-update", optional_argument, NULL, 'u'}, {"verbose", no_argument, NULL, 'v'},
        {"include", no_argument, NULL, 'i'},      {"help", no_argument, NULL, 'h'},
        {"h3", no_argument, NULL, '3'},           {"ciphers", required_argument, NULL, 's'},
        {"session-file", required_argument, NULL, 'r'}, {"quic-version", required_argument, NULL, 'Q'},
        {"quic-versions", required_argument, NULL, 'V'},
        {"output-dir", required_argument, NULL, 'o'}, {"timeout", required_argument, NULL, 'T'},
        {"no-gso", no_argument, NULL, 'G'},       {"no-gro", no_argument, NULL, 'R'},
        {"no-ecn", no_argument, NULL, 'E'},       {"max-udp-payload", required_argument, NULL, 'M'},
        {"psk-ke", no_argument, NULL, 'P'},       {"header", required_argument, NULL, 'H'},
        {"early-data", no_argument, NULL, 'Y'},
        {"qlog-dir", required_argument, NULL, 'L'},      {"cc", required_argument, NULL, 'C'},
        {"cert", required_argument, NULL, 'x'},   {"key", required_argument, NULL, 'y'},
        {"local-addr", required_argument, NULL, 'l'},
        {NULL, 0, NULL, 0},
    };
    get_options o = {.timeout_ms = 60000};
    const char *qlog_flag = NULL;
    int opt;
    char *end;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "viho:H:", opts, NULL)) != -1) {
        switch (opt) {
        case 'k': o.insecure = true; break;
        case 'c': o.cafile = optarg; break;
        case 'x': o.cert = optarg; break;
        case 'y': o.key = optarg; break;
        case 'a': o.alpn = optarg; break;
        case 'r': o.resume = optarg; break;
        case 'l': o.local_addr = optarg; break;
        case 'P': o.psk_ke = true; break;
        case 'Y': o.early_data = true; break;
        case 's': o.suites = optarg; break;
        case 'g': o.groups = optarg; break;
        case 'u':
            o.key_update = true;
            if (optarg != NULL) {
                unsigned long v = strtoul(optarg, &end, 10);
                if (*end != '\0' || v == 0 || v > 1000000) {
                    fprintf(stderr, "handoff: --key-update=N: N is 1..1000000\n");
                    return 2;
                }
                o.key_updates = (unsigned)v;
            }
            break;
        case 'v': o.verbose = true; break;
        case 'i': o.include_head = true; break;
        case 'H': {
            /* NAME: VALUE, the name a token (checked by the server), the
             * value without its leading blanks; in place in argv. */
            char *colon = strchr(optarg, ':');
            if (colon == NULL || colon == optarg || o.nheaders == GET_MAX_HEADERS) {
                fprintf(stderr, "handoff: -H 'NAME: VALUE', at most %d\n", GET_MAX_HEADERS);
                return 2;
            }
            *colon = '\0';
            for (char *p = optarg; *p != '\0'; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            char *v = colon + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            o.headers[o.nheaders++] = (ho_http_header){{optarg, strlen(optarg)}, {v, strlen(v)}};
            break;
        }
        case '3': o.h3 = true; break;
        case 'C':
            if ((o.cc = app_parse_cc(optarg)) == NULL) {
                fprintf(stderr, "handoff: --cc: cubic, newreno or bbr\n");
                return 2;
            }
            break;
        case 'o': o.output_dir = optarg; break;
        case 'V': {
            uint32_t vs[HO_QUIC_CONFIG_VERSIONS];
            if (app_parse_quic_versions(optarg, vs) != 0 || (vs[0] != HO_QUIC_V1 && vs[0] != HO_QUIC_V2)) {
                fprintf(stderr, "handoff: --quic-versions: v1 or v2 first, e.g. v2,v1\n");
                return 2;
            }
            o.quic_version = vs[0];
            break;
        }
        case 'Q': {
            unsigned long long v = strtoull(optarg, &end, 16);
            if (*end != '\0' || *optarg == '\0' || v == 0 || v > 0xffffffffull) {
                fprintf(stderr, "handoff: --quic-version: a non-zero 32-bit hex number (e.g. 0x1a2a3a4a)\n");
                return 2;
            }
            o.quic_version = (uint32_t)v;
            break;
        }
        case 'T': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v == 0 || v > 3600) {
                fprintf(stderr, "handoff: --timeout: seconds, 1..3600\n");
                return 2;
            }
            o.timeout_ms = (int)v * 1000;
            break;
        }
        case 'G': o.no_gso = true; break;
        case 'R': o.no_gro = true; break;
        case 'E': o.no_ecn = true; break;
        case 'M': {
            unsigned long v = strtoul(optarg, &end, 10);
            if (*end != '\0' || v < 1200 || v > 65527) {
                fprintf(stderr, "handoff: --max-udp-payload: bytes, 1200..65527\n");
                return 2;
            }
            o.max_udp_payload = v;
            break;
        }
        case 'L': qlog_flag = optarg; break;
        case 'h': get_usage(stdout); return 0;
        default: get_usage(stderr); return 2;
        }
    }
    const char *qlog_dir = ho_qlog_dir_from_env(qlog_flag);
    if (qlog_dir != NULL && ho_qlog_start(qlog_dir) != HO_OK) {
        fprintf(stderr, "handoff: --qlog-dir / QLOGDIR: cannot write to %s\n", qlog_dir);
        return 2;
    }
    if (optind >= argc || (!o.h3 && optind + 1 != argc)) {
        fprintf(stderr, o.h3 ? "handoff: get needs a URL\n" : "handoff: get needs exactly one URL (several: --h3)\n");
        get_usage(stderr);
        return 2;
    }
    if (!o.h3 && (o.output_dir != NULL || o.quic_version != 0 || o.key_updates > 1 || o.cc != NULL)) {
        fprintf(stderr, "handoff: --output-dir, --quic-version, --key-update=N and --cc need --h3\n");
        return 2;
    }
    if ((o.cert == NULL) != (o.key == NULL)) {
        fprintf(stderr, "handoff: --cert and --key go together\n");
        return 2;
    }
    o.url = argv[optind];
    o.urls = argv + optind;
    o.nurls = argc - optind;
    url_parts u;
    if (!parse_url(o.url, &u)) {
        fprintf(stderr, "handoff: not an https://host[:port]/path URL: %s\n", o.url);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    session_sink sink = {.path = o.resume};
    ho_tls_config *cfg = ho_tls_config_new(false);
    if (cfg == NULL)
        return 1;
    ho_tls_config_set_psk_ke(cfg, o.psk_ke);
    if (o.early_data)
        ho_tls_config_set_early_data(cfg, HO_TLS_EARLY_DATA_DEFAULT);
    int rc = 1;
    int err = app_config_lists(cfg, o.suites, o.groups, o.alpn);
    if (err != HO_OK) {
        if (err != HO_ERR_INVALID_ARG)
            app_report_error("configuration", err);
        rc = 2;
        goto done;
    }
    if (o.insecure) {
        ho_tls_config_set_verify_peer(cfg, false);
    } else if (o.cafile != NULL) {
        ho_trust_store *ts = ho_trust_store_new();
        if (ts == NULL || (err = ho_trust_store_add_file(ts, o.cafile)) != HO_OK) {
            app_report_error("--cafile", ts == NULL ? HO_ERR_NOMEM : err);
            ho_trust_store_free(ts);
            goto done;
        }
        ho_tls_config_set_trust(cfg, ts); /* takes ts */
    }
    /* A client certificate answers a CertificateRequest (TCP and QUIC). */
    if (o.cert != NULL && (err = ho_tls_config_load_cert_files(cfg, o.cert, o.key)) != HO_OK) {
        app_report_error("--cert/--key", err);
        rc = 2;
        goto done;
    }
    if (o.h3) {
        rc = fetch_h3(&o, cfg, &sink);
        goto done;
    }
    ho_tls_callbacks cb = {0};
    cb.session = on_session;
    cb.ctx = &sink;
    ho_tls_config_set_callbacks(cfg, &cb);
    bool too_early = false;
    rc = fetch(&o, &u, cfg, &sink, &too_early);
    if (rc == 0 && too_early) {
        /* RFC 8470 §5.2: a user agent SHOULD retry a request answered 425
         * Too Early automatically, but any retry MUST NOT be sent in early
         * data: once, on a new connection (the first said Connection:
         * close), whose handshake completes before the request goes. */
        if (o.verbose)
            fprintf(stderr, "early-data: 425 Too Early, retrying after the handshake\n");
        ho_tls_config_set_early_data(cfg, 0);
        rc = fetch(&o, &u, cfg, &sink, &too_early);
    }
done:
    ho_tls_config_free(cfg);
    return rc;
}
