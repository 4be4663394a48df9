/*
 * Prometheus text exposition (see metrics.h). A handful of families with a
 * few series each, so series are found by a linear scan under one mutex;
 * no Debian package offers a C client for the format (libprom is not
 * packaged), and the format is a few lines of text per series.
 */
#include "metrics.h"
#include "xalloc.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metric_series {
    char *values[METRICS_MAX_LABELS];
    double value;   /* counter or gauge */
    double sum;     /* histogram */
    double *counts; /* histogram: per bucket (not cumulative), nbounds + 1 */
    double count;   /* histogram */
    struct metric_series *next;
};

struct metric_family {
    struct metrics *reg;
    enum metric_type type;
    char *name;
    char *help;
    char *labels[METRICS_MAX_LABELS];
    size_t nlabels;
    double *bounds;
    size_t nbounds;
    struct metric_series *series, *last;
    struct metric_family *next;
};

struct metrics {
    pthread_mutex_t lock;
    struct metric_family *families, *last;
};

struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_free(struct metric_series *s, size_t nlabels)
{
    for (size_t i = 0; i < nlabels; i++)
        free(s->values[i]);
    free(s->counts);
    free(s);
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    struct metric_family *f = m->families;
    while (f) {
        struct metric_family *next = f->next;
        struct metric_series *s = f->series;
        while (s) {
            struct metric_series *sn = s->next;
            series_free(s, f->nlabels);
            s = sn;
        }
        for (size_t i = 0; i < f->nlabels; i++)
            free(f->labels[i]);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
        f = next;
    }
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static int name_valid(const char *s, int allow_colon)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (allow_colon && *s == ':')))
            return 0;
    return 1;
}

static struct metric_family *declare(struct metrics *m, enum metric_type type, const char *name,
                                     const char *help, const char *labels)
{
    if (!name_valid(name, 1)) {
        fprintf(stderr, "metrics: invalid metric name \"%s\"\n", name ? name : "");
        abort();
    }
    struct metric_family *f = xcalloc(1, sizeof(*f));
    f->reg = m;
    f->type = type;
    f->name = xstrdup(name);
    f->help = xstrdup(help ? help : "");
    if (labels && *labels) {
        char *copy = xstrdup(labels), *save = NULL;
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
            if (f->nlabels == METRICS_MAX_LABELS || !name_valid(t, 0) || strncmp(t, "__", 2) == 0 ||
                (type == METRIC_HISTOGRAM && strcmp(t, "le") == 0)) {
                fprintf(stderr, "metrics: invalid labels \"%s\" for \"%s\"\n", labels, name);
                abort();
            }
            f->labels[f->nlabels++] = xstrdup(t);
        }
        free(copy);
    }
    pthread_mutex_lock(&m->lock);
    if (m->last)
        m->last->next = f;
    else
        m->families = f;
    m->last = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels)
{
    return declare(m, METRIC_COUNTER, name, help, labels);
}

struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels)
{
    return declare(m, METRIC_GAUGE, name, help, labels);
}

struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds)
{
    struct metric_family *f = declare(m, METRIC_HISTOGRAM, name, help, labels);
    pthread_mutex_lock(&m->lock);
    f->bounds = xcalloc(nbounds ? nbounds : 1, sizeof(double));
    for (size_t i = 0; i < nbounds; i++)
        if (isfinite(bounds[i]) && (i == 0 || bounds[i] > bounds[i - 1]))
            f->bounds[f->nbounds++] = bounds[i];
    pthread_mutex_unlock(&m->lock);
    return f;
}

/* Finds or makes the series for values; called with the lock held. */
static struct metric_series *series_get(struct metric_family *f, const char *const *values,
                                        int create)
{
    for (struct metric_series *s = f->series; s; s = s->next) {
        size_t i = 0;
        for (; i < f->nlabels; i++)
            if (strcmp(s->values[i], values && values[i] ? values[i] : "") != 0)
                break;
        if (i == f->nlabels)
            return s;
    }
    if (!create)
        return NULL;
    struct metric_series *s = xcalloc(1, sizeof(*s));
    for (size_t i = 0; i < f->nlabels; i++)
        s->values[i] = xstrdup(values && values[i] ? values[i] : "");
    if (f->type == METRIC_HISTOGRAM)
        s->counts = xcalloc(f->nbounds + 1, sizeof(double));
    if (f->last)
        f->last->next = s;
    else
        f->series = s;
    f->last = s;
    return s;
}

