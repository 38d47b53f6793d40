/* Hostile and malformed handshake input, client side: a real client
 * answered with crafted ServerHellos / HelloRetryRequests, re-framed
 * server flights and post-handshake messages; every case asserts the exact
 * alert RFC 8446 asks for and that the error is sticky. Expected alerts are
 * the RFC's, not necessarily the engine's: a failure here is an engine
 * discrepancy to fix. */
#include "tls_badinput.h"

/* ---- client side: crafted ServerHello / HelloRetryRequest ------------ */

struct client_run {
    ho_tls *tls;
    ho_tls_out out;
    uint8_t sid[32];
    size_t sid_len;
};

static void client_begin(struct client_run *r, ho_tls_config *cfg)
{
    r->tls = ho_tls_new(cfg, "localhost");
    ho_tls_set_now(r->tls, now_ms);
    ho_tls_out_init(&r->out);
    expect_rc("client start", ho_tls_start(r->tls, &r->out), HO_OK);
    ho_buf *ch = &r->out.send[HO_EPOCH_INITIAL];
    ho_cursor sid = {0}, exts;
    expect_true("parse ClientHello", tb_hello_parse(ch->data, ch->len, &sid, &exts) && sid.len <= 32);
    r->sid_len = sid.len <= 32 ? sid.len : 0;
    memcpy(r->sid, sid.p, r->sid_len);
    ch->len = 0;
}

static void client_end(struct client_run *r)
{
    ho_tls_out_free(&r->out);
    ho_tls_free(r->tls);
}

static int client_feed_sh(struct client_run *r, const struct tb_server_hello *sh)
{
    ho_buf b;
    ho_buf_init(&b);
    tb_sh_build(sh, &b);
    int rc = ho_tls_handle(r->tls, HO_EPOCH_INITIAL, b.data, b.len, &r->out);
    ho_buf_free(&b);
    return rc;
}

typedef void (*sh_mutator)(struct tb_server_hello *sh, crypto_kex *server_kex);

static void s_none(struct tb_server_hello *sh, crypto_kex *k) { (void)sh; }
static void s_suite_not_offered(struct tb_server_hello *sh, crypto_kex *k) { sh->suite = HO_TLS_AES_256_GCM_SHA384; }
static void s_suite_unknown(struct tb_server_hello *sh, crypto_kex *k) { sh->suite = 0x1304; }
static void s_sid_mismatch(struct tb_server_hello *sh, crypto_kex *k) { sh->session_id[31] ^= 1; }
static void s_sid_empty(struct tb_server_hello *sh, crypto_kex *k) { sh->session_id_len = 0; }
static void s_no_versions(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_ext_remove(&sh->ext, TB_EXT_SUPPORTED_VERSIONS);
}
static void s_version_12(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t v[] = {0x03, 0x03};
    tb_ext_set(&sh->ext, TB_EXT_SUPPORTED_VERSIONS, v, 2);
}
static void s_version_unoffered(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t v[] = {0x7f, 0x1c}; /* a draft version we did not offer */
    tb_ext_set(&sh->ext, TB_EXT_SUPPORTED_VERSIONS, v, 2);
}
static void s_share_other_group(struct tb_server_hello *sh, crypto_kex *k)
{
    uint8_t pub[65], ks[4 + 65];
    size_t n = sizeof(pub);
    crypto_kex_public(kex_p256, pub, &n);
    ks[0] = 0;
    ks[1] = (uint8_t)HO_GROUP_SECP256R1;
    ks[2] = 0;
    ks[3] = (uint8_t)n;
    memcpy(ks + 4, pub, n);
    tb_ext_set(&sh->ext, TB_EXT_KEY_SHARE, ks, 4 + n);
}
/* An X25519MLKEM768 server share (the client offered it first) whose
 * length is not ciphertext (1088) || X25519 (32): illegal_parameter. */
