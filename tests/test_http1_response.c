/* Unit tests for src/http/h1_response.c: the incremental HTTP/1.1 response
 * parser of `handoff get`. Every case runs whole, byte by byte, cut at every
 * point and in random slices, and must give the same result, body and
 * heads; every prefix of a valid response then ends (finish) as truncated,
 * unless its body is close-delimited and the head is in. */
#include "harness.h"
#include "handoff/http.h"

typedef struct tcase {
    const char *name, *in;
    size_t len;               /* 0: strlen(in) */
    int rc;                   /* after the input and, if still INCOMPLETE, finish */
    const char *body;         /* NULL: none expected ("") */
    int status;
    ho_http1_framing framing;
    size_t end;               /* bytes of the response (COMPLETE); 0: all */
    unsigned interim;
    bool head_request;
    size_t max_head;          /* 0: the default */
} tcase;

typedef struct result {
    int rc, status, minor;
    size_t consumed;
    ho_http1_framing framing;
    unsigned interim;
    ho_buf body, heads;
    bool sticky_ok;           /* feeds after the end used nothing and repeated the answer */
} result;

typedef enum { WHOLE, BYTES, SPLIT, RANDOM } mode;

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
    result *o = ctx;
    ho_put_bytes(&o->body, p, n);
    return 0;
}

static int on_head(void *ctx, const ho_http1_resp *r, const uint8_t *p, size_t n)
{
    result *o = ctx;
    (void)r;
    ho_put_bytes(&o->heads, p, n);
    return 0;
}

static uint32_t rng_state;
static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

/* Feeds in[0..n) in slices chosen by m (param: the cut for SPLIT, the seed
 * for RANDOM); finishes (EOF) when the answer is still INCOMPLETE. */
static unsigned long drives; /* parsers run */

static void drive(const tcase *c, const uint8_t *in, size_t n, mode m, size_t param, result *o)
{
    drives++;
    memset(o, 0, sizeof(*o));
    ho_buf_init(&o->body);
    ho_buf_init(&o->heads);
    o->sticky_ok = true;
    ho_http1_resp r;
    ho_http1_resp_init(&r, c->head_request);
    if (c->max_head != 0)
        r.max_head = c->max_head;
    r.on_body = on_body;
    r.on_head = on_head;
    r.ctx = o;
    rng_state = (uint32_t)param * 2654435761u + 1;
    size_t pos = 0;
    int rc = HO_HTTP_INCOMPLETE;
    do {
        size_t len = n - pos;
        if (m == BYTES)
            len = len > 0 ? 1 : 0;
        else if (m == SPLIT && pos < param)
            len = param - pos;
        else if (m == RANDOM && len > 0)
            len = 1 + rng() % (len < 40 ? len : 40);
        size_t used = 99;
        int r1 = ho_http1_resp_feed(&r, in + pos, len, &used);
        if (rc != HO_HTTP_INCOMPLETE && (r1 != rc || used != 0))
            o->sticky_ok = false;
        if (rc == HO_HTTP_INCOMPLETE) {
            if (r1 == HO_HTTP_INCOMPLETE && used != len)
                o->sticky_ok = false;
            o->consumed += used;
            rc = r1;
        }
        pos += len;
    } while (pos < n);
    if (rc == HO_HTTP_INCOMPLETE)
        rc = ho_http1_resp_finish(&r);
    else if (ho_http1_resp_finish(&r) != rc)
        o->sticky_ok = false;
    o->rc = rc;
    o->status = r.status;
    o->minor = r.minor_version;
    o->framing = r.framing;
    o->interim = r.interim_count;
    ho_http1_resp_free(&r);
}

static void result_free(result *o)
{
    ho_buf_free(&o->body);
    ho_buf_free(&o->heads);
}

static bool body_is(const result *o, const char *want)
{
    size_t n = want != NULL ? strlen(want) : 0;
    return o->body.len == n && (n == 0 || memcmp(o->body.data, want, n) == 0);
}

