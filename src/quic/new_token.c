/* NEW_TOKEN on the connection (RFC 9000 §8.1.3, §19.7): the server sends
 * the token its endpoint made once the handshake is confirmed (and again
 * when the packet carrying it is lost, §13.3); the client keeps the last
 * token received for the application (ho_quic_conn_new_token, the
 * new_token callback) and sends the one the application gave it in the
 * Initials of its next connection (ho_quic_config.token).
 *
 * The token's contents are the endpoint's business (endpoint.c): a client
 * treats it as opaque. */
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

int ho_quic_new_token_queue(ho_quic_conn *c, const uint8_t *token, size_t len)
{
    /* §19.7: only a server sends NEW_TOKEN; an empty token is a
     * FRAME_ENCODING_ERROR for the receiver, so never send one. */
    if (!c->is_server || token == NULL || len == 0)
        return HO_ERR_INVALID_ARG;
    uint8_t *copy = ho_mem_alloc(len);
    if (copy == NULL)
        return HO_ERR_NOMEM;
    memcpy(copy, token, len);
    ho_mem_free(c->new_token);
    c->new_token = copy;
    c->new_token_len = len;
    c->new_token_pending = true;
    c->stats.new_tokens_sent++;
    quic_conn_wake(c);
    return HO_OK;
}

int ho_quic_new_token_on_frame(ho_quic_conn *c, const ho_quic_frame *f)
{
    /* §19.7: a server receiving NEW_TOKEN closes with PROTOCOL_VIOLATION
     * (the frame table refuses it before this) and an empty token is a
     * FRAME_ENCODING_ERROR (the frame parser refuses it). Checked here too,
     * so that this function alone keeps the rule. */
    if (c->is_server)
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    if (f->new_token.len == 0)
        return HO_ERR_QUIC(HO_QUIC_FRAME_ENCODING_ERROR);
    uint8_t *copy = ho_mem_alloc(f->new_token.len);
    if (copy == NULL)
        return HO_OK; /* a token is an optimisation: do without it */
    memcpy(copy, f->new_token.token, f->new_token.len);
    ho_mem_free(c->rx_token);
    c->rx_token = copy;
    c->rx_token_len = f->new_token.len;
    c->stats.new_tokens_received++;
    if (c->cfg.callbacks.new_token != NULL)
        c->cfg.callbacks.new_token(c->cfg.callbacks.ctx, c, copy, f->new_token.len);
    return HO_OK;
}

int ho_quic_new_token_setup_client(ho_quic_conn *c)
{
    const uint8_t *t = c->cfg.token;
    size_t len = c->cfg.token_len;
    c->cfg.token = NULL; /* the caller's buffer */
    c->cfg.token_len = 0;
    if (t == NULL || len == 0)
        return HO_OK;
    uint8_t *copy = ho_mem_alloc(len);
    if (copy == NULL)
        return HO_ERR_NOMEM;
    memcpy(copy, t, len);
    ho_mem_free(c->retry_token);
    c->retry_token = copy;
    c->retry_token_len = len;
    return HO_OK;
}

void ho_quic_new_token_free(ho_quic_conn *c)
{
    ho_mem_free(c->rx_token);
    c->rx_token = NULL;
    c->rx_token_len = 0;
    ho_mem_free(c->new_token);
    c->new_token = NULL;
    c->new_token_len = 0;
    c->new_token_pending = false;
}

const uint8_t *ho_quic_conn_new_token(const ho_quic_conn *c, size_t *len)
{
    *len = c->rx_token_len;
    return c->rx_token;
}
