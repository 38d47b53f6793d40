/* netsim: see netsim.h. */
#include "netsim.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handoff/crypto.h"
#include "quic/conn_int.h"
#include "quic_test_tls.h"

static ho_tls_config *server_tls, *client_tls;

void netsim_global_init(void) { quic_test_tls("hq-test", &server_tls, &client_tls); }

void netsim_global_free(void)
{
    ho_tls_config_free(server_tls);
    ho_tls_config_free(client_tls);
    server_tls = client_tls = NULL;
}

uint64_t netsim_rand(netsim *ns)
{
    ns->rng ^= ns->rng << 13;
    ns->rng ^= ns->rng >> 7;
    ns->rng ^= ns->rng << 17;
    return ns->rng;
}

void netsim_trace(netsim *ns, const char *fmt, ...)
{
    char *line = ns->trace[ns->ntrace++ % NETSIM_TRACE];
    int n = snprintf(line, sizeof(ns->trace[0]), "%12.6f ", (double)ns->now / 1e9);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(ns->trace[0]) - (size_t)n, fmt, ap);
    va_end(ap);
}

void netsim_dump(netsim *ns, const char *why)
{
    fprintf(stderr, "netsim[%s] seed %llu: %s at t=%.6f s, %llu steps\n", ns->name ? ns->name : "?",
            (unsigned long long)ns->seed, why, (double)ns->now / 1e9, (unsigned long long)ns->steps);
    for (int i = 0; i < ns->ncl; i++)
        for (int d = 0; d < 2; d++) {
            const netsim_link *l = &ns->link[i][d];
            fprintf(stderr,
                    "  client %d %s: offered %llu delivered %llu lost %llu queue-drops %llu blackholed %llu "
                    "filtered %llu dup %llu reordered %llu\n",
                    i, d == NETSIM_C2S ? "c->s" : "s->c", (unsigned long long)l->offered,
                    (unsigned long long)l->delivered, (unsigned long long)l->lost,
                    (unsigned long long)l->queue_drops, (unsigned long long)l->blackholed,
                    (unsigned long long)l->filtered, (unsigned long long)l->duplicated,
                    (unsigned long long)l->reordered);
        }
    unsigned n = ns->ntrace < NETSIM_TRACE ? ns->ntrace : NETSIM_TRACE;
    fprintf(stderr, "  last %u events:\n", n);
    for (unsigned k = ns->ntrace - n; k < ns->ntrace; k++)
        fprintf(stderr, "    %s\n", ns->trace[k % NETSIM_TRACE]);
}

unsigned netsim_pkt_types(const uint8_t *d, size_t len)
{
    unsigned mask = 0;
    size_t off = 0;
    while (off < len) {
        ho_quic_header h;
        if (ho_quic_header_parse(d + off, len - off, 8, &h) != HO_OK)
            break;
        mask |= 1u << h.type;
        if (h.type == HO_QUIC_PKT_1RTT || h.packet_len == 0)
            break;
        off += h.packet_len;
    }
    return mask;
}

static const char *types_str(unsigned m, char *buf, size_t cap)
{
    static const char *names[] = {"I", "0", "H", "1", "R", "V"};
    size_t n = 0;
    buf[0] = 0;
    for (int t = 0; t < 6; t++)
        if (m & (1u << t))
            n += (size_t)snprintf(buf + n, cap - n, "%s", names[t]);
    if (n == 0)
        snprintf(buf, cap, "?");
    return buf;
}

/* ---- the datagram queue: a binary heap ordered by (at, seq) -------------- */

static bool pkt_before(const netsim_pkt *a, const netsim_pkt *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

void netsim_queue_push(netsim_queue *q, const netsim_pkt *meta, const uint8_t *d, size_t len)
{
    netsim_pkt p = *meta;
    p.seq = q->next_seq++;
    p.len = len;
    p.data = malloc(len ? len : 1);
    if (p.data == NULL)
        abort();
    memcpy(p.data, d, len);
    if (q->n == q->cap) {
        q->cap = q->cap ? q->cap * 2 : 1024;
        q->heap = realloc(q->heap, q->cap * sizeof(*q->heap));
        if (q->heap == NULL)
            abort();
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!pkt_before(&p, &q->heap[parent]))
            break;
        q->heap[i] = q->heap[parent];
        i = parent;
    }
    q->heap[i] = p;
}

