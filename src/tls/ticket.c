/* Session tickets: the server seals session state under a rotating key
 * (AES-256-GCM, key id in the clear); the client keeps an opaque blob. */
#include "base/mem.h"
#include "tls_int.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Version 2 adds max_early_data_size; version 3 the early data context
 * (a server's ticket over QUIC). A session without early data is still
 * written as version 1 (tickets and blobs keep their size), one without a
 * context as version 2, and older blobs of older clients and servers
 * decode. */
#define SESSION_VERSION 3
#define TICKET_NONCE 12

int tls_session_encode(const struct session *s, ho_buf *out)
{
    size_t alpn = strlen(s->alpn), sni = strlen(s->server_name);
    ho_put_u8(out, s->early_ctx_len > 0 ? SESSION_VERSION : s->max_early > 0 ? 2 : 1);
    ho_put_u16(out, s->suite);
    ho_put_u8(out, (uint8_t)s->psk_len);
    ho_put_bytes(out, s->psk, s->psk_len);
    ho_put_u32(out, s->age_add);
    ho_put_u32(out, s->lifetime_s);
    ho_put_u64(out, (uint64_t)s->issued_ms);
    ho_put_u8(out, (uint8_t)alpn);
    ho_put_bytes(out, s->alpn, alpn);
    ho_put_u8(out, (uint8_t)sni);
    ho_put_bytes(out, s->server_name, sni);
    size_t t = ho_block_open(out, 2);
    ho_put_bytes(out, s->ticket, s->ticket_len);
    ho_block_close(out, t);
    if (s->max_early > 0 || s->early_ctx_len > 0)
        ho_put_u32(out, s->max_early);
    if (s->early_ctx_len > 0) {
        ho_put_u8(out, s->early_ctx_len);
        ho_put_bytes(out, s->early_ctx, s->early_ctx_len);
    }
    /* Optional tail (tickets without it still decode): the verified client
     * certificate's subject, sealed in server tickets (client_auth.c). */
    size_t subj = strlen(s->client_subject);
    if (subj > 0) {
        size_t b = ho_block_open(out, 2);
        ho_put_bytes(out, s->client_subject, subj);
        ho_block_close(out, b);
    }
    return out->failed ? HO_ERR_NOMEM : HO_OK;
}

int tls_session_decode(const uint8_t *p, size_t len, struct session *s)
{
    ho_cursor c = ho_cursor_make(p, len), psk, alpn, sni, ticket;
    uint8_t version;
    uint64_t issued;
    memset(s, 0, sizeof(*s));
    if (!ho_get_u8(&c, &version) || version < 1 || version > SESSION_VERSION || !ho_get_u16(&c, &s->suite) ||
        !ho_get_block(&c, 1, &psk) || psk.len > CRYPTO_HASH_MAX || !ho_get_u32(&c, &s->age_add) ||
        !ho_get_u32(&c, &s->lifetime_s) || !ho_get_u64(&c, &issued) || !ho_get_block(&c, 1, &alpn) ||
        !ho_get_block(&c, 1, &sni) || !ho_get_block(&c, 2, &ticket) ||
        (version >= 2 && !ho_get_u32(&c, &s->max_early)))
        return HO_ERR_INVALID_ARG;
    ho_cursor ectx;
    if (version >= 3) {
        if (!ho_get_block(&c, 1, &ectx) || ectx.len == 0 || ectx.len > sizeof(s->early_ctx))
            return HO_ERR_INVALID_ARG;
        memcpy(s->early_ctx, ectx.p, ectx.len);
        s->early_ctx_len = (uint8_t)ectx.len;
    }
    ho_cursor subject = {0};
    if (!ho_cursor_empty(&c) && (!ho_get_block(&c, 2, &subject) || subject.len == 0 ||
                                 subject.len >= sizeof(s->client_subject) || memchr(subject.p, 0, subject.len)))
        return HO_ERR_INVALID_ARG;
    if (!ho_cursor_empty(&c))
        return HO_ERR_INVALID_ARG;
    if (subject.len > 0)
        memcpy(s->client_subject, subject.p, subject.len);
    const ho_tls_suite *suite = ho_tls_suite_by_id(s->suite);
    if (suite == NULL || psk.len != crypto_hash_len(suite->hash))
        return HO_ERR_INVALID_ARG;
    memcpy(s->psk, psk.p, psk.len);
    s->psk_len = psk.len;
    s->issued_ms = (int64_t)issued;
    memcpy(s->alpn, alpn.p, alpn.len);
    memcpy(s->server_name, sni.p, sni.len);
    if (ticket.len > 0) {
        if ((s->ticket = ho_mem_alloc(ticket.len)) == NULL)
            return HO_ERR_NOMEM;
        memcpy(s->ticket, ticket.p, ticket.len);
        s->ticket_len = ticket.len;
    }
    return HO_OK;
}

void tls_session_clear(struct session *s)
{
    ho_mem_free(s->ticket);
    ho_wipe(s, sizeof(*s));
}

/* Returns a copy of the current sealing key, rotating it when due (not
 * with fixed keys: those change only by ho_tls_config_set_ticket_keys). */
static int current_key(ho_tls_config *cfg, int64_t now_ms, struct ticket_key *out)
{
    int rc = HO_OK;
    pthread_mutex_lock(&cfg->lock);
    struct ticket_key *k = &cfg->ticket_keys[0];
    if (!cfg->ticket_keys_fixed &&
        (!k->valid || now_ms - k->created_ms >= (int64_t)cfg->ticket_rotate_s * 1000)) {
        /* The previous key keeps opening tickets for one more period. */
        cfg->ticket_keys[1] = *k;
        if ((rc = ho_random(k->id, sizeof(k->id))) == HO_OK)
            rc = ho_random(k->key, sizeof(k->key));
        k->created_ms = now_ms;
        k->valid = rc == HO_OK;
    }
    *out = *k;
    pthread_mutex_unlock(&cfg->lock);
    return rc;
}

static bool find_key(ho_tls_config *cfg, const uint8_t *id, struct ticket_key *out)
{
    bool found = false;
    pthread_mutex_lock(&cfg->lock);
    for (size_t i = 0; i < HO_TLS_TICKET_KEYS_MAX && !found; i++) {
        if (cfg->ticket_keys[i].valid && memcmp(cfg->ticket_keys[i].id, id, sizeof(out->id)) == 0) {
            *out = cfg->ticket_keys[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&cfg->lock);
    return found;
}

/* ---- fixed ticket keys (a fleet's key file) ------------------------------- */

static int derive_key(const uint8_t *secret, struct ticket_key *k)
{
    static const char id_info[] = "handoff ticket key id", key_info[] = "handoff ticket key";
    memset(k, 0, sizeof(*k));
    int rc = crypto_hkdf_expand(HO_HASH_SHA256, secret, id_info, sizeof(id_info) - 1, k->id, sizeof(k->id));
    if (rc == HO_OK)
        rc = crypto_hkdf_expand(HO_HASH_SHA256, secret, key_info, sizeof(key_info) - 1, k->key, sizeof(k->key));
    k->valid = rc == HO_OK;
    if (rc != HO_OK)
        ho_wipe(k, sizeof(*k));
    return rc;
}

int ho_tls_ticket_key_id(const uint8_t *secret, uint8_t id[4])
{
    struct ticket_key k;
    int rc = derive_key(secret, &k);
    memcpy(id, k.id, sizeof(k.id));
    ho_wipe(&k, sizeof(k));
    return rc;
}

int ho_tls_config_set_ticket_keys(ho_tls_config *cfg, const uint8_t *secrets, size_t n)
{
    if (cfg == NULL || secrets == NULL || n == 0 || n > HO_TLS_TICKET_KEYS_MAX)
        return HO_ERR_INVALID_ARG;
    struct ticket_key keys[HO_TLS_TICKET_KEYS_MAX];
    int rc = HO_OK;
    for (size_t i = 0; i < n && rc == HO_OK; i++) {
        rc = derive_key(secrets + i * HO_TLS_TICKET_SECRET_LEN, &keys[i]);
        /* A ticket names its key by id: two keys with one id would make
         * the second unreachable. */
        for (size_t j = 0; j < i && rc == HO_OK; j++)
            if (memcmp(keys[j].id, keys[i].id, sizeof(keys[i].id)) == 0)
                rc = HO_ERR_INVALID_ARG;
    }
    if (rc == HO_OK) {
        pthread_mutex_lock(&cfg->lock);
        /* The old keys are overwritten in place, and the slots the new set
         * does not use are wiped. */
        ho_wipe(cfg->ticket_keys, sizeof(cfg->ticket_keys));
        memcpy(cfg->ticket_keys, keys, n * sizeof(keys[0]));
        cfg->ticket_key_count = n;
        cfg->ticket_keys_fixed = true;
        pthread_mutex_unlock(&cfg->lock);
    }
    ho_wipe(keys, sizeof(keys));
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

#define KEY_HEX (2 * HO_TLS_TICKET_SECRET_LEN)

int ho_tls_ticket_keys_parse(const char *text, size_t len, uint8_t *secrets, size_t max, size_t *n, char *err,
                             size_t errlen)
{
    char dummy[1];
    if (err == NULL) {
        err = dummy;
        errlen = sizeof(dummy);
    }
    if (errlen > 0)
        err[0] = '\0';
    *n = 0;
    size_t count = 0, line = 0, pos = 0;
    int rc = HO_OK;
    while (pos < len && rc == HO_OK) {
        line++;
        size_t eol = pos;
        while (eol < len && text[eol] != '\n')
            eol++;
        size_t a = pos, b = eol;
        pos = eol + 1;
        while (a < b && is_space(text[a]))
            a++;
        while (b > a && is_space(text[b - 1]))
            b--;
        if (a == b || text[a] == '#')
            continue;
        bool hex = b - a == KEY_HEX;
        for (size_t i = a; i < b && hex; i++)
            hex = hexval(text[i]) >= 0;
        if (!hex) {
            snprintf(err, errlen, "line %zu: a key is %d hex digits (32 bytes, e.g. `openssl rand -hex 32`)", line,
                     KEY_HEX);
            rc = HO_ERR_INVALID_ARG;
            break;
        }
        if (count == max) {
            snprintf(err, errlen, "line %zu: more than %zu keys", line, max);
            rc = HO_ERR_INVALID_ARG;
            break;
        }
        uint8_t *k = secrets + count * HO_TLS_TICKET_SECRET_LEN;
        for (size_t i = 0; i < HO_TLS_TICKET_SECRET_LEN; i++)
            k[i] = (uint8_t)(hexval(text[a + 2 * i]) << 4 | hexval(text[a + 2 * i + 1]));
        for (size_t j = 0; j < count; j++)
            if (memcmp(secrets + j * HO_TLS_TICKET_SECRET_LEN, k, HO_TLS_TICKET_SECRET_LEN) == 0) {
                snprintf(err, errlen, "line %zu: the same key as an earlier line", line);
                rc = HO_ERR_INVALID_ARG;
            }
        /* Distinct secrets whose key ids collide (chance 2^-32 a pair). */
        uint8_t id[4], id2[4];
        if (rc == HO_OK && (rc = ho_tls_ticket_key_id(k, id)) == HO_OK)
            for (size_t j = 0; j < count && rc == HO_OK; j++)
                if ((rc = ho_tls_ticket_key_id(secrets + j * HO_TLS_TICKET_SECRET_LEN, id2)) == HO_OK &&
                    memcmp(id, id2, sizeof(id)) == 0) {
                    snprintf(err, errlen, "line %zu: its key id is an earlier key's: pick another key", line);
                    rc = HO_ERR_INVALID_ARG;
                }
        count++;
    }
    if (rc == HO_OK && count == 0) {
        snprintf(err, errlen, "no key (one per line, %d hex digits)", KEY_HEX);
        rc = HO_ERR_INVALID_ARG;
    }
    if (rc != HO_OK) {
        ho_wipe(secrets, max * HO_TLS_TICKET_SECRET_LEN);
        return rc;
    }
    *n = count;
    return HO_OK;
}

int ho_tls_ticket_keys_read(const char *path, uint8_t *secrets, size_t max, size_t *n, char *err, size_t errlen)
{
    uint8_t *data = NULL;
    size_t len = 0;
    *n = 0;
    int e = ho_file_read(AT_FDCWD, path, false, 64 * 1024, &data, &len);
    if (e != 0) {
        if (err != NULL)
            snprintf(err, errlen, "%s: %s", path, strerror(e));
        return HO_ERR_IO;
    }
    int rc = ho_tls_ticket_keys_parse((const char *)data, len, secrets, max, n, err, errlen);
    ho_wipe(data, len);
    ho_mem_free(data);
    return rc;
}

int tls_ticket_seal(ho_tls_config *cfg, int64_t now_ms, const struct session *s, ho_buf *out)
{
    struct ticket_key key;
    uint8_t nonce[TICKET_NONCE];
    ho_buf plain;
    ho_buf_init(&plain);
    int rc = current_key(cfg, now_ms, &key);
    if (rc == HO_OK)
        rc = ho_random(nonce, sizeof(nonce));
    if (rc == HO_OK)
        rc = tls_session_encode(s, &plain);
    crypto_aead *aead = rc == HO_OK ? crypto_aead_new(HO_AEAD_AES_256_GCM, true, key.key, nonce) : NULL;
    if (rc == HO_OK && aead == NULL)
        rc = HO_ERR_CRYPTO;
    if (rc == HO_OK) {
        /* key id || nonce || AEAD(session), the key id authenticated as AAD */
        ho_put_bytes(out, key.id, sizeof(key.id));
        ho_put_bytes(out, nonce, sizeof(nonce));
        uint8_t *ct = ho_put_space(out, plain.len + CRYPTO_AEAD_TAG_LEN);
        rc = ct == NULL ? HO_ERR_NOMEM : crypto_aead_seal(aead, 0, key.id, sizeof(key.id), plain.data, plain.len, ct);
    }
    crypto_aead_free(aead);
    ho_buf_free(&plain);
    ho_wipe(&key, sizeof(key));
    return rc;
}

int tls_ticket_open(ho_tls_config *cfg, int64_t now_ms, const uint8_t *ticket, size_t len, struct session *s)
{
    struct ticket_key key;
    if (len < sizeof(key.id) + TICKET_NONCE + CRYPTO_AEAD_TAG_LEN + 1 || !find_key(cfg, ticket, &key))
        return HO_ERR_NOT_FOUND;
    const uint8_t *nonce = ticket + sizeof(key.id);
    const uint8_t *ct = nonce + TICKET_NONCE;
    size_t ct_len = len - sizeof(key.id) - TICKET_NONCE;
    uint8_t *plain = ho_mem_alloc(ct_len);
    crypto_aead *aead = crypto_aead_new(HO_AEAD_AES_256_GCM, false, key.key, nonce);
    int rc = plain == NULL || aead == NULL ? HO_ERR_NOMEM : HO_OK;
    if (rc == HO_OK)
        rc = crypto_aead_open(aead, 0, key.id, sizeof(key.id), ct, ct_len, plain);
    if (rc == HO_OK)
        rc = tls_session_decode(plain, ct_len - CRYPTO_AEAD_TAG_LEN, s);
    /* §4.6.1: a ticket is good for at most its lifetime. */
    if (rc == HO_OK && now_ms - s->issued_ms > (int64_t)s->lifetime_s * 1000) {
        tls_session_clear(s);
        rc = HO_ERR_NOT_FOUND;
    }
    if (plain != NULL) {
        ho_wipe(plain, ct_len);
        ho_mem_free(plain);
    }
    crypto_aead_free(aead);
    ho_wipe(&key, sizeof(key));
    return rc;
}
