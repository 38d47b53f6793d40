/* test_quic_conn_interop: the QUIC connection (include/handoff/quic.h) on
 * real UDP sockets against ngtcp2's examples (Debian ngtcp2-client and
 * ngtcp2-server, PEERS.md): our server against gtlsclient, and our client
 * against gtlsserver (GET /200000, DATA frames summed). The server answers every HTTP/3 request
 * (the client updates its keys 5 ms after the handshake) with a minimal response (HEADERS ":status 200" + DATA) so the client can
 * finish; the test checks the handshake, the downloaded body byte for byte
 * and a clean client exit. Fails (never skips) when gtlsclient is
 * not installed. The I/O loop and the clock live here, not in src/quic. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/packet.h"
#include "quic/quic_types.h"

#define BODY_LEN 2000000

typedef struct server {
    ho_quic_conn *conn;
    uint64_t streams[64];
    bool answered[64];
    ho_buf pending[64];      /* response bytes not yet accepted by the stream */
    size_t nstreams;
    bool control_opened;
    int hs_done;
    uint8_t body[BODY_LEN];
} server;

static ho_quic_time mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ho_quic_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void on_opened(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    server *s = ctx;
    if (s->nstreams < 64)
        s->streams[s->nstreams++] = id;
}

static void on_hs(void *ctx, ho_quic_conn *c)
{
    (void)c;
    server *s = ctx;
    s->hs_done++;
}

/* HTTP/3 (RFC 9114) just enough for one response per request stream. */
static void serve(server *s)
{
    static uint8_t buf[65536];
    ho_quic_conn *c = s->conn;
    if (c == NULL || !ho_quic_conn_handshake_done(c))
        return;
    if (!s->control_opened) {
        uint64_t id;
        if (ho_quic_stream_open(c, false, &id) == HO_OK) {
            /* Control stream type 0x00, SETTINGS (0x04) with no settings. */
            static const uint8_t control[] = {0x00, 0x04, 0x00};
            size_t w;
            ho_quic_stream_write(c, id, control, sizeof(control), false, &w);
            s->control_opened = true;
        }
    }
    for (size_t i = 0; i < s->nstreams; i++) {
        uint64_t id = s->streams[i];
        size_t n;
        bool fin = false;
        if (s->answered[i])
            continue;
        while (ho_quic_stream_read(c, id, buf, sizeof(buf), &n, &fin) == HO_OK && n > 0 && !fin)
            ;
        if (!fin || (id & 2) != 0)
            continue; /* uni streams (control, QPACK) are read and ignored */
        /* HEADERS: QPACK prefix 0x00 0x00, static index 25 ":status 200". */
        ho_buf *resp = &s->pending[i];
        static const uint8_t headers[] = {0x01, 0x03, 0x00, 0x00, 0xc0 | 25};
        ho_put_bytes(resp, headers, sizeof(headers));
        ho_put_varint(resp, 0x00); /* DATA */
        ho_put_varint(resp, BODY_LEN);
        ho_put_bytes(resp, s->body, BODY_LEN);
        s->answered[i] = true;
    }
    /* Push what the send buffers accept now. */
    for (size_t i = 0; i < s->nstreams; i++) {
        ho_buf *resp = &s->pending[i];
        if (resp->len == 0)
            continue;
        size_t w = 0;
        ho_quic_stream_write(c, s->streams[i], resp->data, resp->len, true, &w);
        ho_buf_consume(resp, w);
        if (resp->len == 0)
            ho_buf_free(resp);
    }
}

static void flush(server *s, int fd, const struct sockaddr_in *peer)
{
    static uint8_t buf[16 * 1500];
    for (;;) {
        size_t seg;
        size_t n = ho_quic_conn_send(s->conn, buf, sizeof(buf), &seg, mono_now());
        if (n == 0)
            return;
        for (size_t off = 0; off < n; off += seg) {
            size_t len = n - off < seg ? n - off : seg;
            sendto(fd, buf + off, len, 0, (const struct sockaddr *)peer, sizeof(*peer));
        }
    }
}

