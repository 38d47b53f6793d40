/* TLS over TCP: the record layer (RFC 8446 §5), sans-I/O.
 *
 * Bytes from the socket go in through ho_tls_conn_receive; complete records
 * are opened and dispatched (handshake bytes to the engine, alerts, and
 * application data to app_in). Everything to send — handshake flights,
 * alerts, application data — is sealed into records in `out`, which the
 * caller writes to the socket.
 *
 * Key changes arrive through the engine's secret callback at the moment they
 * take effect. A new write key first flushes the handshake bytes the engine
 * queued before it under the old key: that is what puts ServerHello in the
 * clear and a KeyUpdate under the key it replaces. */
#include "base/mem.h"
#include "handoff/tls.h"
#include "tls_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum {
    CONTENT_CHANGE_CIPHER_SPEC = 20,
    CONTENT_ALERT = 21,
    CONTENT_HANDSHAKE = 22,
    CONTENT_APPLICATION_DATA = 23,
};

enum {
    RECORD_HEADER_LEN = 5,
    RECORD_VERSION = 0x0303,
    ALERT_LEVEL_WARNING = 1,
    ALERT_LEVEL_FATAL = 2,
    /* RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14. */
    MAX_PLAINTEXT = 1 << 14,
    /* RFC 8446 §5.2: TLSCiphertext.length MUST NOT exceed 2^14 + 256. */
    MAX_CIPHERTEXT = (1 << 14) + 256,
    /* RFC 8446 §5.4: the whole TLSInnerPlaintext (content, type, padding)
     * MUST NOT exceed 2^14 + 1. */
    MAX_INNER_PLAINTEXT = (1 << 14) + 1,
    /* RFC 8446 §4.2.10: early data we reject is skipped up to our
     * max_early_data_size. We advertise none; this bounds what a client
     * with a ticket from elsewhere can make us discard (one full record's
     * worth of plaintext, OpenSSL's default). */
    EARLY_DATA_SKIP_MAX = 1 << 14,
};

/* One direction of the connection: the epoch whose key is in use, the key
 * (NULL while records are plaintext) and the record sequence number. */
typedef struct record_direction {
    ho_epoch epoch;
    crypto_aead *aead;
    uint64_t seq;
    /* The traffic key and IV behind `aead`, kept for handing the direction
     * to the kernel (kTLS); wiped on every change and on free. */
    uint8_t key[HO_AEAD_KEY_MAX];
    size_t key_len;
    uint8_t iv[HO_AEAD_IV_LEN];
    uint16_t suite;
    uint32_t generation; /* bumped on every key installed */
    bool kernel;         /* the kernel protects this direction */
} record_direction;

struct ho_tls_conn {
    ho_tls *tls;
    ho_tls_out hs_out;   /* handshake bytes the engine queued, per epoch */
    ho_buf in;           /* received bytes: at most one partial record */
    ho_buf out;          /* sealed records for the socket */
    ho_buf app_in;       /* decrypted application data */
    record_direction read, write;
    int error;           /* sticky fatal error: every later call returns it */
    bool peer_closed;    /* close_notify received */
    bool closed;         /* close_notify sent */
    bool ccs_seen;
    bool ccs_sent;       /* our compatibility change_cipher_spec (App. D.4) */
    bool handshake_seen; /* any handshake bytes received yet */
    bool early_done;     /* a record decrypted under the handshake key: no more early data to skip */
    size_t early_skipped; /* bytes of rejected early data skipped (§4.2.10) */
    size_t early_received; /* server: bytes of accepted early data (§4.2.10) */
    int callback_error;  /* a failure inside the secret callback */
};

static void emit_alert_event(ho_tls_conn *c, ho_event_type type, uint8_t desc)
{
    ho_event ev = {0};
    ev.type = type;
    ev.level = desc == HO_ALERT_CLOSE_NOTIFY ? HO_LOG_DEBUG : HO_LOG_INFO;
    ev.conn = ho_tls_get_conn_id(c->tls);
    ev.role = ho_tls_is_server(c->tls) ? "server" : "client";
    ev.a = desc;
    ev.detail = ho_tls_alert_name(desc);
    ho_event_emit(&ev);
}

