/*
 * memectl watch: the status screen kept current through Kubernetes watches
 * (lib/kube/kube_informer: listed once, then only what changes arrives) and
 * a poll of at least 2 s for what has no watch (the queue, and with -o wide
 * the pod metrics), with sparklines of lag and replicas.
 */
#include "scaler_view.h"
#include "kube/kube.h"
#include "kube/kube_informer.h"
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

#define HISTORY 60

static volatile sig_atomic_t watch_stop;

static void on_sigint(int sig)
{
    watch_stop = 1;
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

/* The objects the informer keeps, with the pod metrics (no watch for
 * them: one list per poll) put in. */
static void refresh(struct kube_client *kc, struct kube_informer *inf, const struct scaler_args *a,
                    struct scaler_view *v)
{
    kube_status_release(&v->ks);
    kube_informer_snapshot(inf, &v->ks);
    if (!(scaler_view_kinds(a) & KUBE_KIND_BIT(KUBE_KIND_PODMETRICS)) ||
        v->ks.missing[KUBE_KIND_PODMETRICS])
        return;
    struct kube_status m;
    kube_status_fetch_kinds(kc, a->all ? NULL : a->ns, a->all ? 0 : a->nns,
                            KUBE_KIND_BIT(KUBE_KIND_PODMETRICS), &m, NULL);
    v->ks.metrics = m.metrics;
    v->ks.nmetrics = m.nmetrics;
    m.metrics = NULL;
    m.nmetrics = 0;
    v->ks.missing[KUBE_KIND_PODMETRICS] = m.missing[KUBE_KIND_PODMETRICS];
    for (int i = 0; i < m.nproblems; i++) {
        struct meme_err e = {.code = m.problems[i].code};
        snprintf(e.msg, sizeof(e.msg), "%s", m.problems[i].msg);
        kube_status_problem(&v->ks, KUBE_KIND_PODMETRICS, &e);
    }
    kube_status_release(&m);
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
    struct scaler_args a;
    struct opt_iter it;
    int rc = scaler_view_parse(cli->cmd, SCALER_OUT_WIDE, argc, argv, &a, &it);
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

    struct scaler_view *v = xcalloc(1, sizeof(*v));
    struct kube_informer *inf = NULL;
    struct meme_err err = {0};
    struct kube_client *kc = scaler_view_connect(&a, &err);
    if (kc) {
        kube_client_set_stop(kc, &watch_stop);
        const struct kube_config *cfg = kube_client_config(kc);
        snprintf(v->context, sizeof(v->context), "%s", cfg->context ? cfg->context : "");
        kube_config_server_shown(cfg, v->server, sizeof(v->server));
        /* everything but the pod metrics is kept current by watches */
        inf = kube_informer_start(kc, a.all ? NULL : a.ns, a.all ? 0 : a.nns, scaler_view_kinds(&a),
                                  &err);
        if (inf)
            v->have_cluster = true;
    }
    if (!v->have_cluster) {
        v->cluster_code = err.code;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
    unsigned long seen = 0;
    bool redraw_only = false; /* a watch brought a change: no new poll or sample */
    double rate = 0;
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
        struct timespec now;
        if (!redraw_only) {
            /* the poll: queue and pod metrics (no watch for either) */
            v->have_queue = false;
            scaler_view_read_queue(cli, &a, v);
            if (inf) {
                seen = kube_informer_version(inf);
                refresh(kc, inf, &a, v);
            }
            clock_gettime(CLOCK_MONOTONIC, &now);
            double t = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
            rate = 0;
            if (v->have_queue) {
                if (last_t > 0 && v->q.delivered_seq >= last_seq)
                    rate = (double)(v->q.delivered_seq - last_seq) / (t - last_t);
                last_seq = v->q.delivered_seq;
                last_t = t;
            }
            int replicas = 0;
            for (int i = 0; i < v->ks.nworkloads; i++)
                replicas += v->ks.workloads[i].ready;
            if (v->have_local)
                replicas += v->local.replicas; /* the local autoscaler's workers */
            int64_t lag = 0;
            if (v->have_queue)
                lag = (int64_t)v->q.lag;
            else
                for (int i = 0; i < v->ks.nsos && lag == 0; i++)
                    scaler_view_hpa_lag(
                        kube_status_hpa(&v->ks, v->ks.sos[i].meta.ns, v->ks.sos[i].hpa_name), &lag);
            push(hist.lag, hist.n, (double)lag);
            push(hist.replicas, hist.n, replicas);
            push(hist.rate, hist.n, rate);
            if (hist.n < HISTORY)
                hist.n++;
        }
        redraw_only = false;

        struct buf b = BUF_INIT;
        if (tty)
            buf_puts(&b, "\033[H\033[2J");
        time_t wall = time(NULL);
        struct tm tm;
        localtime_r(&wall, &tm);
        char when[16];
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        buf_printf(&b, "memectl watch  %s  (every %.0fs; Ctrl-C to stop)\n", when, a.interval);
        scaler_view_text(&b, &a, v, a.out == OUT_WIDE, scaler_view_width(1));
        char s[HISTORY * 3 + 1];
        buf_printf(&b, "\nhistory (last %d samples)\n", hist.n);
        buf_printf(&b, "  lag      %s  now %.0f\n", spark(hist.lag, hist.n, s, sizeof(s)),
                   hist.lag[hist.n - 1]);
        buf_printf(&b, "  ready    %s  now %.0f pods\n", spark(hist.replicas, hist.n, s, sizeof(s)),
                   hist.replicas[hist.n - 1]);
        buf_printf(&b, "  out/s    %s  now %.1f/s\n", spark(hist.rate, hist.n, s, sizeof(s)), rate);
        char werr[512] = "";
        if (inf)
            kube_informer_error(inf, werr, sizeof(werr));
        if (werr[0])
            buf_printf(&b, "note: watch: %s\n", werr);
        if (!tty)
            buf_putc(&b, '\n');
        fwrite(b.data, 1, b.len, stdout);
        fflush(stdout);
        buf_release(&b);
        if (a.count && ++frames >= a.count)
            break;

        /* wait for the next poll, or a change the watches bring (drawn at once) */
        next.tv_sec += (time_t)a.interval;
        for (;;) {
            unsigned long now_v = inf ? kube_informer_wait(inf, seen, 250) : 0;
            if (!inf)
                usleep(250000);
            if (inf && now_v != seen && !watch_stop) {
                /* the metrics from the last poll stay; the rest is new */
                struct kube_pod_metrics *pm = v->ks.metrics;
                int npm = v->ks.nmetrics;
                v->ks.metrics = NULL;
                kube_status_release(&v->ks);
                kube_informer_snapshot(inf, &v->ks);
                free(v->ks.metrics);
                v->ks.metrics = pm;
                v->ks.nmetrics = npm;
                seen = now_v;
                redraw_only = true;
                break;
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
    kube_informer_free(inf);
    if (tty)
        fputs("\033[?25h", stdout);
    fflush(stdout);
    rc = scaler_view_exit(v);
    kube_status_release(&v->ks);
    free(v);
    kube_client_free(kc);
    opt_release(&it);
    return rc;
}
