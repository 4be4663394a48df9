/*
 * Docs are part of the feature: every memectl command has a man page (or a
 * section of memectl(1)), every option its --help lists is in that page, and
 * the committed bash completion is what the binary generates.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *source_path(const char *rel)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    return xasprintf("%s/%s", root && *root ? root : ".", rel);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    if (!b.data)
        return xstrdup("");
    return (char *)buf_detach(&b, NULL);
}

static int memectl(struct buf *out, char *a1, char *a2)
{
    char *bin = harness_bin("memectl");
    char *argv[] = {bin, a1, a2, NULL};
    struct buf err = BUF_INIT;
    int rc = harness_run(argv, NULL, out, &err, 10000);
    buf_release(&err);
    free(bin);
    return rc;
}

/* The command names listed by `memectl --help`. */
static size_t list_commands(char names[][32], size_t max)
{
    struct buf out = BUF_INIT;
    assert_int_equal(memectl(&out, "--help", NULL), 0);
    const char *p = strstr((char *)out.data, "commands:\n");
    assert_non_null(p);
    p += strlen("commands:\n");
    size_t n = 0;
    while (n < max && strncmp(p, "  ", 2) == 0 && p[2] != ' ') {
        sscanf(p + 2, "%31s", names[n++]);
        p = strchr(p, '\n');
        if (!p)
            break;
        p++;
    }
    buf_release(&out);
    return n;
}

static void test_every_command_has_a_man_page_with_its_options(void **state)
{
    char names[32][32];
    size_t n = list_commands(names, 32);
    assert_true(n >= 5);
    char *main_page_path = source_path("man/memectl.1");
    char *main_page = slurp(main_page_path);
    assert_non_null(main_page);
    for (size_t i = 0; i < n; i++) {
        char *rel = xasprintf("man/memectl-%s.1", names[i]);
        char *path = source_path(rel);
        char *page = slurp(path);
        /* Small commands are documented in memectl(1) itself. */
        const char *doc = page ? page : main_page;
        char want[64];
        snprintf(want, sizeof(want), "Cm %s", names[i]);
        if (!page && !strstr(main_page, want))
            fail_msg("no man page for \"%s\" and memectl(1) does not describe it", names[i]);
        if (page) {
            snprintf(want, sizeof(want), ".Nm memectl %s", names[i]);
            if (!strstr(page, want))
                fail_msg("%s does not name \"memectl %s\"", rel, names[i]);
            if (!strstr(page, ".Sh EXAMPLES") || !strstr(page, ".Sh EXIT STATUS"))
                fail_msg("%s lacks EXAMPLES or EXIT STATUS", rel);
        }
        /* Every long option of --help appears in the page. */
        struct buf out = BUF_INIT;
        assert_int_equal(memectl(&out, names[i], "--help"), 0);
        for (char *p = (char *)out.data; (p = strstr(p, "--")) != NULL;) {
            p += 2;
            size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz-");
            if (len == 0 || strncmp(p, "help", 4) == 0)
                continue;
            char opt[64];
            snprintf(opt, sizeof(opt), "Fl -%.*s", (int)len, p);
            if (page && !strstr(doc, opt))
                fail_msg("%s does not document --%.*s", rel, (int)len, p);
        }
        buf_release(&out);
        free(page);
        free(path);
        free(rel);
    }
    free(main_page);
    free(main_page_path);
}

static void test_committed_completions_are_generated(void **state)
{
    const char *shells[][3] = {
        {"bash", "completions/memectl.bash", "bash"},
        {"zsh", "completions/_memectl", "zsh"},
        {"fish", "completions/memectl.fish", "fish"},
    };
    for (size_t i = 0; i < 3; i++) {
        struct buf out = BUF_INIT;
        assert_int_equal(memectl(&out, "completion", (char *)shells[i][0]), 0);
        char *path = source_path(shells[i][1]);
        char *committed = slurp(path);
        if (!committed)
            fail_msg("%s is missing", shells[i][1]);
        if (strcmp(committed, (char *)out.data) != 0)
            fail_msg("%s differs from `memectl completion %s`; regenerate it with: "
                     "build/memectl completion %s > %s",
                     shells[i][1], shells[i][0], shells[i][0], shells[i][1]);
        /* And the shell parses it. */
        char *argv[] = {(char *)shells[i][2], "-n", path, NULL};
        struct buf o = BUF_INIT, e = BUF_INIT;
        int rc = harness_run(argv, NULL, &o, &e, 10000);
        if (rc != 0)
            fail_msg("%s -n %s: exit %d: %.*s", shells[i][2], shells[i][1], rc, (int)e.len,
                     e.data ? (char *)e.data : "");
        buf_release(&o);
        buf_release(&e);
        free(committed);
        free(path);
        buf_release(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_has_a_man_page_with_its_options),
        cmocka_unit_test(test_committed_completions_are_generated),
    };
    return harness_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
