/* Byte-stream plumbing shared by CRYPTO (RFC 9000 §19.6, one stream per
 * epoch) and STREAM data (§2.2): range sets, a send buffer that re-queues
 * lost ranges (frames are retransmitted, never packets, RFC 9000 §13.3),
 * and a receive buffer that reassembles out-of-order data (§2.2: data
 * delivered in order, duplicates ignored). */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "quic/conn_int.h"

/* ---- range sets -------------------------------------------------------- */

static int rangeset_insert_at(ho_quic_rangeset *s, size_t i, uint64_t start, uint64_t end)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        ho_quic_range *r = ho_mem_realloc(s->r, cap * sizeof(*r));
        if (r == NULL)
            return HO_ERR_NOMEM;
        s->r = r;
        s->cap = cap;
    }
    memmove(&s->r[i + 1], &s->r[i], (s->n - i) * sizeof(*s->r));
    s->r[i] = (ho_quic_range){start, end};
    s->n++;
    return HO_OK;
}

int ho_quic_rangeset_add(ho_quic_rangeset *s, uint64_t start, uint64_t end)
{
    if (start >= end)
        return HO_OK;
    /* Fast path: appending above the last range (the common in-order case). */
    if (s->n > 0 && start >= s->r[s->n - 1].start) {
        ho_quic_range *last = &s->r[s->n - 1];
        if (start <= last->end) {
            if (end > last->end)
                last->end = end;
            return HO_OK;
        }
        return rangeset_insert_at(s, s->n, start, end);
    }
    size_t i = 0;
    while (i < s->n && s->r[i].end < start)
        i++;
    if (i == s->n || s->r[i].start > end)
        return rangeset_insert_at(s, i, start, end);
    /* Overlaps or touches r[i]: merge forward. */
    if (start < s->r[i].start)
        s->r[i].start = start;
    if (end > s->r[i].end)
        s->r[i].end = end;
    size_t j = i + 1;
    while (j < s->n && s->r[j].start <= s->r[i].end) {
        if (s->r[j].end > s->r[i].end)
            s->r[i].end = s->r[j].end;
        j++;
    }
    memmove(&s->r[i + 1], &s->r[j], (s->n - j) * sizeof(*s->r));
    s->n -= j - i - 1;
    return HO_OK;
}

void ho_quic_rangeset_remove(ho_quic_rangeset *s, uint64_t start, uint64_t end)
{
    for (size_t i = 0; i < s->n && start < end;) {
        ho_quic_range *r = &s->r[i];
        if (r->end <= start) {
            i++;
            continue;
        }
        if (r->start >= end)
            break;
        if (r->start < start && r->end > end) {
            /* Split. */
            uint64_t tail = r->end;
            r->end = start;
            if (rangeset_insert_at(s, i + 1, end, tail) != HO_OK)
                s->r[i].end = tail; /* keep it: resending too much is harmless */
            return;
        }
        if (r->start < start) {
            r->end = start;
            i++;
        } else if (r->end > end) {
            r->start = end;
            return;
        } else {
            memmove(&s->r[i], &s->r[i + 1], (s->n - i - 1) * sizeof(*s->r));
            s->n--;
        }
    }
}

bool ho_quic_rangeset_contains(const ho_quic_rangeset *s, uint64_t v)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->r[mid].end <= v)
            lo = mid + 1;
        else if (s->r[mid].start > v)
            hi = mid;
        else
            return true;
    }
    return false;
}

void ho_quic_rangeset_trim(ho_quic_rangeset *s, size_t max)
{
    if (s->n <= max)
        return;
    size_t drop = s->n - max;
    memmove(&s->r[0], &s->r[drop], max * sizeof(*s->r));
    s->n = max;
}

void ho_quic_rangeset_free(ho_quic_rangeset *s)
{
    ho_mem_free(s->r);
    memset(s, 0, sizeof(*s));
}

/* ---- send buffer -------------------------------------------------------- */

