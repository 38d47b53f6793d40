/*
 * handoff — one error space for every layer (included by base.h).
 *
 * Functions return int: 0 (HO_OK) on success, otherwise one value of one of
 * these ranges, each with one name:
 *
 *   -1 .. -127          local outcomes that never reach the wire (HO_ERR_*,
 *                       HO_HTTP1_RESP_ERR_*; the list below)
 *   0x10000 + a         HO_ERR_TLS_ALERT(a): we send (or sent) TLS alert a
 *   0x10100 + a         HO_ERR_TLS_PEER_ALERT(a): the peer sent alert a
 *   0x20000 + c         HO_ERR_QUIC(c): QUIC transport error c (RFC 9000 §20.1;
 *                       c in 0x100..0x1ff is CRYPTO_ERROR for TLS alert c - 0x100)
 *   0x30000 + c         HO_ERR_H3(c): HTTP/3 or QPACK application error c
 *                       (RFC 9114 §8.1, RFC 9204 §6)
 *
 * ho_err_str names every value: local ones in words, alerts by their RFC 8446
 * §6 names, QUIC codes by their RFC 9000 §20.1 names, HTTP/3 codes by their
 * RFC 9114 §8.1 names.
 */
#ifndef HANDOFF_ERROR_H
#define HANDOFF_ERROR_H

#include <stdbool.h>
#include <stdint.h>

/* HO_API marks the library's public functions and objects: the only symbols
 * libhandoff.so exports (the library is built with -fvisibility=hidden). */
#if defined(__GNUC__)
#define HO_API __attribute__((visibility("default")))
#else
#define HO_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* The local outcomes: X(name, value, text). */
#define HO_LOCAL_ERRORS(X)                                                                          \
    X(HO_ERR_NOMEM, -1, "out of memory")                                                            \
    X(HO_ERR_INVALID_ARG, -2, "invalid argument")                                                   \
    X(HO_ERR_INTERNAL, -3, "internal error")                                                        \
    X(HO_ERR_IO, -4, "I/O error")                                                                   \
    X(HO_ERR_WOULD_BLOCK, -5, "would block (more input or output space needed)")                     \
    X(HO_ERR_CLOSED, -6, "connection closed by the peer")                                           \
    X(HO_ERR_CRYPTO, -7, "crypto library failure")                                                  \
    X(HO_ERR_DECRYPT, -8, "decryption failed")                                                      \
    X(HO_ERR_BAD_SIGNATURE, -9, "bad signature")                                                    \
    X(HO_ERR_CERT_UNTRUSTED, -10, "certificate not trusted")                                        \
    X(HO_ERR_CERT_EXPIRED, -11, "certificate expired or not yet valid")                             \
    X(HO_ERR_CERT_HOSTNAME, -12, "certificate does not match the host name")                        \
    X(HO_ERR_CERT_BAD, -13, "bad certificate")                                                      \
    X(HO_ERR_NOT_FOUND, -14, "not found")                                                           \
    X(HO_ERR_BAD_PEER_KEY, -15, "invalid peer key share")                                           \
    X(HO_ERR_TIMEOUT, -16, "timed out")                                                             \
    X(HO_ERR_REFUSED, -17, "refused (nothing listens there)")                                       \
    X(HO_ERR_EXISTS, -18, "already exists")                                                         \
    X(HO_ERR_FULL, -19, "table full")                                                               \
    X(HO_ERR_EARLY_DATA, -23, "early data not possible (not offered, rejected, or over the limit)")  \
    X(HO_ERR_WANT_ASYNC, -24, "pending: an asynchronous TLS callback has not completed yet")          \
    X(HO_ERR_QUIC_DISCARD, -64, "QUIC packet discarded (malformed or unusable header)")             \
    X(HO_ERR_QUIC_VERSION, -65, "no common QUIC version")                                           \
    X(HO_ERR_QUIC_STATELESS_RESET, -80, "QUIC stateless reset received")                            \
    X(HO_HTTP1_RESP_ERR_STATUS_LINE, -96, "HTTP/1 response: malformed status line")                 \
    X(HO_HTTP1_RESP_ERR_VERSION, -97, "HTTP/1 response: not HTTP/1.x")                              \
    X(HO_HTTP1_RESP_ERR_FIELD, -98, "HTTP/1 response: malformed header field")                      \
    X(HO_HTTP1_RESP_ERR_LINE_END, -99, "HTTP/1 response: line not ended by CRLF")                   \
    X(HO_HTTP1_RESP_ERR_HEAD_TOO_BIG, -100, "HTTP/1 response: header or trailer section too large") \
    X(HO_HTTP1_RESP_ERR_TOO_MANY_FIELDS, -101, "HTTP/1 response: too many header fields")           \
    X(HO_HTTP1_RESP_ERR_CONTENT_LENGTH, -102, "HTTP/1 response: invalid Content-Length")            \
    X(HO_HTTP1_RESP_ERR_TE_AND_CL, -103, "HTTP/1 response: both Transfer-Encoding and Content-Length") \
    X(HO_HTTP1_RESP_ERR_TRANSFER_CODING, -104, "HTTP/1 response: unsupported Transfer-Encoding")    \
    X(HO_HTTP1_RESP_ERR_CHUNK, -105, "HTTP/1 response: malformed chunked body")                     \
    X(HO_HTTP1_RESP_ERR_TRAILER, -106, "HTTP/1 response: malformed trailer field")                  \
    X(HO_HTTP1_RESP_ERR_TRUNCATED, -107, "HTTP/1 response: truncated")                              \
    X(HO_HTTP1_RESP_ERR_CALLBACK, -108, "HTTP/1 response: stopped by the callback")                 \
    X(HO_HTTP1_RESP_ERR_NOMEM, -109, "HTTP/1 response: out of memory")

