/* test_quic_client: the client side of connection establishment
 * (src/quic/client.c) against our own server endpoint, in memory, on a
 * virtual clock: a Retry followed (token, new DCID and Initial keys,
 * retry_source_connection_id checked both ways), forged and second Retries
 * ignored, Version Negotiation followed / ignored when it lists our version
 * / fatal when it lists none we speak, and TLS resumption through the
 * session_ticket callback and ho_quic_config.session. */
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

#define WALL_MS INT64_C(1760000000000)

/* Our endpoint and one client on netsim (zero-latency links, echo mode),
 * and the session tickets the client got. */
typedef struct net {
    netsim ns;
    uint8_t ticket[4096];
    size_t ticket_len;
    int tickets;
    bool (*cond)(struct net *n); /* what run waits for */
} net;

static void cb_ticket(void *ctx, ho_quic_conn *c, const uint8_t *blob, size_t len)
{
    (void)c;
    net *n = ((netsim *)ctx)->user;
    n->tickets++;
    if (len <= sizeof(n->ticket)) {
        memcpy(n->ticket, blob, len);
        n->ticket_len = len;
    }
}

static void net_init(net *n, bool force_retry)
{
    memset(n, 0, sizeof(*n));
    netsim_init(&n->ns, 1, "client");
    netsim_zero_latency(&n->ns);
    netsim_echo_mode(&n->ns);
    n->ns.ccfg.callbacks.session_ticket = cb_ticket;
    n->ns.ccfg.wall_clock_ms = n->ns.ecfg.conn.wall_clock_ms = WALL_MS;
    n->ns.ecfg.force_retry = force_retry;
    n->ns.user = n;
    CHECK(netsim_start(&n->ns));
}

/* Client 0: made the first time, made again (after the test freed it) later. */
static void client_start(net *n)
{
    if (n->ns.ncl == 0)
        CHECK_EQ(netsim_add_client(&n->ns), 0);
    else
        n->ns.cl[0] = ho_quic_conn_new_client(&n->ns.ccfg, &n->ns.cpath[0], n->ns.now);
    CHECK(n->ns.cl[0] != NULL);
}

static void net_free(net *n) { netsim_free(&n->ns); }

/* The server connection of client 0 (NULL once freed). */
static ho_quic_conn *srv(net *n) { return netsim_server_conn(&n->ns, 0); }

typedef bool (*cond_fn)(net *n);

static bool net_cond(netsim *ns)
{
    net *n = ns->user;
    return n->cond(n);
}

/* Until cond holds or the virtual clock passes limit. */
static bool run(net *n, cond_fn cond, ho_quic_time limit)
{
    n->cond = cond;
    return netsim_run(&n->ns, cond != NULL ? net_cond : NULL, limit > n->ns.now ? limit - n->ns.now : 0) &&
           cond != NULL;
}

static bool hs_confirmed(net *n) { return ho_quic_conn_handshake_confirmed(n->ns.cl[0]) && n->ns.srv_hs[0] >= 1; }
static bool echoed(net *n) { return n->ns.echo_fin[0]; }

/* Starts client 0 and runs its handshake to confirmation (checked). */
static void client_connect(net *n)
{
    client_start(n);
    CHECK(run(n, hs_confirmed, n->ns.now + HO_QUIC_SEC(5)));
}
static bool client_closing(net *n) { return ho_quic_conn_is_closing(n->ns.cl[0]) || ho_quic_conn_is_closed(n->ns.cl[0]); }
static bool got_ticket(net *n) { return n->tickets > 0; }

