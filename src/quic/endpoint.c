/* The sans-I/O QUIC server endpoint (include/handoff/quic.h, "endpoint"):
 * demultiplexing by destination connection ID (RFC 9000 §5.2), Version
 * Negotiation (§6), Retry with address-validation tokens (§8.1.2),
 * stateless reset (§10.3), admission limits (§5.2.2), connection lifetime.
 *
 * Single-threaded: one endpoint per I/O thread. Connections are in a doubly
 * linked list (send round-robin, timers) and in a chained hash table keyed
 * by connection ID with a keyed SipHash (the client picks its original DCID,
 * so the table must resist hash flooding). Each connection has two keys
 * from the start: its own SCID, and the DCID of the client's Initial (the
 * original DCID, or after a Retry the Retry SCID) which the client uses
 * until it switches to our SCID (§7.2); then every CID it issues with
 * NEW_CONNECTION_ID, until retired (cid_hooks). Nothing is keyed on the
 * peer's address: a connection follows its client to a new one (§9).
 * A second table maps the peer's stateless reset tokens to connections
 * (§10.3.1: a reset carries no CID of ours). */
#include <string.h>
#include <stdlib.h>
#include <time.h>
#include <netinet/in.h>

#include "base/mem.h"
#include "handoff/quic.h"
#include "handoff/crypto.h"
#include "handoff/io.h" /* ho_offload_mode */
#include "quic/conn_int.h"
#include "quic/endpoint_int.h"
#include "quic/new_token.h"
#include "quic/packet.h"

#define DEFAULT_MAX_CONNS 10000
#define DEFAULT_TOKEN_LIFETIME HO_QUIC_SEC(10)
#define DEFAULT_RESETS_PER_SEC 1000
#define TOKEN_MARK 0x52            /* 'R': a Retry token of ours */
#define DEFAULT_NT_LIFETIME_MS (24 * 3600 * 1000LL)
#define MIN_RESET_LEN 21           /* RFC 9000 §10.3: 5 + 16 bytes */
#define GREASE_VERSION 0x1a2a3a4au /* §15: reserved 0x?a?a?a?a */
#define DEFAULT_STEP_QUEUE 64

/* ---- SipHash-2-4 (keyed, for the CID table) ------------------------------ */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                                                      \
    do {                                                                                              \
        v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);                                     \
        v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                                                        \
        v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                                                        \
        v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);                                     \
    } while (0)

static uint64_t siphash(uint64_t k0, uint64_t k1, const uint8_t *in, size_t len)
{
    uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
    uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
    uint64_t b = (uint64_t)len << 56;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t m = 0;
        for (size_t j = 0; j < 8; j++)
            m |= (uint64_t)in[i + j] << (8 * j);
        v3 ^= m;
        SIPROUND;
        SIPROUND;
        v0 ^= m;
    }
    for (int j = 0; i < len; i++, j++)
        b |= (uint64_t)in[i] << (8 * j);
    v3 ^= b;
    SIPROUND;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- the CID table (and the token table: 16-byte keys) ------------------ */

static size_t bucket_of(const ho_quic_endpoint *ep, const cid_table *t, const uint8_t *cid, size_t len)
{
    return (size_t)(siphash(ep->sip_k0, ep->sip_k1, cid, len) & (t->nbuckets - 1));
}

static ep_conn *table_find(const ho_quic_endpoint *ep, const cid_table *t, const uint8_t *cid, size_t len)
{
    if (len > HO_QUIC_MAX_CID_LEN)
        return NULL;
    for (ep_entry *e = t->buckets[bucket_of(ep, t, cid, len)]; e != NULL; e = e->next)
        if (e->cid.len == len && memcmp(e->cid.data, cid, len) == 0)
            return e->ec;
    return NULL;
}

static void table_grow(const ho_quic_endpoint *ep, cid_table *t)
{
    size_t n = t->nbuckets * 2;
    ep_entry **nb = ho_mem_calloc(n, sizeof(*nb));
    if (nb == NULL)
        return; /* keep the longer chains */
    ep_entry **old = t->buckets;
    size_t on = t->nbuckets;
    t->buckets = nb;
    t->nbuckets = n;
    for (size_t i = 0; i < on; i++) {
        for (ep_entry *e = old[i], *next; e != NULL; e = next) {
            next = e->next;
            size_t b = bucket_of(ep, t, e->cid.data, e->cid.len);
            e->next = nb[b];
            nb[b] = e;
        }
    }
    ho_mem_free(old);
}

static int table_add(const ho_quic_endpoint *ep, cid_table *t, const ho_quic_cid *cid, ep_conn *ec)
{
    if (table_find(ep, t, cid->data, cid->len) != NULL)
        return HO_ERR_INVALID_ARG; /* a collision: refuse rather than misroute */
    ep_entry *e = ho_mem_alloc(sizeof(*e));
    if (e == NULL)
        return HO_ERR_NOMEM;
    e->cid = *cid;
    e->ec = ec;
    size_t b = bucket_of(ep, t, cid->data, cid->len);
    e->next = t->buckets[b];
    t->buckets[b] = e;
    if (++t->nentries > t->nbuckets)
        table_grow(ep, t);
    return HO_OK;
}

static void table_del(const ho_quic_endpoint *ep, cid_table *t, const ho_quic_cid *cid, const ep_conn *ec)
{
    for (ep_entry **pp = &t->buckets[bucket_of(ep, t, cid->data, cid->len)]; *pp != NULL; pp = &(*pp)->next) {
        ep_entry *e = *pp;
        if (e->ec == ec && ho_quic_cid_eq(&e->cid, cid)) {
            *pp = e->next;
            ho_mem_free(e);
            t->nentries--;
            return;
        }
    }
}

static void table_free(cid_table *t)
{
    for (size_t i = 0; t->buckets != NULL && i < t->nbuckets; i++) {
        for (ep_entry *e = t->buckets[i], *next; e != NULL; e = next) {
            next = e->next;
            ho_mem_free(e);
        }
    }
    ho_mem_free(t->buckets);
}

/* ---- the connections' CIDs and the peers' tokens (conn_int.h cid_hooks) -- */

static ep_conn *ep_conn_of(const ho_quic_conn *c) { return c->cid_hooks.owner; }

bool ho_quic_endpoint_conn_offloaded(const ho_quic_conn *c)
{
    const ep_conn *ec = ep_conn_of(c);
    return ec != NULL && ec->step_offloaded;
}

static int hook_issued(void *ctx, ho_quic_conn *c, const ho_quic_cid *cid, uint8_t token[16])
{
    ho_quic_endpoint *ep = ctx;
    /* §10.3.2: the endpoint's derivation, so any endpoint sharing the
     * static secret can reset the connection for any of its CIDs. */
    ho_quic_endpoint_reset_token(ep, cid->data, cid->len, token);
    return table_add(ep, &ep->cids, cid, ep_conn_of(c));
}

