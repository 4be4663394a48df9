/*
 * The gateway's side of NATS: one connect attempt at a time (the main loop
 * retries with a backoff), the disconnect and reconnect callbacks, the
 * stream and consumer provisioning (so KEDA can read the lag
 * before any worker has ever run, and again every few seconds, so a fresh
 * NATS server or a deleted stream is repaired without a restart), and
 * the readiness the probes report.
 */
#include "gateway.h"
#include "log.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>

/* nats.c's thread: the connection dropped or came back (perhaps to a fresh
 * server with an empty store: check at once). */
static void on_disconnected(natsConnection *nc, void *arg)
{
    struct gateway *gw = arg;
    atomic_store(&gw->provisioned, false);
    if (!natsConnection_IsClosed(nc)) /* not our own close at exit */
        log_warn("msg=\"disconnected from NATS; reconnecting, answering 503 meanwhile\"");
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    struct gateway *gw = arg;
    char url[256] = "", red[300];
    natsConnection_GetConnectedUrl(nc, url, sizeof(url));
    log_info("msg=\"reconnected to NATS\" url=%s", mq_url_redacted(url, red, sizeof(red)));
    atomic_store(&gw->need_check, true);
}

/* Makes sure the stream and the consumer exist (KEDA reads its lag: it must
 * exist before the first worker), the stream sized to leave the results
 * bucket's share for the worker to take, and says what it had to recreate.
 * The bucket is the worker's: the gateway's NATS user only reads it. */
static void provision(struct gateway *gw, struct mq_conn *mq, bool first)
{
    struct meme_err err = {0};
    struct mq_provision_report r;
    struct mq_provision_opts o = {.stream = gw->cfg.stream,
                                  .consumer = gw->cfg.consumer,
                                  .bucket = NULL, /* the worker's to make */
                                  .ack_wait_ms = PROTO_ACK_WAIT_MS,
                                  .max_value = natsConnection_GetMaxPayload(mq->nc)};
    if (mq_provision(mq, &o, &r, &err) < 0) {
        if (atomic_exchange(&gw->provisioned, false) || first)
            log_warn("msg=\"cannot provision the stream; answering 503 until it is there\" "
                     "error=\"%s\"",
                     err.msg);
        return;
    }
    if (r.made_stream || r.made_consumer)
        log_msg(first ? LOG_INFO : LOG_WARN,
                "msg=\"%s\" stream=%s%s consumer=%s%s queue_max_bytes=%lld",
                first ? "created what protocol v1 needs"
                      : "recreated what was missing (a fresh NATS server, or deleted)",
                gw->cfg.stream, r.made_stream ? "(new)" : "", gw->cfg.consumer,
                r.made_consumer ? "(new)" : "", (long long)r.budget.queue_bytes);
    if (!atomic_exchange(&gw->provisioned, true) && !first)
        log_info("msg=\"stream and consumer are there again; taking memes\"");
}

bool gateway_ready(struct gateway *gw, char *why, size_t whysz)
{
    struct mq_conn *mq = atomic_load(&gw->mq);
    if (atomic_load(&gw->stopping))
        snprintf(why, whysz, "stopping");
    else if (!mq || natsConnection_Status(mq->nc) != NATS_CONN_STATUS_CONNECTED)
        snprintf(why, whysz, "nats disconnected");
    else if (!atomic_load(&gw->provisioned))
        snprintf(why, whysz, "stream \"%s\" or consumer \"%s\" is missing (being recreated)",
                 gw->cfg.stream, gw->cfg.consumer);
    else
        return true;
    return false;
}

bool gateway_nats_connect(struct gateway *gw, bool *warned)
{
    struct meme_err err = {0};
    char red[512];
    mq_url_redacted(gw->cfg.nats_url, red, sizeof(red));
    struct mq_conn *mq = xcalloc(1, sizeof(*mq));
    struct mq_connect_opts o = {.url = gw->cfg.nats_url,
                                .name = gw->cfg.id,
                                .reconnect = true,
                                .user = gw->cfg.nats_user,
                                .password = gw->cfg.nats_password,
                                .creds_file = gw->cfg.nats_creds,
                                .disconnected = on_disconnected,
                                .reconnected = on_reconnected,
                                .handler_arg = gw};
    if (mq_connect(mq, &o, &err) < 0) {
        mq_close(mq);
        free(mq);
        if (!*warned)
            log_warn("msg=\"waiting for NATS; answering 503 until it is there\" error=\"%s\"",
                     err.msg);
        *warned = true;
        return false;
    }
    provision(gw, mq, true);
    atomic_store(&gw->mq, mq);
    log_info("msg=\"connected to NATS\" nats=%s stream=%s consumer=%s max_payload=%lld", red,
             gw->cfg.stream, gw->cfg.consumer, (long long)natsConnection_GetMaxPayload(mq->nc));
    return true;
}

void gateway_nats_check(struct gateway *gw, struct mq_conn *mq)
{
    if (natsConnection_Status(mq->nc) == NATS_CONN_STATUS_CONNECTED)
        provision(gw, mq, false);
}
