/*
 * Redis cache over hiredis (see cache.h). An entry is one string value
 * written with SET ... EX in a single round trip, so the image and its
 * metadata can never disagree and every entry expires:
 *
 *     "MEME1 <png|jpeg> <width> <height> <template>\n" <image bytes>
 *
 * What comes back is checked (header fields, image signature) before it is
 * served: a cache shared with other programs is not trusted.
 */
#include "clock.h"
#include "mq/cache.h"
#include "xalloc.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CACHE_MAGIC "MEME1 "

struct cache {
    char host[256];
    int port;
    int db;
    char *user;     /* NULL = none */
    char *password; /* NULL = none */
    char redacted[512];
    struct cache_opts opts;
    redisContext *ctx;
    int64_t retry_at_ms; /* no attempt before this while in backoff */
    int backoff_ms;
};

static int64_t mono_ms(void)
{
    return (int64_t)clock_now_ms();
}

static struct timeval tv_ms(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

struct cache *cache_new(const char *url, const struct cache_opts *opts, struct meme_err *err)
{
    struct cache *c = NULL;
    const char *p = url;
    if (!url || strncmp(url, "redis://", 8) != 0) {
        meme_err_set(err, MEME_E_BAD_REQUEST,
                     "invalid Redis URL: it must start with redis:// (for example "
                     "redis://127.0.0.1:6379)");
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->port = 6379;
    if (opts)
        c->opts = *opts;
    if (c->opts.connect_timeout_ms <= 0)
        c->opts.connect_timeout_ms = 200;
    if (c->opts.io_timeout_ms <= 0)
        c->opts.io_timeout_ms = 200;
    if (c->opts.backoff_min_ms <= 0)
        c->opts.backoff_min_ms = 500;
    if (c->opts.backoff_max_ms <= 0)
        c->opts.backoff_max_ms = 30000;
    p += 8;
    const char *end = p + strcspn(p, "/?#");
    const char *at = NULL;
    for (const char *q = p; q < end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon) {
            if (colon > p)
                c->user = xstrndup(p, (size_t)(colon - p));
            c->password = xstrndup(colon + 1, (size_t)(at - colon - 1));
        } else {
            c->password = xstrndup(p, (size_t)(at - p));
        }
        p = at + 1;
    }
    const char *hostend = p;
    if (*p == '[') {
        hostend = memchr(p, ']', (size_t)(end - p));
        if (!hostend)
            goto bad;
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(hostend - p - 1), p + 1);
        hostend++;
    } else {
        while (hostend < end && *hostend != ':')
            hostend++;
        snprintf(c->host, sizeof(c->host), "%.*s", (int)(hostend - p), p);
    }
    if (!c->host[0])
        snprintf(c->host, sizeof(c->host), "127.0.0.1");
    if (hostend < end && *hostend == ':') {
        char *e2;
        errno = 0;
        long port = strtol(hostend + 1, &e2, 10);
        if (errno || e2 != end || port < 1 || port > 65535)
            goto bad;
        c->port = (int)port;
    } else if (hostend != end) {
        goto bad;
    }
    if (*end == '/' && end[1]) {
        char *e2;
        long db = strtol(end + 1, &e2, 10);
        if (*e2 || db < 0 || db > 65535)
            goto bad;
        c->db = (int)db;
    }
    snprintf(c->redacted, sizeof(c->redacted), "redis://%s%s:%d/%d", c->password ? "***@" : "",
             c->host, c->port, c->db);
    c->backoff_ms = c->opts.backoff_min_ms;
    return c;
bad:
    meme_err_set(err, MEME_E_BAD_REQUEST,
                 "invalid Redis URL: expected redis://[:password@]host[:port][/db]");
    cache_free(c);
    return NULL;
}

static void drop(struct cache *c)
{
    if (c->ctx)
        redisFree(c->ctx);
    c->ctx = NULL;
}

void cache_free(struct cache *c)
{
    if (!c)
        return;
    drop(c);
    free(c->user);
    free(c->password);
    free(c);
}

const char *cache_url_redacted(const struct cache *c)
{
    return c->redacted;
}

