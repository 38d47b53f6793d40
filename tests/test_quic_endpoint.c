/* test_quic_endpoint: in-memory client connections (src/quic/conn*.c) talk
 * to the sans-I/O server endpoint (src/quic/endpoint.c) with a virtual
 * clock: handshakes and an echoed stream through the endpoint, Version
 * Negotiation, Retry with tokens (and expired / forged ones), stateless
 * reset, tokens and resets across endpoints with one secret (a fleet), the
 * 1200-byte Initial rule, admission, two connections demuxed, garbage. */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "quic/conn_int.h"
#include "netsim.h"

#define MAXCAP 256

/* The endpoint and its clients on netsim (zero-latency links, echo mode),
 * and the endpoint-generated packets seen (VN, Retry, resets, closes). */
typedef struct net {
    netsim ns;
    uint8_t cap[MAXCAP][1500];
    size_t cap_len[MAXCAP];
    int ncap;
    bool hold_endpoint_pkts; /* capture but do not deliver them */
} net;

static ho_quic_cid retry_expect_odcid, retry_expect_rscid;
static int retry_tp_ok;
static int (*saved_on_peer)(void *, ho_quic_tp_exchange *);

static bool capture(netsim *ns, const ho_quic_endpoint_out *out)
{
    net *n = ns->user;
    if (out->conn != NULL || n->ncap >= MAXCAP || out->len > sizeof(n->cap[0]))
        return false;
    memcpy(n->cap[n->ncap], out->buf, out->len);
    n->cap_len[n->ncap++] = out->len;
    return n->hold_endpoint_pkts;
}

static void net_init(net *n, bool force_retry, size_t max_conns)
{
    memset(n, 0, sizeof(*n));
    netsim_init(&n->ns, 1, "endpoint");
    netsim_zero_latency(&n->ns);
    netsim_echo_mode(&n->ns);
    n->ns.ecfg.force_retry = force_retry;
    n->ns.ecfg.max_connections = max_conns;
    n->ns.ep_out_hook = capture;
    n->ns.user = n;
    CHECK(netsim_start(&n->ns));
}

static int add_client(net *n) { return netsim_add_client(&n->ns); }

static void net_free(net *n) { netsim_free(&n->ns); }

/* Until done or the virtual clock passes limit. */
static bool run(net *n, netsim_done_fn done, ho_quic_time limit)
{
    return netsim_run(&n->ns, done, limit > n->ns.now ? limit - n->ns.now : 0) && done != NULL;
}

static void send_msg(net *n, int i, const char *msg)
{
    uint64_t id = UINT64_MAX;
    CHECK_EQ(netsim_echo_send(&n->ns, i, msg, &id), HO_OK);
    CHECK_EQ(id & 3, 0); /* a client-initiated bidirectional stream */
}

/* ---- helpers on raw packets ------------------------------------------------ */

/* Takes the client's next datagram without delivering it. */
static size_t client_datagram(net *n, int i, uint8_t *out)
{
    size_t seg;
    size_t w = ho_quic_conn_send(n->ns.cl[i], out, 1500, &seg, n->ns.now);
    return w < seg ? w : seg;
}

/* Re-protects the client's Initial (the first packet of in) for a new DCID
 * and token, as a client following a Retry would send it (RFC 9000
 * §17.2.5.2); PADDING is trimmed and the packet padded to min_len. */
