/* Congestion control for one QUIC path: the shared controller state, the
 * algorithm interface (a vtable), the registry, and the pacer.
 *
 * Layout: the generic part (cc.c) keeps what RFC 9002 Appendix B keeps for
 * every controller — bytes_in_flight, congestion_window, ssthresh,
 * congestion_recovery_start_time, the app-limited flag — and applies the
 * rules common to all algorithms: the recovery period (one reduction per
 * round trip, B.6), ECN-CE as a congestion event (§7.1, B.7), removal of
 * lost and discarded packets from bytes in flight (B.8, B.9). An algorithm
 * (newreno.c, cubic.c, or one an application registered: the interface is
 * public, handoff/quic_cc.h) only decides how the window grows on ACKs and
 * how it shrinks on a new congestion event or persistent congestion. The
 * built-ins reach the fields below directly; a registered controller uses
 * the public accessors (ho_quic_cc_get_info, ho_quic_cc_set_window, ...).
 *
 * Windows are in bytes, times in ho_quic_time nanoseconds (quic_types.h).
 * Nothing here allocates; a controller is a plain struct the connection
 * embeds. Callers drive it through the ho_quic_cc_* functions, never the
 * ops directly. */
#ifndef HO_QUIC_CC_H
#define HO_QUIC_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/quic_types.h"
#include "quic/rtt.h"

typedef struct ho_quic_cc ho_quic_cc;

/* RFC 9002 §7.2 / B.1: kMinimumWindow = 2 * max_datagram_size. */
#define HO_QUIC_CC_MIN_WINDOW_PACKETS 2
/* RFC 9000 §14: the smallest max_datagram_size a QUIC path may have. */
#define HO_QUIC_MIN_MAX_DATAGRAM_SIZE 1200
/* congestion_recovery_start_time when no recovery period has started. */
#define HO_QUIC_CC_NO_RECOVERY INT64_MIN
#define HO_QUIC_CC_INFINITE_SSTHRESH UINT64_MAX

/* ho_quic_cc_packet, ho_quic_cc_ack, ho_quic_cc_phase and ho_quic_cc_ops
 * are public: handoff/quic_cc.h (included by quic_types.h). */

/* ---- algorithm state (the union members of ho_quic_cc) --------------- */

typedef struct ho_quic_newreno {
    uint64_t bytes_acked; /* RFC 3465 §2.1 byte counter for congestion avoidance */
} ho_quic_newreno;

/* HyStart++ (RFC 9406) state; see hystart.c. */
typedef struct ho_quic_hystart {
    bool active;     /* running: only during the initial slow start (§4.3) */
    bool in_css;     /* in Conservative Slow Start */
    bool has_window_end;
    uint64_t window_end;   /* round ends when a packet >= this is acked (§4.2) */
    bool has_sent;
    uint64_t largest_sent; /* SND.NXT - 1 */
    ho_quic_time last_round_min_rtt;    /* HO_QUIC_TIME_NEVER = infinity */
    ho_quic_time current_round_min_rtt; /* HO_QUIC_TIME_NEVER = infinity */
    ho_quic_time css_baseline_min_rtt;  /* HO_QUIC_TIME_NEVER = infinity */
    uint32_t rtt_sample_count;
    uint32_t css_rounds;
    bool css_done;         /* CSS_ROUNDS rounds completed: exit pending */
    uint64_t rounds;       /* rounds seen (diagnostics) */
    uint64_t css_entries;  /* times CSS was entered (diagnostics) */
} ho_quic_hystart;

typedef struct ho_quic_cubic {
    ho_quic_hystart hystart;
    bool fast_convergence; /* RFC 9438 §4.7 (on by default) */
    bool epoch_valid;      /* a congestion-avoidance epoch is running */
    ho_quic_time t_epoch;  /* its time origin */
    double w_max;          /* bytes; window before the last reduction */
    double k;              /* seconds for W_cubic to climb back to w_max */
    double cwnd_epoch;     /* bytes; cwnd at the start of the epoch */
    double cwnd_prior;     /* bytes; cwnd before the last reduction */
    double w_est;          /* bytes; Reno-friendly estimate (§4.3) */
    double alpha;          /* W_est growth per RTT, in segments */
    double cwnd_frac;      /* fractional bytes owed to cwnd */
    ho_quic_time app_limited_since;
} ho_quic_cubic;

/* BBR (draft-ietf-ccwg-bbr, v3 where it differs from v1) state; see bbr.c.
 * Bandwidths in bytes per second, volumes in bytes. */
