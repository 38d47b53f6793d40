/*
 * quic_load — a QUIC / HTTP/3 load generator on handoff's public client API.
 *
 *   quic_load [options] ADDR:PORT
 *
 * Storm: C concurrent connections (-c), each a fresh QUIC handshake (no
 * resumption) and one small HTTP/3 GET (-p, default /baseline2?a=1&b=1),
 * then CONNECTION_CLOSE (H3_NO_ERROR); a slot that finishes starts the next
 * connection, for a count (-n) or a duration (-d), optionally at a fixed
 * rate of new connections (-r, open loop). Connections started during the
 * warm-up (-w seconds) are run but not counted.
 *
 * Probes (a separate thread, so that the storm's own loop does not delay
 * them): --keep N established connections issue a GET every --interval MS
 * (on schedule, also when the previous one is still out: no coordinated
 * omission), and --download PATH fetches PATH again and again on one
 * established connection, counting the body bytes. The storm starts once
 * every probe is established; probe figures are reported for the storm's
 * measured window only.
 *
 * Every thread is one non-blocking epoll loop multiplexing its connections;
 * each connection has its own connected UDP socket (ho_udp: GSO, GRO), so
 * the kernel demultiplexes by 4-tuple. -t T runs T storm threads.
 *
 * Report: human-readable lines, then one line "quic_load {json}" with every
 * figure (see print_report). Exit status 0 when the run completed (errors are
 * reported, not fatal), 1 when it could not run, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "handoff/crypto.h"
#include "handoff/http.h"
#include "handoff/io.h"
#include "handoff/quic.h"

#define TXBUF 65536
#define RX_BATCH 16
#define MAX_EVENTS 256
#define MAX_KINDS 32 /* distinct error kinds / statuses reported */

/* ---- options and shared state ------------------------------------------ */

typedef struct opts {
    const char *host, *port, *sni, *alpn, *path, *cafile, *download;
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char authority[300];
    long conns, count, threads, keep, interval_ms, timeout_ms, streams;
    double duration, rate, warmup;
    bool insecure, quiet;
} opts;

static opts O = {.alpn = "h3", .path = "/baseline2?a=1&b=1", .conns = 8, .threads = 1, .interval_ms = 10,
                 .timeout_ms = 10000};
static ho_tls_config *TLS;

/* Times shared between threads (ns, ho_now_ns clock). */
static _Atomic int64_t g_start;           /* storm threads start (0: not yet) */
static _Atomic int64_t g_measure_t0;      /* end of warm-up */
static _Atomic int64_t g_storm_end = INT64_MAX; /* all storm threads finished */
static atomic_bool g_storm_done, g_probes_ready, g_probes_failed;

/* ---- samples and error kinds -------------------------------------------- */

typedef struct samples {
    int64_t *v;
    size_t n, cap;
} samples;

static void sample_add(samples *s, int64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        int64_t *g = realloc(s->v, cap * sizeof(*g));
        if (g == NULL)
            return; /* out of memory: the sample is lost, the run goes on */
        s->v = g;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static void samples_merge(samples *into, const samples *from)
{
    for (size_t i = 0; i < from->n; i++)
        sample_add(into, from->v[i]);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void samples_sort(samples *s)
{
    if (s->n > 1) /* qsort's base must not be NULL, even for 0 elements */
        qsort(s->v, s->n, sizeof(*s->v), cmp_i64);
}

/* Nearest-rank percentile of sorted samples, in ms (NAN when empty). */
static double pct_ms(const samples *s, double p)
{
    if (s->n == 0)
        return NAN;
    size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    return (double)s->v[rank - 1] / 1e6;
}

typedef struct kinds {
    char name[MAX_KINDS][48];
    uint64_t n[MAX_KINDS];
    size_t len;
} kinds;

static void kind_add(kinds *k, const char *name, uint64_t n)
{
    size_t i;
    for (i = 0; i < k->len; i++)
        if (strcmp(k->name[i], name) == 0)
            break;
    if (i == k->len) {
        if (k->len == MAX_KINDS) { /* the last entry collects the rest */
            i = MAX_KINDS - 1;
            snprintf(k->name[i], sizeof(k->name[i]), "other");
        } else {
            snprintf(k->name[k->len++], sizeof(k->name[0]), "%s", name);
        }
    }
    k->n[i] += n;
}

typedef struct stats {
    uint64_t started, ok, handshakes, requests_ok;
    uint64_t err_timeout_hs, err_timeout_req, err_handshake, err_closed, err_refused, err_status, err_reset,
        err_local;
    kinds hs_codes, close_codes, statuses;
    samples hs, req, conn;
    int64_t last_done;
    /* probes */
    uint64_t keep_sent, keep_ok, keep_err, keep_late;
    samples keep_lat;
    uint64_t dl_bytes_total, dl_bytes_window, dl_chunks_window, dl_responses, dl_errors;
    int64_t dl_max_gap, dl_first_byte;
    uint64_t warmup_conns;
    /* --streams: GETs refused for want of stream credit (MAX_STREAMS) */
    uint64_t stream_blocked;
    uint64_t req_all; /* --streams: completed GETs, the warm-up's too (client CPU per request) */
} stats;

/* ---- connections --------------------------------------------------------- */

enum slot_kind { K_STORM, K_KEEP, K_DL };

typedef struct worker worker;

typedef struct slot {
    worker *w;
    enum slot_kind kind;
    bool active, dirty, counted, refused;
    ho_udp_socket sock;
    ho_quic_path path;
    ho_quic_conn *c;
    ho_h3_conn *h3;
    ho_h3_response *r; /* storm / download: the request in flight */
    int64_t t_start, t_hs, t_req, deadline, next_to;
    /* keep: the requests out (submit times), the next scheduled one */
    ho_h3_response *out[64];
    int64_t out_t[64];
    size_t nout;
    int64_t next_req;
    /* --streams: the requests in flight and their submission times */
    ho_h3_response **sr;
    int64_t *sr_t;
    size_t nsr;
} slot;

struct worker {
    int id;
    bool probe;
    int ep;
    slot *slots;
    size_t nslots;
    long to_start; /* count mode: storm connections still to start after warm-up; -1: duration */
    int64_t next_start, start_interval, end;
    ho_udp_rx *rx;
    uint8_t *tx;
    stats st;
    int64_t dl_last; /* download: time of the last byte, or of the window start */
    pthread_t th;
};

static void on_hs_done(void *ctx, ho_quic_conn *c)
{
    (void)c;
    slot *s = ctx;
    s->t_hs = ho_now_ns();
    s->dirty = true;
}
static void on_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    slot *s = ctx;
    ho_h3_on_stream_readable(s->h3, id);
    s->dirty = true;
}
static void on_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    ho_h3_on_stream_writable(((slot *)ctx)->h3, id);
}
static void on_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    (void)c;
    ho_h3_on_stream_reset(((slot *)ctx)->h3, id, code, stop);
    ((slot *)ctx)->dirty = true;
}

