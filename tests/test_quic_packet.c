/* Unit tests for src/quic/packet.c: RFC 9001 Appendix A packet protection
 * vectors byte for byte, packet numbers (RFC 9000 Appendix A), header
 * parsing of truncated and hostile input, Version Negotiation, Retry,
 * coalesced datagrams, and a captured ngtcp2 client Initial (interop). */
#include "harness.h"
#include "quic/frame.h"
#include "quic/packet.h"
#include "quic/tparams.h"


static const uint8_t a_dcid[8] = {0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08};

/* RFC 9001 Appendix A.2: the client's CRYPTO frame (the rest is PADDING). */
static const char client_crypto_hex[] =
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff0801100104800075"
    "300901100f088394c8f03e51570806048000ffff";

static const char client_header_hex[] = "c300000001088394c8f03e5157080000449e00000002";

static const char client_protected_hex[] =
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934";

/* RFC 9001 Appendix A.3. */
static const char server_payload_hex[] =
    "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
    "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
    "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
    "020304";
static const char server_header_hex[] = "c1000000010008f067a5502a4262b50040750001";
static const char server_protected_hex[] =
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee";

/* RFC 9001 Appendix A.4. */
static const char retry_hex[] =
    "ff000000010008f067a5502a4262b5746f6b656e04a265ba2eff4d829058fb3f0f2496ba";

/* The client's 1162-byte Initial payload: the CRYPTO frame, then PADDING. */
static uint8_t *client_payload(size_t *len)
{
    size_t n;
    uint8_t *crypto = ho_test_unhex(client_crypto_hex, &n);
    uint8_t *p = calloc(1, 1162);
    memcpy(p, crypto, n);
    free(crypto);
    *len = 1162;
    return p;
}

/* ---- A.1 ---------------------------------------------------------------- */

static void test_initial_keys(void)
{
    uint8_t cs[32], ss[32];
    CHECK_EQ(ho_quic_initial_secrets(HO_QUIC_VERSION_1, a_dcid, 8, cs, ss), HO_OK);
    CHECK_HEX(cs, 32, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
    CHECK_HEX(ss, 32, "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b");
    ho_quic_key_material m;
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, cs, &m), HO_OK);
    CHECK_HEX(m.key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    CHECK_HEX(m.iv, 12, "fa044b2f42a3fd3b46fb255c");
    CHECK_HEX(m.hp, 16, "9f50449e04a0e810283a1e9933adedd2");
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, ss, &m), HO_OK);
    CHECK_HEX(m.key, 16, "cf3a5331653c364c88f0f379b6067e37");
    CHECK_HEX(m.iv, 12, "0ac1493ca1905853b0bba03e");
    CHECK_HEX(m.hp, 16, "c206b8d9b9f0f37644430b490eeaa314");
    CHECK_EQ(ho_quic_initial_secrets(0xff00001d, a_dcid, 8, cs, ss), HO_ERR_INVALID_ARG);
    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_initial_keys(2, a_dcid, 8, false, &tx, &rx), HO_ERR_INVALID_ARG);
    CHECK(tx.aead == NULL && rx.aead == NULL);
}

/* ---- A.2 ---------------------------------------------------------------- */

