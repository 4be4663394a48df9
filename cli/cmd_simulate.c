/*
 * memectl simulate: a load profile through the autoscalers' rules without a
 * cluster. The bundled ScaledObject (KEDA, then its HPA) and the gateway's
 * HPA, or the scalers of a manifest given, each get the same load; the
 * decisions are lib/kube/autoscale's, the ones the local autoscaler and
 * explain use, and the queue is lib/kube/loadsim's. Prints the replica
 * timeline with the queue wait a request would see, as a table (with
 * sparklines on a terminal) or JSON.
 */
#include "buf.h"
#include "cli.h"
#include "kube/autoscale.h"
#include "kube/loadsim.h"
#include "kube/manifest.h"
#include "xalloc.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    SIM_PROFILE = 'p',
    SIM_MANIFEST = 'f',
    SIM_OUTPUT = 'o',
    SIM_CSV = 1000,
    SIM_RATE,
    SIM_DURATION,
    SIM_THROUGHPUT,
    SIM_BENCH,
    SIM_GATEWAY,
    SIM_POLLING,
    SIM_COOLDOWN,
    SIM_THRESHOLD,
    SIM_MIN,
    SIM_MAX,
    SIM_UNTIL,
};

const struct opt_spec simulate_opts[] = {
    {SIM_PROFILE, 'p', "profile", "NAME", "built-in load: spike, ramp or steady (default spike)",
     "spike ramp steady"},
    {SIM_CSV, 0, "csv", "FILE", "load from FILE: lines of SECONDS,RATE (instead of --profile)",
     ":file"},
    {SIM_RATE, 0, "rate", "R", "requests per second of the built-in profile (default 20)", NULL},
    {SIM_DURATION, 'd', "duration", "TIME", "length of the built-in profile (default 60s)", NULL},
    {SIM_THROUGHPUT, 0, "throughput", "R", "requests per second one worker completes (default 10)",
     NULL},
    {SIM_BENCH, 0, "bench", "FILE",
     "take the per-worker throughput from the JSON report of `memectl bench`", ":file"},
    {SIM_GATEWAY, 0, "gateway-capacity", "R",
     "requests per second one gateway replica serves at 100% of its CPU request (default 20)",
     NULL},
    {SIM_MANIFEST, 'f', "manifest", "FILE",
     "the ScaledObject and/or HPA to simulate (default the bundled ones)", ":file"},
    {SIM_POLLING, 0, "polling-interval", "SECONDS", "what if: the ScaledObject's pollingInterval",
     NULL},
    {SIM_COOLDOWN, 0, "cooldown", "SECONDS", "what if: its cooldownPeriod", NULL},
    {SIM_THRESHOLD, 0, "lag-threshold", "N", "what if: its trigger's lagThreshold", NULL},
    {SIM_MIN, 0, "min-workers", "N", "what if: its minReplicaCount", NULL},
    {SIM_MAX, 0, "max-workers", "N", "what if: its maxReplicaCount", NULL},
    {SIM_UNTIL, 0, "until", "TIME",
     "simulate this long (default: until the scalers are back at rest)", NULL},
    {SIM_OUTPUT, 'o', "output", "FORMAT", "text or json", "text json"},
    {0, 0, NULL, NULL, NULL, NULL},
};

struct sim_args {
    const char *profile;
    const char *csv;
    double rate, duration, throughput, gateway, until;
    const char *bench;
    const char *manifest;
    long polling, cooldown, threshold, min, max; /* -1: the manifest's */
    bool json;
};

