/*
 * Fetching and joining the objects behind `memectl status` (see
 * kube_status.h): one list per kind, all sent at once (lib/kube/kube.h's
 * batches), at cluster scope filtered to the wanted namespaces, or per
 * namespace where RBAC refuses the cluster scope; parsed into the typed
 * views, with refusals and missing CRDs kept as problems to show.
 */
#include "kube/kube_status.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const kube_status_default_namespaces[] = {"meme-generator", "messaging", "cache",
                                                      "monitoring"};

static const struct {
    const char *prefix;
    const char *resource;
} kind_paths[KUBE_KIND_COUNT] = {
    [KUBE_KIND_HPA] = {"/apis/autoscaling/v2", "horizontalpodautoscalers"},
    [KUBE_KIND_SCALEDOBJECT] = {"/apis/keda.sh/v1alpha1", "scaledobjects"},
    [KUBE_KIND_VPA] = {"/apis/autoscaling.k8s.io/v1", "verticalpodautoscalers"},
    [KUBE_KIND_DEPLOYMENT] = {"/apis/apps/v1", "deployments"},
    [KUBE_KIND_STATEFULSET] = {"/apis/apps/v1", "statefulsets"},
    [KUBE_KIND_POD] = {"/api/v1", "pods"},
    [KUBE_KIND_PODMETRICS] = {"/apis/metrics.k8s.io/v1beta1", "pods"},
};

const char *kube_kind_prefix(enum kube_kind k)
{
    return kind_paths[k].prefix;
}

const char *kube_kind_resource(enum kube_kind k)
{
    return kind_paths[k].resource;
}

char *kube_kind_path(enum kube_kind k, const char *ns)
{
    if (ns)
        return xasprintf("%s/namespaces/%s/%s", kind_paths[k].prefix, ns, kind_paths[k].resource);
    return xasprintf("%s/%s", kind_paths[k].prefix, kind_paths[k].resource);
}

/* Appends the parsed items of a list to the kind's array. */
void kube_status_add_items(struct kube_status *st, enum kube_kind k, json_t *items)
{
    size_t n = json_array_size(items);
    if (n == 0)
        return;
    size_t i;
    json_t *o;
    switch (k) {
    case KUBE_KIND_HPA:
        st->hpas = xrealloc(st->hpas, (st->nhpas + n) * sizeof(*st->hpas));
        json_array_foreach(items, i, o)
        {
            if (kube_hpa_parse(o, &st->hpas[st->nhpas], NULL) == 0)
                st->nhpas++;
        }
        break;
    case KUBE_KIND_SCALEDOBJECT:
        st->sos = xrealloc(st->sos, (st->nsos + n) * sizeof(*st->sos));
        json_array_foreach(items, i, o)
        {
            if (kube_scaledobject_parse(o, &st->sos[st->nsos], NULL) == 0)
                st->nsos++;
        }
        break;
    case KUBE_KIND_VPA:
        st->vpas = xrealloc(st->vpas, (st->nvpas + n) * sizeof(*st->vpas));
        json_array_foreach(items, i, o)
        {
            if (kube_vpa_parse(o, &st->vpas[st->nvpas], NULL) == 0)
                st->nvpas++;
        }
        break;
    case KUBE_KIND_DEPLOYMENT:
    case KUBE_KIND_STATEFULSET:
        st->workloads = xrealloc(st->workloads, (st->nworkloads + n) * sizeof(*st->workloads));
        json_array_foreach(items, i, o)
        {
            struct kube_workload *w = &st->workloads[st->nworkloads];
            if (kube_workload_parse(o, w, NULL) == 0) {
                if (!w->kind[0])
                    snprintf(w->kind, sizeof(w->kind), "%s",
                             k == KUBE_KIND_DEPLOYMENT ? "Deployment" : "StatefulSet");
                st->nworkloads++;
            }
        }
        break;
    case KUBE_KIND_POD:
        st->pods = xrealloc(st->pods, (st->npods + n) * sizeof(*st->pods));
        json_array_foreach(items, i, o)
        {
            if (kube_pod_parse(o, &st->pods[st->npods], NULL) == 0)
                st->npods++;
        }
        break;
    case KUBE_KIND_PODMETRICS:
        st->metrics = xrealloc(st->metrics, (st->nmetrics + n) * sizeof(*st->metrics));
        json_array_foreach(items, i, o)
        {
            if (kube_pod_metrics_parse(o, &st->metrics[st->nmetrics], NULL) == 0)
                st->nmetrics++;
        }
        break;
    default:
        break;
    }
}

void kube_status_problem(struct kube_status *st, enum kube_kind k, const struct meme_err *e)
{
    for (int i = 0; i < st->nproblems; i++)
        if (st->problems[i].kind == k && strcmp(st->problems[i].msg, e->msg) == 0)
            return;
    if (st->nproblems >= (int)(sizeof(st->problems) / sizeof(st->problems[0])))
        return;
    struct kube_status_problem *p = &st->problems[st->nproblems++];
    p->kind = k;
    p->code = e->code;
    snprintf(p->msg, sizeof(p->msg), "%s", e->msg);
}

