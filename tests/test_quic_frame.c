/* Unit tests for src/quic/frame.c: every RFC 9000 §19 frame type and RFC
 * 9221 DATAGRAM round-trips through encode and decode, the §12.4 Table 3
 * permission table for every frame type and packet type, the reader, ACK
 * ranges, and malformed encodings mapped to their transport errors. */
#include "harness.h"
#include "quic/frame.h"

#define FEE HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR)
#define PV HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION)


/* Decodes exactly one frame from hex; returns the decoder's result. */
static int decode_hex(const char *hex, ho_quic_frame *f)
{
    size_t n;
    uint8_t *p = ho_test_unhex(hex, &n);
    /* A heap copy of exactly n bytes: ASan catches any over-read. */
    uint8_t *q = malloc(n ? n : 1);
    memcpy(q, p, n);
    free(p);
    ho_cursor c = ho_cursor_make(q, n);
    int rc = ho_quic_frame_decode(&c, f);
    if (rc == HO_OK && c.len != 0)
        rc = 1; /* trailing bytes: not what the test meant */
    free(q);
    return rc;
}

/* Encodes f, checks the bytes, decodes them back and re-encodes: the same
 * bytes again. Returns the decoded frame in *out (pointers into a buffer
 * that stays alive until the next call). */
static ho_buf rt_buf;
static void roundtrip(const ho_quic_frame *f, const char *hex, ho_quic_frame *out, int line)
{
    rt_buf.len = 0;
    int rc = ho_quic_frame_encode(&rt_buf, f);
    if (rc != HO_OK) {
        ho_test_failed++;
        fprintf(stderr, "%s:%d: encode failed: %d\n", __FILE__, line, rc);
        return;
    }
    ho_test_check_hex(rt_buf.data, rt_buf.len, hex, __FILE__, line);
    ho_cursor c = ho_cursor_make(rt_buf.data, rt_buf.len);
    rc = ho_quic_frame_decode(&c, out);
    if (rc != HO_OK || c.len != 0 || out->type != f->type) {
        ho_test_failed++;
        fprintf(stderr, "%s:%d: decode failed: %d (left %zu)\n", __FILE__, line, rc, c.len);
        return;
    }
    ho_test_passed++;
    ho_buf again;
    ho_buf_init(&again);
    rc = ho_quic_frame_encode(&again, out);
    if (rc == HO_OK && again.len == rt_buf.len && memcmp(again.data, rt_buf.data, again.len) == 0) {
        ho_test_passed++;
    } else {
        ho_test_failed++;
        fprintf(stderr, "%s:%d: re-encode differs\n", __FILE__, line);
    }
    ho_buf_free(&again);
}
#define ROUNDTRIP(f, hex, out) roundtrip((f), (hex), (out), __LINE__)

