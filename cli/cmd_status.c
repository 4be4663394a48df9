/*
 * memectl status, watch and explain: the three autoscalers and the queue
 * behind them on one screen. status reads the cluster once (lib/kube/kube_status)
 * and the JetStream consumer once (lib/mq/mq), joins each scaler to what it
 * scales and prints text, a wide form or JSON; watch keeps the same screen
 * current through Kubernetes watches and a poll of at least 2 s for what
 * has no watch (the queue, PodMetrics), with sparklines of lag and replicas;
 * explain shows the arithmetic behind one scaler's replica count
 * (lib/kube/scale).
 */
#include "cli.h"
#include "kube/kube.h"
#include "kube/kube_status.h"
#include "mq/proto.h"
#include "kube/scale.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    ST_KUBECONFIG = 1000,
    ST_CONTEXT,
    ST_STREAM,
    ST_CONSUMER,
    ST_INTERVAL,
    ST_COUNT,
    ST_JSON,
    ST_NAMESPACE = 'n',
    ST_ALL = 'A',
    ST_OUTPUT = 'o',
};

#define OPT_KUBECONFIG                                                                             \
    {                                                                                              \
        ST_KUBECONFIG, 0, "kubeconfig", "FILE",                                                    \
            "kubeconfig to use (default $KUBECONFIG, else ~/.kube/config, else in-cluster)", NULL  \
    }
#define OPT_CONTEXT                                                                                \
    {                                                                                              \
        ST_CONTEXT, 0, "context", "NAME", "kubeconfig context (default its current-context)",      \
            "@contexts"                                                                            \
    }
#define OPT_QUEUE                                                                                  \
    {ST_STREAM, 0, "stream", "NAME", "JetStream stream (default MEMES)", NULL},                    \
    {                                                                                              \
        ST_CONSUMER, 0, "consumer", "NAME", "durable consumer (default meme-generator)", NULL      \
    }

const struct opt_spec status_opts[] = {
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    {ST_NAMESPACE, 'n', "namespace", "NS",
     "look in NS (repeatable; default the stack's namespaces)", "@namespaces"},
    {ST_ALL, 'A', "all-namespaces", NULL, "look in every namespace", NULL},
    {ST_OUTPUT, 'o', "output", "FORMAT", "text, wide or json", "text wide json"},
    OPT_QUEUE,
    {0, 0, NULL, NULL, NULL, NULL},
};

const struct opt_spec watch_opts[] = {
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    {ST_NAMESPACE, 'n', "namespace", "NS",
     "look in NS (repeatable; default the stack's namespaces)", "@namespaces"},
    {ST_ALL, 'A', "all-namespaces", NULL, "look in every namespace", NULL},
    {ST_OUTPUT, 'o', "output", "FORMAT", "text or wide", "text wide"},
    {ST_INTERVAL, 0, "interval", "SECONDS",
     "how often to read the queue and pod metrics (at least 2; default 2)", NULL},
    {ST_COUNT, 0, "count", "N", "stop after N screens (default: until Ctrl-C)", NULL},
    OPT_QUEUE,
    {0, 0, NULL, NULL, NULL, NULL},
};

const struct opt_spec explain_opts[] = {
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    {ST_NAMESPACE, 'n', "namespace", "NS",
     "the scaler's namespace (default: found in the stack's namespaces)", "@namespaces"},
    {ST_OUTPUT, 'o', "output", "FORMAT", "text or json", "text json"},
    {ST_JSON, 0, "json", NULL, "same as -o json", NULL},
    OPT_QUEUE,
    {0, 0, NULL, NULL, NULL, NULL},
};

enum out_format { OUT_TEXT, OUT_WIDE, OUT_JSON };

struct st_args {
    const char *kubeconfig;
    const char *ns[16];
    int nns;
    bool all;
    enum out_format out;
    const char *stream, *consumer;
    double interval;
    long count;
};

/* What one screen shows: the cluster (or why not) and the queue (or why not). */
struct st_view {
    bool have_cluster;
    char cluster_error[600];
    int cluster_code;
    char context[128];
    char server[256];
    struct kube_status ks;
    bool have_queue;
    char queue_error[600];
    char queue_url[512];
    struct mq_depth q;
};

static int parse_args(const struct cmd_spec *cmd, int argc, char **argv, struct st_args *a,
                      struct opt_iter *it)
{
    memset(a, 0, sizeof(*a));
    a->stream = PROTO_STREAM;
    a->consumer = PROTO_CONSUMER;
    a->interval = 2;
    int r;
    opt_init(it, cmd, argc, argv);
    while ((r = opt_next(it)) > 0) {
        char *end = NULL;
        switch (it->key) {
        case 'h':
            return -1;
        case ST_KUBECONFIG:
            a->kubeconfig = it->value;
            break;
        case ST_CONTEXT:
            config_set_flag(CFG_CONTEXT, it->value);
            break;
        case ST_NAMESPACE:
            if (a->nns >= 16) {
                cmd_usage_error(cmd, "at most 16 namespaces");
                return EXIT_USAGE;
            }
            a->ns[a->nns++] = it->value;
            break;
        case ST_ALL:
            a->all = true;
            break;
        case ST_OUTPUT:
            if (strcmp(it->value, "text") == 0)
                a->out = OUT_TEXT;
            else if (strcmp(it->value, "wide") == 0 && cmd->opts != explain_opts)
                a->out = OUT_WIDE;
            else if (strcmp(it->value, "json") == 0 && cmd->opts != watch_opts)
                a->out = OUT_JSON;
            else {
                cmd_usage_error(cmd, "--output must be %s, not \"%s\"",
                                cmd->opts == status_opts    ? "text, wide or json"
                                : cmd->opts == explain_opts ? "text or json"
                                                            : "text or wide",
                                it->value);
                return EXIT_USAGE;
            }
            break;
        case ST_JSON:
            a->out = OUT_JSON;
            break;
        case ST_STREAM:
            a->stream = it->value;
            break;
        case ST_CONSUMER:
            a->consumer = it->value;
            break;
        case ST_INTERVAL:
            errno = 0;
            a->interval = strtod(it->value, &end);
            if (errno || !end || *end || !(a->interval >= 2) || a->interval > 3600) {
                cmd_usage_error(cmd,
                                "--interval must be a number of seconds from 2 to 3600, not "
                                "\"%s\"",
                                it->value);
                return EXIT_USAGE;
            }
            break;
        case ST_COUNT:
            errno = 0;
            a->count = strtol(it->value, &end, 10);
            if (errno || !end || *end || a->count < 1) {
                cmd_usage_error(cmd, "--count must be a whole number above 0, not \"%s\"",
                                it->value);
                return EXIT_USAGE;
            }
            break;
        }
    }
    if (r < 0)
        return EXIT_USAGE;
    if (a->all && a->nns) {
        cmd_usage_error(cmd, "--all-namespaces and --namespace exclude each other");
        return EXIT_USAGE;
    }
    if (!a->all && a->nns == 0) {
        const char *ns = config_get(CFG_NAMESPACE);
        if (ns && *ns)
            a->ns[a->nns++] = ns;
        else
            for (int i = 0; i < KUBE_STATUS_DEFAULT_NS_COUNT; i++)
                a->ns[a->nns++] = kube_status_default_namespaces[i];
    }
    return 0;
}

/* A client for the configured cluster, or NULL with err filled. */
static struct kube_client *cluster_connect(const struct st_args *a, struct meme_err *err)
{
    struct kube_config cfg;
    struct kube_config_opts o;
    memset(&o, 0, sizeof(o));
    o.kubeconfig = a->kubeconfig;
    o.context = config_get(CFG_CONTEXT);
    if (kube_config_load(&cfg, &o, err) != 0)
        return NULL;
    struct kube_client *c = kube_client_new(&cfg);
    kube_client_set_timeout(c, 8000);
    return c;
}

static void read_queue(struct cli *cli, const struct st_args *a, struct st_view *v)
{
    struct mq_conn mq;
    struct mq_connect_opts co;
    struct meme_err err = {0};
    cli_resolve_server(cli);
    mq_url_redacted(cli->server, v->queue_url, sizeof(v->queue_url));
    cli_connect_opts(cli, &co, "memectl status");
    co.timeout_ms = 1500;
    if (mq_connect(&mq, &co, &err) == 0 && mq_depth(&mq, a->stream, a->consumer, &v->q, &err) == 0)
        v->have_queue = true;
    else
        snprintf(v->queue_error, sizeof(v->queue_error), "%s", err.msg);
    mq_close(&mq);
}