static netsim_pkt queue_pop(netsim_queue *q)
{
    netsim_pkt top = q->heap[0];
    netsim_pkt last = q->heap[--q->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const netsim_pkt *best = &last;
        if (l < q->n && pkt_before(&q->heap[l], best))
            m = l, best = &q->heap[l];
        if (r < q->n && pkt_before(&q->heap[r], best))
            m = r;
        if (m == i)
            break;
        q->heap[i] = q->heap[m];
        i = m;
    }
    if (q->n > 0)
        q->heap[i] = last;
    return top;
}

ho_quic_time netsim_queue_next(const netsim_queue *q) { return q->n > 0 ? q->heap[0].at : HO_QUIC_TIME_NEVER; }

bool netsim_queue_pop_due(netsim_queue *q, ho_quic_time now, netsim_pkt *out)
{
    if (q->n == 0 || q->heap[0].at > now)
        return false;
    *out = queue_pop(q);
    return true;
}

void netsim_queue_clear(netsim_queue *q)
{
    while (q->n > 0)
        free(queue_pop(q).data);
}

void netsim_queue_free(netsim_queue *q)
{
    netsim_queue_clear(q);
    free(q->heap);
    memset(q, 0, sizeof(*q));
}

static void schedule(netsim *ns, const netsim_pkt *meta, const uint8_t *d, size_t len, ho_quic_time at)
{
    netsim_pkt p = *meta;
    p.at = at;
    netsim_queue_push(&ns->q, &p, d, len);
}

/* ---- links ---------------------------------------------------------------- */

static void link_send(netsim *ns, int client, int dir, uint16_t port, const uint8_t *d, size_t len, uint8_t ecn)
{
    netsim_link *l = &ns->link[client][dir];
    uint64_t index = l->offered++;
    l->sent_ecn[ecn & 3]++;
    if (len > l->max_len)
        l->max_len = len;
    char ty[8];
    char who[16];
    if (dir == NETSIM_C2S)
        snprintf(who, sizeof(who), "c%d->s", client);
    else
        snprintf(who, sizeof(who), "s->c%d", client);
    types_str(netsim_pkt_types(d, len), ty, sizeof(ty));
    if (l->mtu != 0 && len > l->mtu) {
        l->too_big++;
        netsim_trace(ns, "%s %4zuB %-3s #%llu dropped (over the MTU)", who, len, ty, (unsigned long long)index);
        return;
    }
    if (ns->filter != NULL && ns->filter(ns->filter_ctx, client, dir, d, len, index, &ecn)) {
        l->filtered++;
        netsim_trace(ns, "%s %4zuB %-3s #%llu dropped (filter)", who, len, ty, (unsigned long long)index);
        return;
    }
    if (ns->now >= l->blackhole_from && ns->now < l->blackhole_until) {
        l->blackholed++;
        netsim_trace(ns, "%s %4zuB %-3s #%llu dropped (blackhole)", who, len, ty, (unsigned long long)index);
        return;
    }
    if (l->loss_pct && netsim_rand(ns) % 100 < l->loss_pct) {
        l->lost++;
        netsim_trace(ns, "%s %4zuB %-3s #%llu lost", who, len, ty, (unsigned long long)index);
        return;
    }
    ho_quic_time at = ns->now;
    if (l->rate_bps) {
        /* The bottleneck: what is still queued ahead of this datagram,
         * in bytes; beyond the bound the datagram is tail-dropped. */
        ho_quic_time backlog = l->busy_until > ns->now ? l->busy_until - ns->now : 0;
        double queued = (double)backlog * (double)l->rate_bps / 8e9;
        if (queued + (double)len > (double)l->queue_bytes) {
            l->queue_drops++;
            netsim_trace(ns, "%s %4zuB %-3s #%llu dropped (queue full)", who, len, ty, (unsigned long long)index);
            return;
        }
        ho_quic_time start = l->busy_until > ns->now ? l->busy_until : ns->now;
        uint64_t bin = (uint64_t)(backlog / (NETSIM_QDELAY_BIN));
        l->qdelay_hist[bin < NETSIM_QDELAY_BINS ? bin : NETSIM_QDELAY_BINS - 1]++;
        l->qdelay_sum += backlog;
        l->qdelay_n++;
        l->busy_until = start + (ho_quic_time)((double)len * 8e9 / (double)l->rate_bps);
        at = l->busy_until;
    }
    at += l->delay;
    if (l->jitter) {
        ho_quic_time j = (ho_quic_time)(netsim_rand(ns) % (uint64_t)(2 * l->jitter + 1)) - l->jitter;
        at = at + j < ns->now ? ns->now : at + j;
    }
    /* Jitter is delay variation along one path (queues), not reordering:
     * a datagram never overtakes the previous one. Reordering is its own
     * knob below. */
    if (at < l->fifo_at)
        at = l->fifo_at;
    l->fifo_at = at;
    if (l->reorder_pct && netsim_rand(ns) % 100 < l->reorder_pct) {
        at += (ho_quic_time)(netsim_rand(ns) % (uint64_t)(l->reorder_delay + 1));
        l->reordered++;
    }
    netsim_trace(ns, "%s %4zuB %-3s #%llu due %.6f", who, len, ty, (unsigned long long)index, (double)at / 1e9);
    netsim_pkt meta = {.client = client, .dir = dir, .ecn = ecn, .port = port};
    schedule(ns, &meta, d, len, at);
    if (l->dup_pct && netsim_rand(ns) % 100 < l->dup_pct) {
        l->duplicated++;
        schedule(ns, &meta, d, len, at + (ho_quic_time)(netsim_rand(ns) % (uint64_t)HO_QUIC_MS(1)));
    }
}