/* Releases the references of segments [from, to). */
static void release_refs(ho_quic_sendbuf *sb, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        const ho_quic_sendseg *g = &sb->segs[i];
        if (g->ref != NULL && g->release != NULL && g->len > 0)
            g->release(g->release_ud, g->ref, (size_t)g->len);
    }
}

void ho_quic_sendbuf_free(ho_quic_sendbuf *sb)
{
    release_refs(sb, sb->seg_first, sb->nseg);
    ho_mem_free(sb->segs);
    sb->segs = NULL;
    sb->seg_first = sb->nseg = sb->seg_cap = 0;
    ho_mem_free(sb->ring);
    sb->ring = NULL;
    sb->cap = sb->head = 0;
    sb->ring_base = sb->ring_end = 0;
    ho_quic_rangeset_free(&sb->retx);
    ho_quic_rangeset_free(&sb->acked);
}

/* Position in the ring of ring index i (ring_base <= i <= ring_end). */
static size_t ring_pos(const ho_quic_sendbuf *sb, uint64_t i)
{
    size_t pos = sb->head + (size_t)(i - sb->ring_base);
    return pos >= sb->cap ? pos - sb->cap : pos;
}

/* Grows the ring to hold at least `need` live bytes, unwrapping them to
 * the front of the new allocation (the only place live bytes move). */
static int ring_grow(ho_quic_sendbuf *sb, size_t need)
{
    size_t cap = sb->cap ? sb->cap : 256; /* small streams stay small */
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            return HO_ERR_NOMEM;
        cap *= 2;
    }
    uint8_t *r = ho_mem_alloc(cap);
    if (r == NULL)
        return HO_ERR_NOMEM;
    size_t live = (size_t)(sb->ring_end - sb->ring_base);
    if (live > 0) {
        size_t first = sb->cap - sb->head < live ? sb->cap - sb->head : live;
        memcpy(r, sb->ring + sb->head, first);
        memcpy(r + first, sb->ring, live - first);
    }
    ho_mem_free(sb->ring);
    sb->ring = r;
    sb->cap = cap;
    sb->head = 0;
    return HO_OK;
}

/* Room for one more segment at segs[nseg]. */
static int seg_reserve(ho_quic_sendbuf *sb)
{
    if (sb->nseg < sb->seg_cap)
        return HO_OK;
    if (sb->seg_first > 0) { /* reuse the released front */
        memmove(sb->segs, sb->segs + sb->seg_first, (sb->nseg - sb->seg_first) * sizeof(*sb->segs));
        sb->nseg -= sb->seg_first;
        sb->seg_first = 0;
        return HO_OK;
    }
    size_t cap = sb->seg_cap ? sb->seg_cap * 2 : 4;
    ho_quic_sendseg *g = ho_mem_realloc(sb->segs, cap * sizeof(*g));
    if (g == NULL)
        return HO_ERR_NOMEM;
    sb->segs = g;
    sb->seg_cap = cap;
    return HO_OK;
}

int ho_quic_sendbuf_write(ho_quic_sendbuf *sb, const void *p, size_t len)
{
    if (len == 0)
        return HO_OK;
    size_t live = (size_t)(sb->ring_end - sb->ring_base);
    if (len > SIZE_MAX - live)
        return HO_ERR_NOMEM;
    bool extend = false;
    if (sb->nseg > 0) {
        /* After a reference: the copy is a segment of its own, or extends
         * the last one if that is in the ring. */
        if (sb->segs[sb->nseg - 1].ref == NULL)
            extend = true;
        else if (seg_reserve(sb) != HO_OK)
            return HO_ERR_NOMEM;
    }
    if (live + len > sb->cap && ring_grow(sb, live + len) != HO_OK)
        return HO_ERR_NOMEM;
    size_t pos = ring_pos(sb, sb->ring_end);
    size_t first = sb->cap - pos < len ? sb->cap - pos : len;
    memcpy(sb->ring + pos, p, first);
    memcpy(sb->ring, (const uint8_t *)p + first, len - first);
    if (extend)
        sb->segs[sb->nseg - 1].len += len;
    else if (sb->nseg > 0)
        sb->segs[sb->nseg++] = (ho_quic_sendseg){.off = sb->end, .len = len, .ring_idx = sb->ring_end};
    sb->ring_end += len;
    sb->end += len;
    return HO_OK;
}

