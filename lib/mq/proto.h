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

/* Delivery (docs/protocol.md, "Delivery"): the consumer's ack wait, how
 * often a worker tells JetStream that a job is still its own, deliveries in
 * all, and how long one request may take, retries and redeliveries
 * included, counted from when JetStream stored it. */
#define PROTO_ACK_WAIT_MS      5000
#define PROTO_KEEPALIVE_MS     1000
#define PROTO_MAX_DELIVER      5
#define PROTO_DEADLINE_MS      120000
#define PROTO_DEADLINE_FAST_MS 30000

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
/* A progress message (Meme-Status: progress) says which of these the request
 * is in; its body is proto_progress_json(). */
#define PROTO_H_PROGRESS "Meme-Progress" /* "queued", "working" or "retrying" */
#define PROTO_H_ATTEMPT  "Meme-Attempt"  /* JetStream delivery count, from 1 */

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
    char *reply;   /* owned; NULL = answer on meme.response (original design) */
    bool progress; /* send progress messages on reply before the answer */
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
/* An id is 1..64 of [A-Za-z0-9_:-]: no '.', so no id is another's key plus
 * ".meta", and no wildcard, space or control byte. */
bool proto_id_valid(const char *id);
/* A subject to publish to: tokens of printable ASCII without spaces or wildcards. */
bool proto_subject_valid(const char *subj);

/* Replies go only to inboxes: subjects under PROTO_INBOX_PREFIX or under the
 * operator's prefix (NULL or "" for none), with at least one token after it. */
#define PROTO_INBOX_PREFIX "_INBOX."
bool proto_reply_allowed(const char *subj, const char *prefix);
/* An operator's reply prefix: tokens ending in '.', no wildcards, and outside
 * the server's '$' subjects and the protocol's own "meme." subjects. */
bool proto_reply_prefix_valid(const char *prefix);

struct json_t;
/* JSON text of o (a new string, free()) with every non-ASCII character and
 * DEL escaped as \uXXXX, so no control byte (C0, DEL, C1) leaves raw. flags
 * are jansson's dump flags (JSON_ENSURE_ASCII is added). */
char *proto_json_dump(const struct json_t *o, size_t flags);
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

/* What a worker says about a request before its answer (a progress message
 * on the private reply subject; docs/protocol.md, "Progress"). */
enum proto_progress_state {
    PROTO_PROGRESS_QUEUED,
    PROTO_PROGRESS_WORKING,
    PROTO_PROGRESS_RETRYING
};

struct proto_progress {
    char id[PROTO_ID_MAX + 1];
    enum proto_progress_state state;
    char worker[128];
    int attempt;      /* JetStream delivery, from 1 */
    int max_attempts; /* deliveries allowed in all */
    int engine_try;   /* the engine's own try within this delivery; 0 when none */
    int code;         /* retrying: the error that caused it; else 0 */
    char message[256];
    int64_t elapsed_ms;  /* since JetStream stored the request */
    int64_t retry_in_ms; /* retrying: the wait before the next try */
};

const char *proto_progress_state_name(enum proto_progress_state s);
/* The progress as JSON (new string). */
char *proto_progress_json(const struct proto_progress *p);
/* Parses a progress body; 0 or MEME_E_BAD_JSON. Unknown states are refused. */
int proto_progress_parse(const char *json, size_t len, struct proto_progress *p);
/* One line a person reads ("retrying: HTTP 503 … (attempt 2 of 5, next in 1.0 s)"),
 * without control characters. */
void proto_progress_text(const struct proto_progress *p, char *out, size_t outsz);

/* Base64 (RFC 4648, padded). Encode returns a new string; decode returns 0 or
 * a negative code and a new buffer in *out. */
char *proto_base64_encode(const uint8_t *data, size_t len);
int proto_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len);

#endif
