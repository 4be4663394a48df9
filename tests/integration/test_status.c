/*
 * memectl status, explain and watch against the fixture Kubernetes API
 * server (TLS, bearer token) and a real nats-server -js holding requests
 * in the MEMES stream: the exact figures of the recorded objects and of the
 * queue, the text, wide and JSON forms, no cluster, no NATS, a missing CRD,
 * a refused list, conflicts, explain's arithmetic, watch's live update
 * through a Kubernetes watch, and a clean stop on Ctrl-C. Also checks that
 * memectl itself does not link libcurl (it is loaded when first needed).
 */
#include "common.h"
#include "fixtures/kube_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <math.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define TOKEN  "status-token-81c2"
#define QUEUED 7

static struct harness_server nats;
static char *scratch, *pki, *kubeconfig, *data;
static struct kube_fixture *fx;

static int setup(void **state)
{
    scratch = harness_tmpdir("status");
    pki = xasprintf("%s/pki", scratch);
    mkdir(pki, 0700);
    if (kube_fixture_make_pki(pki) != 0)
        return -1;
    const char *root = getenv("MEME_SOURCE_DIR");
    data = xasprintf("%s/tests/fixtures/kube", root ? root : ".");
    struct kube_fixture_opts o = {.data_dir = data, .pki_dir = pki, .token = TOKEN};
    fx = kube_fixture_start(&o);
    if (!fx)
        return -1;
    kubeconfig = xasprintf("%s/kubeconfig", scratch);
    if (kube_fixture_write_kubeconfig(fx, kubeconfig, NULL, "default", "    token: " TOKEN "\n"))
        return -1;
    if (harness_nats_start(&nats) != 0)
        return -1;
    /* QUEUED requests and no worker: pending QUEUED, lag QUEUED */
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = nats.url, .name = "test"};
    if (mq_connect(&mq, &co, NULL) != 0 || mq_ensure_stream(&mq, PROTO_STREAM, NULL) != 0 ||
        mq_ensure_consumer(&mq, PROTO_STREAM, PROTO_CONSUMER, 60000, NULL) != 0)
        return -1;
    for (int i = 0; i < QUEUED; i++)
        if (js_Publish(NULL, mq.js, "meme.request", "{\"prompt\":\"queued\"}", 19, NULL, NULL) !=
            NATS_OK)
            return -1;
    mq_close(&mq);
    return 0;
}

static int teardown(void **state)
{
    harness_stop(&nats);
    kube_fixture_stop(fx);
    free(kubeconfig);
    free(data);
    free(pki);
    free(scratch);
    return 0;
}

/* Runs memectl with env cleared of outside Kubernetes and NATS settings. */
static int memectl(struct buf *out, struct buf *err, ...)
{
    char *home = xasprintf("HOME=%s", scratch);
    char *env[] = {
        "NATS_URL", "KUBECONFIG", "MEMECTL_CONTEXT", "MEMECTL_NAMESPACE", "KUBERNETES_SERVICE_HOST",
        home,       NULL};
    va_list ap;
    va_start(ap, err);
    int rc = memectl_va(out, err, env, 60000, NULL, ap);
    va_end(ap);
    free(home);
    if (err->len)
        fprintf(stderr, "[memectl stderr] %s", (const char *)err->data);
    return rc;
}

static json_t *status_json(const char *server, const char *extra)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = extra ? memectl(&out, &err, "-s", server, "status", "--kubeconfig", kubeconfig, "-o",
                             "json", extra, NULL)
                   : memectl(&out, &err, "-s", server, "status", "--kubeconfig", kubeconfig, "-o",
                             "json", NULL);
    assert_int_equal(rc, 0);
    json_error_t je;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &je);
    if (!j)
        fprintf(stderr, "bad JSON: %s\n%s\n", je.text, (const char *)out.data);
    assert_non_null(j);
    buf_release(&out);
    buf_release(&err);
    return j;
}

