/* qlog: one JSON-SEQ file (RFC 7464: RS 0x1e before each record, LF after)
 * per QUIC connection, named <odcid-hex>_<server|client>.sqlog, in the
 * main schema (draft-ietf-quic-qlog-main-schema, "sequential" file) with
 * the QUIC event definitions (draft-ietf-quic-qlog-quic-events, "quic:"
 * names). It is an event subscriber (handoff/event.h): the per-connection
 * state hangs on the event's slot, records are built in a per-connection
 * buffer and written when it fills and when the connection is freed, on
 * the thread that drives the connection. Times are milliseconds from the
 * connection's first event, on the connection's clock. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "handoff/quic.h"

/* draft-ietf-quic-qlog-quic-events-13 §2.1: until the RFC, the schema URI
 * carries the draft's number. The fields below follow draft -13 (and
 * draft-ietf-quic-qlog-main-schema-14); tests/interop/qlog_check.py checks
 * them against the drafts' CDDL. */
#define QLOG_QUIC_SCHEMA "urn:ietf:params:qlog:events:quic-13"
#define QLOG_BUF (64u << 10)
#define QLOG_RECORD_MAX (8u << 10) /* flush before a record if less room is left */

typedef struct qlog_conn {
    int fd;
    bool failed;           /* a write failed: stop writing this file */
    bool closed_logged;    /* connection_closed written (at the first of closing, draining, closed) */
    uint8_t ade_local, ade_remote; /* ack_delay_exponent of each side (parameters_set; 3 until then) */
    int64_t t0;            /* reference time: the first event's */
    size_t len;
    char buf[QLOG_BUF];
} qlog_conn;

static char qlog_dir[4096];
static bool qlog_on;
/* Hung on the slot of a connection whose file could not be opened, so
 * that its later events do not try again. */
static char open_failed;

