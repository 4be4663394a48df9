/*
 * The cluster half of `memectl status`: every HPA, KEDA ScaledObject and VPA
 * in the namespaces the stack uses (or all of them), with the Deployments,
 * StatefulSets, Pods and PodMetrics they act on, read in one pass through
 * lib/kube/kube.h. Nothing is looked up by a fixed name: scalers are discovered
 * and joined to what they scale. A missing CRD, a refused list or an absent
 * metrics API is recorded, not fatal, so the rest still shows.
 */
#ifndef MEME_KUBE_STATUS_H
#define MEME_KUBE_STATUS_H

#include <jansson.h>
#include <stdbool.h>

#include "kube/kube.h"
#include "kube/kube_types.h"

/* The namespaces of the stack (ARCHITECTURE: the seed guide's names). */
extern const char *const kube_status_default_namespaces[];
#define KUBE_STATUS_DEFAULT_NS_COUNT 4

enum kube_kind {
    KUBE_KIND_HPA,
    KUBE_KIND_SCALEDOBJECT,
    KUBE_KIND_VPA,
    KUBE_KIND_DEPLOYMENT,
    KUBE_KIND_STATEFULSET,
    KUBE_KIND_POD,
    KUBE_KIND_PODMETRICS,
    KUBE_KIND_COUNT
};

/* API group/version prefix and plural resource of a kind, for paths. */
const char *kube_kind_prefix(enum kube_kind k);
const char *kube_kind_resource(enum kube_kind k);
/* "/apis/G/V[/namespaces/NS]/RESOURCE" (ns NULL: all namespaces). New string. */
char *kube_kind_path(enum kube_kind k, const char *ns);

struct kube_status_problem {
    enum kube_kind kind;
    int code; /* MEME_E_NOT_FOUND: not installed; MEME_E_IO: refused */
    char msg[512];
};

struct kube_status {
    struct kube_hpa *hpas;
    int nhpas;
    struct kube_scaledobject *sos;
    int nsos;
    struct kube_vpa *vpas;
    int nvpas;
    struct kube_workload *workloads; /* Deployments and StatefulSets */
    int nworkloads;
    struct kube_pod *pods;
    int npods;
    struct kube_pod_metrics *metrics;
    int nmetrics;
    bool missing[KUBE_KIND_COUNT]; /* the API does not serve the kind (CRD not installed) */
    struct kube_status_problem problems[16];
    int nproblems;
    char resource_version[KUBE_KIND_COUNT][32]; /* of the last list, for watches */
};

#define KUBE_STATUS_ALL_KINDS ((1u << KUBE_KIND_COUNT) - 1)
#define KUBE_KIND_BIT(k)      (1u << (k))
#define KUBE_LISTS_MAX_NS     16

/* The raw lists behind a status: the objects of each kind in the wanted
 * namespaces, and the versions a watch continues from. */
struct kube_lists {
    json_t *items[KUBE_KIND_COUNT]; /* JSON arrays; NULL when the kind was not read */
    bool read[KUBE_KIND_COUNT];
    bool per_ns
        [KUBE_KIND_COUNT]; /* listed per namespace (one namespace, or a 403 at cluster scope) */
    char rv[KUBE_KIND_COUNT][KUBE_LISTS_MAX_NS]
           [32]; /* [k][0] at cluster scope, else [k][i] for ns[i] */
    char ns[KUBE_LISTS_MAX_NS][64];
    int nns;
};

/*
 * Lists the kinds in the mask (KUBE_KIND_BIT()s) in namespaces ns[0..nns-1]
 * (nns 0: all; at most KUBE_LISTS_MAX_NS): every list in one batch, at
 * cluster scope filtered to ns when there are several, per namespace only
 * for the kinds whose cluster-scope list was refused (403). Refusals and
 * missing CRDs go to st's problems and missing; fails as kube_status_fetch.
 * Release out with kube_lists_release() in any case.
 */
int kube_lists_fetch(struct kube_client *c, const char *const *ns, int nns, unsigned kinds,
                     struct kube_lists *out, struct kube_status *st, struct meme_err *err);
void kube_lists_release(struct kube_lists *l);

/*
 * Lists everything in namespaces ns[0..nns-1] (nns 0: all namespaces).
 * Fails (MEME_E_UNREACHABLE, MEME_E_TIMEOUT, MEME_E_IO for unauthorized)
 * only when the cluster cannot be read at all; other refusals land in
 * st->problems. Release with kube_status_release() in any case.
 */
int kube_status_fetch(struct kube_client *c, const char *const *ns, int nns, struct kube_status *st,
                      struct meme_err *err);
void kube_status_release(struct kube_status *st);
/* kube_status_fetch() for the kinds in the mask only. */
int kube_status_fetch_kinds(struct kube_client *c, const char *const *ns, int nns, unsigned kinds,
                            struct kube_status *st, struct meme_err *err);
/* Appends parsed objects of one kind; records a problem (once per message). */
void kube_status_add_items(struct kube_status *st, enum kube_kind k, json_t *items);
void kube_status_problem(struct kube_status *st, enum kube_kind k, const struct meme_err *e);

const struct kube_workload *kube_status_workload(const struct kube_status *st, const char *ns,
                                                 const char *kind, const char *name);
const struct kube_hpa *kube_status_hpa(const struct kube_status *st, const char *ns,
                                       const char *name);

/* Pods of a workload: counts, and PodMetrics usage summed over them. */
struct kube_pods_summary {
    int pods, ready, restarts;
    int with_metrics;
    struct kube_resources usage;
};
void kube_status_pods_of(const struct kube_status *st, const struct kube_workload *w,
                         struct kube_pods_summary *out);
/* True when pod p belongs to workload w (through its ReplicaSet or directly). */
bool kube_status_pod_of(const struct kube_pod *p, const struct kube_workload *w);

#endif
