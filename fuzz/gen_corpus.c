/* Writes the seed corpora: gen_corpus OUTDIR [TESTDATA_DIR]
 *   OUTDIR/fuzz_tls_server/  ClientHellos from our own client (each suite,
 *                            each group, ALPN, SNI or none, HRR second
 *                            ClientHello, PSK offers) as [split][bytes];
 *   OUTDIR/fuzz_tls_client/  server flights recorded from in-memory
 *                            handshakes against the fuzz client, as
 *                            [epoch][u16 len][bytes] chunks;
 *   OUTDIR/fuzz_tls_record/  what our client sends over TCP to the target's
 *                            server (records), as [split][bytes];
 *   OUTDIR/fuzz_cursor/      a few reader programs.
 * Every TLS seed is checked by running it through the target's own driver
 * (fuzz_common.h): server seeds must produce a flight, client seeds must
 * complete the handshake. TESTDATA_DIR (default build/testdata, written by
 * scripts/gen-testdata.sh) provides an RSA certificate
 * (arena/certs/server.{crt,key}); without it those seeds are skipped. ClientHellos of other implementations come from
 * fuzz/capture-hellos.py; `gen_corpus --check FILE...` runs server seeds
 * through the target's driver and prints what the server said. */
#include "fuzz_common.h"
#include "../tests/tls_builder.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *outdir;
static int written, failures;

static void write_seed(const char *target, const char *name, const uint8_t *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", outdir, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        fuzz_die(path);
    snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0)
        fuzz_die(path);
    written++;
}

/* What a handshake between a client and a server put on the wire. */
struct trace {
    ho_buf client_hellos; /* every client byte at the initial epoch */
    ho_buf server_chunks; /* every server output, as fuzz_tls_client chunks */
    ho_buf server_msgs;   /* same, one chunk per handshake message */
    bool done;
};

static void add_chunk(ho_buf *b, int epoch, const uint8_t *p, size_t n)
{
    ho_put_u8(b, (uint8_t)epoch);
    ho_put_u16(b, (uint16_t)n);
    ho_put_bytes(b, p, n);
}

static void record_server(struct trace *t, int epoch, const uint8_t *p, size_t n)
{
    add_chunk(&t->server_chunks, epoch, p, n);
    for (size_t off = 0; off + 4 <= n;) {
        size_t m = 4 + ((size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3]);
        add_chunk(&t->server_msgs, epoch, p + off, m);
        off += m;
    }
}

/* The last session a client got (config callback). */
static struct { uint8_t blob[4096]; size_t len; } last_session;

static void keep_session(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len)
{
    (void)ctx, (void)tls;
    if (len <= sizeof(last_session.blob)) {
        memcpy(last_session.blob, blob, len);
        last_session.len = len;
    }
}

/* Runs a handshake like tests/tls_pair.h, recording both directions. The
 * randomness is rewound first, as the fuzz drivers do, so the client sends
 * the ClientHello the client target's client sends. `offer`: a session to
 * offer. `key_update`: the server also sends a KeyUpdate (update_requested)
 * after its tickets. */
