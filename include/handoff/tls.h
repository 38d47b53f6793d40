/*
 * handoff — the TLS 1.3 engine (RFC 8446), synchronous and sans-I/O, and the
 * TLS-over-TCP record layer built on it.
 *
 * The engine never blocks, never starts a thread, never reads a clock (the
 * caller passes wall-clock time with ho_tls_set_now) and never touches a
 * socket. One call drives it: ho_tls_handle() takes the handshake bytes
 * received at an epoch and appends, per epoch, the handshake bytes to send.
 * New traffic secrets are announced through the secret callback, in order, at
 * the moment they take effect: a transport that must send earlier output
 * under the old key (TLS records) flushes it from inside the callback.
 *
 * Errors: every call returns HO_OK or an error from base.h. An error in
 * [HO_ERR_TLS_ALERT_BASE, +0x100) names the alert to send to the peer; after
 * any error the handshake is dead and further calls return the same error.
 *
 * A ho_tls has no thread affinity: one thread at a time may drive it, and
 * ownership may move between threads between calls (handshake offload).
 * A ho_tls_config is shared and read-only once connections use it (ticket
 * key rotation inside it is internally locked, and so is
 * ho_tls_config_set_ticket_keys, the one setter callable while it is in use).
 */
#ifndef HANDOFF_TLS_H
#define HANDOFF_TLS_H

#include "handoff/base.h"
#include "handoff/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    HO_EPOCH_INITIAL = 0,   /* plaintext: ClientHello, ServerHello */
    HO_EPOCH_EARLY = 1,     /* 0-RTT: client_early_traffic_secret (RFC 8446 §4.2.10) */
    HO_EPOCH_HANDSHAKE = 2,
    HO_EPOCH_APP = 3,       /* 1-RTT: post-handshake messages */
    HO_EPOCH_COUNT = 4
} ho_epoch;

enum {
    HO_TLS_AES_128_GCM_SHA256 = 0x1301,
    HO_TLS_AES_256_GCM_SHA384 = 0x1302,
    HO_TLS_CHACHA20_POLY1305_SHA256 = 0x1303,
};

typedef struct ho_tls_suite {
    uint16_t id;
    ho_aead_alg aead;
    ho_hash_alg hash;
    const char *name;
} ho_tls_suite;
HO_API const ho_tls_suite *ho_tls_suite_by_id(uint16_t id);

/* AlertDescription values (HO_ALERT_*) and ho_tls_alert_name: handoff/error.h. */

/* HandshakeType values (RFC 8446 §4). */
enum {
    HO_HS_CLIENT_HELLO = 1,
    HO_HS_SERVER_HELLO = 2,
    HO_HS_NEW_SESSION_TICKET = 4,
    HO_HS_END_OF_EARLY_DATA = 5,
    HO_HS_ENCRYPTED_EXTENSIONS = 8,
    HO_HS_CERTIFICATE = 11,
    HO_HS_CERTIFICATE_REQUEST = 13,
    HO_HS_CERTIFICATE_VERIFY = 15,
    HO_HS_FINISHED = 20,
    HO_HS_KEY_UPDATE = 24,
    HO_HS_MESSAGE_HASH = 254,
};
HO_API const char *ho_tls_handshake_name(uint8_t type);

typedef struct ho_tls ho_tls;
typedef struct ho_tls_config ho_tls_config;

/* What the server saw in a ClientHello, for the client-hello callback. */
typedef struct ho_tls_client_hello {
    const char *server_name;         /* NULL if no SNI */
    const uint8_t *alpn;             /* ProtocolNameList body (u8-length strings), or NULL */
    size_t alpn_len;
    const uint16_t *suites; size_t suite_count;
    const uint16_t *groups; size_t group_count;
    const uint16_t *sig_schemes; size_t sig_scheme_count;
    /* The schemes the client accepts in certificate signatures: its
     * signature_algorithms_cert, or signature_algorithms when it sent none
     * (RFC 8446 §4.2.3). A callback that holds several chains picks one
     * signed with these (§4.4.2.2); with one chain, the server sends it. */
    const uint16_t *cert_sig_schemes; size_t cert_sig_scheme_count;
} ho_tls_client_hello;

