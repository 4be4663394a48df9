/*
 * Results by id: `memectl gen --no-wait` queues a request and returns its
 * id at once, a worker started later makes the meme and stores it in the
 * results bucket (image and "<key>.meta"), and `memectl get ID -o FILE`
 * fetches it; failed requests and unknown ids give clear errors.
 */
#include "worker_common.h"

#include <jansson.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *scratch;
static struct harness_server nats;

static int setup(void **state)
{
    scratch = harness_tmpdir("wres");
    return scratch && harness_nats_start(&nats) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    harness_stop(&nats);
    free(scratch);
    nats_Close();
    return 0;
}

static int memectl(struct buf *out, struct buf *err, ...)
{
    char *env[] = {"NATS_URL", "MEMECTL_DISPLAY", NULL};
    buf_release(out);
    buf_release(err);
    va_list ap;
    va_start(ap, err);
    int rc = memectl_va(out, err, env, 30000, nats.url, ap);
    va_end(ap);
    return rc;
}

/* The id printed by gen --no-wait (first line of out), in id. */
static void first_line(const struct buf *out, char *id, size_t idsz)
{
    snprintf(id, idsz, "%.*s", (int)strcspn((const char *)out->data, "\n"),
             (const char *)out->data);
}

static void test_no_wait_then_get(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char id[128], id_bad[128];
    /* The stream exists (a worker made it and stopped), no worker runs: the
     * client queues and leaves. */
    pid_t w0 = wt_worker(nats.url, scratch, "res-w0", 1, NULL, NULL);
    assert_true(w0 > 0);
    assert_int_equal(wt_term(w0, 20000), 0);
    assert_int_equal(memectl(&out, &err, "gen", "--no-wait", "made | while you were away", NULL),
                     0);
    first_line(&out, id, sizeof(id));
    assert_true(proto_id_valid(id));
    assert_int_equal(
        memectl(&out, &err, "gen", "--no-wait", "-t", "no-such-template", "oops", NULL), 0);
    first_line(&out, id_bad, sizeof(id_bad));
    assert_true(proto_id_valid(id_bad));

    /* Nothing made yet. */
    char *path = xasprintf("%s/got.png", scratch);
    int rc = memectl(&out, &err, "get", "-o", path, id, NULL);
    assert_int_equal(rc, 1);
    assert_false(file_exists(path));

    pid_t w = wt_worker(nats.url, scratch, "res-w", 1, NULL, NULL);
    assert_true(w > 0);
    double t0 = wt_now_s();
    while ((rc = memectl(&out, &err, "get", "-o", path, id, NULL)) != 0 && wt_now_s() - t0 < 20)
        wt_sleep_ms(200);
    printf("figures: results: fetched by id %.2f s after the worker started\n", wt_now_s() - t0);
    assert_int_equal(rc, 0);
    struct meme_image *img = load_image(path);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    assert_int_equal(img->height, 512);
    image_free(img);

    /* --json and stdout. */
    assert_int_equal(memectl(&out, &err, "get", "--json", "-o", "-", id, NULL), 0);
    assert_int_equal(image_sniff(out.data, out.len), IMAGE_PNG);
    char *jpath = xasprintf("%s/j.png", scratch);
    assert_int_equal(memectl(&out, &err, "get", "--json", "-o", jpath, id, NULL), 0);
    json_error_t je;
    json_t *j = json_loads((const char *)out.data, 0, &je);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "content_type")), "image/png");
    assert_int_equal(json_integer_value(json_object_get(j, "width")), 512);
    assert_string_equal(json_string_value(json_object_get(j, "engine")), "local");
    assert_string_equal(json_string_value(json_object_get(j, "worker")), "res-w");
    json_decref(j);

    /* The meta key as the gateway reads it. */
    struct tally t;
    kvStore *kv = NULL;
    struct results_meta meta;
    assert_int_equal(tally_open(&t, nats.url, "t.res"), 0);
    assert_int_equal(results_open(t.js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, NULL), 0);
    assert_int_equal(results_get_meta(kv, id, &meta, NULL), 0);
    assert_true(meta.ok);
    assert_int_equal(meta.height, 512);
    assert_true(meta.bytes > 1000);
    assert_true(meta.created > 1700000000);

    /* The failed request is stored as such. */
    assert_int_equal(results_get_meta(kv, id_bad, &meta, NULL), 0);
    assert_false(meta.ok);
    assert_string_equal(meta.code, "unknown_template");
    assert_int_equal(memectl(&out, &err, "get", id_bad, NULL), 1);
    assert_non_null(strstr((char *)err.data, "unknown_template"));

    /* An id with ':' is stored under its escaped key. */
    assert_int_equal(tally_publish_prompt(&t, "urn:meme", 1, "colons | in ids", ""), 0);
    assert_int_equal(tally_wait(&t, NULL, 1, 1, 20000), 1);
    assert_int_equal(results_get_meta(kv, "urn:meme-1", &meta, NULL), 0);
    assert_true(meta.ok);
    kvStore_Destroy(kv);
    tally_close(&t);

    /* Unknown ids and bad ids. */
    assert_int_equal(memectl(&out, &err, "get", "no-such-id", NULL), 1);
    assert_non_null(strstr((char *)err.data, "no result for id \"no-such-id\""));
    assert_int_equal(memectl(&out, &err, "get", "bad id\033[2J", NULL), 2);
    assert_null(strchr((char *)err.data, '\033'));
    assert_int_equal(memectl(&out, &err, "get", NULL), 2);

    assert_int_equal(wt_term(w, 20000), 0);
    free(path);
    free(jpath);
    buf_release(&out);
    buf_release(&err);
}

static void test_get_without_bucket(void **state)
{
    struct harness_server bare;
    assert_int_equal(harness_nats_start(&bare), 0);
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = harness_bin("memectl");
    char *argv[] = {bin, "-s", bare.url, "get", "abc", NULL};
    assert_int_equal(harness_run(argv, NULL, &out, &err, 30000), 1);
    buf_putc(&err, '\0');
    assert_non_null(strstr((char *)err.data, "no results bucket"));
    free(bin);
    buf_release(&out);
    buf_release(&err);
    harness_stop(&bare);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_wait_then_get),
        cmocka_unit_test(test_get_without_bucket),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
