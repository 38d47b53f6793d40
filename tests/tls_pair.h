/* Test helper: a client and a server ho_tls wired back to back in memory,
 * exchanging handshake bytes per epoch (no records). */
#ifndef HO_TEST_TLS_PAIR_H
#define HO_TEST_TLS_PAIR_H

#include "handoff/tls.h"
#include "crypto/prim.h"

struct secrets {
    uint8_t read[HO_EPOCH_COUNT][CRYPTO_HASH_MAX];
    uint8_t write[HO_EPOCH_COUNT][CRYPTO_HASH_MAX];
    int read_count, write_count;
};

struct tls_pair {
    ho_tls *client, *server;
    ho_tls_out cout, sout;
    struct secrets cs, ss;
    int client_err, server_err;
};

static int pair_secret_cb(void *ctx, ho_tls *tls, bool is_write, ho_epoch epoch, const ho_tls_suite *suite,
                          const uint8_t *secret)
{
    struct secrets *s = ctx;
    memcpy(is_write ? s->write[epoch] : s->read[epoch], secret, crypto_hash_len(suite->hash));
    if (is_write)
        s->write_count++;
    else
        s->read_count++;
    return HO_OK;
}

static void pair_init(struct tls_pair *p, ho_tls_config *ccfg, ho_tls_config *scfg, const char *name)
{
    memset(p, 0, sizeof(*p));
    p->client = ho_tls_new(ccfg, name);
    p->server = ho_tls_new(scfg, NULL);
    ho_tls_out_init(&p->cout);
    ho_tls_out_init(&p->sout);
    ho_tls_set_secret_cb(p->client, pair_secret_cb, &p->cs);
    ho_tls_set_secret_cb(p->server, pair_secret_cb, &p->ss);
}

/* Rewrites one of the client's flights before the server reads it. */
typedef void (*pair_mangle_fn)(ho_epoch epoch, ho_buf *flight);

/* Moves pending output both ways until nothing moves. A side stops
 * reading once it failed; with server_rc, the server reads everything and
 * each of its results lands there instead (a pending step is no error). */
static void pair_pump(struct tls_pair *p, pair_mangle_fn mangle, int *server_rc)
{
    for (int round = 0; round < 16; round++) {
        size_t moved = 0;
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p->cout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            if (mangle != NULL)
                mangle((ho_epoch)e, b);
            if (server_rc != NULL)
                *server_rc = ho_tls_handle(p->server, (ho_epoch)e, b->data, b->len, &p->sout);
            else if (p->server_err == HO_OK)
                p->server_err = ho_tls_handle(p->server, (ho_epoch)e, b->data, b->len, &p->sout);
            b->len = 0;
        }
        for (int e = 0; e < HO_EPOCH_COUNT; e++) {
            ho_buf *b = &p->sout.send[e];
            if (b->len == 0)
                continue;
            moved += b->len;
            if (p->client_err == HO_OK)
                p->client_err = ho_tls_handle(p->client, (ho_epoch)e, b->data, b->len, &p->cout);
            b->len = 0;
        }
        if (moved == 0)
            break;
    }
}

/* Runs the handshake to completion or error. */
static void pair_run(struct tls_pair *p)
{
    p->client_err = ho_tls_start(p->client, &p->cout);
    pair_pump(p, NULL, NULL);
}

static void pair_free(struct tls_pair *p)
{
    ho_tls_free(p->client);
    ho_tls_free(p->server);
    ho_tls_out_free(&p->cout);
    ho_tls_out_free(&p->sout);
}

#endif