static void test_roundtrip(void)
{
    ho_quic_frame f, d;
    ho_buf_init(&rt_buf);

    f = (ho_quic_frame){.type = HO_QUIC_FT_PADDING, .padding.len = 3};
    ROUNDTRIP(&f, "000000", &d);
    CHECK_EQ(d.padding.len, 3);

    f = (ho_quic_frame){.type = HO_QUIC_FT_PING};
    ROUNDTRIP(&f, "01", &d);

    /* ACK from ranges: [90,100], [50,80], [5,5] with ECN counts. */
    ho_quic_ack_range ranges[] = {{90, 100}, {50, 80}, {5, 5}};
    const uint64_t ecn[3] = {7, 0, 300};
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_ack_write(&b, ranges, 3, 0x1234, ecn), HO_OK);
    /* 03 largest=100(4064) delay=0x1234(5234) count=2 first=10(0a)
     * gap=90-80-2=8 len=30(1e) gap=50-5-2=43(2b) len=0 ecn 07 00 412c */
    CHECK_HEX(b.data, b.len, "03 4064 5234 02 0a 08 1e 2b 00 07 00 412c");
    ho_cursor c = ho_cursor_make(b.data, b.len);
    CHECK_EQ(ho_quic_frame_decode(&c, &d), HO_OK);
    CHECK_EQ(c.len, 0);
    CHECK_EQ(d.type, HO_QUIC_FT_ACK_ECN);
    CHECK_EQ(d.ack.largest, 100);
    CHECK_EQ(d.ack.delay, 0x1234);
    CHECK_EQ(d.ack.range_count, 2);
    CHECK_EQ(d.ack.first_range, 10);
    CHECK_EQ(d.ack.smallest, 5);
    CHECK(d.ack.ect0 == 7 && d.ack.ect1 == 0 && d.ack.ce == 300);
    ho_quic_ack_iter it;
    ho_quic_ack_range r;
    ho_quic_ack_iter_init(&it, &d);
    int k = 0;
    while (ho_quic_ack_iter_next(&it, &r)) {
        CHECK(k < 3 && r.smallest == ranges[k].smallest && r.largest == ranges[k].largest);
        k++;
    }
    CHECK_EQ(k, 3);
    ROUNDTRIP(&d, "03 4064 5234 02 0a 08 1e 2b 00 07 00 412c", &f);
    /* One range, no ECN: type 0x02; a single packet 0. */
    ho_quic_ack_range zero = {0, 0};
    b.len = 0;
    CHECK_EQ(ho_quic_ack_write(&b, &zero, 1, 0, NULL), HO_OK);
    CHECK_HEX(b.data, b.len, "02 00 00 00 00");
    c = ho_cursor_make(b.data, b.len);
    CHECK_EQ(ho_quic_frame_decode(&c, &d), HO_OK);
    ho_quic_ack_iter_init(&it, &d);
    CHECK(ho_quic_ack_iter_next(&it, &r) && r.smallest == 0 && r.largest == 0);
    CHECK(!ho_quic_ack_iter_next(&it, &r));
    /* Ranges not descending or adjacent: refused. */
    ho_quic_ack_range adjacent[] = {{10, 20}, {5, 9}};
    CHECK_EQ(ho_quic_ack_write(&b, adjacent, 2, 0, NULL), HO_ERR_INVALID_ARG);
    ho_quic_ack_range upside[] = {{20, 10}};
    CHECK_EQ(ho_quic_ack_write(&b, upside, 1, 0, NULL), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_ack_write(&b, ranges, 0, 0, NULL), HO_ERR_INVALID_ARG);
    adjacent[1].largest = 8; /* one packet missing (9): Gap 0 */
    b.len = 0;
    CHECK_EQ(ho_quic_ack_write(&b, adjacent, 2, 0, NULL), HO_OK);
    CHECK_HEX(b.data, b.len, "02 14 00 01 0a 00 03");
    ho_buf_free(&b);

    f = (ho_quic_frame){.type = HO_QUIC_FT_RESET_STREAM,
                        .reset_stream = {.stream_id = 4, .error_code = 0x101, .final_size = 1000000}};
    ROUNDTRIP(&f, "04 04 4101 800f4240", &d);
    CHECK(d.reset_stream.stream_id == 4 && d.reset_stream.error_code == 0x101 && d.reset_stream.final_size == 1000000);

    f = (ho_quic_frame){.type = HO_QUIC_FT_STOP_SENDING, .stop_sending = {.stream_id = 3, .error_code = 0}};
    ROUNDTRIP(&f, "05 03 00", &d);
    CHECK(d.stop_sending.stream_id == 3 && d.stop_sending.error_code == 0);

    f = (ho_quic_frame){.type = HO_QUIC_FT_CRYPTO, .crypto = {.offset = 70, .data = (const uint8_t *)"abc", .len = 3}};
    ROUNDTRIP(&f, "06 4046 03 616263", &d);
    CHECK(d.crypto.offset == 70 && d.crypto.len == 3 && memcmp(d.crypto.data, "abc", 3) == 0);
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_crypto_frame_write(&b, 0, "xy", 2), HO_OK);
    CHECK_HEX(b.data, b.len, "06 00 02 7879");
    ho_buf_free(&b);

    f = (ho_quic_frame){.type = HO_QUIC_FT_NEW_TOKEN, .new_token = {.token = (const uint8_t *)"tok", .len = 3}};
    ROUNDTRIP(&f, "07 03 746f6b", &d);
    CHECK(d.new_token.len == 3 && memcmp(d.new_token.token, "tok", 3) == 0);

    /* All eight STREAM variants. */
    const char *stream_hex[8] = {
        "08 05 6869",           /* no OFF, no LEN: data to the end */
        "09 05 6869",           /* FIN */
        "0a 05 02 6869",        /* LEN */
        "0b 05 02 6869",        /* LEN FIN */
        "0c 05 4100 6869",      /* OFF */
        "0d 05 4100 6869",      /* OFF FIN */
        "0e 05 4100 02 6869",   /* OFF LEN */
        "0f 05 4100 02 6869",   /* OFF LEN FIN */
    };
    for (unsigned v = 0; v < 8; v++) {
        f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM | v};
        f.stream.stream_id = 5;
        f.stream.offset = (v & HO_QUIC_STREAM_OFF) ? 256 : 0;
        f.stream.data = (const uint8_t *)"hi";
        f.stream.len = 2;
        f.stream.fin = v & HO_QUIC_STREAM_FIN;
        ROUNDTRIP(&f, stream_hex[v], &d);
        CHECK(d.stream.stream_id == 5 && d.stream.offset == f.stream.offset && d.stream.len == 2 &&
              memcmp(d.stream.data, "hi", 2) == 0 && d.stream.fin == f.stream.fin);
        size_t overhead = ho_quic_stream_frame_overhead(5, f.stream.offset, 2, v & HO_QUIC_STREAM_LEN);
        CHECK_EQ(overhead + 2, rt_buf.len);
    }
    /* A STREAM with no data and FIN (closing at offset 0). */
    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM | HO_QUIC_STREAM_LEN | HO_QUIC_STREAM_FIN};
    f.stream.fin = true;
    ROUNDTRIP(&f, "0b 00 00", &d);
    CHECK(d.stream.len == 0 && d.stream.fin);
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_stream_frame_write(&b, 1, 0, "z", 1, true, false), HO_OK);
    CHECK_HEX(b.data, b.len, "09 01 7a");
    b.len = 0;
    CHECK_EQ(ho_quic_stream_frame_write(&b, 1, 1, "z", 1, false, true), HO_OK);
    CHECK_HEX(b.data, b.len, "0e 01 01 01 7a");
    /* Encoder refusals: offset without OFF, FIN mismatch, over 2^62-1. */
    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM, .stream = {.offset = 9}};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM | HO_QUIC_STREAM_FIN};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM | HO_QUIC_STREAM_OFF,
                        .stream = {.offset = HO_QUIC_MAX_STREAM_OFFSET, .data = (const uint8_t *)"x", .len = 1}};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    CHECK_EQ(b.len, 5); /* nothing appended by a refused frame */
    ho_buf_free(&b);

    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_DATA, .max_data.maximum = 1ULL << 40};
    ROUNDTRIP(&f, "10 c000010000000000", &d);
    CHECK_EQ(d.max_data.maximum, 1ULL << 40);

    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_STREAM_DATA, .max_stream_data = {.stream_id = 8, .maximum = 65536}};
    ROUNDTRIP(&f, "11 08 80010000", &d);
    CHECK(d.max_stream_data.stream_id == 8 && d.max_stream_data.maximum == 65536);

    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_STREAMS_BIDI, .max_streams.maximum = 100};
    ROUNDTRIP(&f, "12 4064", &d);
    CHECK_EQ(d.max_streams.maximum, 100);
    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_STREAMS_UNI, .max_streams.maximum = HO_QUIC_MAX_STREAMS};
    ROUNDTRIP(&f, "13 d000000000000000", &d);
    CHECK_EQ(d.max_streams.maximum, HO_QUIC_MAX_STREAMS);

    f = (ho_quic_frame){.type = HO_QUIC_FT_DATA_BLOCKED, .data_blocked.limit = 63};
    ROUNDTRIP(&f, "14 3f", &d);
    CHECK_EQ(d.data_blocked.limit, 63);

    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAM_DATA_BLOCKED, .stream_data_blocked = {.stream_id = 2, .limit = 64}};
    ROUNDTRIP(&f, "15 02 4040", &d);
    CHECK(d.stream_data_blocked.stream_id == 2 && d.stream_data_blocked.limit == 64);

    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAMS_BLOCKED_BIDI, .streams_blocked.limit = 0};
    ROUNDTRIP(&f, "16 00", &d);
    f = (ho_quic_frame){.type = HO_QUIC_FT_STREAMS_BLOCKED_UNI, .streams_blocked.limit = 7};
    ROUNDTRIP(&f, "17 07", &d);
    CHECK_EQ(d.streams_blocked.limit, 7);

    f = (ho_quic_frame){.type = HO_QUIC_FT_NEW_CONNECTION_ID};
    f.new_connection_id.seq = 3;
    f.new_connection_id.retire_prior_to = 1;
    ho_quic_cid_set(&f.new_connection_id.cid, (const uint8_t *)"\x11\x22\x33\x44", 4);
    memset(f.new_connection_id.reset_token, 0xab, 16);
    ROUNDTRIP(&f, "18 03 01 04 11223344 abababababababababababababababab", &d);
    CHECK(d.new_connection_id.seq == 3 && d.new_connection_id.retire_prior_to == 1);
    CHECK(ho_quic_cid_eq(&d.new_connection_id.cid, &f.new_connection_id.cid));
    CHECK_MEM(d.new_connection_id.reset_token, f.new_connection_id.reset_token, 16);

    f = (ho_quic_frame){.type = HO_QUIC_FT_RETIRE_CONNECTION_ID, .retire_connection_id.seq = 2};
    ROUNDTRIP(&f, "19 02", &d);
    CHECK_EQ(d.retire_connection_id.seq, 2);

    f = (ho_quic_frame){.type = HO_QUIC_FT_PATH_CHALLENGE, .path.data = {1, 2, 3, 4, 5, 6, 7, 8}};
    ROUNDTRIP(&f, "1a 0102030405060708", &d);
    CHECK_MEM(d.path.data, f.path.data, 8);
    f.type = HO_QUIC_FT_PATH_RESPONSE;
    ROUNDTRIP(&f, "1b 0102030405060708", &d);
    CHECK_MEM(d.path.data, f.path.data, 8);

    f = (ho_quic_frame){.type = HO_QUIC_FT_CONNECTION_CLOSE,
                        .close = {.error_code = HO_QUIC_FRAME_ENCODING_ERROR, .frame_type = 0x1a,
                                  .reason = (const uint8_t *)"bad", .reason_len = 3}};
    ROUNDTRIP(&f, "1c 07 1a 03 626164", &d);
    CHECK(d.close.error_code == 7 && d.close.frame_type == 0x1a && d.close.reason_len == 3 &&
          memcmp(d.close.reason, "bad", 3) == 0);
    f = (ho_quic_frame){.type = HO_QUIC_FT_CONNECTION_CLOSE_APP, .close = {.error_code = 0x100, .frame_type = 99}};
    ROUNDTRIP(&f, "1d 4100 00", &d);
    CHECK(d.close.error_code == 0x100 && d.close.frame_type == 0 && d.close.reason_len == 0);

    f = (ho_quic_frame){.type = HO_QUIC_FT_HANDSHAKE_DONE};
    ROUNDTRIP(&f, "1e", &d);

    f = (ho_quic_frame){.type = HO_QUIC_FT_DATAGRAM, .datagram = {.data = (const uint8_t *)"dg", .len = 2}};
    ROUNDTRIP(&f, "30 6467", &d);
    CHECK(d.datagram.len == 2 && memcmp(d.datagram.data, "dg", 2) == 0);
    f.type = HO_QUIC_FT_DATAGRAM_LEN;
    ROUNDTRIP(&f, "31 02 6467", &d);
    CHECK(d.datagram.len == 2 && memcmp(d.datagram.data, "dg", 2) == 0);

    /* Encoder refusals for values the decoder would reject. */
    ho_buf_init(&b);
    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_STREAMS_BIDI, .max_streams.maximum = HO_QUIC_MAX_STREAMS + 1};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_NEW_TOKEN};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_NEW_CONNECTION_ID};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_MAX_DATA, .max_data.maximum = 1ULL << 62};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = 0x1f};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    f = (ho_quic_frame){.type = HO_QUIC_FT_PADDING};
    CHECK_EQ(ho_quic_frame_encode(&b, &f), HO_ERR_INVALID_ARG);
    CHECK_EQ(b.len, 0);
    ho_buf_free(&b);
    ho_buf_free(&rt_buf);
}

