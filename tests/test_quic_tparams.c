/* Unit tests for src/quic/tparams.c: transport parameters (RFC 9000 §18)
 * round trip, defaults, every validation error, duplicates, GREASE, and the
 * TLS extension hook through a real in-memory handshake. */
#include "harness.h"
#include "quic/tparams.h"
#include "tls_pair.h"

#define TPE HO_ERR_QUIC(HO_QUIC_TRANSPORT_PARAMETER_ERROR)


/* Decodes a hex body from a peer of the given role (exact-size heap copy). */
static int decode_hex(const char *hex, bool from_server, ho_quic_tparams *tp)
{
    size_t n;
    uint8_t *p = ho_test_unhex(hex, &n);
    uint8_t *q = malloc(n ? n : 1);
    memcpy(q, p, n);
    free(p);
    int rc = ho_quic_tparams_decode(q, n, from_server, tp);
    free(q);
    return rc;
}

/* initial_source_connection_id = 0x0102, as hex, for bodies below. */
#define ISCID "0f 02 0102 "
/* original_destination_connection_id = 0x08 bytes, for server bodies. */
#define ODCID "00 08 8394c8f03e515708 "

static void fill_server(ho_quic_tparams *tp)
{
    ho_quic_tparams_init(tp);
    ho_quic_cid_set(&tp->original_dcid, (const uint8_t *)"\x83\x94\xc8\xf0\x3e\x51\x57\x08", 8);
    tp->max_idle_timeout = 30000;
    memset(tp->stateless_reset_token, 0x5a, 16);
    tp->max_udp_payload_size = 1452;
    tp->initial_max_data = 1 << 20;
    tp->initial_max_stream_data_bidi_local = 1000;
    tp->initial_max_stream_data_bidi_remote = 2000;
    tp->initial_max_stream_data_uni = 3000;
    tp->initial_max_streams_bidi = 100;
    tp->initial_max_streams_uni = 1ULL << 60;
    tp->ack_delay_exponent = 20;
    tp->max_ack_delay = (1 << 14) - 1;
    tp->disable_active_migration = true;
    ho_quic_preferred_address *pa = &tp->preferred_address;
    memcpy(pa->ipv4, "\x0a\x00\x00\x01", 4);
    pa->ipv4_port = 4433;
    memset(pa->ipv6, 0x20, 16);
    pa->ipv6_port = 443;
    ho_quic_cid_set(&pa->cid, (const uint8_t *)"preferred-cid", 13);
    memset(pa->reset_token, 0xc3, 16);
    tp->active_connection_id_limit = 8;
    ho_quic_cid_set(&tp->initial_scid, (const uint8_t *)"server", 6);
    ho_quic_cid_set(&tp->retry_scid, (const uint8_t *)"retry-scid-twenty-by", 20);
    tp->max_datagram_frame_size = 65535;
    tp->present = ho_quic_tp_bit(HO_QUIC_TP_ORIGINAL_DCID) | ho_quic_tp_bit(HO_QUIC_TP_STATELESS_RESET_TOKEN) |
                  ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS) | ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) |
                  ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID);
}

static void check_same(const ho_quic_tparams *a, const ho_quic_tparams *b)
{
    CHECK(ho_quic_cid_eq(&a->original_dcid, &b->original_dcid));
    CHECK_EQ(a->max_idle_timeout, b->max_idle_timeout);
    CHECK_MEM(a->stateless_reset_token, b->stateless_reset_token, 16);
    CHECK_EQ(a->max_udp_payload_size, b->max_udp_payload_size);
    CHECK_EQ(a->initial_max_data, b->initial_max_data);
    CHECK_EQ(a->initial_max_stream_data_bidi_local, b->initial_max_stream_data_bidi_local);
    CHECK_EQ(a->initial_max_stream_data_bidi_remote, b->initial_max_stream_data_bidi_remote);
    CHECK_EQ(a->initial_max_stream_data_uni, b->initial_max_stream_data_uni);
    CHECK_EQ(a->initial_max_streams_bidi, b->initial_max_streams_bidi);
    CHECK_EQ(a->initial_max_streams_uni, b->initial_max_streams_uni);
    CHECK_EQ(a->ack_delay_exponent, b->ack_delay_exponent);
    CHECK_EQ(a->max_ack_delay, b->max_ack_delay);
    CHECK_EQ(a->disable_active_migration, b->disable_active_migration);
    CHECK_MEM(a->preferred_address.ipv4, b->preferred_address.ipv4, 4);
    CHECK_EQ(a->preferred_address.ipv4_port, b->preferred_address.ipv4_port);
    CHECK_MEM(a->preferred_address.ipv6, b->preferred_address.ipv6, 16);
    CHECK_EQ(a->preferred_address.ipv6_port, b->preferred_address.ipv6_port);
    CHECK(ho_quic_cid_eq(&a->preferred_address.cid, &b->preferred_address.cid));
    CHECK_MEM(a->preferred_address.reset_token, b->preferred_address.reset_token, 16);
    CHECK_EQ(a->active_connection_id_limit, b->active_connection_id_limit);
    CHECK(ho_quic_cid_eq(&a->initial_scid, &b->initial_scid));
    CHECK(ho_quic_cid_eq(&a->retry_scid, &b->retry_scid));
    CHECK_EQ(a->max_datagram_frame_size, b->max_datagram_frame_size);
}

