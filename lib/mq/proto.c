/*
 * Protocol v1 codec: request parsing and validation, reply and error JSON,
 * ids and subjects. Every limit here is listed in docs/protocol.md and the
 * doc check test keeps the two in step.
 */
#include "mq/proto.h"
#include "utf8.h"
#include "xalloc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void proto_request_init(struct proto_request *req)
{
    memset(req, 0, sizeof(*req));
    req->size = PROTO_SIZE_DEFAULT;
    req->format = IMAGE_PNG;
}

void proto_request_release(struct proto_request *req)
{
    if (!req)
        return;
    free(req->prompt);
    free(req->top);
    free(req->bottom);
    free(req->reply);
    proto_request_init(req);
}

bool proto_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        size_t n;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

bool proto_id_valid(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    if (n == 0 || n > PROTO_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':' || c == '-'))
            return false;
    }
    return true;
}

bool proto_subject_valid(const char *subj)
{
    size_t n = subj ? strlen(subj) : 0;
    if (n == 0 || n > 255 || subj[0] == '.' || subj[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)subj[i];
        if (c <= ' ' || c >= 0x7f || c == '*' || c == '>')
            return false;
        if (c == '.' && subj[i + 1] == '.')
            return false;
    }
    return true;
}

bool proto_reply_allowed(const char *subj, const char *prefix)
{
    if (!proto_subject_valid(subj))
        return false;
    size_t n = strlen(subj), ni = strlen(PROTO_INBOX_PREFIX);
    if (n > ni && strncmp(subj, PROTO_INBOX_PREFIX, ni) == 0)
        return true;
    size_t np = prefix ? strlen(prefix) : 0;
    return np > 0 && n > np && strncmp(subj, prefix, np) == 0;
}

bool proto_reply_prefix_valid(const char *prefix)
{
    size_t n = prefix ? strlen(prefix) : 0;
    if (n < 2 || prefix[n - 1] != '.' || prefix[0] == '$' || strncmp(prefix, "meme.", 5) == 0)
        return false;
    /* Without its final '.', the prefix is itself a subject without wildcards. */
    char *head = xstrndup(prefix, n - 1);
    bool ok = proto_subject_valid(head);
    free(head);
    return ok;
}

char *proto_json_dump(const json_t *o, size_t flags)
{
    char *s = json_dumps(o, flags | JSON_ENSURE_ASCII);
    if (!s)
        abort();
    /* jansson escapes C0 and, with JSON_ENSURE_ASCII, everything above
     * U+007F (C1 included), but leaves DEL raw; in JSON text DEL can only be
     * inside a string, so it is escaped in place. */
    size_t dels = 0, n = 0;
    for (; s[n]; n++)
        dels += s[n] == 0x7f;
    if (!dels)
        return s;
    char *out = xmalloc(n + 5 * dels + 1), *q = out;
    for (const char *p = s; *p; p++) {
        if (*p == 0x7f) {
            memcpy(q, "\\u007F", 6);
            q += 6;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    free(s);
    return out;
}

void proto_new_id(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Looks up the first of two spellings present in obj. */
static json_t *field2(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);
    return v ? v : (b ? json_object_get(obj, b) : NULL);
}

static int get_bool(json_t *obj, const char *a, const char *b, bool *out, bool *present,
                    struct meme_err *err)
{
    json_t *v = field2(obj, a, b);
    if (present)
        *present = v != NULL && !json_is_null(v);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_boolean(v))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "field \"%s\" must be true or false", a);
    *out = json_is_true(v);
    return 0;
}

static int get_text(json_t *obj, const char *a, const char *b, size_t max, char **out,
                    struct meme_err *err)
{
    json_t *v = field2(obj, a, b);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "field \"%s\" must be a string", a);
    if (json_string_length(v) > max)
        return meme_err_set(err, a[0] == 'p' ? MEME_E_PROMPT_TOO_LONG : MEME_E_BAD_REQUEST,
                            "field \"%s\" is %zu bytes; the limit is %zu", a, json_string_length(v),
                            max);
    *out = xstrdup(json_string_value(v));
    return 0;
}

