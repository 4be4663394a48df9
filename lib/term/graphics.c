/*
 * Images for terminals that take whole pictures: the kitty graphics protocol
 * (kitty, Ghostty, Konsole) and iTerm2's inline images (iTerm2, WezTerm),
 * both sized in character cells and left to the terminal to scale; tmux's
 * passthrough wrapper for them; and term_draw(), which puts a meme inline at
 * the cursor in whichever mode term_detect() chose. Only pixels this code
 * encoded reach the terminal, never the file a worker sent (a hostile one
 * could aim at the terminal's image decoder): kitty gets raw RGB, deflated
 * (libdeflate, level 1: a few ms, and kitty inflates it with zlib), iTerm2 a
 * PNG from our own writer. Pixels are scaled down to the cells first, so a
 * 2048-pixel meme does not cost the terminal 12 MB. Base64 is OpenSSL's
 * (libcrypto). See docs/terminal.md.
 */
#include "term/term.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <openssl/evp.h>

/* Base64 bytes per kitty chunk (the protocol's limit) and the raw bytes they
 * carry. */
#define KITTY_CHUNK     4096
#define KITTY_CHUNK_RAW (KITTY_CHUNK / 4 * 3)
/* tmux drops a passthrough sequence of 1 MiB or more (INPUT_BUF_LIMIT). */
#define TMUX_SEQ_MAX (1024 * 1024 - 4096)

void term_fit_cells(int iw, int ih, int max_cols, int max_rows, int cell_w, int cell_h, int *cols,
                    int *rows)
{
    if (cell_w < 1)
        cell_w = 1;
    if (cell_h < 1)
        cell_h = 1;
    if (max_cols < 1)
        max_cols = 1;
    if (max_rows < 1)
        max_rows = 1;
    if (iw < 1)
        iw = 1;
    if (ih < 1)
        ih = 1;
    int64_t bw = (int64_t)max_cols * cell_w, bh = (int64_t)max_rows * cell_h, w, h;
    if ((int64_t)iw * bh <= (int64_t)ih * bw) {
        h = bh;
        w = ((int64_t)iw * bh + ih / 2) / ih;
    } else {
        w = bw;
        h = ((int64_t)ih * bw + iw / 2) / iw;
    }
    int c = (int)((w + cell_w / 2) / cell_w), r = (int)((h + cell_h / 2) / cell_h);
    *cols = c < 1 ? 1 : c > max_cols ? max_cols : c;
    *rows = r < 1 ? 1 : r > max_rows ? max_rows : r;
}

/* The largest size with the aspect of iw x ih inside bw x bh, never larger
 * than the image itself, at least 1x1. */
static void shrink_to(int iw, int ih, int bw, int bh, int *w, int *h)
{
    *w = iw;
    *h = ih;
    if (iw <= bw && ih <= bh)
        return;
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

static bool place_ok(const struct term_place *pl)
{
    return pl && pl->cols > 0 && pl->rows > 0 && pl->cell_w > 0 && pl->cell_h > 0;
}

/* Appends the base64 of len bytes (len a multiple of 3 except at the end). */
static void put_base64(struct buf *out, const uint8_t *data, size_t len)
{
    const size_t slice = 3 * (1 << 16);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < slice ? len - done : slice;
        buf_reserve(out, 4 * ((n + 2) / 3) + 1);
        out->len += (size_t)EVP_EncodeBlock(out->data + out->len, data + done, (int)n);
        done += n;
    }
    if (out->data)
        out->data[out->len] = '\0';
}

void term_tmux_wrap(const void *seq, size_t len, struct buf *out)
{
    const uint8_t *s = seq;
    buf_reserve(out, len + 16);
    buf_puts(out, "\033Ptmux;");
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == 0x1b) {
            buf_append(out, s + start, i + 1 - start);
            buf_putc(out, 0x1b);
            start = i + 1;
        }
    buf_append(out, s + start, len - start);
    buf_puts(out, "\033\\");
}

/* Appends seq (one escape sequence in tmp) to out, wrapped for tmux when
 * asked, and empties tmp. */
static void emit(struct buf *tmp, bool tmux, struct buf *out)
{
    if (tmux)
        term_tmux_wrap(tmp->data, tmp->len, out);
    else
        buf_append(out, tmp->data, tmp->len);
    tmp->len = 0;
}

/* zlib (RFC 1950) of len bytes at level 1 into *out; 0 when it would not be
 * smaller, or on failure. */
