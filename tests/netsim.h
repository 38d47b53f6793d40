/* netsim: a deterministic, in-process network simulator for QUIC tests.
 *
 * Our clients (ho_quic_conn_new_client) talk to our server endpoint
 * (ho_quic_endpoint, which owns the server connections) over two simulated
 * directions per client (client->server, server->client). Each direction
 * has random loss, reordering (a fraction of datagrams held back by an
 * extra delay), duplication, a fixed one-way delay plus jitter, a
 * bandwidth limit (serialization delay behind a bounded tail-drop queue),
 * a blackhole period (everything sent inside it is dropped) and a
 * filter for scripted losses and ECN rewrites. Datagrams carry the ECN
 * codepoint their sender set (ho_quic_conn_ecn_codepoint, the endpoint's
 * out.ecn) to the receiver's ho_quic_path.ecn.
 *
 * Time is virtual (ho_quic_time nanoseconds); the only randomness is one
 * seeded xorshift generator, so a run is a pure function of its seed and
 * configuration. netsim_run steps by always jumping to the earliest of
 * (next datagram delivery, any client's timeout, the endpoint's timeout).
 *
 * Transfers: netsim_xfer_add opens a bidirectional stream on a client; its
 * first 9 bytes ask the server for `down` bytes (u64 big-endian length and
 * a pattern seed), followed by `up` bytes of pattern. The server checks
 * the upload byte for byte and answers with the download, which the client
 * checks byte for byte. A failed run prints the seed and the trace tail
 * (netsim_dump). Tests with their own applications use netsim.app, the
 * echo mode (netsim_echo_mode) or their own stream callbacks.
 *
 * The one network of the QUIC tests: tests of two bare connections use
 * its lower layer, quic_pair.h (same queue, clock and generator). */
#ifndef HO_TEST_NETSIM_H
#define HO_TEST_NETSIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "handoff/quic.h"
#include "quic/quic_types.h"

#define NETSIM_MAX_CLIENTS 20
#define NETSIM_MAX_XFERS 32
#define NETSIM_MAX_SRV_STREAMS 64
#define NETSIM_TRACE 48
#define NETSIM_SERVER_PORT 4433
#define NETSIM_CLIENT_PORT 40000 /* client i uses port 40000 + i */
#define NETSIM_PORTS 8           /* other ports a client may own (migration) */

enum { NETSIM_C2S = 0, NETSIM_S2C = 1 };

#define NETSIM_QDELAY_BINS 512
#define NETSIM_QDELAY_BIN HO_QUIC_MS(1) / 4 /* 0.25 ms */

/* A datagram about to enter a link: return true to drop it. `index` counts
 * the datagrams offered to this link so far (from 0). *ecn holds the ECN
 * codepoint its sender set (HO_QUIC_ECN_*); the filter may rewrite it, as
 * a network that bleaches, remarks or CE-marks would. */
typedef bool (*netsim_filter_fn)(void *ctx, int client, int dir, const uint8_t *d, size_t len, uint64_t index,
                                 uint8_t *ecn);

typedef struct netsim_link {
    /* configuration */
    unsigned loss_pct;           /* random loss, % */
    unsigned reorder_pct;        /* % of datagrams held back ... */
    ho_quic_time reorder_delay;  /* ... by an extra uniform [0, reorder_delay] */
    unsigned dup_pct;            /* % delivered twice (the copy up to 1 ms later) */
    ho_quic_time delay;          /* fixed one-way delay */
    ho_quic_time jitter;         /* plus uniform [-jitter, +jitter], order kept (FIFO) */
    uint64_t rate_bps;           /* bandwidth limit, 0: none */
    size_t queue_bytes;          /* bottleneck queue bound (tail drop), with rate_bps */
    ho_quic_time blackhole_from, blackhole_until; /* drop everything sent in [from, until) */
    size_t mtu;                  /* larger datagrams vanish (0: no limit) */
    /* state and counters */
    ho_quic_time busy_until;     /* the bottleneck serializes until then */
    ho_quic_time fifo_at;        /* arrival of the last in-order datagram */
    uint64_t offered, delivered, bytes_delivered;
    uint64_t lost, queue_drops, blackholed, filtered, duplicated, reordered;
    uint64_t too_big;            /* over mtu */
    uint64_t hook_dropped;       /* dropped on arrival by netsim.deliver_hook */
    uint64_t sent_ecn[4];        /* datagrams offered, by the codepoint their sender set */
    size_t max_len;              /* the largest datagram offered */
    /* Bottleneck queueing delay (with rate_bps): the time each datagram
     * that entered the queue waited there before its own serialization
     * began. Sum (ns), count, and a histogram of NETSIM_QDELAY_BIN-wide
     * bins (the last one holds everything beyond). */
    uint64_t qdelay_n;
    ho_quic_time qdelay_sum;
    uint32_t qdelay_hist[NETSIM_QDELAY_BINS];
} netsim_link;

