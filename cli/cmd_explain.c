/*
 * memectl explain hpa|scaledobject|vpa NAME: the arithmetic behind one
 * scaler's replica count (lib/kube/scale), as text or JSON, and a warning
 * when two autoscalers drive the same workload.
 */
#include "scaler_view.h"
#include "kube/kube.h"
#include "kube/kube_status.h"
#include "mq/proto.h"
#include "kube/scale.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const struct opt_spec explain_opts[] = {
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    {ST_NAMESPACE, 'n', "namespace", "NS",
     "the scaler's namespace (default: found in the stack's namespaces)", "@namespaces"},
    {ST_OUTPUT, 'o', "output", "FORMAT", "text or json", "text json"},
    {ST_JSON, 0, "json", NULL, "same as -o json", NULL},
    OPT_QUEUE,
    {0, 0, NULL, NULL, NULL, NULL},
};

/* Finds the scaler's namespace: -n, else the one stack namespace that has
 * it (every namespace asked at once: one round trip). */
static int find_namespace(struct kube_client *kc, const struct scaler_args *a, enum kube_kind k,
                          const char *name, const char **ns, json_t **obj, struct meme_err *err)
{
    const char *const *cands = a->ns;
    int n = a->nns;
    int found = 0;
    int rc = MEME_E_NOT_FOUND;
    bool fatal = false; /* a refusal, or the CRD is not there: said as it is */
    struct kube_batch_req b[16];
    for (int i = 0; i < n; i++) {
        char *base = kube_kind_path(k, cands[i]);
        b[i].path = xasprintf("%s/%s", base, name);
        free(base);
    }
    int brc = kube_get_batch(kc, b, n, err);
    for (int i = 0; i < n && brc == 0; i++) {
        if (b[i].rc == 0) {
            if (found++ == 0) {
                *ns = cands[i];
                *obj = json_incref(b[i].out);
            }
            rc = 0;
        } else if (b[i].rc != MEME_E_NOT_FOUND || strstr(b[i].err.msg, "CRD")) {
            if (err)
                *err = b[i].err;
            rc = b[i].rc;
            fatal = true;
            break;
        }
    }
    for (int i = 0; i < n; i++) {
        free((char *)b[i].path);
        json_decref(b[i].out);
    }
    if (brc != 0)
        return brc;
    if (fatal) {
        json_decref(*obj);
        *obj = NULL;
        return rc;
    }
    if (found > 1) {
        json_decref(*obj);
        *obj = NULL;
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "\"%s\" is in more than one namespace; pass --namespace", name);
    }
    if (rc)
        meme_err_set(err, MEME_E_NOT_FOUND, "no %s \"%s\" in namespace%s %s%s%s%s",
                     kube_kind_resource(k), name, n > 1 ? "s" : "", cands[0], n > 1 ? ", " : "",
                     n > 1 ? cands[1] : "", n > 2 ? ", ..." : "");
    return rc;
}

