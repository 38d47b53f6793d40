#include "handoff/base.h"

#include <stdio.h>

/* Alert names live in the TLS layer; base only knows the ranges. */
const char *ho_err_str(int err)
{
    switch (err) {
    case HO_OK: return "ok";
    case HO_ERR_NOMEM: return "out of memory";
    case HO_ERR_INVALID_ARG: return "invalid argument";
    case HO_ERR_INTERNAL: return "internal error";
    case HO_ERR_IO: return "I/O error";
    case HO_ERR_WOULD_BLOCK: return "would block";
    case HO_ERR_CLOSED: return "connection closed by peer";
    case HO_ERR_CRYPTO: return "crypto library failure";
    case HO_ERR_DECRYPT: return "decryption failed";
    case HO_ERR_BAD_SIGNATURE: return "bad signature";
    case HO_ERR_CERT_UNTRUSTED: return "certificate not trusted";
    case HO_ERR_CERT_EXPIRED: return "certificate expired or not yet valid";
    case HO_ERR_CERT_HOSTNAME: return "certificate does not match host name";
    case HO_ERR_CERT_BAD: return "bad certificate";
    case HO_ERR_NOT_FOUND: return "not found";
    case HO_ERR_BAD_PEER_KEY: return "invalid peer key share";
    }
    if (ho_err_is_alert(err))
        return "TLS alert sent";
    if (ho_err_is_peer_alert(err))
        return "TLS alert received";
    return "unknown error";
}
