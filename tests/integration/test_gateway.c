/*
 * meme-gateway against a real nats-server -js and real meme-workers, driven
 * over loopback HTTP with libcurl: every endpoint and every status code the
 * gateway documents (200, 400, 404, 405, 409, 413, 503, 504), the image
 * bytes decoded and checked, the results bucket read back by id, a bounded
 * concurrent load with no errors, requests in flight whose worker is killed
 * (all answered, with their progress readable meanwhile), and a SIGTERM
 * that drains.
 */
#include "common.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch;
static pid_t workers[2] = {-1, -1};
static pid_t gateway = -1;
static char base[64];

struct http_resp {
    long status;
    struct buf body;
    char content_type[128];
    char meme_id[PROTO_ID_MAX + 1];
    char location[160];
    char worker[64];
    char cache_control[64];
    char csp[512];
    char disposition[512];
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
    size_t len = size * n;
    header_value(p, len, "Content-Type", r->content_type, sizeof(r->content_type));
    header_value(p, len, "Meme-Id", r->meme_id, sizeof(r->meme_id));
    header_value(p, len, "Location", r->location, sizeof(r->location));
    header_value(p, len, "Meme-Worker", r->worker, sizeof(r->worker));
    header_value(p, len, "Cache-Control", r->cache_control, sizeof(r->cache_control));
    header_value(p, len, "Content-Security-Policy", r->csp, sizeof(r->csp));
    header_value(p, len, "Content-Disposition", r->disposition, sizeof(r->disposition));
    return len;
}

/* One HTTP request. body NULL means GET (or method). chunked sends the body
 * without a Content-Length. Returns 0 when an HTTP answer came back. */
static const char *post_type = "application/json"; /* Content-Type of a body; NULL: none */

static int http(const char *method, const char *url, const char *body, size_t body_len,
                bool chunked, struct http_resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body) {
        char ct[160];
        snprintf(ct, sizeof(ct), "Content-Type:%s%s", post_type ? " " : "",
                 post_type ? post_type : "");
        h = curl_slist_append(h, ct);
        if (chunked)
            h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked)
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        /* No "Expect: 100-continue" round: the gateway answers early anyway. */
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    }
    if (method && strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    else if (method)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    else
        fprintf(stderr, "http %s %s: %s\n", method ? method : "GET", url, curl_easy_strerror(cc));
    buf_putc(&r->body, '\0');
    r->body.len--;
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return cc == CURLE_OK ? 0 : -1;
}

static char *url_of(const char *b, const char *path)
{
    return xasprintf("%s%s", b, path);
}

static long get_status(const char *b, const char *path)
{
    struct http_resp r;
    char *u = url_of(b, path);
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    buf_release(&r.body);
    return r.status;
}

struct wait_http {
    const char *base;
    const char *path;
    long want;
};

static bool http_is(void *arg)
{
    struct wait_http *w = arg;
    return get_status(w->base, w->path) == w->want;
}

/* Starts a gateway; fills its base URL; waits until /healthz answers. */
static pid_t start_gateway(const char *nats_url, const char *tag, char *b, size_t bsz,
                           const char *timeout, const char *drain)
{
    char *bin = harness_bin("meme-gateway");
    char *log = xasprintf("%s/gateway-%s.log", scratch, tag);
    char listen[64];
    int port = harness_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(b, bsz, "http://127.0.0.1:%d", port);
    char *argv[] = {bin,           "--listen",  listen,      "--nats",        (char *)nats_url,
                    "--id",        (char *)tag, "--timeout", (char *)timeout, "--drain-timeout",
                    (char *)drain, "-v",        NULL};
    pid_t pid = harness_spawn(argv, NULL, log);
    free(bin);
    free(log);
    struct wait_http w = {b, "/healthz", 200};
    if (pid > 0 && !harness_wait_for(http_is, &w, 15000)) {
        harness_failed();
        return -1;
    }
    return pid;
}

static int setup(void **state)
{
    (void)state;
    scratch = harness_tmpdir("gateway");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    workers[0] = start_worker(nats.url, scratch, "gw-w1");
    workers[1] = start_worker(nats.url, scratch, "gw-w2");
    if (workers[0] < 0 || workers[1] < 0)
        return -1;
    gateway = start_gateway(nats.url, "gw1", base, sizeof(base), "30", "5");
    if (gateway < 0)
        return -1;
    struct wait_http w = {base, "/readyz", 200};
    return harness_wait_for(http_is, &w, 15000) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    harness_kill(gateway, 10000);
    harness_kill(workers[0], 10000);
    harness_kill(workers[1], 10000);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

static struct meme_image *decode(const struct http_resp *r)
{
    struct meme_err err = {0};
    struct meme_image *img = image_decode(r->body.data, r->body.len, &err);
    if (!img)
        fprintf(stderr, "cannot decode the reply: %s\n", err.msg);
    return img;
}

/* The error body is the protocol's error JSON; returns its code (new string). */
static char *error_code(const struct http_resp *r)
{
    json_error_t je;
    json_t *o = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
    if (!o) {
        fprintf(stderr, "error body is not JSON: %s\n", (const char *)r->body.data);
        return NULL;
    }
    const char *code = json_string_value(json_object_get(o, "code"));
    const char *msg = json_string_value(json_object_get(o, "error"));
    char *out = code && msg && *msg ? xstrdup(code) : NULL;
    json_decref(o);
    return out;
}

static void assert_error(const struct http_resp *r, long status, const char *code)
{
    if (r->status != status)
        fprintf(stderr, "got %ld: %s\n", r->status, (const char *)r->body.data);
    assert_int_equal(r->status, status);
    assert_string_equal(r->content_type, "application/json");
    char *c = error_code(r);
    assert_non_null(c);
    assert_string_equal(c, code);
    free(c);
}

static void post(const char *json, struct http_resp *r)
{
    char *u = url_of(base, "/api/v1/memes");
    assert_int_equal(http("POST", u, json, strlen(json), false, r), 0);
    free(u);
}

static void test_post_png_meme(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"prompt\":\"one does not simply | put a gateway in front of nats\"}", &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "image/png");
    assert_int_equal(image_sniff(r.body.data, r.body.len), IMAGE_PNG);
    assert_true(proto_id_valid(r.meme_id));
    char want[160];
    snprintf(want, sizeof(want), "/api/v1/memes/%s", r.meme_id);
    assert_string_equal(r.location, want);
    assert_true(strncmp(r.worker, "gw-w", 4) == 0);
    struct meme_image *img = decode(&r);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    assert_int_equal(img->height, 512);
    assert_true(count_colours(img) > 200);
    image_free(img);
    buf_release(&r.body);
}

