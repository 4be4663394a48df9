/*
 * meme-gateway: the HPA-scaled HTTP tier. It turns POST /api/v1/memes into a
 * JetStream request with a private reply inbox (the way memectl gen does),
 * serves finished memes from the results bucket, a small web page, health
 * probes and Prometheus metrics. Shared by server/gateway*.c only.
 */
#ifndef MEME_GATEWAY_H
#define MEME_GATEWAY_H

#include "mq/mq.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;
struct gateway_http;
struct gateway_guard;
struct MHD_Daemon;

#define GATEWAY_CHECK_MS 2000

struct gateway_config {
    const char *listen; /* "HOST:PORT", "[V6]:PORT" or ":PORT" */
    const char *nats_url;
    const char *stream;
    const char *consumer;
    double timeout_s;        /* deadline of one POST /api/v1/memes */
    double drain_s;          /* how long SIGTERM waits for requests in flight */
    double header_timeout_s; /* accept to the end of the request head */
    double body_timeout_s;   /* end of the head to the end of the body */
    unsigned max_conns;
    const char *probe_addr; /* a second port for probes and metrics, or NULL */
    /* NATS credentials besides the URL (environment only; never logged). */
    const char *nats_user, *nats_password, *nats_creds;
    char id[128];
    int verbose;
};

/* Routes, also the "route" label of the metrics. */
enum gw_route {
    GW_ROUTE_PAGE,
    GW_ROUTE_MEMES,
    GW_ROUTE_MEME_BY_ID,
    GW_ROUTE_MEME_STATUS,
    GW_ROUTE_HEALTHZ,
    GW_ROUTE_READYZ,
    GW_ROUTE_METRICS,
    GW_ROUTE_API_HEALTH,
    GW_ROUTE_EVENTS,    /* GET /api/v1/events: the live gallery */
    GW_ROUTE_TEMPLATES, /* GET /api/v1/templates */
    GW_ROUTE_PERMALINK, /* GET /m/{id} */
    GW_ROUTE_STATIC,    /* GET /static/{file} */
    GW_ROUTE_OTHER,
    GW_ROUTE_COUNT,
};

struct gateway {
    struct gateway_config cfg;
    /* Set once by the main thread when the first connect succeeds; nats.c
     * reconnects by itself after that, so it is never replaced. */
    _Atomic(struct mq_conn *) mq;
    atomic_bool stopping; /* SIGTERM seen: not ready, finish what is in flight */
    atomic_bool aborting; /* drain time is over: give up waiting on replies */
    atomic_int in_flight;
    /* Lost state: the main thread checks every GATEWAY_CHECK_MS (at once
     * when need_check is set) that the stream, consumer and bucket exist,
     * recreating what is missing; provisioned is what it last found. */
    atomic_bool need_check;
    atomic_bool provisioned;
    pthread_mutex_t kv_lock;
    kvStore *kv;                  /* the results bucket once bound (under kv_lock) */
    struct gw_progress *progress; /* what workers said about the POSTs waiting */
    int64_t started_s;
};

/* Connections the probe port serves at once (kubelet and Prometheus only). */
#define GW_PROBE_MAX_CONNS 32

/* Starts listening on cfg.listen (and cfg.probe_addr when set): the guard
 * and a libmicrohttpd daemon per port. Returns NULL with a message in err. */
struct gateway_http *gateway_http_start(struct gateway *gw, char *err, size_t errsz);
/* The port the API listens on (useful with ":0"); the probe port, or -1. */
int gateway_http_port(const struct gateway_http *h);
int gateway_http_probe_port(const struct gateway_http *h);
/* Stops accepting connections; requests in flight go on. */
void gateway_http_quiesce(struct gateway_http *h);
/* Stops everything and frees h; NULL does nothing. */
void gateway_http_stop(struct gateway_http *h);

/*
 * The accept-side guard (gateway_guard.c): owns the listening sockets,
 * holds each new connection without a thread until its request head is
 * complete and strict, answers slow, oversized or malformed heads itself,
 * and hands good connections to the listener's daemon. cap bounds the
 * connections waiting for their head (the oldest is dropped beyond it).
 */
#define GATEWAY_GUARD_LISTENERS 2
#define GATEWAY_GUARD_HEAD_MAX  8192
struct gateway_guard *gateway_guard_new(double header_timeout_s, size_t body_max, size_t cap);
/* Adds a listening socket (taken over) and the daemon its connections go to;
 * max_conns is the daemon's connection limit. Before gateway_guard_start. */
int gateway_guard_listen(struct gateway_guard *g, int listen_fd, struct MHD_Daemon *d,
                         unsigned max_conns);
