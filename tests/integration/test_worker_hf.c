/*
 * The Hugging Face engine against the fixture server in tests/fixtures
 * (the Inference API's requests and responses, on loopback): first the
 * client library through every failure mode the API has (each in bounded
 * time with a clear code; what cannot succeed by trying again is final at
 * once), then meme-worker end to end with --engine hf, and memectl gen
 * showing why it waits and why it failed.
 */
#include "fixtures/hf_fixture.h"
#include "render/hf.h"
#include "worker_common.h"

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <sys/stat.h>

#define TOKEN "hf_fixtureTOKEN123"

static char *scratch;
static struct hf_fixture *fx;

static int setup(void **state)
{
    scratch = harness_tmpdir("whf");
    hf_global_init();
    fx = hf_fixture_start(TOKEN);
    return scratch && fx ? 0 : -1;
}

static int teardown(void **state)
{
    hf_fixture_stop(fx);
    hf_global_cleanup();
    free(scratch);
    nats_Close();
    return 0;
}

struct outcome {
    int rc;
    double seconds;
    struct hf_stats st;
    struct meme_err err;
    uint8_t *data;
    size_t len;
};

static int progress_calls;
static int stop_after_calls; /* 0 = never stop */

static bool progress(void *arg)
{
    (void)arg;
    progress_calls++;
    return !(stop_after_calls && progress_calls >= stop_after_calls);
}

/* Runs one generation against the fixture with the given script. */
static struct outcome run(const char *token, const enum hf_fixture_step *steps, int n,
                          double wait_s, int deadline_ms, const char *url)
{
    struct outcome o;
    memset(&o, 0, sizeof(o));
    hf_fixture_script(fx, steps, n, wait_s);
    struct hf_opts opts = {.base_url = url ? url : hf_fixture_url(fx),
                           .token = token,
                           .deadline_ms = deadline_ms,
                           .attempt_ms = 700,
                           .max_attempts = 4,
                           .max_wait_ms = 5000,
                           .backoff_ms = 50};
    struct hf_client *c = hf_client_new(&opts, &o.err);
    assert_non_null(c);
    struct hf_request req = {.model = "black-forest-labs/FLUX.1-schnell",
                             .prompt = "a cat in a hat",
                             .width = 96,
                             .height = 96};
    progress_calls = 0;
    double t0 = wt_now_s();
    o.rc = hf_generate(c, &req, progress, NULL, &o.data, &o.len, &o.st, &o.err);
    o.seconds = wt_now_s() - t0;
    hf_client_free(c);
    /* The token never reaches an error message. */
    assert_null(strstr(o.err.msg, "fixtureTOKEN"));
    return o;
}

static void report(const char *mode, const struct outcome *o)
{
    printf("figures: hf %-22s -> %-14s in %.2f s, %d attempt(s), waited %d ms%s%s\n", mode,
           o->rc == 0 ? "image" : meme_code_name(o->rc), o->seconds, o->st.attempts,
           o->st.waited_ms, o->rc ? ": " : "", o->rc ? o->err.msg : "");
}

