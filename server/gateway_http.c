/*
 * The gateway's HTTP side on libmicrohttpd, one thread per connection: a
 * POST /api/v1/memes waits for its meme (up to the deadline) without holding
 * up anyone else's connection. Routes:
 *
 *   POST /api/v1/memes        request JSON -> the image (200), or a JSON error
 *   GET  /api/v1/memes        the newest finished memes (JSON), for the gallery
 *   GET  /api/v1/memes/{id}   a finished meme from the results bucket
 *   GET  /api/v1/memes/{id}/status  why a meme is not there yet (progress)
 *   GET  /api/v1/events       completions as server-sent events (the live gallery)
 *   GET  /api/v1/templates    what the page's form offers
 *   GET  /  /m/{id}  /static/{file}   the web page, a meme's page, the page's files
 *   GET  /healthz /readyz /api/health /metrics
 *
 * Connections reach the handlers through the accept-side guard
 * (gateway_guard.c), which has already checked the request head; every
 * response closes its connection, so each request on the port passes the
 * guard. With --probe-addr a second daemon serves only the probes and
 * metrics, on a port of its own that busy or hostile API clients cannot
 * fill.
 *
 * Status codes: 400 bad JSON or a request the worker rejects, 404 unknown
 * id, 405 wrong method, 409 an id submitted twice, 413 a body over the
 * protocol's 65536 bytes, 415 a POST body that is not application/json (so
 * no other site can make a browser post a meme with a plain form, which
 * needs no CORS preflight), 502 the worker failed, 503 NATS down or no
 * stream, 504 no meme before the deadline. Every error body is the
 * protocol's error JSON ({"request_id","error","code","timestamp"}).
 */
#include "clock.h"
#include "buf.h"
#include "gateway.h"
#include "render/image.h"
#include "log.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "term/term.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GW_BODY_MAX   PROTO_REQUEST_MAX
#define GW_WAIT_SLICE 250 /* ms; how often a waiting request checks for shutdown */

/* One HTTP request (MHD calls the handler several times for a body). */
struct gw_req {
    enum gw_route route;
    double t0;
    struct buf body;
    bool too_big;
    int status; /* what was queued; 0 when nothing was */
};

static int64_t wall_s(void)
{
    return (int64_t)time(NULL);
}

/* Queues resp with status and remembers the status for the metrics. */
static enum MHD_Result respond(struct MHD_Connection *conn, struct gw_req *st, int status,
                               struct MHD_Response *resp)
{
    st->status = status;
    /* One request per connection: the next one would reach libmicrohttpd
     * without passing the guard's header timeout and checks. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result r = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return r;
}

static enum MHD_Result respond_copy(struct MHD_Connection *conn, struct gw_req *st, int status,
                                    const char *type, const void *data, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return respond(conn, st, status, resp);
}

/* The protocol's error JSON with a status; Retry-After on the statuses that
 * invite a retry. */
static enum MHD_Result respond_error(struct MHD_Connection *conn, struct gw_req *st, int status,
                                     const char *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static enum MHD_Result respond_error(struct MHD_Connection *conn, struct gw_req *st, int status,
                                     const char *id, int code, const char *fmt, ...)
{
    char message[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    char *json = proto_error_json(id, code, message, wall_s());
    struct buf b = BUF_INIT;
    buf_puts(&b, json);
    buf_putc(&b, '\n');
    free(json);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == 503)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "5");
    return respond(conn, st, status, resp);
}

static struct mq_conn *connected(struct gateway *gw)
{
    struct mq_conn *mq = atomic_load(&gw->mq);
    if (!mq || natsConnection_Status(mq->nc) != NATS_CONN_STATUS_CONNECTED)
        return NULL;
    return mq;
}

/* The address of NATS is the operator's business: it goes to the log (at
 * start and when the connection drops), never into an answer. */
static enum MHD_Result respond_unreachable(struct MHD_Connection *conn, struct gateway *gw,
                                           struct gw_req *st, const char *id)
{
    (void)gw;
    return respond_error(conn, st, 503, id, MEME_E_UNREACHABLE,
                         "the gateway is not connected to its message queue; retry in a few "
                         "seconds");
}

/* Adds a header whose value came over the network, only when it is plain
 * printable ASCII. */
static void add_safe_header(struct MHD_Response *resp, const char *name, const char *v)
{
    if (!v || !*v || strlen(v) > 200)
        return;
    for (const char *p = v; *p; p++)
        if (*p < 0x20 || *p > 0x7e)
            return;
    MHD_add_response_header(resp, name, v);
}

static void copy_header(struct MHD_Response *resp, natsMsg *m, const char *name)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, name, &v) == NATS_OK)
        add_safe_header(resp, name, v);
}

