/* test_quic_new_token: NEW_TOKEN (RFC 9000 §8.1.3, §19.7) between our
 * clients and the server endpoint on netsim, with a virtual wall clock:
 * the server issues a token once the handshake is confirmed, a returning
 * client presenting it skips the Retry of force_retry and is not
 * amplification-limited; a token from another IP address, an expired one,
 * a tampered one, one of another fleet draws the Retry (treated as no
 * token, never INVALID_TOKEN); a NEW_TOKEN token is never taken for a
 * Retry token; a token on a fleet sharing the secret is accepted;
 * tokens are only sent by servers. (A client's NEW_TOKEN ->
 * PROTOCOL_VIOLATION is in test_quic_badinput, an empty one ->
 * FRAME_ENCODING_ERROR in test_quic_frame and here on the connection.) */
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "harness.h"
#include "quic_test_tls.h"
#include "handoff/quic.h"
#include "quic/conn_int.h"
#include "quic/frame.h"
#include "netsim.h"

static int64_t wall_now = 1790000000000LL; /* ms since the epoch, virtual */

static int64_t test_wall(void *ctx)
{
    (void)ctx;
    return wall_now;
}

static void start(netsim *ns, bool force_retry, int64_t lifetime_ms)
{
    netsim_init(ns, 7, "new_token");
    netsim_zero_latency(ns);
    netsim_echo_mode(ns);
    ns->ecfg.force_retry = force_retry;
    ns->ecfg.new_token_lifetime_ms = lifetime_ms;
    ns->ecfg.wall_clock_ms = test_wall;
    CHECK(netsim_start(ns));
}

static bool all_have_token(netsim *ns)
{
    for (int i = 0; i < ns->ncl; i++) {
        size_t len = 0;
        if (ns->cl[i] == NULL || ho_quic_conn_new_token(ns->cl[i], &len) == NULL)
            return false;
    }
    return ns->ncl > 0;
}

/* A first connection (through the Retry when force_retry) that ends with
 * the server's token in tok. */
static size_t first_visit(netsim *ns, uint8_t *tok, size_t cap)
{
    int i = netsim_add_client(ns);
    CHECK_EQ(i, 0);
    CHECK(netsim_run(ns, netsim_all_hs, HO_QUIC_SEC(5)));
    CHECK(netsim_run(ns, all_have_token, HO_QUIC_SEC(5)));
    size_t len = 0;
    const uint8_t *t = ho_quic_conn_new_token(ns->cl[0], &len);
    CHECK(t != NULL && len > 0 && len <= cap);
    if (t == NULL || len > cap)
        return 0;
    memcpy(tok, t, len);
    return len;
}

static void stats(netsim *ns, ho_quic_endpoint_stats *st) { ho_quic_endpoint_get_stats(ns->ep, st); }

/* The endpoint's answer to one datagram from client i, delivered from
 * `path` (the client's, or one with another address): the type of its
 * first packet, or -1 for none; a Retry's token goes to *rtok. */
static int answer(netsim *ns, const uint8_t *d, size_t len, const ho_quic_path *path)
{
    ho_quic_endpoint_receive(ns->ep, d, len, path, ns->now);
    uint8_t buf[1500];
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    if (ho_quic_endpoint_send(ns->ep, &out, ns->now) == 0)
        return -1;
    ho_quic_header h;
    if (ho_quic_header_parse(buf, out.len, 8, &h) != HO_OK)
        return -2;
    return (int)h.type;
}

static size_t client_datagram(netsim *ns, int i, uint8_t *out)
{
    size_t seg;
    size_t w = ho_quic_conn_send(ns->cl[i], out, 1500, &seg, ns->now);
    return w < seg ? w : seg;
}

/* A second client created with token tok; returns its index. */
static int returning_client(netsim *ns, const uint8_t *tok, size_t len)
{
    ns->ccfg.token = tok;
    ns->ccfg.token_len = len;
    int i = netsim_add_client(ns);
    ns->ccfg.token = NULL;
    ns->ccfg.token_len = 0;
    return i;
}

