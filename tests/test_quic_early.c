/* test_quic_early: 0-RTT over QUIC (src/quic/early.c, the engine's QUIC
 * mode in src/tls/early.c), two bare connections on quic_pair's virtual
 * link. A first connection gets a ticket (with the server's transport
 * parameters); a second one writes its request before anything is sent,
 * so it goes in 0-RTT packets:
 *
 * - accepted: the server reads it before its handshake completes, the
 *   bytes are right, the counters show 0-RTT packets accepted; the
 *   client's 0-RTT keys go with the 1-RTT keys, the server's three PTOs
 *   after the first 1-RTT packet (RFC 9001 §4.9.3);
 * - rejected (the server's parameters changed, or early data turned off):
 *   the data arrives in 1-RTT, byte-exact, the 0-RTT packets dropped;
 * - a replayed first datagram is refused as early data (strike register);
 * - forbidden frames in 0-RTT are a PROTOCOL_VIOLATION (RFC 9000 §12.4),
 *   and so is an EndOfEarlyData (RFC 9001 §8.3);
 * - version 2: the ticket's version is where the next connection starts
 *   (RFC 9369 §5), its 0-RTT packets use v2's type; a session of another
 *   version than the one forced is not offered;
 * - HTTP/3: in accepted 0-RTT a GET is answered early (req->early), a POST
 *   after the handshake (RFC 8470 §3);
 * - tickets of a QUIC server carry max_early_data_size 0xffffffff
 *   (RFC 9001 §4.6.1), and a client refuses a ticket saying anything else. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "handoff/http.h"
#include "quic_pair.h"
#include "quic_test_tls.h"
#include "quic/conn_int.h"

#define WALL_MS INT64_C(1760000000000)
#define MSG_MAX 4096

static ho_tls_config *server_tls, *client_tls;

typedef struct early_test {
    quic_pair p;
    uint8_t ticket[4096];
    size_t ticket_len;
    int tickets;
    uint8_t got[MSG_MAX]; /* what the server read on stream 0 */
    size_t got_len;
    bool got_fin;
    bool read_before_hs;  /* the server read stream data before its handshake completed */
    uint32_t server_v;    /* the version of the client's first Initial, 0: 1 (quic_pair assumes 1) */
} early_test;

/* What the endpoint does for a first Initial of another version. */
static void on_server(quic_pair *p)
{
    early_test *t = p->user;
    if (t->server_v != 0)
        CHECK_EQ(ho_quic_version_server_start(p->conn[QP_SERVER], t->server_v), HO_OK);
}

static void cb_ticket(void *ctx, ho_quic_conn *c, const uint8_t *blob, size_t len)
{
    (void)c;
    early_test *t = ctx;
    t->tickets++;
    if (len <= sizeof(t->ticket)) {
        memcpy(t->ticket, blob, len);
        t->ticket_len = len;
    }
}

static void cb_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    early_test *t = ctx;
    if (quic_pair_side(&t->p, c) != QP_SERVER || id != 0)
        return;
    for (;;) {
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(c, id, t->got + t->got_len, sizeof(t->got) - t->got_len, &n, &fin) != HO_OK)
            return;
        if (n > 0 && !ho_quic_conn_handshake_done(c))
            t->read_before_hs = true;
        t->got_len += n;
        t->got_fin |= fin;
        if (n == 0 || fin)
            return;
    }
}

static void pair_init(early_test *t)
{
    uint8_t keep[4096];
    size_t keep_len = t->ticket_len;
    uint32_t v = t->server_v;
    memcpy(keep, t->ticket, keep_len);
    memset(t, 0, sizeof(*t));
    memcpy(t->ticket, keep, keep_len);
    t->ticket_len = keep_len;
    t->server_v = v;
    ho_quic_callbacks cb = {.ctx = t, .session_ticket = cb_ticket, .stream_readable = cb_readable};
    quic_pair_init(&t->p, &cb, server_tls, client_tls, 0, 7);
    /* Each connection a second after the last (ticket ages, RFC 8446 §8.3). */
    static int64_t wall = WALL_MS;
    wall += 1000;
    t->p.ccfg.wall_clock_ms = t->p.scfg.wall_clock_ms = wall;
    t->p.user = t;
    t->p.on_server = on_server;
}

