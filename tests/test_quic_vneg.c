/* QUIC version 2 and compatible version negotiation on the network
 * simulator (RFC 9368 §2.3, §4; RFC 9369 §4): v2 end to end, a v1 client
 * moved to v2 by a server that prefers it, a server that stays in the
 * client's version, a v1-only client against a v2-preferring server, a
 * v2-preferring client against a v1-only server (Version Negotiation), and a
 * forged Version Negotiation (downgrade attempt) that ends in
 * VERSION_NEGOTIATION_ERROR. Transfers are checked byte for byte. */
#include "harness.h"
#include "handoff/quic.h"
#include "quic/conn_int.h"
#include "netsim.h"

static void set_versions(uint32_t *dst, uint32_t a, uint32_t b)
{
    memset(dst, 0, sizeof(uint32_t) * HO_QUIC_CONFIG_VERSIONS);
    dst[0] = a;
    dst[1] = b;
}

typedef struct outcome {
    uint32_t cli_version, srv_version, cli_original;
    bool cli_switched, srv_switched;
    bool done;
} outcome;

/* One client, a 200 kB download and 20 kB upload; returns what each side
 * ended with. */
static outcome run_case(const char *name, uint32_t c0, uint32_t c1, uint32_t s0, uint32_t s1)
{
    outcome o = {0};
    uint32_t chosen = 0;
    bool vn = false;
    netsim ns;
    netsim_init(&ns, 7, name);
    set_versions(ns.ccfg.versions, c0, c1);
    set_versions(ns.ecfg.conn.versions, s0, s1);
    CHECK(netsim_start(&ns));
    CHECK_EQ(netsim_add_client(&ns), 0);
    CHECK(netsim_run(&ns, netsim_all_hs, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, 20000, 200000, 3) != NULL);
    o.done = netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(30));
    CHECK(o.done);
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    ho_quic_conn *s = netsim_server_conn(&ns, 0);
    CHECK(s != NULL);
    o.cli_version = ho_quic_conn_version(ns.cl[0]);
    o.cli_original = ho_quic_conn_original_version(ns.cl[0]);
    o.cli_switched = ho_quic_conn_version_switched(ns.cl[0]);
    vn = ho_quic_conn_version_negotiated(ns.cl[0]);
    chosen = ns.cl[0]->tpx.local.vi_chosen;
    if (s != NULL) {
        o.srv_version = ho_quic_conn_version(s);
        o.srv_switched = ho_quic_conn_version_switched(s);
        /* What the server sent as version_information (RFC 9368 §3). */
        CHECK_EQ(s->tpx.local.vi_chosen, o.srv_version);
        CHECK_EQ(ns.cl[0]->tpx.peer.vi_chosen, o.srv_version);
        /* The client's Chosen Version is the version of its Initials (RFC
         * 9368 §4), also in a new first flight after VN. */
        CHECK_EQ(chosen, vn ? o.cli_original : (c0 != 0 ? c0 : HO_QUIC_V1));
    }
    netsim_free(&ns);
    return o;
}

static void test_v2_only(void)
{
    outcome o = run_case("v2-only", HO_QUIC_V2, 0, HO_QUIC_V2, 0);
    CHECK_EQ(o.cli_version, HO_QUIC_V2);
    CHECK_EQ(o.srv_version, HO_QUIC_V2);
    CHECK(!o.cli_switched && !o.srv_switched);
}

/* RFC 9368 §2.3: the client starts in v1 listing v2; the server prefers
 * v2 and answers in it; the client follows. */
