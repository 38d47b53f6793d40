/* test_quic_steering: the server CID layout (QUIC-LB plaintext + thread
 * octet, src/quic/cid.c), the owner computation the I/O threads use
 * (io_quic_owner), and the classic BPF reuseport program over real
 * loopback sockets: two sockets on one port, datagrams whose CIDs name
 * thread 0 or 1 must each reach the socket of that thread. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>

#include "harness.h"
#include "handoff/crypto.h"
#include "handoff/io.h"
#include "io/server_int.h"

static void test_layout_init(void)
{
    ho_quic_cid_layout l;
    uint8_t sid[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    CHECK_EQ(ho_quic_cid_layout_init(&l, 7, sid, 1, 2), HO_ERR_INVALID_ARG); /* 7: unroutable */
    CHECK_EQ(ho_quic_cid_layout_init(&l, 0, sid, 0, 2), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cid_layout_init(&l, 0, sid, 16, 2), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cid_layout_init(&l, 0, sid, 1, 0), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cid_layout_init(&l, 0, sid, 1, 257), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cid_layout_init(&l, 0, sid, 1, 2), HO_OK);
    CHECK_EQ(l.cid_len, 8);
    CHECK_EQ(ho_quic_cid_layout_thread_offset(&l), 2);
    CHECK_EQ(ho_quic_cid_layout_init(&l, 3, sid, 5, 2), HO_OK);
    CHECK_EQ(l.cid_len, 10); /* 1 + 5 + a 4-octet nonce */
    CHECK_EQ(ho_quic_cid_layout_init(&l, 6, sid, 15, 256), HO_OK);
    CHECK_EQ(l.cid_len, 20); /* the longest CID QUIC v1 allows */
}

static void test_layout_roundtrip(void)
{
    static const unsigned threads[] = {1, 2, 3, 7, 64, 255, 256};
    uint8_t sid[15];
    ho_random(sid, sizeof(sid));
    for (size_t ti = 0; ti < sizeof(threads) / sizeof(threads[0]); ti++) {
        for (size_t sl = 1; sl <= 15; sl += 7) {
            ho_quic_cid_layout l;
            uint8_t cfg = (uint8_t)(sl % 7);
            CHECK_EQ(ho_quic_cid_layout_init(&l, cfg, sid, sl, threads[ti]), HO_OK);
            bool ok = true;
            unsigned seen_values = 0;
            uint8_t first_thread_octet = 0;
            for (unsigned i = 0; i < 600; i++) {
                unsigned want = i % threads[ti];
                uint8_t cid[20];
                ho_quic_cid_layout_make(&l, want, cid);
                unsigned got = 999;
                ok &= ho_quic_cid_layout_decode(&l, cid, l.cid_len, &got);
                ok &= got == want;
                ok &= ho_quic_cid_layout_thread_of(&l, cid, l.cid_len) == (int)want;
                /* octet 0: config rotation bits, then the length - 1 */
                ok &= cid[0] >> 5 == cfg && (cid[0] & 0x1f) == l.cid_len - 1;
                ok &= memcmp(cid + 1, sid, sl) == 0;
                uint8_t t = cid[ho_quic_cid_layout_thread_offset(&l)];
                if (i == 0)
                    first_thread_octet = t;
                else if (t != first_thread_octet)
                    seen_values++;
            }
            CHECK(ok);
            /* The thread octet is not a constant (its other bits are
             * random) unless 256 threads leave it no freedom. */
            if (threads[ti] <= 128 && threads[ti] > 1)
                CHECK(seen_values > 0);
        }
    }
    /* Not ours: another server id, config, or length. */
    ho_quic_cid_layout l;
    uint8_t one = 0x42;
    CHECK_EQ(ho_quic_cid_layout_init(&l, 1, &one, 1, 2), HO_OK);
    uint8_t cid[20];
    ho_quic_cid_layout_make(&l, 1, cid);
    CHECK(ho_quic_cid_layout_decode(&l, cid, 8, NULL));
    CHECK(!ho_quic_cid_layout_decode(&l, cid, 9, NULL));
    cid[1] ^= 1;
    CHECK(!ho_quic_cid_layout_decode(&l, cid, 8, NULL));
    cid[1] ^= 1;
    cid[0] ^= 0x20;
    CHECK(!ho_quic_cid_layout_decode(&l, cid, 8, NULL));
    /* A CID too short to hold the thread octet steers nowhere. */
    CHECK_EQ(ho_quic_cid_layout_thread_of(&l, cid, 2), -1);
}

