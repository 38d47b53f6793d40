/* DPLPMTUD (src/quic/pmtud.c, RFC 8899, RFC 9000 §14.3): the probe
 * sequence, raising max_datagram_size on an acknowledged probe, no
 * congestion reaction to lost probes, black-hole fallback, the peer's
 * max_udp_payload_size, between our client and server on a simulated path
 * with a configurable MTU. */
#include "quic_sim.h"

enum { DOWNLOAD = 400000 };

typedef struct path_mtu {
    size_t mtu[2];         /* largest datagram delivered to side 0 / side 1 */
    size_t probes[16];     /* sizes of the server's lone probe-size datagrams, in order */
    size_t nprobes;
} path_mtu;

static bool net_mtu(sim *s, int to, size_t len, uint8_t *ecn)
{
    (void)ecn;
    path_mtu *p = s->net_ctx;
    /* Server datagrams above the size in use are its probes. */
    if (to == 0 && s->conn[1] != NULL && len > s->conn[1]->pmtud.current && p->nprobes < 16)
        p->probes[p->nprobes++] = len;
    return len <= p->mtu[to];
}

static void sim_path(sim *s, path_mtu *p, size_t mtu)
{
    p->mtu[0] = p->mtu[1] = mtu;
    s->net = net_mtu;
    s->net_ctx = p;
}

static bool exchange(sim *s, size_t total)
{
    sim_start(s);
    bool ok = sim_run(s, sim_confirmed, HO_QUIC_SEC(10));
    s->total = total;
    ok = ok && sim_run(s, sim_stream_done, HO_QUIC_SEC(120));
    sim_run(s, NULL, HO_QUIC_MS(300));
    return ok;
}

/* Default ceiling 1452 on both sides: one probe, then 1452-byte datagrams. */
static void test_default_raise(void)
{
    sim s;
    sim_init(&s);
    CHECK(exchange(&s, DOWNLOAD));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(s.conn[side], &st);
        CHECK_EQ(st.max_datagram_size, 1452);
        CHECK_EQ(st.pmtud_probes_sent, 1);
        CHECK_EQ(st.pmtud_probes_acked, 1);
        CHECK_EQ(s.max_size[side], 1452);
    }
    /* The window follows the size (RFC 9002 §7.2) and the sends use it. */
    CHECK_EQ(s.conn[1]->cc.max_datagram_size, 1452);
    CHECK_EQ(s.conn[1]->pacer.max_datagram_size, 1452);
    /* Our transport parameter announces the ceiling. */
    CHECK_EQ(s.conn[0]->tpx.peer.max_udp_payload_size, 1452);
    sim_free(&s);
}

/* Ceiling 9000 on both sides, path MTU 4000: 1452 and 1472 are confirmed,
 * 4096 is lost MAX_PROBES times and the search stops at 1472. The lost
 * probes cause no congestion event nor persistent congestion. */
static void test_probe_sequence_and_loss(void)
{
    sim s;
    path_mtu p = {0};
    sim_init(&s);
    s.ccfg.max_udp_payload = s.scfg.max_udp_payload = 9000;
    sim_path(&s, &p, 4000);
    sim_start(&s);
    CHECK(sim_run(&s, sim_confirmed, HO_QUIC_SEC(10)));
    ho_quic_conn *srv = s.conn[1];
    CHECK(srv->pmtud.enabled);
    CHECK_EQ(srv->pmtud.max, 9000);
    /* Idle connection (no data): the probes alone, sequence and outcome. */
    sim_run(&s, NULL, HO_QUIC_SEC(30));
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
    CHECK_EQ(s.max_size[1], 4096);
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
    s.max_size[1] = 0;
    s.total = DOWNLOAD;
    CHECK(sim_run(&s, sim_stream_done, HO_QUIC_SEC(60)));
    CHECK_EQ(s.max_size[1], 1472);
    CHECK_EQ(srv->cc.congestion_events, 0);
    sim_free(&s);
}

