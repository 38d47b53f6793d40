/* UDP sockets for QUIC (include/handoff/io.h, "UDP"): recvmmsg + GRO,
 * sendmmsg + GSO with fallback, ECN and pktinfo ancillary data. */
#define _GNU_SOURCE /* recvmmsg, sendmmsg, struct in6_pktinfo */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "handoff/io.h"
#include "io/send_fault.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define RX_BUF 65536            /* a GRO read holds up to 64 KiB */
#define GSO_MAX_SEGS 64         /* UDP_MAX_SEGMENTS on older kernels */
#define GSO_MAX_BYTES 65000     /* below the 65507-byte UDP payload limit */
#define TX_BATCH 64
#define CMSG_BUF (CMSG_SPACE(sizeof(int)) * 2 + CMSG_SPACE(sizeof(struct in6_pktinfo)) + \
                  CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(uint16_t)) + 64)

static int on(int fd, int level, int opt)
{
    int one = 1;
    return setsockopt(fd, level, opt, &one, sizeof(one));
}

int ho_udp_open(ho_udp_socket *s, const struct sockaddr *addr, socklen_t addrlen, const ho_udp_options *o)
{
    ho_udp_options def = {0};
    if (o == NULL)
        o = &def;
    memset(s, 0, sizeof(*s));
    s->fd = -1;
    if (addr == NULL || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
        return HO_ERR_INVALID_ARG;
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return HO_ERR_IO;
    s->fd = fd;
    s->family = addr->sa_family;
    if (o->reuseport && on(fd, SOL_SOCKET, SO_REUSEPORT) != 0)
        goto fail;
    if (s->family == AF_INET6) {
        int v = o->v6only ? 1 : 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v, sizeof(v));
    }
    if (o->rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &o->rcvbuf, sizeof(o->rcvbuf));
    if (o->sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof(o->sndbuf));
    if (bind(fd, addr, addrlen) != 0)
        goto fail;
    /* The bound port (port 0 picked one), once: each received datagram's
     * local address is its IP_PKTINFO address with this port. */
    ho_udp_addr me;
    if (ho_udp_local_addr(s, &me) == HO_OK)
        s->port = me.ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&me.ss)->sin6_port
                                              : ((struct sockaddr_in *)&me.ss)->sin_port;
    /* Each feature is used only if the kernel takes the option; the IPv4
     * options also apply to IPv4-mapped traffic on a dual-stack socket. */
    if (!o->no_ecn) {
        bool ok = on(fd, IPPROTO_IP, IP_RECVTOS) == 0;
        if (s->family == AF_INET6)
            ok = on(fd, IPPROTO_IPV6, IPV6_RECVTCLASS) == 0;
        s->ecn = ok;
    }
    /* DPLPMTUD (RFC 8899 §3): datagrams are never fragmented (DF set) and
     * the kernel's path-MTU cache does not cap them; a probe too large for
     * the path is simply lost. */
    int pmtu = IP_PMTUDISC_PROBE;
    setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
    if (s->family == AF_INET6) {
        int pmtu6 = IPV6_PMTUDISC_PROBE;
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu6, sizeof(pmtu6));
    }
    if (!o->no_pktinfo) {
        bool ok = on(fd, IPPROTO_IP, IP_PKTINFO) == 0;
        if (s->family == AF_INET6)
            ok = on(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO) == 0;
        s->pktinfo = ok;
    }
    if (!o->no_gro)
        s->gro = on(fd, SOL_UDP, UDP_GRO) == 0;
    if (!o->no_gso) {
        /* Probe: a kernel without UDP_SEGMENT refuses the option. */
        int seg = 0;
        socklen_t sl = sizeof(seg);
        s->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
    }
    return HO_OK;
fail:
    close(fd);
    s->fd = -1;
    return HO_ERR_IO;
}

void ho_udp_close(ho_udp_socket *s)
{
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
}

int ho_udp_local_addr(const ho_udp_socket *s, ho_udp_addr *out)
{
    out->len = sizeof(out->ss);
    if (getsockname(s->fd, (struct sockaddr *)&out->ss, &out->len) != 0) {
        out->len = 0;
        return HO_ERR_IO;
    }
    return HO_OK;
}

