/*
 * memectl bench against a real nats-server -js and a real meme-worker, with
 * small, bounded counts: every request answered once, the JSON report's
 * keys and figures, the CSV samples, open loop, a worker killed or frozen
 * during the run and the time its jobs took, and the errors a user meets.
 */
#include "common.h"
#include "fixtures/kube_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1;

static int setup(void **state)
{
    scratch = harness_tmpdir("bench");
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

static int memectl(struct buf *out, struct buf *err, int timeout_ms, ...)
{
    char *env[] = {"NATS_URL", "KUBECONFIG=/nonexistent", NULL};
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = memectl_va(out, err, env, timeout_ms, NULL, ap);
    va_end(ap);
    if (err && err->len)
        fprintf(stderr, "[memectl stderr] %.*s", (int)err->len, (const char *)err->data);
    return rc;
}

static json_t *parse(const struct buf *b)
{
    json_error_t je;
    json_t *j = json_loadb((const char *)b->data, b->len, 0, &je);
    if (!j)
        fail_msg("not JSON: %s: %.*s", je.text, (int)b->len, (const char *)b->data);
    return j;
}

static double num(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    if (!json_is_number(v))
        fail_msg("no number at %s%s%s", path1, path2 ? "." : "", path2 ? path2 : "");
    return json_number_value(v);
}

static void test_closed_loop_json(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(
        memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "40", "-c", "4", "--json", NULL),
        0);
    /* Not a terminal: no progress line, nothing on stderr. */
    assert_int_equal(err.len, 0);
    json_t *j = parse(&out);
    assert_int_equal((int)num(j, "sent", NULL), 40);
    assert_int_equal((int)num(j, "answered", NULL), 40);
    assert_int_equal((int)num(j, "ok", NULL), 40);
    assert_int_equal((int)num(j, "error_count", NULL), 0);
    assert_true(json_is_object(json_object_get(j, "errors")));
    assert_int_equal(json_object_size(json_object_get(j, "errors")), 0);
    assert_true(num(j, "throughput", NULL) > 0);
    double p50 = num(j, "latency_ms", "p50"), p90 = num(j, "latency_ms", "p90");
    double p99 = num(j, "latency_ms", "p99"), p999 = num(j, "latency_ms", "p999");
    double mn = num(j, "latency_ms", "min"), mx = num(j, "latency_ms", "max");
    assert_true(mn > 0);
    assert_true(mn <= p50 && p50 <= p90 && p90 <= p99 && p99 <= p999 && p999 <= mx);
    /* The worker's own figures are part of each answer. */
    assert_true(num(j, "gen_ms", "p50") > 0);
    assert_true(num(j, "gen_ms", "p50") <= mx);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
}

static void test_open_loop_with_csv(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *csv = xasprintf("%s/samples.csv", scratch);
    assert_int_equal(memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "30", "--rate", "60",
                             "--burst", "ramp", "--format", "png", "--size", "128", "--repeat",
                             "0.5", "--csv", csv, NULL),
                     0);
    const char *text = (const char *)out.data;
    assert_non_null(strstr(text, "30 sent, 30 answered, 30 ok"));
    assert_non_null(strstr(text, "throughput"));
    assert_non_null(strstr(text, "p99.9"));
    assert_non_null(strstr(text, "errors      none"));
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[256];
    int lines = 0, ok = 0;
    assert_non_null(fgets(line, sizeof(line), f));
    assert_string_equal(line, "request,sent_s,status,total_ms,queue_ms,gen_ms,cache\n");
    double last_sent = -1;
    while (fgets(line, sizeof(line), f)) {
        int idx;
        double sent;
        char status[32];
        assert_int_equal(sscanf(line, "%d,%lf,%31[^,]", &idx, &sent, status), 3);
        assert_int_equal(idx, lines);
        /* Open loop: requests go out on a schedule, in order, over about half a second. */
        assert_true(sent >= last_sent);
        last_sent = sent;
        ok += strcmp(status, "ok") == 0;
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 30);
    assert_int_equal(ok, 30);
    assert_true(last_sent > 0.2);
    free(csv);
    buf_release(&out);
    buf_release(&err);
}

static void test_errors_are_counted_by_code(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    /* Every request names a template the worker does not have. */
    int rc = memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "5", "-t",
                     "no-such-template", "--json", NULL);
    assert_int_equal(rc, 1);
    json_t *j = parse(&out);
    assert_int_equal((int)num(j, "answered", NULL), 5);
    assert_int_equal((int)num(j, "ok", NULL), 0);
    assert_int_equal((int)num(j, "errors", "unknown_template"), 5);
    assert_int_equal((int)num(j, "error_count", NULL), 5);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
}

static void test_usage_and_unreachable(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, 10000, "bench", "-n", "0", NULL), 2);
    assert_non_null(strstr((char *)err.data, "--count"));
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 10000, "bench", "--burst", "spike", NULL), 2);
    assert_non_null(strstr((char *)err.data, "--rate"));
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 10000, "bench", "-d", "2y", NULL), 2);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 10000, "bench", "--repeat", "1.5", NULL), 2);
    buf_release(&err);
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", harness_free_port());
    assert_int_equal(memectl(&out, &err, 20000, "-s", url, "bench", "-n", "3", NULL), 3);
    assert_non_null(strstr((char *)err.data, "cannot reach NATS"));
    buf_release(&out);
    buf_release(&err);
}

