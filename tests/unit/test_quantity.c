/*
 * Kubernetes quantities: every suffix, fractions, exponents, rounding of
 * values finer than a nano-unit, and the inputs the API rejects.
 */
#include "kube/kube_quantity.h"

#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static int64_t milli(const char *s)
{
    struct kube_quantity q;
    struct meme_err e = {0};
    assert_int_equal(kube_quantity_parse(s, &q, &e), 0);
    return kube_quantity_milli(&q);
}

static int64_t value(const char *s)
{
    struct kube_quantity q;
    assert_int_equal(kube_quantity_parse(s, &q, NULL), 0);
    return kube_quantity_value(&q);
}

static void test_decimal_suffixes(void **state)
{
    assert_int_equal(milli("250m"), 250);
    assert_int_equal(milli("1"), 1000);
    assert_int_equal(milli("1.5"), 1500);
    assert_int_equal(milli("0.05"), 50);
    assert_int_equal(milli(".5"), 500);
    assert_int_equal(milli("2k"), 2000000);
    assert_int_equal(value("3M"), 3000000);
    assert_int_equal(value("1G"), 1000000000);
    assert_int_equal(value("2T"), 2000000000000LL);
    assert_int_equal(value("1P"), 1000000000000000LL);
    assert_int_equal(value("1E"), 1000000000000000000LL);
    assert_int_equal(milli("500000u"), 500);
    assert_int_equal(milli("1500000n"), 2); /* 1.5m rounds up */
    assert_int_equal(milli("100n"), 1);     /* MilliValue rounds up */
    assert_int_equal(milli("0"), 0);
    assert_int_equal(milli("+7"), 7000);
    assert_int_equal(milli("-250m"), -250);
}

static void test_binary_suffixes(void **state)
{
    assert_int_equal(value("64Mi"), 67108864);
    assert_int_equal(value("1Gi"), 1073741824);
    assert_int_equal(value("1Ki"), 1024);
    assert_int_equal(value("1.5Gi"), 1610612736);
    assert_int_equal(value("2Ti"), 2199023255552LL);
    assert_int_equal(value("1Pi"), 1125899906842624LL);
    assert_int_equal(value("1Ei"), 1152921504606846976LL);
    assert_int_equal(value("0.5Ki"), 512);
}

static void test_exponents(void **state)
{
    assert_int_equal(value("1e3"), 1000);
    assert_int_equal(value("1E3"), 1000);
    assert_int_equal(milli("5e-3"), 5);
    assert_int_equal(value("12e+2"), 1200);
}

static void test_value_rounds_up(void **state)
{
    assert_int_equal(value("1500m"), 2);
    assert_int_equal(value("1001m"), 2);
    assert_int_equal(value("1000m"), 1);
}

static void test_compare(void **state)
{
    struct kube_quantity a, b;
    assert_int_equal(kube_quantity_parse("1Gi", &a, NULL), 0);
    assert_int_equal(kube_quantity_parse("1G", &b, NULL), 0);
    assert_int_equal(kube_quantity_cmp(&a, &b), 1);
    assert_int_equal(kube_quantity_parse("0.1", &a, NULL), 0);
    assert_int_equal(kube_quantity_parse("100m", &b, NULL), 0);
    assert_int_equal(kube_quantity_cmp(&a, &b), 0);
}

static void test_format(void **state)
{
    struct kube_quantity q;
    char out[32];
    assert_int_equal(kube_quantity_parse("64Mi", &q, NULL), 0);
    assert_string_equal(kube_quantity_format(&q, true, out, sizeof(out)), "64Mi");
    assert_int_equal(kube_quantity_parse("1536Mi", &q, NULL), 0);
    assert_string_equal(kube_quantity_format(&q, true, out, sizeof(out)), "1.5Gi");
    assert_int_equal(kube_quantity_parse("0.25", &q, NULL), 0);
    assert_string_equal(kube_quantity_format(&q, false, out, sizeof(out)), "250m");
    assert_int_equal(kube_quantity_parse("2", &q, NULL), 0);
    assert_string_equal(kube_quantity_format(&q, false, out, sizeof(out)), "2");
}

static void test_rejects(void **state)
{
    const char *bad[] = {"",   "m",  "1.2.3", "12x",  "1mi",   "1KI",
                         "1e", "e3", "--1",   "1 Mi", "1e3.5", "Mi"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct kube_quantity q;
        struct meme_err e = {0};
        assert_int_equal(kube_quantity_parse(bad[i], &q, &e), MEME_E_BAD_REQUEST);
        assert_non_null(strstr(e.msg, "bad quantity"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decimal_suffixes), cmocka_unit_test(test_binary_suffixes),
        cmocka_unit_test(test_exponents),        cmocka_unit_test(test_value_rounds_up),
        cmocka_unit_test(test_compare),          cmocka_unit_test(test_format),
        cmocka_unit_test(test_rejects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