static void read_cluster(struct kube_client *kc, const struct st_args *a, struct st_view *v)
{
    struct meme_err err = {0};
    const struct kube_config *cfg = kube_client_config(kc);
    snprintf(v->context, sizeof(v->context), "%s", cfg->context ? cfg->context : "");
    kube_config_server_shown(cfg, v->server, sizeof(v->server));
    int rc = kube_status_fetch(kc, a->all ? NULL : a->ns, a->all ? 0 : a->nns, &v->ks, &err);
    if (rc == 0) {
        v->have_cluster = true;
    } else {
        v->cluster_code = rc;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
}

/* ---- formatting helpers ---- */

static const char *cpu_str(const struct kube_quantity *q, bool has, char *buf, size_t n)
{
    if (!has)
        return "-";
    return kube_quantity_format(q, false, buf, n);
}

static const char *mem_str(const struct kube_quantity *q, bool has, char *buf, size_t n)
{
    if (!has)
        return "-";
    return kube_quantity_format(q, true, buf, n);
}

static const char *yesno(bool b, const char *yes, const char *no)
{
    return b ? yes : no;
}

/* A metric's current and target as text ("45% of request", "5750m"). */
static void metric_text(const struct kube_hpa_metric *m, char *cur, size_t cn, char *tgt, size_t tn)
{
    char q[32];
    if (m->target_type == KUBE_TARGET_UTILIZATION) {
        if (m->has_current_util)
            snprintf(cur, cn, "%d%% of request", m->current_util);
        else
            snprintf(cur, cn, "unknown");
        snprintf(tgt, tn, "%d%%", m->target_util);
        return;
    }
    if (m->has_current)
        snprintf(cur, cn, "%s%s", kube_quantity_format(&m->current, false, q, sizeof(q)),
                 m->target_type == KUBE_TARGET_AVERAGE_VALUE ? " per pod" : "");
    else
        snprintf(cur, cn, "unknown");
    snprintf(tgt, tn, "%s", kube_quantity_format(&m->target, false, q, sizeof(q)));
}

/* Lag from the HPA KEDA made: its external metric is lag per replica. */
static bool hpa_lag(const struct kube_hpa *h, int64_t *lag)
{
    if (!h)
        return false;
    for (int i = 0; i < h->nmetrics; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        if (strcmp(m->type, "External") != 0 || !m->has_current)
            continue;
        __int128 total = m->target_type == KUBE_TARGET_AVERAGE_VALUE
                             ? m->current.nano * (h->current_replicas > 0 ? h->current_replicas : 1)
                             : m->current.nano;
        *lag = (int64_t)((total + 999999999) / 1000000000);
        return true;
    }
    return false;
}

static const char *limited_text(const struct kube_hpa *h)
{
    const struct kube_condition *c =
        kube_condition_find(h->conditions, h->nconditions, "ScalingLimited");
    if (!c)
        return "";
    return c->reason;
}

static void print_conditions(struct buf *b, const struct kube_condition *c, int n)
{
    for (int i = 0; i < n; i++)
        buf_printf(b, "  %-10s %s %s%s%s\n", i == 0 ? "conditions" : "", c[i].type, c[i].status,
                   c[i].reason[0] ? " " : "", c[i].reason);
}

static void print_pods(struct buf *b, const struct kube_status *ks, const struct kube_workload *w)
{
    if (!w)
        return;
    for (int i = 0; i < ks->npods; i++) {
        const struct kube_pod *p = &ks->pods[i];
        if (!kube_status_pod_of(p, w))
            continue;
        char cpu[32] = "-", mem[32] = "-";
        for (int k = 0; k < ks->nmetrics; k++)
            if (strcmp(ks->metrics[k].meta.ns, p->meta.ns) == 0 &&
                strcmp(ks->metrics[k].meta.name, p->meta.name) == 0) {
                cpu_str(&ks->metrics[k].usage.cpu, ks->metrics[k].usage.has_cpu, cpu, sizeof(cpu));
                mem_str(&ks->metrics[k].usage.memory, ks->metrics[k].usage.has_memory, mem,
                        sizeof(mem));
            }
        buf_printf(b, "  pod        %-44s %-9s %-7s %-10s cpu %-6s mem %s\n", p->meta.name,
                   p->phase, p->ready ? "ready" : "unready", p->node, cpu, mem);
    }
}

static void render_hpa(struct buf *b, const struct kube_status *ks, const struct kube_hpa *h,
                       bool wide)
{
    const struct kube_workload *w =
        kube_status_workload(ks, h->meta.ns, h->target.kind, h->target.name);
    struct kube_pods_summary ps;
    kube_status_pods_of(ks, w, &ps);
    buf_printf(b, "HPA %s/%s -> %s %s\n", h->meta.ns, h->meta.name, h->target.kind, h->target.name);
    buf_printf(b, "  %-10s %d current, %d desired (min %d, max %d)", "replicas",
               h->current_replicas, h->desired_replicas, h->min_replicas, h->max_replicas);
    if (w)
        buf_printf(b, "; pods %d/%d ready\n", w->ready, w->spec_replicas);
    else
        buf_printf(b, "; %s %s not found\n", h->target.kind, h->target.name);
    for (int i = 0; i < h->nmetrics; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        char cur[64], tgt[64];
        metric_text(m, cur, sizeof(cur), tgt, sizeof(tgt));
        buf_printf(b, "  %-10s %-22s target %-8s", m->name, cur, tgt);
        double c = m->target_type == KUBE_TARGET_UTILIZATION ? m->current_util
                                                             : kube_quantity_double(&m->current);
        double t = m->target_type == KUBE_TARGET_UTILIZATION ? m->target_util
                                                             : kube_quantity_double(&m->target);
        if ((m->has_current_util || m->has_current) && t > 0)
            buf_printf(b, " ratio %.2f", c / t);
        buf_putc(b, '\n');
    }
    const char *lim = limited_text(h);
    if (*lim)
        buf_printf(b, "  %-10s %s\n", "limited", lim);
    if (wide) {
        buf_printf(b, "  %-10s scale-up window %ds, scale-down window %ds%s\n", "behavior",
                   h->up.window_s, h->down.window_s, h->has_behavior ? "" : " (defaults)");
        print_conditions(b, h->conditions, h->nconditions);
        print_pods(b, ks, w);
    }
}

static void render_so(struct buf *b, const struct st_view *v, const struct kube_scaledobject *so,
                      bool wide)
{
    const struct kube_status *ks = &v->ks;
    const struct kube_hpa *h = kube_status_hpa(ks, so->meta.ns, so->hpa_name);
    const struct kube_workload *w =
        kube_status_workload(ks, so->meta.ns, so->target.kind, so->target.name);
    buf_printf(b, "KEDA %s/%s -> %s %s\n", so->meta.ns, so->meta.name, so->target.kind,
               so->target.name);
    buf_printf(b, "  %-10s ", "replicas");
    if (h)
        buf_printf(b, "%d current, %d desired", h->current_replicas, h->desired_replicas);
    else if (w)
        buf_printf(b, "%d current", w->spec_replicas);
    else
        buf_printf(b, "unknown");
    buf_printf(b, " (min %d, max %d)", so->min_replicas, so->max_replicas);
    if (w)
        buf_printf(b, "; pods %d/%d ready", w->ready, w->spec_replicas);
    buf_printf(b, "; HPA %s%s\n", so->hpa_name, h ? "" : " (not found)");
    const struct kube_condition *cs = so->conditions;
    int n = so->nconditions;
    buf_printf(b, "  %-10s %s, %s, %s, %s\n", "state",
               yesno(kube_condition_true(cs, n, "Ready"), "ready", "NOT READY"),
               yesno(kube_condition_true(cs, n, "Active"), "active", "idle"),
               yesno(so->paused, "PAUSED", "not paused"),
               yesno(kube_condition_true(cs, n, "Fallback"), "FALLBACK", "no fallback"));
    if (!kube_condition_true(cs, n, "Ready")) {
        const struct kube_condition *r = kube_condition_find(cs, n, "Ready");
        if (r && r->message[0])
            buf_printf(b, "  %-10s %s\n", "why", r->message);
    }
    for (int i = 0; i < so->ntriggers; i++) {
        const struct kube_trigger *t = &so->triggers[i];
        int64_t lag = 0;
        bool from_nats =
            v->have_queue && strcmp(t->type, "nats-jetstream") == 0 && strcmp(t->stream, "") != 0;
        if (from_nats)
            lag = (int64_t)v->q.lag;
        bool known = from_nats || hpa_lag(h, &lag);
        buf_printf(b, "  %-10s %s", "trigger", t->type);
        if (t->stream[0])
            buf_printf(b, " %s/%s", t->stream, t->consumer);
        buf_putc(b, '\n');
        buf_printf(b, "  %-10s ", "lag");
        if (known)
            buf_printf(b, "%lld (%s)", (long long)lag, from_nats ? "queue" : "HPA metric");
        else
            buf_printf(b, "unknown");
        buf_printf(b, " vs lagThreshold %lld; active when lag > %lld\n",
                   (long long)t->lag_threshold, (long long)t->activation_lag_threshold);
    }
    if (wide) {
        buf_printf(b, "  %-10s pollingInterval %ds, cooldownPeriod %ds\n", "timing", so->polling_s,
                   so->cooldown_s);
        print_conditions(b, so->conditions, so->nconditions);
        print_pods(b, ks, w);
    }
}

/* The requests of the named container (or the first) of a workload. */
static const struct kube_resources *requests_of(const struct kube_workload *w, const char *name)
{
    if (!w)
        return NULL;
    for (int i = 0; i < w->ncontainers; i++)
        if (strcmp(w->containers[i].name, name) == 0)
            return &w->containers[i].requests;
    return NULL;
}

static void render_vpa(struct buf *b, const struct kube_status *ks, const struct kube_vpa *vp,
                       bool wide)
{
    const struct kube_workload *w =
        kube_status_workload(ks, vp->meta.ns, vp->target.kind, vp->target.name);
    struct kube_pods_summary ps;
    kube_status_pods_of(ks, w, &ps);
    buf_printf(b, "VPA %s/%s -> %s %s\n", vp->meta.ns, vp->meta.name, vp->target.kind,
               vp->target.name);
    buf_printf(b, "  %-10s updateMode %s", "policy", vp->update_mode);
    if (vp->has_min_replicas)
        buf_printf(b, ", minReplicas %d", vp->min_replicas);
    if (w)
        buf_printf(b, "; pods %d/%d ready", w->ready, w->spec_replicas);
    buf_putc(b, '\n');
    if (vp->nrecs == 0)
        buf_printf(b, "  %-10s no recommendation yet\n", "target");
    for (int i = 0; i < vp->nrecs; i++) {
        const struct kube_vpa_container *r = &vp->recs[i];
        const struct kube_resources *req = requests_of(w, r->name);
        char a1[32], a2[32], a3[32], a4[32], a5[32];
        buf_printf(b, "  %-10s cpu    request %-7s target %-7s range %s..%s", r->name,
                   req ? cpu_str(&req->cpu, req->has_cpu, a1, 32) : "-",
                   cpu_str(&r->target.cpu, r->target.has_cpu, a2, 32),
                   cpu_str(&r->lower.cpu, r->lower.has_cpu, a3, 32),
                   cpu_str(&r->upper.cpu, r->upper.has_cpu, a4, 32));
        if (ps.usage.has_cpu)
            buf_printf(b, "  usage %s", cpu_str(&ps.usage.cpu, true, a5, 32));
        buf_putc(b, '\n');
        buf_printf(b, "  %-10s memory request %-7s target %-7s range %s..%s", "",
                   req ? mem_str(&req->memory, req->has_memory, a1, 32) : "-",
                   mem_str(&r->target.memory, r->target.has_memory, a2, 32),
                   mem_str(&r->lower.memory, r->lower.has_memory, a3, 32),
                   mem_str(&r->upper.memory, r->upper.has_memory, a4, 32));
        if (ps.usage.has_memory)
            buf_printf(b, "  usage %s", mem_str(&ps.usage.memory, true, a5, 32));
        buf_putc(b, '\n');
    }
    if (wide) {
        print_conditions(b, vp->conditions, vp->nconditions);
        print_pods(b, ks, w);
    }
}

static void render_queue(struct buf *b, const struct st_args *a, const struct st_view *v)
{
    buf_printf(b, "Queue %s/%s at %s\n", a->stream, a->consumer, v->queue_url);
    if (!v->have_queue) {
        buf_printf(b, "  no queue: %s\n", v->queue_error);
        return;
    }
    buf_printf(b,
               "  %-10s %llu = %llu pending + %lld ack pending; %lld redelivered; %lld waiting "
               "pulls\n",
               "lag", (unsigned long long)v->q.lag, (unsigned long long)v->q.pending,
               (long long)v->q.ack_pending, (long long)v->q.redelivered, (long long)v->q.waiting);
}

static void conflicts_of(const struct kube_status *ks, char *out, size_t n)
{
    struct scale_set set = {ks->hpas, ks->nhpas, ks->sos, ks->nsos, ks->vpas, ks->nvpas};
    scale_conflicts(&set, out, n);
}

static const char *kind_label(enum kube_kind k)
{
    switch (k) {
    case KUBE_KIND_HPA:
        return "HorizontalPodAutoscalers";
    case KUBE_KIND_SCALEDOBJECT:
        return "KEDA ScaledObjects (is KEDA installed?)";
    case KUBE_KIND_VPA:
        return "VerticalPodAutoscalers (is the VPA installed?)";
    case KUBE_KIND_PODMETRICS:
        return "pod metrics (is metrics-server installed?)";
    default:
        return kube_kind_resource(k);
    }
}

static void render_text(struct buf *b, const struct st_args *a, const struct st_view *v, bool wide)
{
    if (v->have_cluster) {
        buf_printf(b, "Kubernetes context %s at %s; ", v->context, v->server);
        if (a->all)
            buf_printf(b, "all namespaces\n");
        else {
            buf_printf(b, "namespace%s", a->nns > 1 ? "s" : "");
            for (int i = 0; i < a->nns; i++)
                buf_printf(b, "%s %s", i ? "," : "", a->ns[i]);
            buf_putc(b, '\n');
        }
    } else {
        buf_printf(b, "No cluster: %s\n", v->cluster_error);
    }
    buf_putc(b, '\n');
    if (v->have_cluster) {
        const struct kube_status *ks = &v->ks;
        int shown = 0;
        for (int i = 0; i < ks->nhpas; i++) {
            if (ks->hpas[i].keda_owner[0])
                continue; /* shown with its ScaledObject */
            render_hpa(b, ks, &ks->hpas[i], wide);
            buf_putc(b, '\n');
            shown++;
        }
        for (int i = 0; i < ks->nsos; i++) {
            render_so(b, v, &ks->sos[i], wide);
            buf_putc(b, '\n');
            shown++;
        }
        for (int i = 0; i < ks->nvpas; i++) {
            render_vpa(b, ks, &ks->vpas[i], wide);
            buf_putc(b, '\n');
            shown++;
        }
        if (!shown)
            buf_printf(b, "No autoscalers found.\n\n");
        for (int i = 0; i < ks->nproblems; i++) {
            const struct kube_status_problem *p = &ks->problems[i];
            if (p->code == MEME_E_NOT_FOUND && ks->missing[p->kind])
                buf_printf(b, "note: the cluster serves no %s\n", kind_label(p->kind));
            else
                buf_printf(b, "note: %s\n", p->msg);
        }
        if (ks->nproblems)
            buf_putc(b, '\n');
    }
    render_queue(b, a, v);
    if (v->have_cluster) {
        char c[4096];
        conflicts_of(&v->ks, c, sizeof(c));
        if (c[0]) {
            buf_printf(b, "\nwarning: autoscalers in conflict:\n");
            for (char *line = c, *nl; *line; line = nl + 1) {
                nl = strchr(line, '\n');
                if (!nl)
                    break;
                buf_printf(b, "  %.*s\n", (int)(nl - line), line);
            }
        }
    }
}

/* ---- JSON ---- */

static json_t *milli_json(const struct kube_quantity *q, bool has)
{
    return has ? json_integer(kube_quantity_milli(q)) : json_null();
}

static json_t *bytes_json(const struct kube_quantity *q, bool has)
{
    return has ? json_integer(kube_quantity_value(q)) : json_null();
}

static json_t *quantity_json(const struct kube_quantity *q, bool has)
{
    if (!has)
        return json_null();
    /* exact to the milli-unit: the form the API uses for metric values */
    return json_real((double)kube_quantity_milli(q) / 1000.0);
}

static json_t *ref_json(const char *ns, const struct kube_ref *r, const struct kube_workload *w)
{
    json_t *o = json_pack("{s:s,s:s,s:s}", "namespace", ns, "kind", r->kind, "name", r->name);
    if (w)
        json_object_set_new(o, "pods",
                            json_pack("{s:i,s:i,s:i}", "desired", w->spec_replicas, "ready",
                                      w->ready, "available", w->available));
    else
        json_object_set_new(o, "pods", json_null());
    return o;
}

static json_t *conditions_json(const struct kube_condition *c, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:s,s:s}", "type", c[i].type, "status",
                                           c[i].status, "reason", c[i].reason, "message",
                                           c[i].message));
    return a;
}

