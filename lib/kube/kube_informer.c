/*
 * The informer (kube_informer.h): a store of JSON objects per kind keyed by
 * "namespace/name", filled by one batch of lists and kept current by a
 * thread that runs every watch through one kube_watchset. A watch that the
 * server ends (its timeout) starts again from the newest version seen; one
 * that gets 410 Gone lists its scope again and watches from there; one that
 * fails waits (2, 4, 8, 16, then 30 s) before it tries again, without
 * holding up the others.
 */
#include "kube/kube_informer.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define WATCH_TIMEOUT_S 300

/* One watch: a kind at cluster scope (ns NULL) or in one namespace. */
struct inf_watch {
    struct kube_informer *inf;
    enum kube_kind kind;
    int slot;        /* index into lists.ns, or -1 for cluster scope */
    char rv[32];     /* the newest version seen */
    bool active;     /* in the watch set */
    double retry_at; /* when a failed watch tries again (monotonic s) */
    int failures;
};

struct kube_informer {
    struct kube_client *c;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    unsigned long version;
    json_t *store[KUBE_KIND_COUNT]; /* objects by "ns/name"; NULL: kind not read */
    struct kube_status problems;    /* only problems and missing are used */
    char ns[KUBE_LISTS_MAX_NS][64];
    int nns;
    struct inf_watch *w;
    int nw;
    struct kube_watchset *ws;
    pthread_t thread;
    bool started;
    int stop; /* __atomic */
    char error[512];
    long watches, relists;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *meta_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(json_object_get(obj, "metadata"), key));
}

static void key_of(json_t *obj, char *out, size_t n)
{
    const char *ns = meta_str(obj, "namespace"), *name = meta_str(obj, "name");
    snprintf(out, n, "%s/%s", ns ? ns : "", name ? name : "");
}

static bool wanted(const struct kube_informer *inf, json_t *obj)
{
    if (inf->nns == 0)
        return true;
    const char *ns = meta_str(obj, "namespace");
    for (int i = 0; ns && i < inf->nns; i++)
        if (strcmp(inf->ns[i], ns) == 0)
            return true;
    return false;
}

/* Replaces the objects of a kind in one scope (slot -1: all) with items. Lock held. */
static void replace_scope(struct kube_informer *inf, enum kube_kind k, int slot, json_t *items)
{
    json_t *st = inf->store[k];
    if (!st)
        st = inf->store[k] = json_object();
    const char *key;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(st, tmp, key, v)
    {
        const char *ns = meta_str(v, "namespace");
        if (slot < 0 || (ns && strcmp(ns, inf->ns[slot]) == 0))
            json_object_del(st, key);
    }
    size_t i;
    json_t *o;
    json_array_foreach(items, i, o)
    {
        if (!wanted(inf, o))
            continue;
        char k2[400];
        key_of(o, k2, sizeof(k2));
        json_object_set(st, k2, o);
    }
}

static void bump(struct kube_informer *inf)
{
    inf->version++;
    pthread_cond_broadcast(&inf->changed);
}

static int on_event(void *arg, const char *type, json_t *obj)
{
    struct inf_watch *w = arg;
    struct kube_informer *inf = w->inf;
    const char *rv = meta_str(obj, "resourceVersion");
    pthread_mutex_lock(&inf->lock);
    if (rv)
        snprintf(w->rv, sizeof(w->rv), "%s", rv);
    if (strcmp(type, "BOOKMARK") != 0 && wanted(inf, obj)) {
        char key[400];
        key_of(obj, key, sizeof(key));
        if (!inf->store[w->kind])
            inf->store[w->kind] = json_object();
        if (strcmp(type, "DELETED") == 0)
            json_object_del(inf->store[w->kind], key);
        else
            json_object_set(inf->store[w->kind], key, obj);
        bump(inf);
    }
    pthread_mutex_unlock(&inf->lock);
    return __atomic_load_n(&inf->stop, __ATOMIC_ACQUIRE);
}

static char *scope_path(const struct kube_informer *inf, const struct inf_watch *w)
{
    return kube_kind_path(w->kind, w->slot < 0 ? NULL : inf->ns[w->slot]);
}

