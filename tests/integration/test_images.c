/*
 * The container images, built and run: `make images` builds meme-worker and
 * meme-gateway (from the official Debian image, or from one made here from
 * Debian's packages), then both run as a cluster would run them
 * (--read-only, --cap-drop ALL, no-new-privileges, the user the image
 * names) on the host's network against a nats-server the harness started.
 * A meme goes through the gateway container to a worker container and back
 * over loopback HTTP; then one of two worker containers gets SIGTERM (as
 * KEDA scales in) while requests keep coming and both its job slots wait on
 * the Hugging Face fixture: it must finish them, exit 0, and every request
 * must be answered. The images' contents are checked too: the
 * user 10001, OCI labels, the fonts and CA certificates, no shell, no
 * package manager, and the sizes a node pulls.
 *
 * When no Docker daemon answers and this user may start one, the test
 * starts dockerd and stops it at the end. Where no engine can run (no
 * docker command, or a daemon that cannot start here) every test is
 * skipped with the reason.
 */
#include "common.h"
#include "fixtures/hf_fixture.h"

#include <curl/curl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#define WORKER_LIMIT_MB  60.0 /* what a node pulls before KEDA's first worker starts */
#define GATEWAY_LIMIT_MB 40.0

static char *src;
static char *scratch;
static const char *no_engine; /* why every test is skipped, or NULL */
static pid_t dockerd = -1;    /* the daemon this test started, if any */
static bool built;
static char tag[32];
static char worker_image[64], gateway_image[64];
static char names[5][64]; /* containers this run may have made */
static struct harness_server nats;
static char gateway_url[64];
static struct hf_fixture *hf; /* the Hugging Face API the drain test's workers call */

#define HF_TOKEN "hf_imagesTestTOKEN42"

/* Runs docker with the NULL-terminated arguments; stdout in *out (NUL-
 * terminated) when out is not NULL. Its exit code; stderr shown on failure
 * unless quiet. */
static int docker_run(struct buf *out, bool quiet, int timeout_ms, ...)
{
    char *argv[48];
    int n = 0;
    argv[n++] = "docker";
    va_list ap;
    va_start(ap, timeout_ms);
    char *a;
    while ((a = va_arg(ap, char *)) != NULL && n < 47)
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    struct buf o = BUF_INIT, e = BUF_INIT;
    int rc = harness_run(argv, NULL, &o, &e, timeout_ms);
    if (rc != 0 && !quiet) {
        fprintf(stderr, "docker");
        for (int i = 1; i < n; i++)
            fprintf(stderr, " %s", argv[i]);
        buf_putc(&e, '\0');
        fprintf(stderr, ": exit %d: %s\n", rc, (char *)e.data);
    }
    buf_putc(&o, '\0');
    o.len--;
    if (out)
        *out = o;
    else
        buf_release(&o);
    buf_release(&e);
    return rc;
}

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static bool engine_answers(void *arg)
{
    (void)arg;
    return docker_run(NULL, true, 30000, "info", NULL) == 0;
}

static bool on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *copy = xasprintf("%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    bool found = false;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d && !found;
         d = strtok_r(NULL, ":", &save)) {
        char *p = xasprintf("%s/%s", d, prog);
        found = access(p, X_OK) == 0;
        free(p);
    }
    free(copy);
    return found;
}

/* A daemon that answers: the one running, or one this test starts. NULL,
 * or why no engine can run here. */
