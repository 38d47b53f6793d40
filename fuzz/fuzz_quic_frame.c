/* libFuzzer target: the QUIC frame decoder, encoder and dispatch table
 * (src/quic/frame.c). Input: a decrypted packet payload. For every packet
 * type that carries frames (Initial, 0-RTT, Handshake, 1-RTT) and both
 * sender roles, the target reads all frames with the frame reader and
 * checks:
 *   - every frame and error stays inside the payload; errors are transport
 *     errors (FRAME_ENCODING_ERROR or PROTOCOL_VIOLATION);
 *   - each decoded frame re-encodes (the encoder accepts whatever the
 *     decoder accepts), the encoding decodes to the same encoding again,
 *     and an ACK's ranges iterate down to its smallest packet number;
 *   - 1-RTT permits a superset of the other packet types: a payload that
 *     reads cleanly in any of them reads cleanly in 1-RTT from the same
 *     sender.
 * Seeds: fuzz/corpus/fuzz_quic_frame/ (see fuzz_quic.h to regenerate). */
#include "fuzz_quic.h"
#include "quic/frame.h"

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("HO_FUZZ_WRITE_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

static void check_ack(const ho_quic_frame *f)
{
    ho_quic_ack_iter it;
    ho_quic_ack_range r;
    uint64_t n = 0, prev_smallest = 0;
    ho_quic_ack_iter_init(&it, f);
    while (ho_quic_ack_iter_next(&it, &r)) {
        CHECK(r.smallest <= r.largest);
        if (n == 0)
            CHECK(r.largest == f->ack.largest);
        else
            CHECK(r.largest + 2 <= prev_smallest);
        prev_smallest = r.smallest;
        n++;
    }
    CHECK(n == f->ack.range_count + 1);
    CHECK(prev_smallest == f->ack.smallest);
}

/* encode(f) decodes, and encode(decode(encode(f))) == encode(f). */
static void check_reencode(const ho_quic_frame *f)
{
    ho_buf a, b;
    ho_buf_init(&a);
    ho_buf_init(&b);
    CHECK(ho_quic_frame_encode(&a, f) == HO_OK);
    ho_cursor c = ho_cursor_make(a.data, a.len);
    ho_quic_frame g;
    CHECK(ho_quic_frame_decode(&c, &g) == HO_OK && ho_cursor_empty(&c) && g.type == f->type);
    CHECK(ho_quic_frame_encode(&b, &g) == HO_OK);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    if (f->type == HO_QUIC_FT_ACK || f->type == HO_QUIC_FT_ACK_ECN) {
        CHECK(g.ack.largest == f->ack.largest && g.ack.smallest == f->ack.smallest);
        CHECK(g.ack.range_count == f->ack.range_count);
    }
    ho_buf_free(&a);
    ho_buf_free(&b);
}

/* Reads the whole payload as packet type t from the given sender; returns
 * the reader's final status (HO_ERR_NOT_FOUND = clean). */
static int read_all(const uint8_t *p, size_t n, ho_quic_pkt_type t, bool from_server, bool deep)
{
    ho_quic_frame_reader r;
    ho_quic_frame f;
    ho_quic_frame_reader_init(&r, p, n, t, from_server);
    int rc;
    unsigned frames = 0;
    while ((rc = ho_quic_frame_read(&r, &f)) == HO_OK) {
        frames++;
        CHECK(r.c.len <= n && r.c.p + r.c.len == p + n);
        const ho_quic_frame_info *info = ho_quic_frame_info_of(f.type);
        CHECK(info != NULL && (info->pkts & (1u << t)));
        CHECK(ho_quic_frame_permitted(f.type, t, from_server) == HO_OK);
        /* Pointers into the payload stay inside it. */
        if (f.type >= HO_QUIC_FT_STREAM && f.type <= HO_QUIC_FT_STREAM_MAX) {
            CHECK(f.stream.len == 0 || (f.stream.data >= p && f.stream.data + f.stream.len <= p + n));
            CHECK(f.stream.offset + f.stream.len <= HO_QUIC_MAX_STREAM_OFFSET);
        }
        if (f.type == HO_QUIC_FT_ACK || f.type == HO_QUIC_FT_ACK_ECN)
            check_ack(&f);
        if (deep)
            check_reencode(&f);
    }
    CHECK(rc == HO_ERR_NOT_FOUND || rc == HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR) ||
          rc == HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    CHECK(frames == r.count);
    CHECK(rc != HO_ERR_NOT_FOUND || r.count > 0);
    CHECK(ho_quic_frame_read(&r, &f) == rc); /* done or failed, it stays so */
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *p = malloc(size ? size : 1);
    memcpy(p, data, size);
    for (int server = 0; server < 2; server++) {
        int one_rtt = read_all(p, size, HO_QUIC_PKT_1RTT, server, true);
        const ho_quic_pkt_type others[] = {HO_QUIC_PKT_INITIAL, HO_QUIC_PKT_0RTT, HO_QUIC_PKT_HANDSHAKE};
        for (size_t i = 0; i < 3; i++) {
            int rc = read_all(p, size, others[i], server, false);
            if (rc == HO_ERR_NOT_FOUND)
                CHECK(one_rtt == HO_ERR_NOT_FOUND);
        }
    }
    free(p);
    return 0;
}

/* ---- seeds ---------------------------------------------------------------- */

static void write_seeds(const char *dir)
{
    uint8_t buf[2048];
    size_t n;
    /* RFC 9001 A.3's server Initial payload: ACK + CRYPTO. */
    n = fuzz_quic_unhex("02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
                        "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
                        "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
                        "020304", buf, sizeof(buf));
    fuzz_quic_write_seed(dir, "rfc9001-a3-ack-crypto", buf, n);

    /* One of every frame type, encoded by our encoder. */
    ho_buf b;
    ho_buf_init(&b);
    const ho_quic_ack_range ranges[] = {{90, 100}, {50, 80}, {5, 5}};
    const uint64_t ecn[3] = {7, 0, 300};
    ho_quic_ack_write(&b, ranges, 3, 0x1234, ecn);
    ho_quic_ack_write(&b, ranges, 2, 3, NULL);
    ho_quic_frame f[] = {
        {.type = HO_QUIC_FT_PING},
        {.type = HO_QUIC_FT_RESET_STREAM, .reset_stream = {4, 0x101, 1000000}},
        {.type = HO_QUIC_FT_STOP_SENDING, .stop_sending = {3, 0}},
        {.type = HO_QUIC_FT_CRYPTO, .crypto = {70, (const uint8_t *)"abc", 3}},
        {.type = HO_QUIC_FT_NEW_TOKEN, .new_token = {(const uint8_t *)"tok", 3}},
        {.type = HO_QUIC_FT_STREAM | 0x02, .stream = {5, 0, (const uint8_t *)"hi", 2, false}},
        {.type = HO_QUIC_FT_STREAM | 0x07, .stream = {9, 256, (const uint8_t *)"fin", 3, true}},
        {.type = HO_QUIC_FT_MAX_DATA, .max_data = {1ULL << 40}},
        {.type = HO_QUIC_FT_MAX_STREAM_DATA, .max_stream_data = {8, 65536}},
        {.type = HO_QUIC_FT_MAX_STREAMS_BIDI, .max_streams = {100}},
        {.type = HO_QUIC_FT_MAX_STREAMS_UNI, .max_streams = {1ULL << 60}},
        {.type = HO_QUIC_FT_DATA_BLOCKED, .data_blocked = {63}},
        {.type = HO_QUIC_FT_STREAM_DATA_BLOCKED, .stream_data_blocked = {2, 64}},
        {.type = HO_QUIC_FT_STREAMS_BLOCKED_BIDI, .streams_blocked = {0}},
        {.type = HO_QUIC_FT_STREAMS_BLOCKED_UNI, .streams_blocked = {7}},
        {.type = HO_QUIC_FT_NEW_CONNECTION_ID,
         .new_connection_id = {3, 1, {4, {0x11, 0x22, 0x33, 0x44}}, {0xab, 0xab, 0xab, 0xab}}},
        {.type = HO_QUIC_FT_RETIRE_CONNECTION_ID, .retire_connection_id = {2}},
        {.type = HO_QUIC_FT_PATH_CHALLENGE, .path = {{1, 2, 3, 4, 5, 6, 7, 8}}},
        {.type = HO_QUIC_FT_PATH_RESPONSE, .path = {{8, 7, 6, 5, 4, 3, 2, 1}}},
        {.type = HO_QUIC_FT_CONNECTION_CLOSE, .close = {7, 0x1a, (const uint8_t *)"bad", 3}},
        {.type = HO_QUIC_FT_CONNECTION_CLOSE_APP, .close = {0x100, 0, NULL, 0}},
        {.type = HO_QUIC_FT_HANDSHAKE_DONE},
        {.type = HO_QUIC_FT_DATAGRAM_LEN, .datagram = {(const uint8_t *)"dg", 2}},
        {.type = HO_QUIC_FT_PADDING, .padding = {4}},
        {.type = HO_QUIC_FT_DATAGRAM, .datagram = {(const uint8_t *)"last", 4}},
    };
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
        if (ho_quic_frame_encode(&b, &f[i]) != HO_OK)
            abort();
    fuzz_quic_write_seed(dir, "all-frames", b.data, b.len);

    /* What each packet type typically carries. */
    b.len = 0;
    ho_quic_ack_write(&b, ranges, 1, 0, NULL);
    ho_quic_crypto_frame_write(&b, 0, "\x08\x00\x00\x02\x00\x00", 6);
    ho_put_bytes(&b, "\x01\x00\x00\x00", 4);
    fuzz_quic_write_seed(dir, "handshake-ack-crypto-ping-padding", b.data, b.len);
    b.len = 0;
    ho_quic_stream_frame_write(&b, 0, 0, "GET /", 5, true, true);
    ho_quic_stream_frame_write(&b, 2, 0, "\x00\x04", 2, false, false);
    fuzz_quic_write_seed(dir, "0rtt-streams", b.data, b.len);
    b.len = 0;
    ho_buf_free(&b);
    /* A few malformed ones (the table in test_quic_frame.c has more). */
    n = fuzz_quic_unhex("01 02 0a 00 01 00 05 04", buf, sizeof(buf));
    fuzz_quic_write_seed(dir, "bad-ack-range", buf, n);
    n = fuzz_quic_unhex("18 01 02 01 aa 00000000000000000000000000000000", buf, sizeof(buf));
    fuzz_quic_write_seed(dir, "bad-new-connection-id", buf, n);
    n = fuzz_quic_unhex("4001 0e 00 ffffffffffffffff 01 00", buf, sizeof(buf));
    fuzz_quic_write_seed(dir, "bad-type-encoding", buf, n);
}