typedef struct netsim_pkt {
    ho_quic_time at;
    uint64_t seq;      /* tie-break: equal times keep send order */
    int client, dir;
    uint8_t ecn;       /* the IP ECN codepoint, delivered in ho_quic_path.ecn */
    uint16_t port;     /* the client-side port: the source of c->s, the destination of s->c */
    size_t len;
    uint8_t *data;
} netsim_pkt;

/* One request/response stream: the client uploads `up` bytes, the server
 * answers with `down` bytes; both checked byte for byte. */
typedef struct netsim_xfer {
    bool used;
    int client;
    uint64_t id;
    uint64_t up, down;
    uint8_t seed;
    uint64_t written;            /* client: header + upload bytes buffered */
    uint64_t received;           /* client: download bytes checked */
    bool fin_received, bad;
    uint64_t srv_received;       /* server: upload bytes checked */
    bool srv_fin, srv_bad;
    ho_quic_time started, finished;
} netsim_xfer;

/* The server side of a stream, keyed by connection and stream id. */
typedef struct netsim_srv_stream {
    bool used;
    ho_quic_conn *c;
    uint64_t id;
    uint8_t hdr[9];
    size_t hdr_len;
    uint64_t down, seed;
    uint64_t up_received, down_written;
    bool up_fin, down_fin, bad;
} netsim_srv_stream;

/* Datagrams in flight, earliest first (equal times keep push order). The
 * one queue of every simulated network (netsim, quic_pair). */
typedef struct netsim_queue {
    netsim_pkt *heap;
    size_t n, cap;
    uint64_t next_seq;
} netsim_queue;

/* Copies d[0..len) in, with meta's at, client, dir, ecn and port. */
void netsim_queue_push(netsim_queue *q, const netsim_pkt *meta, const uint8_t *d, size_t len);
/* The earliest due time, HO_QUIC_TIME_NEVER when empty. */
ho_quic_time netsim_queue_next(const netsim_queue *q);
/* Takes the earliest datagram due at `now` or before into *out (the caller
 * frees out->data); false if none is due. */
bool netsim_queue_pop_due(netsim_queue *q, ho_quic_time now, netsim_pkt *out);
/* Drops everything in flight. */
void netsim_queue_clear(netsim_queue *q);
void netsim_queue_free(netsim_queue *q);

/* 127.0.0.1:port. */
void netsim_addr(struct sockaddr_storage *ss, socklen_t *len, uint16_t port);

typedef struct netsim netsim;
/* Called once per step before anything is sent (the application). */
typedef void (*netsim_app_fn)(netsim *ns);
typedef bool (*netsim_done_fn)(netsim *ns);