/* The original design's spelling, as its web page sent it, plus format. */
static void test_post_original_spelling_jpeg(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"id\":\"gw-orig-1\",\"prompt\":\"Test meme 1\",\"fastMode\":true,"
         "\"small_image\":true,\"format\":\"jpeg\"}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "image/jpeg");
    assert_string_equal(r.meme_id, "gw-orig-1");
    struct meme_image *img = decode(&r);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    image_free(img);
    buf_release(&r.body);
}

static void test_bad_json_is_400(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"prompt\":", &r);
    assert_error(&r, 400, "bad_json");
    buf_release(&r.body);
    post("[1,2,3]", &r);
    assert_error(&r, 400, "bad_json");
    buf_release(&r.body);
    post("{\"fastMode\":true}", &r);
    assert_error(&r, 400, "missing_prompt");
    buf_release(&r.body);
    post("{\"prompt\":\"x\",\"size\":\"huge\"}", &r);
    assert_error(&r, 400, "bad_request");
    buf_release(&r.body);
    post("{\"prompt\":\"\xff\xfe\"}", &r);
    assert_error(&r, 400, "invalid_utf8");
    buf_release(&r.body);
}

/* Rejected by the worker, not the gateway: the worker's code comes through. */
static void test_unknown_template_is_400(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"prompt\":\"hello\",\"template\":\"no-such-template\"}", &r);
    assert_error(&r, 400, "unknown_template");
    assert_non_null(strstr((char *)r.body.data, "no-such-template"));
    buf_release(&r.body);
}

static void test_oversize_body_is_413(void **state)
{
    (void)state;
    size_t n = PROTO_REQUEST_MAX + 100;
    char *big = xmalloc(n + 1);
    memcpy(big, "{\"prompt\":\"", 11);
    memset(big + 11, 'a', n - 13);
    memcpy(big + n - 2, "\"}", 2);
    big[n] = '\0';
    char *u = url_of(base, "/api/v1/memes");
    struct http_resp r;
    /* With a Content-Length: refused before the body is read. */
    assert_int_equal(http("POST", u, big, n, false, &r), 0);
    assert_error(&r, 413, "bad_request");
    buf_release(&r.body);
    /* Chunked: refused once the body passes the limit. */
    assert_int_equal(http("POST", u, big, n, true, &r), 0);
    assert_error(&r, 413, "bad_request");
    buf_release(&r.body);
    /* Just under the limit is not refused for its size. */
    char *ok = xasprintf("{\"prompt\":\"size check\",\"pad\":\"%.*s\"}", PROTO_REQUEST_MAX - 100,
                         big + 11);
    assert_int_equal(http("POST", u, ok, strlen(ok), false, &r), 0);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    free(ok);
    free(u);
    free(big);
}

static void test_duplicate_id_is_409(void **state)
{
    (void)state;
    char id[37], json[128];
    proto_new_id(id);
    snprintf(json, sizeof(json), "{\"id\":\"%s\",\"prompt\":\"twice\"}", id);
    struct http_resp r;
    post(json, &r);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    post(json, &r);
    assert_error(&r, 409, "bad_request");
    assert_non_null(strstr((char *)r.body.data, id));
    buf_release(&r.body);
}

struct wait_result {
    const char *id;
};

static bool result_stored(void *arg)
{
    struct wait_result *w = arg;
    char *path = xasprintf("/api/v1/memes/%s", w->id);
    long s = get_status(base, path);
    free(path);
    return s == 200;
}

struct wait_status {
    const char *path;
    long want;
};

static bool status_is(void *arg)
{
    struct wait_status *w = arg;
    return get_status(base, w->path) == w->want;
}

