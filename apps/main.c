/* The `handoff` command: subcommand dispatch. */
#include "common.h"

#include <string.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: handoff <command> [options]\n"
            "\n"
            "TLS 1.3 over TCP with the handoff library.\n"
            "\n"
            "commands:\n"
            "  serve   HTTPS server (HTTP/1.1, a small page on /)\n"
            "  get     fetch an https:// URL and write the body to stdout\n"
            "\n"
            "Run 'handoff <command> --help' for the options of each command.\n"
            "Environment: HANDOFF_LOG=error|warn|info|debug|trace traces events to stderr;\n"
            "SSLKEYLOGFILE=F appends TLS secrets to F (NSS key log format).\n"
            "\n");
    serve_usage(f);
    fprintf(f, "\n");
    get_usage(f);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "serve") == 0)
        return serve_main(argc - 1, argv + 1);
    if (strcmp(cmd, "get") == 0)
        return get_main(argc - 1, argv + 1);
    fprintf(stderr, "handoff: unknown command '%s'\n", cmd);
    usage(stderr);
    return 2;
}
