/* The HttpArena demo routes: GET /json/{count}?m={m}, /baseline2?a=&b= and
 * /static/<file>, plus files from a document root at / (ho_arena_set_root).
 * Everything is loaded at set-up (the dataset, the static files and their
 * .br/.gz siblings, the root's tree); after that the arena is read-only and
 * the handlers touch only the request, the response and its scratch body.
 *
 * /json is serialized per request from the typed items (the suite forbids
 * pre-serialized bodies). Decisions the suite leaves open:
 *   - count is clamped to the number of items ("count" reports the clamp);
 *     a count that is not a non-negative decimal integer is a 400;
 *   - m defaults to 1 when absent; present but not an integer is a 400, as is
 *     a total that does not fit an int64. */
#include "handoff/http.h"
#include "http/json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    MAX_FILE_BYTES = 256 << 20, /* one dataset or static file (the QUIC bulk bench serves 100 MB) */
    MAX_STATIC_FILES = 4096,   /* per directory set */
    MAX_SET_BYTES = 1 << 30,   /* all the files of one set, in memory */
    MAX_ROOT_DEPTH = 16,       /* subdirectory levels under a root */
    MAX_NAME = 1024,           /* a file's path relative to its set */
    BUILTIN_ITEMS = 50,
};

typedef struct static_file {
    char *name;
    size_t name_len;
    uint8_t *data;
    size_t len;
    const char *type;
    const struct static_file *br, *gz; /* compressed siblings, if present */
} static_file;

/* The files of one directory, by path relative to it ("a.css", "img/x.png"). */
typedef struct file_set {
    static_file *files; /* sorted by name */
    size_t file_count, cap, bytes;
    bool recursive;     /* subdirectories too (symbolic links skipped) */
} file_set;

struct ho_arena {
    ho_arena_dataset ds;
    char *source;
    file_set statics;   /* /static/: flat */
    file_set root;      /* /: the tree under --root */
    bool has_root;
};

static const char body_400[] = "400 Bad Request\n";
static const char body_404[] = "404 Not Found\n";

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", a, b);
}

/* Reads a whole regular file (at most MAX_FILE_BYTES) into a malloc'd
 * buffer. Returns 0, or an errno value. */
static int read_file(int dirfd, const char *path, bool nofollow, uint8_t **data, size_t *len)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return errno;
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0) {
        rc = errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = EISDIR;
    } else if (st.st_size > MAX_FILE_BYTES) {
        rc = EFBIG;
    } else if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
        rc = ENOMEM;
    } else {
        size_t got = 0, want = (size_t)st.st_size;
        while (got < want) {
            ssize_t n = read(fd, buf + got, want - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? errno : EIO; /* a file that shrank under us */
                break;
            }
            got += (size_t)n;
        }
        *len = got;
    }
    close(fd);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    *data = buf;
    return 0;
}

/* ---- the dataset ------------------------------------------------------- */

static int load_dataset(ho_arena *a, const char *path, char *err, size_t errlen)
{
    uint8_t *text;
    size_t len;
    int rc = read_file(AT_FDCWD, path, false, &text, &len);
    if (rc != 0) {
        set_err(err, errlen, path, strerror(rc));
        return rc == ENOMEM ? HO_ERR_NOMEM : HO_ERR_IO;
    }
    char why[128] = "";
    rc = ho_json_dataset_parse((const char *)text, len, &a->ds, why, sizeof(why));
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
static int generate_dataset(ho_arena_dataset *ds)
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
        ho_arena_item *it = &ds->items[i];
        char text[64];
        int rc = HO_OK, n;
        n = snprintf(text, sizeof(text), "%zu", i + 1);
        rc |= ho_json_text_set(&it->id, text, (size_t)n);
        const char *adjective = first[NEXT(10)], *noun = second[NEXT(10)];
        n = snprintf(text, sizeof(text), "%s %s", adjective, noun);
        rc |= ho_json_text_set(&it->name, text, (size_t)n);
        const char *cat = categories[NEXT(10)];
        rc |= ho_json_text_set(&it->category, cat, strlen(cat));
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
            rc |= ho_json_text_set(&it->tags[it->tag_count++], tags[t], strlen(tags[t]));
        }
        n = snprintf(text, sizeof(text), "%u", 1 + NEXT(50));
        rc |= ho_json_text_set(&it->score, text, (size_t)n);
        n = snprintf(text, sizeof(text), "%u", 1 + NEXT(500));
        rc |= ho_json_text_set(&it->count, text, (size_t)n);
        if (rc != HO_OK)
            return HO_ERR_NOMEM;
        ho_json_item_finish(it);
    }
