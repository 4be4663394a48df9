/*
 * Budgeted storage (docs/protocol.md, "Storage"): on a nats-server whose
 * JetStream store is 64 MiB, a worker with the settings it gives itself
 * sizes the queue stream and the results bucket to fit together; a burst
 * from the original design's client (plain NATS publishes on meme.request,
 * replies on meme.response) whose memes add up to more than the store is
 * answered in full, the results giving way oldest first; and once the queue
 * itself is full, the shared request publisher says queue_full. Prints the
 * figures.
 */
#include "worker_common.h"

#include <jansson.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define STORE_BYTES (64LL << 20)
#define BURST       1000

static char *scratch;

static int setup(void **state)
{
    scratch = harness_tmpdir("budget");
    return scratch ? 0 : -1;
}

static int teardown(void **state)
{
    free(scratch);
    nats_Close();
    return 0;
}

struct burst {
    pthread_mutex_t lock;
    unsigned char ok[BURST], failed[BURST];
    int answered;
    uint64_t image_bytes;
    char first_error[200];
};

/* The original client: every JSON on meme.response or meme.response.error. */
static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    struct burst *b = arg;
    json_error_t e;
    json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &e);
    const char *id = json_string_value(json_object_get(j, "request_id"));
    int i = id && strncmp(id, "burst-", 6) == 0 ? atoi(id + 6) : -1;
    bool ok = strcmp(natsMsg_GetSubject(m), PROTO_SUBJECT_RESPONSE) == 0;
    pthread_mutex_lock(&b->lock);
    if (i >= 0 && i < BURST && !b->ok[i] && !b->failed[i]) {
        b->answered++;
        if (ok) {
            b->ok[i] = 1;
            b->image_bytes += strlen(json_string_value(json_object_get(j, "image_data"))) / 4 * 3;
        } else {
            b->failed[i] = 1;
            if (!b->first_error[0])
                snprintf(b->first_error, sizeof(b->first_error), "%s: %s",
                         json_string_value(json_object_get(j, "code")),
                         json_string_value(json_object_get(j, "error")));
        }
    }
    pthread_mutex_unlock(&b->lock);
    json_decref(j);
    natsMsg_Destroy(m);
    (void)nc;
    (void)sub;
}

static int64_t stream_max(jsCtx *js, const char *name, uint64_t *bytes, uint64_t *msgs)
{
    jsStreamInfo *si = NULL;
    int64_t max = -2;
    if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK) {
        max = si->Config->MaxBytes;
        if (bytes)
            *bytes = si->State.Bytes;
        if (msgs)
            *msgs = si->State.Msgs;
    }
    jsStreamInfo_Destroy(si);
    return max;
}

