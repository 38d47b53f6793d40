/* HTTP/1.1 request parser (RFC 9112), strict and sans-I/O.
 *
 * One pass over the bytes, left to right, no allocation, never past `len`.
 * Every check happens at the byte where it becomes decidable, so a prefix of
 * an input gives either HO_HTTP_INCOMPLETE or the same answer as the whole
 * input (the fuzz target checks this). The size limits are positions: the
 * request line may not reach byte line_start + max_request_line, the head
 * may not reach byte max_header_bytes (counted from the start of the buffer,
 * leading empty lines included, so a flood of CRLFs is bounded too).
 *
 * Deliberately narrower than RFC 9112 allows (each is a reject, never a
 * misparse): the request-target is origin-form, or absolute-form with an
 * http/https scheme (§3.2.2, its authority replacing Host); "*" only for
 * OPTIONS; authority-form (CONNECT) is refused with 400. A bare LF line ending,
 * which §2.2 lets a recipient accept, is refused with 400. A version other
 * than 1.0 and 1.1 is refused with 505 (RFC 9110 §2.5 would let us treat
 * HTTP/1.2 as 1.1; the contract in http.h says 505). */
#include "handoff/http.h"

#include <string.h>
#include <strings.h>

/* Byte classes. TCHAR: RFC 9110 §5.6.2 token. FVCHAR: allowed inside a field
 * value (VCHAR, obs-text, SP, HTAB; RFC 9110 §5.5). TARGET: allowed in an
 * origin-form request-target (RFC 3986 pchar, '/', '?', '%' of a
 * pct-encoding). HOST: allowed in a Host value (reg-name, IP-literal, port). */
enum { TCHAR = 1, FVCHAR = 2, TARGET = 4, HOST = 8 };
enum { T_F_G_H = TCHAR | FVCHAR | TARGET | HOST, F_G_H = FVCHAR | TARGET | HOST };

static const uint8_t byte_class[256] = {
    ['\t'] = FVCHAR,
    [' '] = FVCHAR,
    ['!'] = T_F_G_H,
    ['"'] = FVCHAR,
    ['#'] = TCHAR | FVCHAR,
    ['$'] = T_F_G_H,
    ['%'] = T_F_G_H,
    ['&'] = T_F_G_H,
    ['\''] = T_F_G_H,
    ['('] = F_G_H,
    [')'] = F_G_H,
    ['*'] = T_F_G_H,
    ['+'] = T_F_G_H,
    [','] = F_G_H,
    ['-'] = T_F_G_H,
    ['.'] = T_F_G_H,
    ['/'] = FVCHAR | TARGET,
    ['0' ... '9'] = T_F_G_H,
    [':'] = F_G_H,
    [';'] = F_G_H,
    ['<'] = FVCHAR,
    ['='] = F_G_H,
    ['>'] = FVCHAR,
    ['?'] = FVCHAR | TARGET,
    ['@'] = FVCHAR | TARGET,
    ['A' ... 'Z'] = T_F_G_H,
    ['['] = FVCHAR | HOST,
    ['\\'] = FVCHAR,
    [']'] = FVCHAR | HOST,
    ['^'] = TCHAR | FVCHAR,
    ['_'] = T_F_G_H,
    ['`'] = TCHAR | FVCHAR,
    ['a' ... 'z'] = T_F_G_H,
    ['{'] = FVCHAR,
    ['|'] = TCHAR | FVCHAR,
    ['}'] = FVCHAR,
    ['~'] = T_F_G_H,
    [0x80 ... 0xff] = FVCHAR,
};

static bool is_hex(uint8_t c) { return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c; }

/* Case-insensitive comparison of a span with a lower-case literal. */
static bool span_ieq(const char *p, size_t n, const char *lit, size_t lit_len)
{
    if (n != lit_len)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)p[i]) != (uint8_t)lit[i])
            return false;
    return true;
}

