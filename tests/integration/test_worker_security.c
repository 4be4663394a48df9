/*
 * A hostile publisher on meme.request against a worker with the settings it
 * gives itself (docs/security.md): the worker is nobody's deputy (a reply
 * subject that is not an inbox is refused, so "$JS.API.STREAM.PURGE.<s>"
 * purges nothing and "$KV.meme-results.<id>" overwrites nothing), an id
 * belongs to the request that first used it (a reuse with another
 * Nats-Msg-Id and an "X.meta" id leave X's result as it was), a meme over
 * max_payload is answered too_large once (final, not retried), and control
 * bytes from a request reach neither the log nor any JSON raw. Each test
 * prints its figures.
 */
#include "worker_common.h"

#include <curl/curl.h>
#include <jansson.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *scratch;

static int setup(void **state)
{
    scratch = harness_tmpdir("wsec");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return scratch ? 0 : -1;
}

static int teardown(void **state)
{
    free(scratch);
    curl_global_cleanup();
    nats_Close();
    return 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* The value of an unlabelled metric on http://addr/metrics, or -1. */
static double metric(const char *addr, const char *name)
{
    struct buf b = BUF_INIT;
    char *url = xasprintf("http://%s/metrics", addr);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    double v = -1;
    if (curl_easy_perform(c) == CURLE_OK) {
        buf_putc(&b, '\0');
        char *want = xasprintf("\n%s ", name);
        const char *p = strstr((char *)b.data, want);
        if (p)
            v = strtod(p + strlen(want), NULL);
        free(want);
    }
    curl_easy_cleanup(c);
    free(url);
    buf_release(&b);
    return v;
}

static uint64_t stream_msgs(jsCtx *js, const char *name)
{
    jsStreamInfo *si = NULL;
    uint64_t n = UINT64_MAX;
    if (js_GetStreamInfo(&si, js, name, NULL, NULL) == NATS_OK)
        n = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

/* The next JSON on sub whose request_id is id, within timeout_ms; NULL if none. */
static json_t *next_for(natsSubscription *sub, const char *id, int timeout_ms)
{
    double deadline = wt_now_s() + timeout_ms / 1000.0;
    while (wt_now_s() < deadline) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK)
            continue;
        json_error_t e;
        json_t *j = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &e);
        natsMsg_Destroy(m);
        const char *rid = json_string_value(json_object_get(j, "request_id"));
        if (!rid)
            rid = json_string_value(json_object_get(j, "id"));
        if (rid && strcmp(rid, id) == 0)
            return j;
        json_decref(j);
    }
    return NULL;
}

/* Reads the stored result of id: 0 and the image (caller's) or a negative code. */
static int stored(jsCtx *js, const char *id, struct results_meta *meta, uint8_t **data, size_t *len)
{
    kvStore *kv = NULL;
    *data = NULL;
    *len = 0;
    int rc = results_open(js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, NULL);
    if (rc == 0)
        rc = results_get(kv, id, meta, data, len, NULL);
    kvStore_Destroy(kv);
    return rc;
}

