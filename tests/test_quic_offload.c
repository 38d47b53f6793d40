/* test_quic_offload: the server's QUIC handshake steps on the offload pool
 * (docs/QUIC.md "QUIC handshake offload").
 *
 * Deterministic part: the netsim (virtual time) drives an endpoint whose
 * pool is held (ho_pool_new_held): every step waits until the scenario
 * completes it at a chosen virtual time. Scenarios: offloaded handshakes
 * that succeed; that fail in the step (a refusing on_client_params or
 * on_exporter_secret: the client sees CRYPTO_ERROR 0x100 + the alert; a
 * server without a usable certificate: handshake_failure); steps that come
 * back while the connection's queued datagrams hold a retransmitted
 * ClientHello, after a lost server flight, and 1-RTT packets from a
 * NAT-rebound address (the server migrates after the step); a full queue;
 * a connection and an endpoint freed with a step out; the off and
 * adaptive modes; admission (Retry, then CONNECTION_REFUSED, under load).
 *
 * Threaded part: a pool of 2 workers. The callbacks run on a worker, not
 * the thread that drives the endpoint; a server transport parameter the
 * callback changed is what the client sees; the exporter output is the
 * same on both sides. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>

#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"
#include "quic/transport_error.h"
#include "quic_test_tls.h"
#include "handoff/io.h"

/* ---- the held pool, completed at chosen virtual times ------------------- */

#define MAX_JOBS 16

typedef struct driver {
    ho_pool *pool;
    ho_home *home;
    ho_quic_time delay[MAX_JOBS]; /* per job, in submission order: virtual time out */
    int njobs;                    /* jobs seen */
    ho_job *held[MAX_JOBS];       /* the held jobs we know, by ordinal */
    ho_quic_time seen_at[MAX_JOBS];
    bool completed[MAX_JOBS];
    ho_quic_time completed_at[MAX_JOBS];
    /* scenario hooks */
    void (*on_job_seen)(netsim *ns, int ordinal);
    void (*each_step)(netsim *ns);
} driver;

static driver drv;

static void drive(netsim *ns)
{
    if (drv.each_step != NULL)
        drv.each_step(ns);
    size_t n = ho_pool_held(drv.pool);
    for (size_t k = 0; k < n; k++) {
        ho_job *j = ho_pool_held_job(drv.pool, k);
        bool known = false;
        for (int o = 0; o < drv.njobs; o++)
            if (!drv.completed[o] && drv.held[o] == j)
                known = true;
        if (!known && drv.njobs < MAX_JOBS) {
            int o = drv.njobs++;
            drv.held[o] = j;
            drv.seen_at[o] = ns->now;
            netsim_trace(ns, "step %d held", o);
            if (drv.on_job_seen != NULL)
                drv.on_job_seen(ns, o);
        }
    }
    bool ran = false;
    ns->app_wake = HO_QUIC_TIME_NEVER;
    for (int o = 0; o < drv.njobs; o++) {
        if (drv.completed[o])
            continue;
        ho_quic_time due = drv.seen_at[o] + drv.delay[o];
        if (ns->now >= due) {
            for (size_t k = 0; k < ho_pool_held(drv.pool); k++)
                if (ho_pool_held_job(drv.pool, k) == drv.held[o]) {
                    CHECK(ho_pool_run_held(drv.pool, k));
                    break;
                }
            drv.completed[o] = true;
            drv.completed_at[o] = ns->now;
            netsim_trace(ns, "step %d completed", o);
            ran = true;
        } else if (due < ns->app_wake) {
            ns->app_wake = due;
        }
    }
    if (ran)
        ho_home_drain(drv.home); /* the home thread's eventfd fired */
}

/* A netsim with a held pool (mode: HO_OFFLOAD_*), every step out for
 * `delay` unless the scenario sets drv.delay[] itself. */