static int64_t window_t0(void) { return atomic_load(&g_measure_t0); }
static int64_t window_end(void) { return atomic_load(&g_storm_end); }
static bool in_window(int64_t t)
{
    int64_t t0 = window_t0();
    return t0 != 0 && t >= t0 && t < window_end();
}

/* Body sinks: keep requests discard, the download counts. */
static int body_discard(void *ctx, const ho_h3_response *r, const uint8_t *d, size_t n)
{
    (void)ctx, (void)r, (void)d, (void)n;
    return 0;
}
static int body_count(void *ctx, const ho_h3_response *r, const uint8_t *d, size_t n)
{
    (void)d;
    worker *w = ctx;
    if (r->status != 200)
        return 0; /* an error page: not the download (probe_service ends it) */
    int64_t now = ho_now_ns();
    w->st.dl_bytes_total += n;
    if (w->st.dl_first_byte == 0)
        w->st.dl_first_byte = now;
    if (in_window(now)) {
        int64_t from = w->dl_last > window_t0() ? w->dl_last : window_t0();
        if (now - from > w->st.dl_max_gap)
            w->st.dl_max_gap = now - from;
        w->st.dl_bytes_window += n;
        w->st.dl_chunks_window++;
    }
    w->dl_last = now;
    return 0;
}

/* "peer_transport_0x128" (CRYPTO_ERROR for alert 40), "local_app_0x10c",
 * "idle_timeout", "alert_sent_42", or the library's error name. */
static void describe_close(ho_quic_conn *c, char *out, size_t cap)
{
    int e = ho_quic_conn_error(c);
    bool is_app = false, by_peer = false;
    uint64_t code = ho_quic_conn_close_code(c, &is_app, &by_peer);
    if (ho_err_is_alert(e))
        snprintf(out, cap, "alert_sent_%u", ho_err_alert(e));
    else if (ho_err_is_peer_alert(e))
        snprintf(out, cap, "alert_recv_%u", ho_err_alert(e));
    else if (e == HO_OK)
        snprintf(out, cap, "idle_timeout");
    else if (e == HO_ERR_QUIC_STATELESS_RESET)
        snprintf(out, cap, "stateless_reset");
    else if (code != 0 || e == HO_ERR_CLOSED || e >= 0x20000)
        snprintf(out, cap, "%s_%s_0x%llx", by_peer ? "peer" : "local", is_app ? "app" : "transport",
                 (unsigned long long)code);
    else
        snprintf(out, cap, "%s", ho_err_str(e));
}

static int slot_open(slot *s, int64_t now)
{
    worker *w = s->w;
    struct sockaddr_storage any = {.ss_family = O.addr.ss_family};
    ho_udp_options uo = {.no_pktinfo = true};
    if (ho_udp_open(&s->sock, (struct sockaddr *)&any, O.addr_len, &uo) != HO_OK)
        return HO_ERR_IO;
    if (connect(s->sock.fd, (struct sockaddr *)&O.addr, O.addr_len) != 0) {
        ho_udp_close(&s->sock);
        return HO_ERR_IO;
    }
    memset(&s->path, 0, sizeof(s->path));
    memcpy(&s->path.remote, &O.addr, O.addr_len);
    s->path.remote_len = O.addr_len;
    s->path.local_len = sizeof(s->path.local);
    if (getsockname(s->sock.fd, (struct sockaddr *)&s->path.local, &s->path.local_len) != 0)
        s->path.local_len = 0;
    ho_quic_config cfg = {
        .tls = TLS,
        .server_name = O.sni != NULL ? O.sni : O.host,
        .max_idle_timeout_ms = (uint64_t)(s->kind == K_STORM ? O.timeout_ms : 60000),
        .wall_clock_ms = (int64_t)time(NULL) * 1000,
        .callbacks = {.ctx = s, .handshake_done = on_hs_done, .stream_readable = on_readable,
                      .stream_writable = on_writable, .stream_reset = on_reset},
    };
    s->c = ho_quic_conn_new_client(&cfg, &s->path, now);
    s->h3 = s->c != NULL ? ho_h3_client_attach(s->c) : NULL;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = s};
    if (s->h3 == NULL || epoll_ctl(w->ep, EPOLL_CTL_ADD, s->sock.fd, &ev) != 0) {
        ho_h3_free(s->h3);
        ho_quic_conn_free(s->c);
        ho_udp_close(&s->sock);
        s->c = NULL;
        s->h3 = NULL;
        return HO_ERR_NOMEM;
    }
    s->active = true;
    s->dirty = true;
    s->refused = false;
    s->r = NULL;
    s->nout = 0;
    s->t_start = now;
    s->next_to = 0;
    s->t_hs = 0;
    s->t_req = 0;
    s->next_req = 0;
    s->nsr = 0;
    s->deadline = s->kind == K_STORM ? now + O.timeout_ms * 1000000LL : INT64_MAX;
    /* --streams: every connection counts (its requests count in the window). */
    s->counted = s->kind == K_STORM && ((window_t0() != 0 && now >= window_t0()) || O.streams > 0);
    if (s->counted)
        w->st.started++;
    else if (s->kind == K_STORM)
        w->st.warmup_conns++;
    return HO_OK;
}

static void slot_send(slot *s, int64_t now)
{
    ho_h3_flush(s->h3, now);
    size_t len, seg;
    while ((len = ho_quic_conn_send(s->c, s->w->tx, TXBUF, &seg, now)) > 0)
        (void)ho_udp_send(&s->sock, s->w->tx, len, seg, (const struct sockaddr *)&s->path.remote,
                          s->path.remote_len, NULL, 0, ho_quic_conn_ecn_codepoint(s->c));
}

