/*
 * Hostile text from the network never reaches the terminal raw. A fake
 * worker in this process answers memectl's requests with escape sequences
 * (OSC 52 clipboard, CSI 2J, a DCS sixel, C1 controls, invalid UTF-8) in
 * its error message, its headers and its events; every output path of
 * memectl is checked for raw control bytes.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <unistd.h>

#define HOSTILE                                                                                    \
    "\x1b]52;c;aGVsbG8=\x07 clip \x1b[2J clear \x1bP0;1;0q\"1;1;2;2#0~-\x1b\\ sixel "              \
    "\xc2\x9b\x33\x31m c1 \x9b\x33\x31m raw \xff bad"

static struct harness_server nats;
static char *scratch;

enum reply_kind { REPLY_ERROR, REPLY_OK_HOSTILE_HEADERS };

struct fake {
    enum reply_kind kind;
    int served;
    volatile int stop;
    pthread_t thread;
};

static uint8_t *png;
static size_t png_len;

/* A worker that answers each request with hostile text. */
static void *fake_worker(void *arg)
{
    struct fake *f = arg;
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = nats.url, .name = "hostile worker"};
    if (mq_connect(&mq, &co, NULL) < 0)
        return NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = PROTO_STREAM;
    so.Consumer = PROTO_CONSUMER;
    natsSubscription *sub = NULL;
    if (js_PullSubscribe(&sub, mq.js, PROTO_SUBJECT_REQUEST, PROTO_CONSUMER, NULL, &so, NULL) !=
        NATS_OK) {
        mq_close(&mq);
        return NULL;
    }
    while (!f->stop) {
        natsMsgList list = {0};
        if (natsSubscription_Fetch(&list, sub, 1, 200, NULL) != NATS_OK)
            continue;
        for (int i = 0; i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            struct proto_request req;
            struct meme_err err = {0};
            proto_request_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &req, &err);
            natsMsg *r = NULL;
            if (f->kind == REPLY_ERROR) {
                /* Valid JSON whose message decodes to escape sequences. */
                const char *body =
                    "{\"request_id\":\"x\",\"error\":\"\\u001b]52;c;aGk=\\u0007 clip "
                    "\\u001b[2J clear \\u001bP0;1q#0~\\u001b\\\\ sixel \\u009b31m "
                    "c1\",\"code\":\"internal\"}";
                natsMsg_Create(&r, req.reply, NULL, body, (int)strlen(body));
                natsMsgHeader_Set(r, PROTO_H_STATUS, "error");
                natsMsgHeader_Set(r, PROTO_H_ERROR_CODE, "\x1b[2Jinternal");
            } else {
                natsMsg_Create(&r, req.reply, NULL, (const char *)png, (int)png_len);
                natsMsgHeader_Set(r, PROTO_H_STATUS, "ok");
                natsMsgHeader_Set(r, PROTO_H_CONTENT_TYPE, "image/png");
                natsMsgHeader_Set(r, PROTO_H_WIDTH, "64");
                natsMsgHeader_Set(r, PROTO_H_HEIGHT, "64");
                natsMsgHeader_Set(r, PROTO_H_WORKER, "\x1b]52;c;aGk=\x07w\x1b[2J");
                natsMsgHeader_Set(r, PROTO_H_TEMPLATE, "\xc2\x9b\x33\x31mt\x1bP1q#\x1b\\");
            }
            natsConnection_PublishMsg(mq.nc, r);
            natsMsg_Destroy(r);
            /* An event for dashboards, just as hostile. */
            const char *ev = "{\"id\":\"hostile-1\",\"status\":\"failed\",\"code\":\"internal\","
                             "\"prompt\":\"\\u001b]52;c;aGk=\\u0007\\u001b[2Jp\\u009b31m\","
                             "\"worker\":\"\\u001b[31mw\"}";
            natsConnection_PublishString(mq.nc, PROTO_SUBJECT_EVENTS, ev);
            natsMsg_Ack(m, NULL);
            proto_request_release(&req);
            f->served++;
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    mq_close(&mq);
    return NULL;
}