static void test_client_success_and_waits(void **state)
{
    enum hf_fixture_step png[] = {HF_FX_PNG};
    struct outcome o = run(TOKEN, png, 1, 0, 10000, NULL);
    report("png", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(image_sniff(o.data, o.len), IMAGE_PNG);
    char model[256];
    hf_fixture_last_model(fx, model, sizeof(model));
    assert_string_equal(model, "black-forest-labs/FLUX.1-schnell");
    free(o.data);

    /* 503 "loading" with estimated_time: waits that long, then succeeds. */
    enum hf_fixture_step loading[] = {HF_FX_LOADING, HF_FX_LOADING, HF_FX_JPEG};
    o = run(TOKEN, loading, 3, 0.4, 10000, NULL);
    report("503 loading x2", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.st.attempts, 3);
    assert_true(o.st.waited_ms >= 800);
    assert_true(progress_calls > 4);
    assert_int_equal(image_sniff(o.data, o.len), IMAGE_JPEG);
    free(o.data);

    /* 429 with Retry-After: 1. */
    enum hf_fixture_step limited[] = {HF_FX_RATE_LIMITED, HF_FX_PNG};
    o = run(TOKEN, limited, 2, 1, 10000, NULL);
    report("429 retry-after 1", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.st.attempts, 2);
    assert_true(o.st.waited_ms >= 1000);
    free(o.data);

    /* 5xx twice, then fine. */
    enum hf_fixture_step flaky[] = {HF_FX_SERVER_ERROR, HF_FX_SERVER_ERROR, HF_FX_PNG};
    o = run(TOKEN, flaky, 3, 0, 10000, NULL);
    report("500 x2", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.st.attempts, 3);
    free(o.data);
}

static void test_client_failure_modes(void **state)
{
    struct outcome o;
    enum hf_fixture_step s500[] = {HF_FX_SERVER_ERROR};
    o = run(TOKEN, s500, 1, 0, 10000, NULL);
    report("500 always", &o);
    assert_int_equal(o.rc, MEME_E_RENDER);
    assert_int_equal(o.st.attempts, 4);
    assert_non_null(strstr(o.err.msg, "HTTP 500"));
    assert_true(o.seconds < 5);

    enum hf_fixture_step garbage[] = {HF_FX_GARBAGE};
    o = run(TOKEN, garbage, 1, 0, 10000, NULL);
    report("200 not an image", &o);
    assert_int_equal(o.rc, MEME_E_RENDER);
    assert_non_null(strstr(o.err.msg, "not a PNG or JPEG"));
    assert_null(strchr(o.err.msg, 0x1b));

    enum hf_fixture_step hang[] = {HF_FX_HANG};
    o = run(TOKEN, hang, 1, 0, 1500, NULL);
    report("no answer", &o);
    assert_int_equal(o.rc, MEME_E_TIMEOUT);
    assert_true(o.seconds < 4);

    /* Loading for longer than the deadline allows: fails now, not later. */
    enum hf_fixture_step long_load[] = {HF_FX_LOADING};
    o = run(TOKEN, long_load, 1, 100, 1500, NULL);
    report("503 loading 100 s", &o);
    assert_int_equal(o.rc, MEME_E_RENDER);
    assert_non_null(strstr(o.err.msg, "currently loading"));
    assert_true(o.seconds < 2);

    enum hf_fixture_step png[] = {HF_FX_PNG};
    o = run("hf_wrong", png, 1, 0, 10000, NULL);
    report("wrong token", &o);
    assert_int_equal(o.rc, MEME_E_REFUSED);
    assert_int_equal(o.st.attempts, 1);
    assert_non_null(strstr(o.err.msg, "HTTP 401"));
    assert_non_null(strstr(o.err.msg, "HF_API_TOKEN"));
    assert_null(strstr(o.err.msg, "hf_wrong"));
    assert_int_equal(hf_fixture_unauthorized(fx), 1);

    /* A server that quotes the token back: the message shows "***". */
    enum hf_fixture_step echo[] = {HF_FX_ECHO_AUTH};
    o = run(TOKEN, echo, 1, 0, 1500, NULL);
    report("500 quoting the token", &o);
    assert_int_equal(o.rc, MEME_E_RENDER);
    assert_non_null(strstr(o.err.msg, "Authorization: Bearer ***"));

    /* 403 and 404: refused at once, one call each; a redirect is not followed. */
    enum hf_fixture_step forbidden[] = {HF_FX_FORBIDDEN};
    o = run(TOKEN, forbidden, 1, 0, 10000, NULL);
    report("403 forbidden", &o);
    assert_int_equal(o.rc, MEME_E_REFUSED);
    assert_int_equal(o.st.attempts, 1);
    enum hf_fixture_step missing[] = {HF_FX_NOT_FOUND};
    o = run(TOKEN, missing, 1, 0, 10000, NULL);
    report("404 no such model", &o);
    assert_int_equal(o.rc, MEME_E_REFUSED);
    assert_int_equal(o.st.attempts, 1);
    enum hf_fixture_step moved[] = {HF_FX_REDIRECT};
    o = run(TOKEN, moved, 1, 0, 10000, NULL);
    report("302 redirect", &o);
    assert_int_equal(o.rc, MEME_E_REFUSED);
    assert_int_equal(o.st.attempts, 1);
    assert_int_equal(hf_fixture_requests(fx), 1);
    assert_non_null(strstr(o.err.msg, "HTTP 302"));
    assert_non_null(strstr(o.err.msg, "not followed"));
    /* 408 is the server's timeout: tried again. */
    enum hf_fixture_step slow[] = {HF_FX_REQUEST_TIMEOUT, HF_FX_PNG};
    o = run(TOKEN, slow, 2, 0, 10000, NULL);
    report("408 then image", &o);
    assert_int_equal(o.rc, 0);
    assert_int_equal(o.st.attempts, 2);
    free(o.data);

    enum hf_fixture_step bad_input[] = {HF_FX_BAD_INPUT};
    o = run(TOKEN, bad_input, 1, 0, 10000, NULL);
    report("400 bad input", &o);
    assert_int_equal(o.rc, MEME_E_BAD_REQUEST);
    assert_int_equal(o.st.attempts, 1);

    /* The worker is stopping: a wait is cut short. */
    enum hf_fixture_step loading[] = {HF_FX_LOADING};
    stop_after_calls = 5;
    o = run(TOKEN, loading, 1, 10, 20000, NULL);
    stop_after_calls = 0;
    report("cancelled while waiting", &o);
    assert_int_equal(o.rc, MEME_E_SHUTTING_DOWN);
    assert_true(o.seconds < 2);

    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", harness_free_port());
    o = run(TOKEN, png, 1, 0, 60000, url);
    report("nothing listening", &o);
    /* A few quick tries, not the whole deadline. */
    assert_int_equal(o.rc, MEME_E_UNREACHABLE);
    assert_true(o.st.attempts > 1);
    assert_true(o.seconds < 10);

    struct meme_err err = {0};
    struct hf_opts bad = {.base_url = "ftp://x", .token = TOKEN};
    assert_null(hf_client_new(&bad, &err));
    struct hf_opts none = {.base_url = NULL, .token = ""};
    assert_null(hf_client_new(&none, &err));
}

static void test_worker_with_hf_engine(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    char *token_file = xasprintf("%s/token", scratch);
    FILE *f = fopen(token_file, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    assert_int_equal(chmod(token_file, 0600), 0);
    char *url_env = xasprintf("HF_API_URL=%s", hf_fixture_url(fx));
    char *env[] = {url_env, "HF_API_TOKEN", NULL};
    char *log = xasprintf("%s/hf-w.log", scratch);
    pid_t w = wt_worker(nats.url, scratch, "hf-w", 1, env, "--hf-token-file", token_file,
                        "--concurrency", "2", NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "t.hf"), 0);

    /* Loading once, then an image: the meme comes back from engine hf at the
     * requested size. */
    enum hf_fixture_step steps[] = {HF_FX_LOADING, HF_FX_PNG};
    hf_fixture_script(fx, steps, 2, 0.3);
    double t0 = wt_now_s();
    assert_int_equal(tally_publish(&t, "hf", 0, 1, ",\"engine\":\"hf\",\"size\":128"), 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 20000), 1);
    printf("figures: hf end to end (503 then image): %.2f s, %d API requests\n", wt_now_s() - t0,
           hf_fixture_requests(fx));
    assert_int_equal(hf_fixture_requests(fx), 2);
    char model[256];
    hf_fixture_last_model(fx, model, sizeof(model));
    assert_string_equal(model, HF_DEFAULT_FAST_MODEL);

    /* A large image uses the quality model. */
    enum hf_fixture_step png[] = {HF_FX_JPEG};
    hf_fixture_script(fx, png, 1, 0);
    assert_int_equal(tally_publish(&t, "hf", 1, 1, ",\"engine\":\"hf\",\"size\":1024"), 0);
    assert_int_equal(tally_wait(&t, NULL, 1, 1, 20000), 1);
    hf_fixture_last_model(fx, model, sizeof(model));
    assert_string_equal(model, HF_DEFAULT_MODEL);

    /* Bytes that claim to be PNG but do not decode: retried, then answered
     * with render_failed; the worker keeps serving. */
    enum hf_fixture_step bad[] = {HF_FX_BAD_IMAGE};
    hf_fixture_script(fx, bad, 1, 0);
    t0 = wt_now_s();
    assert_int_equal(tally_publish(&t, "hf", 2, 1, ",\"engine\":\"hf\",\"size\":64"), 0);
    double dl = wt_now_s() + 40;
    int errors = 0;
    while (wt_now_s() < dl) {
        pthread_mutex_lock(&t.lock);
        errors = t.errors[2];
        pthread_mutex_unlock(&t.lock);
        if (errors)
            break;
        wt_sleep_ms(50);
    }
    printf("figures: hf undecodable image: error after %.2f s and %d API requests\n",
           wt_now_s() - t0, hf_fixture_requests(fx));
    assert_int_equal(errors, 1);
    assert_string_equal(t.codes[2], "render_failed");
    assert_int_equal(hf_fixture_requests(fx), 5);

    /* The local engine is still there. */
    assert_int_equal(tally_publish(&t, "hf", 3, 1, ",\"size\":64"), 0);
    assert_int_equal(tally_wait(&t, NULL, 3, 1, 20000), 1);

    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    /* The token never reaches the log. */
    FILE *lf = fopen(log, "r");
    assert_non_null(lf);
    char line[4096];
    while (fgets(line, sizeof(line), lf)) {
        assert_null(strstr(line, "fixtureTOKEN"));
        /* a file only its owner can read draws no warning */
        assert_null(strstr(line, "readable by group or others"));
    }
    fclose(lf);
    harness_stop(&nats);
    free(log);
    free(url_env);
    free(token_file);
}

