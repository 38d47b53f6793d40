/* The event core (handoff/event.h): one stream of typed events,
 * process-wide subscribers with type masks, per-type counters, and the
 * stderr subscriber filtered by HANDOFF_LOG. */
#include "handoff/base.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_SUBSCRIBERS 8

struct subscriber {
    ho_event_fn fn;
    void *ctx;
    ho_event_mask mask;
};

ho_event_mask ho_event_active;

static struct subscriber subscribers[MAX_SUBSCRIBERS];
static int subscriber_count;
static ho_log_level threshold = HO_LOG_OFF;
static ho_log_level stderr_level = HO_LOG_OFF;
static _Atomic uint64_t counters[HO_EV__COUNT];
static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t stderr_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const event_names[HO_EV__COUNT] = {
    [HO_EV_HANDSHAKE_START] = "handshake_start",
    [HO_EV_MSG_RECV] = "msg_recv",
    [HO_EV_MSG_SENT] = "msg_sent",
    [HO_EV_SECRET_INSTALLED] = "secret_installed",
    [HO_EV_ALERT_SENT] = "alert_sent",
    [HO_EV_ALERT_RECV] = "alert_recv",
    [HO_EV_HANDSHAKE_DONE] = "handshake_done",
    [HO_EV_HANDSHAKE_FAILED] = "handshake_failed",
    [HO_EV_KEY_UPDATE] = "key_update",
    [HO_EV_CONN_OPEN] = "conn_open",
    [HO_EV_CONN_CLOSE] = "conn_close",
    [HO_EV_NOTE] = "note",
    [HO_EV_OFFLOAD_QUEUED] = "offload_queued",
    [HO_EV_OFFLOAD_DONE] = "offload_done",
    [HO_EV_KTLS] = "ktls",
    [HO_EV_TIMEOUT] = "timeout",
    [HO_EV_QUIC_PACKET_SENT] = "packet_sent",
    [HO_EV_QUIC_PACKET_RECEIVED] = "packet_received",
    [HO_EV_QUIC_PACKET_LOST] = "packet_lost",
    [HO_EV_QUIC_PACKET_DROPPED] = "packet_dropped",
    [HO_EV_QUIC_RTT_UPDATED] = "rtt_updated",
    [HO_EV_QUIC_CC_UPDATED] = "cc_updated",
    [HO_EV_QUIC_KEY_UPDATED] = "key_updated",
    [HO_EV_QUIC_PATH] = "path",
    [HO_EV_QUIC_ECN_STATE] = "ecn_state",
    [HO_EV_QUIC_PMTUD] = "pmtud",
    [HO_EV_QUIC_STATE] = "state",
    [HO_EV_QUIC_PARAMS] = "params",
    [HO_EV_QUIC_DATAGRAM_DROPPED] = "datagram_dropped",
    [HO_EV_QUIC_RETRY_SENT] = "retry_sent",
    [HO_EV_QUIC_VN_SENT] = "version_negotiation_sent",
    [HO_EV_QUIC_RESET_SENT] = "stateless_reset_sent",
};

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

const char *ho_event_name(ho_event_type t)
{
    return (unsigned)t < HO_EV__COUNT && event_names[t] ? event_names[t] : "unknown";
}

ho_log_level ho_event_level(ho_event_type t)
{
    switch (t) {
    case HO_EV_QUIC_PACKET_SENT:
    case HO_EV_QUIC_PACKET_RECEIVED:
    case HO_EV_QUIC_RTT_UPDATED:
    case HO_EV_QUIC_CC_UPDATED:
    case HO_EV_OFFLOAD_QUEUED:
        return HO_LOG_TRACE;
    case HO_EV_HANDSHAKE_DONE:
    case HO_EV_HANDSHAKE_FAILED:
    case HO_EV_KEY_UPDATE:
        return HO_LOG_INFO;
    case HO_EV_NOTE:
        return HO_LOG_ERROR; /* notes carry their own level */
    default:
        return HO_LOG_DEBUG;
    }
}

/* ---- names ------------------------------------------------------------- */

