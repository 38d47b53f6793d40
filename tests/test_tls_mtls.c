/* Client certificates (mutual TLS, RFC 8446 §4.3.2, §4.4.2, §4.4.3):
 * required and optional modes between our own client and server, each
 * refusal with its alert (on the wire through the record layer where the
 * client can produce the case, in the engine for forged messages), the
 * CertificateRequest's contents, and resumption, which does not ask again. */
#include "harness.h"
#include "tls_builder.h"
#include "tls_pair.h"

#include <stdio.h>
#include <string.h>

static ho_privkey *srv_key;
static ho_cert_chain srv_chain;

static void setup(void)
{
    CHECK_EQ(ho_selfsigned_generate("localhost", 30, &srv_key, &srv_chain), HO_OK);
}

static ho_tls_config *server_cfg(ho_tls_client_auth mode)
{
    ho_tls_config *cfg = ho_tls_config_new(true);
    ho_cert_chain chain = {0};
    for (size_t i = 0; i < srv_chain.count; i++)
        ho_cert_chain_add_der(&chain, srv_chain.der[i], srv_chain.len[i]);
    ho_buf pem;
    ho_buf_init(&pem);
    CHECK_EQ(ho_privkey_to_pem(srv_key, &pem), HO_OK);
    CHECK_EQ(ho_tls_config_add_cert(cfg, &chain, ho_privkey_load_pem(pem.data, pem.len)), HO_OK);
    ho_buf_free(&pem);
    if (mode != HO_TLS_CLIENT_AUTH_NONE)
        CHECK_EQ(ho_tls_config_set_client_auth(cfg, mode, ho_test_data("mtls/client-ca.crt")), HO_OK);
    return cfg;
}

/* A client trusting our server, presenting mtls/<who>.{crt,key} (none: NULL). */
static ho_tls_config *client_cfg(const char *who)
{
    ho_tls_config *cfg = ho_tls_config_new(false);
    ho_trust_store *ts = ho_trust_store_new();
    CHECK_EQ(ho_trust_store_add_der(ts, srv_chain.der[0], srv_chain.len[0]), HO_OK);
    ho_tls_config_set_trust(cfg, ts);
    if (who != NULL) {
        char crt[1024], key[1024], rel[64];
        snprintf(rel, sizeof(rel), "mtls/%s.crt", who);
        snprintf(crt, sizeof(crt), "%s", ho_test_data(rel));
        snprintf(rel, sizeof(rel), "mtls/%s.key", who);
        snprintf(key, sizeof(key), "%s", ho_test_data(rel));
        CHECK_EQ(ho_tls_config_load_cert_files(cfg, crt, key), HO_OK);
    }
    return cfg;
}

/* ---- over records: what each side sees on the wire -------------------- */

struct wire {
    ho_tls_conn *c, *s;
    int cerr, serr;
};

/* Moves records both ways until nothing moves. A side that failed still
 * has its alert record delivered: the other side's error shows it. */
static void wire_run(struct wire *w)
{
    w->cerr = ho_tls_conn_start(w->c);
    for (int round = 0; round < 32; round++) {
        bool moved = false;
        ho_buf *o = ho_tls_conn_out(w->c);
        if (o->len > 0) {
            moved = true;
            if (w->serr == HO_OK)
                w->serr = ho_tls_conn_receive(w->s, o->data, o->len);
            ho_buf_consume(o, o->len);
        }
        o = ho_tls_conn_out(w->s);
        if (o->len > 0) {
            moved = true;
            if (w->cerr == HO_OK)
                w->cerr = ho_tls_conn_receive(w->c, o->data, o->len);
            ho_buf_consume(o, o->len);
        }
        if (!moved)
            break;
    }
}

static void wire_handshake(ho_tls_client_auth mode, const char *who, struct wire *w, ho_tls_config **ccfg,
                           ho_tls_config **scfg)
{
    *scfg = server_cfg(mode);
    *ccfg = client_cfg(who);
    memset(w, 0, sizeof(*w));
    w->c = ho_tls_conn_new(*ccfg, "localhost");
    w->s = ho_tls_conn_new(*scfg, NULL);
    wire_run(w);
}

