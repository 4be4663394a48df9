/*
 * Helpers shared by the integration tests: a stack of one nats-server and
 * workers, running memectl, and reading images back. Header-only so each
 * test program stays one file plus the harness.
 */
#ifndef MEME_TEST_COMMON_H
#define MEME_TEST_COMMON_H

#include "harness.h"
#include "render/image.h"
#include "mq/mq.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct wait_consumer {
    const char *url;
    int min_waiting;
};

/* True when the consumer exists and at least min_waiting pulls wait on it. */
static inline bool consumer_ready(void *arg)
{
    struct wait_consumer *w = arg;
    struct mq_conn mq;
    struct mq_depth d;
    struct mq_connect_opts co = {.url = w->url, .name = "test"};
    bool ok = false;
    if (mq_connect(&mq, &co, NULL) == 0)
        ok = mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &d, NULL) == 0 &&
             d.waiting >= w->min_waiting;
    mq_close(&mq);
    return ok;
}

/* Starts a worker against url, logging into dir; waits until it pulls. */
static inline pid_t start_worker(const char *url, const char *dir, const char *id)
{
    char *bin = harness_bin("meme-worker");
    char *log = xasprintf("%s/%s.log", dir, id);
    char *argv[] = {bin, "--nats", (char *)url, "--id", (char *)id, "-v", NULL};
    pid_t pid = harness_spawn(argv, NULL, log);
    free(bin);
    free(log);
    struct wait_consumer w = {url, 1};
    if (pid > 0 && !harness_wait_for(consumer_ready, &w, 15000)) {
        harness_failed();
        return -1;
    }
    return pid;
}

/*
 * Runs the built memectl with the NULL-terminated arguments in ap, after
 * "-s server" when server is not NULL; env as for harness_run(). out and err
 * are NUL-terminated afterwards (their len does not count the NUL).
 */
static inline int memectl_va(struct buf *out, struct buf *err, char *const env[], int timeout_ms,
                             const char *server, va_list ap)
{
    char *argv[48];
    int n = 0;
    char *bin = harness_bin("memectl");
    argv[n++] = bin;
    if (server) {
        argv[n++] = "-s";
        argv[n++] = (char *)server;
    }
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 47)
        argv[n++] = a;
    argv[n] = NULL;
    int rc = harness_run(argv, env, out, err, timeout_ms);
    free(bin);
    buf_putc(out, '\0');
    out->len--;
    buf_putc(err, '\0');
    err->len--;
    return rc;
}

static inline struct meme_image *load_image(const char *path)
{
    struct meme_err err = {0};
    struct meme_image *img = image_load(path, &err);
    if (!img)
        fprintf(stderr, "cannot load %s: %s\n", path, err.msg);
    return img;
}

static inline bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* Distinct colours, counted on a 5-bit-per-channel grid. */
static inline size_t count_colours(const struct meme_image *img)
{
    static unsigned char seen[32 * 32 * 32];
    memset(seen, 0, sizeof(seen));
    size_t n = 0;
    for (size_t i = 0; i < (size_t)img->width * (size_t)img->height; i++) {
        const unsigned char *p = img->rgb + 3 * i;
        unsigned idx = (unsigned)(p[0] >> 3) << 10 | (unsigned)(p[1] >> 3) << 5 | (p[2] >> 3);
        if (!seen[idx]) {
            seen[idx] = 1;
            n++;
        }
    }
    return n;
}

#endif