static void run_pair(ho_tls_config *ccfg, ho_tls_config *scfg, const char *name, const uint8_t *offer,
                     size_t offer_len, bool key_update, struct trace *t)
{
    memset(t, 0, sizeof(*t));
    ho_buf_init(&t->client_hellos);
    ho_buf_init(&t->server_chunks);
    ho_buf_init(&t->server_msgs);
    fuzz_rng_reset();
    ho_tls *c = ho_tls_new(ccfg, name), *s = ho_tls_new(scfg, NULL);
    if (c == NULL || s == NULL)
        fuzz_die("ho_tls_new");
    ho_tls_set_now(c, FUZZ_NOW_MS);
    ho_tls_set_now(s, FUZZ_NOW_MS);
    if (offer != NULL && ho_tls_set_session(c, offer, offer_len) != HO_OK)
        fuzz_die("ho_tls_set_session");
    ho_tls_out cout, sout;
    ho_tls_out_init(&cout);
    ho_tls_out_init(&sout);
    int crc = ho_tls_start(c, &cout), src = HO_OK;
    for (int round = 0; round < 16; round++) {
        size_t moved = 0;
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &cout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            if (e == HO_EPOCH_INITIAL)
                ho_put_bytes(&t->client_hellos, b->data, b->len);
            if (src == HO_OK)
                src = ho_tls_handle(s, (ho_epoch)e, b->data, b->len, &sout);
            b->len = 0;
        }
        if (key_update && src == HO_OK && ho_tls_handshake_done(s)) {
            src = ho_tls_key_update(s, true, &sout);
            key_update = false;
        }
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &sout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            record_server(t, e, b->data, b->len);
            if (crc == HO_OK)
                crc = ho_tls_handle(c, (ho_epoch)e, b->data, b->len, &cout);
            b->len = 0;
        }
        if (moved == 0)
            break;
    }
    t->done = crc == HO_OK && src == HO_OK && ho_tls_handshake_done(c) && ho_tls_handshake_done(s);
    if (!t->done) {
        fprintf(stderr, "gen_corpus: handshake to %s failed: client %s, server %s\n", name, ho_err_str(crc),
                ho_err_str(src));
        failures++;
    }
    ho_tls_out_free(&cout);
    ho_tls_out_free(&sout);
    ho_tls_free(c);
    ho_tls_free(s);
}

static void trace_free(struct trace *t)
{
    ho_buf_free(&t->client_hellos);
    ho_buf_free(&t->server_chunks);
    ho_buf_free(&t->server_msgs);
}

/* ---- fuzz_tls_server seeds ------------------------------------------ */

static ho_tls_config *fuzz_server; /* the target's configuration */

static void server_seed(const char *name, const ho_buf *hellos, uint8_t split)
{
    ho_buf seed;
    ho_buf_init(&seed);
    ho_put_u8(&seed, split);
    ho_put_bytes(&seed, hellos->data, hellos->len);
    size_t produced;
    int rc = fuzz_server_run(fuzz_server, seed.data, seed.len, &produced);
    if (rc != HO_OK || produced == 0) {
        fprintf(stderr, "gen_corpus: server seed %s: %s, %zu bytes out\n", name, ho_err_str(rc), produced);
        failures++;
    }
    write_seed("fuzz_tls_server", name, seed.data, seed.len);
    ho_buf_free(&seed);
}

static void client_hello_seed(const char *name, ho_tls_config *ccfg, const char *sni, uint8_t split)
{
    struct trace t;
    run_pair(ccfg, fuzz_server, sni, NULL, 0, false, &t);
    server_seed(name, &t.client_hellos, split);
    trace_free(&t);
}

/* A first handshake of client config c with the target's server (fixed
 * ticket key) yields a session; *t traces the next one, which offers it.
 * The session callback of c is replaced. */
static void resumed_pair(ho_tls_config *c, struct trace *t)
{
    ho_tls_config_set_callbacks(c, &(ho_tls_callbacks){.session = keep_session});
    last_session.len = 0;
    run_pair(c, fuzz_server, "localhost", NULL, 0, false, t);
    trace_free(t);
    if (last_session.len == 0)
        fuzz_die("no session");
    run_pair(c, fuzz_server, "localhost", last_session.blob, last_session.len, false, t);
}

