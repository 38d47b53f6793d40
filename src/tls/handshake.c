/* The handshake driver: the declarative table per role, message framing
 * and reassembly, the transcript, secret installation and events. Handlers
 * live in client.c and server.c; each returns a typed status. */
#include "base/mem.h"
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tables ------------------------------------------------------ */

/* Each row: in `state`, `type` at `epoch` goes to `handler`; then the driver
 * moves to `next`, or to `alt` where the handler branches (HS_ALT). States
 * and edges follow RFC 8446 Appendix A; the handlers never set the state. */
#define INITIAL HO_EPOCH_INITIAL
#define EARLY HO_EPOCH_EARLY
#define HANDSHAKE HO_EPOCH_HANDSHAKE
#define APP HO_EPOCH_APP

/* Client, RFC 8446 §A.1. ho_tls_start goes START → WAIT_SH. A
 * HelloRetryRequest answers with a second ClientHello and stays in WAIT_SH
 * (§4.1.4); a resumption (PSK) skips the certificate messages (§2.2). */
const struct hs_transition ho_tls_client_table[] = {
    /* state             epoch      message                     next                alt (a branch)                handler */
    {ST_C_WAIT_SH,       INITIAL,   HO_HS_SERVER_HELLO,         ST_C_WAIT_EE,       ST_C_WAIT_SH /* HRR */,       tls_client_handle_server_hello},
    {ST_C_WAIT_EE,       HANDSHAKE, HO_HS_ENCRYPTED_EXTENSIONS, ST_C_WAIT_CERT_CR,  ST_C_WAIT_FINISHED /* PSK */, tls_client_handle_encrypted_extensions},
    {ST_C_WAIT_CERT_CR,  HANDSHAKE, HO_HS_CERTIFICATE_REQUEST,  ST_C_WAIT_CERT,     ST_NONE,                      tls_client_handle_certificate_request},
    {ST_C_WAIT_CERT_CR,  HANDSHAKE, HO_HS_CERTIFICATE,          ST_C_WAIT_CV,       ST_NONE,                      tls_client_handle_certificate},
    {ST_C_WAIT_CERT,     HANDSHAKE, HO_HS_CERTIFICATE,          ST_C_WAIT_CV,       ST_NONE,                      tls_client_handle_certificate},
    {ST_C_WAIT_CV,       HANDSHAKE, HO_HS_CERTIFICATE_VERIFY,   ST_C_WAIT_FINISHED, ST_NONE,                      tls_client_handle_certificate_verify},
    {ST_C_WAIT_FINISHED, HANDSHAKE, HO_HS_FINISHED,             ST_C_CONNECTED,     ST_NONE,                      tls_client_handle_finished},
    {ST_C_CONNECTED,     APP,       HO_HS_NEW_SESSION_TICKET,   ST_C_CONNECTED,     ST_NONE,                      tls_client_handle_new_session_ticket},
    {ST_C_CONNECTED,     APP,       HO_HS_KEY_UPDATE,           ST_C_CONNECTED,     ST_NONE,                      tls_handle_key_update},
};
const size_t ho_tls_client_table_len = sizeof(ho_tls_client_table) / sizeof(ho_tls_client_table[0]);

/* Server, RFC 8446 §A.2. The ClientHello handler sends the whole first
 * flight (RECVD_CH, NEGOTIATED and WAIT_FLIGHT2 collapse into it; a
 * CertificateRequest, when configured, is part of that flight), or a
 * HelloRetryRequest and waits for the second ClientHello (§4.1.4), which
 * cannot branch again. WAIT_EOED is WAIT_FINISHED while the read epoch is
 * still the early one (early data accepted, early.c): EndOfEarlyData is
 * admitted only at that epoch, and Finished only at the handshake epoch it
 * installs. */