/* Appends one record of `type` carrying `len` bytes, sealed with the current
 * write key (plaintext before the first one). */
static int seal_record(ho_tls_conn *c, uint8_t type, const uint8_t *data, size_t len)
{
    if (len > MAX_PLAINTEXT)
        return HO_ERR_INTERNAL;
    ho_buf *out = &c->out;
    /* Before the first key, and in kernel mode (where `out` holds plaintext
     * records for the kernel to seal), the record goes out as it is. */
    if (c->write.aead == NULL) {
        if (ho_buf_reserve(out, RECORD_HEADER_LEN + len) != HO_OK)
            return HO_ERR_NOMEM;
        ho_put_u8(out, type);
        ho_put_u16(out, RECORD_VERSION);
        size_t block = ho_block_open(out, 2);
        ho_put_bytes(out, data, len);
        ho_block_close(out, block);
        return out->failed ? HO_ERR_NOMEM : HO_OK;
    }
    /* RFC 8446 §5.3: a sequence number MUST NOT wrap; we refuse instead. */
    if (c->write.kernel)
        return HO_ERR_INTERNAL; /* unreachable: kernel mode has no aead */
    if (c->write.seq == UINT64_MAX)
        return HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR);
    /* RFC 8446 §5.2: inner plaintext = content || ContentType (no padding);
     * the outer type is application_data and the AAD is the record header. */
    size_t inner_len = len + 1;
    size_t body_len = inner_len + CRYPTO_AEAD_TAG_LEN;
    ho_buf header;
    uint8_t header_bytes[RECORD_HEADER_LEN];
    header.data = header_bytes;
    header.len = 0;
    header.cap = sizeof(header_bytes);
    header.failed = false;
    ho_put_u8(&header, CONTENT_APPLICATION_DATA);
    ho_put_u16(&header, RECORD_VERSION);
    ho_put_u16(&header, (uint16_t)body_len);
    if (header.failed || ho_buf_reserve(out, RECORD_HEADER_LEN + body_len) != HO_OK)
        return HO_ERR_NOMEM;
    ho_put_bytes(out, header_bytes, RECORD_HEADER_LEN);
    uint8_t *body = ho_put_space(out, body_len);
    if (body == NULL)
        return HO_ERR_NOMEM;
    if (len > 0)
        memcpy(body, data, len);
    body[len] = type;
    int err = crypto_aead_seal(c->write.aead, c->write.seq, header_bytes, RECORD_HEADER_LEN, body, inner_len, body);
    if (err != HO_OK)
        return err;
    c->write.seq++;
    return HO_OK;
}

/* Seals `len` bytes of one content type as records of at most 2^14 bytes. */
static int seal_records(ho_tls_conn *c, uint8_t type, const uint8_t *data, size_t len)
{
    ho_cursor rest = ho_cursor_make(data, len);
    while (!ho_cursor_empty(&rest)) {
        size_t n = rest.len < MAX_PLAINTEXT ? rest.len : MAX_PLAINTEXT;
        const uint8_t *chunk;
        if (!ho_get_bytes(&rest, n, &chunk))
            return HO_ERR_INTERNAL;
        int err = seal_record(c, type, chunk, n);
        if (err != HO_OK)
            return err;
    }
    return HO_OK;
}

/* Seals all queued handshake bytes with the current write key, coalesced
 * into records of at most 2^14 bytes. */
