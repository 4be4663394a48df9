/*
 * meme-worker: the KEDA-scaled JetStream consumer. It pulls requests from
 * the durable consumer "meme-generator" on stream MEMES, renders each with
 * an engine (the local one here), replies (privately with raw bytes and
 * headers, or on meme.response as the original design did), publishes a
 * summary event, and only then acks. Requests that can never succeed are
 * terminated and answered with an error; transient failures are naked.
 */
#include "caption.h"
#include "log.h"
#include "mq.h"
#include "proto.h"
#include "render.h"
#include "term.h"
#include "xalloc.h"

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HEARTBEAT_SUBJECT "meme.workers.heartbeat"
#define HEARTBEAT_MS      5000

struct worker_config {
    const char *nats_url;
    const char *stream;
    const char *consumer;
    const char *font;
    const char *templates;
    char id[128];
    int verbose;
};

struct worker_stats {
    uint64_t done;
    uint64_t failed;
    uint64_t terminated;
    int64_t started_ms;
};

struct worker {
    struct worker_config cfg;
    struct worker_stats stats;
    struct mq_conn mq;
    struct renderer *renderer;
    natsSubscription *sub;
    int64_t max_payload;
};

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void usage(FILE *f)
{
    fputs("usage: meme-worker [options]\n"
          "\n"
          "Pulls meme requests from NATS JetStream, renders them and replies.\n"
          "\n"
          "  -s, --nats URL        NATS server (env NATS_URL; default nats://127.0.0.1:4222)\n"
          "      --stream NAME     stream (env NATS_STREAM; default MEMES)\n"
          "      --consumer NAME   durable pull consumer (env NATS_CONSUMER; default "
          "meme-generator)\n"
          "      --font FILE       caption font (env MEME_FONT)\n"
          "      --templates DIR   extra template images (env MEME_TEMPLATE_DIR)\n"
          "      --id NAME         worker id in heartbeats and replies (env WORKER_ID)\n"
          "  -v, --verbose         log every request\n"
          "  -h, --help            show this help\n"
          "      --version         show the version\n",
          f);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static int parse_args(int argc, char **argv, struct worker_config *cfg)
{
    static const struct option longopts[] = {
        {"nats", required_argument, NULL, 's'},      {"stream", required_argument, NULL, 'S'},
        {"consumer", required_argument, NULL, 'C'},  {"font", required_argument, NULL, 'f'},
        {"templates", required_argument, NULL, 't'}, {"id", required_argument, NULL, 'i'},
        {"verbose", no_argument, NULL, 'v'},         {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},         {NULL, 0, NULL, 0},
    };
    char host[64] = "worker";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    cfg->nats_url = env_or("NATS_URL", "nats://127.0.0.1:4222");
    cfg->stream = env_or("NATS_STREAM", PROTO_STREAM);
    cfg->consumer = env_or("NATS_CONSUMER", PROTO_CONSUMER);
    cfg->font = env_or("MEME_FONT", NULL);
    cfg->templates = env_or("MEME_TEMPLATE_DIR", NULL);
    snprintf(cfg->id, sizeof(cfg->id), "%s", env_or("WORKER_ID", ""));
    if (!cfg->id[0])
        snprintf(cfg->id, sizeof(cfg->id), "%s-%d", host, (int)getpid());

    int c;
    while ((c = getopt_long(argc, argv, "s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 's':
            cfg->nats_url = optarg;
            break;
        case 'S':
            cfg->stream = optarg;
            break;
        case 'C':
            cfg->consumer = optarg;
            break;
        case 'f':
            cfg->font = optarg;
            break;
        case 't':
            cfg->templates = optarg;
            break;
        case 'i':
            snprintf(cfg->id, sizeof(cfg->id), "%s", optarg);
            break;
        case 'v':
            cfg->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
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
    return 0;
}

/* Publishes a summary event for dashboards: never the image bytes. */
static void publish_event(struct worker *w, const struct proto_request *req, int code,
                          const char *template_name, size_t bytes, int64_t queue_ms, double gen_ms)
{
    json_t *o = json_object();
    char prompt[121];
    snprintf(prompt, sizeof(prompt), "%s", req->prompt ? req->prompt : "");
    /* Cutting may split a UTF-8 sequence; drop the partial tail. */
    size_t n = strlen(prompt);
    while (n > 0 && !proto_utf8_valid(prompt, n))
        prompt[--n] = '\0';
    json_object_set_new(o, "id", json_string(req->id));
    json_object_set_new(o, "status", json_string(code == 0 ? "done" : "failed"));
    if (code)
        json_object_set_new(o, "code", json_string(meme_code_name(code)));
    json_object_set_new(o, "prompt", json_string(prompt));
    json_object_set_new(o, "worker", json_string(w->cfg.id));
    json_object_set_new(o, "engine", json_string("local"));
    json_object_set_new(o, "cache", json_string("miss"));
    json_object_set_new(o, "template", json_string(template_name ? template_name : ""));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "queue_ms", json_integer(queue_ms));
    json_object_set_new(o, "gen_ms", json_real(gen_ms));
    json_object_set_new(o, "ts", json_integer(now_ms() / 1000));
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (s) {
        natsConnection_PublishString(w->mq.nc, PROTO_SUBJECT_EVENTS, s);
        free(s);
    }
}

static void publish_heartbeat(struct worker *w)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(w->cfg.id));
    json_object_set_new(o, "version", json_string(MEME_VERSION));
    json_object_set_new(o, "protocol", json_integer(PROTO_VERSION));
    json_object_set_new(o, "in_flight", json_integer(0));
    json_object_set_new(o, "done", json_integer((json_int_t)w->stats.done));
    json_object_set_new(o, "failed", json_integer((json_int_t)w->stats.failed));
    json_object_set_new(o, "cache_hit_ratio", json_real(0.0));
    json_object_set_new(o, "started", json_integer(w->stats.started_ms / 1000));
    json_object_set_new(o, "ts", json_integer(now_ms() / 1000));
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (s) {
        natsConnection_PublishString(w->mq.nc, HEARTBEAT_SUBJECT, s);
        free(s);
    }
}

/* Sends an error reply: on the private subject with headers, or on
 * meme.response.error for the original design's clients. */
static natsStatus reply_error(struct worker *w, const struct proto_request *req, int code,
                              const char *message)
{
    char *json = proto_error_json(req->id, code, message, now_ms() / 1000);
    natsStatus s;
    if (req->reply) {
        natsMsg *m = NULL;
        s = natsMsg_Create(&m, req->reply, NULL, json, (int)strlen(json));
        if (s == NATS_OK) {
            char v[8];
            snprintf(v, sizeof(v), "%d", PROTO_VERSION);
            natsMsgHeader_Set(m, PROTO_H_VERSION, v);
            natsMsgHeader_Set(m, PROTO_H_STATUS, "error");
            natsMsgHeader_Set(m, PROTO_H_ID, req->id);
            natsMsgHeader_Set(m, PROTO_H_ERROR_CODE, meme_code_name(code));
            natsMsgHeader_Set(m, PROTO_H_WORKER, w->cfg.id);
            s = natsConnection_PublishMsg(w->mq.nc, m);
        }
        natsMsg_Destroy(m);
    } else {
        s = natsConnection_PublishString(w->mq.nc, PROTO_SUBJECT_ERROR, json);
    }
    free(json);
    return s;
}

static natsStatus reply_image(struct worker *w, const struct proto_request *req,
                              const struct render_result *res, int64_t queue_ms, double gen_ms,
                              struct meme_err *err)
{
    natsStatus s;
    if (!req->reply) {
        char *json =
            proto_legacy_response_json(req->id, res->data, res->len, req->prompt, now_ms() / 1000);
        size_t len = strlen(json);
        if ((int64_t)len > w->max_payload) {
            free(json);
            meme_err_set(err, MEME_E_TOO_LARGE,
                         "the meme is %zu bytes as base64 but the NATS server allows %lld; "
                         "raise max_payload or ask for small_image",
                         len, (long long)w->max_payload);
            return NATS_MAX_PAYLOAD;
        }
        s = natsConnection_Publish(w->mq.nc, PROTO_SUBJECT_RESPONSE, json, (int)len);
        free(json);
        return s;
    }
    if ((int64_t)res->len + 1024 > w->max_payload) {
        meme_err_set(err, MEME_E_TOO_LARGE,
                     "the meme is %zu bytes but the NATS server allows %lld; raise max_payload "
                     "or ask for a smaller size or JPEG",
                     res->len, (long long)w->max_payload);
        return NATS_MAX_PAYLOAD;
    }
    natsMsg *m = NULL;
    s = natsMsg_Create(&m, req->reply, NULL, (const char *)res->data, (int)res->len);
    if (s == NATS_OK) {
        char v[32];
        snprintf(v, sizeof(v), "%d", PROTO_VERSION);
        natsMsgHeader_Set(m, PROTO_H_VERSION, v);
        natsMsgHeader_Set(m, PROTO_H_STATUS, "ok");
        natsMsgHeader_Set(m, PROTO_H_ID, req->id);
        natsMsgHeader_Set(m, PROTO_H_CONTENT_TYPE, image_content_type(res->format));
        snprintf(v, sizeof(v), "%d", res->width);
        natsMsgHeader_Set(m, PROTO_H_WIDTH, v);
        snprintf(v, sizeof(v), "%d", res->height);
        natsMsgHeader_Set(m, PROTO_H_HEIGHT, v);
        natsMsgHeader_Set(m, PROTO_H_ENGINE, "local");
        natsMsgHeader_Set(m, PROTO_H_TEMPLATE, res->template_name);
        natsMsgHeader_Set(m, PROTO_H_CACHE, "miss");
        natsMsgHeader_Set(m, PROTO_H_WORKER, w->cfg.id);
        snprintf(v, sizeof(v), "%lld", (long long)queue_ms);
        natsMsgHeader_Set(m, PROTO_H_QUEUE_MS, v);
        snprintf(v, sizeof(v), "%.2f", gen_ms);
        natsMsgHeader_Set(m, PROTO_H_GEN_MS, v);
        s = natsConnection_PublishMsg(w->mq.nc, m);
    }
    natsMsg_Destroy(m);
    return s;
}

/* Ends a request that can never succeed: answer it, then terminate it so it
 * is not redelivered. */
static void give_up(struct worker *w, natsMsg *msg, const struct proto_request *req,
                    const struct meme_err *err, int64_t queue_ms)
{
    char *safe = term_sanitize_dup(req->id);
    log_warn("msg=\"request rejected\" id=%s code=%s error=\"%s\"", safe, meme_code_name(err->code),
             err->msg);
    free(safe);
    reply_error(w, req, err->code, err->msg);
    publish_event(w, req, err->code, NULL, 0, queue_ms, 0);
    natsMsg_Term(msg, NULL);
    w->stats.failed++;
    w->stats.terminated++;
}

static void handle(struct worker *w, natsMsg *msg)
{
    struct proto_request req;
    struct caption cap = {NULL, NULL};
    struct render_result res = {0};
    struct meme_err err = {0};
    jsMsgMetaData *meta = NULL;
    int64_t queue_ms = 0;
    double t0 = mono_ms();

    if (natsMsg_GetMetaData(&meta, msg) == NATS_OK) {
        queue_ms = now_ms() - meta->Timestamp / 1000000;
        if (queue_ms < 0)
            queue_ms = 0;
        jsMsgMetaData_Destroy(meta);
    }

    int rc =
        proto_request_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &req, &err);
    if (rc < 0) {
        give_up(w, msg, &req, &err, queue_ms);
        goto out;
    }
    if (req.engine[0] && strcmp(req.engine, "local") != 0) {
        meme_err_set(&err, MEME_E_UNKNOWN_ENGINE,
                     "engine \"%s\" is not available on this worker (available: local)",
                     req.engine);
        give_up(w, msg, &req, &err, queue_ms);
        goto out;
    }

    caption_split(req.prompt, req.top, req.bottom, &cap);
    struct render_opts ro = {
        .prompt = req.prompt,
        .top = cap.top,
        .bottom = cap.bottom,
        .template_name = req.template_name,
        .width = req.size,
        .height = req.size,
        .format = req.format,
    };
    rc = renderer_render(w->renderer, &ro, &res, &err);
    if (rc < 0) {
        if (meme_code_is_transient(rc)) {
            log_warn("msg=\"render failed, will retry\" code=%s error=\"%s\"", meme_code_name(rc),
                     err.msg);
            natsMsg_NakWithDelay(msg, 2000, NULL);
            w->stats.failed++;
        } else {
            give_up(w, msg, &req, &err, queue_ms);
        }
        goto out;
    }
    double gen_ms = mono_ms() - t0;

    natsStatus s = reply_image(w, &req, &res, queue_ms, gen_ms, &err);
    if (s == NATS_MAX_PAYLOAD) {
        give_up(w, msg, &req, &err, queue_ms);
        goto out;
    }
    if (s != NATS_OK) {
        /* The reply did not go out: leave the request for a retry. */
        log_warn("msg=\"reply failed, will retry\" error=\"%s\"", natsStatus_GetText(s));
        natsMsg_NakWithDelay(msg, 1000, NULL);
        w->stats.failed++;
        goto out;
    }
    publish_event(w, &req, 0, res.template_name, res.len, queue_ms, gen_ms);
    natsMsg_Ack(msg, NULL);
    w->stats.done++;
    if (w->cfg.verbose) {
        char *safe = term_sanitize_dup(req.prompt);
        log_info("msg=\"meme done\" id=%s size=%dx%d bytes=%zu template=%s queue_ms=%lld "
                 "gen_ms=%.1f prompt=\"%s\"",
                 req.id, res.width, res.height, res.len, res.template_name, (long long)queue_ms,
                 gen_ms, safe);
        free(safe);
    }
out:
    render_result_release(&res);
    caption_release(&cap);
    proto_request_release(&req);
}

