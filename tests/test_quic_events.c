/* test_quic_events: the QUIC events of handoff/event.h over netsim.
 *
 * test_every_type: one run with a Retry, duplicated datagrams, a lost
 * datagram, a key update, a client migration, DPLPMTUD, ECN and a close,
 * plus datagrams the endpoint answers with Version Negotiation or a
 * stateless reset or drops: every QUIC event type is seen, each event's
 * time is the simulator's clock, and the packet_sent / packet_received
 * counts equal the connections' packet counters. A second subscriber
 * with a one-type mask sees only that type; with no subscriber the QUIC
 * sites emit nothing.
 *
 * test_snapshot: a deterministic scenario (handshake, small transfer, one
 * lost datagram, a key update, a close) gives a text transcript compared
 * with tests/snapshots/quic_events.txt; UPDATE_SNAPSHOTS=1 rewrites it,
 * a mismatch prints a unified diff. Handshake packets are shown without
 * sizes and CRYPTO offsets: the certificate and its ECDSA signature are
 * fresh each run and vary by a few bytes.
 *
 * test_qlog_files: ho_qlog_start refuses a bad directory; started on a
 * temporary one, a netsim connection leaves two files named by its ODCID
 * (server and client), each a JSON-SEQ stream (RS before every record)
 * whose packet_sent records match the connection's counter. The schema
 * itself is checked by tests/interop/qlog.sh. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "handoff/event.h"
#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"

/* ---- counting subscriber ------------------------------------------------- */

typedef struct counter {
    netsim *ns;
    uint64_t n[HO_EV__COUNT];
    uint64_t sent[2], received[2]; /* [0] client, [1] server */
    uint64_t bad_time, other_types;
    ho_event_mask mask;
} counter;

static void count_event(void *ctx, const ho_event *ev)
{
    counter *k = ctx;
    if (!(k->mask & HO_EV_BIT(ev->type))) {
        k->other_types++;
        return;
    }
    k->n[ev->type]++;
    int srv = ev->role != NULL && strcmp(ev->role, "server") == 0;
    if (ev->type == HO_EV_QUIC_PACKET_SENT)
        k->sent[srv]++;
    if (ev->type == HO_EV_QUIC_PACKET_RECEIVED)
        k->received[srv]++;
    /* Every event carries the connection's (here: the simulator's) clock. */
    if (ev->time > k->ns->now || (ev->type != HO_EV_QUIC_STATE && ev->time != k->ns->now))
        k->bad_time++;
}

static uint64_t drop_index = 12;

static bool drop_one(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index, uint8_t *ecn)
{
    (void)ctx, (void)client, (void)d, (void)len, (void)ecn;
    return dir == NETSIM_S2C && index == drop_index;
}

static ho_quic_path client_path(uint16_t port)
{
    ho_quic_path p;
    memset(&p, 0, sizeof(p));
    netsim_addr(&p.local, &p.local_len, port);
    netsim_addr(&p.remote, &p.remote_len, NETSIM_SERVER_PORT);
    return p;
}

static bool key_updated(netsim *ns) { return ho_quic_conn_key_updates(ns->cl[0]) >= 1 && netsim_xfers_done(ns); }

static bool paths_validated(netsim *ns)
{
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(ns->cl[0], &st);
    return st.paths_validated >= 1 && netsim_xfers_done(ns);
}

static void inject_stateless(netsim *ns)
{
    /* A short header for a CID nobody has: a stateless reset (RFC 9000 §10.3). */
    uint8_t d[60];
    memset(d, 0x5a, sizeof(d));
    d[0] = 0x40;
    netsim_inject(ns, 0, d, sizeof(d));
    /* A long header of an unknown version, 1200 bytes: Version Negotiation (§6). */
    uint8_t v[1200];
    memset(v, 0, sizeof(v));
    v[0] = 0xc0;
    v[1] = 0x1a, v[2] = 0x2a, v[3] = 0x3a, v[4] = 0x4a;
    v[5] = 8;
    memset(v + 6, 0x11, 8);
    v[14] = 0;
    netsim_inject(ns, 0, v, sizeof(v));
    /* ... and one under 1200 bytes: dropped (§5.2.2). */
    netsim_inject(ns, 0, v, 100);
    netsim_send(ns);
}

