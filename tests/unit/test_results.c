/*
 * lib/mq/results without a server: the metadata JSON that meme-gateway and
 * memectl get read, both ways, for a meme and for a failed request, and
 * what happens with JSON that is not ours. The bucket itself is exercised
 * against nats-server in tests/integration/test_worker_results.c.
 */
#include "mq/results.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static void test_ok_meta_round_trip(void **state)
{
    struct results_meta m, back;
    memset(&m, 0, sizeof(m));
    m.ok = true;
    strcpy(m.content_type, "image/png");
    m.width = 512;
    m.height = 256;
    m.bytes = 84211;
    strcpy(m.template_name, "advice-wheel");
    strcpy(m.engine, "local");
    strcpy(m.worker, "w-1");
    m.created = 1700000000;
    strcpy(m.prompt, "one does not simply | \xe6\x97\xa5\xe6\x9c\xac");
    m.queue_ms = 3;
    m.gen_ms = 7.9;
    char *json = results_meta_json(&m);
    /* ASCII JSON (docs/protocol.md): the prompt's characters as escapes,
     * back as they were once parsed. */
    assert_string_equal(json, "{\"status\":\"ok\",\"content_type\":\"image/png\",\"width\":512,"
                              "\"height\":256,\"bytes\":84211,\"template\":\"advice-wheel\","
                              "\"engine\":\"local\",\"worker\":\"w-1\",\"created\":1700000000,"
                              "\"prompt\":\"one does not simply | \\u65E5\\u672C\","
                              "\"queue_ms\":3,\"gen_ms\":7.9}");
    assert_int_equal(results_meta_parse(json, strlen(json), &back, NULL), 0);
    assert_true(back.ok);
    assert_string_equal(back.content_type, "image/png");
    assert_int_equal(back.width, 512);
    assert_int_equal(back.height, 256);
    assert_int_equal(back.bytes, 84211);
    assert_string_equal(back.template_name, "advice-wheel");
    assert_int_equal(back.created, 1700000000);
    assert_string_equal(back.prompt, m.prompt);
    assert_int_equal(back.queue_ms, 3);
    assert_true(back.gen_ms > 7.89 && back.gen_ms < 7.91);
    free(json);
}

/* Results stored before prompts were kept: no prompt, timings unknown. */
static void test_meta_without_prompt(void **state)
{
    struct results_meta back;
    const char *old = "{\"status\":\"ok\",\"content_type\":\"image/png\",\"width\":512}";
    assert_int_equal(results_meta_parse(old, strlen(old), &back, NULL), 0);
    assert_string_equal(back.prompt, "");
    assert_int_equal(back.queue_ms, -1);
    assert_true(back.gen_ms < 0);
    /* A prompt over the protocol's limit is dropped, not cut. */
    static char bad[PROTO_PROMPT_MAX + 64];
    int n = snprintf(bad, sizeof(bad), "{\"status\":\"ok\",\"prompt\":\"");
    memset(bad + n, 'a', PROTO_PROMPT_MAX + 1);
    strcpy(bad + n + PROTO_PROMPT_MAX + 1, "\"}");
    assert_int_equal(results_meta_parse(bad, strlen(bad), &back, NULL), 0);
    assert_string_equal(back.prompt, "");
}

/* A claim names the request that owns the id; so does the finished result. */
static void test_pending_claim_round_trip(void **state)
{
    struct results_meta m, back;
    char owner[RESULTS_OWNER_MAX];
    results_owner("MEMES", 42, 1700000000123456789LL, owner);
    assert_string_equal(owner, "MEMES/42/1700000000123456789");
    memset(&m, 0, sizeof(m));
    m.pending = true;
    m.created = 1700000000;
    m.queue_ms = -1;
    m.gen_ms = -1;
    m.attempt = 2;
    strcpy(m.request, owner);
    char *json = results_meta_json(&m);
    assert_non_null(strstr(json, "\"status\":\"pending\""));
    assert_non_null(strstr(json, "\"request\":\"MEMES/42/1700000000123456789\""));
    assert_null(strstr(json, "content_type"));
    assert_int_equal(results_meta_parse(json, strlen(json), &back, NULL), 0);
    assert_true(back.pending);
    assert_false(back.ok);
    assert_string_equal(back.request, owner);
    assert_int_equal(back.attempt, 2);
    free(json);
    /* Another message, another owner. */
    char other[RESULTS_OWNER_MAX];
    results_owner("MEMES", 43, 1700000000123456789LL, other);
    assert_string_not_equal(owner, other);
}

static void test_error_meta_round_trip(void **state)
{
    struct results_meta m, back;
    memset(&m, 0, sizeof(m));
    strcpy(m.code, "unknown_template");
    strcpy(m.message, "no template \"x\" (\"quotes\" and \\ kept)");
    strcpy(m.engine, "local");
    char *json = results_meta_json(&m);
    assert_non_null(strstr(json, "\"status\":\"error\""));
    assert_null(strstr(json, "content_type"));
    assert_int_equal(results_meta_parse(json, strlen(json), &back, NULL), 0);
    assert_false(back.ok);
    assert_string_equal(back.code, "unknown_template");
    assert_string_equal(back.message, m.message);
    free(json);
}

static void test_not_our_json(void **state)
{
    struct results_meta back;
    struct meme_err err = {0};
    assert_int_equal(results_meta_parse("[1,2]", 5, &back, &err), MEME_E_BAD_JSON);
    assert_int_equal(results_meta_parse("{\"status\":", 10, &back, &err), MEME_E_BAD_JSON);
    /* Unknown status or wrong types: not ok, fields empty, no crash. */
    const char *odd = "{\"status\":\"maybe\",\"width\":\"wide\",\"template\":7}";
    assert_int_equal(results_meta_parse(odd, strlen(odd), &back, &err), 0);
    assert_false(back.ok);
    assert_int_equal(back.width, 0);
    assert_string_equal(back.template_name, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_meta_round_trip),
        cmocka_unit_test(test_meta_without_prompt),
        cmocka_unit_test(test_error_meta_round_trip),
        cmocka_unit_test(test_pending_claim_round_trip),
        cmocka_unit_test(test_not_our_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
