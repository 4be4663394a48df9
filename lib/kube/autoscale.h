/*
 * One autoscaler decision over time: what KEDA and the HPA it makes would do
 * at each poll, with the memory the controllers keep between polls (the last
 * active time, earlier recommendations, earlier scale events). The local
 * autoscaler of `memectl up --autoscale`, `memectl simulate` and `memectl
 * explain local` all call autoscale_keda_step() / autoscale_hpa_step(), so
 * the three can never disagree. The arithmetic of one pass is scale.h's;
 * this adds time. Pure functions: no I/O, no clock (callers pass the time).
 */
#ifndef MEME_AUTOSCALE_H
#define MEME_AUTOSCALE_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/kube_types.h"
#include "kube/scale.h"

/* kube-controller-manager --horizontal-pod-autoscaler-sync-period default. */
#define AUTOSCALE_HPA_SYNC_S 15
#define AUTOSCALE_MAX_RECS   4096
#define AUTOSCALE_MAX_EVENTS 256

enum autoscale_kind {
    AUTOSCALE_KEDA, /* a ScaledObject: KEDA for 0 <-> 1, its HPA for 1..N */
    AUTOSCALE_HPA,  /* a plain HorizontalPodAutoscaler */
};

struct autoscale_config {
    enum autoscale_kind kind;
    struct kube_scaledobject so; /* KEDA */
    int trigger;                 /* KEDA: the trigger whose lag is given */
    struct kube_hpa hpa;         /* the HPA: KEDA's (made from so) or the plain one */
    int period_s;                /* how often a decision runs */
};

/* The configuration for a ScaledObject: its first nats-jetstream trigger
 * (else its first trigger), the HPA KEDA makes for it (minReplicas
 * max(minReplicaCount, 1), maxReplicaCount, an External AverageValue metric
 * with target lagThreshold) and a decision every pollingInterval. The HPA's
 * rules are advanced.horizontalPodAutoscalerConfig.behavior, else the
 * documented default behavior (see docs/design.md: the controller's legacy
 * per-sync limits, expressed per 15 s period so they hold at any poll rate).
 * -1 when so has no trigger. */
int autoscale_config_keda(struct autoscale_config *c, const struct kube_scaledobject *so);
/* The configuration for a plain HPA, decided every AUTOSCALE_HPA_SYNC_S. */
void autoscale_config_hpa(struct autoscale_config *c, const struct kube_hpa *h);

struct autoscale_rec {
    double t;
    int replicas;
};

struct autoscale_event {
    double t;
    int change;
};

/* What the controllers remember between decisions. Large: allocate it. */
struct autoscale_state {
    int replicas;
    bool ever_active;
    double last_active; /* time of the last decision that found the trigger active */
    struct autoscale_rec recs[AUTOSCALE_MAX_RECS]; /* the HPA's recommendations, oldest first */
    int nrecs;
    struct autoscale_event events[AUTOSCALE_MAX_EVENTS]; /* the HPA's scale events */
    int nevents;
};

void autoscale_state_init(struct autoscale_state *s, int replicas);

struct autoscale_decision {
    double t;
    int64_t lag; /* KEDA: the lag it was given */
    bool active; /* KEDA: lag > activationLagThreshold */
    int from, to;
    const char *by;     /* "KEDA", "HPA" or "" when nothing changed */
    const char *reason; /* ScaleFromZero, ScaleToZero, Idle, CooldownPending, or the HPA's */
    char why[320];      /* one sentence */
    double next_t;      /* the earliest the count can change next; < 0 when unknown */
    int next_replicas;  /* to what, when known; else -1 */
    char next_why[200];
    struct scale_keda_out keda; /* KEDA's pass */
    bool hpa_ran;
    struct scale_hpa_out hpa; /* the HPA's pass, when it ran */
    int64_t hpa_total;        /* the metric total the HPA saw */
};

/* One KEDA poll at time now (seconds, any monotonic origin) with the
 * trigger's lag (num_pending + num_ack_pending): activation and scale from
 * zero, scale to zero after cooldownPeriod without activity, and between 1
 * and N the HPA's pass. Updates s; fills d. */
void autoscale_keda_step(const struct autoscale_config *c, struct autoscale_state *s, double now,
                         int64_t lag, struct autoscale_decision *d);

/* One pass of a plain HPA at time now with each metric's current value
 * (percent for Utilization targets; NAN when the metric has no value). */
void autoscale_hpa_step(const struct autoscale_config *c, struct autoscale_state *s, double now,
                        const double *current, struct autoscale_decision *d);

#endif