static void test_get_by_id_from_results_bucket(void **state)
{
    (void)state;
    struct http_resp made, got;
    post("{\"prompt\":\"fetch me later\",\"format\":\"jpeg\",\"size\":256}", &made);
    assert_int_equal(made.status, 200);
    /* The worker stores the result around the time it replies. */
    struct wait_result w = {made.meme_id};
    assert_true(harness_wait_for(result_stored, &w, 10000));
    char *u = url_of(base, made.location);
    assert_int_equal(http(NULL, u, NULL, 0, false, &got), 0);
    assert_int_equal(got.status, 200);
    assert_string_equal(got.content_type, "image/jpeg");
    assert_string_equal(got.meme_id, made.meme_id);
    assert_non_null(strstr(got.cache_control, "immutable"));
    assert_int_equal(got.body.len, made.body.len);
    assert_memory_equal(got.body.data, made.body.data, made.body.len);
    free(u);
    buf_release(&made.body);
    buf_release(&got.body);

    /* A failed request is stored too, and read back with its error. */
    post("{\"id\":\"gw-failed-1\",\"prompt\":\"x\",\"template\":\"nope-nope\"}", &made);
    assert_error(&made, 400, "unknown_template");
    buf_release(&made.body);
    struct wait_status ws = {"/api/v1/memes/gw-failed-1", 400};
    assert_true(harness_wait_for(status_is, &ws, 10000));
    u = url_of(base, "/api/v1/memes/gw-failed-1");
    assert_int_equal(http(NULL, u, NULL, 0, false, &got), 0);
    assert_error(&got, 400, "unknown_template");
    assert_non_null(strstr((char *)got.body.data, "nope-nope"));
    buf_release(&got.body);
    free(u);
}

static void test_get_unknown_and_invalid_id(void **state)
{
    (void)state;
    struct http_resp r;
    char *u = url_of(base, "/api/v1/memes/never-made-0000");
    http(NULL, u, NULL, 0, false, &r);
    assert_error(&r, 404, "not_found");
    buf_release(&r.body);
    free(u);
    u = url_of(base, "/api/v1/memes/bad%20id%21");
    http(NULL, u, NULL, 0, false, &r);
    assert_error(&r, 400, "bad_request");
    buf_release(&r.body);
    free(u);
}

static void test_page_and_probes(void **state)
{
    (void)state;
    struct http_resp r;
    char *u = url_of(base, "/");
    http(NULL, u, NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr((char *)r.body.data, "<form"));
    assert_non_null(strstr((char *)r.body.data, "/static/app.js"));
    /* Its own files only, no inline script. */
    assert_non_null(strstr(r.csp, "script-src 'self'"));
    assert_null(strstr(r.csp, "unsafe-inline"));
    assert_non_null(strstr(r.csp, "frame-ancestors 'none'"));
    buf_release(&r.body);
    free(u);
    u = url_of(base, "/static/app.js");
    http(NULL, u, NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/javascript; charset=utf-8");
    assert_non_null(strstr((char *)r.body.data, "/api/v1/memes"));
    buf_release(&r.body);
    free(u);
    u = url_of(base, "/static/style.css");
    assert_int_equal(get_status(base, "/static/style.css"), 200);
    assert_int_equal(get_status(base, "/static/nope.js"), 404);
    assert_int_equal(get_status(base, "/static/../gateway.c"), 404);
    free(u);
    u = url_of(base, "/");
    http("HEAD", u, NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, 0);
    buf_release(&r.body);
    free(u);

    assert_int_equal(get_status(base, "/healthz"), 200);
    assert_int_equal(get_status(base, "/readyz"), 200);
    u = url_of(base, "/api/health");
    http(NULL, u, NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr((char *)r.body.data, "\"status\":\"ok\""));
    assert_non_null(strstr((char *)r.body.data, "\"nats\":\"connected\""));
    buf_release(&r.body);
    free(u);
}

/* /metrics is valid exposition text (promtool, where installed, also lints
 * names and help) with the families the dashboard uses. */
static void test_metrics_exposition(void **state)
{
    (void)state;
    struct http_resp r;
    char *u = url_of(base, "/metrics");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.content_type, "text/plain; version=0.0.4"));
    const char *families[] = {"meme_gateway_http_requests_total counter",
                              "meme_gateway_http_request_duration_seconds histogram",
                              "meme_gateway_http_requests_in_flight gauge",
                              "meme_gateway_nats_connected gauge",
                              "meme_gateway_build_info gauge",
                              "process_cpu_seconds_total counter",
                              "process_resident_memory_bytes gauge"};
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
        char *t = xasprintf("# TYPE %s\n", families[i]);
        if (!strstr((char *)r.body.data, t))
            fprintf(stderr, "no \"%s\" in /metrics\n", t);
        assert_non_null(strstr((char *)r.body.data, t));
        free(t);
    }
    char *path = xasprintf("%s/metrics.txt", scratch);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fwrite(r.body.data, 1, r.body.len, f);
    fclose(f);
    char *cmd =
        xasprintf("command -v promtool >/dev/null || exit 0; promtool check metrics < '%s'", path);
    char *argv[] = {"sh", "-c", cmd, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 30000);
    if (rc != 0)
        fprintf(stderr, "promtool: %s%s", out.data ? (char *)out.data : "",
                err.data ? (char *)err.data : "");
    assert_int_equal(rc, 0);
    buf_release(&out);
    buf_release(&err);
    free(cmd);
    free(path);
    buf_release(&r.body);
}

