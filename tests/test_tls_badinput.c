/* Hostile and malformed handshake input, server side and records: every case feeds the engine bytes
 * that RFC 8446 says must be refused and asserts the exact alert (and that
 * the error is sticky). Server cases build ClientHellos with tls_builder.h;
 * client cases answer a real client with crafted ServerHellos or re-framed
 * server flights. Expected alerts are the RFC's, not necessarily the
 * engine's: a failure here is an engine discrepancy to fix. */
#include "tls_badinput.h"

/* ---- server side: one ClientHello to a fresh server -------------------- */

/* Feeds `msg` to a fresh server at `epoch`; the result must be `want`, and
 * sticky if it is an error. */
static void server_feed(ho_tls_config *cfg, ho_epoch epoch, const uint8_t *msg, size_t len, int want)
{
    ho_tls *s = ho_tls_new(cfg, NULL);
    ho_tls_set_now(s, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    expect_rc("server result", ho_tls_handle(s, epoch, msg, len, &out), want);
    if (want == HO_OK)
        expect_true("server answered", out.send[HO_EPOCH_INITIAL].len > 0);
    expect_sticky(s, epoch, &out, want);
    ho_tls_out_free(&out);
    ho_tls_free(s);
}

static void server_case_ch(const char *name, ho_tls_config *cfg, const struct tb_client_hello *ch, int want)
{
    begin_case(name);
    ho_buf b;
    ho_buf_init(&b);
    tb_ch_build(ch, &b);
    server_feed(cfg, HO_EPOCH_INITIAL, b.data, b.len, want);
    ho_buf_free(&b);
    end_case();
}

/* ClientHello mutators (the builder's default is a valid hello). */
typedef void (*ch_mutator)(struct tb_client_hello *ch);

static void m_none(struct tb_client_hello *ch) { (void)ch; }
static void m_sid_33(struct tb_client_hello *ch) { ch->session_id_len = 33; }
static void m_suites_odd(struct tb_client_hello *ch) { ch->suites_len = 5; }
static void m_suites_empty(struct tb_client_hello *ch) { ch->suites_len = 0; }
static void m_comp_empty(struct tb_client_hello *ch) { ch->comp_len = 0; }
static void m_comp_one(struct tb_client_hello *ch) { ch->comp[0] = 1; }
static void m_comp_zero_one(struct tb_client_hello *ch)
{
    ch->comp[0] = 0;
    ch->comp[1] = 1;
    ch->comp_len = 2;
}
static void m_ext_block_past_end(struct tb_client_hello *ch) { ch->ext_len_adjust = 1; }
static void m_ext_block_short(struct tb_client_hello *ch) { ch->ext_len_adjust = -1; }
static void m_trailing(struct tb_client_hello *ch)
{
    ch->trailing[0] = 0;
    ch->trailing_len = 1;
}
static void m_no_extensions(struct tb_client_hello *ch) { ch->no_extensions = true; }
static void m_empty_ext_block(struct tb_client_hello *ch) { ch->ext.n = 0; }
static void m_dup_groups(struct tb_client_hello *ch) { tb_ext_dup(&ch->ext, TB_EXT_SUPPORTED_GROUPS); }
static void m_dup_key_share_ext(struct tb_client_hello *ch)
{
    tb_ext_dup(&ch->ext, TB_EXT_KEY_SHARE);
}
static void m_psk_not_last(struct tb_client_hello *ch)
{
    const uint8_t modes[] = {1, 1};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, modes, 2);
    tb_ext_set_psk(&ch->ext, (const uint8_t *)"ticket", 6, 0, 1, 32);
    tb_ext_move(&ch->ext, TB_EXT_PRE_SHARED_KEY, 1);
}
static void m_oid_filters(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0, 0};
    tb_ext_add(&ch->ext, TB_EXT_OID_FILTERS, body, 2);
}
static void m_no_versions(struct tb_client_hello *ch) { tb_ext_remove(&ch->ext, TB_EXT_SUPPORTED_VERSIONS); }
static void m_versions_12_only(struct tb_client_hello *ch)
{
    const uint16_t v[] = {0x0303, 0x0302};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_VERSIONS, 1, v, 2);
}
static void m_versions_odd(struct tb_client_hello *ch)
{
    const uint8_t body[] = {3, 0x03, 0x04, 0x03};
    tb_ext_set(&ch->ext, TB_EXT_SUPPORTED_VERSIONS, body, sizeof(body));
}
static void m_no_sigs(struct tb_client_hello *ch) { tb_ext_remove(&ch->ext, TB_EXT_SIGNATURE_ALGORITHMS); }
static void m_no_groups(struct tb_client_hello *ch) { tb_ext_remove(&ch->ext, TB_EXT_SUPPORTED_GROUPS); }
static void m_no_key_share(struct tb_client_hello *ch) { tb_ext_remove(&ch->ext, TB_EXT_KEY_SHARE); }
static void m_no_groups_no_share(struct tb_client_hello *ch)
{
    tb_ext_remove(&ch->ext, TB_EXT_SUPPORTED_GROUPS);
    tb_ext_remove(&ch->ext, TB_EXT_KEY_SHARE);
}
static void m_psk_no_modes(struct tb_client_hello *ch)
{
    tb_ext_set_psk(&ch->ext, (const uint8_t *)"ticket", 6, 0, 1, 32);
}
static void m_psk_count_mismatch(struct tb_client_hello *ch)
{
    const uint8_t modes[] = {1, 1};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, modes, 2);
    tb_ext_set_psk(&ch->ext, (const uint8_t *)"ticket", 6, 0, 2, 32);
}
static void m_psk_binder_short(struct tb_client_hello *ch)
{
    const uint8_t modes[] = {1, 1};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, modes, 2);
    tb_ext_set_psk(&ch->ext, (const uint8_t *)"ticket", 6, 0, 1, 31);
}
static void m_share_not_in_groups(struct tb_client_hello *ch)
{
    const uint16_t g = HO_GROUP_SECP256R1;
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, &g, 1);
}
static void set_x25519_share(struct tb_client_hello *ch, const uint8_t *key, size_t len, int copies)
{
    struct tb_share s[2] = {{HO_GROUP_X25519, key, len}, {HO_GROUP_X25519, key, len}};
    tb_ext_set_key_shares(&ch->ext, s, (size_t)copies);
}
static void m_two_shares_same_group(struct tb_client_hello *ch)
{
    uint8_t pub[32];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_x25519, pub, &n);
    set_x25519_share(ch, pub, n, 2);
}
static void m_x25519_short(struct tb_client_hello *ch)
{
    uint8_t pub[32];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_x25519, pub, &n);
    set_x25519_share(ch, pub, 31, 1);
}
static void m_x25519_zero(struct tb_client_hello *ch)
{
    const uint8_t zero[32] = {0};
    set_x25519_share(ch, zero, 32, 1);
}
static void m_share_empty_key(struct tb_client_hello *ch) { set_x25519_share(ch, NULL, 0, 1); }
static void set_p256_only(struct tb_client_hello *ch, const uint8_t *key, size_t len)
{
    const uint16_t g = HO_GROUP_SECP256R1;
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, &g, 1);
    struct tb_share s = {HO_GROUP_SECP256R1, key, len};
    tb_ext_set_key_shares(&ch->ext, &s, 1);
}
static void m_p256_off_curve(struct tb_client_hello *ch)
{
    uint8_t pub[65];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_p256, pub, &n);
    pub[64] ^= 1; /* y no longer solves the curve equation for x */
    set_p256_only(ch, pub, n);
}
static void m_p256_compressed(struct tb_client_hello *ch)
{
    uint8_t pub[65];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_p256, pub, &n);
    pub[0] = (uint8_t)(0x02 | (pub[64] & 1)); /* compressed form: not allowed in TLS 1.3 (§4.2.8.2) */
    set_p256_only(ch, pub, 33);
}
/* X25519MLKEM768 shares (draft-ietf-tls-ecdhe-mlkem §4.1): the client's
 * must be exactly ek (1184) || X25519 (32), the ek passing FIPS 203's
 * modulus check; otherwise illegal_parameter. len_delta changes the length,
 * bad_ek puts 4095 (>= q) in the first coefficient. */
