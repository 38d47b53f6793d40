/* The QUIC server endpoint's internal state (endpoint.c: tables, life
 * cycle, endpoint-generated datagrams, new connections, output and timers;
 * endpoint_step.c: handshake steps on the pool and asynchronous TLS
 * callbacks). Single-threaded: the thread that drives the endpoint. */
#ifndef HO_QUIC_ENDPOINT_INT_H
#define HO_QUIC_ENDPOINT_INT_H

#include "handoff/quic.h"
#include "quic/conn_int.h"

#define QUEUE_MAX 256
#define PKT_MAX 1500

struct ep_step;

/* A datagram waiting for its connection's handshake step. */
typedef struct ep_dgram {
    struct ep_dgram *next;
    ho_quic_time at;
    ho_quic_path path;
    size_t len;
    uint8_t data[];
} ep_dgram;

enum { RETIRED_KEPT = 4 };

typedef struct ep_conn {
    ho_quic_conn *c;
    struct ep_conn *prev, *next;
    ho_quic_cid keys[2];
    int nkeys;
    bool in_handshake;            /* counted in handshakes in progress */
    bool step_offloaded;          /* a TLS step of it ran on the pool */
    struct ep_step *step;         /* the TLS step out (or back, not finished) */
    ep_dgram *q_head, *q_tail;    /* datagrams waiting for it */
    size_t qn;
    /* CIDs the peer retired, still routed to the connection (which drops
     * their packets) rather than answered with a stateless reset: a packet
     * sent before the RETIRE_CONNECTION_ID may arrive after it (reordered,
     * e.g. across a migration, or by a hand-over between I/O threads), and
     * a reset would kill the live connection. The oldest leaves the table
     * when a newer one needs the slot. */
    ho_quic_cid retired[RETIRED_KEPT];
    int nretired, retired_next;
    struct ep_conn *next_resume;  /* its asynchronous callback completed: run the step on */
    bool resume_queued;
    /* Every connection is in exactly one of two places. Active: it
     * received, timed out, got a step back or was changed by the
     * application since it last had nothing to send; the send loop and
     * the timers look at these only. Otherwise it waits in the timer heap
     * under its deadline (or nowhere, if it has none). So a tick costs
     * O(active + log n), not O(n). */
    struct ep_conn *aprev, *anext;
    bool active;
    size_t hpos;                  /* index in the heap + 1; 0: not in it */
    ho_quic_time deadline;        /* its key in the heap */
} ep_conn;

/* A TLS step on the pool. The worker touches only the connection (its
 * TLS, transport parameters and step state); the rest of this is the
 * home thread's. ec is NULL once the connection was released: the done
 * step then frees the connection. ep is NULL once the endpoint was freed. */
typedef struct ep_step {
    ho_job job;
    struct ho_quic_endpoint *ep;
    ep_conn *ec;
    ho_quic_conn *c;
    struct ep_step *prev, *next;  /* the endpoint's steps out */
    struct ep_step *next_back;    /* the endpoint's steps back, to finish */
    ho_quic_time submitted;       /* caller's clock */
    bool back;
} ep_step;

typedef struct ep_entry {
    struct ep_entry *next;
    ho_quic_cid cid;
    ep_conn *ec;
} ep_entry;

typedef struct ep_pkt {
    size_t len;
    ho_quic_path path;
    uint8_t data[PKT_MAX];
} ep_pkt;

typedef struct cid_table {
    ep_entry **buckets;
    size_t nbuckets, nentries;
} cid_table;

struct ho_quic_endpoint {
    ho_quic_endpoint_config cfg;
    size_t cid_len;
    uint8_t reset_key[32];
    uint64_t sip_k0, sip_k1;
    crypto_aead *token_seal, *token_open, *retry_aead;
    uint64_t token_seq;
    cid_table cids, tokens;
    ep_conn head;                 /* sentinel of the connection list */
    size_t nconns;
    ep_conn *act_head, *act_tail; /* the active connections */
    ep_conn *cursor;              /* send round-robin position among them */
    ep_conn **heap;               /* the others, a min-heap by deadline */
    size_t hlen, hcap;
    ep_pkt *queue;                /* endpoint-generated datagrams (ring) */
    size_t qhead, qlen;
    double reset_budget;
    ho_quic_time reset_refill_at;
    ho_quic_endpoint_stats st;
    uint8_t *scratch;             /* a client Initial opened before any connection */
    size_t scratch_cap;
    ho_quic_keys initial_rx;      /* its keys: contexts rekeyed per Initial */
    /* handshake offload */
    ep_step steps;                /* sentinel of the steps out */
    ep_step *back_head, *back_tail; /* steps whose done ran, to finish */
    /* asynchronous TLS callbacks: connections whose callback completed,
     * to run on; released connections kept until theirs completes */
    ep_conn *resume_head, *resume_tail;
    ho_quic_conn *zombies;
};

/* endpoint.c */
void quic_ep_activate(ho_quic_endpoint *ep, ep_conn *ec);
/* Frees the connection once it reached the closed state. */
void quic_ep_maybe_release(ho_quic_endpoint *ep, ep_conn *ec);
/* Counts the end of a handshake (and issues a NEW_TOKEN). */
void quic_ep_hs_update(ho_quic_endpoint *ep, ep_conn *ec);

/* endpoint_step.c */
void quic_ep_step_unlink(ho_quic_endpoint *ep, ep_step *s);
/* Runs the connection until it waits for a step out (or an asynchronous
 * callback) or has nothing queued. */
void quic_ep_conn_pump(ho_quic_endpoint *ep, ep_conn *ec, ho_quic_time now);
/* A datagram for a known connection: now, or after its step. */
void quic_ep_conn_input(ho_quic_endpoint *ep, ep_conn *ec, const uint8_t *dgram, size_t len,
                        const ho_quic_path *path, ho_quic_time now);
/* Finishes the steps that came back and runs on those whose asynchronous
 * callback completed. */
void quic_ep_steps_back(ho_quic_endpoint *ep, ho_quic_time now);
/* A new connection's TLS callbacks may answer later (with a pool). */
void quic_ep_async_enable(ho_quic_endpoint *ep, ep_conn *ec);
/* The connection leaves the endpoint (conn_release). */
void quic_ep_async_forget(ho_quic_endpoint *ep, ep_conn *ec);

#endif
