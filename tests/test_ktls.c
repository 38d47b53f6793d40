/* Unit tests for src/io/ktls.c and the record layer's key export.
 *
 * A client and a server ho_tls_conn run a real handshake over a TCP
 * connection on 127.0.0.1. Where the kernel has no kTLS (this build host),
 * ho_ktls_enable must refuse with HO_ERR_NOT_FOUND and leave the connection
 * working in userspace. Where it has (the VM of scripts/ktls-vm.sh, which
 * sets HO_EXPECT_KTLS=1), kTLS must engage for every suite and data, alerts
 * and tickets must cross between kernel and userspace records both ways. */
#define _GNU_SOURCE /* accept4 */

#include "harness.h"
#include "handoff/io.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

static const uint16_t all_suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                                      HO_TLS_CHACHA20_POLY1305_SHA256};

enum { WAIT_MS = 5000 };

/* ---- log capture ------------------------------------------------------ */

static int rekey_warnings;

static void on_event(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->type != HO_EV_NOTE || ev->level > HO_LOG_WARN || ev->detail == NULL)
        return;
    fprintf(stderr, "  log: %s\n", ev->detail);
    if (strstr(ev->detail, "kTLS: kernel cannot rekey after KeyUpdate; closing") != NULL)
        rekey_warnings++;
}

/* ---- configurations --------------------------------------------------- */

typedef struct configs {
    ho_tls_config *client, *server;
} configs;

/* Server with a fresh self-signed certificate, client trusting it. */
static bool configs_new(configs *cf, uint16_t suite)
{
    memset(cf, 0, sizeof(*cf));
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 1, &key, &chain) != HO_OK)
        return false;
    ho_trust_store *ts = ho_trust_store_new();
    if (ts == NULL || ho_trust_store_add_der(ts, chain.der[0], chain.len[0]) != HO_OK) {
        ho_trust_store_free(ts);
        ho_cert_chain_free(&chain);
        ho_privkey_free(key);
        return false;
    }
    cf->server = ho_tls_config_new(true);
    cf->client = ho_tls_config_new(false);
    ho_tls_config_set_trust(cf->client, ts);
    if (ho_tls_config_add_cert(cf->server, &chain, key) != HO_OK)
        return false;
    if (suite != 0) {
        ho_tls_config_set_suites(cf->server, &suite, 1);
        ho_tls_config_set_suites(cf->client, &suite, 1);
    }
    return true;
}

static void configs_free(configs *cf)
{
    ho_tls_config_free(cf->client);
    ho_tls_config_free(cf->server);
}

/* ---- in memory: the key export ----------------------------------------- */

/* Moves each side's output to the other until quiet. */
static int pump_memory(ho_tls_conn *a, ho_tls_conn *b)
{
    for (int round = 0; round < 100; round++) {
        bool moved = false;
        ho_tls_conn *from[2] = {a, b}, *to[2] = {b, a};
        for (int i = 0; i < 2; i++) {
            ho_buf *out = ho_tls_conn_out(from[i]);
            if (out->len == 0)
                continue;
            int err = ho_tls_conn_receive(to[i], out->data, out->len);
            ho_buf_consume(out, out->len);
            moved = true;
            if (err != HO_OK)
                return err;
        }
        if (!moved)
            return HO_OK;
    }
    return HO_ERR_INTERNAL;
}

/* One direction's keys on the writing side equal those on the reading side. */
static void check_keys_match(ho_tls_conn *writer, ho_tls_conn *reader, uint16_t suite, uint64_t seq,
                             ho_tls_traffic_keys *got)
{
    ho_tls_traffic_keys w, r;
    CHECK_EQ(ho_tls_conn_get_traffic_keys(writer, true, &w), HO_OK);
    CHECK_EQ(ho_tls_conn_get_traffic_keys(reader, false, &r), HO_OK);
    CHECK_EQ(w.suite, suite);
    CHECK_EQ(r.suite, suite);
    CHECK_EQ(w.key_len, suite == HO_TLS_AES_128_GCM_SHA256 ? 16 : 32);
    CHECK_EQ(r.key_len, w.key_len);
    CHECK_MEM(w.key, r.key, w.key_len);
    CHECK_MEM(w.iv, r.iv, sizeof(w.iv));
    CHECK_EQ(w.seq, seq);
    CHECK_EQ(r.seq, seq);
    if (got != NULL)
        *got = w;
    ho_wipe(&w, sizeof(w));
    ho_wipe(&r, sizeof(r));
}

