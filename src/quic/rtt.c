/* RTT estimation, RFC 9002 §5 (pseudo-code in Appendix A.7 UpdateRtt). */
#include "quic/rtt.h"

#include <string.h>

/* RFC 9002 §7.6.1 */
#define PERSISTENT_CONGESTION_THRESHOLD 3

static ho_quic_time max_time(ho_quic_time a, ho_quic_time b) { return a > b ? a : b; }
static ho_quic_time min_time(ho_quic_time a, ho_quic_time b) { return a < b ? a : b; }

void ho_quic_rtt_init(ho_quic_rtt *r, ho_quic_time initial_rtt)
{
    memset(r, 0, sizeof(*r));
    if (initial_rtt <= 0)
        initial_rtt = HO_QUIC_INITIAL_RTT;
    /* RFC 9002 §5.3 / A.4: before the first sample. */
    r->smoothed_rtt = initial_rtt;
    r->rttvar = initial_rtt / 2;
    r->latest_rtt = 0;
    r->min_rtt = 0;
    r->max_ack_delay = HO_QUIC_DEFAULT_MAX_ACK_DELAY;
    r->first_sample_time = HO_QUIC_TIME_NEVER;
    r->has_sample = false;
}

void ho_quic_rtt_set_max_ack_delay(ho_quic_rtt *r, ho_quic_time max_ack_delay)
{
    r->max_ack_delay = max_ack_delay < 0 ? 0 : max_ack_delay;
}

void ho_quic_rtt_update(ho_quic_rtt *r, ho_quic_time sent_time, ho_quic_time ack_delay,
                        bool handshake_confirmed, ho_quic_time now)
{
    /* RFC 9002 §5.1: latest_rtt = ack_time - send_time_of_largest_acked. */
    ho_quic_time latest = now - sent_time;
    if (latest < 0)
        latest = 0;
    if (ack_delay < 0)
        ack_delay = 0;
    r->latest_rtt = latest;
    r->samples++;

    if (!r->has_sample) {
        /* RFC 9002 §5.2: min_rtt MUST be set to latest_rtt on the first
         * sample; §5.3: the estimator restarts from it, no history. */
        r->min_rtt = latest;
        r->smoothed_rtt = latest;
        r->rttvar = latest / 2;
        r->first_sample_time = now;
        r->has_sample = true;
        return;
    }

    /* RFC 9002 §5.2: min_rtt ignores acknowledgment delay. */
    r->min_rtt = min_time(r->min_rtt, latest);

    /* RFC 9002 §5.3: MUST use the lesser of ack_delay and max_ack_delay
     * after handshake confirmation; SHOULD ignore max_ack_delay before. */
    if (handshake_confirmed)
        ack_delay = min_time(ack_delay, r->max_ack_delay);

    /* RFC 9002 §5.3: MUST NOT subtract the ack delay if that would take the
     * sample below min_rtt. */
    ho_quic_time adjusted = latest;
    if (latest >= r->min_rtt + ack_delay)
        adjusted = latest - ack_delay;

    /* RFC 9002 A.7 (and RFC 6298 §2.3) order: rttvar is updated against the
     * smoothed_rtt from before this sample. (§5.3's prose lists the two
     * updates the other way round; the Appendix is the reference here.) */
    ho_quic_time dev = r->smoothed_rtt > adjusted ? r->smoothed_rtt - adjusted : adjusted - r->smoothed_rtt;
    r->rttvar = (3 * r->rttvar + dev) / 4;
    r->smoothed_rtt = (7 * r->smoothed_rtt + adjusted) / 8;
}

ho_quic_time ho_quic_rtt_pto_base(const ho_quic_rtt *r)
{
    /* RFC 9002 §6.2.1: the PTO period MUST be at least kGranularity. */
    return r->smoothed_rtt + max_time(4 * r->rttvar, HO_QUIC_GRANULARITY);
}

ho_quic_time ho_quic_rtt_loss_delay(const ho_quic_rtt *r)
{
    /* RFC 9002 §6.1.2: 9/8 * max(smoothed_rtt, latest_rtt), at least
     * kGranularity. */
    ho_quic_time base = max_time(r->smoothed_rtt, r->latest_rtt);
    return max_time(base * 9 / 8, HO_QUIC_GRANULARITY);
}

ho_quic_time ho_quic_rtt_persistent_congestion_duration(const ho_quic_rtt *r)
{
    return (ho_quic_rtt_pto_base(r) + r->max_ack_delay) * PERSISTENT_CONGESTION_THRESHOLD;
}

void ho_quic_rtt_on_persistent_congestion(ho_quic_rtt *r)
{
    if (r->has_sample)
        r->min_rtt = r->latest_rtt;
}
