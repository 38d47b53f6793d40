/* test_quic_badinput: malformed input at the server endpoint, which must
 * keep serving. Client 0 downloads (and uploads) through the endpoint over
 * a 3 Mbit/s link the whole time; "attacker" clients 1.. meanwhile send
 *   - every truncation of a real client Initial and of a real 1-RTT packet,
 *   - bit flips in the header, the payload and the AEAD tag of both,
 * which must all be dropped without a reply from any connection (the
 * endpoint itself may answer a corrupted version with Version Negotiation,
 * RFC 9000 §6.1, and an unknown short-header DCID with a stateless reset,
 * §10.3) and counted, without hurting the attacker's own connection; then,
 * each on a fresh attacker connection, frames with bad encodings, frames
 * forbidden in their epoch, flow-control and stream-limit violations, each
 * of which must close THAT connection with the right transport error
 * (RFC 9000 §12.4, §19). Afterwards client 0's transfer completes byte for
 * byte. */
#include <string.h>

#include "harness.h"
#include "netsim.h"
#include "quic/conn_int.h"

#define HEALTHY_DOWN (12u << 20)
#define HEALTHY_UP (1u << 20)

/* Per-client scripted blocking: drop datagrams of client i in direction d
 * from index block_from[i][d] on (UINT64_MAX: never). */
static uint64_t block_from[NETSIM_MAX_CLIENTS][2];

static bool block_filter(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                         uint8_t *ecn)
{
    (void)ctx, (void)d, (void)len, (void)ecn;
    return index >= block_from[client][dir];
}

static int target; /* the attacker client the done functions look at */

static bool target_confirmed(netsim *ns)
{
    ho_quic_conn *s = netsim_server_conn(ns, target);
    return s != NULL && ho_quic_conn_handshake_confirmed(ns->cl[target]) && ho_quic_conn_handshake_confirmed(s);
}
static bool target_accepted(netsim *ns) { return netsim_server_conn(ns, target) != NULL; }
static bool target_has_hs_keys(netsim *ns)
{
    return netsim_server_conn(ns, target) != NULL && ho_quic_conn_has_keys(ns->cl[target], HO_EPOCH_HANDSHAKE) &&
           ns->cl[target]->spaces[HO_QUIC_PN_SPACE_HANDSHAKE].has_tx;
}
static bool target_gone(netsim *ns)
{
    return ho_quic_conn_is_closed(ns->cl[target]) && netsim_server_conn(ns, target) == NULL;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = ho_quic_varint_len(v);
    uint64_t tag = n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3;
    for (size_t k = 0; k < n; k++)
        p[k] = (uint8_t)(v >> (8 * (n - 1 - k)));
    p[0] |= (uint8_t)(tag << 6);
    return n;
}

/* The healthy connection is still fine (not closing, its transfer moving
 * or done, no byte mismatch so far). */
static void check_healthy(netsim *ns, const char *when)
{
    const netsim_xfer *x = &ns->x[0];
    bool ok = !ho_quic_conn_is_closing(ns->cl[0]) && netsim_server_conn(ns, 0) != NULL && !x->bad && !x->srv_bad;
    CHECK(ok);
    if (!ok)
        netsim_dump(ns, when);
}

/* Sends everything due now, without advancing the clock: what the
 * endpoint says in reply to an injected datagram lands in ns->ep_out. */
static void settle(netsim *ns)
{
    netsim_flush(ns);
    netsim_flush(ns);
}

static void flip(uint8_t *p, size_t bit) { p[bit / 8] ^= (uint8_t)(1u << (bit % 8)); }

/* ---- truncated and corrupted packets --------------------------------------- */

