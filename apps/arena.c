/* The HttpArena demo routes: GET /json/{count}?m={m}, /baseline2?a=&b=,
 * POST /upload and /static/<file>, plus files from a document root at /
 * (app_arena_set_root). Everything is loaded at set-up (the dataset, the
 * static files through the library's ho_http_files); after that the arena is
 * read-only and the handlers touch only the request, the response and its
 * scratch body.
 *
 * /json is serialized per request from the typed items (the suite forbids
 * pre-serialized bodies). Decisions the suite leaves open:
 *   - count is clamped to the number of items ("count" reports the clamp);
 *     a count that is not a non-negative decimal integer is a 400;
 *   - m defaults to 1 when absent; present but not an integer is a 400, as is
 *     a total that does not fit an int64. */
#include "arena.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    MAX_DATASET_BYTES = 64 << 20, /* the dataset file */
    BUILTIN_ITEMS = 50,
};

struct app_arena {
    arena_dataset ds;
    char *source;
    ho_http_files *statics; /* /static/: flat (NULL: 404) */
    ho_http_files *root;    /* /: the tree under --root */
};

static const char body_400[] = "400 Bad Request\n";

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", a, b);
}

/* ---- the dataset ------------------------------------------------------- */

static int load_dataset(app_arena *a, const char *path, char *err, size_t errlen)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = ho_file_read(AT_FDCWD, path, false, MAX_DATASET_BYTES, &text, &len);
    if (rc != 0) {
        set_err(err, errlen, path, strerror(rc));
        return rc == ENOMEM ? HO_ERR_NOMEM : HO_ERR_IO;
    }
    char why[128] = "";
    rc = json_dataset_parse((const char *)text, len, &a->ds, why, sizeof(why));
    free(text);
    if (rc != HO_OK) {
        set_err(err, errlen, path, why);
        return rc;
    }
    a->source = strdup(path);
    return a->source != NULL ? HO_OK : HO_ERR_NOMEM;
}

/* A fixed linear congruential sequence: the built-in dataset is the same on
 * every run. Returns a value in [0, n). */
static uint32_t next_random(uint32_t *x, uint32_t n)
{
    *x = *x * 1103515245u + 12345u;
    return (*x >> 16) % n;
}

/* The built-in dataset: BUILTIN_ITEMS items of the suite's shape. */
static int generate_dataset(arena_dataset *ds)
{
    static const char *const first[] = {"Alpha", "Pro", "Core", "Edge", "Nano", "Ultra", "Smart", "Flex", "Hyper", "Max"};
    static const char *const second[] = {"Widget", "Valve", "Relay", "Link", "Gadget", "Driver", "Sensor", "Module", "Node", "Hub"};
    static const char *const categories[] = {"electronics", "tools", "books", "clothing", "sports",
                                             "toys", "home", "office", "auto", "garden"};
    static const char *const tags[] = {"sale", "heavy-duty", "popular", "fast", "new", "wireless", "eco", "limited", "premium"};
    enum { TAG_KINDS = sizeof(tags) / sizeof(tags[0]) };
    uint32_t x = 20240601u;
#define NEXT(n) next_random(&x, (n))
    ds->items = calloc(BUILTIN_ITEMS, sizeof(*ds->items));
    if (ds->items == NULL)
        return HO_ERR_NOMEM;
    ds->count = BUILTIN_ITEMS;
    for (size_t i = 0; i < BUILTIN_ITEMS; i++) {
        arena_item *it = &ds->items[i];
        char text[64];
        int rc = HO_OK, n;
        n = snprintf(text, sizeof(text), "%zu", i + 1);
        rc |= json_text_set(&it->id, text, (size_t)n);
        const char *adjective = first[NEXT(10)], *noun = second[NEXT(10)];
        n = snprintf(text, sizeof(text), "%s %s", adjective, noun);
        rc |= json_text_set(&it->name, text, (size_t)n);
        const char *cat = categories[NEXT(10)];
        rc |= json_text_set(&it->category, cat, strlen(cat));
        it->price = 1 + (int64_t)NEXT(500);
        it->quantity = 1 + (int64_t)NEXT(100);
        it->active = NEXT(4) != 0;
        size_t want = 1 + NEXT(4);
        it->tags = calloc(want, sizeof(*it->tags));
        if (it->tags == NULL)
            return HO_ERR_NOMEM;
        bool used[TAG_KINDS] = {false};
        while (it->tag_count < want) {
            size_t t = NEXT(TAG_KINDS);
            if (used[t])
                continue;
            used[t] = true;
            rc |= json_text_set(&it->tags[it->tag_count++], tags[t], strlen(tags[t]));
        }
        n = snprintf(text, sizeof(text), "%u", 1 + NEXT(50));
        rc |= json_text_set(&it->score, text, (size_t)n);
        n = snprintf(text, sizeof(text), "%u", 1 + NEXT(500));
        rc |= json_text_set(&it->count, text, (size_t)n);
        if (rc != HO_OK)
            return HO_ERR_NOMEM;
        json_item_finish(it);
    }
#undef NEXT
    return HO_OK;
}
/* ---- the arena --------------------------------------------------------- */

static bool readable(const char *path) { return path != NULL && path[0] != '\0' && access(path, R_OK) == 0; }

