/*
 * Terminal graphics and text safety: deciding how a meme can be drawn on the
 * terminal (environment, then terminal queries), encoding it for the kitty
 * graphics protocol, iTerm2 inline images, sixel (libsixel) or coloured half
 * blocks, wrapping graphics for tmux, and stripping control sequences from
 * text that came from the network.
 *
 * Encoders append to a struct buf; the caller decides where bytes go.
 */
#ifndef MEME_TERM_H
#define MEME_TERM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "render/image.h"

enum term_display {
    TERM_DISPLAY_AUTO = 0,
    TERM_DISPLAY_KITTY,  /* kitty graphics protocol (kitty, Ghostty, Konsole) */
    TERM_DISPLAY_ITERM2, /* OSC 1337 inline images (iTerm2, WezTerm) */
    TERM_DISPLAY_SIXEL,
    TERM_DISPLAY_BLOCKS, /* half blocks, 24-bit or xterm-256 colour */
    TERM_DISPLAY_NONE,
    TERM_DISPLAY_COUNT
};

/* "auto", "kitty", "iterm2", "sixel", "blocks", "none" -> *out; -1 for anything else. */
int term_display_parse(const char *s, enum term_display *out);
const char *term_display_name(enum term_display d);
/* "auto, kitty, iterm2, sixel, blocks or none", for messages and help. */
const char *term_display_choices(void);

/* ---- what the environment says --------------------------------------- */

/*
 * The variables detection reads. term_env_read() fills them from the process
 * environment (borrowed pointers, NULL when unset); tests fill them by hand.
 * Inside tmux, tmux_passthrough and tmux_client_term come from asking tmux
 * (term_tmux_probe()).
 */
struct term_env {
    const char *term;            /* TERM */
    const char *term_program;    /* TERM_PROGRAM */
    const char *colorterm;       /* COLORTERM */
    const char *kitty_window_id; /* KITTY_WINDOW_ID */
    const char *konsole_version; /* KONSOLE_VERSION */
    const char *lc_terminal;     /* LC_TERMINAL (iTerm2 sets it; ssh passes LC_*) */
    const char *tmux;            /* TMUX */
    int tmux_passthrough;        /* inside tmux: 1 allowed, 0 not (or unknown) */
    char tmux_client_term[64];   /* inside tmux: the outer terminal's TERM, or "" */
};

void term_env_read(struct term_env *e);
/* Inside tmux (e->tmux set): asks tmux whether the pane allows passthrough
 * (`show-options -Apv allow-passthrough`) and for the client's TERM, waiting
 * at most timeout_ms. Leaves passthrough 0 when tmux cannot be asked. */
void term_tmux_probe(struct term_env *e, int timeout_ms);

/*
 * What the environment alone decides: KITTY, ITERM2 or AUTO (ask the
 * terminal). *truecolor is set when it says the terminal has 24-bit colour;
 * *why names the rule (a static string). Inside tmux, kitty and iTerm2 are
 * only chosen when tmux passes them through.
 */
enum term_display term_env_display(const struct term_env *e, bool *truecolor, const char **why);

/* ---- what the terminal answers ---------------------------------------- */

/*
 * The replies to one round of queries: the kitty graphics query, XTVERSION,
 * XTSMGRAPHICS (colour registers), the cell size (CSI 16 t) and the window
 * size in pixels (CSI 14 t), followed by DA1, which every terminal answers:
 * once its reply arrived, everything the terminal will say has arrived.
 */
struct term_reply {
    bool answered;      /* the DA1 reply arrived */
    bool da1_sixel;     /* DA1 lists attribute 4 */
    bool kitty;         /* the graphics query was answered OK */
    int sixel_colors;   /* XTSMGRAPHICS colour registers; 0 unknown */
    int cell_w, cell_h; /* CSI 16 t; 0 unknown */
    int win_w, win_h;   /* CSI 14 t, pixels; 0 unknown */
    char version[64];   /* XTVERSION text, sanitized; "" unknown */
};

/* True when a DA1 reply ("\033[?62;4;22c") lists attribute 4 (sixel). */
bool term_da1_has_sixel(const char *reply, size_t len);
/* Reads every reply in s (garbage and typed-ahead keys around them are
 * skipped) into *r, which starts zeroed. Linear in len. */
void term_reply_parse(const char *s, size_t len, struct term_reply *r);
/* The query bytes: with kitty false the kitty graphics query is left out
 * (consoles that do not know APC would print it). */
const char *term_query_string(bool kitty);

/*
 * Runs the queries on given descriptors (term_detect() uses /dev/tty, tests a
 * pseudo terminal): puts in_fd in raw mode, writes the queries to out_fd,
 * reads replies until DA1's arrived or timeout_ms (250 when <= 0) passed, and
 * restores in_fd's settings on every path. 0 when DA1 was answered, -1 when
 * in_fd is not a terminal or nothing complete came back in time.
 */
int term_query_on(int in_fd, int out_fd, int timeout_ms, bool kitty, struct term_reply *r);

/* ---- the decision ----------------------------------------------------- */

struct term_caps {
    enum term_display mode;
    bool truecolor;     /* half blocks in 24-bit colour */
    bool tmux;          /* wrap graphics in tmux passthrough */
    int cols, rows;     /* the window, in cells */
    int cell_w, cell_h; /* pixels per cell (guessed 10x20 when unknown) */
    const char *why;    /* which rule decided (a static string) */
};

