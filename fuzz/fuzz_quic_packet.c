/* libFuzzer target: QUIC packet headers and packet protection
 * (src/quic/packet.c). Input: one UDP datagram. The target
 *   1. reads the RFC 8999 invariants; for an unsupported version it builds
 *      the Version Negotiation answer and parses it back;
 *   2. walks the coalesced packets; for each one checks that the header
 *      lies inside the datagram, then tries to unprotect a copy: Initial
 *      with keys from the packet's own DCID and with the RFC 9001 Appendix
 *      A keys (both directions), Handshake/0-RTT and 1-RTT with fixed keys;
 *      a Retry's tag is verified against the Appendix A ODCID; a Version
 *      Negotiation's versions are read;
 *   3. what unprotects has its frames read (frame reader, that packet
 *      type), and is rebuilt with ho_quic_header_write + ho_quic_packet_seal
 *      and unprotected again: the same header fields and payload;
 *   4. checks packet-number decoding on numbers taken from the input.
 * Seeds: fuzz/corpus/fuzz_quic_packet/ (see fuzz_quic.h to regenerate). */
#include "fuzz_quic.h"
#include "quic/frame.h"
#include "quic/packet.h"

#define SHORT_DCID_LEN 8
#define APP_LARGEST 654360560 /* near RFC 9001 A.5's packet number */

static const uint8_t rfc_dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
static const char hs_secret_hex[] = "b3b6f6c3b1b5f1d1a7b6e4c0d7a1f0e2c4b8a9d7e6f5a4b3c2d1e0f9a8b7c6d5";
static const char app_secret_hex[] = "9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b";

static struct {
    ho_quic_keys init_c_tx, init_c_rx; /* the RFC client's Initial keys */
    ho_quic_keys init_s_tx, init_s_rx; /* the RFC server's */
    ho_quic_keys hs_tx, hs_rx;         /* Handshake and 0-RTT: AES-128-GCM */
    ho_quic_keys app_tx, app_rx;       /* 1-RTT: ChaCha20 (A.5's secret) */
    crypto_aead *retry;
} k;

static void keys_from_hex(const char *hex, ho_aead_alg alg, ho_quic_keys *tx, ho_quic_keys *rx)
{
    uint8_t secret[32];
    ho_quic_key_material m;
    if (fuzz_quic_unhex(hex, secret, sizeof(secret)) != 32 ||
        ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, alg, secret, &m) != HO_OK || ho_quic_keys_new(tx, &m, true) != HO_OK ||
        ho_quic_keys_new(rx, &m, false) != HO_OK)
        abort();
}

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (ho_quic_initial_keys(HO_QUIC_VERSION_1, rfc_dcid, 8, false, &k.init_c_tx, &k.init_c_rx) != HO_OK ||
        ho_quic_initial_keys(HO_QUIC_VERSION_1, rfc_dcid, 8, true, &k.init_s_tx, &k.init_s_rx) != HO_OK)
        abort();
    keys_from_hex(hs_secret_hex, HO_AEAD_AES_128_GCM, &k.hs_tx, &k.hs_rx);
    keys_from_hex(app_secret_hex, HO_AEAD_CHACHA20_POLY1305, &k.app_tx, &k.app_rx);
    if ((k.retry = ho_quic_retry_aead_new(HO_QUIC_VERSION_1)) == NULL)
        abort();
    const char *dir = getenv("HO_FUZZ_WRITE_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    return 0;
}

/* The payload of an unprotected packet: its frames must decode (or fail
 * with a transport error) within the payload. */
static void read_frames(const uint8_t *p, size_t n, ho_quic_pkt_type t)
{
    ho_quic_frame_reader r;
    ho_quic_frame f;
    ho_quic_frame_reader_init(&r, p, n, t, t == HO_QUIC_PKT_1RTT);
    int rc;
    while ((rc = ho_quic_frame_read(&r, &f)) == HO_OK)
        CHECK(r.c.p >= p && r.c.p + r.c.len == p + n);
    CHECK(rc == HO_ERR_NOT_FOUND || ho_quic_err_is_transport(rc));
}

