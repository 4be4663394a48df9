/*
 * memectl tui in a real terminal: tmux runs it against a real nats-server
 * and meme-worker; capture-pane shows what a person would see. Keys g, a
 * prompt and Enter make that prompt show up as done with its latency; the
 * terminal is resized to 80x24; q exits with status 0. Also --dump.
 */
#include "common.h"
#include "fixtures/kube_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <unistd.h>

#define TOKEN "tui-token-5d1e"

static struct harness_server nats;
static char *scratch, *sock, *kubeconfig, *data;
static pid_t worker = -1;
static struct kube_fixture *fx;

static int tmux(struct buf *out, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
    char *argv[] = {"tmux",     "-L",       sock,       (char *)a1, (char *)a2,
                    (char *)a3, (char *)a4, (char *)a5, NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, out ? out : &o, &e, 10000);
    buf_release(&o);
    buf_release(&e);
    return rc;
}

static char *capture(void)
{
    struct buf out = BUF_INIT;
    tmux(&out, "capture-pane", "-p", "-t", "tui", NULL);
    buf_putc(&out, '\0');
    return (char *)buf_detach(&out, NULL);
}

/* Waits until the screen shows all of the given strings; the last screen. */
static char *wait_screen(int timeout_ms, const char *s1, const char *s2)
{
    char *screen = NULL;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        free(screen);
        screen = capture();
        if (strstr(screen, s1) && (!s2 || strstr(screen, s2)))
            return screen;
        usleep(100000);
    }
    fprintf(stderr, "screen never showed \"%s\"%s%s:\n%s\n", s1, s2 ? " and " : "", s2 ? s2 : "",
            screen);
    return screen;
}