static void server_seeds(void)
{
    static const uint16_t suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                                      HO_TLS_CHACHA20_POLY1305_SHA256};
    static const char *const suite_names[] = {"aes128", "aes256", "chacha20"};
    static const uint16_t groups[] = {HO_GROUP_X25519, HO_GROUP_SECP256R1, HO_GROUP_SECP384R1};
    static const char *const group_names[] = {"x25519", "p256", "p384-hrr"};
    char name[128];

    ho_tls_config *c = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(c, false);
    client_hello_seed("ch-default", c, "localhost", 0);
    client_hello_seed("ch-default-split", c, "localhost", 37);
    client_hello_seed("ch-no-sni", c, "127.0.0.1", 0);
    client_hello_seed("ch-long-sni", c, "a-rather-long-host-name.subdomain.example.com", 0);
    for (int i = 0; i < 3; i++) {
        ho_tls_config_set_suites(c, &suites[i], 1);
        snprintf(name, sizeof(name), "ch-suite-%s", suite_names[i]);
        client_hello_seed(name, c, "localhost", 0);
    }
    ho_tls_config_free(c);

    /* One group each; P-384 is not the server's, which answers with a
     * HelloRetryRequest for P-256: the seed carries both ClientHellos. */
    for (int i = 0; i < 3; i++) {
        c = ho_tls_config_new(false);
        ho_tls_config_set_verify_peer(c, false);
        uint16_t g[2] = {groups[i], HO_GROUP_SECP256R1};
        ho_tls_config_set_groups(c, g, i == 2 ? 2 : 1);
        snprintf(name, sizeof(name), "ch-group-%s", group_names[i]);
        client_hello_seed(name, c, "localhost", 0);
        if (i == 2)
            client_hello_seed("ch-group-p384-hrr-split", c, "localhost", 200);
        ho_tls_config_free(c);
    }

    c = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(c, false);
    const char *alpn[] = {"h2", "http/1.1", "hq-interop"};
    ho_tls_config_set_alpn(c, alpn, 3);
    client_hello_seed("ch-alpn", c, "localhost", 0);
    ho_tls_config_free(c);

    /* PSK offers: a first handshake with the target's server (fixed ticket
     * key) yields a session; the next ClientHello offers it. */
    c = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(c, false);
    struct trace t;
    resumed_pair(c, &t);
    server_seed("ch-psk", &t.client_hellos, 0);
    server_seed("ch-psk-split", &t.client_hellos, 101);
    /* The ticket must open in the target's server: then a bad binder is
     * decrypt_error (an unknown ticket would just be skipped). */
    ho_buf bad;
    ho_buf_init(&bad);
    ho_put_u8(&bad, 0);
    ho_put_bytes(&bad, t.client_hellos.data, t.client_hellos.len);
    bad.data[bad.len - 1] ^= 1;
    size_t produced;
    if (fuzz_server_run(fuzz_server, bad.data, bad.len, &produced) != HO_ERR_TLS_ALERT(HO_ALERT_DECRYPT_ERROR)) {
        fprintf(stderr, "gen_corpus: the PSK offer's ticket does not open in the target's server\n");
        failures++;
    }
    ho_buf_free(&bad);
    trace_free(&t);
    /* The same offer after a HelloRetryRequest (the second ClientHello's
     * binder covers the first, the HRR and the second). */
    uint16_t g[2] = {HO_GROUP_SECP384R1, HO_GROUP_X25519};
    ho_tls_config_set_groups(c, g, 2);
    uint8_t saved[sizeof(last_session.blob)];
    size_t saved_len = last_session.len;
    memcpy(saved, last_session.blob, saved_len);
    run_pair(c, fuzz_server, "localhost", saved, saved_len, false, &t);
    server_seed("ch-psk-hrr", &t.client_hellos, 0);
    trace_free(&t);
    ho_tls_config_free(c);

    /* An offer with early_data on a ticket that allows it (the target's
     * server accepts early data): reaches the age window and the strike
     * register. */
    c = ho_tls_config_new(false);
    ho_tls_config_set_verify_peer(c, false);
    ho_tls_config_set_early_data(c, HO_TLS_EARLY_DATA_DEFAULT);
    resumed_pair(c, &t);
    server_seed("ch-psk-early-data", &t.client_hellos, 0);
    trace_free(&t);
    ho_tls_config_free(c);
}

/* ---- fuzz_tls_client seeds ------------------------------------------ */

static void client_seed(const char *name, const ho_buf *chunks)
{
    ho_tls_config *cfg = fuzz_client_config();
    bool done;
    int rc = fuzz_client_run(cfg, chunks->data, chunks->len, &done);
    if (rc != HO_OK || !done) {
        fprintf(stderr, "gen_corpus: client seed %s: %s, %s\n", name, ho_err_str(rc),
                done ? "done" : "handshake not done");
        failures++;
    }
    ho_tls_config_free(cfg);
    write_seed("fuzz_tls_client", name, chunks->data, chunks->len);
}

/* Records the flights of `scfg` against the fuzz client; writes the seed
 * as one chunk per flight and epoch, and optionally one per message. */
