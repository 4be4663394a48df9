/*
 * The dashboard's model: what the sources (NATS subscriptions, JetStream
 * consumer info, the Kubernetes API) have reported, kept apart from how it
 * is drawn. Sources update it under its lock; the view reads a consistent
 * copy. Text from the network is sanitized when it enters the model.
 */
#ifndef MEMECTL_TUI_MODEL_H
#define MEMECTL_TUI_MODEL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kube/kube_summary.h"

#define TUI_HISTORY 120 /* samples of lag and replicas (one per second) */
#define TUI_WORKERS 32
#define TUI_MEMES   64
#define TUI_SCALERS 16

struct tui_worker {
    char id[64];
    int in_flight;
    long long done, failed;
    double cache_hit_ratio;
    double last_seen; /* seconds, model clock */
};

enum tui_meme_state { MEME_QUEUED, MEME_DONE, MEME_FAILED };

struct tui_meme {
    char id[72];
    char prompt[128]; /* sanitized */
    enum tui_meme_state state;
    double latency_ms; /* end to end when known, else the worker's time */
    bool cache_hit;
    char worker[64];
    char code[32]; /* error code when failed */
    double when;   /* model clock */
    bool mine;     /* sent from this dashboard */
    /* While queued: what the worker last said (its progress messages). */
    char waiting[8]; /* "queued", "making" or "retry"; "" before any word */
    char note[128];  /* why it waits, sanitized ("HTTP 503 ... (attempt 1 of 5, next in 1.0 s)") */
};

struct tui_model {
    pthread_mutex_t lock;
    unsigned long version; /* bumped on every change; the view redraws when it moves */

    char server[256]; /* redacted URL */
    bool nats_up;     /* connected right now */
    char nats_note[128];
    bool cluster; /* a cluster answered */
    char cluster_note[160];

    /* Queue: stream MEMES / consumer meme-generator. */
    bool queue_known;
    uint64_t lag, pending, redelivered;
    int64_t ack_pending, waiting;
    int lag_threshold; /* from the ScaledObject, 0 when unknown */
    double rate_in, rate_out;
    uint64_t last_in_seq, last_out_seq;
    double last_rate_t;
    double lag_hist[TUI_HISTORY];
    double replicas_hist[TUI_HISTORY];
    size_t hist_len;

    struct tui_worker workers[TUI_WORKERS];
    size_t nworkers;

    struct tui_meme memes[TUI_MEMES]; /* newest first */
    size_t nmemes;

    /* the Scalers panel: the rows status and watch show (lib/kube/kube_summary.h) */
    struct kube_scaler_row scalers[TUI_SCALERS];
    size_t nscalers;
    /* The local autoscaler of `memectl up --autoscale`, shown after the
     * cluster's scalers (tui_local.c). */
    bool has_local;
    struct kube_scaler_row local;

    char status[160]; /* the bottom line's message */
};

void tui_model_init(struct tui_model *m);
void tui_model_destroy(struct tui_model *m);
void tui_model_lock(struct tui_model *m);
void tui_model_unlock(struct tui_model *m);

/* Seconds on the model's clock (monotonic). */
double tui_now(void);

/* A heartbeat's JSON (protocol v1). Returns false when it is not one. */
bool tui_model_heartbeat(struct tui_model *m, const char *json, size_t len, double now);
/* A completion event's JSON from meme.events.done. */
bool tui_model_event(struct tui_model *m, const char *json, size_t len, double now);
/* A request this dashboard sent (state queued until its reply or event). */
void tui_model_sent(struct tui_model *m, const char *id, const char *prompt, double now);
/* The private reply for one of ours: done with latency, or failed with code. */
void tui_model_reply(struct tui_model *m, const char *id, bool ok, const char *code,
                     double latency_ms, const char *worker, bool cache_hit);
/* A progress message for one of ours still waiting: state is
 * proto_progress_state, message the worker's reason, attempt/max its
 * delivery, retry_in_ms the wait before the next try (retrying). Ignored
 * once the meme is answered. */
void tui_model_progress(struct tui_model *m, const char *id, int state, const char *worker,
                        const char *message, int attempt, int max_attempts, int64_t retry_in_ms);
/* Queue figures read at now; rates come from successive calls. */
void tui_model_queue(struct tui_model *m, uint64_t lag, uint64_t pending, int64_t ack_pending,
                     int64_t waiting, uint64_t redelivered, uint64_t in_seq, uint64_t out_seq,
                     double now);
void tui_model_queue_lost(struct tui_model *m, const char *why);
/* One history sample per second: lag and the replica count. */
void tui_model_sample(struct tui_model *m, double now);
/* Workers not heard from for 15 s are dropped. */
void tui_model_expire(struct tui_model *m, double now);
void tui_model_set_status(struct tui_model *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Workers that count for the replica history: the local autoscaler's
 * workers, else the ScaledObject's current replicas when known, else live
 * heartbeats. */
int tui_model_worker_replicas(const struct tui_model *m);

/* Reads the local autoscaler's state file into m (under its lock); no
 * autoscaler, or a stopped one, clears the row (tui_local.c). */
void tui_local_poll(struct tui_model *m, const char *state_dir);

#endif
