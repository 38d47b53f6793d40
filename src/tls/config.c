/* Configuration objects, the suite table and wire-value names. */
#include "base/mem.h"
#include "tls_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const ho_tls_suite suites[] = {
    {HO_TLS_AES_128_GCM_SHA256, HO_AEAD_AES_128_GCM, HO_HASH_SHA256, "TLS_AES_128_GCM_SHA256"},
    {HO_TLS_AES_256_GCM_SHA384, HO_AEAD_AES_256_GCM, HO_HASH_SHA384, "TLS_AES_256_GCM_SHA384"},
    {HO_TLS_CHACHA20_POLY1305_SHA256, HO_AEAD_CHACHA20_POLY1305, HO_HASH_SHA256, "TLS_CHACHA20_POLY1305_SHA256"},
};

const ho_tls_suite *ho_tls_suite_by_id(uint16_t id)
{
    for (size_t i = 0; i < sizeof(suites) / sizeof(suites[0]); i++)
        if (suites[i].id == id)
            return &suites[i];
    return NULL;
}

ho_tls_config *ho_tls_config_new(bool is_server)
{
    ho_tls_config *cfg = ho_mem_calloc(1, sizeof(*cfg));
    if (cfg == NULL)
        return NULL;
    cfg->is_server = is_server;
    /* RFC 8446 §9.1: TLS_AES_128_GCM_SHA256 and secp256r1 are mandatory
     * (both are in the defaults), as are the signature schemes of §9.1
     * that ho_privkey_sign / the certificate checks implement. */
    cfg->suites[0] = HO_TLS_AES_128_GCM_SHA256;
    cfg->suites[1] = HO_TLS_AES_256_GCM_SHA384;
    cfg->suites[2] = HO_TLS_CHACHA20_POLY1305_SHA256;
    cfg->suite_count = 3;
    /* The post-quantum hybrid first: a server prefers it when offered, a
     * client sends its share and an X25519 one (docs/ENGINE.md). */
    cfg->groups[0] = HO_GROUP_X25519MLKEM768;
    cfg->groups[1] = HO_GROUP_X25519;
    cfg->groups[2] = HO_GROUP_SECP256R1;
    cfg->group_count = 3;
    cfg->verify_peer = true;
    cfg->ticket_count = 1;
    cfg->ticket_lifetime_s = 7200;
    cfg->ticket_rotate_s = 3600;
    if (!is_server && (cfg->cert_cache = crypto_cert_cache_new(CRYPTO_CERT_CACHE_DEFAULT)) == NULL) {
        ho_mem_free(cfg);
        return NULL;
    }
    pthread_mutex_init(&cfg->lock, NULL);
    if (ho_tls_keylog_env_enabled())
        cfg->cb.keylog = ho_tls_keylog_default;
    return cfg;
}

void ho_tls_config_free(ho_tls_config *cfg)
{
    if (cfg == NULL)
        return;
    for (size_t i = 0; i < cfg->cert_count; i++) {
        ho_cert_chain_free(&cfg->certs[i].chain);
        ho_privkey_free(cfg->certs[i].key);
    }
    ho_trust_store_free(cfg->trust);
    crypto_cert_cache_free(cfg->cert_cache);
    tls_client_auth_free(cfg);
    tls_strikes_free(cfg->strikes);
    pthread_mutex_destroy(&cfg->lock);
    ho_wipe(cfg, sizeof(*cfg));
    ho_mem_free(cfg);
}

bool ho_tls_config_is_server(const ho_tls_config *cfg) { return cfg->is_server; }

int ho_tls_config_add_cert(ho_tls_config *cfg, ho_cert_chain *chain, ho_privkey *key)
{
    int rc = HO_OK;
    if (cfg->cert_count == MAX_CERTS || chain == NULL || chain->count == 0 || key == NULL)
        rc = HO_ERR_INVALID_ARG;
    else if (!ho_cert_matches_key(chain->der[0], chain->len[0], key))
        rc = HO_ERR_CERT_BAD;
    if (rc != HO_OK) {
        if (chain != NULL)
            ho_cert_chain_free(chain);
        ho_privkey_free(key);
        return rc;
    }
    struct cert_entry *e = &cfg->certs[cfg->cert_count++];
    e->chain = *chain;
    memset(chain, 0, sizeof(*chain));
    e->key = key;
    e->scheme_count = ho_privkey_schemes(key, e->schemes, 4);
    return HO_OK;
}

