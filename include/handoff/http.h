/*
 * handoff — HTTP: a strict HTTP/1.1 request parser (RFC 9112), a response
 * writer, an incremental HTTP/1.1 response parser for clients, a router
 * shared by HTTP/1.1 and HTTP/3, and static files served from memory.
 *
 * Everything here is sans-I/O and thread-compatible: a parser call, a router
 * dispatch and a response write touch only their arguments (the router and
 * file sets are read-only after set-up and may be shared by threads).
 */
#ifndef HANDOFF_HTTP_H
#define HANDOFF_HTTP_H

#include "handoff/base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- requests -------------------------------------------------------- */

#define HO_HTTP_MAX_HEADERS 100 /* hard cap on the header array */

typedef struct ho_http_str {
    const char *p; /* points into the parsed buffer; not NUL-terminated */
    size_t len;
} ho_http_str;

typedef struct ho_http_header {
    ho_http_str name, value; /* value trimmed of surrounding spaces/tabs */
} ho_http_header;

typedef struct ho_http_request {
    ho_http_str method;        /* e.g. "GET" */
    ho_http_str target;        /* request-target as received (origin-form) */
    ho_http_str path;          /* target up to '?' */
    ho_http_str query;         /* after '?' (len 0 if none; p NULL if no '?') */
    int version;               /* 10 or 11 (HTTP/1.0, HTTP/1.1); 30 for HTTP/3 */
    ho_http_header headers[HO_HTTP_MAX_HEADERS];
    size_t header_count;
    ho_http_str host;          /* Host header (or :authority), len 0 if none */
    uint64_t content_length;   /* body size: Content-Length, or a chunked
                                * body's decoded size; 0 if none */
    const uint8_t *body;       /* content_length bytes (NULL if none; for a
                                * chunked body NULL until ho_http1_decode_body) */
    bool chunked;              /* Transfer-Encoding: chunked */
    size_t body_offset;        /* where the body starts in the parsed buffer */
    bool keep_alive;           /* after this request: HTTP/1.1 default yes,
                                * HTTP/1.0 only with "Connection: keep-alive";
                                * "Connection: close" → no */
    bool head;                 /* method is HEAD: the response has no body */
    struct ho_tls *tls;        /* set by the server: the connection's TLS state
                                * (NULL on plaintext); the parser leaves it NULL */
    const char *client_subject; /* set by the server: the subject of the client's
                                * verified certificate (mutual TLS, RFC 2253
                                * form), NULL when none; valid for the call */
    bool early;                /* set by the server: the request came in TLS early
                                * data and is answered before the handshake is
                                * complete, so it may be a replay: what RFC 8470
                                * §5.1 says with "Early-Data: 1". Only safe
                                * methods (GET, HEAD) are answered early; a
                                * handler that must not act on a replayable
                                * request answers ho_http_too_early (425). */
} ho_http_request;

typedef struct ho_http_limits {
    size_t max_request_line;   /* bytes incl. CRLF; longer → 414 (default 8192) */
    size_t max_header_bytes;   /* whole head; longer → 431 (default 16384) */
    size_t max_headers;        /* count; more → 431 (default 64, ≤ HO_HTTP_MAX_HEADERS) */
    uint64_t max_body;         /* body bytes (Content-Length, or a chunked
                                * body decoded) above → 413 (default 1 MiB) */
} ho_http_limits;

/* The defaults above. */
HO_API void ho_http_limits_default(ho_http_limits *lim);

