/*
 * The autoscalers' arithmetic (see scale.h). The HPA part follows the
 * Kubernetes HPA controller (pkg/controller/podautoscaler): replica
 * calculation per metric with the tolerance, the max over metrics, then
 * either the behavior rules (stabilization windows, then the scale-up and
 * scale-down policies, then min/max) or, without spec.behavior, the legacy
 * rules (a 300 s scale-down window and a scale-up limit of max(2x, 4)).
 * float64 arithmetic matches the controller's, rounding included.
 */
#include "kube/scale.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int imin(int a, int b)
{
    return a < b ? a : b;
}

static int imax(int a, int b)
{
    return a > b ? a : b;
}

void scale_hpa_input(const struct kube_hpa *h, int ready, struct scale_hpa_in *in)
{
    memset(in, 0, sizeof(*in));
    in->current = h->current_replicas;
    in->ready = ready;
    in->min = h->min_replicas;
    in->max = h->max_replicas;
    in->has_behavior = h->has_behavior;
    in->up = h->up;
    in->down = h->down;
    for (int i = 0; i < h->nmetrics && i < KUBE_MAX_METRICS; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        struct scale_metric_in *d = &in->metrics[in->nmetrics++];
        snprintf(d->label, sizeof(d->label), "%s", m->name);
        d->type = m->target_type;
        d->external =
            strcmp(m->type, "External") == 0 && m->target_type == KUBE_TARGET_AVERAGE_VALUE;
        if (m->target_type == KUBE_TARGET_UTILIZATION) {
            d->target = m->target_util;
            d->current = m->current_util;
            d->missing = !m->has_current_util;
        } else {
            d->target = kube_quantity_double(&m->target);
            d->current = kube_quantity_double(&m->current);
            d->missing = !m->has_current;
        }
    }
}

/* Replicas added (up) or removed (down) within the last period_s. */
static int changes_in_period(const struct scale_hpa_in *in, int period_s, bool up)
{
    int n = 0;
    for (int i = 0; i < in->nevents; i++) {
        const struct scale_event *e = &in->events[i];
        if (e->age_s < period_s && ((up && e->change > 0) || (!up && e->change < 0)))
            n += up ? e->change : -e->change;
    }
    return n;
}

static int up_limit(const struct scale_hpa_in *in)
{
    const struct kube_hpa_rules *r = &in->up;
    if (r->select == KUBE_SELECT_DISABLED)
        return in->current;
    bool min_sel = r->select == KUBE_SELECT_MIN;
    int result = min_sel ? INT32_MAX : INT32_MIN;
    for (int i = 0; i < r->npolicies; i++) {
        const struct kube_hpa_policy *p = &r->policies[i];
        int start = in->current - changes_in_period(in, p->period_s, true) +
                    changes_in_period(in, p->period_s, false);
        int proposed =
            p->percent ? (int)ceil((double)start * (1 + (double)p->value / 100)) : start + p->value;
        result = min_sel ? imin(result, proposed) : imax(result, proposed);
    }
    return result;
}

static int down_limit(const struct scale_hpa_in *in)
{
    const struct kube_hpa_rules *r = &in->down;
    if (r->select == KUBE_SELECT_DISABLED)
        return in->current;
    bool min_sel = r->select == KUBE_SELECT_MIN;
    int result = min_sel ? INT32_MIN : INT32_MAX;
    for (int i = 0; i < r->npolicies; i++) {
        const struct kube_hpa_policy *p = &r->policies[i];
        int start = in->current - changes_in_period(in, p->period_s, true) +
                    changes_in_period(in, p->period_s, false);
        int proposed =
            p->percent ? (int)((double)start * (1 - (double)p->value / 100)) : start - p->value;
        result = min_sel ? imax(result, proposed) : imin(result, proposed);
    }
    return result;
}