static bool got_ticket(quic_pair *p, void *arg)
{
    (void)p;
    return ((early_test *)arg)->tickets > 0;
}

static bool got_all(quic_pair *p, void *arg)
{
    (void)p;
    return ((early_test *)arg)->got_fin;
}

/* A full handshake that leaves a ticket in t->ticket (version v, 0: default). */
static void first_connection(early_test *t, uint32_t v)
{
    t->ticket_len = 0;
    pair_init(t);
    t->p.ccfg.version = v;
    CHECK(quic_pair_start(&t->p));
    CHECK(quic_pair_run(&t->p, quic_pair_hs_done, t, HO_QUIC_SEC(5)));
    CHECK(quic_pair_run(&t->p, got_ticket, t, HO_QUIC_SEC(5)));
    CHECK(t->ticket_len > 0);
    CHECK_EQ(ho_quic_conn_early_data(t->p.conn[QP_CLIENT]), HO_TLS_EARLY_NONE);
    quic_pair_free(&t->p);
}

static void fill(uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 7 + 3);
}

/* The second connection resumes with the ticket; second_write starts it
 * and writes `len` bytes on stream 0 with FIN before its first send. */
static void second_start(early_test *t)
{
    pair_init(t);
    t->p.ccfg.session = t->ticket;
    t->p.ccfg.session_len = t->ticket_len;
}

static void write_msg(early_test *t, size_t len)
{
    uint8_t msg[MSG_MAX];
    fill(msg, len);
    uint64_t id;
    size_t w = 0;
    CHECK_EQ(ho_quic_stream_open(t->p.conn[QP_CLIENT], true, &id), HO_OK);
    CHECK_EQ(id, 0);
    CHECK_EQ(ho_quic_stream_write(t->p.conn[QP_CLIENT], id, msg, len, true, &w), HO_OK);
    CHECK_EQ(w, len);
}

static void second_write(early_test *t, size_t len)
{
    CHECK(quic_pair_start(&t->p));
    write_msg(t, len);
}

static void check_bytes(early_test *t, size_t len)
{
    uint8_t msg[MSG_MAX];
    fill(msg, len);
    CHECK(t->got_fin);
    CHECK_EQ(t->got_len, len);
    CHECK_MEM(t->got, msg, len);
}

static void test_accepted(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    second_start(&t);
    second_write(&t, 1000);
    ho_quic_conn *cl = t.p.conn[QP_CLIENT];
    CHECK_EQ(ho_quic_conn_early_data(cl), HO_TLS_EARLY_OFFERED);
    CHECK(cl->early.has_tx);
    /* The request is read before the server's handshake completes. */
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    CHECK(t.read_before_hs);
    check_bytes(&t, 1000);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    ho_quic_conn *sv = t.p.conn[QP_SERVER];
    CHECK_EQ(ho_quic_conn_early_data(cl), HO_TLS_EARLY_ACCEPTED);
    CHECK_EQ(ho_quic_conn_early_data(sv), HO_TLS_EARLY_ACCEPTED);
    CHECK(ho_tls_is_resumed(ho_quic_conn_tls(sv)));
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(cl, &cs);
    ho_quic_conn_get_stats(sv, &ss);
    CHECK(cs.zero_rtt_sent > 0);
    CHECK_EQ(ss.zero_rtt_received, cs.zero_rtt_sent);
    CHECK_EQ(ss.zero_rtt_accepted, cs.zero_rtt_sent);
    CHECK_EQ(ss.zero_rtt_dropped, 0);
    /* RFC 9001 §4.9.3: the client dropped its 0-RTT keys with the 1-RTT
     * keys; the server keeps its own for reordered packets, then drops
     * them (three PTOs after the first 1-RTT packet). */
    CHECK(!cl->early.has_tx);
    CHECK(sv->early.discard_armed);
    ho_quic_time at = sv->early.discard_at;
    CHECK(at > t.p.now);
    quic_pair_run(&t.p, NULL, NULL, at - t.p.now + 1);
    CHECK(!sv->early.has_rx);
    CHECK(!ho_quic_conn_is_closed(sv));
    quic_pair_free(&t.p);
}

