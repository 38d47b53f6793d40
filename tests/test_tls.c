/* Engine tests: the handshake tables, and full handshakes between our own
 * client and server in memory (every suite × group × certificate type, HRR,
 * resumption, KeyUpdate, ALPN, exporter). Interop with real peers is in
 * tests/interop/. */
#include "harness.h"
#include "tls_pair.h"
#include "tls/tls_int.h"

#include <time.h>

extern const uint8_t ho_tls_hrr_random[32];

static ho_tls_config *server_cfg_ecdsa, *server_cfg_rsa;
static ho_trust_store *make_trust(void);
static ho_cert_chain ecdsa_chain;

static void setup(void)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    ho_cert_chain_add_der(&ecdsa_chain, chain.der[0], chain.len[0]);
    server_cfg_ecdsa = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(server_cfg_ecdsa, &chain, key), HO_OK);
    server_cfg_rsa = ho_tls_config_new(true);
    char crt[4096], k[4096];
    snprintf(crt, sizeof(crt), "%s", ho_test_data("arena/certs/server.crt"));
    snprintf(k, sizeof(k), "%s", ho_test_data("arena/certs/server.key"));
    CHECK_EQ(ho_tls_config_load_cert_files(server_cfg_rsa, crt, k), HO_OK);
}

static ho_trust_store *make_trust(void)
{
    ho_trust_store *ts = ho_trust_store_new();
    ho_trust_store_add_der(ts, ecdsa_chain.der[0], ecdsa_chain.len[0]);
    ho_trust_store_add_file(ts, ho_test_data("arena/certs/server.crt"));
    return ts;
}

static ho_tls_config *client_cfg(void)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_tls_config_set_trust(cfg, make_trust());
    return cfg;
}

/* Every row has a handler and names successors of its own role; every
 * state of a role is reached from its first one through the rows' `next`
 * and `alt` edges, and every state but the last has a row to leave it; the
 * epochs of the main path never go backwards. */
static void test_table_walk(void)
{
    const struct { const struct hs_transition *t; size_t n; hs_state first, last; } roles[] = {
        {ho_tls_client_table, ho_tls_client_table_len, ST_C_WAIT_SH, ST_C_CONNECTED},
        {ho_tls_server_table, ho_tls_server_table_len, ST_S_WAIT_CH, ST_S_CONNECTED},
    };
    for (int r = 0; r < 2; r++) {
        hs_state first = roles[r].first, last = roles[r].last;
        ho_epoch prev = HO_EPOCH_INITIAL;
        for (hs_state s = first; s <= last; s++) {
            int rows = 0;
            for (size_t i = 0; i < roles[r].n; i++) {
                const struct hs_transition *t = &roles[r].t[i];
                CHECK(t->handler != NULL);
                CHECK(t->state >= first && t->state <= last);
                CHECK(t->next >= first && t->next <= last);
                CHECK(t->alt == ST_NONE || (t->alt >= first && t->alt <= last && t->alt != t->next));
                if (t->state != s)
                    continue;
                rows++;
                CHECK(t->epoch >= prev);
                prev = t->epoch;
                CHECK(strcmp(ho_tls_handshake_name(t->type), "unknown_message") != 0);
            }
            CHECK(rows > 0);
            CHECK(strcmp(ho_tls_state_name(s), "?") != 0);
        }
        /* Reachability: a fixed point over the edges. */
        bool reached[ST__COUNT] = {false};
        reached[first] = true;
        for (bool grew = true; grew;) {
            grew = false;
            for (size_t i = 0; i < roles[r].n; i++) {
                const struct hs_transition *t = &roles[r].t[i];
                if (!reached[t->state])
                    continue;
                hs_state to[2] = {t->next, t->alt};
                for (int k = 0; k < 2; k++)
                    if (to[k] != ST_NONE && !reached[to[k]])
                        reached[to[k]] = grew = true;
            }
        }
        for (hs_state s = first; s <= last; s++)
            CHECK(reached[s]);
    }
    /* The branches RFC 8446 has: HRR (§4.1.4) on both sides, a resumption
     * skipping the certificate (§2.2) on the client. */
    CHECK_EQ(ho_tls_client_table[0].alt, ST_C_WAIT_SH);
    CHECK_EQ(ho_tls_server_table[0].alt, ST_S_WAIT_CH2);
}