static void test_roundtrip(void)
{
    ho_quic_tparams s, d;
    fill_server(&s);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_tparams_encode(&b, &s, true), HO_OK);
    CHECK_EQ(ho_quic_tparams_decode(b.data, b.len, true, &d), HO_OK);
    check_same(&s, &d);
    /* Every parameter was sent: all 18 present bits on the way back. */
    const uint64_t ids[] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x20};
    int present = 0;
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
        present += ho_quic_tparams_has(&d, ids[i]);
    CHECK_EQ(present, 18);
    /* The client side refuses to send server-only parameters (§18.2). */
    b.len = 0;
    CHECK_EQ(ho_quic_tparams_encode(&b, &s, false), HO_ERR_INVALID_ARG);
    /* A client's parameters, with an empty initial SCID (zero-length CIDs
     * are allowed and the parameter is still sent, §7.3). */
    ho_quic_tparams c;
    ho_quic_tparams_init(&c);
    c.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    c.initial_max_data = 100;
    b.len = 0;
    CHECK_EQ(ho_quic_tparams_encode(&b, &c, false), HO_OK);
    CHECK_HEX(b.data, b.len, "04 02 4064 0f 00");
    CHECK_EQ(ho_quic_tparams_decode(b.data, b.len, false, &d), HO_OK);
    check_same(&c, &d);
    CHECK(ho_quic_tparams_has(&d, HO_QUIC_TP_INITIAL_SCID));
    CHECK(!ho_quic_tparams_has(&d, HO_QUIC_TP_MAX_IDLE_TIMEOUT));
    /* A default value is sent when marked present. */
    c.present |= ho_quic_tp_bit(HO_QUIC_TP_ACK_DELAY_EXPONENT);
    b.len = 0;
    CHECK_EQ(ho_quic_tparams_encode(&b, &c, false), HO_OK);
    CHECK_HEX(b.data, b.len, "04 02 4064 0a 01 03 0f 00");
    ho_buf_free(&b);
}

static void test_defaults(void)
{
    ho_quic_tparams tp;
    CHECK_EQ(decode_hex(ISCID, false, &tp), HO_OK);
    CHECK_EQ(tp.max_idle_timeout, 0);
    CHECK_EQ(tp.max_udp_payload_size, 65527);
    CHECK_EQ(tp.initial_max_data, 0);
    CHECK_EQ(tp.initial_max_stream_data_bidi_local, 0);
    CHECK_EQ(tp.initial_max_stream_data_bidi_remote, 0);
    CHECK_EQ(tp.initial_max_stream_data_uni, 0);
    CHECK_EQ(tp.initial_max_streams_bidi, 0);
    CHECK_EQ(tp.initial_max_streams_uni, 0);
    CHECK_EQ(tp.ack_delay_exponent, 3);
    CHECK_EQ(tp.max_ack_delay, 25);
    CHECK(!tp.disable_active_migration);
    CHECK_EQ(tp.active_connection_id_limit, 2);
    CHECK_EQ(tp.max_datagram_frame_size, 0);
    CHECK_EQ(tp.present, ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID));
    CHECK(tp.initial_scid.len == 2 && tp.initial_scid.data[0] == 1 && tp.initial_scid.data[1] == 2);
    /* Defaults are what an encoder leaves out. */
    ho_quic_tparams_init(&tp);
    tp.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_tparams_encode(&b, &tp, false), HO_OK);
    CHECK_HEX(b.data, b.len, "0f 00");
    ho_buf_free(&b);
    /* Boundary values accepted. */
    CHECK_EQ(decode_hex(ISCID "03 02 44b0 0a 01 14 0b 02 7fff 0e 01 02 08 08 d000000000000000", false, &tp), HO_OK);
    CHECK_EQ(tp.max_udp_payload_size, 1200);
    CHECK_EQ(tp.ack_delay_exponent, 20);
    CHECK_EQ(tp.max_ack_delay, 16383);
    CHECK_EQ(tp.initial_max_streams_bidi, 1ULL << 60);
    /* Integer values need not be minimally encoded (§16). */
    CHECK_EQ(decode_hex(ISCID "01 08 c000000000000005", false, &tp), HO_OK);
    CHECK_EQ(tp.max_idle_timeout, 5);
}

