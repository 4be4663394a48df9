/*
 * memebench: the benchmark suite behind `make bench`. Measures this
 * project side by side, in one run, against what a user would otherwise
 * use, and writes docs/benchmarks.md. Every figure is a median of several
 * runs (the machines are shared and noisy).
 *
 *   memebench [--out FILE] [--quick] [--takeover] [--terminal] [--only-kube] [--images]
 *             [--render]
 *
 * --takeover, --terminal, --only-kube and --images run only the lost-worker,
 * the terminal (sixel, time to first pixel), the Kubernetes or the container
 * images sections. --render measures the local engine alone (no servers, no
 * network) and prints it, for comparing a change to the renderer before and
 * after.
 *
 * Needs the release build next to it (memectl, meme-worker), nats-server,
 * and for the comparisons ImageMagick (convert), img2sixel and chafa
 * (scripts/install-deps --bench installs them), and for the container
 * images a Docker engine and the images `make images` built (IMAGE_TAG,
 * default dev). A comparison whose tool is missing is reported as such,
 * never faked.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <nats/nats.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <png.h>

#include "buf.h"
#include "render/caption.h"
#include "fixtures/kube_fixture.h"
#include "harness.h"
#include "render/image.h"
#include "mq/mq.h"
#include "mq/results.h"
#include "paths.h"
#include "mq/proto.h"
#include "render/render.h"
#include "term/term.h"
#include "xalloc.h"

static int runs = 5;   /* batches per figure; the median batch is reported */
static int iters = 40; /* repetitions inside a batch for in-process timings */
static struct buf md = BUF_INIT;
static char *scratch;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The distribution's tool when installed (wrappers earlier on PATH would add
 * their own start-up to its figures), else whatever PATH finds. */
static const char *tool(const char *name)
{
    static char path[128];
    snprintf(path, sizeof(path), "/usr/bin/%s", name);
    return access(path, X_OK) == 0 ? path : name;
}

static bool have(const char *prog)
{
    char *p = paths_find_program(prog);
    bool ok = p != NULL;
    free(p);
    return ok;
}

/* Wall time of one run of argv (stdout to out_file or /dev/null), or -1. */
static double time_process(char *const argv[], const char *out_file)
{
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        FILE *o = freopen(out_file ? out_file : "/dev/null", "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o;
        (void)e;
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    double t = now_ms() - t0;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? t : -1;
}

/* Median wall time of n runs of argv; -1 if any run failed. */
static double median_process(char *const argv[], int n, const char *out_file)
{
    double *v = xcalloc((size_t)n, sizeof(*v));
    time_process(argv, out_file); /* warm the page cache */
    for (int i = 0; i < n; i++) {
        v[i] = time_process(argv, out_file);
        if (v[i] < 0) {
            free(v);
            return -1;
        }
    }
    double m = median(v, n);
    free(v);
    return m;
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* A figure for a table cell; a failed measurement says so. */
static const char *cell(char *out, size_t n, double v, const char *unit, int decimals)
{
    if (v < 0)
        snprintf(out, n, "failed");
    else
        snprintf(out, n, "%.*f%s%s", decimals, v, *unit ? " " : "", unit);
    return out;
}

static void row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void row(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    buf_puts(&md, line);
    buf_putc(&md, '\n');
    fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Figures the goals section compares (-1 when not measured). */
static double g_im_fitted[2] = {-1, -1}, g_ours512[2] = {-1, -1}, g_floor512[2] = {-1, -1};
static double g_gen_miss[2] = {-1, -1}, g_gen_hit[2] = {-1, -1};
static double g_tput2[2] = {-1, -1};
/* memectl status and kubectl at [0] no added latency, [1] 20 ms per request,
 * [2] 20 ms on the 100-namespace cluster (status -A) */
static double g_status[3] = {-1, -1, -1}, g_kubectl[3] = {-1, -1, -1};
static double g_image_mb[2] = {-1, -1}; /* meme-worker, meme-gateway */

static const char *TOP = "one does not simply";
static const char *BOTTOM = "benchmark a meme engine";

/* ---- 1. the local engine in process, the encode floor, ImageMagick ---- */

static double time_render(struct renderer *r, int size, enum image_format fmt)
{
    struct render_opts o = {.prompt = "bench",
                            .top = TOP,
                            .bottom = BOTTOM,
                            .template_name = "advice-wheel",
                            .width = size,
                            .format = fmt};
    struct render_result res;
    struct meme_err err = {0};
    if (renderer_render(r, &o, &res, &err) < 0) { /* warm: background and glyphs */
        fprintf(stderr, "memebench: render failed: %s\n", err.msg);
        return -1;
    }
    render_result_release(&res);
    double *v = xcalloc((size_t)runs, sizeof(*v));
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        for (int i = 0; i < iters; i++) {
            renderer_render(r, &o, &res, &err);
            render_result_release(&res);
        }
        v[k] = (now_ms() - t0) / iters;
    }
    double m = median(v, runs);
    free(v);
    return m;
}

static double time_encode(const struct meme_image *img, enum image_format fmt)
{
    double *v = xcalloc((size_t)runs, sizeof(*v));
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        for (int i = 0; i < iters; i++) {
            uint8_t *out;
            size_t len;
            image_encode(img, fmt, &out, &len, NULL);
            free(out);
        }
        v[k] = (now_ms() - t0) / iters;
    }
    double m = median(v, runs);
    free(v);
    return m;
}

static void bench_render(void)
{
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (!r) {
        row("render: cannot start the engine: %s", err.msg);
        return;
    }
    bool im = have("convert");
    char *convert = xstrdup(tool("convert"));
    row("## The local engine vs ImageMagick\n");
    row("Same meme (advice-wheel background, two captions, white with a black outline) "
        "at each size and format. memectl: `renderer_render()` in process, background and "
        "glyphs warm, as in a running worker. Floor: encoding the finished pixels alone. "
        "ImageMagick, one `convert` process on the same background with the same font: "
        "*fixed*, both captions at one fixed point size (less than memectl does); *fitted*, "
        "each caption wrapped and sized to its box with `caption:` as memectl does (the "
        "same meme).\n");
    row("| size | format | memectl render | encode floor | memectl / floor | ImageMagick fixed | "
        "fixed / memectl | ImageMagick fitted | fitted / memectl |");
    row("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    int sizes[2] = {512, 1024};
    for (int si = 0; si < 2; si++) {
        int size = sizes[si];
        /* The background, saved for ImageMagick, and a finished meme for the floor. */
        struct render_opts bo = {.prompt = "bench",
                                 .top = "",
                                 .bottom = "",
                                 .template_name = "advice-wheel",
                                 .width = size};
        struct meme_image *bg = renderer_draw(r, &bo, NULL, 0, &err);
        char *bg_path = xasprintf("%s/bg-%d.png", scratch, size);
        uint8_t *png;
        size_t len;
        image_encode_png(bg, &png, &len, NULL);
        FILE *f = fopen(bg_path, "wb");
        fwrite(png, 1, len, f);
        fclose(f);
        free(png);
        image_free(bg);
        struct render_opts mo = bo;
        mo.top = TOP;
        mo.bottom = BOTTOM;
        struct meme_image *meme = renderer_draw(r, &mo, NULL, 0, &err);
        for (int fi = 0; fi < 2; fi++) {
            enum image_format fmt = fi ? IMAGE_JPEG : IMAGE_PNG;
            double ours = time_render(r, size, fmt);
            double floor_ms = time_encode(meme, fmt);
            if (size == 512) {
                g_ours512[fi] = ours;
                g_floor512[fi] = floor_ms;
            }
            char im_cell[64] = "not installed", ratio_cell[64] = "-";
            char fit_cell[64] = "not installed", fit_ratio[64] = "-";
            if (im) {
                char *out = xasprintf("%s/im-%d.%s", scratch, size, fi ? "jpg" : "png");
                char ps[16], sw[16], off[16];
                snprintf(ps, sizeof(ps), "%d", size * 8 / 100);
                snprintf(sw, sizeof(sw), "%d", size / 170 > 1 ? size / 170 : 1);
                snprintf(off, sizeof(off), "+0+%d", size * 3 / 100);
                char *font = xstrdup(renderer_font_path(r));
                char *argv[] = {convert,
                                bg_path,
                                "-font",
                                font,
                                "-pointsize",
                                ps,
                                "-fill",
                                "white",
                                "-stroke",
                                "black",
                                "-strokewidth",
                                sw,
                                "-gravity",
                                "north",
                                "-annotate",
                                off,
                                "ONE DOES NOT SIMPLY",
                                "-gravity",
                                "south",
                                "-annotate",
                                off,
                                "BENCHMARK A MEME ENGINE",
                                "-quality",
                                "85",
                                out,
                                NULL};
                double t = median_process(argv, runs, NULL);
                if (t > 0) {
                    snprintf(im_cell, sizeof(im_cell), "%.1f ms", t);
                    snprintf(ratio_cell, sizeof(ratio_cell), "%.0fx", t / ours);
                } else {
                    snprintf(im_cell, sizeof(im_cell), "failed");
                }
                /* Fitted: each caption laid out in its box by ImageMagick itself. */
                char box[32], sw2[16], geo[16];
                snprintf(box, sizeof(box), "%dx%d", size * 94 / 100, size * 24 / 100);
                snprintf(sw2, sizeof(sw2), "%d", size / 170 > 1 ? size / 170 : 1);
                snprintf(geo, sizeof(geo), "+0+%d", size * 3 / 100);
                char *fargv[] = {convert,    bg_path,
                                 "(",        "-size",
                                 box,        "-background",
                                 "none",     "-font",
                                 font,       "-fill",
                                 "white",    "-stroke",
                                 "black",    "-strokewidth",
                                 sw2,        "-gravity",
                                 "north",    "caption:ONE DOES NOT SIMPLY",
                                 ")",        "-gravity",
                                 "north",    "-geometry",
                                 geo,        "-composite",
                                 "(",        "-size",
                                 box,        "-background",
                                 "none",     "-font",
                                 font,       "-fill",
                                 "white",    "-stroke",
                                 "black",    "-strokewidth",
                                 sw2,        "-gravity",
                                 "south",    "caption:BENCHMARK A MEME ENGINE",
                                 ")",        "-gravity",
                                 "south",    "-geometry",
                                 geo,        "-composite",
                                 "-quality", "85",
                                 out,        NULL};
                double tf = median_process(fargv, runs, NULL);
                if (size == 512)
                    g_im_fitted[fi] = tf;
                if (tf > 0) {
                    snprintf(fit_cell, sizeof(fit_cell), "%.1f ms", tf);
                    snprintf(fit_ratio, sizeof(fit_ratio), "%.0fx", tf / ours);
                } else {
                    snprintf(fit_cell, sizeof(fit_cell), "failed");
                }
                free(font);
                free(out);
            }
            row("| %dx%d | %s | %.2f ms | %.2f ms | %.2f | %s | %s | %s | %s |", size, size,
                fi ? "JPEG q85" : "PNG", ours, floor_ms, ours / floor_ms, im_cell, ratio_cell,
                fit_cell, fit_ratio);
        }
        image_free(meme);
        free(bg_path);
    }
    row("%s", "");
    free(convert);
    renderer_free(r);
}

/* Drawing captions alone (no encoding), warm: the common Latin caption and
 * one in several scripts and emoji (shaped, from the fallback fonts). */
static double time_draw(struct renderer *r, const char *top, const char *bottom)
{
    struct render_opts o = {.prompt = "bench",
                            .top = top,
                            .bottom = bottom,
                            .template_name = "advice-wheel",
                            .width = 512};
    struct meme_err err = {0};
    struct meme_image *img = renderer_draw(r, &o, NULL, 0, &err);
    if (!img)
        return -1;
    image_free(img);
    double *v = xcalloc((size_t)runs, sizeof(*v));
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        for (int i = 0; i < iters; i++)
            image_free(renderer_draw(r, &o, NULL, 0, &err));
        v[k] = (now_ms() - t0) / iters;
    }
    double m = median(v, runs);
    free(v);
    return m;
}

static void bench_captions(void)
{
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (!r) {
        row("captions: cannot start the engine: %s", err.msg);
        return;
    }
    double bg = time_draw(r, "", "");
    static const char *const cases[][3] = {
        {"Latin (the common case)", "one does not simply", "benchmark a meme engine"},
        {"emoji, Japanese, Arabic, Cyrillic",
         "\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
         "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2"
         "\xd0\xb5\xd1\x82"},
    };
    row("## Captions\n");
    row("`renderer_draw()` at 512x512 (background copy, caption layout and drawing; no "
        "encoding), warm. The background copy alone: %.3f ms.\n",
        bg);
    row("| caption | draw | of which captions |");
    row("| --- | --- | --- |");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        double t = time_draw(r, cases[i][1], cases[i][2]);
        row("| %s | %.3f ms | %.3f ms |", cases[i][0], t, t - bg);
    }
    row("%s", "");
    renderer_free(r);
}

