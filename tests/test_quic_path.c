/* test_quic_path: connection IDs, stateless reset detection, path
 * validation and migration (src/quic/cid.c, src/quic/path.c) with an
 * in-memory client connection talking to the server endpoint over a
 * simulated link (virtual clock, one-way delay, addresses, a NAT that can
 * rebind, dead ports, a spoofing attacker): CIDs issued to the limit (4),
 * routed, retired and replaced, RETIRE_CONNECTION_ID errors, Retire Prior
 * To; a stateless reset seen by the client and by the server; NAT
 * rebinding and ho_quic_conn_migrate mid-transfer, three migrations back to
 * back without waiting for NEW_CONNECTION_ID; failed validations on
 * both sides falling back; a spoofed address held to 3x; a new IP
 * resetting congestion control; disable_active_migration. */
#include <string.h>
#include <stdlib.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/conn_int.h"
#include "netsim.h"

#define CLIENT_PORT NETSIM_CLIENT_PORT

/* One client and the server endpoint on netsim (5 ms each way, a 1500-byte
 * MTU), and the topology around them: the ports the client receives on, a
 * dead port, a muted client, and the bytes to and from a watched port. */
typedef struct world {
    netsim ns;
    uint16_t dead_port;        /* datagrams from/to this client port vanish */
    bool client_mute;          /* every client datagram vanishes */
    uint16_t live_ports[4];    /* the client receives on these ports */
    /* the transfer: the client asks, the server sends `total` bytes */
    uint64_t sid;
    size_t total, sent, received;
    bool request_seen, fin, bad;
    uint16_t watch_port;
    uint64_t watch_rx, watch_tx;
} world;

static uint8_t pattern(size_t i) { return (uint8_t)(i * 13 + (i >> 9)); }

static uint16_t port_of(const struct sockaddr_storage *ss) { return ntohs(((const struct sockaddr_in *)ss)->sin_port); }

static ho_quic_path client_path(uint16_t port)
{
    ho_quic_path p;
    memset(&p, 0, sizeof(p));
    netsim_addr(&p.local, &p.local_len, port);
    netsim_addr(&p.remote, &p.remote_len, NETSIM_SERVER_PORT);
    return p;
}

/* The server's connection (NULL once freed). */
static ho_quic_conn *srv(world *w) { return netsim_server_conn(&w->ns, 0); }

static bool port_live(const world *w, uint16_t port)
{
    for (int i = 0; i < 4; i++)
        if (w->live_ports[i] == port && port != 0)
            return true;
    return false;
}

/* Arrivals: dead and unlistened ports, a muted client; the watched port. */
static bool arrive(netsim *ns, const netsim_pkt *p)
{
    world *w = ns->user;
    if (p->dir == NETSIM_S2C)
        return !port_live(w, p->port) || p->port == w->dead_port;
    if (p->port == w->dead_port || w->client_mute)
        return true;
    if (p->port == w->watch_port)
        w->watch_rx += p->len;
    return false;
}

static bool endpoint_out(netsim *ns, const ho_quic_endpoint_out *out)
{
    world *w = ns->user;
    if (port_of(&out->path.remote) == w->watch_port)
        w->watch_tx += out->len;
    return false;
}

static void app(netsim *ns);

static void world_init(world *w, size_t total)
{
    memset(w, 0, sizeof(*w));
    netsim_init(&w->ns, 1, "path");
    netsim_link link = {.delay = HO_QUIC_MS(5), .mtu = 1500};
    netsim_set_links(&w->ns, -1, &link);
    /* the transfer is this test's own application */
    w->ns.ecfg.conn.callbacks.stream_opened = NULL;
    w->ns.app = app;
    w->ns.deliver_hook = arrive;
    w->ns.ep_out_hook = endpoint_out;
    w->ns.user = w;
    w->total = total;
    w->live_ports[0] = CLIENT_PORT;
    CHECK(netsim_start(&w->ns));
    CHECK_EQ(netsim_add_client(&w->ns), 0);
}

static void world_free(world *w) { netsim_free(&w->ns); }

/* Hands a client datagram to the server endpoint as coming from
 * 127.0.0.<host>:port (a port that is the client's from now on). */