static void flight_seed(const char *name, ho_tls_config *scfg, bool per_message, bool key_update)
{
    ho_tls_config *ccfg = fuzz_client_config();
    struct trace t;
    run_pair(ccfg, scfg, FUZZ_SERVER_NAME, NULL, 0, key_update, &t);
    client_seed(name, &t.server_chunks);
    if (per_message) {
        char n2[128];
        snprintf(n2, sizeof(n2), "%s-msgs", name);
        client_seed(n2, &t.server_msgs);
    }
    trace_free(&t);
    ho_tls_config_free(ccfg);
}

/* The default flight again, cut into `step`-byte chunks. */
static void fragmented_seed(const char *name, ho_tls_config *scfg, size_t step)
{
    ho_tls_config *ccfg = fuzz_client_config();
    struct trace t;
    run_pair(ccfg, scfg, FUZZ_SERVER_NAME, NULL, 0, false, &t);
    ho_buf frag;
    ho_buf_init(&frag);
    ho_cursor c = ho_cursor_make(t.server_chunks.data, t.server_chunks.len), body;
    uint8_t epoch;
    while (ho_get_u8(&c, &epoch) && ho_get_block(&c, 2, &body))
        for (size_t i = 0; i < body.len; i += step)
            add_chunk(&frag, epoch, body.p + i, body.len - i < step ? body.len - i : step);
    client_seed(name, &frag);
    ho_buf_free(&frag);
    trace_free(&t);
    ho_tls_config_free(ccfg);
}

static ho_tls_config *server_variant(void)
{
    ho_tls_config *s = fuzz_server_config();
    return s;
}

static void client_seeds(const char *testdata)
{
    static const uint16_t suites[] = {HO_TLS_AES_128_GCM_SHA256, HO_TLS_AES_256_GCM_SHA384,
                                      HO_TLS_CHACHA20_POLY1305_SHA256};
    static const char *const suite_names[] = {"aes128", "aes256", "chacha20"};
    char name[128];
    ho_tls_config *s = server_variant();
    flight_seed("sf-default", s, true, false);
    flight_seed("sf-key-update", s, false, true);
    fragmented_seed("sf-default-frag7", s, 7);
    fragmented_seed("sf-default-frag1000", s, 1000);
    ho_tls_config_free(s);

    for (int i = 1; i < 3; i++) {
        s = server_variant();
        ho_tls_config_set_suites(s, &suites[i], 1);
        snprintf(name, sizeof(name), "sf-suite-%s", suite_names[i]);
        flight_seed(name, s, false, false);
        ho_tls_config_free(s);
    }

    /* The client's first share is X25519: a P-256-only server sends a
     * HelloRetryRequest, with or without a cookie. */
    for (int cookie = 0; cookie < 2; cookie++) {
        s = server_variant();
        const uint16_t p256 = HO_GROUP_SECP256R1;
        ho_tls_config_set_groups(s, &p256, 1);
        ho_tls_config_set_hrr_cookie(s, cookie);
        flight_seed(cookie ? "sf-hrr-cookie" : "sf-hrr", s, cookie == 0, false);
        ho_tls_config_free(s);
    }

    s = server_variant();
    const char *alpn = "http/1.1";
    ho_tls_config_set_alpn(s, &alpn, 1);
    ho_tls_config_set_tickets(s, 3, 600, 1000000);
    flight_seed("sf-alpn-3-tickets", s, true, false);
    ho_tls_config_free(s);

    s = server_variant();
    ho_tls_config_set_tickets(s, 0, 0, 0);
    flight_seed("sf-no-tickets", s, false, false);
    ho_tls_config_free(s);

    /* A CertificateRequest (signature_algorithms, certificate_authorities
     * naming the fixed certificate) in the flight; the client answers with
     * an empty Certificate. */
    char ca[] = "/tmp/gen_corpus-ca-XXXXXX";
    int fd = mkstemp(ca);
    if (fd < 0 || write(fd, fuzz_cert_pem, sizeof(fuzz_cert_pem) - 1) != (ssize_t)(sizeof(fuzz_cert_pem) - 1))
        fuzz_die("CA file");
    close(fd);
    s = server_variant();
    if (ho_tls_config_set_client_auth(s, HO_TLS_CLIENT_AUTH_OPTIONAL, ca) != HO_OK)
        fuzz_die("client auth");
    flight_seed("sf-certificate-request", s, true, false);
    ho_tls_config_free(s);
    unlink(ca);

    /* RSA certificate (RSA-PSS signatures), if the test data has one. */
    char crt[4096], key[4096];
    snprintf(crt, sizeof(crt), "%s/arena/certs/server.crt", testdata);
    snprintf(key, sizeof(key), "%s/arena/certs/server.key", testdata);
    s = ho_tls_config_new(true);
    if (ho_tls_config_load_cert_files(s, crt, key) == HO_OK)
        flight_seed("sf-rsa", s, false, false);
    else
        fprintf(stderr, "gen_corpus: no %s: RSA seed skipped\n", crt);
    ho_tls_config_free(s);
}