/* RFC 9001 Appendix A.2: the quic_transport_parameters of the sample
 * ClientHello (extension 0x0039, 50 bytes). */
static void test_rfc_client_hello(void)
{
    ho_quic_tparams tp;
    CHECK_EQ(decode_hex("0408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f08"
                        "8394c8f03e51570806048000ffff", false, &tp), HO_OK);
    CHECK_EQ(tp.initial_max_data, HO_QUIC_PN_MAX);
    CHECK_EQ(tp.initial_max_stream_data_bidi_local, 65535);
    CHECK_EQ(tp.initial_max_stream_data_bidi_remote, 65535);
    CHECK_EQ(tp.initial_max_stream_data_uni, 65535);
    CHECK_EQ(tp.initial_max_streams_bidi, 16);
    CHECK_EQ(tp.initial_max_streams_uni, 16);
    CHECK_EQ(tp.max_idle_timeout, 30000);
    CHECK_EQ(tp.initial_scid.len, 8);
    CHECK_MEM(tp.initial_scid.data, "\x83\x94\xc8\xf0\x3e\x51\x57\x08", 8);
    CHECK_EQ(tp.max_udp_payload_size, 65527); /* absent: default */
    /* The same parameters from a server lack original_dcid (§7.3). */
    CHECK_EQ(decode_hex("0408ffffffffffffffff0f088394c8f03e515708", true, &tp), TPE);
}

static const struct {
    const char *what;
    const char *hex;
    bool from_server;
} invalid[] = {
    {"max_udp_payload_size 1199", ISCID "03 02 44af", false},
    {"max_udp_payload_size 0", ISCID "03 01 00", false},
    {"ack_delay_exponent 21", ISCID "0a 01 15", false},
    {"max_ack_delay 2^14", ISCID "0b 04 80004000", false},
    {"active_connection_id_limit 1", ISCID "0e 01 01", false},
    {"active_connection_id_limit 0", ISCID "0e 01 00", true},
    {"initial_max_streams_bidi 2^60+1", ISCID "08 08 d000000000000001", false},
    {"initial_max_streams_uni 2^62-1", ISCID "09 08 ffffffffffffffff", false},
    {"client sends original_destination_connection_id", ISCID ODCID, false},
    {"client sends stateless_reset_token", ISCID "02 10 00000000000000000000000000000000", false},
    {"client sends preferred_address",
     ISCID "0d 2d 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
     false},
    {"client sends retry_source_connection_id", ISCID "10 01 aa", false},
    {"stateless_reset_token 15 bytes", ODCID ISCID "02 0f 000000000000000000000000000000", true},
    {"stateless_reset_token 17 bytes", ODCID ISCID "02 11 0000000000000000000000000000000000", true},
    {"integer with a trailing byte", ISCID "01 02 05 00", false},
    {"integer truncated", ISCID "04 01 40", false},
    {"integer empty", ISCID "04 00", false},
    {"disable_active_migration with a value", ISCID "0c 01 00", false},
    {"original_destination_connection_id 21 bytes", ISCID "00 15 000000000000000000000000000000000000000000", true},
    {"initial_source_connection_id 21 bytes", "0f 15 000000000000000000000000000000000000000000", false},
    {"retry_source_connection_id 21 bytes", ODCID ISCID "10 15 000000000000000000000000000000000000000000", true},
    {"preferred_address zero-length CID (§18.2)",
     ODCID ISCID "0d 29 0a000001 1151 20202020202020202020202020202020 01bb 00 c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
     true},
    {"preferred_address CID 21 bytes",
     ODCID ISCID "0d 3e 0a000001 1151 20202020202020202020202020202020 01bb 15 "
                 "000000000000000000000000000000000000000000 c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
     true},
    {"preferred_address one byte too long",
     ODCID ISCID "0d 2e 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 "
                 "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3 00",
     true},
    {"preferred_address short",
     ODCID ISCID "0d 2c 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 "
                 "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3",
     true},
    {"parameter length beyond the body", ISCID "01 05 0102", false},
    {"truncated parameter id", ISCID "40", false},
    {"parameter id without length", ISCID "01", false},
    {"initial_source_connection_id missing (§7.3)", "01 01 05", false},
    {"server without original_destination_connection_id (§7.3)", ISCID, true},
    {"empty body (§7.3)", "", false},
};

