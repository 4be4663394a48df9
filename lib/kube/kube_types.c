/*
 * Parsers for the typed views in kube_types.h. Every string copied out of
 * an API object is stripped of control sequences here, once, so the views
 * can be printed as they are; quantities are parsed exactly.
 */
#include "kube/kube_types.h"
#include "term/term.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* obj at a dotted path ("status.currentReplicas"), or NULL. */
static json_t *at(json_t *obj, const char *path)
{
    char key[64];
    const char *p = path;
    while (obj && *p) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n >= sizeof(key))
            return NULL;
        memcpy(key, p, n);
        key[n] = 0;
        obj = json_object_get(obj, key);
        p = dot ? dot + 1 : p + n;
    }
    return obj;
}

static void copy(char *dst, size_t dstsz, json_t *s)
{
    dst[0] = 0;
    const char *v = json_string_value(s);
    if (!v)
        return;
    char *clean = term_sanitize_dup(v);
    snprintf(dst, dstsz, "%s", clean);
    free(clean);
}

static int int_at(json_t *obj, const char *path, int dflt)
{
    json_t *v = at(obj, path);
    return json_is_integer(v) ? (int)json_integer_value(v) : dflt;
}

static void quantity(json_t *v, struct kube_quantity *q, bool *has)
{
    bool ok = false;
    if (json_is_string(v))
        ok = kube_quantity_parse(json_string_value(v), q, NULL) == 0;
    else if (json_is_integer(v))
        ok = (q->nano = (__int128)json_integer_value(v) * 1000000000, true);
    if (has)
        *has = ok;
}

static void resources(json_t *obj, struct kube_resources *r)
{
    memset(r, 0, sizeof(*r));
    quantity(json_object_get(obj, "cpu"), &r->cpu, &r->has_cpu);
    quantity(json_object_get(obj, "memory"), &r->memory, &r->has_memory);
}

static void meta(json_t *obj, struct kube_meta *m)
{
    json_t *md = json_object_get(obj, "metadata");
    copy(m->name, sizeof(m->name), json_object_get(md, "name"));
    copy(m->ns, sizeof(m->ns), json_object_get(md, "namespace"));
    copy(m->uid, sizeof(m->uid), json_object_get(md, "uid"));
    copy(m->resource_version, sizeof(m->resource_version), json_object_get(md, "resourceVersion"));
    copy(m->created, sizeof(m->created), json_object_get(md, "creationTimestamp"));
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(md, "ownerReferences"), i, o)
    {
        if (json_is_true(json_object_get(o, "controller")) || i == 0) {
            copy(m->owner_kind, sizeof(m->owner_kind), json_object_get(o, "kind"));
            copy(m->owner_name, sizeof(m->owner_name), json_object_get(o, "name"));
        }
    }
}

static void ref(json_t *obj, struct kube_ref *r, const char *default_kind)
{
    copy(r->api_version, sizeof(r->api_version), json_object_get(obj, "apiVersion"));
    copy(r->kind, sizeof(r->kind), json_object_get(obj, "kind"));
    copy(r->name, sizeof(r->name), json_object_get(obj, "name"));
    if (!r->kind[0] && default_kind)
        snprintf(r->kind, sizeof(r->kind), "%s", default_kind);
}

static int conditions(json_t *arr, struct kube_condition *c, int max)
{
    int n = 0;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (n >= max)
            break;
        copy(c[n].type, sizeof(c[n].type), json_object_get(o, "type"));
        copy(c[n].status, sizeof(c[n].status), json_object_get(o, "status"));
        copy(c[n].reason, sizeof(c[n].reason), json_object_get(o, "reason"));
        copy(c[n].message, sizeof(c[n].message), json_object_get(o, "message"));
        copy(c[n].since, sizeof(c[n].since), json_object_get(o, "lastTransitionTime"));
        n++;
    }
    return n;
}