int ho_quic_sendbuf_write_ref(ho_quic_sendbuf *sb, const void *p, size_t len, ho_quic_release_fn release,
                              void *ud)
{
    if (len == 0)
        return HO_OK;
    if (sb->nseg == 0 && sb->end > sb->base) {
        /* The first reference: the copied bytes before it become a segment. */
        if (seg_reserve(sb) != HO_OK)
            return HO_ERR_NOMEM;
        sb->segs[sb->nseg++] = (ho_quic_sendseg){.off = sb->base, .len = sb->end - sb->base,
                                                 .ring_idx = sb->ring_base};
    }
    ho_quic_sendseg *last = sb->nseg > sb->seg_first ? &sb->segs[sb->nseg - 1] : NULL;
    if (last != NULL && last->ref != NULL && last->release == release && last->release_ud == ud &&
        last->ref + last->len == (const uint8_t *)p) {
        last->len += len; /* the next piece of the same memory */
    } else {
        if (seg_reserve(sb) != HO_OK)
            return HO_ERR_NOMEM;
        sb->segs[sb->nseg++] = (ho_quic_sendseg){
            .off = sb->end, .len = len, .ref = p, .release = release, .release_ud = ud};
    }
    sb->end += len;
    return HO_OK;
}

/* Where stream offset off (base <= off < end) is: returns a pointer to it
 * and caps n to the bytes contiguous from there. */
static const uint8_t *locate(const ho_quic_sendbuf *sb, uint64_t off, uint64_t *n)
{
    uint64_t idx;
    if (sb->nseg == 0) {
        idx = sb->ring_base + (off - sb->base);
    } else {
        size_t lo = sb->seg_first, hi = sb->nseg; /* the segment holding off */
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (sb->segs[mid].off <= off)
                lo = mid;
            else
                hi = mid;
        }
        const ho_quic_sendseg *g = &sb->segs[lo];
        uint64_t in = g->off + g->len - off;
        if (*n > in)
            *n = in;
        if (g->ref != NULL)
            return g->ref + (off - g->off);
        idx = g->ring_idx + (off - g->off);
    }
    size_t pos = ring_pos(sb, idx);
    if (*n > sb->cap - pos)
        *n = sb->cap - pos; /* stops where the ring wraps */
    return sb->ring + pos;
}

bool ho_quic_sendbuf_peek(const ho_quic_sendbuf *sb, uint64_t limit, size_t max_len, uint64_t *off, size_t *len,
                          bool *fin, const uint8_t **data)
{
    if (sb->retx.n > 0) {
        const ho_quic_range *r = &sb->retx.r[0];
        uint64_t n = r->end - r->start;
        if (n > max_len)
            n = max_len;
        if (n == 0)
            return false;
        *data = locate(sb, r->start, &n);
        *off = r->start;
        *len = (size_t)n;
        *fin = sb->fin && r->start + n == sb->end && (sb->fin_lost || !sb->fin_sent);
        return true;
    }
    uint64_t stop = sb->end < limit ? sb->end : limit;
    uint64_t n = stop > sb->next ? stop - sb->next : 0;
    if (n > max_len)
        n = max_len;
    *data = n > 0 ? locate(sb, sb->next, &n) : NULL;
    bool f = sb->fin && sb->next + n == sb->end && (!sb->fin_sent || sb->fin_lost) && !sb->fin_acked;
    if (n == 0 && !f)
        return false;
    *off = sb->next;
    *len = (size_t)n;
    *fin = f;
    return true;
}