/* ---- 2. round trips: memectl gen, the raw NATS floor ---- */

static void on_echo(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    natsConnection_Publish(nc, natsMsg_GetReply(m), natsMsg_GetData(m), natsMsg_GetDataLength(m));
    natsMsg_Destroy(m);
}

/* Median request/reply time on the broker with a payload of len bytes back. */
static double nats_rtt_opt(const char *url, size_t len, bool asap);

static double nats_rtt(const char *url, size_t len)
{
    return nats_rtt_opt(url, len, true);
}

/* Median request/reply time on the broker with a payload of len bytes back;
 * asap: nats.c's send-asap option (without it the flusher waits ~1 ms). */
static double nats_rtt_opt(const char *url, size_t len, bool asap)
{
    natsOptions *o = NULL;
    natsConnection *a = NULL, *b = NULL;
    natsSubscription *sub = NULL;
    natsOptions_Create(&o);
    natsOptions_SetURL(o, url);
    natsOptions_SetSendAsap(o, asap);
    if (natsConnection_Connect(&a, o) != NATS_OK || natsConnection_Connect(&b, o) != NATS_OK) {
        natsOptions_Destroy(o);
        natsConnection_Destroy(a);
        return -1;
    }
    natsConnection_Subscribe(&sub, b, "bench.echo", on_echo, NULL);
    natsConnection_Flush(b);
    char *payload = xcalloc(len, 1);
    int n = 200;
    double *v = xcalloc((size_t)n, sizeof(*v));
    for (int i = -20; i < n; i++) {
        natsMsg *reply = NULL;
        double t0 = now_ms();
        if (natsConnection_Request(&reply, a, "bench.echo", payload, (int)len, 5000) != NATS_OK)
            continue;
        if (i >= 0)
            v[i] = now_ms() - t0;
        natsMsg_Destroy(reply);
    }
    double m = median(v, n);
    free(v);
    free(payload);
    natsSubscription_Destroy(sub);
    natsConnection_Destroy(a);
    natsConnection_Destroy(b);
    natsOptions_Destroy(o);
    return m;
}

static pid_t start_worker(const char *url, const char *redis_url, const char *id)
{
    char *bin = harness_bin("meme-worker");
    char *log = xasprintf("%s/%s.log", scratch, id);
    char *redis_env = redis_url ? xasprintf("REDIS_URL=%s", redis_url) : xstrdup("REDIS_URL");
    char *argv[] = {bin, "--nats", (char *)url, "--id", (char *)id, NULL};
    char *env[] = {redis_env, NULL};
    pid_t pid = harness_spawn(argv, env, log);
    free(bin);
    free(log);
    free(redis_env);
    /* Ready when the consumer has a waiting pull. */
    for (int i = 0; i < 300; i++) {
        struct mq_conn mq;
        struct mq_depth d;
        struct mq_connect_opts co = {.url = url, .name = "memebench"};
        bool ok = false;
        if (mq_connect(&mq, &co, NULL) == 0)
            ok = mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &d, NULL) == 0 && d.waiting > 0;
        mq_close(&mq);
        if (ok)
            return pid;
        usleep(50000);
    }
    fprintf(stderr, "memebench: worker %s did not start (log in %s)\n", id, scratch);
    return pid;
}

static double gen_round_trip(const char *url, const char *fmt, bool same_prompt)
{
    char *bin = harness_bin("memectl");
    char *out = xasprintf("%s/gen.%s", scratch, strcmp(fmt, "png") == 0 ? "png" : "jpg");
    int n = 15;
    double *v = xcalloc((size_t)(n * runs), sizeof(*v));
    int k = 0;
    for (int r = 0; r < runs; r++)
        for (int i = 0; i < n; i++) {
            char prompt[128];
            if (same_prompt)
                snprintf(prompt, sizeof(prompt), "%s | %s", TOP, BOTTOM);
            else
                snprintf(prompt, sizeof(prompt), "%s %d.%d.%ld | %s", TOP, r, i, (long)getpid(),
                         BOTTOM);
            char *argv[] = {bin,         "-q",   "-s", (char *)url,    "gen",
                            "--display", "none", "-t", "advice-wheel", "--format",
                            (char *)fmt, "-o",   out,  prompt,         NULL};
            v[k++] = time_process(argv, NULL);
        }
    double m = median(v, k);
    free(v);
    free(out);
    free(bin);
    return m;
}

static void bench_round_trip(const struct harness_server *nats, const struct harness_server *redis)
{
    pid_t w = start_worker(nats->url, redis ? redis->url : NULL, "rt");
    row("## `memectl gen` round trip\n");
    row("Process start to file written, one worker on the same machine, 512x512, loopback, "
        "median of %d runs. The floor is a raw NATS request/reply of the same size on the "
        "same broker, in one process (no JetStream, no rendering, no process start). "
        "ImageMagick: one `convert` drawing the same meme locally (table above).\n",
        15 * runs);
    double png_miss = gen_round_trip(nats->url, "png", false);
    double jpg_miss = gen_round_trip(nats->url, "jpeg", false);
    double png_hit = redis ? gen_round_trip(nats->url, "png", true) : -1;
    double jpg_hit = redis ? gen_round_trip(nats->url, "jpeg", true) : -1;
    g_gen_miss[0] = png_miss;
    g_gen_miss[1] = jpg_miss;
    g_gen_hit[0] = png_hit;
    g_gen_hit[1] = jpg_hit;
    double floor_png = nats_rtt(nats->url, 140000);
    double floor_jpg = nats_rtt(nats->url, 45000);
    row("| what | PNG | JPEG |");
    row("| --- | --- | --- |");
    char a[32], b[32];
    row("| `memectl gen`, cache miss | %s | %s |", cell(a, 32, png_miss, "ms", 1),
        cell(b, 32, jpg_miss, "ms", 1));
    if (redis)
        row("| `memectl gen`, same prompt again (cache hit if the worker caches) | %s | %s |",
            cell(a, 32, png_hit, "ms", 1), cell(b, 32, jpg_hit, "ms", 1));
    row("| raw NATS request/reply, same payload size (floor) | %s | %s |",
        cell(a, 32, floor_png, "ms", 2), cell(b, 32, floor_jpg, "ms", 2));
    row("%s", "");
    harness_kill(w, 5000);
}

/* ---- 3. stack throughput and the broker's ceiling ---- */

