/* test_faults: injected faults against a real server on loopback.
 *
 * test_alloc_sweep_tcp / test_alloc_sweep_quic: for N = 1, 2, ... the Nth
 * allocation made on the server's I/O thread fails (base/mem.h; only that
 * thread is enrolled, so the client side in this thread is never failed),
 * during a TLS 1.3 handshake plus one HTTP/1.1 request, and during a QUIC
 * handshake plus one HTTP/3 request. Each run must end either with the
 * response (the failure hit something that could be retried or dropped),
 * or with the connection closed with internal_error (TLS alert 80, QUIC
 * INTERNAL_ERROR or H3_INTERNAL_ERROR), or dropped before a connection
 * existed; the server must then serve a clean connection. The sweep ends at
 * the first N that injects nothing (the whole exchange took fewer
 * allocations).
 *
 * Two outcomes are tolerated and counted apart, as OpenSSL leaves no other
 * way: (1) when installing the server's next write key fails, its alert goes
 * under the previous key (or in the clear after ServerHello) and our client
 * rejects it (bad_record_mac / unexpected_message); (2) OpenSSL 3.0 reports
 * an allocation failure inside EVP_PKEY_set1_encoded_public_key as a bad
 * point without a malloc error on its queue, so the key share is refused
 * with illegal_parameter. OpenSSL's allocations are counted too (CRYPTO_set_mem_functions
 * in main). ASan's leak checker (the ASan build) proves nothing leaks. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "harness.h"
#include "base/mem.h"
#include "handoff/crypto.h"
#include "handoff/http.h"
#include "handoff/http_server.h"
#include "handoff/io.h"
#include "handoff/tls.h"
#include "io/send_fault.h"
#include "io/server_int.h"

static const char hello_body[] = "hello, faults\n";

static int hello(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    (void)req;
    resp->content_type = "text/plain";
    ho_put_bytes(resp->body, hello_body, sizeof(hello_body) - 1);
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

/* Large bodies for the send-fault tests: one sent by reference (static),
 * one built in the scratch buffer (copied through the TLS output). */
enum { BIG_LEN = 1 << 20, COPY_LEN = 300 * 1000 };
static uint8_t big_body[BIG_LEN];

static int big(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx, (void)req;
    resp->static_body = big_body;
    resp->static_len = BIG_LEN;
    return HO_OK;
}

static int big_copy(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx, (void)req;
    ho_put_bytes(resp->body, big_body, COPY_LEN);
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

static void enroll_io_thread(unsigned index)
{
    (void)index;
    ho_mem_fault_enroll(true);
    io_fault_enroll(true);
}

/* One server (one I/O thread, handshakes inline) with a TLS port serving
 * HTTP/1.1 and a QUIC port serving HTTP/3, both through one router. */
typedef struct fixture {
    ho_server *srv;
    ho_router *router;
    ho_h1_service h1;
    ho_tls_config *tcp_tls, *quic_tls, *client_tls;
    uint16_t tcp_port, quic_port;
} fixture;

static ho_tls_config *server_tls(const char *alpn)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 30, &key, &chain) != HO_OK)
        return NULL;
    ho_tls_config *cfg = ho_tls_config_new(true);
    if (cfg == NULL || ho_tls_config_add_cert(cfg, &chain, key) != HO_OK)
        abort();
    const char *protos[] = {alpn};
    ho_tls_config_set_alpn(cfg, protos, 1);
    return cfg;
}

/* Worker steps (test_slow_step): a ClientHello for "slow.test" takes
 * SLOW_MS on the worker that runs it. */
enum { SLOW_MS = 3000 };
static atomic_int slow_running, slow_done;

