/* Paths (RFC 9000 §8.2, §9): path validation with PATH_CHALLENGE and
 * PATH_RESPONSE, the server following a client to a new address (§9.3),
 * the client's active migration (ho_quic_conn_migrate), probing packets
 * answered on their own path (§9.1), and the anti-amplification limit of a
 * path not yet validated (§8.1, §9.3.1).
 *
 * The connection has one current path (c->path). A server that sees the
 * client's highest-numbered non-probing packet arrive from a new address
 * switches to it at once and validates it; until then it sends at most
 * three times what it received there. A failed validation falls back to
 * the last validated path (§9.3.2). */
#include <string.h>
#include <netinet/in.h>

#include "handoff/crypto.h"
#include "quic/conn_int.h"

/* Smallest datagram worth sending on an amplification-limited path. */
#define PROBE_MIN 64

static void note(const ho_quic_conn *c, const char *what)
{
    if (HO_LOG_INFO > ho_event_threshold())
        return;
    ho_event ev = {.type = HO_EV_NOTE,
                   .level = HO_LOG_INFO,
                   .conn = c->cfg.conn_id,
                   .role = c->is_server ? "server" : "client",
                   .a = (int64_t)c->stats.migrations,
                   .detail = what,
                   .time = c->now};
    ho_event_emit(&ev);
}

/* Address and port of a sockaddr; false for an unknown family. */
static bool addr_parts(const struct sockaddr_storage *ss, const uint8_t **ip, size_t *iplen, uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        *ip = (const uint8_t *)&a->sin_addr;
        *iplen = 4;
        *port = a->sin_port;
        return true;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        *ip = (const uint8_t *)&a->sin6_addr;
        *iplen = 16;
        *port = a->sin6_port;
        return true;
    }
    return false;
}

static bool addr_eq(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
                    socklen_t blen, bool ip_only)
{
    const uint8_t *ia, *ib;
    size_t la, lb;
    uint16_t pa, pb;
    bool ka = addr_parts(a, &ia, &la, &pa), kb = addr_parts(b, &ib, &lb, &pb);
    if (!ka || !kb)
        return alen == blen && alen <= sizeof(*a) && memcmp(a, b, alen) == 0;
    return a->ss_family == b->ss_family && la == lb && memcmp(ia, ib, la) == 0 && (ip_only || pa == pb);
}

/* Paths are told apart by the peer's address: that is what a server sees
 * change (§9.3), and a local address reported with or without pktinfo
 * must not look like a migration. NULL (no address known, as in the
 * in-memory tests) matches anything. */
bool ho_quic_path_same(const ho_quic_path *a, const ho_quic_path *b)
{
    if (a == NULL || b == NULL)
        return true;
    return addr_eq(&a->remote, a->remote_len, &b->remote, b->remote_len, false);
}

static bool same_peer_ip(const ho_quic_path *a, const ho_quic_path *b)
{
    return a == NULL || b == NULL || addr_eq(&a->remote, a->remote_len, &b->remote, b->remote_len, true);
}

bool ho_quic_path_accept_datagram(ho_quic_conn *c, const ho_quic_path *path)
{
    c->rx_path = path;
    if (!c->is_server || ho_quic_path_same(path, &c->path))
        return true;
    /* RFC 9000 §9: a client MUST NOT migrate before the handshake is
     * confirmed; the server drops such packets (without a reset). §9.3:
     * with disable_active_migration the server drops packets from a new
     * address, keeping only NAT rebinding (same IP, new port). */
    if (!c->hs_confirmed)
        return false;
    if (c->cfg.disable_active_migration && !same_peer_ip(path, &c->path))
        return false;
    return true;
}

/* RFC 9002 §9.4: a new path starts with a fresh congestion controller and
 * RTT estimate. Packets still in flight on the old path stay counted. */
static void reset_congestion(ho_quic_conn *c, ho_quic_time now)
{
    uint64_t in_flight = c->cc.bytes_in_flight;
    ho_quic_cc_init(&c->cc, c->cc.ops, c->cfg.max_datagram_size, now);
    c->cc.bytes_in_flight = in_flight;
    ho_quic_time max_ack_delay = c->rec.rtt.max_ack_delay;
    ho_quic_rtt_init(&c->rec.rtt, c->cfg.initial_rtt);
    c->rec.rtt.max_ack_delay = max_ack_delay;
    ho_quic_pacer_init(&c->pacer, c->cfg.max_datagram_size);
    ho_quic_pmtud_on_path_change(c);
}

static ho_quic_time pto(const ho_quic_conn *c)
{
    return ho_quic_recovery_pto_period(&c->rec, HO_QUIC_PN_SPACE_APPLICATION);
}

