/* HTTP/1.1 response heads (RFC 9112 §4, RFC 9110 §6.6 and §8). On the hot
 * path of every request: the head is sized first, reserved once and copied
 * in; the Date value is formatted once per second per thread. */
#include "handoff/http.h"

#include <string.h>
#include <time.h>

void ho_http_response_reset(ho_http_response *resp, ho_buf *scratch)
{
    resp->status = 200;
    resp->content_type = NULL;
    resp->content_encoding = NULL;
    resp->vary_accept_encoding = false;
    resp->body = scratch;
    if (scratch != NULL)
        scratch->len = 0;
    resp->static_body = NULL;
    resp->static_len = 0;
    resp->allow = NULL;
}

const uint8_t *ho_http_response_body(const ho_http_response *resp, size_t *len)
{
    if (resp->static_body != NULL) {
        *len = resp->static_len;
        return resp->static_body;
    }
    if (resp->body != NULL && !resp->body->failed) {
        *len = resp->body->len;
        return resp->body->data;
    }
    *len = 0;
    return NULL;
}

/* ---- Date ------------------------------------------------------------- */

enum { IMF_FIXDATE_LEN = 29 }; /* "Sun, 06 Nov 1994 08:49:37 GMT" */

static __thread time_t date_second = (time_t)-1;
static __thread char date_text[IMF_FIXDATE_LEN];

static void put_2digits(char *p, int v)
{
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
}

/* RFC 9110 §6.6.1: an origin server with a clock MUST send Date in 2xx,
 * 3xx and 4xx responses (we send it in all). §5.6.7: the IMF-fixdate form,
 * day-name "," SP date1 SP time-of-day SP "GMT", always in UTC. */
static const char *date_now(void)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    time_t now = time(NULL);
    if (now == date_second)
        return date_text;
    struct tm tm;
    if (gmtime_r(&now, &tm) == NULL || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
        memset(&tm, 0, sizeof(tm)); /* unreachable in practice; keeps the format */
    char *p = date_text;
    memcpy(p, days + 3 * (tm.tm_wday % 7), 3);
    p[3] = ',';
    p[4] = ' ';
    put_2digits(p + 5, tm.tm_mday);
    p[7] = ' ';
    memcpy(p + 8, months + 3 * (tm.tm_mon % 12), 3);
    p[11] = ' ';
    int year = tm.tm_year + 1900;
    put_2digits(p + 12, year / 100);
    put_2digits(p + 14, year % 100);
    p[16] = ' ';
    put_2digits(p + 17, tm.tm_hour);
    p[19] = ':';
    put_2digits(p + 20, tm.tm_min);
    p[22] = ':';
    put_2digits(p + 23, tm.tm_sec % 61);
    memcpy(p + 25, " GMT", 4);
    date_second = now;
    return date_text;
}

/* ---- the head ----------------------------------------------------------- */

/* Decimal digits of v into the end of tmp[20]; returns the first digit. */
static char *format_u64(char tmp[20], uint64_t v)
{
    char *p = tmp + 20;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return p;
}

typedef struct head_writer {
    uint8_t *p;
} head_writer;

static void put(head_writer *w, const char *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}

#define PUT_LIT(w, lit) put((w), (lit), sizeof(lit) - 1)