static void test_client_initial(void)
{
    size_t hlen, plen, want_len;
    uint8_t *hdr = ho_test_unhex(client_header_hex, &hlen);
    uint8_t *payload = client_payload(&plen);
    uint8_t *want = ho_test_unhex(client_protected_hex, &want_len);
    CHECK_EQ(want_len, 1200);

    ho_quic_keys ctx, crx, stx, srx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, a_dcid, 8, false, &ctx, &crx), HO_OK);
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, a_dcid, 8, true, &stx, &srx), HO_OK);

    /* Raw: the given header and payload, protected in place. */
    uint8_t pkt[1200];
    memcpy(pkt, hdr, hlen);
    memcpy(pkt + hlen, payload, plen);
    CHECK_EQ(ho_quic_packet_protect(ctx.aead, ctx.hp, pkt, hlen - 4, hlen + plen, 2), HO_OK);
    CHECK_MEM(pkt, want, 1200);

    /* Built: ho_quic_header_write gives the same header, seal the same bytes. */
    ho_buf b;
    ho_buf_init(&b);
    ho_put_u8(&b, 0xee); /* something before the packet in the datagram */
    ho_quic_header h = {.type = HO_QUIC_PKT_INITIAL, .version = HO_QUIC_VERSION_1, .pn = 2, .pn_len = 4};
    ho_quic_cid_set(&h.dcid, a_dcid, 8);
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    CHECK_EQ(start, 1);
    CHECK_EQ(h.pn_offset, 18);
    CHECK_MEM(b.data + 1, "\xc3\x00\x00\x00\x01\x08\x83\x94\xc8\xf0\x3e\x51\x57\x08\x00\x00\x40\x00\x00\x00\x00\x02", 22);
    ho_put_bytes(&b, payload, plen);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &ctx, 0), HO_OK);
    CHECK_EQ(b.len, 1201);
    CHECK(b.len == 1201 && memcmp(b.data + 1, want, 1200) == 0);

    /* The server unprotects it back. */
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(want, want_len, 8, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(rh.version, 1);
    CHECK(rh.dcid.len == 8 && memcmp(rh.dcid.data, a_dcid, 8) == 0);
    CHECK_EQ(rh.scid.len, 0);
    CHECK_EQ(rh.token_len, 0);
    CHECK_EQ(rh.pn_offset, 18);
    CHECK_EQ(rh.packet_len, 1200);
    CHECK_EQ(ho_quic_packet_unprotect(&srx, want, &rh, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(rh.pn, 2);
    CHECK_EQ(rh.pn_len, 4);
    CHECK_EQ(rh.first_byte, 0xc3);
    CHECK_EQ(rh.payload_offset, 22);
    CHECK_EQ(rh.payload_len, 1162);
    CHECK_MEM(want + rh.payload_offset, payload, 1162);
    CHECK_MEM(want, hdr, hlen);

    /* Seal's own padding: only the CRYPTO frame, padded to 1200 (in front). */
    b.len = 0;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    ho_put_bytes(&b, payload, 245);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &ctx, HO_QUIC_MIN_DATAGRAM), HO_OK);
    CHECK_EQ(b.len, 1200);
    CHECK_EQ(ho_quic_header_parse(b.data, b.len, 8, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&srx, b.data, &rh, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(rh.payload_len, 1162);
    CHECK(b.data[rh.payload_offset] == 0 && b.data[rh.payload_offset + 1161 - 245] == 0);
    CHECK_MEM(b.data + rh.payload_offset + 1162 - 245, payload, 245);

    /* A flipped ciphertext bit fails authentication. */
    uint8_t *again = ho_test_unhex(client_protected_hex, &want_len);
    again[100] ^= 1;
    CHECK_EQ(ho_quic_header_parse(again, want_len, 8, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&srx, again, &rh, HO_QUIC_PN_NONE), HO_ERR_DECRYPT);
    free(again);
    /* The client's own receive keys (server direction) do not open it. */
    again = ho_test_unhex(client_protected_hex, &want_len);
    CHECK_EQ(ho_quic_header_parse(again, want_len, 8, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&crx, again, &rh, HO_QUIC_PN_NONE), HO_ERR_DECRYPT);
    free(again);

    ho_buf_free(&b);
    ho_quic_keys_free(&ctx);
    ho_quic_keys_free(&crx);
    ho_quic_keys_free(&stx);
    ho_quic_keys_free(&srx);
    ho_quic_keys_free(&srx); /* twice is harmless */
    free(hdr);
    free(payload);
    free(want);
}

/* ---- A.3 ---------------------------------------------------------------- */

static void test_server_initial(void)
{
    size_t hlen, plen, want_len;
    uint8_t *hdr = ho_test_unhex(server_header_hex, &hlen);
    uint8_t *payload = ho_test_unhex(server_payload_hex, &plen);
    uint8_t *want = ho_test_unhex(server_protected_hex, &want_len);
    ho_quic_keys stx, srx, ctx, crx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, a_dcid, 8, true, &stx, &srx), HO_OK);
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, a_dcid, 8, false, &ctx, &crx), HO_OK);

    uint8_t pkt[256];
    memcpy(pkt, hdr, hlen);
    memcpy(pkt + hlen, payload, plen);
    CHECK_EQ(ho_quic_packet_protect(stx.aead, stx.hp, pkt, hlen - 2, hlen + plen, 1), HO_OK);
    CHECK_EQ(hlen + plen + 16, want_len);
    CHECK_MEM(pkt, want, want_len);

    /* Built with the header writer (2-byte packet number, chosen by
     * ho_quic_pn_len for pn 1 with nothing acknowledged: 1 byte would do;
     * the RFC example uses 2). */
    CHECK_EQ(ho_quic_pn_len(1, HO_QUIC_PN_NONE), 1);
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {.type = HO_QUIC_PKT_INITIAL, .version = HO_QUIC_VERSION_1, .pn = 1, .pn_len = 2};
    ho_quic_cid_set(&h.scid, (const uint8_t *)"\xf0\x67\xa5\x50\x2a\x42\x62\xb5", 8);
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    ho_put_bytes(&b, payload, plen);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &stx, 0), HO_OK);
    CHECK(b.len == want_len && memcmp(b.data, want, want_len) == 0);
    ho_buf_free(&b);

    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(want, want_len, 0, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(rh.dcid.len, 0);
    CHECK_EQ(rh.scid.len, 8);
    CHECK_EQ(rh.packet_len, want_len);
    /* Header protection alone, then the payload: the two-step path. */
    CHECK_EQ(ho_quic_hp_remove(crx.hp, want, &rh), HO_OK);
    CHECK_EQ(rh.pn_len, 2);
    CHECK_EQ(rh.pn, 1);
    CHECK_EQ(ho_quic_pn_decode(rh.pn, rh.pn_len, 0), 1);
    CHECK_EQ(ho_quic_payload_decrypt(crx.aead, want, &rh, 1), HO_OK);
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

static void test_retry(void)
{
    size_t n;
    uint8_t *want = ho_test_unhex(retry_hex, &n);
    ho_quic_cid dcid = {0}, scid, odcid;
    ho_quic_cid_set(&scid, (const uint8_t *)"\xf0\x67\xa5\x50\x2a\x42\x62\xb5", 8);
    ho_quic_cid_set(&odcid, a_dcid, 8);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_retry_write(&b, NULL, HO_QUIC_VERSION_1, &dcid, &scid, &odcid, (const uint8_t *)"token", 5,
                                 0x0f), HO_OK);
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);

    /* The same with a reusable context. */
    crypto_aead *ra = ho_quic_retry_aead_new(HO_QUIC_VERSION_1);
    CHECK(ra != NULL);
    CHECK(ho_quic_retry_aead_new(7) == NULL);
    b.len = 0;
    CHECK_EQ(ho_quic_retry_write(&b, ra, HO_QUIC_VERSION_1, &dcid, &scid, &odcid, (const uint8_t *)"token", 5,
                                 0x0f), HO_OK);
    CHECK(b.len == n && memcmp(b.data, want, n) == 0);
    /* SCID equal to the ODCID, or an empty token: refused (§17.2.5.1, §17.2.5.2). */
    CHECK_EQ(ho_quic_retry_write(&b, ra, HO_QUIC_VERSION_1, &dcid, &odcid, &odcid, (const uint8_t *)"t", 1, 0),
             HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_retry_write(&b, ra, HO_QUIC_VERSION_1, &dcid, &scid, &odcid, NULL, 0, 0), HO_ERR_INVALID_ARG);

    /* Parse and verify. */
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(want, n, 0, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_RETRY);
    CHECK_EQ(h.token_len, 5);
    CHECK(h.token_len == 5 && memcmp(h.token, "token", 5) == 0);
    CHECK(h.retry_tag == want + n - 16);
    CHECK(ho_quic_cid_eq(&h.scid, &scid));
    CHECK_EQ(h.packet_len, n);
    CHECK_EQ(ho_quic_retry_verify(NULL, HO_QUIC_VERSION_1, a_dcid, 8, want, n), HO_OK);
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 8, want, n), HO_OK);
    /* Wrong ODCID, flipped bits anywhere, truncation: rejected. */
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 7, want, n), HO_ERR_DECRYPT);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        want[i] ^= 0x10;
        bad += ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 8, want, n) == HO_ERR_DECRYPT;
        want[i] ^= 0x10;
    }
    CHECK_EQ(bad, n);
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 8, want, 16), HO_ERR_DECRYPT);
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 8, want, n - 1), HO_ERR_DECRYPT);
    /* A Retry with an empty token is discarded at parse (§17.2.5.2). */
    uint8_t empty[15 + 16];
    memcpy(empty, want, 15);
    memcpy(empty + 15, want + n - 16, 16);
    CHECK_EQ(ho_quic_header_parse(empty, sizeof(empty), 0, &h), HO_ERR_QUIC_DISCARD);
    /* Too long to check: refused, not overrun. */
    uint8_t *big = calloc(1, HO_QUIC_RETRY_MAX_LEN + 32);
    memcpy(big, want, n);
    CHECK_EQ(ho_quic_retry_verify(ra, HO_QUIC_VERSION_1, a_dcid, 8, big, HO_QUIC_RETRY_MAX_LEN + 17),
             HO_ERR_DECRYPT);
    free(big);
    crypto_aead_free(ra);
    ho_buf_free(&b);
    free(want);
}

