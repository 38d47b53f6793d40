/* Client handlers: ClientHello (first and after HelloRetryRequest),
 * ServerHello, EncryptedExtensions, CertificateRequest, Certificate,
 * CertificateVerify, Finished and NewSessionTicket. */
#include "tls_int.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

extern const uint8_t ho_tls_hrr_random[32];

/* Signature schemes we can verify, in preference order. */
static const uint16_t client_sig_schemes[] = {
    HO_SIG_ECDSA_SECP256R1_SHA256, 0x0503 /* ecdsa_secp384r1_sha384 */, HO_SIG_ED25519,
    HO_SIG_RSA_PSS_RSAE_SHA256, 0x0805 /* rsa_pss_rsae_sha384 */, 0x0806 /* rsa_pss_rsae_sha512 */,
    /* §4.2.3: RSASSA-PSS with an RSASSA-PSS (id-RSASSA-PSS) public key */
    0x0809 /* rsa_pss_pss_sha256 */, 0x080a /* rsa_pss_pss_sha384 */, 0x080b /* rsa_pss_pss_sha512 */,
};
#define N_SIG_SCHEMES (sizeof(client_sig_schemes) / sizeof(client_sig_schemes[0]))

/* §4.2.3 signature_algorithms_cert: the signatures we accept in
 * certificates, which (unlike CertificateVerify) include PKCS#1 v1.5, the
 * signature of most CA-issued chains. Chains are checked by libcrypto's X.509
 * verifier, which takes all of these. */
static const uint16_t client_cert_sig_schemes[] = {
    HO_SIG_ECDSA_SECP256R1_SHA256, 0x0503, 0x0603, HO_SIG_ED25519, HO_SIG_RSA_PSS_RSAE_SHA256, 0x0805, 0x0806,
    0x0809, 0x080a, 0x080b, 0x0401 /* rsa_pkcs1_sha256 */, 0x0501 /* rsa_pkcs1_sha384 */,
    0x0601 /* rsa_pkcs1_sha512 */,
};
#define N_CERT_SIG_SCHEMES (sizeof(client_cert_sig_schemes) / sizeof(client_cert_sig_schemes[0]))
const uint16_t *const tls_verify_schemes = client_sig_schemes;
const size_t tls_verify_scheme_count = N_SIG_SCHEMES;
const uint16_t *const tls_cert_schemes = client_cert_sig_schemes;
const size_t tls_cert_scheme_count = N_CERT_SIG_SCHEMES;

static bool is_ip_literal(const char *name)
{
    uint8_t addr[16];
    return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1;
}

/* A stored session is offered only to the same server, while still valid,
 * and if one of our suites shares its hash (§4.6.1). */
static bool session_usable(ho_tls *tls)
{
    const struct session *s = &tls->client->offered;
    const ho_tls_suite *suite = ho_tls_suite_by_id(s->suite);
    if (suite == NULL || s->ticket_len == 0)
        return false;
    if (strcmp(s->server_name, tls->server_name ? tls->server_name : "") != 0)
        return false;
    if (tls->now_ms - s->issued_ms > (int64_t)s->lifetime_s * 1000)
        return false;
    for (size_t i = 0; i < tls->cfg->suite_count; i++)
        if (ho_tls_suite_by_id(tls->cfg->suites[i])->hash == suite->hash)
            return true;
    return false;
}

static void put_ext_header(ho_tls *tls, ho_buf *b, uint16_t type)
{
    ho_put_u16(b, type);
    tls->ext_offered |= tls_ext_bit(tls, type);
}

/* Builds ClientHello (§4.1.2); with a PSK, the binder is computed over the
 * message truncated before the binders (§4.2.11.2). */
