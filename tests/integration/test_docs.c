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
            snprintf(want, sizeof(want), ".Nm \"memectl %s\"", names[i]);
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

/* The SYNOPSIS section of an mdoc page (a new string), or NULL. */
static char *synopsis_of(const char *page)
{
    const char *a = strstr(page, ".Sh SYNOPSIS");
    if (!a)
        return NULL;
    const char *b = strstr(a + 4, ".Sh ");
    return b ? xstrndup(a, (size_t)(b - a)) : xstrdup(a);
}

static void test_synopsis_matches_usage(void **state)
{
    char names[32][32];
    size_t n = list_commands(names, 32);
    for (size_t i = 0; i < n; i++) {
        char *rel = xasprintf("man/memectl-%s.1", names[i]);
        char *path = source_path(rel);
        char *page = slurp(path);
        free(path);
        if (!page) {
            free(rel);
            continue;
        }
        char *syn = synopsis_of(page);
        assert_non_null(syn);
        /* The usage line of --help: "usage: memectl NAME WORDS". */
        struct buf out = BUF_INIT;
        assert_int_equal(memectl(&out, names[i], "--help"), 0);
        char *usage = xstrndup((char *)out.data, strcspn((char *)out.data, "\n"));
        char want[96];
        snprintf(want, sizeof(want), ".Cm %s", names[i]);
        if (!strstr(syn, want))
            fail_msg("%s: SYNOPSIS lacks \"%s\"", rel, want);
        const char *u = usage + strlen("usage: memectl ") + strlen(names[i]);
        /* Placeholders (PROMPT, ID) are arguments; lower-case words between
         * | are subcommands or fixed values. */
        for (const char *p = u; *p;) {
            size_t len = strspn(p, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_");
            if (len == 0) {
                p++;
                continue;
            }
            bool upper = p[0] >= 'A' && p[0] <= 'Z';
            bool choice = (p > u && p[-1] == '|') || p[len] == '|';
            if (upper)
                snprintf(want, sizeof(want), "Ar %.*s", (int)len, p);
            else if (choice)
                snprintf(want, sizeof(want), "Cm %.*s", (int)len, p);
            else
                want[0] = '\0';
            if (want[0] && !strstr(syn, want))
                fail_msg("%s: SYNOPSIS lacks \"%s\" from the usage line \"%s\"", rel, want, usage);
            p += len;
        }
        free(usage);
        free(syn);
        free(page);
        free(rel);
        buf_release(&out);
    }
}

static void test_man_pages_lint_clean(void **state)
{
    char *argv_v[] = {"sh", "-c", "command -v mandoc >/dev/null", NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    if (harness_run(argv_v, NULL, &o, &e, 5000) != 0)
        skip();
    char *dir = source_path("man");
    char *cmd = xasprintf("cd '%s' && mandoc -Tlint -Wwarning *.[1-8]", dir);
    char *argv[] = {"sh", "-c", cmd, NULL};
    buf_release(&o);
    buf_release(&e);
    int rc = harness_run(argv, NULL, &o, &e, 30000);
    if (rc != 0 || o.len || e.len)
        fail_msg("mandoc -Tlint -Wwarning: %.*s%.*s", (int)o.len, o.data ? (char *)o.data : "",
                 (int)e.len, e.data ? (char *)e.data : "");
    buf_release(&o);
    buf_release(&e);
    free(cmd);
    free(dir);
}

static void test_protocol_page_lists_every_code(void **state)
{
    char *path = source_path("man/memectl-protocol.7");
    char *page = slurp(path);
    assert_non_null(page);
    for (int c = -1; c > -MEME_CODE_COUNT; c--) {
        char want[64];
        snprintf(want, sizeof(want), ".Ql %s", meme_code_name(c));
        if (!strstr(page, want))
            fail_msg("memectl-protocol(7) does not list the error code %s", meme_code_name(c));
    }
    free(page);
    free(path);
}

/* From a command's name alone its code is found: cli/cmd_<name>.c holds it
 * (and its option table), and the layout rules hold: no file in cli/, tui/
 * or server/ over 1,000 lines, no two object files that need each other. */
static void test_layout_one_file_per_command(void **state)
{
    char names[64][32];
    size_t n = list_commands(names, 64);
    assert_true(n >= 10);
    for (size_t i = 0; i < n; i++) {
        char rel[96];
        snprintf(rel, sizeof(rel), "cli/cmd_%s.c", names[i]);
        char *path = source_path(rel);
        char *src = slurp(path);
        if (!src)
            fail_msg("command \"%s\" has no %s", names[i], rel);
        char want[64];
        snprintf(want, sizeof(want), "cmd_%s(", names[i]);
        char want_run[64];
        snprintf(want_run, sizeof(want_run), "cmd_%s_run(", names[i]);
        if (!strstr(src, want) && !strstr(src, want_run))
            fail_msg("%s does not define the command's entry point", rel);
        free(src);
        free(path);
    }
    const char *build = getenv("MEME_BUILD_DIR");
    if (!build || !*build)
        skip();
    char *script = source_path("scripts/check-layout");
    char *argv[] = {script, (char *)build, NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, &o, &e, 60000);
    if (rc != 0)
        fail_msg("scripts/check-layout: %.*s%.*s", (int)o.len, o.data ? (char *)o.data : "",
                 (int)e.len, e.data ? (char *)e.data : "");
    buf_release(&o);
    buf_release(&e);
    free(script);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_command_has_a_man_page_with_its_options),
        cmocka_unit_test(test_committed_completions_are_generated),
        cmocka_unit_test(test_synopsis_matches_usage),
        cmocka_unit_test(test_man_pages_lint_clean),
        cmocka_unit_test(test_protocol_page_lists_every_code),
        cmocka_unit_test(test_layout_one_file_per_command),
    };
    return harness_finish(cmocka_run_group_tests(tests, NULL, NULL));
}