static void test_server_vs_gtlsclient(void)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    ho_tls_config *tls = ho_tls_config_new(true);
    ho_tls_config_add_cert(tls, &chain, key);
    const char *alpn[] = {"h3"};
    ho_tls_config_set_alpn(tls, alpn, 1);
    CHECK_EQ(ho_quic_tls_config_prepare(tls), HO_OK);

    static server s;
    for (size_t i = 0; i < BODY_LEN; i++)
        s.body[i] = (uint8_t)('a' + (i * 7 + i / 1000) % 26);
    ho_quic_config cfg = {
        .is_server = true,
        .tls = tls,
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = &s, .stream_opened = on_opened, .handshake_done = on_hs},
    };

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    socklen_t alen = sizeof(addr);
    getsockname(fd, (struct sockaddr *)&addr, &alen);
    int port = ntohs(addr.sin_port);

    char dir[] = "/tmp/ho_quic_interop_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char port_s[16], url[128], dl[160];
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(url, sizeof(url), "https://127.0.0.1:%d/body", port);
    snprintf(dl, sizeof(dl), "--download=%s", dir);
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
        }
        execl("/usr/bin/gtlsclient", "gtlsclient", "-q", "--exit-on-all-streams-close", "--timeout=5s", dl,
              "--key-update=5ms",
              "127.0.0.1", port_s, url, (char *)NULL);
        _exit(127);
    }

    struct sockaddr_in peer;
    int status = -1;
    bool exited = false;
    ho_quic_time deadline = mono_now() + HO_QUIC_SEC(20);
    while (mono_now() < deadline) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            exited = true;
            break;
        }
        int timeout_ms = 50;
        if (s.conn != NULL) {
            ho_quic_time t = ho_quic_conn_next_timeout(s.conn), now = mono_now();
            if (t != HO_QUIC_TIME_NEVER) {
                int64_t ms = t > now ? (t - now) / 1000000 + 1 : 0;
                if (ms < timeout_ms)
                    timeout_ms = (int)ms;
            }
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, timeout_ms);
        if (pfd.revents & POLLIN) {
            uint8_t dgram[65536];
            socklen_t plen = sizeof(peer);
            ssize_t n;
            while ((n = recvfrom(fd, dgram, sizeof(dgram), MSG_DONTWAIT, (struct sockaddr *)&peer, &plen)) > 0) {
                if (s.conn == NULL) {
                    ho_quic_header h;
                    if (ho_quic_header_parse(dgram, (size_t)n, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
                        continue;
                    s.conn = ho_quic_conn_new_server(&cfg, h.dcid.data, h.dcid.len, h.scid.data, h.scid.len, NULL,
                                                     mono_now());
                    if (s.conn == NULL)
                        continue;
                }
                ho_quic_conn_receive(s.conn, dgram, (size_t)n, NULL, mono_now());
            }
        }
        if (s.conn == NULL)
            continue;
        if (ho_quic_conn_next_timeout(s.conn) <= mono_now())
            ho_quic_conn_handle_timeout(s.conn, mono_now());
        serve(&s);
        flush(&s, fd, &peer);
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    CHECK(exited);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK(s.conn != NULL);
    CHECK_EQ(s.hs_done, 1);
    if (s.conn != NULL) {
        CHECK(ho_quic_conn_handshake_confirmed(s.conn));
        int err = ho_quic_conn_error(s.conn);
        bool is_app, by_peer;
        uint64_t code = ho_quic_conn_close_code(s.conn, &is_app, &by_peer);
        fprintf(stderr, "gtlsclient exit %d; server error %d, close code 0x%llx app=%d by_peer=%d, key updates %llu\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, err, (unsigned long long)code, is_app, by_peer,
                (unsigned long long)ho_quic_conn_key_updates(s.conn));
        CHECK(ho_quic_conn_key_updates(s.conn) >= 1); /* --key-update: RFC 9001 §6 with a real peer */
    }
    /* The body, byte for byte. */
    char path[200];
    snprintf(path, sizeof(path), "%s/body", dir);
    FILE *f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f != NULL) {
        static uint8_t got[BODY_LEN + 16];
        size_t n = fread(got, 1, sizeof(got), f);
        fclose(f);
        CHECK_EQ(n, BODY_LEN);
        CHECK(n == BODY_LEN && memcmp(got, s.body, BODY_LEN) == 0);
        unlink(path);
    }
    rmdir(dir);
    ho_quic_conn_free(s.conn);
    close(fd);
    ho_tls_config_free(tls);
}

