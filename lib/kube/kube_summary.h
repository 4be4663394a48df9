/*
 * One row per autoscaler, the same in `memectl status`, `memectl watch` and
 * the dashboard: what it is (HPA, KEDA, VPA), what it scales, its replicas
 * and why (metrics against targets, queue lag against lagThreshold, the
 * VPA's target), built from a kube_status; and the table those rows make
 * (lib/table.h), grouped by namespace.
 */
#ifndef MEME_KUBE_SUMMARY_H
#define MEME_KUBE_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>

#include "kube/kube_status.h"
#include "table.h"

struct kube_scaler_row {
    char kind[8]; /* "HPA", "KEDA", "VPA" ("local": memectl up --autoscale) */
    char ns[64];  /* "" for a scaler of this machine */
    char name[KUBE_NAME_MAX];
    char target[KUBE_NAME_MAX + 16]; /* "deploy/meme-generator-frontend" */
    bool has_replicas;               /* false for a VPA */
    int current, desired, min, max;
    bool has_pods; /* the target was found */
    int ready, pods;
    char why[256]; /* ", "-separated items */
};

/*
 * The rows for st, ordered by namespace (those of ns_order first, in that
 * order, then the rest by name), then HPA, KEDA, VPA, then name. A KEDA
 * HPA is shown with its ScaledObject, not on its own. queue_lag is the lag
 * read from the queue, or -1 when unknown (then KEDA's HPA metric gives
 * it). Returns how many rows were written into a new array *out.
 */
int kube_summary_rows(const struct kube_status *st, const char *const *ns_order, int nns,
                      int64_t queue_lag, struct kube_scaler_row **out);

/* Text of a row's REPLICAS cell: "2→3 (1-5)", "4 (0-10)" or "-". */
void kube_summary_replicas(const struct kube_scaler_row *r, char *out, size_t n);

/*
 * The scaler table: KIND, NAME, TARGET, REPLICAS, READY, WHY, with a group
 * line "NAMESPACE/" (or "this machine") before each namespace's rows (tag =
 * the row's index).
 * Initialises t; lay it out with table_layout() and release it.
 */
void kube_summary_table(struct table *t, const struct kube_scaler_row *rows, int n, int indent);

#endif
