/* test_udp: src/io/udp.c over real loopback sockets — GSO sends received as
 * separate datagrams with GRO on and off, the GSO fallback, ECN round trip,
 * pktinfo (local address on receive, source address on send), IPv6. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "harness.h"
#include "handoff/io.h"

static void addr4(struct sockaddr_in *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, ip, &a->sin_addr);
}

static void addr6(struct sockaddr_in6 *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
}

static uint16_t port_of(const ho_udp_socket *s)
{
    ho_udp_addr a;
    ho_udp_local_addr(s, &a);
    return ntohs(a.ss.ss_family == AF_INET ? ((struct sockaddr_in *)&a.ss)->sin_port
                                           : ((struct sockaddr_in6 *)&a.ss)->sin6_port);
}

typedef struct got {
    size_t n;
    size_t len[64];
    uint8_t first[64];
    uint8_t ecn[64];
    ho_udp_addr local[64], peer[64];
    bool content_ok;
} got;

/* Receives until `want` datagrams arrived or 1 s passed. Datagram i of a
 * pattern send holds bytes (i * 7 + j) & 0xff. */
static void recv_until(ho_udp_socket *s, ho_udp_rx *rx, size_t want, size_t seg, got *g)
{
    memset(g, 0, sizeof(*g));
    g->content_ok = true;
    for (int tries = 0; tries < 100 && g->n < want; tries++) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        poll(&p, 1, 10);
        ho_udp_dgram *d;
        int n;
        while ((n = ho_udp_recv_batch(s, rx, &d)) > 0) {
            for (int i = 0; i < n && g->n < 64; i++) {
                size_t k = g->n++;
                g->len[k] = d[i].len;
                g->first[k] = d[i].len ? d[i].data[0] : 0;
                g->ecn[k] = d[i].ecn;
                g->local[k] = d[i].local;
                g->peer[k] = d[i].peer;
                for (size_t j = 0; j < d[i].len; j++)
                    if (d[i].data[j] != (uint8_t)((k * seg + j) * 7))
                        g->content_ok = false;
            }
        }
    }
}

static uint8_t *pattern(size_t len)
{
    uint8_t *p = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(i * 7);
    return p;
}

/* 10 segments (9 x 1200 + 700) in one GSO send. */
static void gso_case(int family, bool gro, bool refuse_gso, const char *what)
{
    ho_udp_socket rs, ss;
    ho_udp_options ro = {.no_gro = !gro}, so = {0};
    struct sockaddr_storage any;
    socklen_t alen;
    if (family == AF_INET) {
        addr4((struct sockaddr_in *)&any, "127.0.0.1", 0);
        alen = sizeof(struct sockaddr_in);
    } else {
        addr6((struct sockaddr_in6 *)&any, "::1", 0);
        alen = sizeof(struct sockaddr_in6);
    }
    CHECK_EQ(ho_udp_open(&rs, (struct sockaddr *)&any, alen, &ro), HO_OK);
    CHECK_EQ(ho_udp_open(&ss, (struct sockaddr *)&any, alen, &so), HO_OK);
    CHECK(ss.gso);
    CHECK_EQ(rs.gro, gro);
    ss.test_refuse_gso = refuse_gso;
    ho_udp_addr dst;
    ho_udp_local_addr(&rs, &dst);
    size_t total = 9 * 1200 + 700;
    uint8_t *data = pattern(total);
    CHECK_EQ(ho_udp_send(&ss, data, total, 1200, (struct sockaddr *)&dst.ss, dst.len, NULL, 0, 0), HO_OK);
    ho_udp_rx *rx = ho_udp_rx_new(8);
    got g;
    recv_until(&rs, rx, 10, 1200, &g);
    if (g.n != 10)
        fprintf(stderr, "%s: %zu datagrams\n", what, g.n);
    CHECK_EQ(g.n, 10);
    for (size_t i = 0; i < g.n && i < 10; i++)
        CHECK_EQ(g.len[i], i < 9 ? 1200 : 700);
    CHECK(g.content_ok);
    /* With GRO on, the loopback hands the GSO send over whole: one read
     * split here by the UDP_GRO segment size. */
    if (gro && !refuse_gso)
        CHECK(rs.gro_reads >= 1);
    if (!gro)
        CHECK_EQ(rs.gro_reads, 0);
    CHECK_EQ(ss.gso, !refuse_gso);
    CHECK_EQ(ss.gso_fallbacks, refuse_gso ? 1 : 0);
    if (refuse_gso) {
        /* remembered: the next multi-datagram send goes without GSO at once */
        CHECK_EQ(ho_udp_send(&ss, data, total, 1200, (struct sockaddr *)&dst.ss, dst.len, NULL, 0, 0), HO_OK);
        recv_until(&rs, rx, 10, 1200, &g);
        CHECK_EQ(g.n, 10);
        CHECK_EQ(ss.gso_fallbacks, 1);
    }
    free(data);
    ho_udp_rx_free(rx);
    ho_udp_close(&rs);
    ho_udp_close(&ss);
}

