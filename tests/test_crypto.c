/* Unit tests for src/crypto/: hashes, HMAC/HKDF, AEAD, header protection,
 * key exchange, signatures and certificates, against published vectors. */
#include "harness.h"
#include "crypto/prim.h"

#include <time.h>


/* ---- hashes, HMAC, HKDF ---------------------------------------------- */

static void test_hash(void)
{
    uint8_t out[CRYPTO_HASH_MAX];
    CHECK_EQ(crypto_hash_len(HO_HASH_SHA256), 32);
    CHECK_EQ(crypto_hash_len(HO_HASH_SHA384), 48);
    CHECK_EQ(crypto_hash(HO_HASH_SHA256, "abc", 3, out), HO_OK);
    CHECK_HEX(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ(crypto_hash(HO_HASH_SHA384, "abc", 3, out), HO_OK);
    CHECK_HEX(out, 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                       "8086072ba1e7cc2358baeca134c825a7");
    CHECK_EQ(crypto_hash(HO_HASH_SHA256, NULL, 0, out), HO_OK);
    CHECK_HEX(out, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");

    /* The transcript context: incremental, peek leaves it usable, dup forks. */
    crypto_hash_ctx *c = crypto_hash_ctx_new(HO_HASH_SHA256);
    CHECK(c != NULL);
    CHECK_EQ(crypto_hash_ctx_update(c, "a", 1), HO_OK);
    CHECK_EQ(crypto_hash_ctx_peek(c, out), HO_OK);
    CHECK_HEX(out, 32, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
    crypto_hash_ctx *d = crypto_hash_ctx_dup(c);
    CHECK(d != NULL);
    CHECK_EQ(crypto_hash_ctx_update(c, "bc", 2), HO_OK);
    CHECK_EQ(crypto_hash_ctx_peek(c, out), HO_OK);
    CHECK_HEX(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ(crypto_hash_ctx_peek(c, out), HO_OK); /* twice gives the same */
    CHECK_HEX(out, 32, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK_EQ(crypto_hash_ctx_peek(d, out), HO_OK);
    CHECK_HEX(out, 32, "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb");
    crypto_hash_ctx_free(c);
    crypto_hash_ctx_free(d);
    c = crypto_hash_ctx_new(HO_HASH_SHA384);
    CHECK_EQ(crypto_hash_ctx_update(c, "abc", 3), HO_OK);
    CHECK_EQ(crypto_hash_ctx_peek(c, out), HO_OK);
    CHECK_HEX(out, 48, "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed"
                       "8086072ba1e7cc2358baeca134c825a7");
    crypto_hash_ctx_free(c);
    CHECK(crypto_hash_ctx_new((ho_hash_alg)7) == NULL);
}

static void test_hmac(void)
{
    uint8_t out[CRYPTO_HASH_MAX];
    /* RFC 4231 §4.3, test case 2. */
    const char *data = "what do ya want for nothing?";
    CHECK_EQ(crypto_hmac(HO_HASH_SHA256, "Jefe", 4, data, strlen(data), out), HO_OK);
    CHECK_HEX(out, 32, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK_EQ(crypto_hmac(HO_HASH_SHA384, "Jefe", 4, data, strlen(data), out), HO_OK);
    CHECK_HEX(out, 48, "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e"
                       "8e2240ca5e69e2c78b3239ecfab21649");
    /* RFC 4231 §4.7, test case 6: a key longer than the block is hashed. */
    uint8_t key[131];
    memset(key, 0xaa, sizeof(key));
    const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    CHECK_EQ(crypto_hmac(HO_HASH_SHA256, key, sizeof(key), data6, strlen(data6), out), HO_OK);
    CHECK_HEX(out, 32, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

static void test_hkdf(void)
{
    /* RFC 5869 Appendix A.1, test case 1. */
    uint8_t ikm[22], salt[13], info[10], prk[32], okm[42];
    memset(ikm, 0x0b, sizeof(ikm));
    for (int i = 0; i < 13; i++)
        salt[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++)
        info[i] = (uint8_t)(0xf0 + i);
    CHECK_EQ(crypto_hkdf_extract(HO_HASH_SHA256, salt, sizeof(salt), ikm, sizeof(ikm), prk), HO_OK);
    CHECK_HEX(prk, 32, "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5");
    CHECK_EQ(crypto_hkdf_expand(HO_HASH_SHA256, prk, info, sizeof(info), okm, sizeof(okm)), HO_OK);
    CHECK_HEX(okm, 42, "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
                       "34007208d5b887185865");
    /* Output may alias the PRK, also across several blocks. */
    uint8_t inplace[42];
    memcpy(inplace, prk, 32);
    CHECK_EQ(crypto_hkdf_expand(HO_HASH_SHA256, inplace, info, sizeof(info), inplace, sizeof(inplace)), HO_OK);
    CHECK_MEM(inplace, okm, 42);
    /* RFC 5869 §2.3: L > 255 * HashLen is refused. */
    uint8_t big[255 * 32 + 1];
    CHECK_EQ(crypto_hkdf_expand(HO_HASH_SHA256, prk, info, sizeof(info), big, sizeof(big)), HO_ERR_INVALID_ARG);
    CHECK_EQ(crypto_hkdf_expand(HO_HASH_SHA256, prk, info, sizeof(info), big, sizeof(big) - 1), HO_OK);
}

/* RFC 9001 Appendix A.1: QUIC v1 Initial secrets (HKDF-Expand-Label). */
static void test_quic_initial_secrets(void)
{
    size_t saltlen, cidlen;
    uint8_t *salt = ho_test_unhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a", &saltlen);
    uint8_t *cid = ho_test_unhex("8394c8f03e515708", &cidlen);
    uint8_t initial[32], secret[32], key[16], iv[12], hp[16];
    CHECK_EQ(crypto_hkdf_extract(HO_HASH_SHA256, salt, saltlen, cid, cidlen, initial), HO_OK);
    CHECK_HEX(initial, 32, "7db5df06e7a69e432496adedb00851923595221596ae2ae9fb8115c1e9ed0a44");

    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, initial, "client in", NULL, 0, secret, 32), HO_OK);
    CHECK_HEX(secret, 32, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic key", NULL, 0, key, 16), HO_OK);
    CHECK_HEX(key, 16, "1f369613dd76d5467730efcbe3b1a22d");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic iv", NULL, 0, iv, 12), HO_OK);
    CHECK_HEX(iv, 12, "fa044b2f42a3fd3b46fb255c");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic hp", NULL, 0, hp, 16), HO_OK);
    CHECK_HEX(hp, 16, "9f50449e04a0e810283a1e9933adedd2");

    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, initial, "server in", NULL, 0, secret, 32), HO_OK);
    CHECK_HEX(secret, 32, "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic key", NULL, 0, key, 16), HO_OK);
    CHECK_HEX(key, 16, "cf3a5331653c364c88f0f379b6067e37");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic iv", NULL, 0, iv, 12), HO_OK);
    CHECK_HEX(iv, 12, "0ac1493ca1905853b0bba03e");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, secret, "quic hp", NULL, 0, hp, 16), HO_OK);
    CHECK_HEX(hp, 16, "c206b8d9b9f0f37644430b490eeaa314");

    /* RFC 9001 A.5: a 32-byte ChaCha20 key and hp key from an application secret. */
    size_t n;
    uint8_t *app = ho_test_unhex("9ac312a7f877468ebe69422748ad00a15443f18203a07d6060f688f30f21632b", &n);
    uint8_t k32[32];
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, app, "quic key", NULL, 0, k32, 32), HO_OK);
    CHECK_HEX(k32, 32, "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, app, "quic hp", NULL, 0, k32, 32), HO_OK);
    CHECK_HEX(k32, 32, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, app, "quic ku", NULL, 0, k32, 32), HO_OK);
    CHECK_HEX(k32, 32, "1223504755036d556342ee9361d253421a826c9ecdf3c7148684b36b714881f9");
    free(app);
    free(salt);
    free(cid);
}

