/* Send buffer of src/quic/crypto_stream.c (CRYPTO and STREAM data): the
 * ring that releases acknowledged bytes without moving live ones; chunks
 * stop at the wrap point; retransmission and acknowledgement of ranges
 * across the wrap; growth while wrapped; a randomized run against a model. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "quic/conn_int.h"

/* Byte at stream offset o. */
static uint8_t pat(uint64_t o)
{
    return (uint8_t)(o * 7 + (o >> 8) + 3);
}

static void write_pat(ho_quic_sendbuf *sb, size_t n)
{
    uint8_t tmp[8192];
    while (n > 0) {
        size_t k = n < sizeof(tmp) ? n : sizeof(tmp);
        for (size_t i = 0; i < k; i++)
            tmp[i] = pat(sb->end + i);
        CHECK_EQ(ho_quic_sendbuf_write(sb, tmp, k), HO_OK);
        n -= k;
    }
}

static bool chunk_ok(uint64_t off, size_t len, const uint8_t *p)
{
    for (size_t i = 0; i < len; i++)
        if (p[i] != pat(off + i))
            return false;
    return true;
}

/* Peeks and marks sent one chunk; returns false if none is due. */
static bool send_one(ho_quic_sendbuf *sb, size_t max, uint64_t *off, size_t *len, bool *fin)
{
    const uint8_t *p;
    if (!ho_quic_sendbuf_peek(sb, UINT64_MAX, max, off, len, fin, &p))
        return false;
    CHECK(chunk_ok(*off, *len, p));
    ho_quic_sendbuf_on_sent(sb, *off, *len, *fin);
    return true;
}

static void test_wrap(void)
{
    ho_quic_sendbuf sb = {0};
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *p;

    write_pat(&sb, 3000);
    CHECK_EQ(sb.cap, 4096);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 0 && len == 3000);
    const uint8_t *ring = sb.ring;
    ho_quic_sendbuf_on_acked(&sb, 0, 2900, false);
    /* The acknowledged prefix is released without moving anything. */
    CHECK(sb.ring == ring && sb.base == 2900 && sb.head == 2900);

    /* 2000 more bytes: 1096 at the end of the ring, 904 at its front. */
    write_pat(&sb, 2000);
    sb.fin = true;
    CHECK(sb.ring == ring && sb.cap == 4096);
    CHECK(ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    CHECK(off == 3000 && len == 1096 && !fin && p == ring + 3000); /* stops at the wrap */
    CHECK(chunk_ok(off, len, p));
    /* Flow control below the wrap point still applies. */
    CHECK(ho_quic_sendbuf_peek(&sb, 3500, 5000, &off, &len, &fin, &p));
    CHECK(off == 3000 && len == 500 && !fin);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 3000 && len == 1096 && !fin);
    CHECK(ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    CHECK(off == 4096 && len == 904 && fin && p == ring);
    CHECK(chunk_ok(off, len, p));
    ho_quic_sendbuf_on_sent(&sb, off, len, fin);
    CHECK(!ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));

    /* A lost range across the wrap comes back as two contiguous chunks. */
    ho_quic_sendbuf_on_lost(&sb, 3500, 1000, false);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 3500 && len == 596 && !fin);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 4096 && len == 404 && !fin);
    CHECK(!ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    /* A lost range ending at the FIN across the wrap: FIN on the second piece only. */
    ho_quic_sendbuf_on_lost(&sb, 4000, 1000, true);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 4000 && len == 96 && !fin);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 4096 && len == 904 && fin);

    /* Acknowledgements across the wrap, out of order: nothing released
     * until the gap at the base closes. */
    ho_quic_sendbuf_on_acked(&sb, 3900, 600, false); /* [3900, 4500) spans the wrap */
    CHECK_EQ(sb.base, 2900);
    ho_quic_sendbuf_on_acked(&sb, 3000, 900, false);
    CHECK_EQ(sb.base, 2900);
    ho_quic_sendbuf_on_acked(&sb, 2900, 100, false);
    CHECK_EQ(sb.base, 4500);
    CHECK_EQ(sb.head, 4500 - 4096);
    CHECK(sb.ring == ring);
    /* A loss of something partly acknowledged re-queues only the rest. */
    ho_quic_sendbuf_on_lost(&sb, 4000, 800, false);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 4500 && len == 300);
    CHECK(ho_quic_sendbuf_has_unacked(&sb));
    ho_quic_sendbuf_on_acked(&sb, 4500, 500, true);
    CHECK(ho_quic_sendbuf_done(&sb));
    CHECK(sb.base == 5000 && sb.head == 0 && sb.ring == ring);
    ho_quic_sendbuf_free(&sb);
}

