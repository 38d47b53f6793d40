/* The error space (include/handoff/error.h): every defined value has one
 * name and ho_err_str names it; the ranges do not overlap. */
#include "harness.h"

#include "handoff/base.h"

static const struct {
    int value;
    const char *name;
} locals[] = {
#define HO_ERR_ROW_(name, value, text) {name, #name},
    HO_LOCAL_ERRORS(HO_ERR_ROW_)
#undef HO_ERR_ROW_
};
enum { NLOCAL = sizeof(locals) / sizeof(locals[0]) };

static bool is_unknown(const char *s) { return strncmp(s, "unknown", 7) == 0; }

static void test_local(void)
{
    CHECK(strcmp(ho_err_str(HO_OK), "ok") == 0);
    CHECK(NLOCAL >= 34);
    for (int i = 0; i < NLOCAL; i++) {
        int v = locals[i].value;
        const char *s = ho_err_str(v);
        CHECK(v < 0 && v >= -127);
        if (s == NULL || is_unknown(s) || s[0] == '\0')
            fprintf(stderr, "%s (%d) has no name: %s\n", locals[i].name, v, s ? s : "(null)");
        CHECK(s != NULL && !is_unknown(s) && s[0] != '\0');
        for (int j = 0; j < i; j++) {
            /* One name per value, and one text per value. */
            if (locals[j].value == v)
                fprintf(stderr, "%s and %s share %d\n", locals[i].name, locals[j].name, v);
            CHECK(locals[j].value != v);
            CHECK(strcmp(ho_err_str(locals[j].value), s) != 0);
        }
    }
    /* Timeouts and refusals have codes of their own. */
    CHECK(HO_ERR_TIMEOUT != HO_ERR_WOULD_BLOCK && HO_ERR_REFUSED != HO_ERR_IO);
    CHECK(strcmp(ho_err_str(HO_ERR_TIMEOUT), "timed out") == 0);
    /* The congestion-controller registry's refusals (handoff/quic_cc.h). */
    CHECK(strcmp(ho_err_str(HO_ERR_EXISTS), "already exists") == 0);
    CHECK(strcmp(ho_err_str(HO_ERR_FULL), "table full") == 0);
}

static void test_alerts(void)
{
    static const uint8_t named[] = {0, 10, 20, 22, 40, 42, 43, 44, 45, 46, 47, 48, 49, 50,
                                    51, 70, 71, 80, 86, 90, 109, 110, 112, 113, 115, 116, 120};
    for (size_t i = 0; i < sizeof(named); i++) {
        const char *n = ho_tls_alert_name(named[i]);
        CHECK(strcmp(n, "unknown_alert") != 0);
        char want[96];
        snprintf(want, sizeof(want), "TLS alert sent: %s", n);
        CHECK(strcmp(ho_err_str(HO_ERR_TLS_ALERT(named[i])), want) == 0);
        snprintf(want, sizeof(want), "TLS alert received: %s", n);
        CHECK(strcmp(ho_err_str(HO_ERR_TLS_PEER_ALERT(named[i])), want) == 0);
    }
    CHECK(strcmp(ho_err_str(HO_ERR_TLS_ALERT(HO_ALERT_UNKNOWN_CA)), "TLS alert sent: unknown_ca") == 0);
    CHECK(strcmp(ho_tls_alert_name(200), "unknown_alert") == 0);
    for (int a = 0; a < 256; a++) {
        CHECK(ho_err_is_alert(HO_ERR_TLS_ALERT(a)) && !ho_err_is_peer_alert(HO_ERR_TLS_ALERT(a)));
        CHECK(ho_err_is_peer_alert(HO_ERR_TLS_PEER_ALERT(a)) && !ho_err_is_alert(HO_ERR_TLS_PEER_ALERT(a)));
        CHECK(ho_err_alert(HO_ERR_TLS_PEER_ALERT(a)) == a);
    }
}

