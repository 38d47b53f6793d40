/* libFuzzer target: the HTTP/1.1 request parser, driven the way the server
 * drives it, plus the router, the arena routes and the response writer.
 *
 * Input: [selector][bytes from the client's socket...]. Selector bit 0
 * picks tight limits instead of the defaults; the other bits pick a cut
 * point. The target
 *   1. parses requests one after another from the bytes (pipelining): each
 *      complete request is checked against the parser's contract (a
 *      chunked body is then decoded in place, as the server does), routed
 *      (the demo app's built-in /json, /baseline2, /upload, /static), and its response written; the
 *      first rejection is answered with its status and ends the stream;
 *   2. checks that the first request, cut at the cut point, gives either
 *      HO_HTTP_INCOMPLETE or exactly what the whole input gives.
 * Seeds: fuzz/corpus/fuzz_http1/. */
#include "arena.h"
#include "handoff/http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static app_arena *arena;
static ho_router *router;
static ho_http_request req, cut_req;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    char err[256];
    /* The built-in dataset unless the machine has /data/dataset.json. */
    unsetenv("DATASET");
    arena = app_arena_new(NULL, NULL, err, sizeof(err));
    router = ho_router_new();
    if (arena == NULL || router == NULL || app_arena_register(arena, router) != HO_OK)
        abort();
    return 0;
}

static void check_inside(const uint8_t *base, size_t n, ho_http_str s)
{
    if (s.p == NULL) {
        CHECK(s.len == 0);
        return;
    }
    const uint8_t *p = (const uint8_t *)s.p;
    CHECK(p >= base && s.len <= n && (size_t)(p - base) <= n - s.len);
}

static bool is_ows(char c) { return c == ' ' || c == '\t'; }

