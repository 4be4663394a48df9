/*
 * meme-worker: the KEDA-scaled JetStream consumer. The main thread pulls
 * requests from the durable consumer "meme-generator" in batches sized to
 * the free job slots and hands them to --concurrency slot threads (each
 * with its own renderer and Redis connection), so memory is bounded by the
 * slot count whatever the queue depth. Each job is answered, stored and
 * only then acked (worker_job.c). On SIGTERM or SIGINT the worker stops
 * pulling, lets the slots finish within --drain-timeout, naks what could
 * not finish, drains the connection and exits 0.
 */
#include "clock.h"
#include "log.h"
#include "mq/mq.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "worker.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

atomic_int worker_stop_requested;

/* Signals are taken by this thread alone (blocked everywhere else), so that
 * besides setting the flag it can end a fetch that is waiting: an idle
 * worker stops at once rather than when its pull request expires. */
struct signal_watch {
    struct worker *w;
    sigset_t set;
    pthread_t thread;
    atomic_bool done;
};

static void *signal_main(void *arg)
{
    struct signal_watch *sw = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(&sw->set, &sig) != 0 || atomic_load(&sw->done))
            break;
        worker_stop_requested = 1;
        if (atomic_load(&sw->w->started))
            natsSubscription_Unsubscribe(sw->w->sub);
    }
    return NULL;
}

static void usage(FILE *f)
{
    fputs("usage: meme-worker [options]\n"
          "\n"
          "Pulls meme requests from NATS JetStream, makes them and replies.\n"
          "\n"
          "  -s, --nats URL            NATS server (env NATS_URL; default nats://127.0.0.1:4222)\n"
          "      --stream NAME         stream (env NATS_STREAM; default MEMES)\n"
          "      --consumer NAME       durable pull consumer (env NATS_CONSUMER; default "
          "meme-generator)\n"
          "  -c, --concurrency N       jobs in flight (env WORKER_CONCURRENCY; default: cores)\n"
          "      --drain-timeout SECS  on SIGTERM, time to finish jobs (env DRAIN_TIMEOUT; "
          "default 25)\n"
          "      --redis URL           Redis cache (env REDIS_URL; default: no cache)\n"
          "      --cache-ttl SECS      cache entry lifetime (env CACHE_TTL; default 3600)\n"
          "      --http ADDR           serve /metrics, /healthz, /readyz on [HOST:]PORT\n"
          "                            (env METRICS_ADDR; default: off)\n"
          "      --engine NAME         default engine: local or hf (env MEME_ENGINE; default "
          "local)\n"
          "      --hf-url URL          Hugging Face API base (env HF_API_URL)\n"
          "      --hf-token-file FILE  Hugging Face token file (env HF_API_TOKEN_FILE; or\n"
          "                            HF_API_TOKEN)\n"
          "      --hf-timeout SECS     deadline per Hugging Face image (default 120)\n"
          "      --deadline SECS       deadline per request from when it was queued, retries\n"
          "                            included (env REQUEST_DEADLINE; default 120; a quarter\n"
          "                            of it for fast_mode)\n"
          "      --no-results          do not store results in the meme-results bucket\n"
          "      --reply-prefix PREFIX allow private replies under PREFIX too, besides _INBOX.\n"
          "                            (env MEME_REPLY_PREFIX; for example \"acme.inbox.\")\n"
          "      --stall-timeout SECS  /healthz fails after this long without a working fetch\n"
          "                            (env WORKER_STALL_TIMEOUT; default 60)\n"
          "      --font FILE           caption font (env MEME_FONT)\n"
          "      --templates DIR       extra template images (env MEME_TEMPLATE_DIR)\n"
          "      --id NAME             worker id in heartbeats and replies (env WORKER_ID)\n"
          "  -v, --verbose             log every request\n"
          "  -h, --help                show this help\n"
          "      --version             show the version\n",
          f);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static int parse_num(const char *what, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "meme-worker: %s must be a whole number from %ld to %ld, not \"%s\"\n",
                what, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Reads a token file (a Kubernetes Secret mounted as a file): the first line. */
static char *read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "meme-worker: cannot read the token file \"%s\": %s\n", path,
                strerror(errno));
        return NULL;
    }
    /* A secret others can read is not secret: say so once, with the fix. */
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
        log_warn("msg=\"the token file is readable by group or others; chmod 600 it, or set "
                 "defaultMode: 0400 on the secret volume\" file=\"%s\" mode=%03o",
                 path, (unsigned)(st.st_mode & 0777));
    char line[1024];
    char *tok = NULL;
    if (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0])
            tok = xstrdup(line);
    }
    fclose(f);
    if (!tok)
        fprintf(stderr, "meme-worker: the token file \"%s\" is empty\n", path);
    return tok;
}

