/* `handoff serve`: the HTTPS server. I/O threads with SO_REUSEPORT
 * listeners, the handshake pool, kTLS after the handshake, HTTP/1.1 with the
 * HttpArena routes, on the HttpArena layout of ports: plaintext 8080, TLS
 * 8081 (json-tls) and TLS 8443. The main thread only waits for signals. */
#define _GNU_SOURCE
#include "common.h"

#include "arena.h"
#include "handoff/http_server.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct serve_opts {
    int port, tls_port, http_port;
    const char *bind, *cert, *key, *suites, *groups, *alpn, *dataset, *static_dir, *root;
    const char *qlog_dir;          /* --qlog-dir */
    const char *ticket_keys;       /* --ticket-keys FILE */
    const char *quic_keys;         /* --quic-keys FILE */
    const char *client_ca;         /* --client-ca FILE */
    ho_tls_client_auth client_auth; /* --client-auth; required when --client-ca is given */
    bool no_tickets, hrr_cookie, no_h3, retry, psk_ke, early_data;
    bool retry_auto;
    long retry_above, refuse_above, retry_queue, refuse_queue;
    long new_token_ms;             /* --new-token-lifetime */
    bool new_token_set;
    long quic_key_update;
    long max_udp_payload;
    long max_body;                 /* -1: the library's default */
    bool no_gso, no_gro, no_ecn;
    bool no_quic_steering;
    uint32_t quic_versions[HO_QUIC_CONFIG_VERSIONS]; /* --quic-versions; zeros: both */
    const char *cc;                                  /* --cc; NULL: CUBIC */
    uint8_t server_id[15];
    size_t server_id_len;
    char metrics_addr[64];         /* --metrics: address ("" : off) */
    long metrics_port;
    ho_server_options server;
} serve_opts;

void serve_usage(FILE *f)
{
    fprintf(f,
            "usage: handoff serve [options]\n"
            "Ports (0 turns one off):\n"
            "  --port N               HTTPS (TLS 1.3) port (default 8443); HTTP/3 (QUIC) listens\n"
            "                         on the same UDP port\n"
            "  --tls-port N           HTTPS port of the HttpArena json-tls profile (default 8081)\n"
            "  --http-port N          plaintext HTTP/1.1 port (default 8080)\n"
            "  --bind ADDR            address to bind, IPv4 or IPv6 literal (default ::, dual-stack:\n"
            "                         IPv4 and IPv6 on one socket; 0.0.0.0 where IPv6 is missing)\n"
            "Certificate (first found): --cert/--key, $TLS_CERT/$TLS_KEY, /certs/server.{crt,key};\n"
            "otherwise a self-signed ECDSA P-256 certificate for localhost is generated and its\n"
            "PEM written to ${TMPDIR:-/tmp}/handoff-selfsigned-PORT.pem.\n"
            "  --cert FILE            certificate chain, PEM (leaf first); needs --key\n"
            "  --key FILE             private key, PEM; needs --cert\n"
            "TLS:\n"
            "  --suites LIST          cipher suites in preference order, comma-separated:\n"
            "                         TLS_AES_128_GCM_SHA256,TLS_AES_256_GCM_SHA384,\n"
            "                         TLS_CHACHA20_POLY1305_SHA256\n"
            "  --groups LIST          key-exchange groups in preference order: X25519MLKEM768,\n"
            "                         X25519,P-256,P-384 (default X25519MLKEM768,X25519,P-256)\n"
            "  --alpn LIST            ALPN protocols to accept (default http/1.1); a client that\n"
            "                         offers ALPN but none of these is refused; one that offers\n"
            "                         none gets HTTP/1.1\n"
            "  --no-tickets           do not issue session tickets (no resumption)\n"
            "  --hrr-cookie           send a cookie in HelloRetryRequest\n"
            "  --psk-ke               resume clients that offer it without (EC)DHE (psk_ke)\n"
            "  --client-ca FILE       ask clients for a certificate (mutual TLS, TCP and QUIC) and\n"
            "                         verify it against the CA certificates in FILE (PEM); handlers\n"
            "                         see the verified subject (docs/SERVER.md \"Client certificates\")\n"
            "  --client-auth MODE     required (default with --client-ca: no certificate, no\n"
            "                         connection) or optional (a client without one is served)\n"
            "  --early-data           accept 0-RTT early data over TCP (tickets allow 16384\n"
            "                         bytes) and QUIC (0-RTT packets within our transport\n"
            "                         parameters): GET/HEAD in it are answered before the\n"
            "                         handshake completes, other methods after it; replays are\n"
            "                         refused per process (docs/SERVER.md \"Early data\")\n"
            "  --ticket-keys FILE     session ticket keys shared by a fleet (docs/SERVER.md):\n"
            "                         one key per line, 64 hex digits (openssl rand -hex 32),\n"
            "                         '#' comments; the first key seals, every key opens; SIGHUP\n"
            "                         re-reads it (a bad file keeps the keys in use). Without it,\n"
            "                         each process has its own keys, rotated hourly\n"
            "  --no-h3                no HTTP/3 (QUIC on UDP --port)\n"
            "  --retry[=MODE]         QUIC address validation with Retry: always (what --retry\n"
            "                         alone means), off, or auto (default): a Retry for new\n"
            "                         clients without a token while a thread has --retry-above\n"
            "                         handshakes in progress\n"
            "  --retry-above N        QUIC, --retry auto: handshakes in progress per thread from\n"
            "                         which new clients get a Retry (default 256)\n"
            "  --refuse-above N       QUIC: handshakes in progress per thread from which new\n"
            "                         clients are refused, CONNECTION_REFUSED (default 4096; 0: never)\n"
            "  --retry-queue N        QUIC, --retry auto: also a Retry while N handshake steps wait\n"
            "                         in the offload pool's queue (default 512; 0: never)\n"
            "  --refuse-queue N       QUIC: refuse new clients while N steps wait (default 0: never)\n"
            "  --new-token-lifetime MS QUIC: NEW_TOKEN tokens (RFC 9000 section 8.1.3) are valid MS\n"
            "                         milliseconds (default 86400000, 24 h; 0: send none). A client\n"
            "                         back from the same IP address with one skips the Retry\n"
            "  --quic-key-update N    QUIC: start a 1-RTT key update every N packets sent (default\n"
            "                         4194304, before the AES-GCM limit of RFC 9001 section 6.6)\n"
            "  --no-gso, --no-gro     QUIC: no UDP segmentation offload on send / receive (both are\n"
            "                         on by default and turned off by themselves if the kernel refuses)\n"
            "  --no-ecn               QUIC: never mark packets ECT(0) (RFC 9000 section 13.4)\n"
            "  --max-udp-payload N    QUIC: the largest datagram path MTU discovery may reach and\n"
            "                         that we accept, 1200..65527 (default 1452)\n"
            "  --server-id HEX        QUIC: server id carried in our connection IDs (1 to 15 octets\n"
            "                         in hex, default 00), QUIC-LB plaintext layout (docs/QUIC.md)\n"
            "  --quic-keys FILE       QUIC: the Retry token and stateless reset keys come from\n"
            "                         the first key of FILE (the --ticket-keys format), so servers\n"
            "                         with the same file validate each other's tokens and resets;\n"
            "                         read at start only (default: random per process)\n"
            "  --cc NAME              QUIC: congestion controller, cubic (default), newreno or bbr\n"
            "  --quic-versions LIST   QUIC: versions accepted, in order of preference (v1, v2 =\n"
            "                         RFC 9369); a client listing a preferred one is moved to it\n"
            "                         (compatible negotiation, RFC 9368). Default: v1 and v2, the\n"
            "                         client's choice kept\n"
            "  --no-quic-steering     QUIC: no reuseport BPF program; a thread that reads another\n"
            "                         thread's datagram hands it over (counted: quic_forwarded)\n"
            "  --ktls on|off|auto     kernel TLS after the handshake (default auto: use it where\n"
            "                         the kernel can, userspace records elsewhere; on: refuse to\n"
            "                         start without kernel support)\n"
            "Threads and handshake offload:\n"
            "  --threads N            I/O threads, each serving TCP and QUIC (default: one per CPU)\n"
            "  --handshake-workers M  handshake worker threads (default: one per CPU; 0: inline)\n"
            "  --offload MODE         off | always | adaptive (default adaptive: inline while the\n"
            "                         loop is idle, on a worker when it would delay others)\n"
            "  --worker-nice N        nice value added to the handshake workers (default 10: under\n"
            "                         full CPU, established connections come first; 0: new\n"
            "                         handshakes compete equally)\n"
            "Timeouts (milliseconds):\n"
            "  --handshake-timeout MS accept to handshake done (default 10000)\n"
            "  --idle-timeout MS      keep-alive connection waiting for a request (default 60000)\n"
            "  --request-timeout MS   first byte to complete request (default 10000)\n"
            "  --send-timeout MS      response pending and no byte taken by the client for this\n"
            "                         long: close (default 60000)\n"
            "Memory per connection:\n"
            "  --out-high-water BYTES unsent output above which a connection is not read and its\n"
            "                         pipelined requests wait (default 262144; static bodies of\n"
            "                         16 KiB or more are sent by reference, 48 KiB sealed at a time)\n"
            "Content:\n"
            "  --dataset FILE         HttpArena dataset for /json (default $DATASET, then\n"
            "                         /data/dataset.json, else a built-in 50-item dataset)\n"
            "  --static DIR           files for /static/ (default /data/static when present)\n"
            "  --root DIR             serve the files under DIR at / (a path ending in / means its\n"
            "                         index.html; loaded into memory at start: 4096 files, 64 MiB\n"
            "                         each, 1 GiB in all; hidden files and symlinks skipped); the\n"
            "                         routes below keep precedence\n"
            "  --max-body N           request bodies (Content-Length or chunked, decoded) above\n"
            "                         N bytes get 413 (default 1048576; at most 1 GiB); over\n"
            "                         HTTP/3 the request is refused (H3_REQUEST_REJECTED)\n"
            "Routes: /  /json/{count}?m={m}  /baseline2?a=&b=  /static/<file>  POST /upload\n"
            "Monitoring:\n"
            "  --metrics [ADDR:]PORT  serve GET /metrics in the Prometheus text format (plain\n"
            "                         HTTP/1.1 on the I/O threads; ADDR default 127.0.0.1, an IPv6\n"
            "                         literal in brackets; PORT 0 picks one): every counter below,\n"
            "                         per thread, and handshake and offload queue histograms\n"
            "Debugging (docs/DEBUGGING.md):\n"
            "  --qlog-dir DIR         write a qlog (JSON-SEQ) of each QUIC connection to\n"
            "                         DIR/<odcid>_server.sqlog (default: $QLOGDIR if set)\n"
            "Signals: SIGINT/SIGTERM stop gracefully; SIGUSR1 prints counters (JSON) on stderr\n"
            "(h3_* fields: QUIC connections, handshakes, resumed, key updates, VN, Retry);\n"
            "SIGHUP reloads --ticket-keys.\n"
            "  -h, --help             this help\n");
}

