/*
 * `memectl simulate`'s engine (see loadsim.h): profiles, then a time-stepped
 * fluid queue between the decisions of autoscale.c. The queue wait of a
 * request arriving at t is the time until everything before it has been
 * completed and a worker is there to take it.
 */
#include "kube/loadsim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static void add_point(struct loadsim_profile *p, int *cap, double t, double rate)
{
    if (p->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        p->t = xrealloc(p->t, (size_t)*cap * sizeof(double));
        p->rate = xrealloc(p->rate, (size_t)*cap * sizeof(double));
    }
    p->t[p->n] = t;
    p->rate[p->n] = rate;
    p->n++;
}

int loadsim_profile_builtin(struct loadsim_profile *p, const char *name, double rate,
                            double duration, struct meme_err *err)
{
    memset(p, 0, sizeof(*p));
    int cap = 0;
    if (!(rate > 0) || !(duration > 0) || duration > LOADSIM_MAX_SECONDS)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "a profile needs a rate above 0 and a duration from 0 to %.0f s",
                            LOADSIM_MAX_SECONDS);
    if (strcmp(name, "steady") == 0) {
        add_point(p, &cap, 0, rate);
    } else if (strcmp(name, "spike") == 0) {
        add_point(p, &cap, 0, rate);
        add_point(p, &cap, duration * 0.4, rate * 5);
        add_point(p, &cap, duration * 0.6, rate);
    } else if (strcmp(name, "ramp") == 0) {
        /* bench's ramp, in steps of a second */
        for (double t = 0; t < duration; t += 1)
            add_point(p, &cap, t, rate * (0.1 + 0.9 * (t + 0.5) / duration));
    } else {
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "\"%s\" is not a built-in profile (spike, ramp or steady)", name);
    }
    p->end = duration;
    return 0;
}

int loadsim_profile_csv(struct loadsim_profile *p, const char *text, size_t len,
                        struct meme_err *err)
{
    memset(p, 0, sizeof(*p));
    int cap = 0, line = 0, rc = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n')
            e++;
        line++;
        char buf[256];
        size_t n = e - i < sizeof(buf) - 1 ? e - i : sizeof(buf) - 1;
        memcpy(buf, text + i, n);
        buf[n] = 0;
        i = e + 1;
        char *s = buf;
        while (*s == ' ' || *s == '\t')
            s++;
        char *end = s + strlen(s);
        while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
            *--end = 0;
        if (!*s || *s == '#')
            continue;
        if (p->n == 0 && line == 1 && !(*s >= '0' && *s <= '9') && *s != '.' && *s != '-')
            continue; /* a header such as "seconds,rate" */
        char *comma = strchr(s, ',');
        if (!comma) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                              "line %d: want SECONDS,RATE (e.g. \"0,50\"), not \"%.40s\"", line, s);
            goto fail;
        }
        *comma = 0;
        char *e1, *e2;
        errno = 0;
        double t = strtod(s, &e1);
        double r = strtod(comma + 1, &e2);
        while (*e2 == ' ' || *e2 == '\t')
            e2++;
        if (errno || e1 == s || *e1 || e2 == comma + 1 || *e2 || !isfinite(t) || !isfinite(r)) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST, "line %d: SECONDS and RATE must be numbers",
                              line);
            goto fail;
        }
        if (t < 0 || t > LOADSIM_MAX_SECONDS || (p->n == 0 && t != 0) ||
            (p->n > 0 && !(t > p->t[p->n - 1]))) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                              "line %d: times must start at 0 and increase, up to %.0f s", line,
                              LOADSIM_MAX_SECONDS);
            goto fail;
        }
        if (r < 0 || r > 1e6) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                              "line %d: the rate must be from 0 to 1000000 requests per second",
                              line);
            goto fail;
        }
        if (p->n >= LOADSIM_MAX_POINTS) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST, "more than %d points", LOADSIM_MAX_POINTS);
            goto fail;
        }
        add_point(p, &cap, t, r);
    }
    if (p->n < 2) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "a profile needs at least two lines: \"0,RATE\" and the end, e.g. "
                          "\"60,0\"");
        goto fail;
    }
    p->end = p->t[p->n - 1];
    return 0;