static int parse_args(int argc, char **argv, struct worker_config *cfg)
{
    enum {
        O_STREAM = 1000,
        O_CONSUMER,
        O_FONT,
        O_TEMPLATES,
        O_ID,
        O_VERSION,
        O_DRAIN,
        O_REDIS,
        O_TTL,
        O_HTTP,
        O_ENGINE,
        O_HF_URL,
        O_HF_TOKEN_FILE,
        O_HF_TIMEOUT,
        O_NO_RESULTS,
        O_DEADLINE,
        O_REPLY_PREFIX,
        O_STALL_TIMEOUT,
    };
    static const struct option longopts[] = {
        {"nats", required_argument, NULL, 's'},
        {"stream", required_argument, NULL, O_STREAM},
        {"consumer", required_argument, NULL, O_CONSUMER},
        {"concurrency", required_argument, NULL, 'c'},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"redis", required_argument, NULL, O_REDIS},
        {"cache-ttl", required_argument, NULL, O_TTL},
        {"http", required_argument, NULL, O_HTTP},
        {"engine", required_argument, NULL, O_ENGINE},
        {"hf-url", required_argument, NULL, O_HF_URL},
        {"hf-token-file", required_argument, NULL, O_HF_TOKEN_FILE},
        {"hf-timeout", required_argument, NULL, O_HF_TIMEOUT},
        {"no-results", no_argument, NULL, O_NO_RESULTS},
        {"deadline", required_argument, NULL, O_DEADLINE},
        {"reply-prefix", required_argument, NULL, O_REPLY_PREFIX},
        {"stall-timeout", required_argument, NULL, O_STALL_TIMEOUT},
        {"font", required_argument, NULL, O_FONT},
        {"templates", required_argument, NULL, O_TEMPLATES},
        {"id", required_argument, NULL, O_ID},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    char host[64] = "worker";
    long v;
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    cfg->nats_url = env_or("NATS_URL", "nats://127.0.0.1:4222");
    cfg->stream = env_or("NATS_STREAM", PROTO_STREAM);
    cfg->consumer = env_or("NATS_CONSUMER", PROTO_CONSUMER);
    cfg->font = env_or("MEME_FONT", NULL);
    cfg->templates = env_or("MEME_TEMPLATE_DIR", NULL);
    cfg->redis_url = env_or("REDIS_URL", NULL);
    cfg->http_addr = env_or("METRICS_ADDR", NULL);
    cfg->engine = env_or("MEME_ENGINE", "local");
    cfg->hf_url = env_or("HF_API_URL", NULL);
    cfg->hf_model = env_or("HF_MODEL", HF_DEFAULT_MODEL);
    cfg->hf_fast_model = env_or("HF_FAST_MODEL", HF_DEFAULT_FAST_MODEL);
    cfg->store_results = true;
    cfg->hf_timeout_ms = 120000;
    cfg->deadline_ms = PROTO_DEADLINE_MS;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->concurrency = cores > 0 ? (int)(cores > 64 ? 64 : cores) : 1;
    cfg->drain_timeout_ms = 25000;
    cfg->stall_timeout_ms = 60000;
    cfg->cache_ttl_s = CACHE_TTL_DEFAULT;
    cfg->reply_prefix = env_or("MEME_REPLY_PREFIX", NULL);
    snprintf(cfg->id, sizeof(cfg->id), "%s", env_or("WORKER_ID", ""));
    if (!cfg->id[0])
        snprintf(cfg->id, sizeof(cfg->id), "%s-%d", host, (int)getpid());
    const char *token_file = env_or("HF_API_TOKEN_FILE", NULL);
    const char *s;
    if ((s = env_or("WORKER_CONCURRENCY", NULL))) {
        if (parse_num("WORKER_CONCURRENCY", s, 1, 256, &v) < 0)
            return 2;
        cfg->concurrency = (int)v;
    }
    if ((s = env_or("DRAIN_TIMEOUT", NULL))) {
        if (parse_num("DRAIN_TIMEOUT", s, 0, 3600, &v) < 0)
            return 2;
        cfg->drain_timeout_ms = (int)v * 1000;
    }
    if ((s = env_or("REQUEST_DEADLINE", NULL))) {
        if (parse_num("REQUEST_DEADLINE", s, 1, 86400, &v) < 0)
            return 2;
        cfg->deadline_ms = (int)v * 1000;
    }
    if ((s = env_or("WORKER_STALL_TIMEOUT", NULL))) {
        if (parse_num("WORKER_STALL_TIMEOUT", s, 1, 86400, &v) < 0)
            return 2;
        cfg->stall_timeout_ms = (int)v * 1000;
    }
    if ((s = env_or("CACHE_TTL", NULL))) {
        if (parse_num("CACHE_TTL", s, 1, 30 * 86400, &v) < 0)
            return 2;
        cfg->cache_ttl_s = (int)v;
    }

    int c;
    while ((c = getopt_long(argc, argv, "s:c:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg->nats_url = optarg;
            break;
        case O_STREAM:
            cfg->stream = optarg;
            break;
        case O_CONSUMER:
            cfg->consumer = optarg;
            break;
        case 'c':
            if (parse_num("--concurrency", optarg, 1, 256, &v) < 0)
                return 2;
            cfg->concurrency = (int)v;
            break;
        case O_DRAIN:
            if (parse_num("--drain-timeout", optarg, 0, 3600, &v) < 0)
                return 2;
            cfg->drain_timeout_ms = (int)v * 1000;
            break;
        case O_REDIS:
            cfg->redis_url = *optarg ? optarg : NULL;
            break;
        case O_TTL:
            if (parse_num("--cache-ttl", optarg, 1, 30 * 86400, &v) < 0)
                return 2;
            cfg->cache_ttl_s = (int)v;
            break;
        case O_HTTP:
            cfg->http_addr = *optarg ? optarg : NULL;
            break;
        case O_ENGINE:
            cfg->engine = optarg;
            break;
        case O_HF_URL:
            cfg->hf_url = optarg;
            break;
        case O_HF_TOKEN_FILE:
            token_file = optarg;
            break;
        case O_HF_TIMEOUT:
            if (parse_num("--hf-timeout", optarg, 1, 3600, &v) < 0)
                return 2;
            cfg->hf_timeout_ms = (int)v * 1000;
            break;
        case O_NO_RESULTS:
            cfg->store_results = false;
            break;
        case O_DEADLINE:
            if (parse_num("--deadline", optarg, 1, 86400, &v) < 0)
                return 2;
            cfg->deadline_ms = (int)v * 1000;
            break;
        case O_REPLY_PREFIX:
            cfg->reply_prefix = *optarg ? optarg : NULL;
            break;
        case O_STALL_TIMEOUT:
            if (parse_num("--stall-timeout", optarg, 1, 86400, &v) < 0)
                return 2;
            cfg->stall_timeout_ms = (int)v * 1000;
            break;
        case O_FONT:
            cfg->font = optarg;
            break;
        case O_TEMPLATES:
            cfg->templates = optarg;
            break;
        case O_ID:
            snprintf(cfg->id, sizeof(cfg->id), "%s", optarg);
            break;
        case 'v':
            cfg->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case O_VERSION:
            printf("meme-worker %s (protocol v%d)\n", MEME_VERSION, PROTO_VERSION);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meme-worker: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    /* fast_mode asks for an answer in seconds: it gives up sooner too. */
    cfg->deadline_fast_ms = cfg->deadline_ms / 4 > 1000 ? cfg->deadline_ms / 4 : 1000;
    if (cfg->reply_prefix && !proto_reply_prefix_valid(cfg->reply_prefix)) {
        fprintf(stderr,
                "meme-worker: --reply-prefix must be subject tokens ending in '.', not starting "
                "with '$' or \"meme.\" and without wildcards (for example \"acme.inbox.\"), not "
                "\"%s\"\n",
                cfg->reply_prefix);
        return 2;
    }
    if (strcmp(cfg->engine, "local") != 0 && strcmp(cfg->engine, "hf") != 0) {
        fprintf(stderr, "meme-worker: --engine must be local or hf, not \"%s\"\n", cfg->engine);
        return 2;
    }
    if (token_file) {
        cfg->hf_token = read_token_file(token_file);
        if (!cfg->hf_token)
            return 2;
    } else if ((s = env_or("HF_API_TOKEN", NULL))) {
        cfg->hf_token = xstrdup(s);
    }
    if (strcmp(cfg->engine, "hf") == 0 && !cfg->hf_token) {
        fprintf(stderr, "meme-worker: --engine hf needs a token: set HF_API_TOKEN or "
                        "HF_API_TOKEN_FILE (or --hf-token-file)\n");
        return 2;
    }
    return 0;
}

static void metrics_init(struct worker *w)
{
    static const double gen_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                        0.5,   1,      2.5,   5,    10,    30,   60};
    static const double e2e_bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                        2.5,   5,    10,    30,   60,  120,  300};
    struct worker_metrics *m = &w->m;
    m->reg = metrics_new();
    m->info = metrics_gauge(m->reg, "meme_worker_info", "Worker version and id (always 1).",
                            "version,worker");
    m->requests = metrics_counter(m->reg, "meme_worker_requests_total",
                                  "Requests handled, by outcome (done: answered with a meme; "
                                  "failed: answered with an error and terminated; retry: naked "
                                  "for redelivery; duplicate: already answered; drained: naked "
                                  "at shutdown).",
                                  "outcome");
    m->errors = metrics_counter(m->reg, "meme_worker_errors_total",
                                "Failed or retried requests by protocol error code.", "code");
    m->cache = metrics_counter(m->reg, "meme_worker_cache_requests_total",
                               "Cache lookups and stores by result (hit, miss, error).", "result");
    m->redeliveries = metrics_counter(m->reg, "meme_worker_redeliveries_total",
                                      "Requests received again after an earlier delivery.", NULL);
    m->in_flight = metrics_gauge(m->reg, "meme_worker_in_flight",
                                 "Jobs fetched and not yet acked, naked or terminated.", NULL);
    m->concurrency =
        metrics_gauge(m->reg, "meme_worker_concurrency", "Job slots (--concurrency).", NULL);
    m->redis_up = metrics_gauge(m->reg, "meme_worker_redis_up",
                                "1 when the last cache operation reached Redis.", NULL);
    m->nats_up =
        metrics_gauge(m->reg, "meme_worker_nats_connected", "1 while connected to NATS.", NULL);
    m->gen_seconds =
        metrics_histogram(m->reg, "meme_worker_generation_seconds",
                          "Time to make one meme (engine and encode, or cache lookup on a hit).",
                          "engine", gen_bounds, sizeof(gen_bounds) / sizeof(gen_bounds[0]));
    m->e2e_seconds = metrics_histogram(
        m->reg, "meme_worker_end_to_end_seconds",
        "Time from the request being stored in JetStream to its reply being sent.", NULL,
        e2e_bounds, sizeof(e2e_bounds) / sizeof(e2e_bounds[0]));
    m->queue_seconds = metrics_histogram(
        m->reg, "meme_worker_queue_wait_seconds",
        "Time from the request being stored in JetStream to a worker starting it.", NULL,
        e2e_bounds, sizeof(e2e_bounds) / sizeof(e2e_bounds[0]));
    m->replies_refused = metrics_counter(
        m->reg, "meme_worker_replies_refused_total",
        "Requests refused because their reply subject is not an inbox (reply_not_allowed).", NULL);
    m->provisioned = metrics_counter(m->reg, "meme_worker_provisioned_total",
                                     "Streams, consumers and buckets this worker created because "
                                     "they were missing, by object.",
                                     "object");
    const char *info[] = {MEME_VERSION, w->cfg.id};
    metrics_set(m->info, info, 1);
    metrics_set(m->concurrency, NULL, w->cfg.concurrency);
    metrics_set(m->in_flight, NULL, 0);
    metrics_set(m->redis_up, NULL, w->cfg.redis_url ? 1 : 0);
    metrics_set(m->nats_up, NULL, 0);
    /* Every outcome from the start, so rate() sees the first increment. */
    static const char *const outcomes[] = {"done", "failed", "retry", "duplicate", "drained"};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        metrics_add(m->requests, &outcomes[i], 0);
    static const char *const results[] = {"hit", "miss", "error"};
    for (size_t i = 0; i < 3; i++)
        metrics_add(m->cache, &results[i], 0);
    metrics_add(m->redeliveries, NULL, 0);
    metrics_add(m->replies_refused, NULL, 0);
    static const char *const objects[] = {"stream", "consumer", "bucket"};
    for (size_t i = 0; i < 3; i++)
        metrics_add(m->provisioned, &objects[i], 0);
}

static void publish_heartbeat(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    int in_flight = w->busy + w->qlen;
    pthread_mutex_unlock(&w->lock);
    uint64_t hits = atomic_load(&w->cache_hits), misses = atomic_load(&w->cache_misses);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(w->cfg.id));
    json_object_set_new(o, "version", json_string(MEME_VERSION));
    json_object_set_new(o, "protocol", json_integer(PROTO_VERSION));
    json_object_set_new(o, "in_flight", json_integer(in_flight));
    json_object_set_new(o, "concurrency", json_integer(w->cfg.concurrency));
    json_object_set_new(o, "done", json_integer((json_int_t)atomic_load(&w->done)));
    json_object_set_new(o, "failed", json_integer((json_int_t)atomic_load(&w->failed)));
    json_object_set_new(o, "retried", json_integer((json_int_t)atomic_load(&w->retried)));
    json_object_set_new(o, "cache_hits", json_integer((json_int_t)hits));
    json_object_set_new(o, "cache_misses", json_integer((json_int_t)misses));
    json_object_set_new(o, "cache_hit_ratio",
                        json_real(hits + misses ? (double)hits / (double)(hits + misses) : 0.0));
    json_object_set_new(o, "engines", json_string(worker_engine_list(w)));
    pthread_mutex_lock(&w->lock);
    bool draining = w->stopping;
    pthread_mutex_unlock(&w->lock);
    json_object_set_new(o, "draining", json_boolean(draining));
    json_object_set_new(o, "started", json_integer(w->started_ms / 1000));
    json_object_set_new(o, "ts", json_integer(clock_wall_ms() / 1000));
    char *s = proto_json_dump(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    natsConnection_PublishString(w->mq.nc, PROTO_SUBJECT_HEARTBEAT, s);
    free(s);
}

/* nats.c's thread: the connection dropped or came back. After a reconnect
 * the server may be a fresh one with an empty store: check at once. */
static void on_disconnected(natsConnection *nc, void *arg)
{
    (void)arg;
    if (!natsConnection_IsClosed(nc)) /* not our own close at exit */
        log_warn("msg=\"disconnected from NATS; reconnecting\"");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    struct worker *w = arg;
    char url[256] = "", red[300];
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    log_info("msg=\"reconnected to NATS\" url=%s", mq_url_redacted(url, red, sizeof(red)));
    atomic_store(&w->need_check, true);
}

/* Makes sure the stream, the consumer and the results bucket exist with v1
 * settings, recreating what a fresh server or an operator removed, and says
 * what it made. 0, or -1 with the reason logged (once per outage). */
static int provision(struct worker *w, bool first)
{
    struct meme_err err = {0};
    struct mq_provision_report r;
    struct mq_provision_opts o = {
        .stream = w->cfg.stream,
        .consumer = w->cfg.consumer,
        .bucket = w->cfg.store_results ? PROTO_RESULTS_BUCKET : NULL,
        .ack_wait_ms = PROTO_ACK_WAIT_MS,
        .max_value = w->max_payload,
    };
    if (mq_provision(&w->mq, &o, &r, &err) < 0) {
        if (atomic_exchange(&w->provisioned, false) || first)
            log_error("msg=\"%s\"", err.msg);
        return -1;
    }
    const char *made[3] = {r.made_stream ? "stream" : NULL, r.made_consumer ? "consumer" : NULL,
                           r.made_bucket ? "bucket" : NULL};
    for (int i = 0; i < 3; i++)
        if (made[i])
            metrics_add(w->m.provisioned, &made[i], 1);
    if (r.made_stream || r.made_consumer || r.made_bucket)
        log_msg(first ? LOG_INFO : LOG_WARN,
                "msg=\"%s\" stream=%s%s consumer=%s%s bucket=%s%s queue_max_bytes=%lld "
                "queue_max_msgs=%lld results_max_bytes=%lld store=%lld store_from=%s",
                first ? "created what protocol v1 needs"
                      : "recreated what was missing (a fresh NATS server, or deleted)",
                w->cfg.stream, r.made_stream ? "(new)" : "", w->cfg.consumer,
                r.made_consumer ? "(new)" : "", o.bucket ? o.bucket : "off",
                r.made_bucket ? "(new)" : "", (long long)r.budget.queue_bytes,
                (long long)r.budget.queue_msgs, (long long)r.budget.results_bytes,
                (long long)r.budget.store, r.store_from_account ? "account" : "probe");
    if (!atomic_exchange(&w->provisioned, true) && !first)
        log_info("msg=\"stream, consumer and bucket are there again\"");
    return 0;
}

/* Refreshes meme_worker_redis_up while idle (jobs refresh it too). */
static void ping_redis(struct worker *w)
{
    struct meme_err err = {0};
    if (!w->probe_cache)
        return;
    if (cache_ping(w->probe_cache, &err) == 0) {
        metrics_set(w->m.redis_up, NULL, 1);
        if (atomic_exchange(&w->redis_down, 0) == 1)
            log_info("msg=\"cache available again\" redis=%s", cache_url_redacted(w->probe_cache));
    } else {
        metrics_set(w->m.redis_up, NULL, 0);
        if (atomic_exchange(&w->redis_down, 1) == 0)
            log_warn("msg=\"cache unavailable; making memes without it\" error=\"%s\"", err.msg);
    }
}

/* Connects (retrying with backoff until told to stop), provisions the stream,
 * consumer and results bucket, and binds a pull subscription. */
static int start(struct worker *w)
{
    struct meme_err err = {0};
    char red[512];
    int delay_ms = 250;
    mq_url_redacted(w->cfg.nats_url, red, sizeof(red));

    for (;;) {
        /* Credentials besides the URL come from the environment only (a
         * Kubernetes Secret); mq never logs them. */
        struct mq_connect_opts o = {.url = w->cfg.nats_url,
                                    .name = w->cfg.id,
                                    .reconnect = true,
                                    .user = env_or("NATS_USER", NULL),
                                    .password = env_or("NATS_PASSWORD", NULL),
                                    .creds_file = env_or("NATS_CREDS", NULL),
                                    .disconnected = on_disconnected,
                                    .reconnected = on_reconnected,
                                    .handler_arg = w};
        if (mq_connect(&w->mq, &o, &err) == 0)
            break;
        mq_close(&w->mq);
        if (err.code != MEME_E_UNREACHABLE) {
            log_error("msg=\"%s\"", err.msg);
            return -1;
        }
        log_warn("msg=\"waiting for NATS\" url=%s retry_ms=%d", red, delay_ms);
        for (int i = 0; i < delay_ms / 50 && !worker_stop_requested; i++)
            usleep(50 * 1000);
        if (worker_stop_requested)
            return -1;
        delay_ms = delay_ms < 4000 ? delay_ms * 2 : 5000;
    }
    metrics_set(w->m.nats_up, NULL, 1);
    w->max_payload = natsConnection_GetMaxPayload(w->mq.nc);
    if (w->max_payload < MQ_PAYLOAD_WANTED)
        log_warn("msg=\"NATS max_payload is %lld bytes; large memes (1024x1024 PNG, ~1.5 MB as "
                 "base64) will be refused as too_large. Set max_payload: 8MB in the server "
                 "config\"",
                 (long long)w->max_payload);
    if (provision(w, true) < 0)
        return -1;
    /* Every job in flight sends in-progress acks well within the consumer's
     * ack wait (worker_lease.c); a consumer made with another wait is said
     * so, and brought to the protocol's when it is ours and idle. */
    struct mq_ack_wait_report aw;
    if (mq_reconcile_ack_wait(&w->mq, w->cfg.stream, w->cfg.consumer, PROTO_ACK_WAIT_MS, &aw,
                              &err) < 0) {
        log_warn("msg=\"%s\"", err.msg);
        aw.ack_wait_ms = PROTO_ACK_WAIT_MS;
    } else if (aw.updated) {
        log_info("msg=\"consumer ack wait updated\" consumer=%s from_ms=%lld to_ms=%lld",
                 w->cfg.consumer, (long long)aw.found_ms, (long long)aw.ack_wait_ms);
    } else if (aw.found_ms != PROTO_ACK_WAIT_MS) {
        log_warn("msg=\"consumer %s has an ack wait of %lld ms, not %d: a dead worker's jobs "
                 "wait that long before another worker takes them; %s\"",
                 w->cfg.consumer, (long long)aw.found_ms, PROTO_ACK_WAIT_MS,
                 aw.owned ? "it will be updated when a worker starts with no job in flight"
                          : "it was not made by meme-worker, so it is left as it is (change it "
                            "with: nats consumer edit STREAM CONSUMER --wait 5s)");
    }
    worker_lease_init(w, aw.ack_wait_ms);
    if (w->cfg.store_results &&
        results_open(w->mq.js, PROTO_RESULTS_BUCKET, false, PROTO_RESULTS_TTL_S, w->max_payload,
                     &w->results, &err) < 0)
        log_warn("msg=\"results will not be stored: %s\"", err.msg);
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = w->cfg.stream;
    so.Consumer = w->cfg.consumer;
    jsErrCode jerr = 0;
    natsStatus s = js_PullSubscribe(&w->sub, w->mq.js, NULL, w->cfg.consumer, NULL, &so, &jerr);
    if (s != NATS_OK) {
        log_error("msg=\"cannot bind to consumer %s on stream %s: %s\"", w->cfg.consumer,
                  w->cfg.stream, nats_GetLastError(NULL));
        return -1;
    }
    atomic_store(&w->fetch_failing_since, 0);
    atomic_store(&w->started, true);
    log_info("msg=\"ready\" worker=%s version=%s nats=%s stream=%s consumer=%s concurrency=%d "
             "ack_wait_ms=%lld keepalive_ms=%d engines=%s cache=%s results=%s max_payload=%lld",
             w->cfg.id, MEME_VERSION, red, w->cfg.stream, w->cfg.consumer, w->cfg.concurrency,
             (long long)w->ack_wait_ms, w->keepalive_ms, worker_engine_list(w),
             w->slots[0].cache ? cache_url_redacted(w->slots[0].cache) : "off",
             w->results ? PROTO_RESULTS_BUCKET : "off", (long long)w->max_payload);
    return 0;
}

/* A slot thread: takes jobs until the worker stops and the queue is empty.
 * After the drain deadline, jobs not yet started are naked for another
 * worker instead. */
static void *slot_main(void *arg)
{
    struct worker_slot *slot = arg;
    struct worker *w = slot->w;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->qlen == 0 && !w->stopping)
            pthread_cond_wait(&w->work, &w->lock);
        if (w->qlen == 0) {
            pthread_mutex_unlock(&w->lock);
            break;
        }
        struct worker_job job = w->queue[w->qhead];
        w->qhead = (w->qhead + 1) % w->cfg.concurrency;
        w->qlen--;
        w->busy++;
        pthread_mutex_unlock(&w->lock);

        if (atomic_load(&w->abandon)) {
            worker_lease_quiet(w, job.lease);
            natsMsg_Nak(job.msg, NULL);
            metrics_add(w->m.requests, (const char *[]){"drained"}, 1);
            atomic_fetch_add(&w->retried, 1);
        } else {
            worker_handle(slot, &job);
        }
        natsMsg_Destroy(job.msg);
        worker_lease_release(w, job.lease);

        pthread_mutex_lock(&w->lock);
        w->busy--;
        metrics_set(w->m.in_flight, NULL, w->busy + w->qlen);
        pthread_cond_broadcast(&w->freed);
        pthread_mutex_unlock(&w->lock);
    }
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Pulls as many requests as there are free slots and queues them. Every
 * few seconds, and at once after a reconnect, a failed fetch or a failed
 * store, it checks that what protocol v1 needs is on the server. */
