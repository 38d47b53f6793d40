/* Client certificates (mutual TLS, RFC 8446 §4.3.2, §4.4.2, §4.4.3): the
 * server's CertificateRequest and its checks of the client's Certificate
 * and CertificateVerify; the client's answer to a CertificateRequest; the
 * configuration and the peer's verified subject. */
#include "base/mem.h"
#include "tls_int.h"

#include <stdio.h>
#include <string.h>

/* ---- configuration --------------------------------------------------- */

void tls_client_auth_free(ho_tls_config *cfg)
{
    ho_trust_store_free(cfg->client_ca);
    ho_mem_free(cfg->client_ca_names);
    cfg->client_ca = NULL;
    cfg->client_ca_names = NULL;
    cfg->client_ca_names_len = 0;
}

int ho_tls_config_set_client_auth(ho_tls_config *cfg, ho_tls_client_auth mode, const char *ca_pem)
{
    if (cfg == NULL || !cfg->is_server || (unsigned)mode > HO_TLS_CLIENT_AUTH_REQUIRED)
        return HO_ERR_INVALID_ARG;
    if (mode == HO_TLS_CLIENT_AUTH_NONE) {
        tls_client_auth_free(cfg);
        cfg->client_auth = mode;
        return HO_OK;
    }
    if (ca_pem == NULL)
        return HO_ERR_INVALID_ARG;
    ho_cert_chain cas = {0};
    int rc = ho_cert_chain_load_file(&cas, ca_pem);
    if (rc != HO_OK)
        return rc;
    ho_trust_store *ts = ho_trust_store_new();
    ho_buf names;
    ho_buf_init(&names);
    if (ts == NULL)
        rc = HO_ERR_NOMEM;
    /* §4.2.4: certificate_authorities lists the DER subjects of the CAs
     * we accept, each a DistinguishedName<1..2^16-1>. */
    for (size_t i = 0; rc == HO_OK && i < cas.count; i++) {
        rc = ho_trust_store_add_der(ts, cas.der[i], cas.len[i]);
        size_t b = ho_block_open(&names, 2);
        if (rc == HO_OK)
            rc = crypto_cert_subject_der(cas.der[i], cas.len[i], &names);
        ho_block_close(&names, b);
    }
    if (rc == HO_OK && (names.failed || names.len == 0))
        rc = HO_ERR_NOMEM;
    ho_cert_chain_free(&cas);
    if (rc != HO_OK) {
        ho_trust_store_free(ts);
        ho_buf_free(&names);
        return rc;
    }
    tls_client_auth_free(cfg);
    cfg->client_auth = mode;
    cfg->client_ca = ts;
    /* The extension must fit in 2^16-1 bytes with its own length fields;
     * a larger CA file is still trusted, but its names are not sent. */
    if (names.len <= 0xfff0) {
        cfg->client_ca_names = names.data;
        cfg->client_ca_names_len = names.len;
    } else {
        ho_buf_free(&names);
    }
    return HO_OK;
}

ho_tls_client_auth ho_tls_config_get_client_auth(const ho_tls_config *cfg) { return cfg->client_auth; }

/* ---- both roles ------------------------------------------------------ */

int tls_set_peer_subject(ho_tls *tls)
{
    if (tls->peer_chain.count == 0)
        return HO_OK;
    char buf[1024];
    int rc = tls->peer_leaf != NULL ? crypto_cert_subject(tls->peer_leaf, buf, sizeof(buf))
                                    : ho_cert_subject(tls->peer_chain.der[0], tls->peer_chain.len[0], buf, sizeof(buf));
    if (rc != HO_OK)
        return HO_OK; /* verified by X509_verify_cert, so it parses; nothing to name otherwise */
    char *s = ho_mem_strdup(buf);
    if (s == NULL)
        return HO_ERR_NOMEM;
    ho_mem_free(tls->peer_subject);
    tls->peer_subject = s;
    return HO_OK;
}

const char *ho_tls_get_peer_subject(const ho_tls *tls) { return tls->peer_subject; }
int ho_tls_client_cert_status(const ho_tls *tls) { return tls->client_cert_status; }

