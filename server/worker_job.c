/*
 * One request, from JetStream message to ack: parse and validate, look in
 * the cache, run the engine, store the result by id, reply (privately with
 * raw bytes and headers, or on meme.response as the original design did),
 * publish a summary event, and only then ack. The delivery rules of
 * docs/protocol.md live here:
 *
 *  - a request that can never succeed is answered with an error and
 *    terminated, so it is not redelivered;
 *  - a transient failure (engine, store, reply) is naked with a delay;
 *  - the result is stored before the reply and the ack follows the reply
 *    at once; a redelivered request whose result is stored (its worker
 *    died in between) is answered from the store, not made again;
 *  - retries and redeliveries stop at the request's deadline, counted from
 *    when JetStream stored it (shorter for fast_mode);
 *  - a job whose lease was lost (the worker was frozen past the ack wait)
 *    checks whether another worker answered before it answers itself;
 *  - a client that asked for progress hears why it waits (working,
 *    retrying, queued again);
 *  - replies go only to inbox subjects (docs/security.md), and an id is
 *    claimed before the meme is made, so a request can never write over
 *    another request's result (id_conflict).
 */
#include "render/caption.h"
#include "log.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "term/term.h"
#include "clock.h"
#include "worker.h"
#include "xalloc.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAK_DELAY_MS 1000

struct job {
    struct worker *w;
    struct worker_slot *slot;
    natsMsg *msg;
    int lease;
    int64_t deadline_ms; /* wall clock */
    struct proto_request req;
    char engine[PROTO_NAME_MAX + 1];
    struct engine_output out;
    bool cache_hit;
    const char *cache_state;       /* "hit", "miss", "off" or "error" */
    uint64_t delivered;            /* 1 on first delivery */
    int64_t stored_ms;             /* JetStream store time (wall clock), 0 when unknown */
    char owner[RESULTS_OWNER_MAX]; /* this message, as results name it */
    uint64_t meta_rev;             /* the claimed meta key's revision; 0: not claimed */
    int64_t queue_ms;
    double t_start, gen_ms, delivery_ms;
};

static const char *const *lv(const char *v)
{
    /* One label value for a metrics call; the pointer array lives per thread. */
    static _Thread_local const char *one[1];
    one[0] = v;
    return one;
}

/* A prompt for an event: at most 120 bytes, cut on a character boundary. */
static void short_prompt(const char *in, char out[121])
{
    snprintf(out, 121, "%s", in ? in : "");
    size_t n = strlen(out);
    while (n > 0 && !proto_utf8_valid(out, n))
        out[--n] = '\0';
}