/* ---- AEAD and header protection -------------------------------------- */

/* Seals pt with (key, iv, seq, aad), compares with want_hex (ciphertext ||
 * tag), then opens it back in place. */
static void check_aead_vector(ho_aead_alg alg, const char *key_hex, const char *iv_hex, uint64_t seq,
                              const char *aad_hex, const char *pt_hex, const char *want_hex, int line)
{
    size_t keylen, ivlen, aadlen, ptlen, wantlen;
    uint8_t *key = ho_test_unhex(key_hex, &keylen);
    uint8_t *iv = ho_test_unhex(iv_hex, &ivlen);
    uint8_t *aad = ho_test_unhex(aad_hex, &aadlen);
    uint8_t *pt = ho_test_unhex(pt_hex, &ptlen);
    uint8_t *want = ho_test_unhex(want_hex, &wantlen);
    CHECK_EQ(keylen, crypto_aead_key_len(alg));
    CHECK_EQ(wantlen, ptlen + CRYPTO_AEAD_TAG_LEN);
    uint8_t *buf = malloc(ptlen + CRYPTO_AEAD_TAG_LEN);
    crypto_aead *enc = crypto_aead_new(alg, true, key, iv);
    crypto_aead *dec = crypto_aead_new(alg, false, key, iv);
    CHECK(enc != NULL && dec != NULL);
    CHECK_EQ(crypto_aead_alg_of(enc), alg);
    CHECK_EQ(crypto_aead_seal(enc, seq, aad, aadlen, pt, ptlen, buf), HO_OK);
    ho_test_check_hex(buf, ptlen + CRYPTO_AEAD_TAG_LEN, want_hex, __FILE__, line);
    CHECK_EQ(crypto_aead_open(dec, seq, aad, aadlen, buf, ptlen + CRYPTO_AEAD_TAG_LEN, buf), HO_OK);
    CHECK_MEM(buf, pt, ptlen);
    crypto_aead_free(enc);
    crypto_aead_free(dec);
    free(buf);
    free(key);
    free(iv);
    free(aad);
    free(pt);
    free(want);
}

