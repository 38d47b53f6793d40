/*
 * QUIC packet headers, packet numbers, coalescing, Version Negotiation,
 * Retry, and packet protection. See packet.h for the contracts.
 */
#include "quic/packet.h"

#include <string.h>

/* RFC 9001 §5.2: initial_salt for version 1. */
static const uint8_t initial_salt_v1[20] = {
    0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
    0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a,
};

/* RFC 9001 §5.8: the fixed Retry integrity key and nonce for version 1. */
static const uint8_t retry_key_v1[16] = {
    0xbe, 0x0c, 0x69, 0x0b, 0x9f, 0x66, 0x57, 0x5a, 0x1d, 0x76, 0x6b, 0x54, 0xe3, 0x68, 0xc8, 0x4e,
};
static const uint8_t retry_nonce_v1[12] = {
    0x46, 0x15, 0x99, 0xd3, 0x5d, 0x63, 0x2b, 0xf2, 0x23, 0x98, 0x25, 0xbb,
};

/* RFC 9369 §3.3.1: initial_salt for version 2. */
static const uint8_t initial_salt_v2[20] = {
    0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
    0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9,
};

/* RFC 9369 §3.3.3: the Retry integrity key and nonce for version 2. */
static const uint8_t retry_key_v2[16] = {
    0x8f, 0xb4, 0xb0, 0x1b, 0x56, 0xac, 0x48, 0xe2, 0x60, 0xfb, 0xcb, 0xce, 0xad, 0x7c, 0xcc, 0x92,
};
static const uint8_t retry_nonce_v2[12] = {
    0xd8, 0x69, 0x69, 0xbc, 0x2d, 0x7c, 0x6d, 0x99, 0x90, 0xef, 0xb0, 0x4a,
};

/* Long packet type bits in the order Initial, 0-RTT, Handshake, Retry:
 * version 1 (RFC 9000 §17.2, Table 5) and version 2 (RFC 9369 §3.2). */
static const uint8_t long_type_v1[4] = {0, 1, 2, 3};
static const uint8_t long_type_v2[4] = {1, 2, 3, 0};

/* Index into long_type_*: the packet type of a long header. */
enum { LONG_INITIAL = 0, LONG_0RTT = 1, LONG_HANDSHAKE = 2, LONG_RETRY = 3 };

bool ho_quic_version_supported(uint32_t version)
{
    return version == HO_QUIC_VERSION_1 || version == HO_QUIC_VERSION_2;
}

const char *ho_quic_version_name(uint32_t version)
{
    return version == HO_QUIC_VERSION_1 ? "v1" : version == HO_QUIC_VERSION_2 ? "v2" : "unknown";
}

/* Wire type bits -> LONG_* for a supported version. */
static unsigned long_type_from_wire(uint32_t version, uint8_t first)
{
    const uint8_t *t = version == HO_QUIC_VERSION_2 ? long_type_v2 : long_type_v1;
    unsigned bits = (first >> 4) & 3;
    for (unsigned i = 0; i < 4; i++)
        if (t[i] == bits)
            return i;
    return LONG_HANDSHAKE; /* unreachable: each table is a permutation */
}

static uint8_t long_type_to_wire(uint32_t version, unsigned kind)
{
    return (version == HO_QUIC_VERSION_2 ? long_type_v2 : long_type_v1)[kind];
}

/* The HKDF labels of RFC 9001 §5.1, §5.4, §6.1 for a version (RFC 9369
 * §3.3.2: "quicv2 key", "quicv2 iv", "quicv2 hp", "quicv2 ku"). */
static const char *const labels_v1[4] = {"quic key", "quic iv", "quic hp", "quic ku"};
static const char *const labels_v2[4] = {"quicv2 key", "quicv2 iv", "quicv2 hp", "quicv2 ku"};

#define FIRST_LONG 0x80
#define FIRST_FIXED 0x40
#define FIRST_SPIN 0x20
#define FIRST_KEY_PHASE 0x04
#define LONG_RESERVED 0x0c  /* RFC 9000 §17.2 */
#define SHORT_RESERVED 0x18 /* RFC 9000 §17.3.1 */
#define LONG_HP_BITS 0x0f   /* RFC 9001 §5.4.1 */
#define SHORT_HP_BITS 0x1f