static void publish_event(struct job *j, int code)
{
    struct worker *w = j->w;
    json_t *o = json_object();
    char prompt[121];
    short_prompt(j->req.prompt, prompt);
    json_object_set_new(o, "id", json_string(j->req.id));
    json_object_set_new(o, "status", json_string(code == 0 ? "done" : "failed"));
    if (code)
        json_object_set_new(o, "code", json_string(meme_code_name(code)));
    json_object_set_new(o, "prompt", json_string(prompt));
    json_object_set_new(o, "worker", json_string(w->cfg.id));
    json_object_set_new(o, "engine", json_string(j->engine[0] ? j->engine : w->cfg.engine));
    json_object_set_new(o, "cache", json_string(j->cache_state));
    json_object_set_new(o, "template", json_string(j->out.template_name));
    json_object_set_new(o, "bytes", json_integer((json_int_t)j->out.len));
    json_object_set_new(o, "queue_ms", json_integer(j->queue_ms));
    json_object_set_new(o, "gen_ms", json_real(j->gen_ms));
    json_object_set_new(o, "delivery_ms", json_real(j->delivery_ms));
    json_object_set_new(o, "total_ms",
                        json_real((double)j->queue_ms + (clock_now_ms() - j->t_start)));
    json_object_set_new(o, "attempt", json_integer((json_int_t)j->delivered));
    json_object_set_new(o, "ts", json_integer(clock_wall_ms() / 1000));
    char *s = proto_json_dump(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    natsConnection_PublishString(w->mq.nc, PROTO_SUBJECT_EVENTS, s);
    free(s);
}

/* Sends an error reply: on the private subject with headers, or on
 * meme.response.error for the original design's clients. */
static natsStatus reply_error(struct job *j, int code, const char *message)
{
    struct worker *w = j->w;
    char *json = proto_error_json(j->req.id, code, message, clock_wall_ms() / 1000);
    natsStatus s;
    if (j->req.reply) {
        natsMsg *m = NULL;
        s = natsMsg_Create(&m, j->req.reply, NULL, json, (int)strlen(json));
        if (s == NATS_OK) {
            char v[8];
            snprintf(v, sizeof(v), "%d", PROTO_VERSION);
            natsMsgHeader_Set(m, PROTO_H_VERSION, v);
            natsMsgHeader_Set(m, PROTO_H_STATUS, "error");
            natsMsgHeader_Set(m, PROTO_H_ID, j->req.id);
            natsMsgHeader_Set(m, PROTO_H_ERROR_CODE, meme_code_name(code));
            natsMsgHeader_Set(m, PROTO_H_WORKER, w->cfg.id);
            snprintf(v, sizeof(v), "%llu", (unsigned long long)j->delivered);
            natsMsgHeader_Set(m, PROTO_H_ATTEMPT, v);
            s = natsConnection_PublishMsg(w->mq.nc, m);
        }
        natsMsg_Destroy(m);
    } else {
        s = natsConnection_PublishString(w->mq.nc, PROTO_SUBJECT_ERROR, json);
    }
    free(json);
    return s;
}

static natsStatus reply_image(struct job *j, struct meme_err *err)
{
    struct worker *w = j->w;
    const struct engine_output *res = &j->out;
    natsStatus s;
    if (!j->req.reply) {
        char *json = proto_legacy_response_json(j->req.id, res->data, res->len, j->req.prompt,
                                                clock_wall_ms() / 1000);
        size_t len = strlen(json);
        if ((int64_t)len > w->max_payload) {
            free(json);
            meme_err_set(err, MEME_E_TOO_LARGE,
                         "the meme is %zu bytes as base64 but the NATS server allows %lld; "
                         "raise max_payload or ask for small_image",
                         len, (long long)w->max_payload);
            return NATS_MAX_PAYLOAD;
        }
        s = natsConnection_Publish(w->mq.nc, PROTO_SUBJECT_RESPONSE, json, (int)len);
        free(json);
        return s;
    }
    if ((int64_t)res->len + 1024 > w->max_payload) {
        meme_err_set(err, MEME_E_TOO_LARGE,
                     "the meme is %zu bytes but the NATS server allows %lld; raise max_payload "
                     "or ask for a smaller size or JPEG",
                     res->len, (long long)w->max_payload);
        return NATS_MAX_PAYLOAD;
    }
    natsMsg *m = NULL;
    s = natsMsg_Create(&m, j->req.reply, NULL, (const char *)res->data, (int)res->len);
    if (s == NATS_OK) {
        char v[32];
        snprintf(v, sizeof(v), "%d", PROTO_VERSION);
        natsMsgHeader_Set(m, PROTO_H_VERSION, v);
        natsMsgHeader_Set(m, PROTO_H_STATUS, "ok");
        natsMsgHeader_Set(m, PROTO_H_ID, j->req.id);
        natsMsgHeader_Set(m, PROTO_H_CONTENT_TYPE, image_content_type(res->format));
        snprintf(v, sizeof(v), "%d", res->width);
        natsMsgHeader_Set(m, PROTO_H_WIDTH, v);
        snprintf(v, sizeof(v), "%d", res->height);
        natsMsgHeader_Set(m, PROTO_H_HEIGHT, v);
        natsMsgHeader_Set(m, PROTO_H_ENGINE, j->engine);
        natsMsgHeader_Set(m, PROTO_H_TEMPLATE, res->template_name);
        natsMsgHeader_Set(m, PROTO_H_CACHE, j->cache_hit ? "hit" : "miss");
        natsMsgHeader_Set(m, PROTO_H_WORKER, w->cfg.id);
        snprintf(v, sizeof(v), "%lld", (long long)j->queue_ms);
        natsMsgHeader_Set(m, PROTO_H_QUEUE_MS, v);
        snprintf(v, sizeof(v), "%.2f", j->gen_ms);
        natsMsgHeader_Set(m, PROTO_H_GEN_MS, v);
        snprintf(v, sizeof(v), "%llu", (unsigned long long)j->delivered);
        natsMsgHeader_Set(m, PROTO_H_ATTEMPT, v);
        s = natsConnection_PublishMsg(w->mq.nc, m);
    }
    natsMsg_Destroy(m);
    return s;
}

/* Whether the reply can be sent at all: the server refuses a message over
 * max_payload, so such a result is final (too_large), not a retry. The
 * original design's reply carries the image as base64. */
static bool reply_fits(struct job *j, struct meme_err *err)
{
    int64_t max = j->w->max_payload;
    size_t len = j->out.len, b64 = 4 * ((len + 2) / 3);
    if (!j->req.reply && (int64_t)b64 + 64 > max) {
        meme_err_set(err, MEME_E_TOO_LARGE,
                     "the meme is %zu bytes as base64 but the NATS server allows %lld; raise "
                     "max_payload or ask for small_image",
                     b64, (long long)max);
        return false;
    }
    if (j->req.reply && (int64_t)len + 1024 > max) {
        meme_err_set(err, MEME_E_TOO_LARGE,
                     "the meme is %zu bytes but the NATS server allows %lld; raise max_payload "
                     "or ask for a smaller size or JPEG",
                     len, (long long)max);
        return false;
    }
    return true;
}

static void fill_meta(struct job *j, struct results_meta *meta)
{
    memset(meta, 0, sizeof(*meta));
    snprintf(meta->request, sizeof(meta->request), "%s", j->owner);
    meta->attempt = (int)j->delivered;
    snprintf(meta->engine, sizeof(meta->engine), "%s", j->engine);
    snprintf(meta->worker, sizeof(meta->worker), "%s", j->w->cfg.id);
    meta->created = clock_wall_ms() / 1000;
    /* What the gateway's gallery and permalinks show. */
    snprintf(meta->prompt, sizeof(meta->prompt), "%s", j->req.prompt ? j->req.prompt : "");
    meta->queue_ms = j->queue_ms;
    meta->gen_ms = j->gen_ms;
}

/* Ends a request that can never succeed: answer it, keep the error by id
 * (only where the id is this request's: a new id, or one it claimed), then
 * terminate it so it is not redelivered. */
static void give_up(struct job *j, const struct meme_err *err)
{
    struct worker *w = j->w;
    char *safe = term_sanitize_dup(j->req.id);
    log_warn("msg=\"request rejected\" id=%s code=%s error=\"%s\"", safe, meme_code_name(err->code),
             err->msg);
    free(safe);
    if (w->results && j->req.id[0]) {
        struct results_meta meta;
        struct meme_err e2 = {0};
        fill_meta(j, &meta);
        meta.ok = false;
        snprintf(meta.code, sizeof(meta.code), "%s", meme_code_name(err->code));
        snprintf(meta.message, sizeof(meta.message), "%s", err->msg);
        if (results_put(w->results, j->req.id, NULL, 0, &meta, j->meta_rev, &e2) < 0)
            log_debug("msg=\"error result not stored\" error=\"%s\"", e2.msg);
    }
    worker_lease_quiet(w, j->lease);
    reply_error(j, err->code, err->msg);
    publish_event(j, err->code);
    natsMsg_Term(j->msg, NULL);
    atomic_fetch_add(&w->failed, 1);
    metrics_add(w->m.requests, lv("failed"), 1);
    metrics_add(w->m.errors, lv(meme_code_name(err->code)), 1);
}

/* Hands a request back for a later try. On the last allowed delivery, or
 * when the next try would start past the request's deadline, the client
 * gets the error instead. */
static void retry_later(struct job *j, const struct meme_err *err)
{
    struct worker *w = j->w;
    int64_t delay = NAK_DELAY_MS * (int64_t)j->delivered;
    bool last = j->delivered >= PROTO_MAX_DELIVER;
    bool late = clock_wall_ms() + delay + NAK_DELAY_MS >= j->deadline_ms;
    char *safe = term_sanitize_dup(j->req.id);
    log_warn("msg=\"%s\" id=%s attempt=%llu code=%s error=\"%s\"",
             last || late ? "giving up" : "will retry", safe, (unsigned long long)j->delivered,
             meme_code_name(err->code), err->msg);
    free(safe);
    metrics_add(w->m.errors, lv(meme_code_name(err->code)), 1);
    if (last || late) {
        struct meme_err final = *err;
        if (late && !last)
            snprintf(final.msg, sizeof(final.msg),
                     "%.400s (no time for another try within the "
                     "request's deadline of %d s)",
                     err->msg,
                     (j->req.fast_mode ? w->cfg.deadline_fast_ms : w->cfg.deadline_ms) / 1000);
        give_up(j, &final);
        return;
    }
    struct proto_progress p = {
        .state = PROTO_PROGRESS_RETRYING, .code = err->code, .retry_in_ms = delay};
    snprintf(p.message, sizeof(p.message), "%s", err->msg);
    worker_lease_progress(w, j->lease, &p);
    worker_lease_quiet(w, j->lease);
    natsMsg_NakWithDelay(j->msg, delay, NULL);
    atomic_fetch_add(&w->retried, 1);
    metrics_add(w->m.requests, lv("retry"), 1);
}

/* Cache outages are logged once each way; the counters say how often. */
static void cache_failed(struct job *j, const struct meme_err *err)
{
    struct worker *w = j->w;
    metrics_add(w->m.cache, lv("error"), 1);
    metrics_set(w->m.redis_up, NULL, 0);
    j->cache_state = "error";
    if (atomic_exchange(&w->redis_down, 1) == 0)
        log_warn("msg=\"cache unavailable; making memes without it\" error=\"%s\"", err->msg);
}

static void cache_ok(struct job *j)
{
    struct worker *w = j->w;
    if (atomic_exchange(&w->redis_down, 0) == 1) {
        log_info("msg=\"cache available again\" redis=%s", cache_url_redacted(j->slot->cache));
        metrics_set(w->m.redis_up, NULL, 1);
    }
}

/* Everything that changes the pixels, as canonical JSON, hashed. */
static void make_cache_key(struct job *j, const struct engine_input *in, char key[CACHE_KEY_MAX])
{
    json_t *o = json_object();
    json_object_set_new(o, "engine", json_string(j->engine));
    json_object_set_new(o, "model", json_string(worker_engine_model(j->w, j->engine, in)));
    json_object_set_new(o, "prompt", json_string(in->prompt ? in->prompt : ""));
    json_object_set_new(o, "top", in->top ? json_string(in->top) : json_null());
    json_object_set_new(o, "bottom", in->bottom ? json_string(in->bottom) : json_null());
    json_object_set_new(o, "template", json_string(in->template_name ? in->template_name : ""));
    json_object_set_new(o, "size", json_integer(in->size));
    json_object_set_new(o, "format", json_string(in->format == IMAGE_JPEG ? "jpeg" : "png"));
    json_object_set_new(o, "seed", in->has_seed ? json_integer((json_int_t)in->seed) : json_null());
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    cache_key(s, strlen(s), key);
    free(s);
}

/* A request without an id gets one derived from its message (stream,
 * sequence and store time), so a redelivery has the same id as the first
 * delivery, and a stream recreated from sequence 1 never repeats one. */
static void stable_id(struct job *j)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    const char *material = j->owner;
    size_t n = strlen(material);
    EVP_Digest(material, n, md, &mdlen, EVP_sha256(), NULL);
    md[6] = (unsigned char)((md[6] & 0x0f) | 0x40);
    md[8] = (unsigned char)((md[8] & 0x3f) | 0x80);
    snprintf(j->req.id, sizeof(j->req.id),
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", md[0], md[1],
             md[2], md[3], md[4], md[5], md[6], md[7], md[8], md[9], md[10], md[11], md[12], md[13],
             md[14], md[15]);
}