static void test_aead_vectors(void)
{
    /* RFC 8439 §2.8.2 (our nonce is iv XOR seq: seq 0, iv = the RFC nonce). */
    check_aead_vector(HO_AEAD_CHACHA20_POLY1305,
                      "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f",
                      "070000004041424344454647", 0, "50515253c0c1c2c3c4c5c6c7",
                      "4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
                      "73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
                      "6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
                      "637265656e20776f756c642062652069742e",
                      "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
                      "3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
                      "92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
                      "3ff4def08e4b7a9de576d26586cec64b6116"
                      "1ae10b594f09e26a7e902ecbd0600691",
                      __LINE__);
    /* RFC 9001 A.5: ChaCha20-Poly1305 short header packet, pn 654360564. */
    check_aead_vector(HO_AEAD_CHACHA20_POLY1305,
                      "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8",
                      "e0459b3474bdd0e44a41c144", 654360564, "4200bff4", "01",
                      "655e5cd55c41f69080575d7999c25a5bfb", __LINE__);
    /* RFC 9001 A.3: the server Initial, AES-128-GCM, pn 1. */
    check_aead_vector(HO_AEAD_AES_128_GCM, "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", 1,
                      "c1000000010008f067a5502a4262b50040750001",
                      "02000000000600405a020000560303eefce7f7b37ba1d1632e96677825ddf739"
                      "88cfc79825df566dc5430b9a045a1200130100002e00330024001d00209d3c94"
                      "0d89690b84d08a60993c144eca684d1081287c834d5311bcf32bb9da1a002b00"
                      "020304",
                      "5a482cd0991cd25b0aac406a5816b6394100f37a1c69797554780bb38cc5a99f"
                      "5ede4cf73c3ec2493a1839b3dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73"
                      "cc3f3bded74b562bfb19fb84022f8ef4cdd93795d77d06edbb7aaf2f58891850"
                      "abbdca3d20398c276456cbc42158407dd074ee",
                      __LINE__);
}

static void test_aead_roundtrip(void)
{
    const ho_aead_alg algs[] = {HO_AEAD_AES_128_GCM, HO_AEAD_AES_256_GCM, HO_AEAD_CHACHA20_POLY1305};
    for (size_t a = 0; a < 3; a++) {
        uint8_t key[HO_AEAD_KEY_MAX], iv[HO_AEAD_IV_LEN];
        CHECK_EQ(ho_random(key, sizeof(key)), HO_OK);
        CHECK_EQ(ho_random(iv, sizeof(iv)), HO_OK);
        crypto_aead *enc = crypto_aead_new(algs[a], true, key, iv);
        crypto_aead *dec = crypto_aead_new(algs[a], false, key, iv);
        CHECK(enc != NULL && dec != NULL);
        const char aad[] = "header";
        uint8_t msg[300], buf[300 + CRYPTO_AEAD_TAG_LEN], out[300];
        for (size_t i = 0; i < sizeof(msg); i++)
            msg[i] = (uint8_t)(i * 7);
        for (uint64_t seq = 0; seq < 4; seq++) {
            size_t len = (size_t)(seq * 97); /* includes an empty record */
            CHECK_EQ(crypto_aead_seal(enc, seq, aad, sizeof(aad), msg, len, buf), HO_OK);
            CHECK_EQ(crypto_aead_open(dec, seq, aad, sizeof(aad), buf, len + CRYPTO_AEAD_TAG_LEN, out), HO_OK);
            CHECK_MEM(out, msg, len);
        }
        /* In place, with a large sequence number. */
        uint64_t seq = 0x0102030405060708ull;
        memcpy(buf, msg, 200);
        CHECK_EQ(crypto_aead_seal(enc, seq, NULL, 0, buf, 200, buf), HO_OK);
        CHECK(memcmp(buf, msg, 200) != 0);
        uint8_t sealed[200 + CRYPTO_AEAD_TAG_LEN];
        memcpy(sealed, buf, sizeof(sealed));
        CHECK_EQ(crypto_aead_open(dec, seq, NULL, 0, buf, 200 + CRYPTO_AEAD_TAG_LEN, buf), HO_OK);
        CHECK_MEM(buf, msg, 200);
        /* Tampering: ciphertext, tag, AAD, sequence number, truncation. */
        memcpy(buf, sealed, sizeof(sealed));
        buf[5] ^= 1;
        CHECK_EQ(crypto_aead_open(dec, seq, NULL, 0, buf, sizeof(sealed), out), HO_ERR_DECRYPT);
        memcpy(buf, sealed, sizeof(sealed));
        buf[sizeof(sealed) - 1] ^= 0x80;
        CHECK_EQ(crypto_aead_open(dec, seq, NULL, 0, buf, sizeof(sealed), out), HO_ERR_DECRYPT);
        CHECK_EQ(crypto_aead_open(dec, seq, "x", 1, sealed, sizeof(sealed), out), HO_ERR_DECRYPT);
        CHECK_EQ(crypto_aead_open(dec, seq + 1, NULL, 0, sealed, sizeof(sealed), out), HO_ERR_DECRYPT);
        CHECK_EQ(crypto_aead_open(dec, seq, NULL, 0, sealed, 10, out), HO_ERR_DECRYPT);
        /* The context still works after failures. */
        CHECK_EQ(crypto_aead_open(dec, seq, NULL, 0, sealed, sizeof(sealed), out), HO_OK);
        CHECK_MEM(out, msg, 200);
        /* Direction is fixed at creation. */
        CHECK_EQ(crypto_aead_open(enc, seq, NULL, 0, sealed, sizeof(sealed), out), HO_ERR_INVALID_ARG);
        crypto_aead_free(enc);
        crypto_aead_free(dec);
    }
    CHECK_EQ(crypto_aead_key_len(HO_AEAD_AES_128_GCM), 16);
    CHECK_EQ(crypto_aead_key_len(HO_AEAD_AES_256_GCM), 32);
    CHECK_EQ(crypto_aead_key_len(HO_AEAD_CHACHA20_POLY1305), 32);
}

