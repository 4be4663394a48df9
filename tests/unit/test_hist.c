/*
 * The latency histogram: quantiles of known sample sets, bounds, merging.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdlib.h>

#include "hist.h"

/* Within the histogram's promise: 1/128 of the value. */
static void assert_near(uint64_t got, uint64_t want)
{
    double tol = (double)want / 128.0 + 0.5;
    if (fabs((double)got - (double)want) > tol)
        fail_msg("got %llu, want %llu (+-%.1f)", (unsigned long long)got, (unsigned long long)want,
                 tol);
}

static void test_one_to_thousand(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    /* Added in a scrambled order: order must not matter. */
    for (uint64_t i = 0; i < 1000; i++)
        hist_add(&h, (i * 7919) % 1000 + 1);
    assert_int_equal(h.count, 1000);
    assert_int_equal(h.min, 1);
    assert_int_equal(h.max, 1000);
    assert_near(hist_quantile(&h, 0.5), 500);
    assert_near(hist_quantile(&h, 0.9), 900);
    assert_near(hist_quantile(&h, 0.99), 990);
    assert_near(hist_quantile(&h, 0.999), 999);
    assert_int_equal(hist_quantile(&h, 1.0), 1000);
    assert_int_equal(hist_quantile(&h, 0.0), 1);
    assert_true(fabs(hist_mean(&h) - 500.5) < 1e-9);
    hist_release(&h);
}

static void test_small_values_are_exact(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    uint64_t v[] = {3, 3, 3, 7, 100};
    for (size_t i = 0; i < 5; i++)
        hist_add(&h, v[i]);
    assert_int_equal(hist_quantile(&h, 0.5), 3);
    assert_int_equal(hist_quantile(&h, 0.6), 3);
    assert_int_equal(hist_quantile(&h, 0.8), 7);
    assert_int_equal(hist_quantile(&h, 0.81), 100);
    hist_release(&h);
}

static void test_outlier_and_wide_range(void **state)
{
    (void)state;
    struct hist h;
    hist_init(&h);
    /* 999 fast answers at 10 ms and one at 30 s (in microseconds). */
    for (int i = 0; i < 999; i++)
        hist_add(&h, 10000);
    hist_add(&h, 30000000);
    assert_near(hist_quantile(&h, 0.5), 10000);
    assert_near(hist_quantile(&h, 0.999), 10000);
    assert_int_equal(hist_quantile(&h, 1.0), 30000000);
    assert_int_equal(h.max, 30000000);
    /* Huge values do not overflow the bucket index. */
    hist_add(&h, UINT64_MAX / 2);
    assert_int_equal(h.max, UINT64_MAX / 2);
    assert_true(hist_quantile(&h, 1.0) == UINT64_MAX / 2);
    hist_release(&h);
}

static void test_merge_and_empty(void **state)
{
    (void)state;
    struct hist a, b;
    hist_init(&a);
    hist_init(&b);
    assert_int_equal(hist_quantile(&a, 0.5), 0);
    assert_true(hist_mean(&a) == 0);
    for (uint64_t i = 1; i <= 500; i++)
        hist_add(&a, i);
    for (uint64_t i = 501; i <= 1000; i++)
        hist_add(&b, i);
    hist_merge(&a, &b);
    assert_int_equal(a.count, 1000);
    assert_int_equal(a.min, 1);
    assert_int_equal(a.max, 1000);
    assert_near(hist_quantile(&a, 0.99), 990);
    hist_release(&a);
    hist_release(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_to_thousand),
        cmocka_unit_test(test_small_values_are_exact),
        cmocka_unit_test(test_outlier_and_wide_range),
        cmocka_unit_test(test_merge_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
