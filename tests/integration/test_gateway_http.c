/*
 * meme-gateway's HTTP layer against hostile clients, with a real
 * nats-server -js and a real meme-worker behind it, on loopback with raw
 * sockets (a client library would refuse to send most of these requests):
 * 600 sockets trickling header lines while the health checks are timed on
 * the probe port and the API port, two Content-Length headers,
 * Content-Length with chunked and a request pipelined behind it, huge and
 * negative lengths, %00 and other control bytes in a path, a body trickled
 * past the body timeout. Each test prints its figures.
 */
#include "common.h"

#include <curl/curl.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1, gateway = -1;
static int api_port, probe_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int connect_to(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Sends req as is and reads until the server closes (or timeout_ms passes);
 * the bytes in out, NUL-terminated. Returns 0 when the server closed. */
static int exchange(int port, const char *req, size_t len, int timeout_ms, struct buf *out)
{
    int fd = connect_to(port);
    assert_true(fd >= 0);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* answered and closed early: read what came */
        off += (size_t)w;
    }
    double until = now_s() + timeout_ms / 1000.0;
    int rc = -1;
    for (;;) {
        int left = (int)((until - now_s()) * 1000);
        if (left <= 0)
            break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            break;
        char b[4096];
        ssize_t n = recv(fd, b, sizeof(b), 0);
        if (n <= 0) {
            rc = 0;
            break;
        }
        buf_append(out, b, (size_t)n);
    }
    close(fd);
    buf_putc(out, '\0');
    out->len--;
    return rc;
}

