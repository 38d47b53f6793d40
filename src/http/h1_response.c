/* HTTP/1.1 response parser for a client (RFC 9112), incremental and
 * sans-I/O.
 *
 * The head (status line and fields) is copied into one buffer of max_head
 * bytes, allocated at the first byte and never moved, so the field strings
 * can point into it; each line is checked as soon as its LF arrives. The
 * body is never copied: the bytes of the caller's slice go to on_body. The
 * chunked framing and the trailer section are read byte by byte with a
 * small state (their lines are short), so any split of the input gives the
 * same result.
 *
 * Deliberately narrower than RFC 9112 allows (each is an error, never a
 * misparse): a bare LF line ending (§2.2 lets a recipient accept it); any
 * transfer coding other than a lone "chunked" (we decode no other, so the
 * content would be unusable); whitespace before a field's colon; a chunk
 * size line longer than CHUNK_LINE_MAX bytes. Accepted as robustness: a
 * status line without the SP after the code ("HTTP/1.1 200"); obs-fold,
 * which a user agent MUST replace by SP (§5.2). */
#include "base/mem.h"
#include "handoff/http.h"

#include <stdlib.h>
#include <string.h>

enum {
    DEFAULT_MAX_HEAD = 65536,
    CHUNK_LINE_MAX = 4096, /* a chunk size line with its extensions (§7.1.1) */
};

enum { S_HEAD, S_LENGTH, S_CLOSE, S_CHUNK_SIZE, S_CHUNK_DATA, S_CHUNK_END, S_TRAILER, S_DONE, S_ERROR };

/* Positions inside a chunk size line (sub). */
enum { CS_SIZE, CS_BWS, CS_EXT, CS_LF };
/* Positions inside the trailer section (sub). */
enum { TR_LINE, TR_NAME, TR_VALUE, TR_LF, TR_END_LF };

/* RFC 9110 §5.6.2: tchar. */
static bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 9110 §5.5: field-vchar, SP and HTAB (VCHAR, obs-text); no CTL. */
static bool is_fvchar(uint8_t c) { return c == '\t' || (c >= 0x20 && c != 0x7f); }

static bool is_ows(uint8_t c) { return c == ' ' || c == '\t'; }

static int hex_value(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c | 0x20) : c; }

static bool span_ieq(const char *p, size_t n, const char *lit)
{
    size_t k = 0;
    for (; k < n && lit[k] != '\0'; k++)
        if (lower((uint8_t)p[k]) != lower((uint8_t)lit[k]))
            return false;
    return k == n && lit[k] == '\0';
}

static int fail(ho_http1_resp *r, int err)
{
    r->error = err;
    r->state = S_ERROR;
    return err;
}

void ho_http1_resp_init(ho_http1_resp *r, bool head_request)
{
    memset(r, 0, sizeof(*r));
    r->head_request = head_request;
    r->max_head = DEFAULT_MAX_HEAD;
    r->state = S_HEAD;
}

void ho_http1_resp_free(ho_http1_resp *r)
{
    ho_mem_free(r->head);
    r->head = NULL;
    r->head_cap = r->head_len = 0;
    r->header_count = 0;
    r->reason = (ho_http_str){NULL, 0};
}

/* ---- the head ---------------------------------------------------------- */

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112
 * §4); HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (§2.3). */
static int parse_status_line(ho_http1_resp *r, const uint8_t *p, size_t n)
{
    if (n < 12 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' || p[5] < '0' || p[5] > '9' || p[7] < '0' ||
        p[7] > '9' || p[8] != ' ')
        return HO_HTTP1_RESP_ERR_STATUS_LINE;
    if (p[5] != '1')
        return HO_HTTP1_RESP_ERR_VERSION;
    /* status-code = 3DIGIT (RFC 9110 §15: a code outside 100..599 is
     * invalid and SHOULD be handled as a 5xx: we keep it as is). */
    int status = 0;
    for (size_t k = 9; k < 12; k++) {
        if (p[k] < '0' || p[k] > '9')
            return HO_HTTP1_RESP_ERR_STATUS_LINE;
        status = status * 10 + (p[k] - '0');
    }
    if (n > 12 && p[12] != ' ')
        return HO_HTTP1_RESP_ERR_STATUS_LINE;
    /* reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ); a client SHOULD
     * ignore its content (§4). */
    for (size_t k = 13; k < n; k++)
        if (!is_fvchar(p[k]))
            return HO_HTTP1_RESP_ERR_STATUS_LINE;
    r->status = status;
    r->minor_version = p[7] - '0';
    r->reason = n > 13 ? (ho_http_str){(const char *)p + 13, n - 13} : (ho_http_str){(const char *)p + n, 0};
    return 0;
}