/* ---- A.5 ---------------------------------------------------------------- */

static void test_chacha_short(void)
{
    size_t n;
    uint8_t *secret = ho_test_unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b", &n);
    ho_quic_key_material m;
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, HO_AEAD_CHACHA20_POLY1305, secret, &m), HO_OK);
    CHECK_HEX(m.key, 32, "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8");
    CHECK_HEX(m.iv, 12, "e0459b3474bdd0e44a41c144");
    CHECK_HEX(m.hp, 32, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
    uint8_t ku[32];
    CHECK_EQ(ho_quic_key_update_secret(HO_QUIC_VERSION_1, HO_HASH_SHA256, secret, ku), HO_OK);
    CHECK_HEX(ku, 32, "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9");
    /* In place (next may alias secret). */
    CHECK_EQ(ho_quic_key_update_secret(HO_QUIC_VERSION_1, HO_HASH_SHA256, secret, secret), HO_OK);
    CHECK_MEM(secret, ku, 32);

    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_keys_new(&tx, &m, true), HO_OK);
    CHECK_EQ(ho_quic_keys_new(&rx, &m, false), HO_OK);
    const uint64_t pn = 654360564;
    CHECK_EQ(ho_quic_pn_decode(49140, 3, pn - 1), pn);
    uint8_t pkt[64] = {0x42, 0x00, 0xbf, 0xf4, 0x01};
    CHECK_EQ(ho_quic_packet_protect(tx.aead, tx.hp, pkt, 1, 5, pn), HO_OK);
    CHECK_HEX(pkt, 21, "4cfe4189655e5cd55c41f69080575d7999c25a5bfb");

    /* Built: pn_len 3 for that pn: the header writer and seal agree. */
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_header h = {.type = HO_QUIC_PKT_1RTT, .pn = pn, .pn_len = 3};
    size_t start;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    CHECK_HEX(b.data, b.len, "4200bff4");
    ho_put_u8(&b, 0x01);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &tx, 0), HO_OK);
    CHECK_HEX(b.data, b.len, "4cfe4189655e5cd55c41f69080575d7999c25a5bfb");

    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(b.data, b.len, 0, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_1RTT);
    CHECK_EQ(rh.pn_offset, 1);
    CHECK_EQ(rh.packet_len, 21);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, b.data, &rh, pn - 10), HO_OK);
    CHECK_EQ(rh.pn, pn);
    CHECK_EQ(rh.pn_len, 3);
    CHECK(!rh.key_phase);
    CHECK_EQ(rh.payload_len, 1);
    CHECK_EQ(b.data[rh.payload_offset], 0x01);

    /* One byte shorter: no room for the sample. */
    memcpy(pkt, "\x4c\xfe\x41\x89\x65\x5e\x5c\xd5\x5c\x41\xf6\x90\x80\x57\x5d\x79\x99\xc2\x5a\x5b\xfb", 21);
    CHECK_EQ(ho_quic_header_parse(pkt, 20, 0, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, pkt, &rh, pn), HO_ERR_QUIC_DISCARD);
    /* Protect refuses pn_len + payload < 4 (RFC 9001 §5.4.2). */
    uint8_t small[32] = {0x40, 0x07, 0x01};
    CHECK_EQ(ho_quic_packet_protect(tx.aead, tx.hp, small, 1, 3, 7), HO_ERR_INVALID_ARG);

    ho_buf_free(&b);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    free(secret);
}

/* ---- building and sealing other packets --------------------------------- */