static void test_garbage_initial(netsim *ns)
{
    int i = netsim_add_client(ns);
    CHECK(i > 0);
    /* The attacker's real first Initial, taken before the link sees it. */
    static uint8_t init[1500], pkt[1500];
    size_t seg, len = ho_quic_conn_send(ns->cl[i], init, sizeof(init), &seg, ns->now);
    CHECK_EQ(len, 1200);
    settle(ns);
    ho_quic_endpoint_stats st0, st1;
    ho_quic_endpoint_get_stats(ns->ep, &st0);
    int accepted0 = ns->accepted;
    uint64_t out0 = ns->ep_out[i];
    /* Every truncation: the Length field runs past the datagram (or the
     * header is cut) and a server MUST drop an Initial in a datagram under
     * 1200 bytes anyway (RFC 9000 §14.1). */
    for (size_t l = 0; l < len; l++) {
        memcpy(pkt, init, l);
        netsim_inject(ns, i, pkt, l);
    }
    settle(ns);
    ho_quic_endpoint_get_stats(ns->ep, &st1);
    CHECK_EQ(ns->ep_out[i], out0);
    CHECK_EQ(ns->accepted, accepted0);
    CHECK_EQ(st1.datagrams_dropped - st0.datagrams_dropped, len);
    fprintf(stderr, "badinput: %zu truncated Initials: %llu dropped, 0 replies\n", len,
            (unsigned long long)(st1.datagrams_dropped - st0.datagrams_dropped));

    /* Bit flips: every bit of the header (up to the packet number), 1 bit
     * in 40 of the payload, every bit of the tag. */
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(init, len, 8, &h), HO_OK);
    size_t hdr_end = h.pn_offset + 4, tag_start = h.packet_len - 16;
    uint64_t flips[3] = {0}, conn_replies = 0, ep_replies[3] = {0};
    int created = 0;
    for (size_t bit = 0; bit < len * 8; bit++) {
        size_t byte = bit / 8;
        int region = byte < hdr_end ? 0 : byte < tag_start ? 1 : 2;
        if (region == 1 && bit % 40 != 0)
            continue;
        memcpy(pkt, init, len);
        flip(pkt, bit);
        uint64_t out_before = ns->ep_out[i], sl_before = ns->ep_out_stateless[i];
        size_t conns = ho_quic_endpoint_conn_count(ns->ep);
        netsim_inject(ns, i, pkt, len);
        settle(ns);
        flips[region]++;
        ep_replies[region] += ns->ep_out_stateless[i] - sl_before;
        conn_replies += (ns->ep_out[i] - out_before) - (ns->ep_out_stateless[i] - sl_before);
        created += (int)(ho_quic_endpoint_conn_count(ns->ep) - conns);
    }
    /* No connection answered, and none is left behind for a packet that
     * could not be decrypted. */
    CHECK_EQ(conn_replies, 0);
    CHECK_EQ(created, 0);
    CHECK_EQ(ep_replies[1], 0);
    CHECK_EQ(ep_replies[2], 0);
    CHECK(ep_replies[0] <= 64); /* only VN for the version bytes, resets for the form bit */
    fprintf(stderr,
            "badinput: Initial bit flips header %llu payload %llu tag %llu: connection replies %llu, endpoint "
            "replies (VN / stateless reset) header %llu payload %llu tag %llu, connections created %d\n",
            (unsigned long long)flips[0], (unsigned long long)flips[1], (unsigned long long)flips[2],
            (unsigned long long)conn_replies, (unsigned long long)ep_replies[0], (unsigned long long)ep_replies[1],
            (unsigned long long)ep_replies[2], created);

    /* The attacker's own handshake still works afterwards. */
    target = i;
    CHECK(netsim_run(ns, target_confirmed, HO_QUIC_SEC(10)));
    check_healthy(ns, "after garbage Initials");
}