static size_t rebuild_initial(const uint8_t *in, size_t len, const ho_quic_cid *dcid, const uint8_t *token,
                              size_t tlen, size_t min_len, uint8_t *out)
{
    uint8_t p[1500];
    memcpy(p, in, len);
    ho_quic_header h;
    if (ho_quic_header_parse(p, len, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
        return 0;
    ho_quic_keys stx = {0}, srx = {0}, ctx = {0}, crx = {0};
    ho_quic_initial_keys(1, h.dcid.data, h.dcid.len, true, &stx, &srx);
    size_t r = 0;
    if (ho_quic_packet_unprotect(&srx, p, &h, HO_QUIC_PN_NONE) == HO_OK) {
        /* packet.c puts PADDING first (a trailing STREAM frame keeps its
         * implicit length): trim it there. Never trim trailing zero bytes:
         * they may end the CRYPTO frame's data (a ClientHello whose last
         * byte is 0 was cut, and the test failed about 1 run in 300). */
        size_t plen = h.payload_len, poff = h.payload_offset;
        while (plen > 0 && p[poff] == 0)
            poff++, plen--;
        ho_quic_initial_keys(1, dcid->data, dcid->len, false, &ctx, &crx);
        ho_quic_header h2 = {0};
        h2.type = HO_QUIC_PKT_INITIAL;
        h2.version = 1;
        h2.dcid = *dcid;
        h2.scid = h.scid;
        h2.token = token;
        h2.token_len = tlen;
        h2.pn = h.pn;
        h2.pn_len = h.pn_len;
        ho_buf b;
        ho_buf_init(&b);
        size_t start;
        if (ho_quic_header_write(&b, &h2, &start) == HO_OK) {
            ho_put_bytes(&b, p + poff, plen);
            if (ho_quic_packet_seal(&b, start, &h2, &ctx, min_len) == HO_OK && b.len <= 1500) {
                memcpy(out, b.data, b.len);
                r = b.len;
            }
        }
        ho_buf_free(&b);
    }
    ho_quic_keys_free(&stx);
    ho_quic_keys_free(&srx);
    ho_quic_keys_free(&ctx);
    ho_quic_keys_free(&crx);
    return r;
}

/* The transport error code of a CONNECTION_CLOSE in a server Initial sent to
 * a client whose Initial went to dcid; -1 if none. */
static long initial_close_code(const uint8_t *pkt, size_t len, const ho_quic_cid *dcid)
{
    uint8_t p[1500];
    memcpy(p, pkt, len);
    ho_quic_header h;
    long code = -1;
    if (ho_quic_header_parse(p, len, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
        return -1;
    ho_quic_keys tx = {0}, rx = {0};
    ho_quic_initial_keys(1, dcid->data, dcid->len, false, &tx, &rx);
    if (ho_quic_packet_unprotect(&rx, p, &h, HO_QUIC_PN_NONE) == HO_OK && h.payload_len >= 4 &&
        p[h.payload_offset] == 0x1c)
        code = p[h.payload_offset + 1];
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    return code;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_handshake(void)
{
    net n;
    net_init(&n, false, 0);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n.ns.accepted, 1);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    send_msg(&n, 0, "hello endpoint");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n.ns.echo_len[0], 14);
    CHECK_MEM(n.ns.echo[0], "hello endpoint", 14);
    /* §10.3.2: the server's stateless_reset_token is the endpoint's HMAC of
     * its CID (any endpoint sharing the secret can reset it). */
    ho_quic_conn *cl = n.ns.cl[0];
    uint8_t tok[16];
    ho_quic_endpoint_reset_token(n.ns.ep, cl->dcid.data, cl->dcid.len, tok);
    CHECK(ho_quic_tparams_has(&cl->tpx.peer, HO_QUIC_TP_STATELESS_RESET_TOKEN));
    CHECK_MEM(cl->tpx.peer.stateless_reset_token, tok, 16);
    CHECK(!ho_quic_tparams_has(&cl->tpx.peer, HO_QUIC_TP_RETRY_SCID));
    /* Closing: the connection is freed after draining. */
    ho_quic_conn_close(cl, 0, "bye", n.ns.now);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(10));
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    CHECK_EQ(n.ns.freed, 1);
    net_free(&n);
}

static void test_two_conns(void)
{
    net n;
    net_init(&n, false, 0);
    add_client(&n);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n.ns.accepted, 2);
    send_msg(&n, 0, "from client zero");
    send_msg(&n, 1, "client one here");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n.ns.echo_len[0], 16);
    CHECK_MEM(n.ns.echo[0], "from client zero", 16);
    CHECK_EQ(n.ns.echo_len[1], 15);
    CHECK_MEM(n.ns.echo[1], "client one here", 15);
    net_free(&n);
}

static void test_version_negotiation(void)
{
    net n;
    net_init(&n, false, 0);
    uint8_t pkt[1200] = {0};
    const uint8_t dcid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, scid[5] = {9, 10, 11, 12, 13};
    pkt[0] = 0xc0;
    pkt[1] = 0x1a; pkt[2] = 0x2a; pkt[3] = 0x3a; pkt[4] = 0x4a;
    pkt[5] = 8;
    memcpy(pkt + 6, dcid, 8);
    pkt[14] = 5;
    memcpy(pkt + 15, scid, 5);
    ho_quic_endpoint_receive(n.ns.ep, pkt, sizeof(pkt), &n.ns.spath[0], n.ns.now);
    uint8_t buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(buf, out.len, 8, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_VERSION_NEGOTIATION);
    /* §17.2.1: the CIDs echoed swapped. */
    CHECK_EQ(h.dcid.len, 5);
    CHECK_MEM(h.dcid.data, scid, 5);
    CHECK_EQ(h.scid.len, 8);
    CHECK_MEM(h.scid.data, dcid, 8);
    /* Versions 1 and 2 (RFC 9369) and a reserved one. */
    CHECK_EQ(h.version_count, 3);
    bool v1 = false, v2 = false, grease = false;
    for (size_t i = 0; i < h.version_count; i++) {
        uint32_t v = ho_quic_vn_version(&h, i);
        v1 |= v == 1;
        v2 |= v == HO_QUIC_VERSION_2;
        grease |= (v & 0x0f0f0f0f) == 0x0a0a0a0a;
    }
    CHECK(v1);
    CHECK(v2);
    CHECK(grease);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) == 0);
    /* §5.2.2: an unknown version in a small datagram is dropped. */
    ho_quic_endpoint_receive(n.ns.ep, pkt, 600, &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) == 0);
    /* §6.1: never answer a Version Negotiation packet (version 0). */
    pkt[1] = pkt[2] = pkt[3] = pkt[4] = 0;
    ho_quic_endpoint_receive(n.ns.ep, pkt, sizeof(pkt), &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) == 0);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.vn_sent, 1);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    net_free(&n);
}

