/* Unit tests for the demo application (apps/arena.c, apps/json.c) and the library's static files (src/http/static.c): the HttpArena
 * dataset (shared file, built-in fallback, load errors), /json/{count}?m=
 * checked item by item against the suite's validation rules, /baseline2,
 * /static with .br/.gz selection and traversal attempts, a document root at /
 * (nested files, index.html, precedence of the routes, traversal, symbolic
 * links and hidden files skipped), and the strict JSON reader. */
#include "harness.h"
#include "handoff/http.h"
#include "arena.h"
#include "json.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static ho_http_request req;
static char dataset_path[4096], static_path[4096];

/* Runs one request through the router; returns the status (negative: the
 * parser refused the request). */
static int run(const ho_router *r, const char *text, ho_http_response *resp, ho_buf *scratch)
{
    size_t used;
    int rc = ho_http1_parse((const uint8_t *)text, strlen(text), NULL, &req, &used);
    if (rc != HO_HTTP_COMPLETE)
        return -rc;
    ho_http_response_reset(resp, scratch);
    ho_router_dispatch(r, &req, resp);
    return resp->status;
}

static int get(const ho_router *r, const char *target, const char *extra, ho_http_response *resp, ho_buf *scratch)
{
    char text[1024];
    snprintf(text, sizeof(text), "GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n", target, extra ? extra : "");
    return run(r, text, resp, scratch);
}

static bool body_is(const ho_http_response *resp, const char *want)
{
    size_t n;
    const uint8_t *p = ho_http_response_body(resp, &n);
    return n == strlen(want) && (n == 0 || memcmp(p, want, n) == 0);
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = malloc((size_t)n + 1);
    *len = fread(p, 1, (size_t)n, f);
    fclose(f);
    return p;
}

/* Checks a /json body against the dataset the way the suite validates it:
 * "count" matches, each item carries the dataset's fields in order and
 * total == price*quantity*m. The body's items are read back with our own
 * dataset parser (which skips the unknown key "total"); the totals are
 * found in order by scanning. */
static void check_json_body(const ho_http_response *resp, const arena_dataset *ds, size_t count, int64_t m)
{
    size_t n;
    const char *body = (const char *)ho_http_response_body(resp, &n);
    CHECK(n > 20 && memcmp(body, "{\"items\":[", 10) == 0);
    char tail[64];
    int tl = snprintf(tail, sizeof(tail), "],\"count\":%zu}", count);
    CHECK(n >= (size_t)tl && memcmp(body + n - (size_t)tl, tail, (size_t)tl) == 0);
    arena_dataset back;
    char err[128] = "";
    int rc = json_dataset_parse(body + 9, n - 9 - (size_t)tl + 1, &back, err, sizeof(err));
    CHECK_EQ(rc, HO_OK);
    if (rc != HO_OK) {
        fprintf(stderr, "  re-parse: %s\n", err);
        return;
    }
    CHECK_EQ(back.count, count);
    const char *scan = body;
    for (size_t k = 0; k < back.count && k < ds->count; k++) {
        const arena_item *a = &back.items[k], *b = &ds->items[k];
        bool same = strcmp(a->id.p, b->id.p) == 0 && strcmp(a->name.p, b->name.p) == 0 &&
                    strcmp(a->category.p, b->category.p) == 0 && a->price == b->price &&
                    a->quantity == b->quantity && a->active == b->active && a->tag_count == b->tag_count &&
                    strcmp(a->score.p, b->score.p) == 0 && strcmp(a->count.p, b->count.p) == 0;
        for (size_t t = 0; same && t < a->tag_count; t++)
            same = strcmp(a->tags[t].p, b->tags[t].p) == 0;
        CHECK(same);
        scan = strstr(scan, "\"total\":");
        CHECK(scan != NULL);
        if (scan == NULL)
            break;
        scan += 8;
        long long total = strtoll(scan, NULL, 10);
        CHECK_EQ(total, b->price * b->quantity * m);
    }
    json_dataset_free(&back);
}