/* Makes the image: from the cache when it has it, else with the engine. */
static int produce(struct job *j, struct meme_err *err)
{
    struct worker *w = j->w;
    struct caption cap = {NULL, NULL};
    char key[CACHE_KEY_MAX];
    int rc;
    caption_split(j->req.prompt, j->req.top, j->req.bottom, &cap);
    struct engine_input in = {
        .prompt = j->req.prompt,
        .top = cap.top,
        .bottom = cap.bottom,
        .captions = j->req.top || j->req.bottom || strchr(j->req.prompt, '|'),
        .template_name = j->req.template_name,
        .size = j->req.size,
        .format = j->req.format,
        .fast_mode = j->req.fast_mode,
        .has_seed = j->req.has_seed,
        .seed = j->req.seed,
    };
    double t0 = clock_now_ms();
    j->cache_state = "off";
    if (j->slot->cache) {
        struct cache_entry ce;
        struct meme_err cerr = {0};
        make_cache_key(j, &in, key);
        rc = cache_get(j->slot->cache, key, &ce, &cerr);
        if (rc == 1) {
            cache_ok(j);
            j->cache_hit = true;
            j->cache_state = "hit";
            j->out.data = ce.data;
            j->out.len = ce.len;
            j->out.width = ce.width;
            j->out.height = ce.height;
            j->out.format = ce.format;
            snprintf(j->out.template_name, sizeof(j->out.template_name), "%s", ce.template_name);
            atomic_fetch_add(&w->cache_hits, 1);
            metrics_add(w->m.cache, lv("hit"), 1);
            rc = 0;
            goto out;
        }
        if (rc == 0) {
            cache_ok(j);
            j->cache_state = "miss";
            atomic_fetch_add(&w->cache_misses, 1);
            metrics_add(w->m.cache, lv("miss"), 1);
        } else {
            cache_failed(j, &cerr);
        }
    }
    int64_t left = j->deadline_ms - clock_wall_ms();
    struct engine_call call = {.w = w,
                               .slot = j->slot,
                               .msg = j->msg,
                               .lease = j->lease,
                               .deadline_ms = left > 0 ? (int)left : 0};
    rc = worker_engine_run(&call, j->engine, &in, &j->out, err);
    if (rc < 0)
        goto out;
    if (j->slot->cache && strcmp(j->cache_state, "miss") == 0) {
        struct cache_entry ce = {.data = j->out.data,
                                 .len = j->out.len,
                                 .format = j->out.format,
                                 .width = j->out.width,
                                 .height = j->out.height};
        struct meme_err cerr = {0};
        snprintf(ce.template_name, sizeof(ce.template_name), "%s", j->out.template_name);
        if (cache_put(j->slot->cache, key, &ce, w->cfg.cache_ttl_s, &cerr) < 0)
            cache_failed(j, &cerr);
    }
out:
    j->gen_ms = clock_now_ms() - t0;
    metrics_observe(w->m.gen_seconds, lv(j->engine), j->gen_ms / 1000.0);
    caption_release(&cap);
    return rc;
}

