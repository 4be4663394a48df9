/*
 * The dashboard's model; see tui_model.h.
 */
#include "tui/tui_model.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "term/term.h"

double tui_now(void)
{
    return clock_now_s();
}

void tui_model_init(struct tui_model *m)
{
    memset(m, 0, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
}

void tui_model_destroy(struct tui_model *m)
{
    pthread_mutex_destroy(&m->lock);
}

void tui_model_lock(struct tui_model *m)
{
    pthread_mutex_lock(&m->lock);
}

void tui_model_unlock(struct tui_model *m)
{
    pthread_mutex_unlock(&m->lock);
}

/* Copies a network string into dst, without control sequences. */
static void copy_clean(char *dst, size_t n, const char *src)
{
    char *clean = term_sanitize_dup(src ? src : "");
    snprintf(dst, n, "%s", clean);
    free(clean);
}

static const char *jstr(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static double jnum(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : 0;
}

bool tui_model_heartbeat(struct tui_model *m, const char *json, size_t len, double now)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o) || !*jstr(o, "id")) {
        json_decref(o);
        return false;
    }
    char id[64];
    copy_clean(id, sizeof(id), jstr(o, "id"));
    size_t i = 0;
    while (i < m->nworkers && strcmp(m->workers[i].id, id) != 0)
        i++;
    if (i == m->nworkers) {
        if (m->nworkers == TUI_WORKERS) {
            json_decref(o);
            return false;
        }
        m->nworkers++;
        memset(&m->workers[i], 0, sizeof(m->workers[i]));
        snprintf(m->workers[i].id, sizeof(m->workers[i].id), "%s", id);
    }
    struct tui_worker *w = &m->workers[i];
    w->in_flight = (int)jnum(o, "in_flight");
    w->done = (long long)jnum(o, "done");
    w->failed = (long long)jnum(o, "failed");
    w->cache_hit_ratio = jnum(o, "cache_hit_ratio");
    w->last_seen = now;
    json_decref(o);
    m->version++;
    return true;
}

static struct tui_meme *find_meme(struct tui_model *m, const char *id)
{
    for (size_t i = 0; i < m->nmemes; i++)
        if (strcmp(m->memes[i].id, id) == 0)
            return &m->memes[i];
    return NULL;
}

/* A new entry at the front (newest first); the oldest falls off. */
static struct tui_meme *push_meme(struct tui_model *m)
{
    if (m->nmemes < TUI_MEMES)
        m->nmemes++;
    memmove(&m->memes[1], &m->memes[0], (m->nmemes - 1) * sizeof(m->memes[0]));
    memset(&m->memes[0], 0, sizeof(m->memes[0]));
    return &m->memes[0];
}

bool tui_model_event(struct tui_model *m, const char *json, size_t len, double now)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o) || !*jstr(o, "id")) {
        json_decref(o);
        return false;
    }
    char id[72];
    copy_clean(id, sizeof(id), jstr(o, "id"));
    struct tui_meme *e = find_meme(m, id);
    if (e && e->mine && e->state != MEME_QUEUED) {
        /* Our own reply already told us more (end-to-end latency). */
        json_decref(o);
        return true;
    }
    if (!e) {
        e = push_meme(m);
        snprintf(e->id, sizeof(e->id), "%s", id);
        copy_clean(e->prompt, sizeof(e->prompt), jstr(o, "prompt"));
        e->when = now;
    }
    bool failed =
        strcmp(jstr(o, "status"), "failed") == 0 || strcmp(jstr(o, "outcome"), "failed") == 0;
    e->state = failed ? MEME_FAILED : MEME_DONE;
    copy_clean(e->worker, sizeof(e->worker), jstr(o, "worker"));
    copy_clean(e->code, sizeof(e->code), jstr(o, "code"));
    e->cache_hit =
        strcmp(jstr(o, "cache"), "hit") == 0 || json_is_true(json_object_get(o, "cache_hit"));
    double total = jnum(o, "total_ms");
    e->latency_ms = total > 0 ? total : jnum(o, "queue_ms") + jnum(o, "gen_ms");
    json_decref(o);
    m->version++;
    return true;
}

void tui_model_sent(struct tui_model *m, const char *id, const char *prompt, double now)
{
    struct tui_meme *e = push_meme(m);
    snprintf(e->id, sizeof(e->id), "%s", id);
    copy_clean(e->prompt, sizeof(e->prompt), prompt);
    e->state = MEME_QUEUED;
    e->when = now;
    e->mine = true;
    m->version++;
}

