/*
 * The autoscalers' arithmetic against cases written from the Kubernetes
 * documentation's HPA algorithm and the controller's rules: ratio and
 * tolerance (in the controller's float64, so 110 % of target is outside the
 * 10 % band and 90 % inside), max over metrics, stabilization windows,
 * Percent and Pods policies with selectPolicy Max, Min and Disabled, the
 * min/max clamps, the legacy rules without spec.behavior; KEDA's
 * activation and lag; the VPA updater; conflicts in the recorded cluster.
 */
#include "kube/kube_types.h"
#include "kube/scale.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/* The case table below leaves trailing fields to zero on purpose. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct hpa_case {
    const char *what;
    int current, ready, min, max;
    int nmetrics;
    struct {
        enum kube_target_type type;
        double current, target;
        bool missing, external;
    } m[3];
    bool legacy;     /* no spec.behavior */
    int up_window;   /* -1: default (0) */
    int down_window; /* -1: default (300) */
    enum kube_select_policy up_select, down_select;
    int nup, ndown; /* 0: default policies */
    struct kube_hpa_policy up[2], down[2];
    int nrecs;
    struct scale_rec recs[3];
    int nevents;
    struct scale_event events[3];
    /* expected */
    int from_metrics;
    int desired;
    const char *reason;
};

#define UTIL KUBE_TARGET_UTILIZATION
#define AVG  KUBE_TARGET_AVERAGE_VALUE
#define PCT(v, p)                                                                                  \
    {                                                                                              \
        true, v, p                                                                                 \
    }
#define PODS(v, p)                                                                                 \
    {                                                                                              \
        false, v, p                                                                                \
    }

