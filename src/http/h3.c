/*
 * HTTP/3 (RFC 9114) on the sans-I/O QUIC connection, with nghttp3 doing the
 * framing and QPACK (RFC 9204). See include/handoff/http.h, "HTTP/3".
 *
 * Data flow. Receive: a QUIC readable callback reads the stream and feeds
 * nghttp3_conn_read_stream; the QUIC layer extends flow control as bytes are
 * read, and nghttp3 buffers what it cannot consume yet (QPACK-blocked
 * fields, bounded by SETTINGS_QPACK_BLOCKED_STREAMS). Send: ho_h3_flush
 * takes nghttp3_conn_writev_stream output into ho_quic_stream_write; what
 * the QUIC send buffer accepted is reported with add_write_offset and, since
 * that buffer keeps and retransmits those bytes itself, acknowledged to
 * nghttp3 at once with add_ack_offset (nghttp3 may then release them).
 * A static response body (ho_http_response.static_body: string literals,
 * ho_http_files' files, memory that outlives the server's connections) is not
 * copied: nghttp3 hands out pieces of it as they are, and they go to
 * ho_quic_stream_write_ref, which keeps the reference until acknowledged.
 * A generated body (the router's scratch buffer) goes the same way, moved
 * into an h3_body that QUIC's release callback frees. Memory bounds per
 * connection: H3_BODY_BUDGET and H3_OUT_MARK below.
 */
#include <nghttp3/nghttp3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "h3_mem.h"
#include "handoff/http.h"

#define H3_HDR_BYTES_MAX 16384 /* SETTINGS_MAX_FIELD_SECTION_SIZE we announce */
/* The longest HEADERS frame a request stream may carry before it reaches
 * the QPACK decoder. A field line's encoding (RFC 9204 §4.5) takes at most
 * its name and value plus a few prefix bytes, less than the 32 bytes of
 * overhead RFC 9114 §4.2.2 counts per field, so a section within the limit
 * encodes in about the limit; twice leaves room for an encoder that uses
 * Huffman where it does not help. Huffman decodes at most 8/5 bytes per
 * byte, so nothing under this bound decodes to a field nghttp3 refuses
 * (NGHTTP3_QPACK_MAX_VALUELEN, 64 KiB) as a connection error. */
#define H3_HEADERS_FRAME_MAX (2 * H3_HDR_BYTES_MAX)
#define H3_FRAME_HEADERS 0x01
/* Memory a connection may hold whatever the client does (docs/RELIABILITY.md,
 * "HTTP/3"). Request bodies: each at most the service's max_body; all of a
 * connection's together at most H3_BODY_BUDGET, plus the one of its oldest
 * unfinished request, which alone may go on past the budget (so that one
 * always completes and makes room). A body over either limit refuses its
 * request, unprocessed (RFC 9114 §4.1.1: H3_REQUEST_REJECTED, which a
 * client may retry), and frees it at once. (Leaving the other streams
 * unread instead would deadlock: their unread bytes keep the connection's
 * flow-control credit, which the oldest request then waits for.)
 * Generated response bodies (not static_body) are handed to QUIC by
 * reference and held until acknowledged; while a connection holds
 * H3_OUT_MARK bytes of them, its complete requests wait to be dispatched
 * (the HTTP/1.1 pipelining mark, for streams). */
#define H3_BODY_BUDGET (1u << 20)
#define H3_OUT_MARK (256u << 10)

typedef struct h3_field {
    size_t name_off, name_len, value_off, value_len;
} h3_field;

/* A generated response body, given to QUIC by reference: freed once the
 * stream has let go of it and QUIC has released every byte it took. */
typedef struct h3_body {
    struct h3_body *prev, *next; /* the connection's live bodies */
    struct ho_h3_conn *h;        /* NULL once the HTTP/3 state is freed */
    ho_buf buf;
    size_t given;                /* bytes QUIC holds */
    bool owned;                  /* the stream still refers to it */
} h3_body;

typedef struct h3_stream {
    struct h3_stream *next;
    int64_t id;
    bool fin_recv, fin_sent;
    /* server: the request */
    ho_buf fields;      /* name and value bytes of every field */
    h3_field pseudo[4]; /* :method :path :authority :scheme */
    h3_field hdr[HO_HTTP_MAX_HEADERS];
    size_t nhdr;
    bool too_many;      /* more fields than ho_http_request holds */
    bool too_large;     /* field section over H3_HDR_BYTES_MAX: answered 431 */
    size_t field_bytes; /* RFC 9114 §4.2.2 size of the field section so far */
    /* server: the request stream's frame headers, scanned before nghttp3
     * sees the bytes (a HEADERS frame longer than H3_HEADERS_FRAME_MAX is
     * refused before anything of it is buffered or decoded) */
    uint8_t fh[16];
    uint8_t fh_len;
    uint64_t fskip;     /* payload bytes of the current frame still to pass */
    bool malformed;     /* reset by us (H3_MESSAGE_ERROR, H3_INTERNAL_ERROR) */
    bool aborted;       /* reset (by nghttp3's request or the peer) */
    bool serve_pending; /* complete before our control streams existed, or
                         * while the connection held H3_OUT_MARK of output */
    ho_buf body_in;
    /* server: the response */
    ho_buf scratch;
    const uint8_t *out;
    size_t out_len;
    bool out_given;
    bool out_static;    /* out is a static_body: sent by reference */
    h3_body *body;      /* else out is this body's (sent by reference) */
    char status[8], clen[24];
    /* client */
    ho_h3_response *resp;
} h3_stream;

enum { PS_METHOD, PS_PATH, PS_AUTHORITY, PS_SCHEME };

struct ho_h3_conn {
    ho_quic_conn *quic;
    nghttp3_conn *h3;
    const ho_router *router; /* NULL: client */
    bool bound;
    h3_stream *streams;
    size_t active;
    uint64_t error;
    bool goaway;
    uint64_t goaway_id; /* client: the ID in the peer's GOAWAY */
    uint64_t served;
    ho_quic_time now;
    ho_h3_response **resps; /* client: responses not yet released */
    size_t nresps, cresps;
    /* Recently abandoned request streams: late STREAM data for them is
     * dropped, not taken by nghttp3 for a new stream. */
    int64_t gone[64];
    size_t gone_next;
    /* server: memory bounds (H3_BODY_BUDGET, H3_OUT_MARK) */
    uint64_t max_body;   /* one request body; beyond: refused */
    size_t body_held;    /* request body bytes buffered, all streams */
    size_t out_held;     /* generated response bytes alive (h3_body) */
    h3_body *bodies;
};