static int need_object(json_t *obj, const char *kind, struct meme_err *err)
{
    if (!json_is_object(obj) || !json_is_object(json_object_get(obj, "metadata")))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "not a %s object", kind);
    return 0;
}

const struct kube_condition *kube_condition_find(const struct kube_condition *c, int n,
                                                 const char *type)
{
    for (int i = 0; i < n; i++)
        if (strcmp(c[i].type, type) == 0)
            return &c[i];
    return NULL;
}

bool kube_condition_true(const struct kube_condition *c, int n, const char *type)
{
    const struct kube_condition *k = kube_condition_find(c, n, type);
    return k && strcmp(k->status, "True") == 0;
}

bool kube_hpa_external_total(const struct kube_hpa *h, int64_t *total)
{
    if (!h)
        return false;
    for (int i = 0; i < h->nmetrics; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        if (strcmp(m->type, "External") != 0 || !m->has_current)
            continue;
        if (m->target_type != KUBE_TARGET_AVERAGE_VALUE) {
            /* a Value target reports the total itself */
            *total = (int64_t)((m->current.nano + 999999999) / 1000000000);
            return true;
        }
        /* The HPA controller (GetExternalPerPodMetricReplicas) sums the
         * metric in milli-units and reports
         *     average = ceil(total_milli / replicas)
         * with replicas = status.currentReplicas. Any whole total t with
         * ceil(1000 t / replicas) = average lies in
         *     (average - 1) x replicas < 1000 t <= average x replicas,
         * an interval narrower than 1000 while replicas < 1000: there is
         * one such t, floor(average x replicas / 1000). Rounding the
         * product up instead would count the rounding as lag: 5143m x 7 is
         * 36.001, which is 36 messages, not 37. */
        int64_t replicas = h->current_replicas > 0 ? h->current_replicas : 1;
        __int128 avg_milli = (m->current.nano + 999999) / 1000000; /* already whole milli-units */
        __int128 t = avg_milli * replicas / 1000;
        *total = (int64_t)t;
        return true;
    }
    return false;
}

void kube_hpa_default_rules(struct kube_hpa_rules *up, struct kube_hpa_rules *down)
{
    /* k8s.io/api autoscaling/v2 defaults (GenerateHPAScaleUpRules/DownRules) */
    memset(up, 0, sizeof(*up));
    up->window_s = 0;
    up->select = KUBE_SELECT_MAX;
    up->policies[0] = (struct kube_hpa_policy){false, 4, 15};
    up->policies[1] = (struct kube_hpa_policy){true, 100, 15};
    up->npolicies = 2;
    memset(down, 0, sizeof(*down));
    down->window_s = 300;
    down->select = KUBE_SELECT_MAX;
    down->policies[0] = (struct kube_hpa_policy){true, 100, 15};
    down->npolicies = 1;
}

static void rules(json_t *obj, struct kube_hpa_rules *r)
{
    if (!json_is_object(obj))
        return; /* keep the defaults */
    json_t *w = json_object_get(obj, "stabilizationWindowSeconds");
    if (json_is_integer(w))
        r->window_s = (int)json_integer_value(w);
    const char *sel = json_string_value(json_object_get(obj, "selectPolicy"));
    if (sel)
        r->select = strcmp(sel, "Min") == 0        ? KUBE_SELECT_MIN
                    : strcmp(sel, "Disabled") == 0 ? KUBE_SELECT_DISABLED
                                                   : KUBE_SELECT_MAX;
    json_t *pol = json_object_get(obj, "policies");
    if (json_is_array(pol) && json_array_size(pol) > 0) {
        r->npolicies = 0;
        size_t i;
        json_t *p;
        json_array_foreach(pol, i, p)
        {
            if (r->npolicies >= KUBE_MAX_POLICIES)
                break;
            const char *t = json_string_value(json_object_get(p, "type"));
            struct kube_hpa_policy *d = &r->policies[r->npolicies++];
            d->percent = t && strcmp(t, "Percent") == 0;
            d->value = int_at(p, "value", 0);
            d->period_s = int_at(p, "periodSeconds", 15);
        }
    }
}