static void test_compatible_v1_to_v2(void)
{
    outcome o = run_case("v1-to-v2", HO_QUIC_V1, HO_QUIC_V2, HO_QUIC_V2, HO_QUIC_V1);
    CHECK_EQ(o.cli_original, HO_QUIC_V1);
    CHECK_EQ(o.cli_version, HO_QUIC_V2);
    CHECK_EQ(o.srv_version, HO_QUIC_V2);
    CHECK(o.cli_switched && o.srv_switched);
    /* And from v2 to v1 when the server prefers v1. */
    o = run_case("v2-to-v1", HO_QUIC_V2, HO_QUIC_V1, HO_QUIC_V1, HO_QUIC_V2);
    CHECK_EQ(o.cli_original, HO_QUIC_V2);
    CHECK_EQ(o.cli_version, HO_QUIC_V1);
    CHECK_EQ(o.srv_version, HO_QUIC_V1);
    CHECK(o.cli_switched && o.srv_switched);
}

/* A default server stays in the client's version; a v1-only client gets
 * v1 from a server preferring v2. */
static void test_no_switch(void)
{
    outcome o = run_case("default-server", HO_QUIC_V1, HO_QUIC_V2, 0, 0);
    CHECK_EQ(o.cli_version, HO_QUIC_V1);
    CHECK(!o.cli_switched && !o.srv_switched);
    o = run_case("v1-only-client", HO_QUIC_V1, 0, HO_QUIC_V2, HO_QUIC_V1);
    CHECK_EQ(o.cli_version, HO_QUIC_V1);
    CHECK_EQ(o.srv_version, HO_QUIC_V1);
    CHECK(!o.cli_switched && !o.srv_switched);
    /* A default client offers v2 as well: a server preferring it switches. */
    o = run_case("default-client", 0, 0, HO_QUIC_V2, HO_QUIC_V1);
    CHECK_EQ(o.cli_version, HO_QUIC_V2);
    CHECK(o.cli_switched && o.srv_switched);
    o = run_case("default-both", 0, 0, 0, 0);
    CHECK_EQ(o.cli_version, HO_QUIC_V1);
    CHECK_EQ(o.srv_version, HO_QUIC_V1);
    CHECK(!o.cli_switched && !o.srv_switched);
}

/* A v2-only server draws a Version Negotiation from a v1-only client. */
static void test_v2_server_vn(void)
{
    netsim ns;
    netsim_init(&ns, 3, "v2-server-vn");
    set_versions(ns.ccfg.versions, HO_QUIC_V1, 0);
    set_versions(ns.ecfg.conn.versions, HO_QUIC_V2, 0);
    CHECK(netsim_start(&ns));
    CHECK_EQ(netsim_add_client(&ns), 0);
    netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(5));
    CHECK(ho_quic_conn_is_closed(ns.cl[0]));
    CHECK_EQ(ho_quic_conn_error(ns.cl[0]), HO_ERR_QUIC_VERSION);
    CHECK_EQ(ns.accepted, 0);
    netsim_free(&ns);
}

/* RFC 9368 §4: a client preferring v2 meets a v1-only server, which answers
 * with Version Negotiation; the client sends a new first flight in v1
 * whose version_information names v1 as its Chosen Version, and the
 * connection completes (before, the resent ClientHello still named v2 and
 * the server closed with VERSION_NEGOTIATION_ERROR). */
static void test_v2_client_vn_to_v1(void)
{
    outcome o = run_case("v2-client-v1-server", HO_QUIC_V2, HO_QUIC_V1, HO_QUIC_V1, 0);
    CHECK(o.done);
    CHECK_EQ(o.cli_version, HO_QUIC_V1);
    CHECK_EQ(o.cli_original, HO_QUIC_V1);
    CHECK_EQ(o.srv_version, HO_QUIC_V1);
    CHECK(!o.cli_switched && !o.srv_switched);
}

/* RFC 9368 §4: a forged Version Negotiation makes a client that prefers v2
 * restart in v1; the server's version_information lists v2, which the
 * client would have picked: VERSION_NEGOTIATION_ERROR, no data. */