static void run(struct worker *w)
{
    int64_t next_beat = 0;
    double next_check = clock_now_ms() + WORKER_CHECK_MS;
    int fetch_errors = 0;
    while (!worker_stop_requested) {
        if (clock_wall_ms() >= next_beat) {
            publish_heartbeat(w);
            next_beat = clock_wall_ms() + WORKER_HEARTBEAT_MS;
        }
        if (atomic_exchange(&w->need_check, false) || clock_now_ms() >= next_check) {
            if (natsConnection_Status(w->mq.nc) == NATS_CONN_STATUS_CONNECTED)
                provision(w, false);
            ping_redis(w);
            next_check = clock_now_ms() + WORKER_CHECK_MS;
        }
        metrics_set(w->m.nats_up, NULL,
                    natsConnection_Status(w->mq.nc) == NATS_CONN_STATUS_CONNECTED);
        pthread_mutex_lock(&w->lock);
        int free_slots = w->cfg.concurrency - w->busy - w->qlen;
        if (free_slots <= 0) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->freed, &w->lock, &ts);
            pthread_mutex_unlock(&w->lock);
            continue;
        }
        pthread_mutex_unlock(&w->lock);

        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, w->sub, free_slots, 1000, &jerr);
        if (worker_stop_requested) {
            /* The signal ended the fetch; what it brought is handed back
             * right away (nothing has started it). */
            for (int i = 0; i < list.Count; i++)
                natsMsg_Nak(list.Msgs[i], NULL);
            natsMsgList_Destroy(&list);
            break;
        }
        if (s != NATS_OK && s != NATS_TIMEOUT) {
            int64_t now = (int64_t)clock_now_ms(), zero = 0;
            atomic_compare_exchange_strong(&w->fetch_failing_since, &zero, now);
            if (fetch_errors++ == 0)
                log_warn("msg=\"fetch failed; checking the stream and consumer\" error=\"%s\" "
                         "js_error=%d detail=\"%s\"",
                         natsStatus_GetText(s), (int)jerr, nats_GetLastError(NULL));
            atomic_store(&w->need_check, true);
            sleep_ms(fetch_errors < 10 ? 100 * fetch_errors : 1000);
            continue;
        }
        /* A pull that timed out while disconnected, or with the stream
         * missing, fetched nothing either: liveness counts it as failing. */
        if (s == NATS_TIMEOUT && (natsConnection_Status(w->mq.nc) != NATS_CONN_STATUS_CONNECTED ||
                                  !atomic_load(&w->provisioned))) {
            int64_t now = (int64_t)clock_now_ms(), zero = 0;
            atomic_compare_exchange_strong(&w->fetch_failing_since, &zero, now);
            continue;
        }
        atomic_store(&w->fetch_failing_since, 0);
        if (fetch_errors) {
            log_info("msg=\"fetching again\" after_errors=%d", fetch_errors);
            fetch_errors = 0;
        }
        if (s == NATS_TIMEOUT)
            continue;
        double now = clock_now_ms();
        pthread_mutex_lock(&w->lock);
        for (int i = 0; i < list.Count; i++) {
            /* The fetch asked for at most free_slots, and only this thread adds. */
            int tail = (w->qhead + w->qlen) % w->cfg.concurrency;
            w->queue[tail].msg = list.Msgs[i];
            w->queue[tail].fetched_ms = now;
            w->queue[tail].lease = worker_lease_take(w, list.Msgs[i]);
            w->qlen++;
            list.Msgs[i] = NULL;
        }
        metrics_set(w->m.in_flight, NULL, w->busy + w->qlen);
        pthread_cond_broadcast(&w->work);
        pthread_mutex_unlock(&w->lock);
        natsMsgList_Destroy(&list);
    }
}

