/*
 * handoff — QUIC congestion controllers an application can plug in.
 *
 * A controller is a table of callbacks (ho_quic_cc_ops) registered under a
 * name with ho_quic_cc_register(); a connection whose ho_quic_config.cc_name
 * is that name runs it. The built-in "cubic" (the default) and "newreno" are
 * tables of the same type, driven the same way.
 *
 * What the library does for every controller (RFC 9002 §7, Appendix B):
 * bytes in flight (B.4, B.5, B.8, B.9), the recovery period — one window
 * reduction per round trip: a loss of a packet sent before the current
 * recovery period started is not reported (B.6) —, ECN-CE counting (§7.1),
 * the decision that congestion is persistent (§7.6), the app-limited flag
 * (§7.8), the one packet allowed past the window on entering recovery (B.6),
 * probes that ignore the window (§7.5), and pacing (§7.7) at
 * 1.25 * cwnd / smoothed_rtt unless the controller sets its own rate.
 *
 * What a controller decides: the congestion window (cwnd) and the slow-start
 * threshold, through ho_quic_cc_set_window(), and optionally a pacing rate,
 * through ho_quic_cc_set_pacing_rate(). The library sends no more than cwnd
 * bytes in flight (§7: "MUST NOT send packets if it would cause
 * bytes_in_flight to be larger than the congestion window").
 *
 * Rules a controller must follow:
 *   - RFC 9002 §7.2: the window never goes below the minimum window,
 *     2 * max_datagram_size (ho_quic_cc_info.min_window);
 *     ho_quic_cc_set_window() raises a smaller value to it.
 *   - §7.3.2: on a congestion event the window MUST shrink (NewReno halves
 *     it; any reduction of at least the minimum window's worth is the
 *     controller's choice), and §7.6.2: on persistent congestion it MUST
 *     drop to the minimum window.
 *   - §7.8: the window SHOULD NOT grow while the sender is app-limited
 *     (ho_quic_cc_info.app_limited), nor for packets sent before the
 *     current recovery period (ho_quic_cc_in_recovery(cc, time_sent)).
 *   - A callback must not block, must not call into the connection
 *     (ho_quic_conn_*), and may only use the ho_quic_cc_* calls below on
 *     the ho_quic_cc it was given.
 *
 * Threading: a connection's controller callbacks run on the thread that
 * drives that connection (inside ho_quic_conn_receive, _send,
 * _handle_timeout), one at a time. Different connections may run the same
 * ops on different threads at once, so per-connection state belongs in
 * ho_quic_cc_state(cc), and anything shared (counters, a table) needs the
 * controller's own atomics or locks. ho_quic_cc_register() may be called
 * from any thread; register before creating the connections that use it.
 *
 * Per-connection state: the library gives each connection's controller a
 * zeroed area of HO_QUIC_CC_STATE_SIZE bytes, aligned for any scalar type
 * (ho_quic_cc_state()). Nothing is allocated for the controller and no
 * release callback exists: a controller needing more must size its state
 * to fit.
 *
 * Times are ho_quic_time nanoseconds on the connection's clock (quic.h);
 * windows and sizes are bytes.
 */
#ifndef HANDOFF_QUIC_CC_H
#define HANDOFF_QUIC_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef int64_t ho_quic_time;

/* The controller of one connection (opaque). */
typedef struct ho_quic_cc ho_quic_cc;

/* RFC 9000 §12.3: the packet number spaces; 0-RTT and 1-RTT share
 * Application Data. */
typedef enum ho_quic_pn_space {
    HO_QUIC_PN_SPACE_INITIAL = 0,
    HO_QUIC_PN_SPACE_HANDSHAKE = 1,
    HO_QUIC_PN_SPACE_APPLICATION = 2,
    HO_QUIC_PN_SPACE_COUNT = 3,
} ho_quic_pn_space;

/* An in-flight packet that was acknowledged (or lost). The fields after
 * `bytes` are the delivery-rate state the library recorded when the packet
 * was sent (draft-ietf-ccwg-bbr "Delivery Rate Samples": P.delivered,
 * P.delivered_time, P.first_sent_time, P.is_app_limited, P.tx_in_flight,
 * P.lost); the library turns them into ho_quic_cc_ack.rate, so most
 * controllers never read them. */