/* ---- helpers ------------------------------------------------------------ */

static h3_stream *stream_find(ho_h3_conn *h, int64_t id)
{
    for (h3_stream *s = h->streams; s != NULL; s = s->next)
        if (s->id == id)
            return s;
    return NULL;
}

static h3_stream *stream_new(ho_h3_conn *h, int64_t id)
{
    h3_stream *s = ho_mem_calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->id = id;
    ho_buf_init(&s->fields);
    ho_buf_init(&s->body_in);
    ho_buf_init(&s->scratch);
    s->next = h->streams;
    h->streams = s;
    h->active++;
    return s;
}

static void body_unlink(h3_body *b)
{
    if (b->h == NULL)
        return;
    if (b->prev != NULL)
        b->prev->next = b->next;
    else
        b->h->bodies = b->next;
    if (b->next != NULL)
        b->next->prev = b->prev;
    b->h->out_held -= b->buf.len;
    b->h = NULL;
}

static void body_maybe_free(h3_body *b)
{
    if (b->owned || b->given > 0)
        return;
    body_unlink(b);
    ho_buf_free(&b->buf);
    ho_mem_free(b);
}

/* ho_quic_release_fn: QUIC no longer needs len bytes of the body. */
static void body_release(void *ud, const void *data, size_t len)
{
    (void)data;
    h3_body *b = ud;
    b->given -= len;
    body_maybe_free(b);
}

/* The request's body is no longer needed. */
static void body_in_drop(ho_h3_conn *h, h3_stream *s)
{
    h->body_held -= s->body_in.len;
    ho_buf_free(&s->body_in);
}

static void mark_gone(ho_h3_conn *h, int64_t id)
{
    h->gone[h->gone_next++ % 64] = id + 1; /* 0: empty slot */
}

static bool is_gone(const ho_h3_conn *h, int64_t id)
{
    for (size_t i = 0; i < 64; i++)
        if (h->gone[i] == id + 1)
            return true;
    return false;
}

/* Frees the stream's state. Every caller has made nghttp3 forget the
 * stream first (close_stream, or user data cleared). */
static void stream_release(ho_h3_conn *h, h3_stream *s, bool aborted)
{
    for (h3_stream **pp = &h->streams; *pp != NULL; pp = &(*pp)->next)
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    if (aborted || s->malformed)
        mark_gone(h, s->id);
    ho_buf_free(&s->fields);
    body_in_drop(h, s);
    ho_buf_free(&s->scratch);
    if (s->body != NULL) {
        s->body->owned = false;
        body_maybe_free(s->body);
    }
    ho_mem_free(s);
    if (h->active > 0)
        h->active--;
}

static bool is_bidi(int64_t id) { return (id & 2) == 0; }

/* RFC 9114 §8.1: a connection error closes the QUIC connection with the H3
 * (or QPACK, RFC 9204 §6) application error code. */
static void conn_fail(ho_h3_conn *h, int liberr)
{
    if (h->error != 0)
        return;
    h->error = nghttp3_err_infer_quic_app_error_code(liberr);
    if (h->error == 0)
        h->error = HO_H3_INTERNAL_ERROR;
    ho_quic_conn_close(h->quic, h->error, nghttp3_strerror(liberr), h->now);
}

/* nghttp3 forgets the request stream, then we do. */
static void stream_finish(ho_h3_conn *h, h3_stream *s, uint64_t code, bool aborted)
{
    int64_t id = s->id;
    int rv = nghttp3_conn_close_stream(h->h3, id, code);
    if (rv != 0)
        nghttp3_conn_set_stream_user_data(h->h3, id, NULL);
    stream_release(h, s, aborted);
    if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND && nghttp3_err_is_fatal(rv))
        conn_fail(h, rv);
}

/* Both directions of a request stream finished: nghttp3 may forget it. */
static void maybe_close(ho_h3_conn *h, h3_stream *s)
{
    if (!s->fin_recv || !s->fin_sent)
        return;
    stream_finish(h, s, s->aborted ? HO_H3_REQUEST_CANCELLED : HO_H3_NO_ERROR, s->aborted);
}

static void copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, p, n);
    dst[n] = '\0';
}

/* ---- nghttp3 callbacks ---------------------------------------------------- */

static int cb_acked(nghttp3_conn *conn, int64_t id, uint64_t n, void *ud, void *sud)
{
    (void)conn, (void)id, (void)n, (void)ud, (void)sud;
    return 0;
}

static int cb_stream_close(nghttp3_conn *conn, int64_t id, uint64_t code, void *ud, void *sud)
{
    /* Only ever the result of our nghttp3_conn_close_stream calls, whose
     * callers release the stream themselves. */
    (void)conn, (void)id, (void)code, (void)ud, (void)sud;
    return 0;
}

/* Is s the connection's oldest request still receiving? */
static bool oldest_unfinished(const ho_h3_conn *h, const h3_stream *s)
{
    for (const h3_stream *o = h->streams; o != NULL; o = o->next)
        if (o != s && !o->fin_recv && !o->malformed && o->id < s->id)
            return false;
    return true;
}

static int cb_recv_data(nghttp3_conn *conn, int64_t id, const uint8_t *data, size_t len, void *ud, void *sud)
{
    (void)conn;
    ho_h3_conn *h = ud;
    h3_stream *s = sud;
    if (s == NULL || s->malformed)
        return 0;
    if (h->router != NULL &&
        (s->body_in.len + len > h->max_body || (h->body_held + len > H3_BODY_BUDGET && !oldest_unfinished(h, s)))) {
        /* Over the service's max_body, or over the connection's budget:
         * refused unprocessed (RFC 9114 §4.1.1), this request only. */
        body_in_drop(h, s);
        s->malformed = true;
        s->fin_recv = s->fin_sent = true;
        ho_quic_stream_stop_sending(h->quic, (uint64_t)id, HO_H3_REQUEST_REJECTED);
        ho_quic_stream_reset(h->quic, (uint64_t)id, HO_H3_REQUEST_REJECTED);
        return 0;
    }
    if (h->router != NULL) {
        size_t before = s->body_in.len;
        ho_put_bytes(&s->body_in, data, len);
        h->body_held += s->body_in.len - before;
    }
    else if (s->resp != NULL && s->resp->on_body != NULL) {
        if (!s->resp->body_failed && s->resp->on_body(s->resp->on_body_ctx, s->resp, data, len) != 0)
            s->resp->body_failed = true;
    } else if (s->resp != NULL)
        ho_put_bytes(&s->resp->body, data, len);
    return 0;
}