static void set_mlkem_share(struct tb_client_hello *ch, int len_delta, bool bad_ek)
{
    static uint8_t pub[CRYPTO_KEX_PUB_MAX + 1];
    size_t n = CRYPTO_KEX_PUB_MAX;
    crypto_kex_public(kex_mlkem, pub, &n);
    if (bad_ek) {
        pub[0] = 0xff;
        pub[1] |= 0x0f;
    }
    const uint16_t g[] = {HO_GROUP_X25519MLKEM768, HO_GROUP_X25519};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, g, 2);
    struct tb_share s = {HO_GROUP_X25519MLKEM768, pub, (size_t)((long)n + len_delta)};
    tb_ext_set_key_shares(&ch->ext, &s, 1);
}
static void m_mlkem_valid(struct tb_client_hello *ch) { set_mlkem_share(ch, 0, false); }
static void m_mlkem_short(struct tb_client_hello *ch) { set_mlkem_share(ch, -1, false); }
static void m_mlkem_long(struct tb_client_hello *ch) { set_mlkem_share(ch, 1, false); }
static void m_mlkem_x25519_only(struct tb_client_hello *ch) { set_mlkem_share(ch, 32 - CRYPTO_KEX_PUB_MAX, false); }
static void m_mlkem_ek_not_reduced(struct tb_client_hello *ch) { set_mlkem_share(ch, 0, true); }
static void m_no_common_suite(struct tb_client_hello *ch)
{
    const uint16_t s[] = {0x1304 /* TLS_AES_128_CCM_SHA256 */, 0x1305, 0xc02f};
    tb_ch_set_suites(ch, s, 3);
}
static void m_no_common_group(struct tb_client_hello *ch)
{
    const uint16_t g = HO_GROUP_SECP384R1;
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, &g, 1);
    uint8_t junk[97];
    memset(junk, 0x04, sizeof(junk));
    struct tb_share s = {HO_GROUP_SECP384R1, junk, sizeof(junk)};
    tb_ext_set_key_shares(&ch->ext, &s, 1);
}
static void m_groups_empty(struct tb_client_hello *ch)
{
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, NULL, 0);
}
/* §4.2.7: obsolete_RESERVED groups MUST NOT be offered in TLS 1.3. */
static void m_groups_obsolete_secp224r1(struct tb_client_hello *ch)
{
    const uint16_t g[] = {HO_GROUP_X25519, 0x0015 /* secp224r1 */};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, g, 2);
}
static void m_groups_obsolete_brainpool(struct tb_client_hello *ch)
{
    const uint16_t g[] = {0x001a /* brainpoolP256r1 (TLS 1.2) */, HO_GROUP_X25519};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, g, 2);
}
static void m_groups_obsolete_arbitrary(struct tb_client_hello *ch)
{
    const uint16_t g[] = {HO_GROUP_X25519, 0xff02 /* arbitrary_explicit_char2_curves */};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, g, 2);
}
static void m_groups_not_obsolete(struct tb_client_hello *ch)
{
    /* 0x0017-0x0019 (secp256r1..secp521r1) and unknown values are fine. */
    const uint16_t g[] = {HO_GROUP_X25519, 0x0019, 0x001d, 0x0100, 0x1234};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, g, 5);
}
static void m_sigs_odd(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0, 3, 0x04, 0x03, 0x08};
    tb_ext_set(&ch->ext, TB_EXT_SIGNATURE_ALGORITHMS, body, sizeof(body));
}
static void m_sigs_unusable(struct tb_client_hello *ch)
{
    const uint16_t s[] = {0x0201 /* rsa_pkcs1_sha1 */, 0x0401 /* rsa_pkcs1_sha256 */};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, s, 2);
}
static void m_alpn_other(struct tb_client_hello *ch)
{
    const char *p[] = {"http/1.1", "spdy/3"};
    tb_ext_set_alpn(&ch->ext, p, 2);
}
static void m_alpn_h2(struct tb_client_hello *ch)
{
    const char *p[] = {"http/1.1", "h2"};
    tb_ext_set_alpn(&ch->ext, p, 2);
}
static void m_alpn_empty_name(struct tb_client_hello *ch)
{
    const char *p[] = {"h2", ""};
    tb_ext_set_alpn(&ch->ext, p, 2);
}
static void m_alpn_empty_list(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0, 0};
    tb_ext_set(&ch->ext, TB_EXT_ALPN, body, 2);
}
static void m_sni_two_names(struct tb_client_hello *ch)
{
    const char *n[] = {"localhost", "example.com"};
    tb_ext_set_sni(&ch->ext, n, 2);
}
static void m_sni_empty_list(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0, 0};
    tb_ext_set(&ch->ext, TB_EXT_SERVER_NAME, body, 2);
}
static void m_reordered(struct tb_client_hello *ch)
{
    tb_ext_move(&ch->ext, TB_EXT_KEY_SHARE, 0);
    tb_ext_move(&ch->ext, TB_EXT_SUPPORTED_VERSIONS, 99);
}
static void m_empty_client_shares(struct tb_client_hello *ch) { tb_ext_set_key_shares(&ch->ext, NULL, 0); }
static void m_versions_empty(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0};
    tb_ext_set(&ch->ext, TB_EXT_SUPPORTED_VERSIONS, body, 1);
}
static void m_sigs_empty(struct tb_client_hello *ch)
{
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, NULL, 0);
}
static void m_key_share_trailing(struct tb_client_hello *ch)
{
    struct tb_ext *e = tb_ext_find(&ch->ext, TB_EXT_KEY_SHARE);
    e->body[e->len++] = 0;
}
static void m_sni_empty_name(struct tb_client_hello *ch)
{
    const char *n = "";
    tb_ext_set_sni(&ch->ext, &n, 1);
}
static void m_modes_empty(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, body, 1);
}
static void m_cookie_empty(struct tb_client_hello *ch)
{
    const uint8_t body[] = {0, 0};
    tb_ext_add(&ch->ext, TB_EXT_COOKIE, body, 2);
}
static void m_psk_empty_identity(struct tb_client_hello *ch)
{
    const uint8_t modes[] = {1, 1};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, modes, 2);
    tb_ext_set_psk(&ch->ext, NULL, 0, 0, 1, 32);
}
static void m_psk_no_identities(struct tb_client_hello *ch)
{
    const uint8_t modes[] = {1, 1};
    tb_ext_add(&ch->ext, TB_EXT_PSK_KEY_EXCHANGE_MODES, modes, 2);
    uint8_t body[2 + 2 + 1 + 32] = {0, 0, 0, 33, 32};
    tb_ext_set(&ch->ext, TB_EXT_PRE_SHARED_KEY, body, sizeof(body));
}
static void m_unknown_ext(struct tb_client_hello *ch)
{
    const uint8_t body[] = {1, 2, 3};
    tb_ext_add(&ch->ext, 0x7a7a, body, 3);
    tb_ext_move(&ch->ext, 0x7a7a, 0);
}

