/*
 * Results by id in a JetStream key-value bucket (see results.h). nats.c
 * 3.4.1's key-value API has no message headers, so the metadata lives in a
 * second key next to the image; it also names the request that owns the id,
 * and every write of it after the claim is conditional on its revision.
 */
#include "mq/results.h"
#include "mq/mq.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void results_owner(const char *stream, uint64_t seq, int64_t stored_ns, char out[RESULTS_OWNER_MAX])
{
    snprintf(out, RESULTS_OWNER_MAX, "%.64s/%llu/%lld", stream ? stream : "",
             (unsigned long long)seq, (long long)stored_ns);
}

static char *stream_of(const char *bucket)
{
    return xasprintf("KV_%s", bucket);
}

/* The layout nats.c's js_CreateKeyValue() gives a bucket (subjects
 * "$KV.<bucket>.>", one message per key, rollups, no deletes through the
 * stream API, direct gets), plus the two settings its kvConfig cannot
 * express: the discard policy (nats.c always asks for DiscardNew, which
 * refuses new results once the bucket is full) and, with it, a byte limit
 * the results give way within. */
static void bucket_config(jsStreamConfig *sc, const char *stream, const char **subject, int ttl_s,
                          int64_t max_value, int64_t max_bytes)
{
    jsStreamConfig_Init(sc);
    sc->Name = stream;
    sc->Description = "finished memes by request id (memectl protocol v1)";
    sc->Subjects = subject;
    sc->SubjectsLen = 1;
    sc->MaxMsgsPerSubject = 1;
    sc->MaxAge = (int64_t)(ttl_s > 0 ? ttl_s : PROTO_RESULTS_TTL_S) * 1000000000LL;
    sc->MaxBytes = max_bytes > 0 ? max_bytes : -1;
    if (max_value > 0 && max_value < INT32_MAX)
        sc->MaxMsgSize = (int32_t)max_value;
    sc->Storage = js_FileStorage;
    sc->Discard = js_DiscardOld;
    sc->AllowRollup = true;
    sc->DenyDelete = true;
    sc->AllowDirect = true;
}

int results_ensure_bucket(jsCtx *js, const char *bucket, int ttl_s, int64_t max_value,
                          int64_t max_bytes, bool *made, struct meme_err *err)
{
    char *stream = stream_of(bucket);
    char *subject = xasprintf("$KV.%s.>", bucket);
    const char *subjects[1] = {subject};
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int rc = 0;
    if (made)
        *made = false;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, &jerr);
    if (s == NATS_OK) {
        /* Bring an existing bucket (an older worker's, nats.c's defaults) to
         * v1: results give way, within a limit. An operator's own limit stays. */
        jsStreamConfig *cfg = si->Config;
        bool change = cfg->Discard != js_DiscardOld || (cfg->MaxBytes <= 0 && max_bytes > 0);
        if (change) {
            cfg->Discard = js_DiscardOld;
            if (cfg->MaxBytes <= 0 && max_bytes > 0)
                cfg->MaxBytes = max_bytes;
            jsStreamInfo *up = NULL;
            s = js_UpdateStream(&up, js, cfg, NULL, &jerr);
            jsStreamInfo_Destroy(up);
            if (s != NATS_OK && jerr == JSStorageResourcesExceededErr)
                rc = MQ_NO_ROOM;
            else if (s != NATS_OK)
                rc = meme_err_set(err, MEME_E_NATS, "cannot update results bucket \"%s\": %s",
                                  bucket, nats_GetLastError(NULL));
        }
        goto out;
    }
    if (s != NATS_NOT_FOUND) {
        rc = meme_err_set(err, MEME_E_NATS, "cannot look up results bucket \"%s\": %s", bucket,
                          nats_GetLastError(NULL));
        goto out;
    }
    jsStreamConfig sc;
    bucket_config(&sc, stream, subjects, ttl_s, max_value, max_bytes);
    jerr = 0;
    s = js_AddStream(NULL, js, &sc, NULL, &jerr);
    if (s == NATS_OK && made)
        *made = true;
    else if (s != NATS_OK && jerr == JSStorageResourcesExceededErr)
        rc = MQ_NO_ROOM;
    else if (s != NATS_OK && jerr != JSStreamNameExistErr) /* another worker made it first */
        rc = meme_err_set(err, MEME_E_NATS, "cannot create results bucket \"%s\": %s", bucket,
                          nats_GetLastError(NULL));