static int cb_deferred_consume(nghttp3_conn *conn, int64_t id, size_t n, void *ud, void *sud)
{
    /* Flow-control credit follows ho_quic_stream_read, not consumption. */
    (void)conn, (void)id, (void)n, (void)ud, (void)sud;
    return 0;
}

static int cb_begin_headers(nghttp3_conn *conn, int64_t id, void *ud, void *sud)
{
    ho_h3_conn *h = ud;
    if (sud != NULL || h->router == NULL)
        return 0;
    h3_stream *s = stream_find(h, id);
    if (s == NULL && (s = stream_new(h, id)) == NULL)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    nghttp3_conn_set_stream_user_data(conn, id, s);
    return 0;
}

/* Keeps a field; false when memory ran out. */
static bool field_store(h3_stream *s, h3_field *f, nghttp3_vec name, nghttp3_vec value)
{
    f->name_off = s->fields.len;
    f->name_len = name.len;
    ho_put_bytes(&s->fields, name.base, name.len);
    f->value_off = s->fields.len;
    f->value_len = value.len;
    ho_put_bytes(&s->fields, value.base, value.len);
    return !s->fields.failed;
}

/* Gives up on one request (the connection goes on): the rest of the stream
 * is ignored, and both directions are reset with `code`. */
static void stream_refuse(ho_h3_conn *h, h3_stream *s, int64_t id, uint64_t code)
{
    s->malformed = true;
    s->fin_recv = s->fin_sent = true;
    ho_quic_stream_stop_sending(h->quic, (uint64_t)id, code);
    ho_quic_stream_reset(h->quic, (uint64_t)id, code);
}

/* RFC 9114 §4.2: field names MUST be lowercase (uppercase is malformed);
 * RFC 9110 §5.1, §5.5: a name is a token, a value has no NUL, CR or LF.
 * nghttp3 checks the pseudo-headers and connection-specific fields. */
static bool field_ok(nghttp3_vec n, nghttp3_vec v)
{
    static const char tchar[] = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz";
    if (n.len == 0)
        return false;
    for (size_t i = n.base[0] == ':' ? 1 : 0; i < n.len; i++)
        if (n.base[i] == 0 || strchr(tchar, n.base[i]) == NULL)
            return false;
    for (size_t i = 0; i < v.len; i++)
        if (v.base[i] == 0 || v.base[i] == '\r' || v.base[i] == '\n')
            return false;
    return true;
}

static int cb_recv_header(nghttp3_conn *conn, int64_t id, int32_t token, nghttp3_rcbuf *name, nghttp3_rcbuf *value,
                          uint8_t flags, void *ud, void *sud)
{
    (void)conn, (void)flags;
    ho_h3_conn *h = ud;
    h3_stream *s = sud;
    if (s == NULL || s->malformed)
        return 0;
    nghttp3_vec n = nghttp3_rcbuf_get_buf(name), v = nghttp3_rcbuf_get_buf(value);
    if (h->router != NULL) {
        /* RFC 9114 §4.2.2: the size of a field section is the sum over its
         * fields of name + value + 32, uncompressed. Past the limit we
         * announced, the request gets 431 (RFC 6585 §5) and its fields are
         * not kept: the connection and other requests go on. */
        if (s->too_large)
            return 0;
        s->field_bytes += n.len + v.len + 32;
        if (s->field_bytes > H3_HDR_BYTES_MAX) {
            s->too_large = true;
            return 0;
        }
    }
    if (h->router != NULL && !field_ok(n, v)) {
        /* RFC 9114 §4.1.2: a malformed request is a stream error of type
         * H3_MESSAGE_ERROR; the rest of the stream is ignored. */
        stream_refuse(h, s, id, HO_H3_MESSAGE_ERROR);
        return 0;
    }
    if (h->router == NULL) {
        ho_h3_response *r = s->resp;
        if (r == NULL)
            return 0;
        if (token == NGHTTP3_QPACK_TOKEN__STATUS) {
            int st = 0;
            for (size_t i = 0; i < v.len && i < 3; i++)
                st = st * 10 + (v.base[i] - '0');
            if (st >= 200) /* interim (1xx) responses are skipped */
                r->status = st;
        } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_TYPE) {
            copy_str(r->content_type, sizeof(r->content_type), v.base, v.len);
        } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_ENCODING) {
            copy_str(r->content_encoding, sizeof(r->content_encoding), v.base, v.len);
        } else if (token == NGHTTP3_QPACK_TOKEN_VARY) {
            copy_str(r->vary, sizeof(r->vary), v.base, v.len);
        } else if (token == NGHTTP3_QPACK_TOKEN_CONTENT_LENGTH) {
            int64_t cl = 0;
            for (size_t i = 0; i < v.len && i < 18; i++)
                cl = cl * 10 + (v.base[i] - '0');
            r->content_length = cl;
        }
        return 0;
    }
    /* nghttp3 has already checked the pseudo-headers, connection-specific
     * fields and TE (RFC 9114 §4.3.1, §4.2) and resets malformed requests. */
    h3_field *f = NULL;
    switch (token) {
    case NGHTTP3_QPACK_TOKEN__METHOD: f = &s->pseudo[PS_METHOD]; break;
    case NGHTTP3_QPACK_TOKEN__PATH: f = &s->pseudo[PS_PATH]; break;
    case NGHTTP3_QPACK_TOKEN__AUTHORITY: f = &s->pseudo[PS_AUTHORITY]; break;
    case NGHTTP3_QPACK_TOKEN__SCHEME: f = &s->pseudo[PS_SCHEME]; break;
    default:
        if (n.len > 0 && n.base[0] == ':')
            return 0;
        if (s->nhdr == HO_HTTP_MAX_HEADERS) {
            s->too_many = true;
            return 0;
        }
        f = &s->hdr[s->nhdr++];
        break;
    }
    /* RFC 9114 §8.1: H3_INTERNAL_ERROR, for this request only. */
    if (!field_store(s, f, n, v))
        stream_refuse(h, s, id, HO_H3_INTERNAL_ERROR);
    return 0;
}

static nghttp3_ssize srv_read_data(nghttp3_conn *conn, int64_t id, nghttp3_vec *vec, size_t veccnt,
                                   uint32_t *pflags, void *ud, void *sud)
{
    (void)conn, (void)id, (void)ud;
    h3_stream *s = sud;
    *pflags |= NGHTTP3_DATA_FLAG_EOF;
    if (s == NULL || s->out_given || s->out_len == 0 || veccnt == 0)
        return 0;
    s->out_given = true;
    vec[0].base = (uint8_t *)s->out; /* stays valid until the stream is released */
    vec[0].len = s->out_len;
    return 1;
}

