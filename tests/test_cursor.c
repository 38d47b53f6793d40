/* Unit tests for src/base: the bounds-checked cursor and buffer (buf.c),
 * whole-file reads (file.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "handoff/base.h"

static void test_ints(void)
{
    ho_buf b;
    ho_buf_init(&b);
    ho_put_u8(&b, 0x01);
    ho_put_u16(&b, 0x0203);
    ho_put_u24(&b, 0x040506);
    ho_put_u32(&b, 0x0708090a);
    ho_put_u64(&b, 0x0b0c0d0e0f101112ull);
    CHECK(!b.failed);
    CHECK_EQ(b.len, 18);
    ho_cursor c = ho_cursor_make(b.data, b.len);
    uint8_t a; uint16_t s; uint32_t t, u; uint64_t v;
    CHECK(ho_get_u8(&c, &a) && a == 1);
    CHECK(ho_get_u16(&c, &s) && s == 0x0203);
    CHECK(ho_get_u24(&c, &t) && t == 0x040506);
    CHECK(ho_get_u32(&c, &u) && u == 0x0708090a);
    CHECK(ho_get_u64(&c, &v) && v == 0x0b0c0d0e0f101112ull);
    CHECK(ho_cursor_empty(&c));
    CHECK(!ho_get_u8(&c, &a));
    ho_buf_free(&b);
}

static void test_truncation(void)
{
    const uint8_t data[3] = {1, 2, 3};
    ho_cursor c = ho_cursor_make(data, 3);
    uint32_t u;
    CHECK(!ho_get_u32(&c, &u));
    CHECK_EQ(c.len, 3); /* unchanged on failure */
    ho_cursor blk;
    const uint8_t bad_block[] = {0x00, 0x05, 1, 2};
    c = ho_cursor_make(bad_block, sizeof(bad_block));
    CHECK(!ho_get_block(&c, 2, &blk));
    CHECK_EQ(c.len, sizeof(bad_block));
    const uint8_t good_block[] = {0x03, 1, 2, 3, 9};
    c = ho_cursor_make(good_block, sizeof(good_block));
    CHECK(ho_get_block(&c, 1, &blk) && blk.len == 3 && blk.p[2] == 3 && c.len == 1);
}

static void test_varint(void)
{
    /* RFC 9000 §A.1 examples. */
    struct { const char *hex; uint64_t v; } cases[] = {
        {"c2197c5eff14e88c", 151288809941952652ull},
        {"9d7f3e7d", 494878333},
        {"7bbd", 15293},
        {"25", 37},
        {"4025", 37},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n;
        uint8_t *p = ho_test_unhex(cases[i].hex, &n);
        ho_cursor c = ho_cursor_make(p, n);
        uint64_t v = 0;
        CHECK(ho_get_varint(&c, &v) && v == cases[i].v && c.len == 0);
        if (i != 4) { /* 0x4025 is a non-minimal encoding of 37 */
            ho_buf b;
            ho_buf_init(&b);
            ho_put_varint(&b, cases[i].v);
            CHECK(b.len == n && memcmp(b.data, p, n) == 0);
            ho_buf_free(&b);
        }
        c = ho_cursor_make(p, n - 1);
        if (n > 1)
            CHECK(!ho_get_varint(&c, &v));
        free(p);
    }
    ho_buf b;
    ho_buf_init(&b);
    ho_put_varint(&b, 1ull << 62);
    CHECK(b.failed);
    ho_buf_free(&b);
}

static void test_blocks(void)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t outer = ho_block_open(&b, 2);
    size_t inner = ho_block_open(&b, 1);
    ho_put_bytes(&b, "abc", 3);
    ho_block_close(&b, inner);
    ho_put_u8(&b, 7);
    ho_block_close(&b, outer);
    CHECK(!b.failed);
    const uint8_t want[] = {0, 5, 3, 'a', 'b', 'c', 7};
    CHECK(b.len == sizeof(want) && memcmp(b.data, want, sizeof(want)) == 0);
    /* Overflowing a 1-byte length marks the buffer failed. */
    size_t t = ho_block_open(&b, 1);
    for (int i = 0; i < 300; i++)
        ho_put_u8(&b, 0);
    ho_block_close(&b, t);
    CHECK(b.failed);
    ho_buf_free(&b);
}

static void test_consume(void)
{
    ho_buf b;
    ho_buf_init(&b);
    ho_put_bytes(&b, "hello world", 11);
    ho_buf_consume(&b, 6);
    CHECK(b.len == 5 && memcmp(b.data, "world", 5) == 0);
    ho_buf_consume(&b, 100);
    CHECK_EQ(b.len, 0);
    ho_buf_free(&b);
}

/* A wrapped buffer writes into the caller's memory and fails rather than
 * grow; free leaves the memory alone. */
static void test_wrap(void)
{
    uint8_t mem[8];
    memset(mem, 0xee, sizeof(mem));
    ho_buf b;
    ho_buf_wrap(&b, mem, 6);
    ho_put_bytes(&b, "abcd", 4);
    CHECK(!b.failed && b.len == 4 && b.data == mem && memcmp(mem, "abcd", 4) == 0);
    ho_put_u16(&b, 0x4546);
    CHECK(!b.failed && b.len == 6 && mem[4] == 0x45 && mem[5] == 0x46);
    ho_put_u8(&b, 1); /* no room: fails, nothing written, still the caller's memory */
    CHECK(b.failed && b.len == 6 && b.data == mem && mem[6] == 0xee);
    ho_buf_free(&b);
    CHECK(b.data == NULL && memcmp(mem, "abcdEF", 6) == 0);
}

/* ho_file_read: whole file, NUL after it, limits and errors as errno. */
static void test_file_read(void)
{
    char dir[] = "/tmp/ho-test-file.XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("hello file", f);
    fclose(f);
    uint8_t *data = NULL;
    size_t len = 0;
    CHECK_EQ(ho_file_read(AT_FDCWD, path, false, 100, &data, &len), 0);
    CHECK_EQ(len, 10);
    CHECK(data != NULL && memcmp(data, "hello file", 11) == 0); /* with its NUL */
    free(data);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    CHECK_EQ(ho_file_read(dfd, "f", true, 10, &data, &len), 0); /* exactly max */
    free(data);
    CHECK_EQ(ho_file_read(dfd, "f", true, 9, &data, &len), EFBIG);
    CHECK_EQ(ho_file_read(AT_FDCWD, dir, false, 100, &data, &len), EISDIR);
    CHECK_EQ(ho_file_read(dfd, "missing", false, 100, &data, &len), ENOENT);
    CHECK_EQ(symlinkat("f", dfd, "link"), 0);
    CHECK_EQ(ho_file_read(dfd, "link", true, 100, &data, &len), ELOOP); /* O_NOFOLLOW */
    CHECK_EQ(ho_file_read(dfd, "link", false, 100, &data, &len), 0);
    free(data);
    unlinkat(dfd, "link", 0);
    unlinkat(dfd, "f", 0);
    close(dfd);
    rmdir(dir);
}

int main(void)
{
    RUN(test_ints);
    RUN(test_truncation);
    RUN(test_varint);
    RUN(test_blocks);
    RUN(test_consume);
    RUN(test_wrap);
    RUN(test_file_read);
    return ho_test_summary("test_cursor");
}
