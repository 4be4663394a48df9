/*
 * Leases: JetStream keeps a request with the worker that fetched it only
 * while in-progress acks arrive within the consumer's ack wait (5 s by
 * default), so a killed worker's jobs move to another within seconds. Every
 * job has a lease from the moment it is fetched (queued for a slot, in the
 * cache, the engine, the results write, the reply) until it is settled; one
 * ticker thread per worker sends the in-progress acks for all of them and,
 * to clients that asked for it, a "working" progress message now and then.
 *
 * A lease whose keepalive came too late (the whole process was frozen, say
 * by SIGSTOP, past most of the ack wait) is marked lost: JetStream may have
 * given the request to another worker, so the job checks before it answers
 * (worker_job.c) instead of answering twice.
 */
#include "clock.h"
#include "log.h"
#include "mq/proto.h"
#include "worker.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LEASE_TICK_MS     100
#define PROGRESS_EVERY_MS 5000

void worker_lease_init(struct worker *w, int64_t ack_wait_ms)
{
    w->ack_wait_ms = ack_wait_ms > 0 ? ack_wait_ms : PROTO_ACK_WAIT_MS;
    /* A fifth of the wait, at most PROTO_KEEPALIVE_MS: four keepalives may
     * be late before the job moves. */
    w->keepalive_ms = (int)(w->ack_wait_ms / 5);
    if (w->keepalive_ms > PROTO_KEEPALIVE_MS)
        w->keepalive_ms = PROTO_KEEPALIVE_MS;
    if (w->keepalive_ms < LEASE_TICK_MS)
        w->keepalive_ms = LEASE_TICK_MS;
}

int worker_lease_take(struct worker *w, natsMsg *msg)
{
    pthread_mutex_lock(&w->lease_lock);
    int idx = -1;
    for (int i = 0; i < w->cfg.concurrency; i++)
        if (!w->leases[i].used) {
            idx = i;
            break;
        }
    if (idx >= 0) {
        struct worker_lease *l = &w->leases[idx];
        memset(l, 0, sizeof(*l));
        l->used = true;
        const char *ack = natsMsg_GetReply(msg);
        snprintf(l->ack_subject, sizeof(l->ack_subject), "%s", ack ? ack : "");
        l->last_keepalive_ms = clock_now_ms();
        l->next_progress_ms = l->last_keepalive_ms + PROGRESS_EVERY_MS;
    }
    pthread_mutex_unlock(&w->lease_lock);
    return idx;
}

void worker_lease_follow(struct worker *w, int lease, const char *reply, const char *id,
                         int attempt, int64_t stored_ms)
{
    if (lease < 0)
        return;
    pthread_mutex_lock(&w->lease_lock);
    struct worker_lease *l = &w->leases[lease];
    free(l->reply);
    l->reply = reply ? xstrdup(reply) : NULL;
    snprintf(l->id, sizeof(l->id), "%s", id);
    l->attempt = attempt;
    l->stored_ms = stored_ms;
    pthread_mutex_unlock(&w->lease_lock);
}

/* Marks l lost when its last keepalive is older than most of the ack wait. */
static bool check_lost(struct worker *w, struct worker_lease *l, double now)
{
    if (!l->lost && !l->quiet && now - l->last_keepalive_ms > (double)w->ack_wait_ms * 0.8)
        l->lost = true;
    return l->lost;
}

bool worker_lease_lost(struct worker *w, int lease)
{
    if (lease < 0)
        return false;
    pthread_mutex_lock(&w->lease_lock);
    bool lost = check_lost(w, &w->leases[lease], clock_now_ms());
    pthread_mutex_unlock(&w->lease_lock);
    return lost;
}

void worker_lease_quiet(struct worker *w, int lease)
{
    if (lease < 0)
        return;
    pthread_mutex_lock(&w->lease_lock);
    w->leases[lease].quiet = true;
    pthread_mutex_unlock(&w->lease_lock);
}