static void test_invalid(void)
{
    ho_quic_tparams tp;
    size_t n = sizeof(invalid) / sizeof(invalid[0]);
    for (size_t i = 0; i < n; i++) {
        int rc = decode_hex(invalid[i].hex, invalid[i].from_server, &tp);
        if (rc != TPE)
            fprintf(stderr, "invalid[%zu] %s: got %d\n", i, invalid[i].what, rc);
        CHECK_EQ(rc, TPE);
    }
    /* The same server-only parameters are fine from a server. */
    CHECK_EQ(decode_hex(ODCID ISCID "10 01 aa 02 10 00000000000000000000000000000000", true, &tp), HO_OK);
    CHECK_EQ(decode_hex(ODCID ISCID "0d 2d 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 "
                                    "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", true, &tp), HO_OK);
    CHECK_EQ(tp.preferred_address.ipv4_port, 0x1151);
    CHECK_EQ(tp.preferred_address.ipv6_port, 443);
    CHECK_EQ(tp.preferred_address.cid.len, 4);

    /* Encoder refusals mirror the decoder. */
    ho_buf b;
    ho_buf_init(&b);
    ho_quic_tparams e;
    ho_quic_tparams_init(&e);
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, false), HO_ERR_INVALID_ARG); /* no initial_scid */
    e.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    e.max_udp_payload_size = 1199;
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, false), HO_ERR_INVALID_ARG);
    ho_quic_tparams_init(&e);
    e.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    e.ack_delay_exponent = 21;
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, false), HO_ERR_INVALID_ARG);
    ho_quic_tparams_init(&e);
    e.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    e.initial_max_streams_uni = (1ULL << 60) + 1;
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, false), HO_ERR_INVALID_ARG);
    ho_quic_tparams_init(&e);
    e.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) | ho_quic_tp_bit(HO_QUIC_TP_PREFERRED_ADDRESS);
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, true), HO_ERR_INVALID_ARG); /* zero-length CID */
    e.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) | ho_quic_tp_bit(HO_QUIC_TP_RETRY_SCID);
    CHECK_EQ(ho_quic_tparams_encode(&b, &e, false), HO_ERR_INVALID_ARG);
    CHECK_EQ(b.len, 0);
    ho_buf_free(&b);
}

static void test_duplicates(void)
{
    ho_quic_tparams tp;
    /* Each known parameter twice (§7.4). */
    const char *dups[] = {
        ISCID ODCID ODCID,
        ISCID ODCID "01 01 05 01 01 05",
        ISCID ODCID "02 10 00000000000000000000000000000000 02 10 00000000000000000000000000000000",
        ISCID ODCID "03 02 44b0 03 02 44b0",
        ISCID ODCID "04 01 00 04 01 00",
        ISCID ODCID "05 01 00 05 01 00",
        ISCID ODCID "06 01 00 06 01 00",
        ISCID ODCID "07 01 00 07 01 00",
        ISCID ODCID "08 01 00 08 01 00",
        ISCID ODCID "09 01 00 09 01 00",
        ISCID ODCID "0a 01 00 0a 01 00",
        ISCID ODCID "0b 01 00 0b 01 00",
        ISCID ODCID "0c 00 0c 00",
        ISCID ODCID "0e 01 02 0e 01 02",
        ISCID ODCID ISCID,
        ISCID ODCID "10 01 aa 10 01 aa",
        ISCID ODCID "20 01 00 20 01 00",
    };
    int refused = 0;
    for (size_t i = 0; i < sizeof(dups) / sizeof(dups[0]); i++) {
        int rc = decode_hex(dups[i], true, &tp);
        if (rc != TPE)
            fprintf(stderr, "duplicate[%zu]: got %d\n", i, rc);
        refused += rc == TPE;
    }
    CHECK_EQ(refused, sizeof(dups) / sizeof(dups[0]));
    /* The preferred address too. */
    CHECK_EQ(decode_hex(ODCID ISCID
                        "0d 2d 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 "
                        "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
                        "0d 2d 0a000001 1151 20202020202020202020202020202020 01bb 04 01020304 "
                        "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3", true, &tp), TPE);
    /* An unknown parameter may repeat: it is ignored. */
    CHECK_EQ(decode_hex(ISCID "4bad 01 00 4bad 01 00", false, &tp), HO_OK);
}