/* ---- the permission table ----------------------------------------------- */

/* RFC 9000 §12.4 Table 3, written out independently of frame.c: which of
 * I(nitial), 0(-RTT), H(andshake), 1(-RTT) may carry the frame, narrowed by
 * §12.5 (no ACK, CRYPTO, HANDSHAKE_DONE, NEW_TOKEN, PATH_RESPONSE,
 * RETIRE_CONNECTION_ID in 0-RTT) and RFC 9221 (DATAGRAM: 0-RTT and 1-RTT);
 * who may send it (c/s/b); flags: e = ack-eliciting, f = in flight,
 * p = probing, c = flow controlled. */
static const struct {
    uint64_t type;
    const char *pkts;
    char sender;
    const char *flags;
} expected[] = {
    {0x00, "I0H1", 'b', "fp"}, {0x01, "I0H1", 'b', "ef"}, {0x02, "IH1", 'b', ""},
    {0x03, "IH1", 'b', ""},    {0x04, "01", 'b', "ef"},    {0x05, "01", 'b', "ef"},
    {0x06, "IH1", 'b', "ef"},  {0x07, "1", 's', "ef"},     {0x08, "01", 'b', "efc"},
    {0x09, "01", 'b', "efc"},  {0x0a, "01", 'b', "efc"},   {0x0b, "01", 'b', "efc"},
    {0x0c, "01", 'b', "efc"},  {0x0d, "01", 'b', "efc"},   {0x0e, "01", 'b', "efc"},
    {0x0f, "01", 'b', "efc"},  {0x10, "01", 'b', "ef"},    {0x11, "01", 'b', "ef"},
    {0x12, "01", 'b', "ef"},   {0x13, "01", 'b', "ef"},    {0x14, "01", 'b', "ef"},
    {0x15, "01", 'b', "ef"},   {0x16, "01", 'b', "ef"},    {0x17, "01", 'b', "ef"},
    {0x18, "01", 'b', "efp"},  {0x19, "1", 'b', "ef"},     {0x1a, "01", 'b', "efp"},
    {0x1b, "1", 'b', "efp"},   {0x1c, "I0H1", 'b', ""},    {0x1d, "01", 'b', ""},
    {0x1e, "1", 's', "ef"},    {0x30, "01", 'b', "ef"},    {0x31, "01", 'b', "ef"},
};

