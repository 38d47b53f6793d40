/* The algorithm-independent half of QUIC congestion control (RFC 9002 §7,
 * Appendix B): bytes in flight, the recovery period, ECN-CE, persistent
 * congestion, app-limited signalling, and the registry of algorithms. */
#include "quic/cc/cc.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

_Static_assert(sizeof(((ho_quic_cc *)0)->u) == HO_QUIC_CC_STATE_SIZE,
               "built-in controller state must fit the public state area");

uint64_t ho_quic_cc_initial_window(uint64_t mds)
{
    /* RFC 9002 §7.2: ten datagrams, limited to max(14720, 2 * mds). */
    uint64_t limit = mds * 2 > 14720 ? mds * 2 : 14720;
    return mds * 10 < limit ? mds * 10 : limit;
}

uint64_t ho_quic_cc_minimum_window(uint64_t mds)
{
    /* RFC 9002 §7.2: RECOMMENDED 2 * max_datagram_size. */
    return mds * HO_QUIC_CC_MIN_WINDOW_PACKETS;
}

/* ---- registry: the built-ins, then a bounded table of registered ones -- */

typedef struct registered_cc {
    char name[HO_QUIC_CC_NAME_MAX + 1];
    const ho_quic_cc_ops *ops; /* NULL: free slot */
} registered_cc;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static registered_cc registry[HO_QUIC_CC_REGISTRY_MAX];

static const ho_quic_cc_ops *builtin_by_name(const char *name)
{
    if (name == NULL || name[0] == '\0' || strcasecmp(name, "cubic") == 0)
        return &ho_quic_cc_cubic;
    if (strcasecmp(name, "newreno") == 0 || strcasecmp(name, "reno") == 0)
        return &ho_quic_cc_newreno;
    if (strcasecmp(name, "bbr") == 0)
        return &ho_quic_cc_bbr;
    return NULL;
}

