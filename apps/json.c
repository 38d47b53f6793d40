/* A strict JSON reader (RFC 8259) just big enough for the HttpArena dataset,
 * and the /json serializer. The reader is a recursive-descent pull parser
 * over a bounded buffer: the dataset loader asks for the shape it expects
 * and anything else fails with the offset where it went wrong. */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_DEPTH = 64,          /* nesting of skipped values */
    MAX_ITEMS = 1 << 20,
    MAX_TAGS = 1 << 16,
};

typedef struct reader {
    const char *start, *p, *end;
    const char *err; /* first failure */
    size_t err_at;
    bool nomem;
} reader;

static bool fail(reader *r, const char *what)
{
    if (r->err == NULL) {
        r->err = what;
        r->err_at = (size_t)(r->p - r->start);
    }
    return false;
}

/* RFC 8259 §2: ws = *( SP / HTAB / LF / CR ). */
static void skip_ws(reader *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

/* Skips whitespace; true if the next byte is c (not consumed). */
static bool next_is(reader *r, char c)
{
    skip_ws(r);
    return r->p < r->end && *r->p == c;
}

static bool expect(reader *r, char c, const char *what)
{
    if (!next_is(r, c))
        return fail(r, what);
    r->p++;
    return true;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
        return (c | 0x20) - 'a' + 10;
    return -1;
}

static bool read_hex4(reader *r, unsigned *v)
{
    if (r->end - r->p < 4)
        return fail(r, "short \\u escape");
    *v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_value(r->p[k]);
        if (h < 0)
            return fail(r, "bad \\u escape");
        *v = *v << 4 | (unsigned)h;
    }
    r->p += 4;
    return true;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xc0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xe0 | cp >> 12);
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *w++ = (char)(0xf0 | cp >> 18);
        *w++ = (char)(0x80 | (cp >> 12 & 0x3f));
        *w++ = (char)(0x80 | (cp >> 6 & 0x3f));
        *w++ = (char)(0x80 | (cp & 0x3f));
    }
    return w;
}

/* Length of the well-formed UTF-8 sequence at p (RFC 3629 §4: no overlong
 * forms, no surrogates, nothing above U+10FFFF), 0 if there is none. */
