/* Test helper: builds TLS 1.3 handshake messages byte by byte — ClientHello,
 * ServerHello / HelloRetryRequest and any other framed message — from an
 * editable list of extensions, so tests (and fuzz-corpus writers) can drop,
 * duplicate, reorder or corrupt any field. Header-only; every function is
 * static inline so an includer pays only for what it uses. */
#ifndef HO_TEST_TLS_BUILDER_H
#define HO_TEST_TLS_BUILDER_H

#include "handoff/tls.h"
#include "crypto/prim.h"

#include <stdbool.h>
#include <string.h>

/* ExtensionType values (RFC 8446 §4.2, RFC 6066, RFC 7301). */
enum {
    TB_EXT_SERVER_NAME = 0,
    TB_EXT_SUPPORTED_GROUPS = 10,
    TB_EXT_SIGNATURE_ALGORITHMS = 13,
    TB_EXT_ALPN = 16,
    TB_EXT_PRE_SHARED_KEY = 41,
    TB_EXT_EARLY_DATA = 42,
    TB_EXT_SUPPORTED_VERSIONS = 43,
    TB_EXT_COOKIE = 44,
    TB_EXT_PSK_KEY_EXCHANGE_MODES = 45,
    TB_EXT_OID_FILTERS = 48,
    TB_EXT_KEY_SHARE = 51,
};

/* §4.1.3: the Random of a HelloRetryRequest, SHA-256("HelloRetryRequest"). */
static const uint8_t tb_hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
};

/* ---- extension lists ------------------------------------------------- */

#define TB_MAX_EXT 24
#define TB_EXT_MAX_BODY 2048

struct tb_ext {
    uint16_t type;
    size_t len;
    uint8_t body[TB_EXT_MAX_BODY];
};

/* Written in order; duplicates allowed (that is the point). */
struct tb_exts {
    struct tb_ext e[TB_MAX_EXT];
    size_t n;
};

/* Appends an extension (even if one of that type is already there). */
static inline struct tb_ext *tb_ext_add(struct tb_exts *x, uint16_t type, const void *body, size_t len)
{
    if (x->n >= TB_MAX_EXT || len > TB_EXT_MAX_BODY)
        return NULL;
    struct tb_ext *e = &x->e[x->n++];
    e->type = type;
    e->len = len;
    if (len)
        memcpy(e->body, body, len);
    return e;
}

/* Index of the first extension of `type`, or -1. */
static inline int tb_ext_index(const struct tb_exts *x, uint16_t type)
{
    for (size_t i = 0; i < x->n; i++)
        if (x->e[i].type == type)
            return (int)i;
    return -1;
}

static inline struct tb_ext *tb_ext_find(struct tb_exts *x, uint16_t type)
{
    int i = tb_ext_index(x, type);
    return i < 0 ? NULL : &x->e[i];
}

/* Replaces the body of the first extension of `type`, or appends one. */
static inline struct tb_ext *tb_ext_set(struct tb_exts *x, uint16_t type, const void *body, size_t len)
{
    struct tb_ext *e = tb_ext_find(x, type);
    if (e == NULL)
        return tb_ext_add(x, type, body, len);
    if (len > TB_EXT_MAX_BODY)
        return NULL;
    e->len = len;
    if (len)
        memcpy(e->body, body, len);
    return e;
}

/* Sets from a ho_buf (left untouched; the caller frees it). */
static inline struct tb_ext *tb_ext_set_buf(struct tb_exts *x, uint16_t type, const ho_buf *b)
{
    return tb_ext_set(x, type, b->data, b->len);
}

/* Removes the first extension of `type`; false if there was none. */
static inline bool tb_ext_remove(struct tb_exts *x, uint16_t type)
{
    int i = tb_ext_index(x, type);
    if (i < 0)
        return false;
    memmove(&x->e[i], &x->e[i + 1], (x->n - (size_t)i - 1) * sizeof(x->e[0]));
    x->n--;
    return true;
}