static void test_issued_and_accepted(void)
{
    netsim ns;
    start(&ns, true, 0);
    uint8_t tok[256];
    size_t tlen = first_visit(&ns, tok, sizeof(tok));
    ho_quic_endpoint_stats st;
    stats(&ns, &st);
    CHECK_EQ(st.retry_sent, 1);       /* force_retry: the first visit was retried */
    CHECK_EQ(st.new_tokens_issued, 1);
    CHECK(ho_quic_conn_retried(ns.cl[0]));
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(ns.cl[0], &cs);
    CHECK_EQ(cs.new_tokens_received, 1);
    ho_quic_conn_get_stats(netsim_server_conn(&ns, 0), &cs);
    CHECK_EQ(cs.new_tokens_sent, 1);
    /* §8.1.3: distinguishable from a Retry token (ours start with 'R'). */
    CHECK(tlen > 0 && tok[0] != 'R');

    /* A returning client (same IP, another port, as after a NAT) with the
     * token: no Retry, its address validated at once. */
    int i = returning_client(&ns, tok, tlen);
    CHECK_EQ(i, 1);
    uint8_t d[1500];
    size_t dl = client_datagram(&ns, i, d);
    CHECK(dl >= 1200);
    ho_quic_header h;
    uint8_t copy[1500];
    memcpy(copy, d, dl);
    CHECK_EQ(ho_quic_header_parse(copy, dl, 8, &h), HO_OK);
    CHECK_EQ(h.token_len, tlen); /* our Initial carries it */
    CHECK_MEM(h.token, tok, tlen);
    ho_quic_endpoint_receive(ns.ep, d, dl, &ns.spath[i], ns.now);
    ho_quic_conn *sc = netsim_server_conn(&ns, i);
    CHECK(sc != NULL);
    if (sc != NULL) {
        /* §8.1: no 3x amplification limit for a validated address. */
        CHECK(sc->address_validated);
        CHECK(!ho_quic_tparams_has(&sc->tpx.local, HO_QUIC_TP_RETRY_SCID));
    }
    CHECK(netsim_run(&ns, netsim_all_hs, HO_QUIC_SEC(5)));
    CHECK(!ho_quic_conn_retried(ns.cl[i]));
    CHECK(!ho_quic_tparams_has(&ns.cl[i]->tpx.peer, HO_QUIC_TP_RETRY_SCID));
    uint64_t id;
    CHECK_EQ(netsim_echo_send(&ns, 0, "first", &id), HO_OK);
    CHECK_EQ(netsim_echo_send(&ns, i, "back again", &id), HO_OK);
    CHECK(netsim_run(&ns, netsim_all_echoed, HO_QUIC_SEC(5)));
    CHECK_MEM(ns.echo[i], "back again", 10);
    stats(&ns, &st);
    CHECK_EQ(st.retry_sent, 1);
    CHECK_EQ(st.new_tokens_accepted, 1);
    CHECK_EQ(st.new_tokens_refused, 0);
    CHECK_EQ(st.invalid_tokens, 0);
    /* The returning client got a fresh token too. */
    CHECK(netsim_run(&ns, all_have_token, HO_QUIC_SEC(5)));
    stats(&ns, &st);
    CHECK_EQ(st.new_tokens_issued, 2);
    netsim_free(&ns);
}

/* A token refused: treated as no token (§8.1.3), so a Retry under
 * force_retry, never INVALID_TOKEN or a drop. */
static void expect_retry_for(netsim *ns, const uint8_t *tok, size_t tlen, const ho_quic_path *path,
                             uint64_t refused_before)
{
    size_t conns = ho_quic_endpoint_conn_count(ns->ep);
    int i = returning_client(ns, tok, tlen);
    CHECK(i > 0);
    if (i < 0)
        return;
    uint8_t d[1500];
    size_t dl = client_datagram(ns, i, d);
    CHECK_EQ(answer(ns, d, dl, path != NULL ? path : &ns->spath[i]), HO_QUIC_PKT_RETRY);
    ho_quic_endpoint_stats st;
    stats(ns, &st);
    CHECK_EQ(st.new_tokens_refused, refused_before + 1);
    CHECK_EQ(st.invalid_tokens, 0);
    CHECK_EQ(ho_quic_endpoint_conn_count(ns->ep), conns); /* no connection for it */
}