static void test_seal_roundtrip(void)
{
    size_t n;
    uint8_t *secret = ho_test_unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b", &n);
    ho_quic_key_material m;
    const ho_aead_alg algs[] = {HO_AEAD_AES_128_GCM, HO_AEAD_AES_256_GCM, HO_AEAD_CHACHA20_POLY1305};
    for (size_t a = 0; a < 3; a++) {
        CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, algs[a], secret, &m), HO_OK);
        ho_quic_keys tx, rx;
        CHECK_EQ(ho_quic_keys_new(&tx, &m, true), HO_OK);
        CHECK_EQ(ho_quic_keys_new(&rx, &m, false), HO_OK);
        const ho_quic_pkt_type types[] = {HO_QUIC_PKT_HANDSHAKE, HO_QUIC_PKT_0RTT, HO_QUIC_PKT_1RTT};
        for (size_t t = 0; t < 3; t++) {
            for (uint8_t pn_len = 1; pn_len <= 4; pn_len++) {
                ho_buf b;
                ho_buf_init(&b);
                ho_quic_header h = {.type = types[t], .version = HO_QUIC_VERSION_1, .pn = 0x1234567 + pn_len,
                                    .pn_len = pn_len, .spin = true, .key_phase = pn_len & 1};
                ho_quic_cid_set(&h.dcid, (const uint8_t *)"abcdefgh", 8);
                ho_quic_cid_set(&h.scid, (const uint8_t *)"xyz", 3);
                size_t start;
                CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
                ho_put_u8(&b, 0x01); /* PING: seal pads the sample */
                CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &tx, 0), HO_OK);
                ho_quic_header rh;
                CHECK_EQ(ho_quic_header_parse(b.data, b.len, 8, &rh), HO_OK);
                CHECK_EQ(rh.type, types[t]);
                CHECK_EQ(rh.packet_len, b.len);
                CHECK_EQ(ho_quic_packet_unprotect(&rx, b.data, &rh, 0x1234560), HO_OK);
                CHECK_EQ(rh.pn, h.pn);
                CHECK_EQ(rh.pn_len, pn_len);
                CHECK_EQ(rh.pn_len + rh.payload_len, 4 > pn_len + 1 ? 4 : pn_len + 1);
                CHECK_EQ(b.data[rh.payload_offset + rh.payload_len - 1], 0x01);
                if (types[t] == HO_QUIC_PKT_1RTT) {
                    CHECK_EQ(rh.key_phase, pn_len & 1);
                    CHECK(rh.spin);
                }
                ho_buf_free(&b);
            }
        }
        ho_quic_keys_free(&tx);
        ho_quic_keys_free(&rx);
    }

    /* Reserved bits set before protection: authenticated, then refused
     * (RFC 9000 §17.2, §17.3.1). */
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, secret, &m), HO_OK);
    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_keys_new(&tx, &m, true), HO_OK);
    CHECK_EQ(ho_quic_keys_new(&rx, &m, false), HO_OK);
    uint8_t pkt[64] = {0x40 | 0x18 | 0x01, 0x00, 0x09, 0x01, 0x00, 0x00};
    CHECK_EQ(ho_quic_packet_protect(tx.aead, tx.hp, pkt, 1, 6, 9), HO_OK);
    ho_quic_header rh;
    CHECK_EQ(ho_quic_header_parse(pkt, 22, 0, &rh), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, pkt, &rh, 8), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));
    /* Handshake, reserved bit 0x08, 1-byte pn 5, Length = 1 + 3 + 16. */
    uint8_t lpkt[64] = {0xe0 | 0x08, 0, 0, 0, 1, 0, 0, 0x40, 20, 0x05, 0x01, 0, 0};
    CHECK_EQ(ho_quic_packet_protect(tx.aead, tx.hp, lpkt, 9, 13, 5), HO_OK);
    CHECK_EQ(ho_quic_header_parse(lpkt, 29, 0, &rh), HO_OK);
    CHECK_EQ(rh.type, HO_QUIC_PKT_HANDSHAKE);
    CHECK_EQ(rh.packet_len, 29);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, lpkt, &rh, 4), HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION));

    /* Builder misuse. */
    ho_buf b;
    ho_buf_init(&b);
    size_t start;
    ho_quic_header h = {.type = HO_QUIC_PKT_HANDSHAKE, .version = HO_QUIC_VERSION_1, .pn_len = 5};
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_ERR_INVALID_ARG);
    h.pn_len = 1;
    h.token_len = 1;
    h.token = (const uint8_t *)"x";
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_ERR_INVALID_ARG);
    h.token_len = 0;
    h.type = HO_QUIC_PKT_RETRY;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_ERR_INVALID_ARG);
    h.type = HO_QUIC_PKT_HANDSHAKE;
    h.version = 0x1a2a3a4a;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_ERR_INVALID_ARG);
    /* A long header whose Length does not fit two bytes. */
    h.version = HO_QUIC_VERSION_1;
    CHECK_EQ(ho_quic_header_write(&b, &h, &start), HO_OK);
    ho_put_space(&b, 16384);
    CHECK_EQ(ho_quic_packet_seal(&b, start, &h, &tx, 0), HO_ERR_INVALID_ARG);
    ho_buf_free(&b);

    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    free(secret);
}

/* ---- packet numbers ----------------------------------------------------- */

static void test_packet_numbers(void)
{
    /* RFC 9000 Appendix A.2. */
    CHECK_EQ(ho_quic_pn_len(0xac5c02, 0xabe8b3), 2);
    CHECK_EQ(ho_quic_pn_len(0xace8fe, 0xabe8b3), 3);
    /* RFC 9000 Appendix A.3. */
    CHECK_EQ(ho_quic_pn_decode(0x9b32, 2, 0xa82f30ea), 0xa82f9b32);
    /* Before any acknowledgment, the full number (§17.1). */
    CHECK_EQ(ho_quic_pn_len(0, HO_QUIC_PN_NONE), 1);
    CHECK_EQ(ho_quic_pn_len(126, HO_QUIC_PN_NONE), 1);
    CHECK_EQ(ho_quic_pn_len(127, HO_QUIC_PN_NONE), 2);
    CHECK_EQ(ho_quic_pn_len(1u << 20, HO_QUIC_PN_NONE), 3);
    CHECK_EQ(ho_quic_pn_len(1u << 30, HO_QUIC_PN_NONE), 4);
    CHECK_EQ(ho_quic_pn_len(10, 9), 1);
    CHECK_EQ(ho_quic_pn_len(9, 9), 4); /* misuse: widest */
    CHECK_EQ(ho_quic_pn_len(HO_QUIC_PN_MAX, HO_QUIC_PN_MAX - 200), 2);
    /* Decode: wrap forwards, backwards, the first packet, the 2^62 edge. */
    CHECK_EQ(ho_quic_pn_decode(0x00, 1, 0xff), 0x100);
    CHECK_EQ(ho_quic_pn_decode(0xff, 1, 0x100), 0xff);
    CHECK_EQ(ho_quic_pn_decode(0x05, 1, HO_QUIC_PN_NONE), 5);
    CHECK_EQ(ho_quic_pn_decode(0x7f, 1, HO_QUIC_PN_NONE), 0x7f);
    CHECK_EQ(ho_quic_pn_decode(0xfffffffe, 4, HO_QUIC_PN_MAX - 1), HO_QUIC_PN_MAX - 1);
    CHECK_EQ(ho_quic_pn_decode(0x00, 1, HO_QUIC_PN_MAX - 1), HO_QUIC_PN_MAX - 0xff + 0);
    CHECK_EQ(ho_quic_pn_decode(0, 0, 5), HO_QUIC_PN_NONE);
    /* Round trip: encode with the chosen length, decode at the receiver's
     * largest = largest_acked (the worst case the sender accounts for). */
    uint64_t bases[] = {0, 1, 200, 0xfffe, 0x1234567, (1ULL << 40) + 3};
    int ok = 0, total = 0;
    for (size_t i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
        for (uint64_t d = 1; d < 70000; d += 37) {
            uint64_t acked = bases[i], pn = acked + d;
            uint8_t len = ho_quic_pn_len(pn, acked);
            uint64_t trunc = pn & ((1ULL << (8 * len)) - 1);
            total++;
            ok += ho_quic_pn_decode(trunc, len, acked) == pn;
        }
    }
    CHECK_EQ(ok, total);
}