static json_int_t jint(json_t *root, const char *path)
{
    json_t *v = root;
    char *dup = xstrdup(path), *save = NULL;
    for (char *p = strtok_r(dup, ".", &save); p && v; p = strtok_r(NULL, ".", &save)) {
        if (*p >= '0' && *p <= '9')
            v = json_array_get(v, (size_t)atoi(p));
        else
            v = json_object_get(v, p);
    }
    if (!json_is_integer(v))
        fprintf(stderr, "no integer at %s\n", path);
    free(dup);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static const char *jstr(json_t *root, const char *path)
{
    json_t *v = root;
    char *dup = xstrdup(path), *save = NULL;
    for (char *p = strtok_r(dup, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = (*p >= '0' && *p <= '9') ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    free(dup);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

static void test_json_exact_figures(void **state)
{
    json_t *j = status_json(nats.url, NULL);
    assert_true(json_is_true(json_object_get(json_object_get(j, "cluster"), "available")));
    /* the gateway's HPA; KEDA's own HPA is shown with its ScaledObject */
    assert_int_equal(json_array_size(json_object_get(j, "hpas")), 1);
    assert_string_equal(jstr(j, "hpas.0.name"), "meme-generator-frontend-hpa");
    assert_int_equal(jint(j, "hpas.0.currentReplicas"), 2);
    assert_int_equal(jint(j, "hpas.0.desiredReplicas"), 3);
    assert_int_equal(jint(j, "hpas.0.minReplicas"), 1);
    assert_int_equal(jint(j, "hpas.0.maxReplicas"), 5);
    assert_int_equal(jint(j, "hpas.0.target.pods.ready"), 2);
    assert_int_equal(jint(j, "hpas.0.target.pods.desired"), 3);
    assert_string_equal(jstr(j, "hpas.0.metrics.0.name"), "cpu");
    assert_int_equal(jint(j, "hpas.0.metrics.0.currentUtilization"), 45);
    assert_int_equal(jint(j, "hpas.0.metrics.0.targetUtilization"), 30);
    assert_int_equal(jint(j, "hpas.0.metrics.1.currentUtilization"), 38);
    assert_int_equal(jint(j, "hpas.0.metrics.1.targetUtilization"), 50);
    /* the worker's ScaledObject joined with KEDA's HPA and the Deployment */
    assert_int_equal(json_array_size(json_object_get(j, "scaledObjects")), 1);
    assert_string_equal(jstr(j, "scaledObjects.0.name"), "meme-generator-backend-scaler");
    assert_string_equal(jstr(j, "scaledObjects.0.hpa"), "keda-hpa-meme-generator-backend-scaler");
    assert_int_equal(jint(j, "scaledObjects.0.currentReplicas"), 4);
    assert_int_equal(jint(j, "scaledObjects.0.desiredReplicas"), 5);
    assert_int_equal(jint(j, "scaledObjects.0.minReplicas"), 0);
    assert_int_equal(jint(j, "scaledObjects.0.maxReplicas"), 10);
    assert_int_equal(jint(j, "scaledObjects.0.target.pods.ready"), 4);
    assert_int_equal(jint(j, "scaledObjects.0.target.pods.desired"), 5);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(j, "scaledObjects"), 0), "active")));
    assert_int_equal(jint(j, "scaledObjects.0.triggers.0.lag"), QUEUED);
    assert_string_equal(jstr(j, "scaledObjects.0.triggers.0.lagSource"), "queue");
    assert_int_equal(jint(j, "scaledObjects.0.triggers.0.lagThreshold"), 5);
    assert_int_equal(jint(j, "scaledObjects.0.triggers.0.activationLagThreshold"), 0);
    /* the Redis VPA against the StatefulSet's requests and the pod's usage */
    assert_int_equal(json_array_size(json_object_get(j, "vpas")), 1);
    assert_string_equal(jstr(j, "vpas.0.updateMode"), "Auto");
    assert_int_equal(jint(j, "vpas.0.minReplicas"), 1);
    assert_int_equal(jint(j, "vpas.0.containers.0.cpu.requestMillicores"), 100);
    assert_int_equal(jint(j, "vpas.0.containers.0.cpu.targetMillicores"), 163);
    assert_int_equal(jint(j, "vpas.0.containers.0.cpu.lowerBoundMillicores"), 50);
    assert_int_equal(jint(j, "vpas.0.containers.0.cpu.upperBoundMillicores"), 1000);
    assert_int_equal(jint(j, "vpas.0.containers.0.cpu.usageMillicores"), 143);
    assert_int_equal(jint(j, "vpas.0.containers.0.memory.requestBytes"), 134217728);
    assert_int_equal(jint(j, "vpas.0.containers.0.memory.targetBytes"), 272629760);
    assert_int_equal(jint(j, "vpas.0.containers.0.memory.lowerBoundBytes"), 131072000);
    assert_int_equal(jint(j, "vpas.0.containers.0.memory.upperBoundBytes"), 1073741824);
    assert_int_equal(jint(j, "vpas.0.containers.0.memory.usageBytes"), 263192576);
    /* the queue, as KEDA counts it */
    assert_int_equal(jint(j, "queue.pending"), QUEUED);
    assert_int_equal(jint(j, "queue.ackPending"), 0);
    assert_int_equal(jint(j, "queue.lag"), QUEUED);
    assert_int_equal(jint(j, "queue.waiting"), 0);
    assert_int_equal(json_array_size(json_object_get(j, "conflicts")), 0);
    /* no token anywhere in the output */
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, TOKEN));
    free(s);
    json_decref(j);
}

static void test_text_and_wide(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(
        memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, NULL), 0);
    const char *o = (const char *)out.data;
    /* not a terminal, no $COLUMNS: every column, nothing cut */
    assert_non_null(strstr(o,
                           "  KIND  NAME                           TARGET                     "
                           "     REPLICAS    READY  WHY\n"
                           "meme-generator/\n"
                           "  HPA   meme-generator-frontend-hpa    deploy/meme-generator-frontend"
                           "  2\u2192"
                           "3 (1-5)   2/3    cpu 45%/30%, mem 38%/50%\n"));
    assert_non_null(strstr(o, "  KEDA  meme-generator-backend-scaler  deploy/meme-generator        "
                              "   4\u2192"
                              "5 (0-10)  4/5    lag 7/5 (queue)\n"));
    assert_non_null(strstr(o, "cache/\n  VPA   redis-vpa                      sts/redis          "
                              "             -           1/1    cpu 163m, mem 260Mi\n"));
    assert_non_null(strstr(o, "7 = 7 pending + 0 ack pending"));
    assert_null(strstr(o, "chaos"));     /* not in the stack's namespaces */
    assert_null(strstr(o, "keda-hpa-")); /* shown with its ScaledObject */
    assert_null(strstr(o, "pod        "));
    buf_release(&out);
    buf_release(&err);
    /* wide: the table, then each scaler's details */
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, "-o",
                             "wide", NULL),
                     0);
    o = (const char *)out.data;
    assert_non_null(strstr(o, "HPA meme-generator/meme-generator-frontend-hpa -> Deployment "
                              "meme-generator-frontend"));
    assert_non_null(strstr(o, "2 current, 3 desired (min 1, max 5); pods 2/3 ready"));
    assert_non_null(strstr(o, "45% of request"));
    assert_non_null(strstr(o, "ratio 1.50"));
    assert_non_null(strstr(o, "KEDA meme-generator/meme-generator-backend-scaler"));
    assert_non_null(strstr(o, "4 current, 5 desired (min 0, max 10); pods 4/5 ready"));
    assert_non_null(strstr(o, "ready, active, not paused, no fallback"));
    assert_non_null(strstr(o, "7 (queue) vs lagThreshold 5; active when lag > 0"));
    assert_non_null(strstr(o, "VPA cache/redis-vpa -> StatefulSet redis"));
    assert_non_null(strstr(o, "request 100m    target 163m    range 50m..1  usage 143m"));
    assert_non_null(strstr(o, "request 128Mi   target 260Mi   range 125Mi..1Gi  usage 251Mi"));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, "-o",
                             "wide", "-n", "cache", NULL),
                     0);
    o = (const char *)out.data;
    assert_non_null(strstr(o, "namespace cache\n"));
    assert_non_null(strstr(o, "pod        redis-0"));
    assert_non_null(strstr(o, "RecommendationProvided True"));
    assert_null(strstr(o, "HPA meme-generator"));
    buf_release(&out);
    buf_release(&err);
}

/* One list per kind, all at once, whatever the number of namespaces: the
 * fixture counts 5 requests for the table on the stack's 4 namespaces (the
 * scalers and their workloads; not 7 kinds x 4 namespaces), 7 with the pods
 * and their metrics that JSON joins, on at most KUBE_MAX_CONNECTIONS
 * connections (the fixture has no HTTP/2). */