static bool parse_int(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || v < lo || v > hi) {
        fprintf(stderr, "handoff: %s: expected a number in [%ld, %ld], got '%s'\n", flag, lo, hi, s);
        return false;
    }
    *out = v;
    return true;
}

/* --server-id: 1..15 octets in hex. */
static bool parse_hex_id(const char *s, uint8_t *out, size_t *len)
{
    size_t n = strlen(s);
    if (n == 0 || n % 2 != 0 || n / 2 > 15)
        goto bad;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1 || !isxdigit((unsigned char)s[2 * i]) ||
            !isxdigit((unsigned char)s[2 * i + 1]))
            goto bad;
        out[i] = (uint8_t)v;
    }
    *len = n / 2;
    return true;
bad:
    fprintf(stderr, "handoff: --server-id: expected 1 to 15 octets in hex (e.g. 0a1b), got '%s'\n", s);
    return false;
}

/* --metrics: PORT, :PORT, ADDR:PORT or [IPv6]:PORT; ADDR defaults to
 * 127.0.0.1 (metrics stay on loopback unless asked). */
static bool parse_metrics(const char *s, serve_opts *o)
{
    const char *port = s, *colon = strrchr(s, ':');
    size_t alen = 0;
    const char *addr = "127.0.0.1";
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':')
            goto bad;
        addr = s + 1;
        alen = (size_t)(close - addr);
        port = close + 2;
    } else if (colon != NULL) {
        if (strchr(s, ':') != colon) /* an IPv6 literal needs brackets */
            goto bad;
        if (colon != s) {
            addr = s;
            alen = (size_t)(colon - s);
        }
        port = colon + 1;
    }
    if (alen == 0)
        alen = strlen(addr);
    if (alen >= sizeof(o->metrics_addr))
        goto bad;
    memcpy(o->metrics_addr, addr, alen);
    o->metrics_addr[alen] = '\0';
    struct sockaddr_storage ss;
    socklen_t sl;
    if (ho_sockaddr_parse(o->metrics_addr, 0, &ss, &sl) != HO_OK)
        goto bad;
    return parse_int("--metrics", port, 0, 65535, &o->metrics_port);