/* A job whose lease was lost (this worker was held up, say frozen, past
 * most of the ack wait) may belong to another worker now: true when it
 * does, and then this worker neither answers, nor stores, nor acks or naks
 * it. Nothing is lost: if JetStream had not handed it on yet, it does so
 * after the ack wait (no keepalive is sent for it any more), and the next
 * worker answers it, from the results bucket when it is there. */
/* A later delivery of this request (another worker's) has claimed its id:
 * this one was held up and leaves the request to it, answering nothing. */
static void stale(struct job *j)
{
    struct worker *w = j->w;
    char *safe = term_sanitize_dup(j->req.id);
    log_warn("msg=\"a later delivery of this request has claimed it; leaving the request to the "
             "worker that has it now\" id=%s attempt=%llu",
             safe, (unsigned long long)j->delivered);
    free(safe);
    worker_lease_quiet(w, j->lease);
    metrics_add(w->m.requests, lv("duplicate"), 1);
}

static bool lease_gone(struct job *j)
{
    struct worker *w = j->w;
    if (!worker_lease_lost(w, j->lease))
        return false;
    char *safe = term_sanitize_dup(j->req.id);
    log_warn("msg=\"this worker was held up past the ack wait; leaving the request to the "
             "worker that has it now\" id=%s attempt=%llu",
             safe, (unsigned long long)j->delivered);
    free(safe);
    worker_lease_quiet(w, j->lease);
    metrics_add(w->m.requests, lv("duplicate"), 1);
    return true;
}