static void test_downgrade_forged_vn(void)
{
    netsim ns;
    netsim_init(&ns, 5, "forged-vn");
    set_versions(ns.ccfg.versions, HO_QUIC_V2, HO_QUIC_V1);
    CHECK(netsim_start(&ns));
    CHECK_EQ(netsim_add_client(&ns), 0);
    ho_quic_conn *c = ns.cl[0];
    /* The attacker answers the client's first Initial before the server. */
    const uint32_t only_v1[] = {HO_QUIC_V1};
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_vn_write(&b, c->dcid.data, c->dcid.len, c->scid.data, c->scid.len, only_v1, 1, 0), HO_OK);
    CHECK_EQ(ho_quic_conn_receive(c, b.data, b.len, &ns.cpath[0], ns.now), HO_OK);
    ho_buf_free(&b);
    CHECK(ho_quic_conn_version_negotiated(c));
    CHECK_EQ(ho_quic_conn_version(c), HO_QUIC_V1);
    netsim_run(&ns, netsim_all_closed, HO_QUIC_SEC(10));
    /* Whichever side checks first (the server: the client's Chosen Version
     * is not the version of its Initials; the client: v2 was available),
     * the connection closes with VERSION_NEGOTIATION_ERROR. */
    int ce = ho_quic_conn_error(c);
    CHECK(ce == HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR) || ns.srv_close_code[0] == 0x11);
    CHECK(!ho_quic_conn_handshake_done(c) || ce == HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR));
    netsim_free(&ns);
}

/* The client-side check alone (RFC 9368 §4): a server whose Chosen Version
 * differs from the version of its long headers. */
static void test_client_checks_chosen(void)
{
    ho_quic_config cfg = {0};
    netsim ns;
    netsim_init(&ns, 9, "chosen-check");
    cfg = ns.ccfg;
    set_versions(cfg.versions, HO_QUIC_V1, HO_QUIC_V2);
    ho_quic_conn *c = ho_quic_conn_new_client(&cfg, &ns.cpath[0], ns.now);
    CHECK(c != NULL);
    ho_quic_tparams p;
    ho_quic_tparams_init(&p);
    p.present = ho_quic_tp_bit(HO_QUIC_TP_VERSION_INFORMATION);
    p.vi_chosen = HO_QUIC_V2; /* but we are in v1: a downgrade-style mismatch */
    p.vi_available[0] = HO_QUIC_V2;
    p.vi_count = 1;
    CHECK_EQ(ho_quic_version_on_peer_tparams(c, &p), HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR));
    p.vi_chosen = HO_QUIC_V1;
    CHECK_EQ(ho_quic_version_on_peer_tparams(c, &p), HO_OK);
    /* A version we never offered. */
    c->version = 0x1a2a3a4a;
    p.vi_chosen = 0x1a2a3a4a;
    CHECK_EQ(ho_quic_version_on_peer_tparams(c, &p), HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR));
    c->version = HO_QUIC_V1;
    ho_quic_conn_free(c);
    /* Server side: the client's Chosen Version must be its Initials'. */
    ho_quic_config scfg = ns.ecfg.conn;
    uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    ho_quic_conn *s = ho_quic_conn_new_server(&scfg, dcid, 8, dcid, 4, &ns.spath[0], ns.now);
    CHECK(s != NULL);
    p.vi_chosen = HO_QUIC_V2;
    p.vi_available[0] = HO_QUIC_V2;
    CHECK_EQ(ho_quic_version_on_peer_tparams(s, &p), HO_ERR_QUIC(HO_QUIC_VERSION_NEGOTIATION_ERROR));
    CHECK_EQ(ho_quic_version_server_start(s, HO_QUIC_V2), HO_OK);
    CHECK_EQ(ho_quic_version_on_peer_tparams(s, &p), HO_OK);
    ho_quic_conn_free(s);
    netsim_free(&ns);
}

int main(void)
{
    netsim_global_init();
    RUN(test_v2_only);
    RUN(test_compatible_v1_to_v2);
    RUN(test_no_switch);
    RUN(test_v2_server_vn);
    RUN(test_v2_client_vn_to_v1);
    RUN(test_downgrade_forged_vn);
    RUN(test_client_checks_chosen);
    netsim_global_free();
    return ho_test_summary("test_quic_vneg");
}
