/* Server handlers: the ClientHello (which builds the whole first flight, or
 * a HelloRetryRequest) and the client's Finished (which issues tickets). */
#include "base/mem.h"
#include "tls_int.h"

#include "quic/transport_error.h" /* HO_ERR_QUIC, which ho_tls_handle passes to QUIC as it is */

#include <stdio.h>
#include <string.h>

/* §4.1.3: the Random of a HelloRetryRequest is SHA-256("HelloRetryRequest"). */
const uint8_t ho_tls_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

struct key_share_entry {
    uint16_t group;
    ho_cursor key;
};

struct client_hello {
    ho_cursor session_id;
    uint16_t suites[MAX_LIST];
    size_t suite_count;
    struct ext_seen ext;
    char server_name[256];
    bool has_sni;
    uint16_t groups[MAX_LIST]; /* the groups we can use, in the client's order */
    size_t group_count;
    uint16_t sigs[MAX_LIST]; /* the schemes we recognise, in the client's order */
    size_t sig_count;
    uint16_t cert_sigs[MAX_LIST]; /* signature_algorithms_cert, the same way */
    size_t cert_sig_count;
    bool has_cert_sigs;
    ho_cursor groups_raw, sigs_raw; /* the whole lists as sent */
    struct key_share_entry shares[8]; /* shares for groups we can use */
    size_t share_count;
    bool has_groups, has_sigs, has_key_share, has_alpn, has_modes, psk_dhe_ke, has_psk, has_cookie, has_early;
    bool psk_ke; /* psk_key_exchange_modes lists psk_ke */
    ho_cursor alpn, psk_identities, psk_binders, cookie;
    size_t binders_offset; /* where the binders list starts in the message */
};

/* SignatureScheme values a TLS 1.3 peer may offer that we can recognise
 * (RFC 8446 §4.2.3): ECDSA, RSASSA-PSS (rsae and pss), EdDSA, and the
 * PKCS#1 v1.5 ones, which only count for certificates. */
static bool sig_scheme_known(uint16_t v)
{
    return v == 0x0401 || v == 0x0501 || v == 0x0601 || v == 0x0403 || v == 0x0503 || v == 0x0603 ||
           (v >= 0x0804 && v <= 0x080b);
}

/* Reads a whole u16 list (block of 2-byte length, up to its wire limit of
 * 2^16-2 bytes) and remembers the values `keep` accepts, once each, in
 * order. RFC 8446 §4.2.3, §4.2.7: unknown values are ignored, wherever they
 * stand in the list, so no value we know is lost behind them; the list
 * itself stays available in *raw for exact membership tests. */
static bool get_u16_list(ho_cursor *c, bool (*keep)(uint16_t), uint16_t *out, size_t max, size_t *count,
                         ho_cursor *raw)
{
    ho_cursor list;
    if (!ho_get_block(c, 2, &list) || list.len == 0 || list.len % 2 != 0)
        return false;
    *raw = list;
    *count = 0;
    uint16_t v;
    while (ho_get_u16(&list, &v))
        if (keep(v) && *count < max && !tls_list_has(out, *count, v))
            out[(*count)++] = v;
    return true;
}

/* Whether a u16 list on the wire holds v. */
static bool raw_list_has(ho_cursor list, uint16_t v)
{
    uint16_t x;
    while (ho_get_u16(&list, &x))
        if (x == v)
            return true;
    return false;
}

#define DECODE_ERROR HO_ERR_TLS_ALERT(HO_ALERT_DECODE_ERROR)
#define ILLEGAL HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER)

static int parse_server_name(ho_cursor body, struct client_hello *ch)
{
    /* RFC 6066 §3: ServerNameList with at most one host_name. */
    ho_cursor list, name;
    uint8_t type;
    if (!ho_get_block(&body, 2, &list) || !ho_cursor_empty(&body) || list.len == 0)
        return DECODE_ERROR;
    while (!ho_cursor_empty(&list)) {
        if (!ho_get_u8(&list, &type) || !ho_get_block(&list, 2, &name) || name.len == 0)
            return DECODE_ERROR;
        if (type != 0)
            continue;
        if (ch->has_sni || name.len > 255 || memchr(name.p, 0, name.len) != NULL)
            return ILLEGAL;
        memcpy(ch->server_name, name.p, name.len);
        ch->server_name[name.len] = '\0';
        ch->has_sni = true;
    }
    return HO_OK;
}

static int parse_key_share(ho_cursor body, struct client_hello *ch)
{
    ho_cursor list;
    if (!ho_get_block(&body, 2, &list) || !ho_cursor_empty(&body))
        return DECODE_ERROR;
    while (!ho_cursor_empty(&list)) {
        struct key_share_entry e;
        if (!ho_get_u16(&list, &e.group) || !ho_get_block(&list, 2, &e.key) || e.key.len == 0)
            return DECODE_ERROR;
        /* §4.2.8: one share per group, and only for groups in supported_groups. */
        for (size_t i = 0; i < ch->share_count; i++)
            if (ch->shares[i].group == e.group)
                return ILLEGAL;
        /* Checked against the whole list: a share for a group listed late
         * (or one we do not know) is still legal. */
        if (!raw_list_has(ch->groups_raw, e.group))
            return ILLEGAL;
        /* Shares for groups we cannot use are skipped (§4.2.8); one per
         * group means at most MAX_LIST are kept. */
        if (crypto_kex_group_supported(e.group) && ch->share_count < sizeof(ch->shares) / sizeof(ch->shares[0]))
            ch->shares[ch->share_count++] = e;
    }
    ch->has_key_share = true;
    return HO_OK;
}