static bool have_tmux(void)
{
    char *argv[] = {"sh", "-c", "command -v tmux >/dev/null", NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    bool ok = harness_run(argv, NULL, &o, &e, 5000) == 0;
    buf_release(&o);
    buf_release(&e);
    return ok;
}

static int setup(void **state)
{
    scratch = harness_tmpdir("tui");
    sock = xasprintf("memectl-test-%d", (int)getpid());
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    /* The Kubernetes API, served by the fixture from recorded objects. */
    char *pki = xasprintf("%s/pki", scratch);
    if (mkdir(pki, 0700) != 0 || kube_fixture_make_pki(pki) != 0)
        return -1;
    const char *root = getenv("MEME_SOURCE_DIR");
    data = xasprintf("%s/tests/fixtures/kube", root && *root ? root : ".");
    struct kube_fixture_opts o = {.data_dir = data, .pki_dir = pki, .token = TOKEN};
    fx = kube_fixture_start(&o);
    free(pki);
    if (!fx)
        return -1;
    kubeconfig = xasprintf("%s/kubeconfig", scratch);
    if (kube_fixture_write_kubeconfig(fx, kubeconfig, NULL, NULL, "    token: " TOKEN "\n"))
        return -1;
    worker = start_worker(nats.url, scratch, "tui-worker");
    return worker > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    tmux(NULL, "kill-server", NULL, NULL, NULL, NULL);
    harness_kill(worker, 5000);
    harness_stop(&nats);
    kube_fixture_stop(fx);
    free(kubeconfig);
    free(data);
    free(sock);
    free(scratch);
    return 0;
}

static void test_live_dashboard(void **state)
{
    if (!have_tmux())
        skip();
    char *bin = harness_bin("memectl");
    char *exit_file = xasprintf("%s/tui.exit", scratch);
    char *cmd = xasprintf("env LANG=C.UTF-8 TERM=xterm-256color MEMECTL_STATE_DIR='%s' "
                          "KUBECONFIG='%s' HOME='%s' '%s' -s '%s' tui; echo $? > '%s'; sleep 30",
                          scratch, kubeconfig, scratch, bin, nats.url, exit_file);
    char *argv[] = {"tmux", "-L",  sock, "new-session", "-d", "-s", "tui",
                    "-x",   "100", "-y", "30",          cmd,  NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    assert_int_equal(harness_run(argv, NULL, &o, &e, 10000), 0);
    buf_release(&o);
    buf_release(&e);

    /* The panels, the queue read from JetStream and the worker from its heartbeat. */
    char *screen = wait_screen(15000, "Workers (1)", "waiting pulls 1");
    assert_non_null(strstr(screen, "tui-worker"));
    assert_non_null(strstr(screen, "Queue MEMES / meme-generator"));
    assert_non_null(strstr(screen, "connected"));
    free(screen);

    /* The scalers from the API server, with their figures. */
    screen = wait_screen(15000, "KEDA", "VPA");
    assert_non_null(strstr(screen, "HPA"));
    /* the gateway HPA: current, desired (min-max) */
    assert_non_null(strstr(screen, "2\u2192"
                                   "3 (1-5)"));
    if (!strstr(screen, "4\u2192"
                        "5 (0-10)")) /* the worker: KEDA's HPA, the ScaledObject's bounds */
        fail_msg("no worker figures:\n%s", screen);
    assert_non_null(strstr(screen, "meme-generator/")); /* the namespace's line */
    free(screen);

    /* The reason for a replica count is one key away: Tab to Scalers, e. */
    tmux(NULL, "send-keys", "-t", "tui", "Tab", NULL);
    tmux(NULL, "send-keys", "-t", "tui", "e", NULL);
    screen = wait_screen(10000, "Explain", "ratio = current / target");
    assert_non_null(strstr(screen, "ratio = current / target"));
    free(screen);
    tmux(NULL, "send-keys", "-t", "tui", "Escape", NULL);
    tmux(NULL, "send-keys", "-t", "tui", "Tab", NULL);
    tmux(NULL, "send-keys", "-t", "tui", "Tab", NULL);

    /* g, a prompt, Enter: the meme shows up as done, with its latency. */
    tmux(NULL, "send-keys", "-t", "tui", "g", NULL);
    screen = wait_screen(5000, "meme>", NULL);
    free(screen);
    tmux(NULL, "send-keys", "-t", "tui", "-l", "tmux says hi | from the dashboard");
    tmux(NULL, "send-keys", "-t", "tui", "Enter", NULL);
    screen = wait_screen(20000, "done", "tmux says hi");
    const char *line = strstr(screen, "done");
    assert_non_null(line);
    size_t len = strcspn(line, "\n");
    char *row = xstrndup(line, len);
    assert_non_null(strstr(row, " ms"));
    assert_non_null(strstr(row, "tui-worker"));
    assert_non_null(strstr(row, "tmux says hi"));
    free(row);
    free(screen);
    /* The preview panel now holds the meme (half blocks: tmux has no sixel here). */
    screen = wait_screen(5000, "Meme ", "\u2580");
    assert_non_null(strstr(screen, "\u2580"));
    free(screen);

    /* A meme made by another client shows up from the events, and selecting it
     * previews its image, fetched from the results bucket by id. */
    struct buf go = BUF_INIT, ge = BUF_INIT;
    char *gen_out = xasprintf("%s/other.png", scratch);
    char *gargv[] = {
        bin, "-s", nats.url, "gen", "--json", "-o", gen_out, "someone else | made this", NULL};
    assert_int_equal(harness_run(gargv, NULL, &go, &ge, 30000), 0);
    buf_putc(&go, '\0');
    const char *idp = strstr((char *)go.data, "\"id\":\"");
    assert_non_null(idp);
    char want[32];
    snprintf(want, sizeof(want), "Meme %.8s", idp + 6);
    screen = wait_screen(10000, "someone else", NULL);
    free(screen);
    tmux(NULL, "send-keys", "-t", "tui", "Up", NULL); /* the newest row */
    screen = wait_screen(10000, want, "\u2580");
    assert_non_null(strstr(screen, want));
    free(screen);
    free(gen_out);
    buf_release(&go);
    buf_release(&ge);

    /* Help, then a resize to the smallest supported terminal. */
    tmux(NULL, "send-keys", "-t", "tui", "?", NULL);
    screen = wait_screen(5000, "burst: send a batch", NULL);
    free(screen);
    tmux(NULL, "send-keys", "-t", "tui", "Escape", NULL);
    tmux(NULL, "resize-window", "-t", "tui", "-x", "80");
    tmux(NULL, "resize-window", "-t", "tui", "-y", "24");
    screen = wait_screen(5000, "waiting pulls", "q quit");
    /* Every figure still on screen at 80x24. */
    assert_non_null(strstr(screen, "waiting pulls"));
    assert_non_null(strstr(screen, "Workers (1)"));
    assert_non_null(strstr(screen, "tmux says hi"));
    free(screen);

    /* Through a broker restart: the header says so, then the dashboard carries on. */
    assert_int_equal(harness_kill(nats.pid, 5000) >= 0, 1);
    screen = wait_screen(15000, "reconnecting", NULL);
    assert_non_null(strstr(screen, "reconnecting"));
    free(screen);
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/nats.conf", nats.dir);
    char *nargv[] = {"nats-server", "-c", conf, NULL};
    nats.pid = harness_spawn(nargv, NULL, nats.log);
    assert_true(nats.pid > 0);
    screen = wait_screen(20000, "connected", "waiting pulls");
    free(screen);
    tmux(NULL, "send-keys", "-t", "tui", "g", NULL);
    tmux(NULL, "send-keys", "-t", "tui", "-l", "after the restart | still here");
    tmux(NULL, "send-keys", "-t", "tui", "Enter", NULL);
    /* Its row turns to done (the earlier meme's row says done already). */
    bool done = false;
    for (int waited = 0; waited < 30000 && !done; waited += 200) {
        screen = capture();
        const char *at = strstr(screen, "after the restart");
        if (at) {
            const char *row_start = at;
            while (row_start > screen && row_start[-1] != '\n')
                row_start--;
            char *row2 = xstrndup(row_start, (size_t)(at - row_start));
            done = strstr(row2, "done") != NULL;
            free(row2);
        }
        if (!done) {
            free(screen);
            usleep(200000);
        }
    }
    if (!done)
        fail_msg("the meme made after the restart never showed as done");
    free(screen);

    /* q quits cleanly. */
    tmux(NULL, "send-keys", "-t", "tui", "q", NULL);
    char *status = NULL;
    for (int i = 0; i < 50 && !status; i++) {
        FILE *f = fopen(exit_file, "r");
        if (f) {
            char buf[16] = "";
            if (fgets(buf, sizeof(buf), f))
                status = xstrdup(buf);
            fclose(f);
        }
        if (!status)
            usleep(100000);
    }
    assert_non_null(status);
    assert_string_equal(status, "0\n");
    free(status);
    free(cmd);
    free(exit_file);
    free(bin);
}

static void test_dump(void **state)
{
    char *bin = harness_bin("memectl");
    char *argv[] = {bin,         "-s",  nats.url,  "tui", "--dump",
                    "--columns", "100", "--lines", "30",  NULL};
    char *env[] = {"KUBECONFIG=/nonexistent", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(harness_run(argv, env, &out, &err, 30000), 0);
    buf_putc(&out, '\0');
    const char *text = (const char *)out.data;
    assert_non_null(strstr(text, "Queue MEMES / meme-generator"));
    assert_non_null(strstr(text, "Workers (1)"));
    assert_non_null(strstr(text, "tui-worker"));
    int lines = 0;
    for (const char *p = text; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 30);
    buf_release(&out);
    buf_release(&err);

    /* Not a terminal and no --dump: a clear usage error. */
    char *argv2[] = {bin, "-s", nats.url, "tui", NULL};
    assert_int_equal(harness_run(argv2, env, &out, &err, 10000), 2);
    buf_putc(&err, '\0');
    assert_non_null(strstr((char *)err.data, "--dump"));
    buf_release(&out);
    buf_release(&err);

    /* No NATS: the frame says so instead of failing. */
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", harness_free_port());
    char *argv3[] = {bin, "-s", url, "tui", "--dump", "--columns", "80", "--lines", "24", NULL};
    assert_int_equal(harness_run(argv3, env, &out, &err, 30000), 0);
    buf_putc(&out, '\0');
    assert_non_null(strstr((char *)out.data, "cannot reach NATS"));
    assert_non_null(strstr((char *)out.data, "reconnecting"));
    buf_release(&out);
    buf_release(&err);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_live_dashboard),
        cmocka_unit_test(test_dump),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