static void hook_retired(void *ctx, ho_quic_conn *c, const ho_quic_cid *cid)
{
    ho_quic_endpoint *ep = ctx;
    ep_conn *ec = ep_conn_of(c);
    if (ec->nretired == RETIRED_KEPT)
        table_del(ep, &ep->cids, &ec->retired[ec->retired_next], ec);
    else
        ec->nretired++;
    ec->retired[ec->retired_next] = *cid;
    ec->retired_next = (ec->retired_next + 1) % RETIRED_KEPT;
}

static void hook_peer_token(void *ctx, ho_quic_conn *c, const uint8_t token[16], bool add)
{
    ho_quic_endpoint *ep = ctx;
    ho_quic_cid key;
    ho_quic_cid_set(&key, token, HO_QUIC_RESET_TOKEN_LEN);
    if (add)
        (void)table_add(ep, &ep->tokens, &key, ep_conn_of(c)); /* a duplicate token stays with its first owner */
    else
        table_del(ep, &ep->tokens, &key, ep_conn_of(c));
}

/* ---- life cycle ------------------------------------------------------------ */

ho_quic_endpoint *ho_quic_endpoint_new(const ho_quic_endpoint_config *cfg)
{
    ho_event_threshold(); /* reads HANDOFF_LOG once: endpoint events may come first */
    if (cfg == NULL || !cfg->conn.is_server || cfg->conn.tls == NULL || !ho_tls_config_is_server(cfg->conn.tls))
        return NULL;
    ho_quic_endpoint *ep = ho_mem_calloc(1, sizeof(*ep));
    if (ep == NULL)
        return NULL;
    ep->cfg = *cfg;
    if (ep->cfg.max_connections == 0)
        ep->cfg.max_connections = DEFAULT_MAX_CONNS;
    if (ep->cfg.token_lifetime <= 0)
        ep->cfg.token_lifetime = DEFAULT_TOKEN_LIFETIME;
    if (ep->cfg.stateless_resets_per_sec == 0)
        ep->cfg.stateless_resets_per_sec = DEFAULT_RESETS_PER_SEC;
    if (ep->cfg.new_token_lifetime_ms == 0)
        ep->cfg.new_token_lifetime_ms = DEFAULT_NT_LIFETIME_MS;
    ep->cid_len = cfg->conn.cid_len;
    if (ep->cid_len == 0 || ep->cid_len > HO_QUIC_MAX_CID_LEN)
        ep->cid_len = 8; /* the connection's default (conn.c) */
    /* A stateless reset must not be distinguishable from a short packet of
     * ours; §10.3 needs a CID long enough that the token is not guessable
     * from it — our CIDs are random. */
    ep->cfg.conn.cid_len = ep->cid_len;
    ep->head.next = ep->head.prev = &ep->head;
    ep->steps.next = ep->steps.prev = &ep->steps;
    if (ep->cfg.step_queue_max == 0)
        ep->cfg.step_queue_max = DEFAULT_STEP_QUEUE;
    if (ep->cfg.pool != NULL && ep->cfg.home == NULL) {
        ho_mem_free(ep);
        return NULL;
    }
    ep->cids.nbuckets = ep->tokens.nbuckets = 64;
    ep->cids.buckets = ho_mem_calloc(ep->cids.nbuckets, sizeof(*ep->cids.buckets));
    ep->tokens.buckets = ho_mem_calloc(ep->tokens.nbuckets, sizeof(*ep->tokens.buckets));
    ep->queue = ho_mem_calloc(QUEUE_MAX, sizeof(*ep->queue));
    /* Keys from the static secret (HKDF-Expand with distinct labels). */
    uint8_t tkey[16], tiv[HO_AEAD_IV_LEN];
    int rc = crypto_hkdf_expand(HO_HASH_SHA256, cfg->static_secret, "handoff quic token key", 22, tkey, sizeof(tkey));
    if (rc == HO_OK)
        rc = crypto_hkdf_expand(HO_HASH_SHA256, cfg->static_secret, "handoff quic token iv", 21, tiv, sizeof(tiv));
    if (rc == HO_OK)
        rc = crypto_hkdf_expand(HO_HASH_SHA256, cfg->static_secret, "handoff quic reset key", 22, ep->reset_key,
                            sizeof(ep->reset_key));
    if (rc == HO_OK) {
        ep->token_seal = crypto_aead_new(HO_AEAD_AES_128_GCM, true, tkey, tiv);
        ep->token_open = crypto_aead_new(HO_AEAD_AES_128_GCM, false, tkey, tiv);
    }
    ho_wipe(tkey, sizeof(tkey));
    ep->retry_aead = ho_quic_retry_aead_new(HO_QUIC_VERSION_1);
    if (rc == HO_OK)
        rc = ho_quic_initial_check_keys_new(&ep->initial_rx);
    /* Random per-endpoint: the table's hash key and the token nonce start
     * (a 64-bit counter from a random start: GCM nonces never repeat within
     * one endpoint; across endpoints sharing the secret, collisions are
     * birthday-bounded at 2^32 tokens). */
    ho_random(&ep->sip_k0, sizeof(ep->sip_k0));
    ho_random(&ep->sip_k1, sizeof(ep->sip_k1));
    ho_random(&ep->token_seq, sizeof(ep->token_seq));
    ep->reset_budget = ep->cfg.stateless_resets_per_sec;
    if (rc != HO_OK || ep->cids.buckets == NULL || ep->tokens.buckets == NULL || ep->queue == NULL ||
        ep->token_seal == NULL || ep->token_open == NULL ||
        ep->retry_aead == NULL) {
        ho_quic_endpoint_free(ep);
        return NULL;
    }
    return ep;
}

/* ---- the active list and the timer heap ----------------------------------- */

static bool heap_less(const ho_quic_endpoint *ep, size_t a, size_t b)
{
    return ep->heap[a]->deadline < ep->heap[b]->deadline;
}

static void heap_set(ho_quic_endpoint *ep, size_t i, ep_conn *ec)
{
    ep->heap[i] = ec;
    ec->hpos = i + 1;
}