static int slow_client_hello(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    (void)ctx, (void)tls;
    if (ch->server_name == NULL || strcmp(ch->server_name, "slow.test") != 0)
        return HO_OK;
    atomic_store(&slow_running, 1);
    struct timespec ts = {SLOW_MS / 1000, (SLOW_MS % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* the slow step itself, not a wait */
    atomic_store(&slow_running, 0);
    atomic_fetch_add(&slow_done, 1);
    return HO_OK;
}

/* workers > 0: handshakes always on a pool of that many workers, with the
 * slow ClientHello callback. */
static bool fixture_start(fixture *f, int handshake_timeout_ms, int workers)
{
    memset(f, 0, sizeof(*f));
    f->router = ho_router_new();
    if (f->router == NULL || ho_router_add(f->router, "GET", "/hello", hello, NULL) != HO_OK ||
        ho_router_add(f->router, "GET", "/big", big, NULL) != HO_OK ||
        ho_router_add(f->router, "GET", "/copy", big_copy, NULL) != HO_OK)
        return false;
    for (size_t i = 0; i < BIG_LEN; i++)
        big_body[i] = (uint8_t)(i * 7 + (i >> 11));
    f->h1.router = f->router;
    ho_http_limits_default(&f->h1.limits);
    f->tcp_tls = server_tls("http/1.1");
    f->quic_tls = server_tls("h3");
    f->client_tls = ho_tls_config_new(false);
    if (f->tcp_tls == NULL || f->quic_tls == NULL || f->client_tls == NULL)
        return false;
    ho_tls_config_set_verify_peer(f->client_tls, false);
    if (workers > 0) {
        ho_tls_callbacks cb = {.client_hello = slow_client_hello};
        ho_tls_config_set_callbacks(f->tcp_tls, &cb);
        ho_tls_config_set_callbacks(f->quic_tls, &cb);
    }
    ho_server_options o;
    ho_server_options_default(&o);
    o.io_threads = 1;
    o.handshake_workers = workers;
    o.offload = workers > 0 ? HO_OFFLOAD_ALWAYS : HO_OFFLOAD_OFF;
    if (handshake_timeout_ms > 0)
        o.handshake_timeout_ms = handshake_timeout_ms;
    f->srv = ho_server_new(&o);
    if (f->srv == NULL)
        return false;
    ho_listen_spec ls = {.bind = "127.0.0.1", .tls = f->tcp_tls, .handler = &ho_h1_handler, .ctx = &f->h1};
    ho_quic_listen_spec qs = {.bind = "127.0.0.1", .tls = f->quic_tls, .handler = &ho_h3_handler, .ctx = f->router,
                              .no_steering = true};
    if (ho_server_listen(f->srv, &ls) != HO_OK || ho_server_listen_quic(f->srv, &qs) != HO_OK)
        return false;
    f->tcp_port = ho_server_port(f->srv, 0);
    f->quic_port = ho_server_quic_port(f->srv);
    io_test_thread_hook = enroll_io_thread;
    return ho_server_start(f->srv) == HO_OK;
}

static void fixture_stop(fixture *f)
{
    ho_mem_fault_arm(0);
    if (f->srv != NULL) {
        ho_server_stop(f->srv);
        ho_server_free(f->srv);
    }
    io_test_thread_hook = NULL;
    ho_router_free(f->router);
    ho_tls_config_free(f->tcp_tls);
    ho_tls_config_free(f->quic_tls);
    ho_tls_config_free(f->client_tls);
}

/* Bounded poll: the server has no connection left (it noticed the close). */
static bool wait_idle(const fixture *f)
{
    for (int i = 0; i < 2000; i++) {
        ho_server_stats st;
        ho_server_get_stats(f->srv, &st);
        if (st.active == 0)
            return true;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

/* ---- HTTP/1.1 over TLS, the client side (not enrolled) ---------------- */

typedef enum {
    OUT_OK,       /* 200 with the body */
    OUT_ALERT80,  /* the server sent internal_error */
    OUT_DROPPED,  /* closed (EOF or reset) without an alert */
    OUT_UNREADABLE, /* the alert came under a key the client cannot use */
    OUT_BAD_SHARE,  /* illegal_parameter: see below */
    OUT_OTHER,    /* anything else: a failure of the test */
} outcome;

static const char *const outcome_names[] = {"ok", "internal_error", "dropped", "unreadable alert", "illegal_parameter",
                                             "other"};

static bool send_out(int fd, ho_tls_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c);
    while (out->len > 0) {
        ssize_t n = send(fd, out->data, out->len, MSG_NOSIGNAL);
        if (n <= 0)
            return false;
        ho_buf_consume(out, (size_t)n);
    }
    return true;
}

static outcome tcp_exchange(const fixture *f, int *detail)
{
    *detail = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->tcp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return OUT_OTHER;
    }
    ho_tls_conn *c = ho_tls_conn_new(f->client_tls, "localhost");
    outcome res = OUT_OTHER;
    bool sent_request = false;
    uint8_t buf[16384];
    if (c == NULL || ho_tls_conn_start(c) != HO_OK || !send_out(fd, c))
        goto done;
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno == ECONNRESET)) {
            res = OUT_DROPPED;
            break;
        }
        if (n < 0) {
            *detail = errno;
            break; /* a timeout: the server hung */
        }
        int err = ho_tls_conn_receive(c, buf, (size_t)n);
        if (err == HO_ERR_TLS_PEER_ALERT(HO_ALERT_INTERNAL_ERROR)) {
            res = OUT_ALERT80;
            break;
        }
        if (err == HO_ERR_TLS_PEER_ALERT(HO_ALERT_ILLEGAL_PARAMETER)) {
            res = OUT_BAD_SHARE;
            break;
        }
        if (err != HO_OK) {
            /* Our client refused what came: the server's internal_error sealed
             * under a key the client no longer reads with (installing the
             * server's next write key is what failed), or sent in the clear
             * after ServerHello. The connection ends either way. */
            *detail = err;
            if (err == HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC) || err == HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE))
                res = OUT_UNREADABLE;
            break;
        }
        if (!sent_request && ho_tls_conn_handshake_done(c)) {
            static const char req[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
            if (ho_tls_conn_write(c, req, sizeof(req) - 1) != HO_OK)
                break;
            sent_request = true;
        }
        if (!send_out(fd, c))
            break;
        ho_buf *in = ho_tls_conn_app_in(c);
        size_t body = sizeof(hello_body) - 1;
        if (in->len >= body && memcmp(in->data + in->len - body, hello_body, body) == 0) {
            res = in->len > 12 && memcmp(in->data, "HTTP/1.1 200", 12) == 0 ? OUT_OK : OUT_OTHER;
            (void)ho_tls_conn_close(c);
            (void)send_out(fd, c);
            break;
        }
    }
