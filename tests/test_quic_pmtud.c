/* DPLPMTUD (src/quic/pmtud.c, RFC 8899, RFC 9000 §14.3): the probe
 * sequence, raising max_datagram_size on an acknowledged probe, no
 * congestion reaction to lost probes, black-hole fallback, the peer's
 * max_udp_payload_size, between our client and server (netsim: its
 * endpoint) on a simulated path whose filter applies a path MTU. */
#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"

enum { DOWNLOAD = 400000 };

/* Side 0 is the client, side 1 its connection on the server endpoint. */
static ho_quic_conn *conn_of(netsim *ns, int side) { return side == 0 ? ns->cl[0] : netsim_server_conn(ns, 0); }
/* The largest datagram a side sent. */
static size_t *max_size(netsim *ns, int side) { return &ns->link[0][side == 0 ? NETSIM_C2S : NETSIM_S2C].max_len; }

typedef struct path_mtu {
    netsim *ns;
    size_t mtu[2];         /* largest datagram delivered, by direction (NETSIM_C2S, NETSIM_S2C) */
    size_t probes[16];     /* sizes of the server's lone probe-size datagrams, in order */
    size_t nprobes;
} path_mtu;

static bool net_mtu(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index, uint8_t *ecn)
{
    (void)client, (void)d, (void)index, (void)ecn;
    path_mtu *p = ctx;
    ho_quic_conn *srv = netsim_server_conn(p->ns, 0);
    /* Server datagrams above the size in use are its probes. */
    if (dir == NETSIM_S2C && srv != NULL && len > srv->pmtud.current && p->nprobes < 16)
        p->probes[p->nprobes++] = len;
    return len > p->mtu[dir];
}

static void sim_path(netsim *ns, path_mtu *p, size_t mtu)
{
    p->ns = ns;
    p->mtu[NETSIM_C2S] = p->mtu[NETSIM_S2C] = mtu;
    ns->filter = net_mtu;
    ns->filter_ctx = p;
}

static bool start(netsim *ns) { return netsim_start(ns) && netsim_add_client(ns) == 0; }

/* `total` bytes server -> client, checked byte for byte. */
static bool download(netsim *ns, uint64_t total, ho_quic_time budget)
{
    return netsim_xfer_add(ns, 0, 0, total, 1) != NULL && netsim_run(ns, netsim_xfers_done, budget) &&
           netsim_xfers_check(ns) == 0;
}

static bool exchange(netsim *ns, uint64_t total)
{
    bool ok = start(ns) && netsim_run(ns, netsim_hs_done, HO_QUIC_SEC(10));
    ok = ok && download(ns, total, HO_QUIC_SEC(120));
    netsim_run(ns, NULL, HO_QUIC_MS(300));
    return ok;
}

/* Default ceiling 1452 on both sides: one probe, then 1452-byte datagrams. */
static void test_default_raise(void)
{
    netsim ns;
    netsim_init(&ns, 1, "pmtud-default");
    CHECK(exchange(&ns, DOWNLOAD));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(conn_of(&ns, side), &st);
        CHECK_EQ(st.max_datagram_size, 1452);
        CHECK_EQ(st.pmtud_probes_sent, 1);
        CHECK_EQ(st.pmtud_probes_acked, 1);
        CHECK_EQ(*max_size(&ns, side), 1452);
    }
    /* The window follows the size (RFC 9002 §7.2) and the sends use it. */
    CHECK_EQ(conn_of(&ns, 1)->cc.max_datagram_size, 1452);
    CHECK_EQ(conn_of(&ns, 1)->pacer.max_datagram_size, 1452);
    /* Our transport parameter announces the ceiling. */
    CHECK_EQ(conn_of(&ns, 0)->tpx.peer.max_udp_payload_size, 1452);
    netsim_free(&ns);
}

/* Ceiling 9000 on both sides, path MTU 4000: 1452 and 1472 are confirmed,
 * 4096 is lost MAX_PROBES times and the search stops at 1472. The lost
 * probes cause no congestion event nor persistent congestion. */
static void test_probe_sequence_and_loss(void)
{
    netsim ns;
    path_mtu p = {0};
    netsim_init(&ns, 2, "pmtud-probe-sequence");
    ns.ccfg.max_udp_payload = ns.ecfg.conn.max_udp_payload = 9000;
    sim_path(&ns, &p, 4000);
    CHECK(start(&ns));
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    ho_quic_conn *srv = conn_of(&ns, 1);
    CHECK(srv->pmtud.enabled);
    CHECK_EQ(srv->pmtud.max, 9000);
    /* Idle connection (no data): the probes alone, sequence and outcome. */
    netsim_run(&ns, NULL, HO_QUIC_SEC(30));
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv, &st);
    CHECK_EQ(st.max_datagram_size, 1472);
    CHECK_EQ(st.pmtud_probes_acked, 2);
    CHECK_EQ(st.pmtud_probes_lost, HO_QUIC_PMTUD_MAX_PROBES);
    CHECK_EQ(st.pmtud_probes_sent, 2 + HO_QUIC_PMTUD_MAX_PROBES);
    CHECK_EQ(srv->pmtud.probe_size, 0); /* search over */
    CHECK_EQ(ho_quic_pmtud_probe_due(srv), 0);
    /* RFC 8899 §5.1.1: it resumes after PMTU_RAISE_TIMER (checked at a
     * moved clock: the idle timeout would end this connection first). */
    ho_quic_time saved = srv->now;
    srv->now = srv->pmtud.search_again_at - 1;
    CHECK_EQ(ho_quic_pmtud_probe_due(srv), 0);
    srv->now = srv->pmtud.search_again_at;
    CHECK_EQ(ho_quic_pmtud_probe_due(srv), 4096);
    srv->pmtud.probe_size = 0; /* back to "over" for the rest of the test */
    srv->now = saved;
    CHECK_EQ(*max_size(&ns, 1), 4096);
    size_t want[] = {1452, 1472, 4096, 4096, 4096};
    CHECK_EQ(p.nprobes, 5);
    for (size_t i = 0; i < 5 && i < p.nprobes; i++)
        CHECK_EQ(p.probes[i], want[i]);
    /* RFC 9002 §3: lost probes are not a congestion signal. */
    CHECK_EQ(srv->cc.congestion_events, 0);
    CHECK_EQ(srv->cc.persistent_congestion_events, 0);
    CHECK_EQ(srv->rec.stats.persistent_congestion, 0);
    CHECK_EQ(srv->cc.bytes_in_flight, 0);
    CHECK(!ho_quic_conn_is_closing(srv));
    /* Data then flows in 1472-byte datagrams. */
    *max_size(&ns, 1) = 0;
    CHECK(download(&ns, DOWNLOAD, HO_QUIC_SEC(60)));
    CHECK_EQ(*max_size(&ns, 1), 1472);
    CHECK_EQ(srv->cc.congestion_events, 0);
    netsim_free(&ns);
}

