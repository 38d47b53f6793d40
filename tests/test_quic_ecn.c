/* ECN (src/quic/ecn.c): ACK_ECN counts, validation (RFC 9000 §13.4.2.1)
 * and CE as a congestion event (RFC 9002 §7.1), between our client and
 * server on a simulated network that may bleach, remark or CE-mark. */
#include "quic_sim.h"

enum { DOWNLOAD = 300000 };

static ho_quic_ecn *ecn_of(sim *s, int side) { return &s->conn[side]->ecn; }

/* A whole exchange: handshake, then DOWNLOAD bytes server -> client. */
static bool exchange(sim *s)
{
    sim_start(s);
    bool ok = sim_run(s, sim_confirmed, HO_QUIC_SEC(10));
    s->total = DOWNLOAD;
    ok = ok && sim_run(s, sim_stream_done, HO_QUIC_SEC(60));
    /* Let the last ACKs arrive. */
    sim_run(s, NULL, HO_QUIC_MS(200));
    return ok;
}

static void test_validation_success(void)
{
    sim s;
    sim_init(&s);
    CHECK(exchange(&s));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(s.conn[side], &st);
        CHECK(st.ecn_capable);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_CAPABLE);
        CHECK_EQ(ecn_of(&s, side)->validation_failures, 0);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(s.conn[side]), HO_QUIC_ECN_ECT0);
        /* Validated: (nearly) everything is marked, not just the first ten. */
        CHECK(s.marked[side] > 10);
        CHECK(st.ecn_ect0_received > 10);
        CHECK_EQ(st.ecn_ce_reported, 0);
    }
    /* Counts in our ACK_ECN frames: what the sender last validated per
     * space equals what the receiver counted (no ECT(1), no CE). The client
     * keeps no Initial/Handshake state to compare: check Application. */
    for (int side = 0; side < 2; side++) {
        const uint64_t *rx = ecn_of(&s, !side)->rx[HO_QUIC_PN_SPACE_APPLICATION];
        const uint64_t *seen = ecn_of(&s, side)->peer[HO_QUIC_PN_SPACE_APPLICATION];
        CHECK(rx[0] > 0);
        /* (the newest may be in a packet not acknowledged yet: ACK-only) */
        CHECK(seen[0] <= rx[0] && rx[0] - seen[0] <= 2);
        CHECK_EQ(rx[1], 0);
        CHECK_EQ(rx[2], 0);
        CHECK(ho_quic_ecn_ack_counts(s.conn[!side], HO_QUIC_PN_SPACE_APPLICATION) != NULL);
    }
    sim_free(&s);
}

/* The network zeroes the ECN field (both ways): the peer reports no counts,
 * so validation fails and marking stops (§13.4.2.1, §13.4.2.2). */
static bool net_bleach(sim *s, int to, size_t len, uint8_t *ecn)
{
    (void)s, (void)to, (void)len;
    *ecn = HO_QUIC_ECN_NOT_ECT;
    return true;
}

static void test_bleaching(void)
{
    sim s;
    sim_init(&s);
    s.net = net_bleach;
    CHECK(exchange(&s));
    for (int side = 0; side < 2; side++) {
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(s.conn[side], &st);
        CHECK(!st.ecn_capable);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_FAILED);
        CHECK_EQ(st.ecn_ect0_received, 0);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(s.conn[side]), HO_QUIC_ECN_NOT_ECT);
        /* Only the testing period was marked (A.4: ten packets). */
        CHECK(s.marked[side] <= HO_QUIC_ECN_TESTING_PACKETS);
        CHECK(s.unmarked[side] > 0);
        /* No counts received: plain ACK frames. */
        CHECK(ho_quic_ecn_ack_counts(s.conn[side], HO_QUIC_PN_SPACE_APPLICATION) == NULL);
    }
    sim_free(&s);
}

/* Every other marked server datagram is bleached: the client's ECT(0)
 * count grows less than the packets the server sees acknowledged. */
static bool net_half_bleach(sim *s, int to, size_t len, uint8_t *ecn)
{
    (void)len;
    uint64_t *n = s->net_ctx;
    if (to == 0 && *ecn == HO_QUIC_ECN_ECT0 && (++*n & 1) == 0)
        *ecn = HO_QUIC_ECN_NOT_ECT;
    return true;
}

/* The network remarks ECT(0) to ECT(1): a count for a codepoint we never
 * applied (§13.4.2.1). */
static bool net_remark_ect1(sim *s, int to, size_t len, uint8_t *ecn)
{
    (void)s, (void)len;
    if (to == 0 && *ecn == HO_QUIC_ECN_ECT0)
        *ecn = HO_QUIC_ECN_ECT1;
    return true;
}

static void test_inconsistent_counts(void)
{
    sim_net_fn nets[2] = {net_half_bleach, net_remark_ect1};
    for (int k = 0; k < 2; k++) {
        sim s;
        uint64_t n = 0;
        sim_init(&s);
        s.net = nets[k];
        s.net_ctx = &n;
        CHECK(exchange(&s));
        ho_quic_conn_stats st;
        ho_quic_conn_get_stats(s.conn[1], &st);
        CHECK_EQ(st.ecn_state, HO_QUIC_ECN_FAILED);
        CHECK(ecn_of(&s, 1)->validation_failures == 1);
        CHECK_EQ(ho_quic_conn_ecn_codepoint(s.conn[1]), HO_QUIC_ECN_NOT_ECT);
        /* The other direction was untouched. */
        ho_quic_conn_get_stats(s.conn[0], &st);
        CHECK(st.ecn_capable);
        sim_free(&s);
    }
}