/* The peer's max_udp_payload_size bounds the search (RFC 9000 §14.3). */
static void test_peer_limit(void)
{
    sim s;
    sim_init(&s);
    s.ccfg.max_udp_payload = 1300;
    s.scfg.max_udp_payload = 9000;
    CHECK(exchange(&s, DOWNLOAD));
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(s.conn[1], &st);
    CHECK_EQ(st.max_datagram_size, 1300);
    CHECK_EQ(s.max_size[1], 1300);
    ho_quic_conn_get_stats(s.conn[0], &st);
    CHECK_EQ(st.max_datagram_size, 1300); /* its own ceiling */
    CHECK(s.max_size[0] <= 1300);
    sim_free(&s);
}

/* max_udp_payload == max_datagram_size: no probing at all. */
static void test_disabled(void)
{
    sim s;
    sim_init(&s);
    s.ccfg.max_udp_payload = s.scfg.max_udp_payload = 1200;
    CHECK(exchange(&s, DOWNLOAD));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(s.conn[side], &st);
        CHECK_EQ(st.pmtud_probes_sent, 0);
        CHECK_EQ(st.max_datagram_size, 1200);
        CHECK_EQ(s.max_size[side], 1200);
    }
    sim_free(&s);
}

static bool quarter_received(sim *s) { return s->received >= s->total / 4; }

/* After the raise to 1452, the path starts dropping anything above 1300
 * (a route change into a tunnel): full-size packets are lost while small
 * ones get through; the server falls back to 1200 and the download ends. */
static void test_black_hole(void)
{
    sim s;
    path_mtu p = {0};
    sim_init(&s);
    sim_path(&s, &p, 65535);
    sim_start(&s);
    CHECK(sim_run(&s, sim_confirmed, HO_QUIC_SEC(10)));
    s.total = 4 * DOWNLOAD;
    CHECK(sim_run(&s, quarter_received, HO_QUIC_SEC(60)));
    ho_quic_conn *srv = s.conn[1];
    CHECK_EQ(srv->pmtud.current, 1452);
    p.mtu[0] = 1300; /* server -> client only */
    CHECK(sim_run(&s, sim_stream_done, HO_QUIC_SEC(120)));
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv, &st);
    CHECK_EQ(st.pmtud_black_holes, 1);
    CHECK_EQ(st.max_datagram_size, 1200);
    CHECK_EQ(srv->cc.max_datagram_size, 1200);
    CHECK(!ho_quic_conn_is_closing(srv));
    /* The client's direction was not affected. */
    ho_quic_conn_get_stats(s.conn[0], &st);
    CHECK_EQ(st.max_datagram_size, 1452);
    CHECK_EQ(st.pmtud_black_holes, 0);
    sim_free(&s);
}

/* Black hole with nothing acknowledged at all (every server datagram above
 * the base dropped and the stream's data all full-size): the PTO path. */
static void test_black_hole_pto(void)
{
    sim s;
    path_mtu p = {0};
    sim_init(&s);
    sim_path(&s, &p, 65535);
    sim_start(&s);
    CHECK(sim_run(&s, sim_confirmed, HO_QUIC_SEC(10)));
    sim_run(&s, NULL, HO_QUIC_SEC(1));
    ho_quic_conn *srv = s.conn[1];
    CHECK_EQ(srv->pmtud.current, 1452);
    p.mtu[0] = 1250;
    s.total = DOWNLOAD;
    CHECK(sim_run(&s, sim_stream_done, HO_QUIC_SEC(120)));
    CHECK_EQ(srv->pmtud.black_holes, 1);
    CHECK_EQ(srv->pmtud.current, 1200);
    sim_free(&s);
}

int main(void)
{
    sim_make_tls();
    test_default_raise();
    test_probe_sequence_and_loss();
    test_peer_limit();
    test_disabled();
    test_black_hole();
    test_black_hole_pto();
    sim_free_tls();
    return ho_test_summary("test_quic_pmtud");
}
