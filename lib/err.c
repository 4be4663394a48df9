/*
 * The one table from error codes to stable wire names. The names appear in
 * error replies and in docs/protocol.md, so they never change once shipped.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const struct {
    int code;
    const char *name;
    int transient;
} codes[] = {
    {MEME_OK, "ok", 0},
    {MEME_E_BAD_JSON, "bad_json", 0},
    {MEME_E_BAD_REQUEST, "bad_request", 0},
    {MEME_E_MISSING_PROMPT, "missing_prompt", 0},
    {MEME_E_PROMPT_TOO_LONG, "prompt_too_long", 0},
    {MEME_E_INVALID_UTF8, "invalid_utf8", 0},
    {MEME_E_UNKNOWN_TEMPLATE, "unknown_template", 0},
    {MEME_E_UNKNOWN_ENGINE, "unknown_engine", 0},
    {MEME_E_RENDER, "render_failed", 1},
    {MEME_E_FONT, "font_unavailable", 0},
    {MEME_E_IMAGE, "image_failed", 0},
    {MEME_E_TOO_LARGE, "too_large", 0},
    {MEME_E_NATS, "nats_error", 1},
    {MEME_E_UNREACHABLE, "unreachable", 1},
    {MEME_E_TIMEOUT, "timeout", 1},
    {MEME_E_NOT_FOUND, "not_found", 0},
    {MEME_E_IO, "io_error", 1},
    {MEME_E_INTERNAL, "internal", 1},
    {MEME_E_SHUTTING_DOWN, "shutting_down", 1},
    {MEME_E_REFUSED, "engine_refused", 0},
    {MEME_E_REPLY_NOT_ALLOWED, "reply_not_allowed", 0},
    {MEME_E_ID_CONFLICT, "id_conflict", 0},
    {MEME_E_QUEUE_FULL, "queue_full", 1},
};

_Static_assert(sizeof(codes) / sizeof(codes[0]) == MEME_CODE_COUNT, "code table is complete");

int meme_err_set(struct meme_err *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        e->code = code;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *meme_code_name(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].name;
    return "internal";
}

int meme_code_from_name(const char *name)
{
    for (size_t i = 0; name && i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcmp(codes[i].name, name) == 0)
            return codes[i].code;
    return MEME_E_INTERNAL;
}

int meme_code_is_transient(int code)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == code)
            return codes[i].transient;
    return 1;
}