/* A hand-made client side of a Retry, so this test sees the server's §7.3
 * parameters directly: it checks them, then hides
 * retry_source_connection_id from the connection's own check. The client's
 * real Retry handling (src/quic/client.c) is tested in test_quic_client. */
static int retry_on_peer(void *ctx, ho_quic_tp_exchange *x)
{
    if (ho_quic_tparams_has(&x->peer, HO_QUIC_TP_RETRY_SCID) &&
        ho_quic_cid_eq(&x->peer.retry_scid, &retry_expect_rscid) &&
        ho_quic_tparams_has(&x->peer, HO_QUIC_TP_ORIGINAL_DCID) &&
        ho_quic_cid_eq(&x->peer.original_dcid, &retry_expect_odcid))
        retry_tp_ok++;
    x->peer.present &= ~ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID);
    return saved_on_peer(ctx, x);
}

static void client_follow_retry(ho_quic_conn *c, const ho_quic_cid *rscid)
{
    ho_quic_space *s = &c->spaces[HO_QUIC_PN_SPACE_INITIAL];
    c->dcid = *rscid;
    ho_quic_keys_free(&s->tx);
    ho_quic_keys_free(&s->rx);
    ho_quic_initial_keys(1, rscid->data, rscid->len, false, &s->tx, &s->rx);
    saved_on_peer = c->tpx.on_peer;
    c->tpx.on_peer = retry_on_peer;
}

static void test_retry(void)
{
    net n;
    net_init(&n, true, 0);
    int i = add_client(&n);
    uint8_t first[1500], buf[1500], again[1500];
    size_t flen = client_datagram(&n, i, first);
    CHECK(flen >= 1200);
    ho_quic_header fh;
    memcpy(buf, first, flen);
    CHECK_EQ(ho_quic_header_parse(buf, flen, 8, &fh), HO_OK);
    ho_quic_cid odcid = fh.dcid;
    ho_quic_endpoint_receive(n.ns.ep, first, flen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(buf, out.len, 8, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_RETRY);
    CHECK(rh.token_len > 0);
    /* RFC 9001 §5.8: the integrity tag verifies against the original DCID. */
    CHECK_EQ(ho_quic_retry_verify(NULL, 1, odcid.data, odcid.len, buf, out.len), HO_OK);
    CHECK(ho_quic_cid_eq(&rh.dcid, &fh.scid));
    CHECK(!ho_quic_cid_eq(&rh.scid, &odcid)); /* §17.2.5.1 */
    uint8_t token[256];
    size_t tlen = rh.token_len;
    memcpy(token, rh.token, tlen);
    ho_quic_cid rscid = rh.scid;

    /* An expired token (§8.1.3) is refused with INVALID_TOKEN. */
    size_t alen = rebuild_initial(first, flen, &rscid, token, tlen, 1200, again);
    CHECK(alen >= 1200);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &n.ns.spath[i], n.ns.now + HO_QUIC_SEC(11));
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(initial_close_code(buf, out.len, &rscid), HO_QUIC_INVALID_TOKEN);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    /* A forged one (a flipped ciphertext byte) too. */
    token[12] ^= 1;
    alen = rebuild_initial(first, flen, &rscid, token, tlen, 1200, again);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &n.ns.spath[i], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(initial_close_code(buf, out.len, &rscid), HO_QUIC_INVALID_TOKEN);
    token[12] ^= 1;
    /* From another address: bound to the peer address. */
    alen = rebuild_initial(first, flen, &rscid, token, tlen, 1200, again);
    ho_quic_path other = n.ns.spath[i];
    ((struct sockaddr_in *)&other.remote)->sin_port = htons(41999);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &other, n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(initial_close_code(buf, out.len, &rscid), HO_QUIC_INVALID_TOKEN);
    /* Used with a DCID other than the Retry's SCID. */
    ho_quic_cid wrong = rscid;
    wrong.data[0] ^= 0xff;
    alen = rebuild_initial(first, flen, &wrong, token, tlen, 1200, again);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &n.ns.spath[i], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(initial_close_code(buf, out.len, &wrong), HO_QUIC_INVALID_TOKEN);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.invalid_tokens, 4);

    /* The valid token: the client completes, and the server's transport
     * parameters carry original_destination_connection_id = the first DCID
     * and retry_source_connection_id = the Retry's SCID (§7.3). */
    retry_expect_odcid = odcid;
    retry_expect_rscid = rscid;
    retry_tp_ok = 0;
    client_follow_retry(n.ns.cl[i], &rscid);
    alen = rebuild_initial(first, flen, &rscid, token, tlen, 1200, again);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(retry_tp_ok, 1);
    send_msg(&n, 0, "after retry");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_MEM(n.ns.echo[0], "after retry", 11);
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.retry_sent, 1);
    net_free(&n);
}

