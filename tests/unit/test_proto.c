/*
 * Protocol v1: the request parser in both of the original design's
 * spellings and memectl's own, every rejection with its stable code, the
 * reply encodings, and a check that docs/protocol.md lists exactly the codes
 * and limits the code uses.
 */
#include "err.h"
#include "mq/mq.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int parse(const char *json, struct proto_request *req, struct meme_err *err)
{
    return proto_request_parse(json, strlen(json), req, err);
}

static void test_guide_spelling(void **state)
{
    struct proto_request r;
    struct meme_err e = {0};
    assert_int_equal(parse("{\"prompt\":\"Test meme 1\",\"fastMode\":true}", &r, &e), 0);
    assert_string_equal(r.prompt, "Test meme 1");
    assert_true(r.fast_mode);
    assert_true(r.id_assigned);
    assert_int_equal(strlen(r.id), 36);
    assert_int_equal(r.id[14], '4'); /* UUID v4 */
    assert_int_equal(r.size, 512);
    assert_int_equal(r.format, IMAGE_PNG);
    assert_null(r.reply);
    proto_request_release(&r);
}

static void test_frontend_spelling(void **state)
{
    struct proto_request r;
    assert_int_equal(parse("{\"id\":\"abc-123\",\"prompt\":\"p\",\"fast_mode\":false,"
                           "\"small_image\":false}",
                           &r, NULL),
                     0);
    assert_string_equal(r.id, "abc-123");
    assert_false(r.id_assigned);
    assert_false(r.fast_mode);
    assert_int_equal(r.size, 1024); /* small_image false: the original's 1024 */
    proto_request_release(&r);
    assert_int_equal(parse("{\"prompt\":\"p\",\"smallImage\":true}", &r, NULL), 0);
    assert_int_equal(r.size, 512);
    proto_request_release(&r);
}

static void test_memectl_fields(void **state)
{
    struct proto_request r;
    assert_int_equal(parse("{\"id\":\"x\",\"prompt\":\"\",\"top\":\"a\",\"bottom\":\"b\","
                           "\"template\":\"advice-wheel\",\"engine\":\"local\",\"size\":300,"
                           "\"format\":\"jpeg\",\"seed\":7,\"reply\":\"_INBOX.abc\","
                           "\"unknown_future_field\":[1,2]}",
                           &r, NULL),
                     0);
    assert_string_equal(r.top, "a");
    assert_string_equal(r.bottom, "b");
    assert_string_equal(r.template_name, "advice-wheel");
    assert_string_equal(r.engine, "local");
    assert_int_equal(r.size, 300);
    assert_int_equal(r.format, IMAGE_JPEG);
    assert_true(r.has_seed);
    assert_int_equal(r.seed, 7);
    assert_string_equal(r.reply, "_INBOX.abc");
    /* Round trip through what memectl sends. */
    char *json = proto_request_json(&r);
    struct proto_request r2;
    assert_int_equal(parse(json, &r2, NULL), 0);
    assert_string_equal(r2.id, "x");
    assert_string_equal(r2.top, "a");
    assert_int_equal(r2.size, 300);
    assert_int_equal(r2.format, IMAGE_JPEG);
    assert_string_equal(r2.reply, "_INBOX.abc");
    free(json);
    proto_request_release(&r);
    proto_request_release(&r2);
}

struct bad_case {
    const char *json;
    int code;
    const char *keeps_id;
};

