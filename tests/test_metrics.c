/* Metrics (src/io/metrics.c, src/base/hist.c): the Prometheus text of a
 * known snapshot (names, HELP and TYPE, thread labels, seconds, cumulative
 * histogram buckets with +Inf, _sum, _count), the text's structure, the
 * histogram buckets, the pool's queue-time histogram, and a live server
 * whose no_stats listener is left out of the counters. */
#define _GNU_SOURCE
#include "harness.h"

#include "handoff/io.h"
#include "handoff/offload.h"

#include <arpa/inet.h>
#include <poll.h>
#include <unistd.h>

/* Whether text has the whole line `line`. */
static bool has_line(const ho_buf *text, const char *line)
{
    size_t n = strlen(line);
    const char *p = (const char *)text->data, *end = p + text->len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        if (len == n && memcmp(p, line, n) == 0)
            return true;
        p += len + 1;
    }
    return false;
}

#define CHECK_LINE(text, line)                                                                                    \
    do {                                                                                                          \
        bool _ok = has_line((text), (line));                                                                      \
        CHECK(_ok);                                                                                               \
        if (!_ok)                                                                                                 \
            fprintf(stderr, "    missing line: %s\n", (line));                                                    \
    } while (0)

/* The structure the exposition format asks for: every sample follows the
 * HELP and TYPE of its family (histograms: name_bucket/_sum/_count), a
 * family is declared once and its samples are contiguous, every line ends
 * in a newline, names follow the conventions (handoff_, counters _total).
 * Returns the number of samples, -1 on a violation (printed). */
static int check_structure(const ho_buf *text)
{
    char fams[128][96];
    size_t nfam = 0;
    char cur[96] = "", type[16] = "";
    int samples = 0;
    const char *p = (const char *)text->data, *end = p + text->len;
    if (text->len == 0 || end[-1] != '\n') {
        fprintf(stderr, "    text does not end in a newline\n");
        return -1;
    }
    bool help_seen = false;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        char line[512];
        size_t len = (size_t)(nl - p);
        if (len >= sizeof(line)) {
            fprintf(stderr, "    line too long\n");
            return -1;
        }
        memcpy(line, p, len);
        line[len] = '\0';
        p = nl + 1;
        char name[96], t[16];
        if (sscanf(line, "# HELP %95s", name) == 1) {
            for (size_t i = 0; i < nfam; i++)
                if (strcmp(fams[i], name) == 0) {
                    fprintf(stderr, "    family declared twice: %s\n", name);
                    return -1;
                }
            if (nfam == 128 || strncmp(name, "handoff_", 8) != 0) {
                fprintf(stderr, "    bad family %s\n", name);
                return -1;
            }
            snprintf(fams[nfam++], sizeof(fams[0]), "%s", name);
            snprintf(cur, sizeof(cur), "%s", name);
            help_seen = true;
            type[0] = '\0';
            continue;
        }
        if (sscanf(line, "# TYPE %95s %15s", name, t) == 2) {
            if (!help_seen || strcmp(name, cur) != 0) {
                fprintf(stderr, "    TYPE without its HELP: %s\n", line);
                return -1;
            }
            help_seen = false;
            snprintf(type, sizeof(type), "%s", t);
            size_t nl_ = strlen(name);
            bool total = nl_ > 6 && strcmp(name + nl_ - 6, "_total") == 0;
            if ((strcmp(t, "counter") == 0) != total) {
                fprintf(stderr, "    %s: a counter must end in _total, nothing else may: %s\n", name, t);
                return -1;
            }
            continue;
        }
        size_t nlen = strcspn(line, "{ ");
        if (type[0] == '\0' || nlen == 0) {
            fprintf(stderr, "    sample outside a family: %s\n", line);
            return -1;
        }
        size_t cl = strlen(cur);
        bool ok = nlen == cl && strncmp(line, cur, cl) == 0;
        if (!ok && strcmp(type, "histogram") == 0 && strncmp(line, cur, cl) == 0) {
            const char *suf = line + cl;
            size_t sl = nlen - cl;
            ok = (sl == 7 && strncmp(suf, "_bucket", 7) == 0) || (sl == 4 && strncmp(suf, "_sum", 4) == 0) ||
                 (sl == 6 && strncmp(suf, "_count", 6) == 0);
        }
        if (!ok) {
            fprintf(stderr, "    sample not of family %s: %s\n", cur, line);
            return -1;
        }
        const char *val = strrchr(line, ' ');
        char *vend;
        if (val == NULL || (strtod(val + 1, &vend), *vend != '\0')) {
            fprintf(stderr, "    no value: %s\n", line);
            return -1;
        }
        samples++;
    }
    return samples;
}