static void setup(netsim *ns, const char *name, uint64_t seed, int mode, ho_quic_time delay)
{
    memset(&drv, 0, sizeof(drv));
    drv.pool = ho_pool_new_held();
    drv.home = ho_home_new();
    for (int i = 0; i < MAX_JOBS; i++)
        drv.delay[i] = delay;
    netsim_init(ns, seed, name);
    ns->ecfg.pool = drv.pool;
    ns->ecfg.home = drv.home;
    ns->ecfg.offload = mode;
    ns->app = drive;
}

static void teardown(netsim *ns)
{
    /* The documented order: endpoint, pool (runs what is held), home. */
    netsim_free(ns);
    ho_pool_free(drv.pool);
    ho_home_drain(drv.home);
    CHECK_EQ(ho_home_outstanding(drv.home), 0);
    ho_home_free(drv.home);
}

static ho_quic_endpoint_stats ep_stats(netsim *ns)
{
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(ns->ep, &st);
    return st;
}

static bool xfers_done(netsim *ns) { return netsim_xfers_done(ns); }

/* ---- success ------------------------------------------------------------- */

static void test_offloaded_handshake(void)
{
    netsim ns;
    setup(&ns, "offload-ok", 11, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(5));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    CHECK(netsim_xfer_add(&ns, 0, 20000, 300000, 3) != NULL);
    CHECK(netsim_run(&ns, xfers_done, HO_QUIC_SEC(10)));
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 2); /* ClientHello, client Finished */
    CHECK_EQ(st.steps_inline, 0);
    CHECK_EQ(st.steps_out, 0);
    CHECK_EQ(st.handshakes_in_progress, 0);
    CHECK_EQ(st.step_queue_overflows, 0);
    ho_pool_stats ps;
    ho_pool_get_stats(drv.pool, &ps);
    CHECK_EQ(ps.submitted, 2);
    CHECK_EQ(ps.completed, 2);
    CHECK_EQ(ps.inline_runs, 0);
    CHECK_EQ(ps.depth, 0);
    /* Each step was out 5 ms of virtual time; nothing touched TLS then. */
    CHECK_EQ(drv.completed_at[0] - drv.seen_at[0], HO_QUIC_MS(5));
    CHECK_EQ(st.step_out_ns, 2 * HO_QUIC_MS(5)); /* finished in the same netsim step */
    fprintf(stderr, "offload ok: handshake + 300 kB, steps offloaded %llu, queued %llu\n",
            (unsigned long long)st.steps_offloaded, (unsigned long long)st.step_queued);
    teardown(&ns);
}

/* Compatible version negotiation (RFC 9368) decided inside an offloaded
 * step: the server prefers v2, the client starts in v1 and offers it; the
 * switch and the keys happen on the connection's thread. */
static void test_offloaded_version_switch(void)
{
    netsim ns;
    setup(&ns, "offload-v2-switch", 12, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(5));
    ns.ecfg.conn.versions[0] = HO_QUIC_V2;
    ns.ecfg.conn.versions[1] = HO_QUIC_V1;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    CHECK(netsim_xfer_add(&ns, 0, 20000, 300000, 3) != NULL);
    CHECK(netsim_run(&ns, xfers_done, HO_QUIC_SEC(10)));
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    CHECK_EQ(ho_quic_conn_version(ns.cl[0]), HO_QUIC_V2);
    CHECK(ho_quic_conn_version_switched(ns.cl[0]));
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL && ho_quic_conn_version(s) == HO_QUIC_V2);
    CHECK_EQ(ep_stats(&ns).steps_offloaded, 2);
    teardown(&ns);
}

/* ---- failures inside the step --------------------------------------------- */

static int cb_calls, exp_calls;
static int refuse_params = HO_OK, refuse_exporter = HO_OK;

static int cb_params(void *ctx, uint64_t conn_id, ho_tls *tls, const ho_quic_transport_params *client,
                     ho_quic_transport_params *server)
{
    (void)ctx;
    (void)conn_id;
    (void)tls;
    (void)client;
    (void)server;
    cb_calls++;
    return refuse_params;
}

