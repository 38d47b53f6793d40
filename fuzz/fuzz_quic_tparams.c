/* libFuzzer target: QUIC transport parameters (src/quic/tparams.c).
 * Input: [role][extension body...]; role bit 0 set means the body comes
 * from a server. The target decodes the body and, when it is accepted,
 * checks the §18.2 ranges and §7.3/§18.2 role rules on the result, encodes
 * it back in the sender's role (which must succeed) and decodes that again:
 * the same parameters. It also runs the body through the TLS extension
 * hook (ho_quic_tparams_ext_fn) as a server reading a ClientHello and as a
 * client reading EncryptedExtensions, which must agree with the decoder.
 * Seeds: fuzz/corpus/fuzz_quic_tparams/ (see fuzz_quic.h to regenerate). */
#include "fuzz_quic.h"
#include "quic/tparams.h"

static ho_tls_config *server_cfg, *client_cfg;
static ho_tls *server_tls, *client_tls;
static ho_quic_tp_exchange server_x, client_x;

static ho_quic_tp_exchange *exchange_of(ho_tls *tls) { return ho_tls_get_user(tls); }

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    const char *dir = getenv("HO_FUZZ_WRITE_SEEDS");
    if (dir != NULL) {
        write_seeds(dir);
        exit(0);
    }
    /* Two engines only to carry the role and the exchange to the hook;
     * no handshake runs. */
    server_cfg = ho_tls_config_new(true);
    client_cfg = ho_tls_config_new(false);
    if (server_cfg == NULL || client_cfg == NULL)
        abort();
    server_tls = ho_tls_new(server_cfg, NULL);
    client_tls = ho_tls_new(client_cfg, "localhost");
    if (server_tls == NULL || client_tls == NULL)
        abort();
    ho_tls_set_user(server_tls, &server_x);
    ho_tls_set_user(client_tls, &client_x);
    return 0;
}

static void check_valid(const ho_quic_tparams *tp, bool from_server)
{
    CHECK(tp->max_udp_payload_size >= 1200);
    CHECK(tp->ack_delay_exponent <= 20);
    CHECK(tp->max_ack_delay < (1u << 14));
    CHECK(tp->active_connection_id_limit >= 2);
    CHECK(tp->initial_max_streams_bidi <= (1ULL << 60) && tp->initial_max_streams_uni <= (1ULL << 60));
    CHECK(ho_quic_tparams_has(tp, HO_QUIC_TP_INITIAL_SCID));
    CHECK(tp->original_dcid.len <= 20 && tp->initial_scid.len <= 20 && tp->retry_scid.len <= 20);
    if (from_server) {
        CHECK(ho_quic_tparams_has(tp, HO_QUIC_TP_ORIGINAL_DCID));
    } else {
        CHECK(!ho_quic_tparams_has(tp, HO_QUIC_TP_ORIGINAL_DCID) &&
              !ho_quic_tparams_has(tp, HO_QUIC_TP_STATELESS_RESET_TOKEN) &&
              !ho_quic_tparams_has(tp, HO_QUIC_TP_PREFERRED_ADDRESS) &&
              !ho_quic_tparams_has(tp, HO_QUIC_TP_RETRY_SCID));
    }
    if (ho_quic_tparams_has(tp, HO_QUIC_TP_PREFERRED_ADDRESS))
        CHECK(tp->preferred_address.cid.len >= 1 && tp->preferred_address.cid.len <= 20);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool from_server = data[0] & 1;
    size_t n = size - 1;
    uint8_t *body = malloc(n ? n : 1);
    memcpy(body, data + 1, n);

    ho_quic_tparams tp, again;
    int rc = ho_quic_tparams_decode(body, n, from_server, &tp);
    CHECK(rc == HO_OK || rc == HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR));
    if (rc == HO_OK) {
        check_valid(&tp, from_server);
        ho_buf b;
        ho_buf_init(&b);
        CHECK(ho_quic_tparams_encode(&b, &tp, from_server) == HO_OK);
        CHECK(ho_quic_tparams_decode(b.data, b.len, from_server, &again) == HO_OK);
        /* Both were initialised by the decoder (padding and unused CID bytes
         * zeroed), so the whole structures compare. */
        CHECK(memcmp(&tp, &again, sizeof(tp)) == 0);
        size_t len = b.len;
        b.len = 0;
        CHECK(ho_quic_tparams_encode(&b, &again, from_server) == HO_OK && b.len == len);
        ho_buf_free(&b);
    }

    /* Through the hook: the peer's role is the opposite of the reader's. */
    ho_tls *reader = from_server ? client_tls : server_tls;
    ho_quic_tp_exchange *x = from_server ? &client_x : &server_x;
    memset(x, 0, sizeof(*x));
    ho_quic_tparams_init(&x->local);
    x->local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    if (!from_server) {
        x->local.present |= ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID);
        ho_quic_cid_set(&x->local.original_dcid, body, n < 8 ? n : 8);
    }
    ho_buf out;
    ho_buf_init(&out);
    int hrc = ho_quic_tparams_ext_fn(&(ho_quic_tp_hook){exchange_of}, reader, 0, body, n,
                                     from_server ? NULL : &out);
    CHECK(hrc == rc);
    CHECK(x->peer_received == (rc == HO_OK));
    if (rc == HO_OK) {
        CHECK(memcmp(&x->peer, &tp, sizeof(tp)) == 0);
        CHECK(from_server || out.len > 0);
    }
    ho_buf_free(&out);
    free(body);
    return 0;
}

