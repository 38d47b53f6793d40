/*
 * handoff — the QUIC connection (RFC 9000, RFC 9001, RFC 9002), sans-I/O.
 *
 * A connection never reads a clock and never touches a socket. The caller
 * drives it with four calls (DESIGN.md "QUIC: sans-I/O"):
 *   ho_quic_conn_receive(c, datagram, path, now)   a UDP datagram arrived;
 *   ho_quic_conn_send(c, buf, cap, &segment, now)  fill buf with back-to-back
 *        datagrams of `segment` bytes (the last may be shorter), ready for
 *        one GSO send; returns the bytes written, 0 when nothing is due;
 *   ho_quic_conn_next_timeout(c)                   when to call
 *   ho_quic_conn_handle_timeout(c, now)            and then send again.
 * Times are ho_quic_time nanoseconds on a caller-chosen monotonic clock.
 *
 * Events (handshake done, streams opened/readable/writable/reset, closed)
 * arrive through ho_quic_callbacks, synchronously, from inside receive,
 * send, handle_timeout or the stream calls. A callback may call the stream
 * functions but must not free the connection.
 *
 * Errors: HO_OK or a negative base.h error for misuse (HO_ERR_INVALID_ARG,
 * HO_ERR_NOT_FOUND for an unknown stream, HO_ERR_WOULD_BLOCK when a stream limit
 * or buffer is full, HO_ERR_CLOSED once the connection is closing). A
 * connection error (HO_ERR_QUIC(code), handoff/../quic/transport_error.h
 * values: wire code = err - 0x20000) is not returned by receive: it starts
 * the closing period, and ho_quic_conn_error() reports it.
 *
 * ECN (RFC 9000 §13.4): the caller passes each received datagram's IP
 * codepoint in ho_quic_path.ecn and, after ho_quic_conn_send, sets
 * ho_quic_conn_ecn_codepoint(c) on the datagrams it sends (ECT(0) while
 * the path is tested or validated, Not-ECT once validation failed).
 * DPLPMTUD (RFC 8899, RFC 9000 §14.3): datagrams start at max_datagram_size;
 * once the handshake is confirmed, probes raise the size up to
 * max_udp_payload (and the peer's limit); the segment size of a send
 * reports the size in use.
 *
 * Client: follows one Retry (RFC 9000 §17.2.5) and one Version Negotiation
 * (§6.2, restarting with a version the server lists), resumes a TLS session
 * (no 0-RTT); src/quic/client.c.
 *
 * Versions 1 and 2 (RFC 9369) with compatible version negotiation (RFC
 * 9368): ho_quic_config.versions; src/quic/version.c, docs/QUIC.md.
 *
 * Connection IDs and paths: after the handshake each side issues
 * NEW_CONNECTION_ID up to the peer's active_connection_id_limit (at most 4)
 * and replaces the ones the peer retires; a server follows a client to a
 * new address after validating it (RFC 9000 §9.3), a client migrates with
 * ho_quic_conn_migrate; a stateless reset from the peer (§10.3.1) ends the
 * connection with HO_ERR_QUIC_STATELESS_RESET.
 *
 * Not in this version: 0-RTT, preferred_address,
 * AEAD usage limits (RFC 9001 §6.6), DATAGRAM frames.
 */
#ifndef HANDOFF_QUIC_H
#define HANDOFF_QUIC_H

#include <sys/socket.h>

#include "handoff/base.h"
#include "handoff/offload.h"
#include "handoff/quic_cc.h"
#include "handoff/tls.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ho_quic_conn_error of a client whose Version Negotiation listed no
 * version it supports (RFC 9000 §6.2; the connection closed silently):
 * HO_ERR_QUIC_VERSION (handoff/error.h). */

/* Nanoseconds on the caller's monotonic clock (same as src/quic/quic_types.h). */
typedef int64_t ho_quic_time;
/* "No deadline" from ho_quic_conn_next_timeout. */
#define HO_QUIC_TIME_NEVER INT64_MAX

typedef struct ho_quic_conn ho_quic_conn;

/* The connection ended on a stateless reset from the peer (RFC 9000
 * §10.3.1): ho_quic_conn_error() and the closed callback report
 * HO_ERR_QUIC_STATELESS_RESET (handoff/error.h). */

/* A network path: the 4-tuple the datagram travelled on (local: ours,
 * remote: the peer). A NULL path (tests) matches any. */
typedef struct ho_quic_path {
    struct sockaddr_storage local, remote;
    socklen_t local_len, remote_len;
    /* Receive only: the ECN codepoint of the datagram's IP header (0
     * Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE; 0 when unknown). Not part of the
     * path's identity: compare paths by their addresses only. */
    uint8_t ecn;
} ho_quic_path;

