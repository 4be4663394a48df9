/*
 * memectl bench: end-to-end load, prompt to image back, the way a user of
 * `nats bench` or `hey` expects. Closed loop (-c requests in flight) or
 * open loop (--rate, so requests queue and KEDA has lag to see), bounded by
 * a count or a duration. Replies arrive on one wildcard inbox subscription;
 * latencies go into log-linear histograms (lib/hist.h), so memory does not
 * grow with the run. --kill-worker (or --stop-worker) takes one worker of
 * the local stack away during the run and reports how long the requests it
 * held took to be answered by the others.
 */
#include "bench_takeover.h"
#include "bench_timeline.h"
#include "clock.h"
#include "cli.h"
#include "hist.h"
#include "kube/kube.h"
#include "kube/kube_status.h"
#include "kube/kubeconfig.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    B_COUNT = 'n',
    B_DURATION = 'd',
    B_CONC = 'c',
    B_RATE = 1000,
    B_REPEAT,
    B_BURST,
    B_FAST,
    B_ENGINE,
    B_SIZE,
    B_FORMAT,
    B_TEMPLATE,
    B_TIMEOUT,
    B_JSON,
    B_CSV,
    B_PROMPT,
    B_KUBECONFIG,
    B_CONTEXT,
    B_KILL,
    B_STOP,
    B_WORKER_PID,
};

const struct opt_spec bench_opts[] = {
    {B_COUNT, 'n', "count", "N", "send N requests (default 100 unless -d is given)", NULL},
    {B_DURATION, 'd', "duration", "TIME", "send for TIME (e.g. 30s, 2m; at most 1h)", NULL},
    {B_CONC, 'c', "concurrency", "N", "requests in flight, closed loop (default 4)", NULL},
    {B_RATE, 0, "rate", "R", "open loop: R requests per second whatever the replies", NULL},
    {B_REPEAT, 0, "repeat", "RATIO", "share of repeated prompts, 0 to 1 (exercises the cache)",
     NULL},
    {B_BURST, 0, "burst", "SHAPE", "with --rate: steady, spike (5x for the middle fifth) or ramp",
     "steady spike ramp"},
    {B_FAST, 0, "fast", NULL, "ask for the fast model (fast_mode)", NULL},
    {B_ENGINE, 0, "engine", "NAME", "image engine (default: the worker's)", "local hf"},
    {B_SIZE, 0, "size", "PIXELS", "square size, 64 to 2048 (default 512)", "512 1024"},
    {B_FORMAT, 0, "format", "FORMAT", "png or jpeg (default jpeg)", "png jpeg"},
    {B_TEMPLATE, 't', "template", "NAME", "background template (default: picked per prompt)",
     "@templates"},
    {B_TIMEOUT, 0, "timeout", "SECONDS", "how long to wait for each reply (default 30)", NULL},
    {B_JSON, 0, "json", NULL, "print the report as JSON on stdout", NULL},
    {B_CSV, 0, "csv", "FILE", "write one line per request to FILE", NULL},
    {B_PROMPT, 0, "prompt", "TEXT", "base prompt (a request number is added)", NULL},
    {B_KUBECONFIG, 0, "kubeconfig", "FILE",
     "sample the scalers' replicas from this cluster (default: the usual kubeconfig)", NULL},
    {B_CONTEXT, 0, "context", "NAME", "kubeconfig context", "@contexts"},
    {B_KILL, 0, "kill-worker", "TIME",
     "SIGKILL one local worker TIME into the run (e.g. 2s) and time its jobs' recovery", NULL},
    {B_STOP, 0, "stop-worker", "TIME",
     "freeze one local worker (SIGSTOP) TIME into the run, resume it at the end", NULL},
    {B_WORKER_PID, 0, "worker-pid", "PID",
     "the worker to kill or stop (default: the first one `memectl up` started)", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

#define BENCH_MAX_COUNT     1000000
#define BENCH_MAX_SECONDS   3600.0
#define BENCH_MAX_IN_FLIGHT 20000

enum burst { BURST_STEADY, BURST_SPIKE, BURST_RAMP };

struct bench_args {
    long count; /* 0 = by duration */
    double duration;
    long concurrency;
    double rate;
    double repeat;
    enum burst burst;
    bool fast;
    const char *engine;
    const char *template_name;
    int size;
    enum image_format format;
    double timeout;
    bool json;
    const char *csv;
    const char *prompt;
    const char *kubeconfig;
    const char *context;
    double kill_at;  /* seconds into the run; 0 = never */
    bool stop;       /* SIGSTOP (then SIGCONT at the end) instead of SIGKILL */
    long worker_pid; /* 0 = the local stack's first worker */
};

/* One request's record; kept for every request sent (a few dozen bytes). */
struct sample {
    double sent; /* seconds since the start */
    double total_ms;
    double queue_ms, gen_ms;
    int code; /* 0 ok, else a meme_code; 1 = not answered */
    bool done;
    bool cache_hit;
    bool at_kill; /* not answered yet when the worker was taken away */
    int attempt;  /* Meme-Attempt of the answer: > 1 when redelivered */
};

struct bench {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    double t0;
    struct sample *s;
    size_t cap, sent, answered, in_flight;
    struct hist total, queue, gen, delivery; /* microseconds */
    struct hist window;                      /* total, since the last progress line */
    size_t errors[MEME_CODE_COUNT + 1];      /* by -code; last slot: timeouts */
    size_t error_count, cache_hits, cache_known;
    size_t bad_replies;
    char workers[64][64]; /* distinct Meme-Worker ids that answered */
    int nworkers;
};

/* Waits (b->lock held) until a reply arrives or ms pass. */
static void wait_for_reply(struct bench *b, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)ms * 1000000L;
    ts.tv_sec += ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&b->cond, &b->lock, &ts);
}

