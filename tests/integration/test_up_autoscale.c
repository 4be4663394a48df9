/*
 * `memectl up --autoscale` end to end, with the bundled ScaledObject's own
 * numbers (pollingInterval 5, cooldownPeriod 30, lagThreshold 5,
 * activationLagThreshold 0): a stack idle at 0 workers gets 2,000 requests
 * from a plain NATS client (nats.c publishing to meme.request, as the
 * original design's clients do); several workers run within two polling
 * intervals; every request is answered on meme.response; the workers go
 * back to 0 after the cooldown; the trajectory stays within one polling
 * step of what `memectl simulate` predicts for the same load; and the
 * dashboard (in tmux) shows the local scaler row's replicas rise and fall.
 * The trajectory (time, lag, replicas) is printed.
 */
#include "common.h"

#include "autoscaler.h"
#include "stack.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define REQUESTS 2000
#define POLL_S   5  /* the bundled ScaledObject's pollingInterval */
#define COOL_S   30 /* and cooldownPeriod */

static char *scratch, *sock;
static char env_state[600];
static char nats_port[16], monitor_port[16], nats_url[64];

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int run(struct buf *out, struct buf *err, char **args, int timeout_ms)
{
    char *argv[40];
    int n = 0;
    char *bin = harness_bin("memectl");
    argv[n++] = bin;
    for (; *args && n < 39; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *env[] = {env_state, "NATS_URL", "MEMECTL_DISPLAY", "KUBECONFIG=/nonexistent", NULL};
    int rc = harness_run(argv, env, out, err, timeout_ms);
    buf_putc(out, '\0');
    buf_putc(err, '\0');
    free(bin);
    return rc;
}

static int tmux(struct buf *out, const char *a1, const char *a2, const char *a3, const char *a4,
                const char *a5)
{
    char *argv[] = {"tmux",     "-S",       sock,       (char *)a1, (char *)a2,
                    (char *)a3, (char *)a4, (char *)a5, NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, out ? out : &o, &e, 10000);
    buf_release(&o);
    buf_release(&e);
    return rc;
}

static bool have_tmux(void)
{
    char *argv[] = {"sh", "-c", "command -v tmux >/dev/null", NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, &o, &e, 5000);
    buf_release(&o);
    buf_release(&e);
    return rc == 0;
}

/* The replicas on the dashboard's local scaler row, or -1 when it has none. */
static int tui_replicas(void)
{
    struct buf out = BUF_INIT;
    tmux(&out, "capture-pane", "-p", "-t", "as", NULL);
    buf_putc(&out, '\0');
    int r = -1;
    for (char *line = (char *)out.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        /* the REPLICAS cell of the scaler table: "N (0-10)", or "N\u2192M (0-10)"
         * while it moves from N to M */
        char *p = strstr(line, " local ");
        char *range = p ? strstr(p, " (0-10)") : NULL;
        if (range) {
            char *q = range;
            while (q > p && q[-1] != ' ')
                q--;
            int cur;
            if (sscanf(q, "%d", &cur) == 1)
                r = cur;
        }
        line = nl ? nl + 1 : NULL;
    }
    buf_release(&out);
    return r;
}

/* Answers on meme.response, by request number. */
static pthread_mutex_t got_lock = PTHREAD_MUTEX_INITIALIZER;
static bool got[REQUESTS];
static int ngot, nerrors;

static void on_response(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    const char *d = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    const char *key = "\"request_id\":\"as-";
    const char *p = memmem(d, (size_t)len, key, strlen(key));
    if (p) {
        int i = atoi(p + strlen(key));
        pthread_mutex_lock(&got_lock);
        if (i >= 0 && i < REQUESTS && !got[i]) {
            got[i] = true;
            ngot++;
        }
        pthread_mutex_unlock(&got_lock);
    }
    natsMsg_Destroy(m);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    pthread_mutex_lock(&got_lock);
    nerrors++;
    pthread_mutex_unlock(&got_lock);
    natsMsg_Destroy(m);
}

static int setup(void **state)
{
    scratch = harness_tmpdir("autoscale");
    if (!scratch)
        return -1;
    sock = xasprintf("%s/tmux.sock", scratch);
    snprintf(env_state, sizeof(env_state), "MEMECTL_STATE_DIR=%s", scratch);
    snprintf(nats_port, sizeof(nats_port), "%d", harness_free_port());
    snprintf(monitor_port, sizeof(monitor_port), "%d", harness_free_port());
    snprintf(nats_url, sizeof(nats_url), "nats://127.0.0.1:%s", nats_port);
    return 0;
}

static int teardown(void **state)
{
    tmux(NULL, "kill-server", NULL, NULL, NULL, NULL);
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *args[] = {"down", NULL};
    run(&out, &err, args, 60000);
    buf_release(&out);
    buf_release(&err);
    free(sock);
    free(scratch);
    nats_Close();
    return 0;
}

struct sample {
    double t;
    long long lag; /* -1 unknown */
    int replicas;
    int tui; /* the dashboard's row, -1 when not read */
};

/* The simulated replicas at t (the last decision at or before it). */
static int sim_at(json_t *timeline, double t)
{
    int r = 0;
    size_t i;
    json_t *row;
    json_array_foreach(timeline, i, row)
    {
        if (json_number_value(json_object_get(row, "t")) > t + 1e-9)
            break;
        r = (int)json_integer_value(json_object_get(row, "replicas"));
    }
    return r;
}

static void test_burst_scales_out_and_back(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *up[] = {"up",         "--autoscale", "--nats-port", nats_port, "--monitor-port",
                  monitor_port, "--no-redis",  NULL};
    int rc = run(&out, &err, up, 60000);
    if (rc != 0)
        fprintf(stderr, "%s%s", (char *)out.data, (char *)err.data);
    assert_int_equal(rc, 0);
    assert_non_null(strstr((char *)out.data, "autoscaled 0..10: pollingInterval 5s, "
                                             "cooldownPeriod 30s, lagThreshold 5"));
    buf_release(&out);
    buf_release(&err);

    /* Idle at zero: the autoscaler has polled and started nothing. */
    struct autoscaler_view *v = xcalloc(1, sizeof(*v));
    double t0 = now_s();
    while (now_s() - t0 < 20 &&
           !(autoscaler_read(scratch, v, NULL) == 0 && strcmp(v->reason, "Idle") == 0))
        usleep(200000);
    assert_string_equal(v->reason, "Idle");
    assert_int_equal(v->replicas, 0);
    struct stack st;
    assert_int_equal(stack_load(scratch, &st), 0);
    assert_non_null(stack_find_role(&st, "autoscaler"));
    assert_null(stack_find_role(&st, "worker"));

    /* The dashboard, watching. */
    bool tui = have_tmux();
    if (tui) {
        char *bin = harness_bin("memectl");
        char *cmd = xasprintf("env LANG=C.UTF-8 TERM=xterm-256color MEMECTL_STATE_DIR='%s' "
                              "KUBECONFIG=/nonexistent HOME='%s' '%s' -s '%s' tui; sleep 30",
                              scratch, scratch, bin, nats_url);
        char *argv[] = {"tmux", "-S",  sock, "new-session", "-d", "-s", "as",
                        "-x",   "160", "-y", "40",          cmd,  NULL};
        struct buf o = BUF_INIT, e = BUF_INIT;
        assert_int_equal(harness_run(argv, NULL, &o, &e, 10000), 0);
        buf_release(&o);
        buf_release(&e);
        free(cmd);
        free(bin);
        for (int i = 0; i < 300 && tui_replicas() != 0; i++)
            usleep(100000);
        if (tui_replicas() != 0) {
            struct buf scr = BUF_INIT;
            tmux(&scr, "capture-pane", "-p", "-t", "as", NULL);
            buf_putc(&scr, '\0');
            fprintf(stderr, "the dashboard shows no local scaler row:\n%s\n", (char *)scr.data);
            buf_release(&scr);
        }
        assert_int_equal(tui_replicas(), 0);
    } else {
        fprintf(stderr, "tmux is not installed: the dashboard part is skipped\n");
    }

    /* 2,000 requests from a plain NATS client. */
    natsConnection *nc = NULL;
    natsSubscription *rs = NULL, *es = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, nats_url), NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&rs, nc, "meme.response", on_response, NULL),
                     NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&es, nc, "meme.response.error", on_error, NULL),
                     NATS_OK);
    natsSubscription_SetPendingLimits(rs, -1, -1);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    struct timespec wts;
    clock_gettime(CLOCK_REALTIME, &wts);
    double wall_start = (double)wts.tv_sec + (double)wts.tv_nsec / 1e9;
    double start = now_s();
    for (int i = 0; i < REQUESTS; i++) {
        char req[160];
        snprintf(req, sizeof(req),
                 "{\"id\":\"as-%d\",\"prompt\":\"autoscale %d | on my "
                 "laptop\",\"small_image\":true,\"format\":\"jpeg\"}",
                 i, i);
        assert_int_equal(natsConnection_PublishString(nc, "meme.request", req), NATS_OK);
    }
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
    double sent = now_s() - start;

    /* The trajectory, once a second, until back at zero (bounded). */
    struct sample *tr = xcalloc(200, sizeof(*tr));
    int n = 0, peak = 0, tui_peak = 0, tui_last = -1;
    double several_at = -1, answered_at = -1, drained_at = -1, zero_at = -1;
    while (n < 200) {
        double t = now_s() - start;
        struct autoscaler_view *w = xcalloc(1, sizeof(*w));
        if (autoscaler_read(scratch, w, NULL) == 0) {
            tr[n] = (struct sample){t, w->has_lag ? w->lag : -1, w->replicas, -1};
            if (tui) {
                tr[n].tui = tui_replicas();
                if (tr[n].tui > tui_peak)
                    tui_peak = tr[n].tui;
                if (tr[n].tui >= 0)
                    tui_last = tr[n].tui;
            }
            if (w->replicas > peak)
                peak = w->replicas;
            if (several_at < 0 && w->replicas >= 2)
                several_at = t;
            pthread_mutex_lock(&got_lock);
            bool all = ngot == REQUESTS;
            pthread_mutex_unlock(&got_lock);
            if (all && answered_at < 0)
                answered_at = t;
            if (answered_at >= 0 && drained_at < 0 && w->has_lag && w->lag == 0)
                drained_at = t;
            if (drained_at >= 0 && w->replicas == 0 && zero_at < 0)
                zero_at = t;
            n++;
        }
        free(w);
        if (zero_at >= 0 && (!tui || tui_last == 0))
            break;
        if (t > 110)
            break; /* bounded: well past any cooldown */
        usleep(1000000);
    }

    /* The autoscaler's own record of every poll: time, lag, replicas. */
    free(v);
    v = NULL;
    struct autoscaler_view *h = xcalloc(1, sizeof(*h));
    assert_int_equal(autoscaler_read(scratch, h, NULL), 0);
    fprintf(stderr,
            "published %d requests in %.2fs; the autoscaler's polls (time from the first "
            "publish):\n%8s %6s %9s\n",
            REQUESTS, sent, "t", "lag", "replicas");
    double several_poll = -1, drained_poll = -1, zero_poll = -1;
    for (int i = 0; i < h->nhist; i++) {
        double t = h->hist_t[i] - wall_start;
        if (t < -POLL_S)
            continue;
        fprintf(stderr, "%7.1fs %6lld %9d\n", t, (long long)h->hist_lag[i], h->hist_replicas[i]);
        if (t >= 0 && several_poll < 0 && h->hist_replicas[i] >= 2)
            several_poll = t;
        if (several_poll >= 0 && drained_poll < 0 && h->hist_lag[i] == 0)
            drained_poll = t;
        if (drained_poll >= 0 && zero_poll < 0 && h->hist_replicas[i] == 0)
            zero_poll = t;
    }
    fprintf(stderr, "the dashboard's row, sampled each second:");
    for (int i = 0; i < n; i++)
        fprintf(stderr, " %d", tr[i].tui);
    fprintf(stderr,
            "\nseveral workers at %.1fs, all answered by %.1fs, lag 0 at %.1fs, 0 workers at "
            "%.1fs; peak %d\n",
            several_poll, answered_at, drained_poll, zero_poll, peak);

    /* several workers within two polling intervals (of the first publish) */
    assert_true(several_poll >= 0);
    assert_true(several_poll <= 2 * POLL_S + 0.5);
    /* every request answered, none with an error */
    assert_true(answered_at >= 0);
    pthread_mutex_lock(&got_lock);
    assert_int_equal(ngot, REQUESTS);
    assert_int_equal(nerrors, 0);
    pthread_mutex_unlock(&got_lock);
    /* back to zero after the cooldown: the poll cooldownPeriod after the
     * last one that saw lag */
    assert_true(zero_poll >= 0 && drained_poll >= 0);
    assert_true(zero_poll - drained_poll >= COOL_S - POLL_S - 0.5);
    assert_true(zero_poll - drained_poll <= COOL_S + 0.5);
    assert_true(peak >= 5);
    if (tui) {
        assert_true(tui_peak >= 5);    /* the dashboard's row rose */
        assert_int_equal(tui_last, 0); /* and fell */
    }
    (void)several_at;
    (void)zero_at;

    /* The same load through `memectl simulate`, with the per-worker
     * throughput this run achieved: what the workers took off the queue
     * between polls that both saw a backlog, over the worker-seconds in
     * them. The real replicas must stay within one polling step of it. */
    double served = 0, ws = 0;
    for (int i = 1; i < h->nhist; i++)
        if (h->hist_t[i - 1] >= wall_start && h->hist_lag[i - 1] > 0 && h->hist_lag[i] > 0) {
            served += (double)(h->hist_lag[i - 1] - h->hist_lag[i]);
            ws += h->hist_replicas[i - 1] * (h->hist_t[i] - h->hist_t[i - 1]);
        }
    double tp = ws > 0 && served > 0 ? served / ws : REQUESTS / (answered_at > 1 ? answered_at : 1);
    /* a burst shorter than a second is a second of load: the polls are 5 s apart */
    double d = sent > 1 ? sent : 1;
    char *csv = xasprintf("%s/load.csv", scratch);
    FILE *f = fopen(csv, "w");
    assert_non_null(f);
    fprintf(f, "seconds,rate\n0,%.6f\n%.6f,0\n", REQUESTS / d, d);
    fclose(f);
    char tps[32];
    snprintf(tps, sizeof(tps), "%.3f", tp);
    char *sim[] = {"simulate", "--csv", csv, "--throughput", tps, "-o", "json", NULL};
    assert_int_equal(run(&out, &err, sim, 30000), 0);
    json_t *j = json_loads((char *)out.data, 0, NULL);
    assert_non_null(j);
    json_t *tl = json_object_get(json_object_get(j, "scaledObject"), "timeline");
    assert_true(json_array_size(tl) > 3);
    buf_release(&out);
    buf_release(&err);
    char *simt[] = {"simulate", "--csv", csv, "--throughput", tps, NULL};
    run(&out, &err, simt, 30000);
    fprintf(stderr, "memectl simulate --csv load.csv --throughput %s:\n%s", tps, (char *)out.data);
    buf_release(&out);
    buf_release(&err);
    int off = 0;
    for (int i = 0; i < h->nhist; i++) {
        double t = h->hist_t[i] - wall_start;
        if (t < 0)
            continue;
        int lo = 1 << 30, hi = -1;
        for (double s = t - POLL_S; s <= t + POLL_S + 1e-9; s += 0.5) {
            int r = sim_at(tl, s < 0 ? 0 : s);
            lo = r < lo ? r : lo;
            hi = r > hi ? r : hi;
        }
        if (h->hist_replicas[i] < lo || h->hist_replicas[i] > hi) {
            fprintf(stderr, "at %.1fs: %d workers, simulate says %d..%d within one poll\n", t,
                    h->hist_replicas[i], lo, hi);
            off++;
        }
    }
    assert_int_equal(off, 0);
    json_decref(j);
    free(h);
    free(csv);
    free(tr);
    free(v);
    natsSubscription_Destroy(rs);
    natsSubscription_Destroy(es);
    natsConnection_Destroy(nc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_scales_out_and_back),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    return harness_finish(failures);
}
