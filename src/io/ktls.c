/* Kernel TLS: handing record protection of an established TLS 1.3
 * connection to Linux (TCP_ULP "tls").
 *
 * The handshake runs in userspace (ho_tls_conn); afterwards the traffic keys
 * and sequence numbers go to the kernel with setsockopt(SOL_TLS, TLS_TX /
 * TLS_RX), and application data is plain send()/recv() on the socket. Other
 * records (alerts, KeyUpdate, NewSessionTicket) cross the boundary as
 * plaintext with their content type in a control message.
 *
 * Kernel interface: Documentation/networking/tls.rst ("Creating a TLS
 * connection", "Send TLS control messages", "Receiving TLS control
 * messages", "TLS 1.3 Key Updates").
 *
 * No per-socket state is kept here: a new read key shows as a generation
 * change across ho_tls_conn_receive_record, and a new write key is due
 * exactly after the record carrying our KeyUpdate (RFC 8446 §4.6.3), which
 * ho_ktls_flush_control sees go by. */
#define _GNU_SOURCE /* strerrordesc_np */

#include "handoff/io.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/tls.h>

#ifndef SOL_TLS
#define SOL_TLS 282
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif

enum {
    CONTENT_ALERT = 21,
    CONTENT_HANDSHAKE = 22,
    CONTENT_APPLICATION_DATA = 23,
    RECORD_HEADER_LEN = 5,
    RECORD_VERSION = 0x0303,
    /* Version field of a queued record whose head was already sent and
     * carried a KeyUpdate (see flush_one); the kernel writes its own header,
     * so these two bytes of ours never reach the wire. */
    RECORD_VERSION_REKEY_AFTER = 0xffff,
    /* Same, for a remainder that carried no KeyUpdate. */
    RECORD_VERSION_REMAINDER = 0xfffe,
    /* RFC 8446 §5.1/§5.2: at most 2^14 bytes of content per record. */
    MAX_PLAINTEXT = 1 << 14,
    ALERT_LEVEL_FATAL = 2,
};

/* ---- probing ---------------------------------------------------------- */