#undef NEXT
    return HO_OK;
}

/* ---- static files ------------------------------------------------------ */

static const char *content_type_for(const char *name)
{
    static const struct { const char *ext, *type; } types[] = {
        {".css", "text/css"},        {".js", "application/javascript"}, {".json", "application/json"},
        {".html", "text/html"},      {".svg", "image/svg+xml"},         {".webp", "image/webp"},
        {".woff2", "font/woff2"},
    };
    const char *dot = strrchr(name, '.');
    if (dot != NULL)
        for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
            if (strcmp(dot, types[k].ext) == 0)
                return types[k].type;
    return "application/octet-stream";
}

static int file_cmp(const void *x, const void *y)
{
    return strcmp(((const static_file *)x)->name, ((const static_file *)y)->name);
}

static const static_file *file_find(const file_set *fs, const char *name, size_t len)
{
    size_t lo = 0, hi = fs->file_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const static_file *f = &fs->files[mid];
        size_t n = len < f->name_len ? len : f->name_len;
        int c = memcmp(name, f->name, n);
        if (c == 0)
            c = len < f->name_len ? -1 : len > f->name_len ? 1 : 0;
        if (c == 0)
            return f;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static const static_file *file_sibling(const file_set *fs, const static_file *f, const char *suffix)
{
    char name[MAX_NAME + 8];
    int n = snprintf(name, sizeof(name), "%s%s", f->name, suffix);
    if (n < 0 || (size_t)n >= sizeof(name))
        return NULL;
    return file_find(fs, name, (size_t)n);
}

static void set_free(file_set *fs)
{
    for (size_t k = 0; k < fs->file_count; k++) {
        free(fs->files[k].name);
        free(fs->files[k].data);
    }
    free(fs->files);
    memset(fs, 0, sizeof(*fs));
}

/* Adds the regular file `entry` of the open directory dfd as `name`. */
static int set_add(file_set *fs, int dfd, const char *entry, const char *name, char *err, size_t errlen)
{
    if (fs->file_count == fs->cap) {
        size_t ncap = fs->cap ? fs->cap * 2 : 32;
        static_file *f = ncap > MAX_STATIC_FILES ? NULL : realloc(fs->files, ncap * sizeof(*f));
        if (f == NULL) {
            set_err(err, errlen, name, ncap > MAX_STATIC_FILES ? "too many files" : "out of memory");
            return ncap > MAX_STATIC_FILES ? HO_ERR_INVALID_ARG : HO_ERR_NOMEM;
        }
        fs->files = f;
        fs->cap = ncap;
    }
    static_file *f = &fs->files[fs->file_count];
    memset(f, 0, sizeof(*f));
    int er = read_file(dfd, entry, fs->recursive, &f->data, &f->len);
    if (er != 0) {
        set_err(err, errlen, name, strerror(er));
        return er == ENOMEM ? HO_ERR_NOMEM : HO_ERR_IO;
    }
    if (fs->bytes + f->len > MAX_SET_BYTES) {
        free(f->data);
        set_err(err, errlen, name, "the directory holds more than 1 GiB");
        return HO_ERR_INVALID_ARG;
    }
    f->name = strdup(name);
    if (f->name == NULL) {
        free(f->data);
        set_err(err, errlen, name, "out of memory");
        return HO_ERR_NOMEM;
    }
    fs->bytes += f->len;
    f->name_len = strlen(f->name);
    f->type = content_type_for(f->name);
    fs->file_count++;
    return HO_OK;
}

/* Loads the files of d (takes it), under the relative path prefix ("" at
 * the top). Hidden entries are skipped; so are subdirectories unless the
 * set is recursive, which also skips symbolic links (nothing outside the
 * tree is served, and no link can loop). */
static int set_walk(file_set *fs, DIR *d, const char *prefix, int depth, char *err, size_t errlen)
{
    int rc = HO_OK;
    struct dirent *e;
    while (rc == HO_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char name[MAX_NAME];
        int n = snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "/" : "", e->d_name);
        if (n < 0 || (size_t)n >= sizeof(name))
            continue; /* a path too long to be requested */
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, fs->recursive ? AT_SYMLINK_NOFOLLOW : 0) != 0)
            continue;
        if (S_ISREG(st.st_mode)) {
            rc = set_add(fs, dirfd(d), e->d_name, name, err, errlen);
        } else if (S_ISDIR(st.st_mode) && fs->recursive && depth < MAX_ROOT_DEPTH) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            DIR *sd = sub >= 0 ? fdopendir(sub) : NULL;
            if (sd == NULL) {
                if (sub >= 0)
                    close(sub);
                continue;
            }
            rc = set_walk(fs, sd, name, depth + 1, err, errlen);
        }
    }
    closedir(d);
    return rc;
}