/* A fleet (`handoff serve --quic-keys`): endpoints given the same static
 * secret validate each other's Retry tokens and send each other's
 * stateless resets; an endpoint with another secret refuses the token
 * (INVALID_TOKEN) and its reset tokens differ. */
static void test_shared_secret(void)
{
    net n;
    net_init(&n, true, 0);
    int i = add_client(&n);
    ho_quic_endpoint_config other_cfg = n.ns.ecfg, same_cfg = n.ns.ecfg;
    other_cfg.static_secret[0] ^= 1;
    ho_quic_endpoint *peer = ho_quic_endpoint_new(&same_cfg), *other = ho_quic_endpoint_new(&other_cfg);
    CHECK(peer != NULL && other != NULL);
    uint8_t first[1500], buf[1500], again[1500];
    size_t flen = client_datagram(&n, i, first);
    ho_quic_header fh;
    memcpy(buf, first, flen);
    CHECK_EQ(ho_quic_header_parse(buf, flen, 8, &fh), HO_OK);
    ho_quic_cid odcid = fh.dcid;

    /* The Retry comes from `peer`, another server of the fleet. */
    ho_quic_endpoint_receive(peer, first, flen, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    CHECK(ho_quic_endpoint_send(peer, &out, n.ns.now) > 0);
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(buf, out.len, 8, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_RETRY);
    uint8_t token[256];
    size_t tlen = rh.token_len;
    CHECK(tlen > 0 && tlen <= sizeof(token));
    memcpy(token, rh.token, tlen);
    ho_quic_cid rscid = rh.scid;
    size_t alen = rebuild_initial(first, flen, &rscid, token, tlen, 1200, again);
    CHECK(alen >= 1200);

    /* A server with another secret refuses the token. */
    ho_quic_endpoint_receive(other, again, alen, &n.ns.spath[i], n.ns.now);
    CHECK(ho_quic_endpoint_send(other, &out, n.ns.now) > 0);
    CHECK_EQ(initial_close_code(buf, out.len, &rscid), HO_QUIC_INVALID_TOKEN);
    CHECK_EQ(ho_quic_endpoint_conn_count(other), 0);

    /* The client's Initial with the token lands on the netsim endpoint
     * (the same secret): accepted without a Retry of its own, and the
     * handshake and an echo complete. */
    retry_expect_odcid = odcid;
    retry_expect_rscid = rscid;
    retry_tp_ok = 0;
    client_follow_retry(n.ns.cl[i], &rscid);
    ho_quic_endpoint_receive(n.ns.ep, again, alen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(retry_tp_ok, 1);
    send_msg(&n, 0, "fleet");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_MEM(n.ns.echo[0], "fleet", 5);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.retry_sent, 0);
    CHECK_EQ(st.invalid_tokens, 0);
    CHECK_EQ(st.accepted, 1);
    ho_quic_endpoint_get_stats(other, &st);
    CHECK_EQ(st.invalid_tokens, 1);

    /* Stateless reset tokens: the same on the fleet, others' differ. */
    uint8_t cid[8] = {1, 2, 3, 4, 5, 6, 7, 8}, t1[16], t2[16], t3[16];
    ho_quic_endpoint_reset_token(n.ns.ep, cid, sizeof(cid), t1);
    ho_quic_endpoint_reset_token(peer, cid, sizeof(cid), t2);
    ho_quic_endpoint_reset_token(other, cid, sizeof(cid), t3);
    CHECK_MEM(t1, t2, 16);
    CHECK(memcmp(t1, t3, 16) != 0);
    /* And the connection's packets reaching `peer` (which never saw it)
     * get a reset the client accepts (RFC 9000 §10.3.1). */
    send_msg(&n, 0, "to the wrong server");
    size_t seg;
    size_t w = ho_quic_conn_send(n.ns.cl[0], buf, sizeof(buf), &seg, n.ns.now);
    CHECK(w > 21);
    ho_quic_endpoint_receive(peer, buf, w < seg ? w : seg, &n.ns.spath[0], n.ns.now);
    uint8_t rb[1500];
    ho_quic_endpoint_out o2 = {.buf = rb, .cap = sizeof(rb)};
    CHECK(ho_quic_endpoint_send(peer, &o2, n.ns.now) > 0);
    ho_quic_conn_receive(n.ns.cl[0], rb, o2.len, &n.ns.cpath[0], n.ns.now);
    CHECK_EQ(ho_quic_conn_error(n.ns.cl[0]), HO_ERR_QUIC_STATELESS_RESET);
    ho_quic_endpoint_free(peer);
    ho_quic_endpoint_free(other);
    net_free(&n);
}

static void test_small_initial(void)
{
    net n;
    net_init(&n, false, 0);
    int i = add_client(&n);
    uint8_t first[1500], small[1500];
    size_t flen = client_datagram(&n, i, first);
    ho_quic_header fh;
    memcpy(small, first, flen);
    ho_quic_header_parse(small, flen, 8, &fh);
    ho_quic_cid dcid = fh.dcid;
    size_t slen = rebuild_initial(first, flen, &dcid, NULL, 0, 0, small);
    CHECK(slen > 0 && slen < 1200);
    ho_quic_endpoint_receive(n.ns.ep, small, slen, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.short_initials_dropped, 1);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    uint8_t buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) == 0);
    /* The same Initial padded to 1200 is accepted. */
    ho_quic_endpoint_receive(n.ns.ep, first, flen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    net_free(&n);
}

