/*
 * kubeconfig resolution: every cluster and user field, relative paths,
 * $KUBECONFIG merging in kubectl's order, --kubeconfig, --context and
 * --namespace, exec plugins, the in-cluster service account, and clear
 * messages for broken files.
 */
#include "kube/kubeconfig.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char dir[256];

static char *write_file(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static int setup(void **state)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/kubeconfig-test-XXXXXX", tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(dir));
    char *sub = xasprintf("%s/sub", dir);
    mkdir(sub, 0700);
    free(sub);
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    return 0;
}

static int teardown(void **state)
{
    char *cmd = xasprintf("rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static const char *FULL = "apiVersion: v1\n"
                          "kind: Config\n"
                          "current-context: dev\n"
                          "clusters:\n"
                          "- name: c1\n"
                          "  cluster:\n"
                          "    server: https://10.0.0.1:6443/\n"
                          "    certificate-authority: ca.crt\n"
                          "    tls-server-name: kubernetes.default\n"
                          "    proxy-url: socks5://127.0.0.1:1080\n"
                          "- name: c2\n"
                          "  cluster:\n"
                          "    server: https://other:443\n"
                          "    insecure-skip-tls-verify: true\n"
                          "    certificate-authority-data: aGVsbG8=\n"
                          "users:\n"
                          "- name: u1\n"
                          "  user:\n"
                          "    client-certificate: sub/u1.crt\n"
                          "    client-key: /abs/u1.key\n"
                          "- name: u2\n"
                          "  user:\n"
                          "    token: s3cret\n"
                          "    client-certificate-data: Y2VydA==\n"
                          "    client-key-data: a2V5\n"
                          "- name: u3\n"
                          "  user:\n"
                          "    tokenFile: tok\n"
                          "- name: u4\n"
                          "  user:\n"
                          "    exec:\n"
                          "      apiVersion: client.authentication.k8s.io/v1\n"
                          "      command: ./bin/plugin\n"
                          "      args: [\"--a\", \"b\"]\n"
                          "      env:\n"
                          "      - name: FOO\n"
                          "        value: bar\n"
                          "      installHint: install the plugin\n"
                          "      provideClusterInfo: true\n"
                          "      interactiveMode: Never\n"
                          "contexts:\n"
                          "- name: dev\n"
                          "  context: {cluster: c1, user: u1, namespace: meme-generator}\n"
                          "- name: prod\n"
                          "  context: {cluster: c2, user: u2}\n"
                          "- name: tf\n"
                          "  context: {cluster: c1, user: u3}\n"
                          "- name: ex\n"
                          "  context: {cluster: c1, user: u4}\n";

static void test_cluster_and_cert_files(void **state)
{
    char *p = write_file("config", FULL);
    struct kube_config c;
    struct meme_err e = {0};
    struct kube_config_opts o = {.kubeconfig = p};
    assert_int_equal(kube_config_load(&c, &o, &e), 0);
    assert_string_equal(c.context, "dev");
    assert_string_equal(c.server, "https://10.0.0.1:6443");
    assert_string_equal(c.namespace, "meme-generator");
    char *want = xasprintf("%s/ca.crt", dir); /* relative to the file */
    assert_string_equal(c.ca_file, want);
    free(want);
    want = xasprintf("%s/sub/u1.crt", dir);
    assert_string_equal(c.cert_file, want);
    free(want);
    assert_string_equal(c.key_file, "/abs/u1.key");
    assert_string_equal(c.tls_server_name, "kubernetes.default");
    assert_string_equal(c.proxy_url, "socks5://127.0.0.1:1080");
    assert_false(c.insecure);
    assert_null(c.token);
    kube_config_release(&c);
    free(p);
}

static void test_data_fields_and_context_flag(void **state)
{
    char *p = write_file("config", FULL);
    struct kube_config c;
    struct kube_config_opts o = {.kubeconfig = p, .context = "prod", .namespace = "cache"};
    assert_int_equal(kube_config_load(&c, &o, NULL), 0);
    assert_string_equal(c.context, "prod");
    assert_string_equal(c.namespace, "cache");
    assert_true(c.insecure);
    assert_int_equal(c.ca_len, 5);
    assert_memory_equal(c.ca_data, "hello", 5);
    assert_int_equal(c.cert_len, 4);
    assert_memory_equal(c.cert_data, "cert", 4);
    assert_memory_equal(c.key_data, "key", 3);
    assert_string_equal(c.token, "s3cret");
    kube_config_release(&c);
    /* no namespace in the context: "default" */
    o.namespace = NULL;
    assert_int_equal(kube_config_load(&c, &o, NULL), 0);
    assert_string_equal(c.namespace, "default");
    kube_config_release(&c);
    free(p);
}

static void test_token_file_and_exec(void **state)
{
    char *p = write_file("config", FULL);
    struct kube_config c;
    struct kube_config_opts o = {.kubeconfig = p, .context = "tf"};
    assert_int_equal(kube_config_load(&c, &o, NULL), 0);
    char *want = xasprintf("%s/tok", dir);
    assert_string_equal(c.token_file, want);
    free(want);
    kube_config_release(&c);
    o.context = "ex";
    assert_int_equal(kube_config_load(&c, &o, NULL), 0);
    assert_true(c.has_exec);
    want = xasprintf("%s/./bin/plugin", dir);
    assert_string_equal(c.exec.command, want);
    free(want);
    assert_string_equal(c.exec.args[0], "--a");
    assert_string_equal(c.exec.args[1], "b");
    assert_null(c.exec.args[2]);
    assert_string_equal(c.exec.env[0], "FOO=bar");
    assert_null(c.exec.env[1]);
    assert_string_equal(c.exec.api_version, "client.authentication.k8s.io/v1");
    assert_string_equal(c.exec.install_hint, "install the plugin");
    assert_true(c.exec.provide_cluster_info);
    kube_config_release(&c);
    free(p);
}

static void test_merge_first_wins(void **state)
{
    char *a = write_file("a.yaml", "current-context: ctx-a\n"
                                   "clusters:\n"
                                   "- name: shared\n"
                                   "  cluster: {server: 'https://from-a:1'}\n"
                                   "contexts:\n"
                                   "- name: ctx-b\n"
                                   "  context: {cluster: shared, user: ub, namespace: from-a}\n");
    char *b = write_file("sub/b.yaml", "current-context: ignored\n"
                                       "clusters:\n"
                                       "- name: shared\n"
                                       "  cluster: {server: 'https://from-b:2'}\n"
                                       "- name: only-b\n"
                                       "  cluster:\n"
                                       "    server: https://only-b:3\n"
                                       "    certificate-authority: ca.pem\n"
                                       "users:\n"
                                       "- name: ub\n"
                                       "  user: {token: tb}\n"
                                       "contexts:\n"
                                       "- name: ctx-a\n"
                                       "  context: {cluster: only-b, user: ub}\n"
                                       "- name: ctx-b\n"
                                       "  context: {cluster: only-b, namespace: from-b}\n");
    char *missing = xasprintf("%s/does-not-exist", dir);
    char *env = xasprintf("%s::%s:%s", missing, a, b);
    setenv("KUBECONFIG", env, 1);
    struct kube_config c;
    struct meme_err e = {0};
    assert_int_equal(kube_config_load(&c, NULL, &e), 0);
    /* current-context from a; ctx-a only in b; cluster only-b from b with its
     * CA relative to b's directory */
    assert_string_equal(c.context, "ctx-a");
    assert_string_equal(c.server, "https://only-b:3");
    char *want = xasprintf("%s/sub/ca.pem", dir);
    assert_string_equal(c.ca_file, want);
    free(want);
    assert_string_equal(c.token, "tb");
    kube_config_release(&c);
    /* ctx-b is in both: a's wins, and a's "shared" cluster too */
    struct kube_config_opts o = {.context = "ctx-b"};
    assert_int_equal(kube_config_load(&c, &o, &e), 0);
    assert_string_equal(c.namespace, "from-a");
    assert_string_equal(c.server, "https://from-a:1");
    assert_string_equal(c.source + strlen(c.source) - strlen(b), b);
    kube_config_release(&c);
    unsetenv("KUBECONFIG");
    free(a);
    free(b);
    free(missing);
    free(env);
}

static void test_broken_files(void **state)
{
    struct kube_config c;
    struct meme_err e = {0};
    char *p = write_file("broken", "clusters:\n- name: x\n  cluster: {server: [unclosed\n");
    struct kube_config_opts o = {.kubeconfig = p};
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, p));
    assert_non_null(strstr(e.msg, "not valid YAML: line "));
    free(p);

    p = write_file("list", "- a\n- b\n");
    o.kubeconfig = p;
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "is not a mapping"));
    free(p);

    p = write_file("notlist", "current-context: x\nclusters: 3\ncontexts:\n"
                              "- name: x\n  context: {cluster: c}\n");
    o.kubeconfig = p;
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "\"clusters\" is not a list"));
    free(p);

    p = write_file("config", FULL);
    o.kubeconfig = p;
    o.context = "nope";
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "context \"nope\" is not in kubeconfig"));
    free(p);

    p = write_file("noserver", "current-context: a\nclusters:\n- name: c\n  cluster: {}\n"
                               "contexts:\n- name: a\n  context: {cluster: c}\n");
    o.kubeconfig = p;
    o.context = NULL;
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "cluster \"c\" has no server"));
    free(p);

    p = write_file("badb64", "current-context: a\nclusters:\n- name: c\n  cluster: {server: "
                             "'https://x', certificate-authority-data: '!!!'}\n"
                             "contexts:\n- name: a\n  context: {cluster: c}\n");
    o.kubeconfig = p;
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "\"certificate-authority-data\" is not base64"));
    free(p);

    o.kubeconfig = "/nonexistent/kubeconfig";
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(e.msg, "cannot open kubeconfig \"/nonexistent/kubeconfig\""));
}

