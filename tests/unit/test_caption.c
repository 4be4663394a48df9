/*
 * Caption splitting, upper-casing and word wrapping.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "render/caption.h"

static void check_split(const char *prompt, const char *top, const char *bottom,
                        const char *want_top, const char *want_bottom)
{
    struct caption c;
    caption_split(prompt, top, bottom, &c);
    assert_string_equal(c.top, want_top);
    assert_string_equal(c.bottom, want_bottom);
    caption_release(&c);
}

static void test_bar_splits(void **state)
{
    (void)state;
    check_split("one does not simply | scale to zero", NULL, NULL, "ONE DOES NOT SIMPLY",
                "SCALE TO ZERO");
    check_split("  top only  |", NULL, NULL, "TOP ONLY", "");
    check_split("| bottom only", NULL, NULL, "", "BOTTOM ONLY");
    /* Only the first bar splits; later ones are text. */
    check_split("a | b | c", NULL, NULL, "A", "B | C");
}

static void test_explicit_wins(void **state)
{
    (void)state;
    check_split("ignored | prompt", "mine", NULL, "MINE", "");
    check_split("ignored", NULL, "below", "", "BELOW");
    check_split("ignored", "", "", "", "");
}

static void test_short_prompt_is_top(void **state)
{
    (void)state;
    check_split("hello", NULL, NULL, "HELLO", "");
    check_split("such scale, wow", NULL, NULL, "SUCH SCALE, WOW", "");
    check_split("", NULL, NULL, "", "");
    check_split(NULL, NULL, NULL, "", "");
}

static void test_splits_at_clause(void **state)
{
    (void)state;
    /* Punctuation nearest the middle wins; the comma is dropped. */
    check_split("legacy cobol mainframe still runs prod, and nobody knows why", NULL, NULL,
                "LEGACY COBOL MAINFRAME STILL RUNS PROD", "AND NOBODY KNOWS WHY");
    /* No punctuation: before a joining word. */
    check_split("when the HPA scales to 10 replicas but the queue is still growing", NULL, NULL,
                "WHEN THE HPA SCALES TO 10 REPLICAS", "BUT THE QUEUE IS STILL GROWING");
    /* A dash. */
    check_split("I deployed on friday - now I live here", NULL, NULL, "I DEPLOYED ON FRIDAY",
                "NOW I LIVE HERE");
    check_split("I deployed on friday \xe2\x80\x94 now I live here", NULL, NULL,
                "I DEPLOYED ON FRIDAY", "NOW I LIVE HERE");
    /* Punctuation too near an end does not count: split by length instead. */
    check_split("well, this is a rather long sentence without breaks", NULL, NULL,
                "WELL, THIS IS A RATHER LONG", "SENTENCE WITHOUT BREAKS");
}

static void test_splits_by_length(void **state)
{
    (void)state;
    check_split("yo dawg I heard you like containers", NULL, NULL, "YO DAWG I HEARD",
                "YOU LIKE CONTAINERS");
    check_split("one two three four", NULL, NULL, "ONE TWO", "THREE FOUR");
}

static void test_whitespace_and_controls(void **state)
{
    (void)state;
    check_split("  lots   of\t\tspace\nhere  ", NULL, NULL, "LOTS OF", "SPACE HERE");
    /* Control characters become spaces, so no escape reaches a terminal or a glyph. */
    char *u = caption_upper("a\x1b[31mb\x7f");
    assert_string_equal(u, "A [31MB ");
    free(u);
}

static void test_upper(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"abc xyz 123 !?", "ABC XYZ 123 !?"},
        {"\xc3\xa9t\xc3\xa9 \xc3\xa0 \xc3\xbf",
         "\xc3\x89T\xc3\x89 \xc3\x80 \xc5\xb8"}, /* été à ÿ */
        {"stra\xc3\x9f"
         "e",
         "STRA\xc3\x9f"
         "E"},                    /* ß stays */
        {"\xc3\xb7", "\xc3\xb7"}, /* ÷ is no letter */
        {"\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
         "\xd0\x9f\xd0\xa0\xd0\x98\xd0\x92\xd0\x95\xd0\xa2"},     /* привет */
        {"\xce\xb1\xce\xb2\xce\xb3", "\xce\x91\xce\x92\xce\x93"}, /* αβγ */
        {"\xc5\x82\xc3\xb3"
         "d\xc5\xba",
         "\xc5\x81\xc3\x93"
         "D\xc5\xb9"},                                  /* łódź */
        {"\xf0\x9f\x98\x80 ok", "\xf0\x9f\x98\x80 OK"}, /* emoji kept */
        {"\xce\xac\xce\xad\xcf\x8c\xcf\x82",
         "\xce\x86\xce\x88\xce\x8c\xce\xa3"}, /* άέός: accents and final sigma */
        {"\xd1\x97\xd2\x91\xd3\x99", "\xd0\x87\xd2\x90\xd3\x98"},                 /* її ґ ә */
        {"\xd5\xa2\xd5\xa1\xd6\x80\xd6\x87", "\xd4\xb2\xd4\xb1\xd5\x90\xd6\x87"}, /* բար and և */
        {"vi\xe1\xbb\x87t", "VI\xe1\xbb\x86T"},                                   /* việt */
        {"\xe6\x97\xa5\xe6\x9c\xac \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",
         "\xe6\x97\xa5\xe6\x9c\xac \xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7"}, /* no case */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *u = caption_upper(cases[i][0]);
        assert_string_equal(u, cases[i][1]);
        free(u);
    }
    /* A stray byte is kept as it was, never merged into a neighbour. */
    char *u = caption_upper("a\xff"
                            "b");
    assert_string_equal(u, "A\xff"
                           "B");
    free(u);
}