static void with_behavior(const struct scale_hpa_in *in, struct scale_hpa_out *out)
{
    int desired = out->from_metrics;
    int up_rec = desired, down_rec = desired;
    for (int i = 0; i < in->nrecs; i++) {
        if (in->recs[i].age_s < in->up.window_s)
            up_rec = imin(up_rec, in->recs[i].replicas);
        if (in->recs[i].age_s < in->down.window_s)
            down_rec = imax(down_rec, in->recs[i].replicas);
    }
    int rec = in->current;
    if (rec < up_rec)
        rec = up_rec;
    if (rec > down_rec)
        rec = down_rec;
    out->stabilized = rec;
    if (rec < desired && rec <= imax(up_rec, in->current)) {
        out->held_up = true;
        out->window_s = in->up.window_s;
    } else if (rec > desired) {
        out->held_down = true;
        out->window_s = in->down.window_s;
    }
    out->reason = "DesiredWithinRange";
    out->message = "the desired count is within the acceptable range";
    out->desired = rec;
    if (rec > in->current) {
        int lim = up_limit(in);
        if (lim < in->current)
            lim = in->current;
        out->up_limit = lim;
        int allowed = in->max;
        if (allowed > lim) {
            allowed = lim;
            out->reason = "ScaleUpLimit";
            out->message = "the desired replica count is increasing faster than the maximum "
                           "scale rate";
        } else {
            out->reason = "TooManyReplicas";
            out->message = "the desired replica count is more than the maximum replica count";
        }
        if (rec > allowed)
            out->desired = allowed;
        else {
            out->reason = "DesiredWithinRange";
            out->message = "the desired count is within the acceptable range";
        }
    } else if (rec < in->current) {
        int lim = down_limit(in);
        if (lim > in->current)
            lim = in->current;
        out->down_limit = lim;
        int allowed = in->min;
        if (allowed < lim) {
            allowed = lim;
            out->reason = "ScaleDownLimit";
            out->message = "the desired replica count is decreasing faster than the maximum "
                           "scale rate";
        } else {
            out->reason = "TooFewReplicas";
            out->message = "the desired replica count is less than the minimum replica count";
        }
        if (rec < allowed)
            out->desired = allowed;
        else {
            out->reason = "DesiredWithinRange";
            out->message = "the desired count is within the acceptable range";
        }
    }
}

static void legacy(const struct scale_hpa_in *in, struct scale_hpa_out *out)
{
    int rec = out->from_metrics;
    for (int i = 0; i < in->nrecs; i++)
        if (in->recs[i].age_s < SCALE_LEGACY_DOWN_WINDOW_S)
            rec = imax(rec, in->recs[i].replicas);
    out->stabilized = rec;
    if (rec > out->from_metrics) {
        out->held_down = true;
        out->window_s = SCALE_LEGACY_DOWN_WINDOW_S;
    }
    int lim = imax(2 * in->current, 4);
    out->up_limit = lim;
    int allowed;
    const char *reason, *message;
    if (in->max > lim) {
        allowed = lim;
        reason = "ScaleUpLimit";
        message = "the desired replica count is increasing faster than the maximum scale rate";
    } else {
        allowed = in->max;
        reason = "TooManyReplicas";
        message = "the desired replica count is more than the maximum replica count";
    }
    if (rec < in->min) {
        out->desired = in->min;
        out->reason = "TooFewReplicas";
        out->message = "the desired replica count is less than the minimum replica count";
    } else if (rec > allowed) {
        out->desired = allowed;
        out->reason = reason;
        out->message = message;
    } else {
        out->desired = rec;
        out->reason = "DesiredWithinRange";
        out->message = "the desired count is within the acceptable range";
    }
}

void scale_hpa(const struct scale_hpa_in *in, struct scale_hpa_out *out)
{
    memset(out, 0, sizeof(*out));
    out->chosen_metric = -1;
    double tol = in->tolerance > 0 ? in->tolerance : SCALE_TOLERANCE;
    if (in->current == 0 && in->min != 0) {
        out->desired = 0;
        out->reason = "ScalingDisabled";
        out->message = "scaling is disabled since the replica count of the target is zero";
        return;
    }
    if (in->current > in->max) {
        out->desired = out->from_metrics = out->stabilized = in->max;
        out->reason = "TooManyReplicas";
        out->message = "the current replica count is above maxReplicas";
        return;
    }
    if (in->current < in->min) {
        out->desired = out->from_metrics = out->stabilized = in->min;
        out->reason = "TooFewReplicas";
        out->message = "the current replica count is below minReplicas";
        return;
    }
    int best = 0;
    for (int i = 0; i < in->nmetrics; i++) {
        const struct scale_metric_in *m = &in->metrics[i];
        struct scale_metric_out *o = &out->metrics[i];
        o->proposal = -1;
        if (m->missing || m->target <= 0)
            continue;
        o->ratio = m->current / m->target;
        if (m->external && m->total > 0 && in->current > 0)
            o->ratio = m->total / (m->target * (double)in->current);
        int pods = in->ready > 0 && !m->external ? in->ready : in->current;
        if (fabs(1.0 - o->ratio) <= tol) {
            o->within_tolerance = true;
            o->proposal = in->current;
        } else if (m->external && m->total > 0) {
            /* the controller: ceil(usage / targetAverageValue), in whole milli-units */
            o->proposal = (int)ceil(m->total / m->target);
        } else if (m->external) {
            o->proposal = (int)ceil(o->ratio * (double)in->current);
        } else {
            o->proposal = (int)ceil(o->ratio * (double)pods);
        }
        if (o->proposal > best || out->chosen_metric < 0) {
            if (o->proposal > best)
                best = o->proposal;
            out->chosen_metric = i;
        }
    }
    if (out->chosen_metric < 0) {
        /* no metric could be computed: the controller leaves the scale alone */
        out->desired = out->from_metrics = out->stabilized = in->current;
        out->reason = "FailedGetMetrics";
        out->message = "no metric has a current value; the controller does not scale";
        return;
    }
    out->from_metrics = best;
    if (in->has_behavior)
        with_behavior(in, out);
    else
        legacy(in, out);
}

