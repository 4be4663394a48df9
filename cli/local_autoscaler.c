/*
 * The local autoscaler: the background process `memectl up --autoscale`
 * starts (as the hidden `memectl __autoscaler`) and records in the stack
 * file. Every pollingInterval it reads the consumer's lag from nats-server's
 * monitoring endpoint as KEDA does (lib/mq/jsz), takes KEDA's and the HPA's
 * decision (lib/kube/autoscale, the function simulate and explain use), and
 * makes the number of meme-worker processes match: new workers are started
 * like `memectl up` starts them, and a worker scaled in gets SIGTERM, so it
 * finishes or hands back its jobs first. After each poll it publishes its
 * state (lib/autoscaler) for status, watch, the dashboard and bench.
 * SIGTERM stops it; the workers stay for `memectl down`.
 */
#include "autoscaler.h"
#include "cli.h"
#include "clock.h"
#include "kube/autoscale.h"
#include "kube/manifest.h"
#include "local_stack.h"
#include "mq/jsz.h"
#include "paths.h"
#include "stack.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile int stop_flag;

static void on_term(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void log_line(const char *fmt, ...)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    va_list ap;
    va_start(ap, fmt);
    printf("%s autoscaler: ", when);
    vprintf(fmt, ap);
    printf("\n");
    fflush(stdout);
    va_end(ap);
}

struct daemon_args {
    const char *manifest;
    int nats_port, monitor_port, redis_port;
    int polling_s, cooldown_s, min, max; /* -1: the manifest's */
};

/* Makes the live workers number want: starts the missing (lowest free
 * index first), sends SIGTERM to the extra (highest index first). Returns
 * the number running afterwards. */
static int reconcile(const char *dir, const char *logs, const struct daemon_args *a, int want)
{
    int fd = stack_lock(dir, &stop_flag);
    if (fd < 0)
        return -1;
    struct stack st;
    stack_load(dir, &st);
    struct stack next;
    memset(&next, 0, sizeof(next));
    struct stack_proc *workers[STACK_MAX_PROCS];
    int nw = 0;
    bool used[STACK_MAX_PROCS + 2] = {false};
    for (size_t i = 0; i < st.count; i++) {
        struct stack_proc *p = &st.procs[i];
        if (strcmp(p->role, "worker") != 0) {
            next.procs[next.count++] = *p;
            continue;
        }
        if (!stack_proc_alive(p))
            continue; /* gone: a crashed worker is replaced below, as a Deployment would */
        workers[nw++] = p;
        if (p->port >= 0 && p->port <= STACK_MAX_PROCS)
            used[p->port] = true;
    }
    /* highest index last, so scale-in takes the newest first */
    for (int i = 1; i < nw; i++)
        for (int j = i; j > 0 && workers[j - 1]->port > workers[j]->port; j--) {
            struct stack_proc *t = workers[j];
            workers[j] = workers[j - 1];
            workers[j - 1] = t;
        }
    int keep = nw < want ? nw : want;
    for (int i = 0; i < keep; i++)
        next.procs[next.count++] = *workers[i];
    for (int i = keep; i < nw; i++) {
        kill(workers[i]->pid, SIGTERM);
        log_line("worker local-%d (pid %d) stopped: SIGTERM, it drains its jobs", workers[i]->port,
                 (int)workers[i]->pid);
    }
    int have = keep;
    for (int idx = 1; have < want && idx <= STACK_MAX_PROCS && next.count < STACK_MAX_PROCS;
         idx++) {
        if (used[idx])
            continue;
        struct stack_proc p;
        if (local_start_worker(logs, idx, a->nats_port, a->redis_port, &p) != 0)
            break;
        used[idx] = true;
        next.procs[next.count++] = p;
        have++;
        log_line("worker local-%d (pid %d) started", idx, (int)p.pid);
    }
    if (stack_save(dir, &next) < 0)
        log_line("cannot write the state file in %s: %s", dir, strerror(errno));
    stack_unlock(fd);
    return have;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_daemon_args(int argc, char **argv, struct daemon_args *a)
{
    static const struct option longs[] = {
        {"manifest", required_argument, NULL, 'f'},
        {"nats-port", required_argument, NULL, 'n'},
        {"monitor-port", required_argument, NULL, 'm'},
        {"redis-port", required_argument, NULL, 'r'},
        {"polling-interval", required_argument, NULL, 'p'},
        {"cooldown", required_argument, NULL, 'c'},
        {"min-workers", required_argument, NULL, 'a'},
        {"max-workers", required_argument, NULL, 'b'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof(*a));
    a->polling_s = a->cooldown_s = a->min = a->max = -1;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'f':
            a->manifest = optarg;
            break;
        case 'n':
            bad = parse_int(optarg, 1, 65535, &a->nats_port);
            break;
        case 'm':
            bad = parse_int(optarg, 1, 65535, &a->monitor_port);
            break;
        case 'r':
            bad = parse_int(optarg, 0, 65535, &a->redis_port);
            break;
        case 'p':
            bad = parse_int(optarg, 1, 3600, &a->polling_s);
            break;
        case 'c':
            bad = parse_int(optarg, 0, 86400, &a->cooldown_s);
            break;
        case 'a':
            bad = parse_int(optarg, 0, 32, &a->min);
            break;
        case 'b':
            bad = parse_int(optarg, 1, 32, &a->max);
            break;
        default:
            bad = 1;
        }
        if (bad) {
            cli_error("__autoscaler: bad arguments");
            return EXIT_USAGE;
        }
    }
    if (!a->manifest || !a->nats_port || !a->monitor_port) {
        cli_error("__autoscaler: --manifest, --nats-port and --monitor-port are needed");
        return EXIT_USAGE;
    }
    return 0;
}