/* Status lines in a byte stream: "HTTP/1.x NNN" at the start of a line. */
static int status_lines(const struct buf *b, int *first_status)
{
    int n = 0;
    const char *s = (const char *)b->data;
    for (size_t i = 0; s && i + 12 <= b->len; i++) {
        if ((i == 0 || s[i - 1] == '\n') && strncmp(s + i, "HTTP/1.", 7) == 0) {
            if (n == 0 && first_status)
                *first_status = atoi(s + i + 9);
            n++;
        }
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

/* GET or POST with libcurl; the status (0 when no answer), body in out. */
static long http(int port, const char *method, const char *path, const char *body, long timeout_ms,
                 struct buf *out)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    struct buf sink = BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (method && strcmp(method, "POST") != 0)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_release(&sink);
    return status;
}

struct wait_port {
    int port;
    const char *path;
};

static bool answers_200(void *arg)
{
    struct wait_port *w = arg;
    return http(w->port, NULL, w->path, NULL, 2000, NULL) == 200;
}

static int setup(void **state)
{
    (void)state;
    scratch = harness_tmpdir("gateway-http");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    worker = start_worker(nats.url, scratch, "gwh-w1");
    if (worker < 0)
        return -1;
    api_port = harness_free_port();
    probe_port = harness_free_port();
    char listen[64], probe[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", api_port);
    snprintf(probe, sizeof(probe), "127.0.0.1:%d", probe_port);
    char *bin = harness_bin("meme-gateway");
    char *log = xasprintf("%s/gateway.log", scratch);
    /* The defaults a user gets: header timeout 10 s, body timeout 30 s,
     * 512 connections. The probe port as the manifests set it, through
     * the environment. */
    char *env_probe = xasprintf("GATEWAY_PROBE_ADDR=%s", probe);
    char *env[] = {env_probe, NULL};
    char *argv[] = {bin, "--listen", listen, "--nats", nats.url, "--id", "gwh", NULL};
    gateway = harness_spawn(argv, env, log);
    free(env_probe);
    free(bin);
    free(log);
    struct wait_port w = {api_port, "/readyz"};
    if (gateway < 0 || !harness_wait_for(answers_200, &w, 15000)) {
        harness_failed();
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_kill(gateway, 10000);
    harness_kill(worker, 10000);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

/* A meme made through the gateway; its id in id. */
static void make_meme(char *id, size_t idsz)
{
    char body[160];
    assert_true(idsz > 36);
    proto_new_id(id);
    snprintf(body, sizeof(body), "{\"id\":\"%s\",\"prompt\":\"strict | http\",\"size\":128}", id);
    struct buf out = BUF_INIT;
    assert_int_equal(http(api_port, "POST", "/api/v1/memes", body, 60000, &out), 200);
    assert_true(image_sniff(out.data, out.len) >= 0);
    buf_release(&out);
}

static bool stored(void *arg)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/memes/%s", (const char *)arg);
    return http(api_port, NULL, path, NULL, 5000, NULL) == 200;
}

/* ------------------------------------------------------------ slow clients */

#define SLOW_SOCKETS   600
#define SLOW_SECONDS   20
#define SLOW_EVERY_MS  2000
#define SLOW_RECONNECT 1000 /* ms before a cut socket connects again */

struct slow {
    int fd;
    double next_line;
    double connected;
    int lines;
};

struct attack_stats {
    int connects, refused, cut;
    double first_cut_s; /* seconds from connect to the first cut */
};

/* Runs the attack: SLOW_SOCKETS sockets each sending a request line and
 * then one header line every 2 s, never the empty line; a socket the server
 * closes (or answers) connects again a second later. Bounded in time. */
static void slow_attack(int port, struct attack_stats *st)
{
    static struct slow s[SLOW_SOCKETS];
    double start = now_s(), end = start + SLOW_SECONDS;
    memset(st, 0, sizeof(*st));
    st->first_cut_s = -1;
    for (int i = 0; i < SLOW_SOCKETS; i++)
        s[i] = (struct slow){.fd = -1, .next_line = start};
    static struct pollfd p[SLOW_SOCKETS];
    while (now_s() < end) {
        double t = now_s();
        for (int i = 0; i < SLOW_SOCKETS; i++) {
            if (s[i].fd < 0 && t >= s[i].next_line) {
                s[i].fd = connect_to(port);
                st->connects++;
                if (s[i].fd < 0) {
                    st->refused++;
                    s[i].next_line = t + SLOW_RECONNECT / 1000.0;
                    continue;
                }
                s[i].connected = t;
                s[i].lines = 0;
                const char *rl = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";
                if (send(s[i].fd, rl, strlen(rl), MSG_NOSIGNAL) < 0) {
                    close(s[i].fd);
                    s[i].fd = -1;
                    st->refused++;
                    s[i].next_line = t + SLOW_RECONNECT / 1000.0;
                    continue;
                }
                s[i].next_line = t + SLOW_EVERY_MS / 1000.0;
            } else if (s[i].fd >= 0 && t >= s[i].next_line) {
                char line[48];
                int n = snprintf(line, sizeof(line), "X-Slow-%d: %d\r\n", s[i].lines++, i);
                if (send(s[i].fd, line, (size_t)n, MSG_NOSIGNAL) < 0)
                    s[i].next_line = t; /* the poll below sees it closed */
                else
                    s[i].next_line = t + SLOW_EVERY_MS / 1000.0;
            }
            p[i] = (struct pollfd){s[i].fd, POLLIN, 0};
        }
        if (poll(p, SLOW_SOCKETS, 100) <= 0)
            continue;
        t = now_s();
        for (int i = 0; i < SLOW_SOCKETS; i++) {
            if (s[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            /* Answered (408, or refused) or closed: either way cut. */
            char b[512];
            ssize_t n = recv(s[i].fd, b, sizeof(b), MSG_DONTWAIT);
            (void)n;
            close(s[i].fd);
            s[i].fd = -1;
            if (s[i].lines > 0) {
                st->cut++;
                if (st->first_cut_s < 0)
                    st->first_cut_s = t - s[i].connected;
            } else {
                st->refused++;
            }
            s[i].next_line = t + SLOW_RECONNECT / 1000.0;
        }
    }
    for (int i = 0; i < SLOW_SOCKETS; i++)
        if (s[i].fd >= 0)
            close(s[i].fd);
}

struct prober {
    int port;
    atomic_bool *stop;
    int tries, ok;
    double worst_ms, total_ms;
};

static void *probe_thread(void *arg)
{
    struct prober *p = arg;
    while (!atomic_load(p->stop)) {
        double t0 = now_s();
        /* The kubelet's probe timeout in the manifests is 2 s; allow more,
         * as this machine is shared: the figure printed is what counts. */
        long st = http(p->port, NULL, "/healthz", NULL, 10000, NULL);
        double ms = (now_s() - t0) * 1000;
        p->tries++;
        if (st == 200) {
            p->ok++;
            p->total_ms += ms;
            if (ms > p->worst_ms)
                p->worst_ms = ms;
        }
        sleep_ms(250);
    }
    return NULL;
}

struct poster {
    atomic_bool *stop;
    int tries, ok;
};

/* Real memes through the API port while the attack runs. */
static void *post_thread(void *arg)
{
    struct poster *p = arg;
    sleep_ms(3000); /* once the slow sockets are all connected */
    while (!atomic_load(p->stop)) {
        struct buf out = BUF_INIT;
        long st =
            http(api_port, "POST", "/api/v1/memes",
                 "{\"prompt\":\"slowloris | cannot stop this meme\",\"size\":128}", 30000, &out);
        p->tries++;
        if (st == 200 && image_sniff(out.data, out.len) >= 0)
            p->ok++;
        buf_release(&out);
        sleep_ms(1000);
    }
    return NULL;
}

static void test_slow_headers_do_not_starve_health_checks(void **state)
{
    (void)state;
    atomic_bool stop = false;
    struct prober on_probe = {.port = probe_port, .stop = &stop};
    struct prober on_api = {.port = api_port, .stop = &stop};
    struct poster memes = {.stop = &stop};
    pthread_t t1, t2, t3;
    pthread_create(&t1, NULL, probe_thread, &on_probe);
    pthread_create(&t2, NULL, probe_thread, &on_api);
    pthread_create(&t3, NULL, post_thread, &memes);
    struct attack_stats st;
    slow_attack(api_port, &st);
    atomic_store(&stop, true);
    pthread_join(t1, NULL);
    pthread_join(t2, NULL);
    pthread_join(t3, NULL);
    fprintf(stderr,
            "slow headers: %d sockets x %d s, a header line every %d ms: %d connects, %d "
            "refused, %d cut by the server (first after %.1f s)\n",
            SLOW_SOCKETS, SLOW_SECONDS, SLOW_EVERY_MS, st.connects, st.refused, st.cut,
            st.first_cut_s);
    fprintf(stderr, "  /healthz on the probe port: %d/%d answered, mean %.1f ms, worst %.1f ms\n",
            on_probe.ok, on_probe.tries, on_probe.ok ? on_probe.total_ms / on_probe.ok : 0,
            on_probe.worst_ms);
    fprintf(stderr, "  /healthz on the API port:   %d/%d answered, mean %.1f ms, worst %.1f ms\n",
            on_api.ok, on_api.tries, on_api.ok ? on_api.total_ms / on_api.ok : 0, on_api.worst_ms);
    fprintf(stderr, "  POST /api/v1/memes meanwhile: %d/%d memes\n", memes.ok, memes.tries);
    assert_true(on_probe.tries > 0);
    assert_int_equal(on_probe.ok, on_probe.tries);
    assert_true(on_api.tries > 0);
    assert_int_equal(on_api.ok, on_api.tries);
    assert_true(memes.tries > 0);
    assert_int_equal(memes.ok, memes.tries);
    /* The slow sockets were cut by the header timeout, not left hanging. */
    assert_true(st.cut > 0);
    /* And the gateway counted them. */
    struct buf m = BUF_INIT;
    assert_int_equal(http(probe_port, NULL, "/metrics", NULL, 10000, &m), 200);
    assert_non_null(strstr(
        (char *)m.data, "meme_gateway_http_connections_refused_total{reason=\"header_timeout\"}"));
    buf_release(&m);
}

/* A header line every 2 s on one socket: answered 408 at the header
 * timeout (10 s by default), not kept for as long as the client likes. */
static void test_trickled_head_gets_408(void **state)
{
    (void)state;
    int fd = connect_to(api_port);
    assert_true(fd >= 0);
    double t0 = now_s();
    const char *rl = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    assert_true(send(fd, rl, strlen(rl), MSG_NOSIGNAL) > 0);
    struct buf got = BUF_INIT;
    int lines = 0;
    while (now_s() - t0 < 60) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) > 0) {
            char b[1024];
            ssize_t n = recv(fd, b, sizeof(b), 0);
            if (n <= 0)
                break;
            buf_append(&got, b, (size_t)n);
            continue;
        }
        char line[32];
        int n = snprintf(line, sizeof(line), "X-Line-%d: x\r\n", lines++);
        if (send(fd, line, (size_t)n, MSG_NOSIGNAL) < 0)
            break;
    }
    double took = now_s() - t0;
    close(fd);
    buf_putc(&got, '\0');
    got.len--;
    int status = 0;
    int n = status_lines(&got, &status);
    fprintf(stderr, "trickled head: %d header lines, answered %d after %.1f s\n", lines, status,
            took);
    assert_int_equal(n, 1);
    assert_int_equal(status, 408);
    assert_non_null(strstr((char *)got.data, "\"code\":\"timeout\""));
    assert_true(took < 60);
    buf_release(&got);
}

/* A body sent one byte a second: closed at the body timeout (30 s by
 * default), before the client is done. */
static void test_trickled_body_is_cut(void **state)
{
    (void)state;
    int fd = connect_to(api_port);
    assert_true(fd >= 0);
    const char *body = "{\"prompt\":\"a body sent one byte a second\"}";
    size_t blen = strlen(body);
    char *head = xasprintf("POST /api/v1/memes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                           blen);
    assert_true(send(fd, head, strlen(head), MSG_NOSIGNAL) > 0);
    free(head);
    double t0 = now_s();
    size_t sent = 0;
    bool closed = false;
    while (sent < blen && now_s() - t0 < 90) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 1000) > 0) {
            char b[512];
            if (recv(fd, b, sizeof(b), 0) <= 0) {
                closed = true;
                break;
            }
            continue;
        }
        if (send(fd, body + sent, 1, MSG_NOSIGNAL) < 0) {
            closed = true;
            break;
        }
        sent++;
    }
    double took = now_s() - t0;
    close(fd);
    fprintf(stderr, "trickled body: %zu of %zu bytes sent, %s after %.1f s\n", sent, blen,
            closed ? "closed by the gateway" : "not closed", took);
    assert_true(closed);
    assert_true(sent < blen);
}

