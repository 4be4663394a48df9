/*
 * Protocol v1 (docs/protocol.md): the meme request as any client sends it,
 * the replies, the subjects and header names. Pure data handling: no I/O.
 *
 * The original design's clients keep working unchanged: both spellings of
 * the request are accepted ({"prompt","fastMode"} and {"id","prompt",
 * "fast_mode","small_image"}), and a request without a private reply subject
 * is answered on meme.response with base64 JSON.
 */
#ifndef MEME_PROTO_H
#define MEME_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "render/image.h"

#define PROTO_VERSION 1

#define PROTO_SUBJECT_REQUEST      "meme.request"
#define PROTO_SUBJECT_REQUEST_WILD "meme.request.>"
#define PROTO_SUBJECT_RESPONSE     "meme.response"
#define PROTO_SUBJECT_ERROR        "meme.response.error"
#define PROTO_SUBJECT_EVENTS       "meme.events.done"
#define PROTO_STREAM               "MEMES"
#define PROTO_CONSUMER             "meme-generator"
#define PROTO_SUBJECT_HEARTBEAT    "meme.workers.heartbeat"
/* Finished memes by request id (JetStream key-value bucket; key: proto_result_key()). */
#define PROTO_RESULTS_BUCKET "meme-results"
#define PROTO_RESULTS_TTL_S  3600

#define PROTO_REQUEST_MAX  65536 /* bytes of request JSON */
#define PROTO_PROMPT_MAX   1000  /* bytes of prompt (UTF-8) */
#define PROTO_CAPTION_MAX  500   /* bytes of top or bottom text */
#define PROTO_ID_MAX       64
#define PROTO_NAME_MAX     63 /* template and engine names */
#define PROTO_SIZE_DEFAULT 512
#define PROTO_SIZE_LARGE   1024

/* Header names of a private reply (values are ASCII). */
#define PROTO_H_MSG_ID       "Nats-Msg-Id"
#define PROTO_H_VERSION      "Meme-Protocol"
#define PROTO_H_STATUS       "Meme-Status" /* "ok" or "error" */
#define PROTO_H_ID           "Meme-Id"
#define PROTO_H_CONTENT_TYPE "Meme-Content-Type"
#define PROTO_H_WIDTH        "Meme-Width"
#define PROTO_H_HEIGHT       "Meme-Height"
#define PROTO_H_ENGINE       "Meme-Engine"
#define PROTO_H_TEMPLATE     "Meme-Template"
#define PROTO_H_CACHE        "Meme-Cache" /* "hit" or "miss" */
#define PROTO_H_WORKER       "Meme-Worker"
#define PROTO_H_QUEUE_MS     "Meme-Queue-Ms"
#define PROTO_H_GEN_MS       "Meme-Gen-Ms"
#define PROTO_H_ERROR_CODE   "Meme-Error-Code"

struct proto_request {
    char id[PROTO_ID_MAX + 1];
    bool id_assigned; /* the request had no id: one was made up */
    char *prompt;     /* owned, valid UTF-8 */
    char *top;        /* owned or NULL */
    char *bottom;     /* owned or NULL */
    char template_name[PROTO_NAME_MAX + 1];
    char engine[PROTO_NAME_MAX + 1]; /* "" = the worker's default */
    bool fast_mode;
    int size; /* square size in pixels */
    enum image_format format;
    bool has_seed;
    uint64_t seed;
    char *reply; /* owned; NULL = answer on meme.response (original design) */
};

/*
 * Parses and validates a request. On failure returns a negative code and
 * still fills id and reply when the JSON had them, so the error can be
 * addressed. Always release with proto_request_release().
 */
int proto_request_parse(const char *json, size_t len, struct proto_request *req,
                        struct meme_err *err);
void proto_request_init(struct proto_request *req);
void proto_request_release(struct proto_request *req);

/* The request as JSON (new heap string): the fields memectl sends. */
char *proto_request_json(const struct proto_request *req);

/* A new random UUID v4 in out (37 bytes). */
void proto_new_id(char out[37]);
/* An id is 1..64 of [A-Za-z0-9._:-]. */
bool proto_id_valid(const char *id);
/* A subject to publish to: tokens of printable ASCII without spaces or wildcards. */
bool proto_subject_valid(const char *subj);
bool proto_utf8_valid(const char *s, size_t len);

/* The original design's success reply: {"request_id","image_data","prompt","timestamp"}. */
char *proto_legacy_response_json(const char *id, const uint8_t *image, size_t len,
                                 const char *prompt, int64_t timestamp);
/* An error reply: {"request_id","error","code","timestamp"} (a superset of the
 * original's). */
char *proto_error_json(const char *id, int code, const char *message, int64_t timestamp);
/* Parses an error reply; fills code and message (message is the caller's). */
/* The key-value key for a request id: the id with ':' (not allowed in keys)
 * written as "=3A" ('=' never occurs in ids). out needs 3 * PROTO_ID_MAX + 1. */
void proto_result_key(const char *id, char *out, size_t out_len);

int proto_error_parse(const char *json, size_t len, int *code, char **message);

/* Base64 (RFC 4648, padded). Encode returns a new string; decode returns 0 or
 * a negative code and a new buffer in *out. */
char *proto_base64_encode(const uint8_t *data, size_t len);
int proto_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

#endif
