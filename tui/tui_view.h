/*
 * The dashboard's views: pure functions that draw a model into a canvas (a
 * grid of cells with attributes). The terminal front end copies the canvas
 * to ncurses; `memectl tui --dump` and the tests print it as text.
 */
#ifndef MEMECTL_TUI_VIEW_H
#define MEMECTL_TUI_VIEW_H

#include <stdbool.h>
#include <stdint.h>

#include "tui/tui_model.h"

enum { TUI_BOLD = 1, TUI_DIM = 2, TUI_REVERSE = 4 };
enum { TUI_DEFAULT, TUI_RED, TUI_GREEN, TUI_YELLOW, TUI_BLUE, TUI_MAGENTA, TUI_CYAN };

struct cell {
    char ch[5]; /* one UTF-8 character, "" for the right half of a wide one */
    uint8_t attr;
    uint8_t color;
};

struct canvas {
    int w, h;
    struct cell *cells;
};

void canvas_init(struct canvas *c, int w, int h);
void canvas_free(struct canvas *c);
void canvas_clear(struct canvas *c);
/* Writes UTF-8 text at (x, y), at most maxw columns; returns the columns used. */
int canvas_text(struct canvas *c, int x, int y, int maxw, const char *text, uint8_t attr,
                uint8_t color);
void canvas_box(struct canvas *c, int x, int y, int w, int h, const char *title, bool focused);
/* The canvas as lines of text, trailing spaces trimmed (a new string). */
char *canvas_to_text(const struct canvas *c);

enum tui_focus { FOCUS_SCALERS, FOCUS_WORKERS, FOCUS_MEMES, FOCUS_COUNT };

struct rect {
    int x, y, w, h;
};

struct tui_view_state {
    double now;
    enum tui_focus focus;
    int sel[FOCUS_COUNT]; /* selected row per panel */
    bool help;
    bool prompt_open;
    char prompt[512];
    const char *overlay;       /* text shown in a box over everything (explain), or NULL */
    const char *preview_title; /* what the preview shows, or NULL */
    const char *preview_note;  /* text inside the preview when there is no image */
    struct rect preview;       /* out: the preview's interior, for the image */
};

/* Draws the whole screen. */
void tui_draw(const struct tui_model *m, struct tui_view_state *v, struct canvas *c);

#endif