/* Connects (retrying with backoff until told to stop), provisions the stream
 * and consumer and binds a pull subscription. */
static int start(struct worker *w)
{
    struct meme_err err = {0};
    char red[512];
    int delay_ms = 250;
    mq_url_redacted(w->cfg.nats_url, red, sizeof(red));

    for (;;) {
        struct mq_connect_opts o = {.url = w->cfg.nats_url, .name = w->cfg.id, .reconnect = true};
        if (mq_connect(&w->mq, &o, &err) == 0)
            break;
        mq_close(&w->mq);
        if (err.code != MEME_E_UNREACHABLE) {
            log_error("msg=\"%s\"", err.msg);
            return -1;
        }
        log_warn("msg=\"waiting for NATS\" url=%s retry_ms=%d", red, delay_ms);
        for (int i = 0; i < delay_ms / 50 && !stop_requested; i++)
            usleep(50 * 1000);
        if (stop_requested)
            return -1;
        delay_ms = delay_ms < 4000 ? delay_ms * 2 : 5000;
    }
    w->max_payload = natsConnection_GetMaxPayload(w->mq.nc);
    if (w->max_payload < MQ_PAYLOAD_WANTED)
        log_warn("msg=\"NATS max_payload is %lld bytes; large memes (1024x1024 PNG, ~1.5 MB as "
                 "base64) will be refused as too_large. Set max_payload: 8MB in the server "
                 "config\"",
                 (long long)w->max_payload);
    if (mq_ensure_stream(&w->mq, w->cfg.stream, &err) < 0 ||
        mq_ensure_consumer(&w->mq, w->cfg.stream, w->cfg.consumer, 60000, &err) < 0) {
        log_error("msg=\"%s\"", err.msg);
        return -1;
    }
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
    log_info("msg=\"ready\" worker=%s nats=%s stream=%s consumer=%s font=\"%s\" "
             "max_payload=%lld",
             w->cfg.id, red, w->cfg.stream, w->cfg.consumer, renderer_font_path(w->renderer),
             (long long)w->max_payload);
    return 0;
}

