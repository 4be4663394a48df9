/*
 * The column-sizing rule (lib/table.c) status, watch and the dashboard
 * share: widths from the cells, optional columns dropped first, lists cut
 * after whole items, names cut in the middle only while they stay
 * distinct, and every row aligned whatever its cells hold.
 */
#include "table.h"
#include "utf8.h"
#include "xalloc.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#define ELL "\xe2\x80\xa6"

static void test_cuts(void **state)
{
    (void)state;
    char *s = table_elide_middle("meme-generator-backend-scaler", 20);
    assert_string_equal(s, "meme-gener" ELL "nd-scaler");
    assert_int_equal(utf8_width(s), 20);
    free(s);
    s = table_elide_middle("redis-vpa", 20);
    assert_string_equal(s, "redis-vpa");
    free(s);
    /* whole items, never a cut number: not "mem 2" */
    s = table_fit_items("cpu 163m, mem 260Mi", 16);
    assert_string_equal(s, "cpu 163m, " ELL);
    free(s);
    s = table_fit_items("cpu 163m, mem 260Mi", 19);
    assert_string_equal(s, "cpu 163m, mem 260Mi");
    free(s);
    /* not even one whole item: cut, and marked as cut */
    s = table_fit_items("lag 12/5 (queue)", 10);
    assert_string_equal(s, "lag 12/5" ELL);
    assert_true(utf8_width(s) <= 10);
    free(s);
}

static const struct table_col COLS[] = {
    {"KIND", TABLE_FIXED, 0, 0},     {"NAME", TABLE_NAME, 0, 0},   {"TARGET", TABLE_FIXED, 2, 0},
    {"REPLICAS", TABLE_FIXED, 0, 0}, {"READY", TABLE_FIXED, 3, 0}, {"WHY", TABLE_ITEMS, 0, 12},
};

static void seed_table(struct table *t, const char *long_target)
{
    table_init(t, COLS, 6, 2);
    table_add_group(t, "meme-generator/");
    const char *a[] = {"HPA",
                       "meme-generator-frontend-hpa",
                       long_target,
                       "2\xe2\x86\x92"
                       "3 (1-5)",
                       "2/3",
                       "cpu 45%/30%, mem 38%/50%"};
    table_add_row(t, a, 0);
    const char *b[] = {"KEDA",
                       "meme-generator-backend-scaler",
                       "deploy/meme-generator",
                       "4 (0-10)",
                       "4/4",
                       "lag 7/5 (queue)"};
    table_add_row(t, b, 1);
    table_add_group(t, "cache/");
    const char *c[] = {"VPA", "redis-vpa", "sts/redis", "-", "1/1", "cpu 163m, mem 260Mi"};
    table_add_row(t, c, 2);
}

/* The column where "text" starts on the line, in terminal columns. */
static int col_of(const char *line, const char *text)
{
    const char *p = strstr(line, text);
    assert_non_null(p);
    char *head = xstrndup(line, (size_t)(p - line));
    int w = utf8_width(head);
    free(head);
    return w;
}

static void test_layout_at_widths(void **state)
{
    (void)state;
    static const int widths[] = {0, 200, 120, 80, 60, 50};
    for (size_t k = 0; k < sizeof(widths) / sizeof(widths[0]); k++) {
        struct table t;
        /* a target far longer than its neighbours pushes nothing out of line */
        seed_table(&t, "deploy/meme-generator-frontend-with-a-very-long-name-indeed");
        table_layout(&t, widths[k]);
        struct buf lines[6];
        int rep = -1;
        for (int i = -1; i < t.nrows; i++) {
            struct buf *b = &lines[i + 1];
            *b = (struct buf)BUF_INIT;
            table_line(&t, i, b);
            buf_putc(b, 0);
            const char *l = (const char *)b->data;
            if (widths[k] > 0)
                assert_true(utf8_width(l) <= widths[k] || widths[k] < 50);
            if (i >= 0 && t.rows[i].group)
                continue;
            /* every row's REPLICAS starts in the same column as the header's */
            int c = col_of(l, i < 0    ? "REPLICAS"
                              : i == 1 ? "2\xe2\x86\x92"
                              : i == 2 ? "4 ("
                                       : "-  ");
            if (rep < 0)
                rep = c;
            assert_int_equal(c, rep);
        }
        const char *frontend = (const char *)lines[2].data, *backend = (const char *)lines[3].data;
        if (widths[k] == 0 || widths[k] >= 200) {
            assert_true(t.shown[2] && t.shown[4]);
            assert_non_null(strstr(frontend, "meme-generator-frontend-hpa"));
        }
        if (widths[k] == 80 || widths[k] == 120) {
            /* the optional columns went first; the names are whole */
            assert_false(t.shown[4]);
            assert_non_null(strstr(frontend, "meme-generator-frontend-hpa"));
            assert_non_null(strstr(backend, "meme-generator-backend-scaler"));
        }
        if (widths[k] == 50) {
            /* the last resort: cut in the middle, still telling the two apart */
            assert_non_null(strstr(frontend, ELL));
            assert_null(strstr(frontend, "meme-generator-frontend-hpa"));
            char *n1 = table_elide_middle("meme-generator-frontend-hpa", t.width[1]);
            char *n2 = table_elide_middle("meme-generator-backend-scaler", t.width[1]);
            assert_string_not_equal(n1, n2);
            free(n1);
            free(n2);
        }
        for (int i = 0; i <= t.nrows; i++)
            buf_release(&lines[i]);
        table_release(&t);
    }
}

/* Two names alike but for their middle: cut no further than keeps them apart. */
static void test_names_stay_distinct(void **state)
{
    (void)state;
    struct table t;
    static const struct table_col cols[] = {{"NAME", TABLE_NAME, 0, 0}, {"X", TABLE_FIXED, 0, 0}};
    table_init(&t, cols, 2, 0);
    const char *a[] = {"meme-generator-frontend-hpa", "1"};
    const char *b[] = {"meme-generator-fronted-hpa", "2"};
    table_add_row(&t, a, 0);
    table_add_row(&t, b, 1);
    table_layout(&t, 12);
    char *x = table_elide_middle(a[0], t.width[0]), *y = table_elide_middle(b[0], t.width[0]);
    assert_string_not_equal(x, y);
    assert_true(t.width[0] > 12 - 3); /* the row overflows rather than lie */
    free(x);
    free(y);
    table_release(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cuts),
        cmocka_unit_test(test_layout_at_widths),
        cmocka_unit_test(test_names_stay_distinct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