/* A Hugging Face wait longer than the consumer's ack wait (the default one,
 * as the worker makes it): in-progress acks keep the job with its worker, so
 * the request is not redelivered and made twice meanwhile. */
static void test_in_progress_acks_keep_a_long_job(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    char *url_env = xasprintf("HF_API_URL=%s", hf_fixture_url(fx));
    char *env[] = {url_env, "HF_API_TOKEN=" TOKEN, NULL};
    pid_t w = wt_worker(nats.url, scratch, "slow-w", 1, env, "--concurrency", "2", NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "t.slow"), 0);
    enum hf_fixture_step steps[] = {HF_FX_LOADING, HF_FX_LOADING, HF_FX_LOADING, HF_FX_PNG};
    hf_fixture_script(fx, steps, 4, 2.2);
    double t0 = wt_now_s();
    assert_int_equal(tally_publish(&t, "slow", 0, 1, ",\"engine\":\"hf\",\"size\":64"), 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 20000), 1);
    double took = wt_now_s() - t0;
    wt_sleep_ms(2000);
    struct mq_depth d;
    assert_int_equal(wt_depth(nats.url, &d), 0);
    printf("figures: hf long job: answered after %.2f s with a %.1f s ack wait, %d API "
           "requests, %d replies\n",
           took, PROTO_ACK_WAIT_MS / 1000.0, hf_fixture_requests(fx), t.ok[0] + t.errors[0]);
    assert_true(took > PROTO_ACK_WAIT_MS / 1000.0);
    assert_int_equal(hf_fixture_requests(fx), 4);
    assert_int_equal(tally_duplicates(&t, 0, 1), 0);
    assert_int_equal(d.lag, 0);
    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
    free(url_env);
}

