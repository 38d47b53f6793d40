/* The TLS configurations every in-memory QUIC test uses: a server with a
 * fresh self-signed certificate for "localhost" and a client that does not
 * verify it, both offering one ALPN and prepared for QUIC. Aborts on failure
 * (a test cannot run without them). */
#ifndef HO_TEST_QUIC_TLS_H
#define HO_TEST_QUIC_TLS_H

#include <stdlib.h>

#include "handoff/crypto.h"
#include "handoff/quic.h"
#include "handoff/tls.h"

static inline void quic_test_tls(const char *alpn_id, ho_tls_config **server, ho_tls_config **client)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    if (ho_selfsigned_generate("localhost", 30, &key, &chain) != HO_OK)
        abort();
    const char *alpn[] = {alpn_id};
    *server = ho_tls_config_new(true);
    *client = ho_tls_config_new(false);
    if (*server == NULL || *client == NULL || ho_tls_config_add_cert(*server, &chain, key) != HO_OK)
        abort();
    ho_tls_config_set_alpn(*server, alpn, 1);
    ho_quic_tls_config_prepare(*server);
    ho_tls_config_set_verify_peer(*client, false);
    /* X25519 only: these tests count the datagrams and bytes of a
     * ClientHello that fits one Initial; the default X25519MLKEM768 share
     * (1216 bytes) spreads it over two. The hybrid over QUIC is covered by
     * tests/interop/mlkem.sh (get --h3, Chromium). */
    const uint16_t x25519 = HO_GROUP_X25519;
    ho_tls_config_set_groups(*client, &x25519, 1);
    ho_tls_config_set_alpn(*client, alpn, 1);
    ho_quic_tls_config_prepare(*client);
}

#endif