static void test_shared_dataset(void)
{
    char err[256] = "";
    app_arena *a = app_arena_new(dataset_path, static_path, err, sizeof(err));
    CHECK(a != NULL);
    if (a == NULL) {
        fprintf(stderr, "  app_arena_new: %s\n", err);
        return;
    }
    CHECK_EQ(app_arena_item_count(a), 50);
    CHECK(strcmp(app_arena_dataset_source(a), dataset_path) == 0);

    /* The dataset as the test reads it, for comparison. */
    size_t len;
    uint8_t *text = slurp(dataset_path, &len);
    arena_dataset ds;
    CHECK(text != NULL && json_dataset_parse((const char *)text, len, &ds, err, sizeof(err)) == HO_OK);
    free(text);
    CHECK_EQ(ds.count, 50);

    ho_router *r = ho_router_new();
    CHECK_EQ(app_arena_register(a, r), HO_OK);
    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;

    /* The suite's validation pairs, and its load pairs. */
    const int pairs[][2] = {{7, 2}, {23, 11}, {50, 1}, {1, 3}, {5, 7}, {10, 2}, {15, 5}, {25, 4}, {40, 8}, {50, 6}};
    for (size_t k = 0; k < sizeof(pairs) / sizeof(pairs[0]); k++) {
        char target[64];
        snprintf(target, sizeof(target), "/json/%d?m=%d", pairs[k][0], pairs[k][1]);
        CHECK_EQ(get(r, target, NULL, &resp, &scratch), 200);
        CHECK(resp.content_type != NULL && strcmp(resp.content_type, "application/json") == 0);
        check_json_body(&resp, &ds, (size_t)pairs[k][0], pairs[k][1]);
    }
    /* The first item, byte for byte (from the file: id 1, Alpha Widget). */
    CHECK_EQ(get(r, "/json/1?m=2", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "{\"items\":[{\"id\":1,\"name\":\"Alpha Widget\",\"category\":\"electronics\",\"price\":328,"
                         "\"quantity\":15,\"active\":true,\"tags\":[\"sale\",\"heavy-duty\",\"popular\"],"
                         "\"rating\":{\"score\":48,\"count\":53},\"total\":9840}],\"count\":1}"));
    /* count is clamped; m defaults to 1; 0 items is a valid answer. */
    CHECK_EQ(get(r, "/json/100?m=1", NULL, &resp, &scratch), 200);
    check_json_body(&resp, &ds, 50, 1);
    CHECK_EQ(get(r, "/json/3", NULL, &resp, &scratch), 200);
    check_json_body(&resp, &ds, 3, 1);
    CHECK_EQ(get(r, "/json/0?m=5", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "{\"items\":[],\"count\":0}"));
    CHECK_EQ(get(r, "/json/2?x=1&m=-3", NULL, &resp, &scratch), 200);
    check_json_body(&resp, &ds, 2, -3);
    /* Refused parameters. */
    const char *bad[] = {"/json/", "/json/abc?m=1", "/json/-1?m=1", "/json/5?m=x", "/json/5?m=", "/json/5/6?m=1",
                         "/json/1?m=9223372036854775807", "/json/99999999999999999999?m=1", "/json/%35?m=1"};
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        CHECK_EQ(get(r, bad[k], NULL, &resp, &scratch), 400);
        CHECK(body_is(&resp, "400 Bad Request\n"));
    }
    CHECK_EQ(get(r, "/json", NULL, &resp, &scratch), 404);
    CHECK_EQ(run(r, "POST /json/3 HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", &resp, &scratch), 405);
    CHECK(resp.allow != NULL && strcmp(resp.allow, "GET, HEAD") == 0);
    CHECK_EQ(run(r, "HEAD /json/3?m=1 HTTP/1.1\r\nHost: a\r\n\r\n", &resp, &scratch), 200);
    check_json_body(&resp, &ds, 3, 1); /* the body is computed; the writer leaves it out */

    /* /baseline2 */
    CHECK_EQ(get(r, "/baseline2?a=1&b=1", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "2"));
    CHECK(resp.content_type != NULL && strcmp(resp.content_type, "text/plain") == 0);
    CHECK_EQ(get(r, "/baseline2?b=40&a=-45", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "-5"));
    CHECK_EQ(get(r, "/baseline2?a=9223372036854775806&b=1", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "9223372036854775807"));
    const char *bad2[] = {"/baseline2", "/baseline2?a=1", "/baseline2?b=1", "/baseline2?a=1&b=x",
                          "/baseline2?a=&b=1", "/baseline2?a=9223372036854775807&b=1"};
    for (size_t k = 0; k < sizeof(bad2) / sizeof(bad2[0]); k++)
        CHECK_EQ(get(r, bad2[k], NULL, &resp, &scratch), 400);

    json_dataset_free(&ds);
    ho_buf_free(&scratch);
    ho_router_free(r);
    app_arena_free(a);
}