/* SIGTERM while a job waits on a Hugging Face request that never answers:
 * at --drain-timeout the wait is cut short, the job naked, the worker exits
 * 0, and the next worker makes the meme. */
static void test_drain_deadline_hands_back_a_hung_job(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    char *url_env = xasprintf("HF_API_URL=%s", hf_fixture_url(fx));
    char *env[] = {url_env, "HF_API_TOKEN=" TOKEN, NULL};
    pid_t a = wt_worker(nats.url, scratch, "drain-a", 1, env, "--drain-timeout", "1", NULL);
    assert_true(a > 0);
    assert_int_equal(tally_open(&t, nats.url, "t.drain"), 0);
    enum hf_fixture_step steps[] = {HF_FX_HANG, HF_FX_PNG};
    hf_fixture_script(fx, steps, 2, 0);
    assert_int_equal(tally_publish(&t, "drain", 0, 1, ",\"engine\":\"hf\",\"size\":64"), 0);
    double t0 = wt_now_s();
    while (hf_fixture_requests(fx) < 1 && wt_now_s() - t0 < 10)
        wt_sleep_ms(20);
    assert_int_equal(hf_fixture_requests(fx), 1);
    double t_term = wt_now_s();
    int rc = wt_term(a, 15000);
    double stop_s = wt_now_s() - t_term;
    assert_int_equal(rc, 0);
    assert_int_equal(tally_answered(&t, 0, 1), 0);
    pid_t b = wt_worker(nats.url, scratch, "drain-b", 1, env, NULL);
    assert_true(b > 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 20000), 1);
    printf("figures: drain deadline: exit %d after %.2f s with a hung job, answered by the "
           "next worker %.2f s after the signal\n",
           rc, stop_s, wt_now_s() - t_term);
    assert_true(stop_s < 10);
    assert_int_equal(hf_fixture_requests(fx), 2);
    tally_close(&t);
    assert_int_equal(wt_term(b, 20000), 0);
    harness_stop(&nats);
    free(url_env);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* GETs url into out (NUL-terminated); the HTTP status, or -1. */
