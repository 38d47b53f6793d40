/* Internal state of the TLS 1.3 engine, shared by the files of src/tls/. */
#ifndef HO_TLS_INT_H
#define HO_TLS_INT_H

#include "handoff/tls.h"
#include "crypto/prim.h"

#include <pthread.h>
#include <stdatomic.h>

/* ExtensionType values (RFC 8446 §4.2, RFC 7301). */
enum {
    EXT_SERVER_NAME = 0,
    EXT_SUPPORTED_GROUPS = 10,
    EXT_SIGNATURE_ALGORITHMS = 13,
    EXT_ALPN = 16,
    EXT_PRE_SHARED_KEY = 41,
    EXT_EARLY_DATA = 42,
    EXT_SUPPORTED_VERSIONS = 43,
    EXT_COOKIE = 44,
    EXT_PSK_KEY_EXCHANGE_MODES = 45,
    EXT_CERTIFICATE_AUTHORITIES = 47,
    EXT_SIGNATURE_ALGORITHMS_CERT = 50,
    EXT_KEY_SHARE = 51,
};

#define TLS13_VERSION 0x0304
#define TLS12_VERSION 0x0303
#define PSK_KE 0     /* §4.2.9: resumption without (EC)DHE */
#define PSK_DHE_KE 1
#define MAX_CERTS 4
#define MAX_HOOKS 4
#define MAX_LIST 64           /* suites / groups / schemes remembered from a peer */
#define MAX_MESSAGE (1 << 17) /* largest handshake message we accept */

/* Message bits for the extension permission table (RFC 8446 §4.2 table). */
enum {
    MSG_CH = 1 << 0,
    MSG_SH = 1 << 1,
    MSG_HRR = 1 << 2,
    MSG_EE = 1 << 3,
    MSG_CT = 1 << 4,
    MSG_CR = 1 << 5,
    MSG_NST = 1 << 6,
};

struct cert_entry {
    ho_cert_chain chain;
    ho_privkey *key;
    uint16_t schemes[4];
    size_t scheme_count;
};

struct ext_hook {
    uint16_t type;
    ho_tls_ext_fn fn;
    void *ctx;
};

struct ticket_key {
    uint8_t id[4];
    uint8_t key[32];
    int64_t created_ms;
    bool valid;
};

struct ho_tls_config {
    bool is_server;
    struct cert_entry certs[MAX_CERTS];
    size_t cert_count;
    uint16_t suites[3];
    size_t suite_count;
    uint16_t groups[4];
    size_t group_count;
    uint8_t alpn[256]; /* ProtocolNameList body */
    size_t alpn_len;
    ho_trust_store *trust;
    crypto_cert_cache *cert_cache; /* client: parsed leaves, verified chains */
    bool verify_peer;
    bool trust_ready;
    unsigned ticket_count;
    uint32_t ticket_lifetime_s;
    uint32_t ticket_rotate_s;
    /* Time rotation: [0] current, [1] previous. Fixed keys (a fleet's key
     * file, ho_tls_config_set_ticket_keys): [0] seals, [0..count) open. */
    struct ticket_key ticket_keys[HO_TLS_TICKET_KEYS_MAX];
    size_t ticket_key_count;
    bool ticket_keys_fixed;
    bool hrr_cookie;
    bool psk_ke; /* resumption without (EC)DHE allowed (opt-in) */
    /* client certificates (client_auth.c) */
    ho_tls_client_auth client_auth;
    ho_trust_store *client_ca;
    uint8_t *client_ca_names; /* certificate_authorities: DistinguishedName list body */
    size_t client_ca_names_len;
    ho_tls_callbacks cb;
    struct ext_hook hooks[MAX_HOOKS];
    size_t hook_count;
    pthread_mutex_t lock; /* trust store set-up, ticket key rotation and replacement */
    /* Early data (early.c): max_early_data_size, 0 = off; the server's
     * anti-replay window and strike register (own lock). */
    uint32_t early_max;
    uint32_t early_window_ms;
    size_t early_slots;
    struct tls_strikes *strikes;
    ho_tls_sign_fn sign_fn; /* async.c: signing by the application */
    void *sign_ctx;
};

