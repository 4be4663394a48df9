/*
 * Typed views of the Kubernetes objects memectl reads: HPA
 * (autoscaling/v2), KEDA ScaledObject (keda.sh/v1alpha1), VPA
 * (autoscaling.k8s.io/v1), Deployment and StatefulSet, Pod and PodMetrics
 * (metrics.k8s.io). Each parser copies what the views need out of a JSON
 * object into a plain struct with fixed-size strings (nothing to free) and
 * tolerates absent optional fields, filling the API's documented defaults.
 */
#ifndef MEME_KUBE_TYPES_H
#define MEME_KUBE_TYPES_H

#include <jansson.h>
#include <stdbool.h>

#include "err.h"
#include "kube/kube_quantity.h"

#define KUBE_NAME_MAX       254
#define KUBE_MAX_METRICS    8
#define KUBE_MAX_POLICIES   4
#define KUBE_MAX_CONDITIONS 8
#define KUBE_MAX_CONTAINERS 8
#define KUBE_MAX_TRIGGERS   4

struct kube_meta {
    char name[KUBE_NAME_MAX];
    char ns[64];
    char uid[40];
    char resource_version[32];
    char created[32];
    char owner_kind[64]; /* the controller owner, if any */
    char owner_name[KUBE_NAME_MAX];
};

struct kube_ref {
    char api_version[96];
    char kind[64];
    char name[KUBE_NAME_MAX];
};

struct kube_condition {
    char type[48];
    char status[8]; /* "True", "False", "Unknown" */
    char reason[64];
    char message[256]; /* sanitized */
    char since[32];
};

enum kube_target_type {
    KUBE_TARGET_UTILIZATION,
    KUBE_TARGET_AVERAGE_VALUE,
    KUBE_TARGET_VALUE,
};

struct kube_hpa_metric {
    char type[24];  /* Resource, ContainerResource, Pods, Object, External */
    char name[128]; /* cpu, memory, or the metric's name */
    enum kube_target_type target_type;
    int target_util;             /* percent, for UTILIZATION */
    struct kube_quantity target; /* for AVERAGE_VALUE and VALUE */
    bool has_current;            /* status has a current value for this metric */
    bool has_current_util;
    int current_util;             /* percent */
    struct kube_quantity current; /* averageValue or value */
};

enum kube_select_policy { KUBE_SELECT_MAX, KUBE_SELECT_MIN, KUBE_SELECT_DISABLED };

struct kube_hpa_policy {
    bool percent; /* else Pods */
    int value;
    int period_s;
};

struct kube_hpa_rules {
    int window_s;
    enum kube_select_policy select;
    struct kube_hpa_policy policies[KUBE_MAX_POLICIES];
    int npolicies;
};

struct kube_hpa {
    struct kube_meta meta;
    struct kube_ref target;
    int min_replicas; /* default 1 */
    int max_replicas;
    struct kube_hpa_metric metrics[KUBE_MAX_METRICS];
    int nmetrics;
    bool has_behavior;
    struct kube_hpa_rules up, down; /* with the API's defaults filled in */
    int current_replicas;
    int desired_replicas;
    char last_scale[32];
    struct kube_condition conditions[KUBE_MAX_CONDITIONS];
    int nconditions;
    char keda_owner[KUBE_NAME_MAX]; /* the ScaledObject that made it, or "" */
};

struct kube_trigger {
    char type[48];
    char name[64];
    char stream[128];
    char consumer[128];
    char account[64];
    char endpoint[256];
    int64_t lag_threshold;            /* nats-jetstream default 10 */
    int64_t activation_lag_threshold; /* default 0 */
};

