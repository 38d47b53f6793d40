/*
 * handoff — HTTP/1.1 service on the TLS-over-TCP server: parses pipelined
 * requests from a connection's plaintext, dispatches them through a router,
 * and writes the responses (one write per batch of pipelined requests).
 */
#ifndef HANDOFF_HTTP_SERVER_H
#define HANDOFF_HTTP_SERVER_H

#include "handoff/http.h"
#include "handoff/io.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ho_h1_service {
    const ho_router *router;
    ho_http_limits limits;
} ho_h1_service;

/* Connection handler for ho_listen_spec.handler; its ctx is a
 * ho_h1_service (which must outlive the server). It keeps its per-connection
 * parse state in the connection's user slot (ho_conn_set_user). */
extern const ho_conn_handler ho_h1_handler;

/* ---- HTTP/3 over QUIC on UDP ---------------------------------------- */

/* One UDP socket, one QUIC endpoint and HTTP/3 on every connection,
 * served by its own thread through the shared router. (One thread for
 * QUIC for now; the TCP side has the I/O thread pool.) */
typedef struct ho_h3_listener ho_h3_listener;
typedef struct ho_h3_listener_options {
    const char *bind;            /* IPv4/IPv6 literal; NULL: "0.0.0.0" */
    uint16_t port;
    ho_tls_config *tls;          /* server config with ALPN "h3" and a
                                  * certificate; prepared here for QUIC */
    const ho_router *router;
    bool force_retry;            /* validate every client address with Retry */
    uint64_t key_update_packets; /* initiate a 1-RTT key update after this many
                                  * packets under one key; 0: the QUIC default
                                  * (ho_quic_config.key_update_packets) */
    bool no_gso, no_gro;         /* UDP: no segmentation offload on send / receive */
    bool no_ecn;                 /* QUIC: never mark ECT (ho_quic_config.no_ecn) */
    size_t max_udp_payload;      /* DPLPMTUD ceiling and our max_udp_payload_size;
                                  * 0: the QUIC default (1452) */
} ho_h3_listener_options;
/* Binds now (errors before any thread starts). NULL on failure. */
ho_h3_listener *ho_h3_listener_new(const ho_h3_listener_options *o);
int ho_h3_listener_start(ho_h3_listener *l);
/* What the UDP socket uses after the kernel's answers (GSO, GRO, ECN). */
void ho_h3_listener_socket_features(const ho_h3_listener *l, bool *gso, bool *gro, bool *ecn);
/* Stops the thread (connections are closed with H3_NO_ERROR) and frees. */
void ho_h3_listener_free(ho_h3_listener *l);
/* Requests served on connections that are already gone. */
uint64_t ho_h3_listener_requests(const ho_h3_listener *l);

typedef struct ho_h3_listener_stats {
    uint64_t connections;        /* accepted by the endpoint */
    uint64_t connections_closed; /* freed (closed, drained or timed out) */
    uint64_t handshakes;         /* TLS handshakes completed */
    uint64_t resumed;            /* of those, resumed with a ticket (PSK) */
    uint64_t key_updates;        /* 1-RTT key updates (RFC 9001 §6), either side */
    uint64_t requests;           /* answered on connections already gone */
    uint64_t vn_sent, retry_sent; /* Version Negotiation and Retry packets */
    uint64_t datagrams_received, datagrams_dropped;
    uint64_t migrations, paths_validated; /* peers followed to a new address (RFC 9000 §9) */
} ho_h3_listener_stats;
/* A snapshot, safe from any thread while the listener runs; connection
 * counters are at most one loop iteration old. */
void ho_h3_listener_get_stats(const ho_h3_listener *l, ho_h3_listener_stats *st);
/* One JSON object, every field prefixed "h3_". */
void ho_h3_listener_stats_json(const ho_h3_listener_stats *st, ho_buf *out);

#ifdef __cplusplus
}
#endif
#endif