fail:
    loadsim_profile_release(p);
    return rc;
}

void loadsim_profile_release(struct loadsim_profile *p)
{
    free(p->t);
    free(p->rate);
    memset(p, 0, sizeof(*p));
}

double loadsim_rate_at(const struct loadsim_profile *p, double t)
{
    if (t < 0 || t >= p->end || p->n == 0)
        return 0;
    int lo = 0, hi = p->n - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (p->t[mid] <= t)
            lo = mid;
        else
            hi = mid - 1;
    }
    return p->rate[lo];
}

/* Requests arriving in [t0, t1): the profile's integral, exact for any step. */
static double arrivals(const struct loadsim_profile *p, double t0, double t1)
{
    double sum = 0;
    for (int i = 0; i < p->n; i++) {
        double a = p->t[i], b = i + 1 < p->n ? p->t[i + 1] : p->end;
        if (b > p->end)
            b = p->end;
        double lo = a > t0 ? a : t0, hi = b < t1 ? b : t1;
        if (hi > lo)
            sum += p->rate[i] * (hi - lo);
    }
    return sum;
}

void loadsim_result_release(struct loadsim_result *r)
{
    free(r->rows);
    memset(r, 0, sizeof(*r));
}

int loadsim_replicas_at(const struct loadsim_result *r, double t)
{
    if (r->n == 0)
        return 0;
    int k = 0;
    for (int i = 0; i < r->n && r->rows[i].t <= t + 1e-9; i++)
        k = i;
    return r->rows[k].replicas;
}

static int check_opts(const struct loadsim_opts *o, const struct autoscale_config *c,
                      struct meme_err *err)
{
    if (!(o->throughput > 0) || o->throughput > 1e6)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "the per-worker throughput must be above 0 requests per second");
    if (o->duration < 0 || o->duration > LOADSIM_MAX_SECONDS)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "the duration must be at most %.0f s",
                            LOADSIM_MAX_SECONDS);
    if (c->period_s < 1)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "the polling interval must be at least 1 s");
    return 0;
}

/* The queue: cumulative arrivals and completions and the replicas, per step. */
struct trace {
    double *a, *d;
    int *r;
    size_t n, cap;
};

static void trace_push(struct trace *tr, double a, double d, int r)
{
    if (tr->n == tr->cap) {
        tr->cap = tr->cap ? tr->cap * 2 : 4096;
        tr->a = xrealloc(tr->a, tr->cap * sizeof(double));
        tr->d = xrealloc(tr->d, tr->cap * sizeof(double));
        tr->r = xrealloc(tr->r, tr->cap * sizeof(int));
    }
    tr->a[tr->n] = a;
    tr->d[tr->n] = d;
    tr->r[tr->n] = r;
    tr->n++;
}

static void trace_release(struct trace *tr)
{
    free(tr->a);
    free(tr->d);
    free(tr->r);
}

/* Queue wait of a request arriving at step k: until all before it are done
 * and a worker is there. < 0 when that never happens within the trace. */
static double wait_at(const struct trace *tr, size_t k, double dt)
{
    /* everything that arrived before it */
    double need = (k > 0 ? tr->a[k - 1] : 0) - 1e-6;
    size_t lo = k, hi = tr->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (tr->d[mid] >= need)
            hi = mid;
        else
            lo = mid + 1;
    }
    for (size_t j = lo; j < tr->n; j++)
        if (tr->r[j] > 0)
            return (double)(j - k) * dt;
    return -1;
}

static void push_row(struct loadsim_result *r, int *cap, const struct loadsim_row *row)
{
    if (r->n == *cap) {
        *cap = *cap ? *cap * 2 : 256;
        r->rows = xrealloc(r->rows, (size_t)*cap * sizeof(*r->rows));
    }
    r->rows[r->n++] = *row;
}