/* ---- hostile headers ---------------------------------------------------- */

static void test_parse_garbage(void)
{
    size_t n;
    uint8_t *pkt = ho_test_unhex(client_protected_hex, &n);
    ho_quic_header h;
    ho_quic_invariant inv;
    /* Every truncation: an error or a packet inside the input, never a read
     * past it (ASan watches the heap copy). */
    int discards = 0;
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, pkt, len);
        int rc = ho_quic_header_parse(copy, len, 8, &h);
        if (rc == HO_OK)
            CHECK(h.packet_len <= len);
        else
            discards++;
        ho_quic_invariant_parse(copy, len, 8, &inv);
        free(copy);
    }
    /* The Length field says 1182 after an 18-byte header: all shorter ones fail. */
    CHECK_EQ(discards, n);
    CHECK_EQ(ho_quic_header_parse(pkt, 0, 8, &h), HO_ERR_QUIC_DISCARD);

    /* Fixed bit 0, long and short (RFC 9000 §17.2, §17.3.1). */
    pkt[0] &= (uint8_t)~0x40;
    CHECK_EQ(ho_quic_header_parse(pkt, n, 8, &h), HO_ERR_QUIC_DISCARD);
    uint8_t shorthdr[32] = {0x01, 1, 2, 3, 4};
    CHECK_EQ(ho_quic_header_parse(shorthdr, sizeof(shorthdr), 4, &h), HO_ERR_QUIC_DISCARD);
    shorthdr[0] = 0x41;
    CHECK_EQ(ho_quic_header_parse(shorthdr, sizeof(shorthdr), 4, &h), HO_OK);
    CHECK_EQ(h.pn_offset, 5);
    CHECK_EQ(ho_quic_header_parse(shorthdr, 4, 4, &h), HO_ERR_QUIC_DISCARD);
    CHECK_EQ(ho_quic_header_parse(shorthdr, 5, 4, &h), HO_OK); /* parse ok; unprotect will refuse */
    CHECK_EQ(ho_quic_header_parse(shorthdr, sizeof(shorthdr), 21, &h), HO_ERR_INVALID_ARG);
    pkt[0] |= 0x40;

    /* DCID / SCID length 21 in version 1: dropped (§17.2). */
    uint8_t longhdr[64] = {0xc0, 0, 0, 0, 1, 21};
    CHECK_EQ(ho_quic_header_parse(longhdr, sizeof(longhdr), 0, &h), HO_ERR_QUIC_DISCARD);
    longhdr[5] = 0;
    longhdr[6] = 21;
    CHECK_EQ(ho_quic_header_parse(longhdr, sizeof(longhdr), 0, &h), HO_ERR_QUIC_DISCARD);
    /* Token length beyond the packet; Length beyond the packet. */
    longhdr[6] = 0;
    longhdr[7] = 0x7f;
    longhdr[8] = 0xff;
    CHECK_EQ(ho_quic_header_parse(longhdr, sizeof(longhdr), 0, &h), HO_ERR_QUIC_DISCARD);
    longhdr[7] = 0;
    longhdr[8] = 0x40 | 0;
    longhdr[9] = 56;
    CHECK_EQ(ho_quic_header_parse(longhdr, sizeof(longhdr), 0, &h), HO_ERR_QUIC_DISCARD);
    longhdr[9] = 54; /* 10 + 54 = 64: exact */
    CHECK_EQ(ho_quic_header_parse(longhdr, sizeof(longhdr), 0, &h), HO_OK);
    CHECK_EQ(h.packet_len, 64);
    /* Unknown version: reported, CIDs available through the invariants,
     * even 255-byte ones (RFC 8999). */
    uint8_t odd[600] = {0x80, 0xfa, 0xce, 0xb0, 0x0c, 255};
    odd[6 + 255] = 200;
    CHECK_EQ(ho_quic_header_parse(odd, sizeof(odd), 0, &h), HO_ERR_QUIC_VERSION);
    CHECK_EQ(h.version, 0xfaceb00c);
    CHECK_EQ(ho_quic_invariant_parse(odd, sizeof(odd), 0, &inv), HO_OK);
    CHECK(inv.is_long && inv.version == 0xfaceb00c && inv.dcid_len == 255 && inv.scid_len == 200);
    CHECK(inv.dcid == odd + 6 && inv.scid == odd + 6 + 256);
    CHECK_EQ(ho_quic_invariant_parse(odd, 6 + 255 + 200, 0, &inv), HO_ERR_QUIC_DISCARD);
    CHECK_EQ(ho_quic_invariant_parse(shorthdr, sizeof(shorthdr), 8, &inv), HO_OK);
    CHECK(!inv.is_long && inv.dcid == shorthdr + 1 && inv.dcid_len == 8);
    CHECK_EQ(ho_quic_invariant_parse(shorthdr, 8, 8, &inv), HO_ERR_QUIC_DISCARD);

    /* Random bytes: never a crash, and any packet found lies inside. */
    uint32_t x = 0x12345678;
    int ok = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t buf[48];
        size_t len = 1 + (size_t)(i % 48);
        for (size_t j = 0; j < len; j++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            buf[j] = (uint8_t)x;
        }
        if (i % 3 == 0 && len > 5) { /* mostly version 1 long headers */
            buf[0] |= 0xc0;
            buf[1] = buf[2] = buf[3] = 0;
            buf[4] = 1;
        }
        uint8_t *heap = malloc(len);
        memcpy(heap, buf, len);
        int rc = ho_quic_header_parse(heap, len, 4, &h);
        ok += rc != HO_OK || (h.packet_len <= len && h.pn_offset <= h.packet_len);
        free(heap);
    }
    CHECK_EQ(ok, 20000);
    free(pkt);
}