static void sleep_until(double t)
{
    double d = t - clock_now_s();
    if (d <= 0)
        return;
    struct timespec ts = {(time_t)d, (long)((d - floor(d)) * 1e9)};
    nanosleep(&ts, NULL);
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

/* "90", "90s", "1.5m", "1h" → seconds. */
static int parse_duration(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0)
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        ;
    else if (strcmp(end, "ms") == 0)
        v /= 1000;
    else if (strcmp(end, "m") == 0)
        v *= 60;
    else if (strcmp(end, "h") == 0)
        v *= 3600;
    else
        return -1;
    *out = v;
    return 0;
}

static int parse_bench_args(struct cli *cli, int argc, char **argv, struct bench_args *a)
{
    struct opt_iter it;
    int r, rc = 0;
    double d;
    const struct cmd_spec *cmd = cli->cmd;
    memset(a, 0, sizeof(*a));
    a->concurrency = 4;
    a->size = PROTO_SIZE_DEFAULT;
    a->format = IMAGE_JPEG;
    a->timeout = 30;
    a->prompt = "when the queue grows | keda adds a worker";
    opt_init(&it, cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        const char *v = it.value;
        switch (it.key) {
        case 'h':
            opt_release(&it);
            return -1;
        case B_COUNT:
            if (parse_double(v, 1, BENCH_MAX_COUNT, &d) < 0 || d != floor(d)) {
                cmd_usage_error(cmd, "--count must be a whole number from 1 to %d",
                                BENCH_MAX_COUNT);
                rc = EXIT_USAGE;
            }
            a->count = (long)d;
            break;
        case B_DURATION:
            if (parse_duration(v, &a->duration) < 0 || a->duration > BENCH_MAX_SECONDS) {
                cmd_usage_error(cmd, "--duration must be like 30s, 2m or 1h (at most 1h)");
                rc = EXIT_USAGE;
            }
            break;
        case B_CONC:
            if (parse_double(v, 1, 1000, &d) < 0 || d != floor(d)) {
                cmd_usage_error(cmd, "--concurrency must be from 1 to 1000");
                rc = EXIT_USAGE;
            }
            a->concurrency = (long)d;
            break;
        case B_RATE:
            if (parse_double(v, 0.1, 100000, &a->rate) < 0) {
                cmd_usage_error(cmd, "--rate must be from 0.1 to 100000 requests per second");
                rc = EXIT_USAGE;
            }
            break;
        case B_REPEAT:
            if (parse_double(v, 0, 1, &a->repeat) < 0) {
                cmd_usage_error(cmd, "--repeat must be a ratio from 0 to 1");
                rc = EXIT_USAGE;
            }
            break;
        case B_BURST:
            if (strcmp(v, "steady") == 0)
                a->burst = BURST_STEADY;
            else if (strcmp(v, "spike") == 0)
                a->burst = BURST_SPIKE;
            else if (strcmp(v, "ramp") == 0)
                a->burst = BURST_RAMP;
            else {
                cmd_usage_error(cmd, "--burst must be steady, spike or ramp");
                rc = EXIT_USAGE;
            }
            break;
        case B_FAST:
            a->fast = true;
            break;
        case B_ENGINE:
            a->engine = v;
            break;
        case B_TEMPLATE:
            a->template_name = v;
            break;
        case B_SIZE:
            if (parse_double(v, 64, 2048, &d) < 0 || d != floor(d)) {
                cmd_usage_error(cmd, "--size must be from 64 to 2048 pixels");
                rc = EXIT_USAGE;
            }
            a->size = (int)d;
            break;
        case B_FORMAT:
            if (strcmp(v, "png") == 0)
                a->format = IMAGE_PNG;
            else if (strcmp(v, "jpeg") == 0 || strcmp(v, "jpg") == 0)
                a->format = IMAGE_JPEG;
            else {
                cmd_usage_error(cmd, "--format must be png or jpeg");
                rc = EXIT_USAGE;
            }
            break;
        case B_TIMEOUT:
            if (parse_double(v, 0.1, 3600, &a->timeout) < 0) {
                cmd_usage_error(cmd, "--timeout must be from 0.1 to 3600 seconds");
                rc = EXIT_USAGE;
            }
            break;
        case B_JSON:
            a->json = true;
            break;
        case B_CSV:
            a->csv = v;
            break;
        case B_PROMPT:
            a->prompt = v;
            break;
        case B_KUBECONFIG:
            a->kubeconfig = v;
            break;
        case B_CONTEXT:
            a->context = v;
            break;
        case B_KILL:
        case B_STOP:
            if (parse_duration(v, &a->kill_at) < 0 || a->kill_at > BENCH_MAX_SECONDS) {
                cmd_usage_error(cmd, "--%s must be like 2s or 500ms",
                                it.key == B_KILL ? "kill-worker" : "stop-worker");
                rc = EXIT_USAGE;
            }
            a->stop = it.key == B_STOP;
            break;
        case B_WORKER_PID:
            if (parse_double(v, 1, 4194304, &d) < 0 || d != floor(d)) {
                cmd_usage_error(cmd, "--worker-pid must be a process id");
                rc = EXIT_USAGE;
            }
            a->worker_pid = (long)d;
            break;
        }
        if (rc)
            break;
    }
    if (r < 0)
        rc = EXIT_USAGE;
    if (!rc && a->burst != BURST_STEADY && a->rate <= 0) {
        cmd_usage_error(cmd, "--burst shapes an open-loop run: give --rate too");
        rc = EXIT_USAGE;
    }
    if (!rc && a->worker_pid && a->kill_at <= 0) {
        cmd_usage_error(cmd, "--worker-pid says which worker --kill-worker or --stop-worker "
                             "takes away: give one of them too");
        rc = EXIT_USAGE;
    }
    if (!rc && a->count == 0 && a->duration == 0)
        a->count = 100;
    opt_release(&it);
    return rc;
}

