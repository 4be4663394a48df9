/*
 * The local autoscaler (`memectl up --autoscale`) as status, watch and
 * explain show it: a scaler row beside the cluster's, read from the state
 * file the autoscaler rewrites after each poll (lib/autoscaler). explain
 * redoes KEDA's arithmetic with lib/kube/scale and shows the decision the
 * autoscaler took with lib/kube/autoscale, the function simulate uses.
 */
#include "scaler_view.h"
#include "autoscaler.h"
#include "kube/scale.h"
#include "paths.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void local_view_read(struct scaler_view *v)
{
    char *dir = paths_state_dir();
    v->have_local = autoscaler_running(dir) && autoscaler_read(dir, &v->local, NULL) == 0;
    free(dir);
}

static double ago(double now, double t)
{
    return now - t > 0 ? now - t : 0;
}

void local_view_text(struct buf *b, const struct scaler_view *v, bool wide)
{
    const struct autoscaler_view *l = &v->local;
    double now = wall_now();
    buf_printf(b, "Local autoscaler %s -> meme-worker processes (memectl up --autoscale)\n",
               l->name);
    buf_printf(b, "  %-10s %d running, %d desired (min %d, max %d)\n", "replicas", l->replicas,
               l->desired, l->min, l->max);
    buf_printf(b, "  %-10s ", "lag");
    if (l->has_lag)
        buf_printf(
            b, "%lld (pending %lld + ack pending %lld) vs lagThreshold %lld; %s (lag %s %lld)\n",
            (long long)l->lag, (long long)l->pending, (long long)l->ack_pending,
            (long long)l->threshold, l->active ? "active" : "not active",
            l->active ? ">" : "<=", (long long)l->activation);
    else
        buf_printf(b, "unknown: %s\n", l->error);
    if (l->has_last)
        buf_printf(b, "  %-10s %d -> %d by %s %.0fs ago (%s): %s\n", "last", l->last_from,
                   l->last_to, l->last_by, ago(now, l->last_at), l->last_reason, l->last_why);
    else
        buf_printf(b, "  %-10s no change yet\n", "last");
    buf_printf(b, "  %-10s %s: %s\n", "now", l->reason, l->why);
    if (l->next_at > 0)
        buf_printf(b, "  %-10s in %.0fs: %s\n", "next", l->next_at - now > 0 ? l->next_at - now : 0,
                   l->next_why);
    else
        buf_printf(b, "  %-10s %s\n", "next", l->next_why);
    if (wide)
        buf_printf(b, "  %-10s pollingInterval %ds, cooldownPeriod %ds, from %s; lag from %s\n",
                   "timing", l->polling_s, l->cooldown_s, l->source, l->monitor);
    buf_putc(b, '\n');
}

json_t *local_view_json(const struct scaler_view *v)
{
    if (!v->have_local)
        return json_null();
    json_t *o = autoscaler_json(&v->local);
    json_object_del(o, "history"); /* the state file keeps it; a screen does not need it */
    return o;
}

int local_view_explain(struct buf *b, json_t **j)
{
    struct scaler_view *v = xcalloc(1, sizeof(*v));
    local_view_read(v);
    int rc = 0;
    if (!v->have_local) {
        cli_error("no local autoscaler is running (start one with `memectl up --autoscale`)");
        rc = EXIT_FAIL;
        goto out;
    }
    const struct autoscaler_view *l = &v->local;
    double now = wall_now();
    buf_printf(b, "Local autoscaler: ScaledObject %s (%s)\n", l->name, l->source);
    buf_printf(b, "  replicas %d..%d, pollingInterval %ds, cooldownPeriod %ds; HPA behavior %s\n",
               l->min, l->max, l->polling_s, l->cooldown_s,
               l->behavior ? "from the ScaledObject" : "the documented default");
    buf_printf(b, "  trigger nats-jetstream stream %s consumer %s account %s\n", l->stream,
               l->consumer, l->account);
    /* KEDA's arithmetic on the last reading, with the function explain uses
     * for a cluster's ScaledObject. */
    struct kube_scaledobject so;
    memset(&so, 0, sizeof(so));
    so.min_replicas = l->min;
    so.max_replicas = l->max;
    so.ntriggers = 1;
    so.triggers[0].lag_threshold = l->threshold;
    so.triggers[0].activation_lag_threshold = l->activation;
    struct scale_keda_out ko;
    memset(&ko, 0, sizeof(ko));
    if (l->has_lag) {
        scale_keda(&so, 0, l->lag, &ko);
        buf_printf(b,
                   "    lag = num_pending + num_ack_pending = %lld + %lld = %lld (from %s, %.0fs "
                   "ago)\n",
                   (long long)l->pending, (long long)l->ack_pending, (long long)l->lag, l->monitor,
                   ago(now, l->updated));
        buf_printf(b, "    activation: %lld %s activationLagThreshold %lld -> %s\n",
                   (long long)l->lag, ko.active ? ">" : "<=", (long long)ko.activation,
                   ko.active ? "active" : "not active");
        buf_printf(b, "    ceil(lag / lagThreshold) = ceil(%lld / %lld) = %d\n", (long long)l->lag,
                   (long long)ko.threshold, ko.wanted);
    } else {
        buf_printf(b, "    lag unknown: %s\n", l->error);
    }
    buf_printf(b, "  decision at the last poll: %s: %s\n", l->reason, l->why);
    buf_printf(b, "  => %d workers (%d running)\n", l->desired, l->replicas);
    if (l->has_last)
        buf_printf(b, "  last change: %d -> %d by %s %.0fs ago (%s)\n", l->last_from, l->last_to,
                   l->last_by, ago(now, l->last_at), l->last_reason);
    if (l->next_at > 0)
        buf_printf(b, "  next possible change: in %.0fs, %s\n",
                   l->next_at - now > 0 ? l->next_at - now : 0, l->next_why);
    else
        buf_printf(b, "  next possible change: %s\n", l->next_why);
    if (l->min == 0)
        buf_printf(b,
                   "  cooldown: after %ds without activity KEDA's rule scales the workers to 0; "
                   "above zero the HPA's rules decide\n",
                   l->cooldown_s);
    if (j) {
        json_t *o = local_view_json(v);
        json_object_set_new(o, "kind", json_string("LocalAutoscaler"));
        json_object_set_new(o, "wantedReplicas",
                            l->has_lag ? json_integer(ko.wanted) : json_null());
        *j = o;
    }
out:
    free(v);
    return rc;
}