/* ---- receive --------------------------------------------------------------- */

struct ho_udp_rx {
    size_t batch;
    uint8_t *bufs;                 /* batch x RX_BUF */
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *peers;
    uint8_t (*cmsg)[CMSG_BUF];
    ho_udp_dgram *out;
    size_t out_cap;
};

ho_udp_rx *ho_udp_rx_new(size_t batch)
{
    if (batch == 0)
        batch = 1;
    ho_udp_rx *rx = ho_mem_calloc(1, sizeof(*rx));
    if (rx == NULL)
        return NULL;
    rx->batch = batch;
    rx->bufs = ho_mem_alloc(batch * RX_BUF);
    rx->msgs = ho_mem_calloc(batch, sizeof(*rx->msgs));
    rx->iov = ho_mem_calloc(batch, sizeof(*rx->iov));
    rx->peers = ho_mem_calloc(batch, sizeof(*rx->peers));
    rx->cmsg = ho_mem_calloc(batch, sizeof(*rx->cmsg));
    rx->out_cap = batch * 8;
    rx->out = ho_mem_calloc(rx->out_cap, sizeof(*rx->out));
    if (rx->bufs == NULL || rx->msgs == NULL || rx->iov == NULL || rx->peers == NULL || rx->cmsg == NULL ||
        rx->out == NULL) {
        ho_udp_rx_free(rx);
        return NULL;
    }
    return rx;
}

void ho_udp_rx_free(ho_udp_rx *rx)
{
    if (rx == NULL)
        return;
    ho_mem_free(rx->bufs);
    ho_mem_free(rx->msgs);
    ho_mem_free(rx->iov);
    ho_mem_free(rx->peers);
    ho_mem_free(rx->cmsg);
    ho_mem_free(rx->out);
    ho_mem_free(rx);
}

static void local_port(const ho_udp_socket *s, ho_udp_addr *a)
{
    uint16_t port = s->port;
    if (a->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&a->ss)->sin_port = port;
    else
        ((struct sockaddr_in6 *)&a->ss)->sin6_port = port;
}

