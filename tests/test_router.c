/* Unit tests for src/http/router.c and src/http/response.c: matching
 * (exact, prefix, longest), HEAD on GET routes, 404/405/500, and the bytes
 * of response heads (everything but the Date value is compared exactly; the
 * Date is checked against the clock). */
#include "harness.h"
#include "handoff/http.h"

#include <time.h>

static ho_http_request req;

static int tag_handler(void *ctx, const ho_http_request *r, ho_http_response *resp)
{
    (void)r;
    resp->content_type = "text/plain";
    ho_put_bytes(resp->body, ctx, strlen(ctx));
    return HO_OK;
}

static int failing_handler(void *ctx, const ho_http_request *r, ho_http_response *resp)
{
    (void)ctx, (void)r;
    resp->content_type = "application/json";
    resp->content_encoding = "gzip";
    ho_put_bytes(resp->body, "partial", 7);
    return HO_ERR_INTERNAL;
}

/* Parses `text` into req, dispatches it and returns the response status;
 * *body gets the body as a string (in `out`). */
static int run(const ho_router *r, const char *text, ho_http_response *resp, ho_buf *scratch, char *body,
               size_t bodylen)
{
    size_t used;
    int rc = ho_http1_parse((const uint8_t *)text, strlen(text), NULL, &req, &used);
    if (rc != HO_HTTP_COMPLETE)
        return -rc;
    ho_http_response_reset(resp, scratch);
    ho_router_dispatch(r, &req, resp);
    size_t n;
    const uint8_t *p = ho_http_response_body(resp, &n);
    if (n >= bodylen)
        n = bodylen - 1;
    if (n > 0)
        memcpy(body, p, n);
    body[n] = '\0';
    return resp->status;
}