out:
    jsStreamInfo_Destroy(si);
    free(subject);
    free(stream);
    return rc;
}

int results_resize_bucket(jsCtx *js, const char *bucket, int64_t max_bytes, struct meme_err *err)
{
    char *stream = stream_of(bucket);
    jsStreamInfo *si = NULL, *up = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, stream, NULL, NULL);
    if (s == NATS_OK) {
        si->Config->MaxBytes = max_bytes;
        s = js_UpdateStream(&up, js, si->Config, NULL, NULL);
    }
    jsStreamInfo_Destroy(up);
    jsStreamInfo_Destroy(si);
    free(stream);
    if (s != NATS_OK)
        return meme_err_set(err, MEME_E_NATS, "cannot resize results bucket \"%s\": %s", bucket,
                            nats_GetLastError(NULL));
    return 0;
}

int results_open(jsCtx *js, const char *bucket, bool create, int ttl_s, int64_t max_value,
                 kvStore **kv, struct meme_err *err)
{
    *kv = NULL;
    natsStatus s = js_KeyValue(kv, js, bucket);
    if (s == NATS_OK)
        return 0;
    *kv = NULL;
    if (s == NATS_NOT_FOUND && !create)
        return meme_err_set(err, MEME_E_NOT_FOUND,
                            "no results bucket \"%s\" on this server (no worker has stored a "
                            "result yet)",
                            bucket);
    if (s != NATS_NOT_FOUND)
        return meme_err_set(err, MEME_E_NATS, "cannot open results bucket \"%s\": %s", bucket,
                            nats_GetLastError(NULL));
    int rc = results_ensure_bucket(js, bucket, ttl_s, max_value, 0, NULL, err);
    if (rc == MQ_NO_ROOM)
        rc = meme_err_set(err, MEME_E_NATS,
                          "cannot create results bucket \"%s\": the server has no storage left",
                          bucket);
    if (rc < 0)
        return rc;
    if (js_KeyValue(kv, js, bucket) != NATS_OK) {
        *kv = NULL;
        return meme_err_set(err, MEME_E_NATS, "cannot open results bucket \"%s\": %s", bucket,
                            nats_GetLastError(NULL));
    }
    return 0;
}

char *results_meta_json(const struct results_meta *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(m->pending ? "pending" : m->ok ? "ok" : "error"));
    if (m->pending) {
        /* A claim: only who owns the id, and since when. */
    } else if (m->ok) {
        json_object_set_new(o, "content_type", json_string(m->content_type));
        json_object_set_new(o, "width", json_integer(m->width));
        json_object_set_new(o, "height", json_integer(m->height));
        json_object_set_new(o, "bytes", json_integer((json_int_t)m->bytes));
        json_object_set_new(o, "template", json_string(m->template_name));
    } else {
        json_object_set_new(o, "code", json_string(m->code));
        json_object_set_new(o, "message", json_string(m->message));
    }
    json_object_set_new(o, "engine", json_string(m->engine));
    json_object_set_new(o, "worker", json_string(m->worker));
    json_object_set_new(o, "created", json_integer(m->created));
    if (m->prompt[0])
        json_object_set_new(o, "prompt", json_string(m->prompt));
    if (m->queue_ms >= 0)
        json_object_set_new(o, "queue_ms", json_integer(m->queue_ms));
    if (m->gen_ms >= 0)
        json_object_set_new(o, "gen_ms", json_real(m->gen_ms));
    if (m->request[0])
        json_object_set_new(o, "request", json_string(m->request));
    if (m->attempt > 0)
        json_object_set_new(o, "attempt", json_integer(m->attempt));
    char *s = proto_json_dump(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    return s;
}

