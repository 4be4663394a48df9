/*
 * `make install` into a temporary DESTDIR: the installed binaries run, the
 * installed man pages render, and the installed bash completion completes.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

static char *scratch, *dest, *src_dir, *build_dir;

static int run_sh(const char *script, struct buf *out, struct buf *err)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    int rc = harness_run(argv, NULL, out, err, 120000);
    buf_putc(out, '\0');
    out->len--;
    buf_putc(err, '\0');
    err->len--;
    return rc;
}

static int setup(void **state)
{
    scratch = harness_tmpdir("install");
    dest = xasprintf("%s/root", scratch);
    const char *src = getenv("MEME_SOURCE_DIR");
    src_dir = src && *src ? xstrdup(src) : realpath(".", NULL);
    char *bin = harness_bin("memectl");
    *strrchr(bin, '/') = '\0';
    build_dir = realpath(bin, NULL);
    free(bin);
    /* Install what this test run built (no rebuild: the programs are current). */
    char *cmd = xasprintf("make -s -C '%s' install MODE=test OUT='%s' DESTDIR='%s' PREFIX=/usr",
                          src_dir, build_dir, dest);
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = run_sh(cmd, &out, &err);
    if (rc != 0)
        fprintf(stderr, "make install failed (%d): %s%s\n", rc, (char *)out.data, (char *)err.data);
    buf_release(&out);
    buf_release(&err);
    free(cmd);
    return rc == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    free(scratch);
    free(dest);
    free(src_dir);
    free(build_dir);
    return 0;
}

static void test_layout(void **state)
{
    const char *files[] = {
        "usr/bin/memectl",
        "usr/bin/meme-worker",
        "usr/bin/meme-gateway",
        "usr/share/man/man1/memectl.1",
        "usr/share/man/man1/memectl-gen.1",
        "usr/share/man/man5/memectl.conf.5",
        "usr/share/man/man7/memectl-protocol.7",
        "usr/share/man/man8/meme-worker.8",
        "usr/share/man/man8/meme-gateway.8",
        "usr/share/bash-completion/completions/memectl",
        "usr/share/zsh/vendor-completions/_memectl",
        "usr/share/fish/vendor_completions.d/memectl.fish",
        "usr/share/man/man1/memectl-simulate.1",
        "usr/share/memectl/k8s/base/worker/scaledobject.yaml",
        "usr/share/memectl/k8s/base/gateway/hpa.yaml",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char *p = xasprintf("%s/%s", dest, files[i]);
        if (!file_exists(p))
            fail_msg("make install did not install %s", files[i]);
        free(p);
    }
}

static void test_installed_binary_runs(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *cmd =
        xasprintf("'%s/usr/bin/memectl' --version && '%s/usr/bin/memectl' templates", dest, dest);
    assert_int_equal(run_sh(cmd, &out, &err), 0);
    assert_non_null(strstr((char *)out.data, "memectl "));
    assert_non_null(strstr((char *)out.data, "advice-wheel"));
    free(cmd);
    buf_release(&out);
    buf_release(&err);
}

/* The installed memectl takes its autoscaling rules from the installed
 * ScaledObject, not from a source tree. */
static void test_installed_manifests_are_found(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *cmd = xasprintf("'%s/usr/bin/memectl' simulate --until 10s", dest);
    assert_int_equal(run_sh(cmd, &out, &err), 0);
    char *want = xasprintf("%s/usr/share/memectl/k8s/base/worker/scaledobject.yaml", dest);
    if (!strstr((char *)out.data, "usr/share/memectl/k8s/base/worker/scaledobject.yaml"))
        fail_msg("simulate did not use %s:\n%s", want, (char *)out.data);
    free(want);
    free(cmd);
    buf_release(&out);
    buf_release(&err);
}

static void test_installed_man_page_renders(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *cmd = xasprintf("page='%s/usr/share/man/man1/memectl-gen.1'; "
                          "if command -v man >/dev/null; then MANWIDTH=80 man -l \"$page\"; "
                          "else mandoc -Tascii \"$page\"; fi",
                          dest);
    assert_int_equal(run_sh(cmd, &out, &err), 0);
    /* Rendered text, not source: the name and an option, without mdoc macros. */
    assert_non_null(strstr((char *)out.data, "make a meme"));
    assert_non_null(strstr((char *)out.data, "--display"));
    assert_null(strstr((char *)out.data, ".Sh"));
    free(cmd);
    buf_release(&out);
    buf_release(&err);
}

static void test_installed_completion_completes(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *cmd =
        xasprintf("exec bash -c \"source '%s/usr/share/bash-completion/completions/memectl'; "
                  "COMP_WORDS=('%s/usr/bin/memectl' gen --for); COMP_CWORD=2; _memectl; "
                  "printf '%%s\\\\n' \\\"\\${COMPREPLY[@]}\\\"\"",
                  dest, dest);
    assert_int_equal(run_sh(cmd, &out, &err), 0);
    assert_non_null(strstr((char *)out.data, "--format"));
    free(cmd);
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout),
        cmocka_unit_test(test_installed_binary_runs),
        cmocka_unit_test(test_installed_manifests_are_found),
        cmocka_unit_test(test_installed_man_page_renders),
        cmocka_unit_test(test_installed_completion_completes),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
