/* test_quic_endpoint_interop: our server endpoint (src/quic/endpoint.c) on
 * our UDP sockets (src/io/udp.c: recvmmsg/GRO, sendmmsg/GSO, pktinfo)
 * against ngtcp2's gtlsclient (Debian ngtcp2-client, PEERS.md): a plain
 * handshake + GET, a handshake through a Retry we force (RFC 9000 §8.1.2),
 * and version negotiation (gtlsclient -v 0x1a2a3a4a --preferred-versions=v1,
 * RFC 9000 §6). Every HTTP/3 request gets a minimal response (HEADERS
 * ":status 200" + DATA), checked byte for byte from --download. A missing
 * gtlsclient is a failure, never a skip. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "handoff/io.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/quic_types.h"

#define BODY_LEN 300000
#define MAXAPP 8

typedef struct app {
    ho_test_h3min conns[MAXAPP]; /* one minimal HTTP/3 server per connection */
    int accepted, hs_done, retry_conns;
    uint8_t body[BODY_LEN];
} app;

static app A;

static ho_test_h3min *h3_of(ho_quic_conn *c)
{
    for (int i = 0; i < MAXAPP; i++)
        if (A.conns[i].c == c)
            return &A.conns[i];
    return NULL;
}

static void on_accept(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    A.accepted++;
    ho_test_h3min *h = h3_of(NULL);
    if (h != NULL)
        h->c = c;
}

static void on_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    ho_test_h3min *h = h3_of(c);
    if (h != NULL)
        ho_test_h3min_free(h);
}

static void on_opened(void *ctx, ho_quic_conn *c, uint64_t id)
{
    ho_test_h3min *h = h3_of(c);
    if (h != NULL)
        ho_test_h3min_opened(h, id);
}

static void on_hs(void *ctx, ho_quic_conn *c) { A.hs_done++; }

static void serve(void *ctx, ho_quic_conn *c)
{
    ho_test_h3min *h = h3_of(c);
    if (h != NULL)
        ho_test_h3min_serve(h, A.body, BODY_LEN);
}

static void run_case(const char *what, bool force_retry, const char *const *extra)
{
    memset(&A.conns, 0, sizeof(A.conns));
    A.accepted = A.hs_done = 0;
    ho_tls_config *tls;
    CHECK_EQ(ho_test_quic_server_tls("h3", &tls), HO_OK);
    CHECK(tls != NULL);
    ho_quic_endpoint_config ecfg = {
        .conn = {.is_server = true, .tls = tls, .wall_clock_ms = (int64_t)time(NULL) * 1000,
                 .callbacks = {.stream_opened = on_opened, .handshake_done = on_hs}},
        .force_retry = force_retry,
        .on_accept = on_accept,
        .on_conn_free = on_free,
    };
    ho_random(ecfg.static_secret, sizeof(ecfg.static_secret));
    ho_quic_endpoint *ep = ho_quic_endpoint_new(&ecfg);
    CHECK(ep != NULL);

    ho_udp_socket sock;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    CHECK_EQ(ho_udp_open(&sock, (struct sockaddr *)&addr, sizeof(addr), NULL), HO_OK);
    ho_udp_addr me;
    ho_udp_local_addr(&sock, &me);
    int port = ntohs(((struct sockaddr_in *)&me.ss)->sin_port);

    ho_test_gtlsclient g;
    static const char *const paths[] = {"/body", NULL};
    CHECK(ho_test_gtlsclient_start(&g, port, extra, paths, false));
    ho_udp_rx *rx = ho_udp_rx_new(16);
    static uint8_t obuf[64 * 1500];
    ho_quic_time deadline = ho_now_ns() + HO_QUIC_SEC(20);
    while (ho_now_ns() < deadline && !ho_test_gtlsclient_exited(&g)) {
        ho_test_udp_wait(sock.fd, ho_quic_endpoint_next_timeout(ep));
        ho_udp_dgram *d;
        int n;
        while ((n = ho_udp_recv_batch(&sock, rx, &d)) > 0) {
            for (int i = 0; i < n; i++) {
                ho_quic_path path = {0};
                if (d[i].local.len != 0) {
                    path.local = d[i].local.ss;
                    path.local_len = d[i].local.len;
                } else {
                    path.local = me.ss;
                    path.local_len = me.len;
                }
                path.remote = d[i].peer.ss;
                path.remote_len = d[i].peer.len;
                ho_quic_endpoint_receive(ep, d[i].data, d[i].len, &path, ho_now_ns());
            }
        }
        ho_quic_endpoint_handle_timeout(ep, ho_now_ns());
        ho_quic_endpoint_foreach(ep, serve, NULL);
        ho_quic_endpoint_out out = {.buf = obuf, .cap = sizeof(obuf)};
        while (ho_quic_endpoint_send(ep, &out, ho_now_ns()) > 0)
            ho_udp_send(&sock, out.buf, out.len, out.segment_size, (struct sockaddr *)&out.path.remote,
                        out.path.remote_len, out.path.local_len ? (struct sockaddr *)&out.path.local : NULL,
                        out.path.local_len, 0);
    }
    bool clean = ho_test_gtlsclient_stop(&g);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(ep, &st);
    fprintf(stderr, "%s: gtlsclient exit %d; accepted %llu, hs %d, retry %llu, vn %llu, invalid tokens %llu\n", what,
            ho_test_gtlsclient_exit_code(&g), (unsigned long long)st.accepted, A.hs_done,
            (unsigned long long)st.retry_sent, (unsigned long long)st.vn_sent, (unsigned long long)st.invalid_tokens);
    CHECK(g.exited);
    CHECK(clean);
    CHECK_EQ(st.accepted, 1);
    CHECK_EQ(A.hs_done, 1);
    CHECK_EQ(st.retry_sent, force_retry ? 1 : 0);
    CHECK_EQ(st.invalid_tokens, 0);
    if (extra != NULL && extra[0] != NULL && strcmp(extra[0], "-v") == 0)
        CHECK_EQ(st.vn_sent, 1);
    ho_test_check_download(&g, "body", A.body, BODY_LEN);
    ho_test_gtlsclient_cleanup(&g);
    ho_udp_rx_free(rx);
    ho_udp_close(&sock);
    ho_quic_endpoint_free(ep);
    ho_tls_config_free(tls);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    for (size_t i = 0; i < BODY_LEN; i++)
        A.body[i] = (uint8_t)('a' + (i * 7 + i / 1000) % 26);
    if (access("/usr/bin/gtlsclient", X_OK) != 0) {
        fprintf(stderr, "gtlsclient is not installed (Debian ngtcp2-client; scripts/deps.sh)\n");
        CHECK(!"gtlsclient missing");
        return ho_test_summary("test_quic_endpoint_interop");
    }
    run_case("plain", false, NULL);
    run_case("retry", true, NULL);
    static const char *const vn[] = {"-v", "0x1a2a3a4a", "--preferred-versions=v1", NULL};
    run_case("version negotiation", false, vn);
    return ho_test_summary("test_quic_endpoint_interop");
}