/* Parses one request at the start of buf[0..len). Returns:
 *   HO_HTTP_COMPLETE   *req filled, *consumed = bytes of head + body (a
 *                      chunked body: up to the end of its trailer section);
 *   HO_HTTP_INCOMPLETE more bytes are needed (the limits already apply to
 *                      what has arrived: an over-long partial line fails now);
 *                      when only body bytes are missing, *consumed is the
 *                      buffer size the parse needs before it can go further
 *                      (Content-Length: the whole request; chunked: the end
 *                      of the current chunk), so a caller need not parse
 *                      again before; else 0;
 *   a status ≥ 400     the request is rejected with that status and the
 *                      connection must close after the response:
 *                      400 malformed (request line, header syntax, bare CR/LF,
 *                          obs-fold, whitespace before ':', invalid token
 *                          chars, control chars in values, bad or duplicated
 *                          Content-Length, missing Host in HTTP/1.1, both
 *                          Content-Length and Transfer-Encoding,
 *                          Transfer-Encoding in HTTP/1.0, chunked not the
 *                          final coding or applied twice; a chunked body
 *                          with a bad chunk-size, chunk extension, chunk
 *                          line over 1024 bytes, missing CRLF, bare LF,
 *                          data longer or shorter than its size, or a bad
 *                          trailer field),
 *                      413 body > max_body (Content-Length, or the chunk
 *                          size that would take the decoded body past it,
 *                          refused at that digit), or chunk framing (chunk
 *                          lines and CRLFs) over max_header_bytes,
 *                      414 request line too long,
 *                      431 head or trailer section too large, or too many
 *                          header or trailer fields,
 *                      501 a transfer coding other than chunked (before the
 *                          final chunked) or an unknown method,
 *                      505 a version other than HTTP/1.0 or HTTP/1.1.
 * Chunk extensions are parsed and ignored; trailer fields are parsed and
 * dropped. A chunked body stays encoded in buf: see ho_http1_decode_body.
 * `lim` may be NULL for the defaults. Leading empty lines before a request
 * are skipped (RFC 9112 §2.2). */
enum { HO_HTTP_COMPLETE = 0, HO_HTTP_INCOMPLETE = 1 };
HO_API int ho_http1_parse(const uint8_t *buf, size_t len, const ho_http_limits *lim, ho_http_request *req,
                   size_t *consumed);

/* After HO_HTTP_COMPLETE for a chunked request: decodes its body in place
 * (buf is the buffer given to ho_http1_parse, now writable) and points
 * req->body at it (content_length bytes at buf + body_offset). The head's
 * strings stay valid; the bytes after the body up to *consumed are left
 * undefined. Does nothing for other requests. */
HO_API void ho_http1_decode_body(uint8_t *buf, ho_http_request *req);

/* Case-insensitive header lookup; NULL if absent. */
HO_API const ho_http_str *ho_http_header_get(const ho_http_request *req, const char *name);
/* Query parameter `name` (raw, not percent-decoded); false if absent. */
HO_API bool ho_http_query_get(const ho_http_request *req, const char *name, ho_http_str *value);
/* Decimal integer from a string (optional leading '-', no spaces);
 * false on anything else or overflow. */
HO_API bool ho_http_str_to_i64(ho_http_str s, int64_t *v);
HO_API bool ho_http_str_eq(ho_http_str s, const char *lit);  /* exact */

/* Reason phrase for a status ("OK", "Not Found", ...; "" if unknown). */
HO_API const char *ho_http_reason(int status);

/* ---- responses ------------------------------------------------------- */

typedef struct ho_http_response {
    int status;                    /* default 200 */
    const char *content_type;      /* NULL: no Content-Type */
    const char *content_encoding;  /* NULL: none ("br", "gzip") */
    bool vary_accept_encoding;     /* adds "Vary: Accept-Encoding" */
    ho_buf *body;                  /* scratch body buffer, owned by the caller,
                                    * emptied before the handler runs */
    const uint8_t *static_body;    /* or: bytes that outlive the connection (HTTP/3
                                    * sends them by reference until acknowledged) */
    size_t static_len;             /* (used when static_body != NULL) */
    const char *allow;             /* NULL: no Allow; else its value (405),
                                    * static storage or the router's */
} ho_http_response;

/* RFC 8470 §5.2: 425 Too Early, for a handler refusing a request that came
 * in early data (req->early); the client retries after the handshake. */
HO_API void ho_http_too_early(ho_http_response *resp);

/* Prepares resp for a handler: status 200, no type, no encoding, no Allow,
 * body emptied (scratch may be NULL when only static bodies are used). */
HO_API void ho_http_response_reset(ho_http_response *resp, ho_buf *scratch);
/* The body the response carries (static_body or the scratch buffer). */
HO_API const uint8_t *ho_http_response_body(const ho_http_response *resp, size_t *len);