static void start_watch(struct kube_informer *inf, int idx)
{
    struct inf_watch *w = &inf->w[idx];
    char *path = scope_path(inf, w);
    struct meme_err e = {0};
    pthread_mutex_lock(&inf->lock);
    char rv[32];
    snprintf(rv, sizeof(rv), "%s", w->rv);
    pthread_mutex_unlock(&inf->lock);
    if (kube_watchset_add(inf->ws, idx, path, rv[0] ? rv : NULL, WATCH_TIMEOUT_S, on_event, w,
                          &e) == 0) {
        w->active = true;
        pthread_mutex_lock(&inf->lock);
        inf->watches++;
        pthread_mutex_unlock(&inf->lock);
    } else {
        w->failures++;
        w->retry_at = mono_s() + 2;
        pthread_mutex_lock(&inf->lock);
        snprintf(inf->error, sizeof(inf->error), "%s", e.msg);
        bump(inf);
        pthread_mutex_unlock(&inf->lock);
    }
    free(path);
}

/* 410 Gone: the scope is listed again and watched from the list's version. */
static int relist(struct kube_informer *inf, struct inf_watch *w, struct meme_err *e)
{
    char *path = scope_path(inf, w);
    json_t *list = NULL;
    int rc = kube_get(inf->c, path, &list, e);
    free(path);
    pthread_mutex_lock(&inf->lock);
    inf->relists++;
    if (rc == 0) {
        replace_scope(inf, w->kind, w->slot, json_object_get(list, "items"));
        const char *rv = json_string_value(
            json_object_get(json_object_get(list, "metadata"), "resourceVersion"));
        snprintf(w->rv, sizeof(w->rv), "%s", rv ? rv : "");
        bump(inf);
    }
    pthread_mutex_unlock(&inf->lock);
    json_decref(list);
    return rc;
}

static void *informer_main(void *arg)
{
    struct kube_informer *inf = arg;
    for (int i = 0; i < inf->nw; i++)
        start_watch(inf, i);
    while (!__atomic_load_n(&inf->stop, __ATOMIC_ACQUIRE)) {
        int id = -1, result = 0;
        struct meme_err e = {0};
        if (kube_watchset_run(inf->ws, 250, &id, &result, &e) == 1 && id >= 0 && id < inf->nw) {
            struct inf_watch *w = &inf->w[id];
            w->active = false;
            if (__atomic_load_n(&inf->stop, __ATOMIC_ACQUIRE))
                break;
            if (result == KUBE_GONE)
                result = relist(inf, w, &e);
            if (result < 0) {
                int wait_s = w->failures < 4 ? 2 << w->failures : 30;
                w->failures++;
                w->retry_at = mono_s() + wait_s;
                pthread_mutex_lock(&inf->lock);
                snprintf(inf->error, sizeof(inf->error), "%s", e.msg);
                bump(inf);
                pthread_mutex_unlock(&inf->lock);
                continue;
            }
            w->failures = 0;
            pthread_mutex_lock(&inf->lock);
            if (inf->error[0]) {
                inf->error[0] = 0;
                bump(inf);
            }
            pthread_mutex_unlock(&inf->lock);
            start_watch(inf, id);
        }
        double now = mono_s();
        for (int i = 0; i < inf->nw; i++)
            if (!inf->w[i].active && inf->w[i].retry_at <= now)
                start_watch(inf, i);
    }
    return NULL;
}

