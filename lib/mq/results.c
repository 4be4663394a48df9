/*
 * Results by id in a JetStream key-value bucket (see results.h). nats.c
 * 3.4.1's key-value API has no message headers, so the metadata lives in a
 * second key next to the image.
 */
#include "mq/results.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int results_open(jsCtx *js, const char *bucket, bool create, int ttl_s, int64_t max_value,
                 kvStore **kv, struct meme_err *err)
{
    *kv = NULL;
    natsStatus s = js_KeyValue(kv, js, bucket);
    if (s == NATS_OK)
        return 0;
    if (s == NATS_NOT_FOUND && !create)
        return meme_err_set(err, MEME_E_NOT_FOUND,
                            "no results bucket \"%s\" on this server (no worker has stored a "
                            "result yet)",
                            bucket);
    if (s != NATS_NOT_FOUND)
        return meme_err_set(err, MEME_E_NATS, "cannot open results bucket \"%s\": %s", bucket,
                            nats_GetLastError(NULL));
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket;
    cfg.Description = "finished memes by request id (memectl protocol v1)";
    cfg.History = 1;
    cfg.TTL = (int64_t)(ttl_s > 0 ? ttl_s : PROTO_RESULTS_TTL_S) * 1000000000LL;
    cfg.StorageType = js_FileStorage;
    if (max_value > 0 && max_value < INT32_MAX)
        cfg.MaxValueSize = (int32_t)max_value;
    s = js_CreateKeyValue(kv, js, &cfg);
    if (s != NATS_OK) {
        /* Another worker made it first, perhaps with other settings: use theirs. */
        *kv = NULL;
        if (js_KeyValue(kv, js, bucket) == NATS_OK)
            return 0;
        *kv = NULL;
        return meme_err_set(err, MEME_E_NATS, "cannot create results bucket \"%s\": %s", bucket,
                            nats_GetLastError(NULL));
    }
    return 0;
}

char *results_meta_json(const struct results_meta *m)
{
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(m->ok ? "ok" : "error"));
    if (m->ok) {
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
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (!s) {
        fputs("out of memory\n", stderr);
        abort();
    }
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

int results_put(kvStore *kv, const char *id, const uint8_t *data, size_t len,
                const struct results_meta *meta, struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    natsStatus s = NATS_OK;
    if (data && len)
        s = kvStore_Put(NULL, kv, key, data, (int)len);
    if (s == NATS_OK) {
        char *json = results_meta_json(meta);
        s = kvStore_PutString(NULL, kv, mkey, json);
        free(json);
    }
    if (s == NATS_INVALID_ARG)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "id \"%s\" cannot be a key-value key (it starts or ends with '.' or "
                            "has \"..\")",
                            id);
    if (s != NATS_OK)
        return meme_err_set(err, s == NATS_TIMEOUT ? MEME_E_TIMEOUT : MEME_E_NATS,
                            "cannot store the result of \"%s\": %s", id, nats_GetLastError(NULL));
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

/* nats.c's rule for key-value keys: [-/_=.a-zA-Z0-9]+, no leading or trailing '.'. */
static bool key_valid(const char *k)
{
    size_t n = strlen(k);
    if (n == 0 || k[0] == '.' || k[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = k[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '/' || c == '_' || c == '=' || c == '.'))
            return false;
        if (c == '.' && k[i + 1] == '.')
            return false;
    }
    return true;
}

int results_writer_put(struct results_writer *w, const char *id, const uint8_t *data, size_t len,
                       const struct results_meta *meta, int timeout_ms, struct meme_err *err)
{
    char key[3 * PROTO_ID_MAX + 1], mkey[3 * PROTO_ID_MAX + 8];
    keys_for(id, key, sizeof(key), mkey, sizeof(mkey));
    if (!key_valid(key))
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "id \"%s\" cannot be a key-value key (it starts or ends with '.' or "
                            "has \"..\")",
                            id);
    pthread_mutex_lock(&w->lock);
    w->failures = 0;
    pthread_mutex_unlock(&w->lock);
    char *subj = xasprintf("%s%s", w->prefix, key);
    char *msubj = xasprintf("%s%s", w->prefix, mkey);
    char *json = results_meta_json(meta);
    natsStatus s = NATS_OK;
    /* Both on one connection: the stream stores the image before the meta. */
    if (data && len)
        s = js_PublishAsync(w->js, subj, data, (int)len, NULL);
    if (s == NATS_OK)
        s = js_PublishAsync(w->js, msubj, json, (int)strlen(json), NULL);
    if (s == NATS_OK) {
        jsPubOptions po;
        jsPubOptions_Init(&po);
        po.MaxWait = timeout_ms > 0 ? timeout_ms : 5000;
        s = js_PublishAsyncComplete(w->js, &po);
    }
    free(subj);
    free(msubj);
    free(json);
    if (s == NATS_TIMEOUT) {
        /* Leave nothing pending to be confused with the next result. */
        natsMsgList pending = {0};
        if (js_PublishAsyncGetPendingList(&pending, w->js) == NATS_OK)
            natsMsgList_Destroy(&pending);
        return meme_err_set(err, MEME_E_TIMEOUT, "storing the result of \"%s\" timed out", id);
    }
    if (s != NATS_OK)
        return meme_err_set(err, MEME_E_NATS, "cannot store the result of \"%s\": %s", id,
                            natsStatus_GetText(s));
    pthread_mutex_lock(&w->lock);
    int rc = w->failures ? meme_err_set(err, MEME_E_NATS, "cannot store the result of \"%s\": %s",
                                        id, w->last_error)
                         : 0;
    pthread_mutex_unlock(&w->lock);
    return rc;
}
