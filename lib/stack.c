/*
 * The state file of the local stack, one process per line:
 *   ROLE PID START PORT PORT2
 * START is field 22 of /proc/PID/stat, so a recycled pid is never mistaken
 * for a process we started.
 */
#include "stack.h"
#include "clock.h"
#include "paths.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char *state_file(const char *dir)
{
    return xasprintf("%s/stack", dir);
}

int stack_lock(const char *dir, volatile int *stop)
{
    char *path = xasprintf("%s/stack.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    free(path);
    if (fd < 0)
        return -errno;
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR || (stop && *stop)) {
            int rc = -errno;
            close(fd);
            return rc;
        }
    }
    return fd;
}

void stack_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int stack_load(const char *dir, struct stack *st)
{
    memset(st, 0, sizeof(*st));
    char *path = state_file(dir);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return errno == ENOENT ? 0 : -errno;
    char line[256];
    while (fgets(line, sizeof(line), f) && st->count < STACK_MAX_PROCS) {
        struct stack_proc p;
        memset(&p, 0, sizeof(p));
        int pid = 0;
        if (sscanf(line, "%15s %d %llu %d %d", p.role, &pid, &p.start, &p.port, &p.port2) >= 4 &&
            pid > 1) {
            p.pid = (pid_t)pid;
            st->procs[st->count++] = p;
        }
    }
    fclose(f);
    return 0;
}

int stack_save(const char *dir, const struct stack *st)
{
    char *path = state_file(dir);
    char *tmp = xasprintf("%s.tmp", path);
    int rc = 0;
    FILE *f = fopen(tmp, "w");
    if (!f) {
        rc = -errno;
        goto out;
    }
    for (size_t i = 0; i < st->count; i++) {
        const struct stack_proc *p = &st->procs[i];
        fprintf(f, "%s %d %llu %d %d\n", p->role, (int)p->pid, p->start, p->port, p->port2);
    }
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        rc = -errno;
out:
    if (rc)
        unlink(tmp);
    free(tmp);
    free(path);
    return rc;
}

unsigned long long stack_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip to the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    p += 2;
    /* Fields from 3 (state) on; start time is field 22. */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p, ' ');
        if (p)
            p++;
    }
    return p ? strtoull(p, NULL, 10) : 0;
}

int stack_proc_alive(const struct stack_proc *p)
{
    if (p->pid <= 1 || kill(p->pid, 0) != 0)
        return 0;
    unsigned long long st = stack_start_time(p->pid);
    if (st == 0 || st != p->start)
        return 0;
    /* A zombie child is dead for our purposes. */
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)p->pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *q = strrchr(buf, ')');
    return !(q && q[1] == ' ' && (q[2] == 'Z' || q[2] == 'X'));
}

int stack_local_nats_url(char *out, size_t outsz)
{
    char *dir = paths_state_dir();
    struct stack st;
    int rc = -1;
    if (stack_load(dir, &st) == 0) {
        for (size_t i = 0; i < st.count; i++) {
            if (strcmp(st.procs[i].role, "nats") == 0 && stack_proc_alive(&st.procs[i])) {
                snprintf(out, outsz, "nats://127.0.0.1:%d", st.procs[i].port);
                rc = 0;
                break;
            }
        }
    }
    free(dir);
    return rc;
}

int stack_reap(pid_t pid)
{
    int st;
    return waitpid(pid, &st, WNOHANG) == pid;
}

struct stack_proc *stack_find_role(struct stack *st, const char *role)
{
    for (size_t i = 0; i < st->count; i++)
        if (strcmp(st->procs[i].role, role) == 0)
            return &st->procs[i];
    return NULL;
}

void stack_stop_procs(struct stack_proc **procs, size_t n, double grace)
{
    for (size_t i = 0; i < n; i++)
        kill(procs[i]->pid, SIGTERM);
    double deadline = clock_now_s() + grace;
    for (;;) {
        size_t alive = 0;
        for (size_t i = 0; i < n; i++) {
            stack_reap(procs[i]->pid);
            alive += stack_proc_alive(procs[i]);
        }
        if (!alive)
            return;
        if (clock_now_s() > deadline)
            break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < n; i++)
        if (stack_proc_alive(procs[i]))
            kill(procs[i]->pid, SIGKILL);
}