/* "90", "90s", "1.5m", "1h" → seconds. */
static int parse_time(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || !(v > 0) || !isfinite(v))
        return -1;
    if (*end == '\0' || strcmp(end, "s") == 0)
        ;
    else if (strcmp(end, "m") == 0)
        v *= 60;
    else if (strcmp(end, "h") == 0)
        v *= 3600;
    else
        return -1;
    if (v > LOADSIM_MAX_SECONDS)
        return -1;
    *out = v;
    return 0;
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static int parse_args(const struct cmd_spec *cmd, int argc, char **argv, struct sim_args *a)
{
    struct opt_iter it;
    int r, rc = 0;
    memset(a, 0, sizeof(*a));
    a->profile = "spike";
    a->rate = 20;
    a->duration = 60;
    a->throughput = 10;
    a->gateway = 20;
    a->polling = a->cooldown = a->threshold = a->min = a->max = -1;
    bool have_profile = false, have_tp = false;
    opt_init(&it, cmd, argc, argv);
    while ((r = opt_next(&it)) > 0 && !rc) {
        const char *v = it.value;
        double d;
        switch (it.key) {
        case 'h':
            opt_release(&it);
            return -1;
        case SIM_PROFILE:
            if (strcmp(v, "spike") && strcmp(v, "ramp") && strcmp(v, "steady")) {
                cmd_usage_error(cmd, "--profile must be spike, ramp or steady, not \"%s\"", v);
                rc = EXIT_USAGE;
            }
            a->profile = v;
            have_profile = true;
            break;
        case SIM_CSV:
            a->csv = v;
            break;
        case SIM_RATE:
            if (parse_num(v, 0.001, 1e6, &a->rate) < 0) {
                cmd_usage_error(cmd, "--rate must be from 0.001 to 1000000 requests per second");
                rc = EXIT_USAGE;
            }
            break;
        case SIM_DURATION:
            if (parse_time(v, &a->duration) < 0) {
                cmd_usage_error(cmd, "--duration must be like 60s, 5m or 1h (at most 24h)");
                rc = EXIT_USAGE;
            }
            break;
        case SIM_UNTIL:
            if (parse_time(v, &a->until) < 0) {
                cmd_usage_error(cmd, "--until must be like 60s, 5m or 1h (at most 24h)");
                rc = EXIT_USAGE;
            }
            break;
        case SIM_THROUGHPUT:
            if (parse_num(v, 0.001, 1e6, &a->throughput) < 0) {
                cmd_usage_error(cmd,
                                "--throughput must be from 0.001 to 1000000 requests per second");
                rc = EXIT_USAGE;
            }
            have_tp = true;
            break;
        case SIM_BENCH:
            a->bench = v;
            break;
        case SIM_GATEWAY:
            if (parse_num(v, 0.001, 1e6, &a->gateway) < 0) {
                cmd_usage_error(cmd, "--gateway-capacity must be from 0.001 to 1000000 requests "
                                     "per second");
                rc = EXIT_USAGE;
            }
            break;
        case SIM_MANIFEST:
            a->manifest = v;
            break;
        case SIM_POLLING:
        case SIM_COOLDOWN:
        case SIM_THRESHOLD:
        case SIM_MIN:
        case SIM_MAX: {
            static const struct {
                int key;
                const char *name;
                double lo, hi;
            } lim[] = {{SIM_POLLING, "polling-interval", 1, 3600},
                       {SIM_COOLDOWN, "cooldown", 0, 86400},
                       {SIM_THRESHOLD, "lag-threshold", 1, 1e9},
                       {SIM_MIN, "min-workers", 0, 1000},
                       {SIM_MAX, "max-workers", 1, 1000}};
            size_t k = 0;
            while (lim[k].key != it.key)
                k++;
            if (parse_num(v, lim[k].lo, lim[k].hi, &d) < 0 || d != floor(d)) {
                cmd_usage_error(cmd, "--%s must be a whole number from %.0f to %.0f, not \"%s\"",
                                lim[k].name, lim[k].lo, lim[k].hi, v);
                rc = EXIT_USAGE;
                break;
            }
            long *slot = it.key == SIM_POLLING     ? &a->polling
                         : it.key == SIM_COOLDOWN  ? &a->cooldown
                         : it.key == SIM_THRESHOLD ? &a->threshold
                         : it.key == SIM_MIN       ? &a->min
                                                   : &a->max;
            *slot = (long)d;
            break;
        }
        case SIM_OUTPUT:
            if (strcmp(v, "json") == 0)
                a->json = true;
            else if (strcmp(v, "text") != 0) {
                cmd_usage_error(cmd, "--output must be text or json, not \"%s\"", v);
                rc = EXIT_USAGE;
            }
            break;
        }
    }
    if (r < 0)
        rc = EXIT_USAGE;
    if (!rc && a->csv && have_profile) {
        cmd_usage_error(cmd, "--profile and --csv exclude each other");
        rc = EXIT_USAGE;
    }
    if (!rc && a->bench && have_tp) {
        cmd_usage_error(cmd, "--throughput and --bench exclude each other");
        rc = EXIT_USAGE;
    }
    if (!rc && it.npositional) {
        cmd_usage_error(cmd, "unexpected argument \"%s\"", it.positional[0]);
        rc = EXIT_USAGE;
    }
    opt_release(&it);
    return rc;
}