static int rt_params_inline(void *ctx, uint64_t conn_id, ho_tls *tls, const ho_quic_transport_params *client,
                            ho_quic_transport_params *server)
{
    (void)ctx;
    (void)conn_id;
    (void)tls;
    (void)client;
    server->initial_max_streams_bidi = 5;
    server->initial_max_streams_uni = 3;
    server->initial_max_data = 500000;
    return HO_OK;
}

static int cb_exporter(void *ctx, uint64_t conn_id, ho_tls *tls)
{
    (void)ctx;
    (void)conn_id;
    (void)tls;
    exp_calls++;
    return refuse_exporter;
}

static bool client_closed(netsim *ns) { return ns->cl[0] != NULL && ho_quic_conn_is_closing(ns->cl[0]); }

/* The client's connection ends with the server's CONNECTION_CLOSE of
 * `code`; the server's connection is freed. */
static void refusal_case(const char *name, int params_rc, int exporter_rc, ho_tls_config *srv_tls, uint64_t code)
{
    netsim ns;
    setup(&ns, name, 21, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(2));
    cb_calls = exp_calls = 0;
    refuse_params = params_rc;
    refuse_exporter = exporter_rc;
    ns.ecfg.conn.hs_callbacks = (ho_quic_handshake_callbacks){NULL, cb_params, cb_exporter};
    if (srv_tls != NULL)
        ns.ecfg.conn.tls = srv_tls;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, client_closed, HO_QUIC_SEC(5)));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(ns.cl[0], &is_app, &by_peer), code);
    CHECK(!is_app);
    CHECK(by_peer);
    CHECK(!ho_quic_conn_handshake_done(ns.cl[0]));
    CHECK(netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(10)));
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 1); /* the ClientHello step failed */
    CHECK_EQ(st.freed, 1);
    CHECK_EQ(st.handshakes_in_progress, 0);
    CHECK_EQ(ns.srv_close_code[0], code);
    fprintf(stderr, "%s: client closed with 0x%llx (%s)\n", name, (unsigned long long)code,
            code >= 0x100 ? ho_tls_alert_name((uint8_t)(code - 0x100)) : "?");
    teardown(&ns);
}

static void test_failures_in_step(void)
{
    /* on_client_params refuses: access_denied (49). */
    refusal_case("refuse-params", HO_ERR_TLS_ALERT(HO_ALERT_ACCESS_DENIED), HO_OK, NULL, 0x100 + 49);
    CHECK_EQ(cb_calls, 1);
    CHECK_EQ(exp_calls, 0);
    /* on_exporter_secret refuses: bad_certificate (42), a failed extra
     * certificate check; nothing of the server's flight is sent. */
    refusal_case("refuse-exporter", HO_OK, HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE), NULL, 0x100 + 42);
    CHECK_EQ(cb_calls, 1);
    CHECK_EQ(exp_calls, 1);
    /* A callback error that is no alert is a refusal all the same:
     * handshake_failure, not INTERNAL_ERROR. */
    refusal_case("refuse-nonalert", HO_ERR_INVALID_ARG, HO_OK, NULL, 0x100 + HO_ALERT_HANDSHAKE_FAILURE);
    /* A server with no usable certificate fails in the worker too. */
    ho_tls_config *nocert = ho_tls_config_new(true);
    const char *alpn[] = {"hq-test"};
    ho_tls_config_set_alpn(nocert, alpn, 1);
    ho_quic_tls_config_prepare(nocert);
    refusal_case("no-certificate", HO_OK, HO_OK, nocert, 0x100 + HO_ALERT_HANDSHAKE_FAILURE);
    CHECK_EQ(cb_calls, 0); /* the certificate is chosen before our parameters are built */
    ho_tls_config_free(nocert);
    refuse_params = refuse_exporter = HO_OK;
}