/* A server whose transport parameters changed rejects the 0-RTT (RFC 9001
 * §4.6.2); the data goes again in 1-RTT. */
static void test_rejected_params_changed(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    second_start(&t);
    t.p.scfg.initial_max_data = 512 * 1024 + 1;
    second_write(&t, 2000);
    CHECK_EQ(ho_quic_conn_early_data(t.p.conn[QP_CLIENT]), HO_TLS_EARLY_OFFERED);
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    check_bytes(&t, 2000);
    CHECK(!t.read_before_hs);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    ho_quic_conn *cl = t.p.conn[QP_CLIENT], *sv = t.p.conn[QP_SERVER];
    CHECK_EQ(ho_quic_conn_early_data(cl), HO_TLS_EARLY_REJECTED);
    CHECK_EQ(ho_quic_conn_early_data(sv), HO_TLS_EARLY_REJECTED);
    CHECK(ho_tls_is_resumed(ho_quic_conn_tls(sv))); /* resumed, in 1-RTT */
    ho_quic_conn_stats cs, ss;
    ho_quic_conn_get_stats(cl, &cs);
    ho_quic_conn_get_stats(sv, &ss);
    CHECK(cs.zero_rtt_sent > 0);
    CHECK_EQ(ss.zero_rtt_accepted, 0);
    CHECK_EQ(ss.zero_rtt_dropped, ss.zero_rtt_received);
    CHECK(ss.zero_rtt_dropped > 0);
    CHECK(!cl->early.has_tx);
    quic_pair_free(&t.p);
}

/* Early data turned off on the server: rejected, completes in 1-RTT. */
static void test_rejected_off(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    ho_tls_config_set_early_data(server_tls, 0);
    second_start(&t);
    second_write(&t, 300);
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    check_bytes(&t, 300);
    CHECK(!t.read_before_hs);
    CHECK_EQ(ho_quic_conn_early_data(t.p.conn[QP_CLIENT]), HO_TLS_EARLY_REJECTED);
    quic_pair_free(&t.p);
    ho_tls_config_set_early_data(server_tls, HO_TLS_EARLY_DATA_DEFAULT);
}

/* The client's first datagram (Initial + 0-RTT) replayed to a new server
 * connection: refused as early data (RFC 8446 §8), its 0-RTT dropped. */
static void test_replay(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    second_start(&t);
    second_write(&t, 100);
    static uint8_t first[64 * 1500];
    size_t seg, n = ho_quic_conn_send(t.p.conn[QP_CLIENT], first, sizeof(first), &seg, t.p.now);
    CHECK(n >= 1200);
    quic_pair_enqueue(&t.p, QP_SERVER, first, n < seg ? n : seg, false);
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    CHECK(t.read_before_hs);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    /* The copy, a moment later, to a new server connection. */
    ho_quic_conn_free(t.p.conn[QP_SERVER]);
    t.p.conn[QP_SERVER] = NULL;
    t.got_len = 0;
    t.got_fin = t.read_before_hs = false;
    t.p.now += HO_QUIC_MS(100);
    netsim_pkt d = {.at = t.p.now, .dir = QP_SERVER, .data = first, .len = n < seg ? n : seg};
    quic_pair_deliver(&t.p, &d);
    ho_quic_conn *sv = t.p.conn[QP_SERVER];
    CHECK(sv != NULL);
    CHECK_EQ(ho_quic_conn_early_data(sv), HO_TLS_EARLY_REPLAYED);
    ho_quic_conn_stats ss;
    ho_quic_conn_get_stats(sv, &ss);
    CHECK(ss.zero_rtt_received > 0);
    CHECK_EQ(ss.zero_rtt_accepted, 0);
    CHECK_EQ(ss.zero_rtt_dropped, ss.zero_rtt_received);
    CHECK_EQ(t.got_len, 0);
    quic_pair_free(&t.p);
}

