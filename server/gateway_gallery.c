/*
 * The shared gallery behind the web page: the most recent finished memes,
 * read from the results bucket (so every gateway replica, and a gateway
 * that just started, shows the same history), the live feed of memes as
 * workers finish them (server-sent events from meme.events.done), and the
 * choices the page's form offers (templates, sizes, formats, the prompt
 * limit). Everything that leaves here was re-encoded from checked fields:
 * events and metadata come from NATS, where anyone may publish.
 */
#include "buf.h"
#include "clock.h"
#include "gateway.h"
#include "log.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "render/template.h"
#include "xalloc.h"

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESULTS_STREAM "KV_" PROTO_RESULTS_BUCKET
#define RESULTS_PREFIX "$KV." PROTO_RESULTS_BUCKET "."
#define SCAN_WAIT_MS   2000 /* at most this long reading the bucket's recent keys */
#define SSE_SLICE_MS   250  /* how often a stream checks for shutdown */
#define SSE_KEEPALIVE  15   /* seconds between comments on a quiet stream */

/* The request id of a key: proto_result_key() backwards ("=3A" is ':'). */
static bool id_of_key(const char *key, size_t len, char *id, size_t idsz)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 1 >= idsz)
            return false;
        if (key[i] == '=' && i + 2 < len && key[i + 1] == '3' && key[i + 2] == 'A') {
            id[o++] = ':';
            i += 2;
        } else {
            id[o++] = key[i];
        }
    }
    id[o] = '\0';
    return proto_id_valid(id);
}

/* One finished meme as the page shows it. NULL for a failed result. */
static json_t *meme_json(const char *id, const struct results_meta *m)
{
    if (!m->ok)
        return NULL;
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(id));
    json_object_set_new(o, "prompt", json_string(m->prompt));
    json_object_set_new(o, "worker", json_string(m->worker));
    json_object_set_new(o, "engine", json_string(m->engine));
    json_object_set_new(o, "template", json_string(m->template_name));
    json_object_set_new(o, "content_type", json_string(m->content_type));
    json_object_set_new(o, "width", json_integer(m->width));
    json_object_set_new(o, "height", json_integer(m->height));
    json_object_set_new(o, "created", json_integer(m->created));
    if (m->queue_ms >= 0 && m->gen_ms >= 0)
        json_object_set_new(o, "total_ms", json_real((double)m->queue_ms + m->gen_ms));
    return o;
}

struct recent_key {
    uint64_t seq;
    char id[PROTO_ID_MAX + 1];
};

/*
 * Reads the subjects (headers only, no image bytes) of the bucket's last
 * messages with an ordered consumer, keeps the newest `limit` meta keys,
 * then fetches those metas by sequence.
 */
