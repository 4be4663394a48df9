/*
 * The gateway's Prometheus metrics, through lib/metrics: requests by route
 * and status code, a latency histogram per route, requests in flight,
 * whether NATS is connected, and the process's CPU and memory (what the HPA
 * scales on, seen from inside). Routes are a fixed set of labels, so an
 * attacker cannot grow the registry with made-up paths.
 */
#include "buf.h"
#include "gateway.h"
#include "metrics.h"

#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

/* Seconds: a cached page (~0.1 ms) up to a 1024-pixel PNG behind a queue. */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                0.25,   0.5,   1,      2.5,   5,    10,    30,   60};

static const char *const route_names[GW_ROUTE_COUNT] = {
    [GW_ROUTE_PAGE] = "/",
    [GW_ROUTE_MEMES] = "/api/v1/memes",
    [GW_ROUTE_MEME_BY_ID] = "/api/v1/memes/{id}",
    [GW_ROUTE_MEME_STATUS] = "/api/v1/memes/{id}/status",
    [GW_ROUTE_HEALTHZ] = "/healthz",
    [GW_ROUTE_READYZ] = "/readyz",
    [GW_ROUTE_METRICS] = "/metrics",
    [GW_ROUTE_API_HEALTH] = "/api/health",
    [GW_ROUTE_EVENTS] = "/api/v1/events",
    [GW_ROUTE_TEMPLATES] = "/api/v1/templates",
    [GW_ROUTE_PERMALINK] = "/m/{id}",
    [GW_ROUTE_STATIC] = "/static/{file}",
    [GW_ROUTE_OTHER] = "other",
};

static struct metrics *reg;
static struct metric_family *requests, *duration, *in_flight, *nats_up, *build_info, *refused,
    *reading;

const char *gateway_route_name(enum gw_route route)
{
    return route >= 0 && route < GW_ROUTE_COUNT ? route_names[route] : "other";
}

void gateway_metrics_init(void)
{
    reg = metrics_new();
    build_info = metrics_gauge(reg, "meme_gateway_build_info",
                               "Version of the running meme-gateway (always 1).", "version");
    requests = metrics_counter(reg, "meme_gateway_http_requests_total",
                               "HTTP requests answered, by route and status code.", "route,code");
    duration = metrics_histogram(reg, "meme_gateway_http_request_duration_seconds",
                                 "Time from the request line to the end of the response, by "
                                 "route.",
                                 "route", bounds, sizeof(bounds) / sizeof(bounds[0]));
    in_flight = metrics_gauge(reg, "meme_gateway_http_requests_in_flight",
                              "Requests being answered now.", NULL);
    nats_up = metrics_gauge(reg, "meme_gateway_nats_connected", "1 while connected to NATS.", NULL);
    refused =
        metrics_counter(reg, "meme_gateway_http_connections_refused_total",
                        "Connections answered or dropped before a handler saw them: "
                        "header_timeout, body_timeout, bad_request, too_large, limit, evicted.",
                        "reason");
    reading = metrics_gauge(reg, "meme_gateway_http_connections_reading",
                            "Connections whose request head is still arriving.", NULL);
    const char *v[] = {MEME_VERSION};
    metrics_set(build_info, v, 1);
    /* The routes the HPA demo drives exist from the start, so rate() sees
     * their first increment. */
    const char *page[] = {route_names[GW_ROUTE_PAGE], "200"};
    const char *memes[] = {route_names[GW_ROUTE_MEMES], "200"};
    metrics_add(requests, page, 0);
    metrics_add(requests, memes, 0);
}

void gateway_metrics_free(void)
{
    metrics_free(reg);
    reg = NULL;
}

void gateway_metrics_observe(enum gw_route route, int status, double seconds)
{
    char code[16];
    snprintf(code, sizeof(code), "%d", status);
    const char *rc[] = {gateway_route_name(route), code};
    const char *r[] = {gateway_route_name(route)};
    metrics_add(requests, rc, 1);
    metrics_observe(duration, r, seconds < 0 ? 0 : seconds);
}

void gateway_metrics_refused(const char *reason)
{
    const char *r[] = {reason};
    metrics_add(refused, r, 1);
}

void gateway_metrics_reading(int n)
{
    metrics_set(reading, NULL, n);
}

/* The process's own CPU and memory, in the names every exporter uses. */
static void process_metrics(const struct gateway *gw, struct buf *out)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0) {
        double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                     (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        buf_printf(out,
                   "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                   "seconds.\n# TYPE process_cpu_seconds_total counter\n"
                   "process_cpu_seconds_total %.6f\n",
                   cpu);
    }
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) == 2)
            buf_printf(out,
                       "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                       "# TYPE process_resident_memory_bytes gauge\n"
                       "process_resident_memory_bytes %lu\n",
                       resident * (unsigned long)sysconf(_SC_PAGESIZE));
        fclose(f);
    }
    buf_printf(out,
               "# HELP process_start_time_seconds Start time of the process since the epoch.\n"
               "# TYPE process_start_time_seconds gauge\n"
               "process_start_time_seconds %lld\n",
               (long long)gw->started_s);
}

void gateway_metrics_render(struct gateway *gw, struct buf *out)
{
    struct mq_conn *mq = atomic_load(&gw->mq);
    int connected = mq && natsConnection_Status(mq->nc) == NATS_CONN_STATUS_CONNECTED;
    metrics_set(nats_up, NULL, connected);
    metrics_set(in_flight, NULL, atomic_load(&gw->in_flight));
    metrics_render(reg, out);
    process_metrics(gw, out);
}