typedef struct ho_quic_callbacks {
    void *ctx;
    /* The TLS handshake completed (client: Finished sent; server: client
     * Finished verified). */
    void (*handshake_done)(void *ctx, ho_quic_conn *c);
    /* The peer opened stream `id` (first frame seen for it). */
    void (*stream_opened)(void *ctx, ho_quic_conn *c, uint64_t id);
    /* Data or FIN can be read from `id`. */
    void (*stream_readable)(void *ctx, ho_quic_conn *c, uint64_t id);
    /* Stream `id` accepts writes again (send buffer or flow credit grew). */
    void (*stream_writable)(void *ctx, ho_quic_conn *c, uint64_t id);
    /* RESET_STREAM (receive side) or STOP_SENDING (send side) arrived. */
    void (*stream_reset)(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t app_error, bool stop_sending);
    /* The connection reached the closed state; no more sends. error is
     * HO_OK for an idle timeout, else as ho_quic_conn_error(). */
    void (*closed)(void *ctx, ho_quic_conn *c, int error);
    /* Client: the server sent a NewSessionTicket; the blob is opaque: offer
     * it on a later connection as ho_quic_config.session. It holds the QUIC
     * version and the server's transport parameters that 0-RTT may use
     * (RFC 9000 §7.4.1); it is offered only on that version (RFC 9369 §5). */
    void (*session_ticket)(void *ctx, ho_quic_conn *c, const uint8_t *blob, size_t len);
    /* A DATAGRAM frame arrived (RFC 9221; only when the config's
     * max_datagram_frame_size is set): its payload, valid during the call. */
    void (*datagram)(void *ctx, ho_quic_conn *c, const uint8_t *data, size_t len);
    /* Client: the server sent a NEW_TOKEN frame (RFC 9000 §19.7); the
     * token is opaque, valid during the call (ho_quic_conn_new_token keeps
     * the last one): give it as ho_quic_config.token to the next connection
     * to the same server, so that it may skip address validation. */
    void (*new_token)(void *ctx, ho_quic_conn *c, const uint8_t *token, size_t len);
} ho_quic_callbacks;

/* Transport parameters as the handshake callbacks see them (RFC 9000
 * §18.2; the CIDs, tokens and preferred_address are the connection's own
 * business and not shown). Times in milliseconds. */
typedef struct ho_quic_transport_params {
    uint64_t max_idle_timeout_ms;
    uint64_t max_udp_payload_size;
    uint64_t initial_max_data;
    uint64_t initial_max_stream_data_bidi_local;
    uint64_t initial_max_stream_data_bidi_remote;
    uint64_t initial_max_stream_data_uni;
    uint64_t initial_max_streams_bidi;
    uint64_t initial_max_streams_uni;
    uint64_t ack_delay_exponent;
    uint64_t max_ack_delay_ms;
    uint64_t active_connection_id_limit;
    uint64_t max_datagram_frame_size;
    bool disable_active_migration;
} ho_quic_transport_params;

/* Handshake callbacks (server). They run inside the TLS handshake step
 * that processes the ClientHello: on a handshake worker thread when the
 * endpoint offloads that step (ho_quic_endpoint_config.pool; "QUIC
 * handshake offload" in docs/QUIC.md), otherwise on the thread that drives
 * the connection. Either way the connection is not running anywhere else
 * meanwhile, but the callbacks must not call any ho_quic_conn function:
 * they get the TLS engine (owned by the calling thread for the duration of
 * the call: ho_tls_get_alpn, ho_tls_get_server_name, ho_tls_export) and
 * the connection's conn_id. A callback refuses with HO_ERR_TLS_ALERT(alert):
 * the connection closes with CRYPTO_ERROR 0x100 + alert (RFC 9001 §4.8);
 * any other error is taken as HO_ERR_TLS_ALERT(HO_ALERT_HANDSHAKE_FAILURE). */
typedef struct ho_quic_handshake_callbacks {
    void *ctx;
    /* The client's transport parameters arrived, ours are not sent yet
     * (what s2n-quic calls on_client_application_params). `server` holds
     * ours and may be changed; only these fields are taken back:
     * max_idle_timeout_ms, initial_max_data, initial_max_stream_data_*
     * (the smallest of the three becomes the value of all three),
     * initial_max_streams_bidi, initial_max_streams_uni; values §18.2
     * forbids fail the handshake (internal_error). */
    int (*on_client_params)(void *ctx, uint64_t conn_id, ho_tls *tls, const ho_quic_transport_params *client,
                            ho_quic_transport_params *server);
    /* The TLS exporter master secret exists (RFC 8446 §7.5; server: right
     * after the server's Finished is built, before any of its flight is
     * sent; client: on the server's Finished): ho_tls_export(tls, ...)
     * derives exported keying material from it (s2n-quic's
     * on_exporter_secret; dc-quic derives path secrets this way). Runs
     * once per connection. */
    int (*on_exporter_secret)(void *ctx, uint64_t conn_id, ho_tls *tls);
} ho_quic_handshake_callbacks;

#define HO_QUIC_V1 0x00000001u
#define HO_QUIC_V2 0x6b3343cfu
#define HO_QUIC_CONFIG_VERSIONS 4