static void set_sh_mlkem(struct tb_server_hello *sh, size_t n)
{
    static uint8_t ks[4 + 1200];
    memset(ks, 0x5a, sizeof(ks));
    ks[0] = (uint8_t)(HO_GROUP_X25519MLKEM768 >> 8);
    ks[1] = (uint8_t)HO_GROUP_X25519MLKEM768;
    ks[2] = (uint8_t)(n >> 8);
    ks[3] = (uint8_t)n;
    tb_ext_set(&sh->ext, TB_EXT_KEY_SHARE, ks, 4 + n);
}
static void s_mlkem_short(struct tb_server_hello *sh, crypto_kex *k) { set_sh_mlkem(sh, 1119); }
static void s_mlkem_long(struct tb_server_hello *sh, crypto_kex *k) { set_sh_mlkem(sh, 1121); }
static void s_mlkem_x25519_size(struct tb_server_hello *sh, crypto_kex *k) { set_sh_mlkem(sh, 32); }
static void s_no_key_share(struct tb_server_hello *sh, crypto_kex *k) { tb_ext_remove(&sh->ext, TB_EXT_KEY_SHARE); }
static void s_share_zero(struct tb_server_hello *sh, crypto_kex *k)
{
    uint8_t ks[4 + 32] = {0, (uint8_t)HO_GROUP_X25519, 0, 32};
    tb_ext_set(&sh->ext, TB_EXT_KEY_SHARE, ks, sizeof(ks));
}
static void s_alpn(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t a[] = {0, 3, 2, 'h', '2'};
    tb_ext_add(&sh->ext, TB_EXT_ALPN, a, sizeof(a));
}
static void s_unknown_ext(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_ext_add(&sh->ext, 0x7a7a, NULL, 0);
}
static void s_psk_not_offered(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t sel[] = {0, 0};
    tb_ext_add(&sh->ext, TB_EXT_PRE_SHARED_KEY, sel, 2);
}
static void s_cookie_in_sh(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t ck[] = {0, 2, 0xaa, 0xbb};
    tb_ext_add(&sh->ext, TB_EXT_COOKIE, ck, sizeof(ck));
}
static void s_dup_versions(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_ext_dup(&sh->ext, TB_EXT_SUPPORTED_VERSIONS);
}
static void s_compression(struct tb_server_hello *sh, crypto_kex *k) { sh->comp = 1; }
static void s_sid_33(struct tb_server_hello *sh, crypto_kex *k)
{
    sh->session_id[32] = 0x33;
    sh->session_id_len = 33;
}
static void s_versions_list(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t v[] = {0x03, 0x04, 0x03, 0x04};
    tb_ext_set(&sh->ext, TB_EXT_SUPPORTED_VERSIONS, v, 4);
}
static void s_share_empty(struct tb_server_hello *sh, crypto_kex *k)
{
    const uint8_t ks[] = {0, (uint8_t)HO_GROUP_X25519, 0, 0};
    tb_ext_set(&sh->ext, TB_EXT_KEY_SHARE, ks, sizeof(ks));
}
static void s_hrr_suite_not_offered(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, HO_TLS_CHACHA20_POLY1305_SHA256, HO_GROUP_SECP256R1);
}
static void s_hrr_sid_mismatch(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_SECP256R1);
    sh->session_id[0] ^= 0xff;
}
static void s_hrr_unknown_ext(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_SECP256R1);
    tb_ext_add(&sh->ext, 0x7a7a, NULL, 0);
}
static void s_hrr_empty_cookie(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_SECP256R1);
    const uint8_t ck[] = {0, 0};
    tb_ext_add(&sh->ext, TB_EXT_COOKIE, ck, 2);
}
static void s_hrr_cookie_only(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, 0);
    const uint8_t ck[] = {0, 2, 0xc0, 0x0c};
    tb_ext_add(&sh->ext, TB_EXT_COOKIE, ck, sizeof(ck));
}
static void s_hrr_same_group(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_X25519);
}
static void s_hrr_unsupported_group(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_SECP384R1);
}
static void s_hrr_no_change(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, 0);
}
static void s_hrr_alpn(struct tb_server_hello *sh, crypto_kex *k)
{
    tb_hrr_init(sh, sh->session_id, sh->session_id_len, sh->suite, HO_GROUP_SECP256R1);
    const uint8_t a[] = {0, 3, 2, 'h', '2'};
    tb_ext_add(&sh->ext, TB_EXT_ALPN, a, sizeof(a));
}

struct sh_case {
    const char *name;
    sh_mutator mutate;
    int want;
};

