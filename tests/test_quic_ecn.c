/* ECN (src/quic/ecn.c): ACK_ECN counts, validation (RFC 9000 §13.4.2.1)
 * and CE as a congestion event (RFC 9002 §7.1), between our client and
 * server (netsim: its endpoint) on a simulated network whose filter may
 * bleach, remark or CE-mark. */
#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"

enum { DOWNLOAD = 300000 };

/* Side 0 is the client, side 1 its connection on the server endpoint. */
static ho_quic_conn *conn_of(netsim *ns, int side) { return side == 0 ? ns->cl[0] : netsim_server_conn(ns, 0); }
static ho_quic_ecn *ecn_of(netsim *ns, int side) { return &conn_of(ns, side)->ecn; }
/* The datagrams a side sent, by the codepoint it set. */
static const netsim_link *sent_by(netsim *ns, int side) { return &ns->link[0][side == 0 ? NETSIM_C2S : NETSIM_S2C]; }
static uint64_t marked(netsim *ns, int side) { return sent_by(ns, side)->sent_ecn[HO_QUIC_ECN_ECT0]; }
static uint64_t unmarked(netsim *ns, int side) { return sent_by(ns, side)->offered - marked(ns, side); }

static bool start(netsim *ns) { return netsim_start(ns) && netsim_add_client(ns) == 0; }

/* A whole exchange: handshake, then DOWNLOAD bytes server -> client,
 * checked byte for byte. */
static bool exchange(netsim *ns)
{
    bool ok = start(ns) && netsim_run(ns, netsim_hs_done, HO_QUIC_SEC(10));
    ok = ok && netsim_xfer_add(ns, 0, 0, DOWNLOAD, 1) != NULL;
    ok = ok && netsim_run(ns, netsim_xfers_done, HO_QUIC_SEC(60)) && netsim_xfers_check(ns) == 0;
    /* Let the last ACKs arrive. */
    netsim_run(ns, NULL, HO_QUIC_MS(200));
    return ok;
}

static void test_validation_success(void)
{
    netsim ns;
    netsim_init(&ns, 1, "ecn-validation");
    CHECK(exchange(&ns));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(conn_of(&ns, side), &st);
        CHECK(st.ecn_capable);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_CAPABLE);
        CHECK_EQ(ecn_of(&ns, side)->validation_failures, 0);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(conn_of(&ns, side)), HO_QUIC_ECN_ECT0);
        /* Validated: (nearly) everything is marked, not just the first ten. */
        CHECK(marked(&ns, side) > 10);
        CHECK(st.ecn_ect0_received > 10);
        CHECK_EQ(st.ecn_ce_reported, 0);
    }
    /* Counts in our ACK_ECN frames: what the sender last validated per
     * space equals what the receiver counted (no ECT(1), no CE). The client
     * keeps no Initial/Handshake state to compare: check Application. */
    for (int side = 0; side < 2; side++) {
        const uint64_t *rx = ecn_of(&ns, !side)->rx[HO_QUIC_PN_SPACE_APPLICATION];
        const uint64_t *seen = ecn_of(&ns, side)->peer[HO_QUIC_PN_SPACE_APPLICATION];
        CHECK(rx[0] > 0);
        /* (the newest may be in a packet not acknowledged yet: ACK-only) */
        CHECK(seen[0] <= rx[0] && rx[0] - seen[0] <= 2);
        CHECK_EQ(rx[1], 0);
        CHECK_EQ(rx[2], 0);
        CHECK(ho_quic_ecn_ack_counts(conn_of(&ns, !side), HO_QUIC_PN_SPACE_APPLICATION) != NULL);
    }
    netsim_free(&ns);
}

/* The network zeroes the ECN field (both ways): the peer reports no counts,
 * so validation fails and marking stops (§13.4.2.1, §13.4.2.2). */
static bool net_bleach(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index, uint8_t *ecn)
{
    (void)ctx, (void)client, (void)dir, (void)d, (void)len, (void)index;
    *ecn = HO_QUIC_ECN_NOT_ECT;
    return false;
}

