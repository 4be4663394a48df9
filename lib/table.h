/*
 * Text tables sized from what they show, for every width a terminal has:
 * the one column-sizing rule behind `memectl status`, `memectl watch` and
 * the dashboard's Scalers panel. Each column is as wide as its widest cell;
 * when the whole does not fit, optional columns are dropped (highest drop
 * rank first), a list column loses whole items at its end ("cpu 45%/30%, …",
 * never "mem 2"), and only then are names shortened in the middle
 * ("meme-gen…end-scaler"), never so far that two rows look alike. Group
 * lines ("meme-generator/") carry what consecutive rows share, so it is not
 * repeated in every row. Widths are terminal columns (lib/utf8.h).
 */
#ifndef MEME_TABLE_H
#define MEME_TABLE_H

#include <stdbool.h>

#include "buf.h"

#define TABLE_MAX_COLS 10
#define TABLE_GAP      2 /* spaces between columns */

enum table_fit {
    TABLE_FIXED, /* never cut while the table can give way elsewhere */
    TABLE_ITEMS, /* ", "-separated items, cut after a whole item with "…" */
    TABLE_NAME,  /* cut in the middle with "…", only while every row stays distinct */
};

struct table_col {
    const char *head;
    enum table_fit fit;
    int drop; /* 0: always shown; otherwise dropped when there is no room, highest first */
    int min;  /* TABLE_ITEMS: the narrowest it gets before names are shortened */
};

struct table_row {
    bool group; /* a group line: cell[0] is its text */
    char *cell[TABLE_MAX_COLS];
    int tag; /* the caller's (the row it came from) */
};

struct table {
    struct table_col col[TABLE_MAX_COLS];
    int ncols;
    int indent; /* spaces before the header and every row (not group lines) */
    struct table_row *rows;
    int nrows, cap;
    /* table_layout() fills these */
    int width[TABLE_MAX_COLS];
    bool shown[TABLE_MAX_COLS];
    int total; /* the widest line, in columns */
};

void table_init(struct table *t, const struct table_col *cols, int ncols, int indent);
void table_release(struct table *t);
/* A group line with text (copied). */
void table_add_group(struct table *t, const char *text);
/* A row of ncols cells (copied; NULL is empty); tag is kept with it. */
void table_add_row(struct table *t, const char *const *cells, int tag);

/* Sizes the columns for lines of at most width columns (0: no limit). */
void table_layout(struct table *t, int width);
/* The header line (row -1) or row i as laid out, without a newline,
 * appended to b. */
void table_line(const struct table *t, int row, struct buf *b);

/* s cut to at most w columns in the middle, "…" in the cut (a new string). */
char *table_elide_middle(const char *s, int w);
/* s cut to at most w columns after its last whole ", "-separated item that
 * fits, "…" after it (a new string). */
char *table_fit_items(const char *s, int w);

#endif