enum {
    HO_OK = 0,
#define HO_ERR_ENUM_(name, value, text) name = (value),
    HO_LOCAL_ERRORS(HO_ERR_ENUM_)
#undef HO_ERR_ENUM_
};

/* ---- TLS alerts ------------------------------------------------------- */

/* AlertDescription values (RFC 8446 §6). */
enum {
    HO_ALERT_CLOSE_NOTIFY = 0,
    HO_ALERT_UNEXPECTED_MESSAGE = 10,
    HO_ALERT_BAD_RECORD_MAC = 20,
    HO_ALERT_RECORD_OVERFLOW = 22,
    HO_ALERT_HANDSHAKE_FAILURE = 40,
    HO_ALERT_BAD_CERTIFICATE = 42,
    HO_ALERT_UNSUPPORTED_CERTIFICATE = 43,
    HO_ALERT_CERTIFICATE_REVOKED = 44,
    HO_ALERT_CERTIFICATE_EXPIRED = 45,
    HO_ALERT_CERTIFICATE_UNKNOWN = 46,
    HO_ALERT_ILLEGAL_PARAMETER = 47,
    HO_ALERT_UNKNOWN_CA = 48,
    HO_ALERT_ACCESS_DENIED = 49,
    HO_ALERT_DECODE_ERROR = 50,
    HO_ALERT_DECRYPT_ERROR = 51,
    HO_ALERT_PROTOCOL_VERSION = 70,
    HO_ALERT_INSUFFICIENT_SECURITY = 71,
    HO_ALERT_INTERNAL_ERROR = 80,
    HO_ALERT_INAPPROPRIATE_FALLBACK = 86,
    HO_ALERT_USER_CANCELED = 90,
    HO_ALERT_MISSING_EXTENSION = 109,
    HO_ALERT_UNSUPPORTED_EXTENSION = 110,
    HO_ALERT_UNRECOGNIZED_NAME = 112,
    HO_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE = 113,
    HO_ALERT_UNKNOWN_PSK_IDENTITY = 115,
    HO_ALERT_CERTIFICATE_REQUIRED = 116,
    HO_ALERT_NO_APPLICATION_PROTOCOL = 120,
};

#define HO_ERR_TLS_ALERT_BASE 0x10000
#define HO_ERR_TLS_PEER_ALERT_BASE 0x10100
#define HO_ERR_TLS_ALERT(desc) (HO_ERR_TLS_ALERT_BASE + (desc))
#define HO_ERR_TLS_PEER_ALERT(desc) (HO_ERR_TLS_PEER_ALERT_BASE + (desc))
static inline bool ho_err_is_alert(int e) { return e >= HO_ERR_TLS_ALERT_BASE && e < HO_ERR_TLS_ALERT_BASE + 0x100; }
static inline bool ho_err_is_peer_alert(int e) { return e >= HO_ERR_TLS_PEER_ALERT_BASE && e < HO_ERR_TLS_PEER_ALERT_BASE + 0x100; }
static inline uint8_t ho_err_alert(int e) { return (uint8_t)(e & 0xff); }

