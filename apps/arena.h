/* The HttpArena demo application (apps/arena.c, apps/json.c): its dataset
 * and routes, built on the library's router and static files. Not part of
 * the library: the `handoff` command and the tests link it. */
#ifndef HO_APP_ARENA_H
#define HO_APP_ARENA_H

#include "handoff/http.h"

typedef struct app_arena app_arena;
/* dataset: path to the HttpArena dataset.json (NULL → env DATASET, then
 * /data/dataset.json; with none readable, a built-in generated 50-item
 * dataset of the same shape). static_dir: directory for /static/ (NULL →
 * /data/static when it exists; otherwise /static/ answers 404). A dataset
 * that exists but does not parse is an error (NULL, message in *err). */
app_arena *app_arena_new(const char *dataset, const char *static_dir, char *err, size_t errlen);
void app_arena_free(app_arena *a);
size_t app_arena_item_count(const app_arena *a);
const char *app_arena_dataset_source(const app_arena *a); /* path or "built-in" */
/* Document root: its whole tree (ho_http_files_load, recursive) served at /
 * by app_arena_register. Call before app_arena_register, at most once.
 * HO_OK, or HO_ERR_IO / HO_ERR_INVALID_ARG with the message in *err. */
int app_arena_set_root(app_arena *a, const char *dir, char *err, size_t errlen);
size_t app_arena_root_file_count(const app_arena *a); /* 0 without a root */
/* Registers GET /json/ (/json/{count}?m={m}), /baseline2 (?a=&b=, text/plain
 * sum), POST /upload (the request body's byte count, text/plain) and
 * /static/ (ho_http_files_register); with a root, also GET / for its files.
 * The longest route wins, so the routes above take precedence over files of
 * the same path under the root. */
int app_arena_register(app_arena *a, ho_router *r);

#endif