const struct hs_transition ho_tls_server_table[] = {
    /* state             epoch      message             next                alt (a branch)           handler */
    {ST_S_WAIT_CH,       INITIAL,   HO_HS_CLIENT_HELLO, ST_S_WAIT_FINISHED, ST_S_WAIT_CH2 /* HRR */, tls_server_handle_client_hello},
    {ST_S_WAIT_CH2,      INITIAL,   HO_HS_CLIENT_HELLO, ST_S_WAIT_FINISHED, ST_NONE,                 tls_server_handle_client_hello},
    {ST_S_WAIT_FINISHED, EARLY,     HO_HS_END_OF_EARLY_DATA, ST_S_WAIT_FINISHED, ST_NONE,            tls_server_handle_end_of_early_data},
    /* Client authentication (§4.3.2, §4.4.2): after our CertificateRequest
     * the client's flight starts with Certificate; an empty one (no
     * certificate) goes straight on to Finished. client_auth.c refuses a
     * Certificate we did not ask for and a Finished without the one we did. */
    {ST_S_WAIT_FINISHED, HANDSHAKE, HO_HS_CERTIFICATE,  ST_S_WAIT_CV,       ST_S_WAIT_FINISHED /* empty */, tls_server_handle_certificate},
    {ST_S_WAIT_CV,       HANDSHAKE, HO_HS_CERTIFICATE_VERIFY, ST_S_WAIT_FINISHED, ST_NONE,           tls_server_handle_certificate_verify},
    {ST_S_WAIT_FINISHED, HANDSHAKE, HO_HS_FINISHED,     ST_S_CONNECTED,     ST_NONE,                 tls_server_handle_finished},
    {ST_S_CONNECTED,     APP,       HO_HS_KEY_UPDATE,   ST_S_CONNECTED,     ST_NONE,                 tls_handle_key_update},
};
const size_t ho_tls_server_table_len = sizeof(ho_tls_server_table) / sizeof(ho_tls_server_table[0]);

#undef INITIAL
#undef EARLY
#undef HANDSHAKE
#undef APP

const char *ho_tls_state_name(hs_state s)
{
    static const char *const names[ST__COUNT] = {
        [ST_C_START] = "tls_client_start", [ST_C_WAIT_SH] = "client_wait_sh",
        [ST_C_WAIT_EE] = "client_wait_ee", [ST_C_WAIT_CERT_CR] = "client_wait_cert_cr",
        [ST_C_WAIT_CERT] = "client_wait_cert", [ST_C_WAIT_CV] = "client_wait_cv",
        [ST_C_WAIT_FINISHED] = "client_wait_finished", [ST_C_CONNECTED] = "client_connected",
        [ST_S_WAIT_CH] = "server_wait_ch", [ST_S_WAIT_CH2] = "server_wait_ch2",
        [ST_S_WAIT_FINISHED] = "server_wait_finished", [ST_S_CONNECTED] = "server_connected",
        [ST_S_WAIT_CV] = "server_wait_cv",
    };
    return (unsigned)s < ST__COUNT ? names[s] : "?";
}

/* ---- events, errors -------------------------------------------------- */

void tls_event(ho_tls *tls, ho_event_type type, ho_log_level level, int64_t a, int64_t b, const char *detail)
{
    ho_event ev = {.type = type, .level = level, .conn = tls->conn_id,
                   .role = tls->is_server ? "server" : "client", .a = a, .b = b, .detail = detail};
    ho_event_emit(&ev);
}

hs_status tls_fail(ho_tls *tls, int err, const char *why)
{
    if (tls->error == HO_OK) {
        tls->error = err;
        char detail[160];
        snprintf(detail, sizeof(detail), "%s: %s in %s", why,
                 ho_err_is_alert(err) ? ho_tls_alert_name(ho_err_alert(err)) : ho_err_str(err),
                 ho_tls_state_name(tls->state));
        tls_event(tls, HO_EV_HANDSHAKE_FAILED, HO_LOG_INFO, err, 0, detail);
    }
    return HS_ERROR;
}

bool tls_ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

