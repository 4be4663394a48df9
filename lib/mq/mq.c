/*
 * NATS glue: connection set-up, stream and consumer provisioning, queue
 * depth. Uses nats.c's JetStream API; the stream and consumer settings are
 * those of docs/protocol.md.
 */
#include "mq/mq.h"
#include "mq/results.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *mq_status_text(natsStatus s)
{
    return natsStatus_GetText(s);
}

const char *mq_url_redacted(const char *url, char *out, size_t outsz)
{
    const char *scheme = strstr(url, "://");
    const char *start = scheme ? scheme + 3 : url;
    const char *at = NULL;
    /* Credentials sit before the last '@' of the authority part. */
    for (const char *p = start; *p && *p != '/' && *p != ','; p++)
        if (*p == '@')
            at = p;
    if (!at) {
        snprintf(out, outsz, "%s", url);
        return out;
    }
    snprintf(out, outsz, "%.*s***%s", (int)(start - url), url, at);
    return out;
}

/* Credentials and TLS from o into opts; a file that cannot be used is named. */
static int apply_auth(natsOptions *opts, const struct mq_connect_opts *o, struct meme_err *err)
{
    if (o->user && *o->user && natsOptions_SetUserInfo(opts, o->user, o->password) != NATS_OK)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "cannot use the NATS user name");
    if (o->token && *o->token && natsOptions_SetToken(opts, o->token) != NATS_OK)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "cannot use the NATS token");
    if (o->creds_file && *o->creds_file &&
        natsOptions_SetUserCredentialsFromFiles(opts, o->creds_file, NULL) != NATS_OK)
        return meme_err_set(err, MEME_E_IO, "cannot use NATS credentials file %s", o->creds_file);
    if ((o->nkey && *o->nkey) != (o->nkey_seed_file && *o->nkey_seed_file))
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "an nkey needs both the public key and the seed file");
    if (o->nkey && *o->nkey &&
        natsOptions_SetNKeyFromSeed(opts, o->nkey, o->nkey_seed_file) != NATS_OK)
        return meme_err_set(err, MEME_E_IO, "cannot use nkey seed file %s", o->nkey_seed_file);
    bool tls = (o->tls_ca && *o->tls_ca) || (o->tls_cert && *o->tls_cert);
    if (tls && natsOptions_SetSecure(opts, true) != NATS_OK)
        return meme_err_set(err, MEME_E_INTERNAL, "this nats.c has no TLS support");
    if (o->tls_ca && *o->tls_ca &&
        natsOptions_LoadCATrustedCertificates(opts, o->tls_ca) != NATS_OK)
        return meme_err_set(err, MEME_E_IO, "cannot load CA certificates from %s", o->tls_ca);
    if (o->tls_cert && *o->tls_cert &&
        natsOptions_LoadCertificatesChain(opts, o->tls_cert, o->tls_key) != NATS_OK)
        return meme_err_set(err, MEME_E_IO, "cannot load client certificate %s (key %s)",
                            o->tls_cert, o->tls_key ? o->tls_key : "(none)");
    return 0;
}