static void heap_sift(ho_quic_endpoint *ep, size_t i)
{
    ep_conn *ec = ep->heap[i];
    while (i > 0 && ec->deadline < ep->heap[(i - 1) / 2]->deadline) {
        heap_set(ep, i, ep->heap[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    heap_set(ep, i, ec);
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < ep->hlen && heap_less(ep, l, m))
            m = l;
        if (l + 1 < ep->hlen && heap_less(ep, l + 1, m))
            m = l + 1;
        if (m == i)
            break;
        heap_set(ep, i, ep->heap[m]);
        heap_set(ep, m, ec);
        i = m;
    }
}

static void heap_remove(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ec->hpos == 0)
        return;
    size_t i = ec->hpos - 1;
    ec->hpos = 0;
    ep->hlen--;
    if (i == ep->hlen)
        return;
    heap_set(ep, i, ep->heap[ep->hlen]);
    heap_sift(ep, i);
}

/* Files a connection that has nothing to send under its deadline. */
static void heap_insert(ho_quic_endpoint *ep, ep_conn *ec)
{
    ec->deadline = ho_quic_conn_next_timeout(ec->c);
    if (ec->deadline == HO_QUIC_TIME_NEVER)
        return; /* woken only by a datagram or the application */
    if (ep->hlen == ep->hcap) {
        size_t cap = ep->hcap ? 2 * ep->hcap : 64;
        ep_conn **h = ho_mem_realloc(ep->heap, cap * sizeof(*h));
        if (h == NULL) {
            /* Without room in the heap it stays active: looked at every
             * tick, never lost. */
            ep->st.queue_overflows++;
            return;
        }
        ep->heap = h;
        ep->hcap = cap;
    }
    heap_set(ep, ep->hlen++, ec);
    heap_sift(ep, ep->hlen - 1);
}

static void act_unlink(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ep->cursor == ec)
        ep->cursor = ec->aprev;
    if (ec->aprev != NULL)
        ec->aprev->anext = ec->anext;
    else
        ep->act_head = ec->anext;
    if (ec->anext != NULL)
        ec->anext->aprev = ec->aprev;
    else
        ep->act_tail = ec->aprev;
    ec->aprev = ec->anext = NULL;
    ec->active = false;
}

/* The connection may have something to send or a new deadline. */
void quic_ep_activate(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ec->active)
        return;
    heap_remove(ep, ec);
    ec->active = true;
    ec->anext = NULL;
    ec->aprev = ep->act_tail;
    if (ep->act_tail != NULL)
        ep->act_tail->anext = ec;
    else
        ep->act_head = ec;
    ep->act_tail = ec;
}

/* It has nothing to send now: back to the heap. */
static void deactivate(ho_quic_endpoint *ep, ep_conn *ec)
{
    act_unlink(ep, ec);
    heap_insert(ep, ec);
    if (ec->deadline != HO_QUIC_TIME_NEVER && ec->hpos == 0)
        quic_ep_activate(ep, ec); /* no memory for the heap */
}

/* The connection's wake hook: the application changed it (a stream
 * written or read, a close, a key update, a migration). */
static void hook_wake(void *ctx, ho_quic_conn *c)
{
    ep_conn *ec = c->cid_hooks.owner;
    if (ec != NULL)
        quic_ep_activate(ctx, ec);
}

static void queue_clear(ep_conn *ec)
{
    for (ep_dgram *d = ec->q_head, *next; d != NULL; d = next) {
        next = d->next;
        ho_mem_free(d);
    }
    ec->q_head = ec->q_tail = NULL;
    ec->qn = 0;
}

static void conn_release(ho_quic_endpoint *ep, ep_conn *ec)
{
    quic_ep_async_forget(ep, ec);
    if (ep->cfg.on_conn_free != NULL)
        ep->cfg.on_conn_free(ep->cfg.ctx, ep, ec->c);
    if (ec->in_handshake)
        ep->st.handshakes_in_progress--;
    queue_clear(ec);
    ho_quic_cid_release_all(ec->c); /* every issued CID, every peer token */
    for (int i = 0; i < ec->nkeys; i++)
        table_del(ep, &ep->cids, &ec->keys[i], ec);
    for (int i = 0; i < ec->nretired; i++)
        table_del(ep, &ep->cids, &ec->retired[i], ec);
    if (ec->active)
        act_unlink(ep, ec);
    heap_remove(ep, ec);
    ec->prev->next = ec->next;
    ec->next->prev = ec->prev;
    ep->nconns--;
    ep->st.freed++;
    ep->st.packets_sent += ec->c->stats.packets_sent;
    ep->st.packets_received += ec->c->stats.packets_received;
    ep->st.packets_lost += ec->c->stats.packets_lost;
    ep_step *s = ec->step;
    if (s != NULL && !s->back) {
        /* The step is still running on a worker, which owns the
         * connection's TLS: its done step frees the connection. */
        s->ec = NULL;
        ep->st.steps_orphaned++;
    } else if (ec->c->async.parked) {
        /* The application still holds its callback: the completion frees
         * the connection (async_done). */
        ec->c->async.next_zombie = ep->zombies;
        ep->zombies = ec->c;
    } else {
        if (s != NULL) { /* back, not finished: forget it */
            quic_ep_step_unlink(ep, s);
            ho_mem_free(s);
        }
        ho_quic_conn_free(ec->c);
    }
    ho_mem_free(ec);
}

void ho_quic_endpoint_free(ho_quic_endpoint *ep)
{
    if (ep == NULL)
        return;
    while (ep->head.next != &ep->head)
        conn_release(ep, ep->head.next);
    /* Steps still on the pool: their done steps must not come back here. */
    for (ep_step *s = ep->steps.next, *next; s != &ep->steps; s = next) {
        next = s->next;
        s->ep = NULL;
        s->prev = s->next = s;
    }
    /* Callbacks still held by the application: their completion frees
     * the connection without the endpoint. */
    for (ho_quic_conn *z = ep->zombies; z != NULL; z = z->async.next_zombie)
        z->async.ep = NULL;
    table_free(&ep->cids);
    table_free(&ep->tokens);
    ho_mem_free(ep->queue);
    ho_mem_free(ep->heap);
    ho_mem_free(ep->scratch);
    ho_quic_keys_free(&ep->initial_rx);
    crypto_aead_free(ep->token_seal);
    crypto_aead_free(ep->token_open);
    crypto_aead_free(ep->retry_aead);
    ho_wipe(ep->reset_key, sizeof(ep->reset_key));
    ho_mem_free(ep);
}

/* Frees the connection once it reached the closed state (after draining or
 * an idle timeout). */
void quic_ep_maybe_release(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ho_quic_conn_is_closed(ec->c))
        conn_release(ep, ec);
}

/* ---- endpoint-generated datagrams ------------------------------------------ */

static ep_pkt *queue_slot(ho_quic_endpoint *ep, const ho_quic_path *path)
{
    if (ep->qlen == QUEUE_MAX) {
        ep->st.queue_overflows++;
        return NULL;
    }
    ep_pkt *p = &ep->queue[(ep->qhead + ep->qlen) % QUEUE_MAX];
    p->len = 0;
    if (path != NULL)
        p->path = *path;
    else
        memset(&p->path, 0, sizeof(p->path));
    return p;
}