bool tls_list_has(const uint16_t *list, size_t n, uint16_t v)
{
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* ---- transcript ------------------------------------------------------ */

int tls_transcript_start(ho_tls *tls, ho_hash_alg alg)
{
    tls->transcript = crypto_hash_ctx_new(alg);
    if (tls->transcript == NULL)
        return HO_ERR_NOMEM;
    int rc = crypto_hash_ctx_update(tls->transcript, tls->transcript_raw.data, tls->transcript_raw.len);
    ho_buf_free(&tls->transcript_raw);
    return rc;
}

int tls_transcript_add(ho_tls *tls, const uint8_t *p, size_t n)
{
    if (tls->transcript != NULL)
        return crypto_hash_ctx_update(tls->transcript, p, n);
    ho_put_bytes(&tls->transcript_raw, p, n);
    return tls->transcript_raw.failed ? HO_ERR_NOMEM : HO_OK;
}

int tls_transcript_hash(ho_tls *tls, uint8_t *out)
{
    return tls->transcript ? crypto_hash_ctx_peek(tls->transcript, out) : HO_ERR_INTERNAL;
}

int tls_transcript_hrr_rewrite(ho_tls *tls)
{
    /* §4.4.1: Transcript-Hash(ClientHello1, HelloRetryRequest, ...) starts
     * with message_hash || 00 00 Hash.length || Hash(ClientHello1). */
    uint8_t h[CRYPTO_HASH_MAX];
    int rc = tls_transcript_hash(tls, h);
    if (rc != HO_OK)
        return rc;
    ho_hash_alg alg = tls->suite->hash;
    size_t hl = crypto_hash_len(alg);
    crypto_hash_ctx_free(tls->transcript);
    tls->transcript = crypto_hash_ctx_new(alg);
    if (tls->transcript == NULL)
        return HO_ERR_NOMEM;
    uint8_t hdr[4] = {HO_HS_MESSAGE_HASH, 0, 0, (uint8_t)hl};
    rc = crypto_hash_ctx_update(tls->transcript, hdr, 4);
    if (rc == HO_OK)
        rc = crypto_hash_ctx_update(tls->transcript, h, hl);
    return rc;
}

/* ---- messages out ---------------------------------------------------- */

size_t tls_msg_begin(ho_tls *tls, ho_tls_out *out, uint8_t type)
{
    ho_buf *b = &out->send[tls->write_epoch];
    ho_put_u8(b, type);
    return ho_block_open(b, 3);
}

hs_status tls_msg_end(ho_tls *tls, ho_tls_out *out, size_t token)
{
    ho_buf *b = &out->send[tls->write_epoch];
    ho_block_close(b, token);
    if (b->failed)
        return tls_fail(tls, HO_ERR_NOMEM, "building message");
    size_t start = (token >> 2) - 1; /* the type byte precedes the length */
    const uint8_t *msg = b->data + start;
    size_t len = b->len - start;
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    if (ho_event_threshold() >= HO_LOG_DEBUG)
        tls_event(tls, HO_EV_MSG_SENT, HO_LOG_DEBUG, msg[0], (int64_t)len, ho_tls_handshake_name(msg[0]));
    return HS_OK;
}

/* ---- secrets --------------------------------------------------------- */

static const char *keylog_label(bool server_side, ho_epoch epoch)
{
    if (epoch == HO_EPOCH_HANDSHAKE)
        return server_side ? "SERVER_HANDSHAKE_TRAFFIC_SECRET" : "CLIENT_HANDSHAKE_TRAFFIC_SECRET";
    return server_side ? "SERVER_TRAFFIC_SECRET_0" : "CLIENT_TRAFFIC_SECRET_0";
}

void tls_keylog(ho_tls *tls, const char *label, const uint8_t *secret)
{
    if (tls->cfg->cb.keylog == NULL)
        return;
    /* NSS key log format: LABEL <client_random hex> <secret hex>. */
    char line[64 + 2 * 32 + 2 * CRYPTO_HASH_MAX + 4];
    size_t n = (size_t)snprintf(line, sizeof(line), "%s ", label);
    for (int i = 0; i < 32; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x", tls->client_random[i]);
    line[n++] = ' ';
    for (size_t i = 0; i < tls->ks.hash_len; i++)
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%02x", secret[i]);
    tls->cfg->cb.keylog(tls->cfg->cb.ctx, tls, line);
    ho_wipe(line, sizeof(line));
}

hs_status tls_install_secret(ho_tls *tls, bool is_write, ho_epoch epoch, const uint8_t *secret)
{
    /* The first installation of an epoch's secret is what the key log records. */
    ho_epoch current = is_write ? tls->write_epoch : tls->read_epoch;
    if (epoch != current) {
        bool server_side = tls->is_server == is_write;
        tls_keylog(tls, keylog_label(server_side, epoch), secret);
    }
    if (is_write) {
        tls->write_epoch = epoch;
    } else {
        tls->read_epoch = epoch;
        tls->read_keys++;
    }
    if (tls->secret_cb != NULL) {
        int rc = tls->secret_cb(tls->secret_ctx, tls, is_write, epoch, tls->suite, secret);
        if (rc != HO_OK)
            return tls_fail(tls, rc, "installing keys");
    }
    tls_event(tls, HO_EV_SECRET_INSTALLED, HO_LOG_DEBUG, epoch, is_write, is_write ? "write" : "read");
    return HS_OK;
}

/* ---- Finished, CertificateVerify, KeyUpdate (both roles) -------------- */

hs_status tls_send_finished(ho_tls *tls, ho_tls_out *out, const uint8_t *base_secret)
{
    uint8_t th[CRYPTO_HASH_MAX], verify[CRYPTO_HASH_MAX];
    if (tls_transcript_hash(tls, th) != HO_OK || tls_ks_finished(&tls->ks, base_secret, th, verify) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "finished");
    size_t t = tls_msg_begin(tls, out, HO_HS_FINISHED);
    ho_put_bytes(&out->send[tls->write_epoch], verify, tls->ks.hash_len);
    return tls_msg_end(tls, out, t);
}

hs_status tls_check_finished(ho_tls *tls, ho_cursor *body, const uint8_t *base_secret)
{
    uint8_t th[CRYPTO_HASH_MAX], want[CRYPTO_HASH_MAX];
    const uint8_t *got;
    /* §4.4.4: verify_data is Hash.length bytes; anything else cannot decode. */
    if (!ho_get_bytes(body, tls->ks.hash_len, &got) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "finished length");
    if (tls_transcript_hash(tls, th) != HO_OK || tls_ks_finished(&tls->ks, base_secret, th, want) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "finished");
    /* §4.4.4: a wrong verify_data MUST be answered with decrypt_error. */
    if (!tls_ct_equal(got, want, tls->ks.hash_len))
        return tls_alert(tls, HO_ALERT_DECRYPT_ERROR, "finished mismatch");
    return HS_OK;
}

int tls_cv_content(ho_tls *tls, bool server, uint8_t *buf, size_t *len)
{
    /* §4.4.3: 64 spaces, the context string, a zero byte, the transcript hash. */
    static const char srv[] = "TLS 1.3, server CertificateVerify";
    static const char cli[] = "TLS 1.3, client CertificateVerify";
    memset(buf, 0x20, 64);
    memcpy(buf + 64, server ? srv : cli, sizeof(srv)); /* includes the 0 byte */
    int rc = tls_transcript_hash(tls, buf + 64 + sizeof(srv));
    *len = 64 + sizeof(srv) + tls->ks.hash_len;
    return rc;
}

static hs_status update_write_key(ho_tls *tls, ho_tls_out *out, bool request_peer)
{
    size_t t = tls_msg_begin(tls, out, HO_HS_KEY_UPDATE);
    ho_put_u8(&out->send[tls->write_epoch], request_peer ? 1 : 0);
    if (tls_msg_end(tls, out, t) != HS_OK)
        return HS_ERROR;
    uint8_t *secret = tls->is_server ? tls->ks.server_ap : tls->ks.client_ap;
    if (tls_ks_next_traffic(&tls->ks, secret) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "key update");
    tls_event(tls, HO_EV_KEY_UPDATE, HO_LOG_INFO, 0, 1, "write");
    return tls_install_secret(tls, true, HO_EPOCH_APP, secret);
}

hs_status tls_handle_key_update(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out)
{
    uint8_t request;
    if (!ho_get_u8(body, &request) || !ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "key update length");
    /* §4.6.3: any other value than 0 or 1 is illegal_parameter. */
    if (request > 1)
        return tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "key update request");
    uint8_t *secret = tls->is_server ? tls->ks.client_ap : tls->ks.server_ap;
    if (tls_ks_next_traffic(&tls->ks, secret) != HO_OK)
        return tls_fail(tls, HO_ERR_CRYPTO, "key update");
    tls_event(tls, HO_EV_KEY_UPDATE, HO_LOG_INFO, request, 0, "read");
    if (tls_install_secret(tls, false, HO_EPOCH_APP, secret) != HS_OK)
        return HS_ERROR;
    /* §4.6.3: update_requested obliges us to answer with our own KeyUpdate
     * (update_not_requested) before sending more data. */
    if (request == 1)
        return update_write_key(tls, out, false);
    return HS_OK;
}

void tls_done(ho_tls *tls)
{
    tls->done = true;
    char detail[400];
    snprintf(detail, sizeof(detail), "suite=%s group=%s alpn=%s resumed=%d hrr=%d",
             tls->suite ? tls->suite->name : "-",
             tls->group == HO_GROUP_X25519MLKEM768 ? "X25519MLKEM768"
             : tls->group == HO_GROUP_X25519      ? "x25519"
             : tls->group == HO_GROUP_SECP256R1   ? "secp256r1"
             : tls->group == HO_GROUP_SECP384R1   ? "secp384r1"
                                                  : "-",
             tls->alpn ? tls->alpn : "-", tls->resumed, tls->did_hrr);
    if (tls->is_server && tls->peer_subject != NULL) { /* the verified client certificate */
        size_t n = strlen(detail);
        snprintf(detail + n, sizeof(detail) - n, " client=%s", tls->peer_subject);
    }
    tls_event(tls, HO_EV_HANDSHAKE_DONE, HO_LOG_INFO, 0, 0, detail);
}

/* ---- the driver ------------------------------------------------------ */

/* Moves to the successor the handler took, if its row lists it; anything
 * else is our bug, refused with internal_error rather than a silent jump. */
hs_status tls_take_successor(ho_tls *tls, const struct hs_transition *row, hs_status taken)
{
    hs_state to = taken == HS_OK ? row->next : taken == HS_ALT ? row->alt : ST_NONE;
    const struct hs_transition *first = tls->is_server ? ho_tls_server_table : ho_tls_client_table;
    size_t n = tls->is_server ? ho_tls_server_table_len : ho_tls_client_table_len;
    bool ours = false;
    for (size_t i = 0; i < n && !ours; i++) /* == only: `row` may point anywhere */
        ours = &first[i] == row && row->state == tls->state;
    if (!ours || to >= ST__COUNT)
        return tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "successor not in the handshake table");
    tls->state = to;
    return HS_OK;
}