static void test_wrong_method_and_path(void **state)
{
    (void)state;
    struct http_resp r;
    char *u = url_of(base, "/api/v1/memes");
    http("PUT", u, NULL, 0, false, &r);
    assert_error(&r, 405, "bad_request");
    buf_release(&r.body);
    http("DELETE", u, NULL, 0, false, &r);
    assert_int_equal(r.status, 405);
    buf_release(&r.body);
    free(u);
    u = url_of(base, "/");
    http("POST", u, "{}", 2, false, &r);
    assert_int_equal(r.status, 405);
    buf_release(&r.body);
    free(u);
    assert_int_equal(get_status(base, "/favicon.ico"), 204);
    u = url_of(base, "/no/such/page");
    http(NULL, u, NULL, 0, false, &r);
    assert_error(&r, 404, "not_found");
    buf_release(&r.body);
    free(u);
}

/* Only JSON is a meme request: what a cross-site HTML form can send
 * without a CORS preflight (text/plain, urlencoded, multipart) and anything
 * else is 415, before any meme is made. */
static void test_json_only_415(void **state)
{
    (void)state;
    static const char *const refused[] = {
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "image/gif",
        "application/jsonp",
        "text/json",
        NULL, /* no Content-Type at all */
    };
    const char *json = "{\"prompt\":\"cross-site\"}";
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        struct http_resp r;
        post_type = refused[i];
        post(json, &r);
        post_type = "application/json";
        if (r.status != 415)
            fprintf(stderr, "Content-Type %s: %ld\n", refused[i] ? refused[i] : "(none)", r.status);
        assert_error(&r, 415, "bad_request");
        buf_release(&r.body);
    }
    static const char *const accepted[] = {"application/json; charset=utf-8", "Application/JSON"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        struct http_resp r;
        post_type = accepted[i];
        post("{\"prompt\":\"json | with parameters\",\"size\":128}", &r);
        post_type = "application/json";
        assert_int_equal(r.status, 200);
        buf_release(&r.body);
    }
}

/* A saved meme is named after its prompt: ASCII for every client, the
 * UTF-8 name (RFC 6266) when the prompt has other letters. */
static void test_download_name(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"id\":\"dl-1-abcdef\",\"prompt\":\"When the queue hits FIVE | keda wakes up!\","
         "\"size\":128}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.disposition,
                        "inline; filename=\"when-the-queue-hits-five-keda-wakes-up-dl1abcde.png\"");
    buf_release(&r.body);
    char *u = url_of(base, "/api/v1/memes/dl-1-abcdef?download=1");
    http(NULL, u, NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(
        r.disposition,
        "attachment; filename=\"when-the-queue-hits-five-keda-wakes-up-dl1abcde.png\"");
    buf_release(&r.body);
    free(u);
    post("{\"id\":\"dl-2\",\"prompt\":\"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x8e\x89 ok\","
         "\"size\":128,\"format\":\"jpeg\"}",
         &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.disposition, "inline; filename=\"ok-dl2.jpg\"; "
                                       "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E-ok-dl2.jpg");
    buf_release(&r.body);
}

static void test_templates_for_the_form(void **state)
{
    (void)state;
    struct http_resp r;
    char *u = url_of(base, "/api/v1/templates");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    assert_int_equal(r.status, 200);
    json_t *o = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    assert_non_null(o);
    json_t *t = json_object_get(o, "templates");
    assert_true(json_array_size(t) >= 6);
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "name")),
                        "advice-wheel");
    assert_int_equal(json_integer_value(json_object_get(o, "prompt_max_bytes")), PROTO_PROMPT_MAX);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(o, "sizes"), 0)), 512);
    json_decref(o);
    buf_release(&r.body);
}

/* The gallery's history: newest first, from the results bucket, with the
 * prompt and the worker; a bad limit is 400. */
static void test_recent_memes(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"id\":\"recent-1\",\"prompt\":\"older | one\",\"size\":128}", &r);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    post("{\"id\":\"recent-2\",\"prompt\":\"newer | one\",\"size\":128}", &r);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    char *u = url_of(base, "/api/v1/memes?limit=2");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    assert_int_equal(r.status, 200);
    json_t *o = json_loadb((const char *)r.body.data, r.body.len, 0, NULL);
    json_t *m = json_object_get(o, "memes");
    assert_int_equal(json_array_size(m), 2);
    json_t *first = json_array_get(m, 0), *second = json_array_get(m, 1);
    assert_string_equal(json_string_value(json_object_get(first, "id")), "recent-2");
    assert_string_equal(json_string_value(json_object_get(first, "prompt")), "newer | one");
    assert_string_equal(json_string_value(json_object_get(second, "id")), "recent-1");
    assert_non_null(strstr(json_string_value(json_object_get(first, "worker")), "gw-w"));
    assert_true(json_number_value(json_object_get(first, "total_ms")) > 0);
    json_decref(o);
    buf_release(&r.body);
    static const char *const bad[] = {"0", "101", "x", "-1"};
    for (size_t i = 0; i < 4; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/api/v1/memes?limit=%s", bad[i]);
        assert_int_equal(get_status(base, path), 400);
    }
}

/* A meme's page: the image, its details and preview tags, every value
 * from the bucket escaped; unknown and invalid ids are 404 pages. */