/* Appends an HTTP/1.1 response head to out: status line, Server: handoff,
 * Date (IMF-fixdate, cached per second), Content-Type, Content-Encoding,
 * Vary, Allow, Content-Length (always, also for HEAD; never for 1xx and 204,
 * RFC 9110 §8.6), and "Connection: close"
 * when !keep_alive (HTTP/1.0 keep-alive gets "Connection: keep-alive").
 * The body is not written: the caller appends it (unless HEAD). */
HO_API void ho_http1_write_head(ho_buf *out, const ho_http_response *resp, size_t body_len, int version,
                         bool keep_alive);
/* A complete error response (text/plain body "<status> <reason>\n"). */
HO_API void ho_http1_write_error(ho_buf *out, int status, int version, bool keep_alive);

/* ---- HTTP/1.1 responses, a client's parser — src/http/h1_response.c --
 * Incremental and sans-I/O: feed it the bytes of the connection in slices
 * of any size (one byte at a time gives the same result as all at once);
 * it reads only the bytes it is given and copies only the head (bounded by
 * max_head), never the body. It parses the status line and the header
 * section (RFC 9112 §4, §5), skips interim 1xx responses, then frames the
 * body by RFC 9112 §6.3 in its order:
 *   (1) a response to HEAD, a 1xx (101), 204 or 304: no body;
 *   (3), (4) Transfer-Encoding "chunked" (the only coding supported; with
 *      a Content-Length too, or in an HTTP/1.0 response: an error);
 *   (5), (6) Content-Length (digits; repeated values must agree);
 *   (8) otherwise the body runs to the end of the connection: complete
 *      only at ho_http1_resp_finish.
 * The body (de-chunked; chunk extensions and trailers are dropped) goes to
 * on_body as it arrives. Use: init, set the options, feed... , finish at
 * EOF, free. */

typedef enum ho_http1_framing {
    HO_HTTP1_BODY_NONE = 0,    /* no body (or the head is not in yet) */
    HO_HTTP1_BODY_LENGTH,      /* Content-Length bytes */
    HO_HTTP1_BODY_CHUNKED,     /* chunked transfer coding (RFC 9112 §7.1) */
    HO_HTTP1_BODY_CLOSE,       /* until the connection closes */
} ho_http1_framing;

/* Errors: HO_HTTP1_RESP_ERR_* (handoff/error.h); the parser keeps the first one
 * and answers it again. */
/* A short English description of a result ("ok", "more input needed", ...). */
HO_API const char *ho_http1_resp_err_str(int rc);

typedef struct ho_http1_resp {
    /* Options: set after ho_http1_resp_init, before the first feed. */
    bool head_request;          /* the request was HEAD: no body (set by init) */
    size_t max_head;            /* bytes in one head (status line to the empty
                                 * line) and in the trailer section; default 65536 */
    /* Each head, interim 1xx ones too, as received (an obs-fold already
     * replaced by spaces), with r's status and fields filled for it. */
    int (*on_head)(void *ctx, const struct ho_http1_resp *r, const uint8_t *head, size_t len);
    /* Body bytes of the final response, in order; NULL: dropped. */
    int (*on_body)(void *ctx, const uint8_t *data, size_t len);
    void *ctx;

    /* The final response, once head_done (inside on_head: the head delivered). */
    bool head_done;
    int status;                 /* the 3-digit status code */
    int minor_version;          /* HTTP/1.x: x */
    ho_http_str reason;         /* reason phrase (may be empty) */
    ho_http_header headers[HO_HTTP_MAX_HEADERS]; /* point into the parser's copy
                                 * of the head: valid until ho_http1_resp_free */
    size_t header_count;
    ho_http1_framing framing;
    uint64_t content_length;    /* with HO_HTTP1_BODY_LENGTH */
    uint64_t body_bytes;        /* body bytes delivered so far */
    unsigned interim_count;     /* 1xx responses skipped before the final one */
    bool done;                  /* the response is complete */
    int error;                  /* 0, or the first error */

    /* Private. */
    int state;
    uint8_t *head;              /* head_cap bytes once the first byte arrived */
    size_t head_cap, head_len, line_start;
    uint64_t remaining;         /* body or chunk bytes still expected */
    size_t line_len;            /* chunk size line or trailer section so far */
    int sub;                    /* position inside a chunk size or trailer line */
    bool digits;                /* chunk size: a hex digit seen */
} ho_http1_resp;