static const struct hs_transition *find_transition(const ho_tls *tls, uint8_t type)
{
    const struct hs_transition *t = tls->is_server ? ho_tls_server_table : ho_tls_client_table;
    size_t n = tls->is_server ? ho_tls_server_table_len : ho_tls_client_table_len;
    for (size_t i = 0; i < n; i++)
        if (t[i].state == tls->state && t[i].type == type)
            return &t[i];
    return NULL;
}

int ho_tls_handle(ho_tls *tls, ho_epoch epoch, const void *in, size_t len, ho_tls_out *out)
{
    if (tls->error != HO_OK)
        return tls->error;
    if ((unsigned)epoch >= HO_EPOCH_COUNT)
        return HO_ERR_INVALID_ARG;
    bool resumed = false;
    if (tls->async_kind != ASYNC_NONE) {
        /* A callback is out (async.c). What arrives meanwhile is kept for
         * later, under the same rules; a call with nothing new may come
         * under any epoch. */
        if (len > 0 && epoch != tls->read_epoch)
            return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "handshake data at wrong epoch"), tls->error;
        if (tls->msg.len + len > 2 * MAX_MESSAGE)
            return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "too much data while pending"), tls->error;
        ho_put_bytes(&tls->msg, in, len);
        if (tls->msg.failed)
            return tls_fail(tls, HO_ERR_NOMEM, "buffering"), tls->error;
        int rc = tls_async_continue(tls, out);
        if (rc != HO_OK)
            return rc;
        /* Go on with what is buffered, under the key we read with now. */
        epoch = tls->read_epoch;
        len = 0;
        resumed = true;
    }
    if (!tls->is_server && tls->state == ST_C_START)
        return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "data before start"), tls->error;
    /* Bytes must arrive under the key we currently read with (§5.1). */
    if (epoch != tls->read_epoch && !resumed)
        return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "handshake data at wrong epoch"), tls->error;
    ho_put_bytes(&tls->msg, in, len);
    if (tls->msg.failed)
        return tls_fail(tls, HO_ERR_NOMEM, "buffering"), tls->error;

    size_t off = 0;
    while (tls->msg.len - off >= 4) {
        const uint8_t *msg = tls->msg.data + off;
        ho_cursor c = ho_cursor_make(msg, tls->msg.len - off);
        uint8_t type;
        uint32_t body_len;
        ho_get_u8(&c, &type);
        ho_get_u24(&c, &body_len);
        if (body_len > MAX_MESSAGE) {
            tls_alert(tls, HO_ALERT_ILLEGAL_PARAMETER, "message too large");
            break;
        }
        if (c.len < body_len)
            break;
        /* RFC 9001 §8.3: a server MUST treat an EndOfEarlyData over QUIC as
         * a connection error of type PROTOCOL_VIOLATION. */
        if (type == HO_HS_END_OF_EARLY_DATA && tls_is_quic(tls)) {
            tls_fail(tls, HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION), "EndOfEarlyData over QUIC");
            break;
        }
        const struct hs_transition *t = find_transition(tls, type);
        /* §6.2: a message that is not expected in this state is unexpected_message. */
        if (t == NULL || t->epoch != epoch) {
            tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, ho_tls_handshake_name(type));
            break;
        }
        /* §5.1: a message that immediately precedes a key change MUST end
         * at a record boundary: nothing may be buffered after it. A
         * KeyUpdate always does and changes keys within the epoch, so it is
         * checked before its handler acts (we would otherwise answer it);
         * the others (ClientHello, ServerHello, Finished) below, once the
         * handler shows whether the read key changed. */
        if (type == HO_HS_KEY_UPDATE && off + 4 + body_len != tls->msg.len) {
            tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "data after KeyUpdate");
            break;
        }
        if (ho_event_threshold() >= HO_LOG_DEBUG)
            tls_event(tls, HO_EV_MSG_RECV, HO_LOG_DEBUG, type, body_len + 4, ho_tls_handshake_name(type));
        ho_cursor body = ho_cursor_make(msg + 4, body_len);
        unsigned keys_before = tls->read_keys;
        off += 4 + body_len;
        hs_status taken = t->handler(tls, &body, msg, 4 + body_len, out);
        if (taken == HS_PENDING) {
            /* async.c: a pending client-hello callback leaves its message
             * buffered, to be handled anew; a pending signature has
             * consumed it and continues in its row. */
            if (tls->async_kind == ASYNC_CLIENT_HELLO)
                off -= 4 + body_len;
            else
                tls->async_row = t;
            if (tls->read_keys != keys_before && off != tls->msg.len)
                tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "data after key change");
            break;
        }
        if (taken == HS_ERROR || tls_take_successor(tls, t, taken) != HS_OK)
            break;
        /* §5.1: handshake messages MUST NOT span a key change; data already
         * received under the old key past that point is unexpected. */
        if (tls->read_keys != keys_before && off != tls->msg.len) {
            tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "data after key change");
            break;
        }
    }
    if (tls->error == HO_OK)
        ho_buf_consume(&tls->msg, off);
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        if (out->send[e].failed && tls->error == HO_OK)
            tls_fail(tls, HO_ERR_NOMEM, "output");
    if (tls->error == HO_OK && tls->async_kind != ASYNC_NONE)
        return HO_ERR_WANT_ASYNC; /* not sticky: the engine waits */
    return tls->error;
}