/* Builds a packet with h's fields and this payload, seals it with tx and
 * opens it with rx: the fields and the payload come back. */
static void rebuild(const ho_quic_header *h, const uint8_t *payload, size_t n, const ho_quic_keys *tx,
                    const ho_quic_keys *rx)
{
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header w = {.type = h->type, .version = h->version, .dcid = h->dcid, .scid = h->scid,
                        .token = h->type == HO_QUIC_PKT_INITIAL ? h->token : NULL,
                        .token_len = h->type == HO_QUIC_PKT_INITIAL ? h->token_len : 0,
                        .pn = h->pn, .pn_len = h->pn_len, .spin = h->spin, .key_phase = h->key_phase};
    size_t start;
    CHECK(ho_quic_header_write(&b, &w, &start) == HO_OK);
    ho_put_bytes(&b, payload, n);
    int rc = ho_quic_packet_seal(&b, start, &w, tx, 0);
    if (rc == HO_ERR_INVALID_ARG) { /* a long header packet over 16383 bytes */
        CHECK(h->type != HO_QUIC_PKT_1RTT);
        ho_buf_free(&b);
        return;
    }
    CHECK(rc == HO_OK);
    ho_quic_header r;
    CHECK(ho_quic_header_parse(b.data, b.len, h->dcid.len, &r) == HO_OK);
    CHECK(r.type == h->type && r.packet_len == b.len && ho_quic_cid_eq(&r.dcid, &h->dcid));
    CHECK(ho_quic_packet_unprotect(rx, b.data, &r, h->pn > 0 ? h->pn - 1 : HO_QUIC_PN_NONE) == HO_OK);
    CHECK(r.pn == h->pn && r.pn_len == h->pn_len && r.key_phase == h->key_phase && r.spin == h->spin);
    /* Seal pads in front of the frames (§5.4.2); the frames end the payload. */
    CHECK(r.payload_len >= n && memcmp(b.data + r.payload_offset + r.payload_len - n, payload, n) == 0);
    if (h->type != HO_QUIC_PKT_1RTT)
        CHECK(ho_quic_cid_eq(&r.scid, &h->scid) && r.version == h->version);
    if (h->type == HO_QUIC_PKT_INITIAL)
        CHECK(r.token_len == h->token_len && (r.token_len == 0 || memcmp(r.token, h->token, r.token_len) == 0));
    ho_buf_free(&b);
}

/* Tries to open a copy of pkt with k; on success reads and rebuilds. */
static void try_keys(const uint8_t *pkt, const ho_quic_header *h, const ho_quic_keys *rx, const ho_quic_keys *tx,
                     uint64_t largest)
{
    uint8_t *copy = malloc(h->packet_len);
    memcpy(copy, pkt, h->packet_len);
    ho_quic_header u = *h;
    int rc = ho_quic_packet_unprotect(rx, copy, &u, largest);
    if (rc == HO_OK || rc == HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION)) {
        CHECK(u.pn_len >= 1 && u.pn_len <= 4 && u.pn <= HO_QUIC_PN_MAX);
        CHECK(u.payload_offset == u.pn_offset + u.pn_len);
        CHECK(u.payload_offset + u.payload_len + CRYPTO_AEAD_TAG_LEN == u.packet_len);
    }
    if (rc == HO_OK) {
        read_frames(copy + u.payload_offset, u.payload_len, u.type);
        /* The token, if any, points into pkt, which is still intact. */
        if (tx != NULL)
            rebuild(&u, copy + u.payload_offset, u.payload_len, tx, rx);
    } else {
        CHECK(rc == HO_ERR_DECRYPT || rc == HO_ERR_QUIC_DISCARD || rc == HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    }
    free(copy);
}

