/* Internal structures of the TLS-over-TCP server (src/io/server.c,
 * src/io/conn.c). */
#ifndef HANDOFF_IO_SERVER_INT_H
#define HANDOFF_IO_SERVER_INT_H

#include "handoff/io.h"

#include "base/hist.h"

#include <pthread.h>
#include <stdatomic.h>

enum {
    SERVER_MAX_LISTEN = 8,
    READ_CHUNK = 64 * 1024,
    /* Default output mark (ho_server_options.out_high_water): a
     * connection with this much unsent output is neither read nor handed
     * its pipelined requests. */
    OUT_HIGH_WATER = 256 * 1024,
    /* A body queued by reference (ho_conn_write_ref) is sealed into the
     * userspace TLS output this much at a time, as the socket drains. */
    REF_CHUNK = 48 * 1024, /* three full records */
    DRAIN_TIMEOUT_MS = 2000,
    /* Out of descriptors (EMFILE/ENFILE): the listener is not watched for
     * this long. Level-triggered epoll would otherwise report the pending
     * connection again at once, and the thread would spin. */
    ACCEPT_BACKOFF_MS = 100,
    STOP_READ_MAX = 256 * 1024, /* read at a stop before answering */
};

typedef enum {
    CONN_HANDSHAKE, /* TLS handshake in progress (inline) */
    CONN_OFFLOADED, /* a handshake step runs on a worker: hands off */
    CONN_OPEN,      /* established (or plaintext) */
    CONN_CLOSING,   /* last bytes queued: shut down once written */
    CONN_DRAINING,  /* write side shut: read to EOF so no RST loses data */
} conn_state;

/* Per-thread counters: written only by the owning thread, read by
 * ho_server_get_stats from any thread (relaxed atomics). */
typedef struct thread_stats {
    _Atomic uint64_t accepted, closed, active;
    _Atomic uint64_t handshakes_done, handshakes_failed, handshake_timeouts, handshakes_pq;
    _Atomic uint64_t client_certs_verified, client_certs_refused;
    _Atomic uint64_t early_accepted, early_rejected, early_replayed;
    _Atomic uint64_t handshakes_offloaded, handshakes_inline, worker_steps;
    _Atomic uint64_t served_during_offload, requests;
    _Atomic uint64_t async_started, async_completed, served_during_async;
    _Atomic uint64_t idle_timeouts, request_timeouts;
    _Atomic uint64_t ktls_engaged, ktls_fallback;
    _Atomic uint64_t send_timeouts, trims, accept_emfile;
    /* TLS handshake durations, first ClientHello byte read to handshake
     * complete: all steps on this thread, or at least one on a worker. */
    hist_atomic hs_inline, hs_offloaded;
} thread_stats;

/* Tests only (tests/test_faults.c): run first on each I/O thread, e.g. to
 * enroll it in allocation-failure injection (base/mem.h). NULL otherwise. */
extern void (*io_test_thread_hook)(unsigned index);

#define STAT_ADD(t, field, n) atomic_fetch_add_explicit(&(t)->stats.field, (n), memory_order_relaxed)
/* A connection's own counters: its thread's, or, on a listener with
 * no_stats, a sink that no report reads. */
#define CSTAT_ADD(c, field, n) atomic_fetch_add_explicit(&(c)->stats->field, (n), memory_order_relaxed)
#define CSTAT_SUB(c, field, n) atomic_fetch_sub_explicit(&(c)->stats->field, (n), memory_order_relaxed)

typedef struct io_thread io_thread;

typedef struct listener {
    int fd;
    const ho_listen_spec *spec;
    io_thread *thread;
    bool paused;       /* out of descriptors: not watched until resume_ms */
    bool exhausted;    /* logged; cleared by the next accept */
    int64_t resume_ms;
} listener;