struct netsim {
    uint64_t seed, rng;
    ho_quic_time now;
    const char *name;            /* scenario name, for failure messages */
    ho_quic_endpoint *ep;
    ho_quic_endpoint_config ecfg;
    ho_quic_config ccfg;         /* template for clients */
    ho_quic_conn *cl[NETSIM_MAX_CLIENTS];
    ho_quic_path cpath[NETSIM_MAX_CLIENTS], spath[NETSIM_MAX_CLIENTS];
    int ncl;
    netsim_link link[NETSIM_MAX_CLIENTS][2];
    netsim_filter_fn filter;
    void *filter_ctx;
    netsim_app_fn app;
    void *user;
    /* The application wants to run (app) at this time; HO_QUIC_TIME_NEVER
     * (the default) for no wake-up of its own. */
    ho_quic_time app_wake;
    /* Sees every datagram the endpoint sends, before it enters a link
     * (also those to no client); returns true to drop it. */
    bool (*ep_out_hook)(netsim *ns, const ho_quic_endpoint_out *out);
    /* NAT rebinding: nonzero, client i's datagrams sent from now on reach
     * the server from this port (the server's replies to it go to client
     * i; the old port stays reachable). */
    uint16_t nat_port[NETSIM_MAX_CLIENTS];
    /* Other ports that are client i's: those it sent from (a migrated
     * path) and those a test adds (netsim_client_port); the server's
     * datagrams to them go to client i, arriving on that port. */
    uint16_t ports[NETSIM_MAX_CLIENTS][NETSIM_PORTS];
    /* Sees each datagram as it arrives (p->port: the client-side port);
     * returns true to drop it there (dead ports, a muted client). */
    bool (*deliver_hook)(netsim *ns, const netsim_pkt *p);
    netsim_queue q;              /* datagrams in flight */
    /* application state */
    netsim_xfer x[NETSIM_MAX_XFERS];
    netsim_srv_stream ss[NETSIM_MAX_SRV_STREAMS];
    /* events */
    int cli_hs[NETSIM_MAX_CLIENTS], cli_closed[NETSIM_MAX_CLIENTS], cli_close_err[NETSIM_MAX_CLIENTS];
    int srv_hs[NETSIM_MAX_CLIENTS], srv_closed[NETSIM_MAX_CLIENTS], srv_close_err[NETSIM_MAX_CLIENTS];
    uint64_t srv_close_code[NETSIM_MAX_CLIENTS];
    bool srv_close_by_peer[NETSIM_MAX_CLIENTS];
    ho_quic_conn_stats srv_last_stats[NETSIM_MAX_CLIENTS]; /* taken when the server conn is freed */
    bool srv_freed[NETSIM_MAX_CLIENTS];
    int accepted, freed;
    /* datagrams the endpoint sent to each client, and endpoint-generated ones */
    uint64_t ep_out[NETSIM_MAX_CLIENTS], ep_out_stateless[NETSIM_MAX_CLIENTS];
    uint64_t steps;
    /* echo mode (netsim_echo_mode): what each client got back */
    char echo[NETSIM_MAX_CLIENTS][64];
    size_t echo_len[NETSIM_MAX_CLIENTS];
    bool echo_fin[NETSIM_MAX_CLIENTS];
    /* trace ring */
    char trace[NETSIM_TRACE][112];
    unsigned ntrace;
};

/* Initializes (fresh TLS configs are shared by all instances: call
 * netsim_global_init once per program, netsim_global_free at the end). */
void netsim_global_init(void);
/* Nonzero: every netsim_init'ed client and server speaks only this QUIC
 * version (e.g. HO_QUIC_V2, to run a scenario in version 2). */
extern uint32_t netsim_quic_version;
/* The version client 0 ended with, recorded by the last netsim_free. */
extern uint32_t netsim_last_version;
void netsim_global_free(void);
void netsim_init(netsim *ns, uint64_t seed, const char *name);
/* Creates the endpoint from ns->ecfg (adjust it, e.g. ecfg.conn limits,
 * between init and start). */
bool netsim_start(netsim *ns);
void netsim_free(netsim *ns);
/* Sets both directions of client i (i = -1: every client slot). */
void netsim_set_links(netsim *ns, int i, const netsim_link *cfg);
/* A new client connection on port 40000 + i; returns i or -1. */
int netsim_add_client(netsim *ns);

/* Steps until done(ns) (checked after each step) or the virtual clock
 * passes now + budget. Returns done(ns). NULL done: runs to the budget or
 * until nothing is scheduled, and returns true. */
bool netsim_run(netsim *ns, netsim_done_fn done, ho_quic_time budget);
/* One zero-time pass: application, every sender flushed. */
void netsim_flush(netsim *ns);
/* Every sender flushed onto its link, no application. */
void netsim_send(netsim *ns);