typedef struct ho_quic_config {
    bool is_server;
    /* TLS configuration of the matching role, prepared once with
     * ho_quic_tls_config_prepare; must outlive the connections. */
    ho_tls_config *tls;
    const char *server_name;           /* client: SNI and certificate name */
    /* Transport parameters we announce (RFC 9000 §18.2). Zero selects the
     * default noted. */
    uint64_t max_idle_timeout_ms;      /* 30000 */
    uint64_t initial_max_data;         /* 1 MiB */
    uint64_t initial_max_stream_data;  /* 256 KiB, all three kinds */
    uint64_t initial_max_streams_bidi; /* 100 */
    uint64_t initial_max_streams_uni;  /* 100 */
    uint64_t max_ack_delay_ms;         /* 25 */
    size_t max_datagram_size;          /* 1200: datagrams until DPLPMTUD raises it (BASE_PLPMTU) */
    /* DPLPMTUD ceiling (RFC 8899 MAX_PLPMTU) and our max_udp_payload_size
     * transport parameter; 0: 1452. Set to max_datagram_size to disable
     * probing. The receive buffer must take this much (ho_udp: 64 KiB). */
    size_t max_udp_payload;
    bool no_ecn;                       /* never mark ECT (counts are still reported) */
    size_t cid_len;                    /* 8: our source connection IDs */
    size_t stream_send_buffer;         /* 1 MiB per stream */
    const char *cc_name;               /* "cubic" (default), "newreno", or a name
                                          given to ho_quic_cc_register() (quic_cc.h);
                                          an unknown name selects the default */
    ho_quic_time initial_rtt;          /* 0: 333 ms (RFC 9002 §6.2.2) */
    int64_t wall_clock_ms;             /* for the TLS engine (certificate validity); 0: not set */
    /* Initiate a 1-RTT key update once this many packets were sent with
     * one write key. 0: 2^22, half the AES-GCM confidentiality limit
     * (RFC 9001 §6.6). */
    uint64_t key_update_packets;
    uint64_t conn_id;                  /* carried in events (base.h) and by the TLS engine */
    /* RFC 9221 DATAGRAM frames: the largest frame we accept, announced as
     * max_datagram_frame_size; 0: DATAGRAM off (a peer's frame is then a
     * PROTOCOL_VIOLATION). 65535 takes any that fits a datagram. */
    uint64_t max_datagram_frame_size;
    size_t datagram_queue;             /* DATAGRAM frames waiting to be sent: 0 -> 64 */
    /* Announce disable_active_migration (§18.2): a server then drops
     * packets from a new peer IP address (NAT rebinding of the port is
     * still followed). */
    bool disable_active_migration;
    /* Server: makes every connection ID we issue (the first SCID, those of
     * NEW_CONNECTION_ID, the endpoint's Retry SCIDs) instead of random
     * bytes: cid_len bytes into cid. NULL: random. The multi-threaded
     * server uses ho_quic_cid_layout_make, so that a CID names its thread
     * and server (docs/QUIC.md "Connection IDs and threads"). */
    void (*cid_generate)(void *ctx, uint8_t *cid, size_t len);
    void *cid_generate_ctx;
    /* QUIC versions (HO_QUIC_V1 0x00000001, HO_QUIC_V2 0x6b3343cf, RFC 9369)
     * in order of preference, ended by 0 or the array's end; versions we do
     * not support are skipped. Client: the first is the version of its
     * first Initial (unless `version` below says otherwise) and the list is
     * sent as Available Versions (RFC 9368 §3), so a server may switch the
     * connection to another of them (compatible negotiation); all zero:
     * start in version 1 (or `version`) and offer the other one too. Server (and endpoint): the versions accepted (others
     * draw a Version Negotiation) and, when set, the preference that picks
     * the negotiated version among those the client lists; all zero: both
     * versions, staying in the client's. */
    uint32_t versions[HO_QUIC_CONFIG_VERSIONS];
    ho_quic_callbacks callbacks;
    ho_quic_handshake_callbacks hs_callbacks; /* on_exporter_secret also for clients */
    /* Client only. */
    uint32_t version;                  /* of the first Initial; 0: 1. Another value draws a
                                        * Version Negotiation (tests): RFC 9000 §6.2 */
    const uint8_t *session;            /* a session_ticket blob to resume with; NULL: none */
    size_t session_len;                /* (copied by ho_quic_conn_new_client) */
    /* A NEW_TOKEN token from an earlier connection to the same server
     * (the new_token callback), sent in our Initials until a Retry
     * replaces it (RFC 9000 §8.1.3); NULL: none. Copied. */
    const uint8_t *token;
    size_t token_len;
    /* Server, 0-RTT (docs/QUIC.md "0-RTT"): enabled by
     * ho_tls_config_set_early_data on the TLS config. Bytes of the
     * application's settings that 0-RTT depends on (HTTP/3 SETTINGS, RFC
     * 9114 §7.2.4.2), hashed with our transport parameters into the
     * context tickets carry: 0-RTT on a ticket of other settings is
     * rejected (RFC 9001 §4.6.2). Not copied; NULL: none. */
    const uint8_t *early_context;
    size_t early_context_len;
} ho_quic_config;

/* Registers the transport-parameters extension (0x39) on a TLS config.
 * Call once per config before it is used by connections. */
HO_API int ho_quic_tls_config_prepare(ho_tls_config *tls);

/* Client: random DCID (8 bytes, RFC 9000 §7.2) and SCID; the ClientHello
 * is queued, the first send emits it. NULL on failure. */
HO_API ho_quic_conn *ho_quic_conn_new_client(const ho_quic_config *cfg, const ho_quic_path *path, ho_quic_time now);
/* Server: for a client's first Initial (version 1) whose header the
 * endpoint parsed: the DCID it chose (original_destination_connection_id)
 * and its SCID. Feed the datagram itself to ho_quic_conn_receive next.
 * NULL on failure (DCID shorter than 8 bytes, RFC 9000 §7.2). */
HO_API ho_quic_conn *ho_quic_conn_new_server(const ho_quic_config *cfg, const uint8_t *client_dcid, size_t client_dcid_len,
                                      const uint8_t *client_scid, size_t client_scid_len, const ho_quic_path *path,
                                      ho_quic_time now);
HO_API void ho_quic_conn_free(ho_quic_conn *c);
/* A slot for the application (e.g. its HTTP/3 state), untouched by QUIC. */
HO_API void ho_quic_conn_set_user(ho_quic_conn *c, void *user);
HO_API void *ho_quic_conn_get_user(const ho_quic_conn *c);

/* A datagram arrived. Unusable packets are dropped silently (RFC 9000
 * §5.2, §12.2). Returns HO_OK, or HO_ERR_CLOSED once closed. The datagram
 * is not modified (it is copied for in-place decryption). */
HO_API int ho_quic_conn_receive(ho_quic_conn *c, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                         ho_quic_time now);
/* Writes datagrams of *segment_size bytes each (the last may be shorter)
 * into buf; returns the total, 0 if nothing may be sent now (nothing due,
 * congestion window, pacing, amplification limit). cap should hold at
 * least one datagram of max_datagram_size. */