/* ---- seeds ---------------------------------------------------------------- */

static void write_body(const char *dir, const char *name, bool from_server, const uint8_t *p, size_t n)
{
    uint8_t buf[1024];
    if (n + 1 > sizeof(buf))
        abort();
    buf[0] = from_server ? 1 : 0;
    memcpy(buf + 1, p, n);
    fuzz_quic_write_seed(dir, name, buf, n + 1);
}

static void write_seeds(const char *dir)
{
    uint8_t hex[1024];
    /* RFC 9001 A.2: the client's quic_transport_parameters from its
     * ClientHello. */
    size_t n = fuzz_quic_unhex("0408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f08"
                               "8394c8f03e51570806048000ffff", hex, sizeof(hex));
    write_body(dir, "rfc9001-a2-client", false, hex, n);

    /* Every parameter, from a server. */
    ho_quic_tparams tp;
    ho_quic_tparams_init(&tp);
    ho_quic_cid_set(&tp.original_dcid, (const uint8_t *)"\x83\x94\xc8\xf0\x3e\x51\x57\x08", 8);
    tp.max_idle_timeout = 30000;
    memset(tp.stateless_reset_token, 0x5a, 16);
    tp.max_udp_payload_size = 1452;
    tp.initial_max_data = 1 << 20;
    tp.initial_max_stream_data_bidi_local = 1000;
    tp.initial_max_stream_data_bidi_remote = 2000;
    tp.initial_max_stream_data_uni = 3000;
    tp.initial_max_streams_bidi = 100;
    tp.initial_max_streams_uni = 3;
    tp.ack_delay_exponent = 10;
    tp.max_ack_delay = 100;
    tp.disable_active_migration = true;
    memcpy(tp.preferred_address.ipv4, "\x0a\x00\x00\x01", 4);
    tp.preferred_address.ipv4_port = 4433;
    tp.preferred_address.ipv6_port = 443;
    ho_quic_cid_set(&tp.preferred_address.cid, (const uint8_t *)"pref", 4);
    tp.active_connection_id_limit = 8;
    ho_quic_cid_set(&tp.initial_scid, (const uint8_t *)"server", 6);
    ho_quic_cid_set(&tp.retry_scid, (const uint8_t *)"retry", 5);
    tp.max_datagram_frame_size = 65535;
    tp.present = ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID) | ho_quic_tp_bit(HO_QUIC_TP_STATELESS_RESET_TOKEN) |
                 ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS) | ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) |
                 ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID);
    ho_buf b;
    ho_buf_init(&b);
    if (ho_quic_tparams_encode(&b, &tp, true) != HO_OK)
        abort();
    write_body(dir, "server-all", true, b.data, b.len);
    ho_buf_free(&b);

    /* GREASE and unknown parameters around real ones (RFC 9000 §18.1). */
    n = fuzz_quic_unhex("1b 03 abcdef 0f 02 0102 40b6 00 04 01 07 11 08 0000000100000001 01 02 4064", hex,
                        sizeof(hex));
    write_body(dir, "client-grease", false, hex, n);
    /* Invalid: a duplicate, a server-only parameter from a client. */
    n = fuzz_quic_unhex("0f 00 03 02 44b0 03 02 44b0", hex, sizeof(hex));
    write_body(dir, "bad-duplicate", false, hex, n);
    n = fuzz_quic_unhex("0f 00 10 01 aa", hex, sizeof(hex));
    write_body(dir, "bad-client-retry-scid", false, hex, n);
}
