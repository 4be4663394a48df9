/*
 * memectl gen: publish one request through JetStream (with Nats-Msg-Id, so a
 * retried publish is not processed twice), wait on a private reply subject
 * for the raw image, save it without ever leaving a partial file, and draw
 * it in the terminal. Meanwhile the worker's progress messages (working,
 * retrying and why, queued again) go to stderr: one updating line on a
 * terminal, a line per change otherwise, nothing with --quiet.
 */
#include "clock.h"
#include "cli.h"
#include "render/image.h"
#include "mq/proto.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    GEN_OUTPUT = 'o',
    GEN_TEMPLATE = 't',
    GEN_TOP = 1000,
    GEN_BOTTOM,
    GEN_SIZE,
    GEN_FORMAT,
    GEN_FAST,
    GEN_DISPLAY,
    GEN_TIMEOUT,
    GEN_JSON,
    GEN_NO_WAIT,
    GEN_ENGINE,
};

const struct opt_spec gen_opts[] = {
    {GEN_OUTPUT, 'o', "output", "FILE", "save to FILE (\"-\" for stdout); default meme-ID.EXT",
     NULL},
    {GEN_TEMPLATE, 't', "template", "NAME", "background template (see `memectl templates`)",
     "@templates"},
    {GEN_TOP, 0, "top", "TEXT", "top caption (else taken from PROMPT)", NULL},
    {GEN_BOTTOM, 0, "bottom", "TEXT", "bottom caption (else taken from PROMPT)", NULL},
    {GEN_SIZE, 0, "size", "PIXELS", "square size, 64 to 2048 (default 512)", "512 1024"},
    {GEN_FORMAT, 0, "format", "FORMAT", "png or jpeg (default png)", "png jpeg"},
    {GEN_ENGINE, 0, "engine", "NAME", "image engine (default: the worker's)", "local hf"},
    {GEN_FAST, 0, "fast", NULL, "ask for the fast model (fast_mode)", NULL},
    {GEN_DISPLAY, 0, "display", "MODE",
     "how to draw the meme: auto, kitty, iterm2, sixel, blocks or none (default auto)",
     "auto kitty iterm2 sixel blocks none"},
    {GEN_TIMEOUT, 0, "timeout", "SECONDS", "how long to wait for the meme (default 120)", NULL},
    {GEN_JSON, 0, "json", NULL, "print what was made as JSON on stdout", NULL},
    {GEN_NO_WAIT, 0, "no-wait", NULL,
     "queue the request, print its id and return (fetch it with `memectl get ID`)", NULL},
    {0, 0, NULL, NULL, NULL, NULL},
};

struct gen_args {
    const char *output;
    const char *template_name;
    const char *top;
    const char *bottom;
    const char *engine;
    int size;
    enum image_format format;
    bool fast;
    enum term_display display;
    double timeout_s;
    bool json;
    bool no_wait;
    char *prompt; /* owned */
};

struct gen_reply {
    natsMsg *msg;
    const char *content_type;
    const char *template_name;
    const char *worker;
    const char *cache;
    const char *queue_ms;
    const char *gen_ms;
    int width, height;
};

static int parse_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static char *read_stdin_prompt(void)
{
    struct buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0 && b.len <= PROTO_PROMPT_MAX * 4)
        buf_append(&b, chunk, n);
    while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == '\r'))
        b.data[--b.len] = '\0';
    if (!b.data)
        return xstrdup("");
    return (char *)buf_detach(&b, NULL);
}