/* The HTTP status for an error code a worker or NATS gave. */
static int status_for_code(int code)
{
    switch (code) {
    case MEME_E_BAD_JSON:
    case MEME_E_BAD_REQUEST:
    case MEME_E_MISSING_PROMPT:
    case MEME_E_PROMPT_TOO_LONG:
    case MEME_E_INVALID_UTF8:
    case MEME_E_UNKNOWN_TEMPLATE:
    case MEME_E_UNKNOWN_ENGINE:
    case MEME_E_REPLY_NOT_ALLOWED:
        return 400;
    case MEME_E_ID_CONFLICT:
        return 409;
    case MEME_E_NOT_FOUND:
        return 404;
    case MEME_E_UNREACHABLE:
    case MEME_E_NATS:
    case MEME_E_SHUTTING_DOWN:
    case MEME_E_QUEUE_FULL:
        return 503;
    case MEME_E_TIMEOUT:
        return 504;
    default:
        return 502;
    }
}

/* Sends an image: from a worker's private reply (m, whose metadata headers
 * are passed on) or from the results bucket (meta). */
static enum MHD_Result respond_image(struct MHD_Connection *conn, struct gw_req *st,
                                     const uint8_t *data, size_t len, const char *id, natsMsg *m,
                                     const struct results_meta *meta, const char *prompt)
{
    int fmt = data ? image_sniff(data, len) : -1;
    if (fmt < 0)
        return respond_error(conn, st, 502, id, MEME_E_IMAGE,
                             "the stored or returned meme is not a PNG or JPEG image (%zu bytes)",
                             len);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            image_content_type((enum image_format)fmt));
    /* A stored result never changes under its id; a fresh one is the
     * requester's alone. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
                            meta ? "private, max-age=3600, immutable" : "no-store");
    MHD_add_response_header(resp, PROTO_H_ID, id);
    char v[PROTO_ID_MAX + 32];
    snprintf(v, sizeof(v), "/api/v1/memes/%s", id);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, v);
    /* A saved file is named after its prompt; ?download=1 asks for a save. */
    const char *dl = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "download");
    char *cd = gateway_content_disposition(prompt, id, fmt == IMAGE_JPEG ? "jpg" : "png",
                                           dl && strcmp(dl, "0") != 0);
    MHD_add_response_header(resp, "Content-Disposition", cd);
    free(cd);
    if (m) {
        static const char *const pass[] = {PROTO_H_WIDTH,    PROTO_H_HEIGHT, PROTO_H_ENGINE,
                                           PROTO_H_TEMPLATE, PROTO_H_CACHE,  PROTO_H_WORKER,
                                           PROTO_H_QUEUE_MS, PROTO_H_GEN_MS};
        for (size_t i = 0; i < sizeof(pass) / sizeof(pass[0]); i++)
            copy_header(resp, m, pass[i]);
    }
    if (meta) {
        snprintf(v, sizeof(v), "%d", meta->width);
        MHD_add_response_header(resp, PROTO_H_WIDTH, v);
        snprintf(v, sizeof(v), "%d", meta->height);
        MHD_add_response_header(resp, PROTO_H_HEIGHT, v);
        add_safe_header(resp, PROTO_H_TEMPLATE, meta->template_name);
        add_safe_header(resp, PROTO_H_ENGINE, meta->engine);
        add_safe_header(resp, PROTO_H_WORKER, meta->worker);
    }
    return respond(conn, st, 200, resp);
}

/* Turns a worker's error reply into an HTTP error with the worker's JSON. */
static enum MHD_Result respond_worker_error(struct MHD_Connection *conn, struct gw_req *st,
                                            natsMsg *m, const char *id)
{
    int code = MEME_E_INTERNAL;
    char *message = NULL;
    if (proto_error_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &code, &message) <
        0)
        return respond_error(conn, st, 502, id, MEME_E_INTERNAL,
                             "the worker sent an error reply that could not be read");
    /* Re-encoded rather than passed through: the message came over the
     * network and is stripped of control sequences first. */
    char *safe = term_sanitize_dup(message);
    enum MHD_Result r = respond_error(conn, st, status_for_code(code), id, code, "%s", safe);
    free(safe);
    free(message);
    return r;
}