static void check_static(const ho_router *r, const char *file, const char *accept, const char *want_encoding,
                         const char *want_type, bool want_vary)
{
    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;
    char target[256], extra[256] = "", path[4200];
    snprintf(target, sizeof(target), "/static/%s", file);
    if (accept != NULL)
        snprintf(extra, sizeof(extra), "Accept-Encoding: %s\r\n", accept);
    CHECK_EQ(get(r, target, extra, &resp, &scratch), 200);
    CHECK(resp.content_type != NULL && strcmp(resp.content_type, want_type) == 0);
    CHECK(want_encoding == NULL ? resp.content_encoding == NULL
                                : resp.content_encoding != NULL && strcmp(resp.content_encoding, want_encoding) == 0);
    CHECK(resp.vary_accept_encoding == want_vary);
    snprintf(path, sizeof(path), "%s/%s%s", static_path, file,
             want_encoding == NULL ? "" : strcmp(want_encoding, "br") == 0 ? ".br" : ".gz");
    size_t len, n;
    uint8_t *want = slurp(path, &len);
    const uint8_t *got = ho_http_response_body(&resp, &n);
    CHECK(want != NULL && n == len && memcmp(got, want, n) == 0);
    CHECK(resp.static_body != NULL && scratch.len == 0); /* served from memory, not copied */
    free(want);
    ho_buf_free(&scratch);
}

static void test_static(void)
{
    char err[256] = "";
    app_arena *a = app_arena_new(dataset_path, static_path, err, sizeof(err));
    CHECK(a != NULL);
    if (a == NULL)
        return;
    ho_router *r = ho_router_new();
    CHECK_EQ(app_arena_register(a, r), HO_OK);

    const char *suite = "br;q=1, gzip;q=0.8"; /* what the suite's client sends */
    check_static(r, "app.js", suite, "br", "application/javascript", true);
    check_static(r, "app.js", "gzip", "gzip", "application/javascript", true);
    check_static(r, "app.js", "GZIP;q=0.5, br;q=0", "gzip", "application/javascript", true);
    check_static(r, "app.js", "br;q=0.000, gzip;q=0", NULL, "application/javascript", true);
    check_static(r, "app.js", "*", "br", "application/javascript", true);
    check_static(r, "app.js", "*;q=0, gzip", "gzip", "application/javascript", true);
    check_static(r, "app.js", "identity", NULL, "application/javascript", true);
    check_static(r, "app.js", "deflate, x-gzip", "gzip", "application/javascript", true);
    check_static(r, "app.js", NULL, NULL, "application/javascript", true);
    check_static(r, "components.css", suite, "br", "text/css", true);
    check_static(r, "header.html", "gzip, deflate", "gzip", "text/html", true);
    check_static(r, "icon-sprite.svg", suite, "br", "image/svg+xml", true);
    check_static(r, "manifest.json", suite, "br", "application/json", true);
    check_static(r, "bold.woff2", suite, NULL, "font/woff2", false); /* no siblings */
    check_static(r, "hero.webp", suite, NULL, "image/webp", false);

    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;
    const char *refused[] = {"/static/missing.js", "/static/", "/static/../README.md", "/static/..",
                             "/static/%2e%2e%2fREADME.md", "/static/app%2ejs", "/static/sub/app.js",
                             "/static/..%5cREADME.md", "/static/app.js%00", "/static/./app.js"};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        int st = get(r, refused[k], NULL, &resp, &scratch);
        if (st != 404)
            fprintf(stderr, "  %s: %d\n", refused[k], st);
        CHECK_EQ(st, 404);
    }
    /* HEAD is answered by the GET route. */
    CHECK_EQ(run(r, "HEAD /static/reset.css HTTP/1.1\r\nHost: a\r\n\r\n", &resp, &scratch), 200);
    CHECK(resp.static_len == 8192);
    ho_buf_free(&scratch);
    ho_router_free(r);
    app_arena_free(a);

    /* An explicit static directory that does not exist is an error. */
    a = app_arena_new(dataset_path, "/nonexistent/static", err, sizeof(err));
    CHECK(a == NULL && strstr(err, "/nonexistent/static") != NULL);
}