static const struct hpa_case cases[] = {
    {"doc: 200m against 100m doubles",
     2,
     0,
     1,
     10,
     1,
     {{AVG, 0.2, 0.1}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     4,
     4,
     "DesiredWithinRange"},
    {"doc: 50m against 100m halves",
     4,
     0,
     1,
     10,
     1,
     {{AVG, 0.05, 0.1}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     2,
     2,
     "DesiredWithinRange"},
    {"tolerance: 108% stays",
     3,
     0,
     1,
     10,
     1,
     {{UTIL, 108, 100}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     3,
     3,
     "DesiredWithinRange"},
    {"tolerance: 90% is inside in float64",
     10,
     0,
     1,
     20,
     1,
     {{UTIL, 90, 100}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     10,
     10,
     "DesiredWithinRange"},
    {"tolerance: 110% is outside in float64",
     10,
     0,
     1,
     20,
     1,
     {{UTIL, 110, 100}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     11,
     11,
     "DesiredWithinRange"},
    {"tolerance: 111% scales",
     10,
     0,
     1,
     20,
     1,
     {{UTIL, 111, 100}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     12,
     12,
     "DesiredWithinRange"},
    {"seed gateway: cpu 45/30 and memory 38/50, max wins",
     2,
     0,
     1,
     5,
     2,
     {{UTIL, 45, 30}, {UTIL, 38, 50}},
     false,
     0,
     300,
     0,
     0,
     1,
     1,
     {PCT(100, 15)},
     {PCT(20, 60)},
     0,
     {},
     0,
     {},
     3,
     3,
     "DesiredWithinRange"},
    {"resource metrics count ready pods",
     3,
     2,
     1,
     10,
     1,
     {{UTIL, 60, 30}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     4,
     4,
     "DesiredWithinRange"},
    {"clamped at maxReplicas",
     2,
     0,
     1,
     5,
     1,
     {{UTIL, 300, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     12,
     5,
     "TooManyReplicas"},
    {"held by the scale-up policy",
     2,
     0,
     1,
     20,
     1,
     {{UTIL, 300, 50}},
     false,
     -1,
     -1,
     0,
     0,
     1,
     0,
     {PCT(100, 15)},
     {},
     0,
     {},
     0,
     {},
     12,
     4,
     "ScaleUpLimit"},
    {"scale-up policy already used in this period",
     2,
     0,
     1,
     20,
     1,
     {{UTIL, 300, 50}},
     false,
     -1,
     -1,
     0,
     0,
     1,
     0,
     {PCT(100, 15)},
     {},
     0,
     {},
     1,
     {{10, 2}},
     12,
     2,
     "ScaleUpLimit"},
    {"default scale-up: max(+4 pods, +100%)",
     1,
     0,
     1,
     50,
     1,
     {{UTIL, 1000, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     20,
     5,
     "ScaleUpLimit"},
    {"scale-up selectPolicy Min",
     10,
     0,
     1,
     50,
     1,
     {{UTIL, 300, 100}},
     false,
     -1,
     -1,
     KUBE_SELECT_MIN,
     0,
     2,
     0,
     {PODS(4, 60), PCT(100, 60)},
     {},
     0,
     {},
     0,
     {},
     30,
     14,
     "ScaleUpLimit"},
    {"scale-down held by the stabilization window",
     5,
     0,
     1,
     10,
     1,
     {{UTIL, 20, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     1,
     {},
     {PCT(20, 60)},
     2,
     {{100, 5}, {200, 4}},
     0,
     {},
     2,
     5,
     "DesiredWithinRange"},
    {"old recommendations are outside the window",
     5,
     0,
     1,
     10,
     1,
     {{UTIL, 20, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     1,
     {},
     {PCT(20, 60)},
     1,
     {{400, 5}},
     0,
     {},
     2,
     4,
     "ScaleDownLimit"},
    {"doc: 10% per minute from 80",
     80,
     0,
     1,
     100,
     1,
     {{UTIL, 10, 80}},
     false,
     -1,
     0,
     0,
     0,
     0,
     2,
     {},
     {PCT(10, 60), PODS(4, 60)},
     0,
     {},
     0,
     {},
     10,
     72,
     "ScaleDownLimit"},
    {"doc: 10% of 72 removes 8",
     72,
     0,
     1,
     100,
     1,
     {{UTIL, 10, 72}},
     false,
     -1,
     0,
     0,
     0,
     0,
     2,
     {},
     {PCT(10, 60), PODS(4, 60)},
     0,
     {},
     0,
     {},
     10,
     64,
     "ScaleDownLimit"},
    {"scale-down selectPolicy Min",
     80,
     0,
     1,
     100,
     1,
     {{UTIL, 10, 80}},
     false,
     -1,
     0,
     0,
     KUBE_SELECT_MIN,
     0,
     2,
     {},
     {PCT(10, 60), PODS(4, 60)},
     0,
     {},
     0,
     {},
     10,
     76,
     "ScaleDownLimit"},
    {"scale-down Disabled",
     8,
     0,
     1,
     10,
     1,
     {{UTIL, 10, 80}},
     false,
     -1,
     0,
     0,
     KUBE_SELECT_DISABLED,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     1,
     8,
     "ScaleDownLimit"},
    {"clamped at minReplicas",
     3,
     0,
     2,
     10,
     1,
     {{UTIL, 10, 100}},
     false,
     -1,
     0,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     1,
     2,
     "TooFewReplicas"},
    {"scale-up window keeps the lowest recent recommendation",
     3,
     0,
     1,
     10,
     1,
     {{UTIL, 100, 50}},
     false,
     60,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     1,
     {{30, 3}},
     0,
     {},
     6,
     3,
     "DesiredWithinRange"},
    {"KEDA external lag per replica",
     4,
     0,
     1,
     10,
     1,
     {{AVG, 5.75, 5, false, true}},
     false,
     0,
     300,
     0,
     0,
     2,
     1,
     {PODS(4, 15), PCT(100, 15)},
     {PCT(100, 15)},
     0,
     {},
     0,
     {},
     5,
     5,
     "DesiredWithinRange"},
    {"a metric without a value is skipped",
     2,
     0,
     1,
     10,
     2,
     {{UTIL, 0, 50, true}, {UTIL, 100, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     4,
     4,
     "DesiredWithinRange"},
    {"no metric has a value",
     2,
     0,
     1,
     10,
     1,
     {{UTIL, 0, 50, true}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     2,
     2,
     "FailedGetMetrics"},
    {"one metric in tolerance, another lower: current stays",
     4,
     0,
     1,
     10,
     2,
     {{UTIL, 105, 100}, {UTIL, 50, 100}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     4,
     4,
     "DesiredWithinRange"},
    {"target scaled to zero by hand: disabled",
     0,
     0,
     1,
     10,
     1,
     {{UTIL, 100, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     0,
     0,
     "ScalingDisabled"},
    {"above maxReplicas: brought to max",
     12,
     0,
     1,
     10,
     1,
     {{UTIL, 50, 50}},
     false,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     10,
     10,
     "TooManyReplicas"},
    {"legacy: scale-up limit max(2x, 4)",
     2,
     0,
     1,
     10,
     1,
     {{UTIL, 150, 50}},
     true,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     6,
     4,
     "ScaleUpLimit"},
    {"legacy: 300 s scale-down window",
     5,
     0,
     1,
     10,
     1,
     {{UTIL, 20, 50}},
     true,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     1,
     {{120, 5}},
     0,
     {},
     2,
     5,
     "DesiredWithinRange"},
    {"legacy: clamped at max",
     4,
     0,
     1,
     6,
     1,
     {{UTIL, 150, 50}},
     true,
     -1,
     -1,
     0,
     0,
     0,
     0,
     {},
     {},
     0,
     {},
     0,
     {},
     12,
     6,
     "TooManyReplicas"},
};

static void test_hpa_cases(void **state)
{
    int bad = 0;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct hpa_case *c = &cases[i];
        struct scale_hpa_in in;
        memset(&in, 0, sizeof(in));
        in.current = c->current;
        in.ready = c->ready;
        in.min = c->min;
        in.max = c->max;
        in.nmetrics = c->nmetrics;
        for (int k = 0; k < c->nmetrics; k++) {
            in.metrics[k].type = c->m[k].type;
            in.metrics[k].current = c->m[k].current;
            in.metrics[k].target = c->m[k].target;
            in.metrics[k].missing = c->m[k].missing;
            in.metrics[k].external = c->m[k].external;
        }
        in.has_behavior = !c->legacy;
        kube_hpa_default_rules(&in.up, &in.down);
        if (c->up_window >= 0)
            in.up.window_s = c->up_window;
        if (c->down_window >= 0)
            in.down.window_s = c->down_window;
        in.up.select = c->up_select;
        in.down.select = c->down_select;
        if (c->nup) {
            in.up.npolicies = c->nup;
            memcpy(in.up.policies, c->up, sizeof(c->up));
        }
        if (c->ndown) {
            in.down.npolicies = c->ndown;
            memcpy(in.down.policies, c->down, sizeof(c->down));
        }
        in.recs = c->recs;
        in.nrecs = c->nrecs;
        in.events = c->events;
        in.nevents = c->nevents;
        struct scale_hpa_out out;
        scale_hpa(&in, &out);
        if (out.from_metrics != c->from_metrics || out.desired != c->desired ||
            strcmp(out.reason, c->reason) != 0) {
            fprintf(stderr, "case \"%s\": got from_metrics %d desired %d %s, want %d %d %s\n",
                    c->what, out.from_metrics, out.desired, out.reason, c->from_metrics, c->desired,
                    c->reason);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void test_hold_flags(void **state)
{
    struct scale_hpa_in in;
    memset(&in, 0, sizeof(in));
    in.current = 5;
    in.min = 1;
    in.max = 10;
    in.nmetrics = 1;
    in.metrics[0] = (struct scale_metric_in){"cpu", UTIL, 20, 50, false, false};
    in.has_behavior = true;
    kube_hpa_default_rules(&in.up, &in.down);
    struct scale_rec recs[] = {{100, 5}};
    in.recs = recs;
    in.nrecs = 1;
    struct scale_hpa_out out;
    scale_hpa(&in, &out);
    assert_true(out.held_down);
    assert_false(out.held_up);
    assert_int_equal(out.window_s, 300);
    assert_int_equal(out.chosen_metric, 0);
    assert_true(out.metrics[0].ratio > 0.39 && out.metrics[0].ratio < 0.41);
}

static json_t *load_list(const char *name)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    char *p = xasprintf("%s/tests/fixtures/kube/%s", root ? root : ".", name);
    json_t *j = json_load_file(p, 0, NULL);
    free(p);
    assert_non_null(j);
    return j;
}

static void test_recorded_hpas(void **state)
{
    /* The controller's recorded desiredReplicas is what the arithmetic gives. */
    json_t *list = load_list("horizontalpodautoscalers.json");
    size_t i;
    json_t *o;
    int checked = 0;
    json_array_foreach(json_object_get(list, "items"), i, o)
    {
        struct kube_hpa h;
        assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
        struct scale_hpa_in in;
        scale_hpa_input(&h, 0, &in);
        struct scale_hpa_out out;
        scale_hpa(&in, &out);
        assert_int_equal(out.desired, h.desired_replicas);
        checked++;
    }
    assert_int_equal(checked, 3);
    json_decref(list);
}

static void test_keda(void **state)
{
    json_t *list = load_list("scaledobjects.json");
    struct kube_scaledobject so;
    assert_int_equal(
        kube_scaledobject_parse(json_array_get(json_object_get(list, "items"), 0), &so, NULL), 0);
    assert_int_equal(so.triggers[0].lag_threshold, 5);
    assert_int_equal(so.triggers[0].activation_lag_threshold, 0);
    struct scale_keda_out k;
    scale_keda(&so, 0, 23, &k);
    assert_true(k.active);
    assert_int_equal(k.wanted, 5);
    assert_int_equal(k.desired, 5);
    scale_keda(&so, 0, 1, &k); /* one message wakes a worker with activation 0 */
    assert_true(k.active);
    assert_int_equal(k.desired, 1);
    scale_keda(&so, 0, 0, &k);
    assert_false(k.active);
    assert_int_equal(k.desired, 0);
    scale_keda(&so, 0, 1000, &k);
    assert_int_equal(k.wanted, 200);
    assert_int_equal(k.desired, 10);
    /* the seed's activationLagThreshold 1: a single message never activates */
    so.triggers[0].activation_lag_threshold = 1;
    scale_keda(&so, 0, 1, &k);
    assert_false(k.active);
    assert_int_equal(k.desired, 0);
    scale_keda(&so, 0, 2, &k);
    assert_true(k.active);
    so.paused = so.has_paused_replicas = true;
    so.paused_replicas = 3;
    scale_keda(&so, 0, 100, &k);
    assert_int_equal(k.desired, 3);
    json_decref(list);
}

static void test_vpa(void **state)
{
    json_t *list = load_list("verticalpodautoscalers.json");
    struct kube_vpa v;
    assert_int_equal(kube_vpa_parse(json_array_get(json_object_get(list, "items"), 0), &v, NULL),
                     0);
    assert_string_equal(v.update_mode, "Auto");
    assert_true(v.has_min_replicas);
    assert_int_equal(v.nrecs, 1);
    /* 131072k is 131,072,000 bytes: below 128Mi */
    assert_int_equal(kube_quantity_value(&v.recs[0].lower.memory), 131072000);
    assert_int_equal(kube_quantity_milli(&v.recs[0].target.cpu), 163);
    struct kube_resources req;
    memset(&req, 0, sizeof(req));
    req.has_cpu = req.has_memory = true;
    assert_int_equal(kube_quantity_parse("100m", &req.cpu, NULL), 0);
    assert_int_equal(kube_quantity_parse("128Mi", &req.memory, NULL), 0);
    struct scale_vpa_out out;
    scale_vpa(&v, &v.recs[0], &req, 1, &out);
    assert_int_equal(out.cpu, SCALE_VPA_WITHIN);
    assert_int_equal(out.memory, SCALE_VPA_WITHIN);
    assert_true(out.updater_acts);
    assert_int_equal(kube_quantity_parse("40m", &req.cpu, NULL), 0);
    scale_vpa(&v, &v.recs[0], &req, 1, &out);
    assert_int_equal(out.cpu, SCALE_VPA_OUTSIDE);
    /* without updatePolicy.minReplicas a single replica is never evicted */
    v.has_min_replicas = false;
    scale_vpa(&v, &v.recs[0], &req, 1, &out);
    assert_false(out.updater_acts);
    assert_non_null(strstr(out.why_not, "minReplicas"));
    snprintf(v.update_mode, sizeof(v.update_mode), "Off");
    scale_vpa(&v, &v.recs[0], &req, 3, &out);
    assert_false(out.updater_acts);
    json_decref(list);
}

static void test_conflicts(void **state)
{
    json_t *hl = load_list("horizontalpodautoscalers.json");
    json_t *sl = load_list("scaledobjects.json");
    json_t *vl = load_list("verticalpodautoscalers.json");
    struct kube_hpa h[3];
    struct kube_scaledobject s[2];
    struct kube_vpa v[2];
    for (int i = 0; i < 3; i++)
        assert_int_equal(
            kube_hpa_parse(json_array_get(json_object_get(hl, "items"), i), &h[i], NULL), 0);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(
            kube_scaledobject_parse(json_array_get(json_object_get(sl, "items"), i), &s[i], NULL),
            0);
        assert_int_equal(
            kube_vpa_parse(json_array_get(json_object_get(vl, "items"), i), &v[i], NULL), 0);
    }
    char out[2048];
    struct scale_set set = {h, 3, s, 2, v, 2};
    assert_int_equal(scale_conflicts(&set, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "HPA meme-chaos/chaos-hpa and ScaledObject "
                                "meme-chaos/chaos-scaler both scale Deployment chaos-app"));
    assert_non_null(strstr(out, "VPA meme-chaos/chaos-vpa (updateMode Auto) resizes cpu"));
    assert_null(strstr(out, "meme-generator")); /* KEDA's own HPA is no conflict */
    /* the healthy namespaces alone: none */
    struct scale_set healthy = {h, 2, s, 1, v, 1};
    assert_int_equal(scale_conflicts(&healthy, out, sizeof(out)), 0);
    json_decref(hl);
    json_decref(sl);
    json_decref(vl);
}

/* KEDA's HPA as the controller writes it: an External AverageValue metric
 * whose current average is ceil(total lag x 1000 / currentReplicas) milli. */
static json_t *keda_hpa(const char *average, int replicas)
{
    json_t *o =
        json_pack("{s:s,s:s,s:{s:s,s:s},s:{s:i,s:i,s:[{s:s,s:{s:{s:s},s:{s:s,s:s}}}]},"
                  "s:{s:i,s:i,s:[{s:s,s:{s:{s:s},s:{s:s}}}]}}",
                  "apiVersion", "autoscaling/v2", "kind", "HorizontalPodAutoscaler", "metadata",
                  "name", "keda-hpa-meme-generator-backend-scaler", "namespace", "meme-generator",
                  "spec", "minReplicas", 1, "maxReplicas", 10, "metrics", "type", "External",
                  "external", "metric", "name", "s0-nats-jetstream-MEMES", "target", "type",
                  "AverageValue", "averageValue", "5", "status", "currentReplicas", replicas,
                  "desiredReplicas", replicas, "currentMetrics", "type", "External", "external",
                  "metric", "name", "s0-nats-jetstream-MEMES", "current", "averageValue", average);
    assert_non_null(o);
    return o;
}

static void test_hpa_external_total(void **state)
{
    (void)state;
    struct kube_hpa h;
    int64_t lag = -1;
    /* 36 messages on 7 replicas: the HPA reports 5143m (36000/7 = 5142.86,
     * rounded up); 5143m x 7 = 36.001, which is 36, not 37 */
    json_t *o = keda_hpa("5143m", 7);
    assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
    json_decref(o);
    assert_true(kube_hpa_external_total(&h, &lag));
    assert_int_equal(lag, 36);
    /* the recorded HPA: 5750m on 4 replicas is 23 */
    o = keda_hpa("5750m", 4);
    assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
    json_decref(o);
    assert_true(kube_hpa_external_total(&h, &lag));
    assert_int_equal(lag, 23);
    /* every total the controller can round, read back exactly */
    for (int replicas = 1; replicas <= 40; replicas++)
        for (int64_t total = 0; total <= 500; total++) {
            int64_t avg = (total * 1000 + replicas - 1) / replicas; /* the controller's ceil */
            char q[32];
            if (avg % 1000 == 0)
                snprintf(q, sizeof(q), "%lld", (long long)(avg / 1000));
            else
                snprintf(q, sizeof(q), "%lldm", (long long)avg);
            o = keda_hpa(q, replicas);
            assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
            json_decref(o);
            assert_true(kube_hpa_external_total(&h, &lag));
            if (lag != total)
                fail_msg("%lld messages on %d replicas reported as %s, read back as %lld",
                         (long long)total, replicas, q, (long long)lag);
        }
    /* no External metric: nothing to read */
    o = keda_hpa("1", 1);
    json_object_set_new(json_object_get(o, "status"), "currentMetrics", json_array());
    assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
    json_decref(o);
    assert_false(kube_hpa_external_total(&h, &lag));
}

static void test_views_tolerate_absent_fields(void **state)
{
    json_t *o = json_loads("{\"metadata\":{\"name\":\"bare\"},\"spec\":{}}", 0, NULL);
    struct kube_hpa h;
    assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
    assert_int_equal(h.min_replicas, 1);
    assert_int_equal(h.nmetrics, 1); /* the API's default: cpu at 80 % */
    assert_int_equal(h.metrics[0].target_util, 80);
    assert_false(h.metrics[0].has_current);
    assert_int_equal(h.down.window_s, 300);
    struct kube_scaledobject so;
    assert_int_equal(kube_scaledobject_parse(o, &so, NULL), 0);
    assert_int_equal(so.max_replicas, 100);
    assert_int_equal(so.polling_s, 30);
    assert_int_equal(so.cooldown_s, 300);
    assert_string_equal(so.target.kind, "Deployment");
    assert_string_equal(so.hpa_name, "keda-hpa-bare");
    struct kube_vpa v;
    assert_int_equal(kube_vpa_parse(o, &v, NULL), 0);
    assert_string_equal(v.update_mode, "Auto");
    assert_int_equal(v.nrecs, 0);
    struct kube_workload w;
    assert_int_equal(kube_workload_parse(o, &w, NULL), 0);
    assert_int_equal(w.spec_replicas, 1);
    json_decref(o);
    /* control sequences from the API never reach the views */
    o = json_loads("{\"metadata\":{\"name\":\"x\\u001b[2Jy\"}}", 0, NULL);
    assert_int_equal(kube_hpa_parse(o, &h, NULL), 0);
    assert_null(strchr(h.meta.name, 0x1b));
    json_decref(o);
    assert_int_equal(kube_hpa_parse(json_null(), &h, NULL), MEME_E_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hpa_cases),
        cmocka_unit_test(test_hold_flags),
        cmocka_unit_test(test_recorded_hpas),
        cmocka_unit_test(test_keda),
        cmocka_unit_test(test_vpa),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_hpa_external_total),
        cmocka_unit_test(test_views_tolerate_absent_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
