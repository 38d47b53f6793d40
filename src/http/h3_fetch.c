/*
 * ho_h3_fetch / ho_h3_fetch_many: HTTP/3 GETs on one connection over a
 * connected UDP socket (ho_udp: GSO sends, recvmmsg + GRO receives, ECN),
 * driven by the shared client datagram pump (ho_quic_pump, src/io) — the
 * library piece behind "get --h3". The QUIC connection stays sans-I/O;
 * between pump steps this file submits requests, key updates and closes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "handoff/http.h"
#include "handoff/io.h"


typedef struct fetch_state {
    ho_h3_conn *h3;
    const ho_h3_fetch_opts *o;
    bool got_session, got_token;
} fetch_state;

static void f_readable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    ho_h3_on_stream_readable(((fetch_state *)ctx)->h3, id);
}
static void f_writable(void *ctx, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    ho_h3_on_stream_writable(((fetch_state *)ctx)->h3, id);
}
static void f_reset(void *ctx, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop)
{
    (void)c;
    ho_h3_on_stream_reset(((fetch_state *)ctx)->h3, id, code, stop);
}
static void f_session(void *ctx, ho_quic_conn *c, const uint8_t *blob, size_t len)
{
    (void)c;
    fetch_state *st = ctx;
    st->got_session = true;
    if (st->o->on_session != NULL)
        st->o->on_session(st->o->ctx, blob, len);
}

static void f_token(void *ctx, ho_quic_conn *c, const uint8_t *token, size_t len)
{
    (void)c;
    fetch_state *st = ctx;
    st->got_token = true;
    if (st->o->on_token != NULL)
        st->o->on_token(st->o->ctx, token, len);
}

/* A UDP socket (ho_udp: GSO, GRO, ECN, DF for path MTU probes) bound to the
 * wildcard address of the server's family and connected to it, so that only
 * its datagrams arrive and an ICMP "port unreachable" surfaces. path gets
 * both addresses. */
static int udp_connect(const ho_h3_fetch_opts *o, ho_udp_socket *us, ho_quic_path *path)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM}, *res = NULL;
    if (getaddrinfo(o->host, o->port, &hints, &res) != 0)
        return HO_ERR_IO;
    int rc = HO_ERR_IO;
    for (struct addrinfo *ai = res; ai != NULL && rc != HO_OK; ai = ai->ai_next) {
        struct sockaddr_storage any = {.ss_family = (sa_family_t)ai->ai_family};
        socklen_t any_len = ai->ai_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        if (o->local_addr != NULL) {
            /* --local-addr: that address of the server's family, any port */
            void *a = ai->ai_family == AF_INET6 ? (void *)&((struct sockaddr_in6 *)&any)->sin6_addr
                                                : (void *)&((struct sockaddr_in *)&any)->sin_addr;
            if (inet_pton(ai->ai_family, o->local_addr, a) != 1)
                continue;
        }
        ho_udp_options uo = {.no_pktinfo = true, .no_gso = o->no_gso, .no_gro = o->no_gro, .no_ecn = o->no_ecn};
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ho_udp_open(us, (struct sockaddr *)&any, any_len, &uo) != HO_OK)
            continue;
        if (connect(us->fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            ho_udp_close(us);
            continue;
        }
        memset(path, 0, sizeof(*path));
        memcpy(&path->remote, ai->ai_addr, ai->ai_addrlen);
        path->remote_len = ai->ai_addrlen;
        path->local_len = sizeof(path->local);
        if (getsockname(us->fd, (struct sockaddr *)&path->local, &path->local_len) != 0)
            path->local_len = 0;
        rc = HO_OK;
    }
    freeaddrinfo(res);
    return rc;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool all_done(ho_h3_response *const *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (r[i] == NULL || !(r[i]->complete || r[i]->reset))
            return false;
    return true;
}

static void fill_info(ho_quic_conn *c, uint64_t initiated, ho_h3_fetch_info *info)
{
    if (info == NULL)
        return;
    memset(info, 0, sizeof(*info));
    info->suite = "";
    if (c == NULL)
        return;
    ho_tls *t = ho_quic_conn_tls(c);
    const ho_tls_suite *suite = ho_tls_get_suite(t);
    info->handshake_done = ho_quic_conn_handshake_done(c);
    info->resumed = ho_tls_is_resumed(t);
    info->retried = ho_quic_conn_retried(c);
    info->version_negotiated = ho_quic_conn_version_negotiated(c);
    info->version = ho_quic_conn_version(c);
    info->cc = ho_quic_conn_cc_name(c);
    info->suite = suite != NULL ? suite->name : "";
    info->key_updates_initiated = initiated;
    info->key_updates = ho_quic_conn_key_updates(c);
    info->early = ho_quic_conn_early_data(c);
    ho_quic_conn_get_stats(c, &info->stats);
    if (ho_quic_conn_is_closing(c) || ho_quic_conn_is_closed(c)) {
        info->closed = true;
        info->close_code = ho_quic_conn_close_code(c, &info->close_is_app, &info->close_by_peer);
        snprintf(info->close_reason, sizeof(info->close_reason), "%s", ho_quic_conn_close_reason(c));
    }
}