static void test_rejections(void **state)
{
    static char too_long[PROTO_PROMPT_MAX + 64];
    int n = snprintf(too_long, 64, "{\"id\":\"t\",\"prompt\":\"");
    memset(too_long + n, 'a', PROTO_PROMPT_MAX + 1);
    strcpy(too_long + n + PROTO_PROMPT_MAX + 1, "\"}");
    const struct bad_case cases[] = {
        {"", MEME_E_BAD_JSON, NULL},
        {"{", MEME_E_BAD_JSON, NULL},
        {"[1,2]", MEME_E_BAD_JSON, NULL},
        {"\"prompt\"", MEME_E_BAD_JSON, NULL},
        {"{\"id\":\"a\"}", MEME_E_MISSING_PROMPT, "a"},
        {"{\"id\":\"a\",\"prompt\":null}", MEME_E_MISSING_PROMPT, "a"},
        {"{\"id\":\"a\",\"prompt\":42}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"fast_mode\":\"yes\"}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"size\":10}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"size\":5000}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"format\":\"gif\"}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"template\":\"../etc\"}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"reply\":\"bad subject\"}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"reply\":\"meme.>\"}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"seed\":-1}", MEME_E_BAD_REQUEST, "a"},
        {"{\"id\":\"has space\",\"prompt\":\"x\"}", MEME_E_BAD_REQUEST, NULL},
        {"{\"id\":\"a\",\"prompt\":\"a\\u0000b\"}", MEME_E_BAD_JSON, NULL},
        {"{\"id\":\"a\",\"prompt\":\"x\",\"prompt\":\"y\"}", MEME_E_BAD_JSON, NULL},
        {"{\"prompt\":\"\xc3\x28\"}", MEME_E_INVALID_UTF8, NULL},
        {"{\"prompt\":\"\xed\xa0\x80\"}", MEME_E_INVALID_UTF8, NULL},
        {too_long, MEME_E_PROMPT_TOO_LONG, "t"},
        /* Nothing to draw: empty, only spaces, only the '|' that splits. */
        {"{\"id\":\"b\",\"prompt\":\"\"}", MEME_E_MISSING_PROMPT, "b"},
        {"{\"id\":\"b\",\"prompt\":\"   \"}", MEME_E_MISSING_PROMPT, "b"},
        {"{\"id\":\"b\",\"prompt\":\" | \"}", MEME_E_MISSING_PROMPT, "b"},
        {"{\"id\":\"b\",\"prompt\":\"||\\t|\\n\"}", MEME_E_MISSING_PROMPT, "b"},
        {"{\"id\":\"b\",\"prompt\":\"\xe3\x80\x80|\xc2\xa0\"}", MEME_E_MISSING_PROMPT, "b"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct proto_request r;
        struct meme_err e = {0};
        int rc = parse(cases[i].json, &r, &e);
        if (rc != cases[i].code)
            fprintf(stderr, "case %zu: got %d (%s) want %d\n", i, rc, e.msg, cases[i].code);
        assert_int_equal(rc, cases[i].code);
        assert_int_equal(e.code, cases[i].code);
        assert_true(strlen(e.msg) > 0);
        if (cases[i].keeps_id)
            assert_string_equal(r.id, cases[i].keeps_id);
        proto_request_release(&r);
    }
}

/* One visible character in the prompt is enough; explicit captions are
 * taken as they are. */
static void test_almost_blank_is_accepted(void **state)
{
    const char *ok[] = {
        "{\"prompt\":\"| x\"}",
        "{\"prompt\":\".\"}",
        "{\"prompt\":\"\",\"bottom\":\"x\"}",
        "{\"prompt\":\"\xf0\x9f\x8e\x89\"}",
        /* Explicit empty captions ask for the background alone. */
        "{\"prompt\":\"\",\"top\":\" \",\"bottom\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        struct proto_request r;
        struct meme_err e = {0};
        assert_int_equal(parse(ok[i], &r, &e), 0);
        proto_request_release(&r);
    }
}

static void test_request_size_limit(void **state)
{
    size_t n = PROTO_REQUEST_MAX + 10;
    char *big = xmalloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    struct proto_request r;
    struct meme_err e = {0};
    assert_int_equal(proto_request_parse(big, n, &r, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "limit"));
    proto_request_release(&r);
    free(big);
}

static void test_reply_keeps_subject_for_errors(void **state)
{
    struct proto_request r;
    assert_int_equal(parse("{\"id\":\"k\",\"reply\":\"_INBOX.x\",\"size\":1}", &r, NULL),
                     MEME_E_MISSING_PROMPT);
    assert_string_equal(r.reply, "_INBOX.x");
    proto_request_release(&r);
}

static void test_utf8(void **state)
{
    assert_true(proto_utf8_valid("plain", 5));
    assert_true(proto_utf8_valid("caf\xc3\xa9 \xf0\x9f\x98\x80", 10));
    assert_false(proto_utf8_valid("\xc3", 1));
    assert_false(proto_utf8_valid("\xc0\xaf", 2));         /* overlong */
    assert_false(proto_utf8_valid("\xe0\x80\xaf", 3));     /* overlong */
    assert_false(proto_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
    assert_false(proto_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    assert_false(proto_utf8_valid("\xff", 1));
}

static void test_ids_and_subjects(void **state)
{
    char a[37], b[37];
    proto_new_id(a);
    proto_new_id(b);
    assert_string_not_equal(a, b);
    assert_true(proto_id_valid(a));
    assert_false(proto_id_valid(""));
    assert_false(proto_id_valid("a b"));
    assert_true(proto_subject_valid("_INBOX.abc.def"));
    assert_false(proto_subject_valid("a..b"));
    assert_false(proto_subject_valid(".a"));
    assert_false(proto_subject_valid("a.*"));
    assert_false(proto_subject_valid("a\tb"));
    /* No '.' in ids: no id is another id's meta key. */
    assert_true(proto_id_valid("urn:meme-1_x"));
    assert_false(proto_id_valid("x.meta"));
    assert_false(proto_id_valid("a*"));
    assert_false(proto_id_valid("a>"));
    assert_false(proto_id_valid("a=3A"));
    assert_false(proto_id_valid("caf\xc3\xa9"));
}

/* Replies only to inboxes: the worker is nobody's deputy. */
static void test_reply_subjects(void **state)
{
    assert_true(proto_reply_allowed("_INBOX.abc", NULL));
    assert_true(proto_reply_allowed("_INBOX.abc.1", ""));
    assert_false(proto_reply_allowed("_INBOX.", NULL));
    assert_false(proto_reply_allowed("_INBOX", NULL));
    assert_false(proto_reply_allowed("$JS.API.STREAM.PURGE.MEMES", NULL));
    assert_false(proto_reply_allowed("$KV.meme-results.x", NULL));
    assert_false(proto_reply_allowed("$O.bucket.x", NULL));
    assert_false(proto_reply_allowed("$SYS.REQ.SERVER.PING", NULL));
    assert_false(proto_reply_allowed("meme.request", NULL));
    assert_false(proto_reply_allowed("meme.response", NULL));
    assert_false(proto_reply_allowed("_INBOX.a.*", NULL));
    assert_false(proto_reply_allowed("x_INBOX.a", NULL));
    assert_true(proto_reply_allowed("acme.inbox.1", "acme.inbox."));
    assert_false(proto_reply_allowed("acme.inbox.", "acme.inbox."));
    assert_false(proto_reply_allowed("acme.inboxx.1", "acme.inbox."));
    assert_false(proto_reply_allowed("$JS.API.INFO", "acme.inbox."));
    assert_true(proto_reply_prefix_valid("acme.inbox."));
    assert_true(proto_reply_prefix_valid("x."));
    assert_false(proto_reply_prefix_valid("acme.inbox"));
    assert_false(proto_reply_prefix_valid("$JS."));
    assert_false(proto_reply_prefix_valid("meme."));
    assert_false(proto_reply_prefix_valid("meme.response."));
    assert_false(proto_reply_prefix_valid("a.*."));
    assert_false(proto_reply_prefix_valid("."));
    assert_false(proto_reply_prefix_valid(""));
    assert_false(proto_reply_prefix_valid(NULL));
}

/* Every JSON out is ASCII: C0, DEL and C1 escaped, other text too. */
static void test_json_escapes_controls(void **state)
{
    char *s = proto_error_json("id-1", MEME_E_BAD_JSON,
                               "near '\x1b[2J' \xc2\x9b del \x7f caf\xc3\xa9", 1700000000);
    for (const char *p = s; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    assert_non_null(strstr(s, "\\u001B"));
    assert_non_null(strstr(s, "\\u009B"));
    assert_non_null(strstr(s, "\\u007F"));
    assert_non_null(strstr(s, "\\u00E9"));
    int code = 0;
    char *msg = NULL;
    assert_int_equal(proto_error_parse(s, strlen(s), &code, &msg), 0);
    assert_string_equal(msg, "near '\x1b[2J' \xc2\x9b del \x7f caf\xc3\xa9");
    free(msg);
    free(s);
}

/* The storage budget: shares of the store that fit together. */
static void test_store_budget(void **state)
{
    struct mq_budget b;
    mq_budget_for(64LL << 20, &b);
    assert_int_equal(b.queue_bytes, 8LL << 20);
    assert_int_equal(b.results_bytes, 40LL << 20);
    mq_budget_for(MQ_STORE_ASSUMED, &b);
    assert_int_equal(b.queue_bytes, MQ_QUEUE_BYTES_MAX);
    assert_int_equal(b.results_bytes, (4LL << 30) / 8 * 5);
    assert_true(b.queue_bytes + b.results_bytes <= b.store);
    mq_budget_for(1, &b);
    assert_int_equal(b.store, MQ_STORE_MIN);
    assert_int_equal(b.queue_msgs, MQ_QUEUE_MSGS_MAX);
}

static void test_legacy_and_error_json(void **state)
{
    const uint8_t img[] = {0x89, 'P', 'N', 'G', 0, 1, 2, 255};
    char *s = proto_legacy_response_json("id-1", img, sizeof(img), "hi", 1700000000);
    json_error_t je;
    json_t *j = json_loads(s, 0, &je);
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 4);
    assert_string_equal(json_string_value(json_object_get(j, "request_id")), "id-1");
    assert_string_equal(json_string_value(json_object_get(j, "prompt")), "hi");
    assert_int_equal(json_integer_value(json_object_get(j, "timestamp")), 1700000000);
    const char *b64 = json_string_value(json_object_get(j, "image_data"));
    uint8_t *raw;
    size_t len;
    assert_int_equal(proto_base64_decode(b64, strlen(b64), &raw, &len), 0);
    assert_int_equal(len, sizeof(img));
    assert_memory_equal(raw, img, len);
    free(raw);
    json_decref(j);
    free(s);

    s = proto_error_json("id-2", MEME_E_PROMPT_TOO_LONG, "too long", 5);
    int code;
    char *msg;
    assert_int_equal(proto_error_parse(s, strlen(s), &code, &msg), 0);
    assert_int_equal(code, MEME_E_PROMPT_TOO_LONG);
    assert_string_equal(msg, "too long");
    assert_non_null(strstr(s, "\"code\":\"prompt_too_long\""));
    free(msg);
    free(s);
}

static void test_base64_lengths(void **state)
{
    for (size_t n = 0; n < 70; n++) {
        uint8_t in[70];
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 37 + 11);
        char *b = proto_base64_encode(in, n);
        assert_int_equal(strlen(b), 4 * ((n + 2) / 3));
        uint8_t *out;
        size_t len;
        assert_int_equal(proto_base64_decode(b, strlen(b), &out, &len), 0);
        assert_int_equal(len, n);
        if (n)
            assert_memory_equal(out, in, n);
        free(out);
        free(b);
    }
    uint8_t *out;
    size_t len;
    assert_int_not_equal(proto_base64_decode("abc", 3, &out, &len), 0);
}

static char *read_doc(void)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    char *path = xasprintf("%s/docs/protocol.md", root && *root ? root : ".");
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return NULL;
    struct {
        char *p;
        size_t n;
    } b = {NULL, 0};
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        b.p = xrealloc(b.p, b.n + got + 1);
        memcpy(b.p + b.n, chunk, got);
        b.n += got;
        b.p[b.n] = '\0';
    }
    fclose(f);
    return b.p;
}