/* Key schedule (RFC 8446 §7.1). */
struct keysched {
    ho_hash_alg hash;
    size_t hash_len;
    uint8_t secret[CRYPTO_HASH_MAX]; /* early → handshake → master */
    uint8_t client_hs[CRYPTO_HASH_MAX], server_hs[CRYPTO_HASH_MAX];
    uint8_t client_ap[CRYPTO_HASH_MAX], server_ap[CRYPTO_HASH_MAX];
    uint8_t exporter[CRYPTO_HASH_MAX], resumption[CRYPTO_HASH_MAX];
    uint8_t client_early[CRYPTO_HASH_MAX]; /* client_early_traffic_secret */
};

/* A resumable session: what a client stores and a server seals in a ticket. */
struct session {
    uint16_t suite;
    uint8_t psk[CRYPTO_HASH_MAX];
    size_t psk_len;
    uint32_t age_add;
    uint32_t lifetime_s;
    int64_t issued_ms;
    char alpn[256];
    char server_name[256];
    char client_subject[512]; /* server: the client certificate's subject, "" if none */
    uint8_t *ticket; /* client only */
    size_t ticket_len;
    uint32_t max_early; /* the ticket's max_early_data_size, 0: none (§4.2.10) */
    uint8_t early_ctx[HO_TLS_EARLY_CONTEXT_MAX]; /* server: the application context (RFC 9001 §4.6.2) */
    uint8_t early_ctx_len;
};

/* Handler status: what the driver does next. A handler never writes
 * tls->state; it says which of its row's successors it took, and the driver
 * (handshake.c) moves there. Helpers that send or check one message return
 * HS_OK or HS_ERROR only. */
typedef enum {
    HS_OK,    /* message consumed; go to the row's `next` state */
    HS_ALT,   /* message consumed; go to the row's `alt` state (a branch) */
    HS_ERROR, /* tls->error holds the alert; the state stays */
    HS_PENDING, /* an asynchronous callback is out (async.c); the state stays */
} hs_status;

typedef enum {
    /* client */
    ST_C_START,
    ST_C_WAIT_SH,
    ST_C_WAIT_EE,
    ST_C_WAIT_CERT_CR,
    ST_C_WAIT_CERT,
    ST_C_WAIT_CV,
    ST_C_WAIT_FINISHED,
    ST_C_CONNECTED,
    /* server */
    ST_S_WAIT_CH,
    ST_S_WAIT_CH2,
    ST_S_WAIT_FINISHED,
    ST_S_WAIT_CV, /* the client's CertificateVerify (client auth) */
    ST_S_CONNECTED,
    ST__COUNT,
    ST_NONE = ST__COUNT /* a row without a branch: `alt` */
} hs_state;

typedef hs_status (*hs_handler)(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t msg_len,
                                ho_tls_out *out);

/* One row of a role's handshake table: in `state`, a message of `type`
 * arriving at `epoch` is handled by `handler`, after which the driver moves
 * to `next` (HS_OK) or, where the handler branches, to `alt` (HS_ALT).
 * A successor the row does not list is refused with internal_error. */
struct hs_transition {
    hs_state state;
    ho_epoch epoch;
    uint8_t type;
    hs_state next;
    hs_state alt; /* ST_NONE: the handler cannot branch */
    hs_handler handler;
};

/* What only a client keeps, allocated with a client's ho_tls, so that a
 * server's connection does not carry it (an idle server connection's
 * memory is a goal: docs/RELIABILITY.md). */
