/*
 * Rows and the table of autoscalers (kube_summary.h), shared by status,
 * watch and the dashboard so that all three say the same thing the same
 * way and size it with one rule (lib/table.c).
 */
#include "kube/kube_summary.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kubectl's short names for the kinds autoscalers target. */
static const char *short_kind(const char *kind)
{
    if (strcmp(kind, "Deployment") == 0)
        return "deploy";
    if (strcmp(kind, "StatefulSet") == 0)
        return "sts";
    if (strcmp(kind, "ReplicaSet") == 0)
        return "rs";
    return kind;
}

static void target_text(const struct kube_ref *t, char *out, size_t n)
{
    const char *kind = t->kind[0] ? t->kind : "Deployment";
    const char *s = short_kind(kind);
    char k[64];
    snprintf(k, sizeof(k), "%s", s);
    for (char *p = k; s == kind && *p; p++) /* other kinds as kubectl names them: lowercase */
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    snprintf(out, n, "%s/%s", k, t->name);
}

/* Appends ", item" (or "item" first) to why. */
static void add_item(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void add_item(char *why, size_t n, const char *fmt, ...)
{
    size_t len = strlen(why);
    if (len + 3 >= n)
        return;
    if (len) {
        memcpy(why + len, ", ", 3);
        len += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why + len, n - len, fmt, ap);
    va_end(ap);
}

static void pods_of(const struct kube_status *st, const char *ns, const struct kube_ref *t,
                    struct kube_scaler_row *r)
{
    const struct kube_workload *w = kube_status_workload(st, ns, t->kind, t->name);
    if (!w)
        return;
    r->has_pods = true;
    r->ready = w->ready;
    r->pods = w->spec_replicas;
}

static void hpa_row(const struct kube_status *st, const struct kube_hpa *h,
                    struct kube_scaler_row *r)
{
    snprintf(r->kind, sizeof(r->kind), "HPA");
    snprintf(r->ns, sizeof(r->ns), "%s", h->meta.ns);
    snprintf(r->name, sizeof(r->name), "%s", h->meta.name);
    target_text(&h->target, r->target, sizeof(r->target));
    r->has_replicas = true;
    r->current = h->current_replicas;
    r->desired = h->desired_replicas;
    r->min = h->min_replicas;
    r->max = h->max_replicas;
    pods_of(st, h->meta.ns, &h->target, r);
    for (int i = 0; i < h->nmetrics; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        const char *name = strcmp(m->name, "memory") == 0 ? "mem" : m->name;
        char cur[32] = "?", tgt[32] = "?";
        if (m->target_type == KUBE_TARGET_UTILIZATION) {
            if (m->has_current_util)
                snprintf(cur, sizeof(cur), "%d%%", m->current_util);
            snprintf(tgt, sizeof(tgt), "%d%%", m->target_util);
        } else {
            if (m->has_current)
                kube_quantity_format(&m->current, false, cur, sizeof(cur));
            kube_quantity_format(&m->target, false, tgt, sizeof(tgt));
        }
        add_item(r->why, sizeof(r->why), "%s %s/%s", name, cur, tgt);
    }
    const struct kube_condition *lim =
        kube_condition_find(h->conditions, h->nconditions, "ScalingLimited");
    if (lim && strcmp(lim->status, "True") == 0 && lim->reason[0])
        add_item(r->why, sizeof(r->why), "limited: %s", lim->reason);
}

static void so_row(const struct kube_status *st, const struct kube_scaledobject *so,
                   int64_t queue_lag, struct kube_scaler_row *r)
{
    snprintf(r->kind, sizeof(r->kind), "KEDA");
    snprintf(r->ns, sizeof(r->ns), "%s", so->meta.ns);
    snprintf(r->name, sizeof(r->name), "%s", so->meta.name);
    target_text(&so->target, r->target, sizeof(r->target));
    const struct kube_hpa *h = kube_status_hpa(st, so->meta.ns, so->hpa_name);
    const struct kube_workload *w =
        kube_status_workload(st, so->meta.ns, so->target.kind, so->target.name);
    r->has_replicas = h || w;
    r->current = h ? h->current_replicas : w ? w->replicas : 0;
    r->desired = h ? h->desired_replicas : w ? w->spec_replicas : 0;
    r->min = so->min_replicas;
    r->max = so->max_replicas;
    pods_of(st, so->meta.ns, &so->target, r);
    for (int i = 0; i < so->ntriggers; i++) {
        const struct kube_trigger *t = &so->triggers[i];
        int64_t lag = 0;
        bool nats = strcmp(t->type, "nats-jetstream") == 0;
        if (nats && queue_lag >= 0)
            add_item(r->why, sizeof(r->why), "lag %lld/%lld (queue)", (long long)queue_lag,
                     (long long)t->lag_threshold);
        else if (kube_hpa_external_total(h, &lag))
            add_item(r->why, sizeof(r->why), "lag %lld/%lld (HPA)", (long long)lag,
                     (long long)t->lag_threshold);
        else
            add_item(r->why, sizeof(r->why), "%s ?/%lld", nats ? "lag" : t->type,
                     (long long)t->lag_threshold);
    }
    const struct kube_condition *c = so->conditions;
    int n = so->nconditions;
    if (!kube_condition_true(c, n, "Ready"))
        add_item(r->why, sizeof(r->why), "NOT READY");
    if (so->paused)
        add_item(r->why, sizeof(r->why), "paused");
    if (kube_condition_true(c, n, "Fallback"))
        add_item(r->why, sizeof(r->why), "fallback");
}

static void vpa_row(const struct kube_status *st, const struct kube_vpa *v,
                    struct kube_scaler_row *r)
{
    snprintf(r->kind, sizeof(r->kind), "VPA");
    snprintf(r->ns, sizeof(r->ns), "%s", v->meta.ns);
    snprintf(r->name, sizeof(r->name), "%s", v->meta.name);
    target_text(&v->target, r->target, sizeof(r->target));
    pods_of(st, v->meta.ns, &v->target, r);
    if (v->nrecs == 0) {
        add_item(r->why, sizeof(r->why), "no recommendation yet");
    } else {
        const struct kube_resources *t = &v->recs[0].target;
        char q[32];
        if (t->has_cpu)
            add_item(r->why, sizeof(r->why), "cpu %s",
                     kube_quantity_format(&t->cpu, false, q, sizeof(q)));
        if (t->has_memory)
            add_item(r->why, sizeof(r->why), "mem %s",
                     kube_quantity_format(&t->memory, true, q, sizeof(q)));
    }
    if (strcmp(v->update_mode, "Auto") != 0)
        add_item(r->why, sizeof(r->why), "mode %s", v->update_mode);
}

struct sort_ctx {
    const char *const *order;
    int n;
};

static int ns_rank(const struct sort_ctx *s, const char *ns)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->order[i], ns) == 0)
            return i;
    return s->n;
}

