/* libFuzzer target: the base layer's bounds-checked reader and buffer
 * writer, driven by the input as a program over itself. Each op byte names
 * a reader call on the rest of the input; the target checks the reader's
 * contract (a failed read leaves the cursor unchanged, a good one advances
 * by exactly what it returned and stays inside the input, varints round-trip
 * through the writer) and writes what it read back into an ho_buf with
 * nested length-prefixed blocks. Seeds: fuzz/corpus/fuzz_cursor/. */
#include "handoff/base.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static void check_inside(const uint8_t *data, size_t size, const uint8_t *p, size_t n)
{
    CHECK(p >= data && n <= size && (size_t)(p - data) <= size - n);
}

static void check_varint_roundtrip(uint64_t v, size_t consumed)
{
    CHECK(v < (1ULL << 62));
    ho_buf t;
    ho_buf_init(&t);
    ho_put_varint(&t, v);
    CHECK(!t.failed && t.len >= 1 && t.len <= consumed); /* the writer is minimal */
    ho_cursor c = ho_cursor_make(t.data, t.len);
    uint64_t w;
    CHECK(ho_get_varint(&c, &w) && w == v && ho_cursor_empty(&c));
    ho_buf_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ho_cursor c = ho_cursor_make(data, size), block;
    ho_buf b;
    ho_buf_init(&b);
    size_t tokens[8];
    int depth = 0;
    uint8_t op, n8, tmp[256];
    const uint8_t *p;
    while (ho_get_u8(&c, &op)) {
        ho_cursor before = c;
        bool ok = true;
        size_t want = 0; /* bytes a successful fixed-size read consumes */
        switch (op % 12) {
        case 0: { uint8_t v; if ((ok = ho_get_u8(&c, &v))) ho_put_u8(&b, v); want = 1; break; }
        case 1: { uint16_t v; if ((ok = ho_get_u16(&c, &v))) ho_put_u16(&b, v); want = 2; break; }
        case 2: {
            uint32_t v;
            if ((ok = ho_get_u24(&c, &v))) {
                CHECK(v < (1u << 24));
                ho_put_u24(&b, v);
            }
            want = 3;
            break;
        }
        case 3: { uint32_t v; if ((ok = ho_get_u32(&c, &v))) ho_put_u32(&b, v); want = 4; break; }
        case 4: { uint64_t v; if ((ok = ho_get_u64(&c, &v))) ho_put_u64(&b, v); want = 8; break; }
        case 5: {
            uint64_t v;
            if ((ok = ho_get_varint(&c, &v))) {
                want = before.len - c.len;
                CHECK(want == 1 || want == 2 || want == 4 || want == 8);
                check_varint_roundtrip(v, want);
                ho_put_varint(&b, v);
            }
            break;
        }
        case 6: case 7: case 8:
            if (!ho_get_u8(&c, &n8))
                goto end;
            before = c;
            want = n8;
            if (op % 12 == 6) {
                if ((ok = ho_get_bytes(&c, n8, &p))) {
                    CHECK(p == before.p);
                    check_inside(data, size, p, n8);
                    ho_put_bytes(&b, p, n8);
                }
            } else if (op % 12 == 7) {
                if ((ok = ho_get_copy(&c, tmp, n8)))
                    CHECK(n8 == 0 || memcmp(tmp, before.p, n8) == 0);
            } else {
                ok = ho_skip(&c, n8);
            }
            break;
        case 9: case 10:
            if (op % 12 == 9)
                ok = ho_get_block(&c, 1 + (op >> 4) % 3, &block);
            else
                ok = ho_get_varint_block(&c, &block);
            if (ok) {
                check_inside(data, size, block.p, block.len);
                CHECK(block.p + block.len == c.p);
                want = before.len - c.len;
                if (depth < 8)
                    tokens[depth++] = ho_block_open(&b, 1 + (op >> 4) % 3);
                ho_put_bytes(&b, block.p, block.len);
            }
            break;
        case 11:
            if (depth > 0)
                ho_block_close(&b, tokens[--depth]);
            break;
        }
        if (!ok) {
            CHECK(c.p == before.p && c.len == before.len);
        } else if (want > 0) {
            CHECK(c.len + want == before.len && c.p == before.p + want);
        }
        CHECK(b.failed || b.len <= b.cap);
    }
end:
    while (depth > 0)
        ho_block_close(&b, tokens[--depth]);
    if (!b.failed && b.len > 0) {
        ho_buf_consume(&b, b.len / 2);
        ho_buf_consume(&b, b.len);
        CHECK(b.len == 0);
    }
    ho_buf_free(&b);
    return 0;
}