static void test_garbage_1rtt(netsim *ns)
{
    int i = netsim_add_client(ns);
    CHECK(i > 0);
    target = i;
    CHECK(netsim_run(ns, target_confirmed, HO_QUIC_SEC(10)));
    ho_quic_conn *sc = netsim_server_conn(ns, i);
    CHECK(sc != NULL);
    if (sc == NULL)
        return;
    settle(ns);
    /* A real 1-RTT packet: 100 bytes on the attacker's stream 0. */
    uint8_t frames[128];
    ho_buf f, b;
    ho_buf_init(&f);
    ho_buf_init(&b);
    memset(frames, 'z', 100);
    ho_quic_stream_frame_write(&f, 0, 0, frames, 100, false, true);
    CHECK_EQ(netsim_seal(ns->cl[i], HO_QUIC_PN_SPACE_APPLICATION, f.data, f.len, &b), HO_OK);
    static uint8_t pkt[1500];
    size_t len = b.len;
    ho_quic_conn_stats cs0, cs1;
    ho_quic_endpoint_stats st0, st1;
    ho_quic_conn_get_stats(sc, &cs0);
    ho_quic_endpoint_get_stats(ns->ep, &st0);
    uint64_t out0 = ns->ep_out[i];
    for (size_t l = 0; l < len; l++) {
        memcpy(pkt, b.data, l);
        netsim_inject(ns, i, pkt, l);
    }
    settle(ns);
    ho_quic_conn_get_stats(sc, &cs1);
    ho_quic_endpoint_get_stats(ns->ep, &st1);
    CHECK_EQ(ns->ep_out[i], out0);
    CHECK(!ho_quic_conn_is_closing(sc));
    CHECK_EQ(cs1.packets_received, cs0.packets_received);
    /* Under 1 + 8 bytes the endpoint cannot route it; the rest reach the
     * connection and fail there. */
    CHECK_EQ(st1.datagrams_dropped - st0.datagrams_dropped, 9);
    CHECK_EQ(cs1.packets_dropped - cs0.packets_dropped, len - 9);
    fprintf(stderr,
            "badinput: %zu truncated 1-RTT packets: %llu dropped by the endpoint, %llu by the connection, 0 "
            "replies\n",
            len, (unsigned long long)(st1.datagrams_dropped - st0.datagrams_dropped),
            (unsigned long long)(cs1.packets_dropped - cs0.packets_dropped));

    /* Every bit flipped once: header (first byte, DCID, packet number),
     * payload, tag. */
    size_t hdr_end = 1 + 8 + 4, tag_start = len - 16;
    uint64_t flips[3] = {0}, conn_replies = 0, resets[3] = {0};
    ho_quic_conn_get_stats(sc, &cs0);
    for (size_t bit = 0; bit < len * 8; bit++) {
        size_t byte = bit / 8;
        int region = byte < hdr_end ? 0 : byte < tag_start ? 1 : 2;
        memcpy(pkt, b.data, len);
        flip(pkt, bit);
        uint64_t out_before = ns->ep_out[i], sl_before = ns->ep_out_stateless[i];
        netsim_inject(ns, i, pkt, len);
        settle(ns);
        flips[region]++;
        resets[region] += ns->ep_out_stateless[i] - sl_before;
        conn_replies += (ns->ep_out[i] - out_before) - (ns->ep_out_stateless[i] - sl_before);
        if (ho_quic_conn_is_closing(sc))
            break;
    }
    ho_quic_conn_get_stats(sc, &cs1);
    CHECK(!ho_quic_conn_is_closing(sc));
    CHECK_EQ(conn_replies, 0);
    CHECK_EQ(cs1.packets_received, cs0.packets_received);
    CHECK_EQ(resets[1], 0);
    CHECK_EQ(resets[2], 0);
    CHECK(resets[0] <= 64); /* stateless resets only for a corrupted DCID */
    fprintf(stderr,
            "badinput: 1-RTT bit flips header %llu payload %llu tag %llu: %llu dropped by the connection, "
            "connection replies %llu, stateless resets (DCID flips) %llu\n",
            (unsigned long long)flips[0], (unsigned long long)flips[1], (unsigned long long)flips[2],
            (unsigned long long)(cs1.packets_dropped - cs0.packets_dropped), (unsigned long long)conn_replies,
            (unsigned long long)resets[0]);

    /* The original, intact packet is still accepted: the connection was
     * not hurt. */
    netsim_inject(ns, i, b.data, len);
    ho_quic_conn_get_stats(sc, &cs1);
    CHECK_EQ(cs1.packets_received, cs0.packets_received + 1);
    CHECK(!ho_quic_conn_is_closing(sc));
    ho_buf_free(&f);
    ho_buf_free(&b);
    check_healthy(ns, "after garbage 1-RTT packets");
}

/* ---- frames that close the attacker's connection --------------------------- */

typedef enum { AT_1RTT, AT_INITIAL, AT_HANDSHAKE } attack_at;

/* A fresh attacker connection, brought to the state `at` needs; its peer
 * receives `frames` in one packet of that epoch and must close with `code`
 * (or alt_code, where the RFC allows two). */