/* ---- server ---------------------------------------------------------- */

bool tls_server_wants_client_cert(const ho_tls *tls)
{
    return tls->cfg->client_auth != HO_TLS_CLIENT_AUTH_NONE && tls->cfg->client_ca != NULL;
}

bool tls_server_ticket_acceptable(const ho_tls *tls, const struct session *s)
{
    /* A server that requires a certificate resumes only a session whose
     * client proved one; others do a full handshake and ask again. */
    return tls->cfg->client_auth != HO_TLS_CLIENT_AUTH_REQUIRED || s->client_subject[0] != '\0';
}

int tls_server_resume_subject(ho_tls *tls, const struct session *s)
{
    if (tls->cfg->client_auth == HO_TLS_CLIENT_AUTH_NONE || s->client_subject[0] == '\0')
        return HO_OK;
    char *subj = ho_mem_strdup(s->client_subject);
    if (subj == NULL)
        return HO_ERR_NOMEM;
    ho_mem_free(tls->peer_subject);
    tls->peer_subject = subj;
    tls->client_cert_status = 1;
    return HO_OK;
}

static void put_u16_list_ext(ho_buf *b, uint16_t type, const uint16_t *v, size_t n)
{
    ho_put_u16(b, type);
    size_t e = ho_block_open(b, 2), l = ho_block_open(b, 2);
    for (size_t i = 0; i < n; i++)
        ho_put_u16(b, v[i]);
    ho_block_close(b, l);
    ho_block_close(b, e);
}

hs_status tls_server_send_certificate_request(ho_tls *tls, ho_tls_out *out)
{
    ho_buf *b = &out->send[tls->write_epoch];
    size_t t = tls_msg_begin(tls, out, HO_HS_CERTIFICATE_REQUEST);
    /* §4.3.2: the context is empty unless post-handshake. */
    ho_put_u8(b, 0);
    size_t exts = ho_block_open(b, 2);
    /* §4.3.2: signature_algorithms MUST be specified. */
    put_u16_list_ext(b, EXT_SIGNATURE_ALGORITHMS, tls_verify_schemes, tls_verify_scheme_count);
    put_u16_list_ext(b, EXT_SIGNATURE_ALGORITHMS_CERT, tls_cert_schemes, tls_cert_scheme_count);
    if (tls->cfg->client_ca_names_len > 0) {
        ho_put_u16(b, EXT_CERTIFICATE_AUTHORITIES);
        size_t e = ho_block_open(b, 2), l = ho_block_open(b, 2);
        ho_put_bytes(b, tls->cfg->client_ca_names, tls->cfg->client_ca_names_len);
        ho_block_close(b, l);
        ho_block_close(b, e);
    }
    ho_block_close(b, exts);
    tls->cert_requested = true;
    return tls_msg_end(tls, out, t);
}

static hs_status refuse(ho_tls *tls, uint8_t alert, const char *why)
{
    tls->client_cert_status = -1;
    return tls_alert(tls, alert, why);
}

static uint8_t chain_error_alert(int rc)
{
    switch (rc) {
    case HO_ERR_CERT_UNTRUSTED: return HO_ALERT_UNKNOWN_CA;
    case HO_ERR_CERT_EXPIRED: return HO_ALERT_CERTIFICATE_EXPIRED;
    case HO_ERR_CERT_BAD: return HO_ALERT_BAD_CERTIFICATE;
    }
    return HO_ALERT_CERTIFICATE_UNKNOWN;
}

