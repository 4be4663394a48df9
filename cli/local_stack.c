/*
 * Starting the local stack's processes: `memectl up` starts nats-server,
 * redis-server and workers with these, and the local autoscaler starts and
 * stops workers with the same calls, so a worker is the same process
 * whoever started it.
 */
#include "cli.h"
#include "local_stack.h"
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int local_spawn(const char *role, char *const argv[], char *const env[], const char *log,
                struct stack_proc *p)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid == 0) {
        setsid();
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        if (nul >= 0)
            dup2(nul, 0);
        /* A daemon keeps none of its caller's descriptors: a pipe held open
         * here would make whoever reads memectl's output wait forever. */
        close_range(3, ~0U, 0);
        for (size_t i = 0; env && env[i]; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        dprintf(2, "memectl up: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    memset(p, 0, sizeof(*p));
    snprintf(p->role, sizeof(p->role), "%s", role);
    p->pid = pid;
    /* /proc/PID/stat exists as soon as fork returns. */
    for (int i = 0; i < 50 && (p->start = stack_start_time(pid)) == 0; i++)
        sleep_ms(2);
    return 0;
}

int local_start_worker(const char *logs, int index, int nats_port, int redis_port,
                       struct stack_proc *p)
{
    char *bin = paths_find_program("meme-worker");
    if (!bin) {
        cli_error("meme-worker was not found next to memectl or on PATH (run `make`)");
        return EXIT_FAIL;
    }
    char *log = xasprintf("%s/worker-%d.log", logs, index);
    char nats_env[64], redis_env[64], id_env[64];
    snprintf(nats_env, sizeof(nats_env), "NATS_URL=nats://127.0.0.1:%d", nats_port);
    snprintf(redis_env, sizeof(redis_env), "REDIS_URL=redis://127.0.0.1:%d", redis_port);
    snprintf(id_env, sizeof(id_env), "WORKER_ID=local-%d", index);
    /* An empty value is unset for the worker: without --redis-port no cache
     * (whatever the caller's REDIS_URL), and no HTTP port the workers would
     * fight over. */
    char *env[] = {nats_env, redis_port ? redis_env : "REDIS_URL=", id_env, "METRICS_ADDR=", NULL};
    char *argv[] = {bin, NULL};
    int rc = local_spawn("worker", argv, env, log, p);
    p->port = index;
    free(bin);
    free(log);
    if (rc < 0) {
        cli_error("cannot start meme-worker: %s", strerror(-rc));
        return EXIT_FAIL;
    }
    return 0;
}
