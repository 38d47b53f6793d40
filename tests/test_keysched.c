/* Key schedule known-answer test: RFC 8448 §3 (simple 1-RTT handshake) and
 * §4 (resumption PSK and binder), driven through src/tls/keysched.c. */
#include "harness.h"
#include "tls/tls_int.h"

/* got holds as many bytes as the hex string (no whitespace) names. */
#define check_hex(got, hex) CHECK_HEX((got), strlen(hex) / 2, (hex))

static uint8_t *hex(const char *h)
{
    size_t n;
    return ho_test_unhex(h, &n);
}

static void test_full_handshake(void)
{
    struct keysched ks;
    CHECK_EQ(tls_ks_init(&ks, HO_HASH_SHA256, NULL, 0), HO_OK);
    check_hex(ks.secret, "33ad0a1c607ec03b09e6cd9893680ce210adf300aa1f2660e1b22e10f170f92a");

    uint8_t *dhe = hex("8bd4054fb55b9d63fdfbacf9f04b9f0d35e6d63f537563efd46272900f89492d");
    uint8_t *th_sh = hex("860c06edc07858ee8e78f0e7428c58edd6b43f2ca3e6e95f02ed063cf0e1cad8");
    CHECK_EQ(tls_ks_handshake(&ks, dhe, 32, th_sh), HO_OK);
    check_hex(ks.secret, "1dc826e93606aa6fdc0aadc12f741b01046aa6b99f691ed221a9f0ca043fbeac");
    check_hex(ks.client_hs, "b3eddb126e067f35a780b3abf45e2d8f3b1a950738f52e9600746a0e27a55a21");
    check_hex(ks.server_hs, "b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38");

    /* Record protection keys from the handshake traffic secrets (§7.3). */
    uint8_t key[16], iv[12];
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, ks.server_hs, "key", NULL, 0, key, 16), HO_OK);
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, ks.server_hs, "iv", NULL, 0, iv, 12), HO_OK);
    check_hex(key, "3fce516009c21727d0f2e4e86ee403bc");
    check_hex(iv, "5d313eb2671276ee13000b30");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, ks.client_hs, "key", NULL, 0, key, 16), HO_OK);
    check_hex(key, "dbfaa693d1762c5b666af5d950258d01");

    uint8_t *th_ap = hex("9608102a0f1ccc6db6250b7b7e417b1a000eaada3daae4777a7686c9ff83df13");
    CHECK_EQ(tls_ks_master(&ks, th_ap), HO_OK);
    check_hex(ks.secret, "18df06843d13a08bf2a449844c5f8a478001bc4d4c627984d5a41da8d0402919");
    check_hex(ks.client_ap, "9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5");
    check_hex(ks.server_ap, "a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643");
    check_hex(ks.exporter, "fe22f881176eda18eb8f44529e6792c50c9a3f89452f68d8ae311b4309d3cf50");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, ks.server_ap, "key", NULL, 0, key, 16), HO_OK);
    check_hex(key, "9f02283b6c9c07efc26bb9f2ac92e356");
    CHECK_EQ(crypto_hkdf_expand_label(HO_HASH_SHA256, ks.client_ap, "iv", NULL, 0, iv, 12), HO_OK);
    check_hex(iv, "5b78923dee08579033e523d9");

    uint8_t *th_res = hex("209145a96ee8e2a122ff810047cc952684658d6049e86429426db87c54ad143d");
    CHECK_EQ(tls_ks_resumption(&ks, th_res), HO_OK);
    check_hex(ks.resumption, "7df235f2031d2a051287d02b0241b0bfdaf86cc856231f2d5aba46c434ec196c");
    uint8_t psk[32];
    const uint8_t nonce[2] = {0, 0};
    CHECK_EQ(tls_ks_ticket_psk(&ks, nonce, 2, psk), HO_OK);
    check_hex(psk, "4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3");

    /* §7.2: the next generation differs and is deterministic. */
    uint8_t a[32], b[32];
    memcpy(a, ks.client_ap, 32);
    memcpy(b, ks.client_ap, 32);
    CHECK_EQ(tls_ks_next_traffic(&ks, a), HO_OK);
    CHECK_EQ(tls_ks_next_traffic(&ks, b), HO_OK);
    CHECK(memcmp(a, ks.client_ap, 32) != 0 && memcmp(a, b, 32) == 0);
    free(dhe);
    free(th_sh);
    free(th_ap);
    free(th_res);
    tls_ks_wipe(&ks);
}

static void test_resumption_binder(void)
{
    struct keysched ks;
    uint8_t *psk = hex("4ecd0eb6ec3b4d87f5d6028f922ca4c5851a277fd41311c9e62d2c9492e1c4f3");
    CHECK_EQ(tls_ks_init(&ks, HO_HASH_SHA256, psk, 32), HO_OK);
    check_hex(ks.secret, "9b2188e9b2fc6d64d71dc329900e20bb41915000f678aa839cbb797cb7d8332c");
    uint8_t binder_key[32], binder[32];
    CHECK_EQ(tls_ks_binder_key(&ks, binder_key), HO_OK);
    check_hex(binder_key, "69fe131a3bbad5d63c64eebcc30e395b9d8107726a13d074e389dbc8a4e47256");
    uint8_t *th = hex("63224b2e4573f2d3454ca84b9d009a04f6be9e05711a8396473aefa01e924a14");
    CHECK_EQ(tls_ks_finished(&ks, binder_key, th, binder), HO_OK);
    check_hex(binder, "3add4fb2d8fdf822a0ca3cf7678ef5e88dae990141c5924d57bb6fa31b9e5f9d");
    free(psk);
    free(th);
    tls_ks_wipe(&ks);
}

int main(void)
{
    RUN(test_full_handshake);
    RUN(test_resumption_binder);
    return ho_test_summary("test_keysched");
}