/* The driver moves only to a successor the row lists: a branch a row does
 * not have, a row of another state or one outside the table is refused
 * with internal_error, and the state stays. */
static void test_successor_refused(void)
{
    ho_tls_config *cfg = client_cfg();
    ho_tls *tls = ho_tls_new(cfg, "localhost");
    const struct hs_transition *ee = NULL, *cv = NULL;
    for (size_t i = 0; i < ho_tls_client_table_len; i++) {
        if (ho_tls_client_table[i].type == HO_HS_ENCRYPTED_EXTENSIONS)
            ee = &ho_tls_client_table[i];
        if (ho_tls_client_table[i].type == HO_HS_CERTIFICATE_VERIFY)
            cv = &ho_tls_client_table[i];
    }
    CHECK(ee != NULL && cv != NULL);
    /* Listed: next and alt. */
    tls->state = ST_C_WAIT_EE;
    CHECK_EQ(tls_take_successor(tls, ee, HS_OK), HS_OK);
    CHECK_EQ(tls->state, ST_C_WAIT_CERT_CR);
    tls->state = ST_C_WAIT_EE;
    CHECK_EQ(tls_take_successor(tls, ee, HS_ALT), HS_OK);
    CHECK_EQ(tls->state, ST_C_WAIT_FINISHED);
    CHECK_EQ(tls->error, HO_OK);
    /* Not listed: a branch from a row without one. */
    tls->state = ST_C_WAIT_CV;
    CHECK_EQ(tls_take_successor(tls, cv, HS_ALT), HS_ERROR);
    CHECK_EQ(tls->state, ST_C_WAIT_CV);
    CHECK_EQ(tls->error, HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR));
    ho_tls_free(tls);

    /* A row of another state, and a row that is not in the table at all. */
    tls = ho_tls_new(cfg, "localhost");
    tls->state = ST_C_WAIT_CV;
    CHECK_EQ(tls_take_successor(tls, ee, HS_OK), HS_ERROR);
    CHECK_EQ(tls->state, ST_C_WAIT_CV);
    ho_tls_free(tls);
    tls = ho_tls_new(cfg, "localhost");
    struct hs_transition forged = *cv;
    forged.alt = ST_C_CONNECTED;
    tls->state = ST_C_WAIT_CV;
    CHECK_EQ(tls_take_successor(tls, &forged, HS_ALT), HS_ERROR);
    CHECK_EQ(tls->state, ST_C_WAIT_CV);
    CHECK_EQ(tls->error, HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR));
    ho_tls_free(tls);
    ho_tls_config_free(cfg);
}

static void check_pair_done(struct tls_pair *p)
{
    CHECK_EQ(p->client_err, HO_OK);
    CHECK_EQ(p->server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p->client));
    CHECK(ho_tls_handshake_done(p->server));
    size_t hl = ho_tls_get_suite(p->client) ? crypto_hash_len(ho_tls_get_suite(p->client)->hash) : 32;
    /* What one side writes the other reads, at every epoch. */
    CHECK_MEM(p->cs.write[HO_EPOCH_HANDSHAKE], p->ss.read[HO_EPOCH_HANDSHAKE], hl);
    CHECK_MEM(p->ss.write[HO_EPOCH_HANDSHAKE], p->cs.read[HO_EPOCH_HANDSHAKE], hl);
    CHECK_MEM(p->cs.write[HO_EPOCH_APP], p->ss.read[HO_EPOCH_APP], hl);
    CHECK_MEM(p->ss.write[HO_EPOCH_APP], p->cs.read[HO_EPOCH_APP], hl);
    uint8_t e1[32], e2[32];
    CHECK_EQ(ho_tls_export(p->client, "EXPORTER-test", "ctx", 3, e1, 32), HO_OK);
    CHECK_EQ(ho_tls_export(p->server, "EXPORTER-test", "ctx", 3, e2, 32), HO_OK);
    CHECK_MEM(e1, e2, 32);
}