/* docs/protocol.md is the contract: every code, limit and header the code
 * uses is written there, and the doc names no code the code lacks. */
static void test_doc_matches_code(void **state)
{
    char *doc = read_doc();
    assert_non_null(doc);
    for (int c = 0; c > -MEME_CODE_COUNT; c--) {
        char want[64];
        snprintf(want, sizeof(want), "| `%s` |", meme_code_name(c));
        if (c != 0 && !strstr(doc, want))
            fail_msg("docs/protocol.md does not list error code %s", meme_code_name(c));
    }
    /* Every row of the code table (between the markers) is a real code. */
    const char *start = strstr(doc, "<!-- codes -->"), *stop = strstr(doc, "<!-- /codes -->");
    assert_non_null(start);
    assert_non_null(stop);
    int rows = 0;
    for (const char *p = start; (p = strstr(p, "\n| `")) != NULL && p < stop; rows++) {
        p += 4;
        const char *end = strchr(p, '`');
        assert_non_null(end);
        char name[64];
        snprintf(name, sizeof(name), "%.*s", (int)(end - p), p);
        if (strcmp(name, "internal") != 0 && meme_code_from_name(name) == MEME_E_INTERNAL)
            fail_msg("docs/protocol.md lists unknown code %s", name);
    }
    assert_int_equal(rows, MEME_CODE_COUNT - 1);
    char lim[64];
    snprintf(lim, sizeof(lim), "%d bytes", PROTO_PROMPT_MAX);
    assert_non_null(strstr(doc, lim));
    snprintf(lim, sizeof(lim), "%d bytes", PROTO_REQUEST_MAX);
    assert_non_null(strstr(doc, lim));
    const char *headers[] = {
        PROTO_H_VERSION,    PROTO_H_STATUS, PROTO_H_ID,       PROTO_H_CONTENT_TYPE,
        PROTO_H_WIDTH,      PROTO_H_HEIGHT, PROTO_H_ENGINE,   PROTO_H_TEMPLATE,
        PROTO_H_CACHE,      PROTO_H_WORKER, PROTO_H_QUEUE_MS, PROTO_H_GEN_MS,
        PROTO_H_ERROR_CODE, PROTO_H_MSG_ID, PROTO_H_PROGRESS, PROTO_H_ATTEMPT};
    for (size_t i = 0; i < sizeof(headers) / sizeof(headers[0]); i++) {
        char want[64];
        snprintf(want, sizeof(want), "`%s`", headers[i]);
        if (!strstr(doc, want))
            fail_msg("docs/protocol.md does not describe header %s", headers[i]);
    }
    char ver[32];
    snprintf(ver, sizeof(ver), "Version %d", PROTO_VERSION);
    assert_non_null(strstr(doc, ver));
    free(doc);
}