static int flush_handshake(ho_tls_conn *c)
{
    for (int e = 0; e < HO_EPOCH_COUNT; e++) {
        ho_buf *pending = &c->hs_out.send[e];
        if (pending->len == 0)
            continue;
        if ((ho_epoch)e != c->write.epoch) {
            /* The engine queued bytes for an epoch whose key is not the
             * one in use: sealing them would send them under a wrong key. */
            ho_log(HO_LOG_ERROR, "record: %zu handshake bytes queued at epoch %d, write epoch is %d",
                   pending->len, e, (int)c->write.epoch);
            return HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR);
        }
        int err = seal_records(c, CONTENT_HANDSHAKE, pending->data, pending->len);
        if (err != HO_OK)
            return err;
        ho_buf_consume(pending, pending->len);
        /* App. D.4: a server whose client sent a legacy_session_id sends a
         * dummy change_cipher_spec immediately after its first ServerHello
         * or HelloRetryRequest (the plaintext flight), and only once. Over
         * QUIC there are no records and none is sent (RFC 9001 §8.4). */
        if (e == HO_EPOCH_INITIAL && !c->ccs_sent && tls_wants_compat_ccs(c->tls)) {
            const uint8_t one = 0x01;
            if ((err = seal_record(c, CONTENT_CHANGE_CIPHER_SPEC, &one, 1)) != HO_OK)
                return err;
            c->ccs_sent = true;
        }
    }
    return HO_OK;
}

static int on_secret(void *ctx, ho_tls *tls, bool is_write, ho_epoch epoch, const ho_tls_suite *suite,
                     const uint8_t *secret)
{
    ho_tls_conn *c = ctx;
    (void)tls;
    int err;
    if (is_write) {
        /* Everything the engine queued before this key took effect goes out
         * under the old key (ServerHello in the clear, KeyUpdate under the
         * key it retires). */
        err = flush_handshake(c);
        if (err != HO_OK)
            goto fail;
    }
    if (secret == NULL) {
        /* Back to plaintext writes: a client's early data given up at a
         * HelloRetryRequest; the second ClientHello is not protected. */
        crypto_aead_free(c->write.aead);
        c->write.aead = NULL;
        c->write.epoch = epoch;
        c->write.seq = 0;
        return HO_OK;
    }
    /* RFC 8446 §7.3: traffic keys from the secret. */
    uint8_t key[HO_AEAD_KEY_MAX], iv[HO_AEAD_IV_LEN];
    size_t key_len = crypto_aead_key_len(suite->aead);
    err = crypto_hkdf_expand_label(suite->hash, secret, "key", NULL, 0, key, key_len);
    if (err == HO_OK)
        err = crypto_hkdf_expand_label(suite->hash, secret, "iv", NULL, 0, iv, sizeof(iv));
    record_direction *dir = is_write ? &c->write : &c->read;
    crypto_aead *aead = NULL;
    /* In kernel mode the kernel seals/opens: the key is only kept for it. */
    if (err == HO_OK && !dir->kernel) {
        aead = crypto_aead_new(suite->aead, is_write, key, iv);
        if (aead == NULL)
            err = HO_ERR_CRYPTO;
    }
    if (err == HO_OK) {
        ho_wipe(dir->key, sizeof(dir->key));
        memcpy(dir->key, key, key_len);
        memcpy(dir->iv, iv, sizeof(iv));
        dir->key_len = key_len;
        dir->suite = suite->id;
        dir->generation++;
    }
    ho_wipe(key, sizeof(key));
    ho_wipe(iv, sizeof(iv));
    if (err != HO_OK)
        goto fail;
    crypto_aead_free(dir->aead);
    dir->aead = aead;
    dir->epoch = epoch;
    dir->seq = 0; /* RFC 8446 §5.3: the sequence number restarts with each key */
    return HO_OK;
fail:
    c->callback_error = err;
    return err;
}

ho_tls_conn *ho_tls_conn_new(ho_tls_config *cfg, const char *server_name)
{
    ho_tls_conn *c = ho_mem_calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->tls = ho_tls_new(cfg, server_name);
    if (c->tls == NULL) {
        ho_mem_free(c);
        return NULL;
    }
    ho_tls_out_init(&c->hs_out);
    ho_buf_init(&c->in);
    ho_buf_init(&c->out);
    ho_buf_init(&c->app_in);
    c->read.epoch = HO_EPOCH_INITIAL;
    c->write.epoch = HO_EPOCH_INITIAL;
    ho_tls_set_secret_cb(c->tls, on_secret, c);
    return c;
}