int mq_connect(struct mq_conn *c, const struct mq_connect_opts *o, struct meme_err *err)
{
    natsOptions *opts = NULL;
    natsStatus s;
    char red[512];
    int rc = 0;

    memset(c, 0, sizeof(*c));
    snprintf(c->url, sizeof(c->url), "%s", o->url);
    mq_url_redacted(o->url, red, sizeof(red));

    if ((s = natsOptions_Create(&opts)) != NATS_OK)
        goto fail;
    if ((s = natsOptions_SetURL(opts, o->url)) != NATS_OK) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST, "invalid NATS URL \"%s\": %s", red,
                          natsStatus_GetText(s));
        goto out;
    }
    natsOptions_SetName(opts, o->name ? o->name : "memectl");
    /* Without this every publish, ack and reply waits ~1 ms for the flusher. */
    natsOptions_SetSendAsap(opts, true);
    natsOptions_SetTimeout(opts, o->timeout_ms > 0 ? o->timeout_ms : 2000);
    if (o->reconnect) {
        natsOptions_SetMaxReconnect(opts, -1);
        natsOptions_SetReconnectWait(opts, 500);
        natsOptions_SetReconnectBufSize(opts, 16 * 1024 * 1024);
    } else {
        natsOptions_SetMaxReconnect(opts, 5);
        natsOptions_SetReconnectWait(opts, 200);
    }
    if ((rc = apply_auth(opts, o, err)) < 0)
        goto out;
    if (o->disconnected)
        natsOptions_SetDisconnectedCB(opts, o->disconnected, o->handler_arg);
    if (o->reconnected)
        natsOptions_SetReconnectedCB(opts, o->reconnected, o->handler_arg);
    s = natsConnection_Connect(&c->nc, opts);
    if (s == NATS_NOT_PERMITTED || s == NATS_CONNECTION_AUTH_FAILED) {
        rc = meme_err_set(err, MEME_E_NATS,
                          "NATS at %s refused the credentials (check the user, token, "
                          "creds or nkey settings; `memectl config view` shows what is used)",
                          red);
        goto out;
    }
    if (s == NATS_SSL_ERROR) {
        rc = meme_err_set(err, MEME_E_NATS, "TLS with NATS at %s failed: %s", red,
                          nats_GetLastError(NULL));
        goto out;
    }
    if (s == NATS_NO_SERVER || s == NATS_TIMEOUT || s == NATS_IO_ERROR) {
        rc = meme_err_set(err, MEME_E_UNREACHABLE,
                          "cannot reach NATS at %s: %s (is the stack running? try `memectl up`)",
                          red,
                          s == NATS_NO_SERVER ? "no server is listening" : natsStatus_GetText(s));
        goto out;
    }
    if (s != NATS_OK)
        goto fail;
    if ((s = natsConnection_JetStream(&c->js, c->nc, NULL)) != NATS_OK)
        goto fail;
    goto out;
fail:
    rc = meme_err_set(err, MEME_E_NATS, "cannot connect to NATS at %s: %s", red,
                      natsStatus_GetText(s));
out:
    natsOptions_Destroy(opts);
    return rc;
}

void mq_close(struct mq_conn *c)
{
    if (!c)
        return;
    jsCtx_Destroy(c->js);
    if (c->nc) {
        natsConnection_Close(c->nc);
        natsConnection_Destroy(c->nc);
    }
    c->js = NULL;
    c->nc = NULL;
}

static const char *const v1_subjects[] = {"meme.request", "meme.request.>"};

static bool has_subject(jsStreamConfig *cfg, const char *subj)
{
    for (int i = 0; i < cfg->SubjectsLen; i++)
        if (strcmp(cfg->Subjects[i], subj) == 0)
            return true;
    return false;
}

/* Adds the v1 subjects an existing stream (say, the original design's, which
 * captured only meme.request.>) lacks, so a plain `nats pub meme.request` is
 * stored. */
static int add_missing_subjects(struct mq_conn *c, jsStreamInfo *si, struct meme_err *err)
{
    jsStreamConfig *cfg = si->Config;
    int n = cfg->SubjectsLen, want = 0;
    for (size_t i = 0; i < 2; i++)
        want += !has_subject(cfg, v1_subjects[i]);
    if (!want)
        return 0;
    /* The original's wildcard already covers the other; ask for what is missing. */
    const char **subs = xcalloc((size_t)(n + want), sizeof(*subs));
    for (int i = 0; i < n; i++)
        subs[i] = cfg->Subjects[i];
    for (size_t i = 0; i < 2; i++)
        if (!has_subject(cfg, v1_subjects[i]))
            subs[n++] = v1_subjects[i];
    const char **old = cfg->Subjects;
    int old_len = cfg->SubjectsLen;
    cfg->Subjects = subs;
    cfg->SubjectsLen = n;
    jsErrCode jerr = 0;
    jsStreamInfo *updated = NULL;
    natsStatus s = js_UpdateStream(&updated, c->js, cfg, NULL, &jerr);
    cfg->Subjects = old;
    cfg->SubjectsLen = old_len;
    free(subs);
    jsStreamInfo_Destroy(updated);
    if (s != NATS_OK)
        return meme_err_set(err, MEME_E_NATS,
                            "stream \"%s\" does not capture meme.request and could not be "
                            "updated: %s (error %d)",
                            cfg->Name, nats_GetLastError(NULL), (int)jerr);
    return 0;
}