/* A 0-RTT packet of the client's with one frame `f`, appended to b. */
static void zero_rtt_packet(ho_quic_conn *cl, const ho_quic_frame *f, ho_buf *b)
{
    ho_quic_header h;
    memset(&h, 0, sizeof(h));
    h.type = HO_QUIC_PKT_0RTT;
    h.version = cl->version;
    h.dcid = cl->dcid;
    h.scid = cl->scid;
    h.pn = 1000;
    h.pn_len = 2;
    size_t start;
    CHECK_EQ(ho_quic_header_write(b, &h, &start), HO_OK);
    CHECK_EQ(ho_quic_frame_encode(b, f), HO_OK);
    ho_quic_frame pad = {.type = HO_QUIC_FT_PADDING};
    for (int i = 0; i < 20; i++)
        ho_quic_frame_encode(b, &pad);
    CHECK_EQ(ho_quic_packet_seal(b, start, &h, &cl->early.tx, 0), HO_OK);
}

/* RFC 9000 §12.4, §12.5; RFC 9001 §8.3: frames a 0-RTT packet may not
 * carry are a PROTOCOL_VIOLATION. */
static void test_bad_frames(void)
{
    static const uint64_t bad[] = {HO_QUIC_FT_ACK, HO_QUIC_FT_CRYPTO, HO_QUIC_FT_HANDSHAKE_DONE,
                                   HO_QUIC_FT_NEW_TOKEN, HO_QUIC_FT_RETIRE_CONNECTION_ID};
    early_test t;
    memset(&t, 0, sizeof(t));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        first_connection(&t, 0); /* a fresh ticket: each gives 0-RTT once */
        second_start(&t);
        CHECK(quic_pair_start(&t.p));
        ho_quic_conn *cl = t.p.conn[QP_CLIENT];
        CHECK(cl->early.has_tx);
        ho_quic_frame f;
        memset(&f, 0, sizeof(f));
        f.type = bad[i];
        uint8_t tok[4] = {1, 2, 3, 4}, data[4] = {0};
        if (f.type == HO_QUIC_FT_ACK) {
            f.ack.largest = 0; /* one range: packet 0 */
        } else if (f.type == HO_QUIC_FT_CRYPTO) {
            f.crypto.data = data;
            f.crypto.len = sizeof(data);
        } else if (f.type == HO_QUIC_FT_NEW_TOKEN) {
            f.new_token.token = tok;
            f.new_token.len = sizeof(tok);
        }
        /* The Initial (ClientHello) first, then the forged 0-RTT packet. */
        quic_pair_flush(&t.p, QP_CLIENT);
        ho_quic_time at = netsim_queue_next(&t.p.q);
        t.p.now = at;
        netsim_pkt d;
        while (netsim_queue_pop_due(&t.p.q, t.p.now, &d)) {
            quic_pair_deliver(&t.p, &d);
            free(d.data);
        }
        ho_quic_conn *sv = t.p.conn[QP_SERVER];
        CHECK(sv != NULL);
        CHECK_EQ(ho_quic_conn_early_data(sv), HO_TLS_EARLY_ACCEPTED);
        ho_buf b;
        ho_buf_init(&b);
        zero_rtt_packet(cl, &f, &b);
        CHECK_EQ(ho_quic_conn_receive(sv, b.data, b.len, NULL, t.p.now), HO_OK);
        ho_buf_free(&b);
        CHECK_EQ(ho_quic_conn_error(sv), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
        quic_pair_free(&t.p);
    }
    /* PING in 0-RTT is fine (the control). */
    first_connection(&t, 0);
    second_start(&t);
    CHECK(quic_pair_start(&t.p));
    quic_pair_flush(&t.p, QP_CLIENT);
    t.p.now = netsim_queue_next(&t.p.q);
    netsim_pkt d;
    while (netsim_queue_pop_due(&t.p.q, t.p.now, &d)) {
        quic_pair_deliver(&t.p, &d);
        free(d.data);
    }
    ho_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = HO_QUIC_FT_PING;
    ho_buf b;
    ho_buf_init(&b);
    zero_rtt_packet(t.p.conn[QP_CLIENT], &f, &b);
    CHECK_EQ(ho_quic_conn_receive(t.p.conn[QP_SERVER], b.data, b.len, NULL, t.p.now), HO_OK);
    ho_buf_free(&b);
    CHECK_EQ(ho_quic_conn_error(t.p.conn[QP_SERVER]), HO_OK);
    ho_quic_conn_stats ss;
    ho_quic_conn_get_stats(t.p.conn[QP_SERVER], &ss);
    CHECK_EQ(ss.zero_rtt_accepted, 1);
    quic_pair_free(&t.p);
}