typedef struct ho_tls_callbacks {
    /* Server: runs once per ClientHello (also after HelloRetryRequest),
     * before anything is chosen. May call ho_tls_set_config() to switch
     * certificate/config by SNI or ALPN. Return HO_OK or an alert error,
     * or HO_ERR_WANT_ASYNC to decide later (ho_tls_resume; the strings in
     * `ch` are valid during the call only). */
    int (*client_hello)(void *ctx, ho_tls *tls, const ho_tls_client_hello *ch);
    /* Client: a resumable session arrived (NewSessionTicket). The blob is
     * opaque; pass it to ho_tls_set_session() on a later connection. */
    void (*session)(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len);
    /* A key-log line in NSS format (without newline). Default when
     * SSLKEYLOGFILE is set: append to that file. */
    void (*keylog)(void *ctx, ho_tls *tls, const char *line);
    void *ctx;
} ho_tls_callbacks;

/* Transport extension hook (QUIC transport parameters use it). In one step
 * the hook reads the peer's extension and writes ours:
 *  - client, building ClientHello: peer==NULL, out!=NULL;
 *  - client, reading EncryptedExtensions: peer (NULL if absent), out==NULL;
 *  - server, reading ClientHello: peer (NULL if absent), out!=NULL (our
 *    extension goes into EncryptedExtensions).
 * Return HO_OK to send what was written to out, HO_TLS_EXT_SKIP to send
 * nothing, or an alert error (e.g. missing_extension). */
#define HO_TLS_EXT_SKIP 1
typedef int (*ho_tls_ext_fn)(void *ctx, ho_tls *tls, uint8_t msg_type, const uint8_t *peer, size_t peer_len,
                             ho_buf *out);

/* Secret callback: a traffic secret for `epoch` in one direction takes
 * effect now. `secret` has the length of suite->hash: 32 bytes for
 * HO_HASH_SHA256, 48 for HO_HASH_SHA384. For the application epoch it runs
 * again at every KeyUpdate with the next secret. HO_EPOCH_EARLY carries
 * client_early_traffic_secret (client write / server read) when early data
 * is offered / accepted; a client whose early data a HelloRetryRequest
 * ends gets (is_write, HO_EPOCH_INITIAL, secret NULL): back to plaintext. */
typedef int (*ho_tls_secret_fn)(void *ctx, ho_tls *tls, bool is_write, ho_epoch epoch,
                                const ho_tls_suite *suite, const uint8_t *secret);

/* ---- configuration --------------------------------------------------- */
HO_API ho_tls_config *ho_tls_config_new(bool is_server);
HO_API void ho_tls_config_free(ho_tls_config *cfg);
HO_API bool ho_tls_config_is_server(const ho_tls_config *cfg);
/* Takes ownership of chain and key (also on failure). Several certificates
 * may be added; the first whose key fits the peer's signature_algorithms
 * is used. */
HO_API int ho_tls_config_add_cert(ho_tls_config *cfg, ho_cert_chain *chain, ho_privkey *key);
HO_API int ho_tls_config_load_cert_files(ho_tls_config *cfg, const char *chain_pem, const char *key_pem);
/* Preference order. Defaults: AES-128-GCM, AES-256-GCM, ChaCha20; X25519, P-256. */
HO_API int ho_tls_config_set_suites(ho_tls_config *cfg, const uint16_t *ids, size_t n);
/* Client: the first group gets a key share in the first ClientHello. */
HO_API int ho_tls_config_set_groups(ho_tls_config *cfg, const uint16_t *groups, size_t n);
/* ALPN protocols in preference order. A server with a list refuses a client
 * whose offer shares none (no_application_protocol). */
HO_API int ho_tls_config_set_alpn(ho_tls_config *cfg, const char *const *protos, size_t n);
/* Client: verify the server's chain against ts (taken). Without a trust
 * store the system default paths are used. */
