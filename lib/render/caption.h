/*
 * Turning a prompt into meme captions: the `top | bottom` split, the
 * sensible split of a long prompt, upper-casing, and word wrapping with a
 * caller-supplied measure so layout is testable without a font.
 */
#ifndef MEME_CAPTION_H
#define MEME_CAPTION_H

#include <stddef.h>

struct caption {
    char *top;    /* upper-cased UTF-8, "" when empty; owned */
    char *bottom; /* likewise */
};

/*
 * Splits prompt into top and bottom text. Explicit top/bottom (either may be
 * NULL) win over the prompt. "a | b" splits at the first '|'; a prompt of up
 * to three words is all top text; a longer one splits at the clause boundary
 * nearest its middle. caption.c and docs/engine.md give the full rules.
 * Fills out; release with caption_release().
 */
void caption_split(const char *prompt, const char *top, const char *bottom, struct caption *out);
void caption_release(struct caption *c);

/* A new upper-cased copy of a UTF-8 string (Latin, Greek, Cyrillic and
 * Armenian letters; other scripts unchanged). */
char *caption_upper(const char *utf8);

/* Width in pixels of the len bytes of text at the current size. */
typedef int (*caption_measure_fn)(void *ctx, const char *text, size_t len);

struct caption_lines {
    size_t count;
    char **line; /* owned */
};

/*
 * Greedy word wrap of text into lines no wider than max_width as measured by
 * measure. Lines break at spaces and between two CJK characters. A single
 * word wider than max_width stands alone on its line (the caller then
 * shrinks the font). Returns the widest line's width.
 */
int caption_wrap(const char *text, int max_width, caption_measure_fn measure, void *ctx,
                 struct caption_lines *out);
void caption_lines_release(struct caption_lines *l);

#endif
