/* Unit tests for src/http/h1.c: the strict HTTP/1.1 request parser, its
 * limits, hostile requests mapped to their statuses, pipelining, incremental
 * feeding, and the small helpers. */
#include "harness.h"
#include "handoff/http.h"

static ho_http_request req; /* large: keep it off the stack */

static int parse_n(const char *s, size_t n, const ho_http_limits *lim, size_t *used)
{
    size_t dummy;
    return ho_http1_parse((const uint8_t *)s, n, lim, &req, used != NULL ? used : &dummy);
}

static int parse(const char *s) { return parse_n(s, strlen(s), NULL, NULL); }

static bool str_is(ho_http_str s, const char *lit) { return ho_http_str_eq(s, lit); }

/* Every prefix of an input must give INCOMPLETE or the whole input's answer
 * (and COMPLETE only once the whole request is there). */
static bool prefixes_agree(const char *s, size_t n, const ho_http_limits *lim)
{
    size_t full_used = 0, used = 0;
    int full = parse_n(s, n, lim, &full_used);
    for (size_t k = 0; k < n; k++) {
        int rc = parse_n(s, k, lim, &used);
        if (rc == HO_HTTP_INCOMPLETE)
            continue;
        if (rc != full || (rc == HO_HTTP_COMPLETE && used != full_used)) {
            fprintf(stderr, "  prefix %zu of %zu gives %d, the whole %d\n", k, n, rc, full);
            return false;
        }
    }
    return true;
}