static void wire_free(struct wire *w, ho_tls_config *ccfg, ho_tls_config *scfg)
{
    ho_tls_conn_free(w->c);
    ho_tls_conn_free(w->s);
    ho_tls_config_free(ccfg);
    ho_tls_config_free(scfg);
}

static void test_required_ok(void)
{
    struct wire w;
    ho_tls_config *ccfg, *scfg;
    wire_handshake(HO_TLS_CLIENT_AUTH_REQUIRED, "client", &w, &ccfg, &scfg);
    CHECK_EQ(w.cerr, HO_OK);
    CHECK_EQ(w.serr, HO_OK);
    CHECK(ho_tls_conn_handshake_done(w.c) && ho_tls_conn_handshake_done(w.s));
    const char *subj = ho_tls_conn_peer_subject(w.s);
    CHECK(subj != NULL && strstr(subj, "CN=alice") != NULL && strstr(subj, "O=handoff tests") != NULL);
    CHECK_EQ(ho_tls_client_cert_status(ho_tls_conn_tls(w.s)), 1);
    /* The client names the server it verified. */
    CHECK(ho_tls_conn_peer_subject(w.c) != NULL && strstr(ho_tls_conn_peer_subject(w.c), "CN=localhost") != NULL);
    /* Application data flows both ways. */
    CHECK_EQ(ho_tls_conn_write(w.c, "ping", 4), HO_OK);
    ho_buf *o = ho_tls_conn_out(w.c);
    CHECK_EQ(ho_tls_conn_receive(w.s, o->data, o->len), HO_OK);
    ho_buf_consume(o, o->len);
    CHECK(ho_tls_conn_app_in(w.s)->len == 4 && memcmp(ho_tls_conn_app_in(w.s)->data, "ping", 4) == 0);
    wire_free(&w, ccfg, scfg);
}

static void test_optional(void)
{
    struct wire w;
    ho_tls_config *ccfg, *scfg;
    /* Without a certificate: accepted, no peer. */
    wire_handshake(HO_TLS_CLIENT_AUTH_OPTIONAL, NULL, &w, &ccfg, &scfg);
    CHECK_EQ(w.cerr, HO_OK);
    CHECK_EQ(w.serr, HO_OK);
    CHECK(ho_tls_conn_handshake_done(w.s));
    CHECK(ho_tls_conn_peer_subject(w.s) == NULL);
    CHECK_EQ(ho_tls_client_cert_status(ho_tls_conn_tls(w.s)), 0);
    wire_free(&w, ccfg, scfg);
    /* With one: verified and named. */
    wire_handshake(HO_TLS_CLIENT_AUTH_OPTIONAL, "client", &w, &ccfg, &scfg);
    CHECK_EQ(w.serr, HO_OK);
    CHECK(ho_tls_conn_peer_subject(w.s) != NULL && strstr(ho_tls_conn_peer_subject(w.s), "CN=alice") != NULL);
    wire_free(&w, ccfg, scfg);
    /* Off (the default): no request; a client with a certificate keeps it. */
    wire_handshake(HO_TLS_CLIENT_AUTH_NONE, "client", &w, &ccfg, &scfg);
    CHECK_EQ(w.serr, HO_OK);
    CHECK_EQ(w.cerr, HO_OK);
    CHECK(ho_tls_conn_peer_subject(w.s) == NULL);
    wire_free(&w, ccfg, scfg);
}

/* A refused client: the server's alert, and the client receiving it. */
static void check_refused(ho_tls_client_auth mode, const char *who, uint8_t alert)
{
    struct wire w;
    ho_tls_config *ccfg, *scfg;
    wire_handshake(mode, who, &w, &ccfg, &scfg);
    CHECK_EQ(w.serr, HO_ERR_TLS_ALERT(alert));
    CHECK_EQ(w.cerr, HO_ERR_TLS_PEER_ALERT(alert));
    CHECK(ho_tls_conn_peer_subject(w.s) == NULL);
    CHECK_EQ(ho_tls_client_cert_status(ho_tls_conn_tls(w.s)), -1);
    wire_free(&w, ccfg, scfg);
}

