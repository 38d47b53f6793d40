#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff/crypto.h"
#include "quic/packet.h"
#include "quic/quic_types.h"

int ho_test_passed, ho_test_failed;

uint8_t *ho_test_unhex(const char *hex, size_t *len)
{
    size_t n = strlen(hex);
    uint8_t *out = malloc(n / 2 + 1);
    size_t o = 0;
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        if (isspace((unsigned char)hex[i]))
            continue;
        int v = isdigit((unsigned char)hex[i]) ? hex[i] - '0' : tolower((unsigned char)hex[i]) - 'a' + 10;
        if (hi < 0)
            hi = v;
        else {
            out[o++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    *len = o;
    return out;
}

void ho_test_hexdump(const char *label, const uint8_t *p, size_t n)
{
    fprintf(stderr, "  %s:", label);
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n    ", p[i]);
    fprintf(stderr, "\n");
}

void ho_test_check_hex(const uint8_t *got, size_t n, const char *hex, const char *file, int line)
{
    size_t wantlen;
    uint8_t *want = ho_test_unhex(hex, &wantlen);
    if (wantlen == n && memcmp(got, want, n) == 0) {
        ho_test_passed++;
    } else {
        ho_test_failed++;
        fprintf(stderr, "%s:%d: bytes differ (len %zu, want %zu)\n", file, line, n, wantlen);
        ho_test_hexdump("got", got, n);
        ho_test_hexdump("want", want, wantlen);
    }
    free(want);
}

const char *ho_test_data(const char *rel)
{
    static char path[4096];
    const char *base = getenv("HO_TESTDATA");
    if (base == NULL || *base == '\0') {
        /* ctest sets it to <build>/testdata (scripts/gen-testdata.sh writes it). */
        fprintf(stderr, "HO_TESTDATA is not set: run the test through ctest\n");
        base = "testdata";
    }
    snprintf(path, sizeof(path), "%s/%s", base, rel);
    return path;
}

static int ho_test_ran, ho_test_skipped;

static bool selected(const char *name)
{
    const char *want = getenv("HO_TEST");
    if (want == NULL || *want == '\0')
        return true;
    size_t n = strlen(name);
    for (const char *p = want; *p != '\0';) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        p += len + (end != NULL ? 1 : 0);
    }
    return false;
}

void ho_test_run(const char *name, void (*fn)(void))
{
    if (!selected(name)) {
        ho_test_skipped++;
        return;
    }
    int passed = ho_test_passed, failed = ho_test_failed;
    fn();
    ho_test_ran++;
    printf("  %s: %d passed, %d failed\n", name, ho_test_passed - passed, ho_test_failed - failed);
}

int ho_test_summary(const char *name)
{
    if (ho_test_ran == 0 && ho_test_skipped > 0) {
        fprintf(stderr, "%s: HO_TEST=%s names none of its subtests\n", name, getenv("HO_TEST"));
        ho_test_failed++;
    }
    printf("%s: %d passed, %d failed\n", name, ho_test_passed, ho_test_failed);
    return ho_test_failed == 0 ? 0 : 1;
}

/* /proc/net/udp{,6}: a line whose local address ends in ":PORT" (hex) is a bound socket. */
static bool udp_port_bound(int port)
{
    static const char *const tables[] = {"/proc/net/udp", "/proc/net/udp6"};
    char want[8], line[512];
    snprintf(want, sizeof(want), ":%04X", port);
    for (size_t t = 0; t < 2; t++) {
        FILE *f = fopen(tables[t], "r");
        if (f == NULL)
            continue;
        bool found = false;
        while (!found && fgets(line, sizeof(line), f) != NULL) {
            char local[128];
            if (sscanf(line, " %*[0-9]: %127s", local) == 1) {
                size_t n = strlen(local);
                found = n > 5 && strcmp(local + n - 5, want) == 0;
            }
        }
        fclose(f);
        if (found)
            return true;
    }
    return false;
}

static const char *gtlsserver_bin(void)
{
    static const char *const paths[] = {"/usr/sbin/gtlsserver", "/usr/bin/gtlsserver"};
    for (size_t i = 0; i < 2; i++)
        if (access(paths[i], X_OK) == 0)
            return paths[i];
    return NULL;
}

/* rm -rf dir (a temp dir of ours), then forgets it. */
static void remove_dir(char *dir)
{
    if (dir[0] == '\0')
        return;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    dir[0] = '\0';
}

bool ho_test_gtls_start(ho_test_gtls *g)
{
    memset(g, 0, sizeof(*g));
    g->pid = -1;
    const char *bin = gtlsserver_bin();
    if (bin == NULL) {
        fprintf(stderr, "gtlsserver is not installed (Debian ngtcp2-server; scripts/deps.sh installs it)\n");
        return false;
    }
    snprintf(g->dir, sizeof(g->dir), "/tmp/ho_gtls_XXXXXX");
    if (mkdtemp(g->dir) == NULL)
        return false;
    snprintf(g->key, sizeof(g->key), "%s/key.pem", g->dir);
    snprintf(g->cert, sizeof(g->cert), "%s/cert.pem", g->dir);
    snprintf(g->docs, sizeof(g->docs), "%s/htdocs", g->dir);
    char cmd[640];
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout %s "
             "-out %s -days 2 -subj /CN=localhost >/dev/null 2>&1 && mkdir -p %s",
             g->key, g->cert, g->docs);
    if (system(cmd) != 0) {
        fprintf(stderr, "openssl could not make a certificate (scripts/deps.sh installs openssl)\n");
        return false;
    }
    /* A free port: bind, read it, release (a port taken in between shows as a start failure). */
    int probe = ho_test_udp_socket(&g->port);
    if (probe < 0)
        return false;
    close(probe);
    snprintf(g->port_s, sizeof(g->port_s), "%d", g->port);
    g->addr = ho_test_loopback(g->port);
    g->pid = fork();
    if (g->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            dup2(null, 2);
        }
        execl(bin, "gtlsserver", "127.0.0.1", g->port_s, g->key, g->cert, "-d", g->docs, "-q", (char *)NULL);
        _exit(127);
    }
    /* Wait (bounded) for its socket, never a fixed pause. */
    for (int i = 0; i < 1000; i++) {
        if (udp_port_bound(g->port))
            return true;
        if (waitpid(g->pid, NULL, WNOHANG) == g->pid) {
            g->pid = -1;
            break;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "gtlsserver did not bind UDP port %d\n", g->port);
    ho_test_gtls_stop(g);
    return false;
}