static void test_stateless_reset(void)
{
    net n;
    net_init(&n, false, 0);
    uint8_t pkt[64], buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    ho_random(pkt, sizeof(pkt));
    pkt[0] = 0x40 | (pkt[0] & 0x3f);
    uint8_t tok[16];
    ho_quic_endpoint_reset_token(n.ns.ep, pkt + 1, 8, tok);
    /* 30-byte trigger: a 29-byte reset ending in the token. */
    ho_quic_endpoint_receive(n.ns.ep, pkt, 30, &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(out.len, 29);
    CHECK_EQ(buf[0] & 0xc0, 0x40);
    CHECK_MEM(buf + out.len - 16, tok, 16);
    /* 22 bytes: the smallest trigger, answered with 21 bytes. */
    ho_quic_endpoint_receive(n.ns.ep, pkt, 22, &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(out.len, 21);
    CHECK_MEM(buf + 5, tok, 16);
    /* 21 bytes or fewer: never (§10.3.3 loop prevention). */
    ho_quic_endpoint_receive(n.ns.ep, pkt, 21, &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) == 0);
    /* A large trigger gets at most 43 bytes. */
    uint8_t big[1200];
    ho_random(big, sizeof(big));
    big[0] = 0x40;
    ho_quic_endpoint_receive(n.ns.ep, big, sizeof(big), &n.ns.spath[0], n.ns.now);
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK(out.len < 64 && out.len >= 21);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.resets_sent, 3);
    CHECK_EQ(st.resets_suppressed, 1);

    /* For a live connection, a short packet with its CID is routed, not
     * reset; once the endpoint lost it (a new endpoint with the same secret),
     * the reset carries the token the client got in the handshake. */
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    ho_quic_endpoint *ep2 = ho_quic_endpoint_new(&n.ns.ecfg);
    send_msg(&n, 0, "lost state");
    size_t seg;
    size_t w = ho_quic_conn_send(n.ns.cl[0], buf, sizeof(buf), &seg, n.ns.now);
    CHECK(w > 21);
    ho_quic_endpoint_receive(ep2, buf, w < seg ? w : seg, &n.ns.spath[0], n.ns.now);
    uint8_t rb[1500];
    ho_quic_endpoint_out o2 = {.buf = rb, .cap = sizeof(rb)};
    CHECK(ho_quic_endpoint_send(ep2, &o2, n.ns.now) > 0);
    CHECK_MEM(rb + o2.len - 16, n.ns.cl[0]->tpx.peer.stateless_reset_token, 16);
    /* The client cannot decrypt it, sees the token (RFC 9000 §10.3.1) and
     * drains. */
    ho_quic_conn_receive(n.ns.cl[0], rb, o2.len, &n.ns.cpath[0], n.ns.now);
    CHECK(ho_quic_conn_is_closing(n.ns.cl[0]));
    CHECK_EQ(ho_quic_conn_error(n.ns.cl[0]), HO_ERR_QUIC_STATELESS_RESET);
    ho_quic_endpoint_free(ep2);
    net_free(&n);
}

static void test_admission(void)
{
    net n;
    net_init(&n, false, 1);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    int j = add_client(&n);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(1));
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK(st.refused >= 1);
    /* The refused client saw CONNECTION_CLOSE(CONNECTION_REFUSED) (§5.2.2). */
    bool is_app = true, by_peer = false;
    CHECK(ho_quic_conn_is_closing(n.ns.cl[j]) || ho_quic_conn_is_closed(n.ns.cl[j]));
    CHECK_EQ(ho_quic_conn_close_code(n.ns.cl[j], &is_app, &by_peer), HO_QUIC_CONNECTION_REFUSED);
    CHECK(by_peer);
    CHECK(!is_app);
    net_free(&n);
}