/* Ends the connection: a polite CONNECTION_CLOSE when it is still open. */
static void slot_close(slot *s, int64_t now)
{
    if (!ho_quic_conn_is_closing(s->c) && !ho_quic_conn_is_closed(s->c)) {
        ho_quic_conn_close(s->c, HO_H3_NO_ERROR, "", now);
        slot_send(s, now);
    }
    epoll_ctl(s->w->ep, EPOLL_CTL_DEL, s->sock.fd, NULL);
    ho_h3_free(s->h3);
    ho_quic_conn_free(s->c);
    ho_udp_close(&s->sock);
    s->h3 = NULL;
    s->c = NULL;
    s->r = NULL;
    s->active = false;
}

/* A storm connection ended (ok or not): record it, free the slot. */
static void storm_finish(slot *s, int64_t now, const char *err_kind, const char *code)
{
    stats *st = &s->w->st;
    if (s->counted) {
        if (err_kind == NULL) {
            st->ok++;
            st->requests_ok++;
            sample_add(&st->req, now - s->t_req);
            sample_add(&st->conn, now - s->t_start);
        } else if (strcmp(err_kind, "timeout_hs") == 0) {
            st->err_timeout_hs++;
        } else if (strcmp(err_kind, "timeout_req") == 0) {
            st->err_timeout_req++;
        } else if (strcmp(err_kind, "handshake") == 0) {
            st->err_handshake++;
            kind_add(&st->hs_codes, code, 1);
        } else if (strcmp(err_kind, "closed") == 0) {
            st->err_closed++;
            kind_add(&st->close_codes, code, 1);
        } else if (strcmp(err_kind, "refused") == 0) {
            st->err_refused++;
        } else if (strcmp(err_kind, "status") == 0) {
            st->err_status++;
        } else if (strcmp(err_kind, "reset") == 0) {
            st->err_reset++;
            kind_add(&st->close_codes, code, 1);
        } else {
            st->err_local++;
        }
        if (now > st->last_done)
            st->last_done = now;
    }
    slot_close(s, now);
}

/* Moves a storm connection on: handshake done → GET; response → done. */
static void storm_service(slot *s, int64_t now)
{
    char code[48];
    stats *st = &s->w->st;
    if (s->refused) {
        storm_finish(s, now, "refused", NULL);
        return;
    }
    if (s->r == NULL && s->t_hs != 0) {
        if (s->counted) {
            st->handshakes++;
            sample_add(&st->hs, s->t_hs - s->t_start);
        }
        int e = ho_h3_client_get(s->h3, O.authority, O.path, NULL, &s->r);
        if (e != HO_OK) {
            s->r = NULL;
            if (e != HO_ERR_WOULD_BLOCK) {
                storm_finish(s, now, "local", NULL);
                return;
            }
            s->t_hs = 0; /* retry when MAX_STREAMS arrives (not expected for stream 0) */
        } else {
            s->t_req = now;
        }
    }
    if (s->r != NULL && (s->r->complete || s->r->reset)) {
        if (s->r->reset) {
            snprintf(code, sizeof(code), "stream_reset_0x%llx", (unsigned long long)s->r->reset_code);
            storm_finish(s, now, "reset", code);
        } else if (s->r->status != 200) {
            snprintf(code, sizeof(code), "%d", s->r->status);
            if (s->counted)
                kind_add(&st->statuses, code, 1);
            storm_finish(s, now, "status", NULL);
        } else {
            if (s->counted)
                kind_add(&st->statuses, "200", 1);
            storm_finish(s, now, NULL, NULL);
        }
        return;
    }
    if (ho_quic_conn_is_closing(s->c) || ho_quic_conn_is_closed(s->c)) {
        describe_close(s->c, code, sizeof(code));
        storm_finish(s, now, ho_quic_conn_handshake_done(s->c) ? "closed" : "handshake", code);
        return;
    }
    if (now >= s->deadline) {
        storm_finish(s, now, ho_quic_conn_handshake_done(s->c) ? "timeout_req" : "timeout_hs", NULL);
        return;
    }
    slot_send(s, now);
}

/* --streams: a storm connection kept for the whole run with O.streams GETs
 * in flight; a GET that completes is replaced at once by a new one on a new
 * stream. Requests that complete within [t0, end) count, their latency
 * measured from submission. At the end the connection closes (ok); one that
 * fails is counted and its slot opens a new connection. */
static void streams_service(slot *s, int64_t now)
{
    char code[48];
    worker *w = s->w;
    stats *st = &w->st;
    int64_t t0 = window_t0();
    bool counting = t0 != 0 && now >= t0 && (w->end == 0 || now < w->end);
    if (s->refused) {
        storm_finish(s, now, "refused", NULL);
        return;
    }
    if (s->t_hs != 0 && s->t_req == 0) { /* the handshake completed */
        st->handshakes++;
        sample_add(&st->hs, s->t_hs - s->t_start);
        s->t_req = now;
        s->deadline = INT64_MAX; /* from now on, per request */
    }
    for (size_t i = 0; i < s->nsr;) {
        ho_h3_response *r = s->sr[i];
        bool late = now - s->sr_t[i] >= O.timeout_ms * 1000000LL;
        if (!(r->complete || r->reset) && !late) {
            i++;
            continue;
        }
        if (counting) {
            if (!(r->complete || r->reset)) {
                st->err_timeout_req++;
            } else if (r->reset) {
                st->err_reset++;
                snprintf(code, sizeof(code), "stream_reset_0x%llx", (unsigned long long)r->reset_code);
                kind_add(&st->close_codes, code, 1);
            } else if (r->status != 200) {
                st->err_status++;
                snprintf(code, sizeof(code), "%d", r->status);
                kind_add(&st->statuses, code, 1);
            } else {
                st->requests_ok++;
                sample_add(&st->req, now - s->sr_t[i]);
            }
            st->last_done = now;
        }
        if (r->complete)
            st->req_all++;
        (void)ho_h3_client_release(s->h3, r); /* a late one is cancelled */
        s->sr[i] = s->sr[--s->nsr];
        s->sr_t[i] = s->sr_t[s->nsr];
    }
    if (ho_quic_conn_is_closing(s->c) || ho_quic_conn_is_closed(s->c)) {
        describe_close(s->c, code, sizeof(code));
        storm_finish(s, now, ho_quic_conn_handshake_done(s->c) ? "closed" : "handshake", code);
        return;
    }
    if (w->end != 0 && now >= w->end) { /* the run is over: what is still out is not counted */
        st->ok++;
        slot_close(s, now);
        return;
    }
    if (now >= s->deadline) {
        storm_finish(s, now, "timeout_hs", NULL);
        return;
    }
    while (s->t_hs != 0 && s->nsr < (size_t)O.streams) {
        ho_h3_response *r = NULL;
        int e = ho_h3_client_get(s->h3, O.authority, O.path, NULL, &r);
        if (e == HO_ERR_WOULD_BLOCK) { /* no stream credit: the next MAX_STREAMS */
            if (counting)
                st->stream_blocked++;
            break;
        }
        if (e != HO_OK) {
            storm_finish(s, now, "local", NULL);
            return;
        }
        r->on_body = body_discard;
        s->sr[s->nsr] = r;
        s->sr_t[s->nsr++] = now;
    }
    slot_send(s, now);
}