/* The metric source object and name for a metric spec or status entry. */
static json_t *metric_source(json_t *m, char *type, size_t typesz, char *name, size_t namesz)
{
    copy(type, typesz, json_object_get(m, "type"));
    static const struct {
        const char *type, *key;
    } map[] = {{"Resource", "resource"},
               {"ContainerResource", "containerResource"},
               {"Pods", "pods"},
               {"Object", "object"},
               {"External", "external"}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (strcmp(type, map[i].type) == 0) {
            json_t *src = json_object_get(m, map[i].key);
            json_t *n = json_object_get(src, "name");
            if (!n)
                n = at(src, "metric.name");
            copy(name, namesz, n);
            return src;
        }
    name[0] = 0;
    return NULL;
}

int kube_hpa_parse(json_t *obj, struct kube_hpa *h, struct meme_err *err)
{
    memset(h, 0, sizeof(*h));
    int rc = need_object(obj, "HorizontalPodAutoscaler", err);
    if (rc)
        return rc;
    meta(obj, &h->meta);
    json_t *spec = json_object_get(obj, "spec");
    ref(json_object_get(spec, "scaleTargetRef"), &h->target, NULL);
    h->min_replicas = int_at(spec, "minReplicas", 1);
    h->max_replicas = int_at(spec, "maxReplicas", 0);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(spec, "metrics"), i, m)
    {
        if (h->nmetrics >= KUBE_MAX_METRICS)
            break;
        struct kube_hpa_metric *d = &h->metrics[h->nmetrics++];
        json_t *src = metric_source(m, d->type, sizeof(d->type), d->name, sizeof(d->name));
        json_t *t = json_object_get(src, "target");
        const char *tt = json_string_value(json_object_get(t, "type"));
        if (tt && strcmp(tt, "Utilization") == 0) {
            d->target_type = KUBE_TARGET_UTILIZATION;
            d->target_util = int_at(t, "averageUtilization", 0);
        } else if (tt && strcmp(tt, "Value") == 0) {
            d->target_type = KUBE_TARGET_VALUE;
            quantity(json_object_get(t, "value"), &d->target, NULL);
        } else {
            d->target_type = KUBE_TARGET_AVERAGE_VALUE;
            quantity(json_object_get(t, "averageValue"), &d->target, NULL);
        }
    }
    /* Defaults when spec.metrics is empty: CPU at 80 % (the API's default). */
    if (h->nmetrics == 0 && !json_object_get(spec, "metrics")) {
        struct kube_hpa_metric *d = &h->metrics[h->nmetrics++];
        snprintf(d->type, sizeof(d->type), "Resource");
        snprintf(d->name, sizeof(d->name), "cpu");
        d->target_type = KUBE_TARGET_UTILIZATION;
        d->target_util = 80;
    }
    kube_hpa_default_rules(&h->up, &h->down);
    json_t *beh = json_object_get(spec, "behavior");
    h->has_behavior = json_is_object(beh);
    rules(json_object_get(beh, "scaleUp"), &h->up);
    rules(json_object_get(beh, "scaleDown"), &h->down);

    json_t *st = json_object_get(obj, "status");
    h->current_replicas = int_at(st, "currentReplicas", 0);
    h->desired_replicas = int_at(st, "desiredReplicas", 0);
    copy(h->last_scale, sizeof(h->last_scale), json_object_get(st, "lastScaleTime"));
    json_array_foreach(json_object_get(st, "currentMetrics"), i, m)
    {
        char type[24], name[128];
        json_t *src = metric_source(m, type, sizeof(type), name, sizeof(name));
        for (int k = 0; k < h->nmetrics; k++) {
            struct kube_hpa_metric *d = &h->metrics[k];
            if (d->has_current || strcmp(d->type, type) != 0 || strcmp(d->name, name) != 0)
                continue;
            json_t *cur = json_object_get(src, "current");
            json_t *u = json_object_get(cur, "averageUtilization");
            if (json_is_integer(u)) {
                d->has_current_util = true;
                d->current_util = (int)json_integer_value(u);
            }
            bool has = false;
            quantity(json_object_get(cur, d->target_type == KUBE_TARGET_VALUE ? "value"
                                                                              : "averageValue"),
                     &d->current, &has);
            d->has_current = has || d->has_current_util;
            break;
        }
    }
    h->nconditions =
        conditions(json_object_get(st, "conditions"), h->conditions, KUBE_MAX_CONDITIONS);
    json_t *lbl = at(obj, "metadata.labels");
    copy(h->keda_owner, sizeof(h->keda_owner), json_object_get(lbl, "scaledobject.keda.sh/name"));
    if (!h->keda_owner[0] && strcmp(h->meta.owner_kind, "ScaledObject") == 0)
        snprintf(h->keda_owner, sizeof(h->keda_owner), "%s", h->meta.owner_name);
    return 0;
}

