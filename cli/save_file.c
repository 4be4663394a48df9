/*
 * Saving a meme: gen and get write the image through a temporary file and a
 * rename, or to stdout for "-".
 */
#include "cli.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Writes data to path through a temporary file and rename, so an interrupted
 * run never leaves a truncated image under the final name. */
int cli_save_file(const char *path, const void *data, size_t len)
{
    if (strcmp(path, "-") == 0) {
        const char *p = data;
        while (len) {
            ssize_t n = write(1, p, len);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return -errno;
            p += n;
            len -= (size_t)n;
        }
        return 0;
    }
    char *tmp = xasprintf("%s.part-%d", path, (int)getpid());
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        p += n;
        left -= (size_t)n;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
out:
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}
