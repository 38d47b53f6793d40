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
HO_API extern const ho_conn_handler ho_h1_handler;

/* ---- HTTP/3 over QUIC on UDP ---------------------------------------- */

/* QUIC handler for ho_quic_listen_spec.handler (ho_server_listen_quic): HTTP/3
 * on every connection, answered through the router given as the spec's ctx
 * (which must outlive the server). The spec's TLS config needs ALPN "h3".
 * On a stop, connections close with H3_NO_ERROR. */
HO_API extern const ho_quic_handler ho_h3_handler;
/* The same, with a ho_h1_service as the spec's ctx: its router, and its
 * limits' max_body for request bodies (ho_h3_set_max_body). */
HO_API extern const ho_quic_handler ho_h3_service_handler;

#ifdef __cplusplus
}
#endif
#endif