struct tls_client {
    crypto_kex *kex;
    /* A second share: X25519 beside an X25519MLKEM768 first one, as
     * Chromium sends, so a server without ML-KEM needs no HelloRetryRequest. */
    crypto_kex *kex2;
    uint8_t cookie[512]; /* from a HelloRetryRequest, echoed (§4.2.2) */
    size_t cookie_len;
    struct session offered; /* session offered for resumption */
    bool offering_psk;
    bool cert_requested;
    uint8_t cert_request_context[255];
    size_t cert_request_context_len;
    uint16_t request_sigs[MAX_LIST]; /* the CertificateRequest's schemes we can sign with */
    size_t request_sig_count;
    uint32_t early_sent; /* early data bytes written (record.c counts them) */
};

struct ho_tls {
    ho_tls_config *cfg;
    bool is_server;
    hs_state state;
    int error; /* sticky */
    void *user;
    uint64_t conn_id;
    int64_t now_ms;
    ho_tls_secret_fn secret_cb;
    void *secret_ctx;
    /* per-connection session callback (ho_tls_set_session_cb), else cfg->cb.session */
    void (*session_cb)(void *ctx, ho_tls *tls, const uint8_t *blob, size_t len);
    void *session_ctx;

    ho_epoch read_epoch, write_epoch;
    unsigned read_keys; /* read keys installed so far (KeyUpdate included) */
    ho_buf msg; /* partial handshake message */

    /* transcript: buffered raw until the hash is known (client) */
    crypto_hash_ctx *transcript;
    ho_buf transcript_raw;
    struct keysched ks;

    /* negotiated */
    const ho_tls_suite *suite;
    uint16_t group;
    uint16_t sig_scheme;
    char *alpn; /* NULL when none was negotiated */
    char *server_name;
    bool resumed, did_hrr, done;
    uint8_t client_random[32];
    uint8_t session_id[32];
    size_t session_id_len;

    /* client */
    struct tls_client *client; /* NULL on a server */
    uint32_t ext_offered; /* slots of the extensions our ClientHello carried */
    ho_cert_chain peer_chain;
    crypto_cert *peer_leaf; /* chain's leaf, parsed once (cfg->cert_cache) */

    /* server */
    uint8_t hrr_cookie[32]; /* the cookie our HelloRetryRequest carried */
    size_t hrr_cookie_len;
    bool compat_ccs;    /* ClientHello had a legacy_session_id (App. D.4) */
    bool early_offered; /* ClientHello had early_data, which we reject (§4.2.10) */
    uint16_t hrr_group; /* group asked for in HelloRetryRequest */
    uint16_t hrr_suite;
    uint8_t hrr_ch_digest[32]; /* the first ClientHello, less what may change (§4.1.2) */
    struct cert_entry *cert; /* chosen certificate */
    bool cert_requested;     /* our CertificateRequest went out (§4.3.2) */
    bool client_cert_seen;   /* the client's Certificate arrived */
    int8_t client_cert_status; /* ho_tls_client_cert_status */
    char *peer_subject;      /* the verified peer leaf's subject, or NULL */

    /* early data, both roles (early.c) */
    ho_tls_early_status early;
    uint32_t early_max; /* the limit in force for this connection */
    uint8_t early_ctx[HO_TLS_EARLY_CONTEXT_MAX]; /* server: ho_tls_set_early_context */
    uint8_t early_ctx_len;

    /* asynchronous callbacks (async.c) */
    _Atomic int async_state;      /* ASYNC_IDLE, ASYNC_WAITING, ASYNC_DONE */
    uint8_t async_kind;           /* ASYNC_NONE, ASYNC_CLIENT_HELLO, ASYNC_SIGN */
    bool async_ch_done;           /* the client-hello callback has answered */
    int async_result;             /* from the completing thread */
    ho_tls_config *async_cfg;     /* ho_tls_resume's config, or NULL */
    const struct hs_transition *async_row; /* the row a signing step continues */
    struct tls_async_sign *async_sign;     /* allocated while a signature is out */
    void (*async_wake)(void *ctx, ho_tls *tls);
    void *async_wake_ctx;
};