const char *ho_quic_pkt_type_name(ho_quic_pkt_type t)
{
    switch (t) {
    case HO_QUIC_PKT_INITIAL: return "initial";
    case HO_QUIC_PKT_0RTT: return "0rtt";
    case HO_QUIC_PKT_HANDSHAKE: return "handshake";
    case HO_QUIC_PKT_1RTT: return "1rtt";
    case HO_QUIC_PKT_RETRY: return "retry";
    case HO_QUIC_PKT_VERSION_NEGOTIATION: return "version_negotiation";
    }
    return "unknown";
}

int ho_quic_cid_set(ho_quic_cid *cid, const uint8_t *p, size_t len)
{
    if (len > HO_QUIC_MAX_CID_LEN)
        return HO_ERR_INVALID_ARG;
    cid->len = (uint8_t)len;
    if (len > 0)
        memcpy(cid->data, p, len);
    return HO_OK;
}

bool ho_quic_cid_eq(const ho_quic_cid *a, const ho_quic_cid *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static bool ct_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint8_t d = 0;
    for (size_t i = 0; i < n; i++)
        d |= a[i] ^ b[i];
    return d == 0;
}

/* ---- invariants ------------------------------------------------------- */

int ho_quic_invariant_parse(const uint8_t *pkt, size_t len, size_t short_dcid_len, ho_quic_invariant *inv)
{
    memset(inv, 0, sizeof(*inv));
    ho_cursor c = ho_cursor_make(pkt, len);
    uint8_t first, n;
    if (!ho_get_u8(&c, &first))
        return HO_ERR_QUIC_DISCARD;
    if (!(first & FIRST_LONG)) {
        /* RFC 8999 §5.2: the short header's DCID length is known only to
         * the endpoint that chose it. */
        inv->dcid_len = short_dcid_len;
        return ho_get_bytes(&c, short_dcid_len, &inv->dcid) ? HO_OK : HO_ERR_QUIC_DISCARD;
    }
    /* RFC 8999 §5.1: version, then two u8-length connection IDs (0..255). */
    inv->is_long = true;
    if (!ho_get_u32(&c, &inv->version) || !ho_get_u8(&c, &n) || !ho_get_bytes(&c, n, &inv->dcid))
        return HO_ERR_QUIC_DISCARD;
    inv->dcid_len = n;
    if (!ho_get_u8(&c, &n) || !ho_get_bytes(&c, n, &inv->scid))
        return HO_ERR_QUIC_DISCARD;
    inv->scid_len = n;
    return HO_OK;
}

/* ---- header parse ----------------------------------------------------- */

static bool get_cid(ho_cursor *c, ho_quic_cid *cid)
{
    uint8_t n;
    const uint8_t *p;
    /* RFC 9000 §17.2: a version 1 CID length above 20 MUST be dropped. */
    if (!ho_get_u8(c, &n) || n > HO_QUIC_MAX_CID_LEN || !ho_get_bytes(c, n, &p))
        return false;
    return ho_quic_cid_set(cid, p, n) == HO_OK;
}

