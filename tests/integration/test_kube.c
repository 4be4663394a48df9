/*
 * The Kubernetes client against the fixture API server over TLS: bearer
 * tokens (inline, from a rotating token file), client certificates (files
 * and inline data), exec credential plugins (cached until expiry, run again
 * after a 401), tls-server-name, the API's refusals in plain words, watches
 * with 410 Gone, and stock kubectl against the same server.
 */
#include "harness.h"
#include "kube/kube.h"
#include "fixtures/kube_fixture.h"
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

#define TOKEN "fixture-token-3f9a"

static char *scratch, *pki;
static struct kube_fixture *fx;

static char *data_dir(void)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    return xasprintf("%s/tests/fixtures/kube", root ? root : ".");
}

static int setup(void **state)
{
    scratch = harness_tmpdir("kube");
    pki = xasprintf("%s/pki", scratch);
    mkdir(pki, 0700);
    if (kube_fixture_make_pki(pki) != 0)
        return -1;
    char *dd = data_dir();
    struct kube_fixture_opts o = {.data_dir = dd, .pki_dir = pki, .token = TOKEN};
    fx = kube_fixture_start(&o);
    free(dd);
    return fx ? 0 : -1;
}

static int teardown(void **state)
{
    kube_fixture_stop(fx);
    free(pki);
    free(scratch);
    return 0;
}

static char *write_text(const char *name, const char *text)
{
    char *p = xasprintf("%s/%s", scratch, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return p;
}

/* A client for a kubeconfig at path with the given user section. */
static struct kube_client *client_for(const char *name, const char *ca, const char *user_yaml,
                                      struct meme_err *err)
{
    char *path = xasprintf("%s/%s", scratch, name);
    assert_int_equal(kube_fixture_write_kubeconfig(fx, path, ca, "meme-generator", user_yaml), 0);
    struct kube_config cfg;
    struct kube_config_opts o = {.kubeconfig = path};
    int rc = kube_config_load(&cfg, &o, err);
    free(path);
    if (rc != 0)
        return NULL;
    return kube_client_new(&cfg);
}

static void test_token_lists_and_gets(void **state)
{
    struct meme_err e = {0};
    struct kube_client *c = client_for("tok.yaml", NULL, "    token: " TOKEN "\n", &e);
    assert_non_null(c);
    json_t *list = NULL;
    assert_int_equal(kube_get(c,
                              "/apis/autoscaling/v2/namespaces/meme-generator/"
                              "horizontalpodautoscalers",
                              &list, &e),
                     0);
    assert_string_equal(json_string_value(json_object_get(list, "kind")),
                        "HorizontalPodAutoscalerList");
    assert_int_equal(json_array_size(json_object_get(list, "items")), 2);
    json_decref(list);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/apis/apps/v1/namespaces/cache/statefulsets/redis", &obj, &e), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(obj, "status"), "readyReplicas")), 1);
    json_decref(obj);
    char user[64];
    kube_fixture_last_user(fx, user, sizeof(user));
    assert_string_equal(user, "fixture-token");
    kube_client_free(c);
}

static void test_refusals_in_plain_words(void **state)
{
    struct meme_err e = {0};
    json_t *obj = NULL;
    /* a wrong token: unauthorized, and the token is not in the message */
    struct kube_client *c = client_for("bad.yaml", NULL, "    token: wrong-token-77\n", &e);
    assert_int_equal(kube_get(c, "/api/v1/namespaces/cache/pods", &obj, &e), MEME_E_IO);
    assert_int_equal(kube_last_status(c), 401);
    assert_non_null(strstr(e.msg, "unauthorized"));
    assert_non_null(strstr(e.msg, "fixture-user"));
    assert_null(strstr(e.msg, "wrong-token-77"));
    kube_client_free(c);

    c = client_for("tok2.yaml", NULL, "    token: " TOKEN "\n", &e);
    assert_int_equal(kube_get(c, "/apis/apps/v1/namespaces/cache/deployments/nope", &obj, &e),
                     MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "deployments.apps \"nope\" not found"));
    assert_int_equal(kube_get(c, "/apis/example.com/v1/widgets", &obj, &e), MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "is the CRD installed?"));
    kube_client_free(c);

    /* a CA that did not sign the server: not trusted */
    char *other = xasprintf("%s/other-ca.crt", pki);
    c = client_for("ca.yaml", other, "    token: " TOKEN "\n", &e);
    assert_int_equal(kube_get(c, "/api/v1/namespaces/cache/pods", &obj, &e), MEME_E_IO);
    assert_non_null(strstr(e.msg, "not trusted"));
    free(other);
    kube_client_free(c);

    /* nothing listening */
    struct kube_config cfg;
    char *text = xasprintf("current-context: x\nclusters:\n- name: c\n  cluster:\n"
                           "    server: https://127.0.0.1:%d\n    insecure-skip-tls-verify: true\n"
                           "contexts:\n- name: x\n  context: {cluster: c}\n",
                           harness_free_port());
    assert_int_equal(kube_config_load_text(&cfg, text, strlen(text), "/mem", NULL, &e), 0);
    free(text);
    c = kube_client_new(&cfg);
    assert_int_equal(kube_get(c, "/api", &obj, &e), MEME_E_UNREACHABLE);
    assert_non_null(strstr(e.msg, "cannot reach the API server"));
    kube_client_free(c);
}