HO_API size_t ho_quic_conn_send(ho_quic_conn *c, uint8_t *buf, size_t cap, size_t *segment_size, ho_quic_time now);
/* The ECN codepoint (0 Not-ECT or 2 ECT(0)) for the IP header of the
 * datagrams the last ho_quic_conn_send wrote (RFC 9000 §13.4.2). */
HO_API uint8_t ho_quic_conn_ecn_codepoint(const ho_quic_conn *c);
/* The earliest time handle_timeout (then send) must run; HO_QUIC_TIME_NEVER: none. */
HO_API ho_quic_time ho_quic_conn_next_timeout(const ho_quic_conn *c);
HO_API void ho_quic_conn_handle_timeout(ho_quic_conn *c, ho_quic_time now);

/* Starts the closing period with an application CONNECTION_CLOSE (0x1d;
 * 0x1c APPLICATION_ERROR in Initial/Handshake packets, RFC 9000 §10.2.3). */
HO_API int ho_quic_conn_close(ho_quic_conn *c, uint64_t app_error, const char *reason, ho_quic_time now);

/* RFC 9221: queues an unreliable datagram (copied) for the next 1-RTT
 * packets. It is congestion controlled and never retransmitted: a lost
 * one is counted (dgram_frames_lost), not resent. HO_ERR_INVALID_ARG when
 * the peer did not announce max_datagram_frame_size (or not yet: the
 * handshake) or len is above ho_quic_conn_datagram_max; HO_ERR_WOULD_BLOCK
 * when the queue is full (counted in dgram_frames_dropped); HO_ERR_CLOSED
 * once closing. */
HO_API int ho_quic_conn_send_datagram(ho_quic_conn *c, const uint8_t *data, size_t len);
/* The largest payload ho_quic_conn_send_datagram takes now: the peer's
 * limit and the datagram size in use (a 1-RTT packet with a short header,
 * the frame's type and length); 0 when DATAGRAM cannot be sent. */
HO_API size_t ho_quic_conn_datagram_max(const ho_quic_conn *c);

/* Starts a 1-RTT key update (RFC 9001 §6.1). HO_ERR_WOULD_BLOCK until the
 * handshake is confirmed, the previous update was answered, a packet under
 * the current key was acknowledged and three PTOs passed since the last
 * rotation (§6.5). Peer-initiated updates are followed automatically. */
HO_API int ho_quic_conn_key_update(ho_quic_conn *c, ho_quic_time now);
/* Key updates completed on the read side (either side initiated). */
HO_API uint64_t ho_quic_conn_key_updates(const ho_quic_conn *c);
/* Client: whether a Retry / a Version Negotiation was followed, and the
 * version now in use (for tests and diagnostics). */
HO_API bool ho_quic_conn_retried(const ho_quic_conn *c);
/* Client: the last NEW_TOKEN token the server sent on this connection
 * (RFC 9000 §19.7), NULL (*len 0) if none yet; valid until the next one
 * arrives or the connection is freed. Store it with the session and give
 * it as ho_quic_config.token to the next connection to that server. */
HO_API const uint8_t *ho_quic_conn_new_token(const ho_quic_conn *c, size_t *len);
HO_API bool ho_quic_conn_version_negotiated(const ho_quic_conn *c);
/* 0-RTT (RFC 9001 §4.6). Client: HO_TLS_EARLY_OFFERED while stream data
 * written now goes in 0-RTT packets (a session_ticket blob with the
 * server's transport parameters and early data enabled on the TLS
 * config), then ACCEPTED or REJECTED (everything sent in 0-RTT is sent
 * again in 1-RTT); NONE when not offered. Server: the TLS engine's
 * verdict (ACCEPTED: streams may carry 0-RTT data before the handshake
 * completes; REPLAYED: refused by the anti-replay checks). */
HO_API ho_tls_early_status ho_quic_conn_early_data(const ho_quic_conn *c);
HO_API uint32_t ho_quic_conn_version(const ho_quic_conn *c);
/* The congestion controller the connection runs ("cubic", "newreno", or a
 * registered one's ops name). */
HO_API const char *ho_quic_conn_cc_name(const ho_quic_conn *c);
/* The version of the client's first Initial, and whether compatible
 * version negotiation (RFC 9368 §2.3) moved the connection to another. */
HO_API uint32_t ho_quic_conn_original_version(const ho_quic_conn *c);
HO_API bool ho_quic_conn_version_switched(const ho_quic_conn *c);

HO_API bool ho_quic_conn_handshake_done(const ho_quic_conn *c);      /* TLS complete */
HO_API bool ho_quic_conn_handshake_confirmed(const ho_quic_conn *c); /* RFC 9001 §4.1.2 */
HO_API bool ho_quic_conn_is_closing(const ho_quic_conn *c);          /* closing or draining */
HO_API bool ho_quic_conn_is_closed(const ho_quic_conn *c);
/* The error that closed (or is closing) the connection: HO_OK (none / idle
 * timeout), HO_ERR_QUIC(code) for a transport error either side raised, a
 * TLS alert error, or HO_ERR_CLOSED for an application close. */
HO_API int ho_quic_conn_error(const ho_quic_conn *c);
/* The wire code in the CONNECTION_CLOSE sent or received, whether it was
 * the application variant (0x1d), and who sent it. */
HO_API uint64_t ho_quic_conn_close_code(const ho_quic_conn *c, bool *is_app, bool *by_peer);
/* The reason phrase of that CONNECTION_CLOSE ("" if none; at most 63 bytes). */
HO_API const char *ho_quic_conn_close_reason(const ho_quic_conn *c);
HO_API ho_tls *ho_quic_conn_tls(ho_quic_conn *c);
/* Whether the keys of an epoch (HO_EPOCH_INITIAL, _HANDSHAKE, _APP) are
 * installed (for tests and diagnostics): either direction. */
