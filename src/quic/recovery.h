/* QUIC loss detection (RFC 9002 §6 and Appendix A), sans-I/O.
 *
 * One ho_quic_recovery per connection (per path once migration exists):
 * sent-packet tracking for the three packet number spaces, the RTT
 * estimator, acknowledgment processing, packet- and time-threshold loss
 * detection, the loss-detection/PTO timer, key discard, and persistent
 * congestion detection; it drives the congestion controller (cc/cc.h).
 *
 * The caller (the connection) tells it what it sent and what the peer
 * acknowledged, passes `now` (ho_quic_time nanoseconds, quic_types.h) to
 * every call, asks for the timer deadline, and calls
 * ho_quic_recovery_on_timeout when it passes. Acknowledged, lost and
 * discarded packets come back through callbacks, with the opaque `frames`
 * handle the caller attached when sending, so it can free or retransmit
 * what they carried.
 *
 * Storage: per space, a ring of sent-packet records in packet-number order
 * (packets are sent in increasing order). Appending is O(1); the ring grows
 * by doubling, so there is no allocation per packet once it has reached the
 * connection's flight size. Acknowledged and lost records become
 * tombstones and are dropped from the front as soon as everything before
 * them is resolved. An ACK costs O(ranges * log n) to locate its ranges
 * plus O(1) per packet it acknowledges; loss detection only ever examines
 * the front of the ring (lost packets are always a prefix of the
 * unacknowledged ones, since both thresholds are monotone in send order),
 * so every record is visited O(1) times over its life.
 *
 * Callbacks run synchronously inside the call that triggers them and must
 * not call back into this object. */
#ifndef HO_QUIC_RECOVERY_H
#define HO_QUIC_RECOVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/quic_types.h"
#include "quic/rtt.h"
#include "quic/transport_error.h"
#include "quic/cc/cc.h"

/* RFC 9002 §6.1.1: the initial packet reordering threshold. */
#define HO_QUIC_PACKET_THRESHOLD 3
/* The packet threshold once a spurious loss showed reordering (RFC 9002
 * §6.1.1 lets it grow, as RACK does): in effect only the (adapted) time
 * threshold declares losses then. */
#define HO_QUIC_PACKET_THRESHOLD_MAX 1024
/* RFC 9002 §6.1.2: kTimeThreshold = 9/8, in eighths of an RTT; the
 * adaptive threshold grows up to 6 RTTs ("adaptive thresholds" MAY):
 * a packet held back by 2 RTTs, acknowledged after a delayed ACK, takes
 * up to about 4.5. */
#define HO_QUIC_TIME_THRESHOLD_8THS 9
#define HO_QUIC_TIME_THRESHOLD_8THS_MAX 48
/* Lost packets remembered per space to recognise a late acknowledgment
 * (a spurious loss): at most this many, and for at most four PTO periods
 * after they were declared lost. */
#define HO_QUIC_LOST_HISTORY 256

/* Flags on a sent packet. The caller sets the first five. */
enum {
    HO_QUIC_SENT_ACK_ELICITING = 0x01, /* carries a frame other than ACK, PADDING, CONNECTION_CLOSE */
    HO_QUIC_SENT_IN_FLIGHT = 0x02,     /* ack-eliciting or PADDING: counts in bytes_in_flight */
    HO_QUIC_SENT_ZERO_RTT = 0x04,      /* Application space packet sealed with 0-RTT keys */
    HO_QUIC_SENT_ECT0 = 0x08,          /* sent marked ECT(0) (the connection's ECN validation) */
    HO_QUIC_SENT_PMTU_PROBE = 0x80,    /* DPLPMTUD probe: its loss is no congestion signal (RFC 9002 §3) */
    /* set by recovery: */
    HO_QUIC_SENT_ACKED = 0x10,
    HO_QUIC_SENT_LOST = 0x20,
    HO_QUIC_SENT_DISCARDED = 0x40,
};

/* RFC 9002 A.1.1 sent packet fields, plus the caller's handle. */
typedef struct ho_quic_sent_packet {
    uint64_t pn;
    ho_quic_time time_sent;
    uintptr_t frames;   /* opaque to recovery: the caller's record of the frames */
    uint32_t bytes;     /* sent_bytes: QUIC packet size, no UDP/IP overhead */
    uint8_t flags;
    /* Set by recovery for in-flight packets: the congestion controller's
     * delivery-rate state at send (ho_quic_cc_packet's send-time fields). */
    bool cc_app_limited;
    uint64_t cc_delivered, cc_tx_in_flight, cc_lost;
    ho_quic_time cc_delivered_time, cc_first_sent_time;
} ho_quic_sent_packet;