static double bench_json_throughput(const char *url, const char *fmt, int n, int c, double *p50,
                                    double *p99)
{
    char *bin = harness_bin("memectl");
    char ns[16], cs[16];
    snprintf(ns, sizeof(ns), "%d", n);
    snprintf(cs, sizeof(cs), "%d", c);
    char *argv[] = {bin,  "-s", (char *)url, "bench",     "-n",     ns,
                    "-c", cs,   "--format",  (char *)fmt, "--json", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 300000);
    double tput = -1;
    if (rc == 0) {
        json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
        tput = json_number_value(json_object_get(j, "throughput"));
        *p50 = json_number_value(json_object_get(json_object_get(j, "latency_ms"), "p50"));
        *p99 = json_number_value(json_object_get(json_object_get(j, "latency_ms"), "p99"));
        json_decref(j);
    } else {
        fprintf(stderr, "memebench: memectl bench failed: %.*s\n", (int)err.len,
                (const char *)err.data);
    }
    buf_release(&out);
    buf_release(&err);
    free(bin);
    return tput;
}

struct floor_worker {
    const char *url;
    int count;
    pthread_t thread;
};

/* The worker's loop with no work: fetch one, reply with a few bytes, ack. */
static void *floor_loop(void *arg)
{
    struct floor_worker *fw = arg;
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = fw->url, .name = "memebench floor"};
    if (mq_connect(&mq, &co, NULL) < 0)
        return NULL;
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = "BENCHFLOOR";
    so.Consumer = "floor";
    natsSubscription *sub = NULL;
    if (js_PullSubscribe(&sub, mq.js, "benchfloor.req", "floor", NULL, &so, NULL) != NATS_OK) {
        mq_close(&mq);
        return NULL;
    }
    for (;;) {
        natsMsgList list = {0};
        if (natsSubscription_Fetch(&list, sub, 1, 500, NULL) != NATS_OK)
            break;
        for (int i = 0; i < list.Count; i++) {
            natsMsg *m = list.Msgs[i];
            const char *reply = NULL;
            natsMsgHeader_Get(m, "Bench-Reply", &reply);
            if (reply)
                natsConnection_PublishString(mq.nc, reply, "ok");
            natsMsg_Ack(m, NULL);
            fw->count++;
        }
        natsMsgList_Destroy(&list);
    }
    natsSubscription_Destroy(sub);
    mq_close(&mq);
    return NULL;
}

/* Jobs per second through a work queue with two no-work consumers. */
static double broker_ceiling(const char *url, int n)
{
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = url, .name = "memebench"};
    if (mq_connect(&mq, &co, NULL) < 0)
        return -1;
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = "BENCHFLOOR";
    const char *subj[] = {"benchfloor.req"};
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Retention = js_WorkQueuePolicy;
    sc.Storage = js_FileStorage;
    js_AddStream(NULL, mq.js, &sc, NULL, NULL);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = "floor";
    cc.AckPolicy = js_AckExplicit;
    js_AddConsumer(NULL, mq.js, "BENCHFLOOR", &cc, NULL, NULL);
    struct floor_worker fw[2] = {{url, 0, 0}, {url, 0, 0}};
    for (int i = 0; i < 2; i++)
        pthread_create(&fw[i].thread, NULL, floor_loop, &fw[i]);
    usleep(300000);
    natsSubscription *replies = NULL;
    natsConnection_SubscribeSync(&replies, mq.nc, "benchfloor.reply");
    double t0 = now_ms();
    char body[256];
    memset(body, 'x', sizeof(body));
    for (int i = 0; i < n; i++) {
        natsMsg *m = NULL;
        natsMsg_Create(&m, "benchfloor.req", NULL, body, sizeof(body));
        natsMsgHeader_Set(m, "Bench-Reply", "benchfloor.reply");
        js_PublishMsgAsync(mq.js, &m, NULL);
        natsMsg_Destroy(m);
    }
    js_PublishAsyncComplete(mq.js, NULL);
    int got = 0;
    while (got < n) {
        natsMsg *m = NULL;
        if (natsSubscription_NextMsg(&m, replies, 5000) != NATS_OK)
            break;
        natsMsg_Destroy(m);
        got++;
    }
    double secs = (now_ms() - t0) / 1000.0;
    for (int i = 0; i < 2; i++)
        pthread_join(fw[i].thread, NULL);
    natsSubscription_Destroy(replies);
    js_DeleteStream(mq.js, "BENCHFLOOR", NULL, NULL);
    mq_close(&mq);
    return got == n ? n / secs : -1;
}

static long peak_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static void bench_throughput(const struct harness_server *nats, bool quick)
{
    int n = quick ? 600 : 2000;
    row("## Stack throughput\n");
    row("`memectl bench -n %d -c 16` (closed loop, unique prompts so every request is "
        "rendered), 512x512, workers and broker on this machine's %ld cores. The ceiling is the "
        "same JetStream work-queue loop (fetch one, reply, ack) doing no work, with two "
        "consumers.\n",
        n, sysconf(_SC_NPROCESSORS_ONLN));
    row("| workers | JPEG memes/s | JPEG p50 / p99 | PNG memes/s | PNG p50 / p99 |");
    row("| --- | --- | --- | --- | --- |");
    pid_t w[2] = {-1, -1};
    for (int k = 1; k <= 2; k++) {
        char id[16];
        snprintf(id, sizeof(id), "tp%d", k);
        w[k - 1] = start_worker(nats->url, NULL, id);
        double jp50 = 0, jp99 = 0, pp50 = 0, pp99 = 0;
        double jv[9], pv[9];
        int r = quick ? 1 : 3;
        for (int i = 0; i < r; i++) {
            jv[i] = bench_json_throughput(nats->url, "jpeg", n, 16, &jp50, &jp99);
            pv[i] = bench_json_throughput(nats->url, "png", n, 16, &pp50, &pp99);
        }
        row("| %d | %.0f | %.1f / %.1f ms | %.0f | %.1f / %.1f ms |", k, median(jv, r), jp50, jp99,
            median(pv, r), pp50, pp99);
        if (k == 2) {
            g_tput2[0] = median(pv, r);
            g_tput2[1] = median(jv, r);
        }
    }
    double ceil_v[5];
    int r = quick ? 1 : 3;
    for (int i = 0; i < r; i++)
        ceil_v[i] = broker_ceiling(nats->url, quick ? 5000 : 20000);
    char cb[32];
    row("| ceiling (no work, 2 consumers) | %s | | | |",
        cell(cb, 32, median(ceil_v, r), "jobs/s", 0));
    row("%s", "");

    /* Cost growth: a backlog of N requests sent at once to one worker. */
    harness_kill(w[1], 5000);
    row("## Cost growth with a backlog\n");
    row("N requests sent at once (open loop at 100000/s) to one worker, JPEG 512x512: latency "
        "grows with the queue (each request waits for those ahead), memory does not.\n");
    row("| queued | p50 | p99 | max | worker peak RSS |");
    row("| --- | --- | --- | --- | --- |");
    int sizes[3] = {10, 100, 1000};
    for (int i = 0; i < 3; i++) {
        char *bin = harness_bin("memectl");
        char ns[16];
        snprintf(ns, sizeof(ns), "%d", sizes[i]);
        char *argv[] = {bin, "-s",     (char *)nats->url, "bench",  "-n",
                        ns,  "--rate", "100000",          "--json", NULL};
        struct buf out = BUF_INIT, err = BUF_INIT;
        if (harness_run(argv, NULL, &out, &err, 300000) == 0) {
            json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
            json_t *l = json_object_get(j, "latency_ms");
            row("| %d | %.1f ms | %.1f ms | %.1f ms | %.1f MiB |", sizes[i],
                json_number_value(json_object_get(l, "p50")),
                json_number_value(json_object_get(l, "p99")),
                json_number_value(json_object_get(l, "max")), peak_rss_kb(w[0]) / 1024.0);
            json_decref(j);
        }
        buf_release(&out);
        buf_release(&err);
        free(bin);
    }
    row("%s", "");
    harness_kill(w[0], 5000);
}

/* ---- 3b. a worker lost mid-run, and an idle worker's stop ---- */

/* One `memectl bench --kill-worker/--stop-worker` run against a fresh
 * victim beside a running worker; fills the takeover figures. */
static int takeover_run(const char *url, const char *mode, int n, double *recovery, double *last,
                        double *redelivered, double *late)
{
    static int seq;
    char id[32], pid[16], ns[16];
    snprintf(id, sizeof(id), "victim%d", seq++);
    pid_t v = start_worker(url, NULL, id);
    usleep(300 * 1000); /* its pull is waiting too */
    snprintf(pid, sizeof(pid), "%d", (int)v);
    snprintf(ns, sizeof(ns), "%d", n);
    char *bin = harness_bin("memectl");
    char *argv[] = {bin,  "-s",         (char *)url, "bench",        "-n", ns,       "-c",
                    "16", (char *)mode, "1s",        "--worker-pid", pid,  "--json", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 300000);
    if (rc == 0) {
        json_t *j = json_loadb((const char *)out.data, out.len, 0, NULL);
        json_t *tk = json_object_get(j, "takeover");
        *recovery = json_number_value(json_object_get(tk, "recovery_s"));
        *last = json_number_value(json_object_get(tk, "last_answer_s"));
        *redelivered = json_number_value(json_object_get(tk, "redelivered"));
        *late = json_number_value(json_object_get(tk, "late_replies"));
        json_decref(j);
    } else {
        fprintf(stderr, "memebench: memectl bench %s failed: %.*s\n", mode, (int)err.len,
                (const char *)err.data);
    }
    harness_kill(v, 5000);
    buf_release(&out);
    buf_release(&err);
    free(bin);
    return rc == 0 ? 0 : -1;
}

