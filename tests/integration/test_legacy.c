/*
 * Compatibility with the original design's clients: requests published
 * with a plain NATS client (nats.c directly, as `nats pub` does, no memectl
 * code) in both spellings are answered on meme.response as
 * {"request_id","image_data","prompt","timestamp"}; bad requests get
 * meme.response.error and are terminated, not redelivered.
 */
#include "common.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <time.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1;
static natsConnection *nc;
static natsSubscription *responses, *errors;

static int setup(void **state)
{
    scratch = harness_tmpdir("legacy");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    worker = start_worker(nats.url, scratch, "legacy-worker");
    if (worker <= 0)
        return -1;
    if (natsConnection_ConnectTo(&nc, nats.url) != NATS_OK)
        return -1;
    if (natsConnection_SubscribeSync(&responses, nc, "meme.response") != NATS_OK ||
        natsConnection_SubscribeSync(&errors, nc, "meme.response.error") != NATS_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    natsSubscription_Destroy(responses);
    natsSubscription_Destroy(errors);
    natsConnection_Destroy(nc);
    harness_kill(worker, 5000);
    harness_stop(&nats);
    free(scratch);
    nats_Close();
    return 0;
}

static json_t *next_json(natsSubscription *sub, int64_t timeout_ms)
{
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, sub, timeout_ms) != NATS_OK)
        return NULL;
    json_error_t e;
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &e);
    natsMsg_Destroy(m);
    return j;
}

static struct meme_image *decode_b64_image(const char *b64)
{
    size_t len = strlen(b64);
    unsigned char *raw = xmalloc(len);
    int n = EVP_DecodeBlock(raw, (const unsigned char *)b64, (int)len);
    assert_true(n > 0);
    while (len && b64[len - 1] == '=') {
        n--;
        len--;
    }
    struct meme_err err = {0};
    struct meme_image *img = image_decode(raw, (size_t)n, &err);
    free(raw);
    return img;
}

static void check_response(json_t *j, const char *want_id, const char *prompt, int size)
{
    assert_non_null(j);
    const char *id = json_string_value(json_object_get(j, "request_id"));
    assert_non_null(id);
    if (want_id)
        assert_string_equal(id, want_id);
    else
        assert_int_equal(strlen(id), 36); /* a UUID the worker assigned */
    assert_string_equal(json_string_value(json_object_get(j, "prompt")), prompt);
    json_int_t ts = json_integer_value(json_object_get(j, "timestamp"));
    assert_true(llabs((long long)(ts - time(NULL))) < 60);
    /* Exactly the original's four fields. */
    assert_int_equal(json_object_size(j), 4);
    struct meme_image *img = decode_b64_image(json_string_value(json_object_get(j, "image_data")));
    assert_non_null(img);
    assert_int_equal(img->width, size);
    assert_int_equal(img->height, size);
    image_free(img);
}

static void test_guide_spelling(void **state)
{
    /* The guide's `nats pub meme.request '{"prompt":"Test meme 1","fastMode":true}'`. */
    const char *req = "{\"prompt\":\"Test meme 1\",\"fastMode\":true}";
    assert_int_equal(natsConnection_PublishString(nc, "meme.request", req), NATS_OK);
    json_t *j = next_json(responses, 20000);
    check_response(j, NULL, "Test meme 1", 512);
    json_decref(j);
}

static void test_frontend_spelling(void **state)
{
    const char *req = "{\"id\":\"5b0e5f47-8d4c-4d5e-9a7c-1f2e3d4c5b6a\",\"prompt\":\"front "
                      "end meme\",\"fast_mode\":false,\"small_image\":false}";
    assert_int_equal(natsConnection_PublishString(nc, "meme.request", req), NATS_OK);
    json_t *j = next_json(responses, 20000);
    check_response(j, "5b0e5f47-8d4c-4d5e-9a7c-1f2e3d4c5b6a", "front end meme", 1024);
    json_decref(j);
}

static void test_subject_below_request(void **state)
{
    /* The original stream captured meme.request.>; those subjects still work. */
    const char *req = "{\"id\":\"sub-1\",\"prompt\":\"deeper\",\"small_image\":true}";
    assert_int_equal(natsConnection_PublishString(nc, "meme.request.web", req), NATS_OK);
    json_t *j = next_json(responses, 20000);
    check_response(j, "sub-1", "deeper", 512);
    json_decref(j);
}

struct drained {
    const char *url;
};

static bool queue_empty(void *arg)
{
    struct drained *d = arg;
    struct mq_conn mq;
    struct mq_depth dep;
    struct mq_connect_opts co = {.url = d->url, .name = "test"};
    bool ok = mq_connect(&mq, &co, NULL) == 0 &&
              mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &dep, NULL) == 0 && dep.lag == 0;
    mq_close(&mq);
    return ok;
}

static void expect_error(const char *payload, const char *code, const char *want_id)
{
    assert_int_equal(natsConnection_Publish(nc, "meme.request", payload, (int)strlen(payload)),
                     NATS_OK);
    json_t *j = next_json(errors, 20000);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    const char *msg = json_string_value(json_object_get(j, "error"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 10);
    if (want_id)
        assert_string_equal(json_string_value(json_object_get(j, "request_id")), want_id);
    assert_true(json_is_integer(json_object_get(j, "timestamp")));
    json_decref(j);
}

static void test_bad_requests_are_answered_and_terminated(void **state)
{
    expect_error("{not json", "bad_json", NULL);
    expect_error("{\"id\":\"e-1\",\"prompt\":42}", "bad_request", "e-1");
    expect_error("{\"id\":\"e-2\",\"fast_mode\":true}", "missing_prompt", "e-2");
    char *big = xmalloc(PROTO_PROMPT_MAX + 64);
    int n = snprintf(big, 64, "{\"id\":\"e-3\",\"prompt\":\"");
    memset(big + n, 'x', PROTO_PROMPT_MAX + 1);
    strcpy(big + n + PROTO_PROMPT_MAX + 1, "\"}");
    expect_error(big, "prompt_too_long", "e-3");
    free(big);
    expect_error("{\"id\":\"e-4\",\"prompt\":\"\xff\xfe\"}", "invalid_utf8", NULL);
    /* Terminated, not left for redelivery: the queue drains to zero. */
    struct drained d = {nats.url};
    assert_true(harness_wait_for(queue_empty, &d, 5000));
    /* And nothing is redelivered as a second error later. */
    natsMsg *m = NULL;
    assert_int_equal(natsSubscription_NextMsg(&m, errors, 1500), NATS_TIMEOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_guide_spelling),
        cmocka_unit_test(test_frontend_spelling),
        cmocka_unit_test(test_subject_below_request),
        cmocka_unit_test(test_bad_requests_are_answered_and_terminated),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