void netsim_set_links(netsim *ns, int i, const netsim_link *cfg)
{
    for (int k = 0; k < NETSIM_MAX_CLIENTS; k++)
        if (i < 0 || i == k)
            ns->link[k][0] = ns->link[k][1] = *cfg;
}

/* ---- callbacks ------------------------------------------------------------ */

static int port_index(const struct sockaddr_storage *ss)
{
    int i = ntohs(((const struct sockaddr_in *)ss)->sin_port) - NETSIM_CLIENT_PORT;
    return i >= 0 && i < NETSIM_MAX_CLIENTS ? i : -1;
}

static uint16_t port_of(const struct sockaddr_storage *ss) { return ntohs(((const struct sockaddr_in *)ss)->sin_port); }

/* port_index, also for a client's NAT-rebound port and the other ports it
 * owns (netsim_client_port). */
static int dest_index(const netsim *ns, const struct sockaddr_storage *ss)
{
    uint16_t port = port_of(ss);
    for (int i = 0; i < ns->ncl; i++) {
        if (ns->nat_port[i] != 0 && ns->nat_port[i] == port)
            return i;
        for (int k = 0; k < NETSIM_PORTS; k++)
            if (ns->ports[i][k] != 0 && ns->ports[i][k] == port)
                return i;
    }
    return port_index(ss);
}

void netsim_client_port(netsim *ns, int i, uint16_t port)
{
    for (int k = 0; k < NETSIM_PORTS; k++) {
        if (ns->ports[i][k] == port)
            return;
        if (ns->ports[i][k] == 0) {
            ns->ports[i][k] = port;
            return;
        }
    }
}

static int client_of(netsim *ns, ho_quic_conn *c)
{
    if (c->is_server)
        return dest_index(ns, &c->path.remote);
    for (int i = 0; i < ns->ncl; i++)
        if (ns->cl[i] == c)
            return i;
    return -1;
}

static void cb_hs(void *ctx, ho_quic_conn *c)
{
    netsim *ns = ctx;
    int i = client_of(ns, c);
    if (i < 0)
        return;
    if (c->is_server)
        ns->srv_hs[i]++;
    else
        ns->cli_hs[i]++;
    netsim_trace(ns, "%s %d handshake done", c->is_server ? "server" : "client", i);
}

static void cb_closed(void *ctx, ho_quic_conn *c, int err)
{
    netsim *ns = ctx;
    int i = client_of(ns, c);
    if (i < 0)
        return;
    if (c->is_server) {
        bool is_app = false, by_peer = false;
        ns->srv_closed[i]++;
        ns->srv_close_err[i] = err;
        ns->srv_close_code[i] = ho_quic_conn_close_code(c, &is_app, &by_peer);
        ns->srv_close_by_peer[i] = by_peer;
    } else {
        ns->cli_closed[i]++;
        ns->cli_close_err[i] = err;
    }
    netsim_trace(ns, "%s %d closed, error %d", c->is_server ? "server" : "client", i, err);
}

static void cb_opened(void *ctx, ho_quic_conn *c, uint64_t id)
{
    netsim *ns = ctx;
    if (!c->is_server || (id & 2) != 0)
        return;
    for (int k = 0; k < NETSIM_MAX_SRV_STREAMS; k++) {
        netsim_srv_stream *s = &ns->ss[k];
        if (s->used)
            continue;
        memset(s, 0, sizeof(*s));
        s->used = true;
        s->c = c;
        s->id = id;
        return;
    }
}