HO_API bool ho_quic_conn_has_keys(const ho_quic_conn *c, ho_epoch epoch);

typedef struct ho_quic_conn_stats {
    uint64_t datagrams_sent, datagrams_received, bytes_sent, bytes_received;
    uint64_t packets_sent, packets_received, packets_dropped, packets_lost, pto_count;
    uint64_t cwnd, bytes_in_flight;
    ho_quic_time smoothed_rtt;
    /* ECN (RFC 9000 §13.4): ecn_state 0 testing, 1 unknown (testing over,
     * awaiting counts), 2 capable (validated), 3 failed or disabled. */
    int ecn_state;
    bool ecn_capable;
    uint64_t ecn_ce_reported;                    /* CE increases the peer reported */
    uint64_t ecn_ect0_received, ecn_ce_received; /* packets we received so marked */
    /* DPLPMTUD (RFC 8899): the datagram size in use and the probes. */
    uint64_t max_datagram_size;
    uint64_t pmtud_probes_sent, pmtud_probes_acked, pmtud_probes_lost, pmtud_black_holes;
    /* Connection IDs and paths: NEW_CONNECTION_ID issued and retired by the
     * peer, path changes (server: following the peer; client:
     * ho_quic_conn_migrate), validations that succeeded and failed. */
    uint64_t cids_issued, cids_retired;
    uint64_t migrations, path_challenges_sent, paths_validated, path_validation_failures;
    /* DATAGRAM frames (RFC 9221): sent, received, declared lost (never sent
     * again), dropped before sending (queue full, or too large for the
     * path once their turn came). */
    uint64_t dgram_frames_sent, dgram_frames_received, dgram_frames_lost, dgram_frames_dropped;
    /* Reordering (RFC 9002 §6.1): packets declared lost that were
     * acknowledged later, congestion responses undone because all the
     * losses behind them were such, and the loss-detection thresholds now
     * in use (packets; eighths of an RTT). */
    uint64_t packets_spurious_lost, congestion_undos;
    uint64_t packet_threshold, time_threshold_8ths;
    /* NEW_TOKEN frames (RFC 9000 §19.7): server: tokens queued to send
     * (retransmissions not counted); client: tokens received. */
    uint64_t new_tokens_sent, new_tokens_received;
    /* 0-RTT packets (RFC 9001 §4.6): client: sent; server: received,
     * accepted (opened with the 0-RTT keys and processed) and dropped
     * (no keys: 0-RTT rejected or not enabled, keys discarded, or not
     * opening). */
    uint64_t zero_rtt_sent, zero_rtt_received, zero_rtt_accepted, zero_rtt_dropped;
} ho_quic_conn_stats;
HO_API void ho_quic_conn_get_stats(const ho_quic_conn *c, ho_quic_conn_stats *st);

/* ---- qlog (src/quic/qlog.c; docs/DEBUGGING.md) ------------------------
 *
 * Writes one file per QUIC connection into dir, named
 * <original-destination-CID-hex>_<server|client>.sqlog: JSON-SEQ records
 * (RS before each) of draft-ietf-quic-qlog-main-schema with the "quic:"
 * events of draft-ietf-quic-qlog-quic-events (packet_sent, packet_received,
 * packet_lost, packet_dropped, recovery_metrics_updated, key_updated,
 * parameters_set, connection_state_updated, migration_state_updated,
 * ecn_state_updated, mtu_updated). An event subscriber (handoff/event.h):
 * records are buffered per connection (64 KiB) and written when the
 * buffer fills and when the connection is freed, on the connection's
 * thread. Start once, before connections exist; HO_ERR_INVALID_ARG for an
 * empty or too long dir or a second start, HO_ERR_IO if dir is not
 * writable, HO_ERR_NOMEM if no subscriber slot is left. */
HO_API int ho_qlog_start(const char *dir);
/* Stops writing; call after the connections were freed (an open file is
 * completed when its connection is freed). */
HO_API void ho_qlog_stop(void);
/* The qlog directory an application should use: flag if set, else the
 * QLOGDIR environment variable, else NULL. */
HO_API const char *ho_qlog_dir_from_env(const char *flag);

/* ---- paths (RFC 9000 §8.2, §9) ---------------------------------------- */

/* Client: moves the connection to new_path (a new local address) with a
 * peer CID never used before (§9.5), resets congestion control and RTT
 * (RFC 9000 §9.4) and validates the path with PATH_CHALLENGE; if that
 * fails (3 PTOs, §8.2.4) it goes back to the previous path. Datagrams go
 * out on the new path from the next send. Errors: HO_ERR_INVALID_ARG on a
 * server or when the server sent disable_active_migration,
 * HO_ERR_WOULD_BLOCK before the handshake is confirmed or while no unused
 * peer CID is available, HO_ERR_CLOSED when closing. */
HO_API int ho_quic_conn_migrate(ho_quic_conn *c, const ho_quic_path *new_path, ho_quic_time now);
/* The current path (where data goes). */
HO_API const ho_quic_path *ho_quic_conn_path(const ho_quic_conn *c);
/* Where the datagrams returned by the last ho_quic_conn_send go: the
 * current path, except a lone PATH_RESPONSE to a peer address that probed
 * (§8.2.2: answered on the path the challenge came from). */
HO_API const ho_quic_path *ho_quic_conn_send_path(const ho_quic_conn *c);

/* ---- streams (RFC 9000 §2-§4) ---------------------------------------- */