done:
    ho_tls_conn_free(c);
    close(fd);
    return res;
}

static void test_alloc_sweep_tcp(void)
{
    fixture f;
    bool up = fixture_start(&f, 0, 0);
    CHECK(up);
    if (!up) {
        fixture_stop(&f);
        return;
    }
    int detail;
    CHECK_EQ(tcp_exchange(&f, &detail), OUT_OK); /* unarmed: works */
    CHECK(wait_idle(&f));
    unsigned counts[6] = {0};
    uint64_t n = 1, total = 0;
    for (; n < 100000; n++) {
        ho_mem_fault_arm(n);
        outcome o = tcp_exchange(&f, &detail);
        bool idle = wait_idle(&f);
        total = ho_mem_fault_counted();
        ho_mem_fault_arm(0);
        bool fired = ho_mem_fault_take_fired();
        CHECK(idle);
        if (!fired) {
            CHECK_EQ(o, OUT_OK);
            break;
        }
        counts[o]++;
        if (o == OUT_OTHER) {
            fprintf(stderr, "tcp: allocation %llu failed: unexpected outcome (detail %d)\n", (unsigned long long)n,
                    detail);
            CHECK(o != OUT_OTHER);
        }
        /* The server keeps serving. */
        outcome after = tcp_exchange(&f, &detail);
        if (after != OUT_OK)
            fprintf(stderr, "tcp: after allocation %llu failed, a clean connection got %s\n", (unsigned long long)n,
                    outcome_names[after]);
        CHECK_EQ(after, OUT_OK);
        CHECK(wait_idle(&f));
    }
    CHECK(n < 100000);
    printf("tcp: swept N = 1..%llu (%llu allocations in a clean run): %u ok, %u internal_error, %u dropped, "
           "%u unreadable alert, %u illegal_parameter, %u other\n",
           (unsigned long long)(n - 1), (unsigned long long)total, counts[OUT_OK], counts[OUT_ALERT80],
           counts[OUT_DROPPED], counts[OUT_UNREADABLE], counts[OUT_BAD_SHARE], counts[OUT_OTHER]);
    fixture_stop(&f);
}

/* ---- HTTP/3 over QUIC -------------------------------------------------- */

/* RFC 9114 §8.1, RFC 9000 §20.1, and RFC 9001 §4.8: TLS's internal_error
 * (a failure inside the handshake) as CRYPTO_ERROR 0x100 + 80. */
enum { H3_INTERNAL_ERROR = 0x102, QUIC_INTERNAL_ERROR = 0x1, QUIC_CRYPTO_INTERNAL_ERROR = 0x150,
       QUIC_CRYPTO_ILLEGAL_PARAMETER = 0x12f };