int local_autoscaler_rules(const char *path, int polling_s, int cooldown_s, int min, int max,
                           struct kube_scaledobject *so, struct meme_err *err)
{
    json_t *docs = NULL;
    int rc = manifest_load(path, &docs, err);
    if (rc)
        return rc;
    json_t *o = manifest_find_kind(docs, "ScaledObject");
    if (!o) {
        json_decref(docs);
        return meme_err_set(err, MEME_E_NOT_FOUND, "\"%s\" has no ScaledObject", path);
    }
    rc = kube_scaledobject_parse(o, so, err);
    json_decref(docs);
    if (rc)
        return rc;
    if (so->ntriggers < 1)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "the ScaledObject in \"%s\" has no trigger",
                            path);
    if (polling_s >= 0)
        so->polling_s = polling_s;
    if (cooldown_s >= 0)
        so->cooldown_s = cooldown_s;
    if (min >= 0)
        so->min_replicas = min;
    if (max >= 0)
        so->max_replicas = max;
    if (so->polling_s < 1)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "pollingInterval must be at least 1 s");
    if (so->max_replicas < 1 || so->min_replicas > so->max_replicas)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "the worker range %d..%d is empty (minReplicaCount above "
                            "maxReplicaCount, or a maximum of 0)",
                            so->min_replicas, so->max_replicas);
    return 0;
}