static void test_key_export(uint16_t suite)
{
    configs cf;
    CHECK(configs_new(&cf, suite));
    ho_tls_conn *client = ho_tls_conn_new(cf.client, "localhost");
    ho_tls_conn *server = ho_tls_conn_new(cf.server, NULL);
    ho_tls_traffic_keys k;
    /* No application key before the handshake. */
    CHECK_EQ(ho_tls_conn_get_traffic_keys(client, true, &k), HO_ERR_INVALID_ARG);
    CHECK(!ho_tls_conn_kernel_ready(client));
    CHECK_EQ(ho_tls_conn_start(client), HO_OK);
    CHECK_EQ(pump_memory(client, server), HO_OK);
    CHECK(ho_tls_conn_handshake_done(client) && ho_tls_conn_handshake_done(server));
    CHECK(ho_tls_conn_kernel_ready(client));
    CHECK(ho_tls_conn_kernel_ready(server));

    /* Client → server: nothing sent yet under the application key. Server →
     * client: one NewSessionTicket record (the default ticket count). */
    ho_tls_traffic_keys c0, s0;
    check_keys_match(client, server, suite, 0, &c0);
    check_keys_match(server, client, suite, 1, &s0);

    /* Three records advance the sequence number on both ends. */
    for (int i = 0; i < 3; i++)
        CHECK_EQ(ho_tls_conn_write(client, "abc", 3), HO_OK);
    CHECK(!ho_tls_conn_kernel_ready(client)); /* sealed records wait in out */
    CHECK_EQ(pump_memory(client, server), HO_OK);
    CHECK(ho_tls_conn_kernel_ready(client));
    check_keys_match(client, server, suite, 3, NULL);
    CHECK_EQ(ho_tls_conn_app_in(server)->len, 9);

    /* KeyUpdate(update_requested): both directions move to the next
     * generation with a new key and sequence 0 (RFC 8446 §4.6.3, §5.3). */
    CHECK_EQ(ho_tls_conn_key_update(client, true), HO_OK);
    CHECK_EQ(pump_memory(client, server), HO_OK);
    ho_tls_traffic_keys c1, s1;
    check_keys_match(client, server, suite, 0, &c1);
    check_keys_match(server, client, suite, 0, &s1);
    CHECK_EQ(c1.generation, c0.generation + 1);
    CHECK_EQ(s1.generation, s0.generation + 1);
    CHECK(memcmp(c1.key, c0.key, c0.key_len) != 0);
    CHECK(memcmp(s1.key, s0.key, s0.key_len) != 0);
    CHECK(ho_tls_conn_get_traffic_keys(server, false, &k) == HO_OK && k.generation == c1.generation);

    /* update_not_requested: only the sender's direction changes. */
    CHECK_EQ(ho_tls_conn_key_update(server, false), HO_OK);
    CHECK_EQ(pump_memory(client, server), HO_OK);
    ho_tls_traffic_keys c2, s2;
    check_keys_match(client, server, suite, 0, &c2);
    check_keys_match(server, client, suite, 0, &s2);
    CHECK_EQ(c2.generation, c1.generation);
    CHECK_EQ(s2.generation, s1.generation + 1);
    ho_wipe(&k, sizeof(k));
    ho_tls_conn_free(client);
    ho_tls_conn_free(server);
    configs_free(&cf);
}

/* ---- over TCP ---------------------------------------------------------- */

typedef struct peer {
    ho_tls_conn *conn;
    int fd;
    bool ktls;
} peer;

typedef struct tcp_pair {
    configs cf;
    peer client, server;
} tcp_pair;

static bool set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    int one = 1;
    return flags >= 0 && fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0 &&
           setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
}

/* A connected TCP socket pair on 127.0.0.1, both non-blocking. */
static bool tcp_connect(int *client_fd, int *server_fd)
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int s = -1;
    struct sockaddr_in addr = {0};
    socklen_t len = sizeof(addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener >= 0 && c >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        listen(listener, 1) == 0 && getsockname(listener, (struct sockaddr *)&addr, &len) == 0 &&
        connect(c, (struct sockaddr *)&addr, sizeof(addr)) == 0)
        s = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (listener >= 0)
        close(listener);
    if (s < 0 || !set_nonblocking(c) || !set_nonblocking(s)) {
        if (c >= 0)
            close(c);
        if (s >= 0)
            close(s);
        return false;
    }
    *client_fd = c;
    *server_fd = s;
    return true;
}