void ho_tls_conn_free(ho_tls_conn *c)
{
    if (c == NULL)
        return;
    ho_tls_free(c->tls);
    ho_tls_out_free(&c->hs_out);
    ho_buf_free(&c->in);
    ho_buf_free(&c->out);
    ho_buf_free(&c->app_in);
    crypto_aead_free(c->read.aead);
    crypto_aead_free(c->write.aead);
    ho_wipe(c, sizeof(*c));
    ho_mem_free(c);
}

ho_tls *ho_tls_conn_tls(ho_tls_conn *c) { return c->tls; }
ho_buf *ho_tls_conn_out(ho_tls_conn *c) { return &c->out; }
ho_buf *ho_tls_conn_app_in(ho_tls_conn *c) { return &c->app_in; }
bool ho_tls_conn_handshake_done(const ho_tls_conn *c) { return ho_tls_handshake_done(c->tls); }
const char *ho_tls_conn_peer_subject(const ho_tls_conn *c) { return ho_tls_get_peer_subject(c->tls); }

static void free_if_empty(ho_buf *b)
{
    if (b->len == 0 && b->data != NULL)
        ho_buf_free(b);
}

void ho_tls_conn_trim(ho_tls_conn *c)
{
    free_if_empty(&c->in);
    free_if_empty(&c->out);
    free_if_empty(&c->app_in);
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        free_if_empty(&c->hs_out.send[e]);
    tls_trim(c->tls);
}

/* Makes the connection dead with `err`; if err names an alert for the peer,
 * queues it (fatal) under the current write key. Returns err. */
static int conn_fail(ho_tls_conn *c, int err)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->callback_error != HO_OK && !ho_err_is_alert(err))
        err = c->callback_error;
    c->error = err;
    /* Handshake bytes of a failed step are never sent. */
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        ho_buf_consume(&c->hs_out.send[e], c->hs_out.send[e].len);
    /* RFC 8446 §6.2: a local failure unrelated to the peer (memory, the
     * crypto library) is reported as internal_error. */
    bool local = err == HO_ERR_NOMEM || err == HO_ERR_INTERNAL || err == HO_ERR_CRYPTO;
    if ((ho_err_is_alert(err) || local) && !c->closed) {
        uint8_t desc = local ? HO_ALERT_INTERNAL_ERROR : ho_err_alert(err);
        /* RFC 8446 §6: alerts other than close_notify/user_canceled are fatal. */
        const uint8_t alert[2] = {ALERT_LEVEL_FATAL, desc};
        if (seal_record(c, CONTENT_ALERT, alert, sizeof(alert)) == HO_OK)
            emit_alert_event(c, HO_EV_ALERT_SENT, desc);
        c->closed = true;
    }
    return err;
}

/* Runs after each engine call: a failure becomes an alert, otherwise the
 * remaining handshake bytes go out under the current write key. */
static int after_engine(ho_tls_conn *c, int err)
{
    if (err == HO_ERR_WANT_ASYNC) {
        /* A callback is out: send what the engine produced so far (a
         * signing step's ServerHello..Certificate) and wait. */
        err = flush_handshake(c);
        return err == HO_OK ? HO_ERR_WANT_ASYNC : conn_fail(c, err);
    }
    if (err == HO_OK)
        err = flush_handshake(c);
    if (err != HO_OK)
        return conn_fail(c, err);
    return HO_OK;
}

int ho_tls_conn_start(ho_tls_conn *c)
{
    if (c->error != HO_OK)
        return c->error;
    return after_engine(c, ho_tls_start(c->tls, &c->hs_out));
}

static int handle_alert(ho_tls_conn *c, ho_cursor body)
{
    uint8_t level, desc;
    /* RFC 8446 §5.1: implementations MUST NOT send zero-length fragments of
     * Alert; one is an unexpected message, not a short one. */
    if (ho_cursor_empty(&body))
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    /* RFC 8446 §6: an alert is exactly level and description. */
    if (!ho_get_u8(&body, &level) || !ho_get_u8(&body, &desc) || !ho_cursor_empty(&body))
        return HO_ERR_TLS_ALERT(HO_ALERT_DECODE_ERROR);
    emit_alert_event(c, HO_EV_ALERT_RECV, desc);
    if (desc == HO_ALERT_CLOSE_NOTIFY) {
        c->peer_closed = true;
        return HO_ERR_CLOSED;
    }
    /* RFC 8446 §6.2: every other alert (whatever its level) ends the
     * connection; unknown ones are treated as errors too. */
    return HO_ERR_TLS_PEER_ALERT(desc);
}

