/*
 * The deployable stack, checked offline: `kubectl kustomize` builds every
 * overlay of k8s/; tests/k8s/check.mjs validates the output against the
 * Kubernetes, KEDA and prometheus-operator schemas (npm kubernetes-models)
 * and rejects unknown fields; the names, numbers and metric names in the
 * manifests are compared with what the compiled code uses and what the
 * running gateway and worker export; every container is locked down; the
 * memectl role is read-only. Each check is also shown to fail on a broken
 * copy. The Dockerfiles' RUN lines and the scripts that build the images
 * go through shellcheck. (tests/integration/test_images builds and runs
 * the images where a container engine can run.)
 *
 * kubectl is not a Debian package: where it is missing, tests/k8s/build.mjs
 * builds the overlays instead (it does what kustomize does for the features
 * k8s/ uses), and where both exist their outputs must be identical. Tests
 * skip cleanly (cmocka skip) where what they need is missing: kubectl for
 * the kubectl tests, node and the npm packages (scripts/install-deps
 * installs them) for the rest, shellcheck for the Dockerfiles.
 */
#include "common.h"

#include <curl/curl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

static char *src;     /* the source tree */
static char *scratch; /* built YAML, expectations */
static char *built[3];
static const char *const overlays[] = {"base", "overlays/local", "overlays/cloud"};
static const int hpa_min[] = {1, 1, 2};
static char *exported; /* JSON array of metric names the servers export */

static bool have(const char *prog)
{
    char *argv[] = {(char *)prog, "--version", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 30000);
    buf_release(&out);
    buf_release(&err);
    return rc == 0;
}

static bool have_kubectl(void)
{
    char *argv[] = {"kubectl", "version", "--client", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 30000);
    buf_release(&out);
    buf_release(&err);
    return rc == 0;
}

static bool have_node_modules(void)
{
    char *p = xasprintf("%s/tests/k8s/node_modules/kubernetes-models/package.json", src);
    bool ok = have("node") && file_exists(p);
    free(p);
    return ok;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    struct buf b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

/* Runs argv; stdout into a new file under scratch named name. The path, or
 * NULL (with stderr shown). */
static char *run_to_file(char *const argv[], const char *name)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *path = NULL;
    int rc = harness_run(argv, NULL, &out, &err, 120000);
    if (rc != 0)
        fprintf(stderr, "%s: exit %d: %s\n", argv[0], rc, err.data ? (char *)err.data : "");
    if (rc == 0 && out.len > 0) {
        path = xasprintf("%s/%s", scratch, name);
        write_file(path, out.data, out.len);
    }
    buf_release(&out);
    buf_release(&err);
    return path;
}

/* Builds an overlay into scratch with kubectl, or where kubectl is missing
 * with tests/k8s/build.mjs (whose output test_offline_build_is_kubectls
 * compares with kubectl's). The path, or NULL. */
static char *kustomize(int i)
{
    if (built[i])
        return built[i];
    char *dir = xasprintf("%s/k8s/%s", src, overlays[i]);
    char *script = xasprintf("%s/tests/k8s/build.mjs", src);
    char *name = xasprintf("built-%d.yaml", i);
    char *kargv[] = {"kubectl", "kustomize", dir, NULL};
    char *nargv[] = {"node", script, dir, NULL};
    built[i] = run_to_file(have_kubectl() ? kargv : nargv, name);
    free(dir);
    free(script);
    free(name);
    return built[i];
}

/* Runs one check of check.mjs; returns its exit code, stderr in *err_out. */
static int run_check(const char *check, const char *yaml, const char *expect_json,
                     struct buf *err_out)
{
    char *script = xasprintf("%s/tests/k8s/check.mjs", src);
    char *expect = NULL;
    if (expect_json) {
        expect = xasprintf("%s/expect-%s.json", scratch, check);
        write_file(expect, expect_json, strlen(expect_json));
    }
    char *argv[] = {"node", script, (char *)check, (char *)yaml, expect, NULL};
    char *env_src = xasprintf("MEME_SOURCE_DIR=%s", src);
    char *env[] = {env_src, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, env, &out, &err, 120000);
    if (rc != 0 && !err_out)
        fprintf(stderr, "%s%s", out.data ? (char *)out.data : "", err.data ? (char *)err.data : "");
    if (err_out)
        *err_out = err;
    else
        buf_release(&err);
    buf_release(&out);
    free(script);
    free(expect);
    free(env_src);
    return rc;
}

