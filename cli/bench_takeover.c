/*
 * memectl bench --kill-worker / --stop-worker (bench_takeover.h): picking
 * the worker of the local stack to take away, and reporting how long the
 * jobs it held took to be answered by the others.
 */
#include "bench_takeover.h"
#include "cli.h"
#include "paths.h"
#include "stack.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The worker to take away: --worker-pid, else the first worker of the
 * local stack that is still the process `memectl up` started. 0 after
 * saying why not. */
pid_t takeover_pick(long worker_pid)
{
    if (worker_pid) {
        if (kill((pid_t)worker_pid, 0) != 0) {
            cli_error("--worker-pid %ld: %s", worker_pid, strerror(errno));
            return 0;
        }
        return (pid_t)worker_pid;
    }
    char *dir = paths_state_dir();
    struct stack st;
    pid_t pid = 0;
    memset(&st, 0, sizeof(st));
    if (dir && stack_load(dir, &st) == 0)
        for (size_t i = 0; i < st.count && !pid; i++)
            if (strcmp(st.procs[i].role, "worker") == 0 && stack_proc_alive(&st.procs[i]))
                pid = st.procs[i].pid;
    if (!pid)
        cli_error("no running worker of a local stack to take away (start one with `memectl up "
                  "--workers 2`, or give --worker-pid)");
    else {
        size_t workers = 0;
        for (size_t i = 0; i < st.count; i++)
            workers += strcmp(st.procs[i].role, "worker") == 0 && stack_proc_alive(&st.procs[i]);
        if (workers < 2)
            cli_error("warning: the local stack has one worker; its jobs wait for another "
                      "(start more with `memectl up --workers 2`)");
    }
    free(dir);
    return pid;
}

void takeover_text(const struct takeover *tk, bool stop)
{
    if (!tk->done || !tk->pid)
        return;
    printf("%-11s worker %d %s at %.2f s: %zu requests outstanding, %zu answered, the last "
           "%.2f s after\n",
           stop ? "stopped" : "killed", (int)tk->pid, stop ? "SIGSTOP" : "SIGKILL", tk->at,
           tk->outstanding, tk->answered, tk->last_s);
    printf("takeover    %zu jobs of the worker redelivered and answered, the last %.2f s after "
           "the %s\n",
           tk->redelivered, tk->redelivered_s, stop ? "stop" : "kill");
    if (stop)
        printf("late        %zu replies from the resumed worker after the first answer\n",
               tk->late);
}

json_t *takeover_json(const struct takeover *tk, bool stop)
{
    json_t *o = json_object();
    json_object_set_new(o, "signal", json_string(stop ? "SIGSTOP" : "SIGKILL"));
    json_object_set_new(o, "pid", json_integer(tk->pid));
    json_object_set_new(o, "at_s", json_real(tk->at));
    json_object_set_new(o, "outstanding", json_integer((json_int_t)tk->outstanding));
    json_object_set_new(o, "answered", json_integer((json_int_t)tk->answered));
    json_object_set_new(o, "last_answer_s", json_real(tk->last_s));
    json_object_set_new(o, "redelivered", json_integer((json_int_t)tk->redelivered));
    json_object_set_new(o, "recovery_s", json_real(tk->redelivered_s));
    if (stop)
        json_object_set_new(o, "late_replies", json_integer((json_int_t)tk->late));
    return o;
}