static long http_get(const char *url, struct buf *out)
{
    CURL *c = curl_easy_init();
    long status = -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    buf_putc(out, '\0');
    return status;
}

/* Every header value and the data of each message on sub, as text. */
static int drain_msgs(natsSubscription *sub, struct buf *into, int want, int timeout_ms)
{
    int got = 0;
    double deadline = wt_now_s() + timeout_ms / 1000.0;
    while (got < want && wt_now_s() < deadline) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, sub, 200) != NATS_OK)
            continue;
        const char **keys = NULL;
        int nkeys = 0;
        if (natsMsgHeader_Keys(m, &keys, &nkeys) == NATS_OK) {
            for (int i = 0; i < nkeys; i++) {
                const char *v = NULL;
                if (natsMsgHeader_Get(m, keys[i], &v) == NATS_OK && v) {
                    buf_puts(into, keys[i]);
                    buf_puts(into, ": ");
                    buf_puts(into, v);
                    buf_putc(into, '\n');
                }
            }
            free((void *)keys);
        }
        buf_append(into, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
        buf_putc(into, '\n');
        natsMsg_Destroy(m);
        got++;
    }
    buf_putc(into, '\0');
    into->len--;
    return got;
}

/* A worker holding a token, against a model host that fails and quotes the
 * token back in its error text: the token is in none of the worker's log,
 * its error replies, its done events or its /metrics; and a token file
 * others can read draws a warning. */
