/*
 * The autoscalers' arithmetic, written out so memectl can show it: the HPA
 * controller's replica calculation (ratio per metric, 10 % tolerance, max
 * over metrics, stabilization windows, scaling policies, min/max clamps, in
 * the same float64 arithmetic as the controller), KEDA's activation and
 * lag per replica, the VPA updater's decision, and conflicts between
 * autoscalers on one workload. Pure functions: no I/O.
 */
#ifndef MEME_SCALE_H
#define MEME_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube_types.h"

#define SCALE_TOLERANCE 0.1 /* --horizontal-pod-autoscaler-tolerance default */
/* The controller's stabilization window when spec.behavior is absent. */
#define SCALE_LEGACY_DOWN_WINDOW_S 300

struct scale_metric_in {
    char label[128]; /* "cpu", "memory", a metric name */
    enum kube_target_type type;
    double current; /* percent for UTILIZATION, else the value (average for AVERAGE_VALUE) */
    double target;
    bool missing;  /* no current value: the controller skips the metric */
    bool external; /* External AverageValue: ceil(total / target), not per ready pod */
    double total;  /* external: the metric's total when known (> 0), so the proposal is
                      ceil(total / target) without the rounding of total / replicas */
};

/* A replica recommendation the controller made age_s seconds ago. */
struct scale_rec {
    int age_s;
    int replicas;
};

/* A scale event age_s seconds ago: change > 0 up, < 0 down. */
struct scale_event {
    int age_s;
    int change;
};

struct scale_hpa_in {
    int current; /* status.currentReplicas (the scale subresource's replicas) */
    int ready;   /* ready pods, used for resource metrics; <= 0: same as current */
    int min, max;
    double tolerance; /* 0: SCALE_TOLERANCE */
    struct scale_metric_in metrics[KUBE_MAX_METRICS];
    int nmetrics;
    bool has_behavior; /* else the controller's legacy rules */
    struct kube_hpa_rules up, down;
    const struct scale_rec *recs; /* earlier recommendations (newest last) */
    int nrecs;
    const struct scale_event *events;
    int nevents;
};

struct scale_metric_out {
    double ratio;
    bool within_tolerance;
    int proposal; /* replicas this metric asks for; -1 when skipped */
};

struct scale_hpa_out {
    struct scale_metric_out metrics[KUBE_MAX_METRICS];
    int from_metrics;         /* max over metrics */
    int chosen_metric;        /* index of the metric that gave from_metrics, -1 when none */
    int stabilized;           /* after the stabilization windows */
    bool held_up;             /* the scale-up window held it down */
    bool held_down;           /* the scale-down window held it up */
    int window_s;             /* the window that held it */
    int up_limit, down_limit; /* the policies' limits (or the legacy limit) */
    int desired;
    const char *reason;  /* the ScalingLimited reason: DesiredWithinRange, ScaleUpLimit, ... */
    const char *message; /* the controller's message for it */
};

/* Fills an input from a parsed HPA (metrics from its status). */
void scale_hpa_input(const struct kube_hpa *h, int ready, struct scale_hpa_in *in);
/* Runs the controller's calculation. */
void scale_hpa(const struct scale_hpa_in *in, struct scale_hpa_out *out);

struct scale_keda_out {
    bool active; /* lag > activationLagThreshold */
    int64_t lag;
    int64_t threshold;
    int64_t activation;
    int wanted;  /* ceil(lag / lagThreshold) */
    int desired; /* clamped to [max(min,1), max] when active, min when idle */
    const char *why;
};

/* KEDA's view of one nats-jetstream trigger for lag (num_pending + num_ack_pending). */
void scale_keda(const struct kube_scaledobject *so, int trigger, int64_t lag,
                struct scale_keda_out *out);

enum scale_vpa_verdict {
    SCALE_VPA_NO_RECOMMENDATION,
    SCALE_VPA_WITHIN,  /* requests inside [lowerBound, upperBound]: left alone */
    SCALE_VPA_OUTSIDE, /* outside: the updater evicts when it may */
};

struct scale_vpa_out {
    enum scale_vpa_verdict cpu, memory;
    bool updater_acts;   /* updateMode Auto/Recreate and replicas >= minReplicas */
    const char *why_not; /* when it does not */
};

/* The verdict for container rec against its current requests. replicas is
 * the workload's replicas; min_replicas_default is the updater's flag (2). */
void scale_vpa(const struct kube_vpa *v, const struct kube_vpa_container *rec,
               const struct kube_resources *requests, int replicas, struct scale_vpa_out *out);

/* Autoscalers on one cluster, for conflict checks. */
struct scale_set {
    const struct kube_hpa *hpas;
    int nhpas;
    const struct kube_scaledobject *sos;
    int nsos;
    const struct kube_vpa *vpas;
    int nvpas;
};

/* Appends one line per conflict to out (NUL-terminated, truncated to
 * outsz); returns the number of conflicts. */
int scale_conflicts(const struct scale_set *s, char *out, size_t outsz);

#endif
