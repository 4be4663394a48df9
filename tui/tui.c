/*
 * The live dashboard (`memectl tui`). Sources update the model (tui_model.c):
 * NATS subscriptions to worker heartbeats, completion events and this
 * dashboard's own replies (nats.c's threads), and a poller that reads the
 * consumer once a second and the cluster every two. The main thread draws
 * the model (tui_view.c) with ncursesw only when it changed or the terminal
 * was resized, and paints the selected meme over the preview panel after
 * each refresh: a kitty image placed (and its placement deleted when the
 * panel changes or is covered), an iTerm2 image, sixel, or half blocks.
 */
#include "tui/tui.h"
#include "buf.h"
#include "render/image.h"
#include "kube/kube.h"
#include "kube/kube_informer.h"
#include "kube/kube_status.h"
#include "kube/kubeconfig.h"
#include "mq/proto.h"
#include "mq/results.h"
#include "term/term.h"
#include "tui/tui_model.h"
#include "tui/tui_view.h"
#include "paths.h"
#include "xalloc.h"

#include <curses.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <locale.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PENDING_MAX 4096
#define IMAGES_MAX  16

struct pending {
    unsigned long seq;
    char id[40];
    double sent;
};

struct image_slot {
    char id[72];
    uint8_t *data;
    size_t len;
};

struct app {
    const struct tui_opts *opts;
    struct kube_client *kube;  /* NULL: no usable kubeconfig */
    struct kube_informer *inf; /* the scalers and workloads, kept current by watches */
    unsigned long inf_seen;    /* the informer's version last drawn */
    struct kube_status last;   /* its snapshot then */
    int64_t rows_lag;          /* the queue lag the rows were made with */
    double next_kube;
    struct tui_model model;
    struct mq_conn mq;
    bool connected;
    natsSubscription *hb, *ev, *replies;
    natsInbox *inbox;
    pthread_t poller;
    int stop; /* read and written with __atomic: the poller polls it */
    int burst;
    unsigned long seq;
    struct pending pending[PENDING_MAX]; /* ring, under the model lock */
    struct image_slot images[IMAGES_MAX];
    size_t next_image;
    kvStore *kv;      /* the results bucket, opened when first needed */
    char fetched[72]; /* the last id looked up there */
};

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    (void)sig;
    got_signal = 1;
}

/* ---- sources ---- */

static void on_heartbeat(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    struct app *a = arg;
    tui_model_lock(&a->model);
    tui_model_heartbeat(&a->model, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg),
                        tui_now());
    tui_model_unlock(&a->model);
    natsMsg_Destroy(msg);
}

static void on_event(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    struct app *a = arg;
    tui_model_lock(&a->model);
    tui_model_event(&a->model, natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), tui_now());
    tui_model_unlock(&a->model);
    natsMsg_Destroy(msg);
}

static const char *hdr(natsMsg *m, const char *name)
{
    const char *v = NULL;
    return natsMsgHeader_Get(m, name, &v) == NATS_OK ? v : NULL;
}

static void on_reply(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
    struct app *a = arg;
    const char *subj = natsMsg_GetSubject(msg);
    const char *dot = strrchr(subj, '.');
    unsigned long seq = dot ? strtoul(dot + 1, NULL, 10) : 0;
    double now = tui_now();
    tui_model_lock(&a->model);
    struct pending *p = &a->pending[seq % PENDING_MAX];
    const char *st = hdr(msg, PROTO_H_STATUS);
    if (dot && p->seq == seq && p->id[0] && st && strcmp(st, "progress") == 0) {
        /* Why it waits, not the answer: the request stays pending. */
        struct proto_progress pr;
        if (proto_progress_parse(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), &pr) ==
            0)
            tui_model_progress(&a->model, p->id, (int)pr.state, pr.worker, pr.message, pr.attempt,
                               pr.max_attempts, pr.retry_in_ms);
    } else if (dot && p->seq == seq && p->id[0]) {
        bool ok = st && strcmp(st, "ok") == 0;
        const char *cache = hdr(msg, PROTO_H_CACHE);
        const char *code = hdr(msg, PROTO_H_ERROR_CODE);
        tui_model_reply(&a->model, p->id, ok, code ? code : (ok ? "" : "internal"),
                        (now - p->sent) * 1000.0, hdr(msg, PROTO_H_WORKER),
                        cache && strcmp(cache, "hit") == 0);
        if (ok && image_sniff((const uint8_t *)natsMsg_GetData(msg),
                              (size_t)natsMsg_GetDataLength(msg)) >= 0) {
            struct image_slot *s = &a->images[a->next_image++ % IMAGES_MAX];
            free(s->data);
            size_t idl = strnlen(p->id, sizeof(p->id) - 1);
            memcpy(s->id, p->id, idl);
            s->id[idl] = '\0';
            s->len = (size_t)natsMsg_GetDataLength(msg);
            s->data = xmalloc(s->len);
            memcpy(s->data, natsMsg_GetData(msg), s->len);
        }
        p->id[0] = '\0';
    }
    tui_model_unlock(&a->model);
    natsMsg_Destroy(msg);
}