int ho_quic_header_parse(const uint8_t *pkt, size_t len, size_t short_dcid_len, ho_quic_header *hdr)
{
    memset(hdr, 0, sizeof(*hdr));
    ho_cursor c = ho_cursor_make(pkt, len);
    uint8_t first;
    const uint8_t *p;
    if (!ho_get_u8(&c, &first))
        return HO_ERR_QUIC_DISCARD;
    hdr->first_byte = first;

    if (!(first & FIRST_LONG)) {
        if (short_dcid_len > HO_QUIC_MAX_CID_LEN)
            return HO_ERR_INVALID_ARG;
        /* RFC 9000 §17.3.1: fixed bit 0 MUST be discarded. */
        if (!(first & FIRST_FIXED) || !ho_get_bytes(&c, short_dcid_len, &p))
            return HO_ERR_QUIC_DISCARD;
        ho_quic_cid_set(&hdr->dcid, p, short_dcid_len);
        hdr->type = HO_QUIC_PKT_1RTT;
        hdr->spin = (first & FIRST_SPIN) != 0; /* not header-protected */
        hdr->pn_offset = len - c.len;
        hdr->packet_len = len; /* a short header packet fills the datagram */
        return HO_OK;
    }

    if (!ho_get_u32(&c, &hdr->version))
        return HO_ERR_QUIC_DISCARD;
    if (hdr->version == 0) {
        /* RFC 9000 §17.2.1: no fixed bit, no packet number; the rest of the
         * datagram is a list of 32-bit versions. Longer CIDs than 20 cannot
         * be ours (versions 1 and 2 cap them at 20), so it is not for us. */
        if (!get_cid(&c, &hdr->dcid) || !get_cid(&c, &hdr->scid))
            return HO_ERR_QUIC_DISCARD;
        if (c.len == 0 || c.len % 4 != 0)
            return HO_ERR_QUIC_DISCARD;
        hdr->type = HO_QUIC_PKT_VERSION_NEGOTIATION;
        hdr->versions = c.p;
        hdr->version_count = c.len / 4;
        hdr->packet_len = len;
        return HO_OK;
    }
    if (!ho_quic_version_supported(hdr->version))
        return HO_ERR_QUIC_VERSION;
    /* RFC 9000 §17.2: fixed bit 0 MUST be discarded. */
    if (!(first & FIRST_FIXED))
        return HO_ERR_QUIC_DISCARD;
    if (!get_cid(&c, &hdr->dcid) || !get_cid(&c, &hdr->scid))
        return HO_ERR_QUIC_DISCARD;

    switch (long_type_from_wire(hdr->version, first)) {
    case LONG_RETRY:
        /* RFC 9000 §17.2.5: Retry Token (..) then a 128-bit tag; §17.2.5.2:
         * a client MUST discard a Retry with a zero-length token. */
        if (c.len <= HO_QUIC_RETRY_TAG_LEN)
            return HO_ERR_QUIC_DISCARD;
        hdr->type = HO_QUIC_PKT_RETRY;
        hdr->token = c.p;
        hdr->token_len = c.len - HO_QUIC_RETRY_TAG_LEN;
        hdr->retry_tag = c.p + hdr->token_len;
        hdr->packet_len = len;
        return HO_OK;
    case LONG_INITIAL: {
        hdr->type = HO_QUIC_PKT_INITIAL;
        ho_cursor token;
        if (!ho_get_varint_block(&c, &token))
            return HO_ERR_QUIC_DISCARD;
        hdr->token = token.p;
        hdr->token_len = token.len;
        break;
    }
    case LONG_0RTT: hdr->type = HO_QUIC_PKT_0RTT; break;
    default: hdr->type = HO_QUIC_PKT_HANDSHAKE; break;
    }
    uint64_t length;
    /* RFC 9000 §17.2: Length covers the packet number and the payload; a
     * packet claiming more than the datagram holds cannot be delimited. */
    if (!ho_get_varint(&c, &length) || length > c.len)
        return HO_ERR_QUIC_DISCARD;
    hdr->pn_offset = len - c.len;
    hdr->packet_len = hdr->pn_offset + (size_t)length;
    return HO_OK;
}

