/*
 * Terminal graphics and text safety for the tools that draw on a terminal.
 * term_detect() decides between sixel, half blocks and nothing: it asks the
 * terminal for its Primary Device Attributes (DA1) on /dev/tty in raw mode
 * and reads the reply with a bounded wait, always restoring the terminal.
 * term_encode_sixel() scales the image to the pixels it will occupy and
 * hands it to libsixel; term_encode_blocks() draws two pixels per cell with
 * U+2580 in 24-bit or xterm-256 colour. term_sanitize() makes text that came
 * from the network (prompts, error messages, names) safe to print: no
 * control characters, no escape sequences, valid UTF-8 only. Nothing here
 * prints; encoders append to a caller's struct buf. See docs/terminal.md.
 */
#include "clock.h"
#include "term/term.h"
#include "utf8.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sixel.h>

#define TERM_DETECT_TIMEOUT_MS 250
#define TERM_CELL_W            10
#define TERM_CELL_H            20
#define TERM_COLS              80
#define TERM_ROWS              24

#define ESC 0x1b
#define BEL 0x07
#define CAN 0x18
#define SUB 0x1a
#define DEL 0x7f

static const char *const display_names[] = {
    [TERM_DISPLAY_AUTO] = "auto",
    [TERM_DISPLAY_SIXEL] = "sixel",
    [TERM_DISPLAY_BLOCKS] = "blocks",
    [TERM_DISPLAY_NONE] = "none",
};

int term_display_parse(const char *s, enum term_display *out)
{
    for (size_t i = 0; s && i < sizeof(display_names) / sizeof(display_names[0]); i++) {
        if (strcmp(s, display_names[i]) == 0) {
            *out = (enum term_display)i;
            return 0;
        }
    }
    return -1;
}

const char *term_display_name(enum term_display d)
{
    if ((unsigned)d >= sizeof(display_names) / sizeof(display_names[0]))
        return "unknown";
    return display_names[d];
}

/* Where the parameters of a DA1 reply starting at s[i] begin, or 0 when
 * s[i] does not start "CSI ?" (ESC [ ? or the 8-bit 0x9b ?). */
static size_t da1_start(const uint8_t *s, size_t len, size_t i)
{
    if (s[i] == ESC && i + 2 < len && s[i + 1] == '[' && s[i + 2] == '?')
        return i + 3;
    if (s[i] == 0x9b && i + 1 < len && s[i + 1] == '?')
        return i + 2;
    return 0;
}

/*
 * Looks for the first complete DA1 reply (CSI ? Ps ; ... c) in s: true with
 * *sixel set when one parameter is 4, false when there is none yet (it may
 * still be arriving). Linear: a failed candidate holds only digits and
 * semicolons, so the scan resumes where it failed.
 */
static bool da1_scan(const uint8_t *s, size_t len, bool *sixel)
{
    size_t i = 0;
    while (i < len) {
        size_t j = da1_start(s, len, i);
        if (j == 0) {
            i++;
            continue;
        }
        long param = -1;
        bool has4 = false;
        for (; j < len; j++) {
            uint8_t c = s[j];
            if (c >= '0' && c <= '9') {
                param = param < 0 ? c - '0' : param * 10 + (c - '0');
                if (param > 99999)
                    param = 99999;
                continue;
            }
            if (c != ';' && c != 'c')
                break;
            if (param == 4)
                has4 = true;
            param = -1;
            if (c == 'c') {
                *sixel = has4;
                return true;
            }
        }
        i = j;
    }
    return false;
}

bool term_da1_has_sixel(const char *reply, size_t len)
{
    bool sixel = false;
    return reply && da1_scan((const uint8_t *)reply, len, &sixel) && sixel;
}