static bool ktls_available;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* The ULP only attaches to an established TCP socket, so the probe makes a
 * loopback connection (tls.rst: "once the connection is established set
 * the TLS ULP"). An unprivileged process cannot make the kernel load the
 * module, so the answer is what connections will see too. */
static void probe(void)
{
    int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int server = -1;
    struct sockaddr_in addr = {0};
    socklen_t addr_len = sizeof(addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (listener >= 0 && client >= 0 && bind(listener, (struct sockaddr *)&addr, sizeof(addr)) == 0 &&
        listen(listener, 1) == 0 && getsockname(listener, (struct sockaddr *)&addr, &addr_len) == 0 &&
        connect(client, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
        server = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (server >= 0 && setsockopt(client, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) == 0)
            ktls_available = true;
    }
    if (server >= 0)
        close(server);
    if (client >= 0)
        close(client);
    if (listener >= 0)
        close(listener);
    ho_log(HO_LOG_DEBUG, "kTLS: the kernel %s the tls ULP", ktls_available ? "offers" : "does not offer");
}

bool ho_ktls_supported(void)
{
    pthread_once(&probe_once, probe);
    return ktls_available;
}

/* ---- keys ------------------------------------------------------------- */

typedef union ktls_crypto_info {
    struct tls_crypto_info info;
    struct tls12_crypto_info_aes_gcm_128 aes_gcm_128;
    struct tls12_crypto_info_aes_gcm_256 aes_gcm_256;
    struct tls12_crypto_info_chacha20_poly1305 chacha20_poly1305;
} ktls_crypto_info;

/* RFC 8446 §5.3: the per-record nonce is the 12-byte IV XOR the sequence
 * number. The kernel keeps the IV as salt || iv for AES-GCM (4 + 8 bytes)
 * and whole for ChaCha20-Poly1305 (no salt). */
_Static_assert(TLS_CIPHER_AES_GCM_128_SALT_SIZE + TLS_CIPHER_AES_GCM_128_IV_SIZE == HO_AEAD_IV_LEN, "AES-128-GCM IV");
_Static_assert(TLS_CIPHER_AES_GCM_256_SALT_SIZE + TLS_CIPHER_AES_GCM_256_IV_SIZE == HO_AEAD_IV_LEN, "AES-256-GCM IV");
_Static_assert(TLS_CIPHER_CHACHA20_POLY1305_IV_SIZE == HO_AEAD_IV_LEN, "ChaCha20-Poly1305 IV");

static void put_seq(unsigned char out[8], uint64_t seq)
{
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)seq;
        seq >>= 8;
    }
}

/* Fills ci from k. Returns the length to give setsockopt, or 0 when the
 * kernel has no cipher for the suite. */
static socklen_t crypto_info_fill(const ho_tls_traffic_keys *k, ktls_crypto_info *ci)
{
    memset(ci, 0, sizeof(*ci));
    ci->info.version = TLS_1_3_VERSION;
    switch (k->suite) {
    case HO_TLS_AES_128_GCM_SHA256: {
        struct tls12_crypto_info_aes_gcm_128 *g = &ci->aes_gcm_128;
        if (k->key_len != sizeof(g->key))
            return 0;
        g->info.cipher_type = TLS_CIPHER_AES_GCM_128;
        memcpy(g->salt, k->iv, sizeof(g->salt));
        memcpy(g->iv, k->iv + sizeof(g->salt), sizeof(g->iv));
        memcpy(g->key, k->key, sizeof(g->key));
        put_seq(g->rec_seq, k->seq);
        return sizeof(*g);
    }
    case HO_TLS_AES_256_GCM_SHA384: {
        struct tls12_crypto_info_aes_gcm_256 *g = &ci->aes_gcm_256;
        if (k->key_len != sizeof(g->key))
            return 0;
        g->info.cipher_type = TLS_CIPHER_AES_GCM_256;
        memcpy(g->salt, k->iv, sizeof(g->salt));
        memcpy(g->iv, k->iv + sizeof(g->salt), sizeof(g->iv));
        memcpy(g->key, k->key, sizeof(g->key));
        put_seq(g->rec_seq, k->seq);
        return sizeof(*g);
    }
    case HO_TLS_CHACHA20_POLY1305_SHA256: {
        struct tls12_crypto_info_chacha20_poly1305 *g = &ci->chacha20_poly1305;
        if (k->key_len != sizeof(g->key))
            return 0;
        g->info.cipher_type = TLS_CIPHER_CHACHA20_POLY1305;
        memcpy(g->iv, k->iv, sizeof(g->iv));
        memcpy(g->key, k->key, sizeof(g->key));
        put_seq(g->rec_seq, k->seq);
        return sizeof(*g);
    }
    default:
        return 0;
    }
}

/* Gives the kernel c's current key of one direction (TLS_TX / TLS_RX).
 * Returns 0 or an errno value (ENOENT: no kernel cipher for the suite). */
static int install_key(int fd, const ho_tls_conn *c, bool write)
{
    ho_tls_traffic_keys k;
    ktls_crypto_info ci;
    int err = 0;
    if (ho_tls_conn_get_traffic_keys(c, write, &k) != HO_OK) {
        memset(&k, 0, sizeof(k));
        err = EINVAL;
    } else {
        socklen_t len = crypto_info_fill(&k, &ci);
        if (len == 0)
            err = ENOENT;
        else if (setsockopt(fd, SOL_TLS, write ? TLS_TX : TLS_RX, &ci, len) != 0)
            err = errno;
    }
    ho_wipe(&k, sizeof(k));
    ho_wipe(&ci, sizeof(ci));
    return err;
}

static uint32_t key_generation(const ho_tls_conn *c, bool write)
{
    ho_tls_traffic_keys k;
    uint32_t generation = 0;
    if (ho_tls_conn_get_traffic_keys(c, write, &k) == HO_OK)
        generation = k.generation;
    ho_wipe(&k, sizeof(k));
    return generation;
}

static bool suite_has_kernel_cipher(uint16_t suite)
{
    return suite == HO_TLS_AES_128_GCM_SHA256 || suite == HO_TLS_AES_256_GCM_SHA384 ||
           suite == HO_TLS_CHACHA20_POLY1305_SHA256;
}

int ho_ktls_enable(int fd, ho_tls_conn *c, const char **why)
{
    const char *unused;
    if (why == NULL)
        why = &unused;
    *why = NULL;
    if (!ho_tls_conn_kernel_ready(c)) {
        *why = "connection not ready for kTLS (handshake running, or records buffered)";
        return HO_ERR_INVALID_ARG;
    }
    const ho_tls_suite *suite = ho_tls_get_suite(ho_tls_conn_tls(c));
    if (suite == NULL || !suite_has_kernel_cipher(suite->id)) {
        *why = "no kernel TLS cipher for the negotiated suite";
        return HO_ERR_NOT_FOUND;
    }
    if (!ho_ktls_supported()) {
        *why = "kernel has no TLS ULP (tls module not loaded)";
        return HO_ERR_NOT_FOUND;
    }
    if (setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", sizeof("tls")) != 0) {
        ho_log(HO_LOG_DEBUG, "kTLS: TCP_ULP tls: %s", strerrordesc_np(errno));
        *why = "setsockopt(TCP_ULP, \"tls\") refused";
        return HO_ERR_NOT_FOUND;
    }
    /* With the ULP attached but no key set, the socket still passes bytes
     * through untouched, so a refused TLS_TX leaves userspace records
     * working. The kernel loads no cipher on its own here: without its
     * crypto modules (gcm, chacha20poly1305) TLS_TX fails with ENOENT. */
    int err = install_key(fd, c, true);
    if (err != 0) {
        ho_log(HO_LOG_DEBUG, "kTLS: TLS_TX (%s): %s", suite->name, strerrordesc_np(err));
        *why = err == ENOENT || err == EINVAL ? "kernel lacks this cipher (TLS_TX refused)" : "setsockopt(TLS_TX) refused";
        return HO_ERR_NOT_FOUND;
    }
    /* From here the kernel seals what we send: no way back to userspace. */
    err = install_key(fd, c, false);
    if (err != 0) {
        ho_log(HO_LOG_WARN, "kTLS: TLS_RX (%s) refused after TLS_TX was set: %s", suite->name, strerrordesc_np(err));
        *why = "setsockopt(TLS_RX) refused after TLS_TX was set; the connection must be closed";
        return HO_ERR_IO;
    }
    if (ho_tls_conn_set_kernel(c, true, true) != HO_OK) {
        *why = "record layer refused kernel mode after the keys were set";
        return HO_ERR_IO;
    }
    return HO_OK;
}

/* ---- control records -------------------------------------------------- */

/* tls.rst "Send TLS control messages": the content goes in plaintext with
 * its record type in a TLS_SET_RECORD_TYPE control message; the kernel
 * seals it as one record (RFC 8446 §5.2 inner type). */
static ssize_t send_record(int fd, uint8_t type, const uint8_t *data, size_t len, int flags)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint8_t))];
    } control;
    memset(&control, 0, sizeof(control));
    struct iovec iov = {(void *)data, len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_TLS;
    cmsg->cmsg_type = TLS_SET_RECORD_TYPE;
    cmsg->cmsg_len = CMSG_LEN(sizeof(uint8_t));
    *CMSG_DATA(cmsg) = type;
    ssize_t n;
    do
        n = sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Whether handshake content holds a KeyUpdate message (RFC 8446 §4.6.3). */
static bool has_key_update(const uint8_t *p, size_t len)
{
    ho_cursor msgs = ho_cursor_make(p, len);
    uint8_t type;
    uint32_t body_len;
    while (ho_get_u8(&msgs, &type) && ho_get_u24(&msgs, &body_len)) {
        if (type == HO_HS_KEY_UPDATE)
            return true;
        if (!ho_skip(&msgs, body_len))
            break;
    }
    return false;
}

static uint16_t get_u16_at(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

/* Parses the record at the head of out. */
static bool head_record(const ho_buf *out, uint8_t *type, uint16_t *version, size_t *len)
{
    if (out->len < RECORD_HEADER_LEN)
        return false;
    *type = out->data[0];
    *version = get_u16_at(out->data + 1);
    *len = get_u16_at(out->data + 3);
    return *len <= out->len - RECORD_HEADER_LEN;
}

/* Whether a record still queued after the head carries a KeyUpdate. */
static bool key_update_queued(const ho_buf *out)
{
    size_t off = 0;
    while (out->len - off >= RECORD_HEADER_LEN) {
        const uint8_t *h = out->data + off;
        size_t len = get_u16_at(h + 3);
        if (len > out->len - off - RECORD_HEADER_LEN)
            break;
        if (h[0] == CONTENT_HANDSHAKE && has_key_update(h + RECORD_HEADER_LEN, len))
            return true;
        off += RECORD_HEADER_LEN + len;
    }
    return false;
}

static int rekey_failed(const char *what, int err)
{
    ho_log(HO_LOG_WARN, "kTLS: kernel cannot rekey after KeyUpdate; closing (%s: %s)", what, strerrordesc_np(err));
    return HO_ERR_IO;
}

/* RFC 8446 §4.6.3: after sending KeyUpdate the sender switches to its next
 * write key. The record layer derived it when the KeyUpdate was queued;
 * the kernel gets it now that the KeyUpdate went out under the old one.
 * Kernels before TLS 1.3 rekey support (e.g. 6.1) refuse a second TLS_TX
 * with EBUSY. */
static int push_write_key(int fd, ho_tls_conn *c)
{
    if (key_update_queued(ho_tls_conn_out(c))) {
        /* Two KeyUpdates queued: the key between them is gone. */
        ho_log(HO_LOG_ERROR, "kTLS: a second KeyUpdate is queued before the first key reached the kernel");
        return HO_ERR_IO;
    }
    int err = install_key(fd, c, true);
    return err == 0 ? HO_OK : rekey_failed("TLS_TX", err);
}

/* Sends the record at the head of out (complete: checked by the caller).
 * Returns HO_OK when it went completely, HO_ERR_WOULD_BLOCK, or an error. */
static int flush_one(int fd, ho_tls_conn *c, uint8_t type, uint16_t version, size_t len)
{
    ho_buf *out = ho_tls_conn_out(c);
    bool rekey_after = version == RECORD_VERSION_REKEY_AFTER ||
                       (version == RECORD_VERSION && type == CONTENT_HANDSHAKE &&
                        has_key_update(out->data + RECORD_HEADER_LEN, len));
    size_t sent = 0;
    if (len > 0) {
        ssize_t n = send_record(fd, type, out->data + RECORD_HEADER_LEN, len, 0);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? HO_ERR_WOULD_BLOCK : HO_ERR_IO;
        sent = (size_t)n;
    }
    if (sent < len) {
        /* The kernel took part of the content (it went as a record of its
         * own). Keep the rest as a record at the head of out: its header
         * goes over bytes already sent. RFC 8446 §5.1 lets handshake
         * content split across records; an alert is two bytes and goes
         * whole or not at all in practice. */
        uint8_t *h = out->data + sent;
        size_t rest = len - sent;
        uint16_t mark = rekey_after ? RECORD_VERSION_REKEY_AFTER : RECORD_VERSION_REMAINDER;
        h[0] = type;
        h[1] = (uint8_t)(mark >> 8);
        h[2] = (uint8_t)mark;
        h[3] = (uint8_t)(rest >> 8);
        h[4] = (uint8_t)rest;
        ho_buf_consume(out, sent);
        return HO_ERR_WOULD_BLOCK;
    }
    ho_buf_consume(out, RECORD_HEADER_LEN + len);
    return rekey_after ? push_write_key(fd, c) : HO_OK;
}

int ho_ktls_flush_control(int fd, ho_tls_conn *c)
{
    ho_buf *out = ho_tls_conn_out(c);
    while (out->len > 0) {
        uint8_t type;
        uint16_t version;
        size_t len;
        if (!head_record(out, &type, &version, &len))
            return HO_ERR_INTERNAL; /* the record layer queues whole records */
        int err = flush_one(fd, c, type, version, len);
        if (err != HO_OK)
            return err;
    }
    return HO_OK;
}

/* ---- receiving -------------------------------------------------------- */

/* Best effort: the kernel sends no alerts of its own. */
static void send_fatal_alert(int fd, uint8_t desc)
{
    const uint8_t alert[2] = {ALERT_LEVEL_FATAL, desc};
    (void)send_record(fd, CONTENT_ALERT, alert, sizeof(alert), MSG_DONTWAIT);
}

static int recv_error(int fd, int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
        return HO_ERR_WOULD_BLOCK;
    case EBADMSG:
        /* A record failed to authenticate (or had no content type): RFC
         * 8446 §5.2, terminate with bad_record_mac. tls_stat counts it as
         * TlsDecryptError. */
        send_fatal_alert(fd, HO_ALERT_BAD_RECORD_MAC);
        ho_log(HO_LOG_INFO, "kTLS: the kernel rejected a record (bad_record_mac)");
        return HO_ERR_DECRYPT;
    case EMSGSIZE:
        /* RFC 8446 §5.2: a record longer than 2^14 + 256 → record_overflow. */
        send_fatal_alert(fd, HO_ALERT_RECORD_OVERFLOW);
        ho_log(HO_LOG_INFO, "kTLS: the kernel rejected an oversized record (record_overflow)");
        return HO_ERR_IO;
    default:
        ho_log(HO_LOG_DEBUG, "kTLS: recvmsg: %s", strerrordesc_np(err));
        return HO_ERR_IO;
    }
}

/* A record other than application data, decrypted by the kernel. */
static ssize_t handle_control_record(int fd, ho_tls_conn *c, uint8_t type, const uint8_t *data, size_t len)
{
    uint32_t read_generation = key_generation(c, false);
    int err = ho_tls_conn_receive_record(c, type, data, len);
    if (err == HO_ERR_CLOSED)
        return HO_ERR_CLOSED;
    if (err != HO_OK) {
        (void)ho_ktls_flush_control(fd, c); /* the alert the record layer queued */
        return err;
    }
    /* RFC 8446 §4.6.3: the peer's records after its KeyUpdate use its next
     * key. Kernels with rekey support hold decryption (EKEYEXPIRED) until
     * TLS_RX is set again (tls.rst "TLS 1.3 Key Updates"); older ones
     * refuse a second TLS_RX with EBUSY and cannot continue. */
    if (key_generation(c, false) != read_generation) {
        int e = install_key(fd, c, false);
        if (e != 0)
            return rekey_failed("TLS_RX", e);
    }
    /* Our answer (a KeyUpdate of our own when update_requested) goes out
     * now; a full socket leaves it for the caller's next flush. */
    if (ho_tls_conn_out(c)->len > 0) {
        err = ho_ktls_flush_control(fd, c);
        if (err != HO_OK && err != HO_ERR_WOULD_BLOCK)
            return err;
    }
    return 0;
}

ssize_t ho_ktls_recv(int fd, ho_tls_conn *c, ho_buf *app_in)
{
    /* Room for a whole record: tls.rst "Receiving TLS control messages" —
     * a control record larger than the buffer would come in pieces. One
     * call never mixes record types, so a control record's content can sit
     * in app_in's spare room without becoming part of it. */
    if (ho_buf_reserve(app_in, MAX_PLAINTEXT) != HO_OK)
        return HO_ERR_NOMEM;
    uint8_t *room = app_in->data + app_in->len;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(uint8_t))];
    } control;
    struct iovec iov = {room, app_in->cap - app_in->len};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    ssize_t n;
    do
        n = recvmsg(fd, &msg, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return recv_error(fd, errno);
    if (n == 0)
        return HO_ERR_CLOSED; /* EOF without close_notify */
    uint8_t type = CONTENT_APPLICATION_DATA;
    for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg))
        if (cmsg->cmsg_level == SOL_TLS && cmsg->cmsg_type == TLS_GET_RECORD_TYPE)
            type = *CMSG_DATA(cmsg);
    if (type == CONTENT_APPLICATION_DATA) {
        app_in->len += (size_t)n;
        return n;
    }
    ssize_t r = handle_control_record(fd, c, type, room, (size_t)n);
    ho_wipe(room, (size_t)n);
    return r;
}