void metrics_add(struct metric_family *f, const char *const *values, double v)
{
    if (!f || f->type == METRIC_HISTOGRAM || (f->type == METRIC_COUNTER && !(v >= 0)))
        return;
    pthread_mutex_lock(&f->reg->lock);
    series_get(f, values, 1)->value += v;
    pthread_mutex_unlock(&f->reg->lock);
}

void metrics_set(struct metric_family *f, const char *const *values, double v)
{
    if (!f || f->type != METRIC_GAUGE)
        return;
    pthread_mutex_lock(&f->reg->lock);
    series_get(f, values, 1)->value = v;
    pthread_mutex_unlock(&f->reg->lock);
}

void metrics_observe(struct metric_family *f, const char *const *values, double v)
{
    if (!f || f->type != METRIC_HISTOGRAM || isnan(v))
        return;
    pthread_mutex_lock(&f->reg->lock);
    struct metric_series *s = series_get(f, values, 1);
    size_t b = 0;
    while (b < f->nbounds && v > f->bounds[b])
        b++;
    s->counts[b] += 1;
    s->count += 1;
    s->sum += v;
    pthread_mutex_unlock(&f->reg->lock);
}

double metrics_value(struct metric_family *f, const char *const *values)
{
    if (!f)
        return 0;
    pthread_mutex_lock(&f->reg->lock);
    struct metric_series *s = series_get(f, values, 0);
    double v = s ? (f->type == METRIC_HISTOGRAM ? s->count : s->value) : 0;
    pthread_mutex_unlock(&f->reg->lock);
    return v;
}

/* HELP text escapes backslash and newline; label values also escape '"'. */
static void put_escaped(struct buf *out, const char *s, int quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else if (quote && *s == '"')
            buf_puts(out, "\\\"");
        else
            buf_putc(out, *s);
    }
}

static void put_number(struct buf *out, double v)
{
    if (isnan(v))
        buf_puts(out, "NaN");
    else if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == (double)(long long)v && fabs(v) < 1e15)
        buf_printf(out, "%lld", (long long)v);
    else
        buf_printf(out, "%.15g", v);
}

/* Writes {a="x",b="y"[,le="..."]} or nothing when there are no labels. */
static void put_labels(struct buf *out, const struct metric_family *f,
                       const struct metric_series *s, const char *le)
{
    if (f->nlabels == 0 && !le)
        return;
    buf_putc(out, '{');
    for (size_t i = 0; i < f->nlabels; i++) {
        if (i)
            buf_putc(out, ',');
        buf_printf(out, "%s=\"", f->labels[i]);
        put_escaped(out, s->values[i], 1);
        buf_putc(out, '"');
    }
    if (le)
        buf_printf(out, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    buf_putc(out, '}');
}

void metrics_render(struct metrics *m, struct buf *out)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&m->lock);
    for (struct metric_family *f = m->families; f; f = f->next) {
        buf_printf(out, "# HELP %s ", f->name);
        put_escaped(out, f->help, 0);
        buf_printf(out, "\n# TYPE %s %s\n", f->name, types[f->type]);
        for (struct metric_series *s = f->series; s; s = s->next) {
            if (f->type != METRIC_HISTOGRAM) {
                buf_puts(out, f->name);
                put_labels(out, f, s, NULL);
                buf_putc(out, ' ');
                put_number(out, s->value);
                buf_putc(out, '\n');
                continue;
            }
            double cum = 0;
            for (size_t b = 0; b <= f->nbounds; b++) {
                char le[64];
                cum += s->counts[b];
                if (b < f->nbounds) {
                    struct buf nb = BUF_INIT;
                    put_number(&nb, f->bounds[b]);
                    snprintf(le, sizeof(le), "%.*s", (int)nb.len, (const char *)nb.data);
                    buf_release(&nb);
                } else {
                    snprintf(le, sizeof(le), "+Inf");
                }
                buf_printf(out, "%s_bucket", f->name);
                put_labels(out, f, s, le);
                buf_putc(out, ' ');
                put_number(out, cum);
                buf_putc(out, '\n');
            }
            buf_printf(out, "%s_sum", f->name);
            put_labels(out, f, s, NULL);
            buf_putc(out, ' ');
            put_number(out, s->sum);
            buf_printf(out, "\n%s_count", f->name);
            put_labels(out, f, s, NULL);
            buf_putc(out, ' ');
            put_number(out, s->count);
            buf_putc(out, '\n');
        }
    }
    pthread_mutex_unlock(&m->lock);
}
