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

/* Connections a batch may open to one server that does not speak HTTP/2. */
#define KUBE_MAX_CONNECTIONS 8

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
/* Requests sent to the API server so far: every GET, list and watch. */
long kube_client_requests(struct kube_client *c);

/* One GET of a batch: path in, the answer (or why not) out. */
struct kube_batch_req {
    const char *path; /* in */
    json_t *out;      /* the parsed answer when rc is 0 (the caller decrefs it) */
    int rc;           /* 0 or an error code as kube_get() returns */
    int http;         /* the HTTP status, 0 when none came */
    struct meme_err err;
};

/*
 * Sends every request of b at once and waits for all of them: multiplexed
 * on one TLS connection when the server speaks HTTP/2 (API servers do),
 * else over up to KUBE_MAX_CONNECTIONS parallel connections; connections
 * stay open for the client's next batch. Each request gets its own result
 * in b[i]. Returns 0, or a negative code when nothing could be sent
 * (libcurl missing, credentials that could not be made).
 */
int kube_get_batch(struct kube_client *c, struct kube_batch_req *b, int n, struct meme_err *err);

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

/*
 * Several watches served together by one thread (one multi handle): on
 * HTTP/2 they share a connection. kube_watchset_add() starts a watch of path
 * from resource_version (NULL: the current state, as ADDED events) with
 * bookmarks; fn is called from kube_watchset_run() for each event.
 */
struct kube_watchset;
struct kube_watchset *kube_watchset_new(struct kube_client *c);
int kube_watchset_add(struct kube_watchset *ws, int id, const char *path,
                      const char *resource_version, int timeout_s, kube_watch_fn fn, void *arg,
                      struct meme_err *err);
/*
 * Moves the watches along for up to wait_ms. Returns 1 when one of them
 * ended (its id in *id, *result as kube_watch() returns: 0 when the server
 * or the callback ended it, KUBE_GONE, or a negative code with err filled;
 * it is then removed from the set), else 0.
 */
int kube_watchset_run(struct kube_watchset *ws, int wait_ms, int *id, int *result,
                      struct meme_err *err);
/* Ends a kube_watchset_run() wait early; callable from any thread. */
void kube_watchset_wakeup(struct kube_watchset *ws);
int kube_watchset_count(const struct kube_watchset *ws);
void kube_watchset_free(struct kube_watchset *ws);

/* True when libcurl could be loaded; else err says why. */
bool kube_curl_available(struct meme_err *err);

#endif
