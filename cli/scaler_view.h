/*
 * What status, watch and explain share: their common options, the arguments
 * they parse, and one screen of scalers and queue (struct scaler_view) read
 * from the cluster (lib/kube/kube_status) and the JetStream consumer
 * (lib/mq), drawn as text, a wide table or JSON.
 */
#ifndef MEMECTL_SCALER_VIEW_H
#define MEMECTL_SCALER_VIEW_H

#include "cli.h"
#include "autoscaler.h"
#include "buf.h"
#include "kube/kube.h"
#include "kube/kube_status.h"
#include "mq/mq.h"

#include <jansson.h>
#include <stdbool.h>

enum {
    ST_KUBECONFIG = 1000,
    ST_CONTEXT,
    ST_STREAM,
    ST_CONSUMER,
    ST_INTERVAL,
    ST_COUNT,
    ST_JSON,
    ST_NAMESPACE = 'n',
    ST_ALL = 'A',
    ST_OUTPUT = 'o',
};

#define OPT_KUBECONFIG                                                                             \
    {                                                                                              \
        ST_KUBECONFIG, 0, "kubeconfig", "FILE",                                                    \
            "kubeconfig to use (default $KUBECONFIG, else ~/.kube/config, else in-cluster)", NULL  \
    }
#define OPT_CONTEXT                                                                                \
    {                                                                                              \
        ST_CONTEXT, 0, "context", "NAME", "kubeconfig context (default its current-context)",      \
            "@contexts"                                                                            \
    }
#define OPT_QUEUE                                                                                  \
    {ST_STREAM, 0, "stream", "NAME", "JetStream stream (default MEMES)", NULL},                    \
    {                                                                                              \
        ST_CONSUMER, 0, "consumer", "NAME", "durable consumer (default meme-generator)", NULL      \
    }

/* Which --output values a command takes besides text. */
#define SCALER_OUT_WIDE 1u
#define SCALER_OUT_JSON 2u

enum out_format { OUT_TEXT, OUT_WIDE, OUT_JSON };

struct scaler_args {
    const char *kubeconfig;
    const char *ns[16];
    int nns;
    bool all;
    enum out_format out;
    const char *stream, *consumer;
    double interval;
    long count;
};

/* What one screen shows: the cluster (or why not) and the queue (or why not). */
struct scaler_view {
    bool have_cluster;
    char cluster_error[600];
    int cluster_code;
    char context[128];
    char server[256];
    struct kube_status ks;
    bool have_queue;
    char queue_error[600];
    char queue_url[512];
    struct mq_depth q;
    /* the local autoscaler of `memectl up --autoscale` (local_view.c) */
    bool have_local;
    struct autoscaler_view local;
};

/* Parses the options of status, watch or explain into a (defaults: the
 * stack's namespaces, stream MEMES, consumer meme-generator, 2 s). -1 after
 * help was shown, EXIT_USAGE after a usage error, else 0; the caller
 * releases it either way. */
int scaler_view_parse(const struct cmd_spec *cmd, unsigned outputs, int argc, char **argv,
                      struct scaler_args *a, struct opt_iter *it);
/* A client for the configured cluster, or NULL with err filled. */
struct kube_client *scaler_view_connect(const struct scaler_args *a, struct meme_err *err);
/* Reads the queue (consumer depth) into v; on failure v says why. */
void scaler_view_read_queue(struct cli *cli, const struct scaler_args *a, struct scaler_view *v);
/* The kinds a screen needs: the table needs the scalers and their
 * workloads; JSON and wide output also join pods and their metrics (the
 * VPA's usage, the pod lines). */
unsigned scaler_view_kinds(const struct scaler_args *a);
/* Reads the cluster's scalers into v; on failure v says why. */
void scaler_view_read_cluster(struct kube_client *kc, const struct scaler_args *a,
                              struct scaler_view *v);
/* The screen as text appended to b: the scaler table sized for lines of
 * width columns (0: no limit), the queue, notes and conflicts; wide: every
 * column whatever the width, and each scaler's details below the table. */
void scaler_view_text(struct buf *b, const struct scaler_args *a, const struct scaler_view *v,
                      bool wide, int width);
/* The width to lay text out for: $COLUMNS, else the terminal on fd, else 0
 * (not a terminal: no limit, nothing cut). */
int scaler_view_width(int fd);
/* The screen as JSON (the caller's reference). */
json_t *scaler_view_json(const struct scaler_args *a, const struct scaler_view *v);
/* The exit status for a screen: 0 when either the cluster or the queue was read. */
int scaler_view_exit(const struct scaler_view *v);

/* Pieces explain and watch draw with too. */
/* The current and target value of an HPA metric as text. */
void scaler_view_metric_text(const struct kube_hpa_metric *m, char *cur, size_t cn, char *tgt,
                             size_t tn);
/* The workloads driven by more than one autoscaler, as text ("" for none). */
void scaler_view_conflicts(const struct kube_status *ks, char *out, size_t n);
/* The name of a metric target type (Utilization, AverageValue, Value). */
const char *scaler_view_target_type(enum kube_target_type t);
/* A quantity as a JSON number, or null when it is absent. */
json_t *scaler_view_quantity_json(const struct kube_quantity *q, bool has);
/* The queue lag KEDA reported through its HPA (lag per replica times replicas). */
bool scaler_view_hpa_lag(const struct kube_hpa *h, int64_t *lag);
/* The resource requests of the named container of w, or NULL. */
const struct kube_resources *scaler_view_requests_of(const struct kube_workload *w,
                                                     const char *name);
/* CPU (cpu true) or memory of r as JSON. */
json_t *scaler_view_resources_json(const struct kube_resources *r, bool cpu);
/* A CPU quantity as text ("-" when absent), written into buf. */
const char *scaler_view_cpu(const struct kube_quantity *q, bool has, char *buf, size_t n);
/* A memory quantity as text ("-" when absent), written into buf. */
const char *scaler_view_mem(const struct kube_quantity *q, bool has, char *buf, size_t n);

/* The local autoscaler's row (local_view.c): read with the queue, drawn
 * after the cluster's scalers, as JSON under "local", and explained. */
void local_view_read(struct scaler_view *v);
void local_view_text(struct buf *b, const struct scaler_view *v, bool wide);
json_t *local_view_json(const struct scaler_view *v);
/* `memectl explain local`: text into b, and JSON when j is not NULL. */
int local_view_explain(struct buf *b, json_t **j);

#endif
