/*
 * The meme cache in Redis (hiredis): finished images by a hash of everything
 * that changes their pixels, with a TTL. Best-effort by design: every call
 * is bounded by short timeouts, a failure drops the connection and starts a
 * backoff during which calls fail at once without touching the network, and
 * the next call after the backoff reconnects. A cache is one connection: it
 * is not thread-safe, so give each thread its own.
 */
#ifndef MEME_CACHE_H
#define MEME_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "render/image.h"

#define CACHE_KEY_MAX      80 /* "meme:v1:" + 64 hex digits + NUL */
#define CACHE_TTL_DEFAULT  3600
#define CACHE_TEMPLATE_MAX 64

struct cache;

struct cache_opts {
    int connect_timeout_ms; /* 0 = 200 */
    int io_timeout_ms;      /* 0 = 200 */
    int backoff_min_ms;     /* 0 = 500; doubles after each failed reconnect */
    int backoff_max_ms;     /* 0 = 30000 */
};

struct cache_entry {
    uint8_t *data; /* the encoded image, owned */
    size_t len;
    enum image_format format;
    int width, height;
    char template_name[CACHE_TEMPLATE_MAX];
};

/*
 * Parses url (redis://[[user]:password@]host[:port][/db], or unix:/path) and
 * returns a cache that connects on first use. NULL with err filled when the
 * URL is invalid. Error messages never contain the password.
 */
struct cache *cache_new(const char *url, const struct cache_opts *opts, struct meme_err *err);
void cache_free(struct cache *c);

/* The URL with any password replaced by "***" (borrowed). */
const char *cache_url_redacted(const struct cache *c);

/*
 * Looks key up. Returns 1 and fills out (release with cache_entry_release)
 * on a hit, 0 on a miss (an entry that does not parse counts as a miss), or
 * a negative code: MEME_E_UNREACHABLE (no connection, or in backoff),
 * MEME_E_TIMEOUT, MEME_E_IO.
 */
int cache_get(struct cache *c, const char *key, struct cache_entry *out, struct meme_err *err);
/* Stores e under key for ttl_s seconds. 0 or a negative code as cache_get. */
int cache_put(struct cache *c, const char *key, const struct cache_entry *e, int ttl_s,
              struct meme_err *err);
void cache_entry_release(struct cache_entry *e);

/* Checks that Redis answers (PING), reconnecting when the backoff allows.
 * 0 or a negative code as cache_get. */
int cache_ping(struct cache *c, struct meme_err *err);

/* True while the last operation failed and the backoff has not yet expired. */
int cache_in_backoff(const struct cache *c);

/* The key for material (a canonical text of everything that changes the
 * pixels): "meme:v1:" and the SHA-256 of material in hex. */
void cache_key(const void *material, size_t len, char out[CACHE_KEY_MAX]);

#endif