static void test_forbidden_and_missing_crd(void **state)
{
    char *dd = data_dir();
    struct kube_fixture_opts o = {.data_dir = dd,
                                  .pki_dir = pki,
                                  .token = TOKEN,
                                  .missing_group = "keda.sh",
                                  .forbidden_resource = "verticalpodautoscalers"};
    struct kube_fixture *fx2 = kube_fixture_start(&o);
    free(dd);
    assert_non_null(fx2);
    char *path = xasprintf("%s/fx2.yaml", scratch);
    assert_int_equal(kube_fixture_write_kubeconfig(fx2, path, NULL, NULL, "    token: " TOKEN "\n"),
                     0);
    struct kube_config cfg;
    struct kube_config_opts co = {.kubeconfig = path};
    struct meme_err e = {0};
    assert_int_equal(kube_config_load(&cfg, &co, &e), 0);
    struct kube_client *c = kube_client_new(&cfg);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c,
                              "/apis/autoscaling.k8s.io/v1/namespaces/cache/"
                              "verticalpodautoscalers",
                              &obj, &e),
                     MEME_E_IO);
    assert_non_null(strstr(e.msg, "forbidden: "));
    assert_non_null(strstr(e.msg, "cannot list resource \"verticalpodautoscalers\" in API group "
                                  "\"autoscaling.k8s.io\" in the namespace \"cache\""));
    assert_int_equal(kube_get(c, "/apis/keda.sh/v1alpha1/scaledobjects", &obj, &e),
                     MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "does not serve keda.sh/v1alpha1 scaledobjects"));
    assert_non_null(strstr(e.msg, "CRD installed"));
    kube_client_free(c);
    kube_fixture_stop(fx2);
    free(path);
}

static void expect_pods_as(struct kube_client *c, const char *user)
{
    struct meme_err e = {0};
    json_t *obj = NULL;
    int rc = kube_get(c, "/api/v1/namespaces/cache/pods", &obj, &e);
    if (rc)
        fprintf(stderr, "kube_get: %s\n", e.msg);
    assert_int_equal(rc, 0);
    json_decref(obj);
    char got[64];
    kube_fixture_last_user(fx, got, sizeof(got));
    assert_string_equal(got, user);
}