static void explain_hpa_math(struct buf *b, const struct kube_hpa *h, int ready)
{
    struct scale_hpa_in in;
    scale_hpa_input(h, ready, &in);
    struct scale_hpa_out out;
    scale_hpa(&in, &out);
    buf_printf(b, "  replicas now %d", h->current_replicas);
    if (ready > 0)
        buf_printf(b, " (%d ready)", ready);
    buf_printf(b, ", min %d, max %d\n", h->min_replicas, h->max_replicas);
    if (strcmp(out.reason, "ScalingDisabled") == 0 || h->current_replicas > h->max_replicas ||
        h->current_replicas < h->min_replicas) {
        buf_printf(b, "  %s -> %d\n", out.message, out.desired);
        goto result;
    }
    buf_printf(b,
               "  per metric: ratio = current / target; within +-%.0f%% of 1 nothing "
               "changes\n",
               SCALE_TOLERANCE * 100);
    for (int i = 0; i < in.nmetrics; i++) {
        const struct scale_metric_in *m = &in.metrics[i];
        const struct scale_metric_out *o = &out.metrics[i];
        char cur[64], tgt[64];
        scaler_view_metric_text(&h->metrics[i], cur, sizeof(cur), tgt, sizeof(tgt));
        buf_printf(b, "    %-10s ", m->label);
        if (o->proposal < 0) {
            buf_printf(b, "no current value: skipped\n");
            continue;
        }
        buf_printf(b, "%s / %s = %.3f", cur, tgt, o->ratio);
        int pods = ready > 0 && !m->external ? ready : h->current_replicas;
        if (o->within_tolerance)
            buf_printf(b, "  within tolerance: stays %d", o->proposal);
        else
            buf_printf(b, "  ceil(%.3f x %d) = %d", o->ratio, pods, o->proposal);
        buf_printf(b, "%s\n", i == out.chosen_metric ? "  <- highest" : "");
    }
    if (out.chosen_metric < 0) {
        buf_printf(b, "  %s\n", out.message);
        goto result;
    }
    buf_printf(b, "  max over metrics: %d\n", out.from_metrics);
    if (h->has_behavior)
        buf_printf(b,
                   "  stabilization: scale-up window %ds, scale-down window %ds -> %d "
                   "(assuming no earlier recommendation in the windows)\n",
                   h->up.window_s, h->down.window_s, out.stabilized);
    else
        buf_printf(b, "  no spec.behavior: the controller keeps the highest recommendation of "
                      "the last 300s and adds at most max(2 x current, 4)\n");
    if (out.up_limit && out.stabilized > h->current_replicas) {
        buf_printf(b, "  scale-up policies (select %s):",
                   h->up.select == KUBE_SELECT_MIN        ? "Min"
                   : h->up.select == KUBE_SELECT_DISABLED ? "Disabled"
                                                          : "Max");
        for (int i = 0; h->has_behavior && i < h->up.npolicies; i++)
            buf_printf(b, " %s %d per %ds;", h->up.policies[i].percent ? "Percent" : "Pods",
                       h->up.policies[i].value, h->up.policies[i].period_s);
        buf_printf(b, " limit %d\n", out.up_limit);
    }
    if (out.down_limit && out.stabilized < h->current_replicas) {
        buf_printf(b, "  scale-down policies (select %s):",
                   h->down.select == KUBE_SELECT_MIN        ? "Min"
                   : h->down.select == KUBE_SELECT_DISABLED ? "Disabled"
                                                            : "Max");
        for (int i = 0; i < h->down.npolicies; i++)
            buf_printf(b, " %s %d per %ds;", h->down.policies[i].percent ? "Percent" : "Pods",
                       h->down.policies[i].value, h->down.policies[i].period_s);
        buf_printf(b, " limit %d\n", out.down_limit);
    }
    buf_printf(b, "  clamp to [%d, %d]\n", h->min_replicas, h->max_replicas);
result:
    buf_printf(b, "  => %d replicas (%s: %s)\n", out.desired, out.reason, out.message);
    if (h->desired_replicas != out.desired) {
        buf_printf(b, "  the controller reports %d: ", h->desired_replicas);
        if (h->desired_replicas > out.desired && h->down.window_s > 0)
            buf_printf(b,
                       "a higher recommendation within the last %ds (the scale-down "
                       "stabilization window) holds it up\n",
                       h->down.window_s);
        else if (h->desired_replicas < out.desired)
            buf_printf(b, "a scale-up policy or window used up by recent scaling holds it "
                          "down, or the metrics moved since\n");
        else
            buf_printf(b, "the metrics moved since its last pass\n");
    } else {
        buf_printf(b, "  the controller reports %d: the same\n", h->desired_replicas);
    }
}

static int ready_of(struct kube_client *kc, const char *ns, const struct kube_ref *t)
{
    char *path =
        xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns,
                  strcmp(t->kind, "StatefulSet") == 0 ? "statefulsets" : "deployments", t->name);
    json_t *o = NULL;
    int ready = 0;
    if (kube_get(kc, path, &o, NULL) == 0) {
        struct kube_workload w;
        if (kube_workload_parse(o, &w, NULL) == 0)
            ready = w.ready;
    }
    json_decref(o);
    free(path);
    return ready;
}