static void queue_commit(ho_quic_endpoint *ep, ep_pkt *p, const ho_buf *b)
{
    if (b->failed || b->len == 0 || b->len > PKT_MAX)
        return;
    memcpy(p->data, b->data, b->len);
    p->len = b->len;
    ep->qlen++;
}

void ho_quic_endpoint_reset_token(const ho_quic_endpoint *ep, const uint8_t *cid, size_t cid_len, uint8_t token[16])
{
    uint8_t mac[32];
    crypto_hmac(HO_HASH_SHA256, ep->reset_key, sizeof(ep->reset_key), cid, cid_len, mac);
    memcpy(token, mac, HO_QUIC_RESET_TOKEN_LEN);
    ho_wipe(mac, sizeof(mac));
}

/* RFC 9000 §10.3: a stateless reset for a short-header packet whose DCID we
 * do not know. */
static void send_stateless_reset(ho_quic_endpoint *ep, const uint8_t *dcid, size_t len, const ho_quic_path *path,
                                 ho_quic_time now)
{
    /* §10.3.3: every reset MUST be smaller than the packet that triggered
     * it (loop prevention), and a reset is at least 21 bytes (§10.3: 5
     * unpredictable bytes + the 16-byte token), so a trigger of 21 bytes or
     * less is never answered. */
    if (len <= MIN_RESET_LEN) {
        ep->st.resets_suppressed++;
        return;
    }
    /* §10.3: generating resets SHOULD be rate limited (token bucket). */
    if (now > ep->reset_refill_at) {
        double add = (double)(now - ep->reset_refill_at) / 1e9 * ep->cfg.stateless_resets_per_sec;
        ep->reset_budget += add;
        if (ep->reset_budget > ep->cfg.stateless_resets_per_sec)
            ep->reset_budget = ep->cfg.stateless_resets_per_sec;
        ep->reset_refill_at = now;
    }
    if (ep->reset_budget < 1.0) {
        ep->st.resets_suppressed++;
        return;
    }
    ep->reset_budget -= 1.0;
    ep_pkt *p = queue_slot(ep, path);
    if (p == NULL)
        return;
    /* One byte shorter than the trigger, capped at 43 bytes (§10.3: the
     * size of a minimal short packet with a 20-byte CID and padding is
     * enough to make it indistinguishable). */
    size_t out = len - 1;
    if (out > 43)
        out = 43;
    ho_random(p->data, out - HO_QUIC_RESET_TOKEN_LEN);
    /* §10.3: first byte 0b01xxxxxx (fixed bit set, short header form). */
    p->data[0] = (uint8_t)((p->data[0] & 0x3f) | 0x40);
    ho_quic_endpoint_reset_token(ep, dcid, ep->cid_len, p->data + out - HO_QUIC_RESET_TOKEN_LEN);
    p->len = out;
    ep->qlen++;
    ep->st.resets_sent++;
    quic_ev_endpoint(HO_EV_QUIC_RESET_SENT, dcid, ep->cid_len, out, 0, now);
}

/* The versions the endpoint accepts (ho_quic_config.versions; none set:
 * 1 and 2), into out; their count. */
static size_t ep_versions(const ho_quic_endpoint *ep, uint32_t out[HO_QUIC_CONFIG_VERSIONS])
{
    size_t n = 0;
    for (size_t i = 0; i < HO_QUIC_CONFIG_VERSIONS && ep->cfg.conn.versions[i] != 0; i++)
        if (ho_quic_version_supported(ep->cfg.conn.versions[i]))
            out[n++] = ep->cfg.conn.versions[i];
    if (n == 0) {
        out[n++] = HO_QUIC_VERSION_1;
        out[n++] = HO_QUIC_VERSION_2;
    }
    return n;
}

static bool ep_accepts(const ho_quic_endpoint *ep, uint32_t v)
{
    uint32_t list[HO_QUIC_CONFIG_VERSIONS];
    size_t n = ep_versions(ep, list);
    for (size_t i = 0; i < n; i++)
        if (list[i] == v)
            return true;
    return false;
}

/* RFC 9000 §6.1: Version Negotiation for a long header of a version we do
 * not support. */
static void send_vn(ho_quic_endpoint *ep, const ho_quic_invariant *inv, const ho_quic_path *path, ho_quic_time now)
{
    ep_pkt *p = queue_slot(ep, path);
    if (p == NULL)
        return;
    /* We offer our versions and a reserved one (§6.3: greasing, so
     * clients never depend on the list being exact). */
    uint32_t versions[HO_QUIC_CONFIG_VERSIONS + 1];
    size_t nv = ep_versions(ep, versions);
    versions[nv++] = GREASE_VERSION;
    uint8_t unused;
    ho_random(&unused, 1);
    ho_buf b;
    ho_buf_init(&b);
    if (ho_quic_vn_write(&b, inv->dcid, inv->dcid_len, inv->scid, inv->scid_len, versions, nv, unused) == HO_OK) {
        queue_commit(ep, p, &b);
        ep->st.vn_sent++;
        quic_ev_endpoint(HO_EV_QUIC_VN_SENT, inv->dcid, inv->dcid_len, b.len, 0, now);
    }
    ho_buf_free(&b);
}

/* An Initial carrying CONNECTION_CLOSE (0x1c) with a transport error, for a
 * connection we never create: CONNECTION_REFUSED (§5.2.2) or INVALID_TOKEN
 * (§8.1.3). Protected with the Initial keys of the client's DCID. */
static void send_initial_close(ho_quic_endpoint *ep, const ho_quic_header *hdr, uint64_t code,
                               const ho_quic_path *path)
{
    ho_quic_keys tx = {0}, rx = {0};
    if (ho_quic_initial_keys(hdr->version, hdr->dcid.data, hdr->dcid.len, true, &tx, &rx) != HO_OK)
        goto out;
    ep_pkt *p = queue_slot(ep, path);
    if (p == NULL)
        goto out;
    ho_quic_header h = {0};
    h.type = HO_QUIC_PKT_INITIAL;
    h.version = hdr->version;
    h.dcid = hdr->scid;
    h.scid.len = (uint8_t)ep->cid_len;
    ho_random(h.scid.data, h.scid.len);
    h.pn = 0;
    h.pn_len = 1;
    ho_buf b;
    ho_buf_init(&b);
    size_t start;
    if (ho_quic_header_write(&b, &h, &start) == HO_OK) {
        ho_put_varint(&b, HO_QUIC_FT_CONNECTION_CLOSE);
        ho_put_varint(&b, code);
        ho_put_varint(&b, 0); /* frame type: unknown */
        ho_put_varint(&b, 0); /* no reason phrase */
        /* Not ack-eliciting: no 1200-byte padding required (§14.1). */
        if (ho_quic_packet_seal(&b, start, &h, &tx, 0) == HO_OK)
            queue_commit(ep, p, &b);
    }
    ho_buf_free(&b);
out:
    ho_quic_keys_free(&tx);
    ho_quic_keys_free(&rx);
}