/* Growth while the live bytes wrap: they are unwrapped into the new ring. */
/* An emptied buffer starts again at the front of its ring. */
static void test_empty_restart(void)
{
    ho_quic_sendbuf sb = {0};
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *p;
    write_pat(&sb, 3000);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && len == 3000);
    ho_quic_sendbuf_on_acked(&sb, 0, 3000, false);
    CHECK(sb.base == 3000 && sb.head == 0);
    write_pat(&sb, 2000);
    CHECK(ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    CHECK(off == 3000 && len == 2000 && p == sb.ring && chunk_ok(off, len, p));
    ho_quic_sendbuf_free(&sb);
}

static void test_grow_wrapped(void)
{
    ho_quic_sendbuf sb = {0};
    uint64_t off;
    size_t len;
    bool fin;
    write_pat(&sb, 4000);
    CHECK(send_one(&sb, 10000, &off, &len, &fin) && len == 4000);
    ho_quic_sendbuf_on_acked(&sb, 0, 3000, false);
    write_pat(&sb, 2000); /* [3000, 6000) live, wraps at 4096 */
    CHECK_EQ(sb.cap, 4096);
    CHECK(sb.head == 3000);
    write_pat(&sb, 5000); /* 8000 live: grows to 8192 */
    CHECK_EQ(sb.cap, 8192);
    CHECK_EQ(sb.head, 0);
    /* Everything sent and unacknowledged comes back intact, then the rest. */
    ho_quic_sendbuf_requeue_unacked(&sb);
    CHECK(send_one(&sb, 10000, &off, &len, &fin) && off == 3000 && len == 1000);
    CHECK(send_one(&sb, 10000, &off, &len, &fin) && off == 4000 && len == 7000);
    ho_quic_sendbuf_on_acked(&sb, 3000, 8000, false);
    CHECK_EQ(sb.base, 11000);
    ho_quic_sendbuf_free(&sb);
}

