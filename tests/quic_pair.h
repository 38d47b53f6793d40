/* quic_pair: two bare connections (ho_quic_conn_new_client and
 * ho_quic_conn_new_server, no endpoint) over one simulated link, for tests
 * of the connection engine itself and of what runs directly on it (HTTP/3).
 * The server connection is made from the client's first Initial.
 *
 * It is netsim's lower layer: the same datagram queue (netsim_queue), a
 * virtual clock (ho_quic_time) and one seeded xorshift generator, so a run
 * is a pure function of its seed and configuration. Each direction has a
 * one-way delay, random loss and an optional extra uniform delay that
 * reorders. quic_pair_run jumps to the earliest of (next delivery, either
 * connection's timeout) until a predicate holds or a budget is spent.
 *
 * Every datagram sent is checked against two rules, counted for the test
 * to assert on: bytes in flight within the congestion window (RFC 9002
 * §7) and a client Initial datagram of at least 1200 bytes (RFC 9000
 * §14.1). */
#ifndef HO_TEST_QUIC_PAIR_H
#define HO_TEST_QUIC_PAIR_H

#include "netsim.h"

enum { QP_CLIENT = 0, QP_SERVER = 1 };
#define QUIC_PAIR_MTU 1500 /* the path MTU: larger datagrams (PMTU probes) vanish */

typedef struct quic_pair quic_pair;
typedef bool (*quic_pair_done_fn)(quic_pair *p, void *arg);

struct quic_pair {
    ho_quic_config ccfg, scfg;   /* adjust between init and start */
    ho_quic_conn *conn[2];       /* QP_CLIENT, QP_SERVER (NULL until the first Initial) */
    ho_quic_time now;
    uint64_t rng;
    unsigned loss_pct;           /* random loss, %, both directions */
    ho_quic_time delay;          /* one way (10 ms) */
    ho_quic_time jitter;         /* plus uniform [0, jitter): reorders */
    netsim_queue q;              /* in flight; pkt.dir is the receiving side */
    uint64_t dropped;            /* lost to loss_pct */
    uint64_t too_big;            /* over QUIC_PAIR_MTU */
    uint64_t cwnd_violations;    /* sends beyond cwnd + the probe allowance */
    uint64_t short_initials;     /* client datagrams with an Initial under 1200 bytes */
    void (*app)(quic_pair *p);   /* each step, before anything is sent */
    void (*on_server)(quic_pair *p); /* right after the server connection is made */
    void *user;                  /* the test's own state */
};

/* cb (its ctx is the test's) serves both connections. */
void quic_pair_init(quic_pair *p, const ho_quic_callbacks *cb, ho_tls_config *server_tls, ho_tls_config *client_tls,
                    unsigned loss_pct, uint64_t seed);
/* Makes the client connection from ccfg. */
bool quic_pair_start(quic_pair *p);
void quic_pair_free(quic_pair *p);
uint64_t quic_pair_rand(quic_pair *p);
/* Index of c (QP_CLIENT or QP_SERVER). */
int quic_pair_side(const quic_pair *p, const ho_quic_conn *c);

/* Puts a datagram on the link towards side `to` (through the loss if lossy). */
void quic_pair_enqueue(quic_pair *p, int to, const uint8_t *d, size_t len, bool lossy);
/* Sends everything `side` has to send onto the link. */
void quic_pair_flush(quic_pair *p, int side);
/* Hands a datagram to its receiver now (making the server from an Initial). */
void quic_pair_deliver(quic_pair *p, const netsim_pkt *d);
/* Advances the clock to the first datagram in flight, delivers it and
 * drops the rest (a test's scripted first flight). */
void quic_pair_deliver_first(quic_pair *p);

/* Steps until done(p, arg) or the clock passes now + budget; returns
 * done(p, arg) (NULL done: runs the budget out, returns false). */
bool quic_pair_run(quic_pair *p, quic_pair_done_fn done, void *arg, ho_quic_time budget);
/* Both sides' handshakes confirmed. */
bool quic_pair_hs_done(quic_pair *p, void *arg);
/* Both connections closed. */
bool quic_pair_closed(quic_pair *p, void *arg);

#endif