static int set_load(file_set *fs, const char *dir, bool recursive, char *err, size_t errlen)
{
    fs->recursive = recursive;
    DIR *d = opendir(dir);
    if (d == NULL) {
        set_err(err, errlen, dir, strerror(errno));
        return HO_ERR_IO;
    }
    int rc = set_walk(fs, d, "", 0, err, errlen);
    if (rc != HO_OK)
        return rc;
    if (fs->file_count > 0)
        qsort(fs->files, fs->file_count, sizeof(*fs->files), file_cmp);
    for (size_t k = 0; k < fs->file_count; k++) {
        fs->files[k].br = file_sibling(fs, &fs->files[k], ".br");
        fs->files[k].gz = file_sibling(fs, &fs->files[k], ".gz");
    }
    return HO_OK;
}

/* ---- the arena --------------------------------------------------------- */

static bool readable(const char *path) { return path != NULL && path[0] != '\0' && access(path, R_OK) == 0; }

ho_arena *ho_arena_new(const char *dataset, const char *static_dir, char *err, size_t errlen)
{
    ho_arena *a = calloc(1, sizeof(*a));
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
        if (dir != NULL)
            rc = set_load(&a->statics, dir, false, err, errlen);
    }
    if (rc != HO_OK) {
        ho_arena_free(a);
        return NULL;
    }
    return a;
}

void ho_arena_free(ho_arena *a)
{
    if (a == NULL)
        return;
    ho_json_dataset_free(&a->ds);
    set_free(&a->statics);
    set_free(&a->root);
    free(a->source);
    free(a);
}

size_t ho_arena_item_count(const ho_arena *a) { return a->ds.count; }

const char *ho_arena_dataset_source(const ho_arena *a) { return a->source; }

int ho_arena_set_root(ho_arena *a, const char *dir, char *err, size_t errlen)
{
    if (a == NULL || dir == NULL || a->has_root)
        return HO_ERR_INVALID_ARG;
    int rc = set_load(&a->root, dir, true, err, errlen);
    if (rc != HO_OK) {
        set_free(&a->root);
        return rc;
    }
    a->has_root = true;
    return HO_OK;
}

size_t ho_arena_root_file_count(const ho_arena *a) { return a->has_root ? a->root.file_count : 0; }

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
    const ho_arena *a = ctx;
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
    int rc = ho_json_write_items(resp->body, &a->ds, n, m);
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

/* The q-values an Accept-Encoding list gives br, gzip and "*" (RFC 9110
 * §12.5.3): -1 absent, 0 refused, 1 acceptable. */
typedef struct accept_coding {
    int br, gzip, any;
} accept_coding;

static bool ieq(const char *p, size_t n, const char *lit)
{
    if (strlen(lit) != n)
        return false;
    for (size_t k = 0; k < n; k++) {
        char c = p[k] >= 'A' && p[k] <= 'Z' ? (char)(p[k] | 0x20) : p[k];
        if (c != lit[k])
            return false;
    }
    return true;
}

static void parse_accept_encoding(ho_http_str v, accept_coding *ac)
{
    size_t k = 0;
    while (k < v.len) {
        size_t start = k;
        while (k < v.len && v.p[k] != ',')
            k++;
        const char *p = v.p + start, *end = v.p + k;
        k++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        const char *name = p;
        while (p < end && *p != ';' && *p != ' ' && *p != '\t')
            p++;
        size_t name_len = (size_t)(p - name);
        /* weight = OWS ";" OWS "q=" qvalue; qvalue 0, 0.0, 0.00, 0.000 refuse. */
        int q = 1;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if (p < end && *p == ';') {
            p++;
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            if (end - p >= 2 && (p[0] | 0x20) == 'q' && p[1] == '=') {
                p += 2;
                q = 0;
                for (; p < end && *p != ' ' && *p != '\t' && *p != ';'; p++)
                    if (*p >= '1' && *p <= '9')
                        q = 1;
            }
        }
        if (ieq(name, name_len, "br"))
            ac->br = q;
        else if (ieq(name, name_len, "gzip") || ieq(name, name_len, "x-gzip"))
            ac->gzip = q;
        else if (name_len == 1 && name[0] == '*')
            ac->any = q;
    }
}