/* Random writes, sends (small chunks), acks and losses; every byte any
 * peek returns must match the stream, and everything ends acknowledged. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

#define INFLIGHT_MAX 256
static void test_random(void)
{
    ho_quic_sendbuf sb = {0};
    struct {
        uint64_t off;
        size_t len;
        bool fin;
    } inflight[INFLIGHT_MAX];
    size_t n_inflight = 0;
    const uint64_t total = 3000000;
    const size_t window = 20000; /* like stream_send_buffer */
    size_t bad = 0, grows = 0;
    size_t last_cap = 0;
    for (int step = 0; step < 2000000 && !ho_quic_sendbuf_done(&sb); step++) {
        uint32_t op = rnd(10);
        if (op < 3 && !sb.fin) {
            size_t held = (size_t)(sb.end - sb.base);
            size_t n = held < window ? rnd((uint32_t)(window - held)) + 1 : 0;
            if (sb.end + n > total)
                n = (size_t)(total - sb.end);
            if (n > 0)
                write_pat(&sb, n);
            if (sb.end == total)
                sb.fin = true;
        } else if (op < 7 && n_inflight < INFLIGHT_MAX) {
            uint64_t off;
            size_t len;
            bool fin;
            const uint8_t *p;
            if (ho_quic_sendbuf_peek(&sb, UINT64_MAX, rnd(1400) + 1, &off, &len, &fin, &p)) {
                if (!chunk_ok(off, len, p))
                    bad++;
                ho_quic_sendbuf_on_sent(&sb, off, len, fin);
                inflight[n_inflight].off = off;
                inflight[n_inflight].len = len;
                inflight[n_inflight].fin = fin;
                n_inflight++;
            }
        } else if (n_inflight > 0) {
            size_t i = rnd((uint32_t)n_inflight);
            if (op < 9)
                ho_quic_sendbuf_on_acked(&sb, inflight[i].off, inflight[i].len, inflight[i].fin);
            else
                ho_quic_sendbuf_on_lost(&sb, inflight[i].off, inflight[i].len, inflight[i].fin);
            inflight[i] = inflight[--n_inflight];
        } else if (ho_quic_sendbuf_has_unacked(&sb)) {
            ho_quic_sendbuf_requeue_unacked(&sb); /* a PTO with nothing in flight */
        }
        if (sb.cap != last_cap) {
            grows++;
            last_cap = sb.cap;
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(ho_quic_sendbuf_done(&sb));
    CHECK_EQ(sb.end, total);
    /* The ring stopped growing at the window (20000 -> 32768): at most
     * 256, 512, ..., 32768. */
    CHECK_EQ(sb.cap, 32768);
    CHECK(grows <= 8);
    ho_quic_sendbuf_free(&sb);
}

/* ---- references (ho_quic_sendbuf_write_ref) ------------------------------ */

static uint8_t big[1 << 20]; /* big[o] == pat(o): referenced in place */

typedef struct released {
    size_t calls;
    uint64_t bytes;
    const uint8_t *next; /* pieces come in order */
    bool out_of_order;
} released;

static void on_release(void *ud, const void *data, size_t len)
{
    released *r = ud;
    if (r->next != NULL && (const uint8_t *)data != r->next)
        r->out_of_order = true;
    r->next = (const uint8_t *)data + len;
    r->calls++;
    r->bytes += len;
}

static void write_ref_pat(ho_quic_sendbuf *sb, size_t n, ho_quic_release_fn fn, void *ud)
{
    CHECK_EQ(ho_quic_sendbuf_write_ref(sb, big + sb->end, n, fn, ud), HO_OK);
}

static void test_refs(void)
{
    ho_quic_sendbuf sb = {0};
    released rel = {0};
    uint64_t off;
    size_t len;
    bool fin;
    const uint8_t *p;

    write_pat(&sb, 100);                        /* [0, 100) copied */
    write_ref_pat(&sb, 200, NULL, NULL);        /* [100, 300) borrowed */
    write_ref_pat(&sb, 100, NULL, NULL);        /* [300, 400): the same memory, merged */
    write_pat(&sb, 50);                         /* [400, 450) copied */
    write_ref_pat(&sb, 1000, on_release, &rel); /* [450, 1450) borrowed, released */
    sb.fin = true;
    CHECK_EQ(sb.nseg - sb.seg_first, 4);
    CHECK_EQ(sb.ring_end - sb.ring_base, 150); /* only the copies are in the ring */

    /* Chunks stop at segment ends; borrowed chunks point at the memory. */
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 0 && len == 100);
    CHECK(ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    CHECK(off == 100 && len == 300 && p == big + 100);
    CHECK(send_one(&sb, 250, &off, &len, &fin) && off == 100 && len == 250);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 350 && len == 50);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 400 && len == 50);
    CHECK(ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    CHECK(off == 450 && len == 1000 && fin && p == big + 450);
    ho_quic_sendbuf_on_sent(&sb, off, len, fin);

    /* A loss across copied and borrowed bytes: one chunk per segment. */
    ho_quic_sendbuf_on_lost(&sb, 50, 400, false);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 50 && len == 50);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 100 && len == 300);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 400 && len == 50);

    /* Acknowledgements: partly into the released reference, then out of order. */
    ho_quic_sendbuf_on_acked(&sb, 0, 500, false);
    CHECK_EQ(sb.base, 500);
    CHECK(rel.calls == 1 && rel.bytes == 50);
    CHECK_EQ(sb.ring_end - sb.ring_base, 0); /* both copies released */
    ho_quic_sendbuf_on_acked(&sb, 1000, 450, true);
    CHECK(rel.bytes == 50 && sb.base == 500);
    ho_quic_sendbuf_on_lost(&sb, 500, 950, true); /* only [500, 1000) is due again */
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 500 && len == 500 && !fin);
    CHECK(!ho_quic_sendbuf_peek(&sb, UINT64_MAX, 5000, &off, &len, &fin, &p));
    ho_quic_sendbuf_on_acked(&sb, 500, 500, false);
    CHECK(ho_quic_sendbuf_done(&sb));
    CHECK(rel.bytes == 1000 && !rel.out_of_order);
    CHECK_EQ(sb.nseg, 0); /* everything acknowledged: the ring alone again */

    /* Copies after that go to the ring as before. */
    sb.fin = false;
    write_pat(&sb, 10);
    CHECK(send_one(&sb, 5000, &off, &len, &fin) && off == 1450 && len == 10);
    ho_quic_sendbuf_free(&sb);

    /* Freeing the buffer releases what is still referenced. */
    released rel2 = {0};
    ho_quic_sendbuf sb2 = {0};
    write_ref_pat(&sb2, 300, on_release, &rel2);
    write_pat(&sb2, 10);
    write_ref_pat(&sb2, 300, on_release, &rel2);
    CHECK(send_one(&sb2, 5000, &off, &len, &fin) && off == 0 && len == 300);
    ho_quic_sendbuf_on_acked(&sb2, 0, 100, false);
    CHECK_EQ(rel2.bytes, 100);
    ho_quic_sendbuf_free(&sb2);
    CHECK(rel2.bytes == 600 && rel2.calls == 3);
}