static void test_worker_is_nobodys_deputy(void **state)
{
    struct harness_server nats;
    struct tally t;
    char addr[32];
    assert_int_equal(harness_nats_start(&nats), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    pid_t w = wt_worker(nats.url, scratch, "deputy-w", 1, NULL, "--http", addr, NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "dep"), 0);
    natsSubscription *errors = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&errors, t.nc, PROTO_SUBJECT_ERROR), NATS_OK);
    natsConnection_Flush(t.nc);

    /* Someone else's stream with five messages. */
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = "VICTIM";
    sc.Subjects = (const char *[]){"victim.>"};
    sc.SubjectsLen = 1;
    sc.Storage = js_FileStorage;
    assert_int_equal(js_AddStream(NULL, t.js, &sc, NULL, NULL), NATS_OK);
    for (int i = 0; i < 5; i++) {
        jsPubAck *ack = NULL;
        assert_int_equal(js_Publish(&ack, t.js, "victim.data", "keep me", 7, NULL, NULL), NATS_OK);
        jsPubAck_Destroy(ack);
    }
    /* Someone else's finished meme. */
    assert_int_equal(tally_publish_prompt(&t, "victim", 0, "a meme | someone made", ""), 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 30000), 1);
    struct results_meta meta_before, meta_after;
    uint8_t *img_before = NULL, *img_after = NULL;
    size_t len_before = 0, len_after = 0;
    assert_int_equal(stored(t.js, "victim-0", &meta_before, &img_before, &len_before), 0);

    /* The deputy attempts: an unknown template, so the answer is an error
     * JSON, sent where the request says. */
    uint64_t before = stream_msgs(t.js, "VICTIM");
    const char *replies[] = {"$JS.API.STREAM.PURGE.VICTIM", "$KV.meme-results.victim-0",
                             "meme.request", "$SYS.REQ.SERVER.PING"};
    int refused = 0;
    for (int i = 0; i < 4; i++) {
        char id[32];
        snprintf(id, sizeof(id), "deputy-%d", i);
        char *json = xasprintf("{\"id\":\"%s\",\"prompt\":\"do it for me\",\"template\":"
                               "\"no-such-template\",\"reply\":\"%s\"}",
                               id, replies[i]);
        assert_int_equal(tally_publish_raw(&t, id, json, strlen(json)), 0);
        free(json);
        json_t *j = next_for(errors, id, 15000);
        const char *code = j ? json_string_value(json_object_get(j, "code")) : NULL;
        printf("figures: deputy: reply \"%s\" answered on %s with %s\n", replies[i],
               PROTO_SUBJECT_ERROR, code ? code : "(nothing)");
        refused += code && strcmp(code, "reply_not_allowed") == 0;
        json_decref(j);
    }
    uint64_t after = stream_msgs(t.js, "VICTIM");
    int rc = stored(t.js, "victim-0", &meta_after, &img_after, &len_after);
    printf("figures: deputy: stream VICTIM messages before %llu, after %llu\n",
           (unsigned long long)before, (unsigned long long)after);
    printf("figures: deputy: meme victim-0 before %zu bytes, after %s %zu bytes (%s)\n", len_before,
           rc == 0 ? "" : "unreadable,", len_after,
           rc == 0 && len_after == len_before && memcmp(img_before, img_after, len_before) == 0
               ? "identical"
               : "changed");
    double counted = metric(addr, "meme_worker_replies_refused_total");
    printf("figures: deputy: meme_worker_replies_refused_total %.0f\n", counted);
    assert_int_equal(before, 5);
    assert_int_equal(after, 5);
    assert_int_equal(refused, 4);
    assert_int_equal(rc, 0);
    assert_int_equal(len_after, len_before);
    assert_memory_equal(img_after, img_before, len_before);
    assert_true(meta_after.ok);
    assert_true(counted == 4);

    /* Refused requests are terminated, not redelivered. */
    struct mq_depth d;
    assert_int_equal(wt_depth(nats.url, &d), 0);
    assert_int_equal(d.lag, 0);
    assert_int_equal(d.redelivered, 0);

    free(img_before);
    free(img_after);
    natsSubscription_Destroy(errors);
    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

