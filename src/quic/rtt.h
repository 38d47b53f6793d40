/* RTT estimator for one network path (RFC 9002 §5).
 *
 * Plain state, no allocation. All times are ho_quic_time nanoseconds
 * (quic_types.h). The loss-recovery code feeds it one sample per ACK frame
 * that newly acknowledges the largest acknowledged packet and at least one
 * ack-eliciting packet (§5.1); the congestion controller and pacer read it. */
#ifndef HO_QUIC_RTT_H
#define HO_QUIC_RTT_H

#include <stdbool.h>

#include "quic/quic_types.h"

/* RFC 9002 §6.2.2 / Appendix A.2. */
#define HO_QUIC_INITIAL_RTT HO_QUIC_MS(333)
/* RFC 9002 §6.1.2: timer granularity. */
#define HO_QUIC_GRANULARITY HO_QUIC_MS(1)
/* RFC 9000 §18.2: max_ack_delay default when the peer does not send it. */
#define HO_QUIC_DEFAULT_MAX_ACK_DELAY HO_QUIC_MS(25)

typedef struct ho_quic_rtt {
    ho_quic_time latest_rtt;   /* most recent raw sample (§5.1) */
    ho_quic_time min_rtt;      /* minimum raw sample, ack delay ignored (§5.2) */
    ho_quic_time smoothed_rtt; /* EWMA of ack-delay-adjusted samples (§5.3) */
    ho_quic_time rttvar;       /* mean deviation (§5.3) */
    ho_quic_time max_ack_delay;/* peer's max_ack_delay transport parameter */
    ho_quic_time first_sample_time; /* when the first sample was taken */
    bool has_sample;           /* false until the first sample (A.3 first_rtt_sample) */
    uint64_t samples;          /* number of samples taken */
} ho_quic_rtt;

/* Resets to the pre-sample state of RFC 9002 §5.3 / A.4: smoothed_rtt =
 * initial_rtt, rttvar = initial_rtt / 2. initial_rtt <= 0 selects
 * kInitialRtt (333 ms); a resumed connection may pass its previous
 * smoothed RTT (§6.2.2). max_ack_delay starts at the RFC 9000 default. */
void ho_quic_rtt_init(ho_quic_rtt *r, ho_quic_time initial_rtt);

/* Records the peer's max_ack_delay transport parameter (RFC 9000 §18.2). */
void ho_quic_rtt_set_max_ack_delay(ho_quic_rtt *r, ho_quic_time max_ack_delay);

/* Takes one RTT sample (RFC 9002 §5.1-§5.3, A.7 UpdateRtt):
 *   latest_rtt = now - sent_time (clamped at 0 if the caller's clock stepped back);
 *   the first sample initialises min/smoothed/rttvar from it;
 *   later ones: min_rtt = min(min_rtt, latest); ack_delay is limited to
 *   max_ack_delay once the handshake is confirmed, and subtracted only if
 *   that does not take the sample below min_rtt.
 * The caller decides whether an ACK yields a sample (§5.1) and may pass
 * ack_delay 0 for Initial packets (§5.3). */
void ho_quic_rtt_update(ho_quic_rtt *r, ho_quic_time sent_time, ho_quic_time ack_delay,
                        bool handshake_confirmed, ho_quic_time now);

/* smoothed_rtt + max(4 * rttvar, kGranularity): the PTO period without
 * max_ack_delay and backoff (RFC 9002 §6.2.1). */
ho_quic_time ho_quic_rtt_pto_base(const ho_quic_rtt *r);

/* max(kTimeThreshold * max(smoothed_rtt, latest_rtt), kGranularity), with
 * kTimeThreshold = 9/8 (RFC 9002 §6.1.2). */
ho_quic_time ho_quic_rtt_loss_delay(const ho_quic_rtt *r);

/* (smoothed_rtt + max(4 * rttvar, kGranularity) + max_ack_delay) *
 * kPersistentCongestionThreshold (3), RFC 9002 §7.6.1: includes
 * max_ack_delay whatever the packet number space. */
ho_quic_time ho_quic_rtt_persistent_congestion_duration(const ho_quic_rtt *r);

/* RFC 9002 §5.2: after persistent congestion, min_rtt SHOULD be reset to
 * the newest sample so a path whose RTT went up does not keep declaring it. */
void ho_quic_rtt_on_persistent_congestion(ho_quic_rtt *r);

#endif
