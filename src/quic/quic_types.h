/* Types shared by every file of src/quic/: the time unit and the packet
 * number spaces.
 *
 * Time: QUIC is sans-I/O (DESIGN.md), so nothing in src/quic reads a clock.
 * Every time value — `now` passed in by the caller, send times, RTTs,
 * timer deadlines, ack delays — is an ho_quic_time: signed 64-bit
 * NANOSECONDS on a monotonic clock whose epoch the caller chooses (a virtual
 * clock in tests, CLOCK_MONOTONIC in the I/O layer). Signed so differences
 * are plain subtraction; 2^63 ns is about 292 years, so no wrap-around.
 * HO_QUIC_TIME_NEVER (INT64_MAX) means "unset" / "no deadline"; zero is an
 * ordinary instant (a virtual clock may well start at 0). */
#ifndef HO_QUIC_TYPES_H
#define HO_QUIC_TYPES_H

#include <stdint.h>

typedef int64_t ho_quic_time;

#define HO_QUIC_TIME_NEVER INT64_MAX
#define HO_QUIC_NS(x) ((ho_quic_time)(x))
#define HO_QUIC_US(x) ((ho_quic_time)(x) * 1000)
#define HO_QUIC_MS(x) ((ho_quic_time)(x) * 1000000)
#define HO_QUIC_SEC(x) ((ho_quic_time)(x) * 1000000000)
#define HO_QUIC_NS_PER_SEC 1000000000LL

/* RFC 9000 §12.3: the three packet number spaces (ho_quic_pn_space) are
 * public, in handoff/quic_cc.h, for congestion controllers. Their order is
 * the order RFC 9002 Appendix A iterates. */
#include "handoff/quic_cc.h"

#endif
