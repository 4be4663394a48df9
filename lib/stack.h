/*
 * The local stack's state file: which processes `memectl up` started (role,
 * pid, start time, port), so `memectl down` stops exactly those and other
 * commands find the local NATS server.
 */
#ifndef MEME_STACK_H
#define MEME_STACK_H

#include <stddef.h>
#include <sys/types.h>

#define STACK_MAX_PROCS 64

struct stack_proc {
    char role[16]; /* "nats", "redis", "worker", "autoscaler" */
    pid_t pid;
    unsigned long long start; /* /proc/PID/stat start time, guards against pid reuse */
    int port;                 /* nats: client port; redis: port; worker: index */
    int port2;                /* nats: monitoring port */
};

struct stack {
    size_t count;
    struct stack_proc procs[STACK_MAX_PROCS];
};

/* Takes the stack's lock (dir/stack.lock), waiting for it: `memectl up`,
 * `down` and the local autoscaler change the state file under it. Returns a
 * descriptor for stack_unlock(), or -errno; gives up with -EINTR when a
 * signal arrives and *stop is set (stop may be NULL). */
int stack_lock(const char *dir, volatile int *stop);
void stack_unlock(int fd);
/* Reads the state file in dir; an absent file is an empty stack (0). */
int stack_load(const char *dir, struct stack *st);
/* Writes it atomically; 0 or -errno. */
int stack_save(const char *dir, const struct stack *st);
/* True when the process is still the one that was started. */
int stack_proc_alive(const struct stack_proc *p);
/* The start time of pid from /proc, or 0. */
unsigned long long stack_start_time(pid_t pid);
/* "nats://127.0.0.1:PORT" of a running local stack; -1 when there is none. */
int stack_local_nats_url(char *out, size_t outsz);
/* Reaps pid if it is a child that already exited; 1 when it is gone. */
int stack_reap(pid_t pid);
/* The first process of st with role ("nats", "redis", "worker"), or NULL. */
struct stack_proc *stack_find_role(struct stack *st, const char *role);
/* Sends SIGTERM to each process, waits up to grace seconds for all of them,
 * then SIGKILLs what is left. */
void stack_stop_procs(struct stack_proc **procs, size_t n, double grace);

#endif
