/* Callbacks that answer later: the client-hello callback and the signing
 * function may return HO_ERR_WANT_ASYNC (docs/ENGINE.md "Asynchronous
 * callbacks").
 *
 * The engine stays single-threaded. The one thing shared with another
 * thread is the hand-over of a result: the owning thread arms
 * tls->async_state (WAITING) before the callback runs; the completing
 * thread stores its result, then moves the state to DONE (release) and
 * calls the connection's wake function; the owning thread reads the result
 * only after it saw DONE (acquire), in its next drive call. */
#include "base/mem.h"
#include "tls_int.h"

#include <string.h>

void ho_tls_config_set_sign_fn(ho_tls_config *cfg, ho_tls_sign_fn fn, void *ctx)
{
    cfg->sign_fn = fn;
    cfg->sign_ctx = ctx;
}

void ho_tls_set_async_wake(ho_tls *tls, void (*fn)(void *ctx, ho_tls *tls), void *ctx)
{
    tls->async_wake = fn;
    tls->async_wake_ctx = ctx;
}

bool ho_tls_async_pending(const ho_tls *tls) { return tls->async_kind != ASYNC_NONE; }

bool ho_tls_async_supported(const ho_tls *tls) { return tls->async_wake != NULL; }

void tls_async_arm(ho_tls *tls, uint8_t kind)
{
    tls->async_kind = kind;
    tls->async_result = HO_OK;
    tls->async_cfg = NULL;
    atomic_store_explicit(&tls->async_state, ASYNC_WAITING, memory_order_relaxed);
}

void tls_async_disarm(ho_tls *tls)
{
    tls->async_kind = ASYNC_NONE;
    atomic_store_explicit(&tls->async_state, ASYNC_IDLE, memory_order_relaxed);
}

void tls_async_free(ho_tls *tls)
{
    if (tls->async_sign != NULL) {
        ho_wipe(tls->async_sign, sizeof(*tls->async_sign));
        ho_mem_free(tls->async_sign);
        tls->async_sign = NULL;
    }
}

/* Publishes a result stored by the caller and wakes the owning thread.
 * The wake function and its context are read before the state changes:
 * once it is DONE the owner may go on (and, the operation over, free the
 * connection). */
static int complete(ho_tls *tls, uint8_t kind)
{
    void (*wake)(void *, ho_tls *) = tls->async_wake;
    void *ctx = tls->async_wake_ctx;
    int expected = ASYNC_WAITING;
    if (!atomic_compare_exchange_strong_explicit(&tls->async_state, &expected, ASYNC_DONE, memory_order_acq_rel,
                                                 memory_order_acquire))
        return HO_ERR_INVALID_ARG;
    (void)kind;
    if (wake != NULL)
        wake(ctx, tls);
    return HO_OK;
}

int ho_tls_resume(ho_tls *tls, ho_tls_config *cfg, int result)
{
    if (tls == NULL || tls->async_kind != ASYNC_CLIENT_HELLO ||
        atomic_load_explicit(&tls->async_state, memory_order_acquire) != ASYNC_WAITING)
        return HO_ERR_INVALID_ARG;
    if (cfg != NULL && !ho_tls_config_is_server(cfg))
        return HO_ERR_INVALID_ARG;
    tls->async_cfg = cfg;
    tls->async_result = result;
    return complete(tls, ASYNC_CLIENT_HELLO);
}

int ho_tls_complete_sign(ho_tls *tls, const uint8_t *sig, size_t len)
{
    if (tls == NULL || tls->async_kind != ASYNC_SIGN || tls->async_sign == NULL ||
        atomic_load_explicit(&tls->async_state, memory_order_acquire) != ASYNC_WAITING)
        return HO_ERR_INVALID_ARG;
    struct tls_async_sign *s = tls->async_sign;
    if (sig == NULL || len == 0 || len > sizeof(s->sig)) {
        s->sig_len = 0;
        tls->async_result = HO_ERR_CRYPTO;
    } else {
        memcpy(s->sig, sig, len);
        s->sig_len = len;
        tls->async_result = HO_OK;
    }
    return complete(tls, ASYNC_SIGN);
}

int tls_async_sign(ho_tls *tls, const uint8_t *in, size_t in_len, uint8_t *sig, size_t *sig_len)
{
    const ho_tls_config *cfg = tls->cfg;
    if (cfg->sign_fn == NULL)
        return ho_privkey_sign(tls->cert->key, tls->sig_scheme, in, in_len, sig, sig_len);
    /* The input is copied before the call: the application may hand it to
     * another thread that reads it after this frame is gone. */
    struct tls_async_sign *s = tls->async_sign;
    if (s == NULL && (s = tls->async_sign = ho_mem_calloc(1, sizeof(*s))) == NULL)
        return HO_ERR_NOMEM;
    if (in_len > sizeof(s->in))
        return HO_ERR_INTERNAL;
    memcpy(s->in, in, in_len);
    s->in_len = in_len;
    tls_async_arm(tls, ASYNC_SIGN);
    int rc = cfg->sign_fn(cfg->sign_ctx, tls, tls->cert->key, tls->sig_scheme, s->in, s->in_len, sig, sig_len);
    if (rc == HO_ERR_WANT_ASYNC && tls->async_wake != NULL)
        return rc;
    tls_async_disarm(tls);
    tls_async_free(tls);
    if (rc == HO_ERR_WANT_ASYNC) /* no wake function: nobody could continue */
        rc = HO_ERR_INTERNAL;
    if (rc == HO_OK && (*sig_len == 0 || *sig_len > HO_TLS_SIG_MAX))
        rc = HO_ERR_CRYPTO;
    return rc;
}

int tls_async_continue(ho_tls *tls, ho_tls_out *out)
{
    if (atomic_load_explicit(&tls->async_state, memory_order_acquire) != ASYNC_DONE)
        return HO_ERR_WANT_ASYNC;
    uint8_t kind = tls->async_kind;
    int result = tls->async_result;
    tls_async_disarm(tls);
    if (kind == ASYNC_CLIENT_HELLO) {
        if (result != HO_OK)
            return tls_fail(tls, result, "client hello callback (resumed)"), tls->error;
        if (tls->async_cfg != NULL)
            tls->cfg = tls->async_cfg;
        tls->async_cfg = NULL;
        /* The ClientHello is still buffered: the driver runs it again and
         * its handler skips the callback. */
        tls->async_ch_done = true;
        return HO_OK;
    }
    /* A signature: finish the flight, then take the ClientHello's row. */
    const struct hs_transition *row = tls->async_row;
    tls->async_row = NULL;
    struct tls_async_sign *s = tls->async_sign;
    hs_status st;
    if (result != HO_OK || s == NULL || s->sig_len == 0)
        st = tls_alert(tls, HO_ALERT_INTERNAL_ERROR, "signing (asynchronous)"); /* RFC 8446 §6.2 */
    else
        st = tls_server_resume_sign(tls, out, s->sig, s->sig_len);
    tls_async_free(tls);
    if (st == HS_ERROR || tls_take_successor(tls, row, st) != HS_OK)
        return tls->error;
    return HO_OK;
}