static void test_ids_cannot_collide(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    pid_t w = wt_worker(nats.url, scratch, "ids-w", 1, NULL, NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "ids"), 0);

    char *json = xasprintf(
        "{\"id\":\"shared-id\",\"prompt\":\"the first | meme\",\"reply\":\"%s.0\"}", t.prefix);
    assert_int_equal(tally_publish_raw(&t, "shared-id-a", json, strlen(json)), 0);
    free(json);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 30000), 1);
    struct results_meta m0, m1;
    uint8_t *i0 = NULL, *i1 = NULL;
    size_t l0 = 0, l1 = 0;
    assert_int_equal(stored(t.js, "shared-id", &m0, &i0, &l0), 0);

    /* The same id again, as a new message (another Nats-Msg-Id). */
    json = xasprintf("{\"id\":\"shared-id\",\"prompt\":\"an impostor | takes over\","
                     "\"reply\":\"%s.1\"}",
                     t.prefix);
    assert_int_equal(tally_publish_raw(&t, "shared-id-b", json, strlen(json)), 0);
    free(json);
    /* And an id that is the first one's metadata key. */
    json = xasprintf("{\"id\":\"shared-id.meta\",\"prompt\":\"alias | the meta\","
                     "\"reply\":\"%s.2\"}",
                     t.prefix);
    assert_int_equal(tally_publish_raw(&t, "shared-id-meta", json, strlen(json)), 0);
    free(json);
    double t0 = wt_now_s();
    while (wt_now_s() - t0 < 30) {
        pthread_mutex_lock(&t.lock);
        bool both = t.ok[1] + t.errors[1] > 0 && t.ok[2] + t.errors[2] > 0;
        pthread_mutex_unlock(&t.lock);
        if (both)
            break;
        wt_sleep_ms(50);
    }
    int rc1 = stored(t.js, "shared-id", &m1, &i1, &l1);
    struct mq_depth d;
    assert_int_equal(wt_depth(nats.url, &d), 0);
    pthread_mutex_lock(&t.lock);
    printf("figures: ids: reuse with another Nats-Msg-Id answered %s\n", t.errors[1] ? t.codes[1]
                                                                         : t.ok[1]
                                                                             ? "ok (a second meme)"
                                                                             : "(nothing)");
    printf("figures: ids: id \"shared-id.meta\" answered %s\n", t.errors[2] ? t.codes[2]
                                                                : t.ok[2]   ? "ok (a meme)"
                                                                            : "(nothing)");
    pthread_mutex_unlock(&t.lock);
    printf("figures: ids: first result %zu bytes created %lld; after both %s%zu bytes created "
           "%lld (%s)\n",
           l0, (long long)m0.created, rc1 == 0 ? "" : "unreadable, ", l1, (long long)m1.created,
           rc1 == 0 && l1 == l0 && memcmp(i0, i1, l0) == 0 ? "identical" : "changed");
    assert_int_equal(rc1, 0);
    assert_true(m1.ok);
    assert_int_equal(l1, l0);
    assert_memory_equal(i1, i0, l0);
    assert_string_equal(m1.request, m0.request);
    pthread_mutex_lock(&t.lock);
    assert_int_equal(t.ok[1], 0);
    assert_string_equal(t.codes[1], "id_conflict");
    assert_int_equal(t.ok[2], 0);
    assert_string_equal(t.codes[2], "bad_request");
    pthread_mutex_unlock(&t.lock);
    assert_int_equal(d.lag, 0);

    free(i0);
    free(i1);
    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    bool has = strstr((char *)b.data, needle) != NULL;
    buf_release(&b);
    return has;
}

/* A user template of noise: its 2048x2048 PNG (~12 MB) cannot be
 * compressed below the stack's 8 MiB max_payload. */
static char *noise_templates(void)
{
    char *dir = xasprintf("%s/templates", scratch);
    mkdir(dir, 0755);
    struct meme_image *img = image_new(2048, 2048);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < (size_t)2048 * 2048 * 3; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        img->rgb[i] = (uint8_t)x;
    }
    uint8_t *png = NULL;
    size_t len = 0;
    assert_int_equal(image_encode(img, IMAGE_PNG, &png, &len, NULL), 0);
    char *path = xasprintf("%s/noise.png", dir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(png, 1, len, f), len);
    fclose(f);
    free(path);
    free(png);
    image_free(img);
    return dir;
}

static void test_too_large_is_final(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    char *templates = noise_templates();
    pid_t w = wt_worker(nats.url, scratch, "big-w", 1, NULL, "--templates", templates, NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "big"), 0);
    assert_int_equal(tally_publish_prompt(&t, "big", 0, "far | too big",
                                          ",\"size\":2048,\"template\":\"noise\""),
                     0);
    double t0 = wt_now_s();
    while (wt_now_s() - t0 < 60) {
        pthread_mutex_lock(&t.lock);
        int got = t.ok[0] + t.errors[0];
        pthread_mutex_unlock(&t.lock);
        if (got)
            break;
        wt_sleep_ms(50);
    }
    /* Give a retry (the first nak waits 1 s) the time to show. */
    wt_sleep_ms(4000);
    struct mq_depth d;
    assert_int_equal(wt_depth(nats.url, &d), 0);
    char *log = xasprintf("%s/big-w.log", scratch);
    bool retried = file_has(log, "will retry");
    pthread_mutex_lock(&t.lock);
    printf("figures: too_large: answered %s after %.1f s; replies %d; redelivered %lld; "
           "retried in log: %s\n",
           t.errors[0] ? t.codes[0]
           : t.ok[0]   ? "ok"
                       : "(nothing)",
           wt_now_s() - t0 - 4, t.ok[0] + t.errors[0], (long long)d.redelivered,
           retried ? "yes" : "no");
    assert_int_equal(t.ok[0] + t.errors[0], 1);
    assert_string_equal(t.codes[0], "too_large");
    pthread_mutex_unlock(&t.lock);
    assert_false(retried);
    assert_int_equal(d.redelivered, 0);
    assert_int_equal(d.lag, 0);
    free(log);
    free(templates);
    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