HO_API void ho_tls_config_set_trust(ho_tls_config *cfg, ho_trust_store *ts);
HO_API void ho_tls_config_set_verify_peer(ho_tls_config *cfg, bool verify); /* client default: true */
/* Server: issue `count` tickets after the handshake (default 1; 0 turns
 * tickets off), sealed with a key rotated every `rotate_s` seconds (default
 * 3600; the previous key is still accepted). */
HO_API void ho_tls_config_set_tickets(ho_tls_config *cfg, unsigned count, uint32_t lifetime_s, uint32_t rotate_s);
/* ---- ticket keys shared by a fleet (docs/SERVER.md "Ticket keys") -----
 * A ticket key is a secret of HO_TLS_TICKET_SECRET_LEN random bytes; the
 * key id tickets carry in the clear (4 octets) and their AES-256-GCM key
 * are derived from it (HKDF-SHA256), so servers given the same secrets open
 * each other's tickets. */
#define HO_TLS_TICKET_SECRET_LEN 32
#define HO_TLS_TICKET_KEYS_MAX 16
/* Server: seal tickets under secrets[0] and open tickets sealed under any
 * of the n (n * 32 bytes). Replaces the keys in use, wiping them, and stops
 * time rotation. Safe to call from any thread while handshakes run (I/O
 * threads, offload workers): a handshake uses the old or the new set, never
 * a mix. HO_ERR_INVALID_ARG (keys unchanged): n is 0 or above
 * HO_TLS_TICKET_KEYS_MAX, or two secrets give the same key id. */
HO_API int ho_tls_config_set_ticket_keys(ho_tls_config *cfg, const uint8_t *secrets, size_t n);
/* Parses a key file's text: one key per line, 64 hex digits (32 bytes, e.g.
 * `openssl rand -hex 32`); blank lines and lines starting with '#' are
 * ignored, spaces around a key too. Fills secrets (room for max keys) and
 * *n. HO_ERR_INVALID_ARG with a message in err (may be NULL): a malformed
 * line, no key, more than max, a key given twice. */
HO_API int ho_tls_ticket_keys_parse(const char *text, size_t len, uint8_t *secrets, size_t max, size_t *n,
                                    char *err, size_t errlen);
/* Reads a key file (at most 64 KiB) and parses it; secrets as above. The
 * file's bytes are wiped before they are freed. HO_ERR_IO: unreadable. */
HO_API int ho_tls_ticket_keys_read(const char *path, uint8_t *secrets, size_t max, size_t *n, char *err,
                                   size_t errlen);
/* The key id that tickets sealed under this secret start with. */
HO_API int ho_tls_ticket_key_id(const uint8_t *secret, uint8_t id[4]);
/* ---- client certificates (mutual TLS, docs/ENGINE.md "Client certificates")
 * Server: with OPTIONAL or REQUIRED, a full handshake sends a
 * CertificateRequest (RFC 8446 §4.3.2) naming the subjects of the CA
 * certificates in ca_pem (certificate_authorities) and verifies the
 * client's chain against them and its CertificateVerify. REQUIRED refuses a
 * client without a certificate (certificate_required); OPTIONAL accepts it
 * with no peer. A resumed handshake asks nothing: the ticket carries the
 * subject verified on the full handshake (REQUIRED resumes only tickets
 * that carry one). ca_pem may be NULL only with HO_TLS_CLIENT_AUTH_NONE.
 * Client: certificates added with ho_tls_config_add_cert /
 * ho_tls_config_load_cert_files answer a CertificateRequest (the first
 * whose key fits the server's signature_algorithms); without one the
 * client sends an empty Certificate. */
typedef enum {
    HO_TLS_CLIENT_AUTH_NONE = 0,
    HO_TLS_CLIENT_AUTH_OPTIONAL = 1,
    HO_TLS_CLIENT_AUTH_REQUIRED = 2,
} ho_tls_client_auth;
HO_API int ho_tls_config_set_client_auth(ho_tls_config *cfg, ho_tls_client_auth mode, const char *ca_pem);
HO_API ho_tls_client_auth ho_tls_config_get_client_auth(const ho_tls_config *cfg);
/* Resumption without (EC)DHE, psk_ke (RFC 8446 §4.2.9), default off. It
 * costs only symmetric crypto but gives up forward secrecy for the resumed
 * connection (the ticket key protects it). Client: a resumption offers
 * psk_ke alone (a server without it falls back to a full handshake), a
 * first handshake lists psk_ke and psk_dhe_ke. Server: resume a client
 * that offers psk_ke without a key exchange. */
