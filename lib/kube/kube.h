/*
 * A small Kubernetes API client: GET, list and watch over HTTPS with
 * libcurl, JSON with jansson, credentials from a resolved kubeconfig
 * (lib/kube/kubeconfig.h): bearer tokens (re-read from a token file), client
 * certificates, and exec credential plugins cached until they expire.
 *
 * libcurl is loaded with dlopen("libcurl.so.4") on the first request, so a
 * program that links libmeme but never talks to a cluster (memectl gen)
 * does not pay the start-up of libcurl's 31 shared libraries.
 */
#ifndef MEME_KUBE_H
#define MEME_KUBE_H

#include <jansson.h>
#include <signal.h>
#include <stdbool.h>

#include "err.h"
#include "kube/kubeconfig.h"

/* kube_watch() returns this (positive) when the resourceVersion is too old
 * (410 Gone): list again and watch from the list's version. */
#define KUBE_GONE 1

struct kube_client;

/* Takes the contents of *cfg (it is left empty). Never fails. */
struct kube_client *kube_client_new(struct kube_config *cfg);
void kube_client_free(struct kube_client *c);
const struct kube_config *kube_client_config(const struct kube_client *c);
/* Per-request timeout in ms for GET and list (default 10000). */
void kube_client_set_timeout(struct kube_client *c, int timeout_ms);
/* A flag that, once set (by a signal handler), ends requests and watches. */
void kube_client_set_stop(struct kube_client *c, volatile sig_atomic_t *stop);

/*
 * GETs path ("/apis/apps/v1/namespaces/x/deployments/y", with any query) and
 * hands the parsed object to *out (the caller decrefs it). Errors come from
 * the API's Status object in plain words: MEME_E_NOT_FOUND (no such object,
 * or no such resource: CRD not installed), MEME_E_UNREACHABLE, MEME_E_TIMEOUT,
 * MEME_E_IO for unauthorized/forbidden and other refusals.
 */
int kube_get(struct kube_client *c, const char *path, json_t **out, struct meme_err *err);
/* The HTTP status of the last request (0 when none was answered). */
int kube_last_status(struct kube_client *c);

/* Called for each watch event; type is ADDED, MODIFIED, DELETED or BOOKMARK.
 * obj is borrowed. Return nonzero to end the watch. */
typedef int (*kube_watch_fn)(void *arg, const char *type, json_t *obj);

/*
 * Watches path (a list path) from resource_version for at most timeout_s
 * seconds (the server ends it then), with bookmarks. Returns 0 when the
 * server or the callback ended it, KUBE_GONE on 410, or a negative code.
 */
int kube_watch(struct kube_client *c, const char *path, const char *resource_version, int timeout_s,
               kube_watch_fn fn, void *arg, struct meme_err *err);

/* True when libcurl could be loaded; else err says why. */
bool kube_curl_available(struct meme_err *err);

#endif
