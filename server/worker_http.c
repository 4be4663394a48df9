/*
 * meme-worker's HTTP endpoints on --http ADDR (libmicrohttpd, its own
 * thread): GET /metrics in the Prometheus text format, /healthz (the
 * process answers and has been able to fetch within --stall-timeout) and
 * /readyz (connected to NATS, the consumer and the results bucket exist,
 * fetching works, not draining). Anything else is 404; methods other than
 * GET and HEAD are 405.
 */
#include "clock.h"
#include "log.h"
#include "worker.h"
#include "xalloc.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

static mhd_result send_text(struct MHD_Connection *conn, unsigned status, const char *type,
                            const void *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    mhd_result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Ready: connected, the consumer (so the stream) and the bucket answer,
 * the last fetch worked, and not draining. */
static bool ready(struct worker *w, char *why, size_t whysz)
{
    pthread_mutex_lock(&w->lock);
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    if (stopping) {
        snprintf(why, whysz, "draining");
        return false;
    }
    if (!atomic_load(&w->started)) {
        snprintf(why, whysz, "starting (waiting for NATS)");
        return false;
    }
    if (natsConnection_Status(w->mq.nc) != NATS_CONN_STATUS_CONNECTED) {
        snprintf(why, whysz, "not connected to NATS");
        return false;
    }
    jsConsumerInfo *ci = NULL;
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = 1000;
    natsStatus s = js_GetConsumerInfo(&ci, w->mq.js, w->cfg.stream, w->cfg.consumer, &o, NULL);
    jsConsumerInfo_Destroy(ci);
    if (s != NATS_OK) {
        snprintf(why, whysz, "consumer \"%s\" on stream \"%s\" does not answer: %s",
                 w->cfg.consumer, w->cfg.stream, natsStatus_GetText(s));
        return false;
    }
    if (w->results) {
        jsStreamInfo *si = NULL;
        s = js_GetStreamInfo(&si, w->mq.js, "KV_" PROTO_RESULTS_BUCKET, &o, NULL);
        jsStreamInfo_Destroy(si);
        if (s != NATS_OK) {
            snprintf(why, whysz, "results bucket \"%s\" does not answer: %s", PROTO_RESULTS_BUCKET,
                     natsStatus_GetText(s));
            return false;
        }
    }
    if (atomic_load(&w->fetch_failing_since)) {
        snprintf(why, whysz, "fetching from consumer \"%s\" fails", w->cfg.consumer);
        return false;
    }
    return true;
}

/* Alive: the process answers, and it has been able to fetch (or had no free
 * slot to fetch for) within --stall-timeout. */
static bool alive(struct worker *w, char *why, size_t whysz)
{
    int64_t since = atomic_load(&w->fetch_failing_since);
    double for_ms = since ? clock_now_ms() - (double)since : 0;
    if (for_ms <= w->cfg.stall_timeout_ms)
        return true;
    snprintf(why, whysz, "no working fetch for %.0f s (--stall-timeout %d s)%s", for_ms / 1000,
             w->cfg.stall_timeout_ms / 1000,
             atomic_load(&w->started) ? "" : "; still waiting for NATS");
    return false;
}

static mhd_result handle(void *cls, struct MHD_Connection *conn, const char *url,
                         const char *method, const char *version, const char *upload_data,
                         size_t *upload_data_size, void **con_cls)
{
    struct worker *w = cls;
    (void)version;
    (void)upload_data;
    (void)upload_data_size;
    (void)con_cls;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", "method not allowed\n",
                         19);
    if (strcmp(url, "/metrics") == 0) {
        struct buf b = BUF_INIT;
        pthread_mutex_lock(&w->lock);
        metrics_set(w->m.in_flight, NULL, w->busy + w->qlen);
        pthread_mutex_unlock(&w->lock);
        metrics_set(w->m.nats_up, NULL,
                    atomic_load(&w->started) &&
                        natsConnection_Status(w->mq.nc) == NATS_CONN_STATUS_CONNECTED);
        metrics_render(w->m.reg, &b);
        mhd_result r = send_text(conn, MHD_HTTP_OK, METRICS_CONTENT_TYPE,
                                 b.data ? (const void *)b.data : (const void *)"", b.len);
        buf_release(&b);
        return r;
    }
    if (strcmp(url, "/healthz") == 0) {
        char why[200], body[260];
        if (alive(w, why, sizeof(why)))
            return send_text(conn, MHD_HTTP_OK, "text/plain", "ok\n", 3);
        int n = snprintf(body, sizeof(body), "unhealthy: %s\n", why);
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body, (size_t)n);
    }
    if (strcmp(url, "/readyz") == 0) {
        char why[256], body[300];
        if (ready(w, why, sizeof(why)))
            return send_text(conn, MHD_HTTP_OK, "text/plain", "ready\n", 6);
        int n = snprintf(body, sizeof(body), "not ready: %s\n", why);
        return send_text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain", body, (size_t)n);
    }
    return send_text(conn, MHD_HTTP_NOT_FOUND, "text/plain",
                     "not found (try /metrics, /healthz or /readyz)\n", 46);
}

/* Parses [HOST:]PORT ("9090", ":9090", "0.0.0.0:9090", "[::1]:9090"). */
static int parse_addr(const char *addr, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256] = "";
    const char *port = addr;
    const char *colon = strrchr(addr, ':');
    if (colon) {
        size_t hl = (size_t)(colon - addr);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, addr, hl);
        host[hl] = '\0';
        port = colon + 1;
        if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
            memmove(host, host + 1, hl - 2);
            host[hl - 2] = '\0';
        }
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 0 || p > 65535)
        return -1;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &res) != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

int worker_http_start(struct worker *w)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    if (parse_addr(w->cfg.http_addr, &ss, &len) < 0) {
        log_error("msg=\"--http must be [HOST:]PORT, not \\\"%s\\\"\"", w->cfg.http_addr);
        return -1;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    w->http = MHD_start_daemon(flags, 0, NULL, NULL, handle, w, MHD_OPTION_SOCK_ADDR,
                               (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)64, MHD_OPTION_END);
    if (!w->http) {
        log_error("msg=\"cannot serve HTTP on %s (port in use?)\"", w->cfg.http_addr);
        return -1;
    }
    log_info("msg=\"serving /metrics /healthz /readyz\" addr=%s", w->cfg.http_addr);
    return 0;
}

void worker_http_stop(struct worker *w)
{
    if (w->http)
        MHD_stop_daemon(w->http);
    w->http = NULL;
}