static char *read_small(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *b = xmalloc(max + 1);
    size_t n = fread(b, 1, max + 1, f);
    bool bad = ferror(f) || n > max;
    fclose(f);
    if (bad) {
        free(b);
        errno = n > max ? EFBIG : EIO;
        return NULL;
    }
    b[n] = 0;
    *len = n;
    return b;
}

/* Per-worker throughput from bench's JSON: memes per second over the workers
 * that answered. */
static int throughput_from_bench(const char *path, double *out, int *workers)
{
    json_error_t je;
    json_t *o = json_load_file(path, 0, &je);
    if (!o) {
        cli_error("cannot read bench results \"%s\": %s", path, je.text);
        return EXIT_FAIL;
    }
    json_t *tp = json_object_get(o, "throughput");
    json_t *w = json_object_get(o, "workers");
    int rc = 0;
    if (!json_is_number(tp) || !(json_number_value(tp) > 0)) {
        cli_error("\"%s\" has no throughput above 0: write it with `memectl bench --json`", path);
        rc = EXIT_FAIL;
    } else {
        *workers = json_is_integer(w) && json_integer_value(w) > 0 ? (int)json_integer_value(w) : 1;
        *out = json_number_value(tp) / *workers;
    }
    json_decref(o);
    return rc;
}

static const char *spark(const double *v, int n, char *out, size_t outsz)
{
    static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
                                       "\u2585", "\u2586", "\u2587", "\u2588"};
    double mx = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > mx)
            mx = v[i];
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < n && off + 4 < outsz; i++) {
        int level = mx > 0 ? (int)lround(v[i] / mx * 7) : 0;
        memcpy(out + off, bars[level < 0 ? 0 : level > 7 ? 7 : level], 3);
        off += 3;
    }
    out[off] = 0;
    return out;
}

static json_t *keda_rows_json(const struct loadsim_result *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->n; i++) {
        const struct loadsim_row *w = &r->rows[i];
        json_array_append_new(arr, json_pack("{s:f,s:f,s:I,s:i,s:o,s:b,s:s,s:s,s:s}", "t", w->t,
                                             "rate", w->rate, "lag", (json_int_t)w->lag, "replicas",
                                             w->replicas, "waitSeconds",
                                             w->wait_s >= 0 ? json_real(w->wait_s) : json_null(),
                                             "active", w->d.active, "by", w->d.by, "reason",
                                             w->d.reason ? w->d.reason : "", "why", w->d.why));
    }
    return arr;
}

static json_t *hpa_rows_json(const struct loadsim_result *r)
{
    json_t *arr = json_array();
    for (int i = 0; i < r->n; i++) {
        const struct loadsim_row *w = &r->rows[i];
        json_array_append_new(arr,
                              json_pack("{s:f,s:f,s:f,s:i,s:s,s:s}", "t", w->t, "rate", w->rate,
                                        "cpuUtilization", w->metric, "replicas", w->replicas, "by",
                                        w->d.by, "reason", w->d.reason ? w->d.reason : ""));
    }
    return arr;
}

static void describe_load(struct buf *b, const struct sim_args *a, const struct loadsim_profile *p,
                          double total)
{
    if (a->csv)
        buf_printf(b, "load      %s: %d points over %.0fs, %.0f requests\n", a->csv, p->n, p->end,
                   total);
    else if (strcmp(a->profile, "spike") == 0)
        buf_printf(b, "load      spike: %g/s for %.0fs, %g/s from %.0fs to %.0fs; %.0f requests\n",
                   a->rate, a->duration, a->rate * 5, a->duration * 0.4, a->duration * 0.6, total);
    else if (strcmp(a->profile, "ramp") == 0)
        buf_printf(b, "load      ramp: %g/s up to %g/s over %.0fs; %.0f requests\n", a->rate / 10,
                   a->rate, a->duration, total);
    else
        buf_printf(b, "load      steady: %g/s for %.0fs; %.0f requests\n", a->rate, a->duration,
                   total);
}