static void echo_check(net *n, const char *msg)
{
    uint64_t id;
    size_t w, len = strlen(msg);
    CHECK_EQ(ho_quic_stream_open(n->ns.cl[0], true, &id), HO_OK);
    CHECK_EQ(ho_quic_stream_write(n->ns.cl[0], id, msg, len, true, &w), HO_OK);
    CHECK(run(n, echoed, n->ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n->ns.echo_len[0], len);
    CHECK_MEM(n->ns.echo[0], msg, len);
}

/* The client's first datagram goes to the endpoint, whose answer (a Retry
 * or VN) is returned in pkt and not delivered. */
static size_t first_answer(net *n, uint8_t *pkt, size_t cap)
{
    uint8_t buf[1500];
    size_t seg, w = ho_quic_conn_send(n->ns.cl[0], buf, sizeof(buf), &seg, n->ns.now);
    CHECK(w >= 1200);
    ho_quic_endpoint_receive(n->ns.ep, buf, w < seg ? w : seg, &n->ns.spath[0], n->ns.now);
    ho_quic_endpoint_out out = {.buf = pkt, .cap = cap};
    return ho_quic_endpoint_send(n->ns.ep, &out, n->ns.now);
}

static void deliver(net *n, const uint8_t *pkt, size_t len)
{
    ho_quic_conn_receive(n->ns.cl[0], pkt, len, &n->ns.cpath[0], n->ns.now);
}

/* ---- Retry ----------------------------------------------------------------- */

static void test_retry_followed(void)
{
    net n;
    net_init(&n, true);
    client_connect(&n);
    CHECK(ho_quic_conn_retried(n.ns.cl[0]));
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.retry_sent, 1);
    CHECK_EQ(st.invalid_tokens, 0);
    /* §7.3: the server's parameters name the Retry's SCID and the first DCID. */
    CHECK(ho_quic_tparams_has(&n.ns.cl[0]->tpx.peer, HO_QUIC_TP_RETRY_SCID));
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->tpx.peer.retry_scid, &n.ns.cl[0]->retry_scid));
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->tpx.peer.original_dcid, &n.ns.cl[0]->odcid));
    CHECK(!ho_quic_cid_eq(&n.ns.cl[0]->retry_scid, &n.ns.cl[0]->odcid));
    echo_check(&n, "after a retry");
    net_free(&n);
}

/* A handshake without Retry: retry_source_connection_id is absent and the
 * client did not switch anything. */
static void test_no_retry(void)
{
    net n;
    net_init(&n, false);
    client_connect(&n);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    CHECK(!ho_quic_tparams_has(&n.ns.cl[0]->tpx.peer, HO_QUIC_TP_RETRY_SCID));
    CHECK_EQ(n.ns.cl[0]->retry_token_len, 0);
    net_free(&n);
}