static void test_matrix(void)
{
    const uint16_t suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                               HO_TLS_CHACHA20_POLY1305_SHA256};
    const uint16_t groups[] = {HO_GROUP_X25519, HO_GROUP_SECP256R1};
    for (int cert = 0; cert < 2; cert++)
        for (int s = 0; s < 3; s++)
            for (int g = 0; g < 2; g++) {
                ho_tls_config *c = client_cfg();
                ho_tls_config_set_suites(c, &suites[s], 1);
                ho_tls_config_set_groups(c, &groups[g], 1);
                struct tls_pair p;
                pair_init(&p, c, cert ? server_cfg_rsa : server_cfg_ecdsa, "localhost");
                pair_run(&p);
                check_pair_done(&p);
                CHECK_EQ(ho_tls_get_suite(p.server)->id, suites[s]);
                CHECK_EQ(ho_tls_get_group(p.client), groups[g]);
                CHECK_EQ(ho_tls_get_sig_scheme(p.client),
                         cert ? HO_SIG_RSA_PSS_RSAE_SHA256 : HO_SIG_ECDSA_SECP256R1_SHA256);
                CHECK(!ho_tls_did_hrr(p.client));
                CHECK(strcmp(ho_tls_get_server_name(p.server), "localhost") == 0);
                pair_free(&p);
                ho_tls_config_free(c);
            }
}

/* X25519MLKEM768 (draft-ietf-tls-ecdhe-mlkem): the default on both sides;
 * the client's second (X25519) share serves a server without ML-KEM with
 * no HelloRetryRequest; a client without it gets X25519. */
static void test_mlkem_group(void)
{
    const uint16_t x = HO_GROUP_X25519, hy = HO_GROUP_X25519MLKEM768;
    for (int mode = 0; mode < 3; mode++) {
        ho_tls_config *c = ho_tls_config_new(false);
        ho_tls_config_set_verify_peer(c, false);
        if (mode == 2)
            ho_tls_config_set_groups(c, &x, 1);
        ho_tls_config *s = ho_tls_config_new(true);
        ho_privkey *key;
        ho_cert_chain chain = {0};
        ho_selfsigned_generate("localhost", 30, &key, &chain);
        ho_tls_config_add_cert(s, &chain, key);
        if (mode == 1)
            ho_tls_config_set_groups(s, &x, 1);
        struct tls_pair p;
        pair_init(&p, c, s, "localhost");
        pair_run(&p);
        check_pair_done(&p);
        CHECK_EQ(ho_tls_get_group(p.client), mode == 0 ? hy : x);
        CHECK_EQ(ho_tls_get_group(p.server), mode == 0 ? hy : x);
        CHECK(!ho_tls_did_hrr(p.client));
        pair_free(&p);
        ho_tls_config_free(c);
        ho_tls_config_free(s);
    }
    /* A client offering only the hybrid and a server without it: no common
     * group; with P-256 listed too (no X25519, so one share): one HRR. */
    ho_tls_config *c = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(c, false);
    const uint16_t hy_p256[] = {hy, HO_GROUP_SECP256R1};
    ho_tls_config_set_groups(c, hy_p256, 1);
    ho_tls_config *s = ho_tls_config_new(true);
    ho_privkey *key;
    ho_cert_chain chain = {0};
    ho_selfsigned_generate("localhost", 30, &key, &chain);
    ho_tls_config_add_cert(s, &chain, key);
    ho_tls_config_set_groups(s, hy_p256 + 1, 1);
    struct tls_pair p;
    pair_init(&p, c, s, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_ERR_TLS_ALERT(HO_ALERT_HANDSHAKE_FAILURE));
    pair_free(&p);
    ho_tls_config_set_groups(c, hy_p256, 2);
    pair_init(&p, c, s, "localhost");
    pair_run(&p);
    check_pair_done(&p);
    CHECK_EQ(ho_tls_get_group(p.server), HO_GROUP_SECP256R1);
    CHECK(ho_tls_did_hrr(p.client));
    pair_free(&p);
    ho_tls_config_free(c);
    ho_tls_config_free(s);
}