/* Raw control bytes in data: C0 (but the newlines given), DEL, C1 in UTF-8
 * (C2 80..9F) and stray bytes 0x80..0x9F. */
static size_t raw_controls(const unsigned char *p, size_t n, bool newlines_ok)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if ((p[i] < 0x20 && !(newlines_ok && p[i] == '\n')) || p[i] == 0x7f)
            c++;
        else if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            c++;
        else if (p[i] >= 0x80 && p[i] <= 0x9f && !(i > 0 && p[i - 1] >= 0xc2))
            c++;
    }
    return c;
}

static size_t slurp_controls(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return SIZE_MAX;
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    size_t c = raw_controls(b.data, b.len, true);
    buf_release(&b);
    return c;
}

static size_t next_raw(natsSubscription *sub, int timeout_ms, size_t *controls)
{
    natsMsg *m = NULL;
    if (natsSubscription_NextMsg(&m, sub, timeout_ms) != NATS_OK)
        return 0;
    size_t n = (size_t)natsMsg_GetDataLength(m);
    *controls = raw_controls((const unsigned char *)natsMsg_GetData(m), n, false);
    natsMsg_Destroy(m);
    return n;
}

static void test_control_bytes_are_escaped(void **state)
{
    struct harness_server nats;
    natsConnection *nc = NULL;
    natsSubscription *errors = NULL, *responses = NULL, *events = NULL;
    assert_int_equal(harness_nats_start(&nats), 0);
    pid_t w = wt_worker(nats.url, scratch, "ctl-w", 1, NULL, NULL);
    assert_true(w > 0);
    assert_int_equal(natsConnection_ConnectTo(&nc, nats.url), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&errors, nc, PROTO_SUBJECT_ERROR), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&responses, nc, PROTO_SUBJECT_RESPONSE), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&events, nc, PROTO_SUBJECT_EVENTS), NATS_OK);
    natsConnection_Flush(nc);

    /* Not JSON: the parser quotes the bytes "near" the error (ESC, CSI as
     * U+009B, DEL), into the log and the error reply. */
    const char bad[] = "{\"id\":\"ctl-1\",\"prompt\":\"x\" \xc2\x9b\x1b[2J\x7f }";
    assert_int_equal(natsConnection_Publish(nc, PROTO_SUBJECT_REQUEST, bad, (int)strlen(bad)),
                     NATS_OK);
    size_t err_controls = SIZE_MAX;
    size_t err_len = next_raw(errors, 20000, &err_controls);
    /* Valid, with the same characters escaped in the prompt: echoed in the
     * original design's reply and in the done event. */
    const char good[] = "{\"id\":\"ctl-2\",\"prompt\":\"esc \\u001b[2J csi \\u009b del \\u007f\"}";
    assert_int_equal(natsConnection_Publish(nc, PROTO_SUBJECT_REQUEST, good, (int)strlen(good)),
                     NATS_OK);
    size_t resp_controls = SIZE_MAX, ev_controls = SIZE_MAX, ev1 = SIZE_MAX;
    size_t resp_len = next_raw(responses, 30000, &resp_controls);
    next_raw(events, 5000, &ev1); /* ctl-1's */
    size_t ev_len = next_raw(events, 30000, &ev_controls);
    assert_int_equal(wt_term(w, 20000), 0);
    char *log = xasprintf("%s/ctl-w.log", scratch);
    size_t log_controls = slurp_controls(log);
    printf("figures: control bytes: raw in meme.response.error %zu (of %zu bytes), "
           "meme.response %zu, meme.events.done %zu, worker log %zu\n",
           err_controls, err_len, resp_controls, ev_controls, log_controls);
    assert_true(err_len > 0);
    assert_true(resp_len > 0);
    assert_true(ev_len > 0);
    assert_int_equal(err_controls, 0);
    assert_int_equal(resp_controls, 0);
    assert_int_equal(ev_controls, 0);
    assert_int_equal(log_controls, 0);
    /* Escaped, not dropped: the log still says where the parser stopped. */
    assert_true(file_has(log, "near '\\u009b'"));
    free(log);
    natsSubscription_Destroy(errors);
    natsSubscription_Destroy(responses);
    natsSubscription_Destroy(events);
    natsConnection_Destroy(nc);
    harness_stop(&nats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_is_nobodys_deputy),
        cmocka_unit_test(test_ids_cannot_collide),
        cmocka_unit_test(test_too_large_is_final),
        cmocka_unit_test(test_control_bytes_are_escaped),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