static void test_permalink_page(void **state)
{
    (void)state;
    struct http_resp r;
    post("{\"id\":\"perma-1\",\"prompt\":\"<script>alert(1)</script> & \\\"quotes\\\" | "
         "bottom\",\"size\":128}",
         &r);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    char *u = url_of(base, "/m/perma-1");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    const char *page = (const char *)r.body.data;
    char want[160];
    snprintf(want, sizeof(want), "<meta property=\"og:image\" content=\"%s/api/v1/memes/perma-1\">",
             base);
    assert_non_null(strstr(page, want));
    assert_non_null(strstr(page, "<meta name=\"twitter:card\" content=\"summary_large_image\">"));
    assert_non_null(strstr(page, "<img src=\"/api/v1/memes/perma-1\" width=\"128\""));
    assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"));
    assert_null(strstr(page, "<script"));
    assert_non_null(strstr(page, "href=\"/api/v1/memes/perma-1?download=1\" download"));
    assert_non_null(strstr(page, "<dt>Made by</dt><dd>gw-w"));
    assert_non_null(strstr(r.csp, "default-src 'none'"));
    buf_release(&r.body);
    u = url_of(base, "/m/no-such-meme");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.content_type, "text/html; charset=utf-8");
    assert_non_null(strstr((char *)r.body.data, "No such meme"));
    buf_release(&r.body);
    assert_int_equal(get_status(base, "/m/bad%20id"), 404);
    assert_int_equal(get_status(base, "/m/"), 404);
}

/* The live gallery: a server-sent events stream that carries a meme made
 * while it is open, re-encoded (only known fields). */
struct sse_read {
    struct buf got;
    atomic_bool open;
    const char *want;
    bool found;
};

static size_t on_sse(char *p, size_t size, size_t n, void *arg)
{
    struct sse_read *s = arg;
    buf_append(&s->got, p, size * n);
    atomic_store(&s->open, true);
    buf_putc(&s->got, '\0');
    s->got.len--;
    if (strstr((char *)s->got.data, s->want)) {
        s->found = true;
        return 0; /* enough: end the transfer */
    }
    return size * n;
}

static void *sse_thread(void *p)
{
    struct sse_read *s = p;
    CURL *c = curl_easy_init();
    char *u = url_of(base, "/api/v1/events");
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_sse);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_perform(c);
    curl_easy_cleanup(c);
    free(u);
    atomic_store(&s->open, true);
    return NULL;
}

static bool sse_open(void *arg)
{
    struct sse_read *s = arg;
    return atomic_load(&s->open);
}

static void test_live_events(void **state)
{
    (void)state;
    struct sse_read s = {.got = BUF_INIT, .want = "\"id\":\"live-1\""};
    atomic_init(&s.open, false);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, sse_thread, &s), 0);
    assert_true(harness_wait_for(sse_open, &s, 15000));
    struct http_resp r;
    post("{\"id\":\"live-1\",\"prompt\":\"seen | live\",\"size\":128}", &r);
    assert_int_equal(r.status, 200);
    buf_release(&r.body);
    pthread_join(t, NULL);
    assert_true(s.found);
    const char *g = (const char *)s.got.data;
    assert_non_null(strstr(g, "retry: 3000\n"));
    const char *ev = strstr(g, "event: meme\ndata: {\"id\":\"live-1\",\"status\":\"done\"");
    assert_non_null(ev);
    assert_non_null(strstr(ev, "\"prompt\":\"seen | live\""));
    /* Fields the page does not use stay on NATS. */
    const char *end = strstr(ev, "\n\n");
    if (end) {
        assert_null(memmem(ev, (size_t)(end - ev), "attempt", 7));
        assert_null(memmem(ev, (size_t)(end - ev), "delivery_ms", 11));
    }
    buf_release(&s.got);
}

/* Reads one sample of the gateway's /metrics (-1 when absent). */
static double metric(const char *b, const char *series)
{
    struct http_resp r;
    char *u = url_of(b, "/metrics");
    http(NULL, u, NULL, 0, false, &r);
    free(u);
    double v = -1;
    size_t sl = strlen(series);
    for (char *line = (char *)r.body.data; line && *line;) {
        char *nl = strchr(line, '\n');
        if (strncmp(line, series, sl) == 0 && line[sl] == ' ')
            v = atof(line + sl + 1);
        line = nl ? nl + 1 : NULL;
    }
    buf_release(&r.body);
    return v;
}

struct load_arg {
    int n;
    bool post;
    int index;
    int ok;
    int bad;
    char (*ids)[PROTO_ID_MAX + 1];
};

static void *load_thread(void *p)
{
    struct load_arg *a = p;
    char *memes = url_of(base, "/api/v1/memes"), *page = url_of(base, "/");
    for (int i = 0; i < a->n; i++) {
        struct http_resp r;
        if (a->post) {
            char json[160];
            snprintf(json, sizeof(json),
                     "{\"prompt\":\"load %d-%d | no errors\",\"size\":128,\"format\":\"%s\"}",
                     a->index, i, i % 2 ? "jpeg" : "png");
            http("POST", memes, json, strlen(json), false, &r);
            int fmt = image_sniff(r.body.data, r.body.len);
            bool good = r.status == 200 && fmt == (i % 2 ? IMAGE_JPEG : IMAGE_PNG);
            if (good) {
                struct meme_err err = {0};
                struct meme_image *img = image_decode(r.body.data, r.body.len, &err);
                good = img && img->width == 128;
                image_free(img);
                snprintf(a->ids[i], PROTO_ID_MAX + 1, "%s", r.meme_id);
            }
            good ? a->ok++ : a->bad++;
        } else {
            http(NULL, page, NULL, 0, false, &r);
            (r.status == 200 && strstr((char *)r.body.data, "</html>")) ? a->ok++ : a->bad++;
        }
        buf_release(&r.body);
    }
    free(memes);
    free(page);
    return NULL;
}