/* Appends a copy of the first extension of `type`. */
static inline bool tb_ext_dup(struct tb_exts *x, uint16_t type)
{
    struct tb_ext *e = tb_ext_find(x, type);
    return e != NULL && tb_ext_add(x, type, e->body, e->len) != NULL;
}

/* Moves the first extension of `type` to position `pos` (clamped). */
static inline bool tb_ext_move(struct tb_exts *x, uint16_t type, size_t pos)
{
    int i = tb_ext_index(x, type);
    if (i < 0)
        return false;
    struct tb_ext tmp = x->e[i];
    memmove(&x->e[i], &x->e[i + 1], (x->n - (size_t)i - 1) * sizeof(x->e[0]));
    if (pos > x->n - 1)
        pos = x->n - 1;
    memmove(&x->e[pos + 1], &x->e[pos], (x->n - 1 - pos) * sizeof(x->e[0]));
    x->e[pos] = tmp;
    return true;
}

/* The extensions block: its u16 length (plus `len_adjust`, to lie) and the
 * extensions. */
static inline void tb_exts_put(ho_buf *b, const struct tb_exts *x, long len_adjust)
{
    size_t total = 0;
    for (size_t i = 0; i < x->n; i++)
        total += 4 + x->e[i].len;
    ho_put_u16(b, (uint16_t)((long)total + len_adjust));
    for (size_t i = 0; i < x->n; i++) {
        ho_put_u16(b, x->e[i].type);
        ho_put_u16(b, (uint16_t)x->e[i].len);
        ho_put_bytes(b, x->e[i].body, x->e[i].len);
    }
}

/* ---- extension bodies ------------------------------------------------ */

/* A list of u16 values behind a `width`-byte length (supported_groups and
 * signature_algorithms: 2; ClientHello supported_versions: 1). */
static inline struct tb_ext *tb_ext_set_u16_list(struct tb_exts *x, uint16_t type, int width, const uint16_t *v,
                                                 size_t n)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t t = ho_block_open(&b, width);
    for (size_t i = 0; i < n; i++)
        ho_put_u16(&b, v[i]);
    ho_block_close(&b, t);
    struct tb_ext *e = tb_ext_set_buf(x, type, &b);
    ho_buf_free(&b);
    return e;
}

struct tb_share {
    uint16_t group;
    const uint8_t *key;
    size_t len;
};

/* ClientHello key_share: client_shares<0..2^16-1> of KeyShareEntry. */
static inline struct tb_ext *tb_ext_set_key_shares(struct tb_exts *x, const struct tb_share *s, size_t n)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t t = ho_block_open(&b, 2);
    for (size_t i = 0; i < n; i++) {
        ho_put_u16(&b, s[i].group);
        size_t k = ho_block_open(&b, 2);
        ho_put_bytes(&b, s[i].key, s[i].len);
        ho_block_close(&b, k);
    }
    ho_block_close(&b, t);
    struct tb_ext *e = tb_ext_set_buf(x, TB_EXT_KEY_SHARE, &b);
    ho_buf_free(&b);
    return e;
}

/* server_name: a ServerNameList of host_name entries. */
static inline struct tb_ext *tb_ext_set_sni(struct tb_exts *x, const char *const *names, size_t n)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t t = ho_block_open(&b, 2);
    for (size_t i = 0; i < n; i++) {
        ho_put_u8(&b, 0);
        size_t k = ho_block_open(&b, 2);
        ho_put_bytes(&b, names[i], strlen(names[i]));
        ho_block_close(&b, k);
    }
    ho_block_close(&b, t);
    struct tb_ext *e = tb_ext_set_buf(x, TB_EXT_SERVER_NAME, &b);
    ho_buf_free(&b);
    return e;
}