static void on_disconnected(natsConnection *nc, void *arg)
{
    struct app *a = arg;
    tui_model_lock(&a->model);
    a->model.nats_up = false;
    tui_model_queue_lost(&a->model, "NATS connection lost: reconnecting");
    tui_model_unlock(&a->model);
}

static void on_reconnected(natsConnection *nc, void *arg)
{
    struct app *a = arg;
    tui_model_lock(&a->model);
    a->model.nats_up = true;
    a->model.version++;
    tui_model_unlock(&a->model);
}

/* Connects and subscribes; false (with the model saying why) when NATS is not there. */
static bool try_connect(struct app *a)
{
    struct meme_err err = {0};
    struct mq_connect_opts co = a->opts->nats;
    co.name = "memectl tui";
    co.reconnect = true;
    co.timeout_ms = 1000;
    co.disconnected = on_disconnected;
    co.reconnected = on_reconnected;
    co.handler_arg = a;
    if (mq_connect(&a->mq, &co, &err) < 0) {
        mq_close(&a->mq);
        tui_model_lock(&a->model);
        tui_model_queue_lost(&a->model, err.msg);
        a->model.nats_up = false;
        tui_model_unlock(&a->model);
        return false;
    }
    natsInbox_Create(&a->inbox);
    char *wild = xasprintf("%s.*", a->inbox);
    natsConnection_Subscribe(&a->hb, a->mq.nc, PROTO_SUBJECT_HEARTBEAT, on_heartbeat, a);
    natsConnection_Subscribe(&a->ev, a->mq.nc, PROTO_SUBJECT_EVENTS, on_event, a);
    natsConnection_Subscribe(&a->replies, a->mq.nc, wild, on_reply, a);
    free(wild);
    a->connected = true;
    tui_model_lock(&a->model);
    a->model.nats_up = true;
    a->model.nats_note[0] = '\0';
    a->model.version++;
    tui_model_unlock(&a->model);
    return true;
}

static void poll_queue(struct app *a)
{
    struct mq_depth d;
    struct meme_err err = {0};
    double now = tui_now();
    int rc = a->connected ? mq_depth(&a->mq, PROTO_STREAM, PROTO_CONSUMER, &d, &err) : -1;
    tui_model_lock(&a->model);
    if (rc == 0)
        tui_model_queue(&a->model, d.lag, d.pending, d.ack_pending, d.waiting, d.redelivered,
                        d.delivered_seq + d.pending, d.ack_floor_seq, now);
    else if (a->connected)
        tui_model_queue_lost(&a->model, rc == MEME_E_NOT_FOUND
                                            ? "no stream MEMES yet: start a worker (memectl up)"
                                            : err.msg);
    tui_model_unlock(&a->model);
}

/* ---- the cluster ---- */

/* Rows for the Scalers panel: the rows status and watch show. Lock held. */
static void scaler_rows(struct app *a, const struct kube_status *st)
{
    struct tui_model *m = &a->model;
    const char *ns = a->opts->kube_namespace;
    const char *one[1] = {ns};
    struct kube_scaler_row *rows = NULL;
    int n = kube_summary_rows(st, ns && *ns ? one : kube_status_default_namespaces,
                              ns && *ns ? 1 : KUBE_STATUS_DEFAULT_NS_COUNT,
                              m->queue_known ? (int64_t)m->lag : -1, &rows);
    m->nscalers = 0;
    for (int i = 0; i < n && m->nscalers < TUI_SCALERS; i++)
        m->scalers[m->nscalers++] = rows[i];
    free(rows);
    int threshold = 0;
    for (int i = 0; i < st->nsos && !threshold; i++)
        if (st->sos[i].ntriggers && st->sos[i].triggers[0].lag_threshold > 0)
            threshold = (int)st->sos[i].triggers[0].lag_threshold;
    m->lag_threshold = threshold;
    m->cluster = true;
    m->version++;
}

