/*
 * Helpers for the meme-worker integration tests: workers with extra flags
 * (the first one makes the stream and consumer with the protocol's
 * defaults, as in production), a batch of requests published through
 * JetStream, and a tally of the private replies each request got (progress
 * messages counted apart: they are never an answer). Header-only, like
 * common.h.
 */
#ifndef MEME_TEST_WORKER_COMMON_H
#define MEME_TEST_WORKER_COMMON_H

#include "common.h"
#include "mq/results.h"

#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TALLY_MAX 1024

static inline double wt_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void wt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts meme-worker with id and extra arguments (NULL-terminated list),
 * then waits until at least min_waiting pulls wait on the consumer. */
static inline pid_t wt_worker(const char *url, const char *dir, const char *id, int min_waiting,
                              char *const env[], ...)
{
    char *argv[40];
    int n = 0;
    char *bin = harness_bin("meme-worker");
    char *log = xasprintf("%s/%s.log", dir, id);
    argv[n++] = bin;
    argv[n++] = "--nats";
    argv[n++] = (char *)url;
    argv[n++] = "--id";
    argv[n++] = (char *)id;
    argv[n++] = "-v";
    va_list ap;
    va_start(ap, env);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 39)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    pid_t pid = harness_spawn(argv, env, log);
    free(bin);
    free(log);
    struct wait_consumer wc = {url, min_waiting};
    if (pid > 0 && min_waiting > 0 && !harness_wait_for(consumer_ready, &wc, 20000)) {
        harness_failed();
        return -1;
    }
    return pid;
}

/* Replies per request index, counted as they arrive on "_INBOX.<prefix>.<index>". */
struct tally {
    natsConnection *nc;
    jsCtx *js;
    natsSubscription *sub;
    pthread_mutex_t lock;
    char prefix[64];
    int ok[TALLY_MAX];
    int errors[TALLY_MAX];
    int hits[TALLY_MAX];     /* replies with Meme-Cache: hit */
    int progress[TALLY_MAX]; /* progress messages (Meme-Status: progress) */
    int attempt[TALLY_MAX];  /* Meme-Attempt of the first answer */
    char codes[TALLY_MAX][32];
    int total;
};

static inline void tally_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
    struct tally *t = arg;
    const char *subj = natsMsg_GetSubject(m);
    const char *dot = strrchr(subj, '.');
    int i = dot ? atoi(dot + 1) : -1;
    const char *status = NULL, *code = NULL, *cache = NULL, *attempt = NULL;
    natsMsgHeader_Get(m, PROTO_H_STATUS, &status);
    natsMsgHeader_Get(m, PROTO_H_ATTEMPT, &attempt);
    natsMsgHeader_Get(m, PROTO_H_CACHE, &cache);
    natsMsgHeader_Get(m, PROTO_H_ERROR_CODE, &code);
    pthread_mutex_lock(&t->lock);
    if (i >= 0 && i < TALLY_MAX && status && strcmp(status, "progress") == 0) {
        t->progress[i]++;
    } else if (i >= 0 && i < TALLY_MAX) {
        if (t->ok[i] + t->errors[i] == 0)
            t->attempt[i] = attempt ? atoi(attempt) : 0;
        if (status && strcmp(status, "ok") == 0 &&
            image_sniff((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m)) >=
                0) {
            t->ok[i]++;
            if (cache && strcmp(cache, "hit") == 0)
                t->hits[i]++;
        } else {
            t->errors[i]++;
            snprintf(t->codes[i], sizeof(t->codes[i]), "%s", code ? code : "?");
        }
        t->total++;
    }
    pthread_mutex_unlock(&t->lock);
    natsMsg_Destroy(m);
    (void)nc;
    (void)sub;
}

/* Connects a client and subscribes to "_INBOX.<prefix>.*" (replies go only
 * to inboxes). 0 or -1. */
static inline int tally_open(struct tally *t, const char *url, const char *prefix)
{
    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->lock, NULL);
    snprintf(t->prefix, sizeof(t->prefix), "%s%s", PROTO_INBOX_PREFIX, prefix);
    natsOptions *o = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, true);
    natsOptions_SetMaxReconnect(o, -1);
    natsOptions_SetReconnectWait(o, 100);
    natsStatus s = natsConnection_Connect(&t->nc, o);
    natsOptions_Destroy(o);
    if (s != NATS_OK)
        return -1;
    if (natsConnection_JetStream(&t->js, t->nc, NULL) != NATS_OK)
        return -1;
    char *subj = xasprintf("%s.*", t->prefix);
    s = natsConnection_Subscribe(&t->sub, t->nc, subj, tally_on_msg, t);
    free(subj);
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(t->sub, -1, -1);
    if (s == NATS_OK)
        s = natsConnection_Flush(t->nc);
    return s == NATS_OK ? 0 : -1;
}

static inline void tally_close(struct tally *t)
{
    if (t->sub) {
        natsSubscription_Unsubscribe(t->sub);
        natsSubscription_Destroy(t->sub);
    }
    jsCtx_Destroy(t->js);
    if (t->nc) {
        natsConnection_Close(t->nc);
        natsConnection_Destroy(t->nc);
    }
    pthread_mutex_destroy(&t->lock);
    memset(t, 0, sizeof(*t));
}

