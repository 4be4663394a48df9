/*
 * Captions from a prompt. The rules (docs/engine.md repeats them):
 *
 *  1. Explicit top and/or bottom text wins; the prompt is then only used to
 *     pick a template.
 *  2. "top | bottom" splits at the first '|'.
 *  3. A prompt of one to three words is all top text.
 *  4. Otherwise the prompt splits at the clause boundary nearest its middle
 *     (after , ; : . ! ? or a dash, else before a joining word such as
 *     "but", "and", "when"), provided the boundary lies in the middle half;
 *     failing that, at the space nearest half of its length.
 *
 * Text is upper-cased (ASCII, Latin-1, Latin Extended-A and Additional,
 * Greek, Cyrillic, Armenian; scripts without case stay as they are) and
 * control characters become spaces. UTF-8 sequences are never split. Lines
 * wrap at spaces, and also between two CJK characters (Chinese and Japanese
 * put no spaces between words), never before closing CJK punctuation.
 */
#include "render/caption.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "utf8.h"
#include "xalloc.h"

static void utf8_put(struct buf *b, uint32_t cp)
{
    char tmp[4];
    buf_append(b, tmp, utf8_encode(cp, tmp));
}

static uint32_t upper_cp(uint32_t c)
{
    if (c >= 'a' && c <= 'z')
        return c - 32;
    if (c >= 0xE0 && c <= 0xFE && c != 0xF7)
        return c - 32;
    if (c == 0xFF)
        return 0x178;
    if (c >= 0x100 && c <= 0x137 && (c & 1))
        return c - 1;
    if (c >= 0x139 && c <= 0x148 && !(c & 1))
        return c - 1;
    if (c >= 0x14A && c <= 0x177 && (c & 1))
        return c - 1;
    if ((c == 0x17A || c == 0x17C || c == 0x17E))
        return c - 1;
    /* Greek, with the accented vowels and the final sigma. */
    if (c >= 0x3B1 && c <= 0x3CB && c != 0x3C2)
        return c - 32;
    if (c == 0x3C2)
        return 0x3A3;
    if (c == 0x3AC)
        return 0x386;
    if (c >= 0x3AD && c <= 0x3AF)
        return c - 37;
    if (c == 0x3CC)
        return 0x38C;
    if (c == 0x3CD || c == 0x3CE)
        return c - 63;
    /* Cyrillic and its supplement (pairs: upper even, lower odd). */
    if (c >= 0x430 && c <= 0x44F)
        return c - 32;
    if (c >= 0x450 && c <= 0x45F)
        return c - 80;
    if (((c >= 0x460 && c <= 0x481) || (c >= 0x48A && c <= 0x4BF) || (c >= 0x4D0 && c <= 0x52F)) &&
        (c & 1))
        return c - 1;
    if (c >= 0x4C1 && c <= 0x4CE && !(c & 1))
        return c - 1;
    if (c == 0x4CF)
        return 0x4C0;
    /* Armenian. */
    if (c >= 0x561 && c <= 0x586)
        return c - 0x30;
    /* Latin Extended Additional (Vietnamese and others; pairs). */
    if (((c >= 0x1E00 && c <= 0x1E95) || (c >= 0x1EA0 && c <= 0x1EFF)) && (c & 1))
        return c - 1;
    return c;
}

char *caption_upper(const char *utf8)
{
    struct buf b = BUF_INIT;
    const unsigned char *s = (const unsigned char *)(utf8 ? utf8 : "");
    size_t len = strlen((const char *)s);
    size_t i = 0;
    while (i < len) {
        uint32_t cp;
        size_t n = utf8_char(s + i, len - i, &cp);
        if (n == 0) {
            buf_putc(&b, (char)s[i]); /* stray byte: keep it as it was */
            n = 1;
        } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
            buf_putc(&b, ' ');
        } else {
            utf8_put(&b, upper_cp(cp));
        }
        i += n;
    }
    buf_putc(&b, '\0');
    return (char *)buf_detach(&b, NULL);
}

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* A copy of s[0..len) with runs of white space collapsed and ends trimmed. */
static char *squeeze(const char *s, size_t len)
{
    char *out = xmalloc(len + 1);
    size_t o = 0;
    bool pending = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_space(c)) {
            pending = o > 0;
            continue;
        }
        if (pending)
            out[o++] = ' ';
        pending = false;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return out;
}