/* Without a pool the callbacks run inside receive, on the endpoint's
 * thread, with the same effects. */
static void test_callbacks_without_pool(void)
{
    netsim ns;
    netsim_init(&ns, 23, "callbacks-inline");
    cb_calls = exp_calls = 0;
    refuse_params = HO_OK;
    refuse_exporter = HO_ERR_TLS_ALERT(HO_ALERT_ACCESS_DENIED);
    ns.ecfg.conn.hs_callbacks = (ho_quic_handshake_callbacks){NULL, cb_params, cb_exporter};
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, client_closed, HO_QUIC_SEC(5)));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(ns.cl[0], &is_app, &by_peer), 0x100 + HO_ALERT_ACCESS_DENIED);
    CHECK(by_peer);
    CHECK_EQ(cb_calls, 1);
    CHECK_EQ(exp_calls, 1);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded + st.steps_inline, 0); /* no step machinery without a pool */
    netsim_free(&ns);
    refuse_exporter = HO_OK;

    netsim_init(&ns, 24, "callbacks-inline-ok");
    ns.ecfg.conn.hs_callbacks = (ho_quic_handshake_callbacks){NULL, rt_params_inline, NULL};
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    CHECK_EQ(ns.cl[0]->peer_max_streams[0], 5);
    CHECK_EQ(ns.cl[0]->peer_max_streams[1], 3);
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    if (s != NULL) {
        CHECK_EQ(s->local_max_streams[0], 5);
        CHECK_EQ(s->rx_max_data, 500000);
    }
    CHECK(ns.cl[0]->tx_max_data == 500000);
    netsim_free(&ns);
}

/* ---- queued datagrams: retransmission, loss, migration -------------------- */

static int sc_lost; /* server datagrams dropped by the filter */

static bool drop_first_flight(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                              uint8_t *ecn)
{
    (void)ctx;
    (void)client;
    (void)d;
    (void)len;
    (void)ecn;
    /* The server's first datagram (Initial + Handshake, after the step). */
    if (dir == NETSIM_S2C && index == 0) {
        sc_lost++;
        return true;
    }
    return false;
}

static bool xfer_started;

static void mig_on_job(netsim *ns, int ordinal)
{
    /* The client's Finished is out on the pool: from now on its datagrams
     * come from another port (a NAT rebinding). */
    if (ordinal == 1) {
        ns->nat_port[0] = 50000;
        netsim_trace(ns, "client 0 rebound to port 50000");
    }
}

static void mig_each(netsim *ns)
{
    /* The client sends 1-RTT data as soon as its side is done. */
    if (!xfer_started && ns->cl[0] != NULL && ho_quic_conn_handshake_done(ns->cl[0])) {
        xfer_started = netsim_xfer_add(ns, 0, 30000, 200000, 9) != NULL;
    }
}

static bool started_and_done(netsim *ns) { return xfer_started && netsim_xfers_done(ns); }

static void test_queue_retransmit_loss_migration(void)
{
    netsim ns;
    setup(&ns, "offload-queue", 31, HO_OFFLOAD_ALWAYS, 0);
    /* The ClientHello step is out 1.5 s: the client's PTO (333 ms initial
     * RTT) resends its Initial meanwhile. The Finished step is out 300 ms,
     * while the client sends 1-RTT data from its new port. */
    drv.delay[0] = HO_QUIC_MS(1500);
    drv.delay[1] = HO_QUIC_MS(300);
    drv.on_job_seen = mig_on_job;
    drv.each_step = mig_each;
    xfer_started = false;
    sc_lost = 0;
    ns.filter = drop_first_flight;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, started_and_done, HO_QUIC_SEC(20)));
    CHECK(xfer_started);
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    CHECK_EQ(sc_lost, 1);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 2);
    CHECK(st.step_queued >= 2);          /* the resent ClientHello, the data from the new port */
    CHECK_EQ(st.step_queue_overflows, 0); /* nothing that fit was dropped */
    CHECK(st.step_queue_ns > 0);
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL);
    if (s != NULL) {
        ho_quic_conn_stats cs;
        ho_quic_conn_get_stats(s, &cs);
        CHECK_EQ(cs.migrations, 1); /* followed the client to port 50000 (RFC 9000 §9.3) */
        CHECK_EQ(ntohs(((const struct sockaddr_in *)&ho_quic_conn_path(s)->remote)->sin_port), 50000);
        CHECK(cs.paths_validated >= 1);
    }
    ho_quic_conn_stats cc;
    ho_quic_conn_get_stats(ns.cl[0], &cc);
    CHECK(cc.pto_count >= 1); /* the client did resend while the step was out */
    fprintf(stderr,
            "offload queue: %llu datagrams queued (%.1f ms in all), client PTOs %llu, server flight lost %d, "
            "server migrated\n",
            (unsigned long long)st.step_queued, (double)st.step_queue_ns / 1e6, (unsigned long long)cc.pto_count,
            sc_lost);
    teardown(&ns);
}