static void test_every_type(void)
{
    counter all = {0}, lost_only = {0};
    netsim ns;
    netsim_init(&ns, 7, "events");
    all.ns = lost_only.ns = &ns;
    all.mask = HO_EVM_QUIC;
    lost_only.mask = HO_EV_BIT(HO_EV_QUIC_PACKET_LOST);
    CHECK_EQ(ho_event_subscribe_mask(count_event, &all, all.mask), HO_OK);
    CHECK_EQ(ho_event_subscribe_mask(count_event, &lost_only, lost_only.mask), HO_OK);
    CHECK(ho_event_wanted(HO_EV_QUIC_PACKET_SENT));
    netsim_link l = {.delay = HO_QUIC_MS(10), .dup_pct = 10};
    netsim_set_links(&ns, -1, &l);
    drop_index = 12;
    ns.filter = drop_one;
    ns.ecfg.force_retry = true;
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, 1000, 200000, 1) != NULL);
    CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(20)));
    /* A key update, then more data under the new keys. */
    CHECK_EQ(ho_quic_conn_key_update(ns.cl[0], ns.now), HO_OK);
    CHECK(netsim_xfer_add(&ns, 0, 100, 20000, 2) != NULL);
    CHECK(netsim_run(&ns, key_updated, HO_QUIC_SEC(20)));
    /* The client moves to another port (§9.2). */
    ho_quic_path np = client_path(41000);
    CHECK_EQ(ho_quic_conn_migrate(ns.cl[0], &np, ns.now), HO_OK);
    CHECK(netsim_xfer_add(&ns, 0, 100, 20000, 3) != NULL);
    CHECK(netsim_run(&ns, paths_validated, HO_QUIC_SEC(20)));
    inject_stateless(&ns);

    /* The counters of the connections and the events agree (no close yet:
     * both connections are live). */
    ho_quic_conn *srv = netsim_server_conn(&ns, 0);
    CHECK(srv != NULL);
    if (srv != NULL) {
        ho_quic_conn_stats cs, ss;
        ho_quic_conn_get_stats(ns.cl[0], &cs);
        ho_quic_conn_get_stats(srv, &ss);
        CHECK_EQ(all.sent[0], cs.packets_sent);
        CHECK_EQ(all.received[0], cs.packets_received);
        CHECK_EQ(all.sent[1], ss.packets_sent);
        CHECK_EQ(all.received[1], ss.packets_received);
        CHECK_EQ(all.n[HO_EV_QUIC_PACKET_LOST], cs.packets_lost + ss.packets_lost);
        fprintf(stderr, "events: client sent %llu received %llu, server sent %llu received %llu, lost %llu\n",
                (unsigned long long)cs.packets_sent, (unsigned long long)cs.packets_received,
                (unsigned long long)ss.packets_sent, (unsigned long long)ss.packets_received,
                (unsigned long long)(cs.packets_lost + ss.packets_lost));
    }
    CHECK_EQ(ho_quic_conn_close(ns.cl[0], 0, "bye", ns.now), HO_OK);
    CHECK(netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(10)));
    netsim_free(&ns);

    for (int t = HO_EV_QUIC_PACKET_SENT; t < HO_EV__COUNT; t++) {
        fprintf(stderr, "events: %-26s %llu\n", ho_event_name((ho_event_type)t), (unsigned long long)all.n[t]);
        if (all.n[t] == 0)
            fprintf(stderr, "events: no %s event\n", ho_event_name((ho_event_type)t));
        CHECK(all.n[t] > 0);
    }
    CHECK_EQ(all.bad_time, 0);
    CHECK_EQ(all.other_types, 0);
    /* The filtered subscriber saw its type only, all of them. */
    CHECK_EQ(lost_only.other_types, 0);
    CHECK_EQ(lost_only.n[HO_EV_QUIC_PACKET_LOST], all.n[HO_EV_QUIC_PACKET_LOST]);
    CHECK_EQ(ho_event_unsubscribe(count_event, &all), HO_OK);
    CHECK_EQ(ho_event_unsubscribe(count_event, &lost_only), HO_OK);
    CHECK_EQ(ho_event_unsubscribe(count_event, &lost_only), HO_ERR_NOT_FOUND);

    /* Nobody subscribed: no QUIC event is even built. */
    CHECK(!ho_event_wanted(HO_EV_QUIC_PACKET_SENT));
    uint64_t before = ho_event_count(HO_EV_QUIC_PACKET_SENT);
    netsim_init(&ns, 8, "events-none");
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    netsim_free(&ns);
    CHECK_EQ(ho_event_count(HO_EV_QUIC_PACKET_SENT), before);
}