/* ALPN: a ProtocolNameList ("" gives an empty, illegal, name). */
static inline struct tb_ext *tb_ext_set_alpn(struct tb_exts *x, const char *const *protos, size_t n)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t t = ho_block_open(&b, 2);
    for (size_t i = 0; i < n; i++) {
        size_t k = ho_block_open(&b, 1);
        ho_put_bytes(&b, protos[i], strlen(protos[i]));
        ho_block_close(&b, k);
    }
    ho_block_close(&b, t);
    struct tb_ext *e = tb_ext_set_buf(x, TB_EXT_ALPN, &b);
    ho_buf_free(&b);
    return e;
}

/* ClientHello pre_shared_key: one identity, `n_binders` binders of
 * `binder_len` bytes (0xb1 filler). */
static inline struct tb_ext *tb_ext_set_psk(struct tb_exts *x, const uint8_t *identity, size_t id_len,
                                            uint32_t age, size_t n_binders, size_t binder_len)
{
    ho_buf b;
    ho_buf_init(&b);
    size_t ids = ho_block_open(&b, 2), id = ho_block_open(&b, 2);
    ho_put_bytes(&b, identity, id_len);
    ho_block_close(&b, id);
    ho_put_u32(&b, age);
    ho_block_close(&b, ids);
    size_t binders = ho_block_open(&b, 2);
    for (size_t i = 0; i < n_binders; i++) {
        size_t one = ho_block_open(&b, 1);
        uint8_t *space = ho_put_space(&b, binder_len);
        if (space != NULL)
            memset(space, 0xb1, binder_len);
        ho_block_close(&b, one);
    }
    ho_block_close(&b, binders);
    struct tb_ext *e = tb_ext_set_buf(x, TB_EXT_PRE_SHARED_KEY, &b);
    ho_buf_free(&b);
    return e;
}

/* ---- framing --------------------------------------------------------- */

/* Appends a handshake message: type, u24 length, body. */
static inline void tb_msg(ho_buf *out, uint8_t type, const void *body, size_t len)
{
    ho_put_u8(out, type);
    ho_put_u24(out, (uint32_t)len);
    ho_put_bytes(out, body, len);
}

/* Re-frames a complete message with only the first `body_len` bytes of its
 * body (a truncation whose header agrees). */
static inline void tb_msg_truncated(ho_buf *out, const uint8_t *msg, size_t body_len)
{
    tb_msg(out, msg[0], msg + 4, body_len);
}

/* Splits a run of handshake messages. */
#define TB_MAX_MSGS 16
struct tb_msgs {
    size_t n;
    const uint8_t *p[TB_MAX_MSGS]; /* each points at the 4-byte header */
    size_t len[TB_MAX_MSGS];       /* header included */
};

static inline bool tb_split(const uint8_t *data, size_t len, struct tb_msgs *m)
{
    m->n = 0;
    while (len > 0) {
        if (len < 4 || m->n == TB_MAX_MSGS)
            return false;
        size_t body = ((size_t)data[1] << 16) | ((size_t)data[2] << 8) | data[3];
        if (len - 4 < body)
            return false;
        m->p[m->n] = data;
        m->len[m->n++] = 4 + body;
        data += 4 + body;
        len -= 4 + body;
    }
    return true;
}

/* ---- ClientHello ----------------------------------------------------- */

struct tb_client_hello {
    uint16_t legacy_version;
    uint8_t random[32];
    uint8_t session_id[64];
    size_t session_id_len; /* may exceed 32, to lie */
    uint8_t suites[128];   /* raw cipher_suites bytes (odd lengths allowed) */
    size_t suites_len;
    uint8_t comp[16];
    size_t comp_len;
    bool no_extensions;    /* end the message after the compression methods */
    long ext_len_adjust;   /* added to the extensions block length as written */
    uint8_t trailing[16];  /* bytes after the extensions block */
    size_t trailing_len;
    struct tb_exts ext;
};

static inline void tb_ch_set_suites(struct tb_client_hello *ch, const uint16_t *ids, size_t n)
{
    ch->suites_len = 0;
    for (size_t i = 0; i < n && ch->suites_len + 2 <= sizeof(ch->suites); i++) {
        ch->suites[ch->suites_len++] = (uint8_t)(ids[i] >> 8);
        ch->suites[ch->suites_len++] = (uint8_t)ids[i];
    }
}

