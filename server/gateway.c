/*
 * meme-gateway main: options and environment, the NATS connection made in
 * the background (gateway_nats.c) so the gateway serves its page and
 * probes, and answers 503, while NATS is not there yet, the check every
 * few seconds that the stream and consumer are there, and a
 * shutdown that stops being ready, drains requests in flight, then exits.
 */
#include "clock.h"
#include "gateway.h"
#include "log.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <errno.h>
#include <getopt.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fputs(
        "usage: meme-gateway [options]\n"
        "\n"
        "HTTP API and web page for the meme generator: POST /api/v1/memes sends the\n"
        "request over NATS JetStream and answers with the image.\n"
        "\n"
        "  -l, --listen ADDR          HTTP address, HOST:PORT or [V6]:PORT (env GATEWAY_LISTEN;\n"
        "                             default 0.0.0.0:8080)\n"
        "  -s, --nats URL             NATS server (env NATS_URL; default nats://127.0.0.1:4222)\n"
        "      --stream NAME          stream (env NATS_STREAM; default MEMES)\n"
        "      --consumer NAME        consumer KEDA reads (env NATS_CONSUMER; default "
        "meme-generator)\n"
        "      --timeout SECONDS      deadline of one meme (env GATEWAY_TIMEOUT; default 60)\n"
        "      --drain-timeout SECONDS  on SIGTERM, wait this long for requests in flight\n"
        "                             (env GATEWAY_DRAIN_TIMEOUT; default 10)\n"
        "      --probe-addr ADDR      also serve /healthz, /readyz and /metrics on this address,\n"
        "                             for probes that API clients cannot crowd out\n"
        "                             (env GATEWAY_PROBE_ADDR; default none)\n"
        "      --header-timeout SECONDS  time a client has to send its request head\n"
        "                             (env GATEWAY_HEADER_TIMEOUT; default 10)\n"
        "      --body-timeout SECONDS time a client has to send its request body\n"
        "                             (env GATEWAY_BODY_TIMEOUT; default 30)\n"
        "      --max-connections N    concurrent connections (default 512)\n"
        "      --id NAME              gateway name in logs and /api/health (env GATEWAY_ID)\n"
        "  -v, --verbose              log every request\n"
        "  -h, --help                 show this help\n"
        "      --version              show the version\n",
        f);
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}