static void frame_case(netsim *ns, const char *name, attack_at at, const uint8_t *frames, size_t len, uint64_t code,
                       uint64_t alt_code)
{
    int i = netsim_add_client(ns);
    CHECK(i > 0);
    if (i <= 0)
        return;
    target = i;
    bool ok;
    if (at == AT_INITIAL) {
        /* Only the first Initial reaches the server; it answers into the void. */
        block_from[i][NETSIM_C2S] = 1;
        block_from[i][NETSIM_S2C] = 0;
        ok = netsim_run(ns, target_accepted, HO_QUIC_SEC(5));
    } else if (at == AT_HANDSHAKE) {
        /* The client gets the server's flight, but its Finished never
         * arrives: the server keeps its Handshake keys. */
        block_from[i][NETSIM_C2S] = 1;
        ok = netsim_run(ns, target_has_hs_keys, HO_QUIC_SEC(5));
    } else {
        ok = netsim_run(ns, target_confirmed, HO_QUIC_SEC(10));
    }
    CHECK(ok);
    ho_quic_conn *sc = netsim_server_conn(ns, i);
    if (!ok || sc == NULL) {
        netsim_dump(ns, name);
        return;
    }
    settle(ns);
    ho_buf b;
    ho_buf_init(&b);
    int space = at == AT_INITIAL ? HO_QUIC_PN_SPACE_INITIAL
              : at == AT_HANDSHAKE ? HO_QUIC_PN_SPACE_HANDSHAKE : HO_QUIC_PN_SPACE_APPLICATION;
    CHECK_EQ(netsim_seal(ns->cl[i], space, frames, len, &b), HO_OK);
    netsim_inject(ns, i, b.data, b.len);
    ho_buf_free(&b);
    int err = ho_quic_conn_error(sc);
    bool right = ho_quic_conn_is_closing(sc) && (err == HO_ERR_QUIC(code) || err == HO_ERR_QUIC(alt_code));
    CHECK(right);
    if (!right)
        fprintf(stderr, "badinput %s: closing %d, error %d, want transport error 0x%llx\n", name,
                ho_quic_conn_is_closing(sc), err, (unsigned long long)code);
    /* Open the links again: the client hears the CONNECTION_CLOSE (on its
     * next packet at the latest) and both ends finish. */
    block_from[i][NETSIM_C2S] = block_from[i][NETSIM_S2C] = UINT64_MAX;
    ok = netsim_run(ns, target_gone, HO_QUIC_SEC(60));
    CHECK(ok);
    bool is_app = true, by_peer = false;
    uint64_t got = ho_quic_conn_close_code(ns->cl[i], &is_app, &by_peer);
    CHECK_EQ(ns->srv_close_code[i], got == alt_code ? alt_code : code);
    /* The client learnt the code from the server's CONNECTION_CLOSE. */
    CHECK(by_peer && !is_app && (got == code || got == alt_code));
    fprintf(stderr, "badinput %-34s -> server closed with 0x%02llx (%s), client heard 0x%02llx%s, t=%.3f s\n", name,
            (unsigned long long)ns->srv_close_code[i], ho_quic_transport_error_name(ns->srv_close_code[i]),
            (unsigned long long)got, by_peer ? " from the peer" : " (not from the peer)", (double)ns->now / 1e9);
    check_healthy(ns, name);
}