static size_t deflate_zlib(const uint8_t *data, size_t len, uint8_t **out)
{
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(1);
    size_t n = 0;
    *out = NULL;
    if (!c)
        return 0;
    size_t bound = libdeflate_zlib_compress_bound(c, len);
    *out = xmalloc(bound);
    n = libdeflate_zlib_compress(c, data, len, *out, bound);
    libdeflate_free_compressor(c);
    if (n == 0 || n >= len) {
        free(*out);
        *out = NULL;
        n = 0;
    }
    return n;
}

int term_encode_kitty(const struct meme_image *img, struct term_place *pl, struct buf *out,
                      struct meme_err *err)
{
    struct meme_image *scaled = NULL;
    struct buf seq = BUF_INIT;
    uint8_t *packed = NULL;
    char keys[160];
    int cols, rows, w, h;

    if (!image_ok(img) || !place_ok(pl))
        return meme_err_set(err, MEME_E_IMAGE, "cannot draw an empty image or into an empty box");
    term_fit_cells(img->width, img->height, pl->cols, pl->rows, pl->cell_w, pl->cell_h, &cols,
                   &rows);
    shrink_to(img->width, img->height, cols * pl->cell_w, rows * pl->cell_h, &w, &h);
    const struct meme_image *src = img;
    if (w != img->width || h != img->height) {
        scaled = image_scale(img, w, h);
        if (!scaled)
            return meme_err_set(err, MEME_E_IMAGE, "cannot scale the image to %dx%d", w, h);
        src = scaled;
    }
    const uint8_t *data = src->rgb;
    size_t len = (size_t)w * (size_t)h * 3;
    size_t packed_len = deflate_zlib(data, len, &packed);
    int n = snprintf(keys, sizeof(keys), "f=24,s=%d,v=%d%s", w, h, packed_len ? ",o=z" : "");
    if (packed_len) {
        data = packed;
        len = packed_len;
    }
    n += snprintf(keys + n, sizeof(keys) - (size_t)n, ",a=%s,q=2", pl->store_only ? "t" : "T");
    if (pl->id)
        n += snprintf(keys + n, sizeof(keys) - (size_t)n, ",i=%u", pl->id);
    if (!pl->store_only)
        snprintf(keys + n, sizeof(keys) - (size_t)n, ",C=1,c=%d,r=%d", cols, rows);

    size_t nchunks = (len + KITTY_CHUNK_RAW - 1) / KITTY_CHUNK_RAW;
    for (size_t k = 0; k < nchunks; k++) {
        size_t off = k * KITTY_CHUNK_RAW;
        size_t take = len - off < KITTY_CHUNK_RAW ? len - off : KITTY_CHUNK_RAW;
        buf_puts(&seq, "\033_G");
        if (k == 0)
            buf_puts(&seq, keys);
        if (nchunks > 1)
            buf_printf(&seq, "%sm=%d", k == 0 ? "," : "", k + 1 < nchunks);
        buf_putc(&seq, ';');
        put_base64(&seq, data + off, take);
        buf_puts(&seq, "\033\\");
        emit(&seq, pl->tmux, out);
    }
    pl->used_cols = cols;
    pl->used_rows = rows;
    buf_release(&seq);
    free(packed);
    image_free(scaled);
    return 0;
}

void term_kitty_place(uint32_t id, int cols, int rows, bool tmux, struct buf *out)
{
    struct buf seq = BUF_INIT;
    buf_printf(&seq, "\033_Ga=p,i=%u,C=1,c=%d,r=%d,q=2\033\\", id, cols, rows);
    emit(&seq, tmux, out);
    buf_release(&seq);
}

void term_kitty_delete(uint32_t id, bool free_data, bool tmux, struct buf *out)
{
    struct buf seq = BUF_INIT;
    /* d=i keeps the image for the next placement, d=I frees it too. */
    buf_printf(&seq, "\033_Ga=d,d=%c,i=%u,q=2\033\\", free_data ? 'I' : 'i', id);
    emit(&seq, tmux, out);
    buf_release(&seq);
}

int term_encode_iterm2(const struct meme_image *img, struct term_place *pl, struct buf *out,
                       struct meme_err *err)
{
    uint8_t *png = NULL;
    size_t png_len = 0;
    int cols, rows, w, h, rc = 0;
    struct buf seq = BUF_INIT;