static const char *find_engine(void)
{
    if (!on_path("docker"))
        return "the docker command is not installed (scripts/install-deps --images)";
    if (engine_answers(NULL))
        return NULL;
    if (!on_path("dockerd"))
        return "no Docker daemon answers (or this user may not use it) and dockerd is not "
               "installed";
    if (geteuid() != 0)
        return "no Docker daemon answers (or this user may not use it) and only root may start "
               "dockerd";
    char *log = xasprintf("%s/dockerd.log", scratch);
    char *argv[] = {"dockerd", NULL};
    char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", NULL};
    dockerd = harness_spawn(argv, env, log);
    fprintf(stderr, "started dockerd (pid %d), log %s\n", (int)dockerd, log);
    free(log);
    if (dockerd > 0 && harness_wait_for(engine_answers, NULL, 60000))
        return NULL;
    harness_kill(dockerd, 20000);
    dockerd = -1;
    return "no Docker daemon answers and dockerd could not start here (its log is in the "
           "test's scratch directory)";
}

static double image_mb(const char *image)
{
    struct buf out = BUF_INIT;
    double mb = -1;
    if (docker_run(&out, false, 30000, "image", "inspect", "-f", "{{.Size}}", image, NULL) == 0)
        mb = atof((char *)out.data) / 1e6;
    buf_release(&out);
    return mb;
}

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("MEME_SOURCE_DIR");
    src = s && *s ? xstrdup(s) : getcwd(NULL, 0);
    scratch = harness_tmpdir("images");
    if (!scratch)
        return -1;
    snprintf(tag, sizeof(tag), "test-%d", (int)getpid());
    snprintf(worker_image, sizeof(worker_image), "meme-worker:%s", tag);
    snprintf(gateway_image, sizeof(gateway_image), "meme-gateway:%s", tag);
    const char *roles[] = {"worker-a", "worker-b", "gateway", "probe", "worker-c"};
    for (int i = 0; i < 5; i++)
        snprintf(names[i], sizeof(names[i]), "meme-test-%d-%s", (int)getpid(), roles[i]);
    no_engine = find_engine();
    if (no_engine) {
        fprintf(stderr, "no container engine can run here: %s: skipped\n", no_engine);
        return 0;
    }
    /* The images, as a user builds them (a make run by the test suite's make
     * must not inherit its jobserver). */
    char *img_tag = xasprintf("IMAGE_TAG=%s", tag);
    char *argv[] = {"make", "--no-print-directory", "-C", src, "images", img_tag, NULL};
    char *env[] = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    double t0 = mono_ms();
    int rc = harness_run(argv, env, &out, &err, 1500000);
    double secs = (mono_ms() - t0) / 1000;
    buf_putc(&out, '\0');
    buf_putc(&err, '\0');
    if (rc != 0) {
        /* The end of the build log says what failed. */
        const char *o = (char *)out.data;
        size_t ol = strlen(o);
        fprintf(stderr, "make images: exit %d after %.0f s\n...%s\n%s\n", rc, secs,
                ol > 6000 ? o + ol - 6000 : o, (char *)err.data);
        harness_failed();
    } else {
        fprintf(stderr, "make images: %.0f s\n", secs);
    }
    built = rc == 0;
    free(img_tag);
    buf_release(&out);
    buf_release(&err);
    if (harness_nats_start(&nats) != 0)
        return -1;
    hf = hf_fixture_start(HF_TOKEN);
    return hf ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    if (!no_engine) {
        for (int i = 0; i < 5; i++)
            docker_run(NULL, true, 60000, "rm", "-f", names[i], NULL);
        /* The tags go; the layers stay as the build cache of the next run. */
        docker_run(NULL, true, 60000, "rmi", worker_image, gateway_image, NULL);
        harness_stop(&nats);
    }
    hf_fixture_stop(hf);
    if (dockerd > 0) {
        int st = harness_kill(dockerd, 60000);
        fprintf(stderr, "stopped the dockerd this test started (status %d)\n", st);
    }
    free(src);
    free(scratch);
    return 0;
}

static void need_images(void)
{
    if (no_engine) {
        fprintf(stderr, "no container engine can run here (%s): skipped\n", no_engine);
        skip();
    }
    assert_true(built);
}

/* --- HTTP over loopback --------------------------------------------------- */