static long long now_ms(void)
{
    return (long long)clock_now_ms();
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

enum term_display term_detect_on(int in_fd, int out_fd, int timeout_ms)
{
    enum term_display result = TERM_DISPLAY_BLOCKS;
    struct termios saved, raw;
    bool restore = false, answered = false;
    uint8_t reply[256];
    size_t len = 0;

    if (timeout_ms <= 0)
        timeout_ms = TERM_DETECT_TIMEOUT_MS;
    if (tcgetattr(in_fd, &saved) < 0)
        goto out;
    /* No echo (the reply must not appear on screen), no line editing (it
     * has no newline), no signals (^C must not kill us while raw). */
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | ISIG | IEXTEN);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    if (tcsetattr(in_fd, TCSANOW, &raw) < 0)
        goto out;
    restore = true;
    if (write_all(out_fd, "\033[c", 3) < 0)
        goto out;

    long long deadline = now_ms() + timeout_ms;
    for (;;) {
        bool sixel;
        if (da1_scan(reply, len, &sixel)) {
            answered = true;
            result = sixel ? TERM_DISPLAY_SIXEL : TERM_DISPLAY_BLOCKS;
            break;
        }
        long long left = deadline - now_ms();
        if (left <= 0)
            break;
        struct pollfd pfd = {.fd = in_fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (len == sizeof(reply)) {
            /* Typed-ahead noise filled the buffer: keep a reply's start. */
            uint8_t *esc = memrchr(reply, ESC, len);
            size_t keep = esc && esc != reply ? len - (size_t)(esc - reply) : 0;
            memmove(reply, reply + len - keep, keep);
            len = keep;
        }
        ssize_t r = read(in_fd, reply + len, sizeof(reply) - len);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
out:
    if (restore) {
        /* Half a reply when time ran out: drop the rest of it from the input
         * queue rather than let the shell read it as keystrokes. */
        if (!answered && memchr(reply, ESC, len))
            tcflush(in_fd, TCIFLUSH);
        tcsetattr(in_fd, TCSANOW, &saved);
    }
    return result;
}

enum term_display term_detect(int fd, enum term_display want, int timeout_ms)
{
    enum term_display d;

    if (want != TERM_DISPLAY_AUTO)
        return want;
    if (!isatty(fd))
        return TERM_DISPLAY_NONE;
    const char *env = getenv("MEMECTL_DISPLAY");
    if (env && term_display_parse(env, &d) == 0 && d != TERM_DISPLAY_AUTO)
        return d;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0)
        return TERM_DISPLAY_NONE;
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (tty < 0)
        return TERM_DISPLAY_BLOCKS;
    /* A background job that touched the terminal's settings would be
     * stopped by SIGTTOU, and its query answered to someone else. */
    if (tcgetpgrp(tty) == getpgrp())
        d = term_detect_on(tty, tty, timeout_ms);
    else
        d = TERM_DISPLAY_BLOCKS;
    close(tty);
    return d;
}

void term_geometry(int fd, struct term_geometry *g)
{
    struct winsize ws;

    g->cols = TERM_COLS;
    g->rows = TERM_ROWS;
    g->cell_w = TERM_CELL_W;
    g->cell_h = TERM_CELL_H;
    memset(&ws, 0, sizeof(ws));
    if (ioctl(fd, TIOCGWINSZ, &ws) < 0 || ws.ws_col == 0 || ws.ws_row == 0)
        return;
    g->cols = ws.ws_col;
    g->rows = ws.ws_row;
    if (ws.ws_xpixel >= ws.ws_col && ws.ws_ypixel >= ws.ws_row) {
        g->cell_w = ws.ws_xpixel / ws.ws_col;
        g->cell_h = ws.ws_ypixel / ws.ws_row;
    }
}

/* The largest w x h with the aspect of iw x ih inside bw x bh (itself cut
 * to what image_new() accepts), at least 1x1. Rounding cannot leave the box:
 * iw*bh <= ih*bw bounds the rounded width. */
static void fit_box(int iw, int ih, int bw, int bh, int *w, int *h)
{
    if (bw > IMAGE_MAX_DIM)
        bw = IMAGE_MAX_DIM;
    if (bh > IMAGE_MAX_DIM)
        bh = IMAGE_MAX_DIM;
    if ((int64_t)iw * bh <= (int64_t)ih * bw) {
        *h = bh;
        *w = (int)(((int64_t)iw * bh + ih / 2) / ih);
    } else {
        *w = bw;
        *h = (int)(((int64_t)ih * bw + iw / 2) / iw);
    }
    if (*w < 1)
        *w = 1;
    if (*h < 1)
        *h = 1;
}

static bool image_ok(const struct meme_image *img)
{
    return img && img->rgb && img->width > 0 && img->height > 0;
}

static int append_sixel(char *data, int size, void *priv)
{
    buf_append(priv, data, (size_t)size);
    return size;
}

int term_encode_sixel(const struct meme_image *img, int max_w, int max_h, struct buf *out,
                      struct meme_err *err)
{
    int rc = 0, w, h;
    size_t start = out->len;
    struct meme_image *scaled = NULL;
    uint8_t *pixels = NULL;
    sixel_output_t *output = NULL;
    sixel_dither_t *dither = NULL;
    SIXELSTATUS st;

    if (!image_ok(img) || max_w < 1 || max_h < 1) {
        rc = meme_err_set(err, MEME_E_IMAGE, "cannot draw an empty image or into an empty box");
        goto out;
    }
    fit_box(img->width, img->height, max_w, max_h, &w, &h);
    /* Error diffusion writes into the pixels, so libsixel gets our own copy:
     * the scaled image, or a duplicate of the caller's. */
    if (w != img->width || h != img->height) {
        scaled = image_scale(img, w, h);
        if (!scaled) {
            rc = meme_err_set(err, MEME_E_IMAGE, "cannot scale the image to %dx%d", w, h);
            goto out;
        }
        pixels = scaled->rgb;
    } else {
        pixels = xmalloc((size_t)w * (size_t)h * 3);
        memcpy(pixels, img->rgb, (size_t)w * (size_t)h * 3);
    }

    /* An adaptive 256-colour palette built from the scaled pixels, Floyd-
     * Steinberg diffusion (set before the palette so that libsixel can still
     * turn it off for images with few colours), and the encoder policy that
     * makes the smallest output at no cost in time: docs/terminal.md has the
     * measurements behind each choice. */
    st = sixel_dither_new(&dither, 256, NULL);
    if (SIXEL_SUCCEEDED(st)) {
        sixel_dither_set_diffusion_type(dither, SIXEL_DIFFUSE_FS);
        st = sixel_dither_initialize(dither, pixels, w, h, SIXEL_PIXELFORMAT_RGB888,
                                     SIXEL_LARGE_AUTO, SIXEL_REP_AUTO, SIXEL_QUALITY_AUTO);
    }
    if (SIXEL_SUCCEEDED(st))
        st = sixel_output_new(&output, append_sixel, out, NULL);
    if (SIXEL_SUCCEEDED(st)) {
        sixel_output_set_encode_policy(output, SIXEL_ENCODEPOLICY_SIZE);
        st = sixel_encode(pixels, w, h, 3, dither, output);
    }
    if (SIXEL_FAILED(st))
        rc = meme_err_set(err, MEME_E_IMAGE, "cannot encode the image as sixel: %s",
                          sixel_helper_format_error(st));
out:
    if (rc < 0 && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    if (output)
        sixel_output_unref(output);
    if (dither)
        sixel_dither_unref(dither);
    if (!scaled)
        free(pixels);
    image_free(scaled);
    return rc;
}

/* The nearest of the cube's levels 0, 95, 135, 175, 215, 255 to v. */
static int cube_step(int v)
{
    if (v < 48)
        return 0;
    if (v < 115)
        return 1;
    return (v - 35) / 40;
}

/* Nearest xterm-256 colour among the 6x6x6 cube (16-231) and the grey ramp
 * (232-255); 0-15 are left alone because every theme redefines them. */
static int xterm256(int r, int g, int b)
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int cr = cube_step(r), cg = cube_step(g), cb = cube_step(b);
    int dr = r - level[cr], dg = g - level[cg], db = b - level[cb];
    int cube_d = dr * dr + dg * dg + db * db;

    int avg = (r + g + b) / 3;
    int gi = avg < 8 ? 0 : (avg - 3) / 10;
    if (gi > 23)
        gi = 23;
    int gv = 8 + 10 * gi;
    int grey_d = (r - gv) * (r - gv) + (g - gv) * (g - gv) + (b - gv) * (b - gv);

    if (grey_d < cube_d)
        return 232 + gi;
    return 16 + 36 * cr + 6 * cg + cb;
}

/* The colour key of a pixel: its 24-bit value or its xterm-256 index. */
static int colour_key(const uint8_t *p, bool truecolor)
{
    if (truecolor)
        return p[0] << 16 | p[1] << 8 | p[2];
    return xterm256(p[0], p[1], p[2]);
}

static void put_colour(struct buf *out, int layer, int key, bool truecolor)
{
    if (truecolor)
        buf_printf(out, "\033[%d;2;%d;%d;%dm", layer, key >> 16 & 0xff, key >> 8 & 0xff,
                   key & 0xff);
    else
        buf_printf(out, "\033[%d;5;%dm", layer, key);
}

int term_encode_blocks(const struct meme_image *img, int cols, int rows, bool truecolor,
                       struct buf *out)
{
    static const char upper_half[] = "\xe2\x96\x80";
    struct meme_image *scaled = NULL;
    const struct meme_image *src = img;
    int rc = 0, w, h;

    if (!image_ok(img) || cols < 1 || rows < 1) {
        rc = MEME_E_IMAGE;
        goto out;
    }
    /* A cell is about twice as tall as wide, so each half is near square. */
    fit_box(img->width, img->height, cols, rows > IMAGE_MAX_DIM ? IMAGE_MAX_DIM : 2 * rows, &w, &h);
    if (w != img->width || h != img->height) {
        scaled = image_scale(img, w, h);
        if (!scaled) {
            rc = MEME_E_IMAGE;
            goto out;
        }
        src = scaled;
    }
    for (int y = 0; y < h; y += 2) {
        const uint8_t *top = src->rgb + (size_t)y * (size_t)w * 3;
        const uint8_t *bottom = y + 1 < h ? top + (size_t)w * 3 : NULL;
        int fg = -1, bg = -1;
        for (int x = 0; x < w; x++) {
            int k = colour_key(top + x * 3, truecolor);
            if (k != fg)
                put_colour(out, 38, fg = k, truecolor);
            /* An odd last row keeps the terminal's own background. */
            if (bottom) {
                k = colour_key(bottom + x * 3, truecolor);
                if (k != bg)
                    put_colour(out, 48, bg = k, truecolor);
            }
            buf_append(out, upper_half, sizeof(upper_half) - 1);
        }
        buf_puts(out, "\033[0m\n");
    }
out:
    image_free(scaled);
    return rc;
}

bool term_has_truecolor(void)
{
    const char *c = getenv("COLORTERM");
    return c && (strcmp(c, "truecolor") == 0 || strcmp(c, "24bit") == 0);
}

/* Past the CSI body starting at j: parameters and intermediates up to a
 * final byte. Any other byte aborts the sequence (as terminals do) and is
 * looked at again by the caller. */
static size_t skip_csi(const uint8_t *s, size_t len, size_t j)
{
    for (; j < len; j++) {
        if (s[j] >= 0x40 && s[j] <= 0x7e)
            return j + 1;
        if (s[j] < 0x20 || s[j] > 0x3f)
            return j;
    }
    return len;
}

/* Past the control string (OSC, DCS, SOS, PM, APC) body starting at j: up to
 * ST (ESC \ or U+009C), BEL, or CAN/SUB which cancel it. An ESC of another
 * sequence ends it too and is looked at again. Unterminated strings run to
 * the end of the text, as they would on a terminal. */
static size_t skip_string(const uint8_t *s, size_t len, size_t j)
{
    for (; j < len; j++) {
        uint8_t c = s[j];
        if (c == BEL || c == CAN || c == SUB)
            return j + 1;
        if (c == ESC)
            return j + 1 < len && s[j + 1] == '\\' ? j + 2 : j;
        if (c == 0xc2 && j + 1 < len && s[j + 1] == 0x9c)
            return j + 2;
    }
    return len;
}

/* Past the escape sequence whose ESC is at i. */
static size_t skip_escape(const uint8_t *s, size_t len, size_t i)
{
    size_t j = i + 1;

    if (j >= len)
        return len;
    switch (s[j]) {
    case '[':
        return skip_csi(s, len, j + 1);
    case ']':
    case 'P':
    case 'X':
    case '^':
    case '_':
        return skip_string(s, len, j + 1);
    }
    /* nF (ESC ( B, ESC # 8...): intermediates then one final byte. */
    while (j < len && s[j] >= 0x20 && s[j] <= 0x2f)
        j++;
    if (j < len && s[j] >= 0x30 && s[j] <= 0x7e)
        return j + 1;
    /* ESC before a control or non-ASCII byte: drop the ESC alone. */
    return j;
}

/* Past the C1 control cp (UTF-8, n bytes at i) and the body it introduces. */
static size_t skip_c1(const uint8_t *s, size_t len, size_t i, size_t n, uint32_t cp)
{
    switch (cp) {
    case 0x9b: /* CSI */
        return skip_csi(s, len, i + n);
    case 0x90: /* DCS */
    case 0x98: /* SOS */
    case 0x9d: /* OSC */
    case 0x9e: /* PM */
    case 0x9f: /* APC */
        return skip_string(s, len, i + n);
    }
    return i + n;
}

void term_sanitize(const char *text, size_t len, bool keep_newlines, struct buf *out)
{
    static const char replacement[] = "\xef\xbf\xbd";
    const uint8_t *s = (const uint8_t *)text;
    size_t i = 0;

    while (i < len) {
        uint8_t c = s[i];
        if (c >= 0x20 && c < DEL) {
            size_t j = i + 1;
            while (j < len && s[j] >= 0x20 && s[j] < DEL)
                j++;
            buf_append(out, s + i, j - i);
            i = j;
        } else if (c == ESC) {
            i = skip_escape(s, len, i);
        } else if (c < 0x80) {
            if (c == '\n')
                buf_putc(out, keep_newlines ? '\n' : ' ');
            else if (c == '\t')
                buf_putc(out, ' ');
            i++;
        } else {
            uint32_t cp;
            size_t n = utf8_char(s + i, len - i, &cp);
            if (n == 0) {
                /* A stray 0x80-0x9f would be a C1 control to an 8-bit
                 * terminal: drop it; other bad bytes show as U+FFFD. */
                if (c > 0x9f)
                    buf_append(out, replacement, sizeof(replacement) - 1);
                i++;
            } else if (cp <= 0x9f) {
                i = skip_c1(s, len, i, n, cp);
            } else {
                buf_append(out, s + i, n);
                i += n;
            }
        }
    }
}

char *term_sanitize_dup(const char *s)
{
    struct buf b = BUF_INIT;

    if (s)
        term_sanitize(s, strlen(s), false, &b);
    if (!b.data)
        return xstrdup("");
    return (char *)buf_detach(&b, NULL);
}