/* ---- Version Negotiation ------------------------------------------------ */

static void test_version_negotiation(void)
{
    ho_buf b;
    ho_buf_init(&b);
    const uint8_t their_dcid[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    const uint8_t their_scid[] = {0xaa, 0xbb};
    const uint32_t versions[] = {HO_QUIC_VERSION_1, 0x1a2a3a4a};
    CHECK_EQ(ho_quic_vn_write(&b, their_dcid, 9, their_scid, 2, versions, 2, 0x15), HO_OK);
    CHECK_HEX(b.data, b.len, "d500000000 02aabb 09010203040506070809 00000001 1a2a3a4a");
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(b.data, b.len, 0, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_VERSION_NEGOTIATION);
    CHECK_EQ(h.version, 0);
    CHECK(h.dcid.len == 2 && memcmp(h.dcid.data, their_scid, 2) == 0);
    CHECK(h.scid.len == 9 && memcmp(h.scid.data, their_dcid, 9) == 0);
    CHECK_EQ(h.version_count, 2);
    CHECK_EQ(ho_quic_vn_version(&h, 0), HO_QUIC_VERSION_1);
    CHECK_EQ(ho_quic_vn_version(&h, 1), 0x1a2a3a4a);
    CHECK_EQ(ho_quic_vn_version(&h, 2), 0);
    CHECK_EQ(h.packet_len, b.len);
    /* The fixed bit does not matter in VN; a partial version or none does. */
    b.data[0] = 0x80;
    CHECK_EQ(ho_quic_header_parse(b.data, b.len, 0, &h), HO_OK);
    CHECK_EQ(ho_quic_header_parse(b.data, b.len - 1, 0, &h), HO_ERR_QUIC_DISCARD);
    CHECK_EQ(ho_quic_header_parse(b.data, b.len - 8, 0, &h), HO_ERR_QUIC_DISCARD);
    CHECK_EQ(ho_quic_vn_write(&b, their_dcid, 9, their_scid, 2, versions, 0, 0), HO_ERR_INVALID_ARG);
    /* Answering a 255-byte CID of some other version: allowed to build. */
    uint8_t big[255];
    memset(big, 7, sizeof(big));
    b.len = 0;
    CHECK_EQ(ho_quic_vn_write(&b, big, 255, big, 0, versions, 1, 0), HO_OK);
    CHECK_EQ(b.len, 1 + 4 + 1 + 0 + 1 + 255 + 4);
    CHECK_EQ(ho_quic_header_parse(b.data, b.len, 0, &h), HO_ERR_QUIC_DISCARD); /* not a v1 client's */
    ho_buf_free(&b);
}

/* ---- coalesced datagrams ------------------------------------------------ */

static void test_coalesced(void)
{
    size_t n;
    uint8_t *server = ho_test_unhex(server_protected_hex, &n);
    ho_quic_key_material m;
    uint8_t secret[32] = {1};
    CHECK_EQ(ho_quic_key_material_derive(HO_QUIC_VERSION_1, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, secret, &m), HO_OK);
    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_keys_new(&tx, &m, true), HO_OK);
    CHECK_EQ(ho_quic_keys_new(&rx, &m, false), HO_OK);

    /* Initial (A.3) + Handshake + a Handshake for another DCID + 1-RTT. */
    ho_buf d;
    ho_buf_init(&d);
    ho_put_bytes(&d, server, n);
    size_t start;
    ho_quic_header h = {.type = HO_QUIC_PKT_HANDSHAKE, .version = HO_QUIC_VERSION_1, .pn = 0, .pn_len = 1};
    CHECK_EQ(ho_quic_header_write(&d, &h, &start), HO_OK);
    ho_put_bytes(&d, "\x06\x00\x05hello", 8);
    CHECK_EQ(ho_quic_packet_seal(&d, start, &h, &tx, 0), HO_OK);
    size_t hs_len = d.len - start;
    ho_quic_header other = h;
    ho_quic_cid_set(&other.dcid, (const uint8_t *)"zz", 2);
    CHECK_EQ(ho_quic_header_write(&d, &other, &start), HO_OK);
    ho_put_u8(&d, 0x01);
    CHECK_EQ(ho_quic_packet_seal(&d, start, &other, &tx, 0), HO_OK);
    ho_quic_header s = {.type = HO_QUIC_PKT_1RTT, .pn = 3, .pn_len = 2};
    CHECK_EQ(ho_quic_header_write(&d, &s, &start), HO_OK);
    ho_put_bytes(&d, "\x01\x01\x01", 3);
    CHECK_EQ(ho_quic_packet_seal(&d, start, &s, &tx, 1200 - start), HO_OK);
    CHECK_EQ(d.len, 1200);

    ho_quic_datagram_iter it;
    ho_quic_datagram_iter_init(&it, d.data, d.len, 0);
    uint8_t *pkt;
    ho_quic_header ph;
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_OK);
    CHECK(pkt == d.data && ph.type == HO_QUIC_PKT_INITIAL && ph.packet_len == n);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_OK);
    CHECK(pkt == d.data + n && ph.type == HO_QUIC_PKT_HANDSHAKE && ph.packet_len == hs_len);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, pkt, &ph, HO_QUIC_PN_NONE), HO_OK);
    CHECK(ph.payload_len == 8 && memcmp(pkt + ph.payload_offset, "\x06\x00\x05hello", 8) == 0);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_OK);
    CHECK_EQ(it.skipped, 1);
    CHECK(ph.type == HO_QUIC_PKT_1RTT && pkt + ph.packet_len == d.data + d.len);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, pkt, &ph, 2), HO_OK);
    CHECK_EQ(ph.pn, 3);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_ERR_NOT_FOUND);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_ERR_NOT_FOUND);

    /* Trailing junk after a long header packet ends the iteration. */
    uint8_t junk[256];
    memcpy(junk, server, n);
    memset(junk + n, 0, sizeof(junk) - n);
    ho_quic_datagram_iter_init(&it, junk, sizeof(junk), 0);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_OK);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_ERR_QUIC_DISCARD);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_ERR_NOT_FOUND);
    /* An empty datagram has nothing. */
    ho_quic_datagram_iter_init(&it, junk, 0, 0);
    CHECK_EQ(ho_quic_datagram_next(&it, &ph, &pkt), HO_ERR_NOT_FOUND);

    ho_buf_free(&d);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    free(server);
}

