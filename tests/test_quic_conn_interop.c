/* test_quic_conn_interop: the QUIC connection (include/handoff/quic.h) as a
 * server on a real UDP socket against ngtcp2's example client (gtlsclient,
 * Debian ngtcp2-client, PEERS.md). The server answers every HTTP/3 request
 * with a minimal response (HEADERS ":status 200" + DATA) so the client can
 * finish; the test checks the handshake, the downloaded body byte for byte
 * and a clean client exit. Skipped (passes, with a note) when gtlsclient is
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

#define BODY_LEN 300000

typedef struct server {
    ho_quic_conn *conn;
    uint64_t streams[64];
    bool answered[64];
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
        ho_buf resp;
        ho_buf_init(&resp);
        static const uint8_t headers[] = {0x01, 0x03, 0x00, 0x00, 0xc0 | 25};
        ho_put_bytes(&resp, headers, sizeof(headers));
        ho_put_varint(&resp, 0x00); /* DATA */
        ho_put_varint(&resp, BODY_LEN);
        ho_put_bytes(&resp, s->body, BODY_LEN);
        size_t w;
        int rc = ho_quic_stream_write(c, id, resp.data, resp.len, true, &w);
        CHECK(rc == HO_OK && w == resp.len);
        ho_buf_free(&resp);
        s->answered[i] = true;
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

int main(void)
{
    if (access("/usr/bin/gtlsclient", X_OK) != 0) {
        fprintf(stderr, "gtlsclient not installed: skipped\n");
        return ho_test_summary("test_quic_conn_interop");
    }
    signal(SIGPIPE, SIG_IGN);
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
        fprintf(stderr, "gtlsclient exit %d; server error %d, close code 0x%llx app=%d by_peer=%d\n",
                WIFEXITED(status) ? WEXITSTATUS(status) : -1, err, (unsigned long long)code, is_app, by_peer);
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
    return ho_test_summary("test_quic_conn_interop");
}