#define NAME_OF(table, i) ((size_t)(i) < sizeof(table) / sizeof(table[0]) && table[i] ? table[i] : "unknown")

const char *ho_event_pkt_name(unsigned t)
{
    static const char *const n[] = {"initial", "0RTT", "handshake", "1RTT", "retry", "version_negotiation",
                                    "stateless_reset", "unknown"};
    return NAME_OF(n, t);
}

const char *ho_event_frame_name(uint64_t t)
{
    static const char *const n[] = {
        [0x00] = "padding", [0x01] = "ping", [0x02] = "ack", [0x03] = "ack", [0x04] = "reset_stream",
        [0x05] = "stop_sending", [0x06] = "crypto", [0x07] = "new_token", [0x08] = "stream", [0x09] = "stream",
        [0x0a] = "stream", [0x0b] = "stream", [0x0c] = "stream", [0x0d] = "stream", [0x0e] = "stream",
        [0x0f] = "stream", [0x10] = "max_data", [0x11] = "max_stream_data", [0x12] = "max_streams",
        [0x13] = "max_streams", [0x14] = "data_blocked", [0x15] = "stream_data_blocked",
        [0x16] = "streams_blocked", [0x17] = "streams_blocked", [0x18] = "new_connection_id",
        [0x19] = "retire_connection_id", [0x1a] = "path_challenge", [0x1b] = "path_response",
        [0x1c] = "connection_close", [0x1d] = "connection_close", [0x1e] = "handshake_done",
    };
    if (t == 0x30 || t == 0x31)
        return "datagram";
    return NAME_OF(n, t);
}

const char *ho_event_drop_name(unsigned r)
{
    static const char *const n[] = {
        [HO_EV_DROP_KEY_UNAVAILABLE] = "key_unavailable",
        [HO_EV_DROP_DECRYPTION] = "decryption_failure",
        [HO_EV_DROP_DUPLICATE] = "duplicate",
        [HO_EV_DROP_HEADER] = "header_parse_error",
        [HO_EV_DROP_UNEXPECTED] = "unexpected_packet",
        [HO_EV_DROP_PROTOCOL] = "protocol_violation",
        [HO_EV_DROP_UNKNOWN_CONN] = "unknown_connection_id",
        [HO_EV_DROP_UNSUPPORTED_VERSION] = "unsupported_version",
        [HO_EV_DROP_SHORT_INITIAL] = "invalid_initial",
        [HO_EV_DROP_BAD_DCID] = "invalid_initial",
        [HO_EV_DROP_INVALID_TOKEN] = "invalid_token",
        [HO_EV_DROP_BAD_FRAMES] = "invalid_initial",
        [HO_EV_DROP_QUEUE_FULL] = "queue_full",
        [HO_EV_DROP_REFUSED] = "connection_refused",
    };
    return NAME_OF(n, r);
}

const char *ho_event_loss_name(unsigned r)
{
    static const char *const n[] = {"reordering_threshold", "time_threshold", "pto_expired"};
    return NAME_OF(n, r);
}

const char *ho_event_qstate_name(unsigned s)
{
    static const char *const n[] = {"attempted", "handshake_complete", "handshake_confirmed", "closing",
                                    "draining", "closed", "freed"};
    return NAME_OF(n, s);
}

const char *ho_event_ecn_name(unsigned s)
{
    static const char *const n[] = {"testing", "unknown", "capable", "failed"};
    return NAME_OF(n, s);
}

const char *ho_event_path_name(unsigned w)
{
    static const char *const n[] = {"validating", "validated", "validation_failed", "migrated", "rebound"};
    return NAME_OF(n, w);
}

const char *ho_event_pmtud_name(unsigned w)
{
    static const char *const n[] = {"probe_sent", "probe_acked", "probe_lost", "black_hole", "done"};
    return NAME_OF(n, w);
}