/* What the Scalers panel needs: no pods, no pod metrics. */
#define TUI_KINDS                                                                                  \
    (KUBE_KIND_BIT(KUBE_KIND_HPA) | KUBE_KIND_BIT(KUBE_KIND_SCALEDOBJECT) |                        \
     KUBE_KIND_BIT(KUBE_KIND_VPA) | KUBE_KIND_BIT(KUBE_KIND_DEPLOYMENT) |                          \
     KUBE_KIND_BIT(KUBE_KIND_STATEFULSET))

static void cluster_failed(struct app *a, const char *why)
{
    char note[160];
    snprintf(note, sizeof(note), "cluster unreachable: %s", why);
    tui_model_lock(&a->model);
    if (a->model.cluster || strcmp(a->model.cluster_note, note) != 0)
        a->model.version++;
    a->model.cluster = false;
    a->model.nscalers = 0;
    snprintf(a->model.cluster_note, sizeof(a->model.cluster_note), "%s", note);
    tui_model_unlock(&a->model);
}

static void show_cluster(struct app *a, struct kube_status *st)
{
    tui_model_lock(&a->model);
    scaler_rows(a, st);
    const struct kube_config *cfg = kube_client_config(a->kube);
    snprintf(a->model.cluster_note, sizeof(a->model.cluster_note), "%s",
             cfg->context ? cfg->context : "in-cluster");
    tui_model_unlock(&a->model);
}

/* The cluster: listed once, then kept current by watches (the informer);
 * the panel is rebuilt only when they brought a change. Without a
 * cluster, a new start is tried every 2 s. --dump reads once, no watch. */
static void poll_cluster(struct app *a, double now)
{
    if (!a->kube)
        return;
    const char *ns = a->opts->kube_namespace;
    const char *one[1] = {ns};
    const char *const *nsv = ns && *ns ? one : kube_status_default_namespaces;
    int nns = ns && *ns ? 1 : KUBE_STATUS_DEFAULT_NS_COUNT;
    struct meme_err err = {0};
    struct kube_status st;
    if (a->opts->dump) {
        if (kube_status_fetch_kinds(a->kube, nsv, nns, TUI_KINDS, &st, &err) == 0)
            show_cluster(a, &st);
        else
            cluster_failed(a, err.msg);
        kube_status_release(&st);
        return;
    }
    if (!a->inf) {
        if (now < a->next_kube)
            return;
        a->next_kube = now + 2.0;
        a->inf = kube_informer_start(a->kube, nsv, nns, TUI_KINDS, &err);
        if (!a->inf) {
            cluster_failed(a, err.msg);
            return;
        }
        a->inf_seen = 0;
    }
    /* rebuilt when the watches brought a change, or the queue's lag (shown
     * with KEDA's row) moved */
    unsigned long v = kube_informer_version(a->inf);
    tui_model_lock(&a->model);
    int64_t lag = a->model.queue_known ? (int64_t)a->model.lag : -1;
    tui_model_unlock(&a->model);
    if (v == a->inf_seen && lag == a->rows_lag)
        return;
    if (v != a->inf_seen) {
        kube_status_release(&a->last);
        kube_informer_snapshot(a->inf, &a->last);
        a->inf_seen = v;
    }
    a->rows_lag = lag;
    show_cluster(a, &a->last);
}

/* A client for the configured cluster; the panel says why when there is none. */
static void open_cluster(struct app *a)
{
    struct kube_config cfg;
    struct kube_config_opts o;
    struct meme_err err = {0};
    memset(&o, 0, sizeof(o));
    o.context = a->opts->kube_context;
    if (kube_config_load(&cfg, &o, &err) != 0) {
        snprintf(a->model.cluster_note, sizeof(a->model.cluster_note), "no cluster: %s", err.msg);
        return;
    }
    a->kube = kube_client_new(&cfg);
    kube_client_set_timeout(a->kube, 4000);
}