static void copy_str(json_t *o, const char *key, char *out, size_t outsz)
{
    const char *v = json_string_value(json_object_get(o, key));
    snprintf(out, outsz, "%s", v ? v : "");
}

int results_meta_parse(const char *json, size_t len, struct results_meta *m, struct meme_err *err)
{
    memset(m, 0, sizeof(*m));
    json_error_t je;
    json_t *o = json_loadb(json, len, 0, &je);
    if (!json_is_object(o)) {
        json_decref(o);
        return meme_err_set(err, MEME_E_BAD_JSON, "the stored result's metadata is not JSON");
    }
    const char *status = json_string_value(json_object_get(o, "status"));
    m->ok = status && strcmp(status, "ok") == 0;
    m->pending = status && strcmp(status, "pending") == 0;
    copy_str(o, "request", m->request, sizeof(m->request));
    json_int_t att = json_integer_value(json_object_get(o, "attempt"));
    m->attempt = att > 0 && att < 1000 ? (int)att : 0;
    copy_str(o, "content_type", m->content_type, sizeof(m->content_type));
    copy_str(o, "template", m->template_name, sizeof(m->template_name));
    copy_str(o, "engine", m->engine, sizeof(m->engine));
    copy_str(o, "worker", m->worker, sizeof(m->worker));
    copy_str(o, "code", m->code, sizeof(m->code));
    copy_str(o, "message", m->message, sizeof(m->message));
    m->width = (int)json_integer_value(json_object_get(o, "width"));
    m->height = (int)json_integer_value(json_object_get(o, "height"));
    m->created = (int64_t)json_integer_value(json_object_get(o, "created"));
    json_int_t b = json_integer_value(json_object_get(o, "bytes"));
    m->bytes = b > 0 ? (size_t)b : 0;
    /* The prompt only when it is valid UTF-8 within the protocol's limit. */
    const char *p = json_string_value(json_object_get(o, "prompt"));
    if (p && strlen(p) < sizeof(m->prompt) && proto_utf8_valid(p, strlen(p)))
        memcpy(m->prompt, p, strlen(p) + 1);
    json_t *q = json_object_get(o, "queue_ms");
    m->queue_ms = json_is_integer(q) ? (int64_t)json_integer_value(q) : -1;
    json_t *g = json_object_get(o, "gen_ms");
    m->gen_ms = json_is_number(g) ? json_number_value(g) : -1;
    json_decref(o);
    return 0;
}

static void keys_for(const char *id, char *key, size_t keysz, char *meta, size_t metasz)
{
    proto_result_key(id, key, keysz);
    snprintf(meta, metasz, "%s.meta", key);
}

/* The meta as a pending claim for meta->request (a new string). */
static char *claim_json(const struct results_meta *meta)
{
    struct results_meta c;
    memset(&c, 0, sizeof(c));
    c.queue_ms = -1;
    c.gen_ms = -1;
    c.pending = true;
    c.created = meta->created;
    snprintf(c.engine, sizeof(c.engine), "%s", meta->engine);
    snprintf(c.worker, sizeof(c.worker), "%s", meta->worker);
    snprintf(c.request, sizeof(c.request), "%s", meta->request);
    c.attempt = meta->attempt;
    return results_meta_json(&c);
}

/* After a refused conditional write of the meta: was it refused because the
 * meta is not at revision rev (someone else's, or changed)? */
static bool meta_moved(kvStore *kv, const char *mkey, uint64_t rev)
{
    kvEntry *e = NULL;
    if (kvStore_Get(&e, kv, mkey) != NATS_OK)
        return false;
    bool moved = kvEntry_Revision(e) != rev;
    kvEntry_Destroy(e);
    return moved;
}