/* ---- address-validation tokens (RFC 9000 §8.1.2, §8.1.3) ------------------
 * token = 'R' | seq (8) | AES-128-GCM(seq; aad = 'R' | seq | peer address)
 *         { expiry (8), odcid_len, odcid, rscid_len, rscid }
 * The peer address binds the token to the client's address (§8.1.3: the
 * server MUST ensure the token is valid for the address it arrived from),
 * the expiry bounds replay (§8.1.3: tokens SHOULD have an expiration), the
 * original DCID lets the server fill original_destination_connection_id
 * without state (§7.3). */

static size_t addr_bytes(const struct sockaddr_storage *ss, socklen_t len, uint8_t out[20])
{
    if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        out[0] = 4;
        memcpy(out + 1, &a->sin_port, 2);
        memcpy(out + 3, &a->sin_addr, 4);
        return 7;
    }
    if (ss->ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        out[0] = 6;
        memcpy(out + 1, &a->sin6_port, 2);
        memcpy(out + 3, &a->sin6_addr, 16);
        return 19;
    }
    out[0] = 0;
    return 1;
}

#define TOKEN_HDR 9
#define TOKEN_MAX (TOKEN_HDR + 8 + 1 + HO_QUIC_MAX_CID_LEN + 1 + HO_QUIC_MAX_CID_LEN + CRYPTO_AEAD_TAG_LEN)

static size_t token_aad(const uint8_t *hdr9, const ho_quic_path *path, uint8_t aad[TOKEN_HDR + 20])
{
    memcpy(aad, hdr9, TOKEN_HDR);
    size_t n = path != NULL ? addr_bytes(&path->remote, path->remote_len, aad + TOKEN_HDR) : (aad[TOKEN_HDR] = 0, (size_t)1);
    return TOKEN_HDR + n;
}

static size_t token_make(ho_quic_endpoint *ep, const ho_quic_cid *odcid, const ho_quic_cid *rscid,
                         const ho_quic_path *path, ho_quic_time expiry, uint8_t out[TOKEN_MAX])
{
    uint64_t seq = ep->token_seq++;
    out[0] = TOKEN_MARK;
    for (int i = 0; i < 8; i++)
        out[1 + i] = (uint8_t)(seq >> (56 - 8 * i));
    uint8_t pt[8 + 2 + 2 * HO_QUIC_MAX_CID_LEN];
    size_t n = 0;
    for (int i = 0; i < 8; i++)
        pt[n++] = (uint8_t)((uint64_t)expiry >> (56 - 8 * i));
    pt[n++] = odcid->len;
    memcpy(pt + n, odcid->data, odcid->len);
    n += odcid->len;
    pt[n++] = rscid->len;
    memcpy(pt + n, rscid->data, rscid->len);
    n += rscid->len;
    uint8_t aad[TOKEN_HDR + 20];
    size_t aadlen = token_aad(out, path, aad);
    if (crypto_aead_seal(ep->token_seal, seq, aad, aadlen, pt, n, out + TOKEN_HDR) != HO_OK)
        return 0;
    return TOKEN_HDR + n + CRYPTO_AEAD_TAG_LEN;
}

static int64_t wall_ms(const ho_quic_endpoint *ep)
{
    if (ep->cfg.wall_clock_ms != NULL)
        return ep->cfg.wall_clock_ms(ep->cfg.ctx);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The handshake of ec is confirmed (server: at completion, RFC 9001
 * §4.1.2): give the client a token for its next connection (§8.1.3). */
static void nt_issue(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ep->cfg.new_token_lifetime_ms < 0)
        return;
    uint8_t tok[QUIC_NT_LEN];
    /* RFC 9369 §5: the token belongs to the negotiated version. */
    size_t len = quic_nt_make(ep->token_seal, ep->token_seq++, &ec->c->path, ec->c->version, wall_ms(ep),
                              ep->cfg.new_token_lifetime_ms, tok);
    if (len != 0 && ho_quic_new_token_queue(ec->c, tok, len) == HO_OK)
        ep->st.new_tokens_issued++;
}

/* TOKEN_NEW_OK: a NEW_TOKEN token of ours, valid for this client. */
typedef enum { TOKEN_NONE, TOKEN_OK, TOKEN_BAD, TOKEN_NEW_OK } token_result;

/* TOKEN_NONE: empty, or not a Retry token of ours: a NEW_TOKEN token that
 * does not check (expired, another address, forged) or another server's
 * token is treated as absent (§8.1.3: SHOULD NOT drop the packet, treat
 * as if no token) and counted in new_tokens_refused. TOKEN_BAD: a Retry
 * token of ours but forged, expired, for another address or another
 * Retry SCID. */
static token_result token_check(ho_quic_endpoint *ep, const ho_quic_header *hdr, const ho_quic_path *path,
                                ho_quic_time now, ho_quic_cid *odcid)
{
    if (hdr->token_len == 0)
        return TOKEN_NONE;
    if (hdr->token[0] != TOKEN_MARK) {
        if (quic_nt_check(ep->token_open, hdr->token, hdr->token_len, path, hdr->version, wall_ms(ep))) {
            ep->st.new_tokens_accepted++;
            return TOKEN_NEW_OK;
        }
        ep->st.new_tokens_refused++;
        return TOKEN_NONE;
    }
    if (hdr->token_len < TOKEN_HDR + 8 + 2 + CRYPTO_AEAD_TAG_LEN || hdr->token_len > TOKEN_MAX)
        return TOKEN_BAD;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++)
        seq = seq << 8 | hdr->token[1 + i];
    uint8_t aad[TOKEN_HDR + 20];
    size_t aadlen = token_aad(hdr->token, path, aad);
    uint8_t pt[TOKEN_MAX];
    size_t ctlen = hdr->token_len - TOKEN_HDR;
    if (crypto_aead_open(ep->token_open, seq, aad, aadlen, hdr->token + TOKEN_HDR, ctlen, pt) != HO_OK)
        return TOKEN_BAD;
    size_t ptlen = ctlen - CRYPTO_AEAD_TAG_LEN, n = 8;
    uint64_t expiry = 0;
    for (int i = 0; i < 8; i++)
        expiry = expiry << 8 | pt[i];
    if ((ho_quic_time)expiry < now)
        return TOKEN_BAD; /* expired */
    ho_quic_cid rscid;
    if (n >= ptlen || pt[n] > HO_QUIC_MAX_CID_LEN || n + 1 + pt[n] >= ptlen)
        return TOKEN_BAD;
    ho_quic_cid_set(odcid, pt + n + 1, pt[n]);
    n += 1 + pt[n];
    if (pt[n] > HO_QUIC_MAX_CID_LEN || n + 1 + pt[n] != ptlen)
        return TOKEN_BAD;
    ho_quic_cid_set(&rscid, pt + n + 1, pt[n]);
    /* The client MUST use the Retry's SCID as its DCID (§7.2, §17.2.5.2). */
    if (!ho_quic_cid_eq(&rscid, &hdr->dcid))
        return TOKEN_BAD;
    return TOKEN_OK;
}