/* ---- snapshot ------------------------------------------------------------- */

typedef struct transcript {
    netsim *ns;
    ho_quic_time t0; /* the simulator's start: times are shown in ms from there */
    char *text;
    size_t len, cap;
} transcript;

__attribute__((format(printf, 2, 3))) static void tr_put(transcript *t, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t k = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (t->len + k + 1 > t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 65536;
        while (cap < t->len + k + 1)
            cap *= 2;
        char *p = realloc(t->text, cap);
        if (p == NULL)
            return;
        t->text = p;
        t->cap = cap;
    }
    memcpy(t->text + t->len, line, k);
    t->len += k;
    t->text[t->len] = '\0';
}

static void tr_event(void *ctx, const ho_event *ev)
{
    transcript *t = ctx;
    char body[1536];
    bool hs_packet = (ev->type == HO_EV_QUIC_PACKET_SENT || ev->type == HO_EV_QUIC_PACKET_RECEIVED) &&
                     ev->u.packet.pkt_type != HO_EV_PKT_1RTT;
    if (hs_packet) {
        /* Frame types only: the handshake flight's sizes vary (see above). */
        const ho_ev_packet *p = &ev->u.packet;
        int n = snprintf(body, sizeof(body), "%s pn=%llu [", ho_event_pkt_name(p->pkt_type),
                         (unsigned long long)p->pn);
        for (uint32_t i = 0; i < p->nframes && n > 0 && (size_t)n < sizeof(body); i++)
            n += snprintf(body + n, sizeof(body) - (size_t)n, "%s%s", i ? " " : "",
                          ho_event_frame_name(p->frames[i].type));
        if (n > 0 && (size_t)n < sizeof(body))
            snprintf(body + n, sizeof(body) - (size_t)n, "]");
    } else {
        ho_event_format(ev, body, sizeof(body));
    }
    tr_put(t, "%9.3f %-6s %-16s %s\n", (double)(ev->time - t->t0) / 1e6, ev->role ? ev->role : "-", ho_event_name(ev->type),
           body);
}

static bool snap_key_updated(netsim *ns) { return ho_quic_conn_key_updates(ns->cl[0]) >= 1 && netsim_xfers_done(ns); }

static char *snapshot_run(void)
{
    transcript t = {0};
    netsim ns;
    netsim_init(&ns, 1, "snapshot");
    t.ns = &ns;
    t.t0 = ns.now;
    /* Endpoint events are not part of this scenario (none happen). */
    ho_event_subscribe_mask(tr_event, &t, HO_EVM_QUIC & ~HO_EVM_QUIC_ENDPOINT);
    netsim_link l = {.delay = HO_QUIC_MS(10)};
    netsim_set_links(&ns, -1, &l);
    drop_index = 6; /* one datagram of the download */
    ns.filter = drop_one;
    bool ok = netsim_start(&ns) && netsim_add_client(&ns) == 0 && netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(5));
    ok = ok && netsim_xfer_add(&ns, 0, 100, 8000, 1) != NULL && netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(10));
    ok = ok && ho_quic_conn_key_update(ns.cl[0], ns.now) == HO_OK;
    ok = ok && netsim_xfer_add(&ns, 0, 100, 2000, 2) != NULL && netsim_run(&ns, snap_key_updated, HO_QUIC_SEC(10));
    ok = ok && ho_quic_conn_close(ns.cl[0], 0, "done", ns.now) == HO_OK &&
         netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(10));
    CHECK(ok);
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(ns.cl[0], &cs);
    CHECK_EQ(cs.packets_lost + ns.srv_last_stats[0].packets_lost, 1);
    netsim_free(&ns);
    ho_event_unsubscribe(tr_event, &t);
    return t.text;
}