enum { ASYNC_IDLE, ASYNC_WAITING, ASYNC_DONE };
enum { ASYNC_NONE, ASYNC_CLIENT_HELLO, ASYNC_SIGN };

/* A signature out with the application: the engine's copy of the input
 * and room for the answer. */
struct tls_async_sign {
    uint8_t in[64 + 34 + CRYPTO_HASH_MAX];
    size_t in_len;
    uint8_t sig[HO_TLS_SIG_MAX];
    size_t sig_len;
};

/* async.c */
/* Arms the engine for a callback that may answer later (before it runs). */
void tls_async_arm(ho_tls *tls, uint8_t kind);
/* The callback answered synchronously: disarm. */
void tls_async_disarm(ho_tls *tls);
/* Signs the CertificateVerify content, through the config's sign function
 * when there is one: HO_OK (sig filled), HO_ERR_WANT_ASYNC, or an error. */
int tls_async_sign(ho_tls *tls, const uint8_t *in, size_t in_len, uint8_t *sig, size_t *sig_len);
/* Server (server.c): the flight after a signature that came back later. */
hs_status tls_server_resume_sign(ho_tls *tls, ho_tls_out *out, const uint8_t *sig, size_t sig_len);
/* ho_tls_handle's part while an operation is out: HO_ERR_WANT_ASYNC while
 * it waits, HO_OK once its result is applied (the driver then goes on), or
 * the handshake's error. */
int tls_async_continue(ho_tls *tls, ho_tls_out *out);
void tls_async_free(ho_tls *tls);

/* handshake.c: the driver, messages, transcript, secrets, events */
extern const struct hs_transition ho_tls_client_table[];
extern const size_t ho_tls_client_table_len;
extern const struct hs_transition ho_tls_server_table[];
extern const size_t ho_tls_server_table_len;
const char *ho_tls_state_name(hs_state s);
/* The driver's move after a handler returned `taken` for `row` (HS_OK or
 * HS_ALT): HS_OK once in the successor, HS_ERROR (internal_error) if the
 * row is not the current state's or lists no such successor. */
hs_status tls_take_successor(ho_tls *tls, const struct hs_transition *row, hs_status taken);

hs_status tls_fail(ho_tls *tls, int err, const char *why);
#define tls_alert(tls, alert, why) tls_fail((tls), HO_ERR_TLS_ALERT(alert), (why))
/* Starts a handshake message of `type` in out->send[tls->write_epoch];
 * returns the token for tls_msg_end, which adds it to the transcript. */
size_t tls_msg_begin(ho_tls *tls, ho_tls_out *out, uint8_t type);
hs_status tls_msg_end(ho_tls *tls, ho_tls_out *out, size_t token);
int tls_transcript_start(ho_tls *tls, ho_hash_alg alg);
int tls_transcript_add(ho_tls *tls, const uint8_t *p, size_t n);
int tls_transcript_hash(ho_tls *tls, uint8_t *out);
/* RFC 8446 §4.4.1: replaces ClientHello1 with message_hash after HRR. */
int tls_transcript_hrr_rewrite(ho_tls *tls);
hs_status tls_install_secret(ho_tls *tls, bool is_write, ho_epoch epoch, const uint8_t *secret);
void tls_keylog(ho_tls *tls, const char *label, const uint8_t *secret);
void tls_event(ho_tls *tls, ho_event_type type, ho_log_level level, int64_t a, int64_t b, const char *detail);
bool tls_ct_equal(const uint8_t *a, const uint8_t *b, size_t n);
hs_status tls_handle_key_update(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out);
hs_status tls_send_finished(ho_tls *tls, ho_tls_out *out, const uint8_t *base_secret);
hs_status tls_check_finished(ho_tls *tls, ho_cursor *body, const uint8_t *base_secret);
/* RFC 8446 §4.4.3: the content a CertificateVerify signs. */
int tls_cv_content(ho_tls *tls, bool server, uint8_t *buf, size_t *len);
void tls_done(ho_tls *tls);
/* The negotiated ALPN protocol (`len` bytes, no NUL), kept as a string. */
int tls_set_alpn(ho_tls *tls, const uint8_t *name, size_t len);
/* Frees what a connection no longer needs between messages: empty
 * reassembly buffers, and a connected server's transcript. */