/* Endpoint with the admission limits on handshakes in progress. */
static void net_limits(net *n, size_t retry_hs, size_t refuse_hs)
{
    net_init(n, false, 0);
    ho_quic_endpoint_free(n->ns.ep);
    n->ns.ecfg.retry_handshakes = retry_hs;
    n->ns.ecfg.refuse_handshakes = refuse_hs;
    n->ns.ep = ho_quic_endpoint_new(&n->ns.ecfg);
}

/* `--retry auto`: client 0's Initial is accepted, so one handshake is in
 * progress when client 1's arrives: that one gets a Retry, follows it with
 * the token, and is admitted (a valid token passes the soft limit). */
static void test_admission_retry(void)
{
    net n;
    net_limits(&n, 1, 0);
    add_client(&n);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.retry_load, 1);
    CHECK_EQ(st.retry_sent, 1);
    CHECK_EQ(st.accepted, 2);
    CHECK_EQ(st.handshakes_in_progress, 0);
    CHECK(!ho_quic_conn_retried(n.ns.cl[0]));
    CHECK(ho_quic_conn_retried(n.ns.cl[1]));
    net_free(&n);
    /* Without the limit, nobody is retried. */
    net_limits(&n, 0, 0);
    add_client(&n);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.retry_sent, 0);
    net_free(&n);
}

/* The hard cap: client 1 arrives while client 0's handshake is in
 * progress and is refused with CONNECTION_REFUSED (§5.2.2); once client 0
 * is done, a third client is admitted. */
static void test_admission_refuse(void)
{
    net n;
    net_limits(&n, 0, 1);
    add_client(&n);
    int j = add_client(&n);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(1));
    CHECK(ho_quic_conn_handshake_confirmed(n.ns.cl[0]));
    bool is_app = true, by_peer = false;
    CHECK(ho_quic_conn_is_closing(n.ns.cl[j]) || ho_quic_conn_is_closed(n.ns.cl[j]));
    CHECK_EQ(ho_quic_conn_close_code(n.ns.cl[j], &is_app, &by_peer), HO_QUIC_CONNECTION_REFUSED);
    CHECK(by_peer);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.refused_load, 1);
    CHECK_EQ(st.handshakes_in_progress, 0);
    int k = add_client(&n);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(1));
    CHECK(ho_quic_conn_handshake_confirmed(n.ns.cl[k]));
    net_free(&n);
}

static void test_garbage(void)
{
    net n;
    net_init(&n, false, 0);
    add_client(&n);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    uint64_t rng = 0x1234567;
    uint8_t g[1500], buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    for (int k = 0; k < 3000; k++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        size_t len = (size_t)(rng % 1500) + 1;
        ho_random(g, len);
        if (k % 3 == 0 && len > 6) { /* version 1 long headers, mostly invalid */
            g[0] |= 0xc0;
            g[1] = g[2] = g[3] = 0;
            g[4] = 1;
        }
        if (k % 7 == 0 && len > 9)  /* our connection's CID: routed and dropped by the conn */
            memcpy(g + 1, n.ns.cl[0]->dcid.data, 8), g[0] = 0x40 | (g[0] & 0x3f);
        ho_quic_endpoint_receive(n.ns.ep, g, len, &n.ns.spath[0], n.ns.now);
        while (ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0)
            ;
    }
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    CHECK(!ho_quic_conn_is_closing(n.ns.cl[0]));
    /* Still serving: the old connection echoes, a new one completes. */
    add_client(&n);
    send_msg(&n, 0, "still here");
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    send_msg(&n, 1, "new one");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_MEM(n.ns.echo[0], "still here", 10);
    CHECK_MEM(n.ns.echo[1], "new one", 7);
    net_free(&n);
}

/* A retransmitted first Initial (still to the original DCID) reaches the
 * connection it created, not a new one; an unknown token (say a NEW_TOKEN
 * from another server) counts as no token (§8.1.3); after the connection
 * is freed, its CID gets a stateless reset. */