uint32_t ho_quic_vn_version(const ho_quic_header *hdr, size_t i)
{
    if (i >= hdr->version_count)
        return 0;
    const uint8_t *v = hdr->versions + 4 * i;
    return (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
}

/* ---- coalesced packets ------------------------------------------------ */

void ho_quic_datagram_iter_init(ho_quic_datagram_iter *it, uint8_t *dgram, size_t len, size_t short_dcid_len)
{
    memset(it, 0, sizeof(*it));
    it->p = dgram;
    it->len = len;
    it->short_dcid_len = short_dcid_len;
}

int ho_quic_datagram_next(ho_quic_datagram_iter *it, ho_quic_header *hdr, uint8_t **pkt)
{
    while (it->len > 0) {
        int rc = ho_quic_header_parse(it->p, it->len, it->short_dcid_len, hdr);
        if (rc != HO_OK) {
            it->len = 0;
            return rc;
        }
        uint8_t *here = it->p;
        it->p += hdr->packet_len;
        it->len -= hdr->packet_len;
        if (!it->started) {
            it->started = true;
            it->first_dcid = hdr->dcid;
        } else if (!ho_quic_cid_eq(&it->first_dcid, &hdr->dcid)) {
            /* RFC 9000 §12.2: receivers SHOULD ignore any subsequent packet
             * with a different Destination Connection ID. */
            it->skipped++;
            continue;
        }
        *pkt = here;
        return HO_OK;
    }
    return HO_ERR_NOT_FOUND;
}

/* ---- header build ----------------------------------------------------- */

static void put_pn(ho_buf *b, uint64_t pn, uint8_t pn_len)
{
    for (int i = pn_len - 1; i >= 0; i--)
        ho_put_u8(b, (uint8_t)(pn >> (8 * i)));
}

int ho_quic_header_write(ho_buf *b, ho_quic_header *hdr, size_t *start)
{
    if (hdr->pn_len < 1 || hdr->pn_len > 4 || hdr->pn > HO_QUIC_PN_MAX || hdr->dcid.len > HO_QUIC_MAX_CID_LEN)
        return HO_ERR_INVALID_ARG;
    if (hdr->type != HO_QUIC_PKT_INITIAL && hdr->token_len != 0)
        return HO_ERR_INVALID_ARG;
    *start = b->len;
    uint8_t first;
    switch (hdr->type) {
    case HO_QUIC_PKT_INITIAL:
    case HO_QUIC_PKT_0RTT:
    case HO_QUIC_PKT_HANDSHAKE: {
        if (!ho_quic_version_supported(hdr->version) || hdr->scid.len > HO_QUIC_MAX_CID_LEN)
            return HO_ERR_INVALID_ARG;
        uint8_t t = long_type_to_wire(hdr->version, hdr->type == HO_QUIC_PKT_INITIAL ? LONG_INITIAL
                                                    : hdr->type == HO_QUIC_PKT_0RTT  ? LONG_0RTT
                                                                                     : LONG_HANDSHAKE);
        /* Reserved bits 0 (RFC 9000 §17.2: MUST be set to 0 before protection). */
        first = (uint8_t)(FIRST_LONG | FIRST_FIXED | t << 4 | (hdr->pn_len - 1));
        ho_put_u8(b, first);
        ho_put_u32(b, hdr->version);
        ho_put_u8(b, hdr->dcid.len);
        ho_put_bytes(b, hdr->dcid.data, hdr->dcid.len);
        ho_put_u8(b, hdr->scid.len);
        ho_put_bytes(b, hdr->scid.data, hdr->scid.len);
        if (hdr->type == HO_QUIC_PKT_INITIAL) {
            ho_put_varint(b, hdr->token_len);
            ho_put_bytes(b, hdr->token, hdr->token_len);
        }
        ho_put_u16(b, 0x4000); /* Length: two-byte varint, filled by seal */
        break;
    }
    case HO_QUIC_PKT_1RTT:
        first = (uint8_t)(FIRST_FIXED | (hdr->spin ? FIRST_SPIN : 0) | (hdr->key_phase ? FIRST_KEY_PHASE : 0) |
                          (hdr->pn_len - 1));
        ho_put_u8(b, first);
        ho_put_bytes(b, hdr->dcid.data, hdr->dcid.len);
        break;
    default:
        return HO_ERR_INVALID_ARG;
    }
    if (b->failed)
        return HO_ERR_NOMEM;
    hdr->first_byte = first;
    hdr->pn_offset = b->len - *start;
    put_pn(b, hdr->pn, hdr->pn_len);
    return b->failed ? HO_ERR_NOMEM : HO_OK;
}

/* ---- packet numbers --------------------------------------------------- */

uint8_t ho_quic_pn_len(uint64_t full_pn, uint64_t largest_acked)
{
    /* RFC 9000 §17.1: "more than twice as large a range as the difference
     * between the largest acknowledged packet number and the packet number
     * being sent"; before any acknowledgment, the full number (§A.2). */
    uint64_t unacked = largest_acked == HO_QUIC_PN_NONE ? full_pn + 1 : full_pn - largest_acked;
    if (largest_acked != HO_QUIC_PN_NONE && full_pn <= largest_acked)
        return 4; /* caller error; the widest encoding is always decodable */
    for (uint8_t n = 1; n < 4; n++)
        if (unacked < (1ULL << (8 * n - 1)))
            return n;
    return 4;
}

uint64_t ho_quic_pn_decode(uint64_t truncated, uint8_t pn_len, uint64_t largest_pn)
{
    /* RFC 9000 Appendix A.3, with the comparisons rearranged so that no
     * intermediate value goes below zero. */
    if (pn_len < 1 || pn_len > 4)
        return HO_QUIC_PN_NONE;
    uint64_t expected = largest_pn == HO_QUIC_PN_NONE ? 0 : largest_pn + 1;
    uint64_t win = 1ULL << (8 * pn_len), hwin = win / 2, mask = win - 1;
    uint64_t candidate = (expected & ~mask) | (truncated & mask);
    if (candidate + hwin <= expected && candidate < (1ULL << 62) - win)
        return candidate + win;
    if (candidate > expected + hwin && candidate >= win)
        return candidate - win;
    return candidate;
}

/* ---- keys ------------------------------------------------------------- */

int ho_quic_key_material_derive(uint32_t version, ho_hash_alg hash, ho_aead_alg aead, const uint8_t *secret,
                                ho_quic_key_material *out)
{
    size_t keylen = crypto_aead_key_len(aead);
    size_t hashlen = crypto_hash_len(hash);
    if (keylen == 0 || hashlen == 0 || !ho_quic_version_supported(version))
        return HO_ERR_INVALID_ARG;
    memset(out, 0, sizeof(*out));
    out->aead = aead;
    /* RFC 9001 §5.1: the hp key has the AEAD key's length (§5.4.3: AES-128
     * / AES-256 keys; §5.4.4: ChaCha20's 32 bytes). */
    const char *const *labels = version == HO_QUIC_VERSION_2 ? labels_v2 : labels_v1;
    uint8_t *const outs[3] = {out->key, out->iv, out->hp};
    const size_t lens[3] = {keylen, HO_AEAD_IV_LEN, keylen};
    int rc = crypto_hkdf_expand_labels(hash, secret, 3, labels, outs, lens);
    if (rc != HO_OK)
        ho_wipe(out, sizeof(*out));
    return rc;
}

int ho_quic_keys_new(ho_quic_keys *k, const ho_quic_key_material *m, bool encrypt)
{
    k->aead = crypto_aead_new(m->aead, encrypt, m->key, m->iv);
    k->hp = crypto_hp_new(m->aead, m->hp);
    if (k->aead == NULL || k->hp == NULL) {
        ho_quic_keys_free(k);
        return HO_ERR_CRYPTO;
    }
    return HO_OK;
}

void ho_quic_keys_free(ho_quic_keys *k)
{
    crypto_aead_free(k->aead);
    crypto_hp_free(k->hp);
    k->aead = NULL;
    k->hp = NULL;
}

int ho_quic_initial_secrets(uint32_t version, const uint8_t *dcid, size_t dcid_len, uint8_t client[32],
                            uint8_t server[32])
{
    if (!ho_quic_version_supported(version))
        return HO_ERR_INVALID_ARG;
    /* RFC 9001 §5.2: initial_secret = HKDF-Extract(initial_salt, cid);
     * RFC 9369 §3.3.1: version 2 has its own salt. */
    const uint8_t *salt = version == HO_QUIC_VERSION_2 ? initial_salt_v2 : initial_salt_v1;
    uint8_t initial[32];
    int rc = crypto_hkdf_extract(HO_HASH_SHA256, salt, 20, dcid, dcid_len, initial);
    if (rc == HO_OK)
        rc = crypto_hkdf_expand_label(HO_HASH_SHA256, initial, "client in", NULL, 0, client, 32);
    if (rc == HO_OK)
        rc = crypto_hkdf_expand_label(HO_HASH_SHA256, initial, "server in", NULL, 0, server, 32);
    ho_wipe(initial, sizeof(initial));
    return rc;
}

int ho_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len, bool is_server,
                         ho_quic_keys *tx, ho_quic_keys *rx)
{
    uint8_t secret[2][32];
    ho_quic_key_material m[2];
    tx->aead = rx->aead = NULL;
    tx->hp = rx->hp = NULL;
    /* RFC 9001 §5.2: Initial packets use AEAD_AES_128_GCM with SHA-256. */
    int rc = ho_quic_initial_secrets(version, dcid, dcid_len, secret[0], secret[1]);
    for (int i = 0; i < 2 && rc == HO_OK; i++)
        rc = ho_quic_key_material_derive(version, HO_HASH_SHA256, HO_AEAD_AES_128_GCM, secret[i], &m[i]);
    if (rc == HO_OK)
        rc = ho_quic_keys_new(tx, &m[is_server ? 1 : 0], true);
    if (rc == HO_OK && (rc = ho_quic_keys_new(rx, &m[is_server ? 0 : 1], false)) != HO_OK)
        ho_quic_keys_free(tx);
    ho_wipe(secret, sizeof(secret));
    ho_wipe(m, sizeof(m));
    return rc;
}