static void bench_takeover(const struct harness_server *nats, bool quick)
{
    int runs_n = quick ? 2 : 5, n = 400;
    row("## A worker lost mid-run\n");
    row("`memectl bench -n %d -c 16 --kill-worker 1s` (and `--stop-worker 1s`) with two "
        "workers, JPEG 512x512: one worker gets SIGKILL (or SIGSTOP) a second into the run; the "
        "other answers the jobs it held once the consumer's %d s ack wait has passed since their "
        "last in-progress ack. Medians of %d runs; the original design's 60 s ack wait made the "
        "same jobs wait a minute.\n",
        n, PROTO_ACK_WAIT_MS / 1000, runs_n);
    row("| signal | its jobs redelivered | last of them answered after the signal | all "
        "outstanding answered after | late replies from the resumed worker |");
    row("| --- | --- | --- | --- | --- |");
    pid_t keep = start_worker(nats->url, NULL, "keeper");
    const char *modes[2] = {"--kill-worker", "--stop-worker"};
    for (int m = 0; m < 2; m++) {
        double rec[9], last[9], red[9], late[9];
        int k = 0;
        for (int i = 0; i < runs_n; i++)
            if (takeover_run(nats->url, modes[m], n, &rec[k], &last[k], &red[k], &late[k]) == 0)
                k++;
        if (!k)
            continue;
        row("| %s | %.0f | %.2f s | %.2f s | %s |", m ? "SIGSTOP" : "SIGKILL", median(red, k),
            median(rec, k), median(last, k), m ? (median(late, k) == 0 ? "0" : "some") : "—");
    }
    row("%s", "");
    harness_kill(keep, 5000);

    /* SIGTERM to an idle worker: how long until it has exited. */
    double t[9];
    int k = 0;
    for (int i = 0; i < (quick ? 3 : 7); i++) {
        pid_t w = start_worker(nats->url, NULL, "idle-term");
        usleep(400 * 1000);
        double t0 = now_ms();
        if (harness_kill(w, 10000) >= 0)
            t[k++] = now_ms() - t0;
    }
    row("An idle worker stops on SIGTERM in %.0f ms (median of %d; it waited up to 1 s for its "
        "pull request to expire, 2.2 s in all, before signals ended the wait).\n",
        median(t, k), k);
}

/* ---- 4. terminal graphics ---- */

static void bench_sixel(void)
{
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (!r)
        return;
    struct render_opts o = {.prompt = "bench",
                            .top = TOP,
                            .bottom = BOTTOM,
                            .template_name = "advice-wheel",
                            .width = 512};
    struct meme_image *img = renderer_draw(r, &o, NULL, 0, &err);
    char *png_path = xasprintf("%s/meme.png", scratch);
    uint8_t *png;
    size_t len;
    image_encode_png(img, &png, &len, NULL);
    FILE *f = fopen(png_path, "wb");
    fwrite(png, 1, len, f);
    fclose(f);
    free(png);

    row("## Terminal graphics\n");
    row("A 512x512 meme drawn as sixel at full size. memectl: `term_encode_sixel()` in "
        "process (what `memectl gen` adds after the image arrives: adaptive 256-colour "
        "palette, dithered); img2sixel and chafa: one process each, reading the same PNG.\n");
    row("| tool | time | bytes |");
    row("| --- | --- | --- |");
    double v[16];
    size_t bytes = 0;
    for (int k = 0; k < runs; k++) {
        struct buf b = BUF_INIT;
        double t0 = now_ms();
        term_encode_sixel(img, 512, 512, &b, &err);
        v[k] = now_ms() - t0;
        bytes = b.len;
        buf_release(&b);
    }
    row("| memectl (in process) | %.1f ms | %zu |", median(v, runs), bytes);
    struct buf half = BUF_INIT;
    double h0 = now_ms();
    term_encode_blocks(img, 64, 32, true, &half);
    row("| memectl half blocks, 64x32 cells (in process) | %.1f ms | %zu |", now_ms() - h0,
        half.len);
    buf_release(&half);
    char *out = xasprintf("%s/sixel.out", scratch);
    if (have("img2sixel")) {
        char *argv[] = {(char *)tool("img2sixel"), png_path, NULL};
        double t = median_process(argv, runs, out);
        row("| img2sixel | %.1f ms | %ld |", t, file_size(out));
    } else {
        row("| img2sixel | not installed | |");
    }
    if (have("chafa")) {
        char *argv[] = {(char *)tool("chafa"), "-f", "sixels", "--size", "64x32", png_path, NULL};
        double t = median_process(argv, runs, out);
        row("| chafa (sixels, 64x32 cells) | %.1f ms | %ld |", t, file_size(out));
    } else {
        row("| chafa | not installed | |");
    }
    row("%s", "");
    free(out);
    free(png_path);
    image_free(img);
    renderer_free(r);
}

/* ---- 4b. time to first pixel ---- */

/* Where, in what a program wrote to the terminal, the terminal could first
 * show part of the image: the end of a complete kitty command that is not
 * followed by more chunks (m=1), of an OSC 1337 file, of a sixel DCS; for
 * half blocks the end of the first line. 0 when not yet. */
static size_t first_pixel_at(const struct buf *b, const char *mode)
{
    const char *s = (const char *)b->data;
    if (!s)
        return 0;
    if (strcmp(mode, "kitty") == 0) {
        const char *p = s, *end = s + b->len;
        while ((p = memmem(p, (size_t)(end - p), "\033_G", 3)) != NULL) {
            const char *st = memmem(p, (size_t)(end - p), "\033\\", 2);
            if (!st)
                return 0;
            const char *semi = memchr(p, ';', (size_t)(st - p));
            const char *keys_end = semi ? semi : st;
            bool more = memmem(p, (size_t)(keys_end - p), "m=1", 3) != NULL;
            bool query = memmem(p, (size_t)(keys_end - p), "a=q", 3) != NULL;
            if (!more && !query)
                return (size_t)(st + 2 - s);
            p = st + 2;
        }
        return 0;
    }
    if (strcmp(mode, "iterm2") == 0) {
        const char *p = memmem(s, b->len, "\033]1337;File=", 12);
        const char *bel = p ? memchr(p, '\a', b->len - (size_t)(p - s)) : NULL;
        return bel ? (size_t)(bel + 1 - s) : 0;
    }
    if (strcmp(mode, "sixel") == 0) {
        const char *p = memmem(s, b->len, "\033P", 2);
        const char *st = p ? memmem(p, b->len - (size_t)(p - s), "\033\\", 2) : NULL;
        return st ? (size_t)(st + 2 - s) : 0;
    }
    /* Half blocks (upper, ours, or lower, chafa's): the first line of them. */
    const char *p = memmem(s, b->len, "\xe2\x96\x80", 3);
    const char *lower = memmem(s, b->len, "\xe2\x96\x84", 3);
    if (!p || (lower && lower < p))
        p = lower;
    const char *nl = p ? memchr(p, '\n', b->len - (size_t)(p - s)) : NULL;
    return nl ? (size_t)(nl + 1 - s) : 0;
}

/* Runs argv on a pseudo terminal of 120x40 cells of 10x20 pixels (so nobody
 * has to ask the terminal for its cell size) with env on top of a cleared
 * terminal environment; *first: ms from the fork to the first pixel, *total:
 * to the exit, *bytes: what it wrote. False when it failed or drew nothing. */
static bool time_on_pty(char *const argv[], const char *const env[], const char *mode,
                        double *first, double *total, size_t *bytes)
{
    int master, slave;
    struct winsize ws = {.ws_row = 40, .ws_col = 120, .ws_xpixel = 1200, .ws_ypixel = 800};
    if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
        return false;
    double t0 = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
        close(master);
        setsid();
        ioctl(slave, TIOCSCTTY, 0);
        dup2(slave, 0);
        dup2(slave, 1);
        int nul = open("/dev/null", O_WRONLY);
        dup2(nul, 2);
        static const char *const vars[] = {
            "TERM",        "TERM_PROGRAM", "COLORTERM",      "KITTY_WINDOW_ID", "KONSOLE_VERSION",
            "LC_TERMINAL", "TMUX",         "MEMECTL_DISPLAY"};
        for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
            unsetenv(vars[i]);
        for (size_t i = 0; env[i]; i++)
            putenv((char *)env[i]);
        execvp(argv[0], argv);
        _exit(127);
    }
    struct buf out = BUF_INIT;
    *first = -1;
    int st = 0;
    bool exited = false;
    double deadline = t0 + 30000;
    while (!exited && now_ms() < deadline) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        if (poll(&p, 1, 5) > 0) {
            char chunk[65536];
            ssize_t n = read(master, chunk, sizeof(chunk));
            if (n > 0)
                buf_append(&out, chunk, (size_t)n);
            if (*first < 0 && first_pixel_at(&out, mode))
                *first = now_ms() - t0;
        }
        if (waitpid(pid, &st, WNOHANG) == pid) {
            *total = now_ms() - t0;
            exited = true;
            fcntl(master, F_SETFL, O_NONBLOCK);
            char chunk[65536];
            ssize_t n;
            while ((n = read(master, chunk, sizeof(chunk))) > 0)
                buf_append(&out, chunk, (size_t)n);
            if (*first < 0 && first_pixel_at(&out, mode))
                *first = *total; /* it came with the last read */
        }
    }
    if (!exited) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    close(slave);
    close(master);
    *bytes = out.len;
    buf_release(&out);
    return exited && WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
           (*first >= 0 || strcmp(mode, "none") == 0);
}

/* Medians of n runs; false when any failed. */
static bool median_on_pty(char *const argv[], const char *const env[], const char *mode, int n,
                          double *first, double *total, size_t *bytes)
{
    double f[16], t[16];
    if (n > 16)
        n = 16;
    time_on_pty(argv, env, mode, &f[0], &t[0], bytes); /* warm the page cache */
    for (int i = 0; i < n; i++)
        if (!time_on_pty(argv, env, mode, &f[i], &t[i], bytes))
            return false;
    *first = median(f, n);
    *total = median(t, n);
    return true;
}