static void test_refused(void)
{
    netsim ns;
    start(&ns, true, 0);
    uint8_t tok[256], bad[256];
    size_t tlen = first_visit(&ns, tok, sizeof(tok));
    ho_quic_endpoint_stats st;
    stats(&ns, &st);
    uint64_t refused = st.new_tokens_refused, retries = st.retry_sent;

    /* Another IP address (127.0.0.2): the token is bound to the address. */
    int next = ns.ncl;
    ho_quic_path other = ns.spath[next < NETSIM_MAX_CLIENTS ? next : 0];
    netsim_addr(&other.local, &other.local_len, NETSIM_SERVER_PORT);
    ((struct sockaddr_in *)&other.remote)->sin_family = AF_INET;
    ((struct sockaddr_in *)&other.remote)->sin_port = htons(40100);
    ((struct sockaddr_in *)&other.remote)->sin_addr.s_addr = htonl(0x7f000002);
    other.remote_len = sizeof(struct sockaddr_in);
    expect_retry_for(&ns, tok, tlen, &other, refused++);

    /* RFC 9369 §5: a token from a version 1 connection presented in a
     * version 2 Initial (the server MUST NOT accept it). */
    ns.ccfg.versions[0] = HO_QUIC_V2;
    expect_retry_for(&ns, tok, tlen, NULL, refused++);
    ns.ccfg.versions[0] = 0;

    /* Tampered: one bit of the sealed part, or of the header. */
    memcpy(bad, tok, tlen);
    bad[tlen - 1] ^= 1;
    expect_retry_for(&ns, bad, tlen, NULL, refused++);
    memcpy(bad, tok, tlen);
    bad[3] ^= 0x40;
    expect_retry_for(&ns, bad, tlen, NULL, refused++);
    /* Truncated, and another server's token (any bytes not ours). */
    expect_retry_for(&ns, tok, tlen - 1, NULL, refused++);
    memset(bad, 0x4e, 40);
    expect_retry_for(&ns, bad, 40, NULL, refused++);

    /* Expired: the wall clock moves past the lifetime (24 h default). */
    int64_t saved = wall_now;
    wall_now += 24LL * 3600 * 1000 + 1;
    expect_retry_for(&ns, tok, tlen, NULL, refused++);
    wall_now = saved + 24LL * 3600 * 1000; /* the last valid millisecond */
    int i = returning_client(&ns, tok, tlen);
    uint8_t d[1500];
    size_t dl = client_datagram(&ns, i, d);
    CHECK(answer(&ns, d, dl, &ns.spath[i]) != HO_QUIC_PKT_RETRY);
    /* Issued in the future (a server whose clock is far ahead). */
    wall_now = saved - 3600 * 1000;
    expect_retry_for(&ns, tok, tlen, NULL, refused++);
    wall_now = saved;

    stats(&ns, &st);
    CHECK_EQ(st.new_tokens_accepted, 1);
    CHECK_EQ(st.retry_sent, retries + 8);
    netsim_free(&ns);
}

/* A short lifetime set by the configuration, and tokens across endpoints:
 * another endpoint with the same secret takes the token, one with another
 * secret does not. */