void mq_budget_for(int64_t store, struct mq_budget *b)
{
    if (store < MQ_STORE_MIN)
        store = MQ_STORE_MIN;
    b->store = store;
    b->queue_bytes = store / 8 < MQ_QUEUE_BYTES_MAX ? store / 8 : MQ_QUEUE_BYTES_MAX;
    b->queue_msgs = MQ_QUEUE_MSGS_MAX;
    b->results_bytes = store / 8 * 5;
}

static const char *js_reason(natsStatus s, jsErrCode jerr)
{
    return jerr == 0 && s == NATS_NO_RESPONDERS
               ? "JetStream is not enabled on this server (start it with -js)"
               : nats_GetLastError(NULL);
}

/* As mq_ensure_stream_sized(); with reserve_pair, a new stream is first made
 * with the queue's and the results' shares together and then given the
 * queue's: a process that provisions the queue alone (the gateway) never
 * takes the room the results bucket will need. */
static int ensure_stream(struct mq_conn *c, const char *stream, const struct mq_budget *b,
                         bool reserve_pair, bool *made, struct meme_err *err)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    int rc = 0;
    if (made)
        *made = false;
    natsStatus s = js_GetStreamInfo(&si, c->js, stream, NULL, &jerr);

    if (s == NATS_OK) {
        jsStreamConfig *cfg = si->Config;
        if (cfg->Retention != js_WorkQueuePolicy) {
            rc = meme_err_set(err, MEME_E_NATS,
                              "stream \"%s\" exists but is not a work queue; delete it or "
                              "point the worker at another stream",
                              stream);
            goto out;
        }
        if ((rc = add_missing_subjects(c, si, err)) < 0)
            goto out;
        /* A queue without limits (an older worker's, the original design's)
         * would fill the store until nothing else can be written: give it
         * v1's. An operator's own limits stay; new work is refused, never
         * queued work dropped. */
        if (cfg->Discard != js_DiscardNew || cfg->MaxBytes <= 0 || cfg->MaxMsgs <= 0) {
            jsStreamInfo_Destroy(si);
            si = NULL;
            if ((s = js_GetStreamInfo(&si, c->js, stream, NULL, &jerr)) != NATS_OK)
                goto lookup_failed;
            cfg = si->Config;
            cfg->Discard = js_DiscardNew;
            if (cfg->MaxBytes <= 0)
                cfg->MaxBytes = b->queue_bytes;
            if (cfg->MaxMsgs <= 0)
                cfg->MaxMsgs = b->queue_msgs;
            jsStreamInfo *up = NULL;
            jerr = 0;
            s = js_UpdateStream(&up, c->js, cfg, NULL, &jerr);
            jsStreamInfo_Destroy(up);
            if (s != NATS_OK && jerr == JSStorageResourcesExceededErr)
                rc = MQ_NO_ROOM;
            else if (s != NATS_OK)
                rc = meme_err_set(err, MEME_E_NATS, "cannot give stream \"%s\" its limits: %s",
                                  stream, js_reason(s, jerr));
        }
        goto out;
    }