static enum MHD_Result post_meme(struct MHD_Connection *conn, struct gateway *gw, struct gw_req *st)
{
    struct proto_request req;
    struct meme_err err = {0};
    natsSubscription *sub = NULL;
    natsInbox *inbox = NULL;
    natsMsg *reply = NULL;
    enum MHD_Result r;

    proto_request_init(&req);
    if (st->too_big) {
        r = respond_error(conn, st, 413, NULL, MEME_E_BAD_REQUEST,
                          "the request body is over %d bytes", GW_BODY_MAX);
        goto out;
    }
    if (proto_request_parse(st->body.data ? (const char *)st->body.data : "", st->body.len, &req,
                            &err) < 0) {
        r = respond_error(conn, st, 400, req.id[0] ? req.id : NULL, err.code, "%s", err.msg);
        goto out;
    }
    struct mq_conn *mq = connected(gw);
    if (!mq) {
        r = respond_unreachable(conn, gw, st, req.id);
        goto out;
    }
    /* The private reply subject exists before the request does. */
    if (natsInbox_Create(&inbox) != NATS_OK ||
        natsConnection_SubscribeSync(&sub, mq->nc, inbox) != NATS_OK) {
        r = respond_error(conn, st, 503, req.id, MEME_E_NATS, "cannot subscribe for the reply: %s",
                          nats_GetLastError(NULL));
        goto out;
    }
    free(req.reply);
    req.reply = xstrdup(inbox);
    req.progress = true;
    gateway_progress_begin(gw->progress, req.id);
    int prc = mq_publish_request(mq, &req, 5000, &err);
    if (prc == MQ_DUPLICATE) {
        r = respond_error(conn, st, 409, req.id, MEME_E_BAD_REQUEST,
                          "a request with id \"%s\" was already submitted; fetch it with GET "
                          "/api/v1/memes/%s or send a new id",
                          req.id, req.id);
        goto out;
    }
    if (prc < 0) {
        if (prc == MEME_E_NOT_FOUND)
            atomic_store(&gw->need_check, true); /* recreate the stream now */
        r = respond_error(conn, st, 503, req.id, prc == MEME_E_NOT_FOUND ? MEME_E_NATS : prc, "%s",
                          err.msg);
        goto out;
    }
    double deadline = st->t0 + gw->cfg.timeout_s;
    for (;;) {
        double left = deadline - clock_now_s();
        if (left <= 0) {
            r = respond_error(conn, st, 504, req.id, MEME_E_TIMEOUT,
                              "no meme within %.0f s; it stays queued and can be fetched later "
                              "with GET /api/v1/memes/%s",
                              gw->cfg.timeout_s, req.id);
            goto out;
        }
        if (atomic_load(&gw->aborting)) {
            r = respond_error(conn, st, 503, req.id, MEME_E_SHUTTING_DOWN,
                              "the gateway is stopping; the request stays queued and can be "
                              "fetched later with GET /api/v1/memes/%s",
                              req.id);
            goto out;
        }
        int64_t wait_ms = (int64_t)(left * 1000) + 1;
        if (wait_ms > GW_WAIT_SLICE)
            wait_ms = GW_WAIT_SLICE;
        natsStatus s = natsSubscription_NextMsg(&reply, sub, wait_ms);
        if (s == NATS_OK && gateway_progress_update(gw->progress, req.id, reply)) {
            natsMsg_Destroy(reply);
            reply = NULL;
            continue;
        }
        if (s == NATS_OK)
            break;
        if (s != NATS_TIMEOUT) {
            r = respond_error(conn, st, 503, req.id, MEME_E_UNREACHABLE,
                              "lost NATS while waiting: %s; the request stays queued and can be "
                              "fetched later with GET /api/v1/memes/%s",
                              natsStatus_GetText(s), req.id);
            goto out;
        }
    }
    const char *status = NULL;
    natsMsgHeader_Get(reply, PROTO_H_STATUS, &status);
    if (!status || strcmp(status, "ok") != 0)
        r = respond_worker_error(conn, st, reply, req.id);
    else
        r = respond_image(conn, st, (const uint8_t *)natsMsg_GetData(reply),
                          (size_t)natsMsg_GetDataLength(reply), req.id, reply, NULL, req.prompt);
out:
    gateway_progress_end(gw->progress, req.id);
    natsMsg_Destroy(reply);
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    natsInbox_Destroy(inbox);
    proto_request_release(&req);
    return r;
}

