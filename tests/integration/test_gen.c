/*
 * memectl gen against a real nats-server -js and a real meme-worker: the
 * image that comes back is decoded and checked (size, colours, caption
 * pixels where the captions are), and each failure a user can meet gives
 * its documented message and exit code.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1;

static int setup(void **state)
{
    scratch = harness_tmpdir("gen");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    worker = start_worker(nats.url, scratch, "w1");
    return worker > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    harness_kill(worker, 5000);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

/* Runs memectl with the given arguments against the test server. */
static int memectl(struct buf *out, struct buf *err, int timeout_ms, ...)
{
    char *env[] = {"NATS_URL", "MEMECTL_DISPLAY", NULL};
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = memectl_va(out, err, env, timeout_ms, NULL, ap);
    va_end(ap);
    if (err && err->len)
        fprintf(stderr, "[memectl stderr] %s", (const char *)err->data);
    return rc;
}

static void test_png_meme_round_trip(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *path = xasprintf("%s/a.png", scratch);
    int rc = memectl(&out, &err, 30000, "-s", nats.url, "gen", "--display", "none", "-o", path,
                     "one does not simply | write a meme engine in C", NULL);
    assert_int_equal(rc, 0);
    /* stdout is a pipe: the file name is printed there for scripts. */
    assert_non_null(strstr((char *)out.data, path));
    struct meme_image *img = load_image(path);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    assert_int_equal(img->height, 512);
    assert_true(count_colours(img) > 200);
    image_free(img);
    buf_release(&out);
    buf_release(&err);
    free(path);
}

/* Renders the same template with and without captions: every pixel that
 * differs must lie in the top or bottom caption band, and most must be
 * near white (fill) or near black (outline). */
static void test_caption_pixels_are_in_caption_boxes(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *with = xasprintf("%s/with.png", scratch);
    char *without = xasprintf("%s/without.png", scratch);
    assert_int_equal(memectl(&out, &err, 30000, "-s", nats.url, "gen", "--display", "none", "-t",
                             "advice-wheel", "-o", with, "--top", "top text here", "--bottom",
                             "bottom text", "", NULL),
                     0);
    assert_int_equal(memectl(&out, &err, 30000, "-s", nats.url, "gen", "--display", "none", "-t",
                             "advice-wheel", "-o", without, "--top", "", "--bottom", "", "", NULL),
                     0);
    struct meme_image *a = load_image(with), *b = load_image(without);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(a->width, b->width);
    size_t diff_top = 0, diff_mid = 0, diff_bottom = 0, white = 0, black = 0;
    int h = a->height;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < a->width; x++) {
            const uint8_t *p = a->rgb + 3 * ((size_t)y * (size_t)a->width + (size_t)x);
            const uint8_t *q = b->rgb + 3 * ((size_t)y * (size_t)a->width + (size_t)x);
            if (abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) < 30)
                continue;
            if (y < h * 3 / 10)
                diff_top++;
            else if (y >= h * 7 / 10)
                diff_bottom++;
            else
                diff_mid++;
            if (p[0] > 230 && p[1] > 230 && p[2] > 230)
                white++;
            else if (p[0] < 40 && p[1] < 40 && p[2] < 40)
                black++;
        }
    size_t total = diff_top + diff_mid + diff_bottom;
    fprintf(stderr, "caption pixels: top %zu mid %zu bottom %zu white %zu black %zu\n", diff_top,
            diff_mid, diff_bottom, white, black);
    assert_true(diff_top > 2000);
    assert_true(diff_bottom > 2000);
    assert_int_equal(diff_mid, 0);
    assert_true(white > total / 4);
    assert_true(black > total / 10);
    assert_true(white + black > total * 6 / 10);
    image_free(a);
    image_free(b);
    free(with);
    free(without);
    buf_release(&out);
    buf_release(&err);
}

static void test_jpeg_1024_and_json(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *path = xasprintf("%s/big.jpg", scratch);
    int rc = memectl(&out, &err, 30000, "-s", nats.url, "gen", "--size", "1024", "--format", "jpeg",
                     "--json", "-o", path, "when the queue hits five", NULL);
    assert_int_equal(rc, 0);
    assert_non_null(strstr((char *)out.data, "\"width\":1024"));
    assert_non_null(strstr((char *)out.data, "\"content_type\":\"image/jpeg\""));
    assert_non_null(strstr((char *)out.data, "\"worker\":\"w1\""));
    struct meme_image *img = load_image(path);
    assert_non_null(img);
    assert_int_equal(img->width, 1024);
    assert_int_equal(img->height, 1024);
    image_free(img);
    free(path);
    buf_release(&out);
    buf_release(&err);
}

