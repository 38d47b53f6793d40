/*
 * QUIC packets on the wire: headers (RFC 9000 §17, RFC 8999), packet
 * numbers (§17.1), Version Negotiation (§17.2.1), coalesced packets (§12.2),
 * and packet protection (RFC 9001 §5): Initial secrets, key derivation,
 * AEAD, header protection, key update secrets, the Retry integrity tag.
 *
 * Sans-I/O and allocation-free on the receive path: a parsed header points
 * into the caller's datagram (token, versions) or copies what is bounded
 * (connection IDs, at most 20 bytes in version 1). Only key set-up
 * (ho_quic_keys_new) allocates.
 *
 * Errors (see transport_error.h): HO_ERR_QUIC_DISCARD for a packet to drop
 * silently, HO_ERR_QUIC_VERSION for an unsupported version, HO_ERR_DECRYPT
 * when authentication fails (also a silent drop), HO_ERR_QUIC(code) for a
 * connection error, HO_ERR_INVALID_ARG for misuse by the caller.
 *
 * Padding, for the caller that assembles datagrams (RFC 9000 §14.1): a
 * client MUST expand every UDP datagram that carries an Initial packet to at
 * least 1200 bytes, and a server MUST do the same for datagrams carrying
 * ack-eliciting Initial packets; a server MUST discard an Initial in a
 * datagram shorter than 1200 bytes. Pad with PADDING frames inside the last
 * packet of the datagram (ho_quic_packet_seal's min_len) or by coalescing
 * other packets; never with bytes after the last packet. Independently,
 * every protected packet needs pn_len + payload >= 4 bytes so that the
 * header protection sample exists (RFC 9001 §5.4.2): ho_quic_packet_seal
 * pads for that itself.
 */
#ifndef HO_QUIC_PACKET_H
#define HO_QUIC_PACKET_H

#include "crypto/prim.h"
#include "quic/transport_error.h"

#define HO_QUIC_VERSION_1 0x00000001u
#define HO_QUIC_VERSION_2 0x6b3343cfu   /* RFC 9369 §3.1 */
#define HO_QUIC_MAX_CID_LEN 20          /* RFC 9000 §17.2, version 1 */
#define HO_QUIC_MIN_INITIAL_DCID_LEN 8  /* RFC 9000 §7.2 */
#define HO_QUIC_MIN_DATAGRAM 1200       /* RFC 9000 §14.1 */
#define HO_QUIC_MAX_UDP_PAYLOAD 65527   /* RFC 9000 §18.2 */
#define HO_QUIC_RESET_TOKEN_LEN 16
#define HO_QUIC_RETRY_TAG_LEN 16
#define HO_QUIC_HP_SAMPLE_LEN 16
#define HO_QUIC_PN_MAX ((1ULL << 62) - 1) /* RFC 9000 §12.3 */
#define HO_QUIC_PN_NONE UINT64_MAX       /* "nothing acknowledged / received yet" */
/* Retry packets we build or verify are at most this long (ours are small;
 * the tag is computed over a stack copy, see ho_quic_retry_tag). */
#define HO_QUIC_RETRY_MAX_LEN 4096

/* Packet types. The first four are also the epochs of ho_epoch (tls.h):
 * the frame permission table (frame.h) is indexed by them. */
typedef enum {
    HO_QUIC_PKT_INITIAL = 0,
    HO_QUIC_PKT_0RTT = 1,
    HO_QUIC_PKT_HANDSHAKE = 2,
    HO_QUIC_PKT_1RTT = 3,
    HO_QUIC_PKT_RETRY = 4,
    HO_QUIC_PKT_VERSION_NEGOTIATION = 5,
} ho_quic_pkt_type;

const char *ho_quic_pkt_type_name(ho_quic_pkt_type t);

/* Versions 1 (RFC 9000) and 2 (RFC 9369): the ones whose packets we parse,
 * build and protect. Version 2 differs only in the version number, the
 * long-header type bits, the Initial salt, the HKDF labels and the Retry
 * key; every function below that takes a version handles both. */
