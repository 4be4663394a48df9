/*
 * memectl bench --kill-worker / --stop-worker: which worker to take away,
 * and how the report shows what became of its jobs (cmd_bench.c sends the
 * signal and counts the replies).
 */
#ifndef MEMECTL_BENCH_TAKEOVER_H
#define MEMECTL_BENCH_TAKEOVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The worker taken away during the run, and what became of its jobs. */
struct takeover {
    pid_t pid;
    bool done;            /* the signal was sent */
    double at;            /* seconds into the run */
    size_t outstanding;   /* requests not answered at that moment */
    size_t redelivered;   /* of those, answered on a later delivery */
    size_t answered;      /* of those, answered at all */
    double last_s;        /* the last of them answered, seconds after the signal */
    double redelivered_s; /* the last redelivered one, seconds after the signal */
    size_t late;          /* replies after the first (a resumed worker's) */
};

/* worker_pid when not 0 (checked alive), else the first live worker of the
 * local stack `memectl up` started; 0 after saying why not. */
pid_t takeover_pick(long worker_pid);
/* The report's lines, and its "takeover" object (new reference). */
void takeover_text(const struct takeover *tk, bool stop);
json_t *takeover_json(const struct takeover *tk, bool stop);

#endif