static void to_server_from(world *w, uint8_t host, uint16_t port, const uint8_t *p, size_t len)
{
    ho_quic_path sp = w->ns.spath[0];
    netsim_client_port(&w->ns, 0, port);
    struct sockaddr_in *a = (struct sockaddr_in *)&sp.remote;
    a->sin_port = htons(port);
    a->sin_addr.s_addr = htonl(0x7f000000u | host);
    if (port == w->watch_port)
        w->watch_rx += len;
    ho_quic_endpoint_receive(w->ns.ep, p, len, &sp, w->ns.now);
}

static void to_server(world *w, uint16_t port, const uint8_t *p, size_t len) { to_server_from(w, 1, port, p, len); }

static void flush(world *w) { netsim_send(&w->ns); }

/* The next client datagram in flight (the client is made to send one if
 * none is); NULL if there is none. */
static const netsim_pkt *client_dgram_in_flight(world *w)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        const netsim_pkt *first = NULL;
        for (size_t i = 0; i < w->ns.q.n; i++) {
            const netsim_pkt *p = &w->ns.q.heap[i];
            if (p->dir == NETSIM_C2S && (first == NULL || p->seq < first->seq))
                first = p;
        }
        if (first != NULL)
            return first;
        uint64_t id;
        size_t wr;
        if (ho_quic_stream_open(w->ns.cl[0], false, &id) == HO_OK)
            ho_quic_stream_write(w->ns.cl[0], id, "x", 1, true, &wr);
        flush(w);
    }
    return NULL;
}

/* The applications: the client sends a request on stream 0, the server
 * answers with `total` pattern bytes, the client checks them. */
static void app(netsim *ns)
{
    world *w = ns->user;
    ho_quic_conn *cl = ns->cl[0], *sc = srv(w);
    static uint8_t buf[65536];
    size_t n, wr;
    bool fin;
    if (cl != NULL && ho_quic_conn_handshake_done(cl) && w->sid == 0 && !w->request_seen) {
        if (ho_quic_stream_open(cl, true, &w->sid) == HO_OK)
            ho_quic_stream_write(cl, w->sid, "GET", 3, true, &wr);
        w->sid++; /* 0 means "not opened": store id + 1 */
    }
    if (sc != NULL && w->sid != 0) {
        uint64_t id = w->sid - 1;
        if (!w->request_seen && ho_quic_stream_read(sc, id, buf, sizeof(buf), &n, &fin) == HO_OK && fin)
            w->request_seen = true;
        while (w->request_seen && w->sent < w->total) {
            size_t k = w->total - w->sent < sizeof(buf) ? w->total - w->sent : sizeof(buf);
            for (size_t i = 0; i < k; i++)
                buf[i] = pattern(w->sent + i);
            if (ho_quic_stream_write(sc, id, buf, k, w->sent + k == w->total, &wr) != HO_OK && wr == 0)
                break;
            w->sent += wr;
            if (wr < k)
                break;
        }
    }
    if (w->sid != 0 && !w->fin) {
        while (ho_quic_stream_read(cl, w->sid - 1, buf, sizeof(buf), &n, &fin) == HO_OK) {
            for (size_t i = 0; i < n; i++)
                if (buf[i] != pattern(w->received + i))
                    w->bad = true;
            w->received += n;
            if (fin)
                w->fin = true;
            if (fin || n == 0)
                break;
        }
    }
}

typedef bool (*cond_fn)(world *w);
static cond_fn run_cond;

static bool world_cond(netsim *ns) { return run_cond(ns->user); }

static bool run(world *w, cond_fn cond, ho_quic_time limit)
{
    run_cond = cond;
    return netsim_run(&w->ns, cond != NULL ? world_cond : NULL, limit) && cond != NULL;
}

static bool confirmed(world *w)
{
    ho_quic_conn *sc = srv(w), *cl = w->ns.cl[0];
    return sc != NULL && ho_quic_conn_handshake_confirmed(cl) && ho_quic_conn_handshake_confirmed(sc) &&
           sc->local_cids[1].in_use && !sc->local_cids[1].new_pending && cl->peer_cids[1].in_use &&
           sc->peer_cids[1].in_use;
}
static bool got_300k(world *w) { return w->received >= 300000; }
static bool done(world *w) { return w->fin; }
static bool cli_closed(world *w) { return w->ns.cli_closed[0] > 0; }
static bool srv_gone(world *w) { return srv(w) == NULL; }