static int parse_psk(ho_cursor body, const uint8_t *msg, struct client_hello *ch)
{
    /* §4.2.11: identities<7..2^16-1>, binders<33..2^16-1>, equal counts. */
    ho_cursor ids, binders, id, binder;
    uint32_t age;
    if (!ho_get_block(&body, 2, &ids) || ids.len == 0)
        return DECODE_ERROR;
    ch->binders_offset = (size_t)(body.p - msg);
    if (!ho_get_block(&body, 2, &binders) || binders.len == 0 || !ho_cursor_empty(&body))
        return DECODE_ERROR;
    ch->psk_identities = ids;
    ch->psk_binders = binders;
    size_t n_ids = 0, n_binders = 0;
    while (!ho_cursor_empty(&ids)) {
        if (!ho_get_block(&ids, 2, &id) || id.len == 0 || !ho_get_u32(&ids, &age))
            return DECODE_ERROR;
        n_ids++;
    }
    while (!ho_cursor_empty(&binders)) {
        if (!ho_get_block(&binders, 1, &binder) || binder.len < 32)
            return DECODE_ERROR;
        n_binders++;
    }
    if (n_ids != n_binders)
        return ILLEGAL;
    ch->has_psk = true;
    return HO_OK;
}

static int parse_client_hello(ho_tls *tls, ho_cursor *body, const uint8_t *msg, struct client_hello *ch)
{
    uint16_t legacy_version;
    ho_cursor suites, comp, exts, c;
    if (!ho_get_u16(body, &legacy_version) || !ho_skip(body, 32) || !ho_get_block(body, 1, &ch->session_id) ||
        ch->session_id.len > 32 || !ho_get_block(body, 2, &suites) || suites.len < 2 || suites.len % 2 != 0 ||
        !ho_get_block(body, 1, &comp) || comp.len < 1)
        return DECODE_ERROR;
    /* App. D.5: legacy_version 0x0300 or less MUST be refused with
     * protocol_version; §4.1.2: a TLS 1.3 ClientHello carries 0x0303, so
     * anything lower (0x0301, 0x0302, nonsense) gets the same answer. */
    if (legacy_version < TLS12_VERSION)
        return HO_ERR_TLS_ALERT(HO_ALERT_PROTOCOL_VERSION);
    /* A ClientHello without extensions cannot offer TLS 1.3 (§4.2.1). */
    if (ho_cursor_empty(body))
        return HO_ERR_TLS_ALERT(HO_ALERT_PROTOCOL_VERSION);
    if (!ho_get_block(body, 2, &exts) || !ho_cursor_empty(body))
        return DECODE_ERROR;
    uint16_t s;
    /* Unknown suites are ignored (§4.1.2); known ones are kept once each, so
     * repeats cannot push one we know out of the list. */
    while (ho_get_u16(&suites, &s))
        if (ho_tls_suite_by_id(s) != NULL && ch->suite_count < MAX_LIST &&
            !tls_list_has(ch->suites, ch->suite_count, s))
            ch->suites[ch->suite_count++] = s;
    int rc = tls_ext_parse(tls, exts, MSG_CH, &ch->ext);
    if (rc != HO_OK)
        return rc;

    /* §4.2.1: without TLS 1.3 in supported_versions we cannot talk. */
    if (!tls_ext_get(&ch->ext, EXT_SUPPORTED_VERSIONS, &c))
        return HO_ERR_TLS_ALERT(HO_ALERT_PROTOCOL_VERSION);
    ho_cursor vlist;
    if (!ho_get_block(&c, 1, &vlist) || vlist.len < 2 || vlist.len % 2 != 0 || !ho_cursor_empty(&c))
        return DECODE_ERROR;
    if (!raw_list_has(vlist, TLS13_VERSION)) /* the whole list is searched */
        return HO_ERR_TLS_ALERT(HO_ALERT_PROTOCOL_VERSION);
    /* §4.1.2: a TLS 1.3 ClientHello has exactly the null compression method. */
    if (comp.len != 1 || comp.p[0] != 0)
        return ILLEGAL;

    if (tls_ext_get(&ch->ext, EXT_SERVER_NAME, &c) && (rc = parse_server_name(c, ch)) != HO_OK)
        return rc;
    if (tls_ext_get(&ch->ext, EXT_SUPPORTED_GROUPS, &c)) {
        if (!get_u16_list(&c, crypto_kex_group_supported, ch->groups, MAX_LIST, &ch->group_count, &ch->groups_raw) ||
            !ho_cursor_empty(&c))
            return DECODE_ERROR;
        /* §4.2.7: the obsolete_RESERVED groups (TLS 1.2's binary and small
         * curves) MUST NOT be offered by TLS 1.3 implementations; a client
         * that lists one (key shares are for listed groups only) is refused. */
        ho_cursor g = ch->groups_raw;
        uint16_t id;
        while (ho_get_u16(&g, &id))
            if ((id >= 0x0001 && id <= 0x0016) || (id >= 0x001a && id <= 0x001c) || id == 0xff01 || id == 0xff02)
                return ILLEGAL;
        ch->has_groups = true;
    }
    if (tls_ext_get(&ch->ext, EXT_SIGNATURE_ALGORITHMS, &c)) {
        if (!get_u16_list(&c, sig_scheme_known, ch->sigs, MAX_LIST, &ch->sig_count, &ch->sigs_raw) ||
            !ho_cursor_empty(&c))
            return DECODE_ERROR;
        ch->has_sigs = true;
    }
    /* §4.2.3: the signatures the client accepts in certificates; without the
     * extension, signature_algorithms applies to them too. */
    if (tls_ext_get(&ch->ext, EXT_SIGNATURE_ALGORITHMS_CERT, &c)) {
        ho_cursor raw;
        if (!get_u16_list(&c, sig_scheme_known, ch->cert_sigs, MAX_LIST, &ch->cert_sig_count, &raw) ||
            !ho_cursor_empty(&c))
            return DECODE_ERROR;
        ch->has_cert_sigs = true;
    }
    if (tls_ext_get(&ch->ext, EXT_KEY_SHARE, &c)) {
        /* §9.2: key_share without supported_groups is missing_extension. */
        if (!ch->has_groups)
            return HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION);
        if ((rc = parse_key_share(c, ch)) != HO_OK)
            return rc;
    }
    if (tls_ext_get(&ch->ext, EXT_PSK_KEY_EXCHANGE_MODES, &c)) {
        ho_cursor modes;
        if (!ho_get_block(&c, 1, &modes) || modes.len == 0 || !ho_cursor_empty(&c))
            return DECODE_ERROR;
        ch->has_modes = true;
        ch->psk_dhe_ke = memchr(modes.p, PSK_DHE_KE, modes.len) != NULL;
        ch->psk_ke = memchr(modes.p, PSK_KE, modes.len) != NULL;
    }
    if (tls_ext_get(&ch->ext, EXT_PRE_SHARED_KEY, &c) && (rc = parse_psk(c, msg, ch)) != HO_OK)
        return rc;
    if (tls_ext_get(&ch->ext, EXT_ALPN, &c)) {
        ho_cursor list, name;
        if (!ho_get_block(&c, 2, &list) || list.len == 0 || !ho_cursor_empty(&c))
            return DECODE_ERROR;
        ch->alpn = list;
        while (!ho_cursor_empty(&list))
            if (!ho_get_block(&list, 1, &name) || name.len == 0)
                return DECODE_ERROR;
        ch->has_alpn = true;
    }
    /* §4.2.10: early data offered; we never accept it, so its records are
     * skipped (record.c). */
    ch->has_early = tls_ext_get(&ch->ext, EXT_EARLY_DATA, &c);
    if (tls_ext_get(&ch->ext, EXT_COOKIE, &c)) {
        if (!ho_get_block(&c, 2, &ch->cookie) || ch->cookie.len == 0 || !ho_cursor_empty(&c))
            return DECODE_ERROR;
        ch->has_cookie = true;
    }

    /* §9.2 mandatory-to-implement extensions. */
    if (ch->has_psk && !ch->has_modes)
        return HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION); /* §4.2.9 */
    if (!ch->has_psk && (!ch->has_sigs || !ch->has_groups || !ch->has_key_share))
        return HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION);
    if (ch->has_groups != ch->has_key_share)
        return HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION);
    return HO_OK;
}