static outcome quic_exchange(const fixture *f, int *detail)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)f->quic_port);
    ho_h3_fetch_opts o = {.host = "127.0.0.1", .port = port, .server_name = "localhost", .insecure = true,
                          .timeout_ms = 10000};
    const char *paths[] = {"/hello"};
    ho_h3_response r;
    ho_h3_fetch_info info;
    memset(&r, 0, sizeof(r));
    int rc = ho_h3_fetch_many(&o, paths, 1, &r, &info);
    *detail = rc;
    outcome res = OUT_OTHER;
    if (rc == HO_OK && r.status == 200 && r.body.len == sizeof(hello_body) - 1 &&
        memcmp(r.body.data, hello_body, r.body.len) == 0)
        res = OUT_OK;
    else if (rc == HO_OK && r.status == 500)
        res = OUT_ALERT80; /* the handler ran out of memory: 500, the connection kept */
    else if (info.closed && info.close_by_peer &&
             ((!info.close_is_app &&
               (info.close_code == QUIC_INTERNAL_ERROR || info.close_code == QUIC_CRYPTO_INTERNAL_ERROR)) ||
              (info.close_is_app && info.close_code == H3_INTERNAL_ERROR)))
        res = OUT_ALERT80;
    else if (r.reset && r.reset_code == H3_INTERNAL_ERROR)
        res = OUT_ALERT80; /* the request refused, the connection kept */
    else if (info.closed && info.close_by_peer && !info.close_is_app && info.close_code == QUIC_CRYPTO_ILLEGAL_PARAMETER)
        res = OUT_BAD_SHARE;
    if (res == OUT_OTHER)
        fprintf(stderr, "quic: rc %d (%s), status %d, closed %d app %d by_peer %d code 0x%llx '%s'\n", rc,
                ho_err_str(rc), r.status, info.closed, info.close_is_app, info.close_by_peer,
                (unsigned long long)info.close_code, info.close_reason);
    ho_buf_free(&r.body);
    return res;
}

static void test_alloc_sweep_quic(void)
{
    fixture f;
    bool up = fixture_start(&f, 0, 0);
    CHECK(up);
    if (!up) {
        fixture_stop(&f);
        return;
    }
    int detail;
    CHECK_EQ(quic_exchange(&f, &detail), OUT_OK);
    unsigned counts[6] = {0};
    uint64_t n = 1, total = 0;
    for (; n < 100000; n++) {
        ho_mem_fault_arm(n);
        outcome o = quic_exchange(&f, &detail);
        total = ho_mem_fault_counted();
        ho_mem_fault_arm(0);
        bool fired = ho_mem_fault_take_fired();
        if (!fired) {
            CHECK_EQ(o, OUT_OK);
            break;
        }
        counts[o]++;
        if (o == OUT_OTHER) {
            fprintf(stderr, "quic: allocation %llu failed: unexpected outcome\n", (unsigned long long)n);
            CHECK(o != OUT_OTHER);
        }
        outcome after = quic_exchange(&f, &detail);
        if (after != OUT_OK)
            fprintf(stderr, "quic: after allocation %llu failed, a clean connection got %s\n",
                    (unsigned long long)n, outcome_names[after]);
        CHECK_EQ(after, OUT_OK);
    }
    CHECK(n < 100000);
    printf("quic: swept N = 1..%llu (%llu allocations in a clean run): %u ok, %u internal_error, %u dropped, "
           "%u illegal_parameter, %u other\n",
           (unsigned long long)(n - 1), (unsigned long long)total, counts[OUT_OK], counts[OUT_ALERT80],
           counts[OUT_DROPPED], counts[OUT_BAD_SHARE], counts[OUT_OTHER]);
    fixture_stop(&f);
}

/* ---- descriptor exhaustion --------------------------------------------- */

/* A keep-alive TLS client that sends requests one at a time. */
typedef struct tls_client {
    int fd;
    ho_tls_conn *tls;
} tls_client;

/* Reads until the next response to GET /hello is complete. */
static outcome client_read_response(tls_client *cl)
{
    uint8_t buf[16384];
    ho_buf *in = ho_tls_conn_app_in(cl->tls);
    size_t body = sizeof(hello_body) - 1;
    for (;;) {
        if (in->len >= body && memcmp(in->data + in->len - body, hello_body, body) == 0) {
            outcome o = in->len > 12 && memcmp(in->data, "HTTP/1.1 200", 12) == 0 ? OUT_OK : OUT_OTHER;
            ho_buf_consume(in, in->len);
            return o;
        }
        ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
        if (n <= 0 || ho_tls_conn_receive(cl->tls, buf, (size_t)n) != HO_OK || !send_out(cl->fd, cl->tls))
            return OUT_OTHER;
    }
}