static void send_retry(ho_quic_endpoint *ep, const ho_quic_header *hdr, const ho_quic_path *path, ho_quic_time now)
{
    ep_pkt *p = queue_slot(ep, path);
    if (p == NULL)
        return;
    ho_quic_cid rscid;
    rscid.len = (uint8_t)ep->cid_len;
    do
        ho_quic_cid_generate(&ep->cfg.conn, rscid.data, rscid.len);
    while (ho_quic_cid_eq(&rscid, &hdr->dcid)); /* §17.2.5.1: MUST differ from the ODCID */
    uint8_t token[TOKEN_MAX];
    size_t tlen = token_make(ep, &hdr->dcid, &rscid, path, now + ep->cfg.token_lifetime, token);
    if (tlen == 0)
        return;
    uint8_t unused;
    ho_random(&unused, 1);
    ho_buf b;
    ho_buf_init(&b);
    /* RFC 9369 §4.1: a Retry uses the original version (the client's). */
    if (ho_quic_retry_write(&b, hdr->version == HO_QUIC_VERSION_1 ? ep->retry_aead : NULL, hdr->version, &hdr->scid, &rscid, &hdr->dcid, token, tlen,
                            unused) == HO_OK) {
        queue_commit(ep, p, &b);
        ep->st.retry_sent++;
        quic_ev_endpoint(HO_EV_QUIC_RETRY_SENT, hdr->dcid.data, hdr->dcid.len, b.len, 0, now);
    }
    ho_buf_free(&b);
}

static void nt_issue(ho_quic_endpoint *ep, ep_conn *ec);

void quic_ep_hs_update(ho_quic_endpoint *ep, ep_conn *ec)
{
    if (ec->in_handshake && (ho_quic_conn_handshake_done(ec->c) || ho_quic_conn_is_closing(ec->c) ||
                             ho_quic_conn_is_closed(ec->c))) {
        ec->in_handshake = false;
        ep->st.handshakes_in_progress--;
        if (ho_quic_conn_handshake_done(ec->c) && !ho_quic_conn_is_closing(ec->c) && !ho_quic_conn_is_closed(ec->c))
            nt_issue(ep, ec);
    }
}

/* ---- new connections ------------------------------------------------------- */

/* The internal setter the connection API lacks: after a Retry the server's
 * transport parameters carry the client's first DCID as
 * original_destination_connection_id and the Retry's SCID as
 * retry_source_connection_id (RFC 9000 §7.3). The connection itself keeps
 * the DCID the client uses now (c->odcid) for its Initial keys (RFC 9001
 * §5.2: derived from the DCID of the client's Initial after the Retry). */
static void conn_set_retry_tparams(ho_quic_conn *c, const ho_quic_cid *odcid, const ho_quic_cid *rscid,
                                   ho_quic_time now)
{
    c->tpx.local.original_dcid = *odcid;
    c->tpx.local.present |= ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID);
    c->tpx.local.retry_scid = *rscid;
    c->tpx.local.present |= ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID);
    c->address_validated = true; /* §8.1.2: a valid Retry token validates the address */
    ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
}

static ep_conn *accept_conn(ho_quic_endpoint *ep, const ho_quic_header *hdr, const ho_quic_path *path,
                            ho_quic_time now, const ho_quic_cid *odcid, bool validated)
{
    ho_quic_conn *c = ho_quic_conn_new_server(&ep->cfg.conn, hdr->dcid.data, hdr->dcid.len, hdr->scid.data,
                                              hdr->scid.len, path, now);
    if (c == NULL)
        return NULL;
    ep_conn *ec = ho_quic_version_server_start(c, hdr->version) == HO_OK ? ho_mem_calloc(1, sizeof(*ec)) : NULL;
    if (ec == NULL) {
        ho_quic_conn_free(c);
        return NULL;
    }
    ec->c = c;
    if (odcid != NULL) {
        conn_set_retry_tparams(c, odcid, &hdr->dcid, now);
    } else if (validated) {
        /* §8.1.3: a valid NEW_TOKEN token validates the address, so the
         * 3x limit of §8.1 does not apply; it is no Retry: the transport
         * parameters carry no retry_source_connection_id (§7.3). */
        c->address_validated = true;
        ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
    }
    /* Our stateless reset token, derived so that any endpoint sharing the
     * static secret can reset the connection after losing its state
     * (§10.3.2). */
    ho_quic_endpoint_reset_token(ep, c->scid.data, c->scid.len, c->tpx.local.stateless_reset_token);
    ec->keys[0] = c->scid;
    ec->keys[1] = hdr->dcid;
    if (table_add(ep, &ep->cids, &ec->keys[0], ec) != HO_OK) {
        ho_quic_conn_free(c);
        ho_mem_free(ec);
        return NULL;
    }
    ec->nkeys = 1;
    if (table_add(ep, &ep->cids, &ec->keys[1], ec) == HO_OK)
        ec->nkeys = 2;
    c->cid_hooks = (ho_quic_cid_hooks){ep, ec, hook_issued, hook_retired, hook_peer_token, hook_wake};
    /* With a pool, the expensive TLS steps go through conn_pump (inline or
     * on the pool, as the mode says); without, TLS runs inside receive. */
    c->step.enabled = ep->cfg.pool != NULL;
    quic_ep_async_enable(ep, ec);
    ec->in_handshake = true;
    ep->st.handshakes_in_progress++;
    /* insert at the tail */
    ec->prev = ep->head.prev;
    ec->next = &ep->head;
    ep->head.prev->next = ec;
    ep->head.prev = ec;
    ep->nconns++;
    quic_ep_activate(ep, ec);
    ep->st.accepted++;
    if (ep->cfg.on_accept != NULL)
        ep->cfg.on_accept(ep->cfg.ctx, ep, c);
    return ec;
}