static void test_hrr(void)
{
    /* Client's first share is X25519; the server only takes P-256. */
    ho_tls_config *s = ho_tls_config_new(true);
    ho_privkey *key;
    ho_cert_chain chain = {0};
    ho_selfsigned_generate("localhost", 30, &key, &chain);
    ho_tls_config_add_cert(s, &chain, key);
    const uint16_t p256 = HO_GROUP_SECP256R1;
    ho_tls_config_set_groups(s, &p256, 1);
    for (int cookie = 0; cookie < 2; cookie++) {
        ho_tls_config_set_hrr_cookie(s, cookie);
        ho_tls_config *c = ho_tls_config_new(false);
        ho_tls_config_set_verify_peer(c, false);
        struct tls_pair p;
        pair_init(&p, c, s, "localhost");
        pair_run(&p);
        check_pair_done(&p);
        CHECK(ho_tls_did_hrr(p.client) && ho_tls_did_hrr(p.server));
        CHECK_EQ(ho_tls_get_group(p.server), HO_GROUP_SECP256R1);
        pair_free(&p);
        ho_tls_config_free(c);
    }
    /* No group in common: handshake_failure. */
    ho_tls_config *c = ho_tls_config_new(false);
    const uint16_t x = HO_GROUP_X25519;
    ho_tls_config_set_groups(c, &x, 1);
    struct tls_pair p;
    pair_init(&p, c, s, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_ERR_TLS_ALERT(HO_ALERT_HANDSHAKE_FAILURE));
    pair_free(&p);
    ho_tls_config_free(c);
    ho_tls_config_free(s);
}

/* ServerHello and HelloRetryRequest come from one writer (§4.1.3, §4.1.4):
 * both carry legacy_version 0x0303, the client's legacy_session_id, the
 * suite, compression 0 and supported_versions first; the HRR has the
 * special random and a key_share of selected_group only (§4.2.8). */
static void check_server_hello(const ho_buf *ch, const ho_buf *sh, bool hrr, const uint16_t *want_exts, size_t n)
{
    ho_cursor c = ho_cursor_make(sh->data, sh->len), cc = ho_cursor_make(ch->data, ch->len), sid, csid, exts;
    uint8_t type, comp;
    uint32_t len;
    uint16_t version, suite, cversion;
    const uint8_t *random, *crandom;
    CHECK(ho_get_u8(&c, &type) && type == HO_HS_SERVER_HELLO && ho_get_u24(&c, &len) && len == c.len);
    CHECK(ho_get_u16(&c, &version) && version == 0x0303 && ho_get_bytes(&c, 32, &random));
    CHECK_EQ(memcmp(random, ho_tls_hrr_random, 32) == 0, hrr);
    CHECK(ho_get_block(&c, 1, &sid) && ho_get_u16(&c, &suite) && ho_get_u8(&c, &comp) && comp == 0);
    CHECK(ho_get_block(&c, 2, &exts) && ho_cursor_empty(&c));
    CHECK(ho_get_bytes(&cc, 4, &crandom) && ho_get_u16(&cc, &cversion) && ho_get_bytes(&cc, 32, &crandom) &&
          ho_get_block(&cc, 1, &csid));
    CHECK(sid.len == 32 && csid.len == 32 && memcmp(sid.p, csid.p, 32) == 0);
    for (size_t i = 0; i < n; i++) {
        uint16_t ext;
        ho_cursor body;
        CHECK(ho_get_u16(&exts, &ext) && ho_get_block(&exts, 2, &body));
        CHECK_EQ(ext, want_exts[i]);
        if (ext == 43) /* supported_versions: TLS 1.3 */
            CHECK(body.len == 2 && body.p[0] == 0x03 && body.p[1] == 0x04);
        if (ext == 51) /* key_share: selected_group only in an HRR */
            CHECK(hrr ? body.len == 2 : body.len > 4);
    }
    CHECK(ho_cursor_empty(&exts));
}

static void test_server_hello_layout(void)
{
    ho_tls_config *s = ho_tls_config_new(true);
    ho_privkey *key;
    ho_cert_chain chain = {0};
    ho_selfsigned_generate("localhost", 30, &key, &chain);
    ho_tls_config_add_cert(s, &chain, key);
    const uint16_t p256 = HO_GROUP_SECP256R1, x25519 = HO_GROUP_X25519;
    for (int hrr = 0; hrr < 2; hrr++) {
        /* The server takes P-256 only; the client's first share is
         * X25519 for an HRR (with a cookie), P-256 otherwise. */
        ho_tls_config_set_groups(s, &p256, 1);
        ho_tls_config_set_hrr_cookie(s, hrr);
        ho_tls_config *c = client_cfg();
        const uint16_t groups[2] = {hrr ? x25519 : p256, p256};
        ho_tls_config_set_groups(c, groups, hrr ? 2 : 1);
        ho_tls *client = ho_tls_new(c, "localhost"), *server = ho_tls_new(s, NULL);
        ho_tls_out cout, sout;
        ho_tls_out_init(&cout);
        ho_tls_out_init(&sout);
        CHECK_EQ(ho_tls_start(client, &cout), HO_OK);
        const ho_buf *ch = &cout.send[HO_EPOCH_INITIAL];
        CHECK_EQ(ho_tls_handle(server, HO_EPOCH_INITIAL, ch->data, ch->len, &sout), HO_OK);
        static const uint16_t sh_exts[] = {43, 51}, hrr_exts[] = {43, 51, 44};
        if (hrr)
            check_server_hello(ch, &sout.send[HO_EPOCH_INITIAL], true, hrr_exts, 3);
        else
            check_server_hello(ch, &sout.send[HO_EPOCH_INITIAL], false, sh_exts, 2);
        ho_tls_out_free(&cout);
        ho_tls_out_free(&sout);
        ho_tls_free(client);
        ho_tls_free(server);
        ho_tls_config_free(c);
    }
    ho_tls_config_free(s);
}

