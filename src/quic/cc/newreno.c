/* NewReno as RFC 9002 §7 and Appendix B specify it: slow start, recovery
 * (window halved once per round trip, immediately), congestion avoidance
 * (one max_datagram_size per window acknowledged), minimum window on
 * persistent congestion. The generic part (cc.c) already handles bytes in
 * flight and the recovery-period filter. */
#include "quic/cc/cc.h"

#include <string.h>

/* RFC 9002 B.1: kLossReductionFactor = 0.5 */
#define LOSS_REDUCTION_NUM 1
#define LOSS_REDUCTION_DEN 2

static void newreno_init(ho_quic_cc *cc, ho_quic_time now)
{
    memset(&cc->u.newreno, 0, sizeof(cc->u.newreno));
}

static void newreno_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now)
{
    ho_quic_newreno *nr = &cc->u.newreno;
    for (size_t i = 0; i < ack->count; i++) {
        const ho_quic_cc_packet *p = &ack->packets[i];
        /* B.5: do not increase the window when application or flow-control
         * limited (§7.8) ... */
        if (cc->app_limited)
            return;
        /* ... nor for packets sent before the recovery period began. */
        if (ho_quic_cc_in_recovery(cc, p->time_sent))
            continue;
        if (cc->cwnd < cc->ssthresh) {
            /* §7.3.1 slow start: grow by the bytes acknowledged. */
            cc->cwnd += p->bytes;
        } else {
            /* §7.3.3 congestion avoidance: at most one max_datagram_size per
             * window acknowledged. B.5's max_datagram_size * bytes / cwnd is
             * done with RFC 3465 §2.1's byte counter, which B.5 suggests for
             * integer windows, so no growth is lost to truncation. */
            nr->bytes_acked += p->bytes;
            if (nr->bytes_acked >= cc->cwnd) {
                nr->bytes_acked -= cc->cwnd;
                cc->cwnd += cc->max_datagram_size;
            }
        }
    }
}

static void newreno_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now)
{
    /* B.6: ssthresh = cwnd * kLossReductionFactor;
     * cwnd = max(ssthresh, kMinimumWindow). §7.3.2: MUST set ssthresh to
     * half the window; we reduce immediately rather than via PRR. */
    cc->ssthresh = cc->cwnd * LOSS_REDUCTION_NUM / LOSS_REDUCTION_DEN;
    uint64_t min_window = ho_quic_cc_minimum_window(cc->max_datagram_size);
    cc->cwnd = cc->ssthresh > min_window ? cc->ssthresh : min_window;
    cc->u.newreno.bytes_acked = 0;
}

static void newreno_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now)
{
    /* B.8 / §7.6.2: MUST reduce to kMinimumWindow; ssthresh keeps the value
     * the accompanying congestion event gave it, so slow start resumes. */
    cc->cwnd = ho_quic_cc_minimum_window(cc->max_datagram_size);
    cc->u.newreno.bytes_acked = 0;
}

const ho_quic_cc_ops ho_quic_cc_newreno = {
    .name = "newreno",
    .init = newreno_init,
    .on_packet_sent = NULL,
    .on_packets_acked = newreno_on_packets_acked,
    .on_congestion_event = newreno_on_congestion_event,
    .on_ecn_ce = NULL,
    .on_persistent_congestion = newreno_on_persistent_congestion,
    .on_app_limited = NULL,
    .phase = NULL,
};
