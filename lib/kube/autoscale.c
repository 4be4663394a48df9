/*
 * KEDA and the HPA over time (see autoscale.h). KEDA's part follows its
 * scale executor: an active trigger (lag strictly above
 * activationLagThreshold) scales a workload at zero to max(minReplicaCount,
 * 1); an inactive one scales it back to zero (or idleReplicaCount) once
 * lastActiveTime + cooldownPeriod has passed; in between the HPA KEDA made
 * decides. KEDA compares lastActiveTime + cooldownPeriod with time.Now() at a
 * poll; on a real clock the poll cooldownPeriod after the last active one is
 * always past it (by what the polls take), so at exact simulated times the
 * equal case counts as passed, as it does in a cluster. The HPA's part is the controller's memory around scale_hpa():
 * the first pass records the current count as a recommendation, each pass
 * stores its unstabilized recommendation and, when the count changes, a
 * scale event; windows and policy periods read them back by age.
 */
#include "kube/autoscale.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static int imax(int a, int b)
{
    return a > b ? a : b;
}

int autoscale_config_keda(struct autoscale_config *c, const struct kube_scaledobject *so)
{
    memset(c, 0, sizeof(*c));
    if (so->ntriggers < 1)
        return -1;
    c->kind = AUTOSCALE_KEDA;
    c->so = *so;
    c->trigger = 0;
    for (int i = 0; i < so->ntriggers; i++)
        if (strcmp(so->triggers[i].type, "nats-jetstream") == 0) {
            c->trigger = i;
            break;
        }
    struct kube_hpa *h = &c->hpa;
    snprintf(h->meta.ns, sizeof(h->meta.ns), "%s", so->meta.ns);
    snprintf(h->meta.name, sizeof(h->meta.name), "%s", so->hpa_name);
    h->target = so->target;
    h->min_replicas = so->min_replicas > 1 ? so->min_replicas : 1;
    h->max_replicas = so->max_replicas;
    h->nmetrics = 1;
    struct kube_hpa_metric *m = &h->metrics[0];
    snprintf(m->type, sizeof(m->type), "External");
    snprintf(m->name, sizeof(m->name), "lag");
    m->target_type = KUBE_TARGET_AVERAGE_VALUE;
    if (so->has_behavior) {
        h->up = so->up;
        h->down = so->down;
    } else {
        kube_hpa_default_rules(&h->up, &h->down);
    }
    h->has_behavior = true;
    c->period_s = so->polling_s > 0 ? so->polling_s : 30;
    return 0;
}

void autoscale_config_hpa(struct autoscale_config *c, const struct kube_hpa *h)
{
    memset(c, 0, sizeof(*c));
    c->kind = AUTOSCALE_HPA;
    c->hpa = *h;
    c->period_s = AUTOSCALE_HPA_SYNC_S;
}

void autoscale_state_init(struct autoscale_state *s, int replicas)
{
    memset(s, 0, sizeof(*s));
    s->replicas = replicas;
}

static int age_of(double now, double t)
{
    double a = now - t;
    return a <= 0 ? 0 : (int)lround(a);
}

static int longest_period(const struct kube_hpa *h)
{
    int p = 0;
    for (int i = 0; i < h->up.npolicies; i++)
        p = imax(p, h->up.policies[i].period_s);
    for (int i = 0; i < h->down.npolicies; i++)
        p = imax(p, h->down.policies[i].period_s);
    return p;
}

static void push_rec(struct autoscale_state *s, double t, int replicas)
{
    if (s->nrecs == AUTOSCALE_MAX_RECS) {
        memmove(s->recs, s->recs + 1, (AUTOSCALE_MAX_RECS - 1) * sizeof(s->recs[0]));
        s->nrecs--;
    }
    s->recs[s->nrecs++] = (struct autoscale_rec){t, replicas};
}

static void push_event(struct autoscale_state *s, double t, int change)
{
    if (s->nevents == AUTOSCALE_MAX_EVENTS) {
        memmove(s->events, s->events + 1, (AUTOSCALE_MAX_EVENTS - 1) * sizeof(s->events[0]));
        s->nevents--;
    }
    s->events[s->nevents++] = (struct autoscale_event){t, change};
}

/* Forgets what no window or period can see any more. */
static void prune(const struct kube_hpa *h, struct autoscale_state *s, double now)
{
    int win = imax(h->up.window_s, h->down.window_s);
    int n = 0;
    for (int i = 0; i < s->nrecs; i++)
        if (age_of(now, s->recs[i].t) < win)
            s->recs[n++] = s->recs[i];
    s->nrecs = n;
    int per = longest_period(h);
    n = 0;
    for (int i = 0; i < s->nevents; i++)
        if (age_of(now, s->events[i].t) < per)
            s->events[n++] = s->events[i];
    s->nevents = n;
}

