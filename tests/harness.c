/*
 * The integration harness (see harness.h). Every process it starts is also
 * recorded in a table that an atexit handler and a signal handler sweep, so
 * a crashing or interrupted test run leaves no servers behind.
 */
#include "harness.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN 64

static void apply_env(char *const env[]);

static pid_t children[MAX_CHILDREN];
static char *dirs[MAX_CHILDREN];
static bool failed;
static bool installed;

static void sweep(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0) {
            kill(children[i], SIGKILL);
            waitpid(children[i], NULL, 0);
            children[i] = 0;
        }
}

static void on_fatal(int sig)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void track(pid_t pid)
{
    if (!installed) {
        installed = true;
        atexit(sweep);
        signal(SIGINT, on_fatal);
        signal(SIGTERM, on_fatal);
        signal(SIGALRM, on_fatal);
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == 0) {
            children[i] = pid;
            return;
        }
}

static void untrack(pid_t pid)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (children[i] == pid)
            children[i] = 0;
}

void harness_failed(void)
{
    failed = true;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int harness_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(sa.sin_port);
}

static bool port_open(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

char *harness_tmpdir(const char *tag)
{
    const char *base = getenv("TMPDIR");
    char *tmpl = xasprintf("%s/memectl-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (!mkdtemp(tmpl)) {
        free(tmpl);
        return NULL;
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (!dirs[i]) {
            dirs[i] = xstrdup(tmpl);
            break;
        }
    return tmpl;
}

void harness_rmrf(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0)
        return;
    char *argv[] = {"rm", "-rf", (char *)path, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execvp("rm", argv);
        _exit(127);
    }
    if (pid > 0)
        waitpid(pid, NULL, 0);
}

char *harness_bin(const char *name)
{
    const char *dir = getenv("MEME_BUILD_DIR");
    if (dir && *dir)
        return xasprintf("%s/%s", dir, name);
    char exe[512];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return xasprintf("build/test/%s", name);
    exe[n] = '\0';
    /* Tests live in BUILD/tests/; the programs in BUILD/. */
    char *slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(exe, '/');
    if (slash)
        *slash = '\0';
    return xasprintf("%s/%s", exe, name);
}

/* Under MEME_VALGRIND, the project's own programs run inside valgrind (and
 * every wait is ten times longer). */
static bool valgrind_on(void)
{
    const char *v = getenv("MEME_VALGRIND");
    return v && *v && strcmp(v, "0") != 0;
}

static int scaled(int ms)
{
    return valgrind_on() ? ms * 10 : ms;
}

static void exec_program(char *const argv[])
{
    const char *base = strrchr(argv[0], '/');
    base = base ? base + 1 : argv[0];
    if (valgrind_on() && (strcmp(base, "memectl") == 0 || strcmp(base, "meme-worker") == 0 ||
                          strcmp(base, "meme-gateway") == 0)) {
        char *vg[64] = {"valgrind",
                        "--quiet",
                        "--error-exitcode=99",
                        "--leak-check=full",
                        "--show-leak-kinds=definite",
                        "--errors-for-leak-kinds=definite"};
        int n = 6;
        /* Reports of processes whose exit status nobody checks (workers) go to files. */
        const char *logs = getenv("MEME_VALGRIND_LOGS");
        char logopt[512];
        if (logs && *logs) {
            snprintf(logopt, sizeof(logopt), "--log-file=%s/vg.%%p", logs);
            vg[n++] = logopt;
        }
        for (int i = 0; argv[i] && n < 63; i++)
            vg[n++] = argv[i];
        vg[n] = NULL;
        execvp(vg[0], vg);
    }
    execvp(argv[0], argv);
}

pid_t harness_spawn(char *const argv[], char *const env[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = log ? open(log, O_WRONLY | O_CREAT | O_APPEND, 0644) : -1;
        int nul = open("/dev/null", O_RDWR);
        dup2(nul, 0);
        dup2(fd >= 0 ? fd : nul, 1);
        dup2(fd >= 0 ? fd : nul, 2);
        apply_env(env);
        exec_program(argv);
        dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    track(pid);
    return pid;
}

int harness_kill(pid_t pid, int grace_ms)
{
    int status = -1;
    if (pid <= 0)
        return -1;
    kill(pid, SIGTERM);
    long long deadline = now_ms() + scaled(grace_ms);
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0) {
            status = -1;
            break;
        }
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            break;
        }
        sleep_ms(10);
    }
    untrack(pid);
    return status;
}