static const struct sh_case sh_cases[] = {
    {"sh_control_valid", s_none, HO_OK},
    {"hrr_control_cookie_only", s_hrr_cookie_only, HO_OK},
    /* §6.2 decode_error: out-of-range lengths */
    {"sh_session_id_echo_33_bytes", s_sid_33, ALERT(DECODE_ERROR)},
    {"sh_supported_versions_is_a_list", s_versions_list, ALERT(DECODE_ERROR)},
    {"sh_key_share_empty_key", s_share_empty, ALERT(DECODE_ERROR)},
    {"hrr_empty_cookie", s_hrr_empty_cookie, ALERT(DECODE_ERROR)},
    /* §4.1.3 */
    {"sh_cipher_suite_not_offered", s_suite_not_offered, ALERT(ILLEGAL_PARAMETER)},
    {"sh_cipher_suite_unknown", s_suite_unknown, ALERT(ILLEGAL_PARAMETER)},
    {"sh_session_id_echo_mismatch", s_sid_mismatch, ALERT(ILLEGAL_PARAMETER)},
    {"sh_session_id_echo_empty", s_sid_empty, ALERT(ILLEGAL_PARAMETER)},
    {"sh_nonzero_compression", s_compression, ALERT(ILLEGAL_PARAMETER)},
    /* §4.2.1 */
    {"sh_no_supported_versions", s_no_versions, ALERT(PROTOCOL_VERSION)},
    {"sh_selected_version_0303", s_version_12, ALERT(ILLEGAL_PARAMETER)},
    {"sh_selected_version_not_offered", s_version_unoffered, ALERT(ILLEGAL_PARAMETER)},
    /* §4.2.8 */
    {"sh_key_share_group_not_sent", s_share_other_group, ALERT(ILLEGAL_PARAMETER)},
    {"sh_missing_key_share", s_no_key_share, ALERT(MISSING_EXTENSION)},
    {"sh_x25519_share_all_zero", s_share_zero, ALERT(ILLEGAL_PARAMETER)},
    /* draft-ietf-tls-ecdhe-mlkem §4.1: ciphertext of the wrong size */
    {"sh_x25519mlkem768_share_short", s_mlkem_short, ALERT(ILLEGAL_PARAMETER)},
    {"sh_x25519mlkem768_share_long", s_mlkem_long, ALERT(ILLEGAL_PARAMETER)},
    {"sh_x25519mlkem768_share_x25519_size", s_mlkem_x25519_size, ALERT(ILLEGAL_PARAMETER)},
    /* §4.2: extensions */
    {"sh_alpn_not_allowed_in_sh", s_alpn, ALERT(ILLEGAL_PARAMETER)},
    {"sh_cookie_not_allowed_in_sh", s_cookie_in_sh, ALERT(ILLEGAL_PARAMETER)},
    {"sh_unknown_extension", s_unknown_ext, ALERT(UNSUPPORTED_EXTENSION)},
    {"sh_pre_shared_key_not_offered", s_psk_not_offered, ALERT(UNSUPPORTED_EXTENSION)},
    {"sh_duplicate_supported_versions", s_dup_versions, ALERT(ILLEGAL_PARAMETER)},
    /* §4.1.4, §4.2.8 */
    {"hrr_selects_group_already_sent", s_hrr_same_group, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_selects_group_not_offered", s_hrr_unsupported_group, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_changes_nothing", s_hrr_no_change, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_alpn_not_allowed", s_hrr_alpn, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_cipher_suite_not_offered", s_hrr_suite_not_offered, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_session_id_echo_mismatch", s_hrr_sid_mismatch, ALERT(ILLEGAL_PARAMETER)},
    {"hrr_unknown_extension", s_hrr_unknown_ext, ALERT(UNSUPPORTED_EXTENSION)},
};

static void test_server_hello_table(void)
{
    ho_tls_config *c = new_client_cfg();
    const uint16_t aes128 = HO_TLS_AES_128_GCM_SHA256;
    ho_tls_config_set_suites(c, &aes128, 1);
    for (size_t i = 0; i < sizeof(sh_cases) / sizeof(sh_cases[0]); i++) {
        begin_case(sh_cases[i].name);
        struct client_run r;
        client_begin(&r, c);
        crypto_kex *k = crypto_kex_new(HO_GROUP_X25519);
        struct tb_server_hello sh;
        tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, k);
        sh_cases[i].mutate(&sh, k);
        expect_rc("ServerHello", client_feed_sh(&r, &sh), sh_cases[i].want);
        expect_sticky(r.tls, HO_EPOCH_INITIAL, &r.out, sh_cases[i].want);
        crypto_kex_free(k);
        client_end(&r);
        end_case();
    }

    /* Truncated ServerHello: decode_error. */
    begin_case("sh_truncated");
    struct client_run r;
    client_begin(&r, c);
    struct tb_server_hello sh;
    tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, kex_x25519);
    ho_buf b, t;
    ho_buf_init(&b);
    ho_buf_init(&t);
    tb_sh_build(&sh, &b);
    tb_msg_truncated(&t, b.data, b.len - 4 - 3);
    expect_rc("ServerHello", ho_tls_handle(r.tls, HO_EPOCH_INITIAL, t.data, t.len, &r.out), ALERT(DECODE_ERROR));
    expect_sticky(r.tls, HO_EPOCH_INITIAL, &r.out, ALERT(DECODE_ERROR));
    ho_buf_free(&b);
    ho_buf_free(&t);
    client_end(&r);
    end_case();

    /* ServerHello and EncryptedExtensions in one INITIAL flight: the second
     * message spans the key change (§5.1). */
    begin_case("sh_with_data_after_key_change");
    client_begin(&r, c);
    crypto_kex *k = crypto_kex_new(HO_GROUP_X25519);
    tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, k);
    ho_buf_init(&b);
    tb_sh_build(&sh, &b);
    const uint8_t ee[] = {HO_HS_ENCRYPTED_EXTENSIONS, 0, 0, 2, 0, 0};
    ho_put_bytes(&b, ee, sizeof(ee));
    expect_rc("ServerHello+EE", ho_tls_handle(r.tls, HO_EPOCH_INITIAL, b.data, b.len, &r.out),
              ALERT(UNEXPECTED_MESSAGE));
    ho_buf_free(&b);
    crypto_kex_free(k);
    client_end(&r);
    end_case();

    /* Messages a client in WAIT_SH does not expect. */
    begin_case("client_finished_before_server_hello");
    client_begin(&r, c);
    static const uint8_t fin[4 + 32] = {HO_HS_FINISHED, 0, 0, 32};
    expect_rc("Finished", ho_tls_handle(r.tls, HO_EPOCH_INITIAL, fin, sizeof(fin), &r.out),
              ALERT(UNEXPECTED_MESSAGE));
    expect_sticky(r.tls, HO_EPOCH_INITIAL, &r.out, ALERT(UNEXPECTED_MESSAGE));
    client_end(&r);
    end_case();

    begin_case("client_client_hello_echoed");
    client_begin(&r, c);
    struct tb_client_hello ch;
    tb_ch_init(&ch, kex_x25519, "localhost");
    ho_buf_init(&b);
    tb_ch_build(&ch, &b);
    expect_rc("ClientHello", ho_tls_handle(r.tls, HO_EPOCH_INITIAL, b.data, b.len, &r.out),
              ALERT(UNEXPECTED_MESSAGE));
    ho_buf_free(&b);
    client_end(&r);
    end_case();
    ho_tls_config_free(c);
}