static void test_simple_get(void)
{
    const char *r = "GET /json/5?m=3&x HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    size_t used = 0;
    CHECK_EQ(parse_n(r, strlen(r), NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, strlen(r));
    CHECK(str_is(req.method, "GET"));
    CHECK(str_is(req.target, "/json/5?m=3&x"));
    CHECK(str_is(req.path, "/json/5"));
    CHECK(str_is(req.query, "m=3&x"));
    CHECK_EQ(req.version, 11);
    CHECK(str_is(req.host, "example.com"));
    CHECK_EQ(req.header_count, 2);
    CHECK(str_is(req.headers[1].name, "User-Agent") && str_is(req.headers[1].value, "t"));
    CHECK(req.keep_alive);
    CHECK(!req.head);
    CHECK_EQ(req.content_length, 0);
    CHECK(req.body == NULL);

    ho_http_str v;
    CHECK(ho_http_query_get(&req, "m", &v) && str_is(v, "3"));
    CHECK(ho_http_query_get(&req, "x", &v) && v.len == 0);
    CHECK(!ho_http_query_get(&req, "y", &v));
    CHECK(!ho_http_query_get(&req, "", &v));
    const ho_http_str *h = ho_http_header_get(&req, "user-agent");
    CHECK(h != NULL && str_is(*h, "t"));
    CHECK(ho_http_header_get(&req, "HOST") != NULL);
    CHECK(ho_http_header_get(&req, "Accept") == NULL);

    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.query.p == NULL && req.query.len == 0);
    CHECK(!ho_http_query_get(&req, "a", &v));
    CHECK_EQ(parse("GET /? HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.query.p != NULL && req.query.len == 0 && str_is(req.path, "/"));
    CHECK_EQ(parse("GET /a?b?c=d%20e HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(str_is(req.path, "/a") && str_is(req.query, "b?c=d%20e"));
    CHECK(ho_http_query_get(&req, "b?c", &v) && str_is(v, "d%20e"));
}

static void test_versions_and_persistence(void)
{
    CHECK_EQ(parse("GET / HTTP/1.0\r\n\r\n"), HO_HTTP_COMPLETE); /* no Host needed in 1.0 */
    CHECK_EQ(req.version, 10);
    CHECK(!req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.0\r\nConnection: , ,Keep-Alive\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(!req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, CLOSE\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(!req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nConnection: close\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(!req.keep_alive);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.keep_alive);
    CHECK_EQ(parse("HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.head);
    CHECK_EQ(parse("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(str_is(req.target, "*") && str_is(req.path, "*"));
    const char *methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};
    for (size_t k = 0; k < 7; k++) {
        char r[128];
        snprintf(r, sizeof(r), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", methods[k]);
        CHECK_EQ(parse(r), HO_HTTP_COMPLETE);
        CHECK(str_is(req.method, methods[k]));
    }
}

static void test_fields(void)
{
    const char *r = "GET / HTTP/1.1\r\nHost:   example.com:8080 \t\r\nX-Empty:\r\nX-Ws: \t \r\n"
                    "X-Inner: a  b\tc\r\nX-Obs: caf\xc3\xa9\r\n\r\n";
    CHECK_EQ(parse(r), HO_HTTP_COMPLETE);
    CHECK(str_is(req.host, "example.com:8080"));
    CHECK_EQ(req.header_count, 5);
    CHECK(req.headers[1].value.len == 0);
    CHECK(req.headers[2].value.len == 0);
    CHECK(str_is(req.headers[3].value, "a  b\tc"));
    CHECK(str_is(req.headers[4].value, "caf\xc3\xa9")); /* obs-text is allowed */
    /* An empty Host is valid (RFC 9112 §3.2). */
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost:\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.host.len == 0);
    CHECK_EQ(parse("GET / HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"), HO_HTTP_COMPLETE);
    /* Leading empty lines are skipped and consumed (RFC 9112 §2.2). */
    size_t used = 0;
    const char *lead = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK_EQ(parse_n(lead, strlen(lead), NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, strlen(lead));
    CHECK(str_is(req.method, "GET"));
}

static void test_bodies(void)
{
    const char *r = "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET";
    size_t used = 0, head = strlen(r) - 8;
    CHECK_EQ(parse_n(r, strlen(r), NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, head + 5);
    CHECK_EQ(req.content_length, 5);
    CHECK(req.body != NULL && memcmp(req.body, "hello", 5) == 0);
    CHECK_EQ(parse_n(r, head + 4, NULL, &used), HO_HTTP_INCOMPLETE);
    CHECK_EQ(used, head + 5); /* head complete: the size the request will have */
    CHECK_EQ(parse_n(r, head - 3, NULL, &used), HO_HTTP_INCOMPLETE);
    CHECK_EQ(used, 0);        /* head incomplete: unknown */
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.body == NULL);
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 003\r\n\r\nabc"),
             HO_HTTP_COMPLETE);
    CHECK_EQ(req.content_length, 3);
    ho_http_limits lim;
    ho_http_limits_default(&lim);
    CHECK_EQ(lim.max_body, 1024 * 1024);
    char big[128];
    snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 1024 * 1024);
    CHECK_EQ(parse(big), HO_HTTP_INCOMPLETE); /* exactly max_body: allowed, waiting */
    snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 1024 * 1024 + 1);
    CHECK_EQ(parse(big), 413);
}

/* RFC 9112 §3.2.2: absolute-form is accepted; its authority replaces Host. */
static void test_absolute_form(void)
{
    CHECK_EQ(parse("GET http://example.com:8080/json/3?m=2 HTTP/1.1\r\nHost: other\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(str_is(req.path, "/json/3"));
    CHECK(str_is(req.query, "m=2"));
    CHECK(str_is(req.host, "example.com:8080"));
    CHECK(str_is(req.target, "http://example.com:8080/json/3?m=2"));
    CHECK_EQ(parse("GET HTTPS://a HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(str_is(req.path, "/")); /* empty path means "/" */
    CHECK(str_is(req.host, "a"));
    CHECK_EQ(parse("GET http://a?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(str_is(req.path, "/"));
    CHECK(str_is(req.query, "x=1"));
    /* Host is still required in HTTP/1.1 (§3.2). */
    CHECK_EQ(parse("GET http://a/ HTTP/1.1\r\n\r\n"), 400);
}

static void test_pipelining(void)
{
    const char *in = "GET /a HTTP/1.1\r\nHost: a\r\n\r\n"
                     "POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi"
                     "HEAD /c?d=1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    const char *paths[3] = {"/a", "/b", "/c"};
    size_t off = 0, n = strlen(in), count = 0;
    while (off < n) {
        size_t used = 0;
        int rc = parse_n(in + off, n - off, NULL, &used);
        CHECK_EQ(rc, HO_HTTP_COMPLETE);
        if (rc != HO_HTTP_COMPLETE || count >= 3)
            break;
        CHECK(str_is(req.path, paths[count]));
        off += used;
        count++;
    }
    CHECK_EQ(count, 3);
    CHECK_EQ(off, n);
    CHECK(req.head && !req.keep_alive);
}

static void test_incremental(void)
{
    const char *in = "\r\nPOST /items?id=7 HTTP/1.1\r\nHost: shop.example\r\nContent-Type: text/plain\r\n"
                     "Content-Length: 11\r\nConnection: keep-alive\r\n\r\nhello world";
    size_t n = strlen(in), used = 0;
    bool all_incomplete = true;
    for (size_t k = 0; k < n; k++)
        if (parse_n(in, k, NULL, &used) != HO_HTTP_INCOMPLETE)
            all_incomplete = false;
    CHECK(all_incomplete);
    CHECK_EQ(parse_n(in, n, NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, n);
    CHECK(req.body != NULL && memcmp(req.body, "hello world", 11) == 0);
    CHECK_EQ(parse_n(NULL, 0, NULL, &used), HO_HTTP_INCOMPLETE);
    CHECK_EQ(parse(""), HO_HTTP_INCOMPLETE);
    CHECK_EQ(parse("\r\n\r\n\r"), HO_HTTP_INCOMPLETE);
}

static void test_limits(void)
{
    ho_http_limits lim;
    ho_http_limits_default(&lim);
    CHECK_EQ(lim.max_request_line, 8192);
    CHECK_EQ(lim.max_header_bytes, 16384);
    CHECK_EQ(lim.max_headers, 64);

    /* 414 while the line is still arriving, and once it is complete. */
    static char buf[40000];
    memcpy(buf, "GET /", 5);
    memset(buf + 5, 'a', 9000);
    CHECK_EQ(parse_n(buf, 5 + 9000, NULL, NULL), 414);
    strcpy(buf + 5 + 9000, " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK_EQ(parse(buf), 414);
    /* A line of exactly max_request_line bytes (CRLF included) passes. */
    lim.max_request_line = 32;
    const char *line32 = "GET /aaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: a\r\n\r\n"; /* 30 + CRLF = 32 */
    CHECK_EQ(parse_n(line32, strlen(line32), &lim, NULL), HO_HTTP_COMPLETE);
    lim.max_request_line = 31;
    CHECK_EQ(parse_n(line32, strlen(line32), &lim, NULL), 414);
    CHECK_EQ(parse_n(line32, 31, &lim, NULL), 414);
    CHECK_EQ(parse_n(line32, 30, &lim, NULL), HO_HTTP_INCOMPLETE);
    ho_http_limits_default(&lim);

    /* 431: a head over max_header_bytes, before its end has arrived. */
    size_t n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    static char value[401];
    memset(value, 'v', 400);
    int fillers = 0;
    while (n < 17000) {
        n += (size_t)sprintf(buf + n, "X-Filler-%d: %s\r\n", fillers, value);
        fillers++;
    }
    CHECK(fillers < 64); /* the byte limit, not the count, is what trips */
    CHECK_EQ(parse_n(buf, n, NULL, NULL), 431);
    CHECK_EQ(parse_n(buf, 16384, NULL, NULL), 431);
    CHECK_EQ(parse_n(buf, 16383, NULL, NULL), HO_HTTP_INCOMPLETE);
    /* 431: too many fields, also while incomplete. */
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int k = 0; k < 64; k++)
        n += (size_t)sprintf(buf + n, "X-%d: v\r\n", k);
    CHECK_EQ(parse_n(buf, n, NULL, NULL), 431);
    n -= strlen("X-63: v\r\n"); /* Host + 63 = 64 fields */
    strcpy(buf + n, "\r\n");
    CHECK_EQ(parse(buf), HO_HTTP_COMPLETE);
    CHECK_EQ(req.header_count, 64);
    /* max_headers above the array is clamped to HO_HTTP_MAX_HEADERS. */
    lim.max_headers = 1000;
    n = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\n");
    for (int k = 0; k < HO_HTTP_MAX_HEADERS; k++)
        n += (size_t)sprintf(buf + n, "X-%d: v\r\n", k);
    strcpy(buf + n, "\r\n");
    CHECK_EQ(parse_n(buf, n + 2, &lim, NULL), 431);
    /* Leading empty lines count towards the head limit. */
    ho_http_limits_default(&lim);
    lim.max_header_bytes = 64;
    for (n = 0; n < 80; n += 2)
        memcpy(buf + n, "\r\n", 2);
    CHECK_EQ(parse_n(buf, n, &lim, NULL), 431);
    CHECK_EQ(parse_n(buf, 62, &lim, NULL), HO_HTTP_INCOMPLETE);
    /* Small limits end to end. */
    ho_http_limits small = {.max_request_line = 64, .max_header_bytes = 128, .max_headers = 2, .max_body = 4};
    const char *two = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n";
    const char *three = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB";
    const char *body5 = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n";
    CHECK_EQ(parse_n(two, strlen(two), &small, NULL), HO_HTTP_COMPLETE);
    CHECK_EQ(parse_n(three, strlen(three), &small, NULL), 431);
    CHECK_EQ(parse_n(body5, strlen(body5), &small, NULL), 413);
}

typedef struct hostile {
    const char *in;
    size_t len; /* 0: strlen */
    int want;
} hostile;

#define H11 " HTTP/1.1\r\nHost: a\r\n"
#define NUL_CASE(lit, want) {lit, sizeof(lit) - 1, want}
#define TE "Transfer-Encoding: chunked\r\n\r\n"
static const hostile hostile_cases[] = {
    /* request line */
    {"GET  /" H11 "\r\n", 0, 400},                          /* two SPs */
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 0, 400},         /* two SPs before the version */
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, 400},         /* trailing SP */
    {"GET\t/" H11 "\r\n", 0, 400},                          /* HTAB separator */
    {" GET /" H11 "\r\n", 0, 400},                          /* empty method */
    {"GE(T /" H11 "\r\n", 0, 400},                          /* non-token method */
    {"GET\r\n\r\n", 0, 400},                                /* no target */
    {"GET /\r\n\r\n", 0, 400},                              /* HTTP/0.9 */
    {"GET foo" H11 "\r\n", 0, 400},                         /* not origin-form */
    {"GET ftp://a/" H11 "\r\n", 0, 400},                    /* absolute-form, not http(s) */
    {"GET http:///x" H11 "\r\n", 0, 400},                   /* absolute-form without a host */
    {"GET http://a b/" H11 "\r\n", 0, 400},
    {"CONNECT a:443" H11 "\r\n", 0, 400},                   /* authority-form */
    {"GET *" H11 "\r\n", 0, 400},                           /* asterisk-form for GET */
    {"OPTIONS *x" H11 "\r\n", 0, 400},
    {"GET /a#frag" H11 "\r\n", 0, 400},                     /* fragment */
    {"GET /a\"b" H11 "\r\n", 0, 400},
    {"GET /<script>" H11 "\r\n", 0, 400},
    {"GET /%zz" H11 "\r\n", 0, 400},                        /* bad pct-encoding */
    {"GET /%2" H11 "\r\n", 0, 400},
    {"GET /caf\xc3\xa9" H11 "\r\n", 0, 400},                /* raw non-ASCII */
    {"GET /a\x7f" H11 "\r\n", 0, 400},
    NUL_CASE("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n", 400),     /* NUL in target */
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 0, 400},          /* version is case-sensitive */
    {"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", 0, 400},
    {"GET / HTTP/11\r\nHost: a\r\n\r\n", 0, 400},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 0, 400},
    {"GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 0, 400},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, 400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, 505},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, 505},
    {"GET / HTTP/0.9\r\nHost: a\r\n\r\n", 0, 505},
    {"GET / HTTP/3.0\r\n\r\n", 0, 505},
    {"BREW /pot" H11 "\r\n", 0, 501},                       /* unknown method */
    {"get /" H11 "\r\n", 0, 501},                           /* methods are case-sensitive */
    {"TRACE /" H11 "\r\n", 0, 501},
    {"CONNECT a:443" H11 "\r\n", 0, 400},                   /* authority-form */
    /* line endings */
    {"GET / HTTP/1.1\nHost: a\n\n", 0, 400},                /* bare LF */
    {"GET / HTTP/1.1\r\nHost: a\r\n\n", 0, 400},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", 0, 400},            /* bare CR */
    {"GET / HTTP/1.1\r\nHost: a\r\n\rX", 0, 400},
    {"\nGET /" H11 "\r\n", 0, 400},                         /* leading bare LF */
    {"\r\rGET /" H11 "\r\n", 0, 400},
    /* field lines */
    {"GET /" H11 "X : y\r\n\r\n", 0, 400},                  /* SP before ':' (§5.1) */
    {"GET /" H11 "X\t: y\r\n\r\n", 0, 400},
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, 400},
    {"GET /" H11 "X: y\r\n continued\r\n\r\n", 0, 400},     /* obs-fold (§5.2) */
    {"GET /" H11 "X: y\r\n\tcontinued\r\n\r\n", 0, 400},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, 400},         /* SP after the start-line */
    {"GET /" H11 ": y\r\n\r\n", 0, 400},                    /* empty name */
    {"GET /" H11 "X@Y: z\r\n\r\n", 0, 400},                 /* non-token name */
    {"GET /" H11 "X\xc3\xa9: z\r\n\r\n", 0, 400},
    {"GET /" H11 "NoColon\r\n\r\n", 0, 400},
    NUL_CASE("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 400),  /* NUL in a value */
    {"GET /" H11 "X: a\rb\r\n\r\n", 0, 400},                /* bare CR in a value */
    {"GET /" H11 "X: a\nSet-Cookie: evil\r\n\r\n", 0, 400}, /* header injection by bare LF */
    {"GET /" H11 "X: a\x7f\r\n\r\n", 0, 400},               /* DEL */
    {"GET /" H11 "X: a\x1b[0m\r\n\r\n", 0, 400},            /* ESC */
    /* Host */
    {"GET / HTTP/1.1\r\n\r\n", 0, 400},                     /* missing in HTTP/1.1 */
    {"GET /" H11 "Host: b\r\n\r\n", 0, 400},                /* twice */
    {"GET /" H11 "host: a\r\n\r\n", 0, 400},                /* twice, any case */
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, 400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, 400},
    {"GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 0, 400},
    /* framing */
    {"POST /" H11 "Content-Length: abc\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: -1\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: +1\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: 0x10\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: 1 2\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: 1, 1\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length:\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: 99999999999999999999999\r\n\r\n", 0, 400},  /* overflow */
    {"POST /" H11 "Content-Length: 18446744073709551615\r\n\r\n", 0, 413},
    {"POST /" H11 "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", 0, 400},
    {"POST /" H11 "Content-Length: 2000000\r\n\r\n", 0, 413},
    {"POST /" H11 "transfer-encoding: identity\r\n\r\n", 0, 400},  /* chunked not final (§6.1) */
    {"POST /" H11 "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 0, 501},
    {"POST /" H11 "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 501},
    {"POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 0, 400},
    {"POST /" H11 "Transfer-Encoding: chunked, chunked\r\n\r\n", 0, 400},
    {"POST /" H11 "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},
    {"POST /" H11 "Transfer-Encoding: chunked;q=1\r\n\r\n", 0, 400},
    {"POST /" H11 "Transfer-Encoding:\r\n\r\n", 0, 400},
    {"POST /" H11 "Transfer-Encoding: ,\r\n\r\n", 0, 400},
    {"POST /" H11 "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},  /* smuggling */
    {"POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 0, 400},
    {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 0, 400},  /* faulty framing (§6.1) */
    /* chunked bodies (RFC 9112 §7.1) */
    {"POST /" H11 TE "g\r\n", 0, 400},                     /* non-hex size */
    {"POST /" H11 TE "\r\n", 0, 400},                      /* empty size */
    {"POST /" H11 TE "-5\r\n", 0, 400},
    {"POST /" H11 TE "+5\r\n", 0, 400},
    {"POST /" H11 TE "0x5\r\n", 0, 400},
    {"POST /" H11 TE "5\nhello\r\n0\r\n\r\n", 0, 400},     /* bare LF after the size */
    {"POST /" H11 TE "5\rhello\r\n0\r\n\r\n", 0, 400},     /* bare CR */
    {"POST /" H11 TE "5\r\nhello\n0\r\n\r\n", 0, 400},     /* bare LF after the data */
    {"POST /" H11 TE "5\r\nhelloX0\r\n\r\n", 0, 400},       /* data without CRLF */
    {"POST /" H11 TE "5\r\nhello!\r\n0\r\n\r\n", 0, 400}, /* data longer than its size */
    {"POST /" H11 TE "5\r\nhell\r\n0\r\n\r\n\r\n", 0, 400}, /* shorter */
    {"POST /" H11 TE "5 \r\nhello\r\n0\r\n\r\n", 0, 400}, /* whitespace, no extension */
    {"POST /" H11 TE "5;\r\nhello\r\n0\r\n\r\n", 0, 400}, /* ';' without a name */
    {"POST /" H11 TE "5;=x\r\nhello\r\n0\r\n\r\n", 0, 400},
    {"POST /" H11 TE "5;a=\r\nhello\r\n0\r\n\r\n", 0, 400}, /* '=' without a value */
    {"POST /" H11 TE "5;a=\"x\r\nhello\r\n0\r\n\r\n", 0, 400}, /* unterminated quote */
    {"POST /" H11 TE "5;a=b c\r\nhello\r\n0\r\n\r\n", 0, 400},
    {"POST /" H11 TE "5;a@b\r\nhello\r\n0\r\n\r\n", 0, 400},
    NUL_CASE("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;a=\"\0\"\r\n", 400),
    {"POST /" H11 TE "0\r\nX: y\r\n z\r\n\r\n", 0, 400},  /* obs-fold in a trailer */
    {"POST /" H11 TE "0\r\nX : y\r\n\r\n", 0, 400},
    {"POST /" H11 TE "0\r\nX: y\n\r\n", 0, 400},           /* bare LF in a trailer */
    {"POST /" H11 TE "0\r\n\n", 0, 400},
    {"POST /" H11 TE "ffffffffffffffffffff\r\n", 0, 413},   /* 80 bits */
    {"POST /" H11 TE "10000000000000000\r\n", 0, 413},      /* 2^64 */
    {"POST /" H11 TE "100001\r\n", 0, 413},                 /* 1 MiB + 1 */
    {"POST /" H11 TE "80000\r\n", 0, HO_HTTP_INCOMPLETE},   /* 512 KiB: allowed, data awaited */
    {"POST /" H11 TE "3\r\nab\r\n0\r\n\r\n", 0, 400},      /* a chunk one byte short */
    /* valid chunked, for contrast */
    {"POST /" H11 TE "0\r\n\r\n", 0, HO_HTTP_COMPLETE},
    {"POST /" H11 TE "000\r\n\r\n", 0, HO_HTTP_COMPLETE},
    {"POST /" H11 TE "A;x;y=\"a\\\"b\" ; z = t\r\n0123456789\r\n0;e\r\nT: 1\r\n\r\n", 0, HO_HTTP_COMPLETE},
    /* valid, for contrast */
    {"POST /" H11 "Content-Length: 2\r\ncontent-length: 2\r\n\r\nab", 0, HO_HTTP_COMPLETE},
    {"GET /a/b;c=d/e~f:g@h!$&'()*+,=?x=/?y" H11 "\r\n", 0, HO_HTTP_COMPLETE},
};

#undef TE

/* Chunked request bodies (RFC 9112 §7.1): decoding with extensions and
 * trailers, fed a byte at a time, pipelining after them, and the limits. */
static void test_chunked(void)
{
    static const char r[] = "POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "5;a=b;c=\"d\\\"e\"\r\nhello\r\n"
                            "3 ; x\t;y = z\r\nabc\r\n"
                            "01A\r\n0123456789abcdefghijklmnop\r\n"
                            "0;last\r\nX-T: 1\r\nX-U: two\r\n\r\n";
    size_t n = sizeof(r) - 1, used = 0;
    CHECK_EQ(parse_n(r, n, NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, n);
    CHECK(req.chunked);
    CHECK_EQ(req.content_length, 5 + 3 + 26);
    CHECK(req.body == NULL); /* still encoded */
    CHECK_EQ(req.header_count, 2); /* trailers are not headers */
    char buf[sizeof(r)];
    memcpy(buf, r, sizeof(r));
    CHECK_EQ(ho_http1_parse((const uint8_t *)buf, n, NULL, &req, &used), HO_HTTP_COMPLETE);
    ho_http1_decode_body((uint8_t *)buf, &req);
    CHECK(req.body != NULL && memcmp(req.body, "helloabc0123456789abcdefghijklmnop", 34) == 0);
    CHECK(str_is(req.path, "/upload") && str_is(req.headers[1].value, "chunked"));

    /* Byte by byte: INCOMPLETE until the last byte, and a body hint never
     * past the request's end (so a caller waiting for it does not stall). */
    for (size_t k = 0; k < n; k++) {
        CHECK_EQ(parse_n(r, k, NULL, &used), HO_HTTP_INCOMPLETE);
        CHECK(used <= n);
    }
    CHECK(prefixes_agree(r, n, NULL));

    /* Pipelined: the request after a chunked body parses from where it ends. */
    char two[sizeof(r) + 64];
    int len2 = snprintf(two, sizeof(two), "%sGET /next HTTP/1.1\r\nHost: a\r\n\r\n", r);
    CHECK_EQ(parse_n(two, (size_t)len2, NULL, &used), HO_HTTP_COMPLETE);
    CHECK_EQ(used, n);
    CHECK_EQ(parse_n(two + used, (size_t)len2 - used, NULL, &used), HO_HTTP_COMPLETE);
    CHECK(str_is(req.path, "/next") && !req.chunked && req.body == NULL);

    /* An empty chunked body. */
    CHECK_EQ(parse("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), HO_HTTP_COMPLETE);
    CHECK(req.chunked && req.content_length == 0 && req.body == NULL);

    /* max_body counts decoded bytes: 4 is fine, 5 is 413 at the size. */
    ho_http_limits lim;
    ho_http_limits_default(&lim);
    lim.max_body = 4;
    static const char four[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\nab\r\n2\r\ncd\r\n0\r\n\r\n";
    CHECK_EQ(parse_n(four, sizeof(four) - 1, &lim, NULL), HO_HTTP_COMPLETE);
    static const char five[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "2\r\nab\r\n3\r\n";
    CHECK_EQ(parse_n(five, sizeof(five) - 1, &lim, NULL), 413);
    CHECK(prefixes_agree(five, sizeof(five) - 1, &lim));
    /* A chunk size at the edge of 64 bits with no body limit: no overflow. */
    lim.max_body = UINT64_MAX;
    static const char huge[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "ffffffffffffffff\r\n";
    CHECK_EQ(parse_n(huge, sizeof(huge) - 1, &lim, &used), HO_HTTP_INCOMPLETE);
    static const char over[] = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "1\r\nx\r\nffffffffffffffff\r\n";
    CHECK_EQ(parse_n(over, sizeof(over) - 1, &lim, &used), 413);

    /* Framing limits: chunk lines over 1024 bytes (400), all framing over
     * max_header_bytes (413), trailers over it or too many (431). */
    ho_http_limits_default(&lim);
    static char big[40000];
    int off = snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;x=");
    memset(big + off, 'v', 1100);
    memcpy(big + off + 1100, "\r\nhello\r\n0\r\n\r\n", 14);
    CHECK_EQ(parse_n(big, (size_t)off + 1114, NULL, NULL), 400);
    off = snprintf(big, sizeof(big), "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n");
    size_t p = (size_t)off;
    for (int k = 0; k < 4000; k++) { /* 1-byte chunks: 5 framing bytes each */
        memcpy(big + p, "1\r\nx\r\n", 6);
        p += 6;
    }
    CHECK_EQ(parse_n(big, p, NULL, NULL), 413);
    lim.max_header_bytes = 100000;
    memcpy(big + p, "0\r\n\r\n", 5);
    CHECK_EQ(parse_n(big, p + 5, &lim, NULL), HO_HTTP_COMPLETE);
    CHECK_EQ(req.content_length, 4000);
    ho_http_limits_default(&lim);
    p = (size_t)off;
    memcpy(big + p, "0\r\n", 3);
    p += 3;
    for (int k = 0; k < 20; k++)
        p += (size_t)snprintf(big + p, sizeof(big) - p, "X-%d: %01000d\r\n", k, 0);
    memcpy(big + p, "\r\n", 2);
    CHECK_EQ(parse_n(big, p + 2, NULL, NULL), 431); /* 20 KB of trailers */
    p = (size_t)off + 3;
    for (int k = 0; k < 70; k++)
        p += (size_t)snprintf(big + p, sizeof(big) - p, "X-%d: v\r\n", k);
    memcpy(big + p, "\r\n", 2);
    CHECK_EQ(parse_n(big, p + 2, NULL, NULL), 431); /* 70 trailer fields */
}

static void test_hostile(void)
{
    size_t n = sizeof(hostile_cases) / sizeof(hostile_cases[0]);
    CHECK(n >= 30);
    for (size_t k = 0; k < n; k++) {
        const hostile *h = &hostile_cases[k];
        size_t len = h->len ? h->len : strlen(h->in);
        int rc = parse_n(h->in, len, NULL, NULL);
        if (rc != h->want)
            fprintf(stderr, "  hostile case %zu: got %d, want %d\n", k, rc, h->want);
        CHECK_EQ(rc, h->want);
        CHECK(prefixes_agree(h->in, len, NULL));
    }
}

static void test_helpers(void)
{
    int64_t v = 0;
    struct { const char *s; bool ok; int64_t v; } ints[] = {
        {"0", true, 0}, {"42", true, 42}, {"-7", true, -7}, {"-0", true, 0},
        {"9223372036854775807", true, INT64_MAX}, {"-9223372036854775808", true, INT64_MIN},
        {"9223372036854775808", false, 0}, {"-9223372036854775809", false, 0},
        {"", false, 0}, {"-", false, 0}, {"+1", false, 0}, {" 1", false, 0}, {"1 ", false, 0},
        {"1a", false, 0}, {"0x1", false, 0}, {"--1", false, 0},
    };
    for (size_t k = 0; k < sizeof(ints) / sizeof(ints[0]); k++) {
        ho_http_str s = {ints[k].s, strlen(ints[k].s)};
        bool ok = ho_http_str_to_i64(s, &v);
        CHECK(ok == ints[k].ok);
        if (ok && ints[k].ok)
            CHECK(v == ints[k].v);
    }
    ho_http_str s = {"abc", 3}, empty = {NULL, 0};
    CHECK(ho_http_str_eq(s, "abc"));
    CHECK(!ho_http_str_eq(s, "ab"));
    CHECK(!ho_http_str_eq(s, "abcd"));
    CHECK(!ho_http_str_eq(s, "ABC"));
    CHECK(ho_http_str_eq(empty, ""));
    CHECK(strcmp(ho_http_reason(200), "OK") == 0);
    CHECK(strcmp(ho_http_reason(404), "Not Found") == 0);
    CHECK(strcmp(ho_http_reason(405), "Method Not Allowed") == 0);
    CHECK(strcmp(ho_http_reason(413), "Content Too Large") == 0);
    CHECK(strcmp(ho_http_reason(414), "URI Too Long") == 0);
    CHECK(strcmp(ho_http_reason(431), "Request Header Fields Too Large") == 0);
    CHECK(strcmp(ho_http_reason(501), "Not Implemented") == 0);
    CHECK(strcmp(ho_http_reason(505), "HTTP Version Not Supported") == 0);
    CHECK(strcmp(ho_http_reason(299), "") == 0);
}

static void test_prefix_property(void)
{
    const char *valid[] = {
        "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        "\r\n\r\nPOST /x?y=1 HTTP/1.0\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\nbody",
        "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
    };
    for (size_t k = 0; k < 3; k++)
        CHECK(prefixes_agree(valid[k], strlen(valid[k]), NULL));
    ho_http_limits small = {.max_request_line = 20, .max_header_bytes = 40, .max_headers = 1, .max_body = 2};
    for (size_t k = 0; k < 3; k++)
        CHECK(prefixes_agree(valid[k], strlen(valid[k]), &small));
}

int main(void)
{
    RUN(test_simple_get);
    RUN(test_versions_and_persistence);
    RUN(test_fields);
    RUN(test_bodies);
    RUN(test_absolute_form);
    RUN(test_pipelining);
    RUN(test_incremental);
    RUN(test_limits);
    RUN(test_chunked);
    RUN(test_hostile);
    RUN(test_helpers);
    RUN(test_prefix_property);
    return ho_test_summary("test_http1");
}