static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    char *p = malloc(cap);
    size_t n;
    while (p != NULL && (n = fread(p + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            char *q = realloc(p, cap * 2);
            if (q == NULL) {
                free(p);
                p = NULL;
                break;
            }
            p = q;
            cap *= 2;
        }
    }
    fclose(f);
    if (p != NULL)
        p[len] = '\0';
    return p;
}

static bool write_all(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return false;
    bool ok = fwrite(text, 1, strlen(text), f) == strlen(text);
    return fclose(f) == 0 && ok;
}

static void test_snapshot(void)
{
    const char *src = getenv("HO_SRC");
    CHECK(src != NULL);
    if (src == NULL)
        return;
    char *got = snapshot_run();
    CHECK(got != NULL);
    if (got == NULL)
        return;
    /* Twice the same run gives the same transcript. */
    char *again = snapshot_run();
    CHECK(again != NULL && strcmp(got, again) == 0);
    free(again);
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/snapshots/quic_events.txt", src);
    const char *update = getenv("UPDATE_SNAPSHOTS");
    if (update != NULL && strcmp(update, "1") == 0) {
        CHECK(write_all(path, got));
        fprintf(stderr, "snapshot: wrote %s\n", path);
        free(got);
        return;
    }
    char *want = read_all(path);
    if (want == NULL)
        fprintf(stderr, "snapshot: cannot read %s (UPDATE_SNAPSHOTS=1 writes it)\n", path);
    bool same = want != NULL && strcmp(want, got) == 0;
    CHECK(same);
    if (want != NULL && !same) {
        char actual[64];
        snprintf(actual, sizeof(actual), "/tmp/quic_events.%d.txt", (int)getpid());
        if (write_all(actual, got)) {
            char cmd[4300];
            snprintf(cmd, sizeof(cmd), "diff -u '%s' '%s' | head -200 >&2", path, actual);
            fprintf(stderr, "snapshot: the transcript differs from %s (UPDATE_SNAPSHOTS=1 accepts it):\n", path);
            if (system(cmd) == -1)
                fprintf(stderr, "snapshot: cannot run diff\n");
            unlink(actual);
        }
    }
    free(want);
    free(got);
}

/* Counts RS-prefixed records whose text contains `needle` (NULL: all). */
static long count_records(const char *path, const char *needle)
{
    char *text = read_all(path);
    if (text == NULL)
        return -1;
    long n = 0;
    if (text[0] != '\x1e')
        n = -1;
    for (char *p = text; n >= 0 && (p = strchr(p, '\x1e')) != NULL; p++) {
        char *next = strchr(p + 1, '\x1e');
        size_t len = next ? (size_t)(next - p) : strlen(p);
        char save = p[len];
        p[len] = '\0';
        if (needle == NULL || strstr(p, needle) != NULL)
            n++;
        p[len] = save;
    }
    free(text);
    return n;
}