void ho_http_limits_default(ho_http_limits *lim)
{
    lim->max_request_line = 8192;
    lim->max_header_bytes = 16384;
    lim->max_headers = 64;
    lim->max_body = 1024 * 1024;
}

/* ---- the scanner ------------------------------------------------------ */

typedef struct scan {
    const uint8_t *buf;
    size_t len;
    size_t limit;     /* first index the current element may not reach */
    int limit_status; /* 414 or 431 */
    size_t stop;      /* min(len, limit): bytes below it may be read */
    ho_http_str authority; /* from an absolute-form target (len 0 if none) */
} scan;

static void scan_set_limit(scan *s, size_t limit, int status)
{
    s->limit = limit;
    s->limit_status = status;
    s->stop = s->len < limit ? s->len : limit;
}

/* Why byte i (i >= stop) cannot be read: a limit, or not here yet. */
static int scan_stopped(const scan *s, size_t i)
{
    return i >= s->limit ? s->limit_status : HO_HTTP_INCOMPLETE;
}

/* Expects CRLF at i. Returns 0 and advances, or the status to return. */
static int scan_crlf(const scan *s, size_t *i)
{
    if (*i >= s->stop)
        return scan_stopped(s, *i);
    /* RFC 9112 §2.2: a bare CR is invalid; a bare LF we refuse too. */
    if (s->buf[*i] != '\r')
        return 400;
    if (*i + 1 >= s->stop)
        return scan_stopped(s, *i + 1);
    if (s->buf[*i + 1] != '\n')
        return 400;
    *i += 2;
    return 0;
}