hs_status tls_server_handle_certificate(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                        ho_tls_out *out)
{
    (void)out;
    /* §4.4.2: a client sends Certificate only when asked, once. */
    if (!tls->cert_requested || tls->client_cert_seen)
        return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "Certificate not requested");
    tls->client_cert_seen = true;
    ho_cursor ctx, list, cert, exts;
    if (!ho_get_block(body, 1, &ctx) || !ho_get_block(body, 3, &list) || !ho_cursor_empty(body))
        return refuse(tls, HO_ALERT_DECODE_ERROR, "client certificate");
    /* §4.4.2: the context of our (empty) CertificateRequest comes back. */
    if (ctx.len != 0)
        return refuse(tls, HO_ALERT_ILLEGAL_PARAMETER, "client certificate context");
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    if (list.len == 0) {
        /* §4.4.2.4: no certificate; a server that requires one MAY abort
         * with certificate_required, else it goes on without a peer. */
        if (tls->cfg->client_auth == HO_TLS_CLIENT_AUTH_REQUIRED)
            return refuse(tls, HO_ALERT_CERTIFICATE_REQUIRED, "no client certificate");
        return HS_ALT;
    }
    while (!ho_cursor_empty(&list)) {
        struct ext_seen seen;
        if (!ho_get_block(&list, 3, &cert) || cert.len == 0 || !ho_get_block(&list, 2, &exts))
            return refuse(tls, HO_ALERT_DECODE_ERROR, "client certificate entry");
        /* §4.4.2: entry extensions answer our request's, and it had none
         * of those (status_request, signed_certificate_timestamp). */
        int rc = tls_ext_parse(tls, exts, MSG_CT, &seen);
        if (rc != HO_OK) {
            tls->client_cert_status = -1;
            return tls_fail(tls, rc, "client certificate extensions");
        }
        if (ho_cert_chain_add_der(&tls->peer_chain, cert.p, cert.len) != HO_OK)
            return tls_fail(tls, HO_ERR_NOMEM, "client certificate");
    }
    /* §4.4.2.4: a chain we cannot verify aborts with an alert naming why:
     * unparsable bad_certificate, not to our CA unknown_ca, outside its
     * validity certificate_expired. */
    int rc = ho_cert_chain_verify(tls->cfg->client_ca, &tls->peer_chain, NULL, tls->now_ms / 1000);
    if (rc == HO_ERR_NOMEM)
        return tls_fail(tls, rc, "client certificate");
    if (rc != HO_OK)
        return refuse(tls, chain_error_alert(rc), ho_err_str(rc));
    return HS_OK;
}

hs_status tls_server_handle_certificate_verify(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                               ho_tls_out *out)
{
    (void)out;
    uint16_t scheme;
    ho_cursor sig;
    if (!ho_get_u16(body, &scheme) || !ho_get_block(body, 2, &sig) || !ho_cursor_empty(body))
        return refuse(tls, HO_ALERT_DECODE_ERROR, "client certificate verify");
    /* §4.4.3: the scheme must be one our CertificateRequest listed. */
    if (!tls_list_has(tls_verify_schemes, tls_verify_scheme_count, scheme))
        return refuse(tls, HO_ALERT_ILLEGAL_PARAMETER, "client signature scheme");
    /* §4.4.3: the client signs the context string "TLS 1.3, client
     * CertificateVerify" and the transcript up to its Certificate. */
    uint8_t content[64 + 34 + CRYPTO_HASH_MAX];
    size_t content_len;
    int rc = tls_cv_content(tls, false, content, &content_len);
    if (rc == HO_OK)
        rc = ho_cert_verify_signature(tls->peer_chain.der[0], tls->peer_chain.len[0], scheme, content, content_len,
                                      sig.p, sig.len);
    /* §4.4.3: a signature that does not verify is decrypt_error. */
    if (rc == HO_ERR_BAD_SIGNATURE)
        return refuse(tls, HO_ALERT_DECRYPT_ERROR, "client signature");
    if (rc != HO_OK)
        return refuse(tls, HO_ALERT_ILLEGAL_PARAMETER, "client signature scheme does not fit the key");
    if (tls_transcript_add(tls, msg, len) != HO_OK || tls_set_peer_subject(tls) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "client certificate verify");
    tls->client_cert_status = 1;
    /* Only the subject is kept: a connection does not carry the client's
     * chain for its lifetime (docs/RELIABILITY.md, memory per connection). */
    ho_cert_chain_free(&tls->peer_chain);
    return HS_OK;
}