static void test_requests_grow_with_kinds(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    kube_fixture_reset_counts(fx);
    assert_int_equal(
        memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, NULL), 0);
    assert_non_null(strstr((const char *)out.data, "lag 7/5 (queue)"));
    assert_int_equal(kube_fixture_count(fx, ""), 5);
    assert_int_equal(kube_fixture_count(fx, "/apis/autoscaling/v2/horizontalpodautoscalers"), 1);
    assert_int_equal(kube_fixture_count(fx, "/apis/autoscaling/v2/namespaces/"), 0);
    assert_int_equal(kube_fixture_count(fx, "/api/v1/pods"), 0);
    assert_true(kube_fixture_connections(fx) >= 1);
    assert_true(kube_fixture_connections(fx) <= 8);
    buf_release(&out);
    buf_release(&err);
    kube_fixture_reset_counts(fx);
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, "-o",
                             "json", NULL),
                     0);
    assert_int_equal(kube_fixture_count(fx, ""), 7);
    assert_int_equal(kube_fixture_count(fx, "/api/v1/pods"), 1);
    assert_int_equal(kube_fixture_count(fx, "/apis/metrics.k8s.io/v1beta1/pods"), 1);
    buf_release(&out);
    buf_release(&err);
    /* one namespace: listed as such, still one request per kind */
    kube_fixture_reset_counts(fx);
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig, "-n",
                             "cache", NULL),
                     0);
    assert_int_equal(kube_fixture_count(fx, ""), 5);
    assert_int_equal(kube_fixture_count(fx, "/apis/autoscaling.k8s.io/v1/namespaces/cache/"), 1);
    buf_release(&out);
    buf_release(&err);
}

/* A token bound by Roles in the stack's namespaces only (the stack's own
 * RBAC): the cluster-scope lists are refused, so each kind is listed per
 * namespace instead, and the screen is the same. */
static void test_namespace_rbac_falls_back(void **state)
{
    struct kube_fixture_opts o = {
        .data_dir = data, .pki_dir = pki, .token = TOKEN, .restricted_token = "narrow-token"};
    struct kube_fixture *fx2 = kube_fixture_start(&o);
    assert_non_null(fx2);
    char *cfg = xasprintf("%s/narrow.yaml", scratch);
    assert_int_equal(
        kube_fixture_write_kubeconfig(fx2, cfg, NULL, NULL, "    token: narrow-token\n"), 0);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", cfg, NULL), 0);
    const char *s = (const char *)out.data;
    assert_non_null(strstr(s, "HPA   meme-generator-frontend-hpa"));
    assert_non_null(strstr(s, "KEDA  meme-generator-backend-scaler"));
    assert_non_null(strstr(s, "VPA   redis-vpa"));
    assert_null(strstr(s, "note:")); /* nothing was refused in the end */
    /* 5 refused at cluster scope, then 5 kinds x 4 namespaces */
    assert_int_equal(kube_fixture_count(fx2, ""), 5 + 5 * 4);
    buf_release(&out);
    buf_release(&err);
    /* every namespace: nothing to fall back to, said plainly */
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", cfg, "-A", NULL),
                     0);
    assert_non_null(strstr((const char *)out.data, "at the cluster scope"));
    buf_release(&out);
    buf_release(&err);
    /* the same token through the watches: per namespace too */
    kube_fixture_reset_counts(fx2);
    assert_int_equal(
        memectl(&out, &err, "-s", nats.url, "watch", "--kubeconfig", cfg, "--count", "1", NULL), 0);
    assert_non_null(strstr((const char *)out.data, "VPA   redis-vpa"));
    buf_release(&out);
    buf_release(&err);
    kube_fixture_stop(fx2);
    free(cfg);
}

static void test_all_namespaces_conflicts(void **state)
{
    json_t *j = status_json(nats.url, "-A");
    assert_string_equal(jstr(j, "cluster.namespaces"), "*");
    assert_int_equal(json_array_size(json_object_get(j, "hpas")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "scaledObjects")), 2);
    assert_int_equal(json_array_size(json_object_get(j, "vpas")), 2);
    json_t *c = json_object_get(j, "conflicts");
    assert_int_equal(json_array_size(c), 2);
    assert_non_null(strstr(json_string_value(json_array_get(c, 0)), "chaos-app"));
    json_decref(j);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", kubeconfig,
                             "--all-namespaces", NULL),
                     0);
    assert_non_null(strstr((const char *)out.data, "warning: autoscalers in conflict:"));
    assert_non_null(strstr((const char *)out.data, "NOT READY"));
    buf_release(&out);
    buf_release(&err);
}

static void test_no_cluster_shows_queue(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    /* HOME is the scratch directory: no ~/.kube/config, no KUBECONFIG */
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", NULL), 0);
    const char *o = (const char *)out.data;
    assert_non_null(strstr(o, "No cluster: no cluster configured"));
    assert_non_null(strstr(o, "7 = 7 pending + 0 ack pending"));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "-o", "json", NULL), 0);
    json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_true(json_is_false(json_object_get(json_object_get(j, "cluster"), "available")));
    assert_int_equal(jint(j, "queue.lag"), QUEUED);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
    /* a cluster that is not there: said plainly, queue still shown */
    char *dead = xasprintf("%s/dead.yaml", scratch);
    FILE *f = fopen(dead, "w");
    fprintf(f,
            "current-context: d\nclusters:\n- name: d\n  cluster: {server: "
            "'https://127.0.0.1:%d', insecure-skip-tls-verify: true}\n"
            "contexts:\n- name: d\n  context: {cluster: d}\n",
            harness_free_port());
    fclose(f);
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", dead, NULL), 0);
    assert_non_null(strstr((const char *)out.data, "No cluster: cannot reach the API server"));
    assert_non_null(strstr((const char *)out.data, "7 = 7 pending"));
    buf_release(&out);
    buf_release(&err);
    free(dead);
}

static void test_no_nats_shows_cluster(void **state)
{
    char *url = xasprintf("nats://127.0.0.1:%d", harness_free_port());
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", url, "status", "--kubeconfig", kubeconfig, NULL), 0);
    const char *o = (const char *)out.data;
    assert_non_null(strstr(o, "no queue: cannot reach NATS"));
    assert_non_null(strstr(o, "2\u2192"
                              "3 (1-5)"));
    /* without the queue, lag comes from KEDA's HPA metric: 5750m x 4 */
    assert_non_null(strstr(o, "lag 23/5 (HPA)"));
    buf_release(&out);
    buf_release(&err);
    /* neither: a failure */
    char *home_cfg = xasprintf("%s/none.yaml", scratch);
    int rc = memectl(&out, &err, "-s", url, "status", "--kubeconfig", home_cfg, NULL);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr((const char *)out.data, "cannot open kubeconfig"));
    buf_release(&out);
    buf_release(&err);
    free(home_cfg);
    free(url);
}