static void bench_first_pixel(const struct harness_server *nats)
{
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (!r)
        return;
    struct render_opts o = {.prompt = "bench",
                            .top = TOP,
                            .bottom = BOTTOM,
                            .template_name = "advice-wheel",
                            .width = 512};
    struct meme_image *img = renderer_draw(r, &o, NULL, 0, &err);
    uint8_t *png = NULL;
    size_t len = 0;
    image_encode_png(img, &png, &len, NULL);
    char *png_path = xasprintf("%s/first-pixel.png", scratch);
    FILE *f = fopen(png_path, "wb");
    fwrite(png, 1, len, f);
    fclose(f);

    /* The meme in the results bucket, where `memectl get` finds it. */
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = nats->url, .name = "memebench"};
    kvStore *kv = NULL;
    struct results_meta meta = {.ok = true, .width = 512, .height = 512, .bytes = len};
    snprintf(meta.content_type, sizeof(meta.content_type), "image/png");
    snprintf(meta.template_name, sizeof(meta.template_name), "advice-wheel");
    const char *id = "bench-first-pixel";
    bool stored = mq_connect(&mq, &co, &err) == 0 &&
                  results_open(mq.js, PROTO_RESULTS_BUCKET, true, 3600, 8 << 20, &kv, &err) == 0 &&
                  results_put(kv, id, png, len, &meta, &err) == 0;

    row("## Time to first pixel\n");
    row("The same 512x512 meme (%zu-byte PNG) on a terminal (a pseudo terminal of 120x40 cells "
        "of 10x20 pixels, as the kernel reports them, so nobody asks the terminal): from "
        "starting the program to the moment the terminal has what it needs to show the first "
        "pixels (the end of the kitty command or OSC 1337 file or sixel string; for half "
        "blocks the first line), and to the program's exit. memectl: `memectl get ID "
        "--display MODE`, which also connects to NATS, fetches the meme from the results "
        "bucket and saves it (the `none` row is that part alone); chafa %s: `chafa -f MODE` "
        "on the saved file, the same cells (52x26 for images, 74x37 for half blocks). "
        "Medians of %d runs. In process: what `memectl gen` spends after the reply arrived "
        "(decode the PNG, encode for the terminal), median of %d.\n",
        len, "1.12", 2 * runs + 1, iters);
    row("| mode | memectl first pixel | memectl exit | bytes | chafa first pixel | chafa exit | "
        "bytes | memectl in process |");
    row("| --- | --- | --- | --- | --- | --- | --- | --- |");
    struct {
        const char *label, *mode, *display, *colorterm, *chafa_fmt, *chafa_size, *chafa_colors;
        enum term_display in_process;
        bool truecolor;
    } modes[] = {
        {"kitty", "kitty", "kitty", NULL, "kitty", "52x26", NULL, TERM_DISPLAY_KITTY, true},
        {"iTerm2", "iterm2", "iterm2", NULL, "iterm", "52x26", NULL, TERM_DISPLAY_ITERM2, true},
        {"sixel", "sixel", "sixel", NULL, "sixels", "52x26", NULL, TERM_DISPLAY_SIXEL, false},
        {"half blocks, 24-bit", "blocks", "blocks", "COLORTERM=truecolor", "symbols", "74x37",
         "full", TERM_DISPLAY_BLOCKS, true},
        {"half blocks, 256 colours", "blocks", "blocks", NULL, "symbols", "74x37", "256",
         TERM_DISPLAY_BLOCKS, false},
        {"none (fetch and save)", "none", "none", NULL, NULL, NULL, NULL, TERM_DISPLAY_NONE, false},
    };
    char *bin = harness_bin("memectl");
    char *saved = xasprintf("%s/got.png", scratch);
    bool chafa = have("chafa");
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        const char *env[] = {"TERM=xterm-256color", modes[i].colorterm, NULL};
        char mem_first[32] = "failed", mem_total[32] = "", mem_bytes[32] = "";
        char ch_first[32] = "", ch_total[32] = "", ch_bytes[32] = "", inproc[32] = "";
        double fst, tot;
        size_t bytes;
        char *argv[] = {
            bin,  "-s",  (char *)nats->url, "get", "--display", (char *)modes[i].display,
            "-o", saved, (char *)id,        NULL};
        if (stored && median_on_pty(argv, env, modes[i].mode, 2 * runs + 1, &fst, &tot, &bytes)) {
            mem_first[0] = '\0';
            if (modes[i].in_process != TERM_DISPLAY_NONE)
                snprintf(mem_first, sizeof(mem_first), "%.1f ms", fst);
            snprintf(mem_total, sizeof(mem_total), "%.1f ms", tot);
            snprintf(mem_bytes, sizeof(mem_bytes), "%zu", bytes);
        }
        if (modes[i].chafa_fmt && chafa) {
            char *cargv[12];
            int k = 0;
            cargv[k++] = (char *)tool("chafa");
            cargv[k++] = "-f";
            cargv[k++] = (char *)modes[i].chafa_fmt;
            cargv[k++] = "-s";
            cargv[k++] = (char *)modes[i].chafa_size;
            if (modes[i].chafa_colors) {
                cargv[k++] = "--symbols";
                cargv[k++] = "vhalf";
                cargv[k++] = "-c";
                cargv[k++] = (char *)modes[i].chafa_colors;
            }
            cargv[k++] = png_path;
            cargv[k] = NULL;
            if (median_on_pty(cargv, env, modes[i].mode, 2 * runs + 1, &fst, &tot, &bytes)) {
                snprintf(ch_first, sizeof(ch_first), "%.1f ms", fst);
                snprintf(ch_total, sizeof(ch_total), "%.1f ms", tot);
                snprintf(ch_bytes, sizeof(ch_bytes), "%zu", bytes);
            } else {
                snprintf(ch_first, sizeof(ch_first), "failed");
            }
        } else if (modes[i].chafa_fmt) {
            snprintf(ch_first, sizeof(ch_first), "not installed");
        }
        if (modes[i].in_process != TERM_DISPLAY_NONE) {
            struct term_caps caps = {.mode = modes[i].in_process,
                                     .truecolor = modes[i].truecolor,
                                     .cols = 120,
                                     .rows = 40,
                                     .cell_w = 10,
                                     .cell_h = 20};
            double v[64];
            int n = iters < 64 ? iters : 64;
            for (int k = 0; k < n; k++) {
                struct buf pre = BUF_INIT, out = BUF_INIT;
                double t0 = now_ms();
                struct meme_image *dec = image_decode(png, len, NULL);
                term_draw(&caps, dec, 119, 37, &pre, &out, NULL);
                v[k] = now_ms() - t0;
                image_free(dec);
                buf_release(&pre);
                buf_release(&out);
            }
            snprintf(inproc, sizeof(inproc), "%.2f ms", median(v, n));
        }
        row("| %s | %s | %s | %s | %s | %s | %s | %s |", modes[i].label, mem_first, mem_total,
            mem_bytes, ch_first, ch_total, ch_bytes, inproc);
    }
    row("%s", "");
    if (kv)
        kvStore_Destroy(kv);
    mq_close(&mq);
    free(saved);
    free(bin);
    free(png_path);
    free(png);
    image_free(img);
    renderer_free(r);
}

/* CPU seconds (user + system) and resident KiB of a process. */
static bool proc_usage(pid_t pid, double *cpu_s, long *rss_kb)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return false;
    unsigned long ut = 0, st = 0;
    long rss_pages = 0;
    /* Fields after the command: state(3) ... utime(14) stime(15) ... rss(24). */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
               "%*d %*u %*u %ld",
               &ut, &st, &rss_pages) != 3)
        return false;
    long hz = sysconf(_SC_CLK_TCK);
    *cpu_s = (double)(ut + st) / (double)hz;
    *rss_kb = rss_pages * (sysconf(_SC_PAGESIZE) / 1024);
    return true;
}

/* Idle cost of a terminal program run in tmux for `seconds`: CPU share and RSS. */
static bool idle_cost(const char *cmd, int seconds, double *cpu_pct, long *rss_kb)
{
    char *pidfile = xasprintf("%s/idle.pid", scratch);
    char *sock = xasprintf("memebench-%d", (int)getpid());
    char *shell = xasprintf("echo $$ > '%s'; exec %s", pidfile, cmd);
    char *argv[] = {"tmux", "-L", sock, "new-session", "-d", "-x", "120", "-y", "40", shell, NULL};
    bool ok = false;
    if (time_process(argv, NULL) >= 0) {
        pid_t pid = 0;
        for (int i = 0; i < 50 && pid <= 0; i++) {
            usleep(100000);
            FILE *f = fopen(pidfile, "r");
            if (f) {
                if (fscanf(f, "%d", &pid) != 1)
                    pid = 0;
                fclose(f);
            }
        }
        double c0, c1;
        long r;
        sleep(2); /* past start-up */
        if (pid > 0 && proc_usage(pid, &c0, &r)) {
            double t0 = now_ms();
            sleep((unsigned)seconds);
            if (proc_usage(pid, &c1, rss_kb)) {
                *cpu_pct = (c1 - c0) / ((now_ms() - t0) / 1000.0) * 100.0;
                ok = true;
            }
        }
    }
    char *kill_argv[] = {"tmux", "-L", sock, "kill-server", NULL};
    time_process(kill_argv, NULL);
    free(shell);
    free(sock);
    free(pidfile);
    return ok;
}

