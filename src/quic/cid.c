/* Connection IDs (RFC 9000 §5.1): the ones we issue with NEW_CONNECTION_ID
 * (§19.15) and retire on the peer's RETIRE_CONNECTION_ID (§19.16), the
 * peer's with their stateless reset tokens (§10.3), Retire Prior To
 * (§5.1.2), and stateless reset detection (§10.3.1).
 *
 * A server connection created by the endpoint has cid_hooks: every CID it
 * issues goes into the endpoint's routing table with the endpoint's token
 * derivation (so that a reset can be sent for it after the state is lost),
 * and every peer token it may check goes into the endpoint's token table
 * (a reset carries no CID of ours). A client connection has no hooks: its
 * tokens are random. */
#include <string.h>

#include "handoff/crypto.h"
#include "quic/conn_int.h"

#define ISSUE_ATTEMPTS 4

_Static_assert(HO_QUIC_PEER_CIDS_MAX >= 2, "RFC 9000 §18.2: active_connection_id_limit is at least 2");

void ho_quic_cid_generate(const ho_quic_config *cfg, uint8_t *cid, size_t len)
{
    if (cfg->cid_generate != NULL)
        cfg->cid_generate(cfg->cid_generate_ctx, cid, len);
    else
        ho_random(cid, len);
}

/* ---- the server CID layout (QUIC-LB plaintext + thread octet) ------------- */

enum { LB_NONCE_MIN = 4, LB_CID_MIN = 8 };

int ho_quic_cid_layout_init(ho_quic_cid_layout *l, uint8_t config_id, const uint8_t *server_id, size_t server_id_len,
                            unsigned nthreads)
{
    memset(l, 0, sizeof(*l));
    if (config_id > 6 || server_id == NULL || server_id_len == 0 || server_id_len > sizeof(l->server_id) ||
        nthreads == 0 || nthreads > 256)
        return HO_ERR_INVALID_ARG;
    l->config_id = config_id;
    memcpy(l->server_id, server_id, server_id_len);
    l->server_id_len = server_id_len;
    l->cid_len = 1 + server_id_len + LB_NONCE_MIN;
    if (l->cid_len < LB_CID_MIN)
        l->cid_len = LB_CID_MIN;
    l->nthreads = nthreads;
    return HO_OK;
}

size_t ho_quic_cid_layout_thread_offset(const ho_quic_cid_layout *l) { return 1 + l->server_id_len; }

void ho_quic_cid_layout_make(const ho_quic_cid_layout *l, unsigned thread, uint8_t *cid)
{
    size_t off = ho_quic_cid_layout_thread_offset(l);
    ho_random(cid, l->cid_len);
    /* draft-ietf-quic-load-balancers §3: config rotation bits, then the
     * CID length minus one in the low bits (length self-encoding). */
    cid[0] = (uint8_t)((l->config_id << 5) | ((l->cid_len - 1) & 0x1f));
    memcpy(cid + 1, l->server_id, l->server_id_len);
    /* A random octet congruent to thread mod nthreads: the largest
     * multiple of nthreads not above the random value, plus thread,
     * brought back under 256. */
    unsigned n = l->nthreads, v = cid[off];
    v = v - v % n + thread % n;
    if (v > 255)
        v -= n;
    cid[off] = (uint8_t)v;
}

int ho_quic_cid_layout_thread_of(const ho_quic_cid_layout *l, const uint8_t *cid, size_t len)
{
    size_t off = ho_quic_cid_layout_thread_offset(l);
    if (len <= off)
        return -1;
    return (int)(cid[off] % l->nthreads);
}

bool ho_quic_cid_layout_decode(const ho_quic_cid_layout *l, const uint8_t *cid, size_t len, unsigned *thread)
{
    if (len != l->cid_len || cid[0] != (uint8_t)((l->config_id << 5) | ((l->cid_len - 1) & 0x1f)) ||
        memcmp(cid + 1, l->server_id, l->server_id_len) != 0)
        return false;
    if (thread != NULL)
        *thread = (unsigned)ho_quic_cid_layout_thread_of(l, cid, len);
    return true;
}

static ho_quic_local_cid *local_by_seq(ho_quic_conn *c, uint64_t seq)
{
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++)
        if (c->local_cids[i].in_use && c->local_cids[i].seq == seq)
            return &c->local_cids[i];
    return NULL;
}

static ho_quic_peer_cid *peer_by_seq(ho_quic_conn *c, uint64_t seq)
{
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++)
        if (c->peer_cids[i].in_use && c->peer_cids[i].seq == seq)
            return &c->peer_cids[i];
    return NULL;
}

void ho_quic_cid_init(ho_quic_conn *c)
{
    ho_quic_local_cid *l = &c->local_cids[0];
    l->cid = c->scid;
    l->seq = 0;
    l->in_use = true;
    c->local_cid_next_seq = 1;
}