static void test_permissions(void)
{
    const char pkt_char[4] = {'I', '0', 'H', '1'};
    int cells = 0;
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        uint64_t t = expected[i].type;
        const ho_quic_frame_info *info = ho_quic_frame_info_of(t);
        CHECK(info != NULL);
        if (info == NULL)
            continue;
        for (int p = 0; p < 4; p++) {
            for (int server = 0; server < 2; server++) {
                bool pkt_ok = strchr(expected[i].pkts, pkt_char[p]) != NULL;
                bool sender_ok = expected[i].sender == 'b' || (expected[i].sender == 's') == (server == 1);
                int want = pkt_ok && sender_ok ? HO_OK : PV;
                int got = ho_quic_frame_permitted(t, (ho_quic_pkt_type)p, server);
                if (got != want)
                    fprintf(stderr, "frame 0x%02llx in %c from %s: got %d want %d\n", (unsigned long long)t,
                            pkt_char[p], server ? "server" : "client", got, want);
                CHECK_EQ(got, want);
                cells++;
            }
        }
        uint8_t want_flags = (strchr(expected[i].flags, 'e') ? HO_QUIC_FRAME_ACK_ELICITING : 0) |
                             (strchr(expected[i].flags, 'f') ? HO_QUIC_FRAME_IN_FLIGHT : 0) |
                             (strchr(expected[i].flags, 'p') ? HO_QUIC_FRAME_PROBING : 0) |
                             (strchr(expected[i].flags, 'c') ? HO_QUIC_FRAME_FLOW_CONTROLLED : 0);
        CHECK_EQ(info->flags, want_flags);
        CHECK(strcmp(ho_quic_frame_type_name(t), info->name) == 0);
        /* No frames at all in Retry and Version Negotiation. */
        CHECK_EQ(ho_quic_frame_permitted(t, HO_QUIC_PKT_RETRY, true), PV);
        CHECK_EQ(ho_quic_frame_permitted(t, HO_QUIC_PKT_VERSION_NEGOTIATION, true), PV);
    }
    CHECK_EQ(cells, 33 * 8);
    /* Every other type up to 0x3f, and a few beyond, is unknown. */
    int unknown = 0;
    for (uint64_t t = 0x1f; t < 0x40; t++)
        if (t != 0x30 && t != 0x31)
            unknown += ho_quic_frame_info_of(t) == NULL && ho_quic_frame_permitted(t, HO_QUIC_PKT_1RTT, true) == FEE;
    CHECK_EQ(unknown, 0x40 - 0x1f - 2);
    CHECK(ho_quic_frame_info_of(0x4000) == NULL);
    CHECK(ho_quic_frame_info_of(UINT64_MAX) == NULL);
    CHECK(strcmp(ho_quic_frame_type_name(0x20), "unknown") == 0);
}