static void *poller_main(void *arg)
{
    struct app *a = arg;
    double next_connect = 0;
    while (!__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE)) {
        double now = tui_now();
        if (!a->connected && now >= next_connect) {
            if (!try_connect(a))
                next_connect = now + 2.0;
        }
        poll_queue(a);
        poll_cluster(a, now);
        char *state_dir = paths_state_dir();
        tui_local_poll(&a->model, state_dir);
        free(state_dir);
        tui_model_lock(&a->model);
        tui_model_sample(&a->model, now);
        tui_model_expire(&a->model, now);
        tui_model_unlock(&a->model);
        /* One second between polls, waking early to stop. */
        for (int i = 0; i < 10 && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); i++)
            usleep(100000);
    }
    return NULL;
}

/* ---- actions ---- */

static void send_request(struct app *a, const char *prompt)
{
    if (!a->connected) {
        tui_model_lock(&a->model);
        tui_model_set_status(&a->model, "not connected to NATS: the request was not sent");
        tui_model_unlock(&a->model);
        return;
    }
    struct proto_request req;
    proto_request_init(&req);
    proto_new_id(req.id);
    req.prompt = xstrdup(prompt);
    req.size = PROTO_SIZE_DEFAULT;
    req.format = IMAGE_PNG;
    tui_model_lock(&a->model);
    unsigned long seq = ++a->seq;
    struct pending *p = &a->pending[seq % PENDING_MAX];
    p->seq = seq;
    snprintf(p->id, sizeof(p->id), "%s", req.id);
    p->sent = tui_now();
    tui_model_sent(&a->model, req.id, prompt, p->sent);
    tui_model_unlock(&a->model);
    req.reply = xasprintf("%s.%lu", a->inbox, seq);
    req.progress = true;
    struct meme_err err = {0};
    if (mq_publish_request(&a->mq, &req, 0, &err) < 0) {
        tui_model_lock(&a->model);
        tui_model_reply(&a->model, req.id, false, meme_code_name(err.code), 0, "", false);
        tui_model_set_status(&a->model, "could not queue the request: %s", err.msg);
        tui_model_unlock(&a->model);
    }
    proto_request_release(&req);
}

static void burst(struct app *a)
{
    char tag[9];
    char id[37];
    proto_new_id(id);
    snprintf(tag, sizeof(tag), "%.8s", id);
    for (int i = 0; i < a->burst && !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); i++) {
        char prompt[160];
        snprintf(prompt, sizeof(prompt),
                 "burst %s %d/%d: when the queue grows | keda adds a worker", tag, i + 1, a->burst);
        send_request(a, prompt);
    }
    tui_model_lock(&a->model);
    tui_model_set_status(&a->model, "sent a burst of %d requests", a->burst);
    tui_model_unlock(&a->model);
}

/* ---- drawing ---- */

static short pair_for(uint8_t color)
{
    return (short)color; /* pairs 1..6 are set up to match the TUI_ colours */
}

static void blit(const struct canvas *c, bool color)
{
    for (int y = 0; y < c->h; y++)
        for (int x = 0; x < c->w; x++) {
            const struct cell *cl = &c->cells[y * c->w + x];
            if (!cl->ch[0])
                continue; /* the right half of a wide character */
            attr_t at = A_NORMAL;
            if (cl->attr & TUI_BOLD)
                at |= A_BOLD;
            if (cl->attr & TUI_DIM)
                at |= A_DIM;
            if (cl->attr & TUI_REVERSE)
                at |= A_REVERSE;
            if (color && cl->color)
                at |= COLOR_PAIR(pair_for(cl->color));
            attrset(at);
            mvaddstr(y, x, cl->ch);
        }
    attrset(A_NORMAL);
}

struct painter {
    struct term_caps caps;
    char id[72];       /* what is encoded */
    struct rect rect;  /* where */
    struct buf once;   /* written once after encoding (a kitty image's data) */
    struct buf bytes;  /* written after every refresh */
    uint32_t kitty_id; /* the stored kitty image, 0 for none */
    bool placed;       /* a kitty placement is on the screen */
};