/* A value's span [v, end) without its surrounding OWS. */
static ho_http_str trim_value(const uint8_t *v, const uint8_t *end)
{
    while (v < end && is_ows(*v))
        v++;
    while (end > v && is_ows(end[-1]))
        end--;
    return (ho_http_str){(const char *)v, (size_t)(end - v)};
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). */
static int parse_field_line(ho_http1_resp *r, const uint8_t *p, size_t n)
{
    size_t k = 0;
    while (k < n && is_tchar(p[k]))
        k++;
    /* §5.1: no whitespace between the field name and the colon. */
    if (k == 0 || k == n || p[k] != ':')
        return HO_HTTP1_RESP_ERR_FIELD;
    /* RFC 9110 §5.5: CR, LF and NUL in a value are invalid; we refuse
     * every CTL but HTAB. */
    for (size_t j = k + 1; j < n; j++)
        if (!is_fvchar(p[j]))
            return HO_HTTP1_RESP_ERR_FIELD;
    if (r->header_count == HO_HTTP_MAX_HEADERS)
        return HO_HTTP1_RESP_ERR_TOO_MANY_FIELDS;
    ho_http_header *h = &r->headers[r->header_count++];
    h->name = (ho_http_str){(const char *)p, k};
    h->value = trim_value(p + k + 1, p + n);
    return 0;
}

/* obs-fold = OWS CRLF RWS (§5.2): a user agent MUST replace it with SP.
 * The line p[0..n) continues the previous field, whose CRLF is just
 * before p in the buffer. */
static int unfold(ho_http1_resp *r, uint8_t *p, size_t n)
{
    /* §2.2: whitespace before the first field: we reject the message. */
    if (r->header_count == 0)
        return HO_HTTP1_RESP_ERR_FIELD;
    for (size_t j = 0; j < n; j++)
        if (!is_fvchar(p[j]))
            return HO_HTTP1_RESP_ERR_FIELD;
    p[-2] = p[-1] = ' ';
    ho_http_header *h = &r->headers[r->header_count - 1];
    const uint8_t *v = h->value.len > 0 ? (const uint8_t *)h->value.p : p - 2;
    h->value = trim_value(v, p + n);
    return 0;
}

/* RFC 9112 §6.3 (4), §6.1: the only coding we decode is chunked, alone.
 * Transfer-Encoding = #transfer-coding, over every such field (empty list
 * elements ignored, RFC 9110 §5.6.1). */
static bool te_is_chunked(const ho_http1_resp *r)
{
    unsigned codings = 0;
    bool chunked = false;
    for (size_t i = 0; i < r->header_count; i++) {
        const ho_http_header *h = &r->headers[i];
        if (!span_ieq(h->name.p, h->name.len, "transfer-encoding"))
            continue;
        const uint8_t *p = (const uint8_t *)h->value.p, *end = p + h->value.len;
        while (p < end) {
            const uint8_t *comma = memchr(p, ',', (size_t)(end - p));
            const uint8_t *e = comma != NULL ? comma : end;
            ho_http_str c = trim_value(p, e);
            if (c.len > 0) {
                codings++;
                chunked = span_ieq(c.p, c.len, "chunked");
            }
            p = comma != NULL ? comma + 1 : end;
        }
    }
    return codings == 1 && chunked;
}

/* Content-Length = 1*DIGIT (RFC 9110 §8.6), repeated in fields or as a
 * list ("42, 42"): every value must be the same. false when invalid. */