/* A short-header datagram to cid (RFC 9000 §17.3.1), len octets. */
static size_t short_dgram(uint8_t *d, const uint8_t *cid, size_t cid_len, size_t len)
{
    ho_random(d, len);
    d[0] = 0x40 | (d[0] & 0x3f & ~0x80);
    memcpy(d + 1, cid, cid_len);
    return len;
}

/* A long-header (Handshake) datagram to dcid (RFC 9000 §17.2), len octets. */
static size_t long_dgram(uint8_t *d, const uint8_t *dcid, size_t dcid_len, size_t len)
{
    ho_random(d, len);
    d[0] = 0xe0;
    d[1] = 0, d[2] = 0, d[3] = 0, d[4] = 1;
    d[5] = (uint8_t)dcid_len;
    memcpy(d + 6, dcid, dcid_len);
    d[6 + dcid_len] = 8;
    return len;
}

static void test_owner(void)
{
    ho_quic_cid_layout l;
    uint8_t sid[3] = {9, 8, 7};
    CHECK_EQ(ho_quic_cid_layout_init(&l, 2, sid, 3, 3), HO_OK);
    uint8_t d[1300], cid[20];
    bool ok = true;
    for (unsigned i = 0; i < 300; i++) {
        ho_quic_cid_layout_make(&l, i % 3, cid);
        ok &= io_quic_owner(&l, d, short_dgram(d, cid, l.cid_len, 60)) == (int)(i % 3);
        ok &= io_quic_owner(&l, d, long_dgram(d, cid, l.cid_len, 1200)) == (int)(i % 3);
    }
    CHECK(ok);
    /* A client's DCID of 4 octets holds no thread octet at offset 4. */
    CHECK_EQ(io_quic_owner(&l, d, long_dgram(d, cid, 4, 1200)), -1);
    CHECK_EQ(io_quic_owner(&l, d, 4), -1); /* short, cut before the thread octet */
    CHECK_EQ(io_quic_owner(&l, d, 0), -1);
}

static uint16_t port_of(const ho_udp_socket *s)
{
    ho_udp_addr a;
    ho_udp_local_addr(s, &a);
    return ntohs(((struct sockaddr_in *)&a.ss)->sin_port);
}

/* Reads every datagram waiting on the two sockets until `want` arrived or
 * 2 s passed without one; counts[sock][first octet tag] ++. */
static size_t drain(ho_udp_socket *s, ho_udp_rx *rx, size_t want, uint8_t tags[2][256], size_t counts[2])
{
    size_t total = 0;
    while (total < want) {
        struct pollfd p[2] = {{.fd = s[0].fd, .events = POLLIN}, {.fd = s[1].fd, .events = POLLIN}};
        if (poll(p, 2, 2000) <= 0)
            break;
        for (int k = 0; k < 2; k++) {
            ho_udp_dgram *d;
            int n;
            while ((n = ho_udp_recv_batch(&s[k], rx, &d)) > 0) {
                for (int i = 0; i < n; i++) {
                    /* the last octet says which thread the sender meant */
                    tags[k][d[i].data[d[i].len - 1]]++;
                    counts[k]++;
                    total++;
                }
            }
        }
    }
    return total;
}