static int choose_alpn(ho_tls *tls, const struct client_hello *ch)
{
    if (!ch->has_alpn || tls->cfg->alpn_len == 0)
        return HO_OK;
    ho_cursor ours = ho_cursor_make(tls->cfg->alpn, tls->cfg->alpn_len), mine, theirs;
    while (ho_get_block(&ours, 1, &mine)) {
        ho_cursor list = ch->alpn;
        while (ho_get_block(&list, 1, &theirs)) {
            if (theirs.len == mine.len && memcmp(theirs.p, mine.p, mine.len) == 0) {
                return tls_set_alpn(tls, mine.p, mine.len);
            }
        }
    }
    /* RFC 7301 §3.2: no protocol in common. */
    return HO_ERR_TLS_ALERT(HO_ALERT_NO_APPLICATION_PROTOCOL);
}

/* Finds a PSK among the offered tickets and verifies its binder
 * (§4.2.11). *index is the identity chosen, or -1 for none usable. */
static int choose_psk(ho_tls *tls, const struct client_hello *ch, const uint8_t *msg, struct session *s,
                      int *chosen, bool psk_ke)
{
    *chosen = -1;
    /* §4.2.9: only in a mode the client listed (psk_ke when we use it). */
    bool mode_ok = psk_ke ? ch->psk_ke && tls->cfg->psk_ke : ch->psk_dhe_ke;
    if (!ch->has_psk || !mode_ok || tls->cfg->ticket_count == 0)
        return HO_OK;
    ho_cursor ids = ch->psk_identities, binders = ch->psk_binders, id, binder;
    uint32_t age;
    for (int index = 0; ho_get_block(&ids, 2, &id) && ho_get_u32(&ids, &age); index++) {
        ho_get_block(&binders, 1, &binder);
        if (tls_ticket_open(tls->cfg, tls->now_ms, id.p, id.len, s) != HO_OK)
            continue;
        const ho_tls_suite *ps = ho_tls_suite_by_id(s->suite);
        bool usable = ps != NULL && ps->hash == tls->suite->hash &&
                      strcmp(s->server_name, ch->has_sni ? ch->server_name : "") == 0 &&
                      tls_server_ticket_acceptable(tls, s);
        if (!usable) {
            tls_session_clear(s);
            continue;
        }
        /* binder = HMAC(finished_key(binder_key), Hash(transcript || truncated CH)) */
        uint8_t key[CRYPTO_HASH_MAX], th[CRYPTO_HASH_MAX], want[CRYPTO_HASH_MAX];
        int rc = tls_ks_init(&tls->ks, ps->hash, s->psk, s->psk_len);
        if (rc == HO_OK)
            rc = tls_ks_binder_key(&tls->ks, key);
        crypto_hash_ctx *h = crypto_hash_ctx_dup(tls->transcript);
        if (h == NULL)
            rc = HO_ERR_NOMEM;
        if (rc == HO_OK)
            rc = crypto_hash_ctx_update(h, msg, ch->binders_offset);
        if (rc == HO_OK)
            rc = crypto_hash_ctx_peek(h, th);
        crypto_hash_ctx_free(h);
        if (rc == HO_OK)
            rc = tls_ks_finished(&tls->ks, key, th, want);
        ho_wipe(key, sizeof(key));
        if (rc != HO_OK)
            return rc;
        /* §4.2.11: a binder that does not validate aborts with decrypt_error. */
        if (binder.len != tls->ks.hash_len || !tls_ct_equal(binder.p, want, binder.len))
            return HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR);
        *chosen = index;
        return HO_OK;
    }
    return HO_OK;
}

/* What differs between a ServerHello and a HelloRetryRequest, which is a
 * ServerHello with the special random (§4.1.3, §4.1.4): the random and the
 * extensions after supported_versions. */