/* Shared loop: kind KEDA or HPA. */
static int run(const struct autoscale_config *c, const struct loadsim_profile *p,
               const struct loadsim_opts *o, struct loadsim_result *r, struct meme_err *err)
{
    memset(r, 0, sizeof(*r));
    int rc = check_opts(o, c, err);
    if (rc)
        return rc;
    double dt = o->dt > 0 ? o->dt : 0.05;
    long per_poll = lround(c->period_s / dt);
    if (per_poll < 1)
        per_poll = 1;
    bool keda = c->kind == AUTOSCALE_KEDA;
    int rest =
        keda ? (c->so.has_idle ? c->so.idle_replicas : c->so.min_replicas) : c->hpa.min_replicas;
    double limit = o->duration > 0 ? o->duration : LOADSIM_MAX_SECONDS;
    struct autoscale_state *s = xcalloc(1, sizeof(*s));
    autoscale_state_init(s, rest);
    struct trace tr = {0};
    size_t *row_step = NULL;
    int cap = 0;
    double a = 0, d = 0;
    for (long step = 0;; step++) {
        double t = (double)step * dt;
        if (t > limit + 1e-9)
            break;
        if (step % per_poll == 0) {
            struct loadsim_row row;
            memset(&row, 0, sizeof(row));
            row.t = t;
            row.rate = loadsim_rate_at(p, t);
            if (keda) {
                /* KEDA counts what is queued and what is in flight: with a
                 * backlog that is all of a - d, without one the busy
                 * workers (rate / throughput by Little's law). */
                double busy = row.rate / o->throughput;
                if (busy > s->replicas)
                    busy = s->replicas;
                row.lag = (int64_t)llround(a - d > busy ? a - d : busy);
                autoscale_keda_step(c, s, t, row.lag, &row.d);
            } else {
                double cur[KUBE_MAX_METRICS];
                for (int i = 0; i < KUBE_MAX_METRICS; i++)
                    cur[i] = NAN;
                for (int i = 0; i < c->hpa.nmetrics; i++)
                    if (c->hpa.metrics[i].target_type == KUBE_TARGET_UTILIZATION &&
                        strcmp(c->hpa.metrics[i].name, "cpu") == 0) {
                        int n = s->replicas > 0 ? s->replicas : 1;
                        cur[i] = 100.0 * row.rate / ((double)n * o->throughput);
                        row.metric = cur[i];
                    }
                autoscale_hpa_step(c, s, t, cur, &row.d);
            }
            row.replicas = s->replicas;
            if (row.replicas > r->peak_replicas)
                r->peak_replicas = row.replicas;
            push_row(r, &cap, &row);
            row_step = xrealloc(row_step, (size_t)r->n * sizeof(*row_step));
            row_step[r->n - 1] = tr.n;
            /* At rest after the load: nothing queued and back at the floor. */
            if (o->duration <= 0 && t >= p->end && a - d < 0.5 && s->replicas == rest &&
                (!keda || !row.d.active))
                break;
        }
        double step_in = arrivals(p, t, t + dt);
        a += step_in;
        if (keda) {
            double cap_s = (double)s->replicas * o->throughput * dt;
            double q = a - d;
            d += q < cap_s ? q : cap_s;
        } else {
            d = a; /* the gateway has no queue of its own */
            (void)step_in;
        }
        trace_push(&tr, a, d, s->replicas);
    }
    r->arrived = a;
    r->completed = d;
    r->max_wait_s = 0;
    for (int i = 0; i < r->n; i++) {
        size_t k = row_step[i];
        r->rows[i].wait_s = keda && k < tr.n ? wait_at(&tr, k, dt) : 0;
        if (r->rows[i].wait_s < 0)
            r->max_wait_s = -1;
        else if (r->max_wait_s >= 0 && r->rows[i].wait_s > r->max_wait_s)
            r->max_wait_s = r->rows[i].wait_s;
    }
    free(row_step);
    trace_release(&tr);
    free(s);
    return 0;
}

int loadsim_run_keda(const struct autoscale_config *c, const struct loadsim_profile *p,
                     const struct loadsim_opts *o, struct loadsim_result *r, struct meme_err *err)
{
    if (c->kind != AUTOSCALE_KEDA)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "not a ScaledObject");
    return run(c, p, o, r, err);
}

int loadsim_run_hpa(const struct autoscale_config *c, const struct loadsim_profile *p,
                    const struct loadsim_opts *o, struct loadsim_result *r, struct meme_err *err)
{
    if (c->kind != AUTOSCALE_HPA)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "not a HorizontalPodAutoscaler");
    return run(c, p, o, r, err);
}
