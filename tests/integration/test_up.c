/*
 * memectl up / down on real nats-server, redis-server and meme-worker
 * processes, in a scratch state directory on free ports: the stack answers
 * `memectl gen` without -s, `up` is idempotent and adjusts workers, the
 * NATS monitoring endpoint shows the stream and consumer KEDA reads, and
 * `down` stops exactly what `up` started.
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "stack.h"

static char *state_dir;
static char env_state[512];
static char nats_port[16], monitor_port[16], redis_port[16];

static int run(struct buf *out, struct buf *err, char **args)
{
    char *argv[32];
    int n = 0;
    char *bin = harness_bin("memectl");
    argv[n++] = bin;
    for (; *args && n < 31; args++)
        argv[n++] = *args;
    argv[n] = NULL;
    char *env[] = {env_state, "NATS_URL", "MEMECTL_DISPLAY", NULL};
    int rc = harness_run(argv, env, out, err, 60000);
    if (err->len)
        fprintf(stderr, "[memectl stderr] %s", (const char *)err->data);
    free(bin);
    return rc;
}

static int setup(void **state)
{
    state_dir = harness_tmpdir("up");
    if (!state_dir)
        return -1;
    snprintf(env_state, sizeof(env_state), "MEMECTL_STATE_DIR=%s", state_dir);
    snprintf(nats_port, sizeof(nats_port), "%d", harness_free_port());
    snprintf(monitor_port, sizeof(monitor_port), "%d", harness_free_port());
    snprintf(redis_port, sizeof(redis_port), "%d", harness_free_port());
    return 0;
}

static int teardown(void **state)
{
    /* Whatever happened, leave no processes behind. */
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *args[] = {"down", NULL};
    run(&out, &err, args);
    buf_release(&out);
    buf_release(&err);
    free(state_dir);
    return 0;
}

static size_t load(struct stack *st)
{
    assert_int_equal(stack_load(state_dir, st), 0);
    return st->count;
}

static size_t count_role(const struct stack *st, const char *role)
{
    size_t n = 0;
    for (size_t i = 0; i < st->count; i++)
        n += strcmp(st->procs[i].role, role) == 0;
    return n;
}

static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return NULL;
    }
    dprintf(fd, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    struct buf b = BUF_INIT;
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        buf_append(&b, chunk, (size_t)n);
    close(fd);
    return (char *)buf_detach(&b, NULL);
}

static void test_up_gen_down(void **state)
{
    struct buf out = BUF_INIT, err = BUF_INIT;
    struct stack st;
    char *up[] = {
        "up",         "--workers",    "1",        "--nats-port", nats_port, "--monitor-port",
        monitor_port, "--redis-port", redis_port, NULL};
    assert_int_equal(run(&out, &err, up), 0);
    assert_non_null(strstr((char *)err.data, "stack up"));
    assert_non_null(strstr((char *)out.data, nats_port));
    assert_int_equal(load(&st), 3);
    assert_int_equal(count_role(&st, "nats"), 1);
    assert_int_equal(count_role(&st, "redis"), 1);
    assert_int_equal(count_role(&st, "worker"), 1);
    for (size_t i = 0; i < st.count; i++)
        assert_true(stack_proc_alive(&st.procs[i]));
    struct stack first = st;
    buf_release(&out);
    buf_release(&err);

    /* gen finds the local stack without -s or NATS_URL. */
    char *file = xasprintf("%s/local.png", state_dir);
    char *gen[] = {"gen", "--display", "none", "-o", file, "local | stack", NULL};
    assert_int_equal(run(&out, &err, gen), 0);
    struct meme_image *img = load_image(file);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    image_free(img);
    free(file);
    buf_release(&out);
    buf_release(&err);

    /* KEDA's view: /jsz lists stream MEMES and consumer meme-generator. */
    char *jsz = http_get(atoi(monitor_port), "/jsz?consumers=true");
    assert_non_null(jsz);
    assert_non_null(strstr(jsz, "\"MEMES\""));
    assert_non_null(strstr(jsz, "\"meme-generator\""));
    free(jsz);

    /* Idempotent: the same processes, nothing new. */
    assert_int_equal(run(&out, &err, up), 0);
    assert_non_null(strstr((char *)err.data, "already up"));
    assert_int_equal(load(&st), 3);
    for (size_t i = 0; i < st.count; i++) {
        assert_int_equal(st.procs[i].pid, first.procs[i].pid);
        assert_true(stack_proc_alive(&st.procs[i]));
    }
    buf_release(&out);
    buf_release(&err);

    /* More workers, then fewer. */
    up[2] = "2";
    assert_int_equal(run(&out, &err, up), 0);
    assert_int_equal(load(&st), 4);
    assert_int_equal(count_role(&st, "worker"), 2);
    buf_release(&out);
    buf_release(&err);
    up[2] = "1";
    assert_int_equal(run(&out, &err, up), 0);
    assert_int_equal(load(&st), 3);
    assert_int_equal(count_role(&st, "worker"), 1);
    struct stack before_down = st;
    buf_release(&out);
    buf_release(&err);

    /* down stops exactly those processes. */
    char *down[] = {"down", NULL};
    assert_int_equal(run(&out, &err, down), 0);
    assert_non_null(strstr((char *)err.data, "stopped 1 worker"));
    for (size_t i = 0; i < before_down.count; i++)
        assert_false(stack_proc_alive(&before_down.procs[i]));
    assert_int_equal(load(&st), 0);
    buf_release(&out);
    buf_release(&err);
    assert_int_equal(run(&out, &err, down), 0);
    assert_non_null(strstr((char *)err.data, "no local stack is running"));
    buf_release(&out);
    buf_release(&err);
}

static void test_up_reports_busy_port(void **state)
{
    /* Something else holds the NATS port: up says so and starts nothing. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    getsockname(fd, (struct sockaddr *)&sa, &len);
    char busy[16];
    snprintf(busy, sizeof(busy), "%d", ntohs(sa.sin_port));
    struct buf out = BUF_INIT, err = BUF_INIT;
    char *up[] = {"up", "--nats-port", busy, "--monitor-port", monitor_port, "--no-redis", NULL};
    assert_int_equal(run(&out, &err, up), 1);
    assert_non_null(strstr((char *)err.data, "already in use"));
    struct stack st;
    assert_int_equal(load(&st), 0);
    close(fd);
    buf_release(&out);
    buf_release(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_up_gen_down),
        cmocka_unit_test(test_up_reports_busy_port),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