static void test_retry_forged_and_second(void)
{
    net n;
    net_init(&n, true);
    client_start(&n);
    ho_quic_cid odcid = n.ns.cl[0]->dcid;
    uint8_t retry[1500];
    size_t rlen = first_answer(&n, retry, sizeof(retry));
    ho_quic_header rh;
    uint8_t copy[1500];
    memcpy(copy, retry, rlen);
    CHECK_EQ(ho_quic_header_parse(copy, rlen, 8, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_RETRY);
    ho_quic_cid rscid = rh.scid;
    uint8_t token[512];
    size_t tlen = rh.token_len;
    CHECK(tlen <= sizeof(token));
    memcpy(token, rh.token, tlen);

    /* RFC 9001 §5.8: a bad integrity tag is ignored. */
    uint64_t dropped = n.ns.cl[0]->stats.packets_dropped;
    memcpy(copy, retry, rlen);
    copy[rlen - 1] ^= 0x01;
    deliver(&n, copy, rlen);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->dcid, &odcid));
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    /* A changed token under the old tag too. */
    memcpy(copy, retry, rlen);
    copy[rlen - 17] ^= 0x80;
    deliver(&n, copy, rlen);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    /* Addressed to another connection ID. */
    memcpy(copy, retry, rlen);
    copy[6] ^= 0x01;
    deliver(&n, copy, rlen);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));

    /* The genuine one is followed. */
    deliver(&n, retry, rlen);
    CHECK(ho_quic_conn_retried(n.ns.cl[0]));
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->dcid, &rscid));
    CHECK_EQ(n.ns.cl[0]->retry_token_len, tlen);

    /* §17.2.5.2: a second, valid Retry (another SCID and token) is ignored. */
    ho_quic_cid other = rscid;
    other.data[0] ^= 0x5a;
    const uint8_t tok2[] = "another token";
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_retry_write(&b, NULL, 1, &n.ns.cl[0]->scid, &other, &odcid, tok2, sizeof(tok2), 0), HO_OK);
    CHECK_EQ(ho_quic_retry_verify(NULL, 1, odcid.data, odcid.len, b.data, b.len), HO_OK);
    dropped = n.ns.cl[0]->stats.packets_dropped;
    deliver(&n, b.data, b.len);
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->dcid, &rscid));
    CHECK_EQ(n.ns.cl[0]->retry_token_len, tlen);

    /* The resent Initial carries the token to the new DCID, keeps counting
     * packet numbers (§17.2.5.3) and completes the handshake. */
    uint8_t dg[1500];
    size_t seg, w = ho_quic_conn_send(n.ns.cl[0], dg, sizeof(dg), &seg, n.ns.now);
    CHECK(w >= 1200);
    ho_quic_header ih;
    memcpy(copy, dg, w < seg ? w : seg);
    CHECK_EQ(ho_quic_header_parse(copy, w < seg ? w : seg, 8, &ih), HO_OK);
    CHECK_EQ(ih.type, HO_QUIC_PKT_INITIAL);
    CHECK(ho_quic_cid_eq(&ih.dcid, &rscid));
    CHECK_EQ(ih.token_len, tlen);
    CHECK_MEM(ih.token, token, tlen);
    ho_quic_keys tx = {0}, rx = {0};
    CHECK_EQ(ho_quic_initial_keys(1, rscid.data, rscid.len, true, &tx, &rx), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, copy, &ih, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(ih.pn, 1);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    ho_quic_endpoint_receive(n.ns.ep, dg, w < seg ? w : seg, &n.ns.spath[0], n.ns.now);
    CHECK(run(&n, hs_confirmed, n.ns.now + HO_QUIC_SEC(5)));
    /* A Retry after the handshake packets is ignored as well. */
    dropped = n.ns.cl[0]->stats.packets_dropped;
    deliver(&n, b.data, b.len);
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    ho_buf_free(&b);
    echo_check(&n, "retry once");
    net_free(&n);
}

/* A Retry whose SCID equals the DCID we used (§17.2.5.2), and one after a
 * server Initial was processed, are ignored while still handshaking. */