/* When the count can next move, from the HPA's memory after a pass. */
static void hpa_next(const struct autoscale_config *c, const struct autoscale_state *s, double now,
                     struct autoscale_decision *d)
{
    const struct scale_hpa_out *o = &d->hpa;
    const struct kube_hpa *h = &c->hpa;
    d->next_t = now + c->period_s;
    d->next_replicas = -1;
    snprintf(d->next_why, sizeof(d->next_why), "the next pass, in %ds", c->period_s);
    if (o->held_down && s->nrecs > 0) {
        /* The window holds the highest recent recommendation: it lets go
         * when the newest of those is window_s old. */
        int top = 0;
        for (int i = 0; i < s->nrecs; i++)
            top = imax(top, s->recs[i].replicas);
        double last = now;
        for (int i = 0; i < s->nrecs; i++)
            if (s->recs[i].replicas == top)
                last = s->recs[i].t;
        double at = last + o->window_s;
        int then = o->from_metrics;
        for (int i = 0; i < s->nrecs; i++)
            if (s->recs[i].replicas < top && s->recs[i].t + o->window_s > at)
                then = imax(then, s->recs[i].replicas);
        if (then < h->min_replicas)
            then = h->min_replicas;
        d->next_t = at;
        d->next_replicas = then;
        snprintf(d->next_why, sizeof(d->next_why),
                 "down to %d when the recommendation of %d leaves the %ds scale-down "
                 "stabilization window",
                 then, top, o->window_s);
    } else if (strcmp(o->reason, "ScaleUpLimit") == 0 || strcmp(o->reason, "ScaleDownLimit") == 0) {
        bool up = o->reason[5] == 'U';
        const struct kube_hpa_rules *r = up ? &h->up : &h->down;
        double at = -1;
        for (int i = 0; i < s->nevents; i++) {
            const struct autoscale_event *e = &s->events[i];
            if ((up && e->change <= 0) || (!up && e->change >= 0))
                continue;
            for (int k = 0; k < r->npolicies; k++) {
                double end = e->t + r->policies[k].period_s;
                if (end > now && (at < 0 || end < at))
                    at = end;
            }
        }
        if (at > 0) {
            d->next_t = at;
            d->next_replicas = -1;
            snprintf(d->next_why, sizeof(d->next_why),
                     "%s again when an earlier scale event leaves its policy period",
                     up ? "up" : "down");
        }
    }
}

/* The HPA's pass with in (metrics filled in): memory in, memory out. */
static void hpa_pass(const struct autoscale_config *c, struct autoscale_state *s, double now,
                     struct scale_hpa_in *in, struct autoscale_decision *d)
{
    const struct kube_hpa *h = &c->hpa;
    in->current = s->replicas;
    in->min = h->min_replicas;
    in->max = h->max_replicas;
    in->has_behavior = h->has_behavior;
    in->up = h->up;
    in->down = h->down;
    prune(h, s, now);
    if (s->nrecs == 0)
        push_rec(s, now, s->replicas); /* the controller's initial recommendation */
    struct scale_rec *recs = xcalloc((size_t)s->nrecs + 1, sizeof(*recs));
    struct scale_event *events = xcalloc((size_t)s->nevents + 1, sizeof(*events));
    for (int i = 0; i < s->nrecs; i++)
        recs[i] = (struct scale_rec){age_of(now, s->recs[i].t), s->recs[i].replicas};
    for (int i = 0; i < s->nevents; i++)
        events[i] = (struct scale_event){age_of(now, s->events[i].t), s->events[i].change};
    in->recs = recs;
    in->nrecs = s->nrecs;
    in->events = events;
    in->nevents = s->nevents;
    scale_hpa(in, &d->hpa);
    free(recs);
    free(events);
    in->recs = NULL;
    in->events = NULL;
    d->hpa_ran = true;
    if (d->hpa.chosen_metric >= 0)
        push_rec(s, now, d->hpa.from_metrics);
    if (d->hpa.desired != s->replicas)
        push_event(s, now, d->hpa.desired - s->replicas);
    s->replicas = d->hpa.desired;
    hpa_next(c, s, now, d);
}