int local_autoscaler_main(int argc, char **argv)
{
    struct daemon_args a;
    int rc = parse_daemon_args(argc, argv, &a);
    if (rc)
        return rc;
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_term; /* no SA_RESTART: a wait for the lock or a sleep ends at once */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct meme_err err = {0};
    struct kube_scaledobject so;
    if (local_autoscaler_rules(a.manifest, a.polling_s, a.cooldown_s, a.min, a.max, &so, &err)) {
        cli_error("%s", err.msg);
        return EXIT_FAIL;
    }
    struct autoscale_config *cfg = xcalloc(1, sizeof(*cfg));
    autoscale_config_keda(cfg, &so);
    const struct kube_trigger *t = &so.triggers[cfg->trigger];
    const char *account = t->account[0] ? t->account : "$G";
    char hostport[64];
    snprintf(hostport, sizeof(hostport), "127.0.0.1:%d", a.monitor_port);
    char *url = jsz_url(hostport, account);
    char *dir = paths_state_dir();
    char *logs = xasprintf("%s/logs", dir);

    struct autoscaler_view *v = xcalloc(1, sizeof(*v));
    v->pid = getpid();
    v->started = wall_now();
    snprintf(v->name, sizeof(v->name), "%s/%s", so.meta.ns[0] ? so.meta.ns : "default",
             so.meta.name);
    snprintf(v->source, sizeof(v->source), "%s", a.manifest);
    v->min = so.min_replicas;
    v->max = so.max_replicas;
    v->polling_s = so.polling_s;
    v->cooldown_s = so.cooldown_s;
    v->threshold = t->lag_threshold > 0 ? t->lag_threshold : 10;
    v->activation = t->activation_lag_threshold;
    snprintf(v->stream, sizeof(v->stream), "%s", t->stream);
    snprintf(v->consumer, sizeof(v->consumer), "%s", t->consumer);
    snprintf(v->account, sizeof(v->account), "%s", account);
    v->behavior = so.has_behavior;
    snprintf(v->monitor, sizeof(v->monitor), "%s", url);
    v->next_at = -1;
    v->next_replicas = -1;

    /* Start from the workers that run now (a stack scaled by hand before). */
    struct stack st;
    stack_load(dir, &st);
    int live = 0;
    for (size_t i = 0; i < st.count; i++)
        live += strcmp(st.procs[i].role, "worker") == 0 && stack_proc_alive(&st.procs[i]);
    struct autoscale_state *s = xcalloc(1, sizeof(*s));
    autoscale_state_init(s, live);
    log_line("%s: %d..%d workers, pollingInterval %ds, cooldownPeriod %ds, lagThreshold %lld, "
             "activationLagThreshold %lld; lag from %s",
             v->name, v->min, v->max, v->polling_s, v->cooldown_s, (long long)v->threshold,
             (long long)v->activation, url);

    double next_poll = clock_now_s();
    while (!stop_flag) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
            ; /* workers that finished draining */
        /* The decision's clock is the poll's schedule, as KEDA's timer is:
         * a late wake-up must not make a cooldown look shorter than it is. */
        double now = next_poll, wall = wall_now();
        struct jsz_consumer jc;
        struct autoscale_decision d;
        struct meme_err e = {0};
        int jrc = jsz_get(url, account, t->stream, t->consumer, 2000, &jc, &e);
        if (jrc == 0) {
            autoscale_keda_step(cfg, s, now, jc.lag, &d);
            v->has_lag = true;
            v->lag = jc.lag;
            v->pending = jc.pending;
            v->ack_pending = jc.ack_pending;
            v->active = d.active;
            v->error[0] = 0;
            snprintf(v->reason, sizeof(v->reason), "%s", d.reason ? d.reason : "");
            snprintf(v->why, sizeof(v->why), "%s", d.why);
            v->next_at = d.next_t >= 0 ? wall + (d.next_t - now) : -1;
            v->next_replicas = d.next_replicas;
            snprintf(v->next_why, sizeof(v->next_why), "%s", d.next_why);
        } else {
            /* KEDA without a fallback leaves the count alone when its scaler fails. */
            v->has_lag = false;
            snprintf(v->error, sizeof(v->error), "%s", e.msg);
            snprintf(v->reason, sizeof(v->reason), "ScalerError");
            snprintf(v->why, sizeof(v->why),
                     "the lag could not be read, so the count stays (KEDA without a fallback "
                     "does the same)");
            v->next_at = wall + so.polling_s;
            v->next_replicas = -1;
            snprintf(v->next_why, sizeof(v->next_why), "the next poll, in %ds", so.polling_s);
        }
        int before = v->replicas;
        int have = reconcile(dir, logs, &a, s->replicas);
        if (have < 0)
            break; /* stopped while waiting for the lock */
        v->replicas = have;
        v->desired = s->replicas;
        if (jrc == 0 && d.to != d.from) {
            v->has_last = true;
            v->last_at = wall;
            v->last_from = d.from;
            v->last_to = d.to;
            snprintf(v->last_by, sizeof(v->last_by), "%s", d.by);
            snprintf(v->last_reason, sizeof(v->last_reason), "%s", d.reason);
            snprintf(v->last_why, sizeof(v->last_why), "%s", d.why);
            log_line("%d -> %d workers (%s %s): %s", d.from, d.to, d.by, d.reason, d.why);
        } else if (jrc != 0 || have != before) {
            log_line("%s", jrc ? e.msg : "workers now match the count");
        }
        v->updated = wall;
        autoscaler_history_push(v, wall, v->has_lag ? v->lag : -1, have);
        if (autoscaler_write(dir, v) < 0)
            log_line("cannot write %s/%s: %s", dir, AUTOSCALER_FILE, strerror(errno));
        next_poll += so.polling_s;
        if (next_poll < clock_now_s())
            next_poll = clock_now_s();
        while (!stop_flag && clock_now_s() < next_poll) {
            double left = next_poll - clock_now_s();
            if (left > 0.2)
                left = 0.2; /* reap drained workers while waiting */
            struct timespec ts = {0, (long)(left * 1e9)};
            nanosleep(&ts, NULL);
            while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
        }
    }
    log_line("stopped");
    free(s);
    free(v);
    free(cfg);
    free(url);
    free(dir);
    free(logs);
    return EXIT_OK;
}
