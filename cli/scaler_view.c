/*
 * The screen status, watch and explain share (scaler_view.h): option
 * parsing, reading the cluster and the queue, and drawing every scaler
 * joined to what it scales as text, a wide table or JSON.
 */
#include "scaler_view.h"
#include "kube/kube.h"
#include "kube/kube_status.h"
#include "kube/kube_summary.h"
#include "mq/proto.h"
#include "kube/scale.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int scaler_view_parse(const struct cmd_spec *cmd, unsigned outputs, int argc, char **argv,
                      struct scaler_args *a, struct opt_iter *it)
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
            else if (strcmp(it->value, "wide") == 0 && (outputs & SCALER_OUT_WIDE))
                a->out = OUT_WIDE;
            else if (strcmp(it->value, "json") == 0 && (outputs & SCALER_OUT_JSON))
                a->out = OUT_JSON;
            else {
                cmd_usage_error(cmd, "--output must be %s, not \"%s\"",
                                (outputs & SCALER_OUT_WIDE) && (outputs & SCALER_OUT_JSON)
                                    ? "text, wide or json"
                                : (outputs & SCALER_OUT_JSON) ? "text or json"
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
struct kube_client *scaler_view_connect(const struct scaler_args *a, struct meme_err *err)
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

void scaler_view_read_queue(struct cli *cli, const struct scaler_args *a, struct scaler_view *v)
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
    local_view_read(v);
}

unsigned scaler_view_kinds(const struct scaler_args *a)
{
    if (a->out != OUT_TEXT)
        return KUBE_STATUS_ALL_KINDS;
    return KUBE_STATUS_ALL_KINDS &
           ~(KUBE_KIND_BIT(KUBE_KIND_POD) | KUBE_KIND_BIT(KUBE_KIND_PODMETRICS));
}

void scaler_view_read_cluster(struct kube_client *kc, const struct scaler_args *a,
                              struct scaler_view *v)
{
    struct meme_err err = {0};
    const struct kube_config *cfg = kube_client_config(kc);
    snprintf(v->context, sizeof(v->context), "%s", cfg->context ? cfg->context : "");
    kube_config_server_shown(cfg, v->server, sizeof(v->server));
    int rc = kube_status_fetch_kinds(kc, a->all ? NULL : a->ns, a->all ? 0 : a->nns,
                                     scaler_view_kinds(a), &v->ks, &err);
    if (rc == 0) {
        v->have_cluster = true;
    } else {
        v->cluster_code = rc;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
}

/* ---- formatting helpers ---- */

const char *scaler_view_cpu(const struct kube_quantity *q, bool has, char *buf, size_t n)
{
    if (!has)
        return "-";
    return kube_quantity_format(q, false, buf, n);
}

const char *scaler_view_mem(const struct kube_quantity *q, bool has, char *buf, size_t n)
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
void scaler_view_metric_text(const struct kube_hpa_metric *m, char *cur, size_t cn, char *tgt,
                             size_t tn)
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
bool scaler_view_hpa_lag(const struct kube_hpa *h, int64_t *lag)
{
    return kube_hpa_external_total(h, lag);
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
                scaler_view_cpu(&ks->metrics[k].usage.cpu, ks->metrics[k].usage.has_cpu, cpu,
                                sizeof(cpu));
                scaler_view_mem(&ks->metrics[k].usage.memory, ks->metrics[k].usage.has_memory, mem,
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
        scaler_view_metric_text(m, cur, sizeof(cur), tgt, sizeof(tgt));
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

static void render_so(struct buf *b, const struct scaler_view *v,
                      const struct kube_scaledobject *so, bool wide)
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
        bool known = from_nats || scaler_view_hpa_lag(h, &lag);
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
const struct kube_resources *scaler_view_requests_of(const struct kube_workload *w,
                                                     const char *name)
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
        const struct kube_resources *req = scaler_view_requests_of(w, r->name);
        char a1[32], a2[32], a3[32], a4[32], a5[32];
        buf_printf(b, "  %-10s cpu    request %-7s target %-7s range %s..%s", r->name,
                   req ? scaler_view_cpu(&req->cpu, req->has_cpu, a1, 32) : "-",
                   scaler_view_cpu(&r->target.cpu, r->target.has_cpu, a2, 32),
                   scaler_view_cpu(&r->lower.cpu, r->lower.has_cpu, a3, 32),
                   scaler_view_cpu(&r->upper.cpu, r->upper.has_cpu, a4, 32));
        if (ps.usage.has_cpu)
            buf_printf(b, "  usage %s", scaler_view_cpu(&ps.usage.cpu, true, a5, 32));
        buf_putc(b, '\n');
        buf_printf(b, "  %-10s memory request %-7s target %-7s range %s..%s", "",
                   req ? scaler_view_mem(&req->memory, req->has_memory, a1, 32) : "-",
                   scaler_view_mem(&r->target.memory, r->target.has_memory, a2, 32),
                   scaler_view_mem(&r->lower.memory, r->lower.has_memory, a3, 32),
                   scaler_view_mem(&r->upper.memory, r->upper.has_memory, a4, 32));
        if (ps.usage.has_memory)
            buf_printf(b, "  usage %s", scaler_view_mem(&ps.usage.memory, true, a5, 32));
        buf_putc(b, '\n');
    }
    if (wide) {
        print_conditions(b, vp->conditions, vp->nconditions);
        print_pods(b, ks, w);
    }
}

static void render_queue(struct buf *b, const struct scaler_args *a, const struct scaler_view *v)
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

void scaler_view_conflicts(const struct kube_status *ks, char *out, size_t n)
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

int scaler_view_width(int fd)
{
    const char *cols = getenv("COLUMNS");
    char *end = NULL;
    long n = cols && *cols ? strtol(cols, &end, 10) : 0;
    if (end && !*end && n >= 20 && n <= 10000)
        return (int)n;
    struct winsize ws;
    if (isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
        return ws.ws_col;
    return 0;
}

/* The scalers as one table (lib/kube/kube_summary.h), sized to width. */
static void render_table(struct buf *b, const struct scaler_args *a, const struct scaler_view *v,
                         int width, struct kube_scaler_row **rows_out, int *nrows_out)
{
    struct kube_scaler_row *rows = NULL;
    int n = kube_summary_rows(&v->ks, a->all ? NULL : a->ns, a->all ? 0 : a->nns,
                              v->have_queue ? (int64_t)v->q.lag : -1, &rows);
    if (n == 0) {
        buf_printf(b, "No autoscalers found.\n\n");
    } else {
        struct table t;
        kube_summary_table(&t, rows, n, 2);
        table_layout(&t, width);
        for (int i = -1; i < t.nrows; i++) {
            table_line(&t, i, b);
            buf_putc(b, '\n');
        }
        table_release(&t);
        buf_putc(b, '\n');
    }
    *rows_out = rows;
    *nrows_out = n;
}

void scaler_view_text(struct buf *b, const struct scaler_args *a, const struct scaler_view *v,
                      bool wide, int width)
{
    if (v->have_cluster) {
        buf_printf(b, "Kubernetes context %s at %s\n", v->context, v->server);
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
        struct kube_scaler_row *rows = NULL;
        int n = 0;
        /* wide: every column whatever the width, then each scaler's details */
        render_table(b, a, v, wide ? 0 : width, &rows, &n);
        for (int r = 0; wide && r < n; r++) {
            for (int i = 0; i < ks->nhpas; i++)
                if (strcmp(rows[r].kind, "HPA") == 0 && !ks->hpas[i].keda_owner[0] &&
                    strcmp(ks->hpas[i].meta.ns, rows[r].ns) == 0 &&
                    strcmp(ks->hpas[i].meta.name, rows[r].name) == 0) {
                    render_hpa(b, ks, &ks->hpas[i], wide);
                    buf_putc(b, '\n');
                }
            for (int i = 0; i < ks->nsos; i++)
                if (strcmp(rows[r].kind, "KEDA") == 0 &&
                    strcmp(ks->sos[i].meta.ns, rows[r].ns) == 0 &&
                    strcmp(ks->sos[i].meta.name, rows[r].name) == 0) {
                    render_so(b, v, &ks->sos[i], wide);
                    buf_putc(b, '\n');
                }
            for (int i = 0; i < ks->nvpas; i++)
                if (strcmp(rows[r].kind, "VPA") == 0 &&
                    strcmp(ks->vpas[i].meta.ns, rows[r].ns) == 0 &&
                    strcmp(ks->vpas[i].meta.name, rows[r].name) == 0) {
                    render_vpa(b, ks, &ks->vpas[i], wide);
                    buf_putc(b, '\n');
                }
        }
        free(rows);
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
    if (v->have_local)
        local_view_text(b, v, wide);
    render_queue(b, a, v);
    if (v->have_cluster) {
        char c[4096];
        scaler_view_conflicts(&v->ks, c, sizeof(c));
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

json_t *scaler_view_quantity_json(const struct kube_quantity *q, bool has)
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

const char *scaler_view_target_type(enum kube_target_type t)
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
                              scaler_view_target_type(m->target_type));
        if (m->target_type == KUBE_TARGET_UTILIZATION) {
            json_object_set_new(o, "targetUtilization", json_integer(m->target_util));
            json_object_set_new(o, "currentUtilization",
                                m->has_current_util ? json_integer(m->current_util) : json_null());
            if (m->has_current_util && m->target_util > 0)
                json_object_set_new(o, "ratio",
                                    json_real((double)m->current_util / m->target_util));
        } else {
            json_object_set_new(o, "target", scaler_view_quantity_json(&m->target, true));
            json_object_set_new(o, "current",
                                scaler_view_quantity_json(&m->current, m->has_current));
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

static json_t *so_json(const struct scaler_view *v, const struct kube_scaledobject *so)
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
        } else if (scaler_view_hpa_lag(h, &lag)) {
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

json_t *scaler_view_resources_json(const struct kube_resources *r, bool cpu)
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
        const struct kube_resources *req = scaler_view_requests_of(w, r->name);
        json_t *cpu = json_pack("{s:o,s:o,s:o,s:o,s:o}", "requestMillicores",
                                scaler_view_resources_json(req, true), "targetMillicores",
                                scaler_view_resources_json(&r->target, true),
                                "lowerBoundMillicores", scaler_view_resources_json(&r->lower, true),
                                "upperBoundMillicores", scaler_view_resources_json(&r->upper, true),
                                "usageMillicores", milli_json(&ps.usage.cpu, ps.usage.has_cpu));
        json_t *mem = json_pack("{s:o,s:o,s:o,s:o,s:o}", "requestBytes",
                                scaler_view_resources_json(req, false), "targetBytes",
                                scaler_view_resources_json(&r->target, false), "lowerBoundBytes",
                                scaler_view_resources_json(&r->lower, false), "upperBoundBytes",
                                scaler_view_resources_json(&r->upper, false), "usageBytes",
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

json_t *scaler_view_json(const struct scaler_args *a, const struct scaler_view *v)
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
        scaler_view_conflicts(ks, c, sizeof(c));
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
    json_object_set_new(root, "local", local_view_json(v));
    json_object_set_new(root, "conflicts", conflicts);
    json_object_set_new(root, "problems", problems);
    return root;
}

/* Exit status: 0 when something was shown; the cluster's failure otherwise. */
int scaler_view_exit(const struct scaler_view *v)
{
    if (v->have_cluster || v->have_queue)
        return EXIT_OK;
    return cli_exit_for(v->cluster_code);
}