static bool content_length(const ho_http1_resp *r, uint64_t *out)
{
    bool seen = false;
    for (size_t i = 0; i < r->header_count; i++) {
        const ho_http_header *h = &r->headers[i];
        if (!span_ieq(h->name.p, h->name.len, "content-length"))
            continue;
        const uint8_t *p = (const uint8_t *)h->value.p, *end = p + h->value.len;
        bool any = false;
        while (p < end) {
            const uint8_t *comma = memchr(p, ',', (size_t)(end - p));
            ho_http_str e = trim_value(p, comma != NULL ? comma : end);
            p = comma != NULL ? comma + 1 : end;
            if (e.len == 0)
                continue;
            uint64_t v = 0;
            for (size_t k = 0; k < e.len; k++) {
                uint8_t c = (uint8_t)e.p[k];
                if (c < '0' || c > '9' || v > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
                    return false;
                v = v * 10 + (uint64_t)(c - '0');
            }
            if (seen && v != *out)
                return false;
            seen = any = true;
            *out = v;
        }
        if (!any)
            return false;
    }
    return seen;
}

static bool has_field(const ho_http1_resp *r, const char *name)
{
    return ho_http1_resp_header(r, name) != NULL;
}

/* The final head is in: how is the body delimited (RFC 9112 §6.3)? */
static int choose_framing(ho_http1_resp *r)
{
    /* (1) HEAD, 1xx (only 101 gets here), 204, 304: no body, whatever the
     * fields say. (2), 2xx to CONNECT, does not arise: we never send it. */
    if (r->head_request || r->status / 100 == 1 || r->status == 204 || r->status == 304) {
        r->framing = HO_HTTP1_BODY_NONE;
        r->state = S_DONE;
        return 0;
    }
    bool te = has_field(r, "transfer-encoding"), cl = has_field(r, "content-length");
    if (te) {
        /* (3) both: possible response splitting (RFC 9112 §11.1), "ought to
         * be handled as an error": we do. §6.1: an HTTP/1.0 message with
         * Transfer-Encoding MUST be treated as having faulty framing. */
        if (cl)
            return HO_HTTP1_RESP_ERR_TE_AND_CL;
        if (r->minor_version == 0 || !te_is_chunked(r))
            return HO_HTTP1_RESP_ERR_TRANSFER_CODING;
        /* (4) chunked is the final coding: decode until the last chunk. */
        r->framing = HO_HTTP1_BODY_CHUNKED;
        r->state = S_CHUNK_SIZE;
        r->sub = CS_SIZE;
        r->remaining = 0;
        r->line_len = 0;
        r->digits = false;
        return 0;
    }
    if (cl) {
        /* (5) an invalid Content-Length: unrecoverable, the user agent MUST
         * close the connection and discard the response. (6) else exactly
         * that many bytes. */
        if (!content_length(r, &r->content_length))
            return HO_HTTP1_RESP_ERR_CONTENT_LENGTH;
        r->framing = HO_HTTP1_BODY_LENGTH;
        r->remaining = r->content_length;
        r->state = r->remaining == 0 ? S_DONE : S_LENGTH;
        return 0;
    }
    /* (8) a response without a declared length: until the server closes. */
    r->framing = HO_HTTP1_BODY_CLOSE;
    r->state = S_CLOSE;
    return 0;
}

/* The empty line that ends a head arrived. */
static int end_head(ho_http1_resp *r)
{
    /* RFC 9110 §15.2: a client MUST be able to parse one or more 1xx
     * responses before the final one; we skip them (101 is final: the
     * connection would change protocol after it, RFC 9110 §15.2.2). */
    bool interim = r->status >= 100 && r->status <= 199 && r->status != 101;
    if (!interim) {
        int rc = choose_framing(r);
        if (rc != 0)
            return rc;
        r->head_done = true;
    }
    if (r->on_head != NULL && r->on_head(r->ctx, r, r->head, r->head_len) != 0)
        return HO_HTTP1_RESP_ERR_CALLBACK;
    if (interim) {
        r->interim_count++;
        r->head_len = r->line_start = 0;
        r->header_count = 0;
        r->status = 0;
        r->reason = (ho_http_str){NULL, 0};
    }
    return 0;
}

/* A line (ending in LF) is complete at head[line_start..head_len). */
static int end_line(ho_http1_resp *r)
{
    uint8_t *p = r->head + r->line_start;
    size_t n = r->head_len - r->line_start;
    /* RFC 9112 §2.2: lines end in CRLF; a bare CR is invalid (we refuse
     * it), and so is a bare LF here (a recipient MAY accept it). */
    if (n < 2 || p[n - 2] != '\r' || memchr(p, '\r', n - 2) != NULL)
        return HO_HTTP1_RESP_ERR_LINE_END;
    n -= 2;
    int rc;
    if (r->line_start == 0)
        rc = parse_status_line(r, p, n);
    else if (n == 0)
        rc = end_head(r);
    else if (is_ows(p[0]))
        rc = unfold(r, p, n);
    else
        rc = parse_field_line(r, p, n);
    if (r->state == S_HEAD)
        r->line_start = r->head_len;
    return rc;
}

/* Copies head bytes up to the end of the current line. */
static int feed_head(ho_http1_resp *r, const uint8_t *p, size_t n, size_t *used)
{
    if (r->head == NULL) {
        if (r->max_head < 2)
            r->max_head = 2;
        r->head = ho_mem_alloc(r->max_head);
        if (r->head == NULL)
            return HO_HTTP1_RESP_ERR_NOMEM;
        r->head_cap = r->max_head;
    }
    size_t cap = r->max_head < r->head_cap ? r->max_head : r->head_cap; /* (max_head changed) */
    size_t room = cap > r->head_len ? cap - r->head_len : 0;
    if (room == 0)
        return HO_HTTP1_RESP_ERR_HEAD_TOO_BIG;
    size_t take = n < room ? n : room;
    const uint8_t *lf = memchr(p, '\n', take);
    size_t k = lf != NULL ? (size_t)(lf - p) + 1 : take;
    memcpy(r->head + r->head_len, p, k);
    r->head_len += k;
    *used = k;
    if (lf != NULL)
        return end_line(r);
    /* RFC 9110 §5.4: a head larger than we wish to process. */
    return r->head_len == cap ? HO_HTTP1_RESP_ERR_HEAD_TOO_BIG : 0;
}

/* ---- the body ---------------------------------------------------------- */

static int deliver(ho_http1_resp *r, const uint8_t *p, size_t n)
{
    r->body_bytes += n;
    if (r->on_body != NULL && n > 0 && r->on_body(r->ctx, p, n) != 0)
        return HO_HTTP1_RESP_ERR_CALLBACK;
    return 0;
}

/* After chunk-size: BWS, then ";" and the extensions, or CR. */
static int chunk_after_size(ho_http1_resp *r, uint8_t c)
{
    if (is_ows(c))
        return 0;
    if (c == ';')
        r->sub = CS_EXT;
    else if (c == '\r')
        r->sub = CS_LF;
    else
        return HO_HTTP1_RESP_ERR_CHUNK;
    return 0;
}

/* chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; chunk-size =
 * 1*HEXDIG; chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS
 * chunk-ext-val ] ) (RFC 9112 §7.1). One byte of the size line. */
static int chunk_size_byte(ho_http1_resp *r, uint8_t c)
{
    if (++r->line_len > CHUNK_LINE_MAX)
        return HO_HTTP1_RESP_ERR_CHUNK;
    switch (r->sub) {
    case CS_SIZE: {
        int v = hex_value(c);
        if (v < 0) {
            if (!r->digits)
                return HO_HTTP1_RESP_ERR_CHUNK;
            r->sub = CS_BWS;
            return chunk_after_size(r, c);
        }
        /* §7.1: recipients MUST prevent integer overflow. */
        if (r->remaining > (UINT64_MAX >> 4))
            return HO_HTTP1_RESP_ERR_CHUNK;
        r->remaining = r->remaining << 4 | (uint64_t)v;
        r->digits = true;
        return 0;
    }
    case CS_BWS:
        return chunk_after_size(r, c);
    case CS_EXT:
        /* §7.1.1: a recipient MUST ignore unrecognized chunk extensions; we
         * check only that they hold no CTL (a quoted-string cannot either). */
        if (c == '\r')
            r->sub = CS_LF;
        else if (!is_fvchar(c))
            return HO_HTTP1_RESP_ERR_CHUNK;
        return 0;
    default: /* CS_LF */
        if (c != '\n')
            return HO_HTTP1_RESP_ERR_CHUNK;
        r->line_len = 0;
        if (r->remaining > 0) {
            r->state = S_CHUNK_DATA;
        } else {
            /* last-chunk = 1*("0") [ chunk-ext ] CRLF, then the trailer
             * section and the final CRLF (§7.1.2). */
            r->state = S_TRAILER;
            r->sub = TR_LINE;
        }
        return 0;
    }
}

/* trailer-section = *( field-line CRLF ), then CRLF (§7.1). We check the
 * shape of each field line and drop it (§7.1.2: a recipient MAY discard
 * trailer fields). One byte of it. */
static int trailer_byte(ho_http1_resp *r, uint8_t c)
{
    if (++r->line_len > r->max_head)
        return HO_HTTP1_RESP_ERR_HEAD_TOO_BIG;
    switch (r->sub) {
    case TR_LINE:
        if (c == '\r')
            r->sub = TR_END_LF;
        else if (is_tchar(c))
            r->sub = TR_NAME;
        else
            return HO_HTTP1_RESP_ERR_TRAILER; /* includes obs-fold */
        return 0;
    case TR_NAME:
        if (c == ':')
            r->sub = TR_VALUE;
        else if (!is_tchar(c))
            return HO_HTTP1_RESP_ERR_TRAILER;
        return 0;
    case TR_VALUE:
        if (c == '\r')
            r->sub = TR_LF;
        else if (!is_fvchar(c))
            return HO_HTTP1_RESP_ERR_TRAILER;
        return 0;
    case TR_LF:
        if (c != '\n')
            return HO_HTTP1_RESP_ERR_TRAILER;
        r->sub = TR_LINE;
        return 0;
    default: /* TR_END_LF */
        if (c != '\n')
            return HO_HTTP1_RESP_ERR_TRAILER;
        r->state = S_DONE;
        return 0;
    }
}

/* Runs one step on p[0..n) (n > 0); *used gets the bytes taken. */
static int step(ho_http1_resp *r, const uint8_t *p, size_t n, size_t *used)
{
    size_t k;
    int rc;
    switch (r->state) {
    case S_HEAD:
        return feed_head(r, p, n, used);
    case S_CLOSE:
        *used = n;
        return deliver(r, p, n);
    case S_LENGTH:
    case S_CHUNK_DATA:
        k = r->remaining < n ? (size_t)r->remaining : n;
        *used = k;
        r->remaining -= k;
        if (r->remaining == 0) {
            if (r->state == S_LENGTH) {
                r->state = S_DONE; /* §6.3 (6): exactly Content-Length bytes */
            } else {
                r->state = S_CHUNK_END;
                r->sub = 0;
            }
        }
        return deliver(r, p, k);
    case S_CHUNK_END:
        /* The CRLF after chunk-data (§7.1), exactly. */
        *used = 1;
        if (p[0] != (r->sub == 0 ? '\r' : '\n'))
            return HO_HTTP1_RESP_ERR_CHUNK;
        if (r->sub++ == 1) {
            r->state = S_CHUNK_SIZE;
            r->sub = CS_SIZE;
            r->digits = false;
        }
        return 0;
    case S_CHUNK_SIZE:
    case S_TRAILER:
        /* Byte by byte until the line or the section ends. */
        for (k = 0; k < n && (r->state == S_CHUNK_SIZE || r->state == S_TRAILER); k++) {
            rc = r->state == S_CHUNK_SIZE ? chunk_size_byte(r, p[k]) : trailer_byte(r, p[k]);
            if (rc != 0) {
                *used = k + 1;
                return rc;
            }
        }
        *used = k;
        return 0;
    default:
        *used = 0;
        return HO_HTTP1_RESP_ERR_CHUNK; /* not reached: S_DONE and S_ERROR stop the loop */
    }
}

int ho_http1_resp_feed(ho_http1_resp *r, const uint8_t *data, size_t len, size_t *consumed)
{
    size_t i = 0;
    if (data == NULL)
        len = 0;
    while (i < len && r->state != S_DONE && r->state != S_ERROR) {
        size_t used = 0;
        int rc = step(r, data + i, len - i, &used);
        i += used;
        if (rc != 0)
            fail(r, rc);
    }
    if (consumed != NULL)
        *consumed = i;
    if (r->state == S_ERROR)
        return r->error;
    if (r->state == S_DONE) {
        r->done = true;
        return HO_HTTP_COMPLETE;
    }
    return HO_HTTP_INCOMPLETE;
}

int ho_http1_resp_finish(ho_http1_resp *r)
{
    if (r->state == S_ERROR)
        return r->error;
    /* §6.3 (8): a close-delimited body ends where the connection does (§8:
     * complete unless the connection reported an error, such as a TLS close
     * without close_notify: the caller's to judge, §9.8). */
    if (r->state == S_CLOSE)
        r->state = S_DONE;
    if (r->state == S_DONE) {
        r->done = true;
        return HO_HTTP_COMPLETE;
    }
    /* §8: a head cut short, fewer than Content-Length bytes, or no last
     * chunk: the message is incomplete. */
    return fail(r, HO_HTTP1_RESP_ERR_TRUNCATED);
}

const ho_http_str *ho_http1_resp_header(const ho_http1_resp *r, const char *name)
{
    for (size_t k = 0; k < r->header_count; k++)
        if (span_ieq(r->headers[k].name.p, r->headers[k].name.len, name))
            return &r->headers[k].value;
    return NULL;
}

const char *ho_http1_resp_err_str(int rc)
{
    switch (rc) {
    case HO_HTTP_COMPLETE: return "complete";
    case HO_HTTP_INCOMPLETE: return "more input needed";
    default: return ho_err_str(rc); /* HO_HTTP1_RESP_ERR_*: one error space */
    }
}