static int parse_gen_args(struct cli *cli, int argc, char **argv, struct gen_args *a)
{
    struct opt_iter it;
    long v;
    int rc = 0, r;
    const struct cmd_spec *cmd = cli->cmd;

    memset(a, 0, sizeof(*a));
    a->size = PROTO_SIZE_DEFAULT;
    a->timeout_s = 120;
    /* Defaults from the environment or the config file; flags override them. */
    if (cli_display_setting(cmd, NULL, &a->display))
        return EXIT_USAGE;
    const char *cfg_size = config_get(CFG_SIZE);
    if (cfg_size && *cfg_size) {
        if (parse_int(cfg_size, 64, 2048, &v) < 0) {
            cli_error("size \"%s\" (from %s) is not a number from 64 to 2048", cfg_size,
                      config_source(CFG_SIZE));
            return EXIT_USAGE;
        }
        a->size = (int)v;
    }
    opt_init(&it, cmd, argc, argv);
    while ((r = opt_next(&it)) > 0) {
        switch (it.key) {
        case 'h':
            rc = -1;
            goto out;
        case GEN_OUTPUT:
            a->output = it.value;
            break;
        case GEN_TEMPLATE:
            a->template_name = it.value;
            break;
        case GEN_TOP:
            a->top = it.value;
            break;
        case GEN_BOTTOM:
            a->bottom = it.value;
            break;
        case GEN_ENGINE:
            a->engine = it.value;
            break;
        case GEN_SIZE:
            if (parse_int(it.value, 64, 2048, &v) < 0) {
                cmd_usage_error(cmd, "--size must be a whole number from 64 to 2048, not \"%s\"",
                                it.value);
                rc = EXIT_USAGE;
                goto out;
            }
            a->size = (int)v;
            break;
        case GEN_FORMAT:
            if (strcmp(it.value, "png") == 0) {
                a->format = IMAGE_PNG;
            } else if (strcmp(it.value, "jpeg") == 0 || strcmp(it.value, "jpg") == 0) {
                a->format = IMAGE_JPEG;
            } else {
                cmd_usage_error(cmd, "--format must be png or jpeg, not \"%s\"", it.value);
                rc = EXIT_USAGE;
                goto out;
            }
            break;
        case GEN_FAST:
            a->fast = true;
            break;
        case GEN_DISPLAY:
            if (cli_display_setting(cmd, it.value, &a->display)) {
                rc = EXIT_USAGE;
                goto out;
            }
            break;
        case GEN_TIMEOUT: {
            char *end;
            double t = strtod(it.value, &end);
            if (end == it.value || *end || !(t > 0 && t <= 86400)) {
                cmd_usage_error(cmd, "--timeout must be a number of seconds, not \"%s\"", it.value);
                rc = EXIT_USAGE;
                goto out;
            }
            a->timeout_s = t;
            break;
        }
        case GEN_JSON:
            a->json = true;
            break;
        case GEN_NO_WAIT:
            a->no_wait = true;
            break;
        }
    }
    if (r < 0) {
        rc = EXIT_USAGE;
        goto out;
    }
    if (it.npositional == 1 && strcmp(it.positional[0], "-") == 0) {
        a->prompt = read_stdin_prompt();
    } else if (it.npositional > 0) {
        struct buf b = BUF_INIT;
        for (int i = 0; i < it.npositional; i++) {
            if (i)
                buf_putc(&b, ' ');
            buf_puts(&b, it.positional[i]);
        }
        a->prompt = (char *)buf_detach(&b, NULL);
    } else if (!a->top && !a->bottom) {
        cmd_usage_error(cmd, "no prompt given");
        rc = EXIT_USAGE;
        goto out;
    } else {
        a->prompt = xstrdup("");
    }
    size_t plen = strlen(a->prompt);
    if (plen > PROTO_PROMPT_MAX) {
        cli_error("the prompt is %zu bytes; the limit is %d", plen, PROTO_PROMPT_MAX);
        rc = EXIT_USAGE;
        goto out;
    }
    if (!proto_utf8_valid(a->prompt, plen)) {
        cli_error("the prompt is not valid UTF-8");
        rc = EXIT_USAGE;
        goto out;
    }
    if ((a->top && strlen(a->top) > PROTO_CAPTION_MAX) ||
        (a->bottom && strlen(a->bottom) > PROTO_CAPTION_MAX)) {
        cli_error("a caption is longer than %d bytes", PROTO_CAPTION_MAX);
        rc = EXIT_USAGE;
        goto out;
    }
    if (a->output && strcmp(a->output, "-") == 0 && isatty(1)) {
        cli_error("refusing to write image bytes to a terminal; use -o FILE or a pipe");
        rc = EXIT_USAGE;
        goto out;
    }
out:
    opt_release(&it);
    if (rc) {
        free(a->prompt);
        a->prompt = NULL;
    }
    return rc;
}