/* Dispatches one record's content (already decrypted when protected). */
static int handle_content(ho_tls_conn *c, uint8_t type, ho_cursor body)
{
    /* RFC 8446 §5.1: a handshake message split over records MUST NOT have
     * records of another type between its pieces. */
    if (type != CONTENT_HANDSHAKE && tls_has_partial_message(c->tls))
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    switch (type) {
    case CONTENT_HANDSHAKE:
        /* RFC 8446 §5.1: zero-length handshake fragments MUST NOT be sent. */
        if (ho_cursor_empty(&body))
            return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
        c->handshake_seen = true;
        return after_engine(c, ho_tls_handle(c->tls, c->read.epoch, body.p, body.len, &c->hs_out));
    case CONTENT_ALERT:
        return handle_alert(c, body);
    case CONTENT_APPLICATION_DATA:
        /* RFC 8446 §2: application data only flows after the handshake,
         * or as early data a server accepted, read with the early key. */
        if (c->read.epoch == HO_EPOCH_EARLY && ho_tls_is_server(c->tls)) {
            /* §4.2.10: more than max_early_data_size SHOULD be answered
             * with unexpected_message. */
            if (body.len > ho_tls_early_data_max(c->tls) - c->early_received)
                return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
            c->early_received += body.len;
        } else if (!ho_tls_handshake_done(c->tls)) {
            return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
        }
        ho_put_bytes(&c->app_in, body.p, body.len);
        return c->app_in.failed ? HO_ERR_NOMEM : HO_OK;
    default:
        /* RFC 8446 §5: an unexpected record type → unexpected_message. */
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    }
}

/* RFC 8446 §5: a change_cipher_spec record of the single byte 0x01 is
 * dropped during the handshake; anything else is unexpected_message. */
static int handle_change_cipher_spec(ho_tls_conn *c, ho_cursor body)
{
    uint8_t v;
    /* RFC 8446 §5: a change_cipher_spec before the first ClientHello (on a
     * server, before any handshake byte) is an unexpected record. */
    bool before_hello = ho_tls_is_server(c->tls) && !c->handshake_seen;
    /* RFC 8446 §5.1: nor between the pieces of a handshake message. */
    if (before_hello || tls_has_partial_message(c->tls) || ho_tls_handshake_done(c->tls) || c->ccs_seen || !ho_get_u8(&body, &v) || v != 0x01 ||
        !ho_cursor_empty(&body))
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    c->ccs_seen = true;
    return HO_OK;
}

/* RFC 8446 §4.2.10: a server that rejects the early data a client offered
 * skips the records that fail to decrypt under its handshake key (they are
 * 0-RTT records), up to max_early_data_size, and after a HelloRetryRequest
 * skips application_data records until the second ClientHello. True when
 * this record of `len` bytes is skipped. */
static bool skip_early_data(ho_tls_conn *c, size_t len, bool failed_decrypt)
{
    if (c->early_done || !tls_rejected_early_data(c->tls) || c->read.epoch > HO_EPOCH_HANDSHAKE)
        return false;
    /* After a HelloRetryRequest the second ClientHello carries no early
     * data: a record failing to decrypt after it is a bad record. */
    if (failed_decrypt && ho_tls_did_hrr(c->tls))
        return false;
    size_t plain = len > CRYPTO_AEAD_TAG_LEN ? len - CRYPTO_AEAD_TAG_LEN : 0;
    /* Up to our own max_early_data_size when we issue tickets with one. */
    size_t limit = EARLY_DATA_SKIP_MAX;
    if (c->tls->cfg->early_max > limit)
        limit = c->tls->cfg->early_max;
    if (plain > limit - c->early_skipped)
        return false;
    c->early_skipped += plain;
    return true;
}