/* ---- fuzz_cursor seeds ---------------------------------------------- */

static void cursor_seeds(void)
{
    /* ops: 0 u8, 1 u16, 2 u24, 3 u32, 4 u64, 5 varint, 6 bytes, 7 copy,
     * 8 skip, 9 block (width 1 + (op >> 4) % 3), 10 varint block, 11 close */
    static const uint8_t fixed[] = {0, 0xaa, 1, 1, 2, 2, 1, 2, 3, 3, 0, 0, 0, 1, 4, 1, 2, 3, 4, 5, 6, 7, 8};
    static const uint8_t varints[] = {5, 0x25, 5, 0x7b, 0xbd, 5, 0x9d, 0x7f, 0x3e, 0x7d,
                                      5, 0xc2, 0x19, 0x7c, 0x5e, 0xff, 0x14, 0xe8, 0x8c, 5, 0x40, 0x01};
    static const uint8_t blocks[] = {9, 3, 'a', 'b', 'c', 0x19, 0, 2, 'h', '2', 0x29, 0, 0, 1, 'x',
                                     10, 2, 'h', 'i', 11, 11, 11, 6, 2, 'o', 'k', 7, 1, 'z', 8, 0};
    static const uint8_t nested[] = {9, 10, 9, 8, 9, 6, 9, 4, 9, 2, 9, 0, 11, 11, 11, 11, 11, 11};
    static const uint8_t short_reads[] = {4, 1, 2, 3, 0x19, 0xff, 0xff, 1, 10, 0x80, 0, 0, 9};
    write_seed("fuzz_cursor", "fixed", fixed, sizeof(fixed));
    write_seed("fuzz_cursor", "varints", varints, sizeof(varints));
    write_seed("fuzz_cursor", "blocks", blocks, sizeof(blocks));
    write_seed("fuzz_cursor", "nested", nested, sizeof(nested));
    write_seed("fuzz_cursor", "short-reads", short_reads, sizeof(short_reads));
}

/* ---- fuzz_tls_record seeds ------------------------------------------ */

static void move_out(ho_tls_conn *from, ho_tls_conn *to, ho_buf *record, int *to_rc)
{
    ho_buf *o = ho_tls_conn_out(from);
    if (o->len == 0)
        return;
    if (record != NULL)
        ho_put_bytes(record, o->data, o->len);
    if (*to_rc == HO_OK)
        *to_rc = ho_tls_conn_receive(to, o->data, o->len);
    ho_buf_consume(o, o->len);
}

/* A record-layer handshake of our client with the target's server, the
 * server's randomness rewound like the target's; the seed is everything the client sent: ClientHello,
 * Finished, application data, optionally a KeyUpdate, and close_notify. */