static const char *hdr(natsMsg *m, const char *name)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, name, &v) == NATS_OK ? v : NULL;
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    struct bench *b = closure;
    double t = clock_now_s();
    const char *subj = natsMsg_GetSubject(m);
    const char *dot = strrchr(subj, '.');
    char *end;
    unsigned long long i = dot ? strtoull(dot + 1, &end, 10) : 0;
    pthread_mutex_lock(&b->lock);
    if (!dot || *end || i >= b->sent || b->s[i].done) {
        b->bad_replies++; /* a stray or duplicate reply: counted, never double-counted */
        pthread_mutex_unlock(&b->lock);
        natsMsg_Destroy(m);
        return;
    }
    struct sample *s = &b->s[i];
    const char *st_hdr = hdr(m, PROTO_H_STATUS);
    if (st_hdr && strcmp(st_hdr, "progress") == 0) {
        /* Not asked for; a worker sends none, but one is never an answer. */
        pthread_mutex_unlock(&b->lock);
        natsMsg_Destroy(m);
        return;
    }
    s->done = true;
    const char *att = hdr(m, PROTO_H_ATTEMPT);
    s->attempt = att ? atoi(att) : 1;
    s->total_ms = (t - b->t0 - s->sent) * 1000.0;
    const char *st = hdr(m, PROTO_H_STATUS);
    if (st && strcmp(st, "ok") == 0) {
        s->code = 0;
        const char *q = hdr(m, PROTO_H_QUEUE_MS), *g = hdr(m, PROTO_H_GEN_MS);
        const char *c = hdr(m, PROTO_H_CACHE);
        const char *wk = hdr(m, PROTO_H_WORKER);
        if (wk) {
            int k = 0;
            while (k < b->nworkers && strncmp(b->workers[k], wk, sizeof(b->workers[0]) - 1) != 0)
                k++;
            if (k == b->nworkers && k < 64)
                snprintf(b->workers[b->nworkers++], sizeof(b->workers[0]), "%s", wk);
        }
        s->queue_ms = q ? atof(q) : 0;
        s->gen_ms = g ? atof(g) : 0;
        if (c) {
            b->cache_known++;
            s->cache_hit = strcmp(c, "hit") == 0;
            b->cache_hits += s->cache_hit;
        }
        double delivery = s->total_ms - s->queue_ms - s->gen_ms;
        hist_add(&b->total, (uint64_t)(s->total_ms * 1000.0));
        hist_add(&b->window, (uint64_t)(s->total_ms * 1000.0));
        hist_add(&b->queue, (uint64_t)(s->queue_ms * 1000.0));
        hist_add(&b->gen, (uint64_t)(s->gen_ms * 1000.0));
        hist_add(&b->delivery, (uint64_t)(delivery > 0 ? delivery * 1000.0 : 0));
    } else {
        const char *code = hdr(m, PROTO_H_ERROR_CODE);
        int c = code ? meme_code_from_name(code) : MEME_E_INTERNAL;
        if (!code) {
            /* The original clients' error JSON carries the code in its body. */
            int pc = MEME_E_INTERNAL;
            char *msg = NULL;
            if (proto_error_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &pc,
                                  &msg) == 0)
                c = pc;
            free(msg);
        }
        if (c >= 0 || -c >= MEME_CODE_COUNT)
            c = MEME_E_INTERNAL;
        s->code = c;
        b->errors[-c]++;
        b->error_count++;
    }
    b->answered++;
    b->in_flight--;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    natsMsg_Destroy(m);
}