static const char *const known_methods[] = {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"};

static bool method_known(ho_http_str m)
{
    for (size_t k = 0; k < sizeof(known_methods) / sizeof(known_methods[0]); k++)
        if (ho_http_str_eq(m, known_methods[k]))
            return true;
    return false;
}

/* request-line = method SP request-target SP HTTP-version CRLF (§3).
 * Returns 0 with *i after the CRLF, or the status to return. */
static int parse_request_line(scan *s, size_t *pos, ho_http_request *req)
{
    const uint8_t *b = s->buf;
    size_t i = *pos, start = i;

    /* method = token (§3.1), then exactly one SP. */
    while (i < s->stop && (byte_class[b[i]] & TCHAR))
        i++;
    if (i >= s->stop)
        return scan_stopped(s, i);
    if (b[i] != ' ' || i == start)
        return 400;
    req->method = (ho_http_str){(const char *)b + start, i - start};
    i++;

    /* request-target (§3.2), origin-form: absolute-path [ "?" query ]. */
    size_t target = i, question = SIZE_MAX;
    for (;;) {
        while (i < s->stop && (byte_class[b[i]] & TARGET) && b[i] != '%' && b[i] != '?')
            i++;
        if (i >= s->stop)
            return scan_stopped(s, i);
        if (b[i] == '?') {
            if (question == SIZE_MAX)
                question = i;
            i++;
        } else if (b[i] == '%') {
            /* RFC 3986 §2.1: pct-encoded = "%" HEXDIG HEXDIG. */
            for (size_t k = 1; k <= 2; k++) {
                if (i + k >= s->stop)
                    return scan_stopped(s, i + k);
                if (!is_hex(b[i + k]))
                    return 400;
            }
            i += 3;
        } else {
            break;
        }
    }
    /* Exactly one SP (§3): a second one, a CTL or a CRLF here (HTTP/0.9)
     * is malformed. */
    if (b[i] != ' ' || i == target)
        return 400;
    size_t target_len = i - target;
    size_t path = target; /* where the absolute-path starts */
    ho_http_str authority = {NULL, 0};
    if (b[target] != '/' && !(b[target] == '*' && target_len == 1)) {
        /* RFC 9112 §3.2.2: a server MUST accept the absolute-form
         * (http or https URI): the path follows the authority. */
        size_t scheme = target_len >= 7 && strncasecmp((const char *)b + target, "http://", 7) == 0    ? 7
                        : target_len >= 8 && strncasecmp((const char *)b + target, "https://", 8) == 0 ? 8
                                                                                                        : 0;
        if (scheme == 0)
            return 400;
        size_t end = question == SIZE_MAX ? i : question;
        size_t a = target + scheme;
        path = a;
        while (path < end && b[path] != '/')
            path++;
        if (path == a)
            return 400; /* RFC 3986 §3.2: an http(s) URI has a host */
        for (size_t k = a; k < path; k++)
            if (!(byte_class[b[k]] & HOST))
                return 400;
        authority = (ho_http_str){(const char *)b + a, path - a};
    }
    req->target = (ho_http_str){(const char *)b + target, target_len};
    size_t path_end = question == SIZE_MAX ? i : question;
    /* "http://host" and "http://host?q" have an empty path: it means "/". */
    req->path = path == path_end ? (ho_http_str){"/", 1} : (ho_http_str){(const char *)b + path, path_end - path};
    if (question == SIZE_MAX)
        req->query = (ho_http_str){NULL, 0};
    else
        req->query = (ho_http_str){(const char *)b + question + 1, i - question - 1};
    s->authority = authority;
    i++;

    /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (§2.3). */
    static const char pattern[] = "HTTP/0.0";
    for (size_t k = 0; k < 8; k++) {
        if (i + k >= s->stop)
            return scan_stopped(s, i + k);
        uint8_t c = b[i + k];
        bool ok = pattern[k] == '0' ? (c >= '0' && c <= '9') : c == (uint8_t)pattern[k];
        if (!ok)
            return 400;
    }
    int major = b[i + 5] - '0', minor = b[i + 7] - '0';
    i += 8;
    int rc = scan_crlf(s, &i);
    if (rc != 0)
        return rc;
    if (major != 1 || minor > 1)
        return 505;
    req->version = major * 10 + minor;
    if (!method_known(req->method))
        return 501;
    /* RFC 9112 §3.2.4: the asterisk-form is only used with OPTIONS. */
    if (req->target.p[0] == '*' && !ho_http_str_eq(req->method, "OPTIONS"))
        return 400;
    *pos = i;
    return 0;
}

/* What the head's fields told us, checked once the head is complete. */
typedef struct head_state {
    unsigned host_count;
    bool has_length, has_transfer_encoding, conn_close, conn_keep_alive;
    unsigned te_chunked;   /* "chunked" elements in Transfer-Encoding */
    unsigned te_other;     /* other (or empty) transfer codings */
    bool te_last_chunked;  /* the final coding so far is "chunked" */
} head_state;

/* Content-Length = 1*DIGIT (RFC 9110 §8.6). */
static bool parse_content_length(ho_http_str v, uint64_t *out)
{
    if (v.len == 0)
        return false;
    uint64_t n = 0;
    for (size_t k = 0; k < v.len; k++) {
        uint8_t c = (uint8_t)v.p[k];
        if (c < '0' || c > '9')
            return false;
        if (n > (UINT64_MAX - (c - '0')) / 10)
            return false;
        n = n * 10 + (c - '0');
    }
    *out = n;
    return true;
}

/* Connection = #connection-option (RFC 9110 §7.6.1): a comma list of
 * tokens, OWS around commas, empty elements allowed (§5.6.1). */
static void parse_connection(ho_http_str v, head_state *st)
{
    size_t k = 0;
    while (k < v.len) {
        while (k < v.len && (v.p[k] == ' ' || v.p[k] == '\t' || v.p[k] == ','))
            k++;
        size_t start = k;
        while (k < v.len && v.p[k] != ',' && v.p[k] != ' ' && v.p[k] != '\t')
            k++;
        if (span_ieq(v.p + start, k - start, "close", 5))
            st->conn_close = true;
        else if (span_ieq(v.p + start, k - start, "keep-alive", 10))
            st->conn_keep_alive = true;
        while (k < v.len && v.p[k] != ',')
            k++;
    }
}

/* Transfer-Encoding = #transfer-coding (RFC 9112 §6.1): the codings of
 * every line in order, as one list; a coding's parameters (after ';') are
 * part of it, so "chunked;x=1" is not "chunked". */
static void parse_transfer_encoding(ho_http_str v, head_state *st)
{
    size_t k = 0;
    bool any = false;
    while (k < v.len) {
        while (k < v.len && (v.p[k] == ' ' || v.p[k] == '\t' || v.p[k] == ','))
            k++;
        if (k >= v.len)
            break;
        size_t start = k;
        while (k < v.len && v.p[k] != ',')
            k++;
        size_t end = k;
        while (end > start && (v.p[end - 1] == ' ' || v.p[end - 1] == '\t'))
            end--;
        any = true;
        st->te_last_chunked = span_ieq(v.p + start, end - start, "chunked", 7);
        if (st->te_last_chunked)
            st->te_chunked++;
        else
            st->te_other++;
    }
    if (!any) { /* an empty list: no coding we could name */
        st->te_other++;
        st->te_last_chunked = false;
    }
}

/* Host = uri-host [ ":" port ] (RFC 9110 §7.2); empty is allowed. */
static bool host_valid(ho_http_str v)
{
    for (size_t k = 0; k < v.len; k++)
        if (!(byte_class[(uint8_t)v.p[k]] & HOST))
            return false;
    return true;
}

/* Acts on the header fields the parser itself needs. */
static int note_header(const ho_http_header *h, ho_http_request *req, head_state *st)
{
    const char *n = h->name.p;
    switch (h->name.len) {
    case 4:
        if (span_ieq(n, 4, "host", 4)) {
            /* RFC 9112 §3.2: 400 for more than one Host or an invalid one. */
            if (++st->host_count > 1 || !host_valid(h->value))
                return 400;
            req->host = h->value;
        }
        break;
    case 10:
        if (span_ieq(n, 10, "connection", 10))
            parse_connection(h->value, st);
        break;
    case 14:
        if (span_ieq(n, 14, "content-length", 14)) {
            uint64_t v;
            /* RFC 9112 §6.3 (5): an invalid Content-Length is an unrecoverable
             * framing error: 400 and close. Repeats must agree (RFC 9110 §8.6);
             * the list form "5, 5" is refused as invalid. */
            if (!parse_content_length(h->value, &v) || (st->has_length && v != req->content_length))
                return 400;
            st->has_length = true;
            req->content_length = v;
        }
        break;
    case 17:
        if (span_ieq(n, 17, "transfer-encoding", 17)) {
            st->has_transfer_encoding = true;
            parse_transfer_encoding(h->value, st);
        }
        break;
    default:
        break;
    }
    return 0;
}

/* One field line: field-name ":" OWS field-value OWS CRLF (§5). */
static int parse_field_line(scan *s, size_t *pos, ho_http_header *h)
{
    const uint8_t *b = s->buf;
    size_t i = *pos, name = i;
    while (i < s->stop && (byte_class[b[i]] & TCHAR))
        i++;
    if (i >= s->stop)
        return scan_stopped(s, i);
    /* RFC 9112 §5.1: no whitespace is allowed between the field name and
     * the colon; a server MUST reject such a message with 400. */
    if (b[i] != ':' || i == name)
        return 400;
    h->name = (ho_http_str){(const char *)b + name, i - name};
    i++;
    while (i < s->stop && (b[i] == ' ' || b[i] == '\t'))
        i++;
    size_t value = i;
    while (i < s->stop && (byte_class[b[i]] & FVCHAR))
        i++;
    size_t end = i;
    /* RFC 9110 §5.5: CR, LF and NUL in a value are invalid (MUST reject or
     * replace); we reject every CTL but HTAB. A bare CR or LF ends up here. */
    int rc = scan_crlf(s, &i);
    if (rc != 0)
        return rc;
    while (end > value && (b[end - 1] == ' ' || b[end - 1] == '\t'))
        end--;
    h->value = (ho_http_str){(const char *)b + value, end - value};
    *pos = i;
    return 0;
}

/* ---- chunked request bodies (RFC 9112 §7.1) ----------------------------- */

/* Limits of the chunked framing beside max_body: one chunk line (size and
 * extensions) at most CHUNK_LINE_MAX bytes → 400; all chunk lines and their
 * CRLFs together at most max_header_bytes → 413 (the framing is part of
 * the content we accept: RFC 9112 §7.1.1 asks a server to bound extensions
 * "in the same way that it applies length limitations ... for other parts
 * of a message"); the trailer section as the head: max_header_bytes and
 * max_headers → 431. So a chunked request never holds more than
 * head + max_body + 2 × max_header_bytes bytes of the buffer. */
enum { CHUNK_LINE_MAX = 1024 };

static int hex_value(uint8_t c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

/* Reads byte i into *c, or says why it cannot (a limit, or not here yet). */
static int scan_byte(const scan *s, size_t i, uint8_t *c)
{
    if (i >= s->stop)
        return scan_stopped(s, i);
    *c = s->buf[i];
    return 0;
}

#define SCAN_BYTE(s, i, c)                 \
    do {                                   \
        int rc_ = scan_byte((s), (i), &(c)); \
        if (rc_ != 0)                      \
            return rc_;                    \
    } while (0)

/* Skips BWS (SP / HTAB) from *i. */
static int scan_ows(const scan *s, size_t *i)
{
    uint8_t c;
    for (;;) {
        SCAN_BYTE(s, *i, c);
        if (c != ' ' && c != '\t')
            return 0;
        (*i)++;
    }
}

/* chunk-ext-val = token / quoted-string (RFC 9112 §7.1.1, RFC 9110 §5.6.4). */
static int scan_ext_value(const scan *s, size_t *pos)
{
    size_t i = *pos;
    uint8_t c;
    SCAN_BYTE(s, i, c);
    if (c == '"') {
        for (i++;; i++) {
            SCAN_BYTE(s, i, c);
            if (c == '"')
                break;
            if (c == '\\') { /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
                i++;
                SCAN_BYTE(s, i, c);
            }
            if (!(byte_class[c] & FVCHAR))
                return 400;
        }
        *pos = i + 1;
        return 0;
    }
    if (!(byte_class[c] & TCHAR))
        return 400;
    while (byte_class[c] & TCHAR) {
        i++;
        SCAN_BYTE(s, i, c);
    }
    *pos = i;
    return 0;
}

/* chunk-size [ chunk-ext ] CRLF. *size gets the chunk's size; a size that
 * would take the body past `room` bytes is refused (413) at the digit that
 * shows it, before any overflow (RFC 9112 §7.1: recipients MUST anticipate
 * large hexadecimal numerals and prevent integer conversion overflows). */
static int scan_chunk_line(const scan *s, size_t *pos, uint64_t room, uint64_t *size)
{
    size_t i = *pos;
    uint8_t c;
    uint64_t n = 0;
    SCAN_BYTE(s, i, c);
    if (!is_hex(c))
        return 400; /* chunk-size = 1*HEXDIG */
    while (is_hex(c)) {
        uint64_t d = (uint64_t)hex_value(c);
        if (n > room / 16 || d > room - n * 16)
            return 413;
        n = n * 16 + d;
        i++;
        SCAN_BYTE(s, i, c);
    }
    /* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ):
     * parsed and ignored (§7.1.1: a recipient MUST ignore unrecognized
     * chunk extensions). */
    for (;;) {
        size_t before = i;
        int rc = scan_ows(s, &i);
        if (rc != 0)
            return rc;
        SCAN_BYTE(s, i, c);
        if (c != ';') {
            if (i != before)
                return 400; /* whitespace, then no extension */
            break;
        }
        i++;
        if ((rc = scan_ows(s, &i)) != 0)
            return rc;
        SCAN_BYTE(s, i, c);
        if (!(byte_class[c] & TCHAR))
            return 400;
        while (byte_class[c] & TCHAR) {
            i++;
            SCAN_BYTE(s, i, c);
        }
        size_t after_name = i;
        if ((rc = scan_ows(s, &i)) != 0)
            return rc;
        SCAN_BYTE(s, i, c);
        if (c != '=') {
            i = after_name; /* no value: the BWS belongs to the next round */
            continue;
        }
        i++;
        if ((rc = scan_ows(s, &i)) != 0 || (rc = scan_ext_value(s, &i)) != 0)
            return rc;
    }
    /* §2.2: a bare CR is invalid and a bare LF we refuse (as in the head). */
    int rc = scan_crlf(s, &i);
    if (rc != 0)
        return rc;
    *pos = i;
    *size = n;
    return 0;
}

/* The chunked body from buf[*pos] to the end of its trailer section.
 * Returns 0 with *pos after it and *size the decoded length; else a status,
 * or HO_HTTP_INCOMPLETE with *need the buffer size that lets the parse go
 * further (0 when unknown: the end of a line is awaited). */
static int scan_chunked(const uint8_t *buf, size_t len, const ho_http_limits *lim, size_t max_headers,
                        size_t *pos, uint64_t *size, size_t *need)
{
    scan s = {.buf = buf, .len = len};
    size_t i = *pos;
    uint64_t total = 0;
    size_t framing = 0; /* chunk lines and CRLFs so far */
    size_t budget = lim->max_header_bytes;
    *need = 0;
    for (;;) {
        size_t line_room = budget - framing < CHUNK_LINE_MAX ? budget - framing : CHUNK_LINE_MAX;
        scan_set_limit(&s, i > SIZE_MAX - line_room ? SIZE_MAX : i + line_room,
                       line_room < CHUNK_LINE_MAX ? 413 : 400);
        size_t start = i;
        uint64_t n;
        int rc = scan_chunk_line(&s, &i, lim->max_body - total, &n);
        if (rc != 0)
            return rc;
        framing += i - start;
        if (n == 0)
            break; /* last-chunk */
        total += n;
        /* chunk-data CRLF: decidable once all of it is here. */
        if (n > len - i || len - i - (size_t)n < 2) {
            *need = n > SIZE_MAX - i - 2 ? 0 : i + (size_t)n + 2;
            return HO_HTTP_INCOMPLETE;
        }
        i += (size_t)n;
        if (buf[i] != '\r' || buf[i + 1] != '\n')
            return 400; /* the data must end exactly where its size says */
        i += 2;
        framing += 2;
        if (framing >= budget)
            return 413;
    }
    /* trailer-section = *( field-line CRLF ), then CRLF (§7.1.2): parsed
     * with the head's rules and limits, and dropped (none of our handlers
     * asks for a trailer, and a recipient may discard them). */
    size_t trailer_start = i;
    scan_set_limit(&s, i > SIZE_MAX - lim->max_header_bytes ? SIZE_MAX : i + lim->max_header_bytes, 431);
    size_t fields = 0;
    for (;;) {
        uint8_t c;
        SCAN_BYTE(&s, i, c);
        if (c == '\r')
            break;
        if (c == ' ' || c == '\t' || c == '\n')
            return 400;
        if (fields++ == max_headers)
            return 431;
        ho_http_header h;
        int rc = parse_field_line(&s, &i, &h);
        if (rc != 0)
            return rc;
    }
    int rc = scan_crlf(&s, &i);
    if (rc != 0)
        return rc;
    (void)trailer_start;
    *pos = i;
    *size = total;
    return 0;
}

void ho_http1_decode_body(uint8_t *buf, ho_http_request *req)
{
    if (!req->chunked || buf == NULL)
        return;
    size_t r = req->body_offset, w = req->body_offset;
    for (;;) {
        uint64_t n = 0;
        while (is_hex(buf[r]))
            n = n * 16 + (uint64_t)hex_value(buf[r++]);
        while (buf[r] != '\n') /* extensions: validated by the parse */
            r++;
        r++;
        if (n == 0)
            break;
        memmove(buf + w, buf + r, (size_t)n);
        w += (size_t)n;
        r += (size_t)n + 2;
    }
    req->body = req->content_length > 0 ? buf + req->body_offset : NULL;
}

int ho_http1_parse(const uint8_t *buf, size_t len, const ho_http_limits *lim, ho_http_request *req,
                   size_t *consumed)
{
    ho_http_limits defaults;
    if (lim == NULL) {
        ho_http_limits_default(&defaults);
        lim = &defaults;
    }
    size_t max_headers = lim->max_headers < HO_HTTP_MAX_HEADERS ? lim->max_headers : HO_HTTP_MAX_HEADERS;
    *consumed = 0;
    req->method = req->target = req->path = req->query = req->host = (ho_http_str){NULL, 0};
    req->version = 0;
    req->header_count = 0;
    req->content_length = 0;
    req->body = NULL;
    req->chunked = false;
    req->body_offset = 0;
    req->keep_alive = false;
    req->head = false;
    if (buf == NULL)
        return len == 0 ? HO_HTTP_INCOMPLETE : 400;

    scan s = {.buf = buf, .len = len};
    scan_set_limit(&s, lim->max_header_bytes, 431);
    size_t i = 0;

    /* RFC 9112 §2.2: ignore empty lines (CRLF) before the request-line. */
    while (i < s.stop && buf[i] == '\r') {
        int rc = scan_crlf(&s, &i);
        if (rc != 0)
            return rc;
    }
    if (i >= s.stop)
        return scan_stopped(&s, i);

    /* The request line has its own, usually smaller, limit. RFC 9112 §3: a
     * request-target longer than we wish to parse MUST get 414; RFC 9110
     * §5.4: a head larger than we wish to process MUST get a 4xx (431). */
    size_t head_limit = lim->max_header_bytes;
    size_t line_limit = lim->max_request_line > SIZE_MAX - i ? SIZE_MAX : i + lim->max_request_line;
    if (line_limit <= head_limit)
        scan_set_limit(&s, line_limit, 414);
    int rc = parse_request_line(&s, &i, req);
    if (rc != 0)
        return rc;
    scan_set_limit(&s, head_limit, 431);

    head_state st = {0};
    for (;;) {
        if (i >= s.stop)
            return scan_stopped(&s, i);
        uint8_t c = buf[i];
        if (c == '\r')
            break;
        /* RFC 9112 §5.2: obs-fold (a line starting with SP/HTAB) is rejected
         * with 400 outside message/http; §2.2: likewise whitespace between
         * the start-line and the first field. */
        if (c == ' ' || c == '\t' || c == '\n')
            return 400;
        if (req->header_count == max_headers)
            return 431;
        ho_http_header *h = &req->headers[req->header_count];
        rc = parse_field_line(&s, &i, h);
        if (rc != 0)
            return rc;
        req->header_count++;
        rc = note_header(h, req, &st);
        if (rc != 0)
            return rc;
    }
    rc = scan_crlf(&s, &i); /* the empty line that ends the head */
    if (rc != 0)
        return rc;

    /* RFC 9112 §6.1: a request with both Transfer-Encoding and Content-Length
     * may be a smuggling attempt; we reject it (400) rather than let the
     * transfer coding win, and the caller closes the connection (MUST). An
     * HTTP/1.0 message with Transfer-Encoding MUST be treated as having
     * faulty framing: 400 and close. When chunked is not the final coding
     * the server MUST respond 400 and close; chunked applied twice is
     * invalid (a sender MUST NOT): 400. Another coding before the final
     * chunked is one we do not implement: 501 (SHOULD). */
    if (st.has_transfer_encoding) {
        if (st.has_length || req->version == 10 || !st.te_last_chunked || st.te_chunked > 1)
            return 400;
        if (st.te_other > 0)
            return 501;
    }
    /* RFC 9112 §3.2: a server MUST respond 400 to an HTTP/1.1 request
     * without a Host header field. */
    if (req->version == 11 && st.host_count == 0)
        return 400;
    /* RFC 9112 §3.2.2: with an absolute-form target the server MUST ignore
     * the Host field and use the target's authority. */
    if (s.authority.len > 0)
        req->host = s.authority;
    size_t end;
    if (st.has_transfer_encoding) {
        /* RFC 9112 §7.1: a recipient MUST be able to parse and decode the
         * chunked transfer coding. The body stays in place until
         * ho_http1_decode_body; content_length is its decoded size. */
        size_t need;
        size_t j = i;
        uint64_t size;
        rc = scan_chunked(buf, len, lim, max_headers, &j, &size, &need);
        if (rc == HO_HTTP_INCOMPLETE)
            *consumed = need;
        if (rc != 0)
            return rc;
        req->chunked = true;
        req->body_offset = i;
        req->content_length = size;
        end = j;
    } else {
        if (req->content_length > lim->max_body)
            return 413;
        if (req->content_length > len - i) {
            *consumed = i + (size_t)req->content_length; /* what the request will need */
            return HO_HTTP_INCOMPLETE;
        }
        if (req->content_length > 0)
            req->body = buf + i;
        req->body_offset = i;
        end = i + (size_t)req->content_length;
    }

    /* RFC 9112 §9.3: persistence. */
    req->keep_alive = !st.conn_close && (req->version == 11 || st.conn_keep_alive);
    req->head = ho_http_str_eq(req->method, "HEAD");
    *consumed = end;
    return HO_HTTP_COMPLETE;
}

/* ---- helpers ---------------------------------------------------------- */

const ho_http_str *ho_http_header_get(const ho_http_request *req, const char *name)
{
    size_t n = strlen(name);
    for (size_t k = 0; k < req->header_count; k++) {
        const ho_http_str *hn = &req->headers[k].name;
        if (hn->len != n)
            continue;
        size_t j = 0;
        while (j < n && lower((uint8_t)hn->p[j]) == lower((uint8_t)name[j]))
            j++;
        if (j == n)
            return &req->headers[k].value;
    }
    return NULL;
}

bool ho_http_query_get(const ho_http_request *req, const char *name, ho_http_str *value)
{
    size_t n = strlen(name);
    if (req->query.p == NULL)
        return false;
    const char *p = req->query.p, *end = p + req->query.len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq != NULL ? eq : pair_end;
        if ((size_t)(key_end - p) == n && memcmp(p, name, n) == 0) {
            if (eq != NULL)
                *value = (ho_http_str){eq + 1, (size_t)(pair_end - eq - 1)};
            else
                *value = (ho_http_str){pair_end, 0};
            return true;
        }
        p = pair_end + (amp != NULL);
    }
    return false;
}

bool ho_http_str_to_i64(ho_http_str s, int64_t *v)
{
    bool neg = s.len > 0 && s.p[0] == '-';
    size_t k = neg ? 1 : 0;
    if (k == s.len)
        return false;
    /* Accumulate the magnitude; INT64_MIN's is one more than INT64_MAX's. */
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, n = 0;
    for (; k < s.len; k++) {
        uint8_t c = (uint8_t)s.p[k];
        if (c < '0' || c > '9')
            return false;
        if (n > (limit - (c - '0')) / 10)
            return false;
        n = n * 10 + (c - '0');
    }
    *v = !neg ? (int64_t)n : n == 0 ? 0 : -(int64_t)(n - 1) - 1;
    return true;
}

bool ho_http_str_eq(ho_http_str s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

const char *ho_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early"; /* RFC 8470 §5.2 */
    case 426: return "Upgrade Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "";
    }
}
