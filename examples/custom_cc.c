/*
 * custom_cc — a congestion controller of the application's own, plugged
 * into handoff through the public interface (handoff/quic_cc.h) only.
 *
 *   custom_cc            registers "aimd-example" and prints its constants
 *
 * The controller is plain AIMD with constants of its own: it starts at 4
 * datagrams (not RFC 9002's 10), has no slow start, adds one datagram per
 * window acknowledged, keeps 3/4 of the window on a congestion event, and
 * never goes above 64 datagrams. A program selects it with
 *   ho_quic_cc_register(AIMD_NAME, &aimd_ops);
 *   cfg.cc_name = AIMD_NAME;       (ho_quic_config, for client or server)
 * It counts its calls (aimd_counters) so a test can see it ran, and checks
 * at every send that the library kept bytes in flight within its window.
 *
 * The per-connection state lives in the area the library gives each
 * controller (ho_quic_cc_state). The counters are shared by every
 * connection, possibly on several threads, hence atomics.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "handoff/quic.h"
#include "handoff/quic_cc.h"

#define AIMD_NAME "aimd-example"
#define AIMD_INITIAL_PACKETS 4
#define AIMD_MAX_PACKETS 64
#define AIMD_DECREASE_NUM 3 /* keep 3/4 of the window on congestion */
#define AIMD_DECREASE_DEN 4

typedef struct aimd_counters {
    atomic_ullong inits, sent, acked, congestion, ecn_ce, persistent, app_limited;
    atomic_ullong max_cwnd;        /* largest window it set */
    atomic_ullong over_window;     /* sends that took bytes in flight past cwnd ... */
    atomic_ullong max_over;        /* ... by how many bytes, at most */
    atomic_ullong recovery_sends;  /* the one send past cwnd RFC 9002 B.6 allows after a cut */
} aimd_counters;

static aimd_counters aimd_stats;

typedef struct aimd_state {
    uint64_t acked_in_window; /* bytes acknowledged since the last increase */
    bool just_cut;            /* no packet sent since the last congestion event */
} aimd_state;

static void atomic_max(atomic_ullong *a, unsigned long long v)
{
    unsigned long long old = atomic_load(a);
    while (v > old && !atomic_compare_exchange_weak(a, &old, v)) {
    }
}

static void aimd_set(ho_quic_cc *cc, uint64_t cwnd)
{
    ho_quic_cc_info in;
    ho_quic_cc_get_info(cc, &in);
    if (cwnd > AIMD_MAX_PACKETS * in.max_datagram_size)
        cwnd = AIMD_MAX_PACKETS * in.max_datagram_size;
    /* ssthresh = cwnd: no slow start. The library keeps cwnd >= 2 datagrams
     * (RFC 9002 §7.2). */
    ho_quic_cc_set_window(cc, cwnd, cwnd);
    atomic_max(&aimd_stats.max_cwnd, cwnd);
}

static void aimd_init(ho_quic_cc *cc, ho_quic_time now)
{
    (void)now;
    ho_quic_cc_info in;
    ho_quic_cc_get_info(cc, &in);
    aimd_set(cc, AIMD_INITIAL_PACKETS * in.max_datagram_size);
    atomic_fetch_add(&aimd_stats.inits, 1);
}

static void aimd_on_packet_sent(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                                ho_quic_time now)
{
    (void)space, (void)pn, (void)bytes, (void)now;
    aimd_state *st = ho_quic_cc_state(cc);
    ho_quic_cc_info in;
    ho_quic_cc_get_info(cc, &in); /* bytes_in_flight already counts this packet */
    atomic_fetch_add(&aimd_stats.sent, 1);
    if (in.bytes_in_flight > in.cwnd) {
        /* After a cut, flight is above the new window; RFC 9002 B.6 still
         * lets one packet go at once. Any other send past cwnd is not ours. */
        if (st->just_cut) {
            atomic_fetch_add(&aimd_stats.recovery_sends, 1);
        } else {
            atomic_fetch_add(&aimd_stats.over_window, 1);
            atomic_max(&aimd_stats.max_over, in.bytes_in_flight - in.cwnd);
        }
    }
    st->just_cut = false;
}

static void aimd_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now)
{
    (void)now;
    aimd_state *st = ho_quic_cc_state(cc);
    ho_quic_cc_info in;
    ho_quic_cc_get_info(cc, &in);
    atomic_fetch_add(&aimd_stats.acked, 1);
    if (in.app_limited) /* RFC 9002 §7.8: no growth when not using the window */
        return;
    for (size_t i = 0; i < ack->count; i++) {
        /* No growth for packets sent before the recovery period (B.5). */
        if (!ho_quic_cc_in_recovery(cc, ack->packets[i].time_sent))
            st->acked_in_window += ack->packets[i].bytes;
    }
    if (st->acked_in_window >= in.cwnd) { /* additive increase: one datagram per window */
        st->acked_in_window -= in.cwnd;
        aimd_set(cc, in.cwnd + in.max_datagram_size);
    }
}

static void aimd_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    (void)sent_time, (void)now;
    aimd_state *st = ho_quic_cc_state(cc);
    ho_quic_cc_info in;
    ho_quic_cc_get_info(cc, &in);
    atomic_fetch_add(&aimd_stats.congestion, 1);
    st->acked_in_window = 0;
    st->just_cut = true;
    aimd_set(cc, in.cwnd * AIMD_DECREASE_NUM / AIMD_DECREASE_DEN); /* multiplicative decrease */
}

static void aimd_on_ecn_ce(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    atomic_fetch_add(&aimd_stats.ecn_ce, 1);
    aimd_on_congestion_event(cc, sent_time, now);
}

static void aimd_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    (void)now;
    atomic_fetch_add(&aimd_stats.persistent, 1);
    aimd_set(cc, 0); /* RFC 9002 §7.6.2: the minimum window (set_window raises 0 to it) */
}

static void aimd_on_app_limited(ho_quic_cc *cc, bool app_limited, ho_quic_time now)
{
    (void)cc, (void)app_limited, (void)now;
    atomic_fetch_add(&aimd_stats.app_limited, 1);
}

static const ho_quic_cc_ops aimd_ops = {
    .name = AIMD_NAME,
    .init = aimd_init,
    .on_packet_sent = aimd_on_packet_sent,
    .on_packets_acked = aimd_on_packets_acked,
    .on_congestion_event = aimd_on_congestion_event,
    .on_ecn_ce = aimd_on_ecn_ce,
    .on_persistent_congestion = aimd_on_persistent_congestion,
    .on_app_limited = aimd_on_app_limited,
    .phase = NULL,                  /* always "slow start" below ssthresh: never, here */
    .on_spurious_congestion = NULL, /* no undo */
};

_Static_assert(sizeof(aimd_state) <= HO_QUIC_CC_STATE_SIZE, "state fits the library's area");

#ifndef CUSTOM_CC_NO_MAIN
int main(void)
{
    int rc = ho_quic_cc_register(AIMD_NAME, &aimd_ops);
    if (rc != HO_OK) {
        fprintf(stderr, "custom_cc: ho_quic_cc_register: %s\n", ho_err_str(rc));
        return 1;
    }
    printf("registered \"%s\": initial window %d datagrams, +1 per window acknowledged, x%d/%d on "
           "congestion, at most %d datagrams; select it with ho_quic_config.cc_name = \"%s\"\n",
           AIMD_NAME, AIMD_INITIAL_PACKETS, AIMD_DECREASE_NUM, AIMD_DECREASE_DEN, AIMD_MAX_PACKETS,
           AIMD_NAME);
    return 0;
}
#endif