/* A fake font: every byte is 10 pixels wide. */
static int ten_per_byte(void *ctx, const char *text, size_t len)
{
    (void)text;
    int *calls = ctx;
    (*calls)++;
    return (int)len * 10;
}

static void test_wrap(void **state)
{
    (void)state;
    int calls = 0;
    struct caption_lines l;
    int widest = caption_wrap("THE QUICK BROWN FOX JUMPS", 110, ten_per_byte, &calls, &l);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.line[0], "THE QUICK");
    assert_string_equal(l.line[1], "BROWN FOX");
    assert_string_equal(l.line[2], "JUMPS");
    assert_int_equal(widest, 90);
    assert_true(calls > 0);
    caption_lines_release(&l);
}

static void test_wrap_long_word_stands_alone(void **state)
{
    (void)state;
    int calls = 0;
    struct caption_lines l;
    int widest = caption_wrap("A SUPERCALIFRAGILISTIC B", 50, ten_per_byte, &calls, &l);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.line[0], "A");
    assert_string_equal(l.line[1], "SUPERCALIFRAGILISTIC");
    assert_string_equal(l.line[2], "B");
    /* The caller learns it does not fit and shrinks the font. */
    assert_int_equal(widest, 200);
    caption_lines_release(&l);
}

static void test_wrap_empty_and_spaces(void **state)
{
    (void)state;
    int calls = 0;
    struct caption_lines l;
    assert_int_equal(caption_wrap("", 100, ten_per_byte, &calls, &l), 0);
    assert_int_equal(l.count, 0);
    caption_lines_release(&l);
    assert_int_equal(caption_wrap("   ", 100, ten_per_byte, &calls, &l), 0);
    assert_int_equal(l.count, 0);
    caption_lines_release(&l);
    caption_wrap("  A   B  ", 1000, ten_per_byte, &calls, &l);
    assert_int_equal(l.count, 1);
    assert_string_equal(l.line[0], "A B");
    caption_lines_release(&l);
}

static void test_wrap_keeps_utf8_whole(void **state)
{
    (void)state;
    int calls = 0;
    struct caption_lines l;
    /* "ÉTÉ ÉTÉ" with 10 px per byte: each word is 50 px; the limit allows one per line. */
    caption_wrap("\xc3\x89T\xc3\x89 \xc3\x89T\xc3\x89", 60, ten_per_byte, &calls, &l);
    assert_int_equal(l.count, 2);
    assert_string_equal(l.line[0], "\xc3\x89T\xc3\x89");
    assert_string_equal(l.line[1], "\xc3\x89T\xc3\x89");
    caption_lines_release(&l);
}

/* A fake font: every character (not byte) is 10 pixels wide. */
static int ten_per_char(void *ctx, const char *text, size_t len)
{
    (void)ctx;
    int n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)text[i] & 0xC0) != 0x80;
    return n * 10;
}

static void test_wrap_breaks_between_cjk(void **state)
{
    (void)state;
    struct caption_lines l;
    /* 日本語のテキスト。 (9 characters) at 40 px a line: no spaces, still wrapped,
     * and the full stop never starts a line: the character before it goes with it. */
    const char *jp = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86"
                     "\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88\xe3\x80\x82";
    int widest = caption_wrap(jp, 40, ten_per_char, NULL, &l);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.line[0], "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae");
    assert_string_equal(l.line[1], "\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9");
    assert_string_equal(l.line[2], "\xe3\x83\x88\xe3\x80\x82"); /* ト goes down with 。 */
    assert_true(widest <= 40);
    caption_lines_release(&l);
    /* Latin words keep breaking only at spaces, also next to CJK. */
    caption_wrap("ABC \xe6\x97\xa5\xe6\x9c\xac DEFGH", 40, ten_per_char, NULL, &l);
    assert_int_equal(l.count, 3);
    assert_string_equal(l.line[0], "ABC");
    assert_string_equal(l.line[1], "\xe6\x97\xa5\xe6\x9c\xac");
    assert_string_equal(l.line[2], "DEFGH");
    caption_lines_release(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bar_splits),
        cmocka_unit_test(test_explicit_wins),
        cmocka_unit_test(test_short_prompt_is_top),
        cmocka_unit_test(test_splits_at_clause),
        cmocka_unit_test(test_splits_by_length),
        cmocka_unit_test(test_whitespace_and_controls),
        cmocka_unit_test(test_upper),
        cmocka_unit_test(test_wrap),
        cmocka_unit_test(test_wrap_long_word_stands_alone),
        cmocka_unit_test(test_wrap_empty_and_spaces),
        cmocka_unit_test(test_wrap_keeps_utf8_whole),
        cmocka_unit_test(test_wrap_breaks_between_cjk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