static int send_client_hello(ho_tls *tls, ho_tls_out *out)
{
    ho_buf *b = &out->send[HO_EPOCH_INITIAL];
    size_t start = b->len;
    uint8_t pub[CRYPTO_KEX_PUB_MAX];
    size_t pub_len = sizeof(pub);
    int rc = crypto_kex_public(tls->client->kex, pub, &pub_len);
    if (rc != HO_OK)
        return rc;
    tls->ext_offered = 0;

    ho_put_u8(b, HO_HS_CLIENT_HELLO);
    size_t msg = ho_block_open(b, 3);
    ho_put_u16(b, TLS12_VERSION);
    ho_put_bytes(b, tls->client_random, 32);
    ho_put_u8(b, (uint8_t)tls->session_id_len);
    ho_put_bytes(b, tls->session_id, tls->session_id_len);
    ho_put_u16(b, (uint16_t)(2 * tls->cfg->suite_count));
    for (size_t i = 0; i < tls->cfg->suite_count; i++)
        ho_put_u16(b, tls->cfg->suites[i]);
    ho_put_u8(b, 1);
    ho_put_u8(b, 0);
    size_t exts = ho_block_open(b, 2);

    if (tls->server_name != NULL && !is_ip_literal(tls->server_name)) {
        /* RFC 6066 §3: literal IP addresses are not sent as SNI. */
        size_t n = strlen(tls->server_name);
        put_ext_header(tls, b, EXT_SERVER_NAME);
        size_t e = ho_block_open(b, 2), list = ho_block_open(b, 2);
        ho_put_u8(b, 0);
        size_t name = ho_block_open(b, 2);
        ho_put_bytes(b, tls->server_name, n);
        ho_block_close(b, name);
        ho_block_close(b, list);
        ho_block_close(b, e);
    }
    put_ext_header(tls, b, EXT_SUPPORTED_VERSIONS);
    ho_put_u16(b, 3);
    ho_put_u8(b, 2);
    ho_put_u16(b, TLS13_VERSION);
    put_ext_header(tls, b, EXT_SUPPORTED_GROUPS);
    ho_put_u16(b, (uint16_t)(2 + 2 * tls->cfg->group_count));
    ho_put_u16(b, (uint16_t)(2 * tls->cfg->group_count));
    for (size_t i = 0; i < tls->cfg->group_count; i++)
        ho_put_u16(b, tls->cfg->groups[i]);
    put_ext_header(tls, b, EXT_SIGNATURE_ALGORITHMS);
    ho_put_u16(b, (uint16_t)(2 + 2 * N_SIG_SCHEMES));
    ho_put_u16(b, (uint16_t)(2 * N_SIG_SCHEMES));
    for (size_t i = 0; i < N_SIG_SCHEMES; i++)
        ho_put_u16(b, client_sig_schemes[i]);
    put_ext_header(tls, b, EXT_SIGNATURE_ALGORITHMS_CERT);
    ho_put_u16(b, (uint16_t)(2 + 2 * N_CERT_SIG_SCHEMES));
    ho_put_u16(b, (uint16_t)(2 * N_CERT_SIG_SCHEMES));
    for (size_t i = 0; i < N_CERT_SIG_SCHEMES; i++)
        ho_put_u16(b, client_cert_sig_schemes[i]);
    put_ext_header(tls, b, EXT_KEY_SHARE);
    size_t share_ext = ho_block_open(b, 2), shares = ho_block_open(b, 2);
    ho_put_u16(b, crypto_kex_group(tls->client->kex));
    size_t kx = ho_block_open(b, 2);
    ho_put_bytes(b, pub, pub_len);
    ho_block_close(b, kx);
    if (tls->client->kex2 != NULL) {
        pub_len = sizeof(pub);
        if ((rc = crypto_kex_public(tls->client->kex2, pub, &pub_len)) != HO_OK)
            return rc;
        ho_put_u16(b, crypto_kex_group(tls->client->kex2));
        kx = ho_block_open(b, 2);
        ho_put_bytes(b, pub, pub_len);
        ho_block_close(b, kx);
    }
    ho_block_close(b, shares);
    ho_block_close(b, share_ext);
    if (tls->cfg->alpn_len > 0) {
        put_ext_header(tls, b, EXT_ALPN);
        size_t e = ho_block_open(b, 2), list = ho_block_open(b, 2);
        ho_put_bytes(b, tls->cfg->alpn, tls->cfg->alpn_len);
        ho_block_close(b, list);
        ho_block_close(b, e);
    }
    if (tls->client->cookie_len > 0) {
        /* §4.2.2: echo the HelloRetryRequest cookie. */
        put_ext_header(tls, b, EXT_COOKIE);
        size_t e = ho_block_open(b, 2), c = ho_block_open(b, 2);
        ho_put_bytes(b, tls->client->cookie, tls->client->cookie_len);
        ho_block_close(b, c);
        ho_block_close(b, e);
    }
    if ((rc = tls_ext_run_hooks(tls, HO_HS_CLIENT_HELLO, NULL, b)) != HO_OK)
        return rc;

    size_t binder_at = 0;
    const ho_tls_suite *psk_suite = tls->client->offering_psk ? ho_tls_suite_by_id(tls->client->offered.suite) : NULL;
    size_t binder_len = psk_suite ? crypto_hash_len(psk_suite->hash) : 0;
    /* §4.2.9: a server issues tickets only to a client that sent
     * psk_key_exchange_modes, so it goes in every ClientHello of a client
     * that wants to resume (a session callback is set), not only in those
     * that offer a PSK; psk_dhe_ke is the mode we support. */
    bool wants_tickets = tls->session_cb != NULL || tls->cfg->cb.session != NULL;
    if (psk_suite != NULL || wants_tickets) {
        /* psk_ke (no key exchange) only when configured: then a resumption
         * offers it alone (a server without psk_ke does a full handshake
         * with our key share), and a first handshake lists both, so that
         * servers issuing tickets for psk_dhe_ke only still issue them. */
        bool ke = tls->cfg->psk_ke, dhe = !ke || psk_suite == NULL;
        put_ext_header(tls, b, EXT_PSK_KEY_EXCHANGE_MODES);
        ho_put_u16(b, (uint16_t)(1 + ke + dhe));
        ho_put_u8(b, (uint8_t)(ke + dhe));
        if (ke)
            ho_put_u8(b, PSK_KE);
        if (dhe)
            ho_put_u8(b, PSK_DHE_KE);
    }
    if (psk_suite != NULL && tls->early == HO_TLS_EARLY_OFFERED) {
        /* §4.2.10: an empty early_data offers 0-RTT with the first PSK
         * (never in a ClientHello after HelloRetryRequest). */
        put_ext_header(tls, b, EXT_EARLY_DATA);
        ho_put_u16(b, 0);
    }
    if (psk_suite != NULL) {
        /* §4.2.11: pre_shared_key is last. */
        put_ext_header(tls, b, EXT_PRE_SHARED_KEY);
        size_t e = ho_block_open(b, 2), ids = ho_block_open(b, 2), id = ho_block_open(b, 2);
        ho_put_bytes(b, tls->client->offered.ticket, tls->client->offered.ticket_len);
        ho_block_close(b, id);
        /* §4.2.11.1: obfuscated_ticket_age = age in ms + ticket_age_add (mod 2^32). */
        ho_put_u32(b, (uint32_t)(tls->now_ms - tls->client->offered.issued_ms) + tls->client->offered.age_add);
        ho_block_close(b, ids);
        binder_at = b->len;
        size_t binders = ho_block_open(b, 2), one = ho_block_open(b, 1);
        ho_put_space(b, binder_len);
        ho_block_close(b, one);
        ho_block_close(b, binders);
        ho_block_close(b, e);
    }
    ho_block_close(b, exts);
    ho_block_close(b, msg);
    if (b->failed)
        return HO_ERR_NOMEM;

    if (psk_suite != NULL) {
        uint8_t key[CRYPTO_HASH_MAX], th[CRYPTO_HASH_MAX];
        struct keysched ks;
        crypto_hash_ctx *h = tls->transcript ? crypto_hash_ctx_dup(tls->transcript) : crypto_hash_ctx_new(psk_suite->hash);
        rc = h == NULL ? HO_ERR_NOMEM : HO_OK;
        if (rc == HO_OK && tls->transcript == NULL)
            rc = crypto_hash_ctx_update(h, tls->transcript_raw.data, tls->transcript_raw.len);
        if (rc == HO_OK)
            rc = crypto_hash_ctx_update(h, b->data + start, binder_at - start);
        if (rc == HO_OK)
            rc = crypto_hash_ctx_peek(h, th);
        crypto_hash_ctx_free(h);
        if (rc == HO_OK)
            rc = tls_ks_init(&ks, psk_suite->hash, tls->client->offered.psk, tls->client->offered.psk_len);
        if (rc == HO_OK)
            rc = tls_ks_binder_key(&ks, key);
        if (rc == HO_OK)
            rc = tls_ks_finished(&ks, key, th, b->data + binder_at + 3);
        tls_ks_wipe(&ks);
        ho_wipe(key, sizeof(key));
        if (rc != HO_OK)
            return rc;
    }
    if (ho_event_threshold() >= HO_LOG_DEBUG)
        tls_event(tls, HO_EV_MSG_SENT, HO_LOG_DEBUG, HO_HS_CLIENT_HELLO, (int64_t)(b->len - start), "ClientHello");
    return tls_transcript_add(tls, b->data + start, b->len - start);
}