bool ho_quic_version_supported(uint32_t version);
/* "v1", "v2" or "unknown". */
const char *ho_quic_version_name(uint32_t version);

/* A connection ID of version 1 (0..20 bytes). */
typedef struct ho_quic_cid {
    uint8_t len;
    uint8_t data[HO_QUIC_MAX_CID_LEN];
} ho_quic_cid;

/* HO_ERR_INVALID_ARG if len > 20. */
int ho_quic_cid_set(ho_quic_cid *cid, const uint8_t *p, size_t len);
bool ho_quic_cid_eq(const ho_quic_cid *a, const ho_quic_cid *b);

/* Bytes of the minimal QUIC varint encoding of v (RFC 9000 §16);
 * v must be <= 2^62-1. */
static inline size_t ho_quic_varint_len(uint64_t v)
{
    return v < (1u << 6) ? 1 : v < (1u << 14) ? 2 : v < (1u << 30) ? 4 : 8;
}

/* ---- version-independent view (RFC 8999) ------------------------------ */

/* What any QUIC version shows: enough to route a datagram by destination
 * connection ID and to answer with Version Negotiation. Connection IDs may
 * be up to 255 bytes here (§5.1 of RFC 8999: other versions may use longer
 * ones); pointers are into the packet. */
typedef struct ho_quic_invariant {
    bool is_long;
    uint32_t version;          /* long header only */
    const uint8_t *dcid;
    size_t dcid_len;
    const uint8_t *scid;       /* long header only */
    size_t scid_len;
} ho_quic_invariant;

/* short_dcid_len: the length of our own connection IDs, which a short
 * header does not state. HO_ERR_QUIC_DISCARD if the packet is too short. */
int ho_quic_invariant_parse(const uint8_t *pkt, size_t len, size_t short_dcid_len, ho_quic_invariant *inv);

/* ---- headers ---------------------------------------------------------- */

/* A parsed (or to-be-built) version 1 header. On parse, the fields up to
 * pn_offset are filled; header protection still covers the low bits of
 * first_byte and the packet number until ho_quic_hp_remove. */
typedef struct ho_quic_header {
    ho_quic_pkt_type type;
    uint8_t first_byte;        /* as received; unmasked by ho_quic_hp_remove */
    uint32_t version;          /* 0 for short headers and Version Negotiation */
    ho_quic_cid dcid;
    ho_quic_cid scid;          /* long headers only */
    const uint8_t *token;      /* Initial: token (may be empty); Retry: retry token */
    size_t token_len;
    const uint8_t *versions;   /* Version Negotiation: version_count 32-bit versions */
    size_t version_count;
    const uint8_t *retry_tag;  /* Retry: the 16-byte integrity tag */
    size_t pn_offset;          /* from the start of the packet */
    size_t packet_len;         /* the whole packet, header to tag */
    /* Set by ho_quic_hp_remove (receive) or by the caller (build). */
    uint8_t pn_len;            /* 1..4 */
    uint64_t pn;               /* receive: truncated after hp_remove, full after unprotect */
    bool spin;                 /* short header, not protected: set by the parse */
    bool key_phase;            /* short header */
    /* Set by ho_quic_packet_unprotect / ho_quic_payload_decrypt. */
    size_t payload_offset;     /* plaintext frames start here in the packet */
    size_t payload_len;
} ho_quic_header;

/* Parses one packet at the start of pkt[0..len): a long header of version 1
 * or 2 (length-delimited: packet_len may be shorter than len), a Version
 * Negotiation or Retry packet, or a short header (DCID of short_dcid_len
 * bytes; the packet runs to the end of the datagram).
 * Returns HO_OK, HO_ERR_QUIC_DISCARD (truncated, fixed bit 0, CID longer than
 * 20, empty Retry token, malformed Version Negotiation) or
 * HO_ERR_QUIC_VERSION (hdr->version is set; use ho_quic_invariant_parse for
 * the connection IDs to echo). Never reads outside pkt[0..len).
 * Rules that depend on the role or connection state are the caller's: a
 * server discards an Initial in a datagram under 1200 bytes (§14.1) or with
 * a DCID under 8 bytes from a new client (§7.2); a client discards or
 * rejects a server Initial with a non-empty token (§17.2.2), a Retry whose
 * SCID equals its original DCID (§17.2.5.1), and a Version Negotiation that
 * lists its own version (§6.2). */