static const char *target_type_name(enum kube_target_type t)
{
    return t == KUBE_TARGET_UTILIZATION ? "Utilization"
           : t == KUBE_TARGET_VALUE     ? "Value"
                                        : "AverageValue";
}

static json_t *hpa_json(const struct kube_status *ks, const struct kube_hpa *h)
{
    const struct kube_workload *w =
        kube_status_workload(ks, h->meta.ns, h->target.kind, h->target.name);
    json_t *metrics = json_array();
    for (int i = 0; i < h->nmetrics; i++) {
        const struct kube_hpa_metric *m = &h->metrics[i];
        json_t *o = json_pack("{s:s,s:s,s:s}", "type", m->type, "name", m->name, "targetType",
                              target_type_name(m->target_type));
        if (m->target_type == KUBE_TARGET_UTILIZATION) {
            json_object_set_new(o, "targetUtilization", json_integer(m->target_util));
            json_object_set_new(o, "currentUtilization",
                                m->has_current_util ? json_integer(m->current_util) : json_null());
            if (m->has_current_util && m->target_util > 0)
                json_object_set_new(o, "ratio",
                                    json_real((double)m->current_util / m->target_util));
        } else {
            json_object_set_new(o, "target", quantity_json(&m->target, true));
            json_object_set_new(o, "current", quantity_json(&m->current, m->has_current));
            double t = kube_quantity_double(&m->target);
            if (m->has_current && t > 0)
                json_object_set_new(o, "ratio", json_real(kube_quantity_double(&m->current) / t));
        }
        json_array_append_new(metrics, o);
    }
    const char *lim = limited_text(h);
    return json_pack("{s:s,s:s,s:o,s:i,s:i,s:i,s:i,s:o,s:s,s:o,s:s?}", "namespace", h->meta.ns,
                     "name", h->meta.name, "target", ref_json(h->meta.ns, &h->target, w),
                     "minReplicas", h->min_replicas, "maxReplicas", h->max_replicas,
                     "currentReplicas", h->current_replicas, "desiredReplicas", h->desired_replicas,
                     "metrics", metrics, "limited", lim, "conditions",
                     conditions_json(h->conditions, h->nconditions), "lastScaleTime",
                     h->last_scale[0] ? h->last_scale : NULL);
}