/* ho_quic_initial_authenticate in the endpoint's scratch buffer; counts
 * the drops by reason. */
static bool initial_authentic(ho_quic_endpoint *ep, const uint8_t *dgram, const ho_quic_header *hdr, ho_quic_time now)
{
    if (ep->scratch_cap < hdr->packet_len) {
        size_t cap = hdr->packet_len < PKT_MAX ? PKT_MAX : hdr->packet_len;
        uint8_t *p = ho_mem_alloc(cap);
        if (p == NULL) {
            ep->st.datagrams_dropped++;
            return false;
        }
        ho_mem_free(ep->scratch);
        ep->scratch = p;
        ep->scratch_cap = cap;
    }
    int rc = ho_quic_initial_authenticate(&ep->initial_rx, dgram, hdr, ep->scratch, ep->scratch_cap);
    if (rc == HO_OK)
        return true;
    if (rc == HO_ERR_DECRYPT)
        ep->st.initial_undecryptable++;
    else if (ho_err_is_quic(rc))
        ep->st.initial_bad_frames++;
    ep->st.datagrams_dropped++;
    quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr->dcid.data, hdr->dcid.len, hdr->packet_len,
                     rc == HO_ERR_DECRYPT ? HO_EV_DROP_DECRYPTION : HO_EV_DROP_BAD_FRAMES, now);
    return false;
}

/* A long-header packet of a version we accept whose DCID we do not know. */
static void on_unknown_v1(ho_quic_endpoint *ep, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                          ho_quic_time now)
{
    ho_quic_header hdr;
    if (ho_quic_header_parse(dgram, len, ep->cid_len, &hdr) != HO_OK || hdr.type != HO_QUIC_PKT_INITIAL) {
        /* Handshake/0-RTT for no connection, or malformed: drop (§5.2.2). */
        ep->st.unknown_long++;
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, NULL, 0, len, HO_EV_DROP_UNKNOWN_CONN, now);
        return;
    }
    /* RFC 9000 §14.1: a server MUST discard an Initial in a datagram
     * smaller than 1200 bytes. */
    if (len < HO_QUIC_MIN_DATAGRAM) {
        ep->st.short_initials_dropped++;
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_SHORT_INITIAL, now);
        return;
    }
    /* §7.2: the DCID of a client's first Initial is at least 8 bytes. */
    if (hdr.dcid.len < HO_QUIC_MIN_INITIAL_DCID_LEN) {
        ep->st.initial_bad_dcid++;
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_BAD_DCID, now);
        return;
    }
    ho_quic_cid odcid;
    token_result tr = token_check(ep, &hdr, path, now, &odcid);
    if (tr == TOKEN_BAD) {
        /* §8.1.3: a client that got a Retry will not accept another; close
         * with INVALID_TOKEN rather than let it time out. */
        ep->st.invalid_tokens++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_INVALID_TOKEN, now);
        send_initial_close(ep, &hdr, HO_QUIC_INVALID_TOKEN, path);
        return;
    }
    /* §5.2.2: a server that cannot take the connection sends an Initial
     * with CONNECTION_CLOSE CONNECTION_REFUSED. Checked after the token so
     * that refusals cost nothing more than a Retry would. */
    if (ep->nconns >= ep->cfg.max_connections) {
        ep->st.refused++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_REFUSED, now);
        send_initial_close(ep, &hdr, HO_QUIC_CONNECTION_REFUSED, path);
        return;
    }
    /* Admission under load: past the hard cap, refuse (§5.2.2); past the
     * soft limit, make the client prove its address first (§8.1.2), which
     * costs us one stateless packet and the client one round trip. */
    size_t hs = (size_t)ep->st.handshakes_in_progress;
    uint64_t depth = 0;
    if (ep->cfg.pool != NULL && (ep->cfg.retry_pool_depth != 0 || ep->cfg.refuse_pool_depth != 0)) {
        ho_pool_stats ps;
        ho_pool_get_stats(ep->cfg.pool, &ps);
        depth = ps.depth;
    }
    if ((ep->cfg.refuse_handshakes != 0 && hs >= ep->cfg.refuse_handshakes) ||
        (ep->cfg.refuse_pool_depth != 0 && depth >= ep->cfg.refuse_pool_depth)) {
        ep->st.refused++;
        ep->st.refused_load++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_REFUSED, now);
        send_initial_close(ep, &hdr, HO_QUIC_CONNECTION_REFUSED, path);
        return;
    }
    if (tr == TOKEN_NONE && ((ep->cfg.retry_handshakes != 0 && hs >= ep->cfg.retry_handshakes) ||
                             (ep->cfg.retry_pool_depth != 0 && depth >= ep->cfg.retry_pool_depth))) {
        ep->st.retry_load++;
        send_retry(ep, &hdr, path, now);
        return;
    }
    if (tr == TOKEN_NONE && ep->cfg.force_retry) {
        send_retry(ep, &hdr, path, now);
        return;
    }
    /* No connection before the Initial authenticates: its keys, derived
     * from its DCID (RFC 9001 §5.2), open it in a scratch copy first, so
     * that a forged or corrupted Initial costs one key derivation and one
     * AEAD open, and no connection (RFC 9001 §5.2 / RFC 9000 §12.2: a
     * packet that cannot be decrypted is discarded; §12.4, §17.2.2: frames
     * allowed in an Initial). Checked after the admission decisions, so
     * that Retry and refusals stay as cheap and stateless as before. */
    if (!initial_authentic(ep, dgram, &hdr, now))
        return;
    ep_conn *ec = accept_conn(ep, &hdr, path, now, tr == TOKEN_OK ? &odcid : NULL, tr == TOKEN_NEW_OK);
    if (ec == NULL) {
        ep->st.datagrams_dropped++;
        return;
    }
    ho_quic_conn_receive(ec->c, dgram, len, path, now);
    quic_ep_conn_pump(ep, ec, now);
    quic_ep_hs_update(ep, ec);
    /* Nothing in the datagram could be decrypted (corrupted or forged):
     * discard it (§12.2, RFC 9001 §5.2) and the connection made for it,
     * whose SCID and token came from an unauthenticated header. Kept, it
     * would hold the client's DCID with a wrong peer CID and swallow the
     * client's genuine Initials. */
    if (ec->c->stats.packets_received == 0) {
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, hdr.dcid.data, hdr.dcid.len, len, HO_EV_DROP_DECRYPTION, now);
        conn_release(ep, ec);
        return;
    }
    quic_ep_maybe_release(ep, ec);
}