static size_t utf8_sequence(const unsigned char *p, size_t avail)
{
    unsigned char c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (avail < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if ((p[k] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* string = quotation-mark *char quotation-mark (RFC 8259 §7), decoded into
 * a fresh NUL-terminated copy. The decoded form is never longer than the
 * escaped one, so the copy is sized by the raw length. */
static bool read_string(reader *r, json_text *out)
{
    if (!expect(r, '"', "expected a string"))
        return false;
    const char *raw = r->p;
    while (r->p < r->end && *r->p != '"')
        r->p += (*r->p == '\\' && r->end - r->p > 1) ? 2 : 1;
    if (r->p >= r->end)
        return fail(r, "unterminated string");
    const char *raw_end = r->p;
    char *buf = malloc((size_t)(raw_end - raw) + 1), *w = buf;
    if (buf == NULL) {
        r->nomem = true;
        return fail(r, "out of memory");
    }
    r->p = raw;
    while (r->p < raw_end) {
        unsigned char c = (unsigned char)*r->p;
        if (c < 0x20) {
            free(buf);
            return fail(r, "control character in string");
        }
        if (c != '\\') {
            size_t n = utf8_sequence((const unsigned char *)r->p, (size_t)(raw_end - r->p));
            if (n == 0) {
                free(buf);
                return fail(r, "invalid UTF-8 in string");
            }
            memcpy(w, r->p, n);
            w += n;
            r->p += n;
            continue;
        }
        r->p++;
        char e = *r->p++;
        unsigned cp;
        switch (e) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u':
            if (r->end - r->p < 4 || raw_end - r->p < 4 || !read_hex4(r, &cp)) {
                free(buf);
                return fail(r, "bad \\u escape");
            }
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                free(buf);
                return fail(r, "lone low surrogate");
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned low;
                if (raw_end - r->p < 6 || r->p[0] != '\\' || r->p[1] != 'u') {
                    free(buf);
                    return fail(r, "lone high surrogate");
                }
                r->p += 2;
                if (!read_hex4(r, &low) || low < 0xdc00 || low > 0xdfff) {
                    free(buf);
                    return fail(r, "bad surrogate pair");
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
            }
            w = put_utf8(w, cp);
            break;
        default:
            free(buf);
            return fail(r, "bad escape");
        }
    }
    *w = '\0';
    r->p = raw_end + 1;
    out->p = buf;
    out->len = (size_t)(w - buf);
    return true;
}

/* number = [ minus ] int [ frac ] [ exp ] (RFC 8259 §6). Keeps the text;
 * *is_int and *v are set when it is an integer that fits an int64. */
static bool read_number(reader *r, json_text *out, bool *is_int, int64_t *v)
{
    skip_ws(r);
    const char *s = r->p, *e = r->end, *p = s;
    bool neg = p < e && *p == '-';
    p += neg;
    if (p >= e || *p < '0' || *p > '9')
        return fail(r, "expected a number");
    bool integral = true, fits = true;
    uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (*p == '0') {
        p++;
    } else {
        for (; p < e && *p >= '0' && *p <= '9'; p++) {
            unsigned d = (unsigned)(*p - '0');
            if (mag > (limit - d) / 10)
                fits = false;
            else
                mag = mag * 10 + d;
        }
    }
    if (p < e && *p == '.') {
        integral = false;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            return r->p = p, fail(r, "digit expected after '.'");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        integral = false;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            return r->p = p, fail(r, "digit expected in exponent");
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    r->p = p;
    *is_int = integral && fits;
    if (*is_int)
        *v = !neg ? (int64_t)mag : mag == 0 ? 0 : -(int64_t)(mag - 1) - 1;
    if (out != NULL && json_text_set(out, s, (size_t)(p - s)) != HO_OK) {
        r->nomem = true;
        return fail(r, "out of memory");
    }
    return true;
}

static bool read_literal(reader *r, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, lit, n) != 0)
        return fail(r, "bad literal");
    r->p += n;
    return true;
}

static bool read_bool(reader *r, bool *v)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == 't')
        return (*v = true), read_literal(r, "true");
    if (r->p < r->end && *r->p == 'f')
        return (*v = false), read_literal(r, "false");
    return fail(r, "expected true or false");
}

/* Any value, checked and discarded (unknown keys). */
static bool skip_value(reader *r, int depth)
{
    if (depth > MAX_DEPTH)
        return fail(r, "nested too deeply");
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, "expected a value");
    char c = *r->p;
    if (c == '"') {
        json_text t;
        if (!read_string(r, &t))
            return false;
        free(t.p);
        return true;
    }
    if (c == '{' || c == '[') {
        char close = c == '{' ? '}' : ']';
        r->p++;
        if (next_is(r, close))
            return r->p++, true;
        for (;;) {
            if (c == '{') {
                json_text key;
                if (!read_string(r, &key))
                    return false;
                free(key.p);
                if (!expect(r, ':', "expected ':'"))
                    return false;
            }
            if (!skip_value(r, depth + 1))
                return false;
            if (next_is(r, ','))
                r->p++;
            else
                return expect(r, close, "expected ',' or the end of a container");
        }
    }
    if (c == 't' || c == 'f') {
        bool b;
        return read_bool(r, &b);
    }
    if (c == 'n')
        return read_literal(r, "null");
    bool is_int;
    int64_t v;
    return read_number(r, NULL, &is_int, &v);
}

/* Iterates "key": value pairs: calls field(r, key, ctx) with the reader on
 * the value. */
typedef bool (*field_fn)(reader *r, const json_text *key, void *ctx);