void ho_test_gtls_stop(ho_test_gtls *g)
{
    if (g->pid > 0) {
        kill(g->pid, SIGTERM);
        waitpid(g->pid, NULL, 0);
        g->pid = -1;
    }
    remove_dir(g->dir);
}

/* ---- QUIC peers over loopback UDP ----------------------------------------- */

ho_quic_time ho_test_mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ho_quic_time)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int ho_test_udp_socket(int *port)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &alen) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    *port = ntohs(addr.sin_port);
    return fd;
}

void ho_test_udp_wait(int fd, ho_quic_time next)
{
    int timeout_ms = 50;
    ho_quic_time now = ho_test_mono_now();
    if (next != HO_QUIC_TIME_NEVER) {
        int64_t ms = next > now ? (next - now) / 1000000 + 1 : 0;
        if (ms < timeout_ms)
            timeout_ms = (int)ms;
    }
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    poll(&pfd, 1, timeout_ms);
}

void ho_test_udp_conn_send(ho_quic_conn *c, int fd, const struct sockaddr *peer, socklen_t peer_len)
{
    static uint8_t out[16 * 1500];
    size_t seg, n;
    while ((n = ho_quic_conn_send(c, out, sizeof(out), &seg, ho_test_mono_now())) > 0)
        for (size_t off = 0; off < n; off += seg)
            sendto(fd, out + off, n - off < seg ? n - off : seg, 0, peer, peer_len);
}

bool ho_test_udp_conn_recv(int fd, ho_quic_conn **c, const ho_quic_config *server_cfg, struct sockaddr_in *peer)
{
    static uint8_t dg[65536];
    struct sockaddr_in from;
    socklen_t flen = sizeof(from);
    ssize_t n;
    bool made = false;
    while ((n = recvfrom(fd, dg, sizeof(dg), MSG_DONTWAIT, (struct sockaddr *)&from, &flen)) > 0) {
        if (peer != NULL)
            *peer = from;
        flen = sizeof(from);
        if (*c == NULL && server_cfg != NULL) {
            ho_quic_header h;
            if (ho_quic_header_parse(dg, (size_t)n, 8, &h) != HO_OK || h.type != HO_QUIC_PKT_INITIAL)
                continue;
            *c = ho_quic_conn_new_server(server_cfg, h.dcid.data, h.dcid.len, h.scid.data, h.scid.len, NULL,
                                         ho_test_mono_now());
            made = *c != NULL;
        }
        if (*c != NULL)
            ho_quic_conn_receive(*c, dg, (size_t)n, NULL, ho_test_mono_now());
    }
    return made;
}