void worker_lease_release(struct worker *w, int lease)
{
    if (lease < 0)
        return;
    pthread_mutex_lock(&w->lease_lock);
    struct worker_lease *l = &w->leases[lease];
    free(l->reply);
    memset(l, 0, sizeof(*l));
    pthread_mutex_unlock(&w->lease_lock);
}

/* Publishes one progress message (lease_lock held, l followed). */
static void send_progress(struct worker *w, struct worker_lease *l, const struct proto_progress *in)
{
    struct proto_progress p = *in;
    snprintf(p.id, sizeof(p.id), "%s", l->id);
    snprintf(p.worker, sizeof(p.worker), "%s", w->cfg.id);
    p.attempt = l->attempt;
    p.max_attempts = PROTO_MAX_DELIVER;
    p.elapsed_ms = l->stored_ms ? clock_wall_ms() - l->stored_ms : 0;
    char *json = proto_progress_json(&p);
    natsMsg *m = NULL;
    if (natsMsg_Create(&m, l->reply, NULL, json, (int)strlen(json)) == NATS_OK) {
        char v[16];
        snprintf(v, sizeof(v), "%d", PROTO_VERSION);
        natsMsgHeader_Set(m, PROTO_H_VERSION, v);
        natsMsgHeader_Set(m, PROTO_H_STATUS, "progress");
        natsMsgHeader_Set(m, PROTO_H_ID, l->id);
        natsMsgHeader_Set(m, PROTO_H_PROGRESS, proto_progress_state_name(p.state));
        snprintf(v, sizeof(v), "%d", l->attempt);
        natsMsgHeader_Set(m, PROTO_H_ATTEMPT, v);
        natsMsgHeader_Set(m, PROTO_H_WORKER, w->cfg.id);
        natsConnection_PublishMsg(w->mq.nc, m);
    }
    natsMsg_Destroy(m);
    free(json);
    l->next_progress_ms = clock_now_ms() + PROGRESS_EVERY_MS;
}

void worker_lease_progress(struct worker *w, int lease, const struct proto_progress *p)
{
    if (lease < 0)
        return;
    pthread_mutex_lock(&w->lease_lock);
    struct worker_lease *l = &w->leases[lease];
    if (l->used && l->reply && !l->quiet && !l->lost)
        send_progress(w, l, p);
    pthread_mutex_unlock(&w->lease_lock);
}

static void *ticker_main(void *arg)
{
    struct worker *w = arg;
    pthread_mutex_lock(&w->lease_lock);
    while (!w->ticker_stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += LEASE_TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->ticker_wake, &w->lease_lock, &ts);
        double now = clock_now_ms();
        for (int i = 0; i < w->cfg.concurrency && !w->ticker_stop; i++) {
            struct worker_lease *l = &w->leases[i];
            if (!l->used || l->quiet || check_lost(w, l, now))
                continue;
            if (now - l->last_keepalive_ms >= w->keepalive_ms && l->ack_subject[0]) {
                natsConnection_PublishString(w->mq.nc, l->ack_subject, "+WPI");
                l->last_keepalive_ms = now;
            }
            if (l->reply && now >= l->next_progress_ms) {
                struct proto_progress p = {.state = PROTO_PROGRESS_WORKING};
                send_progress(w, l, &p);
            }
        }
    }
    pthread_mutex_unlock(&w->lease_lock);
    return NULL;
}

int worker_ticker_start(struct worker *w)
{
    if (pthread_create(&w->ticker, NULL, ticker_main, w) != 0)
        return -1;
    w->ticker_running = true;
    return 0;
}

void worker_ticker_stop(struct worker *w)
{
    if (!w->ticker_running)
        return;
    pthread_mutex_lock(&w->lease_lock);
    w->ticker_stop = true;
    pthread_cond_broadcast(&w->ticker_wake);
    pthread_mutex_unlock(&w->lease_lock);
    pthread_join(w->ticker, NULL);
    w->ticker_running = false;
}