static void test_grease(void)
{
    ho_quic_tparams tp;
    /* Reserved ids 31*N+27 (§18.1): 27 (0x1b), 31*5+27 = 182 (0x40b6), a
     * large one with an 8-byte id, with arbitrary values, between real
     * parameters; and unknown ids (0xff04de1b). */
    CHECK_EQ(decode_hex("1b 03 abcdef " ISCID "40b6 00 04 01 07 "
                        "c000000000000055 05 0102030405 " /* unknown id 0x55, 8-byte varint */
                        "80ff04de 02 ffff 01 02 4064",
                        false, &tp), HO_OK);
    CHECK_EQ(tp.initial_max_data, 7);
    CHECK_EQ(tp.max_idle_timeout, 100);
    CHECK_EQ(tp.present, ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) | ho_quic_tp_bit(HO_QUIC_TP_INITIAL_MAX_DATA) |
                             ho_quic_tp_bit(HO_QUIC_TP_MAX_IDLE_TIMEOUT));
    /* A reserved parameter whose length overruns is still an error. */
    CHECK_EQ(decode_hex(ISCID "1b 05 00", false, &tp), TPE);
    /* Every 31*N+27 below 2^14 is skipped. */
    int skipped = 0, total = 0;
    for (uint64_t id = 27; id < (1u << 14); id += 31) {
        ho_buf b;
        ho_buf_init(&b);
        ho_put_varint(&b, id);
        ho_put_varint(&b, 2);
        ho_put_u16(&b, 0xffff);
        ho_put_bytes(&b, "\x0f\x00", 2);
        total++;
        skipped += ho_quic_tparams_decode(b.data, b.len, false, &tp) == HO_OK && tp.max_idle_timeout == 0;
        ho_buf_free(&b);
    }
    CHECK_EQ(skipped, total);
}

/* ---- the TLS hook through a real handshake -------------------------------- */

static ho_quic_tp_exchange *exchange_of(ho_tls *tls) { return ho_tls_get_user(tls); }
static const ho_quic_tp_hook hook = {exchange_of};

static int shape(void *ctx, ho_quic_tp_exchange *x)
{
    int *calls = ctx;
    (*calls)++;
    /* The server mirrors the client's datagram support. */
    x->local.max_datagram_frame_size = x->peer.max_datagram_frame_size;
    return HO_OK;
}

static int refuse(void *ctx, ho_quic_tp_exchange *x)
{
    (void)ctx, (void)x;
    return HO_ERR_QUIC(HO_QUIC_CONNECTION_REFUSED);
}

