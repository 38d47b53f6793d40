/* Minimal test harness: CHECK records a failure and continues; each test
 * program ends with ho_test_summary(), which prints "N passed, N failed". */
#ifndef HO_TEST_HARNESS_H
#define HO_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stddef.h>

extern int ho_test_passed, ho_test_failed;

#define CHECK(cond) do { \
    if (cond) ho_test_passed++; \
    else { ho_test_failed++; fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_EQ(a, b) do { \
    long long _a = (long long)(a), _b = (long long)(b); \
    if (_a == _b) ho_test_passed++; \
    else { ho_test_failed++; fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, %s = %lld\n", \
                                     __FILE__, __LINE__, #a, _a, #b, _b); } \
} while (0)

#define CHECK_MEM(a, b, n) do { \
    if (memcmp((a), (b), (n)) == 0) ho_test_passed++; \
    else { ho_test_failed++; fprintf(stderr, "%s:%d: CHECK_MEM failed: %s != %s\n", __FILE__, __LINE__, #a, #b); \
           ho_test_hexdump("got", (const uint8_t *)(a), (n)); ho_test_hexdump("want", (const uint8_t *)(b), (n)); } \
} while (0)

/* Decodes hex (whitespace ignored) into a malloc'd buffer; *len gets the size. */
uint8_t *ho_test_unhex(const char *hex, size_t *len);
void ho_test_hexdump(const char *label, const uint8_t *p, size_t n);
/* Path under ../shared (env HO_SHARED, set by ctest). */
const char *ho_test_shared(const char *rel);
/* Prints the summary line and returns the exit status. */
int ho_test_summary(const char *name);

#endif