/* Publishes a raw payload through JetStream with Nats-Msg-Id. 0 or -1. */
static inline int tally_publish_raw(struct tally *t, const char *msg_id, const void *data,
                                    size_t len)
{
    natsMsg *m = NULL;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&m, PROTO_SUBJECT_REQUEST, NULL, data, (int)len);
    if (s == NATS_OK && msg_id)
        s = natsMsgHeader_Set(m, PROTO_H_MSG_ID, msg_id);
    if (s == NATS_OK)
        s = js_PublishMsg(&ack, t->js, m, NULL, &jerr);
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    if (s != NATS_OK)
        fprintf(stderr, "publish failed: %s (%d)\n", natsStatus_GetText(s), (int)jerr);
    return s == NATS_OK ? 0 : -1;
}

/* Publishes requests first..first+n-1 with ids "<tag>-<i>" and replies on
 * "<prefix>.<i>"; extra is more JSON fields (",\"size\":64") or "". */
static inline int tally_publish(struct tally *t, const char *tag, int first, int n,
                                const char *extra)
{
    for (int i = first; i < first + n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", tag, i);
        char *json = xasprintf("{\"id\":\"%s\",\"prompt\":\"request %d | of a batch\","
                               "\"reply\":\"%s.%d\"%s}",
                               id, i, t->prefix, i, extra);
        int rc = tally_publish_raw(t, id, json, strlen(json));
        free(json);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Publishes one request with index i, id "<tag>-<i>" and the given prompt. */
static inline int tally_publish_prompt(struct tally *t, const char *tag, int i, const char *prompt,
                                       const char *extra)
{
    char id[64];
    snprintf(id, sizeof(id), "%s-%d", tag, i);
    char *json = xasprintf("{\"id\":\"%s\",\"prompt\":\"%s\",\"reply\":\"%s.%d\"%s}", id, prompt,
                           t->prefix, i, extra);
    int rc = tally_publish_raw(t, id, json, strlen(json));
    free(json);
    return rc;
}

/* How many of first..first+n-1 got at least one good reply. */
static inline int tally_answered(struct tally *t, int first, int n)
{
    int c = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = first; i < first + n; i++)
        c += t->ok[i] > 0;
    pthread_mutex_unlock(&t->lock);
    return c;
}

/* How many got more than one reply of any kind. */
static inline int tally_duplicates(struct tally *t, int first, int n)
{
    int c = 0;
    pthread_mutex_lock(&t->lock);
    for (int i = first; i < first + n; i++)
        c += t->ok[i] + t->errors[i] > 1;
    pthread_mutex_unlock(&t->lock);
    return c;
}

/* Requests of first..first+n-1 without a reply whose result is stored by
 * id: answered all the same (their worker died between storing the result
 * and replying; the stored result is the durable answer, see
 * docs/protocol.md "Delivery"). */
static inline int tally_stored_only(struct tally *t, const char *tag, int first, int n)
{
    kvStore *kv = NULL;
    int c = 0;
    if (results_open(t->js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, NULL) < 0)
        return 0;
    for (int i = first; i < first + n; i++) {
        pthread_mutex_lock(&t->lock);
        int replied = t->ok[i];
        pthread_mutex_unlock(&t->lock);
        if (replied)
            continue;
        char id[64];
        struct results_meta meta;
        snprintf(id, sizeof(id), "%s-%d", tag, i);
        if (results_get_meta(kv, id, &meta, NULL) == 0 && meta.ok)
            c++;
    }
    kvStore_Destroy(kv);
    return c;
}

/* Waits until all n are answered (by reply, or, when tag is given, by a
 * stored result) or timeout_ms passes; returns the count answered by reply. */
static inline int tally_wait(struct tally *t, const char *tag, int first, int n, int timeout_ms)
{
    double deadline = wt_now_s() + timeout_ms / 1000.0, next_kv = wt_now_s() + 1;
    int got;
    while ((got = tally_answered(t, first, n)) < n && wt_now_s() < deadline) {
        if (tag && wt_now_s() >= next_kv) {
            if (got + tally_stored_only(t, tag, first, n) >= n)
                break;
            next_kv = wt_now_s() + 1;
        }
        wt_sleep_ms(20);
    }
    return got;
}

/* Restarts a stopped nats-server with its old configuration and store. */
static inline int wt_nats_restart(struct harness_server *s)
{
    char *conf = xasprintf("%s/nats.conf", s->dir);
    char *argv[] = {"nats-server", "-c", conf, NULL};
    s->pid = harness_spawn(argv, NULL, s->log);
    free(conf);
    double deadline = wt_now_s() + 10;
    while (wt_now_s() < deadline) {
        natsConnection *nc = NULL;
        if (natsConnection_ConnectTo(&nc, s->url) == NATS_OK) {
            natsConnection_Destroy(nc);
            return 0;
        }
        wt_sleep_ms(50);
    }
    return -1;
}

/* The consumer's state, for checks that nothing is left or redelivered. */
static inline int wt_depth(const char *url, struct mq_depth *d)
{
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = url, .name = "test"};
    int rc = mq_connect(&mq, &co, NULL);
    if (rc == 0)
        rc = mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, d, NULL);
    mq_close(&mq);
    return rc;
}

/* Sends SIGTERM and waits up to grace_ms; returns the exit code, or -1 when
 * it had to be killed or died of a signal. */
static inline int wt_term(pid_t pid, int grace_ms)
{
    int st = harness_kill(pid, grace_ms);
    if (st < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

#endif