static size_t active_local(const ho_quic_conn *c, uint64_t *max_seq)
{
    size_t n = 0;
    *max_seq = 0;
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++)
        if (c->local_cids[i].in_use) {
            n++;
            if (c->local_cids[i].seq > *max_seq)
                *max_seq = c->local_cids[i].seq;
        }
    return n;
}

/* A client 1-RTT packet with these frames, sealed with the client's keys,
 * addressed to `dcid`, handed to the endpoint from the client's port. */
static void inject(world *w, const ho_quic_cid *dcid, const uint8_t *frames, size_t len)
{
    ho_quic_conn *c = w->ns.cl[0];
    ho_quic_space *sp = &c->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {0};
    h.type = HO_QUIC_PKT_1RTT;
    h.version = HO_QUIC_VERSION_1;
    h.dcid = *dcid;
    h.pn = sp->next_pn++;
    h.pn_len = 4;
    h.key_phase = c->kp.tx_phase;
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    ho_put_bytes(&b, frames, len);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &sp->tx, 0), HO_OK);
    to_server(w, CLIENT_PORT, b.data, b.len);
    ho_buf_free(&b);
}

/* ---- tests ------------------------------------------------------------------ */

/* Each side issues CIDs up to the other's limit (HO_QUIC_PEER_CIDS_MAX, 4:
 * the handshake's and three more; RFC 9000 §5.1.1), the endpoint routes the
 * new ones, a retired one is replaced and forgotten by the endpoint. */