/* Opens the next local stream. HO_ERR_WOULD_BLOCK when the peer's MAX_STREAMS
 * forbids it (§4.6), HO_ERR_CLOSED when closing. */
HO_API int ho_quic_stream_open(ho_quic_conn *c, bool bidi, uint64_t *id);
/* Buffers up to the stream's send-buffer room; *written gets the count
 * (may be 0: HO_ERR_WOULD_BLOCK). fin applies only if all of len was taken.
 * HO_ERR_INVALID_ARG for a receive-only stream or after fin/reset. */
HO_API int ho_quic_stream_write(ho_quic_conn *c, uint64_t id, const void *data, size_t len, bool fin, size_t *written);
/* Called when the connection no longer needs bytes given by reference:
 * data and len are one piece of what ho_quic_stream_write_ref took (a
 * reference may be released in several pieces, in order, and adjacent
 * references with the same release and ud in one). Runs inside the call
 * that acknowledged the bytes (ho_quic_conn_recv and friends) or freed the
 * stream (ho_quic_conn_free, stream close); it must not call into the
 * connection. */
typedef void (*ho_quic_release_fn)(void *ud, const void *data, size_t len);
/* Like ho_quic_stream_write, but buffers a reference to data instead of a
 * copy (no copy before the packet's own): the bytes are read again for
 * every transmission and retransmission, so they must stay valid and
 * unchanged until release (ud, piece) has been called for every byte taken
 * (*written; release is never called for bytes not taken). release may be
 * NULL for memory that outlives the connection. The bytes count toward the
 * stream's send-buffer room like copied ones. Errors as ho_quic_stream_write. */
HO_API int ho_quic_stream_write_ref(ho_quic_conn *c, uint64_t id, const void *data, size_t len, bool fin,
                             ho_quic_release_fn release, void *ud, size_t *written);
/* Reads in-order data; *fin true once the final byte was read. Returns
 * HO_OK with *nread 0 if nothing is available yet, HO_ERR_NOT_FOUND for an
 * unknown (or finished and freed) stream, HO_ERR_INVALID_ARG for send-only. */
HO_API int ho_quic_stream_read(ho_quic_conn *c, uint64_t id, void *buf, size_t cap, size_t *nread, bool *fin);
/* RESET_STREAM our send side (§19.4). */
HO_API int ho_quic_stream_reset(ho_quic_conn *c, uint64_t id, uint64_t app_error);
/* STOP_SENDING for the receive side (§19.5). */
HO_API int ho_quic_stream_stop_sending(ho_quic_conn *c, uint64_t id, uint64_t app_error);
/* Whether everything written to every stream (data, FIN, RESET_STREAM)
 * has been acknowledged: closing the connection now loses nothing sent. */
HO_API bool ho_quic_conn_send_settled(const ho_quic_conn *c);

/* ---- server connection ID layout (src/quic/cid.c) --------------------
 *
 * The plaintext CID format of draft-ietf-quic-load-balancers (QUIC-LB, §5.2
 * "Plaintext CID Algorithm"), so that an L4 load balancer in front of a
 * fleet can route by CID, plus the I/O thread inside this server:
 *
 *   octet 0            config rotation (3 high bits, 0..6; 7 is the
 *                      draft's "unroutable") | CID length - 1 (5 low bits,
 *                      the draft's length self-encoding)
 *   octets 1..S        server id (S = server_id_len, 1..15)
 *   octet 1+S          thread octet: its value mod nthreads is the owning
 *                      I/O thread (the other bits are random)
 *   octets 2+S..L-1    random nonce (with the thread octet, at least 4
 *                      octets of nonce, as the draft asks)
 *
 * L = max(8, 1 + S + 4). The thread octet is the one the reuseport BPF
 * program reads (ho_quic_cid_layout_thread_offset). */
typedef struct ho_quic_cid_layout {
    uint8_t config_id;      /* 0..6 */
    uint8_t server_id[15];
    size_t server_id_len;   /* 1..15 */
    size_t cid_len;         /* L, set by ho_quic_cid_layout_init */
    unsigned nthreads;      /* 1..256 */
} ho_quic_cid_layout;

/* HO_ERR_INVALID_ARG for a config id above 6, a server id of 0 or more
 * than 15 octets, or nthreads outside 1..256. */
HO_API int ho_quic_cid_layout_init(ho_quic_cid_layout *l, uint8_t config_id, const uint8_t *server_id, size_t server_id_len,
                            unsigned nthreads);
/* Writes a fresh CID of l->cid_len octets for thread (< nthreads). */
HO_API void ho_quic_cid_layout_make(const ho_quic_cid_layout *l, unsigned thread, uint8_t *cid);
/* Offset of the thread octet in the CID (1 + server_id_len). */
HO_API size_t ho_quic_cid_layout_thread_offset(const ho_quic_cid_layout *l);
/* The thread a destination CID of any origin steers to: its thread octet
 * mod nthreads, or -1 when the CID is too short to hold one (such a
 * datagram stays where the kernel put it). Our own CIDs give their owner;
 * a client's random first DCID gives the thread that will create (and
 * own) the connection. The BPF program computes the same. */
HO_API int ho_quic_cid_layout_thread_of(const ho_quic_cid_layout *l, const uint8_t *cid, size_t len);
/* Whether cid has our layout: length, config id, length octet and server
 * id match (the thread, when thread != NULL, as above). */
HO_API bool ho_quic_cid_layout_decode(const ho_quic_cid_layout *l, const uint8_t *cid, size_t len, unsigned *thread);