app_arena *app_arena_new(const char *dataset, const char *static_dir, char *err, size_t errlen)
{
    app_arena *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        set_err(err, errlen, "arena", "out of memory");
        return NULL;
    }
    int rc;
    /* An explicit path must load; the implicit ones are tried in order, and
     * the built-in dataset is the fallback when none is readable. */
    const char *path = dataset;
    if (path == NULL) {
        const char *env = getenv("DATASET");
        path = readable(env) ? env : readable("/data/dataset.json") ? "/data/dataset.json" : NULL;
    }
    if (path != NULL) {
        rc = load_dataset(a, path, err, errlen);
    } else {
        rc = generate_dataset(&a->ds);
        a->source = strdup("built-in");
        if (rc == HO_OK && a->source == NULL)
            rc = HO_ERR_NOMEM;
        if (rc != HO_OK)
            set_err(err, errlen, "built-in dataset", "out of memory");
    }
    if (rc == HO_OK) {
        struct stat st;
        const char *dir = static_dir;
        if (dir == NULL && stat("/data/static", &st) == 0 && S_ISDIR(st.st_mode))
            dir = "/data/static";
        if (dir != NULL && (a->statics = ho_http_files_load(dir, false, err, errlen)) == NULL)
            rc = HO_ERR_IO;
    }
    if (rc != HO_OK) {
        app_arena_free(a);
        return NULL;
    }
    return a;
}

void app_arena_free(app_arena *a)
{
    if (a == NULL)
        return;
    json_dataset_free(&a->ds);
    ho_http_files_free(a->statics);
    ho_http_files_free(a->root);
    free(a->source);
    free(a);
}

size_t app_arena_item_count(const app_arena *a) { return a->ds.count; }

const char *app_arena_dataset_source(const app_arena *a) { return a->source; }

int app_arena_set_root(app_arena *a, const char *dir, char *err, size_t errlen)
{
    if (a == NULL || dir == NULL || a->root != NULL)
        return HO_ERR_INVALID_ARG;
    a->root = ho_http_files_load(dir, true, err, errlen);
    return a->root != NULL ? HO_OK : HO_ERR_IO;
}

size_t app_arena_root_file_count(const app_arena *a) { return ho_http_files_count(a->root); }

/* ---- handlers ---------------------------------------------------------- */

static int answer(ho_http_response *resp, int status, const char *body, size_t len)
{
    resp->status = status;
    resp->content_type = "text/plain";
    resp->static_body = (const uint8_t *)body;
    resp->static_len = len;
    return HO_OK;
}

#define ANSWER(resp, status, lit) answer((resp), (status), (lit), sizeof(lit) - 1)

/* GET /json/{count}?m={m} */
static int json_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    const app_arena *a = ctx;
    static const char prefix[] = "/json/";
    ho_http_str count_text = {req->path.p + sizeof(prefix) - 1, req->path.len - (sizeof(prefix) - 1)};
    int64_t count, m = 1;
    ho_http_str m_text;
    if (!ho_http_str_to_i64(count_text, &count) || count < 0)
        return ANSWER(resp, 400, body_400);
    if (ho_http_query_get(req, "m", &m_text) && !ho_http_str_to_i64(m_text, &m))
        return ANSWER(resp, 400, body_400);
    if (resp->body == NULL)
        return HO_ERR_INTERNAL;
    size_t n = (uint64_t)count < a->ds.count ? (size_t)count : a->ds.count;
    int rc = json_write_items(resp->body, &a->ds, n, m);
    if (rc == HO_ERR_INVALID_ARG)
        return ANSWER(resp, 400, body_400); /* a total overflows */
    if (rc != HO_OK)
        return rc;
    resp->content_type = "application/json";
    return HO_OK;
}

/* GET /baseline2?a=&b= → a+b as text/plain. */
static int baseline2_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    ho_http_str a_text, b_text;
    int64_t a, b, sum;
    if (!ho_http_query_get(req, "a", &a_text) || !ho_http_query_get(req, "b", &b_text) ||
        !ho_http_str_to_i64(a_text, &a) || !ho_http_str_to_i64(b_text, &b) || __builtin_add_overflow(a, b, &sum))
        return ANSWER(resp, 400, body_400);
    if (resp->body == NULL)
        return HO_ERR_INTERNAL;
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = sum < 0 ? 0 - (uint64_t)sum : (uint64_t)sum;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (sum < 0)
        *--p = '-';
    ho_put_bytes(resp->body, p, (size_t)(tmp + sizeof(tmp) - p));
    if (resp->body->failed)
        return HO_ERR_NOMEM;
    resp->content_type = "text/plain";
    return HO_OK;
}

/* POST /upload → the request body's byte count, as decimal text/plain (the
 * HttpArena upload route; the body arrives whole, Content-Length or chunked,
 * bounded by the server's max_body: beyond it the parser answered 413). */
static int upload_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    if (resp->body == NULL)
        return HO_ERR_INTERNAL;
    char tmp[24];
    int n = snprintf(tmp, sizeof(tmp), "%llu", (unsigned long long)req->content_length);
    ho_put_bytes(resp->body, tmp, (size_t)n);
    if (resp->body->failed)
        return HO_ERR_NOMEM;
    resp->content_type = "text/plain";
    return HO_OK;
}

/* GET /static/ without a static directory: nothing there (and not the
 * root's files either). */
static int no_static_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx, (void)req;
    return ANSWER(resp, 404, "404 Not Found\n");
}

int app_arena_register(app_arena *a, ho_router *r)
{
    int rc = ho_router_add(r, "GET", "/json/", json_handler, a);
    if (rc == HO_OK)
        rc = ho_router_add(r, "GET", "/baseline2", baseline2_handler, NULL);
    if (rc == HO_OK)
        rc = ho_router_add(r, "POST", "/upload", upload_handler, NULL);
    if (rc == HO_OK)
        rc = a->statics != NULL ? ho_http_files_register(a->statics, r, "/static/")
                                : ho_router_add(r, "GET", "/static/", no_static_handler, NULL);
    if (rc == HO_OK && a->root != NULL)
        rc = ho_http_files_register(a->root, r, "/");
    return rc;
}