static void test_cids(void)
{
    world w;
    world_init(&w, 0);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    uint64_t max_seq;
    /* Both announce 4 (RFC 9000 §18.2) ... */
    CHECK_EQ(srv(&w)->tpx.local.active_connection_id_limit, 4);
    CHECK_EQ(srv(&w)->tpx.peer.active_connection_id_limit, 4);
    /* ... and each supplies that many (§5.1.1). */
    CHECK_EQ(active_local(srv(&w), &max_seq), 4);
    CHECK_EQ(max_seq, 3);
    CHECK_EQ(active_local(w.ns.cl[0], &max_seq), 4);
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv(&w), &st);
    CHECK_EQ(st.cids_issued, 3);
    /* The client moves to the server's CID 1 and retires CID 0. */
    ho_quic_cid old = w.ns.cl[0]->dcid;
    CHECK(ho_quic_cid_switch_dcid(w.ns.cl[0]));
    CHECK(!ho_quic_cid_eq(&old, &w.ns.cl[0]->dcid));
    CHECK_EQ(w.ns.cl[0]->dcid_seq, 1);
    ho_quic_conn_stats before;
    ho_quic_conn_get_stats(srv(&w), &before);
    w.total = 50000;
    CHECK(run(&w, done, HO_QUIC_SEC(5)));
    CHECK(!w.bad);
    ho_quic_conn_get_stats(srv(&w), &st);
    CHECK(st.packets_received > before.packets_received); /* routed by CID 1 */
    CHECK_EQ(st.cids_retired, 1);
    CHECK_EQ(st.cids_issued, 4);
    CHECK_EQ(active_local(srv(&w), &max_seq), 4);
    CHECK_EQ(max_seq, 4);
    CHECK(!ho_quic_cid_is_ours(srv(&w), &old));
    /* The client got the replacement. */
    bool have4 = false;
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++)
        have4 |= w.ns.cl[0]->peer_cids[i].in_use && w.ns.cl[0]->peer_cids[i].seq == 4;
    CHECK(have4);
    /* The endpoint still routes the retired CID 0 to the connection for a
     * while (a packet sent before the retirement may arrive after it):
     * the connection drops it, and no stateless reset kills it. */
    ho_quic_endpoint_stats es;
    ho_quic_endpoint_get_stats(w.ns.ep, &es);
    uint64_t resets = es.resets_sent;
    uint8_t pkt[60];
    ho_random(pkt, sizeof(pkt));
    pkt[0] = 0x40;
    memcpy(pkt + 1, old.data, old.len);
    ho_quic_conn_stats cs0, cs1;
    ho_quic_conn_get_stats(srv(&w), &cs0);
    to_server(&w, CLIENT_PORT, pkt, sizeof(pkt));
    ho_quic_endpoint_get_stats(w.ns.ep, &es);
    CHECK_EQ(es.resets_sent, resets);
    ho_quic_conn_get_stats(srv(&w), &cs1);
    CHECK_EQ(cs1.packets_dropped, cs0.packets_dropped + 1);
    CHECK(!ho_quic_conn_is_closing(srv(&w)));
    /* §19.16: a sequence number never issued is PROTOCOL_VIOLATION. */
    uint8_t rc[2] = {HO_QUIC_FT_RETIRE_CONNECTION_ID, 9};
    inject(&w, &w.ns.cl[0]->dcid, rc, sizeof(rc));
    CHECK(ho_quic_conn_is_closing(srv(&w)));
    CHECK_EQ(ho_quic_conn_error(srv(&w)), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    world_free(&w);

    /* §19.16: retiring the CID the packet was sent to is PROTOCOL_VIOLATION. */
    world_init(&w, 0);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    uint8_t rc0[2] = {HO_QUIC_FT_RETIRE_CONNECTION_ID, 0};
    inject(&w, &w.ns.cl[0]->dcid, rc0, sizeof(rc0)); /* dcid is CID 0 */
    CHECK(ho_quic_conn_is_closing(srv(&w)));
    CHECK_EQ(ho_quic_conn_error(srv(&w)), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    world_free(&w);

    /* Retire Prior To (§5.1.2): the server retires everything below 5; the
     * client stops using CIDs 0-3, sends RETIRE_CONNECTION_ID for each and
     * moves to CID 5. */
    world_init(&w, 0);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    ho_quic_frame nc = {.type = HO_QUIC_FT_NEW_CONNECTION_ID};
    nc.new_connection_id.seq = 5;
    nc.new_connection_id.retire_prior_to = 5;
    nc.new_connection_id.cid.len = 8;
    memset(nc.new_connection_id.cid.data, 0x55, 8);
    memset(nc.new_connection_id.reset_token, 0x66, 16);
    CHECK_EQ(ho_quic_cid_on_new(w.ns.cl[0], &nc), HO_OK);
    CHECK_EQ(w.ns.cl[0]->dcid_seq, 5);
    CHECK_EQ(w.ns.cl[0]->nretire_pending, 4);
    ho_quic_frame f;
    CHECK(ho_quic_cid_next_frame(w.ns.cl[0], &f));
    CHECK_EQ(f.type, HO_QUIC_FT_RETIRE_CONNECTION_ID);
    /* A CID below Retire Prior To arriving late is retired at once. */
    nc.new_connection_id.seq = 4;
    nc.new_connection_id.retire_prior_to = 0;
    memset(nc.new_connection_id.cid.data, 0x44, 8);
    CHECK_EQ(ho_quic_cid_on_new(w.ns.cl[0], &nc), HO_OK);
    CHECK_EQ(w.ns.cl[0]->nretire_pending, 5);
    world_free(&w);

    /* A retransmitted NEW_CONNECTION_ID for a CID we already retired does
     * not bring it back (we would use a CID the peer forgot). */
    world_init(&w, 0);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    ho_quic_peer_cid first = w.ns.cl[0]->peer_cids[0];
    CHECK(ho_quic_cid_switch_dcid(w.ns.cl[0]));
    nc.new_connection_id.seq = first.seq;
    nc.new_connection_id.retire_prior_to = 0;
    nc.new_connection_id.cid = first.cid;
    memset(nc.new_connection_id.reset_token, 0x77, 16);
    CHECK_EQ(ho_quic_cid_on_new(w.ns.cl[0], &nc), HO_OK);
    size_t active = 0;
    bool revived = false;
    for (size_t k = 0; k < HO_QUIC_PEER_CIDS_MAX; k++) {
        active += w.ns.cl[0]->peer_cids[k].in_use;
        revived |= w.ns.cl[0]->peer_cids[k].in_use && w.ns.cl[0]->peer_cids[k].seq == first.seq;
    }
    CHECK_EQ(active, HO_QUIC_PEER_CIDS_MAX - 1);
    CHECK(!revived);
    world_free(&w);
}

/* The server endpoint loses the connection (a new endpoint with the same
 * static secret): the client's next packet, sent to a CID from
 * NEW_CONNECTION_ID, draws a stateless reset; the client drains and
 * reports HO_ERR_QUIC_STATELESS_RESET. */
static void test_reset_client(void)
{
    world w;
    world_init(&w, 0);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    CHECK(ho_quic_cid_switch_dcid(w.ns.cl[0])); /* the token checked comes from NEW_CONNECTION_ID */
    ho_quic_endpoint_free(w.ns.ep);
    w.ns.ep = ho_quic_endpoint_new(&w.ns.ecfg);
    w.total = 1000;
    w.sid = 0;
    uint64_t id;
    size_t wr;
    CHECK_EQ(ho_quic_stream_open(w.ns.cl[0], true, &id), HO_OK);
    ho_quic_stream_write(w.ns.cl[0], id, "again", 5, true, &wr);
    CHECK(run(&w, cli_closed, HO_QUIC_SEC(10)));
    CHECK_EQ(w.ns.cli_close_err[0], HO_ERR_QUIC_STATELESS_RESET);
    CHECK_EQ(ho_quic_conn_error(w.ns.cl[0]), HO_ERR_QUIC_STATELESS_RESET);
    ho_quic_endpoint_stats es;
    ho_quic_endpoint_get_stats(w.ns.ep, &es);
    CHECK(es.resets_sent >= 1);
    /* Draining: nothing more is sent. */
    uint8_t buf[1500];
    size_t seg;
    CHECK_EQ(ho_quic_conn_send(w.ns.cl[0], buf, sizeof(buf), &seg, w.ns.now), 0);
    world_free(&w);
}

/* NAT rebinding mid-transfer: the client's datagrams suddenly come from
 * another port and the old mapping is gone. The server validates the new
 * address (PATH_CHALLENGE answered), switches to it and to a fresh client
 * CID, and the 2 MB arrive byte-exact. Then a stateless reset carrying the
 * token of the client CID the server now uses ends the server's side. */
static void test_nat_rebinding(void)
{
    world w;
    world_init(&w, 2000000);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    CHECK(!w.fin);
    w.ns.nat_port[0] = 50001;
    w.live_ports[0] = 50001; /* the old port is unreachable now */
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    CHECK_EQ(w.received, 2000000);
    ho_quic_conn_stats st;
    ho_quic_conn_get_stats(srv(&w), &st);
    CHECK_EQ(st.migrations, 1);
    CHECK(st.path_challenges_sent >= 1);
    CHECK_EQ(st.paths_validated, 1);
    CHECK_EQ(st.path_validation_failures, 0);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 50001);
    CHECK_EQ(srv(&w)->dcid_seq, 1); /* §9.5: a new CID for the new path */
    fprintf(stderr, "nat rebinding: 2 MB in %.3f s virtual, server sent %llu challenges\n",
            (double)(w.ns.now - HO_QUIC_SEC(1000)) / 1e9, (unsigned long long)st.path_challenges_sent);

    /* Server-side stateless reset detection (§10.3.1), routed by token. */
    const ho_quic_peer_cid *p = NULL;
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++)
        if (srv(&w)->peer_cids[i].in_use && srv(&w)->peer_cids[i].seq == srv(&w)->dcid_seq)
            p = &srv(&w)->peer_cids[i];
    CHECK(p != NULL);
    if (p != NULL) {
        uint8_t reset[40];
        ho_random(reset, sizeof(reset));
        reset[0] = (uint8_t)((reset[0] & 0x3f) | 0x40);
        memcpy(reset + sizeof(reset) - 16, p->token, 16);
        to_server(&w, 50001, reset, sizeof(reset));
        CHECK_EQ(w.ns.srv_close_err[0], 0);
        CHECK(ho_quic_conn_is_closing(srv(&w)));
        CHECK_EQ(ho_quic_conn_error(srv(&w)), HO_ERR_QUIC_STATELESS_RESET);
        CHECK(run(&w, srv_gone, HO_QUIC_SEC(10)));
        CHECK_EQ(w.ns.srv_close_err[0], HO_ERR_QUIC_STATELESS_RESET);
    }
    world_free(&w);
}