int ho_tls_start(ho_tls *tls, ho_tls_out *out)
{
    if (tls->error != HO_OK)
        return tls->error;
    if (tls->is_server || tls->state != ST_C_START)
        return HO_ERR_INVALID_ARG;
    tls_event(tls, HO_EV_HANDSHAKE_START, HO_LOG_DEBUG, 0, 0, tls->server_name);
    int rc = tls_client_start(tls, out);
    if (rc != HO_OK)
        return tls_fail(tls, rc, "client hello"), tls->error;
    tls->state = ST_C_WAIT_SH; /* §A.1: START → WAIT_SH on sending ClientHello */
    return HO_OK;
}

int ho_tls_key_update(ho_tls *tls, bool request_peer_update, ho_tls_out *out)
{
    if (tls->error != HO_OK)
        return tls->error;
    if (!tls->done)
        return HO_ERR_INVALID_ARG;
    update_write_key(tls, out, request_peer_update);
    return tls->error;
}

/* ---- object life cycle and queries ----------------------------------- */

ho_tls *ho_tls_new(ho_tls_config *cfg, const char *server_name)
{
    ho_tls *tls = ho_mem_calloc(1, sizeof(*tls));
    if (tls == NULL)
        return NULL;
    tls->cfg = cfg;
    tls->is_server = ho_tls_config_is_server(cfg);
    tls->state = tls->is_server ? ST_S_WAIT_CH : ST_C_START;
    ho_buf_init(&tls->msg);
    ho_buf_init(&tls->transcript_raw);
    if ((!tls->is_server && (tls->client = ho_mem_calloc(1, sizeof(*tls->client))) == NULL) ||
        (server_name != NULL && (tls->server_name = ho_mem_strdup(server_name)) == NULL)) {
        ho_mem_free(tls->client);
        ho_mem_free(tls);
        return NULL;
    }
    return tls;
}