/* Sequences through a HelloRetryRequest (client default groups: X25519
 * share first, P-256 offered). */
static void test_hrr_client(void)
{
    ho_tls_config *c = new_client_cfg();
    struct client_run r;
    struct tb_server_hello sh;

    /* §4.1.4: a second HelloRetryRequest is unexpected_message. */
    begin_case("hrr_second_hello_retry_request");
    client_begin(&r, c);
    tb_hrr_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, HO_GROUP_SECP256R1);
    expect_rc("first HRR", client_feed_sh(&r, &sh), HO_OK);
    expect_true("second ClientHello sent", r.out.send[HO_EPOCH_INITIAL].len > 0);
    r.out.send[HO_EPOCH_INITIAL].len = 0;
    expect_rc("second HRR", client_feed_sh(&r, &sh), ALERT(UNEXPECTED_MESSAGE));
    expect_sticky(r.tls, HO_EPOCH_INITIAL, &r.out, ALERT(UNEXPECTED_MESSAGE));
    client_end(&r);
    end_case();

    /* §4.1.4: the ServerHello suite must be the HRR's. */
    begin_case("hrr_then_sh_with_other_suite");
    client_begin(&r, c);
    tb_hrr_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, HO_GROUP_SECP256R1);
    expect_rc("HRR", client_feed_sh(&r, &sh), HO_OK);
    crypto_kex *k = crypto_kex_new(HO_GROUP_SECP256R1);
    tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_256_GCM_SHA384, k);
    expect_rc("ServerHello", client_feed_sh(&r, &sh), ALERT(ILLEGAL_PARAMETER));
    expect_sticky(r.tls, HO_EPOCH_INITIAL, &r.out, ALERT(ILLEGAL_PARAMETER));
    crypto_kex_free(k);
    client_end(&r);
    end_case();

    /* §4.2.8: after HRR the ServerHello share must be for the HRR group. */
    begin_case("hrr_then_sh_share_for_first_group");
    client_begin(&r, c);
    tb_hrr_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, HO_GROUP_SECP256R1);
    expect_rc("HRR", client_feed_sh(&r, &sh), HO_OK);
    k = crypto_kex_new(HO_GROUP_X25519);
    tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, k);
    expect_rc("ServerHello", client_feed_sh(&r, &sh), ALERT(ILLEGAL_PARAMETER));
    crypto_kex_free(k);
    client_end(&r);
    end_case();

    /* Control: HRR then a fitting ServerHello is accepted. */
    begin_case("hrr_control_then_valid_sh");
    client_begin(&r, c);
    tb_hrr_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, HO_GROUP_SECP256R1);
    expect_rc("HRR", client_feed_sh(&r, &sh), HO_OK);
    k = crypto_kex_new(HO_GROUP_SECP256R1);
    tb_sh_init(&sh, r.sid, r.sid_len, HO_TLS_AES_128_GCM_SHA256, k);
    expect_rc("ServerHello", client_feed_sh(&r, &sh), HO_OK);
    crypto_kex_free(k);
    client_end(&r);
    end_case();
    ho_tls_config_free(c);
}

