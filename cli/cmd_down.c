/*
 * memectl down: stops exactly the processes `memectl up` recorded (checked
 * by process id and start time): the local autoscaler first so it starts
 * nothing new, then the workers so they finish their jobs while NATS is
 * still there. Idempotent.
 */
#include "autoscaler.h"
#include "cli.h"
#include "paths.h"
#include "stack.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct opt_spec down_opts[] = {{0, 0, NULL, NULL, NULL, NULL}};

int cmd_down(struct cli *cli, int argc, char **argv)
{
    struct opt_iter it;
    struct stack st;
    int r;
    opt_init(&it, cli->cmd, argc, argv);
    while ((r = opt_next(&it)) > 0)
        if (it.key == 'h') {
            opt_release(&it);
            return EXIT_OK;
        }
    opt_release(&it);
    if (r < 0)
        return EXIT_USAGE;

    char *dir = paths_state_dir();
    int lock = stack_lock(dir, NULL);
    stack_load(dir, &st);
    struct stack_proc *workers[STACK_MAX_PROCS], *servers[STACK_MAX_PROCS],
        *scalers[STACK_MAX_PROCS];
    size_t nw = 0, ns = 0, nscalers = 0;
    for (size_t i = 0; i < st.count; i++) {
        if (!stack_proc_alive(&st.procs[i]))
            continue;
        if (strcmp(st.procs[i].role, "worker") == 0)
            workers[nw++] = &st.procs[i];
        else if (strcmp(st.procs[i].role, "autoscaler") == 0)
            scalers[nscalers++] = &st.procs[i];
        else
            servers[ns++] = &st.procs[i];
    }
    if (nw + ns + nscalers == 0) {
        cli_info(cli, "no local stack is running");
    } else {
        /* The autoscaler first: it starts no worker while they stop. */
        stack_stop_procs(scalers, nscalers, 10);
        /* Workers next: they finish or nak their jobs while NATS is still there. */
        stack_stop_procs(workers, nw, 15);
        stack_stop_procs(servers, ns, 10);
        cli_info(cli, "stopped %s%zu worker(s)%s%s", nscalers ? "the autoscaler, " : "", nw,
                 stack_find_role(&st, "nats") ? ", nats-server" : "",
                 stack_find_role(&st, "redis") ? ", redis-server" : "");
    }
    char *state = xasprintf("%s/%s", dir, AUTOSCALER_FILE);
    unlink(state);
    free(state);
    char *file = xasprintf("%s/stack", dir);
    unlink(file);
    free(file);
    stack_unlock(lock);
    free(dir);
    return EXIT_OK;
}
