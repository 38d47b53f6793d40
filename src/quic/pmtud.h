/* DPLPMTUD for QUIC (RFC 8899 §5, RFC 9000 §14.3): after the handshake is
 * confirmed, PING+PADDING probes of growing sizes, each alone in its
 * datagram, raise max_datagram_size when acknowledged; a lost probe is not
 * a congestion signal (RFC 9002 §3); repeated loss of full-size packets
 * after a raise (a black hole, RFC 8899 §4.3) falls back to the base size.
 * State lives in ho_quic_conn.pmtud (conn_int.h); pmtud.c holds the logic. */
#ifndef HO_QUIC_PMTUD_H
#define HO_QUIC_PMTUD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/quic_types.h"

/* RFC 8899 §5.1.2 MAX_PROBES: tries per size before the search stops. */
#define HO_QUIC_PMTUD_MAX_PROBES 3
/* Consecutive lost packets larger than the base size, with none of that
 * size acknowledged in between, that declare a black hole. */
#define HO_QUIC_PMTUD_BLACK_HOLE_LOSSES 6
/* PTOs in a row, above the base size, that also declare one. */
#define HO_QUIC_PMTUD_BLACK_HOLE_PTOS 3
/* RFC 8899 §5.1.1 PMTU_RAISE_TIMER: a finished search (or a black-hole
 * fallback) resumes after this long. */
#define HO_QUIC_PMTUD_RAISE_TIMER HO_QUIC_SEC(600)
/* Default ceiling (ho_quic_config.max_udp_payload): IPv6 over Ethernet. */
#define HO_QUIC_PMTUD_DEFAULT_MAX 1452

typedef struct ho_quic_pmtud {
    size_t base;          /* BASE_PLPMTU: the configured max_datagram_size (>= 1200) */
    size_t current;       /* PLPMTU: the max_datagram_size in use */
    size_t max;           /* MAX_PLPMTU: min(our ceiling, the peer's max_udp_payload_size) */
    size_t probe_size;    /* the size being searched; 0: search over */
    ho_quic_time search_again_at; /* search over: when to resume (raise timer) */
    bool probe_in_flight;
    uint64_t probe_pn;
    unsigned probe_count; /* tries at probe_size */
    bool enabled;         /* handshake confirmed and max > base */
    uint64_t raised_from_pn; /* black-hole counting starts at this packet number */
    unsigned bh_losses;   /* large packets lost since the last large one acked */
    bool bh_small_acked;  /* ... and a small one was acked meanwhile */
    /* counters */
    uint64_t probes_sent, probes_acked, probes_lost, black_holes;
} ho_quic_pmtud;

#endif