/* Progress: asked for with "progress", sent as JSON, read back, and shown
 * as one line without control characters. */
static void test_progress(void **state)
{
    struct proto_request req;
    const char *j = "{\"prompt\":\"x\",\"reply\":\"_INBOX.a\",\"progress\":true}";
    assert_int_equal(proto_request_parse(j, strlen(j), &req, NULL), 0);
    assert_true(req.progress);
    char *out = proto_request_json(&req);
    assert_non_null(strstr(out, "\"progress\":true"));
    free(out);
    proto_request_release(&req);
    j = "{\"prompt\":\"x\",\"progress\":\"yes\"}";
    assert_int_equal(proto_request_parse(j, strlen(j), &req, NULL), MEME_E_BAD_REQUEST);
    proto_request_release(&req);
    j = "{\"prompt\":\"x\"}";
    assert_int_equal(proto_request_parse(j, strlen(j), &req, NULL), 0);
    assert_false(req.progress);
    out = proto_request_json(&req);
    assert_null(strstr(out, "progress"));
    free(out);
    proto_request_release(&req);

    struct proto_progress p = {.state = PROTO_PROGRESS_RETRYING,
                               .attempt = 1,
                               .max_attempts = 5,
                               .engine_try = 2,
                               .code = MEME_E_UNREACHABLE,
                               .elapsed_ms = 1520,
                               .retry_in_ms = 1000};
    snprintf(p.id, sizeof(p.id), "abc");
    snprintf(p.worker, sizeof(p.worker), "local-1");
    snprintf(p.message, sizeof(p.message), "no \033[31mconnection\r\n");
    char *json = proto_progress_json(&p);
    struct proto_progress q;
    assert_int_equal(proto_progress_parse(json, strlen(json), &q), 0);
    free(json);
    assert_int_equal(q.state, PROTO_PROGRESS_RETRYING);
    assert_string_equal(q.id, "abc");
    assert_string_equal(q.worker, "local-1");
    assert_int_equal(q.engine_try, 2);
    assert_int_equal(q.code, MEME_E_UNREACHABLE);
    assert_int_equal(q.retry_in_ms, 1000);
    char text[256];
    proto_progress_text(&q, text, sizeof(text));
    for (const char *c = text; *c; c++)
        assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
    assert_non_null(strstr(text, "retrying on local-1"));
    assert_non_null(strstr(text, "try 3 of attempt 1, next in 1.0 s"));
    const char *bad = "{\"state\":\"exploding\"}";
    assert_int_equal(proto_progress_parse(bad, strlen(bad), &q), MEME_E_BAD_JSON);
    assert_int_equal(proto_progress_parse("[", 1, &q), MEME_E_BAD_JSON);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_spelling),
        cmocka_unit_test(test_frontend_spelling),
        cmocka_unit_test(test_memectl_fields),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_almost_blank_is_accepted),
        cmocka_unit_test(test_request_size_limit),
        cmocka_unit_test(test_reply_keeps_subject_for_errors),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_ids_and_subjects),
        cmocka_unit_test(test_reply_subjects),
        cmocka_unit_test(test_json_escapes_controls),
        cmocka_unit_test(test_store_budget),
        cmocka_unit_test(test_legacy_and_error_json),
        cmocka_unit_test(test_base64_lengths),
        cmocka_unit_test(test_doc_matches_code),
        cmocka_unit_test(test_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