/* RFC 9001 §8.3: an EndOfEarlyData (in the client's Handshake CRYPTO
 * stream) is a PROTOCOL_VIOLATION for a QUIC server. */
static bool client_has_hs_keys(quic_pair *p, void *arg)
{
    (void)arg;
    return p->conn[QP_CLIENT]->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].has_tx;
}

static void test_end_of_early_data(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    second_start(&t);
    CHECK(quic_pair_start(&t.p));
    /* Up to the client's Handshake keys; what it sends then (its Finished)
     * never arrives: an EndOfEarlyData goes in its place. */
    CHECK(quic_pair_run(&t.p, client_has_hs_keys, NULL, HO_QUIC_SEC(5)));
    netsim_queue_clear(&t.p.q);
    ho_quic_conn *cl = t.p.conn[QP_CLIENT], *sv = t.p.conn[QP_SERVER];
    CHECK(sv != NULL);
    CHECK_EQ(ho_quic_conn_early_data(sv), HO_TLS_EARLY_ACCEPTED);
    ho_quic_header h;
    memset(&h, 0, sizeof(h));
    h.type = HO_QUIC_PKT_HANDSHAKE;
    h.version = cl->version;
    h.dcid = cl->dcid;
    h.scid = cl->scid;
    h.pn = 100;
    h.pn_len = 2;
    ho_buf b;
    ho_buf_init(&b);
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    const uint8_t eoed[4] = {HO_HS_END_OF_EARLY_DATA, 0, 0, 0};
    ho_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = HO_QUIC_FT_CRYPTO;
    f.crypto.offset = 0;
    f.crypto.data = eoed;
    f.crypto.len = sizeof(eoed);
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_OK);
    ho_quic_frame pad = {.type = HO_QUIC_FT_PADDING};
    for (int i = 0; i < 20; i++)
        ho_quic_frame_encode(&b, &pad);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &cl->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].tx, 0), HO_OK);
    ho_quic_conn_receive(sv, b.data, b.len, NULL, t.p.now);
    ho_buf_free(&b);
    CHECK_EQ(ho_quic_conn_error(sv), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    quic_pair_free(&t.p);
}

/* Version 2: the ticket's version is where the next connection starts, and
 * its 0-RTT goes in v2's packet type (RFC 9369 §3.2: 0b10). */