/* A queue of 1: the resent ClientHellos beyond it are counted and dropped;
 * the handshake still completes (the client resends again). */
static void test_queue_overflow(void)
{
    netsim ns;
    setup(&ns, "offload-overflow", 41, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(4500));
    drv.delay[1] = HO_QUIC_MS(1);
    ns.ecfg.step_queue_max = 1;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(20)));
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK(st.step_queue_overflows >= 1);
    CHECK(st.step_queued >= 1);
    fprintf(stderr, "offload overflow: queued %llu, overflowed %llu\n", (unsigned long long)st.step_queued,
            (unsigned long long)st.step_queue_overflows);
    teardown(&ns);
}

/* ---- freed with a step out ------------------------------------------------ */

static bool job_held(netsim *ns)
{
    (void)ns;
    return ho_pool_held(drv.pool) > 0;
}

static void test_freed_with_step_out(void)
{
    /* The connection closes (the application) while its step is out: the
     * endpoint frees it after the closing period; the step's done frees
     * the connection itself. */
    netsim ns;
    setup(&ns, "offload-orphan", 51, HO_OFFLOAD_ALWAYS, HO_QUIC_SEC(60));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, job_held, HO_QUIC_SEC(1)));
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL);
    if (s != NULL)
        CHECK_EQ(ho_quic_conn_close(s, 7, "bye", ns.now), HO_OK);
    ns.app = NULL; /* leave the step out */
    for (int i = 0; i < 200 && netsim_server_conn(&ns, 0) != NULL; i++)
        netsim_run(&ns, NULL, HO_QUIC_MS(100));
    CHECK(netsim_server_conn(&ns, 0) == NULL);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_orphaned, 1);
    CHECK_EQ(st.freed, 1);
    CHECK_EQ(ho_pool_held(drv.pool), 1);
    CHECK(ho_pool_run_held(drv.pool, 0)); /* the worker finishes on a freed connection's TLS */
    CHECK_EQ(ho_home_drain(drv.home), 1); /* done frees it */
    st = ep_stats(&ns);
    CHECK_EQ(st.steps_out, 0);
    teardown(&ns);

    /* The endpoint is freed with a step out (server shutdown). */
    setup(&ns, "offload-shutdown", 52, HO_OFFLOAD_ALWAYS, HO_QUIC_SEC(60));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, job_held, HO_QUIC_SEC(1)));
    CHECK_EQ(ho_pool_held(drv.pool), 1);
    teardown(&ns); /* ASan: no leak, no use after free */

    /* The other order (ho_server_free's): pool, drain, then the endpoint
     * with a step back but not finished. */
    setup(&ns, "offload-shutdown-2", 53, HO_OFFLOAD_ALWAYS, HO_QUIC_SEC(60));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, job_held, HO_QUIC_SEC(1)));
    ho_pool_free(drv.pool);
    CHECK_EQ(ho_home_drain(drv.home), 1);
    CHECK_EQ(ho_quic_endpoint_next_timeout(ns.ep), 0); /* a step waits to be finished */
    netsim_free(&ns);
    ho_home_free(drv.home);
}

