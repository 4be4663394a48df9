/*
 * memectl up: the whole stack on one machine. It starts nats-server -js (file
 * store and logs under the state directory), an optional redis-server and N
 * workers as background processes, waits until a worker is pulling, and
 * records what it started (lib/stack) for `memectl down`. Idempotent.
 */
#include "clock.h"
#include "cli.h"
#include "local_stack.h"
#include "kube/kube_types.h"
#include "kube/manifest.h"
#include "paths.h"
#include "mq/proto.h"
#include "stack.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    UP_WORKERS = 'w',
    UP_NATS_PORT = 1000,
    UP_MONITOR_PORT,
    UP_REDIS_PORT,
    UP_NO_REDIS,
    UP_WAIT,
    UP_AUTOSCALE,
    UP_POLLING,
    UP_COOLDOWN,
    UP_MIN_WORKERS,
    UP_MAX_WORKERS,
    UP_SCALEDOBJECT,
};

const struct opt_spec up_opts[] = {
    {UP_WORKERS, 'w', "workers", "N", "number of meme-worker processes (default 1)", NULL},
    {UP_NATS_PORT, 0, "nats-port", "PORT", "NATS client port (default 4222)", NULL},
    {UP_MONITOR_PORT, 0, "monitor-port", "PORT", "NATS monitoring port, /jsz (default 8222)", NULL},
    {UP_REDIS_PORT, 0, "redis-port", "PORT", "Redis port (default 6379)", NULL},
    {UP_NO_REDIS, 0, "no-redis", NULL, "do not start redis-server", NULL},
    {UP_WAIT, 0, "wait", "SECONDS", "how long to wait for the stack to be ready (default 20)",
     NULL},
    {UP_AUTOSCALE, 0, "autoscale", NULL,
     "scale the workers with KEDA's and the HPA's rules from the bundled ScaledObject", NULL},
    {UP_POLLING, 0, "polling-interval", "SECONDS",
     "with --autoscale: seconds between polls (default the ScaledObject's, 5)", NULL},
    {UP_COOLDOWN, 0, "cooldown", "SECONDS",
     "with --autoscale: idle seconds before scaling to zero (default the ScaledObject's, 30)",
     NULL},
    {UP_MIN_WORKERS, 0, "min-workers", "N",
     "with --autoscale: fewest workers (default the ScaledObject's, 0)", NULL},
    {UP_MAX_WORKERS, 0, "max-workers", "N",
     "with --autoscale: most workers, up to 32 (default the ScaledObject's, 10)", NULL},
    {UP_SCALEDOBJECT, 0, "scaledobject", "FILE",
     "with --autoscale: the ScaledObject manifest to follow (default the bundled one)", ":file"},
    {0, 0, NULL, NULL, NULL, NULL},
};

struct up_args {
    int workers;
    int nats_port, monitor_port, redis_port;
    bool no_redis;
    double wait_s;
    bool workers_given;
    bool autoscale;
    int polling_s, cooldown_s, min_workers, max_workers; /* -1: the ScaledObject's */
    const char *scaledobject;
};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* 1 when something accepts TCP connections on 127.0.0.1:port. */
static int port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void show_log_tail(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char *lines[8] = {0};
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof(line), f)) {
        free(lines[n % 8]);
        lines[n % 8] = xstrdup(line);
        n++;
    }
    fclose(f);
    size_t start = n > 8 ? n - 8 : 0;
    for (size_t i = start; i < n; i++)
        fprintf(stderr, "  | %s", lines[i % 8]);
    for (size_t i = 0; i < 8; i++)
        free(lines[i]);
}

