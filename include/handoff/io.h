/*
 * handoff — I/O: the epoll event loop, the TLS-over-TCP server (I/O threads
 * with SO_REUSEPORT listeners, handshake offload, timeouts, graceful
 * shutdown) and kernel TLS.
 */
#ifndef HANDOFF_IO_H
#define HANDOFF_IO_H

#include "handoff/base.h"
#include "handoff/offload.h"
#include "handoff/quic.h"
#include "handoff/tls.h"

#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Monotonic clock in milliseconds / nanoseconds. */
HO_API int64_t ho_now_ms(void);
HO_API int64_t ho_now_ns(void);

/* An IPv4 or IPv6 literal (NULL: "0.0.0.0") and a port into *ss. Returns
 * HO_OK or HO_ERR_INVALID_ARG (not a literal). */
HO_API int ho_sockaddr_parse(const char *addr, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* ---- event loop ------------------------------------------------------ */

typedef struct ho_loop ho_loop;
/* Called with the epoll events that fired (EPOLLIN, EPOLLOUT, ...). */
typedef void (*ho_io_fn)(void *ctx, uint32_t events);

HO_API ho_loop *ho_loop_new(void);
HO_API void ho_loop_free(ho_loop *l);
HO_API int ho_loop_add(ho_loop *l, int fd, uint32_t events, ho_io_fn fn, void *ctx);
HO_API int ho_loop_mod(ho_loop *l, int fd, uint32_t events, ho_io_fn fn, void *ctx);
HO_API int ho_loop_del(ho_loop *l, int fd);
/* Waits up to timeout_ms (-1: forever) and dispatches. Returns the number
 * of events dispatched, or an error. */
HO_API int ho_loop_run_once(ho_loop *l, int timeout_ms);
/* Events dispatched by the last ho_loop_run_once (its batch size). */
HO_API int ho_loop_batch(const ho_loop *l);

/* Timer queues: every timer in one queue has the same duration, so a FIFO
 * list keeps them ordered and arming, re-arming and cancelling are O(1). */
typedef struct ho_timer {
    struct ho_timer *prev, *next;
    int64_t deadline_ms;
    void (*fire)(struct ho_timer *t);
    bool armed;
} ho_timer;
typedef struct ho_timer_queue {
    ho_timer head; /* sentinel */
    int64_t duration_ms;
} ho_timer_queue;
HO_API void ho_timer_queue_init(ho_timer_queue *q, int64_t duration_ms);
/* (Re)arms t to fire duration_ms from now (moves it to the tail). */
HO_API void ho_timer_arm(ho_timer_queue *q, ho_timer *t, int64_t now_ms);
HO_API void ho_timer_cancel(ho_timer *t);
/* Fires the expired timers; returns ms until the next deadline (-1 none). */
HO_API int64_t ho_timer_queue_expire(ho_timer_queue *q, int64_t now_ms);

/* ---- kernel TLS (Linux TCP_ULP "tls") --------------------------------- */

typedef enum { HO_KTLS_OFF, HO_KTLS_ON, HO_KTLS_AUTO } ho_ktls_mode;

/* Whether this kernel offers the "tls" ULP (probed once, cached). */
HO_API bool ho_ktls_supported(void);
/* Moves both directions of an established connection on fd to the kernel:
 * setsockopt(TCP_ULP "tls"), TLS_TX and TLS_RX with the keys and sequence
 * numbers of ho_tls_conn_get_traffic_keys, then ho_tls_conn_set_kernel.
 * Requires ho_tls_conn_kernel_ready(c). On failure nothing is changed on
 * the TLS side, *why says why (static string), and the caller keeps using
 * userspace records. A failure after TCP_ULP succeeded but before both
 * directions are set leaves the socket unusable for userspace records:
 * HO_ERR_IO is returned then and the connection must be closed. Returns
 * HO_OK, HO_ERR_NOT_FOUND (no ULP / unsupported suite: fall back),
 * HO_ERR_INVALID_ARG (not ho_tls_conn_kernel_ready: fall back), or
 * HO_ERR_IO. */
HO_API int ho_ktls_enable(int fd, ho_tls_conn *c, const char **why);
/* Reads from a kTLS socket. Application data is appended to app_in; any
 * other record (alert, KeyUpdate) goes to ho_tls_conn_receive_record, and a
 * new read/write key that results is pushed to the kernel (or, where the
 * kernel cannot rekey, HO_ERR_IO is returned). Returns the bytes of
 * application data read (> 0), 0 for a non-data record handled, HO_ERR_CLOSED
 * on close_notify or EOF, HO_ERR_WOULD_BLOCK, HO_ERR_DECRYPT when the kernel
 * rejected a record (bad_record_mac has been sent), or another error. */
HO_API ssize_t ho_ktls_recv(int fd, ho_tls_conn *c, ho_buf *app_in);
/* Sends the plaintext records queued in ho_tls_conn_out(c) (alerts,
 * KeyUpdate) through the kernel with their record types, consuming what
 * was sent. HO_OK when all went, HO_ERR_WOULD_BLOCK when the socket is full. */
HO_API int ho_ktls_flush_control(int fd, ho_tls_conn *c);

/* ---- TLS-over-TCP server --------------------------------------------- */

typedef struct ho_server ho_server;
typedef struct ho_conn ho_conn;

/* What the application does with a connection's plaintext. Callbacks run on
 * the connection's I/O thread and must not block. */
typedef struct ho_conn_handler {
    /* New bytes in `in` (decrypted, or plaintext for a port without TLS).
     * Consume what was used; leave a partial request. Write responses with
     * ho_conn_write. Return HO_OK, or an error to close at once.
     * A handler may stop while ho_conn_writable is false and leave complete
     * requests in `in`: it is called again, with the same input, once
     * everything queued has been sent. */
    int (*on_data)(void *ctx, ho_conn *c, ho_buf *in);
    /* The connection goes away (optional). */
    void (*on_close)(void *ctx, ho_conn *c);
} ho_conn_handler;

typedef struct ho_listen_spec {
    const char *bind;          /* IPv4/IPv6 literal; NULL → "0.0.0.0" */
    uint16_t port;             /* 0: pick one (see ho_server_port) */
    ho_tls_config *tls;        /* NULL: plaintext TCP */
    const ho_conn_handler *handler;
    void *ctx;
    /* Connections and requests on this port are left out of the counters
     * (ho_server_get_stats): a metrics port whose scrapes should not count. */
    bool no_stats;
} ho_listen_spec;

typedef struct ho_server_options {
    unsigned io_threads;          /* 0: one per online CPU */
    int handshake_workers;        /* -1: one per online CPU; 0: inline */
    ho_offload_mode offload;      /* default adaptive */
    ho_ktls_mode ktls;            /* default auto */
    int handshake_timeout_ms;     /* accept → handshake done (default 10000) */
    int idle_timeout_ms;          /* keep-alive wait for a request (default 60000) */
    int request_timeout_ms;       /* first byte → complete request (slow headers, default 10000) */
    int shutdown_grace_ms;        /* finish in-flight work on SIGTERM (default 5000) */
    size_t max_connections;       /* per I/O thread (default 100000) */
    int worker_nice;              /* default 10 */
    int send_timeout_ms;          /* output pending and no byte sent for this
                                   * long: the reader is stuck, close (default 60000) */
    size_t out_high_water;        /* unsent output above which a connection is
                                   * not read and its handler not run (default 256 KiB) */
} ho_server_options;

HO_API void ho_server_options_default(ho_server_options *o);
HO_API ho_server *ho_server_new(const ho_server_options *o);
HO_API void ho_server_free(ho_server *s);
/* Binds now (so errors show before threads start). Port 0 picks a port. */
HO_API int ho_server_listen(ho_server *s, const ho_listen_spec *spec);
/* The port the i-th listen spec got. */
HO_API uint16_t ho_server_port(const ho_server *s, size_t i);
/* Starts the I/O threads and the pool, and returns. */
HO_API int ho_server_start(ho_server *s);
/* Graceful stop: stop accepting, close idle connections with close_notify,
 * let in-flight requests finish (up to shutdown_grace_ms), join. Safe to
 * call from any thread except an I/O thread; async-signal-safe to *request*
 * with ho_server_request_stop. */
HO_API void ho_server_stop(ho_server *s);
HO_API void ho_server_request_stop(ho_server *s);
/* Blocks until a stop is requested, then stops. */
HO_API void ho_server_wait(ho_server *s);

/* Counters (summed over threads). */
typedef struct ho_server_stats {
    uint64_t accepted, closed, active;
    uint64_t handshakes_done, handshakes_failed, handshake_timeouts;
    uint64_t handshakes_pq;         /* of those done, with X25519MLKEM768 */
    uint64_t client_certs_verified; /* handshakes done with a verified client certificate */
    uint64_t client_certs_refused;  /* handshakes failed on the client's certificate */
    /* Early data (0-RTT) offered by clients, by outcome: accepted, refused
     * (not enabled, ticket, ALPN, HRR...), refused by anti-replay (a
     * replayed ClientHello or a ticket age outside the window). */
    uint64_t early_accepted, early_rejected, early_replayed;
    uint64_t handshakes_offloaded;  /* steps run through the pool */
    uint64_t handshakes_inline;     /* steps run on the I/O thread */
    uint64_t worker_steps;          /* steps that ran on a worker thread */
    uint64_t served_during_offload; /* requests answered on established
                                     * connections while a handshake step
                                     * of the same thread was on a worker */
    uint64_t requests;              /* ho_conn_request_done calls */
    /* Asynchronous TLS callbacks (docs/ENGINE.md): handshakes that waited
     * for the application, completions that came back, and requests
     * answered while a connection of the same thread waited. */
    uint64_t async_started, async_completed, served_during_async;
    uint64_t idle_timeouts, request_timeouts;
    uint64_t ktls_engaged, ktls_fallback;
    uint64_t send_timeouts;         /* closed: output stuck past send_timeout_ms */
    uint64_t trims;                 /* heap given back after connections closed */
    uint64_t accept_emfile;         /* accepts refused by the descriptor limit
                                     * (EMFILE, ENFILE): the listener then
                                     * pauses 100 ms instead of spinning */
    /* TLS handshake durations (first ClientHello byte read to the
     * handshake complete), every step inline / at least one offloaded. */
    ho_hist handshake_inline, handshake_offloaded;
    ho_pool_stats pool;
} ho_server_stats;
HO_API void ho_server_get_stats(const ho_server *s, ho_server_stats *out);
/* One I/O thread's counters (pool: zero, it is shared). HO_ERR_NOT_FOUND
 * when there is no such thread. */
HO_API int ho_server_get_thread_stats(const ho_server *s, unsigned thread, ho_server_stats *out);
/* Number of I/O threads. */
HO_API unsigned ho_server_threads(const ho_server *s);
/* One JSON object with every counter above. */
HO_API void ho_server_stats_json(const ho_server_stats *st, ho_buf *out);

/* Connection calls (from handler callbacks, on the connection's thread). */
HO_API int ho_conn_write(ho_conn *c, const void *data, size_t len);
/* Queues len bytes that stay valid and unchanged until the connection is
 * freed (a static file loaded at set-up): they are sent by reference as the
 * socket drains, sealed 48 KiB (three records) at a time over userspace TLS,
 * sent straight from memory on a plaintext or kTLS socket. Nothing may be
 * written after them until they are out: HO_ERR_INVALID_ARG while one is
 * queued (see ho_conn_writable). */
HO_API int ho_conn_write_ref(ho_conn *c, const void *data, size_t len);
/* Whether the handler should produce more output now: no body queued by
 * reference and less unsent output than the server's out_high_water. */
HO_API bool ho_conn_writable(const ho_conn *c);
/* Bytes queued and not yet handed to the kernel. */
HO_API size_t ho_conn_pending(const ho_conn *c);
/* Closes after everything written so far is sent (close_notify first). */
HO_API void ho_conn_close_after_write(ho_conn *c);
/* A request is partly received (true: the request timeout runs) or the
 * connection waits for a new one (false: the idle timeout runs). */
HO_API void ho_conn_set_request_pending(ho_conn *c, bool pending);
/* Counts a request answered. */
HO_API void ho_conn_request_done(ho_conn *c);
/* True when the connection will close after what is written now (server
 * stopping, a timeout, or ho_conn_close_after_write): the response should
 * say so (HTTP/1.1 "Connection: close"). */
HO_API bool ho_conn_closing(const ho_conn *c);
HO_API uint64_t ho_conn_id(const ho_conn *c);
HO_API ho_tls *ho_conn_tls(ho_conn *c);   /* NULL on a plaintext port */
HO_API bool ho_conn_ktls(const ho_conn *c);
/* Per-connection slot for the application. */
HO_API void ho_conn_set_user(ho_conn *c, void *user);
HO_API void *ho_conn_get_user(const ho_conn *c);

/* ======================================================================
 * UDP — non-blocking datagram sockets for QUIC (src/io/udp.c)
 * ======================================================================
 * IPv4 and IPv6, SO_REUSEPORT, recvmmsg with GRO (UDP_GRO: one read returns
 * back-to-back datagrams of one size, split here), sendmmsg with GSO
 * (UDP_SEGMENT: one send of equal-size datagrams, the last may be shorter),
 * ECN (IP_TOS / IPV6_TCLASS on send, IP_RECVTOS / IPV6_RECVTCLASS on
 * receive) and pktinfo (IP_PKTINFO / IPV6_RECVPKTINFO: the local address a
 * datagram arrived on, and the source address to send from). GSO and GRO
 * are on by default; a kernel that refuses a GSO send (EINVAL, EIO) makes
 * the socket resend without it and remember (ho_udp_socket.gso off). */


typedef struct ho_udp_options {
    bool no_gso, no_gro, no_ecn, no_pktinfo;
    bool reuseport;           /* SO_REUSEPORT (one socket per I/O thread) */
    bool v6only;              /* IPv6: IPV6_V6ONLY (default dual-stack) */
    int rcvbuf, sndbuf;       /* 0: kernel default */
} ho_udp_options;

typedef struct ho_udp_socket {
    int fd;
    int family;               /* AF_INET or AF_INET6 */
    bool gso, gro, ecn, pktinfo; /* in use */
    bool test_refuse_gso;     /* tests: pretend the kernel refused GSO (EINVAL) */
    uint64_t gso_fallbacks;   /* sends retried without GSO */
    uint64_t gro_reads;       /* received messages split into several datagrams (GRO) */
    uint64_t send_calls;      /* sendmmsg system calls made */
    uint16_t port;            /* the bound port, network byte order (read once at open) */
} ho_udp_socket;

typedef struct ho_udp_addr {
    struct sockaddr_storage ss;
    socklen_t len;            /* 0: unknown / unset */
} ho_udp_addr;

/* Binds a non-blocking UDP socket to addr (port 0 picks one). o may be NULL. */
HO_API int ho_udp_open(ho_udp_socket *s, const struct sockaddr *addr, socklen_t addrlen, const ho_udp_options *o);
HO_API void ho_udp_close(ho_udp_socket *s);
/* The bound address (after port 0). */
HO_API int ho_udp_local_addr(const ho_udp_socket *s, ho_udp_addr *out);

/* One received datagram: data points into the ho_udp_rx buffers and stays
 * valid until the next ho_udp_recv_batch with the same rx. */
typedef struct ho_udp_dgram {
    uint8_t *data;
    size_t len;
    ho_udp_addr peer;
    ho_udp_addr local;        /* from pktinfo (port = the socket's), len 0 if unknown */
    uint8_t ecn;              /* the two ECN bits: 0 Not-ECT, 1 ECT(1), 2 ECT(0), 3 CE */
} ho_udp_dgram;

typedef struct ho_udp_rx ho_udp_rx;
/* Receive state for up to `batch` messages per call, each up to 64 KiB (a
 * GRO read may hold many datagrams). */
HO_API ho_udp_rx *ho_udp_rx_new(size_t batch);
HO_API void ho_udp_rx_free(ho_udp_rx *rx);
/* One recvmmsg: returns the number of datagrams (> 0) in *out,
 * HO_ERR_WOULD_BLOCK when none is waiting, or HO_ERR_IO. */
HO_API int ho_udp_recv_batch(ho_udp_socket *s, ho_udp_rx *rx, ho_udp_dgram **out);

/* One send request: len bytes of back-to-back datagrams of segment_size
 * bytes (the last may be shorter; 0 or >= len: one datagram). */
typedef struct ho_udp_tx {
    const uint8_t *data;
    size_t len;
    size_t segment_size;
    const struct sockaddr *peer;
    socklen_t peer_len;
    const struct sockaddr *local; /* source address (pktinfo), or NULL */
    socklen_t local_len;
    uint8_t ecn;                  /* ECN codepoint for the IP header */
} ho_udp_tx;

/* Sends n requests with sendmmsg (GSO for multi-datagram requests, or one
 * message per datagram without it). Returns the number of requests sent
 * completely (n on success; fewer when the socket buffer filled:
 * HO_ERR_WOULD_BLOCK if none), or HO_ERR_IO. A request cut short by a full
 * buffer counts as not sent: resending it repeats its first datagrams,
 * which QUIC discards as duplicates (RFC 9000 §12.3). */
HO_API int ho_udp_send_batch(ho_udp_socket *s, const ho_udp_tx *tx, size_t n);
/* One request: HO_OK, HO_ERR_WOULD_BLOCK or HO_ERR_IO. */
HO_API int ho_udp_send(ho_udp_socket *s, const uint8_t *data, size_t len, size_t segment_size, const struct sockaddr *peer,
                socklen_t peer_len, const struct sockaddr *local, socklen_t local_len, uint8_t ecn);

/* ======================================================================
 * QUIC client datagram pump (src/io/quic_pump.c)
 * ======================================================================
 * The loop every QUIC client needs, once: drives one client ho_quic_conn
 * over one UDP socket (the caller's): sends what the connection has due
 * (GSO batches, with its ECN codepoint), waits for datagrams or its next
 * timer, feeds what arrived and runs due timers. The application does its
 * own work (requests, stream writes) between steps. */
typedef struct ho_quic_pump ho_quic_pump;
/* peer: where datagrams go. rx_path: the path given with each received
 * datagram (its ecn set per datagram), or NULL. Both are copied. */
HO_API ho_quic_pump *ho_quic_pump_new(ho_udp_socket *sock, ho_quic_conn *c, const struct sockaddr *peer, socklen_t peer_len,
                               const ho_quic_path *rx_path);
HO_API void ho_quic_pump_free(ho_quic_pump *p);
/* Sends everything due now. A full socket buffer drops the batch, which
 * QUIC's loss recovery treats as lost. */
HO_API void ho_quic_pump_flush(ho_quic_pump *p);
/* Flushes, waits up to max_wait_ms (less when the connection's next timer
 * is sooner) for datagrams, feeds them and runs due timers. Returns the
 * number of datagrams received (0: none), or HO_ERR_IO when none was and
 * the socket reported an error (errno: ECONNREFUSED when nothing listens
 * there). */
HO_API int ho_quic_pump_step(ho_quic_pump *p, int max_wait_ms);

/* ======================================================================
 * QUIC on the server's I/O threads (src/io/quic_server.c)
 * ======================================================================
 * The UDP counterpart of ho_server_listen: every I/O thread owns an
 * SO_REUSEPORT UDP socket on the QUIC port, its own ho_quic_endpoint (its
 * connections, their timers) and a hand-over queue, all on the epoll loop
 * that serves its TCP connections. A connection lives on one thread: the
 * thread its client's first Initial was steered to creates it, and every
 * CID it issues names that thread (ho_quic_cid_layout). A classic BPF
 * program on the reuseport group (SO_ATTACH_REUSEPORT_CBPF) makes the
 * kernel deliver each datagram to the socket of the thread its destination
 * CID names; without it (kernel refused, or no_steering) a thread that
 * reads another thread's datagram hands it over through the owner's queue
 * (counted: quic_forwarded). docs/QUIC.md "Threads and steering". */

/* What the application does on QUIC connections (HTTP/3: ho_h3_handler in
 * handoff/http_server.h). Every callback runs on the connection's I/O
 * thread, must not block, and must not free the connection. */
typedef struct ho_quic_handler {
    /* A connection was accepted: the application's state for it (NULL:
     * none, the connection is served by QUIC alone). ctx is the spec's. */
    void *(*on_accept)(void *ctx, ho_quic_conn *c);
    /* Stream events (ho_quic_callbacks), with that state. */
    void (*stream_readable)(void *app, ho_quic_conn *c, uint64_t id);
    void (*stream_writable)(void *app, ho_quic_conn *c, uint64_t id);
    void (*stream_reset)(void *app, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop_sending);
    /* Before the thread collects output: write what is due. */
    void (*flush)(void *app, ho_quic_conn *c, ho_quic_time now);
    /* Requests answered on the connection (counted when it goes; optional). */
    uint64_t (*requests)(const void *app);
    /* The connection is about to be freed: free the state. */
    void (*on_close)(void *app, ho_quic_conn *c);
    /* Application error code of the CONNECTION_CLOSE sent at a stop. */
    uint64_t shutdown_code;
    /* Optional graceful stop. on_stop: the server stops; take no new
     * requests (HTTP/3: GOAWAY) and return true to finish those in
     * progress, false to close at once. busy: whether requests are still
     * in progress. The server closes the connection (shutdown_code) once
     * busy is false and everything sent was acknowledged, or at the end of
     * the stop's grace (ho_server_opts.shutdown_grace_ms). */
    bool (*on_stop)(void *app, ho_quic_conn *c);
    bool (*busy)(const void *app);
} ho_quic_handler;

typedef struct ho_quic_listen_spec {
    const char *bind;            /* IPv4/IPv6 literal; NULL: "0.0.0.0" */
    uint16_t port;               /* 0: pick one (ho_server_quic_port) */
    ho_tls_config *tls;          /* server config with ALPN and a certificate;
                                  * prepared here for QUIC */
    const ho_quic_handler *handler;
    void *ctx;
    bool force_retry;            /* validate every client address with Retry */
    /* Admission per thread (ho_quic_endpoint_config): Retry for Initials
     * without a token from this many handshakes in progress on, refusal
     * from refuse_handshakes on; 0: no limit. The same by the depth of
     * the offload pool's queue (jobs waiting for a worker). */
    size_t retry_handshakes, refuse_handshakes;
    size_t retry_pool_depth, refuse_pool_depth;
    uint64_t key_update_packets; /* 0: the QUIC default */
    /* QUIC versions accepted, in order of preference (ho_quic_config.versions:
     * HO_QUIC_V1, HO_QUIC_V2); all zero: both, staying in the client's. */
    uint32_t quic_versions[HO_QUIC_CONFIG_VERSIONS];
    const char *cc_name;         /* congestion controller (ho_quic_config.cc_name); NULL: CUBIC */
    bool no_gso, no_gro, no_ecn;
    size_t max_udp_payload;      /* 0: the QUIC default (1452) */
    /* QUIC-LB plaintext CID fields (ho_quic_cid_layout): server id 1..15
     * octets (server_id_len 0: the single octet 0) and config rotation id
     * 0..6. */
    uint8_t server_id[15];
    size_t server_id_len;
    uint8_t config_id;
    bool no_steering;            /* no BPF program: hand-over queues only */
    /* The endpoints' static secret (Retry token and stateless reset keys
     * are derived from it: ho_quic_endpoint_config.static_secret) when
     * static_secret_set; otherwise random per server. Servers behind one
     * load balancer that share it validate each other's tokens and resets. */
    bool static_secret_set;
    uint8_t static_secret[32];
    /* NEW_TOKEN tokens (ho_quic_endpoint_config.new_token_lifetime_ms):
     * validity in ms; 0: 24 hours; negative: none sent. */
    int64_t new_token_lifetime_ms;
    /* Our max_idle_timeout (RFC 9000 §10.1) in ms; 0: the QUIC default.
     * It also ends a handshake that waits for an asynchronous callback. */
    uint64_t max_idle_timeout_ms;
} ho_quic_listen_spec;

/* Binds the first thread's socket now (errors before threads start); the
 * others at ho_server_start. One QUIC port per server. */
HO_API int ho_server_listen_quic(ho_server *s, const ho_quic_listen_spec *spec);
HO_API uint16_t ho_server_quic_port(const ho_server *s);
/* What the first UDP socket uses after the kernel's answers. */
HO_API void ho_server_quic_socket_features(const ho_server *s, bool *gso, bool *gro, bool *ecn);
/* After ho_server_start: whether the kernel took the steering program. */
HO_API bool ho_server_quic_steering(const ho_server *s);
/* The CID layout the server's endpoints use (after ho_server_listen_quic). */
HO_API const ho_quic_cid_layout *ho_server_quic_cid_layout(const ho_server *s);

typedef struct ho_quic_server_stats {
    uint64_t connections;        /* accepted by the endpoint */
    uint64_t connections_closed; /* freed (closed, drained or timed out) */
    uint64_t handshakes;         /* TLS handshakes completed */
    uint64_t resumed;            /* of those, resumed with a ticket (PSK) */
    uint64_t handshakes_pq;      /* of those, with X25519MLKEM768 */
    uint64_t client_certs_verified; /* of those, with a verified client certificate */
    uint64_t client_certs_refused;  /* handshakes failed on the client's certificate */
    uint64_t key_updates;        /* 1-RTT key updates (RFC 9001 section 6), either side */
    uint64_t requests;           /* answered on connections already gone */
    uint64_t vn_sent, retry_sent, resets_sent, refused;
    uint64_t admission_retries, admission_refused, handshakes_in_progress; /* admission */
    /* NEW_TOKEN tokens (RFC 9000 §8.1.3): sent; presented and taken;
     * presented and refused (treated as no token) */
    uint64_t new_tokens_issued, new_tokens_accepted, new_tokens_refused;
    /* 0-RTT (RFC 9001 §4.6, serve --early-data): handshakes whose client
     * offered early data, by the engine's verdict (as TCP's early_*); and
     * 0-RTT packets of connections: received, processed, dropped (no keys:
     * rejected, replayed, not enabled, discarded; or not opening). 0-RTT
     * packets that come before the Initial making their connection are
     * dropped by the endpoint (counted in unknown_long). */
    uint64_t early_accepted, early_rejected, early_replayed;
    uint64_t zero_rtt_received, zero_rtt_accepted, zero_rtt_dropped;
    uint64_t datagrams_received, datagrams_dropped; /* by the endpoint */
    uint64_t migrations, paths_validated; /* peers followed to a new address */
    uint64_t forwarded;          /* datagrams this thread read for another and handed over */
    uint64_t forwarded_in;       /* datagrams other threads handed to this one */
    uint64_t forward_drops;      /* hand-overs dropped: the owner's queue was full */
    /* handshake offload (ho_quic_endpoint_stats): TLS steps run on the pool
     * and inline; datagrams that waited for their connection's step, those
     * dropped because its queue was full, the sum of their waits (µs); the
     * sum of submit-to-finish times of offloaded steps (µs). */
    uint64_t steps_offloaded, steps_inline, step_queued, step_queue_overflows, step_queue_us, step_out_us;
    /* asynchronous TLS callbacks (docs/ENGINE.md): handshake steps that
     * waited for the application, its completions, connections waiting
     * now (closed ones kept until their completion included), and
     * handshakes of other connections completed while one waited */
    uint64_t async_started, async_completed, async_waiting, served_during_async;
    /* datagrams for no connection dropped by the endpoint, by reason
     * (ho_quic_endpoint_stats): Initials under 1200 bytes, that did not
     * decrypt, with frames not allowed in an Initial, with a DCID under 8
     * bytes, with a bad token; other long headers; small datagrams of
     * unsupported versions. None of them made a connection. */
    uint64_t initial_too_small, initial_undecryptable, initial_bad_frames, initial_bad_dcid, initial_bad_token;
    uint64_t unknown_long, unknown_version;
    /* QUIC packets sent, received and declared lost by connections already
     * freed (their counters summed when they go). */
    uint64_t packets_sent, packets_received, packets_lost;
    /* sendmmsg system calls of the thread's UDP socket (each carries the
     * datagrams of one or more connections), and those of them that
     * carried the datagrams of two or more connections */
    uint64_t send_calls, send_gathered;
    /* QUIC handshake durations (connection accepted to the handshake
     * complete, as the I/O thread sees it), every TLS step inline / at
     * least one on the pool. */
    ho_hist handshake_inline, handshake_offloaded;
} ho_quic_server_stats;
/* thread < 0: summed over the threads; else that thread's. Counters of
 * live connections are at most one loop iteration old. HO_ERR_NOT_FOUND
 * when there is no such thread or no QUIC listener. */
HO_API int ho_server_get_quic_stats(const ho_server *s, int thread, ho_quic_server_stats *out);
/* Fields of one JSON object, without the braces: "h3_connections":...,
 * "quic_forwarded":... (HTTP/3 names the QUIC counters h3_*, as before). */
HO_API void ho_quic_server_stats_json_fields(const ho_quic_server_stats *st, ho_buf *out);
/* The sum and each thread: {"h3_...":..,...,"quic_threads":[{...},...]}. */
HO_API void ho_server_quic_stats_json(const ho_server *s, ho_buf *out);

/* ======================================================================
 * Metrics in the Prometheus text exposition format 0.0.4 (src/io/metrics.c)
 * ======================================================================
 * Every counter of ho_server_stats and ho_quic_server_stats as handoff_*
 * series (counters end in _total, times are in seconds), per thread with a
 * thread="N" label where the counter is per thread, the pool's counters,
 * and the latency histograms: handshake durations by transport and mode,
 * and the offload queue time. Serve it as "text/plain; version=0.0.4"
 * (`handoff serve --metrics`; docs/DEBUGGING.md). */
typedef struct ho_metrics_input {
    unsigned nthreads;
    const ho_server_stats *threads;    /* nthreads: each thread's TCP counters */
    const ho_pool_stats *pool;         /* the offload pool's */
    const ho_quic_server_stats *quic;  /* nthreads, or NULL: no QUIC listener */
    bool quic_steering;                /* the BPF steering program is attached */
} ho_metrics_input;
/* The text for a snapshot (appended to out; out->failed on no memory). */
HO_API void ho_metrics_text(const ho_metrics_input *in, ho_buf *out);
/* A snapshot of the server, as text. HO_OK or HO_ERR_NOMEM. Any thread. */
HO_API int ho_server_metrics_text(const ho_server *s, ho_buf *out);

#ifdef __cplusplus
}
#endif
#endif