static json_t *so_json(const struct st_view *v, const struct kube_scaledobject *so)
{
    const struct kube_status *ks = &v->ks;
    const struct kube_hpa *h = kube_status_hpa(ks, so->meta.ns, so->hpa_name);
    const struct kube_workload *w =
        kube_status_workload(ks, so->meta.ns, so->target.kind, so->target.name);
    json_t *trig = json_array();
    for (int i = 0; i < so->ntriggers; i++) {
        const struct kube_trigger *t = &so->triggers[i];
        int64_t lag = 0;
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I}", "type", t->type, "stream", t->stream,
                              "consumer", t->consumer, "lagThreshold", (json_int_t)t->lag_threshold,
                              "activationLagThreshold", (json_int_t)t->activation_lag_threshold);
        if (v->have_queue && strcmp(t->type, "nats-jetstream") == 0) {
            json_object_set_new(o, "lag", json_integer((json_int_t)v->q.lag));
            json_object_set_new(o, "lagSource", json_string("queue"));
        } else if (hpa_lag(h, &lag)) {
            json_object_set_new(o, "lag", json_integer(lag));
            json_object_set_new(o, "lagSource", json_string("hpa"));
        } else {
            json_object_set_new(o, "lag", json_null());
        }
        json_array_append_new(trig, o);
    }
    const struct kube_condition *c = so->conditions;
    int n = so->nconditions;
    json_t *o = json_pack(
        "{s:s,s:s,s:o,s:i,s:i,s:i,s:i,s:s,s:b,s:b,s:b,s:b,s:o,s:o}", "namespace", so->meta.ns,
        "name", so->meta.name, "target", ref_json(so->meta.ns, &so->target, w), "minReplicas",
        so->min_replicas, "maxReplicas", so->max_replicas, "pollingInterval", so->polling_s,
        "cooldownPeriod", so->cooldown_s, "hpa", so->hpa_name, "ready",
        kube_condition_true(c, n, "Ready"), "active", kube_condition_true(c, n, "Active"), "paused",
        so->paused, "fallback", kube_condition_true(c, n, "Fallback"), "triggers", trig,
        "conditions", conditions_json(c, n));
    json_object_set_new(o, "currentReplicas", h ? json_integer(h->current_replicas) : json_null());
    json_object_set_new(o, "desiredReplicas", h ? json_integer(h->desired_replicas) : json_null());
    return o;
}

static json_t *res_json(const struct kube_resources *r, bool cpu)
{
    if (!r)
        return json_null();
    return cpu ? milli_json(&r->cpu, r->has_cpu) : bytes_json(&r->memory, r->has_memory);
}

static json_t *vpa_json(const struct kube_status *ks, const struct kube_vpa *vp)
{
    const struct kube_workload *w =
        kube_status_workload(ks, vp->meta.ns, vp->target.kind, vp->target.name);
    struct kube_pods_summary ps;
    kube_status_pods_of(ks, w, &ps);
    json_t *cs = json_array();
    for (int i = 0; i < vp->nrecs; i++) {
        const struct kube_vpa_container *r = &vp->recs[i];
        const struct kube_resources *req = requests_of(w, r->name);
        json_t *cpu =
            json_pack("{s:o,s:o,s:o,s:o,s:o}", "requestMillicores", res_json(req, true),
                      "targetMillicores", res_json(&r->target, true), "lowerBoundMillicores",
                      res_json(&r->lower, true), "upperBoundMillicores", res_json(&r->upper, true),
                      "usageMillicores", milli_json(&ps.usage.cpu, ps.usage.has_cpu));
        json_t *mem =
            json_pack("{s:o,s:o,s:o,s:o,s:o}", "requestBytes", res_json(req, false), "targetBytes",
                      res_json(&r->target, false), "lowerBoundBytes", res_json(&r->lower, false),
                      "upperBoundBytes", res_json(&r->upper, false), "usageBytes",
                      bytes_json(&ps.usage.memory, ps.usage.has_memory));
        json_array_append_new(
            cs, json_pack("{s:s,s:o,s:o}", "name", r->name, "cpu", cpu, "memory", mem));
    }
    json_t *o =
        json_pack("{s:s,s:s,s:o,s:s,s:o,s:o}", "namespace", vp->meta.ns, "name", vp->meta.name,
                  "target", ref_json(vp->meta.ns, &vp->target, w), "updateMode", vp->update_mode,
                  "containers", cs, "conditions", conditions_json(vp->conditions, vp->nconditions));
    json_object_set_new(o, "minReplicas",
                        vp->has_min_replicas ? json_integer(vp->min_replicas) : json_null());
    return o;
}

static json_t *status_json(const struct st_args *a, const struct st_view *v)
{
    json_t *root = json_object();
    json_t *ns = json_array();
    for (int i = 0; !a->all && i < a->nns; i++)
        json_array_append_new(ns, json_string(a->ns[i]));
    json_t *cluster = json_pack("{s:b,s:o}", "available", v->have_cluster, "namespaces",
                                a->all ? json_string("*") : ns);
    if (!a->all)
        ns = NULL;
    else
        json_decref(ns);
    if (v->have_cluster) {
        json_object_set_new(cluster, "context", json_string(v->context));
        json_object_set_new(cluster, "server", json_string(v->server));
    } else {
        json_object_set_new(cluster, "error", json_string(v->cluster_error));
    }
    json_object_set_new(root, "cluster", cluster);
    json_t *hpas = json_array(), *sos = json_array(), *vpas = json_array(),
           *conflicts = json_array(), *problems = json_array();
    if (v->have_cluster) {
        const struct kube_status *ks = &v->ks;
        for (int i = 0; i < ks->nhpas; i++)
            if (!ks->hpas[i].keda_owner[0])
                json_array_append_new(hpas, hpa_json(ks, &ks->hpas[i]));
        for (int i = 0; i < ks->nsos; i++) {
            json_t *o = so_json(v, &ks->sos[i]);
            const struct kube_hpa *h = kube_status_hpa(ks, ks->sos[i].meta.ns, ks->sos[i].hpa_name);
            json_object_set_new(o, "hpaStatus", h ? hpa_json(ks, h) : json_null());
            json_array_append_new(sos, o);
        }
        for (int i = 0; i < ks->nvpas; i++)
            json_array_append_new(vpas, vpa_json(ks, &ks->vpas[i]));
        char c[4096];
        conflicts_of(ks, c, sizeof(c));
        for (char *line = c, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1)
            json_array_append_new(conflicts, json_stringn(line, (size_t)(nl - line)));
        for (int i = 0; i < ks->nproblems; i++)
            json_array_append_new(problems, json_pack("{s:s,s:s,s:b}", "resource",
                                                      kube_kind_resource(ks->problems[i].kind),
                                                      "message", ks->problems[i].msg, "notServed",
                                                      ks->missing[ks->problems[i].kind]));
    }
    json_object_set_new(root, "hpas", hpas);
    json_object_set_new(root, "scaledObjects", sos);
    json_object_set_new(root, "vpas", vpas);
    json_t *q = json_pack("{s:s,s:s,s:s,s:b}", "stream", a->stream, "consumer", a->consumer,
                          "server", v->queue_url, "available", v->have_queue);
    if (v->have_queue) {
        json_object_set_new(q, "pending", json_integer((json_int_t)v->q.pending));
        json_object_set_new(q, "ackPending", json_integer(v->q.ack_pending));
        json_object_set_new(q, "lag", json_integer((json_int_t)v->q.lag));
        json_object_set_new(q, "redelivered", json_integer(v->q.redelivered));
        json_object_set_new(q, "waiting", json_integer(v->q.waiting));
    } else {
        json_object_set_new(q, "error", json_string(v->queue_error));
    }
    json_object_set_new(root, "queue", q);
    json_object_set_new(root, "conflicts", conflicts);
    json_object_set_new(root, "problems", problems);
    return root;
}

/* Exit status: 0 when something was shown; the cluster's failure otherwise. */
static int view_exit(const struct st_view *v)
{
    if (v->have_cluster || v->have_queue)
        return EXIT_OK;
    return cli_exit_for(v->cluster_code);
}

struct queue_job {
    struct cli *cli;
    const struct st_args *a;
    struct st_view *v;
};

static void *queue_main(void *arg)
{
    struct queue_job *j = arg;
    read_queue(j->cli, j->a, j->v);
    return NULL;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    struct st_args a;
    struct opt_iter it;
    int rc = parse_args(cli->cmd, argc, argv, &a, &it);
    if (rc) {
        opt_release(&it);
        return rc < 0 ? EXIT_OK : rc;
    }
    struct st_view *v = xcalloc(1, sizeof(*v));
    struct meme_err err = {0};
    /* The queue and the cluster are read at the same time: each costs a few
     * milliseconds of connection set-up. */
    struct queue_job qj = {cli, &a, v};
    pthread_t qt;
    cli_resolve_server(cli);
    bool threaded = pthread_create(&qt, NULL, queue_main, &qj) == 0;
    struct kube_client *kc = cluster_connect(&a, &err);
    if (kc) {
        read_cluster(kc, &a, v);
    } else {
        v->cluster_code = err.code;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
    if (threaded)
        pthread_join(qt, NULL);
    else
        read_queue(cli, &a, v);
    if (a.out == OUT_JSON) {
        json_t *j = status_json(&a, v);
        json_dumpf(j, stdout,
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) |
                       JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        struct buf b = BUF_INIT;
        render_text(&b, &a, v, a.out == OUT_WIDE);
        fwrite(b.data, 1, b.len, stdout);
        buf_release(&b);
    }
    rc = view_exit(v);
    kube_status_release(&v->ks);
    free(v);
    kube_client_free(kc);
    opt_release(&it);
    return rc;
}

/* ---- explain ---- */

/* Finds the scaler's namespace: -n, else the one stack namespace that has it. */
static int find_namespace(struct kube_client *kc, const struct st_args *a, enum kube_kind k,
                          const char *name, const char **ns, json_t **obj, struct meme_err *err)
{
    const char *const *cands = a->ns;
    int n = a->nns;
    int found = 0;
    int rc = MEME_E_NOT_FOUND;
    for (int i = 0; i < n; i++) {
        char *base = kube_kind_path(k, cands[i]);
        char *path = xasprintf("%s/%s", base, name);
        free(base);
        json_t *o = NULL;
        struct meme_err e = {0};
        int r = kube_get(kc, path, &o, &e);
        free(path);
        if (r == 0) {
            if (found++ == 0) {
                *ns = cands[i];
                *obj = o;
            } else {
                json_decref(o);
            }
            rc = 0;
        } else if (r != MEME_E_NOT_FOUND || strstr(e.msg, "CRD")) {
            if (err)
                *err = e;
            if (*obj)
                json_decref(*obj);
            *obj = NULL;
            return r;
        }
    }
    if (found > 1) {
        json_decref(*obj);
        *obj = NULL;
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "\"%s\" is in more than one namespace; pass --namespace", name);
    }
    if (rc)
        meme_err_set(err, MEME_E_NOT_FOUND, "no %s \"%s\" in namespace%s %s%s%s%s",
                     kube_kind_resource(k), name, n > 1 ? "s" : "", cands[0], n > 1 ? ", " : "",
                     n > 1 ? cands[1] : "", n > 2 ? ", ..." : "");
    return rc;
}

