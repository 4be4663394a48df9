/*
 * The local autoscaler's state file (see autoscaler.h): JSON through
 * jansson, written to a temporary file and renamed so a reader never sees
 * half of it.
 */
#include "autoscaler.h"
#include "stack.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void autoscaler_history_push(struct autoscaler_view *v, double t, int64_t lag, int replicas)
{
    if (v->nhist == AUTOSCALER_HISTORY) {
        memmove(v->hist_t, v->hist_t + 1, (AUTOSCALER_HISTORY - 1) * sizeof(v->hist_t[0]));
        memmove(v->hist_lag, v->hist_lag + 1, (AUTOSCALER_HISTORY - 1) * sizeof(v->hist_lag[0]));
        memmove(v->hist_replicas, v->hist_replicas + 1,
                (AUTOSCALER_HISTORY - 1) * sizeof(v->hist_replicas[0]));
        v->nhist--;
    }
    v->hist_t[v->nhist] = t;
    v->hist_lag[v->nhist] = lag;
    v->hist_replicas[v->nhist] = replicas;
    v->nhist++;
}

static json_t *time_or_null(double t)
{
    return t > 0 ? json_real(t) : json_null();
}

json_t *autoscaler_json(const struct autoscaler_view *v)
{
    json_t *o = json_object();
    json_object_set_new(o, "pid", json_integer(v->pid));
    json_object_set_new(o, "updated", json_real(v->updated));
    json_object_set_new(o, "started", json_real(v->started));
    json_object_set_new(
        o, "rules",
        json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:s,s:s,s:s,s:b,s:s}", "scaledObject", v->name,
                  "source", v->source, "minReplicaCount", v->min, "maxReplicaCount", v->max,
                  "pollingInterval", v->polling_s, "cooldownPeriod", v->cooldown_s, "lagThreshold",
                  (json_int_t)v->threshold, "activationLagThreshold", (json_int_t)v->activation,
                  "stream", v->stream, "consumer", v->consumer, "account", v->account, "behavior",
                  v->behavior, "monitor", v->monitor));
    json_object_set_new(o, "replicas", json_integer(v->replicas));
    json_object_set_new(o, "desired", json_integer(v->desired));
    json_object_set_new(o, "lag", v->has_lag ? json_integer(v->lag) : json_null());
    json_object_set_new(o, "pending", v->has_lag ? json_integer(v->pending) : json_null());
    json_object_set_new(o, "ackPending", v->has_lag ? json_integer(v->ack_pending) : json_null());
    json_object_set_new(o, "active", json_boolean(v->active));
    json_object_set_new(o, "error", v->error[0] ? json_string(v->error) : json_null());
    json_object_set_new(o, "reason", json_string(v->reason));
    json_object_set_new(o, "why", json_string(v->why));
    json_object_set_new(o, "last",
                        v->has_last
                            ? json_pack("{s:f,s:i,s:i,s:s,s:s,s:s}", "at", v->last_at, "from",
                                        v->last_from, "to", v->last_to, "by", v->last_by, "reason",
                                        v->last_reason, "why", v->last_why)
                            : json_null());
    json_object_set_new(
        o, "next",
        json_pack("{s:o,s:o,s:s}", "at", time_or_null(v->next_at), "replicas",
                  v->next_replicas >= 0 ? json_integer(v->next_replicas) : json_null(), "why",
                  v->next_why));
    json_t *h = json_array();
    for (int i = 0; i < v->nhist; i++)
        json_array_append_new(
            h, json_pack("[f,o,i]", v->hist_t[i],
                         v->hist_lag[i] >= 0 ? json_integer(v->hist_lag[i]) : json_null(),
                         v->hist_replicas[i]));
    json_object_set_new(o, "history", h);
    return o;
}

int autoscaler_write(const char *dir, const struct autoscaler_view *v)
{
    char *path = xasprintf("%s/%s", dir, AUTOSCALER_FILE);
    char *tmp = xasprintf("%s.tmp", path);
    json_t *o = autoscaler_json(v);
    int rc = 0;
    if (json_dump_file(o, tmp, JSON_COMPACT | JSON_REAL_PRECISION(15)) != 0 ||
        rename(tmp, path) != 0) {
        rc = errno ? -errno : -EIO;
        unlink(tmp);
    }
    json_decref(o);
    free(tmp);
    free(path);
    return rc;
}

/* Copies a string field, dropping control characters (the file is only
 * ours, but what reaches a terminal is never trusted). */
static void text(char *dst, size_t n, json_t *s)
{
    const char *v = json_string_value(s);
    size_t k = 0;
    for (; v && *v && k + 1 < n; v++)
        if ((unsigned char)*v >= 0x20 && *v != 0x7f)
            dst[k++] = *v;
    dst[k] = 0;
}

static int64_t int_of(json_t *o, const char *key, int64_t dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? json_integer_value(v) : dflt;
}