/* The prefix below `upto` is acknowledged: frees its ring bytes (by moving
 * the head: no byte moves) and releases its references. */
static void release_prefix(ho_quic_sendbuf *sb, uint64_t upto)
{
    uint64_t ring_upto;
    if (sb->nseg == 0) {
        ring_upto = sb->ring_base + (upto - sb->base);
    } else {
        size_t i = sb->seg_first;
        while (i < sb->nseg && sb->segs[i].off + sb->segs[i].len <= upto)
            i++;
        release_refs(sb, sb->seg_first, i);
        sb->seg_first = i;
        if (i < sb->nseg && sb->segs[i].off < upto) { /* partly acknowledged */
            ho_quic_sendseg *g = &sb->segs[i];
            uint64_t k = upto - g->off;
            if (g->ref != NULL) {
                if (g->release != NULL)
                    g->release(g->release_ud, g->ref, (size_t)k);
                g->ref += k;
            } else {
                g->ring_idx += k;
            }
            g->off = upto;
            g->len -= k;
        }
        /* The ring's live bytes start at the first ring segment left (the
         * ring holds the bytes of ring segments only, in order). */
        ring_upto = sb->ring_end;
        for (size_t j = sb->seg_first; j < sb->nseg; j++)
            if (sb->segs[j].ref == NULL) {
                ring_upto = sb->segs[j].ring_idx;
                break;
            }
        if (sb->seg_first == sb->nseg) /* all acknowledged: back to the ring alone */
            sb->seg_first = sb->nseg = 0;
    }
    sb->head = ring_pos(sb, ring_upto);
    sb->ring_base = ring_upto;
    if (sb->ring_base == sb->ring_end)
        sb->head = 0; /* empty: the next write starts at the front */
    sb->base = upto;
}

uint64_t ho_quic_sendbuf_on_sent(ho_quic_sendbuf *sb, uint64_t off, size_t len, bool fin)
{
    uint64_t fresh = 0;
    ho_quic_rangeset_remove(&sb->retx, off, off + len);
    if (off + len > sb->next) {
        fresh = off + len - (off > sb->next ? off : sb->next);
        sb->next = off + len;
    }
    if (fin) {
        sb->fin_sent = true;
        sb->fin_lost = false;
    }
    return fresh;
}

void ho_quic_sendbuf_on_acked(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin)
{
    if (fin)
        sb->fin_acked = true;
    if (len == 0 || off + len <= sb->base)
        return;
    if (off < sb->base) {
        len -= sb->base - off;
        off = sb->base;
    }
    ho_quic_rangeset_add(&sb->acked, off, off + len);
    ho_quic_rangeset_remove(&sb->retx, off, off + len);
    /* Release the acknowledged prefix. */
    if (sb->acked.n > 0 && sb->acked.r[0].start <= sb->base) {
        uint64_t upto = sb->acked.r[0].end;
        release_prefix(sb, upto);
        ho_quic_rangeset_remove(&sb->acked, 0, upto);
    }
}

void ho_quic_sendbuf_trim(ho_quic_sendbuf *sb)
{
    if (sb->base != sb->end || sb->nseg != 0 || sb->acked.n != 0 || sb->retx.n != 0)
        return;
    ho_mem_free(sb->ring);
    sb->ring = NULL;
    sb->cap = sb->head = 0;
    ho_mem_free(sb->segs);
    sb->segs = NULL;
    sb->seg_cap = sb->seg_first = 0;
    ho_quic_rangeset_free(&sb->acked);
    ho_quic_rangeset_free(&sb->retx);
}