static void explain_hpa_math(struct buf *b, const struct kube_hpa *h, int ready)
{
    struct scale_hpa_in in;
    scale_hpa_input(h, ready, &in);
    struct scale_hpa_out out;
    scale_hpa(&in, &out);
    buf_printf(b, "  replicas now %d", h->current_replicas);
    if (ready > 0)
        buf_printf(b, " (%d ready)", ready);
    buf_printf(b, ", min %d, max %d\n", h->min_replicas, h->max_replicas);
    if (strcmp(out.reason, "ScalingDisabled") == 0 || h->current_replicas > h->max_replicas ||
        h->current_replicas < h->min_replicas) {
        buf_printf(b, "  %s -> %d\n", out.message, out.desired);
        goto result;
    }
    buf_printf(b,
               "  per metric: ratio = current / target; within +-%.0f%% of 1 nothing "
               "changes\n",
               SCALE_TOLERANCE * 100);
    for (int i = 0; i < in.nmetrics; i++) {
        const struct scale_metric_in *m = &in.metrics[i];
        const struct scale_metric_out *o = &out.metrics[i];
        char cur[64], tgt[64];
        metric_text(&h->metrics[i], cur, sizeof(cur), tgt, sizeof(tgt));
        buf_printf(b, "    %-10s ", m->label);
        if (o->proposal < 0) {
            buf_printf(b, "no current value: skipped\n");
            continue;
        }
        buf_printf(b, "%s / %s = %.3f", cur, tgt, o->ratio);
        int pods = ready > 0 && !m->external ? ready : h->current_replicas;
        if (o->within_tolerance)
            buf_printf(b, "  within tolerance: stays %d", o->proposal);
        else
            buf_printf(b, "  ceil(%.3f x %d) = %d", o->ratio, pods, o->proposal);
        buf_printf(b, "%s\n", i == out.chosen_metric ? "  <- highest" : "");
    }
    if (out.chosen_metric < 0) {
        buf_printf(b, "  %s\n", out.message);
        goto result;
    }
    buf_printf(b, "  max over metrics: %d\n", out.from_metrics);
    if (h->has_behavior)
        buf_printf(b,
                   "  stabilization: scale-up window %ds, scale-down window %ds -> %d "
                   "(assuming no earlier recommendation in the windows)\n",
                   h->up.window_s, h->down.window_s, out.stabilized);
    else
        buf_printf(b, "  no spec.behavior: the controller keeps the highest recommendation of "
                      "the last 300s and adds at most max(2 x current, 4)\n");
    if (out.up_limit && out.stabilized > h->current_replicas) {
        buf_printf(b, "  scale-up policies (select %s):",
                   h->up.select == KUBE_SELECT_MIN        ? "Min"
                   : h->up.select == KUBE_SELECT_DISABLED ? "Disabled"
                                                          : "Max");
        for (int i = 0; h->has_behavior && i < h->up.npolicies; i++)
            buf_printf(b, " %s %d per %ds;", h->up.policies[i].percent ? "Percent" : "Pods",
                       h->up.policies[i].value, h->up.policies[i].period_s);
        buf_printf(b, " limit %d\n", out.up_limit);
    }
    if (out.down_limit && out.stabilized < h->current_replicas) {
        buf_printf(b, "  scale-down policies (select %s):",
                   h->down.select == KUBE_SELECT_MIN        ? "Min"
                   : h->down.select == KUBE_SELECT_DISABLED ? "Disabled"
                                                            : "Max");
        for (int i = 0; i < h->down.npolicies; i++)
            buf_printf(b, " %s %d per %ds;", h->down.policies[i].percent ? "Percent" : "Pods",
                       h->down.policies[i].value, h->down.policies[i].period_s);
        buf_printf(b, " limit %d\n", out.down_limit);
    }
    buf_printf(b, "  clamp to [%d, %d]\n", h->min_replicas, h->max_replicas);
result:
    buf_printf(b, "  => %d replicas (%s: %s)\n", out.desired, out.reason, out.message);
    if (h->desired_replicas != out.desired) {
        buf_printf(b, "  the controller reports %d: ", h->desired_replicas);
        if (h->desired_replicas > out.desired && h->down.window_s > 0)
            buf_printf(b,
                       "a higher recommendation within the last %ds (the scale-down "
                       "stabilization window) holds it up\n",
                       h->down.window_s);
        else if (h->desired_replicas < out.desired)
            buf_printf(b, "a scale-up policy or window used up by recent scaling holds it "
                          "down, or the metrics moved since\n");
        else
            buf_printf(b, "the metrics moved since its last pass\n");
    } else {
        buf_printf(b, "  the controller reports %d: the same\n", h->desired_replicas);
    }
}

static int ready_of(struct kube_client *kc, const char *ns, const struct kube_ref *t)
{
    char *path =
        xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns,
                  strcmp(t->kind, "StatefulSet") == 0 ? "statefulsets" : "deployments", t->name);
    json_t *o = NULL;
    int ready = 0;
    if (kube_get(kc, path, &o, NULL) == 0) {
        struct kube_workload w;
        if (kube_workload_parse(o, &w, NULL) == 0)
            ready = w.ready;
    }
    json_decref(o);
    free(path);
    return ready;
}

/* Conflict warnings for one target: lists the namespace's scalers. */
static void explain_conflicts(struct buf *b, json_t *arr, struct kube_client *kc, const char *ns,
                              const char *target)
{
    struct kube_status ks;
    const char *one[1] = {ns};
    if (kube_status_fetch(kc, one, 1, &ks, NULL) == 0) {
        char c[4096];
        conflicts_of(&ks, c, sizeof(c));
        for (char *line = c, *nl; *line && (nl = strchr(line, '\n')); line = nl + 1) {
            *nl = 0;
            if (!strstr(line, target))
                continue;
            buf_printf(b, "warning: %s\n", line);
            if (arr)
                json_array_append_new(arr, json_string(line));
        }
    }
    kube_status_release(&ks);
}

/* ---- explain -o json: the same arithmetic as the text, as data ---- */

static const char *select_name(enum kube_select_policy s)
{
    return s == KUBE_SELECT_MIN ? "Min" : s == KUBE_SELECT_DISABLED ? "Disabled" : "Max";
}

/* One direction's select policy, policies and the limit they give;
 * applies tells whether the recommendation moved in that direction. */
static json_t *rules_json(const struct kube_hpa_rules *r, bool has_behavior, int limit,
                          bool applies)
{
    json_t *pol = json_array();
    for (int i = 0; has_behavior && i < r->npolicies; i++)
        json_array_append_new(pol, json_pack("{s:s,s:i,s:i}", "type",
                                             r->policies[i].percent ? "Percent" : "Pods", "value",
                                             r->policies[i].value, "periodSeconds",
                                             r->policies[i].period_s));
    return json_pack("{s:s,s:o,s:o,s:b}", "selectPolicy", select_name(r->select), "policies", pol,
                     "limit", limit ? json_integer(limit) : json_null(), "applies", applies);
}

/* The HPA controller's calculation for h (lib/kube/scale), as explain's text
 * shows it: per metric, max over metrics, stabilization, policies, clamp,
 * the result and what the controller reports. */