static void test_matching(void)
{
    ho_router *r = ho_router_new();
    CHECK(r != NULL);
    CHECK_EQ(ho_router_add(r, "GET", "/", tag_handler, "root"), HO_OK);
    CHECK_EQ(ho_router_add(r, "GET", "/static/", tag_handler, "static"), HO_OK);
    CHECK_EQ(ho_router_add(r, "GET", "/static/img/", tag_handler, "img"), HO_OK);
    CHECK_EQ(ho_router_add(r, "GET", "/exact", tag_handler, "exact-get"), HO_OK);
    CHECK_EQ(ho_router_add(r, "PUT", "/exact", tag_handler, "exact-put"), HO_OK);
    CHECK_EQ(ho_router_add(r, "POST", "/post", tag_handler, "post"), HO_OK);
    CHECK_EQ(ho_router_add(r, "HEAD", "/head", tag_handler, "head"), HO_OK);
    CHECK_EQ(ho_router_add(r, "GET", "/fail", failing_handler, NULL), HO_OK);
    /* Bad registrations. */
    CHECK_EQ(ho_router_add(r, "GET", "/exact", tag_handler, "again"), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_router_add(r, "GET", "nopath", tag_handler, NULL), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_router_add(r, "G T", "/x", tag_handler, NULL), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_router_add(r, "", "/x", tag_handler, NULL), HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_router_add(r, "GET", "/x", NULL, NULL), HO_ERR_INVALID_ARG);

    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;
    char body[128];
#define REQ(text) run(r, (text), &resp, &scratch, body, sizeof(body))
    CHECK_EQ(REQ("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK(strcmp(body, "root") == 0);
    CHECK_EQ(REQ("GET /anything/else HTTP/1.1\r\nHost: a\r\n\r\n"), 200); /* "/" is a prefix */
    CHECK(strcmp(body, "root") == 0);
    CHECK_EQ(REQ("GET /static/app.js HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK(strcmp(body, "static") == 0);
    CHECK_EQ(REQ("GET /static/img/x.webp?v=2 HTTP/1.1\r\nHost: a\r\n\r\n"), 200); /* longest wins */
    CHECK(strcmp(body, "img") == 0);
    CHECK_EQ(REQ("GET /static HTTP/1.1\r\nHost: a\r\n\r\n"), 200); /* not under /static/: root */
    CHECK(strcmp(body, "root") == 0);
    CHECK_EQ(REQ("GET /exact?q HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK(strcmp(body, "exact-get") == 0);
    CHECK_EQ(REQ("PUT /exact HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK(strcmp(body, "exact-put") == 0);
    CHECK_EQ(REQ("HEAD /exact HTTP/1.1\r\nHost: a\r\n\r\n"), 200); /* GET answers HEAD */
    CHECK(strcmp(body, "exact-get") == 0);
    CHECK_EQ(REQ("HEAD /head HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK(strcmp(body, "head") == 0);

    /* 405 with Allow: HEAD implied by GET, listed once. */
    CHECK_EQ(REQ("DELETE /exact HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    CHECK(resp.allow != NULL && strcmp(resp.allow, "GET, HEAD, PUT") == 0);
    CHECK(strcmp(body, "405 Method Not Allowed\n") == 0);
    CHECK_EQ(REQ("GET /post HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    CHECK(resp.allow != NULL && strcmp(resp.allow, "POST") == 0);
    CHECK_EQ(REQ("GET /head HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    CHECK(resp.allow != NULL && strcmp(resp.allow, "HEAD") == 0);
    CHECK_EQ(REQ("POST /static/x HTTP/1.1\r\nHost: a\r\n\r\n"), 405);
    CHECK(resp.allow != NULL && strcmp(resp.allow, "GET, HEAD") == 0);

    /* A failing handler: 500, whatever it had set is dropped. */
    CHECK_EQ(REQ("GET /fail HTTP/1.1\r\nHost: a\r\n\r\n"), 500);
    CHECK(strcmp(body, "500 Internal Server Error\n") == 0);
    CHECK(resp.content_encoding == NULL && strcmp(resp.content_type, "text/plain") == 0);
    CHECK(resp.allow == NULL);
    ho_router_free(r);

    /* Without a "/" route, unknown paths are 404s. */
    r = ho_router_new();
    CHECK_EQ(ho_router_add(r, "GET", "/exact", tag_handler, "exact"), HO_OK);
    CHECK_EQ(ho_router_add(r, "GET", "/dir/", tag_handler, "dir"), HO_OK);
    CHECK_EQ(REQ("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK(strcmp(body, "404 Not Found\n") == 0);
    CHECK(resp.allow == NULL);
    CHECK_EQ(REQ("GET /exact/ HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_EQ(REQ("GET /exac HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_EQ(REQ("GET /dir HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_EQ(REQ("GET /dir/ HTTP/1.1\r\nHost: a\r\n\r\n"), 200);
    CHECK_EQ(REQ("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 404);
    CHECK_EQ(REQ("DELETE /nope HTTP/1.1\r\nHost: a\r\n\r\n"), 404); /* path first, then method */
#undef REQ
    ho_router_free(r);
    ho_router_free(NULL);
    ho_buf_free(&scratch);
}

/* The Date value must be an IMF-fixdate for now (or the second before). */
static bool date_is_now(const char *value)
{
    time_t now = time(NULL);
    for (time_t t = now; t >= now - 2; t--) {
        struct tm tm;
        char want[64];
        gmtime_r(&t, &tm);
        strftime(want, sizeof(want), "%a, %d %b %Y %H:%M:%S GMT", &tm);
        if (strlen(value) == 29 && strcmp(value, want) == 0)
            return true;
    }
    fprintf(stderr, "  Date value: '%s'\n", value);
    return false;
}

/* Replaces each 29-byte Date value in out with "DATE" and checks it;
 * returns the bytes as a string (in buf). */
static const char *normalize(const ho_buf *out, char *buf, size_t buflen)
{
    size_t n = out->len < buflen - 1 ? out->len : buflen - 1;
    memcpy(buf, out->data, n);
    buf[n] = '\0';
    char *d = buf;
    while ((d = strstr(d, "\r\nDate: ")) != NULL && strlen(d + 8) >= 29) {
        d += 8;
        char value[30];
        memcpy(value, d, 29);
        value[29] = '\0';
        CHECK(date_is_now(value));
        memcpy(d, "DATE", 4);
        memmove(d + 4, d + 29, strlen(d + 29) + 1);
    }
    return buf;
}

static void test_heads(void)
{
    ho_buf out, scratch;
    ho_buf_init(&out);
    ho_buf_init(&scratch);
    char buf[1024];
    ho_http_response resp;

    ho_http_response_reset(&resp, &scratch);
    CHECK_EQ(resp.status, 200);
    CHECK(resp.content_type == NULL && resp.content_encoding == NULL && !resp.vary_accept_encoding);
    CHECK(resp.static_body == NULL && resp.allow == NULL && resp.body == &scratch);
    ho_put_bytes(&scratch, "{}", 2);
    size_t n;
    const uint8_t *p = ho_http_response_body(&resp, &n);
    CHECK(n == 2 && memcmp(p, "{}", 2) == 0);
    resp.content_type = "application/json";
    ho_http1_write_head(&out, &resp, n, 11, true);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 200 OK\r\nServer: handoff\r\nDate: DATE\r\nContent-Type: application/json\r\n"
                 "Content-Length: 2\r\n\r\n") == 0);

    /* Reset empties the scratch body; a static body wins. */
    ho_http_response_reset(&resp, &scratch);
    CHECK_EQ(scratch.len, 0);
    resp.static_body = (const uint8_t *)"static!";
    resp.static_len = 7;
    p = ho_http_response_body(&resp, &n);
    CHECK(n == 7 && memcmp(p, "static!", 7) == 0);
    resp.content_type = "application/javascript";
    resp.content_encoding = "br";
    resp.vary_accept_encoding = true;
    out.len = 0;
    ho_http1_write_head(&out, &resp, 47275, 11, false);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 200 OK\r\nServer: handoff\r\nDate: DATE\r\nContent-Type: application/javascript\r\n"
                 "Content-Encoding: br\r\nVary: Accept-Encoding\r\nContent-Length: 47275\r\n"
                 "Connection: close\r\n\r\n") == 0);

    /* HTTP/1.0 keep-alive is announced; the status line stays HTTP/1.1. */
    ho_http_response_reset(&resp, NULL);
    out.len = 0;
    ho_http1_write_head(&out, &resp, 0, 10, true);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 200 OK\r\nServer: handoff\r\nDate: DATE\r\nContent-Length: 0\r\n"
                 "Connection: keep-alive\r\n\r\n") == 0);
    out.len = 0;
    ho_http1_write_head(&out, &resp, 0, 10, false);
    CHECK(strstr(normalize(&out, buf, sizeof(buf)), "Connection: close\r\n") != NULL);

    /* 405 with Allow; 204 without Content-Length. */
    resp.status = 405;
    resp.allow = "GET, HEAD";
    out.len = 0;
    ho_http1_write_head(&out, &resp, 0, 11, true);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 405 Method Not Allowed\r\nServer: handoff\r\nDate: DATE\r\nAllow: GET, HEAD\r\n"
                 "Content-Length: 0\r\n\r\n") == 0);
    ho_http_response_reset(&resp, NULL);
    resp.status = 204;
    out.len = 0;
    ho_http1_write_head(&out, &resp, 0, 11, true);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)), "HTTP/1.1 204 No Content\r\nServer: handoff\r\nDate: DATE\r\n\r\n") == 0);
    /* An unknown status keeps its number, with an empty reason. */
    resp.status = 299;
    out.len = 0;
    ho_http1_write_head(&out, &resp, 5, 11, true);
    CHECK(strncmp(normalize(&out, buf, sizeof(buf)), "HTTP/1.1 299 \r\n", 15) == 0);

    /* Error responses, complete. */
    out.len = 0;
    ho_http1_write_error(&out, 404, 11, true);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 404 Not Found\r\nServer: handoff\r\nDate: DATE\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 14\r\n\r\n404 Not Found\n") == 0);
    out.len = 0;
    ho_http1_write_error(&out, 431, 11, false);
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 431 Request Header Fields Too Large\r\nServer: handoff\r\nDate: DATE\r\n"
                 "Content-Type: text/plain\r\nContent-Length: 36\r\nConnection: close\r\n\r\n"
                 "431 Request Header Fields Too Large\n") == 0);
    /* Heads append: two responses back to back (pipelining). */
    out.len = 0;
    ho_http1_write_error(&out, 400, 11, true);
    size_t first = out.len;
    ho_http1_write_error(&out, 400, 11, true);
    CHECK_EQ(out.len, 2 * first);
    CHECK(memcmp(out.data, out.data + first, first) == 0);
    CHECK(!out.failed);
    ho_buf_free(&out);
    ho_buf_free(&scratch);
}

/* Parse → dispatch → write, as the server does, for a pipelined pair. */
static void test_round_trip(void)
{
    ho_router *r = ho_router_new();
    CHECK_EQ(ho_router_add(r, "GET", "/hello", tag_handler, "hi"), HO_OK);
    const char *in = "GET /hello HTTP/1.1\r\nHost: a\r\n\r\nHEAD /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    ho_buf out, scratch;
    ho_buf_init(&out);
    ho_buf_init(&scratch);
    size_t off = 0, used;
    while (off < strlen(in) &&
           ho_http1_parse((const uint8_t *)in + off, strlen(in) - off, NULL, &req, &used) == HO_HTTP_COMPLETE) {
        ho_http_response resp;
        ho_http_response_reset(&resp, &scratch);
        ho_router_dispatch(r, &req, &resp);
        size_t n;
        const uint8_t *body = ho_http_response_body(&resp, &n);
        ho_http1_write_head(&out, &resp, n, req.version, req.keep_alive);
        if (!req.head)
            ho_put_bytes(&out, body, n);
        off += used;
    }
    CHECK_EQ(off, strlen(in));
    char buf[1024];
    /* The HEAD response has the GET head, Content-Length included, and no body. */
    CHECK(strcmp(normalize(&out, buf, sizeof(buf)),
                 "HTTP/1.1 200 OK\r\nServer: handoff\r\nDate: DATE\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 2\r\n\r\nhi"
                 "HTTP/1.1 200 OK\r\nServer: handoff\r\nDate: DATE\r\nContent-Type: text/plain\r\n"
                 "Content-Length: 2\r\nConnection: close\r\n\r\n") == 0);
    ho_buf_free(&out);
    ho_buf_free(&scratch);
    ho_router_free(r);
}

int main(void)
{
    RUN(test_matching);
    RUN(test_heads);
    RUN(test_round_trip);
    return ho_test_summary("test_router");
}