lookup_failed:
    if (s != NATS_NOT_FOUND) {
        rc = meme_err_set(err, MEME_E_NATS, "cannot look up stream \"%s\": %s", stream,
                          js_reason(s, jerr));
        goto out;
    }

    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    cfg.Name = stream;
    cfg.Subjects = (const char **)v1_subjects;
    cfg.SubjectsLen = 2;
    cfg.Retention = js_WorkQueuePolicy;
    cfg.Storage = js_FileStorage;
    cfg.Duplicates = (int64_t)120 * 1000 * 1000 * 1000; /* Nats-Msg-Id window: 2 min */
    cfg.MaxMsgSize = 256 * 1024;
    /* Full means full: a publisher is told (queue_full), nothing queued is lost. */
    cfg.Discard = js_DiscardNew;
    cfg.MaxBytes = reserve_pair ? b->queue_bytes + b->results_bytes : b->queue_bytes;
    cfg.MaxMsgs = b->queue_msgs;
    jerr = 0;
    s = js_AddStream(NULL, c->js, &cfg, NULL, &jerr);
    if (s == NATS_OK && reserve_pair) {
        cfg.MaxBytes = b->queue_bytes;
        jsStreamInfo *up = NULL;
        s = js_UpdateStream(&up, c->js, &cfg, NULL, &jerr);
        jsStreamInfo_Destroy(up);
    }
    if (s == NATS_OK && made)
        *made = true;
    else if (s != NATS_OK && jerr == JSStorageResourcesExceededErr)
        rc = MQ_NO_ROOM;
    else if (s != NATS_OK && jerr != JSStreamNameExistErr) /* another process made it first */
        rc = meme_err_set(err, MEME_E_NATS, "cannot create stream \"%s\": %s", stream,
                          js_reason(s, jerr));
out:
    jsStreamInfo_Destroy(si);
    return rc;
}

/* The store the budget is of: the account's stated limit, when it has one. */
static int64_t account_store(struct mq_conn *c)
{
    jsAccountInfo *ai = NULL;
    int64_t store = 0;
    if (js_GetAccountInfo(&ai, c->js, NULL, NULL) == NATS_OK && ai->Limits.MaxStore > 0)
        store = ai->Limits.MaxStore;
    jsAccountInfo_Destroy(ai);
    return store;
}

int mq_ensure_stream_sized(struct mq_conn *c, const char *stream, const struct mq_budget *b,
                           bool *made, struct meme_err *err)
{
    return ensure_stream(c, stream, b, false, made, err);
}

int mq_ensure_stream(struct mq_conn *c, const char *stream, struct meme_err *err)
{
    int64_t store = account_store(c);
    struct mq_budget b;
    for (mq_budget_for(store > 0 ? store : MQ_STORE_ASSUMED, &b);; mq_budget_for(b.store / 2, &b)) {
        int rc = ensure_stream(c, stream, &b, true, NULL, err);
        if (rc != MQ_NO_ROOM)
            return rc;
        if (b.store <= MQ_STORE_MIN)
            return meme_err_set(err, MEME_E_NATS,
                                "cannot create stream \"%s\": the server's JetStream store has "
                                "no room for it",
                                stream);
    }
}

int mq_provision(struct mq_conn *c, const struct mq_provision_opts *o,
                 struct mq_provision_report *r, struct meme_err *err)
{
    memset(r, 0, sizeof(*r));
    int64_t store = account_store(c);
    r->store_from_account = store > 0;
    mq_budget_for(store > 0 ? store : MQ_STORE_ASSUMED, &r->budget);
    /* The results first: they are the larger share. When the queue then
     * finds no room, both halve; a bucket made here gives its room back. */
    bool bucket_made = false;
    int rc;
    for (;;) {
        rc = 0;
        if (o->bucket) {
            bool made = false;
            rc = bucket_made
                     ? results_resize_bucket(c->js, o->bucket, r->budget.results_bytes, err)
                     : results_ensure_bucket(c->js, o->bucket, PROTO_RESULTS_TTL_S, o->max_value,
                                             r->budget.results_bytes, &made, err);
            bucket_made = bucket_made || made;
        }
        if (rc == 0)
            rc = ensure_stream(c, o->stream, &r->budget, !o->bucket, &r->made_stream, err);
        if (rc != MQ_NO_ROOM)
            break;
        if (r->budget.store <= MQ_STORE_MIN)
            return meme_err_set(err, MEME_E_NATS,
                                "the server's JetStream store has no room for stream \"%s\" "
                                "and bucket \"%s\" (%lld bytes asked for)",
                                o->stream, o->bucket ? o->bucket : "-",
                                (long long)(r->budget.queue_bytes + r->budget.results_bytes));
        mq_budget_for(r->budget.store / 2, &r->budget);
    }
    r->made_bucket = bucket_made;
    if (rc < 0)
        return rc;
    return mq_ensure_consumer_made(c, o->stream, o->consumer, o->ack_wait_ms, &r->made_consumer,
                                   err);
}