int ho_udp_recv_batch(ho_udp_socket *s, ho_udp_rx *rx, ho_udp_dgram **out)
{
    for (size_t i = 0; i < rx->batch; i++) {
        rx->iov[i].iov_base = rx->bufs + i * RX_BUF;
        rx->iov[i].iov_len = RX_BUF;
        struct msghdr *m = &rx->msgs[i].msg_hdr;
        memset(m, 0, sizeof(*m));
        m->msg_name = &rx->peers[i];
        m->msg_namelen = sizeof(rx->peers[i]);
        m->msg_iov = &rx->iov[i];
        m->msg_iovlen = 1;
        m->msg_control = rx->cmsg[i];
        m->msg_controllen = CMSG_BUF;
    }
    int n;
    do
        n = recvmmsg(s->fd, rx->msgs, (unsigned)rx->batch, MSG_DONTWAIT, NULL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? HO_ERR_WOULD_BLOCK : HO_ERR_IO;
    size_t nout = 0;
    for (int i = 0; i < n; i++) {
        struct msghdr *m = &rx->msgs[i].msg_hdr;
        size_t len = rx->msgs[i].msg_len;
        if (m->msg_flags & MSG_TRUNC)
            continue; /* cannot happen with 64 KiB buffers; never pass a cut datagram */
        size_t seg = len;
        uint8_t ecn = 0;
        ho_udp_addr local = {.len = 0};
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                int v;
                memcpy(&v, CMSG_DATA(c), sizeof(v));
                if (v > 0)
                    seg = (size_t)v;
            } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_TOS) {
                ecn = *(const uint8_t *)CMSG_DATA(c) & 3;
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_TCLASS) {
                int v;
                memcpy(&v, CMSG_DATA(c), sizeof(v));
                ecn = (uint8_t)(v & 3);
            } else if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO && local.len == 0) {
                struct in_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                struct sockaddr_in *a = (struct sockaddr_in *)&local.ss;
                memset(&local.ss, 0, sizeof(local.ss));
                a->sin_family = AF_INET;
                a->sin_addr = pi.ipi_addr;
                local.len = sizeof(*a);
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo pi;
                memcpy(&pi, CMSG_DATA(c), sizeof(pi));
                struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local.ss;
                memset(&local.ss, 0, sizeof(local.ss));
                a->sin6_family = AF_INET6;
                a->sin6_addr = pi.ipi6_addr;
                a->sin6_scope_id = (uint32_t)pi.ipi6_ifindex;
                local.len = sizeof(*a);
            }
        }
        if (local.len != 0 && s->family == AF_INET6 && local.ss.ss_family == AF_INET) {
            /* IPv4 on a dual-stack socket: report the local address as
             * IPv4-mapped, like the peer address the kernel gives. */
            struct in_addr v4 = ((struct sockaddr_in *)&local.ss)->sin_addr;
            struct sockaddr_in6 *a = (struct sockaddr_in6 *)&local.ss;
            memset(&local.ss, 0, sizeof(local.ss));
            a->sin6_family = AF_INET6;
            a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
            memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
            local.len = sizeof(*a);
        }
        if (local.len != 0)
            local_port(s, &local);
        uint8_t *base = rx->iov[i].iov_base;
        if (seg < len)
            s->gro_reads++;
        /* GRO: back-to-back datagrams of seg bytes, the last may be shorter. */
        for (size_t off = 0; off < len || (len == 0 && off == 0); off += seg) {
            if (nout == rx->out_cap) {
                size_t ncap = rx->out_cap * 2;
                ho_udp_dgram *g = ho_mem_realloc(rx->out, ncap * sizeof(*g));
                if (g == NULL)
                    break;
                rx->out = g;
                rx->out_cap = ncap;
            }
            ho_udp_dgram *d = &rx->out[nout++];
            d->data = base + off;
            d->len = len - off < seg ? len - off : seg;
            memcpy(&d->peer.ss, &rx->peers[i], sizeof(d->peer.ss));
            d->peer.len = m->msg_namelen;
            d->local = local;
            d->ecn = ecn;
            if (seg == 0)
                break;
        }
    }
    *out = rx->out;
    return nout > 0 ? (int)nout : HO_ERR_WOULD_BLOCK;
}

/* ---- send ------------------------------------------------------------------ */

typedef struct tx_msg {
    struct iovec iov;
    uint8_t cmsg[CMSG_BUF];
    size_t req, off, len;
    bool gso;
} tx_msg;

static size_t add_cmsgs(const ho_udp_socket *s, const ho_udp_tx *t, size_t seg, bool gso, uint8_t *buf)
{
    struct msghdr m = {.msg_control = buf, .msg_controllen = CMSG_BUF};
    memset(buf, 0, CMSG_BUF);
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    size_t used = 0;
    if (gso) {
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t v = (uint16_t)seg;
        memcpy(CMSG_DATA(c), &v, sizeof(v));
        used += CMSG_SPACE(sizeof(uint16_t));
        c = (struct cmsghdr *)(buf + used);
    }
    /* IPv4 and IPv4-mapped destinations take the IPv4 options (the kernel
     * sends mapped ones through the IPv4 path, which reads IP_TOS). */
    bool v4 = t->peer->sa_family == AF_INET ||
              (t->peer->sa_family == AF_INET6 &&
               IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)t->peer)->sin6_addr));
    if (s->ecn && t->ecn != 0) {
        int v = t->ecn & 3;
        c->cmsg_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
        c->cmsg_type = v4 ? IP_TOS : IPV6_TCLASS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &v, sizeof(v));
        used += CMSG_SPACE(sizeof(int));
        c = (struct cmsghdr *)(buf + used);
    }
    if (t->local != NULL && t->local_len != 0) {
        if (t->local->sa_family == AF_INET) {
            struct in_pktinfo pi = {0};
            pi.ipi_spec_dst = ((const struct sockaddr_in *)t->local)->sin_addr;
            c->cmsg_level = IPPROTO_IP;
            c->cmsg_type = IP_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            used += CMSG_SPACE(sizeof(pi));
        } else if (t->local->sa_family == AF_INET6) {
            struct in6_pktinfo pi = {0};
            pi.ipi6_addr = ((const struct sockaddr_in6 *)t->local)->sin6_addr;
            c->cmsg_level = IPPROTO_IPV6;
            c->cmsg_type = IPV6_PKTINFO;
            c->cmsg_len = CMSG_LEN(sizeof(pi));
            memcpy(CMSG_DATA(c), &pi, sizeof(pi));
            used += CMSG_SPACE(sizeof(pi));
        }
    }
    return used;
}

