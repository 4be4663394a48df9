/*
 * A log-linear latency histogram: constant memory whatever the sample
 * count, values kept to within 1/128 (0.8 %) of what was recorded, exact
 * count, minimum, maximum and mean. Values are non-negative integers (the
 * caller picks the unit; memectl bench records microseconds).
 */
#ifndef MEME_HIST_H
#define MEME_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS 7 /* 128 sub-buckets per power of two */
#define HIST_BUCKETS  ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

struct hist {
    uint64_t count;
    uint64_t min, max;
    double sum;
    uint32_t *bucket; /* HIST_BUCKETS counters, allocated on first add */
};

void hist_init(struct hist *h);
void hist_release(struct hist *h);
void hist_add(struct hist *h, uint64_t value);
/* Adds every sample of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);
/*
 * The q-quantile (0 <= q <= 1) by nearest rank: the smallest recorded value
 * v with at least ceil(q * count) samples <= v, to within the bucket width
 * (never below min or above max). 0 when empty.
 */
uint64_t hist_quantile(const struct hist *h, double q);
double hist_mean(const struct hist *h);

#endif