static void test_missing_crd_and_forbidden(void **state)
{
    struct kube_fixture_opts o = {.data_dir = data,
                                  .pki_dir = pki,
                                  .token = TOKEN,
                                  .missing_group = "keda.sh",
                                  .forbidden_resource = "verticalpodautoscalers"};
    struct kube_fixture *fx2 = kube_fixture_start(&o);
    assert_non_null(fx2);
    char *cfg = xasprintf("%s/fx2.yaml", scratch);
    assert_int_equal(kube_fixture_write_kubeconfig(fx2, cfg, NULL, NULL, "    token: " TOKEN "\n"),
                     0);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", cfg, NULL), 0);
    const char *s = (const char *)out.data;
    assert_non_null(strstr(s, "2\u2192"
                              "3 (1-5)"));
    assert_non_null(strstr(s, "note: the cluster serves no KEDA ScaledObjects (is KEDA "
                              "installed?)"));
    assert_non_null(strstr(s, "note: forbidden: verticalpodautoscalers.autoscaling.k8s.io is "
                              "forbidden: User \"fixture-token\" cannot list resource "
                              "\"verticalpodautoscalers\""));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "explain", "--kubeconfig", cfg, "scaledobject",
                             "meme-generator-backend-scaler", NULL),
                     1);
    assert_non_null(strstr((const char *)err.data, "CRD installed"));
    buf_release(&out);
    buf_release(&err);
    kube_fixture_stop(fx2);
    free(cfg);
}

static void test_explain(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "explain", "--kubeconfig", kubeconfig,
                             "hpa", "meme-generator-frontend-hpa", NULL),
                     0);
    const char *o = (const char *)out.data;
    assert_non_null(strstr(o, "45% of request / 30% = 1.500  ceil(1.500 x 2) = 3  <- highest"));
    assert_non_null(strstr(o, "38% of request / 50% = 0.760  ceil(0.760 x 2) = 2"));
    assert_non_null(strstr(o, "max over metrics: 3"));
    assert_non_null(strstr(o, "Percent 100 per 15s; limit 4"));
    assert_non_null(strstr(o, "=> 3 replicas (DesiredWithinRange"));
    assert_non_null(strstr(o, "the controller reports 3: the same"));
    buf_release(&out);
    buf_release(&err);

    assert_int_equal(memectl(&out, &err, "-s", nats.url, "explain", "--kubeconfig", kubeconfig,
                             "scaledobject", "meme-generator-backend-scaler", NULL),
                     0);
    o = (const char *)out.data;
    assert_non_null(strstr(o, "lag = num_pending + num_ack_pending = 7 + 0 = 7"));
    assert_non_null(strstr(o, "activation: 7 > activationLagThreshold 0 -> active"));
    assert_non_null(strstr(o, "ceil(lag / lagThreshold) = ceil(7 / 5) = 2"));
    assert_non_null(strstr(o, "=> 2 replicas"));
    assert_non_null(strstr(o, "5.75 per pod / 5 = 1.150  ceil(1.150 x 4) = 5"));
    buf_release(&out);
    buf_release(&err);

    assert_int_equal(
        memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "vpa", "redis-vpa", NULL), 0);
    o = (const char *)out.data;
    assert_non_null(strstr(o, "updateMode Auto, updatePolicy.minReplicas 1"));
    assert_non_null(strstr(o, "request 100m    target 163m    bounds 50m..1 -> within bounds"));
    assert_non_null(strstr(o, "the updater can act"));
    buf_release(&out);
    buf_release(&err);

    assert_int_equal(memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "-n", "meme-chaos",
                             "vpa", "chaos-vpa", NULL),
                     0);
    o = (const char *)out.data;
    assert_non_null(strstr(o, "outside bounds: would be updated"));
    assert_non_null(strstr(o, "warning: VPA meme-chaos/chaos-vpa (updateMode Auto) resizes cpu"));
    assert_non_null(strstr(o, "warning: HPA meme-chaos/chaos-hpa and ScaledObject"));
    buf_release(&out);
    buf_release(&err);

    assert_int_equal(memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "-n", "meme-chaos",
                             "scaledobject", "chaos-scaler", NULL),
                     0);
    if (!strstr((const char *)out.data, "a single message never wakes a worker"))
        fail_msg("explain scaledobject chaos-scaler said:\n%s", (const char *)out.data);
    buf_release(&out);
    buf_release(&err);

    assert_int_equal(
        memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "hpa", "nope", NULL), 1);
    assert_non_null(strstr((const char *)err.data, "no horizontalpodautoscalers \"nope\""));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(
        memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "deploy", "x", NULL), 2);
    buf_release(&out);
    buf_release(&err);
}

