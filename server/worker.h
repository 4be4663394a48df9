/*
 * meme-worker's internals, shared by its files: worker.c (configuration,
 * the fetch loop, the job slots, shutdown), worker_job.c (one request from
 * message to ack), worker_engine.c (the engines behind one interface) and
 * worker_http.c (/metrics, /healthz, /readyz).
 */
#ifndef MEME_WORKER_H
#define MEME_WORKER_H

#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mq/cache.h"
#include "render/hf.h"
#include "err.h"
#include "metrics.h"
#include "mq/mq.h"
#include "mq/proto.h"
#include "render/render.h"
#include "mq/results.h"

#define WORKER_HEARTBEAT_MS 5000
/* How often the worker checks that the stream, consumer and bucket exist
 * (and Redis answers) while nothing tells it sooner. */
#define WORKER_CHECK_MS 3000

struct worker_config {
    const char *nats_url;
    const char *stream;
    const char *consumer;
    const char *font;
    const char *templates;
    const char *redis_url;     /* NULL = no cache */
    const char *http_addr;     /* NULL = no HTTP endpoints */
    const char *engine;        /* default engine */
    const char *hf_url;        /* NULL = the Hugging Face router */
    const char *hf_model;      /* quality model */
    const char *hf_fast_model; /* fast_mode or small images */
    char *hf_token;            /* owned; NULL = the hf engine is off */
    int concurrency;
    int drain_timeout_ms;
    int cache_ttl_s;
    int hf_timeout_ms;        /* deadline for one Hugging Face request, retries included */
    int deadline_ms;          /* one request, retries and redeliveries included */
    int deadline_fast_ms;     /* the same for fast_mode requests */
    const char *reply_prefix; /* replies also allowed under it; NULL: _INBOX. only */
    int stall_timeout_ms;     /* /healthz fails after this long without a working fetch */
    bool store_results;
    char id[128];
    int verbose;
};

struct worker;

/* One in-flight job: the message, when it was fetched, and its lease. */
struct worker_job {
    natsMsg *msg;
    double fetched_ms; /* monotonic */
    int lease;         /* index in worker.leases, -1 when none */
};

/* A job's hold on its message (worker_lease.c); under worker.lease_lock. */
struct worker_lease {
    bool used;
    bool quiet; /* answering or settled: no more keepalives nor progress */
    bool lost;  /* a keepalive came too late: another worker may have it now */
    char ack_subject[256];
    double last_keepalive_ms; /* monotonic */
    double next_progress_ms;
    char *reply; /* owned; progress goes here when the client asked for it */
    char id[PROTO_ID_MAX + 1];
    int attempt;
    int64_t stored_ms; /* wall clock */
};

/* Context an engine gets for one job. */
struct engine_call {
    struct worker *w;
    struct worker_slot *slot;
    natsMsg *msg;
    int lease;
    int deadline_ms; /* left of the request's deadline; 0 = the engine's own */
};

/* A job slot: a thread with its own renderer and cache connection. */
struct worker_slot {
    struct worker *w;
    int index;
    pthread_t thread;
    struct renderer *renderer;
    struct cache *cache;
    struct hf_client *hf;           /* NULL when the hf engine is off */
    struct results_writer *results; /* NULL when results are not stored */
};

struct worker_metrics {
    struct metrics *reg;
    struct metric_family *requests;        /* outcome */
    struct metric_family *errors;          /* code */
    struct metric_family *cache;           /* result: hit, miss, error */
    struct metric_family *redeliveries;    /* counter */
    struct metric_family *in_flight;       /* gauge */
    struct metric_family *concurrency;     /* gauge */
    struct metric_family *redis_up;        /* gauge */
    struct metric_family *nats_up;         /* gauge */
    struct metric_family *gen_seconds;     /* histogram, engine */
    struct metric_family *e2e_seconds;     /* histogram */
    struct metric_family *queue_seconds;   /* histogram */
    struct metric_family *info;            /* gauge, version, worker */
    struct metric_family *replies_refused; /* counter: reply subjects that are not inboxes */
    struct metric_family *provisioned;     /* counter, object: stream, consumer, bucket */
};