static bool read_object(reader *r, field_fn field, void *ctx)
{
    if (!expect(r, '{', "expected an object"))
        return false;
    if (next_is(r, '}'))
        return r->p++, true;
    for (;;) {
        json_text key;
        if (!read_string(r, &key))
            return false;
        bool ok = expect(r, ':', "expected ':'") && field(r, &key, ctx);
        free(key.p);
        if (!ok)
            return false;
        if (next_is(r, ','))
            r->p++;
        else
            return expect(r, '}', "expected ',' or '}'");
    }
}

enum {
    F_ID = 1 << 0, F_NAME = 1 << 1, F_CATEGORY = 1 << 2, F_PRICE = 1 << 3, F_QUANTITY = 1 << 4,
    F_ACTIVE = 1 << 5, F_TAGS = 1 << 6, F_RATING = 1 << 7, F_ALL = (1 << 8) - 1,
    F_SCORE = 1 << 0, F_COUNT = 1 << 1, F_RATING_ALL = 3,
};

typedef struct item_ctx {
    arena_item *it;
    unsigned seen;
} item_ctx;

/* Marks `bit` seen; a repeated key is an error (RFC 8259 §4 leaves
 * duplicates undefined; we refuse the ambiguity). */
static bool mark(reader *r, unsigned *seen, unsigned bit)
{
    if (*seen & bit)
        return fail(r, "duplicate key");
    *seen |= bit;
    return true;
}

static bool key_is(const json_text *key, const char *lit) { return strcmp(key->p, lit) == 0 && strlen(lit) == key->len; }

static bool rating_field(reader *r, const json_text *key, void *ctx)
{
    item_ctx *ic = ctx;
    bool is_int;
    int64_t v;
    if (key_is(key, "score"))
        return mark(r, &ic->seen, F_SCORE) && read_number(r, &ic->it->score, &is_int, &v);
    if (key_is(key, "count"))
        return mark(r, &ic->seen, F_COUNT) && read_number(r, &ic->it->count, &is_int, &v);
    return skip_value(r, 1);
}

static bool read_tags(reader *r, arena_item *it)
{
    if (!expect(r, '[', "tags: expected an array"))
        return false;
    if (next_is(r, ']'))
        return r->p++, true;
    size_t cap = 0;
    for (;;) {
        if (it->tag_count == cap) {
            if (cap >= MAX_TAGS)
                return fail(r, "too many tags");
            size_t ncap = cap ? cap * 2 : 4;
            json_text *t = realloc(it->tags, ncap * sizeof(*t));
            if (t == NULL) {
                r->nomem = true;
                return fail(r, "out of memory");
            }
            it->tags = t;
            cap = ncap;
        }
        if (!read_string(r, &it->tags[it->tag_count]))
            return false;
        it->tag_count++;
        if (next_is(r, ','))
            r->p++;
        else
            return expect(r, ']', "tags: expected ',' or ']'");
    }
}

static bool item_field(reader *r, const json_text *key, void *ctx)
{
    item_ctx *ic = ctx;
    arena_item *it = ic->it;
    bool is_int = false;
    int64_t v = 0;
    if (key_is(key, "id"))
        return mark(r, &ic->seen, F_ID) && read_number(r, &it->id, &is_int, &v);
    if (key_is(key, "name"))
        return mark(r, &ic->seen, F_NAME) && read_string(r, &it->name);
    if (key_is(key, "category"))
        return mark(r, &ic->seen, F_CATEGORY) && read_string(r, &it->category);
    if (key_is(key, "price") || key_is(key, "quantity")) {
        bool price = key->len == 5;
        if (!mark(r, &ic->seen, price ? F_PRICE : F_QUANTITY) || !read_number(r, NULL, &is_int, &v))
            return false;
        if (!is_int)
            return fail(r, price ? "price is not an int64 integer" : "quantity is not an int64 integer");
        *(price ? &it->price : &it->quantity) = v;
        return true;
    }
    if (key_is(key, "active"))
        return mark(r, &ic->seen, F_ACTIVE) && read_bool(r, &it->active);
    if (key_is(key, "tags"))
        return mark(r, &ic->seen, F_TAGS) && read_tags(r, it);
    if (key_is(key, "rating")) {
        if (!mark(r, &ic->seen, F_RATING))
            return false;
        item_ctx rc = {it, 0};
        if (!read_object(r, rating_field, &rc))
            return false;
        return rc.seen == F_RATING_ALL || fail(r, "rating needs score and count");
    }
    return skip_value(r, 1);
}

