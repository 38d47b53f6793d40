/* Shared pieces of the `handoff` command. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

struct name_code {
    const char *name;
    uint16_t code;
};

static const struct name_code suite_names[] = {
    {"TLS_AES_128_GCM_SHA256", HO_TLS_AES_128_GCM_SHA256},
    {"TLS_AES_256_GCM_SHA384", HO_TLS_AES_256_GCM_SHA384},
    {"TLS_CHACHA20_POLY1305_SHA256", HO_TLS_CHACHA20_POLY1305_SHA256},
    {"AES128-GCM", HO_TLS_AES_128_GCM_SHA256},
    {"AES256-GCM", HO_TLS_AES_256_GCM_SHA384},
    {"CHACHA20-POLY1305", HO_TLS_CHACHA20_POLY1305_SHA256},
};

static const struct name_code group_names[] = {
    {"X25519MLKEM768", HO_GROUP_X25519MLKEM768},
    {"X25519", HO_GROUP_X25519},
    {"P-256", HO_GROUP_SECP256R1},
    {"secp256r1", HO_GROUP_SECP256R1},
    {"prime256v1", HO_GROUP_SECP256R1},
    {"P-384", HO_GROUP_SECP384R1},
    {"secp384r1", HO_GROUP_SECP384R1},
};

/* Calls fn for each comma-separated, non-empty item of list. */
static int for_each_item(const char *list, int (*fn)(void *ctx, const char *item, size_t len), void *ctx)
{
    const char *p = list;
    while (*p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > 0 && fn(ctx, p, n) != 0)
            return -1;
        p += n;
        if (*p == ',')
            p++;
    }
    return 0;
}

struct code_list {
    const struct name_code *table;
    size_t table_len;
    const char *what;
    uint16_t *out;
    size_t max, count;
};

static int add_code(void *ctx, const char *item, size_t len)
{
    struct code_list *l = ctx;
    for (size_t i = 0; i < l->table_len; i++) {
        if (strlen(l->table[i].name) == len && strncasecmp(l->table[i].name, item, len) == 0) {
            if (l->count == l->max) {
                fprintf(stderr, "handoff: too many %ss\n", l->what);
                return -1;
            }
            l->out[l->count++] = l->table[i].code;
            return 0;
        }
    }
    fprintf(stderr, "handoff: unknown %s '%.*s'\n", l->what, (int)len, item);
    return -1;
}

static int parse_codes(const char *list, const struct name_code *table, size_t table_len, const char *what,
                       uint16_t *out, size_t max)
{
    struct code_list l = {table, table_len, what, out, max, 0};
    if (for_each_item(list, add_code, &l) != 0)
        return -1;
    if (l.count == 0) {
        fprintf(stderr, "handoff: empty %s list\n", what);
        return -1;
    }
    return (int)l.count;
}

int app_parse_suites(const char *list, uint16_t *out, size_t max)
{
    return parse_codes(list, suite_names, sizeof(suite_names) / sizeof(suite_names[0]), "cipher suite", out, max);
}

int app_parse_groups(const char *list, uint16_t *out, size_t max)
{
    return parse_codes(list, group_names, sizeof(group_names) / sizeof(group_names[0]), "group", out, max);
}

struct alpn_list {
    char *storage;
    size_t storage_len, used;
    const char **out;
    size_t max, count;
};

static int add_alpn(void *ctx, const char *item, size_t len)
{
    struct alpn_list *l = ctx;
    /* RFC 7301 §3.1: protocol names are 1..255 bytes. */
    if (len > 255 || l->count == l->max || l->storage_len - l->used < len + 1) {
        fprintf(stderr, "handoff: ALPN list too long\n");
        return -1;
    }
    char *dst = l->storage + l->used;
    memcpy(dst, item, len);
    dst[len] = '\0';
    l->used += len + 1;
    l->out[l->count++] = dst;
    return 0;
}

int app_parse_alpn(const char *list, char *storage, size_t storage_len, const char **out, size_t max)
{
    struct alpn_list l = {storage, storage_len, 0, out, max, 0};
    if (for_each_item(list, add_alpn, &l) != 0)
        return -1;
    if (l.count == 0) {
        fprintf(stderr, "handoff: empty ALPN list\n");
        return -1;
    }
    return (int)l.count;
}

