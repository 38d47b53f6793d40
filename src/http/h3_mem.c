/*
 * nghttp3's allocator (nghttp3_mem): ho_mem_*, so that the allocation-failure
 * sweep (tests/test_faults.c) reaches nghttp3's allocations too, and an
 * out-of-memory inside nghttp3 takes the same paths as one of ours.
 */
#include "h3_mem.h"

#include "base/mem.h"

static void *mem_malloc(size_t size, void *ud)
{
    (void)ud;
    return ho_mem_alloc(size);
}

static void mem_free(void *ptr, void *ud)
{
    (void)ud;
    ho_mem_free(ptr);
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
    (void)ud;
    return ho_mem_calloc(nmemb, size);
}

static void *mem_realloc(void *ptr, size_t size, void *ud)
{
    (void)ud;
    return ho_mem_realloc(ptr, size);
}

static const nghttp3_mem h3_mem = {
    .user_data = NULL,
    .malloc = mem_malloc,
    .free = mem_free,
    .calloc = mem_calloc,
    .realloc = mem_realloc,
};

const nghttp3_mem *http_h3_mem(void) { return &h3_mem; }
