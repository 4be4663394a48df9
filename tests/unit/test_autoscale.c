/*
 * The decision over time that the local autoscaler, simulate and explain
 * share (lib/kube/autoscale), against KEDA's and the HPA's documented
 * behaviour:
 *  - KEDA, "Activating and Scaling thresholds"
 *    (keda.sh/docs/2.17/concepts/scaling-deployments/): the scaler is active
 *    when the value is above activationLagThreshold, so the seed's 1 needs
 *    two messages; KEDA scales 0 -> 1 and the HPA 1 -> N.
 *  - KEDA, ScaledObject spec (keda.sh/docs/latest/reference/scaledobject-spec/):
 *    pollingInterval; cooldownPeriod is the wait after the last trigger
 *    reported active before scaling back to 0, and only applies to 0;
 *    advanced.horizontalPodAutoscalerConfig.behavior goes to the HPA.
 *  - The nats-jetstream scaler (keda.sh/docs/scalers/nats-jetstream/):
 *    lagThreshold is the average target value; lag from /jsz.
 *  - Kubernetes, "Horizontal Pod Autoscaling"
 *    (kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/):
 *    "Default Behavior" (scale up by the higher of 100 % and 4 pods per
 *    15 s without stabilization; scale down by 100 % per 15 s after a 300 s
 *    stabilization window), "Scaling Policies" (10 % per minute from 80 pods
 *    removes 8, then 8 again as 7.2 rounds up) and the 10 % tolerance.
 * Plus the simulation's queue, the /jsz reader and the bundled manifest.
 */
#include "kube/autoscale.h"
#include "kube/kube_types.h"
#include "kube/loadsim.h"
#include "kube/manifest.h"
#include "mq/jsz.h"
#include "xalloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The bundled ScaledObject's numbers, as JSON the API would serve. */
static void seed_so(struct kube_scaledobject *so, const char *activation, const char *extra)
{
    char *text = xasprintf(
        "{\"kind\":\"ScaledObject\",\"metadata\":{\"name\":\"meme-generator-backend-scaler\","
        "\"namespace\":\"meme-generator\"},\"spec\":{\"scaleTargetRef\":{\"name\":"
        "\"meme-generator\"},\"minReplicaCount\":0,\"maxReplicaCount\":10,"
        "\"pollingInterval\":5,\"cooldownPeriod\":30,%s\"triggers\":[{\"type\":"
        "\"nats-jetstream\",\"metadata\":{\"stream\":\"MEMES\",\"consumer\":"
        "\"meme-generator\",\"account\":\"$G\",\"lagThreshold\":\"5\","
        "\"activationLagThreshold\":\"%s\"}}]}}",
        extra ? extra : "", activation);
    json_t *o = json_loads(text, 0, NULL);
    assert_non_null(o);
    assert_int_equal(kube_scaledobject_parse(o, so, NULL), 0);
    json_decref(o);
    free(text);
}

struct run {
    struct autoscale_config c;
    struct autoscale_state s;
    struct autoscale_decision d;
};

static struct run *new_run(const struct kube_scaledobject *so, int replicas)
{
    struct run *r = xcalloc(1, sizeof(*r));
    assert_int_equal(autoscale_config_keda(&r->c, so), 0);
    autoscale_state_init(&r->s, replicas);
    return r;
}

static int poll(struct run *r, double t, int64_t lag)
{
    autoscale_keda_step(&r->c, &r->s, t, lag, &r->d);
    return r->d.to;
}

static void test_activation_is_strict(void **state)
{
    struct kube_scaledobject so;
    /* The bundled activationLagThreshold 0: one message wakes a worker. */
    seed_so(&so, "0", NULL);
    struct run *r = new_run(&so, 0);
    assert_int_equal(poll(r, 0, 0), 0);
    assert_string_equal(r->d.reason, "Idle");
    assert_false(r->d.active);
    assert_int_equal(poll(r, 5, 1), 1);
    assert_string_equal(r->d.reason, "ScaleFromZero");
    assert_string_equal(r->d.by, "KEDA");
    free(r);
    /* The seed's 1: lag 1 is not above it; 2 is. */
    seed_so(&so, "1", NULL);
    r = new_run(&so, 0);
    assert_int_equal(poll(r, 0, 1), 0);
    assert_false(r->d.active);
    assert_int_equal(poll(r, 5, 2), 1);
    free(r);
}

