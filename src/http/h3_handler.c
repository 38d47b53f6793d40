/* HTTP/3 as a QUIC handler of the server's I/O threads (ho_h3_handler,
 * handoff/http_server.h): an HTTP/3 server state on every accepted QUIC
 * connection, answering through the router, the way ho_h1_handler serves
 * HTTP/1.1 on TCP connections. */
#include "handoff/http_server.h"

static void *h3_accept(void *ctx, ho_quic_conn *c)
{
    ho_h3_conn *h = ho_h3_server_attach(c, (const ho_router *)ctx);
    /* Out of memory: a connection without HTTP/3 would never answer.
     * RFC 9114 §8.1: H3_INTERNAL_ERROR. */
    if (h == NULL)
        (void)ho_quic_conn_close(c, HO_H3_INTERNAL_ERROR, "out of memory", (ho_quic_time)ho_now_ns());
    return h;
}

static void *h3_service_accept(void *ctx, ho_quic_conn *c)
{
    const ho_h1_service *svc = ctx;
    ho_h3_conn *h = h3_accept((void *)svc->router, c);
    if (h != NULL)
        (void)ho_h3_set_max_body(h, svc->limits.max_body);
    return h;
}

static void h3_readable(void *app, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    ho_h3_on_stream_readable(app, id);
}

static void h3_writable(void *app, ho_quic_conn *c, uint64_t id)
{
    (void)c;
    ho_h3_on_stream_writable(app, id);
}

static void h3_reset(void *app, ho_quic_conn *c, uint64_t id, uint64_t code, bool stop_sending)
{
    (void)c;
    ho_h3_on_stream_reset(app, id, code, stop_sending);
}

static void h3_flush(void *app, ho_quic_conn *c, ho_quic_time now)
{
    (void)c;
    ho_h3_flush(app, now);
}

static uint64_t h3_requests(const void *app) { return ho_h3_requests_served(app); }

static void h3_close(void *app, ho_quic_conn *c)
{
    (void)c;
    ho_h3_free(app);
}

/* RFC 9114 §5.2: at a stop the server sends GOAWAY with the first request
 * stream ID it will not process; the requests below it are answered, those
 * on later streams are refused with H3_REQUEST_REJECTED (nghttp3), and the
 * connection closes with H3_NO_ERROR once the last response is delivered.
 * A connection whose control stream is not open yet closes at once. */
static bool h3_stop(void *app, ho_quic_conn *c)
{
    (void)c;
    return ho_h3_shutdown(app) == HO_OK;
}

static bool h3_busy(const void *app) { return ho_h3_active_streams(app) > 0; }

const ho_quic_handler ho_h3_handler = {
    .on_accept = h3_accept,
    .stream_readable = h3_readable,
    .stream_writable = h3_writable,
    .stream_reset = h3_reset,
    .flush = h3_flush,
    .requests = h3_requests,
    .on_close = h3_close,
    .shutdown_code = HO_H3_NO_ERROR,
    .on_stop = h3_stop,
    .busy = h3_busy,
};

const ho_quic_handler ho_h3_service_handler = {
    .on_accept = h3_service_accept,
    .stream_readable = h3_readable,
    .stream_writable = h3_writable,
    .stream_reset = h3_reset,
    .flush = h3_flush,
    .requests = h3_requests,
    .on_close = h3_close,
    .shutdown_code = HO_H3_NO_ERROR,
    .on_stop = h3_stop,
    .busy = h3_busy,
};