/* The randomized run with a mix of copies and references (alternating
 * release user data, so some references merge and some do not). */
static void test_random_refs(void)
{
    ho_quic_sendbuf sb = {0};
    released rel[2] = {{0}, {0}};
    uint64_t ref_bytes[2] = {0, 0};
    struct {
        uint64_t off;
        size_t len;
        bool fin;
    } inflight[INFLIGHT_MAX];
    size_t n_inflight = 0;
    const uint64_t total = sizeof(big);
    const size_t window = 20000;
    size_t bad = 0;
    for (int step = 0; step < 2000000 && !ho_quic_sendbuf_done(&sb); step++) {
        uint32_t op = rnd(10);
        if (op < 3 && !sb.fin) {
            size_t held = (size_t)(sb.end - sb.base);
            size_t n = held < window ? rnd((uint32_t)(window - held)) + 1 : 0;
            if (sb.end + n > total)
                n = (size_t)(total - sb.end);
            uint32_t kind = rnd(3);
            if (n > 0 && kind == 0) {
                write_pat(&sb, n);
            } else if (n > 0) {
                ref_bytes[kind - 1] += n;
                write_ref_pat(&sb, n, on_release, &rel[kind - 1]);
            }
            if (sb.end == total)
                sb.fin = true;
        } else if (op < 7 && n_inflight < INFLIGHT_MAX) {
            uint64_t off;
            size_t len;
            bool fin;
            const uint8_t *p;
            if (ho_quic_sendbuf_peek(&sb, UINT64_MAX, rnd(1400) + 1, &off, &len, &fin, &p)) {
                if (!chunk_ok(off, len, p))
                    bad++;
                ho_quic_sendbuf_on_sent(&sb, off, len, fin);
                inflight[n_inflight].off = off;
                inflight[n_inflight].len = len;
                inflight[n_inflight].fin = fin;
                n_inflight++;
            }
        } else if (n_inflight > 0) {
            size_t i = rnd((uint32_t)n_inflight);
            if (op < 9)
                ho_quic_sendbuf_on_acked(&sb, inflight[i].off, inflight[i].len, inflight[i].fin);
            else
                ho_quic_sendbuf_on_lost(&sb, inflight[i].off, inflight[i].len, inflight[i].fin);
            inflight[i] = inflight[--n_inflight];
        } else if (ho_quic_sendbuf_has_unacked(&sb)) {
            ho_quic_sendbuf_requeue_unacked(&sb);
        }
    }
    CHECK_EQ(bad, 0);
    CHECK(ho_quic_sendbuf_done(&sb));
    CHECK_EQ(sb.end, total);
    CHECK(ref_bytes[0] > 0 && ref_bytes[1] > 0);
    CHECK(rel[0].bytes == ref_bytes[0] && rel[1].bytes == ref_bytes[1]);
    CHECK_EQ(sb.nseg, 0);
    CHECK(sb.cap <= 32768);
    ho_quic_sendbuf_free(&sb);
    CHECK(rel[0].bytes == ref_bytes[0] && rel[1].bytes == ref_bytes[1]); /* nothing twice */
}

int main(void)
{
    RUN(test_wrap);
    RUN(test_empty_restart);
    RUN(test_grow_wrapped);
    RUN(test_random);
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = pat(i);
    RUN(test_refs);
    RUN(test_random_refs);
    return ho_test_summary("test_crypto_stream");
}