struct ho_conn {
    ho_conn *prev, *next; /* the thread's connection list */
    io_thread *t;
    const ho_listen_spec *spec;
    int fd;
    uint64_t id;
    thread_stats *stats;  /* &t->stats, or &t->unlisted (no_stats) */
    int64_t hs_start_ns;  /* first handshake bytes read (0: none yet) */
    bool hs_offloaded;    /* a step of the handshake ran on the pool */
    conn_state state;
    ho_tls_conn *tls;     /* NULL on a plaintext port */
    bool ktls;            /* the kernel protects records */
    bool ktls_decided;    /* kTLS tried (or not applicable) */
    ho_buf in_plain;      /* plaintext port: bytes received */
    ho_buf out_plain;     /* plaintext port / kTLS: bytes to send */
    uint32_t events;      /* epoll interest registered */
    bool request_pending;
    bool close_after_write;
    bool close_when_done; /* a timeout hit while offloaded */
    bool stop_when_done;  /* the server stopped while offloaded */
    bool stop_read;       /* stopped with output pending: read once it is out */
    bool in_handler;
    bool sent_progress;   /* a send moved bytes since the timer was armed */
    bool send_clock;      /* the timer is on send_q (output pending) */
    bool held;            /* input left while output was pending: the
                           * handler runs again once all output is out */
    bool peer_eof;        /* the peer sent EOF: finish what it asked, close */
    bool peer_notify;     /* ... by close_notify: ours follows the answers */
    /* A body that outlives the connection (ho_conn_write_ref), sent after
     * everything queued before it, read straight from where it lies. */
    const uint8_t *ref;
    size_t ref_len;
    ho_timer timer;
    /* Offload: the job, the bytes it feeds the engine, and its result. */
    ho_job job;
    ho_buf job_in;
    int job_err;
    /* Asynchronous TLS callbacks: the wake-up the completing thread posts
     * to this thread's home (ho_home_post). */
    ho_job async_job;
    bool async_wait;   /* the engine waits for the application: no reads */
    bool async_woken;  /* the wake-up came before the pending status was seen
                        * (the step was on a worker) */
    bool zombie;       /* closed, kept until the application completes */
    void *user;
};

typedef struct quic_thread quic_thread;

struct io_thread {
    ho_server *server;
    unsigned index;
    pthread_t thread;
    ho_loop *loop;
    ho_home *home;
    listener listeners[SERVER_MAX_LISTEN];
    size_t nlisteners;
    ho_conn *conns;
    size_t nconns;
    size_t async_waiting; /* connections waiting for the application (async_wait) */
    size_t async_zombies; /* closed connections kept until their callback completes */
    ho_timer_queue handshake_q, idle_q, request_q, drain_q, send_q;
    /* Giving memory back after a storm: the connection count when the
     * heap was last trimmed, its peak since, and when. */
    size_t trim_peak;
    int64_t trim_last_ms;
    int64_t now_ms;
    bool stopping;
    int64_t stop_deadline_ms;
    uint8_t *rbuf; /* READ_CHUNK bytes */
    thread_stats stats;
    thread_stats unlisted; /* connections of no_stats listeners */
    quic_thread *quic; /* NULL: no QUIC listener */
};

struct ho_server {
    ho_server_options opt;
    ho_listen_spec specs[SERVER_MAX_LISTEN];
    uint16_t ports[SERVER_MAX_LISTEN];
    size_t nspecs;
    io_thread *threads;
    unsigned nthreads;
    ho_pool *pool;
    int stop_fd; /* eventfd: readable once a stop is requested */
    bool started;
    _Atomic uint64_t next_id;
    /* QUIC (quic_server.c): the spec, the CID layout every thread's
     * endpoint uses, the secret they share, the first socket. */
    bool has_quic;
    ho_quic_listen_spec qspec;
    uint16_t qport;
    ho_quic_cid_layout qlayout;
    uint8_t qsecret[32];
    bool qsteering;
    quic_thread *quic0; /* thread 0's, made by ho_server_listen_quic */
};

/* conn.c */
void io_conn_accept(io_thread *t, const ho_listen_spec *spec, int fd);
void io_conn_close_now(ho_conn *c);
void io_conn_begin_shutdown(ho_conn *c);
/* Gives freed heap back to the system once many connections have closed
 * since the last peak (at most once a second). Returns ms until it is due
 * again (-1: nothing pending). */
int64_t io_conn_trim_heap(io_thread *t);

/* quic_server.c: per-thread QUIC (the thread's loop calls these). */
int io_quic_thread_setup(ho_server *s, io_thread *t);
int io_quic_attach_steering(ho_server *s);
/* Timers, application output, sends; ms until the next QUIC timer (-1: none). */
int64_t io_quic_thread_tick(io_thread *t);
void io_quic_thread_begin_stop(io_thread *t);
bool io_quic_thread_done(const io_thread *t);
/* QUIC connections the thread's endpoint holds now (0 without QUIC). */
size_t io_quic_thread_conns(const io_thread *t);
void io_quic_thread_free(quic_thread *q);

/* The thread a datagram belongs to by its destination CID (the BPF
 * program computes the same), or -1: wherever it landed. */
int io_quic_owner(const ho_quic_cid_layout *l, const uint8_t *d, size_t len);
/* Attaches the classic BPF steering program to a socket of the reuseport
 * group (it applies to the group). HO_ERR_IO when the kernel refuses. */
int io_quic_steer_attach(int fd, const ho_quic_cid_layout *l);

#endif