static void test_burst_larger_than_the_store(void **state)
{
    struct harness_server nats;
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    natsSubscription *resp = NULL, *errs = NULL;
    struct burst *b = xcalloc(1, sizeof(*b));
    pthread_mutex_init(&b->lock, NULL);

    assert_int_equal(harness_nats_start_store(&nats, STORE_BYTES), 0);
    pid_t w = wt_worker(nats.url, scratch, "budget-w", 1, NULL, NULL);
    assert_true(w > 0);

    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, nats.url);
    natsOptions_SetSendAsap(o, true);
    assert_int_equal(natsConnection_Connect(&nc, o), NATS_OK);
    natsOptions_Destroy(o);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&resp, nc, PROTO_SUBJECT_RESPONSE, on_reply, b),
                     NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&errs, nc, PROTO_SUBJECT_ERROR, on_reply, b),
                     NATS_OK);
    natsSubscription_SetPendingLimits(resp, -1, -1);
    natsSubscription_SetPendingLimits(errs, -1, -1);
    natsConnection_Flush(nc);

    int64_t queue_max = stream_max(js, PROTO_STREAM, NULL, NULL);
    int64_t results_max = stream_max(js, "KV_" PROTO_RESULTS_BUCKET, NULL, NULL);
    printf("figures: budget: store %lld bytes; queue max %lld, results max %lld (%.0f %% of the "
           "store reserved)\n",
           (long long)STORE_BYTES, (long long)queue_max, (long long)results_max,
           100.0 * (double)(queue_max + results_max) / (double)STORE_BYTES);

    /* The burst, as the original web page sends it: plain publishes. */
    double t0 = wt_now_s();
    for (int i = 0; i < BURST; i++) {
        char *json = xasprintf("{\"id\":\"burst-%d\",\"prompt\":\"burst %d | bigger than the "
                               "store\",\"fast_mode\":true,\"small_image\":true}",
                               i, i);
        assert_int_equal(natsConnection_PublishString(nc, PROTO_SUBJECT_REQUEST, json), NATS_OK);
        free(json);
    }
    natsConnection_Flush(nc);
    int answered = 0;
    while (wt_now_s() - t0 < 600) {
        pthread_mutex_lock(&b->lock);
        answered = b->answered;
        pthread_mutex_unlock(&b->lock);
        if (answered == BURST)
            break;
        wt_sleep_ms(200);
    }
    double secs = wt_now_s() - t0;
    int ok = 0;
    pthread_mutex_lock(&b->lock);
    for (int i = 0; i < BURST; i++)
        ok += b->ok[i];
    uint64_t image_bytes = b->image_bytes;
    pthread_mutex_unlock(&b->lock);
    uint64_t kv_bytes = 0, kv_msgs = 0;
    stream_max(js, "KV_" PROTO_RESULTS_BUCKET, &kv_bytes, &kv_msgs);
    kvStore *kv = NULL;
    struct results_meta meta;
    bool first_kept = false, last_kept = false;
    if (results_open(js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, NULL) == 0) {
        first_kept = results_get_meta(kv, "burst-0", &meta, NULL) == 0;
        char last[32];
        snprintf(last, sizeof(last), "burst-%d", BURST - 1);
        last_kept = results_get_meta(kv, last, &meta, NULL) == 0;
    }
    kvStore_Destroy(kv);
    printf("figures: budget: burst of %d from the original client: %d answered with a meme, %d "
           "with an error, %d not at all, in %.1f s; memes made %.1f MB (store %.1f MB)%s%s\n",
           BURST, ok, answered - ok, BURST - answered, secs, (double)image_bytes / 1e6,
           (double)STORE_BYTES / 1e6, b->first_error[0] ? "; first error: " : "", b->first_error);
    printf("figures: budget: results bucket holds %llu bytes in %llu keys (max %lld); oldest "
           "result %s, newest %s\n",
           (unsigned long long)kv_bytes, (unsigned long long)kv_msgs, (long long)results_max,
           first_kept ? "kept" : "dropped", last_kept ? "kept" : "dropped");
    assert_true(queue_max > 0);
    assert_true(results_max > 0);
    assert_true(queue_max + results_max <= STORE_BYTES);
    assert_int_equal(ok, BURST);
    assert_true(image_bytes > (uint64_t)STORE_BYTES);
    assert_true(kv_bytes <= (uint64_t)results_max);
    assert_false(first_kept);
    assert_true(last_kept);

    /* No worker now: the queue fills up, and the shared publisher (gen,
     * bench, tui, gateway) says so. */
    assert_int_equal(wt_term(w, 20000), 0);
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = nats.url, .name = "budget"};
    assert_int_equal(mq_connect(&mq, &co, NULL), 0);
    char *big = xmalloc(PROTO_PROMPT_MAX + 1), *cap = xmalloc(PROTO_CAPTION_MAX + 1);
    memset(big, 'q', PROTO_PROMPT_MAX);
    big[PROTO_PROMPT_MAX] = '\0';
    memset(cap, 'c', PROTO_CAPTION_MAX);
    cap[PROTO_CAPTION_MAX] = '\0';
    struct meme_err err = {0};
    int rc = 0, queued = 0;
    for (int i = 0; i < 100000 && rc == 0; i++) {
        struct proto_request req;
        proto_request_init(&req);
        proto_new_id(req.id);
        req.prompt = xstrdup(big);
        req.top = xstrdup(cap);
        req.bottom = xstrdup(cap);
        rc = mq_publish_request(&mq, &req, 5000, &err);
        proto_request_release(&req);
        queued += rc == 0;
    }
    /* The last bytes of room, with small requests, so nothing fits after. */
    for (int i = 0; i < 1000 && rc == MEME_E_QUEUE_FULL; i++) {
        struct proto_request req;
        proto_request_init(&req);
        proto_new_id(req.id);
        req.prompt = xstrdup("x");
        int prc = mq_publish_request(&mq, &req, 5000, NULL);
        proto_request_release(&req);
        if (prc < 0)
            break;
        queued++;
    }
    uint64_t q_bytes = 0, q_msgs = 0;
    stream_max(js, PROTO_STREAM, &q_bytes, &q_msgs);
    printf("figures: budget: with no worker, %d requests queued (%llu bytes of %lld) before the "
           "publisher got %s: %s\n",
           queued, (unsigned long long)q_bytes, (long long)queue_max, meme_code_name(rc), err.msg);
    assert_int_equal(rc, MEME_E_QUEUE_FULL);
    assert_true(q_bytes <= (uint64_t)queue_max);
    /* memectl says it the same way. */
    struct buf out = BUF_INIT, eout = BUF_INIT;
    char *bin = harness_bin("memectl");
    char *argv[] = {bin, "-s", nats.url, "gen", "--no-wait", big, NULL};
    char *env[] = {"NATS_URL", "MEMECTL_DISPLAY", NULL};
    assert_int_equal(harness_run(argv, env, &out, &eout, 30000), 1);
    buf_putc(&eout, '\0');
    assert_non_null(strstr((char *)eout.data, "queue is full"));
    printf("figures: budget: memectl gen --no-wait: %s", (char *)eout.data);

    free(bin);
    buf_release(&out);
    buf_release(&eout);
    free(big);
    free(cap);
    mq_close(&mq);
    natsSubscription_Destroy(resp);
    natsSubscription_Destroy(errs);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    pthread_mutex_destroy(&b->lock);
    free(b);
    harness_stop(&nats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_larger_than_the_store),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
