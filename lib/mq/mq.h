/*
 * NATS glue shared by memectl and the servers: connecting with the options
 * that matter for latency (send-asap), making sure the MEMES stream, the
 * meme-generator consumer and the results bucket exist with the settings
 * protocol v1 requires (storage budget included), and reading the queue
 * depth the way KEDA computes lag.
 */
#ifndef MEME_MQ_H
#define MEME_MQ_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "mq/proto.h"

/* The payload limit the stack configures: a 1024x1024 PNG as base64 fits. */
#define MQ_PAYLOAD_WANTED (8 * 1024 * 1024)

struct mq_conn {
    natsConnection *nc;
    jsCtx *js;
    char url[512]; /* as given; never print it, print mq_url_redacted() */
};

struct mq_connect_opts {
    const char *url;
    const char *name; /* connection name shown by the server */
    int timeout_ms;   /* connect timeout; 0 = 2000 */
    bool reconnect;   /* keep reconnecting forever (servers) */
    /* Credentials and TLS; each NULL when not used. A user and password may
     * also be in the URL. Never logged: errors name files, not contents. */
    const char *user, *password;
    const char *token;
    const char *creds_file;         /* a .creds file (JWT and nkey seed) */
    const char *nkey;               /* public nkey, with nkey_seed_file */
    const char *nkey_seed_file;     /* file holding the nkey seed */
    const char *tls_ca;             /* CA bundle to verify the server (turns TLS on) */
    const char *tls_cert, *tls_key; /* client certificate chain and key */
    /* Called from nats.c's thread when the connection drops and comes back. */
    natsConnectionHandler disconnected, reconnected;
    void *handler_arg;
};

/* Connects and makes a JetStream context. Fills err with MEME_E_UNREACHABLE
 * when nothing listens at the URL. Release with mq_close() even on failure. */
int mq_connect(struct mq_conn *c, const struct mq_connect_opts *opts, struct meme_err *err);
void mq_close(struct mq_conn *c);

/* Copies url into out with any password or token replaced by "***". */
const char *mq_url_redacted(const char *url, char *out, size_t outsz);

/*
 * The storage budget (docs/protocol.md, "Storage"). The queue stream and the
 * results bucket each reserve an explicit number of bytes of the server's
 * JetStream store, so together they always fit: the queue an eighth of the
 * store (at most MQ_QUEUE_BYTES_MAX, at most MQ_QUEUE_MSGS_MAX requests),
 * the results five eighths; the last quarter stays free for the server's
 * own overhead and other streams. When the account states no store limit,
 * MQ_STORE_ASSUMED is tried first and halved until the server can reserve it.
 */
#define MQ_STORE_ASSUMED   (4LL << 30) /* the manifests' max_file_store */
#define MQ_STORE_MIN       (8LL << 20)
#define MQ_QUEUE_BYTES_MAX (256LL << 20)
#define MQ_QUEUE_MSGS_MAX  100000
struct mq_budget {
    int64_t store;         /* what the split is of */
    int64_t queue_bytes;   /* stream MaxBytes, DiscardNew */
    int64_t queue_msgs;    /* stream MaxMsgs */
    int64_t results_bytes; /* bucket MaxBytes, DiscardOld */
};
void mq_budget_for(int64_t store, struct mq_budget *b);

/* Returned when the server cannot reserve the bytes asked for. */
#define MQ_NO_ROOM 2

/* Creates the stream with v1 settings (work queue, file storage, subjects
 * meme.request and meme.request.>, refusing new requests beyond the queue's
 * share of the store: of the account's limit, else of MQ_STORE_ASSUMED halved
 * until the server has room for the queue's and the results' shares) or
 * checks an existing one, adding a missing subject and limits it lacks.
 * Returns 0 or a negative code with a message a person can act on. */
int mq_ensure_stream(struct mq_conn *c, const char *stream, struct meme_err *err);
/* The same with the queue limits of budget b; *made when it created the
 * stream. MQ_NO_ROOM when the server cannot reserve b->queue_bytes. */
int mq_ensure_stream_sized(struct mq_conn *c, const char *stream, const struct mq_budget *b,
                           bool *made, struct meme_err *err);
