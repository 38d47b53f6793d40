/*
 * async_sni — an HTTPS server (HTTP/1.1 over TLS 1.3 on TCP, HTTP/3 over
 * QUIC on the same port number in UDP) that gets each server name's
 * certificate asynchronously, the way a server backed by a certificate
 * store would, and keeps it in a cache.
 *
 *   async_sni [PORT [DELAY_MS]]
 *
 * PORT 0 (the default) lets the kernel pick; the TCP port is printed on
 * stdout, then the UDP one (the same when PORT was given).
 * DELAY_MS (default 200) is how long the loader takes to "fetch" a
 * certificate. GET / answers with the name and whether it was a cache hit.
 * SIGINT/SIGTERM stop it.
 *
 * How it works (all public API; docs/ENGINE.md "Asynchronous callbacks"):
 *   - the ClientHello callback looks the name up in the cache: a hit sets
 *     that name's configuration at once (ho_tls_set_config) and the
 *     handshake goes on synchronously;
 *   - a miss hands the handshake to the loader thread and answers
 *     HO_ERR_WANT_ASYNC: the connection waits, holding no thread, while
 *     the I/O thread serves the others;
 *   - the loader, after its delay, makes the certificate (here a fresh
 *     self-signed one for the name), puts it in the cache and calls
 *     ho_tls_resume(tls, cfg, HO_OK) from its own thread; the server is
 *     woken and continues that handshake on its I/O thread (over QUIC,
 *     the connection's datagrams wait in its queue meanwhile).
 *   - a name has one configuration per transport: over QUIC it offers
 *     ALPN "h3" and carries the transport parameters extension
 *     (ho_quic_tls_config_prepare), which a TCP handshake must not see.
 * Every miss is completed (ho_tls_resume) even at shutdown: a connection
 * whose callback is out is freed only once the application lets go of it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handoff/crypto.h"
#include "handoff/http.h"
#include "handoff/http_server.h"
#include "handoff/io.h"
#include "handoff/quic.h"
#include "handoff/tls.h"

enum { CACHE_MAX = 64, QUEUE_MAX = 256 };

enum { TCP, QUIC };

typedef struct entry {
    char name[256];
    ho_tls_config *cfg[2]; /* [TCP], [QUIC] */
} entry;

typedef struct job {
    ho_tls *tls;
    int transport;
    char name[256];
} job;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    entry cache[CACHE_MAX];
    size_t ncache;
    job queue[QUEUE_MAX];
    size_t head, count;
    bool stopping;
    int delay_ms;
    unsigned long hits, misses;
} g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER, .delay_ms = 200};

static const char *const alpn[2] = {"http/1.1", "h3"};
static int transports[2] = {TCP, QUIC}; /* the callbacks' ctx */

/* A QUIC configuration handed over by ho_tls_resume / ho_tls_set_config
 * must carry the transport parameters extension: prepare it (the server
 * prepares the one of its listen spec itself). */