/* Prepares r for one response; head_request: the request was HEAD. */
HO_API void ho_http1_resp_init(ho_http1_resp *r, bool head_request);
/* Frees the copy of the head (r's header strings become invalid). */
HO_API void ho_http1_resp_free(ho_http1_resp *r);
/* Parses data[0..len). Returns
 *   HO_HTTP_INCOMPLETE  every byte used, the response goes on;
 *   HO_HTTP_COMPLETE    the response ended: *consumed (may be NULL) bytes
 *                       belonged to it, the rest do not (a later feed uses
 *                       nothing and answers HO_HTTP_COMPLETE again);
 *   an HO_HTTP1_RESP_ERR_* code: the response is unusable (close the
 *                       connection, RFC 9112 §6.3 (5)).
 * Callbacks run inside the call. */
HO_API int ho_http1_resp_feed(ho_http1_resp *r, const uint8_t *data, size_t len, size_t *consumed);
/* The connection ended (EOF). HO_HTTP_COMPLETE when the response is
 * complete (a close-delimited body ends here: with TLS, only after an
 * authenticated close, RFC 8446 §6.1, is it known to be whole), else
 * HO_HTTP1_RESP_ERR_TRUNCATED or the earlier error. */
HO_API int ho_http1_resp_finish(ho_http1_resp *r);
/* The final response's field `name` (case-insensitive; the first if
 * repeated); NULL if absent or the head is not in. */
HO_API const ho_http_str *ho_http1_resp_header(const ho_http1_resp *r, const char *name);

/* ---- router ---------------------------------------------------------- */

/* A handler fills resp (status, type, body). Return HO_OK, or an error to
 * answer 500. Runs on the I/O thread: it must not block. */
typedef int (*ho_http_handler)(void *ctx, const ho_http_request *req, ho_http_response *resp);

typedef struct ho_router ho_router;
HO_API ho_router *ho_router_new(void);
HO_API void ho_router_free(ho_router *r);
/* `path` is matched exactly, or as a prefix when it ends with '/'
 * ("/static/" matches "/static/app.js"); the longest match wins. GET routes
 * also answer HEAD. */
HO_API int ho_router_add(ho_router *r, const char *method, const char *path, ho_http_handler fn, void *ctx);
/* Runs the matching handler; 404 when no path matches, 405 (with Allow)
 * when the path matches but not the method, 500 when the handler fails. */
HO_API void ho_router_dispatch(const ho_router *r, const ho_http_request *req, ho_http_response *resp);

/* ---- static files — src/http/static.c --------------------------------- */

/* A set of files loaded into memory at set-up and served read-only: every
 * regular file of `dir` (recursive: its subdirectories too, up to 16 levels,
 * symbolic links skipped; hidden entries always skipped; at most 4096 files,
 * 256 MiB each, 1 GiB in all). A file "x" with a sibling "x.br" or "x.gz" is
 * answered with the compressed one when Accept-Encoding allows it (with
 * Content-Encoding and Vary: Accept-Encoding); content types come from the
 * extension (.css .js .json .html .svg .webp .woff2, else
 * application/octet-stream). NULL on failure, with the message in *err. */
typedef struct ho_http_files ho_http_files;
HO_API ho_http_files *ho_http_files_load(const char *dir, bool recursive, char *err, size_t errlen);
HO_API void ho_http_files_free(ho_http_files *fs);
HO_API size_t ho_http_files_count(const ho_http_files *fs); /* 0 for NULL */
/* Registers GET `prefix` (it starts and ends with '/', e.g. "/static/" or
 * "/") serving the files by their path below it; for a recursive set a path
 * ending in '/' means its index.html. Paths with "..", '\\' or '%', and
 * files not in the set, are 404. A set may be registered at one prefix
 * length only (HO_ERR_INVALID_ARG otherwise). The set must outlive r. */
