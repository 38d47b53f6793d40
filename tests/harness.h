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
#include <sys/socket.h>
#include <netinet/in.h>

#include "handoff/quic.h"

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
    struct sockaddr_in addr; /* 127.0.0.1:port */
    pid_t pid;
} ho_test_gtls;
/* Starts it and waits (bounded) until its socket is bound. A missing gtlsserver or
 * openssl is a failure (false, with a message), never a skip. */
bool ho_test_gtls_start(ho_test_gtls *g);
/* Stops it and removes its directory. */
void ho_test_gtls_stop(ho_test_gtls *g);
/* ho_test_gtls_start and a client TLS config for it
 * (ho_test_quic_client_tls), both checked; false (and nothing to free) on
 * failure. */
bool ho_test_gtls_client(ho_test_gtls *g, const char *alpn, ho_tls_config **tls);

/* ---- QUIC peers over loopback UDP (the *_interop tests) ---- */
/* CLOCK_MONOTONIC in nanoseconds, the clock of these tests' connections. */
ho_quic_time ho_test_mono_now(void);
/* A UDP socket bound to 127.0.0.1 on a free port (*port); -1 on failure. */
int ho_test_udp_socket(int *port);
/* Waits (poll, at most 50 ms) until fd is readable or the timer `next`
 * (HO_QUIC_TIME_NEVER: none) is due. */
void ho_test_udp_wait(int fd, ho_quic_time next);
/* Sends everything c has to send to peer. */
void ho_test_udp_conn_send(ho_quic_conn *c, int fd, const struct sockaddr *peer, socklen_t peer_len);
/* Feeds every datagram waiting on fd to *c. With *c NULL and server_cfg
 * given, the first Initial makes *c a server connection (returns true
 * then). peer (optional) gets the last sender. */
bool ho_test_udp_conn_recv(int fd, ho_quic_conn **c, const ho_quic_config *server_cfg, struct sockaddr_in *peer);
/* Runs c's timer if it is due (c may be NULL). */
void ho_test_conn_timeout(ho_quic_conn *c);

/* A client TLS config for a test peer: one ALPN, no certificate
 * verification, prepared for QUIC; NULL on failure. */
ho_tls_config *ho_test_quic_client_tls(const char *alpn);
/* A server TLS config with a fresh self-signed certificate for
 * CN=localhost and one ALPN, prepared for QUIC: HO_OK or the first error
 * (*tls, if made, is the caller's). */
int ho_test_quic_server_tls(const char *alpn, ho_tls_config **tls);
/* 127.0.0.1:port */
struct sockaddr_in ho_test_loopback(int port);
/* Checks (three CHECKs) that gtlsclient downloaded `name` as want[0..len),
 * and removes it. */
struct ho_test_gtlsclient;
void ho_test_check_download(const struct ho_test_gtlsclient *g, const char *name, const uint8_t *want, size_t len);
/* Compares the file at path with want[0..len) and removes it: -1 if it
 * cannot be read, else how many leading bytes match; *size gets its size. */
long ho_test_file_match(const char *path, const uint8_t *want, size_t len, size_t *size);

/* ngtcp2's gtlsclient against a server of ours on 127.0.0.1:port: `-q
 * --exit-on-all-streams-close --timeout=5s --download=<temp dir>`, then
 * opts, then one URL per path. quiet also silences its stderr. */
typedef struct ho_test_gtlsclient {
    char dir[40];
    pid_t pid;
    int status;
    bool exited;
} ho_test_gtlsclient;
bool ho_test_gtlsclient_start(ho_test_gtlsclient *g, int port, const char *const *opts, const char *const *paths,
                              bool quiet);
bool ho_test_gtlsclient_exited(ho_test_gtlsclient *g); /* without blocking */
/* Kills it if it still runs; true if it had exited by itself with status 0. */
bool ho_test_gtlsclient_stop(ho_test_gtlsclient *g);
int ho_test_gtlsclient_exit_code(const ho_test_gtlsclient *g); /* -1 if killed */
/* The path of a downloaded file (a static buffer). */
const char *ho_test_gtlsclient_file(const ho_test_gtlsclient *g, const char *name);
void ho_test_gtlsclient_cleanup(ho_test_gtlsclient *g); /* removes the download dir */

/* A minimal HTTP/3 server on connection c: an empty control stream, and
 * for each request stream (registered with ho_test_h3min_opened) once its
 * FIN arrived, HEADERS ":status 200" and one DATA frame with the body. */
#define HO_TEST_H3MIN_STREAMS 64
typedef struct ho_test_h3min {
    ho_quic_conn *c;
    uint64_t streams[HO_TEST_H3MIN_STREAMS];
    bool answered[HO_TEST_H3MIN_STREAMS];
    ho_buf pending[HO_TEST_H3MIN_STREAMS]; /* response bytes the stream has not taken yet */
    size_t nstreams;
    bool control_opened;
} ho_test_h3min;
void ho_test_h3min_opened(ho_test_h3min *s, uint64_t id);
void ho_test_h3min_serve(ho_test_h3min *s, const uint8_t *body, size_t len);
void ho_test_h3min_free(ho_test_h3min *s);

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