static void on_free(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    (void)ep;
    netsim *ns = ctx;
    ns->freed++;
    int i = client_of(ns, c);
    if (i >= 0) {
        ns->srv_freed[i] = true;
        ho_quic_conn_get_stats(c, &ns->srv_last_stats[i]);
    }
    for (int k = 0; k < NETSIM_MAX_SRV_STREAMS; k++)
        if (ns->ss[k].used && ns->ss[k].c == c)
            ns->ss[k].used = false;
    netsim_trace(ns, "server conn of client %d freed", i);
}

static void on_accept(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c)
{
    (void)ep;
    netsim *ns = ctx;
    ns->accepted++;
    int i = client_of(ns, c);
    if (i >= 0)
        ns->srv_freed[i] = false;
    netsim_trace(ns, "server accepted a connection from client %d", i);
}

static void cb_echo_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    netsim *ns = ctx;
    uint8_t buf[256];
    size_t got, w;
    bool fin;
    if (c->is_server) {
        if (ho_quic_stream_read(c, id, buf, sizeof(buf), &got, &fin) == HO_OK && (got > 0 || fin))
            ho_quic_stream_write(c, id, buf, got, fin, &w);
        return;
    }
    int i = client_of(ns, c);
    while (i >= 0 && ho_quic_stream_read(c, id, buf, sizeof(buf), &got, &fin) == HO_OK && (got > 0 || fin)) {
        if (ns->echo_len[i] + got <= sizeof(ns->echo[i])) {
            memcpy(ns->echo[i] + ns->echo_len[i], buf, got);
            ns->echo_len[i] += got;
        }
        if (fin) {
            ns->echo_fin[i] = true;
            break;
        }
    }
}

void netsim_echo_mode(netsim *ns)
{
    ns->ccfg.callbacks.stream_opened = ns->ecfg.conn.callbacks.stream_opened = NULL;
    ns->ccfg.callbacks.stream_readable = ns->ecfg.conn.callbacks.stream_readable = cb_echo_readable;
}

int netsim_echo_send(netsim *ns, int i, const char *msg, uint64_t *id)
{
    size_t w;
    int rc = ho_quic_stream_open(ns->cl[i], true, id);
    return rc != HO_OK ? rc : ho_quic_stream_write(ns->cl[i], *id, msg, strlen(msg), true, &w);
}

bool netsim_all_echoed(netsim *ns)
{
    for (int i = 0; i < ns->ncl; i++)
        if (!ns->echo_fin[i])
            return false;
    return true;
}

bool netsim_all_hs(netsim *ns)
{
    int srv = 0;
    for (int i = 0; i < ns->ncl; i++) {
        if (!ho_quic_conn_handshake_confirmed(ns->cl[i]))
            return false;
        srv += ns->srv_hs[i];
    }
    return srv >= ns->ncl;
}

void netsim_zero_latency(netsim *ns)
{
    netsim_link zero = {0};
    netsim_set_links(ns, -1, &zero);
}

/* ---- setup ---------------------------------------------------------------- */

void netsim_addr(struct sockaddr_storage *ss, socklen_t *len, uint16_t port)
{
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    memset(ss, 0, sizeof(*ss));
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(0x7f000001);
    *len = sizeof(*a);
}

uint32_t netsim_quic_version;
uint32_t netsim_last_version;

void netsim_init(netsim *ns, uint64_t seed, const char *name)
{
    memset(ns, 0, sizeof(*ns));
    ns->seed = seed;
    ns->rng = seed * 0x9e3779b97f4a7c15ULL + 1;
    ns->name = name;
    ns->now = HO_QUIC_SEC(1000);
    ns->app_wake = HO_QUIC_TIME_NEVER;
    ho_quic_callbacks cb = {
        .ctx = ns, .handshake_done = cb_hs, .closed = cb_closed, .stream_opened = cb_opened};
    ns->ccfg = (ho_quic_config){.is_server = false, .tls = client_tls, .server_name = "localhost", .callbacks = cb};
    ns->ecfg.conn = (ho_quic_config){.is_server = true, .tls = server_tls, .callbacks = cb};
    if (netsim_quic_version != 0)
        ns->ccfg.versions[0] = ns->ecfg.conn.versions[0] = netsim_quic_version;
    memset(ns->ecfg.static_secret, 0x5a, sizeof(ns->ecfg.static_secret));
    ns->ecfg.on_accept = on_accept;
    ns->ecfg.on_conn_free = on_free;
    ns->ecfg.ctx = ns;
    for (int i = 0; i < NETSIM_MAX_CLIENTS; i++)
        for (int d = 0; d < 2; d++)
            ns->link[i][d].delay = HO_QUIC_MS(10);
}

bool netsim_start(netsim *ns)
{
    ns->ep = ho_quic_endpoint_new(&ns->ecfg);
    return ns->ep != NULL;
}