static void check_packet(const uint8_t *pkt, const ho_quic_header *h)
{
    switch (h->type) {
    case HO_QUIC_PKT_INITIAL: {
        CHECK(h->token_len == 0 || (h->token >= pkt && h->token + h->token_len <= pkt + h->pn_offset));
        ho_quic_keys tx, rx;
        if (ho_quic_initial_keys(h->version, h->dcid.data, h->dcid.len, true, &tx, &rx) == HO_OK) {
            try_keys(pkt, h, &rx, NULL, HO_QUIC_PN_NONE);
            ho_quic_keys_free(&tx);
            ho_quic_keys_free(&rx);
        }
        try_keys(pkt, h, &k.init_s_rx, &k.init_c_tx, HO_QUIC_PN_NONE); /* sent by the RFC client */
        try_keys(pkt, h, &k.init_c_rx, &k.init_s_tx, HO_QUIC_PN_NONE); /* sent by the RFC server */
        break;
    }
    case HO_QUIC_PKT_0RTT:
    case HO_QUIC_PKT_HANDSHAKE:
        try_keys(pkt, h, &k.hs_rx, &k.hs_tx, HO_QUIC_PN_NONE);
        break;
    case HO_QUIC_PKT_1RTT:
        try_keys(pkt, h, &k.app_rx, &k.app_tx, APP_LARGEST);
        break;
    case HO_QUIC_PKT_RETRY:
        CHECK(h->token_len > 0 && h->retry_tag == h->token + h->token_len &&
              h->retry_tag + HO_QUIC_RETRY_TAG_LEN == pkt + h->packet_len);
        if (ho_quic_retry_verify(k.retry, h->version, rfc_dcid, 8, pkt, h->packet_len) == HO_OK)
            CHECK(ho_quic_retry_verify(NULL, h->version, rfc_dcid, 8, pkt, h->packet_len) == HO_OK);
        break;
    case HO_QUIC_PKT_VERSION_NEGOTIATION:
        CHECK(h->version_count > 0 && h->versions + 4 * h->version_count == pkt + h->packet_len);
        for (size_t i = 0; i < h->version_count; i++)
            (void)ho_quic_vn_version(h, i);
        break;
    }
}