/* ---- the reader ---------------------------------------------------------- */

static void test_reader(void)
{
    ho_quic_frame_reader r;
    ho_quic_frame f;
    /* 1-RTT from the server: ACK, PING, HANDSHAKE_DONE, PADDING x3. */
    const uint8_t p1[] = {0x02, 0x05, 0x00, 0x00, 0x01, 0x01, 0x1e, 0x00, 0x00, 0x00};
    ho_quic_frame_reader_init(&r, p1, sizeof(p1), HO_QUIC_PKT_1RTT, true);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(f.type, HO_QUIC_FT_ACK);
    CHECK_EQ(f.ack.smallest, 4);
    CHECK_EQ(r.flags, 0);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(f.type, HO_QUIC_FT_PING);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(f.type, HO_QUIC_FT_HANDSHAKE_DONE);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK(f.type == HO_QUIC_FT_PADDING && f.padding.len == 3);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_ERR_NOT_FOUND);
    CHECK_EQ(r.count, 4);
    CHECK(r.flags & HO_QUIC_FRAME_ACK_ELICITING);
    CHECK(r.non_probing);
    /* The same payload from a client: HANDSHAKE_DONE is a violation. */
    ho_quic_frame_reader_init(&r, p1, sizeof(p1), HO_QUIC_PKT_1RTT, false);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(ho_quic_frame_read(&r, &f), PV);
    CHECK_EQ(r.error_frame_type, HO_QUIC_FT_HANDSHAKE_DONE);
    CHECK_EQ(ho_quic_frame_read(&r, &f), PV); /* sticky */
    /* Probing only: PATH_CHALLENGE + PADDING. */
    const uint8_t p2[] = {0x1a, 1, 2, 3, 4, 5, 6, 7, 8, 0x00};
    ho_quic_frame_reader_init(&r, p2, sizeof(p2), HO_QUIC_PKT_1RTT, false);
    while (ho_quic_frame_read(&r, &f) == HO_OK)
        ;
    CHECK_EQ(r.error, HO_OK);
    CHECK_EQ(r.count, 2);
    CHECK(!r.non_probing);
    CHECK(r.flags & HO_QUIC_FRAME_PROBING);
    /* Padding only: in flight but not ack-eliciting. */
    const uint8_t p3[] = {0x00, 0x00};
    ho_quic_frame_reader_init(&r, p3, sizeof(p3), HO_QUIC_PKT_INITIAL, false);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_ERR_NOT_FOUND);
    CHECK_EQ(r.flags, HO_QUIC_FRAME_IN_FLIGHT | HO_QUIC_FRAME_PROBING);
    /* An empty payload: PROTOCOL_VIOLATION (§12.4). */
    ho_quic_frame_reader_init(&r, p3, 0, HO_QUIC_PKT_HANDSHAKE, true);
    CHECK_EQ(ho_quic_frame_read(&r, &f), PV);
    /* STREAM in an Initial: violation; in 0-RTT fine. */
    const uint8_t p4[] = {0x0a, 0x00, 0x01, 0x41};
    ho_quic_frame_reader_init(&r, p4, sizeof(p4), HO_QUIC_PKT_INITIAL, false);
    CHECK_EQ(ho_quic_frame_read(&r, &f), PV);
    CHECK_EQ(r.error_frame_type, 0x0a);
    ho_quic_frame_reader_init(&r, p4, sizeof(p4), HO_QUIC_PKT_0RTT, false);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK(r.flags & HO_QUIC_FRAME_FLOW_CONTROLLED);
    /* An unknown frame after a good one: FRAME_ENCODING_ERROR, type kept. */
    const uint8_t p5[] = {0x01, 0x40, 0x21};
    ho_quic_frame_reader_init(&r, p5, sizeof(p5), HO_QUIC_PKT_1RTT, true);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(ho_quic_frame_read(&r, &f), PV); /* 0x4021 is not minimal for 0x21 */
    const uint8_t p6[] = {0x01, 0x21};
    ho_quic_frame_reader_init(&r, p6, sizeof(p6), HO_QUIC_PKT_1RTT, true);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(ho_quic_frame_read(&r, &f), FEE);
    CHECK_EQ(r.error_frame_type, 0x21);
}