void tls_trim(ho_tls *tls);
bool tls_list_has(const uint16_t *list, size_t n, uint16_t v);

/* keysched.c */
int tls_ks_init(struct keysched *ks, ho_hash_alg hash, const uint8_t *psk, size_t psk_len);
int tls_ks_binder_key(struct keysched *ks, uint8_t *out);
int tls_ks_handshake(struct keysched *ks, const uint8_t *dhe, size_t dhe_len, const uint8_t *th);
int tls_ks_master(struct keysched *ks, const uint8_t *th);
int tls_ks_resumption(struct keysched *ks, const uint8_t *th);
int tls_ks_finished(struct keysched *ks, const uint8_t *base_secret, const uint8_t *th, uint8_t *out);
int tls_ks_next_traffic(struct keysched *ks, uint8_t *secret);
int tls_ks_ticket_psk(struct keysched *ks, const uint8_t *nonce, size_t nonce_len, uint8_t *psk);
int tls_ks_export(struct keysched *ks, const char *label, const void *ctx, size_t ctx_len, uint8_t *out, size_t len);
void tls_ks_wipe(struct keysched *ks);

/* ext.c: extension blocks and their permission table */
#define EXT_SLOTS 24
struct ext_seen {
    ho_cursor body[EXT_SLOTS + MAX_HOOKS];
    uint32_t present; /* bit per slot */
};
/* Parses an extension block: duplicates are illegal_parameter (§4.2); a
 * known extension in a message that may not carry it is illegal_parameter;
 * an unknown one in a response is unsupported_extension; in a ClientHello
 * pre_shared_key must come last (§4.2.11). Hooked types count as known. */
int tls_ext_parse(ho_tls *tls, ho_cursor block, unsigned msg_bit, struct ext_seen *seen);
bool tls_ext_get(const struct ext_seen *seen, uint16_t type, ho_cursor *body);
/* Runs the transport hooks for a received message (peer bodies from seen)
 * writing our extensions, if any, into exts (NULL when none go back). */
int tls_ext_run_hooks(ho_tls *tls, uint8_t msg_type, const struct ext_seen *seen, ho_buf *exts);
uint32_t tls_ext_bit(const ho_tls *tls, uint16_t type);

/* RFC 9001 §8.2: the config carries QUIC transport parameters (0x39). */
#define TLS_EXT_QUIC_TRANSPORT_PARAMETERS 0x39
/* RFC 9001 §4.6.1: the only max_early_data_size of a QUIC ticket. */
#define TLS_QUIC_EARLY_MAX 0xffffffffu
bool tls_is_quic(const ho_tls *tls);

/* For the record layer (record.c), which sits on the engine: */
/* A server whose client asked for middlebox compatibility (App. D.4). */
bool tls_wants_compat_ccs(const ho_tls *tls);
/* A server that refused early data the client offered (§4.2.10). */
bool tls_rejected_early_data(const ho_tls *tls);
/* Part of a handshake message is buffered (§5.1: no interleaving). */
bool tls_has_partial_message(const ho_tls *tls);

/* early.c: 0-RTT (RFC 8446 §4.2.10, §8) */
void tls_strikes_free(struct tls_strikes *st);
/* Server: decides whether the early data of an accepted PSK (index 0) is
 * taken; sets tls->early. `identity` is the PSK identity (the ticket),
 * `obfuscated_age` its age, `s` the ticket's session. */