int gateway_guard_start(struct gateway_guard *g);
/* Closes the listening sockets; heads already arriving are still handled. */
void gateway_guard_quiesce(struct gateway_guard *g);
/* Stops the guard, closing every connection still waiting; NULL does nothing. */
void gateway_guard_free(struct gateway_guard *g);
/* The end of the request head in buf (just past its empty line), or 0 when
 * it has not all arrived. */
size_t gateway_guard_head_end(const char *buf, size_t len);
/* Checks a complete request head: 0, or the HTTP status to answer (400,
 * 413) with the reason in *why (static text, valid until the next call). */
int gateway_guard_check(const char *head, size_t len, size_t body_max, const char **why);

/* NATS (gateway_nats.c). One connect attempt: on success the connection is
 * published in gw->mq and the stream and consumer are made when missing;
 * the first failure is logged (warned). */
bool gateway_nats_connect(struct gateway *gw, bool *warned);
/* Checks, and recreates when missing, the stream and consumer. */
void gateway_nats_check(struct gateway *gw, struct mq_conn *mq);
/* Ready to take memes: not stopping, connected, and the stream and consumer
 * were there at the last check. Fills why when not. */
bool gateway_ready(struct gateway *gw, char *why, size_t whysz);

/* Metrics (gateway_metrics.c): init before the HTTP daemon starts, free
 * after it stopped; observe from any thread. */
void gateway_metrics_init(void);
void gateway_metrics_free(void);
void gateway_metrics_observe(enum gw_route route, int status, double seconds);
/* A connection the guard answered or dropped itself: reason is one of
 * header_timeout, body_timeout, bad_request, too_large, limit, evicted. */
void gateway_metrics_refused(const char *reason);
/* Connections waiting for their request head now. */
void gateway_metrics_reading(int n);
void gateway_metrics_render(struct gateway *gw, struct buf *out);
const char *gateway_route_name(enum gw_route route);

/* Progress of the memes being waited for (gateway_progress.c): begin when
 * a POST publishes, update with each message on its inbox (true when it was
 * a progress message, not the answer), end when the POST returns. json:
 * {"id","state","message","waiting_ms",...} into out, false when id is not
 * waited for here. */
struct gw_progress;
struct gw_progress *gateway_progress_new(void);
void gateway_progress_free(struct gw_progress *p);
void gateway_progress_begin(struct gw_progress *p, const char *id);
void gateway_progress_end(struct gw_progress *p, const char *id);
bool gateway_progress_update(struct gw_progress *p, const char *id, natsMsg *m);
bool gateway_progress_json(struct gw_progress *p, const char *id, struct buf *out);

/* The web page's files, compiled in from server/page/ by scripts/embed-assets
 * (gateway_assets.c in the build directory); the list ends with name NULL. */
struct gateway_asset {
    const char *name; /* "index.html", "app.js", ... */
    const unsigned char *data;
    size_t len;
    const char *type; /* Content-Type */
};
extern const struct gateway_asset gateway_assets[];

struct results_meta;

struct MHD_Response;

/* Pages (gateway_page.c). Those returning char * return a new string. */
const struct gateway_asset *gateway_asset_find(const char *name);
/* The headers every page of the site carries: its own files only (a
 * Content-Security-Policy without inline script or frames), no sniffing. */
void gateway_page_headers(struct MHD_Response *resp, const char *type);
/* True for application/json (with or without parameters): a type no plain
 * cross-site HTML form can send without a CORS preflight. */
bool gateway_json_body_type(const char *content_type);
/* "http://host:port" (https behind a proxy that says so) when host is a
 * plain name or address, for the absolute addresses of preview tags; ""
 * otherwise. */
void gateway_origin(const char *host, const char *forwarded_proto, char *out, size_t outsz);
/* A meme's own page: the image, its details and preview tags; origin is
 * "http://host:port" for the absolute addresses preview tags need, or "". */
char *gateway_permalink_html(const char *id, const struct results_meta *meta, const char *origin);
/* A page that says what is missing, with a way back to the form. */
char *gateway_missing_html(const char *title, const char *message);
/* A Content-Disposition value whose file name comes from the prompt and
 * the id ("when-the-queue-hits-five-3f2a9c1b.png"); ext without the dot. */
char *gateway_content_disposition(const char *prompt, const char *id, const char *ext,
                                  bool attachment);

/* The gallery (gateway_gallery.c). */
/* {"memes":[...]}: the newest finished memes in the results bucket, newest
 * first, at most limit; NULL with err filled when NATS fails. */
char *gateway_recent_json(struct mq_conn *mq, int limit, struct meme_err *err);
/* A server-sent events stream of completions, until the gateway stops or
 * the client goes; NULL with err filled. */
struct MHD_Response *gateway_events_response(struct gateway *gw, struct mq_conn *mq,
                                             struct meme_err *err);
/* What the page's form offers: templates, sizes, formats, prompt limit (a
 * JSON response, made once). */
struct MHD_Response *gateway_templates_response(void);

#endif
