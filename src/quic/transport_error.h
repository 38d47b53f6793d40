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

/* RFC 9000 §20.1. */
typedef enum {
    HO_QUIC_NO_ERROR = 0x00,
    HO_QUIC_INTERNAL_ERROR = 0x01,
    HO_QUIC_CONNECTION_REFUSED = 0x02,
    HO_QUIC_FLOW_CONTROL_ERROR = 0x03,
    HO_QUIC_STREAM_LIMIT_ERROR = 0x04,
    HO_QUIC_STREAM_STATE_ERROR = 0x05,
    HO_QUIC_FINAL_SIZE_ERROR = 0x06,
    HO_QUIC_FRAME_ENCODING_ERROR = 0x07,
    HO_QUIC_TRANSPORT_PARAMETER_ERROR = 0x08,
    HO_QUIC_CONNECTION_ID_LIMIT_ERROR = 0x09,
    HO_QUIC_PROTOCOL_VIOLATION = 0x0a,
    HO_QUIC_INVALID_TOKEN = 0x0b,
    HO_QUIC_APPLICATION_ERROR = 0x0c,
    HO_QUIC_CRYPTO_BUFFER_EXCEEDED = 0x0d,
    HO_QUIC_KEY_UPDATE_ERROR = 0x0e,
    HO_QUIC_AEAD_LIMIT_REACHED = 0x0f,
    HO_QUIC_NO_VIABLE_PATH = 0x10,
    /* 0x0100-0x01ff: CRYPTO_ERROR, 0x100 + TLS AlertDescription (RFC 9001 §4.8). */
    HO_QUIC_CRYPTO_ERROR = 0x100,
} ho_quic_transport_error;

#define HO_ERR_QUIC_BASE 0x20000
#define HO_ERR_QUIC(code) (HO_ERR_QUIC_BASE + (int)(code))

/* Silent outcomes (never on the wire). base.h's negative codes end at -15;
 * QUIC keeps -64..-79 for itself. */
#define HO_ERR_QUIC_DISCARD (-64) /* drop the packet: malformed or unusable header */
#define HO_ERR_QUIC_VERSION (-65) /* long header of an unsupported version */

static inline bool ho_quic_err_is_transport(int e) { return e >= HO_ERR_QUIC_BASE && e < HO_ERR_QUIC_BASE + 0x200; }

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

static inline const char *ho_quic_transport_error_name(uint64_t code)
{
    static const char *const names[] = {
        "NO_ERROR", "INTERNAL_ERROR", "CONNECTION_REFUSED", "FLOW_CONTROL_ERROR", "STREAM_LIMIT_ERROR",
        "STREAM_STATE_ERROR", "FINAL_SIZE_ERROR", "FRAME_ENCODING_ERROR", "TRANSPORT_PARAMETER_ERROR",
        "CONNECTION_ID_LIMIT_ERROR", "PROTOCOL_VIOLATION", "INVALID_TOKEN", "APPLICATION_ERROR",
        "CRYPTO_BUFFER_EXCEEDED", "KEY_UPDATE_ERROR", "AEAD_LIMIT_REACHED", "NO_VIABLE_PATH",
    };
    if (code < sizeof(names) / sizeof(names[0]))
        return names[code];
    if (code >= 0x100 && code <= 0x1ff)
        return "CRYPTO_ERROR";
    return "unknown";
}

#endif
