/*
 * What the gateway knows about the memes it is waiting for: the latest
 * progress message a worker sent on each POST's private inbox (working,
 * retrying and why, queued again), so that GET /api/v1/memes/{id}/status
 * can tell a page why it waits. Bounded by the connection limit: an entry
 * lives exactly as long as its POST waits.
 */
#include "buf.h"
#include "clock.h"
#include "gateway.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct gw_wait {
    char id[PROTO_ID_MAX + 1];
    double since_s; /* monotonic */
    bool have;      /* a progress message came */
    struct proto_progress last;
    struct gw_wait *next;
};

struct gw_progress {
    pthread_mutex_t lock;
    struct gw_wait *head;
};

struct gw_progress *gateway_progress_new(void)
{
    struct gw_progress *p = xcalloc(1, sizeof(*p));
    pthread_mutex_init(&p->lock, NULL);
    return p;
}

void gateway_progress_free(struct gw_progress *p)
{
    if (!p)
        return;
    while (p->head) {
        struct gw_wait *n = p->head->next;
        free(p->head);
        p->head = n;
    }
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void gateway_progress_begin(struct gw_progress *p, const char *id)
{
    struct gw_wait *e = xcalloc(1, sizeof(*e));
    snprintf(e->id, sizeof(e->id), "%s", id);
    e->since_s = clock_now_s();
    pthread_mutex_lock(&p->lock);
    e->next = p->head;
    p->head = e;
    pthread_mutex_unlock(&p->lock);
}

void gateway_progress_end(struct gw_progress *p, const char *id)
{
    pthread_mutex_lock(&p->lock);
    for (struct gw_wait **pp = &p->head; *pp; pp = &(*pp)->next)
        if (strcmp((*pp)->id, id) == 0) {
            struct gw_wait *e = *pp;
            *pp = e->next;
            free(e);
            break;
        }
    pthread_mutex_unlock(&p->lock);
}

bool gateway_progress_update(struct gw_progress *p, const char *id, natsMsg *m)
{
    const char *st = NULL;
    if (natsMsgHeader_Get(m, PROTO_H_STATUS, &st) != NATS_OK || !st || strcmp(st, "progress") != 0)
        return false;
    struct proto_progress pr;
    if (proto_progress_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &pr) < 0)
        return true; /* a progress message all the same: never the answer */
    pthread_mutex_lock(&p->lock);
    for (struct gw_wait *e = p->head; e; e = e->next)
        if (strcmp(e->id, id) == 0) {
            e->last = pr;
            e->have = true;
            break;
        }
    pthread_mutex_unlock(&p->lock);
    return true;
}

bool gateway_progress_json(struct gw_progress *p, const char *id, struct buf *out)
{
    bool found = false;
    json_t *o = json_object();
    pthread_mutex_lock(&p->lock);
    for (struct gw_wait *e = p->head; e; e = e->next) {
        if (strcmp(e->id, id) != 0)
            continue;
        found = true;
        json_object_set_new(o, "id", json_string(e->id));
        json_object_set_new(
            o, "state", json_string(e->have ? proto_progress_state_name(e->last.state) : "queued"));
        json_object_set_new(o, "waiting_ms",
                            json_integer((json_int_t)((clock_now_s() - e->since_s) * 1000)));
        if (e->have) {
            char text[512];
            proto_progress_text(&e->last, text, sizeof(text));
            json_object_set_new(o, "message", json_string(text));
            json_object_set_new(o, "worker", json_string(e->last.worker));
            json_object_set_new(o, "attempt", json_integer(e->last.attempt));
            json_object_set_new(o, "max_attempts", json_integer(e->last.max_attempts));
            if (e->last.code)
                json_object_set_new(o, "code", json_string(meme_code_name(e->last.code)));
            if (e->last.state == PROTO_PROGRESS_RETRYING)
                json_object_set_new(o, "retry_in_ms",
                                    json_integer((json_int_t)e->last.retry_in_ms));
        } else {
            json_object_set_new(o, "message", json_string("queued: waiting for a worker"));
        }
        break;
    }
    pthread_mutex_unlock(&p->lock);
    if (found) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        buf_puts(out, s);
        buf_putc(out, '\n');
        free(s);
    }
    json_decref(o);
    return found;
}