struct server_hello {
    const uint8_t *random; /* ho_tls_hrr_random for a HelloRetryRequest */
    uint16_t group;        /* key_share's group; 0: no key_share (psk_ke, §4.2.9) */
    const uint8_t *pub;    /* our share; NULL in an HRR: selected_group only (§4.2.8) */
    size_t pub_len;
    int psk_index;         /* pre_shared_key's selected_identity, or -1 */
    const uint8_t *cookie; /* an HRR's cookie (§4.2.2), or NULL */
    size_t cookie_len;
};

/* The one writer of the ServerHello layout (§4.1.3): legacy_version,
 * random, legacy_session_id_echo, cipher_suite, legacy_compression_method,
 * extensions. */
static hs_status send_server_hello(ho_tls *tls, const struct client_hello *ch, const struct server_hello *sh,
                                   ho_tls_out *out)
{
    ho_buf *b = &out->send[HO_EPOCH_INITIAL];
    size_t t = tls_msg_begin(tls, out, HO_HS_SERVER_HELLO);
    ho_put_u16(b, TLS12_VERSION);
    ho_put_bytes(b, sh->random, 32);
    size_t sid = ho_block_open(b, 1);
    ho_put_bytes(b, ch->session_id.p, ch->session_id.len); /* §4.1.3: echo */
    ho_block_close(b, sid);
    ho_put_u16(b, tls->suite->id);
    ho_put_u8(b, 0);
    size_t exts = ho_block_open(b, 2);
    ho_put_u16(b, EXT_SUPPORTED_VERSIONS); /* §4.2.1: MUST, with TLS 1.3 */
    ho_put_u16(b, 2);
    ho_put_u16(b, TLS13_VERSION);
    if (sh->group != 0) {
        ho_put_u16(b, EXT_KEY_SHARE);
        size_t ks = ho_block_open(b, 2);
        ho_put_u16(b, sh->group);
        if (sh->pub != NULL) {
            size_t kx = ho_block_open(b, 2);
            ho_put_bytes(b, sh->pub, sh->pub_len);
            ho_block_close(b, kx);
        }
        ho_block_close(b, ks);
    }
    if (sh->psk_index >= 0) {
        ho_put_u16(b, EXT_PRE_SHARED_KEY);
        ho_put_u16(b, 2);
        ho_put_u16(b, (uint16_t)sh->psk_index);
    }
    if (sh->cookie != NULL) {
        ho_put_u16(b, EXT_COOKIE);
        size_t ck = ho_block_open(b, 2);
        size_t inner = ho_block_open(b, 2);
        ho_put_bytes(b, sh->cookie, sh->cookie_len);
        ho_block_close(b, inner);
        ho_block_close(b, ck);
    }
    ho_block_close(b, exts);
    return tls_msg_end(tls, out, t);
}

/* RFC 8446 §4.1.2: after a HelloRetryRequest the client MUST send the same
 * ClientHello "without modification", except that it replaces key_share,
 * removes early_data, adds the cookie, updates pre_shared_key and may
 * change padding. The digest covers everything else of the message, the
 * extensions in their order; the two ClientHellos must give the same one.
 * msg is the whole message, already parsed once. */
static int client_hello_digest(const uint8_t *msg, size_t len, uint8_t out[32])
{
    ho_cursor c = ho_cursor_make(msg, len), sid, suites, comp, exts;
    if (!ho_skip(&c, 4 + 2 + 32) || !ho_get_block(&c, 1, &sid) || !ho_get_block(&c, 2, &suites) ||
        !ho_get_block(&c, 1, &comp) || !ho_get_block(&c, 2, &exts))
        return HO_ERR_TLS_ALERT(HO_ALERT_DECODE_ERROR);
    crypto_hash_ctx *h = crypto_hash_ctx_new(HO_HASH_SHA256);
    if (h == NULL)
        return HO_ERR_NOMEM;
    /* legacy_version, random, legacy_session_id, cipher_suites and
     * legacy_compression_methods stay byte for byte (the extensions'
     * length may change with them). */
    int rc = crypto_hash_ctx_update(h, msg + 4, (size_t)(exts.p - msg) - 4 - 2);
    uint16_t type;
    ho_cursor body;
    while (rc == HO_OK && ho_get_u16(&exts, &type) && ho_get_block(&exts, 2, &body)) {
        if (type == EXT_KEY_SHARE || type == EXT_EARLY_DATA || type == EXT_COOKIE || type == EXT_PRE_SHARED_KEY ||
            type == 21 /* padding, RFC 7685 */)
            continue;
        const uint8_t hdr[4] = {(uint8_t)(type >> 8), (uint8_t)type, (uint8_t)(body.len >> 8), (uint8_t)body.len};
        rc = crypto_hash_ctx_update(h, hdr, sizeof(hdr));
        if (rc == HO_OK)
            rc = crypto_hash_ctx_update(h, body.p, body.len);
    }
    if (rc == HO_OK)
        rc = crypto_hash_ctx_peek(h, out);
    crypto_hash_ctx_free(h);
    return rc;
}

