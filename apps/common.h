/* Shared pieces of the `handoff` command: option lists, names, errors,
 * time and files. */
#ifndef HANDOFF_APPS_COMMON_H
#define HANDOFF_APPS_COMMON_H

#include "handoff/quic.h"
#include "handoff/tls.h"

#include <stdio.h>

#define APP_MAX_LIST 16

int serve_main(int argc, char **argv);
int get_main(int argc, char **argv);
void serve_usage(FILE *f);
void get_usage(FILE *f);

/* Comma-separated lists of names → code points / strings. Return the count
 * or -1 (and print what was wrong). */
int app_parse_suites(const char *list, uint16_t *out, size_t max);
/* "v2,v1" (v1, v2 or 32-bit hex versions, comma-separated, at most
 * HO_QUIC_CONFIG_VERSIONS) into out (zero-filled); -1 if malformed. */
int app_parse_quic_versions(const char *list, uint32_t *out);
/* --cc: "cubic", "newreno" or "bbr" (any case) gives the canonical name; NULL otherwise. */
const char *app_parse_cc(const char *name);
int app_parse_groups(const char *list, uint16_t *out, size_t max);
/* Splits an ALPN list into `storage` (NUL-separated) and pointers. */
int app_parse_alpn(const char *list, char *storage, size_t storage_len, const char **out, size_t max);

/* Applies --suites / --groups / --alpn (each may be NULL) to cfg. */
int app_config_lists(ho_tls_config *cfg, const char *suites, const char *groups, const char *alpn);

const char *app_group_name(uint16_t group);
/* "handoff: what: error (alert)" on stderr. */
void app_report_error(const char *what, int err);

int64_t app_now_ms(void);
int app_set_nonblocking(int fd);

/* Whole file into buf (appends). HO_ERR_NOT_FOUND if it does not exist. */
int app_read_file(const char *path, ho_buf *buf);
/* Writes atomically (temporary file and rename). */
int app_write_file(const char *path, const void *data, size_t len);

#endif