static void test_hist_buckets(void)
{
    ho_hist h;
    memset(&h, 0, sizeof(h));
    ho_hist_observe(&h, 0);
    ho_hist_observe(&h, 50000);   /* on the bound: in it (le is <=) */
    ho_hist_observe(&h, 50001);
    ho_hist_observe(&h, 1000000000);
    ho_hist_observe(&h, 1000000001);
    CHECK_EQ(h.bucket[0], 2);
    CHECK_EQ(h.bucket[1], 1);
    CHECK_EQ(h.bucket[HO_HIST_BOUNDS - 1], 1);
    CHECK_EQ(h.bucket[HO_HIST_BOUNDS], 1);
    CHECK_EQ(h.count, 5);
    CHECK_EQ(h.sum_ns, 2000100002ull);
    for (size_t i = 1; i < HO_HIST_BOUNDS; i++)
        CHECK(ho_hist_bounds_ns[i] > ho_hist_bounds_ns[i - 1]);
    CHECK_EQ(ho_hist_bounds_ns[0], 50000);
    CHECK_EQ(ho_hist_bounds_ns[HO_HIST_BOUNDS - 1], 1000000000);
    ho_hist m;
    memset(&m, 0, sizeof(m));
    ho_hist_merge(&m, &h);
    ho_hist_merge(&m, &h);
    CHECK_EQ(m.count, 10);
    CHECK_EQ(m.bucket[0], 4);
    CHECK_EQ(m.sum_ns, 4000200004ull);
}

/* A known snapshot: two threads, a pool, QUIC. */
static void snapshot(ho_server_stats th[2], ho_pool_stats *pool, ho_quic_server_stats q[2])
{
    memset(th, 0, 2 * sizeof(*th));
    memset(pool, 0, sizeof(*pool));
    memset(q, 0, 2 * sizeof(*q));
    th[0].accepted = 5;
    th[1].accepted = 7;
    th[0].closed = 4;
    th[0].active = 1;
    th[1].requests = 42;
    th[0].handshakes_offloaded = 3;
    th[0].handshakes_inline = 9;
    th[1].ktls_fallback = 2;
    th[1].trims = 1;
    th[1].accept_emfile = 2;
    ho_hist_observe(&th[0].handshake_inline, 40000);   /* 40 us */
    ho_hist_observe(&th[1].handshake_inline, 60000);   /* 60 us */
    ho_hist_observe(&th[1].handshake_inline, 2000000000); /* 2 s: +Inf only */
    ho_hist_observe(&th[0].handshake_offloaded, 3000000); /* 3 ms */
    pool->submitted = 11;
    pool->completed = 10;
    pool->depth = 1;
    pool->max_depth = 4;
    pool->queued_ns = 1500000; /* 1.5 ms */
    pool->run_ns = 2000000000;
    ho_hist_observe(&pool->queued, 700000);
    ho_hist_observe(&pool->queued, 800000);
    q[0].connections = 6;
    q[0].connections_closed = 2;
    q[1].handshakes = 8;
    q[1].steps_offloaded = 5;
    q[1].step_queue_us = 250;
    q[0].initial_bad_token = 3;
    q[1].handshakes_in_progress = 2;
    ho_hist_observe(&q[1].handshake_offloaded, 12000000); /* 12 ms */
}