static ho_tls_config *config_for(const char *name, int transport, bool prepare)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate(name, 30, &key, &chain) != HO_OK)
        return NULL;
    ho_tls_config *cfg = ho_tls_config_new(true);
    if (cfg == NULL || ho_tls_config_add_cert(cfg, &chain, key) != HO_OK) {
        ho_tls_config_free(cfg);
        return NULL;
    }
    ho_tls_config_set_alpn(cfg, &alpn[transport], 1);
    if (transport == QUIC && prepare && ho_quic_tls_config_prepare(cfg) != HO_OK) {
        ho_tls_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* Under g.lock. */
static entry *cache_find(const char *name)
{
    for (size_t i = 0; i < g.ncache; i++)
        if (strcmp(g.cache[i].name, name) == 0)
            return &g.cache[i];
    return NULL;
}

/* On an I/O thread, or a handshake worker (--offload): ctx names the
 * transport. */
static int client_hello(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch)
{
    int transport = *(const int *)ctx;
    if (ch->server_name == NULL || strlen(ch->server_name) >= sizeof(g.cache[0].name))
        return HO_OK; /* the default certificate */
    pthread_mutex_lock(&g.lock);
    entry *e = cache_find(ch->server_name);
    if (e != NULL) {
        g.hits++;
        pthread_mutex_unlock(&g.lock);
        return ho_tls_set_config(tls, e->cfg[transport]); /* a hit: synchronous */
    }
    if (!ho_tls_async_supported(tls) || g.count == QUEUE_MAX || g.stopping) {
        pthread_mutex_unlock(&g.lock);
        return HO_OK; /* cannot wait here: the default certificate */
    }
    g.misses++;
    job *j = &g.queue[(g.head + g.count++) % QUEUE_MAX];
    j->tls = tls;
    j->transport = transport;
    snprintf(j->name, sizeof(j->name), "%s", ch->server_name);
    pthread_cond_signal(&g.cond);
    pthread_mutex_unlock(&g.lock);
    return HO_ERR_WANT_ASYNC;
}

/* The loader thread: "fetches" a certificate per miss. */
static void *loader(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.lock);
    for (;;) {
        while (g.count == 0 && !g.stopping)
            pthread_cond_wait(&g.cond, &g.lock);
        if (g.count == 0)
            break; /* stopping, and every miss answered */
        job j = g.queue[g.head];
        g.head = (g.head + 1) % QUEUE_MAX;
        g.count--;
        entry *e = cache_find(j.name);
        ho_tls_config *cfg = e != NULL ? e->cfg[j.transport] : NULL;
        bool stopping = g.stopping;
        pthread_mutex_unlock(&g.lock);
        ho_tls_config *made[2] = {NULL, NULL};
        if (cfg == NULL && !stopping) {
            struct timespec ts = {g.delay_ms / 1000, (long)(g.delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL); /* the remote fetch this example stands for */
            made[TCP] = config_for(j.name, TCP, false);
            made[QUIC] = config_for(j.name, QUIC, true);
        }
        pthread_mutex_lock(&g.lock);
        if (made[TCP] != NULL && made[QUIC] != NULL && cache_find(j.name) == NULL && g.ncache < CACHE_MAX) {
            entry *n = &g.cache[g.ncache++];
            snprintf(n->name, sizeof(n->name), "%s", j.name);
            n->cfg[TCP] = made[TCP];
            n->cfg[QUIC] = made[QUIC];
            cfg = made[j.transport];
        } else if (made[TCP] != NULL || made[QUIC] != NULL) {
            ho_tls_config_free(made[TCP]); /* full (this handshake fails), or cached meanwhile */
            ho_tls_config_free(made[QUIC]);
            e = cache_find(j.name);
            cfg = e != NULL ? e->cfg[j.transport] : NULL;
        }
        pthread_mutex_unlock(&g.lock);
        /* From this thread: the server continues on its own. */
        ho_tls_resume(j.tls, cfg, cfg != NULL ? HO_OK : HO_ERR_TLS_ALERT(HO_ALERT_UNRECOGNIZED_NAME));
        pthread_mutex_lock(&g.lock);
    }
    pthread_mutex_unlock(&g.lock);
    return NULL;
}

static int index_page(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    (void)req;
    pthread_mutex_lock(&g.lock);
    unsigned long hits = g.hits, misses = g.misses;
    pthread_mutex_unlock(&g.lock);
    char body[128];
    int n = snprintf(body, sizeof(body), "certificate cache: %lu hits, %lu misses\n", hits, misses);
    resp->content_type = "text/plain";
    ho_put_bytes(resp->body, body, (size_t)n);
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

int main(int argc, char **argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 0;
    if (argc > 2)
        g.delay_ms = atoi(argv[2]);
    signal(SIGPIPE, SIG_IGN);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &mask, NULL); /* every thread started below inherits it */

    ho_tls_config *dflt = config_for("localhost", TCP, false);
    ho_tls_config *qdflt = config_for("localhost", QUIC, false);
    ho_router *router = ho_router_new();
    if (dflt == NULL || qdflt == NULL || router == NULL ||
        ho_router_add(router, "GET", "/", index_page, NULL) != HO_OK)
        return 1;
    ho_tls_callbacks cb = {.client_hello = client_hello, .ctx = &transports[TCP]};
    ho_tls_config_set_callbacks(dflt, &cb);
    ho_tls_callbacks qcb = {.client_hello = client_hello, .ctx = &transports[QUIC]};
    ho_tls_config_set_callbacks(qdflt, &qcb);
    ho_h1_service h1 = {.router = router};
    ho_http_limits_default(&h1.limits);

    ho_server_options o;
    ho_server_options_default(&o);
    ho_server *srv = ho_server_new(&o);
    ho_listen_spec ls = {.bind = "127.0.0.1", .port = (uint16_t)port, .tls = dflt, .handler = &ho_h1_handler,
                         .ctx = &h1};
    if (srv == NULL || ho_server_listen(srv, &ls) != HO_OK) {
        fprintf(stderr, "async_sni: cannot listen on port %d\n", port);
        return 1;
    }
    /* HTTP/3 on the same port number (the kernel's TCP pick when 0). */
    ho_quic_listen_spec qs = {.bind = "127.0.0.1", .port = ho_server_port(srv, 0), .tls = qdflt,
                              .handler = &ho_h3_handler, .ctx = router};
    if (ho_server_listen_quic(srv, &qs) != HO_OK) {
        fprintf(stderr, "async_sni: cannot listen on UDP port %u\n", (unsigned)qs.port);
        return 1;
    }
    pthread_t lt;
    pthread_create(&lt, NULL, loader, NULL);
    if (ho_server_start(srv) != HO_OK)
        return 1;
    printf("%u\n%u\n", (unsigned)ho_server_port(srv, 0), (unsigned)ho_server_quic_port(srv));
    fflush(stdout);

    int sig = 0;
    sigwait(&mask, &sig);
    /* The loader answers what is queued (without fetching) before the
     * server stops: the stop waits for connections whose callback is out. */
    pthread_mutex_lock(&g.lock);
    g.stopping = true;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    ho_server_stop(srv);
    pthread_join(lt, NULL);
    ho_server_free(srv);
    for (size_t i = 0; i < g.ncache; i++) {
        ho_tls_config_free(g.cache[i].cfg[TCP]);
        ho_tls_config_free(g.cache[i].cfg[QUIC]);
    }
    ho_tls_config_free(dflt);
    ho_tls_config_free(qdflt);
    ho_router_free(router);
    return 0;
}