int netsim_add_client(netsim *ns)
{
    if (ns->ncl == NETSIM_MAX_CLIENTS)
        return -1;
    int i = ns->ncl++;
    netsim_addr(&ns->cpath[i].local, &ns->cpath[i].local_len, (uint16_t)(NETSIM_CLIENT_PORT + i));
    netsim_addr(&ns->cpath[i].remote, &ns->cpath[i].remote_len, NETSIM_SERVER_PORT);
    ns->spath[i].local = ns->cpath[i].remote;
    ns->spath[i].local_len = ns->cpath[i].remote_len;
    ns->spath[i].remote = ns->cpath[i].local;
    ns->spath[i].remote_len = ns->cpath[i].local_len;
    ns->cl[i] = ho_quic_conn_new_client(&ns->ccfg, &ns->cpath[i], ns->now);
    if (ns->cl[i] == NULL)
        return -1;
    return i;
}

void netsim_free(netsim *ns)
{
    if (ns->ncl > 0 && ns->cl[0] != NULL)
        netsim_last_version = ho_quic_conn_version(ns->cl[0]);
    for (int i = 0; i < ns->ncl; i++)
        ho_quic_conn_free(ns->cl[i]);
    ho_quic_endpoint_free(ns->ep);
    netsim_queue_free(&ns->q);
}

typedef struct find_ctx {
    netsim *ns;
    int i;
    ho_quic_conn *found;
} find_ctx;

static void find_fn(void *ctx, ho_quic_conn *c)
{
    find_ctx *f = ctx;
    if (dest_index(f->ns, &c->path.remote) == f->i)
        f->found = c;
}

ho_quic_conn *netsim_server_conn(netsim *ns, int i)
{
    find_ctx f = {.ns = ns, .i = i};
    ho_quic_endpoint_foreach(ns->ep, find_fn, &f);
    return f.found;
}

void netsim_inject(netsim *ns, int i, const uint8_t *d, size_t len)
{
    ho_quic_endpoint_receive(ns->ep, d, len, &ns->spath[i], ns->now);
}

/* ---- applications --------------------------------------------------------- */

static uint8_t iobuf[65536];

netsim_xfer *netsim_xfer_add(netsim *ns, int client, uint64_t up, uint64_t down, uint8_t seed)
{
    for (int k = 0; k < NETSIM_MAX_XFERS; k++) {
        netsim_xfer *x = &ns->x[k];
        if (x->used)
            continue;
        memset(x, 0, sizeof(*x));
        if (ns->cl[client] == NULL || ho_quic_stream_open(ns->cl[client], true, &x->id) != HO_OK)
            return NULL;
        x->used = true;
        x->client = client;
        x->up = up;
        x->down = down;
        x->seed = seed;
        x->started = ns->now;
        return x;
    }
    return NULL;
}

static netsim_xfer *xfer_find(netsim *ns, int client, uint64_t id)
{
    for (int k = 0; k < NETSIM_MAX_XFERS; k++)
        if (ns->x[k].used && ns->x[k].client == client && ns->x[k].id == id)
            return &ns->x[k];
    return NULL;
}

static void client_app(netsim *ns, netsim_xfer *x)
{
    ho_quic_conn *c = ns->cl[x->client];
    if (c == NULL || ho_quic_conn_is_closing(c))
        return;
    uint64_t total = 9 + x->up;
    while (x->written < total) {
        size_t n = 0;
        for (; n < sizeof(iobuf) && x->written + n < total; n++) {
            uint64_t off = x->written + n;
            if (off < 8)
                iobuf[n] = (uint8_t)(x->down >> (56 - 8 * off));
            else if (off == 8)
                iobuf[n] = x->seed;
            else
                iobuf[n] = netsim_pattern(x->seed, off - 9);
        }
        size_t w = 0;
        ho_quic_stream_write(c, x->id, iobuf, n, x->written + n == total, &w);
        x->written += w;
        if (w < n)
            break;
    }
    while (!x->fin_received) {
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(c, x->id, iobuf, sizeof(iobuf), &n, &fin) != HO_OK)
            break;
        for (size_t k = 0; k < n; k++)
            if (iobuf[k] != netsim_pattern((uint8_t)(x->seed ^ 0xa5), x->received + k))
                x->bad = true;
        x->received += n;
        if (fin) {
            x->fin_received = true;
            x->finished = ns->now;
            netsim_trace(ns, "client %d stream %llu: download complete, %llu bytes", x->client,
                         (unsigned long long)x->id, (unsigned long long)x->received);
        }
        if (n == 0)
            break;
    }
}

