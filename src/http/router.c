/* The router: a small table of paths, each with the handlers of its methods.
 * Built once at start-up, then read-only and shared by the I/O threads.
 *
 * A request is matched on its path first (exact, or a prefix for paths that
 * end in '/', longest wins), then on its method: a path that matches with no
 * handler for the method is a 405 whose Allow lists what the path accepts
 * (RFC 9110 §15.5.6: a 405 MUST carry Allow). GET handlers answer HEAD
 * (RFC 9110 §9.3.2); the caller omits the body. */
#include "base/mem.h"
#include "handoff/http.h"

#include <stdlib.h>
#include <string.h>

enum { MAX_METHODS_PER_PATH = 8, ALLOW_MAX = 96 };

typedef struct route_method {
    char name[16];
    ho_http_handler fn;
    void *ctx;
} route_method;

typedef struct route_path {
    char *path;
    size_t len;
    bool prefix; /* path ends with '/' */
    route_method methods[MAX_METHODS_PER_PATH];
    size_t method_count;
    char allow[ALLOW_MAX]; /* the Allow value of a 405 on this path */
} route_path;

struct ho_router {
    route_path *paths;
    size_t count, cap;
};

static const char body_404[] = "404 Not Found\n";
static const char body_405[] = "405 Method Not Allowed\n";
static const char body_500[] = "500 Internal Server Error\n";

ho_router *ho_router_new(void) { return ho_mem_calloc(1, sizeof(ho_router)); }

void ho_router_free(ho_router *r)
{
    if (r == NULL)
        return;
    for (size_t k = 0; k < r->count; k++)
        ho_mem_free(r->paths[k].path);
    ho_mem_free(r->paths);
    ho_mem_free(r);
}

static bool method_has(const route_path *rp, const char *name)
{
    for (size_t k = 0; k < rp->method_count; k++)
        if (strcmp(rp->methods[k].name, name) == 0)
            return true;
    return false;
}

/* "GET, HEAD, POST": the registered methods, HEAD implied by GET. */
static void allow_rebuild(route_path *rp)
{
    size_t n = 0;
    rp->allow[0] = '\0';
    for (size_t k = 0; k < rp->method_count; k++) {
        const char *names[2] = {rp->methods[k].name, NULL};
        if (strcmp(names[0], "GET") == 0 && !method_has(rp, "HEAD"))
            names[1] = "HEAD";
        for (size_t j = 0; j < 2 && names[j] != NULL; j++) {
            size_t len = strlen(names[j]);
            if (n + (n ? 2 : 0) + len + 1 > sizeof(rp->allow))
                return; /* cannot happen: 8 methods of < 16 bytes fit */
            if (n > 0) {
                memcpy(rp->allow + n, ", ", 2);
                n += 2;
            }
            memcpy(rp->allow + n, names[j], len + 1);
            n += len;
        }
    }
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
        if (!ok)
            return false;
    }
    return true;
}

int ho_router_add(ho_router *r, const char *method, const char *path, ho_http_handler fn, void *ctx)
{
    if (r == NULL || method == NULL || path == NULL || fn == NULL || path[0] != '/' || !is_token(method) ||
        strlen(method) >= sizeof(((route_method *)0)->name))
        return HO_ERR_INVALID_ARG;
    size_t len = strlen(path);
    route_path *rp = NULL;
    for (size_t k = 0; k < r->count; k++)
        if (r->paths[k].len == len && memcmp(r->paths[k].path, path, len) == 0)
            rp = &r->paths[k];
    if (rp == NULL) {
        if (r->count == r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 8;
            route_path *p = ho_mem_realloc(r->paths, cap * sizeof(*p));
            if (p == NULL)
                return HO_ERR_NOMEM;
            r->paths = p;
            r->cap = cap;
        }
        char *copy = ho_mem_alloc(len + 1);
        if (copy == NULL)
            return HO_ERR_NOMEM;
        memcpy(copy, path, len + 1);
        rp = &r->paths[r->count++];
        memset(rp, 0, sizeof(*rp));
        rp->path = copy;
        rp->len = len;
        rp->prefix = path[len - 1] == '/';
    }
    if (method_has(rp, method) || rp->method_count == MAX_METHODS_PER_PATH)
        return HO_ERR_INVALID_ARG;
    route_method *m = &rp->methods[rp->method_count++];
    strcpy(m->name, method);
    m->fn = fn;
    m->ctx = ctx;
    allow_rebuild(rp);
    return HO_OK;
}

static void answer_static(ho_http_response *resp, int status, const char *body, size_t len)
{
    resp->status = status;
    resp->content_type = "text/plain";
    resp->content_encoding = NULL;
    resp->vary_accept_encoding = false;
    if (resp->body != NULL)
        resp->body->len = 0;
    resp->static_body = (const uint8_t *)body;
    resp->static_len = len;
}

void ho_router_dispatch(const ho_router *r, const ho_http_request *req, ho_http_response *resp)
{
    const route_path *best = NULL;
    for (size_t k = 0; k < r->count; k++) {
        const route_path *rp = &r->paths[k];
        bool match = rp->prefix ? req->path.len >= rp->len && memcmp(req->path.p, rp->path, rp->len) == 0
                                : req->path.len == rp->len && memcmp(req->path.p, rp->path, rp->len) == 0;
        if (match && (best == NULL || rp->len > best->len))
            best = rp;
    }
    if (best == NULL) {
        answer_static(resp, 404, body_404, sizeof(body_404) - 1);
        return;
    }
    const route_method *found = NULL, *get = NULL;
    for (size_t k = 0; k < best->method_count; k++) {
        const route_method *m = &best->methods[k];
        if (ho_http_str_eq(req->method, m->name))
            found = m;
        if (strcmp(m->name, "GET") == 0)
            get = m;
    }
    if (found == NULL && get != NULL && ho_http_str_eq(req->method, "HEAD"))
        found = get;
    if (found == NULL) {
        answer_static(resp, 405, body_405, sizeof(body_405) - 1);
        resp->allow = best->allow;
        return;
    }
    if (found->fn(found->ctx, req, resp) != HO_OK) {
        answer_static(resp, 500, body_500, sizeof(body_500) - 1);
        resp->allow = NULL;
    }
}