/* The results bucket, bound on first use and kept (binding costs a round
 * trip). NULL while the bucket does not exist: no worker has stored a
 * result yet. */
static kvStore *results_bucket(struct gateway *gw, struct mq_conn *mq, struct meme_err *err)
{
    pthread_mutex_lock(&gw->kv_lock);
    kvStore *kv = gw->kv;
    if (!kv && results_open(mq->js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, err) == 0)
        gw->kv = kv;
    pthread_mutex_unlock(&gw->kv_lock);
    return kv;
}

/* GET /api/v1/memes/{id}: the image (or the stored failure) from the
 * results bucket, in the layout lib/mq/results.h describes. */
static enum MHD_Result get_meme(struct MHD_Connection *conn, struct gateway *gw, struct gw_req *st,
                                const char *id)
{
    struct meme_err err = {0};
    struct results_meta meta;
    uint8_t *data = NULL;
    size_t len = 0;
    if (!proto_id_valid(id))
        return respond_error(conn, st, 400, NULL, MEME_E_BAD_REQUEST,
                             "a meme id is 1 to %d of A-Z a-z 0-9 _ : -", PROTO_ID_MAX);
    struct mq_conn *mq = connected(gw);
    if (!mq)
        return respond_unreachable(conn, gw, st, id);
    kvStore *kv = results_bucket(gw, mq, &err);
    int rc = kv ? results_get(kv, id, &meta, &data, &len, &err) : err.code;
    enum MHD_Result r;
    if (rc == MEME_E_NOT_FOUND) {
        r = respond_error(conn, st, 404, id, MEME_E_NOT_FOUND,
                          "no meme with id \"%s\" (results are kept for %d minutes)", id,
                          PROTO_RESULTS_TTL_S / 60);
    } else if (rc < 0) {
        r = respond_error(conn, st, 503, id, rc, "cannot read the results bucket: %s", err.msg);
    } else if (!meta.ok) {
        char *safe = term_sanitize_dup(meta.message);
        int code = meme_code_from_name(meta.code);
        r = respond_error(conn, st, status_for_code(code), id, code, "%s", safe);
        free(safe);
    } else {
        r = respond_image(conn, st, data, len, id, NULL, &meta, meta.prompt);
    }
    free(data);
    return r;
}

/* GET /api/v1/memes/{id}/status: for a meme a POST here waits for, the
 * latest progress (queued, working, retrying and why); for a finished one,
 * done or failed from the results bucket; 404 otherwise. */
static enum MHD_Result get_status(struct MHD_Connection *conn, struct gateway *gw,
                                  struct gw_req *st, const char *id)
{
    struct buf b = BUF_INIT;
    if (!proto_id_valid(id))
        return respond_error(conn, st, 400, NULL, MEME_E_BAD_REQUEST,
                             "a meme id is 1 to %d of A-Z a-z 0-9 _ : -", PROTO_ID_MAX);
    if (!gateway_progress_json(gw->progress, id, &b)) {
        struct mq_conn *mq = connected(gw);
        if (!mq)
            return respond_unreachable(conn, gw, st, id);
        struct meme_err err = {0};
        struct results_meta meta;
        kvStore *kv = results_bucket(gw, mq, &err);
        int rc = kv ? results_get_meta(kv, id, &meta, &err) : err.code;
        if (rc == MEME_E_NOT_FOUND)
            return respond_error(conn, st, 404, id, MEME_E_NOT_FOUND,
                                 "no meme with id \"%s\" is waited for here or kept", id);
        if (rc < 0)
            return respond_error(conn, st, 503, id, rc, "cannot read the results bucket: %s",
                                 err.msg);
        json_t *o = json_object();
        json_object_set_new(o, "id", json_string(id));
        json_object_set_new(o, "state", json_string(meta.ok ? "done" : "failed"));
        if (!meta.ok) {
            char *safe = term_sanitize_dup(meta.message);
            json_object_set_new(o, "code", json_string(meta.code));
            json_object_set_new(o, "message", json_string(safe));
            free(safe);
        }
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        buf_puts(&b, s);
        buf_putc(&b, '\n');
        free(s);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return respond(conn, st, 200, resp);
}

static enum MHD_Result send_asset(struct MHD_Connection *conn, struct gw_req *st,
                                  const struct gateway_asset *a)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    gateway_page_headers(resp, a->type);
    return respond(conn, st, 200, resp);
}