int ho_quic_key_update_secret(uint32_t version, ho_hash_alg hash, const uint8_t *secret, uint8_t *next)
{
    /* RFC 9001 §6.1: secret_<n+1> = HKDF-Expand-Label(secret_<n>, "quic ku",
     * "", Hash.length) ("quicv2 ku" in version 2, RFC 9369 §3.3.2).
     * crypto_hkdf_expand_label allows out to alias secret. */
    size_t n = crypto_hash_len(hash);
    if (n == 0 || !ho_quic_version_supported(version))
        return HO_ERR_INVALID_ARG;
    const char *label = (version == HO_QUIC_VERSION_2 ? labels_v2 : labels_v1)[3];
    return crypto_hkdf_expand_label(hash, secret, label, NULL, 0, next, n);
}

/* ---- protection ------------------------------------------------------- */

/* RFC 9001 §5.4.1: XORs the mask into the first byte's protected bits and
 * into the packet number bytes; pn_len is read after unmasking on receive
 * and before masking on send (the caller passes which). */
static int hp_apply(crypto_hp *hp, uint8_t *pkt, size_t pn_offset, bool remove, uint8_t *pn_len)
{
    uint8_t mask[5];
    /* RFC 9001 §5.4.2: the sample starts 4 bytes after the start of the
     * Packet Number field, as if it were 4 bytes long. */
    int rc = crypto_hp_mask(hp, pkt + pn_offset + 4, mask);
    if (rc != HO_OK)
        return rc;
    uint8_t bits = (pkt[0] & FIRST_LONG) ? LONG_HP_BITS : SHORT_HP_BITS;
    if (!remove)
        *pn_len = (uint8_t)((pkt[0] & 3) + 1);
    pkt[0] ^= mask[0] & bits;
    if (remove)
        *pn_len = (uint8_t)((pkt[0] & 3) + 1);
    for (uint8_t i = 0; i < *pn_len; i++)
        pkt[pn_offset + i] ^= mask[1 + i];
    ho_wipe(mask, sizeof(mask));
    return HO_OK;
}