static ho_http_str field_str(const h3_stream *s, size_t off, size_t len)
{
    return (ho_http_str){.p = (const char *)s->fields.data + off, .len = len};
}

/* RFC 8470 §3 (as over TCP, h1_server.c): a request that came in 0-RTT
 * (the handshake not complete yet) is answered now only for a safe method;
 * others wait for the handshake, when they are no longer replayable. */
static bool early_must_wait(const ho_h3_conn *h, const h3_stream *s)
{
    if (ho_quic_conn_handshake_done(h->quic))
        return false;
    ho_http_str m = field_str(s, s->pseudo[PS_METHOD].value_off, s->pseudo[PS_METHOD].value_len);
    return !ho_http_str_eq(m, "GET") && !ho_http_str_eq(m, "HEAD");
}

/* The request stream ended: build the ho_http_request, run the router and
 * submit the response. */
static int serve(ho_h3_conn *h, h3_stream *s)
{
    ho_http_request *req = ho_mem_calloc(1, sizeof(*req));
    if (req == NULL)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    const h3_field *pm = &s->pseudo[PS_METHOD], *pp = &s->pseudo[PS_PATH], *pa = &s->pseudo[PS_AUTHORITY];
    req->method = field_str(s, pm->value_off, pm->value_len);
    req->target = field_str(s, pp->value_off, pp->value_len);
    req->path = req->target;
    req->query = (ho_http_str){NULL, 0};
    const char *q = req->target.len ? memchr(req->target.p, '?', req->target.len) : NULL;
    if (q != NULL) {
        req->path.len = (size_t)(q - req->target.p);
        req->query.p = q + 1;
        req->query.len = req->target.len - req->path.len - 1;
    }
    req->version = 30;
    for (size_t i = 0; i < s->nhdr; i++) {
        req->headers[i].name = field_str(s, s->hdr[i].name_off, s->hdr[i].name_len);
        req->headers[i].value = field_str(s, s->hdr[i].value_off, s->hdr[i].value_len);
    }
    req->header_count = s->nhdr;
    /* RFC 9114 §4.3.1: :authority, else Host. */
    if (pa->value_len > 0) {
        req->host = field_str(s, pa->value_off, pa->value_len);
    } else {
        const ho_http_str *host = ho_http_header_get(req, "host");
        if (host != NULL)
            req->host = *host;
    }
    req->content_length = s->body_in.len;
    req->body = s->body_in.len ? s->body_in.data : NULL;
    req->keep_alive = true;
    req->head = ho_http_str_eq(req->method, "HEAD");
    req->tls = ho_quic_conn_tls(h->quic);
    /* Complete before the handshake: it came in 0-RTT (RFC 8470 §5.1). */
    req->early = !ho_quic_conn_handshake_done(h->quic);
    req->client_subject = req->tls ? ho_tls_get_peer_subject(req->tls) : NULL;

    ho_http_response resp;
    ho_http_response_reset(&resp, &s->scratch);
    if (s->too_many || s->too_large) {
        resp.status = 431;
        resp.content_type = "text/plain";
        ho_put_bytes(&s->scratch, "431 Request Header Fields Too Large\n", 36);
    } else {
        ho_router_dispatch(h->router, req, &resp);
    }
    s->out = ho_http_response_body(&resp, &s->out_len);
    s->out_static = resp.static_body != NULL;
    bool no_body = req->head || resp.status == 204 || resp.status == 304 || resp.status < 200;
    ho_mem_free(req);
    /* The router is done with the request: its fields and body go. */
    ho_buf_free(&s->fields);
    body_in_drop(h, s);
    if (!s->out_static && s->out_len > 0 && !no_body) {
        /* The generated body leaves with QUIC by reference (no second
         * copy in its send buffer), counted in out_held until released.
         * Out of memory for the holder: sent from scratch, copied. */
        h3_body *b = ho_mem_calloc(1, sizeof(*b));
        if (b != NULL) {
            b->buf = s->scratch;
            ho_buf_init(&s->scratch);
            b->owned = true;
            b->h = h;
            b->next = h->bodies;
            if (h->bodies != NULL)
                h->bodies->prev = b;
            h->bodies = b;
            h->out_held += b->buf.len;
            s->body = b;
            s->out = b->buf.data;
        }
    }

    snprintf(s->status, sizeof(s->status), "%d", resp.status);
    snprintf(s->clen, sizeof(s->clen), "%zu", s->out_len);
    nghttp3_nv nv[8];
    size_t n = 0;
#define NV(k, v) nv[n++] = (nghttp3_nv){(uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP3_NV_FLAG_NONE}
    NV(":status", s->status);
    NV("server", "handoff");
    if (resp.content_type != NULL)
        NV("content-type", resp.content_type);
    if (resp.content_encoding != NULL)
        NV("content-encoding", resp.content_encoding);
    if (resp.vary_accept_encoding)
        NV("vary", "accept-encoding");
    if (resp.allow != NULL)
        NV("allow", resp.allow);
    if (resp.status != 204 && resp.status >= 200) /* RFC 9110 §8.6 */
        NV("content-length", s->clen);
#undef NV
    if (no_body)
        s->out_len = 0;
    nghttp3_data_reader dr = {.read_data = srv_read_data};
    h->served++;
    return nghttp3_conn_submit_response(h->h3, s->id, nv, n, s->out_len ? &dr : NULL);
}

static int cb_end_stream(nghttp3_conn *conn, int64_t id, void *ud, void *sud)
{
    (void)conn, (void)id;
    ho_h3_conn *h = ud;
    h3_stream *s = sud;
    if (s == NULL || s->malformed)
        return 0;
    s->fin_recv = true;
    if (h->router != NULL && (!h->bound || h->out_held >= H3_OUT_MARK || early_must_wait(h, s))) {
        s->serve_pending = true; /* ho_h3_flush serves it once bound, below the mark */
    } else if (h->router != NULL) {
        int rv = serve(h, s);
        if (rv != 0)
            return nghttp3_err_is_fatal(rv) ? rv : NGHTTP3_ERR_CALLBACK_FAILURE;
    } else if (s->resp != NULL) {
        s->resp->complete = true;
    }
    return 0;
}

/* nghttp3 asks for STOP_SENDING / RESET_STREAM, e.g. H3_MESSAGE_ERROR for a
 * malformed request (RFC 9114 §4.1.2). */