/* ---- modes ------------------------------------------------------------------ */

static void test_modes(void)
{
    netsim ns;
    setup(&ns, "offload-off", 61, HO_OFFLOAD_OFF, HO_QUIC_MS(5));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 0);
    CHECK_EQ(st.steps_inline, 2);
    ho_pool_stats ps;
    ho_pool_get_stats(drv.pool, &ps);
    CHECK_EQ(ps.submitted, 0);
    teardown(&ns);

    /* Adaptive: alone on the endpoint, inline; a second handshake while
     * another connection lives goes to the pool. */
    setup(&ns, "offload-adaptive", 62, HO_OFFLOAD_ADAPTIVE, HO_QUIC_MS(5));
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    st = ep_stats(&ns);
    CHECK_EQ(st.steps_inline, 2);
    CHECK_EQ(st.steps_offloaded, 0);
    CHECK(netsim_add_client(&ns) == 1);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5)));
    st = ep_stats(&ns);
    CHECK_EQ(st.steps_inline, 2);
    CHECK_EQ(st.steps_offloaded, 2);
    teardown(&ns);
}

/* ---- admission ------------------------------------------------------------- */

static bool two_done_third_closed(netsim *ns)
{
    ho_quic_conn *a = netsim_server_conn(ns, 0), *b = netsim_server_conn(ns, 1);
    return a != NULL && b != NULL && ho_quic_conn_handshake_confirmed(ns->cl[0]) &&
           ho_quic_conn_handshake_confirmed(ns->cl[1]) && ho_quic_conn_handshake_confirmed(a) &&
           ho_quic_conn_handshake_confirmed(b) && ho_quic_conn_is_closing(ns->cl[2]);
}

static void test_admission(void)
{
    netsim ns;
    /* Steps out 400 ms: the handshakes overlap. Soft limit 1 handshake in
     * progress (Retry), hard cap 2 (CONNECTION_REFUSED). */
    setup(&ns, "admission", 71, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(400));
    ns.ecfg.retry_handshakes = 1;
    ns.ecfg.refuse_handshakes = 2;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, job_held, HO_QUIC_SEC(1)));
    CHECK(netsim_add_client(&ns) == 1); /* gets a Retry, comes back with a token: accepted */
    CHECK(netsim_run(&ns, NULL, HO_QUIC_MS(100)));
    CHECK_EQ(ep_stats(&ns).handshakes_in_progress, 2);
    CHECK(netsim_add_client(&ns) == 2); /* past the cap: refused */
    CHECK(netsim_run(&ns, two_done_third_closed, HO_QUIC_SEC(10)));
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.retry_load, 1);
    CHECK_EQ(st.retry_sent, 1);
    CHECK_EQ(st.refused_load, 1);
    CHECK(ho_quic_conn_retried(ns.cl[1]));
    CHECK(!ho_quic_conn_retried(ns.cl[0]));
    bool is_app = true, by_peer = false;
    CHECK_EQ(ho_quic_conn_close_code(ns.cl[2], &is_app, &by_peer), HO_QUIC_CONNECTION_REFUSED);
    CHECK(by_peer);
    CHECK(!is_app);
    fprintf(stderr, "admission: retry (load) %llu, refused (load) %llu, 2 handshakes completed\n",
            (unsigned long long)st.retry_load, (unsigned long long)st.refused_load);
    teardown(&ns);

    /* The pool's queue depth triggers it too. */
    setup(&ns, "admission-depth", 72, HO_OFFLOAD_ALWAYS, HO_QUIC_MS(400));
    ns.ecfg.retry_pool_depth = 1;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, job_held, HO_QUIC_SEC(1)));
    CHECK(netsim_add_client(&ns) == 1);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK_EQ(ep_stats(&ns).retry_load, 1);
    CHECK(ho_quic_conn_retried(ns.cl[1]));
    teardown(&ns);
}