static void check_hp(ho_aead_alg alg, const char *key_hex, const char *sample_hex, const char *mask_hex, int line)
{
    size_t n;
    uint8_t *key = ho_test_unhex(key_hex, &n);
    uint8_t *sample = ho_test_unhex(sample_hex, &n);
    uint8_t mask[5];
    crypto_hp *h = crypto_hp_new(alg, key);
    CHECK(h != NULL);
    if (h != NULL) {
        CHECK_EQ(crypto_hp_mask(h, sample, mask), HO_OK);
        ho_test_check_hex(mask, 5, mask_hex, __FILE__, line);
        CHECK_EQ(crypto_hp_mask(h, sample, mask), HO_OK); /* reusable */
        ho_test_check_hex(mask, 5, mask_hex, __FILE__, line);
    }
    crypto_hp_free(h);
    free(key);
    free(sample);
}

static void test_header_protection(void)
{
    /* RFC 9001 A.2 (client Initial), A.3 (server Initial), A.5 (ChaCha20). */
    check_hp(HO_AEAD_AES_128_GCM, "9f50449e04a0e810283a1e9933adedd2", "d1b1c98dd7689fb8ec11d242b123dc9b",
             "437b9aec36", __LINE__);
    check_hp(HO_AEAD_AES_128_GCM, "c206b8d9b9f0f37644430b490eeaa314", "2cd0991cd25b0aac406a5816b6394100",
             "2ec0d8356a", __LINE__);
    check_hp(HO_AEAD_CHACHA20_POLY1305, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4",
             "5e5cd55c41f69080575d7999c25a5bfb", "aefefe7d03", __LINE__);
    /* AES-256: no published vector; must at least work and be deterministic. */
    uint8_t key[32] = {1}, sample[16] = {2}, m1[5], m2[5];
    crypto_hp *h = crypto_hp_new(HO_AEAD_AES_256_GCM, key);
    CHECK(h != NULL && crypto_hp_mask(h, sample, m1) == HO_OK && crypto_hp_mask(h, sample, m2) == HO_OK);
    CHECK_MEM(m1, m2, 5);
    crypto_hp_free(h);
}

/* ---- key exchange ---------------------------------------------------- */

static void test_kex(void)
{
    const uint16_t groups[] = {HO_GROUP_X25519, HO_GROUP_SECP256R1, HO_GROUP_SECP384R1};
    const size_t publens[] = {32, 65, 97}, secretlens[] = {32, 32, 48};
    for (size_t g = 0; g < 3; g++) {
        CHECK(crypto_kex_group_supported(groups[g]));
        crypto_kex *a = crypto_kex_new(groups[g]), *b = crypto_kex_new(groups[g]);
        CHECK(a != NULL && b != NULL);
        if (a == NULL || b == NULL) {
            crypto_kex_free(a);
            crypto_kex_free(b);
            continue;
        }
        CHECK_EQ(crypto_kex_group(a), groups[g]);
        uint8_t pa[CRYPTO_KEX_PUB_MAX], pb[CRYPTO_KEX_PUB_MAX], sa[CRYPTO_KEX_SECRET_MAX], sb[CRYPTO_KEX_SECRET_MAX];
        size_t la, lb, lsa = 0, lsb = 0;
        CHECK_EQ(crypto_kex_public(a, pa, &la), HO_OK);
        CHECK_EQ(crypto_kex_public(b, pb, &lb), HO_OK);
        CHECK_EQ(la, publens[g]);
        CHECK_EQ(lb, publens[g]);
        CHECK(memcmp(pa, pb, la) != 0);
        CHECK_EQ(crypto_kex_derive(a, pb, lb, sa, &lsa), HO_OK);
        CHECK_EQ(crypto_kex_derive(b, pa, la, sb, &lsb), HO_OK);
        CHECK_EQ(lsa, secretlens[g]);
        CHECK(lsa == lsb && memcmp(sa, sb, lsa) == 0);
        /* Wrong lengths. */
        CHECK_EQ(crypto_kex_derive(a, pb, lb - 1, sa, &lsa), HO_ERR_BAD_PEER_KEY);
        CHECK_EQ(crypto_kex_derive(a, pb, 0, sa, &lsa), HO_ERR_BAD_PEER_KEY);
        if (groups[g] != HO_GROUP_X25519) {
            /* RFC 8446 §4.2.8.2: compressed points are not allowed. */
            uint8_t comp[CRYPTO_KEX_PUB_MAX];
            size_t clen = 1 + (lb - 1) / 2;
            comp[0] = (uint8_t)(0x02 | (pb[lb - 1] & 1));
            memcpy(comp + 1, pb + 1, clen - 1);
            CHECK_EQ(crypto_kex_derive(a, comp, clen, sa, &lsa), HO_ERR_BAD_PEER_KEY);
            /* Right length, wrong form byte. */
            memcpy(comp, pb, lb);
            comp[0] = 0x02;
            CHECK_EQ(crypto_kex_derive(a, comp, lb, sa, &lsa), HO_ERR_BAD_PEER_KEY);
            /* Not on the curve. */
            memcpy(comp, pb, lb);
            comp[lb - 1] ^= 1;
            CHECK_EQ(crypto_kex_derive(a, comp, lb, sa, &lsa), HO_ERR_BAD_PEER_KEY);
            memset(comp, 0, lb);
            comp[0] = 0x04;
            comp[(lb - 1) / 2] = 1;
            comp[lb - 1] = 1;
            CHECK_EQ(crypto_kex_derive(a, comp, lb, sa, &lsa), HO_ERR_BAD_PEER_KEY);
        } else {
            /* RFC 7748 §6.1: small-order points give an all-zero secret. */
            uint8_t zero[32] = {0}, one[32] = {1};
            CHECK_EQ(crypto_kex_derive(a, zero, 32, sa, &lsa), HO_ERR_BAD_PEER_KEY);
            CHECK_EQ(crypto_kex_derive(a, one, 32, sa, &lsa), HO_ERR_BAD_PEER_KEY);
        }
        /* Still usable after rejecting bad shares. */
        CHECK_EQ(crypto_kex_derive(a, pb, lb, sa, &lsa), HO_OK);
        CHECK(memcmp(sa, sb, lsa) == 0);
        crypto_kex_free(a);
        crypto_kex_free(b);
    }
    /* X25519MLKEM768: client share ek || x25519, server ct || x25519, secret
     * ML-KEM's || X25519's; wrong lengths and a bad ek are BAD_PEER_KEY. */
    {
        static uint8_t cs[CRYPTO_KEX_PUB_MAX], ss[CRYPTO_KEX_PUB_MAX];
        uint8_t k1[CRYPTO_KEX_SECRET_MAX], k2[CRYPTO_KEX_SECRET_MAX];
        size_t cl = sizeof(cs), sl = sizeof(ss), l1 = 0, l2 = 0;
        crypto_kex *a = crypto_kex_new(HO_GROUP_X25519MLKEM768);
        CHECK(a != NULL);
        CHECK_EQ(crypto_kex_public(a, cs, &cl), HO_OK);
        CHECK_EQ(cl, 1216);
        CHECK_EQ(crypto_kex_respond(HO_GROUP_X25519MLKEM768, cs, cl, ss, &sl, k1, &l1), HO_OK);
        CHECK_EQ(sl, 1120);
        CHECK_EQ(l1, 64);
        CHECK_EQ(crypto_kex_derive(a, ss, sl - 1, k2, &l2), HO_ERR_BAD_PEER_KEY);
        CHECK_EQ(crypto_kex_derive(a, ss, sl, k2, &l2), HO_OK);
        CHECK_EQ(l2, 64);
        CHECK_MEM(k1, k2, 64);
        CHECK_EQ(crypto_kex_respond(HO_GROUP_X25519MLKEM768, cs, cl - 1, ss, &sl, k1, &l1), HO_ERR_BAD_PEER_KEY);
        CHECK_EQ(crypto_kex_respond(HO_GROUP_X25519MLKEM768, cs, 32, ss, &sl, k1, &l1), HO_ERR_BAD_PEER_KEY);
        cs[0] = 0xff, cs[1] |= 0x0f; /* first coefficient 4095 >= q */
        CHECK_EQ(crypto_kex_respond(HO_GROUP_X25519MLKEM768, cs, cl, ss, &sl, k1, &l1), HO_ERR_BAD_PEER_KEY);
        crypto_kex_free(a);
    }
    CHECK(!crypto_kex_group_supported(0x001e));
    CHECK(crypto_kex_new(0x001e) == NULL);
}