static void test_bpf_steering(void)
{
    ho_quic_cid_layout l;
    uint8_t sid = 0x5a;
    CHECK_EQ(ho_quic_cid_layout_init(&l, 1, &sid, 1, 2), HO_OK);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    ho_udp_options o = {.reuseport = true, .no_gro = true};
    ho_udp_socket s[2];
    CHECK_EQ(ho_udp_open(&s[0], (struct sockaddr *)&a, sizeof(a), &o), HO_OK);
    a.sin_port = htons(port_of(&s[0]));
    CHECK_EQ(ho_udp_open(&s[1], (struct sockaddr *)&a, sizeof(a), &o), HO_OK);
    /* The kernel must take the program: a refusal is a failure here (the
     * server itself would fall back to hand-over queues). */
    CHECK_EQ(io_quic_steer_attach(s[0].fd, &l), HO_OK);

    ho_udp_socket cl[4];
    struct sockaddr_in any = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &any.sin_addr);
    for (int i = 0; i < 4; i++)
        CHECK_EQ(ho_udp_open(&cl[i], (struct sockaddr *)&any, sizeof(any), NULL), HO_OK);
    ho_udp_rx *rx = ho_udp_rx_new(16);
    uint8_t d[1300], cid[20];
    enum { N = 64 };
    /* Short headers from four client ports (the 4-tuple hash alone would
     * spread them regardless of CID), each to a CID of thread i % 2; the
     * last octet carries the thread meant. */
    for (int i = 0; i < N; i++) {
        unsigned th = (unsigned)i % 2;
        ho_quic_cid_layout_make(&l, th, cid);
        size_t len = short_dgram(d, cid, l.cid_len, 40 + (size_t)i);
        d[len - 1] = (uint8_t)th;
        CHECK_EQ(ho_udp_send(&cl[(i / 2) % 4], d, len, 0, (struct sockaddr *)&a, sizeof(a), NULL, 0, 0), HO_OK);
    }
    uint8_t tags[2][256] = {{0}};
    size_t counts[2] = {0, 0};
    CHECK_EQ(drain(s, rx, N, tags, counts), N);
    CHECK_EQ(tags[0][0], N / 2); /* thread 0's CIDs on socket 0 */
    CHECK_EQ(tags[1][1], N / 2); /* thread 1's on socket 1 */
    CHECK_EQ(tags[0][1] + tags[1][0], 0);

    /* Long headers (a client's Handshake to our CID; its first Initial
     * to a random DCID): the socket io_quic_owner names. */
    memset(tags, 0, sizeof(tags));
    counts[0] = counts[1] = 0;
    size_t expect[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        size_t len;
        if (i % 2 == 0) {
            ho_quic_cid_layout_make(&l, (unsigned)(i / 2) % 2, cid);
            len = long_dgram(d, cid, l.cid_len, 1200);
        } else {
            ho_random(cid, 20);
            len = long_dgram(d, cid, 8 + (size_t)i % 13, 1200);
        }
        int owner = io_quic_owner(&l, d, len);
        CHECK(owner >= 0);
        d[len - 1] = (uint8_t)owner;
        expect[owner]++;
        CHECK_EQ(ho_udp_send(&cl[(i / 2) % 4], d, len, 0, (struct sockaddr *)&a, sizeof(a), NULL, 0, 0), HO_OK);
    }
    CHECK_EQ(drain(s, rx, N, tags, counts), N);
    CHECK_EQ(tags[0][0], expect[0]);
    CHECK_EQ(tags[1][1], expect[1]);
    CHECK_EQ(tags[0][1] + tags[1][0], 0);

    ho_udp_rx_free(rx);
    for (int i = 0; i < 4; i++)
        ho_udp_close(&cl[i]);
    ho_udp_close(&s[0]);
    ho_udp_close(&s[1]);
}

int main(void)
{
    RUN(test_layout_init);
    RUN(test_layout_roundtrip);
    RUN(test_owner);
    RUN(test_bpf_steering);
    return ho_test_summary("test_quic_steering");
}