/* What a COMPLETE answer promises about req. */
static void check_request(const uint8_t *p, size_t consumed, const ho_http_limits *lim)
{
    CHECK(consumed > 0);
    check_inside(p, consumed, req.method);
    check_inside(p, consumed, req.target);
    /* An absolute-form target with an empty path ("http://host") gets the
     * path "/" from static storage (RFC 9112 §3.2.2 / RFC 3986 §6.2.3). */
    if (req.target.len > 0 && req.target.p[0] != '/' && req.path.len == 1 && req.path.p[0] == '/' &&
        !(req.path.p >= (const char *)p && req.path.p < (const char *)p + consumed))
        CHECK(req.path.p != NULL);
    else
        check_inside(p, consumed, req.path);
    check_inside(p, consumed, req.query);
    check_inside(p, consumed, req.host);
    CHECK(req.version == 10 || req.version == 11);
    CHECK(req.method.len > 0 && req.target.len > 0);
    if (req.target.p[0] == '/' || ho_http_str_eq(req.target, "*")) {
        CHECK(req.path.p == req.target.p && req.path.len <= req.target.len);
        if (req.query.p != NULL)
            CHECK(req.query.p == req.path.p + req.path.len + 1 &&
                  req.path.len + 1 + req.query.len == req.target.len);
        else
            CHECK(req.path.len == req.target.len);
    } else {
        /* absolute-form: scheme, authority (which became Host), path, query */
        CHECK((req.target.len >= 7 && strncasecmp(req.target.p, "http://", 7) == 0) ||
              (req.target.len >= 8 && strncasecmp(req.target.p, "https://", 8) == 0));
        const char *end = req.target.p + req.target.len;
        if (req.query.p != NULL)
            CHECK(req.query.p + req.query.len == end && req.query.p[-1] == '?');
        const char *path_end = req.query.p != NULL ? req.query.p - 1 : end;
        CHECK(req.path.len >= 1 && req.path.p[0] == '/');
        if (req.path.p > req.target.p && req.path.p < end)
            CHECK(req.path.p + req.path.len == path_end);
        CHECK(req.host.len > 0 && req.host.p > req.target.p && req.host.p < end);
    }
    CHECK(req.header_count <= lim->max_headers && req.header_count <= HO_HTTP_MAX_HEADERS);
    CHECK(req.version == 10 || ho_http_header_get(&req, "host") != NULL);
    for (size_t k = 0; k < req.header_count; k++) {
        const ho_http_header *h = &req.headers[k];
        check_inside(p, consumed, h->name);
        check_inside(p, consumed, h->value);
        CHECK(h->name.len > 0);
        CHECK(memchr(h->name.p, ':', h->name.len) == NULL);
        for (size_t j = 0; j < h->value.len; j++) {
            unsigned char c = (unsigned char)h->value.p[j];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        CHECK(h->value.len == 0 || (!is_ows(h->value.p[0]) && !is_ows(h->value.p[h->value.len - 1])));
    }
    CHECK(req.content_length <= lim->max_body);
    if (req.chunked) {
        /* Still encoded: the decoded size fits in what the framing took. */
        CHECK(req.body == NULL && req.body_offset <= consumed && req.content_length <= consumed - req.body_offset);
    } else {
        CHECK((req.body == NULL) == (req.content_length == 0));
        if (req.body != NULL)
            CHECK(req.body + req.content_length == p + consumed);
    }
    CHECK(req.head == ho_http_str_eq(req.method, "HEAD"));
    /* The helpers, on what was parsed. */
    ho_http_str v;
    int64_t i;
    if (ho_http_query_get(&req, "m", &v)) {
        check_inside(p, consumed, v);
        (void)ho_http_str_to_i64(v, &i);
    }
}

static bool status_allowed(int rc)
{
    return rc == 400 || rc == 413 || rc == 414 || rc == 431 || rc == 501 || rc == 505;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    ho_http_limits lim;
    ho_http_limits_default(&lim);
    if (data[0] & 1)
        lim = (ho_http_limits){.max_request_line = 48, .max_header_bytes = 160, .max_headers = 4, .max_body = 16};
    const uint8_t *in = data + 1;
    size_t n = size - 1, cut = (size_t)(data[0] >> 1) * n / 127;

    ho_buf out, scratch;
    ho_buf_init(&out);
    ho_buf_init(&scratch);
    /* Parsed from a writable copy: a chunked body is decoded in place. */
    uint8_t *mut = malloc(n > 0 ? n : 1);
    CHECK(mut != NULL);
    memcpy(mut, in, n);
    size_t off = 0, used;
    int first = -1;
    size_t first_used = 0;
    while (off < n) {
        int rc = ho_http1_parse(mut + off, n - off, &lim, &req, &used);
        if (first < 0) {
            first = rc;
            first_used = used;
        }
        if (rc == HO_HTTP_INCOMPLETE) {
            CHECK(used == 0 || used > n - off); /* a known size is one not yet there */
            break;
        }
        if (rc != HO_HTTP_COMPLETE) {
            CHECK(status_allowed(rc));
            ho_http1_write_error(&out, rc, 11, false);
            break;
        }
        CHECK(used <= n - off);
        check_request(mut + off, used, &lim);
        if (req.chunked) {
            ho_http1_decode_body(mut + off, &req);
            CHECK((req.body == NULL) == (req.content_length == 0));
            if (req.body != NULL)
                CHECK(req.body == mut + off + req.body_offset);
        }
        ho_http_response resp;
        ho_http_response_reset(&resp, &scratch);
        ho_router_dispatch(router, &req, &resp);
        size_t body_len;
        const uint8_t *body = ho_http_response_body(&resp, &body_len);
        CHECK(resp.status >= 200 && resp.status <= 599);
        ho_http1_write_head(&out, &resp, body_len, req.version, req.keep_alive);
        if (!req.head && body_len > 0)
            ho_put_bytes(&out, body, body_len);
        off += used;
        if (!req.keep_alive)
            break;
        if (out.len > (1 << 20))
            out.len = 0;
    }
    CHECK(!out.failed);

    /* A prefix answers INCOMPLETE or what the whole input answers. */
    if (first >= 0 && cut < n) {
        size_t cut_used;
        int rc = ho_http1_parse(in, cut, &lim, &cut_req, &cut_used);
        CHECK(rc == HO_HTTP_INCOMPLETE || rc == first);
        if (rc == HO_HTTP_COMPLETE)
            CHECK(cut_used == first_used);
    }
    free(mut);
    ho_buf_free(&out);
    ho_buf_free(&scratch);
    return 0;
}
