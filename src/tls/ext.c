/* Extension blocks: one permission table says which handshake messages may
 * carry each extension (RFC 8446 §4.2); one parser enforces it. */
#include "tls_int.h"

struct ext_rule {
    uint16_t type;
    unsigned allowed; /* MSG_* bits */
};

/* RFC 8446 §4.2, the table of extensions and the messages they appear in. */
static const struct ext_rule ext_rules[EXT_SLOTS] = {
    {EXT_SERVER_NAME, MSG_CH | MSG_EE},
    {1 /* max_fragment_length */, MSG_CH | MSG_EE},
    {5 /* status_request */, MSG_CH | MSG_CR | MSG_CT},
    {EXT_SUPPORTED_GROUPS, MSG_CH | MSG_EE},
    {EXT_SIGNATURE_ALGORITHMS, MSG_CH | MSG_CR},
    {14 /* use_srtp */, MSG_CH | MSG_EE},
    {15 /* heartbeat */, MSG_CH | MSG_EE},
    {EXT_ALPN, MSG_CH | MSG_EE},
    {18 /* signed_certificate_timestamp */, MSG_CH | MSG_CR | MSG_CT},
    {19 /* client_certificate_type */, MSG_CH | MSG_EE},
    {20 /* server_certificate_type */, MSG_CH | MSG_EE},
    {21 /* padding */, MSG_CH},
    {EXT_PRE_SHARED_KEY, MSG_CH | MSG_SH},
    {EXT_EARLY_DATA, MSG_CH | MSG_EE | MSG_NST},
    {EXT_SUPPORTED_VERSIONS, MSG_CH | MSG_SH | MSG_HRR},
    {EXT_COOKIE, MSG_CH | MSG_HRR},
    {EXT_PSK_KEY_EXCHANGE_MODES, MSG_CH},
    {EXT_CERTIFICATE_AUTHORITIES, MSG_CH | MSG_CR},
    {48 /* oid_filters */, MSG_CR},
    {49 /* post_handshake_auth */, MSG_CH},
    {EXT_SIGNATURE_ALGORITHMS_CERT, MSG_CH | MSG_CR},
    {EXT_KEY_SHARE, MSG_CH | MSG_SH | MSG_HRR},
};

static int slot_of(const ho_tls *tls, uint16_t type)
{
    for (int i = 0; i < EXT_SLOTS; i++)
        if (ext_rules[i].allowed != 0 && ext_rules[i].type == type)
            return i;
    for (size_t i = 0; i < tls->cfg->hook_count; i++)
        if (tls->cfg->hooks[i].type == type)
            return EXT_SLOTS + (int)i;
    return -1;
}

int tls_ext_parse(ho_tls *tls, ho_cursor block, unsigned msg_bit, struct ext_seen *seen)
{
    seen->present = 0;
    while (!ho_cursor_empty(&block)) {
        uint16_t type;
        ho_cursor body;
        if (!ho_get_u16(&block, &type) || !ho_get_block(&block, 2, &body))
            return HO_ERR_TLS_ALERT(HO_ALERT_DECODE_ERROR);
        int slot = slot_of(tls, type);
        if (slot < 0) {
            /* Unknown extensions are ignored in requests (§4.1.2, §4.3.2,
             * §4.6.1); in a response they answer nothing we sent (§4.2). */
            if (msg_bit & (MSG_CH | MSG_CR | MSG_NST))
                continue;
            return HO_ERR_TLS_ALERT(HO_ALERT_UNSUPPORTED_EXTENSION);
        }
        /* §4.2: "There MUST NOT be more than one extension of the same type". */
        if (seen->present & (1u << slot))
            return HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER);
        if (slot < EXT_SLOTS) {
            /* §4.2: a recognised extension in a message not specified for it
             * is illegal_parameter. */
            if (!(ext_rules[slot].allowed & msg_bit))
                return HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER);
        }
        /* §4.2: responses may only carry what the client offered (cookie in
         * HelloRetryRequest being the exception). */
        if ((msg_bit & (MSG_SH | MSG_HRR | MSG_EE | MSG_CT)) && !(tls->ext_offered & (1u << slot)) &&
            !(msg_bit == MSG_HRR && type == EXT_COOKIE))
            return HO_ERR_TLS_ALERT(HO_ALERT_UNSUPPORTED_EXTENSION);
        seen->present |= 1u << slot;
        seen->body[slot] = body;
        /* §4.2.11: pre_shared_key MUST be the last extension in a ClientHello. */
        if (msg_bit == MSG_CH && type == EXT_PRE_SHARED_KEY && !ho_cursor_empty(&block))
            return HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER);
    }
    return HO_OK;
}

bool tls_ext_get(const struct ext_seen *seen, uint16_t type, ho_cursor *body)
{
    for (int i = 0; i < EXT_SLOTS; i++) {
        if (ext_rules[i].allowed != 0 && ext_rules[i].type == type) {
            if (!(seen->present & (1u << i)))
                return false;
            *body = seen->body[i];
            return true;
        }
    }
    return false;
}

/* Slot bit of a known extension type, for tls->ext_offered. */
uint32_t tls_ext_bit(const ho_tls *tls, uint16_t type)
{
    int slot = slot_of(tls, type);
    return slot < 0 ? 0 : 1u << slot;
}

int tls_ext_run_hooks(ho_tls *tls, uint8_t msg_type, const struct ext_seen *seen, ho_buf *exts)
{
    for (size_t i = 0; i < tls->cfg->hook_count; i++) {
        const struct ext_hook *h = &tls->cfg->hooks[i];
        const uint8_t *peer = NULL;
        size_t peer_len = 0;
        unsigned slot = EXT_SLOTS + (unsigned)i;
        if (seen != NULL && (seen->present & (1u << slot))) {
            peer = seen->body[slot].p;
            peer_len = seen->body[slot].len;
            if (peer == NULL)
                peer = (const uint8_t *)""; /* present but empty */
        }
        ho_buf body;
        ho_buf_init(&body);
        int rc = h->fn(h->ctx, tls, msg_type, peer, peer_len, exts != NULL ? &body : NULL);
        if (rc == HO_OK && exts != NULL) {
            if (body.failed) {
                rc = HO_ERR_NOMEM;
            } else {
                ho_put_u16(exts, h->type);
                size_t t = ho_block_open(exts, 2);
                ho_put_bytes(exts, body.data, body.len);
                ho_block_close(exts, t);
                if (!tls->is_server)
                    tls->ext_offered |= 1u << slot;
            }
        } else if (rc == HO_TLS_EXT_SKIP) {
            rc = HO_OK;
        }
        ho_buf_free(&body);
        if (rc != HO_OK)
            return rc;
    }
    return exts != NULL && exts->failed ? HO_ERR_NOMEM : HO_OK;
}