struct kube_informer *kube_informer_start(struct kube_client *c, const char *const *ns, int nns,
                                          unsigned kinds, struct meme_err *err)
{
    kinds &= ~KUBE_KIND_BIT(KUBE_KIND_PODMETRICS); /* no watch for it */
    struct kube_informer *inf = xcalloc(1, sizeof(*inf));
    inf->c = c;
    pthread_mutex_init(&inf->lock, NULL);
    pthread_cond_init(&inf->changed, NULL);
    struct kube_lists l;
    if (kube_lists_fetch(c, ns, nns, kinds, &l, &inf->problems, err) != 0) {
        kube_lists_release(&l);
        kube_informer_free(inf);
        return NULL;
    }
    inf->nns = l.nns;
    memcpy(inf->ns, l.ns, sizeof(inf->ns));
    inf->w = xcalloc((size_t)KUBE_KIND_COUNT * (KUBE_LISTS_MAX_NS + 1), sizeof(*inf->w));
    for (int k = 0; k < KUBE_KIND_COUNT; k++) {
        if (!l.read[k])
            continue;
        replace_scope(inf, (enum kube_kind)k, -1, l.items[k]);
        int scopes = l.per_ns[k] ? l.nns : 1;
        for (int i = 0; i < scopes; i++) {
            struct inf_watch *w = &inf->w[inf->nw++];
            w->inf = inf;
            w->kind = (enum kube_kind)k;
            w->slot = l.per_ns[k] ? i : -1;
            snprintf(w->rv, sizeof(w->rv), "%s", l.rv[k][l.per_ns[k] ? i : 0]);
        }
    }
    kube_lists_release(&l);
    inf->version = 1;
    inf->ws = kube_watchset_new(c);
    if (pthread_create(&inf->thread, NULL, informer_main, inf) == 0)
        inf->started = true;
    return inf;
}

void kube_informer_free(struct kube_informer *inf)
{
    if (!inf)
        return;
    __atomic_store_n(&inf->stop, 1, __ATOMIC_RELEASE);
    kube_watchset_wakeup(inf->ws);
    if (inf->started)
        pthread_join(inf->thread, NULL);
    kube_watchset_free(inf->ws);
    for (int k = 0; k < KUBE_KIND_COUNT; k++)
        json_decref(inf->store[k]);
    free(inf->w);
    pthread_mutex_destroy(&inf->lock);
    pthread_cond_destroy(&inf->changed);
    free(inf);
}

unsigned long kube_informer_version(struct kube_informer *inf)
{
    pthread_mutex_lock(&inf->lock);
    unsigned long v = inf->version;
    pthread_mutex_unlock(&inf->lock);
    return v;
}

unsigned long kube_informer_wait(struct kube_informer *inf, unsigned long seen, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&inf->lock);
    while (inf->version == seen)
        if (pthread_cond_timedwait(&inf->changed, &inf->lock, &until) != 0)
            break;
    unsigned long v = inf->version;
    pthread_mutex_unlock(&inf->lock);
    return v;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void kube_informer_snapshot(struct kube_informer *inf, struct kube_status *st)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_lock(&inf->lock);
    memcpy(st->missing, inf->problems.missing, sizeof(st->missing));
    memcpy(st->problems, inf->problems.problems, sizeof(st->problems));
    st->nproblems = inf->problems.nproblems;
    for (int k = 0; k < KUBE_KIND_COUNT; k++) {
        json_t *s = inf->store[k];
        if (!s)
            continue;
        size_t n = json_object_size(s), i = 0;
        const char **keys = xcalloc(n + 1, sizeof(*keys));
        const char *key;
        json_t *v;
        json_object_foreach(s, key, v)
        {
            keys[i++] = key;
        }
        qsort(keys, i, sizeof(*keys), cmp_str);
        json_t *arr = json_array();
        for (size_t j = 0; j < i; j++)
            json_array_append(arr, json_object_get(s, keys[j]));
        kube_status_add_items(st, (enum kube_kind)k, arr);
        json_decref(arr);
        free(keys);
    }
    pthread_mutex_unlock(&inf->lock);
}

void kube_informer_error(struct kube_informer *inf, char *out, size_t outsz)
{
    pthread_mutex_lock(&inf->lock);
    snprintf(out, outsz, "%s", inf->error);
    pthread_mutex_unlock(&inf->lock);
}

void kube_informer_counts(struct kube_informer *inf, long *watches, long *relists)
{
    pthread_mutex_lock(&inf->lock);
    *watches = inf->watches;
    *relists = inf->relists;
    pthread_mutex_unlock(&inf->lock);
}
