/* Shared by the QUIC wire-layer fuzz targets (fuzz_quic_packet,
 * fuzz_quic_frame, fuzz_quic_tparams): the abort-on-violation CHECK, and
 * seed writing. Each target can write its own seed corpus with the same
 * fixed keys it fuzzes with:
 *
 *     HO_FUZZ_WRITE_SEEDS=fuzz/corpus/fuzz_quic_packet build-fuzz/fuzz/fuzz_quic_packet
 *
 * writes the seeds into that directory and exits (LLVMFuzzerInitialize).
 * The QUIC seeds are not made by gen_corpus. */
#ifndef HO_FUZZ_QUIC_H
#define HO_FUZZ_QUIC_H

#include "handoff/base.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do { if (!(x)) { fprintf(stderr, "fuzz check failed: %s:%d: %s\n", __FILE__, __LINE__, #x); abort(); } } while (0)

static inline void fuzz_quic_write_seed(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    printf("wrote %s (%zu bytes)\n", path, n);
}

/* Decodes hex (whitespace ignored) into out; returns the length. */
static inline size_t fuzz_quic_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (; *hex; hex++) {
        int v;
        if (*hex >= '0' && *hex <= '9')
            v = *hex - '0';
        else if (*hex >= 'a' && *hex <= 'f')
            v = *hex - 'a' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            if (n == cap)
                abort();
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

#endif