void ho_tls_free(ho_tls *tls)
{
    if (tls == NULL)
        return;
    ho_buf_free(&tls->msg);
    ho_buf_free(&tls->transcript_raw);
    crypto_hash_ctx_free(tls->transcript);
    if (tls->client != NULL) {
        crypto_kex_free(tls->client->kex);
        crypto_kex_free(tls->client->kex2);
        tls_session_clear(&tls->client->offered);
        ho_wipe(tls->client, sizeof(*tls->client));
        ho_mem_free(tls->client);
    }
    ho_cert_chain_free(&tls->peer_chain);
    crypto_cert_free(tls->peer_leaf);
    ho_mem_free(tls->peer_subject);
    tls_async_free(tls);
    ho_mem_free(tls->alpn);
    ho_mem_free(tls->server_name);
    tls_ks_wipe(&tls->ks);
    ho_wipe(tls, sizeof(*tls));
    ho_mem_free(tls);
}

void ho_tls_set_secret_cb(ho_tls *tls, ho_tls_secret_fn fn, void *ctx)
{
    tls->secret_cb = fn;
    tls->secret_ctx = ctx;
}
void ho_tls_set_session_cb(ho_tls *tls, void (*fn)(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len),
                          void *ctx)
{
    tls->session_cb = fn;
    tls->session_ctx = ctx;
}
void ho_tls_set_user(ho_tls *tls, void *user) { tls->user = user; }
void *ho_tls_get_user(const ho_tls *tls) { return tls->user; }
void ho_tls_set_now(ho_tls *tls, int64_t unix_ms) { tls->now_ms = unix_ms; }
void ho_tls_set_conn_id(ho_tls *tls, uint64_t id) { tls->conn_id = id; }
uint64_t ho_tls_get_conn_id(const ho_tls *tls) { return tls->conn_id; }