typedef struct ho_quic_cc_packet {
    uint64_t pn;
    ho_quic_time time_sent;
    uint64_t bytes;
    uint64_t delivered;           /* bytes delivered on the path when it was sent */
    ho_quic_time delivered_time;  /* time of that delivery count */
    ho_quic_time first_sent_time; /* send time of the first packet of its flight */
    uint64_t tx_in_flight;        /* bytes in flight just after it was sent */
    uint64_t lost;                /* bytes declared lost on the path when it was sent */
    bool is_app_limited;          /* sent while the sender was app-limited */
} ho_quic_cc_packet;

/* A delivery-rate sample (draft-ietf-ccwg-bbr, "rs"), computed by the
 * library for each ACK frame from the newest packet it acknowledged:
 * delivered / interval, where interval = max(send_elapsed, ack_elapsed).
 * delivery_rate is 0 (no sample) when the interval is shorter than
 * min_rtt, when there is no RTT sample yet, or when nothing was
 * acknowledged. */
typedef struct ho_quic_cc_rate_sample {
    uint64_t delivery_rate;     /* bytes per second; 0: no valid sample */
    uint64_t delivered;         /* bytes delivered over the interval */
    uint64_t prior_delivered;   /* P.delivered of the newest acked packet */
    ho_quic_time interval;      /* ns */
    uint64_t newly_acked;       /* bytes this ACK acknowledged */
    uint64_t newly_lost;        /* bytes declared lost since the previous ACK */
    uint64_t lost;              /* bytes lost since the newest acked packet was sent */
    uint64_t tx_in_flight;      /* bytes in flight when it was sent */
    uint64_t total_delivered;   /* C.delivered after this ACK */
    bool is_app_limited;        /* it was sent while app-limited */
} ho_quic_cc_rate_sample;

/* What one ACK frame newly acknowledged: in-flight packets only, ascending
 * packet number, all of one packet number space, already removed from
 * bytes in flight. The RTT estimates (RFC 9002 §5) are those after this
 * ACK; latest_rtt is this ACK's sample when rtt_sampled. */
typedef struct ho_quic_cc_ack {
    const ho_quic_cc_packet *packets;
    size_t count;
    ho_quic_pn_space space;
    bool rtt_sampled;
    ho_quic_time latest_rtt;
    ho_quic_time min_rtt;
    ho_quic_time smoothed_rtt;
    ho_quic_time rttvar;
    ho_quic_cc_rate_sample rate; /* filled in by the library */
} ho_quic_cc_ack;

/* Where the controller is (qlog, statistics). The library reports
 * RECOVERY during a recovery period and CONGESTION_AVOIDANCE once
 * cwnd >= ssthresh; below that, the ops' phase callback (or SLOW_START). */
typedef enum ho_quic_cc_phase {
    HO_QUIC_CC_SLOW_START,
    HO_QUIC_CC_CONSERVATIVE_SLOW_START, /* HyStart++ CSS (RFC 9406 §4.2) */
    HO_QUIC_CC_RECOVERY,                /* RFC 9002 §7.3.2 */
    HO_QUIC_CC_CONGESTION_AVOIDANCE,
} ho_quic_cc_phase;

/* The controller's callbacks. init, on_packets_acked, on_congestion_event
 * and on_persistent_congestion are required; the others may be NULL. Each
 * is called after the library has updated its own state (bytes in flight,
 * the recovery period). */
typedef struct ho_quic_cc_ops {
    const char *name; /* informational; the registry uses the registered name */
    /* A new connection (or path). Before it, cwnd is the initial window
     * (RFC 9002 §7.2: min(10 * mds, max(14720, 2 * mds))), ssthresh
     * infinite (UINT64_MAX) and the state area zeroed. */
    void (*init)(ho_quic_cc *cc, ho_quic_time now);
    /* An in-flight packet of `bytes` was sent (RFC 9002 B.4). */
    void (*on_packet_sent)(ho_quic_cc *cc, ho_quic_pn_space space, uint64_t pn, uint64_t bytes,
                           ho_quic_time now);
    /* One ACK frame's newly acknowledged in-flight packets (B.5). */
    void (*on_packets_acked)(ho_quic_cc *cc, const ho_quic_cc_ack *ack, ho_quic_time now);
    /* A NEW congestion event (B.6): packet loss (RFC 9002 §6) or, when
     * on_ecn_ce is NULL, an ECN-CE increase. sent_time is the send time of
     * the newest lost (or CE-marked) packet; the recovery period starts at
     * `now`. The window must shrink. */
    void (*on_congestion_event)(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now);
    /* An ECN-CE count increase that starts a congestion event (§7.1). */
    void (*on_ecn_ce)(ho_quic_cc *cc, ho_quic_time sent_time, ho_quic_time now);
    /* Persistent congestion (§7.6.2): the window must go to the minimum. */
    void (*on_persistent_congestion)(ho_quic_cc *cc, ho_quic_time now);
    /* The app-limited flag changed (§7.8). */
    void (*on_app_limited)(ho_quic_cc *cc, bool app_limited, ho_quic_time now);
    /* The slow-start sub-phase while cwnd < ssthresh. */
    ho_quic_cc_phase (*phase)(const ho_quic_cc *cc);
    /* The last congestion event was spurious (every packet it declared
     * lost was acknowledged after all). The library has already put back
     * the window, ssthresh and the state area as they were before the
     * event; the controller may adjust them now. NULL: nothing more. */
    void (*on_spurious_congestion)(ho_quic_cc *cc, ho_quic_time now);
    /* One in-flight packet was declared lost (RFC 9002 §6.1), before the
     * congestion event its loss causes; with its send-time state (BBR's
     * per-packet loss response). NULL: not needed. */
    void (*on_packet_lost)(ho_quic_cc *cc, const ho_quic_cc_packet *packet, ho_quic_time now);
} ho_quic_cc_ops;