static void item_free(arena_item *it)
{
    free(it->id.p);
    free(it->name.p);
    free(it->category.p);
    for (size_t k = 0; k < it->tag_count; k++)
        free(it->tags[k].p);
    free(it->tags);
    free(it->score.p);
    free(it->count.p);
    memset(it, 0, sizeof(*it));
}

void json_dataset_free(arena_dataset *ds)
{
    for (size_t k = 0; k < ds->count; k++)
        item_free(&ds->items[k]);
    free(ds->items);
    ds->items = NULL;
    ds->count = 0;
}

int json_dataset_parse(const char *text, size_t len, arena_dataset *ds, char *err, size_t errlen)
{
    reader r = {.start = text, .p = text, .end = text + len};
    size_t cap = 0;
    ds->items = NULL;
    ds->count = 0;
    bool ok = expect(&r, '[', "expected the array of items");
    if (ok && next_is(&r, ']')) {
        r.p++;
    } else {
        while (ok) {
            if (ds->count == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                arena_item *items = cap >= MAX_ITEMS ? NULL : realloc(ds->items, ncap * sizeof(*items));
                if (items == NULL) {
                    r.nomem = cap < MAX_ITEMS;
                    ok = fail(&r, cap < MAX_ITEMS ? "out of memory" : "too many items");
                    break;
                }
                ds->items = items;
                cap = ncap;
            }
            arena_item *it = &ds->items[ds->count++];
            memset(it, 0, sizeof(*it));
            item_ctx ic = {it, 0};
            ok = read_object(&r, item_field, &ic);
            if (ok && ic.seen != F_ALL)
                ok = fail(&r, "item lacks one of id, name, category, price, quantity, active, tags, rating");
            if (!ok)
                break;
            json_item_finish(it);
            if (next_is(&r, ',')) {
                r.p++;
                continue;
            }
            ok = expect(&r, ']', "expected ',' or ']' after an item");
            break;
        }
    }
    if (ok) {
        skip_ws(&r);
        if (r.p != r.end)
            ok = fail(&r, "data after the array");
    }
    if (ok)
        return HO_OK;
    if (err != NULL && errlen > 0)
        snprintf(err, errlen, "offset %zu: %s", r.err_at, r.err);
    json_dataset_free(ds);
    return r.nomem ? HO_ERR_NOMEM : HO_ERR_INVALID_ARG;
}

int json_text_set(json_text *t, const char *s, size_t n)
{
    t->p = malloc(n + 1);
    if (t->p == NULL) {
        t->len = 0;
        return HO_ERR_NOMEM;
    }
    memcpy(t->p, s, n);
    t->p[n] = '\0';
    t->len = n;
    return HO_OK;
}

/* ---- the serializer ---------------------------------------------------- */

/* The fixed bytes of one item, "total" included. */
#define ITEM_KEYS                                                                              \
    "{\"id\":,\"name\":\"\",\"category\":\"\",\"price\":,\"quantity\":,\"active\":false,\"tags\":[]," \
    "\"rating\":{\"score\":,\"count\":},\"total\":},"

void json_item_finish(arena_item *it)
{
    /* Escaping grows a byte to at most 6 ("\u001f"); integers take ≤ 20. */
    size_t n = sizeof(ITEM_KEYS) + it->id.len + 6 * (it->name.len + it->category.len) + 3 * 20 + it->score.len +
               it->count.len;
    for (size_t k = 0; k < it->tag_count; k++)
        n += 6 * it->tags[k].len + 3;
    it->max_out = n;
}