enum {
    HO_QUIC_BBR_STARTUP,
    HO_QUIC_BBR_DRAIN,
    HO_QUIC_BBR_PROBE_BW_DOWN,
    HO_QUIC_BBR_PROBE_BW_CRUISE,
    HO_QUIC_BBR_PROBE_BW_REFILL,
    HO_QUIC_BBR_PROBE_BW_UP,
    HO_QUIC_BBR_PROBE_RTT,
};
/* "startup", "drain", "probe_bw_down", ... for a state above. */
const char *ho_quic_bbr_state_name(unsigned state);

typedef struct ho_quic_bbr {
    uint8_t state;            /* bbr.c's enum */
    uint8_t ack_phase;
    uint8_t full_bw_count;
    uint8_t bw_probe_up_rounds;
    bool filled_pipe, round_start, loss_round_start, loss_in_round;
    bool idle_restart, probe_rtt_round_done, probe_rtt_expired, bw_probe_samples;
    bool packet_conservation, cwnd_limited, has_seen_rtt;
    float pacing_gain, cwnd_gain;
    uint32_t cycle_count;     /* MaxBwFilter time: ProbeBW cycles */
    uint32_t round_count;
    uint32_t rounds_since_bw_probe;
    uint32_t loss_events_in_round;
    uint64_t max_bw_slot[2];  /* windowed max over MaxBwFilterLen = 2 cycles */
    uint64_t max_bw, bw, bw_lo, bw_latest;
    uint64_t inflight_hi, inflight_lo, inflight_latest;
    uint64_t full_bw;
    uint64_t next_round_delivered, loss_round_delivered;
    uint64_t extra_acked_slot[2];     /* windowed max over 10 rounds, 2 slots */
    uint64_t extra_acked_delivered;
    uint64_t prior_cwnd, probe_up_cnt, bw_probe_up_acks;
    ho_quic_time min_rtt, min_rtt_stamp;
    ho_quic_time probe_rtt_min_delay, probe_rtt_min_stamp, probe_rtt_done_stamp;
    ho_quic_time cycle_stamp, bw_probe_wait, extra_acked_interval_start;
    uint64_t rng;             /* xorshift64: probe-wait randomisation */
} ho_quic_bbr;

/* The delivery-rate bookkeeping of draft-ietf-ccwg-bbr ("C.delivered",
 * ...), kept by cc.c for every controller, outside the algorithm's state
 * so that undoing a spurious congestion event does not rewind it. */
typedef struct ho_quic_cc_rate {
    uint64_t delivered;              /* C.delivered */
    ho_quic_time delivered_time;     /* C.delivered_time */
    ho_quic_time first_sent_time;    /* C.first_sent_time */
    uint64_t app_limited;            /* C.app_limited: 0, or the delivered mark where it ends */
    uint64_t lost;                   /* C.lost */
    uint64_t lost_at_last_ack;       /* for rs.newly_lost */
} ho_quic_cc_rate;

/* ---- the controller --------------------------------------------------- */

struct ho_quic_cc {
    const ho_quic_cc_ops *ops;
    uint64_t max_datagram_size;
    uint64_t cwnd;            /* congestion_window, bytes */
    uint64_t ssthresh;        /* HO_QUIC_CC_INFINITE_SSTHRESH initially */
    uint64_t bytes_in_flight;
    ho_quic_time recovery_start_time; /* HO_QUIC_CC_NO_RECOVERY if none */
    bool in_recovery;         /* no packet sent after recovery_start_time acked yet */
    bool app_limited;         /* RFC 9002 §7.8 */
    bool recovery_send_credit;/* B.6 MaybeSendOnePacket: one packet past cwnd */
    /* counters */
    uint64_t congestion_events;
    uint64_t ecn_ce_events;
    uint64_t persistent_congestion_events;
    uint64_t pacing_rate;     /* bytes/s set by the controller; 0: RFC 9002 §7.7 default */
    ho_quic_cc_rate rate;     /* delivery-rate sampling */
    /* The algorithm's per-connection state: ho_quic_cc_state() for a
     * registered controller, a member for the built-ins. */
    union {
        ho_quic_newreno newreno;
        ho_quic_cubic cubic;
        ho_quic_bbr bbr;
        unsigned char area[HO_QUIC_CC_STATE_SIZE];
        max_align_t align_;
    } u;
};

/* ---- registry --------------------------------------------------------- */

