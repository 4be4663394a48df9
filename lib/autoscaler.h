/*
 * What the local autoscaler (`memectl up --autoscale`) publishes: a state
 * file, autoscaler.json in the stack's state directory, rewritten atomically
 * after every poll. status, watch, explain, the dashboard and bench read it
 * to show the local autoscaler as a scaler row beside the cluster's.
 */
#ifndef MEME_AUTOSCALER_H
#define MEME_AUTOSCALER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

#define AUTOSCALER_HISTORY 720 /* samples: an hour at pollingInterval 5 */
#define AUTOSCALER_FILE    "autoscaler.json"

struct autoscaler_view {
    pid_t pid;
    double updated; /* wall clock, seconds since the epoch */
    double started;
    /* the rules: the ScaledObject's numbers after the command line's overrides */
    char name[128]; /* namespace/name of the ScaledObject they came from */
    char source[512];
    int min, max, polling_s, cooldown_s;
    int64_t threshold, activation;
    char stream[64], consumer[64], account[64];
    bool behavior; /* the ScaledObject's own HPA behavior, else the defaults */
    char monitor[256];
    /* the last poll */
    int replicas; /* worker processes running */
    int desired;
    bool has_lag;
    int64_t lag, pending, ack_pending;
    bool active;
    char error[256]; /* why the lag could not be read, "" when it could */
    char reason[32];
    char why[320];
    /* the last change */
    bool has_last;
    double last_at;
    int last_from, last_to;
    char last_by[8], last_reason[32], last_why[320];
    /* the next possible change */
    double next_at;    /* < 0: none known */
    int next_replicas; /* -1: unknown */
    char next_why[200];
    int nhist;
    double hist_t[AUTOSCALER_HISTORY];
    int64_t hist_lag[AUTOSCALER_HISTORY]; /* -1: unknown */
    int hist_replicas[AUTOSCALER_HISTORY];
};

/* Appends one sample, dropping the oldest when full. */
void autoscaler_history_push(struct autoscaler_view *v, double t, int64_t lag, int replicas);
/* The view as JSON (the state file's format; status -o json shows it). */
json_t *autoscaler_json(const struct autoscaler_view *v);
/* Writes dir/autoscaler.json atomically; 0 or -errno. */
int autoscaler_write(const char *dir, const struct autoscaler_view *v);
/* Reads it: MEME_E_NOT_FOUND when there is none, MEME_E_BAD_JSON when it is
 * not one. Text fields are stripped of control characters. */
int autoscaler_read(const char *dir, struct autoscaler_view *v, struct meme_err *err);
/* One line for a scaler row: lag against the threshold, the last change
 * and why, the next possible change and when (relative to now, wall clock). */
void autoscaler_detail(const struct autoscaler_view *v, double now, char *out, size_t n);
/* True when the stack in dir records a live autoscaler process. */
bool autoscaler_running(const char *dir);

#endif