struct saved { uint8_t blob[4096]; size_t len; int count; };
static void save_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    struct saved *s = ctx;
    if (len <= sizeof(s->blob)) {
        memcpy(s->blob, blob, len);
        s->len = len;
        s->count++;
    }
}

static void test_resumption(void)
{
    const int64_t t0 = (int64_t)time(NULL) * 1000;
    struct saved saved = {0};
    ho_tls_config *c = client_cfg();
    ho_tls_callbacks cb = {.session = save_session, .ctx = &saved};
    ho_tls_config_set_callbacks(c, &cb);
    const char *alpn[] = {"h2", "http/1.1"};
    ho_tls_config_set_alpn(c, alpn, 2);
    ho_tls_config_set_alpn(server_cfg_ecdsa, alpn + 1, 1);
    struct tls_pair p;
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    ho_tls_set_now(p.client, t0);
    ho_tls_set_now(p.server, t0);
    pair_run(&p);
    check_pair_done(&p);
    CHECK(strcmp(ho_tls_get_alpn(p.client), "http/1.1") == 0);
    CHECK_EQ(saved.count, 1);
    CHECK(!ho_tls_is_resumed(p.client));
    pair_free(&p);
    struct saved first = saved; /* later handshakes replace `saved` */

    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    ho_tls_set_now(p.client, t0 + 5000);
    ho_tls_set_now(p.server, t0 + 5000);
    CHECK_EQ(ho_tls_set_session(p.client, first.blob, first.len), HO_OK);
    pair_run(&p);
    check_pair_done(&p);
    CHECK(ho_tls_is_resumed(p.client) && ho_tls_is_resumed(p.server));
    CHECK_EQ(ho_tls_get_sig_scheme(p.client), 0);
    pair_free(&p);

    /* A ticket past its lifetime is not offered: full handshake. */
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    ho_tls_set_now(p.client, t0 + 7201 * 1000LL);
    ho_tls_set_now(p.server, t0 + 7201 * 1000LL);
    ho_tls_set_session(p.client, first.blob, first.len);
    pair_run(&p);
    check_pair_done(&p);
    CHECK(!ho_tls_is_resumed(p.server));
    pair_free(&p);

    /* Different name: not offered. */
    pair_init(&p, c, server_cfg_ecdsa, "127.0.0.1");
    ho_tls_set_session(p.client, first.blob, first.len);
    pair_run(&p);
    check_pair_done(&p);
    CHECK(!ho_tls_is_resumed(p.server));
    pair_free(&p);

    /* A tampered binder is decrypt_error (RFC 8446 §4.2.11). */
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    ho_tls_set_now(p.client, t0 + 5000);
    ho_tls_set_now(p.server, t0 + 5000);
    ho_tls_set_session(p.client, first.blob, first.len);
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    ch->data[ch->len - 1] ^= 1;
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout),
             HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR));
    pair_free(&p);

    ho_tls_config_set_alpn(server_cfg_ecdsa, NULL, 0);
    ho_tls_config_free(c);
}

static void test_alpn_mismatch(void)
{
    ho_tls_config *c = client_cfg();
    const char *a = "h2", *b = "http/1.1";
    ho_tls_config_set_alpn(c, &a, 1);
    ho_tls_config_set_alpn(server_cfg_ecdsa, &b, 1);
    struct tls_pair p;
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_ERR_TLS_ALERT(HO_ALERT_NO_APPLICATION_PROTOCOL));
    pair_free(&p);
    ho_tls_config_set_alpn(server_cfg_ecdsa, NULL, 0);
    ho_tls_config_free(c);
}