void tui_model_reply(struct tui_model *m, const char *id, bool ok, const char *code,
                     double latency_ms, const char *worker, bool cache_hit)
{
    struct tui_meme *e = find_meme(m, id);
    if (!e)
        return;
    e->state = ok ? MEME_DONE : MEME_FAILED;
    e->latency_ms = latency_ms;
    e->cache_hit = cache_hit;
    copy_clean(e->worker, sizeof(e->worker), worker);
    copy_clean(e->code, sizeof(e->code), code);
    m->version++;
}

void tui_model_progress(struct tui_model *m, const char *id, int state, const char *worker,
                        const char *message, int attempt, int max_attempts, int64_t retry_in_ms)
{
    struct tui_meme *e = find_meme(m, id);
    if (!e || e->state != MEME_QUEUED)
        return;
    /* Short words: the column is six wide. 0 queued, 1 working, 2 retrying. */
    snprintf(e->waiting, sizeof(e->waiting), "%s",
             state == 1   ? "making"
             : state == 2 ? "retry"
                          : "queued");
    copy_clean(e->worker, sizeof(e->worker), worker);
    char note[256];
    if (state == 2)
        snprintf(note, sizeof(note), "%.160s (attempt %d of %d, next in %.1f s)",
                 message ? message : "", attempt, max_attempts, (double)retry_in_ms / 1000.0);
    else if (state == 1 && attempt > 1)
        snprintf(note, sizeof(note), "taken over: attempt %d of %d", attempt, max_attempts);
    else
        snprintf(note, sizeof(note), "%.200s", state == 1 ? "" : message ? message : "");
    copy_clean(e->note, sizeof(e->note), note);
    m->version++;
}

void tui_model_queue(struct tui_model *m, uint64_t lag, uint64_t pending, int64_t ack_pending,
                     int64_t waiting, uint64_t redelivered, uint64_t in_seq, uint64_t out_seq,
                     double now)
{
    if (m->queue_known && m->last_rate_t > 0 && now > m->last_rate_t) {
        double dt = now - m->last_rate_t;
        m->rate_in = in_seq >= m->last_in_seq ? (double)(in_seq - m->last_in_seq) / dt : 0;
        m->rate_out = out_seq >= m->last_out_seq ? (double)(out_seq - m->last_out_seq) / dt : 0;
    }
    if (!m->queue_known || m->lag != lag || m->pending != pending ||
        m->ack_pending != ack_pending || m->waiting != waiting || m->redelivered != redelivered ||
        in_seq != m->last_in_seq || out_seq != m->last_out_seq)
        m->version++;
    m->queue_known = true;
    m->lag = lag;
    m->pending = pending;
    m->ack_pending = ack_pending;
    m->waiting = waiting;
    m->redelivered = redelivered;
    m->last_in_seq = in_seq;
    m->last_out_seq = out_seq;
    m->last_rate_t = now;
}

void tui_model_queue_lost(struct tui_model *m, const char *why)
{
    if (m->queue_known || strcmp(m->nats_note, why) != 0)
        m->version++;
    m->queue_known = false;
    m->rate_in = m->rate_out = 0;
    snprintf(m->nats_note, sizeof(m->nats_note), "%s", why);
}

int tui_model_worker_replicas(const struct tui_model *m)
{
    if (m->has_local)
        return m->local.current;
    for (size_t i = 0; i < m->nscalers; i++)
        if (strcmp(m->scalers[i].kind, "KEDA") == 0)
            return m->scalers[i].current;
    return (int)m->nworkers;
}

void tui_model_sample(struct tui_model *m, double now)
{
    (void)now;
    if (m->hist_len == TUI_HISTORY) {
        memmove(m->lag_hist, m->lag_hist + 1, (TUI_HISTORY - 1) * sizeof(double));
        memmove(m->replicas_hist, m->replicas_hist + 1, (TUI_HISTORY - 1) * sizeof(double));
        m->hist_len--;
    }
    m->lag_hist[m->hist_len] = m->queue_known ? (double)m->lag : 0;
    m->replicas_hist[m->hist_len] = tui_model_worker_replicas(m);
    m->hist_len++;
    m->version++;
}

void tui_model_expire(struct tui_model *m, double now)
{
    size_t o = 0;
    for (size_t i = 0; i < m->nworkers; i++) {
        if (now - m->workers[i].last_seen < 15.0)
            m->workers[o++] = m->workers[i];
        else
            m->version++;
    }
    m->nworkers = o;
}

void tui_model_set_status(struct tui_model *m, const char *fmt, ...)
{
    char tmp[sizeof(m->status)];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    copy_clean(m->status, sizeof(m->status), tmp);
    m->version++;
}