void ho_test_conn_timeout(ho_quic_conn *c)
{
    if (c != NULL && ho_quic_conn_next_timeout(c) <= ho_test_mono_now())
        ho_quic_conn_handle_timeout(c, ho_test_mono_now());
}

bool ho_test_gtlsclient_start(ho_test_gtlsclient *g, int port, const char *const *opts, const char *const *paths,
                              bool quiet)
{
    memset(g, 0, sizeof(*g));
    g->pid = -1;
    snprintf(g->dir, sizeof(g->dir), "/tmp/ho_gtlsclient_XXXXXX");
    if (mkdtemp(g->dir) == NULL) {
        g->dir[0] = '\0';
        return false;
    }
    char port_s[16], dl[80], urls[8][160];
    snprintf(port_s, sizeof(port_s), "%d", port);
    snprintf(dl, sizeof(dl), "--download=%s", g->dir);
    const char *argv[32];
    int ac = 0;
    argv[ac++] = "gtlsclient";
    argv[ac++] = "-q";
    argv[ac++] = "--exit-on-all-streams-close";
    argv[ac++] = "--timeout=5s";
    argv[ac++] = dl;
    for (int i = 0; opts != NULL && opts[i] != NULL && ac < 20; i++)
        argv[ac++] = opts[i];
    argv[ac++] = "127.0.0.1";
    argv[ac++] = port_s;
    for (int i = 0; paths[i] != NULL && i < 8; i++) {
        snprintf(urls[i], sizeof(urls[i]), "https://127.0.0.1:%d%s", port, paths[i]);
        argv[ac++] = urls[i];
    }
    argv[ac] = NULL;
    g->pid = fork();
    if (g->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, 1);
            if (quiet)
                dup2(null, 2);
        }
        execv("/usr/bin/gtlsclient", (char *const *)argv);
        _exit(127);
    }
    return g->pid > 0;
}

bool ho_test_gtlsclient_exited(ho_test_gtlsclient *g)
{
    if (!g->exited && g->pid > 0 && waitpid(g->pid, &g->status, WNOHANG) == g->pid)
        g->exited = true;
    return g->exited;
}

bool ho_test_gtlsclient_stop(ho_test_gtlsclient *g)
{
    if (!ho_test_gtlsclient_exited(g) && g->pid > 0) {
        kill(g->pid, SIGKILL);
        waitpid(g->pid, &g->status, 0);
    }
    g->pid = -1;
    return g->exited && WIFEXITED(g->status) && WEXITSTATUS(g->status) == 0;
}

int ho_test_gtlsclient_exit_code(const ho_test_gtlsclient *g)
{
    return g->exited && WIFEXITED(g->status) ? WEXITSTATUS(g->status) : -1;
}

const char *ho_test_gtlsclient_file(const ho_test_gtlsclient *g, const char *name)
{
    static char path[200];
    snprintf(path, sizeof(path), "%s/%s", g->dir, name);
    return path;
}

void ho_test_gtlsclient_cleanup(ho_test_gtlsclient *g)
{
    remove_dir(g->dir);
}

void ho_test_h3min_opened(ho_test_h3min *s, uint64_t id)
{
    if (s->nstreams < HO_TEST_H3MIN_STREAMS)
        s->streams[s->nstreams++] = id;
}