/* Peak resident KiB of one run of argv; its CPU seconds in *cpu_s. */
static long peak_rss_of(char *const argv[], double *cpu_s)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *o = freopen("/dev/null", "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o;
        (void)e;
        execvp(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (pid < 0 || wait4(pid, &st, 0, &ru) < 0)
        return -1;
    *cpu_s = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
             (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    return ru.ru_maxrss;
}

static struct kube_fixture *fixture, *fixture100;
static char *fixture_kubeconfig, *fixture100_kubeconfig;

/* The Kubernetes API fixture (recorded objects over TLS), for status vs
 * kubectl; copies > 0 repeats the stack in that many more namespaces. */
static struct kube_fixture *start_fixture(int copies, const char *name, char **kubeconfig)
{
    char *pki = xasprintf("%s/pki", scratch);
    mkdir(pki, 0700);
    const char *src = getenv("MEME_SOURCE_DIR");
    char *data = xasprintf("%s/tests/fixtures/kube", src && *src ? src : ".");
    struct kube_fixture_opts o = {
        .data_dir = data, .pki_dir = pki, .token = "bench-token", .stack_copies = copies};
    struct kube_fixture *fx = NULL;
    char *ca = xasprintf("%s/ca.crt", pki);
    if (access(ca, R_OK) == 0 || kube_fixture_make_pki(pki) == 0)
        fx = kube_fixture_start(&o);
    free(ca);
    free(pki);
    free(data);
    if (!fx)
        return NULL;
    *kubeconfig = xasprintf("%s/%s", scratch, name);
    if (kube_fixture_write_kubeconfig(fx, *kubeconfig, NULL, NULL, "    token: bench-token\n")) {
        kube_fixture_stop(fx);
        return NULL;
    }
    return fx;
}

/* Requests the fixture saw during one run of argv. */
static int requests_of(struct kube_fixture *fx, char *const argv[])
{
    kube_fixture_reset_counts(fx);
    if (time_process(argv, NULL) < 0)
        return -1;
    return kube_fixture_count(fx, "");
}

/* One row: memectl's and kubectl's medians and request counts. The two are
 * run in turns, so a busy moment of the machine falls on both alike. */
static void status_row(const char *what, struct kube_fixture *fx, char *const ours[],
                       char *const theirs[], double *g_ours, double *g_theirs)
{
    char a[32], b[32], c[32];
    int n = runs * 3;
    bool kubectl = have("kubectl");
    double *to = xcalloc((size_t)n, sizeof(*to)), *tt = xcalloc((size_t)n, sizeof(*tt));
    time_process(ours, NULL); /* warm the page cache */
    if (kubectl)
        time_process(theirs, NULL); /* and kubectl's discovery cache */
    double t_ours = 0, t_theirs = kubectl ? 0 : -1;
    for (int i = 0; i < n; i++) {
        to[i] = time_process(ours, NULL);
        tt[i] = kubectl ? time_process(theirs, NULL) : 0;
        if (to[i] < 0)
            t_ours = -1;
        if (tt[i] < 0)
            t_theirs = -1;
    }
    if (t_ours == 0)
        t_ours = median(to, n);
    if (t_theirs == 0)
        t_theirs = median(tt, n);
    free(to);
    free(tt);
    int r_ours = requests_of(fx, ours);
    int r_theirs = kubectl ? requests_of(fx, theirs) : -1;
    *g_ours = t_ours;
    *g_theirs = t_theirs;
    row("| %s | %s | %d | %s | %d | %s |", what, cell(a, 32, t_ours, "ms", 1), r_ours,
        kubectl ? cell(b, 32, t_theirs, "ms", 1) : "not installed", r_theirs,
        t_ours > 0 && t_theirs > 0 ? cell(c, 32, t_ours / t_theirs, "", 2) : "-");
}

static void bench_status(const struct harness_server *nats)
{
    row("## `memectl status` vs kubectl\n");
    if (!fixture) {
        row("The fixture API server did not start; no figures.\n");
        return;
    }
    row("Against the fixture API server (the recorded HPA, ScaledObject, VPA, Deployment, "
        "StatefulSet, Pod and PodMetrics objects with the seed's names, over TLS with a bearer "
        "token), median of %d runs each (memectl and kubectl in turns), process start to exit, "
        "output to a file, with no added latency and with "
        "20 ms added to every answer as a managed control plane across a network has (the "
        "fixture sleeps in the connection's own thread, so parallel requests overlap as they "
        "would). memectl's table reads 5 kinds (the scalers and the workloads it joins them to; "
        "with `-o json` also the pods and their metrics) and the queue from NATS; kubectl reads 3 "
        "and only prints them, with its discovery cache warm. The fixture speaks HTTP/1.1 only, "
        "so memectl's requests go over a few parallel connections; against a real API server "
        "they share one HTTP/2 connection. Requests are counted by the fixture for one run.\n",
        runs * 3);
    row("| cluster, latency | `memectl status` | requests | "
        "`kubectl get hpa,scaledobject,vpa -A -o json` | requests | memectl / kubectl |");
    row("| --- | --- | --- | --- | --- | --- |");
    char *bin = harness_bin("memectl");
    char *ours[] = {bin, "-s", (char *)nats->url, "status", "--kubeconfig", fixture_kubeconfig,
                    NULL};
    char *ours_json[] = {bin,    "-s",           (char *)nats->url,  "status", "-o",
                         "json", "--kubeconfig", fixture_kubeconfig, NULL};
    char *theirs[] = {"kubectl",
                      "--kubeconfig",
                      fixture_kubeconfig,
                      "get",
                      "hpa,scaledobject,vpa",
                      "-A",
                      "-o",
                      "json",
                      NULL};
    static const int latency[2] = {0, 20};
    for (int l = 0; l < 2; l++) {
        /* the JSON row below runs at the last latency set here: 20 ms */
        kube_fixture_set_latency(fixture, latency[l]);
        char what[96];
        snprintf(what, sizeof(what), "the stack (4 namespaces), %d ms", latency[l]);
        status_row(what, fixture, ours, theirs, &g_status[l], &g_kubectl[l]);
    }
    double tj, kj;
    status_row("the stack, 20 ms, `status -o json` (also the pods and their metrics)", fixture,
               ours_json, theirs, &tj, &kj);
    if (fixture100) {
        char *ours_a[] = {bin,  "-s",           (char *)nats->url,     "status",
                          "-A", "--kubeconfig", fixture100_kubeconfig, NULL};
        char *theirs_a[] = {"kubectl",
                            "--kubeconfig",
                            fixture100_kubeconfig,
                            "get",
                            "hpa,scaledobject,vpa",
                            "-A",
                            "-o",
                            "json",
                            NULL};
        double t0, k0;
        kube_fixture_set_latency(fixture100, 0);
        char what[96];
        snprintf(what, sizeof(what), "%d namespaces, `status -A`, 0 ms",
                 kube_fixture_namespaces(fixture100));
        status_row(what, fixture100, ours_a, theirs_a, &t0, &k0);
        kube_fixture_set_latency(fixture100, 20);
        snprintf(what, sizeof(what), "%d namespaces, `status -A`, 20 ms",
                 kube_fixture_namespaces(fixture100));
        status_row(what, fixture100, ours_a, theirs_a, &g_status[2], &g_kubectl[2]);
        kube_fixture_set_latency(fixture100, 0);
    }
    kube_fixture_set_latency(fixture, 0);
    row("%s", "");

    /* what the other views cost in requests */
    row("Requests the other views make against the stack's 4 namespaces (counted by the "
        "fixture; the per-namespace reads before this design took 7 kinds x 4 namespaces, one "
        "after another: 28 for `status`, and the dashboard and `watch` listed again every 2 s "
        "or on every event):\n");
    row("| view | requests |");
    row("| --- | --- |");
    char *explain[] = {bin,
                       "-s",
                       (char *)nats->url,
                       "explain",
                       "hpa",
                       "meme-generator-frontend-hpa",
                       "--kubeconfig",
                       fixture_kubeconfig,
                       NULL};
    row("| `memectl explain hpa meme-generator-frontend-hpa` | %d |",
        requests_of(fixture, explain));
    char *dump[] = {bin, "-s", (char *)nats->url, "tui", "--dump", NULL};
    char *kc_env = xasprintf("KUBECONFIG=%s", fixture_kubeconfig);
    putenv(kc_env);
    row("| `memectl tui --dump` (one frame) | %d |", requests_of(fixture, dump));
    unsetenv("KUBECONFIG");
    free(kc_env);
    /* watch for 10 s: lists and watches once, the pod metrics every 2 s */
    char *log = xasprintf("%s/watch.log", scratch);
    char *watch[] = {
        bin, "-s", (char *)nats->url, "watch", "--kubeconfig", fixture_kubeconfig, "--interval",
        "2", NULL};
    kube_fixture_reset_counts(fixture);
    pid_t w = harness_spawn(watch, NULL, log);
    sleep(10);
    harness_kill(w, 5000);
    int total = kube_fixture_count(fixture, "");
    int metrics = kube_fixture_count(fixture, "/apis/metrics.k8s.io/");
    int watches = 0;
    static const char *const watched[] = {"/apis/autoscaling/v2/horizontalpodautoscalers",
                                          "/apis/keda.sh/v1alpha1/scaledobjects",
                                          "/apis/autoscaling.k8s.io/v1/verticalpodautoscalers",
                                          "/apis/apps/v1/deployments",
                                          "/apis/apps/v1/statefulsets",
                                          "/api/v1/pods"};
    for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
        char *p = xasprintf("%s?watch", watched[i]);
        watches += kube_fixture_count(fixture, p);
        free(p);
    }
    row("| `memectl watch` for 10 s | %d (%d lists, %d watches, %d pod-metrics polls) |", total,
        total - watches - metrics, watches, metrics);
    free(log);
    row("%s", "");
    free(bin);
}

static void bench_tui_idle(const struct harness_server *nats)
{
    if (!have("tmux"))
        return;
    pid_t w = start_worker(nats->url, NULL, "idle");
    char *bin = harness_bin("memectl");
    char *cmd = xasprintf("env LANG=C.UTF-8 TERM=xterm-256color KUBECONFIG='%s' '%s' "
                          "-s '%s' tui",
                          fixture_kubeconfig ? fixture_kubeconfig : "/nonexistent", bin, nats->url);
    row("## Dashboard idle cost\n");
    row("`memectl tui` in a 120x40 tmux window with one worker heartbeating, the fixture API "
        "server as its cluster and nothing else happening, measured over 10 s after start-up "
        "(CPU share of one core; resident memory). Beside it, `watch -n2 kubectl get hpa` "
        "doing a smaller job on the same server, from the CPU and memory of one kubectl run.\n");
    row("| program | CPU | RSS |");
    row("| --- | --- | --- |");
    double cpu;
    long rss;
    if (fixture)
        kube_fixture_reset_counts(fixture);
    if (idle_cost(cmd, 10, &cpu, &rss))
        row("| `memectl tui` | %.2f %% | %.1f MiB |", cpu, rss / 1024.0);
    else
        row("| `memectl tui` | failed | |");
    int tui_requests = fixture ? kube_fixture_count(fixture, "") : -1;
    if (have("kubectl") && fixture_kubeconfig) {
        /* watch -n2 runs one kubectl every 2 s: its cost is one run's CPU and memory. */
        char *k[] = {"kubectl", "--kubeconfig", fixture_kubeconfig, "get", "hpa", "-A", NULL};
        double kcpu[16];
        long kube_rss = 0;
        for (int i = 0; i < runs; i++)
            kube_rss = peak_rss_of(k, &kcpu[i]);
        double per_run = median(kcpu, runs);
        row("| `watch -n2 kubectl get hpa` (one kubectl every 2 s: %.0f ms of CPU each) | %.2f %% "
            "| %.1f MiB for each kubectl run |",
            per_run * 1000.0, per_run / 2.0 * 100.0, kube_rss / 1024.0);
    }
    row("%s", "");
    row("The dashboard made %d requests to the API server in those 12 s: one list and one watch "
        "per kind it shows (HPA, ScaledObject, VPA, Deployment, StatefulSet), then nothing while "
        "nothing changed; `watch -n2 kubectl get hpa` makes one every 2 s.\n",
        tui_requests);
    free(cmd);
    free(bin);
    harness_kill(w, 5000);
}

/* The same pixels through libpng's own writer (zlib, default level 6). */
static double time_libpng(const struct meme_image *img, size_t *bytes)
{
    png_image pi;
    memset(&pi, 0, sizeof(pi));
    pi.version = PNG_IMAGE_VERSION;
    pi.width = (png_uint_32)img->width;
    pi.height = (png_uint_32)img->height;
    pi.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&pi, NULL, &size, 0, img->rgb, 0, NULL))
        return -1;
    void *mem = xmalloc(size);
    double *v = xcalloc((size_t)runs, sizeof(*v));
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        for (int i = 0; i < iters / 4 + 1; i++) {
            png_alloc_size_t n = size;
            png_image_write_to_memory(&pi, mem, &n, 0, img->rgb, 0, NULL);
            *bytes = n;
        }
        v[k] = (now_ms() - t0) / (iters / 4 + 1);
    }
    double m = median(v, runs);
    free(v);
    free(mem);
    return m;
}