/* ---- signatures and certificates ------------------------------------- */

/* Generated once with `openssl genpkey -algorithm ed25519` and
 * `openssl req -x509 -subj /CN=ed25519.test -days 36500`. */
static const char ed25519_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MC4CAQAwBQYDK2VwBCIEIDRBaBklGgAvGTn9STpfjmVo6jFoCWNXK4pRRjppJNZZ\n"
    "-----END PRIVATE KEY-----\n";
static const char ed25519_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBRDCB96ADAgECAhRQUBRAuDPMBGeqTDfE7KAGjL1GUDAFBgMrZXAwFzEVMBMG\n"
    "A1UEAwwMZWQyNTUxOS50ZXN0MCAXDTI2MTEyMjAyNDIwN1oYDzIxMjYxMDI5MDI0\n"
    "MjA3WjAXMRUwEwYDVQQDDAxlZDI1NTE5LnRlc3QwKjAFBgMrZXADIQD4o0Jm+6iz\n"
    "3gDTAizC20O1ojijWsil4Rs1G5tc+AwFbaNTMFEwHQYDVR0OBBYEFH7CafltkKbH\n"
    "NuuCP1LuwwV1nLwmMB8GA1UdIwQYMBaAFH7CafltkKbHNuuCP1LuwwV1nLwmMA8G\n"
    "A1UdEwEB/wQFMAMBAf8wBQYDK2VwA0EANXSWdrWf2489KLixs8GVkZWPXvnx5c4Q\n"
    "3IkcSFkrWelLj3mSXMwfzoqNmawhxxeyQAKyASa4v6vt/Ymd5npdAg==\n"
    "-----END CERTIFICATE-----\n";

/* Same, for an ECDSA P-384 key (`-pkeyopt ec_paramgen_curve:P-384`). */
static const char p384_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDHLrBTONmpD1MYABqP\n"
    "iUrpo7kgkxdCihGd/0sfV2c3G1gn+WfOutaaUujGlvrK3JShZANiAAQyti+yMSQP\n"
    "8hcv9FJhQA/OffyZyx0bOyfQNlzx46YkecCEaJkF2UjTckS+XaWqf+SfqtVvvluk\n"
    "yK3NKFQ0uBFToDV6iINRCs5HSNTMEJ8NZpzLOcZNf7WTfGoOCdXMGM0=\n"
    "-----END PRIVATE KEY-----\n";
