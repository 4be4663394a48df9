/*
 * The replica timeline of memectl bench (bench_timeline.h): a thread that
 * samples every scaler's replicas once a second during the run.
 */
#include "bench_timeline.h"
#include "autoscaler.h"
#include "clock.h"
#include "cli.h"
#include "kube/kube_status.h"
#include "kube/kubeconfig.h"
#include "paths.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int timeline_slot(struct bench_timeline *tl, const char *kind, const char *ns,
                         const char *name)
{
    char key[96];
    snprintf(key, sizeof(key), "%s %s/%s", kind, ns, name);
    for (int i = 0; i < tl->nscalers; i++)
        if (strcmp(tl->names[i], key) == 0)
            return i;
    if (tl->nscalers == BENCH_TIMELINE_SCALERS)
        return -1;
    snprintf(tl->names[tl->nscalers], sizeof(tl->names[0]), "%s", key);
    return tl->nscalers++;
}

/* One sample: each HPA's current replicas (KEDA's HPA stands for its
 * ScaledObject), and the local autoscaler's workers when one runs. */
static void timeline_sample(struct bench_timeline *tl)
{
    if (tl->n >= BENCH_TIMELINE_MAX)
        return;
    int k = tl->n;
    bool any = false;
    for (int j = 0; j < BENCH_TIMELINE_SCALERS; j++)
        tl->replicas[k][j] = -1;
    if (tl->kube) {
        struct kube_status st;
        memset(&st, 0, sizeof(st));
        struct meme_err err = {0};
        if (kube_status_fetch(tl->kube, kube_status_default_namespaces,
                              KUBE_STATUS_DEFAULT_NS_COUNT, &st, &err) != 0) {
            snprintf(tl->error, sizeof(tl->error), "%s", err.msg);
        } else {
            for (int i = 0; i < st.nhpas; i++) {
                const struct kube_hpa *h = &st.hpas[i];
                int slot = h->keda_owner[0]
                               ? timeline_slot(tl, "ScaledObject", h->meta.ns, h->keda_owner)
                               : timeline_slot(tl, "HPA", h->meta.ns, h->meta.name);
                if (slot >= 0)
                    tl->replicas[k][slot] = h->current_replicas;
            }
            any = true;
        }
        kube_status_release(&st);
    }
    if (tl->state_dir && autoscaler_running(tl->state_dir)) {
        struct autoscaler_view *v = xcalloc(1, sizeof(*v));
        if (autoscaler_read(tl->state_dir, v, NULL) == 0) {
            const char *slash = strchr(v->name, '/');
            char ns[64];
            snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - v->name) : 0, v->name);
            int slot = timeline_slot(tl, "local", ns, slash ? slash + 1 : v->name);
            if (slot >= 0)
                tl->replicas[k][slot] = v->replicas;
            any = true;
        }
        free(v);
    }
    if (!any)
        return;
    tl->t[k] = clock_now_s() - tl->t0;
    tl->n++;
}

static void *timeline_main(void *arg)
{
    struct bench_timeline *tl = arg;
    while (!__atomic_load_n(&tl->stop, __ATOMIC_ACQUIRE)) {
        timeline_sample(tl);
        /* Every 2 s (the API server's floor), waking early to stop. */
        for (int i = 0; i < 20 && !__atomic_load_n(&tl->stop, __ATOMIC_ACQUIRE); i++)
            usleep(100000);
    }
    return NULL;
}

bool bench_timeline_start(struct bench_timeline *tl, const char *kubeconfig, const char *context,
                          double t0)
{
    struct kube_config cfg;
    struct kube_config_opts o;
    memset(&o, 0, sizeof(o));
    o.kubeconfig = kubeconfig;
    o.context = context ? context : config_get(CFG_CONTEXT);
    struct meme_err err = {0};
    tl->t0 = t0;
    char *dir = paths_state_dir();
    if (autoscaler_running(dir))
        tl->state_dir = dir;
    else
        free(dir);
    if (kube_config_load(&cfg, &o, &err) != 0) {
        if (kubeconfig)
            cli_error("no replica timeline: %s", err.msg);
    } else {
        tl->kube = kube_client_new(&cfg);
        kube_client_set_timeout(tl->kube, 3000);
    }
    if (!tl->kube && !tl->state_dir)
        return false;
    timeline_sample(tl);
    if (tl->n == 0) {
        if (kubeconfig || context)
            cli_error("no replica timeline: %s", tl->error);
        kube_client_free(tl->kube);
        tl->kube = NULL;
        free(tl->state_dir);
        tl->state_dir = NULL;
        return false;
    }
    tl->running = true;
    pthread_create(&tl->thread, NULL, timeline_main, tl);
    return true;
}

void bench_timeline_stop(struct bench_timeline *tl)
{
    if (!tl->running)
        return;
    __atomic_store_n(&tl->stop, 1, __ATOMIC_RELEASE);
    pthread_join(tl->thread, NULL);
    timeline_sample(tl); /* where the run left them */
    kube_client_free(tl->kube);
    tl->kube = NULL;
    free(tl->state_dir);
    tl->state_dir = NULL;
    tl->running = false;
}