/* What a controller may read. */
typedef struct ho_quic_cc_info {
    uint64_t max_datagram_size;  /* grows with DPLPMTUD (RFC 9000 §14.3) */
    uint64_t min_window;         /* 2 * max_datagram_size (RFC 9002 §7.2) */
    uint64_t initial_window;     /* RFC 9002 §7.2 */
    uint64_t cwnd;
    uint64_t ssthresh;           /* UINT64_MAX: infinite */
    uint64_t bytes_in_flight;
    uint64_t pacing_rate;        /* bytes/s set by the controller; 0: the default */
    ho_quic_time recovery_start_time; /* INT64_MIN: no recovery period yet */
    bool in_recovery;            /* no packet sent in the recovery period acked yet */
    bool app_limited;            /* RFC 9002 §7.8 */
    uint64_t delivered;          /* bytes acknowledged on the path so far */
    uint64_t lost;               /* bytes declared lost on the path so far */
} ho_quic_cc_info;

/* Size of the per-connection state area. */
#define HO_QUIC_CC_STATE_SIZE 256
/* How many controllers ho_quic_cc_register() accepts besides the built-in ones. */
#define HO_QUIC_CC_REGISTRY_MAX 8
/* Longest registered name, in bytes. */
#define HO_QUIC_CC_NAME_MAX 31

/* Registers `ops` under `name` (compared case-insensitively), so
 * ho_quic_config.cc_name = name selects it. `ops` must stay valid while
 * any connection uses it. HO_OK; HO_ERR_INVALID_ARG for a NULL or missing
 * required callback, an empty name or one longer than HO_QUIC_CC_NAME_MAX;
 * HO_ERR_EXISTS if the name is taken (the built-ins "cubic", "newreno",
 * "reno" and "bbr" included); HO_ERR_FULL once HO_QUIC_CC_REGISTRY_MAX are
 * registered. Thread-safe. */
HO_API int ho_quic_cc_register(const char *name, const ho_quic_cc_ops *ops);
/* Removes a registered controller (built-ins cannot be removed):
 * HO_OK or HO_ERR_NOT_FOUND. No connection may still use it. */
HO_API int ho_quic_cc_unregister(const char *name);

/* The controller's state area: HO_QUIC_CC_STATE_SIZE zeroed bytes. */
HO_API void *ho_quic_cc_state(ho_quic_cc *cc);
HO_API void ho_quic_cc_get_info(const ho_quic_cc *cc, ho_quic_cc_info *info);
/* Sets the window and slow-start threshold. cwnd below the minimum window
 * (RFC 9002 §7.2) is raised to it. */
HO_API void ho_quic_cc_set_window(ho_quic_cc *cc, uint64_t cwnd, uint64_t ssthresh);
/* Pacing rate in bytes per second; 0 returns to the library's
 * 1.25 * cwnd / smoothed_rtt (RFC 9002 §7.7); UINT64_MAX turns pacing off
 * (bursts of a full window: §7.7 advises against it). */
HO_API void ho_quic_cc_set_pacing_rate(ho_quic_cc *cc, uint64_t bytes_per_second);
/* RFC 9002 B.5 InCongestionRecovery: was a packet sent at sent_time sent
 * before the current recovery period began? Growth for it is not due. */
HO_API bool ho_quic_cc_in_recovery(const ho_quic_cc *cc, ho_quic_time sent_time);

#ifdef __cplusplus
}
#endif

#endif