/* ======================================================================
 * endpoint — the sans-I/O QUIC server endpoint (src/quic/endpoint.c)
 * ======================================================================
 * One endpoint per I/O thread, single-threaded. It demultiplexes datagrams
 * by destination connection ID (RFC 9000 §5.1, §5.2), creates connections
 * on valid client Initials, answers Version Negotiation (§6), Retry with
 * AEAD-sealed address-validation tokens (§8.1.2), stateless reset (§10.3)
 * and refuses connections above max_connections (§5.2.2). It owns its
 * connections: a connection is freed (conn_free callback first) once
 * closed, after the receive/send/handle_timeout call that closed it.
 *
 *   ho_quic_endpoint_receive(ep, dgram, len, path, now)   a datagram arrived;
 *   ho_quic_endpoint_send(ep, &out, now)                  one GSO-ready batch
 *        (back-to-back datagrams of out.segment_size to out.path.remote);
 *        call until it returns 0;
 *   ho_quic_endpoint_next_timeout / ho_quic_endpoint_handle_timeout.
 */

typedef struct ho_quic_endpoint ho_quic_endpoint;

typedef struct ho_quic_endpoint_config {
    /* Template for every connection (is_server must be true). Its
     * callbacks are given to each connection as is. */
    ho_quic_config conn;
    /* Static secret: token AEAD key and stateless-reset key are derived
     * from it (HKDF), so it must be the same on every endpoint that may
     * see a connection's packets (all SO_REUSEPORT threads, restarts). */
    uint8_t static_secret[32];
    bool force_retry;                 /* validate every address with Retry (§8.1.2) */
    size_t max_connections;           /* 0: 10000; beyond: CONNECTION_REFUSED (§5.2.2) */
    ho_quic_time token_lifetime;      /* Retry token validity; 0: 10 s */
    /* NEW_TOKEN (RFC 9000 §8.1.3): once a connection's handshake is
     * confirmed, the endpoint sends the client a token bound to its IP
     * address (not its port) and valid this long (wall clock, ms); a
     * valid one in a later Initial validates the address (no Retry, no
     * amplification limit). 0: 24 hours; negative: send none (tokens
     * presented are still checked). Sealed with the Retry token key (from
     * static_secret), so every endpoint sharing the secret takes them. */
    int64_t new_token_lifetime_ms;
    /* The wall clock NEW_TOKEN tokens carry (milliseconds since the Unix
     * epoch: tokens outlive restarts and travel between servers, so not
     * the monotonic `now`); called with ctx. NULL: the system clock. */
    int64_t (*wall_clock_ms)(void *ctx);
    uint32_t stateless_resets_per_sec;/* 0: 1000 (§10.3: limit generation) */
    /* ---- handshake offload (docs/QUIC.md "QUIC handshake offload") ----
     * With a pool, the server's two expensive TLS steps (the ClientHello:
     * key exchange, server flight, signature; the client's Finished) run as
     * ho_job on the pool's workers; their done steps come back through
     * `home`, the completion queue of the thread that drives this endpoint
     * (ho_home_drain on that thread). The endpoint then finishes the step
     * at its next receive, send or handle_timeout (next_timeout returns a
     * past time while one waits). While a connection's step is out, its
     * datagrams wait in a queue of step_queue_max (0: 64), processed in
     * order when the step is back; the rest of its packets (timers, ACKs,
     * retransmissions of our own handshake data) never touch TLS. The pool
     * and home must outlive the endpoint: free the endpoint, then the pool
     * (ho_pool_free lets the running steps finish), then drain and free the
     * home (the done steps of freed connections free what is left). Until
     * the handshake_done callback, the application must not use
     * ho_quic_conn_tls(c) of a server connection: a worker may own it.
     * With a pool, the connections' TLS callbacks may answer
     * HO_ERR_WANT_ASYNC (docs/QUIC.md "Asynchronous TLS callbacks"): their
     * completions are posted to home, which must then outlive them all
     * (async_waiting in the stats is 0). */
    ho_pool *pool;                    /* NULL: TLS inside receive, as without offload */
    ho_home *home;                    /* required with pool */
    /* Shared with TCP (handoff/offload.h): HO_OFFLOAD_OFF (0, the
     * default: inline), _ALWAYS (every step on the pool), _ADAPTIVE (on the
     * pool while other connections or steps are live on this endpoint, so
     * that inline work would stall them; inline when it is otherwise idle). */
    ho_offload_mode offload;
    size_t step_queue_max;            /* datagrams per connection while its step is out; 0: 64 */
    /* Admission under load (RFC 9000 §8.1.2, §5.2.2), for Initials that
     * would create a connection. When handshakes in progress on this
     * endpoint reach retry_handshakes, or the pool's queue depth reaches
     * retry_pool_depth, an Initial without a valid token gets a Retry
     * (what --retry auto means; 0: that trigger off). When handshakes in
     * progress reach refuse_handshakes, or the depth refuse_pool_depth,
     * the Initial gets CONNECTION_CLOSE CONNECTION_REFUSED instead (token
     * or not; 0: off). */
    size_t retry_handshakes, retry_pool_depth;
    size_t refuse_handshakes, refuse_pool_depth;
    /* A new connection was accepted (before its first datagram is fed). */
    void (*on_accept)(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c);
    /* The connection is about to be freed (closed or drained). */
    void (*on_conn_free)(void *ctx, ho_quic_endpoint *ep, ho_quic_conn *c);
    void *ctx;
} ho_quic_endpoint_config;

/* NULL on failure (no TLS config, not a server config, no memory). */
HO_API ho_quic_endpoint *ho_quic_endpoint_new(const ho_quic_endpoint_config *cfg);
/* Frees every connection (on_conn_free for each) and the endpoint. */
HO_API void ho_quic_endpoint_free(ho_quic_endpoint *ep);

/* A datagram arrived on path (local: our address, remote: the peer). Never
 * fails for bad input: unusable datagrams are dropped and counted. */