static hs_status send_hello_retry(ho_tls *tls, const struct client_hello *ch, uint16_t group, ho_tls_out *out)
{
    if (tls_transcript_hrr_rewrite(tls) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    struct server_hello hrr = {.random = ho_tls_hrr_random, .group = group, .psk_index = -1};
    if (tls->cfg->hrr_cookie) {
        /* We keep the state, so the cookie is a random value the client
         * must echo (§4.2.2); it proves the client saw our HRR. */
        tls->hrr_cookie_len = 32;
        if (ho_random(tls->hrr_cookie, tls->hrr_cookie_len) != HO_OK)
            return tls_fail(tls, HO_ERR_CRYPTO, "cookie");
        hrr.cookie = tls->hrr_cookie;
        hrr.cookie_len = tls->hrr_cookie_len;
    }
    if (send_server_hello(tls, ch, &hrr, out) != HS_OK)
        return HS_ERROR;
    tls->did_hrr = true;
    tls->hrr_group = group;
    tls->hrr_suite = tls->suite->id;
    return HS_ALT; /* wait for the second ClientHello */
}

static struct cert_entry *choose_cert(ho_tls *tls, const struct client_hello *ch, uint16_t *scheme)
{
    for (size_t i = 0; i < tls->cfg->cert_count; i++) {
        struct cert_entry *e = &tls->cfg->certs[i];
        for (size_t j = 0; j < e->scheme_count; j++) {
            if (tls_list_has(ch->sigs, ch->sig_count, e->schemes[j])) {
                *scheme = e->schemes[j];
                return e;
            }
        }
    }
    return NULL;
}

static hs_status send_encrypted_extensions(ho_tls *tls, const struct client_hello *ch, ho_tls_out *out)
{
    ho_buf hooks;
    ho_buf_init(&hooks);
    int rc = tls_ext_run_hooks(tls, HO_HS_CLIENT_HELLO, &ch->ext, &hooks);
    if (rc != HO_OK) {
        ho_buf_free(&hooks);
        return tls_fail(tls, rc, "transport parameters");
    }
    ho_buf *b = &out->send[tls->write_epoch];
    size_t t = tls_msg_begin(tls, out, HO_HS_ENCRYPTED_EXTENSIONS);
    size_t exts = ho_block_open(b, 2);
    if (ch->has_sni && !tls->resumed) {
        /* RFC 6066 §3: an empty server_name acknowledges the name. */
        ho_put_u16(b, EXT_SERVER_NAME);
        ho_put_u16(b, 0);
    }
    if (tls->alpn != NULL) {
        size_t n = strlen(tls->alpn);
        ho_put_u16(b, EXT_ALPN);
        size_t a = ho_block_open(b, 2);
        size_t l = ho_block_open(b, 2);
        ho_put_u8(b, (uint8_t)n);
        ho_put_bytes(b, tls->alpn, n);
        ho_block_close(b, l);
        ho_block_close(b, a);
    }
    if (tls->early == HO_TLS_EARLY_ACCEPTED) {
        /* §4.2.10: an empty early_data in EncryptedExtensions accepts. */
        ho_put_u16(b, EXT_EARLY_DATA);
        ho_put_u16(b, 0);
    }
    ho_put_bytes(b, hooks.data, hooks.len);
    ho_buf_free(&hooks);
    ho_block_close(b, exts);
    return tls_msg_end(tls, out, t);
}

static hs_status send_certificate(ho_tls *tls, ho_tls_out *out)
{
    ho_buf *b = &out->send[tls->write_epoch];
    size_t t = tls_msg_begin(tls, out, HO_HS_CERTIFICATE);
    ho_put_u8(b, 0); /* certificate_request_context: empty for server auth */
    size_t list = ho_block_open(b, 3);
    for (size_t i = 0; i < tls->cert->chain.count; i++) {
        size_t c = ho_block_open(b, 3);
        ho_put_bytes(b, tls->cert->chain.der[i], tls->cert->chain.len[i]);
        ho_block_close(b, c);
        ho_put_u16(b, 0); /* no per-certificate extensions */
    }
    ho_block_close(b, list);
    return tls_msg_end(tls, out, t);
}

static hs_status write_certificate_verify(ho_tls *tls, ho_tls_out *out, const uint8_t *sig, size_t sig_len);

static hs_status send_certificate_verify(ho_tls *tls, ho_tls_out *out)
{
    uint8_t content[64 + 34 + CRYPTO_HASH_MAX], sig[512];
    size_t content_len, sig_len = sizeof(sig);
    if (tls_cv_content(tls, true, content, &content_len) != HO_OK)
        return tls_fail(tls, HO_ERR_INTERNAL, "certificate verify");
    /* The application's signing function may answer later (async.c). */
    int rc = tls_async_sign(tls, content, content_len, sig, &sig_len);
    if (rc == HO_ERR_WANT_ASYNC)
        return HS_PENDING;
    if (rc != HO_OK)
        return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "signing");
    return write_certificate_verify(tls, out, sig, sig_len);
}

static hs_status write_certificate_verify(ho_tls *tls, ho_tls_out *out, const uint8_t *sig, size_t sig_len)
{
    ho_buf *b = &out->send[tls->write_epoch];
    size_t t = tls_msg_begin(tls, out, HO_HS_CERTIFICATE_VERIFY);
    ho_put_u16(b, tls->sig_scheme);
    size_t s = ho_block_open(b, 2);
    ho_put_bytes(b, sig, sig_len);
    ho_block_close(b, s);
    return tls_msg_end(tls, out, t);
}

/* §4.2.10: the early data of a ClientHello offering it is taken only with
 * its first PSK (index 0) accepted; the rest is the anti-replay checks. */
static void early_decide(ho_tls *tls, const struct client_hello *ch, const struct session *s, int psk_index)
{
    ho_cursor ids = ch->psk_identities, binders = ch->psk_binders, id, binder;
    uint32_t age;
    if (psk_index != 0 || !ho_get_block(&ids, 2, &id) || !ho_get_u32(&ids, &age) ||
        !ho_get_block(&binders, 1, &binder)) {
        tls->early = HO_TLS_EARLY_REJECTED;
        tls_event(tls, HO_EV_NOTE, HO_LOG_DEBUG, tls->early, 0, "early data rejected: no PSK for it");
        return;
    }
    tls_early_decide(tls, s, age, id.p, id.len, ch->has_alpn);
}
static hs_status send_flight_end(ho_tls *tls, ho_tls_out *out);