static int write_nats_conf(const char *dir, const struct up_args *a, char **conf_out)
{
    char *conf = xasprintf("%s/nats.conf", dir);
    FILE *f = fopen(conf, "w");
    if (!f) {
        int rc = -errno;
        free(conf);
        return rc;
    }
    /* max_payload: a 1024x1024 PNG sent base64 to the original clients
     * exceeds the 1 MiB default (docs/protocol.md). sync_interval: with the
     * default, acknowledged messages can be lost on power loss. */
    fprintf(f,
            "# written by memectl up; edits are replaced on the next run\n"
            "listen: 127.0.0.1:%d\n"
            "http: 127.0.0.1:%d\n"
            "max_payload: %d\n"
            "jetstream {\n"
            "  store_dir: \"%s/nats\"\n"
            "  max_memory_store: 256MB\n"
            "  max_file_store: 2GB\n"
            "}\n",
            a->nats_port, a->monitor_port, MQ_PAYLOAD_WANTED, dir);
    fclose(f);
    *conf_out = conf;
    return 0;
}

static int start_nats(const char *dir, const char *logs, const struct up_args *a,
                      struct stack_proc *p, double deadline)
{
    char *bin = paths_find_program("nats-server");
    char *conf = NULL, *log = xasprintf("%s/nats.log", logs);
    int rc = EXIT_FAIL;
    if (!bin) {
        cli_error("nats-server is not installed (Debian/Ubuntu: apt-get install nats-server, "
                  "or run scripts/install-deps)");
        goto out;
    }
    if (port_open(a->nats_port)) {
        cli_error("port %d is already in use by another program; choose another with "
                  "--nats-port",
                  a->nats_port);
        goto out;
    }
    if (port_open(a->monitor_port)) {
        cli_error("port %d is already in use; choose another with --monitor-port", a->monitor_port);
        goto out;
    }
    if (write_nats_conf(dir, a, &conf) < 0) {
        cli_error("cannot write %s/nats.conf: %s", dir, strerror(errno));
        goto out;
    }
    char *argv[] = {bin, "-c", conf, NULL};
    if (local_spawn("nats", argv, NULL, log, p) < 0) {
        cli_error("cannot start nats-server: %s", strerror(errno));
        goto out;
    }
    p->port = a->nats_port;
    p->port2 = a->monitor_port;
    while (!port_open(a->nats_port)) {
        if (stack_reap(p->pid) || clock_now_s() > deadline) {
            cli_error("nats-server did not start; the end of %s:", log);
            show_log_tail(log);
            kill(p->pid, SIGKILL);
            p->pid = 0;
            goto out;
        }
        sleep_ms(20);
    }
    rc = 0;
out:
    free(bin);
    free(conf);
    free(log);
    return rc;
}

/* Waits for "+PONG" from Redis on a raw socket: memectl links no Redis client. */
static int redis_ping(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int ok = 0;
    char buf[16] = {0};
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && write(fd, "PING\r\n", 6) == 6 &&
        read(fd, buf, sizeof(buf) - 1) > 0)
        ok = strncmp(buf, "+PONG", 5) == 0;
    close(fd);
    return ok;
}

static int start_redis(const char *dir, const char *logs, const struct up_args *a,
                       struct stack_proc *p, double deadline)
{
    char *bin = paths_find_program("redis-server");
    char *log = xasprintf("%s/redis.log", logs);
    char *rdir = xasprintf("%s/redis", dir);
    char port[16];
    int rc = EXIT_FAIL;
    if (!bin) {
        cli_error("redis-server is not installed (apt-get install redis-server, or run "
                  "scripts/install-deps); use --no-redis to go without the cache");
        goto out;
    }
    if (port_open(a->redis_port)) {
        cli_error("port %d is already in use; choose another with --redis-port or use "
                  "--no-redis",
                  a->redis_port);
        goto out;
    }
    paths_mkdir_p(rdir, 0700);
    snprintf(port, sizeof(port), "%d", a->redis_port);
    /* A cache: no persistence, bounded memory, least recently used out. */
    char *argv[] = {bin,
                    "--port",
                    port,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    rdir,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--maxmemory",
                    "256mb",
                    "--maxmemory-policy",
                    "allkeys-lru",
                    "--daemonize",
                    "no",
                    NULL};
    if (local_spawn("redis", argv, NULL, log, p) < 0) {
        cli_error("cannot start redis-server: %s", strerror(errno));
        goto out;
    }
    p->port = a->redis_port;
    while (!redis_ping(a->redis_port)) {
        if (stack_reap(p->pid) || clock_now_s() > deadline) {
            cli_error("redis-server did not start; the end of %s:", log);
            show_log_tail(log);
            kill(p->pid, SIGKILL);
            p->pid = 0;
            goto out;
        }
        sleep_ms(20);
    }
    rc = 0;
out:
    free(bin);
    free(log);
    free(rdir);
    return rc;
}