static void test_v2(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    t.server_v = HO_QUIC_VERSION_2;
    first_connection(&t, HO_QUIC_VERSION_2);
    second_start(&t);
    second_write(&t, 500);
    ho_quic_conn *cl = t.p.conn[QP_CLIENT];
    CHECK_EQ(ho_quic_conn_version(cl), HO_QUIC_VERSION_2);
    static uint8_t first[64 * 1500];
    size_t seg, n = ho_quic_conn_send(cl, first, sizeof(first), &seg, t.p.now);
    CHECK(n >= 1200);
    /* The second packet of the first datagram is a v2 0-RTT packet. */
    ho_quic_datagram_iter it;
    ho_quic_datagram_iter_init(&it, first, n < seg ? n : seg, cl->scid.len);
    ho_quic_header h;
    uint8_t *pk;
    CHECK_EQ(ho_quic_datagram_next(&it, &h, &pk), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(ho_quic_datagram_next(&it, &h, &pk), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_0RTT);
    CHECK_EQ(h.version, HO_QUIC_VERSION_2);
    CHECK_EQ((pk[0] & 0x30) >> 4, 2);
    quic_pair_enqueue(&t.p, QP_SERVER, first, n < seg ? n : seg, false);
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    CHECK(t.read_before_hs);
    check_bytes(&t, 500);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    CHECK_EQ(ho_quic_conn_early_data(cl), HO_TLS_EARLY_ACCEPTED);
    CHECK_EQ(ho_quic_conn_version(t.p.conn[QP_SERVER]), HO_QUIC_VERSION_2);
    quic_pair_free(&t.p);

    /* RFC 9369 §5: forced to version 1, the v2 session is not offered. */
    t.server_v = 0;
    second_start(&t);
    t.p.ccfg.version = HO_QUIC_VERSION_1;
    CHECK(quic_pair_start(&t.p));
    CHECK_EQ(ho_quic_conn_early_data(t.p.conn[QP_CLIENT]), HO_TLS_EARLY_NONE);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    write_msg(&t, 10);
    CHECK(!ho_tls_is_resumed(ho_quic_conn_tls(t.p.conn[QP_CLIENT])));
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    check_bytes(&t, 10);
    quic_pair_free(&t.p);
}

/* An older session blob (the bare TLS session) resumes without 0-RTT; the
 * engine's QUIC tickets say 0xffffffff (RFC 9001 §4.6.1). */
static void test_old_blob(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    first_connection(&t, 0);
    CHECK(t.ticket_len > 8 + 8 * HO_QUIC_EARLY_TP);
    CHECK_EQ(t.ticket[0], 0xff);
    size_t hdr = 3 + 4 + 1 + 8 * HO_QUIC_EARLY_TP;
    memmove(t.ticket, t.ticket + hdr, t.ticket_len - hdr);
    t.ticket_len -= hdr;
    /* The TLS session (version 2: with max_early_data_size) ends with it. */
    CHECK_EQ(t.ticket[0], 2);
    second_start(&t);
    CHECK(quic_pair_start(&t.p));
    CHECK_EQ(ho_quic_conn_early_data(t.p.conn[QP_CLIENT]), HO_TLS_EARLY_NONE);
    CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
    write_msg(&t, 50);
    CHECK(quic_pair_run(&t.p, got_all, &t, HO_QUIC_SEC(5)));
    check_bytes(&t, 50);
    CHECK(!t.read_before_hs);
    CHECK(ho_tls_is_resumed(ho_quic_conn_tls(t.p.conn[QP_CLIENT])));
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(t.p.conn[QP_CLIENT], &cs);
    CHECK_EQ(cs.zero_rtt_sent, 0);
    quic_pair_free(&t.p);
}

/* RFC 9001 §4.6.1: a NewSessionTicket over QUIC whose early_data says
 * anything but 0xffffffff is a PROTOCOL_VIOLATION for the client (ours say
 * 0xffffffff: the wrapped TLS session of test_old_blob). */
static void test_ticket_max_early(void)
{
    early_test t;
    memset(&t, 0, sizeof(t));
    for (int good = 1; good >= 0; good--) {
        pair_init(&t);
        CHECK(quic_pair_start(&t.p));
        CHECK(quic_pair_run(&t.p, quic_pair_hs_done, &t, HO_QUIC_SEC(5)));
        CHECK(quic_pair_run(&t.p, got_ticket, &t, HO_QUIC_SEC(5)));
        ho_quic_conn *cl = t.p.conn[QP_CLIENT], *sv = t.p.conn[QP_SERVER];
        /* Another NewSessionTicket from the server, next in its 1-RTT CRYPTO stream. */
        uint8_t nst[64];
        size_t n = 0;
        const uint8_t head[] = {HO_HS_NEW_SESSION_TICKET, 0, 0, 0, 0, 0, 0x1c, 0x20, /* lifetime 7200 */
                                1, 2, 3, 4,                                         /* age_add */
                                1, 0,                                               /* nonce */
                                0, 4, 't', 'k', 't', '!',                           /* ticket */
                                0, 8, 0, 42, 0, 4};                                 /* early_data */
        memcpy(nst, head, sizeof(head));
        n = sizeof(head);
        uint32_t max = good ? 0xffffffffu : 16384;
        nst[n++] = (uint8_t)(max >> 24);
        nst[n++] = (uint8_t)(max >> 16);
        nst[n++] = (uint8_t)(max >> 8);
        nst[n++] = (uint8_t)max;
        nst[3] = (uint8_t)(n - 4);
        ho_quic_frame f;
        memset(&f, 0, sizeof(f));
        f.type = HO_QUIC_FT_CRYPTO;
        f.crypto.offset = sv->spaces[HO_QUIC_PN_SPACE_APPLICATION].crypto_tx.end;
        f.crypto.data = nst;
        f.crypto.len = n;
        size_t len = ho_quic_conn_build_frames(sv, &f, 1, 1400, 0, t.p.now);
        CHECK(len > 0);
        int before = t.tickets;
        CHECK_EQ(ho_quic_conn_receive(cl, sv->pkt.data, len, NULL, t.p.now), HO_OK);
        if (good) {
            CHECK_EQ(ho_quic_conn_error(cl), HO_OK);
            CHECK_EQ(t.tickets, before + 1);
        } else {
            CHECK_EQ(ho_quic_conn_error(cl), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
            CHECK_EQ(t.tickets, before);
        }
        quic_pair_free(&t.p);
    }
}

/* ---- HTTP/3 in 0-RTT --------------------------------------------------------------- */

typedef struct h3_early {
    quic_pair p;
    ho_h3_conn *h3[2];
    ho_router *router;
    uint8_t ticket[4096];
    size_t ticket_len;
} h3_early;

static void h3_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    h3_early *e = ctx;
    ho_h3_on_stream_readable(e->h3[quic_pair_side(&e->p, c)], id);
}
static void h3_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    h3_early *e = ctx;
    ho_h3_on_stream_writable(e->h3[quic_pair_side(&e->p, c)], id);
}
static void h3_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    h3_early *e = ctx;
    ho_h3_on_stream_reset(e->h3[quic_pair_side(&e->p, c)], id, code, stop);
}
static void h3_ticket(void *ctx, ho_quic_conn *c, const uint8_t *blob, size_t len)
{
    (void)c;
    h3_early *e = ctx;
    if (len <= sizeof(e->ticket)) {
        memcpy(e->ticket, blob, len);
        e->ticket_len = len;
    }
}
static void h3_app(quic_pair *p)
{
    h3_early *e = p->user;
    for (int side = 0; side < 2; side++)
        if (e->h3[side] != NULL)
            ho_h3_flush(e->h3[side], p->now);
}
static void h3_on_server(quic_pair *p)
{
    h3_early *e = p->user;
    e->h3[1] = ho_h3_server_attach(p->conn[QP_SERVER], e->router);
}

