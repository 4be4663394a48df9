/*
 * Settings: flag > environment > config file > default, shown by
 * `memectl config` with their sources and secrets masked; broken files
 * stop with file and line; the file's defaults reach `memectl gen`; and
 * NATS credentials from the file work against a nats-server that requires
 * a token, which never appears in any output.
 */
#include "common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <sys/stat.h>
#include <unistd.h>

#define TOKEN "s3cr3t-t0ken-for-tests"

static char *scratch;

/* Runs memectl with env entries ("K=V" / "K") and arguments. */
static int memectl_env(struct buf *out, struct buf *err, char **env, ...)
{
    va_list ap;
    va_start(ap, env);
    int rc = memectl_va(out, err, env, 30000, NULL, ap);
    va_end(ap);
    return rc;
}

static char *write_config(const char *name, const char *text, mode_t mode)
{
    char *path = xasprintf("%s/%s", scratch, name);
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static json_t *setting(json_t *view, const char *key)
{
    return json_object_get(json_object_get(view, "settings"), key);
}

static void test_precedence_and_sources(void **state)
{
    char *cfg = write_config("prec.conf",
                             "# comment\n\nserver = nats://127.0.0.1:1111\n"
                             "display = 'blocks'\nnamespace = \"memes\"\n",
                             0600);
    char *cfg_env = xasprintf("MEMECTL_CONFIG=%s", cfg);
    struct buf out = BUF_INIT, err = BUF_INIT;

    /* File only. */
    char *env1[] = {cfg_env, "NATS_URL", "MEMECTL_DISPLAY", NULL};
    assert_int_equal(memectl_env(&out, &err, env1, "config", "view", "--json", NULL), 0);
    json_t *v = json_loads((char *)out.data, 0, NULL);
    assert_non_null(v);
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "value")),
                        "nats://127.0.0.1:1111");
    char *line3 = xasprintf("%s:3", cfg);
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "source")), line3);
    assert_string_equal(json_string_value(json_object_get(setting(v, "display"), "value")),
                        "blocks");
    assert_string_equal(json_string_value(json_object_get(setting(v, "namespace"), "value")),
                        "memes");
    json_decref(v);
    buf_release(&out);
    buf_release(&err);

    /* The environment beats the file. */
    char *env2[] = {cfg_env, "NATS_URL=nats://127.0.0.1:2222", "MEMECTL_DISPLAY=none", NULL};
    assert_int_equal(memectl_env(&out, &err, env2, "config", "--json", NULL), 0);
    v = json_loads((char *)out.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "value")),
                        "nats://127.0.0.1:2222");
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "source")),
                        "env NATS_URL");
    assert_string_equal(json_string_value(json_object_get(setting(v, "display"), "value")), "none");
    json_decref(v);
    buf_release(&out);
    buf_release(&err);

    /* A flag beats both; --config beats MEMECTL_CONFIG. */
    char *other = write_config("other.conf", "display = sixel\n", 0600);
    assert_int_equal(memectl_env(&out, &err, env2, "-s", "nats://127.0.0.1:3333", "--config", other,
                                 "config", "--json", NULL),
                     0);
    v = json_loads((char *)out.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "value")),
                        "nats://127.0.0.1:3333");
    assert_string_equal(json_string_value(json_object_get(setting(v, "server"), "source")), "flag");
    assert_string_equal(json_string_value(json_object_get(v, "file")), other);
    assert_null(setting(v, "namespace")); /* only in the file not read */
    json_decref(v);
    buf_release(&out);
    buf_release(&err);

    /* config path names the file. */
    assert_int_equal(memectl_env(&out, &err, env1, "config", "path", NULL), 0);
    char *want = xasprintf("%s\n", cfg);
    assert_string_equal((char *)out.data, want);
    free(want);
    free(other);
    free(line3);
    free(cfg_env);
    free(cfg);
    buf_release(&out);
    buf_release(&err);
}

static void test_secrets_are_masked(void **state)
{
    char *cfg = write_config("secret.conf",
                             "server = nats://ada:pa55word@127.0.0.1:4222\ntoken = " TOKEN
                             "\npassword = hunter2\n",
                             0644);
    char *cfg_env = xasprintf("MEMECTL_CONFIG=%s", cfg);
    char *env[] = {cfg_env, "NATS_URL", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl_env(&out, &err, env, "config", NULL), 0);
    const char *all[2] = {(char *)out.data, (char *)err.data};
    for (int i = 0; i < 2; i++) {
        assert_null(strstr(all[i], TOKEN));
        assert_null(strstr(all[i], "pa55word"));
        assert_null(strstr(all[i], "hunter2"));
    }
    assert_non_null(strstr((char *)out.data, "****"));
    /* Others can read a file with secrets in it: a warning says how to fix it. */
    assert_non_null(strstr((char *)err.data, "chmod 600"));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl_env(&out, &err, env, "config", "--json", NULL), 0);
    assert_null(strstr((char *)out.data, TOKEN));
    assert_null(strstr((char *)out.data, "pa55word"));
    free(cfg_env);
    free(cfg);
    buf_release(&out);
    buf_release(&err);
}