static void test_required_without_cert(void)
{
    check_refused(HO_TLS_CLIENT_AUTH_REQUIRED, NULL, HO_ALERT_CERTIFICATE_REQUIRED);
}

static void test_unknown_ca(void)
{
    check_refused(HO_TLS_CLIENT_AUTH_REQUIRED, "other", HO_ALERT_UNKNOWN_CA);
    /* Optional mode does not accept a certificate it cannot verify either. */
    check_refused(HO_TLS_CLIENT_AUTH_OPTIONAL, "other", HO_ALERT_UNKNOWN_CA);
}

static void test_expired(void)
{
    check_refused(HO_TLS_CLIENT_AUTH_REQUIRED, "expired", HO_ALERT_CERTIFICATE_EXPIRED);
}

/* ---- in the engine: forged client flights ----------------------------- */

/* Rewrites the client's second flight (handshake epoch) before the server
 * reads it. */
typedef void (*mangle_fn)(ho_buf *flight);
static mangle_fn current_mangle;

static void mangle_handshake(ho_epoch epoch, ho_buf *flight)
{
    if (epoch == HO_EPOCH_HANDSHAKE && current_mangle != NULL)
        current_mangle(flight);
}

static void run_mangled(struct tls_pair *p, mangle_fn mangle)
{
    current_mangle = mangle;
    p->client_err = ho_tls_start(p->client, &p->cout);
    pair_pump(p, mangle_handshake, NULL);
}

/* Rebuilds the flight keeping message i unless drop[i]; replace (if not
 * NULL) gives a message to put in place of the Certificate. */
static void rebuild(ho_buf *flight, uint8_t drop_type, const ho_buf *replace_cert)
{
    struct tb_msgs m;
    CHECK(tb_split(flight->data, flight->len, &m));
    ho_buf nb;
    ho_buf_init(&nb);
    for (size_t i = 0; i < m.n; i++) {
        if (m.p[i][0] == drop_type)
            continue;
        if (m.p[i][0] == HO_HS_CERTIFICATE && replace_cert != NULL)
            ho_put_bytes(&nb, replace_cert->data, replace_cert->len);
        else
            ho_put_bytes(&nb, m.p[i], m.len[i]);
    }
    flight->len = 0;
    ho_put_bytes(flight, nb.data, nb.len);
    ho_buf_free(&nb);
}

static void flip_cv_signature(ho_buf *flight)
{
    struct tb_msgs m;
    CHECK(tb_split(flight->data, flight->len, &m));
    bool found = false;
    for (size_t i = 0; i < m.n; i++)
        if (m.p[i][0] == HO_HS_CERTIFICATE_VERIFY) {
            /* The last byte of the signature (the message's last byte). */
            flight->data[(size_t)(m.p[i] - flight->data) + m.len[i] - 1] ^= 0x01;
            found = true;
        }
    CHECK(found);
}

static void garbage_certificate(ho_buf *flight)
{
    static const uint8_t junk[] = {0x30, 0x82, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef};
    ho_buf body, msg;
    ho_buf_init(&body);
    ho_buf_init(&msg);
    ho_put_u8(&body, 0); /* context */
    size_t list = ho_block_open(&body, 3), c = ho_block_open(&body, 3);
    ho_put_bytes(&body, junk, sizeof(junk));
    ho_block_close(&body, c);
    ho_put_u16(&body, 0);
    ho_block_close(&body, list);
    tb_msg(&msg, HO_HS_CERTIFICATE, body.data, body.len);
    rebuild(flight, HO_HS_CERTIFICATE_VERIFY, &msg);
    ho_buf_free(&body);
    ho_buf_free(&msg);
}

static void drop_certificate(ho_buf *flight)
{
    rebuild(flight, HO_HS_CERTIFICATE, NULL);
    rebuild(flight, HO_HS_CERTIFICATE_VERIFY, NULL);
}