/* Sends the signal and marks what is outstanding (b->lock held). */
static void takeover_now(struct bench *b, struct takeover *tk, const struct bench_args *a)
{
    tk->done = true;
    tk->at = clock_now_s() - b->t0;
    if (kill(tk->pid, a->stop ? SIGSTOP : SIGKILL) != 0) {
        cli_error("cannot signal worker %d: %s", (int)tk->pid, strerror(errno));
        tk->pid = 0;
        return;
    }
    for (size_t i = 0; i < b->sent; i++)
        if (!b->s[i].done) {
            b->s[i].at_kill = true;
            tk->outstanding++;
        }
}

/* What became of the requests outstanding at the signal (b->lock held). */
static void takeover_tally(const struct bench *b, struct takeover *tk)
{
    for (size_t i = 0; i < b->sent; i++) {
        const struct sample *s = &b->s[i];
        if (!s->at_kill || !s->done)
            continue;
        double after = s->sent + s->total_ms / 1000.0 - tk->at;
        tk->answered++;
        if (after > tk->last_s)
            tk->last_s = after;
        if (s->attempt > 1) {
            tk->redelivered++;
            if (after > tk->redelivered_s)
                tk->redelivered_s = after;
        }
    }
}

/* Requests per second at time t of the run (open loop). */
static double rate_at(const struct bench_args *a, double t, double span)
{
    double f = span > 0 ? t / span : 0;
    switch (a->burst) {
    case BURST_SPIKE:
        return (f >= 0.4 && f < 0.6) ? a->rate * 5 : a->rate;
    case BURST_RAMP:
        return a->rate * (0.1 + 0.9 * (f > 1 ? 1 : f));
    case BURST_STEADY:
        break;
    }
    return a->rate;
}