typedef struct ho_quic_recovery_callbacks {
    void *ctx;
    /* Newly acknowledged, in ascending packet-number order, before any
     * loss is reported for the same ACK (so frames acknowledged in a later
     * packet need not be retransmitted from a lost earlier one). */
    void (*on_acked)(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
    /* Declared lost (RFC 9002 §6.1), ascending order. ACK-only packets are
     * reported too; they need no retransmission. */
    void (*on_lost)(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
    /* Forgotten because its keys were discarded (§6.4) or 0-RTT rejected. */
    void (*on_discarded)(void *ctx, ho_quic_pn_space space, const ho_quic_sent_packet *pkt);
} ho_quic_recovery_callbacks;

/* An ACK frame as the frame parser decodes it (RFC 9000 §19.3). */
typedef struct ho_quic_pn_range {
    uint64_t smallest;
    uint64_t largest;
} ho_quic_pn_range;

typedef struct ho_quic_ack_info {
    /* Descending, disjoint, as in the frame: ranges[0].largest is the
     * Largest Acknowledged. */
    const ho_quic_pn_range *ranges;
    size_t range_count;
    ho_quic_time ack_delay; /* decoded: field << ack_delay_exponent, in ns */
    bool has_ecn;           /* ACK_ECN frame (type 0x03) */
    uint64_t ect0, ect1, ecn_ce;
} ho_quic_ack_info;

/* What a timer expiry asks the connection to do. */
typedef enum ho_quic_timeout_kind {
    HO_QUIC_TIMEOUT_NONE,          /* nothing was due */
    HO_QUIC_TIMEOUT_LOSS,          /* time-threshold losses were declared (callbacks ran) */
    HO_QUIC_TIMEOUT_PTO,           /* send `probes` ack-eliciting packets in `space` */
    HO_QUIC_TIMEOUT_ANTI_DEADLOCK, /* client: one ack-eliciting packet in `space` */
} ho_quic_timeout_kind;

typedef struct ho_quic_timeout_action {
    ho_quic_timeout_kind kind;
    ho_quic_pn_space space;
    unsigned probes;   /* 1 or 2 for PTO (§6.2.4), 1 for anti-deadlock */
    bool pad_initial;  /* anti-deadlock Initial: datagram of at least 1200 bytes (§6.2.2.1) */
} ho_quic_timeout_action;

/* A packet declared lost, kept a while in case it is acknowledged late. */
typedef struct ho_quic_lost_record {
    uint64_t pn;
    ho_quic_time time_sent, time_lost;
    uint32_t episode;  /* the congestion episode its loss belongs to (0: none) */
    bool congestion;   /* in flight and no PMTU probe: its loss was a congestion signal */
    bool spurious;     /* acknowledged after all */
} ho_quic_lost_record;

typedef struct ho_quic_recovery_space {
    ho_quic_sent_packet *ring;  /* logical i at ring[(head + i) & (cap - 1)] */
    size_t cap, head, len;
    bool has_sent;
    uint64_t largest_sent;
    bool has_largest_acked;     /* A.4: largest_acked_packet = infinite until an ACK */
    uint64_t largest_acked;
    ho_quic_time time_of_last_ack_eliciting; /* A.3 */
    ho_quic_time loss_time;     /* A.3; HO_QUIC_TIME_NEVER when not set */
    size_t ack_eliciting_in_flight;
    uint64_t ecn_ce;            /* B.2 ecn_ce_counters[space] */
    unsigned probes;            /* probe packets a PTO asked for, not yet sent */
    bool discarded;
    /* §7.6.2: the run of lost ack-eliciting packets since the last
     * acknowledged one, in send order, counting only packets sent after
     * the first RTT sample. */
    bool pc_run;
    bool pc_run_grew;
    ho_quic_time pc_run_start, pc_run_end;
    ho_quic_time last_acked_dropped_time; /* send time of the newest acked record dropped from the ring */
    /* Recently lost packets, ascending pn: a ring of HO_QUIC_LOST_HISTORY
     * records, allocated at the first loss, freed by trim. */
    ho_quic_lost_record *lost;
    size_t lost_head, lost_len;
} ho_quic_recovery_space;

/* The congestion response of the newest loss episode, for its undo: the
 * controller as it was before the congestion event, and how many of the
 * episode's losses (in flight, not PMTU probes) are known spurious. */
typedef struct ho_quic_loss_episode {
    uint32_t id;            /* 0: none yet */
    bool undoable;          /* no later congestion event, no persistent congestion */
    uint64_t lost, spurious;
    uint64_t events_after;  /* cc->congestion_events right after the event */
    ho_quic_cc saved;
} ho_quic_loss_episode;

typedef struct ho_quic_recovery_stats {
    uint64_t packets_sent, packets_acked, packets_lost, packets_discarded;
    uint64_t pto_expirations, loss_timer_expirations;
    uint64_t persistent_congestion;
    /* Declared lost, then acknowledged; congestion responses undone
     * because every loss of their episode was spurious. */
    uint64_t packets_spurious_lost, congestion_undos;
    uint64_t reorder_distance_max; /* packets, seen in spurious losses */
    /* Ring records examined by ACK processing and loss detection. Stays
     * proportional to packets sent; tests check the complexity bound. */
    uint64_t records_visited;
} ho_quic_recovery_stats;

typedef struct ho_quic_recovery {
    ho_quic_recovery_space spaces[HO_QUIC_PN_SPACE_COUNT];
    ho_quic_rtt rtt;
    ho_quic_cc *cc;
    ho_quic_recovery_callbacks cb;
    bool is_server;
    bool handshake_confirmed;     /* RFC 9001 §4.1.2 */
    bool has_handshake_keys;
    bool handshake_ack_received;  /* client: an ACK arrived in a Handshake packet */
    bool amplification_limited;   /* server: blocked by the 3x limit (RFC 9000 §8.1) */
    unsigned pto_count;           /* A.3 */
    ho_quic_time timer;           /* loss_detection_timer; HO_QUIC_TIME_NEVER when off */
    ho_quic_cc_packet *scratch;   /* newly acked in-flight packets of one ACK */
    size_t scratch_cap;
    bool pc_pending;
    /* Adaptive loss detection thresholds (RFC 9002 §6.1.1, §6.1.2): raised
     * when a loss proves spurious, never lowered. */
    uint32_t packet_threshold;
    uint32_t time_threshold_8ths;
    ho_quic_loss_episode episode;
    ho_quic_recovery_stats stats;
} ho_quic_recovery;

/* Sets up the three spaces and the RTT estimator (initial_rtt <= 0: 333 ms,
 * RFC 9002 §6.2.2). cc must be initialised and outlive r; cb may be NULL.
 * Allocates nothing until the first packet is sent. */
void ho_quic_recovery_init(ho_quic_recovery *r, bool is_server, ho_quic_cc *cc,
                           const ho_quic_recovery_callbacks *cb, ho_quic_time initial_rtt);
/* Frees the rings without calling callbacks. */
void ho_quic_recovery_free(ho_quic_recovery *r);
/* Frees the rings of spaces with no packet recorded, the lost-packet
 * histories and the ACK scratch (a connection at rest); they are allocated
 * again when needed. */
void ho_quic_recovery_trim(ho_quic_recovery *r);

/* RFC 9002 A.5 OnPacketSent. pkt->pn, bytes, flags (ACK_ELICITING, IN_FLIGHT,
 * ZERO_RTT) and frames are the caller's; the send time is `now` (held at
 * the previous send time if the clock went back). Counts an ack-eliciting
 * packet against a pending PTO probe.
 * Errors: HO_ERR_INVALID_ARG if the space was discarded or pn is not above
 * every packet number sent before in the space; HO_ERR_NOMEM if the ring
 * could not grow (nothing recorded). */
int ho_quic_recovery_on_packet_sent(ho_quic_recovery *r, ho_quic_pn_space space,
                                    const ho_quic_sent_packet *pkt, ho_quic_time now);

/* RFC 9002 A.7 OnAckReceived, with A.10 loss detection and B.7 ECN: calls
 * on_acked for each newly acknowledged packet, takes an RTT sample if the
 * largest acknowledged is newly acknowledged and something ack-eliciting
 * was (§5.1; ack delay ignored for Initial, §5.3), declares losses
 * (on_lost), updates the congestion controller (losses first, then
 * acknowledgments, as A.7 orders them), detects persistent congestion
 * (§7.6), resets the PTO backoff (unless a client still awaits address
 * validation, §6.2.1) and re-arms the timer. Before loss detection it
 * checks the ranges against the recently lost packets: one acknowledged
 * after all was a spurious loss (reordering); it raises the packet and
 * time thresholds (§6.1.1, §6.1.2) and, once every loss of the newest
 * congestion episode proved spurious, restores the controller from before
 * that congestion event.
 * An ACK for a discarded space is ignored (HO_OK).
 * Errors, with nothing applied:
 *   HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION): acknowledges a packet number
 *     never sent — above the largest sent, or one the sender skipped
 *     (RFC 9000 §13.1, §21.4);
 *   HO_ERR_INVALID_ARG: malformed ranges (empty, smallest > largest, not
 *     descending) — the frame decoder should have refused them;
 *   HO_ERR_NOMEM. */
int ho_quic_recovery_on_ack_received(ho_quic_recovery *r, ho_quic_pn_space space,
                                     const ho_quic_ack_info *ack, ho_quic_time now);

/* The loss detection timer (A.8): when to call ho_quic_recovery_on_timeout,
 * HO_QUIC_TIME_NEVER if not armed. May be in the past (fire at once). */
ho_quic_time ho_quic_recovery_timer(const ho_quic_recovery *r);

/* RFC 9002 A.9 OnLossDetectionTimeout. Does nothing (kind NONE) if the
 * timer is not armed or not yet due. Otherwise either declares
 * time-threshold losses (kind LOSS) or asks for probes (PTO or client
 * anti-deadlock), bumps the PTO backoff and re-arms. Probes must be sent
 * even if the congestion window is full (§7.5); §6.2.4 suggests coalescing
 * ack-eliciting packets of the other spaces with data in flight. */
void ho_quic_recovery_on_timeout(ho_quic_recovery *r, ho_quic_time now, ho_quic_timeout_action *out);

/* Probe packets still owed in `space` after a PTO. */
unsigned ho_quic_recovery_probes_pending(const ho_quic_recovery *r, ho_quic_pn_space space);

/* The PTO period for `space` without backoff: smoothed_rtt +
 * max(4 * rttvar, kGranularity), + max_ack_delay for Application Data
 * (§6.2.1). For the idle and closing timeouts (RFC 9000 §10). */
ho_quic_time ho_quic_recovery_pto_period(const ho_quic_recovery *r, ho_quic_pn_space space);

/* RFC 9002 A.11 / §6.4: Initial or Handshake keys were discarded: forget
 * the space's packets (on_discarded), remove them from bytes in flight,
 * reset pto_count and re-arm. HO_ERR_INVALID_ARG for Application Data. */
int ho_quic_recovery_discard_space(ho_quic_recovery *r, ho_quic_pn_space space, ho_quic_time now);

/* RFC 9002 §6.4: 0-RTT was rejected: forget the Application space packets
 * flagged ZERO_RTT (on_discarded) and remove them from bytes in flight. */
void ho_quic_recovery_discard_0rtt(ho_quic_recovery *r, ho_quic_time now);

/* Handshake keys are available (chooses the anti-deadlock space, A.8). */
void ho_quic_recovery_on_handshake_keys(ho_quic_recovery *r, ho_quic_time now);
/* The handshake is confirmed (RFC 9001 §4.1.2): max_ack_delay now limits
 * ack delays, the Application space PTO may be armed. */
void ho_quic_recovery_on_handshake_confirmed(ho_quic_recovery *r, ho_quic_time now);
/* Server: whether the anti-amplification limit blocks sending (RFC 9002
 * §6.2.2.1: no PTO while blocked). After unblocking (a datagram arrived,
 * A.6), call on_timeout if the timer is now due. */
void ho_quic_recovery_set_amplification_limited(ho_quic_recovery *r, bool limited, ho_quic_time now);

/* Whether the space has ack-eliciting packets in flight. */
bool ho_quic_recovery_has_ack_eliciting_in_flight(const ho_quic_recovery *r, ho_quic_pn_space space);

#endif