char *gateway_recent_json(struct mq_conn *mq, int limit, struct meme_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    json_t *arr = json_array();
    natsSubscription *sub = NULL;
    struct recent_key *keys = NULL;
    size_t nkeys = 0;
    natsStatus s = js_GetStreamInfo(&si, mq->js, RESULTS_STREAM, NULL, &jerr);
    if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr)
        goto done; /* no worker has stored a result yet: an empty gallery */
    if (s != NATS_OK) {
        meme_err_set(err, MEME_E_NATS, "cannot read the results bucket: %s",
                     nats_GetLastError(NULL));
        goto fail;
    }
    uint64_t first = si->State.FirstSeq, last = si->State.LastSeq;
    if (si->State.Msgs == 0 || last == 0)
        goto done;
    /* An ok result is two messages (image, meta), a failed one is one. */
    uint64_t span = (uint64_t)limit * 3 + 16;
    uint64_t start = last > span ? last - span + 1 : 1;
    if (start < first)
        start = first;

    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = RESULTS_STREAM; /* no lookup of the stream by subject */
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start;
    so.Config.HeadersOnly = true;
    s = js_SubscribeSync(&sub, mq->js, RESULTS_PREFIX ">", NULL, &so, &jerr);
    if (s != NATS_OK) {
        meme_err_set(err, MEME_E_NATS, "cannot read the results bucket: %s",
                     nats_GetLastError(NULL));
        goto fail;
    }
    keys = xcalloc((size_t)span, sizeof(*keys));
    double until = clock_now_ms() + SCAN_WAIT_MS;
    for (;;) {
        natsMsg *m = NULL;
        int64_t left = (int64_t)(until - clock_now_ms());
        if (left <= 0 || natsSubscription_NextMsg(&m, sub, left) != NATS_OK)
            break;
        jsMsgMetaData *md = NULL;
        uint64_t seq = 0, pending = 0;
        if (natsMsg_GetMetaData(&md, m) == NATS_OK) {
            seq = md->Sequence.Stream;
            pending = md->NumPending;
            jsMsgMetaData_Destroy(md);
        }
        const char *subj = natsMsg_GetSubject(m);
        size_t sl = strlen(subj), pl = strlen(RESULTS_PREFIX);
        char id[PROTO_ID_MAX + 1];
        /* "<prefix><key>.meta" */
        if (sl > pl + 5 && strcmp(subj + sl - 5, ".meta") == 0 &&
            id_of_key(subj + pl, sl - pl - 5, id, sizeof(id)) && nkeys < span) {
            /* A key stored again replaces its older entry. */
            for (size_t k = 0; k < nkeys; k++)
                if (strcmp(keys[k].id, id) == 0) {
                    memmove(&keys[k], &keys[k + 1], (nkeys - k - 1) * sizeof(*keys));
                    nkeys--;
                    break;
                }
            keys[nkeys].seq = seq;
            snprintf(keys[nkeys].id, sizeof(keys[nkeys].id), "%s", id);
            nkeys++;
        }
        natsMsg_Destroy(m);
        if (pending == 0 || seq >= last)
            break;
    }
    /* Newest first, stopping at limit memes that can be shown. */
    for (size_t k = nkeys; k-- > 0 && json_array_size(arr) < (size_t)limit;) {
        natsMsg *m = NULL;
        if (js_GetMsg(&m, mq->js, RESULTS_STREAM, keys[k].seq, NULL, &jerr) != NATS_OK)
            continue; /* expired or replaced since */
        struct results_meta meta;
        if (results_meta_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &meta, NULL) ==
            0) {
            json_t *o = meme_json(keys[k].id, &meta);
            if (o)
                json_array_append_new(arr, o);
        }
        natsMsg_Destroy(m);
    }
done:
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    jsStreamInfo_Destroy(si);
    free(keys);
    json_t *root = json_object();
    json_object_set_new(root, "memes", arr);
    char *out = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(root);
    return out;
fail:
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    jsStreamInfo_Destroy(si);
    free(keys);
    json_decref(arr);
    return NULL;
}

/* A completion event re-encoded for the page, or NULL when it is not one:
 * only known fields of the right types, a valid id, a short prompt. */
static char *event_json(const char *data, size_t len)
{
    json_t *in = json_loadb(data, len, 0, NULL);
    if (!json_is_object(in)) {
        json_decref(in);
        return NULL;
    }
    const char *id = json_string_value(json_object_get(in, "id"));
    const char *status = json_string_value(json_object_get(in, "status"));
    char *out = NULL;
    if (id && proto_id_valid(id) && status &&
        (strcmp(status, "done") == 0 || strcmp(status, "failed") == 0)) {
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "status", json_string(status));
        static const char *const strs[] = {"prompt", "worker", "engine", "template", "code"};
        for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
            const char *v = json_string_value(json_object_get(in, strs[i]));
            if (v && strlen(v) <= PROTO_PROMPT_MAX)
                json_object_set_new(o, strs[i], json_string(v));
        }
        json_t *t = json_object_get(in, "total_ms");
        if (json_is_number(t) && json_number_value(t) >= 0)
            json_object_set_new(o, "total_ms", json_real(json_number_value(t)));
        json_t *ts = json_object_get(in, "ts");
        if (json_is_integer(ts))
            json_object_set_new(o, "created", json_integer(json_integer_value(ts)));
        out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
        json_decref(o);
    }
    json_decref(in);
    return out;
}