/* ---- QUIC transport errors -------------------------------------------- */

/* RFC 9000 §20.1 (the codes of a CONNECTION_CLOSE of type 0x1c). */
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
    HO_QUIC_VERSION_NEGOTIATION_ERROR = 0x11, /* RFC 9368 §10.2 */
    /* 0x100..0x1ff: TLS alert (code - 0x100), RFC 9001 §4.8 */
    HO_QUIC_CRYPTO_ERROR = 0x100,
} ho_quic_transport_error;

#define HO_ERR_QUIC_BASE 0x20000
#define HO_ERR_QUIC(code) (HO_ERR_QUIC_BASE + (int)(code))
static inline bool ho_err_is_quic(int e) { return e >= HO_ERR_QUIC_BASE && e < HO_ERR_QUIC_BASE + 0x200; }

/* ---- HTTP/3 application errors ---------------------------------------- */

/* RFC 9114 §8.1 and RFC 9204 §6 (the codes of a CONNECTION_CLOSE of type
 * 0x1d, RESET_STREAM and STOP_SENDING on an HTTP/3 connection). */
enum {
    HO_H3_NO_ERROR = 0x100,
    HO_H3_GENERAL_PROTOCOL_ERROR = 0x101,
    HO_H3_INTERNAL_ERROR = 0x102,
    HO_H3_STREAM_CREATION_ERROR = 0x103,
    HO_H3_CLOSED_CRITICAL_STREAM = 0x104,
    HO_H3_FRAME_UNEXPECTED = 0x105,
    HO_H3_FRAME_ERROR = 0x106,
    HO_H3_EXCESSIVE_LOAD = 0x107,
    HO_H3_ID_ERROR = 0x108,
    HO_H3_SETTINGS_ERROR = 0x109,
    HO_H3_MISSING_SETTINGS = 0x10a,
    HO_H3_REQUEST_REJECTED = 0x10b,
    HO_H3_REQUEST_CANCELLED = 0x10c,
    HO_H3_REQUEST_INCOMPLETE = 0x10d,
    HO_H3_MESSAGE_ERROR = 0x10e,
    HO_H3_CONNECT_ERROR = 0x10f,
    HO_H3_VERSION_FALLBACK = 0x110,
    HO_QPACK_DECOMPRESSION_FAILED = 0x200,
    HO_QPACK_ENCODER_STREAM_ERROR = 0x201,
    HO_QPACK_DECODER_STREAM_ERROR = 0x202,
};

#define HO_ERR_H3_BASE 0x30000
#define HO_ERR_H3(code) (HO_ERR_H3_BASE + (int)(code))
static inline bool ho_err_is_h3(int e) { return e >= HO_ERR_H3_BASE && e < HO_ERR_H3_BASE + 0x400; }

/* ---- names ------------------------------------------------------------ */

/* The name of any value above: "out of memory", "TLS alert sent:
 * handshake_failure", "PROTOCOL_VIOLATION", "CRYPTO_ERROR (unknown_ca)",
 * "H3_REQUEST_CANCELLED". Static storage, or a per-thread buffer that the
 * calling thread's next call overwrites. "unknown error (N)" for a value
 * outside every range. */
HO_API const char *ho_err_str(int err);
/* RFC 8446 §6 name of an AlertDescription ("unknown_alert" if none). */
HO_API const char *ho_tls_alert_name(uint8_t desc);
/* RFC 9000 §20.1 name of a QUIC transport error code ("CRYPTO_ERROR" for
 * 0x100..0x1ff, "unknown" outside the registry). */
HO_API const char *ho_quic_error_name(uint64_t code);
/* RFC 9114 §8.1 / RFC 9204 §6 name of an HTTP/3 error code ("unknown"). */
HO_API const char *ho_h3_error_name(uint64_t code);

#ifdef __cplusplus
}
#endif
#endif