static int conflict(struct meme_err *err, const char *id)
{
    return meme_err_set(err, MEME_E_ID_CONFLICT,
                        "id \"%s\" belongs to another request's result; send the request with a "
                        "new id",
                        id);
}

int results_put(kvStore *kv, const char *id, const uint8_t *data, size_t len,
                const struct results_meta *meta, uint64_t meta_rev, struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    if (!proto_id_valid(id))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "id \"%s\" is not a valid request id", id);
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    natsStatus s = NATS_OK;
    /* The image key is written only by the id's owner: claim a new id first. */
    if (data && len && meta_rev == 0) {
        char *claim = claim_json(meta);
        s = kvStore_Create(&meta_rev, kv, mkey, claim, (int)strlen(claim));
        free(claim);
        if (s != NATS_OK && meta_moved(kv, mkey, 0))
            return conflict(err, id);
    }
    if (s == NATS_OK && data && len)
        s = kvStore_Put(NULL, kv, key, data, (int)len);
    if (s == NATS_OK) {
        char *json = results_meta_json(meta);
        s = kvStore_Update(NULL, kv, mkey, json, (int)strlen(json), meta_rev);
        free(json);
        if (s != NATS_OK && meta_moved(kv, mkey, meta_rev))
            return conflict(err, id);
    }
    if (s != NATS_OK)
        return meme_err_set(err, s == NATS_TIMEOUT ? MEME_E_TIMEOUT : MEME_E_NATS,
                            "cannot store the result of \"%s\": %s", id, nats_GetLastError(NULL));
    return 0;
}

int results_claim(kvStore *kv, const char *id, const char *owner, int attempt,
                  struct results_claim *cl, struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    memset(cl, 0, sizeof(*cl));
    if (!proto_id_valid(id))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "id \"%s\" is not a valid request id", id);
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    struct results_meta m;
    memset(&m, 0, sizeof(m));
    m.created = (int64_t)time(NULL);
    m.attempt = attempt;
    snprintf(m.request, sizeof(m.request), "%s", owner);
    char *claim = claim_json(&m);
    natsStatus s = NATS_OK;
    /* A few rounds at most: a meta that expires between the create and the
     * read makes the id new again, and a claim taken over by another
     * delivery at the same moment is read again. */
    for (int round = 0; round < 4; round++) {
        s = kvStore_Create(&cl->revision, kv, mkey, claim, (int)strlen(claim));
        if (s == NATS_OK)
            break;
        kvEntry *e = NULL;
        natsStatus gs = kvStore_Get(&e, kv, mkey);
        if (gs == NATS_NOT_FOUND)
            continue;
        if (gs != NATS_OK)
            break;
        struct results_meta found;
        int prc = results_meta_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), &found, NULL);
        uint64_t rev = kvEntry_Revision(e);
        kvEntry_Destroy(e);
        if (prc < 0 || strcmp(found.request, owner) != 0) {
            free(claim);
            cl->revision = 0;
            return conflict(err, id);
        }
        /* Another delivery of this very request claimed it. A later one
         * has it now: this delivery is stale and leaves it. */
        cl->meta = found;
        if (found.attempt > attempt) {
            free(claim);
            cl->revision = 0;
            cl->superseded = true;
            return 0;
        }
        if (!found.pending) {
            free(claim);
            cl->revision = rev;
            cl->finished = true;
            return 0;
        }
        /* An earlier delivery's claim (its worker died or was held up):
         * this one takes it over, so that one finds itself stale. */
        s = kvStore_Update(&cl->revision, kv, mkey, claim, (int)strlen(claim), rev);
        if (s == NATS_OK)
            break;
    }
    free(claim);
    if (s != NATS_OK)
        return meme_err_set(err, s == NATS_TIMEOUT ? MEME_E_TIMEOUT : MEME_E_NATS,
                            "cannot claim the id \"%s\" in the results bucket: %s", id,
                            nats_GetLastError(NULL));
    return 0;
}