struct worker {
    struct worker_config cfg;
    struct mq_conn mq;
    natsSubscription *sub;
    kvStore *results; /* NULL when results are not stored */
    int64_t max_payload;
    int64_t ack_wait_ms; /* the consumer's, as found at start */
    int keepalive_ms;    /* in-progress ack interval (worker_lease_init) */
    struct worker_metrics m;
    struct MHD_Daemon *http;

    struct worker_slot *slots;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* a job was queued, or stopping */
    pthread_cond_t freed;     /* a slot became free */
    struct worker_job *queue; /* ring of cfg.concurrency jobs fetched, not yet started */
    int qhead, qlen;
    int busy;            /* jobs being handled */
    bool stopping;       /* no more fetching; slots exit when the queue is empty */
    atomic_bool abandon; /* drain deadline passed: nak instead of starting, cancel waits */
    atomic_bool started; /* connected and subscribed: mq and sub may be read */

    /* Leases, one per job in flight (queued or running), and the ticker
     * thread that keeps them (worker_lease.c). */
    struct worker_lease *leases; /* cfg.concurrency */
    pthread_mutex_t lease_lock;
    pthread_cond_t ticker_wake;
    pthread_t ticker;
    bool ticker_running, ticker_stop;

    atomic_uint_fast64_t done, failed, retried, cache_hits, cache_misses;
    atomic_int redis_down; /* 1 after an outage was logged, until Redis answers again */
    int64_t started_ms;

    /* Lost state: a job that cannot store, or a reconnect, asks the fetch
     * loop to check (and recreate) the stream, consumer and bucket. */
    atomic_bool need_check;
    atomic_bool provisioned;             /* the last check found everything */
    _Atomic int64_t fetch_failing_since; /* monotonic ms; 0 while fetching works */
    struct cache *probe_cache;           /* the fetch loop's own Redis connection, for PING */
};

/* Set by the signal thread (worker.c), read by the main thread. */
extern atomic_int worker_stop_requested;

/* Handles one job from message to ack, nak or term (worker_job.c). */
void worker_handle(struct worker_slot *slot, struct worker_job *job);

/* Engines (worker_engine.c). */
struct engine_output {
    uint8_t *data; /* owned */
    size_t len;
    int width, height;
    enum image_format format;
    char template_name[64];
    char model[128]; /* engines with models: the one used */
};
struct engine_input {
    const char *prompt;
    const char *top, *bottom;
    const char *template_name;
    int size;
    enum image_format format;
    bool fast_mode;
    bool has_seed;
    uint64_t seed;
    bool captions; /* the client asked for caption text (top/bottom or "a | b") */
};
/* Is name an engine this worker can run? Fills why when not. */
bool worker_engine_available(struct worker *w, const char *name, char *why, size_t whysz);
/* The model an engine would use for in (for the cache key); "" for none. */
const char *worker_engine_model(struct worker *w, const char *engine,
                                const struct engine_input *in);
int worker_engine_run(struct engine_call *call, const char *engine, const struct engine_input *in,
                      struct engine_output *out, struct meme_err *err);
void engine_output_release(struct engine_output *out);
/* The names of the engines this worker runs, comma-separated (static). */
const char *worker_engine_list(struct worker *w);
/* Called by engines while they wait; false when the job should give up
 * (the drain deadline passed). The ticker keeps the message itself. */
bool worker_engine_keepalive(struct engine_call *call);

/* Leases (worker_lease.c). take: at fetch, -1 when the table is full;
 * follow: progress for this job goes to reply (NULL: none); lost: true once
 * a keepalive came too late; quiet: stop keepalives and progress (before
 * the answer); release: the job is settled. */
void worker_lease_init(struct worker *w, int64_t ack_wait_ms);
int worker_lease_take(struct worker *w, natsMsg *msg);
void worker_lease_follow(struct worker *w, int lease, const char *reply, const char *id,
                         int attempt, int64_t stored_ms);
bool worker_lease_lost(struct worker *w, int lease);
void worker_lease_quiet(struct worker *w, int lease);
void worker_lease_release(struct worker *w, int lease);
/* Sends p (id, worker and attempt filled in here) when the job is followed. */
void worker_lease_progress(struct worker *w, int lease, const struct proto_progress *p);
int worker_ticker_start(struct worker *w);
void worker_ticker_stop(struct worker *w);

/* HTTP endpoints (worker_http.c). 0 or -1 with a message logged. */
int worker_http_start(struct worker *w);
void worker_http_stop(struct worker *w);

#endif