struct ch_case {
    const char *name;
    ch_mutator mutate;
    ho_tls_config **cfg;
    int want;
};

static const struct ch_case ch_cases[] = {
    /* controls: the builder's hello is accepted */
    {"ch_control_valid", m_none, &scfg, HO_OK},
    {"ch_control_unknown_extension_ignored", m_unknown_ext, &scfg, HO_OK},
    {"ch_control_alpn_overlap", m_alpn_h2, &scfg_alpn, HO_OK},
    {"ch_control_extensions_reordered", m_reordered, &scfg, HO_OK},
    {"ch_control_empty_client_shares_gets_hrr", m_empty_client_shares, &scfg, HO_OK},
    /* framing and inner lengths: decode_error (§4.1.2, §6.2) */
    {"ch_session_id_33", m_sid_33, &scfg, ALERT(DECODE_ERROR)},
    {"ch_cipher_suites_odd_length", m_suites_odd, &scfg, ALERT(DECODE_ERROR)},
    {"ch_cipher_suites_empty", m_suites_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_compression_length_0", m_comp_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_extensions_block_past_end", m_ext_block_past_end, &scfg, ALERT(DECODE_ERROR)},
    {"ch_extensions_block_short", m_ext_block_short, &scfg, ALERT(DECODE_ERROR)},
    {"ch_trailing_byte_after_extensions", m_trailing, &scfg, ALERT(DECODE_ERROR)},
    {"ch_supported_versions_odd", m_versions_odd, &scfg, ALERT(DECODE_ERROR)},
    {"ch_supported_groups_empty", m_groups_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_signature_algorithms_odd", m_sigs_odd, &scfg, ALERT(DECODE_ERROR)},
    {"ch_key_share_empty_key", m_share_empty_key, &scfg, ALERT(DECODE_ERROR)},
    {"ch_psk_binder_31_bytes", m_psk_binder_short, &scfg, ALERT(DECODE_ERROR)},
    {"ch_alpn_empty_name", m_alpn_empty_name, &scfg_alpn, ALERT(DECODE_ERROR)},
    {"ch_alpn_empty_list", m_alpn_empty_list, &scfg_alpn, ALERT(DECODE_ERROR)},
    {"ch_sni_empty_list", m_sni_empty_list, &scfg, ALERT(DECODE_ERROR)},
    {"ch_sni_empty_host_name", m_sni_empty_name, &scfg, ALERT(DECODE_ERROR)},
    {"ch_supported_versions_empty", m_versions_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_signature_algorithms_empty", m_sigs_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_key_share_trailing_byte", m_key_share_trailing, &scfg, ALERT(DECODE_ERROR)},
    {"ch_psk_modes_empty", m_modes_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_cookie_empty", m_cookie_empty, &scfg, ALERT(DECODE_ERROR)},
    {"ch_psk_empty_identity", m_psk_empty_identity, &scfg, ALERT(DECODE_ERROR)},
    {"ch_psk_no_identities", m_psk_no_identities, &scfg, ALERT(DECODE_ERROR)},
    /* extension block rules (§4.2, §4.2.11) */
    {"ch_duplicate_supported_groups", m_dup_groups, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_duplicate_key_share_ext", m_dup_key_share_ext, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_pre_shared_key_not_last", m_psk_not_last, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_oid_filters_not_allowed", m_oid_filters, &scfg, ALERT(ILLEGAL_PARAMETER)},
    /* versions (§4.2.1) and compression (§4.1.2) */
    {"ch_no_supported_versions", m_no_versions, &scfg, ALERT(PROTOCOL_VERSION)},
    {"ch_supported_versions_without_1_3", m_versions_12_only, &scfg, ALERT(PROTOCOL_VERSION)},
    {"ch_no_extensions", m_no_extensions, &scfg, ALERT(PROTOCOL_VERSION)},
    {"ch_empty_extension_block", m_empty_ext_block, &scfg, ALERT(PROTOCOL_VERSION)},
    {"ch_compression_1", m_comp_one, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_compression_0_1", m_comp_zero_one, &scfg, ALERT(ILLEGAL_PARAMETER)},
    /* mandatory extensions (§9.2, §4.2.9) */
    {"ch_missing_signature_algorithms", m_no_sigs, &scfg, ALERT(MISSING_EXTENSION)},
    {"ch_missing_supported_groups_with_key_share", m_no_groups, &scfg, ALERT(MISSING_EXTENSION)},
    {"ch_missing_key_share", m_no_key_share, &scfg, ALERT(MISSING_EXTENSION)},
    {"ch_missing_groups_and_key_share", m_no_groups_no_share, &scfg, ALERT(MISSING_EXTENSION)},
    {"ch_psk_without_psk_modes", m_psk_no_modes, &scfg, ALERT(MISSING_EXTENSION)},
    {"ch_psk_identities_binders_mismatch", m_psk_count_mismatch, &scfg, ALERT(ILLEGAL_PARAMETER)},
    /* key shares (§4.2.8, §4.2.8.2, §7.4.2) */
    {"ch_key_share_group_not_in_supported_groups", m_share_not_in_groups, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_supported_groups_obsolete_secp224r1", m_groups_obsolete_secp224r1, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_supported_groups_obsolete_brainpool", m_groups_obsolete_brainpool, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_supported_groups_obsolete_ff02", m_groups_obsolete_arbitrary, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_control_supported_groups_unknown_ok", m_groups_not_obsolete, &scfg, HO_OK},
    {"ch_two_key_shares_same_group", m_two_shares_same_group, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_x25519_share_31_bytes", m_x25519_short, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_x25519_share_all_zero", m_x25519_zero, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_p256_share_off_curve", m_p256_off_curve, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_control_x25519mlkem768_share", m_mlkem_valid, &scfg, HO_OK},
    {"ch_x25519mlkem768_share_short", m_mlkem_short, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_x25519mlkem768_share_long", m_mlkem_long, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_x25519mlkem768_share_x25519_size", m_mlkem_x25519_only, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_x25519mlkem768_ek_coefficient_ge_q", m_mlkem_ek_not_reduced, &scfg, ALERT(ILLEGAL_PARAMETER)},
    {"ch_p256_share_compressed", m_p256_compressed, &scfg, ALERT(ILLEGAL_PARAMETER)},
    /* negotiation failures */
    {"ch_no_common_cipher_suite", m_no_common_suite, &scfg, ALERT(HANDSHAKE_FAILURE)},
    {"ch_no_common_group", m_no_common_group, &scfg, ALERT(HANDSHAKE_FAILURE)},
    {"ch_no_usable_signature_algorithm", m_sigs_unusable, &scfg, ALERT(HANDSHAKE_FAILURE)},
    {"ch_alpn_no_overlap", m_alpn_other, &scfg_alpn, ALERT(NO_APPLICATION_PROTOCOL)},
    {"ch_sni_two_host_names", m_sni_two_names, &scfg, ALERT(ILLEGAL_PARAMETER)},
};

static void test_client_hello_table(void)
{
    for (size_t i = 0; i < sizeof(ch_cases) / sizeof(ch_cases[0]); i++) {
        struct tb_client_hello ch;
        tb_ch_init(&ch, kex_x25519, "localhost");
        ch_cases[i].mutate(&ch);
        server_case_ch(ch_cases[i].name, *ch_cases[i].cfg, &ch, ch_cases[i].want);
    }
    /* One extension whose length runs past the end of the block. */
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    begin_case("ch_extension_body_past_block");
    ho_buf b;
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    /* Last extension is key_share: bump its ext length by 1 and the block
     * length stays; the message and block end where they did. */
    size_t ext_len_at = b.len - ch.ext.e[ch.ext.n - 1].len - 2;
    b.data[ext_len_at + 1]++;
    server_feed(scfg, HO_EPOCH_INITIAL, b.data, b.len, ALERT(DECODE_ERROR));
    ho_buf_free(&b);
    end_case();
}

/* Truncations: the header agrees with the (short) body, so the message is
 * complete and cannot be parsed: decode_error — except a body that ends
 * right after the compression methods, which is a hello without extensions
 * (protocol_version, §4.2.1). */
static void test_truncations(void)
{
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf full;
    ho_buf_init(&full);
    tb_ch_build(&ch, &full);
    size_t body = full.len - 4, ext_at = tb_ch_ext_offset(&ch);
    const size_t offsets[] = {0,  1,  2,  20, 33, 34, 35, 50, 66, 67,
                              68, 70, 74, 75, ext_at - 1, ext_at + 1, ext_at + 2, ext_at + 6,
                              ext_at + 30, body - 40, body - 1};
    for (size_t i = 0; i < sizeof(offsets) / sizeof(offsets[0]); i++) {
        char name[64];
        snprintf(name, sizeof(name), "ch_truncated_at_%zu", offsets[i]);
        begin_case(name);
        ho_buf t;
        ho_buf_init(&t);
        tb_msg_truncated(&t, full.data, offsets[i]);
        server_feed(scfg, HO_EPOCH_INITIAL, t.data, t.len, ALERT(DECODE_ERROR));
        ho_buf_free(&t);
        end_case();
    }
    begin_case("ch_truncated_after_compression");
    ho_buf t;
    ho_buf_init(&t);
    tb_msg_truncated(&t, full.data, ext_at);
    server_feed(scfg, HO_EPOCH_INITIAL, t.data, t.len, ALERT(PROTOCOL_VERSION));
    ho_buf_free(&t);
    end_case();
    ho_buf_free(&full);
}

/* A header that announces more than has arrived waits (HO_OK, nothing
 * sent); the error comes once the message is complete. */
static void test_partial_message(void)
{
    begin_case("ch_partial_then_complete_malformed");
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ch.session_id_len = 33;
    ho_buf b;
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    ho_tls *s = ho_tls_new(scfg, NULL);
    ho_tls_out out;
    ho_tls_out_init(&out);
    expect_rc("header fragment", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data, 3, &out), HO_OK);
    expect_rc("all but one byte", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data + 3, b.len - 4, &out), HO_OK);
    expect_true("nothing sent while waiting", out.send[HO_EPOCH_INITIAL].len == 0);
    expect_rc("last byte", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data + b.len - 1, 1, &out), ALERT(DECODE_ERROR));
    expect_sticky(s, HO_EPOCH_INITIAL, &out, ALERT(DECODE_ERROR));
    ho_tls_out_free(&out);
    ho_tls_free(s);
    ho_buf_free(&b);
    end_case();

    begin_case("ch_partial_then_complete_valid");
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    s = ho_tls_new(scfg, NULL);
    ho_tls_out_init(&out);
    expect_rc("first half", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data, b.len / 2, &out), HO_OK);
    expect_true("nothing sent while waiting", out.send[HO_EPOCH_INITIAL].len == 0);
    expect_rc("second half", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data + b.len / 2, b.len - b.len / 2, &out),
              HO_OK);
    expect_true("ServerHello sent", out.send[HO_EPOCH_INITIAL].len > 0);
    ho_tls_out_free(&out);
    ho_tls_free(s);
    ho_buf_free(&b);
    end_case();
}