/* A renderer made for each meme (font opened, background drawn) vs one kept. */
static double time_cold_render(void)
{
    struct render_opts o = {.prompt = "bench",
                            .top = TOP,
                            .bottom = BOTTOM,
                            .template_name = "advice-wheel",
                            .width = 512,
                            .format = IMAGE_JPEG};
    double *v = xcalloc((size_t)runs, sizeof(*v));
    for (int k = 0; k < runs; k++) {
        double t0 = now_ms();
        for (int i = 0; i < 5; i++) {
            struct meme_err err = {0};
            struct renderer *r = renderer_new(NULL, NULL, &err);
            struct render_result res;
            if (r && renderer_render(r, &o, &res, &err) == 0)
                render_result_release(&res);
            renderer_free(r);
        }
        v[k] = (now_ms() - t0) / 5;
    }
    double m = median(v, runs);
    free(v);
    return m;
}

static void bench_before_after(const struct harness_server *nats)
{
    row("## What made it fast (before and after, measured in this run)\n");
    row("| change | before | after |");
    row("| --- | --- | --- |");
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, NULL, &err);
    if (r) {
        struct render_opts o = {.prompt = "bench",
                                .top = TOP,
                                .bottom = BOTTOM,
                                .template_name = "advice-wheel",
                                .width = 512};
        struct meme_image *img = renderer_draw(r, &o, NULL, 0, &err);
        size_t lib_bytes = 0, our_bytes = 0;
        double lib = time_libpng(img, &lib_bytes);
        uint8_t *png;
        image_encode_png(img, &png, &our_bytes, NULL);
        free(png);
        double ours = time_encode(img, IMAGE_PNG);
        char a[32], b[32];
        row("| PNG writer: libpng + zlib (level 6) -> libdeflate level 1 with the SUB filter, "
            "512x512 meme | %s, %zu KB | %s, %zu KB |",
            cell(a, 32, lib, "ms", 2), lib_bytes / 1024, cell(b, 32, ours, "ms", 2),
            our_bytes / 1024);
        double warm = time_render(r, 512, IMAGE_JPEG);
        double cold = time_cold_render();
        row("| renderer kept per worker thread (font, glyph cache, backgrounds per size) "
            "instead of made per meme, 512x512 JPEG | %s | %s |",
            cell(a, 32, cold, "ms", 2), cell(b, 32, warm, "ms", 2));
        image_free(img);
        renderer_free(r);
    }
    double slow = nats_rtt_opt(nats->url, 45000, false);
    double fast = nats_rtt_opt(nats->url, 45000, true);
    char a[32], b[32];
    row("| nats.c send-asap on every connection (request/reply, 45 KB back) | %s | %s |",
        cell(a, 32, slow, "ms", 2), cell(b, 32, fast, "ms", 2));
    row("%s", "");
}

/* ---- container images: size and start to ready ---- */

static const char *IMAGE_TAG_DEFAULT = "dev";

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* True when http://127.0.0.1:port/readyz answers 200. */
static bool http_ready(int port)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/readyz", port);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 1000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    return status == 200;
}

/* Milliseconds from t0 until /readyz on port answers 200 (polled every
 * 2 ms, 30 s at most), or -1. */
static double until_ready(double t0, int port)
{
    while (now_ms() - t0 < 30000) {
        if (http_ready(port))
            return now_ms() - t0;
        usleep(2000);
    }
    return -1;
}

static int run_quiet(char *const argv[], struct buf *out, int timeout_ms)
{
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, &o, &e, timeout_ms);
    if (rc != 0) {
        buf_putc(&e, '\0');
        fprintf(stderr, "memebench: %s %s: exit %d: %s\n", argv[0], argv[1], rc, (char *)e.data);
    }
    buf_putc(&o, '\0');
    if (out)
        *out = o;
    else
        buf_release(&o);
    buf_release(&e);
    return rc;
}

/* The environment that points a worker or gateway at the broker and makes
 * it serve /readyz on port (as the Deployments configure them). */
static void server_env(int gateway, int port, const char *nats_url, char *env_nats, size_t en,
                       char *env_addr, size_t an)
{
    snprintf(env_nats, en, "NATS_URL=%s", nats_url);
    snprintf(env_addr, an, "%s=127.0.0.1:%d", gateway ? "GATEWAY_LISTEN" : "METRICS_ADDR", port);
}

/* Median time from `docker run -d` to /readyz, as the Deployment runs it. */
static double container_ready(const char *image, int gateway, const char *nats_url)
{
    double *v = xcalloc((size_t)runs, sizeof(*v));
    double m = -1;
    for (int i = 0; i < runs; i++) {
        int port = harness_free_port();
        char env_nats[96], env_addr[64], name[64];
        server_env(gateway, port, nats_url, env_nats, sizeof(env_nats), env_addr, sizeof(env_addr));
        snprintf(name, sizeof(name), "memebench-%d-%d", (int)getpid(), i);
        char *argv[] = {"docker", "run",         "-d",          "--name", name, "--network",
                        "host",   "--read-only", "--cap-drop",  "ALL",    "-e", env_nats,
                        "-e",     env_addr,      (char *)image, NULL};
        double t0 = now_ms();
        int rc = run_quiet(argv, NULL, 60000);
        v[i] = rc == 0 ? until_ready(t0, port) : -1;
        char *rm[] = {"docker", "rm", "-f", name, NULL};
        run_quiet(rm, NULL, 60000);
        if (v[i] < 0)
            goto out;
    }
    m = median(v, runs);
out:
    free(v);
    return m;
}

/* Median time from starting the same program on the host to /readyz. */
static double process_ready(int gateway, const char *nats_url)
{
    double *v = xcalloc((size_t)runs, sizeof(*v));
    double m = -1;
    char *bin = harness_bin(gateway ? "meme-gateway" : "meme-worker");
    for (int i = 0; i < runs; i++) {
        int port = harness_free_port();
        char env_nats[96], env_addr[64];
        server_env(gateway, port, nats_url, env_nats, sizeof(env_nats), env_addr, sizeof(env_addr));
        char *argv[] = {bin, NULL};
        char *env[] = {env_nats, env_addr, NULL};
        double t0 = now_ms();
        pid_t pid = harness_spawn(argv, env, NULL);
        v[i] = pid > 0 ? until_ready(t0, port) : -1;
        harness_kill(pid, 30000);
        if (v[i] < 0)
            goto out;
    }
    m = median(v, runs);
out:
    free(bin);
    free(v);
    return m;
}