static double num_of(json_t *o, const char *key, double dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

int autoscaler_read(const char *dir, struct autoscaler_view *v, struct meme_err *err)
{
    memset(v, 0, sizeof(*v));
    v->next_at = -1;
    v->next_replicas = -1;
    char *path = xasprintf("%s/%s", dir, AUTOSCALER_FILE);
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    int rc = 0;
    if (!o) {
        rc = access(path, F_OK) != 0
                 ? meme_err_set(err, MEME_E_NOT_FOUND, "no local autoscaler state in %s", dir)
                 : meme_err_set(err, MEME_E_BAD_JSON, "%s: %s", path, je.text);
        goto out;
    }
    json_t *r = json_object_get(o, "rules");
    if (!json_is_object(o) || !json_is_object(r)) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "%s is not the local autoscaler's state", path);
        goto out;
    }
    v->pid = (pid_t)int_of(o, "pid", 0);
    v->updated = num_of(o, "updated", 0);
    v->started = num_of(o, "started", 0);
    text(v->name, sizeof(v->name), json_object_get(r, "scaledObject"));
    text(v->source, sizeof(v->source), json_object_get(r, "source"));
    v->min = (int)int_of(r, "minReplicaCount", 0);
    v->max = (int)int_of(r, "maxReplicaCount", 0);
    v->polling_s = (int)int_of(r, "pollingInterval", 0);
    v->cooldown_s = (int)int_of(r, "cooldownPeriod", 0);
    v->threshold = int_of(r, "lagThreshold", 0);
    v->activation = int_of(r, "activationLagThreshold", 0);
    text(v->stream, sizeof(v->stream), json_object_get(r, "stream"));
    text(v->consumer, sizeof(v->consumer), json_object_get(r, "consumer"));
    text(v->account, sizeof(v->account), json_object_get(r, "account"));
    v->behavior = json_is_true(json_object_get(r, "behavior"));
    text(v->monitor, sizeof(v->monitor), json_object_get(r, "monitor"));
    v->replicas = (int)int_of(o, "replicas", 0);
    v->desired = (int)int_of(o, "desired", 0);
    v->has_lag = json_is_integer(json_object_get(o, "lag"));
    v->lag = int_of(o, "lag", 0);
    v->pending = int_of(o, "pending", 0);
    v->ack_pending = int_of(o, "ackPending", 0);
    v->active = json_is_true(json_object_get(o, "active"));
    text(v->error, sizeof(v->error), json_object_get(o, "error"));
    text(v->reason, sizeof(v->reason), json_object_get(o, "reason"));
    text(v->why, sizeof(v->why), json_object_get(o, "why"));
    json_t *l = json_object_get(o, "last");
    if (json_is_object(l)) {
        v->has_last = true;
        v->last_at = num_of(l, "at", 0);
        v->last_from = (int)int_of(l, "from", 0);
        v->last_to = (int)int_of(l, "to", 0);
        text(v->last_by, sizeof(v->last_by), json_object_get(l, "by"));
        text(v->last_reason, sizeof(v->last_reason), json_object_get(l, "reason"));
        text(v->last_why, sizeof(v->last_why), json_object_get(l, "why"));
    }
    json_t *n = json_object_get(o, "next");
    v->next_at = num_of(n, "at", -1);
    v->next_replicas = (int)int_of(n, "replicas", -1);
    text(v->next_why, sizeof(v->next_why), json_object_get(n, "why"));
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "history"), i, e)
    {
        if (!json_is_array(e) || json_array_size(e) != 3)
            continue;
        json_t *lag = json_array_get(e, 1);
        autoscaler_history_push(v, json_number_value(json_array_get(e, 0)),
                                json_is_integer(lag) ? json_integer_value(lag) : -1,
                                (int)json_integer_value(json_array_get(e, 2)));
    }
out:
    json_decref(o);
    free(path);
    return rc;
}

bool autoscaler_running(const char *dir)
{
    struct stack st;
    if (stack_load(dir, &st) != 0)
        return false;
    struct stack_proc *p = stack_find_role(&st, "autoscaler");
    return p && stack_proc_alive(p);
}

void autoscaler_detail(const struct autoscaler_view *v, double now, char *out, size_t n)
{
    size_t off = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (off < n) {                                                                             \
            int k = snprintf(out + off, n - off, __VA_ARGS__);                                     \
            off += k > 0 ? (size_t)k : 0;                                                          \
        }                                                                                          \
    } while (0)
    out[0] = 0;
    if (v->has_lag)
        ADD("lag %lld/%lld %s", (long long)v->lag, (long long)v->threshold,
            v->active ? "active" : "idle");
    else
        ADD("lag unknown: %s", v->error);
    if (v->has_last)
        ADD("; %d->%d %s %s %.0fs ago", v->last_from, v->last_to, v->last_by, v->last_reason,
            now - v->last_at > 0 ? now - v->last_at : 0);
    if (v->next_at > 0 && v->next_replicas >= 0)
        ADD("; next %d in %.0fs", v->next_replicas, v->next_at - now > 0 ? v->next_at - now : 0);
    else if (v->next_at > 0)
        ADD("; next pass in %.0fs", v->next_at - now > 0 ? v->next_at - now : 0);
#undef ADD
}