/* True when the bytes before s[i] are an en or em dash (U+2013, U+2014). */
static bool is_dash_end(const char *s, size_t i)
{
    const unsigned char *u = (const unsigned char *)s;
    return i >= 3 && u[i - 3] == 0xE2 && u[i - 2] == 0x80 && (u[i - 1] == 0x93 || u[i - 1] == 0x94);
}

/* Removes a trailing ',' ';' or ':' (and a dash) left at a split point. */
static void trim_joint(char *s)
{
    size_t n = strlen(s);
    for (;;) {
        if (n > 0 && (s[n - 1] == ',' || s[n - 1] == ';' || s[n - 1] == ':' || s[n - 1] == '-' ||
                      s[n - 1] == ' '))
            s[--n] = '\0';
        else if (is_dash_end(s, n))
            s[n -= 3] = '\0';
        else
            break;
    }
}

static const char *const joiners[] = {
    "but", "and",   "so",     "because", "when",   "then",   "until",    "while",   "yet",
    "or",  "after", "before", "if",      "unless", "though", "although", "whereas",
};

static bool is_joiner(const char *w, size_t len)
{
    for (size_t i = 0; i < sizeof(joiners) / sizeof(joiners[0]); i++)
        if (strlen(joiners[i]) == len && strncasecmp(w, joiners[i], len) == 0)
            return true;
    return false;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    bool in = false;
    for (; *s; s++) {
        if (*s == ' ')
            in = false;
        else if (!in) {
            in = true;
            n++;
        }
    }
    return n;
}

/*
 * The index of the space to split the squeezed prompt s at, or 0 when it
 * stays on one line. Candidates: spaces after punctuation (best), spaces
 * before a joining word (next), any space (last); within a class the one
 * nearest the middle wins, and the first two classes only count in the
 * middle half of the text.
 */
static size_t split_point(const char *s)
{
    size_t len = strlen(s);
    size_t mid = len / 2;
    size_t best[3] = {0, 0, 0};
    size_t best_d[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX};
    for (size_t i = 1; i + 1 < len; i++) {
        if (s[i] != ' ')
            continue;
        size_t d = i > mid ? i - mid : mid - i;
        bool middle = i >= len / 4 && i <= len - len / 4;
        int cls = 2;
        char p = s[i - 1];
        if (middle && (p == ',' || p == ';' || p == ':' || p == '.' || p == '!' || p == '?' ||
                       (p == '-' && i >= 2 && s[i - 2] == ' ') || is_dash_end(s, i)))
            cls = 0;
        else if (middle) {
            const char *w = s + i + 1;
            size_t wl = strcspn(w, " ");
            if (is_joiner(w, wl))
                cls = 1;
        }
        if (d < best_d[cls]) {
            best_d[cls] = d;
            best[cls] = i;
        }
    }
    for (int c = 0; c < 3; c++)
        if (best_d[c] != SIZE_MAX)
            return best[c];
    return 0;
}

void caption_split(const char *prompt, const char *top, const char *bottom, struct caption *out)
{
    char *t = NULL, *b = NULL;
    if (top || bottom) {
        t = squeeze(top ? top : "", top ? strlen(top) : 0);
        b = squeeze(bottom ? bottom : "", bottom ? strlen(bottom) : 0);
    } else {
        const char *p = prompt ? prompt : "";
        const char *bar = strchr(p, '|');
        if (bar) {
            t = squeeze(p, (size_t)(bar - p));
            b = squeeze(bar + 1, strlen(bar + 1));
        } else {
            char *s = squeeze(p, strlen(p));
            size_t at = count_words(s) > 3 ? split_point(s) : 0;
            if (at) {
                t = xstrndup(s, at);
                b = xstrdup(s + at + 1);
                trim_joint(t);
                free(s);
            } else {
                t = s;
                b = xstrdup("");
            }
        }
    }
    out->top = caption_upper(t);
    out->bottom = caption_upper(b);
    free(t);
    free(b);
}