/* explain -o json: the figures the text reports, as data. */
static json_t *explain_json(const char *first, ...)
{
    char *argv[16];
    int n = 0;
    va_list ap;
    va_start(ap, first);
    for (const char *a = first; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = (char *)a;
    va_end(ap);
    argv[n] = NULL;
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = memectl(&out, &err, "-s", nats.url, "explain", "--kubeconfig", kubeconfig,
                     n > 0 ? argv[0] : NULL, n > 1 ? argv[1] : NULL, n > 2 ? argv[2] : NULL,
                     n > 3 ? argv[3] : NULL, n > 4 ? argv[4] : NULL, n > 5 ? argv[5] : NULL, NULL);
    assert_int_equal(rc, 0);
    /* JSON_ENSURE_ASCII: plain ASCII, no control character */
    for (size_t i = 0; i < out.len; i++)
        assert_true(out.data[i] == '\n' || (out.data[i] >= 0x20 && out.data[i] < 0x7f));
    json_error_t je;
    json_t *j = json_loadb((const char *)out.data, out.len, 0, &je);
    if (!j)
        fprintf(stderr, "bad JSON: %s\n%s\n", je.text, (const char *)out.data);
    assert_non_null(j);
    buf_release(&out);
    buf_release(&err);
    return j;
}

static double jreal(json_t *root, const char *path)
{
    json_t *v = root;
    char *dup = xstrdup(path), *save = NULL;
    for (char *p = strtok_r(dup, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = (*p >= '0' && *p <= '9') ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    free(dup);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static bool jtrue(json_t *root, const char *path)
{
    json_t *v = root;
    char *dup = xstrdup(path), *save = NULL;
    for (char *p = strtok_r(dup, ".", &save); p && v; p = strtok_r(NULL, ".", &save))
        v = (*p >= '0' && *p <= '9') ? json_array_get(v, (size_t)atoi(p)) : json_object_get(v, p);
    free(dup);
    assert_true(json_is_boolean(v));
    return json_is_true(v);
}

static void test_explain_json(void **state)
{
    /* the gateway's HPA: 45% / 30% and 38% / 50% on 2 ready pods */
    json_t *j = explain_json("hpa", "meme-generator-frontend-hpa", "-o", "json", NULL);
    assert_string_equal(jstr(j, "kind"), "HorizontalPodAutoscaler");
    assert_string_equal(jstr(j, "namespace"), "meme-generator");
    assert_string_equal(jstr(j, "target.name"), "meme-generator-frontend");
    assert_int_equal(jint(j, "currentReplicas"), 2);
    assert_int_equal(jint(j, "readyReplicas"), 2);
    assert_int_equal(jint(j, "minReplicas"), 1);
    assert_int_equal(jint(j, "maxReplicas"), 5);
    assert_true(jreal(j, "tolerance") == 0.1);
    assert_int_equal(json_array_size(json_object_get(j, "metrics")), 2);
    assert_string_equal(jstr(j, "metrics.0.name"), "cpu");
    assert_int_equal(jint(j, "metrics.0.currentUtilization"), 45);
    assert_int_equal(jint(j, "metrics.0.targetUtilization"), 30);
    assert_true(jreal(j, "metrics.0.ratio") == 1.5);
    assert_false(jtrue(j, "metrics.0.withinTolerance"));
    assert_int_equal(jint(j, "metrics.0.pods"), 2);
    assert_int_equal(jint(j, "metrics.0.proposedReplicas"), 3);
    assert_true(jtrue(j, "metrics.0.highest"));
    assert_string_equal(jstr(j, "metrics.1.name"), "memory");
    assert_true(fabs(jreal(j, "metrics.1.ratio") - 0.76) < 1e-9);
    assert_int_equal(jint(j, "metrics.1.proposedReplicas"), 2);
    assert_false(jtrue(j, "metrics.1.highest"));
    assert_int_equal(jint(j, "maxOverMetrics"), 3);
    assert_int_equal(jint(j, "stabilization.replicas"), 3);
    assert_true(jtrue(j, "scaleUp.applies"));
    assert_int_equal(jint(j, "scaleUp.limit"), 4);
    assert_string_equal(jstr(j, "scaleUp.policies.0.type"), "Percent");
    assert_int_equal(jint(j, "scaleUp.policies.0.value"), 100);
    assert_int_equal(jint(j, "scaleUp.policies.0.periodSeconds"), 15);
    assert_false(jtrue(j, "scaleDown.applies"));
    assert_int_equal(jint(j, "clamp.min"), 1);
    assert_int_equal(jint(j, "clamp.max"), 5);
    assert_int_equal(jint(j, "desiredReplicas"), 3);
    assert_string_equal(jstr(j, "reason"), "DesiredWithinRange");
    assert_int_equal(jint(j, "reportedDesiredReplicas"), 3);
    assert_true(jtrue(j, "agrees"));
    assert_int_equal(json_array_size(json_object_get(j, "conflicts")), 0);
    char *s = json_dumps(j, 0);
    assert_null(strstr(s, TOKEN));
    free(s);
    json_decref(j);

    /* the worker's ScaledObject: lag 7 from the queue, lagThreshold 5 */
    j = explain_json("--json", "scaledobject", "meme-generator-backend-scaler", NULL);
    assert_string_equal(jstr(j, "kind"), "ScaledObject");
    assert_int_equal(jint(j, "minReplicas"), 0);
    assert_int_equal(jint(j, "maxReplicas"), 10);
    assert_string_equal(jstr(j, "triggers.0.type"), "nats-jetstream");
    assert_string_equal(jstr(j, "triggers.0.lagSource"), "queue");
    assert_int_equal(jint(j, "triggers.0.pending"), QUEUED);
    assert_int_equal(jint(j, "triggers.0.ackPending"), 0);
    assert_int_equal(jint(j, "triggers.0.lag"), QUEUED);
    assert_int_equal(jint(j, "triggers.0.lagThreshold"), 5);
    assert_int_equal(jint(j, "triggers.0.activationLagThreshold"), 0);
    assert_true(jtrue(j, "triggers.0.active"));
    assert_int_equal(jint(j, "triggers.0.wantedReplicas"), 2);
    assert_int_equal(jint(j, "triggers.0.desiredReplicas"), 2);
    assert_string_equal(jstr(j, "hpa"), "keda-hpa-meme-generator-backend-scaler");
    assert_string_equal(jstr(j, "hpaStatus.metrics.0.targetType"), "AverageValue");
    assert_true(fabs(jreal(j, "hpaStatus.metrics.0.current") - 5.75) < 1e-9);
    assert_true(jreal(j, "hpaStatus.metrics.0.target") == 5);
    assert_true(fabs(jreal(j, "hpaStatus.metrics.0.ratio") - 1.15) < 1e-9);
    assert_int_equal(jint(j, "hpaStatus.metrics.0.pods"), 4);
    assert_int_equal(jint(j, "hpaStatus.metrics.0.proposedReplicas"), 5);
    json_decref(j);

    /* the Redis VPA: inside its bounds, minReplicas 1 so the updater may act */
    j = explain_json("vpa", "redis-vpa", "-o", "json", NULL);
    assert_string_equal(jstr(j, "kind"), "VerticalPodAutoscaler");
    assert_string_equal(jstr(j, "updateMode"), "Auto");
    assert_int_equal(jint(j, "minReplicas"), 1);
    assert_true(jtrue(j, "target.found"));
    assert_int_equal(jint(j, "containers.0.cpu.requestMillicores"), 100);
    assert_int_equal(jint(j, "containers.0.cpu.targetMillicores"), 163);
    assert_int_equal(jint(j, "containers.0.cpu.lowerBoundMillicores"), 50);
    assert_int_equal(jint(j, "containers.0.cpu.upperBoundMillicores"), 1000);
    assert_string_equal(jstr(j, "containers.0.cpu.verdict"), "within");
    assert_int_equal(jint(j, "containers.0.memory.requestBytes"), 134217728);
    assert_true(jtrue(j, "updaterActs"));
    assert_true(json_is_null(json_object_get(j, "whyNot")));
    json_decref(j);

    /* chaos: outside its bounds, and two conflicts on the same Deployment */
    j = explain_json("-n", "meme-chaos", "vpa", "chaos-vpa", "-o", "json", NULL);
    assert_string_equal(jstr(j, "containers.0.cpu.verdict"), "outside");
    json_t *c = json_object_get(j, "conflicts");
    assert_int_equal(json_array_size(c), 2);
    char *all = json_dumps(c, 0);
    assert_non_null(strstr(all, "VPA meme-chaos/chaos-vpa (updateMode Auto) resizes cpu"));
    assert_non_null(strstr(all, "HPA meme-chaos/chaos-hpa and ScaledObject"));
    free(all);
    json_decref(j);

    /* without NATS the lag comes from KEDA's HPA metric: 5750m x 4 = 23 */
    char *url = xasprintf("nats://127.0.0.1:%d", harness_free_port());
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", url, "explain", "--kubeconfig", kubeconfig, "--json",
                             "scaledobject", "meme-generator-backend-scaler", NULL),
                     0);
    j = json_loadb((const char *)out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(jstr(j, "triggers.0.lagSource"), "hpa");
    assert_non_null(strstr(jstr(j, "triggers.0.queueError"), "cannot reach NATS"));
    assert_int_equal(jint(j, "triggers.0.lag"), 23);
    assert_int_equal(jint(j, "triggers.0.wantedReplicas"), 5);
    assert_int_equal(jint(j, "triggers.0.desiredReplicas"), 5);
    json_decref(j);
    buf_release(&out);
    buf_release(&err);
    free(url);

    /* -o wide is status's, not explain's */
    assert_int_equal(memectl(&out, &err, "explain", "--kubeconfig", kubeconfig, "-o", "wide", "hpa",
                             "meme-generator-frontend-hpa", NULL),
                     2);
    assert_non_null(strstr((const char *)err.data, "text or json"));
    buf_release(&out);
    buf_release(&err);
}

struct log_wait {
    const char *path;
    const char *needle;
    int occurrences;
};

static bool log_has(void *arg)
{
    struct log_wait *w = arg;
    FILE *f = fopen(w->path, "r");
    if (!f)
        return false;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = 0;
    int count = 0;
    for (const char *p = text; (p = strstr(p, w->needle)) != NULL; p++)
        count++;
    return count >= w->occurrences;
}

static bool exited(void *arg)
{
    pid_t pid = *(pid_t *)arg;
    char path[64], stat[256];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return true;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = 0;
    const char *rp = strrchr(stat, ')');
    return rp && rp[1] == ' ' && rp[2] == 'Z';
}

static void test_watch_updates_and_stops(void **state)
{
    char *log = xasprintf("%s/watch.log", scratch);
    char *bin = harness_bin("memectl");
    char *argv[] = {bin,        "-s",         nats.url, "watch", "--kubeconfig",
                    kubeconfig, "--interval", "2",      NULL};
    kube_fixture_reset_counts(fx);
    char *home = xasprintf("HOME=%s", scratch);
    char *env[] = {"NATS_URL", "KUBECONFIG", home, NULL};
    pid_t pid = harness_spawn(argv, env, log);
    assert_true(pid > 0);
    struct log_wait w = {log,
                         "2\u2192"
                         "3 (1-5)",
                         1};
    assert_true(harness_wait_for(log_has, &w, 20000));
    struct log_wait spark = {log, "lag      \u2588", 1};
    assert_true(harness_wait_for(log_has, &spark, 20000));
    /* the controller scales: the watch brings the change without waiting for a poll */
    json_t *h = json_deep_copy(kube_fixture_get(fx, "horizontalpodautoscalers", "meme-generator",
                                                "meme-generator-frontend-hpa"));
    assert_non_null(h);
    json_t *st = json_object_get(h, "status");
    json_object_set_new(st, "currentReplicas", json_integer(3));
    json_object_set_new(st, "desiredReplicas", json_integer(4));
    assert_int_equal(kube_fixture_put(fx, h), 0);
    json_decref(h);
    struct log_wait w2 = {log,
                          "3\u2192"
                          "4 (1-5)",
                          1};
    assert_true(harness_wait_for(log_has, &w2, 20000));
    /* the watch brought the object itself: one list and one watch of the
     * HPAs, no list again (before, every event meant a list per namespace) */
    const char *hpas = "/apis/autoscaling/v2/horizontalpodautoscalers";
    char *hpa_watch = xasprintf("%s?watch", hpas);
    assert_int_equal(kube_fixture_count(fx, hpa_watch), 1);
    assert_int_equal(kube_fixture_count(fx, hpas) - kube_fixture_count(fx, hpa_watch), 1);
    free(hpa_watch);
    /* Ctrl-C: a clean exit, status 0 */
    kill(pid, SIGINT);
    assert_true(harness_wait_for(exited, &pid, 10000));
    int status = harness_kill(pid, 1000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    free(home);
    free(bin);
    free(log);
}

static bool gone_seen(void *arg)
{
    return kube_fixture_gone_count(arg) > 0;
}

static void test_watch_lists_again_after_gone(void **state)
{
    /* watches end every second; after compaction the reconnect gets 410 */
    struct kube_fixture_opts o = {
        .data_dir = data, .pki_dir = pki, .token = TOKEN, .max_watch_s = 1};
    struct kube_fixture *fx2 = kube_fixture_start(&o);
    assert_non_null(fx2);
    char *cfg = xasprintf("%s/gone.yaml", scratch);
    assert_int_equal(kube_fixture_write_kubeconfig(fx2, cfg, NULL, NULL, "    token: " TOKEN "\n"),
                     0);
    char *log = xasprintf("%s/watch-gone.log", scratch);
    char *bin = harness_bin("memectl");
    char *argv[] = {bin, "-s", nats.url, "watch", "--kubeconfig", cfg, "-n", "cache", NULL};
    char *home = xasprintf("HOME=%s", scratch);
    char *env[] = {"NATS_URL", "KUBECONFIG", home, NULL};
    pid_t pid = harness_spawn(argv, env, log);
    assert_true(pid > 0);
    struct log_wait w = {log, "cpu 163m, mem 260Mi\n", 1};
    assert_true(harness_wait_for(log_has, &w, 20000));
    /* a change the watch does not see (another namespace), then compaction:
     * the watch's version is now too old */
    json_t *other = json_deep_copy(
        kube_fixture_get(fx2, "horizontalpodautoscalers", "meme-chaos", "chaos-hpa"));
    assert_non_null(other);
    assert_int_equal(kube_fixture_put(fx2, other), 0);
    json_decref(other);
    kube_fixture_compact(fx2);
    assert_true(harness_wait_for(gone_seen, fx2, 20000));
    /* listed again and watching from the new version: the change shows */
    json_t *v =
        json_deep_copy(kube_fixture_get(fx2, "verticalpodautoscalers", "cache", "redis-vpa"));
    assert_non_null(v);
    json_object_set_new(json_object_get(json_object_get(v, "spec"), "updatePolicy"), "updateMode",
                        json_string("Initial"));
    assert_int_equal(kube_fixture_put(fx2, v), 0);
    json_decref(v);
    struct log_wait w2 = {log, "cpu 163m, mem 260Mi, mode Initial", 1};
    assert_true(harness_wait_for(log_has, &w2, 20000));
    int status = harness_kill(pid, 5000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    kube_fixture_stop(fx2);
    free(home);
    free(bin);
    free(log);
    free(cfg);
}

static void test_watch_count_and_usage(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "watch", "--kubeconfig", kubeconfig,
                             "--count", "1", "-n", "cache", NULL),
                     0);
    assert_non_null(strstr((const char *)out.data, "VPA   redis-vpa"));
    assert_non_null(strstr((const char *)out.data, "history (last 1 samples)"));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "watch", "--interval", "1", NULL), 2);
    assert_non_null(strstr((const char *)err.data, "from 2 to 3600"));
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "watch", "-o", "json", NULL), 2);
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(memectl(&out, &err, "status", "-A", "-n", "x", NULL), 2);
    buf_release(&out);
    buf_release(&err);
}