static void test_text_format(void)
{
    ho_server_stats th[2];
    ho_pool_stats pool;
    ho_quic_server_stats q[2];
    snapshot(th, &pool, q);
    ho_metrics_input in = {.nthreads = 2, .threads = th, .pool = &pool, .quic = q, .quic_steering = true};
    ho_buf b;
    ho_buf_init(&b);
    ho_metrics_text(&in, &b);
    CHECK(!b.failed);
    /* counters, per thread, with HELP and TYPE */
    CHECK_LINE(&b, "# HELP handoff_tcp_connections_accepted_total TCP connections accepted.");
    CHECK_LINE(&b, "# TYPE handoff_tcp_connections_accepted_total counter");
    CHECK_LINE(&b, "handoff_tcp_connections_accepted_total{thread=\"0\"} 5");
    CHECK_LINE(&b, "handoff_tcp_connections_accepted_total{thread=\"1\"} 7");
    CHECK_LINE(&b, "handoff_tcp_connections_closed_total{thread=\"0\"} 4");
    CHECK_LINE(&b, "# TYPE handoff_tcp_connections_active gauge");
    CHECK_LINE(&b, "handoff_tcp_connections_active{thread=\"0\"} 1");
    CHECK_LINE(&b, "handoff_tcp_requests_total{thread=\"1\"} 42");
    CHECK_LINE(&b, "handoff_tls_handshake_steps_total{thread=\"0\",mode=\"offloaded\"} 3");
    CHECK_LINE(&b, "handoff_tls_handshake_steps_total{thread=\"0\",mode=\"inline\"} 9");
    CHECK_LINE(&b, "handoff_ktls_fallbacks_total{thread=\"1\"} 2");
    CHECK_LINE(&b, "handoff_heap_trims_total{thread=\"1\"} 1");
    CHECK_LINE(&b, "handoff_tcp_accept_fd_limit_total{thread=\"1\"} 2");
    /* the pool: no thread label, times in seconds, exact */
    CHECK_LINE(&b, "handoff_offload_jobs_submitted_total 11");
    CHECK_LINE(&b, "handoff_offload_jobs_completed_total 10");
    CHECK_LINE(&b, "# TYPE handoff_offload_queue_depth gauge");
    CHECK_LINE(&b, "handoff_offload_queue_depth 1");
    CHECK_LINE(&b, "handoff_offload_queue_depth_max 4");
    CHECK_LINE(&b, "handoff_offload_queued_seconds_total 0.0015");
    CHECK_LINE(&b, "handoff_offload_run_seconds_total 2");
    /* histograms: cumulative buckets, +Inf, _sum, _count */
    CHECK_LINE(&b, "# TYPE handoff_offload_queue_duration_seconds histogram");
    CHECK_LINE(&b, "handoff_offload_queue_duration_seconds_bucket{le=\"0.0005\"} 0");
    CHECK_LINE(&b, "handoff_offload_queue_duration_seconds_bucket{le=\"0.001\"} 2");
    CHECK_LINE(&b, "handoff_offload_queue_duration_seconds_bucket{le=\"+Inf\"} 2");
    CHECK_LINE(&b, "handoff_offload_queue_duration_seconds_sum 0.0015");
    CHECK_LINE(&b, "handoff_offload_queue_duration_seconds_count 2");
    CHECK_LINE(&b, "# TYPE handoff_handshake_duration_seconds histogram");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"inline\",le=\"0.00005\"} 1");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"inline\",le=\"0.0001\"} 2");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"inline\",le=\"1\"} 2");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"inline\",le=\"+Inf\"} 3");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_sum{transport=\"tcp\",mode=\"inline\"} 2.0001");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_count{transport=\"tcp\",mode=\"inline\"} 3");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"offloaded\",le=\"0.0025\"} 0");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"tcp\",mode=\"offloaded\",le=\"0.005\"} 1");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_count{transport=\"tcp\",mode=\"offloaded\"} 1");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"quic\",mode=\"offloaded\",le=\"0.01\"} 0");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_bucket{transport=\"quic\",mode=\"offloaded\",le=\"0.025\"} 1");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_sum{transport=\"quic\",mode=\"offloaded\"} 0.012");
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_count{transport=\"quic\",mode=\"inline\"} 0");
    /* QUIC, per thread */
    CHECK_LINE(&b, "handoff_quic_connections_accepted_total{thread=\"0\"} 6");
    CHECK_LINE(&b, "handoff_quic_connections_closed_total{thread=\"0\"} 2");
    CHECK_LINE(&b, "handoff_quic_connections_active{thread=\"0\"} 4");
    CHECK_LINE(&b, "handoff_quic_handshakes_total{thread=\"1\"} 8");
    CHECK_LINE(&b, "# TYPE handoff_quic_handshakes_in_progress gauge");
    CHECK_LINE(&b, "handoff_quic_handshakes_in_progress{thread=\"1\"} 2");
    CHECK_LINE(&b, "handoff_quic_handshake_steps_total{thread=\"1\",mode=\"offloaded\"} 5");
    CHECK_LINE(&b, "handoff_quic_step_queue_wait_seconds_total{thread=\"1\"} 0.00025");
    CHECK_LINE(&b, "handoff_quic_unrouted_dropped_total{thread=\"0\",reason=\"initial_bad_token\"} 3");
    CHECK_LINE(&b, "handoff_quic_unrouted_dropped_total{thread=\"1\",reason=\"unknown_version\"} 0");
    CHECK_LINE(&b, "handoff_quic_steering 1");
    int n = check_structure(&b);
    CHECK(n > 150); /* 195 today */
    if (n < 0)
        fprintf(stderr, "%.*s", (int)b.len, (const char *)b.data);
    ho_buf_free(&b);

    /* Without QUIC: no QUIC series, the TCP histograms still there. */
    in.quic = NULL;
    ho_buf_init(&b);
    ho_metrics_text(&in, &b);
    CHECK(check_structure(&b) > 0);
    CHECK(memmem(b.data, b.len, "handoff_quic_", 13) == NULL);
    CHECK(memmem(b.data, b.len, "transport=\"quic\"", 16) == NULL);
    CHECK_LINE(&b, "handoff_handshake_duration_seconds_count{transport=\"tcp\",mode=\"inline\"} 3");
    ho_buf_free(&b);
}