static void spinner(const struct cli *cli, double elapsed, const struct mq_depth *d, bool have_d,
                    const char *progress)
{
    static const char *const frames[] = {"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"};
    int f = (int)(elapsed * 10) % 10;
    if (progress && *progress)
        fprintf(stderr, "\r\033[K%s %.1fs %s", frames[f], elapsed, progress);
    else if (have_d)
        fprintf(stderr, "\r\033[K%s waiting for a worker… %.1fs (queue: %llu)", frames[f], elapsed,
                (unsigned long long)d->lag);
    else
        fprintf(stderr, "\r\033[K%s making the meme… %.1fs", frames[f], elapsed);
    (void)cli;
}

static const char *hdr(natsMsg *m, const char *key)
{
    const char *v = NULL;
    if (natsMsgHeader_Get(m, key, &v) != NATS_OK)
        return NULL;
    return v;
}

/* A progress message as one line for a person (terminal-safe), in out;
 * false when m is not a progress message. */
static bool progress_line(natsMsg *m, char *out, size_t outsz)
{
    const char *st = hdr(m, PROTO_H_STATUS);
    if (!st || strcmp(st, "progress") != 0)
        return false;
    struct proto_progress p;
    char text[512];
    if (proto_progress_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &p) < 0)
        snprintf(text, sizeof(text), "%s", "working");
    else
        proto_progress_text(&p, text, sizeof(text));
    char *safe = term_sanitize_dup(text);
    snprintf(out, outsz, "%s", safe);
    free(safe);
    return true;
}

static int explain_timeout(struct mq_conn *mq, double timeout_s, const char *id)
{
    struct mq_depth d;
    struct meme_err err = {0};
    if (mq_depth(mq, PROTO_STREAM, PROTO_CONSUMER, &d, &err) < 0) {
        cli_error("no meme came back within %.0f s, and the queue cannot be read: %s", timeout_s,
                  err.msg);
        return EXIT_TIMEOUT;
    }
    if (d.waiting == 0 && d.ack_pending == 0)
        cli_error("no worker answered within %.0f s: no worker is pulling from consumer "
                  "\"%s\" and %llu request(s) are queued (start one with `memectl up` or "
                  "meme-worker; the request stays queued: fetch it later with "
                  "`memectl get %s`)",
                  timeout_s, PROTO_CONSUMER, (unsigned long long)d.lag, id);
    else
        cli_error("timed out after %.0f s with %llu request(s) in the queue (%lld in progress); "
                  "workers are busy. The meme will still be made: fetch it later with "
                  "`memectl get %s`, raise --timeout or add workers",
                  timeout_s, (unsigned long long)d.pending, (long long)d.ack_pending, id);
    return EXIT_TIMEOUT;
}

static void print_json(const struct gen_args *a, const struct proto_request *req, const char *path,
                       const struct gen_reply *r, size_t bytes, double total)
{
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(req->id));
    json_object_set_new(o, "file", path ? json_string(path) : json_null());
    json_object_set_new(o, "content_type", json_string(r->content_type ? r->content_type : ""));
    json_object_set_new(o, "width", json_integer(r->width));
    json_object_set_new(o, "height", json_integer(r->height));
    json_object_set_new(o, "bytes", json_integer((json_int_t)bytes));
    json_object_set_new(o, "template", json_string(r->template_name ? r->template_name : ""));
    json_object_set_new(o, "worker", json_string(r->worker ? r->worker : ""));
    json_object_set_new(o, "cache", json_string(r->cache ? r->cache : ""));
    json_object_set_new(o, "queue_ms", json_real(r->queue_ms ? atof(r->queue_ms) : 0));
    json_object_set_new(o, "gen_ms", json_real(r->gen_ms ? atof(r->gen_ms) : 0));
    json_object_set_new(o, "total_ms", json_real(total * 1000.0));
    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6) | JSON_ENSURE_ASCII);
    fputc('\n', stdout);
    json_decref(o);
    (void)a;
}