/* A trigger metadata value as an integer ("5", 5); dflt when absent or bad. */
static int64_t meta_int(json_t *md, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(md, key);
    if (json_is_integer(v))
        return json_integer_value(v);
    struct kube_quantity q;
    if (json_is_string(v) && kube_quantity_parse(json_string_value(v), &q, NULL) == 0)
        return kube_quantity_value(&q);
    return dflt;
}

int kube_scaledobject_parse(json_t *obj, struct kube_scaledobject *s, struct meme_err *err)
{
    memset(s, 0, sizeof(*s));
    int rc = need_object(obj, "ScaledObject", err);
    if (rc)
        return rc;
    meta(obj, &s->meta);
    json_t *spec = json_object_get(obj, "spec");
    ref(json_object_get(spec, "scaleTargetRef"), &s->target, "Deployment");
    s->min_replicas = int_at(spec, "minReplicaCount", 0);
    s->max_replicas = int_at(spec, "maxReplicaCount", 100);
    s->polling_s = int_at(spec, "pollingInterval", 30);
    s->cooldown_s = int_at(spec, "cooldownPeriod", 300);
    json_t *idle = json_object_get(spec, "idleReplicaCount");
    s->has_idle = json_is_integer(idle);
    s->idle_replicas = (int)json_integer_value(idle);
    json_t *fb = json_object_get(spec, "fallback");
    s->has_fallback = json_is_object(fb);
    s->fallback_failures = int_at(fb, "failureThreshold", 0);
    s->fallback_replicas = int_at(fb, "replicas", 0);
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(spec, "triggers"), i, t)
    {
        if (s->ntriggers >= KUBE_MAX_TRIGGERS)
            break;
        struct kube_trigger *d = &s->triggers[s->ntriggers++];
        json_t *md = json_object_get(t, "metadata");
        copy(d->type, sizeof(d->type), json_object_get(t, "type"));
        copy(d->name, sizeof(d->name), json_object_get(t, "name"));
        copy(d->stream, sizeof(d->stream), json_object_get(md, "stream"));
        copy(d->consumer, sizeof(d->consumer), json_object_get(md, "consumer"));
        copy(d->account, sizeof(d->account), json_object_get(md, "account"));
        copy(d->endpoint, sizeof(d->endpoint), json_object_get(md, "natsServerMonitoringEndpoint"));
        d->lag_threshold = meta_int(md, "lagThreshold", 10);
        d->activation_lag_threshold = meta_int(md, "activationLagThreshold", 0);
    }
    kube_hpa_default_rules(&s->up, &s->down);
    json_t *beh = at(spec, "advanced.horizontalPodAutoscalerConfig.behavior");
    s->has_behavior = json_is_object(beh);
    rules(json_object_get(beh, "scaleUp"), &s->up);
    rules(json_object_get(beh, "scaleDown"), &s->down);
    json_t *st = json_object_get(obj, "status");
    copy(s->hpa_name, sizeof(s->hpa_name), json_object_get(st, "hpaName"));
    if (!s->hpa_name[0])
        snprintf(s->hpa_name, sizeof(s->hpa_name), "keda-hpa-%.200s", s->meta.name);
    copy(s->last_active, sizeof(s->last_active), json_object_get(st, "lastActiveTime"));
    s->nconditions =
        conditions(json_object_get(st, "conditions"), s->conditions, KUBE_MAX_CONDITIONS);
    json_t *ann = at(obj, "metadata.annotations");
    const char *pr = json_string_value(json_object_get(ann, "autoscaling.keda.sh/paused-replicas"));
    const char *p = json_string_value(json_object_get(ann, "autoscaling.keda.sh/paused"));
    if (pr) {
        s->paused = s->has_paused_replicas = true;
        s->paused_replicas = atoi(pr);
    }
    if (p && strcmp(p, "true") == 0)
        s->paused = true;
    if (kube_condition_true(s->conditions, s->nconditions, "Paused"))
        s->paused = true;
    return 0;
}