static enum MHD_Result send_html(struct MHD_Connection *conn, struct gw_req *st, int status,
                                 char *html)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(html), html, MHD_RESPMEM_MUST_FREE);
    gateway_page_headers(resp, "text/html; charset=utf-8");
    return respond(conn, st, status, resp);
}

/* GET /api/v1/memes?limit=N: the gallery's history from the results bucket. */
static enum MHD_Result get_recent(struct MHD_Connection *conn, struct gateway *gw,
                                  struct gw_req *st)
{
    struct meme_err err = {0};
    long limit = 24;
    const char *l = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (l) {
        char *end;
        limit = strtol(l, &end, 10);
        if (end == l || *end || limit < 1 || limit > 100)
            return respond_error(conn, st, 400, NULL, MEME_E_BAD_REQUEST,
                                 "limit must be a whole number from 1 to 100");
    }
    struct mq_conn *mq = connected(gw);
    if (!mq)
        return respond_unreachable(conn, gw, st, NULL);
    char *json = gateway_recent_json(mq, (int)limit, &err);
    if (!json) {
        log_warn("msg=\"cannot list recent memes\" error=\"%s\"", err.msg);
        return respond_error(conn, st, 503, NULL, err.code,
                             "the list of recent memes cannot be read now; retry in a few "
                             "seconds");
    }
    struct buf b = BUF_INIT;
    buf_puts(&b, json);
    buf_putc(&b, '\n');
    free(json);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return respond(conn, st, 200, resp);
}

/* GET /api/v1/events: completions as they happen, for every visitor. */
static enum MHD_Result get_events(struct MHD_Connection *conn, struct gateway *gw,
                                  struct gw_req *st)
{
    struct meme_err err = {0};
    struct mq_conn *mq = connected(gw);
    if (!mq)
        return respond_unreachable(conn, gw, st, NULL);
    struct MHD_Response *resp = gateway_events_response(gw, mq, &err);
    if (!resp) {
        log_warn("msg=\"cannot stream events\" error=\"%s\"", err.msg);
        return respond_error(conn, st, 503, NULL, err.code,
                             "live updates are not available now; retry in a few seconds");
    }
    return respond(conn, st, 200, resp);
}

/* GET /m/{id}: a meme's own page. */
static enum MHD_Result get_permalink(struct MHD_Connection *conn, struct gateway *gw,
                                     struct gw_req *st, const char *id)
{
    struct meme_err err = {0};
    if (!proto_id_valid(id))
        return send_html(
            conn, st, 404,
            gateway_missing_html("No such meme", "This address does not name a meme."));
    struct mq_conn *mq = connected(gw);
    if (!mq)
        return send_html(conn, st, 503,
                         gateway_missing_html("Not available right now",
                                              "The meme service is starting or busy; reload "
                                              "this page in a few seconds."));
    struct results_meta meta;
    kvStore *kv = results_bucket(gw, mq, &err);
    int rc = kv ? results_get_meta(kv, id, &meta, &err) : err.code;
    if (rc == MEME_E_NOT_FOUND || (rc == 0 && !meta.ok)) {
        char msg[160];
        snprintf(msg, sizeof(msg),
                 rc == 0 ? "This meme could not be made. Try another prompt."
                         : "This meme is gone or was never made: memes are kept for %d minutes.",
                 PROTO_RESULTS_TTL_S / 60);
        return send_html(conn, st, 404, gateway_missing_html("No such meme", msg));
    }
    if (rc < 0) {
        log_warn("msg=\"cannot read a result\" error=\"%s\"", err.msg);
        return send_html(conn, st, 503,
                         gateway_missing_html("Not available right now",
                                              "The meme cannot be read now; reload this page "
                                              "in a few seconds."));
    }
    char origin[300];
    gateway_origin(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
                   MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Forwarded-Proto"), origin,
                   sizeof(origin));
    return send_html(conn, st, 200, gateway_permalink_html(id, &meta, origin));
}

static enum MHD_Result get_metrics(struct MHD_Connection *conn, struct gateway *gw,
                                   struct gw_req *st)
{
    struct buf b = BUF_INIT;
    gateway_metrics_render(gw, &b);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            "text/plain; version=0.0.4; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return respond(conn, st, 200, resp);
}