/* The page says whether the request came in early data (req->early). */
static int early_page(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    const char *b = req->early ? "early=1" : "early=0";
    ho_put_bytes(resp->body, b, strlen(b));
    resp->content_type = "text/plain";
    return HO_OK;
}

static void h3_start(h3_early *e)
{
    ho_quic_callbacks cb = {.ctx = e,
                            .stream_readable = h3_readable,
                            .stream_writable = h3_writable,
                            .stream_reset = h3_reset,
                            .session_ticket = h3_ticket};
    quic_pair_init(&e->p, &cb, server_tls, client_tls, 0, 11);
    static int64_t wall = WALL_MS + 1000000;
    wall += 1000;
    e->p.ccfg.wall_clock_ms = e->p.scfg.wall_clock_ms = wall;
    e->p.app = h3_app;
    e->p.on_server = h3_on_server;
    e->p.user = e;
    if (e->ticket_len > 0) {
        e->p.ccfg.session = e->ticket;
        e->p.ccfg.session_len = e->ticket_len;
    }
    CHECK(quic_pair_start(&e->p));
    e->h3[0] = ho_h3_client_attach(e->p.conn[QP_CLIENT]);
    e->h3[1] = NULL;
}

static void h3_stop(h3_early *e)
{
    ho_h3_free(e->h3[0]);
    ho_h3_free(e->h3[1]);
    e->h3[0] = e->h3[1] = NULL;
    quic_pair_free(&e->p);
}