static int cb_stop_sending(nghttp3_conn *conn, int64_t id, uint64_t code, void *ud, void *sud)
{
    (void)conn, (void)sud;
    ho_h3_conn *h = ud;
    ho_quic_stream_stop_sending(h->quic, (uint64_t)id, code);
    return 0;
}

static int cb_reset_stream(nghttp3_conn *conn, int64_t id, uint64_t code, void *ud, void *sud)
{
    (void)conn, (void)sud;
    ho_h3_conn *h = ud;
    ho_quic_stream_reset(h->quic, (uint64_t)id, code);
    h3_stream *s = stream_find(h, id);
    if (s == NULL && (s = stream_new(h, id)) == NULL)
        return NGHTTP3_ERR_CALLBACK_FAILURE;
    /* The stream is done for us; ho_h3_flush closes it, outside nghttp3. */
    s->fin_recv = s->fin_sent = true;
    s->aborted = true;
    return 0;
}

static int cb_shutdown(nghttp3_conn *conn, int64_t id, void *ud)
{
    (void)conn;
    ho_h3_conn *h = ud;
    h->goaway = true;
    h->goaway_id = (uint64_t)id;
    return 0;
}

/* ---- set-up --------------------------------------------------------------- */

static ho_h3_conn *attach(ho_quic_conn *c, const ho_router *r)
{
    ho_h3_conn *h = ho_mem_calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->quic = c;
    h->router = r;
    nghttp3_callbacks cb = {
        .acked_stream_data = cb_acked,
        .stream_close = cb_stream_close,
        .recv_data = cb_recv_data,
        .deferred_consume = cb_deferred_consume,
        .begin_headers = cb_begin_headers,
        .recv_header = cb_recv_header,
        .end_stream = cb_end_stream,
        .stop_sending = cb_stop_sending,
        .reset_stream = cb_reset_stream,
        .shutdown = cb_shutdown,
    };
    nghttp3_settings st;
    nghttp3_settings_default(&st);
    st.max_field_section_size = H3_HDR_BYTES_MAX;
    st.qpack_max_dtable_capacity = 4096; /* the peer may index its fields in ours */
    /* A server's responses are encoded with the static table and literals
     * only (as nginx does): the dynamic table would cost every connection
     * about 5 KiB at rest (docs/RELIABILITY.md) for a few header bytes. */
    if (r != NULL)
        st.qpack_encoder_max_dtable_capacity = 0;
    st.qpack_blocked_streams = 100;
    int rv = r != NULL ? nghttp3_conn_server_new(&h->h3, &cb, &st, http_h3_mem(), h)
                       : nghttp3_conn_client_new(&h->h3, &cb, &st, http_h3_mem(), h);
    if (rv != 0) {
        ho_mem_free(h);
        return NULL;
    }
    if (r != NULL)
        nghttp3_conn_set_max_client_streams_bidi(h->h3, 100); /* QUIC default initial_max_streams_bidi */
    ho_http_limits lim;
    ho_http_limits_default(&lim);
    h->max_body = lim.max_body;
    return h;
}

ho_h3_conn *ho_h3_server_attach(ho_quic_conn *c, const ho_router *r)
{
    if (c == NULL || r == NULL)
        return NULL;
    return attach(c, r);
}

ho_h3_conn *ho_h3_client_attach(ho_quic_conn *c)
{
    if (c == NULL)
        return NULL;
    return attach(c, NULL);
}

void ho_h3_free(ho_h3_conn *h)
{
    if (h == NULL)
        return;
    nghttp3_conn_del(h->h3);
    while (h->streams != NULL)
        stream_release(h, h->streams, false);
    /* Bodies QUIC still holds are freed by their last release (the QUIC
     * connection is freed after us). */
    while (h->bodies != NULL)
        body_unlink(h->bodies);
    for (size_t i = 0; i < h->nresps; i++) {
        ho_buf_free(&h->resps[i]->body);
        ho_mem_free(h->resps[i]);
    }
    ho_mem_free(h->resps);
    ho_mem_free(h);
}

/* RFC 9114 §6.2.1: each side MUST open one control stream; RFC 9204 §4.2:
 * and the QPACK encoder and decoder streams. Needs the peer's transport
 * parameters (its MAX_STREAMS for uni streams, at least 3 per §6.2). */
static int bind_streams(ho_h3_conn *h)
{
    if (h->bound)
        return HO_OK;
    /* A server that accepted 0-RTT has the client's parameters and 1-RTT
     * write keys: it answers early requests in 0.5-RTT (RFC 9001 §4.1.1). */
    /* A client sending 0-RTT opens them in 0-RTT, under the server's
     * remembered limits (RFC 9000 §7.4.1). */
    if (!ho_quic_conn_handshake_done(h->quic) &&
        !(h->router != NULL && ho_quic_conn_early_data(h->quic) == HO_TLS_EARLY_ACCEPTED &&
          ho_quic_conn_has_keys(h->quic, HO_EPOCH_APP)) &&
        !(h->router == NULL && ho_quic_conn_early_data(h->quic) == HO_TLS_EARLY_OFFERED))
        return HO_ERR_WOULD_BLOCK;
    uint64_t ctrl, enc, dec;
    int rc;
    if ((rc = ho_quic_stream_open(h->quic, false, &ctrl)) != HO_OK && rc != HO_ERR_NOMEM)
        return rc;
    if (rc == HO_OK && ((rc = ho_quic_stream_open(h->quic, false, &enc)) != HO_OK ||
                        (rc = ho_quic_stream_open(h->quic, false, &dec)) != HO_OK)) {
        /* Out of memory is ours (H3_INTERNAL_ERROR), not the peer's. */
        conn_fail(h, rc == HO_ERR_NOMEM ? NGHTTP3_ERR_NOMEM : NGHTTP3_ERR_H3_STREAM_CREATION_ERROR);
        return HO_ERR_CLOSED;
    }
    if (rc == HO_ERR_NOMEM) {
        conn_fail(h, NGHTTP3_ERR_NOMEM);
        return HO_ERR_CLOSED;
    }
    int rv = nghttp3_conn_bind_control_stream(h->h3, (int64_t)ctrl);
    if (rv == 0)
        rv = nghttp3_conn_bind_qpack_streams(h->h3, (int64_t)enc, (int64_t)dec);
    if (rv != 0) {
        conn_fail(h, rv);
        return HO_ERR_CLOSED;
    }
    h->bound = true;
    return HO_OK;
}

/* ---- driving -------------------------------------------------------------- */