static json_t *explain_hpa_json(const char *ns, const struct kube_hpa *h, int ready)
{
    struct scale_hpa_in in;
    scale_hpa_input(h, ready, &in);
    struct scale_hpa_out out;
    scale_hpa(&in, &out);
    json_t *o = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:i,s:o,s:i,s:i,s:f}", "kind",
                          "HorizontalPodAutoscaler", "namespace", ns, "name", h->meta.name,
                          "target", "kind", h->target.kind, "name", h->target.name,
                          "currentReplicas", h->current_replicas, "readyReplicas",
                          ready > 0 ? json_integer(ready) : json_null(), "minReplicas",
                          h->min_replicas, "maxReplicas", h->max_replicas, "tolerance",
                          in.tolerance > 0 ? in.tolerance : SCALE_TOLERANCE);
    /* The early exits of the controller (scaling disabled, replicas outside
     * [min, max]) compute no metric: as in the text, none is listed. */
    bool early = strcmp(out.reason, "ScalingDisabled") == 0 ||
                 h->current_replicas > h->max_replicas || h->current_replicas < h->min_replicas;
    json_t *metrics = json_array();
    for (int i = 0; !early && i < in.nmetrics; i++) {
        const struct kube_hpa_metric *km = &h->metrics[i];
        const struct scale_metric_in *m = &in.metrics[i];
        const struct scale_metric_out *mo = &out.metrics[i];
        bool skipped = mo->proposal < 0;
        json_t *jm = json_pack("{s:s,s:s,s:s}", "type", km->type, "name", m->label, "targetType",
                               target_type_name(km->target_type));
        if (km->target_type == KUBE_TARGET_UTILIZATION) {
            json_object_set_new(jm, "currentUtilization",
                                km->has_current_util ? json_integer(km->current_util)
                                                     : json_null());
            json_object_set_new(jm, "targetUtilization", json_integer(km->target_util));
        } else {
            json_object_set_new(jm, "current", quantity_json(&km->current, km->has_current));
            json_object_set_new(jm, "target", quantity_json(&km->target, true));
        }
        int pods = ready > 0 && !m->external ? ready : h->current_replicas;
        json_object_set_new(jm, "skipped", json_boolean(skipped));
        json_object_set_new(jm, "ratio", skipped ? json_null() : json_real(mo->ratio));
        json_object_set_new(jm, "withinTolerance",
                            skipped ? json_null() : json_boolean(mo->within_tolerance));
        json_object_set_new(jm, "pods", skipped ? json_null() : json_integer(pods));
        json_object_set_new(jm, "proposedReplicas",
                            skipped ? json_null() : json_integer(mo->proposal));
        json_object_set_new(jm, "highest", json_boolean(i == out.chosen_metric));
        json_array_append_new(metrics, jm);
    }
    json_object_set_new(o, "metrics", metrics);
    bool computed = !early && out.chosen_metric >= 0;
    json_object_set_new(o, "maxOverMetrics",
                        computed ? json_integer(out.from_metrics) : json_null());
    if (computed) {
        json_object_set_new(
            o, "stabilization",
            json_pack("{s:b,s:i,s:i,s:i,s:b,s:b,s:o}", "behavior", h->has_behavior,
                      "scaleUpWindowSeconds", h->has_behavior ? h->up.window_s : 0,
                      "scaleDownWindowSeconds",
                      h->has_behavior ? h->down.window_s : SCALE_LEGACY_DOWN_WINDOW_S, "replicas",
                      out.stabilized, "heldUp", out.held_up, "heldDown", out.held_down,
                      "heldBySeconds",
                      out.held_up || out.held_down ? json_integer(out.window_s) : json_null()));
        json_object_set_new(o, "scaleUp",
                            rules_json(&h->up, h->has_behavior, out.up_limit,
                                       out.up_limit && out.stabilized > h->current_replicas));
        json_object_set_new(o, "scaleDown",
                            rules_json(&h->down, h->has_behavior, out.down_limit,
                                       out.down_limit && out.stabilized < h->current_replicas));
        json_object_set_new(o, "clamp",
                            json_pack("{s:i,s:i}", "min", h->min_replicas, "max", h->max_replicas));
    } else {
        json_object_set_new(o, "stabilization", json_null());
        json_object_set_new(o, "scaleUp", json_null());
        json_object_set_new(o, "scaleDown", json_null());
        json_object_set_new(o, "clamp", json_null());
    }
    json_object_set_new(o, "desiredReplicas", json_integer(out.desired));
    json_object_set_new(o, "reason", json_string(out.reason));
    json_object_set_new(o, "message", json_string(out.message));
    json_object_set_new(o, "reportedDesiredReplicas", json_integer(h->desired_replicas));
    json_object_set_new(o, "agrees", json_boolean(h->desired_replicas == out.desired));
    return o;
}

static const char *vpa_verdict_name(enum scale_vpa_verdict v)
{
    return v == SCALE_VPA_WITHIN ? "within" : v == SCALE_VPA_OUTSIDE ? "outside" : "none";
}