/* The result of one way of slicing against the case's expectation. */
static bool matches(const tcase *c, size_t n, const result *o, const result *whole)
{
    bool ok = o->rc == c->rc && o->sticky_ok;
    if (c->rc == HO_HTTP_COMPLETE) {
        ok = ok && body_is(o, c->body) && o->status == c->status && o->framing == c->framing &&
             o->consumed == (c->end != 0 ? c->end : n) && o->interim == c->interim;
        ok = ok && o->heads.len == whole->heads.len &&
             (o->heads.len == 0 || memcmp(o->heads.data, whole->heads.data, o->heads.len) == 0);
    }
    return ok;
}

static void run_case(const tcase *c)
{
    const uint8_t *in = (const uint8_t *)c->in;
    size_t n = c->len != 0 ? c->len : strlen(c->in);
    result whole, o;
    drive(c, in, n, WHOLE, 0, &whole);
    bool ok = matches(c, n, &whole, &whole);
    if (!ok)
        fprintf(stderr, "  %s: whole: rc %d (%s), status %d, framing %d, consumed %zu, body %zu bytes\n", c->name,
                whole.rc, ho_http1_resp_err_str(whole.rc), whole.status, (int)whole.framing, whole.consumed,
                whole.body.len);
    CHECK(ok);
    /* Byte by byte, every cut point, random slices. */
    unsigned bad = 0;
    for (size_t k = 0; k <= n + 20; k++) {
        mode m = k == 0 ? BYTES : k <= n ? SPLIT : RANDOM;
        drive(c, in, n, m, k, &o);
        if (!matches(c, n, &o, &whole)) {
            if (bad++ == 0)
                fprintf(stderr, "  %s: mode %d param %zu: rc %d (%s), consumed %zu, body %zu bytes\n", c->name,
                        (int)m, k, o.rc, ho_http1_resp_err_str(o.rc), o.consumed, o.body.len);
        }
        result_free(&o);
    }
    CHECK_EQ(bad, 0);
    /* Every prefix: truncated, or (a close-delimited body once the head is
     * in) complete with that much body; an invalid input may fail early. */
    size_t end = c->end != 0 ? c->end : n;
    size_t body_len = c->body != NULL ? strlen(c->body) : 0;
    size_t head_end = c->framing == HO_HTTP1_BODY_CLOSE ? end - body_len : SIZE_MAX;
    bad = 0;
    for (size_t k = 0; k < (c->rc == HO_HTTP_COMPLETE ? end : n); k++) {
        drive(c, in, k, WHOLE, 0, &o);
        bool good;
        if (c->rc != HO_HTTP_COMPLETE)
            good = o.rc == HO_HTTP1_RESP_ERR_TRUNCATED || o.rc == c->rc;
        else if (k >= head_end)
            good = o.rc == HO_HTTP_COMPLETE && o.body.len == k - head_end &&
                   (o.body.len == 0 || memcmp(o.body.data, c->body, o.body.len) == 0);
        else
            good = o.rc == HO_HTTP1_RESP_ERR_TRUNCATED;
        if (!good && bad++ == 0)
            fprintf(stderr, "  %s: prefix %zu: rc %d (%s)\n", c->name, k, o.rc, ho_http1_resp_err_str(o.rc));
        result_free(&o);
    }
    CHECK_EQ(bad, 0);
    result_free(&whole);
}

#define OK(name_, in_, body_, status_, framing_) \
    {.name = name_, .in = in_, .rc = HO_HTTP_COMPLETE, .body = body_, .status = status_, .framing = framing_}
#define BAD(name_, in_, rc_) {.name = name_, .in = in_, .rc = rc_}

