/*
 * memectl bench's replica timeline: the replicas of every scaler (the
 * cluster's HPAs and ScaledObjects, the local autoscaler) sampled once a
 * second while the run lasts, so the report shows the scale-up.
 */
#ifndef MEMECTL_BENCH_TIMELINE_H
#define MEMECTL_BENCH_TIMELINE_H

#include "kube/kube.h"

#include <pthread.h>
#include <stdbool.h>

/* Replicas of each scaler sampled during the run (the scale-up timeline). */
#define BENCH_TIMELINE_MAX     1800
#define BENCH_TIMELINE_SCALERS 8

struct bench_timeline {
    struct kube_client *kube;
    char *state_dir; /* the local stack's, when a local autoscaler runs */
    bool running;
    pthread_t thread;
    int stop; /* read and written with __atomic: another thread polls it */
    double t0;
    int nscalers;
    char names[BENCH_TIMELINE_SCALERS]
              [96]; /* "HPA ns/name", "ScaledObject ns/name", "local ns/name" */
    int n;
    double t[BENCH_TIMELINE_MAX];
    int replicas[BENCH_TIMELINE_MAX][BENCH_TIMELINE_SCALERS];
    char error[256];
};

/* Starts sampling when a cluster is configured (kubeconfig and context may be
 * NULL: the defaults) or a local autoscaler runs; false when neither is there
 * (saying why only when a kubeconfig or context was asked for). */
bool bench_timeline_start(struct bench_timeline *tl, const char *kubeconfig, const char *context,
                          double t0);
/* Stops sampling after one last sample; nothing when it never started. */
void bench_timeline_stop(struct bench_timeline *tl);

#endif