HO_API int ho_http_files_register(ho_http_files *fs, ho_router *r, const char *prefix);

/* ==== HTTP/3 (RFC 9114) over the QUIC connection — src/http/h3.c ========
 * nghttp3 does the framing and QPACK (RFC 9204); this layer wires it to a
 * sans-I/O ho_quic_conn. The caller forwards three QUIC stream callbacks
 * (readable, writable, reset) to ho_h3_on_* and calls ho_h3_flush before
 * each ho_quic_conn_send. The QUIC stream send buffer retains and
 * retransmits what it accepted, so bytes are released to nghttp3 as soon as
 * the QUIC stream took them.
 *
 * Server: every request is collected into an ho_http_request (version 30,
 * pseudo-headers :method :path :authority; path split into path/query),
 * dispatched through the router when the request stream ends, and answered
 * with :status, content-type, content-encoding, vary, allow, content-length.
 * A malformed request (RFC 9114 §4.1.2) resets its stream with
 * H3_MESSAGE_ERROR; the connection keeps serving. A connection error
 * (§8.1) closes the QUIC connection with the mapped H3/QPACK code.
 *
 * Client: ho_h3_client_get submits a GET and collects status, a few
 * response headers and the body. */
#include "handoff/quic.h"

/* Application error codes (HO_H3_*, RFC 9114 §8.1): handoff/error.h. */

typedef struct ho_h3_conn ho_h3_conn;

/* Server: an HTTP/3 layer on a server QUIC connection (call right after
 * ho_quic_conn_new_server). The control and QPACK streams are opened by
 * the first ho_h3_flush after the handshake. The router must outlive it. */
HO_API ho_h3_conn *ho_h3_server_attach(ho_quic_conn *c, const ho_router *r);
/* Server: the largest request body (default: ho_http_limits' max_body,
 * 1 MiB); a longer one refuses that request (RFC 9114 §4.1.1: STOP_SENDING
 * and RESET_STREAM with H3_REQUEST_REJECTED), the connection goes on.
 * HO_ERR_INVALID_ARG for a client. */
HO_API int ho_h3_set_max_body(ho_h3_conn *h, uint64_t max_body);
/* Server: the request body bytes the connection buffers (at most 1 MiB
 * plus one max_body) and its generated response bytes still held for QUIC
 * (at most 256 KiB plus one response before requests wait):
 * docs/RELIABILITY.md, "HTTP/3". */
HO_API void ho_h3_held(const ho_h3_conn *h, size_t *request_bodies, size_t *responses);
/* Client: an HTTP/3 layer on a client QUIC connection. */
HO_API ho_h3_conn *ho_h3_client_attach(ho_quic_conn *c);
/* Frees the layer (not the QUIC connection) and its client responses. */
HO_API void ho_h3_free(ho_h3_conn *h);

/* Forward these from ho_quic_callbacks. */
HO_API void ho_h3_on_stream_readable(ho_h3_conn *h, uint64_t id);
HO_API void ho_h3_on_stream_writable(ho_h3_conn *h, uint64_t id);
HO_API void ho_h3_on_stream_reset(ho_h3_conn *h, uint64_t id, uint64_t app_error, bool stop_sending);

/* Moves nghttp3's pending output into the QUIC streams (and opens the
 * critical streams once the handshake is done). Call before each
 * ho_quic_conn_send. HO_OK, or HO_ERR_CLOSED once the layer closed the
 * connection with an H3 error (ho_h3_error). */
HO_API int ho_h3_flush(ho_h3_conn *h, ho_quic_time now);
/* The H3 application error this layer closed the connection with (0: none). */
HO_API uint64_t ho_h3_error(const ho_h3_conn *h);
/* Server: sends GOAWAY (RFC 9114 §5.2); requests already received are
 * still answered. The caller closes the QUIC connection with
 * HO_H3_NO_ERROR once ho_h3_active_streams() is 0. */