static int get_name(json_t *obj, const char *a, char *out, size_t outsz, struct meme_err *err)
{
    json_t *v = json_object_get(obj, a);
    if (!v || json_is_null(v))
        return 0;
    const char *s = json_string_value(v);
    if (!s)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "field \"%s\" must be a string", a);
    size_t n = strlen(s);
    if (n >= outsz)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "field \"%s\" is longer than %zu bytes", a,
                            outsz - 1);
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return meme_err_set(err, MEME_E_BAD_REQUEST,
                                "field \"%s\" may hold only letters, digits, '-', '_' and '.'", a);
    }
    memcpy(out, s, n + 1);
    return 0;
}

/* True when s would draw nothing: only white space (Unicode spaces too),
 * control characters and the '|' that splits a prompt. */
static bool blank_text(const char *s)
{
    if (!s)
        return true;
    size_t len = strlen(s), i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_char((const uint8_t *)s + i, len - i, &cp);
        if (n == 0)
            return false;
        i += n;
        if (cp <= 0x20 || cp == '|' || (cp >= 0x7F && cp <= 0xA0) || cp == 0x1680 ||
            (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
            cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
            continue;
        return false;
    }
    return true;
}

static int parse_fields(json_t *root, struct proto_request *req, struct meme_err *err)
{
    int rc;
    json_t *v;
    bool small = false, small_present = false;

    if ((rc = get_text(root, "prompt", NULL, PROTO_PROMPT_MAX, &req->prompt, err)) < 0)
        return rc;
    if ((rc = get_text(root, "top", NULL, PROTO_CAPTION_MAX, &req->top, err)) < 0)
        return rc;
    if ((rc = get_text(root, "bottom", NULL, PROTO_CAPTION_MAX, &req->bottom, err)) < 0)
        return rc;
    if (!req->prompt && !req->top && !req->bottom)
        return meme_err_set(err, MEME_E_MISSING_PROMPT,
                            "the request has no \"prompt\" (a string of up to %d bytes)",
                            PROTO_PROMPT_MAX);
    /* Captions made from the prompt must have something in them; explicit
     * top and bottom fields, even empty ones, are what the client asked for
     * (a background alone). */
    if (!req->top && !req->bottom && blank_text(req->prompt))
        return meme_err_set(err, MEME_E_MISSING_PROMPT,
                            "the prompt has nothing to draw: it is empty or only spaces and "
                            "'|'");
    if (!req->prompt)
        req->prompt = xstrdup("");
    if ((rc = get_bool(root, "fast_mode", "fastMode", &req->fast_mode, NULL, err)) < 0)
        return rc;
    if ((rc = get_bool(root, "progress", NULL, &req->progress, NULL, err)) < 0)
        return rc;
    if ((rc = get_bool(root, "small_image", "smallImage", &small, &small_present, err)) < 0)
        return rc;
    if ((rc = get_name(root, "template", req->template_name, sizeof(req->template_name), err)) < 0)
        return rc;
    if ((rc = get_name(root, "engine", req->engine, sizeof(req->engine), err)) < 0)
        return rc;

    /* Size: an explicit "size" wins; the original design's small_image picks
     * 512 or 1024; with neither, 512. */
    if (small_present)
        req->size = small ? PROTO_SIZE_DEFAULT : PROTO_SIZE_LARGE;
    v = json_object_get(root, "size");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 64 || json_integer_value(v) > 2048)
            return meme_err_set(err, MEME_E_BAD_REQUEST,
                                "field \"size\" must be a whole number from 64 to 2048");
        req->size = (int)json_integer_value(v);
    }

    v = json_object_get(root, "format");
    if (v && !json_is_null(v)) {
        const char *f = json_string_value(v);
        if (f && strcmp(f, "png") == 0)
            req->format = IMAGE_PNG;
        else if (f && (strcmp(f, "jpeg") == 0 || strcmp(f, "jpg") == 0))
            req->format = IMAGE_JPEG;
        else
            return meme_err_set(err, MEME_E_BAD_REQUEST,
                                "field \"format\" must be \"png\" or \"jpeg\"");
    }

    v = json_object_get(root, "seed");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 0)
            return meme_err_set(err, MEME_E_BAD_REQUEST,
                                "field \"seed\" must be a non-negative whole number");
        req->has_seed = true;
        req->seed = (uint64_t)json_integer_value(v);
    }
    return 0;
}

