/*
 * QUIC transport parameters codec and TLS extension hook. See tparams.h.
 */
#include "quic/tparams.h"

#include <string.h>

#define TPE HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR)

/* RFC 9000 §18.2: parameters only a server may send. */
#define SERVER_ONLY                                                                                        \
    (ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID) | ho_quic_tp_bit(HO_QUIC_TP_STATELESS_RESET_TOKEN) |           \
     ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS) | ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID))

#define PREFERRED_ADDRESS_FIXED (4 + 2 + 16 + 2 + 1 + HO_QUIC_RESET_TOKEN_LEN)

void ho_quic_tparams_init(ho_quic_tparams *tp)
{
    memset(tp, 0, sizeof(*tp));
    tp->max_udp_payload_size = HO_QUIC_TP_DEFAULT_MAX_UDP_PAYLOAD_SIZE;
    tp->ack_delay_exponent = HO_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT;
    tp->max_ack_delay = HO_QUIC_TP_DEFAULT_MAX_ACK_DELAY;
    tp->active_connection_id_limit = HO_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT;
}

/* The integer parameters: where each lives and its default. */
static const struct {
    uint8_t id;
    size_t offset;
    uint64_t def;
} int_params[] = {
    {HO_QUIC_TP_MAX_IDLE_TIMEOUT, offsetof(ho_quic_tparams, max_idle_timeout), 0},
    {HO_QUIC_TP_MAX_UDP_PAYLOAD_SIZE, offsetof(ho_quic_tparams, max_udp_payload_size),
     HO_QUIC_TP_DEFAULT_MAX_UDP_PAYLOAD_SIZE},
    {HO_QUIC_TP_INITIAL_MAX_DATA, offsetof(ho_quic_tparams, initial_max_data), 0},
    {HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_LOCAL, offsetof(ho_quic_tparams, initial_max_stream_data_bidi_local), 0},
    {HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_BIDI_REMOTE, offsetof(ho_quic_tparams, initial_max_stream_data_bidi_remote),
     0},
    {HO_QUIC_TP_INITIAL_MAX_STREAM_DATA_UNI, offsetof(ho_quic_tparams, initial_max_stream_data_uni), 0},
    {HO_QUIC_TP_INITIAL_MAX_STREAMS_BIDI, offsetof(ho_quic_tparams, initial_max_streams_bidi), 0},
    {HO_QUIC_TP_INITIAL_MAX_STREAMS_UNI, offsetof(ho_quic_tparams, initial_max_streams_uni), 0},
    {HO_QUIC_TP_ACK_DELAY_EXPONENT, offsetof(ho_quic_tparams, ack_delay_exponent),
     HO_QUIC_TP_DEFAULT_ACK_DELAY_EXPONENT},
    {HO_QUIC_TP_MAX_ACK_DELAY, offsetof(ho_quic_tparams, max_ack_delay), HO_QUIC_TP_DEFAULT_MAX_ACK_DELAY},
    {HO_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT, offsetof(ho_quic_tparams, active_connection_id_limit),
     HO_QUIC_TP_DEFAULT_ACTIVE_CID_LIMIT},
    {HO_QUIC_TP_MAX_DATAGRAM_FRAME_SIZE, offsetof(ho_quic_tparams, max_datagram_frame_size), 0},
};
#define INT_PARAM_COUNT (sizeof(int_params) / sizeof(int_params[0]))

static uint64_t *int_field(ho_quic_tparams *tp, size_t i)
{
    return (uint64_t *)((uint8_t *)tp + int_params[i].offset);
}

/* RFC 9000 §18.2 value ranges (and §4.6 for the stream counts). */
static bool int_valid(uint64_t id, uint64_t v)
{
    switch (id) {
    case HO_QUIC_TP_MAX_UDP_PAYLOAD_SIZE: return v >= HO_QUIC_MIN_DATAGRAM;   /* "below 1200 are invalid" */
    case HO_QUIC_TP_ACK_DELAY_EXPONENT: return v <= HO_QUIC_TP_MAX_ACK_DELAY_EXPONENT; /* "above 20" */
    case HO_QUIC_TP_MAX_ACK_DELAY: return v < HO_QUIC_TP_MAX_ACK_DELAY_LIMIT; /* "2^14 or greater" */
    case HO_QUIC_TP_ACTIVE_CONNECTION_ID_LIMIT: return v >= 2;                /* "MUST be at least 2" */
    case HO_QUIC_TP_INITIAL_MAX_STREAMS_BIDI:
    case HO_QUIC_TP_INITIAL_MAX_STREAMS_UNI:
        /* §4.6: greater than 2^60 MUST be a TRANSPORT_PARAMETER_ERROR. */
        return v <= (1ULL << 60);
    }
    return v <= HO_QUIC_PN_MAX;
}