static int call_client_hello_cb(ho_tls *tls, const struct client_hello *ch)
{
    /* A callback that answered later (ho_tls_resume) does not run again
     * when the buffered ClientHello is handled anew. */
    if (tls->cfg->cb.client_hello == NULL || tls->async_ch_done)
        return HO_OK;
    ho_tls_client_hello info = {
        .server_name = ch->has_sni ? ch->server_name : NULL,
        .alpn = ch->has_alpn ? ch->alpn.p : NULL,
        .alpn_len = ch->has_alpn ? ch->alpn.len : 0,
        .suites = ch->suites, .suite_count = ch->suite_count,
        .groups = ch->groups, .group_count = ch->group_count,
        .sig_schemes = ch->sigs, .sig_scheme_count = ch->sig_count,
        .cert_sig_schemes = ch->has_cert_sigs ? ch->cert_sigs : ch->sigs,
        .cert_sig_scheme_count = ch->has_cert_sigs ? ch->cert_sig_count : ch->sig_count,
    };
    tls_async_arm(tls, ASYNC_CLIENT_HELLO);
    int rc = tls->cfg->cb.client_hello(tls->cfg->cb.ctx, tls, &info);
    if (rc == HO_ERR_WANT_ASYNC && tls->async_wake != NULL)
        return rc;
    tls_async_disarm(tls);
    /* Nobody could continue a pending handshake without a wake function. */
    return rc == HO_ERR_WANT_ASYNC ? HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR) : rc;
}