    if (!image_ok(img) || !place_ok(pl))
        return meme_err_set(err, MEME_E_IMAGE, "cannot draw an empty image or into an empty box");
    term_fit_cells(img->width, img->height, pl->cols, pl->rows, pl->cell_w, pl->cell_h, &cols,
                   &rows);
    shrink_to(img->width, img->height, cols * pl->cell_w, rows * pl->cell_h, &w, &h);
    /* Scaled to the box; inside tmux, halved until tmux takes it. */
    for (;;) {
        struct meme_image *scaled = NULL;
        if (w != img->width || h != img->height) {
            scaled = image_scale(img, w, h);
            if (!scaled) {
                rc = meme_err_set(err, MEME_E_IMAGE, "cannot scale the image to %dx%d", w, h);
                goto out;
            }
        }
        free(png);
        png = NULL;
        rc = image_encode_png(scaled ? scaled : img, &png, &png_len, err);
        image_free(scaled);
        if (rc < 0)
            goto out;
        if (!pl->tmux || 4 * ((png_len + 2) / 3) <= TMUX_SEQ_MAX || (w < 16 && h < 16))
            break;
        w = w / 2 > 0 ? w / 2 : 1;
        h = h / 2 > 0 ? h / 2 : 1;
    }
    buf_printf(&seq, "\033]1337;File=inline=1;size=%zu;width=%d;height=%d;preserveAspectRatio=1:",
               png_len, cols, rows);
    put_base64(&seq, png, png_len);
    buf_putc(&seq, '\a');
    emit(&seq, pl->tmux, out);
    pl->used_cols = cols;
    pl->used_rows = rows;
out:
    buf_release(&seq);
    free(png);
    return rc;
}

int term_draw(const struct term_caps *caps, const struct meme_image *img, int max_cols,
              int max_rows, struct buf *pre, struct buf *out, struct meme_err *err)
{
    int rc = 0;

    if (!image_ok(img) || max_cols < 1 || max_rows < 1)
        return meme_err_set(err, MEME_E_IMAGE, "cannot draw an empty image or into an empty box");
    int cw = caps->cell_w > 0 ? caps->cell_w : 10, ch = caps->cell_h > 0 ? caps->cell_h : 20;
    /* Graphics never larger than the image: a 512-pixel meme stays 512
     * pixels; half blocks at most one cell per pixel across, two down. */
    int img_cols = (img->width + cw - 1) / cw, img_rows = (img->height + ch - 1) / ch;
    if (caps->mode == TERM_DISPLAY_BLOCKS) {
        img_cols = img->width;
        img_rows = (img->height + 1) / 2;
    }
    if (max_cols > img_cols)
        max_cols = img_cols;
    if (max_rows > img_rows)
        max_rows = img_rows;

    switch (caps->mode) {
    case TERM_DISPLAY_KITTY:
    case TERM_DISPLAY_ITERM2: {
        struct term_place pl = {
            .cols = max_cols, .rows = max_rows, .cell_w = cw, .cell_h = ch, .tmux = caps->tmux};
        struct buf image = BUF_INIT;
        if (caps->mode == TERM_DISPLAY_KITTY)
            rc = term_encode_kitty(img, &pl, &image, err);
        else
            rc = term_encode_iterm2(img, &pl, &image, err);
        if (rc < 0) {
            buf_release(&image);
            break;
        }
        /* Room first (newlines scroll the screen if they must), then back up
         * to its top: the image never runs off the bottom of the screen. */
        struct buf *head = caps->tmux ? pre : out;
        for (int i = 0; i < pl.used_rows; i++)
            buf_putc(head, '\n');
        buf_printf(head, "\033[%dA", pl.used_rows);
        /* iTerm2 moves the cursor past the image; save and restore it (inside
         * the passthrough for tmux, which never learns of the move). */
        if (caps->mode == TERM_DISPLAY_ITERM2 && !caps->tmux)
            buf_puts(out, "\0337");
        else if (caps->mode == TERM_DISPLAY_ITERM2)
            term_tmux_wrap("\0337", 2, out);
        buf_append(out, image.data, image.len);
        if (caps->mode == TERM_DISPLAY_ITERM2 && !caps->tmux)
            buf_puts(out, "\0338");
        else if (caps->mode == TERM_DISPLAY_ITERM2)
            term_tmux_wrap("\0338", 2, out);
        buf_printf(out, "\033[%dB\r", pl.used_rows);
        buf_release(&image);
        break;
    }
    case TERM_DISPLAY_SIXEL: {
        /* Sixel is pixels: the meme at its own size when it fits. */
        int w = max_cols * cw < img->width ? max_cols * cw : img->width;
        int h = max_rows * ch < img->height ? max_rows * ch : img->height;
        rc = term_encode_sixel(img, w, h, out, err);
        if (rc == 0)
            buf_putc(out, '\n');
        break;
    }
    case TERM_DISPLAY_BLOCKS:
        if (term_encode_blocks(img, max_cols, max_rows, caps->truecolor, out) < 0)
            rc = meme_err_set(err, MEME_E_IMAGE, "cannot draw the image as half blocks");
        break;
    default:
        break;
    }
    return rc;
}