/* Caller holds registry_lock. */
static registered_cc *registered_by_name(const char *name)
{
    for (size_t i = 0; i < HO_QUIC_CC_REGISTRY_MAX; i++)
        if (registry[i].ops != NULL && strcasecmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

const ho_quic_cc_ops *ho_quic_cc_by_name(const char *name)
{
    const ho_quic_cc_ops *ops = builtin_by_name(name);
    if (ops != NULL)
        return ops;
    pthread_mutex_lock(&registry_lock);
    registered_cc *r = registered_by_name(name);
    ops = r != NULL ? r->ops : NULL;
    pthread_mutex_unlock(&registry_lock);
    return ops;
}

int ho_quic_cc_register(const char *name, const ho_quic_cc_ops *ops)
{
    if (name == NULL || name[0] == '\0' || strlen(name) > HO_QUIC_CC_NAME_MAX || ops == NULL ||
        ops->init == NULL || ops->on_packets_acked == NULL || ops->on_congestion_event == NULL ||
        ops->on_persistent_congestion == NULL)
        return HO_ERR_INVALID_ARG;
    if (builtin_by_name(name) != NULL)
        return HO_ERR_EXISTS;
    int rc = HO_ERR_FULL;
    pthread_mutex_lock(&registry_lock);
    if (registered_by_name(name) != NULL) {
        rc = HO_ERR_EXISTS;
    } else {
        for (size_t i = 0; i < HO_QUIC_CC_REGISTRY_MAX; i++) {
            if (registry[i].ops == NULL) {
                memcpy(registry[i].name, name, strlen(name) + 1);
                registry[i].ops = ops;
                rc = HO_OK;
                break;
            }
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

int ho_quic_cc_unregister(const char *name)
{
    if (name == NULL || name[0] == '\0')
        return HO_ERR_NOT_FOUND;
    pthread_mutex_lock(&registry_lock);
    registered_cc *r = registered_by_name(name);
    if (r != NULL)
        memset(r, 0, sizeof(*r));
    pthread_mutex_unlock(&registry_lock);
    return r != NULL ? HO_OK : HO_ERR_NOT_FOUND;
}

/* ---- the public accessors a registered controller uses ----------------- */

void *ho_quic_cc_state(ho_quic_cc *cc)
{
    return cc->u.area;
}

void ho_quic_cc_get_info(const ho_quic_cc *cc, ho_quic_cc_info *info)
{
    info->max_datagram_size = cc->max_datagram_size;
    info->min_window = ho_quic_cc_minimum_window(cc->max_datagram_size);
    info->initial_window = ho_quic_cc_initial_window(cc->max_datagram_size);
    info->cwnd = cc->cwnd;
    info->ssthresh = cc->ssthresh;
    info->bytes_in_flight = cc->bytes_in_flight;
    info->pacing_rate = cc->pacing_rate;
    info->recovery_start_time = cc->recovery_start_time;
    info->in_recovery = cc->in_recovery;
    info->app_limited = cc->app_limited;
    info->delivered = cc->rate.delivered;
    info->lost = cc->rate.lost;
}

void ho_quic_cc_set_window(ho_quic_cc *cc, uint64_t cwnd, uint64_t ssthresh)
{
    /* RFC 9002 §7.2: the window never goes below kMinimumWindow. */
    uint64_t min_window = ho_quic_cc_minimum_window(cc->max_datagram_size);
    cc->cwnd = cwnd < min_window ? min_window : cwnd;
    cc->ssthresh = ssthresh;
}

void ho_quic_cc_set_pacing_rate(ho_quic_cc *cc, uint64_t bytes_per_second)
{
    cc->pacing_rate = bytes_per_second;
}

void ho_quic_cc_init(ho_quic_cc *cc, const ho_quic_cc_ops *ops, uint64_t mds, ho_quic_time now)
{
    memset(cc, 0, sizeof(*cc));
    cc->ops = ops != NULL ? ops : ho_quic_cc_by_name(NULL);
    cc->max_datagram_size = mds < HO_QUIC_MIN_MAX_DATAGRAM_SIZE ? HO_QUIC_MIN_MAX_DATAGRAM_SIZE : mds;
    /* RFC 9002 B.3 */
    cc->cwnd = ho_quic_cc_initial_window(cc->max_datagram_size);
    cc->ssthresh = HO_QUIC_CC_INFINITE_SSTHRESH;
    cc->bytes_in_flight = 0;
    cc->recovery_start_time = HO_QUIC_CC_NO_RECOVERY;
    cc->ops->init(cc, now);
}

void ho_quic_cc_set_max_datagram_size(ho_quic_cc *cc, uint64_t mds)
{
    if (mds < HO_QUIC_MIN_MAX_DATAGRAM_SIZE)
        mds = HO_QUIC_MIN_MAX_DATAGRAM_SIZE;
    uint64_t old_initial = ho_quic_cc_initial_window(cc->max_datagram_size);
    cc->max_datagram_size = mds;
    /* RFC 9002 §7.2: recalculate the initial window with the new size
     * (still at it: no congestion event and no growth yet). */
    if (cc->congestion_events == 0 && cc->cwnd == old_initial)
        cc->cwnd = ho_quic_cc_initial_window(mds);
    if (cc->cwnd < ho_quic_cc_minimum_window(mds))
        cc->cwnd = ho_quic_cc_minimum_window(mds);
}

void ho_quic_cc_on_packet_sent(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                               ho_quic_time now)
{
    ho_quic_cc_packet tx;
    ho_quic_cc_on_packet_sent_tx(cc, space, pn, bytes, now, &tx);
}

void ho_quic_cc_on_packet_sent_tx(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                                  ho_quic_time now, ho_quic_cc_packet *tx)
{
    ho_quic_cc_rate *rt = &cc->rate;
    /* draft-ietf-ccwg-bbr, delivery rate, "upon transmitting": a flight
     * that starts from nothing in flight restarts both clocks. */
    if (cc->bytes_in_flight == 0) {
        rt->first_sent_time = now;
        rt->delivered_time = now;
    }
    /* RFC 9002 B.4 */
    cc->bytes_in_flight += bytes;
    tx->pn = pn;
    tx->time_sent = now;
    tx->bytes = bytes;
    tx->delivered = rt->delivered;
    tx->delivered_time = rt->delivered_time;
    tx->first_sent_time = rt->first_sent_time;
    tx->tx_in_flight = cc->bytes_in_flight;
    tx->lost = rt->lost;
    tx->is_app_limited = rt->app_limited != 0;
    /* B.6 MaybeSendOnePacket: the allowance is for one packet. */
    cc->recovery_send_credit = false;
    /* §7.8: a sender that fills the window is not application limited. */
    if (cc->app_limited && cc->bytes_in_flight >= cc->cwnd)
        ho_quic_cc_set_app_limited(cc, false, now);
    if (cc->ops->on_packet_sent != NULL)
        cc->ops->on_packet_sent(cc, space, pn, bytes, now);
}

void ho_quic_cc_on_packet_lost(ho_quic_cc *cc, const ho_quic_cc_packet *p, ho_quic_time now)
{
    cc->rate.lost += p->bytes; /* C.lost */
    if (cc->ops->on_packet_lost != NULL)
        cc->ops->on_packet_lost(cc, p, now);
}

void ho_quic_cc_mark_app_limited(ho_quic_cc *cc)
{
    /* draft-ietf-ccwg-bbr: C.app_limited = C.delivered + inflight, or 1;
     * samples stay app-limited until that much has been delivered. */
    uint64_t mark = cc->rate.delivered + cc->bytes_in_flight;
    cc->rate.app_limited = mark > 0 ? mark : 1;
}

/* draft-ietf-ccwg-bbr, delivery rate, "upon receiving ACK": the newest
 * packet acknowledged (highest P.delivered) gives the sample. */
static void rate_sample(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now, ho_quic_cc_rate_sample *rs)
{
    ho_quic_cc_rate *rt = &cc->rate;
    const ho_quic_cc_packet *newest = NULL;
    ho_quic_time send_elapsed = 0, ack_elapsed = 0;
    memset(rs, 0, sizeof(*rs));
    for (size_t i = 0; i < ack->count; i++) {
        const ho_quic_cc_packet *p = &ack->packets[i];
        rt->delivered += p->bytes;
        rt->delivered_time = now;
        rs->newly_acked += p->bytes;
        if (newest == NULL || p->delivered >= rs->prior_delivered) {
            newest = p;
            rs->prior_delivered = p->delivered;
            rs->is_app_limited = p->is_app_limited;
            rs->tx_in_flight = p->tx_in_flight;
            send_elapsed = p->time_sent - p->first_sent_time;
            ack_elapsed = now - p->delivered_time;
            /* The next interval starts at this packet's send. */
            rt->first_sent_time = p->time_sent;
        }
    }
    if (rt->app_limited != 0 && rt->delivered > rt->app_limited)
        rt->app_limited = 0;
    rs->total_delivered = rt->delivered;
    rs->newly_lost = rt->lost - rt->lost_at_last_ack;
    rt->lost_at_last_ack = rt->lost;
    if (newest == NULL)
        return;
    rs->lost = rt->lost - newest->lost;
    rs->delivered = rt->delivered - rs->prior_delivered;
    /* A sample is the slower of the send and ACK rates over the flight,
     * so that ACK compression does not inflate it. */
    rs->interval = send_elapsed > ack_elapsed ? send_elapsed : ack_elapsed;
    /* Intervals shorter than min_rtt are unreliable (ACK aggregation);
     * no sample then. Without any RTT sample (min_rtt 0) there is no
     * bound at all: an interval of a few nanoseconds would claim
     * terabytes per second, and BBR would size its window from it. */
    if (rs->interval <= 0 || ack->min_rtt <= 0 || rs->interval < ack->min_rtt)
        return;
    unsigned __int128 r = (unsigned __int128)rs->delivered * HO_QUIC_NS_PER_SEC / (uint64_t)rs->interval;
    rs->delivery_rate = r > UINT64_MAX ? UINT64_MAX : (uint64_t)r;
}

static void remove_from_flight(ho_quic_cc *cc, uint64_t bytes)
{
    cc->bytes_in_flight = bytes > cc->bytes_in_flight ? 0 : cc->bytes_in_flight - bytes;
}

bool ho_quic_cc_in_recovery(const ho_quic_cc *cc, ho_quic_time sent_time)
{
    /* RFC 9002 B.5 InCongestionRecovery */
    return sent_time <= cc->recovery_start_time;
}

void ho_quic_cc_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, const ho_quic_rtt *rtt,
                                 ho_quic_time now)
{
    bool leaves_recovery = false;
    for (size_t i = 0; i < ack->count; i++) {
        /* RFC 9002 B.5: remove from bytes_in_flight. */
        remove_from_flight(cc, ack->packets[i].bytes);
        /* §7.3.2: recovery ends when a packet sent during it is acked. */
        if (!ho_quic_cc_in_recovery(cc, ack->packets[i].time_sent))
            leaves_recovery = true;
    }
    if (ack->count > 0) {
        /* The RTT estimates and the delivery-rate sample travel with the
         * ACK (handoff/quic_cc.h). */
        ho_quic_cc_ack ev = *ack;
        ev.latest_rtt = rtt->latest_rtt;
        ev.min_rtt = rtt->min_rtt;
        ev.smoothed_rtt = rtt->smoothed_rtt;
        ev.rttvar = rtt->rttvar;
        rate_sample(cc, &ev, now, &ev.rate);
        cc->ops->on_packets_acked(cc, &ev, now);
    }
    if (leaves_recovery)
        cc->in_recovery = false;
}

bool ho_quic_cc_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    /* RFC 9002 B.6 / §7.3.2: no reaction if already in a recovery period,
     * so the window shrinks at most once per round trip. */
    if (ho_quic_cc_in_recovery(cc, sent_time))
        return false;
    cc->recovery_start_time = now;
    cc->in_recovery = true;
    cc->congestion_events++;
    cc->ops->on_congestion_event(cc, sent_time, now);
    /* §7.3.2 / B.6: one packet may be sent right away to speed up recovery. */
    cc->recovery_send_credit = true;
    return true;
}

bool ho_quic_cc_on_ecn_ce(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    /* RFC 9002 §7.1 / B.7: an ECN-CE increase is a congestion event. */
    cc->ecn_ce_events++;
    if (ho_quic_cc_in_recovery(cc, sent_time))
        return false;
    cc->recovery_start_time = now;
    cc->in_recovery = true;
    cc->congestion_events++;
    if (cc->ops->on_ecn_ce != NULL)
        cc->ops->on_ecn_ce(cc, sent_time, now);
    else
        cc->ops->on_congestion_event(cc, sent_time, now);
    cc->recovery_send_credit = true;
    return true;
}

void ho_quic_cc_on_packets_lost(ho_quic_cc *cc, uint64_t lost_bytes, ho_quic_time newest_sent_time,
                                ho_quic_time now)
{
    /* RFC 9002 B.8: remove lost packets from bytes_in_flight; a congestion
     * event if in-flight packets were lost. */
    remove_from_flight(cc, lost_bytes);
    if (lost_bytes > 0)
        ho_quic_cc_on_congestion_event(cc, newest_sent_time, now);
}

void ho_quic_cc_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    /* RFC 9002 B.8: congestion_window = kMinimumWindow,
     * congestion_recovery_start_time = 0 (here: none). */
    cc->persistent_congestion_events++;
    cc->recovery_start_time = HO_QUIC_CC_NO_RECOVERY;
    cc->in_recovery = false;
    cc->recovery_send_credit = false;
    cc->ops->on_persistent_congestion(cc, now);
}

bool ho_quic_cc_on_spurious_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    if (cc->ops->on_spurious_congestion == NULL)
        return false;
    cc->ops->on_spurious_congestion(cc, now);
    return true;
}

void ho_quic_cc_on_discarded(ho_quic_cc *cc, uint64_t bytes)
{
    /* RFC 9002 B.9 */
    remove_from_flight(cc, bytes);
}

void ho_quic_cc_set_app_limited(ho_quic_cc *cc, bool app_limited, ho_quic_time now)
{
    if (app_limited)
        ho_quic_cc_mark_app_limited(cc);
    if (cc->app_limited == app_limited)
        return;
    cc->app_limited = app_limited;
    if (cc->ops->on_app_limited != NULL)
        cc->ops->on_app_limited(cc, app_limited, now);
}

bool ho_quic_cc_can_send(const ho_quic_cc *cc, uint64_t bytes)
{
    /* RFC 9002 §7: MUST NOT send if bytes_in_flight would exceed cwnd,
     * unless on PTO (§7.5, the caller's probes) or entering recovery. */
    if (cc->recovery_send_credit)
        return true;
    return cc->bytes_in_flight + bytes <= cc->cwnd;
}

uint64_t ho_quic_cc_available(const ho_quic_cc *cc)
{
    return cc->bytes_in_flight >= cc->cwnd ? 0 : cc->cwnd - cc->bytes_in_flight;
}

ho_quic_cc_phase ho_quic_cc_phase_of(const ho_quic_cc *cc)
{
    if (cc->in_recovery)
        return HO_QUIC_CC_RECOVERY;
    if (cc->cwnd < cc->ssthresh)
        return cc->ops->phase != NULL ? cc->ops->phase(cc) : HO_QUIC_CC_SLOW_START;
    return HO_QUIC_CC_CONGESTION_AVOIDANCE;
}

const char *ho_quic_cc_phase_name(ho_quic_cc_phase phase)
{
    switch (phase) {
    case HO_QUIC_CC_SLOW_START: return "slow_start";
    case HO_QUIC_CC_CONSERVATIVE_SLOW_START: return "conservative_slow_start";
    case HO_QUIC_CC_RECOVERY: return "recovery";
    case HO_QUIC_CC_CONGESTION_AVOIDANCE: return "congestion_avoidance";
    }
    return "?";
}