static void probe_service(slot *s, int64_t now);

static void service(slot *s, int64_t now)
{
    if (s->kind != K_STORM)
        probe_service(s, now);
    else if (O.streams > 0)
        streams_service(s, now);
    else
        storm_service(s, now);
}

/* A probe connection: keep (periodic GETs) or download (GET again and again). */
static void probe_service(slot *s, int64_t now)
{
    worker *w = s->w;
    if (!s->active)
        return;
    if (s->refused || ho_quic_conn_is_closing(s->c) || ho_quic_conn_is_closed(s->c)) {
        char code[48];
        describe_close(s->c, code, sizeof(code));
        fprintf(stderr, "quic_load: a %s connection ended: %s\n", s->kind == K_KEEP ? "keep" : "download",
                s->refused ? "refused" : code);
        if (s->kind == K_KEEP)
            w->st.keep_err++;
        else
            w->st.dl_errors++;
        slot_close(s, now);
        if (!atomic_load(&g_probes_ready))
            atomic_store(&g_probes_failed, true);
        return;
    }
    if (s->t_hs != 0 && s->kind == K_KEEP) {
        /* Completed requests: latency from submission. */
        for (size_t i = 0; i < s->nout;) {
            ho_h3_response *r = s->out[i];
            if (!(r->complete || r->reset)) {
                i++;
                continue;
            }
            if (in_window(s->out_t[i])) {
                if (r->complete && r->status == 200) {
                    w->st.keep_ok++;
                    sample_add(&w->st.keep_lat, now - s->out_t[i]);
                } else {
                    w->st.keep_err++;
                }
            }
            s->out[i] = s->out[s->nout - 1];
            s->out_t[i] = s->out_t[s->nout - 1];
            s->nout--;
        }
        if (s->next_req == 0)
            s->next_req = now;
        while (now >= s->next_req) {
            ho_h3_response *r = NULL;
            if (s->nout == 64 || ho_h3_client_get(s->h3, O.authority, O.path, NULL, &r) != HO_OK) {
                if (in_window(s->next_req))
                    w->st.keep_late++; /* could not submit on schedule: 64 out, or no stream credit */
                s->next_req += O.interval_ms * 1000000LL;
                break;
            }
            r->on_body = body_discard;
            if (in_window(s->next_req))
                w->st.keep_sent++;
            s->out[s->nout] = r;
            s->out_t[s->nout++] = s->next_req; /* scheduled time: a late submit counts as latency */
            s->next_req += O.interval_ms * 1000000LL;
        }
    } else if (s->t_hs != 0 && s->kind == K_DL) {
        if (s->r != NULL && (s->r->complete || s->r->reset)) {
            if (!s->r->complete || s->r->status != 200) {
                fprintf(stderr, "quic_load: download %s: %s %d\n", O.download,
                        s->r->reset ? "stream reset" : "status", s->r->reset ? (int)s->r->reset_code : s->r->status);
                w->st.dl_errors++;
                slot_close(s, now);
                if (!atomic_load(&g_probes_ready))
                    atomic_store(&g_probes_failed, true);
                return;
            }
            w->st.dl_responses++;
            s->r = NULL;
        }
        if (s->r == NULL && ho_h3_client_get(s->h3, O.authority, O.download, NULL, &s->r) == HO_OK) {
            s->r->on_body = body_count;
            s->r->on_body_ctx = w;
        }
    }
    slot_send(s, now);
}

static bool probes_established(worker *w)
{
    for (size_t i = 0; i < w->nslots; i++) {
        slot *s = &w->slots[i];
        if (!s->active || s->t_hs == 0)
            return false;
        if (s->kind == K_DL && w->st.dl_first_byte == 0)
            return false;
    }
    return true;
}

/* Receives everything waiting on one socket. */
static void slot_read(slot *s)
{
    ho_udp_dgram *d;
    int got;
    while (s->active && (got = ho_udp_recv_batch(&s->sock, s->w->rx, &d)) > 0) {
        int64_t now = ho_now_ns();
        for (int i = 0; i < got; i++) {
            s->path.ecn = d[i].ecn;
            ho_quic_conn_receive(s->c, d[i].data, d[i].len, &s->path, now);
        }
        s->dirty = true;
    }
    if (s->active && got == HO_ERR_IO && errno == ECONNREFUSED) {
        s->refused = true; /* ICMP port unreachable: nobody listens */
        s->dirty = true;
    }
}

/* May this storm worker start another connection now? */
static bool may_start(worker *w, int64_t now)
{
    if (atomic_load(&g_measure_t0) == 0 || now < atomic_load(&g_start))
        return false;
    bool warm = now < window_t0();
    if (!warm && w->to_start == 0)
        return false;
    if (w->end != 0 && now >= w->end)
        return false;
    if (w->start_interval > 0 && now < w->next_start)
        return false;
    return true;
}

static void start_some(worker *w, int64_t now)
{
    for (size_t i = 0; i < w->nslots && may_start(w, now); i++) {
        slot *s = &w->slots[i];
        if (s->active)
            continue;
        bool warm = now < window_t0();
        if (slot_open(s, now) != HO_OK) {
            if (!warm)
                w->st.err_local++;
            if (w->to_start > 0 && !warm)
                w->to_start--;
            continue;
        }
        if (w->to_start > 0 && !warm)
            w->to_start--;
        if (w->start_interval > 0) {
            w->next_start += w->start_interval;
            if (w->next_start < now - 1000000000LL) /* far behind (all slots busy): do not burst */
                w->next_start = now;
        }
        service(s, now);
        if (s->active)
            s->next_to = ho_quic_conn_next_timeout(s->c);
    }
}