static int get_entry(kvStore *kv, const char *key, const char *id, kvEntry **e,
                     struct meme_err *err)
{
    natsStatus s = kvStore_Get(e, kv, key);
    if (s == NATS_OK)
        return 0;
    *e = NULL;
    if (s == NATS_NOT_FOUND)
        return meme_err_set(err, MEME_E_NOT_FOUND,
                            "no result for id \"%s\" (results are kept for %d minutes)", id,
                            PROTO_RESULTS_TTL_S / 60);
    if (s == NATS_INVALID_ARG)
        return meme_err_set(err, MEME_E_NOT_FOUND, "no result for id \"%s\"", id);
    return meme_err_set(err, s == NATS_TIMEOUT ? MEME_E_TIMEOUT : MEME_E_NATS,
                        "cannot read the result of \"%s\": %s", id, nats_GetLastError(NULL));
}

int results_get_meta(kvStore *kv, const char *id, struct results_meta *meta, struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    kvEntry *e = NULL;
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    int rc = get_entry(kv, mkey, id, &e, err);
    if (rc == 0)
        rc = results_meta_parse(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), meta, err);
    kvEntry_Destroy(e);
    if (rc == 0 && meta->pending)
        rc = meme_err_set(err, MEME_E_NOT_FOUND,
                          "the meme \"%s\" is not finished yet (a worker is making it)", id);
    return rc;
}

int results_get(kvStore *kv, const char *id, struct results_meta *meta, uint8_t **data, size_t *len,
                struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    kvEntry *e = NULL;
    *data = NULL;
    *len = 0;
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    int rc = results_get_meta(kv, id, meta, err);
    if (rc < 0 || !meta->ok)
        return rc;
    rc = get_entry(kv, key, id, &e, err);
    if (rc == 0) {
        *len = (size_t)kvEntry_ValueLen(e);
        *data = xmalloc(*len ? *len : 1);
        memcpy(*data, kvEntry_Value(e), *len);
    }
    kvEntry_Destroy(e);
    return rc;
}

struct results_writer {
    jsCtx *js;
    char *prefix;         /* "$KV.<bucket>." */
    pthread_mutex_t lock; /* the error handler runs on a nats.c thread */
    int failures;
    int code; /* the protocol code of the last refusal */
    char last_error[200];
};

/* Called by nats.c for a publish the stream refused or that timed out. */
static void on_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    struct results_writer *w = closure;
    (void)js;
    pthread_mutex_lock(&w->lock);
    snprintf(w->last_error, sizeof(w->last_error), "%s",
             pae->ErrText ? pae->ErrText : natsStatus_GetText(pae->Err));
    w->failures++;
    if (pae->ErrCode == JSStreamWrongLastSequenceErr)
        w->code = MEME_E_ID_CONFLICT;
    else if (pae->ErrCode == JSStreamMessageExceedsMaximumErr)
        w->code = MEME_E_TOO_LARGE;
    else if (w->code == 0)
        w->code = pae->Err == NATS_TIMEOUT ? MEME_E_TIMEOUT : MEME_E_NATS;
    pthread_mutex_unlock(&w->lock);
}

struct results_writer *results_writer_new(natsConnection *nc, const char *bucket,
                                          struct meme_err *err)
{
    struct results_writer *w = xcalloc(1, sizeof(*w));
    pthread_mutex_init(&w->lock, NULL);
    jsOptions o;
    jsOptions_Init(&o);
    o.PublishAsync.ErrHandler = on_pub_error;
    o.PublishAsync.ErrHandlerClosure = w;
    o.PublishAsync.MaxPending = 16;
    if (natsConnection_JetStream(&w->js, nc, &o) != NATS_OK) {
        meme_err_set(err, MEME_E_NATS, "cannot make a JetStream context: %s",
                     nats_GetLastError(NULL));
        pthread_mutex_destroy(&w->lock);
        free(w);
        return NULL;
    }
    w->prefix = xasprintf("$KV.%s.", bucket);
    return w;
}

