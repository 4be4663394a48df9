/*
 * Error codes and the caller-owned error struct every libmeme function fills.
 * Each code maps to one stable string, used on the wire (protocol v1 error
 * replies) and in docs/protocol.md; tests check the two agree.
 */
#ifndef MEME_ERR_H
#define MEME_ERR_H

enum meme_code {
    MEME_OK = 0,
    MEME_E_BAD_JSON = -1,        /* request is not a JSON object */
    MEME_E_BAD_REQUEST = -2,     /* a field has the wrong type or value */
    MEME_E_MISSING_PROMPT = -3,  /* no "prompt" string */
    MEME_E_PROMPT_TOO_LONG = -4, /* prompt over MEME_PROMPT_MAX bytes */
    MEME_E_INVALID_UTF8 = -5,    /* prompt or caption is not UTF-8 */
    MEME_E_UNKNOWN_TEMPLATE = -6,
    MEME_E_UNKNOWN_ENGINE = -7,
    MEME_E_RENDER = -8,       /* the engine failed to make the image */
    MEME_E_FONT = -9,         /* no usable font */
    MEME_E_IMAGE = -10,       /* image decode or encode failed */
    MEME_E_TOO_LARGE = -11,   /* a reply would exceed the server's max_payload */
    MEME_E_NATS = -12,        /* the NATS server refused or failed */
    MEME_E_UNREACHABLE = -13, /* no server at the address */
    MEME_E_TIMEOUT = -14,
    MEME_E_NOT_FOUND = -15,
    MEME_E_IO = -16,
    MEME_E_INTERNAL = -17,
    MEME_E_SHUTTING_DOWN = -18,
    MEME_E_REFUSED = -19,           /* an engine's service refused for good (4xx, redirect) */
    MEME_E_REPLY_NOT_ALLOWED = -20, /* a reply subject outside the inbox prefixes */
    MEME_E_ID_CONFLICT = -21,       /* the id belongs to another request's result */
    MEME_E_QUEUE_FULL = -22,        /* the stream refuses new requests: it is at its limit */
};

#define MEME_CODE_COUNT 23

struct meme_err {
    int code;
    char msg[512];
};

/* Records code and a formatted message in e (which may be NULL); returns code. */
int meme_err_set(struct meme_err *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The stable wire name of a code ("bad_json", ...); "internal" for unknown codes. */
const char *meme_code_name(int code);
/* The code for a wire name, or MEME_E_INTERNAL when the name is unknown. */
int meme_code_from_name(const char *name);
/* True when retrying the same request may succeed. */
int meme_code_is_transient(int code);

#endif