int tls_client_start(ho_tls *tls, ho_tls_out *out)
{
    int rc = ho_random(tls->client_random, 32);
    /* A non-empty legacy_session_id keeps middleboxes calm (App. D.4);
     * RFC 9001 §8.4: over QUIC a client MUST NOT ask for that mode. */
    tls->session_id_len = tls_is_quic(tls) ? 0 : 32;
    if (rc == HO_OK && tls->session_id_len > 0)
        rc = ho_random(tls->session_id, tls->session_id_len);
    if (rc != HO_OK)
        return rc;
    if (tls->client->offering_psk && !session_usable(tls)) {
        tls->client->offering_psk = false;
        tls_session_clear(&tls->client->offered);
    }
    if ((tls->client->kex = crypto_kex_new(tls->cfg->groups[0])) == NULL)
        return HO_ERR_CRYPTO;
    if (tls->cfg->groups[0] == HO_GROUP_X25519MLKEM768 &&
        tls_list_has(tls->cfg->groups, tls->cfg->group_count, HO_GROUP_X25519) &&
        (tls->client->kex2 = crypto_kex_new(HO_GROUP_X25519)) == NULL)
        return HO_ERR_CRYPTO;
    /* §4.2.10: early data on a ticket that allows it, when configured
     * (over QUIC only 0xffffffff allows it, RFC 9001 §4.6.1). */
    if (tls->client->offering_psk && tls->cfg->early_max > 0 && tls->client->offered.max_early > 0 &&
        (!tls_is_quic(tls) || tls->client->offered.max_early == TLS_QUIC_EARLY_MAX)) {
        tls->early = HO_TLS_EARLY_OFFERED;
        tls->early_max = tls->client->offered.max_early;
    }
    if ((rc = send_client_hello(tls, out)) != HO_OK)
        return rc;
    if (tls->early == HO_TLS_EARLY_OFFERED) {
        /* §7.1: client_early_traffic_secret = Derive-Secret(Early Secret
         * of the PSK, "c e traffic", ClientHello). */
        const ho_tls_suite *ps = ho_tls_suite_by_id(tls->client->offered.suite);
        uint8_t th[CRYPTO_HASH_MAX];
        rc = crypto_hash(ps->hash, tls->transcript_raw.data, tls->transcript_raw.len, th);
        if (rc == HO_OK)
            rc = tls_ks_init(&tls->ks, ps->hash, tls->client->offered.psk, tls->client->offered.psk_len);
        if (rc == HO_OK)
            rc = tls_ks_early(&tls->ks, th);
        if (rc != HO_OK)
            return rc;
        if (tls_early_install(tls, true, ps) != HS_OK)
            return tls->error;
    }
    return HO_OK;
}