int cmd_explain(struct cli *cli, int argc, char **argv)
{
    struct st_args a;
    struct opt_iter it;
    int rc = parse_args(cli->cmd, argc, argv, &a, &it);
    if (rc) {
        opt_release(&it);
        return rc < 0 ? EXIT_OK : rc;
    }
    struct kube_client *kc = NULL;
    json_t *obj = NULL, *j = NULL;
    struct buf b = BUF_INIT;
    struct meme_err err = {0};
    if (it.npositional != 2) {
        cmd_usage_error(cli->cmd, "want a kind (hpa, scaledobject or vpa) and a name");
        rc = EXIT_USAGE;
        goto out;
    }
    const char *kind = it.positional[0], *name = it.positional[1];
    enum kube_kind k;
    if (strcmp(kind, "hpa") == 0 || strcmp(kind, "horizontalpodautoscaler") == 0)
        k = KUBE_KIND_HPA;
    else if (strcmp(kind, "scaledobject") == 0 || strcmp(kind, "so") == 0)
        k = KUBE_KIND_SCALEDOBJECT;
    else if (strcmp(kind, "vpa") == 0 || strcmp(kind, "verticalpodautoscaler") == 0)
        k = KUBE_KIND_VPA;
    else {
        cmd_usage_error(cli->cmd, "\"%s\" is not hpa, scaledobject or vpa", kind);
        rc = EXIT_USAGE;
        goto out;
    }
    kc = cluster_connect(&a, &err);
    const char *ns = NULL;
    if (!kc || find_namespace(kc, &a, k, name, &ns, &obj, &err) != 0) {
        cli_error("%s", err.msg);
        rc = cli_exit_for(err.code);
        goto out;
    }
    const char *target = NULL;
    char target_buf[KUBE_NAME_MAX + 64];
    if (k == KUBE_KIND_HPA) {
        struct kube_hpa h;
        kube_hpa_parse(obj, &h, NULL);
        buf_printf(&b, "HPA %s/%s -> %s %s\n", ns, h.meta.name, h.target.kind, h.target.name);
        int ready = ready_of(kc, ns, &h.target);
        explain_hpa_math(&b, &h, ready);
        if (a.out == OUT_JSON)
            j = explain_hpa_json(ns, &h, ready);
        snprintf(target_buf, sizeof(target_buf), " %s %s", h.target.kind, h.target.name);
        target = target_buf;
    } else if (k == KUBE_KIND_SCALEDOBJECT) {
        struct kube_scaledobject so;
        kube_scaledobject_parse(obj, &so, NULL);
        buf_printf(&b, "ScaledObject %s/%s -> %s %s\n", ns, so.meta.name, so.target.kind,
                   so.target.name);
        buf_printf(&b, "  replicas %d..%d, pollingInterval %ds, cooldownPeriod %ds%s\n",
                   so.min_replicas, so.max_replicas, so.polling_s, so.cooldown_s,
                   so.paused ? ", PAUSED" : "");
        char hp[KUBE_NAME_MAX + 64];
        snprintf(hp, sizeof(hp), "/apis/autoscaling/v2/namespaces/%s/horizontalpodautoscalers/%s",
                 ns, so.hpa_name);
        json_t *ho = NULL;
        struct kube_hpa h;
        bool have_hpa = kube_get(kc, hp, &ho, NULL) == 0 && kube_hpa_parse(ho, &h, NULL) == 0;
        json_decref(ho);
        struct st_view qv;
        memset(&qv, 0, sizeof(qv));
        read_queue(cli, &a, &qv);
        json_t *jtrig = NULL;
        if (a.out == OUT_JSON) {
            jtrig = json_array();
            j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s},s:i,s:i,s:i,s:i,s:b,s:o}", "kind",
                          "ScaledObject", "namespace", ns, "name", so.meta.name, "target", "kind",
                          so.target.kind, "name", so.target.name, "minReplicas", so.min_replicas,
                          "maxReplicas", so.max_replicas, "pollingInterval", so.polling_s,
                          "cooldownPeriod", so.cooldown_s, "paused", so.paused, "triggers", jtrig);
        }
        for (int i = 0; i < so.ntriggers; i++) {
            const struct kube_trigger *t = &so.triggers[i];
            json_t *jt = NULL;
            if (jtrig) {
                jt = json_pack("{s:s}", "type", t->type);
                if (t->stream[0]) {
                    json_object_set_new(jt, "stream", json_string(t->stream));
                    json_object_set_new(jt, "consumer", json_string(t->consumer));
                }
                json_array_append_new(jtrig, jt);
            }
            buf_printf(&b, "  trigger %s", t->type);
            if (t->stream[0])
                buf_printf(&b, " stream %s consumer %s", t->stream, t->consumer);
            buf_putc(&b, '\n');
            int64_t lag = 0;
            bool known = false;
            if (qv.have_queue && strcmp(t->type, "nats-jetstream") == 0) {
                lag = (int64_t)qv.q.lag;
                known = true;
                buf_printf(&b,
                           "    lag = num_pending + num_ack_pending = %llu + %lld = %lld "
                           "(from %s)\n",
                           (unsigned long long)qv.q.pending, (long long)qv.q.ack_pending,
                           (long long)lag, qv.queue_url);
                if (jt) {
                    json_object_set_new(jt, "lagSource", json_string("queue"));
                    json_object_set_new(jt, "pending", json_integer((json_int_t)qv.q.pending));
                    json_object_set_new(jt, "ackPending", json_integer(qv.q.ack_pending));
                }
            } else if (have_hpa && hpa_lag(&h, &lag)) {
                known = true;
                buf_printf(&b, "    lag = %lld (the HPA's metric x %d replicas; queue: %s)\n",
                           (long long)lag, h.current_replicas,
                           qv.have_queue ? "not a nats-jetstream trigger" : qv.queue_error);
                if (jt)
                    json_object_set_new(jt, "lagSource", json_string("hpa"));
            } else {
                buf_printf(&b, "    lag unknown (queue: %s)\n", qv.queue_error);
            }
            bool from_queue = qv.have_queue && strcmp(t->type, "nats-jetstream") == 0;
            if (jt && !from_queue)
                json_object_set_new(
                    jt, "queueError",
                    json_string(qv.have_queue ? "not a nats-jetstream trigger" : qv.queue_error));
            /* A property of the configuration: true whatever the lag is now. */
            if (t->activation_lag_threshold >= 1)
                buf_printf(&b,
                           "    note: activation needs lag > %lld, so %s never wakes a worker "
                           "scaled to zero; use activationLagThreshold 0\n",
                           (long long)t->activation_lag_threshold,
                           t->activation_lag_threshold == 1 ? "a single message"
                                                            : "a few messages");
            if (!known) {
                if (jt) {
                    /* the thresholds are known without the lag */
                    struct scale_keda_out ko;
                    scale_keda(&so, i, 0, &ko);
                    json_object_set_new(jt, "lagSource", json_null());
                    json_object_set_new(jt, "lag", json_null());
                    json_object_set_new(jt, "lagThreshold", json_integer(ko.threshold));
                    json_object_set_new(jt, "activationLagThreshold", json_integer(ko.activation));
                    json_object_set_new(jt, "active", json_null());
                    json_object_set_new(jt, "wantedReplicas", json_null());
                    json_object_set_new(jt, "desiredReplicas", json_null());
                }
                continue;
            }
            struct scale_keda_out ko;
            scale_keda(&so, i, lag, &ko);
            if (jt) {
                json_object_set_new(jt, "lag", json_integer(ko.lag));
                json_object_set_new(jt, "lagThreshold", json_integer(ko.threshold));
                json_object_set_new(jt, "activationLagThreshold", json_integer(ko.activation));
                json_object_set_new(jt, "active", json_boolean(ko.active));
                json_object_set_new(jt, "wantedReplicas", json_integer(ko.wanted));
                json_object_set_new(jt, "desiredReplicas",
                                    ko.desired >= 0 ? json_integer(ko.desired) : json_null());
                json_object_set_new(jt, "why", json_string(ko.why));
            }
            buf_printf(&b, "    activation: %lld %s activationLagThreshold %lld -> %s\n",
                       (long long)lag, ko.active ? ">" : "<=", (long long)ko.activation,
                       ko.active ? "active" : "not active");
            buf_printf(&b, "    ceil(lag / lagThreshold) = ceil(%lld / %lld) = %d\n",
                       (long long)lag, (long long)ko.threshold, ko.wanted);
            if (ko.desired >= 0)
                buf_printf(&b, "    => %d replicas (%s)\n", ko.desired, ko.why);
            else
                buf_printf(&b, "    => %s\n", ko.why);
        }
        if (so.min_replicas == 0)
            buf_printf(&b,
                       "  cooldown: after %ds without activity KEDA scales %s %s to 0; above "
                       "zero the HPA below decides\n",
                       so.cooldown_s, so.target.kind, so.target.name);
        if (j)
            json_object_set_new(j, "hpa", json_string(so.hpa_name));
        if (have_hpa) {
            buf_printf(&b, "HPA %s/%s (made by KEDA)\n", ns, h.meta.name);
            int ready = ready_of(kc, ns, &h.target);
            explain_hpa_math(&b, &h, ready);
            if (j)
                json_object_set_new(j, "hpaStatus", explain_hpa_json(ns, &h, ready));
        } else {
            if (j)
                json_object_set_new(j, "hpaStatus", json_null());
            buf_printf(&b, "no HPA %s yet: KEDA makes it once the ScaledObject is ready\n",
                       so.hpa_name);
        }
        snprintf(target_buf, sizeof(target_buf), " %s %s", so.target.kind, so.target.name);
        target = target_buf;
    } else {
        struct kube_vpa vp;
        kube_vpa_parse(obj, &vp, NULL);
        buf_printf(&b, "VPA %s/%s -> %s %s; updateMode %s", ns, vp.meta.name, vp.target.kind,
                   vp.target.name, vp.update_mode);
        if (vp.has_min_replicas)
            buf_printf(&b, ", updatePolicy.minReplicas %d", vp.min_replicas);
        buf_putc(&b, '\n');
        char *path =
            xasprintf("/apis/apps/v1/namespaces/%s/%s/%s", ns,
                      strcmp(vp.target.kind, "StatefulSet") == 0 ? "statefulsets" : "deployments",
                      vp.target.name);
        json_t *wo = NULL;
        struct kube_workload w;
        bool have_w = kube_get(kc, path, &wo, NULL) == 0 && kube_workload_parse(wo, &w, NULL) == 0;
        json_decref(wo);
        free(path);
        if (!have_w)
            buf_printf(&b, "  %s %s not found: no current requests to compare\n", vp.target.kind,
                       vp.target.name);
        if (vp.nrecs == 0)
            buf_printf(&b, "  no recommendation yet (the recommender needs some minutes of "
                           "metrics)\n");
        bool acts = false;
        const char *why_not = NULL;
        json_t *jcs = NULL;
        if (a.out == OUT_JSON) {
            jcs = json_array();
            j = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:b,s:o},s:s,s:o,s:o}", "kind",
                          "VerticalPodAutoscaler", "namespace", ns, "name", vp.meta.name, "target",
                          "kind", vp.target.kind, "name", vp.target.name, "found", have_w,
                          "replicas", have_w ? json_integer(w.replicas) : json_null(), "updateMode",
                          vp.update_mode, "minReplicas",
                          vp.has_min_replicas ? json_integer(vp.min_replicas) : json_null(),
                          "containers", jcs);
        }
        for (int i = 0; i < vp.nrecs; i++) {
            const struct kube_vpa_container *r = &vp.recs[i];
            const struct kube_resources *req = have_w ? requests_of(&w, r->name) : NULL;
            struct kube_resources none;
            memset(&none, 0, sizeof(none));
            struct scale_vpa_out o;
            scale_vpa(&vp, r, req ? req : &none, have_w ? w.replicas : 0, &o);
            acts = o.updater_acts;
            why_not = o.why_not;
            if (jcs) {
                json_t *cpu = json_pack(
                    "{s:o,s:o,s:o,s:o,s:s}", "requestMillicores", res_json(req, true),
                    "targetMillicores", res_json(&r->target, true), "lowerBoundMillicores",
                    res_json(&r->lower, true), "upperBoundMillicores", res_json(&r->upper, true),
                    "verdict", vpa_verdict_name(o.cpu));
                json_t *mem =
                    json_pack("{s:o,s:o,s:o,s:o,s:s}", "requestBytes", res_json(req, false),
                              "targetBytes", res_json(&r->target, false), "lowerBoundBytes",
                              res_json(&r->lower, false), "upperBoundBytes",
                              res_json(&r->upper, false), "verdict", vpa_verdict_name(o.memory));
                json_array_append_new(
                    jcs, json_pack("{s:s,s:o,s:o}", "name", r->name, "cpu", cpu, "memory", mem));
            }
            char a1[32], a2[32], a3[32], a4[32];
            buf_printf(&b, "  container %s\n", r->name);
            buf_printf(&b, "    cpu     request %-7s target %-7s bounds %s..%s -> %s\n",
                       req ? cpu_str(&req->cpu, req->has_cpu, a1, 32) : "-",
                       cpu_str(&r->target.cpu, r->target.has_cpu, a2, 32),
                       cpu_str(&r->lower.cpu, r->lower.has_cpu, a3, 32),
                       cpu_str(&r->upper.cpu, r->upper.has_cpu, a4, 32),
                       o.cpu == SCALE_VPA_WITHIN    ? "within bounds: left alone"
                       : o.cpu == SCALE_VPA_OUTSIDE ? "outside bounds: would be updated"
                                                    : "no recommendation");
            buf_printf(&b, "    memory  request %-7s target %-7s bounds %s..%s -> %s\n",
                       req ? mem_str(&req->memory, req->has_memory, a1, 32) : "-",
                       mem_str(&r->target.memory, r->target.has_memory, a2, 32),
                       mem_str(&r->lower.memory, r->lower.has_memory, a3, 32),
                       mem_str(&r->upper.memory, r->upper.has_memory, a4, 32),
                       o.memory == SCALE_VPA_WITHIN    ? "within bounds: left alone"
                       : o.memory == SCALE_VPA_OUTSIDE ? "outside bounds: would be updated"
                                                       : "no recommendation");
        }
        if (vp.nrecs > 0) {
            if (acts)
                buf_printf(&b, "  the updater can act: updateMode %s with %d live replica%s\n",
                           vp.update_mode, have_w ? w.replicas : 0,
                           have_w && w.replicas == 1 ? "" : "s");
            else
                buf_printf(&b, "  the updater will not act: %s\n", why_not ? why_not : "");
        }
        if (j) {
            json_object_set_new(j, "updaterActs", vp.nrecs > 0 ? json_boolean(acts) : json_null());
            json_object_set_new(
                j, "whyNot", vp.nrecs > 0 && !acts && why_not ? json_string(why_not) : json_null());
        }
        snprintf(target_buf, sizeof(target_buf), " %s %s", vp.target.kind, vp.target.name);
        target = target_buf;
    }
    json_t *conflicts = j ? json_array() : NULL;
    explain_conflicts(&b, conflicts, kc, ns, target);
    if (j) {
        json_object_set_new(j, "conflicts", conflicts);
        json_dumpf(j, stdout,
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) |
                       JSON_ENSURE_ASCII);
        fputc('\n', stdout);
    } else {
        fwrite(b.data, 1, b.len, stdout);
    }
    rc = EXIT_OK;
out:
    buf_release(&b);
    json_decref(j);
    json_decref(obj);
    kube_client_free(kc);
    opt_release(&it);
    return rc;
}

/* ---- watch ---- */

#define HISTORY 60

static volatile sig_atomic_t watch_stop;

static void on_sigint(int sig)
{
    watch_stop = 1;
}

struct watch_shared {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool dirty[KUBE_KIND_COUNT];
    char rv[KUBE_KIND_COUNT][32];
    char last_error[512];
};

struct watch_thread {
    pthread_t tid;
    struct watch_shared *sh;
    struct kube_client *kc;
    enum kube_kind kind;
    const char *ns; /* NULL: all */
    char rv[32];
};

static int on_watch_event(void *arg, const char *type, json_t *obj)
{
    struct watch_thread *t = arg;
    const char *rv =
        json_string_value(json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));
    if (rv)
        snprintf(t->rv, sizeof(t->rv), "%s", rv);
    if (strcmp(type, "BOOKMARK") == 0)
        return watch_stop;
    pthread_mutex_lock(&t->sh->lock);
    t->sh->dirty[t->kind] = true;
    pthread_cond_signal(&t->sh->wake);
    pthread_mutex_unlock(&t->sh->lock);
    return watch_stop;
}