static const tcase valid[] = {
    OK("length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello", "hello", 200,
       HO_HTTP1_BODY_LENGTH),
    OK("length zero", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", NULL, 200, HO_HTTP1_BODY_LENGTH),
    OK("length repeated", "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nCONTENT-LENGTH:3 \r\n\r\nabc", "abc", 200,
       HO_HTTP1_BODY_LENGTH),
    OK("length list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3,\r\n\r\nabc", "abc", 200, HO_HTTP1_BODY_LENGTH),
    OK("length HTTP/1.0", "HTTP/1.0 404 Not Found\r\nContent-Length: 2\r\n\r\nno", "no", 404, HO_HTTP1_BODY_LENGTH),
    OK("length with CRLFs in the body", "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n\r\n\r\n\r\n\r\n",
       "\r\n\r\n\r\n\r\n", 200, HO_HTTP1_BODY_LENGTH),
    OK("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
       "hello world", 200, HO_HTTP1_BODY_CHUNKED),
    OK("chunked hex, zeros, extensions, trailers",
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n"
       "00A;name=value;q=\"a b\"\r\n0123456789\r\n1 ; x\r\n!\r\n0000000000000000000000001\r\n?\r\n"
       "000;last\r\nX-Trailer: yes\r\nOther:1\r\n\r\n",
       "0123456789!?", 200, HO_HTTP1_BODY_CHUNKED),
    OK("chunked upper hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nB\r\nhello world\r\n0\r\n\r\n",
       "hello world", 200, HO_HTTP1_BODY_CHUNKED),
    OK("chunked empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", NULL, 200,
       HO_HTTP1_BODY_CHUNKED),
    OK("chunked list with empty elements", "HTTP/1.1 200 OK\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: , chunked ,\r\n\r\n"
       "2\r\nok\r\n0\r\n\r\n", "ok", 200, HO_HTTP1_BODY_CHUNKED),
    OK("chunked body with CRLFs", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\r\n0\r\r\n0\r\n\r\n",
       "\r\n0\r", 200, HO_HTTP1_BODY_CHUNKED),
    OK("close HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil\r\n\r\nclose", "until\r\n\r\nclose",
       200, HO_HTTP1_BODY_CLOSE),
    OK("close HTTP/1.1", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody", "body", 200, HO_HTTP1_BODY_CLOSE),
    OK("close empty", "HTTP/1.1 500 Oops\r\n\r\n", NULL, 500, HO_HTTP1_BODY_CLOSE),
    OK("no reason", "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx", "x", 200, HO_HTTP1_BODY_LENGTH),
    OK("no SP after the code", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx", "x", 200, HO_HTTP1_BODY_LENGTH),
    OK("reason with tabs and obs-text", "HTTP/1.1 200 O\tK \xe9t\xe9\r\nContent-Length: 1\r\n\r\nx", "x", 200,
       HO_HTTP1_BODY_LENGTH),
    OK("status 999", "HTTP/1.1 999 Odd\r\nContent-Length: 1\r\n\r\nx", "x", 999, HO_HTTP1_BODY_LENGTH),
    OK("HTTP/1.9", "HTTP/1.9 200 OK\r\nContent-Length: 1\r\n\r\nx", "x", 200, HO_HTTP1_BODY_LENGTH),
    OK("obs-fold", "HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\n\tc\r\nX-E:\r\n e\r\nContent-Length: 1\r\n\r\nx", "x", 200,
       HO_HTTP1_BODY_LENGTH),
    OK("empty values", "HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaces:   \r\nContent-Length: 1\r\n\r\nx", "x", 200,
       HO_HTTP1_BODY_LENGTH),
    /* RFC 9112 §6.3 (1): no body whatever the fields say. */
    OK("204 with a length", "HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n", NULL, 204, HO_HTTP1_BODY_NONE),
    OK("304 chunked", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", NULL, 304,
       HO_HTTP1_BODY_NONE),
    OK("304 with a bad length", "HTTP/1.1 304 Not Modified\r\nContent-Length: x\r\n\r\n", NULL, 304,
       HO_HTTP1_BODY_NONE),
    OK("101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n", NULL, 101, HO_HTTP1_BODY_NONE),
    {.name = "HEAD", .in = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n", .rc = HO_HTTP_COMPLETE, .status = 200,
     .framing = HO_HTTP1_BODY_NONE, .head_request = true},
    {.name = "HEAD chunked", .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .rc = HO_HTTP_COMPLETE,
     .status = 200, .framing = HO_HTTP1_BODY_NONE, .head_request = true},
    /* RFC 9110 §15.2: interim responses, skipped. */
    {.name = "interim", .rc = HO_HTTP_COMPLETE, .body = "ok", .status = 200, .framing = HO_HTTP1_BODY_LENGTH,
     .interim = 3,
     .in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
           "HTTP/1.1 199 Whatever\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
    {.name = "interim before chunked", .rc = HO_HTTP_COMPLETE, .body = "ab", .status = 201,
     .framing = HO_HTTP1_BODY_CHUNKED, .interim = 1,
     .in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n"},
    {.name = "interim before HEAD", .rc = HO_HTTP_COMPLETE, .status = 200, .framing = HO_HTTP1_BODY_NONE,
     .interim = 1, .head_request = true,
     .in = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n"},
    /* Bytes after the end are not the response's. */
    {.name = "after a length", .in = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA", .rc = HO_HTTP_COMPLETE,
     .body = "ok", .status = 200, .framing = HO_HTTP1_BODY_LENGTH, .end = 40},
    {.name = "after chunked", .rc = HO_HTTP_COMPLETE, .body = "ok", .status = 200, .framing = HO_HTTP1_BODY_CHUNKED,
     .end = 59, .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
    {.name = "after a 204", .in = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n\r\nbody", .rc = HO_HTTP_COMPLETE,
     .status = 204, .framing = HO_HTTP1_BODY_NONE, .end = 27},
    {.name = "after HEAD", .in = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", .rc = HO_HTTP_COMPLETE,
     .status = 200, .framing = HO_HTTP1_BODY_NONE, .end = 38, .head_request = true},
    /* The head limit: exactly max_head bytes fit. */
    {.name = "head of max_head bytes", .in = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", .rc = HO_HTTP_COMPLETE,
     .body = "x", .status = 200, .framing = HO_HTTP1_BODY_LENGTH, .max_head = 38},
    /* A trailer section of max_head bytes fits too. */
    {.name = "trailers of max_head bytes", .rc = HO_HTTP_COMPLETE, .body = "ok", .status = 200,
     .framing = HO_HTTP1_BODY_CHUNKED, .max_head = 48,
     .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer-Field: 0123456789abcdef0123456789a\r\n\r\n"},
};

static const tcase invalid[] = {
    /* Status line (RFC 9112 §4). */
    BAD("lower-case version", "http/1.1 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("not HTTP", "ICY 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("HTTP/0.9 body", "<html>hello</html>\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("HTTP/2", "HTTP/2 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_VERSION),
    BAD("HTTP/0.9", "HTTP/0.9 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_VERSION),
    BAD("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("two spaces", "HTTP/1.1  200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("letter in status", "HTTP/1.1 2x0 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    BAD("empty line first", "\r\nHTTP/1.1 200 OK\r\n\r\n", HO_HTTP1_RESP_ERR_STATUS_LINE),
    /* Line endings (§2.2). */
    BAD("bare LF status", "HTTP/1.1 200 OK\nContent-Length: 0\n\n", HO_HTTP1_RESP_ERR_LINE_END),
    BAD("bare LF field", "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n", HO_HTTP1_RESP_ERR_LINE_END),
    BAD("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", HO_HTTP1_RESP_ERR_LINE_END),
    BAD("bare LF end", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n", HO_HTTP1_RESP_ERR_LINE_END),
    /* Fields (§5). */
    BAD("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    BAD("no colon", "HTTP/1.1 200 OK\r\nContent-Length\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    BAD("empty name", "HTTP/1.1 200 OK\r\n: x\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    BAD("bad name char", "HTTP/1.1 200 OK\r\nX(y): x\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    BAD("CTL in value", "HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    {.name = "NUL in value", .in = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n",
     .len = sizeof("HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n") - 1, .rc = HO_HTTP1_RESP_ERR_FIELD},
    BAD("whitespace before the first field", "HTTP/1.1 200 OK\r\n X: a\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    BAD("CTL in a folded line", "HTTP/1.1 200 OK\r\nX: a\r\n b\x01\r\n\r\n", HO_HTTP1_RESP_ERR_FIELD),
    /* Content-Length (§6.3 (5), RFC 9110 §8.6). */
    BAD("differing lengths", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("differing list", "HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("negative length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("plus length", "HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("hex length", "HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("space in length", "HTTP/1.1 200 OK\r\nContent-Length: 1 0\r\n\r\n", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("empty length", "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("comma length", "HTTP/1.1 200 OK\r\nContent-Length: ,\r\n\r\n", HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("length overflow", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551616\r\n\r\n",
        HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("length far overflow", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        HO_HTTP1_RESP_ERR_CONTENT_LENGTH),
    BAD("largest length, truncated", "HTTP/1.1 200 OK\r\nContent-Length: 18446744073709551615\r\n\r\nabc",
        HO_HTTP1_RESP_ERR_TRUNCATED),
    BAD("length, truncated", "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nhello", HO_HTTP1_RESP_ERR_TRUNCATED),
    /* Transfer-Encoding (§6.1, §6.3 (3), (4)). */
    BAD("TE and CL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_TE_AND_CL),
    BAD("CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nhello",
        HO_HTTP1_RESP_ERR_TE_AND_CL),
    BAD("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nxx", HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    BAD("TE gzip, chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    BAD("TE chunked twice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    BAD("TE with a parameter", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked;q=1\r\n\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    BAD("TE empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding:\r\n\r\n", HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    BAD("TE in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRANSFER_CODING),
    /* Chunks (§7.1). */
    BAD("chunk size not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size empty", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size negative", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nx\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size 0x", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk extension only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;a\r\n", HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size then junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size leading space", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\nhello\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size bare LF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size bare CR", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\rhello\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk extension CTL", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x01\r\nhello\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk data too long", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk data LF only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk data CR only", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("chunk size far overflow", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\n",
        HO_HTTP1_RESP_ERR_CHUNK),
    BAD("largest chunk, truncated", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc",
        HO_HTTP1_RESP_ERR_TRUNCATED),
    BAD("no last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
        HO_HTTP1_RESP_ERR_TRUNCATED),
    BAD("no final CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n",
        HO_HTTP1_RESP_ERR_TRUNCATED),
    /* Trailers (§7.1.2). */
    BAD("trailer without colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRAILER),
    BAD("trailer folded", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRAILER),
    BAD("trailer bare CR", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\rb\r\n\r\n",
        HO_HTTP1_RESP_ERR_TRAILER),
    BAD("trailer bare LF end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n\n",
        HO_HTTP1_RESP_ERR_TRAILER),
    BAD("trailer CR then junk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\rX",
        HO_HTTP1_RESP_ERR_TRAILER),
    /* Truncated heads. */
    BAD("empty", "", HO_HTTP1_RESP_ERR_TRUNCATED),
    BAD("status line only", "HTTP/1.1 200 OK\r\n", HO_HTTP1_RESP_ERR_TRUNCATED),
    BAD("interim only", "HTTP/1.1 100 Continue\r\n\r\n", HO_HTTP1_RESP_ERR_TRUNCATED),
    /* Limits. */
    {.name = "head over max_head", .in = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", .max_head = 37,
     .rc = HO_HTTP1_RESP_ERR_HEAD_TOO_BIG},
    {.name = "status line over max_head", .in = "HTTP/1.1 200 OK\r\n\r\n", .max_head = 10,
     .rc = HO_HTTP1_RESP_ERR_HEAD_TOO_BIG},
    {.name = "trailers over max_head", .max_head = 47, .rc = HO_HTTP1_RESP_ERR_HEAD_TOO_BIG,
     .in = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nX-Trailer-Field: 0123456789abcdef0123456789a\r\n\r\n"},
    {.name = "interim over max_head", .max_head = 30, .rc = HO_HTTP1_RESP_ERR_HEAD_TOO_BIG,
     .in = "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"},
};

/* What -i shows: the heads, interim ones too, byte for byte. */
static void test_heads_and_fields(void)
{
    const char *in = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                     "HTTP/1.0 200 Fine\r\nX-A: a\r\n  b\r\nContent-Length: 2\r\nx-a: second\r\nX-Empty:\r\n\r\nok";
    tcase c = {.name = "fields"};
    result o;
    drive(&c, (const uint8_t *)in, strlen(in), WHOLE, 0, &o);
    const char *want = "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n"
                       "HTTP/1.0 200 Fine\r\nX-A: a    b\r\nContent-Length: 2\r\nx-a: second\r\nX-Empty:\r\n\r\n";
    CHECK_EQ(o.heads.len, strlen(want));
    CHECK(o.heads.len == strlen(want) && memcmp(o.heads.data, want, o.heads.len) == 0);
    CHECK_EQ(o.rc, HO_HTTP_COMPLETE);
    CHECK_EQ(o.minor, 0);
    result_free(&o);

    ho_http1_resp r;
    ho_http1_resp_init(&r, false);
    size_t used;
    CHECK_EQ(ho_http1_resp_header(&r, "link") == NULL, 1);
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)in, strlen(in), &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, strlen(in));
    CHECK(r.done && r.head_done);
    CHECK_EQ(r.status, 200);
    CHECK(ho_http_str_eq(r.reason, "Fine"));
    CHECK_EQ(r.header_count, 4);
    CHECK_EQ(r.interim_count, 1);
    CHECK(ho_http1_resp_header(&r, "link") == NULL); /* the interim head's */
    const ho_http_str *v = ho_http1_resp_header(&r, "x-a");
    CHECK(v != NULL && ho_http_str_eq(*v, "a    b")); /* the first; obs-fold replaced (§5.2) */
    v = ho_http1_resp_header(&r, "CONTENT-LENGTH");
    CHECK(v != NULL && ho_http_str_eq(*v, "2"));
    v = ho_http1_resp_header(&r, "x-empty");
    CHECK(v != NULL && v->len == 0);
    CHECK(ho_http1_resp_header(&r, "x-empt") == NULL);
    CHECK(ho_http1_resp_header(&r, "x-emptyy") == NULL);
    CHECK_EQ(r.content_length, 2);
    CHECK_EQ(r.body_bytes, 2);
    CHECK_EQ(ho_http1_resp_finish(&r), HO_HTTP_COMPLETE);
    ho_http1_resp_free(&r);
    CHECK(ho_http1_resp_header(&r, "x-a") == NULL);
    ho_http1_resp_free(&r); /* twice is harmless */
}

static int refuse(void *ctx, const uint8_t *p, size_t n)
{
    (void)ctx, (void)p, (void)n;
    return -1;
}

static int refuse_head(void *ctx, const ho_http1_resp *r, const uint8_t *p, size_t n)
{
    (void)ctx, (void)r, (void)p, (void)n;
    return 1;
}

static void test_callbacks_and_sticky(void)
{
    const char *in = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    ho_http1_resp r;
    ho_http1_resp_init(&r, false);
    r.on_body = refuse;
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)in, strlen(in), NULL), HO_HTTP1_RESP_ERR_CALLBACK);
    CHECK_EQ(r.error, HO_HTTP1_RESP_ERR_CALLBACK);
    size_t used = 7;
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)"x", 1, &used), HO_HTTP1_RESP_ERR_CALLBACK);
    CHECK_EQ(used, 0);
    CHECK_EQ(ho_http1_resp_finish(&r), HO_HTTP1_RESP_ERR_CALLBACK);
    ho_http1_resp_free(&r);

    ho_http1_resp_init(&r, false);
    r.on_head = refuse_head;
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)in, strlen(in), NULL), HO_HTTP1_RESP_ERR_CALLBACK);
    ho_http1_resp_free(&r);

    /* No on_body: the body is counted and dropped. NULL data is no input. */
    ho_http1_resp_init(&r, false);
    CHECK_EQ(ho_http1_resp_feed(&r, NULL, 5, &used), HO_HTTP_INCOMPLETE);
    CHECK_EQ(used, 0);
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)in, strlen(in), NULL), HO_HTTP_COMPLETE);
    CHECK_EQ(r.body_bytes, 5);
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)"more", 4, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, 0);
    ho_http1_resp_free(&r);

    /* A close-delimited body is complete only at finish. */
    ho_http1_resp_init(&r, false);
    const char *c = "HTTP/1.1 200 OK\r\n\r\nabc";
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)c, strlen(c), NULL), HO_HTTP_INCOMPLETE);
    CHECK_EQ(r.framing, HO_HTTP1_BODY_CLOSE);
    CHECK(r.head_done && !r.done);
    CHECK_EQ(ho_http1_resp_finish(&r), HO_HTTP_COMPLETE);
    CHECK(r.done);
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)"x", 1, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, 0);
    ho_http1_resp_free(&r);

    /* The parser's errors are values of the one error space (error.h). */
    for (int e = HO_HTTP1_RESP_ERR_NOMEM; e <= HO_HTTP1_RESP_ERR_STATUS_LINE; e++)
        CHECK(strncmp(ho_http1_resp_err_str(e), "HTTP/1 response: ", 17) == 0);
    CHECK(strcmp(ho_http1_resp_err_str(HO_HTTP_COMPLETE), "complete") == 0);
    CHECK(strcmp(ho_http1_resp_err_str(HO_HTTP_INCOMPLETE), "more input needed") == 0);
    CHECK(strcmp(ho_http1_resp_err_str(-50), "unknown error (-50)") == 0);
}

/* Too many fields, a long chunk extension, a long interim series. */
static void test_limits(void)
{
    ho_buf b;
    ho_buf_init(&b);
    for (int fields = 100; fields <= 101; fields++) {
        b.len = 0;
        ho_put_bytes(&b, "HTTP/1.1 200 OK\r\n", 17);
        for (int i = 0; i < fields - 1; i++)
            ho_put_bytes(&b, "X-F: v\r\n", 8);
        ho_put_bytes(&b, "Content-Length: 0\r\n\r\n", 21);
        ho_http1_resp r;
        ho_http1_resp_init(&r, false);
        int rc = ho_http1_resp_feed(&r, b.data, b.len, NULL);
        CHECK_EQ(rc, fields <= HO_HTTP_MAX_HEADERS ? HO_HTTP_COMPLETE : HO_HTTP1_RESP_ERR_TOO_MANY_FIELDS);
        ho_http1_resp_free(&r);
    }
    /* A chunk size line of 4096 bytes passes, one more fails. */
    for (size_t ext = 4092; ext <= 4093; ext++) {
        b.len = 0;
        const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
        ho_put_bytes(&b, h, strlen(h));
        for (size_t i = 0; i < ext; i++)
            ho_put_u8(&b, 'e');
        ho_put_bytes(&b, "\r\nx\r\n0\r\n\r\n", 10);
        ho_http1_resp r;
        ho_http1_resp_init(&r, false);
        int rc = ho_http1_resp_feed(&r, b.data, b.len, NULL);
        CHECK_EQ(rc, ext == 4092 ? HO_HTTP_COMPLETE : HO_HTTP1_RESP_ERR_CHUNK);
        ho_http1_resp_free(&r);
    }
    /* A thousand interim responses: memory stays one head. */
    b.len = 0;
    for (int i = 0; i < 1000; i++)
        ho_put_bytes(&b, "HTTP/1.1 100 Continue\r\n\r\n", 25);
    ho_put_bytes(&b, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 38);
    ho_http1_resp r;
    ho_http1_resp_init(&r, false);
    r.max_head = 64;
    CHECK_EQ(ho_http1_resp_feed(&r, b.data, b.len, NULL), HO_HTTP_COMPLETE);
    CHECK_EQ(r.interim_count, 1000);
    ho_http1_resp_free(&r);
    /* max_head raised after the head buffer was made: still bounded by it. */
    ho_http1_resp_init(&r, false);
    r.max_head = 32;
    CHECK_EQ(ho_http1_resp_feed(&r, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17, NULL), HO_HTTP_INCOMPLETE);
    r.max_head = 1 << 20;
    b.len = 0;
    for (int i = 0; i < 10; i++)
        ho_put_bytes(&b, "X-Field: value\r\n", 16);
    CHECK_EQ(ho_http1_resp_feed(&r, b.data, b.len, NULL), HO_HTTP1_RESP_ERR_HEAD_TOO_BIG);
    ho_http1_resp_free(&r);
    CHECK(!b.failed);
    ho_buf_free(&b);
}

/* Large bodies in random chunks and random slices arrive whole. */
static void test_large_bodies(void)
{
    ho_buf want, in;
    ho_buf_init(&want);
    ho_buf_init(&in);
    rng_state = 12345;
    for (size_t i = 0; i < 300000; i++)
        ho_put_u8(&want, (uint8_t)rng());
    const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    ho_put_bytes(&in, h, strlen(h));
    for (size_t off = 0; off < want.len;) {
        size_t n = 1 + rng() % 70000;
        if (n > want.len - off)
            n = want.len - off;
        char line[32];
        int k = snprintf(line, sizeof(line), (rng() & 1) ? "%zx\r\n" : "%zX;ext=1\r\n", n);
        ho_put_bytes(&in, line, (size_t)k);
        ho_put_bytes(&in, want.data + off, n);
        ho_put_bytes(&in, "\r\n", 2);
        off += n;
    }
    ho_put_bytes(&in, "0\r\nDone: yes\r\n\r\n", 16);
    tcase c = {.name = "large chunked"};
    for (size_t seed = 1; seed <= 3; seed++) {
        result o;
        drive(&c, in.data, in.len, RANDOM, seed, &o);
        CHECK_EQ(o.rc, HO_HTTP_COMPLETE);
        CHECK_EQ(o.consumed, in.len);
        CHECK(o.body.len == want.len && memcmp(o.body.data, want.data, want.len) == 0);
        result_free(&o);
    }
    /* The same body by Content-Length, in slices of 16 KB (as from TLS records). */
    in.len = 0;
    char head[80];
    int k = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", want.len);
    ho_put_bytes(&in, head, (size_t)k);
    ho_put_bytes(&in, want.data, want.len);
    ho_http1_resp r;
    ho_http1_resp_init(&r, false);
    result o;
    memset(&o, 0, sizeof(o));
    ho_buf_init(&o.body);
    r.on_body = on_body;
    r.ctx = &o;
    int rc = HO_HTTP_INCOMPLETE;
    for (size_t off = 0; off < in.len && rc == HO_HTTP_INCOMPLETE; off += 16384)
        rc = ho_http1_resp_feed(&r, in.data + off, in.len - off < 16384 ? in.len - off : 16384, NULL);
    CHECK_EQ(rc, HO_HTTP_COMPLETE);
    CHECK(o.body.len == want.len && memcmp(o.body.data, want.data, want.len) == 0);
    ho_http1_resp_free(&r);
    ho_buf_free(&o.body);
    ho_buf_free(&want);
    ho_buf_free(&in);
}

int main(void)
{
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        run_case(&valid[i]);
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        run_case(&invalid[i]);
    printf("test_http1_response: %zu valid and %zu invalid responses in every slicing and prefix: %lu runs\n",
           sizeof(valid) / sizeof(valid[0]), sizeof(invalid) / sizeof(invalid[0]), drives);
    RUN(test_heads_and_fields);
    RUN(test_callbacks_and_sticky);
    RUN(test_limits);
    RUN(test_large_bodies);
    return ho_test_summary("test_http1_response");
}