static void controlled(json_t *arr, bool *cpu, bool *mem)
{
    if (!json_is_array(arr)) {
        *cpu = *mem = true; /* the default: both */
        return;
    }
    *cpu = *mem = false;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        const char *s = json_string_value(v);
        if (s && strcmp(s, "cpu") == 0)
            *cpu = true;
        if (s && strcmp(s, "memory") == 0)
            *mem = true;
    }
}

int kube_vpa_parse(json_t *obj, struct kube_vpa *v, struct meme_err *err)
{
    memset(v, 0, sizeof(*v));
    int rc = need_object(obj, "VerticalPodAutoscaler", err);
    if (rc)
        return rc;
    meta(obj, &v->meta);
    json_t *spec = json_object_get(obj, "spec");
    ref(json_object_get(spec, "targetRef"), &v->target, NULL);
    json_t *up = json_object_get(spec, "updatePolicy");
    copy(v->update_mode, sizeof(v->update_mode), json_object_get(up, "updateMode"));
    if (!v->update_mode[0])
        snprintf(v->update_mode, sizeof(v->update_mode), "Auto");
    json_t *mr = json_object_get(up, "minReplicas");
    v->has_min_replicas = json_is_integer(mr);
    v->min_replicas = (int)json_integer_value(mr);
    size_t i;
    json_t *c;
    json_array_foreach(at(obj, "status.recommendation.containerRecommendations"), i, c)
    {
        if (v->nrecs >= KUBE_MAX_CONTAINERS)
            break;
        struct kube_vpa_container *d = &v->recs[v->nrecs++];
        copy(d->name, sizeof(d->name), json_object_get(c, "containerName"));
        resources(json_object_get(c, "target"), &d->target);
        resources(json_object_get(c, "lowerBound"), &d->lower);
        resources(json_object_get(c, "upperBound"), &d->upper);
        resources(json_object_get(c, "uncappedTarget"), &d->uncapped);
    }
    json_array_foreach(at(spec, "resourcePolicy.containerPolicies"), i, c)
    {
        if (v->npolicies >= KUBE_MAX_CONTAINERS)
            break;
        struct kube_vpa_policy *d = &v->policies[v->npolicies++];
        copy(d->container, sizeof(d->container), json_object_get(c, "containerName"));
        copy(d->mode, sizeof(d->mode), json_object_get(c, "mode"));
        if (!d->mode[0])
            snprintf(d->mode, sizeof(d->mode), "Auto");
        resources(json_object_get(c, "minAllowed"), &d->min_allowed);
        resources(json_object_get(c, "maxAllowed"), &d->max_allowed);
        controlled(json_object_get(c, "controlledResources"), &d->controls_cpu,
                   &d->controls_memory);
    }
    v->nconditions = conditions(at(obj, "status.conditions"), v->conditions, KUBE_MAX_CONDITIONS);
    return 0;
}