static void test_worker_keeps_the_token_secret(void **state)
{
    struct harness_server nats;
    assert_int_equal(harness_nats_start(&nats), 0);
    char *token_file = xasprintf("%s/token-0644", scratch);
    FILE *f = fopen(token_file, "w");
    assert_non_null(f);
    fputs(TOKEN "\n", f);
    fclose(f);
    assert_int_equal(chmod(token_file, 0644), 0);

    natsConnection *nc = NULL;
    natsSubscription *replies = NULL, *events = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, nats.url), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&replies, nc, "_INBOX.t.sec.*"), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&events, nc, PROTO_SUBJECT_EVENTS), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);

    char addr[32], *url_env = xasprintf("HF_API_URL=%s", hf_fixture_url(fx));
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    char *env[] = {url_env, "HF_API_TOKEN", "HF_API_TOKEN_FILE", NULL};
    pid_t w = wt_worker(nats.url, scratch, "sec-w", 1, env, "--hf-token-file", token_file,
                        "--hf-timeout", "2", "--http", addr, "--concurrency", "2", NULL);
    assert_true(w > 0);

    enum hf_fixture_step echo[] = {HF_FX_ECHO_AUTH};
    hf_fixture_script(fx, echo, 1, 0);
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    for (int i = 0; i < 2; i++) {
        char *json = xasprintf("{\"id\":\"sec-%d\",\"prompt\":\"a cat | in a hat\","
                               "\"reply\":\"_INBOX.t.sec.%d\",\"engine\":\"hf\",\"size\":64}",
                               i, i);
        jsPubAck *ack = NULL;
        assert_int_equal(
            js_Publish(&ack, js, PROTO_SUBJECT_REQUEST, json, (int)strlen(json), NULL, NULL),
            NATS_OK);
        jsPubAck_Destroy(ack);
        free(json);
    }

    /* Both requests fail (each within the 2 s deadline, plus any retry). */
    struct buf rtext = BUF_INIT, etext = BUF_INIT, metrics = BUF_INIT;
    assert_int_equal(drain_msgs(replies, &rtext, 2, 40000), 2);
    assert_int_equal(drain_msgs(events, &etext, 2, 10000), 2);
    printf("figures: token check: %d API requests for 2 failed jobs\n", hf_fixture_requests(fx));
    /* The failure did reach both: the host's text is there, the token not. */
    assert_non_null(strstr((char *)rtext.data, "Authorization: Bearer ***"));
    assert_non_null(strstr((char *)etext.data, "\"failed\""));
    assert_null(strstr((char *)rtext.data, "fixtureTOKEN"));
    assert_null(strstr((char *)etext.data, "fixtureTOKEN"));

    char *murl = xasprintf("http://%s/metrics", addr);
    assert_int_equal(http_get(murl, &metrics), 200);
    assert_non_null(strstr((char *)metrics.data, "# TYPE"));
    assert_null(strstr((char *)metrics.data, "fixtureTOKEN"));
    /* Non-dumpable: its /proc entries belong to root, not to the user that
     * started it (which only shows when that user is not root). */
    char *proc = xasprintf("/proc/%d/status", (int)w);
    struct stat pst;
    assert_int_equal(stat(proc, &pst), 0);
    if (getuid() != 0)
        assert_int_equal(pst.st_uid, 0);
    else
        printf("running as root: the non-dumpable check needs another user\n");
    free(proc);

    assert_int_equal(wt_term(w, 20000), 0);
    char *log = xasprintf("%s/sec-w.log", scratch);
    struct buf ltext = BUF_INIT;
    FILE *lf = fopen(log, "r");
    assert_non_null(lf);
    char line[4096];
    int warnings = 0;
    while (fgets(line, sizeof(line), lf)) {
        buf_puts(&ltext, line);
        warnings += strstr(line, "readable by group or others") != NULL;
    }
    fclose(lf);
    buf_putc(&ltext, '\0');
    assert_int_equal(warnings, 1);
    assert_null(strstr((char *)ltext.data, "fixtureTOKEN"));

    jsCtx_Destroy(js);
    natsSubscription_Destroy(replies);
    natsSubscription_Destroy(events);
    natsConnection_Close(nc);
    natsConnection_Destroy(nc);
    harness_stop(&nats);
    buf_release(&rtext);
    buf_release(&etext);
    buf_release(&metrics);
    buf_release(&ltext);
    free(murl);
    free(log);
    free(url_env);
    free(token_file);
}

/* memectl gen against a worker whose Hugging Face host is unreachable: a
 * few quick tries, then a final `unreachable` that says why, with the
 * worker's progress on stderr meanwhile (and none with --quiet). And a
 * 401: one call, final, no redelivery. */