/* Opens one protected record in place (we own the input buffer) and hands
 * its content on. */
static int handle_protected(ho_tls_conn *c, const uint8_t *header, uint8_t *body, size_t len)
{
    /* RFC 8446 §5.2: too short to hold a tag, or fails to authenticate →
     * bad_record_mac. */
    if (len < CRYPTO_AEAD_TAG_LEN + 1)
        return skip_early_data(c, len, true) ? HO_OK : HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC);
    /* RFC 8446 §5.4: the inner plaintext, padding included, MUST NOT
     * exceed 2^14 + 1 (every suite's tag is 16 bytes, so this is known
     * before decrypting): a record at the §5.2 limit of 2^14 + 256 is
     * therefore answered with record_overflow, never left waiting. */
    if (len - CRYPTO_AEAD_TAG_LEN > MAX_INNER_PLAINTEXT)
        return HO_ERR_TLS_ALERT(HO_ALERT_RECORD_OVERFLOW);
    if (c->read.seq == UINT64_MAX)
        return HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR);
    size_t inner_len = len - CRYPTO_AEAD_TAG_LEN;
    int err = crypto_aead_open(c->read.aead, c->read.seq, header, RECORD_HEADER_LEN, body, len, body);
    if (err == HO_ERR_DECRYPT)
        return skip_early_data(c, len, true) ? HO_OK : HO_ERR_TLS_ALERT(HO_ALERT_BAD_RECORD_MAC);
    if (err != HO_OK)
        return err;
    c->read.seq++;
    /* §4.2.10: the first record that decrypts starts the client's second
     * flight; nothing is skipped after it. */
    c->early_done = true;
    /* RFC 8446 §5.4: the content type is the last non-zero byte; all zeros
     * → unexpected_message. */
    while (inner_len > 0 && body[inner_len - 1] == 0)
        inner_len--;
    if (inner_len == 0)
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    uint8_t type = body[inner_len - 1];
    size_t content_len = inner_len - 1;
    /* RFC 8446 §5.2: the plaintext MUST NOT exceed 2^14 (+ the type byte). */
    if (content_len > MAX_PLAINTEXT)
        return HO_ERR_TLS_ALERT(HO_ALERT_RECORD_OVERFLOW);
    /* RFC 8446 §5: change_cipher_spec is never protected. */
    if (type == CONTENT_CHANGE_CIPHER_SPEC)
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    return handle_content(c, type, ho_cursor_make(body, content_len));
}

static int handle_record(ho_tls_conn *c, uint8_t type, const uint8_t *header, uint8_t *body, size_t len)
{
    ho_cursor content = ho_cursor_make(body, len);
    if (type == CONTENT_CHANGE_CIPHER_SPEC)
        return handle_change_cipher_spec(c, content);
    if (c->read.aead != NULL) {
        /* RFC 8446 Appendix A.1: a client may send the alert that ends a
         * handshake in the clear after ServerHello (it may have failed
         * before deriving keys). Taken as the peer's alert, not answered:
         * the connection ends (§6.2). */
        if (type == CONTENT_ALERT && !ho_tls_handshake_done(c->tls))
            return handle_alert(c, content);
        /* RFC 8446 §5.2: once keys are in use every record but
         * change_cipher_spec is protected, with outer type application_data. */
        if (type != CONTENT_APPLICATION_DATA)
            return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
        return handle_protected(c, header, body, len);
    }
    /* Plaintext: only the ClientHello/ServerHello exchange and alerts. */
    if (len > MAX_PLAINTEXT)
        return HO_ERR_TLS_ALERT(HO_ALERT_RECORD_OVERFLOW);
    /* §4.2.10: after a HelloRetryRequest, the 0-RTT records of the first
     * flight (outer type application_data) are skipped. */
    if (type == CONTENT_APPLICATION_DATA && ho_tls_did_hrr(c->tls) && !tls_has_partial_message(c->tls) &&
        skip_early_data(c, len + CRYPTO_AEAD_TAG_LEN, false))
        return HO_OK;
    if (type != CONTENT_HANDSHAKE && type != CONTENT_ALERT)
        return HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
    return handle_content(c, type, content);
}