static void message_error(ho_h3_conn *h, int64_t id)
{
    ho_quic_stream_stop_sending(h->quic, (uint64_t)id, HO_H3_MESSAGE_ERROR);
    ho_quic_stream_reset(h->quic, (uint64_t)id, HO_H3_MESSAGE_ERROR);
    h3_stream *s = stream_find(h, id);
    if (s != NULL) {
        s->malformed = true;
        stream_finish(h, s, HO_H3_MESSAGE_ERROR, true);
        return;
    }
    int rv = nghttp3_conn_close_stream(h->h3, id, HO_H3_MESSAGE_ERROR);
    mark_gone(h, id);
    if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND && nghttp3_err_is_fatal(rv))
        conn_fail(h, rv);
}

/* A QUIC varint (RFC 9000 §16) at p[0..n): its length, 0 if incomplete. */
static size_t varint_at(const uint8_t *p, size_t n, uint64_t *v)
{
    if (n == 0)
        return 0;
    size_t len = (size_t)1 << (p[0] >> 6);
    if (n < len)
        return 0;
    uint64_t x = p[0] & 0x3f;
    for (size_t i = 1; i < len; i++)
        x = x << 8 | p[i];
    *v = x;
    return len;
}

/* Follows the frames of a request stream (RFC 9114 §7.1: type, length,
 * payload) over buf[0..n). Returns n, or the offset in buf where a HEADERS
 * frame longer than H3_HEADERS_FRAME_MAX starts (its header may have begun
 * in an earlier read: then 0); *refuse is set then. */
static size_t frames_scan(h3_stream *s, const uint8_t *buf, size_t n, bool *refuse)
{
    size_t i = 0, start = 0;
    while (i < n) {
        if (s->fskip > 0) {
            size_t k = n - i < s->fskip ? n - i : (size_t)s->fskip;
            i += k;
            s->fskip -= k;
            continue;
        }
        if (s->fh_len == 0)
            start = i;
        s->fh[s->fh_len++] = buf[i++];
        uint64_t type, len;
        size_t a = varint_at(s->fh, s->fh_len, &type);
        size_t b = a ? varint_at(s->fh + a, s->fh_len - a, &len) : 0;
        if (b == 0)
            continue; /* at most 8 + 8 bytes: fh never overflows */
        s->fh_len = 0;
        if (type == H3_FRAME_HEADERS && len > H3_HEADERS_FRAME_MAX) {
            *refuse = true;
            return start;
        }
        s->fskip = len;
    }
    return n;
}

/* RFC 9114 §4.1.1: a request refused before any processing is reset with
 * H3_REQUEST_REJECTED; STOP_SENDING asks the client to stop sending it.
 * The connection and the other streams are untouched (§4.2.2: a field
 * section over the limit concerns that request only). */
static void request_refuse(ho_h3_conn *h, h3_stream *s)
{
    ho_quic_stream_stop_sending(h->quic, (uint64_t)s->id, HO_H3_REQUEST_REJECTED);
    ho_quic_stream_reset(h->quic, (uint64_t)s->id, HO_H3_REQUEST_REJECTED);
    s->malformed = true;
    stream_finish(h, s, HO_H3_REQUEST_REJECTED, true);
}

void ho_h3_on_stream_readable(ho_h3_conn *h, uint64_t id)
{
    if (h == NULL || h->error != 0)
        return;
    if (is_gone(h, (int64_t)id)) {
        /* Closed on our side (reset): drain and drop. */
        uint8_t sink[4096];
        size_t n;
        bool fin;
        while (ho_quic_stream_read(h->quic, id, sink, sizeof(sink), &n, &fin) == HO_OK && n > 0 && !fin)
            ;
        return;
    }
    if (!h->bound && bind_streams(h) == HO_ERR_CLOSED)
        return;
    uint8_t buf[16384];
    for (;;) {
        size_t n = 0;
        bool fin = false;
        if (ho_quic_stream_read(h->quic, id, buf, sizeof(buf), &n, &fin) != HO_OK || (n == 0 && !fin))
            break;
        h3_stream *rs = NULL;
        if (h->router != NULL && is_bidi((int64_t)id)) {
            /* The request's frame headers are checked before nghttp3 gets
             * the bytes (it would buffer or decode an oversized HEADERS). */
            if ((rs = stream_find(h, (int64_t)id)) == NULL && (rs = stream_new(h, (int64_t)id)) == NULL) {
                conn_fail(h, NGHTTP3_ERR_NOMEM);
                return;
            }
            bool refuse = false;
            size_t ok = frames_scan(rs, buf, n, &refuse);
            if (refuse) {
                nghttp3_ssize rv0 = ok > 0 ? nghttp3_conn_read_stream(h->h3, (int64_t)id, buf, ok, false) : 0;
                if (rv0 < 0 && nghttp3_err_is_fatal((int)rv0)) {
                    conn_fail(h, (int)rv0);
                    return;
                }
                rs = stream_find(h, (int64_t)id); /* nghttp3 may have reset it meanwhile */
                if (rs != NULL)
                    request_refuse(h, rs);
                return;
            }
        }
        nghttp3_ssize rv = nghttp3_conn_read_stream(h->h3, (int64_t)id, buf, n, fin);
        if ((rv == NGHTTP3_ERR_MALFORMED_HTTP_MESSAGING || rv == NGHTTP3_ERR_MALFORMED_HTTP_HEADER) &&
            is_bidi((int64_t)id)) {
            /* RFC 9114 §4.1.2: a malformed message (e.g. content-length
             * not matching the DATA, found at the FIN) is a stream error
             * H3_MESSAGE_ERROR, not a connection error. */
            message_error(h, (int64_t)id);
            return;
        }
        if (rv < 0) {
            conn_fail(h, (int)rv);
            return;
        }
        if (fin)
            break;
    }
    h3_stream *s = stream_find(h, (int64_t)id);
    if (s != NULL)
        maybe_close(h, s);
}

void ho_h3_on_stream_writable(ho_h3_conn *h, uint64_t id)
{
    if (h == NULL || h->error != 0)
        return;
    nghttp3_conn_unblock_stream(h->h3, (int64_t)id);
}

