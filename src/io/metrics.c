/* The server's counters in the Prometheus text exposition format, version
 * 0.0.4 (include/handoff/io.h "Metrics"). Every field of the SIGUSR1 JSON
 * (ho_server_stats_json, ho_server_quic_stats_json) has a series here:
 * docs/DEBUGGING.md "Metrics" lists the names, and tests/interop/metrics.sh
 * checks that the values agree.
 *
 * Naming follows the Prometheus conventions: a handoff_ prefix, _total on
 * counters, base units (seconds, never micro- or nanoseconds). Per-thread
 * counters carry thread="N"; the histograms are summed over the threads
 * (their buckets are per thread, lock-free, src/base/hist.h). */
#include "base/mem.h"
#include "server_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_str(ho_buf *b, const char *s) { ho_put_bytes(b, s, strlen(s)); }

/* ns as seconds, exactly (no floating point): "0.00005", "1", "12.5". */
static void put_seconds_ns(ho_buf *b, uint64_t ns)
{
    char tmp[48];
    uint64_t sec = ns / 1000000000u, frac = ns % 1000000000u;
    int n;
    if (frac == 0) {
        n = snprintf(tmp, sizeof(tmp), "%" PRIu64, sec);
    } else {
        n = snprintf(tmp, sizeof(tmp), "%" PRIu64 ".%09" PRIu64, sec, frac);
        while (n > 0 && tmp[n - 1] == '0')
            n--;
    }
    if (n > 0)
        ho_put_bytes(b, tmp, (size_t)n);
}

static void put_u64(ho_buf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%" PRIu64, v);
    if (n > 0)
        ho_put_bytes(b, tmp, (size_t)n);
}

static void family(ho_buf *b, const char *name, const char *type, const char *help)
{
    put_str(b, "# HELP ");
    put_str(b, name);
    put_str(b, " ");
    put_str(b, help);
    put_str(b, "\n# TYPE ");
    put_str(b, name);
    put_str(b, " ");
    put_str(b, type);
    put_str(b, "\n");
}

typedef enum { UNIT_COUNT, UNIT_US } value_unit;

/* name{labels} value; thread < 0: no thread label; extra: more labels
 * ("mode=\"inline\""), or NULL. */
static void sample(ho_buf *b, const char *name, int thread, const char *extra, uint64_t v, value_unit unit)
{
    put_str(b, name);
    if (thread >= 0 || extra != NULL) {
        put_str(b, "{");
        if (thread >= 0) {
            put_str(b, "thread=\"");
            put_u64(b, (uint64_t)thread);
            put_str(b, "\"");
        }
        if (extra != NULL) {
            if (thread >= 0)
                put_str(b, ",");
            put_str(b, extra);
        }
        put_str(b, "}");
    }
    put_str(b, " ");
    if (unit == UNIT_US)
        put_seconds_ns(b, v * 1000u);
    else
        put_u64(b, v);
    put_str(b, "\n");
}

/* One series of a family: several entries with the same name make one
 * family with an extra label each (they follow each other in a table). */
typedef struct series {
    const char *name, *type, *help;
    const char *label; /* NULL, or the extra label of this entry */
    size_t off;        /* offset of the uint64_t in the stats struct */
    value_unit unit;
} series;