static const char p384_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBuzCCAUKgAwIBAgIUA01v22/GXFO+9QAl2snoU8yhhpEwCgYIKoZIzj0EAwIw\n"
    "FDESMBAGA1UEAwwJcDM4NC50ZXN0MCAXDTI2MTEyMjAyNDIxMFoYDzIxMjYxMDI5\n"
    "MDI0MjEwWjAUMRIwEAYDVQQDDAlwMzg0LnRlc3QwdjAQBgcqhkjOPQIBBgUrgQQA\n"
    "IgNiAAQyti+yMSQP8hcv9FJhQA/OffyZyx0bOyfQNlzx46YkecCEaJkF2UjTckS+\n"
    "XaWqf+SfqtVvvlukyK3NKFQ0uBFToDV6iINRCs5HSNTMEJ8NZpzLOcZNf7WTfGoO\n"
    "CdXMGM2jUzBRMB0GA1UdDgQWBBTap5xplxUptv+ejpCNA30x417tVDAfBgNVHSME\n"
    "GDAWgBTap5xplxUptv+ejpCNA30x417tVDAPBgNVHRMBAf8EBTADAQH/MAoGCCqG\n"
    "SM49BAMCA2cAMGQCMCQJpmH8+az8gXYzNM81/wRNJShOMRvsYv1ccY63K9dAzUAP\n"
    "1URDDdbm6Yt0lXqIswIwIPVRTKMYTgdNTwP3cgPTiLyAB3BDJH973ipYc7c1VpwI\n"
    "zRdDEQWRJAnpWdETqnZQ\n"
    "-----END CERTIFICATE-----\n";

/* Signs with `scheme`, verifies against the certificate, then checks that a
 * flipped byte fails and that `wrong_scheme` is refused. */
static void check_sign_verify(ho_privkey *key, const ho_cert_chain *chain, uint16_t scheme, uint16_t wrong_scheme,
                              int line)
{
    /* RFC 8446 §4.4.3: 64 spaces, context string, 0, transcript hash. */
    uint8_t msg[64 + 33 + 1 + 32];
    memset(msg, 0x20, 64);
    memcpy(msg + 64, "TLS 1.3, server CertificateVerify", 33);
    msg[97] = 0;
    for (int i = 0; i < 32; i++)
        msg[98 + i] = (uint8_t)i;
    uint8_t sig[512];
    size_t siglen = sizeof(sig);
    int rc = ho_privkey_sign(key, scheme, msg, sizeof(msg), sig, &siglen);
    if (rc != HO_OK) {
        fprintf(stderr, "%s:%d: sign with 0x%04x failed: %d\n", __FILE__, line, scheme, rc);
        ho_test_failed++;
        return;
    }
    ho_test_passed++;
    rc = ho_cert_verify_signature(chain->der[0], chain->len[0], scheme, msg, sizeof(msg), sig, siglen);
    if (rc != HO_OK)
        fprintf(stderr, "%s:%d: verify with 0x%04x: %d\n", __FILE__, line, scheme, rc);
    CHECK_EQ(rc, HO_OK);
    sig[siglen / 2] ^= 0x01;
    CHECK_EQ(ho_cert_verify_signature(chain->der[0], chain->len[0], scheme, msg, sizeof(msg), sig, siglen),
             HO_ERR_BAD_SIGNATURE);
    sig[siglen / 2] ^= 0x01;
    msg[100] ^= 0x01;
    CHECK_EQ(ho_cert_verify_signature(chain->der[0], chain->len[0], scheme, msg, sizeof(msg), sig, siglen),
             HO_ERR_BAD_SIGNATURE);
    msg[100] ^= 0x01;
    CHECK_EQ(ho_cert_verify_signature(chain->der[0], chain->len[0], scheme, msg, sizeof(msg), sig, siglen - 1),
             HO_ERR_BAD_SIGNATURE);
    CHECK_EQ(ho_cert_verify_signature(chain->der[0], chain->len[0], wrong_scheme, msg, sizeof(msg), sig, siglen),
             HO_ERR_CERT_BAD);
    siglen = sizeof(sig);
    CHECK(ho_privkey_sign(key, wrong_scheme, msg, sizeof(msg), sig, &siglen) != HO_OK);
    siglen = 8; /* too small */
    CHECK(ho_privkey_sign(key, scheme, msg, sizeof(msg), sig, &siglen) != HO_OK);
}