static void test_bleaching(void)
{
    netsim ns;
    netsim_init(&ns, 2, "ecn-bleaching");
    ns.filter = net_bleach;
    CHECK(exchange(&ns));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(conn_of(&ns, side), &st);
        CHECK(!st.ecn_capable);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_FAILED);
        CHECK_EQ(st.ecn_ect0_received, 0);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(conn_of(&ns, side)), HO_QUIC_ECN_NOT_ECT);
        /* Only the testing period was marked (A.4: ten packets). */
        CHECK(marked(&ns, side) <= HO_QUIC_ECN_TESTING_PACKETS);
        CHECK(unmarked(&ns, side) > 0);
        /* No counts received: plain ACK frames. */
        CHECK(ho_quic_ecn_ack_counts(conn_of(&ns, side), HO_QUIC_PN_SPACE_APPLICATION) == NULL);
    }
    netsim_free(&ns);
}

/* Every other marked server datagram is bleached: the client's ECT(0)
 * count grows less than the packets the server sees acknowledged. */
static bool net_half_bleach(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                            uint8_t *ecn)
{
    (void)client, (void)d, (void)len, (void)index;
    uint64_t *n = ctx;
    if (dir == NETSIM_S2C && *ecn == HO_QUIC_ECN_ECT0 && (++*n & 1) == 0)
        *ecn = HO_QUIC_ECN_NOT_ECT;
    return false;
}

/* The network remarks ECT(0) to ECT(1): a count for a codepoint we never
 * applied (§13.4.2.1). */
static bool net_remark_ect1(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                            uint8_t *ecn)
{
    (void)ctx, (void)client, (void)d, (void)len, (void)index;
    if (dir == NETSIM_S2C && *ecn == HO_QUIC_ECN_ECT0)
        *ecn = HO_QUIC_ECN_ECT1;
    return false;
}

static void test_inconsistent_counts(void)
{
    netsim_filter_fn nets[2] = {net_half_bleach, net_remark_ect1};
    for (int k = 0; k < 2; k++) {
        netsim ns;
        uint64_t n = 0;
        netsim_init(&ns, 3, k == 0 ? "ecn-half-bleach" : "ecn-remark-ect1");
        ns.filter = nets[k];
        ns.filter_ctx = &n;
        CHECK(exchange(&ns));
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(conn_of(&ns, 1), &st);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_FAILED);
        CHECK(ecn_of(&ns, 1)->validation_failures == 1);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(conn_of(&ns, 1)), HO_QUIC_ECN_NOT_ECT);
        /* The other direction was untouched. */
        ho_quic_conn_get_stats(conn_of(&ns, 0), &st);
        CHECK(st.ecn_capable);
        netsim_free(&ns);
    }
}

/* Counts that go down are a failure, checked directly on the hook: the
 * client validated counts of 5 ECT(0); an ACK_ECN reporting 4 fails it. */
static void test_decreasing_counts(void)
{
    netsim ns;
    netsim_init(&ns, 4, "ecn-decreasing");
    CHECK(exchange(&ns));
    ho_quic_conn *c = conn_of(&ns, 0);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_CAPABLE);
    uint64_t *prev = c->ecn.peer[HO_QUIC_PN_SPACE_APPLICATION];
    uint64_t counts[3] = {prev[0] - 1, prev[1], prev[2]};
    ho_quic_ecn_ack_begin(c);
    /* A reordered ACK (largest not increased) MUST NOT fail validation. */
    ho_quic_ecn_ack_end(c, HO_QUIC_PN_SPACE_APPLICATION, true, counts, false, ns.now);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_CAPABLE);
    ho_quic_ecn_ack_end(c, HO_QUIC_PN_SPACE_APPLICATION, true, counts, true, ns.now);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_FAILED);
    netsim_free(&ns);
}

/* CE on server datagrams once validated: congestion events that reduce the
 * window, at most one per round trip (RFC 9002 §7.1, B.6), no loss. */
static bool net_ce(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index, uint8_t *ecn)
{
    (void)client, (void)d, (void)len, (void)index;
    int *on = ctx;
    if (dir == NETSIM_S2C && *on && *ecn == HO_QUIC_ECN_ECT0)
        *ecn = HO_QUIC_ECN_CE;
    return false;
}

static bool half_received(netsim *ns) { return ns->x[0].received >= ns->x[0].down / 2; }

