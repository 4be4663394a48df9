/*
 * Prometheus metrics in the text exposition format (version 0.0.4):
 * counters, gauges and histograms, each a family with fixed label names and
 * one series per distinct set of label values. Safe to update from several
 * threads; rendering takes a consistent snapshot under the same lock.
 *
 * Usage: make a registry, declare families once at start-up, update them
 * from anywhere, and render the registry into a buffer for GET /metrics.
 */
#ifndef MEME_METRICS_H
#define MEME_METRICS_H

#include <stddef.h>

#include "buf.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_MAX_LABELS   4

struct metrics;
struct metric_family;

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metrics *metrics_new(void);
/* Frees the registry and every family in it; NULL does nothing. */
void metrics_free(struct metrics *m);

/*
 * Declares a family. name must match [a-zA-Z_:][a-zA-Z0-9_:]* (counters
 * should end in "_total"); labels is a comma-separated list of at most
 * METRICS_MAX_LABELS label names, or NULL. The family is owned by the
 * registry. Aborts on an invalid name: declaring metrics is a programming act.
 */
struct metric_family *metrics_counter(struct metrics *m, const char *name, const char *help,
                                      const char *labels);
struct metric_family *metrics_gauge(struct metrics *m, const char *name, const char *help,
                                    const char *labels);
/* bounds: the upper bounds of the buckets, ascending (+Inf is implied). */
struct metric_family *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                        const char *labels, const double *bounds, size_t nbounds);

/*
 * Updates the series named by values (one string per label of the family,
 * in order; NULL when the family has no labels). Values are escaped when
 * rendered, so any UTF-8 text is safe. A family of the wrong type for the
 * call is left unchanged.
 */
void metrics_add(struct metric_family *f, const char *const *values, double v); /* counter, gauge */
void metrics_set(struct metric_family *f, const char *const *values, double v); /* gauge */
void metrics_observe(struct metric_family *f, const char *const *values, double v); /* histogram */
/* The current value of a counter or gauge series (0 when it does not exist). */
double metrics_value(struct metric_family *f, const char *const *values);

/* Appends the whole registry in the text exposition format to out. */
void metrics_render(struct metrics *m, struct buf *out);

#endif
