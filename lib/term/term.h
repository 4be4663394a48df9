/*
 * Terminal graphics and text safety: detecting sixel support (DA1), encoding
 * an image as sixel (libsixel) or as coloured half blocks, and stripping
 * control sequences from text that came from the network.
 *
 * Encoders append to a struct buf; the caller decides where bytes go.
 */
#ifndef MEME_TERM_H
#define MEME_TERM_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "err.h"
#include "render/image.h"

enum term_display {
    TERM_DISPLAY_AUTO = 0,
    TERM_DISPLAY_SIXEL,
    TERM_DISPLAY_BLOCKS,
    TERM_DISPLAY_NONE,
};

/* "auto", "sixel", "blocks", "none" -> *out; -1 for anything else. */
int term_display_parse(const char *s, enum term_display *out);
const char *term_display_name(enum term_display d);

/* True when a DA1 reply ("\033[?62;4;22c") lists attribute 4 (sixel). */
bool term_da1_has_sixel(const char *reply, size_t len);

/*
 * Resolves AUTO for output on fd: NONE when fd is not a terminal, else asks
 * the controlling terminal (DA1, waiting at most timeout_ms) and answers SIXEL
 * or BLOCKS. Other values are returned unchanged.
 */
enum term_display term_detect(int fd, enum term_display want, int timeout_ms);
/*
 * The DA1 exchange term_detect() runs on /dev/tty, on given descriptors (tests
 * use a pseudo terminal): puts in_fd in raw mode, writes the query to out_fd,
 * reads the reply for at most timeout_ms (250 when <= 0) and restores in_fd's
 * settings. SIXEL or BLOCKS (also when in_fd is not a terminal or is silent).
 */
enum term_display term_detect_on(int in_fd, int out_fd, int timeout_ms);

struct term_geometry {
    int cols, rows;     /* character cells */
    int cell_w, cell_h; /* pixels per cell (guessed 10x20 when unknown) */
};

/* Size of the terminal on fd; falls back to 80x24 cells of 10x20 px. */
void term_geometry(int fd, struct term_geometry *g);

/* Sixel for img scaled to fit max_w x max_h pixels (aspect kept). */
int term_encode_sixel(const struct meme_image *img, int max_w, int max_h, struct buf *out,
                      struct meme_err *err);
/* Half blocks (U+2580) for img scaled to fit cols x rows cells; truecolor or
 * xterm-256 colours. Every line ends with a colour reset and newline. */
int term_encode_blocks(const struct meme_image *img, int cols, int rows, bool truecolor,
                       struct buf *out);
/* True when COLORTERM says the terminal has 24-bit colour. */
bool term_has_truecolor(void);

/* Appends text to out with C0/C1 controls and ESC sequences (CSI, OSC, DCS,
 * APC, PM, SOS) removed and invalid UTF-8 replaced by U+FFFD; keeps \n when
 * keep_newlines, turns \t into a space. */
void term_sanitize(const char *text, size_t len, bool keep_newlines, struct buf *out);
/* A new sanitized, NUL-terminated copy of s (the caller frees it). */
char *term_sanitize_dup(const char *s);

#endif
