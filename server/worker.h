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
#include "render/render.h"
#include "mq/results.h"

#define WORKER_HEARTBEAT_MS 5000

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
    int hf_timeout_ms; /* deadline for one Hugging Face request, retries included */
    bool store_results;
    char id[128];
    int verbose;
};

struct worker;

/* One in-flight job: the message and when it was fetched. */
struct worker_job {
    natsMsg *msg;
    double fetched_ms; /* monotonic */
};

/* Context an engine gets for one job. */
struct engine_call {
    struct worker *w;
    struct worker_slot *slot;
    natsMsg *msg;
    double last_progress_ms;
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
    struct metric_family *requests;      /* outcome */
    struct metric_family *errors;        /* code */
    struct metric_family *cache;         /* result: hit, miss, error */
    struct metric_family *redeliveries;  /* counter */
    struct metric_family *in_flight;     /* gauge */
    struct metric_family *concurrency;   /* gauge */
    struct metric_family *redis_up;      /* gauge */
    struct metric_family *nats_up;       /* gauge */
    struct metric_family *gen_seconds;   /* histogram, engine */
    struct metric_family *e2e_seconds;   /* histogram */
    struct metric_family *queue_seconds; /* histogram */
    struct metric_family *info;          /* gauge, version, worker */
};

struct worker {
    struct worker_config cfg;
    struct mq_conn mq;
    natsSubscription *sub;
    kvStore *results; /* NULL when results are not stored */
    int64_t max_payload;
    int keepalive_ms; /* in-progress ack interval: a third of the consumer's ack wait, <= 5 s */
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

    atomic_uint_fast64_t done, failed, retried, cache_hits, cache_misses;
    atomic_int redis_down; /* 1 after an outage was logged, until Redis answers again */
    int64_t started_ms;
};

extern volatile sig_atomic_t worker_stop_requested;

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
/* Keeps a long job's message alive (JetStream in-progress ack), at most every few
 * seconds; returns false when the job should give up (shutting down). */
bool worker_engine_keepalive(struct engine_call *call);

/* HTTP endpoints (worker_http.c). 0 or -1 with a message logged. */
int worker_http_start(struct worker *w);
void worker_http_stop(struct worker *w);

#endif