static void test_hook(void)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    ho_tls_config *scfg = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_add_cert(scfg, &chain, key), HO_OK);
    CHECK_EQ(ho_quic_tparams_install(scfg, &hook), HO_OK);
    ho_tls_config *ccfg = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(ccfg, false);
    CHECK_EQ(ho_quic_tparams_install(ccfg, &hook), HO_OK);
    ho_tls_config *plain = ho_tls_config_new(false); /* a client without the extension */
    ho_tls_config_set_verify_peer(plain, false);

    /* Both sides exchange; the server shapes its own from the client's. */
    ho_quic_tp_exchange cx = {0}, sx = {0};
    ho_quic_tparams_init(&cx.local);
    cx.local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    ho_quic_cid_set(&cx.local.initial_scid, (const uint8_t *)"client", 6);
    cx.local.initial_max_data = 12345;
    cx.local.max_datagram_frame_size = 1200;
    fill_server(&sx.local);
    sx.local.max_datagram_frame_size = 0;
    int shaped = 0;
    sx.on_peer = shape;
    sx.on_peer_ctx = &shaped;
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_user(p.client, &cx);
    ho_tls_set_user(p.server, &sx);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.client));
    CHECK(cx.peer_received && sx.peer_received);
    CHECK_EQ(shaped, 1);
    CHECK_EQ(sx.peer.initial_max_data, 12345);
    CHECK(ho_quic_cid_eq(&sx.peer.initial_scid, &cx.local.initial_scid));
    CHECK_EQ(cx.peer.max_datagram_frame_size, 1200);
    sx.local.max_datagram_frame_size = 1200;
    check_same(&cx.peer, &sx.local);
    pair_free(&p);

    /* A client that does not send the extension: missing_extension (RFC
     * 9001 §8.2). */
    memset(&sx, 0, sizeof(sx));
    fill_server(&sx.local);
    pair_init(&p, plain, scfg, "localhost");
    ho_tls_set_user(p.server, &sx);
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION));
    CHECK_EQ(ho_quic_err_wire_code(p.server_err), 0x16d);
    pair_free(&p);

    /* Invalid client parameters: TRANSPORT_PARAMETER_ERROR out of the
     * server's ho_tls_handle. */
    memset(&cx, 0, sizeof(cx));
    ho_quic_tparams_init(&cx.local);
    cx.local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    memset(&sx, 0, sizeof(sx));
    fill_server(&sx.local);
    sx.on_peer = refuse;
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_user(p.client, &cx);
    ho_tls_set_user(p.server, &sx);
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_ERR_QUIC(HO_QUIC_CONNECTION_REFUSED));
    pair_free(&p);
    /* A client whose own parameters cannot be sent fails at start. */
    memset(&cx, 0, sizeof(cx));
    ho_quic_tparams_init(&cx.local); /* no initial_scid */
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_user(p.client, &cx);
    ho_tls_set_user(p.server, &sx);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_ERR_TLS_ALERT(HO_ALERT_INTERNAL_ERROR));
    pair_free(&p);
    /* A server that sends none: the client refuses EncryptedExtensions. */
    ho_tls_config *plain_server = ho_tls_config_new(true);
    chain = (ho_cert_chain){0};
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &key, &chain), HO_OK);
    CHECK_EQ(ho_tls_config_add_cert(plain_server, &chain, key), HO_OK);
    memset(&cx, 0, sizeof(cx));
    ho_quic_tparams_init(&cx.local);
    cx.local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    pair_init(&p, ccfg, plain_server, "localhost");
    ho_tls_set_user(p.client, &cx);
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_ERR_TLS_ALERT(HO_ALERT_MISSING_EXTENSION));
    pair_free(&p);
    /* A server whose parameters lack original_dcid: the client refuses. */
    ho_quic_tp_exchange sx2 = {0};
    ho_quic_tparams_init(&sx2.local);
    sx2.local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    memset(&cx, 0, sizeof(cx));
    ho_quic_tparams_init(&cx.local);
    cx.local.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID);
    pair_init(&p, ccfg, scfg, "localhost");
    ho_tls_set_user(p.client, &cx);
    ho_tls_set_user(p.server, &sx2);
    pair_run(&p);
    CHECK_EQ(p.client_err, TPE);
    pair_free(&p);

    ho_tls_config_free(plain_server);
    ho_tls_config_free(plain);
    ho_tls_config_free(ccfg);
    ho_tls_config_free(scfg);
}