static int parse_port(const struct cmd_spec *cmd, const char *opt, const char *v, int *out)
{
    char *end;
    long p = strtol(v, &end, 10);
    if (*v == '\0' || *end || p < 1 || p > 65535) {
        cmd_usage_error(cmd, "--%s must be a port number, not \"%s\"", opt, v);
        return -1;
    }
    *out = (int)p;
    return 0;
}

static int parse_up_args(struct cli *cli, int argc, char **argv, struct up_args *a)
{
    struct opt_iter it;
    int r, rc = 0;
    a->workers = 1;
    a->nats_port = 4222;
    a->monitor_port = 8222;
    a->redis_port = 6379;
    a->no_redis = false;
    a->wait_s = 20;
    a->polling_s = a->cooldown_s = a->min_workers = a->max_workers = -1;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        char *end;
        switch (it.key) {
        case 'h':
            rc = -1;
            goto out;
        case UP_WORKERS: {
            long n = strtol(it.value, &end, 10);
            if (*end || n < 0 || n > 32) {
                cmd_usage_error(cli->cmd, "--workers must be from 0 to 32, not \"%s\"", it.value);
                rc = EXIT_USAGE;
                goto out;
            }
            a->workers = (int)n;
            a->workers_given = true;
            break;
        }
        case UP_AUTOSCALE:
            a->autoscale = true;
            break;
        case UP_POLLING:
        case UP_COOLDOWN:
        case UP_MIN_WORKERS:
        case UP_MAX_WORKERS: {
            static const struct {
                int key;
                const char *name;
                long lo, hi;
            } lim[] = {{UP_POLLING, "polling-interval", 1, 3600},
                       {UP_COOLDOWN, "cooldown", 0, 86400},
                       {UP_MIN_WORKERS, "min-workers", 0, 32},
                       {UP_MAX_WORKERS, "max-workers", 1, 32}};
            size_t k = 0;
            while (lim[k].key != it.key)
                k++;
            errno = 0;
            long n = strtol(it.value, &end, 10);
            if (errno || end == it.value || *end || n < lim[k].lo || n > lim[k].hi) {
                cmd_usage_error(cli->cmd, "--%s must be a whole number from %ld to %ld, not \"%s\"",
                                lim[k].name, lim[k].lo, lim[k].hi, it.value);
                rc = EXIT_USAGE;
                goto out;
            }
            int *slot = it.key == UP_POLLING       ? &a->polling_s
                        : it.key == UP_COOLDOWN    ? &a->cooldown_s
                        : it.key == UP_MIN_WORKERS ? &a->min_workers
                                                   : &a->max_workers;
            *slot = (int)n;
            break;
        }
        case UP_SCALEDOBJECT:
            a->scaledobject = it.value;
            break;
        case UP_NATS_PORT:
            if (parse_port(cli->cmd, "nats-port", it.value, &a->nats_port) < 0)
                rc = EXIT_USAGE;
            break;
        case UP_MONITOR_PORT:
            if (parse_port(cli->cmd, "monitor-port", it.value, &a->monitor_port) < 0)
                rc = EXIT_USAGE;
            break;
        case UP_REDIS_PORT:
            if (parse_port(cli->cmd, "redis-port", it.value, &a->redis_port) < 0)
                rc = EXIT_USAGE;
            break;
        case UP_NO_REDIS:
            a->no_redis = true;
            break;
        case UP_WAIT:
            a->wait_s = strtod(it.value, &end);
            if (*end || a->wait_s <= 0) {
                cmd_usage_error(cli->cmd, "--wait must be a number of seconds");
                rc = EXIT_USAGE;
            }
            break;
        }
        if (rc)
            goto out;
    }
    if (r < 0)
        rc = EXIT_USAGE;
    if (!rc && !a->autoscale &&
        (a->polling_s >= 0 || a->cooldown_s >= 0 || a->min_workers >= 0 || a->max_workers >= 0 ||
         a->scaledobject)) {
        cmd_usage_error(cli->cmd, "--polling-interval, --cooldown, --min-workers, --max-workers "
                                  "and --scaledobject go with --autoscale");
        rc = EXIT_USAGE;
    }
    if (!rc && a->autoscale && a->workers_given) {
        cmd_usage_error(cli->cmd, "--workers and --autoscale exclude each other: the autoscaler "
                                  "chooses the number (see --min-workers and --max-workers)");
        rc = EXIT_USAGE;
    }