int ho_quic_header_parse(const uint8_t *pkt, size_t len, size_t short_dcid_len, ho_quic_header *hdr);

/* The i-th version of a parsed Version Negotiation packet. */
uint32_t ho_quic_vn_version(const ho_quic_header *hdr, size_t i);

/* Coalesced packets (RFC 9000 §12.2): yields the packets of one datagram in
 * order. The datagram stays writable so packets can be unprotected in
 * place; their lengths come from the long headers and do not change. */
typedef struct ho_quic_datagram_iter {
    uint8_t *p;
    size_t len;
    size_t short_dcid_len;
    bool started;
    ho_quic_cid first_dcid;
    unsigned skipped;          /* packets dropped for a different DCID */
} ho_quic_datagram_iter;

void ho_quic_datagram_iter_init(ho_quic_datagram_iter *it, uint8_t *dgram, size_t len, size_t short_dcid_len);
/* HO_OK: *pkt and hdr describe the next packet. HO_ERR_NOT_FOUND: no more
 * packets. Any other error (as ho_quic_header_parse) ends the iteration:
 * the remaining bytes cannot be delimited. A later packet whose DCID differs
 * from the first one's is skipped (§12.2: receivers SHOULD ignore it) and
 * counted in it->skipped. */
int ho_quic_datagram_next(ho_quic_datagram_iter *it, ho_quic_header *hdr, uint8_t **pkt);

/* Appends a long (Initial, 0-RTT, Handshake) or short header from hdr's
 * type, version, dcid, scid, token (Initial), pn, pn_len, spin and
 * key_phase. A long header gets a two-byte Length field that
 * ho_quic_packet_seal fills in. Sets hdr->pn_offset (relative to the start
 * of the packet) and *start to the packet's offset in b. Frames go after the
 * header; then call ho_quic_packet_seal. HO_ERR_INVALID_ARG for Retry/VN
 * types (use their own writers), pn_len outside 1..4, or a token on a non-
 * Initial packet. */
int ho_quic_header_write(ho_buf *b, ho_quic_header *hdr, size_t *start);

/* ---- packet numbers (RFC 9000 §17.1, Appendix A) ---------------------- */

/* Bytes (1..4) needed to send full_pn when largest_acked (HO_QUIC_PN_NONE if
 * nothing was acknowledged yet in that space) is the peer's state:
 * more than twice the range of unacknowledged packet numbers. */
uint8_t ho_quic_pn_len(uint64_t full_pn, uint64_t largest_acked);
/* Recovers the full packet number from its pn_len-byte truncation given the
 * largest packet number received in the space (HO_QUIC_PN_NONE if none). */
uint64_t ho_quic_pn_decode(uint64_t truncated, uint8_t pn_len, uint64_t largest_pn);

/* ---- keys (RFC 9001 §5.1, §5.2, §6) ----------------------------------- */

/* The three values derived from one traffic secret. */
typedef struct ho_quic_key_material {
    ho_aead_alg aead;
    uint8_t key[HO_AEAD_KEY_MAX];   /* "quic key" ("quicv2 key" in v2) */
    uint8_t iv[HO_AEAD_IV_LEN];     /* "quic iv" ("quicv2 iv") */
    uint8_t hp[HO_AEAD_KEY_MAX];    /* "quic hp" ("quicv2 hp") */
} ho_quic_key_material;

/* The labels depend on the version (RFC 9369 §3.3.2); HO_ERR_INVALID_ARG
 * for an unsupported one. */
int ho_quic_key_material_derive(uint32_t version, ho_hash_alg hash, ho_aead_alg aead, const uint8_t *secret,
                                ho_quic_key_material *out);

/* Packet protection keys for one direction at one epoch. */
typedef struct ho_quic_keys {
    crypto_aead *aead;
    crypto_hp *hp;
} ho_quic_keys;