static void test_gso(void)
{
    gso_case(AF_INET, true, false, "v4 gro");
    gso_case(AF_INET, false, false, "v4 no gro");
    gso_case(AF_INET, true, true, "v4 fallback gro");
    gso_case(AF_INET, false, true, "v4 fallback");
    gso_case(AF_INET6, true, false, "v6 gro");
    gso_case(AF_INET6, false, false, "v6 no gro");
}

/* ECN codepoint and pktinfo, receiver bound to the wildcard address. */
static void ecn_pktinfo_case(int family)
{
    ho_udp_socket rs, ss;
    struct sockaddr_storage any, lo;
    socklen_t alen;
    if (family == AF_INET) {
        addr4((struct sockaddr_in *)&any, "0.0.0.0", 0);
        addr4((struct sockaddr_in *)&lo, "127.0.0.1", 0);
        alen = sizeof(struct sockaddr_in);
    } else {
        addr6((struct sockaddr_in6 *)&any, "::", 0);
        addr6((struct sockaddr_in6 *)&lo, "::1", 0);
        alen = sizeof(struct sockaddr_in6);
    }
    CHECK_EQ(ho_udp_open(&rs, (struct sockaddr *)&any, alen, NULL), HO_OK);
    CHECK_EQ(ho_udp_open(&ss, (struct sockaddr *)&lo, alen, NULL), HO_OK);
    CHECK(rs.ecn);
    CHECK(rs.pktinfo);
    uint16_t port = port_of(&rs);
    struct sockaddr_storage dst = lo;
    if (family == AF_INET)
        ((struct sockaddr_in *)&dst)->sin_port = htons(port);
    else
        ((struct sockaddr_in6 *)&dst)->sin6_port = htons(port);
    uint8_t *data = pattern(3000);
    /* ECT(0) = 2 (RFC 3168) on a 3-datagram GSO send, then Not-ECT. */
    CHECK_EQ(ho_udp_send(&ss, data, 3000, 1000, (struct sockaddr *)&dst, alen, NULL, 0, 2), HO_OK);
    ho_udp_rx *rx = ho_udp_rx_new(4);
    got g;
    recv_until(&rs, rx, 3, 1000, &g);
    CHECK_EQ(g.n, 3);
    for (size_t i = 0; i < g.n; i++)
        CHECK_EQ(g.ecn[i], 2);
    CHECK(g.content_ok);
    /* pktinfo: the local address is the loopback one, with our port
     * (the port read once at open, not per datagram). */
    CHECK_EQ(ntohs(rs.port), port);
    CHECK_EQ(g.local[0].ss.ss_family, family);
    if (family == AF_INET) {
        struct sockaddr_in *l = (struct sockaddr_in *)&g.local[0].ss;
        CHECK_EQ(ntohl(l->sin_addr.s_addr), 0x7f000001);
        CHECK_EQ(ntohs(l->sin_port), port);
    } else {
        struct sockaddr_in6 *l = (struct sockaddr_in6 *)&g.local[0].ss;
        CHECK(IN6_IS_ADDR_LOOPBACK(&l->sin6_addr));
        CHECK_EQ(ntohs(l->sin6_port), port);
    }
    CHECK_EQ(ho_udp_send(&ss, data, 100, 0, (struct sockaddr *)&dst, alen, NULL, 0, 0), HO_OK);
    recv_until(&rs, rx, 1, 1000, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(g.ecn[0], 0);
    CHECK_EQ(g.len[0], 100);
    /* CE (3) and ECT(1) (1) are reported too. */
    CHECK_EQ(ho_udp_send(&ss, data, 100, 0, (struct sockaddr *)&dst, alen, NULL, 0, 1), HO_OK);
    recv_until(&rs, rx, 1, 1000, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(g.ecn[0], 1);
    free(data);
    ho_udp_rx_free(rx);
    ho_udp_close(&rs);
    ho_udp_close(&ss);
}

/* Source address selection with pktinfo: a wildcard-bound sender sends from
 * 127.0.0.2; the receiver sees that peer. */
static void test_send_from(void)
{
    ho_udp_socket rs, ss;
    struct sockaddr_in any, lo, src;
    addr4(&any, "0.0.0.0", 0);
    addr4(&lo, "127.0.0.1", 0);
    CHECK_EQ(ho_udp_open(&rs, (struct sockaddr *)&lo, sizeof(lo), NULL), HO_OK);
    CHECK_EQ(ho_udp_open(&ss, (struct sockaddr *)&any, sizeof(any), NULL), HO_OK);
    lo.sin_port = htons(port_of(&rs));
    addr4(&src, "127.0.0.2", 0);
    uint8_t *data = pattern(200);
    CHECK_EQ(ho_udp_send(&ss, data, 200, 0, (struct sockaddr *)&lo, sizeof(lo), (struct sockaddr *)&src, sizeof(src),
                         0), HO_OK);
    ho_udp_rx *rx = ho_udp_rx_new(2);
    got g;
    recv_until(&rs, rx, 1, 200, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(ntohl(((struct sockaddr_in *)&g.peer[0].ss)->sin_addr.s_addr), 0x7f000002);
    free(data);
    ho_udp_rx_free(rx);
    ho_udp_close(&rs);
    ho_udp_close(&ss);
}

/* sendmmsg batch of several requests to two receivers; recvmmsg batch. */
static void test_batch(void)
{
    ho_udp_socket r1, r2, ss;
    struct sockaddr_in lo;
    addr4(&lo, "127.0.0.1", 0);
    ho_udp_options reuse = {.reuseport = true};
    CHECK_EQ(ho_udp_open(&r1, (struct sockaddr *)&lo, sizeof(lo), &reuse), HO_OK);
    CHECK_EQ(ho_udp_open(&r2, (struct sockaddr *)&lo, sizeof(lo), NULL), HO_OK);
    CHECK_EQ(ho_udp_open(&ss, (struct sockaddr *)&lo, sizeof(lo), NULL), HO_OK);
    /* SO_REUSEPORT: a second socket can share r1's port */
    struct sockaddr_in same = lo;
    same.sin_port = htons(port_of(&r1));
    ho_udp_socket r1b;
    CHECK_EQ(ho_udp_open(&r1b, (struct sockaddr *)&same, sizeof(same), &reuse), HO_OK);
    ho_udp_close(&r1b);
    struct sockaddr_in d1 = lo, d2 = lo;
    d1.sin_port = htons(port_of(&r1));
    d2.sin_port = htons(port_of(&r2));
    uint8_t *data = pattern(5000);
    ho_udp_tx tx[3] = {
        {data, 2400, 1200, (struct sockaddr *)&d1, sizeof(d1), NULL, 0, 0},
        {data, 500, 0, (struct sockaddr *)&d2, sizeof(d2), NULL, 0, 0},
        {data, 3600, 1200, (struct sockaddr *)&d1, sizeof(d1), NULL, 0, 0},
    };
    CHECK_EQ(ho_udp_send_batch(&ss, tx, 3), 3);
    ho_udp_rx *rx = ho_udp_rx_new(16);
    got g;
    recv_until(&r1, rx, 5, 1200, &g);
    CHECK_EQ(g.n, 5);
    recv_until(&r2, rx, 1, 500, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(g.len[0], 500);
    /* Nothing waiting: would block. */
    ho_udp_dgram *d;
    CHECK_EQ(ho_udp_recv_batch(&r2, rx, &d), HO_ERR_WOULD_BLOCK);
    free(data);
    ho_udp_rx_free(rx);
    ho_udp_close(&r1);
    ho_udp_close(&r2);
    ho_udp_close(&ss);
}

/* A dual-stack socket ("::") serving an IPv4 client: the local address is
 * reported IPv4-mapped, and a reply from it with ECT(0) reaches the client
 * with ECT(0) and from 127.0.0.1. */
static void test_dual_stack(void)
{
    ho_udp_socket srv, cli;
    struct sockaddr_in6 any;
    struct sockaddr_in lo;
    addr6(&any, "::", 0);
    addr4(&lo, "127.0.0.1", 0);
    CHECK_EQ(ho_udp_open(&srv, (struct sockaddr *)&any, sizeof(any), NULL), HO_OK);
    CHECK_EQ(ho_udp_open(&cli, (struct sockaddr *)&lo, sizeof(lo), NULL), HO_OK);
    struct sockaddr_in dst = lo;
    dst.sin_port = htons(port_of(&srv));
    uint8_t *data = pattern(1200);
    CHECK_EQ(ho_udp_send(&cli, data, 1200, 0, (struct sockaddr *)&dst, sizeof(dst), NULL, 0, 2), HO_OK);
    ho_udp_rx *rx = ho_udp_rx_new(4);
    got g;
    recv_until(&srv, rx, 1, 1200, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(g.ecn[0], 2);
    CHECK_EQ(g.local[0].ss.ss_family, AF_INET6);
    struct sockaddr_in6 *l = (struct sockaddr_in6 *)&g.local[0].ss;
    CHECK(IN6_IS_ADDR_V4MAPPED(&l->sin6_addr));
    CHECK_EQ(l->sin6_addr.s6_addr[12], 127);
    CHECK_EQ(g.peer[0].ss.ss_family, AF_INET6);
    ho_udp_addr peer = g.peer[0], local = g.local[0];
    CHECK_EQ(ho_udp_send(&srv, data, 1200, 0, (struct sockaddr *)&peer.ss, peer.len, (struct sockaddr *)&local.ss,
                         local.len, 2), HO_OK);
    recv_until(&cli, rx, 1, 1200, &g);
    CHECK_EQ(g.n, 1);
    CHECK_EQ(g.ecn[0], 2);
    CHECK_EQ(ntohl(((struct sockaddr_in *)&g.peer[0].ss)->sin_addr.s_addr), 0x7f000001);
    free(data);
    ho_udp_rx_free(rx);
    ho_udp_close(&srv);
    ho_udp_close(&cli);
}

int main(void)
{
    RUN(test_gso);
    ecn_pktinfo_case(AF_INET);
    ecn_pktinfo_case(AF_INET6);
    RUN(test_send_from);
    RUN(test_batch);
    RUN(test_dual_stack);
    return ho_test_summary("test_udp");
}