static int kind_rank(const char *k)
{
    return strcmp(k, "HPA") == 0 ? 0 : strcmp(k, "KEDA") == 0 ? 1 : 2;
}

static struct sort_ctx sorting; /* qsort has no context argument in C11 */

static int cmp_rows(const void *a, const void *b)
{
    const struct kube_scaler_row *x = a, *y = b;
    int rx = ns_rank(&sorting, x->ns), ry = ns_rank(&sorting, y->ns);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    int c = strcmp(x->ns, y->ns);
    if (c)
        return c;
    if (kind_rank(x->kind) != kind_rank(y->kind))
        return kind_rank(x->kind) < kind_rank(y->kind) ? -1 : 1;
    return strcmp(x->name, y->name);
}

int kube_summary_rows(const struct kube_status *st, const char *const *ns_order, int nns,
                      int64_t queue_lag, struct kube_scaler_row **out)
{
    int cap = st->nhpas + st->nsos + st->nvpas;
    struct kube_scaler_row *rows = xcalloc((size_t)cap + 1, sizeof(*rows));
    int n = 0;
    for (int i = 0; i < st->nhpas; i++)
        if (!st->hpas[i].keda_owner[0])
            hpa_row(st, &st->hpas[i], &rows[n++]);
    for (int i = 0; i < st->nsos; i++)
        so_row(st, &st->sos[i], queue_lag, &rows[n++]);
    for (int i = 0; i < st->nvpas; i++)
        vpa_row(st, &st->vpas[i], &rows[n++]);
    /* qsort is not stable, but no two rows compare equal (ns, kind, name) */
    static pthread_mutex_t sort_lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&sort_lock);
    sorting = (struct sort_ctx){ns_order, ns_order ? nns : 0};
    qsort(rows, (size_t)n, sizeof(*rows), cmp_rows);
    pthread_mutex_unlock(&sort_lock);
    *out = rows;
    return n;
}

void kube_summary_replicas(const struct kube_scaler_row *r, char *out, size_t n)
{
    if (!r->has_replicas)
        snprintf(out, n, "-");
    else if (r->current != r->desired)
        snprintf(out, n, "%d\xe2\x86\x92%d (%d-%d)", r->current, r->desired, r->min, r->max);
    else
        snprintf(out, n, "%d (%d-%d)", r->current, r->min, r->max);
}

void kube_summary_table(struct table *t, const struct kube_scaler_row *rows, int n, int indent)
{
    static const struct table_col cols[] = {
        {"KIND", TABLE_FIXED, 0, 0},   {"NAME", TABLE_NAME, 0, 0},
        {"TARGET", TABLE_FIXED, 2, 0}, {"REPLICAS", TABLE_FIXED, 0, 0},
        {"READY", TABLE_FIXED, 3, 0},  {"WHY", TABLE_ITEMS, 0, 12},
    };
    table_init(t, cols, (int)(sizeof(cols) / sizeof(cols[0])), indent);
    for (int i = 0; i < n; i++) {
        const struct kube_scaler_row *r = &rows[i];
        if (i == 0 || strcmp(rows[i - 1].ns, r->ns) != 0) {
            char g[80];
            /* a row with no namespace is this machine's (memectl up --autoscale) */
            snprintf(g, sizeof(g), r->ns[0] ? "%s/" : "this machine", r->ns);
            table_add_group(t, g);
        }
        char repl[48], ready[32] = "-";
        kube_summary_replicas(r, repl, sizeof(repl));
        if (r->has_pods)
            snprintf(ready, sizeof(ready), "%d/%d", r->ready, r->pods);
        const char *cells[] = {r->kind, r->name, r->target, repl, ready, r->why};
        table_add_row(t, cells, i);
    }
}
