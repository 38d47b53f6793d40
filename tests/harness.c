#include "harness.h"

#include <ctype.h>

int ho_test_passed, ho_test_failed;

uint8_t *ho_test_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *out = malloc(n / 2 + 1);
    size_t o = 0;
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        if (isspace((unsigned char)hex[i]))
            continue;
        int v = isdigit((unsigned char)hex[i]) ? hex[i] - '0' : tolower((unsigned char)hex[i]) - 'a' + 10;
        if (hi < 0)
            hi = v;
        else {
            out[o++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *len = o;
    return out;
}

void ho_test_hexdump(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n    ", p[i]);
    fprintf(stderr, "\n");
}

const char *ho_test_shared(const char *rel)
{
    static char path[4096];
    const char *base = getenv("HO_SHARED");
    snprintf(path, sizeof(path), "%s/%s", base ? base : "../shared", rel);
    return path;
}

int ho_test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, ho_test_passed, ho_test_failed);
    return ho_test_failed == 0 ? 0 : 1;
}