/* Counts that go down are a failure, checked directly on the hook: the
 * client validated counts of 5 ECT(0); an ACK_ECN reporting 4 fails it. */
static void test_decreasing_counts(void)
{
    sim s;
    sim_init(&s);
    CHECK(exchange(&s));
    ho_quic_conn *c = s.conn[0];
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_CAPABLE);
    uint64_t *prev = c->ecn.peer[HO_QUIC_PN_SPACE_APPLICATION];
    uint64_t counts[3] = {prev[0] - 1, prev[1], prev[2]};
    ho_quic_ecn_ack_begin(c);
    /* A reordered ACK (largest not increased) MUST NOT fail validation. */
    ho_quic_ecn_ack_end(c, HO_QUIC_PN_SPACE_APPLICATION, true, counts, false, s.now);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_CAPABLE);
    ho_quic_ecn_ack_end(c, HO_QUIC_PN_SPACE_APPLICATION, true, counts, true, s.now);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_FAILED);
    sim_free(&s);
}

/* CE on server datagrams once validated: congestion events that reduce the
 * window, at most one per round trip (RFC 9002 §7.1, B.6), no loss. */
static bool net_ce(sim *s, int to, size_t len, uint8_t *ecn)
{
    (void)len;
    int *on = s->net_ctx;
    if (to == 0 && *on && *ecn == HO_QUIC_ECN_ECT0)
        *ecn = HO_QUIC_ECN_CE;
    return true;
}

static bool half_received(sim *s) { return s->received >= s->total / 2; }

static void test_ce_reduces_cwnd(void)
{
    sim s;
    int on = 0;
    sim_init(&s);
    s.net = net_ce;
    s.net_ctx = &on;
    sim_start(&s);
    CHECK(sim_run(&s, sim_confirmed, HO_QUIC_SEC(10)));
    s.total = 4 * DOWNLOAD;
    CHECK(sim_run(&s, half_received, HO_QUIC_SEC(60)));
    ho_quic_conn *srv = s.conn[1];
    CHECK_EQ(srv->ecn.state, HO_QUIC_ECN_CAPABLE);
    uint64_t cwnd_before = srv->cc.cwnd;
    uint64_t events_before = srv->cc.congestion_events;
    CHECK_EQ(srv->cc.ecn_ce_events, 0);
    /* Mark every server datagram CE for one round trip's worth of data. */
    on = 1;
    sim_run(&s, NULL, 2 * SIM_ONE_WAY);
    on = 0;
    CHECK(sim_run(&s, sim_stream_done, HO_QUIC_SEC(60)));
    sim_run(&s, NULL, HO_QUIC_MS(200));
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
    sim_free(&s);
}

/* The testing period (RFC 9000 A.4): it ends after three PTOs (or ten
 * packets) without validation; marking stops until counts arrive; if every
 * packet marked while testing is lost, validation fails. */
static void test_testing_period(void)
{
    sim s;
    sim_init(&s);
    sim_start(&s);
    ho_quic_conn *c = s.conn[0];
    sim_flush(&s, 0); /* the client's first flight, never delivered */
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_TESTING);
    CHECK_EQ(ho_quic_conn_ecn_codepoint(c), HO_QUIC_ECN_ECT0);
    CHECK(c->ecn.testing_sent >= 1 && c->ecn.testing_sent < HO_QUIC_ECN_TESTING_PACKETS);
    CHECK(c->ecn.testing_start == s.now);
    ho_quic_time pto = ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
    CHECK_EQ(ho_quic_ecn_begin_send(c, s.now + HO_QUIC_ECN_TESTING_PTOS * pto), HO_QUIC_ECN_ECT0);
    CHECK_EQ(ho_quic_ecn_begin_send(c, s.now + HO_QUIC_ECN_TESTING_PTOS * pto + 1), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_UNKNOWN);
    CHECK(!ho_quic_ecn_batch_must_end(c));
    /* Ten marked packets also end it. */
    c->ecn.state = HO_QUIC_ECN_TESTING;
    c->ecn.testing_sent = HO_QUIC_ECN_TESTING_PACKETS;
    c->ecn.tx_mark = HO_QUIC_ECN_ECT0;
    CHECK(ho_quic_ecn_batch_must_end(c));
    CHECK_EQ(ho_quic_ecn_begin_send(c, s.now), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_UNKNOWN);
    /* All of them lost: failed. */
    c->ecn.testing_lost = c->ecn.testing_sent;
    CHECK_EQ(ho_quic_ecn_begin_send(c, s.now), HO_QUIC_ECN_NOT_ECT);
    CHECK_EQ(c->ecn.state, HO_QUIC_ECN_FAILED);
    sim_free(&s);
}

/* no_ecn: never marks, but still reports what it receives (§13.4.1). */
static void test_disabled(void)
{
    sim s;
    sim_init(&s);
    s.scfg.no_ecn = true;
    CHECK(exchange(&s));
    CHECK_EQ(s.marked[1], 0);
    CHECK_EQ(ecn_of(&s, 1)->state, HO_QUIC_ECN_FAILED);
    CHECK(ecn_of(&s, 1)->rx[HO_QUIC_PN_SPACE_APPLICATION][0] > 0);
    CHECK_EQ(ecn_of(&s, 0)->state, HO_QUIC_ECN_CAPABLE);
    sim_free(&s);
}

int main(void)
{
    sim_make_tls();
    test_validation_success();
    test_bleaching();
    test_inconsistent_counts();
    test_decreasing_counts();
    test_ce_reduces_cwnd();
    test_testing_period();
    test_disabled();
    sim_free_tls();
    return ho_test_summary("test_quic_ecn");
}