static void write_out(const struct buf *b)
{
    size_t off = 0;
    while (off < b->len) {
        ssize_t n = write(STDOUT_FILENO, b->data + off, b->len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

/* Encodes the preview for r: kitty stores the image once (under a new id,
 * the old one freed) and places it after each refresh; iTerm2, sixel and half
 * blocks write the whole picture each time, since curses may rewrite any
 * cell under it. */
static void encode_preview(struct painter *p, const struct meme_image *im, struct rect r)
{
    struct meme_err err = {0};
    const struct term_caps *c = &p->caps;
    struct term_place pl = {.cols = r.w, .rows = r.h - 1, .cell_w = c->cell_w, .cell_h = c->cell_h};

    switch (c->mode) {
    case TERM_DISPLAY_KITTY:
        if (p->kitty_id)
            term_kitty_delete(p->kitty_id, true, false, &p->once);
        p->kitty_id = p->kitty_id % 1000000 + 1;
        pl.id = p->kitty_id;
        pl.store_only = true;
        if (term_encode_kitty(im, &pl, &p->once, &err) < 0)
            break;
        term_kitty_delete(p->kitty_id, false, false, &p->bytes);
        buf_printf(&p->bytes, "\0337\033[%d;%dH", r.y + 1, r.x + 1);
        term_kitty_place(p->kitty_id, pl.used_cols, pl.used_rows, false, &p->bytes);
        buf_puts(&p->bytes, "\0338");
        break;
    case TERM_DISPLAY_ITERM2:
        buf_printf(&p->bytes, "\0337\033[%d;%dH", r.y + 1, r.x + 1);
        term_encode_iterm2(im, &pl, &p->bytes, &err);
        buf_puts(&p->bytes, "\0338");
        break;
    case TERM_DISPLAY_SIXEL:
        buf_printf(&p->bytes, "\0337\033[%d;%dH", r.y + 1, r.x + 1);
        term_encode_sixel(im, r.w * c->cell_w, (r.h - 1) * c->cell_h, &p->bytes, &err);
        buf_puts(&p->bytes, "\0338");
        break;
    default: {
        struct buf blocks = BUF_INIT;
        term_encode_blocks(im, r.w, r.h, c->truecolor, &blocks);
        buf_puts(&p->bytes, "\0337");
        size_t start = 0;
        int row = 0;
        for (size_t i = 0; i < blocks.len; i++)
            if (blocks.data[i] == '\n') {
                buf_printf(&p->bytes, "\033[%d;%dH", r.y + 1 + row++, r.x + 1);
                buf_append(&p->bytes, blocks.data + start, i - start);
                start = i + 1;
            }
        buf_puts(&p->bytes, "\0338");
        buf_release(&blocks);
    }
    }
}

/* Writes the preview image over its panel; encodes only when it changed. */
static void paint(struct painter *p, const struct image_slot *img, struct rect r)
{
    if (!img || r.w < 4 || r.h < 2 || p->caps.mode == TERM_DISPLAY_NONE)
        return;
    if (strcmp(p->id, img->id) != 0 || memcmp(&p->rect, &r, sizeof(r)) != 0) {
        buf_release(&p->bytes);
        snprintf(p->id, sizeof(p->id), "%s", img->id);
        p->rect = r;
        struct meme_err err = {0};
        struct meme_image *im = image_decode(img->data, img->len, &err);
        if (!im)
            return;
        encode_preview(p, im, r);
        image_free(im);
    }
    fflush(stdout);
    write_out(&p->once);
    buf_release(&p->once);
    write_out(&p->bytes);
    p->placed = p->caps.mode == TERM_DISPLAY_KITTY;
}

/* Takes a kitty image off the screen (help, an overlay or no meme covers
 * the panel now); with forget, frees it in the terminal too (on exit). */
static void unpaint(struct painter *p, bool forget)
{
    struct buf b = BUF_INIT;
    if (p->kitty_id && (p->placed || forget))
        term_kitty_delete(p->kitty_id, forget, false, &b);
    if (forget) {
        p->kitty_id = 0;
        p->id[0] = '\0';
    }
    p->placed = false;
    fflush(stdout);
    write_out(&b);
    buf_release(&b);
}

static bool have_image(const struct app *a, const char *id)
{
    for (size_t k = 0; k < IMAGES_MAX; k++)
        if (a->images[k].data && strcmp(a->images[k].id, id) == 0)
            return true;
    return false;
}

/* A meme made by someone else: its image from the results bucket, by id. */
static void fetch_result(struct app *a, const char *id)
{
    struct meme_err err = {0};
    if (!a->connected)
        return;
    if (!a->kv && results_open(a->mq.js, PROTO_RESULTS_BUCKET, false, 0, 0, &a->kv, &err) < 0) {
        a->kv = NULL;
        return;
    }
    struct results_meta meta;
    uint8_t *data = NULL;
    size_t len = 0;
    if (results_get(a->kv, id, &meta, &data, &len, &err) < 0 || !meta.ok ||
        image_sniff(data, len) < 0) {
        free(data);
        return;
    }
    tui_model_lock(&a->model);
    struct image_slot *s = &a->images[a->next_image++ % IMAGES_MAX];
    free(s->data);
    snprintf(s->id, sizeof(s->id), "%s", id);
    s->data = data;
    s->len = len;
    a->model.version++;
    tui_model_unlock(&a->model);
}

/* The image to preview: the selected meme if we have its image, else our latest. */
static const struct image_slot *preview_image(struct app *a, const struct tui_view_state *v,
                                              const char **title_out)
{
    const struct tui_model *m = &a->model;
    const char *want = NULL;
    if (v->focus == FOCUS_MEMES && v->sel[FOCUS_MEMES] < (int)m->nmemes)
        want = m->memes[v->sel[FOCUS_MEMES]].id;
    const struct image_slot *best = NULL;
    for (size_t k = 0; k < IMAGES_MAX; k++) {
        /* Newest first. */
        const struct image_slot *s = &a->images[(a->next_image + IMAGES_MAX - 1 - k) % IMAGES_MAX];
        if (!s->data)
            continue;
        if (want && strcmp(s->id, want) == 0)
            return *title_out = s->id, s;
        if (!best && !want)
            best = s;
    }
    if (best)
        *title_out = best->id;
    return best;
}

/* What `memectl explain` says about scaler i (run as a child, so the
 * dashboard shows exactly the command's text), or its figures when that fails. */
static char *explain_text(const struct tui_model *m, int i)
{
    bool local = m->has_local && i == (int)m->nscalers;
    if (i < 0 || (i >= (int)m->nscalers && !local))
        return NULL;
    const struct kube_scaler_row *s = local ? &m->local : &m->scalers[i];
    const char *kind = strcmp(s->kind, "HPA") == 0    ? "hpa"
                       : strcmp(s->kind, "KEDA") == 0 ? "scaledobject"
                                                      : "vpa";
    char ns[96], name[KUBE_NAME_MAX];
    snprintf(ns, sizeof(ns), "%s", s->ns);
    snprintf(name, sizeof(name), "%s", s->name);
    int fds[2];
    struct buf out = BUF_INIT;
    if (pipe(fds) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            int nul = open("/dev/null", O_RDWR);
            dup2(nul, 0);
            dup2(fds[1], 1);
            dup2(fds[1], 2);
            close(fds[0]);
            close(fds[1]);
            char *argv[] = {"memectl", "explain", (char *)kind, name, "-n", ns, NULL};
            char *largv[] = {"memectl", "explain", "local", NULL};
            execv("/proc/self/exe", local ? largv : argv);
            _exit(127);
        }
        close(fds[1]);
        char chunk[4096];
        ssize_t n;
        while (pid > 0 && (n = read(fds[0], chunk, sizeof(chunk))) > 0 && out.len < 65536)
            buf_append(&out, chunk, (size_t)n);
        close(fds[0]);
        if (pid > 0)
            waitpid(pid, NULL, 0);
    }
    if (out.len) {
        struct buf clean = BUF_INIT;
        term_sanitize((const char *)out.data, out.len, true, &clean);
        buf_release(&out);
        buf_putc(&clean, '\0');
        return (char *)buf_detach(&clean, NULL);
    }
    buf_release(&out);
    return xasprintf("%s %s/%s -> %s\nreplicas %d now, %d desired, between %d and %d\n%s", s->kind,
                     s->ns, s->name, s->target, s->current, s->desired, s->min, s->max, s->why);
}

static int dump(struct app *a, int cols, int lines)
{
    if (try_connect(a)) {
        /* Gather a moment of heartbeats and two queue readings (for rates). */
        poll_queue(a);
        /* Workers beat every 5 s: when some are pulling, wait for them to be heard. */
        tui_model_lock(&a->model);
        int wait = a->model.queue_known && a->model.waiting > 0 ? 60 : 12;
        tui_model_unlock(&a->model);
        for (int i = 0; i < wait && !got_signal; i++) {
            usleep(100000);
            tui_model_lock(&a->model);
            bool have = a->model.nworkers > 0;
            tui_model_unlock(&a->model);
            if (have && i >= 10)
                break;
        }
        poll_queue(a);
    }
    poll_cluster(a, tui_now());
    char *state_dir = paths_state_dir();
    tui_local_poll(&a->model, state_dir);
    free(state_dir);
    tui_model_lock(&a->model);
    tui_model_sample(&a->model, tui_now());
    struct tui_view_state v = {.now = tui_now(), .focus = FOCUS_MEMES};
    v.preview_note = "images are drawn in the live view";
    struct canvas c;
    canvas_init(&c, cols, lines);
    tui_draw(&a->model, &v, &c);
    tui_model_unlock(&a->model);
    char *text = canvas_to_text(&c);
    fputs(text, stdout);
    free(text);
    canvas_free(&c);
    return 0;
}

static void app_close(struct app *a)
{
    natsSubscription_Destroy(a->hb);
    natsSubscription_Destroy(a->ev);
    natsSubscription_Destroy(a->replies);
    natsInbox_Destroy(a->inbox);
    if (a->kv)
        kvStore_Destroy(a->kv);
    mq_close(&a->mq);
    kube_informer_free(a->inf);
    kube_status_release(&a->last);
    kube_client_free(a->kube);
    /* nats.c calls the handlers on its own threads, the disconnected one even
     * after the close: wait for them all before the model goes away. */
    nats_CloseAndWait(2000);
    for (size_t i = 0; i < IMAGES_MAX; i++)
        free(a->images[i].data);
    tui_model_destroy(&a->model);
}

/* Appends the UTF-8 bytes of a typed key to the prompt. */
static void prompt_key(struct tui_view_state *v, int ch)
{
    size_t len = strlen(v->prompt);
    if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        while (len > 0 && ((unsigned char)v->prompt[len - 1] & 0xC0) == 0x80)
            v->prompt[--len] = '\0';
        if (len > 0)
            v->prompt[--len] = '\0';
        return;
    }
    if (ch >= 0x20 && ch < 0x100 && ch != 0x7f && len + 1 < sizeof(v->prompt) &&
        len + 1 < PROTO_PROMPT_MAX) {
        v->prompt[len] = (char)ch;
        v->prompt[len + 1] = '\0';
    }
}

int tui_run(const struct tui_opts *o)
{
    int rc = 0;
    struct app *a = xcalloc(1, sizeof(*a));
    a->opts = o;
    a->burst = o->burst > 0 ? o->burst : 20;
    tui_model_init(&a->model);
    mq_url_redacted(o->nats.url, a->model.server, sizeof(a->model.server));
    open_cluster(a);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);

    if (o->dump) {
        rc = dump(a, o->columns, o->lines);
        app_close(a);
        free(a);
        return rc;
    }

    setlocale(LC_ALL, "");
    struct painter painter = {0};
    term_detect(STDOUT_FILENO, o->display, 300, &painter.caps);
    /* Through tmux's passthrough an image lands where the outer terminal's
     * cursor happens to be, not where curses put the pane's: half blocks. */
    if (painter.caps.tmux)
        painter.caps.mode = TERM_DISPLAY_BLOCKS;
    const char *nc = getenv("NO_COLOR");
    bool color = !(nc && *nc);

    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    set_escdelay(25);
    timeout(100);
    curs_set(0);
    if (color && has_colors()) {
        start_color();
        use_default_colors();
        init_pair(TUI_RED, COLOR_RED, -1);
        init_pair(TUI_GREEN, COLOR_GREEN, -1);
        init_pair(TUI_YELLOW, COLOR_YELLOW, -1);
        init_pair(TUI_BLUE, COLOR_BLUE, -1);
        init_pair(TUI_MAGENTA, COLOR_MAGENTA, -1);
        init_pair(TUI_CYAN, COLOR_CYAN, -1);
    } else {
        color = false;
    }

    try_connect(a);
    pthread_create(&a->poller, NULL, poller_main, a);

    struct tui_view_state v = {.focus = FOCUS_MEMES};
    struct canvas c;
    canvas_init(&c, COLS, LINES);
    unsigned long drawn = (unsigned long)-1;
    bool dirty = true;
    char *overlay = NULL;
    while (!got_signal) {
        int ch = getch();
        if (ch != ERR) {
            dirty = true;
            if (ch == KEY_RESIZE) {
                canvas_free(&c);
                canvas_init(&c, COLS, LINES);
                clearok(stdscr, TRUE);
                painter.id[0] = '\0';
            } else if (v.prompt_open) {
                if (ch == 27) {
                    v.prompt_open = false;
                } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
                    v.prompt_open = false;
                    if (v.prompt[0])
                        send_request(a, v.prompt);
                    v.focus = FOCUS_MEMES;
                    v.sel[FOCUS_MEMES] = 0;
                } else {
                    prompt_key(&v, ch);
                }
            } else if (v.help || overlay) {
                if (ch == 27 || ch == 'q' || ch == '?' || ch == '\n' || ch == 'e') {
                    v.help = false;
                    free(overlay);
                    overlay = NULL;
                    v.overlay = NULL;
                }
            } else if (ch == 'q') {
                break;
            } else if (ch == '?') {
                v.help = true;
            } else if (ch == 'g') {
                v.prompt_open = true;
                v.prompt[0] = '\0';
                tui_model_lock(&a->model);
                a->model.status[0] = '\0';
                tui_model_unlock(&a->model);
            } else if (ch == 'b') {
                burst(a);
            } else if (ch == '\t') {
                v.focus = (enum tui_focus)((v.focus + 1) % FOCUS_COUNT);
            } else if (ch == KEY_BTAB) {
                v.focus = (enum tui_focus)((v.focus + FOCUS_COUNT - 1) % FOCUS_COUNT);
            } else if (ch == KEY_UP) {
                if (v.sel[v.focus] > 0)
                    v.sel[v.focus]--;
            } else if (ch == KEY_DOWN) {
                v.sel[v.focus]++;
            } else if ((ch == 'e' || ch == '\n') && v.focus == FOCUS_SCALERS) {
                tui_model_lock(&a->model);
                overlay = explain_text(&a->model, v.sel[FOCUS_SCALERS]);
                tui_model_unlock(&a->model);
                v.overlay = overlay;
            }
        }
        /* A selected meme made elsewhere: look its image up once. */
        char fetch_id[72] = "";
        tui_model_lock(&a->model);
        if (v.focus == FOCUS_MEMES && v.sel[FOCUS_MEMES] < (int)a->model.nmemes) {
            const struct tui_meme *e = &a->model.memes[v.sel[FOCUS_MEMES]];
            if (e->state == MEME_DONE && !have_image(a, e->id) && strcmp(a->fetched, e->id) != 0)
                snprintf(fetch_id, sizeof(fetch_id), "%s", e->id);
        }
        tui_model_unlock(&a->model);
        if (fetch_id[0]) {
            snprintf(a->fetched, sizeof(a->fetched), "%s", fetch_id);
            fetch_result(a, fetch_id);
        }
        tui_model_lock(&a->model);
        size_t limits[FOCUS_COUNT] = {a->model.nscalers + a->model.has_local, a->model.nworkers,
                                      a->model.nmemes};
        for (int f = 0; f < FOCUS_COUNT; f++)
            if (v.sel[f] >= (int)limits[f])
                v.sel[f] = limits[f] ? (int)limits[f] - 1 : 0;
        if (!dirty && a->model.version == drawn) {
            tui_model_unlock(&a->model);
            continue;
        }
        v.now = tui_now();
        const char *title = NULL;
        const struct image_slot *img = preview_image(a, &v, &title);
        char title_buf[96];
        snprintf(title_buf, sizeof(title_buf), "Meme %.8s", title ? title : "");
        v.preview_title = img ? title_buf : "Preview";
        v.preview_note = img ? NULL : "select a finished meme, or press g to make one";
        tui_draw(&a->model, &v, &c);
        drawn = a->model.version;
        /* Copy what paint needs: the slot may be replaced by a reply. */
        struct image_slot shown = {0};
        if (img) {
            shown = *img;
            shown.data = xmalloc(img->len);
            memcpy(shown.data, img->data, img->len);
        }
        tui_model_unlock(&a->model);
        dirty = false;
        erase();
        blit(&c, color);
        refresh();
        /* The image is written past curses, which may rewrite any line it
         * updates, blank cells included: write it again after every refresh
         * (encoded once per image and size; redraws happen about once a second
         * when idle). */
        if (img && !v.help && !v.overlay)
            paint(&painter, &shown, v.preview);
        else if (painter.placed)
            unpaint(&painter, false);
        free(shown.data);
    }
    __atomic_store_n(&a->stop, 1, __ATOMIC_RELEASE);
    pthread_join(a->poller, NULL);
    unpaint(&painter, true);
    endwin();
    free(overlay);
    buf_release(&painter.bytes);
    buf_release(&painter.once);
    canvas_free(&c);
    app_close(a);
    free(a);
    return rc;
}