static void progress(const struct bench *b, double elapsed, bool final)
{
    double p50 = (double)hist_quantile(&b->window, 0.5) / 1000.0;
    double p99 = (double)hist_quantile(&b->window, 0.99) / 1000.0;
    fprintf(stderr,
            "\r\033[Ksent %zu  answered %zu  errors %zu  %.0f/s  p50 %.1f ms  p99 %.1f ms%s",
            b->sent, b->answered, b->error_count, elapsed > 0 ? (double)b->answered / elapsed : 0,
            p50, p99, final ? "\n" : "");
}

static json_t *latency_json(const struct hist *h)
{
    json_t *o = json_object();
    json_object_set_new(o, "min", json_real((double)h->min / 1000.0));
    json_object_set_new(o, "p50", json_real((double)hist_quantile(h, 0.5) / 1000.0));
    json_object_set_new(o, "p90", json_real((double)hist_quantile(h, 0.9) / 1000.0));
    json_object_set_new(o, "p99", json_real((double)hist_quantile(h, 0.99) / 1000.0));
    json_object_set_new(o, "p999", json_real((double)hist_quantile(h, 0.999) / 1000.0));
    json_object_set_new(o, "max", json_real((double)h->max / 1000.0));
    json_object_set_new(o, "mean", json_real(hist_mean(h) / 1000.0));
    return o;
}

static const char *error_name(size_t slot)
{
    return slot == MEME_CODE_COUNT ? "no_reply" : meme_code_name(-(int)slot);
}

static void report_json(const struct bench *b, const struct bench_args *a, double span,
                        const struct bench_timeline *tl, const struct takeover *tk)
{
    json_t *o = json_object();
    if (tk->done && tk->pid)
        json_object_set_new(o, "takeover", takeover_json(tk, a->stop));
    json_object_set_new(o, "sent", json_integer((json_int_t)b->sent));
    json_object_set_new(o, "answered", json_integer((json_int_t)b->answered));
    json_object_set_new(o, "ok", json_integer((json_int_t)b->total.count));
    json_object_set_new(o, "duration_s", json_real(span));
    json_object_set_new(o, "throughput", json_real(span > 0 ? (double)b->total.count / span : 0));
    /* the workers that answered: memectl simulate --bench divides by them */
    json_object_set_new(o, "workers", json_integer(b->nworkers));
    json_object_set_new(o, "latency_ms", latency_json(&b->total));
    json_object_set_new(o, "queue_ms", latency_json(&b->queue));
    json_object_set_new(o, "gen_ms", latency_json(&b->gen));
    json_object_set_new(o, "delivery_ms", latency_json(&b->delivery));
    json_t *cache = json_object();
    json_object_set_new(cache, "hits", json_integer((json_int_t)b->cache_hits));
    json_object_set_new(cache, "known", json_integer((json_int_t)b->cache_known));
    json_object_set_new(
        cache, "ratio",
        json_real(b->cache_known ? (double)b->cache_hits / (double)b->cache_known : 0));
    json_object_set_new(o, "cache", cache);
    json_t *errs = json_object();
    size_t total_errors = 0;
    for (size_t i = 1; i <= MEME_CODE_COUNT; i++)
        if (b->errors[i]) {
            json_object_set_new(errs, error_name(i), json_integer((json_int_t)b->errors[i]));
            total_errors += b->errors[i];
        }
    json_object_set_new(o, "errors", errs);
    json_object_set_new(o, "error_count", json_integer((json_int_t)total_errors));
    json_t *cfg = json_object();
    json_object_set_new(cfg, "concurrency",
                        a->rate > 0 ? json_null() : json_integer(a->concurrency));
    json_object_set_new(cfg, "rate", a->rate > 0 ? json_real(a->rate) : json_null());
    json_object_set_new(cfg, "repeat", json_real(a->repeat));
    json_object_set_new(cfg, "size", json_integer(a->size));
    json_object_set_new(cfg, "format", json_string(a->format == IMAGE_PNG ? "png" : "jpeg"));
    json_object_set_new(o, "config", cfg);
    if (tl && tl->n) {
        json_t *arr = json_array();
        for (int k = 0; k < tl->n; k++) {
            json_t *e = json_object(), *r = json_object();
            json_object_set_new(e, "t", json_real(tl->t[k]));
            for (int j = 0; j < tl->nscalers; j++)
                if (tl->replicas[k][j] >= 0)
                    json_object_set_new(r, tl->names[j], json_integer(tl->replicas[k][j]));
            json_object_set_new(e, "replicas", r);
            json_array_append_new(arr, e);
        }
        json_object_set_new(o, "timeline", arr);
    }
    json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(6) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(o);
}