static bool wanted_ns(json_t *obj, const char *const *ns, int nns)
{
    if (nns <= 0)
        return true;
    const char *have =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "namespace"));
    for (int i = 0; have && i < nns; i++)
        if (strcmp(have, ns[i]) == 0)
            return true;
    return false;
}

static void keep_wanted(json_t *dst, json_t *items, const char *const *ns, int nns)
{
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        if (wanted_ns(o, ns, nns))
            json_array_append(dst, o);
    }
}

static const char *list_rv(json_t *list)
{
    return json_string_value(json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
}

/* True when a failed first round says the cluster cannot be read at all:
 * nothing answered, or the credentials were refused. */
static bool unreadable(const struct kube_batch_req *b, int n)
{
    bool answered = false;
    for (int i = 0; i < n; i++) {
        if (b[i].http == 401)
            return true;
        if (b[i].http != 0 || (b[i].rc != MEME_E_UNREACHABLE && b[i].rc != MEME_E_TIMEOUT &&
                               b[i].rc != MEME_E_INTERNAL && b[i].rc != 0))
            answered = true;
        if (b[i].rc == 0)
            answered = true;
    }
    return !answered;
}

int kube_lists_fetch(struct kube_client *c, const char *const *ns, int nns, unsigned kinds,
                     struct kube_lists *out, struct kube_status *st, struct meme_err *err)
{
    memset(out, 0, sizeof(*out));
    if (nns > KUBE_LISTS_MAX_NS)
        nns = KUBE_LISTS_MAX_NS;
    out->nns = nns;
    for (int i = 0; i < nns; i++)
        snprintf(out->ns[i], sizeof(out->ns[i]), "%s", ns[i]);
    /* Round one: one list per kind. One namespace is listed as such (the
     * same one request, less to read); several are read with one
     * cluster-scope list each and filtered here, so the requests grow with
     * the kinds, not with kinds x namespaces. */
    struct kube_batch_req b[KUBE_KIND_COUNT];
    int kind_of[KUBE_KIND_COUNT];
    int n = 0;
    for (int k = 0; k < KUBE_KIND_COUNT; k++) {
        if (!(kinds & (1u << k)))
            continue;
        memset(&b[n], 0, sizeof(b[n]));
        b[n].path = kube_kind_path((enum kube_kind)k, nns == 1 ? ns[0] : NULL);
        out->per_ns[k] = nns == 1;
        kind_of[n++] = k;
    }
    int rc = kube_get_batch(c, b, n, err);
    if (rc == 0 && unreadable(b, n)) {
        for (int i = 0; i < n; i++)
            if (b[i].rc != 0) {
                if (err)
                    *err = b[i].err;
                rc = b[i].rc;
                break;
            }
    }
    bool fallback[KUBE_KIND_COUNT] = {false};
    int nfall = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        int k = kind_of[i];
        if (b[i].rc == 0) {
            out->items[k] = json_array();
            keep_wanted(out->items[k], json_object_get(b[i].out, "items"), ns, nns);
            const char *rv = list_rv(b[i].out);
            snprintf(out->rv[k][0], sizeof(out->rv[k][0]), "%s", rv ? rv : "");
            out->read[k] = true;
            continue;
        }
        if (b[i].http == 404 && b[i].rc == MEME_E_NOT_FOUND) {
            st->missing[k] = true;
            kube_status_problem(st, (enum kube_kind)k, &b[i].err);
        } else if (b[i].http == 403 && nns > 1) {
            /* RBAC bound per namespace (the stack's Roles): ask each one */
            fallback[k] = true;
            nfall += nns;
        } else {
            kube_status_problem(st, (enum kube_kind)k, &b[i].err);
        }
    }
    for (int i = 0; i < n; i++) {
        free((char *)b[i].path);
        json_decref(b[i].out);
    }
    if (rc != 0 || nfall == 0)
        return rc;
    /* Round two, only where the cluster scope was refused: per namespace. */
    struct kube_batch_req *fb = xcalloc((size_t)nfall, sizeof(*fb));
    int *fk = xcalloc((size_t)nfall, sizeof(*fk)), *fi = xcalloc((size_t)nfall, sizeof(*fi));
    int m = 0;
    for (int k = 0; k < KUBE_KIND_COUNT; k++)
        for (int i = 0; fallback[k] && i < nns; i++) {
            fb[m].path = kube_kind_path((enum kube_kind)k, ns[i]);
            fk[m] = k;
            fi[m++] = i;
        }
    rc = kube_get_batch(c, fb, m, err);
    for (int j = 0; j < m && rc == 0; j++) {
        int k = fk[j];
        out->per_ns[k] = true;
        if (fb[j].rc == 0) {
            if (!out->items[k])
                out->items[k] = json_array();
            keep_wanted(out->items[k], json_object_get(fb[j].out, "items"), ns, nns);
            const char *rv = list_rv(fb[j].out);
            snprintf(out->rv[k][fi[j]], sizeof(out->rv[k][0]), "%s", rv ? rv : "");
            out->read[k] = true;
        } else {
            if (fb[j].http == 404 && fb[j].rc == MEME_E_NOT_FOUND)
                st->missing[k] = true;
            kube_status_problem(st, (enum kube_kind)k, &fb[j].err);
        }
    }
    for (int j = 0; j < m; j++) {
        free((char *)fb[j].path);
        json_decref(fb[j].out);
    }
    free(fb);
    free(fk);
    free(fi);
    return rc;
}