int cache_in_backoff(const struct cache *c)
{
    return !c->ctx && c->retry_at_ms && mono_ms() < c->retry_at_ms;
}

/* Drops the connection after a failure and schedules the next attempt. */
static int fail(struct cache *c, int code, struct meme_err *err, const char *what,
                const char *why_in)
{
    char why[160];
    /* why_in may point into the context that drop() frees. */
    snprintf(why, sizeof(why), "%s", why_in);
    drop(c);
    c->retry_at_ms = mono_ms() + c->backoff_ms;
    meme_err_set(err, code, "Redis at %s: %s: %s (next try in %d ms)", c->redacted, what, why,
                 c->backoff_ms);
    c->backoff_ms =
        c->backoff_ms * 2 > c->opts.backoff_max_ms ? c->opts.backoff_max_ms : c->backoff_ms * 2;
    return code;
}

static int code_for_ctx(const redisContext *ctx)
{
    if (ctx->err == REDIS_ERR_IO && (ctx->errstr[0] == '\0' || strstr(ctx->errstr, "temporarily") ||
                                     strstr(ctx->errstr, "timed out")))
        return MEME_E_TIMEOUT;
    if (ctx->err == REDIS_ERR_EOF)
        return MEME_E_IO;
    return ctx->err == REDIS_ERR_IO ? MEME_E_UNREACHABLE : MEME_E_IO;
}