#define TCP(f) offsetof(ho_server_stats, f)
static const series tcp_series[] = {
    {"handoff_tcp_connections_accepted_total", "counter", "TCP connections accepted.", NULL, TCP(accepted), UNIT_COUNT},
    {"handoff_tcp_connections_closed_total", "counter", "TCP connections closed.", NULL, TCP(closed), UNIT_COUNT},
    {"handoff_tcp_connections_active", "gauge", "TCP connections open now.", NULL, TCP(active), UNIT_COUNT},
    {"handoff_tls_handshakes_total", "counter", "TLS handshakes over TCP completed.", NULL, TCP(handshakes_done),
     UNIT_COUNT},
    {"handoff_tls_handshakes_pq_total", "counter",
     "TLS handshakes over TCP completed with the post-quantum hybrid X25519MLKEM768.", NULL, TCP(handshakes_pq),
     UNIT_COUNT},
    {"handoff_tls_early_data_total", "counter",
     "TLS handshakes over TCP whose client offered early data (0-RTT), by outcome.", "outcome=\"accepted\"",
     TCP(early_accepted), UNIT_COUNT},
    {"handoff_tls_early_data_total", NULL, NULL, "outcome=\"rejected\"", TCP(early_rejected), UNIT_COUNT},
    {"handoff_tls_early_data_total", NULL, NULL, "outcome=\"replayed\"", TCP(early_replayed), UNIT_COUNT},
    {"handoff_tls_handshakes_failed_total", "counter", "TLS handshakes over TCP that failed.", NULL,
     TCP(handshakes_failed), UNIT_COUNT},
    {"handoff_tls_client_certs_verified_total", "counter",
     "TLS handshakes over TCP completed with a verified client certificate (or one a resumed ticket carried).",
     NULL, TCP(client_certs_verified), UNIT_COUNT},
    {"handoff_tls_client_certs_refused_total", "counter",
     "TLS handshakes over TCP refused on the client's certificate (missing, unverifiable, bad signature).", NULL,
     TCP(client_certs_refused), UNIT_COUNT},
    {"handoff_tls_handshake_timeouts_total", "counter", "TLS handshakes over TCP cut by the handshake timeout.", NULL,
     TCP(handshake_timeouts), UNIT_COUNT},
    {"handoff_tls_handshake_steps_total", "counter",
     "TLS handshake steps over TCP, by where they were sent: the offload pool or inline on the I/O thread.",
     "mode=\"offloaded\"", TCP(handshakes_offloaded), UNIT_COUNT},
    {"handoff_tls_handshake_steps_total", NULL, NULL, "mode=\"inline\"", TCP(handshakes_inline), UNIT_COUNT},
    {"handoff_tls_handshake_worker_steps_total", "counter", "TLS handshake steps over TCP that ran on a worker thread.",
     NULL, TCP(worker_steps), UNIT_COUNT},
    {"handoff_tcp_requests_total", "counter", "Requests answered on TCP connections.", NULL, TCP(requests),
     UNIT_COUNT},
    {"handoff_tcp_requests_during_offload_total", "counter",
     "Requests answered on TCP connections while a handshake step of the same thread was on a worker.", NULL,
     TCP(served_during_offload), UNIT_COUNT},
    {"handoff_tls_async_started_total", "counter",
     "TLS handshakes over TCP that waited for an asynchronous callback of the application.", NULL,
     TCP(async_started), UNIT_COUNT},
    {"handoff_tls_async_completed_total", "counter",
     "Asynchronous TLS callbacks over TCP completed by the application.", NULL, TCP(async_completed), UNIT_COUNT},
    {"handoff_tcp_requests_during_async_total", "counter",
     "Requests answered on TCP connections while a handshake of the same thread waited for the application.", NULL,
     TCP(served_during_async), UNIT_COUNT},
    {"handoff_tcp_idle_timeouts_total", "counter", "Keep-alive TCP connections closed by the idle timeout.", NULL,
     TCP(idle_timeouts), UNIT_COUNT},
    {"handoff_tcp_request_timeouts_total", "counter", "TCP connections closed by the request timeout.", NULL,
     TCP(request_timeouts), UNIT_COUNT},
    {"handoff_tcp_send_timeouts_total", "counter", "TCP connections closed: output stuck past the send timeout.",
     NULL, TCP(send_timeouts), UNIT_COUNT},
    {"handoff_ktls_engaged_total", "counter", "TLS connections moved to kernel TLS.", NULL, TCP(ktls_engaged),
     UNIT_COUNT},
    {"handoff_ktls_fallbacks_total", "counter", "TLS connections kept on userspace records (no kernel TLS).", NULL,
     TCP(ktls_fallback), UNIT_COUNT},
    {"handoff_heap_trims_total", "counter", "Times freed heap was given back to the system.", NULL, TCP(trims),
     UNIT_COUNT},
    {"handoff_tcp_accept_fd_limit_total", "counter",
     "Accepts refused by the descriptor limit (EMFILE, ENFILE); the listener then pauses.", NULL,
     TCP(accept_emfile), UNIT_COUNT},
};
#undef TCP

