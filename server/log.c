/*
 * Line-buffered logfmt logging for the servers. A mutex keeps lines whole
 * when several threads log at once. Every line is escaped as it is written:
 * a value from the network (an id, a prompt, a parser's "near '...'") can
 * hold any byte, and no C0 or C1 control, DEL or invalid UTF-8 byte reaches
 * the log raw, so a log viewed in a terminal cannot be made to act on it.
 */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(enum log_level lvl)
{
    min_level = lvl;
}

/* The length of the valid UTF-8 sequence of 2 to 4 bytes at p (n left), or
 * 0 when it is not one; *cp gets its code point. */
static size_t utf8_seq(const unsigned char *p, size_t n, unsigned *cp)
{
    size_t len;
    unsigned c = p[0], v;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, v = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, v = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, v = c & 0x07;
    else
        return 0;
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        v = v << 6 | (p[i] & 0x3f);
    }
    if ((len == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) ||
        (len == 4 && (v < 0x10000 || v > 0x10ffff)))
        return 0;
    *cp = v;
    return len;
}

/* Writes s to f with C0 controls, DEL and invalid UTF-8 bytes as \xHH and
 * C1 controls (U+0080 to U+009F) as \u00HH. */
static void put_escaped(FILE *f, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        unsigned cp = 0;
        size_t len;
        if (p[i] < 0x20 || p[i] == 0x7f) {
            fprintf(f, "\\x%02x", p[i]);
            i++;
        } else if (p[i] < 0x80) {
            fputc(p[i], f);
            i++;
        } else if ((len = utf8_seq(p + i, n - i, &cp)) == 0) {
            fprintf(f, "\\x%02x", p[i]);
            i++;
        } else if (cp <= 0x9f) {
            fprintf(f, "\\u%04x", cp);
            i += len;
        } else {
            fwrite(p + i, 1, len, f);
            i += len;
        }
    }
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warn", "error"};
    if (lvl < min_level)
        return;
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[32];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    char small[1024], *line = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(small)) {
        line = malloc((size_t)n + 1);
        if (!line)
            return;
        va_start(ap, fmt);
        vsnprintf(line, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "ts=%s.%03ldZ level=%s ", when, ts.tv_nsec / 1000000, names[lvl]);
    put_escaped(stderr, line, (size_t)n);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
    if (line != small)
        free(line);
}