static void run(struct worker *w)
{
    int64_t next_beat = 0;
    int fetch_errors = 0;
    while (!stop_requested) {
        if (now_ms() >= next_beat) {
            publish_heartbeat(w);
            next_beat = now_ms() + HEARTBEAT_MS;
        }
        natsMsgList list = {0};
        jsErrCode jerr = 0;
        natsStatus s = natsSubscription_Fetch(&list, w->sub, 1, 1000, &jerr);
        if (s == NATS_TIMEOUT)
            continue;
        if (s != NATS_OK) {
            if (fetch_errors++ == 0)
                log_warn("msg=\"fetch failed, retrying\" error=\"%s\"", natsStatus_GetText(s));
            usleep(200 * 1000);
            continue;
        }
        if (fetch_errors) {
            log_info("msg=\"fetching again\" after_errors=%d", fetch_errors);
            fetch_errors = 0;
        }
        for (int i = 0; i < list.Count; i++)
            handle(w, list.Msgs[i]);
        natsMsgList_Destroy(&list);
    }
}

int main(int argc, char **argv)
{
    struct worker w;
    struct meme_err err = {0};
    int status = 1;

    memset(&w, 0, sizeof(w));
    int rc = parse_args(argc, argv, &w.cfg);
    if (rc)
        return rc;

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    w.renderer = renderer_new(w.cfg.font, w.cfg.templates, &err);
    if (!w.renderer) {
        log_error("msg=\"%s\"", err.msg);
        return 1;
    }
    w.stats.started_ms = now_ms();
    if (start(&w) < 0)
        goto out;
    run(&w);
    log_info("msg=\"stopping\" done=%llu failed=%llu", (unsigned long long)w.stats.done,
             (unsigned long long)w.stats.failed);
    status = 0;
out:
    if (w.sub) {
        natsSubscription_Unsubscribe(w.sub);
        natsSubscription_Destroy(w.sub);
    }
    mq_close(&w.mq);
    renderer_free(w.renderer);
    nats_Close();
    return stop_requested ? 0 : status;
}