int ho_quic_hp_remove(crypto_hp *hp, uint8_t *pkt, ho_quic_header *hdr)
{
    if (hdr->type > HO_QUIC_PKT_1RTT)
        return HO_ERR_INVALID_ARG;
    /* RFC 9001 §5.4.2: the packet must hold the 16-byte sample. */
    if (hdr->packet_len < hdr->pn_offset + 4 + HO_QUIC_HP_SAMPLE_LEN)
        return HO_ERR_QUIC_DISCARD;
    uint8_t pn_len;
    int rc = hp_apply(hp, pkt, hdr->pn_offset, true, &pn_len);
    if (rc != HO_OK)
        return rc;
    uint64_t pn = 0;
    for (uint8_t i = 0; i < pn_len; i++)
        pn = pn << 8 | pkt[hdr->pn_offset + i];
    hdr->first_byte = pkt[0];
    hdr->pn_len = pn_len;
    hdr->pn = pn;
    hdr->key_phase = hdr->type == HO_QUIC_PKT_1RTT && (pkt[0] & FIRST_KEY_PHASE);
    return HO_OK;
}

int ho_quic_payload_decrypt(crypto_aead *aead, uint8_t *pkt, ho_quic_header *hdr, uint64_t pn)
{
    size_t hdr_len = hdr->pn_offset + hdr->pn_len;
    if (hdr->pn_len == 0 || hdr->packet_len < hdr_len + CRYPTO_AEAD_TAG_LEN)
        return HO_ERR_QUIC_DISCARD;
    size_t ct_len = hdr->packet_len - hdr_len;
    /* RFC 9001 §5.3: the AEAD's associated data is the header up to and
     * including the unprotected packet number; the nonce is iv XOR pn. */
    int rc = crypto_aead_open(aead, pn, pkt, hdr_len, pkt + hdr_len, ct_len, pkt + hdr_len);
    if (rc != HO_OK)
        return rc;
    hdr->pn = pn;
    hdr->payload_offset = hdr_len;
    hdr->payload_len = ct_len - CRYPTO_AEAD_TAG_LEN;
    /* RFC 9000 §17.2 / §17.3.1: non-zero reserved bits, after removing both
     * packet and header protection, are a PROTOCOL_VIOLATION. */
    uint8_t reserved = (pkt[0] & FIRST_LONG) ? LONG_RESERVED : SHORT_RESERVED;
    if (pkt[0] & reserved)
        return HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION);
    return HO_OK;
}

int ho_quic_packet_unprotect(const ho_quic_keys *k, uint8_t *pkt, ho_quic_header *hdr, uint64_t largest_pn)
{
    int rc = ho_quic_hp_remove(k->hp, pkt, hdr);
    if (rc != HO_OK)
        return rc;
    uint64_t pn = ho_quic_pn_decode(hdr->pn, hdr->pn_len, largest_pn);
    /* RFC 9000 §12.3: packet numbers stop at 2^62-1; a decode above that
     * cannot be a packet the peer sent. */
    if (pn > HO_QUIC_PN_MAX)
        return HO_ERR_QUIC_DISCARD;
    return ho_quic_payload_decrypt(k->aead, pkt, hdr, pn);
}