/* Bounded: 6 threads x 20 memes and 6 threads x 150 pages at once, on
 * loopback. Every answer must be right and every meme id distinct. */
static void test_concurrent_load_no_errors(void **state)
{
    (void)state;
    enum { POSTERS = 6, PER_POSTER = 20, READERS = 6, PER_READER = 150 };
    double before = metric(base, "meme_gateway_http_requests_total{route=\"/\",code=\"200\"}");
    pthread_t th[POSTERS + READERS];
    struct load_arg args[POSTERS + READERS];
    static char ids[POSTERS][PER_POSTER][PROTO_ID_MAX + 1];
    memset(ids, 0, sizeof(ids));
    for (int t = 0; t < POSTERS + READERS; t++) {
        args[t] = (struct load_arg){.n = t < POSTERS ? PER_POSTER : PER_READER,
                                    .post = t < POSTERS,
                                    .index = t,
                                    .ids = t < POSTERS ? ids[t] : NULL};
        assert_int_equal(pthread_create(&th[t], NULL, load_thread, &args[t]), 0);
    }
    int ok = 0, bad = 0;
    for (int t = 0; t < POSTERS + READERS; t++) {
        pthread_join(th[t], NULL);
        ok += args[t].ok;
        bad += args[t].bad;
    }
    fprintf(stderr, "load: %d ok, %d bad\n", ok, bad);
    assert_int_equal(bad, 0);
    assert_int_equal(ok, POSTERS * PER_POSTER + READERS * PER_READER);
    for (int a = 0; a < POSTERS * PER_POSTER; a++)
        for (int b = a + 1; b < POSTERS * PER_POSTER; b++)
            assert_string_not_equal(ids[a / PER_POSTER][a % PER_POSTER],
                                    ids[b / PER_POSTER][b % PER_POSTER]);
    double after = metric(base, "meme_gateway_http_requests_total{route=\"/\",code=\"200\"}");
    assert_true(after - before >= READERS * PER_READER);
    assert_true(metric(base, "meme_gateway_http_requests_in_flight") >= 1); /* this scrape */
    assert_true(metric(base, "meme_gateway_nats_connected") == 1);
    assert_true(metric(base, "meme_gateway_http_request_duration_seconds_count{route=\"/api/v1/"
                             "memes\"}") >= POSTERS * PER_POSTER);
}

/* A stream and consumer but no worker: the deadline passes (504); then NATS
 * goes away (503, not ready). */
static void test_deadline_504_then_nats_down_503(void **state)
{
    (void)state;
    struct harness_server lone;
    assert_int_equal(harness_nats_start(&lone), 0);
    char b[64];
    pid_t gw = start_gateway(lone.url, "lone", b, sizeof(b), "1", "1");
    assert_true(gw > 0);
    struct wait_http ready = {b, "/readyz", 200};
    assert_true(harness_wait_for(http_is, &ready, 15000));
    struct http_resp r;
    char *u = url_of(b, "/api/v1/memes");
    assert_int_equal(http("POST", u, "{\"prompt\":\"nobody home\"}", 24, false, &r), 0);
    assert_error(&r, 504, "timeout");
    /* The request stays queued for a worker that comes later. */
    assert_non_null(strstr((char *)r.body.data, "GET /api/v1/memes/"));
    buf_release(&r.body);

    harness_stop(&lone);
    struct wait_http down = {b, "/readyz", 503};
    assert_true(harness_wait_for(http_is, &down, 15000));
    assert_int_equal(http("POST", u, "{\"prompt\":\"no nats\"}", 20, false, &r), 0);
    assert_error(&r, 503, "unreachable");
    buf_release(&r.body);
    assert_int_equal(get_status(b, "/healthz"), 200); /* alive, only not ready */
    assert_int_equal(metric(b, "meme_gateway_nats_connected"), 0);
    free(u);
    assert_int_equal(harness_kill(gw, 10000), 0);
}