/* Output with what changes from run to run made fixed: the fixture's and
 * the NATS server's ports, watch's clock. */
static char *normalise(const char *text)
{
    struct buf b = BUF_INIT;
    char fxport[16], natsport[16];
    snprintf(fxport, sizeof(fxport), ":%d", kube_fixture_port(fx));
    const char *np = strrchr(nats.url, ':');
    snprintf(natsport, sizeof(natsport), "%s", np ? np : ":");
    for (const char *p = text; *p;) {
        if (strncmp(p, fxport, strlen(fxport)) == 0 &&
            !(p[strlen(fxport)] >= '0' && p[strlen(fxport)] <= '9')) {
            buf_puts(&b, ":FIXTURE");
            p += strlen(fxport);
        } else if (strncmp(p, natsport, strlen(natsport)) == 0 &&
                   !(p[strlen(natsport)] >= '0' && p[strlen(natsport)] <= '9')) {
            buf_puts(&b, ":NATS");
            p += strlen(natsport);
        } else if (p[0] >= '0' && p[0] <= '9' && p[1] >= '0' && p[1] <= '9' && p[2] == ':' &&
                   p[3] >= '0' && p[3] <= '9' && p[5] == ':' && p[6] >= '0' && p[8] == ' ') {
            buf_puts(&b, "HH:MM:SS");
            p += 8;
        } else {
            buf_putc(&b, *p++);
        }
    }
    buf_putc(&b, 0);
    return (char *)buf_detach(&b, NULL);
}