static void test_misc(void)
{
    ho_quic_cid a, b;
    uint8_t big[21] = {0};
    CHECK_EQ(ho_quic_cid_set(&a, big, 21), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_quic_cid_set(&a, big, 20), HO_OK);
    CHECK_EQ(ho_quic_cid_set(&b, big, 19), HO_OK);
    CHECK(!ho_quic_cid_eq(&a, &b));
    CHECK_EQ(ho_quic_cid_set(&b, NULL, 0), HO_OK);
    CHECK_EQ(ho_quic_varint_len(63), 1);
    CHECK_EQ(ho_quic_varint_len(64), 2);
    CHECK_EQ(ho_quic_varint_len(16383), 2);
    CHECK_EQ(ho_quic_varint_len(16384), 4);
    CHECK_EQ(ho_quic_varint_len((1u << 30) - 1), 4);
    CHECK_EQ(ho_quic_varint_len(1u << 30), 8);
    CHECK(strcmp(ho_quic_pkt_type_name(HO_QUIC_PKT_HANDSHAKE), "handshake") == 0);
    CHECK_EQ(ho_quic_err_wire_code(HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR)), 0x07);
    CHECK_EQ(ho_quic_err_wire_code(HO_ERR_TLS_ALERT(109)), 0x16d);
    CHECK_EQ(ho_quic_err_wire_code(HO_ERR_NOMEM), HO_QUIC_INTERNAL_ERROR);
    CHECK(strcmp(ho_quic_transport_error_name(0x0a), "PROTOCOL_VIOLATION") == 0);
    CHECK(strcmp(ho_quic_transport_error_name(0x128), "CRYPTO_ERROR") == 0);
}

/* ---- interop: a real client's first datagram --------------------------- */

/* The first datagram of ngtcp2 0.12's gtlsclient (Debian ngtcp2-client),
 * captured on 127.0.0.1: an Initial with an 18-byte DCID, a CRYPTO frame
 * carrying its ClientHello, PADDING to 1200 bytes. */
static const char ngtcp2_initial_hex[] =
    "c9000000011215ae88095d3ffd8cb19683f4b7f588c648841152b76cbf7f8d57"
    "220371b2565c5d15bf1c00800004817dc8d0d8a6e4b3b21714530136dc1525c7"
    "b7bdb4f7af460a8c4e364f642be8a09372f5298e7b8e066e052ec812ca448274"
    "44782f91630e849b1a16ef5840f58584f69010ff6ad5c6de6c7e67520c0bf7c1"
    "06953f4cc89a9493088d689d9e43c5e679d28063aa03fc4b5116cf332932d6d4"
    "8c2e4490f4b3e755b7f82af28b0578f5981cafae769f365e7f918d324bbae7ba"
    "e63f3ce7508490eb3a8cc2f4be24f7714c723ffa227f2d19a55650f627556890"
    "827dc5ebcee996d25809419e0a11c5cf1ac5a179a554ebd36f68efbc5a5766e6"
    "2080b9766682c0f609a59221ba43a20296ff769e76fd2c693481735f65ee065e"
    "57066692efd2ab8ea6b4f19952974813bd413156f2fcc6775fec45d0e4324049"
    "d22367cf96b1250d798e7069986197553836254fc9761a99026cc95ce29f13ad"
    "5f069115ff26501cbbfe28e7f1d58b694d6dd79f1ae65ef4acd02c4800918962"
    "012895d4d95156051fd2709347ff3ddaa74a2c86a39372ec989323302c9a93d5"
    "6e890c5c5c1fbbfd78289935cfa044fe635b65f8735dc62dad1e53aa069a4a5d"
    "5c856cb59f4fce9727f157c7f9d12b48f66f19ca93c37e1d57ddcd44540b5d35"
    "ad8898169b3805a1793300a17b0790e798e5a1452dab9b45f11397dec330a2a1"
    "349ccfd67dbfa6d5a12aeb1e6dd2e3f65958cb50470438784fef01576f2f3932"
    "5169c227f604010967873e630fd50081a7792b7d9ab172299d1017f835e4997e"
    "b32a0036306e5489b1564d2de8f34d01b40370ccdb8df5693fea44e3b9cff909"
    "082e09260f32824b09d1773ff02a663eb95da3fd496b2aa13e8a06162812a4de"
    "ffe720e07f79a3a8329d953a08c9393c938d0a851b04e0ed5c3e579fbe0599db"
    "e52978f9a37fc6fcd943c1b12d56f2375952e3e3c0786077d33e61149ed4717b"
    "c7c8d45466c84cf0fa3accd7b7647ba3ea9aa719b999d7229ea9f53abd1a5ec4"
    "569e3e881bbb385f31ffbe95880bfe99d8dced5e2b03f554983facd9f6ba55d4"
    "504e3fa111b34f5e7bd2ff58d0089aa5e486acfffa8ada51b8fba1f502086da5"
    "5826fabae87b64b7f9e8651bcabed5a2c821b3d6b2cfa4a1cf0a941f6c5e52cd"
    "3d6ec5d058980335ff7ea25220b29310377fbe0dd1f368fcb62661ed670ff76f"
    "a93b884cdaf8d51c38f222961d8f527d398c31afc39e0b4d297824c0980d1339"
    "cc90b56091c396393c9544bd8aeea506b2f1ec38f5b64696e1e259d50d0cf002"
    "5aff4859a13d85b33836488437fe5fdf472267b697b9eba806a6068198c50d59"
    "5800ca345e8d62a45ebfdc117a637e78df61e5100da6620050c9db965f5ca764"
    "65688248c932a7d65df932ed5465fdd6205229f666cb67bd64ecea9840c4e86a"
    "8de2af7fe3854eb59869b242f8b3f8929a8fd2032b9d759bc889b95947dff0d3"
    "37660a837cc90b5a6bb9cdd5681a7e5fec4886eaa1efb9169af4145cb2bee070"
    "36d4ca66f1e3c4ae08ccd29fcd8da4862d8f00c5d6d4a79fcad6c475150fa295"
    "8d94cc1e69d7d7f03369de1b2d38c17769cb6237961a3266ff978601d61a68ff"
    "1ca8458e2390cc707e1160d7006c276f3ad97b7fd8665f5ca350814c9f01f547"
    "6b0ad4797ff2de036cf99b5e16a74f4a";