/* Allocates the AEAD and header-protection contexts (once per key, not per
 * packet). On failure k is left empty. */
int ho_quic_keys_new(ho_quic_keys *k, const ho_quic_key_material *m, bool encrypt);
/* Frees and empties k (safe on an empty one). */
void ho_quic_keys_free(ho_quic_keys *k);

/* RFC 9001 §5.2: the client and server Initial secrets (SHA-256, 32 bytes
 * each) from the Destination Connection ID of the client's first Initial,
 * with the version's salt (RFC 9369 §3.3.1 for v2).
 * HO_ERR_INVALID_ARG for a version other than 1 or 2. */
int ho_quic_initial_secrets(uint32_t version, const uint8_t *dcid, size_t dcid_len, uint8_t client[32],
                            uint8_t server[32]);
/* Both directions of Initial keys (AES-128-GCM) for the given role. */
int ho_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len, bool is_server,
                         ho_quic_keys *tx, ho_quic_keys *rx);

/* RFC 9001 §6.1: next = HKDF-Expand-Label(secret, "quic ku", "", Hash.length)
 * ("quicv2 ku" for version 2).
 * The header protection key is not updated: derive the new AEAD key and IV
 * from `next` with ho_quic_key_material_derive and keep the old hp. next may
 * alias secret. */
int ho_quic_key_update_secret(uint32_t version, ho_hash_alg hash, const uint8_t *secret, uint8_t *next);

/* ---- protection (RFC 9001 §5.3, §5.4) --------------------------------- */

/* Removes header protection in place: unmasks the low bits of the first
 * byte (0x0f long, 0x1f short) and the packet number, and sets hdr->pn_len,
 * hdr->pn (truncated), hdr->key_phase, hdr->first_byte.
 * HO_ERR_QUIC_DISCARD if the packet is too short to sample. */
int ho_quic_hp_remove(crypto_hp *hp, uint8_t *pkt, ho_quic_header *hdr);

/* Decrypts the payload in place with the full packet number pn (set in
 * hdr->pn) and sets hdr->payload_offset/payload_len. HO_ERR_DECRYPT when
 * authentication fails (the payload bytes are then wiped: an in-place
 * attempt cannot be retried with another key, which RFC 9001 §6.3 never
 * needs). After authentication, non-zero reserved bits are
 * HO_ERR_QUIC(PROTOCOL_VIOLATION) (RFC 9000 §17.2, §17.3.1). */
int ho_quic_payload_decrypt(crypto_aead *aead, uint8_t *pkt, ho_quic_header *hdr, uint64_t pn);

/* Both steps, for packets whose key does not depend on the key phase:
 * header protection, packet number recovery against largest_pn (the
 * largest received in the space, or HO_QUIC_PN_NONE), payload. */
int ho_quic_packet_unprotect(const ho_quic_keys *k, uint8_t *pkt, ho_quic_header *hdr, uint64_t largest_pn);

/* Protects pkt in place: the header (with its packet number encoded in
 * pn_len bytes per pkt[0] & 3, and a final Length for long headers) runs to
 * pn_offset + pn_len, the plaintext payload to payload_end; the tag is
 * written at payload_end (the buffer must have 16 more bytes). pn is the
 * full packet number (the AEAD nonce, §5.3). HO_ERR_INVALID_ARG if the
 * sample would not fit (pn_len + payload < 4, §5.4.2). */
int ho_quic_packet_protect(crypto_aead *aead, crypto_hp *hp, uint8_t *pkt, size_t pn_offset, size_t payload_end,
                           uint64_t pn);

/* Finishes the packet that ho_quic_header_write started at `start` in b and
 * whose frames follow it: pads with PADDING frames so that pn_len + payload
 * >= 4 (§5.4.2) and the whole packet is at least min_len bytes (the Initial
 * datagram rule, or 0), fills the Length field, appends the tag and
 * protects. HO_ERR_INVALID_ARG if the Length does not fit two bytes
 * (packet > 16383 bytes); HO_ERR_NOMEM if b failed. */