bool ho_quic_cid_is_ours(const ho_quic_conn *c, const ho_quic_cid *cid)
{
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++)
        if (c->local_cids[i].in_use && ho_quic_cid_eq(&c->local_cids[i].cid, cid))
            return true;
    return false;
}

static void peer_mark_used(ho_quic_conn *c, ho_quic_peer_cid *p)
{
    if (p->used)
        return;
    p->used = true;
    if (p->has_token && c->cid_hooks.peer_token != NULL)
        c->cid_hooks.peer_token(c->cid_hooks.ctx, c, p->token, true);
}

static void peer_forget(ho_quic_conn *c, ho_quic_peer_cid *p)
{
    if (p->used && p->has_token && c->cid_hooks.peer_token != NULL)
        c->cid_hooks.peer_token(c->cid_hooks.ctx, c, p->token, false);
    p->in_use = p->used = false;
}

/* The peer's seq-0 CID is the one we address it with after the handshake
 * (the SCID of its first packet); a server's carries the
 * stateless_reset_token transport parameter (§18.2). */
void ho_quic_cid_on_peer_tparams(ho_quic_conn *c)
{
    ho_quic_peer_cid *p = &c->peer_cids[0];
    if (p->in_use)
        return;
    memset(p, 0, sizeof(*p));
    p->cid = c->dcid;
    p->seq = 0;
    p->in_use = true;
    if (!c->is_server && ho_quic_tparams_has(&c->tpx.peer, HO_QUIC_TP_STATELESS_RESET_TOKEN)) {
        memcpy(p->token, c->tpx.peer.stateless_reset_token, sizeof(p->token));
        p->has_token = true;
    }
    c->dcid_seq = 0;
    peer_mark_used(c, p);
}

/* ---- ours ------------------------------------------------------------------ */

static bool issue_one(ho_quic_conn *c, ho_quic_local_cid *l)
{
    memset(l, 0, sizeof(*l));
    l->cid.len = c->scid.len;
    for (int attempt = 0; attempt < ISSUE_ATTEMPTS; attempt++) {
        ho_quic_cid_generate(&c->cfg, l->cid.data, l->cid.len);
        if (ho_quic_cid_is_ours(c, &l->cid))
            continue;
        if (c->cid_hooks.issued == NULL) {
            ho_random(l->token, sizeof(l->token));
            break;
        }
        if (c->cid_hooks.issued(c->cid_hooks.ctx, c, &l->cid, l->token) == HO_OK)
            break;
        if (attempt == ISSUE_ATTEMPTS - 1)
            return false;
    }
    l->seq = c->local_cid_next_seq++;
    l->in_use = true;
    l->new_pending = true;
    return true;
}

/* §5.1.1: an endpoint SHOULD supply as many CIDs as the peer's
 * active_connection_id_limit allows (ours capped at LOCAL_CIDS_MAX), and
 * MUST NOT exceed it. A zero-length CID cannot be changed. */
void ho_quic_cid_issue(ho_quic_conn *c)
{
    if (c->scid.len == 0 || !c->tpx.peer_received || c->state >= HO_QUIC_STATE_CLOSING)
        return;
    if (c->local_cids[0].in_use && c->local_cids[0].seq == 0 && c->is_server)
        memcpy(c->local_cids[0].token, c->tpx.local.stateless_reset_token, HO_QUIC_RESET_TOKEN_LEN);
    uint64_t limit = c->tpx.peer.active_connection_id_limit;
    if (limit > HO_QUIC_LOCAL_CIDS_MAX)
        limit = HO_QUIC_LOCAL_CIDS_MAX;
    size_t active = 0;
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++)
        active += c->local_cids[i].in_use;
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX && active < limit; i++) {
        if (c->local_cids[i].in_use)
            continue;
        if (!issue_one(c, &c->local_cids[i]))
            return;
        active++;
        c->stats.cids_issued++;
    }
}

/* RETIRE_CONNECTION_ID (§19.16). */
int ho_quic_cid_on_retire(ho_quic_conn *c, const ho_quic_frame *f)
{
    uint64_t seq = f->retire_connection_id.seq;
    /* §19.16: a sequence number greater than any we sent MAY be
     * PROTOCOL_VIOLATION; retiring the CID the packet was sent to MUST NOT
     * happen (PROTOCOL_VIOLATION). */
    if (seq >= c->local_cid_next_seq)
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    ho_quic_local_cid *l = local_by_seq(c, seq);
    if (l == NULL)
        return HO_OK; /* already retired */
    if (ho_quic_cid_eq(&l->cid, &c->rx_dcid))
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    if (c->cid_hooks.retired != NULL)
        c->cid_hooks.retired(c->cid_hooks.ctx, c, &l->cid);
    l->in_use = l->new_pending = false;
    c->stats.cids_retired++;
    /* §5.1.1: replace it, so the peer keeps a spare for migration. */
    ho_quic_cid_issue(c);
    return HO_OK;
}