static void test_client_certificates(void **state)
{
    struct meme_err e = {0};
    char *y = xasprintf("    client-certificate: %s/client.crt\n    client-key: %s/client.key\n",
                        pki, pki);
    struct kube_client *c = client_for("cert.yaml", NULL, y, &e);
    free(y);
    expect_pods_as(c, "fixture-admin");
    kube_client_free(c);

    /* the same as inline base64 data, from another directory with a relative CA */
    char *cmd = xasprintf("cd '%s' && printf '    client-certificate-data: %%s\\n"
                          "    client-key-data: %%s\\n' \"$(base64 -w0 client.crt)\" "
                          "\"$(base64 -w0 client.key)\" > '%s/user.yaml'",
                          pki, scratch);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char *uf = xasprintf("%s/user.yaml", scratch);
    FILE *f = fopen(uf, "r");
    char user[8192];
    size_t n = fread(user, 1, sizeof(user) - 1, f);
    user[n] = 0;
    fclose(f);
    free(uf);
    c = client_for("data.yaml", "pki/ca.crt", user, &e); /* relative to the kubeconfig */
    assert_non_null(c);
    expect_pods_as(c, "fixture-admin");
    kube_client_free(c);

    /* a certificate from a CA the server does not trust */
    y = xasprintf("    client-certificate: %s/stranger.crt\n    client-key: %s/stranger.key\n", pki,
                  pki);
    c = client_for("stranger.yaml", NULL, y, &e);
    free(y);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/api/v1/namespaces/cache/pods", &obj, &e), MEME_E_IO);
    assert_non_null(strstr(e.msg, "unauthorized"));
    kube_client_free(c);
}

static void test_token_file_rotates(void **state)
{
    struct meme_err e = {0};
    char *tf = write_text("token", "stale\n");
    char *y = xasprintf("    tokenFile: %s\n", tf);
    struct kube_client *c = client_for("tf.yaml", NULL, y, &e);
    free(y);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/api/v1/namespaces/cache/pods", &obj, &e), MEME_E_IO);
    free(write_text("token", TOKEN "\n")); /* rotated: the next request reads it */
    expect_pods_as(c, "fixture-token");
    kube_client_free(c);
    free(tf);
}

static void test_exec_plugin(void **state)
{
    /* Counts its runs; the first run gives a token the server refuses, later
     * runs the right one with an expiry an hour away. */
    char *count = xasprintf("%s/exec-count", scratch);
    char *script = xasprintf("#!/bin/sh\n"
                             "n=$(cat '%s' 2>/dev/null || echo 0); n=$((n+1)); echo $n > '%s'\n"
                             "case \"$KUBERNETES_EXEC_INFO\" in *'\"interactive\":false'*) ;; "
                             "*) echo bad info >&2; exit 3;; esac\n"
                             "[ \"$PLUGIN_ENV\" = yes ] || exit 4\n"
                             "[ \"$1\" = get-token ] || exit 5\n"
                             "if [ $n -eq 1 ]; then tok=expired; else tok=%s; fi\n"
                             "exp=$(date -u -d '+1 hour' +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
                             "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                             "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%%s\","
                             "\"expirationTimestamp\":\"%%s\"}}' $tok $exp\n",
                             count, count, TOKEN);
    char *sp = write_text("plugin.sh", script);
    chmod(sp, 0755);
    free(script);
    struct meme_err e = {0};
    /* relative command: resolved against the kubeconfig's directory */
    struct kube_client *c = client_for("exec.yaml", NULL,
                                       "    exec:\n"
                                       "      apiVersion: client.authentication.k8s.io/v1\n"
                                       "      command: ./plugin.sh\n"
                                       "      args: [get-token]\n"
                                       "      env:\n"
                                       "      - {name: PLUGIN_ENV, value: 'yes'}\n"
                                       "      interactiveMode: Never\n",
                                       &e);
    assert_non_null(c);
    expect_pods_as(c, "fixture-token"); /* 401 with "expired", run again, retried */
    expect_pods_as(c, "fixture-token"); /* cached: no third run */
    FILE *f = fopen(count, "r");
    int runs = 0;
    assert_int_equal(fscanf(f, "%d", &runs), 1);
    fclose(f);
    assert_int_equal(runs, 2);
    kube_client_free(c);

    /* a credential that has expired is fetched again before the next request */
    char *count2 = xasprintf("%s/exec-count2", scratch);
    char *script2 = xasprintf("#!/bin/sh\n"
                              "n=$(cat '%s' 2>/dev/null || echo 0); echo $((n+1)) > '%s'\n"
                              "exp=$(date -u -d '-1 hour' +%%Y-%%m-%%dT%%H:%%M:%%SZ)\n"
                              "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\","
                              "\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\","
                              "\"expirationTimestamp\":\"%%s\"}}' $exp\n",
                              count2, count2, TOKEN);
    char *sp2 = write_text("plugin2.sh", script2);
    chmod(sp2, 0755);
    free(script2);
    c = client_for("exec3.yaml", NULL,
                   "    exec:\n"
                   "      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: ./plugin2.sh\n",
                   &e);
    expect_pods_as(c, "fixture-token");
    expect_pods_as(c, "fixture-token");
    expect_pods_as(c, "fixture-token");
    f = fopen(count2, "r");
    assert_int_equal(fscanf(f, "%d", &runs), 1);
    fclose(f);
    assert_int_equal(runs, 3);
    kube_client_free(c);
    free(sp2);
    free(count2);

    /* a plugin that is not there: the install hint */
    c = client_for("exec2.yaml", NULL,
                   "    exec:\n"
                   "      apiVersion: client.authentication.k8s.io/v1\n"
                   "      command: no-such-plugin-x\n"
                   "      installHint: apt-get install the-plugin\n",
                   &e);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/api", &obj, &e), MEME_E_NOT_FOUND);
    assert_non_null(strstr(e.msg, "apt-get install the-plugin"));
    kube_client_free(c);
    free(sp);
    free(count);
}