/* ---- malformed encodings -------------------------------------------------- */

static const struct {
    const char *what;
    const char *hex;
    int err;
} malformed[] = {
    {"unknown type 0x1f", "1f", FEE},
    {"unknown type 0x20", "20 00", FEE},
    {"unknown two-byte type 0x4040", "4040", FEE},
    {"PING type not minimal (§12.4)", "4001", PV},
    {"STREAM type not minimal", "400a 00 00", PV},
    {"truncated frame type", "40", FEE},
    {"ACK without First ACK Range", "02 05 00 00", FEE},
    {"ACK first range below zero (§19.3.1)", "02 05 00 00 06", FEE},
    {"ACK gap below zero", "02 05 00 01 00 04 00", FEE},
    {"ACK range length below zero", "02 0a 00 01 00 05 04", FEE},
    {"ACK range count beyond the packet", "02 0a 00 05 00 00 00", FEE},
    {"ACK huge range count", "02 0a 00 bfffffff 00 00 00", FEE},
    {"ACK_ECN without ECN counts", "03 05 00 00 00 01 02", FEE},
    {"RESET_STREAM without final size", "04 00 00", FEE},
    {"STOP_SENDING without error code", "05 04", FEE},
    {"CRYPTO data shorter than length", "06 00 05 0102", FEE},
    {"CRYPTO offset + length > 2^62-1 (§19.6)", "06 ffffffffffffffff 01 00", FEE},
    {"NEW_TOKEN empty (§19.7)", "07 00", FEE},
    {"NEW_TOKEN truncated", "07 04 010203", FEE},
    {"STREAM without stream id", "08", FEE},
    {"STREAM LEN beyond the packet", "0a 00 05 0102", FEE},
    {"STREAM OFF truncated", "0c 00 80", FEE},
    {"STREAM offset + length > 2^62-1 (§19.8)", "0e 00 ffffffffffffffff 01 00", FEE},
    {"STREAM no-LEN offset at 2^62-1 with data", "0c 00 ffffffffffffffff 00", FEE},
    {"MAX_DATA truncated varint", "10 40", FEE},
    {"MAX_STREAM_DATA without maximum", "11 04", FEE},
    {"MAX_STREAMS bidi > 2^60 (§19.11)", "12 d000000000000001", FEE},
    {"MAX_STREAMS uni > 2^60 (§19.11)", "13 ffffffffffffffff", FEE},
    {"DATA_BLOCKED empty", "14", FEE},
    {"STREAM_DATA_BLOCKED without limit", "15 00", FEE},
    {"STREAMS_BLOCKED bidi > 2^60 (§19.14)", "16 d000000000000001", FEE},
    {"STREAMS_BLOCKED uni > 2^60 (§19.14)", "17 e000000000000000", FEE},
    {"NEW_CONNECTION_ID length 0 (§19.15)", "18 01 00 00 00000000000000000000000000000000", FEE},
    {"NEW_CONNECTION_ID length 21 (§19.15)",
     "18 01 00 15 000000000000000000000000000000000000000000 00000000000000000000000000000000", FEE},
    {"NEW_CONNECTION_ID retire_prior_to > seq (§19.15)", "18 01 02 01 aa 00000000000000000000000000000000", FEE},
    {"NEW_CONNECTION_ID reset token short", "18 01 00 01 aa 000000000000000000000000000000", FEE},
    {"NEW_CONNECTION_ID CID beyond the packet", "18 01 00 08 aabb", FEE},
    {"RETIRE_CONNECTION_ID empty", "19", FEE},
    {"PATH_CHALLENGE 7 bytes", "1a 01020304050607", FEE},
    {"PATH_RESPONSE empty", "1b", FEE},
    {"CONNECTION_CLOSE reason beyond the packet", "1c 0a 00 05 6869", FEE},
    {"CONNECTION_CLOSE without frame type", "1c 0a", FEE},
    {"CONNECTION_CLOSE app without reason length", "1d 00", FEE},
    {"DATAGRAM_LEN beyond the packet", "31 03 0102", FEE},
    {"DATAGRAM_LEN without length", "31", FEE},
};

