/*
 * The dashboard's entry point: memectl's tui command fills the options and
 * hands over. The model (tui_model.h) and the views (tui_view.h) sit beside
 * it in this folder.
 */
#ifndef MEME_TUI_H
#define MEME_TUI_H

#include "mq/mq.h"
#include "term/term.h"

#include <stdbool.h>

struct tui_opts {
    struct mq_connect_opts nats; /* the server and credentials; reconnect is added */
    const char *kube_context;    /* NULL: the kubeconfig's current context */
    const char *kube_namespace;  /* NULL: the stack's namespaces */
    int burst;                   /* requests the b key sends (default 20) */
    bool dump;                   /* print one frame as text and return */
    int columns, lines;          /* the frame's size with dump */
    enum term_display display;   /* how to draw the selected meme (auto: detect) */
};

/* Runs the dashboard on the terminal of stdin/stdout until q or a signal
 * (or, with dump, prints one frame). The terminal must be checked by the
 * caller. 0, or 1 when it could not run. */
int tui_run(const struct tui_opts *o);

#endif