static bool wait_fd(int fd, short events)
{
    struct pollfd p = {fd, events, 0};
    return poll(&p, 1, WAIT_MS) == 1;
}

/* Writes everything in the peer's out (userspace records) to its socket. */
static bool flush_out(peer *p)
{
    ho_buf *out = ho_tls_conn_out(p->conn);
    while (out->len > 0) {
        ssize_t n = send(p->fd, out->data, out->len, MSG_NOSIGNAL);
        if (n > 0) {
            ho_buf_consume(out, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EAGAIN && wait_fd(p->fd, POLLOUT))
            continue;
        return false;
    }
    return true;
}

/* Reads what is there into a userspace record layer. Returns the record
 * layer's status, HO_ERR_WOULD_BLOCK when nothing was there, or
 * HO_ERR_CLOSED/HO_ERR_IO for EOF/errors. */
static int read_userspace(peer *p)
{
    uint8_t buf[4096];
    ssize_t n = recv(p->fd, buf, sizeof(buf), 0);
    if (n < 0)
        return errno == EAGAIN ? HO_ERR_WOULD_BLOCK : HO_ERR_IO;
    if (n == 0)
        return HO_ERR_CLOSED;
    return ho_tls_conn_receive(p->conn, buf, (size_t)n);
}

/* Runs the handshake over the sockets. The client stops reading once its
 * handshake is done, so the server's NewSessionTicket stays in the socket
 * (for the kernel, when the client moves to kTLS). */
static bool tcp_handshake(tcp_pair *t)
{
    if (ho_tls_conn_start(t->client.conn) != HO_OK)
        return false;
    for (int round = 0; round < 200; round++) {
        if (!flush_out(&t->client) || !flush_out(&t->server))
            return false;
        bool client_done = ho_tls_conn_handshake_done(t->client.conn);
        bool server_done = ho_tls_conn_handshake_done(t->server.conn);
        if (client_done && server_done)
            return true;
        struct pollfd fds[2] = {{t->client.fd, client_done ? 0 : POLLIN, 0}, {t->server.fd, POLLIN, 0}};
        if (poll(fds, 2, WAIT_MS) <= 0)
            return false;
        int err = HO_OK;
        if (fds[0].revents != 0)
            err = read_userspace(&t->client);
        if ((err == HO_OK || err == HO_ERR_WOULD_BLOCK) && fds[1].revents != 0)
            err = read_userspace(&t->server);
        if (err != HO_OK && err != HO_ERR_WOULD_BLOCK) {
            fprintf(stderr, "  handshake failed: %s\n", ho_err_str(err));
            return false;
        }
    }
    return false;
}

static bool tcp_pair_new(tcp_pair *t, uint16_t suite)
{
    memset(t, 0, sizeof(*t));
    t->client.fd = t->server.fd = -1;
    if (!configs_new(&t->cf, suite))
        return false;
    t->client.conn = ho_tls_conn_new(t->cf.client, "localhost");
    t->server.conn = ho_tls_conn_new(t->cf.server, NULL);
    if (t->client.conn == NULL || t->server.conn == NULL || !tcp_connect(&t->client.fd, &t->server.fd))
        return false;
    return tcp_handshake(t);
}

static void tcp_pair_free(tcp_pair *t)
{
    ho_tls_conn_free(t->client.conn);
    ho_tls_conn_free(t->server.conn);
    if (t->client.fd >= 0)
        close(t->client.fd);
    if (t->server.fd >= 0)
        close(t->server.fd);
    configs_free(&t->cf);
}

/* Sends application data from one peer: send() on a kTLS socket, records
 * sealed in userspace otherwise. */
static bool peer_send(peer *p, const void *data, size_t len)
{
    if (!p->ktls)
        return ho_tls_conn_write(p->conn, data, len) == HO_OK && flush_out(p);
    const uint8_t *d = data;
    while (len > 0) {
        ssize_t n = send(p->fd, d, len, MSG_NOSIGNAL);
        if (n > 0) {
            d += n;
            len -= (size_t)n;
        } else if (!(n < 0 && errno == EAGAIN && wait_fd(p->fd, POLLOUT))) {
            return false;
        }
    }
    return true;
}

/* Reads into p's app_in until it holds `want` bytes or a record ends the
 * connection. Returns HO_OK, or the status that stopped it. Counts the
 * non-data records a kTLS reader handled. */
static int peer_read(peer *p, size_t want, int *control_records)
{
    ho_buf *app = ho_tls_conn_app_in(p->conn);
    while (app->len < want) {
        if (!wait_fd(p->fd, POLLIN))
            return HO_ERR_WOULD_BLOCK;
        if (p->ktls) {
            ssize_t n = ho_ktls_recv(p->fd, p->conn, app);
            if (n == 0 && control_records != NULL)
                (*control_records)++;
            if (n < 0 && n != HO_ERR_WOULD_BLOCK)
                return (int)n;
        } else {
            int err = read_userspace(p);
            if (err != HO_OK && err != HO_ERR_WOULD_BLOCK)
                return err;
        }
    }
    return HO_OK;
}

/* Moves len bytes from one peer to the other, reading while sending so
 * neither socket buffer has to hold everything, and checks them. */
static void check_stream(peer *from, peer *to, size_t len)
{
    uint8_t *data = malloc(len);
    for (size_t i = 0; i < len; i++)
        data[i] = (uint8_t)(i * 131 + len);
    ho_buf *app = ho_tls_conn_app_in(to->conn);
    ho_buf_consume(app, app->len);
    size_t sent = 0;
    int err = HO_OK;
    while (sent < len && err == HO_OK) {
        size_t chunk = len - sent < 32768 ? len - sent : 32768;
        if (!peer_send(from, data + sent, chunk)) {
            err = HO_ERR_IO;
            break;
        }
        sent += chunk;
        err = peer_read(to, sent, NULL);
    }
    CHECK_EQ(err, HO_OK);
    CHECK_EQ(app->len, len);
    if (app->len == len)
        CHECK_MEM(app->data, data, len);
    ho_buf_consume(app, app->len);
    free(data);
}

static const char *suite_name(uint16_t suite)
{
    const ho_tls_suite *s = ho_tls_suite_by_id(suite);
    return s != NULL ? s->name : "?";
}

/* ho_ktls_enable before the handshake finished: refused, socket untouched. */
static void test_not_ready(void)
{
    configs cf;
    CHECK(configs_new(&cf, 0));
    ho_tls_conn *c = ho_tls_conn_new(cf.client, "localhost");
    int cfd, sfd;
    CHECK(tcp_connect(&cfd, &sfd));
    const char *why = NULL;
    CHECK_EQ(ho_ktls_enable(cfd, c, &why), HO_ERR_INVALID_ARG);
    CHECK(why != NULL);
    /* The socket is still plain TCP. */
    CHECK_EQ(send(cfd, "x", 1, 0), 1);
    char b;
    CHECK(wait_fd(sfd, POLLIN) && recv(sfd, &b, 1, 0) == 1 && b == 'x');
    close(cfd);
    close(sfd);
    ho_tls_conn_free(c);
    configs_free(&cf);
}

/* No kTLS in this kernel: both ends refuse cleanly and the connection goes
 * on in userspace. */
static void test_fallback(uint16_t suite)
{
    tcp_pair t;
    CHECK(tcp_pair_new(&t, suite));
    CHECK(flush_out(&t.server));
    const char *why = NULL;
    CHECK_EQ(ho_ktls_enable(t.server.fd, t.server.conn, &why), HO_ERR_NOT_FOUND);
    CHECK(why != NULL);
    if (why != NULL)
        fprintf(stderr, "  %s: server fallback: %s\n", suite_name(suite), why);
    why = NULL;
    CHECK_EQ(ho_ktls_enable(t.client.fd, t.client.conn, &why), HO_ERR_NOT_FOUND);
    CHECK(why != NULL);
    /* A request/response round trip in userspace records. */
    static const char request[] = "GET /json/1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    CHECK(peer_send(&t.client, request, sizeof(request) - 1));
    CHECK_EQ(peer_read(&t.server, sizeof(request) - 1, NULL), HO_OK);
    ho_buf *in = ho_tls_conn_app_in(t.server.conn);
    CHECK(in->len == sizeof(request) - 1 && memcmp(in->data, request, in->len) == 0);
    CHECK(peer_send(&t.server, response, sizeof(response) - 1));
    CHECK_EQ(peer_read(&t.client, sizeof(response) - 1, NULL), HO_OK);
    in = ho_tls_conn_app_in(t.client.conn);
    CHECK(in->len == sizeof(response) - 1 && memcmp(in->data, response, in->len) == 0);
    check_stream(&t.server, &t.client, 100000);
    tcp_pair_free(&t);
}

static bool enable(peer *p, const char *who, uint16_t suite)
{
    const char *why = NULL;
    int err = ho_ktls_enable(p->fd, p->conn, &why);
    CHECK_EQ(err, HO_OK);
    if (err != HO_OK) {
        fprintf(stderr, "  %s: %s kTLS not engaged: %s (%s)\n", suite_name(suite), who, why ? why : "?",
                ho_err_str(err));
        return false;
    }
    p->ktls = true;
    return true;
}

/* Both ends in the kernel: data both ways, the server's ticket read by the
 * client's kernel and handed back, close_notify sent as a control record. */
static void test_both_kernel(uint16_t suite)
{
    tcp_pair t;
    CHECK(tcp_pair_new(&t, suite));
    CHECK(flush_out(&t.server)); /* the NewSessionTicket */
    if (!enable(&t.server, "server", suite) || !enable(&t.client, "client", suite)) {
        tcp_pair_free(&t);
        return;
    }
    static const char request[] = "GET /baseline2?a=1&b=2 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    CHECK(peer_send(&t.client, request, sizeof(request) - 1));
    int control = 0;
    CHECK_EQ(peer_read(&t.server, sizeof(request) - 1, NULL), HO_OK);
    ho_buf *in = ho_tls_conn_app_in(t.server.conn);
    CHECK(in->len == sizeof(request) - 1 && memcmp(in->data, request, in->len) == 0);
    ho_buf_consume(in, in->len);
    static const char response[] = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n3";
    CHECK(peer_send(&t.server, response, sizeof(response) - 1));
    /* The client's kernel first hands back the ticket, a handshake record. */
    CHECK_EQ(peer_read(&t.client, sizeof(response) - 1, &control), HO_OK);
    CHECK_EQ(control, 1);
    in = ho_tls_conn_app_in(t.client.conn);
    CHECK(in->len == sizeof(response) - 1 && memcmp(in->data, response, in->len) == 0);
    check_stream(&t.client, &t.server, 200000);
    check_stream(&t.server, &t.client, 300000);
    /* close_notify through TLS_SET_RECORD_TYPE; the peer's kernel hands it
     * back as an alert record. */
    CHECK_EQ(ho_tls_conn_close(t.client.conn), HO_OK);
    CHECK_EQ(ho_ktls_flush_control(t.client.fd, t.client.conn), HO_OK);
    CHECK_EQ(ho_tls_conn_out(t.client.conn)->len, 0);
    CHECK_EQ(peer_read(&t.server, 1, NULL), HO_ERR_CLOSED);
    fprintf(stderr, "  %s: kTLS both ends: ok\n", suite_name(suite));
    tcp_pair_free(&t);
}

/* The server in the kernel, the client in userspace: our records and the
 * kernel's must agree on keys, IVs and sequence numbers (an error in the
 * salt/iv split or rec_seq would cancel out between two kernels). */
static void test_kernel_userspace(uint16_t suite)
{
    tcp_pair t;
    CHECK(tcp_pair_new(&t, suite));
    CHECK(flush_out(&t.server));
    /* Non-zero sequence numbers at the hand-over: one record each way. */
    CHECK(peer_send(&t.client, "early", 5));
    CHECK_EQ(peer_read(&t.server, 5, NULL), HO_OK);
    ho_buf_consume(ho_tls_conn_app_in(t.server.conn), 5);
    CHECK(peer_send(&t.server, "early", 5));
    CHECK_EQ(peer_read(&t.client, 5, NULL), HO_OK); /* after the ticket */
    ho_buf_consume(ho_tls_conn_app_in(t.client.conn), 5);
    ho_tls_traffic_keys k;
    CHECK(ho_tls_conn_get_traffic_keys(t.server.conn, true, &k) == HO_OK && k.seq == 2);
    CHECK(ho_tls_conn_get_traffic_keys(t.server.conn, false, &k) == HO_OK && k.seq == 1);
    ho_wipe(&k, sizeof(k));
    if (!enable(&t.server, "server", suite)) {
        tcp_pair_free(&t);
        return;
    }
    check_stream(&t.client, &t.server, 100000);
    check_stream(&t.server, &t.client, 100000);
    /* A control record sealed by the kernel, opened by us. */
    CHECK_EQ(ho_tls_conn_close(t.server.conn), HO_OK);
    CHECK_EQ(ho_ktls_flush_control(t.server.fd, t.server.conn), HO_OK);
    CHECK_EQ(peer_read(&t.client, 1, NULL), HO_ERR_CLOSED);
    /* One sealed by us, opened by the kernel. */
    CHECK_EQ(ho_tls_conn_close(t.client.conn), HO_OK);
    CHECK(flush_out(&t.client));
    CHECK_EQ(peer_read(&t.server, 1, NULL), HO_ERR_CLOSED);
    fprintf(stderr, "  %s: kTLS server with userspace client: ok\n", suite_name(suite));
    tcp_pair_free(&t);
}

/* KeyUpdate after the hand-over. A kernel with TLS 1.3 rekey support takes
 * the new keys and data flows on; one without (Debian 12's 6.1) refuses,
 * and ho_ktls_* must then say so (HO_ERR_IO and a warning) instead of
 * letting records go out under a stale key. */
static void test_key_update(uint16_t suite)
{
    /* The peer's KeyUpdate(update_requested): a new read key for the
     * kernel, then our KeyUpdate and a new write key. */
    tcp_pair t;
    CHECK(tcp_pair_new(&t, suite));
    CHECK(flush_out(&t.server));
    if (!enable(&t.server, "server", suite)) {
        tcp_pair_free(&t);
        return;
    }
    int warned = rekey_warnings;
    CHECK_EQ(ho_tls_conn_key_update(t.client.conn, true), HO_OK);
    CHECK(peer_send(&t.client, "after", 5));
    int err = peer_read(&t.server, 5, NULL);
    if (err == HO_OK) {
        fprintf(stderr, "  %s: kernel took the new keys after KeyUpdate\n", suite_name(suite));
        CHECK_EQ(ho_tls_conn_out(t.server.conn)->len, 0); /* our KeyUpdate went */
        check_stream(&t.server, &t.client, 50000);
        check_stream(&t.client, &t.server, 50000);
    } else {
        fprintf(stderr, "  %s: kernel cannot rekey (RX): %s\n", suite_name(suite), ho_err_str(err));
        CHECK_EQ(err, HO_ERR_IO);
        CHECK_EQ(rekey_warnings, warned + 1);
    }
    tcp_pair_free(&t);

    /* Our own KeyUpdate: sent under the old key, then the new write key. */
    CHECK(tcp_pair_new(&t, suite));
    CHECK(flush_out(&t.server));
    if (!enable(&t.server, "server", suite)) {
        tcp_pair_free(&t);
        return;
    }
    warned = rekey_warnings;
    CHECK_EQ(ho_tls_conn_key_update(t.server.conn, false), HO_OK);
    err = ho_ktls_flush_control(t.server.fd, t.server.conn);
    if (err == HO_OK) {
        fprintf(stderr, "  %s: kernel took the new write key\n", suite_name(suite));
        check_stream(&t.server, &t.client, 50000);
    } else {
        fprintf(stderr, "  %s: kernel cannot rekey (TX): %s\n", suite_name(suite), ho_err_str(err));
        CHECK_EQ(err, HO_ERR_IO);
        CHECK_EQ(rekey_warnings, warned + 1);
        /* The KeyUpdate itself went out, sealed by the kernel. */
        ho_tls_traffic_keys before, after;
        CHECK_EQ(ho_tls_conn_get_traffic_keys(t.client.conn, false, &before), HO_OK);
        after = before;
        CHECK(wait_fd(t.client.fd, POLLIN));
        for (int i = 0; i < 100 && ho_tls_conn_get_traffic_keys(t.client.conn, false, &after) == HO_OK &&
                        after.generation == before.generation;
             i++) {
            int e = read_userspace(&t.client);
            if (e == HO_ERR_WOULD_BLOCK)
                wait_fd(t.client.fd, POLLIN);
            else if (e != HO_OK)
                break;
        }
        CHECK_EQ(after.generation, before.generation + 1);
        ho_wipe(&before, sizeof(before));
        ho_wipe(&after, sizeof(after));
    }
    tcp_pair_free(&t);
}

int main(void)
{
    ho_event_subscribe(on_event, NULL);
    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++)
        test_key_export(all_suites[i]);
    RUN(test_not_ready);

    const char *expect = getenv("HO_EXPECT_KTLS");
    bool supported = ho_ktls_supported();
    fprintf(stderr, "  kTLS in this kernel: %s\n", supported ? "yes" : "no");
    if (expect != NULL && *expect != '\0')
        CHECK_EQ(supported, strcmp(expect, "1") == 0);
    for (size_t i = 0; i < sizeof(all_suites) / sizeof(all_suites[0]); i++) {
        uint16_t suite = all_suites[i];
        if (!supported) {
            test_fallback(suite);
            continue;
        }
        test_both_kernel(suite);
        test_kernel_userspace(suite);
        test_key_update(suite);
    }
    return ho_test_summary("test_ktls");
}