static hs_status handle_hello_retry(ho_tls *tls, const struct ext_seen *seen, const uint8_t *msg, size_t len,
                                    ho_tls_out *out)
{
    ho_cursor c;
    /* §4.1.4: a second HelloRetryRequest is unexpected_message. */
    if (tls->did_hrr)
        return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "second HelloRetryRequest");
    tls->did_hrr = true;
    /* §4.2.10: a HelloRetryRequest rejects early data; the second
     * ClientHello goes in the clear, without early_data. */
    if (tls->early == HO_TLS_EARLY_OFFERED && tls_early_abandon(tls) != HS_OK)
        return HS_ERROR;
    if (tls_transcript_start(tls, tls->suite->hash) != HO_OK || tls_transcript_hrr_rewrite(tls) != HO_OK ||
        tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    bool changes = false;
    if (tls_ext_get(seen, EXT_KEY_SHARE, &c)) {
        uint16_t group;
        if (!ho_get_u16(&c, &group) || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "HRR key_share");
        /* §4.2.8: the group must be one we offered and not the share we sent. */
        if (!tls_list_has(tls->cfg->groups, tls->cfg->group_count, group) || group == crypto_kex_group(tls->client->kex) ||
            (tls->client->kex2 != NULL && group == crypto_kex_group(tls->client->kex2)))
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "HRR group");
        crypto_kex_free(tls->client->kex);
        crypto_kex_free(tls->client->kex2);
        tls->client->kex2 = NULL;
        if ((tls->client->kex = crypto_kex_new(group)) == NULL)
            return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "key generation");
        changes = true;
    }
    if (tls_ext_get(seen, EXT_COOKIE, &c)) {
        ho_cursor cookie;
        if (!ho_get_block(&c, 2, &cookie) || cookie.len == 0 || cookie.len > sizeof(tls->client->cookie) ||
            !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "HRR cookie");
        memcpy(tls->client->cookie, cookie.p, cookie.len);
        tls->client->cookie_len = cookie.len;
        changes = true;
    }
    /* §4.1.4: an HRR that would change nothing is illegal_parameter. */
    if (!changes)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "HRR changes nothing");
    if (tls->client->offering_psk && ho_tls_suite_by_id(tls->client->offered.suite)->hash != tls->suite->hash)
        tls->client->offering_psk = false;
    int rc = send_client_hello(tls, out);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "second client hello");
    return HS_ALT; /* stay in WAIT_SH for the real ServerHello */
}