struct killed_post {
    char base[64];
    int index;
    long status;
    double done_at; /* monotonic seconds */
    int finished;   /* set (atomically) after done_at */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *killed_post_thread(void *arg)
{
    struct killed_post *k = arg;
    struct http_resp r;
    char json[160];
    snprintf(json, sizeof(json),
             "{\"id\":\"gwkill-%d\",\"prompt\":\"in flight %d | its worker dies\",\"size\":1024}",
             k->index, k->index);
    char *u = url_of(k->base, "/api/v1/memes");
    http("POST", u, json, strlen(json), false, &r);
    k->status =
        r.status == 200 && image_sniff(r.body.data, r.body.len) == IMAGE_PNG ? 200 : -r.status;
    k->done_at = now_s();
    __atomic_store_n(&k->finished, 1, __ATOMIC_RELEASE);
    buf_release(&r.body);
    free(u);
    return NULL;
}

static int answered(struct killed_post *k, int n)
{
    int c = 0;
    for (int i = 0; i < n; i++)
        c += __atomic_load_n(&k[i].finished, __ATOMIC_ACQUIRE);
    return c;
}

/* 20 POSTs in flight, their worker frozen then killed while it holds some:
 * with the protocol's ack wait (the worker made the consumer), its jobs go
 * to another worker in seconds and every POST gets its meme (20 x 200),
 * within the gateway's default 60 s. Meanwhile /status tells why one waits. */
static void test_worker_killed_under_posts(void **state)
{
    (void)state;
    enum { N = 20 };
    struct harness_server lone;
    assert_int_equal(harness_nats_start(&lone), 0);
    char *bin = harness_bin("meme-worker");
    char *wlog = xasprintf("%s/kill-a.log", scratch);
    char *wargv[] = {bin, "--nats", lone.url, "--id", "kill-a", "--concurrency", "2", "-v", NULL};
    pid_t a = harness_spawn(wargv, NULL, wlog);
    struct wait_consumer wc = {lone.url, 1};
    assert_true(a > 0 && harness_wait_for(consumer_ready, &wc, 20000));
    char b[64];
    pid_t gw = start_gateway(lone.url, "kill", b, sizeof(b), "60", "5");
    assert_true(gw > 0);
    struct wait_http ready = {b, "/readyz", 200};
    assert_true(harness_wait_for(http_is, &ready, 15000));

    static struct killed_post k[N];
    pthread_t th[N];
    memset(k, 0, sizeof(k));
    for (int i = 0; i < N; i++) {
        snprintf(k[i].base, sizeof(k[i].base), "%s", b);
        k[i].index = i;
        assert_int_equal(pthread_create(&th[i], NULL, killed_post_thread, &k[i]), 0);
    }
    double t0 = now_s();
    while (answered(k, N) < 2 && now_s() - t0 < 60)
        usleep(5000);
    /* Frozen first, so the jobs it holds stay held, then killed. */
    assert_int_equal(kill(a, SIGSTOP), 0);
    double t_stop = now_s();
    usleep(200 * 1000);
    struct mq_conn mq;
    struct mq_connect_opts co = {.url = lone.url, .name = "test"};
    struct mq_depth d;
    assert_int_equal(mq_connect(&mq, &co, NULL), 0);
    assert_int_equal(mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &d, NULL), 0);
    int held = (int)d.ack_pending, before = answered(k, N);

    /* A POST still waiting: its status says so (no worker has it now). */
    int waiting = -1;
    for (int i = 0; i < N && waiting < 0; i++)
        if (!__atomic_load_n(&k[i].finished, __ATOMIC_ACQUIRE))
            waiting = i;
    assert_true(waiting >= 0);
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/memes/gwkill-%d/status", waiting);
    struct http_resp r;
    char *su = url_of(b, path);
    assert_int_equal(http(NULL, su, NULL, 0, false, &r), 0);
    printf("status while waiting: %ld %s", r.status, (char *)r.body.data);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.content_type, "application/json");
    assert_non_null(strstr((char *)r.body.data, "\"state\":\""));
    assert_non_null(strstr((char *)r.body.data, "\"message\":\""));
    buf_release(&r.body);

    /* The other worker: with a backlog its pulls are answered at once, so
     * it is not waited for as "ready" (no pull stays waiting). */
    char *blog = xasprintf("%s/kill-b.log", scratch);
    char *bargv[] = {bin, "--nats", lone.url, "--id", "kill-b", "-v", NULL};
    pid_t bw = harness_spawn(bargv, NULL, blog);
    free(blog);
    assert_true(bw > 0);
    assert_int_equal(kill(a, SIGKILL), 0);
    double t_kill = now_s();
    harness_kill(a, 0);
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    int ok = 0;
    double last = 0;
    for (int i = 0; i < N; i++) {
        ok += k[i].status == 200;
        if (k[i].status != 200)
            printf("gwkill-%d: %ld\n", i, k[i].status);
        if (k[i].done_at - t_kill > last)
            last = k[i].done_at - t_kill;
    }
    printf("figures: gateway: %d x 200 of %d POSTs in flight, %d answered before the worker "
           "was frozen then killed, %d held by it, the last answered %.2f s after the kill, "
           "%.2f s after the freeze\n",
           ok, N, before, held, last, last + (t_kill - t_stop));
    assert_int_equal(ok, N);
    assert_true(held >= 1);

    /* Done now: the status comes from the results bucket. */
    assert_int_equal(http(NULL, su, NULL, 0, false, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr((char *)r.body.data, "\"state\":\"done\""));
    buf_release(&r.body);
    free(su);
    su = url_of(b, "/api/v1/memes/never-sent/status");
    assert_int_equal(http(NULL, su, NULL, 0, false, &r), 0);
    assert_error(&r, 404, "not_found");
    buf_release(&r.body);
    free(su);

    mq_close(&mq);
    assert_int_equal(harness_kill(gw, 10000), 0);
    assert_int_equal(harness_kill(bw, 10000), 0);
    harness_stop(&lone);
    free(bin);
    free(wlog);
}

/* Started before any NATS exists, with a password in the URL: it serves the
 * page and probes, answers 503, and never shows the password. */
