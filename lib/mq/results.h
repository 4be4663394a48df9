/*
 * Finished memes by request id, in the JetStream key-value bucket
 * PROTO_RESULTS_BUCKET (docs/protocol.md, "Results by id"). Each result is
 * two keys: "<key>" holds the image bytes and "<key>.meta" a small JSON
 * object (status, content type, size, template, engine, created; or the
 * error code and message), where <key> is proto_result_key(id). The meta
 * key is written last, so a reader that finds it finds the image too.
 *
 * An id belongs to one request: the meta names the JetStream message that
 * claimed it ("request"), the worker claims the id before it makes the meme
 * (a "pending" meta, created only when the key is new), and every later
 * write of the meta is a compare-and-set on the revision the claim
 * returned. A request reusing another's id can therefore never touch that
 * result. Shared by meme-worker (writes), memectl get and meme-gateway (read).
 */
#ifndef MEME_RESULTS_H
#define MEME_RESULTS_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "mq/proto.h"

struct results_meta {
    bool ok;               /* false: the request failed (code and message set) */
    char content_type[32]; /* "image/png" or "image/jpeg" */
    int width, height;
    char template_name[64];
    char engine[64];
    char worker[128];
    int64_t created; /* Unix seconds */
    size_t bytes;
    char code[32];                     /* error code name when !ok */
    char message[512];                 /* error message when !ok */
    char prompt[PROTO_PROMPT_MAX + 1]; /* the request's prompt ("" in results stored before it) */
    int64_t queue_ms;                  /* waiting in the queue; -1 when unknown */
    double gen_ms;                     /* making it; -1 when unknown */
    bool pending;                      /* claimed, not finished yet */
    char request[128];                 /* the request that owns the id: RESULTS_OWNER_MAX */
    int attempt;                       /* the delivery of that request that wrote it; 0 unknown */
};

/* "<stream>/<sequence>/<stored ns>": one JetStream message, the same on every
 * delivery of it and never the same for two messages. */
#define RESULTS_OWNER_MAX 128
void results_owner(const char *stream, uint64_t seq, int64_t stored_ns,
                   char out[RESULTS_OWNER_MAX]);

/* What results_claim() found. */
struct results_claim {
    uint64_t revision;        /* of the meta key, for the compare-and-set writes */
    bool finished;            /* an earlier delivery already stored the result */
    bool superseded;          /* a later delivery of the request has it: leave it */
    struct results_meta meta; /* what was found, when the id was not new */
};

/*
 * Makes the bucket when missing, or brings an existing one to protocol v1's
 * settings: file storage, history 1, ttl_s seconds, values up to max_value
 * bytes, at most max_bytes in all (0: keep the existing limit, or none),
 * and the oldest results dropped when full (never a refused write). Sets
 * *made when it created the bucket. Returns 0, MQ_NO_ROOM (mq.h) when the
 * server cannot reserve max_bytes, or a negative code.
 */
int results_ensure_bucket(jsCtx *js, const char *bucket, int ttl_s, int64_t max_value,
                          int64_t max_bytes, bool *made, struct meme_err *err);
/* Sets the bucket's byte limit (a bucket this process just made, to give
 * room back). 0 or a negative code. */
int results_resize_bucket(jsCtx *js, const char *bucket, int64_t max_bytes, struct meme_err *err);

/*
 * Binds to the bucket; with create, makes it when missing as
 * results_ensure_bucket() does with no byte limit. MEME_E_NOT_FOUND when it
 * does not exist and create is false. *kv is the caller's (kvStore_Destroy).
 */
int results_open(jsCtx *js, const char *bucket, bool create, int ttl_s, int64_t max_value,
                 kvStore **kv, struct meme_err *err);

/*
 * Claims id for delivery attempt of the request owner before its result is
 * made: creates a pending meta when the id is new, or finds the meta another
 * delivery of the same request left: the result (cl->finished), a pending
 * claim of an earlier delivery (taken over), or one of a later delivery
 * (cl->superseded: this delivery is stale). Returns 0, MEME_E_ID_CONFLICT
 * when another request owns the id (nothing is written), or another
 * negative code.
 */
int results_claim(kvStore *kv, const char *id, const char *owner, int attempt,
                  struct results_claim *cl, struct meme_err *err);

/*
 * Stores a result: the image (NULL/0 for a failed request) then its meta,
 * the meta only if its revision is still meta_rev (the claim's; 0: only if
 * the id is new). MEME_E_ID_CONFLICT when the meta changed or exists.
 */
int results_put(kvStore *kv, const char *id, const uint8_t *data, size_t len,
                const struct results_meta *meta, uint64_t meta_rev, struct meme_err *err);

/*
 * Reads the meta of id. 0, MEME_E_NOT_FOUND (no such result or it expired),
 * or another negative code.
 */
int results_get_meta(kvStore *kv, const char *id, struct results_meta *meta, struct meme_err *err);
/* Reads meta and, for a successful result, the image (*data is the caller's). */
int results_get(kvStore *kv, const char *id, struct results_meta *meta, uint8_t **data, size_t *len,
                struct meme_err *err);

/*
 * A writer stores results with both keys in flight at once (asynchronous
 * JetStream publishes on the key-value subjects, then one wait for both
 * acks), about half the time of results_put(). It owns a JetStream context
 * of its own: one writer per thread. NULL with err filled on failure.
 */
struct results_writer;
struct results_writer *results_writer_new(natsConnection *nc, const char *bucket,
                                          struct meme_err *err);
void results_writer_free(struct results_writer *w);
/* As results_put(); waits at most timeout_ms (MEME_E_TIMEOUT after it).
 * MEME_E_TOO_LARGE when a value exceeds the server's or the bucket's limit. */
int results_writer_put(struct results_writer *w, const char *id, const uint8_t *data, size_t len,
                       const struct results_meta *meta, uint64_t meta_rev, int timeout_ms,
                       struct meme_err *err);

/* The meta as JSON (a new string) and back. */
char *results_meta_json(const struct results_meta *meta);
int results_meta_parse(const char *json, size_t len, struct results_meta *meta,
                       struct meme_err *err);

#endif