static void certificate_context(ho_buf *flight)
{
    struct tb_msgs m;
    CHECK(tb_split(flight->data, flight->len, &m));
    ho_buf nb;
    ho_buf_init(&nb);
    for (size_t i = 0; i < m.n; i++) {
        if (m.p[i][0] == HO_HS_CERTIFICATE) {
            /* One context byte more than the (empty) context we sent. */
            ho_buf body;
            ho_buf_init(&body);
            ho_put_u8(&body, 1);
            ho_put_u8(&body, 7);
            ho_put_bytes(&body, m.p[i] + 5, m.len[i] - 5);
            tb_msg(&nb, HO_HS_CERTIFICATE, body.data, body.len);
            ho_buf_free(&body);
        } else {
            ho_put_bytes(&nb, m.p[i], m.len[i]);
        }
    }
    flight->len = 0;
    ho_put_bytes(flight, nb.data, nb.len);
    ho_buf_free(&nb);
}

static int mangled_server_error(ho_tls_client_auth mode, const char *who, mangle_fn mangle, int *status)
{
    ho_tls_config *scfg = server_cfg(mode), *ccfg = client_cfg(who);
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    run_mangled(&p, mangle);
    int err = p.server_err;
    if (status != NULL)
        *status = ho_tls_client_cert_status(p.server);
    CHECK(ho_tls_get_peer_subject(p.server) == NULL);
    pair_free(&p);
    ho_tls_config_free(ccfg);
    ho_tls_config_free(scfg);
    return err;
}

static void test_bad_certificate_verify(void)
{
    int status = 0;
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_REQUIRED, "client", flip_cv_signature, &status),
             HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR));
    CHECK_EQ(status, -1);
}

static void test_bad_certificate(void)
{
    int status = 0;
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_REQUIRED, "client", garbage_certificate, &status),
             HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
    CHECK_EQ(status, -1);
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_OPTIONAL, "client", garbage_certificate, NULL),
             HO_ERR_TLS_ALERT(HO_ALERT_BAD_CERTIFICATE));
}

static void test_protocol_violations(void)
{
    /* §4.4.2: the requested Certificate missing before Finished. */
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_OPTIONAL, "client", drop_certificate, NULL),
             HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
    /* A context that is not our request's. */
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_REQUIRED, "client", certificate_context, NULL),
             HO_ERR_TLS_ALERT(HO_ALERT_ILLEGAL_PARAMETER));
}

/* A Certificate the server did not ask for is unexpected_message. */
static void add_unrequested_certificate(ho_buf *flight)
{
    ho_buf nb;
    ho_buf_init(&nb);
    static const uint8_t empty_cert[] = {0, 0, 0, 0};
    tb_msg(&nb, HO_HS_CERTIFICATE, empty_cert, sizeof(empty_cert));
    ho_put_bytes(&nb, flight->data, flight->len);
    flight->len = 0;
    ho_put_bytes(flight, nb.data, nb.len);
    ho_buf_free(&nb);
}

static void test_unrequested_certificate(void)
{
    CHECK_EQ(mangled_server_error(HO_TLS_CLIENT_AUTH_NONE, "client", add_unrequested_certificate, NULL),
             HO_ERR_TLS_ALERT(HO_ALERT_UNEXPECTED_MESSAGE));
}

/* ---- the CertificateRequest itself ------------------------------------ */

static bool find_msg(const ho_buf *b, uint8_t type, ho_cursor *body)
{
    struct tb_msgs m;
    if (b->len == 0 || !tb_split(b->data, b->len, &m))
        return false;
    for (size_t i = 0; i < m.n; i++)
        if (m.p[i][0] == type) {
            *body = ho_cursor_make(m.p[i] + 4, m.len[i] - 4);
            return true;
        }
    return false;
}