static void test_bad_frames(netsim *ns)
{
    uint8_t f[64];
    size_t n;
    ho_buf b;

    /* Truncated varint: MAX_DATA whose value announces 4 bytes, has 1. */
    n = 0;
    f[n++] = HO_QUIC_FT_MAX_DATA;
    f[n++] = 0x80;
    f[n++] = 0x01;
    frame_case(ns, "truncated varint (MAX_DATA)", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR,
               HO_QUIC_FRAME_ENCODING_ERROR);
    /* A frame type whose own varint is cut: 0x40 announces two bytes. */
    n = 0;
    f[n++] = 0x01; /* PING first: the bad frame is not the first */
    f[n++] = 0x40;
    frame_case(ns, "truncated frame type varint", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR,
               HO_QUIC_FRAME_ENCODING_ERROR);
    /* STREAM ending past 2^62-1 (§19.8: FRAME_ENCODING_ERROR or
     * FLOW_CONTROL_ERROR). */
    n = 0;
    f[n++] = HO_QUIC_FT_STREAM | 0x04 | 0x02; /* OFF | LEN */
    n += put_varint(f + n, 0);
    n += put_varint(f + n, (1ULL << 62) - 2);
    n += put_varint(f + n, 5);
    memcpy(f + n, "hello", 5);
    n += 5;
    frame_case(ns, "STREAM beyond 2^62", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR, HO_QUIC_FLOW_CONTROL_ERROR);
    /* ACK whose first range goes below packet number 0 (§19.3.1). */
    n = 0;
    f[n++] = HO_QUIC_FT_ACK;
    n += put_varint(f + n, 5);  /* largest */
    n += put_varint(f + n, 0);  /* delay */
    n += put_varint(f + n, 0);  /* range count */
    n += put_varint(f + n, 10); /* first range: 5 - 10 < 0 */
    frame_case(ns, "ACK range underflow", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR, HO_QUIC_FRAME_ENCODING_ERROR);
    /* ACK whose second range underflows (gap past the smallest). */
    n = 0;
    f[n++] = HO_QUIC_FT_ACK;
    n += put_varint(f + n, 3);
    n += put_varint(f + n, 0);
    n += put_varint(f + n, 1); /* one more range */
    n += put_varint(f + n, 0); /* first range: 3..3 */
    n += put_varint(f + n, 5); /* gap: 3 - 5 - 2 < 0 */
    n += put_varint(f + n, 0);
    frame_case(ns, "ACK gap underflow", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR, HO_QUIC_FRAME_ENCODING_ERROR);
    /* CRYPTO far beyond what the receiver buffers (§7.5). */
    n = 0;
    f[n++] = HO_QUIC_FT_CRYPTO;
    n += put_varint(f + n, 10u << 20);
    n += put_varint(f + n, 4);
    memcpy(f + n, "abcd", 4);
    n += 4;
    frame_case(ns, "CRYPTO beyond the buffer limit", AT_1RTT, f, n, HO_QUIC_CRYPTO_BUFFER_EXCEEDED,
               HO_QUIC_CRYPTO_BUFFER_EXCEEDED);
    /* Unknown frame type 0x21 (§12.4). */
    n = 0;
    f[n++] = 0x21;
    f[n++] = 0x00;
    frame_case(ns, "unknown frame type 0x21", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR,
               HO_QUIC_FRAME_ENCODING_ERROR);
    /* MAX_STREAMS above 2^60 (§19.11). */
    n = 0;
    f[n++] = HO_QUIC_FT_MAX_STREAMS_BIDI;
    n += put_varint(f + n, (1ULL << 60) + 1);
    frame_case(ns, "MAX_STREAMS above 2^60", AT_1RTT, f, n, HO_QUIC_FRAME_ENCODING_ERROR,
               HO_QUIC_FRAME_ENCODING_ERROR);

    /* Frames forbidden in their epoch or from a client. */
    ho_buf_init(&b);
    ho_quic_stream_frame_write(&b, 0, 0, "abc", 3, false, true);
    frame_case(ns, "STREAM in an Initial packet", AT_INITIAL, b.data, b.len, HO_QUIC_PROTOCOL_VIOLATION,
               HO_QUIC_PROTOCOL_VIOLATION);
    frame_case(ns, "STREAM in a Handshake packet", AT_HANDSHAKE, b.data, b.len, HO_QUIC_PROTOCOL_VIOLATION,
               HO_QUIC_PROTOCOL_VIOLATION);
    ho_buf_free(&b);
    f[0] = HO_QUIC_FT_HANDSHAKE_DONE;
    frame_case(ns, "HANDSHAKE_DONE from a client", AT_1RTT, f, 1, HO_QUIC_PROTOCOL_VIOLATION,
               HO_QUIC_PROTOCOL_VIOLATION);
    n = 0;
    f[n++] = HO_QUIC_FT_NEW_TOKEN;
    f[n++] = 1;
    f[n++] = 0xaa;
    frame_case(ns, "NEW_TOKEN from a client", AT_1RTT, f, n, HO_QUIC_PROTOCOL_VIOLATION, HO_QUIC_PROTOCOL_VIOLATION);

    /* Flow control: one stream past its 256 KiB, then five streams each
     * within theirs but together past the connection's 1 MiB. */
    ho_buf_init(&b);
    ho_quic_stream_frame_write(&b, 0, 300000, "abc", 3, false, true);
    frame_case(ns, "stream flow control", AT_1RTT, b.data, b.len, HO_QUIC_FLOW_CONTROL_ERROR,
               HO_QUIC_FLOW_CONTROL_ERROR);
    ho_buf_free(&b);
    ho_buf_init(&b);
    for (uint64_t s = 0; s < 5; s++)
        ho_quic_stream_frame_write(&b, s * 4, 250000, "abc", 3, false, true);
    frame_case(ns, "connection flow control", AT_1RTT, b.data, b.len, HO_QUIC_FLOW_CONTROL_ERROR,
               HO_QUIC_FLOW_CONTROL_ERROR);
    ho_buf_free(&b);
    /* Stream limit: bidi stream 100 (id 400) with a limit of 100. */
    ho_buf_init(&b);
    ho_quic_stream_frame_write(&b, 400, 0, "abc", 3, false, true);
    frame_case(ns, "stream limit", AT_1RTT, b.data, b.len, HO_QUIC_STREAM_LIMIT_ERROR, HO_QUIC_STREAM_LIMIT_ERROR);
    ho_buf_free(&b);
}