HO_API void ho_tls_config_set_psk_ke(ho_tls_config *cfg, bool on);
/* Server: send a cookie in HelloRetryRequest (default off). */
HO_API void ho_tls_config_set_hrr_cookie(ho_tls_config *cfg, bool on);
HO_API void ho_tls_config_set_callbacks(ho_tls_config *cfg, const ho_tls_callbacks *cb);
HO_API int ho_tls_config_add_ext_hook(ho_tls_config *cfg, uint16_t ext_type, ho_tls_ext_fn fn, void *ctx);

/* ---- early data (0-RTT, RFC 8446 §2.3, §4.2.10, §8; docs/ENGINE.md) -----
 * Off by default in both roles. Server: tickets issued carry early_data
 * with max_early_data_size = max_size, and a resumption offering early data
 * on such a ticket (first PSK, same cipher suite, same ALPN, ticket age
 * within the window, not seen before in the strike register) is accepted.
 * Client: a stored session whose ticket allowed early data is offered with
 * early_data; the application may write up to the ticket's limit right
 * after starting the handshake. max_size 0 turns it off. Over QUIC (RFC
 * 9001 §4.6) tickets carry max_early_data_size 0xffffffff whatever
 * max_size says (any non-zero value enables), there is no EndOfEarlyData
 * (§8.3), and the 0-RTT data is the transport's (ho_quic). */
#define HO_TLS_EARLY_DATA_DEFAULT 16384
HO_API void ho_tls_config_set_early_data(ho_tls_config *cfg, uint32_t max_size);
/* Server anti-replay (§8.2, §8.3): a ClientHello is accepted with early
 * data only when the ticket age it claims is within window_ms of the age
 * the server computes, and its ticket is not in the strike register, which
 * remembers the tickets used for early data in the last 2 * window_ms (a
 * replayed ClientHello, and a second use of one ticket, are refused; after
 * that a replay fails the age check) in `slots` entries
 * (defaults 10000 ms, 16384 entries, about 400 KiB). A full register
 * refuses early data (the handshake goes on in 1-RTT). The register is per
 * config and locked: every thread of one process shares it; other
 * processes or servers of a fleet do not (see docs/ENGINE.md). Call before
 * connections use the config. */
HO_API int ho_tls_config_set_anti_replay(ho_tls_config *cfg, uint32_t window_ms, size_t slots);

typedef enum {
    HO_TLS_EARLY_NONE = 0,     /* not offered (client) / not offered or not enabled (server) */
    HO_TLS_EARLY_OFFERED,      /* client: sent early_data, the server has not answered yet */
    HO_TLS_EARLY_ACCEPTED,     /* the early data is (being) delivered */
    HO_TLS_EARLY_REJECTED,     /* refused: resend it after the handshake */
    HO_TLS_EARLY_REPLAYED,     /* server: refused as a replay or outside the age window (§8) */
} ho_tls_early_status;
HO_API ho_tls_early_status ho_tls_early_data_status(const ho_tls *tls);
HO_API const char *ho_tls_early_status_name(ho_tls_early_status s);
/* Client: the early data limit of the offered ticket; server: ours. */
HO_API uint32_t ho_tls_early_data_max(const ho_tls *tls);
/* Server: the application context that early data depends on (RFC 9001
 * §4.6.2: QUIC transport parameters, HTTP/3 SETTINGS...), at most
 * HO_TLS_EARLY_CONTEXT_MAX bytes (a digest). Tickets issued on this
 * connection carry it; early data is accepted only on a ticket whose
 * context equals this connection's. Set before the ClientHello is handled. */
#define HO_TLS_EARLY_CONTEXT_MAX 32
HO_API int ho_tls_set_early_context(ho_tls *tls, const uint8_t *ctx, size_t len);