static void test_no_nats_at_start_503(void **state)
{
    (void)state;
    char url[96], b[64], where[16];
    int port = harness_free_port();
    snprintf(url, sizeof(url), "nats://meme:s3cret-pw@127.0.0.1:%d", port);
    snprintf(where, sizeof(where), ":%d", port);
    pid_t gw = start_gateway(url, "nonats", b, sizeof(b), "5", "1");
    assert_true(gw > 0);
    assert_int_equal(get_status(b, "/"), 200);
    assert_int_equal(get_status(b, "/readyz"), 503);
    struct http_resp r;
    char *u = url_of(b, "/api/v1/memes");
    assert_int_equal(http("POST", u, "{\"prompt\":\"x\"}", 14, false, &r), 0);
    assert_error(&r, 503, "unreachable");
    assert_null(strstr((char *)r.body.data, "s3cret-pw"));
    /* Nor where NATS is: that goes to the log. */
    assert_null(strstr((char *)r.body.data, where));
    assert_null(strstr((char *)r.body.data, "nats://"));
    buf_release(&r.body);
    free(u);
    u = url_of(b, "/api/v1/memes/some-id");
    assert_int_equal(http(NULL, u, NULL, 0, false, &r), 0);
    assert_error(&r, 503, "unreachable");
    buf_release(&r.body);
    free(u);
    u = url_of(b, "/api/health");
    http(NULL, u, NULL, 0, false, &r);
    assert_non_null(strstr((char *)r.body.data, "\"nats\":\"disconnected\""));
    buf_release(&r.body);
    free(u);
    assert_int_equal(harness_kill(gw, 10000), 0);
    /* Nor in its log. */
    char *log = xasprintf("%s/gateway-nonats.log", scratch);
    FILE *f = fopen(log, "r");
    assert_non_null(f);
    char line[1024];
    while (fgets(line, sizeof(line), f))
        assert_null(strstr(line, "s3cret-pw"));
    fclose(f);
    free(log);
}

struct bg_post {
    const char *base;
    struct http_resp r;
};

static void *bg_post_thread(void *p)
{
    struct bg_post *a = p;
    char *u = url_of(a->base, "/api/v1/memes");
    http("POST", u, "{\"prompt\":\"in flight\"}", 22, false, &a->r);
    free(u);
    return NULL;
}

/* SIGTERM: not ready at once, the request in flight is answered (503
 * shutting_down once the drain time is over), and the process exits 0. */
static void test_sigterm_drains(void **state)
{
    (void)state;
    struct harness_server lone;
    assert_int_equal(harness_nats_start(&lone), 0);
    char b[64];
    pid_t gw = start_gateway(lone.url, "drain", b, sizeof(b), "30", "1");
    assert_true(gw > 0);
    struct wait_http ready = {b, "/readyz", 200};
    assert_true(harness_wait_for(http_is, &ready, 15000));
    struct bg_post bg = {.base = b};
    pthread_t th;
    pthread_create(&th, NULL, bg_post_thread, &bg);
    for (int i = 0; i < 200 && metric(b, "meme_gateway_http_requests_in_flight") < 2; i++)
        usleep(10000);
    kill(gw, SIGTERM);
    pthread_join(th, NULL);
    assert_error(&bg.r, 503, "shutting_down");
    buf_release(&bg.r.body);
    /* It exits by itself; a second SIGTERM after the drain changes nothing. */
    int status = harness_kill(gw, 10000);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    harness_stop(&lone);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *bin = harness_bin("meme-gateway");
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *a1[] = {bin, "--timeout", "soon", NULL};
    assert_int_equal(harness_run(a1, NULL, &out, &err, 10000), 2);
    assert_non_null(strstr((char *)err.data, "--timeout"));
    buf_release(&err);
    char *a2[] = {bin, "--listen", "nonsense", "--nats", "nats://127.0.0.1:1", NULL};
    assert_int_equal(harness_run(a2, NULL, &out, &err, 10000), 1);
    assert_non_null(strstr((char *)err.data, "listen address"));
    buf_release(&err);
    char *a3[] = {bin, "--help", NULL};
    assert_int_equal(harness_run(a3, NULL, &out, &err, 10000), 0);
    assert_non_null(strstr((char *)out.data, "--listen"));
    buf_release(&out);
    buf_release(&err);
    free(bin);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_post_png_meme),
        cmocka_unit_test(test_post_original_spelling_jpeg),
        cmocka_unit_test(test_bad_json_is_400),
        cmocka_unit_test(test_unknown_template_is_400),
        cmocka_unit_test(test_oversize_body_is_413),
        cmocka_unit_test(test_duplicate_id_is_409),
        cmocka_unit_test(test_get_by_id_from_results_bucket),
        cmocka_unit_test(test_get_unknown_and_invalid_id),
        cmocka_unit_test(test_page_and_probes),
        cmocka_unit_test(test_metrics_exposition),
        cmocka_unit_test(test_wrong_method_and_path),
        cmocka_unit_test(test_json_only_415),
        cmocka_unit_test(test_download_name),
        cmocka_unit_test(test_templates_for_the_form),
        cmocka_unit_test(test_recent_memes),
        cmocka_unit_test(test_permalink_page),
        cmocka_unit_test(test_live_events),
        cmocka_unit_test(test_concurrent_load_no_errors),
        cmocka_unit_test(test_worker_killed_under_posts),
        cmocka_unit_test(test_deadline_504_then_nats_down_503),
        cmocka_unit_test(test_no_nats_at_start_503),
        cmocka_unit_test(test_sigterm_drains),
        cmocka_unit_test(test_usage_errors),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    nats_Close();
    return harness_finish(failures);
}
