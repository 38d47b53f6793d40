/* Early data (0-RTT, RFC 8446 §2.3, §4.2.10): configuration, the server's
 * decision and anti-replay strike register (§8), the early traffic secret's
 * installation, and EndOfEarlyData (§4.5).
 *
 * What the strike register protects (docs/ENGINE.md "Early data"): within
 * one process, a ClientHello with early data is accepted at most once,
 * whichever I/O thread or offload worker handles it. What it does not:
 * a ClientHello replayed to another process or another server of a fleet
 * (sharing ticket keys) is accepted there too, and a register that is full
 * refuses early data rather than forgetting. */
#include "base/mem.h"
#include "tls_int.h"

#include <stdio.h>
#include <string.h>

#define DEFAULT_WINDOW_MS 10000u
#define DEFAULT_SLOTS 16384u
#define STRIKE_KEY 16 /* bytes of SHA-256(ticket) remembered */
#define STRIKE_PROBE 32

struct strike {
    uint8_t key[STRIKE_KEY];
    int64_t at_ms; /* 0: free */
};

struct tls_strikes {
    pthread_mutex_t lock;
    struct strike *slots;
    size_t mask;
    int64_t keep_ms;
};

void tls_strikes_free(struct tls_strikes *st)
{
    if (st == NULL)
        return;
    pthread_mutex_destroy(&st->lock);
    ho_mem_free(st->slots);
    ho_mem_free(st);
}

static struct tls_strikes *strikes_new(size_t slots, uint32_t window_ms)
{
    size_t n = 1;
    while (n < slots && n < ((size_t)1 << 24))
        n <<= 1;
    struct tls_strikes *st = ho_mem_calloc(1, sizeof(*st));
    if (st == NULL)
        return NULL;
    if ((st->slots = ho_mem_calloc(n, sizeof(*st->slots))) == NULL) {
        ho_mem_free(st);
        return NULL;
    }
    st->mask = n - 1;
    /* A ClientHello is accepted while the age it claims is within the
     * window of the server's view (§8.3), so a copy of it is acceptable
     * for up to twice the window after the original: remember that long. */
    st->keep_ms = 2 * (int64_t)window_ms;
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

enum strike_result { STRIKE_NEW, STRIKE_SEEN, STRIKE_FULL };

/* §8.2: records `key` at `now_ms` unless it is remembered already. */
static enum strike_result strikes_check(struct tls_strikes *st, const uint8_t *key, int64_t now_ms)
{
    uint64_t h = 0;
    memcpy(&h, key, sizeof(h));
    enum strike_result r = STRIKE_FULL;
    pthread_mutex_lock(&st->lock);
    struct strike *free_slot = NULL;
    for (size_t i = 0; i < STRIKE_PROBE; i++) {
        struct strike *s = &st->slots[(h + i) & st->mask];
        bool live = s->at_ms != 0 && now_ms - s->at_ms <= st->keep_ms;
        if (live && memcmp(s->key, key, STRIKE_KEY) == 0) {
            r = STRIKE_SEEN;
            break;
        }
        if (!live && free_slot == NULL)
            free_slot = s;
    }
    if (r != STRIKE_SEEN && free_slot != NULL) {
        memcpy(free_slot->key, key, STRIKE_KEY);
        free_slot->at_ms = now_ms != 0 ? now_ms : 1;
        r = STRIKE_NEW;
    }
    pthread_mutex_unlock(&st->lock);
    return r;
}

/* ---- configuration --------------------------------------------------- */

void ho_tls_config_set_early_data(ho_tls_config *cfg, uint32_t max_size)
{
    cfg->early_max = max_size;
    if (cfg->is_server && max_size > 0 && cfg->strikes == NULL)
        cfg->strikes = strikes_new(cfg->early_slots ? cfg->early_slots : DEFAULT_SLOTS,
                                   cfg->early_window_ms ? cfg->early_window_ms : DEFAULT_WINDOW_MS);
}

int ho_tls_config_set_anti_replay(ho_tls_config *cfg, uint32_t window_ms, size_t slots)
{
    if (!cfg->is_server || window_ms == 0 || slots == 0)
        return HO_ERR_INVALID_ARG;
    struct tls_strikes *st = strikes_new(slots, window_ms);
    if (st == NULL)
        return HO_ERR_NOMEM;
    tls_strikes_free(cfg->strikes);
    cfg->strikes = st;
    cfg->early_window_ms = window_ms;
    cfg->early_slots = slots;
    return HO_OK;
}

/* ---- queries --------------------------------------------------------- */

ho_tls_early_status ho_tls_early_data_status(const ho_tls *tls) { return tls->early; }

int ho_tls_set_early_context(ho_tls *tls, const uint8_t *ctx, size_t len)
{
    if (!tls->is_server || len > sizeof(tls->early_ctx) || (len > 0 && ctx == NULL))
        return HO_ERR_INVALID_ARG;
    if (len > 0)
        memcpy(tls->early_ctx, ctx, len);
    tls->early_ctx_len = (uint8_t)len;
    return HO_OK;
}
uint32_t ho_tls_early_data_max(const ho_tls *tls) { return tls->early_max; }

const char *ho_tls_early_status_name(ho_tls_early_status s)
{
    switch (s) {
    case HO_TLS_EARLY_NONE: return "none";
    case HO_TLS_EARLY_OFFERED: return "offered";
    case HO_TLS_EARLY_ACCEPTED: return "accepted";
    case HO_TLS_EARLY_REJECTED: return "rejected";
    case HO_TLS_EARLY_REPLAYED: return "replayed";
    }
    return "?";
}

/* ---- the server's decision ------------------------------------------- */

static void early_verdict(ho_tls *tls, ho_tls_early_status st, const char *why)
{
    tls->early = st;
    char detail[96];
    snprintf(detail, sizeof(detail), "early data %s%s%s", ho_tls_early_status_name(st), why ? ": " : "",
             why ? why : "");
    tls_event(tls, HO_EV_NOTE, HO_LOG_DEBUG, st, 0, detail);
}

void tls_early_decide(ho_tls *tls, const struct session *s, uint32_t obfuscated_age, const uint8_t *identity,
                      size_t identity_len, bool alpn_offered)
{
    ho_tls_config *cfg = tls->cfg;
    (void)alpn_offered;
    if (cfg->early_max == 0 || cfg->strikes == NULL)
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "not enabled");
    /* §4.2.10: only on a ticket that allowed it, within the limit we still
     * keep to; over QUIC a ticket allows it with 0xffffffff only (RFC 9001
     * §4.6.1). */
    if (tls_is_quic(tls) ? s->max_early != TLS_QUIC_EARLY_MAX : (s->max_early == 0 || s->max_early > cfg->early_max))
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "ticket without early data");
    /* RFC 9001 §4.6.2: the application context of the ticket's connection
     * (transport parameters, ALPN settings) must be ours (RFC 9000 §7.4.1:
     * an accepting server must not reduce the remembered limits). */
    if (s->early_ctx_len != tls->early_ctx_len || !tls_ct_equal(s->early_ctx, tls->early_ctx, s->early_ctx_len))
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "application context differs");
    /* §4.2.10: the cipher suite and ALPN of the ticket's connection. */
    if (s->suite != tls->suite->id)
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "cipher suite differs");
    if (strcmp(s->alpn, tls->alpn != NULL ? tls->alpn : "") != 0)
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "ALPN differs");
    /* §8.3 (freshness): the client's ticket age (obfuscated_age minus
     * ticket_age_add, §4.2.11.1) against ours. */
    uint32_t window = cfg->early_window_ms ? cfg->early_window_ms : DEFAULT_WINDOW_MS;
    int64_t client_age = (int64_t)(uint32_t)(obfuscated_age - s->age_add);
    int64_t server_age = tls->now_ms - s->issued_ms;
    int64_t skew = server_age - client_age;
    if (skew > (int64_t)window || skew < -(int64_t)window)
        return early_verdict(tls, HO_TLS_EARLY_REPLAYED, "ticket age outside the window");
    /* §8.1, §8.2: the register is keyed by the ticket, so one ticket
     * gives early data once while remembered (twice the window): a
     * replayed ClientHello is refused, and so is a client's second use of
     * the same ticket (it still resumes, in 1-RTT). After that, a copy of
     * the ClientHello fails the age check above. */
    uint8_t key[32];
    if (crypto_hash(HO_HASH_SHA256, identity, identity_len, key) != HO_OK)
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "hash");
    switch (strikes_check(cfg->strikes, key, tls->now_ms)) {
    case STRIKE_SEEN:
        return early_verdict(tls, HO_TLS_EARLY_REPLAYED, "ticket used for early data before");
    case STRIKE_FULL:
        return early_verdict(tls, HO_TLS_EARLY_REJECTED, "strike register full");
    case STRIKE_NEW:
        break;
    }
    tls->early_max = s->max_early;
    early_verdict(tls, HO_TLS_EARLY_ACCEPTED, NULL);
}