static int containers(json_t *arr, struct kube_container *c, int max)
{
    int n = 0;
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        if (n >= max)
            break;
        copy(c[n].name, sizeof(c[n].name), json_object_get(o, "name"));
        resources(at(o, "resources.requests"), &c[n].requests);
        resources(at(o, "resources.limits"), &c[n].limits);
        n++;
    }
    return n;
}

int kube_workload_parse(json_t *obj, struct kube_workload *w, struct meme_err *err)
{
    memset(w, 0, sizeof(*w));
    int rc = need_object(obj, "Deployment", err);
    if (rc)
        return rc;
    meta(obj, &w->meta);
    copy(w->kind, sizeof(w->kind), json_object_get(obj, "kind"));
    json_t *spec = json_object_get(obj, "spec");
    w->spec_replicas = int_at(spec, "replicas", 1);
    json_t *st = json_object_get(obj, "status");
    w->replicas = int_at(st, "replicas", 0);
    w->ready = int_at(st, "readyReplicas", 0);
    w->available = int_at(st, "availableReplicas", 0);
    w->updated = int_at(st, "updatedReplicas", 0);
    const char *k;
    json_t *v;
    size_t off = 0;
    json_object_foreach(at(spec, "selector.matchLabels"), k, v)
    {
        const char *s = json_string_value(v);
        if (!s)
            continue;
        int n =
            snprintf(w->selector + off, sizeof(w->selector) - off, "%s%s=%s", off ? "," : "", k, s);
        if (n < 0 || (size_t)n >= sizeof(w->selector) - off) {
            w->selector[off] = 0;
            break;
        }
        off += (size_t)n;
    }
    w->ncontainers =
        containers(at(spec, "template.spec.containers"), w->containers, KUBE_MAX_CONTAINERS);
    return 0;
}

int kube_pod_parse(json_t *obj, struct kube_pod *p, struct meme_err *err)
{
    memset(p, 0, sizeof(*p));
    int rc = need_object(obj, "Pod", err);
    if (rc)
        return rc;
    meta(obj, &p->meta);
    copy(p->phase, sizeof(p->phase), at(obj, "status.phase"));
    copy(p->node, sizeof(p->node), at(obj, "spec.nodeName"));
    size_t i;
    json_t *o;
    json_array_foreach(at(obj, "status.conditions"), i, o)
    {
        const char *t = json_string_value(json_object_get(o, "type"));
        const char *s = json_string_value(json_object_get(o, "status"));
        if (t && s && strcmp(t, "Ready") == 0)
            p->ready = strcmp(s, "True") == 0;
    }
    json_array_foreach(at(obj, "status.containerStatuses"), i, o)
    {
        p->restarts += int_at(o, "restartCount", 0);
    }
    p->ncontainers = containers(at(obj, "spec.containers"), p->containers, KUBE_MAX_CONTAINERS);
    return 0;
}

int kube_pod_metrics_parse(json_t *obj, struct kube_pod_metrics *m, struct meme_err *err)
{
    memset(m, 0, sizeof(*m));
    int rc = need_object(obj, "PodMetrics", err);
    if (rc)
        return rc;
    meta(obj, &m->meta);
    copy(m->window, sizeof(m->window), json_object_get(obj, "window"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(obj, "containers"), i, c)
    {
        struct kube_resources r;
        resources(json_object_get(c, "usage"), &r);
        if (r.has_cpu) {
            m->usage.has_cpu = true;
            m->usage.cpu.nano += r.cpu.nano;
        }
        if (r.has_memory) {
            m->usage.has_memory = true;
            m->usage.memory.nano += r.memory.nano;
        }
    }
    return 0;
}
