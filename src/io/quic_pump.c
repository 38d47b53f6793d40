/* The QUIC client datagram pump (include/handoff/io.h, "QUIC client
 * datagram pump"): one client connection over one UDP socket, the loop
 * that get --h3 (src/http/h3_fetch.c) and examples/echo_client.c share. */
#define _GNU_SOURCE
#include "base/mem.h"
#include "handoff/io.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

enum { PUMP_RX_BATCH = 32, PUMP_TX_BUF = 64 * 1500 };

struct ho_quic_pump {
    ho_udp_socket *sock;
    ho_quic_conn *c;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    ho_quic_path rx_path;
    bool has_rx_path;
    ho_udp_rx *rx;
    uint8_t *tx;
};

ho_quic_pump *ho_quic_pump_new(ho_udp_socket *sock, ho_quic_conn *c, const struct sockaddr *peer, socklen_t peer_len,
                               const ho_quic_path *rx_path)
{
    if (sock == NULL || c == NULL || peer == NULL || peer_len == 0 || peer_len > sizeof(struct sockaddr_storage))
        return NULL;
    ho_quic_pump *p = ho_mem_calloc(1, sizeof(*p));
    if (p == NULL)
        return NULL;
    p->sock = sock;
    p->c = c;
    memcpy(&p->peer, peer, peer_len);
    p->peer_len = peer_len;
    if (rx_path != NULL) {
        p->rx_path = *rx_path;
        p->has_rx_path = true;
    }
    p->rx = ho_udp_rx_new(PUMP_RX_BATCH);
    p->tx = ho_mem_alloc(PUMP_TX_BUF);
    if (p->rx == NULL || p->tx == NULL) {
        ho_quic_pump_free(p);
        return NULL;
    }
    return p;
}

void ho_quic_pump_free(ho_quic_pump *p)
{
    if (p == NULL)
        return;
    ho_udp_rx_free(p->rx);
    ho_mem_free(p->tx);
    ho_mem_free(p);
}

void ho_quic_pump_flush(ho_quic_pump *p)
{
    size_t len, seg;
    while ((len = ho_quic_conn_send(p->c, p->tx, PUMP_TX_BUF, &seg, ho_now_ns())) > 0)
        (void)ho_udp_send(p->sock, p->tx, len, seg, (const struct sockaddr *)&p->peer, p->peer_len, NULL, 0,
                          ho_quic_conn_ecn_codepoint(p->c));
}

int ho_quic_pump_step(ho_quic_pump *p, int max_wait_ms)
{
    ho_quic_pump_flush(p);
    int wait_ms = max_wait_ms < 0 ? 0 : max_wait_ms;
    ho_quic_time next = ho_quic_conn_next_timeout(p->c), now = ho_now_ns();
    if (next != HO_QUIC_TIME_NEVER) {
        int64_t ms = next > now ? (next - now) / 1000000 + 1 : 0;
        if (ms < wait_ms)
            wait_ms = (int)ms;
    }
    struct pollfd pfd = {.fd = p->sock->fd, .events = POLLIN};
    poll(&pfd, 1, wait_ms);
    int total = 0, got;
    ho_udp_dgram *d;
    while ((got = ho_udp_recv_batch(p->sock, p->rx, &d)) > 0) {
        ho_quic_time now_rx = ho_now_ns();
        for (int i = 0; i < got; i++) {
            if (p->has_rx_path)
                p->rx_path.ecn = d[i].ecn;
            ho_quic_conn_receive(p->c, d[i].data, d[i].len, p->has_rx_path ? &p->rx_path : NULL, now_rx);
        }
        total += got;
    }
    int err = errno;
    if (ho_quic_conn_next_timeout(p->c) <= ho_now_ns())
        ho_quic_conn_handle_timeout(p->c, ho_now_ns());
    if (got == HO_ERR_IO && total == 0) {
        errno = err;
        return HO_ERR_IO;
    }
    return total;
}