/* ---- real threads ------------------------------------------------------------ */

static pthread_t main_thread;
static int on_worker_params, on_worker_exporter, cb_total;
static uint8_t srv_export[32], cli_cb_export[32];
static bool srv_exported, cli_exported;

static int rt_params(void *ctx, uint64_t conn_id, ho_tls *tls, const ho_quic_transport_params *client,
                     ho_quic_transport_params *server)
{
    (void)ctx;
    (void)conn_id;
    (void)tls;
    __atomic_fetch_add(&cb_total, 1, __ATOMIC_SEQ_CST);
    if (!pthread_equal(pthread_self(), main_thread))
        __atomic_fetch_add(&on_worker_params, 1, __ATOMIC_SEQ_CST);
    /* Read the client's, change ours: 7 bidirectional streams. */
    if (client->initial_max_streams_bidi > 0)
        server->initial_max_streams_bidi = 7;
    return HO_OK;
}

static int rt_exporter(void *ctx, uint64_t conn_id, ho_tls *tls)
{
    (void)ctx;
    (void)conn_id;
    if (!pthread_equal(pthread_self(), main_thread))
        __atomic_fetch_add(&on_worker_exporter, 1, __ATOMIC_SEQ_CST);
    if (ho_tls_is_server(tls)) {
        if (ho_tls_export(tls, "EXPORTER-handoff-test", "ctx", 3, srv_export, sizeof(srv_export)) == HO_OK)
            srv_exported = true;
    } else if (ho_tls_export(tls, "EXPORTER-handoff-test", "ctx", 3, cli_cb_export, sizeof(cli_cb_export)) ==
               HO_OK) {
        cli_exported = true; /* the client's, on its own (this) thread */
    }
    return HO_OK;
}

static void test_real_threads(void)
{
    main_thread = pthread_self();
    netsim ns;
    netsim_init(&ns, 81, "offload-threads");
    ho_pool *pool = ho_pool_new(2, 0);
    ho_home *home = ho_home_new();
    CHECK(pool != NULL && home != NULL);
    ns.ecfg.pool = pool;
    ns.ecfg.home = home;
    ns.ecfg.offload = HO_OFFLOAD_ALWAYS;
    ns.ecfg.conn.hs_callbacks = (ho_quic_handshake_callbacks){NULL, rt_params, rt_exporter};
    ns.ccfg.hs_callbacks = (ho_quic_handshake_callbacks){NULL, NULL, rt_exporter};
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    /* Drive: virtual time for the network, the home's eventfd for the
     * steps (a bounded poll for it, no sleeps). */
    bool done = false;
    for (int round = 0; round < 2000 && !done; round++) {
        done = netsim_run(&ns, netsim_hs_done, HO_QUIC_MS(1));
        if (done)
            break;
        if (ho_home_outstanding(home) > 0) {
            struct pollfd pfd = {.fd = ho_home_fd(home), .events = POLLIN};
            if (poll(&pfd, 1, 5000) == 1)
                ho_home_drain(home);
        }
    }
    CHECK(done);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 2);
    CHECK_EQ(st.steps_inline, 0);
    ho_pool_stats ps;
    ho_pool_get_stats(pool, &ps);
    CHECK_EQ(ps.inline_runs, 0);
    CHECK_EQ(ps.completed, 2);
    CHECK_EQ(cb_total, 1);
    CHECK_EQ(on_worker_params, 1);   /* on a worker, not the driving thread */
    CHECK_EQ(on_worker_exporter, 1); /* the server's; the client's ran here */
    /* The changed parameter reached the client (RFC 9000 §18.2 0x08). */
    CHECK_EQ(ns.cl[0]->tpx.peer.initial_max_streams_bidi, 7);
    CHECK_EQ(ns.cl[0]->peer_max_streams[0], 7);
    /* The server enforces what it announced. */
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL);
    if (s != NULL)
        CHECK_EQ(s->local_max_streams[0], 7);
    /* The exporter agrees on both sides. */
    uint8_t cli_export[32];
    CHECK(srv_exported);
    CHECK_EQ(ho_tls_export(ho_quic_conn_tls(ns.cl[0]), "EXPORTER-handoff-test", "ctx", 3, cli_export,
                           sizeof(cli_export)),
             HO_OK);
    CHECK_MEM(cli_export, srv_export, sizeof(srv_export));
    CHECK(cli_exported);
    CHECK_MEM(cli_cb_export, srv_export, sizeof(srv_export));
    netsim_free(&ns);
    ho_pool_free(pool);
    ho_home_drain(home);
    ho_home_free(home);
    fprintf(stderr, "threads: callbacks on a worker, initial_max_streams_bidi 7 seen by the client, "
                    "exporter equal\n");
}