/* Stops pulling and waits for the slots: jobs still queued at the deadline
 * are naked (no delay) so another worker takes them at once. */
static void drain(struct worker *w)
{
    pthread_mutex_lock(&w->lock);
    int pending = w->busy + w->qlen;
    w->stopping = true;
    pthread_cond_broadcast(&w->work);
    pthread_mutex_unlock(&w->lock);
    log_info("msg=\"draining\" in_flight=%d drain_timeout_ms=%d", pending, w->cfg.drain_timeout_ms);
    publish_heartbeat(w);

    double deadline = clock_now_ms() + w->cfg.drain_timeout_ms;
    pthread_mutex_lock(&w->lock);
    while (w->busy + w->qlen > 0 && clock_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->freed, &w->lock, &ts);
    }
    int left = w->busy + w->qlen;
    pthread_mutex_unlock(&w->lock);
    if (left > 0) {
        log_warn("msg=\"drain deadline passed; handing jobs back\" in_flight=%d", left);
        atomic_store(&w->abandon, true);
    }
    for (int i = 0; i < w->cfg.concurrency; i++)
        pthread_join(w->slots[i].thread, NULL);
}

static void close_slots(struct worker *w)
{
    for (int i = 0; w->slots && i < w->cfg.concurrency; i++) {
        renderer_free(w->slots[i].renderer);
        cache_free(w->slots[i].cache);
        hf_client_free(w->slots[i].hf);
        results_writer_free(w->slots[i].results);
    }
    free(w->slots);
    w->slots = NULL;
}

