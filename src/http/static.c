/* Static files served from memory: a directory's regular files (or a
 * whole tree) loaded at set-up, answered by a router handler with content
 * types and precompressed .br/.gz siblings chosen by Accept-Encoding
 * (RFC 9110 §12.5.3). After loading, a set is read-only: handlers touch
 * only the request, the response and the set. */
#include "base/mem.h"
#include "handoff/http.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
    MAX_FILE_BYTES = 256 << 20, /* one file (the QUIC bulk bench serves 100 MB) */
    MAX_STATIC_FILES = 4096,   /* per set */
    MAX_SET_BYTES = 1 << 30,   /* all the files of one set, in memory */
    MAX_ROOT_DEPTH = 16,       /* subdirectory levels under a recursive set */
    MAX_NAME = 1024,           /* a file's path relative to its set */
    MAX_PREFIX = 256,          /* the route a set is served at */
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
struct ho_http_files {
    static_file *files; /* sorted by name */
    size_t file_count, cap, bytes;
    bool recursive;     /* subdirectories too (symbolic links skipped) */
    size_t prefix_len;  /* the route it is registered at ("/static/": 8) */
};
typedef struct ho_http_files file_set;

static const char body_404[] = "404 Not Found\n";

static void set_err(char *err, size_t errlen, const char *a, const char *b)
{
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "%s: %s", a, b);
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
        ho_mem_free(fs->files[k].name);
        ho_mem_free(fs->files[k].data);
    }
    ho_mem_free(fs->files);
    memset(fs, 0, sizeof(*fs));
}

/* Adds the regular file `entry` of the open directory dfd as `name`. */
static int set_add(file_set *fs, int dfd, const char *entry, const char *name, char *err, size_t errlen)
{
    if (fs->file_count == fs->cap) {
        size_t ncap = fs->cap ? fs->cap * 2 : 32;
        static_file *f = ncap > MAX_STATIC_FILES ? NULL : ho_mem_realloc(fs->files, ncap * sizeof(*f));
        if (f == NULL) {
            set_err(err, errlen, name, ncap > MAX_STATIC_FILES ? "too many files" : "out of memory");
            return ncap > MAX_STATIC_FILES ? HO_ERR_INVALID_ARG : HO_ERR_NOMEM;
        }
        fs->files = f;
        fs->cap = ncap;
    }
    static_file *f = &fs->files[fs->file_count];
    memset(f, 0, sizeof(*f));
    int er = ho_file_read(dfd, entry, fs->recursive, MAX_FILE_BYTES, &f->data, &f->len);
    if (er != 0) {
        set_err(err, errlen, name, strerror(er));
        return er == ENOMEM ? HO_ERR_NOMEM : HO_ERR_IO;
    }
    if (fs->bytes + f->len > MAX_SET_BYTES) {
        ho_mem_free(f->data);
        set_err(err, errlen, name, "the directory holds more than 1 GiB");
        return HO_ERR_INVALID_ARG;
    }
    f->name = ho_mem_strdup(name);
    if (f->name == NULL) {
        ho_mem_free(f->data);
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

/* ---- answering ----------------------------------------------------------- */

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
        {
        resp->status = 404;
        resp->content_type = "text/plain";
        resp->static_body = (const uint8_t *)body_404;
        resp->static_len = sizeof(body_404) - 1;
        return HO_OK;
    }
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

/* ---- the public face --------------------------------------------------- */

ho_http_files *ho_http_files_load(const char *dir, bool recursive, char *err, size_t errlen)
{
    file_set *fs = ho_mem_calloc(1, sizeof(*fs));
    if (fs == NULL) {
        set_err(err, errlen, dir != NULL ? dir : "files", "out of memory");
        return NULL;
    }
    if (dir == NULL) {
        set_err(err, errlen, "files", "no directory");
        ho_mem_free(fs);
        return NULL;
    }
    if (set_load(fs, dir, recursive, err, errlen) != HO_OK) {
        ho_http_files_free(fs);
        return NULL;
    }
    return fs;
}

void ho_http_files_free(ho_http_files *fs)
{
    if (fs == NULL)
        return;
    set_free(fs);
    ho_mem_free(fs);
}

size_t ho_http_files_count(const ho_http_files *fs) { return fs != NULL ? fs->file_count : 0; }

/* GET <prefix><name>; with a recursive set, a name that is empty or ends in
 * '/' means that directory's index.html. */
static int files_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    const file_set *fs = ctx;
    char name[MAX_NAME];
    size_t len = req->path.len - fs->prefix_len; /* the router matched the prefix */
    if (len >= sizeof(name) - sizeof("index.html"))
        return answer_file(fs, (ho_http_str){"", 0}, req, resp);
    memcpy(name, req->path.p + fs->prefix_len, len);
    if (fs->recursive && (len == 0 || name[len - 1] == '/')) {
        memcpy(name + len, "index.html", sizeof("index.html") - 1);
        len += sizeof("index.html") - 1;
    }
    return answer_file(fs, (ho_http_str){name, len}, req, resp);
}

int ho_http_files_register(ho_http_files *fs, ho_router *r, const char *prefix)
{
    size_t n = prefix != NULL ? strlen(prefix) : 0;
    if (fs == NULL || r == NULL || n == 0 || n > MAX_PREFIX || prefix[0] != '/' || prefix[n - 1] != '/' ||
        (fs->prefix_len != 0 && fs->prefix_len != n))
        return HO_ERR_INVALID_ARG;
    fs->prefix_len = n;
    return ho_router_add(r, "GET", prefix, files_handler, fs);
}