hs_status tls_server_handle_client_hello(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                     ho_tls_out *out)
{
    struct client_hello ch;
    memset(&ch, 0, sizeof(ch));
    bool second = tls->state == ST_S_WAIT_CH2;
    if (!second && !tls->async_ch_done) {
        tls_event(tls, HO_EV_HANDSHAKE_START, HO_LOG_DEBUG, 0, 0, NULL);
        memcpy(tls->client_random, msg + 6, len >= 38 ? 32 : 0);
    }
    int rc = parse_client_hello(tls, body, msg, &ch);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "client hello");
    if (!second && ch.session_id.len > 0) {
        /* RFC 9001 §8.4: QUIC has no middlebox compatibility mode; a
         * non-empty legacy_session_id SHOULD be a PROTOCOL_VIOLATION. */
        /* (A client without transport parameters is no QUIC client: it
         * gets missing_extension from the transport hook, RFC 9001 §8.2.) */
        if (tls_is_quic(tls) && (ch.ext.present & tls_ext_bit(tls, TLS_EXT_QUIC_TRANSPORT_PARAMETERS)))
            return tls_fail(tls, HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION), "legacy_session_id over QUIC");
        /* App. D.4: the client asked for compatibility mode; the record
         * layer sends a change_cipher_spec right after our first
         * ServerHello or HelloRetryRequest. */
        tls->compat_ccs = true;
    }
    if (!second) {
        tls->early_offered = ch.has_early;
        /* Refused unless early_decide accepts it below (a HelloRetryRequest
         * never gets there: §4.2.10). */
        if (ch.has_early)
            tls->early = HO_TLS_EARLY_REJECTED;
    }
    if (!second && (rc = call_client_hello_cb(tls, &ch)) != HO_OK)
        return rc == HO_ERR_WANT_ASYNC ? HS_PENDING : tls_fail(tls, rc, "client hello callback");
    if (!second && ch.has_sni && (tls->server_name = ho_mem_strdup(ch.server_name)) == NULL)
        return tls_fail(tls, HO_ERR_NOMEM, "server name");

    /* Cipher suite: ours first (§4.1.1). After HRR it must stay (§4.1.4). */
    if (second) {
        /* §4.1.2: the same ClientHello again, but for what may change. */
        uint8_t digest[32];
        if ((rc = client_hello_digest(msg, len, digest)) != HO_OK)
            return tls_fail(tls, rc, "client hello digest");
        if (!tls_ct_equal(digest, tls->hrr_ch_digest, sizeof(digest)))
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "second ClientHello differs from the first");
        if (!tls_list_has(ch.suites, ch.suite_count, tls->hrr_suite))
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "suite changed after HRR");
        /* §4.2.2: a cookie we sent must come back unchanged. */
        if (tls->hrr_cookie_len && (!ch.has_cookie || ch.cookie.len != tls->hrr_cookie_len ||
                                !tls_ct_equal(ch.cookie.p, tls->hrr_cookie, tls->hrr_cookie_len)))
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "cookie");
    } else {
        for (size_t i = 0; i < tls->cfg->suite_count && tls->suite == NULL; i++)
            if (tls_list_has(ch.suites, ch.suite_count, tls->cfg->suites[i]))
                tls->suite = ho_tls_suite_by_id(tls->cfg->suites[i]);
        if (tls->suite == NULL) /* §2.1, §4.1.1: nothing in common → abort */
            return tls_alert(tls, HO_ALERT_HANDSHAKE_FAILURE, "no common cipher suite");
        if (tls_transcript_start(tls, tls->suite->hash) != HO_OK)
            return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    }
    if ((rc = choose_alpn(tls, &ch)) != HO_OK)
        return tls_fail(tls, rc, "alpn");

    /* psk_ke (opt-in, §4.2.9): a resumption without (EC)DHE needs no key
     * share, hence no group and no HelloRetryRequest. */
    struct session s;
    memset(&s, 0, sizeof(s));
    int psk_index = -1;
    bool psk_ke = false;
    if (!second && tls->cfg->psk_ke && ch.psk_ke) {
        if ((rc = choose_psk(tls, &ch, msg, &s, &psk_index, true)) != HO_OK) {
            tls_session_clear(&s);
            return tls_fail(tls, rc, "psk binder");
        }
        psk_ke = psk_index >= 0;
    }

    /* Group: a key share for one of ours, else ask for one (HRR). */
    const struct key_share_entry *share = NULL;
    for (size_t i = 0; i < tls->cfg->group_count && share == NULL; i++)
        for (size_t j = 0; j < ch.share_count; j++)
            if (ch.shares[j].group == tls->cfg->groups[i] && crypto_kex_group_supported(ch.shares[j].group))
                share = &ch.shares[j];
    if (psk_ke)
        share = NULL;
    else if (second && (share == NULL || share->group != tls->hrr_group || ch.share_count != 1))
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "key share does not follow HRR"); /* §4.1.2 */
    if (!psk_ke && !ch.has_key_share)
        return tls_alert(tls, HO_ALERT_MISSING_EXTENSION, "key_share (psk_ke not offered or not enabled)");
    if (!psk_ke && share == NULL) {
        for (size_t i = 0; i < tls->cfg->group_count; i++)
            if (tls_list_has(ch.groups, ch.group_count, tls->cfg->groups[i])) {
                if (tls_transcript_add(tls, msg, len) != HO_OK)
                    return tls_fail(tls, HO_ERR_NOMEM, "transcript");
                if ((rc = client_hello_digest(msg, len, tls->hrr_ch_digest)) != HO_OK)
                    return tls_fail(tls, rc, "client hello digest");
                return send_hello_retry(tls, &ch, tls->cfg->groups[i], out);
            }
        return tls_alert(tls, HO_ALERT_HANDSHAKE_FAILURE, "no common group");
    }
    tls->group = psk_ke ? 0 : share->group;

    if (!psk_ke && (rc = choose_psk(tls, &ch, msg, &s, &psk_index, false)) != HO_OK) {
        tls_session_clear(&s);
        return tls_fail(tls, rc, "psk binder");
    }
    tls->resumed = psk_index >= 0;
    /* §4.2.10: early data only with the first PSK, never after an HRR
     * (the first ClientHello's early data was skipped). */
    if (!second && ch.has_early)
        early_decide(tls, &ch, &s, psk_index);
    if (!tls->resumed) {
        if ((tls->cert = choose_cert(tls, &ch, &tls->sig_scheme)) == NULL)
            return tls_alert(tls, HO_ALERT_HANDSHAKE_FAILURE, "no certificate for the client's signature algorithms");
        rc = tls_ks_init(&tls->ks, tls->suite->hash, NULL, 0);
    } /* else: choose_psk initialised the key schedule with the PSK */
    else if (tls_server_resume_subject(tls, &s) != HO_OK)
        rc = HO_ERR_NOMEM;
    tls_session_clear(&s);
    if (tls_transcript_add(tls, msg, len) != HO_OK || rc != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "key schedule");
    /* §7.1: client_early_traffic_secret over the ClientHello, from the
     * early secret (before the handshake stage replaces it). */
    uint8_t th_ch[CRYPTO_HASH_MAX];
    if (tls->early == HO_TLS_EARLY_ACCEPTED &&
        (tls_transcript_hash(tls, th_ch) != HO_OK || tls_ks_early(&tls->ks, th_ch) != HO_OK))
        return tls_fail(tls, HO_ERR_CRYPTO, "early secret");

    /* (EC)DHE: our share and the shared secret (none with psk_ke). */
    uint8_t pub[CRYPTO_KEX_PUB_MAX], dhe[CRYPTO_KEX_SECRET_MAX], th[CRYPTO_HASH_MAX];
    size_t pub_len = 0, dhe_len = sizeof(dhe);
    if (!psk_ke) {
        pub_len = sizeof(pub);
        /* For X25519MLKEM768 our share is an encapsulation to the client's. */
        rc = crypto_kex_respond(tls->group, share->key.p, share->key.len, pub, &pub_len, dhe, &dhe_len);
        if (rc == HO_ERR_BAD_PEER_KEY) /* RFC 8446 §4.2.8, draft-ietf-tls-ecdhe-mlkem §4.1 */
            return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "client key share");
        if (rc != HO_OK)
            return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "key exchange");
    }

    uint8_t random[32];
    if (ho_random(random, sizeof(random)) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "random");
    /* §4.2.9: psk_ke sends no key_share. */
    struct server_hello sh = {.random = random, .group = tls->group, .pub = psk_ke ? NULL : pub, .pub_len = pub_len,
                              .psk_index = psk_index};
    if (send_server_hello(tls, &ch, &sh, out) != HS_OK)
        return HS_ERROR;
    rc = tls_transcript_hash(tls, th);
    if (rc == HO_OK) /* §7.1: with psk_ke the (EC)DHE input is the zero string */
        rc = tls_ks_handshake(&tls->ks, psk_ke ? NULL : dhe, dhe_len, th);
    ho_wipe(dhe, sizeof(dhe));
    if (rc != HO_OK)
        return tls_fail(tls, rc, "handshake secret");
    /* §4.2.10: with early data accepted, the client's records are read
     * with the early key until its EndOfEarlyData (early.c); §4.2.11.3:
     * our flight goes now, without waiting for that EndOfEarlyData. */
    if (tls_install_secret(tls, true, HO_EPOCH_HANDSHAKE, tls->ks.server_hs) != HS_OK ||
        (tls->early == HO_TLS_EARLY_ACCEPTED ? tls_early_install(tls, false, tls->suite)
                                             : tls_install_secret(tls, false, HO_EPOCH_HANDSHAKE, tls->ks.client_hs)) !=
            HS_OK)
        return HS_ERROR;
    /* RFC 9001 §8.3: no EndOfEarlyData over QUIC: the client's handshake
     * key follows the early one at once (0-RTT is the transport's). */
    if (tls->early == HO_TLS_EARLY_ACCEPTED && tls_is_quic(tls) &&
        tls_install_secret(tls, false, HO_EPOCH_HANDSHAKE, tls->ks.client_hs) != HS_OK)
        return HS_ERROR;

    /* §4.3.1: EncryptedExtensions immediately after the ServerHello. */
    if (send_encrypted_extensions(tls, &ch, out) != HS_OK)
        return HS_ERROR;
    /* §4.3.2: CertificateRequest follows EncryptedExtensions, never in a
     * resumption (client_auth.c). */
    if (!tls->resumed && tls_server_wants_client_cert(tls) && tls_server_send_certificate_request(tls, out) != HS_OK)
        return HS_ERROR;
    if (!tls->resumed) {
        if (send_certificate(tls, out) != HS_OK)
            return HS_ERROR;
        hs_status st = send_certificate_verify(tls, out);
        if (st != HS_OK)
            return st; /* HS_PENDING: tls_server_resume_sign goes on */
    }
    return send_flight_end(tls, out);
}