void ho_http1_write_head(ho_buf *out, const ho_http_response *resp, size_t body_len, int version,
                         bool keep_alive)
{
    int status = resp->status;
    if (status < 100 || status > 999)
        status = 500;
    const char *reason = ho_http_reason(status);
    size_t reason_len = strlen(reason);
    size_t type_len = resp->content_type != NULL ? strlen(resp->content_type) : 0;
    size_t enc_len = resp->content_encoding != NULL ? strlen(resp->content_encoding) : 0;
    size_t allow_len = resp->allow != NULL ? strlen(resp->allow) : 0;
    /* RFC 9110 §8.6: a server MUST NOT send Content-Length in a 1xx or 204
     * response. */
    bool has_length = status >= 200 && status != 204;
    /* RFC 9112 §9.3: HTTP/1.0 persistence must be announced; HTTP/1.1
     * closing must be (§9.6). */
    const char *conn = !keep_alive ? "Connection: close\r\n" : version < 11 ? "Connection: keep-alive\r\n" : NULL;

    size_t need = sizeof("HTTP/1.1 000 \r\nServer: handoff\r\nDate: \r\n") - 1 + reason_len + IMF_FIXDATE_LEN +
                  sizeof("Content-Type: \r\n") - 1 + type_len + sizeof("Content-Encoding: \r\n") - 1 + enc_len +
                  sizeof("Vary: Accept-Encoding\r\n") - 1 + sizeof("Allow: \r\n") - 1 + allow_len +
                  sizeof("Content-Length: \r\n") - 1 + 20 + sizeof("Connection: keep-alive\r\n") - 1 + 2;
    if (ho_buf_reserve(out, need) != HO_OK)
        return;
    head_writer w = {out->data + out->len};
    char tmp[20];

    /* status-line = HTTP-version SP status-code SP [ reason-phrase ] (§4).
     * We answer with our own version, HTTP/1.1 (RFC 9110 §6.2). */
    PUT_LIT(&w, "HTTP/1.1 ");
    put(&w, format_u64(tmp, (uint64_t)status), 3);
    *w.p++ = ' ';
    put(&w, reason, reason_len);
    PUT_LIT(&w, "\r\nServer: handoff\r\nDate: ");
    put(&w, date_now(), IMF_FIXDATE_LEN);
    PUT_LIT(&w, "\r\n");
    if (resp->content_type != NULL) {
        PUT_LIT(&w, "Content-Type: ");
        put(&w, resp->content_type, type_len);
        PUT_LIT(&w, "\r\n");
    }
    if (resp->content_encoding != NULL) {
        PUT_LIT(&w, "Content-Encoding: ");
        put(&w, resp->content_encoding, enc_len);
        PUT_LIT(&w, "\r\n");
    }
    if (resp->vary_accept_encoding)
        PUT_LIT(&w, "Vary: Accept-Encoding\r\n");
    if (resp->allow != NULL) {
        PUT_LIT(&w, "Allow: ");
        put(&w, resp->allow, allow_len);
        PUT_LIT(&w, "\r\n");
    }
    if (has_length) {
        PUT_LIT(&w, "Content-Length: ");
        char *digits = format_u64(tmp, body_len);
        put(&w, digits, (size_t)(tmp + 20 - digits));
        PUT_LIT(&w, "\r\n");
    }
    if (conn != NULL)
        put(&w, conn, strlen(conn));
    PUT_LIT(&w, "\r\n");
    out->len = (size_t)(w.p - out->data);
}

void ho_http1_write_error(ho_buf *out, int status, int version, bool keep_alive)
{
    if (status < 100 || status > 999)
        status = 500;
    /* Body: "<status> <reason>\n". */
    char body[64];
    const char *reason = ho_http_reason(status);
    size_t reason_len = strlen(reason);
    if (reason_len > sizeof(body) - 5)
        reason_len = sizeof(body) - 5;
    char tmp[20];
    memcpy(body, format_u64(tmp, (uint64_t)status), 3);
    body[3] = ' ';
    memcpy(body + 4, reason, reason_len);
    body[4 + reason_len] = '\n';
    size_t body_len = reason_len + 5;

    ho_http_response resp;
    ho_http_response_reset(&resp, NULL);
    resp.status = status;
    resp.content_type = "text/plain";
    ho_http1_write_head(out, &resp, body_len, version, keep_alive);
    ho_put_bytes(out, body, body_len);
}

void ho_http_too_early(ho_http_response *resp)
{
    static const char body[] = "Too Early: retry after the TLS handshake (RFC 8470)\n";
    resp->status = 425;
    resp->content_type = "text/plain; charset=utf-8";
    resp->content_encoding = NULL;
    if (resp->body != NULL)
        resp->body->len = 0;
    resp->static_body = (const uint8_t *)body;
    resp->static_len = sizeof(body) - 1;
}