static enum MHD_Result get_api_health(struct MHD_Connection *conn, struct gateway *gw,
                                      struct gw_req *st)
{
    bool up = connected(gw) != NULL;
    char body[256];
    int n = snprintf(body, sizeof(body),
                     "{\"status\":\"%s\",\"nats\":\"%s\",\"version\":\"%s\",\"gateway\":\"%s\"}\n",
                     up ? "ok" : "degraded", up ? "connected" : "disconnected", MEME_VERSION,
                     gw->cfg.id);
    return respond_copy(conn, st, 200, "application/json", body, (size_t)n);
}

static enum MHD_Result get_readyz(struct MHD_Connection *conn, struct gateway *gw,
                                  struct gw_req *st)
{
    char why[200], body[220];
    if (gateway_ready(gw, why, sizeof(why)))
        return respond_copy(conn, st, 200, "text/plain; charset=utf-8", "ok\n", 3);
    int n = snprintf(body, sizeof(body), "%s\n", why);
    return respond_copy(conn, st, 503, "text/plain; charset=utf-8", body, (size_t)n);
}

static enum gw_route route_of(const char *url)
{
    if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
        return GW_ROUTE_PAGE;
    if (strcmp(url, "/api/v1/memes") == 0)
        return GW_ROUTE_MEMES;
    if (strncmp(url, "/api/v1/memes/", 14) == 0) {
        size_t n = strlen(url);
        return n > 21 && strcmp(url + n - 7, "/status") == 0 ? GW_ROUTE_MEME_STATUS
                                                             : GW_ROUTE_MEME_BY_ID;
    }
    if (strcmp(url, "/healthz") == 0)
        return GW_ROUTE_HEALTHZ;
    if (strcmp(url, "/readyz") == 0)
        return GW_ROUTE_READYZ;
    if (strcmp(url, "/metrics") == 0)
        return GW_ROUTE_METRICS;
    if (strcmp(url, "/api/health") == 0)
        return GW_ROUTE_API_HEALTH;
    if (strcmp(url, "/api/v1/events") == 0)
        return GW_ROUTE_EVENTS;
    if (strcmp(url, "/api/v1/templates") == 0)
        return GW_ROUTE_TEMPLATES;
    if (strncmp(url, "/m/", 3) == 0)
        return GW_ROUTE_PERMALINK;
    if (strncmp(url, "/static/", 8) == 0)
        return GW_ROUTE_STATIC;
    return GW_ROUTE_OTHER;
}

