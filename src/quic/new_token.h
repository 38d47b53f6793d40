/* NEW_TOKEN tokens as the endpoint makes and checks them (RFC 9000
 * §8.1.3), src/quic/new_token.c:
 *
 *   token = 'N' | seq (8) | AES-128-GCM(seq; aad = 'N' | seq | peer IP)
 *           { issued (8), expiry (8) }   (wall clock, ms since the epoch)
 *
 * Sealed with the endpoint's Retry token key and nonce counter: the mark,
 * in the AAD, keeps the two kinds apart (§8.1.3: a server MUST be able to
 * tell them apart; a Retry token starts with 'R'), and a NEW_TOKEN token
 * carries no original DCID, so it never stands for a Retry. Bound to the
 * IP address only, not the port: a NAT gives the client's next connection
 * another port. Not single-use: §8.1.3 lets a client reuse a token; the
 * expiry bounds it. */
#ifndef HO_QUIC_NEW_TOKEN_H
#define HO_QUIC_NEW_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/prim.h"
#include "handoff/quic.h"

#define QUIC_NT_MARK 0x4e /* 'N' */
#define QUIC_NT_LEN (1 + 8 + 16 + CRYPTO_AEAD_TAG_LEN)

/* Writes a token for path's peer IP and the QUIC version, issued at wall_ms
 * and valid for lifetime_ms, with nonce seq (never reused with this key). Returns
 * QUIC_NT_LEN, or 0 if the seal failed. */
size_t quic_nt_make(crypto_aead *seal, uint64_t seq, const ho_quic_path *path, uint32_t version, int64_t wall_ms,
                    int64_t lifetime_ms, uint8_t out[QUIC_NT_LEN]);
/* Whether tok is a token of ours (this key), intact, for path's peer IP and
 * this version,
 * not expired at wall_ms and not issued in its future (beyond clock skew). */
bool quic_nt_check(crypto_aead *open, const uint8_t *tok, size_t len, const ho_quic_path *path, uint32_t version,
                   int64_t wall_ms);

#endif