static void test_tls_server_name(void **state)
{
    /* The certificate names 127.0.0.1, localhost and kubernetes.default; a
     * server address of "localhost.invalid"-style mismatch is fixed by
     * tls-server-name. Here: connect to 127.0.0.1 but verify as
     * kubernetes.default. */
    char *path = xasprintf("%s/sni.yaml", scratch);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "current-context: x\nclusters:\n- name: c\n  cluster:\n"
            "    server: %s\n    certificate-authority: %s/ca.crt\n"
            "    tls-server-name: kubernetes.default\n"
            "users:\n- name: u\n  user: {token: %s}\n"
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
            kube_fixture_url(fx), pki, TOKEN);
    fclose(f);
    struct kube_config cfg;
    struct kube_config_opts o = {.kubeconfig = path};
    struct meme_err e = {0};
    assert_int_equal(kube_config_load(&cfg, &o, &e), 0);
    struct kube_client *c = kube_client_new(&cfg);
    expect_pods_as(c, "fixture-token");
    kube_client_free(c);
    /* a name the certificate does not carry fails verification */
    f = fopen(path, "w");
    fprintf(f,
            "current-context: x\nclusters:\n- name: c\n  cluster:\n"
            "    server: %s\n    certificate-authority: %s/ca.crt\n"
            "    tls-server-name: elsewhere.example\n"
            "users:\n- name: u\n  user: {token: %s}\n"
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
            kube_fixture_url(fx), pki, TOKEN);
    fclose(f);
    assert_int_equal(kube_config_load(&cfg, &o, &e), 0);
    c = kube_client_new(&cfg);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/api", &obj, &e), MEME_E_IO);
    assert_non_null(strstr(e.msg, "not trusted"));
    kube_client_free(c);
    free(path);
}

static void test_in_cluster_token_rotates(void **state)
{
    char *sa = xasprintf("%s/serviceaccount", scratch);
    mkdir(sa, 0700);
    char *cmd = xasprintf("cp '%s/ca.crt' '%s/ca.crt' && printf meme-generator > "
                          "'%s/namespace' && printf old-token > '%s/token'",
                          pki, sa, sa, sa);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    char port[16];
    snprintf(port, sizeof(port), "%d", kube_fixture_port(fx));
    char *old_home = getenv("HOME") ? xstrdup(getenv("HOME")) : NULL;
    setenv("HOME", sa, 1); /* no ~/.kube/config there */
    unsetenv("KUBECONFIG");
    setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", port, 1);
    struct kube_config cfg;
    struct kube_config_opts o = {.sa_dir = sa};
    struct meme_err e = {0};
    assert_int_equal(kube_config_load(&cfg, &o, &e), 0);
    assert_true(cfg.in_cluster);
    assert_string_equal(cfg.namespace, "meme-generator");
    struct kube_client *c = kube_client_new(&cfg);
    json_t *obj = NULL;
    assert_int_equal(kube_get(c, "/api/v1/namespaces/meme-generator/pods", &obj, &e), MEME_E_IO);
    assert_int_equal(kube_last_status(c), 401);
    /* the kubelet rotates the projected token: the next request uses it */
    char *tf = xasprintf("%s/token", sa);
    FILE *f = fopen(tf, "w");
    fputs(TOKEN, f);
    fclose(f);
    free(tf);
    expect_pods_as(c, "fixture-token");
    kube_client_free(c);
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
    free(sa);
}

