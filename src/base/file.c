/* Whole-file reads for configuration and content loaded at start. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "handoff/base.h"

int ho_file_read(int dirfd, const char *path, bool nofollow, size_t max, uint8_t **data, size_t *len)
{
    int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0));
    if (fd < 0)
        return errno;
    struct stat st;
    int rc = 0;
    uint8_t *buf = NULL;
    size_t got = 0;
    if (fstat(fd, &st) != 0) {
        rc = errno;
    } else if (!S_ISREG(st.st_mode)) {
        rc = EISDIR;
    } else if ((uint64_t)st.st_size > max) {
        rc = EFBIG;
    } else if ((buf = ho_mem_alloc((size_t)st.st_size + 1)) == NULL) {
        rc = ENOMEM;
    } else {
        size_t want = (size_t)st.st_size;
        while (got < want) {
            ssize_t n = read(fd, buf + got, want - got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = n < 0 ? errno : EIO; /* a file that shrank under us */
                break;
            }
            got += (size_t)n;
        }
    }
    close(fd);
    if (rc != 0) {
        ho_mem_free(buf);
        return rc;
    }
    buf[got] = 0;
    *data = buf;
    *len = got;
    return 0;
}