/* Compares a whole frame with tests/integration/frames/NAME.txt, exactly;
 * on a difference the frame is left in the scratch directory. */
static bool expect_frame(const char *name, const char *got_raw)
{
    bool same = true;
    char *got = normalise(got_raw);
    const char *root = getenv("MEME_SOURCE_DIR");
    char *path = xasprintf("%s/tests/integration/frames/%s.txt", root ? root : ".", name);
    char *want = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        struct buf w = BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            buf_append(&w, chunk, n);
        fclose(f);
        buf_putc(&w, 0);
        want = (char *)buf_detach(&w, NULL);
    }
    if (!want || strcmp(want, got) != 0) {
        char *keep = xasprintf("%s/%s.txt", scratch, name);
        FILE *o = fopen(keep, "wb");
        if (o) {
            fputs(got, o);
            fclose(o);
        }
        if (getenv("MEME_WRITE_FRAMES")) { /* for whoever changes a view on purpose */
            FILE *w = fopen(path, "wb");
            if (w) {
                fputs(got, w);
                fclose(w);
            }
        }
        fprintf(stderr, "frame %s differs from %s (got it in %s):\n%s", name, path, keep, got);
        free(keep);
        same = false;
    }
    free(want);
    free(got);
    free(path);
    return same;
}

static const struct {
    const char *cols, *lines, *name;
} SIZES[] = {{"80", "24", "80x24"}, {"120", "40", "120x40"}, {"200", "60", "200x60"}};

/* The seed's names (meme-generator-frontend-hpa, meme-generator-backend-scaler
 * with keda-hpa-meme-generator-backend-scaler, redis-vpa in cache) at every
 * size, exactly: nothing cut that tells two rows apart, every row aligned. */
static void test_status_frames(void **state)
{
    bool all = true;
    for (size_t i = 0; i < sizeof(SIZES) / sizeof(SIZES[0]); i++) {
        char *cols = xasprintf("COLUMNS=%s", SIZES[i].cols);
        char *lines = xasprintf("LINES=%s", SIZES[i].lines);
        char *home = xasprintf("HOME=%s", scratch);
        char *env[] = {
            "NATS_URL", "KUBECONFIG", "MEMECTL_CONTEXT", "MEMECTL_NAMESPACE", cols, lines,
            home,       NULL};
        struct buf out = BUF_INIT, err = BUF_INIT;
        const char *va[] = {"status", "--kubeconfig", kubeconfig, NULL};
        char *argv[] = {harness_bin("memectl"), "-s",          nats.url, (char *)va[0],
                        (char *)va[1],          (char *)va[2], NULL};
        assert_int_equal(harness_run(argv, env, &out, &err, 60000), 0);
        buf_putc(&out, 0);
        char *name = xasprintf("status-%s", SIZES[i].name);
        all &= expect_frame(name, (const char *)out.data);
        buf_release(&out);
        buf_release(&err);
        /* watch: one screen */
        char *wargv[] = {argv[0],    "-s",      nats.url, "watch", "--kubeconfig",
                         kubeconfig, "--count", "1",      NULL};
        assert_int_equal(harness_run(wargv, env, &out, &err, 60000), 0);
        buf_putc(&out, 0);
        free(name);
        name = xasprintf("watch-%s", SIZES[i].name);
        all &= expect_frame(name, (const char *)out.data);
        buf_release(&out);
        buf_release(&err);
        /* the dashboard */
        char *kc = xasprintf("KUBECONFIG=%s", kubeconfig);
        char *tenv[] = {"NATS_URL", "MEMECTL_CONTEXT", "MEMECTL_NAMESPACE", kc, home, NULL};
        char *targv[] = {argv[0],
                         "-s",
                         nats.url,
                         "tui",
                         "--dump",
                         "--columns",
                         (char *)SIZES[i].cols,
                         "--lines",
                         (char *)SIZES[i].lines,
                         NULL};
        assert_int_equal(harness_run(targv, tenv, &out, &err, 60000), 0);
        buf_putc(&out, 0);
        free(name);
        name = xasprintf("tui-%s", SIZES[i].name);
        all &= expect_frame(name, (const char *)out.data);
        buf_release(&out);
        buf_release(&err);
        free(kc);
        free(name);
        free(argv[0]);
        free(home);
        free(lines);
        free(cols);
    }
    assert_true(all);
}