static void test_gen_says_why_it_waits_and_fails(void **state)
{
    struct harness_server nats;
    assert_int_equal(harness_nats_start(&nats), 0);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", harness_free_port());
    char *url_env = xasprintf("HF_API_URL=%s", url);
    char *env[] = {url_env, "HF_API_TOKEN=" TOKEN, NULL};
    pid_t w = wt_worker(nats.url, scratch, "gone-w", 1, env, NULL);
    assert_true(w > 0);

    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = harness_bin("memectl");
    char *argv[] = {bin,
                    "-s",
                    nats.url,
                    "gen",
                    "--engine",
                    "hf",
                    "--display",
                    "none",
                    "-o",
                    "/dev/null",
                    "a cat | unreachable",
                    NULL};
    double t0 = wt_now_s();
    int rc = harness_run(argv, NULL, &out, &err, 20000);
    double took = wt_now_s() - t0;
    buf_putc(&err, '\0');
    printf("memectl stderr:\n%s", (char *)err.data);
    printf("figures: hf unreachable: memectl exit %d after %.2f s\n", rc, took);
    assert_int_equal(rc, 1);
    assert_non_null(strstr((char *)err.data, "(unreachable)"));
    assert_non_null(strstr((char *)err.data, "cannot reach Hugging Face at"));
    /* Why it waited, as plain lines (stderr is not a terminal here). */
    assert_non_null(strstr((char *)err.data, "working on gone-w"));
    assert_non_null(strstr((char *)err.data, "retrying on gone-w: Hugging Face:"));
    assert_null(strchr((char *)err.data, '\r'));
    assert_null(strstr((char *)err.data, "fixtureTOKEN"));
    struct mq_depth d;
    assert_int_equal(wt_depth(nats.url, &d), 0);
    assert_int_equal(d.redelivered, 0);

    /* --quiet: the error only. */
    buf_release(&err);
    buf_release(&out);
    char *qargv[] = {bin,  "-q",        "-s",   nats.url, "gen",       "--engine",
                     "hf", "--display", "none", "-o",     "/dev/null", "quiet | please",
                     NULL};
    rc = harness_run(qargv, NULL, &out, &err, 20000);
    buf_putc(&err, '\0');
    assert_int_equal(rc, 1);
    assert_null(strstr((char *)err.data, "retrying"));
    assert_non_null(strstr((char *)err.data, "(unreachable)"));
    assert_int_equal(wt_term(w, 20000), 0);

    /* A token the API refuses: one call, a final answer, nothing redelivered. */
    char *fx_env = xasprintf("HF_API_URL=%s", hf_fixture_url(fx));
    char *env2[] = {fx_env, "HF_API_TOKEN=hf_refused", NULL};
    w = wt_worker(nats.url, scratch, "refused-w", 1, env2, NULL);
    assert_true(w > 0);
    enum hf_fixture_step png[] = {HF_FX_PNG};
    hf_fixture_script(fx, png, 1, 0);
    buf_release(&err);
    buf_release(&out);
    char *argv2[] = {bin,         "-s",   nats.url, "gen",       "--engine",        "hf",
                     "--display", "none", "-o",     "/dev/null", "a cat | refused", NULL};
    t0 = wt_now_s();
    rc = harness_run(argv2, NULL, &out, &err, 20000);
    took = wt_now_s() - t0;
    buf_putc(&err, '\0');
    wt_sleep_ms(PROTO_ACK_WAIT_MS + 1000); /* nothing comes back for another try */
    assert_int_equal(wt_depth(nats.url, &d), 0);
    printf("memectl stderr:\n%s", (char *)err.data);
    printf("figures: hf 401: memectl exit %d after %.2f s, %d API call(s) (%d refused), "
           "redelivered %lld\n",
           rc, took, hf_fixture_requests(fx) + hf_fixture_unauthorized(fx),
           hf_fixture_unauthorized(fx), (long long)d.redelivered);
    assert_int_equal(rc, 1);
    assert_non_null(strstr((char *)err.data, "(engine_refused)"));
    assert_non_null(strstr((char *)err.data, "HTTP 401"));
    assert_int_equal(hf_fixture_unauthorized(fx), 1);
    assert_int_equal(d.redelivered, 0);
    assert_int_equal(d.lag, 0);
    assert_int_equal(wt_term(w, 20000), 0);

    buf_release(&out);
    buf_release(&err);
    free(bin);
    free(url_env);
    free(fx_env);
    harness_stop(&nats);
}

static void test_worker_refuses_hf_without_token(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bin = harness_bin("meme-worker");
    char *argv[] = {bin, "--engine", "hf", NULL};
    char *env[] = {"HF_API_TOKEN", "HF_API_TOKEN_FILE", NULL};
    assert_int_equal(harness_run(argv, env, &out, &err, 10000), 2);
    buf_putc(&err, '\0');
    assert_non_null(strstr((char *)err.data, "needs a token"));
    free(bin);
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_success_and_waits),
        cmocka_unit_test(test_client_failure_modes),
        cmocka_unit_test(test_worker_with_hf_engine),
        cmocka_unit_test(test_in_progress_acks_keep_a_long_job),
        cmocka_unit_test(test_drain_deadline_hands_back_a_hung_job),
        cmocka_unit_test(test_worker_keeps_the_token_secret),
        cmocka_unit_test(test_gen_says_why_it_waits_and_fails),
        cmocka_unit_test(test_worker_refuses_hf_without_token),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