static void nop_run(ho_job *j) { (void)j; }
static void nop_done(ho_job *j) { (void)j; }

/* The pool's queue-time histogram counts every started job; its sum is
 * the queued_ns the pool already reports. */
static void test_pool_queue_hist(void)
{
    ho_pool *p = ho_pool_new(1, 0);
    ho_home *h = ho_home_new();
    CHECK(p != NULL && h != NULL);
    if (p == NULL || h == NULL)
        return;
    ho_job jobs[5];
    memset(jobs, 0, sizeof(jobs));
    for (int i = 0; i < 5; i++) {
        jobs[i].run = nop_run;
        jobs[i].done = nop_done;
        ho_pool_submit(p, h, &jobs[i]);
    }
    size_t done = 0;
    for (int i = 0; i < 1000 && done < 5; i++) {
        struct pollfd pfd = {.fd = ho_home_fd(h), .events = POLLIN};
        (void)poll(&pfd, 1, 10);
        done += ho_home_drain(h);
    }
    CHECK_EQ(done, 5);
    ho_pool_stats st;
    ho_pool_get_stats(p, &st);
    CHECK_EQ(st.queued.count, 5);
    CHECK_EQ(st.queued.sum_ns, st.queued_ns);
    uint64_t total = 0;
    for (size_t i = 0; i <= HO_HIST_BOUNDS; i++)
        total += st.queued.bucket[i];
    CHECK_EQ(total, 5);
    ho_pool_free(p);
    ho_home_free(h);

    /* No workers: inline runs are counted too. */
    p = ho_pool_new(0, 0);
    h = ho_home_new();
    ho_pool_submit(p, h, &jobs[0]);
    ho_home_drain(h);
    ho_pool_get_stats(p, &st);
    CHECK_EQ(st.queued.count, 1);
    ho_pool_free(p);
    ho_home_free(h);
}