/* GET with the options' extra fields (ho_h3_client_get without them). */
static int fetch_request(ho_h3_conn *h3, const ho_h3_fetch_opts *o, const char *authority, const char *path,
                         ho_h3_response **out)
{
    if (o->nheaders == 0)
        return ho_h3_client_get(h3, authority, path, o->accept_encoding, out);
    if (o->nheaders > 32)
        return HO_ERR_INVALID_ARG;
    ho_http_header f[6 + 32];
    size_t n = 0;
#define HF(k, v) f[n++] = (ho_http_header){{(k), strlen(k)}, {(v), strlen(v)}}
    /* RFC 9114 §4.3.1: the pseudo-headers first. */
    HF(":method", "GET");
    HF(":scheme", "https");
    HF(":authority", authority);
    HF(":path", path);
    HF("user-agent", "handoff");
    if (o->accept_encoding != NULL)
        HF("accept-encoding", o->accept_encoding);
#undef HF
    for (size_t i = 0; i < o->nheaders; i++)
        f[n++] = o->headers[i];
    return ho_h3_client_request(h3, f, n, out);
}

int ho_h3_fetch_many(const ho_h3_fetch_opts *o, const char *const *paths, size_t n, ho_h3_response *out,
                     ho_h3_fetch_info *info)
{
    for (size_t i = 0; out != NULL && i < n; i++) {
        memset(&out[i], 0, sizeof(out[i]));
        ho_buf_init(&out[i].body);
        out[i].content_length = -1;
    }
    fill_info(NULL, 0, info);
    if (o == NULL || o->host == NULL || o->port == NULL || paths == NULL || n == 0 || out == NULL)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (paths[i] == NULL)
            return HO_ERR_INVALID_ARG;
    ho_h3_response **r = ho_mem_calloc(n, sizeof(*r));
    if (r == NULL)
        return HO_ERR_NOMEM;
    ho_tls_config *tls = o->tls, *own_tls = NULL;
    if (tls == NULL) {
        own_tls = tls = ho_tls_config_new(false);
        if (tls == NULL) {
            ho_mem_free(r);
            return HO_ERR_NOMEM;
        }
        const char *alpn[] = {"h3"}; /* RFC 9114 §3.1 */
        ho_tls_config_set_alpn(tls, alpn, 1);
        ho_tls_config_set_verify_peer(tls, !o->insecure);
        ho_quic_tls_config_prepare(tls);
    }
    ho_udp_socket us;
    ho_quic_path path;
    if (udp_connect(o, &us, &path) != HO_OK) {
        ho_tls_config_free(own_tls);
        ho_mem_free(r);
        return HO_ERR_IO;
    }
    char authority[300];
    if (o->authority != NULL)
        snprintf(authority, sizeof(authority), "%s", o->authority);
    else
        snprintf(authority, sizeof(authority), strchr(o->host, ':') ? "[%s]:%s" : "%s:%s", o->host, o->port);

    fetch_state st = {.o = o};
    ho_quic_config cfg = {
        .tls = tls,
        .server_name = o->server_name != NULL ? o->server_name : o->host,
        .wall_clock_ms = wall_ms(), /* ticket ages (0-RTT anti-replay): to the millisecond */
        .callbacks = {.ctx = &st, .stream_readable = f_readable, .stream_writable = f_writable,
                      .stream_reset = f_reset, .session_ticket = f_session, .new_token = f_token},
        .version = o->quic_version,
        .cc_name = o->cc_name,
        .session = o->session,
        .session_len = o->session_len,
        .token = o->token,
        .token_len = o->token_len,
        .no_ecn = o->no_ecn,
        .max_udp_payload = o->max_udp_payload,
    };
    int rc = HO_ERR_NOMEM;
    uint64_t initiated = 0;
    ho_quic_pump *pump = NULL;
    ho_quic_conn *c = ho_quic_conn_new_client(&cfg, &path, ho_now_ns());
    if (c != NULL)
        st.h3 = ho_h3_client_attach(c);
    if (st.h3 != NULL)
        pump = ho_quic_pump_new(&us, c, (const struct sockaddr *)&path.remote, path.remote_len, &path);
    if (pump == NULL)
        goto done;
    const ho_quic_time idle = (ho_quic_time)(o->timeout_ms > 0 ? o->timeout_ms : 10000) * 1000000;
    ho_quic_time deadline = ho_now_ns() + idle; /* moved on by every datagram received */
    ho_quic_time linger_until = HO_QUIC_TIME_NEVER; /* waiting for a session ticket */
    bool closing = false, heard = false;
    size_t next = 0; /* the next request to submit */
    rc = HO_ERR_TIMEOUT; /* unless set below */
    while (ho_now_ns() < deadline && !ho_quic_conn_is_closed(c)) {
        /* RFC 9114 §5.2: after the server's GOAWAY no new request is
         * opened; those already sent below its ID are finished (on streams
         * at or above it the server resets them with H3_REQUEST_REJECTED). */
        /* RFC 9001 §4.6: with 0-RTT offered the requests go at once (the
         * transport sends them again in 1-RTT if the server rejects). */
        while (next < n &&
               (ho_quic_conn_handshake_done(c) || ho_quic_conn_early_data(c) == HO_TLS_EARLY_OFFERED) &&
               !ho_h3_goaway_received(st.h3)) {
            int e = fetch_request(st.h3, o, authority, paths[next], &r[next]);
            if (e == HO_ERR_WOULD_BLOCK)
                break; /* the stream limit: again when MAX_STREAMS came */
            if (e == HO_ERR_CLOSED && ho_h3_goaway_received(st.h3))
                break;
            if (e != HO_OK) {
                rc = e;
                goto out;
            }
            r[next]->on_body = o->on_body;
            r[next]->on_body_ctx = o->body_ctx;
            next++;
        }
        bool body_failed = false;
        for (size_t i = 0; i < next; i++)
            body_failed |= r[i]->body_failed;
        if (!closing && body_failed) {
            /* The sink refused the body: stop (RFC 9114 §8.1). */
            ho_quic_conn_close(c, HO_H3_REQUEST_CANCELLED, "", ho_now_ns());
            closing = true;
        }
        /* The connection refuses until the previous update was answered and
         * three PTOs passed (RFC 9001 §6.1, §6.5). */
        if (initiated < o->key_updates && ho_quic_conn_key_update(c, ho_now_ns()) == HO_OK)
            initiated++;
        /* After a GOAWAY, only the requests already sent are awaited. */
        size_t awaited = ho_h3_goaway_received(st.h3) ? next : n;
        if (!closing && all_done(r, awaited)) {
            bool want_ticket = (o->on_session != NULL && !st.got_session) || (o->on_token != NULL && !st.got_token);
            if (want_ticket && linger_until == HO_QUIC_TIME_NEVER)
                linger_until = ho_now_ns() + 1000000000;
            if (!want_ticket || ho_now_ns() >= linger_until) {
                /* RFC 9114 §5.2: a client may close at any time; H3_NO_ERROR. */
                ho_quic_conn_close(c, HO_H3_NO_ERROR, "", ho_now_ns());
                closing = true;
            }
        }
        ho_h3_flush(st.h3, ho_now_ns());
        ho_quic_pump_flush(pump);
        if (closing || ho_quic_conn_is_closing(c))
            break; /* our CONNECTION_CLOSE is out, or the peer closed */
        int got = ho_quic_pump_step(pump, 50);
        if (got > 0) {
            deadline = ho_now_ns() + idle;
            heard = true;
        } else if (got == HO_ERR_IO && errno == ECONNREFUSED && !heard) {
            rc = HO_ERR_REFUSED; /* ICMP port unreachable before any answer: nobody listens */
            goto out;
        }
    }
    bool failed = false;
    for (size_t i = 0; i < next; i++)
        failed |= r[i]->body_failed;
    if (failed) {
        rc = HO_ERR_IO; /* the body sink refused */
    } else if (all_done(r, ho_h3_goaway_received(st.h3) ? next : n)) {
        rc = HO_OK;
        for (size_t i = 0; i < n; i++)
            if (r[i] == NULL || r[i]->reset)
                rc = HO_ERR_CLOSED; /* not sent (GOAWAY) or refused */
    } else if (ho_quic_conn_is_closing(c) || ho_quic_conn_is_closed(c)) {
        rc = ho_quic_conn_error(c) != HO_OK ? ho_quic_conn_error(c) : HO_ERR_CLOSED;
    }
out:
    for (size_t i = 0; i < n; i++) {
        if (r[i] == NULL)
            continue;
        out[i] = *r[i];
        out[i].body = r[i]->body; /* hand the body over */
        ho_buf_init(&r[i]->body);
    }
done:
    fill_info(c, initiated, info);
    if (info != NULL && st.h3 != NULL && ho_h3_goaway_received(st.h3)) {
        info->goaway = true;
        info->goaway_id = ho_h3_goaway_id(st.h3);
    }
    ho_quic_pump_free(pump);
    ho_h3_free(st.h3);
    ho_quic_conn_free(c);
    ho_udp_close(&us);
    ho_tls_config_free(own_tls);
    ho_mem_free(r);
    return rc;
}

int ho_h3_fetch(const ho_h3_fetch_opts *o, ho_h3_response *out)
{
    const char *path = o != NULL ? o->path : NULL;
    int rc = ho_h3_fetch_many(o, &path, 1, out, NULL);
    if (rc == HO_OK && out->reset)
        rc = HO_ERR_CLOSED;
    return rc;
}