static void test_from_zero_then_hpa_default_policies(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", NULL);
    struct run *r = new_run(&so, 0);
    /* A burst of 2000: KEDA takes 0 -> 1 only (max(minReplicaCount, 1)). */
    assert_int_equal(poll(r, 0, 2000), 1);
    /* The HPA: ceil(2000 / 5) = 400, limited by the default scale-up
     * policies: max(1 + 4 pods, 2 x 1) = 5. */
    assert_int_equal(poll(r, 5, 2000), 5);
    assert_string_equal(r->d.reason, "ScaleUpLimit");
    assert_string_equal(r->d.by, "HPA");
    assert_int_equal(r->d.hpa.from_metrics, 400);
    /* Within 15 s of that +4 the period is used up... */
    assert_int_equal(poll(r, 10, 1900), 5);
    assert_int_equal(poll(r, 15, 1800), 5);
    /* ...and when it leaves the period: max(5 + 4, 2 x 5) = 10 = maxReplicaCount. */
    assert_int_equal(poll(r, 20, 1700), 10);
    assert_int_equal(poll(r, 25, 1600), 10);
    assert_string_equal(r->d.reason, "TooManyReplicas");
    free(r);
}

static void test_cooldown_to_zero(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", NULL);
    struct run *r = new_run(&so, 0);
    poll(r, 0, 40);
    assert_int_equal(poll(r, 5, 40), 5);
    /* last activity at 10 s */
    assert_int_equal(poll(r, 10, 3), 5);
    /* not active from 15 s; the 300 s window holds the HPA at 5 meanwhile */
    assert_int_equal(poll(r, 15, 0), 5);
    assert_string_equal(r->d.reason, "CooldownPending");
    assert_true(r->d.next_t > 39.9 && r->d.next_t < 40.1);
    assert_int_equal(r->d.next_replicas, 0);
    /* 25 s after the last activity: cooldownPeriod 30 has not passed */
    assert_int_equal(poll(r, 35, 0), 5);
    /* 30 s after it has (see autoscale.c on KEDA's clock) */
    assert_int_equal(poll(r, 40, 0), 0);
    assert_string_equal(r->d.reason, "ScaleToZero");
    assert_string_equal(r->d.by, "KEDA");
    assert_int_equal(poll(r, 45, 0), 0);
    assert_string_equal(r->d.reason, "Idle");
    /* activity resets the clock */
    assert_int_equal(poll(r, 55, 1), 1);
    free(r);
}

static void test_min_one_never_goes_to_zero(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", "\"idleReplicaCount\":null,");
    so.min_replicas = 1;
    struct run *r = new_run(&so, 1);
    for (int t = 0; t < 400; t += 5)
        assert_int_equal(poll(r, t, 0), 1);
    free(r);
}

static void test_default_scale_down_window(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", NULL);
    struct run *r = new_run(&so, 0);
    poll(r, 0, 2000);
    poll(r, 5, 2000);
    poll(r, 20, 2000);
    assert_int_equal(r->s.replicas, 10);
    /* Still active with a lag that wants 2: the highest recommendation of
     * the last 300 s (400) holds it at 10. */
    for (int t = 25; t < 320; t += 5) {
        assert_int_equal(poll(r, t, 10), 10);
        assert_true(r->d.hpa.held_down);
    }
    /* the last 400 was at 20 s: at 320 s it has left the window, and the
     * default scale-down policy (100 % per 15 s) lets it go to 2 at once */
    assert_int_equal(poll(r, 320, 10), 2);
    free(r);
}

static void test_tolerance(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", NULL);
    struct run *r = new_run(&so, 4);
    /* 21 / (5 x 4) = 1.05: within the 10 % tolerance, 4 stays */
    assert_int_equal(poll(r, 0, 21), 4);
    assert_true(r->d.hpa.metrics[0].within_tolerance);
    /* 23 / 20 = 1.15: ceil(23 / 5) = 5 */
    assert_int_equal(poll(r, 5, 23), 5);
    free(r);
}