static void server_app(netsim *ns, netsim_srv_stream *s)
{
    ho_quic_conn *c = s->c;
    int client = dest_index(ns, &c->path.remote);
    if (ho_quic_conn_is_closing(c))
        return;
    while (!s->up_fin) {
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(c, s->id, iobuf, sizeof(iobuf), &n, &fin) != HO_OK)
            break;
        size_t h = 0;
        while (h < n && s->hdr_len < sizeof(s->hdr))
            s->hdr[s->hdr_len++] = iobuf[h++];
        for (size_t k = h; k < n; k++)
            if (iobuf[k] != netsim_pattern(s->hdr[8], s->up_received + (k - h)))
                s->bad = true;
        s->up_received += n - h;
        if (fin) {
            s->up_fin = true;
            netsim_xfer *x = client >= 0 ? xfer_find(ns, client, s->id) : NULL;
            if (x != NULL) {
                x->srv_received = s->up_received;
                x->srv_fin = true;
                x->srv_bad = s->bad || s->hdr_len < sizeof(s->hdr);
            }
            netsim_trace(ns, "server: client %d stream %llu upload complete, %llu bytes", client,
                         (unsigned long long)s->id, (unsigned long long)s->up_received);
        }
        if (n == 0)
            break;
    }
    if (s->hdr_len < sizeof(s->hdr))
        return;
    if (s->down == 0 && s->down_written == 0 && !s->down_fin) {
        for (int b = 0; b < 8; b++)
            s->down = s->down << 8 | s->hdr[b];
        s->seed = s->hdr[8];
    }
    while (!s->down_fin) {
        size_t n = 0;
        for (; n < sizeof(iobuf) && s->down_written + n < s->down; n++)
            iobuf[n] = netsim_pattern((uint8_t)(s->seed ^ 0xa5), s->down_written + n);
        size_t w = 0;
        bool fin = s->down_written + n == s->down;
        if (ho_quic_stream_write(c, s->id, iobuf, n, fin, &w) != HO_OK && w == 0 && n > 0)
            break;
        s->down_written += w;
        if (w == n && fin)
            s->down_fin = true;
        if (w < n || n == 0)
            break;
    }
    if (s->up_fin && s->down_fin)
        s->used = false;
}

static void run_apps(netsim *ns)
{
    for (int k = 0; k < NETSIM_MAX_XFERS; k++)
        if (ns->x[k].used)
            client_app(ns, &ns->x[k]);
    for (int k = 0; k < NETSIM_MAX_SRV_STREAMS; k++)
        if (ns->ss[k].used)
            server_app(ns, &ns->ss[k]);
    if (ns->app != NULL)
        ns->app(ns);
}

bool netsim_xfers_done(netsim *ns)
{
    for (int k = 0; k < NETSIM_MAX_XFERS; k++)
        if (ns->x[k].used && !(ns->x[k].fin_received && ns->x[k].srv_fin))
            return false;
    return true;
}

int netsim_xfers_check(netsim *ns)
{
    int bad = 0;
    for (int k = 0; k < NETSIM_MAX_XFERS; k++) {
        const netsim_xfer *x = &ns->x[k];
        if (!x->used)
            continue;
        if (x->fin_received && x->srv_fin && !x->bad && !x->srv_bad && x->received == x->down &&
            x->srv_received == x->up)
            continue;
        bad++;
        fprintf(stderr,
                "netsim[%s] seed %llu: client %d stream %llu: down %llu/%llu%s%s, up %llu/%llu%s%s\n",
                ns->name ? ns->name : "?", (unsigned long long)ns->seed, x->client, (unsigned long long)x->id,
                (unsigned long long)x->received, (unsigned long long)x->down, x->fin_received ? " fin" : "",
                x->bad ? " MISMATCH" : "", (unsigned long long)x->srv_received, (unsigned long long)x->up,
                x->srv_fin ? " fin" : "", x->srv_bad ? " MISMATCH" : "");
    }
    return bad;
}

bool netsim_hs_done(netsim *ns)
{
    for (int i = 0; i < ns->ncl; i++) {
        ho_quic_conn *s = netsim_server_conn(ns, i);
        if (ns->cl[i] == NULL || s == NULL || !ho_quic_conn_handshake_confirmed(ns->cl[i]) ||
            !ho_quic_conn_handshake_confirmed(s))
            return false;
    }
    return true;
}

bool netsim_all_closed(netsim *ns)
{
    for (int i = 0; i < ns->ncl; i++)
        if ((ns->cl[i] != NULL && !ho_quic_conn_is_closed(ns->cl[i])) || netsim_server_conn(ns, i) != NULL)
            return false;
    return true;
}

