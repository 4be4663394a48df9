/*
 * memectl status: the three autoscalers and the queue behind them, read once
 * (the cluster and the queue at the same time) and printed as text, a wide
 * table or JSON (scaler_view.c draws them).
 */
#include "scaler_view.h"
#include "clock.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

const struct opt_spec status_opts[] = {
    OPT_KUBECONFIG,
    OPT_CONTEXT,
    {ST_NAMESPACE, 'n', "namespace", "NS",
     "look in NS (repeatable; default the stack's namespaces)", "@namespaces"},
    {ST_ALL, 'A', "all-namespaces", NULL, "look in every namespace", NULL},
    {ST_OUTPUT, 'o', "output", "FORMAT", "text, wide or json", "text wide json"},
    OPT_QUEUE,
    {0, 0, NULL, NULL, NULL, NULL},
};

struct queue_job {
    struct cli *cli;
    const struct scaler_args *a;
    struct scaler_view *v;
};

static void *queue_main(void *arg)
{
    struct queue_job *j = arg;
    scaler_view_read_queue(j->cli, j->a, j->v);
    return NULL;
}

int cmd_status(struct cli *cli, int argc, char **argv)
{
    struct scaler_args a;
    struct opt_iter it;
    int rc = scaler_view_parse(cli->cmd, SCALER_OUT_WIDE | SCALER_OUT_JSON, argc, argv, &a, &it);
    if (rc) {
        opt_release(&it);
        return rc < 0 ? EXIT_OK : rc;
    }
    struct scaler_view *v = xcalloc(1, sizeof(*v));
    struct meme_err err = {0};
    /* The queue and the cluster are read at the same time: each costs a few
     * milliseconds of connection set-up. */
    struct queue_job qj = {cli, &a, v};
    pthread_t qt;
    cli_resolve_server(cli);
    bool threaded = pthread_create(&qt, NULL, queue_main, &qj) == 0;
    struct kube_client *kc = scaler_view_connect(&a, &err);
    if (kc) {
        double t0 = clock_now_ms();
        scaler_view_read_cluster(kc, &a, v);
        if (cli->verbose)
            cli_info(cli, "memectl: %ld requests to the API server in %.0f ms",
                     kube_client_requests(kc), clock_now_ms() - t0);
    } else {
        v->cluster_code = err.code;
        snprintf(v->cluster_error, sizeof(v->cluster_error), "%s", err.msg);
    }
    if (threaded)
        pthread_join(qt, NULL);
    else
        scaler_view_read_queue(cli, &a, v);
    if (a.out == OUT_JSON) {
        json_t *j = scaler_view_json(&a, v);
        json_dumpf(j, stdout,
                   JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6) |
                       JSON_ENSURE_ASCII);
        fputc('\n', stdout);
        json_decref(j);
    } else {
        struct buf b = BUF_INIT;
        scaler_view_text(&b, &a, v, a.out == OUT_WIDE, scaler_view_width(1));
        fwrite(b.data, 1, b.len, stdout);
        buf_release(&b);
    }
    rc = scaler_view_exit(v);
    kube_status_release(&v->ks);
    free(v);
    kube_client_free(kc);
    opt_release(&it);
    return rc;
}