/* A name that could leave the directory or that we would have to decode:
 * "..", '\\', NUL or any percent-encoding; '/' too unless the set has
 * subdirectories (and never leading, doubled or trailing). Only names of
 * files loaded at set-up can match anyway: this refuses the rest early. */
static bool file_name_ok(ho_http_str name, bool subdirs)
{
    if (name.len == 0 || name.p[0] == '/' || name.p[name.len - 1] == '/')
        return false;
    for (size_t k = 0; k < name.len; k++) {
        char c = name.p[k];
        if (c == '\\' || c == '\0' || c == '%' || (c == '/' && (!subdirs || name.p[k + 1] == '/')))
            return false;
        if (c == '.' && k + 1 < name.len && name.p[k + 1] == '.')
            return false;
    }
    return true;
}

/* Answers with the file `name` of fs, or 404; a .br/.gz sibling is chosen
 * by Accept-Encoding. */
static int answer_file(const file_set *fs, ho_http_str name, const ho_http_request *req, ho_http_response *resp)
{
    const static_file *f = file_name_ok(name, fs->recursive) ? file_find(fs, name.p, name.len) : NULL;
    if (f == NULL)
        return ANSWER(resp, 404, body_404);
    accept_coding ac = {-1, -1, -1};
    for (size_t k = 0; k < req->header_count; k++)
        if (ieq(req->headers[k].name.p, req->headers[k].name.len, "accept-encoding"))
            parse_accept_encoding(req->headers[k].value, &ac);
    bool br_ok = ac.br > 0 || (ac.br < 0 && ac.any > 0);
    bool gzip_ok = ac.gzip > 0 || (ac.gzip < 0 && ac.any > 0);
    const static_file *body = f;
    if (f->br != NULL && br_ok) {
        body = f->br;
        resp->content_encoding = "br";
    } else if (f->gz != NULL && gzip_ok) {
        body = f->gz;
        resp->content_encoding = "gzip";
    }
    /* RFC 9110 §12.5.5: the representation depends on Accept-Encoding
     * whenever there is a choice. */
    resp->vary_accept_encoding = f->br != NULL || f->gz != NULL;
    resp->content_type = f->type;
    resp->static_body = body->data;
    resp->static_len = body->len;
    return HO_OK;
}

/* GET /static/<file> */
static int static_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    const ho_arena *a = ctx;
    static const char prefix[] = "/static/";
    ho_http_str name = {req->path.p + sizeof(prefix) - 1, req->path.len - (sizeof(prefix) - 1)};
    return answer_file(&a->statics, name, req, resp);
}

/* GET /<path> from the root; a directory path ("/", "/docs/") means its
 * index.html. The longer routes (/static/, /json/, /baseline2) come first. */
static int root_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    const ho_arena *a = ctx;
    char name[MAX_NAME];
    size_t len = req->path.len - 1; /* the router matched "/": len >= 1 */
    if (len >= sizeof(name) - sizeof("index.html"))
        return ANSWER(resp, 404, body_404);
    memcpy(name, req->path.p + 1, len);
    if (len == 0 || name[len - 1] == '/') {
        memcpy(name + len, "index.html", sizeof("index.html") - 1);
        len += sizeof("index.html") - 1;
    }
    return answer_file(&a->root, (ho_http_str){name, len}, req, resp);
}

int ho_arena_register(ho_arena *a, ho_router *r)
{
    int rc = ho_router_add(r, "GET", "/json/", json_handler, a);
    if (rc == HO_OK)
        rc = ho_router_add(r, "GET", "/baseline2", baseline2_handler, NULL);
    if (rc == HO_OK)
        rc = ho_router_add(r, "GET", "/static/", static_handler, a);
    if (rc == HO_OK && a->has_root)
        rc = ho_router_add(r, "GET", "/", root_handler, a);
    return rc;
}
