/* Names for every value of the error space (include/handoff/error.h). */
#include "handoff/base.h"

#include <stdio.h>
#include <string.h>

const char *ho_tls_alert_name(uint8_t desc)
{
    switch (desc) {
    case HO_ALERT_CLOSE_NOTIFY: return "close_notify";
    case HO_ALERT_UNEXPECTED_MESSAGE: return "unexpected_message";
    case HO_ALERT_BAD_RECORD_MAC: return "bad_record_mac";
    case HO_ALERT_RECORD_OVERFLOW: return "record_overflow";
    case HO_ALERT_HANDSHAKE_FAILURE: return "handshake_failure";
    case HO_ALERT_BAD_CERTIFICATE: return "bad_certificate";
    case HO_ALERT_UNSUPPORTED_CERTIFICATE: return "unsupported_certificate";
    case HO_ALERT_CERTIFICATE_REVOKED: return "certificate_revoked";
    case HO_ALERT_CERTIFICATE_EXPIRED: return "certificate_expired";
    case HO_ALERT_CERTIFICATE_UNKNOWN: return "certificate_unknown";
    case HO_ALERT_ILLEGAL_PARAMETER: return "illegal_parameter";
    case HO_ALERT_UNKNOWN_CA: return "unknown_ca";
    case HO_ALERT_ACCESS_DENIED: return "access_denied";
    case HO_ALERT_DECODE_ERROR: return "decode_error";
    case HO_ALERT_DECRYPT_ERROR: return "decrypt_error";
    case HO_ALERT_PROTOCOL_VERSION: return "protocol_version";
    case HO_ALERT_INSUFFICIENT_SECURITY: return "insufficient_security";
    case HO_ALERT_INTERNAL_ERROR: return "internal_error";
    case HO_ALERT_INAPPROPRIATE_FALLBACK: return "inappropriate_fallback";
    case HO_ALERT_USER_CANCELED: return "user_canceled";
    case HO_ALERT_MISSING_EXTENSION: return "missing_extension";
    case HO_ALERT_UNSUPPORTED_EXTENSION: return "unsupported_extension";
    case HO_ALERT_UNRECOGNIZED_NAME: return "unrecognized_name";
    case HO_ALERT_BAD_CERTIFICATE_STATUS_RESPONSE: return "bad_certificate_status_response";
    case HO_ALERT_UNKNOWN_PSK_IDENTITY: return "unknown_psk_identity";
    case HO_ALERT_CERTIFICATE_REQUIRED: return "certificate_required";
    case HO_ALERT_NO_APPLICATION_PROTOCOL: return "no_application_protocol";
    }
    return "unknown_alert";
}

/* RFC 9000 §20.1. */
const char *ho_quic_error_name(uint64_t code)
{
    static const char *const names[] = {
        "NO_ERROR", "INTERNAL_ERROR", "CONNECTION_REFUSED", "FLOW_CONTROL_ERROR", "STREAM_LIMIT_ERROR",
        "STREAM_STATE_ERROR", "FINAL_SIZE_ERROR", "FRAME_ENCODING_ERROR", "TRANSPORT_PARAMETER_ERROR",
        "CONNECTION_ID_LIMIT_ERROR", "PROTOCOL_VIOLATION", "INVALID_TOKEN", "APPLICATION_ERROR",
        "CRYPTO_BUFFER_EXCEEDED", "KEY_UPDATE_ERROR", "AEAD_LIMIT_REACHED", "NO_VIABLE_PATH",
        "VERSION_NEGOTIATION_ERROR",
    };
    if (code < sizeof(names) / sizeof(names[0]))
        return names[code];
    if (code >= HO_QUIC_CRYPTO_ERROR && code <= 0x1ff)
        return "CRYPTO_ERROR";
    return "unknown";
}

/* RFC 9114 §8.1, RFC 9204 §6. */
const char *ho_h3_error_name(uint64_t code)
{
    static const char *const h3[] = {
        "H3_NO_ERROR", "H3_GENERAL_PROTOCOL_ERROR", "H3_INTERNAL_ERROR", "H3_STREAM_CREATION_ERROR",
        "H3_CLOSED_CRITICAL_STREAM", "H3_FRAME_UNEXPECTED", "H3_FRAME_ERROR", "H3_EXCESSIVE_LOAD",
        "H3_ID_ERROR", "H3_SETTINGS_ERROR", "H3_MISSING_SETTINGS", "H3_REQUEST_REJECTED",
        "H3_REQUEST_CANCELLED", "H3_REQUEST_INCOMPLETE", "H3_MESSAGE_ERROR", "H3_CONNECT_ERROR",
        "H3_VERSION_FALLBACK",
    };
    static const char *const qpack[] = {
        "QPACK_DECOMPRESSION_FAILED", "QPACK_ENCODER_STREAM_ERROR", "QPACK_DECODER_STREAM_ERROR"};
    if (code >= HO_H3_NO_ERROR && code - HO_H3_NO_ERROR < sizeof(h3) / sizeof(h3[0]))
        return h3[code - HO_H3_NO_ERROR];
    if (code >= HO_QPACK_DECOMPRESSION_FAILED && code - HO_QPACK_DECOMPRESSION_FAILED < sizeof(qpack) / sizeof(qpack[0]))
        return qpack[code - HO_QPACK_DECOMPRESSION_FAILED];
    return "unknown";
}

const char *ho_err_str(int err)
{
    static _Thread_local char buf[64];
    switch (err) {
    case HO_OK: return "ok";
#define HO_ERR_CASE_(name, value, text) \
    case name: return text;
        HO_LOCAL_ERRORS(HO_ERR_CASE_)
#undef HO_ERR_CASE_
    }
    if (ho_err_is_alert(err)) {
        snprintf(buf, sizeof(buf), "TLS alert sent: %s", ho_tls_alert_name(ho_err_alert(err)));
    } else if (ho_err_is_peer_alert(err)) {
        snprintf(buf, sizeof(buf), "TLS alert received: %s", ho_tls_alert_name(ho_err_alert(err)));
    } else if (ho_err_is_quic(err)) {
        int code = err - HO_ERR_QUIC_BASE;
        if (code >= HO_QUIC_CRYPTO_ERROR)
            snprintf(buf, sizeof(buf), "CRYPTO_ERROR (%s)", ho_tls_alert_name((uint8_t)(code - HO_QUIC_CRYPTO_ERROR)));
        else if (code <= HO_QUIC_VERSION_NEGOTIATION_ERROR)
            return ho_quic_error_name((uint64_t)code);
        else
            snprintf(buf, sizeof(buf), "QUIC transport error 0x%x", (unsigned)code);
    } else if (ho_err_is_h3(err)) {
        int code = err - HO_ERR_H3_BASE;
        const char *name = ho_h3_error_name((uint64_t)code);
        if (strcmp(name, "unknown") != 0)
            return name;
        snprintf(buf, sizeof(buf), "HTTP/3 error 0x%x", (unsigned)code);
    } else {
        snprintf(buf, sizeof(buf), "unknown error (%d)", err);
    }
    return buf;
}