static void test_insecure_skip_verify(void **state)
{
    char *path = xasprintf("%s/insecure.yaml", scratch);
    FILE *f = fopen(path, "w");
    fprintf(f,
            "current-context: x\nclusters:\n- name: c\n  cluster:\n"
            "    server: %s\n    insecure-skip-tls-verify: true\n"
            "users:\n- name: u\n  user: {token: %s}\n"
            "contexts:\n- name: x\n  context: {cluster: c, user: u}\n",
            kube_fixture_url(fx), TOKEN);
    fclose(f);
    struct kube_config cfg;
    struct kube_config_opts o = {.kubeconfig = path};
    assert_int_equal(kube_config_load(&cfg, &o, NULL), 0);
    struct kube_client *c = kube_client_new(&cfg);
    expect_pods_as(c, "fixture-token"); /* no CA given: only insecure lets it through */
    kube_client_free(c);
    free(path);
}

struct seen {
    int added, modified, bookmarks;
    char last_name[128];
    char last_replicas[16];
    int stop_after;
};

static int on_event(void *arg, const char *type, json_t *obj)
{
    struct seen *s = arg;
    if (strcmp(type, "ADDED") == 0)
        s->added++;
    else if (strcmp(type, "MODIFIED") == 0)
        s->modified++;
    else if (strcmp(type, "BOOKMARK") == 0)
        s->bookmarks++;
    if (strcmp(type, "BOOKMARK") == 0)
        return 0;
    const char *n = json_string_value(json_object_get(json_object_get(obj, "metadata"), "name"));
    snprintf(s->last_name, sizeof(s->last_name), "%s", n ? n : "");
    json_int_t r =
        json_integer_value(json_object_get(json_object_get(obj, "status"), "currentReplicas"));
    snprintf(s->last_replicas, sizeof(s->last_replicas), "%lld", (long long)r);
    return s->stop_after && s->added + s->modified >= s->stop_after;
}