const char *ho_event_key_name(unsigned key_type, bool is_write, bool is_server)
{
    /* qlog names keys by the side that writes with them. */
    bool server_key = is_write == is_server;
    switch (key_type) {
    case HO_EV_KEY_INITIAL:
        return server_key ? "server_initial_secret" : "client_initial_secret";
    case HO_EV_KEY_HANDSHAKE:
        return server_key ? "server_handshake_secret" : "client_handshake_secret";
    case HO_EV_KEY_0RTT:
        return "client_0rtt_secret";
    default:
        return server_key ? "server_1rtt_secret" : "client_1rtt_secret";
    }
}

/* ---- formatting ------------------------------------------------------------ */

typedef struct out {
    char *p;
    size_t cap, len;
} out;

__attribute__((format(printf, 2, 3))) static void put(out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->p + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n;
}

static void put_frames(out *o, const ho_ev_packet *p)
{
    put(o, " [");
    for (uint32_t i = 0; i < p->nframes && i < HO_EV_FRAMES_MAX; i++) {
        const ho_ev_frame *f = &p->frames[i];
        const char *name = ho_event_frame_name(f->type);
        put(o, "%s%s", i ? " " : "", name);
        if (f->type >= 0x08 && f->type <= 0x0f)
            put(o, "(%" PRIu64 ",%" PRIu64 "+%" PRIu64 "%s)", f->id, f->offset, f->length, f->fin ? ",fin" : "");
        else if (f->type == 0x06)
            put(o, "(%" PRIu64 "+%" PRIu64 ")", f->offset, f->length);
        else if (f->type == 0x02 || f->type == 0x03)
            put(o, "(%" PRIu64 ")", f->id);
    }
    put(o, "%s]", p->frames_truncated ? " ..." : "");
}

