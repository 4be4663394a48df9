/*
 * Hugging Face text-to-image over the Inference API (libcurl): POST
 * {"inputs": prompt, "parameters": {...}} to BASE/models/MODEL with a bearer
 * token, get image bytes back. Handles the API's ways of saying "later":
 * 503 while a model loads (waits the "estimated_time" it gives), 429 (waits
 * Retry-After), 408, other 5xx and timeouts (backs off), and bodies that are
 * not images, with bounded attempts inside one overall deadline. What cannot
 * succeed by trying again ends at once: other 4xx, and redirects (never
 * followed: they could carry the token elsewhere). No connection (refused,
 * or a name that does not resolve) is tried again only within a short
 * budget of its own.
 *
 * Only meme-worker links this (libcurl costs memectl 7.7 ms at start-up).
 * A client is one reusable connection: not thread-safe, one per thread.
 */
#ifndef MEME_HF_H
#define MEME_HF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define HF_DEFAULT_URL        "https://router.huggingface.co/hf-inference"
#define HF_DEFAULT_FAST_MODEL "black-forest-labs/FLUX.1-schnell"
#define HF_DEFAULT_MODEL      "stabilityai/stable-diffusion-xl-base-1.0"
#define HF_MAX_BODY           (32 * 1024 * 1024)

struct hf_client;

struct hf_opts {
    const char *base_url; /* NULL = HF_DEFAULT_URL */
    const char *token;    /* required; never logged nor put in messages */
    int deadline_ms;      /* all attempts and waits; 0 = 120000 */
    int attempt_ms;       /* one HTTP exchange; 0 = 60000 */
    int max_attempts;     /* 0 = 6 */
    int max_wait_ms;      /* longest single wait asked by the server; 0 = 30000 */
    int backoff_ms;       /* first back-off after a 5xx or timeout; 0 = 500 */
    int unreachable_ms;   /* how long "no connection" is tried again; 0 = 3000 */
};

/* A try failed and another follows after wait_ms. */
struct hf_retry {
    int attempt;      /* the try that failed, from 1 */
    int max_attempts; /* tries allowed */
    int wait_ms;
    int code;           /* what it would have failed with: MEME_E_RENDER, _TIMEOUT, ... */
    const char *reason; /* "HTTP 503: Model ... is currently loading"; no secrets */
};
typedef void (*hf_retry_fn)(void *arg, const struct hf_retry *r);

struct hf_request {
    const char *model;
    const char *prompt;
    int width, height; /* 0 = let the model choose */
    bool has_seed;
    uint64_t seed;
    int deadline_ms;      /* this request's deadline when shorter than the client's; 0 = none */
    hf_retry_fn on_retry; /* told before each wait between tries (may be NULL); gets arg */
};

/* Called about every 100 ms while a request or a wait is under way; return
 * false to give up (the call then fails with MEME_E_SHUTTING_DOWN). */
typedef bool (*hf_progress_fn)(void *arg);

/* Initialises libcurl; call once, before any thread uses a client. */
void hf_global_init(void);
void hf_global_cleanup(void);

/* NULL with err filled when opts lack a token or the URL is not http(s). */
struct hf_client *hf_client_new(const struct hf_opts *opts, struct meme_err *err);
void hf_client_free(struct hf_client *c);

struct hf_stats {
    int attempts;
    int waited_ms;   /* time spent waiting as told by the server or backing off */
    int last_status; /* last HTTP status, 0 when none came */
};

/*
 * Asks for one image. On success *out holds the bytes (the caller's, free())
 * and they start with a PNG or JPEG signature; decoding them is the
 * caller's business (image_decode). Codes: MEME_E_TIMEOUT (deadline passed),
 * MEME_E_UNREACHABLE (no connection within the unreachable budget),
 * MEME_E_RENDER (the API kept failing or sent something that is not an
 * image; transient), MEME_E_BAD_REQUEST (the API refused the input:
 * 400/422), MEME_E_REFUSED (any other 4xx but 408 and 429, or a redirect:
 * after one call), MEME_E_SHUTTING_DOWN (progress said stop).
 * stats may be NULL.
 */
int hf_generate(struct hf_client *c, const struct hf_request *req, hf_progress_fn progress,
                void *arg, uint8_t **out, size_t *len, struct hf_stats *stats,
                struct meme_err *err);

#endif