/* Conflict warnings for one target: lists the namespace's scalers. */
static void explain_conflicts(struct buf *b, json_t *arr, struct kube_client *kc, const char *ns,
                              const char *target)
{
    struct kube_status ks;
    const char *one[1] = {ns};
    /* conflicts are between scalers: the workloads and pods are not needed */
    unsigned kinds = KUBE_KIND_BIT(KUBE_KIND_HPA) | KUBE_KIND_BIT(KUBE_KIND_SCALEDOBJECT) |
                     KUBE_KIND_BIT(KUBE_KIND_VPA);
    if (kube_status_fetch_kinds(kc, one, 1, kinds, &ks, NULL) == 0) {
        char c[4096];
        scaler_view_conflicts(&ks, c, sizeof(c));
        for (char *line = c, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = 0;
            if (!strstr(line, target))
                continue;
            buf_printf(b, "warning: %s\n", line);
            if (arr)
                json_array_append_new(arr, json_string(line));
        }
    }
    kube_status_release(&ks);
}

/* ---- explain -o json: the same arithmetic as the text, as data ---- */

static const char *select_name(enum kube_select_policy s)
{
    return s == KUBE_SELECT_MIN ? "Min" : s == KUBE_SELECT_DISABLED ? "Disabled" : "Max";
}

/* One direction's select policy, policies and the limit they give;
 * applies tells whether the recommendation moved in that direction. */
static json_t *rules_json(const struct kube_hpa_rules *r, bool has_behavior, int limit,
                          bool applies)
{
    json_t *pol = json_array();
    for (int i = 0; has_behavior && i < r->npolicies; i++)
        json_array_append_new(pol, json_pack("{s:s,s:i,s:i}", "type",
                                             r->policies[i].percent ? "Percent" : "Pods", "value",
                                             r->policies[i].value, "periodSeconds",
                                             r->policies[i].period_s));
    return json_pack("{s:s,s:o,s:o,s:b}", "selectPolicy", select_name(r->select), "policies", pol,
                     "limit", limit ? json_integer(limit) : json_null(), "applies", applies);
}

/* The HPA controller's calculation for h (lib/kube/scale), as explain's text
 * shows it: per metric, max over metrics, stabilization, policies, clamp,
 * the result and what the controller reports. */
