/*
 * Log-linear histogram; see hist.h. Values below 2^7 have a bucket each;
 * above, each power of two is split in 128 equal buckets, so a bucket is at
 * most 1/128 of its values wide.
 */
#include "hist.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

static size_t index_of(uint64_t v)
{
    if (v < (1u << HIST_SUB_BITS))
        return (size_t)v;
    int msb = 63 - __builtin_clzll(v);
    int shift = msb - HIST_SUB_BITS;
    /* v >> shift is in [128, 255]: the top 8 bits of v. */
    return ((size_t)(shift + 1) << HIST_SUB_BITS) + (size_t)((v >> shift) - (1u << HIST_SUB_BITS));
}

/* The smallest and largest values that land in bucket i. */
static void bounds_of(size_t i, uint64_t *lo, uint64_t *hi)
{
    if (i < (1u << HIST_SUB_BITS)) {
        *lo = *hi = i;
        return;
    }
    int shift = (int)(i >> HIST_SUB_BITS) - 1;
    uint64_t top = (uint64_t)(i & ((1u << HIST_SUB_BITS) - 1)) + (1u << HIST_SUB_BITS);
    *lo = top << shift;
    *hi = *lo + ((uint64_t)1 << shift) - 1;
}

void hist_init(struct hist *h)
{
    memset(h, 0, sizeof(*h));
}

void hist_release(struct hist *h)
{
    free(h->bucket);
    hist_init(h);
}

void hist_add(struct hist *h, uint64_t v)
{
    if (!h->bucket)
        h->bucket = xcalloc(HIST_BUCKETS, sizeof(*h->bucket));
    h->bucket[index_of(v)]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (h->count == 0 || v > h->max)
        h->max = v;
    h->count++;
    h->sum += (double)v;
}

void hist_merge(struct hist *dst, const struct hist *src)
{
    if (!src->count)
        return;
    if (!dst->bucket)
        dst->bucket = xcalloc(HIST_BUCKETS, sizeof(*dst->bucket));
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        dst->bucket[i] += src->bucket[i];
    if (dst->count == 0 || src->min < dst->min)
        dst->min = src->min;
    if (dst->count == 0 || src->max > dst->max)
        dst->max = src->max;
    dst->count += src->count;
    dst->sum += src->sum;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (!h->count)
        return 0;
    if (q <= 0)
        return h->min;
    if (q >= 1)
        return h->max;
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];
        if (seen >= rank) {
            uint64_t lo, hi;
            bounds_of(i, &lo, &hi);
            uint64_t mid = lo + (hi - lo) / 2;
            if (mid < h->min)
                mid = h->min;
            if (mid > h->max)
                mid = h->max;
            return mid;
        }
    }
    return h->max;
}

double hist_mean(const struct hist *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}
