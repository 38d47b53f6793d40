/* HTTP/1.1 on a ho_server connection: complete requests in the input are
 * parsed, routed and answered while the connection is writable (its unsent
 * output below the server's out_high_water); the rest wait in the input
 * until the output has drained (the connection calls again). The responses
 * of one call (pipelining) are gathered and handed to the connection in one
 * write, so they share TLS records. A static body of REF_MIN bytes or more
 * is not copied: it is queued by reference (ho_conn_write_ref) and sent as
 * the socket drains, and nothing more is parsed until it is out. A rejected
 * request gets its status and the connection closes (RFC 9112 §9.6: the
 * request framing can no longer be trusted). */
#include "base/mem.h"
#include "handoff/http_server.h"
#include "handoff/tls.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Per-thread scratch buffers (the response batch and a handler's body),
 * freed when the thread exits. */
typedef struct scratch {
    ho_buf out, body;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    scratch *s = p;
    ho_buf_free(&s->out);
    ho_buf_free(&s->body);
    ho_mem_free(s);
}

static void scratch_init(void) { pthread_key_create(&scratch_key, scratch_free); }

static scratch *get_scratch(void)
{
    pthread_once(&scratch_once, scratch_init);
    scratch *s = pthread_getspecific(scratch_key);
    if (s == NULL) {
        s = ho_mem_calloc(1, sizeof(*s));
        if (s == NULL)
            return NULL;
        ho_buf_init(&s->out);
        ho_buf_init(&s->body);
        pthread_setspecific(scratch_key, s);
    }
    return s;
}

enum {
    REF_MIN = 16 * 1024, /* static bodies from this size go by reference */
    BATCH_MAX = 64 * 1024, /* gathered responses handed over at this size */
};

static void append_response(ho_buf *out, const ho_http_request *req, const ho_http_response *resp,
                            bool keep_alive)
{
    size_t body_len;
    const uint8_t *body = ho_http_response_body(resp, &body_len);
    ho_http1_write_head(out, resp, body_len, req->version, keep_alive);
    if (!req->head)
        ho_put_bytes(out, body, body_len);
}

/* Whether a partial request is worth parsing again. Re-parsing from the
 * start on every read would let a client that trickles its head or body a
 * byte at a time make us scan the same bytes over and over (up to the
 * 16 KiB head limit, or a whole body, per byte). The connection's user word
 * remembers what the last parse left: an odd value 2n+1 means "the body is
 * pending, the request is n bytes"; an even value 2n means "the head was
 * incomplete at n bytes". The head is parsed again only when a new line
 * ended or the buffer reached a limit (so 414/431/400 still come early). */
static bool worth_parsing(ho_conn *c, const ho_buf *in, const ho_http_limits *lim)
{
    uintptr_t state = (uintptr_t)ho_conn_get_user(c);
    if (state == 0)
        return true;
    size_t n = state >> 1;
    if (state & 1)
        return in->len >= n;
    if (n >= in->len)
        return true; /* consumed meanwhile: start over */
    if (in->len >= lim->max_request_line || in->len >= lim->max_header_bytes)
        return true;
    return memchr(in->data + n, '\n', in->len - n) != NULL;
}

/* Whether another complete request follows at off (pipelined). */
static bool next_complete(const ho_buf *in, size_t off, const ho_http_limits *lim)
{
    if (off >= in->len)
        return false;
    ho_http_request next;
    size_t used = 0;
    return ho_http1_parse(in->data + off, in->len - off, lim, &next, &used) == HO_HTTP_COMPLETE;
}

static bool is_safe_method(const ho_http_request *req)
{
    return (req->method.len == 3 && memcmp(req->method.p, "GET", 3) == 0) ||
           (req->method.len == 4 && memcmp(req->method.p, "HEAD", 4) == 0);
}