static void test_broken_files(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *bad = write_config("bad.conf", "server = x\nsever = y\n", 0600);
    char *env[] = {"MEMECTL_CONFIG", NULL};
    assert_int_equal(memectl_env(&out, &err, env, "--config", bad, "config", NULL), 2);
    char *where = xasprintf("%s:2", bad);
    assert_non_null(strstr((char *)err.data, where));
    assert_non_null(strstr((char *)err.data, "did you mean \"server\""));
    buf_release(&out);
    buf_release(&err);
    free(where);

    char *noeq = write_config("noeq.conf", "server\n", 0600);
    assert_int_equal(memectl_env(&out, &err, env, "--config", noeq, "gen", "x", NULL), 2);
    assert_non_null(strstr((char *)err.data, "key = value"));
    buf_release(&out);
    buf_release(&err);

    /* A named file that is missing is an error; the default one missing is not. */
    assert_int_equal(
        memectl_env(&out, &err, env, "--config", "/nonexistent/memectl.conf", "config", NULL), 2);
    assert_non_null(strstr((char *)err.data, "/nonexistent/memectl.conf"));
    buf_release(&out);
    buf_release(&err);
    char *home = xasprintf("XDG_CONFIG_HOME=%s/empty", scratch);
    char *env2[] = {"MEMECTL_CONFIG", home, NULL};
    assert_int_equal(memectl_env(&out, &err, env2, "config", NULL), 0);
    buf_release(&out);
    buf_release(&err);

    /* A bad default from the file is reported with its source. */
    char *size = write_config("size.conf", "size = huge\n", 0600);
    assert_int_equal(memectl_env(&out, &err, env, "--config", size, "gen", "x", NULL), 2);
    assert_non_null(strstr((char *)err.data, "size.conf:1"));
    free(size);
    free(home);
    free(noeq);
    free(bad);
    buf_release(&out);
    buf_release(&err);
}

static void test_token_auth_and_file_defaults(void **state)
{
    /* A nats-server that wants a token. */
    int port = harness_free_port();
    char *store = xasprintf("%s/js", scratch);
    char *log = xasprintf("%s/nats-auth.log", scratch);
    char ports[16];
    snprintf(ports, sizeof(ports), "%d", port);
    char *nargv[] = {"nats-server", "-a",  "127.0.0.1", "-p",  ports, "-js",
                     "-sd",         store, "--auth",    TOKEN, NULL};
    pid_t nats = harness_spawn(nargv, NULL, log);
    assert_true(nats > 0);
    char *url = xasprintf("nats://127.0.0.1:%d", port);
    for (int i = 0; i < 100; i++) {
        struct mq_conn mq;
        struct mq_connect_opts co = {.url = url, .token = TOKEN};
        int ok = mq_connect(&mq, &co, NULL);
        mq_close(&mq);
        if (ok == 0)
            break;
        usleep(50000);
    }
    /* A worker with the token in its URL. */
    char *wurl = xasprintf("nats://" TOKEN "@127.0.0.1:%d", port);
    pid_t worker = start_worker(wurl, scratch, "wa");
    assert_true(worker > 0);

    char *text = xasprintf("server = %s\ntoken = %s\nsize = 128\ndisplay = none\n", url, TOKEN);
    char *cfg = write_config("auth.conf", text, 0600);
    char *cfg_env = xasprintf("MEMECTL_CONFIG=%s", cfg);
    char *img = xasprintf("%s/auth.png", scratch);
    char *env[] = {cfg_env, "NATS_URL", "NATS_TOKEN", "MEMECTL_DISPLAY", "MEMECTL_SIZE", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl_env(&out, &err, env, "gen", "-o", img, "config | token", NULL), 0);
    struct meme_image *m = load_image(img);
    assert_non_null(m);
    assert_int_equal(m->width, 128); /* size from the file */
    image_free(m);
    assert_null(strstr((char *)out.data, TOKEN));
    assert_null(strstr((char *)err.data, TOKEN));
    buf_release(&out);
    buf_release(&err);

    /* A wrong token: refused, clearly, without echoing any token. */
    char *env_bad[] = {cfg_env, "NATS_URL", "NATS_TOKEN=wrong-token-value", NULL};
    int rc = memectl_env(&out, &err, env_bad, "gen", "-o", img, "x", NULL);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr((char *)err.data, "refused the credentials"));
    assert_null(strstr((char *)err.data, "wrong-token-value"));
    assert_null(strstr((char *)err.data, TOKEN));
    buf_release(&out);
    buf_release(&err);

    harness_kill(worker, 5000);
    harness_kill(nats, 5000);
    free(img);
    free(cfg_env);
    free(cfg);
    free(text);
    free(wurl);
    free(url);
    free(log);
    free(store);
}

int main(void)
{
    scratch = harness_tmpdir("config");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence_and_sources),
        cmocka_unit_test(test_secrets_are_masked),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_token_auth_and_file_defaults),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    free(scratch);
    return harness_finish(failures);
}