static void test_default_file_name_and_stdout(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = harness_bin("memectl");
    /* -o - writes the raw image to stdout (a pipe here). */
    int rc = memectl(&out, &err, 30000, "-s", nats.url, "gen", "-o", "-", "stdout meme", NULL);
    assert_int_equal(rc, 0);
    assert_true(out.len > 1000);
    assert_int_equal(image_sniff(out.data, out.len), IMAGE_PNG);
    free(bin);
    buf_release(&out);
    buf_release(&err);
}

static void test_worker_rejects_unknown_template(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *path = xasprintf("%s/nope.png", scratch);
    int rc = memectl(&out, &err, 30000, "-s", nats.url, "gen", "-t", "no-such-template", "-o", path,
                     "hello", NULL);
    assert_int_equal(rc, 1);
    assert_non_null(strstr((char *)err.data, "unknown_template"));
    assert_false(file_exists(path));
    free(path);
    buf_release(&out);
    buf_release(&err);
}

static void test_unreachable_server(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char url[64];
    snprintf(url, sizeof(url), "nats://user:s3cret@127.0.0.1:%d", harness_free_port());
    int rc = memectl(&out, &err, 30000, "-s", url, "gen", "hello", NULL);
    assert_int_equal(rc, 3);
    assert_non_null(strstr((char *)err.data, "cannot reach NATS"));
    /* The password never reaches an error message. */
    assert_null(strstr((char *)err.data, "s3cret"));
    buf_release(&out);
    buf_release(&err);
}

static void test_no_stream_yet(void **state)
{
    struct harness_server bare;
    assert_int_equal(harness_nats_start(&bare), 0);
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = memectl(&out, &err, 30000, "-s", bare.url, "gen", "--timeout", "2", "hello", NULL);
    assert_int_equal(rc, 1);
    assert_non_null(strstr((char *)err.data, "stream \"MEMES\" does not exist"));
    harness_stop(&bare);
    buf_release(&out);
    buf_release(&err);
}

static void test_no_worker_names_queue_depth(void **state)
{
    struct harness_server bare;
    assert_int_equal(harness_nats_start(&bare), 0);
    /* The stream and consumer exist, as after a worker has gone away. */
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = bare.url, .name = "test"};
    assert_int_equal(mq_connect(&mq, &co, NULL), 0);
    assert_int_equal(mq_ensure_stream(&mq, PROTO_STREAM, NULL), 0);
    assert_int_equal(mq_ensure_consumer(&mq, PROTO_STREAM, PROTO_CONSUMER, 60000, NULL), 0);
    mq_close(&mq);
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = memectl(&out, &err, 30000, "-s", bare.url, "gen", "--timeout", "1", "hello", NULL);
    assert_int_equal(rc, 4);
    assert_non_null(strstr((char *)err.data, "no worker is pulling"));
    assert_non_null(strstr((char *)err.data, "1 request(s) are queued"));
    harness_stop(&bare);
    buf_release(&out);
    buf_release(&err);
}

static void test_usage_errors(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, 10000, "gen", NULL), 2);
    assert_non_null(strstr((char *)err.data, "no prompt"));
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 10000, "gne", "x", NULL), 2);
    assert_non_null(strstr((char *)err.data, "did you mean \"gen\""));
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 10000, "gen", "--sise", "5", "x", NULL), 2);
    assert_non_null(strstr((char *)err.data, "did you mean \"--size\""));
    buf_release(&err);
    char *big = xmalloc(PROTO_PROMPT_MAX + 2);
    memset(big, 'a', PROTO_PROMPT_MAX + 1);
    big[PROTO_PROMPT_MAX + 1] = '\0';
    assert_int_equal(memectl(&out, &err, 10000, "gen", big, NULL), 2);
    assert_non_null(strstr((char *)err.data, "the limit is 1000"));
    free(big);
    buf_release(&err);
    buf_release(&out);
    assert_int_equal(memectl(&out, &err, 10000, "gen", "--help", NULL), 0);
    assert_non_null(strstr((char *)out.data, "usage: memectl gen"));
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_meme_round_trip),
        cmocka_unit_test(test_caption_pixels_are_in_caption_boxes),
        cmocka_unit_test(test_jpeg_1024_and_json),
        cmocka_unit_test(test_default_file_name_and_stdout),
        cmocka_unit_test(test_worker_rejects_unknown_template),
        cmocka_unit_test(test_unreachable_server),
        cmocka_unit_test(test_no_stream_yet),
        cmocka_unit_test(test_no_worker_names_queue_depth),
        cmocka_unit_test(test_usage_errors),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
