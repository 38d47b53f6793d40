/* libFuzzer target: the HTTP/1.1 response parser of `handoff get`
 * (src/http/h1_response.c).
 *
 * Input: [selector][bytes from the server...]. Selector bit 0: the request
 * was HEAD; bit 1: a small max_head (64) instead of the default; the other
 * bits seed the slicing. The target
 *   1. feeds the bytes at once, then finish() if the answer is still
 *      INCOMPLETE, and checks the parser's contract on what it reports (the
 *      field strings inside its head copy and well-formed, the body no
 *      longer than the bytes used, Content-Length bodies exact, ...);
 *   2. feeds them again in slices of 1..64 bytes chosen by the seed: the
 *      answer, the bytes used, the body and the heads must be the same;
 *   3. feeds a prefix (cut by the seed) and finishes: truncated, or the
 *      whole input's error, or complete (a close-delimited body, or a
 *      response that had ended within the prefix).
 * Seeds: fuzz/corpus/fuzz_http1_response/. */
#include "handoff/http.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

typedef struct sink {
    ho_buf body, heads;
} sink;

static int on_body(void *ctx, const uint8_t *p, size_t n)
{
    sink *k = ctx;
    CHECK(n > 0);
    ho_put_bytes(&k->body, p, n);
    return 0;
}

static int on_head(void *ctx, const ho_http1_resp *r, const uint8_t *p, size_t n)
{
    sink *k = ctx;
    /* A head ends with its empty line, its fields point into it. */
    CHECK(n >= 14 && p[n - 1] == '\n' && p[n - 2] == '\r' && p[n - 3] == '\n' && p[n - 4] == '\r');
    CHECK(r->status >= 0 && r->status <= 999);
    for (size_t i = 0; i < r->header_count; i++) {
        const ho_http_header *h = &r->headers[i];
        CHECK((const uint8_t *)h->name.p >= p && (const uint8_t *)h->name.p + h->name.len <= p + n);
        CHECK(h->value.len == 0 ||
              ((const uint8_t *)h->value.p >= p && (const uint8_t *)h->value.p + h->value.len <= p + n));
    }
    ho_put_bytes(&k->heads, p, n);
    return 0;
}

typedef struct outcome {
    int rc;
    size_t used;
    sink s;
} outcome;

static void setup(ho_http1_resp *r, uint8_t sel, sink *s)
{
    ho_http1_resp_init(r, (sel & 1) != 0);
    if (sel & 2)
        r->max_head = 64;
    r->on_body = on_body;
    r->on_head = on_head;
    r->ctx = s;
    ho_buf_init(&s->body);
    ho_buf_init(&s->heads);
}