void ho_h3_on_stream_reset(ho_h3_conn *h, uint64_t id, uint64_t app_error, bool stop_sending)
{
    if (h == NULL || h->error != 0)
        return;
    int64_t sid = (int64_t)id;
    h3_stream *s = stream_find(h, sid);
    if (s != NULL && s->resp != NULL) {
        s->resp->reset = true;
        s->resp->reset_code = app_error;
    }
    if (is_bidi(sid)) {
        /* RFC 9114 §4.1.1: the request or response is abandoned; cancel
         * whatever remains of our side too. */
        if (stop_sending) /* the QUIC layer already answered with RESET_STREAM */
            ho_quic_stream_stop_sending(h->quic, id, HO_H3_REQUEST_CANCELLED);
        else if (s == NULL || !s->fin_sent)
            ho_quic_stream_reset(h->quic, id, HO_H3_REQUEST_CANCELLED);
    } else if (!stop_sending) {
        /* §6.2: an unknown uni stream's reset is harmless; a critical
         * stream's closure is H3_CLOSED_CRITICAL_STREAM (§6.2.1), which
         * nghttp3_conn_close_stream reports. */
        nghttp3_conn_shutdown_stream_read(h->h3, sid);
    }
    if (s != NULL) {
        stream_finish(h, s, app_error, true);
        return;
    }
    int rv = nghttp3_conn_close_stream(h->h3, sid, app_error);
    if (is_bidi(sid))
        mark_gone(h, sid);
    if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND)
        conn_fail(h, rv); /* e.g. H3_CLOSED_CRITICAL_STREAM (§6.2.1) */
}

int ho_h3_flush(ho_h3_conn *h, ho_quic_time now)
{
    h->now = now;
    if (h->error != 0)
        return HO_ERR_CLOSED;
    if (ho_quic_conn_is_closing(h->quic))
        return HO_OK;
    if (!h->bound && bind_streams(h) == HO_ERR_CLOSED)
        return HO_ERR_CLOSED;
    if (!h->bound)
        return HO_OK;
    /* Requests held back (H3_OUT_MARK), oldest first. */
    while (h->out_held < H3_OUT_MARK) {
        h3_stream *first = NULL;
        for (h3_stream *s = h->streams; s != NULL; s = s->next)
            if (s->serve_pending && !early_must_wait(h, s) && (first == NULL || s->id < first->id))
                first = s;
        if (first == NULL)
            break;
        first->serve_pending = false;
        int rv = serve(h, first);
        if (rv != 0) {
            conn_fail(h, rv);
            return HO_ERR_CLOSED;
        }
    }
    for (int guard = 0; guard < 100000; guard++) {
        nghttp3_vec vec[16];
        int64_t sid = -1;
        int fin = 0;
        nghttp3_ssize nv = nghttp3_conn_writev_stream(h->h3, &sid, &fin, vec, 16);
        if (nv < 0) {
            conn_fail(h, (int)nv);
            return HO_ERR_CLOSED;
        }
        if (sid < 0)
            break;
        size_t total = 0, taken = 0;
        for (nghttp3_ssize i = 0; i < nv; i++)
            total += vec[i].len;
        int rc = HO_OK;
        bool fin_taken = false;
        const h3_stream *hs = stream_find(h, sid);
        h3_body *body = hs != NULL && !hs->out_static ? hs->body : NULL;
        uintptr_t ref_lo = hs != NULL && (hs->out_static || body != NULL) && hs->out != NULL ? (uintptr_t)hs->out : 0;
        uintptr_t ref_hi = ref_lo != 0 ? ref_lo + hs->out_len : 0;
        for (nghttp3_ssize i = 0; i < nv || (nv == 0 && i == 0); i++) {
            bool last = i + 1 >= nv;
            size_t w = 0;
            const uint8_t *p = nv ? vec[i].base : NULL;
            size_t len = nv ? vec[i].len : 0;
            if (ref_lo != 0 && len > 0 && (uintptr_t)p >= ref_lo && (uintptr_t)p < ref_hi &&
                len <= ref_hi - (uintptr_t)p)
            {
                rc = ho_quic_stream_write_ref(h->quic, (uint64_t)sid, p, len, last && fin,
                                              body != NULL ? body_release : NULL, body, &w);
                if (body != NULL)
                    body->given += w;
            }
            else
                rc = ho_quic_stream_write(h->quic, (uint64_t)sid, p, len, last && fin, &w);
            taken += w;
            if (rc != HO_OK || w < len)
                break;
            if (last && fin)
                fin_taken = true;
        }
        if (rc != HO_OK && rc != HO_ERR_WOULD_BLOCK) {
            /* The QUIC stream is gone or reset (STOP_SENDING answered): the
             * message is abandoned. Closing a critical stream this way is a
             * connection error (§6.2.1). */
            h3_stream *s = stream_find(h, sid);
            if (s != NULL) {
                if (rc == HO_ERR_NOMEM) {
                    /* RFC 9114 §8.1: out of memory fails this request only. */
                    ho_quic_stream_stop_sending(h->quic, (uint64_t)sid, HO_H3_INTERNAL_ERROR);
                    ho_quic_stream_reset(h->quic, (uint64_t)sid, HO_H3_INTERNAL_ERROR);
                }
                stream_finish(h, s, rc == HO_ERR_NOMEM ? HO_H3_INTERNAL_ERROR : HO_H3_REQUEST_CANCELLED, true);
                continue;
            }
            if (rc == HO_ERR_NOMEM) {
                conn_fail(h, NGHTTP3_ERR_NOMEM); /* a critical stream: H3_INTERNAL_ERROR */
                return HO_ERR_CLOSED;
            }
            int rv = nghttp3_conn_close_stream(h->h3, sid, HO_H3_REQUEST_CANCELLED);
            if (rv != 0 && rv != NGHTTP3_ERR_STREAM_NOT_FOUND) {
                conn_fail(h, rv);
                return HO_ERR_CLOSED;
            }
            mark_gone(h, sid);
            continue;
        }
        if (taken > 0 || fin_taken) {
            int rv = nghttp3_conn_add_write_offset(h->h3, sid, taken);
            if (rv == 0 && taken > 0)
                rv = nghttp3_conn_add_ack_offset(h->h3, sid, taken);
            if (rv != 0) {
                conn_fail(h, rv);
                return HO_ERR_CLOSED;
            }
        }
        if (taken < total || (fin && !fin_taken)) {
            /* The QUIC stream's buffer is full: the writable callback
             * unblocks it. */
            nghttp3_conn_block_stream(h->h3, sid);
            continue;
        }
        if (fin_taken) {
            h3_stream *s = stream_find(h, sid);
            if (s != NULL) {
                s->fin_sent = true;
                maybe_close(h, s);
            }
        }
    }
    /* Streams reset by nghttp3 itself (malformed requests) are closed here,
     * outside its callbacks. */
    for (h3_stream *s = h->streams, *next; s != NULL; s = next) {
        next = s->next;
        maybe_close(h, s);
    }
    return h->error != 0 ? HO_ERR_CLOSED : HO_OK;
}