static void put_file(const char *dir, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof(path), "%s%s%s", dir, name[0] ? "/" : "", name);
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (f != NULL) {
        fputs(text, f);
        fclose(f);
    }
}

/* A temporary tree for --root: index.html, sub/index.html, sub/deep/f.txt,
 * static/app.js (shadowed by the /static/ route), a hidden file, a link to
 * DIR-outside.txt, a file outside the tree. */
static void make_root(char *dir, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, cap, "%.900s/ho-root-XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    CHECK(mkdtemp(dir) != NULL);
    char p[1200];
    snprintf(p, sizeof(p), "%s/sub", dir);
    CHECK_EQ(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/sub/deep", dir);
    CHECK_EQ(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/static", dir);
    CHECK_EQ(mkdir(p, 0700), 0);
    put_file(dir, "index.html", "<p>root</p>");
    put_file(dir, "sub/index.html", "sub index");
    put_file(dir, "sub/deep/f.txt", "deep file");
    put_file(dir, "static/app.js", "shadowed");
    put_file(dir, ".secret", "hidden");
    char target[1200];
    snprintf(target, sizeof(target), "%s-outside.txt", dir);
    put_file(target, "", "outside");
    snprintf(p, sizeof(p), "%s/link.txt", dir);
    CHECK_EQ(symlink(target, p), 0);
}

static void test_root(void)
{
    char dir[1000], err[256] = "";
    make_root(dir, sizeof(dir));
    app_arena *a = app_arena_new(dataset_path, static_path, err, sizeof(err));
    CHECK(a != NULL);
    if (a == NULL)
        return;
    CHECK_EQ(app_arena_set_root(a, dir, err, sizeof(err)), HO_OK);
    CHECK_EQ(app_arena_set_root(a, dir, err, sizeof(err)), HO_ERR_INVALID_ARG); /* once */
    CHECK_EQ(app_arena_root_file_count(a), 4);
    ho_router *r = ho_router_new();
    CHECK_EQ(app_arena_register(a, r), HO_OK);
    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;
    CHECK_EQ(get(r, "/", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "<p>root</p>") && strcmp(resp.content_type, "text/html") == 0);
    CHECK_EQ(get(r, "/index.html?x=1", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "<p>root</p>"));
    CHECK_EQ(get(r, "/sub/", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "sub index"));
    CHECK_EQ(get(r, "/sub/deep/f.txt", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "deep file") && strcmp(resp.content_type, "application/octet-stream") == 0);
    /* The arena routes keep precedence over files of the same path. */
    CHECK_EQ(get(r, "/static/app.js", NULL, &resp, &scratch), 200);
    CHECK(!body_is(&resp, "shadowed"));
    CHECK_EQ(get(r, "/json/1", NULL, &resp, &scratch), 200);
    CHECK_EQ(get(r, "/baseline2?a=1&b=2", NULL, &resp, &scratch), 200);
    CHECK(body_is(&resp, "3"));
    const char *refused[] = {"/missing", "/sub", "/sub/deep/", "/sub/../index.html", "/../index.html",
                             "/%2e%2e/index.html", "/sub//index.html", "/sub%5cindex.html", "/.secret",
                             "/link.txt", "/./index.html", "//index.html", "/sub/deep/f.txt/"};
    for (size_t k = 0; k < sizeof(refused) / sizeof(refused[0]); k++) {
        int st = get(r, refused[k], NULL, &resp, &scratch);
        if (st != 404)
            fprintf(stderr, "  %s: %d\n", refused[k], st);
        CHECK_EQ(st, 404);
    }
    ho_buf_free(&scratch);
    ho_router_free(r);
    app_arena_free(a);

    /* Without a root, / is not the arena's: nothing is registered there. */
    a = app_arena_new(dataset_path, static_path, err, sizeof(err));
    r = ho_router_new();
    CHECK_EQ(app_arena_register(a, r), HO_OK);
    CHECK_EQ(get(r, "/index.html", NULL, &resp, NULL), 404);
    ho_router_free(r);
    CHECK_EQ(app_arena_set_root(a, "/nonexistent/root", err, sizeof(err)), HO_ERR_IO);
    CHECK(strstr(err, "/nonexistent/root") != NULL);
    CHECK_EQ(app_arena_root_file_count(a), 0);
    app_arena_free(a);

    char cmd[2200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s-outside.txt'", dir, dir);
    CHECK_EQ(system(cmd), 0);
}

static void test_builtin_and_errors(void)
{
    char err[256] = "";
    unsetenv("DATASET");
    if (access("/data/dataset.json", R_OK) != 0) {
        app_arena *a = app_arena_new(NULL, NULL, err, sizeof(err));
        app_arena *b = app_arena_new(NULL, NULL, err, sizeof(err));
        CHECK(a != NULL && b != NULL);
        if (a != NULL && b != NULL) {
            CHECK(strcmp(app_arena_dataset_source(a), "built-in") == 0);
            CHECK_EQ(app_arena_item_count(a), 50);
            ho_router *r = ho_router_new(), *r2 = ho_router_new();
            CHECK_EQ(app_arena_register(a, r), HO_OK);
            CHECK_EQ(app_arena_register(b, r2), HO_OK);
            ho_buf s1, s2;
            ho_buf_init(&s1);
            ho_buf_init(&s2);
            ho_http_response r1, rr2;
            CHECK_EQ(get(r, "/json/50?m=3", NULL, &r1, &s1), 200);
            CHECK_EQ(get(r2, "/json/50?m=3", NULL, &rr2, &s2), 200);
            /* Same shape, and the same on every run. */
            CHECK(s1.len == s2.len && memcmp(s1.data, s2.data, s1.len) == 0);
            arena_dataset ds;
            CHECK_EQ(json_dataset_parse((const char *)s1.data + 9, s1.len - 9 - strlen("],\"count\":50}") + 1, &ds,
                                           err, sizeof(err)),
                     HO_OK);
            CHECK_EQ(ds.count, 50);
            check_json_body(&r1, &ds, 50, 3);
            for (size_t k = 0; k < ds.count; k++)
                CHECK(ds.items[k].price > 0 && ds.items[k].quantity > 0 && ds.items[k].tag_count >= 1);
            json_dataset_free(&ds);
            ho_buf_free(&s1);
            ho_buf_free(&s2);
            ho_router_free(r);
            ho_router_free(r2);
        }
        app_arena_free(a);
        app_arena_free(b);
    } else {
        fprintf(stderr, "  /data/dataset.json exists: built-in dataset not testable here\n");
    }

    /* DATASET is honoured when the argument is NULL; an unreadable one is skipped. */
    setenv("DATASET", dataset_path, 1);
    app_arena *a = app_arena_new(NULL, static_path, err, sizeof(err));
    CHECK(a != NULL && strcmp(app_arena_dataset_source(a), dataset_path) == 0);
    app_arena_free(a);
    setenv("DATASET", "/nonexistent/dataset.json", 1);
    a = app_arena_new(NULL, static_path, err, sizeof(err));
    CHECK(a != NULL && strcmp(app_arena_dataset_source(a), "/nonexistent/dataset.json") != 0);
    app_arena_free(a);
    unsetenv("DATASET");

    /* An explicit path must exist; a file that does not parse is an error. */
    a = app_arena_new("/nonexistent/dataset.json", NULL, err, sizeof(err));
    CHECK(a == NULL && strstr(err, "/nonexistent/dataset.json") != NULL);
    char tmp[] = "/tmp/ho-arena-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    const char *broken = "[{\"id\":1,\"name\":\"x\"}]";
    CHECK(write(fd, broken, strlen(broken)) == (ssize_t)strlen(broken));
    close(fd);
    a = app_arena_new(tmp, NULL, err, sizeof(err));
    CHECK(a == NULL && strstr(err, "offset") != NULL && strstr(err, tmp) != NULL);
    unlink(tmp);
}

static int parse_ds(const char *text, arena_dataset *ds)
{
    char err[128];
    return json_dataset_parse(text, strlen(text), ds, err, sizeof(err));
}

#define ITEM_REST "\"category\":\"c\",\"price\":2,\"quantity\":3,\"active\":false,\"tags\":[],\"rating\":{\"score\":1,\"count\":2}"

static void test_json_reader(void)
{
    arena_dataset ds;
    CHECK_EQ(parse_ds(" [ ] ", &ds), HO_OK);
    CHECK_EQ(ds.count, 0);
    /* Escapes decode; unknown keys of any shape are skipped; floats kept as written. */
    const char *good = "[{\"id\":1.50,\"name\":\"A\\\"B\\\\C\\u00e9\\ud83d\\ude00\\n\\/\",\"extra\":{\"x\":[1,true,null,\"s\"]},"
                       "\"category\":\"c\",\"price\":-2,\"quantity\":3,\"active\":true,\"tags\":[\"t1\",\"t\\t2\"],"
                       "\"rating\":{\"score\":4.5e1,\"count\":0,\"more\":[]}}]";
    CHECK_EQ(parse_ds(good, &ds), HO_OK);
    if (ds.count == 1) {
        const arena_item *it = &ds.items[0];
        CHECK(strcmp(it->id.p, "1.50") == 0);
        CHECK(strcmp(it->name.p, "A\"B\\C\xc3\xa9\xf0\x9f\x98\x80\n/") == 0);
        CHECK(it->price == -2 && it->quantity == 3 && it->active);
        CHECK(it->tag_count == 2 && strcmp(it->tags[1].p, "t\t2") == 0);
        CHECK(strcmp(it->score.p, "4.5e1") == 0 && strcmp(it->count.p, "0") == 0);
        ho_buf out;
        ho_buf_init(&out);
        CHECK_EQ(json_write_items(&out, &ds, 1, 2), HO_OK);
        const char *want = "{\"items\":[{\"id\":1.50,\"name\":\"A\\\"B\\\\C\xc3\xa9\xf0\x9f\x98\x80\\n/\",\"category\":\"c\","
                           "\"price\":-2,\"quantity\":3,\"active\":true,\"tags\":[\"t1\",\"t\\t2\"],"
                           "\"rating\":{\"score\":4.5e1,\"count\":0},\"total\":-12}],\"count\":1}";
        CHECK(out.len == strlen(want) && memcmp(out.data, want, out.len) == 0);
        out.len = 0;
        CHECK_EQ(json_write_items(&out, &ds, 1, INT64_MAX), HO_ERR_INVALID_ARG);
        CHECK_EQ(out.len, 0);
        CHECK_EQ(json_write_items(&out, &ds, 2, 1), HO_ERR_INVALID_ARG);
        json_put_string(&out, "\x01q\"\x1f", 4);
        CHECK(out.len == 17 && memcmp(out.data, "\"\\u0001q\\\"\\u001f\"", 17) == 0);
        ho_buf_free(&out);
    }
    json_dataset_free(&ds);

    const char *bad[] = {
        "",
        "{}",
        "[",
        "[{\"id\":1,\"name\":\"n\"," ITEM_REST "},]",                   /* trailing comma */
        "[{\"id\":1,\"name\":\"n\"," ITEM_REST "}] x",                  /* data after */
        "[{\"id\":1," ITEM_REST "}]",                                    /* no name */
        "[{\"id\":1,\"id\":2,\"name\":\"n\"," ITEM_REST "}]",          /* duplicate key */
        "[{\"id\":1,\"name\":\"n\",\"category\":\"c\",\"price\":2.5,\"quantity\":3,\"active\":false,\"tags\":[],"
        "\"rating\":{\"score\":1,\"count\":2}}]",                         /* float price */
        "[{\"id\":1,\"name\":\"n\",\"category\":\"c\",\"price\":99999999999999999999,\"quantity\":3,"
        "\"active\":false,\"tags\":[],\"rating\":{\"score\":1,\"count\":2}}]",
        "[{\"id\":01,\"name\":\"n\"," ITEM_REST "}]",                  /* leading zero */
        "[{\"id\":1.,\"name\":\"n\"," ITEM_REST "}]",
        "[{\"id\":-,\"name\":\"n\"," ITEM_REST "}]",
        "[{\"id\":1,\"name\":\"\\x\"," ITEM_REST "}]",                 /* bad escape */
        "[{\"id\":1,\"name\":\"\\ud800\"," ITEM_REST "}]",             /* lone surrogate */
        "[{\"id\":1,\"name\":\"\\udc00\"," ITEM_REST "}]",
        "[{\"id\":1,\"name\":\"\xc3\"," ITEM_REST "}]",                /* truncated UTF-8 */
        "[{\"id\":1,\"name\":\"\xc0\xaf\"," ITEM_REST "}]",            /* overlong */
        "[{\"id\":1,\"name\":\"\xed\xa0\x80\"," ITEM_REST "}]",        /* encoded surrogate */
        "[{\"id\":1,\"name\":\"a\nb\"," ITEM_REST "}]",                /* raw control char */
        "[{\"id\":1,\"name\":\"n\",\"active\":tru," ITEM_REST "}]",
        "[{\"id\":1,\"name\":\"n\",\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
        "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]," ITEM_REST "}]", /* too deep */
        "[{\"id\":1,\"name\":\"n\",\"category\":\"c\",\"price\":2,\"quantity\":3,\"active\":false,\"tags\":[1],"
        "\"rating\":{\"score\":1,\"count\":2}}]",                         /* non-string tag */
        "[{\"id\":1,\"name\":\"n\",\"category\":\"c\",\"price\":2,\"quantity\":3,\"active\":false,\"tags\":[],"
        "\"rating\":{\"score\":1}}]",                                     /* rating without count */
        "[{\"id\":1,\"name\":\"n\"," ITEM_REST ",}]",
        "[{\"id\":1 \"name\":\"n\"," ITEM_REST "}]",
        "\xef\xbb\xbf[]",                                                 /* BOM */
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        int rc = parse_ds(bad[k], &ds);
        if (rc != HO_ERR_INVALID_ARG)
            fprintf(stderr, "  bad JSON %zu accepted\n", k);
        CHECK_EQ(rc, HO_ERR_INVALID_ARG);
        CHECK(ds.items == NULL && ds.count == 0);
    }
    char err[128] = "";
    CHECK_EQ(json_dataset_parse("[1]", 3, &ds, err, sizeof(err)), HO_ERR_INVALID_ARG);
    CHECK(strcmp(err, "offset 1: expected an object") == 0);
}

/* The library's static files alone (ho_http_files), at a prefix of the
 * application's choosing: loading errors and the prefix rules. */
static void test_files_api(void)
{
    char err[256] = "";
    CHECK(ho_http_files_load(NULL, false, err, sizeof(err)) == NULL);
    CHECK(ho_http_files_load("/nonexistent/dir", false, err, sizeof(err)) == NULL);
    CHECK(strstr(err, "/nonexistent/dir") != NULL);
    CHECK_EQ(ho_http_files_count(NULL), 0);
    ho_http_files *fs = ho_http_files_load(static_path, false, err, sizeof(err));
    CHECK(fs != NULL);
    CHECK(ho_http_files_count(fs) > 0);
    ho_router *r = ho_router_new();
    CHECK_EQ(ho_http_files_register(fs, r, "assets"), HO_ERR_INVALID_ARG);  /* no leading '/' */
    CHECK_EQ(ho_http_files_register(fs, r, "/assets"), HO_ERR_INVALID_ARG); /* no trailing '/' */
    CHECK_EQ(ho_http_files_register(fs, r, "/assets/"), HO_OK);
    CHECK_EQ(ho_http_files_register(fs, r, "/a/"), HO_ERR_INVALID_ARG);     /* another length */
    ho_buf scratch;
    ho_buf_init(&scratch);
    ho_http_response resp;
    CHECK_EQ(get(r, "/assets/app.js", "Accept-Encoding: gzip\r\n", &resp, &scratch), 200);
    CHECK(resp.content_encoding != NULL && strcmp(resp.content_encoding, "gzip") == 0);
    CHECK_EQ(get(r, "/assets/", NULL, &resp, &scratch), 404);       /* flat: no index */
    CHECK_EQ(get(r, "/assets/../x", NULL, &resp, &scratch), 404);
    CHECK_EQ(get(r, "/static/app.js", NULL, &resp, &scratch), 404); /* only where registered */
    ho_buf_free(&scratch);
    ho_router_free(r);
    ho_http_files_free(fs);
}

int main(void)
{
    snprintf(dataset_path, sizeof(dataset_path), "%s", ho_test_data("arena/dataset.json"));
    snprintf(static_path, sizeof(static_path), "%s", ho_test_data("arena/static"));
    RUN(test_shared_dataset);
    RUN(test_static);
    RUN(test_root);
    RUN(test_files_api);
    RUN(test_builtin_and_errors);
    RUN(test_json_reader);
    return ho_test_summary("test_arena");
}