/* Messages the server does not expect, or at the wrong epoch (§5.1, §6.2). */
static void test_server_unexpected(void)
{
    static const uint8_t fin[4 + 32] = {HO_HS_FINISHED, 0, 0, 32};
    begin_case("srv_finished_first");
    server_feed(scfg, HO_EPOCH_INITIAL, fin, sizeof(fin), ALERT(UNEXPECTED_MESSAGE));
    end_case();

    struct tb_server_hello sh;
    uint8_t sid[32] = {0};
    tb_sh_init(&sh, sid, 32, HO_TLS_AES_128_GCM_SHA256, kex_x25519);
    ho_buf b;
    ho_buf_init(&b);
    tb_sh_build(&sh, &b);
    begin_case("srv_server_hello_first");
    server_feed(scfg, HO_EPOCH_INITIAL, b.data, b.len, ALERT(UNEXPECTED_MESSAGE));
    end_case();
    ho_buf_free(&b);

    static const uint8_t ku[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 0};
    begin_case("srv_key_update_first");
    server_feed(scfg, HO_EPOCH_INITIAL, ku, sizeof(ku), ALERT(UNEXPECTED_MESSAGE));
    end_case();

    static const uint8_t unknown[] = {0x63, 0, 0, 0};
    begin_case("srv_unknown_message_type");
    server_feed(scfg, HO_EPOCH_INITIAL, unknown, sizeof(unknown), ALERT(UNEXPECTED_MESSAGE));
    end_case();

    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    begin_case("srv_client_hello_at_handshake_epoch");
    server_feed(scfg, HO_EPOCH_HANDSHAKE, b.data, b.len, ALERT(UNEXPECTED_MESSAGE));
    end_case();
    begin_case("srv_client_hello_at_app_epoch");
    server_feed(scfg, HO_EPOCH_APP, b.data, b.len, ALERT(UNEXPECTED_MESSAGE));
    end_case();

    /* §5.1: a ClientHello followed by more bytes in the same flight — the
     * next message would span the key change. */
    begin_case("srv_data_after_client_hello");
    ho_buf two;
    ho_buf_init(&two);
    ho_put_bytes(&two, b.data, b.len);
    ho_put_bytes(&two, fin, sizeof(fin));
    server_feed(scfg, HO_EPOCH_INITIAL, two.data, two.len, ALERT(UNEXPECTED_MESSAGE));
    ho_buf_free(&two);
    end_case();

    /* A header announcing more than 128 KiB is refused at once. */
    static const uint8_t huge[] = {HO_HS_CLIENT_HELLO, 0x02, 0x00, 0x01, 0x03, 0x03};
    begin_case("srv_oversized_message_header");
    server_feed(scfg, HO_EPOCH_INITIAL, huge, sizeof(huge), ALERT(ILLEGAL_PARAMETER));
    end_case();

    /* A second ClientHello once the handshake is complete. */
    ho_tls_config *c = new_client_cfg();
    struct tls_pair p;
    pair_begin(&p, c, scfg);
    pair_run(&p);
    begin_case("srv_client_hello_after_handshake");
    expect_rc("handshake", p.server_err, HO_OK);
    expect_rc("second ClientHello", ho_tls_handle(p.server, HO_EPOCH_APP, b.data, b.len, &p.sout),
              ALERT(UNEXPECTED_MESSAGE));
    expect_sticky(p.server, HO_EPOCH_APP, &p.sout, ALERT(UNEXPECTED_MESSAGE));
    end_case();
    pair_free(&p);
    pair_begin(&p, c, scfg);
    pair_run(&p);
    begin_case("srv_client_hello_after_handshake_initial_epoch");
    expect_rc("second ClientHello", ho_tls_handle(p.server, HO_EPOCH_INITIAL, b.data, b.len, &p.sout),
              ALERT(UNEXPECTED_MESSAGE));
    expect_sticky(p.server, HO_EPOCH_INITIAL, &p.sout, ALERT(UNEXPECTED_MESSAGE));
    end_case();
    pair_free(&p);
    /* KeyUpdate with request_update 2 from the client (§4.6.3). */
    pair_begin(&p, c, scfg);
    pair_run(&p);
    begin_case("srv_key_update_value_2");
    static const uint8_t ku2[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 2};
    expect_rc("KeyUpdate", ho_tls_handle(p.server, HO_EPOCH_APP, ku2, sizeof(ku2), &p.sout),
              ALERT(ILLEGAL_PARAMETER));
    expect_sticky(p.server, HO_EPOCH_APP, &p.sout, ALERT(ILLEGAL_PARAMETER));
    end_case();
    pair_free(&p);
    ho_tls_config_free(c);
    ho_buf_free(&b);
}