/* The client migrates to a new local port with ho_quic_conn_migrate: a
 * fresh server CID, PATH_CHALLENGE both ways, the transfer completes. */
static void test_active_migration(void)
{
    world w;
    world_init(&w, 2000000);
    w.live_ports[1] = 41000;
    /* Before the handshake is confirmed it is refused (§9). */
    ho_quic_path np = client_path(41000);
    CHECK_EQ(ho_quic_conn_migrate(w.ns.cl[0], &np, w.ns.now), HO_ERR_WOULD_BLOCK);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    ho_quic_cid before = w.ns.cl[0]->dcid;
    ho_quic_conn_stats pre;
    ho_quic_conn_get_stats(w.ns.cl[0], &pre);
    CHECK(pre.max_datagram_size > 1200); /* DPLPMTUD raised it on the old path */
    CHECK_EQ(ho_quic_conn_migrate(w.ns.cl[0], &np, w.ns.now), HO_OK);
    CHECK(!ho_quic_cid_eq(&before, &w.ns.cl[0]->dcid));
    /* RFC 9000 §14.3: the new path starts again at the base size. */
    ho_quic_conn_get_stats(w.ns.cl[0], &pre);
    CHECK_EQ(pre.max_datagram_size, 1200);
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    CHECK_EQ(w.received, 2000000);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(w.ns.cl[0], &cs);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(cs.migrations, 1);
    CHECK_EQ(cs.paths_validated, 1);
    CHECK_EQ(ss.migrations, 1);
    CHECK_EQ(ss.paths_validated, 1);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 41000);
    CHECK_EQ(port_of(&ho_quic_conn_path(w.ns.cl[0])->local), 41000);
    /* The server replaced the retired CID: a second migration works. */
    ho_quic_path np2 = client_path(42000);
    w.live_ports[2] = 42000;
    CHECK_EQ(ho_quic_conn_migrate(w.ns.cl[0], &np2, w.ns.now), HO_OK);
    run(&w, NULL, HO_QUIC_SEC(2));
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 2);
    CHECK_EQ(ss.paths_validated, 2);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 42000);
    world_free(&w);

    /* disable_active_migration from the server (§18.2): refused. */
    world_init(&w, 0);
    ho_quic_endpoint_free(w.ns.ep);
    w.ns.ecfg.conn.disable_active_migration = true;
    w.ns.ep = ho_quic_endpoint_new(&w.ns.ecfg);
    CHECK(run(&w, confirmed, HO_QUIC_SEC(5)));
    CHECK_EQ(ho_quic_conn_migrate(w.ns.cl[0], &np, w.ns.now), HO_ERR_INVALID_ARG);
    world_free(&w);
}