static void check_pn_decode(const uint8_t *data, size_t size)
{
    if (size < 13)
        return;
    uint64_t largest = 0, trunc = 0;
    for (int i = 0; i < 8; i++)
        largest = largest << 8 | data[i];
    for (int i = 8; i < 12; i++)
        trunc = trunc << 8 | data[i];
    largest &= HO_QUIC_PN_MAX;
    uint8_t len = (uint8_t)(data[12] % 4 + 1);
    uint64_t mask = (1ULL << (8 * len)) - 1;
    uint64_t pn = ho_quic_pn_decode(trunc, len, largest);
    /* The low bits are what was sent; the result is within half a window
     * of the next expected number unless that would leave [0, 2^62). */
    CHECK((pn & mask) == (trunc & mask));
    uint64_t expected = largest + 1, hwin = (mask + 1) / 2;
    CHECK(pn + hwin >= expected || expected - pn - hwin < mask + 1);
    CHECK(pn <= expected + hwin || pn < mask + 1);
    /* A sender's choice of length always decodes at its largest acked. */
    if (largest < HO_QUIC_PN_MAX) {
        uint64_t sent = largest + 1 + (trunc & 0xffff);
        if (sent <= HO_QUIC_PN_MAX) {
            uint8_t l = ho_quic_pn_len(sent, largest);
            CHECK(ho_quic_pn_decode(sent & ((1ULL << (8 * l)) - 1), l, largest) == sent);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A writable copy of exactly `size` bytes: ASan sees any over-read. */
    uint8_t *dgram = malloc(size ? size : 1);
    memcpy(dgram, data, size);

    ho_quic_invariant inv;
    if (ho_quic_invariant_parse(dgram, size, SHORT_DCID_LEN, &inv) == HO_OK) {
        CHECK(inv.dcid_len == 0 || (inv.dcid >= dgram && inv.dcid + inv.dcid_len <= dgram + size));
        CHECK(inv.scid_len == 0 || (inv.scid >= dgram && inv.scid + inv.scid_len <= dgram + size));
        if (inv.is_long && inv.version != 0 && inv.version != HO_QUIC_VERSION_1) {
            /* RFC 9000 §6.1: answer with Version Negotiation, CIDs swapped. */
            ho_buf b;
            ho_buf_init(&b);
            const uint32_t versions[] = {HO_QUIC_VERSION_1};
            CHECK(ho_quic_vn_write(&b, inv.dcid, inv.dcid_len, inv.scid, inv.scid_len, versions, 1, 0) == HO_OK);
            ho_quic_header vh;
            int rc = ho_quic_header_parse(b.data, b.len, 0, &vh);
            if (inv.dcid_len <= HO_QUIC_MAX_CID_LEN && inv.scid_len <= HO_QUIC_MAX_CID_LEN) {
                CHECK(rc == HO_OK && vh.type == HO_QUIC_PKT_VERSION_NEGOTIATION && vh.version_count == 1);
                CHECK(vh.dcid.len == inv.scid_len && vh.scid.len == inv.dcid_len);
            } else {
                CHECK(rc == HO_ERR_QUIC_DISCARD);
            }
            ho_buf_free(&b);
        }
    }

    ho_quic_datagram_iter it;
    ho_quic_datagram_iter_init(&it, dgram, size, SHORT_DCID_LEN);
    ho_quic_header h;
    uint8_t *pkt;
    int rc, packets = 0;
    while ((rc = ho_quic_datagram_next(&it, &h, &pkt)) == HO_OK) {
        CHECK(pkt >= dgram && h.packet_len > 0 && pkt + h.packet_len <= dgram + size);
        CHECK(h.pn_offset <= h.packet_len);
        CHECK(h.dcid.len <= HO_QUIC_MAX_CID_LEN && h.scid.len <= HO_QUIC_MAX_CID_LEN);
        check_packet(pkt, &h);
        packets++;
    }
    CHECK(rc == HO_ERR_NOT_FOUND || rc == HO_ERR_QUIC_DISCARD || rc == HO_ERR_QUIC_VERSION);
    CHECK(packets <= (int)size);

    check_pn_decode(data, size);
    free(dgram);
    return 0;
}

/* ---- seeds ---------------------------------------------------------------- */

/* RFC 9001 A.2's CRYPTO frame and A.3's payload. */
static const char client_crypto_hex[] =
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff0801100104800075"
    "300901100f088394c8f03e51570806048000ffff";
static const char server_payload_hex[] =
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304";

static size_t add_packet(ho_buf *b, ho_quic_pkt_type t, const ho_quic_cid *dcid, const ho_quic_cid *scid,
                         uint64_t pn, uint8_t pn_len, const uint8_t *payload, size_t n, const ho_quic_keys *tx,
                         size_t min_len)
{
    ho_quic_header h = {.type = t, .version = HO_QUIC_VERSION_1, .pn = pn, .pn_len = pn_len};
    if (dcid != NULL)
        h.dcid = *dcid;
    if (scid != NULL)
        h.scid = *scid;
    size_t start;
    if (ho_quic_header_write(b, &h, &start) != HO_OK)
        abort();
    ho_put_bytes(b, payload, n);
    if (ho_quic_packet_seal(b, start, &h, tx, min_len) != HO_OK)
        abort();
    return b->len - start;
}

static void write_seeds(const char *dir)
{
    uint8_t payload[1200];
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_cid odcid, scid, none = {0};
    ho_quic_cid_set(&odcid, rfc_dcid, 8);
    ho_quic_cid_set(&scid, (const uint8_t *)"\xf0\x67\xa5\x50\x2a\x42\x62\xb5", 8);

    /* A.2: the client Initial, exactly as in the RFC. */
    memset(payload, 0, sizeof(payload));
    fuzz_quic_unhex(client_crypto_hex, payload, sizeof(payload));
    add_packet(&b, HO_QUIC_PKT_INITIAL, &odcid, NULL, 2, 4, payload, 1162, &k.init_c_tx, 0);
    fuzz_quic_write_seed(dir, "rfc9001-a2-client-initial", b.data, b.len);

    /* A.3 + a Handshake + a 1-RTT packet to the same (empty) CID. */
    b.len = 0;
    size_t n = fuzz_quic_unhex(server_payload_hex, payload, sizeof(payload));
    add_packet(&b, HO_QUIC_PKT_INITIAL, NULL, &scid, 1, 2, payload, n, &k.init_s_tx, 0);
    fuzz_quic_write_seed(dir, "rfc9001-a3-server-initial", b.data, b.len);
    const uint8_t hs[] = {0x06, 0x00, 0x04, 0x08, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00};
    add_packet(&b, HO_QUIC_PKT_HANDSHAKE, NULL, &scid, 0, 1, hs, sizeof(hs), &k.hs_tx, 0);
    fuzz_quic_write_seed(dir, "coalesced-initial-handshake", b.data, b.len);

    /* A.4: the Retry. */
    b.len = 0;
    ho_quic_retry_write(&b, k.retry, HO_QUIC_VERSION_1, &none, &scid, &odcid, (const uint8_t *)"token", 5, 0x0f);
    fuzz_quic_write_seed(dir, "rfc9001-a4-retry", b.data, b.len);

    /* A.5: the ChaCha20 short header packet (an 8-byte DCID variant too,
     * since the target reads short headers with 8-byte CIDs). */
    b.len = 0;
    const uint8_t a5[] = {0x4c, 0xfe, 0x41, 0x89, 0x65, 0x5e, 0x5c, 0xd5, 0x5c, 0x41, 0xf6,
                          0x90, 0x80, 0x57, 0x5d, 0x79, 0x99, 0xc2, 0x5a, 0x5b, 0xfb};
    fuzz_quic_write_seed(dir, "rfc9001-a5-chacha-short", a5, sizeof(a5));
    ho_quic_cid short_dcid;
    ho_quic_cid_set(&short_dcid, (const uint8_t *)"shortcid", 8);
    const uint8_t app[] = {0x01, 0x0b, 0x04, 0x05, 'h', 'e', 'l', 'l', 'o', 0x1e};
    add_packet(&b, HO_QUIC_PKT_1RTT, &short_dcid, NULL, APP_LARGEST + 1, 2, app, sizeof(app), &k.app_tx, 0);
    fuzz_quic_write_seed(dir, "short-1rtt-stream", b.data, b.len);

    /* 0-RTT coalesced after an Initial, padded to 1200 (a client's first
     * flight with early data). */
    b.len = 0;
    memset(payload, 0, sizeof(payload));
    fuzz_quic_unhex(client_crypto_hex, payload, sizeof(payload));
    add_packet(&b, HO_QUIC_PKT_INITIAL, &odcid, NULL, 0, 1, payload, 245, &k.init_c_tx, 0);
    const uint8_t early[] = {0x0f, 0x00, 0x00, 0x03, 'G', 'E', 'T'};
    add_packet(&b, HO_QUIC_PKT_0RTT, &odcid, NULL, 0, 1, early, sizeof(early), &k.hs_tx, 1200 - b.len);
    fuzz_quic_write_seed(dir, "coalesced-initial-0rtt", b.data, b.len);

    /* A Version Negotiation packet, and an Initial of an unknown version. */
    b.len = 0;
    const uint32_t versions[] = {HO_QUIC_VERSION_1, 0x6b3343cf, 0x0a1a2a3a};
    ho_quic_vn_write(&b, rfc_dcid, 8, scid.data, 8, versions, 3, 0x2a);
    fuzz_quic_write_seed(dir, "version-negotiation", b.data, b.len);
    uint8_t unknown[1200] = {0xc0, 0x0a, 0x1a, 0x2a, 0x3a, 8, 1, 2, 3, 4, 5, 6, 7, 8, 0};
    fuzz_quic_write_seed(dir, "unknown-version", unknown, sizeof(unknown));
    ho_buf_free(&b);
}