void ho_quic_path_start_validation(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_path_validation *v = &c->pv;
    v->active = true;
    v->challenge_pending = true;
    v->ndata = 0;
    /* §8.2.4: abandon after three times the larger of the current PTO and
     * the PTO of a new path (kInitialRtt, RFC 9002 §6.2.2). */
    ho_quic_rtt fresh;
    ho_quic_rtt_init(&fresh, 0);
    fresh.max_ack_delay = c->rec.rtt.max_ack_delay;
    ho_quic_time p = pto(c), initial = ho_quic_rtt_pto_base(&fresh) + fresh.max_ack_delay;
    v->expires_at = now + 3 * (p > initial ? p : initial);
    v->retransmit_at = now + p;
    quic_ev_path(c, HO_EV_PATH_VALIDATING);
}

static void validated(ho_quic_conn *c, ho_quic_time now)
{
    c->pv.active = c->pv.challenge_pending = false;
    c->has_old_path = false;
    if (!c->address_validated) {
        c->address_validated = true;
        ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
    }
    c->stats.paths_validated++;
    quic_ev_path(c, HO_EV_PATH_VALIDATED);
    note(c, "quic path validated");
}

/* The server follows the peer to c->rx_path (§9.3). */
static void migrate_to_peer(ho_quic_conn *c, ho_quic_time now)
{
    const ho_quic_path *to = c->rx_path;
    bool port_only = same_peer_ip(to, &c->path);
    if (c->has_old_path && ho_quic_path_same(to, &c->old_path)) {
        /* Back to the last validated path (e.g. after a spoofed packet,
         * §9.3.2): no new validation needed. */
        c->path = c->old_path;
        c->has_old_path = false;
        c->pv.active = c->pv.challenge_pending = false;
        c->address_validated = true;
        ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
        note(c, "quic path restored");
        return;
    }
    if (c->address_validated) {
        c->old_path = c->path;
        c->has_old_path = true;
    }
    c->path = *to;
    /* §9.3.1, §8.1: until validated, three times what arrived there. */
    c->address_validated = false;
    c->amp_received = c->rx_dgram_len;
    c->amp_sent = 0;
    ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
    /* §9.4: only a port change (NAT rebinding) may keep the estimates. */
    if (!port_only)
        reset_congestion(c, now);
    /* §9.5: a fresh CID for the new path when the peer gave us one. */
    ho_quic_cid_switch_dcid(c);
    if (c->side.valid && ho_quic_path_same(&c->side.addr, &c->path)) {
        /* A challenge in this same datagram is now answered on the path. */
        if (c->side.response_pending) {
            memcpy(c->path_response, c->side.response, sizeof(c->path_response));
            c->path_response_pending = true;
        }
        c->side.valid = c->side.response_pending = false;
    }
    c->stats.migrations++;
    quic_ev_path(c, port_only ? HO_EV_PATH_REBOUND : HO_EV_PATH_MIGRATED);
    note(c, port_only ? "quic path migrated (port)" : "quic path migrated");
    ho_quic_path_start_validation(c, now);
}

void ho_quic_path_on_packet(ho_quic_conn *c, bool largest, ho_quic_time now)
{
    if (!c->is_server || c->state >= HO_QUIC_STATE_CLOSING || ho_quic_path_same(c->rx_path, &c->path))
        return;
    /* §9.2, §9.3: only a non-probing packet with the largest packet number
     * so far moves the connection; probing ones are just answered. */
    if (c->rx_non_probing && largest)
        migrate_to_peer(c, now);
}

void ho_quic_path_on_challenge(ho_quic_conn *c, const ho_quic_frame *f)
{
    /* RFC 9000 §8.2.2: MUST answer with PATH_RESPONSE echoing the data, on
     * the path the challenge came from. */
    if (!c->is_server || ho_quic_path_same(c->rx_path, &c->path)) {
        memcpy(c->path_response, f->path.data, sizeof(c->path_response));
        c->path_response_pending = true;
        return;
    }
    ho_quic_side_path *sp = &c->side;
    if (!sp->valid || !ho_quic_path_same(&sp->addr, c->rx_path)) {
        memset(sp, 0, sizeof(*sp));
        sp->addr = *c->rx_path;
        sp->valid = true;
        sp->amp_received = c->rx_dgram_len;
    }
    memcpy(sp->response, f->path.data, sizeof(sp->response));
    sp->response_pending = true;
}

void ho_quic_path_on_response(ho_quic_conn *c, const ho_quic_frame *f, ho_quic_time now)
{
    /* §8.2.3: a PATH_RESPONSE on any path validates the path its
     * challenge went on; one we never sent is ignored (§8.2.3 MAY). */
    if (!c->pv.active)
        return;
    unsigned n = c->pv.ndata < HO_QUIC_CHALLENGES_MAX ? c->pv.ndata : HO_QUIC_CHALLENGES_MAX;
    for (unsigned i = 0; i < n; i++) {
        if (memcmp(c->pv.data[i], f->path.data, HO_QUIC_PATH_DATA_LEN) == 0) {
            validated(c, now);
            return;
        }
    }
}