/* ---- encode ------------------------------------------------------------ */

static void put_param(ho_buf *b, uint64_t id, const void *p, size_t len)
{
    ho_put_varint(b, id);
    ho_put_varint(b, len);
    ho_put_bytes(b, p, len);
}

static void put_cid_param(ho_buf *b, uint64_t id, const ho_quic_cid *cid)
{
    put_param(b, id, cid->data, cid->len);
}

int ho_quic_tparams_encode(ho_buf *b, const ho_quic_tparams *tp, bool is_server)
{
    uint32_t has = tp->present;
    /* §18.2: a client MUST NOT include any server-only parameter. */
    if (!is_server && (has & SERVER_ONLY))
        return HO_ERR_INVALID_ARG;
    /* §7.3: every endpoint sends initial_source_connection_id. */
    if (!(has & ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID)))
        return HO_ERR_INVALID_ARG;
    const ho_quic_cid *cids[] = {&tp->original_dcid, &tp->initial_scid, &tp->retry_scid,
                                 &tp->preferred_address.cid};
    for (size_t i = 0; i < sizeof(cids) / sizeof(cids[0]); i++)
        if (cids[i]->len > HO_QUIC_MAX_CID_LEN)
            return HO_ERR_INVALID_ARG;
    /* §18.2: no zero-length CID in preferred_address. */
    if ((has & ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS)) && tp->preferred_address.cid.len == 0)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < INT_PARAM_COUNT; i++)
        if (!int_valid(int_params[i].id, *int_field((ho_quic_tparams *)tp, i)))
            return HO_ERR_INVALID_ARG;

    if (has & ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID))
        put_cid_param(b, HO_QUIC_TP_ORIGINAL_DCID, &tp->original_dcid);
    if (has & ho_quic_tp_bit(HO_QUIC_TP_STATELESS_RESET_TOKEN))
        put_param(b, HO_QUIC_TP_STATELESS_RESET_TOKEN, tp->stateless_reset_token, HO_QUIC_RESET_TOKEN_LEN);
    for (size_t i = 0; i < INT_PARAM_COUNT; i++) {
        uint64_t v = *int_field((ho_quic_tparams *)tp, i);
        if (v == int_params[i].def && !(has & ho_quic_tp_bit(int_params[i].id)))
            continue;
        ho_put_varint(b, int_params[i].id);
        ho_put_varint(b, ho_quic_varint_len(v));
        ho_put_varint(b, v);
    }
    if (tp->disable_active_migration || (has & ho_quic_tp_bit(HO_QUIC_TP_DISABLE_ACTIVE_MIGRATION)))
        put_param(b, HO_QUIC_TP_DISABLE_ACTIVE_MIGRATION, NULL, 0); /* §18.2: zero-length value */
    if (has & ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS)) {
        const ho_quic_preferred_address *pa = &tp->preferred_address;
        ho_put_varint(b, HO_QUIC_TP_PREFERRED_ADDRESS);
        ho_put_varint(b, PREFERRED_ADDRESS_FIXED + pa->cid.len);
        ho_put_bytes(b, pa->ipv4, 4);
        ho_put_u16(b, pa->ipv4_port);
        ho_put_bytes(b, pa->ipv6, 16);
        ho_put_u16(b, pa->ipv6_port);
        ho_put_u8(b, pa->cid.len);
        ho_put_bytes(b, pa->cid.data, pa->cid.len);
        ho_put_bytes(b, pa->reset_token, HO_QUIC_RESET_TOKEN_LEN);
    }
    if (has & ho_quic_tp_bit(HO_QUIC_TP_VERSION_INFORMATION)) {
        /* RFC 9368 §3: Chosen Version (32), Available Versions (32) ... */
        if (tp->vi_chosen == 0 || tp->vi_count > HO_QUIC_VI_MAX)
            return HO_ERR_INVALID_ARG;
        ho_put_varint(b, HO_QUIC_TP_VERSION_INFORMATION);
        ho_put_varint(b, 4 + 4 * (uint64_t)tp->vi_count);
        ho_put_u32(b, tp->vi_chosen);
        for (size_t i = 0; i < tp->vi_count; i++)
            ho_put_u32(b, tp->vi_available[i]);
    }
    put_cid_param(b, HO_QUIC_TP_INITIAL_SCID, &tp->initial_scid);
    if (has & ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID))
        put_cid_param(b, HO_QUIC_TP_RETRY_SCID, &tp->retry_scid);
    return b->failed ? HO_ERR_NOMEM : HO_OK;
}

