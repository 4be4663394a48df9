/*
 * /jsz (see jsz.h): the scaler's request and its reading of the answer.
 * KEDA's nats-jetstream scaler asks for the account's streams with their
 * consumers and takes lag = num_pending + num_ack_pending of the one named.
 */
#define CURL_DISABLE_TYPECHECK 1
#include "mq/jsz.h"

#include "buf.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *find_named(json_t *arr, const char *name)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o)
    {
        const char *n = json_string_value(json_object_get(o, "name"));
        if (n && strcmp(n, name) == 0)
            return o;
    }
    return NULL;
}

int jsz_parse(const char *json, size_t len, const char *account, const char *stream,
              const char *consumer, struct jsz_consumer *out, struct meme_err *err)
{
    memset(out, 0, sizeof(*out));
    /* /jsz has unsigned 64-bit figures (reserved_memory 2^64 - 1 means
     * unlimited) that jansson's integers cannot hold: read numbers as reals. */
    json_t *root = json_loadb(json, len, JSON_DECODE_INT_AS_REAL, NULL);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "the monitoring endpoint's answer is not JSON");
        goto out;
    }
    json_t *acc = find_named(json_object_get(root, "account_details"), account);
    if (!acc) {
        rc = meme_err_set(err, MEME_E_NOT_FOUND, "account \"%s\" is not in /jsz", account);
        goto out;
    }
    json_t *st = find_named(json_object_get(acc, "stream_detail"), stream);
    if (!st) {
        rc = meme_err_set(err, MEME_E_NOT_FOUND, "stream \"%s\" is not in /jsz", stream);
        goto out;
    }
    json_t *c = find_named(json_object_get(st, "consumer_detail"), consumer);
    if (!c) {
        rc = meme_err_set(err, MEME_E_NOT_FOUND, "consumer \"%s\" of stream \"%s\" is not in /jsz",
                          consumer, stream);
        goto out;
    }
    json_t *p = json_object_get(c, "num_pending"), *a = json_object_get(c, "num_ack_pending");
    if ((p && !json_is_number(p)) || (a && !json_is_number(a))) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "num_pending or num_ack_pending is not a number");
        goto out;
    }
    double pv = p ? json_number_value(p) : 0, av = a ? json_number_value(a) : 0;
    if (pv < 0 || av < 0 || pv > 9e15 || av > 9e15 || pv != (double)(int64_t)pv ||
        av != (double)(int64_t)av) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "num_pending or num_ack_pending is out of range");
        goto out;
    }
    out->pending = (int64_t)pv;
    out->ack_pending = (int64_t)av;
    out->waiting = (int64_t)json_number_value(json_object_get(c, "num_waiting"));
    if (out->pending < 0 || out->ack_pending < 0) {
        rc = meme_err_set(err, MEME_E_BAD_JSON, "negative num_pending or num_ack_pending");
        goto out;
    }
    out->lag = out->pending + out->ack_pending;
out:
    json_decref(root);
    return rc;
}

char *jsz_url(const char *hostport, const char *account)
{
    /* "$" is not special in a query; KEDA sends the account as it is */
    return xasprintf("http://%s/jsz?acc=%s&consumers=true&config=true", hostport, account);
}

/* The part of libcurl's API used here, resolved from libcurl.so.4. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    bool ok;
    char why[256];
} cu;

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

static void cu_load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(cu.why, sizeof(cu.why), "cannot load libcurl.so.4: %s", dlerror());
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_global_init", (void **)&cu.global_init},
        {"curl_easy_init", (void **)&cu.easy_init},
        {"curl_easy_setopt", (void **)&cu.easy_setopt},
        {"curl_easy_perform", (void **)&cu.easy_perform},
        {"curl_easy_getinfo", (void **)&cu.easy_getinfo},
        {"curl_easy_cleanup", (void **)&cu.easy_cleanup},
        {"curl_easy_strerror", (void **)&cu.easy_strerror},
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(cu.why, sizeof(cu.why), "libcurl.so.4 has no \"%s\"", syms[i].name);
            return;
        }
        memcpy(syms[i].slot, &p, sizeof(p));
    }
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(cu.why, sizeof(cu.why), "libcurl failed to initialise");
        return;
    }
    cu.ok = true;
}

#define JSZ_MAX_BYTES (16u << 20)

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    if (b->len + size * n > JSZ_MAX_BYTES)
        return 0; /* too large: curl reports a write error */
    buf_append(b, p, size * n);
    return size * n;
}

int jsz_get(const char *url, const char *account, const char *stream, const char *consumer,
            int timeout_ms, struct jsz_consumer *out, struct meme_err *err)
{
    pthread_once(&cu_once, cu_load);
    if (!cu.ok)
        return meme_err_set(err, MEME_E_INTERNAL, "%s", cu.why);
    CURL *h = cu.easy_init();
    if (!h)
        return meme_err_set(err, MEME_E_INTERNAL, "libcurl: cannot make a handle");
    struct buf b = BUF_INIT;
    cu.easy_setopt(h, CURLOPT_URL, url);
    cu.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    cu.easy_setopt(h, CURLOPT_WRITEDATA, &b);
    cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode cc = cu.easy_perform(h);
    long status = 0;
    cu.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    int rc;
    if (cc == CURLE_COULDNT_CONNECT)
        rc = meme_err_set(err, MEME_E_UNREACHABLE, "nothing answers at %s", url);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        rc = meme_err_set(err, MEME_E_TIMEOUT, "%s did not answer within %d ms", url, timeout_ms);
    else if (cc != CURLE_OK)
        rc = meme_err_set(err, MEME_E_IO, "GET %s: %s", url, cu.easy_strerror(cc));
    else if (status != 200)
        rc = meme_err_set(err, MEME_E_IO, "GET %s: HTTP status %ld", url, status);
    else
        rc = jsz_parse((const char *)b.data, b.len, account, stream, consumer, out, err);
    cu.easy_cleanup(h);
    buf_release(&b);
    return rc;
}