static void test_certificate_request_contents(void)
{
    ho_tls_config *scfg = server_cfg(HO_TLS_CLIENT_AUTH_REQUIRED), *ccfg = client_cfg("client");
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout), HO_OK);
    ho_cursor cr, ctx, exts;
    CHECK(find_msg(&p.sout.send[HO_EPOCH_HANDSHAKE], HO_HS_CERTIFICATE_REQUEST, &cr));
    /* §4.3.2: empty context, then extensions. */
    CHECK(ho_get_block(&cr, 1, &ctx) && ctx.len == 0);
    CHECK(ho_get_block(&cr, 2, &exts) && ho_cursor_empty(&cr));
    bool sigs = false, cas = false;
    uint16_t type;
    ho_cursor body;
    while (ho_get_u16(&exts, &type) && ho_get_block(&exts, 2, &body)) {
        if (type == 13)
            sigs = true;
        if (type == 47) {
            /* One DistinguishedName: the CA's subject, DER. */
            ho_cursor list, dn;
            CHECK(ho_get_block(&body, 2, &list) && ho_get_block(&list, 2, &dn) && ho_cursor_empty(&list));
            ho_cert_chain ca = {0};
            CHECK_EQ(ho_cert_chain_load_file(&ca, ho_test_data("mtls/client-ca.crt")), HO_OK);
            /* The subject's DER sits inside the certificate. */
            bool inside = false;
            for (size_t i = 0; ca.count > 0 && dn.len > 0 && i + dn.len <= ca.len[0] && !inside; i++)
                inside = memcmp(ca.der[0] + i, dn.p, dn.len) == 0;
            CHECK(inside);
            ho_cert_chain_free(&ca);
            cas = true;
        }
    }
    CHECK(sigs && cas);
    /* The order of the server's flight: EE, CertificateRequest, Certificate. */
    struct tb_msgs m;
    CHECK(tb_split(p.sout.send[HO_EPOCH_HANDSHAKE].data, p.sout.send[HO_EPOCH_HANDSHAKE].len, &m));
    CHECK(m.n >= 3 && m.p[0][0] == HO_HS_ENCRYPTED_EXTENSIONS && m.p[1][0] == HO_HS_CERTIFICATE_REQUEST &&
          m.p[2][0] == HO_HS_CERTIFICATE);
    pair_free(&p);
    ho_tls_config_free(ccfg);
    ho_tls_config_free(scfg);
}

/* ---- resumption ------------------------------------------------------- */

static ho_buf saved_session;
static void on_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)tls;
    saved_session.len = 0;
    ho_put_bytes(&saved_session, blob, len);
}

/* A full handshake that keeps a ticket, then a resumption with it:
 * returns whether the second one resumed and whether the server asked for
 * a certificate in it. */
static void resume_once(ho_tls_config *scfg, const char *first_who, const char *second_who, bool *resumed,
                        bool *asked, char *subject, size_t subject_len)
{
    ho_tls_callbacks cb = {.session = on_session};
    ho_tls_config *c1 = client_cfg(first_who), *c2 = client_cfg(second_who);
    ho_tls_config_set_callbacks(c1, &cb);
    ho_tls_config_set_callbacks(c2, &cb);
    saved_session.len = 0;
    struct tls_pair p;
    pair_init(&p, c1, scfg, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(saved_session.len > 0);
    pair_free(&p);

    pair_init(&p, c2, scfg, "localhost");
    CHECK_EQ(ho_tls_set_session(p.client, saved_session.data, saved_session.len), HO_OK);
    CHECK_EQ(ho_tls_start(p.client, &p.cout), HO_OK);
    ho_buf *ch = &p.cout.send[HO_EPOCH_INITIAL];
    CHECK_EQ(ho_tls_handle(p.server, HO_EPOCH_INITIAL, ch->data, ch->len, &p.sout), HO_OK);
    ho_cursor cr;
    *asked = find_msg(&p.sout.send[HO_EPOCH_HANDSHAKE], HO_HS_CERTIFICATE_REQUEST, &cr);
    ch->len = 0;
    /* Finish it: deliver the server's flight and the client's answer. */
    pair_pump(&p, NULL, NULL);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_handshake_done(p.server));
    *resumed = ho_tls_is_resumed(p.server);
    const char *s = ho_tls_get_peer_subject(p.server);
    snprintf(subject, subject_len, "%s", s ? s : "");
    pair_free(&p);
    ho_tls_config_free(c1);
    ho_tls_config_free(c2);
}

