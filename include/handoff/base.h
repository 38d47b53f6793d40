/*
 * handoff — base layer: errors, growable buffers, the bounds-checked cursor,
 * wiping secrets, and the event core.
 *
 * Error contract (used by every layer): functions return int, 0 (HO_OK) on
 * success. Negative values are local failures (memory, arguments, I/O).
 * Values in [HO_ERR_TLS_ALERT_BASE, +0x100) are TLS alerts *we* send: the low
 * byte is the AlertDescription that goes on the wire. Values in
 * [HO_ERR_TLS_PEER_ALERT_BASE, +0x100) are alerts the peer sent us.
 */
#ifndef HANDOFF_BASE_H
#define HANDOFF_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handoff/error.h"
#include "handoff/event.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors: handoff/error.h ---------------------------------------- */

/* ---- secrets --------------------------------------------------------- */

/* Zeroes memory in a way the compiler cannot elide. */
HO_API void ho_wipe(void *p, size_t n);

/* ---- growable buffer ------------------------------------------------- */

typedef struct ho_buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    bool failed; /* sticky: an allocation or a block length overflowed */
    bool fixed;  /* borrowed memory (ho_buf_wrap): never grown, moved or freed */
} ho_buf;

HO_API void ho_buf_init(ho_buf *b);
/* Writes go straight into the caller's `cap` bytes at mem; a write that
 * does not fit fails (b->failed) instead of growing. ho_buf_free only
 * forgets the memory. */
HO_API void ho_buf_wrap(ho_buf *b, uint8_t *mem, size_t cap);
/* Wipes the contents (they may be secret) and frees. */
HO_API void ho_buf_free(ho_buf *b);
HO_API int ho_buf_reserve(ho_buf *b, size_t extra);
/* Drops the first n bytes. */
HO_API void ho_buf_consume(ho_buf *b, size_t n);

/* Writers: append; on failure set b->failed and do nothing else.
 * Check b->failed once at the end of a serializer. */
HO_API void ho_put_u8(ho_buf *b, uint8_t v);
HO_API void ho_put_u16(ho_buf *b, uint16_t v);
HO_API void ho_put_u24(ho_buf *b, uint32_t v);
HO_API void ho_put_u32(ho_buf *b, uint32_t v);
HO_API void ho_put_u64(ho_buf *b, uint64_t v);
HO_API void ho_put_varint(ho_buf *b, uint64_t v); /* QUIC varint, RFC 9000 §16 */
HO_API void ho_put_bytes(ho_buf *b, const void *p, size_t n);
/* Returns a pointer to n fresh bytes at the end (NULL and failed on OOM). */
HO_API uint8_t *ho_put_space(ho_buf *b, size_t n);

/* Length-prefixed blocks: open with the width of the length field (1, 2, 3
 * bytes); returns a token for ho_block_close, which fills in the length and
 * sets failed if the content does not fit the width. */
HO_API size_t ho_block_open(ho_buf *b, int width);
HO_API void ho_block_close(ho_buf *b, size_t token);

/* ---- bounds-checked reader ------------------------------------------- */

typedef struct ho_cursor {
    const uint8_t *p;
    size_t len;
} ho_cursor;

static inline ho_cursor ho_cursor_make(const void *p, size_t len) { ho_cursor c = {(const uint8_t *)p, len}; return c; }
static inline bool ho_cursor_empty(const ho_cursor *c) { return c->len == 0; }

/* Each returns false (and leaves the cursor unchanged) if there are not
 * enough bytes. */
HO_API bool ho_get_u8(ho_cursor *c, uint8_t *v);
HO_API bool ho_get_u16(ho_cursor *c, uint16_t *v);
HO_API bool ho_get_u24(ho_cursor *c, uint32_t *v);
HO_API bool ho_get_u32(ho_cursor *c, uint32_t *v);
HO_API bool ho_get_u64(ho_cursor *c, uint64_t *v);
HO_API bool ho_get_varint(ho_cursor *c, uint64_t *v);
HO_API bool ho_get_bytes(ho_cursor *c, size_t n, const uint8_t **p);
HO_API bool ho_get_copy(ho_cursor *c, void *out, size_t n);
HO_API bool ho_skip(ho_cursor *c, size_t n);
/* Reads a length prefix of `width` bytes (1, 2, 3) and the block it covers. */
HO_API bool ho_get_block(ho_cursor *c, int width, ho_cursor *block);
/* Same, for a QUIC varint length. */
HO_API bool ho_get_varint_block(ho_cursor *c, ho_cursor *block);

/* ---- events: handoff/event.h ---------------------------------------- */

/* ---- latency histograms ----------------------------------------------- */
/* Fixed buckets for the server's metrics (Prometheus histograms): upper
 * bounds from 50 us to 1 s, then one bucket for everything above. */
enum { HO_HIST_BOUNDS = 14 };
HO_API extern const uint64_t ho_hist_bounds_ns[HO_HIST_BOUNDS];
typedef struct ho_hist {
    /* Observations per bucket, not cumulative: bucket[i] counts those in
     * (bound[i-1], bound[i]]; bucket[HO_HIST_BOUNDS] those above the last. */
    uint64_t bucket[HO_HIST_BOUNDS + 1];
    uint64_t count, sum_ns;
} ho_hist;
/* Adds the observations of src into dst. */
HO_API void ho_hist_merge(ho_hist *dst, const ho_hist *src);
/* Records one observation (a plain, single-threaded histogram). */
HO_API void ho_hist_observe(ho_hist *h, uint64_t ns);

/* ---- files ------------------------------------------------------------- */
/* Reads the whole regular file `path` (relative to dirfd; AT_FDCWD for the
 * working directory; not through a final symlink when nofollow) into a
 * malloc'd buffer, NUL-terminated after its *len bytes. Returns 0, or an
 * errno value: EISDIR for anything but a regular file, EFBIG above max
 * bytes, EIO if it shrank while read. */
HO_API int ho_file_read(int dirfd, const char *path, bool nofollow, size_t max, uint8_t **data, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