extern const ho_quic_cc_ops ho_quic_cc_newreno;
extern const ho_quic_cc_ops ho_quic_cc_cubic;
extern const ho_quic_cc_ops ho_quic_cc_bbr;

/* "cubic", "newreno" or "bbr" (case-insensitive), or a name registered with
 * ho_quic_cc_register(); NULL or "" gives the default, CUBIC. Returns NULL
 * for an unknown name. */
const ho_quic_cc_ops *ho_quic_cc_by_name(const char *name);

/* ---- driving a controller --------------------------------------------- */

/* RFC 9002 §7.2: min(10 * mds, max(14720, 2 * mds)). */
uint64_t ho_quic_cc_initial_window(uint64_t max_datagram_size);
/* RFC 9002 §7.2: 2 * mds. */
uint64_t ho_quic_cc_minimum_window(uint64_t max_datagram_size);

/* ops NULL selects the default (CUBIC). max_datagram_size below 1200 is
 * raised to 1200 (RFC 9000 §14). */
void ho_quic_cc_init(ho_quic_cc *cc, const ho_quic_cc_ops *ops, uint64_t max_datagram_size,
                     ho_quic_time now);

/* RFC 9002 §7.2: a new max_datagram_size. Before any congestion event the
 * window is recomputed from the new initial window; it never drops below
 * the new minimum window. */
void ho_quic_cc_set_max_datagram_size(ho_quic_cc *cc, uint64_t max_datagram_size);

/* B.4: an in-flight packet was sent (ack-only packets are not in flight
 * and must not be passed). Clears app_limited once the window is full. */
void ho_quic_cc_on_packet_sent(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                               ho_quic_time now);
/* The same, also recording the packet's delivery-rate state into *tx
 * (pn, time_sent, bytes and the send-time fields of ho_quic_cc_packet),
 * which the caller keeps with the packet and hands back in the
 * ho_quic_cc_ack (or ho_quic_cc_on_packet_lost) for it. */
void ho_quic_cc_on_packet_sent_tx(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                                  ho_quic_time now, ho_quic_cc_packet *tx);
/* One in-flight packet (its send-time state) was declared lost: counts
 * C.lost and tells the algorithm (ops->on_packet_lost). Call before
 * ho_quic_cc_on_packets_lost for the same losses. */
void ho_quic_cc_on_packet_lost(ho_quic_cc *cc, const ho_quic_cc_packet *p, ho_quic_time now);
/* RFC 9002 §7.8 seen by the rate sampler: marks the samples of the
 * packets now in flight app-limited (draft-ietf-ccwg-bbr
 * MarkConnectionAppLimited). */
void ho_quic_cc_mark_app_limited(ho_quic_cc *cc);

/* B.5: removes the packets from bytes in flight and lets the algorithm grow
 * the window. Ends the recovery period when a packet sent after its start
 * is acknowledged (§7.3.2). */
void ho_quic_cc_on_packets_acked(ho_quic_cc *cc, const ho_quic_cc_ack *ack, const ho_quic_rtt *rtt,
                                 ho_quic_time now);

/* B.8 (first half): lost_bytes of in-flight packets left the network;
 * newest_sent_time is the send time of the newest of them. Starts a
 * congestion event unless already in recovery for that packet. */
void ho_quic_cc_on_packets_lost(ho_quic_cc *cc, uint64_t lost_bytes, ho_quic_time newest_sent_time,
                                ho_quic_time now);

/* B.6: a congestion event for a packet sent at sent_time: reduces the
 * window once per recovery period. Returns true if it started a new one. */
bool ho_quic_cc_on_congestion_event(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now);

/* B.7 / RFC 9002 §7.1: the peer-reported ECN-CE count increased; sent_time
 * is the send time of the largest acknowledged packet. */
bool ho_quic_cc_on_ecn_ce(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now);

/* B.8 (second half) / RFC 9002 §7.6.2: cwnd = kMinimumWindow and the
 * recovery period ends. The caller (recovery.c) decides that it happened. */
void ho_quic_cc_on_persistent_congestion(ho_quic_cc *cc, ho_quic_time now);

/* The last congestion event was spurious: lets the algorithm undo its
 * reduction if it can (ops->on_spurious_congestion). Returns false when
 * the algorithm does not support it (the reduction stands). */
bool ho_quic_cc_on_spurious_congestion(ho_quic_cc *cc, ho_quic_time now);

/* B.9: in-flight bytes of packets whose keys were discarded (§6.4). */
void ho_quic_cc_on_discarded(ho_quic_cc *cc, uint64_t bytes);

