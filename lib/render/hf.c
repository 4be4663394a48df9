/*
 * Hugging Face Inference API client over libcurl (see hf.h). One easy
 * handle per client, reused across calls so TLS sessions and connections
 * are kept. The retry policy is a loop of attempts inside one deadline;
 * every wait is sliced into 100 ms steps so the caller can send JetStream
 * in-progress acks and cancel.
 */
#include "clock.h"
#include "render/hf.h"
#include "buf.h"
#include "render/image.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct hf_client {
    CURL *curl;
    char *base_url;
    char *auth; /* "Authorization: Bearer ..." */
    struct hf_opts opts;
};

void hf_global_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void hf_global_cleanup(void)
{
    curl_global_cleanup();
}

struct hf_client *hf_client_new(const struct hf_opts *opts, struct meme_err *err)
{
    if (!opts || !opts->token || !*opts->token) {
        meme_err_set(err, MEME_E_BAD_REQUEST, "the Hugging Face engine needs a token");
        return NULL;
    }
    const char *base = opts->base_url && *opts->base_url ? opts->base_url : HF_DEFAULT_URL;
    if (strncmp(base, "https://", 8) != 0 && strncmp(base, "http://", 7) != 0) {
        meme_err_set(err, MEME_E_BAD_REQUEST,
                     "the Hugging Face URL must start with https:// or http://");
        return NULL;
    }
    struct hf_client *c = xcalloc(1, sizeof(*c));
    c->opts = *opts;
    c->opts.token = NULL;
    if (c->opts.deadline_ms <= 0)
        c->opts.deadline_ms = 120000;
    if (c->opts.attempt_ms <= 0)
        c->opts.attempt_ms = 60000;
    if (c->opts.max_attempts <= 0)
        c->opts.max_attempts = 6;
    if (c->opts.max_wait_ms <= 0)
        c->opts.max_wait_ms = 30000;
    if (c->opts.backoff_ms <= 0)
        c->opts.backoff_ms = 500;
    if (c->opts.unreachable_ms <= 0)
        c->opts.unreachable_ms = 3000;
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/')
        n--;
    c->base_url = xstrndup(base, n);
    c->opts.base_url = c->base_url;
    c->auth = xasprintf("Authorization: Bearer %s", opts->token);
    c->curl = curl_easy_init();
    if (!c->curl) {
        meme_err_set(err, MEME_E_INTERNAL, "cannot initialise libcurl");
        hf_client_free(c);
        return NULL;
    }
    return c;
}

void hf_client_free(struct hf_client *c)
{
    if (!c)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->auth) {
        /* The token leaves no copy behind in freed memory. */
        memset(c->auth, 0, strlen(c->auth));
        free(c->auth);
    }
    free(c->base_url);
    free(c);
}

struct xfer {
    struct buf body;
    bool too_big;
    hf_progress_fn progress;
    void *arg;
    bool cancelled;
    double next_progress;
    long retry_after_s; /* from the Retry-After header, -1 when absent */
    char location[128]; /* from a Location header, cut short */
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (x->body.len + len > HF_MAX_BODY) {
        x->too_big = true;
        return 0;
    }
    buf_append(&x->body, p, len);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct xfer *x = arg;
    size_t len = size * n;
    if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[32];
        snprintf(v, sizeof(v), "%.*s", (int)(len - 12 < 31 ? len - 12 : 31), p + 12);
        char *end;
        long s = strtol(v, &end, 10);
        /* Seconds only; an HTTP date counts as absent (a default wait applies). */
        if (end != v && s >= 0)
            x->retry_after_s = s;
    } else if (len > 9 && strncasecmp(p, "Location:", 9) == 0) {
        size_t left = len - 9, o = 0;
        const char *v = p + 9;
        while (left && (*v == ' ' || *v == '\t'))
            v++, left--;
        /* Printable ASCII only, cut short: it goes into a message. */
        for (; left && o + 1 < sizeof(x->location); v++, left--)
            if (*v > 0x20 && *v < 0x7f)
                x->location[o++] = *v;
        x->location[o] = '\0';
    }
    return len;
}

static int on_progress(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    struct xfer *x = arg;
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    double now = clock_now_ms();
    if (x->progress && now >= x->next_progress) {
        x->next_progress = now + 100;
        if (!x->progress(x->arg)) {
            x->cancelled = true;
            return 1;
        }
    }
    return 0;
}

