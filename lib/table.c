/*
 * Column sizing for text tables (table.h). Hand-written (docs/design.md):
 * ncurses draws text where it is told, and libsmartcols, the one table
 * library Debian has, truncates or wraps a cell at its column's end
 * ("mem 2"), with no notion of whole items or of names that must stay
 * distinct. The result is plain lines, so the command line prints them
 * and the dashboard draws them into its canvas with its own attributes.
 */
#include "table.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define ELLIPSIS   "\xe2\x80\xa6" /* U+2026, one column */
#define NAME_FLOOR 6              /* a name never gets narrower than this */

void table_init(struct table *t, const struct table_col *cols, int ncols, int indent)
{
    memset(t, 0, sizeof(*t));
    if (ncols > TABLE_MAX_COLS)
        ncols = TABLE_MAX_COLS;
    memcpy(t->col, cols, (size_t)ncols * sizeof(*cols));
    t->ncols = ncols;
    t->indent = indent;
}

void table_release(struct table *t)
{
    for (int i = 0; i < t->nrows; i++)
        for (int c = 0; c < TABLE_MAX_COLS; c++)
            free(t->rows[i].cell[c]);
    free(t->rows);
    memset(t, 0, sizeof(*t));
}

static struct table_row *new_row(struct table *t)
{
    if (t->nrows == t->cap) {
        t->cap = t->cap ? 2 * t->cap : 16;
        t->rows = xrealloc(t->rows, (size_t)t->cap * sizeof(*t->rows));
    }
    struct table_row *r = &t->rows[t->nrows++];
    memset(r, 0, sizeof(*r));
    return r;
}

void table_add_group(struct table *t, const char *text)
{
    struct table_row *r = new_row(t);
    r->group = true;
    r->cell[0] = xstrdup(text ? text : "");
}

void table_add_row(struct table *t, const char *const *cells, int tag)
{
    struct table_row *r = new_row(t);
    r->tag = tag;
    for (int c = 0; c < t->ncols; c++)
        r->cell[c] = xstrdup(cells[c] ? cells[c] : "");
}

/* Bytes of s that fit in w columns (whole characters), and their width. */
static size_t prefix_fitting(const char *s, int w, int *used)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t len = strlen(s), i = 0;
    int col = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_char(p + i, len - i, &cp);
        int cw = n ? utf8_cp_width(cp) : 1;
        if (!n)
            n = 1;
        if (col + cw > w)
            break;
        col += cw;
        i += n;
    }
    if (used)
        *used = col;
    return i;
}

/* Bytes at the end of s that fit in w columns. */
static size_t suffix_fitting(const char *s, int w)
{
    size_t len = strlen(s);
    size_t start = len;
    int col = 0;
    while (start > 0) {
        size_t b = start - 1;
        while (b > 0 && ((uint8_t)s[b] & 0xC0) == 0x80)
            b--;
        uint32_t cp;
        size_t n = utf8_char((const uint8_t *)s + b, len - b, &cp);
        int cw = n ? utf8_cp_width(cp) : 1;
        if (col + cw > w)
            break;
        col += cw;
        start = b;
    }
    return len - start;
}

char *table_elide_middle(const char *s, int w)
{
    if (utf8_width(s) <= w)
        return xstrdup(s);
    if (w <= 1)
        return xstrdup(w == 1 ? ELLIPSIS : "");
    int head_w = (w - 1 + 1) / 2, tail_w = (w - 1) / 2;
    size_t head = prefix_fitting(s, head_w, NULL);
    size_t tail = suffix_fitting(s, tail_w);
    size_t len = strlen(s);
    return xasprintf("%.*s" ELLIPSIS "%s", (int)head, s, s + len - tail);
}

char *table_fit_items(const char *s, int w)
{
    if (utf8_width(s) <= w)
        return xstrdup(s);
    if (w <= 1)
        return xstrdup(w == 1 ? ELLIPSIS : "");
    /* the longest run of whole items that leaves room for ", …" */
    size_t best = 0;
    for (const char *p = strstr(s, ", "); p; p = strstr(p + 2, ", ")) {
        char *head = xstrndup(s, (size_t)(p - s));
        bool fits = utf8_width(head) + 3 <= w;
        free(head);
        if (!fits)
            break;
        best = (size_t)(p - s);
    }
    if (best > 0)
        return xasprintf("%.*s, " ELLIPSIS, (int)best, s);
    /* not even the first item: cut it, and say so */
    size_t n = prefix_fitting(s, w - 1, NULL);
    while (n > 0 && s[n - 1] == ' ')
        n--;
    return xasprintf("%.*s" ELLIPSIS, (int)n, s);
}

static int line_width(const struct table *t)
{
    int w = t->indent, shown = 0;
    for (int c = 0; c < t->ncols; c++)
        if (t->shown[c]) {
            w += t->width[c] + (shown ? TABLE_GAP : 0);
            shown++;
        }
    return w;
}