static void test_resumption(void)
{
    ho_tls_config *scfg = server_cfg(HO_TLS_CLIENT_AUTH_REQUIRED);
    bool resumed, asked;
    char subj[512];
    /* §4.3.2: a resumption sends no CertificateRequest; the ticket carries
     * the identity proved on the full handshake, so the client resumes
     * even without its certificate at hand. */
    resume_once(scfg, "client", NULL, &resumed, &asked, subj, sizeof(subj));
    CHECK(resumed);
    CHECK(!asked);
    CHECK(strstr(subj, "CN=alice") != NULL);
    ho_tls_config_free(scfg);

    /* An optional-mode ticket without a certificate: no identity resumed. */
    scfg = server_cfg(HO_TLS_CLIENT_AUTH_OPTIONAL);
    resume_once(scfg, NULL, NULL, &resumed, &asked, subj, sizeof(subj));
    CHECK(resumed && !asked && subj[0] == '\0');
    ho_tls_config_free(scfg);
}

/* A ticket without an identity does not resume where one is required: a
 * full handshake asks for the certificate. Two configs share ticket keys. */
static void test_required_refuses_anonymous_ticket(void)
{
    static const uint8_t secret[32] = {1, 2, 3};
    ho_tls_config *opt = server_cfg(HO_TLS_CLIENT_AUTH_OPTIONAL), *req = server_cfg(HO_TLS_CLIENT_AUTH_REQUIRED);
    CHECK_EQ(ho_tls_config_set_ticket_keys(opt, secret, 1), HO_OK);
    CHECK_EQ(ho_tls_config_set_ticket_keys(req, secret, 1), HO_OK);
    ho_tls_callbacks cb = {.session = on_session};
    ho_tls_config *c1 = client_cfg(NULL), *c2 = client_cfg("client");
    ho_tls_config_set_callbacks(c1, &cb);
    saved_session.len = 0;
    struct tls_pair p;
    pair_init(&p, c1, opt, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(saved_session.len > 0);
    pair_free(&p);
    pair_init(&p, c2, req, "localhost");
    CHECK_EQ(ho_tls_set_session(p.client, saved_session.data, saved_session.len), HO_OK);
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(!ho_tls_is_resumed(p.server));
    CHECK(ho_tls_get_peer_subject(p.server) != NULL && strstr(ho_tls_get_peer_subject(p.server), "CN=alice"));
    pair_free(&p);
    ho_tls_config_free(c1);
    ho_tls_config_free(c2);
    ho_tls_config_free(opt);
    ho_tls_config_free(req);
}

/* After a HelloRetryRequest the CertificateRequest goes out once, in the
 * flight that answers the second ClientHello. */
static void test_after_hrr(void)
{
    ho_tls_config *scfg = server_cfg(HO_TLS_CLIENT_AUTH_REQUIRED), *ccfg = client_cfg("client");
    static const uint16_t p256[] = {HO_GROUP_SECP256R1};
    CHECK_EQ(ho_tls_config_set_groups(scfg, p256, 1), HO_OK);
    struct tls_pair p;
    pair_init(&p, ccfg, scfg, "localhost");
    pair_run(&p);
    CHECK_EQ(p.client_err, HO_OK);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_did_hrr(p.server));
    CHECK(ho_tls_get_peer_subject(p.server) != NULL && strstr(ho_tls_get_peer_subject(p.server), "CN=alice"));
    pair_free(&p);
    ho_tls_config_free(ccfg);
    ho_tls_config_free(scfg);
}

/* A server with client authentication off reports no peer, even when the
 * ticket it resumes (same ticket keys) carries a subject. */