static void report_text(const struct bench *b, const struct bench_args *a, double span,
                        const struct bench_timeline *tl, const struct takeover *tk)
{
    const struct hist *t = &b->total;
    size_t timeouts = b->errors[MEME_CODE_COUNT];
    printf("requests    %zu sent, %zu answered, %llu ok, %zu errors, %zu without reply\n", b->sent,
           b->answered, (unsigned long long)t->count, b->error_count, timeouts);
    printf("duration    %.2f s\n", span);
    printf("throughput  %.1f memes/s from %d worker%s\n", span > 0 ? (double)t->count / span : 0,
           b->nworkers, b->nworkers == 1 ? "" : "s");
    if (t->count) {
        printf("latency     min %.1f  p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f ms\n",
               (double)t->min / 1000.0, (double)hist_quantile(t, 0.5) / 1000.0,
               (double)hist_quantile(t, 0.9) / 1000.0, (double)hist_quantile(t, 0.99) / 1000.0,
               (double)hist_quantile(t, 0.999) / 1000.0, (double)t->max / 1000.0);
        printf("split p50   queue %.1f  generation %.1f  delivery %.1f ms\n",
               (double)hist_quantile(&b->queue, 0.5) / 1000.0,
               (double)hist_quantile(&b->gen, 0.5) / 1000.0,
               (double)hist_quantile(&b->delivery, 0.5) / 1000.0);
    }
    if (b->cache_known)
        printf("cache       %zu hits of %zu (%.1f %%)\n", b->cache_hits, b->cache_known,
               100.0 * (double)b->cache_hits / (double)b->cache_known);
    else
        printf("cache       not reported by the workers\n");
    printf("errors      ");
    bool any = false;
    for (size_t i = 1; i <= MEME_CODE_COUNT; i++)
        if (b->errors[i]) {
            printf("%s%s %zu", any ? ", " : "", error_name(i), b->errors[i]);
            any = true;
        }
    printf("%s\n", any ? "" : "none");
    takeover_text(tk, a->stop);
    if (tl && tl->n) {
        printf("replicas during the run (every 2 s):\n  %8s", "t");
        for (int j = 0; j < tl->nscalers; j++)
            printf("  %s", tl->names[j]);
        printf("\n");
        for (int k = 0; k < tl->n; k++) {
            printf("  %7.1fs", tl->t[k]);
            for (int j = 0; j < tl->nscalers; j++) {
                int w = (int)strlen(tl->names[j]);
                if (tl->replicas[k][j] >= 0)
                    printf("  %*d", w, tl->replicas[k][j]);
                else
                    printf("  %*s", w, "-");
            }
            printf("\n");
        }
    }
}