static bool port_open(void *arg)
{
    int port = *(int *)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(fd);
    return ok;
}

/* Against a server that speaks HTTP/2 (as API servers do: nghttpx in front
 * of the fixture, which has only HTTP/1.1), every request of a status read
 * shares one connection: the access log shows them all from one client
 * port, over h2. */
static void test_http2_one_connection(void **state)
{
    char *nghttpx = NULL;
    if (access("/usr/sbin/nghttpx", X_OK) == 0)
        nghttpx = "/usr/sbin/nghttpx";
    else if (access("/usr/bin/nghttpx", X_OK) == 0)
        nghttpx = "/usr/bin/nghttpx";
    if (!nghttpx)
        skip(); /* scripts/install-deps installs nghttp2-proxy */
    int port = harness_free_port();
    char *front = xasprintf("-f127.0.0.1,%d", port);
    char *back = xasprintf("-b127.0.0.1,%d;;tls;sni=localhost", kube_fixture_port(fx));
    char *cacert = xasprintf("--cacert=%s/ca.crt", pki);
    char *access_log = xasprintf("%s/h2-access.log", scratch);
    char *access_opt = xasprintf("--accesslog-file=%s", access_log);
    char *key = xasprintf("%s/server.key", pki), *crt = xasprintf("%s/server.crt", pki);
    char *log = xasprintf("%s/nghttpx.log", scratch);
    char *argv[] = {
        nghttpx,       front,       back,
        cacert,        access_opt,  "--accesslog-format=$remote_port $alpn $request $status",
        "--workers=1", "--no-ocsp", "--errorlog-file=/dev/stderr",
        key,           crt,         NULL};
    pid_t pid = harness_spawn(argv, NULL, log);
    assert_true(pid > 0);
    assert_true(harness_wait_for(port_open, &port, 10000));
    char *cfg = xasprintf("%s/h2.yaml", scratch);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "apiVersion: v1\nkind: Config\ncurrent-context: h2\nclusters:\n- name: h2\n"
            "  cluster:\n    server: https://127.0.0.1:%d\n    certificate-authority: "
            "%s/ca.crt\nusers:\n- name: u\n  user:\n    token: " TOKEN "\ncontexts:\n"
            "- name: h2\n  context: {cluster: h2, user: u}\n",
            port, pki);
    fclose(f);
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(memectl(&out, &err, "-s", nats.url, "status", "--kubeconfig", cfg, NULL), 0);
    assert_non_null(strstr((const char *)out.data, "KEDA  meme-generator-backend-scaler"));
    buf_release(&out);
    buf_release(&err);
    harness_kill(pid, 5000); /* the access log is written by now */
    f = fopen(access_log, "r");
    assert_non_null(f);
    char line[512], first_port[16] = "";
    int lines = 0;
    while (fgets(line, sizeof(line), f)) {
        char rport[16], alpn[16];
        assert_int_equal(sscanf(line, "%15s %15s", rport, alpn), 2);
        assert_string_equal(alpn, "h2");
        if (!first_port[0])
            snprintf(first_port, sizeof(first_port), "%s", rport);
        if (strcmp(first_port, rport) != 0)
            fail_msg("a second connection (port %s after %s):\n%s", rport, first_port, line);
        lines++;
    }
    fclose(f);
    assert_int_equal(lines, 5);
    free(cfg);
    free(log);
    free(crt);
    free(key);
    free(access_opt);
    free(access_log);
    free(cacert);
    free(back);
    free(front);
}

static void test_without_libcurl(void **state)
{
    /* A libcurl.so.4 that cannot be loaded: the cluster part says so, the
     * queue still shows. */
    char *libdir = xasprintf("%s/nolib", scratch);
    mkdir(libdir, 0700);
    char *fake = xasprintf("%s/libcurl.so.4", libdir);
    FILE *f = fopen(fake, "w");
    fputs("not a library\n", f);
    fclose(f);
    char *bin = harness_bin("memectl");
    char *argv[] = {bin, "-s", nats.url, "status", "--kubeconfig", kubeconfig, NULL};
    char *ld = xasprintf("LD_LIBRARY_PATH=%s", libdir);
    char *home = xasprintf("HOME=%s", scratch);
    char *env[] = {"NATS_URL", "KUBECONFIG", ld, home, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(harness_run(argv, env, &out, &err, 60000), 0);
    buf_putc(&out, 0);
    assert_non_null(strstr((const char *)out.data, "No cluster: cannot load libcurl.so.4"));
    assert_non_null(strstr((const char *)out.data, "7 = 7 pending"));
    buf_release(&out);
    buf_release(&err);
    free(home);
    free(ld);
    free(bin);
    free(fake);
    free(libdir);
}

static void test_memectl_does_not_link_libcurl(void **state)
{
    char *bin = harness_bin("memectl");
    char *argv[] = {"readelf", "-d", bin, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 20000);
    if (rc == 127 || rc < 0) {
        free(bin);
        buf_release(&out);
        buf_release(&err);
        skip();
    }
    assert_int_equal(rc, 0);
    buf_putc(&out, 0);
    assert_non_null(strstr((const char *)out.data, "libjansson"));
    assert_null(strstr((const char *)out.data, "libcurl"));
    /* Nor the caption shaping libraries: only meme-worker draws text. */
    assert_null(strstr((const char *)out.data, "libharfbuzz"));
    assert_null(strstr((const char *)out.data, "libfribidi"));
    buf_release(&out);
    buf_release(&err);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_exact_figures),
        cmocka_unit_test(test_text_and_wide),
        /* before the watch tests change the recorded objects */
        cmocka_unit_test(test_status_frames),
        cmocka_unit_test(test_requests_grow_with_kinds),
        cmocka_unit_test(test_namespace_rbac_falls_back),
        cmocka_unit_test(test_http2_one_connection),
        cmocka_unit_test(test_all_namespaces_conflicts),
        cmocka_unit_test(test_no_cluster_shows_queue),
        cmocka_unit_test(test_no_nats_shows_cluster),
        cmocka_unit_test(test_missing_crd_and_forbidden),
        cmocka_unit_test(test_explain),
        cmocka_unit_test(test_explain_json),
        cmocka_unit_test(test_watch_updates_and_stops),
        cmocka_unit_test(test_watch_lists_again_after_gone),
        cmocka_unit_test(test_watch_count_and_usage),
        cmocka_unit_test(test_without_libcurl),
        cmocka_unit_test(test_memectl_does_not_link_libcurl),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