void results_writer_free(struct results_writer *w)
{
    if (!w)
        return;
    jsCtx_Destroy(w->js);
    pthread_mutex_destroy(&w->lock);
    free(w->prefix);
    free(w);
}

/* One asynchronous publish of data on subj; with expect, only if the key's
 * last revision is *expect (0: only if the key is new). */
static natsStatus publish(struct results_writer *w, const char *subj, const void *data, size_t len,
                          const uint64_t *expect)
{
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subj, NULL, data, (int)len);
    if (s != NATS_OK)
        return s;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (expect && *expect == 0)
        po.ExpectNoMessage = true;
    else if (expect)
        po.ExpectLastSubjectSeq = *expect;
    s = js_PublishMsgAsync(w->js, &m, &po);
    natsMsg_Destroy(m); /* NULL once nats.c took it */
    return s;
}

int results_writer_put(struct results_writer *w, const char *id, const uint8_t *data, size_t len,
                       const struct results_meta *meta, uint64_t meta_rev, int timeout_ms,
                       struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    if (!proto_id_valid(id))
        return meme_err_set(err, MEME_E_BAD_REQUEST, "id \"%s\" is not a valid request id", id);
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    char *subj = xasprintf("%s%s", w->prefix, key);
    char *msubj = xasprintf("%s%s", w->prefix, mkey);
    char *json = results_meta_json(meta);
    natsStatus s = NATS_OK;
    int rc = 0;
    /* The image key is written only by the id's owner: claim a new id first. */
    if (data && len && meta_rev == 0) {
        char *claim = claim_json(meta);
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.ExpectNoMessage = true;
        po.MaxWait = timeout_ms > 0 ? timeout_ms : 5000;
        jsPubAck *ack = NULL;
        jsErrCode jerr = 0;
        s = js_Publish(&ack, w->js, msubj, claim, (int)strlen(claim), &po, &jerr);
        if (s == NATS_OK)
            meta_rev = ack->Sequence;
        jsPubAck_Destroy(ack);
        free(claim);
        if (jerr == JSStreamWrongLastSequenceErr) {
            rc = conflict(err, id);
            goto out;
        }
    }
    pthread_mutex_lock(&w->lock);
    w->failures = 0;
    w->code = 0;
    pthread_mutex_unlock(&w->lock);
    /* Both on one connection: the stream stores the image before the meta. */
    if (s == NATS_OK && data && len)
        s = publish(w, subj, data, len, NULL);
    if (s == NATS_OK)
        s = publish(w, msubj, json, strlen(json), &meta_rev);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = timeout_ms > 0 ? timeout_ms : 5000;
        s = js_PublishAsyncComplete(w->js, &po);
    }
    if (s == NATS_TIMEOUT) {
        /* Leave nothing pending to be confused with the next result. */
        natsMsgList pending = {0};
        if (js_PublishAsyncGetPendingList(&pending, w->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
        rc = meme_err_set(err, MEME_E_TIMEOUT, "storing the result of \"%s\" timed out", id);
        goto out;
    }
    if (s == NATS_MAX_PAYLOAD) {
        rc = meme_err_set(err, MEME_E_TOO_LARGE,
                          "the result of \"%s\" (%zu bytes) is larger than the server's "
                          "max_payload",
                          id, len);
        goto out;
    }
    if (s != NATS_OK) {
        rc = meme_err_set(err, MEME_E_NATS, "cannot store the result of \"%s\": %s", id,
                          natsStatus_GetText(s));
        goto out;
    }
    pthread_mutex_lock(&w->lock);
    if (w->code == MEME_E_ID_CONFLICT)
        rc = conflict(err, id);
    else if (w->failures)
        rc = meme_err_set(err, w->code, "cannot store the result of \"%s\": %s", id, w->last_error);
    pthread_mutex_unlock(&w->lock);
out:
    free(subj);
    free(msubj);
    free(json);
    return rc;
}