static void test_ce_reduces_cwnd(void)
{
    netsim ns;
    int on = 0;
    netsim_init(&ns, 5, "ecn-ce");
    ns.filter = net_ce;
    ns.filter_ctx = &on;
    CHECK(start(&ns));
    CHECK(netsim_run(&ns, netsim_hs_done, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, 0, 4 * DOWNLOAD, 1) != NULL);
    CHECK(netsim_run(&ns, half_received, HO_QUIC_SEC(60)));
    ho_quic_conn *srv = conn_of(&ns, 1);
    CHECK_EQ(srv->ecn.state, HO_QUIC_ECN_CAPABLE);
    uint64_t cwnd_before = srv->cc.cwnd;
    uint64_t events_before = srv->cc.congestion_events;
    CHECK_EQ(srv->cc.ecn_ce_events, 0);
    /* Mark every server datagram CE for one round trip's worth of data. */
    on = 1;
    netsim_run(&ns, NULL, ns.link[0][NETSIM_C2S].delay + ns.link[0][NETSIM_S2C].delay);
    on = 0;
    CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(60)) && netsim_xfers_check(&ns) == 0);
    netsim_run(&ns, NULL, HO_QUIC_MS(200));
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv, &st);
    CHECK(st.ecn_ce_reported > 1);
    CHECK(srv->cc.ecn_ce_events >= 1);
    /* Many CE marks within about one round: one reduction (maybe two when
     * the marking straddled a recovery period's end), not one per mark. */
    uint64_t events = srv->cc.congestion_events - events_before;
    CHECK(events >= 1);
    CHECK(events <= 2);
    CHECK(events < st.ecn_ce_reported);
    CHECK(srv->cc.ssthresh < cwnd_before);
    CHECK_EQ(st.packets_lost, 0);
    CHECK_EQ(srv->ecn.state, HO_QUIC_ECN_CAPABLE);
    netsim_free(&ns);
}

/* The testing period (RFC 9000 A.4): it ends after three PTOs (or ten
 * packets) without validation; marking stops until counts arrive; if every
 * packet marked while testing is lost, validation fails. */
static void test_testing_period(void)
{
    netsim ns;
    netsim_init(&ns, 6, "ecn-testing-period");
    CHECK(start(&ns));
    ho_quic_conn *c = conn_of(&ns, 0);
    netsim_flush(&ns); /* the client's first flight, never delivered */
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_TESTING);
    CHECK_EQ(ho_quic_conn_ecn_codepoint(c), HO_QUIC_ECN_ECT0);
    CHECK(c->ecn.testing_sent >= 1 && c->ecn.testing_sent < HO_QUIC_ECN_TESTING_PACKETS);
    CHECK(c->ecn.testing_start == ns.now);
    ho_quic_time pto = ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
    CHECK_EQ(ho_quic_ecn_begin_send(c, ns.now + HO_QUIC_ECN_TESTING_PTOS * pto), HO_QUIC_ECN_ECT0);
    CHECK_EQ(ho_quic_ecn_begin_send(c, ns.now + HO_QUIC_ECN_TESTING_PTOS * pto + 1), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_UNKNOWN);
    CHECK(!ho_quic_ecn_batch_must_end(c));
    /* Ten marked packets also end it. */
    c->ecn.state = HO_QUIC_ECN_TESTING;
    c->ecn.testing_sent = HO_QUIC_ECN_TESTING_PACKETS;
    c->ecn.tx_mark = HO_QUIC_ECN_ECT0;
    CHECK(ho_quic_ecn_batch_must_end(c));
    CHECK_EQ(ho_quic_ecn_begin_send(c, ns.now), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_UNKNOWN);
    /* All of them lost: failed. */
    c->ecn.testing_lost = c->ecn.testing_sent;
    CHECK_EQ(ho_quic_ecn_begin_send(c, ns.now), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_FAILED);
    netsim_free(&ns);
}

/* no_ecn: never marks, but still reports what it receives (§13.4.1). */
static void test_disabled(void)
{
    netsim ns;
    netsim_init(&ns, 7, "ecn-disabled");
    ns.ecfg.conn.no_ecn = true;
    CHECK(exchange(&ns));
    CHECK_EQ(marked(&ns, 1), 0);
    CHECK_EQ(ecn_of(&ns, 1)->state, HO_QUIC_ECN_FAILED);
    CHECK(ecn_of(&ns, 1)->rx[HO_QUIC_PN_SPACE_APPLICATION][0] > 0);
    CHECK_EQ(ecn_of(&ns, 0)->state, HO_QUIC_ECN_CAPABLE);
    netsim_free(&ns);
}

int main(void)
{
    netsim_global_init();
    RUN(test_validation_success);
    RUN(test_bleaching);
    RUN(test_inconsistent_counts);
    RUN(test_decreasing_counts);
    RUN(test_ce_reduces_cwnd);
    RUN(test_testing_period);
    RUN(test_disabled);
    netsim_global_free();
    return ho_test_summary("test_quic_ecn");
}