static int h1_on_data(void *ctx, ho_conn *c, ho_buf *in)
{
    const ho_h1_service *svc = ctx;
    if (!worth_parsing(c, in, &svc->limits))
        return HO_OK;
    ho_conn_set_user(c, NULL);
    scratch *sc = get_scratch();
    if (sc == NULL)
        return HO_ERR_NOMEM;
    ho_buf *out = &sc->out;
    out->len = 0;
    out->failed = false;
    size_t off = 0;
    bool close = false;
    int err = HO_OK;
    while (off < in->len && !close && err == HO_OK) {
        /* Back-pressure: what is not answered now stays in the input. */
        if (!ho_conn_writable(c))
            break;
        if (out->len >= BATCH_MAX) {
            err = out->failed ? HO_ERR_NOMEM : ho_conn_write(c, out->data, out->len);
            out->len = 0;
            continue;
        }
        ho_http_request req;
        size_t used = 0;
        int st = ho_http1_parse(in->data + off, in->len - off, &svc->limits, &req, &used);
        if (st == HO_HTTP_INCOMPLETE) {
            /* Offsets are relative to what stays after the consume below. */
            uintptr_t state = used > 0 ? ((uintptr_t)used << 1) | 1 : (uintptr_t)(in->len - off) << 1;
            ho_conn_set_user(c, (void *)state);
            break;
        }
        if (st != HO_HTTP_COMPLETE) {
            ho_http1_write_error(out, st, 11, false);
            close = true;
            off = in->len;
            ho_conn_request_done(c);
            break;
        }
        req.tls = ho_conn_tls(c);
        req.client_subject = req.tls ? ho_tls_get_peer_subject(req.tls) : NULL;
        /* A request complete before the handshake is came in early data
         * (io: the connection runs its handler then only when the engine
         * accepted early data). RFC 8470 §3: only safe methods are answered
         * now; the first other one, and all after it, wait for the
         * handshake to complete, when they are no longer replayable. */
        req.early = req.tls != NULL && !ho_tls_handshake_done(req.tls);
        if (req.early && !is_safe_method(&req))
            break;
        ho_http1_decode_body(in->data + off, &req); /* a chunked body, in place */
        ho_http_response resp;
        sc->body.failed = false;
        ho_http_response_reset(&resp, &sc->body);
        ho_router_dispatch(svc->router, &req, &resp);
        /* RFC 9112 §9.6: a server about to close says so in the response.
         * At a graceful stop every complete request already received is
         * answered: only the last one says Connection: close. */
        close = !req.keep_alive || (ho_conn_closing(c) && !next_complete(in, off + used, &svc->limits));
        size_t body_len;
        const uint8_t *body = ho_http_response_body(&resp, &body_len);
        if (resp.static_body != NULL && body_len >= REF_MIN && !req.head) {
            /* The head goes now, the body by reference after it. */
            ho_http1_write_head(out, &resp, body_len, req.version, !close);
            err = out->failed ? HO_ERR_NOMEM : ho_conn_write(c, out->data, out->len);
            out->len = 0;
            if (err == HO_OK)
                err = ho_conn_write_ref(c, body, body_len);
        } else {
            append_response(out, &req, &resp, !close);
        }
        off += used;
        ho_conn_request_done(c);
    }
    ho_buf_consume(in, off);
    /* Bytes left over are the start of the next request: its clock runs. */
    ho_conn_set_request_pending(c, in->len > 0);
    if (err == HO_OK && out->failed)
        err = HO_ERR_NOMEM;
    else if (err == HO_OK && out->len > 0)
        err = ho_conn_write(c, out->data, out->len);
    if (close)
        ho_conn_close_after_write(c);
    /* Keep the scratch buffers from growing without bound after one huge
     * response. */
    if (out->cap > (1u << 20))
        ho_buf_free(out);
    if (sc->body.cap > (1u << 20))
        ho_buf_free(&sc->body);
    return err;
}

const ho_conn_handler ho_h1_handler = {.on_data = h1_on_data, .on_close = NULL};