/* Signature schemes of the default ClientHello. */
static const uint16_t tb_default_sigs[] = {0x0403, 0x0503, 0x0807, 0x0804, 0x0805, 0x0806};

/* A valid TLS 1.3 ClientHello: the three suites, null compression, then
 * server_name (if sni), supported_versions {TLS 1.3}, supported_groups
 * {X25519, P-256}, signature_algorithms, key_share {the kex's group}. */
static inline void tb_ch_init(struct tb_client_hello *ch, const crypto_kex *kex, const char *sni)
{
    memset(ch, 0, sizeof(*ch));
    ch->legacy_version = 0x0303;
    for (int i = 0; i < 32; i++) {
        ch->random[i] = (uint8_t)(0x40 + i);
        ch->session_id[i] = (uint8_t)(0xa0 + i);
    }
    ch->session_id_len = 32;
    const uint16_t suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                               HO_TLS_CHACHA20_POLY1305_SHA256};
    tb_ch_set_suites(ch, suites, 3);
    ch->comp_len = 1;
    if (sni != NULL)
        tb_ext_set_sni(&ch->ext, &sni, 1);
    const uint16_t v13 = 0x0304;
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_VERSIONS, 1, &v13, 1);
    const uint16_t groups[] = {HO_GROUP_X25519, HO_GROUP_SECP256R1};
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SUPPORTED_GROUPS, 2, groups, 2);
    tb_ext_set_u16_list(&ch->ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, tb_default_sigs,
                        sizeof(tb_default_sigs) / sizeof(tb_default_sigs[0]));
    uint8_t pub[CRYPTO_KEX_PUB_MAX];
    size_t pub_len = sizeof(pub);
    if (kex != NULL && crypto_kex_public(kex, pub, &pub_len) == HO_OK) {
        struct tb_share s = {crypto_kex_group(kex), pub, pub_len};
        tb_ext_set_key_shares(&ch->ext, &s, 1);
    }
}

/* Appends the whole message (header included). */
static inline void tb_ch_build(const struct tb_client_hello *ch, ho_buf *out)
{
    ho_put_u8(out, 1 /* client_hello */);
    size_t m = ho_block_open(out, 3);
    ho_put_u16(out, ch->legacy_version);
    ho_put_bytes(out, ch->random, 32);
    ho_put_u8(out, (uint8_t)ch->session_id_len);
    ho_put_bytes(out, ch->session_id, ch->session_id_len);
    ho_put_u16(out, (uint16_t)ch->suites_len);
    ho_put_bytes(out, ch->suites, ch->suites_len);
    ho_put_u8(out, (uint8_t)ch->comp_len);
    ho_put_bytes(out, ch->comp, ch->comp_len);
    if (!ch->no_extensions)
        tb_exts_put(out, &ch->ext, ch->ext_len_adjust);
    ho_put_bytes(out, ch->trailing, ch->trailing_len);
    ho_block_close(out, m);
}

/* Offset in the body (after the 4-byte header) where the extensions block
 * (its length) starts. */
static inline size_t tb_ch_ext_offset(const struct tb_client_hello *ch)
{
    return 2 + 32 + 1 + ch->session_id_len + 2 + ch->suites_len + 1 + ch->comp_len;
}

/* ---- ServerHello / HelloRetryRequest ---------------------------------- */

struct tb_server_hello {
    uint16_t legacy_version;
    uint8_t random[32];
    uint8_t session_id[64];
    size_t session_id_len;
    uint16_t suite;
    uint8_t comp;
    struct tb_exts ext;
};

/* A valid ServerHello: supported_versions {TLS 1.3} and key_share with the
 * kex's public value (omitted if kex is NULL). */
