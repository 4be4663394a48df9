/*
 * State that vanishes (docs/security.md, "Lost state"): nats-server stopped,
 * its store wiped and started again empty on the same port, or the stream
 * and bucket deleted by an operator. Worker and gateway, with the settings
 * they give themselves, recreate the stream, consumer and bucket and serve
 * memes again; they log the disconnect, the reconnect and what they made;
 * /readyz says no while they cannot serve; a worker that cannot fetch fails
 * /healthz after --stall-timeout; and the Redis gauge follows Redis while
 * the worker is idle. Each test prints how long recovery took.
 */
#include "worker_common.h"

#include <curl/curl.h>

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define RECOVERY_LIMIT_S 60 /* a deadline for the test, not the goal (10 s) */

static char *scratch;

static int setup(void **state)
{
    scratch = harness_tmpdir("lost");
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

/* A GET or a POST (body not NULL) to http://addr/path; the status, or 0 when
 * nothing answered. The body is in out when given. */
static long http(const char *addr, const char *path, const char *body, struct buf *out)
{
    struct buf b = BUF_INIT;
    char *url = xasprintf("http://%s%s", addr, path);
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    free(url);
    buf_putc(&b, '\0');
    b.len--;
    if (out) {
        buf_release(out);
        *out = b;
    } else {
        buf_release(&b);
    }
    return status;
}

static double metric(const char *addr, const char *name)
{
    struct buf b = BUF_INIT;
    double v = -1;
    if (http(addr, "/metrics", NULL, &b) == 200) {
        char *want = xasprintf("\n%s ", name);
        const char *p = strstr((char *)b.data, want);
        if (p)
            v = strtod(p + strlen(want), NULL);
        free(want);
    }
    buf_release(&b);
    return v;
}

static bool log_has(const char *name, const char *needle)
{
    char *path = xasprintf("%s/%s", scratch, name);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return false;
    char line[2048];
    bool has = false;
    while (!has && fgets(line, sizeof(line), f))
        has = strstr(line, needle) != NULL;
    fclose(f);
    return has;
}

/* Sends request i (a new id each time) until one is answered with a meme;
 * the seconds that took, or -1 past RECOVERY_LIMIT_S. */
static double seconds_to_next_meme(struct tally *t, const char *tag, int *next)
{
    double t0 = wt_now_s();
    while (wt_now_s() - t0 < RECOVERY_LIMIT_S) {
        int i = (*next)++;
        /* The publish fails at once while no stream stores meme.request. */
        if (tally_publish(t, tag, i, 1, "") == 0 && tally_wait(t, NULL, i, 1, 3000) == 1)
            return wt_now_s() - t0;
        wt_sleep_ms(250);
    }
    return -1;
}

static void test_worker_heals_empty_broker(void **state)
{
    struct harness_server nats;
    struct tally t;
    char addr[32];
    int next = 0;
    assert_int_equal(harness_nats_start(&nats), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    pid_t w = wt_worker(nats.url, scratch, "heal-w", 1, NULL, "--http", addr, NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "heal"), 0);
    assert_true(seconds_to_next_meme(&t, "heal", &next) >= 0);
    assert_int_equal(http(addr, "/readyz", NULL, NULL), 200);

    /* The broker goes away: not ready (but alive, within --stall-timeout). */
    harness_stop(&nats);
    double t_down = wt_now_s();
    long ready = 200;
    while (ready == 200 && wt_now_s() - t_down < 10) {
        ready = http(addr, "/readyz", NULL, NULL);
        wt_sleep_ms(100);
    }
    long alive = http(addr, "/healthz", NULL, NULL);
    printf("figures: lost state: broker stopped: /readyz %ld after %.1f s, /healthz %ld\n", ready,
           wt_now_s() - t_down, alive);
    assert_int_equal(ready, 503);
    assert_int_equal(alive, 200);

    /* It comes back empty: a fresh server on the same port, store wiped. */
    assert_int_equal(harness_nats_restart(&nats, true), 0);
    double secs = seconds_to_next_meme(&t, "heal", &next);
    printf("figures: lost state: worker: %.1f s from an empty broker to the next meme\n", secs);
    assert_true(secs >= 0);
    assert_int_equal(http(addr, "/readyz", NULL, NULL), 200);
    assert_true(log_has("heal-w.log", "disconnected from NATS"));
    assert_true(log_has("heal-w.log", "reconnected to NATS"));
    assert_true(log_has("heal-w.log", "recreated what was missing"));

    /* An operator deletes the stream and the bucket. */
    assert_int_equal(js_DeleteStream(t.js, PROTO_STREAM, NULL, NULL), NATS_OK);
    assert_int_equal(js_DeleteStream(t.js, "KV_" PROTO_RESULTS_BUCKET, NULL, NULL), NATS_OK);
    secs = seconds_to_next_meme(&t, "heal", &next);
    printf("figures: lost state: worker: %.1f s from a deleted stream and bucket to the next "
           "meme\n",
           secs);
    assert_true(secs >= 0);
    /* The budget came back with them. */
    jsStreamInfo *si = NULL;
    assert_int_equal(js_GetStreamInfo(&si, t.js, PROTO_STREAM, NULL, NULL), NATS_OK);
    assert_true(si->Config->MaxBytes > 0);
    assert_int_equal(si->Config->Discard, js_DiscardNew);
    jsStreamInfo_Destroy(si);
    assert_true(metric(addr, "meme_worker_nats_connected") == 1);

    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

static pid_t start_gateway(const char *nats_url, char *addr, size_t addrsz)
{
    char *bin = harness_bin("meme-gateway");
    char *log = xasprintf("%s/gateway.log", scratch);
    snprintf(addr, addrsz, "127.0.0.1:%d", harness_free_port());
    char *argv[] = {bin, "--listen", addr, "--nats", (char *)nats_url, "--id", "lost-gw", NULL};
    pid_t pid = harness_spawn(argv, NULL, log);
    free(bin);
    free(log);
    double t0 = wt_now_s();
    while (pid > 0 && http(addr, "/readyz", NULL, NULL) != 200) {
        if (wt_now_s() - t0 > 20) {
            harness_failed();
            return -1;
        }
        wt_sleep_ms(100);
    }
    return pid;
}

/* POSTs memes until one comes back; the seconds that took, or -1. */
static double seconds_to_posted_meme(const char *addr, long *last)
{
    double t0 = wt_now_s();
    struct buf b = BUF_INIT;
    while (wt_now_s() - t0 < RECOVERY_LIMIT_S) {
        *last = http(addr, "/api/v1/memes", "{\"prompt\":\"back | again\",\"size\":64}", &b);
        if (*last == 200 && image_sniff(b.data, b.len) >= 0) {
            buf_release(&b);
            return wt_now_s() - t0;
        }
        wt_sleep_ms(250);
    }
    buf_release(&b);
    return -1;
}

static void test_gateway_heals_empty_broker(void **state)
{
    struct harness_server nats;
    char gw[32];
    long last = 0;
    assert_int_equal(harness_nats_start(&nats), 0);
    pid_t w = wt_worker(nats.url, scratch, "gw-heal-w", 1, NULL, NULL);
    assert_true(w > 0);
    pid_t g = start_gateway(nats.url, gw, sizeof(gw));
    assert_true(g > 0);
    assert_true(seconds_to_posted_meme(gw, &last) >= 0);

    harness_stop(&nats);
    double t_down = wt_now_s();
    long ready = 200;
    while (ready == 200 && wt_now_s() - t_down < 10) {
        ready = http(gw, "/readyz", NULL, NULL);
        wt_sleep_ms(100);
    }
    assert_int_equal(ready, 503);
    assert_int_equal(harness_nats_restart(&nats, true), 0);
    double secs = seconds_to_posted_meme(gw, &last);
    printf("figures: lost state: gateway: %.1f s from an empty broker to the next POSTed meme "
           "(last status %ld)\n",
           secs, last);
    assert_true(secs >= 0);
    assert_int_equal(http(gw, "/readyz", NULL, NULL), 200);
    assert_true(log_has("gateway.log", "disconnected from NATS"));
    assert_true(log_has("gateway.log", "reconnected to NATS"));

    assert_int_equal(harness_kill(g, 10000) >= 0, 1);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

static void test_worker_that_cannot_fetch_fails_liveness(void **state)
{
    struct harness_server nats;
    char addr[32];
    assert_int_equal(harness_nats_start(&nats), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    /* The limit under test, shortened from its 60 s default. */
    pid_t w = wt_worker(nats.url, scratch, "live-w", 1, NULL, "--http", addr, "--stall-timeout",
                        "3", NULL);
    assert_true(w > 0);
    assert_int_equal(http(addr, "/healthz", NULL, NULL), 200);
    harness_stop(&nats);
    double t0 = wt_now_s();
    long status = 200;
    while (status == 200 && wt_now_s() - t0 < 30) {
        wt_sleep_ms(200);
        status = http(addr, "/healthz", NULL, NULL);
    }
    double failed_after = wt_now_s() - t0;
    struct buf body = BUF_INIT;
    http(addr, "/healthz", NULL, &body);
    assert_int_equal(harness_nats_restart(&nats, false), 0);
    t0 = wt_now_s();
    long again = 0;
    while (again != 200 && wt_now_s() - t0 < 30) {
        wt_sleep_ms(200);
        again = http(addr, "/healthz", NULL, NULL);
    }
    printf("figures: liveness: /healthz %ld %.1f s after the broker went (--stall-timeout 3), "
           "%ld %.1f s after it came back\n",
           status, failed_after, again, wt_now_s() - t0);
    assert_int_equal(status, 503);
    assert_non_null(strstr((char *)body.data, "no working fetch"));
    assert_int_equal(again, 200);
    buf_release(&body);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&nats);
}

static void test_redis_gauge_follows_redis_while_idle(void **state)
{
    struct harness_server nats, redis;
    struct tally t;
    char addr[32];
    assert_int_equal(harness_nats_start(&nats), 0);
    assert_int_equal(harness_redis_start(&redis), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    pid_t w = wt_worker(nats.url, scratch, "redis-w", 1, NULL, "--http", addr, "--redis", redis.url,
                        NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "gauge"), 0);

    /* Redis goes: a meme made meanwhile sees it. */
    harness_stop(&redis);
    assert_int_equal(tally_publish(&t, "gauge", 0, 1, ""), 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 1, 30000), 1);
    double down = metric(addr, "meme_worker_redis_up");
    /* Redis comes back; no request arrives. */
    assert_int_equal(harness_redis_restart(&redis), 0);
    double t0 = wt_now_s();
    double up = down;
    while (up != 1 && wt_now_s() - t0 < 40) {
        wt_sleep_ms(250);
        up = metric(addr, "meme_worker_redis_up");
    }
    printf("figures: redis gauge: %.0f while Redis was down, %.0f %.1f s after it came back "
           "(idle worker)\n",
           down, up, wt_now_s() - t0);
    assert_true(down == 0);
    assert_true(up == 1);
    assert_true(log_has("redis-w.log", "cache available again"));

    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&redis);
    harness_stop(&nats);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_heals_empty_broker),
        cmocka_unit_test(test_gateway_heals_empty_broker),
        cmocka_unit_test(test_worker_that_cannot_fetch_fails_liveness),
        cmocka_unit_test(test_redis_gauge_follows_redis_while_idle),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