void caption_release(struct caption *c)
{
    if (!c)
        return;
    free(c->top);
    free(c->bottom);
    c->top = c->bottom = NULL;
}

/* Ideographs, kana, Hangul and full-width forms: a line may break between two. */
static bool is_cjk(uint32_t c)
{
    return (c >= 0x2E80 && c <= 0x9FFF) || (c >= 0xAC00 && c <= 0xD7AF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0xFF00 && c <= 0xFFEF) ||
           (c >= 0x20000 && c <= 0x3FFFF);
}

/* Punctuation that must not begin a line (kinsoku): 、。，．！？」』）ー and
 * the small kana. */
static bool no_line_start(uint32_t c)
{
    static const uint32_t list[] = {0x3001, 0x3002, 0xFF0C, 0xFF0E, 0xFF01, 0xFF1F, 0x300D,
                                    0x300F, 0xFF09, 0x30FC, 0x3041, 0x3043, 0x3045, 0x3047,
                                    0x3049, 0x3063, 0x3083, 0x3085, 0x3087, 0x30A1, 0x30A3,
                                    0x30A5, 0x30A7, 0x30A9, 0x30C3, 0x30E3, 0x30E5, 0x30E7};
    for (size_t i = 0; i < sizeof(list) / sizeof(list[0]); i++)
        if (c == list[i])
            return true;
    return false;
}

/* The length of the word at s: up to the next space, or up to a break
 * between two CJK characters. */
static size_t word_len(const char *s, size_t len)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t i = 0;
    bool prev_cjk = false;
    while (i < len && s[i] != ' ') {
        uint32_t cp;
        size_t n = utf8_char(u + i, len - i, &cp);
        if (n == 0) {
            cp = 0xFFFD;
            n = 1;
        }
        bool cjk = is_cjk(cp);
        if (i > 0 && prev_cjk && cjk && !no_line_start(cp))
            break;
        prev_cjk = cjk;
        i += n;
    }
    return i;
}

static void lines_push(struct caption_lines *l, const char *s, size_t len)
{
    l->line = xrealloc(l->line, (l->count + 1) * sizeof(*l->line));
    l->line[l->count++] = xstrndup(s, len);
}

int caption_wrap(const char *text, int max_width, caption_measure_fn measure, void *ctx,
                 struct caption_lines *out)
{
    out->count = 0;
    out->line = NULL;
    char *s = squeeze(text ? text : "", text ? strlen(text) : 0);
    size_t len = strlen(s);
    size_t start = 0; /* start of the current line in s */
    size_t end = 0;   /* end of the words already on it */
    int widest = 0, cur = 0;
    size_t i = 0;
    while (i < len) {
        size_t wl = word_len(s + i, len - i);
        if (end == start) {
            /* First word of a line: it stands whether it fits or not. */
            end = i + wl;
            cur = measure(ctx, s + start, end - start);
        } else {
            int w = measure(ctx, s + start, i + wl - start);
            if (w <= max_width) {
                end = i + wl;
                cur = w;
            } else {
                lines_push(out, s + start, end - start);
                if (cur > widest)
                    widest = cur;
                start = i;
                end = i + wl;
                cur = measure(ctx, s + start, end - start);
            }
        }
        i += wl;
        while (i < len && s[i] == ' ')
            i++;
    }
    if (end > start) {
        lines_push(out, s + start, end - start);
        if (cur > widest)
            widest = cur;
    }
    free(s);
    return widest;
}

void caption_lines_release(struct caption_lines *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->count; i++)
        free(l->line[i]);
    free(l->line);
    l->line = NULL;
    l->count = 0;
}