void tls_early_decide(ho_tls *tls, const struct session *s, uint32_t obfuscated_age, const uint8_t *identity,
                      size_t identity_len, bool alpn_offered);
/* Installs client_early_traffic_secret for reading (server) or writing
 * (client), with `suite` (the client's is the ticket's, before ServerHello). */
hs_status tls_early_install(ho_tls *tls, bool is_write, const ho_tls_suite *suite);
/* Client: goes back to plaintext writes after a HelloRetryRequest (the
 * second ClientHello is not protected, §4.1.4, §4.2.10). */
hs_status tls_early_abandon(ho_tls *tls);
hs_status tls_server_handle_end_of_early_data(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                              ho_tls_out *out);
int tls_ks_early(struct keysched *ks, const uint8_t *th);

/* server.c, client.c */
hs_status tls_server_handle_client_hello(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                     ho_tls_out *out);
hs_status tls_server_handle_finished(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out);
int tls_client_start(ho_tls *tls, ho_tls_out *out);
hs_status tls_client_handle_server_hello(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                     ho_tls_out *out);
hs_status tls_client_handle_encrypted_extensions(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                             ho_tls_out *out);
hs_status tls_client_handle_certificate_request(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                            ho_tls_out *out);
hs_status tls_client_handle_certificate(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                    ho_tls_out *out);
hs_status tls_client_handle_certificate_verify(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                           ho_tls_out *out);
hs_status tls_client_handle_finished(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len, ho_tls_out *out);
hs_status tls_client_handle_new_session_ticket(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                           ho_tls_out *out);

/* client_auth.c: client certificates (mutual TLS) */
/* The signature schemes we verify in a CertificateVerify, and those we
 * accept in certificates (client.c), in preference order. */
extern const uint16_t *const tls_verify_schemes;
extern const size_t tls_verify_scheme_count;
extern const uint16_t *const tls_cert_schemes;
extern const size_t tls_cert_scheme_count;
/* Server: whether this handshake asks for a client certificate. */
bool tls_server_wants_client_cert(const ho_tls *tls);
hs_status tls_server_send_certificate_request(ho_tls *tls, ho_tls_out *out);
hs_status tls_server_handle_certificate(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                        ho_tls_out *out);
hs_status tls_server_handle_certificate_verify(ho_tls *tls, ho_cursor *body, const uint8_t *msg, size_t len,
                                               ho_tls_out *out);
/* Server, at the client's Finished: §4.4.2 a requested Certificate must
 * have come first. */
hs_status tls_server_check_client_flight(ho_tls *tls);
/* Server: a resumed ticket's client subject (may be "") becomes the peer;
 * false when the config requires a certificate the ticket lacks. */
bool tls_server_ticket_acceptable(const ho_tls *tls, const struct session *s);
int tls_server_resume_subject(ho_tls *tls, const struct session *s);
/* Client: remembers the CertificateRequest's signature_algorithms. */
int tls_client_note_request_schemes(ho_tls *tls, ho_cursor sigs);
/* Client: Certificate (+ CertificateVerify) in answer to a request. */
hs_status tls_client_send_client_auth(ho_tls *tls, ho_tls_out *out);
/* Both: remember the verified peer leaf's subject. */
int tls_set_peer_subject(ho_tls *tls);
void tls_client_auth_free(ho_tls_config *cfg);

/* ticket.c */
int tls_ticket_seal(ho_tls_config *cfg, int64_t now_ms, const struct session *s, ho_buf *out);
int tls_ticket_open(ho_tls_config *cfg, int64_t now_ms, const uint8_t *ticket, size_t len, struct session *s);
int tls_session_encode(const struct session *s, ho_buf *out);
int tls_session_decode(const uint8_t *p, size_t len, struct session *s);
void tls_session_clear(struct session *s);

/* keylog.c */
void ho_tls_keylog_default(void *ctx, ho_tls *tls, const char *line);
bool ho_tls_keylog_env_enabled(void);

#endif
