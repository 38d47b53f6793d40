/* The library's one allocator (src/base/mem.c), with allocation-failure
 * injection for tests (tests/test_faults.c). Internal: not exported.
 *
 * Every heap allocation in src/ goes through these, so a test can make the
 * Nth one fail and check the error paths. The hook costs one predictable
 * branch on a global counter that is zero outside such a test. */
#ifndef HANDOFF_BASE_MEM_H
#define HANDOFF_BASE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void *ho_mem_alloc(size_t n);
void *ho_mem_calloc(size_t count, size_t size);
void *ho_mem_realloc(void *p, size_t n);
void ho_mem_free(void *p);
char *ho_mem_strdup(const char *s);
char *ho_mem_strndup(const char *s, size_t n);

/* ---- fault injection (tests) ------------------------------------------
 * Only allocations made while the calling thread is enrolled count: a test
 * enrolls the server's threads (or brackets the server's calls in a
 * single-threaded simulation) so its own client side is never failed. */

/* Fails the nth counted allocation from now (1: the next one); 0 disarms.
 * Once it fires, the hook disarms itself: one failure per arming.
 * Disarming keeps the fired flag and the count of the run. */
void ho_mem_fault_arm(uint64_t nth);
/* Counts (or stops counting) the calling thread's allocations. */
void ho_mem_fault_enroll(bool on);
bool ho_mem_fault_enrolled(void);
/* Whether the armed failure was injected; clears the flag. */
bool ho_mem_fault_take_fired(void);
/* Counted allocations since the last ho_mem_fault_arm. With HO_FAULT_TRACE
 * set in the environment, the injected failure prints a backtrace. */
uint64_t ho_mem_fault_counted(void);

#endif