static bool spare_cid(world *w) { return ho_quic_cid_spare_available(w->ns.cl[0]); }

/* Migrations back to back (issue 15 item 6): with an
 * active_connection_id_limit of 4 the client holds three unused server
 * CIDs, so a second and a third migration at the same instant as the
 * first — before any NEW_CONNECTION_ID could arrive — go through, each on
 * a CID never used (RFC 9000 §9.5). The fourth has none left and is
 * refused until the server replaces the retired ones. The server follows
 * the client to the last address and the 2 MB arrive byte-exact. */
static void test_back_to_back_migrations(void)
{
    world w;
    world_init(&w, 2000000);
    w.live_ports[1] = 41000;
    w.live_ports[2] = 42000;
    w.live_ports[3] = 43000;
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    ho_quic_conn *cl = w.ns.cl[0];
    ho_quic_conn_stats ss0;
    ho_quic_conn_get_stats(srv(&w), &ss0);
    CHECK_EQ(ss0.cids_issued, 3); /* no replacement issued yet */
    ho_quic_cid used[4];
    used[0] = cl->dcid;
    static const uint16_t ports[3] = {41000, 42000, 43000};
    for (int i = 0; i < 3; i++) {
        ho_quic_path np = client_path(ports[i]);
        CHECK_EQ(ho_quic_conn_migrate(cl, &np, w.ns.now), HO_OK);
        used[i + 1] = cl->dcid;
        CHECK_EQ(cl->dcid_seq, (uint64_t)i + 1); /* a CID from the handshake's batch */
        for (int j = 0; j <= i; j++)
            CHECK(!ho_quic_cid_eq(&used[j], &used[i + 1]));
    }
    /* §9.5: no unused CID left: refused, nothing changed. */
    ho_quic_path np4 = client_path(44000);
    CHECK_EQ(ho_quic_conn_migrate(cl, &np4, w.ns.now), HO_ERR_WOULD_BLOCK);
    CHECK_EQ(port_of(&ho_quic_conn_path(cl)->local), 43000);
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    CHECK_EQ(w.received, 2000000);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(cl, &cs);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(cs.migrations, 3);
    CHECK_EQ(ss.migrations, 1); /* it only ever saw the last address */
    CHECK_EQ(ss.paths_validated, 1);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 43000);
    /* The client retired CIDs 0-2; the server replaced them. */
    CHECK_EQ(ss.cids_retired, 3);
    CHECK_EQ(ss.cids_issued, 6);
    CHECK(run(&w, spare_cid, HO_QUIC_SEC(2)));
    world_free(&w);
}