hs_status tls_client_handle_server_hello(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                     ho_tls_out *out)
{
    uint16_t legacy_version, suite_id;
    const uint8_t *random;
    ho_cursor sid, exts, c;
    uint8_t comp;
    if (!ho_get_u16(body, &legacy_version) || !ho_get_bytes(body, 32, &random) || !ho_get_block(body, 1, &sid) ||
        !ho_get_u16(body, &suite_id) || !ho_get_u8(body, &comp) || !ho_get_block(body, 2, &exts) ||
        !ho_cursor_empty(body) || sid.len > 32)
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "server hello"); /* §4.1.3: id echo <0..32> */
    bool hrr = memcmp(random, ho_tls_hrr_random, 32) == 0;
    struct ext_seen seen;
    int rc = tls_ext_parse(tls, exts, hrr ? MSG_HRR : MSG_SH, &seen);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "server hello extensions");
    /* §4.2.1: TLS 1.3 is negotiated only through supported_versions. */
    uint16_t version;
    if (!tls_ext_get(&seen, EXT_SUPPORTED_VERSIONS, &c))
        return tls_alert(tls, HO_ALERT_PROTOCOL_VERSION, "server does not speak TLS 1.3");
    if (!ho_get_u16(&c, &version) || !ho_cursor_empty(&c))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "supported_versions");
    if (version != TLS13_VERSION || legacy_version != TLS12_VERSION)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "selected version");
    /* §4.1.3: session id echo, offered suite, null compression. */
    if (sid.len != tls->session_id_len || memcmp(sid.p, tls->session_id, sid.len) != 0)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "session id echo");
    if (!tls_list_has(tls->cfg->suites, tls->cfg->suite_count, suite_id) || comp != 0)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "cipher suite");
    /* §4.1.4: the suite of ServerHello must be the one of the HRR. */
    if (tls->suite != NULL && tls->suite->id != suite_id)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "suite differs from HRR");
    tls->suite = ho_tls_suite_by_id(suite_id);
    if (hrr)
        return handle_hello_retry(tls, &seen, msg, len, out);

    uint16_t group;
    ho_cursor share = {0};
    bool has_share = tls_ext_get(&seen, EXT_KEY_SHARE, &c);
    if (has_share) {
        if (!ho_get_u16(&c, &group) || !ho_get_block(&c, 2, &share) || share.len == 0 || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "key_share");
        if (tls->client->kex2 != NULL && group == crypto_kex_group(tls->client->kex2)) {
            crypto_kex_free(tls->client->kex); /* the server chose our second share */
            tls->client->kex = tls->client->kex2;
            tls->client->kex2 = NULL;
        }
        if (group != crypto_kex_group(tls->client->kex))
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "key share group");
        tls->group = group;
    }
    if (tls_ext_get(&seen, EXT_PRE_SHARED_KEY, &c)) {
        uint16_t selected;
        if (!ho_get_u16(&c, &selected) || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "pre_shared_key");
        /* §4.2.11: the selected identity must be one we offered, and its
         * hash the suite's. */
        if (!tls->client->offering_psk || selected != 0 ||
            ho_tls_suite_by_id(tls->client->offered.suite)->hash != tls->suite->hash)
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "selected psk");
        tls->resumed = true;
    }
    /* §4.2.9: a ServerHello without key_share is psk_ke, valid only as a
     * resumption in a mode we offered. */
    if (!has_share && !(tls->resumed && tls->cfg->psk_ke))
        return tls_alert(tls, HO_ALERT_MISSING_EXTENSION, "key_share (psk_ke not offered)");
    if (tls->transcript == NULL && tls_transcript_start(tls, tls->suite->hash) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");

    uint8_t dhe[CRYPTO_KEX_SECRET_MAX], th[CRYPTO_HASH_MAX];
    size_t dhe_len = sizeof(dhe);
    rc = has_share ? crypto_kex_derive(tls->client->kex, share.p, share.len, dhe, &dhe_len) : HO_OK;
    crypto_kex_free(tls->client->kex);
    crypto_kex_free(tls->client->kex2);
    tls->client->kex = tls->client->kex2 = NULL;
    if (rc == HO_ERR_BAD_PEER_KEY)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "server key share");
    if (rc == HO_OK)
        rc = tls_ks_init(&tls->ks, tls->suite->hash, tls->resumed ? tls->client->offered.psk : NULL, tls->client->offered.psk_len);
    if (rc == HO_OK)
        rc = tls_transcript_hash(tls, th);
    if (rc == HO_OK)
        rc = tls_ks_handshake(&tls->ks, has_share ? dhe : NULL, dhe_len, th); /* §7.1: psk_ke, 0 */
    ho_wipe(dhe, sizeof(dhe));
    if (rc != HO_OK)
        return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "handshake secret");
    /* §4.2.10: a resumption may still accept our early data (we learn it
     * from EncryptedExtensions): until then we keep writing with the early
     * key. Without the PSK it is rejected already. */
    if (tls->early == HO_TLS_EARLY_OFFERED && !tls->resumed)
        tls->early = HO_TLS_EARLY_REJECTED;
    /* Over QUIC the handshake key comes now anyway: 0-RTT packets are the
     * transport's, and no EndOfEarlyData separates them (RFC 9001 §8.3). */
    if (tls_install_secret(tls, false, HO_EPOCH_HANDSHAKE, tls->ks.server_hs) != HS_OK ||
        ((tls->early != HO_TLS_EARLY_OFFERED || tls_is_quic(tls)) &&
         tls_install_secret(tls, true, HO_EPOCH_HANDSHAKE, tls->ks.client_hs) != HS_OK))
        return HS_ERROR;
    return HS_OK;
}