static void test_no_worker_means_no_reply(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    harness_kill(worker, 5000);
    worker = -1;
    int rc = memectl(&out, &err, 30000, "-s", nats.url, "bench", "-n", "3", "--timeout", "1",
                     "--json", NULL);
    assert_int_equal(rc, 4);
    json_t *j = parse(&out);
    assert_int_equal((int)num(j, "errors", "no_reply"), 3);
    json_decref(j);
    assert_non_null(strstr((char *)err.data, "is a worker running"));
    /* Those requests stay queued; a worker started now serves them and the next run. */
    worker = start_worker(nats.url, scratch, "w2");
    assert_true(worker > 0);
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "5", "--json", NULL),
                     0);
    j = parse(&out);
    assert_int_equal((int)num(j, "ok", NULL), 5);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
}

static void test_replica_timeline_from_the_cluster(void **state)
{
    char *pki = xasprintf("%s/pki", scratch);
    assert_int_equal(mkdir(pki, 0700), 0);
    assert_int_equal(kube_fixture_make_pki(pki), 0);
    const char *root = getenv("MEME_SOURCE_DIR");
    char *data = xasprintf("%s/tests/fixtures/kube", root && *root ? root : ".");
    struct kube_fixture_opts o = {.data_dir = data, .pki_dir = pki, .token = "bench-t0ken"};
    struct kube_fixture *fx = kube_fixture_start(&o);
    assert_non_null(fx);
    char *kc = xasprintf("%s/kubeconfig", scratch);
    assert_int_equal(kube_fixture_write_kubeconfig(fx, kc, NULL, NULL, "    token: bench-t0ken\n"),
                     0);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "10", "--kubeconfig",
                             kc, "--json", NULL),
                     0);
    json_t *j = parse(&out);
    json_t *tl = json_object_get(j, "timeline");
    assert_true(json_is_array(tl));
    assert_true(json_array_size(tl) >= 2); /* at the start and at the end */
    json_t *first = json_object_get(json_array_get(tl, 0), "replicas");
    /* The fixture's figures: the gateway's HPA at 2, KEDA's HPA for the worker at 4. */
    assert_int_equal(json_integer_value(
                         json_object_get(first, "HPA meme-generator/meme-generator-frontend-hpa")),
                     2);
    assert_int_equal(json_integer_value(json_object_get(
                         first, "ScaledObject meme-generator/meme-generator-backend-scaler")),
                     4);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
    /* The text report prints the timeline too. */
    assert_int_equal(
        memectl(&out, &err, 60000, "-s", nats.url, "bench", "-n", "3", "--kubeconfig", kc, NULL),
        0);
    assert_non_null(strstr((char *)out.data, "replicas during the run"));
    buf_release(&out);
    buf_release(&err);
    kube_fixture_stop(fx);
    free(kc);
    free(data);
    free(pki);
}

/* --kill-worker and --stop-worker on a second worker: every request still
 * answered once; the report says how long the taken-away worker's jobs
 * took to come back. */
static void test_worker_taken_away(void **state)
{
    const char *modes[] = {"--kill-worker", "--stop-worker"};
    for (int m = 0; m < 2; m++) {
        struct buf out = BUF_INIT, err = BUF_INIT;
        char id[16], pid[16];
        snprintf(id, sizeof(id), "victim-%d", m);
        pid_t victim = start_worker(nats.url, scratch, id);
        assert_true(victim > 0);
        snprintf(pid, sizeof(pid), "%d", (int)victim);
        assert_int_equal(memectl(&out, &err, 90000, "-s", nats.url, "bench", "-n", "300", "-c", "8",
                                 "--size", "256", modes[m], "300ms", "--worker-pid", pid, "--json",
                                 NULL),
                         0);
        json_t *j = parse(&out);
        assert_int_equal((int)num(j, "ok", NULL), 300);
        json_t *tk = json_object_get(j, "takeover");
        assert_non_null(tk);
        assert_int_equal((int)num(tk, "pid", NULL), (int)victim);
        assert_int_equal(num(tk, "answered", NULL), num(tk, "outstanding", NULL));
        printf("figures: bench %s: %d outstanding, %d redelivered, recovery %.2f s, last answer "
               "%.2f s after%s\n",
               modes[m], (int)num(tk, "outstanding", NULL), (int)num(tk, "redelivered", NULL),
               num(tk, "recovery_s", NULL), num(tk, "last_answer_s", NULL), m ? "" : " the kill");
        /* bench counts each request once (ok is exactly 300 above); a resumed
         * worker's late reply can only be for a job that was taken over from it
         * (a freeze between its last lease check and its publish). */
        if (m == 1)
            assert_true(num(tk, "late_replies", NULL) <= num(tk, "redelivered", NULL));
        json_decref(j);
        harness_kill(victim, 5000);
        buf_release(&out);
        buf_release(&err);
    }
    /* --worker-pid alone is a usage error. */
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, 20000, "-s", nats.url, "bench", "--worker-pid", "1", NULL),
                     2);
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_worker_taken_away),
        cmocka_unit_test(test_closed_loop_json),
        cmocka_unit_test(test_open_loop_with_csv),
        cmocka_unit_test(test_errors_are_counted_by_code),
        cmocka_unit_test(test_usage_and_unreachable),
        cmocka_unit_test(test_no_worker_means_no_reply),
        cmocka_unit_test(test_replica_timeline_from_the_cluster),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    return harness_finish(failures);
}