/* The client migrates to a port that is dead both ways: its challenges go
 * unanswered, validation expires after 3 PTO and it returns to the old
 * path (§8.2.4, §9.3.2) where the transfer completes. */
static void test_validation_fails(void)
{
    world w;
    world_init(&w, 1000000);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    ho_quic_path np = client_path(41000);
    w.dead_port = 41000;
    CHECK_EQ(ho_quic_conn_migrate(w.ns.cl[0], &np, w.ns.now), HO_OK);
    CHECK(run(&w, done, HO_QUIC_SEC(60)));
    CHECK(!w.bad);
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(w.ns.cl[0], &cs);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(cs.migrations, 1);
    CHECK_EQ(cs.paths_validated, 0);
    CHECK_EQ(cs.path_validation_failures, 1);
    CHECK(cs.path_challenges_sent >= 2); /* retransmitted */
    CHECK_EQ(port_of(&ho_quic_conn_path(w.ns.cl[0])->local), CLIENT_PORT);
    CHECK_EQ(ss.migrations, 0);
    world_free(&w);
}

/* An attacker replays a client packet from a spoofed address ahead of the
 * original (RFC 9000 §9.3.1, §21.5): the server moves there but sends at
 * most three times what it received from it, and goes back to the real
 * client on its next packets. Probing packets from a new address are
 * answered there and do not move the connection. */
static void test_spoofed_address(void)
{
    world w;
    world_init(&w, 1000000);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    /* Copy the next client datagram in flight and deliver it from port 666
     * first. */
    const netsim_pkt *d = client_dgram_in_flight(&w);
    CHECK(d != NULL);
    if (d == NULL) {
        world_free(&w);
        return;
    }
    w.watch_port = 666;
    to_server(&w, 666, d->data, d->len);
    ho_quic_conn_stats ss;
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 1);
    CHECK(srv(&w)->rec.rtt.has_sample); /* §9.4: a port change may keep the RTT estimate */
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 666);
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    CHECK(w.watch_rx > 0);
    CHECK(w.watch_tx <= 3 * w.watch_rx);
    fprintf(stderr, "spoofed address: received %llu bytes from it, sent %llu there\n",
            (unsigned long long)w.watch_rx, (unsigned long long)w.watch_tx);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), CLIENT_PORT);

    /* A probing packet (PATH_CHALLENGE only) from port 777: answered there,
     * padded within 3x, no migration. */
    ho_quic_conn_get_stats(srv(&w), &ss);
    uint64_t migrations = ss.migrations;
    ho_quic_space *sp = &w.ns.cl[0]->spaces[HO_QUIC_PN_SPACE_APPLICATION];
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {0};
    h.type = HO_QUIC_PKT_1RTT;
    h.dcid = w.ns.cl[0]->dcid;
    h.pn = sp->next_pn++;
    h.pn_len = 4;
    h.key_phase = w.ns.cl[0]->kp.tx_phase;
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    uint8_t pc[9] = {HO_QUIC_FT_PATH_CHALLENGE, 9, 8, 7, 6, 5, 4, 3, 2};
    ho_put_bytes(&b, pc, sizeof(pc));
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &sp->tx, 400), HO_OK);
    w.watch_port = 777;
    w.watch_rx = w.watch_tx = 0;
    to_server(&w, 777, b.data, b.len);
    ho_buf_free(&b);
    flush(&w);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, migrations);
    CHECK(w.watch_tx > 0);
    CHECK(w.watch_tx <= 3 * w.watch_rx);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), CLIENT_PORT);
    world_free(&w);
}