static bool client_open_sni(tls_client *cl, const fixture *f, const char *sni)
{
    cl->tls = NULL;
    cl->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (cl->fd < 0)
        return false;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->tcp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {10, 0};
    setsockopt(cl->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    cl->tls = ho_tls_conn_new(f->client_tls, sni);
    if (connect(cl->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || cl->tls == NULL ||
        ho_tls_conn_start(cl->tls) != HO_OK || !send_out(cl->fd, cl->tls))
        return false;
    uint8_t buf[16384];
    while (!ho_tls_conn_handshake_done(cl->tls)) {
        ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
        if (n <= 0 || ho_tls_conn_receive(cl->tls, buf, (size_t)n) != HO_OK || !send_out(cl->fd, cl->tls))
            return false;
    }
    return true;
}

static bool client_open(tls_client *cl, const fixture *f) { return client_open_sni(cl, f, "localhost"); }

static outcome client_get(tls_client *cl)
{
    static const char req[] = "GET /hello HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (ho_tls_conn_write(cl->tls, req, sizeof(req) - 1) != HO_OK || !send_out(cl->fd, cl->tls))
        return OUT_OTHER;
    return client_read_response(cl);
}

static void client_close(tls_client *cl)
{
    ho_tls_conn_free(cl->tls);
    if (cl->fd >= 0)
        close(cl->fd);
    cl->fd = -1;
    cl->tls = NULL;
}

/* The I/O thread's id, by its name (ho-io-0). */
static int io_thread_tid_once(void)
{
    DIR *d = opendir("/proc/self/task");
    int tid = -1;
    for (struct dirent *e; d != NULL && tid < 0 && (e = readdir(d)) != NULL;) {
        char path[300], comm[32] = "";
        snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
        FILE *fp = fopen(path, "r");
        if (fp == NULL)
            continue;
        if (fgets(comm, sizeof(comm), fp) != NULL && strncmp(comm, "ho-io-0", 7) == 0)
            tid = atoi(e->d_name);
        fclose(fp);
    }
    if (d != NULL)
        closedir(d);
    return tid;
}

/* Bounded poll: the thread names itself once it runs. */
static int io_thread_tid(void)
{
    for (int i = 0; i < 2000; i++) {
        int tid = io_thread_tid_once();
        if (tid > 0)
            return tid;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* utime + stime of a thread, in clock ticks, from its /proc stat file
 * opened beforehand (at the limit, nothing can be opened). */
static long thread_cpu_ticks(int statfd)
{
    char line[1024];
    ssize_t n = pread(statfd, line, sizeof(line) - 1, 0);
    long ticks = -1;
    if (n > 0) {
        line[n] = '\0';
        const char *p = strrchr(line, ')'); /* the name may hold spaces */
        unsigned long ut = 0, st = 0;
        /* after ")": state(3) ... utime(14) stime(15) */
        if (p != NULL && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            ticks = (long)(ut + st);
    }
    return ticks;
}

static int highest_fd(void)
{
    DIR *d = opendir("/proc/self/fd");
    int hi = -1;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && atoi(e->d_name) > hi)
            hi = atoi(e->d_name);
    if (d != NULL)
        closedir(d);
    return hi;
}

static uint64_t stat_accept_emfile(const fixture *f)
{
    ho_server_stats st;
    ho_server_get_stats(f->srv, &st);
    return st.accept_emfile;
}

/* At the descriptor limit the listener must not spin (level-triggered
 * epoll reports the pending connection again and again), an established
 * connection goes on being served, and accepting resumes once descriptors
 * free up. Client and server share this process's limit. */
static void test_fd_exhaustion(void)
{
    fixture f;
    bool up = fixture_start(&f, 120000, 0); /* the filler connections never send a ClientHello */
    CHECK(up);
    tls_client keep = {.fd = -1};
    CHECK(up && client_open(&keep, &f));
    CHECK_EQ(client_get(&keep), OUT_OK);
    int tid = io_thread_tid();
    CHECK(tid > 0);
    char stat_path[64];
    snprintf(stat_path, sizeof(stat_path), "/proc/self/task/%d/stat", tid);
    int statfd = open(stat_path, O_RDONLY | O_CLOEXEC);
    CHECK(statfd >= 0);

    struct rlimit old, low;
    CHECK(getrlimit(RLIMIT_NOFILE, &old) == 0);
    low = old;
    low.rlim_cur = (rlim_t)highest_fd() + 1 + 64;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    /* Holes below the highest descriptor (closed by earlier tests) fill first. */
    enum { MAX_FILL = 8192 };
    static int fill[MAX_FILL];
    int nfill = 0;
    int spare = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CHECK(spare >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f.tcp_port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Connect until this process has no descriptor left ... */
    while (nfill < MAX_FILL) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            break;
        fill[nfill++] = fd;
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
            break;
    }
    CHECK(nfill > 0 && nfill < MAX_FILL);
    /* ... then one more, whose accept finds none. (If the server's accept
     * took the spare descriptor first, a connection was already pending.) */
    close(spare);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && nfill < MAX_FILL) {
        fill[nfill++] = fd;
        CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    }
    bool exhausted = false;
    for (int i = 0; i < 2000 && !exhausted; i++) {
        exhausted = stat_accept_emfile(&f) > 0;
        if (!exhausted) {
            struct timespec ts = {0, 5 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(exhausted);

    /* The I/O thread's CPU over a one-second window while exhausted: a
     * spinning loop takes all of it; pausing takes a few accept calls. */
    long t0 = thread_cpu_ticks(statfd);
    struct timespec w0, w1;
    clock_gettime(CLOCK_MONOTONIC, &w0);
    struct timespec window = {1, 0};
    nanosleep(&window, NULL);
    /* An established connection is served meanwhile. */
    CHECK_EQ(client_get(&keep), OUT_OK);
    clock_gettime(CLOCK_MONOTONIC, &w1);
    long t1 = thread_cpu_ticks(statfd);
    double wall = (double)(w1.tv_sec - w0.tv_sec) + (double)(w1.tv_nsec - w0.tv_nsec) / 1e9;
    double cpu = (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK);
    uint64_t pauses = stat_accept_emfile(&f);
    printf("fd exhaustion: %d filler connections, I/O thread CPU %.2f s over %.2f s, accept_emfile %llu\n", nfill,
           cpu, wall, (unsigned long long)pauses);
    CHECK(t0 >= 0 && t1 >= 0);
    CHECK(cpu < 0.25 * wall);
    /* Back-off of 100 ms: about ten retries a second, not thousands. */
    CHECK(pauses < 100);

    /* Descriptors free up: accepting resumes, a new connection is served. */
    for (int i = 0; i < nfill; i++)
        close(fill[i]);
    tls_client fresh = {.fd = -1};
    CHECK(client_open(&fresh, &f));
    CHECK_EQ(client_get(&fresh), OUT_OK);
    client_close(&fresh);
    CHECK(setrlimit(RLIMIT_NOFILE, &old) == 0);
    ho_buf json;
    ho_buf_init(&json);
    ho_server_stats st;
    ho_server_get_stats(f.srv, &st);
    ho_server_stats_json(&st, &json);
    ho_put_u8(&json, 0);
    CHECK(strstr((const char *)json.data, "\"accept_emfile\":") != NULL);
    ho_buf_free(&json);
    client_close(&keep);
    close(statfd);
    fixture_stop(&f);
}

/* ---- ENOBUFS / EAGAIN on UDP sends, short TCP writes ------------------ */

/* GET path on a keep-alive client; the body (Content-Length framed) into *body. */
static bool client_get_body(tls_client *cl, const char *path, ho_buf *body)
{
    char req[128];
    int rl = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    if (ho_tls_conn_write(cl->tls, req, (size_t)rl) != HO_OK || !send_out(cl->fd, cl->tls))
        return false;
    ho_buf *in = ho_tls_conn_app_in(cl->tls);
    uint8_t buf[16384];
    for (;;) {
        const uint8_t *end = in->len >= 4 ? memmem(in->data, in->len, "\r\n\r\n", 4) : NULL;
        if (end != NULL) {
            size_t head = (size_t)(end - in->data) + 4;
            const char *cl_field = memmem(in->data, head, "Content-Length: ", 16);
            if (cl_field == NULL || memcmp(in->data, "HTTP/1.1 200", 12) != 0)
                return false;
            size_t want = strtoul(cl_field + 16, NULL, 10);
            if (in->len >= head + want) {
                ho_put_bytes(body, in->data + head, want);
                ho_buf_consume(in, head + want);
                return !body->failed;
            }
        }
        ssize_t n = recv(cl->fd, buf, sizeof(buf), 0);
        if (n <= 0 || ho_tls_conn_receive(cl->tls, buf, (size_t)n) != HO_OK || !send_out(cl->fd, cl->tls))
            return false;
    }
}

/* Collects a download; arms the UDP faults once the first bytes arrived
 * (after the handshake: refused handshake flights would only test the
 * exponential PTO back-off, against the amplification limit). */
typedef struct sink {
    ho_buf body;
    int arm;
} sink;

static int sink_body(void *ctx, const ho_h3_response *r, const uint8_t *data, size_t len)
{
    (void)r;
    sink *k = ctx;
    if (k->arm > 0) {
        atomic_store(&io_fault_udp_sends, k->arm);
        k->arm = 0;
    }
    ho_put_bytes(&k->body, data, len);
    return k->body.failed ? -1 : 0;
}

/* The next K sends of the server fail or are short: responses still arrive
 * byte for byte, and the I/O thread does not spin meanwhile. */
static void test_send_faults(void)
{
    fixture f;
    bool up = fixture_start(&f, 0, 0);
    CHECK(up);
    int tid = io_thread_tid();
    char stat_path[64];
    snprintf(stat_path, sizeof(stat_path), "/proc/self/task/%d/stat", tid);
    int statfd = open(stat_path, O_RDONLY | O_CLOEXEC);
    CHECK(statfd >= 0);
    tls_client cl = {.fd = -1};
    CHECK(up && client_open(&cl, &f));
    /* TCP: short writes and EAGAIN, on a body by reference and a copied one. */
    const char *const paths[] = {"/big", "/copy"};
    const size_t lens[] = {BIG_LEN, COPY_LEN};
    enum { TCP_FAULTS = 4000, UDP_FAULTS = 400 };
    for (int i = 0; i < 2; i++) {
        ho_buf body;
        ho_buf_init(&body);
        long t0 = thread_cpu_ticks(statfd);
        atomic_store(&io_fault_tcp_sends, TCP_FAULTS);
        bool got = client_get_body(&cl, paths[i], &body);
        int left = atomic_exchange(&io_fault_tcp_sends, 0);
        double cpu = (double)(thread_cpu_ticks(statfd) - t0) / (double)sysconf(_SC_CLK_TCK);
        CHECK(got);
        CHECK_EQ(body.len, lens[i]);
        CHECK(body.len == lens[i] && memcmp(body.data, big_body, lens[i]) == 0);
        printf("tcp %s: %zu bytes byte-exact through %d short writes and %d EAGAINs, I/O thread CPU %.2f s\n",
               paths[i], body.len, (TCP_FAULTS - left) / 2, (TCP_FAULTS - left) / 2, cpu);
        CHECK_EQ(left, 0); /* every fault was taken: the body needs more sends */
        CHECK(cpu < 2.0);
        ho_buf_free(&body);
    }
    /* Still a working keep-alive connection. */
    CHECK_EQ(client_get(&cl), OUT_OK);
    client_close(&cl);

    /* QUIC: datagrams refused with ENOBUFS / EAGAIN are lost; loss recovery
     * brings the download through. */
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)f.quic_port);
    sink k = {.arm = UDP_FAULTS};
    ho_buf_init(&k.body);
    ho_h3_fetch_opts o = {.host = "127.0.0.1", .port = port, .server_name = "localhost", .insecure = true,
                          .timeout_ms = 20000, .path = "/big", .on_body = sink_body, .body_ctx = &k};
    ho_h3_response r;
    memset(&r, 0, sizeof(r));
    long t0 = thread_cpu_ticks(statfd);
    int rc = ho_h3_fetch(&o, &r);
    int left = atomic_exchange(&io_fault_udp_sends, 0);
    CHECK_EQ(left, 0); /* every fault was taken */
    double cpu = (double)(thread_cpu_ticks(statfd) - t0) / (double)sysconf(_SC_CLK_TCK);
    CHECK_EQ(rc, HO_OK);
    CHECK_EQ(r.status, 200);
    CHECK_EQ(k.body.len, BIG_LEN);
    CHECK(k.body.len == BIG_LEN && memcmp(k.body.data, big_body, BIG_LEN) == 0);
    CHECK(k.arm == 0);
    CHECK(cpu < 2.0);
    printf("quic /big: %zu bytes byte-exact through %d refused sendmmsg calls (ENOBUFS, EAGAIN) of %d, "
           "I/O thread CPU %.2f s\n",
           k.body.len, (UDP_FAULTS - left) * 3 / 4, UDP_FAULTS - left, cpu);
    ho_buf_free(&k.body);
    ho_buf_free(&r.body);
    if (statfd >= 0)
        close(statfd);
    fixture_stop(&f);
}

/* ---- a slow worker step ------------------------------------------------ */

typedef struct slow_conn {
    const fixture *f;
    bool tcp_ok, quic_ok;
} slow_conn;

static void *slow_tcp(void *arg)
{
    slow_conn *sc = arg;
    tls_client cl = {.fd = -1};
    sc->tcp_ok = client_open_sni(&cl, sc->f, "slow.test") && client_get(&cl) == OUT_OK;
    client_close(&cl);
    return NULL;
}

static void *slow_quic(void *arg)
{
    slow_conn *sc = arg;
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)sc->f->quic_port);
    ho_h3_fetch_opts o = {.host = "127.0.0.1", .port = port, .server_name = "slow.test", .insecure = true,
                          .timeout_ms = 20000, .path = "/hello"};
    ho_h3_response r;
    memset(&r, 0, sizeof(r));
    sc->quic_ok = ho_h3_fetch(&o, &r) == HO_OK && r.status == 200;
    ho_buf_free(&r.body);
    return NULL;
}

static bool wait_slow_running(void)
{
    for (int i = 0; i < 4000 && !atomic_load(&slow_running); i++) {
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return atomic_load(&slow_running) != 0;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A handshake step that takes seconds on a worker (a ClientHello callback
 * that sleeps): the I/O thread goes on serving established connections
 * (TCP: 20 requests on a keep-alive connection) and other handshakes on the
 * other worker (QUIC: a whole connection with 20 requests). */
static void test_slow_step(void)
{
    fixture f;
    bool up = fixture_start(&f, 0, 2);
    CHECK(up);
    tls_client keep = {.fd = -1};
    CHECK(up && client_open(&keep, &f));
    CHECK_EQ(client_get(&keep), OUT_OK);
    atomic_store(&slow_done, 0);

    slow_conn sc = {.f = &f};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, slow_tcp, &sc) == 0);
    CHECK(wait_slow_running());
    double worst = 0, t0 = mono_s();
    int ok = 0;
    for (int i = 0; i < 20; i++) {
        double a = mono_s();
        ok += client_get(&keep) == OUT_OK;
        double d = mono_s() - a;
        worst = d > worst ? d : worst;
    }
    double took = mono_s() - t0;
    bool during = atomic_load(&slow_running) != 0 && atomic_load(&slow_done) == 0;
    CHECK_EQ(ok, 20);
    CHECK(during); /* all 20 answered while the step was still running */
    CHECK(worst < 1.0);
    pthread_join(th, NULL);
    CHECK(sc.tcp_ok); /* the slow handshake itself completes */
    printf("tcp: 20 requests in %.3f s (slowest %.1f ms) during a %d ms worker step\n", took, worst * 1000,
           SLOW_MS);
    ho_server_stats st;
    ho_server_get_stats(f.srv, &st);
    CHECK(st.served_during_offload >= 20);

    /* QUIC: the slow step holds one worker; a whole connection with 20
     * requests goes through the other meanwhile. */
    atomic_store(&slow_done, 0);
    CHECK(pthread_create(&th, NULL, slow_quic, &sc) == 0);
    CHECK(wait_slow_running());
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)f.quic_port);
    ho_h3_fetch_opts o = {.host = "127.0.0.1", .port = port, .server_name = "localhost", .insecure = true,
                          .timeout_ms = 10000};
    const char *paths[20];
    for (int i = 0; i < 20; i++)
        paths[i] = "/hello";
    ho_h3_response rs[20];
    memset(rs, 0, sizeof(rs));
    t0 = mono_s();
    int rc = ho_h3_fetch_many(&o, paths, 20, rs, NULL);
    took = mono_s() - t0;
    during = atomic_load(&slow_running) != 0 && atomic_load(&slow_done) == 0;
    CHECK_EQ(rc, HO_OK);
    ok = 0;
    for (int i = 0; i < 20; i++) {
        ok += rs[i].status == 200 && rs[i].body.len == sizeof(hello_body) - 1;
        ho_buf_free(&rs[i].body);
    }
    CHECK_EQ(ok, 20);
    CHECK(during);
    pthread_join(th, NULL);
    CHECK(sc.quic_ok);
    printf("quic: a connection with 20 requests in %.3f s during a %d ms worker step\n", took, SLOW_MS);
    client_close(&keep);
    fixture_stop(&f);
}