static json_t *explain_hpa_json(const char *ns, const struct kube_hpa *h, int ready)
{
    struct scale_hpa_in in;
    scale_hpa_input(h, ready, &in);
    struct scale_hpa_out out;
    scale_hpa(&in, &out);
    json_t *o = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:i,s:o,s:i,s:i,s:f}", "kind",
                          "HorizontalPodAutoscaler", "namespace", ns, "name", h->meta.name,
                          "target", "kind", h->target.kind, "name", h->target.name,
                          "currentReplicas", h->current_replicas, "readyReplicas",
                          ready > 0 ? json_integer(ready) : json_null(), "minReplicas",
                          h->min_replicas, "maxReplicas", h->max_replicas, "tolerance",
                          in.tolerance > 0 ? in.tolerance : SCALE_TOLERANCE);
    /* The early exits of the controller (scaling disabled, replicas outside
     * [min, max]) compute no metric: as in the text, none is listed. */
    bool early = strcmp(out.reason, "ScalingDisabled") == 0 ||
                 h->current_replicas > h->max_replicas || h->current_replicas < h->min_replicas;
    json_t *metrics = json_array();
    for (int i = 0; !early && i < in.nmetrics; i++) {
        const struct kube_hpa_metric *km = &h->metrics[i];
        const struct scale_metric_in *m = &in.metrics[i];
        const struct scale_metric_out *mo = &out.metrics[i];
        bool skipped = mo->proposal < 0;
        json_t *jm = json_pack("{s:s,s:s,s:s}", "type", km->type, "name", m->label, "targetType",
                               scaler_view_target_type(km->target_type));
        if (km->target_type == KUBE_TARGET_UTILIZATION) {
            json_object_set_new(jm, "currentUtilization",
                                km->has_current_util ? json_integer(km->current_util)
                                                     : json_null());
            json_object_set_new(jm, "targetUtilization", json_integer(km->target_util));
        } else {
            json_object_set_new(jm, "current",
                                scaler_view_quantity_json(&km->current, km->has_current));
            json_object_set_new(jm, "target", scaler_view_quantity_json(&km->target, true));
        }
        int pods = ready > 0 && !m->external ? ready : h->current_replicas;
        json_object_set_new(jm, "skipped", json_boolean(skipped));
        json_object_set_new(jm, "ratio", skipped ? json_null() : json_real(mo->ratio));
        json_object_set_new(jm, "withinTolerance",
                            skipped ? json_null() : json_boolean(mo->within_tolerance));
        json_object_set_new(jm, "pods", skipped ? json_null() : json_integer(pods));
        json_object_set_new(jm, "proposedReplicas",
                            skipped ? json_null() : json_integer(mo->proposal));
        json_object_set_new(jm, "highest", json_boolean(i == out.chosen_metric));
        json_array_append_new(metrics, jm);
    }
    json_object_set_new(o, "metrics", metrics);
    bool computed = !early && out.chosen_metric >= 0;
    json_object_set_new(o, "maxOverMetrics",
                        computed ? json_integer(out.from_metrics) : json_null());
    if (computed) {
        json_object_set_new(
            o, "stabilization",
            json_pack("{s:b,s:i,s:i,s:i,s:b,s:b,s:o}", "behavior", h->has_behavior,
                      "scaleUpWindowSeconds", h->has_behavior ? h->up.window_s : 0,
                      "scaleDownWindowSeconds",
                      h->has_behavior ? h->down.window_s : SCALE_LEGACY_DOWN_WINDOW_S, "replicas",
                      out.stabilized, "heldUp", out.held_up, "heldDown", out.held_down,
                      "heldBySeconds",
                      out.held_up || out.held_down ? json_integer(out.window_s) : json_null()));
        json_object_set_new(o, "scaleUp",
                            rules_json(&h->up, h->has_behavior, out.up_limit,
                                       out.up_limit && out.stabilized > h->current_replicas));
        json_object_set_new(o, "scaleDown",
                            rules_json(&h->down, h->has_behavior, out.down_limit,
                                       out.down_limit && out.stabilized < h->current_replicas));
        json_object_set_new(o, "clamp",
                            json_pack("{s:i,s:i}", "min", h->min_replicas, "max", h->max_replicas));
    } else {
        json_object_set_new(o, "stabilization", json_null());
        json_object_set_new(o, "scaleUp", json_null());
        json_object_set_new(o, "scaleDown", json_null());
        json_object_set_new(o, "clamp", json_null());
    }
    json_object_set_new(o, "desiredReplicas", json_integer(out.desired));
    json_object_set_new(o, "reason", json_string(out.reason));
    json_object_set_new(o, "message", json_string(out.message));
    json_object_set_new(o, "reportedDesiredReplicas", json_integer(h->desired_replicas));
    json_object_set_new(o, "agrees", json_boolean(h->desired_replicas == out.desired));
    return o;
}