/* Creates the durable pull consumer (explicit ack, ack_wait_ms or 0 for
 * PROTO_ACK_WAIT_MS, described as MQ_CONSUMER_DESCRIPTION) or checks an
 * existing one; *made (may be NULL, _made variant) when it created it. */
int mq_ensure_consumer(struct mq_conn *c, const char *stream, const char *consumer,
                       int64_t ack_wait_ms, struct meme_err *err);
int mq_ensure_consumer_made(struct mq_conn *c, const char *stream, const char *consumer,
                            int64_t ack_wait_ms, bool *made, struct meme_err *err);

/* What protocol v1 needs on the server, for mq_provision(). */
struct mq_provision_opts {
    const char *stream, *consumer;
    const char *bucket;  /* the results bucket; NULL: none */
    int64_t ack_wait_ms; /* for a new consumer; 0 = PROTO_ACK_WAIT_MS */
    int64_t max_value;   /* largest result (the server's max_payload) */
};
/* What mq_provision() found and did, for the caller's log. */
struct mq_provision_report {
    struct mq_budget budget;
    bool store_from_account; /* the budget is of the account's stated limit */
    bool made_stream, made_consumer, made_bucket;
};

/*
 * Makes sure the stream, the consumer and the results bucket (unless
 * o->bucket is NULL) exist with v1 settings and the storage budget, creating
 * what is missing (a fresh server, or deleted by an operator): cheap when
 * all is there (four small requests). Without a bucket, a new stream is
 * still sized so that the bucket's share fits beside it. Two processes
 * doing it at once both succeed. Returns 0 or a negative code.
 */
int mq_provision(struct mq_conn *c, const struct mq_provision_opts *o,
                 struct mq_provision_report *r, struct meme_err *err);

#define MQ_CONSUMER_DESCRIPTION "meme-worker protocol v1"

/* What mq_reconcile_ack_wait() found and did. */
struct mq_ack_wait_report {
    int64_t found_ms;    /* the consumer's ack wait as found */
    int64_t ack_wait_ms; /* the one in force now */
    bool owned;          /* made by this project (not the original design's, nor an operator's) */
    bool updated;
    int64_t ack_pending; /* jobs in workers' hands when it looked */
};
/* Brings an existing consumer's ack wait to want_ms when this project made
 * it and no job is in a worker's hands (a worker times its in-progress acks
 * by the wait it started with); otherwise reports what it found. */
int mq_reconcile_ack_wait(struct mq_conn *c, const char *stream, const char *consumer,
                          int64_t want_ms, struct mq_ack_wait_report *r, struct meme_err *err);

/* Queues req: its protocol v1 JSON through JetStream on meme.request, with
 * Nats-Msg-Id set to req->id so a retried publish is stored once. Returns 0;
 * MQ_DUPLICATE when JetStream already stored that id within its duplicate
 * window; MEME_E_NOT_FOUND when no stream stores meme.request yet;
 * MEME_E_QUEUE_FULL when the stream is at its limit and refuses new work; or
 * MEME_E_NATS. timeout_ms 0 is nats.c's default wait for the ack. */
#define MQ_DUPLICATE 1
int mq_publish_request(struct mq_conn *c, const struct proto_request *req, int timeout_ms,
                       struct meme_err *err);

struct mq_depth {
    uint64_t pending;    /* not yet delivered */
    int64_t ack_pending; /* delivered, not acked */
    int64_t waiting;     /* pull requests waiting: workers ready for work */
    int64_t redelivered;
    uint64_t lag; /* pending + ack_pending: what KEDA scales on */
    /* Stream sequences: requests stored (delivered + pending) and acknowledged,
     * for rates in and out. */
    uint64_t delivered_seq;
    uint64_t ack_floor_seq;
};

/* Reads the consumer's state. MEME_E_NOT_FOUND when the stream or consumer
 * does not exist. */
int mq_depth(struct mq_conn *c, const char *stream, const char *consumer, struct mq_depth *d,
             struct meme_err *err);

/* A message for a NATS status, for error texts. */
const char *mq_status_text(natsStatus s);

#endif