out:
    opt_release(&it);
    return rc;
}

/* Waits until at least one worker pulls from the consumer. With no worker
 * to wait for (an autoscaled stack at zero), makes the stream and the
 * consumer the workers would make, so requests queue and /jsz shows the lag. */
static int wait_ready(int nats_port, int workers, double deadline)
{
    char url[64];
    snprintf(url, sizeof(url), "nats://127.0.0.1:%d", nats_port);
    struct mq_conn mq;
    struct meme_err err = {0};
    struct mq_connect_opts co = {.url = url, .name = "memectl up"};
    int rc = -1;
    if (mq_connect(&mq, &co, &err) < 0)
        goto out;
    if (workers == 0) {
        if (mq_ensure_stream(&mq, PROTO_STREAM, &err) == 0 &&
            mq_ensure_consumer(&mq, PROTO_STREAM, PROTO_CONSUMER, 60000, &err) == 0)
            rc = 0;
        else
            cli_error("%s", err.msg);
        goto out;
    }
    while (clock_now_s() < deadline) {
        struct mq_depth d;
        if (mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &d, NULL) == 0 && d.waiting > 0) {
            rc = 0;
            break;
        }
        sleep_ms(50);
    }
out:
    mq_close(&mq);
    return rc;
}

/* The path of the running memectl, for the autoscaler it starts. */
static char *self_path(void)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
    if (n <= 0)
        return NULL;
    buf[n] = 0;
    return xstrdup(buf);
}

/* Starts the local autoscaler (memectl __autoscaler) with a's rules. */
static int start_autoscaler(const char *logs, const struct up_args *a, const char *manifest,
                            struct stack_proc *p)
{
    char *self = self_path();
    if (!self) {
        cli_error("cannot find the memectl executable to run the autoscaler");
        return EXIT_FAIL;
    }
    char ports[3][16], over[4][16];
    snprintf(ports[0], sizeof(ports[0]), "%d", a->nats_port);
    snprintf(ports[1], sizeof(ports[1]), "%d", a->monitor_port);
    snprintf(ports[2], sizeof(ports[2]), "%d", a->redis_port);
    char *argv[24];
    int n = 0;
    argv[n++] = self;
    argv[n++] = "__autoscaler";
    argv[n++] = "--manifest";
    argv[n++] = (char *)manifest;
    argv[n++] = "--nats-port";
    argv[n++] = ports[0];
    argv[n++] = "--monitor-port";
    argv[n++] = ports[1];
    argv[n++] = "--redis-port";
    argv[n++] = ports[2];
    const struct {
        const char *flag;
        int v;
    } o[] = {{"--polling-interval", a->polling_s},
             {"--cooldown", a->cooldown_s},
             {"--min-workers", a->min_workers},
             {"--max-workers", a->max_workers}};
    for (size_t i = 0; i < 4; i++)
        if (o[i].v >= 0) {
            snprintf(over[i], sizeof(over[i]), "%d", o[i].v);
            argv[n++] = (char *)o[i].flag;
            argv[n++] = over[i];
        }
    argv[n] = NULL;
    char *log = xasprintf("%s/autoscaler.log", logs);
    int rc = local_spawn("autoscaler", argv, NULL, log, p);
    free(log);
    free(self);
    if (rc < 0) {
        cli_error("cannot start the autoscaler: %s", strerror(-rc));
        return EXIT_FAIL;
    }
    return 0;
}