HO_API int ho_h3_shutdown(ho_h3_conn *h);
/* Request streams not yet finished both ways. */
HO_API size_t ho_h3_active_streams(const ho_h3_conn *h);
/* Client: whether the peer sent GOAWAY. */
HO_API bool ho_h3_goaway_received(const ho_h3_conn *h);
/* Client: the stream ID of the peer's (last) GOAWAY: requests on streams
 * at or above it were not processed and may be retried on another
 * connection (RFC 9114 §5.2). UINT64_MAX when none came. */
HO_API uint64_t ho_h3_goaway_id(const ho_h3_conn *h);
/* Server: requests answered through the router so far. */
HO_API uint64_t ho_h3_requests_served(const ho_h3_conn *h);

typedef struct ho_h3_response {
    uint64_t stream_id;
    int status;                 /* 0 until the response HEADERS arrived */
    char content_type[128];     /* "" when absent (truncated if longer) */
    char content_encoding[32];
    char vary[64];
    int64_t content_length;     /* -1 when absent */
    ho_buf body;
    bool complete;              /* the whole response (FIN) arrived */
    bool reset;                 /* the stream was reset (reset_code) */
    uint64_t reset_code;
    /* Client, optional: set right after ho_h3_client_request/get returned
     * the response to receive the body as it arrives instead of in `body`
     * (no copy of the whole body in memory). A non-zero return stops the
     * delivery and sets body_failed. */
    int (*on_body)(void *ctx, const struct ho_h3_response *r, const uint8_t *data, size_t len);
    void *on_body_ctx;
    bool body_failed;
} ho_h3_response;

/* Client: submits a request with the given header fields (pseudo-headers
 * included, in order; not validated: tests use it to send malformed
 * requests) and no body. *out stays owned by h (valid until ho_h3_free).
 * HO_ERR_WOULD_BLOCK before the handshake or when the stream limit is
 * reached. */
HO_API int ho_h3_client_request(ho_h3_conn *h, const ho_http_header *fields, size_t n, ho_h3_response **out);
/* Client: abandons a response (STOP_SENDING and, if the request is not
 * fully sent, RESET_STREAM with H3_REQUEST_CANCELLED); r->reset is set. */
HO_API int ho_h3_client_cancel(ho_h3_conn *h, ho_h3_response *r);
/* Client: frees a response the caller is done with, so that a connection
 * that carries many requests holds only those still wanted (otherwise every
 * response lives until ho_h3_free). A response still in progress is
 * cancelled first (as ho_h3_client_cancel). r is invalid afterwards.
 * HO_ERR_INVALID_ARG for a response that is not this connection's, or was
 * released already. */
HO_API int ho_h3_client_release(ho_h3_conn *h, ho_h3_response *r);
/* GET https://authority/path; accept_encoding may be NULL. */
HO_API int ho_h3_client_get(ho_h3_conn *h, const char *authority, const char *path, const char *accept_encoding,
                     ho_h3_response **out);

/* One blocking HTTP/3 GET over UDP (src/http/h3_fetch.c): resolves
 * host:port, runs the handshake, sends the request, collects the response
 * and closes with H3_NO_ERROR. For a command-line client. */
