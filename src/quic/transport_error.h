/*
 * QUIC transport error codes (RFC 9000 §20.1) and how they travel through
 * handoff's int error contract (include/handoff/base.h).
 *
 * A QUIC function that detects a connection error returns
 * HO_ERR_QUIC(code): the value minus HO_ERR_QUIC_BASE is the code that goes
 * into a CONNECTION_CLOSE frame of type 0x1c. This mirrors the TLS alert
 * range of base.h (HO_ERR_TLS_ALERT_BASE) one range further up, so one int
 * says what goes on the wire whichever layer failed.
 *
 * Local outcomes that never reach the wire stay negative, like base.h's:
 * HO_ERR_QUIC_DISCARD means "drop this packet (or the rest of the datagram)
 * silently"; HO_ERR_QUIC_VERSION means "a long header of a version we do not
 * speak" (a server answers with Version Negotiation, RFC 9000 §6.1).
 * HO_ERR_DECRYPT (base.h) is an AEAD failure: also a silent drop.
 */
#ifndef HO_QUIC_TRANSPORT_ERROR_H
#define HO_QUIC_TRANSPORT_ERROR_H

#include "handoff/base.h"

/* The codes (ho_quic_transport_error, RFC 9000 §20.1), HO_ERR_QUIC(code)
 * and the silent outcomes HO_ERR_QUIC_DISCARD / HO_ERR_QUIC_VERSION live in
 * handoff/error.h with every other error value. */

static inline bool ho_quic_err_is_transport(int e) { return ho_err_is_quic(e); }

/* The code for a CONNECTION_CLOSE of type 0x1c that reports err: a QUIC
 * transport error as is, a TLS alert we send as CRYPTO_ERROR (RFC 9001
 * §4.8), anything else (memory, libcrypto, ...) as INTERNAL_ERROR. */
static inline uint64_t ho_quic_err_wire_code(int e)
{
    if (ho_quic_err_is_transport(e))
        return (uint64_t)(e - HO_ERR_QUIC_BASE);
    if (ho_err_is_alert(e))
        return HO_QUIC_CRYPTO_ERROR + ho_err_alert(e);
    return e == HO_OK ? HO_QUIC_NO_ERROR : HO_QUIC_INTERNAL_ERROR;
}

static inline const char *ho_quic_transport_error_name(uint64_t code) { return ho_quic_error_name(code); }

#endif