struct kube_scaledobject {
    struct kube_meta meta;
    struct kube_ref target; /* kind defaults to Deployment */
    int min_replicas;       /* default 0 */
    int max_replicas;       /* default 100 */
    int polling_s;          /* default 30 */
    int cooldown_s;         /* default 300 */
    bool has_idle;
    int idle_replicas;
    bool has_fallback;
    int fallback_failures, fallback_replicas;
    struct kube_trigger triggers[KUBE_MAX_TRIGGERS];
    int ntriggers;
    char hpa_name[KUBE_NAME_MAX]; /* status.hpaName, else keda-hpa-NAME */
    bool paused;                  /* annotation autoscaling.keda.sh/paused(-replicas) */
    bool has_paused_replicas;
    int paused_replicas;
    struct kube_condition conditions[KUBE_MAX_CONDITIONS];
    int nconditions;
    char last_active[32];
    /* advanced.horizontalPodAutoscalerConfig.behavior, copied by KEDA into
     * the HPA it makes; without it that HPA has no spec.behavior. */
    bool has_behavior;
    struct kube_hpa_rules up, down; /* with the API's defaults filled in */
};

struct kube_resources {
    bool has_cpu, has_memory;
    struct kube_quantity cpu, memory;
};

struct kube_vpa_container {
    char name[128];
    struct kube_resources target, lower, upper, uncapped;
};

struct kube_vpa_policy {
    char container[128]; /* "*" for all */
    char mode[16];       /* Auto or Off */
    struct kube_resources min_allowed, max_allowed;
    bool controls_cpu, controls_memory;
};

struct kube_vpa {
    struct kube_meta meta;
    struct kube_ref target;
    char update_mode[16]; /* default Auto */
    bool has_min_replicas;
    int min_replicas;
    struct kube_vpa_container recs[KUBE_MAX_CONTAINERS];
    int nrecs;
    struct kube_vpa_policy policies[KUBE_MAX_CONTAINERS];
    int npolicies;
    struct kube_condition conditions[KUBE_MAX_CONDITIONS];
    int nconditions;
};

struct kube_container {
    char name[128];
    struct kube_resources requests, limits;
};

/* A Deployment or StatefulSet. */
struct kube_workload {
    struct kube_meta meta;
    char kind[24];
    int spec_replicas; /* default 1 */
    int replicas, ready, available, updated;
    char selector[512]; /* matchLabels as "k=v,k2=v2" */
    struct kube_container containers[KUBE_MAX_CONTAINERS];
    int ncontainers;
};

struct kube_pod {
    struct kube_meta meta;
    char phase[16];
    bool ready;
    int restarts;
    char node[KUBE_NAME_MAX];
    struct kube_container containers[KUBE_MAX_CONTAINERS];
    int ncontainers;
};

struct kube_pod_metrics {
    struct kube_meta meta;
    struct kube_resources usage; /* summed over containers */
    char window[16];
};

/* Each parser: 0, or MEME_E_BAD_REQUEST when obj is not an object of the kind. */
int kube_hpa_parse(json_t *obj, struct kube_hpa *out, struct meme_err *err);
int kube_scaledobject_parse(json_t *obj, struct kube_scaledobject *out, struct meme_err *err);
int kube_vpa_parse(json_t *obj, struct kube_vpa *out, struct meme_err *err);
int kube_workload_parse(json_t *obj, struct kube_workload *out, struct meme_err *err);
int kube_pod_parse(json_t *obj, struct kube_pod *out, struct meme_err *err);
int kube_pod_metrics_parse(json_t *obj, struct kube_pod_metrics *out, struct meme_err *err);

/* The condition of that type, or NULL. */
const struct kube_condition *kube_condition_find(const struct kube_condition *c, int n,
                                                 const char *type);
/* True when the condition of that type has status "True". */
bool kube_condition_true(const struct kube_condition *c, int n, const char *type);
/*
 * The total of the first External metric of an HPA (for KEDA's HPA: the
 * queue lag) read back from what the HPA reports. For an AverageValue
 * target the controller reports ceil(total / currentReplicas) in
 * milli-units, so the total is the largest whole number that rounds up to
 * that average: floor(average x replicas). False when the HPA reports no
 * such metric.
 */
bool kube_hpa_external_total(const struct kube_hpa *h, int64_t *total);
/* Fills the HPA scaling rules the API applies when behavior is absent. */
void kube_hpa_default_rules(struct kube_hpa_rules *up, struct kube_hpa_rules *down);

#endif
