/*
 * memectl watch: the status screen kept current through Kubernetes watches
 * and a poll of at least 2 s for what has no watch (the queue, PodMetrics),
 * with sparklines of lag and replicas.
 */
#include "scaler_view.h"
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
static void relist(struct kube_client *kc, const struct scaler_args *a, struct kube_status *ks,
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
    struct watch_shared sh;
    memset(&sh, 0, sizeof(sh));
    pthread_mutex_init(&sh.lock, NULL);
    pthread_cond_init(&sh.wake, NULL);
    struct watch_thread *threads = NULL;
    int nthreads = 0;
    struct meme_err err = {0};
    struct kube_client *kc = scaler_view_connect(&a, &err);
    if (kc) {
        kube_client_set_stop(kc, &watch_stop);
        scaler_view_read_cluster(kc, &a, v);
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
        scaler_view_read_queue(cli, &a, v);
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

        struct buf b = BUF_INIT;
        if (tty)
            buf_puts(&b, "\033[H\033[2J");
        time_t wall = time(NULL);
        struct tm tm;
        localtime_r(&wall, &tm);
        char when[16];
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
        buf_printf(&b, "memectl watch  %s  (every %.0fs; Ctrl-C to stop)\n", when, a.interval);
        scaler_view_text(&b, &a, v, a.out == OUT_WIDE);
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
    rc = scaler_view_exit(v);
    free(threads);
    kube_status_release(&v->ks);
    free(v);
    kube_client_free(kc);
    pthread_mutex_destroy(&sh.lock);
    pthread_cond_destroy(&sh.wake);
    opt_release(&it);
    return rc;
}