/* The sweep covers every allocation only if src/ allocates through
 * base/mem.h: no direct malloc, calloc, realloc, strdup or free. */
static void test_no_direct_alloc(void)
{
    const char *src = getenv("HO_SRC");
    CHECK(src != NULL);
    if (src == NULL)
        return;
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "grep -rnE '(^|[^_a-zA-Z0-9>.])(malloc|calloc|realloc|strdup|strndup|free)\\(' '%s/src' "
             "--include='*.c' --include='*.h' | grep -v '/src/base/mem\\.c:'",
             src);
    FILE *p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p == NULL)
        return;
    char line[512];
    int hits = 0;
    while (fgets(line, sizeof(line), p) != NULL) {
        fprintf(stderr, "direct allocation (use base/mem.h): %s", line);
        hits++;
    }
    pclose(p);
    CHECK_EQ(hits, 0);
}

/* OpenSSL's allocations go through the same hook (installed by this test
 * only: the library leaves OpenSSL's allocator to the application). */
static void *ossl_malloc(size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return ho_mem_alloc(n);
}
static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    return ho_mem_realloc(p, n);
}
static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    ho_mem_free(p);
}

int main(void)
{
    /* Before OpenSSL allocates anything. */
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "CRYPTO_set_mem_functions refused\n");
        return 1;
    }
    RUN(test_no_direct_alloc);
    RUN(test_alloc_sweep_tcp);
    RUN(test_alloc_sweep_quic);
    RUN(test_fd_exhaustion);
    RUN(test_send_faults);
    RUN(test_slow_step);
    return ho_test_summary("test_faults");
}