/* ---- client side: the server's encrypted flight ---------------------- */

/* A real server flight: EE, Certificate, CertificateVerify, Finished. */
enum { F_EE, F_CT, F_CV, F_FIN };

struct flight {
    struct tls_pair p;
    struct tb_msgs m;
};

static void flight_begin(struct flight *f, ho_tls_config *ccfg)
{
    pair_begin(&f->p, ccfg, scfg);
    expect_rc("start", ho_tls_start(f->p.client, &f->p.cout), HO_OK);
    ho_buf *ch = &f->p.cout.send[HO_EPOCH_INITIAL];
    expect_rc("ClientHello", ho_tls_handle(f->p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &f->p.sout), HO_OK);
    ch->len = 0;
    ho_buf *sh = &f->p.sout.send[HO_EPOCH_INITIAL];
    expect_rc("ServerHello", ho_tls_handle(f->p.client, HO_EPOCH_INITIAL, sh->data, sh->len, &f->p.cout), HO_OK);
    sh->len = 0;
    ho_buf *hs = &f->p.sout.send[HO_EPOCH_HANDSHAKE];
    expect_true("server flight", tb_split(hs->data, hs->len, &f->m) && f->m.n == 4 &&
                                     f->m.p[F_EE][0] == HO_HS_ENCRYPTED_EXTENSIONS &&
                                     f->m.p[F_CT][0] == HO_HS_CERTIFICATE &&
                                     f->m.p[F_CV][0] == HO_HS_CERTIFICATE_VERIFY &&
                                     f->m.p[F_FIN][0] == HO_HS_FINISHED);
}

static void put_msg(ho_buf *b, const struct flight *f, int i)
{
    ho_put_bytes(b, f->m.p[i], f->m.len[i]);
}

/* Each builder writes what the client receives at HO_EPOCH_HANDSHAKE. */
typedef void (*flight_fn)(const struct flight *f, ho_buf *b);

static void put_ee(ho_buf *b, const struct tb_exts *x)
{
    ho_buf body;
    ho_buf_init(&body);
    tb_exts_put(&body, x, 0);
    tb_msg(b, HO_HS_ENCRYPTED_EXTENSIONS, body.data, body.len);
    ho_buf_free(&body);
}