static void test_signatures(void)
{
    uint16_t schemes[4];
    /* Generated P-256 with its self-signed certificate. */
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    CHECK(key != NULL && chain.count == 1);
    CHECK_EQ(ho_privkey_schemes(key, schemes, 4), 1);
    CHECK_EQ(schemes[0], HO_SIG_ECDSA_SECP256R1_SHA256);
    check_sign_verify(key, &chain, HO_SIG_ECDSA_SECP256R1_SHA256, HO_SIG_RSA_PSS_RSAE_SHA256, __LINE__);
    CHECK_EQ(ho_cert_verify_signature(chain.der[0], chain.len[0], 0x0503, "x", 1, (const uint8_t *)"x", 1),
             HO_ERR_CERT_BAD); /* P-384 scheme on a P-256 key */
    CHECK(ho_cert_matches_key(chain.der[0], chain.len[0], key));

    /* The arena RSA key. */
    ho_privkey *rsa = ho_privkey_load_file(ho_test_data("arena/certs/server.key"));
    ho_cert_chain rsa_chain = {0};
    CHECK(rsa != NULL);
    CHECK_EQ(ho_cert_chain_load_file(&rsa_chain, ho_test_data("arena/certs/server.crt")), HO_OK);
    if (rsa != NULL && rsa_chain.count > 0) {
        CHECK_EQ(ho_privkey_schemes(rsa, schemes, 4), 3);
        CHECK_EQ(schemes[0], HO_SIG_RSA_PSS_RSAE_SHA256);
        CHECK_EQ(schemes[1], 0x0805);
        CHECK_EQ(schemes[2], 0x0806);
        CHECK_EQ(ho_privkey_schemes(rsa, schemes, 2), 2);
        check_sign_verify(rsa, &rsa_chain, HO_SIG_RSA_PSS_RSAE_SHA256, HO_SIG_ECDSA_SECP256R1_SHA256, __LINE__);
        check_sign_verify(rsa, &rsa_chain, 0x0805, HO_SIG_ED25519, __LINE__);
        check_sign_verify(rsa, &rsa_chain, 0x0806, 0x0809, __LINE__);
        CHECK(ho_cert_matches_key(rsa_chain.der[0], rsa_chain.len[0], rsa));
        CHECK(!ho_cert_matches_key(rsa_chain.der[0], rsa_chain.len[0], key));
        CHECK(!ho_cert_matches_key(chain.der[0], chain.len[0], rsa));
    }

    /* Ed25519 and ECDSA P-384 from embedded PEM. */
    ho_privkey *ed = ho_privkey_load_pem(ed25519_key_pem, strlen(ed25519_key_pem));
    ho_cert_chain ed_chain = {0};
    CHECK(ed != NULL);
    CHECK_EQ(ho_cert_chain_load_pem(&ed_chain, ed25519_cert_pem, strlen(ed25519_cert_pem)), HO_OK);
    if (ed != NULL && ed_chain.count == 1) {
        CHECK_EQ(ho_privkey_schemes(ed, schemes, 4), 1);
        CHECK_EQ(schemes[0], HO_SIG_ED25519);
        check_sign_verify(ed, &ed_chain, HO_SIG_ED25519, HO_SIG_ECDSA_SECP256R1_SHA256, __LINE__);
        CHECK(ho_cert_matches_key(ed_chain.der[0], ed_chain.len[0], ed));
    }
    ho_privkey *p384 = ho_privkey_load_pem(p384_key_pem, strlen(p384_key_pem));
    ho_cert_chain p384_chain = {0};
    CHECK(p384 != NULL);
    CHECK_EQ(ho_cert_chain_load_pem(&p384_chain, p384_cert_pem, strlen(p384_cert_pem)), HO_OK);
    if (p384 != NULL && p384_chain.count == 1) {
        CHECK_EQ(ho_privkey_schemes(p384, schemes, 4), 1);
        CHECK_EQ(schemes[0], 0x0503);
        check_sign_verify(p384, &p384_chain, 0x0503, HO_SIG_ECDSA_SECP256R1_SHA256, __LINE__);
    }

    /* A freshly generated P-256 key signs; it matches no certificate here. */
    ho_privkey *gen = ho_privkey_generate_p256();
    CHECK(gen != NULL);
    uint8_t sig[512];
    size_t siglen = sizeof(sig);
    CHECK_EQ(ho_privkey_sign(gen, HO_SIG_ECDSA_SECP256R1_SHA256, "m", 1, sig, &siglen), HO_OK);
    CHECK(siglen >= 8 && siglen <= 72 && sig[0] == 0x30); /* DER SEQUENCE */
    CHECK(!ho_cert_matches_key(chain.der[0], chain.len[0], gen));

    /* Unknown scheme, garbage certificate. */
    CHECK_EQ(ho_cert_verify_signature(chain.der[0], chain.len[0], 0x0401, "m", 1, sig, siglen), HO_ERR_CERT_BAD);
    CHECK_EQ(ho_cert_verify_signature((const uint8_t *)"junk", 4, HO_SIG_ECDSA_SECP256R1_SHA256, "m", 1, sig,
                                      siglen),
             HO_ERR_CERT_BAD);
    CHECK(ho_privkey_load_pem("nope", 4) == NULL);
    CHECK(ho_privkey_load_file("/nonexistent/key.pem") == NULL);

    ho_privkey_free(key);
    ho_privkey_free(rsa);
    ho_privkey_free(ed);
    ho_privkey_free(p384);
    ho_privkey_free(gen);
    ho_cert_chain_free(&chain);
    ho_cert_chain_free(&rsa_chain);
    ho_cert_chain_free(&ed_chain);
    ho_cert_chain_free(&p384_chain);
}

static void test_pem_roundtrip(void)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("pem.test", 1, &key, &chain), HO_OK);
    if (key == NULL)
        return;
    ho_buf pem;
    ho_buf_init(&pem);
    CHECK_EQ(ho_privkey_to_pem(key, &pem), HO_OK);
    CHECK(pem.len > 0 && memcmp(pem.data, "-----BEGIN PRIVATE KEY-----", 27) == 0);
    ho_privkey *back = ho_privkey_load_pem(pem.data, pem.len);
    CHECK(back != NULL);
    if (back != NULL)
        CHECK(ho_cert_matches_key(chain.der[0], chain.len[0], back));
    ho_privkey_free(back);
    ho_buf_free(&pem);

    ho_buf_init(&pem);
    CHECK_EQ(ho_cert_to_pem(chain.der[0], chain.len[0], &pem), HO_OK);
    CHECK_EQ(ho_cert_to_pem(chain.der[0], chain.len[0], &pem), HO_OK); /* appends: two certificates */
    ho_cert_chain two = {0};
    CHECK_EQ(ho_cert_chain_load_pem(&two, pem.data, pem.len), HO_OK);
    CHECK_EQ(two.count, 2);
    for (size_t i = 0; i < two.count; i++)
        CHECK(two.len[i] == chain.len[0] && memcmp(two.der[i], chain.der[0], chain.len[0]) == 0);
    /* Loading appends; a failed load leaves the chain as it was. */
    CHECK_EQ(ho_cert_chain_load_pem(&two, "garbage", 7), HO_ERR_CERT_BAD);
    CHECK_EQ(two.count, 2);
    CHECK_EQ(ho_cert_chain_add_der(&two, chain.der[0], chain.len[0]), HO_OK);
    CHECK_EQ(two.count, 3);
    ho_cert_chain_free(&two);
    CHECK_EQ(two.count, 0);
    CHECK_EQ(ho_cert_to_pem((const uint8_t *)"junk", 4, &pem), HO_ERR_CERT_BAD);
    CHECK_EQ(ho_cert_chain_load_file(&two, "/nonexistent/cert.pem"), HO_ERR_IO);
    ho_buf_free(&pem);
    ho_privkey_free(key);
    ho_cert_chain_free(&chain);
}