static void test_behavior_from_scaledobject(void **state)
{
    /* The documented example: scale down at most 10 % per minute, no window. */
    struct kube_scaledobject so;
    seed_so(&so, "0",
            "\"advanced\":{\"horizontalPodAutoscalerConfig\":{\"behavior\":{\"scaleDown\":"
            "{\"stabilizationWindowSeconds\":0,\"policies\":[{\"type\":\"Percent\","
            "\"value\":10,\"periodSeconds\":60}]}}}},");
    so.max_replicas = 100;
    assert_true(so.has_behavior);
    struct run *r = new_run(&so, 80);
    /* lag 50 wants 10; 80 -> 72 (8 removed) */
    assert_int_equal(poll(r, 0, 50), 72);
    assert_string_equal(r->d.reason, "ScaleDownLimit");
    /* within the minute nothing more */
    for (int t = 5; t < 60; t += 5)
        assert_int_equal(poll(r, t, 50), 72);
    /* then 10 % of 72 = 7.2, rounded up to 8 pods: 64 */
    assert_int_equal(poll(r, 60, 50), 64);
    free(r);

    /* selectPolicy Disabled: the HPA never scales down; KEDA still goes to 0. */
    seed_so(&so, "0",
            "\"advanced\":{\"horizontalPodAutoscalerConfig\":{\"behavior\":{\"scaleDown\":"
            "{\"selectPolicy\":\"Disabled\"}}}},");
    r = new_run(&so, 6);
    assert_int_equal(poll(r, 0, 5), 6);
    assert_int_equal(poll(r, 400, 5), 6);
    assert_int_equal(poll(r, 405, 0), 6);
    assert_int_equal(poll(r, 425, 0), 6);
    assert_int_equal(poll(r, 430, 0), 0);
    free(r);
}

static void test_plain_hpa(void **state)
{
    /* The gateway's HPA (seed): 1..5, cpu 30 %, up 100 % per 15 s. */
    json_t *docs = NULL;
    char *path = manifest_find_bundled(MANIFEST_GATEWAY_HPA);
    assert_non_null(path);
    assert_int_equal(manifest_load(path, &docs, NULL), 0);
    struct kube_hpa h;
    assert_int_equal(kube_hpa_parse(manifest_find_kind(docs, "HorizontalPodAutoscaler"), &h, NULL),
                     0);
    struct autoscale_config *c = xcalloc(1, sizeof(*c));
    struct autoscale_state *s = xcalloc(1, sizeof(*s));
    autoscale_config_hpa(c, &h);
    assert_int_equal(c->period_s, 15);
    autoscale_state_init(s, 1);
    struct autoscale_decision d;
    double cur[KUBE_MAX_METRICS] = {90, NAN};
    autoscale_hpa_step(c, s, 0, cur, &d);
    assert_int_equal(d.to, 2); /* wants 3; 100 % per 15 s allows 2 */
    assert_string_equal(d.reason, "ScaleUpLimit");
    cur[0] = 45;
    autoscale_hpa_step(c, s, 15, cur, &d);
    assert_int_equal(d.to, 3);
    free(c);
    free(s);
    json_decref(docs);
    free(path);
}

static void test_bundled_manifest(void **state)
{
    char *path = manifest_find_bundled(MANIFEST_SCALEDOBJECT);
    assert_non_null(path);
    json_t *docs = NULL;
    assert_int_equal(manifest_load(path, &docs, NULL), 0);
    struct kube_scaledobject so;
    assert_int_equal(kube_scaledobject_parse(manifest_find_kind(docs, "ScaledObject"), &so, NULL),
                     0);
    assert_int_equal(so.min_replicas, 0);
    assert_int_equal(so.max_replicas, 10);
    assert_int_equal(so.polling_s, 5);
    assert_int_equal(so.cooldown_s, 30);
    assert_int_equal(so.triggers[0].lag_threshold, 5);
    assert_int_equal(so.triggers[0].activation_lag_threshold, 0);
    assert_string_equal(so.triggers[0].account, "$G");
    assert_false(so.has_behavior);
    json_decref(docs);
    free(path);

    /* Bad YAML names the line. */
    struct meme_err err = {0};
    assert_int_equal(manifest_parse("a: [1,\n", 7, "x.yaml", &docs, &err), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "x.yaml"));
    assert_non_null(strstr(err.msg, "line"));
}