static void f_control(const struct flight *f, ho_buf *b)
{
    for (int i = 0; i < 4; i++)
        put_msg(b, f, i);
}
static void f_ee_alpn(const struct flight *f, ho_buf *b)
{
    struct tb_exts x = {.n = 0};
    const uint8_t a[] = {0, 3, 2, 'h', '2'};
    tb_ext_add(&x, TB_EXT_ALPN, a, sizeof(a));
    put_ee(b, &x);
}
static void f_ee_alpn_other(const struct flight *f, ho_buf *b)
{
    struct tb_exts x = {.n = 0};
    const uint8_t a[] = {0, 9, 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    tb_ext_add(&x, TB_EXT_ALPN, a, sizeof(a));
    put_ee(b, &x);
}
static void f_ee_alpn_two(const struct flight *f, ho_buf *b)
{
    struct tb_exts x = {.n = 0};
    const uint8_t a[] = {0, 6, 2, 'h', '2', 2, 'h', '2'};
    tb_ext_add(&x, TB_EXT_ALPN, a, sizeof(a));
    put_ee(b, &x);
}
static void f_ee_key_share(const struct flight *f, ho_buf *b)
{
    struct tb_exts x = {.n = 0};
    const uint8_t ks[] = {0, 0x1d, 0, 1, 9};
    tb_ext_add(&x, TB_EXT_KEY_SHARE, ks, sizeof(ks));
    put_ee(b, &x);
}
static void f_ee_unknown(const struct flight *f, ho_buf *b)
{
    struct tb_exts x = {.n = 0};
    tb_ext_add(&x, 0x7a7a, NULL, 0);
    put_ee(b, &x);
}
static void f_ee_trailing(const struct flight *f, ho_buf *b)
{
    const uint8_t ee[] = {HO_HS_ENCRYPTED_EXTENSIONS, 0, 0, 3, 0, 0, 0};
    ho_put_bytes(b, ee, sizeof(ee));
}
static void f_cert_empty(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    const uint8_t ct[] = {HO_HS_CERTIFICATE, 0, 0, 4, 0, 0, 0, 0};
    ho_put_bytes(b, ct, sizeof(ct));
}
static void f_cert_context(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    /* Same certificate list, certificate_request_context of one byte. */
    const uint8_t *ct = f->m.p[F_CT];
    ho_buf body;
    ho_buf_init(&body);
    ho_put_u8(&body, 1);
    ho_put_u8(&body, 0x42);
    ho_put_bytes(&body, ct + 5, f->m.len[F_CT] - 5);
    tb_msg(b, HO_HS_CERTIFICATE, body.data, body.len);
    ho_buf_free(&body);
}
static void f_cert_entry_overrun(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    size_t at = b->len;
    put_msg(b, f, F_CT);
    b->data[at + 4 + 1 + 3 + 2]++; /* first cert_data length, low byte */
}
static void f_cv_bad_sig(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CT);
    size_t at = b->len;
    put_msg(b, f, F_CV);
    b->data[at + f->m.len[F_CV] - 2] ^= 0x01;
}
static void f_cv_garbage_sig(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CT);
    const uint8_t cv[] = {HO_HS_CERTIFICATE_VERIFY, 0, 0, 12, 0x04, 0x03, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8};
    ho_put_bytes(b, cv, sizeof(cv));
}
static void f_cv_scheme_not_offered(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CT);
    size_t at = b->len;
    put_msg(b, f, F_CV);
    b->data[at + 4] = 0x04; /* rsa_pkcs1_sha256: never offered in TLS 1.3 CertificateVerify */
    b->data[at + 5] = 0x01;
}
static void f_fin_bad(const struct flight *f, ho_buf *b)
{
    for (int i = 0; i < 4; i++)
        put_msg(b, f, i);
    b->data[b->len - 1] ^= 0x80;
}
static void f_fin_short(const struct flight *f, ho_buf *b)
{
    for (int i = 0; i < 3; i++)
        put_msg(b, f, i);
    tb_msg_truncated(b, f->m.p[F_FIN], f->m.len[F_FIN] - 4 - 1);
}
static void f_cert_instead_of_cv(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CT);
    put_msg(b, f, F_CT);
}
static void f_cv_before_cert(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CV);
}
static void f_no_ee(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_CT);
}
static void f_fin_without_cert(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_FIN);
}

static void f_cert_entry_ext(const struct flight *f, ho_buf *b, uint16_t type)
{
    put_msg(b, f, F_EE);
    /* Re-frame the Certificate with one extension in the leaf's entry. */
    const uint8_t *ct = f->m.p[F_CT];
    ho_cursor c = ho_cursor_make(ct + 4, f->m.len[F_CT] - 4), ctx, list, cert, exts;
    if (!ho_get_block(&c, 1, &ctx) || !ho_get_block(&c, 3, &list) || !ho_get_block(&list, 3, &cert) ||
        !ho_get_block(&list, 2, &exts))
        return;
    ho_buf body;
    ho_buf_init(&body);
    ho_put_u8(&body, 0);
    size_t l = ho_block_open(&body, 3), e = ho_block_open(&body, 3);
    ho_put_bytes(&body, cert.p, cert.len);
    ho_block_close(&body, e);
    size_t x = ho_block_open(&body, 2);
    ho_put_u16(&body, type);
    ho_put_u16(&body, 0);
    ho_block_close(&body, x);
    ho_put_bytes(&body, list.p, list.len);
    ho_block_close(&body, l);
    tb_msg(b, HO_HS_CERTIFICATE, body.data, body.len);
    ho_buf_free(&body);
}
static void f_cert_status_request(const struct flight *f, ho_buf *b) { f_cert_entry_ext(f, b, 5); }
static void f_cert_unknown_ext(const struct flight *f, ho_buf *b) { f_cert_entry_ext(f, b, 0x7a7a); }
static void f_cert_key_share_ext(const struct flight *f, ho_buf *b) { f_cert_entry_ext(f, b, TB_EXT_KEY_SHARE); }
static void f_cr_no_sigs(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    const uint8_t cr[] = {HO_HS_CERTIFICATE_REQUEST, 0, 0, 3, 0, 0, 0};
    ho_put_bytes(b, cr, sizeof(cr));
}
static void f_key_update_in_handshake(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    const uint8_t ku[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 0};
    ho_put_bytes(b, ku, sizeof(ku));
}
static void f_nst_in_handshake(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    const uint8_t nst[] = {HO_HS_NEW_SESSION_TICKET, 0, 0, 15, 0, 0, 0x1c, 0x20, 1, 2, 3, 4, 1, 0, 0, 1, 9, 0, 0};
    ho_put_bytes(b, nst, sizeof(nst));
}
static void f_server_hello_again(const struct flight *f, ho_buf *b)
{
    uint8_t sid[32] = {0};
    struct tb_server_hello sh;
    tb_sh_init(&sh, sid, 32, HO_TLS_AES_128_GCM_SHA256, kex_x25519);
    tb_sh_build(&sh, b);
}
static void f_cv_empty_sig(const struct flight *f, ho_buf *b)
{
    put_msg(b, f, F_EE);
    put_msg(b, f, F_CT);
    const uint8_t cv[] = {HO_HS_CERTIFICATE_VERIFY, 0, 0, 4, 0x04, 0x03, 0, 0};
    ho_put_bytes(b, cv, sizeof(cv));
}

