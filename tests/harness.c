#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    int probe = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof(addr);
    if (probe < 0 || bind(probe, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
        getsockname(probe, (struct sockaddr *)&addr, &alen) != 0) {
        if (probe >= 0)
            close(probe);
        return false;
    }
    close(probe);
    g->port = ntohs(addr.sin_port);
    snprintf(g->port_s, sizeof(g->port_s), "%d", g->port);
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
    if (g->dir[0] != '\0') {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", g->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", g->dir);
        g->dir[0] = '\0';
    }
}
