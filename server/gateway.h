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

struct gateway_config {
    const char *listen; /* "HOST:PORT", "[V6]:PORT" or ":PORT" */
    const char *nats_url;
    const char *stream;
    const char *consumer;
    double timeout_s; /* deadline of one POST /api/v1/memes */
    double drain_s;   /* how long SIGTERM waits for requests in flight */
    unsigned max_conns;
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
    pthread_mutex_t kv_lock;
    kvStore *kv;                  /* the results bucket once bound (under kv_lock) */
    struct gw_progress *progress; /* what workers said about the POSTs waiting */
    int64_t started_s;
};

/* Starts the HTTP daemon on cfg.listen. Returns NULL with a message in err. */
struct MHD_Daemon *gateway_http_start(struct gateway *gw, char *err, size_t errsz);
/* The port the daemon listens on (useful with ":0"). */
int gateway_http_port(struct MHD_Daemon *d);
/* Stops accepting connections; requests in flight go on. */
void gateway_http_quiesce(struct MHD_Daemon *d);

/* Metrics (gateway_metrics.c): init before the HTTP daemon starts, free
 * after it stopped; observe from any thread. */
void gateway_metrics_init(void);
void gateway_metrics_free(void);
void gateway_metrics_observe(enum gw_route route, int status, double seconds);
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

/* The web page served on GET / (gateway_page.c). */
extern const char gateway_page_html[];
extern const size_t gateway_page_len;

#endif