static void test_ngtcp2_initial(void)
{
    size_t n;
    uint8_t *d = ho_test_unhex(ngtcp2_initial_hex, &n);
    CHECK_EQ(n, 1200);
    ho_quic_header h;
    CHECK_EQ(ho_quic_header_parse(d, n, 8, &h), HO_OK);
    CHECK_EQ(h.type, HO_QUIC_PKT_INITIAL);
    CHECK_EQ(h.dcid.len, 18);
    CHECK_EQ(h.scid.len, 17);
    CHECK_EQ(h.packet_len, 1200);
    ho_quic_keys tx, rx;
    CHECK_EQ(ho_quic_initial_keys(HO_QUIC_VERSION_1, h.dcid.data, h.dcid.len, true, &tx, &rx), HO_OK);
    CHECK_EQ(ho_quic_packet_unprotect(&rx, d, &h, HO_QUIC_PN_NONE), HO_OK);
    CHECK_EQ(h.pn, 0);
    ho_quic_frame_reader r;
    ho_quic_frame f;
    ho_quic_frame_reader_init(&r, d + h.payload_offset, h.payload_len, HO_QUIC_PKT_INITIAL, false);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(f.type, HO_QUIC_FT_CRYPTO);
    CHECK_EQ(f.crypto.offset, 0);
    ho_quic_frame crypto = f;
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_OK);
    CHECK_EQ(f.type, HO_QUIC_FT_PADDING);
    CHECK_EQ(ho_quic_frame_read(&r, &f), HO_ERR_NOT_FOUND);
    CHECK_EQ(r.flags & HO_QUIC_FRAME_ACK_ELICITING, HO_QUIC_FRAME_ACK_ELICITING);
    /* Its ClientHello's quic_transport_parameters (0x39). */
    ho_cursor c = ho_cursor_make(crypto.crypto.data, crypto.crypto.len), blk, exts;
    uint8_t type;
    uint32_t len;
    uint16_t ext;
    CHECK(ho_get_u8(&c, &type) && type == 1 && ho_get_u24(&c, &len) && len == c.len);
    CHECK(ho_skip(&c, 2 + 32) && ho_get_block(&c, 1, &blk) && ho_get_block(&c, 2, &blk) &&
          ho_get_block(&c, 1, &blk) && ho_get_block(&c, 2, &exts));
    bool found = false;
    while (ho_get_u16(&exts, &ext) && ho_get_block(&exts, 2, &blk)) {
        if (ext != HO_QUIC_TP_EXTENSION)
            continue;
        found = true;
        ho_quic_tparams tp;
        CHECK_EQ(ho_quic_tparams_decode(blk.p, blk.len, false, &tp), HO_OK);
        CHECK(ho_quic_cid_eq(&tp.initial_scid, &h.scid));
        CHECK_EQ(tp.max_idle_timeout, 30000);
        CHECK_EQ(tp.initial_max_data, 15728640);
        CHECK_EQ(tp.initial_max_stream_data_bidi_local, 6291456);
        CHECK_EQ(tp.initial_max_stream_data_bidi_remote, 6291456);
        CHECK_EQ(tp.initial_max_stream_data_uni, 6291456);
        CHECK_EQ(tp.initial_max_streams_bidi, 0);
        CHECK_EQ(tp.initial_max_streams_uni, 100);
        CHECK_EQ(tp.active_connection_id_limit, 7);
        /* grease_quic_bit (0x2ab2) and a draft version_information id are
         * unknown to us and skipped. */
        CHECK(!ho_quic_tparams_has(&tp, 0x2ab2));
    }
    CHECK(found);
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
    free(d);
}

int main(void)
{
    RUN(test_initial_keys);
    RUN(test_client_initial);
    RUN(test_server_initial);
    RUN(test_retry);
    RUN(test_chacha_short);
    RUN(test_seal_roundtrip);
    RUN(test_packet_numbers);
    RUN(test_parse_garbage);
    RUN(test_version_negotiation);
    RUN(test_coalesced);
    RUN(test_misc);
    RUN(test_ngtcp2_initial);
    return ho_test_summary("test_quic_packet");
}