/* Ten clients at 5 % loss against 2 workers: handshakes and transfers
 * overlap with steps out (for ThreadSanitizer: the worker and the
 * driving thread never share a connection's state). */
static void test_real_threads_many(void)
{
    netsim ns;
    netsim_init(&ns, 82, "offload-threads-10");
    ho_pool *pool = ho_pool_new(2, 0);
    ho_home *home = ho_home_new();
    ns.ecfg.pool = pool;
    ns.ecfg.home = home;
    ns.ecfg.offload = HO_OFFLOAD_ALWAYS;
    netsim_link l = {.delay = HO_QUIC_MS(10), .loss_pct = 5};
    netsim_set_links(&ns, -1, &l);
    CHECK(netsim_start(&ns));
    for (int i = 0; i < 10; i++)
        CHECK(netsim_add_client(&ns) == i);
    bool done = false;
    int started = 0;
    for (int round = 0; round < 20000 && !done; round++) {
        for (int i = 0; i < 10; i++)
            if (!(started & (1 << i)) && ho_quic_conn_handshake_done(ns.cl[i]) &&
                netsim_xfer_add(&ns, i, 5000, 50000, (uint8_t)i) != NULL)
                started |= 1 << i;
        done = started == 0x3ff && netsim_run(&ns, xfers_done, HO_QUIC_MS(2));
        if (!done && started != 0x3ff)
            netsim_run(&ns, NULL, HO_QUIC_MS(2));
        if (ho_home_outstanding(home) > 0) {
            struct pollfd pfd = {.fd = ho_home_fd(home), .events = POLLIN};
            if (poll(&pfd, 1, 0) == 1 || ho_quic_endpoint_next_timeout(ns.ep) == HO_QUIC_TIME_NEVER)
                if (poll(&pfd, 1, 5000) == 1)
                    ho_home_drain(home);
        }
    }
    CHECK(done);
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    ho_quic_endpoint_stats st = ep_stats(&ns);
    CHECK_EQ(st.steps_offloaded, 20);
    CHECK_EQ(st.steps_inline, 0);
    fprintf(stderr, "threads x10: 20 steps on 2 workers, %llu datagrams queued, %llu overflowed\n",
            (unsigned long long)st.step_queued, (unsigned long long)st.step_queue_overflows);
    netsim_free(&ns);
    ho_pool_free(pool);
    ho_home_drain(home);
    ho_home_free(home);
}

int main(void)
{
    netsim_global_init();
    RUN(test_offloaded_handshake);
    RUN(test_offloaded_version_switch);
    RUN(test_failures_in_step);
    RUN(test_callbacks_without_pool);
    RUN(test_queue_retransmit_loss_migration);
    RUN(test_queue_overflow);
    RUN(test_freed_with_step_out);
    RUN(test_modes);
    RUN(test_admission);
    RUN(test_real_threads);
    RUN(test_real_threads_many);
    netsim_global_free();
    return ho_test_summary("test_quic_offload");
}