int ho_quic_packet_seal(ho_buf *b, size_t start, const ho_quic_header *hdr, const ho_quic_keys *k,
                        size_t min_len);

/* ---- a client's first Initial, before any connection (initial_check.c) */

/* Authenticates the Initial at the start of dgram (hdr from
 * ho_quic_header_parse) with no connection: derives the client's Initial
 * keys from hdr->dcid (RFC 9001 §5.2) into k (AES-128-GCM decrypt
 * contexts from ho_quic_initial_check_keys_new, rekeyed for each packet),
 * removes header protection and opens the AEAD in scratch (cap >=
 * hdr->packet_len; wiped after), then reads its frames (RFC 9000 §12.4,
 * §17.2.2). dgram is not modified. HO_OK; HO_ERR_DECRYPT if it does not
 * authenticate (or is too short to sample); HO_ERR_QUIC(code) for reserved
 * bits or frames not allowed in an Initial; HO_ERR_CRYPTO; HO_ERR_INVALID_ARG
 * if not a version 1 or 2 Initial or cap is too small. */
int ho_quic_initial_authenticate(ho_quic_keys *k, const uint8_t *dgram, const ho_quic_header *hdr, uint8_t *scratch,
                                 size_t cap);
/* The contexts ho_quic_initial_authenticate rekeys (free with
 * ho_quic_keys_free). */
int ho_quic_initial_check_keys_new(ho_quic_keys *k);

/* ---- Retry (RFC 9000 §17.2.5, RFC 9001 §5.8) -------------------------- */

/* An AES-128-GCM context with the fixed Retry key and nonce of the version
 * (RFC 9001 §5.8; RFC 9369 §3.3.3), for
 * an endpoint that sends or checks many Retry packets (one per thread).
 * NULL for an unsupported version or on failure. Free with crypto_aead_free. */
crypto_aead *ho_quic_retry_aead_new(uint32_t version);

/* The tag over the pseudo-packet {odcid_len, odcid, pkt[0..len)} where pkt
 * is a Retry packet without its tag. aead: from ho_quic_retry_aead_new, or
 * NULL for a one-off context. HO_ERR_INVALID_ARG if 1 + odcid_len + len
 * exceeds HO_QUIC_RETRY_MAX_LEN + 1 + 20. */
int ho_quic_retry_tag(crypto_aead *aead, uint32_t version, const uint8_t *odcid, size_t odcid_len,
                      const uint8_t *pkt, size_t len, uint8_t tag[HO_QUIC_RETRY_TAG_LEN]);
/* Checks the tag at the end of a whole Retry packet (constant time).
 * HO_OK or HO_ERR_DECRYPT (also for one too short or too long to check). */
int ho_quic_retry_verify(crypto_aead *aead, uint32_t version, const uint8_t *odcid, size_t odcid_len,
                         const uint8_t *pkt, size_t len);
/* Appends a whole Retry packet: dcid = the client's SCID, scid = the
 * server's new CID (MUST differ from odcid, §17.2.5.1), a non-empty token,
 * and the tag for odcid. `unused` supplies the 4 unused bits (random). */
int ho_quic_retry_write(ho_buf *b, crypto_aead *aead, uint32_t version, const ho_quic_cid *dcid,
                        const ho_quic_cid *scid, const ho_quic_cid *odcid, const uint8_t *token, size_t token_len,
                        uint8_t unused);

/* ---- Version Negotiation (RFC 9000 §6, §17.2.1) ----------------------- */

/* Appends a Version Negotiation packet answering a packet whose invariant
 * header carried (their_dcid, their_scid): ours echoes them swapped. The
 * versions list must be non-empty. `unused` supplies the 7 unused bits; the
 * 0x40 bit is always set (§17.2.1: SHOULD, for RFC 7983 demultiplexing). */
int ho_quic_vn_write(ho_buf *b, const uint8_t *their_dcid, size_t their_dcid_len, const uint8_t *their_scid,
                     size_t their_scid_len, const uint32_t *versions, size_t count, uint8_t unused);

#endif
