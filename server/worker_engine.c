/*
 * The engines behind one interface, listed in one table: "local" (the
 * offline renderer of lib/render/render.c) and "hf" (Hugging Face text-to-image,
 * present when a token is configured). The job code knows only this table.
 */
#include "render/caption.h"
#include "mq/proto.h"
#include "worker.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool worker_engine_keepalive(struct engine_call *call)
{
    /* A lost lease: another worker may be making this meme now. */
    return !atomic_load(&call->w->abandon) && !worker_lease_lost(call->w, call->lease);
}

void engine_output_release(struct engine_output *out)
{
    if (!out)
        return;
    free(out->data);
    memset(out, 0, sizeof(*out));
}

static int local_run(struct engine_call *call, const struct engine_input *in,
                     struct engine_output *out, struct meme_err *err)
{
    struct render_result res = {0};
    struct render_opts ro = {
        .prompt = in->prompt,
        .top = in->top,
        .bottom = in->bottom,
        .template_name = in->template_name,
        .width = in->size,
        .height = in->size,
        .format = in->format,
    };
    int rc = renderer_render(call->slot->renderer, &ro, &res, err);
    if (rc < 0)
        return rc;
    out->data = res.data;
    out->len = res.len;
    out->width = res.width;
    out->height = res.height;
    out->format = res.format;
    snprintf(out->template_name, sizeof(out->template_name), "%s", res.template_name);
    res.data = NULL;
    render_result_release(&res);
    return 0;
}

static bool hf_available(struct worker *w)
{
    return w->cfg.hf_token != NULL;
}

/* The fast model for fast_mode and small images, as the original design did. */
static const char *hf_model(struct worker *w, const struct engine_input *in)
{
    return in->fast_mode || in->size <= PROTO_SIZE_DEFAULT ? w->cfg.hf_fast_model : w->cfg.hf_model;
}

static bool hf_progress(void *arg)
{
    return worker_engine_keepalive(arg);
}

/* Tells the client why it waits: the API said "later", or did not answer. */
static void hf_retrying(void *arg, const struct hf_retry *r)
{
    struct engine_call *call = arg;
    struct proto_progress p = {.state = PROTO_PROGRESS_RETRYING,
                               .engine_try = r->attempt,
                               .code = r->code,
                               .retry_in_ms = r->wait_ms};
    snprintf(p.message, sizeof(p.message), "Hugging Face: %s", r->reason);
    worker_lease_progress(call->w, call->lease, &p);
}

/* Asks Hugging Face for the picture, then decodes it (never trusting the
 * bytes), scales it to the requested square, draws the captions the client
 * asked for and encodes it as asked. */
static int hf_run(struct engine_call *call, const struct engine_input *in,
                  struct engine_output *out, struct meme_err *err)
{
    struct worker *w = call->w;
    uint8_t *raw = NULL;
    size_t len = 0;
    struct meme_image *img = NULL, *scaled = NULL;
    struct hf_stats st;
    const char *model = hf_model(w, in);
    struct hf_request hr = {.model = model,
                            .prompt = in->prompt && *in->prompt ? in->prompt : in->top,
                            .width = in->size,
                            .height = in->size,
                            .has_seed = in->has_seed,
                            .seed = in->seed,
                            .deadline_ms = call->deadline_ms,
                            .on_retry = hf_retrying};
    int rc = hf_generate(call->slot->hf, &hr, hf_progress, call, &raw, &len, &st, err);
    if (rc < 0)
        goto out;
    img = image_decode(raw, len, err);
    if (!img) {
        rc = meme_err_set(err, MEME_E_RENDER,
                          "Hugging Face model \"%s\" sent an image that does not decode: %s", model,
                          err->msg);
        goto out;
    }
    struct meme_image *use = img;
    if (img->width != in->size || img->height != in->size) {
        scaled = image_scale(img, in->size, in->size);
        use = scaled;
    }
    /* Caption text the client asked for goes on the picture, as on a local meme. */
    if (in->captions &&
        (rc = renderer_caption(call->slot->renderer, use, in->top, in->bottom, err)) < 0)
        goto out;
    rc = image_encode(use, in->format, &out->data, &out->len, err);
    if (rc < 0)
        goto out;
    out->width = use->width;
    out->height = use->height;
    out->format = in->format;
    snprintf(out->template_name, sizeof(out->template_name), "%s", "");
    snprintf(out->model, sizeof(out->model), "%s", model);
out:
    image_free(scaled);
    image_free(img);
    free(raw);
    return rc;
}

struct engine_entry {
    const char *name;
    bool (*available)(struct worker *w);
    const char *(*model)(struct worker *w, const struct engine_input *in);
    int (*run)(struct engine_call *call, const struct engine_input *in, struct engine_output *out,
               struct meme_err *err);
};

static bool local_available(struct worker *w)
{
    (void)w;
    return true;
}

static const char *no_model(struct worker *w, const struct engine_input *in)
{
    (void)w;
    (void)in;
    return "";
}

static const struct engine_entry engines[] = {
    {"local", local_available, no_model, local_run},
    {"hf", hf_available, hf_model, hf_run},
};

#define NENGINES (sizeof(engines) / sizeof(engines[0]))

static const struct engine_entry *find(const char *name)
{
    for (size_t i = 0; i < NENGINES; i++)
        if (strcmp(engines[i].name, name) == 0)
            return &engines[i];
    return NULL;
}

const char *worker_engine_list(struct worker *w)
{
    static _Thread_local char list[128];
    size_t n = 0;
    list[0] = '\0';
    for (size_t i = 0; i < NENGINES; i++)
        if (engines[i].available(w))
            n +=
                (size_t)snprintf(list + n, sizeof(list) - n, "%s%s", n ? "," : "", engines[i].name);
    return list;
}

bool worker_engine_available(struct worker *w, const char *name, char *why, size_t whysz)
{
    const struct engine_entry *e = find(name);
    if (e && e->available(w))
        return true;
    if (e && strcmp(name, "hf") == 0)
        snprintf(why, whysz,
                 "engine \"hf\" is not configured on this worker (it needs HF_API_TOKEN); "
                 "available: %s",
                 worker_engine_list(w));
    else
        snprintf(why, whysz, "engine \"%.64s\" is not available on this worker (available: %s)",
                 name, worker_engine_list(w));
    return false;
}

const char *worker_engine_model(struct worker *w, const char *engine, const struct engine_input *in)
{
    const struct engine_entry *e = find(engine);
    return e ? e->model(w, in) : "";
}

int worker_engine_run(struct engine_call *call, const char *engine, const struct engine_input *in,
                      struct engine_output *out, struct meme_err *err)
{
    const struct engine_entry *e = find(engine);
    if (!e || !e->available(call->w))
        return meme_err_set(err, MEME_E_UNKNOWN_ENGINE, "engine \"%.64s\" is not available",
                            engine);
    return e->run(call, in, out, err);
}