int ho_quic_packet_protect(crypto_aead *aead, crypto_hp *hp, uint8_t *pkt, size_t pn_offset, size_t payload_end,
                           uint64_t pn)
{
    size_t pn_len = (size_t)(pkt[0] & 3) + 1;
    size_t hdr_len = pn_offset + pn_len;
    /* RFC 9001 §5.4.2: pn_len + payload >= 4 so the sample, which starts 4
     * bytes after the packet number, ends within the 16-byte tag. */
    if (payload_end < hdr_len || payload_end - pn_offset < 4 || pn > HO_QUIC_PN_MAX)
        return HO_ERR_INVALID_ARG;
    int rc = crypto_aead_seal(aead, pn, pkt, hdr_len, pkt + hdr_len, payload_end - hdr_len, pkt + hdr_len);
    if (rc != HO_OK)
        return rc;
    uint8_t n;
    return hp_apply(hp, pkt, pn_offset, false, &n);
}

int ho_quic_packet_seal(ho_buf *b, size_t start, const ho_quic_header *hdr, const ho_quic_keys *k,
                        size_t min_len)
{
    if (b->failed)
        return HO_ERR_NOMEM;
    size_t hdr_len = hdr->pn_offset + hdr->pn_len;
    if (start > b->len || b->len - start < hdr_len || hdr->pn_len < 1 || hdr->pn_len > 4)
        return HO_ERR_INVALID_ARG;
    size_t payload = b->len - start - hdr_len;
    size_t pad = payload + hdr->pn_len < 4 ? 4 - payload - hdr->pn_len : 0;
    size_t total = hdr_len + payload + pad + CRYPTO_AEAD_TAG_LEN;
    if (total < min_len) {
        pad += min_len - total;
        total = min_len;
    }
    bool is_long = (b->data[start] & FIRST_LONG) != 0;
    size_t length = total - hdr->pn_offset; /* packet number + payload + tag */
    if (is_long && (hdr->pn_offset < 2 || length >= (1u << 14)))
        return HO_ERR_INVALID_ARG;
    if (ho_put_space(b, pad + CRYPTO_AEAD_TAG_LEN) == NULL)
        return HO_ERR_NOMEM;
    uint8_t *pkt = b->data + start;
    if (pad > 0) {
        /* PADDING frames (0x00) go first: a last STREAM or DATAGRAM frame
         * without a Length field runs to the end of the payload. */
        memmove(pkt + hdr_len + pad, pkt + hdr_len, payload);
        memset(pkt + hdr_len, 0, pad);
    }
    if (is_long) {
        pkt[hdr->pn_offset - 2] = (uint8_t)(0x40 | length >> 8);
        pkt[hdr->pn_offset - 1] = (uint8_t)length;
    }
    return ho_quic_packet_protect(k->aead, k->hp, pkt, hdr->pn_offset, total - CRYPTO_AEAD_TAG_LEN, hdr->pn);
}

/* ---- Retry ------------------------------------------------------------ */

crypto_aead *ho_quic_retry_aead_new(uint32_t version)
{
    if (version == HO_QUIC_VERSION_2)
        return crypto_aead_new(HO_AEAD_AES_128_GCM, true, retry_key_v2, retry_nonce_v2);
    if (version != HO_QUIC_VERSION_1)
        return NULL;
    return crypto_aead_new(HO_AEAD_AES_128_GCM, true, retry_key_v1, retry_nonce_v1);
}