static inline void tb_sh_init(struct tb_server_hello *sh, const uint8_t *sid, size_t sid_len, uint16_t suite,
                              const crypto_kex *kex)
{
    uint8_t sid_copy[64]; /* sid may point into *sh */
    if (sid_len > sizeof(sid_copy))
        sid_len = sizeof(sid_copy);
    memcpy(sid_copy, sid, sid_len);
    memset(sh, 0, sizeof(*sh));
    sh->legacy_version = 0x0303;
    for (int i = 0; i < 32; i++)
        sh->random[i] = (uint8_t)(0x70 + i);
    memcpy(sh->session_id, sid_copy, sid_len);
    sh->session_id_len = sid_len;
    sh->suite = suite;
    const uint8_t v13[2] = {0x03, 0x04};
    tb_ext_add(&sh->ext, TB_EXT_SUPPORTED_VERSIONS, v13, 2);
    uint8_t pub[CRYPTO_KEX_PUB_MAX];
    size_t pub_len = sizeof(pub);
    if (kex != NULL && crypto_kex_public(kex, pub, &pub_len) == HO_OK) {
        uint8_t ks[4 + CRYPTO_KEX_PUB_MAX];
        uint16_t g = crypto_kex_group(kex);
        ks[0] = (uint8_t)(g >> 8);
        ks[1] = (uint8_t)g;
        ks[2] = (uint8_t)(pub_len >> 8);
        ks[3] = (uint8_t)pub_len;
        memcpy(ks + 4, pub, pub_len);
        tb_ext_add(&sh->ext, TB_EXT_KEY_SHARE, ks, 4 + pub_len);
    }
}

/* A HelloRetryRequest: supported_versions and key_share {group} (no
 * key_share if group is 0). */
static inline void tb_hrr_init(struct tb_server_hello *sh, const uint8_t *sid, size_t sid_len, uint16_t suite,
                               uint16_t group)
{
    tb_sh_init(sh, sid, sid_len, suite, NULL);
    memcpy(sh->random, tb_hrr_random, 32);
    if (group != 0) {
        const uint8_t g[2] = {(uint8_t)(group >> 8), (uint8_t)group};
        tb_ext_add(&sh->ext, TB_EXT_KEY_SHARE, g, 2);
    }
}

static inline void tb_sh_build(const struct tb_server_hello *sh, ho_buf *out)
{
    ho_put_u8(out, 2 /* server_hello */);
    size_t m = ho_block_open(out, 3);
    ho_put_u16(out, sh->legacy_version);
    ho_put_bytes(out, sh->random, 32);
    ho_put_u8(out, (uint8_t)sh->session_id_len);
    ho_put_bytes(out, sh->session_id, sh->session_id_len);
    ho_put_u16(out, sh->suite);
    ho_put_u8(out, sh->comp);
    tb_exts_put(out, &sh->ext, 0);
    ho_block_close(out, m);
}

/* ---- reading hellos -------------------------------------------------- */

/* Finds the session id and the extensions block of a ClientHello or a
 * ServerHello (message with header). */
static inline bool tb_hello_parse(const uint8_t *msg, size_t len, ho_cursor *sid, ho_cursor *exts)
{
    if (len < 4 || (msg[0] != 1 && msg[0] != 2))
        return false;
    ho_cursor c = ho_cursor_make(msg + 4, len - 4), skip;
    if (!ho_skip(&c, 34) || !ho_get_block(&c, 1, sid))
        return false;
    if (msg[0] == 1) {
        if (!ho_get_block(&c, 2, &skip) || !ho_get_block(&c, 1, &skip))
            return false;
    } else if (!ho_skip(&c, 3)) {
        return false;
    }
    return ho_get_block(&c, 2, exts);
}

/* The body of the first extension of `type` in a hello message. */
static inline bool tb_hello_ext(const uint8_t *msg, size_t len, uint16_t type, ho_cursor *body)
{
    ho_cursor sid, exts;
    if (!tb_hello_parse(msg, len, &sid, &exts))
        return false;
    uint16_t t;
    ho_cursor b;
    while (ho_get_u16(&exts, &t) && ho_get_block(&exts, 2, &b)) {
        if (t == type) {
            *body = b;
            return true;
        }
    }
    return false;
}

#endif