static void record_seed(const char *name, ho_tls_config *ccfg, bool key_update, uint8_t split)
{
    fuzz_rng_reset();
    ho_tls_conn *cc = ho_tls_conn_new(ccfg, FUZZ_SERVER_NAME);
    ho_tls_set_now(ho_tls_conn_tls(cc), FUZZ_NOW_MS);
    int crc = ho_tls_conn_start(cc), src = HO_OK;
    ho_tls_conn *sc = ho_tls_conn_new(fuzz_server, NULL);
    ho_tls_set_now(ho_tls_conn_tls(sc), FUZZ_NOW_MS);
    ho_buf seed;
    ho_buf_init(&seed);
    ho_put_u8(&seed, split);
    bool sent_app = false;
    for (int round = 0; round < 16 && crc == HO_OK && src == HO_OK; round++) {
        /* The target's server draws from a rewound generator when it first
         * needs randomness (the ServerHello after a ClientHello, or after a
         * HelloRetryRequest and the second ClientHello): rewind here too,
         * after the client's own draws, so the keys come out the same. */
        if (!ho_tls_conn_handshake_done(sc))
            fuzz_rng_reset();
        move_out(cc, sc, &seed, &src);
        move_out(sc, cc, NULL, &crc);
        if (ho_tls_conn_handshake_done(cc) && !sent_app && crc == HO_OK) {
            static const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
            crc = ho_tls_conn_write(cc, req, sizeof(req) - 1);
            if (crc == HO_OK && key_update)
                crc = ho_tls_conn_key_update(cc, true);
            if (crc == HO_OK)
                crc = ho_tls_conn_write(cc, "after", 5);
            if (crc == HO_OK)
                crc = ho_tls_conn_close(cc);
            sent_app = true;
        }
    }
    move_out(cc, sc, &seed, &src);
    if (!sent_app || crc != HO_OK) {
        fprintf(stderr, "gen_corpus: record handshake %s failed: client %s, server %s\n", name, ho_err_str(crc),
                ho_err_str(src));
        failures++;
    }
    ho_tls_conn_free(cc);
    ho_tls_conn_free(sc);
    bool done;
    size_t app;
    int rc = fuzz_record_run(fuzz_server, seed.data, seed.len, &done, &app);
    if (rc != HO_ERR_CLOSED || !done || app == 0) {
        fprintf(stderr, "gen_corpus: record seed %s: %s, %s, %zu app bytes\n", name, ho_err_str(rc),
                done ? "done" : "not done", app);
        failures++;
    }
    write_seed("fuzz_tls_record", name, seed.data, seed.len);
    ho_buf_free(&seed);
}

static void record_seeds(void)
{
    ho_tls_config *c = fuzz_client_config();
    record_seed("rec-default", c, false, 0);
    record_seed("rec-default-split", c, false, 90);
    record_seed("rec-key-update", c, true, 0);
    ho_tls_config_free(c);
    /* P-384 first: HelloRetryRequest and a second ClientHello record. */
    c = fuzz_client_config();
    uint16_t g[2] = {HO_GROUP_SECP384R1, HO_GROUP_X25519};
    ho_tls_config_set_groups(c, g, 2);
    record_seed("rec-hrr", c, false, 0);
    ho_tls_config_free(c);
}

/* ---- RFC 8446 conformance seeds (issue 10) ---------------------------- */

/* A plaintext record around body. */
static void put_record(ho_buf *b, uint8_t type, const uint8_t *body, size_t len)
{
    ho_put_u8(b, type);
    ho_put_u16(b, 0x0303);
    ho_put_u16(b, (uint16_t)len);
    ho_put_bytes(b, body, len);
}

/* A fuzz_tls_server seed from a built ClientHello; `answered`: the server
 * must reply (else it must refuse, which is the case's point). */
static void built_server_seed(const char *name, const struct tb_client_hello *ch, bool answered)
{
    ho_buf m, seed;
    ho_buf_init(&m);
    ho_buf_init(&seed);
    tb_ch_build(ch, &m);
    ho_put_u8(&seed, 0);
    ho_put_bytes(&seed, m.data, m.len);
    size_t produced;
    int rc = fuzz_server_run(fuzz_server, seed.data, seed.len, &produced);
    if ((rc == HO_OK && produced > 0) != answered) {
        fprintf(stderr, "gen_corpus: server seed %s: %s, %zu bytes out\n", name, ho_err_str(rc), produced);
        failures++;
    }
    write_seed("fuzz_tls_server", name, seed.data, seed.len);
    ho_buf_free(&m);
    ho_buf_free(&seed);
}