int ho_h3_set_max_body(ho_h3_conn *h, uint64_t max_body)
{
    if (h == NULL || h->router == NULL)
        return HO_ERR_INVALID_ARG;
    h->max_body = max_body;
    return HO_OK;
}

void ho_h3_held(const ho_h3_conn *h, size_t *request_bodies, size_t *responses)
{
    *request_bodies = h->body_held;
    *responses = h->out_held;
}

uint64_t ho_h3_error(const ho_h3_conn *h) { return h->error; }
size_t ho_h3_active_streams(const ho_h3_conn *h) { return h->active; }
bool ho_h3_goaway_received(const ho_h3_conn *h) { return h->goaway; }
uint64_t ho_h3_goaway_id(const ho_h3_conn *h) { return h->goaway ? h->goaway_id : UINT64_MAX; }
uint64_t ho_h3_requests_served(const ho_h3_conn *h) { return h->served; }

int ho_h3_shutdown(ho_h3_conn *h)
{
    /* RFC 9114 §5.2: GOAWAY carries the first request stream ID the server
     * will not process; nghttp3 computes it from the streams it accepted
     * (the highest client bidirectional stream seen, plus 4). Requests on
     * streams at or above it are then refused with H3_REQUEST_REJECTED
     * (STOP_SENDING and RESET_STREAM, §4.1.1); those below are served. */
    if (h == NULL || h->router == NULL || !h->bound || h->error != 0)
        return HO_ERR_INVALID_ARG;
    int rv = nghttp3_conn_shutdown(h->h3);
    return rv == 0 ? HO_OK : HO_ERR_INTERNAL;
}

/* ---- client --------------------------------------------------------------- */

int ho_h3_client_request(ho_h3_conn *h, const ho_http_header *fields, size_t n, ho_h3_response **out)
{
    if (h->router != NULL || n > 64)
        return HO_ERR_INVALID_ARG;
    if (h->error != 0 || h->goaway)
        return HO_ERR_CLOSED;
    int rc = bind_streams(h);
    if (rc != HO_OK)
        return rc;
    if (h->nresps == h->cresps) {
        size_t cap = h->cresps ? h->cresps * 2 : 16;
        ho_h3_response **grown = ho_mem_realloc(h->resps, cap * sizeof(*grown));
        if (grown == NULL)
            return HO_ERR_NOMEM;
        h->resps = grown;
        h->cresps = cap;
    }
    ho_h3_response *r = ho_mem_calloc(1, sizeof(*r));
    if (r == NULL)
        return HO_ERR_NOMEM;
    uint64_t id;
    if ((rc = ho_quic_stream_open(h->quic, true, &id)) != HO_OK) {
        ho_mem_free(r);
        return rc;
    }
    h3_stream *s = stream_new(h, (int64_t)id);
    if (s == NULL) {
        ho_mem_free(r);
        return HO_ERR_NOMEM;
    }
    ho_buf_init(&r->body);
    r->stream_id = id;
    r->content_length = -1;
    s->resp = r;
    h->resps[h->nresps++] = r;
    nghttp3_nv nv[64];
    for (size_t i = 0; i < n; i++)
        nv[i] = (nghttp3_nv){(uint8_t *)fields[i].name.p, (uint8_t *)fields[i].value.p, fields[i].name.len,
                             fields[i].value.len, NGHTTP3_NV_FLAG_NONE};
    int rv = nghttp3_conn_submit_request(h->h3, (int64_t)id, nv, n, NULL, s);
    if (rv != 0) {
        ho_quic_stream_reset(h->quic, id, HO_H3_REQUEST_CANCELLED);
        nghttp3_conn_set_stream_user_data(h->h3, (int64_t)id, NULL);
        stream_release(h, s, true);
        return HO_ERR_INTERNAL;
    }
    *out = r;
    return HO_OK;
}

int ho_h3_client_cancel(ho_h3_conn *h, ho_h3_response *r)
{
    if (h->router != NULL || r == NULL)
        return HO_ERR_INVALID_ARG;
    int64_t sid = (int64_t)r->stream_id;
    h3_stream *s = stream_find(h, sid);
    if (s == NULL)
        return HO_OK;
    /* RFC 9114 §4.1.1: abort the response with H3_REQUEST_CANCELLED. */
    ho_quic_stream_stop_sending(h->quic, r->stream_id, HO_H3_REQUEST_CANCELLED);
    if (!s->fin_sent)
        ho_quic_stream_reset(h->quic, r->stream_id, HO_H3_REQUEST_CANCELLED);
    r->reset = true;
    r->reset_code = HO_H3_REQUEST_CANCELLED;
    stream_finish(h, s, HO_H3_REQUEST_CANCELLED, true);
    return HO_OK;
}

int ho_h3_client_release(ho_h3_conn *h, ho_h3_response *r)
{
    if (h == NULL || h->router != NULL || r == NULL)
        return HO_ERR_INVALID_ARG;
    size_t i = 0;
    while (i < h->nresps && h->resps[i] != r)
        i++;
    if (i == h->nresps)
        return HO_ERR_INVALID_ARG; /* not ours, or released already */
    int64_t sid = (int64_t)r->stream_id;
    if (!r->complete && !r->reset)
        (void)ho_h3_client_cancel(h, r); /* still running: abandon it first */
    h3_stream *s = stream_find(h, sid);
    if (s != NULL && s->resp == r)
        s->resp = NULL; /* the stream may still close later: nothing to fill */
    h->resps[i] = h->resps[--h->nresps];
    ho_buf_free(&r->body);
    ho_mem_free(r);
    return HO_OK;
}

static ho_http_header hf(const char *name, const char *value)
{
    return (ho_http_header){{name, strlen(name)}, {value, strlen(value)}};
}

int ho_h3_client_get(ho_h3_conn *h, const char *authority, const char *path, const char *accept_encoding,
                     ho_h3_response **out)
{
    ho_http_header f[6];
    size_t n = 0;
    /* RFC 9114 §4.3.1: :method, :scheme, :authority and :path, before the
     * regular fields. */
    f[n++] = hf(":method", "GET");
    f[n++] = hf(":scheme", "https");
    f[n++] = hf(":authority", authority);
    f[n++] = hf(":path", path);
    f[n++] = hf("user-agent", "handoff");
    if (accept_encoding != NULL)
        f[n++] = hf("accept-encoding", accept_encoding);
    return ho_h3_client_request(h, f, n, out);
}