int mq_ensure_consumer(struct mq_conn *c, const char *stream, const char *consumer,
                       int64_t ack_wait_ms, struct meme_err *err)
{
    return mq_ensure_consumer_made(c, stream, consumer, ack_wait_ms, NULL, err);
}

int mq_ensure_consumer_made(struct mq_conn *c, const char *stream, const char *consumer,
                            int64_t ack_wait_ms, bool *made, struct meme_err *err)
{
    if (made)
        *made = false;
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    int rc = 0;
    natsStatus s = js_GetConsumerInfo(&ci, c->js, stream, consumer, NULL, &jerr);

    if (s == NATS_OK) {
        if (ci->Config->DeliverSubject && ci->Config->DeliverSubject[0])
            rc = meme_err_set(err, MEME_E_NATS,
                              "consumer \"%s\" on stream \"%s\" is a push consumer; protocol v1 "
                              "needs a pull consumer (delete it and let the worker recreate it)",
                              consumer, stream);
        else if (ci->Config->AckPolicy != js_AckExplicit)
            rc = meme_err_set(err, MEME_E_NATS,
                              "consumer \"%s\" on stream \"%s\" does not use explicit acks",
                              consumer, stream);
        goto out;
    }
    if (s != NATS_NOT_FOUND) {
        rc = meme_err_set(err, MEME_E_NATS, "cannot look up consumer \"%s\": %s", consumer,
                          nats_GetLastError(NULL));
        goto out;
    }
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = consumer;
    cc.AckPolicy = js_AckExplicit;
    cc.DeliverPolicy = js_DeliverAll;
    cc.Description = MQ_CONSUMER_DESCRIPTION;
    cc.AckWait = (ack_wait_ms > 0 ? ack_wait_ms : PROTO_ACK_WAIT_MS) * 1000000LL;
    cc.MaxDeliver = PROTO_MAX_DELIVER;
    cc.MaxAckPending = 1000;
    s = js_AddConsumer(NULL, c->js, stream, &cc, NULL, &jerr);
    if (s == NATS_OK && made)
        *made = true;
    /* Two workers starting together race to create it: the loser finds it made. */
    if (s != NATS_OK && jerr != JSConsumerNameExistErr && jerr != JSConsumerExistingActiveErr)
        rc = meme_err_set(err, MEME_E_NATS, "cannot create consumer \"%s\": %s", consumer,
                          nats_GetLastError(NULL));
out:
    jsConsumerInfo_Destroy(ci);
    return rc;
}

int mq_depth(struct mq_conn *c, const char *stream, const char *consumer, struct mq_depth *d,
             struct meme_err *err)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    memset(d, 0, sizeof(*d));
    natsStatus s = js_GetConsumerInfo(&ci, c->js, stream, consumer, NULL, &jerr);
    if (s == NATS_NOT_FOUND)
        return meme_err_set(err, MEME_E_NOT_FOUND, "no consumer \"%s\" on stream \"%s\"", consumer,
                            stream);
    if (s != NATS_OK)
        return meme_err_set(err, MEME_E_NATS, "cannot read consumer \"%s\": %s", consumer,
                            nats_GetLastError(NULL));
    d->pending = ci->NumPending;
    d->ack_pending = ci->NumAckPending;
    d->waiting = ci->NumWaiting;
    d->redelivered = ci->NumRedelivered;
    d->lag = ci->NumPending + (uint64_t)(ci->NumAckPending > 0 ? ci->NumAckPending : 0);
    d->delivered_seq = ci->Delivered.Stream;
    d->ack_floor_seq = ci->AckFloor.Stream;
    jsConsumerInfo_Destroy(ci);
    return 0;
}