/* ---- our client against gtlsserver ----------------------------------------- */

typedef struct client {
    ho_quic_conn *conn;
    uint64_t req;
    bool sent, done;
    ho_buf resp;      /* the request stream's bytes */
} client;

static void client_app(client *k, const char *authority, const char *path)
{
    ho_quic_conn *c = k->conn;
    if (!ho_quic_conn_handshake_done(c))
        return;
    if (!k->sent) {
        uint64_t ctl;
        size_t w;
        static const uint8_t control[] = {0x00, 0x04, 0x00};
        if (ho_quic_stream_open(c, false, &ctl) != HO_OK || ho_quic_stream_open(c, true, &k->req) != HO_OK)
            return;
        ho_quic_stream_write(c, ctl, control, sizeof(control), false, &w);
        /* QPACK field section (RFC 9204): prefix 0,0; :method GET (static 17),
         * :scheme https (23), :authority (name 0) and :path (name 1) literal. */
        ho_buf fs;
        ho_buf_init(&fs);
        static const uint8_t fixed[] = {0x00, 0x00, 0xc0 | 17, 0xc0 | 23};
        ho_put_bytes(&fs, fixed, sizeof(fixed));
        ho_put_u8(&fs, 0x50);
        ho_put_u8(&fs, (uint8_t)strlen(authority));
        ho_put_bytes(&fs, authority, strlen(authority));
        ho_put_u8(&fs, 0x51);
        ho_put_u8(&fs, (uint8_t)strlen(path));
        ho_put_bytes(&fs, path, strlen(path));
        ho_buf req;
        ho_buf_init(&req);
        ho_put_varint(&req, 0x01);
        ho_put_varint(&req, fs.len);
        ho_put_bytes(&req, fs.data, fs.len);
        CHECK_EQ(ho_quic_stream_write(c, k->req, req.data, req.len, true, &w), HO_OK);
        ho_buf_free(&fs);
        ho_buf_free(&req);
        k->sent = true;
    }
    uint8_t buf[65536];
    size_t n;
    bool fin = false;
    while (!k->done && ho_quic_stream_read(c, k->req, buf, sizeof(buf), &n, &fin) == HO_OK && (n > 0 || fin)) {
        ho_put_bytes(&k->resp, buf, n);
        if (fin)
            k->done = true;
    }
}

/* Sums the DATA frame payloads of an HTTP/3 response stream; -1 if malformed. */
static long h3_body_len(const ho_buf *b, bool *saw_headers)
{
    ho_cursor cur = ho_cursor_make(b->data, b->len);
    long total = 0;
    *saw_headers = false;
    while (!ho_cursor_empty(&cur)) {
        uint64_t type, len;
        const uint8_t *p;
        if (!ho_get_varint(&cur, &type) || !ho_get_varint(&cur, &len) || !ho_get_bytes(&cur, (size_t)len, &p))
            return -1;
        if (type == 0x01)
            *saw_headers = true;
        else if (type == 0x00)
            total += (long)len;
    }
    return total;
}