bad:
    fprintf(stderr, "handoff: --metrics: expected PORT, :PORT, ADDR:PORT or [ADDR]:PORT with an IP literal, got '%s'\n",
            s);
    return false;
}

static int parse_args(int argc, char **argv, serve_opts *o)
{
    enum {
        O_PORT = 256, O_TLS_PORT, O_HTTP_PORT, O_BIND, O_CERT, O_KEY, O_SUITES, O_GROUPS, O_ALPN, O_NO_TICKETS,
        O_HRR_COOKIE, O_PSK_KE, O_EARLY_DATA, O_KTLS, O_THREADS, O_WORKERS, O_OFFLOAD, O_HS_TIMEOUT, O_IDLE_TIMEOUT, O_REQ_TIMEOUT,
        O_DATASET, O_STATIC, O_WORKER_NICE, O_NO_H3, O_RETRY, O_ROOT, O_QUIC_KEY_UPDATE,
        O_NO_GSO, O_NO_GRO, O_NO_ECN, O_MAX_UDP_PAYLOAD, O_SERVER_ID, O_NO_QUIC_STEERING, O_QUIC_VERSIONS, O_CC,
        O_RETRY_ABOVE, O_REFUSE_ABOVE, O_RETRY_QUEUE, O_REFUSE_QUEUE, O_MAX_BODY, O_SEND_TIMEOUT,
        O_OUT_HIGH_WATER, O_METRICS, O_QLOG_DIR, O_TICKET_KEYS, O_QUIC_KEYS, O_CLIENT_CA, O_CLIENT_AUTH, O_NEW_TOKEN,
    };
    static const struct option opts[] = {
        {"port", required_argument, NULL, O_PORT},
        {"tls-port", required_argument, NULL, O_TLS_PORT},
        {"http-port", required_argument, NULL, O_HTTP_PORT},
        {"bind", required_argument, NULL, O_BIND},
        {"cert", required_argument, NULL, O_CERT},
        {"key", required_argument, NULL, O_KEY},
        {"suites", required_argument, NULL, O_SUITES},
        {"groups", required_argument, NULL, O_GROUPS},
        {"alpn", required_argument, NULL, O_ALPN},
        {"no-tickets", no_argument, NULL, O_NO_TICKETS},
        {"hrr-cookie", no_argument, NULL, O_HRR_COOKIE}, {"psk-ke", no_argument, NULL, O_PSK_KE},
        {"client-ca", required_argument, NULL, O_CLIENT_CA},
        {"client-auth", required_argument, NULL, O_CLIENT_AUTH},
        {"early-data", no_argument, NULL, O_EARLY_DATA},
        {"ktls", required_argument, NULL, O_KTLS},
        {"threads", required_argument, NULL, O_THREADS},
        {"handshake-workers", required_argument, NULL, O_WORKERS},
        {"offload", required_argument, NULL, O_OFFLOAD},
        {"worker-nice", required_argument, NULL, O_WORKER_NICE},
        {"no-h3", no_argument, NULL, O_NO_H3},
        {"retry", optional_argument, NULL, O_RETRY},
        {"retry-above", required_argument, NULL, O_RETRY_ABOVE},
        {"refuse-above", required_argument, NULL, O_REFUSE_ABOVE},
        {"retry-queue", required_argument, NULL, O_RETRY_QUEUE},
        {"new-token-lifetime", required_argument, NULL, O_NEW_TOKEN},
        {"refuse-queue", required_argument, NULL, O_REFUSE_QUEUE},
        {"handshake-timeout", required_argument, NULL, O_HS_TIMEOUT},
        {"idle-timeout", required_argument, NULL, O_IDLE_TIMEOUT},
        {"request-timeout", required_argument, NULL, O_REQ_TIMEOUT},
        {"send-timeout", required_argument, NULL, O_SEND_TIMEOUT},
        {"out-high-water", required_argument, NULL, O_OUT_HIGH_WATER},
        {"dataset", required_argument, NULL, O_DATASET},
        {"static", required_argument, NULL, O_STATIC},
        {"root", required_argument, NULL, O_ROOT},
        {"max-body", required_argument, NULL, O_MAX_BODY},
        {"quic-key-update", required_argument, NULL, O_QUIC_KEY_UPDATE},
        {"no-gso", no_argument, NULL, O_NO_GSO},
        {"no-gro", no_argument, NULL, O_NO_GRO},
        {"no-ecn", no_argument, NULL, O_NO_ECN},
        {"max-udp-payload", required_argument, NULL, O_MAX_UDP_PAYLOAD},
        {"server-id", required_argument, NULL, O_SERVER_ID},
        {"no-quic-steering", no_argument, NULL, O_NO_QUIC_STEERING},
        {"quic-versions", required_argument, NULL, O_QUIC_VERSIONS},
        {"cc", required_argument, NULL, O_CC},
        {"metrics", required_argument, NULL, O_METRICS},
        {"qlog-dir", required_argument, NULL, O_QLOG_DIR},
        {"ticket-keys", required_argument, NULL, O_TICKET_KEYS},
        {"quic-keys", required_argument, NULL, O_QUIC_KEYS},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int opt;
    long v;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (opt) {
        case O_PORT:
        case O_TLS_PORT:
        case O_HTTP_PORT:
            if (!parse_int(argv[optind - 2], optarg, 0, 65535, &v))
                return 2;
            *(opt == O_PORT ? &o->port : opt == O_TLS_PORT ? &o->tls_port : &o->http_port) = (int)v;
            break;
        case O_BIND: o->bind = optarg; break;
        case O_CERT: o->cert = optarg; break;
        case O_KEY: o->key = optarg; break;
        case O_SUITES: o->suites = optarg; break;
        case O_GROUPS: o->groups = optarg; break;
        case O_ALPN: o->alpn = optarg; break;
        case O_NO_TICKETS: o->no_tickets = true; break;
        case O_TICKET_KEYS: o->ticket_keys = optarg; break;
        case O_QUIC_KEYS: o->quic_keys = optarg; break;
        case O_NO_H3: o->no_h3 = true; break;
        case O_RETRY:
            o->retry = optarg == NULL || strcmp(optarg, "always") == 0;
            o->retry_auto = optarg != NULL && strcmp(optarg, "auto") == 0;
            if (optarg != NULL && !o->retry && !o->retry_auto && strcmp(optarg, "off") != 0) {
                fprintf(stderr, "handoff: --retry: expected always, auto or off, got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_RETRY_ABOVE:
            if (!parse_int("--retry-above", optarg, 1, 1000000000, &o->retry_above))
                return 2;
            break;
        case O_REFUSE_ABOVE:
            if (!parse_int("--refuse-above", optarg, 0, 1000000000, &o->refuse_above))
                return 2;
            break;
        case O_RETRY_QUEUE:
            if (!parse_int("--retry-queue", optarg, 0, 1000000000, &o->retry_queue))
                return 2;
            break;
        case O_NEW_TOKEN:
            if (!parse_int("--new-token-lifetime", optarg, 0, 10L * 365 * 86400 * 1000, &o->new_token_ms))
                return 2;
            o->new_token_set = true;
            break;
        case O_REFUSE_QUEUE:
            if (!parse_int("--refuse-queue", optarg, 0, 1000000000, &o->refuse_queue))
                return 2;
            break;
        case O_HRR_COOKIE: o->hrr_cookie = true; break;
        case O_PSK_KE: o->psk_ke = true; break;
        case O_CLIENT_CA: o->client_ca = optarg; break;
        case O_CLIENT_AUTH:
            if (strcmp(optarg, "required") == 0)
                o->client_auth = HO_TLS_CLIENT_AUTH_REQUIRED;
            else if (strcmp(optarg, "optional") == 0)
                o->client_auth = HO_TLS_CLIENT_AUTH_OPTIONAL;
            else {
                fprintf(stderr, "handoff: --client-auth: 'required' or 'optional', not '%s'\n", optarg);
                return 2;
            }
            break;
        case O_EARLY_DATA: o->early_data = true; break;
        case O_DATASET: o->dataset = optarg; break;
        case O_STATIC: o->static_dir = optarg; break;
        case O_ROOT: o->root = optarg; break;
        case O_MAX_BODY:
            if (!parse_int("--max-body", optarg, 0, 1L << 30, &o->max_body))
                return 2;
            break;
        case O_NO_GSO: o->no_gso = true; break;
        case O_NO_GRO: o->no_gro = true; break;
        case O_NO_ECN: o->no_ecn = true; break;
        case O_NO_QUIC_STEERING: o->no_quic_steering = true; break;
        case O_CC:
            if ((o->cc = app_parse_cc(optarg)) == NULL) {
                fprintf(stderr, "handoff: --cc: cubic, newreno or bbr\n");
                return 2;
            }
            break;
        case O_QUIC_VERSIONS:
            if (app_parse_quic_versions(optarg, o->quic_versions) != 0) {
                fprintf(stderr, "handoff: --quic-versions: e.g. v2,v1 (v1, v2 or hex, at most 4)\n");
                return 2;
            }
            break;
        case O_METRICS:
            if (!parse_metrics(optarg, o))
                return 2;
            break;
        case O_SERVER_ID:
            if (!parse_hex_id(optarg, o->server_id, &o->server_id_len))
                return 2;
            break;
        case O_MAX_UDP_PAYLOAD:
            if (!parse_int("--max-udp-payload", optarg, 1200, 65527, &o->max_udp_payload))
                return 2;
            break;
        case O_QUIC_KEY_UPDATE:
            if (!parse_int("--quic-key-update", optarg, 1, 1L << 22, &o->quic_key_update))
                return 2;
            break;
        case O_KTLS:
            if (strcmp(optarg, "on") == 0)
                o->server.ktls = HO_KTLS_ON;
            else if (strcmp(optarg, "off") == 0)
                o->server.ktls = HO_KTLS_OFF;
            else if (strcmp(optarg, "auto") == 0)
                o->server.ktls = HO_KTLS_AUTO;
            else {
                fprintf(stderr, "handoff: --ktls: expected on, off or auto, got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_OFFLOAD:
            if (strcmp(optarg, "off") == 0)
                o->server.offload = HO_OFFLOAD_OFF;
            else if (strcmp(optarg, "always") == 0)
                o->server.offload = HO_OFFLOAD_ALWAYS;
            else if (strcmp(optarg, "adaptive") == 0)
                o->server.offload = HO_OFFLOAD_ADAPTIVE;
            else {
                fprintf(stderr, "handoff: --offload: expected off, always or adaptive, got '%s'\n", optarg);
                return 2;
            }
            break;
        case O_THREADS:
            if (!parse_int("--threads", optarg, 1, 1024, &v))
                return 2;
            o->server.io_threads = (unsigned)v;
            break;
        case O_WORKER_NICE:
            if (!parse_int("--worker-nice", optarg, 0, 19, &v))
                return 2;
            o->server.worker_nice = (int)v;
            break;
        case O_WORKERS:
            if (!parse_int("--handshake-workers", optarg, 0, 1024, &v))
                return 2;
            o->server.handshake_workers = (int)v;
            break;
        case O_HS_TIMEOUT:
        case O_IDLE_TIMEOUT:
        case O_REQ_TIMEOUT:
            if (!parse_int(argv[optind - 2], optarg, 1, 86400000, &v))
                return 2;
            *(opt == O_HS_TIMEOUT     ? &o->server.handshake_timeout_ms
              : opt == O_IDLE_TIMEOUT ? &o->server.idle_timeout_ms
                                      : &o->server.request_timeout_ms) = (int)v;
            break;
        case O_SEND_TIMEOUT:
            if (!parse_int("--send-timeout", optarg, 1, 86400000, &v))
                return 2;
            o->server.send_timeout_ms = (int)v;
            break;
        case O_OUT_HIGH_WATER:
            if (!parse_int("--out-high-water", optarg, 4096, 1L << 30, &v))
                return 2;
            o->server.out_high_water = (size_t)v;
            break;
        case O_QLOG_DIR: o->qlog_dir = optarg; break;
        case 'h': serve_usage(stdout); return 1;
        default: serve_usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "handoff: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((o->cert == NULL) != (o->key == NULL)) {
        fprintf(stderr, "handoff: --cert and --key go together\n");
        return 2;
    }
    if (o->client_auth != HO_TLS_CLIENT_AUTH_NONE && o->client_ca == NULL) {
        fprintf(stderr, "handoff: --client-auth needs --client-ca FILE\n");
        return 2;
    }
    if (o->client_ca != NULL && o->client_auth == HO_TLS_CLIENT_AUTH_NONE)
        o->client_auth = HO_TLS_CLIENT_AUTH_REQUIRED;
    if (o->port == 0 && o->tls_port == 0 && o->http_port == 0) {
        fprintf(stderr, "handoff: every port is off (--port, --tls-port, --http-port)\n");
        return 2;
    }
    return 0;
}

/* Without any certificate: a fresh self-signed one for localhost, its PEM
 * written where clients can --cafile it; chain and key PEM into the bufs. */
static int make_selfsigned(int port, ho_buf *chain_pem, ho_buf *key_pem)
{
    ho_privkey *key = NULL;
    ho_cert_chain chain = {0};
    int err = ho_selfsigned_generate("localhost", 30, &key, &chain);
    if (err != HO_OK) {
        app_report_error("generating a self-signed certificate", err);
        return err;
    }
    err = ho_cert_to_pem(chain.der[0], chain.len[0], chain_pem);
    if (err == HO_OK)
        err = ho_privkey_to_pem(key, key_pem);
    ho_cert_chain_free(&chain);
    ho_privkey_free(key);
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/handoff-selfsigned-%d.pem", dir && *dir ? dir : "/tmp", port);
    if (err == HO_OK)
        err = app_write_file(path, chain_pem->data, chain_pem->len);
    if (err != HO_OK) {
        app_report_error("writing the self-signed certificate", err);
        return err;
    }
    fprintf(stderr, "handoff: no certificate configured: using a self-signed one for localhost, written to %s\n",
            path);
    return HO_OK;
}

static bool readable(const char *path) { return path != NULL && access(path, R_OK) == 0; }

/* Whether this host has IPv6 at all (a kernel booted with ipv6.disable=1
 * refuses the socket): the default bind is then 0.0.0.0 instead of ::. */
static bool ipv6_available(void)
{
    int fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
}

/* --cert/--key, then $TLS_CERT/$TLS_KEY, then /certs/server.{crt,key}; a
 * certificate found without its key is an error, never a silent fallback.
 * The chain and key come back as PEM, so every listener (TCP, QUIC) loads
 * the same certificate. */
static int find_certificate(const serve_opts *o, int port, ho_buf *chain_pem, ho_buf *key_pem)
{
    const char *cert = o->cert, *key = o->key, *from = "--cert/--key";
    if (cert == NULL && (getenv("TLS_CERT") != NULL || getenv("TLS_KEY") != NULL)) {
        cert = getenv("TLS_CERT");
        key = getenv("TLS_KEY");
        from = "$TLS_CERT/$TLS_KEY";
        if (cert == NULL || key == NULL) {
            fprintf(stderr, "handoff: TLS_CERT and TLS_KEY must both be set\n");
            return HO_ERR_INVALID_ARG;
        }
    }
    if (cert == NULL && readable("/certs/server.crt")) {
        cert = "/certs/server.crt";
        key = "/certs/server.key";
        from = "/certs";
        if (!readable(key)) {
            fprintf(stderr, "handoff: /certs/server.crt is present but /certs/server.key is not readable\n");
            return HO_ERR_NOT_FOUND;
        }
    }
    if (cert == NULL)
        return make_selfsigned(port, chain_pem, key_pem);
    int err = app_read_file(cert, chain_pem);
    if (err == HO_OK)
        err = app_read_file(key, key_pem);
    if (err != HO_OK) {
        fprintf(stderr, "handoff: reading the certificate from %s (%s, %s): %s\n", from, cert, key, ho_err_str(err));
        return err;
    }
    fprintf(stderr, "handoff: certificate from %s (%s)\n", from, cert);
    return HO_OK;
}

/* Loads the PEM chain and key into cfg. */
static int add_certificate(ho_tls_config *cfg, const ho_buf *chain_pem, const ho_buf *key_pem)
{
    ho_cert_chain chain = {0};
    ho_privkey *key = NULL;
    int err = ho_cert_chain_load_pem(&chain, chain_pem->data, chain_pem->len);
    if (err == HO_OK) {
        key = ho_privkey_load_pem(key_pem->data, key_pem->len);
        if (key == NULL)
            err = HO_ERR_CERT_BAD;
    }
    if (err != HO_OK) {
        ho_cert_chain_free(&chain);
        app_report_error("loading the certificate and key", err);
        return err;
    }
    err = ho_tls_config_add_cert(cfg, &chain, key); /* takes both */
    if (err != HO_OK)
        app_report_error("certificate", err);
    return err;
}

static const char index_page[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>handoff</title></head>\n"
    "<body><h1>handoff</h1>\n<p>TLS 1.3 and QUIC for C servers.</p>\n<ul>\n"
    "<li><a href=\"/json/5?m=2\">/json/5?m=2</a></li>\n"
    "<li><a href=\"/baseline2?a=1&amp;b=2\">/baseline2?a=1&amp;b=2</a></li>\n"
    "</ul></body></html>\n";

static int index_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    /* Registered as "/", which the router treats as a prefix: everything
     * no other route takes arrives here. Only "/" itself is the page. */
    if (req->path.len != 1) {
        resp->status = 404;
        resp->content_type = "text/plain";
        resp->static_body = (const uint8_t *)"404 Not Found\n";
        resp->static_len = 14;
        return HO_OK;
    }
    resp->content_type = "text/html; charset=utf-8";
    if (req->tls == NULL) {
        resp->static_body = (const uint8_t *)index_page;
        resp->static_len = sizeof(index_page) - 1;
        return HO_OK;
    }
    /* Over TLS the page also says what was negotiated. */
    ho_tls *t = req->tls;
    const ho_tls_suite *suite = ho_tls_get_suite(t);
    char info[256];
    /* RFC 8470: with ?refuse-early the page stands for a handler that must
     * not answer a replayable request: early, it says 425 Too Early. */
    if (req->early && req->query.len == 12 && memcmp(req->query.p, "refuse-early", 12) == 0) {
        ho_http_too_early(resp);
        return HO_OK;
    }
    int n = snprintf(info, sizeof(info), "<p>TLS 1.3: %s, %s</p><p>ALPN: %s, resumed: %s, early data: %s</p>\n",
                     suite ? suite->name : "?", app_group_name(ho_tls_get_group(t)),
                     ho_tls_get_alpn(t) ? ho_tls_get_alpn(t) : "none", ho_tls_is_resumed(t) ? "yes" : "no",
                     req->early ? "yes" : "no");
    if (n < 0 || (size_t)n >= sizeof(info))
        n = 0;
    const char *split = strstr(index_page, "<ul>");
    ho_put_bytes(resp->body, index_page, (size_t)(split - index_page));
    ho_put_bytes(resp->body, info, (size_t)n);
    ho_put_bytes(resp->body, split, strlen(split));
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

/* GET /whoami (with --client-ca): the verified client certificate's
 * subject, one line, or "none" (optional mode, no certificate), over TCP
 * and HTTP/3 alike (docs/SERVER.md "Client certificates"). */
static int whoami_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)ctx;
    const char *s = req->client_subject ? req->client_subject : "none";
    resp->content_type = "text/plain; charset=utf-8";
    ho_put_bytes(resp->body, s, strlen(s));
    ho_put_u8(resp->body, '\n');
    return resp->body->failed ? HO_ERR_NOMEM : HO_OK;
}

/* GET /metrics on the --metrics port: the Prometheus text of the server
 * (the handler's ctx), built per scrape from the threads' counters. */
static int metrics_handler(void *ctx, const ho_http_request *req, ho_http_response *resp)
{
    (void)req;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    return ho_server_metrics_text(ctx, resp->body);
}

/* One JSON object: the TCP server's counters, then QUIC's (the "h3_..."
 * and "quic_..." fields, summed, and "quic_threads": each thread's) when
 * it runs. */
static void print_stats(ho_server *srv, bool quic)
{
    ho_server_stats st;
    ho_server_get_stats(srv, &st);
    ho_buf b;
    ho_buf_init(&b);
    ho_server_stats_json(&st, &b);
    if (quic && b.len > 0 && b.data[b.len - 1] == '}') {
        ho_buf q;
        ho_buf_init(&q);
        ho_server_quic_stats_json(srv, &q);
        if (q.len > 2) {
            b.data[b.len - 1] = ',';
            ho_put_bytes(&b, q.data + 1, q.len - 1);
        }
        ho_buf_free(&q);
    }
    fprintf(stderr, "handoff: counters %.*s\n", (int)b.len, (const char *)b.data);
    ho_buf_free(&b);
}


/* --client-ca / --client-auth: the same for TCP and QUIC configs. */
static bool set_client_auth(ho_tls_config *cfg, const serve_opts *o)
{
    if (o->client_ca == NULL)
        return true;
    int err = ho_tls_config_set_client_auth(cfg, o->client_auth, o->client_ca);
    if (err != HO_OK) {
        fprintf(stderr, "handoff: --client-ca %s: %s\n", o->client_ca, ho_err_str(err));
        return false;
    }
    return true;
}

/* ---- --ticket-keys / --quic-keys (docs/SERVER.md "Ticket keys") --------- */

/* Reads a key file: the keys into secrets (room for max). On failure,
 * prints why (what says which flag) and returns false. A file others may
 * read gets a warning: whoever has the keys can open every ticket. */
static bool read_key_file(const char *what, const char *path, uint8_t *secrets, size_t max, size_t *n)
{
    char err[256];
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 077) != 0)
        fprintf(stderr, "handoff: warning: %s %s is readable or writable by group or others (mode %03o); "
                        "chmod 600 it\n", what, path, (unsigned)(st.st_mode & 0777));
    if (ho_tls_ticket_keys_read(path, secrets, max, n, err, sizeof(err)) != HO_OK) {
        fprintf(stderr, "handoff: %s %s: %s\n", what, path, err);
        return false;
    }
    return true;
}

/* Loads the ticket keys into the TLS configs given (TCP and QUIC). At
 * start a bad file is fatal; on SIGHUP it keeps the keys in use. Both
 * cases log one line (the interop tests wait for it). */
static bool load_ticket_keys(const char *path, ho_tls_config *cfg, ho_tls_config *qcfg, bool reload)
{
    uint8_t secrets[HO_TLS_TICKET_KEYS_MAX * HO_TLS_TICKET_SECRET_LEN];
    size_t n = 0;
    bool ok = read_key_file("--ticket-keys", path, secrets, HO_TLS_TICKET_KEYS_MAX, &n);
    if (ok && cfg != NULL)
        ok = ho_tls_config_set_ticket_keys(cfg, secrets, n) == HO_OK;
    if (ok && qcfg != NULL)
        ok = ho_tls_config_set_ticket_keys(qcfg, secrets, n) == HO_OK;
    uint8_t id[4] = {0};
    if (ok)
        ho_tls_ticket_key_id(secrets, id);
    ho_wipe(secrets, sizeof(secrets));
    if (ok)
        fprintf(stderr, "handoff: ticket keys %s from %s: %zu key%s, sealing with key id %02x%02x%02x%02x\n",
                reload ? "reloaded" : "loaded", path, n, n == 1 ? "" : "s", id[0], id[1], id[2], id[3]);
    else if (reload)
        fprintf(stderr, "handoff: ticket keys NOT reloaded from %s: keeping the keys in use\n", path);
    return ok;
}

int serve_main(int argc, char **argv)
{
    /* A server's errors and warnings go to stderr unless HANDOFF_LOG says
     * otherwise (read once, at the first event). */
    setenv("HANDOFF_LOG", "warn", 0);
    serve_opts o = {.port = 8443,
                    .tls_port = 8081,
                    .http_port = 8080,
                    .alpn = "http/1.1",
                    .retry_auto = true,
                    .retry_above = 256,
                    .refuse_above = 4096,
                    .retry_queue = 512,
                    .max_body = -1};
    ho_server_options_default(&o.server);
    int rc = parse_args(argc, argv, &o);
    if (rc != 0)
        return rc == 1 ? 0 : rc;
    const char *qlog_dir = ho_qlog_dir_from_env(o.qlog_dir);
    if (qlog_dir != NULL && ho_qlog_start(qlog_dir) != HO_OK) {
        fprintf(stderr, "handoff: --qlog-dir / QLOGDIR: cannot write to %s\n", qlog_dir);
        return 2;
    }
    if (o.bind == NULL)
        o.bind = ipv6_available() ? "::" : "0.0.0.0";
    /* A URL host: an IPv6 literal in brackets. */
    char host[64];
    snprintf(host, sizeof(host), strchr(o.bind, ':') != NULL ? "[%s]" : "%s", o.bind);

    ho_tls_config *cfg = NULL, *qcfg = NULL;
    bool h3 = false;
    uint8_t qs_secret[HO_TLS_TICKET_SECRET_LEN] = {0};
    ho_buf chain_pem, key_pem;
    ho_buf_init(&chain_pem);
    ho_buf_init(&key_pem);
    app_arena *arena = NULL;
    ho_router *router = NULL, *metrics_router = NULL;
    ho_server *srv = NULL;
    rc = 1;
    signal(SIGPIPE, SIG_IGN);
    /* Signals are taken synchronously by this thread (sigwaitinfo); every
     * thread started below inherits the mask. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &mask, NULL);

    char err_text[256] = "";
    arena = app_arena_new(o.dataset, o.static_dir, err_text, sizeof(err_text));
    if (arena == NULL) {
        fprintf(stderr, "handoff: dataset: %s\n", err_text);
        goto done;
    }
    if (o.root != NULL && app_arena_set_root(arena, o.root, err_text, sizeof(err_text)) != HO_OK) {
        fprintf(stderr, "handoff: --root: %s\n", err_text);
        rc = 2;
        goto done;
    }
    router = ho_router_new();
    /* Without a root, "/" is the built-in page; with one, its files. */
    if (router == NULL || (o.root == NULL && ho_router_add(router, "GET", "/", index_handler, NULL) != HO_OK) ||
        app_arena_register(arena, router) != HO_OK ||
        (o.client_ca != NULL && ho_router_add(router, "GET", "/whoami", whoami_handler, NULL) != HO_OK))
        goto done;
    if (o.root != NULL)
        fprintf(stderr, "handoff: serving %zu files from %s at /\n", app_arena_root_file_count(arena), o.root);
    ho_h1_service svc = {.router = router};
    ho_http_limits_default(&svc.limits);
    if (o.max_body >= 0)
        svc.limits.max_body = (uint64_t)o.max_body;

    if (o.port != 0 || o.tls_port != 0) {
        cfg = ho_tls_config_new(true);
        if (cfg == NULL)
            goto done;
        int err = app_config_lists(cfg, o.suites, o.groups, o.alpn);
        if (err != HO_OK) {
            if (err != HO_ERR_INVALID_ARG)
                app_report_error("configuration", err);
            rc = 2;
            goto done;
        }
        if (o.no_tickets)
            ho_tls_config_set_tickets(cfg, 0, 7200, 3600);
        if (o.hrr_cookie)
            ho_tls_config_set_hrr_cookie(cfg, true);
        if (o.psk_ke)
            ho_tls_config_set_psk_ke(cfg, true);
        if (!set_client_auth(cfg, &o)) {
            rc = 2;
            goto done;
        }
        if (o.early_data)
            ho_tls_config_set_early_data(cfg, HO_TLS_EARLY_DATA_DEFAULT);
    }

    if (o.server.ktls == HO_KTLS_ON && !ho_ktls_supported()) {
        fprintf(stderr, "handoff: --ktls on, but this kernel has no kTLS (TCP_ULP \"tls\"); "
                        "use --ktls auto to fall back to userspace records\n");
        goto done;
    }
    srv = ho_server_new(&o.server);
    if (srv == NULL)
        goto done;
    struct {
        int port;
        bool tls;
        const char *scheme;
    } ports[3] = {{o.port, true, "https"}, {o.tls_port, true, "https"}, {o.http_port, false, "http"}};
    size_t nlisten = 0;
    int first_tls_port = -1;
    for (int i = 0; i < 3; i++) {
        if (ports[i].port == 0 || (i == 1 && o.tls_port == o.port))
            continue;
        ho_listen_spec spec = {.bind = o.bind,
                               .port = (uint16_t)ports[i].port,
                               .tls = ports[i].tls ? cfg : NULL,
                               .handler = &ho_h1_handler,
                               .ctx = &svc};
        if (ho_server_listen(srv, &spec) != HO_OK) {
            fprintf(stderr, "handoff: cannot listen on %s port %d: %s\n", o.bind, ports[i].port, strerror(errno));
            goto done;
        }
        if (ports[i].tls && first_tls_port < 0)
            first_tls_port = ho_server_port(srv, nlisten);
        fprintf(stderr, "handoff: listening %s://%s:%u/\n", ports[i].scheme, host,
                (unsigned)ho_server_port(srv, nlisten));
        nlisten++;
    }
    /* --metrics: plaintext HTTP/1.1 on the same I/O threads, its own router
     * (only GET /metrics), its scrapes left out of the counters. */
    ho_h1_service metrics_svc = {0};
    if (o.metrics_addr[0] != '\0') {
        metrics_router = ho_router_new();
        if (metrics_router == NULL || ho_router_add(metrics_router, "GET", "/metrics", metrics_handler, srv) != HO_OK)
            goto done;
        metrics_svc.router = metrics_router;
        ho_http_limits_default(&metrics_svc.limits);
        ho_listen_spec spec = {.bind = o.metrics_addr,
                               .port = (uint16_t)o.metrics_port,
                               .handler = &ho_h1_handler,
                               .ctx = &metrics_svc,
                               .no_stats = true};
        if (ho_server_listen(srv, &spec) != HO_OK) {
            fprintf(stderr, "handoff: --metrics: cannot listen on %s port %ld: %s\n", o.metrics_addr, o.metrics_port,
                    strerror(errno));
            goto done;
        }
        fprintf(stderr, strchr(o.metrics_addr, ':') != NULL ? "handoff: metrics on http://[%s]:%u/metrics\n"
                                                            : "handoff: metrics on http://%s:%u/metrics\n",
                o.metrics_addr, (unsigned)ho_server_port(srv, nlisten));
        nlisten++;
    }
    if (cfg != NULL) {
        if (find_certificate(&o, first_tls_port, &chain_pem, &key_pem) != HO_OK ||
            add_certificate(cfg, &chain_pem, &key_pem) != HO_OK)
            goto done;
    }
    /* HTTP/3: QUIC on the UDP port of the same number as --port, with its
     * own TLS config (ALPN h3) and the same certificate and routes. */
    if (o.port != 0 && !o.no_h3) {
        static const char *const h3_alpn[] = {"h3"};
        qcfg = ho_tls_config_new(true);
        if (qcfg == NULL || app_config_lists(qcfg, o.suites, o.groups, NULL) != HO_OK ||
            ho_tls_config_set_alpn(qcfg, h3_alpn, 1) != HO_OK ||
            add_certificate(qcfg, &chain_pem, &key_pem) != HO_OK)
            goto done;
        if (o.no_tickets)
            ho_tls_config_set_tickets(qcfg, 0, 7200, 3600);
        /* QUIC 0-RTT (RFC 9001 §4.6): tickets say 0xffffffff, the
         * transport limits what comes. */
        if (o.early_data)
            ho_tls_config_set_early_data(qcfg, HO_TLS_EARLY_DATA_DEFAULT);
        if (!set_client_auth(qcfg, &o)) {
            rc = 2;
            goto done;
        }
        if (o.quic_keys != NULL) {
            uint8_t secrets[HO_TLS_TICKET_KEYS_MAX * HO_TLS_TICKET_SECRET_LEN];
            size_t n = 0;
            bool ok = read_key_file("--quic-keys", o.quic_keys, secrets, HO_TLS_TICKET_KEYS_MAX, &n);
            if (ok) /* the first key: the endpoints derive theirs from it (HKDF) */
                memcpy(qs_secret, secrets, sizeof(qs_secret));
            ho_wipe(secrets, sizeof(secrets));
            if (!ok) {
                rc = 2;
                goto done;
            }
            fprintf(stderr, "handoff: QUIC token and stateless reset keys from %s\n", o.quic_keys);
        }
        ho_quic_listen_spec qs = {.bind = o.bind,
                                  .port = (uint16_t)ho_server_port(srv, 0),
                                  .tls = qcfg,
                                  .handler = &ho_h3_service_handler,
                                  .ctx = &svc,
                                  .force_retry = o.retry,
                                  .retry_handshakes = o.retry_auto ? (size_t)o.retry_above : 0,
                                  .refuse_handshakes = (size_t)o.refuse_above,
                                  .retry_pool_depth = o.retry_auto ? (size_t)o.retry_queue : 0,
                                  .refuse_pool_depth = (size_t)o.refuse_queue,
                                  .key_update_packets = (uint64_t)o.quic_key_update,
                                  .new_token_lifetime_ms = !o.new_token_set ? 0 : o.new_token_ms > 0 ? o.new_token_ms : -1,
                                  .no_gso = o.no_gso,
                                  .no_gro = o.no_gro,
                                  .no_ecn = o.no_ecn,
                                  .max_udp_payload = (size_t)o.max_udp_payload,
                                  .server_id_len = o.server_id_len,
                                  .no_steering = o.no_quic_steering};
        memcpy(qs.server_id, o.server_id, sizeof(qs.server_id));
        memcpy(qs.quic_versions, o.quic_versions, sizeof(qs.quic_versions));
        qs.cc_name = o.cc;
        if (o.quic_keys != NULL) {
            qs.static_secret_set = true;
            memcpy(qs.static_secret, qs_secret, sizeof(qs.static_secret));
            ho_wipe(qs_secret, sizeof(qs_secret));
        }
        int qerr = ho_server_listen_quic(srv, &qs);
        ho_wipe(qs.static_secret, sizeof(qs.static_secret));
        if (qerr != HO_OK) {
            fprintf(stderr, "handoff: cannot listen for QUIC on %s UDP port %u\n", o.bind, (unsigned)qs.port);
            goto done;
        }
        h3 = true;
    }
    if (o.ticket_keys != NULL) {
        if (o.no_tickets || (cfg == NULL && qcfg == NULL)) {
            fprintf(stderr, "handoff: --ticket-keys: no tickets are issued (--no-tickets or no TLS port)\n");
            rc = 2;
            goto done;
        }
        if (!load_ticket_keys(o.ticket_keys, cfg, qcfg, false)) {
            rc = 2;
            goto done;
        }
    }
    int err = ho_server_start(srv);
    if (err != HO_OK) {
        app_report_error("starting the server", err);
        goto done;
    }
    if (h3) {
        bool gso, gro, ecn;
        ho_server_quic_socket_features(srv, &gso, &gro, &ecn);
        /* After the start: whether the kernel took the steering program. */
        fprintf(stderr,
                "handoff: listening h3 (QUIC) on UDP %s:%u (GSO %s, GRO %s, ECN %s%s); %u threads, steering %s, "
                "congestion control %s\n",
                host, (unsigned)ho_server_quic_port(srv), gso ? "on" : "off", gro ? "on" : "off",
                ecn && !o.no_ecn ? "on" : "off", o.retry ? ", Retry on" : "", ho_server_quic_cid_layout(srv)->nthreads,
                ho_server_quic_steering(srv)                  ? "BPF"
                : ho_server_quic_cid_layout(srv)->nthreads < 2 ? "not needed (one thread)"
                : o.no_quic_steering                          ? "off (hand-over)"
                                                              : "refused by the kernel (hand-over)",
                o.cc != NULL ? o.cc : "cubic");
        if (!o.retry && o.retry_auto)
            fprintf(stderr, "handoff: QUIC admission: Retry from %ld handshakes in progress per thread\n",
                    o.retry_above);
        if (o.refuse_above > 0)
            fprintf(stderr, "handoff: QUIC admission: CONNECTION_REFUSED from %ld handshakes in progress per thread\n",
                    o.refuse_above);
    }
    fprintf(stderr, "handoff: dataset %s (%zu items); offload %s; kTLS %s\n", app_arena_dataset_source(arena),
            app_arena_item_count(arena),
            o.server.offload == HO_OFFLOAD_OFF      ? "off"
            : o.server.offload == HO_OFFLOAD_ALWAYS ? "always"
                                                    : "adaptive",
            o.server.ktls == HO_KTLS_OFF ? "off" : ho_ktls_supported() ? "available" : "unavailable (userspace)");
    for (;;) {
        siginfo_t si;
        int sig = sigwaitinfo(&mask, &si);
        if (sig == SIGUSR1) {
            print_stats(srv, h3);
            continue;
        }
        if (sig == SIGHUP) {
            /* Here, on the main thread, never in a signal handler: the
             * configs' lock makes the swap safe for running handshakes. */
            if (o.ticket_keys != NULL)
                (void)load_ticket_keys(o.ticket_keys, cfg, qcfg, true);
            else
                fprintf(stderr, "handoff: SIGHUP: nothing to reload (no --ticket-keys)\n");
            continue;
        }
        if (sig == SIGINT || sig == SIGTERM) {
            fprintf(stderr, "handoff: signal %d, shutting down\n", sig);
            break;
        }
    }
    ho_server_stop(srv);
    print_stats(srv, h3);
    rc = 0;
done:
    ho_server_free(srv);
    ho_tls_config_free(qcfg);
    ho_buf_free(&chain_pem);
    ho_buf_free(&key_pem);
    ho_router_free(router);
    ho_router_free(metrics_router);
    app_arena_free(arena);
    ho_tls_config_free(cfg);
    return rc;
}