/* Waits ms in 100 ms slices; false when progress asked to stop. */
static bool wait_ms(int ms, hf_progress_fn progress, void *arg)
{
    double end = clock_now_ms() + ms;
    for (;;) {
        if (progress && !progress(arg))
            return false;
        double left = end - clock_now_ms();
        if (left <= 0)
            return true;
        int step = left > 100 ? 100 : (int)left;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static char *request_json(const struct hf_request *req)
{
    json_t *o = json_object();
    json_object_set_new(o, "inputs", json_string(req->prompt ? req->prompt : ""));
    json_t *p = json_object();
    if (req->width > 0)
        json_object_set_new(p, "width", json_integer(req->width));
    if (req->height > 0)
        json_object_set_new(p, "height", json_integer(req->height));
    if (req->has_seed)
        json_object_set_new(p, "seed",
                            json_integer((json_int_t)(req->seed & 0x7fffffffffffffffULL)));
    json_object_set_new(o, "parameters", p);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!s) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return s;
}

/* s into out, with every occurrence of secret (when not empty) as "***". */
static void copy_redacted(char *out, size_t outsz, const char *s, const char *secret)
{
    size_t sl = secret ? strlen(secret) : 0, o = 0;
    while (*s && o + 1 < outsz) {
        if (sl && strncmp(s, secret, sl) == 0) {
            for (const char *r = "***"; *r && o + 1 < outsz; r++)
                out[o++] = *r;
            s += sl;
        } else {
            out[o++] = *s++;
        }
    }
    out[o] = '\0';
}

/* The API's error text ({"error":"..."}), cut short and printable, in out;
 * a server (or a proxy) that quotes the token back does not get it into a
 * message. */
static void api_error(const struct buf *b, const char *token, char *out, size_t outsz,
                      double *estimated_s)
{
    out[0] = '\0';
    *estimated_s = -1;
    json_error_t je;
    json_t *o = b->len ? json_loadb((const char *)b->data, b->len, 0, &je) : NULL;
    const char *e = json_string_value(json_object_get(o, "error"));
    json_t *est = json_object_get(o, "estimated_time");
    if (json_is_number(est))
        *estimated_s = json_number_value(est);
    copy_redacted(out, outsz, e ? e : "", token);
    for (char *p = out; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    if (strlen(out) > 120)
        memcpy(out + 117, "...", 4);
    json_decref(o);
}

int hf_generate(struct hf_client *c, const struct hf_request *req, hf_progress_fn progress,
                void *arg, uint8_t **out, size_t *len, struct hf_stats *stats, struct meme_err *err)
{
    struct hf_stats st = {0};
    struct curl_slist *headers = NULL;
    char *url = xasprintf("%s/models/%s", c->base_url, req->model);
    char *body = request_json(req);
    int budget = c->opts.deadline_ms;
    if (req->deadline_ms > 0 && req->deadline_ms < budget)
        budget = req->deadline_ms;
    double deadline = clock_now_ms() + budget;
    double unreachable_until = 0; /* set at the first failed connection */
    int backoff = c->opts.backoff_ms;
    int rc = 0;
    char last[256] = "no attempt was made";
    int last_code = MEME_E_TIMEOUT;

    *out = NULL;
    *len = 0;
    headers = curl_slist_append(headers, c->auth);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    headers = curl_slist_append(headers, "Accept: image/png, image/jpeg");

    while (st.attempts < c->opts.max_attempts) {
        double left = deadline - clock_now_ms();
        if (left < 50)
            break;
        struct xfer x = {.progress = progress, .arg = arg, .retry_after_s = -1};
        CURL *h = c->curl;
        curl_easy_reset(h);
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &x);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &x);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
        long t = (long)(left < c->opts.attempt_ms ? left : c->opts.attempt_ms);
        curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, t);
        curl_easy_setopt(h, CURLOPT_USERAGENT, "meme-worker/" MEME_VERSION);
        /* Redirects could carry the bearer token to another host: none. */
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");

        st.attempts++;
        CURLcode cc = curl_easy_perform(h);
        long status = 0;
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        st.last_status = (int)status;
        int wait = 0;
        if (x.cancelled) {
            rc = meme_err_set(err, MEME_E_SHUTTING_DOWN,
                              "gave up on Hugging Face model \"%s\": the worker is stopping",
                              req->model);
            buf_release(&x.body);
            goto out;
        }
        if (x.too_big) {
            snprintf(last, sizeof(last), "the response was larger than %d bytes", HF_MAX_BODY);
            last_code = MEME_E_RENDER;
            wait = backoff;
            backoff *= 2;
        } else if (cc == CURLE_OPERATION_TIMEDOUT) {
            snprintf(last, sizeof(last), "no answer within %ld ms", t);
            last_code = MEME_E_TIMEOUT;
            wait = backoff;
            backoff *= 2;
        } else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
                   cc == CURLE_COULDNT_RESOLVE_PROXY) {
            /* Nothing answers at that address: worth a few quick tries (a
             * restart, a DNS blip), not the whole deadline. */
            snprintf(last, sizeof(last), "%s", curl_easy_strerror(cc));
            last_code = MEME_E_UNREACHABLE;
            if (!unreachable_until)
                unreachable_until = clock_now_ms() + c->opts.unreachable_ms;
            wait = backoff;
            backoff *= 2;
            if (clock_now_ms() + wait >= unreachable_until) {
                rc = meme_err_set(err, MEME_E_UNREACHABLE,
                                  "cannot reach Hugging Face at %s: %s (%d attempt(s) in %.1f s)",
                                  c->base_url, last, st.attempts,
                                  (budget - (deadline - clock_now_ms())) / 1000.0);
                buf_release(&x.body);
                goto out;
            }
        } else if (cc != CURLE_OK) {
            snprintf(last, sizeof(last), "%s", curl_easy_strerror(cc));
            last_code = MEME_E_RENDER;
            wait = backoff;
            backoff *= 2;
        } else if (status >= 300 && status < 400) {
            /* Not followed: a redirect could take the bearer token to another host. */
            rc = meme_err_set(err, MEME_E_REFUSED,
                              "Hugging Face model \"%s\" answered HTTP %ld, a redirect%s%s, which "
                              "is not followed (check HF_API_URL)",
                              req->model, status, x.location[0] ? " to " : "", x.location);
            buf_release(&x.body);
            goto out;
        } else if (status == 200) {
            if (image_sniff(x.body.data, x.body.len) >= 0) {
                *len = x.body.len;
                *out = buf_detach(&x.body, NULL);
                rc = 0;
                goto out;
            }
            snprintf(last, sizeof(last), "HTTP 200 with %zu bytes that are not a PNG or JPEG image",
                     x.body.len);
            last_code = MEME_E_RENDER;
            wait = backoff;
            backoff *= 2;
        } else {
            char msg[160];
            double est;
            api_error(&x.body, c->auth + strlen("Authorization: Bearer "), msg, sizeof(msg), &est);
            snprintf(last, sizeof(last), "HTTP %ld%s%s", status, msg[0] ? ": " : "", msg);
            if (status == 503) {
                /* Loading: the API says how long it expects to take. */
                wait = est > 0 ? (int)(est * 1000) : backoff;
                if (est <= 0)
                    backoff *= 2;
                last_code = MEME_E_RENDER;
            } else if (status == 429 || status == 408) {
                wait = x.retry_after_s >= 0 ? (int)x.retry_after_s * 1000 : backoff;
                if (x.retry_after_s < 0)
                    backoff *= 2;
                last_code = MEME_E_RENDER;
            } else if (status >= 500) {
                wait = backoff;
                backoff *= 2;
                last_code = MEME_E_RENDER;
            } else if (status == 400 || status == 422) {
                rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                                  "Hugging Face model \"%s\" refused the request: %s", req->model,
                                  last);
                buf_release(&x.body);
                goto out;
            } else if (status >= 400 && status < 500) {
                /* 401, 403, 404 and the rest: trying again cannot help. */
                rc = meme_err_set(
                    err, MEME_E_REFUSED, "Hugging Face model \"%s\" refused the request: %s%s",
                    req->model, last,
                    status == 401 || status == 403 ? " (check the token in HF_API_TOKEN)"
                    : status == 404                ? " (check the model name and HF_API_URL)"
                                                   : "");
                buf_release(&x.body);
                goto out;
            } else {
                /* 1xx or 2xx other than 200: not the API this client speaks. */
                rc = meme_err_set(err, MEME_E_REFUSED,
                                  "Hugging Face model \"%s\" answered %s, not an image", req->model,
                                  last);
                buf_release(&x.body);
                goto out;
            }
        }
        buf_release(&x.body);
        if (wait > c->opts.max_wait_ms)
            wait = c->opts.max_wait_ms;
        if (wait < 0)
            wait = 0;
        left = deadline - clock_now_ms();
        if (st.attempts >= c->opts.max_attempts || wait >= left)
            break;
        if (req->on_retry) {
            struct hf_retry r = {.attempt = st.attempts,
                                 .max_attempts = c->opts.max_attempts,
                                 .wait_ms = wait,
                                 .code = last_code,
                                 .reason = last};
            req->on_retry(arg, &r);
        }
        double w0 = clock_now_ms();
        bool go_on = wait_ms(wait, progress, arg);
        st.waited_ms += (int)(clock_now_ms() - w0);
        if (!go_on) {
            rc = meme_err_set(err, MEME_E_SHUTTING_DOWN,
                              "gave up on Hugging Face model \"%s\": the worker is stopping",
                              req->model);
            goto out;
        }
    }
    rc = meme_err_set(
        err,
        last_code == MEME_E_TIMEOUT || clock_now_ms() >= deadline - 50 ? MEME_E_TIMEOUT : last_code,
        "Hugging Face model \"%s\" gave no image after %d attempt(s) in %.1f s: %s", req->model,
        st.attempts, (budget - (deadline - clock_now_ms())) / 1000.0, last);
out:
    curl_slist_free_all(headers);
    free(url);
    free(body);
    if (stats)
        *stats = st;
    return rc;
}