static void test_retry_bad_scid_and_late(void)
{
    net n;
    net_init(&n, false);
    client_start(&n);
    /* Built by hand: ho_quic_retry_write refuses scid == odcid. */
    ho_quic_cid odcid = n.ns.cl[0]->dcid;
    ho_buf b;
    ho_buf_init(&b);
    ho_put_u8(&b, 0xf0);
    ho_put_u32(&b, 1);
    ho_put_u8(&b, n.ns.cl[0]->scid.len);
    ho_put_bytes(&b, n.ns.cl[0]->scid.data, n.ns.cl[0]->scid.len);
    ho_put_u8(&b, odcid.len);
    ho_put_bytes(&b, odcid.data, odcid.len);
    ho_put_bytes(&b, "tok", 3);
    uint8_t tag[16];
    CHECK_EQ(ho_quic_retry_tag(NULL, 1, odcid.data, odcid.len, b.data, b.len, tag), HO_OK);
    ho_put_bytes(&b, tag, 16);
    CHECK_EQ(ho_quic_retry_verify(NULL, 1, odcid.data, odcid.len, b.data, b.len), HO_OK);
    uint64_t dropped = n.ns.cl[0]->stats.packets_dropped;
    deliver(&n, b.data, b.len);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    ho_buf_free(&b);

    /* The server's first datagram (its Initial) is processed; a valid Retry
     * arriving after it is dropped (the handshake is still going on). */
    uint8_t first[1500], answer[65536];
    size_t seg, w = ho_quic_conn_send(n.ns.cl[0], first, sizeof(first), &seg, n.ns.now);
    ho_quic_endpoint_receive(n.ns.ep, first, w < seg ? w : seg, &n.ns.spath[0], n.ns.now);
    ho_quic_endpoint_out out = {.buf = answer, .cap = sizeof(answer)};
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK(out.conn != NULL);
    /* Only its first packet, the Initial with the ServerHello. */
    ho_quic_header ih;
    uint8_t copy[1500];
    size_t first_len = out.len < out.segment_size ? out.len : out.segment_size;
    memcpy(copy, answer, first_len);
    CHECK_EQ(ho_quic_header_parse(copy, first_len, 8, &ih), HO_OK);
    CHECK_EQ(ih.type, HO_QUIC_PKT_INITIAL);
    deliver(&n, answer, ih.packet_len);
    CHECK(n.ns.cl[0]->stats.packets_received > 0);
    CHECK(!ho_quic_conn_handshake_done(n.ns.cl[0]));
    ho_quic_cid rs = odcid;
    rs.data[0] ^= 0x77;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_retry_write(&b, NULL, 1, &n.ns.cl[0]->scid, &rs, &odcid, (const uint8_t *)"tok", 3, 0), HO_OK);
    dropped = n.ns.cl[0]->stats.packets_dropped;
    ho_quic_cid dcid_before = n.ns.cl[0]->dcid;
    deliver(&n, b.data, b.len);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    CHECK(ho_quic_cid_eq(&n.ns.cl[0]->dcid, &dcid_before));
    ho_buf_free(&b);
    /* The rest of the server's flight was lost with the capture: PTOs
     * recover it and the handshake completes. */
    CHECK(run(&n, hs_confirmed, n.ns.now + HO_QUIC_SEC(10)));
    echo_check(&n, "late retry ignored");
    net_free(&n);
}

/* §7.3: retry_source_connection_id must match the Retry we followed, and be
 * absent if we followed none: TRANSPORT_PARAMETER_ERROR otherwise. */
static void test_retry_tparam_mismatch(void)
{
    for (int variant = 0; variant < 2; variant++) {
        net n;
        net_init(&n, true);
        client_start(&n);
        uint8_t retry[1500];
        size_t rlen = first_answer(&n, retry, sizeof(retry));
        deliver(&n, retry, rlen);
        CHECK(ho_quic_conn_retried(n.ns.cl[0]));
        if (variant == 0)
            n.ns.cl[0]->retry_scid.data[0] ^= 1;   /* "another Retry" than the server's */
        else
            n.ns.cl[0]->retry_received = false;    /* "no Retry", yet the server names one */
        CHECK(run(&n, client_closing, n.ns.now + HO_QUIC_SEC(5)));
        CHECK_EQ(ho_quic_conn_error(n.ns.cl[0]), HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR));
        CHECK(!ho_quic_conn_handshake_done(n.ns.cl[0]));
        net_free(&n);
    }
}

/* ---- Version Negotiation ----------------------------------------------------- */

/* Our endpoint greases its VN with 0x1a2a3a4a (which a client offering that
 * version must ignore, §6.2, as test_vn_ignored_and_fatal checks): the
 * followed VN uses another reserved version. */
#define UNKNOWN_VERSION 0x5a6a7a8au