static void test_client_vs_gtlsserver(void)
{
    ho_test_gtls g;
    if (!ho_test_gtls_start(&g)) {
        CHECK(!"gtlsserver did not start");
        return;
    }
    const char *port_s = g.port_s;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g.port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

    ho_tls_config *tls = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(tls, false);
    const char *alpn[] = {"h3"};
    ho_tls_config_set_alpn(tls, alpn, 1);
    CHECK_EQ(ho_quic_tls_config_prepare(tls), HO_OK);
    ho_quic_config cfg = {.tls = tls, .server_name = "localhost", .wall_clock_ms = (int64_t)time(NULL) * 1000};
    static client k;
    memset(&k, 0, sizeof(k));
    ho_buf_init(&k.resp);
    k.conn = ho_quic_conn_new_client(&cfg, NULL, mono_now());
    CHECK(k.conn != NULL);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char authority[64];
    snprintf(authority, sizeof(authority), "127.0.0.1:%s", port_s);
    ho_quic_time deadline = mono_now() + HO_QUIC_SEC(15);
    bool closed_sent = false;
    while (k.conn != NULL && mono_now() < deadline && !ho_quic_conn_is_closed(k.conn)) {
        client_app(&k, authority, "/200000");
        if (k.done && !closed_sent) {
            ho_quic_conn_close(k.conn, 0x100 /* H3_NO_ERROR */, "", mono_now());
            closed_sent = true;
        }
        static uint8_t out[16 * 1500];
        for (;;) {
            size_t seg;
            size_t n = ho_quic_conn_send(k.conn, out, sizeof(out), &seg, mono_now());
            if (n == 0)
                break;
            for (size_t off = 0; off < n; off += seg)
                sendto(fd, out + off, n - off < seg ? n - off : seg, 0, (struct sockaddr *)&addr, sizeof(addr));
        }
        if (closed_sent && ho_quic_conn_is_closing(k.conn))
            break; /* CONNECTION_CLOSE is out; no need to wait out 3 PTO */
        int timeout_ms = 50;
        ho_quic_time t = ho_quic_conn_next_timeout(k.conn), now = mono_now();
        if (t != HO_QUIC_TIME_NEVER) {
            int64_t ms = t > now ? (t - now) / 1000000 + 1 : 0;
            if (ms < timeout_ms)
                timeout_ms = (int)ms;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        poll(&pfd, 1, timeout_ms);
        uint8_t dgram[65536];
        ssize_t n;
        while ((n = recv(fd, dgram, sizeof(dgram), MSG_DONTWAIT)) > 0)
            ho_quic_conn_receive(k.conn, dgram, (size_t)n, NULL, mono_now());
        if (ho_quic_conn_next_timeout(k.conn) <= mono_now())
            ho_quic_conn_handle_timeout(k.conn, mono_now());
    }
    CHECK(ho_quic_conn_handshake_confirmed(k.conn));
    CHECK(k.done);
    bool saw_headers;
    long body = h3_body_len(&k.resp, &saw_headers);
    CHECK(saw_headers);
    CHECK_EQ(body, 200000);
    fprintf(stderr, "client vs gtlsserver: handshake %s, response %zu bytes, body %ld, error %d\n",
            ho_quic_conn_handshake_confirmed(k.conn) ? "confirmed" : "NOT confirmed", k.resp.len, body,
            ho_quic_conn_error(k.conn));
    ho_test_gtls_stop(&g);
    ho_quic_conn_free(k.conn);
    ho_buf_free(&k.resp);
    ho_tls_config_free(tls);
    close(fd);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    /* A missing peer is a failure, never a skip: scripts/deps.sh installs
     * ngtcp2-client and ngtcp2-server. */
    if (access("/usr/bin/gtlsclient", X_OK) == 0)
        RUN(test_server_vs_gtlsclient);
    else {
        fprintf(stderr, "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh)\n");
        CHECK(!"gtlsclient missing");
    }
    test_client_vs_gtlsserver(); /* a missing gtlsserver fails it */
    return ho_test_summary("test_quic_conn_interop");
}