/* RFC 9002 §7.8: the sender is (not) limited by the application or flow
 * control rather than by the window. Set it after a send opportunity ended
 * for lack of data with bytes_in_flight < cwnd; do not set it when pacing
 * held packets back. The window does not grow while it is set. */
void ho_quic_cc_set_app_limited(ho_quic_cc *cc, bool app_limited, ho_quic_time now);

/* RFC 9002 §7: may a packet of `bytes` be sent now without taking
 * bytes_in_flight past cwnd? Also true once after entering recovery (B.6).
 * Probe packets (§7.5) bypass this check. */
bool ho_quic_cc_can_send(const ho_quic_cc *cc, uint64_t bytes);
/* cwnd - bytes_in_flight, 0 when the window is full. */
uint64_t ho_quic_cc_available(const ho_quic_cc *cc);

ho_quic_cc_phase ho_quic_cc_phase_of(const ho_quic_cc *cc);
const char *ho_quic_cc_phase_name(ho_quic_cc_phase phase);

/* ---- pacer (pacer.c) -------------------------------------------------- */

/* Token bucket (RFC 9002 §7.7): refills at ho_quic_cc_pacing_rate(), holds
 * at most a burst of HO_QUIC_PACER_BURST_PACKETS datagrams (the initial
 * window, as §7.7 suggests), starts full. Tokens are kept in
 * byte-nanoseconds-per-second units so refills never lose fractions.
 * ACK-only packets should not be paced (§7.7): don't pass them. */
#define HO_QUIC_PACER_BURST_PACKETS 10

typedef struct ho_quic_pacer {
    uint64_t max_datagram_size;
    uint64_t capacity;  /* burst, in bytes * 1e9 */
    uint64_t tokens;    /* bytes * 1e9 */
    ho_quic_time last;  /* time of the last refill; HO_QUIC_TIME_NEVER before use */
} ho_quic_pacer;

/* RFC 9002 §7.7: rate = N * congestion_window / smoothed_rtt with N = 1.25,
 * in bytes per second. UINT64_MAX if smoothed_rtt is 0. */
uint64_t ho_quic_cc_pacing_rate(const ho_quic_cc *cc, const ho_quic_rtt *rtt);

void ho_quic_pacer_init(ho_quic_pacer *p, uint64_t max_datagram_size);
/* Earliest time a packet of `bytes` may leave: `now` when the bucket holds
 * enough, else when it will have refilled enough. */
ho_quic_time ho_quic_pacer_next_send_time(ho_quic_pacer *p, const ho_quic_cc *cc,
                                          const ho_quic_rtt *rtt, uint64_t bytes, ho_quic_time now);
/* Takes `bytes` out of the bucket (never below empty). */
void ho_quic_pacer_on_packet_sent(ho_quic_pacer *p, const ho_quic_cc *cc, const ho_quic_rtt *rtt,
                                  uint64_t bytes, ho_quic_time now);

/* ---- HyStart++ (hystart.c), used by CUBIC's slow start ----------------- */

typedef enum ho_quic_hystart_verdict {
    HO_QUIC_HYSTART_CONTINUE,   /* stay where we are */
    HO_QUIC_HYSTART_ENTER_CSS,  /* RTT rose: slow start -> CSS */
    HO_QUIC_HYSTART_RESUME_SS,  /* RTT fell in CSS: back to slow start */
    HO_QUIC_HYSTART_EXIT,       /* CSS_ROUNDS done: congestion avoidance */
} ho_quic_hystart_verdict;

void ho_quic_hystart_init(ho_quic_hystart *h);
void ho_quic_hystart_on_packet_sent(ho_quic_hystart *h, ho_quic_pn_space space, uint64_t pn);
/* Called once per ACK frame while in slow start or CSS, before the window
 * grows: ends rounds and records the RTT sample. */
void ho_quic_hystart_on_ack(ho_quic_hystart *h, const ho_quic_cc_ack *ack);
/* After the growth of that ACK: the delay-increase / CSS checks. */
ho_quic_hystart_verdict ho_quic_hystart_check(ho_quic_hystart *h);
/* Divisor for slow-start growth: 1, or CSS_GROWTH_DIVISOR in CSS. */
uint64_t ho_quic_hystart_growth_divisor(const ho_quic_hystart *h);
/* Loss or ECN-CE during slow start/CSS, or persistent congestion:
 * HyStart++ is done for this connection (RFC 9406 §4.2, §4.3). */
void ho_quic_hystart_stop(ho_quic_hystart *h);

#endif
