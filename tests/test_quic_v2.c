/* QUIC version 2 (RFC 9369): the Appendix A packet protection vectors byte
 * for byte (keys, client Initial, server Initial, Retry, ChaCha20 short
 * header), the version 2 long-header type bits, and that version 1 and 2
 * keys and packets do not open each other. The vectors are copied from the
 * RFC text (docs/specs/rfc9369.md, Appendix A). */
#include "harness.h"
#include "quic/packet.h"

static const uint8_t a_dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};
static const uint8_t a_scid[8] = {0xf0, 0x67, 0xa5, 0x50, 0x2a, 0x42, 0x62, 0xb5};

/* A.2: the client's CRYPTO frame (the rest of the 1162 bytes is PADDING). */
static const char client_crypto_hex[] =
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff";

static const char client_header_hex[] = "d36b3343cf088394c8f03e5157080000449e00000002";
static const char client_protected_hex[] =
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc";

/* A.3. */
static const char server_payload_hex[] =
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304";
static const char server_header_hex[] = "d16b3343cf0008f067a5502a4262b50040750001";
static const char server_protected_hex[] =
    "dc6b3343cf0008f067a5502a4262b5004075d92faaf16f05d8a4398c47089698"
    "baeea26b91eb761d9b89237bbf87263017915358230035f7fd3945d88965cf17"
    "f9af6e16886c61bfc703106fbaf3cb4cfa52382dd16a393e42757507698075b2"
    "c984c707f0a0812d8cd5a6881eaf21ceda98f4bd23f6fe1a3e2c43edd9ce7ca8"
    "4bed8521e2e140";

/* A.4. */
static const char retry_hex[] = "cf6b3343cf0008f067a5502a4262b5746f6b656ec8646ce8bfe33952d955543665dcc7b6";

/* ---- A.1 ---------------------------------------------------------------- */

static void test_v2_keys(void)
{
    CHECK(ho_quic_version_supported(HO_QUIC_VERSION_2));
    CHECK(ho_quic_version_supported(HO_QUIC_VERSION_1));
    CHECK(!ho_quic_version_supported(2));
    CHECK(!ho_quic_version_supported(0));
    CHECK(strcmp(ho_quic_version_name(HO_QUIC_VERSION_2), "v2") == 0);
    uint8_t cs[32], ss[32];
    CHECK_EQ(ho_quic_initial_secrets(HO_QUIC_VERSION_2, a_dcid, 8, cs, ss), HO_OK);
    CHECK_HEX(cs, 32, "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b");
    CHECK_HEX(ss, 32, "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1");
    ho_quic_key_material m;
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_2, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, cs, &m), HO_OK);
    CHECK_HEX(m.key, 16, "8b1a0bc121284290a29e0971b5cd045d");
    CHECK_HEX(m.iv, 12, "91f73e2351d8fa91660e909f");
    CHECK_HEX(m.hp, 16, "45b95e15235d6f45a6b19cbcb0294ba9");
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_2, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, ss, &m), HO_OK);
    CHECK_HEX(m.key, 16, "82db637861d55e1d011f19ea71d5d2a7");
    CHECK_HEX(m.iv, 12, "dd13c276499c0249d3310652");
    CHECK_HEX(m.hp, 16, "edf6d05c83121201b436e16877593c3a");
    /* Unsupported versions are refused, not derived with some default. */
    CHECK_EQ(ho_quic_key_material_derive(0xff00001d, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, ss, &m), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_key_update_secret(0xff00001d, HO_HASH_SHA256, ss, cs), HO_ERR_INVALID_ARG);
}

/* ---- A.2 ---------------------------------------------------------------- */