int ho_tls_conn_receive(ho_tls_conn *c, const void *data, size_t len)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->peer_closed)
        return HO_ERR_CLOSED;
    if (c->read.kernel)
        return HO_ERR_INVALID_ARG; /* the kernel reads records now */
    ho_put_bytes(&c->in, data, len);
    if (c->in.failed)
        return conn_fail(c, HO_ERR_NOMEM);
    int err = HO_OK;
    if (ho_tls_async_pending(c->tls)) {
        /* Records behind a pending callback stay unread (the keys to open
         * them may not exist yet) until it completes. */
        err = after_engine(c, ho_tls_handle(c->tls, c->read.epoch, NULL, 0, &c->hs_out));
        if (err != HO_OK)
            return err;
    }
    ho_cursor rest = ho_cursor_make(c->in.data, c->in.len);
    while (err == HO_OK && !c->peer_closed) {
        ho_cursor record = rest;
        const uint8_t *header;
        uint8_t type;
        uint16_t version, length;
        if (!ho_get_bytes(&record, RECORD_HEADER_LEN, &header))
            break;
        ho_cursor header_fields = ho_cursor_make(header, RECORD_HEADER_LEN);
        if (!ho_get_u8(&header_fields, &type) || !ho_get_u16(&header_fields, &version) ||
            !ho_get_u16(&header_fields, &length)) {
            err = HO_ERR_INTERNAL;
            break;
        }
        /* RFC 8446 §5.1, App. D: legacy_record_version MUST be ignored. */
        (void)version;
        /* RFC 8446 §5.2: a record longer than 2^14 + 256 → record_overflow,
         * detected from the header without waiting for the body. */
        if (length > MAX_CIPHERTEXT) {
            err = HO_ERR_TLS_ALERT(HO_ALERT_RECORD_OVERFLOW);
            break;
        }
        /* RFC 8446 §5: an unknown record type → unexpected_message, also
         * decided from the header (plaintext HTTP to a TLS port fails fast). */
        if (type < CONTENT_CHANGE_CIPHER_SPEC || type > CONTENT_APPLICATION_DATA) {
            err = HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE);
            break;
        }
        const uint8_t *body;
        if (!ho_get_bytes(&record, length, &body))
            break; /* partial record: wait for more */
        rest = record;
        /* Decryption is in place: the bytes are ours (c->in). */
        err = handle_record(c, type, header, (uint8_t *)(uintptr_t)body, length);
    }
    if (err == HO_ERR_CLOSED) {
        ho_buf_consume(&c->in, c->in.len);
        return err;
    }
    if (err != HO_OK && err != HO_ERR_WANT_ASYNC)
        return conn_fail(c, err);
    ho_buf_consume(&c->in, c->in.len - rest.len);
    return err;
}

int ho_tls_conn_write(ho_tls_conn *c, const void *data, size_t len)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->closed)
        return HO_ERR_CLOSED;
    if (!ho_tls_handshake_done(c->tls)) {
        ho_tls_early_status st = ho_tls_early_data_status(c->tls);
        if (ho_tls_is_server(c->tls)) {
            /* §2.3: a server that accepted early data answers it before
             * the client's Finished (0.5-RTT), once its own Finished is out. */
            if (st != HO_TLS_EARLY_ACCEPTED || c->write.epoch != HO_EPOCH_APP)
                return HO_ERR_INVALID_ARG;
        } else {
            /* A client's early data (§4.2.10): while offered or accepted
             * and the early key writes, within the ticket's limit. */
            if ((st != HO_TLS_EARLY_OFFERED && st != HO_TLS_EARLY_ACCEPTED) || c->write.epoch != HO_EPOCH_EARLY)
                return HO_ERR_EARLY_DATA;
            uint32_t *sent = &c->tls->client->early_sent;
            if (len > ho_tls_early_data_max(c->tls) - *sent)
                return HO_ERR_EARLY_DATA;
            *sent += (uint32_t)len;
        }
    }
    int err = seal_records(c, CONTENT_APPLICATION_DATA, data, len);
    return err == HO_OK ? HO_OK : conn_fail(c, err);
}