static void test_key_update(void)
{
    ho_tls_config *c = client_cfg();
    struct tls_pair p;
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    pair_run(&p);
    check_pair_done(&p);
    for (int b = 0; b < HO_EPOCH_COUNT; b++)
        p.sout.send[b].len = 0; /* drop the tickets */
    uint8_t before[32];
    memcpy(before, p.cs.write[HO_EPOCH_APP], 32);
    /* Client updates and requests: the server updates both directions. */
    CHECK_EQ(ho_tls_key_update(p.client, true, &p.cout), HO_OK);
    CHECK(memcmp(before, p.cs.write[HO_EPOCH_APP], 32) != 0);
    ho_buf *m = &p.cout.send[HO_EPOCH_APP];
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_APP, m->data, m->len, &p.sout), HO_OK);
    m->len = 0;
    m = &p.sout.send[HO_EPOCH_APP];
    CHECK_EQ(m->len, 5);
    CHECK_EQ(ho_tls_handle(p.client, HO_EPOCH_APP, m->data, m->len, &p.cout), HO_OK);
    CHECK_EQ(p.cout.send[HO_EPOCH_APP].len, 0); /* update_not_requested: no answer */
    CHECK_MEM(p.cs.write[HO_EPOCH_APP], p.ss.read[HO_EPOCH_APP], 32);
    CHECK_MEM(p.ss.write[HO_EPOCH_APP], p.cs.read[HO_EPOCH_APP], 32);
    /* KeyUpdate with an illegal value. */
    const uint8_t bad[] = {HO_HS_KEY_UPDATE, 0, 0, 1, 2};
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_APP, bad, sizeof(bad), &p.sout),
             HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER));
    pair_free(&p);
    ho_tls_config_free(c);
}

static void test_verify_failures(void)
{
    /* Wrong host name. */
    ho_tls_config *c = client_cfg();
    struct tls_pair p;
    pair_init(&p, c, server_cfg_ecdsa, "example.com");
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
    pair_free(&p);
    ho_tls_config_free(c);
    /* Untrusted: an empty trust store. */
    c = ho_tls_config_new(false);
    ho_tls_config_set_trust(c, ho_trust_store_new());
    pair_init(&p, c, server_cfg_ecdsa, "localhost");
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_ERR_TLS_ALERT(HO_ALERT_UNKNOWN_CA));
    pair_free(&p);
    ho_tls_config_free(c);
}

/* The handshake survives any fragmentation of its messages. */
static void test_fragmentation(void)
{
    ho_tls_config *c = client_cfg();
    struct tls_pair p;
    pair_init(&p, c, server_cfg_rsa, "localhost");
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    for (size_t i = 0; i < ch->len; i++)
        CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data + i, 1, &p.sout), HO_OK);
    ch->len = 0;
    for (int e = 0; e < HO_EPOCH_COUNT; e++) {
        ho_buf *b = &p.sout.send[e];
        for (size_t i = 0; i < b->len; i += 7) {
            size_t n = b->len - i < 7 ? b->len - i : 7;
            CHECK_EQ(ho_tls_handle(p.client, (ho_epoch)e, b->data + i, n, &p.cout), HO_OK);
        }
        b->len = 0;
    }
    ho_buf *fin = &p.cout.send[HO_EPOCH_HANDSHAKE];
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_HANDSHAKE, fin->data, fin->len, &p.sout), HO_OK);
    CHECK(ho_tls_handshake_done(p.client) && ho_tls_handshake_done(p.server));
    pair_free(&p);
    ho_tls_config_free(c);
}

int main(void)
{
    setup();
    RUN(test_table_walk);
    RUN(test_successor_refused);
    RUN(test_matrix);
    RUN(test_hrr);
    RUN(test_mlkem_group);
    RUN(test_server_hello_layout);
    RUN(test_resumption);
    RUN(test_alpn_mismatch);
    RUN(test_key_update);
    RUN(test_verify_failures);
    RUN(test_fragmentation);
    ho_tls_config_free(server_cfg_ecdsa);
    ho_tls_config_free(server_cfg_rsa);
    ho_cert_chain_free(&ecdsa_chain);
    return ho_test_summary("test_tls");
}
