/* ECN for one QUIC path (RFC 9000 §13.4, RFC 9002 §7.1, §B.7): the
 * codepoints we count on received packets (reported in ACK_ECN frames),
 * the marking of what we send and the validation of the peer's counts.
 * The connection calls these hooks from conn_recv.c / conn_send.c; the
 * state lives in ho_quic_conn.ecn (conn_int.h). */
#ifndef HO_QUIC_ECN_H
#define HO_QUIC_ECN_H

#include <stdbool.h>
#include <stdint.h>

#include "quic/quic_types.h"

/* IP-header codepoints (RFC 3168 §5): the two low bits of TOS / traffic class. */
#define HO_QUIC_ECN_NOT_ECT 0
#define HO_QUIC_ECN_ECT1 1
#define HO_QUIC_ECN_ECT0 2
#define HO_QUIC_ECN_CE 3

/* Packets marked ECT(0) while testing (RFC 9000 §A.4: ten), and the
 * testing period's length in PTOs (three). */
#define HO_QUIC_ECN_TESTING_PACKETS 10
#define HO_QUIC_ECN_TESTING_PTOS 3

typedef enum ho_quic_ecn_state {
    HO_QUIC_ECN_TESTING, /* marking, waiting for counts (§A.4) */
    HO_QUIC_ECN_UNKNOWN, /* testing budget spent, not marking, waiting */
    HO_QUIC_ECN_CAPABLE, /* validated: marking */
    HO_QUIC_ECN_FAILED,  /* validation failed (or disabled): never marking */
} ho_quic_ecn_state;

typedef struct ho_quic_ecn {
    ho_quic_ecn_state state;
    uint8_t rx_mark;              /* codepoint of the datagram being received */
    /* receive side: counts of ECT(0), ECT(1), CE per space (§13.4.1) */
    uint64_t rx[HO_QUIC_PN_SPACE_COUNT][3];
    /* send side */
    uint8_t tx_mark;              /* codepoint of the current send batch */
    ho_quic_time testing_start;   /* HO_QUIC_TIME_NEVER until the first mark */
    uint64_t testing_sent, testing_lost, testing_acked;
    uint64_t ect0_sent[HO_QUIC_PN_SPACE_COUNT];
    uint64_t peer[HO_QUIC_PN_SPACE_COUNT][3]; /* last validated peer counts */
    /* one ACK frame in progress (filled by the on_acked hook) */
    uint64_t acked_ect0;
    ho_quic_time acked_largest_time; /* send time of the largest newly acked */
    bool acked_any;
    uint64_t ce_reported;         /* peer-reported CE increases (sum) */
    uint64_t validation_failures;
} ho_quic_ecn;

#endif