static bool is_tchar(uint8_t c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* What a parser that read the whole input promises. */
static void check_contract(const ho_http1_resp *r, const outcome *o, size_t n)
{
    CHECK(o->used <= n);
    CHECK(r->body_bytes == o->s.body.len && o->s.body.len <= o->used);
    CHECK((o->rc == HO_HTTP_COMPLETE) == r->done);
    CHECK(o->rc == HO_HTTP_COMPLETE || o->rc == r->error);
    if (o->rc < 0)
        CHECK(strcmp(ho_http1_resp_err_str(o->rc), "unknown result") != 0);
    if (!r->head_done) {
        CHECK(o->rc != HO_HTTP_COMPLETE && o->s.body.len == 0);
        return;
    }
    CHECK(r->status >= 0 && r->status <= 999 && r->minor_version >= 0 && r->minor_version <= 9);
    CHECK(r->header_count <= HO_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < r->header_count; i++) {
        const ho_http_header *h = &r->headers[i];
        CHECK(h->name.len > 0);
        for (size_t k = 0; k < h->name.len; k++)
            CHECK(is_tchar((uint8_t)h->name.p[k]));
        for (size_t k = 0; k < h->value.len; k++) {
            uint8_t c = (uint8_t)h->value.p[k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (h->value.len > 0) {
            CHECK(h->value.p[0] != ' ' && h->value.p[0] != '\t');
            CHECK(h->value.p[h->value.len - 1] != ' ' && h->value.p[h->value.len - 1] != '\t');
        }
        CHECK(ho_http1_resp_header(r, "") == NULL);
    }
    bool no_body = r->head_request || r->status / 100 == 1 || r->status == 204 || r->status == 304;
    CHECK(no_body == (r->framing == HO_HTTP1_BODY_NONE));
    if (no_body)
        CHECK(o->s.body.len == 0 && o->rc == HO_HTTP_COMPLETE);
    if (r->framing == HO_HTTP1_BODY_LENGTH) {
        CHECK(ho_http1_resp_header(r, "content-length") != NULL);
        CHECK(ho_http1_resp_header(r, "transfer-encoding") == NULL);
        CHECK(o->s.body.len <= r->content_length);
        CHECK((o->rc == HO_HTTP_COMPLETE) == (o->s.body.len == r->content_length));
    }
    if (r->framing == HO_HTTP1_BODY_CHUNKED)
        CHECK(ho_http1_resp_header(r, "content-length") == NULL && r->minor_version >= 1);
    if (r->framing == HO_HTTP1_BODY_CLOSE) {
        CHECK(o->rc == HO_HTTP_COMPLETE || o->rc == HO_HTTP1_RESP_ERR_NOMEM); /* finish() ends it */
        CHECK(o->used == n);
    }
}

static bool buf_eq(const ho_buf *a, const ho_buf *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static bool same(const outcome *a, const outcome *b)
{
    return a->rc == b->rc && (a->rc != HO_HTTP_COMPLETE || a->used == b->used) && buf_eq(&a->s.body, &b->s.body) &&
           buf_eq(&a->s.heads, &b->s.heads);
}

static void free_outcome(outcome *o)
{
    ho_buf_free(&o->s.body);
    ho_buf_free(&o->s.heads);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    const uint8_t *in = data + 1;
    size_t n = size - 1;
    uint32_t seed = (uint32_t)(sel >> 2) * 2654435761u + 1;

    /* 1. All at once. */
    outcome whole = {0};
    ho_http1_resp r;
    setup(&r, sel, &whole.s);
    whole.rc = ho_http1_resp_feed(&r, in, n, &whole.used);
    CHECK(whole.rc != HO_HTTP_INCOMPLETE || whole.used == n);
    if (whole.rc == HO_HTTP_COMPLETE) {
        CHECK(r.framing != HO_HTTP1_BODY_CLOSE);
        size_t again = 1;
        CHECK(ho_http1_resp_feed(&r, in, n, &again) == HO_HTTP_COMPLETE && again == 0);
    }
    bool complete_before_eof = whole.rc == HO_HTTP_COMPLETE;
    if (whole.rc == HO_HTTP_INCOMPLETE)
        whole.rc = ho_http1_resp_finish(&r);
    CHECK(ho_http1_resp_finish(&r) == whole.rc); /* sticky */
    check_contract(&r, &whole, n);
    ho_http1_framing framing = r.framing;
    ho_http1_resp_free(&r);

    /* 2. In slices. */
    outcome sliced = {0};
    setup(&r, sel, &sliced.s);
    int rc = HO_HTTP_INCOMPLETE;
    for (size_t pos = 0; pos < n && rc == HO_HTTP_INCOMPLETE;) {
        seed ^= seed << 13, seed ^= seed >> 17, seed ^= seed << 5;
        size_t len = 1 + seed % 64;
        if (len > n - pos)
            len = n - pos;
        size_t used;
        rc = ho_http1_resp_feed(&r, in + pos, len, &used);
        CHECK(rc != HO_HTTP_INCOMPLETE || used == len);
        sliced.used += used;
        pos += len;
    }
    if (rc == HO_HTTP_INCOMPLETE)
        rc = ho_http1_resp_finish(&r);
    sliced.rc = rc;
    CHECK(same(&whole, &sliced) || whole.rc == HO_HTTP1_RESP_ERR_NOMEM || sliced.rc == HO_HTTP1_RESP_ERR_NOMEM);
    ho_http1_resp_free(&r);
    free_outcome(&sliced);

    /* 3. A prefix, then EOF. */
    size_t cut = n > 0 ? seed % n : 0;
    outcome pre = {0};
    setup(&r, sel, &pre.s);
    pre.rc = ho_http1_resp_feed(&r, in, cut, &pre.used);
    if (pre.rc == HO_HTTP_INCOMPLETE)
        pre.rc = ho_http1_resp_finish(&r);
    if (pre.rc == HO_HTTP_COMPLETE)
        CHECK((complete_before_eof && pre.used == whole.used && same(&pre, &whole)) ||
              (framing == HO_HTTP1_BODY_CLOSE && r.framing == HO_HTTP1_BODY_CLOSE));
    else
        CHECK(pre.rc == HO_HTTP1_RESP_ERR_TRUNCATED || pre.rc == whole.rc || pre.rc == HO_HTTP1_RESP_ERR_NOMEM);
    ho_http1_resp_free(&r);
    free_outcome(&pre);
    free_outcome(&whole);
    return 0;
}