static void test_lifetime_and_fleet(void)
{
    netsim ns;
    start(&ns, true, 1000);
    uint8_t tok[256];
    size_t tlen = first_visit(&ns, tok, sizeof(tok));

    ho_quic_endpoint_config same = ns.ecfg, other = ns.ecfg;
    other.static_secret[5] ^= 0x10;
    ho_quic_endpoint *ep_same = ho_quic_endpoint_new(&same), *ep_other = ho_quic_endpoint_new(&other);
    CHECK(ep_same != NULL && ep_other != NULL);
    int i = returning_client(&ns, tok, tlen);
    uint8_t d[1500], buf[1500];
    size_t dl = client_datagram(&ns, i, d);
    ho_quic_endpoint_out out = {.buf = buf, .cap = sizeof(buf)};
    ho_quic_header h;

    ho_quic_endpoint_receive(ep_same, d, dl, &ns.spath[i], ns.now);
    CHECK_EQ(ho_quic_endpoint_conn_count(ep_same), 1);
    ho_quic_endpoint_receive(ep_other, d, dl, &ns.spath[i], ns.now);
    CHECK(ho_quic_endpoint_send(ep_other, &out, ns.now) > 0);
    CHECK_EQ(ho_quic_header_parse(buf, out.len, 8, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_RETRY);
    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(ep_same, &st);
    CHECK_EQ(st.new_tokens_accepted, 1);
    ho_quic_endpoint_get_stats(ep_other, &st);
    CHECK_EQ(st.new_tokens_refused, 1);

    /* 1 s lifetime: a second later it is refused. */
    wall_now += 1001;
    ho_quic_endpoint *ep_late = ho_quic_endpoint_new(&same);
    CHECK(ep_late != NULL);
    ho_quic_endpoint_receive(ep_late, d, dl, &ns.spath[i], ns.now);
    CHECK(ho_quic_endpoint_send(ep_late, &out, ns.now) > 0);
    CHECK_EQ(ho_quic_header_parse(buf, out.len, 8, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_RETRY);
    ho_quic_endpoint_free(ep_same);
    ho_quic_endpoint_free(ep_other);
    ho_quic_endpoint_free(ep_late);
    netsim_free(&ns);
}

/* new_token_lifetime_ms < 0: none issued; a NEW_TOKEN token never stands
 * for a Retry token (it would carry no original DCID, §8.1.3). */
static void test_off_and_kinds(void)
{
    netsim ns;
    start(&ns, false, -1);
    netsim_add_client(&ns);
    CHECK(netsim_run(&ns, netsim_all_hs, HO_QUIC_SEC(5)));
    uint64_t id;
    CHECK_EQ(netsim_echo_send(&ns, 0, "x", &id), HO_OK);
    CHECK(netsim_run(&ns, netsim_all_echoed, HO_QUIC_SEC(5)));
    size_t len = 1;
    CHECK(ho_quic_conn_new_token(ns.cl[0], &len) == NULL);
    CHECK_EQ(len, 0);
    ho_quic_endpoint_stats st;
    stats(&ns, &st);
    CHECK_EQ(st.new_tokens_issued, 0);
    netsim_free(&ns);

    /* Without force_retry, a client with a token of ours is accepted with
     * its address validated and no retry_source_connection_id. */
    start(&ns, false, 0);
    uint8_t tok[256];
    size_t tlen = first_visit(&ns, tok, sizeof(tok));
    CHECK(!ho_quic_conn_retried(ns.cl[0]));
    int i = returning_client(&ns, tok, tlen);
    CHECK(netsim_run(&ns, netsim_all_hs, HO_QUIC_SEC(5)));
    CHECK(!ho_quic_tparams_has(&ns.cl[i]->tpx.peer, HO_QUIC_TP_RETRY_SCID));
    stats(&ns, &st);
    CHECK_EQ(st.new_tokens_accepted, 1);
    netsim_free(&ns);
}

/* The frame on a connection: a client stores the last token and hands it
 * to the callback; an empty one is a FRAME_ENCODING_ERROR, any at a
 * server a PROTOCOL_VIOLATION (§19.7); the server queues only non-empty
 * tokens. */
static int cb_calls;
static size_t cb_len;
static void on_token(void *ctx, ho_quic_conn *c, const uint8_t *t, size_t len)
{
    (void)ctx;
    (void)c;
    (void)t;
    cb_calls++;
    cb_len = len;
}

static void test_frame_rules(void)
{
    netsim ns;
    start(&ns, false, 0);
    ns.ccfg.callbacks.new_token = on_token;
    cb_calls = 0;
    uint8_t tok[256];
    first_visit(&ns, tok, sizeof(tok));
    CHECK_EQ(cb_calls, 1);
    ho_quic_conn *cl = ns.cl[0], *sc = netsim_server_conn(&ns, 0);
    CHECK(sc != NULL);
    ho_quic_frame f = {.type = HO_QUIC_FT_NEW_TOKEN, .new_token = {(const uint8_t *)"abc", 3}};
    CHECK_EQ(ho_quic_new_token_on_frame(cl, &f), HO_OK);
    size_t len = 0;
    const uint8_t *t = ho_quic_conn_new_token(cl, &len);
    CHECK(t != NULL && len == 3 && memcmp(t, "abc", 3) == 0); /* the last one wins */
    CHECK_EQ(cb_calls, 2);
    CHECK_EQ(cb_len, 3);
    f.new_token.len = 0;
    CHECK_EQ(ho_quic_new_token_on_frame(cl, &f), HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR));
    f.new_token.len = 3;
    if (sc != NULL) {
        CHECK_EQ(ho_quic_new_token_on_frame(sc, &f), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
        CHECK_EQ(ho_quic_new_token_queue(sc, NULL, 0), HO_ERR_INVALID_ARG);
    }
    CHECK_EQ(ho_quic_new_token_queue(cl, (const uint8_t *)"abc", 3), HO_ERR_INVALID_ARG);
    netsim_free(&ns);
}

int main(void)
{
    netsim_global_init();
    RUN(test_issued_and_accepted);
    RUN(test_refused);
    RUN(test_lifetime_and_fleet);
    RUN(test_off_and_kinds);
    RUN(test_frame_rules);
    netsim_global_free();
    return ho_test_summary("test_quic_new_token");
}