/* ---- keys and EndOfEarlyData ------------------------------------------ */

hs_status tls_early_install(ho_tls *tls, bool is_write, const ho_tls_suite *suite)
{
    tls_keylog(tls, "CLIENT_EARLY_TRAFFIC_SECRET", tls->ks.client_early);
    if (is_write) {
        tls->write_epoch = HO_EPOCH_EARLY;
    } else {
        tls->read_epoch = HO_EPOCH_EARLY;
        tls->read_keys++;
    }
    if (tls->secret_cb != NULL) {
        int rc = tls->secret_cb(tls->secret_ctx, tls, is_write, HO_EPOCH_EARLY, suite, tls->ks.client_early);
        if (rc != HO_OK)
            return tls_fail(tls, rc, "installing early keys");
    }
    tls_event(tls, HO_EV_SECRET_INSTALLED, HO_LOG_DEBUG, HO_EPOCH_EARLY, is_write, is_write ? "write" : "read");
    return HS_OK;
}

hs_status tls_early_abandon(ho_tls *tls)
{
    tls->early = HO_TLS_EARLY_REJECTED;
    tls->write_epoch = HO_EPOCH_INITIAL;
    if (tls->secret_cb != NULL) {
        int rc = tls->secret_cb(tls->secret_ctx, tls, true, HO_EPOCH_INITIAL, tls->suite, NULL);
        if (rc != HO_OK)
            return tls_fail(tls, rc, "leaving early keys");
    }
    return HS_OK;
}

hs_status tls_server_handle_end_of_early_data(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                              ho_tls_out *out)
{
    (void)out;
    /* §4.5: sent only when the server accepted early data (the table admits
     * it only at the early epoch, which is read only then). */
    if (tls->early != HO_TLS_EARLY_ACCEPTED)
        return tls_alert(tls, HO_ALERT_UNEXPECTED_MESSAGE, "EndOfEarlyData");
    if (!ho_cursor_empty(body))
        return tls_alert(tls, HO_ALERT_DECODE_ERROR, "EndOfEarlyData length");
    if (tls_transcript_add(tls, msg, len) != HO_OK)
        return tls_fail(tls, HO_ERR_NOMEM, "transcript");
    /* §4.5: then the client's handshake traffic key. */
    return tls_install_secret(tls, false, HO_EPOCH_HANDSHAKE, tls->ks.client_hs);
}