/* The narrowest width for name column c at which no two different names
 * look alike once cut. */
static int name_floor(const struct table *t, int c)
{
    int floor_w = NAME_FLOOR;
    for (int w = t->width[c] - 1; w >= NAME_FLOOR; w--) {
        bool distinct = true;
        char **cut = xcalloc((size_t)t->nrows, sizeof(*cut));
        for (int i = 0; i < t->nrows; i++)
            if (!t->rows[i].group)
                cut[i] = table_elide_middle(t->rows[i].cell[c], w);
        for (int i = 0; i < t->nrows && distinct; i++)
            for (int k = i + 1; cut[i] && k < t->nrows && distinct; k++)
                if (cut[k] && strcmp(cut[i], cut[k]) == 0 &&
                    strcmp(t->rows[i].cell[c], t->rows[k].cell[c]) != 0)
                    distinct = false;
        for (int i = 0; i < t->nrows; i++)
            free(cut[i]);
        free(cut);
        if (!distinct) {
            floor_w = w + 1;
            break;
        }
    }
    return floor_w;
}

void table_layout(struct table *t, int width)
{
    int natural[TABLE_MAX_COLS];
    for (int c = 0; c < t->ncols; c++) {
        natural[c] = utf8_width(t->col[c].head);
        for (int i = 0; i < t->nrows; i++)
            if (!t->rows[i].group) {
                int w = utf8_width(t->rows[i].cell[c]);
                if (w > natural[c])
                    natural[c] = w;
            }
        t->width[c] = natural[c];
        t->shown[c] = true;
    }
    if (width > 0) {
        /* 1. drop optional columns while the list columns would get less
         *    than their minimum */
        for (;;) {
            int need = t->indent, shown = 0;
            for (int c = 0; c < t->ncols; c++) {
                if (!t->shown[c])
                    continue;
                int w = t->width[c];
                if (t->col[c].fit == TABLE_ITEMS && t->col[c].min < w)
                    w = t->col[c].min;
                need += w + (shown ? TABLE_GAP : 0);
                shown++;
            }
            if (need <= width)
                break;
            int victim = -1;
            for (int c = 0; c < t->ncols; c++)
                if (t->shown[c] && t->col[c].drop > 0 &&
                    (victim < 0 || t->col[c].drop > t->col[victim].drop))
                    victim = c;
            if (victim < 0)
                break;
            t->shown[victim] = false;
        }
        /* 2. list columns take what is left, down to their minimum */
        for (int c = 0; c < t->ncols; c++) {
            if (!t->shown[c] || t->col[c].fit != TABLE_ITEMS)
                continue;
            int over = line_width(t) - width;
            if (over <= 0)
                break;
            int floor_w = t->col[c].min < natural[c] ? t->col[c].min : natural[c];
            int w = t->width[c] - over;
            t->width[c] = w > floor_w ? w : floor_w;
        }
        /* 3. the last resort: names shortened in the middle, widest first,
         *    never so far that two of them look alike */
        for (;;) {
            int over = line_width(t) - width;
            if (over <= 0)
                break;
            int widest = -1;
            for (int c = 0; c < t->ncols; c++)
                if (t->shown[c] && t->col[c].fit == TABLE_NAME &&
                    (widest < 0 || t->width[c] > t->width[widest]))
                    widest = c;
            if (widest < 0)
                break;
            int floor_w = name_floor(t, widest);
            if (t->width[widest] <= floor_w)
                break;
            int w = t->width[widest] - over;
            t->width[widest] = w > floor_w ? w : floor_w;
        }
    }
    /* the header never widens a column past what it had room for */
    t->total = line_width(t);
}

static void pad(struct buf *b, int n)
{
    for (int i = 0; i < n; i++)
        buf_putc(b, ' ');
}

void table_line(const struct table *t, int row, struct buf *b)
{
    const struct table_row *r = row >= 0 ? &t->rows[row] : NULL;
    if (r && r->group) {
        buf_puts(b, r->cell[0]);
        return;
    }
    /* the last shown column is not padded: no trailing spaces */
    int last = -1;
    for (int c = 0; c < t->ncols; c++)
        if (t->shown[c])
            last = c;
    pad(b, t->indent);
    bool first = true;
    for (int c = 0; c < t->ncols; c++) {
        if (!t->shown[c])
            continue;
        if (!first)
            pad(b, TABLE_GAP);
        first = false;
        const char *text = r ? r->cell[c] : t->col[c].head;
        char *fit;
        if (!r || t->col[c].fit == TABLE_FIXED)
            fit = xstrndup(text, prefix_fitting(text, t->width[c], NULL));
        else if (t->col[c].fit == TABLE_ITEMS)
            fit = table_fit_items(text, t->width[c]);
        else
            fit = table_elide_middle(text, t->width[c]);
        buf_puts(b, fit);
        if (c != last)
            pad(b, t->width[c] - utf8_width(fit));
        free(fit);
    }
}