/* ---- decode ------------------------------------------------------------ */

static bool get_cid_value(ho_cursor *v, ho_quic_cid *cid)
{
    /* §18.2 / §17.2: a connection ID of at most 20 bytes. */
    return v->len <= HO_QUIC_MAX_CID_LEN && ho_quic_cid_set(cid, v->p, v->len) == HO_OK;
}

static bool get_preferred_address(ho_cursor v, ho_quic_preferred_address *pa)
{
    uint8_t n;
    const uint8_t *cid;
    if (!ho_get_copy(&v, pa->ipv4, 4) || !ho_get_u16(&v, &pa->ipv4_port) || !ho_get_copy(&v, pa->ipv6, 16) ||
        !ho_get_u16(&v, &pa->ipv6_port) || !ho_get_u8(&v, &n))
        return false;
    /* §18.2: a zero-length CID in preferred_address MUST be a
     * TRANSPORT_PARAMETER_ERROR; longer than 20 cannot be version 1. */
    if (n == 0 || n > HO_QUIC_MAX_CID_LEN || !ho_get_bytes(&v, n, &cid) ||
        !ho_get_copy(&v, pa->reset_token, HO_QUIC_RESET_TOKEN_LEN) || !ho_cursor_empty(&v))
        return false;
    ho_quic_cid_set(&pa->cid, cid, n);
    return true;
}

/* RFC 9368 §4: a length that is not a non-zero multiple of four, a Chosen
 * Version or any Available Version of zero, or (from a client) a Chosen
 * Version missing from Available Versions is a parsing failure, which
 * version 1 closes with TRANSPORT_PARAMETER_ERROR. */
static bool get_version_information(ho_cursor v, bool from_server, ho_quic_tparams *tp)
{
    if (v.len < 4 || v.len % 4 != 0 || !ho_get_u32(&v, &tp->vi_chosen) || tp->vi_chosen == 0)
        return false;
    bool listed = false, kept = false;
    tp->vi_count = 0;
    uint32_t a;
    while (ho_get_u32(&v, &a)) {
        if (a == 0)
            return false;
        listed |= a == tp->vi_chosen;
        if (tp->vi_count < HO_QUIC_VI_MAX) {
            kept |= a == tp->vi_chosen;
            tp->vi_available[tp->vi_count++] = a;
        }
    }
    /* We keep the first HO_QUIC_VI_MAX versions of a longer list. The
     * Chosen Version stays among them (in the last place if it came
     * later), so what we keep still satisfies RFC 9368 §3 (found by
     * fuzz_quic_tparams: a re-encoded list had lost it). */
    if (listed && !kept)
        tp->vi_available[HO_QUIC_VI_MAX - 1] = tp->vi_chosen;
    return from_server || listed;
}