hs_status tls_client_handle_encrypted_extensions(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                             ho_tls_out *out)
{
    ho_cursor exts, c;
    struct ext_seen seen;
    if (!ho_get_block(body, 2, &exts) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "encrypted extensions");
    /* §4.3.1: an extension EncryptedExtensions may not carry is
     * illegal_parameter (the permission table, ext.c). */
    int rc = tls_ext_parse(tls, exts, MSG_EE, &seen);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "encrypted extensions");
    if (tls_ext_get(&seen, EXT_SERVER_NAME, &c) && c.len != 0)
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "server_name in EE");
    if (tls_ext_get(&seen, EXT_ALPN, &c)) {
        /* RFC 7301 §3.1: exactly one protocol, one we offered. */
        ho_cursor list, name, ours = ho_cursor_make(tls->cfg->alpn, tls->cfg->alpn_len), mine;
        if (!ho_get_block(&c, 2, &list) || !ho_get_block(&list, 1, &name) || name.len == 0 ||
            !ho_cursor_empty(&list) || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "alpn");
        bool offered = false;
        while (!offered && ho_get_block(&ours, 1, &mine))
            offered = mine.len == name.len && memcmp(mine.p, name.p, name.len) == 0;
        if (!offered)
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "alpn not offered");
        if (tls_set_alpn(tls, name.p, name.len) != HO_OK)
            return tls_fail(tls, HO_ERR_NOMEM, "alpn");
    }
    if (tls_ext_get(&seen, EXT_SUPPORTED_GROUPS, &c)) {
        ho_cursor list;
        if (!ho_get_block(&c, 2, &list) || list.len == 0 || list.len % 2 || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "supported_groups");
    }
    if (tls_ext_get(&seen, EXT_EARLY_DATA, &c)) {
        /* §4.2.10: empty; the server accepted with the first PSK and the
         * ticket's cipher suite, or the handshake aborts. */
        if (!ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "early_data in EE");
        if (tls->early != HO_TLS_EARLY_OFFERED || !tls->resumed || tls->client->offered.suite != tls->suite->id)
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "early data accepted wrongly");
        tls->early = HO_TLS_EARLY_ACCEPTED;
        tls_event(tls, HO_EV_NOTE, HO_LOG_DEBUG, tls->early, 0, "early data accepted");
    } else if (tls->early == HO_TLS_EARLY_OFFERED) {
        tls->early = HO_TLS_EARLY_REJECTED;
        tls_event(tls, HO_EV_NOTE, HO_LOG_DEBUG, tls->early, 0, "early data rejected");
        if (!tls_is_quic(tls) && tls_install_secret(tls, true, HO_EPOCH_HANDSHAKE, tls->ks.client_hs) != HS_OK)
            return HS_ERROR;
    }
    if ((rc = tls_ext_run_hooks(tls, HO_HS_ENCRYPTED_EXTENSIONS, &seen, NULL)) != HO_OK)
        return tls_fail(tls, rc, "transport parameters");
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    return tls->resumed ? HS_ALT : HS_OK; /* §2.2: a resumption has no certificate */
}

hs_status tls_client_handle_certificate_request(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                            ho_tls_out *out)
{
    ho_cursor ctx, exts, c;
    struct ext_seen seen;
    if (!ho_get_block(body, 1, &ctx) || !ho_get_block(body, 2, &exts) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "certificate request");
    int rc = tls_ext_parse(tls, exts, MSG_CR, &seen);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "certificate request extensions");
    /* §4.3.2: signature_algorithms MUST be specified. */
    if (!tls_ext_get(&seen, EXT_SIGNATURE_ALGORITHMS, &c))
        return tls_alert(tls, HO_ALERT_MISSING_EXTENSION, "certificate request signature_algorithms");
    if ((rc = tls_client_note_request_schemes(tls, c)) != HO_OK)
        return tls_fail(tls, rc, "certificate request signature_algorithms");
    memcpy(tls->client->cert_request_context, ctx.p, ctx.len);
    tls->client->cert_request_context_len = ctx.len;
    tls->client->cert_requested = true;
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    return HS_OK;
}