static void test_vn_followed(void)
{
    net n;
    net_init(&n, false);
    n.ns.ccfg.version = UNKNOWN_VERSION;
    n.ns.echo_len[0] = 0;
    n.ns.echo_fin[0] = false;
    client_start(&n);
    CHECK_EQ(ho_quic_conn_version(n.ns.cl[0]), UNKNOWN_VERSION);
    uint8_t dg[1500];
    size_t seg, w = ho_quic_conn_send(n.ns.cl[0], dg, sizeof(dg), &seg, n.ns.now);
    CHECK(w >= 1200);
    CHECK(dg[1] == 0x5a && dg[2] == 0x6a && dg[3] == 0x7a && dg[4] == 0x8a);
    ho_quic_endpoint_receive(n.ns.ep, dg, w < seg ? w : seg, &n.ns.spath[0], n.ns.now);
    CHECK(run(&n, hs_confirmed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK(ho_quic_conn_version_negotiated(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_version(n.ns.cl[0]), 1u);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.vn_sent, 1);
    echo_check(&n, "negotiated");
    net_free(&n);

    /* The endpoint's own VN lists 0x1a2a3a4a: a client that offered it
     * ignores the VN and keeps retrying (never connects). */
    net_init(&n, false);
    n.ns.ccfg.version = 0x1a2a3a4a;
    client_start(&n);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(3));
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK(st.vn_sent >= 2);
    CHECK(!ho_quic_conn_version_negotiated(n.ns.cl[0]));
    CHECK(!ho_quic_conn_handshake_done(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_version(n.ns.cl[0]), 0x1a2a3a4au);
    net_free(&n);
}

static size_t make_vn(const ho_quic_conn *c, const uint32_t *versions, size_t count, uint8_t *out)
{
    ho_buf b;
    ho_buf_init(&b);
    /* The server echoes the CIDs swapped: its DCID is our SCID. */
    ho_quic_vn_write(&b, c->dcid.data, c->dcid.len, c->scid.data, c->scid.len, versions, count, 0x11);
    size_t len = b.len <= 1500 ? b.len : 0;
    memcpy(out, b.data, len);
    ho_buf_free(&b);
    return len;
}

static void test_vn_ignored_and_fatal(void)
{
    net n;
    net_init(&n, false);
    n.ns.ccfg.version = 0x1a2a3a4a;
    client_start(&n);
    uint8_t dg[1500], vn[1500];
    size_t seg;
    CHECK(ho_quic_conn_send(n.ns.cl[0], dg, sizeof(dg), &seg, n.ns.now) >= 1200);
    /* §6.2: a VN that lists the version we chose is ignored. */
    const uint32_t with_ours[] = {0x1a2a3a4a, 1};
    size_t len = make_vn(n.ns.cl[0], with_ours, 2, vn);
    uint64_t dropped = n.ns.cl[0]->stats.packets_dropped;
    deliver(&n, vn, len);
    CHECK(!ho_quic_conn_version_negotiated(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_version(n.ns.cl[0]), 0x1a2a3a4au);
    CHECK_EQ(n.ns.cl[0]->stats.packets_dropped, dropped + 1);
    CHECK(!ho_quic_conn_is_closed(n.ns.cl[0]));
    /* One whose CIDs are not ours is ignored. */
    const uint32_t v1[] = {0xff00001d, 1};
    len = make_vn(n.ns.cl[0], v1, 2, vn);
    vn[6] ^= 1;
    deliver(&n, vn, len);
    CHECK(!ho_quic_conn_version_negotiated(n.ns.cl[0]));
    /* §6.2: none we support: the attempt is abandoned, the app sees why. */
    const uint32_t none[] = {0xff00001d, 0x709a50c4}; /* draft-29, the v2 draft: not ours */
    len = make_vn(n.ns.cl[0], none, 2, vn);
    deliver(&n, vn, len);
    CHECK(ho_quic_conn_is_closed(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_error(n.ns.cl[0]), HO_ERR_QUIC_VERSION);
    CHECK_EQ(ho_quic_conn_send(n.ns.cl[0], dg, sizeof(dg), &seg, n.ns.now), 0);
    net_free(&n);

    /* A VN after the connection attempt got going (a v1 client that already
     * processed the server's packets) is ignored, even if it lacks v1. */
    net_init(&n, false);
    client_connect(&n);
    len = make_vn(n.ns.cl[0], none, 2, vn);
    deliver(&n, vn, len);
    CHECK(!ho_quic_conn_is_closed(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_error(n.ns.cl[0]), HO_OK);
    echo_check(&n, "still fine");
    net_free(&n);
}

/* A Retry after a VN restart (v1 from then on) is followed too: the tag is
 * over the new DCID. */
static void test_vn_then_retry(void)
{
    net n;
    net_init(&n, true);
    n.ns.ccfg.version = UNKNOWN_VERSION;
    client_connect(&n);
    CHECK(ho_quic_conn_version_negotiated(n.ns.cl[0]));
    CHECK(ho_quic_conn_retried(n.ns.cl[0]));
    echo_check(&n, "vn and retry");
    net_free(&n);
}

/* ---- resumption ----------------------------------------------------------------- */

static void test_resumption(void)
{
    net n;
    net_init(&n, false);
    client_connect(&n);
    CHECK(run(&n, got_ticket, n.ns.now + HO_QUIC_SEC(5)));
    CHECK(n.ticket_len > 0);
    CHECK(!ho_tls_is_resumed(ho_quic_conn_tls(n.ns.cl[0])));
    CHECK(srv(&n) != NULL && !ho_tls_is_resumed(ho_quic_conn_tls(srv(&n))));
    uint8_t ticket[4096], kept[4096];
    size_t tlen = n.ticket_len;
    memcpy(ticket, n.ticket, tlen);
    memcpy(kept, n.ticket, tlen);
    ho_quic_conn_close(n.ns.cl[0], 0, "bye", n.ns.now);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(10));
    ho_quic_conn_free(n.ns.cl[0]);

    /* The second connection offers the session: both sides resume. */
    n.ns.cl[0] = NULL;
    n.ns.srv_hs[0] = n.ns.cli_hs[0] = 0;
    n.tickets = 0;
    n.ns.now += HO_QUIC_SEC(1);
    n.ns.ccfg.session = ticket;
    n.ns.ccfg.session_len = tlen;
    client_start(&n);
    memset(ticket, 0, sizeof(ticket)); /* copied by the connection */
    CHECK(run(&n, hs_confirmed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK(ho_tls_is_resumed(ho_quic_conn_tls(n.ns.cl[0])));
    CHECK(srv(&n) != NULL && ho_tls_is_resumed(ho_quic_conn_tls(srv(&n))));
    echo_check(&n, "resumed");

    /* After Version Negotiation, the new first flight (RFC 9368 §4) offers
     * the session again: still resumed. */
    ho_quic_conn_close(n.ns.cl[0], 0, "bye", n.ns.now);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(10));
    ho_quic_conn_free(n.ns.cl[0]);
    n.ns.cl[0] = NULL;
    n.ns.srv_hs[0] = n.ns.cli_hs[0] = 0;
    n.ns.now += HO_QUIC_SEC(1);
    n.ns.ccfg.session = kept;
    n.ns.ccfg.session_len = tlen;
    n.ns.ccfg.version = UNKNOWN_VERSION;
    n.ns.echo_len[0] = 0;
    n.ns.echo_fin[0] = false;
    client_start(&n);
    CHECK(run(&n, hs_confirmed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK(ho_quic_conn_version_negotiated(n.ns.cl[0]));
    CHECK(ho_tls_is_resumed(ho_quic_conn_tls(n.ns.cl[0])));
    CHECK(srv(&n) != NULL && ho_tls_is_resumed(ho_quic_conn_tls(srv(&n))));
    echo_check(&n, "resumed after vn");
    n.ns.ccfg.version = 0;
    net_free(&n);

    /* A corrupt session blob means a full handshake, not a failure. */
    net_init(&n, false);
    const uint8_t junk[] = {1, 2, 3, 4, 5};
    n.ns.ccfg.session = junk;
    n.ns.ccfg.session_len = sizeof(junk);
    client_connect(&n);
    CHECK(!ho_tls_is_resumed(ho_quic_conn_tls(n.ns.cl[0])));
    net_free(&n);
}

int main(void)
{
    netsim_global_init();
    RUN(test_retry_followed);
    RUN(test_no_retry);
    RUN(test_retry_forged_and_second);
    RUN(test_retry_bad_scid_and_late);
    RUN(test_retry_tparam_mismatch);
    RUN(test_vn_followed);
    RUN(test_vn_ignored_and_fatal);
    RUN(test_vn_then_retry);
    RUN(test_resumption);
    netsim_global_free();
    return ho_test_summary("test_quic_client");
}