/* The server follows a spoofed address and the real client falls silent:
 * the server's challenge goes unanswered, validation expires after 3 PTO
 * (§8.2.4) and the server returns to the last validated path (§9.3.2),
 * where the transfer completes. */
static void test_server_validation_fails(void)
{
    world w;
    world_init(&w, 1000000);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    const netsim_pkt *d = client_dgram_in_flight(&w);
    CHECK(d != NULL);
    if (d != NULL)
        to_server(&w, 666, d->data, d->len);
    w.client_mute = true;
    ho_quic_conn_stats ss;
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 1);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), 666);
    run(&w, NULL, HO_QUIC_SEC(6));
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.path_validation_failures, 1);
    CHECK_EQ(ss.paths_validated, 0);
    CHECK(ss.path_challenges_sent >= 1);
    CHECK_EQ(port_of(&ho_quic_conn_path(srv(&w))->remote), CLIENT_PORT);
    w.client_mute = false;
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    CHECK_EQ(w.received, 1000000);
    world_free(&w);
}

/* A new peer IP address (not just a port, RFC 9002 §9.4): the server
 * resets congestion control and RTT when it moves there. With
 * disable_active_migration (§18.2) such packets are dropped instead, while
 * a port change (NAT rebinding) is still followed. */
static void test_new_ip(void)
{
    world w;
    world_init(&w, 1000000);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    CHECK(srv(&w)->rec.rtt.has_sample);
    CHECK(srv(&w)->cc.cwnd > ho_quic_cc_initial_window(1200));
    const netsim_pkt *d = client_dgram_in_flight(&w);
    CHECK(d != NULL);
    if (d != NULL)
        to_server_from(&w, 2, CLIENT_PORT, d->data, d->len);
    ho_quic_conn_stats ss;
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 1);
    CHECK(!srv(&w)->rec.rtt.has_sample);
    CHECK_EQ(srv(&w)->cc.cwnd, ho_quic_cc_initial_window(1200));
    /* The real client goes on from 127.0.0.1: the server returns to it. */
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    world_free(&w);

    world_init(&w, 1000000);
    ho_quic_endpoint_free(w.ns.ep);
    w.ns.ecfg.conn.disable_active_migration = true;
    w.ns.ep = ho_quic_endpoint_new(&w.ns.ecfg);
    CHECK(run(&w, got_300k, HO_QUIC_SEC(10)));
    d = client_dgram_in_flight(&w);
    CHECK(d != NULL);
    ho_quic_conn_get_stats(srv(&w), &ss);
    uint64_t dropped = ss.packets_dropped;
    if (d != NULL)
        to_server_from(&w, 2, CLIENT_PORT, d->data, d->len);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 0);
    CHECK_EQ(ss.packets_dropped, dropped + 1);
    w.ns.nat_port[0] = 50001;
    w.live_ports[0] = 50001;
    CHECK(run(&w, done, HO_QUIC_SEC(30)));
    CHECK(!w.bad);
    ho_quic_conn_get_stats(srv(&w), &ss);
    CHECK_EQ(ss.migrations, 1);
    CHECK_EQ(ss.paths_validated, 1);
    world_free(&w);
}

int main(void)
{
    netsim_global_init();
    RUN(test_cids);
    RUN(test_reset_client);
    RUN(test_nat_rebinding);
    RUN(test_active_migration);
    RUN(test_back_to_back_migrations);
    RUN(test_validation_fails);
    RUN(test_spoofed_address);
    RUN(test_new_ip);
    RUN(test_server_validation_fails);
    netsim_global_free();
    return ho_test_summary("test_quic_path");
}
