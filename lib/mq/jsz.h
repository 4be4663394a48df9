/*
 * The NATS server's JetStream monitoring endpoint, read as KEDA's
 * nats-jetstream scaler reads it: GET /jsz?acc=ACCOUNT&consumers=true&config=true
 * on the monitoring port, then the consumer's num_pending and
 * num_ack_pending. libcurl is loaded at run time (as lib/kube does), so the
 * commands that never poll pay nothing for it.
 */
#ifndef MEME_JSZ_H
#define MEME_JSZ_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct jsz_consumer {
    int64_t pending;     /* num_pending */
    int64_t ack_pending; /* num_ack_pending */
    int64_t waiting;     /* num_waiting */
    int64_t lag;         /* pending + ack_pending: what KEDA scales on */
};

/* The consumer's figures from a /jsz answer. MEME_E_NOT_FOUND when the
 * account, stream or consumer is not in it; MEME_E_BAD_JSON when the answer
 * is not /jsz's JSON. */
int jsz_parse(const char *json, size_t len, const char *account, const char *stream,
              const char *consumer, struct jsz_consumer *out, struct meme_err *err);
/* The URL KEDA asks: http://HOST:PORT/jsz?acc=ACCOUNT&consumers=true&config=true
 * (a new string). */
char *jsz_url(const char *hostport, const char *account);
/* GETs url (timeout_ms) and parses it. MEME_E_UNREACHABLE when nothing
 * answers, MEME_E_IO for an HTTP error. */
int jsz_get(const char *url, const char *account, const char *stream, const char *consumer,
            int timeout_ms, struct jsz_consumer *out, struct meme_err *err);

#endif