HO_API void ho_quic_endpoint_receive(ho_quic_endpoint *ep, const uint8_t *dgram, size_t len, const ho_quic_path *path,
                              ho_quic_time now);

typedef struct ho_quic_endpoint_out {
    uint8_t *buf;           /* caller's buffer */
    size_t cap;             /* at least one max_datagram_size datagram */
    size_t len;             /* out: bytes written */
    size_t segment_size;    /* out: each datagram's size, the last may be shorter */
    ho_quic_path path;      /* out: send from path.local to path.remote */
    uint8_t ecn;            /* out: ECN codepoint for the IP header (ho_quic_conn_ecn_codepoint) */
    ho_quic_conn *conn;     /* out: the connection, NULL for an endpoint packet */
} ho_quic_endpoint_out;
/* Fills out with the next batch: queued endpoint packets (VN, Retry,
 * stateless reset, refusals) first, then connections round-robin. Returns
 * out->len, 0 when nothing is due. */
HO_API size_t ho_quic_endpoint_send(ho_quic_endpoint *ep, ho_quic_endpoint_out *out, ho_quic_time now);

HO_API ho_quic_time ho_quic_endpoint_next_timeout(const ho_quic_endpoint *ep);
HO_API void ho_quic_endpoint_handle_timeout(ho_quic_endpoint *ep, ho_quic_time now);

/* Iterates the live connections (fn may not free them; use ho_quic_conn_close). */
HO_API void ho_quic_endpoint_foreach(ho_quic_endpoint *ep, void (*fn)(void *ctx, ho_quic_conn *c), void *ctx);
/* Calls fn for each connection that has work since the last send drained
 * it: a datagram in, a timer due, a handshake step back, or a change made
 * through the connection API. An application that produces output for its
 * connections each tick (HTTP/3 bodies) calls this rather than foreach. */
HO_API void ho_quic_endpoint_foreach_active(ho_quic_endpoint *ep, void (*fn)(void *ctx, ho_quic_conn *c),
                                            void *ctx);
HO_API size_t ho_quic_endpoint_conn_count(const ho_quic_endpoint *ep);
/* Whether a TLS step of the endpoint's connection c ran on the offload
 * pool (false for a connection of no endpoint). */
HO_API bool ho_quic_endpoint_conn_offloaded(const ho_quic_conn *c);

typedef struct ho_quic_endpoint_stats {
    uint64_t datagrams_received, datagrams_dropped, short_initials_dropped;
    uint64_t accepted, freed, refused, invalid_tokens;
    uint64_t vn_sent, retry_sent, resets_sent, resets_suppressed, queue_overflows;
    /* handshake offload: TLS steps run on the pool and inline; datagrams
     * that waited for a step (queued), found the queue full (dropped,
     * step_queue_overflows) and the sum of their waits (caller's clock);
     * steps whose connection was freed while they were out. */
    uint64_t steps_offloaded, steps_inline, step_queued, step_queue_overflows, step_queue_ns, steps_orphaned;
    uint64_t step_out_ns;             /* sum over finished offloaded steps of submit -> finish */
    /* admission: Retries sent because of load (also in retry_sent),
     * refusals because of load (also in refused). */
    uint64_t retry_load, refused_load;
    /* NEW_TOKEN tokens (RFC 9000 §8.1.3): sent to clients; presented in an
     * Initial and taken (address validated); presented and refused
     * (expired, another address, forged, not ours: treated as no token,
     * so a Retry when one is due). */
    uint64_t new_tokens_issued, new_tokens_accepted, new_tokens_refused;
    uint64_t handshakes_in_progress;  /* now: connections not yet handshake-complete */
    uint64_t steps_out;               /* now: steps on the pool */
    /* asynchronous TLS callbacks (docs/ENGINE.md): steps that answered
     * HO_ERR_WANT_ASYNC, completions taken, and now: connections waiting
     * for the application (also those already closed, kept until their
     * completion comes; the endpoint must not be freed before it did) */
    uint64_t async_started, async_completed, async_waiting;
    /* connections the send loop and the timers looked at: those with work
     * (a datagram in, a timer due, a step back, an API call), never all */
    uint64_t conn_visits;
    /* Datagrams for no connection, dropped by reason (each also in
     * datagrams_dropped; too-small Initials are short_initials_dropped,
     * Initials with a bad token invalid_tokens): Initials whose header
     * protection or AEAD did not check with the keys of their DCID
     * (undecryptable) or whose frames are not allowed in an Initial
     * (bad_frames), Initials with a DCID under 8 bytes (bad_dcid),
     * Handshake/0-RTT or malformed long headers (unknown_long), and
     * datagrams under 1200 bytes of an unsupported version
     * (unknown_version). No connection is made for any of them. */
    uint64_t initial_undecryptable, initial_bad_frames, initial_bad_dcid;
    uint64_t unknown_long, unknown_version;
    /* QUIC packets (not datagrams) sent, received (processed) and declared
     * lost by connections already freed: the sums of their ho_quic_stats. */
    uint64_t packets_sent, packets_received, packets_lost;
} ho_quic_endpoint_stats;
HO_API void ho_quic_endpoint_get_stats(const ho_quic_endpoint *ep, ho_quic_endpoint_stats *st);

/* The stateless reset token the endpoint derives for one of its CIDs:
 * HMAC-SHA256(reset key, cid) truncated to 16 bytes (RFC 9000 §10.3.2). */
HO_API void ho_quic_endpoint_reset_token(const ho_quic_endpoint *ep, const uint8_t *cid, size_t cid_len, uint8_t token[16]);

#ifdef __cplusplus
}
#endif
#endif