void worker_handle(struct worker_slot *slot, struct worker_job *wj)
{
    struct worker *w = slot->w;
    struct job j;
    struct meme_err err = {0};
    jsMsgMetaData *meta = NULL;

    memset(&j, 0, sizeof(j));
    j.w = w;
    j.slot = slot;
    j.msg = wj->msg;
    j.lease = wj->lease;
    j.cache_state = "off";
    j.delivered = 1;
    j.t_start = clock_now_ms();
    proto_request_init(&j.req);
    snprintf(j.engine, sizeof(j.engine), "%s", w->cfg.engine);

    int rc = proto_request_parse(natsMsg_GetData(j.msg), (size_t)natsMsg_GetDataLength(j.msg),
                                 &j.req, &err);
    if (natsMsg_GetMetaData(&meta, j.msg) == NATS_OK) {
        j.stored_ms = meta->Timestamp / 1000000;
        j.queue_ms = clock_wall_ms() - j.stored_ms;
        if (j.queue_ms < 0)
            j.queue_ms = 0;
        j.delivered = meta->NumDelivered ? meta->NumDelivered : 1;
        results_owner(meta->Stream, meta->Sequence.Stream, meta->Timestamp, j.owner);
        if (j.req.id_assigned)
            stable_id(&j);
        jsMsgMetaData_Destroy(meta);
    }
    j.deadline_ms = (j.stored_ms ? j.stored_ms : clock_wall_ms()) +
                    (j.req.fast_mode ? w->cfg.deadline_fast_ms : w->cfg.deadline_ms);
    metrics_observe(w->m.queue_seconds, NULL, (double)j.queue_ms / 1000.0);
    if (j.delivered > 1)
        metrics_add(w->m.redeliveries, NULL, 1);
    /* The worker publishes only what the client could: never to a $JS, $KV,
     * $SYS or meme.* subject on its behalf. The refusal goes to
     * meme.response.error, where anyone may read it. */
    if (j.req.reply && !proto_reply_allowed(j.req.reply, w->cfg.reply_prefix)) {
        char *subj = term_sanitize_dup(j.req.reply);
        meme_err_set(&err, MEME_E_REPLY_NOT_ALLOWED,
                     "reply subject \"%.200s\" is not an inbox; replies go only to subjects "
                     "under \"%s\"%s%s",
                     subj, PROTO_INBOX_PREFIX, w->cfg.reply_prefix ? " or " : "",
                     w->cfg.reply_prefix ? w->cfg.reply_prefix : "");
        free(subj);
        free(j.req.reply);
        j.req.reply = NULL;
        metrics_add(w->m.replies_refused, NULL, 1);
        give_up(&j, &err);
        goto out;
    }
    if (rc < 0) {
        give_up(&j, &err);
        goto out;
    }
    if (j.req.engine[0])
        snprintf(j.engine, sizeof(j.engine), "%s", j.req.engine);
    char why[256];
    if (!worker_engine_available(w, j.engine, why, sizeof(why))) {
        meme_err_set(&err, MEME_E_UNKNOWN_ENGINE, "%s", why);
        give_up(&j, &err);
        goto out;
    }
    if (j.req.reply && j.req.progress)
        worker_lease_follow(w, j.lease, j.req.reply, j.req.id, (int)j.delivered, j.stored_ms);

    /* The id is claimed before anything is made: new, or already this
     * request's (a redelivery: its worker died in between, and a stored
     * result is sent again rather than made again, since the reply may never
     * have left that worker). Another request's id is refused untouched. */
    bool from_store = false;
    bool stored = false;
    if (w->results) {
        struct results_claim cl;
        rc = results_claim(w->results, j.req.id, j.owner, (int)j.delivered, &cl, &err);
        if (rc == MEME_E_ID_CONFLICT) {
            give_up(&j, &err);
            goto out;
        }
        if (rc == 0 && cl.superseded) {
            stale(&j);
            goto out;
        }
        if (rc < 0) {
            atomic_store(&w->need_check, true); /* the bucket may be gone */
            retry_later(&j, &err);
            goto out;
        }
        j.meta_rev = cl.revision;
        stored = cl.finished;
    }
    if (stored) {
        struct results_meta rm;
        uint8_t *data = NULL;
        size_t len = 0;
        if (results_get(w->results, j.req.id, &rm, &data, &len, NULL) == 0) {
            char *safe = term_sanitize_dup(j.req.id);
            log_info("msg=\"answering again from the stored result\" id=%s attempt=%llu", safe,
                     (unsigned long long)j.delivered);
            free(safe);
            metrics_add(w->m.requests, lv("duplicate"), 1);
            if (!rm.ok) {
                free(data);
                meme_err_set(&err, meme_code_from_name(rm.code), "%s", rm.message);
                give_up(&j, &err);
                goto out;
            }
            int fmt = image_sniff(data, len);
            if (fmt >= 0) {
                j.out.data = data;
                j.out.len = len;
                j.out.format = (enum image_format)fmt;
                j.out.width = rm.width;
                j.out.height = rm.height;
                snprintf(j.out.template_name, sizeof(j.out.template_name), "%s", rm.template_name);
                j.cache_state = "stored";
                from_store = true;
            } else {
                free(data);
            }
        }
    }

    if (!from_store) {
        if (lease_gone(&j))
            goto out;
        /* Redeliveries stop at the deadline; a first delivery is always
         * tried, with whatever time is left for the engine. */
        if (j.delivered > 1 && clock_wall_ms() >= j.deadline_ms) {
            meme_err_set(&err, MEME_E_TIMEOUT,
                         "no meme within the request's deadline of %d s (%llu attempts)",
                         (j.req.fast_mode ? w->cfg.deadline_fast_ms : w->cfg.deadline_ms) / 1000,
                         (unsigned long long)j.delivered - 1);
            give_up(&j, &err);
            goto out;
        }
        struct proto_progress p = {.state = PROTO_PROGRESS_WORKING};
        snprintf(p.message, sizeof(p.message), "engine %s", j.engine);
        worker_lease_progress(w, j.lease, &p);
        rc = produce(&j, &err);
        if (lease_gone(&j))
            goto out;
        if (rc < 0) {
            if (rc == MEME_E_SHUTTING_DOWN) {
                struct proto_progress q = {.state = PROTO_PROGRESS_QUEUED};
                snprintf(q.message, sizeof(q.message), "the worker is stopping; another takes it");
                worker_lease_progress(w, j.lease, &q);
                worker_lease_quiet(w, j.lease);
                natsMsg_Nak(j.msg, NULL);
                atomic_fetch_add(&w->retried, 1);
                metrics_add(w->m.requests, lv("drained"), 1);
            } else if (rc == MEME_E_UNREACHABLE || !meme_code_is_transient(rc)) {
                /* An engine's service that cannot be reached was already
                 * tried for a short while: another delivery would only make
                 * the client wait longer for the same answer. */
                give_up(&j, &err);
            } else {
                retry_later(&j, &err);
            }
            goto out;
        }
    }

    /* A reply over max_payload can never be sent: final, before anything is stored. */
    if (!reply_fits(&j, &err)) {
        give_up(&j, &err);
        goto out;
    }
    double t_deliver = clock_now_ms();
    if (w->results && !from_store) {
        struct results_meta rm;
        fill_meta(&j, &rm);
        rm.ok = true;
        snprintf(rm.content_type, sizeof(rm.content_type), "%s", image_content_type(j.out.format));
        rm.width = j.out.width;
        rm.height = j.out.height;
        rm.bytes = j.out.len;
        snprintf(rm.template_name, sizeof(rm.template_name), "%s", j.out.template_name);
        struct meme_err serr = {0};
        int src = slot->results ? results_writer_put(slot->results, j.req.id, j.out.data, j.out.len,
                                                     &rm, j.meta_rev, 5000, &serr)
                                : results_put(w->results, j.req.id, j.out.data, j.out.len, &rm,
                                              j.meta_rev, &serr);
        struct results_claim again;
        if (src == MEME_E_ID_CONFLICT &&
            results_claim(w->results, j.req.id, j.owner, (int)j.delivered, &again, NULL) == 0) {
            /* Another delivery of this same request changed the meta: a
             * later one has the request (this one leaves it), or an earlier
             * one, held up past the ack wait, stored it first (its result
             * stands and this one answers). */
            if (again.superseded) {
                stale(&j);
                goto out;
            }
        } else if (src < 0 && !meme_code_is_transient(src)) {
            give_up(&j, &serr);
            goto out;
        } else if (src < 0) {
            atomic_store(&w->need_check, true);
            retry_later(&j, &serr);
            goto out;
        }
    }
    /* The last look before answering: a worker frozen during the store
     * must not answer what another worker answers now. */
    if (lease_gone(&j))
        goto out;
    worker_lease_quiet(w, j.lease);
    natsStatus s = reply_image(&j, &err);
    if (s == NATS_MAX_PAYLOAD) {
        give_up(&j, &err);
        goto out;
    }
    if (s != NATS_OK) {
        meme_err_set(&err, MEME_E_NATS, "the reply could not be sent: %s", natsStatus_GetText(s));
        retry_later(&j, &err);
        goto out;
    }
    /* The ack right after the reply: a worker killed between the two is the
     * only way a client can get an answer twice. */
    natsMsg_Ack(j.msg, NULL);
    j.delivery_ms = clock_now_ms() - t_deliver;
    publish_event(&j, 0);
    atomic_fetch_add(&w->done, 1);
    metrics_add(w->m.requests, lv("done"), 1);
    if (j.stored_ms)
        metrics_observe(w->m.e2e_seconds, NULL, (double)(clock_wall_ms() - j.stored_ms) / 1000.0);
    if (w->cfg.verbose) {
        char *safe = term_sanitize_dup(j.req.prompt);
        char *sid = term_sanitize_dup(j.req.id);
        log_info("msg=\"meme done\" id=%s engine=%s cache=%s size=%dx%d bytes=%zu template=%s "
                 "queue_ms=%lld gen_ms=%.1f delivery_ms=%.1f attempt=%llu prompt=\"%s\"",
                 sid, j.engine, j.cache_state, j.out.width, j.out.height, j.out.len,
                 j.out.template_name, (long long)j.queue_ms, j.gen_ms, j.delivery_ms,
                 (unsigned long long)j.delivered, safe);
        free(safe);
        free(sid);
    }
out:
    engine_output_release(&j.out);
    proto_request_release(&j.req);
}
