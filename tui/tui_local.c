/*
 * The dashboard's source for the local autoscaler: the state file it
 * rewrites after every poll (lib/autoscaler), read once a second into a
 * scaler row with its replicas, lag against lagThreshold, the last change
 * and why, and the next possible change.
 */
#include "autoscaler.h"
#include "tui/tui_model.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void tui_local_poll(struct tui_model *m, const char *state_dir)
{
    struct autoscaler_view *v = xcalloc(1, sizeof(*v));
    bool have = autoscaler_running(state_dir) && autoscaler_read(state_dir, v, NULL) == 0;
    struct kube_scaler_row row;
    memset(&row, 0, sizeof(row));
    if (have) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        /* a row of the scaler table like the cluster's, with no namespace */
        snprintf(row.kind, sizeof(row.kind), "local");
        snprintf(row.name, sizeof(row.name), "%s", v->name);
        snprintf(row.target, sizeof(row.target), "meme-worker");
        row.has_replicas = true;
        row.current = v->replicas;
        row.desired = v->desired;
        row.min = v->min;
        row.max = v->max;
        autoscaler_detail(v, now, row.why, sizeof(row.why));
    }
    tui_model_lock(m);
    if (have != m->has_local || memcmp(&row, &m->local, sizeof(row)) != 0)
        m->version++;
    m->has_local = have;
    m->local = row;
    if (have && m->lag_threshold == 0)
        m->lag_threshold = (int)v->threshold;
    tui_model_unlock(m);
    free(v);
}