/* The peer's max_udp_payload_size bounds the search (RFC 9000 §14.3). */
static void test_peer_limit(void)
{
    netsim ns;
    netsim_init(&ns, 3, "pmtud-peer-limit");
    ns.ccfg.max_udp_payload = 1300;
    ns.ecfg.conn.max_udp_payload = 9000;
    CHECK(exchange(&ns, DOWNLOAD));
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(conn_of(&ns, 1), &st);
    CHECK_EQ(st.max_datagram_size, 1300);
    CHECK_EQ(*max_size(&ns, 1), 1300);
    ho_quic_conn_get_stats(conn_of(&ns, 0), &st);
    CHECK_EQ(st.max_datagram_size, 1300); /* its own ceiling */
    CHECK(*max_size(&ns, 0) <= 1300);
    netsim_free(&ns);
}

/* max_udp_payload == max_datagram_size: no probing at all. */
static void test_disabled(void)
{
    netsim ns;
    netsim_init(&ns, 4, "pmtud-disabled");
    ns.ccfg.max_udp_payload = ns.ecfg.conn.max_udp_payload = 1200;
    CHECK(exchange(&ns, DOWNLOAD));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(conn_of(&ns, side), &st);
        CHECK_EQ(st.pmtud_probes_sent, 0);
        CHECK_EQ(st.max_datagram_size, 1200);
        CHECK_EQ(*max_size(&ns, side), 1200);
    }
    netsim_free(&ns);
}

static bool quarter_received(netsim *ns) { return ns->x[0].received >= ns->x[0].down / 4; }

/* After the raise to 1452, the path starts dropping anything above 1300
 * (a route change into a tunnel): full-size packets are lost while small
 * ones get through; the server falls back to 1200 and the download ends. */
static void test_black_hole(void)
{
    netsim ns;
    path_mtu p = {0};
    netsim_init(&ns, 5, "pmtud-black-hole");
    sim_path(&ns, &p, 65535);
    CHECK(start(&ns));
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, 0, 4 * DOWNLOAD, 1) != NULL);
    CHECK(netsim_run(&ns, quarter_received, HO_QUIC_SEC(60)));
    ho_quic_conn *srv = conn_of(&ns, 1);
    CHECK_EQ(srv->pmtud.current, 1452);
    p.mtu[NETSIM_S2C] = 1300; /* server -> client only */
    CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(120)) && netsim_xfers_check(&ns) == 0);
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv, &st);
    CHECK_EQ(st.pmtud_black_holes, 1);
    CHECK_EQ(st.max_datagram_size, 1200);
    CHECK_EQ(srv->cc.max_datagram_size, 1200);
    CHECK(!ho_quic_conn_is_closing(srv));
    /* The client's direction was not affected. */
    ho_quic_conn_get_stats(conn_of(&ns, 0), &st);
    CHECK_EQ(st.max_datagram_size, 1452);
    CHECK_EQ(st.pmtud_black_holes, 0);
    netsim_free(&ns);
}

/* Black hole with nothing acknowledged at all (every server datagram above
 * the base dropped and the stream's data all full-size): the PTO path. */
static void test_black_hole_pto(void)
{
    netsim ns;
    path_mtu p = {0};
    netsim_init(&ns, 6, "pmtud-black-hole-pto");
    sim_path(&ns, &p, 65535);
    CHECK(start(&ns));
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    netsim_run(&ns, NULL, HO_QUIC_SEC(1));
    ho_quic_conn *srv = conn_of(&ns, 1);
    CHECK_EQ(srv->pmtud.current, 1452);
    p.mtu[NETSIM_S2C] = 1250;
    CHECK(download(&ns, DOWNLOAD, HO_QUIC_SEC(120)));
    CHECK_EQ(srv->pmtud.black_holes, 1);
    CHECK_EQ(srv->pmtud.current, 1200);
    netsim_free(&ns);
}

int main(void)
{
    netsim_global_init();
    RUN(test_default_raise);
    RUN(test_probe_sequence_and_loss);
    RUN(test_peer_limit);
    RUN(test_disabled);
    RUN(test_black_hole);
    RUN(test_black_hole_pto);
    netsim_global_free();
    return ho_test_summary("test_quic_pmtud");
}