/* A server that has sent its flight (WAIT_FINISHED) gets `msg`. */
static void server_after_ch_case(const char *name, ho_epoch epoch, const uint8_t *msg, size_t len, int want)
{
    begin_case(name);
    ho_tls *s = ho_tls_new(scfg, NULL);
    ho_tls_set_now(s, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf b;
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    expect_rc("ClientHello", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data, b.len, &out), HO_OK);
    expect_rc("message", ho_tls_handle(s, epoch, msg, len, &out), want);
    expect_sticky(s, epoch, &out, want);
    ho_buf_free(&b);
    ho_tls_out_free(&out);
    ho_tls_free(s);
    end_case();
}

static void test_server_wait_finished(void)
{
    /* §4.6.3: KeyUpdate before Finished. */
    static const uint8_t ku[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 0};
    server_after_ch_case("srv_key_update_before_finished", HO_EPOCH_HANDSHAKE, ku, sizeof(ku),
                         ALERT(UNEXPECTED_MESSAGE));
    /* §4.5: EndOfEarlyData when no early data was accepted. */
    static const uint8_t eoed[] = {HO_HS_END_OF_EARLY_DATA, 0, 0, 0};
    server_after_ch_case("srv_end_of_early_data_unexpected", HO_EPOCH_HANDSHAKE, eoed, sizeof(eoed),
                         ALERT(UNEXPECTED_MESSAGE));
    /* §4.4.2: a client Certificate nobody asked for. */
    static const uint8_t cert[] = {HO_HS_CERTIFICATE, 0, 0, 4, 0, 0, 0, 0};
    server_after_ch_case("srv_unsolicited_client_certificate", HO_EPOCH_HANDSHAKE, cert, sizeof(cert),
                         ALERT(UNEXPECTED_MESSAGE));
    static const uint8_t fin[4 + 32] = {HO_HS_FINISHED, 0, 0, 32};
    server_after_ch_case("srv_finished_at_initial_epoch", HO_EPOCH_INITIAL, fin, sizeof(fin),
                         ALERT(UNEXPECTED_MESSAGE));
    server_after_ch_case("srv_finished_at_app_epoch", HO_EPOCH_APP, fin, sizeof(fin), ALERT(UNEXPECTED_MESSAGE));
}

/* ---- server side: after HelloRetryRequest (§4.1.2, §4.1.4, §4.2.2) ---- */

enum hrr_variant { HRR_OK, HRR_SAME_GROUP, HRR_TWO_SHARES, HRR_NO_COOKIE, HRR_BAD_COOKIE, HRR_SUITE_GONE,
                   HRR_NOT_CH, HRR_PADDING, HRR_REORDERED, HRR_NEW_EXT, HRR_RANDOM, HRR_SESSION_ID };

static void hrr_server_case(const char *name, enum hrr_variant v, int want)
{
    begin_case(name);
    ho_tls *s = ho_tls_new(scfg_hrr, NULL);
    ho_tls_set_now(s, now_ms);
    ho_tls_out out;
    ho_tls_out_init(&out);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf b;
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    expect_rc("first ClientHello", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data, b.len, &out), HO_OK);
    ho_buf *hrr = &out.send[HO_EPOCH_INITIAL];
    ho_cursor cookie_ext, cookie = {0};
    expect_true("HelloRetryRequest", hrr->len > 38 && memcmp(hrr->data + 6, tb_hrr_random, 32) == 0);
    expect_true("cookie", tb_hello_ext(hrr->data, hrr->len, TB_EXT_COOKIE, &cookie_ext) &&
                              ho_get_block(&cookie_ext, 2, &cookie) && cookie.len > 0);

    /* ClientHello2: the P-256 share asked for, the cookie echoed. */
    uint8_t pub[65];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_p256, pub, &n);
    struct tb_share shares[2] = {{HO_GROUP_SECP256R1, pub, n}, {HO_GROUP_X25519, pub, 32}};
    tb_ext_set_key_shares(&ch.ext, shares, 1);
    if (v != HRR_NO_COOKIE) {
        ho_buf c;
        ho_buf_init(&c);
        size_t t = ho_block_open(&c, 2);
        ho_put_bytes(&c, cookie.p, cookie.len);
        ho_block_close(&c, t);
        if (v == HRR_BAD_COOKIE && c.len > 2)
            c.data[2] ^= 0x80;
        tb_ext_set_buf(&ch.ext, TB_EXT_COOKIE, &c);
        ho_buf_free(&c);
    }
    if (v == HRR_SAME_GROUP) {
        uint8_t x[32];
        size_t xn = sizeof(x);
        crypto_kex_public(kex_x25519, x, &xn);
        struct tb_share xs = {HO_GROUP_X25519, x, xn};
        tb_ext_set_key_shares(&ch.ext, &xs, 1);
    } else if (v == HRR_TWO_SHARES) {
        uint8_t x[32];
        size_t xn = sizeof(x);
        crypto_kex_public(kex_x25519, x, &xn);
        shares[1].key = x;
        tb_ext_set_key_shares(&ch.ext, shares, 2);
    } else if (v == HRR_SUITE_GONE) {
        const uint16_t only = HO_TLS_AES_256_GCM_SHA384; /* the HRR chose AES-128-GCM */
        tb_ch_set_suites(&ch, &only, 1);
    } else if (v == HRR_PADDING) {
        static const uint8_t zeros[40];
        tb_ext_add(&ch.ext, 21 /* padding: may be added (§4.1.2) */, zeros, sizeof(zeros));
        tb_ext_move(&ch.ext, 21, 0);
    } else if (v == HRR_REORDERED) {
        tb_ext_move(&ch.ext, TB_EXT_SUPPORTED_VERSIONS, ch.ext.n); /* last */
    } else if (v == HRR_NEW_EXT) {
        tb_ext_add(&ch.ext, 0x7a7a, "x", 1);
    } else if (v == HRR_RANDOM) {
        ch.random[7] ^= 1;
    } else if (v == HRR_SESSION_ID) {
        ch.session_id_len = 0;
    }
    b.len = 0;
    if (v == HRR_NOT_CH) {
        static const uint8_t fin[4 + 32] = {HO_HS_FINISHED, 0, 0, 32};
        ho_put_bytes(&b, fin, sizeof(fin));
    } else {
        tb_ch_build(&ch, &b);
    }
    hrr->len = 0;
    expect_rc("second ClientHello", ho_tls_handle(s, HO_EPOCH_INITIAL, b.data, b.len, &out), want);
    if (want == HO_OK)
        expect_true("ServerHello", hrr->len > 38 && memcmp(hrr->data + 6, tb_hrr_random, 32) != 0);
    expect_sticky(s, HO_EPOCH_INITIAL, &out, want);
    ho_buf_free(&b);
    ho_tls_out_free(&out);
    ho_tls_free(s);
    end_case();
}

