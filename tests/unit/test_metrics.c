/*
 * lib/metrics: the Prometheus text exposition of counters, gauges and
 * histograms with labels, byte for byte, label escaping, cumulative
 * buckets, and totals that stay exact under concurrent updates.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *render(struct metrics *m)
{
    struct buf b = BUF_INIT;
    metrics_render(m, &b);
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

static void test_counter_and_gauge_text(void **state)
{
    struct metrics *m = metrics_new();
    struct metric_family *req = metrics_counter(m, "app_requests_total", "Requests.", "outcome");
    struct metric_family *up = metrics_gauge(m, "app_up", "1 when up.", NULL);
    metrics_add(req, (const char *[]){"done"}, 2);
    metrics_add(req, (const char *[]){"failed"}, 1);
    metrics_add(req, (const char *[]){"done"}, 1);
    metrics_add(req, (const char *[]){"done"}, -5); /* counters never go down */
    metrics_set(up, NULL, 1);
    metrics_add(up, NULL, 0.5);
    char *s = render(m);
    assert_string_equal(s, "# HELP app_requests_total Requests.\n"
                           "# TYPE app_requests_total counter\n"
                           "app_requests_total{outcome=\"done\"} 3\n"
                           "app_requests_total{outcome=\"failed\"} 1\n"
                           "# HELP app_up 1 when up.\n"
                           "# TYPE app_up gauge\n"
                           "app_up 1.5\n");
    assert_true(metrics_value(req, (const char *[]){"done"}) == 3);
    assert_true(metrics_value(req, (const char *[]){"nope"}) == 0);
    free(s);
    metrics_free(m);
}

static void test_histogram_buckets_are_cumulative(void **state)
{
    static const double bounds[] = {0.1, 1, 10};
    struct metrics *m = metrics_new();
    struct metric_family *h = metrics_histogram(m, "app_seconds", "Latency.", "engine", bounds, 3);
    const char *local[] = {"local"};
    metrics_observe(h, local, 0.05);
    metrics_observe(h, local, 0.1); /* le is inclusive */
    metrics_observe(h, local, 2);
    metrics_observe(h, local, 100);
    char *s = render(m);
    assert_string_equal(s, "# HELP app_seconds Latency.\n"
                           "# TYPE app_seconds histogram\n"
                           "app_seconds_bucket{engine=\"local\",le=\"0.1\"} 2\n"
                           "app_seconds_bucket{engine=\"local\",le=\"1\"} 2\n"
                           "app_seconds_bucket{engine=\"local\",le=\"10\"} 3\n"
                           "app_seconds_bucket{engine=\"local\",le=\"+Inf\"} 4\n"
                           "app_seconds_sum{engine=\"local\"} 102.15\n"
                           "app_seconds_count{engine=\"local\"} 4\n");
    free(s);
    metrics_free(m);
}

static void test_label_values_are_escaped(void **state)
{
    struct metrics *m = metrics_new();
    struct metric_family *c = metrics_counter(m, "x_total", "Help with \\ and\nnewline.", "a,b");
    metrics_add(c, (const char *[]){"q\"uote", "back\\slash\nnl"}, 1);
    char *s = render(m);
    assert_non_null(strstr(s, "# HELP x_total Help with \\\\ and\\nnewline.\n"));
    assert_non_null(strstr(s, "x_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nnl\"} 1\n"));
    free(s);
    metrics_free(m);
}

static struct metric_family *shared_counter, *shared_hist;

static void *hammer(void *arg)
{
    for (int i = 0; i < 10000; i++) {
        metrics_add(shared_counter, (const char *[]){i % 2 ? "odd" : "even"}, 1);
        metrics_observe(shared_hist, NULL, 0.5);
    }
    return arg;
}

static void test_concurrent_updates_add_up(void **state)
{
    static const double bounds[] = {1};
    struct metrics *m = metrics_new();
    shared_counter = metrics_counter(m, "n_total", "N.", "parity");
    shared_hist = metrics_histogram(m, "h_seconds", "H.", NULL, bounds, 1);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    assert_true(metrics_value(shared_counter, (const char *[]){"odd"}) == 20000);
    assert_true(metrics_value(shared_counter, (const char *[]){"even"}) == 20000);
    char *s = render(m);
    assert_non_null(strstr(s, "h_seconds_count 40000\n"));
    assert_non_null(strstr(s, "h_seconds_bucket{le=\"1\"} 40000\n"));
    free(s);
    metrics_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_and_gauge_text),
        cmocka_unit_test(test_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_label_values_are_escaped),
        cmocka_unit_test(test_concurrent_updates_add_up),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