void kube_lists_release(struct kube_lists *l)
{
    for (int k = 0; k < KUBE_KIND_COUNT; k++)
        json_decref(l->items[k]);
    memset(l, 0, sizeof(*l));
}

int kube_status_fetch_kinds(struct kube_client *c, const char *const *ns, int nns, unsigned kinds,
                            struct kube_status *st, struct meme_err *err)
{
    memset(st, 0, sizeof(*st));
    struct kube_lists l;
    int rc = kube_lists_fetch(c, ns, nns, kinds, &l, st, err);
    if (rc == 0)
        for (int k = 0; k < KUBE_KIND_COUNT; k++)
            if (l.items[k]) {
                kube_status_add_items(st, (enum kube_kind)k, l.items[k]);
                snprintf(st->resource_version[k], sizeof(st->resource_version[k]), "%s",
                         l.rv[k][0]);
            }
    kube_lists_release(&l);
    return rc;
}

int kube_status_fetch(struct kube_client *c, const char *const *ns, int nns, struct kube_status *st,
                      struct meme_err *err)
{
    return kube_status_fetch_kinds(c, ns, nns, KUBE_STATUS_ALL_KINDS, st, err);
}

void kube_status_release(struct kube_status *st)
{
    free(st->hpas);
    free(st->sos);
    free(st->vpas);
    free(st->workloads);
    free(st->pods);
    free(st->metrics);
    memset(st, 0, sizeof(*st));
}

const struct kube_workload *kube_status_workload(const struct kube_status *st, const char *ns,
                                                 const char *kind, const char *name)
{
    const char *k = kind && kind[0] ? kind : "Deployment";
    for (int i = 0; i < st->nworkloads; i++) {
        const struct kube_workload *w = &st->workloads[i];
        if (strcmp(w->meta.ns, ns) == 0 && strcmp(w->kind, k) == 0 &&
            strcmp(w->meta.name, name) == 0)
            return w;
    }
    return NULL;
}

const struct kube_hpa *kube_status_hpa(const struct kube_status *st, const char *ns,
                                       const char *name)
{
    for (int i = 0; i < st->nhpas; i++)
        if (strcmp(st->hpas[i].meta.ns, ns) == 0 && strcmp(st->hpas[i].meta.name, name) == 0)
            return &st->hpas[i];
    return NULL;
}

bool kube_status_pod_of(const struct kube_pod *p, const struct kube_workload *w)
{
    if (strcmp(p->meta.ns, w->meta.ns) != 0)
        return false;
    if (strcmp(p->meta.owner_kind, w->kind) == 0)
        return strcmp(p->meta.owner_name, w->meta.name) == 0;
    if (strcmp(w->kind, "Deployment") != 0 || strcmp(p->meta.owner_kind, "ReplicaSet") != 0)
        return false;
    /* ReplicaSets of a Deployment are named DEPLOYMENT-HASH */
    size_t n = strlen(w->meta.name);
    return strncmp(p->meta.owner_name, w->meta.name, n) == 0 && p->meta.owner_name[n] == '-' &&
           strchr(p->meta.owner_name + n + 1, '-') == NULL;
}

void kube_status_pods_of(const struct kube_status *st, const struct kube_workload *w,
                         struct kube_pods_summary *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; w && i < st->npods; i++) {
        const struct kube_pod *p = &st->pods[i];
        if (!kube_status_pod_of(p, w))
            continue;
        out->pods++;
        out->ready += p->ready;
        out->restarts += p->restarts;
        for (int k = 0; k < st->nmetrics; k++) {
            const struct kube_pod_metrics *m = &st->metrics[k];
            if (strcmp(m->meta.ns, p->meta.ns) != 0 || strcmp(m->meta.name, p->meta.name) != 0)
                continue;
            out->with_metrics++;
            if (m->usage.has_cpu) {
                out->usage.has_cpu = true;
                out->usage.cpu.nano += m->usage.cpu.nano;
            }
            if (m->usage.has_memory) {
                out->usage.has_memory = true;
                out->usage.memory.nano += m->usage.memory.nano;
            }
        }
    }
}