static void test_in_cluster(void **state)
{
    char *sa = xasprintf("%s/sa", dir);
    mkdir(sa, 0700);
    char *home = xasprintf("%s/emptyhome", dir);
    mkdir(home, 0700);
    char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    struct kube_config c;
    struct meme_err e = {0};
    struct kube_config_opts o = {.sa_dir = sa};
    /* not in a pod */
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "no cluster configured"));
    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(kube_config_load(&c, &o, &e), MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "no service account token"));
    free(write_file("sa/token", "tok\n"));
    free(write_file("sa/namespace", "meme-generator\n"));
    assert_int_equal(kube_config_load(&c, &o, &e), 0);
    assert_true(c.in_cluster);
    assert_string_equal(c.server, "https://10.96.0.1:443");
    assert_string_equal(c.namespace, "meme-generator");
    char *want = xasprintf("%s/ca.crt", sa);
    assert_string_equal(c.ca_file, want);
    free(want);
    kube_config_release(&c);
    setenv("KUBERNETES_SERVICE_HOST", "fd00::1", 1);
    assert_int_equal(kube_config_load(&c, &o, &e), 0);
    assert_string_equal(c.server, "https://[fd00::1]:443");
    kube_config_release(&c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
    free(sa);
    free(home);
}

static void test_server_shown_without_password(void **state)
{
    struct kube_config c;
    memset(&c, 0, sizeof(c));
    char out[128];
    c.server = "https://admin:s3cret@10.0.0.1:6443";
    assert_string_equal(kube_config_server_shown(&c, out, sizeof(out)),
                        "https://***@10.0.0.1:6443");
    c.server = "https://10.0.0.1:6443";
    assert_string_equal(kube_config_server_shown(&c, out, sizeof(out)), "https://10.0.0.1:6443");
    c.server = "https://h/path@x";
    assert_string_equal(kube_config_server_shown(&c, out, sizeof(out)), "https://h/path@x");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cluster_and_cert_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_data_fields_and_context_flag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_file_and_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_merge_first_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_cluster, setup, teardown),
        cmocka_unit_test(test_server_shown_without_password),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