void ho_quic_sendbuf_on_lost(ho_quic_sendbuf *sb, uint64_t off, uint64_t len, bool fin)
{
    if (fin && !sb->fin_acked)
        sb->fin_lost = true;
    uint64_t end = off + len;
    if (end <= sb->base)
        return;
    if (off < sb->base)
        off = sb->base;
    /* Only the parts not acknowledged since. */
    uint64_t cur = off;
    for (size_t i = 0; i < sb->acked.n && cur < end; i++) {
        const ho_quic_range *a = &sb->acked.r[i];
        if (a->end <= cur)
            continue;
        if (a->start >= end)
            break;
        if (a->start > cur)
            ho_quic_rangeset_add(&sb->retx, cur, a->start);
        cur = a->end;
    }
    if (cur < end)
        ho_quic_rangeset_add(&sb->retx, cur, end);
    if (fin && sb->fin_lost && len == 0 && sb->retx.n == 0 && sb->next == sb->end)
        sb->fin_sent = false; /* a lone FIN: send it again through the new-data path */
}

void ho_quic_sendbuf_requeue_unacked(ho_quic_sendbuf *sb)
{
    ho_quic_sendbuf_on_lost(sb, sb->base, sb->next - sb->base, sb->fin_sent && !sb->fin_acked);
}

uint64_t ho_quic_sendbuf_requeue_oldest(ho_quic_sendbuf *sb, uint64_t max)
{
    if (sb->base < sb->next) {
        uint64_t n = sb->next - sb->base < max ? sb->next - sb->base : max;
        bool fin = sb->fin_sent && !sb->fin_acked && sb->base + n == sb->next;
        ho_quic_sendbuf_on_lost(sb, sb->base, n, fin);
        return n;
    }
    if (sb->fin_sent && !sb->fin_acked)
        ho_quic_sendbuf_on_lost(sb, sb->next, 0, true);
    return 0;
}

bool ho_quic_sendbuf_has_unacked(const ho_quic_sendbuf *sb)
{
    return sb->base < sb->next || (sb->fin_sent && !sb->fin_acked);
}

bool ho_quic_sendbuf_done(const ho_quic_sendbuf *sb)
{
    return sb->fin && sb->fin_acked && sb->base == sb->end;
}

/* ---- receive buffer ----------------------------------------------------- */

void ho_quic_recvbuf_free(ho_quic_recvbuf *rb)
{
    ho_buf_free(&rb->data);
    ho_quic_rangeset_free(&rb->have);
}

int ho_quic_recvbuf_insert(ho_quic_recvbuf *rb, uint64_t off, const uint8_t *p, size_t len)
{
    uint64_t end = off + len;
    if (end > rb->highest)
        rb->highest = end;
    if (end <= rb->read || len == 0)
        return HO_OK; /* duplicate (§2.2) */
    if (off < rb->read) {
        p += rb->read - off;
        len -= (size_t)(rb->read - off);
        off = rb->read;
    }
    size_t need = (size_t)(end - rb->read);
    if (need > rb->data.len) {
        size_t grow = need - rb->data.len;
        uint8_t *z = ho_put_space(&rb->data, grow);
        if (z == NULL)
            return HO_ERR_NOMEM;
        memset(z, 0, grow);
    }
    memcpy(rb->data.data + (off - rb->read), p, len);
    return ho_quic_rangeset_add(&rb->have, off, end);
}

size_t ho_quic_recvbuf_readable(const ho_quic_recvbuf *rb)
{
    if (rb->have.n == 0 || rb->have.r[0].start > rb->read)
        return 0;
    return (size_t)(rb->have.r[0].end - rb->read);
}

size_t ho_quic_recvbuf_read(ho_quic_recvbuf *rb, uint8_t *out, size_t cap)
{
    size_t n = ho_quic_recvbuf_readable(rb);
    if (n > cap)
        n = cap;
    if (n == 0)
        return 0;
    memcpy(out, rb->data.data, n);
    ho_buf_consume(&rb->data, n);
    rb->read += n;
    ho_quic_rangeset_remove(&rb->have, 0, rb->read);
    return n;
}

void ho_quic_recvbuf_trim(ho_quic_recvbuf *rb)
{
    if (rb->have.n == 0 && rb->data.len == 0) {
        ho_buf_free(&rb->data);
        ho_quic_rangeset_free(&rb->have);
    }
}