static char *put_mem(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

#define PUT_LIT(w, lit) put_mem((w), (lit), sizeof(lit) - 1)

static char *put_i64(char *w, int64_t v)
{
    char tmp[20], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *w++ = '-';
    return put_mem(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* RFC 8259 §7: '"', '\\' and the control characters must be escaped. The
 * rest (valid UTF-8, checked at load time) is copied as is. */
static char *put_escaped(char *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    *w++ = '"';
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *w++ = (char)c;
            continue;
        }
        *w++ = '\\';
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '\b': *w++ = 'b'; break;
        case '\f': *w++ = 'f'; break;
        case '\n': *w++ = 'n'; break;
        case '\r': *w++ = 'r'; break;
        case '\t': *w++ = 't'; break;
        default:
            w = PUT_LIT(w, "u00");
            *w++ = hex[c >> 4];
            *w++ = hex[c & 15];
        }
    }
    *w++ = '"';
    return w;
}

void json_put_string(ho_buf *out, const char *s, size_t n)
{
    if (n > (SIZE_MAX - 2) / 6 || ho_buf_reserve(out, 6 * n + 2) != HO_OK) {
        out->failed = true;
        return;
    }
    char *start = (char *)out->data + out->len;
    out->len += (size_t)(put_escaped(start, s, n) - start);
}

int json_write_items(ho_buf *out, const arena_dataset *ds, size_t count, int64_t m)
{
    if (count > ds->count)
        return HO_ERR_INVALID_ARG;
    size_t bound = sizeof("{\"items\":[],\"count\":}") + 20;
    for (size_t k = 0; k < count; k++)
        bound += ds->items[k].max_out;
    if (ho_buf_reserve(out, bound) != HO_OK)
        return HO_ERR_NOMEM;
    char *start = (char *)out->data + out->len, *w = start;
    w = PUT_LIT(w, "{\"items\":[");
    for (size_t k = 0; k < count; k++) {
        const arena_item *it = &ds->items[k];
        int64_t total;
        if (__builtin_mul_overflow(it->price, it->quantity, &total) || __builtin_mul_overflow(total, m, &total))
            return HO_ERR_INVALID_ARG; /* nothing committed: out->len unchanged */
        if (k > 0)
            *w++ = ',';
        w = PUT_LIT(w, "{\"id\":");
        w = put_mem(w, it->id.p, it->id.len);
        w = PUT_LIT(w, ",\"name\":");
        w = put_escaped(w, it->name.p, it->name.len);
        w = PUT_LIT(w, ",\"category\":");
        w = put_escaped(w, it->category.p, it->category.len);
        w = PUT_LIT(w, ",\"price\":");
        w = put_i64(w, it->price);
        w = PUT_LIT(w, ",\"quantity\":");
        w = put_i64(w, it->quantity);
        w = it->active ? PUT_LIT(w, ",\"active\":true,\"tags\":[") : PUT_LIT(w, ",\"active\":false,\"tags\":[");
        for (size_t t = 0; t < it->tag_count; t++) {
            if (t > 0)
                *w++ = ',';
            w = put_escaped(w, it->tags[t].p, it->tags[t].len);
        }
        w = PUT_LIT(w, "],\"rating\":{\"score\":");
        w = put_mem(w, it->score.p, it->score.len);
        w = PUT_LIT(w, ",\"count\":");
        w = put_mem(w, it->count.p, it->count.len);
        w = PUT_LIT(w, "},\"total\":");
        w = put_i64(w, total);
        *w++ = '}';
    }
    w = PUT_LIT(w, "],\"count\":");
    w = put_i64(w, (int64_t)count);
    *w++ = '}';
    out->len += (size_t)(w - start);
    return HO_OK;
}