/* "K=V" sets, a bare "K" unsets. */
static void apply_env(char *const env[])
{
    for (size_t i = 0; env && env[i]; i++) {
        if (strchr(env[i], '='))
            putenv(env[i]);
        else
            unsetenv(env[i]);
    }
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char line[1024];
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof(line), f))
        fprintf(stderr, "| %s", line);
    fclose(f);
}

static int nats_wait(struct harness_server *s)
{
    long long deadline = now_ms() + 10000;
    while (!port_open(s->port)) {
        if (now_ms() > deadline || waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            fprintf(stderr, "harness: nats-server did not start\n");
            print_file(s->log);
            return -1;
        }
        sleep_ms(10);
    }
    return 0;
}

static int nats_start(struct harness_server *s, bool big_payload, long long max_file_store,
                      const char *extra_conf)
{
    memset(s, 0, sizeof(*s));
    char *dir = harness_tmpdir("nats");
    if (!dir)
        return -1;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    free(dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    s->port = harness_free_port();
    s->monitor_port = harness_free_port();
    char conf[300];
    snprintf(conf, sizeof(conf), "%s/nats.conf", s->dir);
    FILE *f = fopen(conf, "w");
    if (!f)
        return -1;
    fprintf(f, "listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\n", s->port, s->monitor_port);
    if (big_payload)
        fprintf(f, "max_payload: 8388608\n");
    if (max_file_store > 0)
        fprintf(f, "jetstream { store_dir: \"%s/js\", max_file_store: %lld }\n", s->dir,
                max_file_store);
    else
        fprintf(f, "jetstream { store_dir: \"%s/js\" }\n", s->dir);
    if (extra_conf)
        fprintf(f, "%s\n", extra_conf);
    fclose(f);
    snprintf(s->url, sizeof(s->url), "nats://127.0.0.1:%d", s->port);
    char *argv[] = {"nats-server", "-c", conf, NULL};
    s->pid = harness_spawn(argv, NULL, s->log);
    return nats_wait(s);
}

int harness_nats_start(struct harness_server *s)
{
    return nats_start(s, true, 0, NULL);
}

int harness_nats_start_conf(struct harness_server *s, const char *extra_conf)
{
    return nats_start(s, true, 0, extra_conf);
}

int harness_nats_start_default_payload(struct harness_server *s)
{
    return nats_start(s, false, 0, NULL);
}

int harness_nats_start_store(struct harness_server *s, long long max_file_store)
{
    return nats_start(s, true, max_file_store, NULL);
}

int harness_nats_restart(struct harness_server *s, bool wipe)
{
    char conf[300], js[300];
    if (s->pid > 0)
        harness_stop(s);
    if (wipe) {
        snprintf(js, sizeof(js), "%s/js", s->dir);
        harness_rmrf(js);
    }
    snprintf(conf, sizeof(conf), "%s/nats.conf", s->dir);
    char *argv[] = {"nats-server", "-c", conf, NULL};
    s->pid = harness_spawn(argv, NULL, s->log);
    return nats_wait(s);
}

static bool redis_pong(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    char buf[16] = {0};
    bool ok = false;
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        write(fd, "PING\r\n", 6) == 6) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) == 1 && read(fd, buf, sizeof(buf) - 1) > 0)
            ok = strncmp(buf, "+PONG", 5) == 0;
    }
    if (fd >= 0)
        close(fd);
    return ok;
}

static int redis_spawn(struct harness_server *s);