static int parse_seconds(const char *what, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= 86400)) {
        fprintf(stderr, "meme-gateway: %s must be a number of seconds, not \"%s\"\n", what, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct gateway_config *cfg)
{
    enum {
        O_STREAM = 1000,
        O_CONSUMER,
        O_TIMEOUT,
        O_DRAIN,
        O_MAXCONN,
        O_ID,
        O_VERSION,
        O_PROBE,
        O_HEADER_TIMEOUT,
        O_BODY_TIMEOUT,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"nats", required_argument, NULL, 's'},
        {"stream", required_argument, NULL, O_STREAM},
        {"consumer", required_argument, NULL, O_CONSUMER},
        {"timeout", required_argument, NULL, O_TIMEOUT},
        {"drain-timeout", required_argument, NULL, O_DRAIN},
        {"max-connections", required_argument, NULL, O_MAXCONN},
        {"probe-addr", required_argument, NULL, O_PROBE},
        {"header-timeout", required_argument, NULL, O_HEADER_TIMEOUT},
        {"body-timeout", required_argument, NULL, O_BODY_TIMEOUT},
        {"id", required_argument, NULL, O_ID},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, O_VERSION},
        {NULL, 0, NULL, 0},
    };
    char host[64] = "gateway";
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    cfg->listen = env_or("GATEWAY_LISTEN", "0.0.0.0:8080");
    cfg->nats_url = env_or("NATS_URL", "nats://127.0.0.1:4222");
    cfg->stream = env_or("NATS_STREAM", PROTO_STREAM);
    cfg->consumer = env_or("NATS_CONSUMER", PROTO_CONSUMER);
    cfg->timeout_s = 60;
    cfg->drain_s = 10;
    cfg->max_conns = 512;
    cfg->header_timeout_s = 10;
    cfg->body_timeout_s = 30;
    cfg->probe_addr = env_or("GATEWAY_PROBE_ADDR", NULL);
    cfg->nats_user = env_or("NATS_USER", NULL);
    cfg->nats_password = env_or("NATS_PASSWORD", NULL);
    cfg->nats_creds = env_or("NATS_CREDS", NULL);
    snprintf(cfg->id, sizeof(cfg->id), "%s", env_or("GATEWAY_ID", host));
    const char *e;
    if ((e = env_or("GATEWAY_HEADER_TIMEOUT", NULL)) &&
        parse_seconds("GATEWAY_HEADER_TIMEOUT", e, &cfg->header_timeout_s))
        return 2;
    if ((e = env_or("GATEWAY_BODY_TIMEOUT", NULL)) &&
        parse_seconds("GATEWAY_BODY_TIMEOUT", e, &cfg->body_timeout_s))
        return 2;
    if ((e = env_or("GATEWAY_TIMEOUT", NULL)) &&
        parse_seconds("GATEWAY_TIMEOUT", e, &cfg->timeout_s))
        return 2;
    if ((e = env_or("GATEWAY_DRAIN_TIMEOUT", NULL)) &&
        parse_seconds("GATEWAY_DRAIN_TIMEOUT", e, &cfg->drain_s))
        return 2;

    int c;
    while ((c = getopt_long(argc, argv, "l:s:vh", longopts, NULL)) != -1) {
        switch (c) {
        case 'l':
            cfg->listen = optarg;
            break;
        case 's':
            cfg->nats_url = optarg;
            break;
        case O_STREAM:
            cfg->stream = optarg;
            break;
        case O_CONSUMER:
            cfg->consumer = optarg;
            break;
        case O_TIMEOUT:
            if (parse_seconds("--timeout", optarg, &cfg->timeout_s))
                return 2;
            break;
        case O_DRAIN:
            if (parse_seconds("--drain-timeout", optarg, &cfg->drain_s))
                return 2;
            break;
        case O_MAXCONN: {
            char *end;
            long n = strtol(optarg, &end, 10);
            if (end == optarg || *end || n < 1 || n > 65536) {
                fprintf(stderr, "meme-gateway: --max-connections must be 1 to 65536, not \"%s\"\n",
                        optarg);
                return 2;
            }
            cfg->max_conns = (unsigned)n;
            break;
        }
        case O_PROBE:
            cfg->probe_addr = optarg;
            break;
        case O_HEADER_TIMEOUT:
            if (parse_seconds("--header-timeout", optarg, &cfg->header_timeout_s))
                return 2;
            break;
        case O_BODY_TIMEOUT:
            if (parse_seconds("--body-timeout", optarg, &cfg->body_timeout_s))
                return 2;
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
            printf("meme-gateway %s (protocol v%d)\n", MEME_VERSION, PROTO_VERSION);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "meme-gateway: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct gateway gw;
    char err[512];
    memset(&gw, 0, sizeof(gw));
    int rc = parse_args(argc, argv, &gw.cfg);
    if (rc)
        return rc;
    gw.started_s = (int64_t)time(NULL);
    pthread_mutex_init(&gw.kv_lock, NULL);
    gw.progress = gateway_progress_new();
    gateway_metrics_init();

    /* Signals go to this thread only: block them before MHD and nats.c make
     * theirs, then wait for them with sigtimedwait. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct gateway_http *d = gateway_http_start(&gw, err, sizeof(err));
    if (!d) {
        log_error("msg=\"%s\"", err);
        gateway_metrics_free();
        return 1;
    }
    log_info("msg=\"listening\" listen=%s port=%d probe_port=%d timeout_s=%g header_timeout_s=%g "
             "body_timeout_s=%g max_connections=%u gateway=%s",
             gw.cfg.listen, gateway_http_port(d), gateway_http_probe_port(d), gw.cfg.timeout_s,
             gw.cfg.header_timeout_s, gw.cfg.body_timeout_s, gw.cfg.max_conns, gw.cfg.id);

    bool warned = false;
    double next_try = 0, backoff = 0.25, next_check = 0;
    int sig = 0;
    for (;;) {
        struct mq_conn *mq = atomic_load(&gw.mq);
        if (!mq && clock_now_s() >= next_try) {
            if (!gateway_nats_connect(&gw, &warned)) {
                next_try = clock_now_s() + backoff;
                backoff = backoff < 2 ? backoff * 2 : 5;
            }
            next_check = clock_now_s() + GATEWAY_CHECK_MS / 1000.0;
        } else if (mq && (atomic_exchange(&gw.need_check, false) || clock_now_s() >= next_check)) {
            gateway_nats_check(&gw, mq);
            next_check = clock_now_s() + GATEWAY_CHECK_MS / 1000.0;
        }
        struct timespec tick = {0, 100 * 1000 * 1000};
        sig = sigtimedwait(&sigs, NULL, &tick);
        if (sig > 0)
            break;
    }

    /* Not ready any more; requests in flight finish, new connections are
     * refused once the listening socket is closed. */
    log_info("msg=\"stopping\" signal=%d in_flight=%d", sig, atomic_load(&gw.in_flight));
    atomic_store(&gw.stopping, true);
    gateway_http_quiesce(d);
    double until = clock_now_s() + gw.cfg.drain_s;
    while (atomic_load(&gw.in_flight) > 0 && clock_now_s() < until) {
        struct timespec t = {0, 20 * 1000 * 1000};
        if (sigtimedwait(&sigs, NULL, &t) > 0)
            break; /* a second signal: stop now */
    }
    /* Waiting requests now answer 503 within one wait slice; let those
     * answers go out before the connections are closed. */
    atomic_store(&gw.aborting, true);
    until = clock_now_s() + 2;
    while (atomic_load(&gw.in_flight) > 0 && clock_now_s() < until) {
        struct timespec t = {0, 20 * 1000 * 1000};
        nanosleep(&t, NULL);
    }
    gateway_http_stop(d);
    kvStore_Destroy(gw.kv);
    gateway_progress_free(gw.progress);
    struct mq_conn *mq = atomic_load(&gw.mq);
    if (mq) {
        mq_close(mq);
        free(mq);
    }
    nats_Close();
    gateway_metrics_free();
    log_info("msg=\"stopped\"");
    return 0;
}