static void test_off_ignores_ticket_subject(void)
{
    static const uint8_t secret[32] = {9, 8, 7};
    ho_tls_config *req = server_cfg(HO_TLS_CLIENT_AUTH_REQUIRED), *off = server_cfg(HO_TLS_CLIENT_AUTH_NONE);
    CHECK_EQ(ho_tls_config_set_ticket_keys(req, secret, 1), HO_OK);
    CHECK_EQ(ho_tls_config_set_ticket_keys(off, secret, 1), HO_OK);
    ho_tls_callbacks cb = {.session = on_session};
    ho_tls_config *c1 = client_cfg("client"), *c2 = client_cfg(NULL);
    ho_tls_config_set_callbacks(c1, &cb);
    saved_session.len = 0;
    struct tls_pair p;
    pair_init(&p, c1, req, "localhost");
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(saved_session.len > 0);
    pair_free(&p);
    pair_init(&p, c2, off, "localhost");
    CHECK_EQ(ho_tls_set_session(p.client, saved_session.data, saved_session.len), HO_OK);
    pair_run(&p);
    CHECK_EQ(p.server_err, HO_OK);
    CHECK(ho_tls_is_resumed(p.server));
    CHECK(ho_tls_get_peer_subject(p.server) == NULL);
    CHECK_EQ(ho_tls_client_cert_status(p.server), 0);
    pair_free(&p);
    ho_tls_config_free(c1);
    ho_tls_config_free(c2);
    ho_tls_config_free(req);
    ho_tls_config_free(off);
}

static void test_config_api(void)
{
    ho_tls_config *c = ho_tls_config_new(false);
    CHECK_EQ(ho_tls_config_set_client_auth(c, HO_TLS_CLIENT_AUTH_REQUIRED, ho_test_data("mtls/client-ca.crt")),
             HO_ERR_INVALID_ARG);
    ho_tls_config_free(c);
    ho_tls_config *s = ho_tls_config_new(true);
    CHECK_EQ(ho_tls_config_get_client_auth(s), HO_TLS_CLIENT_AUTH_NONE);
    CHECK_EQ(ho_tls_config_set_client_auth(s, HO_TLS_CLIENT_AUTH_REQUIRED, NULL), HO_ERR_INVALID_ARG);
    CHECK(ho_tls_config_set_client_auth(s, HO_TLS_CLIENT_AUTH_REQUIRED, "/nonexistent/ca.pem") != HO_OK);
    CHECK_EQ(ho_tls_config_get_client_auth(s), HO_TLS_CLIENT_AUTH_NONE);
    CHECK_EQ(ho_tls_config_set_client_auth(s, (ho_tls_client_auth)7, ho_test_data("mtls/client-ca.crt")),
             HO_ERR_INVALID_ARG);
    CHECK_EQ(ho_tls_config_set_client_auth(s, HO_TLS_CLIENT_AUTH_OPTIONAL, ho_test_data("mtls/client-ca.crt")), HO_OK);
    CHECK_EQ(ho_tls_config_get_client_auth(s), HO_TLS_CLIENT_AUTH_OPTIONAL);
    CHECK_EQ(ho_tls_config_set_client_auth(s, HO_TLS_CLIENT_AUTH_NONE, NULL), HO_OK);
    ho_tls_config_free(s);
    char subj[256];
    CHECK_EQ(ho_cert_subject(srv_chain.der[0], srv_chain.len[0], subj, sizeof(subj)), HO_OK);
    CHECK(strcmp(subj, "CN=localhost") == 0);
    /* Cut, still terminated. */
    CHECK_EQ(ho_cert_subject(srv_chain.der[0], srv_chain.len[0], subj, 4), HO_OK);
    CHECK(strcmp(subj, "CN=") == 0);
    static const uint8_t junk[] = {0x30, 0x03, 0x01, 0x01, 0x00};
    CHECK_EQ(ho_cert_subject(junk, sizeof(junk), subj, sizeof(subj)), HO_ERR_CERT_BAD);
}

int main(void)
{
    setup();
    ho_buf_init(&saved_session);
    RUN(test_required_ok);
    RUN(test_optional);
    RUN(test_required_without_cert);
    RUN(test_unknown_ca);
    RUN(test_expired);
    RUN(test_bad_certificate_verify);
    RUN(test_bad_certificate);
    RUN(test_protocol_violations);
    RUN(test_unrequested_certificate);
    RUN(test_certificate_request_contents);
    RUN(test_resumption);
    RUN(test_required_refuses_anonymous_ticket);
    RUN(test_after_hrr);
    RUN(test_off_ignores_ticket_subject);
    RUN(test_config_api);
    ho_buf_free(&saved_session);
    ho_cert_chain_free(&srv_chain);
    ho_privkey_free(srv_key);
    return ho_test_summary("test_tls_mtls");
}