static void test_jsz(void **state)
{
    const char *j =
        "{\"account_details\":[{\"name\":\"$G\",\"reserved_memory\":18446744073709551615,"
        "\"stream_detail\":[{\"name\":\"MEMES\",\"consumer_detail\":[{\"name\":\"other\","
        "\"num_pending\":99},{\"name\":\"meme-generator\",\"num_pending\":12,"
        "\"num_ack_pending\":4,\"num_waiting\":2}]}]}]}";
    struct jsz_consumer c;
    assert_int_equal(jsz_parse(j, strlen(j), "$G", "MEMES", "meme-generator", &c, NULL), 0);
    assert_int_equal(c.lag, 16);
    assert_int_equal(c.pending, 12);
    assert_int_equal(c.ack_pending, 4);
    assert_int_equal(jsz_parse(j, strlen(j), "$G", "MEMES", "nope", &c, NULL), MEME_E_NOT_FOUND);
    assert_int_equal(jsz_parse(j, strlen(j), "ACC", "MEMES", "meme-generator", &c, NULL),
                     MEME_E_NOT_FOUND);
    assert_int_equal(jsz_parse("<html>", 6, "$G", "MEMES", "x", &c, NULL), MEME_E_BAD_JSON);
    const char *neg = "{\"account_details\":[{\"name\":\"$G\",\"stream_detail\":[{\"name\":"
                      "\"MEMES\",\"consumer_detail\":[{\"name\":\"c\",\"num_pending\":-3}]}]}]}";
    assert_int_equal(jsz_parse(neg, strlen(neg), "$G", "MEMES", "c", &c, NULL), MEME_E_BAD_JSON);
    char *url = jsz_url("127.0.0.1:8222", "$G");
    assert_string_equal(url, "http://127.0.0.1:8222/jsz?acc=$G&consumers=true&config=true");
    free(url);
}

static void test_simulate_burst(void **state)
{
    struct kube_scaledobject so;
    seed_so(&so, "0", NULL);
    struct autoscale_config *c = xcalloc(1, sizeof(*c));
    autoscale_config_keda(c, &so);
    struct loadsim_profile p;
    const char *csv = "seconds,rate\n0,2000\n1,0\n";
    assert_int_equal(loadsim_profile_csv(&p, csv, strlen(csv), NULL), 0);
    struct loadsim_opts o = {.throughput = 50};
    struct loadsim_result r;
    assert_int_equal(loadsim_run_keda(c, &p, &o, &r, NULL), 0);
    /* polls every 5 s: idle at 0, KEDA 0 -> 1, the HPA 1 -> 5, drained, 30 s later 0 */
    int want[] = {0, 1, 5, 5, 5};
    for (int i = 0; i < 5; i++)
        assert_int_equal(r.rows[i].replicas, want[i]);
    assert_int_equal(r.rows[1].lag, 2000);
    assert_int_equal(r.rows[r.n - 1].replicas, 0);
    assert_string_equal(r.rows[r.n - 1].d.reason, "ScaleToZero");
    assert_true(r.completed > 1999.9);
    assert_int_equal(r.peak_replicas, 5);
    /* the first request waits for the first poll that sees it (5 s) */
    assert_true(r.rows[0].wait_s >= 5.0 && r.rows[0].wait_s < 5.2);
    assert_int_equal(loadsim_replicas_at(&r, 12), 5);
    loadsim_result_release(&r);
    loadsim_profile_release(&p);

    /* bad CSVs name the line */
    struct meme_err err = {0};
    assert_int_equal(loadsim_profile_csv(&p, "0,5\n3,x\n", 8, &err), MEME_E_BAD_REQUEST);
    assert_non_null(strstr(err.msg, "line 2"));
    assert_int_equal(loadsim_profile_csv(&p, "0,5\n0,1\n", 8, &err), MEME_E_BAD_REQUEST);
    assert_int_equal(loadsim_profile_csv(&p, "1,5\n3,0\n", 8, &err), MEME_E_BAD_REQUEST);
    assert_int_equal(loadsim_profile_csv(&p, "0,-5\n3,0\n", 9, &err), MEME_E_BAD_REQUEST);
    assert_int_equal(loadsim_profile_builtin(&p, "wave", 10, 60, &err), MEME_E_BAD_REQUEST);
    assert_int_equal(loadsim_profile_builtin(&p, "spike", 10, 100, NULL), 0);
    assert_true(loadsim_rate_at(&p, 50) == 50);
    assert_true(loadsim_rate_at(&p, 10) == 10);
    assert_true(loadsim_rate_at(&p, 100) == 0);
    loadsim_profile_release(&p);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_is_strict),
        cmocka_unit_test(test_from_zero_then_hpa_default_policies),
        cmocka_unit_test(test_cooldown_to_zero),
        cmocka_unit_test(test_min_one_never_goes_to_zero),
        cmocka_unit_test(test_default_scale_down_window),
        cmocka_unit_test(test_tolerance),
        cmocka_unit_test(test_behavior_from_scaledobject),
        cmocka_unit_test(test_plain_hpa),
        cmocka_unit_test(test_bundled_manifest),
        cmocka_unit_test(test_jsz),
        cmocka_unit_test(test_simulate_burst),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