/* ---- the peer's ------------------------------------------------------------ */

static int queue_retire(ho_quic_conn *c, uint64_t seq)
{
    for (size_t i = 0; i < c->nretire_pending; i++)
        if (c->retire_pending[i] == seq)
            return HO_OK;
    /* §5.1.2: an endpoint MAY treat too many unacknowledged retirements as
     * CONNECTION_ID_LIMIT_ERROR. */
    if (c->nretire_pending == HO_QUIC_RETIRE_PENDING_MAX)
        return HO_ERR_QUIC(HO_QUIC_CONNECTION_ID_LIMIT_ERROR);
    c->retire_pending[c->nretire_pending++] = seq;
    c->peer_retired[c->npeer_retired++ % HO_QUIC_RETIRE_PENDING_MAX] = seq;
    return HO_OK;
}

static bool recently_retired(const ho_quic_conn *c, uint64_t seq)
{
    size_t n = c->npeer_retired < HO_QUIC_RETIRE_PENDING_MAX ? c->npeer_retired : HO_QUIC_RETIRE_PENDING_MAX;
    for (size_t i = 0; i < n; i++)
        if (c->peer_retired[i] == seq)
            return true;
    return false;
}

static void use_peer(ho_quic_conn *c, ho_quic_peer_cid *p)
{
    c->dcid = p->cid;
    c->dcid_seq = p->seq;
    peer_mark_used(c, p);
}

/* An active peer CID other than the current one, never used (§9.5). */
static ho_quic_peer_cid *spare(ho_quic_conn *c)
{
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++) {
        ho_quic_peer_cid *p = &c->peer_cids[i];
        if (p->in_use && !p->used && p->seq != c->dcid_seq)
            return p;
    }
    return NULL;
}

bool ho_quic_cid_spare_available(const ho_quic_conn *c) { return spare((ho_quic_conn *)c) != NULL; }

bool ho_quic_cid_switch_dcid(ho_quic_conn *c)
{
    ho_quic_peer_cid *p = spare(c), *cur = peer_by_seq(c, c->dcid_seq);
    if (p == NULL)
        return false;
    if (cur != NULL && queue_retire(c, cur->seq) == HO_OK)
        peer_forget(c, cur);
    use_peer(c, p);
    return true;
}

/* NEW_CONNECTION_ID (§19.15, §5.1.1, §5.1.2). */
int ho_quic_cid_on_new(ho_quic_conn *c, const ho_quic_frame *f)
{
    /* §19.15: a peer that uses a zero-length CID MUST NOT send this. */
    if (c->dcid.len == 0)
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    uint64_t seq = f->new_connection_id.seq, rpt = f->new_connection_id.retire_prior_to;
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++) {
        const ho_quic_peer_cid *p = &c->peer_cids[i];
        if (!p->in_use)
            continue;
        bool same_cid = ho_quic_cid_eq(&p->cid, &f->new_connection_id.cid);
        /* §19.15: the same CID with another sequence number or token, or a
         * sequence number reused for another CID, MAY be PROTOCOL_VIOLATION. */
        if ((p->seq == seq) != same_cid ||
            (same_cid && p->has_token &&
             memcmp(p->token, f->new_connection_id.reset_token, HO_QUIC_RESET_TOKEN_LEN) != 0))
            return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    }
    int rc;
    if (rpt > c->peer_retire_prior_to) {
        /* §5.1.2: retire every CID below Retire Prior To, and send
         * RETIRE_CONNECTION_ID for each, before adding the new one. */
        c->peer_retire_prior_to = rpt;
        for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++) {
            ho_quic_peer_cid *p = &c->peer_cids[i];
            if (!p->in_use || p->seq >= rpt)
                continue;
            if ((rc = queue_retire(c, p->seq)) != HO_OK)
                return rc;
            peer_forget(c, p);
        }
    }
    if (seq < c->peer_retire_prior_to) {
        /* §19.15: a CID already below Retire Prior To is retired at once. */
        return queue_retire(c, seq);
    }
    if (peer_by_seq(c, seq) == NULL && !recently_retired(c, seq)) {
        /* (A retransmission of a CID we retired is not a new one.) */
        ho_quic_peer_cid *slot = NULL;
        for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX && slot == NULL; i++)
            if (!c->peer_cids[i].in_use)
                slot = &c->peer_cids[i];
        /* §5.1.1: more active CIDs than our active_connection_id_limit
         * (counting the handshake's) is CONNECTION_ID_LIMIT_ERROR. */
        if (slot == NULL)
            return HO_ERR_QUIC(HO_QUIC_CONNECTION_ID_LIMIT_ERROR);
        memset(slot, 0, sizeof(*slot));
        slot->cid = f->new_connection_id.cid;
        slot->seq = seq;
        memcpy(slot->token, f->new_connection_id.reset_token, HO_QUIC_RESET_TOKEN_LEN);
        slot->has_token = true;
        slot->in_use = true;
    }
    if (peer_by_seq(c, c->dcid_seq) == NULL) {
        /* The CID we used was retired: move to the lowest active one. */
        ho_quic_peer_cid *best = NULL;
        for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++)
            if (c->peer_cids[i].in_use && (best == NULL || c->peer_cids[i].seq < best->seq))
                best = &c->peer_cids[i];
        if (best != NULL)
            use_peer(c, best);
    }
    return HO_OK;
}