static enum MHD_Result method_not_allowed(struct MHD_Connection *conn, struct gw_req *st,
                                          const char *allow)
{
    char *json = proto_error_json(NULL, MEME_E_BAD_REQUEST, "method not allowed here", wall_s());
    char *body = xasprintf("%s\n", json);
    free(json);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return respond(conn, st, 405, resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct gateway *gw = cls;
    struct gw_req *st = *con_cls;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    (void)version;

    if (!st) {
        st = xcalloc(1, sizeof(*st));
        st->t0 = clock_now_s();
        st->route = route_of(url);
        *con_cls = st;
        atomic_fetch_add(&gw->in_flight, 1);
        /* The guard already answered a Content-Length over GW_BODY_MAX. */
        if (st->route == GW_ROUTE_MEMES && strcmp(method, "POST") == 0) {
            const char *ct =
                MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
            if (!gateway_json_body_type(ct)) {
                char *safe = term_sanitize_dup(ct ? ct : "none");
                enum MHD_Result r = respond_error(
                    conn, st, 415, NULL, MEME_E_BAD_REQUEST,
                    "the request body must be JSON sent as Content-Type: application/json (not "
                    "\"%.80s\")",
                    safe);
                free(safe);
                return r;
            }
            return MHD_YES; /* the body comes in the next calls */
        }
    }
    if (st->status) {
        *upload_data_size = 0; /* answered early (415): the rest of the body is dropped */
        return MHD_YES;
    }

    switch (st->route) {
    case GW_ROUTE_MEMES:
        if (get)
            return get_recent(conn, gw, st);
        if (strcmp(method, "POST") != 0)
            return method_not_allowed(conn, st, "GET, HEAD, POST");
        if (*upload_data_size) {
            /* A body trickled in to hold the connection: libmicrohttpd's
             * timeout only counts silence, so the handler counts the total.
             * Closing is the only answer left in the middle of a body. */
            if (clock_now_s() - st->t0 > gw->cfg.body_timeout_s) {
                log_warn("msg=\"http: closing a connection whose body took over %g s\"",
                         gw->cfg.body_timeout_s);
                gateway_metrics_refused("body_timeout");
                return MHD_NO;
            }
            if (st->body.len + *upload_data_size > GW_BODY_MAX)
                st->too_big = true;
            else
                buf_append(&st->body, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        return post_meme(conn, gw, st);
    case GW_ROUTE_MEME_BY_ID:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_meme(conn, gw, st, url + 14);
    case GW_ROUTE_MEME_STATUS: {
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        char id[PROTO_ID_MAX + 2];
        size_t n = strlen(url + 14) - 7;
        snprintf(id, sizeof(id), "%.*s", (int)(n < sizeof(id) - 1 ? n : sizeof(id) - 1), url + 14);
        return get_status(conn, gw, st, id);
    }
    case GW_ROUTE_PAGE:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return send_asset(conn, st, gateway_asset_find("index.html"));
    case GW_ROUTE_STATIC: {
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        const struct gateway_asset *a = gateway_asset_find(url + 8);
        if (!a || strcmp(url + 8, "index.html") == 0)
            return respond_error(conn, st, 404, NULL, MEME_E_NOT_FOUND, "no such file");
        return send_asset(conn, st, a);
    }
    case GW_ROUTE_PERMALINK:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_permalink(conn, gw, st, url + 3);
    case GW_ROUTE_EVENTS:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_events(conn, gw, st);
    case GW_ROUTE_TEMPLATES:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return respond(conn, st, 200, gateway_templates_response());
    case GW_ROUTE_HEALTHZ:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return respond_copy(conn, st, 200, "text/plain; charset=utf-8", "ok\n", 3);
    case GW_ROUTE_READYZ:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_readyz(conn, gw, st);
    case GW_ROUTE_METRICS:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_metrics(conn, gw, st);
    case GW_ROUTE_API_HEALTH:
        if (!get)
            return method_not_allowed(conn, st, "GET, HEAD");
        return get_api_health(conn, gw, st);
    default:
        if (get && strcmp(url, "/favicon.ico") == 0) /* browsers ask; there is none */
            return respond_copy(conn, st, 204, "text/plain", "", 0);
        return respond_error(conn, st, 404, NULL, MEME_E_NOT_FOUND,
                             "no such page; the API is POST /api/v1/memes and GET "
                             "/api/v1/memes/{id}");
    }
}

/* The probe port: liveness, readiness and metrics only. */
static enum MHD_Result on_probe_request(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version,
                                        const char *upload_data, size_t *upload_data_size,
                                        void **con_cls)
{
    switch (route_of(url)) {
    case GW_ROUTE_HEALTHZ:
    case GW_ROUTE_READYZ:
    case GW_ROUTE_METRICS:
    case GW_ROUTE_API_HEALTH:
        break;
    default:
        url = "/no-such-page"; /* answered 404 below, counted as "other" */
        break;
    }
    return on_request(cls, conn, url, method, version, upload_data, upload_data_size, con_cls);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct gateway *gw = cls;
    struct gw_req *st = *con_cls;
    (void)conn;
    if (!st)
        return;
    double took = clock_now_s() - st->t0;
    if (st->status)
        gateway_metrics_observe(st->route, st->status, took);
    if (gw->cfg.verbose)
        log_info("msg=\"http\" route=\"%s\" status=%d ms=%.2f%s", gateway_route_name(st->route),
                 st->status, took * 1000.0,
                 toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " aborted=true");
    atomic_fetch_sub(&gw->in_flight, 1);
    buf_release(&st->body);
    free(st);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    line[strcspn(line, "\r\n")] = '\0';
    (void)cls;
    log_warn("msg=\"http: %s\"", line);
}

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" into a socket address. */
static int parse_listen(const char *spec, struct sockaddr_storage *ss, char *err, size_t errsz)
{
    char host[256] = "";
    const char *port;
    if (spec[0] == '[') {
        const char *close = strchr(spec, ']');
        if (!close || close[1] != ':' || (size_t)(close - spec - 1) >= sizeof(host))
            goto bad;
        memcpy(host, spec + 1, (size_t)(close - spec - 1));
        host[close - spec - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(spec, ':');
        if (!colon || (size_t)(colon - spec) >= sizeof(host))
            goto bad;
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        goto bad;
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0) {
        snprintf(err, errsz, "cannot resolve listen address \"%s\": %s", spec, gai_strerror(g));
        return -1;
    }
    /* No host: IPv4 any, like the default 0.0.0.0:8080. */
    struct addrinfo *pick = res;
    for (struct addrinfo *a = res; a && !host[0]; a = a->ai_next)
        if (a->ai_family == AF_INET) {
            pick = a;
            break;
        }
    memcpy(ss, pick->ai_addr, pick->ai_addrlen);
    freeaddrinfo(res);
    return 0;
bad:
    snprintf(err, errsz, "listen address \"%s\" is not HOST:PORT, [IPV6]:PORT or :PORT", spec);
    return -1;
}

struct gateway_http {
    struct MHD_Daemon *api, *probe;
    struct gateway_guard *guard;
    int port, probe_port;
};

/* A listening socket on spec; its port in *port. -1 with a message. */
static int listen_on(const char *spec, int *port, char *err, size_t errsz)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (parse_listen(spec, &ss, err, errsz) < 0)
        return -1;
    socklen_t len =
        ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errsz, "cannot listen on %s: %s (in use, or not an address of this machine?)",
                 spec, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof(bound);
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)&bound)->sin_port);
    return fd;
}