static void test_routing(void)
{
    net n;
    net_init(&n, false, 0);
    int i = add_client(&n);
    uint8_t first[1500], tok_init[1500], buf[1500];
    size_t flen = client_datagram(&n, i, first);
    ho_quic_endpoint_receive(n.ns.ep, first, flen, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_receive(n.ns.ep, first, flen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(n.ns.accepted, 1);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_EQ(n.ns.accepted, 1);

    int j = add_client(&n);
    size_t jlen = client_datagram(&n, j, first);
    ho_quic_header h;
    memcpy(buf, first, jlen);
    ho_quic_header_parse(buf, jlen, 8, &h);
    ho_quic_cid dcid = h.dcid;
    const uint8_t foreign[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
    size_t tlen = rebuild_initial(first, jlen, &dcid, foreign, sizeof(foreign), 1200, tok_init);
    ho_quic_endpoint_receive(n.ns.ep, tok_init, tlen, &n.ns.spath[j], n.ns.now);
    CHECK_EQ(n.ns.accepted, 2);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));

    /* Close client 0; once the server side is freed, a packet to its CID
     * is answered with the reset token the client holds. */
    ho_quic_cid server_cid = n.ns.cl[0]->dcid;
    uint8_t token[16];
    memcpy(token, n.ns.cl[0]->tpx.peer.stateless_reset_token, 16);
    ho_quic_conn_close(n.ns.cl[0], 0, "bye", n.ns.now);
    run(&n, NULL, n.ns.now + HO_QUIC_SEC(10));
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);
    uint8_t pkt[40];
    ho_random(pkt, sizeof(pkt));
    pkt[0] = 0x41;
    memcpy(pkt + 1, server_cid.data, server_cid.len);
    ho_quic_endpoint_receive(n.ns.ep, pkt, sizeof(pkt), &n.ns.spath[0], n.ns.now);
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    CHECK(ho_quic_endpoint_send(n.ns.ep, &out, n.ns.now) > 0);
    CHECK_EQ(out.len, sizeof(pkt) - 1);
    CHECK_MEM(buf + out.len - 16, token, 16);
    net_free(&n);
}

/* ---- forged Initials (issue 12 item 3) ------------------------------------- */

/* A 1200-byte long header of version 1 shaped like a client Initial (DCID
 * and SCID of 8 bytes, no token, a Length that covers the rest) whose
 * protected part is random: it cannot be decrypted. */
static size_t forge_random_initial(uint8_t *out)
{
    size_t len = 1200;
    ho_random(out, len);
    out[0] = (uint8_t)(0xc0 | (out[0] & 0x0f)); /* long, fixed bit, Initial */
    out[1] = out[2] = out[3] = 0;
    out[4] = 1;
    out[5] = 8;            /* DCID length; DCID random */
    out[14] = 8;           /* SCID length; SCID random */
    out[23] = 0;           /* token length */
    size_t rest = len - 26; /* 2-byte Length, then pn + payload */
    out[24] = (uint8_t)(0x40 | rest >> 8);
    out[25] = (uint8_t)rest;
    return len;
}

/* A properly protected client Initial for a fresh random DCID whose
 * payload is `frames` (padded to 1200 bytes). */
static size_t seal_initial(const uint8_t *frames, size_t flen, uint8_t *out)
{
    ho_quic_header h = {0};
    h.type = HO_QUIC_PKT_INITIAL;
    h.version = 1;
    h.dcid.len = h.scid.len = 8;
    ho_random(h.dcid.data, 8);
    ho_random(h.scid.data, 8);
    h.pn = 0;
    h.pn_len = 1;
    ho_quic_keys tx = {0}, rx = {0};
    ho_quic_initial_keys(1, h.dcid.data, h.dcid.len, false, &tx, &rx);
    ho_buf b;
    ho_buf_init(&b);
    size_t start, r = 0;
    if (ho_quic_header_write(&b, &h, &start) == HO_OK) {
        ho_put_bytes(&b, frames, flen);
        if (ho_quic_packet_seal(&b, start, &h, &tx, 1200) == HO_OK && b.len <= 1500) {
            memcpy(out, b.data, b.len);
            r = b.len;
        }
    }
    ho_buf_free(&b);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    return r;
}

/* Nothing the endpoint could send: forged Initials are answered by nothing. */
static size_t endpoint_output(net *n)
{
    uint8_t buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    size_t total = 0, w;
    while ((w = ho_quic_endpoint_send(n->ns.ep, &out, n->ns.now)) > 0)
        total += w;
    return total;
}