/* ---- a handshake / connection ---------------------------------------- */
/* server_name (client): SNI (omitted for IP literals) and the name the
 * certificate is checked against. The config must outlive the ho_tls. */
HO_API ho_tls *ho_tls_new(ho_tls_config *cfg, const char *server_name);
HO_API void ho_tls_free(ho_tls *tls);
HO_API void ho_tls_set_secret_cb(ho_tls *tls, ho_tls_secret_fn fn, void *ctx);
HO_API void ho_tls_set_user(ho_tls *tls, void *user);
HO_API void *ho_tls_get_user(const ho_tls *tls);
/* Wall-clock time in Unix milliseconds (ticket ages and expiry, ticket key
 * rotation, certificate validity). */
HO_API void ho_tls_set_now(ho_tls *tls, int64_t unix_ms);
/* Server, from the client-hello callback only. */
HO_API int ho_tls_set_config(ho_tls *tls, ho_tls_config *cfg);
/* Client: offer this session (from the session callback) for resumption. */
HO_API int ho_tls_set_session(ho_tls *tls, const uint8_t *blob, size_t len);
/* Client: a session callback for this connection only, used instead of the
 * config's ho_tls_callbacks.session (QUIC routes tickets to its connection). */
HO_API void ho_tls_set_session_cb(ho_tls *tls, void (*fn)(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len),
                          void *ctx);
/* Connection id carried in events. */
HO_API void ho_tls_set_conn_id(ho_tls *tls, uint64_t id);
HO_API uint64_t ho_tls_get_conn_id(const ho_tls *tls);

/* Handshake bytes to send, per epoch. The caller sends and clears them. */
typedef struct ho_tls_out {
    ho_buf send[HO_EPOCH_COUNT];
} ho_tls_out;
HO_API void ho_tls_out_init(ho_tls_out *out);
HO_API void ho_tls_out_free(ho_tls_out *out);

/* Client: produce the ClientHello. */
HO_API int ho_tls_start(ho_tls *tls, ho_tls_out *out);
/* Feed handshake bytes received at `epoch` (any fragmentation). */
HO_API int ho_tls_handle(ho_tls *tls, ho_epoch epoch, const void *in, size_t len, ho_tls_out *out);
/* Post-handshake: send a KeyUpdate (RFC 8446 §4.6.3) and switch our write key. */
HO_API int ho_tls_key_update(ho_tls *tls, bool request_peer_update, ho_tls_out *out);

HO_API bool ho_tls_is_server(const ho_tls *tls);
HO_API bool ho_tls_handshake_done(const ho_tls *tls);
HO_API const ho_tls_suite *ho_tls_get_suite(const ho_tls *tls);  /* NULL before ServerHello */
HO_API uint16_t ho_tls_get_group(const ho_tls *tls);             /* 0 for none */
HO_API const char *ho_tls_get_alpn(const ho_tls *tls);           /* NULL if none */
HO_API const char *ho_tls_get_server_name(const ho_tls *tls);
HO_API bool ho_tls_is_resumed(const ho_tls *tls);
HO_API bool ho_tls_did_hrr(const ho_tls *tls);
HO_API uint16_t ho_tls_get_sig_scheme(const ho_tls *tls);        /* 0 when resumed */
/* The subject (RFC 2253, e.g. "CN=alice,O=Example") of the peer's verified
 * certificate: on a server the client's (NULL when it sent none, or before
 * its CertificateVerify checked out; after a resumption, the one the ticket
 * recorded), on a client the server's (NULL when not verified). Valid until
 * ho_tls_free. */
HO_API const char *ho_tls_get_peer_subject(const ho_tls *tls);
/* Server: how the client certificate fared, for counters: 0 none asked or
 * none given, 1 verified (or carried by the resumed ticket), -1 refused
 * (the handshake failed on it). */
HO_API int ho_tls_client_cert_status(const ho_tls *tls);
/* RFC 8446 §7.5 exporter (available once the handshake is done). */
HO_API int ho_tls_export(ho_tls *tls, const char *label, const void *context, size_t contextlen, uint8_t *out,
                  size_t outlen);