int cmd_up(struct cli *cli, int argc, char **argv)
{
    struct up_args a;
    struct stack st, next;
    int rc = parse_up_args(cli, argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;

    char *dir = paths_state_dir();
    char *logs = xasprintf("%s/logs", dir);
    char *store = xasprintf("%s/nats", dir);
    char *manifest = NULL;
    struct kube_scaledobject so;
    memset(&so, 0, sizeof(so));
    double deadline = clock_now_s() + a.wait_s;
    int started = 0, lock = -1;
    memset(&next, 0, sizeof(next));

    if (a.autoscale) {
        /* The rules first: a bad manifest or override starts nothing. */
        struct meme_err err = {0};
        manifest =
            a.scaledobject ? xstrdup(a.scaledobject) : manifest_find_bundled(MANIFEST_SCALEDOBJECT);
        if (!manifest) {
            cli_error("the bundled ScaledObject (%s) is neither installed next to memectl "
                      "(share/memectl) nor in its source tree; pass --scaledobject FILE",
                      MANIFEST_SCALEDOBJECT);
            rc = EXIT_FAIL;
            goto out;
        }
        if (local_autoscaler_rules(manifest, a.polling_s, a.cooldown_s, a.min_workers,
                                   a.max_workers, &so, &err) != 0) {
            cli_error("%s", err.msg);
            rc = err.code == MEME_E_NOT_FOUND || err.code == MEME_E_IO ? EXIT_FAIL : EXIT_USAGE;
            goto out;
        }
    }
    if (paths_mkdir_p(logs, 0700) < 0 || paths_mkdir_p(store, 0700) < 0) {
        cli_error("cannot create the state directory %s: %s", dir, strerror(errno));
        rc = EXIT_FAIL;
        goto out;
    }
    lock = stack_lock(dir, NULL);
    stack_load(dir, &st);

    /* Keep what still runs; forget what died. */
    struct stack_proc *nats = stack_find_role(&st, "nats");
    if (nats && stack_proc_alive(nats)) {
        next.procs[next.count++] = *nats;
        a.nats_port = nats->port;
        a.monitor_port = nats->port2;
    } else {
        struct stack_proc p;
        if ((rc = start_nats(dir, logs, &a, &p, deadline)) != 0)
            goto out;
        next.procs[next.count++] = p;
        started++;
    }
    struct stack_proc *redis = stack_find_role(&st, "redis");
    if (redis && stack_proc_alive(redis)) {
        next.procs[next.count++] = *redis;
        a.redis_port = redis->port;
    } else if (!a.no_redis) {
        struct stack_proc p;
        if ((rc = start_redis(dir, logs, &a, &p, deadline)) != 0)
            goto save;
        next.procs[next.count++] = p;
        started++;
    }
    if (a.no_redis && !(redis && stack_proc_alive(redis)))
        a.redis_port = 0;

    /* The autoscaler: --autoscale (re)starts it with the rules given; a
     * fixed --workers count stops it; a plain `up` leaves it be. */
    struct stack_proc *scaler = stack_find_role(&st, "autoscaler");
    bool scaler_alive = scaler && stack_proc_alive(scaler);
    bool autoscaled = a.autoscale || (scaler_alive && !a.workers_given);
    if (scaler_alive && (a.autoscale || a.workers_given)) {
        struct stack_proc *one[1] = {scaler};
        stack_stop_procs(one, 1, 10);
        scaler_alive = false;
    }
    if (scaler_alive)
        next.procs[next.count++] = *scaler;

    /* Workers: keep up to N that run, stop extras, start the missing; an
     * autoscaled stack keeps what runs and leaves the number to the autoscaler. */
    struct stack_proc *extra[STACK_MAX_PROCS];
    size_t nextra = 0;
    int have = 0;
    bool used[STACK_MAX_PROCS + 1] = {false};
    for (size_t i = 0; i < st.count; i++) {
        struct stack_proc *p = &st.procs[i];
        if (strcmp(p->role, "worker") != 0 || !stack_proc_alive(p))
            continue;
        if (autoscaled || have < a.workers) {
            next.procs[next.count++] = *p;
            if (p->port >= 0 && p->port <= STACK_MAX_PROCS)
                used[p->port] = true;
            have++;
        } else {
            extra[nextra++] = p;
        }
    }
    if (nextra)
        stack_stop_procs(extra, nextra, 10);
    for (int idx = 1; !autoscaled && have < a.workers && idx <= STACK_MAX_PROCS; idx++) {
        if (used[idx])
            continue;
        struct stack_proc p;
        if ((rc = local_start_worker(logs, idx, a.nats_port, a.redis_port, &p)) != 0)
            goto save;
        next.procs[next.count++] = p;
        have++;
        started++;
    }
    if (wait_ready(a.nats_port, autoscaled ? 0 : a.workers, deadline) < 0) {
        if (autoscaled)
            cli_error("cannot make stream %s and consumer %s for the autoscaler; see the logs "
                      "in %s",
                      PROTO_STREAM, PROTO_CONSUMER, logs);
        else
            cli_error("the stack started but no worker is pulling requests after %.0f s; see "
                      "the logs in %s",
                      a.wait_s, logs);
        rc = EXIT_FAIL;
        goto save;
    }
    if (a.autoscale) {
        struct stack_proc p;
        if ((rc = start_autoscaler(logs, &a, manifest, &p)) != 0)
            goto save;
        next.procs[next.count++] = p;
        started++;
    }
    rc = EXIT_OK;
save:
    if (stack_save(dir, &next) < 0) {
        cli_error("cannot write the state file in %s: %s", dir, strerror(errno));
        rc = EXIT_FAIL;
    }
    if (rc == EXIT_OK) {
        cli_info(cli, "%s (state in %s)", started ? "stack up" : "stack already up", dir);
        printf("  nats     nats://127.0.0.1:%d   monitoring http://127.0.0.1:%d/jsz\n", a.nats_port,
               a.monitor_port);
        if (a.redis_port)
            printf("  redis    redis://127.0.0.1:%d\n", a.redis_port);
        else
            printf("  redis    not started (--no-redis)\n");
        if (a.autoscale) {
            const struct kube_trigger *t = &so.triggers[0];
            for (int i = 0; i < so.ntriggers; i++)
                if (strcmp(so.triggers[i].type, "nats-jetstream") == 0) {
                    t = &so.triggers[i];
                    break;
                }
            printf("  workers  %d now, autoscaled %d..%d: pollingInterval %ds, cooldownPeriod "
                   "%ds, lagThreshold %lld, activationLagThreshold %lld\n",
                   have, so.min_replicas, so.max_replicas, so.polling_s, so.cooldown_s,
                   (long long)t->lag_threshold, (long long)t->activation_lag_threshold);
            printf("  rules    %s\n", manifest);
        } else if (autoscaled) {
            printf("  workers  %d now, autoscaled (see memectl status)\n", have);
        } else {
            printf("  workers  %d\n", have);
        }
        printf("  logs     %s/\n", logs);
        if (autoscaled)
            cli_info(cli, "next: memectl tui, then b for a burst, and watch the workers come "
                          "and go   stop: memectl down");
        else
            cli_info(cli, "next: memectl gen \"one does not simply | make a meme\"   stop: "
                          "memectl down");
    }
out:
    stack_unlock(lock);
    free(manifest);
    free(dir);
    free(logs);
    free(store);
    return rc;
}