/* A daemon without a listening socket of its own: the guard feeds it. */
static struct MHD_Daemon *daemon_start(struct gateway *gw, MHD_AccessHandlerCallback handler,
                                       unsigned max_conns)
{
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET;
    /* The logger goes first, so MHD reports option errors through it too.
     * The connection timeout is libmicrohttpd's idle timeout: silence while
     * a body or a response is in transfer. */
    return MHD_start_daemon(flags, 0, NULL, NULL, handler, gw, MHD_OPTION_EXTERNAL_LOGGER, mhd_log,
                            NULL, MHD_OPTION_CONNECTION_LIMIT, max_conns,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, gw, MHD_OPTION_END);
}

struct gateway_http *gateway_http_start(struct gateway *gw, char *err, size_t errsz)
{
    struct gateway_http *h = xcalloc(1, sizeof(*h));
    int api_fd = -1, probe_fd = -1;
    h->probe_port = -1;
    /* The guard holds a descriptor per client still sending its head: take
     * every descriptor the hard limit allows, and size the table to it. */
    struct rlimit rl;
    size_t cap = 4096;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        long spare = (long)(rl.rlim_cur > 1 << 20 ? 1 << 20 : rl.rlim_cur) -
                     (long)gw->cfg.max_conns - GW_PROBE_MAX_CONNS - 64;
        cap = spare < 64 ? 64 : spare > 4096 ? 4096 : (size_t)spare;
    }
    if ((api_fd = listen_on(gw->cfg.listen, &h->port, err, errsz)) < 0)
        goto fail;
    if (gw->cfg.probe_addr &&
        (probe_fd = listen_on(gw->cfg.probe_addr, &h->probe_port, err, errsz)) < 0)
        goto fail;
    h->api = daemon_start(gw, on_request, gw->cfg.max_conns);
    if (gw->cfg.probe_addr)
        h->probe = daemon_start(gw, on_probe_request, GW_PROBE_MAX_CONNS);
    if (!h->api || (gw->cfg.probe_addr && !h->probe)) {
        snprintf(err, errsz, "cannot start the HTTP daemon");
        goto fail;
    }
    h->guard = gateway_guard_new(gw->cfg.header_timeout_s, GW_BODY_MAX, cap);
    gateway_guard_listen(h->guard, api_fd, h->api, gw->cfg.max_conns);
    api_fd = -1;
    if (h->probe) {
        gateway_guard_listen(h->guard, probe_fd, h->probe, GW_PROBE_MAX_CONNS);
        probe_fd = -1;
    }
    if (gateway_guard_start(h->guard) < 0) {
        snprintf(err, errsz, "cannot start the connection guard: %s", strerror(errno));
        goto fail;
    }
    return h;
fail:
    if (api_fd >= 0)
        close(api_fd);
    if (probe_fd >= 0)
        close(probe_fd);
    gateway_http_stop(h);
    return NULL;
}

int gateway_http_port(const struct gateway_http *h)
{
    return h->port;
}

int gateway_http_probe_port(const struct gateway_http *h)
{
    return h->probe_port;
}

void gateway_http_quiesce(struct gateway_http *h)
{
    gateway_guard_quiesce(h->guard);
}

void gateway_http_stop(struct gateway_http *h)
{
    if (!h)
        return;
    gateway_guard_free(h->guard); /* no new connections reach the daemons */
    if (h->api)
        MHD_stop_daemon(h->api);
    if (h->probe)
        MHD_stop_daemon(h->probe);
    free(h);
}