static void test_quic(void)
{
    /* RFC 9000 §20.1, in order, then RFC 9368 §10.2. */
    static const char *const rfc[] = {
        "NO_ERROR", "INTERNAL_ERROR", "CONNECTION_REFUSED", "FLOW_CONTROL_ERROR", "STREAM_LIMIT_ERROR",
        "STREAM_STATE_ERROR", "FINAL_SIZE_ERROR", "FRAME_ENCODING_ERROR", "TRANSPORT_PARAMETER_ERROR",
        "CONNECTION_ID_LIMIT_ERROR", "PROTOCOL_VIOLATION", "INVALID_TOKEN", "APPLICATION_ERROR",
        "CRYPTO_BUFFER_EXCEEDED", "KEY_UPDATE_ERROR", "AEAD_LIMIT_REACHED", "NO_VIABLE_PATH",
        "VERSION_NEGOTIATION_ERROR"};
    for (int c = 0; c <= HO_QUIC_VERSION_NEGOTIATION_ERROR; c++) {
        CHECK(strcmp(ho_err_str(HO_ERR_QUIC(c)), rfc[c]) == 0);
        CHECK(ho_err_is_quic(HO_ERR_QUIC(c)) && !ho_err_is_alert(HO_ERR_QUIC(c)) && !ho_err_is_h3(HO_ERR_QUIC(c)));
    }
    CHECK(strcmp(ho_err_str(HO_ERR_QUIC(HO_QUIC_PROTOCOL_VIOLATION)), "PROTOCOL_VIOLATION") == 0);
    CHECK(strcmp(ho_err_str(HO_ERR_QUIC(HO_QUIC_CRYPTO_ERROR + HO_ALERT_UNKNOWN_CA)), "CRYPTO_ERROR (unknown_ca)") == 0);
    CHECK(strcmp(ho_quic_error_name(0x128), "CRYPTO_ERROR") == 0);
    CHECK_EQ(HO_QUIC_VERSION_NEGOTIATION_ERROR, 0x11);
    CHECK(strcmp(ho_quic_error_name(0x12), "unknown") == 0);
    CHECK(strncmp(ho_err_str(HO_ERR_QUIC(0x12)), "QUIC transport error 0x12", 25) == 0);
    for (int c = 0x100; c < 0x200; c++)
        CHECK(strncmp(ho_err_str(HO_ERR_QUIC(c)), "CRYPTO_ERROR (", 14) == 0);
}

static void test_h3(void)
{
    static const struct {
        int code;
        const char *name;
    } rfc[] = {{HO_H3_NO_ERROR, "H3_NO_ERROR"},
               {HO_H3_GENERAL_PROTOCOL_ERROR, "H3_GENERAL_PROTOCOL_ERROR"},
               {HO_H3_INTERNAL_ERROR, "H3_INTERNAL_ERROR"},
               {HO_H3_STREAM_CREATION_ERROR, "H3_STREAM_CREATION_ERROR"},
               {HO_H3_CLOSED_CRITICAL_STREAM, "H3_CLOSED_CRITICAL_STREAM"},
               {HO_H3_FRAME_UNEXPECTED, "H3_FRAME_UNEXPECTED"},
               {HO_H3_FRAME_ERROR, "H3_FRAME_ERROR"},
               {HO_H3_EXCESSIVE_LOAD, "H3_EXCESSIVE_LOAD"},
               {HO_H3_ID_ERROR, "H3_ID_ERROR"},
               {HO_H3_SETTINGS_ERROR, "H3_SETTINGS_ERROR"},
               {HO_H3_MISSING_SETTINGS, "H3_MISSING_SETTINGS"},
               {HO_H3_REQUEST_REJECTED, "H3_REQUEST_REJECTED"},
               {HO_H3_REQUEST_CANCELLED, "H3_REQUEST_CANCELLED"},
               {HO_H3_REQUEST_INCOMPLETE, "H3_REQUEST_INCOMPLETE"},
               {HO_H3_MESSAGE_ERROR, "H3_MESSAGE_ERROR"},
               {HO_H3_CONNECT_ERROR, "H3_CONNECT_ERROR"},
               {HO_H3_VERSION_FALLBACK, "H3_VERSION_FALLBACK"},
               {HO_QPACK_DECOMPRESSION_FAILED, "QPACK_DECOMPRESSION_FAILED"},
               {HO_QPACK_ENCODER_STREAM_ERROR, "QPACK_ENCODER_STREAM_ERROR"},
               {HO_QPACK_DECODER_STREAM_ERROR, "QPACK_DECODER_STREAM_ERROR"}};
    for (size_t i = 0; i < sizeof(rfc) / sizeof(rfc[0]); i++) {
        CHECK(strcmp(ho_err_str(HO_ERR_H3(rfc[i].code)), rfc[i].name) == 0);
        CHECK(strcmp(ho_h3_error_name((uint64_t)rfc[i].code), rfc[i].name) == 0);
        CHECK(ho_err_is_h3(HO_ERR_H3(rfc[i].code)) && !ho_err_is_quic(HO_ERR_H3(rfc[i].code)));
    }
    CHECK(strncmp(ho_err_str(HO_ERR_H3(0x111)), "HTTP/3 error 0x111", 18) == 0);
}

static void test_outside(void)
{
    CHECK(strcmp(ho_err_str(-200), "unknown error (-200)") == 0);
    CHECK(strcmp(ho_err_str(12345), "unknown error (12345)") == 0);
    CHECK(strcmp(ho_err_str(-50), "unknown error (-50)") == 0); /* a gap in the local range */
}

int main(void)
{
    RUN(test_local);
    RUN(test_alerts);
    RUN(test_quic);
    RUN(test_h3);
    RUN(test_outside);
    return ho_test_summary("test_error");
}