static void *worker_run(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[MAX_EVENTS];
    if (w->probe) {
        int64_t now = ho_now_ns();
        for (size_t i = 0; i < w->nslots; i++)
            if (slot_open(&w->slots[i], now) != HO_OK) {
                fprintf(stderr, "quic_load: cannot open a probe connection\n");
                atomic_store(&g_probes_failed, true);
                return NULL;
            }
    }
    for (;;) {
        int64_t now = ho_now_ns();
        if (w->probe) {
            if (atomic_load(&g_storm_done) || atomic_load(&g_probes_failed))
                break;
            if (!atomic_load(&g_probes_ready) && probes_established(w))
                atomic_store(&g_probes_ready, true);
        } else {
            if (atomic_load(&g_start) != 0)
                start_some(w, now);
            bool any = false;
            for (size_t i = 0; i < w->nslots && !any; i++)
                any = w->slots[i].active;
            bool starting = atomic_load(&g_start) == 0 || now < window_t0() ||
                            (w->to_start != 0 && (w->end == 0 || now < w->end));
            if (!any && !starting)
                break;
        }
        /* Wait for datagrams or the earliest timer. */
        int64_t next = now + 100000000LL; /* at least every 100 ms (flags, deadlines) */
        for (size_t i = 0; i < w->nslots; i++) {
            slot *s = &w->slots[i];
            if (!s->active)
                continue;
            if (s->next_to < next)
                next = s->next_to;
            if (s->deadline < next)
                next = s->deadline;
            if (s->kind == K_KEEP && s->next_req != 0 && s->next_req < next)
                next = s->next_req;
        }
        if (!w->probe && w->start_interval > 0 && w->next_start < next && atomic_load(&g_start) != 0)
            next = w->next_start;
        int wait_ms = next <= now ? 0 : (int)((next - now + 999999) / 1000000);
        int n = epoll_wait(w->ep, evs, MAX_EVENTS, wait_ms);
        for (int i = 0; i < n; i++)
            slot_read(evs[i].data.ptr);
        now = ho_now_ns();
        for (size_t i = 0; i < w->nslots; i++) {
            slot *s = &w->slots[i];
            if (!s->active)
                continue;
            if (s->next_to <= now) {
                ho_quic_conn_handle_timeout(s->c, now);
                s->dirty = true;
            }
            bool due = s->dirty || now >= s->deadline || (s->kind == K_KEEP && s->next_req <= now) ||
                       (O.streams > 0 && s->nsr > 0 && now - s->sr_t[0] >= O.timeout_ms * 1000000LL) ||
                       (O.streams > 0 && w->end != 0 && now >= w->end);
            if (!due)
                continue;
            s->dirty = false;
            service(s, now);
            if (s->active)
                s->next_to = ho_quic_conn_next_timeout(s->c);
        }
    }
    int64_t now = ho_now_ns();
    for (size_t i = 0; i < w->nslots; i++)
        if (w->slots[i].active) {
            if (w->probe && w->slots[i].kind == K_KEEP)
                probe_service(&w->slots[i], now); /* collect what completed */
            slot_close(&w->slots[i], now);
        }
    if (w->probe && w->st.dl_first_byte != 0) {
        /* The gap from the last byte to the end of the window counts too. */
        int64_t end = window_end() != INT64_MAX ? window_end() : now;
        int64_t from = w->dl_last > window_t0() ? w->dl_last : window_t0();
        if (end - from > w->st.dl_max_gap)
            w->st.dl_max_gap = end - from;
    }
    return NULL;
}

/* ---- report ---------------------------------------------------------------- */

