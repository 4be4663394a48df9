/*
 * Starting the local stack's processes (local_stack.c), shared by `memectl
 * up` and the local autoscaler.
 */
#ifndef MEMECTL_LOCAL_STACK_H
#define MEMECTL_LOCAL_STACK_H

#include "stack.h"

/* Starts argv[0] detached in its own session with output appended to log;
 * fills the process record (role, pid, start time). env is NULL-terminated
 * "NAME=value" entries to add. 0 or -errno. */
int local_spawn(const char *role, char *const argv[], char *const env[], const char *log,
                struct stack_proc *p);
/* Starts meme-worker number index against the local NATS (and Redis when
 * redis_port is not 0), logging to logs/worker-INDEX.log. 0, or EXIT_FAIL
 * after reporting why. */
int local_start_worker(const char *logs, int index, int nats_port, int redis_port,
                       struct stack_proc *p);

struct kube_scaledobject;
struct meme_err;
/* The ScaledObject in the manifest at path with the command line's
 * overrides (a negative value keeps the manifest's); errors name the file
 * and the field (local_autoscaler.c). */
int local_autoscaler_rules(const char *path, int polling_s, int cooldown_s, int min, int max,
                           struct kube_scaledobject *so, struct meme_err *err);
/* The hidden `memectl __autoscaler ...` (argv[0] is "__autoscaler"): the
 * local autoscaler's loop, until SIGTERM. */
int local_autoscaler_main(int argc, char **argv);

#endif