static void test_hrr_server(void)
{
    hrr_server_case("hrr_control_valid_second_hello", HRR_OK, HO_OK);
    hrr_server_case("hrr_ch2_share_for_other_group", HRR_SAME_GROUP, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_two_shares", HRR_TWO_SHARES, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_without_cookie", HRR_NO_COOKIE, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_wrong_cookie", HRR_BAD_COOKIE, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_without_hrr_suite", HRR_SUITE_GONE, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_not_a_client_hello", HRR_NOT_CH, ALERT(UNEXPECTED_MESSAGE));
    /* §4.1.2: "the same ClientHello without modification" but for the
     * listed changes; padding is one of them. */
    hrr_server_case("hrr_ch2_padding_added", HRR_PADDING, HO_OK);
    hrr_server_case("hrr_ch2_extensions_reordered", HRR_REORDERED, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_extension_added", HRR_NEW_EXT, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_other_random", HRR_RANDOM, ALERT(ILLEGAL_PARAMETER));
    hrr_server_case("hrr_ch2_other_session_id", HRR_SESSION_ID, ALERT(ILLEGAL_PARAMETER));
}

/* ---- server side: the client's Finished, PSK binders ----------------- */

enum fin_variant { FIN_FLIP, FIN_SHORT, FIN_LONG };

static void client_finished_case(const char *name, enum fin_variant v, int want)
{
    begin_case(name);
    ho_tls_config *c = new_client_cfg();
    struct tls_pair p;
    pair_begin(&p, c, scfg);
    expect_rc("start", ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    expect_rc("ClientHello", ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout), HO_OK);
    ch->len = 0;
    for (int e = 0; e < HO_EPOCH_COUNT; e++) {
        ho_buf *f = &p.sout.send[e];
        if (f->len > 0)
            expect_rc("server flight", ho_tls_handle(p.client, (ho_epoch)e, f->data, f->len, &p.cout), HO_OK);
        f->len = 0;
    }
    ho_buf *fin = &p.cout.send[HO_EPOCH_HANDSHAKE];
    expect_true("client Finished", fin->len == 4 + 32 && fin->data[0] == HO_HS_FINISHED);
    ho_buf m;
    ho_buf_init(&m);
    if (v == FIN_FLIP) {
        ho_put_bytes(&m, fin->data, fin->len);
        m.data[4 + 7] ^= 0x01;
    } else if (v == FIN_SHORT) {
        tb_msg_truncated(&m, fin->data, fin->len - 5);
    } else {
        tb_msg(&m, HO_HS_FINISHED, fin->data + 4, fin->len - 4);
        ho_put_u8(&m, 0);
        m.data[3]++;
    }
    expect_rc("Finished", ho_tls_handle(p.server, HO_EPOCH_HANDSHAKE, m.data, m.len, &p.sout), want);
    expect_true("server not done", !ho_tls_handshake_done(p.server));
    expect_sticky(p.server, HO_EPOCH_HANDSHAKE, &p.sout, want);
    ho_buf_free(&m);
    pair_free(&p);
    ho_tls_config_free(c);
    end_case();
}

static void test_psk_binder(void)
{
    ho_tls_config *c = new_client_cfg();
    struct tls_pair p;
    /* Control: the saved session resumes. */
    begin_case("psk_control_resumes");
    pair_begin(&p, c, scfg);
    expect_rc("set session", ho_tls_set_session(p.client, session_blob, session_len), HO_OK);
    pair_run(&p);
    expect_rc("client", p.client_err, HO_OK);
    expect_rc("server", p.server_err, HO_OK);
    expect_true("resumed", ho_tls_is_resumed(p.server));
    pair_free(&p);
    end_case();

    /* §4.2.11: a binder that does not verify is decrypt_error. */
    begin_case("psk_bad_binder");
    pair_begin(&p, c, scfg);
    ho_tls_set_session(p.client, session_blob, session_len);
    expect_rc("start", ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    ch->data[ch->len - 5] ^= 0x20; /* inside the (last) binder */
    expect_rc("ClientHello", ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout),
              ALERT(DECRYPT_ERROR));
    expect_sticky(p.server, HO_EPOCH_INITIAL, &p.sout, ALERT(DECRYPT_ERROR));
    pair_free(&p);
    end_case();

    /* The binder covers the hello: change a byte before the binders. */
    begin_case("psk_hello_changed_after_binding");
    pair_begin(&p, c, scfg);
    ho_tls_set_session(p.client, session_blob, session_len);
    ho_tls_start(p.client, &p.cout);
    ch = &p.cout.send[HO_EPOCH_INITIAL];
    ch->data[4 + 2 + 5] ^= 0x01; /* a byte of ClientHello.random */
    expect_rc("ClientHello", ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout),
              ALERT(DECRYPT_ERROR));
    pair_free(&p);
    end_case();
    ho_tls_config_free(c);
}

/* ---- record layer (src/tls/record.c, RFC 8446 §5) ---------------------- */

struct rec_pair {
    ho_tls_config *ccfg;
    ho_tls_conn *client, *server;
    uint8_t client_app_secret[32]; /* CLIENT_TRAFFIC_SECRET_0, from the key log */
    bool have_secret;
};