int ho_udp_send_batch(ho_udp_socket *s, const ho_udp_tx *tx, size_t n)
{
    static __thread tx_msg msgs[TX_BATCH];
    static __thread struct mmsghdr mm[TX_BATCH];
    size_t r = 0, off = 0; /* cursor: request r, byte offset off */
    while (r < n) {
        if (tx[r].len == 0 || tx[r].peer == NULL) {
            r++, off = 0;
            continue;
        }
        /* Build up to TX_BATCH messages from the cursor. */
        size_t k = 0, cr = r, coff = off;
        while (k < TX_BATCH && cr < n) {
            const ho_udp_tx *t = &tx[cr];
            if (t->len == 0 || t->peer == NULL) {
                cr++, coff = 0;
                continue;
            }
            size_t seg = t->segment_size == 0 || t->segment_size > t->len ? t->len : t->segment_size;
            size_t rest = t->len - coff, chunk = seg < rest ? seg : rest;
            bool gso = false;
            if (s->gso && rest > seg) {
                /* Kernel rule: at most GSO_MAX_SEGS segments and
                 * 64 KiB per send; the short segment only at the end. */
                size_t segs = GSO_MAX_BYTES / seg;
                if (segs > GSO_MAX_SEGS)
                    segs = GSO_MAX_SEGS;
                if (segs > 1) {
                    chunk = segs * seg < rest ? segs * seg : rest;
                    gso = chunk > seg;
                }
            }
            tx_msg *x = &msgs[k];
            x->req = cr;
            x->off = coff;
            x->len = chunk;
            x->gso = gso;
            x->iov.iov_base = (void *)(t->data + coff);
            x->iov.iov_len = chunk;
            struct msghdr *m = &mm[k].msg_hdr;
            memset(m, 0, sizeof(*m));
            m->msg_name = (void *)t->peer;
            m->msg_namelen = t->peer_len;
            m->msg_iov = &x->iov;
            m->msg_iovlen = 1;
            size_t cl = add_cmsgs(s, t, seg, gso, x->cmsg);
            m->msg_control = cl > 0 ? x->cmsg : NULL;
            m->msg_controllen = cl;
            k++;
            coff += chunk;
            if (coff == t->len)
                cr++, coff = 0;
        }
        if (k == 0)
            break;
        int sent;
        if (s->test_refuse_gso && msgs[0].gso) {
            sent = -1;
            errno = EINVAL;
        } else {
            sent = io_udp_sendmmsg(s->fd, mm, (unsigned)k, MSG_DONTWAIT);
            s->send_calls++;
        }
        if (sent < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if ((errno == EINVAL || errno == EIO) && msgs[0].gso) {
                /* The kernel (or the device: EIO without checksum offload)
                 * refuses GSO: resend without it, and from now on. */
                s->gso = false;
                s->gso_fallbacks++;
                continue;
            }
            return r > 0 ? (int)r : HO_ERR_IO;
        }
        /* Advance past the messages sent. */
        const tx_msg *last = &msgs[sent - 1];
        r = last->req;
        off = last->off + last->len;
        if (off == tx[r].len)
            r++, off = 0;
    }
    if (r == 0 && n > 0)
        return HO_ERR_WOULD_BLOCK;
    return (int)r;
}

int ho_udp_send(ho_udp_socket *s, const uint8_t *data, size_t len, size_t segment_size, const struct sockaddr *peer,
                socklen_t peer_len, const struct sockaddr *local, socklen_t local_len, uint8_t ecn)
{
    ho_udp_tx t = {data, len, segment_size, peer, peer_len, local, local_len, ecn};
    int rc = ho_udp_send_batch(s, &t, 1);
    return rc == 1 ? HO_OK : rc < 0 ? rc : HO_ERR_WOULD_BLOCK;
}
