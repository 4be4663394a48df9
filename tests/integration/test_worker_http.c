/*
 * What meme-worker tells operators: /metrics (checked by promtool when it
 * is installed), /healthz and /readyz over real HTTP, heartbeats on
 * meme.workers.heartbeat and one summary event per finished meme on
 * meme.events.done, with the fields docs/protocol.md lists.
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
    scratch = harness_tmpdir("whttp");
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

/* GETs (or POSTs) url; returns the HTTP status, body in out, content type in ct. */
static long http(const char *method, const char *url, struct buf *out, char *ct, size_t ctsz)
{
    CURL *c = curl_easy_init();
    long status = -1;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        char *type = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &type);
        if (ct)
            snprintf(ct, ctsz, "%s", type ? type : "");
    }
    curl_easy_cleanup(c);
    buf_putc(out, '\0');
    out->len--;
    return status;
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

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(text, line); p; p = strstr(p + 1, line))
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

static void test_metrics_health_heartbeat_events(void **state)
{
    struct harness_server nats;
    struct tally t;
    natsSubscription *beats = NULL, *events = NULL;
    assert_int_equal(harness_nats_start(&nats), 0);
    char addr[32], base[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", harness_free_port());
    snprintf(base, sizeof(base), "http://%s", addr);
    assert_int_equal(tally_open(&t, nats.url, "t.http"), 0);
    assert_int_equal(natsConnection_SubscribeSync(&beats, t.nc, PROTO_SUBJECT_HEARTBEAT), NATS_OK);
    assert_int_equal(natsConnection_SubscribeSync(&events, t.nc, PROTO_SUBJECT_EVENTS), NATS_OK);
    natsConnection_Flush(t.nc);
    pid_t w =
        wt_worker(nats.url, scratch, "http-w", 1, NULL, "--http", addr, "--concurrency", "3", NULL);
    assert_true(w > 0);

    /* The first heartbeat goes out at start. */
    json_t *hb = next_json(beats, 7000);
    assert_non_null(hb);
    assert_string_equal(json_string_value(json_object_get(hb, "id")), "http-w");
    assert_non_null(json_string_value(json_object_get(hb, "version")));
    assert_int_equal(json_integer_value(json_object_get(hb, "protocol")), PROTO_VERSION);
    assert_int_equal(json_integer_value(json_object_get(hb, "concurrency")), 3);
    assert_true(json_is_integer(json_object_get(hb, "in_flight")));
    assert_true(json_is_integer(json_object_get(hb, "done")));
    assert_true(json_is_real(json_object_get(hb, "cache_hit_ratio")));
    json_decref(hb);

    assert_int_equal(tally_publish(&t, "http", 0, 3, ",\"size\":64"), 0);
    assert_int_equal(tally_wait(&t, NULL, 0, 3, 20000), 3);
    for (int i = 0; i < 3; i++) {
        json_t *ev = next_json(events, 5000);
        assert_non_null(ev);
        const char *id = json_string_value(json_object_get(ev, "id"));
        assert_non_null(id);
        assert_int_equal(strncmp(id, "http-", 5), 0);
        assert_string_equal(json_string_value(json_object_get(ev, "status")), "done");
        assert_non_null(strstr(json_string_value(json_object_get(ev, "prompt")), "of a batch"));
        assert_string_equal(json_string_value(json_object_get(ev, "worker")), "http-w");
        assert_string_equal(json_string_value(json_object_get(ev, "engine")), "local");
        assert_string_equal(json_string_value(json_object_get(ev, "cache")), "off");
        assert_true(json_is_integer(json_object_get(ev, "queue_ms")));
        assert_true(json_real_value(json_object_get(ev, "gen_ms")) > 0);
        assert_true(json_is_real(json_object_get(ev, "delivery_ms")));
        assert_true(json_is_real(json_object_get(ev, "total_ms")));
        assert_null(json_object_get(ev, "image_data"));
        json_decref(ev);
    }
    /* A bad request shows up as failed with its code. */
    assert_int_equal(tally_publish_raw(&t, "http-bad", "{\"id\":\"http-bad\"}", 17), 0);
    json_t *ev = next_json(events, 5000);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "status")), "failed");
    assert_string_equal(json_string_value(json_object_get(ev, "code")), "missing_prompt");
    json_decref(ev);

    struct buf body = BUF_INIT;
    char ct[128], *url = xasprintf("%s/metrics", base);
    assert_int_equal(http("GET", url, &body, ct, sizeof(ct)), 200);
    assert_non_null(strstr(ct, "text/plain; version=0.0.4"));
    const char *m = (const char *)body.data;
    assert_true(has_line(m, "# TYPE meme_worker_requests_total counter"));
    assert_true(has_line(m, "meme_worker_requests_total{outcome=\"done\"} 3"));
    assert_true(has_line(m, "meme_worker_requests_total{outcome=\"failed\"} 1"));
    assert_true(has_line(m, "meme_worker_errors_total{code=\"missing_prompt\"} 1"));
    assert_true(has_line(m, "meme_worker_concurrency 3"));
    assert_true(has_line(m, "meme_worker_in_flight 0"));
    assert_true(has_line(m, "meme_worker_nats_connected 1"));
    assert_true(has_line(m, "meme_worker_redeliveries_total 0"));
    assert_true(has_line(m, "# TYPE meme_worker_generation_seconds histogram"));
    assert_true(has_line(m, "meme_worker_generation_seconds_count{engine=\"local\"} 3"));
    assert_true(
        has_line(m, "meme_worker_generation_seconds_bucket{engine=\"local\",le=\"+Inf\"} 3"));
    assert_true(has_line(m, "meme_worker_end_to_end_seconds_count 3"));
    assert_true(has_line(m, "meme_worker_queue_wait_seconds_count 4"));
    assert_non_null(strstr(m, "meme_worker_cache_requests_total{result=\"hit\"} 0"));

    /* promtool, when installed, agrees it is valid exposition text. */
    char *path = xasprintf("%s/metrics.txt", scratch);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(body.data, 1, body.len, f);
    fclose(f);
    if (system("command -v promtool >/dev/null 2>&1") == 0) {
        char *cmd = xasprintf("promtool check metrics < '%s'", path);
        int rc = system(cmd);
        printf("promtool check metrics: exit %d\n", WEXITSTATUS(rc));
        assert_int_equal(WEXITSTATUS(rc), 0);
        free(cmd);
    } else {
        printf("promtool is not installed: skipping its check\n");
    }
    free(path);
    free(url);
    buf_release(&body);

    url = xasprintf("%s/healthz", base);
    assert_int_equal(http("GET", url, &body, NULL, 0), 200);
    buf_release(&body);
    free(url);
    url = xasprintf("%s/readyz", base);
    assert_int_equal(http("GET", url, &body, NULL, 0), 200);
    buf_release(&body);
    free(url);
    url = xasprintf("%s/nope", base);
    assert_int_equal(http("GET", url, &body, NULL, 0), 404);
    buf_release(&body);
    free(url);
    url = xasprintf("%s/metrics", base);
    assert_int_equal(http("POST", url, &body, NULL, 0), 405);
    buf_release(&body);
    free(url);

    /* NATS goes away: not ready, still healthy. */
    tally_close(&t);
    natsSubscription_Destroy(beats);
    natsSubscription_Destroy(events);
    harness_stop(&nats);
    url = xasprintf("%s/readyz", base);
    long st = 0;
    for (int i = 0; i < 50 && st != 503; i++) {
        buf_release(&body);
        st = http("GET", url, &body, NULL, 0);
        if (st != 503)
            wt_sleep_ms(100);
    }
    assert_int_equal(st, 503);
    assert_non_null(strstr((char *)body.data, "not ready"));
    buf_release(&body);
    free(url);
    url = xasprintf("%s/healthz", base);
    assert_int_equal(http("GET", url, &body, NULL, 0), 200);
    buf_release(&body);
    free(url);

    assert_int_equal(wt_term(w, 20000), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_health_heartbeat_events),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