/* Runs one command; a reply of the wrong kind is an error of its own. */
static redisReply *command(struct cache *c, int argc, const char **argv, const size_t *lens,
                           int *code, struct meme_err *err, const char *what)
{
    redisReply *r = redisCommandArgv(c->ctx, argc, argv, lens);
    if (!r) {
        *code = fail(c, code_for_ctx(c->ctx), err, what,
                     c->ctx->errstr[0] ? c->ctx->errstr : "no reply in time");
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        /* The server answered: the connection is fine, the command is not. */
        char why[200];
        snprintf(why, sizeof(why), "%.*s", (int)(r->len < 190 ? r->len : 190), r->str);
        *code = meme_err_set(err, MEME_E_IO, "Redis at %s: %s: %s", c->redacted, what, why);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

static int ensure(struct cache *c, struct meme_err *err)
{
    int code = 0;
    if (c->ctx)
        return 0;
    if (c->retry_at_ms && mono_ms() < c->retry_at_ms)
        return meme_err_set(err, MEME_E_UNREACHABLE, "Redis at %s is unavailable (retrying)",
                            c->redacted);
    c->ctx = redisConnectWithTimeout(c->host, c->port, tv_ms(c->opts.connect_timeout_ms));
    if (!c->ctx)
        return fail(c, MEME_E_UNREACHABLE, err, "cannot connect", "out of memory");
    if (c->ctx->err) {
        char why[128];
        snprintf(why, sizeof(why), "%s", c->ctx->errstr);
        return fail(c, MEME_E_UNREACHABLE, err, "cannot connect", why);
    }
    redisSetTimeout(c->ctx, tv_ms(c->opts.io_timeout_ms));
    if (c->password) {
        const char *argv[3] = {"AUTH", c->user ? c->user : c->password, c->password};
        size_t lens[3] = {4, strlen(argv[1]), strlen(c->password)};
        redisReply *r = command(c, c->user ? 3 : 2, argv, lens, &code, err, "AUTH failed");
        if (!r) {
            if (c->ctx)
                fail(c, code, err, "AUTH failed", "the server refused the password");
            return code;
        }
        freeReplyObject(r);
    }
    if (c->db) {
        char db[16];
        snprintf(db, sizeof(db), "%d", c->db);
        const char *argv[2] = {"SELECT", db};
        size_t lens[2] = {6, strlen(db)};
        redisReply *r = command(c, 2, argv, lens, &code, err, "SELECT failed");
        if (!r) {
            if (c->ctx)
                fail(c, code, err, "SELECT failed", "the server refused the database");
            return code;
        }
        freeReplyObject(r);
    }
    c->retry_at_ms = 0;
    c->backoff_ms = c->opts.backoff_min_ms;
    return 0;
}

void cache_entry_release(struct cache_entry *e)
{
    if (!e)
        return;
    free(e->data);
    memset(e, 0, sizeof(*e));
}

/* Parses a stored value; 0 on success, -1 when it is not one of ours. */
static int parse_entry(const char *v, size_t len, struct cache_entry *out)
{
    const char *nl = memchr(v, '\n', len < 256 ? len : 256);
    if (!nl || len < sizeof(CACHE_MAGIC) || memcmp(v, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) != 0)
        return -1;
    char head[256], fmt[8], tpl[CACHE_TEMPLATE_MAX];
    int w, h;
    snprintf(head, sizeof(head), "%.*s", (int)(nl - v), v);
    if (sscanf(head, "MEME1 %7s %d %d %63s", fmt, &w, &h, tpl) != 4)
        return -1;
    enum image_format f;
    if (strcmp(fmt, "png") == 0)
        f = IMAGE_PNG;
    else if (strcmp(fmt, "jpeg") == 0)
        f = IMAGE_JPEG;
    else
        return -1;
    const uint8_t *img = (const uint8_t *)nl + 1;
    size_t n = len - (size_t)(nl + 1 - v);
    if (w < 1 || h < 1 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM || image_sniff(img, n) != (int)f)
        return -1;
    out->data = xmalloc(n);
    memcpy(out->data, img, n);
    out->len = n;
    out->format = f;
    out->width = w;
    out->height = h;
    snprintf(out->template_name, sizeof(out->template_name), "%s", strcmp(tpl, "-") ? tpl : "");
    return 0;
}

int cache_get(struct cache *c, const char *key, struct cache_entry *out, struct meme_err *err)
{
    int code = 0;
    memset(out, 0, sizeof(*out));
    if ((code = ensure(c, err)) < 0)
        return code;
    const char *argv[2] = {"GET", key};
    size_t lens[2] = {3, strlen(key)};
    redisReply *r = command(c, 2, argv, lens, &code, err, "GET failed");
    if (!r)
        return code;
    int rc = 0;
    if (r->type == REDIS_REPLY_STRING && parse_entry(r->str, r->len, out) == 0)
        rc = 1;
    freeReplyObject(r);
    return rc;
}

int cache_put(struct cache *c, const char *key, const struct cache_entry *e, int ttl_s,
              struct meme_err *err)
{
    int code = 0;
    if ((code = ensure(c, err)) < 0)
        return code;
    char head[160], ttl[24];
    int hn = snprintf(head, sizeof(head), "MEME1 %s %d %d %s\n",
                      e->format == IMAGE_JPEG ? "jpeg" : "png", e->width, e->height,
                      e->template_name[0] ? e->template_name : "-");
    snprintf(ttl, sizeof(ttl), "%d", ttl_s > 0 ? ttl_s : CACHE_TTL_DEFAULT);
    size_t vlen = (size_t)hn + e->len;
    char *value = xmalloc(vlen);
    memcpy(value, head, (size_t)hn);
    memcpy(value + hn, e->data, e->len);
    const char *argv[5] = {"SET", key, value, "EX", ttl};
    size_t lens[5] = {3, strlen(key), vlen, 2, strlen(ttl)};
    redisReply *r = command(c, 5, argv, lens, &code, err, "SET failed");
    free(value);
    if (!r)
        return code;
    freeReplyObject(r);
    return 0;
}

int cache_ping(struct cache *c, struct meme_err *err)
{
    int code = 0;
    if ((code = ensure(c, err)) < 0)
        return code;
    const char *argv[1] = {"PING"};
    size_t lens[1] = {4};
    redisReply *r = command(c, 1, argv, lens, &code, err, "PING failed");
    if (!r)
        return code;
    freeReplyObject(r);
    return 0;
}

void cache_key(const void *material, size_t len, char out[CACHE_KEY_MAX])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(material, len, md, &mdlen, EVP_sha256(), NULL);
    int n = snprintf(out, CACHE_KEY_MAX, "meme:v1:");
    for (unsigned i = 0; i < mdlen && n + 2 < CACHE_KEY_MAX; i++)
        n += snprintf(out + n, (size_t)(CACHE_KEY_MAX - n), "%02x", md[i]);
}