int ho_tls_set_config(ho_tls *tls, ho_tls_config *cfg)
{
    if (!tls->is_server || !ho_tls_config_is_server(cfg) || tls->state != ST_S_WAIT_CH || tls->async_ch_done)
        return HO_ERR_INVALID_ARG;
    tls->cfg = cfg;
    return HO_OK;
}

int tls_set_alpn(ho_tls *tls, const uint8_t *name, size_t len)
{
    char *a = ho_mem_alloc(len + 1);
    if (a == NULL)
        return HO_ERR_NOMEM;
    memcpy(a, name, len);
    a[len] = '\0';
    ho_mem_free(tls->alpn);
    tls->alpn = a;
    return HO_OK;
}

int ho_tls_set_session(ho_tls *tls, const uint8_t *blob, size_t len)
{
    if (tls->is_server || tls->state != ST_C_START)
        return HO_ERR_INVALID_ARG;
    tls_session_clear(&tls->client->offered);
    int rc = tls_session_decode(blob, len, &tls->client->offered);
    if (rc != HO_OK)
        return rc;
    tls->client->offering_psk = true;
    return HO_OK;
}

void ho_tls_out_init(ho_tls_out *out)
{
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        ho_buf_init(&out->send[e]);
}

void ho_tls_out_free(ho_tls_out *out)
{
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        ho_buf_free(&out->send[e]);
}

