/* The event core: one stream of events, process-wide subscribers, per-type
 * counters, and the stderr subscriber filtered by HANDOFF_LOG. */
#include "handoff/base.h"

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
};

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
};

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

const char *ho_event_name(ho_event_type t)
{
    return (unsigned)t < HO_EV__COUNT && event_names[t] ? event_names[t] : "unknown";
}

static void stderr_subscriber(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->level > stderr_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&stderr_lock);
    fprintf(stderr, "%ld.%06ld %-5s [%llu]%s%s %s a=%lld b=%lld%s%s\n", (long)ts.tv_sec, ts.tv_nsec / 1000,
            level_names[ev->level], (unsigned long long)ev->conn, ev->role ? " " : "", ev->role ? ev->role : "",
            ho_event_name(ev->type), (long long)ev->a, (long long)ev->b, ev->detail ? " " : "",
            ev->detail ? ev->detail : "");
    pthread_mutex_unlock(&stderr_lock);
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
    if (stderr_level != HO_LOG_OFF)
        ho_event_subscribe(stderr_subscriber, NULL);
}

int ho_event_subscribe(ho_event_fn fn, void *ctx)
{
    if (subscriber_count == MAX_SUBSCRIBERS)
        return HO_ERR_NOMEM;
    subscribers[subscriber_count].fn = fn;
    subscribers[subscriber_count].ctx = ctx;
    subscriber_count++;
    /* Custom subscribers see everything; the stderr one filters itself. */
    threshold = fn == stderr_subscriber && threshold < stderr_level ? stderr_level : HO_LOG_TRACE;
    return HO_OK;
}

ho_log_level ho_event_threshold(void)
{
    pthread_once(&init_once, init_from_env);
    return threshold;
}

void ho_event_emit(const ho_event *ev)
{
    if ((unsigned)ev->type < HO_EV__COUNT)
        atomic_fetch_add_explicit(&counters[ev->type], 1, memory_order_relaxed);
    if (ev->level > ho_event_threshold())
        return;
    for (int i = 0; i < subscriber_count; i++)
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