int mq_publish_request(struct mq_conn *c, const struct proto_request *req, int timeout_ms,
                       struct meme_err *err)
{
    char *json = proto_request_json(req);
    natsMsg *msg = NULL;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (timeout_ms > 0)
        po.MaxWait = timeout_ms;
    natsStatus s = natsMsg_Create(&msg, PROTO_SUBJECT_REQUEST, NULL, json, (int)strlen(json));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(msg, PROTO_H_MSG_ID, req->id);
    if (s == NATS_OK)
        s = js_PublishMsg(&ack, c->js, msg, &po, &jerr);
    int rc = 0;
    if (s == NATS_NO_RESPONDERS)
        rc = meme_err_set(err, MEME_E_NOT_FOUND,
                          "no stream stores meme requests: stream \"%s\" does not exist yet "
                          "(a worker creates it when it starts: `memectl up`, or meme-worker)",
                          PROTO_STREAM);
    else if (s != NATS_OK &&
             (jerr == JSStreamStoreFailedErr || jerr == JSStorageResourcesExceededErr))
        /* The stream refuses new messages at its limits (DiscardNew). */
        rc = meme_err_set(err, MEME_E_QUEUE_FULL,
                          "the queue is full: stream \"%s\" is at its size limit and refuses new "
                          "requests until workers catch up; retry later",
                          PROTO_STREAM);
    else if (s != NATS_OK)
        rc =
            meme_err_set(err, MEME_E_NATS, "cannot queue the request: %s", nats_GetLastError(NULL));
    else if (ack && ack->Duplicate)
        rc = MQ_DUPLICATE;
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(msg);
    free(json);
    return rc;
}

/* Ours: marked so, or the shape this project gave it before it was marked
 * (5 deliveries, 1000 acks pending, no filter). The original design's has 3
 * deliveries and a filter; an operator's may be anything. */
static bool consumer_is_ours(const jsConsumerConfig *cc)
{
    if (cc->Description && strcmp(cc->Description, MQ_CONSUMER_DESCRIPTION) == 0)
        return true;
    return !cc->Description && cc->MaxDeliver == PROTO_MAX_DELIVER && cc->MaxAckPending == 1000 &&
           (!cc->FilterSubject || !cc->FilterSubject[0]);
}

int mq_reconcile_ack_wait(struct mq_conn *c, const char *stream, const char *consumer,
                          int64_t want_ms, struct mq_ack_wait_report *r, struct meme_err *err)
{
    jsConsumerInfo *ci = NULL, *updated = NULL;
    jsErrCode jerr = 0;
    int rc = 0;
    memset(r, 0, sizeof(*r));
    natsStatus s = js_GetConsumerInfo(&ci, c->js, stream, consumer, NULL, &jerr);
    if (s != NATS_OK)
        return meme_err_set(err, s == NATS_NOT_FOUND ? MEME_E_NOT_FOUND : MEME_E_NATS,
                            "cannot read consumer \"%s\": %s", consumer, nats_GetLastError(NULL));
    r->found_ms = ci->Config->AckWait / 1000000;
    r->ack_wait_ms = r->found_ms;
    r->owned = consumer_is_ours(ci->Config);
    r->ack_pending = ci->NumAckPending;
    /* Safe only when no job is in any worker's hands: a worker that started
     * with the old wait times its in-progress acks by it. */
    if (r->found_ms == want_ms || !r->owned || r->ack_pending > 0)
        goto out;
    jsConsumerConfig cfg = *ci->Config;
    cfg.AckWait = want_ms * 1000000LL;
    cfg.Description = MQ_CONSUMER_DESCRIPTION;
    s = js_UpdateConsumer(&updated, c->js, stream, &cfg, NULL, &jerr);
    if (s != NATS_OK) {
        rc = meme_err_set(err, MEME_E_NATS, "cannot update the ack wait of consumer \"%s\": %s",
                          consumer, nats_GetLastError(NULL));
        goto out;
    }
    r->updated = true;
    r->ack_wait_ms = updated->Config->AckWait / 1000000;
out:
    jsConsumerInfo_Destroy(updated);
    jsConsumerInfo_Destroy(ci);
    return rc;
}
