/*
 * lib/mq/cache without a Redis server: URL parsing (and that the password never
 * reaches a message), the key derivation, and the best-effort behaviour
 * against a port where nothing listens: a bounded failure, then a backoff
 * in which calls fail at once without touching the network. The round trip
 * against a real redis-server is in tests/integration/test_worker_cache.c.
 */
#include "mq/cache.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void test_urls(void **state)
{
    struct meme_err err = {0};
    struct cache *c = cache_new("redis://:s3cret@10.0.0.1:6380/2", NULL, &err);
    assert_non_null(c);
    assert_string_equal(cache_url_redacted(c), "redis://***@10.0.0.1:6380/2");
    cache_free(c);
    c = cache_new("redis://redis.cache", NULL, &err);
    assert_non_null(c);
    assert_string_equal(cache_url_redacted(c), "redis://redis.cache:6379/0");
    cache_free(c);
    c = cache_new("redis://user:pw@[::1]:7000", NULL, &err);
    assert_non_null(c);
    assert_string_equal(cache_url_redacted(c), "redis://***@::1:7000/0");
    cache_free(c);

    const char *bad[] = {"http://x:6379",   "redis://host:99999",    "redis://host:12ab",
                         "redis://host/db", "rediss://:s3cret@host", NULL};
    for (int i = 0; bad[i]; i++) {
        memset(&err, 0, sizeof(err));
        assert_null(cache_new(bad[i], NULL, &err));
        assert_int_equal(err.code, MEME_E_BAD_REQUEST);
        assert_null(strstr(err.msg, "s3cret"));
    }
    cache_free(NULL);
}

static void test_keys(void **state)
{
    char a[CACHE_KEY_MAX], b[CACHE_KEY_MAX], c[CACHE_KEY_MAX];
    cache_key("{\"prompt\":\"x\",\"size\":512}", 26, a);
    cache_key("{\"prompt\":\"x\",\"size\":512}", 26, b);
    cache_key("{\"prompt\":\"x\",\"size\":1024}", 27, c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "meme:v1:", 8), 0);
    assert_int_equal(strlen(a), 8 + 64);
    /* SHA-256 of the empty string. */
    cache_key("", 0, a);
    assert_string_equal(a,
                        "meme:v1:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    getsockname(fd, (struct sockaddr *)&sa, &len);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_unreachable_then_backoff(void **state)
{
    char url[64];
    snprintf(url, sizeof(url), "redis://:pw-secret@127.0.0.1:%d", closed_port());
    struct cache_opts o = {.backoff_min_ms = 300};
    struct meme_err err = {0};
    struct cache *c = cache_new(url, &o, &err);
    assert_non_null(c);
    struct cache_entry e;
    double t0 = now_ms();
    int rc = cache_get(c, "meme:v1:x", &e, &err);
    assert_int_equal(rc, MEME_E_UNREACHABLE);
    assert_null(strstr(err.msg, "pw-secret"));
    assert_non_null(strstr(err.msg, "next try in 300 ms"));
    assert_true(cache_in_backoff(c));
    /* In the backoff: a failure at once, and a put fails the same way. */
    rc = cache_get(c, "meme:v1:x", &e, &err);
    assert_int_equal(rc, MEME_E_UNREACHABLE);
    assert_non_null(strstr(err.msg, "unavailable"));
    uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    struct cache_entry put = {.data = png, .len = 8, .width = 1, .height = 1};
    assert_int_equal(cache_put(c, "meme:v1:x", &put, 10, &err), MEME_E_UNREACHABLE);
    assert_true(now_ms() - t0 < 250);
    /* After it, the next call tries again and doubles the backoff. */
    usleep(350 * 1000);
    assert_false(cache_in_backoff(c));
    rc = cache_get(c, "meme:v1:x", &e, &err);
    assert_int_equal(rc, MEME_E_UNREACHABLE);
    assert_non_null(strstr(err.msg, "next try in 600 ms"));
    cache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_unreachable_then_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