#define POOL(f) offsetof(ho_pool_stats, f)
static const series pool_series[] = {
    {"handoff_offload_jobs_submitted_total", "counter", "Jobs (handshake steps, TCP and QUIC) submitted to the pool.",
     NULL, POOL(submitted), UNIT_COUNT},
    {"handoff_offload_jobs_completed_total", "counter", "Pool jobs whose run finished.", NULL, POOL(completed),
     UNIT_COUNT},
    {"handoff_offload_jobs_inline_total", "counter", "Pool jobs run on the submitting thread (no workers).", NULL,
     POOL(inline_runs), UNIT_COUNT},
    {"handoff_offload_queue_depth", "gauge", "Pool jobs queued, not yet started.", NULL, POOL(depth), UNIT_COUNT},
    {"handoff_offload_queue_depth_max", "gauge", "Highest number of pool jobs queued at once.", NULL,
     POOL(max_depth), UNIT_COUNT},
};
#undef POOL

#define Q(f) offsetof(ho_quic_server_stats, f)
#define DROP(r) "reason=\"" r "\""
static const series quic_series[] = {
    {"handoff_quic_connections_accepted_total", "counter", "QUIC connections accepted.", NULL, Q(connections),
     UNIT_COUNT},
    {"handoff_quic_connections_closed_total", "counter", "QUIC connections freed (closed, drained or timed out).",
     NULL, Q(connections_closed), UNIT_COUNT},
    {"handoff_quic_handshakes_total", "counter", "QUIC handshakes completed.", NULL, Q(handshakes), UNIT_COUNT},
    {"handoff_quic_handshakes_resumed_total", "counter", "QUIC handshakes completed by resumption (PSK).", NULL,
     Q(resumed), UNIT_COUNT},
    {"handoff_quic_handshakes_pq_total", "counter",
     "QUIC handshakes completed with the post-quantum hybrid X25519MLKEM768.", NULL, Q(handshakes_pq), UNIT_COUNT},
    {"handoff_quic_client_certs_verified_total", "counter",
     "QUIC handshakes completed with a verified client certificate (or one a resumed ticket carried).", NULL,
     Q(client_certs_verified), UNIT_COUNT},
    {"handoff_quic_client_certs_refused_total", "counter",
     "QUIC handshakes refused on the client's certificate (missing, unverifiable, bad signature).", NULL,
     Q(client_certs_refused), UNIT_COUNT},
    {"handoff_quic_key_updates_total", "counter", "QUIC 1-RTT key updates, either side.", NULL, Q(key_updates),
     UNIT_COUNT},
    {"handoff_h3_requests_total", "counter", "HTTP/3 requests answered on QUIC connections that are gone.", NULL,
     Q(requests), UNIT_COUNT},
    {"handoff_quic_version_negotiation_sent_total", "counter", "QUIC Version Negotiation packets sent.", NULL,
     Q(vn_sent), UNIT_COUNT},
    {"handoff_quic_retry_sent_total", "counter", "QUIC Retry packets sent.", NULL, Q(retry_sent), UNIT_COUNT},
    {"handoff_quic_stateless_resets_sent_total", "counter", "QUIC stateless resets sent.", NULL, Q(resets_sent),
     UNIT_COUNT},
    {"handoff_quic_connections_refused_total", "counter", "QUIC connection attempts refused.", NULL, Q(refused),
     UNIT_COUNT},
    {"handoff_quic_admission_retries_total", "counter", "QUIC Retry packets sent because of load (admission).", NULL,
     Q(admission_retries), UNIT_COUNT},
    {"handoff_quic_admission_refused_total", "counter", "QUIC connections refused because of load (admission).",
     NULL, Q(admission_refused), UNIT_COUNT},
    {"handoff_quic_new_tokens_issued_total", "counter", "QUIC NEW_TOKEN tokens sent to clients.", NULL,
     Q(new_tokens_issued), UNIT_COUNT},
    {"handoff_quic_new_tokens_accepted_total", "counter",
     "QUIC NEW_TOKEN tokens presented in an Initial and accepted (address validated).", NULL,
     Q(new_tokens_accepted), UNIT_COUNT},
    {"handoff_quic_new_tokens_refused_total", "counter",
     "QUIC tokens presented in an Initial and refused (expired, another address, not ours): treated as none.",
     NULL, Q(new_tokens_refused), UNIT_COUNT},
    {"handoff_quic_early_data_total", "counter",
     "QUIC handshakes whose client offered 0-RTT early data, by outcome.", "outcome=\"accepted\"",
     Q(early_accepted), UNIT_COUNT},
    {"handoff_quic_early_data_total", NULL, NULL, "outcome=\"rejected\"", Q(early_rejected), UNIT_COUNT},
    {"handoff_quic_early_data_total", NULL, NULL, "outcome=\"replayed\"", Q(early_replayed), UNIT_COUNT},
    {"handoff_quic_0rtt_packets_total", "counter",
     "QUIC 0-RTT packets of connections: received; processed (accepted); dropped (no keys or not opening).",
     "outcome=\"received\"", Q(zero_rtt_received), UNIT_COUNT},
    {"handoff_quic_0rtt_packets_total", NULL, NULL, "outcome=\"accepted\"", Q(zero_rtt_accepted), UNIT_COUNT},
    {"handoff_quic_0rtt_packets_total", NULL, NULL, "outcome=\"dropped\"", Q(zero_rtt_dropped), UNIT_COUNT},
    {"handoff_quic_handshakes_in_progress", "gauge", "QUIC handshakes in progress now.", NULL,
     Q(handshakes_in_progress), UNIT_COUNT},
    {"handoff_quic_datagrams_received_total", "counter", "UDP datagrams received by the QUIC endpoint.", NULL,
     Q(datagrams_received), UNIT_COUNT},
    {"handoff_quic_datagrams_dropped_total", "counter", "UDP datagrams dropped by the QUIC endpoint.", NULL,
     Q(datagrams_dropped), UNIT_COUNT},
    {"handoff_quic_migrations_total", "counter", "QUIC peers followed to a new address.", NULL, Q(migrations),
     UNIT_COUNT},
    {"handoff_quic_paths_validated_total", "counter", "QUIC paths validated.", NULL, Q(paths_validated), UNIT_COUNT},
    {"handoff_quic_datagrams_forwarded_total", "counter", "Datagrams this thread read for another and handed over.",
     NULL, Q(forwarded), UNIT_COUNT},
    {"handoff_quic_datagrams_forwarded_in_total", "counter", "Datagrams other threads handed to this one.", NULL,
     Q(forwarded_in), UNIT_COUNT},
    {"handoff_quic_forward_drops_total", "counter", "Datagram hand-overs dropped: the owner's queue was full.", NULL,
     Q(forward_drops), UNIT_COUNT},
    {"handoff_quic_handshake_steps_total", "counter",
     "QUIC TLS handshake steps, by where they ran: the offload pool or inline on the I/O thread.",
     "mode=\"offloaded\"", Q(steps_offloaded), UNIT_COUNT},
    {"handoff_quic_handshake_steps_total", NULL, NULL, "mode=\"inline\"", Q(steps_inline), UNIT_COUNT},
    {"handoff_quic_step_queued_datagrams_total", "counter",
     "Datagrams that waited for their connection's handshake step.", NULL, Q(step_queued), UNIT_COUNT},
    {"handoff_quic_step_queue_overflows_total", "counter",
     "Datagrams dropped: their connection's queue (step out) was full.", NULL, Q(step_queue_overflows), UNIT_COUNT},
    {"handoff_quic_step_queue_wait_seconds_total", "counter",
     "Time datagrams waited for their connection's handshake step, summed.", NULL, Q(step_queue_us), UNIT_US},
    {"handoff_quic_step_out_seconds_total", "counter", "Submit-to-finish time of offloaded QUIC steps, summed.", NULL,
     Q(step_out_us), UNIT_US},
    {"handoff_quic_tls_async_started_total", "counter",
     "QUIC handshake steps that waited for an asynchronous TLS callback of the application.", NULL,
     Q(async_started), UNIT_COUNT},
    {"handoff_quic_tls_async_completed_total", "counter",
     "Asynchronous TLS callbacks over QUIC completed by the application.", NULL, Q(async_completed), UNIT_COUNT},
    {"handoff_quic_tls_async_waiting", "gauge",
     "QUIC connections waiting for an asynchronous TLS callback (closed ones included).", NULL, Q(async_waiting),
     UNIT_COUNT},
    {"handoff_quic_handshakes_during_async_total", "counter",
     "QUIC handshakes completed while another connection of the thread waited for the application.", NULL,
     Q(served_during_async), UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", "counter", "Datagrams for no connection dropped, by reason.",
     DROP("initial_too_small"), Q(initial_too_small), UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("initial_undecryptable"), Q(initial_undecryptable),
     UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("initial_bad_frames"), Q(initial_bad_frames),
     UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("initial_bad_dcid"), Q(initial_bad_dcid), UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("initial_bad_token"), Q(initial_bad_token), UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("unknown_long"), Q(unknown_long), UNIT_COUNT},
    {"handoff_quic_unrouted_dropped_total", NULL, NULL, DROP("unknown_version"), Q(unknown_version), UNIT_COUNT},
    {"handoff_quic_packets_sent_total", "counter", "QUIC packets sent by connections that are gone.", NULL,
     Q(packets_sent), UNIT_COUNT},
    {"handoff_quic_packets_received_total", "counter", "QUIC packets received (processed) by connections that are gone.",
     NULL, Q(packets_received), UNIT_COUNT},
    {"handoff_quic_packets_lost_total", "counter", "QUIC packets declared lost by connections that are gone.", NULL,
     Q(packets_lost), UNIT_COUNT},
    {"handoff_quic_send_calls_total", "counter", "sendmmsg system calls of the QUIC sockets.", NULL, Q(send_calls),
     UNIT_COUNT},
    {"handoff_quic_send_gathered_total", "counter",
     "sendmmsg system calls of the QUIC sockets that carried several connections' datagrams.", NULL,
     Q(send_gathered), UNIT_COUNT},
};
#undef DROP
#undef Q