/* HTTP/3 (RFC 9114) just enough for one response per request stream. */
void ho_test_h3min_serve(ho_test_h3min *s, const uint8_t *body, size_t len)
{
    static uint8_t buf[65536];
    ho_quic_conn *c = s->c;
    if (c == NULL || !ho_quic_conn_handshake_done(c))
        return;
    if (!s->control_opened) {
        uint64_t id;
        if (ho_quic_stream_open(c, false, &id) == HO_OK) {
            /* Control stream type 0x00, SETTINGS (0x04) with no settings. */
            static const uint8_t control[] = {0x00, 0x04, 0x00};
            size_t w;
            ho_quic_stream_write(c, id, control, sizeof(control), false, &w);
            s->control_opened = true;
        }
    }
    for (size_t i = 0; i < s->nstreams; i++) {
        uint64_t id = s->streams[i];
        size_t n;
        bool fin = false;
        if (s->answered[i])
            continue;
        while (ho_quic_stream_read(c, id, buf, sizeof(buf), &n, &fin) == HO_OK && n > 0 && !fin)
            ;
        if (!fin || (id & 2) != 0)
            continue; /* uni streams (control, QPACK) are read and ignored */
        /* HEADERS: QPACK prefix 0x00 0x00, static index 25 ":status 200". */
        ho_buf *resp = &s->pending[i];
        static const uint8_t headers[] = {0x01, 0x03, 0x00, 0x00, 0xc0 | 25};
        ho_put_bytes(resp, headers, sizeof(headers));
        ho_put_varint(resp, 0x00); /* DATA */
        ho_put_varint(resp, len);
        ho_put_bytes(resp, body, len);
        s->answered[i] = true;
    }
    /* Push what the send buffers accept now. */
    for (size_t i = 0; i < s->nstreams; i++) {
        ho_buf *resp = &s->pending[i];
        if (resp->len == 0)
            continue;
        size_t w = 0;
        ho_quic_stream_write(c, s->streams[i], resp->data, resp->len, true, &w);
        ho_buf_consume(resp, w);
        if (resp->len == 0)
            ho_buf_free(resp);
    }
}

void ho_test_h3min_free(ho_test_h3min *s)
{
    for (size_t i = 0; i < HO_TEST_H3MIN_STREAMS; i++)
        ho_buf_free(&s->pending[i]);
    memset(s, 0, sizeof(*s));
}

ho_tls_config *ho_test_quic_client_tls(const char *alpn)
{
    ho_tls_config *tls = ho_tls_config_new(false);
    if (tls == NULL)
        return NULL;
    ho_tls_config_set_verify_peer(tls, false);
    const char *alpns[] = {alpn};
    ho_tls_config_set_alpn(tls, alpns, 1);
    if (ho_quic_tls_config_prepare(tls) != HO_OK) {
        ho_tls_config_free(tls);
        return NULL;
    }
    return tls;
}

struct sockaddr_in ho_test_loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return a;
}

long ho_test_file_match(const char *path, const uint8_t *want, size_t len, size_t *size)
{
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -1;
    uint8_t *got = malloc(len + 16);
    size_t n = got != NULL ? fread(got, 1, len + 16, f) : 0;
    fclose(f);
    unlink(path);
    *size = n;
    long same = 0;
    while (got != NULL && (size_t)same < n && (size_t)same < len && got[same] == want[same])
        same++;
    free(got);
    return got != NULL ? same : -1;
}

bool ho_test_gtls_client(ho_test_gtls *g, const char *alpn, ho_tls_config **tls)
{
    *tls = NULL;
    if (!ho_test_gtls_start(g)) {
        CHECK(!"gtlsserver did not start");
        return false;
    }
    *tls = ho_test_quic_client_tls(alpn);
    CHECK(*tls != NULL);
    if (*tls != NULL)
        return true;
    ho_test_gtls_stop(g);
    return false;
}

int ho_test_quic_server_tls(const char *alpn, ho_tls_config **tls)
{
    ho_privkey *key;
    ho_cert_chain chain = {0};
    *tls = NULL;
    int rc = ho_selfsigned_generate("localhost", 30, &key, &chain);
    if (rc != HO_OK)
        return rc;
    *tls = ho_tls_config_new(true);
    if (*tls == NULL)
        return HO_ERR_NOMEM;
    ho_tls_config_add_cert(*tls, &chain, key);
    const char *alpns[] = {alpn};
    ho_tls_config_set_alpn(*tls, alpns, 1);
    return ho_quic_tls_config_prepare(*tls);
}

void ho_test_check_download(const ho_test_gtlsclient *g, const char *name, const uint8_t *want, size_t len)
{
    size_t size;
    long same = ho_test_file_match(ho_test_gtlsclient_file(g, name), want, len, &size);
    CHECK(same >= 0);
    CHECK_EQ(size, len);
    CHECK_EQ(same, (long)len);
    if (same != (long)len)
        fprintf(stderr, "gtlsclient's download %s: %zu bytes, %ld matching, want %zu\n", name, size, same, len);
}
