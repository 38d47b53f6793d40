/* SSLKEYLOGFILE: the default key-log callback appends NSS-format lines to
 * the file named by the environment variable (opened once per process). */
#include "tls_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static pthread_once_t keylog_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t keylog_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *keylog_file;

static void keylog_open(void)
{
    const char *path = getenv("SSLKEYLOGFILE");
    if (path == NULL || *path == '\0')
        return;
    /* Secrets: the file is created readable by its owner only. */
    mode_t old = umask(077);
    keylog_file = fopen(path, "a");
    umask(old);
}

bool ho_tls_keylog_env_enabled(void)
{
    pthread_once(&keylog_once, keylog_open);
    return keylog_file != NULL;
}

void ho_tls_keylog_default(void *ctx, ho_tls *tls, const char *line)
{
    (void)ctx;
    (void)tls;
    if (!ho_tls_keylog_env_enabled())
        return;
    pthread_mutex_lock(&keylog_lock);
    fprintf(keylog_file, "%s\n", line);
    fflush(keylog_file);
    pthread_mutex_unlock(&keylog_lock);
}