/* What the compiled code says, for the cross-checks. */
static char *expectations(int overlay)
{
    return xasprintf("{\"stream\":\"%s\",\"consumer\":\"%s\",\"namespaces\":[\"meme-generator\","
                     "\"messaging\",\"cache\",\"monitoring\"],\"nats_monitor_port\":8222,"
                     "\"payload_wanted\":%d,\"hpa_min\":%d,\"exported\":%s}",
                     PROTO_STREAM, PROTO_CONSUMER, MQ_PAYLOAD_WANTED, hpa_min[overlay],
                     exported ? exported : "[]");
}

#define NEED_KUBECTL()                                                                             \
    do {                                                                                           \
        if (!have_kubectl()) {                                                                     \
            fprintf(stderr, "kubectl is not installed: skipped\n");                                \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

#define NEED_NODE()                                                                                \
    do {                                                                                           \
        if (!have_node_modules()) {                                                                \
            fprintf(stderr, "node or tests/k8s/node_modules missing (scripts/install-deps "        \
                            "installs them): skipped\n");                                          \
            skip();                                                                                \
        }                                                                                          \
    } while (0)

/* The offline builder gives exactly what kubectl gives, object for object. */
static void test_offline_build_is_kubectls(void **state)
{
    (void)state;
    NEED_KUBECTL();
    NEED_NODE();
    char *script = xasprintf("%s/tests/k8s/build.mjs", src);
    for (int i = 0; i < 3; i++) {
        char *dir = xasprintf("%s/k8s/%s", src, overlays[i]);
        char *n1 = xasprintf("offline-%d.json", i), *n2 = xasprintf("kubectl-%d.json", i);
        char *a1[] = {"node", script, "--json", dir, NULL};
        char *a2[] = {"node", script, "--canon", kustomize(i), NULL};
        char *p1 = run_to_file(a1, n1), *p2 = run_to_file(a2, n2);
        assert_non_null(p1);
        assert_non_null(p2);
        char *t1 = read_file(p1), *t2 = read_file(p2);
        if (strcmp(t1, t2) != 0)
            fprintf(stderr, "tests/k8s/build.mjs and kubectl differ on k8s/%s: diff %s %s\n",
                    overlays[i], p1, p2);
        assert_string_equal(t1, t2);
        free(t1);
        free(t2);
        free(p1);
        free(p2);
        free(n1);
        free(n2);
        free(dir);
    }
    free(script);
}

static void test_kustomize_builds_every_overlay(void **state)
{
    (void)state;
    NEED_KUBECTL();
    for (int i = 0; i < 3; i++) {
        char *path = kustomize(i);
        assert_non_null(path);
        char *yaml = read_file(path);
        assert_non_null(strstr(yaml, "kind: HorizontalPodAutoscaler"));
        assert_non_null(strstr(yaml, "kind: ScaledObject"));
        assert_non_null(strstr(yaml, "kind: VerticalPodAutoscaler"));
        free(yaml);
    }
}

/* Runs check on every overlay; each must pass. */
static void check_all(const char *check)
{
    for (int i = 0; i < 3; i++) {
        char *path = kustomize(i);
        assert_non_null(path);
        char *e = expectations(i);
        int rc = run_check(check, path, e, NULL);
        free(e);
        if (rc != 0)
            fprintf(stderr, "check %s failed on k8s/%s\n", check, overlays[i]);
        assert_int_equal(rc, 0);
    }
}

/* A copy of the local overlay's output with one text replaced; the check
 * must fail on it and name the problem. */
static void check_fails_on(const char *check, const char *from, const char *to,
                           const char *want_in_error)
{
    char *yaml = read_file(kustomize(1));
    assert_non_null(yaml);
    char *at = strstr(yaml, from);
    if (!at)
        fprintf(stderr, "\"%s\" is not in the built YAML\n", from);
    assert_non_null(at);
    struct buf b = BUF_INIT;
    buf_append(&b, yaml, (size_t)(at - yaml));
    buf_puts(&b, to);
    buf_puts(&b, at + strlen(from));
    char *bad = xasprintf("%s/broken-%s.yaml", scratch, check);
    write_file(bad, b.data, b.len);
    char *e = expectations(1);
    struct buf err = BUF_INIT;
    int rc = run_check(check, bad, e, &err);
    buf_putc(&err, '\0');
    if (rc != 1 || !strstr((char *)err.data, want_in_error))
        fprintf(stderr, "check %s on a broken copy: rc %d, said: %s\n", check, rc,
                (char *)err.data);
    assert_int_equal(rc, 1);
    assert_non_null(strstr((char *)err.data, want_in_error));
    buf_release(&err);
    buf_release(&b);
    free(e);
    free(bad);
    free(yaml);
}

static void test_schema_valid_offline(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("schema");
    check_fails_on("schema", "containerPort: 8080", "containerPort: \"8080\"", "must be integer");
    check_fails_on("schema", "maxReplicaCount: 10", "maxReplicaCount: ten", "maxReplicaCount");
}

static void test_no_unknown_fields(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("strict");
    check_fails_on("strict", "imagePullPolicy: Never", "imagePullPolicyy: Never",
                   "unknown field /spec/template/spec/containers/0/imagePullPolicyy");
    check_fails_on("strict", "updateMode: Auto", "updateMode: Auto\n    minReplica: 1",
                   "redis-vpa");
    check_fails_on("strict", "dynamicConfig:", "dynamicConfigs:", "Redis/cache/redis");
}

static void test_names_match_the_code(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("names");
    check_fails_on("names", "stream: MEMES", "stream: MEMES2", "is not the code's \"MEMES\"");
    check_fails_on("names", "value: meme-generator\n", "value: meme-generatr\n", "NATS_CONSUMER");
    /* The gateway's probes on its own probe port, not the API port. */
    check_fails_on("names", "path: /healthz\n            port: probes",
                   "path: /healthz\n            port: http", "not the probe port");
    check_fails_on("names", "- name: GATEWAY_PROBE_ADDR\n", "- name: GATEWAY_PROBE_ADDRESS\n",
                   "GATEWAY_PROBE_ADDR is not set");
    /* Each Deployment's NATS user exists in the Helm values, with its
     * password from its own Secret. */
    check_fails_on("names", "value: meme-worker\n", "value: meme-wrker\n",
                   "NATS_USER meme-wrker is not a user");
    check_fails_on("names", "name: nats-user-meme-gateway\n", "name: nats-user-meme-worker\n",
                   "NATS_PASSWORD does not come from the Secret nats-user-meme-gateway");
}

static void test_security_settings_on_every_container(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("security");
    check_fails_on("security", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false",
                   "readOnlyRootFilesystem is not true");
    check_fails_on("security", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true",
                   "allowPrivilegeEscalation");
    check_fails_on("security", "- ALL", "- NET_RAW", "do not drop ALL");
    check_fails_on("security", "runAsUser: 10001", "runAsUser: 1000", "not the image's user");
    check_fails_on("security", "- name: HF_API_TOKEN\n          valueFrom:",
                   "- name: HF_API_TOKEN\n          value: hf_abcdefghijklmnopqrstuvwxyz\n"
                   "        - name: UNUSED\n          valueFrom:",
                   "plain text");
}

static void test_rbac_read_only_and_sufficient(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("rbac");
    check_fails_on("rbac", "  - get\n  - list\n  - watch\n",
                   "  - get\n  - list\n  - watch\n  - delete\n", "read-only");
    check_fails_on("rbac", "  - horizontalpodautoscalers\n", "  - horizontalpodautoscalerz\n",
                   "autoscaling/horizontalpodautoscalers");
}

static void test_autoscalers_seed_numbers_and_fixes(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("autoscalers");
    check_fails_on("autoscalers", "activationLagThreshold: \"0\"", "activationLagThreshold: \"1\"",
                   "activationLagThreshold");
    check_fails_on("autoscalers", "minReplicas: 1\n    updateMode",
                   "minReplicas: 2\n    updateMode", "updatePolicy.minReplicas");
    check_fails_on("autoscalers", "maxmemory 48mb", "maxmemory 96mb", "maxmemory");
    check_fails_on("autoscalers", "terminationGracePeriodSeconds: 40",
                   "terminationGracePeriodSeconds: 20", "drain timeout");
}

static void test_network_policies(void **state)
{
    (void)state;
    NEED_NODE();
    check_all("network");
    check_fails_on("network", "port: 6379\n      protocol: TCP\n    to:",
                   "port: 6380\n      protocol: TCP\n    to:", "6379");
    check_fails_on("network",
                   "        matchLabels:\n          kubernetes.io/metadata.name: monitoring\n"
                   "    ports:\n    - port: 8081\n",
                   "        matchLabels:\n          kubernetes.io/metadata.name: monitorin\n"
                   "    ports:\n    - port: 8081\n",
                   "8081");
}

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* Adds the names of the "# TYPE" lines of a /metrics page to names. */
static int scrape_names(const char *url, struct buf *names)
{
    struct buf body = BUF_INIT;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    int n = 0;
    buf_putc(&body, '\0');
    for (char *line = (char *)body.data; cc == CURLE_OK && line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char name[128];
        if (sscanf(line, "# TYPE %127s", name) == 1) {
            buf_printf(names, "%s\"%s\"", names->len > 1 ? "," : "", name);
            n++;
        }
        line = nl ? nl + 1 : NULL;
    }
    buf_release(&body);
    return n;
}

struct wait_url {
    const char *url;
};

static bool url_answers(void *arg)
{
    struct wait_url *w = arg;
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code == 200;
}

/* The metric names the dashboard uses are the ones the running gateway and
 * worker export (scraped here, not copied from the sources). */
static void test_dashboard_metrics_are_exported(void **state)
{
    (void)state;
    NEED_NODE();
    struct harness_server nats;
    assert_int_equal(harness_nats_start(&nats), 0);
    char gw_listen[64], wk_listen[64], gw_url[96], wk_url[96];
    int gp = harness_free_port(), wp = harness_free_port();
    snprintf(gw_listen, sizeof(gw_listen), "127.0.0.1:%d", gp);
    snprintf(wk_listen, sizeof(wk_listen), "127.0.0.1:%d", wp);
    snprintf(gw_url, sizeof(gw_url), "http://%s/metrics", gw_listen);
    snprintf(wk_url, sizeof(wk_url), "http://%s/metrics", wk_listen);
    char *gbin = harness_bin("meme-gateway"), *wbin = harness_bin("meme-worker");
    char *glog = xasprintf("%s/gateway.log", scratch), *wlog = xasprintf("%s/worker.log", scratch);
    char *gargv[] = {gbin, "--listen", gw_listen, "--nats", nats.url, NULL};
    char *wargv[] = {wbin, "--nats", nats.url, "--http", wk_listen, "--id", "k8s-w", NULL};
    pid_t g = harness_spawn(gargv, NULL, glog), w = harness_spawn(wargv, NULL, wlog);
    struct wait_url wg = {gw_url}, ww = {wk_url};
    assert_true(harness_wait_for(url_answers, &wg, 15000));
    assert_true(harness_wait_for(url_answers, &ww, 15000));
    struct buf names = BUF_INIT;
    buf_putc(&names, '[');
    assert_true(scrape_names(gw_url, &names) >= 3);
    assert_true(scrape_names(wk_url, &names) >= 3);
    buf_putc(&names, ']');
    buf_putc(&names, '\0');
    free(exported);
    exported = (char *)buf_detach(&names, NULL);
    harness_kill(g, 10000);
    harness_kill(w, 10000);
    harness_stop(&nats);
    free(gbin);
    free(wbin);
    free(glog);
    free(wlog);
    check_all("metrics");
    check_fails_on("metrics", "path: /metrics\n    port: metrics\n",
                   "path: /metrics\n    port: metricz\n", "worker does not have");
    /* A dashboard that names a metric nobody exports fails. */
    char *saved = exported;
    exported = xstrdup("[\"meme_gateway_http_requests_in_flight\",\"a\",\"b\",\"c\",\"d\"]");
    char *e = expectations(1);
    struct buf err = BUF_INIT;
    assert_int_equal(run_check("metrics", kustomize(1), e, &err), 1);
    buf_putc(&err, '\0');
    assert_non_null(strstr((char *)err.data, "neither meme-gateway nor meme-worker exports"));
    buf_release(&err);
    free(e);
    free(exported);
    exported = saved;
}

/* The build stage of a Dockerfile: from its first FROM to the next. A new
 * string. */
static char *build_stage(const char *text)
{
    const char *a = strstr(text, "\nFROM ");
    assert_non_null(a);
    const char *b = strstr(a + 1, "\nFROM ");
    assert_non_null(b);
    return xasprintf("%.*s", (int)(b - a), a);
}

/* Runs shellcheck on a script; true when it is clean (else what it said
 * is shown). */
static bool shellcheck_clean(const char *script, const char *what)
{
    char *argv[] = {"shellcheck", "--shell=sh", "--severity=style", (char *)script, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 60000);
    if (rc != 0)
        fprintf(stderr, "shellcheck on %s:\n%s%s", what, out.data ? (char *)out.data : "",
                err.data ? (char *)err.data : "");
    buf_release(&out);
    buf_release(&err);
    return rc == 0;
}

/* The RUN lines of a Dockerfile, continuation lines joined, each as a
 * script for shellcheck; also the structure the images must have: a build
 * stage, then a runtime stage FROM scratch holding the root file system
 * docker/rootfs laid out for the binary, run as user 10001, with OCI labels. */
static void lint_dockerfile(const char *name, const char *binary)
{
    char *path = xasprintf("%s/docker/%s", src, name);
    char *text = read_file(path);
    assert_non_null(text);
    char *labels_text = xstrdup(text); /* before lines are cut */
    int froms = 0, runs = 0, bad = 0;
    bool user = false, scratch_last = false, healthcheck = false, copies_binary = false;
    struct buf cmd = BUF_INIT;
    bool in_run = false;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *p = line;
        while (*p == ' ')
            p++;
        if (!in_run && *p != '#') {
            if (strncmp(p, "FROM ", 5) == 0) {
                froms++;
                scratch_last = strcmp(p, "FROM scratch") == 0;
            } else if (strncmp(p, "USER ", 5) == 0) {
                user = strcmp(p + 5, "10001:10001") == 0;
            } else if (strncmp(p, "HEALTHCHECK", 11) == 0) {
                healthcheck = true;
            } else if (strncmp(p, "COPY --from=build", 17) == 0 && strstr(p, binary)) {
                copies_binary = true;
            } else if (strncmp(p, "RUN ", 4) == 0) {
                in_run = true;
                buf_release(&cmd);
                p += 4;
            }
        }
        if (in_run && *p != '#') {
            size_t len = strlen(p);
            bool cont = len && p[len - 1] == '\\';
            buf_append(&cmd, p, cont ? len - 1 : len);
            buf_putc(&cmd, cont ? ' ' : '\n');
            if (!cont) {
                in_run = false;
                runs++;
                char *script = xasprintf("%s/run-%s-%d.sh", scratch, binary, runs);
                FILE *f = fopen(script, "w");
                assert_non_null(f);
                /* The build args the RUN lines use, as the shell sees them. */
                fprintf(f, "#!/bin/sh\nexport VERSION=0.1.0\n");
                fwrite(cmd.data, 1, cmd.len, f);
                fclose(f);
                char *what = xasprintf("RUN %d of %s", runs, name);
                if (!shellcheck_clean(script, what))
                    bad++;
                free(what);
                free(script);
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    buf_release(&cmd);
    assert_true(froms >= 2);   /* multi-stage */
    assert_true(scratch_last); /* nothing in the runtime image but what rootfs put there */
    assert_true(user);         /* not root: the uid the manifests name */
    assert_false(healthcheck); /* Kubernetes probes instead */
    assert_true(copies_binary);
    assert_true(runs >= 2);
    assert_int_equal(bad, 0);
    const char *labels[] = {
        "org.opencontainers.image.version=\"${VERSION}\"",
        "org.opencontainers.image.source=", "org.opencontainers.image.licenses="};
    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++)
        assert_non_null(strstr(labels_text, labels[i]));
    /* The build stage installs every library the build needs, as
     * scripts/install-deps lists them (test-only libraries aside). */
    char *list = xasprintf("%s/scripts/install-deps", src);
    char *largv[] = {list, "--list", NULL};
    struct buf pk = BUF_INIT, pe = BUF_INIT;
    assert_int_equal(harness_run(largv, NULL, &pk, &pe, 30000), 0);
    buf_putc(&pk, '\0');
    char *whole = read_file(path);
    for (char *save = NULL, *pkg = strtok_r((char *)pk.data, "\n", &save); pkg;
         pkg = strtok_r(NULL, "\n", &save)) {
        size_t n = strlen(pkg);
        if (n < 5 || strcmp(pkg + n - 4, "-dev") != 0 || strcmp(pkg, "libcmocka-dev") == 0)
            continue;
        if (!strstr(whole, pkg))
            fprintf(stderr, "%s does not install %s\n", name, pkg);
        assert_non_null(strstr(whole, pkg));
    }
    free(whole);
    free(list);
    buf_release(&pk);
    buf_release(&pe);
    free(labels_text);
    free(text);
    free(path);
}

static void test_dockerfiles_lint(void **state)
{
    (void)state;
    if (!have("shellcheck")) {
        fprintf(stderr, "shellcheck is not installed: skipped\n");
        skip();
    }
    lint_dockerfile("worker.Dockerfile", "meme-worker");
    lint_dockerfile("gateway.Dockerfile", "meme-gateway");
    /* One build stage, line for line, so building the second image reuses
     * the first one's. */
    char *wp = xasprintf("%s/docker/worker.Dockerfile", src);
    char *gp = xasprintf("%s/docker/gateway.Dockerfile", src);
    char *wt = read_file(wp), *gt = read_file(gp);
    char *wb = build_stage(wt), *gb = build_stage(gt);
    assert_string_equal(wb, gb);
    free(wb);
    free(gb);
    free(wt);
    free(gt);
    free(wp);
    free(gp);
    /* The scripts that make the base image and the runtime root. */
    const char *scripts[] = {"docker/rootfs", "scripts/image-base"};
    for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++) {
        char *p = xasprintf("%s/%s", src, scripts[i]);
        assert_true(shellcheck_clean(p, scripts[i]));
        free(p);
    }
    /* shellcheck does catch what it should here. */
    char *script = xasprintf("%s/bad.sh", scratch);
    write_file(script, "#!/bin/sh\nfor f in $(ls *.deb); do echo $f; done\n", 48);
    char *argv[] = {"shellcheck", "--shell=sh", script, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_not_equal(harness_run(argv, NULL, &out, &err, 60000), 0);
    buf_release(&out);
    buf_release(&err);
    free(script);
}

/* Without a container engine `make images` says so and fails. */
static void test_make_images_without_engine(void **state)
{
    (void)state;
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *argv[] = {"make", "-s", "-C", src, "images", "DOCKER=/nonexistent/docker", NULL};
    int rc = harness_run(argv, NULL, &out, &err, 60000);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr((char *)err.data, "is not installed"));
    buf_release(&out);
    buf_release(&err);
    char *argv2[] = {"make", "-s", "-C", src, "images", "DOCKER=false", NULL};
    rc = harness_run(argv2, NULL, &out, &err, 60000);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr((char *)err.data, "no container engine answers"));
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const char *s = getenv("MEME_SOURCE_DIR");
    src = s && *s ? xstrdup(s) : getcwd(NULL, 0);
    scratch = harness_tmpdir("k8s");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kustomize_builds_every_overlay),
        cmocka_unit_test(test_offline_build_is_kubectls),
        cmocka_unit_test(test_schema_valid_offline),
        cmocka_unit_test(test_no_unknown_fields),
        cmocka_unit_test(test_names_match_the_code),
        cmocka_unit_test(test_security_settings_on_every_container),
        cmocka_unit_test(test_rbac_read_only_and_sufficient),
        cmocka_unit_test(test_autoscalers_seed_numbers_and_fixes),
        cmocka_unit_test(test_network_policies),
        cmocka_unit_test(test_dashboard_metrics_are_exported),
        cmocka_unit_test(test_dockerfiles_lint),
        cmocka_unit_test(test_make_images_without_engine),
    };
    int failures = cmocka_run_group_tests(tests, NULL, NULL);
    for (int i = 0; i < 3; i++)
        free(built[i]);
    free(exported);
    free(src);
    free(scratch);
    curl_global_cleanup();
    return harness_finish(failures);
}