/* ------------------------------------------------------------ strict parsing */

static void expect_one_answer(const char *what, const char *req, int want_status,
                              const char *want_text)
{
    struct buf out = BUF_INIT;
    int closed = exchange(api_port, req, strlen(req), 10000, &out);
    int status = 0;
    int n = status_lines(&out, &status);
    fprintf(stderr, "%s: %d status line(s), first %d, %s\n", what, n, status,
            closed == 0 ? "connection closed" : "connection left open");
    if (n != 1 || status != want_status)
        fprintf(stderr, "%s\n", (char *)out.data);
    assert_int_equal(n, 1);
    assert_int_equal(status, want_status);
    assert_int_equal(closed, 0);
    assert_non_null(strstr((char *)out.data, "\"code\":\"bad_request\""));
    if (want_text)
        assert_non_null(strstr((char *)out.data, want_text));
    buf_release(&out);
}

static void test_duplicate_content_length_is_400(void **state)
{
    (void)state;
    /* Conflicting: the first (14) would be a whole request, the second (5)
     * what a proxy in front forwards. */
    expect_one_answer("Content-Length 14 and 5",
                      "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n"
                      "Content-Length: 5\r\n\r\n{\"prompt\":\"x\"}",
                      400, "more than one Content-Length");
    expect_one_answer("Content-Length 14 twice",
                      "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length: 14\r\n"
                      "content-length: 14\r\n\r\n{\"prompt\":\"x\"}",
                      400, "more than one Content-Length");
    expect_one_answer("Content-Length: 14, 14",
                      "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length: 14, 14\r\n\r\n"
                      "{\"prompt\":\"x\"}",
                      400, "Content-Length");
    expect_one_answer("white space before the colon",
                      "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length : 14\r\n\r\n"
                      "{\"prompt\":\"x\"}",
                      400, "colon");
}