int proto_request_parse(const char *json, size_t len, struct proto_request *req,
                        struct meme_err *err)
{
    json_t *root = NULL, *v;
    json_error_t jerr;
    int rc = 0;

    proto_request_init(req);
    if (len > PROTO_REQUEST_MAX) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST, "the request is %zu bytes; the limit is %d", len,
                          PROTO_REQUEST_MAX);
        goto out;
    }
    if (!proto_utf8_valid(json, len)) {
        rc = meme_err_set(err, MEME_E_INVALID_UTF8, "the request is not valid UTF-8");
        goto out;
    }
    root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "the request is not valid JSON: %s at line %d",
                          jerr.text, jerr.line);
        goto out;
    }
    if (!json_is_object(root)) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "the request must be a JSON object");
        goto out;
    }

    /* id and reply first, so that even a rejected request can be answered,
     * privately when it gave a reply subject. */
    int id_rc = 0;
    v = json_object_get(root, "id");
    if (v && !json_is_null(v) && json_is_string(v) && proto_id_valid(json_string_value(v))) {
        snprintf(req->id, sizeof(req->id), "%s", json_string_value(v));
    } else {
        proto_new_id(req->id);
        req->id_assigned = true;
        if (v && !json_is_null(v))
            id_rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                                 "field \"id\" must be 1 to %d of letters, digits, '_', ':' and "
                                 "'-'",
                                 PROTO_ID_MAX);
    }
    v = json_object_get(root, "reply");
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || !proto_subject_valid(json_string_value(v))) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                              "field \"reply\" must be a NATS subject without wildcards");
            goto out;
        }
        req->reply = xstrdup(json_string_value(v));
    }
    if (id_rc < 0) {
        rc = id_rc;
        goto out;
    }
    rc = parse_fields(root, req, err);
out:
    json_decref(root);
    if (rc == 0 && err)
        err->code = 0;
    return rc;
}

