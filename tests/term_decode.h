/*
 * Decoders for what lib/term writes, shared by the unit and integration
 * tests: kitty graphics commands (chunks reassembled, base64, PNG or raw RGB),
 * OSC 1337 inline images, sixel through libsixel's decoder, half blocks read
 * back into pixels, and tmux passthrough unwrapped. Include after cmocka.h.
 */
#ifndef MEME_TEST_TERM_DECODE_H
#define MEME_TEST_TERM_DECODE_H

#include "buf.h"
#include "render/image.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libdeflate.h>
#include <openssl/evp.h>
#include <sixel.h>

#ifndef UPPER_HALF
#define UPPER_HALF "\xe2\x96\x80"
#endif

static inline uint8_t *b64_decode(const char *s, size_t len, size_t *out_len)
{
    assert_int_equal(len % 4, 0);
    uint8_t *out = xmalloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)len);
    assert_true(n >= 0);
    size_t got = (size_t)n;
    if (len && s[len - 1] == '=')
        got--;
    if (len > 1 && s[len - 2] == '=')
        got--;
    *out_len = got;
    return out;
}

/* Undoes term_tmux_wrap() on every passthrough sequence in s. */
static inline struct buf tmux_unwrap(const struct buf *s)
{
    struct buf out = BUF_INIT;
    size_t i = 0;
    while (i < s->len) {
        if (i + 7 <= s->len && memcmp(s->data + i, "\033Ptmux;", 7) == 0) {
            i += 7;
            for (;;) {
                assert_true(i + 1 < s->len);
                if (s->data[i] == 0x1b && s->data[i + 1] == 0x1b) {
                    buf_putc(&out, 0x1b);
                    i += 2;
                } else if (s->data[i] == 0x1b && s->data[i + 1] == '\\') {
                    i += 2;
                    break;
                } else {
                    /* A lone ESC would end the passthrough early. */
                    assert_int_not_equal(s->data[i], 0x1b);
                    buf_putc(&out, (char)s->data[i++]);
                }
            }
        } else {
            buf_putc(&out, (char)s->data[i++]);
        }
    }
    return out;
}

struct kitty_cmd {
    char keys[256];
    struct buf payload; /* the base64 of every chunk, joined */
    int chunks;
};

static inline const char *key(const char *keys, const char *name, char *val, size_t cap)
{
    size_t n = strlen(name);
    for (const char *k = keys; k && *k;) {
        if (strncmp(k, name, n) == 0 && k[n] == '=') {
            size_t l = strcspn(k + n + 1, ",");
            snprintf(val, cap, "%.*s", (int)l, k + n + 1);
            return val;
        }
        k = strchr(k, ',');
        if (k)
            k++;
    }
    return NULL;
}

static inline int key_int(const char *keys, const char *name)
{
    char v[32];
    return key(keys, name, v, sizeof(v)) ? atoi(v) : -1;
}

/* Reads one kitty command (its chunks) from s at *pos, as kitty does: keys
 * from the first chunk, m=1 on all but the last, each chunk at most 4096
 * bytes of base64. */
static inline void kitty_read(const struct buf *s, size_t *pos, struct kitty_cmd *cmd)
{
    memset(cmd, 0, sizeof(*cmd));
    for (;;) {
        const char *p = (const char *)s->data + *pos;
        assert_memory_equal(p, "\033_G", 3);
        const char *semi = strchr(p, ';');
        const char *end = strstr(p, "\033\\");
        assert_non_null(end);
        char keys[256];
        const char *body = semi && semi < end ? semi + 1 : end;
        snprintf(keys, sizeof(keys), "%.*s", (int)(body - (semi && semi < end ? 1 : 0) - p - 3),
                 p + 3);
        if (cmd->chunks == 0)
            snprintf(cmd->keys, sizeof(cmd->keys), "%s", keys);
        else
            assert_true(strncmp(keys, "m=", 2) == 0); /* later chunks: m only */
        assert_true(end - body <= 4096);
        buf_append(&cmd->payload, body, (size_t)(end - body));
        cmd->chunks++;
        *pos = (size_t)(end + 2 - (const char *)s->data);
        int m = key_int(keys, "m");
        if (m != 1)
            break;
    }
}

/* The picture kitty would show: PNG (f=100) decoded, or raw RGB (f=24),
 * inflated first when o=z. */