/* ---- stepping ------------------------------------------------------------- */

static uint8_t sendbuf[64 * 1500];

void netsim_flush(netsim *ns)
{
    run_apps(ns);
    netsim_send(ns);
}

void netsim_send(netsim *ns)
{
    for (int i = 0; i < ns->ncl; i++) {
        ho_quic_conn *c = ns->cl[i];
        size_t n, seg;
        while (c != NULL && (n = ho_quic_conn_send(c, sendbuf, sizeof(sendbuf), &seg, ns->now)) > 0) {
            /* from the port the connection sends on, or through the NAT */
            uint16_t port = ns->nat_port[i] ? ns->nat_port[i] : port_of(&ho_quic_conn_send_path(c)->local);
            netsim_client_port(ns, i, port);
            for (size_t off = 0; off < n; off += seg)
                link_send(ns, i, NETSIM_C2S, port, sendbuf + off, n - off < seg ? n - off : seg,
                          ho_quic_conn_ecn_codepoint(c));
        }
    }
    ho_quic_endpoint_out out = {.buf = sendbuf, .cap = sizeof(sendbuf)};
    while (ho_quic_endpoint_send(ns->ep, &out, ns->now) > 0) {
        if (ns->ep_out_hook != NULL && ns->ep_out_hook(ns, &out))
            continue;
        int i = dest_index(ns, &out.path.remote);
        if (i < 0 || i >= ns->ncl)
            continue;
        for (size_t off = 0; off < out.len; off += out.segment_size) {
            ns->ep_out[i]++;
            if (out.conn == NULL)
                ns->ep_out_stateless[i]++;
            link_send(ns, i, NETSIM_S2C, port_of(&out.path.remote), out.buf + off,
                      out.len - off < out.segment_size ? out.len - off : out.segment_size, out.ecn);
        }
    }
}

static void deliver(netsim *ns, const netsim_pkt *p)
{
    netsim_link *l = &ns->link[p->client][p->dir];
    if (ns->deliver_hook != NULL && ns->deliver_hook(ns, p)) {
        l->hook_dropped++;
        return;
    }
    l->delivered++;
    l->bytes_delivered += p->len;
    ho_quic_path path = p->dir == NETSIM_C2S ? ns->spath[p->client] : ns->cpath[p->client];
    /* the client-side address: where it came from, where it goes */
    struct sockaddr_in *client_addr = (struct sockaddr_in *)(p->dir == NETSIM_C2S ? &path.remote : &path.local);
    client_addr->sin_port = htons(p->port);
    path.ecn = p->ecn;
    if (p->dir == NETSIM_C2S)
        ho_quic_endpoint_receive(ns->ep, p->data, p->len, &path, ns->now);
    else if (ns->cl[p->client] != NULL)
        ho_quic_conn_receive(ns->cl[p->client], p->data, p->len, &path, ns->now);
}

bool netsim_run(netsim *ns, netsim_done_fn done, ho_quic_time budget)
{
    ho_quic_time end = ns->now + budget;
    ho_quic_time last = ns->now;
    unsigned same = 0;
    for (;;) {
        ns->steps++;
        netsim_flush(ns);
        if (done != NULL && done(ns))
            return true;
        ho_quic_time next = netsim_queue_next(&ns->q);
        for (int i = 0; i < ns->ncl; i++)
            if (ns->cl[i] != NULL && ho_quic_conn_next_timeout(ns->cl[i]) < next)
                next = ho_quic_conn_next_timeout(ns->cl[i]);
        ho_quic_time et = ho_quic_endpoint_next_timeout(ns->ep);
        if (et < next)
            next = et;
        if (ns->app_wake < next)
            next = ns->app_wake;
        if (next == HO_QUIC_TIME_NEVER)
            return done == NULL;
        if (next > end) {
            ns->now = end;
            return done == NULL;
        }
        if (next > ns->now)
            ns->now = next;
        /* A timer that never moves forward would spin here forever. */
        if (ns->now == last) {
            if (++same > 100000) {
                netsim_dump(ns, "no progress: a timer does not advance");
                return false;
            }
        } else {
            same = 0;
            last = ns->now;
        }
        netsim_pkt p;
        while (netsim_queue_pop_due(&ns->q, ns->now, &p)) {
            deliver(ns, &p);
            free(p.data);
        }
        for (int i = 0; i < ns->ncl; i++)
            if (ns->cl[i] != NULL && ho_quic_conn_next_timeout(ns->cl[i]) <= ns->now)
                ho_quic_conn_handle_timeout(ns->cl[i], ns->now);
        if (ho_quic_endpoint_next_timeout(ns->ep) <= ns->now)
            ho_quic_endpoint_handle_timeout(ns->ep, ns->now);
    }
}