static void *watch_main(void *arg)
{
    struct watch_thread *t = arg;
    char *path = kube_kind_path(t->kind, t->ns);
    int failures = 0;
    while (!watch_stop) {
        struct meme_err e = {0};
        int rc = kube_watch(t->kc, path, t->rv[0] ? t->rv : NULL, 240, on_watch_event, t, &e);
        if (watch_stop)
            break;
        if (rc == KUBE_GONE) {
            /* too old: list again for a fresh version, and redraw from it */
            json_t *list = NULL;
            if (kube_get(t->kc, path, &list, NULL) == 0) {
                const char *rv = json_string_value(
                    json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
                snprintf(t->rv, sizeof(t->rv), "%s", rv ? rv : "");
                pthread_mutex_lock(&t->sh->lock);
                t->sh->dirty[t->kind] = true;
                pthread_cond_signal(&t->sh->wake);
                pthread_mutex_unlock(&t->sh->lock);
            }
            json_decref(list);
            continue;
        }
        if (rc < 0) {
            pthread_mutex_lock(&t->sh->lock);
            snprintf(t->sh->last_error, sizeof(t->sh->last_error), "%s", e.msg);
            pthread_mutex_unlock(&t->sh->lock);
            /* back off, at least the poll floor, checking for Ctrl-C */
            int wait_s = failures < 4 ? 2 << failures : 30;
            failures++;
            for (int i = 0; i < wait_s * 10 && !watch_stop; i++)
                usleep(100000);
            continue;
        }
        failures = 0;
    }
    free(path);
    return NULL;
}

static const char *spark(const double *v, int n, char *out, size_t outsz)
{
    static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588"};
    double mx = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < n && off + 4 < outsz; i++) {
        int level = mx > 0 ? (int)lround(v[i] / mx * 7) : 0;
        if (level < 0)
            level = 0;
        if (level > 7)
            level = 7;
        memcpy(out + off, bars[level], 3);
        off += 3;
    }
    out[off] = 0;
    return out;
}

struct history {
    double lag[HISTORY], replicas[HISTORY], rate[HISTORY];
    int n;
};

static void push(double *a, int n, double v)
{
    if (n == HISTORY)
        memmove(a, a + 1, (HISTORY - 1) * sizeof(*a));
    a[n == HISTORY ? HISTORY - 1 : n] = v;
}

/* Re-lists one kind into the model. */
static void relist(struct kube_client *kc, const struct st_args *a, struct kube_status *ks,
                   enum kube_kind k)
{
    json_t *all = json_array();
    int rounds = a->all ? 1 : a->nns;
    for (int r = 0; r < rounds; r++) {
        char *path = kube_kind_path(k, a->all ? NULL : a->ns[r]);
        json_t *list = NULL;
        if (kube_get(kc, path, &list, NULL) == 0)
            json_array_extend(all, json_object_get(list, "items"));
        json_decref(list);
        free(path);
    }
    kube_status_set_list(ks, k, all);
    json_decref(all);
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
    struct st_args a;
    struct opt_iter it;
    int rc = parse_args(cli->cmd, argc, argv, &a, &it);
    if (rc) {
        opt_release(&it);
        return rc < 0 ? EXIT_OK : rc;
    }
    bool tty = isatty(1);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    watch_stop = 0;

    struct st_view *v = xcalloc(1, sizeof(*v));
    struct watch_shared sh;
    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.wake, NULL);
    struct watch_thread *threads = NULL;
    int nthreads = 0;
    struct meme_err err = {0};
    struct kube_client *kc = cluster_connect(&a, &err);
    if (kc) {
        kube_client_set_stop(kc, &watch_stop);
        read_cluster(kc, &a, v);
    } else {
        v->cluster_code = err.code;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
    if (v->have_cluster) {
        static const enum kube_kind watched[] = {KUBE_KIND_HPA,         KUBE_KIND_SCALEDOBJECT,
                                                 KUBE_KIND_VPA,         KUBE_KIND_DEPLOYMENT,
                                                 KUBE_KIND_STATEFULSET, KUBE_KIND_POD};
        int per = a.all ? 1 : a.nns;
        threads = xcalloc(sizeof(watched) / sizeof(watched[0]) * (size_t)per, sizeof(*threads));
        for (size_t k = 0; k < sizeof(watched) / sizeof(watched[0]); k++) {
            if (v->ks.missing[watched[k]])
                continue;
            for (int r = 0; r < per; r++) {
                struct watch_thread *t = &threads[nthreads];
                t->sh = &sh;
                t->kc = kc;
                t->kind = watched[k];
                t->ns = a.all ? NULL : a.ns[r];
                /* per-namespace lists share one version space: start from the list's */
                snprintf(t->rv, sizeof(t->rv), "%s", v->ks.resource_version[watched[k]]);
                if (pthread_create(&t->tid, NULL, watch_main, t) == 0)
                    nthreads++;
            }
        }
    }
    struct history hist;
    memset(&hist, 0, sizeof(hist));
    uint64_t last_seq = 0;
    double last_t = 0;
    long frames = 0;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    if (tty)
        fputs("\033[?25l", stdout); /* hide the cursor while redrawing */
    while (!watch_stop) {
        /* the poll: queue and pod metrics (no watch for either) */
        v->have_queue = false;
        read_queue(cli, &a, v);
        if (v->have_cluster && !v->ks.missing[KUBE_KIND_PODMETRICS])
            relist(kc, &a, &v->ks, KUBE_KIND_PODMETRICS);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
        double rate = 0;
        if (v->have_queue) {
            if (last_t > 0 && v->q.delivered_seq >= last_seq)
                rate = (double)(v->q.delivered_seq - last_seq) / (t - last_t);
            last_seq = v->q.delivered_seq;
            last_t = t;
        }
        int replicas = 0;
        for (int i = 0; i < v->ks.nworkloads; i++)
            replicas += v->ks.workloads[i].ready;
        int64_t lag = 0;
        if (v->have_queue)
            lag = (int64_t)v->q.lag;
        else
            for (int i = 0; i < v->ks.nsos && lag == 0; i++)
                hpa_lag(kube_status_hpa(&v->ks, v->ks.sos[i].meta.ns, v->ks.sos[i].hpa_name), &lag);
        push(hist.lag, hist.n, (double)lag);
        push(hist.replicas, hist.n, replicas);
        push(hist.rate, hist.n, rate);
        if (hist.n < HISTORY)
            hist.n++;

        struct buf b = BUF_INIT;
        if (tty)
            buf_puts(&b, "\033[H\033[2J");
        time_t wall = time(NULL);
        struct tm tm;
        localtime_r(&wall, &tm);
        char when[16];
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        buf_printf(&b, "memectl watch  %s  (every %.0fs; Ctrl-C to stop)\n", when, a.interval);
        render_text(&b, &a, v, a.out == OUT_WIDE);
        char s[HISTORY * 3 + 1];
        buf_printf(&b, "\nhistory (last %d samples)\n", hist.n);
        buf_printf(&b, "  lag      %s  now %.0f\n", spark(hist.lag, hist.n, s, sizeof(s)),
                   hist.lag[hist.n - 1]);
        buf_printf(&b, "  ready    %s  now %.0f pods\n", spark(hist.replicas, hist.n, s, sizeof(s)),
                   hist.replicas[hist.n - 1]);
        buf_printf(&b, "  out/s    %s  now %.1f/s\n", spark(hist.rate, hist.n, s, sizeof(s)), rate);
        pthread_mutex_lock(&sh.lock);
        if (sh.last_error[0])
            buf_printf(&b, "note: watch: %s\n", sh.last_error);
        pthread_mutex_unlock(&sh.lock);
        if (!tty)
            buf_putc(&b, '\n');
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        buf_release(&b);
        if (a.count && ++frames >= a.count)
            break;

        /* wait for the next poll, or a watch event (then re-list what changed) */
        next.tv_sec += (time_t)a.interval;
        for (;;) {
            pthread_mutex_lock(&sh.lock);
            bool dirty[KUBE_KIND_COUNT];
            bool any = false;
            for (int k = 0; k < KUBE_KIND_COUNT; k++) {
                dirty[k] = sh.dirty[k];
                any |= dirty[k];
                sh.dirty[k] = false;
            }
            if (!any && !watch_stop) {
                struct timespec rt, cap;
                clock_gettime(CLOCK_REALTIME, &rt);
                cap = rt;
                cap.tv_nsec += 250000000L;
                if (cap.tv_nsec >= 1000000000L) {
                    cap.tv_sec++;
                    cap.tv_nsec -= 1000000000L;
                }
                pthread_cond_timedwait(&sh.wake, &sh.lock, &cap);
            }
            pthread_mutex_unlock(&sh.lock);
            if (any && v->have_cluster) {
                for (int k = 0; k < KUBE_KIND_COUNT; k++)
                    if (dirty[k])
                        relist(kc, &a, &v->ks, (enum kube_kind)k);
                break; /* redraw now */
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (watch_stop || now.tv_sec > next.tv_sec ||
                (now.tv_sec == next.tv_sec && now.tv_nsec >= next.tv_nsec))
                break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > next.tv_sec)
            next = now;
    }
    watch_stop = 1;
    for (int i = 0; i < nthreads; i++)
        pthread_join(threads[i].tid, NULL);
    if (tty)
        fputs("\033[?25h", stdout);
    fflush(stdout);
    rc = view_exit(v);
    free(threads);
    kube_status_release(&v->ks);
    free(v);
    kube_client_free(kc);
    pthread_mutex_destroy(&sh.lock);
    pthread_cond_destroy(&sh.wake);
    opt_release(&it);
    return rc;
}