/* One server-sent events stream: its own subscription to the events. */
struct sse {
    struct gateway *gw;
    natsSubscription *sub;
    struct buf out; /* bytes not yet handed to MHD */
    size_t off;
    double last_write;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *dst, size_t max)
{
    struct sse *e = cls;
    (void)pos;
    while (e->off >= e->out.len) {
        e->out.len = 0;
        e->off = 0;
        /* A stopping gateway ends its streams; browsers reconnect to
         * another replica by themselves. */
        if (atomic_load(&e->gw->stopping))
            return MHD_CONTENT_READER_END_OF_STREAM;
        natsMsg *m = NULL;
        natsStatus s = natsSubscription_NextMsg(&m, e->sub, SSE_SLICE_MS);
        if (s == NATS_OK) {
            char *j = event_json(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
            natsMsg_Destroy(m);
            if (j) {
                buf_printf(&e->out, "event: meme\ndata: %s\n\n", j);
                free(j);
            }
        } else if (s != NATS_TIMEOUT) {
            return MHD_CONTENT_READER_END_WITH_ERROR; /* the browser reconnects */
        } else if (clock_now_s() - e->last_write >= SSE_KEEPALIVE) {
            buf_puts(&e->out, ": keepalive\n\n");
        }
    }
    size_t n = e->out.len - e->off;
    if (n > max)
        n = max;
    memcpy(dst, e->out.data + e->off, n);
    e->off += n;
    e->last_write = clock_now_s();
    return (ssize_t)n;
}

static void sse_free(void *cls)
{
    struct sse *e = cls;
    natsSubscription_Unsubscribe(e->sub);
    natsSubscription_Destroy(e->sub);
    buf_release(&e->out);
    free(e);
}

struct MHD_Response *gateway_events_response(struct gateway *gw, struct mq_conn *mq,
                                             struct meme_err *err)
{
    natsSubscription *sub = NULL;
    if (natsConnection_SubscribeSync(&sub, mq->nc, PROTO_SUBJECT_EVENTS) != NATS_OK) {
        meme_err_set(err, MEME_E_NATS, "cannot subscribe to %s: %s", PROTO_SUBJECT_EVENTS,
                     nats_GetLastError(NULL));
        return NULL;
    }
    /* A slow reader loses events rather than the gateway its memory. */
    natsSubscription_SetPendingLimits(sub, 1000, 4 * 1024 * 1024);
    struct sse *e = xcalloc(1, sizeof(*e));
    e->gw = gw;
    e->sub = sub;
    e->last_write = clock_now_s();
    /* How long a browser waits before it reconnects, then a first line so
     * proxies and the browser see the stream open at once. */
    buf_puts(&e->out, "retry: 3000\n: memes as workers finish them\n\n");
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, e, sse_free);
    if (!resp) {
        sse_free(e);
        meme_err_set(err, MEME_E_INTERNAL, "cannot create the event stream");
        return NULL;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    return resp;
}

static char *templates_doc;
static pthread_once_t templates_once = PTHREAD_ONCE_INIT;

/* The built-in templates and those of $MEME_TEMPLATE_DIR when the gateway
 * has it (workers may have more; requests naming those still work). */
static void templates_build(void)
{
    json_t *root = json_object(), *list = json_array();
    struct template_set *t = template_set_new(NULL, NULL);
    for (size_t i = 0; t && i < template_count(t); i++) {
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(template_name(t, i)));
        json_object_set_new(o, "description", json_string(template_description(t, i)));
        json_array_append_new(list, o);
    }
    template_set_free(t);
    json_object_set_new(root, "templates", list);
    json_t *sizes = json_array();
    json_array_append_new(sizes, json_integer(PROTO_SIZE_DEFAULT));
    json_array_append_new(sizes, json_integer(PROTO_SIZE_LARGE));
    json_object_set_new(root, "sizes", sizes);
    json_t *formats = json_array();
    json_array_append_new(formats, json_string("png"));
    json_array_append_new(formats, json_string("jpeg"));
    json_object_set_new(root, "formats", formats);
    json_object_set_new(root, "prompt_max_bytes", json_integer(PROTO_PROMPT_MAX));
    templates_doc = json_dumps(root, JSON_COMPACT);
    json_decref(root);
}

struct MHD_Response *gateway_templates_response(void)
{
    pthread_once(&templates_once, templates_build);
    const char *t = templates_doc ? templates_doc : "{}";
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(t), (void *)t, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "max-age=300");
    return resp;
}