/* Port `port` is client i's too (see netsim.ports). */
void netsim_client_port(netsim *ns, int i, uint16_t port);
/* The server connection of client i (NULL if none or freed). */
ho_quic_conn *netsim_server_conn(netsim *ns, int i);
/* Delivers a raw datagram from client i's address to the endpoint now,
 * bypassing the link. */
void netsim_inject(netsim *ns, int i, const uint8_t *d, size_t len);

/* Transfers (see the file comment); NULL if no stream could be opened. */
netsim_xfer *netsim_xfer_add(netsim *ns, int client, uint64_t up, uint64_t down, uint8_t seed);
bool netsim_xfers_done(netsim *ns);
/* Counts transfers that are incomplete or had a byte mismatch (either
 * side) and prints them. */
int netsim_xfers_check(netsim *ns);

/* Echo mode, instead of transfers (call between init and start): the
 * server sends each stream back as it arrives (messages of a few bytes),
 * each client collects what comes back in echo[i] (up to 64 bytes). */
void netsim_echo_mode(netsim *ns);
/* Client i opens a bidirectional stream (*id) and sends msg with FIN;
 * HO_OK or the error of the open or write. */
int netsim_echo_send(netsim *ns, int i, const char *msg, uint64_t *id);
bool netsim_all_echoed(netsim *ns); /* every client has its echo's FIN */
/* Every client's handshake confirmed and one server handshake done per client. */
bool netsim_all_hs(netsim *ns);
/* Zero-delay, lossless links for every client (tests of exchanges, not of a network). */
void netsim_zero_latency(netsim *ns);

bool netsim_hs_done(netsim *ns);     /* every client's handshake confirmed on both sides */
bool netsim_all_closed(netsim *ns);  /* every client closed and every server conn freed */

/* Queueing delay at a link's bottleneck: the mean, and the q-quantile
 * (0 < q <= 1, from the histogram: the upper edge of its bin), in ns. */
ho_quic_time netsim_qdelay_mean(const netsim_link *l);
ho_quic_time netsim_qdelay_quantile(const netsim_link *l, double q);

/* The congestion-control bottleneck scenario (docs/BENCHMARKS.md, test
 * test_quic_bbr): one client downloads `bytes` from the server whose
 * connections run controller `cc`, over 10 Mbit/s behind a 30 KB
 * tail-drop queue (server to client), 80 ms RTT (40 ms each way),
 * loss_pct % random loss in both directions, seeded. */
typedef struct netsim_cc_result {
    bool ok;                     /* completed, byte-exact */
    double seconds;              /* transfer time (after the handshake) */
    double goodput_mbps;         /* bytes * 8 / seconds */
    double qdelay_mean_ms, qdelay_p95_ms; /* server-to-client bottleneck */
    uint64_t queue_drops, random_losses;  /* server to client */
    uint64_t congestion_events;  /* the server connection's */
} netsim_cc_result;
bool netsim_cc_bottleneck(const char *cc, unsigned loss_pct, uint64_t bytes, uint64_t seed, netsim_cc_result *out);

/* The expected byte at offset i of a pattern. */
static inline uint8_t netsim_pattern(uint8_t seed, uint64_t i)
{
    return (uint8_t)(seed * 31u + i * 7u + (i >> 8) + (i >> 16));
}

/* Printf-style trace line (kept in a ring of the last NETSIM_TRACE). */
void netsim_trace(netsim *ns, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints the seed, the link counters and the trace tail to stderr. */
void netsim_dump(netsim *ns, const char *why);

/* The types of the packets coalesced in a datagram, as a bit mask of
 * 1 << ho_quic_pkt_type (headers only, nothing is decrypted). */
unsigned netsim_pkt_types(const uint8_t *d, size_t len);

/* Seals one packet of connection c in `space` (Initial, Handshake or 1-RTT
 * with its current keys and next packet number) carrying exactly `frames`
 * into *out (appended; Initials padded to 1200). For tests that play a
 * misbehaving peer. HO_OK or an error. */
int netsim_seal(ho_quic_conn *c, int space, const uint8_t *frames, size_t len, ho_buf *out);

/* The simulator's seeded generator (xorshift64), for tests that need
 * their own reproducible choices. */
uint64_t netsim_rand(netsim *ns);

#endif