/* Turns an error reply into a message and exit code. */
static int report_error_reply(natsMsg *m)
{
    int code = MEME_E_INTERNAL;
    char *message = NULL;
    if (proto_error_parse(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), &code, &message) <
        0) {
        cli_error("the worker sent an error reply that could not be read");
        return EXIT_FAIL;
    }
    char *safe = term_sanitize_dup(message);
    cli_error("the worker could not make this meme: %s (%s)", safe, meme_code_name(code));
    free(safe);
    free(message);
    return EXIT_FAIL;
}

int cmd_gen(struct cli *cli, int argc, char **argv)
{
    struct gen_args a;
    struct mq_conn mq = {0};
    struct proto_request req;
    struct meme_err err = {0};
    natsSubscription *sub = NULL;
    natsInbox *inbox = NULL;
    char *path = NULL;
    struct gen_reply reply = {0};
    int rc;
    char red[512];

    proto_request_init(&req);
    rc = parse_gen_args(cli, argc, argv, &a);
    if (rc)
        return rc < 0 ? EXIT_OK : rc;
    double t0 = clock_now_s();

    cli_resolve_server(cli);
    mq_url_redacted(cli->server, red, sizeof(red));
    struct mq_connect_opts co;
    cli_connect_opts(cli, &co, "memectl gen");
    if (mq_connect(&mq, &co, &err) < 0) {
        cli_error("%s", err.msg);
        rc = cli_exit_for(err.code);
        goto out;
    }

    /* The private reply subject exists before the request does. */
    natsInbox_Create(&inbox);
    if (natsConnection_SubscribeSync(&sub, mq.nc, inbox) != NATS_OK) {
        cli_error("cannot subscribe on %s: %s", red, nats_GetLastError(NULL));
        rc = EXIT_FAIL;
        goto out;
    }
    proto_new_id(req.id);
    req.prompt = xstrdup(a.prompt);
    req.top = a.top ? xstrdup(a.top) : NULL;
    req.bottom = a.bottom ? xstrdup(a.bottom) : NULL;
    if (a.template_name)
        snprintf(req.template_name, sizeof(req.template_name), "%s", a.template_name);
    if (a.engine)
        snprintf(req.engine, sizeof(req.engine), "%s", a.engine);
    req.fast_mode = a.fast;
    req.size = a.size;
    req.format = a.format;
    req.reply = xstrdup(inbox);
    req.progress = true;
    rc = mq_publish_request(&mq, &req, 0, &err);
    if (rc < 0) {
        cli_error("%s (server %s)", err.msg, red);
        rc = EXIT_FAIL;
        goto out;
    }
    rc = 0;
    if (a.no_wait) {
        /* Stored in the stream: a worker makes it and keeps the result by id. */
        if (a.json)
            printf("{\"id\":\"%s\",\"queued\":true}\n", req.id);
        else
            printf("%s\n", req.id);
        cli_info(cli, "queued; fetch it with `memectl get %s`", req.id);
        rc = EXIT_OK;
        goto out;
    }

    bool show_spinner = isatty(2) && !cli->quiet;
    char said[512] = "";
    struct mq_depth depth;
    bool have_depth = false;
    double next_depth = t0 + 1.0, deadline = t0 + a.timeout_s;
    for (;;) {
        double now = clock_now_s();
        if (now >= deadline) {
            if (show_spinner)
                fputs("\r\033[K", stderr);
            rc = explain_timeout(&mq, a.timeout_s, req.id);
            goto out;
        }
        int64_t wait_ms = show_spinner ? 100 : (int64_t)((deadline - now) * 1000) + 1;
        if (wait_ms > 100 && show_spinner)
            wait_ms = 100;
        natsStatus s = natsSubscription_NextMsg(&reply.msg, sub, wait_ms);
        char line[512];
        if (s == NATS_OK && progress_line(reply.msg, line, sizeof(line))) {
            natsMsg_Destroy(reply.msg);
            reply.msg = NULL;
            /* Off a terminal, a line when what the worker says changes (not
             * for every "still working"). */
            if (!show_spinner && !cli->quiet && strcmp(line, said) != 0)
                cli_info(cli, "%s", line);
            snprintf(said, sizeof(said), "%s", line);
            continue;
        }
        if (s == NATS_OK)
            break;
        if (s != NATS_TIMEOUT) {
            if (show_spinner)
                fputs("\r\033[K", stderr);
            cli_error("lost the connection to %s while waiting: %s (the request stays queued; "
                      "fetch it later by id %s)",
                      red, natsStatus_GetText(s), req.id);
            rc = EXIT_UNREACHABLE;
            goto out;
        }
        if (show_spinner) {
            if (now >= next_depth) {
                have_depth = mq_depth(&mq, PROTO_STREAM, PROTO_CONSUMER, &depth, NULL) == 0;
                next_depth = now + 1.0;
            }
            spinner(cli, now - t0, &depth, have_depth && depth.lag > 1, said);
        }
    }
    if (show_spinner)
        fputs("\r\033[K", stderr);

    const char *status = hdr(reply.msg, PROTO_H_STATUS);
    if (!status || strcmp(status, "ok") != 0) {
        rc = report_error_reply(reply.msg);
        goto out;
    }
    reply.content_type = hdr(reply.msg, PROTO_H_CONTENT_TYPE);
    reply.template_name = hdr(reply.msg, PROTO_H_TEMPLATE);
    reply.worker = hdr(reply.msg, PROTO_H_WORKER);
    reply.cache = hdr(reply.msg, PROTO_H_CACHE);
    reply.queue_ms = hdr(reply.msg, PROTO_H_QUEUE_MS);
    reply.gen_ms = hdr(reply.msg, PROTO_H_GEN_MS);
    const char *w = hdr(reply.msg, PROTO_H_WIDTH), *h = hdr(reply.msg, PROTO_H_HEIGHT);
    reply.width = w ? atoi(w) : 0;
    reply.height = h ? atoi(h) : 0;

    const uint8_t *data = (const uint8_t *)natsMsg_GetData(reply.msg);
    size_t len = (size_t)natsMsg_GetDataLength(reply.msg);
    int fmt = image_sniff(data, len);
    if (fmt < 0) {
        cli_error("the worker's reply is not a PNG or JPEG image (%zu bytes)", len);
        rc = EXIT_FAIL;
        goto out;
    }
    if (a.output)
        path = xstrdup(a.output);
    else
        path = xasprintf("meme-%.8s.%s", req.id, image_extension((enum image_format)fmt));
    int src = cli_save_file(path, data, len);
    if (src < 0) {
        cli_error("cannot write \"%s\": %s", path, strerror(-src));
        rc = EXIT_FAIL;
        goto out;
    }
    double total = clock_now_s() - t0;
    bool to_stdout = strcmp(path, "-") == 0;
    if (!to_stdout && !a.json)
        cli_show_image(cli, a.display, data, len);
    if (a.json) {
        print_json(&a, &req, to_stdout ? NULL : path, &reply, len, total);
    } else if (!to_stdout) {
        char *tmpl = term_sanitize_dup(reply.template_name ? reply.template_name : "?");
        char *wk = term_sanitize_dup(reply.worker ? reply.worker : "?");
        cli_info(cli, "saved %s (%dx%d, %zu KB) in %.0f ms · template %s · worker %s", path,
                 reply.width, reply.height, (len + 1023) / 1024, total * 1000.0, tmpl, wk);
        free(tmpl);
        free(wk);
        if (!isatty(1))
            printf("%s\n", path);
    }
    rc = EXIT_OK;
out:
    natsMsg_Destroy(reply.msg);
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    natsInbox_Destroy(inbox);
    mq_close(&mq);
    free(path);
    free(a.prompt);
    proto_request_release(&req);
    return rc;
}
