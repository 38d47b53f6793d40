/* Minimal test harness: CHECK records a failure and continues; each test
 * program ends with ho_test_summary(), which prints "N passed, N failed". */
#ifndef HO_TEST_HARNESS_H
#define HO_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

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

/* CHECK_HEX(got, n, hex): got[0..n) equals the bytes of a hex string (whitespace ignored). */
#define CHECK_HEX(got, n, hex) ho_test_check_hex((got), (n), (hex), __FILE__, __LINE__)
void ho_test_check_hex(const uint8_t *got, size_t n, const char *hex, const char *file, int line);

/* Decodes hex (whitespace ignored) into a malloc'd buffer; *len gets the size. */
uint8_t *ho_test_unhex(const char *hex, size_t *len);
void ho_test_hexdump(const char *label, const uint8_t *p, size_t n);
/* Path under the generated test data (env HO_TESTDATA, set by ctest to
 * <build>/testdata; see scripts/gen-testdata.sh). Returns a static buffer. */
const char *ho_test_data(const char *rel);
/* ngtcp2's gtlsserver on 127.0.0.1, on a free UDP port, with a fresh ECDSA P-256
 * certificate for CN=localhost, serving `docs` (its generated files: /<size>). */
typedef struct ho_test_gtls {
    char dir[32], key[64], cert[64], docs[64], port_s[8];
    int port;
    pid_t pid;
} ho_test_gtls;
/* Starts it and waits (bounded) until its socket is bound. A missing gtlsserver or
 * openssl is a failure (false, with a message), never a skip. */
bool ho_test_gtls_start(ho_test_gtls *g);
/* Stops it and removes its directory. */
void ho_test_gtls_stop(ho_test_gtls *g);

/* RUN(fn): the named subtest fn (a void (void) function). It runs unless
 * $HO_TEST names others: HO_TEST=test_a,test_b runs only those subtests of
 * each program (`HO_TEST=test_reader build/tests/test_quic_frame`, or through
 * ctest -R). Each subtest prints "  name: N passed, N failed". A HO_TEST that
 * matches no subtest of the program is a failure, never a silent pass. */
#define RUN(fn) ho_test_run(#fn, fn)
void ho_test_run(const char *name, void (*fn)(void));

/* Prints the summary line and returns the exit status. */
int ho_test_summary(const char *name);

#endif