static uint64_t field_at(const void *base, size_t off)
{
    uint64_t v;
    memcpy(&v, (const uint8_t *)base + off, sizeof(v));
    return v;
}

/* Families of tab (entries of one name in a row); per thread when
 * nthreads > 0 (items of elem_size bytes), else one unlabelled item. */
static void put_table(ho_buf *b, const series *tab, size_t n, const void *items, size_t elem_size, unsigned nthreads)
{
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && strcmp(tab[j].name, tab[i].name) == 0)
            j++;
        family(b, tab[i].name, tab[i].type, tab[i].help);
        unsigned rows = nthreads > 0 ? nthreads : 1;
        for (unsigned t = 0; t < rows; t++) {
            const void *item = (const uint8_t *)items + (size_t)t * elem_size;
            for (size_t k = i; k < j; k++)
                sample(b, tab[k].name, nthreads > 0 ? (int)t : -1, tab[k].label, field_at(item, tab[k].off),
                       tab[k].unit);
        }
        i = j;
    }
}

/* The series of one histogram: cumulative _bucket{le=...}, +Inf, _sum,
 * _count. The count is the sum of the buckets, so a scrape racing a
 * record stays consistent (+Inf equals _count). */
static void put_hist(ho_buf *b, const char *name, const char *labels, const ho_hist *h)
{
    uint64_t cum = 0;
    for (size_t i = 0; i <= HO_HIST_BOUNDS; i++) {
        cum += h->bucket[i];
        put_str(b, name);
        put_str(b, "_bucket{");
        if (labels != NULL) {
            put_str(b, labels);
            put_str(b, ",");
        }
        put_str(b, "le=\"");
        if (i < HO_HIST_BOUNDS)
            put_seconds_ns(b, ho_hist_bounds_ns[i]);
        else
            put_str(b, "+Inf");
        put_str(b, "\"} ");
        put_u64(b, cum);
        put_str(b, "\n");
    }
    for (int k = 0; k < 2; k++) {
        put_str(b, name);
        put_str(b, k == 0 ? "_sum" : "_count");
        if (labels != NULL) {
            put_str(b, "{");
            put_str(b, labels);
            put_str(b, "}");
        }
        put_str(b, " ");
        if (k == 0)
            put_seconds_ns(b, h->sum_ns);
        else
            put_u64(b, cum);
        put_str(b, "\n");
    }
}

