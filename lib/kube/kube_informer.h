/*
 * Objects kept current by watches, as client-go's informers do: the kinds
 * are listed once (lib/kube/kube_status.h: one batch, cluster scope where
 * RBAC allows, else per namespace), then one watch per list (all of them
 * served by one thread, multiplexed on one HTTP/2 connection where the
 * server speaks it) applies ADDED, MODIFIED and DELETED events, follows
 * bookmarks, and lists again only that scope when the server answers 410
 * Gone. So a screen that stays open costs a request per kind at the start
 * and nothing while nothing changes, instead of a list of every kind on
 * every refresh.
 */
#ifndef MEME_KUBE_INFORMER_H
#define MEME_KUBE_INFORMER_H

#include "kube/kube.h"
#include "kube/kube_status.h"

struct kube_informer;

/*
 * Lists the kinds in the mask (KUBE_KIND_BIT()s; the kinds without a watch,
 * PodMetrics, are refused) in namespaces ns[0..nns-1] (nns 0: all) and
 * starts watching them. NULL when the cluster cannot be read at all (err
 * says why, as kube_status_fetch()); refused or missing kinds are problems
 * in the snapshots. The client must outlive the informer.
 */
struct kube_informer *kube_informer_start(struct kube_client *c, const char *const *ns, int nns,
                                          unsigned kinds, struct meme_err *err);
/* Stops the watches and frees everything; NULL does nothing. */
void kube_informer_free(struct kube_informer *inf);

/* Bumped on every change of the objects (and on a new watch error). */
unsigned long kube_informer_version(struct kube_informer *inf);
/* Waits up to timeout_ms for the version to move past seen; returns it. */
unsigned long kube_informer_wait(struct kube_informer *inf, unsigned long seen, int timeout_ms);
/* The objects now, parsed into st (ordered by namespace and name, as a
 * list is); release st with kube_status_release(). */
void kube_informer_snapshot(struct kube_informer *inf, struct kube_status *st);
/* The last watch error ("" when the watches are healthy) into out. */
void kube_informer_error(struct kube_informer *inf, char *out, size_t outsz);
/* How many watches have been (re)started and lists (re)done since the start. */
void kube_informer_counts(struct kube_informer *inf, long *watches, long *relists);

#endif