static int write_csv(const struct bench *b, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(f, "request,sent_s,status,total_ms,queue_ms,gen_ms,cache\n");
    for (size_t i = 0; i < b->sent; i++) {
        const struct sample *s = &b->s[i];
        const char *status = !s->done ? "no_reply" : s->code ? meme_code_name(s->code) : "ok";
        fprintf(f, "%zu,%.6f,%s,%.3f,%.3f,%.3f,%s\n", i, s->sent, status,
                s->done ? s->total_ms : 0.0, s->queue_ms, s->gen_ms,
                s->done && !s->code ? (s->cache_hit ? "hit" : "miss") : "");
    }
    if (f != stdout && fclose(f) != 0) {
        cli_error("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* The prompt for request i: unique, or (by --repeat) one sent before. */
static char *prompt_for(const struct bench_args *a, size_t i, const char *tag, unsigned *seed)
{
    size_t n = i;
    if (a->repeat > 0 && i > 0 && (double)rand_r(seed) / RAND_MAX < a->repeat)
        n = (size_t)rand_r(seed) % (i < 16 ? i : 16); /* one of the first few */
    const char *bar = strchr(a->prompt, '|');
    if (bar)
        return xasprintf("%.*s#%zu %s %s", (int)(bar - a->prompt), a->prompt, n, tag, bar);
    return xasprintf("%s #%zu %s", a->prompt, n, tag);
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
    struct bench_args a;
    int rc = parse_bench_args(cli, argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;

    struct meme_err err = {0};
    struct mq_conn mq = {0};
    char red[512];
    cli_resolve_server(cli);
    mq_url_redacted(cli->server, red, sizeof(red));
    struct mq_connect_opts co;
    cli_connect_opts(cli, &co, "memectl bench");
    if (mq_connect(&mq, &co, &err) < 0) {
        cli_error("%s", err.msg);
        return cli_exit_for(err.code);
    }

    struct bench b;
    struct bench_timeline *tl = NULL;
    struct takeover tk;
    memset(&tk, 0, sizeof(tk));
    if (a.kill_at > 0 && !(tk.pid = takeover_pick(a.worker_pid))) {
        mq_close(&mq);
        return EXIT_FAIL;
    }
    memset(&b, 0, sizeof(b));
    pthread_mutex_init(&b.lock, NULL);
    pthread_cond_init(&b.cond, NULL);
    hist_init(&b.total);
    hist_init(&b.queue);
    hist_init(&b.gen);
    hist_init(&b.delivery);
    hist_init(&b.window);
    b.cap = a.count ? (size_t)a.count : 1024;
    b.s = xcalloc(b.cap, sizeof(*b.s));

    natsInbox *inbox = NULL;
    natsSubscription *sub = NULL;
    natsInbox_Create(&inbox);
    char *wild = xasprintf("%s.*", inbox);
    if (natsConnection_Subscribe(&sub, mq.nc, wild, on_reply, &b) != NATS_OK) {
        cli_error("cannot subscribe on %s: %s", red, nats_GetLastError(NULL));
        rc = EXIT_FAIL;
        goto out;
    }
    natsSubscription_SetPendingLimits(sub, -1, -1);

    /* A tag that makes this run's prompts its own (a fresh run misses the cache). */
    char tag[16];
    char idbuf[37];
    proto_new_id(idbuf);
    snprintf(tag, sizeof(tag), "%.8s", idbuf);
    unsigned seed = (unsigned)idbuf[0] * 7919u + (unsigned)idbuf[1];

    bool tty = isatty(2) && !cli->quiet;
    b.t0 = clock_now_s();
    /* The scale-up timeline, when a cluster is there to watch. */
    tl = xcalloc(1, sizeof(*tl));
    bench_timeline_start(tl, a.kubeconfig, a.context, b.t0);
    double end = a.duration > 0 ? b.t0 + a.duration : 0;
    double span_plan = a.duration > 0 ? a.duration : (a.rate > 0 ? (double)a.count / a.rate : 0);
    double next_send = b.t0, next_progress = b.t0 + 0.25;
    struct proto_request req;
    for (;;) {
        double now = clock_now_s();
        if (a.count && b.sent >= (size_t)a.count)
            break;
        if (end && now >= end)
            break;
        if (tty && now >= next_progress) {
            pthread_mutex_lock(&b.lock);
            progress(&b, now - b.t0, false);
            hist_release(&b.window);
            pthread_mutex_unlock(&b.lock);
            next_progress = now + 0.25;
        }
        pthread_mutex_lock(&b.lock);
        if (tk.pid && !tk.done && now - b.t0 >= a.kill_at)
            takeover_now(&b, &tk, &a);
        if (a.rate > 0) {
            /* Open loop: send on schedule; only a runaway backlog holds it back. */
            pthread_mutex_unlock(&b.lock);
            if (now < next_send) {
                sleep_until(next_send < next_progress ? next_send : next_progress);
                continue;
            }
            pthread_mutex_lock(&b.lock);
            if (b.in_flight >= BENCH_MAX_IN_FLIGHT) {
                wait_for_reply(&b, 50);
                pthread_mutex_unlock(&b.lock);
                continue;
            }
            next_send += 1.0 / rate_at(&a, now - b.t0, span_plan);
        } else if (b.in_flight >= (size_t)a.concurrency) {
            wait_for_reply(&b, 50);
            pthread_mutex_unlock(&b.lock);
            continue;
        }
        if (b.sent == b.cap) {
            b.cap *= 2;
            b.s = xrealloc(b.s, b.cap * sizeof(*b.s));
            memset(b.s + b.sent, 0, (b.cap - b.sent) * sizeof(*b.s));
        }
        size_t i = b.sent;
        b.s[i].sent = now - b.t0;
        b.s[i].code = 1;
        b.sent++;
        b.in_flight++;
        pthread_mutex_unlock(&b.lock);

        proto_request_init(&req);
        proto_new_id(req.id);
        req.prompt = prompt_for(&a, i, tag, &seed);
        req.fast_mode = a.fast;
        req.size = a.size;
        req.format = a.format;
        if (a.engine)
            snprintf(req.engine, sizeof(req.engine), "%s", a.engine);
        if (a.template_name)
            snprintf(req.template_name, sizeof(req.template_name), "%s", a.template_name);
        req.reply = xasprintf("%s.%zu", inbox, i);
        int prc = mq_publish_request(&mq, &req, 0, &err);
        proto_request_release(&req);
        if (prc < 0) {
            if (tty)
                fputs("\r\033[K", stderr);
            cli_error("request %zu: %s (server %s)", i, err.msg, red);
            pthread_mutex_lock(&b.lock);
            b.sent--;
            b.in_flight--;
            pthread_mutex_unlock(&b.lock);
            rc = EXIT_FAIL;
            break;
        }
    }
    double last_send = clock_now_s();

    /* Wait for what is in flight, each request up to --timeout after it was sent. */
    pthread_mutex_lock(&b.lock);
    double deadline = last_send + a.timeout;
    while (b.in_flight > 0 && clock_now_s() < deadline) {
        if (tk.pid && !tk.done && clock_now_s() - b.t0 >= a.kill_at)
            takeover_now(&b, &tk, &a);
        wait_for_reply(&b, 100);
        if (tty && clock_now_s() >= next_progress) {
            progress(&b, clock_now_s() - b.t0, false);
            next_progress = clock_now_s() + 0.25;
        }
    }
    double span = clock_now_s() - b.t0;
    size_t bad_before = b.bad_replies;
    pthread_mutex_unlock(&b.lock);
    if (tk.done && tk.pid && a.stop) {
        /* Resumed, the worker finishes what it held: any answer it sends
         * now comes after the one its jobs already got. */
        kill(tk.pid, SIGCONT);
        sleep_until(clock_now_s() + 2.0);
    }
    bench_timeline_stop(tl);
    /* Stop the callback (letting it finish what it holds) before the totals are final. */
    if (natsSubscription_Drain(sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(sub, 5000);
    pthread_mutex_lock(&b.lock);
    b.errors[MEME_CODE_COUNT] = b.in_flight;
    tk.late = b.bad_replies - bad_before;
    if (tk.done && tk.pid)
        takeover_tally(&b, &tk);
    if (b.total.count) {
        /* Throughput over the time the answers took, not the idle wait after the last. */
        double last = 0;
        for (size_t i = 0; i < b.sent; i++)
            if (b.s[i].done && b.s[i].sent + b.s[i].total_ms / 1000.0 > last)
                last = b.s[i].sent + b.s[i].total_ms / 1000.0;
        if (last > 0)
            span = last;
    }
    if (tty) {
        hist_release(&b.window);
        hist_merge(&b.window, &b.total);
        progress(&b, span, true);
    }
    pthread_mutex_unlock(&b.lock);

    if (a.json)
        report_json(&b, &a, span, tl, &tk);
    else
        report_text(&b, &a, span, tl, &tk);
    if (a.csv && write_csv(&b, a.csv) < 0 && !rc)
        rc = EXIT_FAIL;
    if (!rc && b.errors[MEME_CODE_COUNT] == b.sent && b.sent > 0) {
        cli_error("no request was answered within %.0f s: is a worker running? "
                  "(`memectl up`, or meme-worker --nats %s)",
                  a.timeout, red);
        rc = EXIT_TIMEOUT;
    } else if (!rc && (b.error_count || b.errors[MEME_CODE_COUNT]))
        rc = EXIT_FAIL;
out:
    if (tl) {
        bench_timeline_stop(tl);
        free(tl);
    }
    natsSubscription_Destroy(sub);
    natsInbox_Destroy(inbox);
    free(wild);
    mq_close(&mq);
    hist_release(&b.total);
    hist_release(&b.queue);
    hist_release(&b.gen);
    hist_release(&b.delivery);
    hist_release(&b.window);
    free(b.s);
    pthread_mutex_destroy(&b.lock);
    pthread_cond_destroy(&b.cond);
    return rc;
}