struct http_resp {
    long status;
    struct buf body;
    char worker[64];
    char content_type[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

static void header_value(const char *line, size_t len, const char *name, char *out, size_t outsz)
{
    size_t nl = strlen(name);
    if (len <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    size_t vl = len - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, outsz, "%.*s", (int)vl, v);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct http_resp *r = arg;
    header_value(p, size * n, "Meme-Worker", r->worker, sizeof(r->worker));
    header_value(p, size * n, "Content-Type", r->content_type, sizeof(r->content_type));
    return size * n;
}

/* GET (body NULL) or POST of JSON. 0 when an HTTP answer came back. */
static int http(const char *url, const char *body, struct http_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 90000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    buf_putc(&r->body, '\0');
    r->body.len--;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

struct wait_ready {
    char url[96];
};

static bool ready(void *arg)
{
    struct wait_ready *w = arg;
    struct http_resp r;
    bool ok = http(w->url, NULL, &r) == 0 && r.status == 200;
    buf_release(&r.body);
    return ok;
}

/* Waits until http://127.0.0.1:port/readyz answers 200. */
static bool wait_ready(int port)
{
    struct wait_ready w;
    snprintf(w.url, sizeof(w.url), "http://127.0.0.1:%d/readyz", port);
    return harness_wait_for(ready, &w, 60000);
}

/* --- containers ------------------------------------------------------------ */

/* Starts a worker container as the Deployment configures one (environment,
 * two job slots), locked down as its securityContext locks it; with the
 * Hugging Face engine against the fixture when with_hf. Its metrics port in
 * *port. */
static int start_worker_container(const char *name, const char *id, bool with_hf, int *port)
{
    *port = harness_free_port();
    char *e_nats = xasprintf("NATS_URL=%s", nats.url);
    char *e_metrics = xasprintf("METRICS_ADDR=127.0.0.1:%d", *port);
    char *e_id = xasprintf("WORKER_ID=%s", id);
    char *e_hf = xasprintf("HF_API_URL=%s", with_hf ? hf_fixture_url(hf) : "");
    int rc;
    if (with_hf)
        rc = docker_run(NULL, false, 60000, "run", "-d", "--name", name, "--network", "host",
                        "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                        "-e", e_nats, "-e", e_metrics, "-e", e_id, "-e", "WORKER_CONCURRENCY=2",
                        "-e", e_hf, "-e", "HF_API_TOKEN=" HF_TOKEN, worker_image, "-v", NULL);
    else
        rc = docker_run(NULL, false, 60000, "run", "-d", "--name", name, "--network", "host",
                        "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                        "-e", e_nats, "-e", e_metrics, "-e", e_id, "-e", "WORKER_CONCURRENCY=2",
                        worker_image, "-v", NULL);
    free(e_nats);
    free(e_metrics);
    free(e_id);
    free(e_hf);
    if (rc == 0 && !wait_ready(*port)) {
        fprintf(stderr, "worker container %s is not ready\n", name);
        rc = -1;
    }
    return rc;
}

/* The gateway reaches NATS by name ("localhost"): the image resolves names
 * from /etc/hosts and DNS without a shell or NSS modules. Its probes on a
 * port of their own, as the Deployment sets them. */
static int start_gateway_container(void)
{
    int port = harness_free_port(), probe_port = harness_free_port();
    char listen[32];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(gateway_url, sizeof(gateway_url), "http://127.0.0.1:%d", port);
    char *e_nats = xasprintf("NATS_URL=nats://localhost:%d", nats.port);
    char *e_probe = xasprintf("GATEWAY_PROBE_ADDR=127.0.0.1:%d", probe_port);
    int rc = docker_run(NULL, false, 60000, "run", "-d", "--name", names[2], "--network", "host",
                        "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
                        "-e", e_nats, "-e", e_probe, "-e", "GATEWAY_ID=gw-container", gateway_image,
                        "--listen", listen, NULL);
    free(e_nats);
    free(e_probe);
    if (rc == 0 && !wait_ready(probe_port)) {
        fprintf(stderr, "gateway container is not ready\n");
        rc = -1;
    }
    return rc;
}

static char *container_logs(const char *name)
{
    char *argv[] = {"docker", "logs", (char *)name, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    harness_run(argv, NULL, &out, &err, 30000);
    buf_append(&out, err.data, err.len);
    buf_putc(&out, '\0');
    buf_release(&err);
    return (char *)buf_detach(&out, NULL);
}

/* Saves a container's log under scratch (shown when the test fails). */
static void keep_logs(const char *name)
{
    char *text = container_logs(name);
    char *path = xasprintf("%s/%s.log", scratch, name);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(path);
    free(text);
}

/* The files of an image, one path a line (from `docker export`). */
static char *image_files(const char *image)
{
    char *tarball = xasprintf("%s/%s.tar", scratch, names[3]);
    char *listing = NULL;
    if (docker_run(NULL, false, 60000, "create", "--name", names[3], image, NULL) == 0 &&
        docker_run(NULL, false, 120000, "export", "-o", tarball, names[3], NULL) == 0) {
        char *argv[] = {"tar", "-tf", tarball, NULL};
        struct buf out = BUF_INIT, err = BUF_INIT;
        if (harness_run(argv, NULL, &out, &err, 60000) == 0) {
            buf_putc(&out, '\0');
            listing = (char *)buf_detach(&out, NULL);
        }
        buf_release(&out);
        buf_release(&err);
    }
    docker_run(NULL, true, 60000, "rm", "-f", names[3], NULL);
    unlink(tarball);
    free(tarball);
    return listing;
}

static bool has_file(const char *listing, const char *path)
{
    size_t n = strlen(path);
    for (const char *p = listing; (p = strstr(p, path)) != NULL; p += n)
        if ((p == listing || p[-1] == '\n') && (p[n] == '\n' || p[n] == '\0'))
            return true;
    return false;
}

/* docker inspect -f format of an image or container, first line; a new string. */
static char *inspect(const char *what, const char *format)
{
    struct buf out = BUF_INIT;
    assert_int_equal(docker_run(&out, false, 30000, "inspect", "-f", format, what, NULL), 0);
    char *s = (char *)buf_detach(&out, NULL);
    s[strcspn(s, "\n")] = '\0';
    return s;
}

/* The figure after key= in the last line of text holding msg; -1 if none. */
static long log_figure(const char *text, const char *msg, const char *key)
{
    long v = -1;
    for (const char *p = text; (p = strstr(p, msg)) != NULL; p++) {
        const char *eol = strchr(p, '\n');
        const char *k = strstr(p, key);
        if (k && (!eol || k < eol))
            v = strtol(k + strlen(key), NULL, 10);
    }
    return v;
}

/* --- tests ----------------------------------------------------------------- */

/* Sizes, user, labels and the files each image holds (and does not). */
static void test_images_contents(void **state)
{
    (void)state;
    need_images();
    double w = image_mb(worker_image), g = image_mb(gateway_image);
    printf("figures: images %s %.1f MB (limit %.0f), %s %.1f MB (limit %.0f)\n", worker_image, w,
           WORKER_LIMIT_MB, gateway_image, g, GATEWAY_LIMIT_MB);
    assert_true(w > 0 && w <= WORKER_LIMIT_MB);
    assert_true(g > 0 && g <= GATEWAY_LIMIT_MB);

    const char *images[] = {worker_image, gateway_image};
    const char *programs[] = {"meme-worker", "meme-gateway"};
    for (int i = 0; i < 2; i++) {
        char *user = inspect(images[i], "{{.Config.User}}");
        assert_string_equal(user, "10001:10001");
        free(user);
        char *entry = inspect(images[i], "{{json .Config.Entrypoint}}");
        char *want = xasprintf("[\"/usr/local/bin/%s\"]", programs[i]);
        assert_string_equal(entry, want);
        free(want);
        free(entry);
        /* The version label is the version the program reports. */
        char *version =
            inspect(images[i], "{{index .Config.Labels \"org.opencontainers.image.version\"}}");
        struct buf out = BUF_INIT;
        assert_int_equal(docker_run(&out, false, 60000, "run", "--rm", "--network", "none",
                                    "--read-only", "--cap-drop", "ALL", images[i], "--version",
                                    NULL),
                         0);
        assert_true(*version != '\0');
        assert_non_null(strstr((char *)out.data, version));
        buf_release(&out);
        free(version);
        char *labels = inspect(images[i], "{{json .Config.Labels}}");
        assert_non_null(strstr(labels, "\"org.opencontainers.image.source\""));
        assert_non_null(strstr(labels, "\"org.opencontainers.image.licenses\""));
        free(labels);

        char *files = image_files(images[i]);
        assert_non_null(files);
        char *bin = xasprintf("usr/local/bin/%s", programs[i]);
        assert_true(has_file(files, bin));
        free(bin);
        assert_true(has_file(files, "etc/passwd"));
        assert_true(has_file(files, "etc/ssl/certs/ca-certificates.crt"));
        assert_true(has_file(files, "usr/lib/x86_64-linux-gnu/libc.so.6") ||
                    has_file(files, "usr/lib/aarch64-linux-gnu/libc.so.6"));
        /* Nothing to run but the program: no shell, no package manager. */
        const char *absent[] = {"usr/bin/sh",  "usr/bin/bash",    "usr/bin/dash", "bin/sh",
                                "usr/bin/apt", "usr/bin/apt-get", "usr/bin/dpkg"};
        for (size_t k = 0; k < sizeof(absent) / sizeof(absent[0]); k++) {
            if (has_file(files, absent[k]))
                fprintf(stderr, "%s holds %s\n", images[i], absent[k]);
            assert_false(has_file(files, absent[k]));
        }
        bool fonts = has_file(files, "usr/share/fonts/opentype/bebas-neue/BebasNeue-Regular.otf") &&
                     has_file(files, "usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf") &&
                     has_file(files, "usr/share/doc/fonts-bebas-neue/copyright");
        assert_true(fonts == (i == 0)); /* the gateway draws nothing */
        free(files);
    }
    /* The gateway Deployment's preStop hook runs /bin/sleep in the image. */
    assert_int_equal(docker_run(NULL, false, 60000, "run", "--rm", "--network", "none",
                                "--read-only", "--cap-drop", "ALL", "--entrypoint", "/bin/sleep",
                                gateway_image, "0", NULL),
                     0);
    /* And there is no shell to run. */
    assert_int_not_equal(docker_run(NULL, true, 60000, "run", "--rm", "--network", "none",
                                    "--entrypoint", "/bin/sh", worker_image, "-c", "true", NULL),
                         0);
}

/* A meme through the gateway container, made by the worker container. */
static void test_meme_through_containers(void **state)
{
    (void)state;
    need_images();
    int port_a;
    assert_int_equal(start_worker_container(names[0], "ctr-worker-a", false, &port_a), 0);
    assert_int_equal(start_gateway_container(), 0);

    char *url = xasprintf("%s/api/v1/memes", gateway_url);
    struct http_resp r;
    assert_int_equal(http(url, "{\"prompt\":\"one does not simply | ship a shell\"}", &r), 0);
    if (r.status != 200)
        fprintf(stderr, "POST /api/v1/memes: %ld %s\n", r.status, (char *)r.body.data);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "image/png");
    assert_string_equal(r.worker, "ctr-worker-a");
    struct meme_err err = {0};
    struct meme_image *img = image_decode(r.body.data, r.body.len, &err);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    assert_true(count_colours(img) > 8); /* a background with captions, not a blank */
    image_free(img);
    buf_release(&r.body);

    /* A JPEG at 1024 too, with text only the fallback font has. */
    assert_int_equal(
        http(url, "{\"prompt\":\"größer | привет\",\"size\":1024,\"format\":\"jpeg\"}", &r), 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "image/jpeg");
    img = image_decode(r.body.data, r.body.len, &err);
    assert_non_null(img);
    assert_int_equal(img->width, 1024);
    image_free(img);
    buf_release(&r.body);
    free(url);

    /* An idle worker stops at once, cleanly. */
    assert_int_equal(docker_run(NULL, false, 120000, "stop", "-t", "60", names[0], NULL), 0);
    char *st = inspect(names[0], "{{.State.ExitCode}}");
    assert_string_equal(st, "0");
    free(st);
    keep_logs(names[0]);
    char *logs = container_logs(names[0]);
    assert_non_null(strstr(logs, "msg=\"ready\""));
    assert_non_null(strstr(logs, "msg=\"meme done\""));
    assert_int_equal(log_figure(logs, "msg=\"stopped\"", "done="), 2);
    assert_null(strstr(logs, "level=error"));
    free(logs);
}

struct client {
    pthread_t thread;
    int index;
    int sent, ok, bad, from_stopped, from_other;
};

static atomic_bool clients_stop;
static atomic_int answered_by_other;

/* Posts memes one after another until told to stop (at most 400), made by
 * the Hugging Face engine (the fixture) with captions on top. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    char *url = xasprintf("%s/api/v1/memes", gateway_url);
    for (int i = 0; i < 400 && !atomic_load(&clients_stop); i++) {
        char json[160];
        snprintf(json, sizeof(json),
                 "{\"prompt\":\"scale in %d-%d | nothing lost\",\"engine\":\"hf\",\"size\":512,"
                 "\"format\":\"%s\"}",
                 c->index, i, i % 2 ? "jpeg" : "png");
        struct http_resp r;
        c->sent++;
        bool good = http(url, json, &r) == 0 && r.status == 200 &&
                    image_sniff(r.body.data, r.body.len) == (i % 2 ? IMAGE_JPEG : IMAGE_PNG);
        if (!good)
            fprintf(stderr, "client %d request %d: %ld %.200s\n", c->index, i, r.status,
                    r.body.data ? (char *)r.body.data : "");
        good ? c->ok++ : c->bad++;
        if (good && strcmp(r.worker, "ctr-worker-c") == 0) {
            c->from_stopped++;
        } else if (good && strcmp(r.worker, "ctr-worker-b") == 0) {
            c->from_other++;
            atomic_fetch_add(&answered_by_other, 1);
        }
        buf_release(&r.body);
    }
    free(url);
    return NULL;
}

struct at_least {
    atomic_int *counter;
    int n;
};

static bool reached(void *arg)
{
    struct at_least *a = arg;
    return atomic_load(a->counter) >= a->n;
}

static bool all_slots_held(void *arg)
{
    (void)arg;
    return hf_fixture_held(hf) >= 4; /* two workers, two slots each */
}

static bool says_draining(void *arg)
{
    char *logs = container_logs(arg);
    bool yes = strstr(logs, "msg=\"draining\"") != NULL;
    free(logs);
    return yes;
}

/* KEDA scaling in: SIGTERM to one of two worker containers while clients
 * keep sending, with both of its job slots busy (the model holds their
 * requests until the worker has begun to drain). It finishes them and exits
 * 0; every request is answered, every job it made by it, the rest by the
 * other worker. */
static void test_sigterm_drains_under_load(void **state)
{
    (void)state;
    need_images();
    enum hf_fixture_step hold[] = {HF_FX_HOLD};
    hf_fixture_script(hf, hold, 1, 0);
    int port_b, port_c;
    assert_int_equal(start_worker_container(names[4], "ctr-worker-c", true, &port_c), 0);
    assert_int_equal(start_worker_container(names[1], "ctr-worker-b", true, &port_b), 0);

    enum { CLIENTS = 8 };
    struct client clients[CLIENTS];
    atomic_store(&clients_stop, false);
    atomic_store(&answered_by_other, 0);
    for (int i = 0; i < CLIENTS; i++) {
        clients[i] = (struct client){.index = i};
        assert_int_equal(pthread_create(&clients[i].thread, NULL, client_main, &clients[i]), 0);
    }
    /* Under load: every slot of both workers waits on the model, and the
     * other requests wait in the stream. Then SIGTERM, and the model
     * answers once the worker has begun to drain. */
    bool loaded = harness_wait_for(all_slots_held, NULL, 60000);
    int kill_rc = -1;
    bool draining = false;
    if (loaded) {
        kill_rc = docker_run(NULL, false, 60000, "kill", "-s", "TERM", names[4], NULL);
        draining = harness_wait_for(says_draining, names[4], 30000);
    }
    hf_fixture_release(hf);
    struct buf waited = BUF_INIT;
    int wait_rc = docker_run(&waited, false, 120000, "wait", names[4], NULL);
    /* The other worker goes on answering after it is gone. */
    struct at_least other_after = {&answered_by_other, atomic_load(&answered_by_other) + 20};
    bool other_went_on = harness_wait_for(reached, &other_after, 60000);
    atomic_store(&clients_stop, true);
    int sent = 0, ok = 0, bad = 0, from_stopped = 0, from_other = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(clients[i].thread, NULL);
        sent += clients[i].sent;
        ok += clients[i].ok;
        bad += clients[i].bad;
        from_stopped += clients[i].from_stopped;
        from_other += clients[i].from_other;
    }
    keep_logs(names[4]);
    keep_logs(names[1]);
    char *logs = container_logs(names[4]);
    long in_flight = log_figure(logs, "msg=\"draining\"", "in_flight=");
    long done = log_figure(logs, "msg=\"stopped\"", "done=");
    long retried = log_figure(logs, "msg=\"stopped\"", "retried=");
    char *state_s = inspect(names[4], "{{.State.Status}} {{.State.ExitCode}} {{.State.OOMKilled}}");
    printf("figures: SIGTERM to a worker container under load: %d requests, %d answered "
           "(%d by it, %d by the other), in flight at SIGTERM %ld, it made %ld, handed back "
           "%ld; container %s\n",
           sent, ok, from_stopped, from_other, in_flight, done, retried, state_s);
    assert_true(loaded);
    assert_int_equal(kill_rc, 0);
    assert_true(draining);
    assert_int_equal(wait_rc, 0);
    assert_int_equal(atoi((char *)waited.data), 0);
    buf_release(&waited);
    assert_true(other_went_on);
    assert_string_equal(state_s, "exited 0 false");
    assert_int_equal(bad, 0);
    assert_int_equal(ok, sent);
    assert_int_equal(from_stopped + from_other, ok);
    assert_int_equal(in_flight, 2); /* both slots were busy when the signal came */
    /* It finished what it held and nothing more, and each reached its client. */
    assert_int_equal(done, 2);
    assert_int_equal(from_stopped, 2);
    assert_int_equal(retried, 0);
    assert_null(strstr(logs, "level=error"));
    free(state_s);
    free(logs);
    /* The gateway container, idle now, stops cleanly on SIGTERM too. */
    assert_int_equal(docker_run(NULL, false, 120000, "stop", "-t", "30", names[2], NULL), 0);
    keep_logs(names[2]);
    char *gw = inspect(names[2], "{{.State.ExitCode}}");
    assert_string_equal(gw, "0");
    free(gw);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_images_contents),
        cmocka_unit_test(test_meme_through_containers),
        cmocka_unit_test(test_sigterm_drains_under_load),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return harness_finish(failures);
}