/* ---- a misbehaving peer's packets ------------------------------------------ */

int netsim_seal(ho_quic_conn *c, int space, const uint8_t *frames, size_t len, ho_buf *out)
{
    if (space < 0 || space >= HO_QUIC_PN_SPACE_COUNT)
        return HO_ERR_INVALID_ARG;
    ho_quic_space *sp = &c->spaces[space];
    if (!sp->has_tx)
        return HO_ERR_INVALID_ARG;
    ho_quic_header h = {0};
    h.type = ho_quic_space_pkt((ho_quic_pn_space)space);
    h.version = HO_QUIC_VERSION_1;
    h.dcid = c->dcid;
    h.scid = c->scid;
    h.pn = sp->next_pn++;
    h.pn_len = 4;
    h.key_phase = c->kp.tx_phase;
    size_t start;
    int rc = ho_quic_header_write(out, &h, &start);
    if (rc != HO_OK)
        return rc;
    ho_put_bytes(out, frames, len);
    return ho_quic_packet_seal(out, start, &h, &sp->tx, space == HO_QUIC_PN_SPACE_INITIAL ? 1200 : 0);
}

ho_quic_time netsim_qdelay_mean(const netsim_link *l)
{
    return l->qdelay_n ? l->qdelay_sum / (ho_quic_time)l->qdelay_n : 0;
}

ho_quic_time netsim_qdelay_quantile(const netsim_link *l, double q)
{
    if (l->qdelay_n == 0)
        return 0;
    double want = q * (double)l->qdelay_n;
    uint64_t seen = 0;
    for (size_t i = 0; i < NETSIM_QDELAY_BINS; i++) {
        seen += l->qdelay_hist[i];
        if ((double)seen >= want)
            return (ho_quic_time)(i + 1) * (NETSIM_QDELAY_BIN);
    }
    return (ho_quic_time)NETSIM_QDELAY_BINS * (NETSIM_QDELAY_BIN);
}

bool netsim_cc_bottleneck(const char *cc, unsigned loss_pct, uint64_t bytes, uint64_t seed, netsim_cc_result *out)
{
    memset(out, 0, sizeof(*out));
    netsim *ns = calloc(1, sizeof(*ns));
    if (ns == NULL)
        return false;
    netsim_init(ns, seed, cc);
    ns->ecfg.conn.cc_name = cc;
    netsim_link down = {.loss_pct = loss_pct, .delay = HO_QUIC_MS(40), .rate_bps = 10000000, .queue_bytes = 30000};
    netsim_link up = {.loss_pct = loss_pct, .delay = HO_QUIC_MS(40)};
    netsim_set_links(ns, -1, &up);
    ns->link[0][NETSIM_S2C] = down;
    bool ok = netsim_start(ns) && netsim_add_client(ns) == 0 && netsim_run(ns, netsim_hs_done, HO_QUIC_SEC(10));
    ho_quic_time t0 = ns->now;
    if (ok) {
        /* Only the transfer's queueing counts, not the handshake's. */
        netsim_link *l = &ns->link[0][NETSIM_S2C];
        l->qdelay_n = 0;
        l->qdelay_sum = 0;
        memset(l->qdelay_hist, 0, sizeof(l->qdelay_hist));
        ok = netsim_xfer_add(ns, 0, 100, bytes, 5) != NULL && netsim_run(ns, netsim_xfers_done, HO_QUIC_SEC(300)) &&
             netsim_xfers_check(ns) == 0;
    }
    const netsim_link *l = &ns->link[0][NETSIM_S2C];
    out->ok = ok;
    out->seconds = (double)(ns->now - t0) / 1e9;
    out->goodput_mbps = out->seconds > 0 ? (double)bytes * 8 / out->seconds / 1e6 : 0;
    out->qdelay_mean_ms = (double)netsim_qdelay_mean(l) / 1e6;
    out->qdelay_p95_ms = (double)netsim_qdelay_quantile(l, 0.95) / 1e6;
    out->queue_drops = l->queue_drops;
    out->random_losses = l->lost;
    ho_quic_conn *s = netsim_server_conn(ns, 0);
    if (s != NULL)
        out->congestion_events = s->cc.congestion_events;
    if (!ok)
        netsim_dump(ns, "netsim_cc_bottleneck: the transfer did not complete");
    netsim_free(ns);
    free(ns);
    return ok;
}