bool tls_is_quic(const ho_tls *tls)
{
    for (size_t i = 0; i < tls->cfg->hook_count; i++)
        if (tls->cfg->hooks[i].type == TLS_EXT_QUIC_TRANSPORT_PARAMETERS)
            return true;
    return false;
}
bool tls_wants_compat_ccs(const ho_tls *tls) { return tls->is_server && tls->compat_ccs; }
bool tls_rejected_early_data(const ho_tls *tls)
{
    return tls->is_server && tls->early_offered && tls->early != HO_TLS_EARLY_ACCEPTED;
}
bool tls_has_partial_message(const ho_tls *tls) { return tls->msg.len > 0; }

bool ho_tls_is_server(const ho_tls *tls) { return tls->is_server; }
bool ho_tls_handshake_done(const ho_tls *tls) { return tls->done; }

void tls_trim(ho_tls *tls)
{
    if (tls->msg.len == 0)
        ho_buf_free(&tls->msg);
    if (tls->transcript_raw.len == 0)
        ho_buf_free(&tls->transcript_raw);
    /* A connected server hashes nothing more: the resumption secret and
     * the tickets were made at the client's Finished (no post-handshake
     * authentication is offered). */
    if (tls->is_server && tls->state == ST_S_CONNECTED && tls->transcript != NULL) {
        crypto_hash_ctx_free(tls->transcript);
        tls->transcript = NULL;
    }
}
const ho_tls_suite *ho_tls_get_suite(const ho_tls *tls) { return tls->suite; }
uint16_t ho_tls_get_group(const ho_tls *tls) { return tls->group; }
const char *ho_tls_get_alpn(const ho_tls *tls) { return tls->alpn; }
const char *ho_tls_get_server_name(const ho_tls *tls) { return tls->server_name; }
bool ho_tls_is_resumed(const ho_tls *tls) { return tls->resumed; }
bool ho_tls_did_hrr(const ho_tls *tls) { return tls->did_hrr; }
uint16_t ho_tls_get_sig_scheme(const ho_tls *tls) { return tls->sig_scheme; }

int ho_tls_export(ho_tls *tls, const char *label, const void *context, size_t contextlen, uint8_t *out,
                  size_t outlen)
{
    if (tls->suite == NULL || (!tls->done && !(tls->is_server && tls->state == ST_S_WAIT_FINISHED)))
        return HO_ERR_INVALID_ARG;
    return tls_ks_export(&tls->ks, label, context, contextlen, out, outlen);
}