static void test_malformed(void)
{
    size_t n = sizeof(malformed) / sizeof(malformed[0]);
    CHECK(n >= 25);
    for (size_t i = 0; i < n; i++) {
        ho_quic_frame f;
        int rc = decode_hex(malformed[i].hex, &f);
        if (rc != malformed[i].err)
            fprintf(stderr, "malformed[%zu] %s: got %d want %d\n", i, malformed[i].what, rc, malformed[i].err);
        CHECK_EQ(rc, malformed[i].err);
    }
    /* On error the cursor does not move and the type is reported. */
    const uint8_t p[] = {0x07, 0x00};
    ho_cursor c = ho_cursor_make(p, sizeof(p));
    ho_quic_frame f;
    CHECK_EQ(ho_quic_frame_decode(&c, &f), FEE);
    CHECK(c.p == p && c.len == 2);
    CHECK_EQ(f.type, HO_QUIC_FT_NEW_TOKEN);
    /* Edge values that are valid. */
    CHECK_EQ(decode_hex("06 bfffffff 00", &f), HO_OK);                        /* empty CRYPTO */
    CHECK_EQ(decode_hex("0c 00 ffffffffffffffff", &f), HO_OK);                 /* empty STREAM at 2^62-1 */
    CHECK_EQ(decode_hex("12 d000000000000000", &f), HO_OK);                    /* exactly 2^60 */
    CHECK_EQ(decode_hex("18 05 05 14 0000000000000000000000000000000000000000 "
                        "00000000000000000000000000000000", &f), HO_OK);       /* 20-byte CID, rpt == seq */
    CHECK_EQ(decode_hex("02 05 00 01 00 00 03", &f), HO_OK);                   /* ranges down to packet 0 */
    CHECK_EQ(f.ack.smallest, 0);
    CHECK_EQ(decode_hex("02 4005 00 00 00", &f), HO_OK); /* fields need not be minimal (§16) */
    CHECK_EQ(f.ack.largest, 5);
    CHECK_EQ(decode_hex("1c 00 00 00", &f), HO_OK);
    CHECK_EQ(decode_hex("30", &f), HO_OK); /* empty DATAGRAM */
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_permissions);
    RUN(test_reader);
    RUN(test_malformed);
    return ho_test_summary("test_quic_frame");
}