/* A signature that came back later (async.c): CertificateVerify, then the
 * rest of the flight. */
hs_status tls_server_resume_sign(ho_tls *tls, ho_tls_out *out, const uint8_t *sig, size_t sig_len)
{
    if (write_certificate_verify(tls, out, sig, sig_len) != HS_OK)
        return HS_ERROR;
    return send_flight_end(tls, out);
}

/* The server's flight after CertificateVerify: Finished, the master
 * secret, our application write key. */
static hs_status send_flight_end(ho_tls *tls, ho_tls_out *out)
{
    uint8_t th[CRYPTO_HASH_MAX];
    if (tls_send_finished(tls, out, tls->ks.server_hs) != HS_OK)
        return HS_ERROR;
    if (tls_transcript_hash(tls, th) != HO_OK || tls_ks_master(&tls->ks, th) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "master secret");
    tls_keylog(tls, "EXPORTER_SECRET", tls->ks.exporter);
    /* The server may send application data once its Finished is out. */
    if (tls_install_secret(tls, true, HO_EPOCH_APP, tls->ks.server_ap) != HS_OK)
        return HS_ERROR;
    return HS_OK;
}

static hs_status send_tickets(ho_tls *tls, ho_tls_out *out)
{
    ho_buf *b = &out->send[tls->write_epoch];
    for (unsigned i = 0; i < tls->cfg->ticket_count; i++) {
        struct session s;
        memset(&s, 0, sizeof(s));
        uint8_t nonce[8] = {0, 0, 0, 0, 0, 0, 0, (uint8_t)i};
        s.suite = tls->suite->id;
        s.psk_len = tls->ks.hash_len;
        s.lifetime_s = tls->cfg->ticket_lifetime_s;
        s.issued_ms = tls->now_ms;
        snprintf(s.alpn, sizeof(s.alpn), "%s", tls->alpn ? tls->alpn : "");
        snprintf(s.server_name, sizeof(s.server_name), "%s", tls->server_name ? tls->server_name : "");
        /* The verified client identity travels in the ticket (docs/ENGINE.md);
         * a subject too long for it leaves the ticket without one. */
        if (tls->peer_subject != NULL && strlen(tls->peer_subject) < sizeof(s.client_subject))
            memcpy(s.client_subject, tls->peer_subject, strlen(tls->peer_subject) + 1);
        /* RFC 9001 §4.6.1: over QUIC max_early_data_size is 0xffffffff
         * (the transport limits 0-RTT); §4.6.2: with our context. */
        if (tls->cfg->early_max > 0) {
            s.max_early = tls_is_quic(tls) ? TLS_QUIC_EARLY_MAX : tls->cfg->early_max;
            memcpy(s.early_ctx, tls->early_ctx, tls->early_ctx_len);
            s.early_ctx_len = tls->early_ctx_len;
        }
        ho_buf ticket;
        ho_buf_init(&ticket);
        int rc = ho_random(&s.age_add, sizeof(s.age_add));
        if (rc == HO_OK)
            rc = tls_ks_ticket_psk(&tls->ks, nonce, sizeof(nonce), s.psk);
        if (rc == HO_OK)
            rc = tls_ticket_seal(tls->cfg, tls->now_ms, &s, &ticket);
        if (rc == HO_OK) {
            /* §4.6.1 NewSessionTicket */
            size_t start = b->len;
            size_t t = tls_msg_begin(tls, out, HO_HS_NEW_SESSION_TICKET);
            ho_put_u32(b, s.lifetime_s);
            ho_put_u32(b, s.age_add);
            ho_put_u8(b, sizeof(nonce));
            ho_put_bytes(b, nonce, sizeof(nonce));
            size_t tk = ho_block_open(b, 2);
            ho_put_bytes(b, ticket.data, ticket.len);
            ho_block_close(b, tk);
            size_t exts = ho_block_open(b, 2);
            if (s.max_early > 0) {
                /* §4.2.10: early_data with max_early_data_size. */
                ho_put_u16(b, EXT_EARLY_DATA);
                ho_put_u16(b, 4);
                ho_put_u32(b, s.max_early);
            }
            ho_block_close(b, exts);
            ho_block_close(b, t);
            if (b->failed)
                rc = HO_ERR_NOMEM;
            else
                tls_event(tls, HO_EV_MSG_SENT, HO_LOG_DEBUG, HO_HS_NEW_SESSION_TICKET, (int64_t)(b->len - start),
                          "NewSessionTicket");
        }
        ho_buf_free(&ticket);
        tls_session_clear(&s);
        if (rc != HO_OK)
            return tls_fail(tls, rc, "ticket");
    }
    return HS_OK;
}

hs_status tls_server_handle_finished(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out)
{
    if (tls_server_check_client_flight(tls) != HS_OK)
        return HS_ERROR;
    if (tls_check_finished(tls, body, tls->ks.client_hs) != HS_OK)
        return HS_ERROR;
    uint8_t th[CRYPTO_HASH_MAX];
    if (tls_transcript_add(tls, msg, len) != HO_OK || tls_transcript_hash(tls, th) != HO_OK ||
        tls_ks_resumption(&tls->ks, th) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "resumption secret");
    if (tls_install_secret(tls, false, HO_EPOCH_APP, tls->ks.client_ap) != HS_OK)
        return HS_ERROR;
    tls_done(tls);
    return send_tickets(tls, out);
}