void scale_keda(const struct kube_scaledobject *so, int trigger, int64_t lag,
                struct scale_keda_out *out)
{
    memset(out, 0, sizeof(*out));
    const struct kube_trigger *t = &so->triggers[trigger];
    out->lag = lag;
    out->threshold = t->lag_threshold > 0 ? t->lag_threshold : 10;
    out->activation = t->activation_lag_threshold;
    out->active = lag > out->activation;
    out->wanted = (int)((lag + out->threshold - 1) / out->threshold);
    int floor_ = so->min_replicas > 1 ? so->min_replicas : 1;
    if (so->paused && so->has_paused_replicas) {
        out->desired = so->paused_replicas;
        out->why = "paused at a fixed replica count";
    } else if (so->paused) {
        out->desired = -1;
        out->why = "paused: KEDA leaves the replica count as it is";
    } else if (out->active) {
        out->desired = out->wanted < floor_ ? floor_ : out->wanted;
        if (out->desired > so->max_replicas)
            out->desired = so->max_replicas;
        out->why = out->wanted > so->max_replicas ? "active; held at maxReplicaCount"
                   : out->wanted < floor_         ? "active; raised to the HPA's minimum"
                                                  : "active; replicas = ceil(lag / lagThreshold)";
    } else {
        out->desired = so->has_idle ? so->idle_replicas : so->min_replicas;
        out->why = "not active: scaled to minReplicaCount once cooldownPeriod has passed since "
                   "the last activity";
    }
}

static bool below(const struct kube_quantity *a, const struct kube_quantity *b)
{
    return kube_quantity_cmp(a, b) < 0;
}

static enum scale_vpa_verdict verdict(bool has_rec, const struct kube_quantity *lower,
                                      const struct kube_quantity *upper, bool has_req,
                                      const struct kube_quantity *req)
{
    if (!has_rec)
        return SCALE_VPA_NO_RECOMMENDATION;
    if (!has_req || below(req, lower) || below(upper, req))
        return SCALE_VPA_OUTSIDE;
    return SCALE_VPA_WITHIN;
}

void scale_vpa(const struct kube_vpa *v, const struct kube_vpa_container *rec,
               const struct kube_resources *req, int replicas, struct scale_vpa_out *out)
{
    memset(out, 0, sizeof(*out));
    out->cpu =
        verdict(rec && rec->lower.has_cpu && rec->upper.has_cpu, rec ? &rec->lower.cpu : NULL,
                rec ? &rec->upper.cpu : NULL, req->has_cpu, &req->cpu);
    out->memory = verdict(rec && rec->lower.has_memory && rec->upper.has_memory,
                          rec ? &rec->lower.memory : NULL, rec ? &rec->upper.memory : NULL,
                          req->has_memory, &req->memory);
    const char *m = v->update_mode;
    int need = v->has_min_replicas ? v->min_replicas : 2;
    if (strcmp(m, "Off") == 0) {
        out->why_not = "updateMode Off: recommendations only";
    } else if (strcmp(m, "Initial") == 0) {
        out->why_not = "updateMode Initial: requests are set only when a pod is created";
    } else if (replicas < need) {
        out->why_not = v->has_min_replicas ? "fewer live replicas than updatePolicy.minReplicas"
                                           : "fewer than 2 live replicas and no "
                                             "updatePolicy.minReplicas: the updater will not "
                                             "evict the only pod";
    } else {
        out->updater_acts = true;
    }
}

static bool same_target(const char *ns1, const struct kube_ref *a, const char *ns2,
                        const struct kube_ref *b)
{
    const char *ka = a->kind[0] ? a->kind : "Deployment";
    const char *kb = b->kind[0] ? b->kind : "Deployment";
    return strcmp(ns1, ns2) == 0 && strcmp(ka, kb) == 0 && strcmp(a->name, b->name) == 0;
}