static void conformance_seeds(void)
{
    crypto_kex *kex = crypto_kex_new(HO_GROUP_X25519);
    if (kex == NULL)
        fuzz_die("kex");
    struct tb_client_hello ch;
    /* §4.2.3: 213 signature schemes, the usable one last. */
    uint16_t v[213];
    for (int i = 0; i < 212; i++)
        v[i] = (uint16_t)(0x0a00 + i);
    v[212] = HO_SIG_ECDSA_SECP256R1_SHA256;
    tb_ch_init(&ch, kex, FUZZ_SERVER_NAME);
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SIGNATURE_ALGORITHMS, 2, v, 213);
    built_server_seed("ch-sigs-213", &ch, true);
    /* §4.2.7: 100 unknown groups before X25519. */
    for (int i = 0; i < 100; i++)
        v[i] = (uint16_t)(0x2a00 + i);
    v[100] = HO_GROUP_X25519;
    tb_ch_init(&ch, kex, FUZZ_SERVER_NAME);
    tb_ext_set_u16_list(&ch.ext, TB_EXT_SUPPORTED_GROUPS, 2, v, 101);
    built_server_seed("ch-groups-101", &ch, true);
    /* App. D.5: legacy_version 0x0300 → protocol_version. */
    tb_ch_init(&ch, kex, FUZZ_SERVER_NAME);
    ch.legacy_version = 0x0300;
    built_server_seed("ch-legacy-version-0300", &ch, false);

    /* Record seeds: early data offered then undecryptable records (§4.2.10,
     * skipped); a ClientHello split with a change_cipher_spec between the
     * pieces (§5.1, refused); a zero-length alert (§5.1, refused). */
    ho_buf m, seed;
    ho_buf_init(&m);
    ho_buf_init(&seed);
    tb_ch_init(&ch, kex, FUZZ_SERVER_NAME);
    tb_ext_add(&ch.ext, TB_EXT_EARLY_DATA, NULL, 0);
    tb_ch_build(&ch, &m);
    ho_put_u8(&seed, 0);
    put_record(&seed, 22, m.data, m.len);
    uint8_t junk[200];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 29 + 3);
    for (int i = 0; i < 3; i++)
        put_record(&seed, 23, junk, sizeof(junk));
    write_seed("fuzz_tls_record", "rec-early-data-skipped", seed.data, seed.len);
    seed.len = 0;
    ho_put_u8(&seed, 0);
    put_record(&seed, 22, m.data, 20);
    const uint8_t one = 1;
    put_record(&seed, 20, &one, 1);
    put_record(&seed, 22, m.data + 20, m.len - 20);
    write_seed("fuzz_tls_record", "rec-ch-interleaved-ccs", seed.data, seed.len);
    seed.len = 0;
    ho_put_u8(&seed, 0);
    put_record(&seed, 21, NULL, 0);
    write_seed("fuzz_tls_record", "rec-zero-length-alert", seed.data, seed.len);
    ho_buf_free(&m);
    ho_buf_free(&seed);
    crypto_kex_free(kex);
}

/* gen_corpus --check FILE...: runs fuzz_tls_server seeds (such as the
 * captured ClientHellos) through the target's driver and prints the result. */
static int check_files(int n, char **files)
{
    int bad = 0;
    for (int i = 0; i < n; i++) {
        static uint8_t buf[1 << 16];
        FILE *f = fopen(files[i], "rb");
        size_t len = f != NULL ? fread(buf, 1, sizeof(buf), f) : 0;
        if (f != NULL)
            fclose(f);
        size_t produced;
        int rc = fuzz_server_run(fuzz_server, buf, len, &produced);
        printf("%s: %s, %zu bytes out\n", files[i], ho_err_str(rc), produced);
        bad += rc != HO_OK || produced == 0;
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: gen_corpus OUTDIR [TESTDATA_DIR] | gen_corpus --check SERVER_SEED...\n");
        return 2;
    }
    if (strcmp(argv[1], "--check") == 0) {
        fuzz_rng_init();
        fuzz_server = fuzz_server_config();
        int rc = check_files(argc - 2, argv + 2);
        ho_tls_config_free(fuzz_server);
        return rc;
    }
    outdir = argv[1];
    if (mkdir(outdir, 0755) != 0 && errno != EEXIST)
        fuzz_die(outdir);
    fuzz_rng_init();
    fuzz_server = fuzz_server_config();
    server_seeds();
    record_seeds();
    conformance_seeds();
    ho_tls_config_free(fuzz_server);
    client_seeds(argc > 2 ? argv[2] : "build/testdata");
    cursor_seeds();
    printf("gen_corpus: %d seeds written, %d failed their check\n", written, failures);
    return failures ? 1 : 0;
}
