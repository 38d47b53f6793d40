/* Internal: the HttpArena dataset as typed items, its strict JSON loader
 * (RFC 8259), and the /json response serializer. */
#ifndef HO_APP_JSON_H
#define HO_APP_JSON_H

#include "handoff/base.h"

/* A string owned by the dataset: malloc'd, NUL-terminated, len bytes. */
typedef struct json_text {
    char *p;
    size_t len;
} json_text;

/* One dataset item. Numbers other than price and quantity keep the text
 * they were written with (so a float comes out exactly as it went in);
 * price and quantity must be integers, since "total" is computed from them. */
typedef struct arena_item {
    json_text id;             /* number, as written */
    json_text name, category; /* decoded strings (UTF-8) */
    int64_t price, quantity;
    bool active;
    json_text *tags;
    size_t tag_count;
    json_text score, count;   /* rating.score, rating.count: numbers as written */
    size_t max_out;              /* bound on the item's serialized size */
} arena_item;

typedef struct arena_dataset {
    arena_item *items;
    size_t count;
} arena_dataset;

/* Parses a dataset: a JSON array of objects with exactly the keys id, name,
 * category, price, quantity, active, tags, rating{score, count} (other keys
 * are skipped; a missing or repeated key is an error). On failure returns
 * HO_ERR_INVALID_ARG (or HO_ERR_NOMEM) with "offset N: what" in err, and
 * *ds is left empty. */
int json_dataset_parse(const char *text, size_t len, arena_dataset *ds, char *err, size_t errlen);
void json_dataset_free(arena_dataset *ds);

/* Copies s[0..n) into t (malloc'd, NUL-terminated). */
int json_text_set(json_text *t, const char *s, size_t n);
/* Computes it->max_out; call once an item's fields are final. */
void json_item_finish(arena_item *it);

/* Appends {"items":[the first `count` items, each with "total":
 * price*quantity*m],"count":count} to out. count must be ≤ ds->count.
 * HO_ERR_INVALID_ARG if a total overflows int64 (out is then unchanged);
 * HO_ERR_NOMEM if out cannot grow. */
int json_write_items(ho_buf *out, const arena_dataset *ds, size_t count, int64_t m);

/* Appends s[0..n) as a JSON string (quotes and escapes, RFC 8259 §7). */
void json_put_string(ho_buf *out, const char *s, size_t n);

#endif