void ho_metrics_text(const ho_metrics_input *in, ho_buf *out)
{
    unsigned nt = in->nthreads;
    put_table(out, tcp_series, sizeof(tcp_series) / sizeof(tcp_series[0]), in->threads, sizeof(ho_server_stats), nt);

    static const ho_pool_stats no_pool;
    const ho_pool_stats *pool = in->pool != NULL ? in->pool : &no_pool;
    put_table(out, pool_series, sizeof(pool_series) / sizeof(pool_series[0]), pool, 0, 0);
    family(out, "handoff_offload_queued_seconds_total", "counter", "Time pool jobs spent queued, summed.");
    put_str(out, "handoff_offload_queued_seconds_total ");
    put_seconds_ns(out, pool->queued_ns);
    put_str(out, "\n");
    family(out, "handoff_offload_run_seconds_total", "counter", "Time pool jobs spent running, summed.");
    put_str(out, "handoff_offload_run_seconds_total ");
    put_seconds_ns(out, pool->run_ns);
    put_str(out, "\n");
    family(out, "handoff_offload_queue_duration_seconds", "histogram",
           "Time from a job's submission to a worker picking it up.");
    put_hist(out, "handoff_offload_queue_duration_seconds", NULL, &pool->queued);

    ho_hist hs[2][2]; /* [tcp, quic][inline, offloaded] */
    memset(hs, 0, sizeof(hs));
    for (unsigned t = 0; t < nt; t++) {
        ho_hist_merge(&hs[0][0], &in->threads[t].handshake_inline);
        ho_hist_merge(&hs[0][1], &in->threads[t].handshake_offloaded);
        if (in->quic != NULL) {
            ho_hist_merge(&hs[1][0], &in->quic[t].handshake_inline);
            ho_hist_merge(&hs[1][1], &in->quic[t].handshake_offloaded);
        }
    }
    family(out, "handoff_handshake_duration_seconds", "histogram",
           "Handshake durations (TCP: first ClientHello byte to complete; QUIC: connection accepted to complete), "
           "by transport and by mode: every step inline, or at least one on the offload pool.");
    static const char *const hs_labels[2][2] = {
        {"transport=\"tcp\",mode=\"inline\"", "transport=\"tcp\",mode=\"offloaded\""},
        {"transport=\"quic\",mode=\"inline\"", "transport=\"quic\",mode=\"offloaded\""},
    };
    for (int tr = 0; tr < (in->quic != NULL ? 2 : 1); tr++)
        for (int m = 0; m < 2; m++)
            put_hist(out, "handoff_handshake_duration_seconds", hs_labels[tr][m], &hs[tr][m]);

    if (in->quic != NULL) {
        put_table(out, quic_series, sizeof(quic_series) / sizeof(quic_series[0]), in->quic,
                  sizeof(ho_quic_server_stats), nt);
        family(out, "handoff_quic_connections_active", "gauge", "QUIC connections accepted and not yet freed.");
        for (unsigned t = 0; t < nt; t++) {
            uint64_t a = in->quic[t].connections, c = in->quic[t].connections_closed;
            sample(out, "handoff_quic_connections_active", (int)t, NULL, a > c ? a - c : 0, UNIT_COUNT);
        }
        family(out, "handoff_quic_steering", "gauge",
               "1 when the kernel steers datagrams to their thread (BPF), 0 when threads hand them over.");
        sample(out, "handoff_quic_steering", -1, NULL, in->quic_steering ? 1 : 0, UNIT_COUNT);
    }
}

int ho_server_metrics_text(const ho_server *s, ho_buf *out)
{
    unsigned nt = s->opt.io_threads;
    ho_server_stats *th = ho_mem_calloc(nt, sizeof(*th));
    ho_quic_server_stats *q = s->has_quic ? ho_mem_calloc(nt, sizeof(*q)) : NULL;
    ho_pool_stats pool;
    memset(&pool, 0, sizeof(pool));
    if (th == NULL || (s->has_quic && q == NULL)) {
        ho_mem_free(th);
        ho_mem_free(q);
        return HO_ERR_NOMEM;
    }
    for (unsigned i = 0; i < nt; i++) {
        ho_server_get_thread_stats(s, i, &th[i]);
        if (q != NULL)
            ho_server_get_quic_stats(s, (int)i, &q[i]);
    }
    if (s->pool != NULL)
        ho_pool_get_stats(s->pool, &pool);
    ho_metrics_input in = {.nthreads = nt, .threads = th, .pool = &pool, .quic = q, .quic_steering = s->qsteering};
    ho_metrics_text(&in, out);
    ho_mem_free(th);
    ho_mem_free(q);
    return out->failed ? HO_ERR_NOMEM : HO_OK;
}