size_t ho_event_format(const ho_event *ev, char *buf, size_t cap)
{
    out o = {buf, cap, 0};
    if (cap > 0)
        buf[0] = '\0';
    switch (ev->type) {
    case HO_EV_QUIC_PACKET_SENT:
    case HO_EV_QUIC_PACKET_RECEIVED:
    case HO_EV_QUIC_PACKET_LOST:
    case HO_EV_QUIC_PACKET_DROPPED: {
        const ho_ev_packet *p = &ev->u.packet;
        put(&o, "%s", ho_event_pkt_name(p->pkt_type));
        if (p->pn != UINT64_MAX)
            put(&o, " pn=%" PRIu64, p->pn);
        put(&o, " size=%u", (unsigned)p->size);
        if (p->key_phase)
            put(&o, " kp=1");
        if (ev->type == HO_EV_QUIC_PACKET_LOST)
            put(&o, " trigger=%s", ho_event_loss_name(p->reason));
        else if (ev->type == HO_EV_QUIC_PACKET_DROPPED)
            put(&o, " trigger=%s", ho_event_drop_name(p->reason));
        else
            put_frames(&o, p);
        break;
    }
    case HO_EV_QUIC_RTT_UPDATED:
    case HO_EV_QUIC_CC_UPDATED: {
        const ho_ev_metrics *m = &ev->u.metrics;
        if (ev->type == HO_EV_QUIC_RTT_UPDATED)
            put(&o, "latest=%.3fms smoothed=%.3fms min=%.3fms var=%.3fms", (double)m->latest_rtt / 1e6,
                (double)m->smoothed_rtt / 1e6, (double)m->min_rtt / 1e6, (double)m->rtt_variance / 1e6);
        else
            put(&o, "cwnd=%" PRIu64 " in_flight=%" PRIu64, m->cwnd, m->bytes_in_flight);
        if (ev->type == HO_EV_QUIC_CC_UPDATED && m->ssthresh != UINT64_MAX)
            put(&o, " ssthresh=%" PRIu64, m->ssthresh);
        break;
    }
    case HO_EV_QUIC_KEY_UPDATED: {
        static const char *const trig[] = {"tls", "local_update", "remote_update"};
        put(&o, "%s %s %s gen=%" PRIu64,
            ev->u.key.key_type == HO_EV_KEY_INITIAL     ? "initial"
            : ev->u.key.key_type == HO_EV_KEY_HANDSHAKE ? "handshake"
            : ev->u.key.key_type == HO_EV_KEY_0RTT      ? "0rtt"
                                                        : "1rtt",
            ev->u.key.is_write ? "write" : "read", NAME_OF(trig, ev->u.key.trigger), ev->u.key.generation);
        break;
    }
    case HO_EV_QUIC_PATH:
        put(&o, "%s", ho_event_path_name(ev->u.path.what));
        break;
    case HO_EV_QUIC_ECN_STATE:
        put(&o, "%s -> %s", ho_event_ecn_name(ev->u.ecn.old_state), ho_event_ecn_name(ev->u.ecn.new_state));
        break;
    case HO_EV_QUIC_PMTUD:
        put(&o, "%s probe=%" PRIu64 " size %" PRIu64 " -> %" PRIu64, ho_event_pmtud_name(ev->u.pmtud.what),
            ev->u.pmtud.probe_size, ev->u.pmtud.old_size, ev->u.pmtud.new_size);
        break;
    case HO_EV_QUIC_STATE:
        if (ev->u.state.new_state == HO_EV_QSTATE_STARTED)
            put(&o, "%s", ho_event_qstate_name(ev->u.state.new_state));
        else
            put(&o, "%s -> %s", ho_event_qstate_name(ev->u.state.old_state),
                ho_event_qstate_name(ev->u.state.new_state));
        if (ev->u.state.error != 0)
            put(&o, " error=%s", ho_err_str(ev->u.state.error));
        break;
    case HO_EV_QUIC_PARAMS: {
        const ho_ev_params *p = &ev->u.params;
        put(&o,
            "%s idle=%" PRIu64 " max_udp=%" PRIu64 " data=%" PRIu64 " stream_data=%" PRIu64 "/%" PRIu64 "/%" PRIu64
            " streams=%" PRIu64 "/%" PRIu64 " ack_delay_exp=%" PRIu64 " max_ack_delay=%" PRIu64 " cid_limit=%" PRIu64,
            p->remote ? "remote" : "local", p->max_idle_timeout_ms, p->max_udp_payload_size, p->initial_max_data,
            p->initial_max_stream_data_bidi_local, p->initial_max_stream_data_bidi_remote,
            p->initial_max_stream_data_uni, p->initial_max_streams_bidi, p->initial_max_streams_uni,
            p->ack_delay_exponent, p->max_ack_delay_ms, p->active_connection_id_limit);
        break;
    }
    case HO_EV_QUIC_DATAGRAM_DROPPED:
        put(&o, "size=%u trigger=%s", (unsigned)ev->u.datagram.size, ho_event_drop_name(ev->u.datagram.reason));
        break;
    case HO_EV_QUIC_RETRY_SENT:
    case HO_EV_QUIC_VN_SENT:
    case HO_EV_QUIC_RESET_SENT:
        put(&o, "size=%u", (unsigned)ev->u.datagram.size);
        break;
    default:
        put(&o, "a=%lld b=%lld%s%s", (long long)ev->a, (long long)ev->b, ev->detail ? " " : "",
            ev->detail ? ev->detail : "");
        break;
    }
    return o.len;
}

/* ---- the stderr subscriber ---------------------------------------------------- */

static void stderr_subscriber(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->level > stderr_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char text[1024];
    ho_event_format(ev, text, sizeof(text));
    char id[48] = "";
    if (ev->odcid_len > 0) {
        size_t n = ev->odcid_len < 20 ? ev->odcid_len : 20;
        id[0] = ' ';
        for (size_t i = 0; i < n; i++)
            snprintf(id + 1 + 2 * i, sizeof(id) - 1 - 2 * i, "%02x", ev->odcid[i]);
    }
    pthread_mutex_lock(&stderr_lock);
    if (ev->type >= HO_EV_QUIC_PACKET_SENT)
        fprintf(stderr, "%ld.%06ld %-5s [%llu]%s%s%s t=%.6f %s %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000,
                level_names[ev->level], (unsigned long long)ev->conn, ev->role ? " " : "", ev->role ? ev->role : "",
                id, (double)ev->time / 1e9, ho_event_name(ev->type), text);
    else
        fprintf(stderr, "%ld.%06ld %-5s [%llu]%s%s %s %s\n", (long)ts.tv_sec, ts.tv_nsec / 1000,
                level_names[ev->level], (unsigned long long)ev->conn, ev->role ? " " : "", ev->role ? ev->role : "",
                ho_event_name(ev->type), text);
    pthread_mutex_unlock(&stderr_lock);
}