struct flight_case {
    const char *name;
    flight_fn build;
    const char *alpn; /* client ALPN offer, or NULL */
    int want;
};

static const struct flight_case flight_cases[] = {
    {"flight_control_valid", f_control, NULL, HO_OK},
    /* §4.2, RFC 7301 §3.1 */
    {"ee_alpn_not_offered", f_ee_alpn, NULL, ALERT(UNSUPPORTED_EXTENSION)},
    {"ee_alpn_protocol_not_offered", f_ee_alpn_other, "h2", ALERT(ILLEGAL_PARAMETER)},
    {"ee_alpn_two_protocols", f_ee_alpn_two, "h2", ALERT(DECODE_ERROR)},
    {"ee_key_share_not_allowed", f_ee_key_share, NULL, ALERT(ILLEGAL_PARAMETER)},
    {"ee_unknown_extension", f_ee_unknown, NULL, ALERT(UNSUPPORTED_EXTENSION)},
    {"ee_trailing_bytes", f_ee_trailing, NULL, ALERT(DECODE_ERROR)},
    /* §4.4.2 */
    {"cert_empty_list", f_cert_empty, NULL, ALERT(DECODE_ERROR)},
    {"cert_nonempty_context", f_cert_context, NULL, ALERT(ILLEGAL_PARAMETER)},
    {"cert_entry_length_overrun", f_cert_entry_overrun, NULL, ALERT(DECODE_ERROR)},
    {"cert_entry_extension_not_offered", f_cert_status_request, NULL, ALERT(UNSUPPORTED_EXTENSION)},
    {"cert_entry_unknown_extension", f_cert_unknown_ext, NULL, ALERT(UNSUPPORTED_EXTENSION)},
    {"cert_entry_key_share_not_allowed", f_cert_key_share_ext, NULL, ALERT(ILLEGAL_PARAMETER)},
    /* §4.3.2 */
    {"cr_missing_signature_algorithms", f_cr_no_sigs, NULL, ALERT(MISSING_EXTENSION)},
    /* §4.4.3 */
    {"cv_corrupted_signature", f_cv_bad_sig, NULL, ALERT(DECRYPT_ERROR)},
    {"cv_garbage_signature", f_cv_garbage_sig, NULL, ALERT(DECRYPT_ERROR)},
    {"cv_scheme_not_offered", f_cv_scheme_not_offered, NULL, ALERT(ILLEGAL_PARAMETER)},
    {"cv_empty_signature", f_cv_empty_sig, NULL, ALERT(DECRYPT_ERROR)},
    /* §4.4.4 */
    {"fin_server_bad_verify_data", f_fin_bad, NULL, ALERT(DECRYPT_ERROR)},
    {"fin_server_wrong_length", f_fin_short, NULL, ALERT(DECODE_ERROR)},
    /* order (§4, §6.2) */
    {"order_certificate_instead_of_cv", f_cert_instead_of_cv, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_cv_before_certificate", f_cv_before_cert, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_certificate_without_ee", f_no_ee, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_finished_without_certificate", f_fin_without_cert, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_key_update_before_finished", f_key_update_in_handshake, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_new_session_ticket_in_handshake", f_nst_in_handshake, NULL, ALERT(UNEXPECTED_MESSAGE)},
    {"order_server_hello_again", f_server_hello_again, NULL, ALERT(UNEXPECTED_MESSAGE)},
};

static void test_flight_table(void)
{
    for (size_t i = 0; i < sizeof(flight_cases) / sizeof(flight_cases[0]); i++) {
        const struct flight_case *fc = &flight_cases[i];
        begin_case(fc->name);
        ho_tls_config *c = new_client_cfg();
        if (fc->alpn != NULL)
            ho_tls_config_set_alpn(c, &fc->alpn, 1);
        struct flight f;
        flight_begin(&f, c);
        ho_buf b;
        ho_buf_init(&b);
        fc->build(&f, &b);
        expect_rc("server flight", ho_tls_handle(f.p.client, HO_EPOCH_HANDSHAKE, b.data, b.len, &f.p.cout),
                  fc->want);
        if (fc->want == HO_OK)
            expect_true("client done", ho_tls_handshake_done(f.p.client));
        else
            expect_true("client not done", !ho_tls_handshake_done(f.p.client));
        expect_sticky(f.p.client, HO_EPOCH_HANDSHAKE, &f.p.cout, fc->want);
        ho_buf_free(&b);
        pair_free(&f.p);
        ho_tls_config_free(c);
        end_case();
    }

    /* The encrypted flight delivered at the plaintext epoch. */
    begin_case("flight_at_initial_epoch");
    ho_tls_config *c = new_client_cfg();
    struct flight f;
    flight_begin(&f, c);
    expect_rc("EE at INITIAL", ho_tls_handle(f.p.client, HO_EPOCH_INITIAL, f.m.p[F_EE], f.m.len[F_EE], &f.p.cout),
              ALERT(UNEXPECTED_MESSAGE));
    expect_sticky(f.p.client, HO_EPOCH_HANDSHAKE, &f.p.cout, ALERT(UNEXPECTED_MESSAGE));
    pair_free(&f.p);
    ho_tls_config_free(c);
    end_case();
}

/* ---- client side: post-handshake messages ---------------------------- */

static void post_case(const char *name, const uint8_t *msg, size_t len, int want)
{
    begin_case(name);
    ho_tls_config *c = new_client_cfg();
    struct tls_pair p;
    pair_begin(&p, c, scfg);
    pair_run(&p);
    expect_rc("handshake", p.client_err, HO_OK);
    expect_rc("post-handshake message", ho_tls_handle(p.client, HO_EPOCH_APP, msg, len, &p.cout), want);
    expect_sticky(p.client, HO_EPOCH_APP, &p.cout, want);
    pair_free(&p);
    ho_tls_config_free(c);
    end_case();
}

static void test_post_handshake(void)
{
    /* §4.6.3 */
    static const uint8_t ku2[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 2};
    post_case("ku_request_value_2", ku2, sizeof(ku2), ALERT(ILLEGAL_PARAMETER));
    static const uint8_t ku_long[] = {HO_HS_KEY_UPDATE, 0, 0, 2, 0, 0};
    post_case("ku_wrong_length", ku_long, sizeof(ku_long), ALERT(DECODE_ERROR));
    /* §4.6.1: ticket<1..2^16-1> */
    static const uint8_t nst_empty[] = {HO_HS_NEW_SESSION_TICKET, 0, 0, 14, 0, 0, 0x1c, 0x20, 1, 2, 3, 4,
                                        1, 0, 0, 0, 0, 0};
    post_case("nst_empty_ticket", nst_empty, sizeof(nst_empty), ALERT(DECODE_ERROR));
    static const uint8_t nst_short[] = {HO_HS_NEW_SESSION_TICKET, 0, 0, 9, 0, 0, 0x1c, 0x20, 1, 2, 3, 4, 8};
    post_case("nst_truncated", nst_short, sizeof(nst_short), ALERT(DECODE_ERROR));
    static const uint8_t fin[4 + 32] = {HO_HS_FINISHED, 0, 0, 32};
    post_case("post_unexpected_finished", fin, sizeof(fin), ALERT(UNEXPECTED_MESSAGE));
    static const uint8_t ee[] = {HO_HS_ENCRYPTED_EXTENSIONS, 0, 0, 2, 0, 0};
    post_case("post_unexpected_encrypted_extensions", ee, sizeof(ee), ALERT(UNEXPECTED_MESSAGE));
    /* §4.6.2: CertificateRequest without post_handshake_auth offered. */
    static const uint8_t cr[] = {HO_HS_CERTIFICATE_REQUEST, 0, 0, 12, 1, 7, 0, 8, 0, 13, 0, 4, 0, 2, 4, 3};
    post_case("post_certificate_request_not_offered", cr, sizeof(cr), ALERT(UNEXPECTED_MESSAGE));
}

int main(void)
{
    verbose = getenv("HO_BADINPUT_VERBOSE") != NULL;
    if (verbose)
        ho_event_subscribe(on_event, NULL);
    setup();
    RUN(test_server_hello_table);
    RUN(test_hrr_client);
    RUN(test_flight_table);
    RUN(test_post_handshake);
    teardown();
    printf("test_tls_badinput_client: %d cases, %d failed\n", case_count, case_failed);
    return ho_test_summary("test_tls_badinput_client");
}