int ho_quic_retry_tag(crypto_aead *aead, uint32_t version, const uint8_t *odcid, size_t odcid_len,
                      const uint8_t *pkt, size_t len, uint8_t tag[HO_QUIC_RETRY_TAG_LEN])
{
    /* RFC 9001 §5.8: AEAD_AES_128_GCM over an empty plaintext with the
     * Retry Pseudo-Packet {ODCID Length, ODCID, Retry packet without its
     * tag} as associated data. */
    uint8_t pseudo[1 + HO_QUIC_MAX_CID_LEN + HO_QUIC_RETRY_MAX_LEN];
    if (!ho_quic_version_supported(version) || odcid_len > HO_QUIC_MAX_CID_LEN || len > HO_QUIC_RETRY_MAX_LEN)
        return HO_ERR_INVALID_ARG;
    pseudo[0] = (uint8_t)odcid_len;
    if (odcid_len > 0)
        memcpy(pseudo + 1, odcid, odcid_len);
    if (len > 0)
        memcpy(pseudo + 1 + odcid_len, pkt, len);
    crypto_aead *own = NULL;
    if (aead == NULL && (aead = own = ho_quic_retry_aead_new(version)) == NULL)
        return HO_ERR_CRYPTO;
    /* The nonce is the fixed one: iv XOR 0. */
    int rc = crypto_aead_seal(aead, 0, pseudo, 1 + odcid_len + len, NULL, 0, tag);
    crypto_aead_free(own);
    return rc;
}

int ho_quic_retry_verify(crypto_aead *aead, uint32_t version, const uint8_t *odcid, size_t odcid_len,
                         const uint8_t *pkt, size_t len)
{
    uint8_t tag[HO_QUIC_RETRY_TAG_LEN];
    if (len <= HO_QUIC_RETRY_TAG_LEN)
        return HO_ERR_DECRYPT;
    size_t body = len - HO_QUIC_RETRY_TAG_LEN;
    if (ho_quic_retry_tag(aead, version, odcid, odcid_len, pkt, body, tag) != HO_OK)
        return HO_ERR_DECRYPT;
    return ct_equal(tag, pkt + body, HO_QUIC_RETRY_TAG_LEN) ? HO_OK : HO_ERR_DECRYPT;
}

int ho_quic_retry_write(ho_buf *b, crypto_aead *aead, uint32_t version, const ho_quic_cid *dcid,
                        const ho_quic_cid *scid, const ho_quic_cid *odcid, const uint8_t *token, size_t token_len,
                        uint8_t unused)
{
    /* RFC 9000 §17.2.5.1: the new SCID MUST NOT equal the client's DCID;
     * §17.2.5.2: the token is never empty. */
    if (!ho_quic_version_supported(version) || token_len == 0 || ho_quic_cid_eq(scid, odcid) ||
        dcid->len > HO_QUIC_MAX_CID_LEN || scid->len > HO_QUIC_MAX_CID_LEN)
        return HO_ERR_INVALID_ARG;
    size_t start = b->len;
    uint8_t t = long_type_to_wire(version, LONG_RETRY);
    ho_put_u8(b, (uint8_t)(FIRST_LONG | FIRST_FIXED | t << 4 | (unused & 0x0f)));
    ho_put_u32(b, version);
    ho_put_u8(b, dcid->len);
    ho_put_bytes(b, dcid->data, dcid->len);
    ho_put_u8(b, scid->len);
    ho_put_bytes(b, scid->data, scid->len);
    ho_put_bytes(b, token, token_len);
    uint8_t *tag = ho_put_space(b, HO_QUIC_RETRY_TAG_LEN);
    if (b->failed || tag == NULL)
        return HO_ERR_NOMEM;
    size_t body = b->len - start - HO_QUIC_RETRY_TAG_LEN;
    int rc = ho_quic_retry_tag(aead, version, odcid->data, odcid->len, b->data + start, body, tag);
    if (rc != HO_OK)
        b->len = start;
    return rc;
}

/* ---- Version Negotiation ---------------------------------------------- */

int ho_quic_vn_write(ho_buf *b, const uint8_t *their_dcid, size_t their_dcid_len, const uint8_t *their_scid,
                     size_t their_scid_len, const uint32_t *versions, size_t count, uint8_t unused)
{
    if (count == 0 || their_dcid_len > 255 || their_scid_len > 255)
        return HO_ERR_INVALID_ARG;
    /* RFC 9000 §17.2.1: Version 0; our DCID is their SCID and our SCID is
     * their DCID; the 0x40 bit SHOULD be 1. */
    ho_put_u8(b, (uint8_t)(FIRST_LONG | FIRST_FIXED | (unused & 0x3f)));
    ho_put_u32(b, 0);
    ho_put_u8(b, (uint8_t)their_scid_len);
    ho_put_bytes(b, their_scid, their_scid_len);
    ho_put_u8(b, (uint8_t)their_dcid_len);
    ho_put_bytes(b, their_dcid, their_dcid_len);
    for (size_t i = 0; i < count; i++)
        ho_put_u32(b, versions[i]);
    return b->failed ? HO_ERR_NOMEM : HO_OK;
}