static void flush(qlog_conn *q)
{
    size_t off = 0;
    while (off < q->len && !q->failed) {
        ssize_t n = write(q->fd, q->buf + off, q->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            q->failed = true;
        else
            off += (size_t)n;
    }
    q->len = 0;
}

__attribute__((format(printf, 2, 3))) static void put(qlog_conn *q, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = QLOG_BUF - q->len;
    int n = vsnprintf(q->buf + q->len, room, fmt, ap);
    va_end(ap);
    if (n > 0 && (size_t)n < room)
        q->len += (size_t)n;
    else
        q->len = QLOG_BUF - 1; /* cannot happen below QLOG_RECORD_MAX; keeps the buffer bounded */
}

static void put_hex(qlog_conn *q, const uint8_t *p, size_t n)
{
    put(q, "\"");
    for (size_t i = 0; i < n && q->len + 3 < QLOG_BUF; i++)
        put(q, "%02x", p[i]);
    put(q, "\"");
}

/* The hot records (packets, frames, metrics) are built with these rather
 * than printf: a 100 MB download writes some 140 000 records. */
static void put_str(qlog_conn *q, const char *str)
{
    size_t n = strlen(str);
    if (n >= QLOG_BUF - q->len)
        return;
    memcpy(q->buf + q->len, str, n);
    q->len += n;
}

static void put_u64(qlog_conn *q, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    if (n >= QLOG_BUF - q->len)
        return;
    while (n > 0)
        q->buf[q->len++] = tmp[--n];
}

/* Nanoseconds as milliseconds with `decimals` (3 or 6) digits. */
static void put_ms(qlog_conn *q, int64_t ns, int decimals)
{
    if (ns < 0) {
        put_str(q, "-");
        ns = -ns;
    }
    uint64_t v = (uint64_t)ns, unit = decimals == 6 ? 1 : 1000, frac_max = decimals == 6 ? 1000000 : 1000;
    put_u64(q, v / 1000000);
    put_str(q, ".");
    uint64_t frac = (v % 1000000) / unit;
    for (uint64_t d = frac_max / 10; d > 1 && frac < d; d /= 10)
        put_str(q, "0");
    put_u64(q, frac);
}

/* ,"key":value */
static void put_field(qlog_conn *q, const char *key, uint64_t v)
{
    put_str(q, ",\"");
    put_str(q, key);
    put_str(q, "\":");
    put_u64(q, v);
}

static qlog_conn *conn_open(const ho_event *ev)
{
    char name[4096 + 64];
    char hex[41] = "";
    size_t n = ev->odcid_len < 20 ? ev->odcid_len : 20;
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02x", ev->odcid[i]);
    snprintf(name, sizeof(name), "%s/%s_%s.sqlog", qlog_dir, n ? hex : "none", ev->role ? ev->role : "unknown");
    qlog_conn *q = ho_mem_alloc(sizeof(*q));
    if (q == NULL)
        return NULL;
    q->fd = open(name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (q->fd < 0) {
        ho_mem_free(q);
        return NULL;
    }
    q->failed = false;
    q->closed_logged = false;
    q->ade_local = q->ade_remote = 3; /* RFC 9000 §18.2: the default */
    q->len = 0;
    q->t0 = ev->time;
    /* The file header (main schema: QlogFileSeq with one trace). */
    put(q,
        "\x1e{\"file_schema\":\"urn:ietf:params:qlog:file:sequential\","
        "\"serialization_format\":\"application/qlog+json-seq\",\"title\":\"handoff\","
        "\"trace\":{\"title\":\"%s\",\"vantage_point\":{\"name\":\"handoff\",\"type\":\"%s\"},"
        "\"common_fields\":{\"group_id\":",
        hex, ev->role ? ev->role : "unknown");
    put_hex(q, ev->odcid, n);
    put(q, ",\"time_format\":\"relative_to_epoch\","
           "\"reference_time\":{\"clock_type\":\"monotonic\",\"epoch\":\"unknown\"}},"
           "\"event_schemas\":[\"" QLOG_QUIC_SCHEMA "\"]}}\n");
    return q;
}

static const char *qlog_pkt_type(unsigned t)
{
    static const char *const n[] = {"initial", "0RTT", "handshake", "1RTT", "retry", "version_negotiation",
                                    "stateless_reset", "unknown"};
    return t < sizeof(n) / sizeof(n[0]) ? n[t] : "unknown";
}

/* Only these packet types have a packet number (qe-13 §8.8 PacketHeader). */
static bool has_pn(const ho_ev_packet *p)
{
    return p->pn != UINT64_MAX && (p->pkt_type == HO_EV_PKT_INITIAL || p->pkt_type == HO_EV_PKT_HANDSHAKE ||
                                   p->pkt_type == HO_EV_PKT_0RTT || p->pkt_type == HO_EV_PKT_1RTT);
}

/* QUICPacketDropped.trigger (qe-13 §5.7); our finer reason goes in details. */
static const char *drop_trigger(unsigned r)
{
    switch (r) {
    case HO_EV_DROP_KEY_UNAVAILABLE:
        return "key_unavailable";
    case HO_EV_DROP_DECRYPTION:
        return "decryption_failure";
    case HO_EV_DROP_DUPLICATE:
        return "duplicate";
    case HO_EV_DROP_UNKNOWN_CONN:
        return "connection_unknown";
    case HO_EV_DROP_UNSUPPORTED_VERSION:
        return "unsupported";
    case HO_EV_DROP_UNEXPECTED:
    case HO_EV_DROP_QUEUE_FULL:
    case HO_EV_DROP_REFUSED:
        return "rejected";
    case HO_EV_DROP_HEADER:
    case HO_EV_DROP_PROTOCOL:
    case HO_EV_DROP_SHORT_INITIAL:
    case HO_EV_DROP_BAD_DCID:
    case HO_EV_DROP_INVALID_TOKEN:
    case HO_EV_DROP_BAD_FRAMES:
        return "invalid";
    default:
        return "general";
    }
}

static void put_connection_error(qlog_conn *q, uint64_t code, const char *key);

static void put_frames(qlog_conn *q, const ho_ev_packet *p, unsigned ack_delay_exponent)
{
    put_str(q, ",\"frames\":[");
    for (uint32_t i = 0; i < p->nframes && i < HO_EV_FRAMES_MAX; i++) {
        const ho_ev_frame *f = &p->frames[i];
        put_str(q, i ? ",{\"frame_type\":\"" : "{\"frame_type\":\"");
        put_str(q, ho_event_frame_name(f->type));
        put_str(q, "\"");
        switch (f->type) {
        case 0x00:
            put_str(q, ",\"raw\":{\"length\":");
            put_u64(q, f->length);
            put_field(q, "payload_length", f->length);
            put_str(q, "}");
            break;
        case 0x02:
        case 0x03: {
            /* ack_delay in milliseconds (qe-13 §8.13.3): the field times
             * 2^ack_delay_exponent microseconds (RFC 9000 §19.3). */
            const uint64_t cap = (uint64_t)1 << 40; /* µs: a peer's absurd delay stays a number */
            uint64_t us = f->offset > (cap >> ack_delay_exponent) ? cap : f->offset << ack_delay_exponent;
            put_str(q, ",\"ack_delay\":");
            put_ms(q, (int64_t)(us * 1000), 3);
            /* acked_ranges only when every range is known: a partial list
             * would say the rest were not acknowledged. */
            if (f->length <= HO_EV_ACK_RANGES) {
                put_str(q, ",\"acked_ranges\":[");
                for (uint64_t r = 0; r < f->length; r++) {
                    put_str(q, r ? ",[" : "[");
                    put_u64(q, f->ack_ranges[r][0]);
                    if (f->ack_ranges[r][1] != f->ack_ranges[r][0]) {
                        put_str(q, ",");
                        put_u64(q, f->ack_ranges[r][1]);
                    }
                    put_str(q, "]");
                }
                put_str(q, "]");
            }
            break;
        }
        case 0x04:
            /* error: $ApplicationError; we know no names: "unknown" and the code */
            put_field(q, "stream_id", f->id);
            put_str(q, ",\"error\":\"unknown\"");
            put_field(q, "error_code", f->length);
            put_field(q, "final_size", f->offset);
            break;
        case 0x05:
            put_field(q, "stream_id", f->id);
            put_str(q, ",\"error\":\"unknown\"");
            put_field(q, "error_code", f->length);
            break;
        case 0x06:
            /* the Length field goes in raw.length (qe-13 §8.13.7) */
            put_field(q, "offset", f->offset);
            put_str(q, ",\"raw\":{\"length\":");
            put_u64(q, f->length);
            put_str(q, "}");
            break;
        case 0x07:
            put_str(q, ",\"token\":{\"type\":\"resumption\",\"raw\":{\"length\":");
            put_u64(q, f->length);
            put_str(q, "}}");
            break;
        case 0x08:
            put_field(q, "stream_id", f->id);
            put_field(q, "offset", f->offset);
            if (f->fin)
                put_str(q, ",\"fin\":true");
            put_str(q, ",\"raw\":{\"length\":");
            put_u64(q, f->length);
            put_str(q, "}");
            break;
        case 0x10:
            put_field(q, "maximum", f->id);
            break;
        case 0x11:
            put_field(q, "stream_id", f->id);
            put_field(q, "maximum", f->offset);
            break;
        case 0x12:
        case 0x13:
            put_str(q, f->type == 0x12 ? ",\"stream_type\":\"bidirectional\"" : ",\"stream_type\":\"unidirectional\"");
            put_field(q, "maximum", f->id);
            break;
        case 0x14:
            put_field(q, "limit", f->id);
            break;
        case 0x15:
            put_field(q, "stream_id", f->id);
            put_field(q, "limit", f->offset);
            break;
        case 0x16:
        case 0x17:
            put_str(q, f->type == 0x16 ? ",\"stream_type\":\"bidirectional\"" : ",\"stream_type\":\"unidirectional\"");
            put_field(q, "limit", f->id);
            break;
        case 0x18:
            put_field(q, "sequence_number", f->id);
            put_field(q, "retire_prior_to", f->offset);
            put_str(q, ",\"connection_id\":");
            put_hex(q, f->cid, f->cid_len);
            break;
        case 0x19:
            put_field(q, "sequence_number", f->id);
            break;
        case 0x1c:
            put_str(q, ",\"error_space\":\"transport\"");
            put_connection_error(q, f->id, "error");
            break;
        case 0x1d:
            put_str(q, ",\"error_space\":\"application\",\"error\":\"unknown\"");
            put_field(q, "error_code", f->id);
            break;
        case 0x30:
        case 0x31:
            put_str(q, ",\"raw\":{\"length\":");
            put_u64(q, f->length);
            put_str(q, "}");
            break;
        default:
            if (strcmp(ho_event_frame_name(f->type), "unknown") == 0)
                put_field(q, "frame_type_bytes", f->type); /* UnknownFrame (qe-13 §8.13.22) */
            break;
        }
        put_str(q, "}");
    }
    put_str(q, "]");
}

static void put_metrics(qlog_conn *q, const ho_ev_metrics *m, bool rtt)
{
    if (rtt) {
        put_str(q, "\"min_rtt\":");
        put_ms(q, m->min_rtt, 3);
        put_str(q, ",\"smoothed_rtt\":");
        put_ms(q, m->smoothed_rtt, 3);
        put_str(q, ",\"latest_rtt\":");
        put_ms(q, m->latest_rtt, 3);
        put_str(q, ",\"rtt_variance\":");
        put_ms(q, m->rtt_variance, 3);
        put_field(q, "pto_count", m->pto_count);
        put_str(q, ",");
    }
    put_str(q, "\"congestion_window\":");
    put_u64(q, m->cwnd);
    put_field(q, "bytes_in_flight", m->bytes_in_flight);
    if (m->ssthresh != UINT64_MAX)
        put_field(q, "ssthresh", m->ssthresh);
}

static const char *key_trigger(unsigned t)
{
    return t == HO_EV_KEY_LOCAL_UPDATE ? "local_update" : t == HO_EV_KEY_REMOTE_UPDATE ? "remote_update" : "tls";
}

static const char *migration_state(unsigned w)
{
    switch (w) {
    case HO_EV_PATH_VALIDATING:
        return "probing_started";
    case HO_EV_PATH_VALIDATED:
        return "probing_successful";
    case HO_EV_PATH_FAILED:
        return "probing_abandoned";
    default: /* HO_EV_PATH_MIGRATED, HO_EV_PATH_REBOUND: the connection now uses the new path */
        return "migration_complete";
    }
}

/* Opens the record: RS, time, name, and the data object's brace. */
static void begin(qlog_conn *q, const ho_event *ev, const char *name);
static void end(qlog_conn *q);

/* "key":PathEndpointInfo, with what is known of the address. */
static void put_endpoint(qlog_conn *q, const char *key, const struct sockaddr *sa)
{
    put(q, "\"%s\":{", key);
    char ip[INET6_ADDRSTRLEN];
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        if (in->sin_port != 0 && inet_ntop(AF_INET, &in->sin_addr, ip, sizeof(ip)) != NULL)
            put(q, "\"ip_v4\":\"%s\",\"port_v4\":%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        if (in6->sin6_port != 0 && inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof(ip)) != NULL)
            put(q, "\"ip_v6\":\"%s\",\"port_v6\":%u", ip, (unsigned)ntohs(in6->sin6_port));
    }
    put_str(q, "}");
}

static void put_started(qlog_conn *q, const ho_event *ev)
{
    begin(q, ev, "quic:connection_started");
    put_endpoint(q, "local", ev->u.state.local);
    put_str(q, ",");
    put_endpoint(q, "remote", ev->u.state.remote);
    end(q);
}

/* qlog's TransportError and CryptoError spellings (RFC 9000 §20.1). */
static void put_connection_error(qlog_conn *q, uint64_t code, const char *key)
{
    static const char *const n[] = {"no_error", "internal_error", "connection_refused", "flow_control_error",
                                    "stream_limit_error", "stream_state_error", "final_size_error",
                                    "frame_encoding_error", "transport_parameter_error", "connection_id_limit_error",
                                    "protocol_violation", "invalid_token", "application_error",
                                    "crypto_buffer_exceeded", "key_update_error", "aead_limit_reached",
                                    "no_viable_path"};
    if (code < sizeof(n) / sizeof(n[0])) {
        put(q, ",\"%s\":\"%s\"", key, n[code]);
    } else if (code >= 0x100 && code <= 0x1ff) {
        put(q, ",\"%s\":\"crypto_error_0x%03" PRIx64 "\"", key, code);
    } else {
        put(q, ",\"%s\":\"unknown\"", key);
        put_field(q, "error_code", code);
    }
}

/* JSON string contents: the reason phrase is the peer's bytes. */
static void put_json_text(qlog_conn *q, const char *str)
{
    for (const unsigned char *p = (const unsigned char *)str; *p != 0 && q->len + 8 < QLOG_BUF; p++) {
        if (*p == '"' || *p == '\\')
            put(q, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            put(q, "\\u%04x", *p);
        else
            q->buf[q->len++] = (char)*p;
    }
}

static void put_closed(qlog_conn *q, const ho_event *ev)
{
    static const char *const triggers[] = {"unspecified", "error", "application", "idle_timeout", "stateless_reset",
                                           "version_mismatch"};
    const ho_ev_state *st = &ev->u.state;
    begin(q, ev, "quic:connection_closed");
    put(q, "\"initiator\":\"%s\"", st->by_peer ? "remote" : "local");
    if (st->trigger == HO_EV_CLOSE_ERROR) {
        put_connection_error(q, st->code, "connection_error");
    } else if (st->trigger == HO_EV_CLOSE_APPLICATION) {
        put_str(q, ",\"application_error\":\"unknown\"");
        put_field(q, "error_code", st->code);
    }
    if (st->reason != NULL && st->reason[0] != 0) {
        put_str(q, ",\"reason\":\"");
        put_json_text(q, st->reason);
        put_str(q, "\"");
    }
    put(q, ",\"trigger\":\"%s\"", triggers[st->trigger < sizeof(triggers) / sizeof(triggers[0]) ? st->trigger : 0]);
    end(q);
}

static void begin(qlog_conn *q, const ho_event *ev, const char *name)
{
    if (q->len + QLOG_RECORD_MAX > QLOG_BUF)
        flush(q);
    put_str(q, "\x1e{\"time\":");
    put_ms(q, ev->time - q->t0, 6);
    put_str(q, ",\"name\":\"");
    put_str(q, name);
    put_str(q, "\",\"data\":{");
}

static void end(qlog_conn *q) { put_str(q, "}}\n"); }

static void write_event(qlog_conn *q, const ho_event *ev, bool is_server)
{
    switch (ev->type) {
    case HO_EV_QUIC_PACKET_SENT:
    case HO_EV_QUIC_PACKET_RECEIVED: {
        const ho_ev_packet *p = &ev->u.packet;
        begin(q, ev, ev->type == HO_EV_QUIC_PACKET_SENT ? "quic:packet_sent" : "quic:packet_received");
        put_str(q, "\"header\":{\"packet_type\":\"");
        put_str(q, qlog_pkt_type(p->pkt_type));
        put_str(q, "\"");
        if (has_pn(p))
            put_field(q, "packet_number", p->pn);
        if (p->pkt_type == HO_EV_PKT_1RTT)
            put_str(q, p->key_phase ? ",\"key_phase_bit\":true" : ",\"key_phase_bit\":false");
        if (p->token_len > 0) {
            /* qe §8.13: header.token, a $Token (type retry | resumption) */
            put_str(q, p->token_retry ? ",\"token\":{\"type\":\"retry\",\"raw\":{\"length\":"
                                      : ",\"token\":{\"type\":\"resumption\",\"raw\":{\"length\":");
            put_u64(q, p->token_len);
            put_str(q, "}}");
        }
        put_str(q, "},\"raw\":{\"length\":");
        put_u64(q, p->size);
        put_field(q, "payload_length", p->payload_len);
        put_str(q, "}");
        put_frames(q, p, ev->type == HO_EV_QUIC_PACKET_SENT ? q->ade_local : q->ade_remote);
        end(q);
        break;
    }
    case HO_EV_QUIC_PACKET_LOST: {
        const ho_ev_packet *p = &ev->u.packet;
        begin(q, ev, "quic:packet_lost");
        put(q, "\"header\":{\"packet_type\":\"%s\"", qlog_pkt_type(p->pkt_type));
        if (has_pn(p))
            put_field(q, "packet_number", p->pn);
        put(q, "},\"trigger\":\"%s\"", ho_event_loss_name(p->reason));
        end(q);
        break;
    }
    case HO_EV_QUIC_PACKET_DROPPED: {
        const ho_ev_packet *p = &ev->u.packet;
        begin(q, ev, "quic:packet_dropped");
        put(q,
            "\"header\":{\"packet_type\":\"%s\"},\"raw\":{\"length\":%u},\"trigger\":\"%s\","
            "\"details\":{\"reason\":\"%s\"}",
            qlog_pkt_type(p->pkt_type), (unsigned)p->size, drop_trigger(p->reason), ho_event_drop_name(p->reason));
        end(q);
        break;
    }
    case HO_EV_QUIC_RTT_UPDATED:
    case HO_EV_QUIC_CC_UPDATED:
        begin(q, ev, "quic:recovery_metrics_updated");
        put_metrics(q, &ev->u.metrics, ev->type == HO_EV_QUIC_RTT_UPDATED);
        end(q);
        break;
    case HO_EV_QUIC_KEY_UPDATED: {
        const ho_ev_key *k = &ev->u.key;
        begin(q, ev, "quic:key_updated");
        put(q, "\"key_type\":\"%s\",\"trigger\":\"%s\"", ho_event_key_name(k->key_type, k->is_write, is_server),
            key_trigger(k->trigger));
        if (k->key_type == HO_EV_KEY_1RTT)
            put(q, ",\"key_phase\":%" PRIu64, k->generation);
        end(q);
        break;
    }
    case HO_EV_QUIC_PATH:
        begin(q, ev, "quic:migration_state_updated");
        put(q, "\"new\":\"%s\"", migration_state(ev->u.path.what));
        end(q);
        break;
    case HO_EV_QUIC_ECN_STATE:
        begin(q, ev, "quic:ecn_state_updated");
        put(q, "\"old\":\"%s\",\"new\":\"%s\"", ho_event_ecn_name(ev->u.ecn.old_state),
            ho_event_ecn_name(ev->u.ecn.new_state));
        end(q);
        break;
    case HO_EV_QUIC_PMTUD: {
        const ho_ev_pmtud *m = &ev->u.pmtud;
        if (m->what == HO_EV_PMTUD_PROBE_SENT || m->what == HO_EV_PMTUD_PROBE_LOST)
            break; /* the probe itself is a packet_sent / packet_lost */
        if (m->what == HO_EV_PMTUD_PROBE_ACKED && m->new_size == m->old_size)
            break;
        begin(q, ev, "quic:mtu_updated");
        put(q, "\"old\":%" PRIu64 ",\"new\":%" PRIu64 ",\"done\":%s", m->old_size, m->new_size,
            m->what == HO_EV_PMTUD_DONE ? "true" : "false");
        end(q);
        break;
    }
    case HO_EV_QUIC_STATE: {
        const ho_ev_state *st = &ev->u.state;
        if (st->new_state == HO_EV_QSTATE_FREED)
            break;
        if (st->new_state == HO_EV_QSTATE_STARTED)
            put_started(q, ev);
        if (st->new_state >= HO_EV_QSTATE_CLOSING && !q->closed_logged) {
            put_closed(q, ev);
            q->closed_logged = true;
        }
        begin(q, ev, "quic:connection_state_updated");
        if (st->new_state != HO_EV_QSTATE_STARTED)
            put(q, "\"old\":\"%s\",", ho_event_qstate_name(st->old_state));
        put(q, "\"new\":\"%s\"", ho_event_qstate_name(st->new_state));
        end(q);
        break;
    }
    case HO_EV_QUIC_PARAMS: {
        const ho_ev_params *p = &ev->u.params;
        if (p->remote)
            q->ade_remote = (uint8_t)(p->ack_delay_exponent <= 20 ? p->ack_delay_exponent : 3);
        else
            q->ade_local = (uint8_t)(p->ack_delay_exponent <= 20 ? p->ack_delay_exponent : 3);
        begin(q, ev, "quic:parameters_set");
        put(q,
            "\"initiator\":\"%s\",\"initial_source_connection_id\":", p->remote ? "remote" : "local");
        put_hex(q, p->initial_scid, p->initial_scid_len);
        put(q,
            ",\"disable_active_migration\":%s,\"max_idle_timeout\":%" PRIu64 ",\"max_udp_payload_size\":%" PRIu64
            ",\"ack_delay_exponent\":%" PRIu64 ",\"max_ack_delay\":%" PRIu64 ",\"active_connection_id_limit\":%" PRIu64
            ",\"initial_max_data\":%" PRIu64 ",\"initial_max_stream_data_bidi_local\":%" PRIu64
            ",\"initial_max_stream_data_bidi_remote\":%" PRIu64 ",\"initial_max_stream_data_uni\":%" PRIu64
            ",\"initial_max_streams_bidi\":%" PRIu64 ",\"initial_max_streams_uni\":%" PRIu64
            ",\"max_datagram_frame_size\":%" PRIu64,
            p->disable_active_migration ? "true" : "false", p->max_idle_timeout_ms, p->max_udp_payload_size,
            p->ack_delay_exponent, p->max_ack_delay_ms, p->active_connection_id_limit, p->initial_max_data,
            p->initial_max_stream_data_bidi_local, p->initial_max_stream_data_bidi_remote,
            p->initial_max_stream_data_uni, p->initial_max_streams_bidi, p->initial_max_streams_uni,
            p->max_datagram_frame_size);
        end(q);
        break;
    }
    default:
        break;
    }
}

static void qlog_subscriber(void *ctx, const ho_event *ev)
{
    (void)ctx;
    if (ev->slot == NULL || ev->odcid_len == 0)
        return; /* endpoint events: no connection, no file */
    qlog_conn *q = *ev->slot;
    if (q == (void *)&open_failed) {
        if (ev->type == HO_EV_QUIC_STATE && ev->u.state.new_state == HO_EV_QSTATE_FREED)
            *ev->slot = NULL;
        return;
    }
    bool freed = ev->type == HO_EV_QUIC_STATE && ev->u.state.new_state == HO_EV_QSTATE_FREED;
    if (q == NULL) {
        if (freed)
            return;
        q = conn_open(ev);
        *ev->slot = q != NULL ? (void *)q : (void *)&open_failed;
        if (q == NULL)
            return;
    }
    write_event(q, ev, ev->role != NULL && ev->role[0] == 's');
    if (freed) {
        flush(q);
        close(q->fd);
        ho_mem_free(q);
        *ev->slot = NULL;
    }
}

#define QLOG_MASK                                                                                                \
    (HO_EVM_QUIC_PACKET | HO_EVM_QUIC_RECOVERY | HO_EVM_QUIC_SECURITY | HO_EVM_QUIC_PATH | HO_EVM_QUIC_CONN)

int ho_qlog_start(const char *dir)
{
    if (dir == NULL || *dir == '\0' || strlen(dir) >= sizeof(qlog_dir))
        return HO_ERR_INVALID_ARG;
    if (qlog_on)
        return HO_ERR_INVALID_ARG;
    if (access(dir, W_OK) != 0)
        return HO_ERR_IO;
    snprintf(qlog_dir, sizeof(qlog_dir), "%s", dir);
    int rc = ho_event_subscribe_mask(qlog_subscriber, NULL, QLOG_MASK);
    if (rc == HO_OK)
        qlog_on = true;
    return rc;
}

void ho_qlog_stop(void)
{
    if (!qlog_on)
        return;
    ho_event_unsubscribe(qlog_subscriber, NULL);
    qlog_on = false;
}

const char *ho_qlog_dir_from_env(const char *flag)
{
    if (flag != NULL && *flag != '\0')
        return flag;
    const char *env = getenv("QLOGDIR");
    return env != NULL && *env != '\0' ? env : NULL;
}
