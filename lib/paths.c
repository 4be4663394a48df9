/*
 * Filesystem locations following the XDG base directory rules, and lookup of
 * sibling programs so `memectl up` runs the meme-worker built beside it.
 */
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *paths_state_dir(void)
{
    const char *s = getenv("MEMECTL_STATE_DIR");
    if (s && *s)
        return xstrdup(s);
    s = getenv("XDG_STATE_HOME");
    if (s && *s == '/')
        return xasprintf("%s/memectl", s);
    const char *home = getenv("HOME");
    if (!home || !*home) {
        struct passwd *pw = getpwuid(getuid());
        home = pw ? pw->pw_dir : "/tmp";
    }
    return xasprintf("%s/.local/state/memectl", home);
}

char *paths_exe_dir(void)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return xstrdup(buf[0] ? buf : "/");
}

char *paths_find_program(const char *name)
{
    char *dir = paths_exe_dir();
    if (dir) {
        char *p = xasprintf("%s/%s", dir, name);
        free(dir);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";
    char *copy = xstrdup(path), *save = NULL;
    for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", *d ? d : ".", name);
        if (access(p, X_OK) == 0) {
            free(copy);
            return p;
        }
        free(p);
    }
    free(copy);
    /* Debian puts some servers in sbin, which a user's PATH may lack. */
    const char *extra[] = {"/usr/sbin", "/sbin"};
    for (size_t i = 0; i < 2; i++) {
        char *p = xasprintf("%s/%s", extra[i], name);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

int paths_mkdir_p(const char *path, unsigned mode)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) != 0 && errno != EEXIST) {
            rc = -errno;
            goto out;
        }
        *s = '/';
    }
    if (mkdir(p, mode) != 0 && errno != EEXIST)
        rc = -errno;
out:
    free(p);
    return rc;
}