char *proto_request_json(const struct proto_request *req)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(req->id));
    json_object_set_new(o, "prompt", json_string(req->prompt ? req->prompt : ""));
    if (req->top)
        json_object_set_new(o, "top", json_string(req->top));
    if (req->bottom)
        json_object_set_new(o, "bottom", json_string(req->bottom));
    json_object_set_new(o, "fast_mode", json_boolean(req->fast_mode));
    json_object_set_new(o, "size", json_integer(req->size));
    json_object_set_new(o, "format", json_string(req->format == IMAGE_JPEG ? "jpeg" : "png"));
    if (req->template_name[0])
        json_object_set_new(o, "template", json_string(req->template_name));
    if (req->engine[0])
        json_object_set_new(o, "engine", json_string(req->engine));
    if (req->has_seed)
        json_object_set_new(o, "seed", json_integer((json_int_t)req->seed));
    if (req->reply)
        json_object_set_new(o, "reply", json_string(req->reply));
    if (req->reply && req->progress)
        json_object_set_new(o, "progress", json_true());
    json_object_set_new(o, "v", json_integer(PROTO_VERSION));
    char *s = proto_json_dump(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static char *dump_and_free(json_t *o)
{
    char *s = proto_json_dump(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

char *proto_legacy_response_json(const char *id, const uint8_t *image, size_t len,
                                 const char *prompt, int64_t timestamp)
{
    char *b64 = proto_base64_encode(image, len);
    json_t *o = json_object();
    json_object_set_new(o, "request_id", json_string(id));
    json_object_set_new(o, "image_data", json_string(b64));
    json_object_set_new(o, "prompt", json_string(prompt ? prompt : ""));
    json_object_set_new(o, "timestamp", json_integer(timestamp));
    free(b64);
    return dump_and_free(o);
}

char *proto_error_json(const char *id, int code, const char *message, int64_t timestamp)
{
    json_t *o = json_object();
    json_object_set_new(o, "request_id", json_string(id ? id : ""));
    json_object_set_new(o, "error", json_string(message ? message : meme_code_name(code)));
    json_object_set_new(o, "code", json_string(meme_code_name(code)));
    json_object_set_new(o, "timestamp", json_integer(timestamp));
    return dump_and_free(o);
}

int proto_error_parse(const char *json, size_t len, int *code, char **message)
{
    json_error_t jerr;
    json_t *o = json_loadb(json, len, 0, &jerr);
    if (!o || !json_is_object(o)) {
        json_decref(o);
        return MEME_E_BAD_JSON;
    }
    const char *c = json_string_value(json_object_get(o, "code"));
    const char *m = json_string_value(json_object_get(o, "error"));
    *code = c ? meme_code_from_name(c) : MEME_E_INTERNAL;
    *message = xstrdup(m ? m : "unknown error");
    json_decref(o);
    return 0;
}

char *proto_base64_encode(const uint8_t *data, size_t len)
{
    size_t out_len = 4 * ((len + 2) / 3);
    char *out = xmalloc(out_len + 1);
    /* EVP_EncodeBlock takes an int length: encode in large slices. */
    size_t done = 0, pos = 0;
    const size_t slice = 3 * (1 << 20);
    while (done < len) {
        size_t n = len - done < slice ? len - done : slice;
        pos += (size_t)EVP_EncodeBlock((unsigned char *)out + pos, data + done, (int)n);
        done += n;
    }
    out[pos] = '\0';
    return out;
}

int proto_base64_decode(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4 != 0)
        return MEME_E_BAD_REQUEST;
    uint8_t *buf = xmalloc(len / 4 * 3 + 1);
    size_t done = 0, pos = 0;
    const size_t slice = 4 * (1 << 20);
    while (done < len) {
        size_t n = len - done < slice ? len - done : slice;
        int r = EVP_DecodeBlock(buf + pos, (const unsigned char *)s + done, (int)n);
        if (r < 0) {
            free(buf);
            return MEME_E_BAD_REQUEST;
        }
        pos += (size_t)r;
        done += n;
    }
    /* EVP_DecodeBlock counts padding as zero bytes. */
    if (len >= 1 && s[len - 1] == '=')
        pos--;
    if (len >= 2 && s[len - 2] == '=')
        pos--;
    *out = buf;
    *out_len = pos;
    return 0;
}

void proto_result_key(const char *id, char *out, size_t out_len)
{
    size_t o = 0;
    for (const char *p = id; *p && o + 4 < out_len; p++) {
        if (*p == ':') {
            memcpy(out + o, "=3A", 3);
            o += 3;
        } else {
            out[o++] = *p;
        }
    }
    if (out_len)
        out[o < out_len ? o : out_len - 1] = '\0';
}

static const char *const progress_states[] = {"queued", "working", "retrying"};

const char *proto_progress_state_name(enum proto_progress_state s)
{
    return (unsigned)s < 3 ? progress_states[s] : "working";
}

char *proto_progress_json(const struct proto_progress *p)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(p->id));
    json_object_set_new(o, "state", json_string(proto_progress_state_name(p->state)));
    json_object_set_new(o, "worker", json_string(p->worker));
    json_object_set_new(o, "attempt", json_integer(p->attempt));
    json_object_set_new(o, "max_attempts", json_integer(p->max_attempts));
    if (p->engine_try)
        json_object_set_new(o, "engine_try", json_integer(p->engine_try));
    if (p->code)
        json_object_set_new(o, "code", json_string(meme_code_name(p->code)));
    if (p->message[0])
        json_object_set_new(o, "message", json_string(p->message));
    json_object_set_new(o, "elapsed_ms", json_integer((json_int_t)p->elapsed_ms));
    if (p->state == PROTO_PROGRESS_RETRYING)
        json_object_set_new(o, "retry_in_ms", json_integer((json_int_t)p->retry_in_ms));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return s;
}