/*
 * Decides how to draw on fd. Graphics (kitty, iTerm2, sixel) are only ever
 * written to a terminal: when fd is not one the answer is NONE, or BLOCKS
 * when want is BLOCKS (coloured text, as for `less -R`). An explicit want is
 * kept otherwise (kitty and iTerm2 fall back to blocks inside a tmux that
 * does not pass them through). AUTO: TERM=dumb draws nothing, then the
 * environment, then the terminal's answers (timeout_ms for the whole round,
 * 250 when <= 0), then half blocks. A background job never asks.
 */
void term_detect(int fd, enum term_display want, int timeout_ms, struct term_caps *caps);
/* The decision from an environment and the terminal's replies (reply may be
 * NULL: no answer); what term_detect() uses after its checks on fd. */
void term_decide(const struct term_env *e, const struct term_reply *reply, enum term_display want,
                 struct term_caps *caps);

struct term_geometry {
    int cols, rows;     /* character cells */
    int cell_w, cell_h; /* pixels per cell (guessed 10x20 when unknown) */
};

/* Size of the terminal on fd; falls back to 80x24 cells of 10x20 px. */
void term_geometry(int fd, struct term_geometry *g);

/* ---- encoders ---------------------------------------------------------- */

/* The cells (*cols x *rows, each at least 1) an iw x ih image fills when
 * fitted into max_cols x max_rows cells of cell_w x cell_h pixels. */
void term_fit_cells(int iw, int ih, int max_cols, int max_rows, int cell_w, int cell_h, int *cols,
                    int *rows);

/* Where and how a kitty or iTerm2 image goes. */
struct term_place {
    int cols, rows;           /* the box, in cells */
    int cell_w, cell_h;       /* pixels per cell */
    bool tmux;                /* wrap in tmux passthrough */
    uint32_t id;              /* kitty: image id, 0 for none */
    bool store_only;          /* kitty: transmit (a=t) without placing */
    int used_cols, used_rows; /* out: the cells the image covers */
};

/*
 * The kitty graphics protocol: the image transmitted and placed at the cursor
 * over used_cols x used_rows cells (c= and r=), the cursor left where it was
 * (C=1), no replies (q=2), in base64 chunks of at most 4096 bytes. The pixels
 * go as raw RGB (f=24), scaled down to the cells' pixels when larger, and
 * deflated (o=z) when that is smaller. Each chunk is wrapped separately for
 * tmux.
 */
int term_encode_kitty(const struct meme_image *img, struct term_place *pl, struct buf *out,
                      struct meme_err *err);
/* Places stored image id at the cursor over cols x rows cells. */
void term_kitty_place(uint32_t id, int cols, int rows, bool tmux, struct buf *out);
/* Deletes the placements of image id, and its data too when free_data. */
void term_kitty_delete(uint32_t id, bool free_data, bool tmux, struct buf *out);

/*
 * iTerm2 inline image: OSC 1337 ; File=inline=1;size=N;width=C;height=R... :
 * base64 BEL, at the cursor, sized in cells; the file is a PNG of the image
 * (scaled down to the box when larger) from our own encoder. For tmux the
 * whole sequence is wrapped once, so it is kept under tmux's 1 MiB limit by
 * scaling further when needed.
 */
int term_encode_iterm2(const struct meme_image *img, struct term_place *pl, struct buf *out,
                       struct meme_err *err);

/* Sixel for img scaled to fit max_w x max_h pixels (aspect kept). */
int term_encode_sixel(const struct meme_image *img, int max_w, int max_h, struct buf *out,
                      struct meme_err *err);
/* Half blocks (U+2580) for img scaled to fit cols x rows cells; truecolor or
 * xterm-256 colours. Every line ends with a colour reset and newline. */
int term_encode_blocks(const struct meme_image *img, int cols, int rows, bool truecolor,
                       struct buf *out);
/* True when COLORTERM says the terminal has 24-bit colour. */
bool term_has_truecolor(void);

/* Appends seq wrapped in tmux's passthrough (ESC P tmux; ... ESC \, every
 * ESC inside doubled). */
void term_tmux_wrap(const void *seq, size_t len, struct buf *out);

/*
 * The image drawn inline at the cursor per caps, for output that scrolls
 * (memectl gen and get): at most max_cols x max_rows cells and never larger
 * than the image, the space reserved first with newlines so nothing scrolls
 * under the image, the cursor left on the line below it. Inside tmux the
 * part before the image (*pre) must reach the terminal, and tmux must have
 * drawn it, before the image: the caller writes pre, calls
 * term_tmux_sync(), then writes out. Elsewhere pre is empty and out holds
 * everything.
 */
int term_draw(const struct term_caps *caps, const struct meme_image *img, int max_cols,
              int max_rows, struct buf *pre, struct buf *out, struct meme_err *err);
/* Waits until the controlling terminal (tmux) has handled everything written
 * so far: a DA1 round trip on /dev/tty of at most timeout_ms. 0, or -1
 * without an answer (or from a background job, which never asks). */
int term_tmux_sync(int timeout_ms);

/* ---- text -------------------------------------------------------------- */

/* Appends text to out with C0/C1 controls and ESC sequences (CSI, OSC, DCS,
 * APC, PM, SOS) removed and invalid UTF-8 replaced by U+FFFD; keeps \n when
 * keep_newlines, turns \t into a space. */
void term_sanitize(const char *text, size_t len, bool keep_newlines, struct buf *out);
/* A new sanitized, NUL-terminated copy of s (the caller frees it). */
char *term_sanitize_dup(const char *s);

#endif