void ho_quic_endpoint_receive(ho_quic_endpoint *ep, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                              ho_quic_time now)
{
    ep->st.datagrams_received++;
    quic_ep_steps_back(ep, now);
    ho_quic_invariant inv;
    if (dgram == NULL || ho_quic_invariant_parse(dgram, len, ep->cid_len, &inv) != HO_OK) {
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, NULL, 0, len, HO_EV_DROP_HEADER, now);
        return;
    }
    ep_conn *ec = table_find(ep, &ep->cids, inv.dcid, inv.dcid_len);
    if (ec != NULL) {
        quic_ep_conn_input(ep, ec, dgram, len, path, now);
        quic_ep_activate(ep, ec);
        quic_ep_hs_update(ep, ec);
        quic_ep_maybe_release(ep, ec);
        return;
    }
    if (!inv.is_long && len >= MIN_RESET_LEN &&
        (ec = table_find(ep, &ep->tokens, dgram + len - HO_QUIC_RESET_TOKEN_LEN, HO_QUIC_RESET_TOKEN_LEN)) != NULL) {
        /* §10.3.1: it ends with a token of a client's CID: the
         * connection checks it and drains. */
        quic_ep_conn_input(ep, ec, dgram, len, path, now);
        quic_ep_activate(ep, ec);
        quic_ep_hs_update(ep, ec);
        quic_ep_maybe_release(ep, ec);
        return;
    }
    if (!inv.is_long) {
        /* §10.3: a short header for an unknown CID may be answered with a
         * stateless reset (the connection's state was lost). */
        send_stateless_reset(ep, inv.dcid, len, path, now);
        return;
    }
    if (inv.version == 0) {
        /* §6.1: MUST NOT answer a Version Negotiation packet. */
        ep->st.datagrams_dropped++;
        quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, inv.dcid, inv.dcid_len, len, HO_EV_DROP_UNEXPECTED, now);
        return;
    }
    if (!ep_accepts(ep, inv.version)) {
        /* §5.2.2: a server MUST drop smaller packets that specify
         * unsupported versions; §6.1: answer the others with VN. */
        if (len < HO_QUIC_MIN_DATAGRAM) {
            ep->st.unknown_version++;
            ep->st.datagrams_dropped++;
            quic_ev_endpoint(HO_EV_QUIC_DATAGRAM_DROPPED, inv.dcid, inv.dcid_len, len, HO_EV_DROP_UNSUPPORTED_VERSION,
                             now);
            return;
        }
        send_vn(ep, &inv, path, now);
        return;
    }
    on_unknown_v1(ep, dgram, len, path, now);
}

/* ---- output and timers ---------------------------------------------------- */

size_t ho_quic_endpoint_send(ho_quic_endpoint *ep, ho_quic_endpoint_out *out, ho_quic_time now)
{
    out->len = 0;
    out->segment_size = 0;
    out->ecn = 0;
    out->conn = NULL;
    quic_ep_steps_back(ep, now);
    if (ep->qlen > 0) {
        ep_pkt *p = &ep->queue[ep->qhead];
        ep->qhead = (ep->qhead + 1) % QUEUE_MAX;
        ep->qlen--;
        if (p->len > out->cap)
            return ho_quic_endpoint_send(ep, out, now); /* dropped: the caller's buffer is too small */
        memcpy(out->buf, p->data, p->len);
        out->len = out->segment_size = p->len;
        out->path = p->path;
        return out->len;
    }
    /* Round-robin over the active connections, starting after the one
     * served last; one with nothing to send goes back to the heap. */
    ep_conn *ec = ep->cursor != NULL && ep->cursor->anext != NULL ? ep->cursor->anext : ep->act_head;
    while (ec != NULL) {
        size_t seg = 0;
        ep->st.conn_visits++;
        size_t w = ho_quic_conn_send(ec->c, out->buf, out->cap, &seg, now);
        if (w > 0) {
            ep->cursor = ec;
            out->len = w;
            out->segment_size = seg;
            out->path = *ho_quic_conn_send_path(ec->c);
            out->path.ecn = 0;
            out->ecn = ho_quic_conn_ecn_codepoint(ec->c);
            out->conn = ec->c;
            return w;
        }
        ep_conn *next = ec->anext != NULL ? ec->anext : ep->act_head;
        if (ho_quic_conn_is_closed(ec->c))
            conn_release(ep, ec);
        else
            deactivate(ep, ec);
        if (next == ec || ep->act_head == NULL)
            break;
        ec = next;
    }
    return 0;
}

ho_quic_time ho_quic_endpoint_next_timeout(const ho_quic_endpoint *ep)
{
    if (ep->back_head != NULL || ep->resume_head != NULL)
        return 0; /* steps came back: finish them now (handle_timeout) */
    ho_quic_time t = ep->hlen > 0 ? ep->heap[0]->deadline : HO_QUIC_TIME_NEVER;
    for (const ep_conn *ec = ep->act_head; ec != NULL; ec = ec->anext) {
        ho_quic_time x = ho_quic_conn_next_timeout(ec->c);
        if (x < t)
            t = x;
    }
    return t;
}

void ho_quic_endpoint_handle_timeout(ho_quic_endpoint *ep, ho_quic_time now)
{
    quic_ep_steps_back(ep, now);
    while (ep->hlen > 0 && ep->heap[0]->deadline <= now)
        quic_ep_activate(ep, ep->heap[0]);
    for (ep_conn *ec = ep->act_head, *next; ec != NULL; ec = next) {
        next = ec->anext;
        ep->st.conn_visits++;
        /* A connection's timers never touch its TLS engine (PTO resends
         * our own CRYPTO data): they run while a step is out. */
        if (ho_quic_conn_next_timeout(ec->c) <= now)
            ho_quic_conn_handle_timeout(ec->c, now);
        quic_ep_hs_update(ep, ec);
        quic_ep_maybe_release(ep, ec);
    }
}

void ho_quic_endpoint_foreach(ho_quic_endpoint *ep, void (*fn)(void *ctx, ho_quic_conn *c), void *ctx)
{
    for (ep_conn *ec = ep->head.next, *next; ec != &ep->head; ec = next) {
        next = ec->next;
        fn(ctx, ec->c);
    }
}

void ho_quic_endpoint_foreach_active(ho_quic_endpoint *ep, void (*fn)(void *ctx, ho_quic_conn *c), void *ctx)
{
    for (ep_conn *ec = ep->act_head, *next; ec != NULL; ec = next) {
        next = ec->anext;
        fn(ctx, ec->c);
    }
}

size_t ho_quic_endpoint_conn_count(const ho_quic_endpoint *ep) { return ep->nconns; }

void ho_quic_endpoint_get_stats(const ho_quic_endpoint *ep, ho_quic_endpoint_stats *st)
{
    *st = ep->st;
}