/* ---- asynchronous callbacks (docs/ENGINE.md "Asynchronous callbacks") ----
 * Two callbacks may answer "later" by returning HO_ERR_WANT_ASYNC: the
 * client-hello callback and the private-key signing function. The drive
 * call (ho_tls_handle, ho_tls_conn_receive) then returns HO_ERR_WANT_ASYNC,
 * which is no error: the engine keeps what it read, produced nothing more
 * (a signing step may already have produced ServerHello..Certificate), and
 * waits. The application completes the operation once, from any thread,
 * with ho_tls_resume or ho_tls_complete_sign; that call runs the
 * connection's wake function (ho_tls_set_async_wake), and the next drive
 * call on the thread that owns the connection continues the handshake
 * (ho_tls_handle with len 0 is enough). The engine itself stays
 * single-threaded: only the completion calls may come from another thread,
 * and a ho_tls must not be freed while an operation is out. */

/* Signing with the chosen certificate's key, in place of the engine's
 * ho_privkey_sign (BoringSSL's SSL_PRIVATE_KEY_METHOD, s2n-tls's async
 * pkey): sign `in` (the CertificateVerify content, RFC 8446 §4.4.3) with
 * `scheme`. Return HO_OK with the signature in sig (room for *sig_len
 * bytes, at least 512; set *sig_len), HO_ERR_WANT_ASYNC to finish later
 * with ho_tls_complete_sign (`in` is the engine's copy, valid until then),
 * or any other error: the handshake fails with internal_error. `key` is
 * the key given with the certificate. */
typedef int (*ho_tls_sign_fn)(void *ctx, ho_tls *tls, ho_privkey *key, uint16_t scheme, const uint8_t *in,
                              size_t in_len, uint8_t *sig, size_t *sig_len);
#define HO_TLS_SIG_MAX 512
HO_API void ho_tls_config_set_sign_fn(ho_tls_config *cfg, ho_tls_sign_fn fn, void *ctx);
/* Any thread, once per pending client-hello callback: result HO_OK to go
 * on (with cfg, when not NULL, in place of the connection's config, as
 * ho_tls_set_config would), or an alert error to fail the handshake with.
 * HO_ERR_INVALID_ARG: no client-hello callback is pending. */
HO_API int ho_tls_resume(ho_tls *tls, ho_tls_config *cfg, int result);
/* Any thread, once per pending signature: the signature (len <= 512), or
 * sig NULL / len 0 when signing failed (the handshake then fails with
 * internal_error). HO_ERR_INVALID_ARG: no signature is pending. */
HO_API int ho_tls_complete_sign(ho_tls *tls, const uint8_t *sig, size_t len);
/* Owning thread: an asynchronous operation is out (completed or not) and
 * the next drive call is to pick it up. */
HO_API bool ho_tls_async_pending(const ho_tls *tls);
/* Called by ho_tls_resume / ho_tls_complete_sign on the completing thread,
 * after the result is stored: a transport posts a wake-up to the thread
 * that owns the connection (it must not drive the engine from here).
 * Without one, a callback that answers HO_ERR_WANT_ASYNC fails the
 * handshake (internal_error): the transport could not continue it. */
HO_API void ho_tls_set_async_wake(ho_tls *tls, void (*fn)(void *ctx, ho_tls *tls), void *ctx);
/* From inside a callback: whether it may answer HO_ERR_WANT_ASYNC (the
 * connection's transport set a wake function). The TCP server does, and so
 * does a QUIC endpoint with an offload pool (the server's); QUIC clients
 * and endpoints without a pool do not: callbacks there answer
 * synchronously. */
HO_API bool ho_tls_async_supported(const ho_tls *tls);

/* ---- TLS over TCP: records (sans-I/O) -------------------------------- */
typedef struct ho_tls_conn ho_tls_conn;
HO_API ho_tls_conn *ho_tls_conn_new(ho_tls_config *cfg, const char *server_name);
HO_API void ho_tls_conn_free(ho_tls_conn *c);
HO_API ho_tls *ho_tls_conn_tls(ho_tls_conn *c);
/* Client: queue the ClientHello record. */
HO_API int ho_tls_conn_start(ho_tls_conn *c);
/* Bytes read from the socket. Decrypted application data is appended to
 * ho_tls_conn_app_in(). HO_ERR_WANT_ASYNC: an asynchronous callback is
 * pending; what was read is kept (the records behind it unprocessed), and
 * once it completes a call (with len 0 if nothing new came) goes on. On an error, an alert record (when one applies) is
 * already queued in ho_tls_conn_out(): send it, then close. HO_ERR_CLOSED
 * means the peer sent close_notify. */