/* §10.3.1: compare the last 16 bytes with every token of a peer CID we
 * used and have not retired, in constant time per token. */
bool ho_quic_cid_is_stateless_reset(const ho_quic_conn *c, const uint8_t *dgram, size_t len)
{
    /* §10.3: a stateless reset is at least 21 bytes. */
    if (len < 5 + HO_QUIC_RESET_TOKEN_LEN)
        return false;
    const uint8_t *tail = dgram + len - HO_QUIC_RESET_TOKEN_LEN;
    bool match = false;
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++) {
        const ho_quic_peer_cid *p = &c->peer_cids[i];
        if (!p->in_use || !p->used || !p->has_token)
            continue;
        uint8_t diff = 0;
        for (size_t k = 0; k < HO_QUIC_RESET_TOKEN_LEN; k++)
            diff |= (uint8_t)(p->token[k] ^ tail[k]);
        match |= diff == 0;
    }
    return match;
}

/* ---- frames out ------------------------------------------------------------ */

bool ho_quic_cid_next_frame(ho_quic_conn *c, ho_quic_frame *f)
{
    memset(f, 0, sizeof(*f));
    if (c->nretire_pending > 0) {
        f->type = HO_QUIC_FT_RETIRE_CONNECTION_ID;
        f->retire_connection_id.seq = c->retire_pending[0];
        return true;
    }
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++) {
        const ho_quic_local_cid *l = &c->local_cids[i];
        if (!l->in_use || !l->new_pending)
            continue;
        f->type = HO_QUIC_FT_NEW_CONNECTION_ID;
        f->new_connection_id.seq = l->seq;
        f->new_connection_id.retire_prior_to = 0;
        f->new_connection_id.cid = l->cid;
        memcpy(f->new_connection_id.reset_token, l->token, HO_QUIC_RESET_TOKEN_LEN);
        return true;
    }
    return false;
}

void ho_quic_cid_frame_sent(ho_quic_conn *c, const ho_quic_frame *f)
{
    if (f->type == HO_QUIC_FT_RETIRE_CONNECTION_ID) {
        for (size_t i = 0; i < c->nretire_pending; i++) {
            if (c->retire_pending[i] != f->retire_connection_id.seq)
                continue;
            memmove(&c->retire_pending[i], &c->retire_pending[i + 1],
                    (c->nretire_pending - i - 1) * sizeof(c->retire_pending[0]));
            c->nretire_pending--;
            break;
        }
    } else if (f->type == HO_QUIC_FT_NEW_CONNECTION_ID) {
        ho_quic_local_cid *l = local_by_seq(c, f->new_connection_id.seq);
        if (l != NULL)
            l->new_pending = false;
    }
}

/* §13.3: NEW_CONNECTION_ID and RETIRE_CONNECTION_ID are sent again when
 * lost (the former only while the CID is still active). */
void ho_quic_cid_frame_lost(ho_quic_conn *c, uint8_t kind, uint64_t seq)
{
    if (kind == HO_QUIC_SF_NEW_CID) {
        ho_quic_local_cid *l = local_by_seq(c, seq);
        if (l != NULL)
            l->new_pending = true;
    } else if (kind == HO_QUIC_SF_RETIRE_CID) {
        (void)queue_retire(c, seq);
    }
}

void ho_quic_cid_release_all(ho_quic_conn *c)
{
    for (size_t i = 0; i < HO_QUIC_LOCAL_CIDS_MAX; i++) {
        ho_quic_local_cid *l = &c->local_cids[i];
        if (l->in_use && c->cid_hooks.retired != NULL)
            c->cid_hooks.retired(c->cid_hooks.ctx, c, &l->cid);
        l->in_use = false;
    }
    for (size_t i = 0; i < HO_QUIC_PEER_CIDS_MAX; i++)
        if (c->peer_cids[i].in_use)
            peer_forget(c, &c->peer_cids[i]);
}