static int decode_one(uint64_t id, ho_cursor v, bool from_server, ho_quic_tparams *tp)
{
    for (size_t i = 0; i < INT_PARAM_COUNT; i++) {
        if (int_params[i].id != id)
            continue;
        uint64_t x;
        /* §18.2: an integer parameter is one varint filling the value. */
        if (!ho_get_varint(&v, &x) || !ho_cursor_empty(&v) || !int_valid(id, x))
            return TPE;
        *int_field(tp, i) = x;
        return HO_OK;
    }
    switch (id) {
    case HO_QUIC_TP_ORIGINAL_DCID: return get_cid_value(&v, &tp->original_dcid) ? HO_OK : TPE;
    case HO_QUIC_TP_INITIAL_SCID: return get_cid_value(&v, &tp->initial_scid) ? HO_OK : TPE;
    case HO_QUIC_TP_RETRY_SCID: return get_cid_value(&v, &tp->retry_scid) ? HO_OK : TPE;
    case HO_QUIC_TP_STATELESS_RESET_TOKEN:
        /* §18.2: a sequence of 16 bytes. */
        return ho_get_copy(&v, tp->stateless_reset_token, HO_QUIC_RESET_TOKEN_LEN) && ho_cursor_empty(&v) ? HO_OK
                                                                                                        : TPE;
    case HO_QUIC_TP_DISABLE_ACTIVE_MIGRATION:
        /* §18.2: a zero-length value. */
        if (!ho_cursor_empty(&v))
            return TPE;
        tp->disable_active_migration = true;
        return HO_OK;
    case HO_QUIC_TP_PREFERRED_ADDRESS:
        return get_preferred_address(v, &tp->preferred_address) ? HO_OK : TPE;
    case HO_QUIC_TP_VERSION_INFORMATION:
        return get_version_information(v, from_server, tp) ? HO_OK : TPE;
    }
    return HO_OK; /* unknown: §7.4.2 MUST ignore */
}

int ho_quic_tparams_decode(const uint8_t *p, size_t len, bool from_server, ho_quic_tparams *tp)
{
    ho_quic_tparams_init(tp);
    ho_cursor c = ho_cursor_make(p, len);
    while (!ho_cursor_empty(&c)) {
        uint64_t id;
        ho_cursor v;
        if (!ho_get_varint(&c, &id) || !ho_get_varint_block(&c, &v))
            return TPE;
        uint32_t bit = ho_quic_tp_bit(id);
        if (bit == 0)
            continue; /* unknown or reserved (§18.1, §7.4.2) */
        /* §7.4: duplicates SHOULD be a TRANSPORT_PARAMETER_ERROR. */
        if (tp->present & bit)
            return TPE;
        /* §18.2: a server MUST treat a server-only parameter from a client
         * as a TRANSPORT_PARAMETER_ERROR. */
        if (!from_server && (bit & SERVER_ONLY))
            return TPE;
        int rc = decode_one(id, v, from_server, tp);
        if (rc != HO_OK)
            return rc;
        tp->present |= bit;
    }
    /* §7.3: the absence of initial_source_connection_id from either
     * endpoint, or of original_destination_connection_id from the server,
     * MUST be a TRANSPORT_PARAMETER_ERROR. */
    if (!(tp->present & ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID)))
        return TPE;
    if (from_server && !(tp->present & ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID)))
        return TPE;
    return HO_OK;
}

/* ---- the TLS engine hook ------------------------------------------------ */

int ho_quic_tparams_ext_fn(void *ctx, ho_tls *tls, uint8_t msg_type, const uint8_t *peer, size_t peer_len,
                           ho_buf *out)
{
    const ho_quic_tp_hook *hook = ctx;
    ho_quic_tp_exchange *x = hook != NULL && hook->exchange_of != NULL ? hook->exchange_of(tls) : NULL;
    if (x == NULL)
        return HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR);
    bool is_server = ho_tls_is_server(tls);
    bool reading = is_server || out == NULL; /* see ho_tls_ext_fn in tls.h */
    (void)msg_type;
    if (reading) {
        /* RFC 9001 §8.2: ClientHello or EncryptedExtensions without the
         * extension MUST close the connection with 0x016d
         * (missing_extension). */
        if (peer == NULL)
            return HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION);
        int rc = ho_quic_tparams_decode(peer, peer_len, !is_server, &x->peer);
        if (rc != HO_OK)
            return rc;
        x->peer_received = true;
        if (x->on_peer != NULL && (rc = x->on_peer(x->on_peer_ctx, x)) != HO_OK)
            return rc;
    }
    if (out != NULL) {
        int rc = ho_quic_tparams_encode(out, &x->local, is_server);
        if (rc != HO_OK)
            return rc == HO_ERR_INVALID_ARG ? HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR) : rc;
    }
    return HO_OK;
}

int ho_quic_tparams_install(ho_tls_config *cfg, const ho_quic_tp_hook *hook)
{
    return ho_tls_config_add_ext_hook(cfg, HO_QUIC_TP_EXTENSION, ho_quic_tparams_ext_fn, (void *)hook);
}