/* No ESC, BEL, other C0 but newline/tab, DEL, C1 (raw or UTF-8) in what a terminal gets. */
static void assert_clean(const char *what, const struct buf *b)
{
    for (size_t i = 0; i < b->len; i++) {
        uint8_t c = b->data[i];
        bool bad = (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f || c == 0x9b ||
                   (c == 0xc2 && i + 1 < b->len && b->data[i + 1] >= 0x80 && b->data[i + 1] < 0xa0);
        if (bad)
            fail_msg("%s has a raw control byte 0x%02x at %zu: %.*s", what, c, i, (int)b->len,
                     (const char *)b->data);
    }
}

static int setup(void **state)
{
    scratch = harness_tmpdir("hostile");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = nats.url, .name = "setup"};
    struct meme_err err = {0};
    if (mq_connect(&mq, &co, &err) < 0 || mq_ensure_stream(&mq, PROTO_STREAM, &err) < 0 ||
        mq_ensure_consumer(&mq, PROTO_STREAM, PROTO_CONSUMER, 30000, &err) < 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        mq_close(&mq);
        return -1;
    }
    mq_close(&mq);
    struct meme_image *img = image_new(64, 64);
    image_encode_png(img, &png, &png_len, NULL);
    image_free(img);
    return 0;
}

static int teardown(void **state)
{
    free(png);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

static int memectl(struct buf *out, struct buf *err, ...)
{
    char *env[] = {"NATS_URL", "MEMECTL_DISPLAY", NULL};
    va_list ap;
    va_start(ap, err);
    int rc = memectl_va(out, err, env, 30000, nats.url, ap);
    va_end(ap);
    return rc;
}

static void test_error_message_is_sanitized(void **state)
{
    struct fake f = {.kind = REPLY_ERROR};
    pthread_create(&f.thread, NULL, fake_worker, &f);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "gen", "--display", "none", "x", NULL), 1);
    assert_non_null(memmem(err.data, err.len, "clip", 4)); /* the text is kept... */
    assert_clean("memectl gen's error", &err);             /* ...its controls are not */
    assert_clean("memectl gen's output", &out);
    buf_release(&out);
    buf_release(&err);

    /* bench reports error codes by name, never the raw header. */
    assert_int_equal(memectl(&out, &err, "bench", "-n", "2", NULL), 1);
    assert_clean("memectl bench's report", &out);
    assert_clean("memectl bench's messages", &err);
    buf_release(&out);
    buf_release(&err);

    /* The dashboard's frame, with the hostile event in its Memes panel. */
    assert_int_equal(
        memectl(&out, &err, "tui", "--dump", "--columns", "100", "--lines", "30", NULL), 0);
    assert_clean("memectl tui --dump", &out);
    buf_release(&out);
    buf_release(&err);
    f.stop = 1;
    pthread_join(f.thread, NULL);
    assert_true(f.served >= 3);
}

static void test_reply_headers_are_sanitized(void **state)
{
    struct fake f = {.kind = REPLY_OK_HOSTILE_HEADERS};
    pthread_create(&f.thread, NULL, fake_worker, &f);
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *file = xasprintf("%s/ok.png", scratch);
    assert_int_equal(memectl(&out, &err, "gen", "--display", "none", "-o", file, "x", NULL), 0);
    assert_non_null(memmem(err.data, err.len, "saved", 5));
    assert_clean("memectl gen's summary", &err);
    assert_clean("memectl gen's output", &out);
    buf_release(&out);
    buf_release(&err);
    /* --json carries the strings, escaped by JSON: still no raw control byte. */
    assert_int_equal(memectl(&out, &err, "gen", "--json", "-o", file, "x", NULL), 0);
    assert_clean("memectl gen --json", &out);
    buf_release(&out);
    buf_release(&err);
    f.stop = 1;
    pthread_join(f.thread, NULL);
    free(file);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_is_sanitized),
        cmocka_unit_test(test_reply_headers_are_sanitized),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