/* CL.TE smuggling: a proxy that frames by Content-Length forwards the whole
 * thing as one request; a server that frames by chunked sees an empty body
 * and then a second request the proxy never checked. */
static void test_content_length_with_chunked_is_400(void **state)
{
    (void)state;
    char id[40];
    proto_new_id(id);
    char *smuggled = xasprintf("POST /api/v1/memes HTTP/1.1\r\nHost: x\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n"
                               "{\"id\":\"%s\",\"prompt\":\"smuggled\"}",
                               strlen(id) + 30, id);
    char *req = xasprintf("POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s",
                          5 + strlen(smuggled), smuggled);
    expect_one_answer("Content-Length with chunked, a POST pipelined behind", req, 400,
                      "both Content-Length and Transfer-Encoding");
    /* The pipelined request was never served: no meme under its id. */
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/memes/%s", id);
    sleep_ms(2000);
    long st = http(api_port, NULL, path, NULL, 10000, NULL);
    fprintf(stderr, "the pipelined request's id afterwards: %ld\n", st);
    assert_int_equal(st, 404);
    /* Pipelining after a good request is not served either: one request
     * per connection. */
    struct buf out = BUF_INIT;
    const char *two =
        "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /readyz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(exchange(api_port, two, strlen(two), 10000, &out), 0);
    int status = 0;
    assert_int_equal(status_lines(&out, &status), 1);
    assert_int_equal(status, 200);
    buf_release(&out);
    free(req);
    free(smuggled);
    /* Other transfer codings are refused rather than read to the end. */
    expect_one_answer("Transfer-Encoding: gzip, chunked",
                      "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\n"
                      "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                      400, "chunked");
    /* chunked alone still works. */
    const char *chunked = "POST /api/v1/memes HTTP/1.1\r\nHost: x\r\n"
                          "Content-Type: application/json\r\n"
                          "Transfer-Encoding: chunked\r\n\r\n3\r\n{\"p\r\n0\r\n\r\n";
    assert_int_equal(exchange(api_port, chunked, strlen(chunked), 10000, &out), 0);
    assert_int_equal(status_lines(&out, &status), 1);
    assert_int_equal(status, 400); /* answered by the JSON parser, not the guard */
    assert_non_null(strstr((char *)out.data, "bad_json"));
    buf_release(&out);
}

static void test_huge_or_negative_content_length_one_answer(void **state)
{
    (void)state;
    static const struct {
        const char *value;
        int status;
    } cases[] = {
        {"99999999999999999999999", 413},
        {"18446744073709551616", 413},
        {"18446744073709551615", 413},
        {"65537", 413},
        {"-1", 400},
        {"-99999999999", 400},
        {"1e9", 400},
        {"0x10", 400},
        {"", 400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *req = xasprintf("POST /api/v1/memes HTTP/1.1\r\nHost: x\r\nContent-Length: %s\r\n"
                              "\r\n{\"prompt\":\"x\"}",
                              cases[i].value);
        char *what = xasprintf("Content-Length: %s", cases[i].value);
        expect_one_answer(what, req, cases[i].status, NULL);
        free(what);
        free(req);
    }
}

static void test_control_bytes_in_path_are_400(void **state)
{
    (void)state;
    char id[40];
    make_meme(id, sizeof(id));
    assert_true(harness_wait_for(stored, id, 10000));
    /* %00 after a real id would be served as that id by libmicrohttpd. */
    static const char *const tails[] = {"%00junk", "%00", "%0a", "%0D%0A", "%1b", "%7f", "%7F%00"};
    for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
        char *req = xasprintf("GET /api/v1/memes/%s%s HTTP/1.1\r\nHost: x\r\n\r\n", id, tails[i]);
        char *what = xasprintf("GET /api/v1/memes/<id>%s", tails[i]);
        expect_one_answer(what, req, 400, "control byte");
        free(what);
        free(req);
    }
    expect_one_answer("GET /healthz%00", "GET /healthz%00 HTTP/1.1\r\nHost: x\r\n\r\n", 400,
                      "control byte");
    expect_one_answer("raw control byte in the path",
                      "GET /healthz\x01 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "control");
    expect_one_answer("ESC in a header value",
                      "GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x1b[2Jb\r\n\r\n", 400,
                      "control byte");
    /* The same id, plainly, is still served. */
    char path[96];
    snprintf(path, sizeof(path), "/api/v1/memes/%s", id);
    assert_int_equal(http(api_port, NULL, path, NULL, 10000, NULL), 200);
}

/* The probe port serves the probes and metrics, nothing else. */
static void test_probe_port_serves_probes_only(void **state)
{
    (void)state;
    assert_int_equal(http(probe_port, NULL, "/healthz", NULL, 10000, NULL), 200);
    assert_int_equal(http(probe_port, NULL, "/readyz", NULL, 10000, NULL), 200);
    assert_int_equal(http(probe_port, NULL, "/metrics", NULL, 10000, NULL), 200);
    assert_int_equal(http(probe_port, NULL, "/", NULL, 10000, NULL), 404);
    assert_int_equal(http(probe_port, "POST", "/api/v1/memes", "{\"prompt\":\"x\"}", 10000, NULL),
                     404);
    /* The API port keeps its probes too. */
    assert_int_equal(http(api_port, NULL, "/healthz", NULL, 10000, NULL), 200);
}

static void test_usage_errors(void **state)
{
    (void)state;
    char *bin = harness_bin("meme-gateway");
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *a1[] = {bin, "--header-timeout", "0", NULL};
    assert_int_equal(harness_run(a1, NULL, &out, &err, 10000), 2);
    assert_non_null(strstr((char *)err.data, "--header-timeout"));
    buf_release(&err);
    char *a2[] = {bin, "--body-timeout", "soon", NULL};
    assert_int_equal(harness_run(a2, NULL, &out, &err, 10000), 2);
    assert_non_null(strstr((char *)err.data, "--body-timeout"));
    buf_release(&err);
    char *a3[] = {bin, "--probe-addr", "nonsense", "--nats", "nats://127.0.0.1:1", NULL};
    assert_int_equal(harness_run(a3, NULL, &out, &err, 10000), 1);
    assert_non_null(strstr((char *)err.data, "listen address"));
    buf_release(&err);
    buf_release(&out);
    free(bin);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_port_serves_probes_only),
        cmocka_unit_test(test_duplicate_content_length_is_400),
        cmocka_unit_test(test_content_length_with_chunked_is_400),
        cmocka_unit_test(test_huge_or_negative_content_length_one_answer),
        cmocka_unit_test(test_control_bytes_in_path_are_400),
        cmocka_unit_test(test_trickled_head_gets_408),
        cmocka_unit_test(test_trickled_body_is_cut),
        cmocka_unit_test(test_slow_headers_do_not_starve_health_checks),
        cmocka_unit_test(test_usage_errors),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    nats_Close();
    return harness_finish(failures);
}