int main(void)
{
    netsim_global_init();
    for (int i = 0; i < NETSIM_MAX_CLIENTS; i++)
        block_from[i][0] = block_from[i][1] = UINT64_MAX;
    netsim ns;
    netsim_init(&ns, 7, "badinput");
    ns.filter = block_filter;
    /* The healthy client sits behind 3 Mbit/s so its transfer spans every
     * attack; the attackers have plain 10 ms links. */
    netsim_link l = {.delay = HO_QUIC_MS(10), .rate_bps = 3000000, .queue_bytes = 30000};
    netsim_set_links(&ns, 0, &l);
    CHECK(netsim_start(&ns));
    CHECK_EQ(netsim_add_client(&ns), 0);
    target = 0;
    CHECK(netsim_run(&ns, target_confirmed, HO_QUIC_SEC(10)));
    CHECK(netsim_xfer_add(&ns, 0, HEALTHY_UP, HEALTHY_DOWN, 77) != NULL);
    ho_quic_time t0 = ns.now;
    netsim_run(&ns, NULL, HO_QUIC_MS(300)); /* well under way */

    test_garbage_initial(&ns);
    test_garbage_1rtt(&ns);
    test_bad_frames(&ns);

    ho_quic_endpoint_stats st;
    ho_quic_endpoint_get_stats(ns.ep, &st);
    /* The attacks all happened while the healthy transfer was running. */
    CHECK(!netsim_xfers_done(&ns));
    fprintf(stderr, "badinput: attacks over at t=%.3f s, healthy download at %llu of %u bytes\n",
            (double)(ns.now - t0) / 1e9, (unsigned long long)ns.x[0].received, HEALTHY_DOWN);
    CHECK(netsim_run(&ns, netsim_xfers_done, HO_QUIC_SEC(120)));
    CHECK_EQ(netsim_xfers_check(&ns), 0);
    CHECK_EQ(ns.x[0].received, HEALTHY_DOWN);
    CHECK_EQ(ns.x[0].srv_received, HEALTHY_UP);
    CHECK_EQ(ho_quic_endpoint_conn_count(ns.ep), 1);
    fprintf(stderr,
            "badinput: healthy transfer (%u down, %u up) done byte-exact at t=%.3f s; endpoint: %llu datagrams, "
            "%llu dropped, %llu short Initials, %llu VN, %llu resets, %llu accepted, %llu freed\n",
            HEALTHY_DOWN, HEALTHY_UP, (double)(ns.now - t0) / 1e9, (unsigned long long)st.datagrams_received,
            (unsigned long long)st.datagrams_dropped, (unsigned long long)st.short_initials_dropped,
            (unsigned long long)st.vn_sent, (unsigned long long)st.resets_sent, (unsigned long long)st.accepted,
            (unsigned long long)st.freed);
    netsim_free(&ns);
    netsim_global_free();
    return ho_test_summary("test_quic_badinput");
}
