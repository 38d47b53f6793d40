/* The library's allocator: libc's, behind a fault hook for tests (mem.h). */
#include "base/mem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <execinfo.h>
#include <stdio.h>
#include <string.h>

/* Nonzero only while a test has armed a failure: the fast path reads it once. */
static _Atomic uint64_t fault_countdown;
static _Atomic uint64_t fault_counted;
static atomic_bool fault_fired;
static _Thread_local bool fault_enrolled;

void ho_mem_fault_arm(uint64_t nth)
{
    if (nth != 0) { /* disarming keeps what the run saw */
        atomic_store(&fault_counted, 0);
        atomic_store(&fault_fired, false);
    }
    atomic_store(&fault_countdown, nth);
}

void ho_mem_fault_enroll(bool on) { fault_enrolled = on; }
bool ho_mem_fault_enrolled(void) { return fault_enrolled; }
bool ho_mem_fault_take_fired(void) { return atomic_exchange(&fault_fired, false); }
uint64_t ho_mem_fault_counted(void) { return atomic_load(&fault_counted); }

/* The slow path: counts an enrolled thread's allocation; true to fail it. */
static bool fault_hit(void)
{
    if (!fault_enrolled)
        return false;
    atomic_fetch_add(&fault_counted, 1);
    uint64_t left = atomic_load(&fault_countdown);
    while (left != 0) {
        if (atomic_compare_exchange_weak(&fault_countdown, &left, left - 1)) {
            if (left != 1)
                return false;
            atomic_store(&fault_fired, true);
            if (getenv("HO_FAULT_TRACE") != NULL) { /* where it failed, for a test's author */
                void *bt[12];
                int k = backtrace(bt, 12);
                fprintf(stderr, "FAULT at:\n");
                backtrace_symbols_fd(bt, k, 2);
            }
            return true;
        }
    }
    return false;
}

static inline bool fault_check(void)
{
    if (__builtin_expect(atomic_load_explicit(&fault_countdown, memory_order_relaxed) != 0, 0))
        return fault_hit();
    return false;
}

void *ho_mem_alloc(size_t n) { return fault_check() ? NULL : malloc(n); }

void *ho_mem_calloc(size_t count, size_t size) { return fault_check() ? NULL : calloc(count, size); }

void *ho_mem_realloc(void *p, size_t n) { return fault_check() ? NULL : realloc(p, n); }

void ho_mem_free(void *p) { free(p); }

char *ho_mem_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = ho_mem_alloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *ho_mem_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = ho_mem_alloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}
