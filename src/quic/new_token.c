/* NEW_TOKEN on the connection (RFC 9000 §8.1.3, §19.7): the server sends
 * the token its endpoint made once the handshake is confirmed (and again
 * when the packet carrying it is lost, §13.3); the client keeps the last
 * token received for the application (ho_quic_conn_new_token, the
 * new_token callback) and sends the one the application gave it in the
 * Initials of its next connection (ho_quic_config.token).
 *
 * The token's contents are the endpoint's business: it makes and checks
 * them with the functions at the end (new_token.h); a client treats a
 * token as opaque. */
#include <string.h>
#include <netinet/in.h>

#include "base/mem.h"
#include "quic/conn_int.h"
#include "quic/new_token.h"

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

/* ---- the endpoint's tokens (new_token.h) ----------------------------------- */

#define NT_HDR 9
#define NT_PT 16
#define NT_FUTURE_SLACK_MS (60 * 1000) /* clock skew between servers of a fleet */

/* The token's AAD after its header: the QUIC version of the connection
 * (RFC 9369 §5: tokens are specific to the version; the server MUST NOT
 * accept one issued in another), then the peer's IP address (family and
 * address, no port). */
static size_t addr_bytes(const ho_quic_path *path, uint8_t out[17]);

static size_t ip_bytes(const ho_quic_path *path, uint32_t version, uint8_t out[21])
{
    for (int i = 0; i < 4; i++)
        out[i] = (uint8_t)(version >> (24 - 8 * i));
    out += 4;
    return 4 + addr_bytes(path, out);
}

static size_t addr_bytes(const ho_quic_path *path, uint8_t out[17])
{
    if (path != NULL && path->remote.ss_family == AF_INET && path->remote_len >= sizeof(struct sockaddr_in)) {
        out[0] = 4;
        memcpy(out + 1, &((const struct sockaddr_in *)&path->remote)->sin_addr, 4);
        return 5;
    }
    if (path != NULL && path->remote.ss_family == AF_INET6 && path->remote_len >= sizeof(struct sockaddr_in6)) {
        out[0] = 6;
        memcpy(out + 1, &((const struct sockaddr_in6 *)&path->remote)->sin6_addr, 16);
        return 17;
    }
    out[0] = 0;
    return 1;
}

static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint64_t get_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

size_t quic_nt_make(crypto_aead *seal, uint64_t seq, const ho_quic_path *path, uint32_t version, int64_t wall_ms,
                    int64_t lifetime_ms, uint8_t out[QUIC_NT_LEN])
{
    out[0] = QUIC_NT_MARK;
    put_be64(out + 1, seq);
    uint8_t pt[NT_PT];
    put_be64(pt, (uint64_t)wall_ms);
    put_be64(pt + 8, (uint64_t)(wall_ms + lifetime_ms));
    uint8_t aad[NT_HDR + 21];
    memcpy(aad, out, NT_HDR);
    size_t aadlen = NT_HDR + ip_bytes(path, version, aad + NT_HDR);
    if (crypto_aead_seal(seal, seq, aad, aadlen, pt, NT_PT, out + NT_HDR) != HO_OK)
        return 0;
    return QUIC_NT_LEN;
}

bool quic_nt_check(crypto_aead *open, const uint8_t *tok, size_t len, const ho_quic_path *path, uint32_t version,
                   int64_t wall_ms)
{
    if (len != QUIC_NT_LEN || tok[0] != QUIC_NT_MARK)
        return false;
    uint64_t seq = get_be64(tok + 1);
    uint8_t aad[NT_HDR + 21];
    memcpy(aad, tok, NT_HDR);
    size_t aadlen = NT_HDR + ip_bytes(path, version, aad + NT_HDR);
    uint8_t pt[NT_PT];
    if (crypto_aead_open(open, seq, aad, aadlen, tok + NT_HDR, NT_PT + CRYPTO_AEAD_TAG_LEN, pt) != HO_OK)
        return false; /* forged, tampered, for another address or version, of another fleet */
    int64_t issued = (int64_t)get_be64(pt), expiry = (int64_t)get_be64(pt + 8);
    /* §8.1.3: tokens SHOULD have an expiration; one issued in the future
     * (beyond clock skew) is not trusted either. */
    return wall_ms <= expiry && issued <= wall_ms + NT_FUTURE_SLACK_MS;
}