static void test_v2_client_initial(void)
{
    size_t hlen, clen, want_len;
    uint8_t *hdr = ho_test_unhex(client_header_hex, &hlen);
    uint8_t *crypto = ho_test_unhex(client_crypto_hex, &clen);
    uint8_t *want = ho_test_unhex(client_protected_hex, &want_len);
    CHECK_EQ(want_len, 1200);
    CHECK_EQ(clen, 245);
    uint8_t payload[1162] = {0};
    memcpy(payload, crypto, clen);

    ho_quic_keys ctx, crx, stx, srx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_2, a_dcid, 8, false, &ctx, &crx), HO_OK);
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_2, a_dcid, 8, true, &stx, &srx), HO_OK);

    uint8_t pkt[1200];
    memcpy(pkt, hdr, hlen);
    memcpy(pkt + hlen, payload, sizeof(payload));
    CHECK_EQ(ho_quic_packet_protect(ctx.aead, ctx.hp, pkt, hlen - 4, hlen + sizeof(payload), 2), HO_OK);
    CHECK_MEM(pkt, want, 1200);

    /* The header writer: v2 Initial type bits 0b01 (first byte 0xd3). */
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {.type = HO_QUIC_PKT_INITIAL, .version = HO_QUIC_VERSION_2, .pn = 2, .pn_len = 4};
    ho_quic_cid_set(&h.dcid, a_dcid, 8);
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    CHECK_HEX(b.data, 22, "d36b3343cf088394c8f03e5157080000400000000002");
    ho_put_bytes(&b, payload, sizeof(payload));
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &ctx, 0), HO_OK);
    CHECK(b.len == 1200 && memcmp(b.data, want, 1200) == 0);
    ho_buf_free(&b);

    /* Parsed and opened by the server's v2 keys. */
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(want, want_len, 8, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(rh.version, HO_QUIC_VERSION_2);
    CHECK_EQ(rh.packet_len, 1200);
    CHECK_EQ(ho_quic_packet_unprotect(&srx, want, &rh, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(rh.pn, 2);
    CHECK_EQ(rh.payload_len, 1162);
    CHECK_MEM(want + rh.payload_offset, payload, 1162);

    /* The first-Initial check before any connection uses the v2 salt. */
    free(want);
    want = ho_test_unhex(client_protected_hex, &want_len);
    ho_quic_keys ck;
    CHECK_EQ(ho_quic_initial_check_keys_new(&ck), HO_OK);
    uint8_t *scratch = malloc(2048);
    CHECK_EQ(ho_quic_header_parse(want, want_len, 8, &rh), HO_OK);
    CHECK_EQ(ho_quic_initial_authenticate(&ck, want, &rh, scratch, 2048), HO_OK);
    /* The same bytes relabelled as version 1 do not authenticate. */
    memcpy(want + 1, "\x00\x00\x00\x01", 4);
    want[0] = (uint8_t)((want[0] & 0xcf) | 0x00); /* v1 Initial type bits */
    CHECK_EQ(ho_quic_header_parse(want, want_len, 8, &rh), HO_OK);
    CHECK_EQ(rh.version, HO_QUIC_VERSION_1);
    CHECK_EQ(ho_quic_initial_authenticate(&ck, want, &rh, scratch, 2048), HO_ERR_DECRYPT);
    free(scratch);
    ho_quic_keys_free(&ck);

    /* Version 1 Initial keys for the same DCID differ. */
    ho_quic_keys v1tx, v1rx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, a_dcid, 8, false, &v1tx, &v1rx), HO_OK);
    memcpy(pkt, hdr, hlen);
    memcpy(pkt + hlen, payload, sizeof(payload));
    CHECK_EQ(ho_quic_packet_protect(v1tx.aead, v1tx.hp, pkt, hlen - 4, hlen + sizeof(payload), 2), HO_OK);
    CHECK(memcmp(pkt, want, 1200) != 0);
    ho_quic_keys_free(&v1tx);
    ho_quic_keys_free(&v1rx);

    ho_quic_keys_free(&ctx);
    ho_quic_keys_free(&crx);
    ho_quic_keys_free(&stx);
    ho_quic_keys_free(&srx);
    free(hdr);
    free(crypto);
    free(want);
}

/* ---- A.3 ---------------------------------------------------------------- */

static void test_v2_server_initial(void)
{
    size_t hlen, plen, want_len;
    uint8_t *hdr = ho_test_unhex(server_header_hex, &hlen);
    uint8_t *payload = ho_test_unhex(server_payload_hex, &plen);
    uint8_t *want = ho_test_unhex(server_protected_hex, &want_len);
    ho_quic_keys stx, srx, ctx, crx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_2, a_dcid, 8, true, &stx, &srx), HO_OK);
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_2, a_dcid, 8, false, &ctx, &crx), HO_OK);

    uint8_t pkt[256];
    memcpy(pkt, hdr, hlen);
    memcpy(pkt + hlen, payload, plen);
    CHECK_EQ(ho_quic_packet_protect(stx.aead, stx.hp, pkt, hlen - 2, hlen + plen, 1), HO_OK);
    CHECK_EQ(hlen + plen + 16, want_len);
    CHECK_MEM(pkt, want, want_len);

    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {.type = HO_QUIC_PKT_INITIAL, .version = HO_QUIC_VERSION_2, .pn = 1, .pn_len = 2};
    ho_quic_cid_set(&h.scid, a_scid, 8);
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    ho_put_bytes(&b, payload, plen);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &stx, 0), HO_OK);
    CHECK(b.len == want_len && memcmp(b.data, want, want_len) == 0);
    ho_buf_free(&b);

    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(want, want_len, 0, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(ho_quic_packet_unprotect(&crx, want, &rh, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(rh.pn, 1);
    CHECK_EQ(rh.payload_len, plen);
    CHECK_MEM(want + rh.payload_offset, payload, plen);

    ho_quic_keys_free(&stx);
    ho_quic_keys_free(&srx);
    ho_quic_keys_free(&ctx);
    ho_quic_keys_free(&crx);
    free(hdr);
    free(payload);
    free(want);
}

/* ---- A.4 ---------------------------------------------------------------- */

static void test_v2_retry(void)
{
    size_t n;
    uint8_t *want = ho_test_unhex(retry_hex, &n);
    ho_quic_cid dcid = {0}, scid, odcid;
    ho_quic_cid_set(&scid, a_scid, 8);
    ho_quic_cid_set(&odcid, a_dcid, 8);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_retry_write(&b, NULL, HO_QUIC_VERSION_2, &dcid, &scid, &odcid, (const uint8_t *)"token", 5,
                                 0x0f), HO_OK);
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);
    crypto_aead *ra = ho_quic_retry_aead_new(HO_QUIC_VERSION_2);
    CHECK(ra != NULL);
    b.len = 0;
    CHECK_EQ(ho_quic_retry_write(&b, ra, HO_QUIC_VERSION_2, &dcid, &scid, &odcid, (const uint8_t *)"token", 5,
                                 0x0f), HO_OK);
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(want, n, 0, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_RETRY); /* v2 Retry type bits are 0b00 */
    CHECK_EQ(h.version, HO_QUIC_VERSION_2);
    CHECK(h.token_len == 5 && memcmp(h.token, "token", 5) == 0);
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_2, a_dcid, 8, want, n), HO_OK);
    /* The version 1 key does not verify a version 2 Retry. */
    CHECK_EQ(ho_quic_retry_verify(NULL, HO_QUIC_VERSION_1, a_dcid, 8, want, n), HO_ERR_DECRYPT);
    crypto_aead_free(ra);
    ho_buf_free(&b);
    free(want);
}