void autoscale_keda_step(const struct autoscale_config *c, struct autoscale_state *s, double now,
                         int64_t lag, struct autoscale_decision *d)
{
    memset(d, 0, sizeof(*d));
    const struct kube_scaledobject *so = &c->so;
    d->t = now;
    d->lag = lag;
    d->from = s->replicas;
    d->next_t = -1;
    d->next_replicas = -1;
    d->by = "";
    scale_keda(so, c->trigger, lag, &d->keda);
    d->active = d->keda.active;
    if (d->active) {
        s->ever_active = true;
        s->last_active = now;
    }
    int floor_ = so->min_replicas > 1 ? so->min_replicas : 1;
    bool can_idle = so->has_idle || so->min_replicas == 0;
    int zero = so->has_idle ? so->idle_replicas : 0;
    long long a = (long long)d->keda.activation;

    if (so->paused) {
        d->reason = "Paused";
        snprintf(d->why, sizeof(d->why), "%s", d->keda.why);
    } else if (s->replicas == 0 || (so->has_idle && s->replicas == zero && zero < floor_)) {
        if (d->active) {
            s->replicas = floor_;
            d->by = "KEDA";
            d->reason = "ScaleFromZero";
            snprintf(d->why, sizeof(d->why),
                     "lag %lld > activationLagThreshold %lld: KEDA activates the workload at "
                     "max(minReplicaCount, 1) = %d; the HPA takes over from there",
                     (long long)lag, a, floor_);
            d->next_t = now + c->period_s;
            snprintf(d->next_why, sizeof(d->next_why),
                     "the HPA's first pass, at the next poll in %ds", c->period_s);
        } else {
            d->reason = "Idle";
            snprintf(d->why, sizeof(d->why),
                     "lag %lld is not above activationLagThreshold %lld: not active, stays at %d",
                     (long long)lag, a, s->replicas);
            snprintf(d->next_why, sizeof(d->next_why),
                     "scales up at the first poll that sees lag > %lld (every %ds)", a,
                     c->period_s);
        }
    } else if (!d->active && can_idle && s->replicas > zero &&
               (!s->ever_active || now - s->last_active >= so->cooldown_s)) {
        s->replicas = zero;
        d->by = "KEDA";
        d->reason = "ScaleToZero";
        if (s->ever_active)
            snprintf(d->why, sizeof(d->why),
                     "lag %lld is not above activationLagThreshold %lld and the last activity "
                     "was %.0fs ago, cooldownPeriod %ds has passed: KEDA scales to %d",
                     (long long)lag, a, now - s->last_active, so->cooldown_s, zero);
        else
            snprintf(d->why, sizeof(d->why),
                     "lag %lld is not above activationLagThreshold %lld and it was never "
                     "active: KEDA scales to %d",
                     (long long)lag, a, zero);
        snprintf(d->next_why, sizeof(d->next_why),
                 "scales up at the first poll that sees lag > %lld (every %ds)", a, c->period_s);
    } else {
        struct scale_hpa_in in;
        memset(&in, 0, sizeof(in));
        in.nmetrics = 1;
        struct scale_metric_in *m = &in.metrics[0];
        snprintf(m->label, sizeof(m->label), "lag");
        m->type = KUBE_TARGET_AVERAGE_VALUE;
        m->target = (double)d->keda.threshold;
        m->current = s->replicas > 0 ? (double)lag / s->replicas : (double)lag;
        m->external = true;
        m->total = (double)lag;
        d->hpa_total = lag;
        hpa_pass(c, s, now, &in, d);
        d->by = s->replicas != d->from ? "HPA" : "";
        d->reason = d->hpa.reason;
        const struct scale_hpa_out *o = &d->hpa;
        int n = snprintf(d->why, sizeof(d->why), "lag %lld: ceil(%lld / %lld) = %d", (long long)lag,
                         (long long)lag, (long long)d->keda.threshold, o->from_metrics);
        if (n > 0 && (size_t)n < sizeof(d->why)) {
            if (o->held_down)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n,
                         "; held at %d by the %ds scale-down stabilization window", o->stabilized,
                         o->window_s);
            else if (o->held_up)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n,
                         "; held at %d by the %ds scale-up stabilization window", o->stabilized,
                         o->window_s);
            else if (strcmp(o->reason, "ScaleUpLimit") == 0)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n,
                         "; the scale-up policies allow %d now", o->up_limit);
            else if (strcmp(o->reason, "ScaleDownLimit") == 0)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n,
                         "; the scale-down policies allow %d now", o->down_limit);
            else if (strcmp(o->reason, "TooManyReplicas") == 0)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n, "; held at maxReplicaCount %d",
                         c->hpa.max_replicas);
            else if (strcmp(o->reason, "TooFewReplicas") == 0)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n, "; raised to the HPA's minimum %d",
                         c->hpa.min_replicas);
            else if (o->metrics[0].within_tolerance)
                snprintf(d->why + n, sizeof(d->why) - (size_t)n,
                         "; within the 10%% tolerance of %d: no change", d->from);
        }
        if (!d->active && can_idle && s->replicas > zero) {
            d->reason = "CooldownPending";
            d->next_t = s->last_active + so->cooldown_s;
            d->next_replicas = zero;
            snprintf(d->next_why, sizeof(d->next_why),
                     "to %d at the first poll after cooldownPeriod %ds without activity", zero,
                     so->cooldown_s);
        }
    }
    d->to = s->replicas;
}

void autoscale_hpa_step(const struct autoscale_config *c, struct autoscale_state *s, double now,
                        const double *current, struct autoscale_decision *d)
{
    memset(d, 0, sizeof(*d));
    d->t = now;
    d->from = s->replicas;
    d->next_t = -1;
    d->next_replicas = -1;
    d->by = "";
    struct scale_hpa_in in;
    scale_hpa_input(&c->hpa, 0, &in);
    for (int i = 0; i < in.nmetrics; i++) {
        in.metrics[i].missing = isnan(current[i]);
        in.metrics[i].current = isnan(current[i]) ? 0 : current[i];
    }
    hpa_pass(c, s, now, &in, d);
    d->by = s->replicas != d->from ? "HPA" : "";
    d->reason = d->hpa.reason;
    snprintf(d->why, sizeof(d->why), "%s", d->hpa.message);
    d->to = s->replicas;
}