static void recompute(void)
{
    ho_event_mask m = 0;
    bool custom = false, has_stderr = false;
    for (int i = 0; i < subscriber_count; i++) {
        m |= subscribers[i].mask;
        if (subscribers[i].fn == stderr_subscriber)
            has_stderr = true;
        else
            custom = true;
    }
    /* Custom subscribers see every level; the stderr one filters itself. */
    threshold = custom ? HO_LOG_TRACE : has_stderr ? stderr_level : HO_LOG_OFF;
    __atomic_store_n(&ho_event_active, m, __ATOMIC_RELAXED);
}

static void init_from_env(void)
{
    const char *env = getenv("HANDOFF_LOG");
    if (env == NULL || *env == '\0')
        return;
    for (int l = HO_LOG_ERROR; l <= HO_LOG_TRACE; l++) {
        if (strcasecmp(env, level_names[l]) == 0) {
            stderr_level = (ho_log_level)l;
            break;
        }
    }
    if (stderr_level == HO_LOG_OFF)
        return;
    /* TLS/TCP events carry their own level (the subscriber filters on it);
     * QUIC events are taken by their type's level, so that packet events
     * are not even built below trace. */
    ho_event_mask m = HO_EV_BIT(HO_EV_QUIC_PACKET_SENT) - 1;
    for (int t = HO_EV_QUIC_PACKET_SENT; t < HO_EV__COUNT; t++)
        if (ho_event_level((ho_event_type)t) <= stderr_level)
            m |= HO_EV_BIT(t);
    ho_event_subscribe_mask(stderr_subscriber, NULL, m);
}

int ho_event_subscribe_mask(ho_event_fn fn, void *ctx, ho_event_mask mask)
{
    if (fn == NULL)
        return HO_ERR_INVALID_ARG;
    if (subscriber_count == MAX_SUBSCRIBERS)
        return HO_ERR_NOMEM;
    subscribers[subscriber_count].fn = fn;
    subscribers[subscriber_count].ctx = ctx;
    subscribers[subscriber_count].mask = mask & HO_EVM_ALL;
    subscriber_count++;
    recompute();
    return HO_OK;
}

int ho_event_subscribe(ho_event_fn fn, void *ctx) { return ho_event_subscribe_mask(fn, ctx, HO_EVM_ALL); }

int ho_event_unsubscribe(ho_event_fn fn, void *ctx)
{
    for (int i = 0; i < subscriber_count; i++) {
        if (subscribers[i].fn == fn && subscribers[i].ctx == ctx) {
            memmove(&subscribers[i], &subscribers[i + 1], (size_t)(subscriber_count - i - 1) * sizeof(subscribers[0]));
            subscriber_count--;
            recompute();
            return HO_OK;
        }
    }
    return HO_ERR_NOT_FOUND;
}

ho_log_level ho_event_threshold(void)
{
    pthread_once(&init_once, init_from_env);
    return threshold;
}

void ho_event_emit(const ho_event *ev)
{
    if ((unsigned)ev->type >= HO_EV__COUNT)
        return;
    atomic_fetch_add_explicit(&counters[ev->type], 1, memory_order_relaxed);
    if (ev->level > ho_event_threshold())
        return;
    ho_event_mask bit = HO_EV_BIT(ev->type);
    for (int i = 0; i < subscriber_count; i++)
        if (subscribers[i].mask & bit)
            subscribers[i].fn(subscribers[i].ctx, ev);
}

uint64_t ho_event_count(ho_event_type t)
{
    return (unsigned)t < HO_EV__COUNT ? atomic_load_explicit(&counters[t], memory_order_relaxed) : 0;
}

void ho_log(ho_log_level level, const char *fmt, ...)
{
    if (level > ho_event_threshold())
        return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    ho_event ev = {.type = HO_EV_NOTE, .level = level, .detail = text};
    ho_event_emit(&ev);
}