static void test_forged_initials(void)
{
    net n;
    net_init(&n, false, 0);
    int i = add_client(&n);
    uint8_t real[1500], g[1500];
    size_t rlen = client_datagram(&n, i, real);
    CHECK(rlen >= 1200);
    ho_quic_endpoint_stats st;

    /* Random payloads with a well-formed header and an 8-byte DCID. */
    for (int k = 0; k < 200; k++) {
        size_t len = forge_random_initial(g);
        ho_quic_endpoint_receive(n.ns.ep, g, len, &n.ns.spath[i], n.ns.now);
    }
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.initial_undecryptable, 200);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);

    /* The real Initial with its tag, then a ciphertext byte, corrupted. */
    memcpy(g, real, rlen);
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(g, rlen, 8, &rh), HO_OK);
    g[rh.packet_len - 1] ^= 0x01;
    ho_quic_endpoint_receive(n.ns.ep, g, rlen, &n.ns.spath[i], n.ns.now);
    memcpy(g, real, rlen);
    g[rh.pn_offset + 40] ^= 0x80;
    ho_quic_endpoint_receive(n.ns.ep, g, rlen, &n.ns.spath[i], n.ns.now);
    /* Truncated: the packet's Length cut to half, the datagram padded with
     * zeros to 1200 (the header no longer matches what was sealed). */
    memcpy(g, real, rlen);
    size_t half = (rh.packet_len - rh.pn_offset) / 2;
    g[rh.pn_offset - 2] = (uint8_t)(0x40 | half >> 8);
    g[rh.pn_offset - 1] = (uint8_t)half;
    memset(g + rh.pn_offset + half, 0, rlen - rh.pn_offset - half);
    ho_quic_endpoint_receive(n.ns.ep, g, rlen, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.initial_undecryptable, 203);
    /* The real Initial cut at 1100 bytes: its Length runs past the end,
     * a malformed long header; a consistent 1100-byte one is under the
     * 1200 bytes of RFC 9000 §14.1. Both dropped before any crypto. */
    ho_quic_endpoint_receive(n.ns.ep, real, 1100, &n.ns.spath[i], n.ns.now);
    forge_random_initial(g);
    g[24] = (uint8_t)(0x40 | (1100 - 26) >> 8);
    g[25] = (uint8_t)(1100 - 26);
    ho_quic_endpoint_receive(n.ns.ep, g, 1100, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.short_initials_dropped, 1);
    CHECK_EQ(st.unknown_long, 1);
    /* A DCID of 4 bytes (§7.2: at least 8). */
    uint8_t sd[1200];
    forge_random_initial(sd);
    sd[5] = 4;
    memmove(sd + 10, sd + 14, sizeof(sd) - 14);
    sd[10] = 8;
    sd[19] = 0;
    sd[20] = (uint8_t)(0x40 | (1200 - 22 - 4) >> 8);
    sd[21] = (uint8_t)(1200 - 22 - 4);
    ho_quic_endpoint_receive(n.ns.ep, sd, sizeof(sd), &n.ns.spath[i], n.ns.now);
    /* A Handshake packet for no connection. */
    forge_random_initial(g);
    g[0] = (uint8_t)(0xe0 | (g[0] & 0x0f));
    ho_quic_endpoint_receive(n.ns.ep, g, 1200, &n.ns.spath[i], n.ns.now);
    /* Authentic, but with frames an Initial may not carry (RFC 9000
     * §12.4): STREAM, HANDSHAKE_DONE. */
    static const uint8_t stream_frame[] = {0x0a, 0x00, 0x04, 'a', 'b', 'c', 'd'};
    static const uint8_t hs_done[] = {0x1e};
    size_t blen = seal_initial(stream_frame, sizeof(stream_frame), g);
    CHECK(blen >= 1200);
    ho_quic_endpoint_receive(n.ns.ep, g, blen, &n.ns.spath[i], n.ns.now);
    blen = seal_initial(hs_done, sizeof(hs_done), g);
    ho_quic_endpoint_receive(n.ns.ep, g, blen, &n.ns.spath[i], n.ns.now);
    ho_quic_endpoint_get_stats(n.ns.ep, &st);
    CHECK_EQ(st.initial_bad_dcid, 1);
    CHECK_EQ(st.unknown_long, 2);
    CHECK_EQ(st.initial_bad_frames, 2);
    CHECK_EQ(st.initial_undecryptable, 203);
    CHECK_EQ(st.accepted, 0);
    CHECK_EQ(n.ns.accepted, 0);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 0);
    CHECK_EQ(endpoint_output(&n), 0);

    /* An authentic Initial with only allowed frames (PING) makes one. */
    static const uint8_t ping[] = {0x01};
    blen = seal_initial(ping, sizeof(ping), g);
    ho_quic_path other = n.ns.spath[i]; /* from a port no test client has */
    ((struct sockaddr_in *)&other.remote)->sin_port = htons(40100);
    ho_quic_endpoint_receive(n.ns.ep, g, blen, &other, n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 1);

    /* The real client still gets through. */
    ho_quic_endpoint_receive(n.ns.ep, real, rlen, &n.ns.spath[i], n.ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(n.ns.ep), 2);
    CHECK(run(&n, netsim_all_hs, n.ns.now + HO_QUIC_SEC(5)));
    send_msg(&n, i, "after the flood");
    CHECK(run(&n, netsim_all_echoed, n.ns.now + HO_QUIC_SEC(5)));
    CHECK_MEM(n.ns.echo[i], "after the flood", 15);
    net_free(&n);
}

int main(void)
{
    netsim_global_init();
    RUN(test_handshake);
    RUN(test_two_conns);
    RUN(test_version_negotiation);
    RUN(test_retry);
    RUN(test_shared_secret);
    RUN(test_small_initial);
    RUN(test_stateless_reset);
    RUN(test_admission);
    RUN(test_admission_retry);
    RUN(test_admission_refuse);
    RUN(test_garbage);
    RUN(test_routing);
    RUN(test_forged_initials);
    netsim_global_free();
    return ho_test_summary("test_quic_endpoint");
}