static void bench_images(const struct harness_server *nats)
{
    row("## Container images\n");
    const char *tag = getenv("IMAGE_TAG");
    if (!tag || !*tag)
        tag = IMAGE_TAG_DEFAULT;
    char *info[] = {"docker", "info", NULL};
    struct buf o = BUF_INIT, e = BUF_INIT;
    bool engine = have("docker") && harness_run(info, NULL, &o, &e, 30000) == 0;
    buf_release(&o);
    buf_release(&e);
    if (!engine) {
        row("Not measured: no container engine answers (`make images` needs one; see "
            "[deploy.md](deploy.md#5-images)).\n");
        return;
    }
    row("`make images`: `FROM scratch` images holding the binary, the shared libraries it "
        "links, the worker's fonts, CA certificates and a passwd entry. *Size*: unpacked, as "
        "the engine stores it; *pulled*: the image as `docker save` writes it, gzip-compressed "
        "as registries send layers (what a node downloads before KEDA's first worker can "
        "start). *Ready*: from `docker run -d` (`--read-only --cap-drop ALL`, host network) "
        "to the first 200 from `/readyz` (connected to NATS, stream and consumer checked), "
        "median of %d, broker on this machine, image already on the node. *The program "
        "alone*: the same from starting the release binary on the host, no container.\n",
        runs);
    row("| image | size | pulled (gzip) | ready after `docker run` | the program alone |");
    row("| --- | --- | --- | --- | --- |");
    const char *names[2] = {"meme-worker", "meme-gateway"};
    for (int g = 0; g < 2; g++) {
        char image[96];
        snprintf(image, sizeof(image), "%s:%s", names[g], tag);
        struct buf out = BUF_INIT;
        char *inspect[] = {"docker", "image", "inspect", "-f", "{{.Size}}", image, NULL};
        if (run_quiet(inspect, &out, 30000) != 0) {
            row("| `%s` | not built | | | |", image);
            buf_release(&out);
            continue;
        }
        double mb = atof((char *)out.data) / 1e6;
        buf_release(&out);
        g_image_mb[g] = mb;
        char *cmd = xasprintf("docker save '%s' | gzip -6 | wc -c", image);
        char *save[] = {"sh", "-c", cmd, NULL};
        double gz = run_quiet(save, &out, 120000) == 0 ? atof((char *)out.data) / 1e6 : -1;
        buf_release(&out);
        free(cmd);
        double in_ctr = container_ready(image, g, nats->url);
        double alone = process_ready(g, nats->url);
        char a[32], b[32], c[32], d[32];
        row("| `%s` | %s | %s | %s | %s |", image, cell(a, sizeof(a), mb, "MB", 1),
            cell(b, sizeof(b), gz, "MB", 1), cell(c, sizeof(c), in_ctr, "ms", 0),
            cell(d, sizeof(d), alone, "ms", 0));
    }
    row("%s", "");
}

static void goal(const char *what, const char *target, double measured, const char *unit, bool met)
{
    char m[48];
    row("| %s | %s | %s | %s |", what, target, cell(m, sizeof(m), measured, unit, 1),
        measured < 0 ? "not measured"
        : met        ? "met"
                     : "**missed**");
}

/* The goals the project set itself, against this run's figures. */
static void bench_goals(void)
{
    row("## Goals\n");
    row("| goal | target | this run | |");
    row("| --- | --- | --- | --- |");
    const char *fmt[2] = {"PNG", "JPEG"};
    char what[160];
    for (int f = 0; f < 2; f++) {
        double ratio = g_im_fitted[f] > 0 && g_ours512[f] > 0 ? g_im_fitted[f] / g_ours512[f] : -1;
        snprintf(what, sizeof(what), "local render vs ImageMagick making the same meme, 512 %s",
                 fmt[f]);
        goal(what, ">= 20x faster", ratio, "x", ratio >= 20);
        double fl = g_floor512[f] > 0 ? g_ours512[f] / g_floor512[f] : -1;
        snprintf(what, sizeof(what), "local render vs the encode floor, 512 %s", fmt[f]);
        goal(what, "within 2x", fl, "x", fl <= 2);
    }
    for (int f = 0; f < 2; f++) {
        snprintf(what, sizeof(what), "`memectl gen` round trip, cache miss, 512 %s", fmt[f]);
        goal(what, "< 30 ms median", g_gen_miss[f], "ms", g_gen_miss[f] < 30);
        snprintf(what, sizeof(what), "`memectl gen` round trip, cache hit, 512 %s", fmt[f]);
        goal(what, "< 10 ms median", g_gen_hit[f], "ms", g_gen_hit[f] < 10);
    }
    double im_gen = g_im_fitted[0] > 0 && g_gen_miss[0] > 0 ? g_im_fitted[0] / g_gen_miss[0] : -1;
    goal("`memectl gen` (PNG, whole round trip) vs ImageMagick making the meme locally",
         ">= 3x faster", im_gen, "x", im_gen >= 3);
    goal("stack throughput, 2 workers, 512 JPEG, cache misses", ">= 300 memes/s", g_tput2[1],
         "memes/s", g_tput2[1] >= 300);
    goal("stack throughput, 2 workers, 512 PNG (beside it)", "-", g_tput2[0], "memes/s", true);
    static const char *const what_st[3] = {
        "`memectl status` wall time as a share of kubectl's, no added latency",
        "`memectl status` wall time as a share of kubectl's, 20 ms per request",
        "`memectl status -A` on 100 namespaces as a share of kubectl's, 20 ms per request"};
    static const double limit[3] = {0.34, 0.34, 0.5};
    static const char *const target_st[3] = {"<= 0.33", "<= 0.33", "<= 0.5"};
    for (int i = 0; i < 3; i++) {
        double st = g_status[i] > 0 && g_kubectl[i] > 0 ? g_status[i] / g_kubectl[i] : -1;
        goal(what_st[i], target_st[i], st, "", st <= limit[i]);
    }
    goal("meme-worker image size (what a node pulls, unpacked)", "<= 60 MB", g_image_mb[0], "MB",
         g_image_mb[0] <= 60);
    goal("meme-gateway image size", "<= 40 MB", g_image_mb[1], "MB", g_image_mb[1] <= 40);
    row("%s", "");
}

static void header(void)
{
    struct utsname u;
    uname(&u);
    char cpu[256] = "unknown CPU";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof(line), f))
            if (strncmp(line, "model name", 10) == 0) {
                char *c = strchr(line, ':');
                if (c) {
                    snprintf(cpu, sizeof(cpu), "%s", c + 2);
                    cpu[strcspn(cpu, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    time_t t = time(NULL);
    char date[32];
    strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&t));
    row("# Benchmarks\n");
    row("Written by `make bench` (bench/bench.c) on %s: %ld cores (%s), %s %s. Medians of "
        "several runs; the machines are shared and noisy, so compare ratios within one run, "
        "not figures across runs.\n",
        date, sysconf(_SC_NPROCESSORS_ONLN), cpu, u.sysname, u.release);
}

int main(int argc, char **argv)
{
    const char *out_path = NULL;
    bool quick = false, only_takeover = false, only_terminal = false, only_render = false;
    bool only_kube = false, only_images = false; /* only-kube: the Kubernetes views alone */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out_path = argv[++i];
        else if (strcmp(argv[i], "--quick") == 0)
            quick = true;
        else if (strcmp(argv[i], "--takeover") == 0)
            only_takeover = true;
        else if (strcmp(argv[i], "--terminal") == 0)
            only_terminal = true;
        else if (strcmp(argv[i], "--render") == 0)
            only_render = true;
        else if (strcmp(argv[i], "--only-kube") == 0)
            only_kube = true;
        else if (strcmp(argv[i], "--images") == 0)
            only_images = true;
        else {
            fprintf(stderr, "usage: memebench [--out FILE] [--quick] [--takeover] [--terminal] "
                            "[--only-kube] [--images] [--render]\n");
            return 2;
        }
    }
    if (quick) {
        runs = 3;
        iters = 10;
    }
    /* The programs under test are the ones built next to this one. */
    char *dir = paths_exe_dir();
    if (dir && !getenv("MEME_BUILD_DIR"))
        setenv("MEME_BUILD_DIR", dir, 1);
    free(dir);
    scratch = harness_tmpdir("bench");
    if (only_render) {
        header();
        bench_render();
        bench_captions(); /* printed as it goes; docs/benchmarks.md is left alone */
        buf_release(&md);
        free(scratch);
        return harness_finish(0);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct harness_server nats, redis;
    bool have_redis = harness_redis_start(&redis) == 0;
    if (harness_nats_start(&nats) != 0) {
        fprintf(stderr, "memebench: cannot start nats-server\n");
        return harness_finish(1);
    }
    header();
    if (only_terminal) {
        /* Just the terminal sections (their figures only need nats-server). */
        bench_sixel();
        bench_first_pixel(&nats);
        goto done;
    }
    if (only_images) {
        /* Just the container images (after make images). */
        bench_images(&nats);
        goto done;
    }
    if (!only_takeover && !only_kube) {
        bench_render();
        bench_captions();
        bench_before_after(&nats);
        bench_round_trip(&nats, have_redis ? &redis : NULL);
        bench_throughput(&nats, quick);
    }
    if (!only_kube)
        bench_takeover(&nats, quick);
    if (only_takeover)
        goto done;
    if (!only_kube) {
        bench_sixel();
        bench_first_pixel(&nats);
    }
    fixture = start_fixture(0, "kubeconfig", &fixture_kubeconfig);
    /* 7 recorded namespaces and 93 copies of the stack: 100 namespaces */
    fixture100 = start_fixture(93, "kubeconfig-100", &fixture100_kubeconfig);
    bench_status(&nats);
    bench_tui_idle(&nats);
    bench_images(&nats);
    bench_goals();
done:
    kube_fixture_stop(fixture);
    kube_fixture_stop(fixture100);
    free(fixture_kubeconfig);
    free(fixture100_kubeconfig);
    harness_stop(&nats);
    if (have_redis)
        harness_stop(&redis);
    if (out_path) {
        FILE *f = fopen(out_path, "w");
        if (!f || fwrite(md.data, 1, md.len, f) != md.len || fclose(f) != 0) {
            fprintf(stderr, "memebench: cannot write %s: %s\n", out_path, strerror(errno));
            return harness_finish(1);
        }
        fprintf(stderr, "memebench: wrote %s\n", out_path);
    }
    buf_release(&md);
    free(scratch);
    curl_global_cleanup();
    return harness_finish(0);
}
