/* Growable buffer and the bounds-checked cursor: every parser and
 * serializer in the project goes through these. */
#include "base/mem.h"
#include "handoff/base.h"

#include <stdlib.h>
#include <string.h>

void ho_wipe(void *p, size_t n)
{
    if (p != NULL && n > 0)
        explicit_bzero(p, n);
}

void ho_buf_init(ho_buf *b) { memset(b, 0, sizeof(*b)); }

void ho_buf_wrap(ho_buf *b, uint8_t *mem, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->data = mem;
    b->cap = cap;
    b->fixed = true;
}

void ho_buf_free(ho_buf *b)
{
    if (b->data != NULL && !b->fixed) {
        ho_wipe(b->data, b->cap);
        ho_mem_free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

int ho_buf_reserve(ho_buf *b, size_t extra)
{
    if (b->failed)
        return HO_ERR_NOMEM;
    /* Once reserved, data is never NULL: ho_put_space(b, 0) must return a
     * valid pointer (NULL + 0 is undefined in C). */
    if (b->data != NULL && extra <= b->cap - b->len)
        return HO_OK;
    if (b->fixed) {
        b->failed = true;
        return HO_ERR_NOMEM;
    }
    if (extra > SIZE_MAX / 2 - b->len) {
        b->failed = true;
        return HO_ERR_NOMEM;
    }
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    /* Not realloc: the old block may hold secrets and must be wiped. */
    uint8_t *p = ho_mem_alloc(cap);
    if (p == NULL) {
        b->failed = true;
        return HO_ERR_NOMEM;
    }
    if (b->data != NULL) {
        memcpy(p, b->data, b->len);
        ho_wipe(b->data, b->cap);
        ho_mem_free(b->data);
    }
    b->data = p;
    b->cap = cap;
    return HO_OK;
}

void ho_buf_consume(ho_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

uint8_t *ho_put_space(ho_buf *b, size_t n)
{
    if (ho_buf_reserve(b, n) != HO_OK)
        return NULL;
    uint8_t *p = b->data + b->len;
    b->len += n;
    return p;
}

static void put_be(ho_buf *b, uint64_t v, int n)
{
    uint8_t *p = ho_put_space(b, (size_t)n);
    if (p == NULL)
        return;
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

void ho_put_u8(ho_buf *b, uint8_t v) { put_be(b, v, 1); }
void ho_put_u16(ho_buf *b, uint16_t v) { put_be(b, v, 2); }
void ho_put_u24(ho_buf *b, uint32_t v) { put_be(b, v, 3); }
void ho_put_u32(ho_buf *b, uint32_t v) { put_be(b, v, 4); }
void ho_put_u64(ho_buf *b, uint64_t v) { put_be(b, v, 8); }

void ho_put_varint(ho_buf *b, uint64_t v)
{
    /* RFC 9000 §16: the two high bits of the first byte give the length. */
    if (v < 0x40)
        put_be(b, v, 1);
    else if (v < 0x4000)
        put_be(b, v | 0x4000u, 2);
    else if (v < 0x40000000)
        put_be(b, v | 0x80000000u, 4);
    else if (v < 0x4000000000000000ull)
        put_be(b, v | 0xc000000000000000ull, 8);
    else
        b->failed = true;
}

void ho_put_bytes(ho_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *d = ho_put_space(b, n);
    if (d != NULL && n > 0)
        memcpy(d, p, n);
}

/* The token packs the block's start offset and the prefix width. */
size_t ho_block_open(ho_buf *b, int width)
{
    size_t start = b->len;
    put_be(b, 0, width);
    return (start << 2) | (size_t)width;
}

void ho_block_close(ho_buf *b, size_t token)
{
    if (b->failed)
        return;
    int width = (int)(token & 3);
    size_t start = token >> 2;
    size_t body = b->len - start - (size_t)width;
    if (width < 3 && body >> (8 * width) != 0) {
        b->failed = true;
        return;
    }
    if (width == 3 && body > 0xffffff) {
        b->failed = true;
        return;
    }
    for (int i = width - 1; i >= 0; i--) {
        b->data[start + (size_t)i] = (uint8_t)body;
        body >>= 8;
    }
}

/* ---- reader ---- */

static bool get_be(ho_cursor *c, int n, uint64_t *v)
{
    if (c->len < (size_t)n)
        return false;
    uint64_t x = 0;
    for (int i = 0; i < n; i++)
        x = (x << 8) | c->p[i];
    c->p += n;
    c->len -= (size_t)n;
    *v = x;
    return true;
}

bool ho_get_u8(ho_cursor *c, uint8_t *v) { uint64_t x; if (!get_be(c, 1, &x)) return false; *v = (uint8_t)x; return true; }
bool ho_get_u16(ho_cursor *c, uint16_t *v) { uint64_t x; if (!get_be(c, 2, &x)) return false; *v = (uint16_t)x; return true; }
bool ho_get_u24(ho_cursor *c, uint32_t *v) { uint64_t x; if (!get_be(c, 3, &x)) return false; *v = (uint32_t)x; return true; }
bool ho_get_u32(ho_cursor *c, uint32_t *v) { uint64_t x; if (!get_be(c, 4, &x)) return false; *v = (uint32_t)x; return true; }
bool ho_get_u64(ho_cursor *c, uint64_t *v) { return get_be(c, 8, v); }

bool ho_get_varint(ho_cursor *c, uint64_t *v)
{
    if (c->len < 1)
        return false;
    int n = 1 << (c->p[0] >> 6);
    if (c->len < (size_t)n)
        return false;
    uint64_t x = c->p[0] & 0x3f;
    for (int i = 1; i < n; i++)
        x = (x << 8) | c->p[i];
    c->p += n;
    c->len -= (size_t)n;
    *v = x;
    return true;
}

bool ho_get_bytes(ho_cursor *c, size_t n, const uint8_t **p)
{
    if (c->len < n)
        return false;
    *p = c->p;
    c->p += n;
    c->len -= n;
    return true;
}

bool ho_get_copy(ho_cursor *c, void *out, size_t n)
{
    const uint8_t *p;
    if (!ho_get_bytes(c, n, &p))
        return false;
    if (n > 0)
        memcpy(out, p, n);
    return true;
}

bool ho_skip(ho_cursor *c, size_t n)
{
    const uint8_t *p;
    return ho_get_bytes(c, n, &p);
}

bool ho_get_block(ho_cursor *c, int width, ho_cursor *block)
{
    ho_cursor save = *c;
    uint64_t n;
    const uint8_t *p;
    if (!get_be(c, width, &n) || !ho_get_bytes(c, (size_t)n, &p)) {
        *c = save;
        return false;
    }
    *block = ho_cursor_make(p, (size_t)n);
    return true;
}

bool ho_get_varint_block(ho_cursor *c, ho_cursor *block)
{
    ho_cursor save = *c;
    uint64_t n;
    const uint8_t *p;
    if (!ho_get_varint(c, &n) || n > c->len || !ho_get_bytes(c, (size_t)n, &p)) {
        *c = save;
        return false;
    }
    *block = ho_cursor_make(p, (size_t)n);
    return true;
}