static int ensure_trust(ho_tls_config *cfg)
{
    int rc = HO_OK;
    pthread_mutex_lock(&cfg->lock);
    if (!cfg->trust_ready) {
        cfg->trust = ho_trust_store_new();
        rc = cfg->trust == NULL ? HO_ERR_NOMEM : ho_trust_store_add_system(cfg->trust);
        cfg->trust_ready = rc == HO_OK;
    }
    pthread_mutex_unlock(&cfg->lock);
    return rc;
}

static uint8_t verify_error_alert(int rc)
{
    switch (rc) {
    case HO_ERR_CERT_UNTRUSTED: return HO_ALERT_UNKNOWN_CA;
    case HO_ERR_CERT_EXPIRED: return HO_ALERT_CERTIFICATE_EXPIRED;
    case HO_ERR_CERT_BAD: return HO_ALERT_BAD_CERTIFICATE;
    case HO_ERR_CERT_HOSTNAME: return HO_ALERT_BAD_CERTIFICATE;
    }
    return HO_ALERT_CERTIFICATE_UNKNOWN;
}

hs_status tls_client_handle_certificate(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out)
{
    ho_cursor ctx, list, cert, exts;
    if (!ho_get_block(body, 1, &ctx) || !ho_get_block(body, 3, &list) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "certificate");
    /* §4.4.2: the context is empty for server authentication. */
    if (ctx.len != 0)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "certificate context");
    /* §4.4.2.4: an empty server Certificate is decode_error. */
    if (list.len == 0)
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "empty certificate");
    while (!ho_cursor_empty(&list)) {
        struct ext_seen seen;
        if (!ho_get_block(&list, 3, &cert) || cert.len == 0 || !ho_get_block(&list, 2, &exts))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "certificate entry");
        int rc = tls_ext_parse(tls, exts, MSG_CT, &seen);
        if (rc != HO_OK)
            return tls_fail(tls, rc, "certificate extensions");
        if (ho_cert_chain_add_der(&tls->peer_chain, cert.p, cert.len) != HO_OK)
            return tls_fail(tls, HO_ERR_NOMEM, "certificate");
    }
    /* The leaf is parsed once, for the chain and for CertificateVerify, and
     * taken from the configuration's cache when this server was seen. */
    crypto_cert_free(tls->peer_leaf);
    tls->peer_leaf = NULL;
    int rc = crypto_cert_get(tls->cfg->cert_cache, tls->peer_chain.der[0], tls->peer_chain.len[0], &tls->peer_leaf);
    if (rc == HO_ERR_NOMEM)
        return tls_fail(tls, rc, "certificate");
    if (rc != HO_OK) /* RFC 8446 §6.2: a corrupt certificate is bad_certificate */
        return tls_fail(tls, HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE), ho_err_str(rc));
    if (tls->cfg->verify_peer) {
        rc = ensure_trust(tls->cfg);
        if (rc == HO_OK)
            rc = crypto_cert_chain_verify(tls->cfg->cert_cache, tls->cfg->trust, &tls->peer_chain, tls->peer_leaf,
                                          tls->server_name, tls->now_ms / 1000);
        if (rc != HO_OK)
            return tls_fail(tls, HO_ERR_TLS_ALERT(verify_error_alert(rc)), ho_err_str(rc));
        if (tls_set_peer_subject(tls) != HO_OK)
            return tls_fail(tls, HO_ERR_NOMEM, "peer subject");
    }
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    return HS_OK;
}

hs_status tls_client_handle_certificate_verify(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                           ho_tls_out *out)
{
    uint16_t scheme;
    ho_cursor sig;
    if (!ho_get_u16(body, &scheme) || !ho_get_block(body, 2, &sig) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "certificate verify");
    /* §4.4.3: the scheme must be one we offered. */
    if (!tls_list_has(client_sig_schemes, N_SIG_SCHEMES, scheme))
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "signature scheme");
    uint8_t content[64 + 34 + CRYPTO_HASH_MAX];
    size_t content_len;
    int rc = tls_cv_content(tls, true, content, &content_len);
    if (rc == HO_OK)
        rc = tls->peer_leaf != NULL ? crypto_cert_verify_signature(tls->peer_leaf, scheme, content, content_len, sig.p,
                                                                   sig.len)
                                    : HO_ERR_CERT_BAD;
    if (rc == HO_ERR_BAD_SIGNATURE)
        return tls_alert(tls, HO_ALERT_DECRYPT_ERROR, "server signature"); /* §4.4.3 */
    if (rc != HO_OK)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "signature scheme does not fit the key");
    /* Not needed any more; the connection does not hold it (or, with a
     * cache, a reference that keeps an evicted certificate alive). */
    crypto_cert_free(tls->peer_leaf);
    tls->peer_leaf = NULL;
    tls->sig_scheme = scheme;
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    return HS_OK;
}