static void test_qlog_files(void)
{
    CHECK_EQ(ho_qlog_start(""), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_qlog_start("/nonexistent/qlog"), HO_ERR_IO);
    CHECK(ho_qlog_dir_from_env("x") != NULL && strcmp(ho_qlog_dir_from_env("x"), "x") == 0);
    char dir[] = "/tmp/ho-qlog-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(ho_qlog_start(dir), HO_OK);
    CHECK_EQ(ho_qlog_start(dir), HO_ERR_INVALID_ARG); /* once */
    netsim ns;
    netsim_init(&ns, 3, "qlog");
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, 100, 50000, 1) != NULL);
    CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(10)));
    char odcid[41] = "";
    for (size_t i = 0; i < ns.cl[0]->odcid.len; i++)
        snprintf(odcid + 2 * i, sizeof(odcid) - 2 * i, "%02x", ns.cl[0]->odcid.data[i]);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(ns.cl[0], &cs);
    ho_quic_conn_get_stats(netsim_server_conn(&ns, 0), &ss);
    netsim_free(&ns); /* frees both connections: the files are complete */
    ho_qlog_stop();
    char path[256];
    snprintf(path, sizeof(path), "%s/%s_client.sqlog", dir, odcid);
    CHECK_EQ(count_records(path, "\"name\":\"quic:packet_sent\""), cs.packets_sent);
    CHECK_EQ(count_records(path, "\"name\":\"quic:packet_received\""), cs.packets_received);
    CHECK(count_records(path, "\"file_schema\"") == 1);
    unlink(path);
    snprintf(path, sizeof(path), "%s/%s_server.sqlog", dir, odcid);
    CHECK_EQ(count_records(path, "\"name\":\"quic:packet_sent\""), ss.packets_sent);
    CHECK_EQ(count_records(path, "\"name\":\"quic:packet_received\""), ss.packets_received);
    unlink(path);
    /* Nothing else was written. */
    DIR *d = opendir(dir);
    int others = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        others += e->d_name[0] != '.';
    if (d != NULL)
        closedir(d);
    CHECK_EQ(others, 0);
    rmdir(dir);
}

/* connection_started comes first in both files, with the addresses;
 * connection_closed once, saying who closed and how (the client closes
 * with an application error and a reason; the server drains). */
static void test_qlog_close(void)
{
    char dir[] = "/tmp/ho-qlog-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK_EQ(ho_qlog_start(dir), HO_OK);
    netsim ns;
    netsim_init(&ns, 4, "qlog-close");
    CHECK(netsim_start(&ns));
    CHECK(netsim_add_client(&ns) == 0);
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK_EQ(ho_quic_conn_close(ns.cl[0], 0x10c, "bye \"now\"", ns.now), HO_OK);
    CHECK(netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(10)));
    char odcid[41] = "";
    for (size_t i = 0; i < ns.cl[0]->odcid.len; i++)
        snprintf(odcid + 2 * i, sizeof(odcid) - 2 * i, "%02x", ns.cl[0]->odcid.data[i]);
    netsim_free(&ns);
    ho_qlog_stop();
    static const char *const roles[] = {"client", "server"};
    for (int r = 0; r < 2; r++) {
        char path[256];
        snprintf(path, sizeof(path), "%s/%s_%s.sqlog", dir, odcid, roles[r]);
        char *text = read_all(path);
        CHECK(text != NULL);
        if (text == NULL)
            continue;
        /* the header, then connection_started */
        char *second = strchr(text + 1, '\x1e');
        CHECK(second != NULL && strncmp(second + 1, "{\"time\":0.000000,\"name\":\"quic:connection_started\"", 49) == 0);
        CHECK(strstr(text, "\"local\":{\"ip_v4\":\"") != NULL && strstr(text, "\"remote\":{\"ip_v4\":\"") != NULL);
        free(text);
        CHECK_EQ(count_records(path, "\"name\":\"quic:connection_started\""), 1);
        CHECK_EQ(count_records(path, "\"name\":\"quic:connection_closed\""), 1);
        CHECK_EQ(count_records(path, r == 0 ? "\"initiator\":\"local\",\"application_error\":\"unknown\","
                                              "\"error_code\":268,\"reason\":\"bye \\\"now\\\"\",\"trigger\":\"application\""
                                            : "\"initiator\":\"remote\",\"application_error\":\"unknown\","
                                              "\"error_code\":268,\"reason\":\"bye \\\"now\\\"\",\"trigger\":\"application\""),
                 1);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    netsim_global_init();
    RUN(test_every_type);
    RUN(test_snapshot);
    RUN(test_qlog_files);
    RUN(test_qlog_close);
    netsim_global_free();
    return ho_test_summary("test_quic_events");
}