static const char *vpa_verdict_name(enum scale_vpa_verdict v)
{
    return v == SCALE_VPA_WITHIN ? "within" : v == SCALE_VPA_OUTSIDE ? "outside" : "none";
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
    struct scaler_args a;
    struct opt_iter it;
    int rc = scaler_view_parse(cli->cmd, SCALER_OUT_JSON, argc, argv, &a, &it);
    if (rc) {
        opt_release(&it);
        return rc < 0 ? EXIT_OK : rc;
    }
    struct kube_client *kc = NULL;
    json_t *obj = NULL, *j = NULL;
    struct buf b = BUF_INIT;
    struct meme_err err = {0};
    if (it.npositional == 1 && strcmp(it.positional[0], "local") == 0) {
        /* the local autoscaler of `memectl up --autoscale` (local_view.c) */
        rc = local_view_explain(&b, a.out == OUT_JSON ? &j : NULL);
        if (rc == 0 && j) {
            json_dumpf(j, stdout,
                       JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15) |
                           JSON_ENSURE_ASCII);
            fputc('\n', stdout);
        } else if (rc == 0) {
            fwrite(b.data, 1, b.len, stdout);
        }
        goto out;
    }
    if (it.npositional != 2) {
        cmd_usage_error(cli->cmd, "want a kind (hpa, scaledobject or vpa) and a name, or local");
        rc = EXIT_USAGE;
        goto out;
    }
    const char *kind = it.positional[0], *name = it.positional[1];
    enum kube_kind k;
    if (strcmp(kind, "hpa") == 0 || strcmp(kind, "horizontalpodautoscaler") == 0)
        k = KUBE_KIND_HPA;
    else if (strcmp(kind, "scaledobject") == 0 || strcmp(kind, "so") == 0)
        k = KUBE_KIND_SCALEDOBJECT;
    else if (strcmp(kind, "vpa") == 0 || strcmp(kind, "verticalpodautoscaler") == 0)
        k = KUBE_KIND_VPA;
    else {
        cmd_usage_error(cli->cmd, "\"%s\" is not hpa, scaledobject or vpa", kind);
        rc = EXIT_USAGE;
        goto out;
    }
    kc = scaler_view_connect(&a, &err);
    const char *ns = NULL;
    if (!kc || find_namespace(kc, &a, k, name, &ns, &obj, &err) != 0) {
        cli_error("%s", err.msg);
        rc = cli_exit_for(err.code);
        goto out;
    }
    const char *target = NULL;
    char target_buf[KUBE_NAME_MAX + 64];
    if (k == KUBE_KIND_HPA) {
        struct kube_hpa h;
        kube_hpa_parse(obj, &h, NULL);
        buf_printf(&b, "HPA %s/%s -> %s %s\n", ns, h.meta.name, h.target.kind, h.target.name);
        int ready = ready_of(kc, ns, &h.target);
        explain_hpa_math(&b, &h, ready);
        if (a.out == OUT_JSON)
            j = explain_hpa_json(ns, &h, ready);
        snprintf(target_buf, sizeof(target_buf), " %s %s", h.target.kind, h.target.name);
        target = target_buf;
    } else if (k == KUBE_KIND_SCALEDOBJECT) {
        struct kube_scaledobject so;
        kube_scaledobject_parse(obj, &so, NULL);
        buf_printf(&b, "ScaledObject %s/%s -> %s %s\n", ns, so.meta.name, so.target.kind,
                   so.target.name);
        buf_printf(&b, "  replicas %d..%d, pollingInterval %ds, cooldownPeriod %ds%s\n",
                   so.min_replicas, so.max_replicas, so.polling_s, so.cooldown_s,
                   so.paused ? ", PAUSED" : "");
        char hp[KUBE_NAME_MAX + 64];
        snprintf(hp, sizeof(hp), "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers/%s",
                 ns, so.hpa_name);
        json_t *ho = NULL;
        struct kube_hpa h;
        bool have_hpa = kube_get(kc, hp, &ho, NULL) == 0 && kube_hpa_parse(ho, &h, NULL) == 0;
        json_decref(ho);
        struct scaler_view qv;
        memset(&qv, 0, sizeof(qv));
        scaler_view_read_queue(cli, &a, &qv);
        json_t *jtrig = NULL;
        if (a.out == OUT_JSON) {
            jtrig = json_array();
            j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:i,s:i,s:i,s:i,s:b,s:o}", "kind",
                          "ScaledObject", "namespace", ns, "name", so.meta.name, "target", "kind",
                          so.target.kind, "name", so.target.name, "minReplicas", so.min_replicas,
                          "maxReplicas", so.max_replicas, "pollingInterval", so.polling_s,
                          "cooldownPeriod", so.cooldown_s, "paused", so.paused, "triggers", jtrig);
        }
        for (int i = 0; i < so.ntriggers; i++) {
            const struct kube_trigger *t = &so.triggers[i];
            json_t *jt = NULL;
            if (jtrig) {
                jt = json_pack("{s:s}", "type", t->type);
                if (t->stream[0]) {
                    json_object_set_new(jt, "stream", json_string(t->stream));
                    json_object_set_new(jt, "consumer", json_string(t->consumer));
                }
                json_array_append_new(jtrig, jt);
            }
            buf_printf(&b, "  trigger %s", t->type);
            if (t->stream[0])
                buf_printf(&b, " stream %s consumer %s", t->stream, t->consumer);
            buf_putc(&b, '\n');
            int64_t lag = 0;
            bool known = false;
            if (qv.have_queue && strcmp(t->type, "nats-jetstream") == 0) {
                lag = (int64_t)qv.q.lag;
                known = true;
                buf_printf(&b,
                           "    lag = num_pending + num_ack_pending = %llu + %lld = %lld "
                           "(from %s)\n",
                           (unsigned long long)qv.q.pending, (long long)qv.q.ack_pending,
                           (long long)lag, qv.queue_url);
                if (jt) {
                    json_object_set_new(jt, "lagSource", json_string("queue"));
                    json_object_set_new(jt, "pending", json_integer((json_int_t)qv.q.pending));
                    json_object_set_new(jt, "ackPending", json_integer(qv.q.ack_pending));
                }
            } else if (have_hpa && scaler_view_hpa_lag(&h, &lag)) {
                known = true;
                buf_printf(&b, "    lag = %lld (the HPA's metric x %d replicas; queue: %s)\n",
                           (long long)lag, h.current_replicas,
                           qv.have_queue ? "not a nats-jetstream trigger" : qv.queue_error);
                if (jt)
                    json_object_set_new(jt, "lagSource", json_string("hpa"));
            } else {
                buf_printf(&b, "    lag unknown (queue: %s)\n", qv.queue_error);
            }
            bool from_queue = qv.have_queue && strcmp(t->type, "nats-jetstream") == 0;
            if (jt && !from_queue)
                json_object_set_new(
                    jt, "queueError",
                    json_string(qv.have_queue ? "not a nats-jetstream trigger" : qv.queue_error));
            /* A property of the configuration: true whatever the lag is now. */
            if (t->activation_lag_threshold >= 1)
                buf_printf(&b,
                           "    note: activation needs lag > %lld, so %s never wakes a worker "
                           "scaled to zero; use activationLagThreshold 0\n",
                           (long long)t->activation_lag_threshold,
                           t->activation_lag_threshold == 1 ? "a single message"
                                                            : "a few messages");
            if (!known) {
                if (jt) {
                    /* the thresholds are known without the lag */
                    struct scale_keda_out ko;
                    scale_keda(&so, i, 0, &ko);
                    json_object_set_new(jt, "lagSource", json_null());
                    json_object_set_new(jt, "lag", json_null());
                    json_object_set_new(jt, "lagThreshold", json_integer(ko.threshold));
                    json_object_set_new(jt, "activationLagThreshold", json_integer(ko.activation));
                    json_object_set_new(jt, "active", json_null());
                    json_object_set_new(jt, "wantedReplicas", json_null());
                    json_object_set_new(jt, "desiredReplicas", json_null());
                }
                continue;
            }
            struct scale_keda_out ko;
            scale_keda(&so, i, lag, &ko);
            if (jt) {
                json_object_set_new(jt, "lag", json_integer(ko.lag));
                json_object_set_new(jt, "lagThreshold", json_integer(ko.threshold));
                json_object_set_new(jt, "activationLagThreshold", json_integer(ko.activation));
                json_object_set_new(jt, "active", json_boolean(ko.active));
                json_object_set_new(jt, "wantedReplicas", json_integer(ko.wanted));
                json_object_set_new(jt, "desiredReplicas",
                                    ko.desired >= 0 ? json_integer(ko.desired) : json_null());
                json_object_set_new(jt, "why", json_string(ko.why));
            }
            buf_printf(&b, "    activation: %lld %s activationLagThreshold %lld -> %s\n",
                       (long long)lag, ko.active ? ">" : "<=", (long long)ko.activation,
                       ko.active ? "active" : "not active");
            buf_printf(&b, "    ceil(lag / lagThreshold) = ceil(%lld / %lld) = %d\n",
                       (long long)lag, (long long)ko.threshold, ko.wanted);
            if (ko.desired >= 0)
                buf_printf(&b, "    => %d replicas (%s)\n", ko.desired, ko.why);
            else
                buf_printf(&b, "    => %s\n", ko.why);
        }
        if (so.min_replicas == 0)
            buf_printf(&b,
                       "  cooldown: after %ds without activity KEDA scales %s %s to 0; above "
                       "zero the HPA below decides\n",
                       so.cooldown_s, so.target.kind, so.target.name);
        if (j)
            json_object_set_new(j, "hpa", json_string(so.hpa_name));
        if (have_hpa) {
            buf_printf(&b, "HPA %s/%s (made by KEDA)\n", ns, h.meta.name);
            int ready = ready_of(kc, ns, &h.target);
            explain_hpa_math(&b, &h, ready);
            if (j)
                json_object_set_new(j, "hpaStatus", explain_hpa_json(ns, &h, ready));
        } else {
            if (j)
                json_object_set_new(j, "hpaStatus", json_null());
            buf_printf(&b, "no HPA %s yet: KEDA makes it once the ScaledObject is ready\n",
                       so.hpa_name);
        }
        snprintf(target_buf, sizeof(target_buf), " %s %s", so.target.kind, so.target.name);
        target = target_buf;
    } else {
        struct kube_vpa vp;
        kube_vpa_parse(obj, &vp, NULL);
        buf_printf(&b, "VPA %s/%s -> %s %s; updateMode %s", ns, vp.meta.name, vp.target.kind,
                   vp.target.name, vp.update_mode);
        if (vp.has_min_replicas)
            buf_printf(&b, ", updatePolicy.minReplicas %d", vp.min_replicas);
        buf_putc(&b, '\n');
        char *path =
            xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns,
                      strcmp(vp.target.kind, "StatefulSet") == 0 ? "statefulsets" : "deployments",
                      vp.target.name);
        json_t *wo = NULL;
        struct kube_workload w;
        bool have_w = kube_get(kc, path, &wo, NULL) == 0 && kube_workload_parse(wo, &w, NULL) == 0;
        json_decref(wo);
        free(path);
        if (!have_w)
            buf_printf(&b, "  %s %s not found: no current requests to compare\n", vp.target.kind,
                       vp.target.name);
        if (vp.nrecs == 0)
            buf_printf(&b, "  no recommendation yet (the recommender needs some minutes of "
                           "metrics)\n");
        bool acts = false;
        const char *why_not = NULL;
        json_t *jcs = NULL;
        if (a.out == OUT_JSON) {
            jcs = json_array();
            j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:b,s:o},s:s,s:o,s:o}", "kind",
                          "VerticalPodAutoscaler", "namespace", ns, "name", vp.meta.name, "target",
                          "kind", vp.target.kind, "name", vp.target.name, "found", have_w,
                          "replicas", have_w ? json_integer(w.replicas) : json_null(), "updateMode",
                          vp.update_mode, "minReplicas",
                          vp.has_min_replicas ? json_integer(vp.min_replicas) : json_null(),
                          "containers", jcs);
        }
        for (int i = 0; i < vp.nrecs; i++) {
            const struct kube_vpa_container *r = &vp.recs[i];
            const struct kube_resources *req = have_w ? scaler_view_requests_of(&w, r->name) : NULL;
            struct kube_resources none;
            memset(&none, 0, sizeof(none));
            struct scale_vpa_out o;
            scale_vpa(&vp, r, req ? req : &none, have_w ? w.replicas : 0, &o);
            acts = o.updater_acts;
            why_not = o.why_not;
            if (jcs) {
                json_t *cpu =
                    json_pack("{s:o,s:o,s:o,s:o,s:s}", "requestMillicores",
                              scaler_view_resources_json(req, true), "targetMillicores",
                              scaler_view_resources_json(&r->target, true), "lowerBoundMillicores",
                              scaler_view_resources_json(&r->lower, true), "upperBoundMillicores",
                              scaler_view_resources_json(&r->upper, true), "verdict",
                              vpa_verdict_name(o.cpu));
                json_t *mem = json_pack(
                    "{s:o,s:o,s:o,s:o,s:s}", "requestBytes", scaler_view_resources_json(req, false),
                    "targetBytes", scaler_view_resources_json(&r->target, false), "lowerBoundBytes",
                    scaler_view_resources_json(&r->lower, false), "upperBoundBytes",
                    scaler_view_resources_json(&r->upper, false), "verdict",
                    vpa_verdict_name(o.memory));
                json_array_append_new(
                    jcs, json_pack("{s:s,s:o,s:o}", "name", r->name, "cpu", cpu, "memory", mem));
            }
            char a1[32], a2[32], a3[32], a4[32];
            buf_printf(&b, "  container %s\n", r->name);
            buf_printf(&b, "    cpu     request %-7s target %-7s bounds %s..%s -> %s\n",
                       req ? scaler_view_cpu(&req->cpu, req->has_cpu, a1, 32) : "-",
                       scaler_view_cpu(&r->target.cpu, r->target.has_cpu, a2, 32),
                       scaler_view_cpu(&r->lower.cpu, r->lower.has_cpu, a3, 32),
                       scaler_view_cpu(&r->upper.cpu, r->upper.has_cpu, a4, 32),
                       o.cpu == SCALE_VPA_WITHIN    ? "within bounds: left alone"
                       : o.cpu == SCALE_VPA_OUTSIDE ? "outside bounds: would be updated"
                                                    : "no recommendation");
            buf_printf(&b, "    memory  request %-7s target %-7s bounds %s..%s -> %s\n",
                       req ? scaler_view_mem(&req->memory, req->has_memory, a1, 32) : "-",
                       scaler_view_mem(&r->target.memory, r->target.has_memory, a2, 32),
                       scaler_view_mem(&r->lower.memory, r->lower.has_memory, a3, 32),
                       scaler_view_mem(&r->upper.memory, r->upper.has_memory, a4, 32),
                       o.memory == SCALE_VPA_WITHIN    ? "within bounds: left alone"
                       : o.memory == SCALE_VPA_OUTSIDE ? "outside bounds: would be updated"
                                                       : "no recommendation");
        }
        if (vp.nrecs > 0) {
            if (acts)
                buf_printf(&b, "  the updater can act: updateMode %s with %d live replica%s\n",
                           vp.update_mode, have_w ? w.replicas : 0,
                           have_w && w.replicas == 1 ? "" : "s");
            else
                buf_printf(&b, "  the updater will not act: %s\n", why_not ? why_not : "");
        }
        if (j) {
            json_object_set_new(j, "updaterActs", vp.nrecs > 0 ? json_boolean(acts) : json_null());
            json_object_set_new(
                j, "whyNot", vp.nrecs > 0 && !acts && why_not ? json_string(why_not) : json_null());
        }
        snprintf(target_buf, sizeof(target_buf), " %s %s", vp.target.kind, vp.target.name);
        target = target_buf;
    }
    json_t *conflicts = j ? json_array() : NULL;
    explain_conflicts(&b, conflicts, kc, ns, target);
    if (j) {
        json_object_set_new(j, "conflicts", conflicts);
        json_dumpf(j, stdout,
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) |
                       JSON_ENSURE_ASCII);
        fputc('\n', stdout);
    } else {
        fwrite(b.data, 1, b.len, stdout);
    }
    rc = EXIT_OK;
out:
    buf_release(&b);
    json_decref(j);
    json_decref(obj);
    kube_client_free(kc);
    opt_release(&it);
    return rc;
}