static bool vpa_evicts(const struct kube_vpa *v, bool *cpu, bool *mem)
{
    const char *m = v->update_mode;
    if (strcmp(m, "Auto") != 0 && strcmp(m, "Recreate") != 0 && strcmp(m, "InPlaceOrRecreate") != 0)
        return false;
    *cpu = *mem = true;
    for (int i = 0; i < v->npolicies; i++)
        if (strcmp(v->policies[i].container, "*") == 0) {
            *cpu = v->policies[i].controls_cpu && strcmp(v->policies[i].mode, "Off") != 0;
            *mem = v->policies[i].controls_memory && strcmp(v->policies[i].mode, "Off") != 0;
        }
    return *cpu || *mem;
}

static void add_line(char *out, size_t outsz, size_t *off, const char *line)
{
    if (*off >= outsz)
        return;
    int n = snprintf(out + *off, outsz - *off, "%s\n", line);
    if (n > 0)
        *off += (size_t)n < outsz - *off ? (size_t)n : outsz - *off - 1;
}

int scale_conflicts(const struct scale_set *s, char *out, size_t outsz)
{
    int n = 0;
    size_t off = 0;
    char line[1024];
    if (outsz)
        out[0] = 0;
    for (int i = 0; i < s->nhpas; i++) {
        const struct kube_hpa *h = &s->hpas[i];
        for (int j = 0; j < s->nsos; j++) {
            const struct kube_scaledobject *so = &s->sos[j];
            if (strcmp(h->keda_owner, so->meta.name) == 0 && strcmp(h->meta.ns, so->meta.ns) == 0)
                continue; /* the HPA KEDA made for it */
            if (!same_target(h->meta.ns, &h->target, so->meta.ns, &so->target))
                continue;
            snprintf(line, sizeof(line),
                     "HPA %s/%s and ScaledObject %s/%s both scale %s %s: they will fight over "
                     "its replica count",
                     h->meta.ns, h->meta.name, so->meta.ns, so->meta.name,
                     h->target.kind[0] ? h->target.kind : "Deployment", h->target.name);
            add_line(out, outsz, &off, line);
            n++;
        }
        for (int j = i + 1; j < s->nhpas; j++) {
            const struct kube_hpa *g = &s->hpas[j];
            if (!same_target(h->meta.ns, &h->target, g->meta.ns, &g->target))
                continue;
            snprintf(line, sizeof(line), "HPAs %s/%s and %s/%s both scale %s %s", h->meta.ns,
                     h->meta.name, g->meta.ns, g->meta.name, h->target.kind, h->target.name);
            add_line(out, outsz, &off, line);
            n++;
        }
        for (int j = 0; j < s->nvpas; j++) {
            const struct kube_vpa *v = &s->vpas[j];
            bool cpu, mem;
            if (!same_target(h->meta.ns, &h->target, v->meta.ns, &v->target) ||
                !vpa_evicts(v, &cpu, &mem))
                continue;
            for (int k = 0; k < h->nmetrics; k++) {
                const struct kube_hpa_metric *m = &h->metrics[k];
                bool res =
                    strcmp(m->type, "Resource") == 0 || strcmp(m->type, "ContainerResource") == 0;
                if (!res || !((cpu && strcmp(m->name, "cpu") == 0) ||
                              (mem && strcmp(m->name, "memory") == 0)))
                    continue;
                snprintf(line, sizeof(line),
                         "VPA %s/%s (updateMode %s) resizes %s on %s %s while HPA %s/%s scales "
                         "it on %s: each undoes the other",
                         v->meta.ns, v->meta.name, v->update_mode, m->name, v->target.kind,
                         v->target.name, h->meta.ns, h->meta.name, m->name);
                add_line(out, outsz, &off, line);
                n++;
            }
        }
    }
    for (int i = 0; i < s->nsos; i++)
        for (int j = i + 1; j < s->nsos; j++) {
            const struct kube_scaledobject *a = &s->sos[i], *b = &s->sos[j];
            if (!same_target(a->meta.ns, &a->target, b->meta.ns, &b->target))
                continue;
            snprintf(line, sizeof(line), "ScaledObjects %s/%s and %s/%s both scale %s %s",
                     a->meta.ns, a->meta.name, b->meta.ns, b->meta.name, a->target.kind,
                     a->target.name);
            add_line(out, outsz, &off, line);
            n++;
        }
    return n;
}