static void test_chain_verify(void)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    if (key == NULL)
        return;
    ho_trust_store *empty = ho_trust_store_new();
    ho_trust_store *ts = ho_trust_store_new();
    CHECK(empty != NULL && ts != NULL);
    CHECK_EQ(ho_trust_store_add_der(ts, chain.der[0], chain.len[0]), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "localhost", 0), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "127.0.0.1", 0), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "::1", 0), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "[::1]", 0), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, NULL, 0), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "example.com", 0), HO_ERR_CERT_HOSTNAME);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "127.0.0.2", 0), HO_ERR_CERT_HOSTNAME);
    CHECK_EQ(ho_cert_chain_verify(empty, &chain, "localhost", 0), HO_ERR_CERT_UNTRUSTED);
    int64_t now = (int64_t)time(NULL);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "localhost", now + 40 * 86400), HO_ERR_CERT_EXPIRED);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "localhost", now - 2 * 86400), HO_ERR_CERT_EXPIRED);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain, "localhost", now + 29 * 86400), HO_OK);

    /* Another self-signed certificate with the same name is not trusted. */
    ho_privkey *key2 = NULL;
    ho_cert_chain chain2 = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key2, &chain2), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &chain2, "localhost", 0), HO_ERR_CERT_UNTRUSTED);

    /* Garbage leaf, empty chain. */
    ho_cert_chain bad = {0};
    CHECK_EQ(ho_cert_chain_add_der(&bad, (const uint8_t *)"junk", 4), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(ts, &bad, "localhost", 0), HO_ERR_CERT_BAD);
    ho_cert_chain none = {0};
    CHECK_EQ(ho_cert_chain_verify(ts, &none, "localhost", 0), HO_ERR_CERT_BAD);
    CHECK_EQ(ho_trust_store_add_der(ts, (const uint8_t *)"junk", 4), HO_ERR_CERT_BAD);

    /* The arena RSA certificate (CN=localhost, no SAN, CA:TRUE) as its own anchor. */
    ho_trust_store *arena = ho_trust_store_new();
    ho_cert_chain rsa_chain = {0};
    CHECK_EQ(ho_trust_store_add_file(arena, ho_test_data("arena/certs/server.crt")), HO_OK);
    CHECK_EQ(ho_cert_chain_load_file(&rsa_chain, ho_test_data("arena/certs/server.crt")), HO_OK);
    if (rsa_chain.count > 0) {
        CHECK_EQ(ho_cert_chain_verify(arena, &rsa_chain, "localhost", 0), HO_OK);
        CHECK_EQ(ho_cert_chain_verify(arena, &rsa_chain, "example.com", 0), HO_ERR_CERT_HOSTNAME);
        CHECK_EQ(ho_cert_chain_verify(ts, &rsa_chain, "localhost", 0), HO_ERR_CERT_UNTRUSTED);
    }
    CHECK_EQ(ho_trust_store_add_file(arena, "/nonexistent/ca.pem"), HO_ERR_IO);

    /* The system store loads (it may be empty on a minimal machine). */
    ho_trust_store *sys = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_system(sys), HO_OK);
    CHECK_EQ(ho_cert_chain_verify(sys, &chain, "localhost", 0), HO_ERR_CERT_UNTRUSTED);

    ho_trust_store_free(sys);
    ho_trust_store_free(arena);
    ho_trust_store_free(empty);
    ho_trust_store_free(ts);
    ho_cert_chain_free(&rsa_chain);
    ho_cert_chain_free(&bad);
    ho_cert_chain_free(&chain);
    ho_cert_chain_free(&chain2);
    ho_privkey_free(key);
    ho_privkey_free(key2);
}

static void test_random(void)
{
    uint8_t a[32] = {0}, b[32] = {0};
    CHECK_EQ(ho_random(a, sizeof(a)), HO_OK);
    CHECK_EQ(ho_random(b, sizeof(b)), HO_OK);
    CHECK(memcmp(a, b, sizeof(a)) != 0);
    CHECK_EQ(ho_random(a, 0), HO_OK);
}

int main(void)
{
    RUN(test_random);
    RUN(test_hash);
    RUN(test_hmac);
    RUN(test_hkdf);
    RUN(test_quic_initial_secrets);
    RUN(test_aead_vectors);
    RUN(test_aead_roundtrip);
    RUN(test_header_protection);
    RUN(test_kex);
    RUN(test_signatures);
    RUN(test_pem_roundtrip);
    RUN(test_chain_verify);
    return ho_test_summary("test_crypto");
}