typedef struct ho_h3_fetch_opts {
    const char *host, *port;       /* where to connect */
    const char *server_name;       /* SNI / certificate name; NULL: host */
    const char *authority;         /* NULL: "host:port" */
    const char *path;              /* "/..." with the query */
    const char *accept_encoding;   /* NULL: none */
    ho_tls_config *tls;            /* client config with ALPN "h3", prepared with
                                    * ho_quic_tls_config_prepare (and a trust store);
                                    * NULL: a built-in one (see insecure) */
    bool insecure;                 /* built-in config only: no certificate check */
    int timeout_ms;                /* without any datagram received; 0: 10000 */
    const char *cc_name;           /* congestion controller (ho_quic_config.cc_name); NULL: CUBIC */
    uint32_t quic_version;         /* of the first Initial; 0: 1 (another draws Version
                                    * Negotiation, ho_quic_config.version) */
    const uint8_t *session;        /* a TLS session (from on_session) to resume; NULL: none */
    size_t session_len;
    /* A session ticket arrived (store it for a later fetch). When set, the
     * fetch waits up to 1 s after the responses for a ticket not yet seen. */
    void (*on_session)(void *ctx, const uint8_t *blob, size_t len);
    void *ctx;
    /* A NEW_TOKEN token (from on_token) for our Initials (RFC 9000
     * §8.1.3: the server may skip its Retry); NULL: none. */
    const uint8_t *token;
    size_t token_len;
    /* The server sent a NEW_TOKEN token (store it for a later fetch to the
     * same server, ho_quic_conn_new_token); called with ctx. When set, the
     * fetch also waits up to 1 s after the responses for one not yet seen. */
    void (*on_token)(void *ctx, const uint8_t *token, size_t len);
    /* The local IP address to send from (a literal; NULL: any), e.g. to
     * come back from another address. */
    const char *local_addr;
    unsigned key_updates;          /* 1-RTT key updates to initiate once the handshake is
                                    * confirmed, the next three PTOs after the previous
                                    * one was answered (RFC 9001 §6.5) */
    bool no_gso, no_gro, no_ecn;   /* as ho_quic_listen_spec (handoff/io.h) */
    size_t max_udp_payload;        /* DPLPMTUD ceiling; 0: the QUIC default (1452) */
    /* Optional body sink (see ho_h3_response.on_body): the bodies are then
     * not kept in out[i].body; a non-zero return aborts the fetch (HO_ERR_IO). */
    int (*on_body)(void *ctx, const struct ho_h3_response *r, const uint8_t *data, size_t len);
    void *body_ctx;
    /* Extra request fields after the pseudo-headers, user-agent and
     * accept-encoding (names in lowercase, RFC 9114 §4.2); at most 32. */
    const ho_http_header *headers;
    size_t nheaders;
} ho_h3_fetch_opts;

/* What the connection of a fetch went through (for -v and tests). */
typedef struct ho_h3_fetch_info {
    bool handshake_done, resumed, retried, version_negotiated;
    uint32_t version;              /* QUIC version in use at the end */
    const char *cc;                /* the congestion controller that ran ("cubic", ...) */
    const char *suite;             /* TLS cipher suite name, "" before the handshake */
    uint64_t key_updates_initiated, key_updates; /* key_updates: completed, either side */
    ho_quic_conn_stats stats;
    /* How the connection closed (ho_quic_conn_close_code): the wire code,
     * whether it was the application variant (an HTTP/3 code) and who sent
     * it, and the reason phrase. closed is false if it never closed. */
    bool closed, close_is_app, close_by_peer;
    uint64_t close_code;
    char close_reason[64];
    /* The server sent GOAWAY (RFC 9114 §5.2): requests not yet sent then
     * were not sent (their response stays status 0, not complete). */
    bool goaway;
    uint64_t goaway_id;
    /* 0-RTT (a session with early data on the TLS config): NONE, or
     * ACCEPTED / REJECTED (the requests went again in 1-RTT). */
    ho_tls_early_status early;
} ho_h3_fetch_info;
/* HO_OK with *out filled (out->body owned by the caller: ho_buf_free);
 * HO_ERR_CLOSED when the stream was reset (out->reset_code) or the peer
 * closed, HO_ERR_TIMEOUT when nothing came for o->timeout_ms, HO_ERR_REFUSED
 * when the port was refused (ICMP) before any answer, HO_ERR_IO when the
 * address does not resolve or the body sink refused,
 * HO_ERR_QUIC_VERSION when Version Negotiation left no common version,
 * or the QUIC/TLS error that closed the connection. */
HO_API int ho_h3_fetch(const ho_h3_fetch_opts *o, ho_h3_response *out);
/* Several GETs on one connection: paths[i] (o->path is ignored), all
 * requests in flight at once (as many as the server's stream limit allows,
 * the rest as streams finish); out[i] gets the i-th response (bodies owned
 * by the caller, also on failure). HO_OK when every response completed;
 * otherwise as ho_h3_fetch. info (may be NULL) is filled in any case. */
HO_API int ho_h3_fetch_many(const ho_h3_fetch_opts *o, const char *const *paths, size_t n, ho_h3_response *out,
                     ho_h3_fetch_info *info);

#ifdef __cplusplus
}
#endif
#endif