static bool h3_got_ticket(quic_pair *p, void *arg)
{
    (void)arg;
    return ((h3_early *)p->user)->ticket_len > 0;
}

static bool both_complete(quic_pair *p, void *arg)
{
    (void)p;
    ho_h3_response **r = arg;
    return r[0] != NULL && r[1] != NULL && r[0]->complete && r[1]->complete;
}

/* RFC 8470 §3 over HTTP/3: in accepted 0-RTT a GET is answered before the
 * handshake completes (req->early), a POST waits for it. */
static void test_h3_early_requests(void)
{
    h3_early e;
    memset(&e, 0, sizeof(e));
    e.router = ho_router_new();
    CHECK_EQ(ho_router_add(e.router, "GET", "/e", early_page, NULL), HO_OK);
    CHECK_EQ(ho_router_add(e.router, "POST", "/e", early_page, NULL), HO_OK);
    h3_start(&e);
    CHECK(quic_pair_run(&e.p, quic_pair_hs_done, NULL, HO_QUIC_SEC(5)));
    CHECK(quic_pair_run(&e.p, h3_got_ticket, NULL, HO_QUIC_SEC(5)));
    h3_stop(&e);

    h3_start(&e);
    CHECK_EQ(ho_quic_conn_early_data(e.p.conn[QP_CLIENT]), HO_TLS_EARLY_OFFERED);
    ho_h3_response *r[2] = {NULL, NULL};
    CHECK_EQ(ho_h3_client_get(e.h3[0], "localhost", "/e", NULL, &r[0]), HO_OK);
    const ho_http_header post[] = {{{":method", 7}, {"POST", 4}},
                                   {{":scheme", 7}, {"https", 5}},
                                   {{":authority", 10}, {"localhost", 9}},
                                   {{":path", 5}, {"/e", 2}}};
    CHECK_EQ(ho_h3_client_request(e.h3[0], post, 4, &r[1]), HO_OK);
    CHECK(quic_pair_run(&e.p, both_complete, r, HO_QUIC_SEC(5)));
    CHECK_EQ(ho_quic_conn_early_data(e.p.conn[QP_CLIENT]), HO_TLS_EARLY_ACCEPTED);
    ho_quic_conn_stats cs;
    ho_quic_conn_get_stats(e.p.conn[QP_CLIENT], &cs);
    CHECK(cs.zero_rtt_sent > 0);
    CHECK_EQ(r[0]->status, 200);
    CHECK_EQ(r[0]->body.len, 7);
    CHECK_MEM(r[0]->body.data, "early=1", 7);
    CHECK_EQ(r[1]->status, 200);
    CHECK_EQ(r[1]->body.len, 7);
    CHECK_MEM(r[1]->body.data, "early=0", 7);
    h3_stop(&e);
    ho_router_free(e.router);
}

int main(void)
{
    quic_test_tls("hq-test", &server_tls, &client_tls);
    ho_tls_config_set_early_data(server_tls, HO_TLS_EARLY_DATA_DEFAULT);
    ho_tls_config_set_early_data(client_tls, HO_TLS_EARLY_DATA_DEFAULT);
    RUN(test_accepted);
    RUN(test_rejected_params_changed);
    RUN(test_rejected_off);
    RUN(test_replay);
    RUN(test_bad_frames);
    RUN(test_end_of_early_data);
    RUN(test_v2);
    RUN(test_old_blob);
    RUN(test_ticket_max_early);
    RUN(test_h3_early_requests);
    ho_tls_config_free(server_tls);
    ho_tls_config_free(client_tls);
    return ho_test_summary("test_quic_early");
}
