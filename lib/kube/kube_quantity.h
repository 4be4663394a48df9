/*
 * Kubernetes resource quantities ("250m", "64Mi", "1.5", "2e3") parsed
 * exactly, the way apimachinery's resource.Quantity reads them: a signed
 * decimal number and one suffix (n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or a
 * decimal exponent). The value is kept as a whole number of nano-units so
 * that comparisons and the HPA arithmetic never round twice.
 */
#ifndef MEME_KUBE_QUANTITY_H
#define MEME_KUBE_QUANTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct kube_quantity {
    __int128 nano; /* value x 10^9; values finer than 1n round up, as the API does */
};

/* Parses s; 0, or MEME_E_BAD_REQUEST with a message naming s. */
int kube_quantity_parse(const char *s, struct kube_quantity *q, struct meme_err *err);
/* The value in milli-units, rounded up (Quantity.MilliValue()); saturates. */
int64_t kube_quantity_milli(const struct kube_quantity *q);
/* The value in whole units, rounded up (Quantity.Value()); saturates. */
int64_t kube_quantity_value(const struct kube_quantity *q);
double kube_quantity_double(const struct kube_quantity *q);
/* -1, 0 or 1. */
int kube_quantity_cmp(const struct kube_quantity *a, const struct kube_quantity *b);
/*
 * A short human form into out: CPU-like values as millicores ("250m", "1.5"),
 * bytes with binary suffixes when binary is true ("64Mi", "1.5Gi").
 */
const char *kube_quantity_format(const struct kube_quantity *q, bool binary, char *out,
                                 size_t outsz);

#endif