HO_API int ho_tls_conn_receive(ho_tls_conn *c, const void *data, size_t len);
/* Application data to send (after the handshake). A client offering early
 * data may write before: up to ho_tls_early_data_max bytes in all, sent as
 * 0-RTT records while the status is OFFERED or ACCEPTED. HO_ERR_EARLY_DATA
 * (nothing queued, the connection lives on): early data not offered,
 * rejected, or over the limit. On rejection the bytes are not resent by
 * the engine: the application writes them again after the handshake.
 * A server that accepted early data may write once its Finished is out,
 * before the client's (0.5-RTT, §2.3): the answer to an early request. */
HO_API int ho_tls_conn_write(ho_tls_conn *c, const void *data, size_t len);
/* Server: bytes of application data received as early data so far (they
 * are in app_in, in order, before the handshake completes). */
HO_API size_t ho_tls_conn_early_received(const ho_tls_conn *c);
HO_API int ho_tls_conn_key_update(ho_tls_conn *c, bool request_peer_update);
/* Queue close_notify. */
HO_API int ho_tls_conn_close(ho_tls_conn *c);
/* Bytes to write to the socket; the caller consumes what it sent. */
HO_API ho_buf *ho_tls_conn_out(ho_tls_conn *c);
/* Decrypted application data; the caller consumes what it used. */
HO_API ho_buf *ho_tls_conn_app_in(ho_tls_conn *c);
HO_API bool ho_tls_conn_handshake_done(const ho_tls_conn *c);
/* ho_tls_get_peer_subject of the connection's engine. */
HO_API const char *ho_tls_conn_peer_subject(const ho_tls_conn *c);
/* Frees the connection's empty buffers (received, sealed, decrypted,
 * handshake output): an idle connection then holds none. They are
 * allocated again when needed. */
HO_API void ho_tls_conn_trim(ho_tls_conn *c);

/* ---- handing record protection to the kernel (kTLS) ------------------ */
/* One direction's application traffic key (RFC 8446 §7.3), for TLS_TX /
 * TLS_RX. Secret material: wipe it after use. */
typedef struct ho_tls_traffic_keys {
    uint16_t suite;          /* TLS cipher suite id */
    uint8_t key[HO_AEAD_KEY_MAX];
    size_t key_len;
    uint8_t iv[HO_AEAD_IV_LEN];
    uint64_t seq;            /* sequence number of the next record */
    uint32_t generation;     /* changes with every key installed (KeyUpdate) */
} ho_tls_traffic_keys;
/* True when both directions can move to the kernel now: the handshake is
 * done, nothing sealed waits in out (write it first), and no partial
 * record is buffered. */
HO_API bool ho_tls_conn_kernel_ready(const ho_tls_conn *c);
HO_API int ho_tls_conn_get_traffic_keys(const ho_tls_conn *c, bool write, ho_tls_traffic_keys *k);
/* From now on the kernel protects the chosen directions. With tx, out
 * receives *plaintext* records (header + content: alerts, KeyUpdate) for the
 * caller to send through the kernel with their record type; a write key
 * installed later (our KeyUpdate) shows as a new generation, to be given
 * to the kernel after the records queued before it. With rx, records the
 * kernel decrypted that are not application data are fed back with
 * ho_tls_conn_receive_record (alerts, KeyUpdate, NewSessionTicket); a new
 * read key shows as a new generation. */
HO_API int ho_tls_conn_set_kernel(ho_tls_conn *c, bool tx, bool rx);
HO_API int ho_tls_conn_receive_record(ho_tls_conn *c, uint8_t content_type, const void *data, size_t len);

#ifdef __cplusplus
}
#endif
#endif
