/*
 * Integration test harness: real nats-server -js and redis-server processes
 * on 127.0.0.1 with free ports and a scratch directory each, started and
 * stopped by the tests (SIGTERM, then SIGKILL), with their logs kept when a
 * test fails. Also runs the project's binaries as child processes.
 */
#ifndef MEME_HARNESS_H
#define MEME_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct harness_server {
    pid_t pid;
    int port;
    int monitor_port;
    char dir[256];
    char log[300];
    char url[64];
};

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);
/* Starts nats-server -js with max_payload 8 MB; 0 or -1 (with the log shown). */
int harness_nats_start(struct harness_server *s);
/* Same, with extra_conf (nats-server configuration text) added to the
 * generated file, e.g. an authorization block. */
int harness_nats_start_conf(struct harness_server *s, const char *extra_conf);
/* Same, with max_payload left at the server's 1 MiB default. */
int harness_nats_start_default_payload(struct harness_server *s);
/* Same as harness_nats_start(), with JetStream's file store limited to
 * max_file_store bytes (the server's max_file_store). */
int harness_nats_start_store(struct harness_server *s, long long max_file_store);
/* Starts a stopped nats-server again on the same port with its configuration;
 * with wipe, its JetStream store is removed first (a fresh, empty broker).
 * 0 once it accepts connections, or -1. */
int harness_nats_restart(struct harness_server *s, bool wipe);
int harness_redis_start(struct harness_server *s);
/* Starts a stopped redis-server again on the same port. 0 or -1. */
int harness_redis_restart(struct harness_server *s);
/* Stops the server (its directory stays until harness_finish). */
void harness_stop(struct harness_server *s);
/* Ends a test program: removes every scratch directory, or, when a test
 * failed (or HARNESS_KEEP is set), prints every *.log in them and keeps them.
 * Returns the exit status for main(). */
int harness_finish(int failures);

/* Path of a built program (MEME_BUILD_DIR, else the test binary's ../). A new string. */
char *harness_bin(const char *name);
/* Starts a program in the background with extra env ("K=V" sets, "K" unsets;
 * NULL-terminated),
 * output appended to log. Returns its pid or -1. */
pid_t harness_spawn(char *const argv[], char *const env[], const char *log);
/* Stops a spawned process: SIGTERM, wait up to grace_ms, SIGKILL. Returns its
 * exit status (as waitpid) or -1. */
int harness_kill(pid_t pid, int grace_ms);
/* Runs a program to completion with stdin from /dev/null, capturing stdout and
 * stderr, killing it after timeout_ms. Returns the exit code, or -1. */
int harness_run(char *const argv[], char *const env[], struct buf *out, struct buf *err,
                int timeout_ms);
/* A new scratch directory under $TMPDIR, removed by harness_finish(). */
char *harness_tmpdir(const char *tag);
void harness_rmrf(const char *path);
/* Marks the run as failed so logs are kept and printed. */
void harness_failed(void);
/* Waits until fn(arg) returns true or timeout_ms passes. */
bool harness_wait_for(bool (*fn)(void *), void *arg, int timeout_ms);

#endif
