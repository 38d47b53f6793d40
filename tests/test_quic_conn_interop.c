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
    ho_test_h3min h3;        /* its connection and request streams */
    int hs_done;
    uint8_t body[BODY_LEN];
} server;

static void on_opened(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    server *s = ctx;
    ho_test_h3min_opened(&s->h3, id);
}

static void on_hs(void *ctx, ho_quic_conn *c)
{
    (void)c;
    server *s = ctx;
    s->hs_done++;
}

static void test_server_vs_gtlsclient(void)
{
    ho_tls_config *tls;
    CHECK_EQ(ho_test_quic_server_tls("h3", &tls), HO_OK);
    CHECK(tls != NULL);

    static server s;
    for (size_t i = 0; i < BODY_LEN; i++)
        s.body[i] = (uint8_t)('a' + (i * 7 + i / 1000) % 26);
    ho_quic_config cfg = {
        .is_server = true,
        .tls = tls,
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = &s, .stream_opened = on_opened, .handshake_done = on_hs},
    };

    int port = 0;
    int fd = ho_test_udp_socket(&port);
    CHECK(fd >= 0);
    ho_test_gtlsclient g;
    static const char *const opts[] = {"--key-update=5ms", NULL};
    static const char *const paths[] = {"/body", NULL};
    CHECK(ho_test_gtlsclient_start(&g, port, opts, paths, false));

    struct sockaddr_in peer;
    ho_quic_time deadline = ho_test_mono_now() + HO_QUIC_SEC(20);
    while (ho_test_mono_now() < deadline && !ho_test_gtlsclient_exited(&g)) {
        ho_test_udp_wait(fd, s.h3.c != NULL ? ho_quic_conn_next_timeout(s.h3.c) : HO_QUIC_TIME_NEVER);
        ho_test_udp_conn_recv(fd, &s.h3.c, &cfg, &peer);
        if (s.h3.c == NULL)
            continue;
        ho_test_conn_timeout(s.h3.c);
        ho_test_h3min_serve(&s.h3, s.body, BODY_LEN);
        ho_test_udp_conn_send(s.h3.c, fd, (struct sockaddr *)&peer, sizeof(peer));
    }
    bool clean = ho_test_gtlsclient_stop(&g);
    CHECK(g.exited);
    CHECK(clean);
    ho_quic_conn *c = s.h3.c;
    CHECK(c != NULL);
    CHECK_EQ(s.hs_done, 1);
    if (c != NULL) {
        CHECK(ho_quic_conn_handshake_confirmed(c));
        int err = ho_quic_conn_error(c);
        bool is_app, by_peer;
        uint64_t code = ho_quic_conn_close_code(c, &is_app, &by_peer);
        fprintf(stderr, "gtlsclient exit %d; server error %d, close code 0x%llx app=%d by_peer=%d, key updates %llu\n",
                ho_test_gtlsclient_exit_code(&g), err, (unsigned long long)code, is_app, by_peer,
                (unsigned long long)ho_quic_conn_key_updates(c));
        CHECK(ho_quic_conn_key_updates(c) >= 1); /* --key-update: RFC 9001 §6 with a real peer */
    }
    /* The body, byte for byte. */
    ho_test_check_download(&g, "body", s.body, BODY_LEN);
    ho_test_gtlsclient_cleanup(&g);
    ho_quic_conn_free(c);
    ho_test_h3min_free(&s.h3);
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
    ho_tls_config *tls;
    if (!ho_test_gtls_client(&g, "h3", &tls))
        return;
    ho_quic_config cfg = {.tls = tls, .server_name = "localhost", .wall_clock_ms = (int64_t)time(NULL) * 1000};
    static client k;
    memset(&k, 0, sizeof(k));
    ho_buf_init(&k.resp);
    k.conn = ho_quic_conn_new_client(&cfg, NULL, ho_test_mono_now());
    CHECK(k.conn != NULL);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char authority[64];
    snprintf(authority, sizeof(authority), "127.0.0.1:%s", g.port_s);
    ho_quic_time deadline = ho_test_mono_now() + HO_QUIC_SEC(15);
    bool closed_sent = false;
    while (k.conn != NULL && ho_test_mono_now() < deadline && !ho_quic_conn_is_closed(k.conn)) {
        client_app(&k, authority, "/200000");
        if (k.done && !closed_sent) {
            ho_quic_conn_close(k.conn, 0x100 /* H3_NO_ERROR */, "", ho_test_mono_now());
            closed_sent = true;
        }
        ho_test_udp_conn_send(k.conn, fd, (struct sockaddr *)&g.addr, sizeof(g.addr));
        if (closed_sent && ho_quic_conn_is_closing(k.conn))
            break; /* CONNECTION_CLOSE is out; no need to wait out 3 PTO */
        ho_test_udp_wait(fd, ho_quic_conn_next_timeout(k.conn));
        ho_test_udp_conn_recv(fd, &k.conn, NULL, NULL);
        ho_test_conn_timeout(k.conn);
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