/* ---- a live server: counters, and a no_stats listener left out -------- */

static int ok_data(void *ctx, ho_conn *c, ho_buf *in)
{
    (void)ctx;
    if (memchr(in->data, '\n', in->len) == NULL)
        return HO_OK;
    ho_buf_consume(in, in->len);
    ho_conn_write(c, "ok\n", 3);
    ho_conn_request_done(c);
    return HO_OK;
}

static const ho_conn_handler ok_handler = {.on_data = ok_data};

/* One request on a new connection to port; true when "ok" came back. */
static bool ask(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 30};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char buf[8] = "";
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, "x\n", 2) == 2 &&
              read(fd, buf, sizeof(buf)) == 3 && memcmp(buf, "ok\n", 3) == 0;
    close(fd);
    return ok;
}

static void test_server_no_stats(void)
{
    ho_server_options o;
    ho_server_options_default(&o);
    o.io_threads = 2;
    o.handshake_workers = 0;
    ho_server *s = ho_server_new(&o);
    CHECK(s != NULL);
    if (s == NULL)
        return;
    ho_listen_spec counted = {.bind = "127.0.0.1", .handler = &ok_handler};
    ho_listen_spec hidden = {.bind = "127.0.0.1", .handler = &ok_handler, .no_stats = true};
    CHECK_EQ(ho_server_listen(s, &counted), HO_OK);
    CHECK_EQ(ho_server_listen(s, &hidden), HO_OK);
    CHECK_EQ(ho_server_start(s), HO_OK);
    CHECK_EQ(ho_server_threads(s), 2);
    for (int i = 0; i < 3; i++)
        CHECK(ask(ho_server_port(s, 0)));
    for (int i = 0; i < 4; i++)
        CHECK(ask(ho_server_port(s, 1)));
    ho_server_stats st, t0, t1;
    /* The server counts a request before its response leaves: answered
     * means counted. Closing is seen a little later: poll (bounded). */
    for (int i = 0; i < 3000; i++) {
        ho_server_get_stats(s, &st);
        if (st.closed == 3)
            break;
        usleep(1000);
    }
    CHECK_EQ(st.accepted, 3);
    CHECK_EQ(st.requests, 3);
    CHECK_EQ(st.closed, 3);
    CHECK_EQ(st.active, 0);
    CHECK_EQ(ho_server_get_thread_stats(s, 0, &t0), HO_OK);
    CHECK_EQ(ho_server_get_thread_stats(s, 1, &t1), HO_OK);
    CHECK_EQ(ho_server_get_thread_stats(s, 2, &t1), HO_ERR_NOT_FOUND);
    ho_server_get_thread_stats(s, 1, &t1);
    CHECK_EQ(t0.accepted + t1.accepted, 3);
    CHECK_EQ(t0.requests + t1.requests, 3);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_server_metrics_text(s, &b), HO_OK);
    CHECK(check_structure(&b) > 0);
    char line[96];
    snprintf(line, sizeof(line), "handoff_tcp_requests_total{thread=\"0\"} %llu", (unsigned long long)t0.requests);
    CHECK_LINE(&b, line);
    snprintf(line, sizeof(line), "handoff_tcp_requests_total{thread=\"1\"} %llu", (unsigned long long)t1.requests);
    CHECK_LINE(&b, line);
    CHECK(memmem(b.data, b.len, "handoff_quic_", 13) == NULL); /* no QUIC listener */
    ho_buf_free(&b);
    ho_server_free(s);
}

int main(void)
{
    RUN(test_hist_buckets);
    RUN(test_text_format);
    RUN(test_pool_queue_hist);
    RUN(test_server_no_stats);
    return ho_test_summary("test_metrics");
}