hs_status tls_client_handle_finished(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out)
{
    uint8_t th[CRYPTO_HASH_MAX];
    if (tls_check_finished(tls, body, tls->ks.server_hs) != HS_OK)
        return HS_ERROR;
    if (tls_transcript_add(tls, msg, len) != HO_OK || tls_transcript_hash(tls, th) != HO_OK ||
        tls_ks_master(&tls->ks, th) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "master secret");
    tls_keylog(tls, "EXPORTER_SECRET", tls->ks.exporter);
    if (tls_install_secret(tls, false, HO_EPOCH_APP, tls->ks.server_ap) != HS_OK)
        return HS_ERROR;
    /* RFC 9001 §8.3: a QUIC client MUST NOT send EndOfEarlyData. */
    if (tls->early == HO_TLS_EARLY_ACCEPTED && !tls_is_quic(tls)) {
        /* §4.5: EndOfEarlyData under the early key ends our early data,
         * then the handshake key protects the rest of the flight. */
        size_t t = tls_msg_begin(tls, out, HO_HS_END_OF_EARLY_DATA);
        if (tls_msg_end(tls, out, t) != HS_OK ||
            tls_install_secret(tls, true, HO_EPOCH_HANDSHAKE, tls->ks.client_hs) != HS_OK)
            return HS_ERROR;
    }
    /* §4.4.2: Certificate (and CertificateVerify) when asked (client_auth.c). */
    if (tls->client->cert_requested && tls_client_send_client_auth(tls, out) != HS_OK)
        return HS_ERROR;
    if (tls_send_finished(tls, out, tls->ks.client_hs) != HS_OK)
        return HS_ERROR;
    if (tls_transcript_hash(tls, th) != HO_OK || tls_ks_resumption(&tls->ks, th) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "resumption secret");
    if (tls_install_secret(tls, true, HO_EPOCH_APP, tls->ks.client_ap) != HS_OK)
        return HS_ERROR;
    tls_done(tls);
    return HS_OK;
}

hs_status tls_client_handle_new_session_ticket(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                           ho_tls_out *out)
{
    struct session s;
    ho_cursor nonce, ticket, exts, c;
    struct ext_seen seen;
    memset(&s, 0, sizeof(s));
    if (!ho_get_u32(body, &s.lifetime_s) || !ho_get_u32(body, &s.age_add) || !ho_get_block(body, 1, &nonce) ||
        !ho_get_block(body, 2, &ticket) || ticket.len == 0 || !ho_get_block(body, 2, &exts) ||
        !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "new session ticket");
    int rc = tls_ext_parse(tls, exts, MSG_NST, &seen);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "ticket extensions");
    /* §4.6.1: lifetime zero means discard; more than seven days is capped. */
    if (s.lifetime_s == 0 || (tls->cfg->cb.session == NULL && tls->session_cb == NULL))
        return HS_OK;
    if (s.lifetime_s > 604800)
        s.lifetime_s = 604800;
    /* §4.2.10: the ticket allows early data up to max_early_data_size. */
    if (tls_ext_get(&seen, EXT_EARLY_DATA, &c)) {
        if (!ho_get_u32(&c, &s.max_early) || !ho_cursor_empty(&c))
            return tls_alert(tls, HO_ALERT_DECODE_ERROR, "early_data in ticket");
        /* RFC 9001 §4.6.1: over QUIC any other value than 0xffffffff MUST
         * be treated as a connection error of type PROTOCOL_VIOLATION. */
        if (tls_is_quic(tls) && s.max_early != TLS_QUIC_EARLY_MAX)
            return tls_fail(tls, HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION), "max_early_data_size over QUIC");
    }
    s.suite = tls->suite->id;
    s.psk_len = tls->ks.hash_len;
    s.issued_ms = tls->now_ms;
    snprintf(s.alpn, sizeof(s.alpn), "%s", tls->alpn ? tls->alpn : "");
    snprintf(s.server_name, sizeof(s.server_name), "%s", tls->server_name ? tls->server_name : "");
    s.ticket = (uint8_t *)ticket.p;
    s.ticket_len = ticket.len;
    ho_buf blob;
    ho_buf_init(&blob);
    rc = tls_ks_ticket_psk(&tls->ks, nonce.p, nonce.len, s.psk);
    if (rc == HO_OK)
        rc = tls_session_encode(&s, &blob);
    s.ticket = NULL; /* borrowed */
    tls_session_clear(&s);
    if (rc == HO_OK && tls->session_cb != NULL)
        tls->session_cb(tls->session_ctx, tls, blob.data, blob.len);
    else if (rc == HO_OK)
        tls->cfg->cb.session(tls->cfg->cb.ctx, tls, blob.data, blob.len);
    ho_buf_free(&blob);
    return rc == HO_OK ? HS_OK : tls_fail(tls, rc, "ticket");
}