static inline struct meme_image *kitty_image(const struct kitty_cmd *cmd)
{
    size_t len;
    uint8_t *raw = b64_decode((const char *)cmd->payload.data, cmd->payload.len, &len);
    struct meme_image *img = NULL;
    if (key_int(cmd->keys, "f") == 100) {
        img = image_decode(raw, len, NULL);
    } else {
        assert_int_equal(key_int(cmd->keys, "f"), 24);
        int w = key_int(cmd->keys, "s"), h = key_int(cmd->keys, "v");
        img = image_new(w, h);
        char o[8];
        if (key(cmd->keys, "o", o, sizeof(o))) {
            assert_string_equal(o, "z");
            struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
            size_t got = 0;
            assert_int_equal(
                libdeflate_zlib_decompress(d, raw, len, img->rgb, (size_t)w * h * 3, &got),
                LIBDEFLATE_SUCCESS);
            libdeflate_free_decompressor(d);
            assert_int_equal(got, (size_t)w * h * 3);
        } else {
            assert_int_equal(len, (size_t)w * h * 3);
            memcpy(img->rgb, raw, len);
        }
    }
    free(raw);
    assert_non_null(img);
    return img;
}

/* The file in an OSC 1337 inline image, and its attributes. */
static inline uint8_t *iterm2_read(const struct buf *s, char *attrs, size_t cap, size_t *len)
{
    const char *p = (const char *)s->data;
    assert_memory_equal(p, "\033]1337;File=", 12);
    const char *colon = strchr(p, ':');
    const char *bel = memchr(p, '\a', s->len);
    assert_non_null(colon);
    assert_non_null(bel);
    assert_int_equal(bel + 1 - p, (long)s->len); /* one sequence, nothing after */
    snprintf(attrs, cap, "%.*s", (int)(colon - p - 12), p + 12);
    return b64_decode(colon + 1, (size_t)(bel - colon - 1), len);
}

static inline int attr_int(const char *attrs, const char *name)
{
    char pat[32];
    snprintf(pat, sizeof(pat), "%s=", name);
    for (const char *a = attrs; a; a = strchr(a, ';') ? strchr(a, ';') + 1 : NULL)
        if (strncmp(a, pat, strlen(pat)) == 0)
            return atoi(a + strlen(pat));
    return -1;
}

/* Decodes sixel with libsixel's decoder into an RGB image. */
static inline struct meme_image *sixel_image(const struct buf *out)
{
    unsigned char *px = NULL, *pal = NULL;
    int w = 0, h = 0, ncolors = 0;
    SIXELSTATUS st = sixel_decode_raw((unsigned char *)out->data, (int)out->len, &px, &w, &h, &pal,
                                      &ncolors, NULL);
    assert_true(SIXEL_SUCCEEDED(st));
    struct meme_image *img = image_new(w, h);
    for (int i = 0; i < w * h; i++)
        memcpy(img->rgb + i * 3, pal + px[i] * 3, 3);
    free(px);
    free(pal);
    return img;
}

/* Reads half blocks back into pixels: the foreground of each cell is the
 * upper pixel, the background the lower one. */
static inline struct meme_image *blocks_image(const struct buf *out, bool truecolor)
{
    static const int level[6] = {0, 95, 135, 175, 215, 255};
    int w = 0, rows = 0, x = 0;
    int fg[3] = {0}, bg[3] = {0};
    uint8_t *px = NULL;
    size_t cap = 0;
    const char *s = (const char *)out->data, *end = s + out->len;
    while (s < end) {
        if (*s == '\033') {
            int layer, a, b, c, d, n;
            if (sscanf(s, "\033[%d;2;%d;%d;%dm%n", &layer, &a, &b, &c, &n) == 4 && truecolor) {
                int *t = layer == 38 ? fg : bg;
                t[0] = a;
                t[1] = b;
                t[2] = c;
            } else if (sscanf(s, "\033[%d;5;%dm%n", &layer, &d, &n) == 2 && !truecolor) {
                int *t = layer == 38 ? fg : bg;
                if (d >= 232) {
                    t[0] = t[1] = t[2] = 8 + 10 * (d - 232);
                } else {
                    d -= 16;
                    t[0] = level[d / 36];
                    t[1] = level[d / 6 % 6];
                    t[2] = level[d % 6];
                }
            } else {
                assert_memory_equal(s, "\033[0m", 4);
                n = 4;
            }
            s += n;
        } else if (*s == '\n') {
            if (rows == 0)
                w = x;
            assert_int_equal(x, w);
            rows++;
            x = 0;
            s++;
        } else {
            assert_memory_equal(s, UPPER_HALF, 3);
            size_t need = ((size_t)(rows + 1) * 2) * 4096 * 3;
            if (need > cap) {
                px = realloc(px, need);
                cap = need;
            }
            for (int k = 0; k < 3; k++) {
                px[((size_t)(rows * 2) * 4096 + x) * 3 + k] = (uint8_t)fg[k];
                px[((size_t)(rows * 2 + 1) * 4096 + x) * 3 + k] = (uint8_t)bg[k];
            }
            x++;
            s += 3;
        }
    }
    struct meme_image *img = image_new(w, rows * 2);
    for (int y = 0; y < rows * 2; y++)
        memcpy(img->rgb + (size_t)y * w * 3, px + (size_t)y * 4096 * 3, (size_t)w * 3);
    free(px);
    return img;
}

#endif
