/*
 * The committed completion scripts, run in each shell against the built
 * memectl: subcommands, flags, fixed values and a dynamic value (a template
 * name, which only the binary knows). bash drives the function with
 * COMP_WORDS/COMP_CWORD; zsh calls the function with `words` and CURRENT set
 * and the completion builtins replaced by functions that print what they
 * are given; fish uses `complete -C`.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

static char *path_env; /* "PATH=<build dir>:$PATH" */
static char *kube_env; /* "KUBECONFIG=<a kubeconfig with two contexts>" */
static char *src_dir;

static char *source_path(const char *rel)
{
    return xasprintf("%s/%s", src_dir, rel);
}

static bool have_shell(const char *name)
{
    char *argv[] = {"sh", "-c", NULL, NULL};
    char *cmd = xasprintf("command -v %s >/dev/null", name);
    argv[2] = cmd;
    struct buf o = BUF_INIT, e = BUF_INIT;
    bool ok = harness_run(argv, NULL, &o, &e, 5000) == 0;
    buf_release(&o);
    buf_release(&e);
    free(cmd);
    return ok;
}

/* Runs script in shell with the build directory first on PATH; stdout. */
static char *run_shell(const char *shell, const char *script)
{
    char *argv[] = {(char *)shell, "-c", (char *)script, NULL};
    char *env[] = {path_env, kube_env, "HOME=/tmp", "XDG_CONFIG_HOME=/tmp/memectl-no-config", NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, env, &o, &e, 20000);
    if (rc != 0)
        fail_msg("%s exited %d: %.*s", shell, rc, (int)e.len, e.data ? (char *)e.data : "");
    buf_release(&e);
    buf_putc(&o, '\0');
    return (char *)buf_detach(&o, NULL);
}

static bool has_line(const char *out, const char *want)
{
    size_t n = strlen(want);
    for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, want, n) == 0 &&
            (p[n] == '\n' || p[n] == '\0' || p[n] == '\t' || p[n] == ':'))
            return true;
    return false;
}

struct case_ {
    const char *line;  /* what the user typed, cursor at the end */
    const char *want;  /* a candidate that must be offered */
    const char *avoid; /* one that must not, or NULL */
};

static const struct case_ cases[] = {
    {"memectl g", "gen", "up"},
    {"memectl ", "templates", NULL},
    {"memectl gen --for", "--format", "--output"},
    {"memectl gen --format ", "jpeg", "gen"},
    {"memectl gen -t advice-w", "advice-wheel", "sunset"},
    {"memectl -s nats://x:1 bench --bu", "--burst", NULL},
    {"memectl bench --burst ", "spike", NULL},
    {"memectl help ", "bench", NULL},
    {"memectl completion ", "fish", NULL},
    /* Live values from the kubeconfig. */
    {"memectl status --context kind-", "kind-memes", "prod-eu"},
    {"memectl watch -n monitoring-", "monitoring-eu", NULL},
    {"memectl explain scaled", "scaledobject", "vpa"},
};

/* The words of line for a shell array, the last one possibly empty. */
static char *words_of(const char *line, const char *sep)
{
    struct buf b = BUF_INIT;
    char *copy = xstrdup(line);
    bool trailing = line[strlen(line) - 1] == ' ';
    int n = 0;
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        buf_printf(&b, "%s'%s'", n++ ? sep : "", w);
    if (trailing)
        buf_printf(&b, "%s''", sep);
    free(copy);
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

static int word_count(const char *line)
{
    int n = 0;
    char *copy = xstrdup(line);
    for (char *save = NULL, *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
        n++;
    free(copy);
    return n + (line[strlen(line) - 1] == ' ');
}

static void check(const char *shell, const struct case_ *c, const char *out)
{
    if (!has_line(out, c->want))
        fail_msg("%s: \"%s\" offers no \"%s\"; got:\n%s", shell, c->line, c->want, out);
    if (c->avoid && has_line(out, c->avoid))
        fail_msg("%s: \"%s\" wrongly offers \"%s\"", shell, c->line, c->avoid);
}

static void test_bash(void **state)
{
    char *script_path = source_path("completions/memectl.bash");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *w = words_of(cases[i].line, " ");
        char *script = xasprintf("source '%s'; COMP_WORDS=(%s); COMP_CWORD=%d; _memectl; "
                                 "printf '%%s\\n' \"${COMPREPLY[@]}\"",
                                 script_path, w, word_count(cases[i].line) - 1);
        char *out = run_shell("bash", script);
        check("bash", &cases[i], out);
        free(out);
        free(script);
        free(w);
    }
    /* A FILE argument completes file names. */
    char *script = xasprintf("cd '%s' && source '%s'; COMP_WORDS=(memectl gen -o README.m); "
                             "COMP_CWORD=3; _memectl; printf '%%s\\n' \"${COMPREPLY[@]}\"",
                             src_dir, script_path);
    char *out = run_shell("bash", script);
    assert_true(has_line(out, "README.md"));
    free(out);
    free(script);
    free(script_path);
}

static void test_zsh(void **state)
{
    if (!have_shell("zsh"))
        skip();
    char *script_path = source_path("completions/_memectl");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *w = words_of(cases[i].line, " ");
        char *script = xasprintf("compdef() { :; }; _files() { print -- FILES; }; "
                                 "_describe() { print -l -- \"${(@P)2}\"; }; "
                                 "source '%s'; words=(%s); CURRENT=%d; _memectl",
                                 script_path, w, word_count(cases[i].line));
        char *out = run_shell("zsh", script);
        check("zsh", &cases[i], out);
        free(out);
        free(script);
        free(w);
    }
    free(script_path);
}

static void test_fish(void **state)
{
    if (!have_shell("fish"))
        skip();
    char *script_path = source_path("completions/memectl.fish");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *script = xasprintf("source '%s'; complete -C '%s'", script_path, cases[i].line);
        char *out = run_shell("fish", script);
        check("fish", &cases[i], out);
        free(out);
        free(script);
    }
    free(script_path);
}

int main(void)
{
    char *memectl = harness_bin("memectl");
    char *slash = strrchr(memectl, '/');
    *slash = '\0';
    char *abs = realpath(memectl, NULL);
    path_env = xasprintf("PATH=%s:%s", abs ? abs : memectl, getenv("PATH"));
    free(abs);
    free(memectl);
    char *scratch = harness_tmpdir("completion");
    char *kc = xasprintf("%s/kubeconfig", scratch);
    FILE *f = fopen(kc, "w");
    fputs("apiVersion: v1\nkind: Config\nclusters:\n- name: c1\n  cluster: {server: "
          "\"https://127.0.0.1:6443\"}\ncontexts:\n- name: kind-memes\n  context: {cluster: c1, "
          "user: u1, namespace: meme-generator}\n- name: prod-eu\n  context: {cluster: c1, "
          "user: u1, namespace: monitoring-eu}\nusers:\n- name: u1\n  user: {token: t}\n"
          "current-context: kind-memes\n",
          f);
    fclose(f);
    kube_env = xasprintf("KUBECONFIG=%s", kc);
    free(kc);
    /* scripts/run-tests names the source tree; else run from it. */
    const char *src = getenv("MEME_SOURCE_DIR");
    src_dir = src && *src ? xstrdup(src) : realpath(".", NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bash),
        cmocka_unit_test(test_zsh),
        cmocka_unit_test(test_fish),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    free(path_env);
    free(kube_env);
    free(scratch);
    free(src_dir);
    return harness_finish(failures);
}