size_t ho_tls_conn_early_received(const ho_tls_conn *c) { return c->early_received; }

int ho_tls_conn_key_update(ho_tls_conn *c, bool request_peer_update)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->closed)
        return HO_ERR_CLOSED;
    if (!ho_tls_handshake_done(c->tls))
        return HO_ERR_INVALID_ARG;
    return after_engine(c, ho_tls_key_update(c->tls, request_peer_update, &c->hs_out));
}

int ho_tls_conn_close(ho_tls_conn *c)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->closed)
        return HO_OK;
    /* RFC 8446 §6.1: close_notify, after which we send nothing more. */
    const uint8_t alert[2] = {ALERT_LEVEL_WARNING, HO_ALERT_CLOSE_NOTIFY};
    int err = seal_record(c, CONTENT_ALERT, alert, sizeof(alert));
    if (err != HO_OK)
        return conn_fail(c, err);
    emit_alert_event(c, HO_EV_ALERT_SENT, HO_ALERT_CLOSE_NOTIFY);
    c->closed = true;
    return HO_OK;
}

/* ---- kernel TLS hand-over -------------------------------------------- */

bool ho_tls_conn_kernel_ready(const ho_tls_conn *c)
{
    if (c->error != HO_OK || c->closed || c->peer_closed || !ho_tls_handshake_done(c->tls))
        return false;
    if (c->read.epoch != HO_EPOCH_APP || c->write.epoch != HO_EPOCH_APP)
        return false;
    for (int e = 0; e < HO_EPOCH_COUNT; e++)
        if (c->hs_out.send[e].len != 0)
            return false;
    /* Sealed bytes not yet written, or received bytes of a record not yet
     * complete, would be lost to (or mis-sequenced by) the kernel. */
    return c->out.len == 0 && c->in.len == 0;
}

int ho_tls_conn_get_traffic_keys(const ho_tls_conn *c, bool write, ho_tls_traffic_keys *k)
{
    const record_direction *dir = write ? &c->write : &c->read;
    if (dir->epoch != HO_EPOCH_APP || dir->key_len == 0)
        return HO_ERR_INVALID_ARG;
    memset(k, 0, sizeof(*k));
    k->suite = dir->suite;
    memcpy(k->key, dir->key, dir->key_len);
    k->key_len = dir->key_len;
    memcpy(k->iv, dir->iv, sizeof(k->iv));
    k->seq = dir->seq;
    k->generation = dir->generation;
    return HO_OK;
}

int ho_tls_conn_set_kernel(ho_tls_conn *c, bool tx, bool rx)
{
    if (!ho_tls_conn_kernel_ready(c))
        return HO_ERR_INVALID_ARG;
    if (tx) {
        crypto_aead_free(c->write.aead);
        c->write.aead = NULL;
        c->write.kernel = true;
    }
    if (rx) {
        crypto_aead_free(c->read.aead);
        c->read.aead = NULL;
        c->read.kernel = true;
    }
    return HO_OK;
}

int ho_tls_conn_receive_record(ho_tls_conn *c, uint8_t type, const void *data, size_t len)
{
    if (c->error != HO_OK)
        return c->error;
    if (c->peer_closed)
        return HO_ERR_CLOSED;
    if (!c->read.kernel)
        return HO_ERR_INVALID_ARG;
    int err;
    /* RFC 8446 §5: change_cipher_spec is never protected; the kernel has
     * already enforced the length limit of §5.2. */
    if (type == CONTENT_CHANGE_CIPHER_SPEC || len > MAX_PLAINTEXT)
        err = HO_ERR_TLS_ALERT(type == CONTENT_CHANGE_CIPHER_SPEC ? HO_ALERT_UNEXPECTED_MESSAGE
                                                                  : HO_ALERT_RECORD_OVERFLOW);
    else
        err = handle_content(c, type, ho_cursor_make(data, len));
    if (err == HO_ERR_CLOSED || err == HO_OK)
        return err;
    return conn_fail(c, err);
}