static int hexval(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

static void rec_keylog(void *ctx, ho_tls *tls, const char *line)
{
    struct rec_pair *r = ctx;
    const char *label = "CLIENT_TRAFFIC_SECRET_0 ";
    if (strncmp(line, label, strlen(label)) != 0)
        return;
    const char *hex = strchr(line + strlen(label), ' ');
    if (hex == NULL || strlen(hex + 1) != 64)
        return;
    for (int i = 0; i < 32; i++)
        r->client_app_secret[i] = (uint8_t)(hexval(hex[1 + 2 * i]) << 4 | hexval(hex[2 + 2 * i]));
    r->have_secret = true;
}

static int rec_transfer(ho_tls_conn *from, ho_tls_conn *to)
{
    ho_buf *out = ho_tls_conn_out(from);
    int rc = out->len ? ho_tls_conn_receive(to, out->data, out->len) : HO_OK;
    ho_buf_consume(out, out->len);
    return rc;
}

/* A client and a server conn; with `connect`, the handshake is run. */
static void rec_begin(struct rec_pair *r, bool connect)
{
    memset(r, 0, sizeof(*r));
    r->ccfg = new_client_cfg();
    const uint16_t aes128 = HO_TLS_AES_128_GCM_SHA256;
    ho_tls_config_set_suites(r->ccfg, &aes128, 1);
    ho_tls_callbacks cb = {.keylog = rec_keylog, .ctx = r};
    ho_tls_config_set_callbacks(r->ccfg, &cb);
    r->client = ho_tls_conn_new(r->ccfg, "localhost");
    r->server = ho_tls_conn_new(scfg, NULL);
    ho_tls_set_now(ho_tls_conn_tls(r->client), now_ms);
    ho_tls_set_now(ho_tls_conn_tls(r->server), now_ms);
    if (!connect)
        return;
    expect_rc("conn start", ho_tls_conn_start(r->client), HO_OK);
    for (int i = 0; i < 8; i++) {
        expect_rc("client->server", rec_transfer(r->client, r->server), HO_OK);
        expect_rc("server->client", rec_transfer(r->server, r->client), HO_OK);
    }
    expect_true("connected", ho_tls_conn_handshake_done(r->client) && ho_tls_conn_handshake_done(r->server) &&
                                 r->have_secret);
}

static void rec_end(struct rec_pair *r)
{
    ho_tls_conn_free(r->client);
    ho_tls_conn_free(r->server);
    ho_tls_config_free(r->ccfg);
}

/* A record as the client would protect it with its first application key
 * (sequence 0): inner = content || type || zeros. */
static void rec_seal_client(struct rec_pair *r, const uint8_t *inner, size_t inner_len, ho_buf *out)
{
    uint8_t key[16], iv[HO_AEAD_IV_LEN];
    crypto_hkdf_expand_label(HO_HASH_SHA256, r->client_app_secret, "key", NULL, 0, key, sizeof(key));
    crypto_hkdf_expand_label(HO_HASH_SHA256, r->client_app_secret, "iv", NULL, 0, iv, sizeof(iv));
    crypto_aead *a = crypto_aead_new(HO_AEAD_AES_128_GCM, true, key, iv);
    size_t body = inner_len + CRYPTO_AEAD_TAG_LEN;
    uint8_t header[5] = {23, 3, 3, (uint8_t)(body >> 8), (uint8_t)body};
    ho_put_bytes(out, header, 5);
    uint8_t *p = ho_put_space(out, body);
    expect_true("seal", a != NULL && p != NULL && crypto_aead_seal(a, 0, header, 5, inner, inner_len, p) == HO_OK);
    crypto_aead_free(a);
}

/* The server receives `rec`; it must fail with `want`, queue the fatal
 * alert (checked in plaintext, or by the client receiving it), and stay
 * failed. */
static void rec_expect(struct rec_pair *r, const uint8_t *rec, size_t len, int want, bool encrypted_alert)
{
    expect_rc("server receive", ho_tls_conn_receive(r->server, rec, len), want);
    ho_buf *out = ho_tls_conn_out(r->server);
    uint8_t desc = ho_err_alert(want);
    if (!encrypted_alert) {
        const uint8_t alert[7] = {21, 3, 3, 0, 2, 2, desc};
        expect_true("plaintext alert record queued", out->len >= 7 && memcmp(out->data + out->len - 7, alert, 7) == 0);
    } else {
        expect_rc("client reads the alert", rec_transfer(r->server, r->client), HO_ERR_TLS_PEER_ALERT(desc));
    }
    const uint8_t more[] = {23, 3, 3, 0, 1, 0};
    expect_rc("sticky", ho_tls_conn_receive(r->server, more, sizeof(more)), want);
}

static void test_records(void)
{
    struct rec_pair r;
    /* §5.2: a record longer than 2^14 + 256 (decided from the header). */
    begin_case("rec_oversized_ciphertext_length");
    rec_begin(&r, false);
    const uint8_t big[] = {22, 3, 3, 0x41, 0x01};
    rec_expect(&r, big, sizeof(big), ALERT(RECORD_OVERFLOW), false);
    rec_end(&r);
    end_case();

    /* §5.1: a plaintext record longer than 2^14. */
    begin_case("rec_oversized_plaintext");
    rec_begin(&r, false);
    ho_buf b;
    ho_buf_init(&b);
    const uint8_t hdr[] = {22, 3, 3, 0x40, 0x01};
    ho_put_bytes(&b, hdr, sizeof(hdr));
    uint8_t *fill = ho_put_space(&b, 0x4001);
    if (fill != NULL)
        memset(fill, 0x01, 0x4001);
    rec_expect(&r, b.data, b.len, ALERT(RECORD_OVERFLOW), false);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    /* §5: an unknown record type. */
    begin_case("rec_unknown_content_type");
    rec_begin(&r, false);
    const uint8_t unknown[] = {24, 3, 3, 0, 3, 1, 0, 0};
    rec_expect(&r, unknown, sizeof(unknown), ALERT(UNEXPECTED_MESSAGE), false);
    rec_end(&r);
    end_case();

    /* §2, §5: application data before the handshake. */
    begin_case("rec_application_data_before_handshake");
    rec_begin(&r, false);
    const uint8_t early[] = {23, 3, 3, 0, 5, 'h', 'e', 'l', 'l', 'o'};
    rec_expect(&r, early, sizeof(early), ALERT(UNEXPECTED_MESSAGE), false);
    rec_end(&r);
    end_case();

    /* §5: change_cipher_spec other than the single byte 0x01. */
    begin_case("rec_change_cipher_spec_bad_value");
    rec_begin(&r, false);
    const uint8_t ccs2[] = {20, 3, 3, 0, 1, 2};
    rec_expect(&r, ccs2, sizeof(ccs2), ALERT(UNEXPECTED_MESSAGE), false);
    rec_end(&r);
    end_case();

    /* §5: "change_cipher_spec record received before the first ClientHello
     * message ... MUST be treated as an unexpected record type". */
    begin_case("rec_change_cipher_spec_before_client_hello");
    rec_begin(&r, false);
    const uint8_t ccs[] = {20, 3, 3, 0, 1, 1};
    rec_expect(&r, ccs, sizeof(ccs), ALERT(UNEXPECTED_MESSAGE), false);
    rec_end(&r);
    end_case();

    /* §5.2: garbage in a protected record. */
    begin_case("rec_protected_garbage");
    rec_begin(&r, true);
    uint8_t garbage[5 + 40] = {23, 3, 3, 0, 40};
    for (int i = 0; i < 40; i++)
        garbage[5 + i] = (uint8_t)(i * 37 + 11);
    rec_expect(&r, garbage, sizeof(garbage), ALERT(BAD_RECORD_MAC), true);
    rec_end(&r);
    end_case();

    begin_case("rec_protected_shorter_than_tag");
    rec_begin(&r, true);
    const uint8_t tiny[] = {23, 3, 3, 0, 4, 1, 2, 3, 4};
    rec_expect(&r, tiny, sizeof(tiny), ALERT(BAD_RECORD_MAC), true);
    rec_end(&r);
    end_case();

    /* §5: once keys are in use, a plaintext handshake record is unexpected. */
    begin_case("rec_plaintext_handshake_after_keys");
    rec_begin(&r, true);
    const uint8_t ku[] = {22, 3, 3, 0, 5, HO_HS_KEY_UPDATE, 0, 0, 1, 0};
    rec_expect(&r, ku, sizeof(ku), ALERT(UNEXPECTED_MESSAGE), true);
    rec_end(&r);
    end_case();

    /* Appendix A.1: a client may send the alert that ends the handshake
     * in the clear after ServerHello. The server takes it as the client's
     * alert and answers nothing. */
    begin_case("rec_plaintext_alert_during_handshake");
    rec_begin(&r, false);
    expect_rc("conn start", ho_tls_conn_start(r.client), HO_OK);
    expect_rc("client hello", rec_transfer(r.client, r.server), HO_OK);
    size_t flight = ho_tls_conn_out(r.server)->len;
    expect_true("server flight", flight > 0);
    const uint8_t clear_alert[] = {21, 3, 3, 0, 2, 2, HO_ALERT_UNKNOWN_CA};
    expect_rc("server receive", ho_tls_conn_receive(r.server, clear_alert, sizeof(clear_alert)),
              HO_ERR_TLS_PEER_ALERT(HO_ALERT_UNKNOWN_CA));
    expect_true("no alert in answer", ho_tls_conn_out(r.server)->len == flight);
    rec_end(&r);
    end_case();

    /* After the handshake, alerts are protected: a plaintext one is not. */
    begin_case("rec_plaintext_alert_after_handshake");
    rec_begin(&r, true);
    rec_expect(&r, clear_alert, sizeof(clear_alert), ALERT(UNEXPECTED_MESSAGE), true);
    rec_end(&r);
    end_case();

    /* §5: change_cipher_spec after the peer's Finished. */
    begin_case("rec_change_cipher_spec_after_handshake");
    rec_begin(&r, true);
    rec_expect(&r, ccs, sizeof(ccs), ALERT(UNEXPECTED_MESSAGE), true);
    rec_end(&r);
    end_case();

    /* Correctly protected records with bad contents (client app key, seq 0). */
    begin_case("rec_protected_control_app_data");
    rec_begin(&r, true);
    ho_buf_init(&b);
    const uint8_t hi[] = {'h', 'i', 23, 0, 0};
    rec_seal_client(&r, hi, sizeof(hi), &b);
    expect_rc("server receive", ho_tls_conn_receive(r.server, b.data, b.len), HO_OK);
    ho_buf *in = ho_tls_conn_app_in(r.server);
    expect_true("app data", in->len == 2 && memcmp(in->data, "hi", 2) == 0);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    /* §5.4: no non-zero byte in the inner plaintext. */
    begin_case("rec_protected_all_zero_inner");
    rec_begin(&r, true);
    ho_buf_init(&b);
    const uint8_t zeros[8] = {0};
    rec_seal_client(&r, zeros, sizeof(zeros), &b);
    rec_expect(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    /* §5.2: inner plaintext over 2^14 + 1. */
    begin_case("rec_protected_inner_too_long");
    rec_begin(&r, true);
    ho_buf_init(&b);
    uint8_t *huge = malloc(0x4002);
    expect_true("malloc", huge != NULL);
    if (huge == NULL)
        abort();
    memset(huge, 'x', 0x4001); /* 2^14 + 1 content bytes, then the type */
    huge[0x4001] = 23;
    rec_seal_client(&r, huge, 0x4002, &b);
    free(huge);
    rec_expect(&r, b.data, b.len, ALERT(RECORD_OVERFLOW), true);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    /* §5: a protected change_cipher_spec, and an unknown inner type. */
    begin_case("rec_protected_change_cipher_spec");
    rec_begin(&r, true);
    ho_buf_init(&b);
    const uint8_t pccs[] = {1, 20};
    rec_seal_client(&r, pccs, sizeof(pccs), &b);
    rec_expect(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    begin_case("rec_protected_unknown_inner_type");
    rec_begin(&r, true);
    ho_buf_init(&b);
    const uint8_t unk[] = {1, 2, 3, 99};
    rec_seal_client(&r, unk, sizeof(unk), &b);
    rec_expect(&r, b.data, b.len, ALERT(UNEXPECTED_MESSAGE), true);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();

    /* §6: an alert record of the wrong length. */
    begin_case("rec_alert_wrong_length");
    rec_begin(&r, false);
    const uint8_t alert3[] = {21, 3, 3, 0, 3, 2, 40, 0};
    rec_expect(&r, alert3, sizeof(alert3), ALERT(DECODE_ERROR), false);
    rec_end(&r);
    end_case();

    /* Engine errors surface as alert records too: a bad ClientHello. */
    begin_case("rec_bad_client_hello_alert_record");
    rec_begin(&r, false);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ch.comp[0] = 1;
    ho_buf m;
    ho_buf_init(&m);
    tb_ch_build(&ch, &m);
    ho_buf_init(&b);
    const uint8_t h[] = {22, 3, 1, (uint8_t)(m.len >> 8), (uint8_t)m.len};
    ho_put_bytes(&b, h, sizeof(h));
    ho_put_bytes(&b, m.data, m.len);
    rec_expect(&r, b.data, b.len, ALERT(ILLEGAL_PARAMETER), false);
    ho_buf_free(&m);
    ho_buf_free(&b);
    rec_end(&r);
    end_case();
}

int main(void)
{
    verbose = getenv("HO_BADINPUT_VERBOSE") != NULL;
    if (verbose)
        ho_event_subscribe(on_event, NULL);
    setup();
    RUN(test_client_hello_table);
    RUN(test_truncations);
    RUN(test_partial_message);
    RUN(test_server_unexpected);
    RUN(test_server_wait_finished);
    RUN(test_hrr_server);
    client_finished_case("fin_client_bad_verify_data", FIN_FLIP, ALERT(DECRYPT_ERROR));
    client_finished_case("fin_client_short", FIN_SHORT, ALERT(DECODE_ERROR));
    client_finished_case("fin_client_long", FIN_LONG, ALERT(DECODE_ERROR));
    RUN(test_psk_binder);
    RUN(test_records);
    teardown();
    printf("test_tls_badinput: %d cases, %d failed\n", case_count, case_failed);
    return ho_test_summary("test_tls_badinput");
}