hs_status tls_server_check_client_flight(ho_tls *tls)
{
    /* §4.4.2: after a CertificateRequest the client MUST send Certificate
     * (empty if it has none) before its Finished. */
    if (tls->cert_requested && !tls->client_cert_seen)
        return refuse(tls, HO_ALERT_UNEXPECTED_MESSAGE, "Finished without the requested Certificate");
    return HS_OK;
}

/* ---- client ---------------------------------------------------------- */

static bool scheme_known(uint16_t v)
{
    return tls_list_has(tls_verify_schemes, tls_verify_scheme_count, v);
}

int tls_client_note_request_schemes(ho_tls *tls, ho_cursor sigs)
{
    ho_cursor list;
    if (!ho_get_block(&sigs, 2, &list) || list.len == 0 || list.len % 2 != 0 || !ho_cursor_empty(&sigs))
        return HO_ERR_TLS_ALERT(HO_ALERT_DECODE_ERROR);
    struct tls_client *c = tls->client;
    c->request_sig_count = 0;
    uint16_t v;
    while (ho_get_u16(&list, &v))
        if (scheme_known(v) && c->request_sig_count < MAX_LIST && !tls_list_has(c->request_sigs, c->request_sig_count, v))
            c->request_sigs[c->request_sig_count++] = v;
    return HO_OK;
}

static struct cert_entry *choose_client_cert(ho_tls *tls, uint16_t *scheme)
{
    const struct tls_client *c = tls->client;
    for (size_t i = 0; i < tls->cfg->cert_count; i++) {
        struct cert_entry *e = &tls->cfg->certs[i];
        for (size_t j = 0; j < e->scheme_count; j++)
            if (tls_list_has(c->request_sigs, c->request_sig_count, e->schemes[j])) {
                *scheme = e->schemes[j];
                return e;
            }
    }
    return NULL;
}

hs_status tls_client_send_client_auth(ho_tls *tls, ho_tls_out *out)
{
    uint16_t scheme = 0;
    /* §4.4.2.3: a certificate whose key signs with a scheme the server
     * listed, else an empty Certificate. */
    struct cert_entry *e = choose_client_cert(tls, &scheme);
    ho_buf *b = &out->send[tls->write_epoch];
    size_t t = tls_msg_begin(tls, out, HO_HS_CERTIFICATE);
    ho_put_u8(b, (uint8_t)tls->client->cert_request_context_len);
    ho_put_bytes(b, tls->client->cert_request_context, tls->client->cert_request_context_len);
    size_t list = ho_block_open(b, 3);
    for (size_t i = 0; e != NULL && i < e->chain.count; i++) {
        size_t c = ho_block_open(b, 3);
        ho_put_bytes(b, e->chain.der[i], e->chain.len[i]);
        ho_block_close(b, c);
        ho_put_u16(b, 0); /* no per-certificate extensions */
    }
    ho_block_close(b, list);
    if (tls_msg_end(tls, out, t) != HS_OK)
        return HS_ERROR;
    if (e == NULL) {
        tls_event(tls, HO_EV_NOTE, HO_LOG_DEBUG, 0, 0, "client certificate requested: none to send");
        return HS_OK;
    }
    /* §4.4.3: CertificateVerify over the transcript through Certificate. */
    uint8_t content[64 + 34 + CRYPTO_HASH_MAX], sig[512];
    size_t content_len, sig_len = sizeof(sig);
    if (tls_cv_content(tls, false, content, &content_len) != HO_OK)
        return tls_fail(tls, HO_ERR_INTERNAL, "client certificate verify");
    if (ho_privkey_sign(e->key, scheme, content, content_len, sig, &sig_len) != HO_OK)
        return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "client signing");
    t = tls_msg_begin(tls, out, HO_HS_CERTIFICATE_VERIFY);
    ho_put_u16(b, scheme);
    size_t s = ho_block_open(b, 2);
    ho_put_bytes(b, sig, sig_len);
    ho_block_close(b, s);
    return tls_msg_end(tls, out, t);
}