bool ho_quic_path_next_challenge(ho_quic_conn *c, ho_quic_frame *f)
{
    if (!c->pv.active || !c->pv.challenge_pending)
        return false;
    /* §8.2.1: unpredictable data in every PATH_CHALLENGE. */
    uint8_t *d = c->pv.data[c->pv.ndata % HO_QUIC_CHALLENGES_MAX];
    ho_random(d, HO_QUIC_PATH_DATA_LEN);
    c->pv.ndata++;
    c->pv.challenge_pending = false;
    c->pv.pad = true;
    memset(f, 0, sizeof(*f));
    f->type = HO_QUIC_FT_PATH_CHALLENGE;
    memcpy(f->path.data, d, HO_QUIC_PATH_DATA_LEN);
    c->stats.path_challenges_sent++;
    return true;
}

ho_quic_time ho_quic_path_next_timeout(const ho_quic_conn *c)
{
    if (!c->pv.active)
        return HO_QUIC_TIME_NEVER;
    return c->pv.retransmit_at < c->pv.expires_at ? c->pv.retransmit_at : c->pv.expires_at;
}

void ho_quic_path_on_timeout(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_path_validation *v = &c->pv;
    if (!v->active)
        return;
    if (now >= v->expires_at) {
        /* §8.2.4, §9.3.2: validation failed; go back to the last
         * validated path if there is one. */
        v->active = v->challenge_pending = false;
        c->stats.path_validation_failures++;
        if (c->has_old_path) {
            c->path = c->old_path;
            c->has_old_path = false;
            if (!c->address_validated) {
                c->address_validated = true;
                ho_quic_recovery_set_amplification_limited(&c->rec, false, now);
            }
        }
        quic_ev_path(c, HO_EV_PATH_FAILED);
        note(c, "quic path validation failed");
        return;
    }
    if (now >= v->retransmit_at) {
        /* A new challenge each PTO until the validation expires. */
        v->challenge_pending = true;
        v->retransmit_at = now + pto(c);
    }
}

size_t ho_quic_path_build_side(ho_quic_conn *c, ho_quic_time now)
{
    ho_quic_side_path *sp = &c->side;
    if (!sp->valid || !sp->response_pending)
        return 0;
    sp->response_pending = false;
    /* §8.1: a path we have not validated gets at most three times the
     * bytes received from it; §8.2.2: the response is padded to 1200 bytes
     * when that allows. */
    uint64_t allowance = 3 * sp->amp_received > sp->amp_sent ? 3 * sp->amp_received - sp->amp_sent : 0;
    if (allowance < PROBE_MIN)
        return 0;
    size_t limit = c->cfg.max_datagram_size < allowance ? c->cfg.max_datagram_size : (size_t)allowance;
    ho_quic_frame f;
    memset(&f, 0, sizeof(f));
    f.type = HO_QUIC_FT_PATH_RESPONSE;
    memcpy(f.path.data, sp->response, HO_QUIC_PATH_DATA_LEN);
    size_t n = ho_quic_conn_build_frames(c, &f, 1, limit, HO_QUIC_MIN_DATAGRAM, now);
    sp->amp_sent += n;
    return n;
}

/* ---- the public calls ------------------------------------------------------ */

int ho_quic_conn_migrate(ho_quic_conn *c, const ho_quic_path *new_path, ho_quic_time now)
{
    quic_conn_wake(c);
    if (c->is_server || new_path == NULL)
        return HO_ERR_INVALID_ARG;
    if (c->state >= HO_QUIC_STATE_CLOSING)
        return HO_ERR_CLOSED;
    /* §9: not before the handshake is confirmed; §18.2: never when the
     * server sent disable_active_migration. */
    if (!c->hs_confirmed)
        return HO_ERR_WOULD_BLOCK;
    if (c->tpx.peer.disable_active_migration)
        return HO_ERR_INVALID_ARG;
    /* §9.5: a new local address needs a CID never used before. */
    if (!ho_quic_cid_spare_available(c))
        return HO_ERR_WOULD_BLOCK;
    c->rx_path = NULL;
    if (!c->pv.active) {
        c->old_path = c->path;
        c->has_old_path = true;
    }
    c->path = *new_path;
    ho_quic_cid_switch_dcid(c);
    reset_congestion(c, now); /* §9.4 */
    c->stats.migrations++;
    c->now = now;
    quic_ev_path(c, HO_EV_PATH_MIGRATED);
    note(c, "quic path migrated (local)");
    ho_quic_path_start_validation(c, now);
    return HO_OK;
}

const ho_quic_path *ho_quic_conn_path(const ho_quic_conn *c) { return &c->path; }

const ho_quic_path *ho_quic_conn_send_path(const ho_quic_conn *c)
{
    return c->send_path != NULL ? c->send_path : &c->path;
}