static void copy_str(json_t *o, const char *key, char *out, size_t outsz)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(out, outsz, "%s", v ? v : "");
}

int proto_progress_parse(const char *json, size_t len, struct proto_progress *p)
{
    memset(p, 0, sizeof(*p));
    json_error_t je;
    json_t *o = len <= PROTO_REQUEST_MAX ? json_loadb(json, len, 0, &je) : NULL;
    const char *state = json_string_value(json_object_get(o, "state"));
    int rc = MEME_E_BAD_JSON;
    for (int i = 0; state && i < 3; i++)
        if (strcmp(state, progress_states[i]) == 0) {
            p->state = (enum proto_progress_state)i;
            rc = 0;
        }
    if (rc == 0) {
        copy_str(o, "id", p->id, sizeof(p->id));
        copy_str(o, "worker", p->worker, sizeof(p->worker));
        copy_str(o, "message", p->message, sizeof(p->message));
        p->attempt = (int)json_integer_value(json_object_get(o, "attempt"));
        p->max_attempts = (int)json_integer_value(json_object_get(o, "max_attempts"));
        p->engine_try = (int)json_integer_value(json_object_get(o, "engine_try"));
        p->elapsed_ms = (int64_t)json_integer_value(json_object_get(o, "elapsed_ms"));
        p->retry_in_ms = (int64_t)json_integer_value(json_object_get(o, "retry_in_ms"));
        const char *code = json_string_value(json_object_get(o, "code"));
        p->code = code ? meme_code_from_name(code) : 0;
    }
    json_decref(o);
    return rc;
}

/* Appends s to out (at most outsz with the NUL) with control characters as spaces. */
static void append_clean(char *out, size_t outsz, const char *s)
{
    size_t n = strlen(out);
    for (; *s && n + 1 < outsz; s++)
        out[n++] = (unsigned char)*s < 0x20 || *s == 0x7f ? ' ' : *s;
    out[n] = '\0';
}

void proto_progress_text(const struct proto_progress *p, char *out, size_t outsz)
{
    char part[160];
    if (!outsz)
        return;
    out[0] = '\0';
    append_clean(out, outsz, proto_progress_state_name(p->state));
    if (p->worker[0]) {
        append_clean(out, outsz, p->state == PROTO_PROGRESS_QUEUED ? " (left " : " on ");
        append_clean(out, outsz, p->worker);
        if (p->state == PROTO_PROGRESS_QUEUED)
            append_clean(out, outsz, ")");
    }
    if (p->message[0]) {
        append_clean(out, outsz, ": ");
        append_clean(out, outsz, p->message);
    }
    if (p->state == PROTO_PROGRESS_RETRYING && p->engine_try > 0)
        snprintf(part, sizeof(part), " (try %d of attempt %d", p->engine_try + 1, p->attempt);
    else if (p->max_attempts > 0 && (p->attempt > 1 || p->state == PROTO_PROGRESS_RETRYING))
        snprintf(part, sizeof(part), " (attempt %d of %d",
                 p->attempt + (p->state == PROTO_PROGRESS_RETRYING), p->max_attempts);
    else
        part[0] = '\0';
    append_clean(out, outsz, part);
    if (part[0]) {
        if (p->state == PROTO_PROGRESS_RETRYING)
            snprintf(part, sizeof(part), ", next in %.1f s)", (double)p->retry_in_ms / 1000.0);
        else
            snprintf(part, sizeof(part), ")");
        append_clean(out, outsz, part);
    }
}