int ho_tls_config_load_cert_files(ho_tls_config *cfg, const char *chain_pem, const char *key_pem)
{
    ho_cert_chain chain = {0};
    int rc = ho_cert_chain_load_file(&chain, chain_pem);
    if (rc != HO_OK)
        return rc;
    ho_privkey *key = ho_privkey_load_file(key_pem);
    if (key == NULL) {
        ho_cert_chain_free(&chain);
        return HO_ERR_NOT_FOUND;
    }
    return ho_tls_config_add_cert(cfg, &chain, key);
}

int ho_tls_config_set_suites(ho_tls_config *cfg, const uint16_t *ids, size_t n)
{
    if (n == 0 || n > 3)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (ho_tls_suite_by_id(ids[i]) == NULL)
            return HO_ERR_INVALID_ARG;
    memcpy(cfg->suites, ids, n * sizeof(*ids));
    cfg->suite_count = n;
    return HO_OK;
}

int ho_tls_config_set_groups(ho_tls_config *cfg, const uint16_t *groups, size_t n)
{
    if (n == 0 || n > 4)
        return HO_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if (!crypto_kex_group_supported(groups[i]))
            return HO_ERR_INVALID_ARG;
    memcpy(cfg->groups, groups, n * sizeof(*groups));
    cfg->group_count = n;
    return HO_OK;
}

int ho_tls_config_set_alpn(ho_tls_config *cfg, const char *const *protos, size_t n)
{
    ho_buf b;
    ho_buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(protos[i]);
        if (len == 0 || len > 255) {
            ho_buf_free(&b);
            return HO_ERR_INVALID_ARG;
        }
        ho_put_u8(&b, (uint8_t)len);
        ho_put_bytes(&b, protos[i], len);
    }
    int rc = b.failed || b.len > sizeof(cfg->alpn) ? HO_ERR_INVALID_ARG : HO_OK;
    if (rc == HO_OK) {
        if (b.len)
            memcpy(cfg->alpn, b.data, b.len);
        cfg->alpn_len = b.len;
    }
    ho_buf_free(&b);
    return rc;
}

void ho_tls_config_set_trust(ho_tls_config *cfg, ho_trust_store *ts)
{
    ho_trust_store_free(cfg->trust);
    cfg->trust = ts;
    cfg->trust_ready = ts != NULL;
}

void ho_tls_config_set_verify_peer(ho_tls_config *cfg, bool verify) { cfg->verify_peer = verify; }

void ho_tls_config_set_tickets(ho_tls_config *cfg, unsigned count, uint32_t lifetime_s, uint32_t rotate_s)
{
    cfg->ticket_count = count > 8 ? 8 : count;
    /* §4.6.1: lifetimes above seven days MUST NOT be sent. */
    cfg->ticket_lifetime_s = lifetime_s > 604800 ? 604800 : lifetime_s;
    cfg->ticket_rotate_s = rotate_s ? rotate_s : 3600;
}

void ho_tls_config_set_psk_ke(ho_tls_config *cfg, bool on) { cfg->psk_ke = on; }

void ho_tls_config_set_hrr_cookie(ho_tls_config *cfg, bool on) { cfg->hrr_cookie = on; }
void ho_tls_config_set_callbacks(ho_tls_config *cfg, const ho_tls_callbacks *cb)
{
    cfg->cb = *cb;
    if (cfg->cb.keylog == NULL && ho_tls_keylog_env_enabled())
        cfg->cb.keylog = ho_tls_keylog_default;
}

int ho_tls_config_add_ext_hook(ho_tls_config *cfg, uint16_t ext_type, ho_tls_ext_fn fn, void *ctx)
{
    if (cfg->hook_count == MAX_HOOKS || fn == NULL)
        return HO_ERR_INVALID_ARG;
    cfg->hooks[cfg->hook_count++] = (struct ext_hook){ext_type, fn, ctx};
    return HO_OK;
}

const char *ho_tls_handshake_name(uint8_t type)
{
    switch (type) {
    case HO_HS_CLIENT_HELLO: return "ClientHello";
    case HO_HS_SERVER_HELLO: return "ServerHello";
    case HO_HS_NEW_SESSION_TICKET: return "NewSessionTicket";
    case HO_HS_END_OF_EARLY_DATA: return "EndOfEarlyData";
    case HO_HS_ENCRYPTED_EXTENSIONS: return "EncryptedExtensions";
    case HO_HS_CERTIFICATE: return "Certificate";
    case HO_HS_CERTIFICATE_REQUEST: return "CertificateRequest";
    case HO_HS_CERTIFICATE_VERIFY: return "CertificateVerify";
    case HO_HS_FINISHED: return "Finished";
    case HO_HS_KEY_UPDATE: return "KeyUpdate";
    case HO_HS_MESSAGE_HASH: return "message_hash";
    }
    return "unknown_message";
}