static void test_watch_and_gone(void **state)
{
    struct meme_err e = {0};
    struct kube_client *c = client_for("watch.yaml", NULL, "    token: " TOKEN "\n", &e);
    json_t *list = NULL;
    const char *path = "/apis/autoscaling/v2/namespaces/meme-generator/horizontalpodautoscalers";
    assert_int_equal(kube_get(c, path, &list, &e), 0);
    char *rv = xstrdup(
        json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion")));
    json_t *hpa = json_deep_copy(json_array_get(json_object_get(list, "items"), 0));
    json_decref(list);
    json_object_set_new(json_object_get(hpa, "status"), "currentReplicas", json_integer(3));
    assert_int_equal(kube_fixture_put(fx, hpa), 0);
    json_decref(hpa);
    /* from the list's version: exactly the one change, then the server's
     * timeout ends the watch with a bookmark */
    struct seen s = {0};
    assert_int_equal(kube_watch(c, path, rv, 1, on_event, &s, &e), 0);
    assert_int_equal(s.added, 0);
    assert_int_equal(s.modified, 1);
    assert_int_equal(s.bookmarks, 1);
    assert_string_equal(s.last_name, "meme-generator-frontend-hpa");
    /* no version: the current objects as ADDED; the callback can stop it */
    memset(&s, 0, sizeof(s));
    s.stop_after = 2;
    assert_int_equal(kube_watch(c, path, NULL, 30, on_event, &s, &e), 0);
    assert_int_equal(s.added, 2);
    /* after compaction the old version is gone: 410, list again */
    kube_fixture_compact(fx);
    memset(&s, 0, sizeof(s));
    assert_int_equal(kube_watch(c, path, rv, 30, on_event, &s, &e), KUBE_GONE);
    free(rv);
    kube_client_free(c);
}

static void test_kubectl_speaks_to_fixture(void **state)
{
    if (access("/usr/bin/kubectl", X_OK) != 0 && system("command -v kubectl >/dev/null") != 0) {
        skip();
        return;
    }
    char *cfg = xasprintf("%s/kubectl.yaml", scratch);
    assert_int_equal(kube_fixture_write_kubeconfig(fx, cfg, NULL, NULL, "    token: " TOKEN "\n"),
                     0);
    char *cache = xasprintf("%s/kubectl-cache", scratch);
    char *argv[] = {"kubectl", "--kubeconfig",         cfg,  "--cache-dir", cache,
                    "get",     "hpa,scaledobject,vpa", "-A", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *env[] = {"KUBECONFIG", NULL};
    int rc = harness_run(argv, env, &out, &err, 60000);
    buf_putc(&out, 0);
    buf_putc(&err, 0);
    if (rc != 0)
        fprintf(stderr, "kubectl: %s\n", (char *)err.data);
    assert_int_equal(rc, 0);
    const char *o = (const char *)out.data;
    assert_non_null(strstr(o, "meme-generator-frontend-hpa"));
    assert_non_null(strstr(o, "keda-hpa-meme-generator-backend-scaler"));
    assert_non_null(strstr(o, "scaledobject.keda.sh/meme-generator-backend-scaler"));
    assert_non_null(strstr(o, "verticalpodautoscaler.autoscaling.k8s.io/redis-vpa"));
    assert_non_null(strstr(o, "cache"));
    /* server-side printing: kubectl asked for a Table and drew its columns */
    assert_non_null(strstr(o, "REFERENCE"));
    assert_non_null(strstr(o, "cpu: 45%/30%, memory: 38%/50%"));
    assert_non_null(strstr(o, "5750m/5 (avg)"));
    assert_non_null(strstr(o, "SCALETARGETKIND"));
    assert_non_null(strstr(o, "nats-jetstream"));
    assert_non_null(strstr(o, "PROVIDED"));
    buf_release(&out);
    buf_release(&err);
    /* and with a client certificate, as JSON */
    char *cfg2 = xasprintf("%s/kubectl-cert.yaml", scratch);
    char *y = xasprintf("    client-certificate: %s/client.crt\n    client-key: %s/client.key\n",
                        pki, pki);
    assert_int_equal(kube_fixture_write_kubeconfig(fx, cfg2, NULL, "cache", y), 0);
    char *argv2[] = {"kubectl",
                     "--kubeconfig",
                     cfg2,
                     "--cache-dir",
                     cache,
                     "get",
                     "vpa",
                     "redis-vpa",
                     "-o",
                     "jsonpath={.status.recommendation."
                     "containerRecommendations[0].target.cpu}",
                     NULL};
    rc = harness_run(argv2, env, &out, &err, 60000);
    buf_putc(&out, 0);
    buf_putc(&err, 0);
    if (rc != 0)
        fprintf(stderr, "kubectl: %s\n", (char *)err.data);
    assert_int_equal(rc, 0);
    assert_string_equal((const char *)out.data, "163m");
    buf_release(&out);
    buf_release(&err);
    free(y);
    free(cfg2);
    free(cfg);
    free(cache);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_token_lists_and_gets),
        cmocka_unit_test(test_refusals_in_plain_words),
        cmocka_unit_test(test_forbidden_and_missing_crd),
        cmocka_unit_test(test_client_certificates),
        cmocka_unit_test(test_token_file_rotates),
        cmocka_unit_test(test_exec_plugin),
        cmocka_unit_test(test_tls_server_name),
        cmocka_unit_test(test_in_cluster_token_rotates),
        cmocka_unit_test(test_insecure_skip_verify),
        cmocka_unit_test(test_watch_and_gone),
        cmocka_unit_test(test_kubectl_speaks_to_fixture),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