/* version_information (RFC 9368 §3, §4): codec and parsing failures. */
static void test_version_information(void)
{
    ho_quic_tparams tp;
    /* A client's: chosen v1, available v1, v2 and a reserved 0x?a?a?a?a. */
    CHECK_EQ(decode_hex(ISCID "11 10 00000001 00000001 6b3343cf 1a2a3a4a", false, &tp), HO_OK);
    CHECK(ho_quic_tparams_has(&tp, HO_QUIC_TP_VERSION_INFORMATION));
    CHECK_EQ(tp.vi_chosen, HO_QUIC_VERSION_1);
    CHECK_EQ(tp.vi_count, 3);
    CHECK_EQ(tp.vi_available[1], HO_QUIC_VERSION_2);
    CHECK_EQ(tp.vi_available[2], 0x1a2a3a4a);
    /* Length not a multiple of 4, too short, empty. */
    CHECK_EQ(decode_hex(ISCID "11 06 00000001 0000", false, &tp), TPE);
    CHECK_EQ(decode_hex(ISCID "11 02 0001", false, &tp), TPE);
    CHECK_EQ(decode_hex(ISCID "11 00", false, &tp), TPE);
    /* Chosen Version 0, an Available Version 0. */
    CHECK_EQ(decode_hex(ISCID "11 08 00000000 00000000", false, &tp), TPE);
    CHECK_EQ(decode_hex(ISCID "11 0c 00000001 00000001 00000000", false, &tp), TPE);
    /* From a client, the Chosen Version must be among Available Versions;
     * a server's list may omit it, or be empty. */
    CHECK_EQ(decode_hex(ISCID "11 08 00000001 6b3343cf", false, &tp), TPE);
    CHECK_EQ(decode_hex(ISCID "00 00 11 08 6b3343cf 00000001", true, &tp), HO_OK);
    CHECK_EQ(decode_hex(ISCID "00 00 11 04 6b3343cf", true, &tp), HO_OK);
    CHECK_EQ(tp.vi_count, 0);
    /* Duplicate. */
    CHECK_EQ(decode_hex(ISCID "11 08 00000001 00000001 11 08 00000001 00000001", false, &tp), TPE);
    /* More than HO_QUIC_VI_MAX versions: all validated, the first kept. */
    char big[512] = ISCID "11 4048 6b3343cf ";
    for (int i = 0; i < 16; i++)
        strcat(big, "1a2a3a4a ");
    strcat(big, "6b3343cf");
    CHECK_EQ(decode_hex(big, false, &tp), HO_OK);
    CHECK_EQ(tp.vi_count, HO_QUIC_VI_MAX);
    /* The Chosen Version came 17th: it takes the last place kept, so the
     * list we keep re-encodes into a valid parameter (fuzz_quic_tparams). */
    CHECK_EQ(tp.vi_available[HO_QUIC_VI_MAX - 1], HO_QUIC_VERSION_2);
    CHECK_EQ(tp.vi_available[0], 0x1a2a3a4a);
    {
        ho_buf rb;
        ho_buf_init(&rb);
        ho_quic_tparams back;
        CHECK_EQ(ho_quic_tparams_encode(&rb, &tp, false), HO_OK);
        CHECK_EQ(ho_quic_tparams_decode(rb.data, rb.len, false, &back), HO_OK);
        CHECK(memcmp(back.vi_available, tp.vi_available, sizeof(tp.vi_available)) == 0);
        ho_buf_free(&rb);
    }

    /* Round trip. */
    ho_quic_tparams a, b2;
    ho_quic_tparams_init(&a);
    a.present = ho_quic_tp_bit(HO_QUIC_TP_INITIAL_SCID) | ho_quic_tp_bit(HO_QUIC_TP_VERSION_INFORMATION);
    a.vi_chosen = HO_QUIC_VERSION_2;
    a.vi_available[0] = HO_QUIC_VERSION_2;
    a.vi_available[1] = HO_QUIC_VERSION_1;
    a.vi_count = 2;
    ho_buf b;
    ho_buf_init(&b);
    CHECK_EQ(ho_quic_tparams_encode(&b, &a, false), HO_OK);
    CHECK_EQ(ho_quic_tparams_decode(b.data, b.len, false, &b2), HO_OK);
    CHECK_EQ(b2.vi_chosen, HO_QUIC_VERSION_2);
    CHECK(b2.vi_count == 2 && b2.vi_available[0] == HO_QUIC_VERSION_2 && b2.vi_available[1] == HO_QUIC_VERSION_1);
    /* We never send a zero Chosen Version. */
    a.vi_chosen = 0;
    b.len = 0;
    CHECK_EQ(ho_quic_tparams_encode(&b, &a, false), HO_ERR_INVALID_ARG);
    ho_buf_free(&b);
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_defaults);
    RUN(test_rfc_client_hello);
    RUN(test_invalid);
    RUN(test_duplicates);
    RUN(test_grease);
    RUN(test_hook);
    RUN(test_version_information);
    return ho_test_summary("test_quic_tparams");
}