static void json_kinds(FILE *f, const char *name, const kinds *k)
{
    fprintf(f, ",\"%s\":{", name);
    for (size_t i = 0; i < k->len; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", k->name[i], (unsigned long long)k->n[i]);
    fprintf(f, "}");
}

static void text_kinds(const char *name, const kinds *k)
{
    if (k->len == 0)
        return;
    printf("  %-18s", name);
    for (size_t i = 0; i < k->len; i++)
        printf(" %s=%llu", k->name[i], (unsigned long long)k->n[i]);
    printf("\n");
}

static double jnum(double x) { return isnan(x) ? -1 : x; }

static void print_report(stats *t, int64_t t0, int64_t t_end, double cpu_s)
{
    samples_sort(&t->hs);
    samples_sort(&t->req);
    samples_sort(&t->conn);
    samples_sort(&t->keep_lat);
    double secs = t_end > t0 ? (double)(t_end - t0) / 1e9 : 0;
    double hps = secs > 0 ? (double)t->handshakes / secs : 0, rps = secs > 0 ? (double)t->requests_ok / secs : 0;
    uint64_t errors = t->err_timeout_hs + t->err_timeout_req + t->err_handshake + t->err_closed + t->err_refused +
                      t->err_status + t->err_reset + t->err_local;
    printf("quic_load: %s:%s path %s, -c %ld, %ld thread(s)%s\n", O.host, O.port, O.path, O.conns, O.threads,
           O.rate > 0 ? ", rate-limited" : "");
    if (O.streams > 0)
        printf("  streams           %ld in flight per connection (%ld in all); GETs refused for want of "
               "stream credit: %llu\n",
               O.streams, O.streams * O.conns, (unsigned long long)t->stream_blocked);
    printf("  connections       %llu started, %llu ok, %llu errors (+%llu in warm-up, not counted)\n",
           (unsigned long long)t->started, (unsigned long long)t->ok, (unsigned long long)errors,
           (unsigned long long)t->warmup_conns);
    printf("  time              %.3f s\n", secs);
    printf("  handshakes/s      %.1f (%llu)\n", hps, (unsigned long long)t->handshakes);
    printf("  requests/s        %.1f (%llu with status 200)\n", rps, (unsigned long long)t->requests_ok);
    printf("  handshake ms      p50 %.3f  p99 %.3f  max %.3f\n", pct_ms(&t->hs, 50), pct_ms(&t->hs, 99),
           pct_ms(&t->hs, 100));
    printf("  request ms        p50 %.3f  p99 %.3f  max %.3f\n", pct_ms(&t->req, 50), pct_ms(&t->req, 99),
           pct_ms(&t->req, 100));
    printf("  connection ms     p50 %.3f  p99 %.3f  max %.3f\n", pct_ms(&t->conn, 50), pct_ms(&t->conn, 99),
           pct_ms(&t->conn, 100));
    printf("  errors            timeout_handshake=%llu timeout_request=%llu handshake_failed=%llu closed=%llu "
           "refused=%llu status=%llu reset=%llu local=%llu\n",
           (unsigned long long)t->err_timeout_hs, (unsigned long long)t->err_timeout_req,
           (unsigned long long)t->err_handshake, (unsigned long long)t->err_closed,
           (unsigned long long)t->err_refused, (unsigned long long)t->err_status, (unsigned long long)t->err_reset,
           (unsigned long long)t->err_local);
    text_kinds("handshake codes", &t->hs_codes);
    text_kinds("close codes", &t->close_codes);
    text_kinds("statuses", &t->statuses);
    if (O.streams > 0)
        printf("  client CPU        %.3f s (%.1f us per request, over the %llu of the whole run)\n", cpu_s,
               t->req_all ? cpu_s * 1e6 / (double)t->req_all : 0.0, (unsigned long long)t->req_all);
    else
        printf("  client CPU        %.3f s (%.1f us per connection)\n", cpu_s,
               t->started ? cpu_s * 1e6 / (double)(t->started + t->warmup_conns) : 0.0);
    if (O.keep > 0)
        printf("  keep (%ld x %ld ms) during the storm: %llu sent, %llu ok, %llu errors, %llu late; "
               "ms p50 %.3f  p99 %.3f  max %.3f\n",
               O.keep, O.interval_ms, (unsigned long long)t->keep_sent, (unsigned long long)t->keep_ok,
               (unsigned long long)t->keep_err, (unsigned long long)t->keep_late, pct_ms(&t->keep_lat, 50),
               pct_ms(&t->keep_lat, 99), pct_ms(&t->keep_lat, 100));
    if (O.download != NULL)
        printf("  download %s: %llu bytes in total, %llu during the storm in %llu pieces, longest gap %.3f ms, "
               "%llu responses, %llu errors\n",
               O.download, (unsigned long long)t->dl_bytes_total, (unsigned long long)t->dl_bytes_window,
               (unsigned long long)t->dl_chunks_window, (double)t->dl_max_gap / 1e6,
               (unsigned long long)t->dl_responses, (unsigned long long)t->dl_errors);

    printf("quic_load {\"started\":%llu,\"ok\":%llu,\"errors\":%llu,\"warmup\":%llu,\"seconds\":%.3f,"
           "\"handshakes\":%llu,\"requests\":%llu,\"handshakes_per_s\":%.1f,\"requests_per_s\":%.1f,"
           "\"hs_p50_ms\":%.3f,\"hs_p99_ms\":%.3f,\"hs_max_ms\":%.3f,"
           "\"req_p50_ms\":%.3f,\"req_p99_ms\":%.3f,\"req_max_ms\":%.3f,"
           "\"conn_p50_ms\":%.3f,\"conn_p99_ms\":%.3f,\"conn_max_ms\":%.3f,"
           "\"timeout_handshake\":%llu,\"timeout_request\":%llu,\"handshake_failed\":%llu,\"closed\":%llu,"
           "\"refused\":%llu,\"status_not_200\":%llu,\"reset\":%llu,\"local\":%llu,\"client_cpu_s\":%.3f",
           (unsigned long long)t->started, (unsigned long long)t->ok, (unsigned long long)errors,
           (unsigned long long)t->warmup_conns, secs, (unsigned long long)t->handshakes,
           (unsigned long long)t->requests_ok, hps, rps, jnum(pct_ms(&t->hs, 50)), jnum(pct_ms(&t->hs, 99)),
           jnum(pct_ms(&t->hs, 100)), jnum(pct_ms(&t->req, 50)), jnum(pct_ms(&t->req, 99)),
           jnum(pct_ms(&t->req, 100)), jnum(pct_ms(&t->conn, 50)), jnum(pct_ms(&t->conn, 99)),
           jnum(pct_ms(&t->conn, 100)), (unsigned long long)t->err_timeout_hs,
           (unsigned long long)t->err_timeout_req, (unsigned long long)t->err_handshake,
           (unsigned long long)t->err_closed, (unsigned long long)t->err_refused,
           (unsigned long long)t->err_status, (unsigned long long)t->err_reset, (unsigned long long)t->err_local,
           cpu_s);
    if (O.streams > 0)
        printf(",\"streams\":%ld,\"stream_blocked\":%llu,\"requests_all\":%llu,\"client_us_per_req\":%.2f",
               O.streams, (unsigned long long)t->stream_blocked, (unsigned long long)t->req_all,
               t->req_all ? cpu_s * 1e6 / (double)t->req_all : 0.0);
    json_kinds(stdout, "handshake_codes", &t->hs_codes);
    json_kinds(stdout, "close_codes", &t->close_codes);
    json_kinds(stdout, "statuses", &t->statuses);
    if (O.keep > 0)
        printf(",\"keep\":{\"sent\":%llu,\"ok\":%llu,\"errors\":%llu,\"late\":%llu,\"p50_ms\":%.3f,"
               "\"p99_ms\":%.3f,\"max_ms\":%.3f}",
               (unsigned long long)t->keep_sent, (unsigned long long)t->keep_ok, (unsigned long long)t->keep_err,
               (unsigned long long)t->keep_late, jnum(pct_ms(&t->keep_lat, 50)), jnum(pct_ms(&t->keep_lat, 99)),
               jnum(pct_ms(&t->keep_lat, 100)));
    if (O.download != NULL)
        printf(",\"download\":{\"bytes\":%llu,\"bytes_during_storm\":%llu,\"pieces_during_storm\":%llu,"
               "\"max_gap_ms\":%.3f,\"responses\":%llu,\"errors\":%llu}",
               (unsigned long long)t->dl_bytes_total, (unsigned long long)t->dl_bytes_window,
               (unsigned long long)t->dl_chunks_window, (double)t->dl_max_gap / 1e6,
               (unsigned long long)t->dl_responses, (unsigned long long)t->dl_errors);
    printf("}\n");
}

/* ---- main ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: quic_load [options] ADDR:PORT       (IPv6: [ADDR]:PORT)\n"
            "  -c N               concurrent storm connections (default 8)\n"
            "  -n N               storm connections to run after the warm-up (default 100 without -d)\n"
            "  -d SECONDS         start storm connections for this long after the warm-up\n"
            "  -r RATE            new connections per second in total (open loop; default: as fast as\n"
            "                     the -c slots free up)\n"
            "  -t N               storm threads (default 1), each its own epoll loop with -c/N slots\n"
            "  -w SECONDS         warm-up: connections run but are not counted (default 0)\n"
            "  -p PATH            the GET of each connection (default /baseline2?a=1&b=1)\n"
            "  --alpn ALPN        (default h3)\n"
            "  --sni NAME         SNI and certificate name (default ADDR)\n"
            "  --cafile PEM       trust this certificate / CA (default: the system store)\n"
            "  --insecure         no certificate check\n"
            "  --timeout MS       per connection, handshake to response (default 10000)\n"
            "  --keep N           N more connections, established before the storm, each GETting -p\n"
            "  --interval MS      every MS milliseconds (default 10); their latency is reported\n"
            "                     for the storm's measured window, apart from the storm's\n"
            "  --download PATH    one more established connection GETs PATH again and again and\n"
            "                     counts the body bytes received during the storm\n"
            "  --streams S        request rate instead of handshakes (needs -d): each of the -c\n"
            "                     connections is established once and keeps S GETs of -p in\n"
            "                     flight, a new one on a new stream as soon as one completes;\n"
            "                     requests completing within the measured window count\n"
            "The last output line is \"quic_load {json}\" with every figure.\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}

static bool parse_target(const char *arg)
{
    static char host[256];
    const char *colon = strrchr(arg, ':');
    if (colon == NULL)
        return false;
    size_t hl = (size_t)(colon - arg);
    const char *h = arg;
    if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']')
        h++, hl -= 2;
    if (hl == 0 || hl >= sizeof(host))
        return false;
    memcpy(host, h, hl);
    host[hl] = '\0';
    O.host = host;
    O.port = colon + 1;
    long p = strtol(O.port, NULL, 10);
    if (p <= 0 || p > 65535 || ho_sockaddr_parse(host, (uint16_t)p, &O.addr, &O.addr_len) != HO_OK)
        return false;
    snprintf(O.authority, sizeof(O.authority), strchr(host, ':') ? "[%s]:%s" : "%s:%s", host, O.port);
    return true;
}

int main(int argc, char **argv)
{
    enum { O_ALPN = 256, O_SNI, O_CAFILE, O_INSECURE, O_TIMEOUT, O_KEEP, O_INTERVAL, O_DOWNLOAD, O_STREAMS, O_HELP };
    static const struct option lo[] = {
        {"alpn", required_argument, NULL, O_ALPN},       {"sni", required_argument, NULL, O_SNI},
        {"cafile", required_argument, NULL, O_CAFILE},   {"insecure", no_argument, NULL, O_INSECURE},
        {"timeout", required_argument, NULL, O_TIMEOUT}, {"keep", required_argument, NULL, O_KEEP},
        {"interval", required_argument, NULL, O_INTERVAL}, {"download", required_argument, NULL, O_DOWNLOAD},
        {"streams", required_argument, NULL, O_STREAMS}, {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    int ch;
    double v;
    while ((ch = getopt_long(argc, argv, "c:n:d:r:t:w:p:h", lo, NULL)) != -1) {
        bool ok = true;
        switch (ch) {
        case 'c': ok = parse_num(optarg, 1, 100000, &v), O.conns = (long)v; break;
        case 'n': ok = parse_num(optarg, 1, 1e9, &v), O.count = (long)v; break;
        case 'd': ok = parse_num(optarg, 0.001, 86400, &O.duration); break;
        case 'r': ok = parse_num(optarg, 0.001, 1e7, &O.rate); break;
        case 't': ok = parse_num(optarg, 1, 64, &v), O.threads = (long)v; break;
        case 'w': ok = parse_num(optarg, 0, 3600, &O.warmup); break;
        case 'p': O.path = optarg; ok = optarg[0] == '/'; break;
        case O_ALPN: O.alpn = optarg; break;
        case O_SNI: O.sni = optarg; break;
        case O_CAFILE: O.cafile = optarg; break;
        case O_INSECURE: O.insecure = true; break;
        case O_TIMEOUT: ok = parse_num(optarg, 1, 3600000, &v), O.timeout_ms = (long)v; break;
        case O_KEEP: ok = parse_num(optarg, 0, 1000, &v), O.keep = (long)v; break;
        case O_INTERVAL: ok = parse_num(optarg, 1, 600000, &v), O.interval_ms = (long)v; break;
        case O_DOWNLOAD: O.download = optarg; ok = optarg[0] == '/'; break;
        case O_STREAMS: ok = parse_num(optarg, 1, 10000, &v), O.streams = (long)v; break;
        case 'h': case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (!ok) {
            fprintf(stderr, "quic_load: bad value '%s' for -%c\n", optarg, ch < 256 ? ch : '-');
            return 2;
        }
    }
    if (optind != argc - 1 || !parse_target(argv[optind])) {
        usage(stderr);
        return 2;
    }
    if (O.count > 0 && O.duration > 0) {
        fprintf(stderr, "quic_load: -n and -d exclude each other\n");
        return 2;
    }
    if (O.streams > 0 && (O.duration == 0 || O.count > 0 || O.rate > 0)) {
        fprintf(stderr, "quic_load: --streams runs for a duration (-d), without -n or -r\n");
        return 2;
    }
    if (O.count == 0 && O.duration == 0)
        O.count = 100;
    if (O.threads > O.conns)
        O.threads = O.conns;

    /* One socket per connection: raise the descriptor limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    TLS = ho_tls_config_new(false);
    const char *alpn[] = {O.alpn};
    if (TLS == NULL || ho_tls_config_set_alpn(TLS, alpn, 1) != HO_OK) {
        fprintf(stderr, "quic_load: TLS configuration failed\n");
        return 1;
    }
    ho_tls_config_set_verify_peer(TLS, !O.insecure);
    if (!O.insecure && O.cafile != NULL) {
        ho_trust_store *ts = ho_trust_store_new();
        if (ts == NULL || ho_trust_store_add_file(ts, O.cafile) != HO_OK) {
            fprintf(stderr, "quic_load: cannot load %s\n", O.cafile);
            return 1;
        }
        ho_tls_config_set_trust(TLS, ts);
    }
    ho_quic_tls_config_prepare(TLS);

    /* Workers: T storm threads, and a probe thread when asked for. */
    long nw = O.threads + (O.keep > 0 || O.download != NULL ? 1 : 0);
    worker *ws = calloc((size_t)nw, sizeof(*ws));
    if (ws == NULL)
        return 1;
    for (long i = 0; i < nw; i++) {
        worker *w = &ws[i];
        w->id = (int)i;
        w->probe = i == O.threads;
        w->nslots = w->probe ? (size_t)O.keep + (O.download != NULL)
                             : (size_t)(O.conns / O.threads + (i < O.conns % O.threads));
        w->slots = calloc(w->nslots, sizeof(slot));
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->rx = ho_udp_rx_new(RX_BATCH);
        w->tx = malloc(TXBUF);
        if (w->slots == NULL || w->ep < 0 || w->rx == NULL || w->tx == NULL) {
            fprintf(stderr, "quic_load: out of memory\n");
            return 1;
        }
        for (size_t k = 0; k < w->nslots; k++) {
            if (O.streams > 0 && !w->probe) {
                w->slots[k].sr = calloc((size_t)O.streams, sizeof(*w->slots[k].sr));
                w->slots[k].sr_t = calloc((size_t)O.streams, sizeof(*w->slots[k].sr_t));
                if (w->slots[k].sr == NULL || w->slots[k].sr_t == NULL) {
                    fprintf(stderr, "quic_load: out of memory\n");
                    return 1;
                }
            }
            w->slots[k].w = w;
            w->slots[k].kind = !w->probe ? K_STORM : k < (size_t)O.keep ? K_KEEP : K_DL;
            w->slots[k].sock.fd = -1;
        }
        w->to_start = O.count > 0 ? O.count / O.threads + (i < O.count % O.threads) : -1;
        w->start_interval = O.rate > 0 ? (int64_t)(1e9 * (double)O.threads / O.rate) : 0;
    }
    for (long i = 0; i < nw; i++)
        if (pthread_create(&ws[i].th, NULL, worker_run, &ws[i]) != 0) {
            fprintf(stderr, "quic_load: cannot start a thread\n");
            return 1;
        }
    /* Probes first: the storm starts once every probe connection is up. */
    if (nw > O.threads) {
        int64_t until = ho_now_ns() + O.timeout_ms * 1000000LL;
        while (!atomic_load(&g_probes_ready) && !atomic_load(&g_probes_failed) && ho_now_ns() < until) {
            struct timespec ts = {0, 1000000};
            nanosleep(&ts, NULL); /* a poll of a flag, bounded by --timeout */
        }
        if (!atomic_load(&g_probes_ready)) {
            fprintf(stderr, "quic_load: the probe connections were not established within %ld ms\n",
                    O.timeout_ms);
            atomic_store(&g_probes_failed, true);
        }
    }
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    int64_t start = ho_now_ns(), t0 = start + (int64_t)(O.warmup * 1e9);
    bool failed = atomic_load(&g_probes_failed);
    for (long i = 0; i < O.threads; i++) {
        ws[i].next_start = start;
        if (failed) /* no storm: the storm threads end at once */
            ws[i].to_start = 0, ws[i].end = 1, t0 = start;
        else if (O.duration > 0)
            ws[i].end = t0 + (int64_t)(O.duration * 1e9);
    }
    /* The workers read their fields only once g_start is set (seq_cst stores). */
    atomic_store(&g_measure_t0, t0);
    atomic_store(&g_start, start);
    for (long i = 0; i < O.threads; i++)
        pthread_join(ws[i].th, NULL);
    int64_t end = ho_now_ns();
    atomic_store(&g_storm_end, end);
    atomic_store(&g_storm_done, true);
    getrusage(RUSAGE_SELF, &ru1);
    for (long i = O.threads; i < nw; i++)
        pthread_join(ws[i].th, NULL);

    stats total = {0};
    for (long i = 0; i < nw; i++) {
        stats *s = &ws[i].st;
        total.started += s->started, total.ok += s->ok, total.handshakes += s->handshakes;
        total.requests_ok += s->requests_ok, total.warmup_conns += s->warmup_conns;
        total.err_timeout_hs += s->err_timeout_hs, total.err_timeout_req += s->err_timeout_req;
        total.err_handshake += s->err_handshake, total.err_closed += s->err_closed;
        total.err_refused += s->err_refused, total.err_status += s->err_status;
        total.err_reset += s->err_reset, total.err_local += s->err_local;
        for (size_t k = 0; k < s->hs_codes.len; k++)
            kind_add(&total.hs_codes, s->hs_codes.name[k], s->hs_codes.n[k]);
        for (size_t k = 0; k < s->close_codes.len; k++)
            kind_add(&total.close_codes, s->close_codes.name[k], s->close_codes.n[k]);
        for (size_t k = 0; k < s->statuses.len; k++)
            kind_add(&total.statuses, s->statuses.name[k], s->statuses.n[k]);
        samples_merge(&total.hs, &s->hs);
        samples_merge(&total.req, &s->req);
        samples_merge(&total.conn, &s->conn);
        samples_merge(&total.keep_lat, &s->keep_lat);
        if (s->last_done > total.last_done)
            total.last_done = s->last_done;
        total.keep_sent += s->keep_sent, total.keep_ok += s->keep_ok, total.keep_err += s->keep_err;
        total.keep_late += s->keep_late;
        total.dl_bytes_total += s->dl_bytes_total, total.dl_bytes_window += s->dl_bytes_window;
        total.dl_chunks_window += s->dl_chunks_window, total.dl_responses += s->dl_responses;
        total.dl_errors += s->dl_errors;
        total.stream_blocked += s->stream_blocked, total.req_all += s->req_all;
        if (s->dl_max_gap > total.dl_max_gap)
            total.dl_max_gap = s->dl_max_gap;
    }
    if (O.streams > 0 && total.requests_ok > 0) /* counted apart from the other statuses: no per-request lookup */
        kind_add(&total.statuses, "200", total.requests_ok);
    double cpu_s = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                   (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec -
                            ru0.ru_stime.tv_usec) / 1e6;
    /* Rates over the measured window: warm-up end to the last counted completion. */
    print_report(&total, t0, total.last_done > t0 ? total.last_done : end, cpu_s);
    int rc = atomic_load(&g_probes_failed) ? 1 : 0;
    for (long i = 0; i < nw; i++) {
        for (size_t k = 0; k < ws[i].nslots; k++)
            free(ws[i].slots[k].sr), free(ws[i].slots[k].sr_t);
        free(ws[i].slots);
        close(ws[i].ep);
        ho_udp_rx_free(ws[i].rx);
        free(ws[i].tx);
        free(ws[i].st.hs.v), free(ws[i].st.req.v), free(ws[i].st.conn.v), free(ws[i].st.keep_lat.v);
    }
    free(total.hs.v), free(total.req.v), free(total.conn.v), free(total.keep_lat.v);
    free(ws);
    ho_tls_config_free(TLS);
    return rc;
}