int app_config_lists(ho_tls_config *cfg, const char *suites, const char *groups, const char *alpn)
{
    uint16_t codes[APP_MAX_LIST];
    int n, err;
    if (suites != NULL) {
        if ((n = app_parse_suites(suites, codes, APP_MAX_LIST)) < 0)
            return HO_ERR_INVALID_ARG;
        if ((err = ho_tls_config_set_suites(cfg, codes, (size_t)n)) != HO_OK)
            return err;
    }
    if (groups != NULL) {
        if ((n = app_parse_groups(groups, codes, APP_MAX_LIST)) < 0)
            return HO_ERR_INVALID_ARG;
        if ((err = ho_tls_config_set_groups(cfg, codes, (size_t)n)) != HO_OK)
            return err;
    }
    if (alpn != NULL) {
        char storage[1024];
        const char *protos[APP_MAX_LIST];
        if ((n = app_parse_alpn(alpn, storage, sizeof(storage), protos, APP_MAX_LIST)) < 0)
            return HO_ERR_INVALID_ARG;
        if ((err = ho_tls_config_set_alpn(cfg, protos, (size_t)n)) != HO_OK)
            return err;
    }
    return HO_OK;
}

const char *app_group_name(uint16_t group)
{
    switch (group) {
    case HO_GROUP_X25519MLKEM768: return "X25519MLKEM768";
    case HO_GROUP_X25519: return "x25519";
    case HO_GROUP_SECP256R1: return "secp256r1";
    case HO_GROUP_SECP384R1: return "secp384r1";
    case 0: return "none";
    default: return "unknown";
    }
}

void app_report_error(const char *what, int err)
{
    fprintf(stderr, "handoff: %s: %s\n", what, ho_err_str(err)); /* names alerts, QUIC and H3 codes too */
}

int64_t app_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int app_set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return HO_ERR_IO;
    return HO_OK;
}

int app_read_file(const char *path, ho_buf *buf)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return errno == ENOENT ? HO_ERR_NOT_FOUND : HO_ERR_IO;
    uint8_t chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ho_put_bytes(buf, chunk, n);
    int err = ferror(f) ? HO_ERR_IO : buf->failed ? HO_ERR_NOMEM : HO_OK;
    fclose(f);
    return err;
}

int app_write_file(const char *path, const void *data, size_t len)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (tmp == NULL)
        return HO_ERR_NOMEM;
    snprintf(tmp, plen + 16, "%s.tmp%ld", path, (long)getpid());
    int err = HO_ERR_IO;
    FILE *f = fopen(tmp, "wb");
    if (f != NULL) {
        bool ok = fwrite(data, 1, len, f) == len;
        ok = (fclose(f) == 0) && ok;
        if (ok && rename(tmp, path) == 0)
            err = HO_OK;
        else
            unlink(tmp);
    }
    free(tmp);
    return err;
}

const char *app_parse_cc(const char *name)
{
    if (strcasecmp(name, "cubic") == 0)
        return "cubic";
    if (strcasecmp(name, "newreno") == 0)
        return "newreno";
    if (strcasecmp(name, "bbr") == 0)
        return "bbr";
    return NULL;
}

int app_parse_quic_versions(const char *list, uint32_t *out)
{
    memset(out, 0, sizeof(uint32_t) * HO_QUIC_CONFIG_VERSIONS);
    size_t n = 0;
    const char *p = list;
    while (*p != '\0') {
        const char *e = strchr(p, ',');
        size_t len = e != NULL ? (size_t)(e - p) : strlen(p);
        char tok[16];
        if (len == 0 || len >= sizeof(tok) || n == HO_QUIC_CONFIG_VERSIONS)
            return -1;
        memcpy(tok, p, len);
        tok[len] = '\0';
        uint32_t v;
        if (strcmp(tok, "v1") == 0) {
            v = HO_QUIC_V1;
        } else if (strcmp(tok, "v2") == 0) {
            v = HO_QUIC_V2;
        } else {
            char *end;
            unsigned long long x = strtoull(tok, &end, 16);
            if (*end != '\0' || x == 0 || x > 0xffffffffull)
                return -1;
            v = (uint32_t)x;
        }
        out[n++] = v;
        p += len;
        if (*p == ',')
            p++;
    }
    return n > 0 ? 0 : -1;
}