int harness_redis_start(struct harness_server *s)
{
    memset(s, 0, sizeof(*s));
    char *dir = harness_tmpdir("redis");
    if (!dir)
        return -1;
    snprintf(s->dir, sizeof(s->dir), "%s", dir);
    free(dir);
    snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
    s->port = harness_free_port();
    snprintf(s->url, sizeof(s->url), "redis://127.0.0.1:%d", s->port);
    return redis_spawn(s);
}

int harness_redis_restart(struct harness_server *s)
{
    if (s->pid > 0)
        harness_stop(s);
    return redis_spawn(s);
}

static int redis_spawn(struct harness_server *s)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *argv[] = {"redis-server", "--port", port, "--bind",       "127.0.0.1", "--dir",
                    s->dir,         "--save", "",   "--appendonly", "no",        NULL};
    s->pid = harness_spawn(argv, NULL, s->log);
    long long deadline = now_ms() + 10000;
    while (!redis_pong(s->port)) {
        if (now_ms() > deadline || waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            fprintf(stderr, "harness: redis-server did not start\n");
            print_file(s->log);
            return -1;
        }
        sleep_ms(10);
    }
    return 0;
}

void harness_stop(struct harness_server *s)
{
    if (!s || s->pid <= 0)
        return;
    harness_kill(s->pid, 5000);
    s->pid = 0;
}

int harness_finish(int failures)
{
    bool keep = failures || failed || getenv("HARNESS_KEEP");
    for (int i = 0; i < MAX_CHILDREN; i++) {
        if (!dirs[i])
            continue;
        if (keep) {
            char *cmd = xasprintf("find '%s' -name '*.log' -type f", dirs[i]);
            FILE *p = popen(cmd, "r");
            char line[512];
            while (p && fgets(line, sizeof(line), p)) {
                line[strcspn(line, "\n")] = '\0';
                print_file(line);
            }
            if (p)
                pclose(p);
            free(cmd);
            fprintf(stderr, "harness: kept %s\n", dirs[i]);
        } else {
            harness_rmrf(dirs[i]);
        }
        free(dirs[i]);
        dirs[i] = NULL;
    }
    return failures ? 1 : 0;
}

static void drain(int fd, struct buf *b, bool *open_)
{
    char chunk[8192];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n > 0) {
        if (b)
            buf_append(b, chunk, (size_t)n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        *open_ = false;
    }
}

int harness_run(char *const argv[], char *const env[], struct buf *out, struct buf *err,
                int timeout_ms)
{
    int po[2], pe[2];
    if (pipe(po) != 0)
        return -1;
    if (pipe(pe) != 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int nul = open("/dev/null", O_RDONLY);
        dup2(nul, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        close(po[1]);
        close(pe[1]);
        if (nul > 2)
            close(nul);
        apply_env(env);
        exec_program(argv);
        dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    track(pid);
    close(po[1]);
    close(pe[1]);
    bool oo = true, eo = true;
    long long deadline = now_ms() + timeout_ms;
    int status = 0;
    bool timed_out = false;
    deadline = now_ms() + scaled(timeout_ms);
    while (oo || eo) {
        struct pollfd p[2] = {{oo ? po[0] : -1, POLLIN, 0}, {eo ? pe[0] : -1, POLLIN, 0}};
        long long left = deadline - now_ms();
        if (left <= 0) {
            timed_out = true;
            break;
        }
        int r = poll(p, 2, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (p[0].revents)
            drain(po[0], out, &oo);
        if (p[1].revents)
            drain(pe[0], err, &eo);
    }
    if (timed_out) {
        kill(pid, SIGKILL);
        fprintf(stderr, "harness: %s timed out after %d ms\n", argv[0], timeout_ms);
    }
    waitpid(pid, &status, 0);
    untrack(pid);
    close(po[0]);
    close(pe[0]);
    if (timed_out || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

bool harness_wait_for(bool (*fn)(void *), void *arg, int timeout_ms)
{
    long long deadline = now_ms() + scaled(timeout_ms);
    while (now_ms() < deadline) {
        if (fn(arg))
            return true;
        sleep_ms(20);
    }
    return fn(arg);
}