/* ---- A.5 ---------------------------------------------------------------- */

static void test_v2_chacha_short(void)
{
    size_t n;
    uint8_t *secret = ho_test_unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b", &n);
    ho_quic_key_material m;
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_2, HO_HASH_SHA256, HO_AEAD_CHACHA20_POLY1305, secret, &m),
             HO_OK);
    CHECK_HEX(m.key, 32, "3bfcddd72bcf02541d7fa0dd1f5f9eeea817e09a6963a0e6c7df0f9a1bab90f2");
    CHECK_HEX(m.iv, 12, "a6b5bc6ab7dafce30ffff5dd");
    CHECK_HEX(m.hp, 32, "d659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2");
    uint8_t ku[32];
    CHECK_EQ(ho_quic_key_update_secret(HO_QUIC_VERSION_2, HO_HASH_SHA256, secret, ku), HO_OK);
    CHECK_HEX(ku, 32, "c69374c49e3d2a9466fa689e49d476db5d0dfbc87d32ceeaa6343fd0ae4c7d88");

    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_keys_new(&tx, &m, true), HO_OK);
    CHECK_EQ(ho_quic_keys_new(&rx, &m, false), HO_OK);
    const uint64_t pn = 654360564;
    uint8_t pkt[64] = {0x42, 0x00, 0xbf, 0xf4, 0x01};
    CHECK_EQ(ho_quic_packet_protect(tx.aead, tx.hp, pkt, 1, 5, pn), HO_OK);
    CHECK_HEX(pkt, 21, "5558b1c60ae7b6b932bc27d786f4bc2bb20f2162ba");
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(pkt, 21, 0, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, pkt, &rh, pn - 10), HO_OK);
    CHECK_EQ(rh.pn, pn);
    CHECK_EQ(rh.payload_len, 1);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    ho_wipe(&m, sizeof(m));
    free(secret);
}

/* The long-header type bits of RFC 9369 §3.2, through write and parse. */
static void test_v2_types(void)
{
    static const ho_quic_pkt_type types[] = {HO_QUIC_PKT_INITIAL, HO_QUIC_PKT_0RTT, HO_QUIC_PKT_HANDSHAKE};
    static const uint8_t v2_bits[] = {1, 2, 3};
    static const uint8_t v1_bits[] = {0, 1, 2};
    for (size_t i = 0; i < 3; i++) {
        for (int v = 0; v < 2; v++) {
            ho_buf b;
            ho_buf_init(&b);
            ho_quic_header h = {.type = types[i], .version = v ? HO_QUIC_VERSION_2 : HO_QUIC_VERSION_1, .pn_len = 1};
            size_t start;
            CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
            CHECK_EQ((b.data[0] >> 4) & 3, v ? v2_bits[i] : v1_bits[i]);
            ho_put_bytes(&b, (const uint8_t *)"\x01\x00\x00\x00", 4);
            /* Length filled in by hand (seal would protect). */
            size_t len_off = h.pn_offset - 2;
            size_t rest = b.len - h.pn_offset;
            b.data[len_off] = (uint8_t)(0x40 | (rest >> 8));
            b.data[len_off + 1] = (uint8_t)rest;
            ho_quic_header rh;
            CHECK_EQ(ho_quic_header_parse(b.data, b.len, 0, &rh), HO_OK);
            CHECK_EQ(rh.type, types[i]);
            CHECK_EQ(rh.version, h.version);
            ho_buf_free(&b);
        }
    }
}

int main(void)
{
    RUN(test_v2_keys);
    RUN(test_v2_client_initial);
    RUN(test_v2_server_initial);
    RUN(test_v2_retry);
    RUN(test_v2_chacha_short);
    RUN(test_v2_types);
    return ho_test_summary("test_quic_v2");
}
