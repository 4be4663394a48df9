/*
 * meme-worker's Redis cache against real redis-server and nats-server
 * processes: the same request twice is a miss then a hit; with Redis
 * stopped mid-run memes keep coming, the outage is logged once and
 * counted; with Redis back the worker reconnects and the cache is used
 * again.
 */
#include "worker_common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static char *scratch;

static int setup(void **state)
{
    scratch = harness_tmpdir("wcache");
    return scratch ? 0 : -1;
}

static int teardown(void **state)
{
    free(scratch);
    nats_Close();
    return 0;
}

/* Starts redis-server again on the port and directory of s. */
static int redis_restart(struct harness_server *s)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", s->port);
    char *argv[] = {"redis-server", "--port", port, "--bind",       "127.0.0.1", "--dir",
                    s->dir,         "--save", "",   "--appendonly", "no",        NULL};
    s->pid = harness_spawn(argv, NULL, s->log);
    double deadline = wt_now_s() + 10;
    while (wt_now_s() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa;
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)s->port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool up = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
        close(fd);
        if (up)
            return 0;
        wt_sleep_ms(20);
    }
    return -1;
}

/* Occurrences of needle in the file at path. */
static int count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[4096];
    int n = 0;
    while (f && fgets(line, sizeof(line), f))
        n += strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return n;
}

/* Sends request i with prompt and waits for its reply; returns 1 on a cache
 * hit, 0 on a miss, -1 when no meme came. */
static int one(struct tally *t, int i, const char *prompt)
{
    if (tally_publish_prompt(t, "cache", i, prompt, ",\"size\":128") < 0)
        return -1;
    if (tally_wait(t, NULL, i, 1, 20000) != 1)
        return -1;
    pthread_mutex_lock(&t->lock);
    int hit = t->hits[i] > 0;
    pthread_mutex_unlock(&t->lock);
    return hit;
}

static void test_redis_outage_and_return(void **state)
{
    struct harness_server nats, redis;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    assert_int_equal(harness_redis_start(&redis), 0);
    char *log = xasprintf("%s/cache-w.log", scratch);
    pid_t w = wt_worker(nats.url, scratch, "cache-w", 1, NULL, "--redis", redis.url,
                        "--concurrency", "2", NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "t.cache"), 0);

    /* Miss, then hit; a different size is a different key. */
    assert_int_equal(one(&t, 0, "cache me | if you can"), 0);
    assert_int_equal(one(&t, 1, "cache me | if you can"), 1);
    assert_int_equal(one(&t, 2, "something else | entirely"), 0);

    /* Redis goes away: memes keep coming, each made afresh. */
    harness_stop(&redis);
    double t0 = wt_now_s();
    int made = 0;
    for (int i = 10; i < 30; i++) {
        int r = one(&t, i, "cache me | if you can");
        if (r < 0)
            break;
        made += r == 0;
    }
    double outage_s = wt_now_s() - t0;
    assert_int_equal(made, 20);
    assert_int_equal(count_in_file(log, "cache unavailable"), 1);

    /* Redis comes back (empty): the worker reconnects within its backoff, and
     * the second of two equal requests is a hit again. */
    assert_int_equal(redis_restart(&redis), 0);
    t0 = wt_now_s();
    int i = 100, hit = 0;
    while (!hit && wt_now_s() - t0 < 60 && i < 400) {
        one(&t, i++, "back again | from the cache");
        hit = one(&t, i++, "back again | from the cache") == 1;
        if (!hit)
            wt_sleep_ms(250);
    }
    double back_s = wt_now_s() - t0;
    printf("figures: redis outage: %d/20 memes made with Redis down in %.2f s; cache hit "
           "again %.2f s after Redis returned (%d requests)\n",
           made, outage_s, back_s, i - 100);
    assert_true(hit);
    assert_int_equal(count_in_file(log, "cache available again"), 1);

    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    harness_stop(&redis);
    harness_stop(&nats);
    free(log);
}

/* A Redis that accepts connections but never answers: bounded timeouts keep
 * memes coming. */
static void test_redis_that_never_answers(void **state)
{
    struct harness_server nats;
    struct tally t;
    assert_int_equal(harness_nats_start(&nats), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    char url[64];
    snprintf(url, sizeof(url), "redis://:s3cret-pass@127.0.0.1:%d", ntohs(sa.sin_port));
    char *log = xasprintf("%s/mute-w.log", scratch);
    pid_t w = wt_worker(nats.url, scratch, "mute-w", 1, NULL, "--redis", url, NULL);
    assert_true(w > 0);
    assert_int_equal(tally_open(&t, nats.url, "t.mute"), 0);
    double t0 = wt_now_s();
    int made = 0;
    for (int i = 0; i < 5; i++)
        made += one(&t, i, "nobody home | at redis") == 0;
    double s = wt_now_s() - t0;
    printf("figures: silent redis: %d/5 memes made in %.2f s\n", made, s);
    assert_int_equal(made, 5);
    assert_int_equal(count_in_file(log, "cache unavailable"), 1);
    /* The password never reaches the log. */
    assert_int_equal(count_in_file(log, "s3cret"), 0);
    tally_close(&t);
    assert_int_equal(wt_term(w, 20000), 0);
    close(fd);
    harness_stop(&nats);
    free(log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_redis_outage_and_return),
        cmocka_unit_test(test_redis_that_never_answers),
    };
    return harness_finish(cmocka_run_group_tests(tests, setup, teardown));
}