static void text_report(struct buf *b, bool tty, const struct sim_args *a,
                        const struct loadsim_profile *p, double tp, int bench_workers,
                        const struct autoscale_config *kc, const struct loadsim_result *kr,
                        const struct autoscale_config *hc, const struct loadsim_result *hr,
                        const char *source)
{
    double total = kr ? kr->arrived : hr->arrived;
    describe_load(b, a, p, total);
    if (kc) {
        if (a->bench)
            buf_printf(b, "worker    %.2f requests/s each (%s: %d worker%s)\n", tp, a->bench,
                       bench_workers, bench_workers == 1 ? "" : "s");
        else
            buf_printf(b, "worker    %.2f requests/s each\n", tp);
        const struct kube_trigger *t = &kc->so.triggers[kc->trigger];
        buf_printf(b,
                   "KEDA      %s/%s (%s): %d..%d workers, pollingInterval %ds, cooldownPeriod "
                   "%ds, lagThreshold %lld, activationLagThreshold %lld; HPA behavior %s\n",
                   kc->so.meta.ns, kc->so.meta.name, source, kc->so.min_replicas,
                   kc->so.max_replicas, kc->so.polling_s, kc->so.cooldown_s,
                   (long long)(t->lag_threshold > 0 ? t->lag_threshold : 10),
                   (long long)t->activation_lag_threshold,
                   kc->so.has_behavior ? "from the ScaledObject" : "the default");
    }
    if (hc) {
        buf_printf(b, "HPA       %s/%s: %d..%d replicas, every %ds;", hc->hpa.meta.ns,
                   hc->hpa.meta.name, hc->hpa.min_replicas, hc->hpa.max_replicas, hc->period_s);
        for (int i = 0; i < hc->hpa.nmetrics; i++)
            if (hc->hpa.metrics[i].target_type == KUBE_TARGET_UTILIZATION)
                buf_printf(b, " %s %d%%", hc->hpa.metrics[i].name, hc->hpa.metrics[i].target_util);
        buf_printf(b, "; cpu = rate / (replicas x %g/s); other metrics have no value\n",
                   a->gateway);
    }
    const struct loadsim_result *main = kr ? kr : hr;
    if (tty && main->n > 1) {
        int n = main->n < 100 ? main->n : 100;
        int step = (main->n + n - 1) / n;
        double lag[100], rep[100], gw[100];
        int k = 0;
        for (int i = 0; i < main->n && k < 100; i += step, k++) {
            lag[k] = kr ? (double)kr->rows[i].lag : hr->rows[i].metric;
            rep[k] = main->rows[i].replicas;
            gw[k] = hr ? loadsim_replicas_at(hr, main->rows[i].t) : 0;
        }
        char s[100 * 3 + 1];
        buf_putc(b, '\n');
        buf_printf(b, "  %-8s %s\n", kr ? "lag" : "cpu", spark(lag, k, s, sizeof(s)));
        buf_printf(b, "  %-8s %s  peak %d\n", kr ? "workers" : "replicas",
                   spark(rep, k, s, sizeof(s)), main->peak_replicas);
        if (kr && hr)
            buf_printf(b, "  %-8s %s  peak %d\n", "gateway", spark(gw, k, s, sizeof(s)),
                       hr->peak_replicas);
    }
    buf_putc(b, '\n');
    if (kr) {
        buf_printf(b, "%7s %8s %7s %7s %8s", "t", "rate/s", "lag", "workers", "wait");
        if (hr)
            buf_printf(b, " %7s %5s", "gateway", "cpu");
        buf_printf(b, "  %s\n", "decision");
        for (int i = 0; i < kr->n; i++) {
            const struct loadsim_row *w = &kr->rows[i];
            char wait[16];
            if (w->wait_s < 0)
                snprintf(wait, sizeof(wait), "-");
            else
                snprintf(wait, sizeof(wait), "%.1fs", w->wait_s);
            buf_printf(b, "%6.0fs %8.1f %7lld %7d %8s", w->t, w->rate, (long long)w->lag,
                       w->replicas, wait);
            if (hr) {
                int g = loadsim_replicas_at(hr, w->t);
                double cpu = 100.0 * w->rate / ((g > 0 ? g : 1) * a->gateway);
                buf_printf(b, " %7d %4.0f%%", g, cpu);
            }
            if (w->d.to != w->d.from)
                buf_printf(b, "  %d -> %d %s %s\n", w->d.from, w->d.to, w->d.by, w->d.reason);
            else
                buf_printf(b, "  %s\n", w->d.reason ? w->d.reason : "");
        }
        buf_printf(b, "\n%.0f requests, %.0f answered; peak %d workers; longest queue wait %s",
                   kr->arrived, kr->completed, kr->peak_replicas, kr->max_wait_s < 0 ? "-" : "");
        if (kr->max_wait_s >= 0)
            buf_printf(b, "%.1fs", kr->max_wait_s);
        buf_putc(b, '\n');
    } else {
        buf_printf(b, "%7s %8s %6s %8s  %s\n", "t", "rate/s", "cpu", "replicas", "decision");
        for (int i = 0; i < hr->n; i++) {
            const struct loadsim_row *w = &hr->rows[i];
            buf_printf(b, "%6.0fs %8.1f %5.0f%% %8d  ", w->t, w->rate, w->metric, w->replicas);
            if (w->d.to != w->d.from)
                buf_printf(b, "%d -> %d %s %s\n", w->d.from, w->d.to, w->d.by, w->d.reason);
            else
                buf_printf(b, "%s\n", w->d.reason ? w->d.reason : "");
        }
        buf_printf(b, "\npeak %d replicas\n", hr->peak_replicas);
    }
}