int main(int argc, char **argv)
{
    struct worker *w = xcalloc(1, sizeof(*w));
    struct meme_err err = {0};
    int status = 1;
    int threads = 0;

    int rc = parse_args(argc, argv, &w->cfg);
    if (rc) {
        free(w->cfg.hf_token);
        free(w);
        return rc;
    }

    /* Before any other thread exists, so that they all inherit the mask. */
    struct signal_watch sw = {.w = w};
    sigemptyset(&sw.set);
    sigaddset(&sw.set, SIGTERM);
    sigaddset(&sw.set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sw.set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (pthread_create(&sw.thread, NULL, signal_main, &sw) != 0) {
        fprintf(stderr, "meme-worker: cannot start the signal thread\n");
        free(w->cfg.hf_token);
        free(w);
        return 1;
    }

    if (w->cfg.hf_token) {
        /* No core dump, and no ptrace by the same user, can carry the token. */
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
            log_warn("msg=\"cannot make the process non-dumpable: %s\"", strerror(errno));
        hf_global_init();
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->work, NULL);
    pthread_cond_init(&w->freed, NULL);
    pthread_mutex_init(&w->lease_lock, NULL);
    pthread_cond_init(&w->ticker_wake, NULL);
    w->queue = xcalloc((size_t)w->cfg.concurrency, sizeof(*w->queue));
    w->leases = xcalloc((size_t)w->cfg.concurrency, sizeof(*w->leases));
    w->started_ms = clock_wall_ms();
    metrics_init(w);

    /* Each slot gets its own renderer and cache connection: neither is
     * thread-safe, and sharing one would serialise the slots. */
    w->slots = xcalloc((size_t)w->cfg.concurrency, sizeof(*w->slots));
    for (int i = 0; i < w->cfg.concurrency; i++) {
        struct worker_slot *sl = &w->slots[i];
        sl->w = w;
        sl->index = i;
        sl->renderer = renderer_new(w->cfg.font, w->cfg.templates, &err);
        if (!sl->renderer) {
            log_error("msg=\"%s\"", err.msg);
            goto out;
        }
        if (w->cfg.hf_token) {
            struct hf_opts ho = {.base_url = w->cfg.hf_url,
                                 .token = w->cfg.hf_token,
                                 .deadline_ms = w->cfg.hf_timeout_ms};
            sl->hf = hf_client_new(&ho, &err);
            if (!sl->hf) {
                log_error("msg=\"%s\"", err.msg);
                goto out;
            }
        }
        if (w->cfg.redis_url) {
            sl->cache = cache_new(w->cfg.redis_url, NULL, &err);
            if (!sl->cache) {
                log_error("msg=\"%s\"", err.msg);
                goto out;
            }
        }
    }
    if (w->cfg.redis_url)
        w->probe_cache = cache_new(w->cfg.redis_url, NULL, NULL);
    /* Not fetching yet: liveness counts the wait for NATS too. */
    atomic_store(&w->fetch_failing_since, (int64_t)clock_now_ms());
    if (w->cfg.http_addr && worker_http_start(w) < 0)
        goto out;
    if (start(w) < 0)
        goto out;
    for (int i = 0; w->results && i < w->cfg.concurrency; i++) {
        w->slots[i].results = results_writer_new(w->mq.nc, PROTO_RESULTS_BUCKET, &err);
        if (!w->slots[i].results) {
            log_error("msg=\"%s\"", err.msg);
            goto out;
        }
    }
    if (worker_ticker_start(w) < 0) {
        log_error("msg=\"cannot start the keepalive thread: %s\"", strerror(errno));
        goto out;
    }
    for (; threads < w->cfg.concurrency; threads++)
        if (pthread_create(&w->slots[threads].thread, NULL, slot_main, &w->slots[threads]) != 0) {
            log_error("msg=\"cannot start job threads: %s\"", strerror(errno));
            break;
        }
    if (threads == w->cfg.concurrency)
        run(w);
    drain(w);
    threads = 0;
    worker_ticker_stop(w); /* every job is settled: nothing left to keep */
    /* The pull subscription goes first, so nothing new arrives; then the
     * replies, acks and naks still buffered are flushed before closing. */
    natsSubscription_Unsubscribe(w->sub);
    natsConnection_FlushTimeout(w->mq.nc, 2000);
    log_info("msg=\"stopped\" done=%llu failed=%llu retried=%llu",
             (unsigned long long)atomic_load(&w->done), (unsigned long long)atomic_load(&w->failed),
             (unsigned long long)atomic_load(&w->retried));
    status = 0;
out:
    if (threads) {
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->work);
        pthread_mutex_unlock(&w->lock);
        for (int i = 0; i < threads; i++)
            pthread_join(w->slots[i].thread, NULL);
    }
    worker_ticker_stop(w);
    atomic_store(&sw.done, true);
    pthread_kill(sw.thread, SIGTERM);
    pthread_join(sw.thread, NULL);
    worker_http_stop(w);
    natsSubscription_Destroy(w->sub);
    kvStore_Destroy(w->results);
    close_slots(w); /* the result writers' JetStream contexts before their connection */
    cache_free(w->probe_cache);
    mq_close(&w->mq);
    metrics_free(w->m.reg);
    free(w->queue);
    for (int i = 0; w->leases && i < w->cfg.concurrency; i++)
        free(w->leases[i].reply);
    free(w->leases);
    pthread_cond_destroy(&w->ticker_wake);
    pthread_mutex_destroy(&w->lease_lock);
    if (w->cfg.hf_token) {
        memset(w->cfg.hf_token, 0, strlen(w->cfg.hf_token));
        hf_global_cleanup();
    }
    free(w->cfg.hf_token);
    pthread_cond_destroy(&w->work);
    pthread_cond_destroy(&w->freed);
    pthread_mutex_destroy(&w->lock);
    free(w);
    nats_Close();
    /* Stopped by a signal (even while still waiting for NATS): a clean exit. */
    return worker_stop_requested ? 0 : status;
}