int cmd_simulate(struct cli *cli, int argc, char **argv)
{
    struct sim_args a;
    int rc = parse_args(cli->cmd, argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    struct meme_err err = {0};
    struct loadsim_profile p = {0};
    struct loadsim_result kr = {0}, hr = {0};
    struct autoscale_config *kc = NULL, *hc = NULL;
    json_t *so_docs = NULL, *hpa_docs = NULL;
    char *so_path = NULL, *hpa_path = NULL;
    int bench_workers = 0;
    double tp = a.throughput;
    if (a.bench && (rc = throughput_from_bench(a.bench, &tp, &bench_workers)) != 0)
        goto out;
    if (a.csv) {
        size_t len = 0;
        char *text = read_small(a.csv, 16u << 20, &len);
        if (!text) {
            cli_error("cannot read \"%s\": %s", a.csv, strerror(errno));
            rc = EXIT_FAIL;
            goto out;
        }
        int prc = loadsim_profile_csv(&p, text, len, &err);
        free(text);
        if (prc) {
            cli_error("%s: %s", a.csv, err.msg);
            rc = EXIT_USAGE;
            goto out;
        }
    } else if (loadsim_profile_builtin(&p, a.profile, a.rate, a.duration, &err) != 0) {
        cli_error("%s", err.msg);
        rc = EXIT_USAGE;
        goto out;
    }

    /* The scalers: the manifest's, or the bundled ScaledObject and HPA. */
    so_path = a.manifest ? xstrdup(a.manifest) : manifest_find_bundled(MANIFEST_SCALEDOBJECT);
    hpa_path = a.manifest ? xstrdup(a.manifest) : manifest_find_bundled(MANIFEST_GATEWAY_HPA);
    if (!so_path && !hpa_path) {
        cli_error("the bundled manifests (%s, %s) are neither installed next to memectl nor in "
                  "its source tree; pass --manifest FILE",
                  MANIFEST_SCALEDOBJECT, MANIFEST_GATEWAY_HPA);
        rc = EXIT_FAIL;
        goto out;
    }
    if (so_path && manifest_load(so_path, &so_docs, &err) != 0) {
        cli_error("%s", err.msg);
        rc = err.code == MEME_E_BAD_REQUEST ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }
    if (hpa_path && manifest_load(hpa_path, &hpa_docs, &err) != 0) {
        cli_error("%s", err.msg);
        rc = err.code == MEME_E_BAD_REQUEST ? EXIT_USAGE : EXIT_FAIL;
        goto out;
    }
    json_t *so_obj = so_docs ? manifest_find_kind(so_docs, "ScaledObject") : NULL;
    json_t *hpa_obj = hpa_docs ? manifest_find_kind(hpa_docs, "HorizontalPodAutoscaler") : NULL;
    if (!so_obj && !hpa_obj) {
        cli_error("\"%s\" has neither a ScaledObject nor a HorizontalPodAutoscaler",
                  a.manifest ? a.manifest : so_path);
        rc = EXIT_USAGE;
        goto out;
    }
    struct loadsim_opts o = {.throughput = tp, .duration = a.until};
    if (so_obj) {
        struct kube_scaledobject so;
        if (kube_scaledobject_parse(so_obj, &so, &err) != 0 || so.ntriggers < 1) {
            cli_error("the ScaledObject in \"%s\" %s", so_path,
                      so.ntriggers < 1 ? "has no trigger" : err.msg);
            rc = EXIT_USAGE;
            goto out;
        }
        if (a.polling >= 0)
            so.polling_s = (int)a.polling;
        if (a.cooldown >= 0)
            so.cooldown_s = (int)a.cooldown;
        if (a.min >= 0)
            so.min_replicas = (int)a.min;
        if (a.max >= 0)
            so.max_replicas = (int)a.max;
        if (so.min_replicas > so.max_replicas) {
            cli_error("the worker range %d..%d is empty", so.min_replicas, so.max_replicas);
            rc = EXIT_USAGE;
            goto out;
        }
        kc = xcalloc(1, sizeof(*kc));
        autoscale_config_keda(kc, &so);
        if (a.threshold >= 0)
            kc->so.triggers[kc->trigger].lag_threshold = a.threshold;
        if (loadsim_run_keda(kc, &p, &o, &kr, &err) != 0) {
            cli_error("%s", err.msg);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (hpa_obj) {
        struct kube_hpa h;
        if (kube_hpa_parse(hpa_obj, &h, &err) != 0) {
            cli_error("the HPA in \"%s\": %s", hpa_path, err.msg);
            rc = EXIT_USAGE;
            goto out;
        }
        hc = xcalloc(1, sizeof(*hc));
        autoscale_config_hpa(hc, &h);
        struct loadsim_opts ho = o;
        ho.throughput = a.gateway;
        /* the same span as the ScaledObject's timeline, so the columns line up */
        if (kc && !a.until && kr.n)
            ho.duration = kr.rows[kr.n - 1].t;
        if (loadsim_run_hpa(hc, &p, &ho, &hr, &err) != 0) {
            cli_error("%s", err.msg);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (a.json) {
        json_t *j = json_object();
        json_object_set_new(j, "profile",
                            json_pack("{s:s,s:f,s:i,s:f}", "source", a.csv ? a.csv : a.profile,
                                      "seconds", p.end, "points", p.n, "requests",
                                      kc ? kr.arrived : hr.arrived));
        if (kc) {
            const struct kube_trigger *t = &kc->so.triggers[kc->trigger];
            json_t *k = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:I,s:I,s:b,s:f}", "namespace",
                                  kc->so.meta.ns, "name", kc->so.meta.name, "source", so_path,
                                  "minReplicaCount", kc->so.min_replicas, "maxReplicaCount",
                                  kc->so.max_replicas, "pollingInterval", kc->so.polling_s,
                                  "cooldownPeriod", kc->so.cooldown_s, "lagThreshold",
                                  (json_int_t)(t->lag_threshold > 0 ? t->lag_threshold : 10),
                                  "activationLagThreshold", (json_int_t)t->activation_lag_threshold,
                                  "behavior", kc->so.has_behavior, "workerThroughput", tp);
            json_object_set_new(k, "requests", json_real(kr.arrived));
            json_object_set_new(k, "answered", json_real(kr.completed));
            json_object_set_new(k, "peakReplicas", json_integer(kr.peak_replicas));
            json_object_set_new(k, "maxWaitSeconds",
                                kr.max_wait_s >= 0 ? json_real(kr.max_wait_s) : json_null());
            json_object_set_new(k, "timeline", keda_rows_json(&kr));
            json_object_set_new(j, "scaledObject", k);
        } else {
            json_object_set_new(j, "scaledObject", json_null());
        }
        if (hc) {
            json_t *h = json_pack("{s:s,s:s,s:s,s:i,s:i,s:i,s:f}", "namespace", hc->hpa.meta.ns,
                                  "name", hc->hpa.meta.name, "source", hpa_path, "minReplicas",
                                  hc->hpa.min_replicas, "maxReplicas", hc->hpa.max_replicas,
                                  "syncPeriod", hc->period_s, "replicaCapacity", a.gateway);
            json_object_set_new(h, "peakReplicas", json_integer(hr.peak_replicas));
            json_object_set_new(h, "timeline", hpa_rows_json(&hr));
            json_object_set_new(j, "hpa", h);
        } else {
            json_object_set_new(j, "hpa", json_null());
        }
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
        fputc('\n', stdout);
        json_decref(j);
    } else {
        struct buf b = BUF_INIT;
        text_report(&b, isatty(1), &a, &p, tp, bench_workers, kc, kc ? &kr : NULL, hc,
                    hc ? &hr : NULL, so_path ? so_path : "");
        fwrite(b.data, 1, b.len, stdout);
        buf_release(&b);
    }
    rc = EXIT_OK;
out:
    loadsim_profile_release(&p);
    loadsim_result_release(&kr);
    loadsim_result_release(&hr);
    free(kc);
    free(hc);
    json_decref(so_docs);
    json_decref(hpa_docs);
    free(so_path);
    free(hpa_path);
    return rc;
}
