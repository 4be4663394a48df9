/*
 * Images: the hand-written PNG container (round trips, chunk layout, read
 * back by libpng on its own), JPEG round trips, decoding PNGs of every
 * colour type that libpng itself writes, refusing truncated, garbage and
 * oversized input, loading files, and resampling.
 */
#include "buf.h"
#include "err.h"
#include "render/image.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <libdeflate.h>
#include <png.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

static uint32_t rng_state = 2463534242u;

static uint32_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static struct meme_image *noise_image(int w, int h)
{
    struct meme_image *img = image_new(w, h);
    assert_non_null(img);
    for (size_t i = 0; i < (size_t)w * h * 3; i++)
        img->rgb[i] = (uint8_t)rng();
    return img;
}

/* Smooth, photo-like content: gradients plus a soft pattern. */
static struct meme_image *gradient_image(int w, int h)
{
    struct meme_image *img = image_new(w, h);
    assert_non_null(img);
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = (uint8_t)((x + y) * 255 / (w + h));
        }
    }
    return img;
}

static struct meme_image *filled_image(int w, int h, uint8_t r, uint8_t g, uint8_t b)
{
    struct meme_image *img = image_new(w, h);
    assert_non_null(img);
    for (size_t i = 0; i < (size_t)w * h; i++) {
        img->rgb[i * 3] = r;
        img->rgb[i * 3 + 1] = g;
        img->rgb[i * 3 + 2] = b;
    }
    return img;
}

static const uint8_t *px(const struct meme_image *img, int x, int y)
{
    return img->rgb + ((size_t)y * img->width + x) * 3;
}

static void assert_px(const struct meme_image *img, int x, int y, int r, int g, int b, int tol)
{
    const uint8_t *p = px(img, x, y);
    if (abs(p[0] - r) > tol || abs(p[1] - g) > tol || abs(p[2] - b) > tol) {
        print_error("pixel (%d,%d) is %d,%d,%d, want %d,%d,%d (+-%d)\n", x, y, p[0], p[1], p[2], r,
                    g, b, tol);
        fail();
    }
}

static double mean_abs_error(const struct meme_image *a, const struct meme_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    size_t n = (size_t)a->width * a->height * 3;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs(a->rgb[i] - b->rgb[i]);
    return sum / (double)n;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- libpng as an independent writer and reader ---------------------- */

static void png_buf_write(png_structp png, png_bytep data, size_t n)
{
    buf_append(png_get_io_ptr(png), data, n);
}

static void png_buf_flush(png_structp png)
{
    (void)png;
}

struct png_spec {
    int width, height, depth, type, interlace;
    const png_color *palette;
    int npalette;
    const uint8_t *trns; /* palette alpha */
    int ntrns;
    const png_color_16 *trns_colour; /* grey or RGB colour key */
};

/* rows: height rows of rowbytes each, already in the PNG's sample layout
 * (16-bit samples big-endian, sub-byte samples packed). */
static uint8_t *libpng_write(const struct png_spec *s, const uint8_t *rows, size_t rowbytes,
                             size_t *len)
{
    struct buf out = BUF_INIT;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    assert_non_null(png);
    png_infop info = png_create_info_struct(png);
    assert_non_null(info);
    if (setjmp(png_jmpbuf(png)))
        fail_msg("libpng failed to write the test image");
    png_set_write_fn(png, &out, png_buf_write, png_buf_flush);
    png_set_IHDR(png, info, (png_uint_32)s->width, (png_uint_32)s->height, s->depth, s->type,
                 s->interlace, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (s->palette)
        png_set_PLTE(png, info, s->palette, s->npalette);
    if (s->trns || s->trns_colour)
        png_set_tRNS(png, info, s->trns, s->ntrns, s->trns_colour);
    png_bytep *ptrs = xmalloc((size_t)s->height * sizeof(png_bytep));
    for (int y = 0; y < s->height; y++)
        ptrs[y] = (png_bytep)rows + (size_t)y * rowbytes;
    png_set_rows(png, info, ptrs);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    png_destroy_write_struct(&png, &info);
    free(ptrs);
    return buf_detach(&out, len);
}

static struct meme_image *decode_ok(const uint8_t *data, size_t len)
{
    struct meme_err err = {0};
    struct meme_image *img = image_decode(data, len, &err);
    if (!img)
        fail_msg("decode failed: %s", err.msg);
    return img;
}

static void assert_decode_fails(const uint8_t *data, size_t len, const char *want_in_msg)
{
    struct meme_err err = {0};
    struct meme_image *img = image_decode(data, len, &err);
    if (img) {
        image_free(img);
        fail_msg("decoded %zu bytes that should have been refused", len);
    }
    assert_int_equal(err.code, MEME_E_IMAGE);
    assert_true(err.msg[0] != '\0');
    if (want_in_msg && !strstr(err.msg, want_in_msg))
        fail_msg("message \"%s\" lacks \"%s\"", err.msg, want_in_msg);
}

static uint8_t *encode_png_ok(const struct meme_image *img, size_t *len)
{
    uint8_t *out = NULL;
    struct meme_err err = {0};
    assert_int_equal(image_encode_png(img, &out, len, &err), 0);
    assert_non_null(out);
    return out;
}

static uint8_t *encode_jpeg_ok(const struct meme_image *img, int quality, size_t *len)
{
    uint8_t *out = NULL;
    struct meme_err err = {0};
    assert_int_equal(image_encode_jpeg(img, quality, &out, len, &err), 0);
    assert_non_null(out);
    return out;
}

/* ---- basics ------------------------------------------------------------ */

static void test_new_free_dup(void **state)
{
    (void)state;
    struct meme_image *img = image_new(3, 2);
    assert_non_null(img);
    assert_int_equal(img->width, 3);
    assert_int_equal(img->height, 2);
    for (int i = 0; i < 18; i++)
        assert_int_equal(img->rgb[i], 0);
    img->rgb[4] = 77;
    struct meme_image *copy = image_dup(img);
    assert_non_null(copy);
    assert_ptr_not_equal(copy->rgb, img->rgb);
    assert_memory_equal(copy->rgb, img->rgb, 18);
    copy->rgb[4] = 1;
    assert_int_equal(img->rgb[4], 77);
    image_free(copy);
    image_free(img);
    image_free(NULL);
    assert_null(image_dup(NULL));

    assert_null(image_new(0, 1));
    assert_null(image_new(1, 0));
    assert_null(image_new(-1, 5));
    assert_null(image_new(IMAGE_MAX_DIM + 1, 1));
    assert_null(image_new(1, IMAGE_MAX_DIM + 1));
    img = image_new(IMAGE_MAX_DIM, 1);
    assert_non_null(img);
    image_free(img);
}

static void test_sniff_and_names(void **state)
{
    (void)state;
    static const uint8_t png_sig[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0};
    static const uint8_t jpeg_sig[] = {0xff, 0xd8, 0xff, 0xe0};
    assert_int_equal(image_sniff(png_sig, sizeof(png_sig)), IMAGE_PNG);
    assert_int_equal(image_sniff(png_sig, 8), IMAGE_PNG);
    assert_int_equal(image_sniff(png_sig, 7), -1);
    assert_int_equal(image_sniff(jpeg_sig, sizeof(jpeg_sig)), IMAGE_JPEG);
    assert_int_equal(image_sniff(jpeg_sig, 3), IMAGE_JPEG);
    assert_int_equal(image_sniff(jpeg_sig, 2), -1);
    assert_int_equal(image_sniff((const uint8_t *)"GIF89a", 6), -1);
    assert_int_equal(image_sniff(NULL, 0), -1);

    assert_string_equal(image_content_type(IMAGE_PNG), "image/png");
    assert_string_equal(image_content_type(IMAGE_JPEG), "image/jpeg");
    assert_string_equal(image_extension(IMAGE_PNG), "png");
    assert_string_equal(image_extension(IMAGE_JPEG), "jpg");
}

static void test_encode_rejects_bad_input(void **state)
{
    (void)state;
    static uint8_t dummy;
    uint8_t *out = &dummy;
    size_t len = 99;
    struct meme_err err = {0};
    assert_int_equal(image_encode_png(NULL, &out, &len, &err), MEME_E_IMAGE);
    assert_null(out);
    assert_int_equal(len, 0);

    struct meme_image bad = {0, 4, NULL};
    err.code = 0;
    assert_int_equal(image_encode(&bad, IMAGE_JPEG, &out, &len, &err), MEME_E_IMAGE);
    assert_int_equal(err.code, MEME_E_IMAGE);

    struct meme_image *img = filled_image(4, 4, 1, 2, 3);
    assert_int_equal(image_encode_jpeg(img, 101, &out, &len, &err), MEME_E_IMAGE);
    assert_non_null(strstr(err.msg, "quality"));
    assert_int_equal(image_encode_jpeg(img, -5, &out, &len, &err), MEME_E_IMAGE);
    assert_int_equal(image_encode(img, (enum image_format)7, &out, &len, &err), MEME_E_IMAGE);
    assert_null(out);
    /* NULL err is allowed. */
    assert_int_equal(image_encode_png(NULL, &out, &len, NULL), MEME_E_IMAGE);
    image_free(img);
}

/* ---- PNG --------------------------------------------------------------- */

static void test_png_round_trip_exact(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1},   {2, 3},   {7, 5},     {33, 17},
                                   {100, 1}, {1, 100}, {257, 129}, {640, 3}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct meme_image *img = noise_image(sizes[i][0], sizes[i][1]);
        size_t len;
        uint8_t *png = encode_png_ok(img, &len);
        assert_int_equal(image_sniff(png, len), IMAGE_PNG);
        struct meme_image *back = decode_ok(png, len);
        assert_int_equal(back->width, img->width);
        assert_int_equal(back->height, img->height);
        assert_memory_equal(back->rgb, img->rgb, (size_t)img->width * img->height * 3);
        image_free(back);
        free(png);
        image_free(img);
    }
}

/* Signature, IHDR, one IDAT, IEND, each CRC right, every row SUB-filtered. */
static void test_png_container_layout(void **state)
{
    (void)state;
    struct meme_image *img = gradient_image(37, 11);
    size_t len;
    uint8_t *png = encode_png_ok(img, &len);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(png, sig, 8);

    const char *want[] = {"IHDR", "IDAT", "IEND"};
    size_t pos = 8;
    const uint8_t *idat = NULL;
    size_t idat_len = 0;
    for (int c = 0; c < 3; c++) {
        assert_true(pos + 12 <= len);
        uint32_t n = be32(png + pos);
        assert_true(pos + 12 + n <= len);
        assert_memory_equal(png + pos + 4, want[c], 4);
        assert_int_equal(be32(png + pos + 8 + n), libdeflate_crc32(0, png + pos + 4, n + 4));
        if (c == 0) {
            const uint8_t *h = png + pos + 8;
            assert_int_equal(n, 13);
            assert_int_equal(be32(h), 37);
            assert_int_equal(be32(h + 4), 11);
            assert_int_equal(h[8], 8);
            assert_int_equal(h[9], 2);
            assert_int_equal(h[10], 0);
            assert_int_equal(h[11], 0);
            assert_int_equal(h[12], 0);
        } else if (c == 1) {
            idat = png + pos + 8;
            idat_len = n;
        } else {
            assert_int_equal(n, 0);
        }
        pos += 12 + n;
    }
    assert_int_equal(pos, len);

    size_t raw_len = 11 * (1 + 37 * 3), got = 0;
    uint8_t *raw = xmalloc(raw_len);
    struct libdeflate_decompressor *dec = libdeflate_alloc_decompressor();
    assert_non_null(dec);
    assert_int_equal(libdeflate_zlib_decompress(dec, idat, idat_len, raw, raw_len, &got),
                     LIBDEFLATE_SUCCESS);
    libdeflate_free_decompressor(dec);
    assert_int_equal(got, raw_len);
    for (int y = 0; y < 11; y++)
        assert_int_equal(raw[(size_t)y * (1 + 37 * 3)], 1);
    free(raw);
    free(png);
    image_free(img);
}

/* libpng's simplified API reads our gradient on its own, not through
 * image_decode(). */
static void test_png_read_by_libpng(void **state)
{
    (void)state;
    struct meme_image *img = gradient_image(300, 200);
    size_t len;
    uint8_t *data = encode_png_ok(img, &len);

    png_image pi;
    memset(&pi, 0, sizeof(pi));
    pi.version = PNG_IMAGE_VERSION;
    assert_true(png_image_begin_read_from_memory(&pi, data, len));
    assert_int_equal(pi.width, 300);
    assert_int_equal(pi.height, 200);
    pi.format = PNG_FORMAT_RGB;
    uint8_t *pixels = xmalloc(PNG_IMAGE_SIZE(pi));
    assert_true(png_image_finish_read(&pi, NULL, pixels, 0, NULL));
    assert_int_equal(PNG_IMAGE_SIZE(pi), 300 * 200 * 3);
    assert_memory_equal(pixels, img->rgb, 300 * 200 * 3);
    png_image_free(&pi);
    free(pixels);
    free(data);
    image_free(img);
}

static void test_png_truncated(void **state)
{
    (void)state;
    struct meme_image *img = noise_image(9, 7);
    size_t len;
    uint8_t *png = encode_png_ok(img, &len);
    /* Every proper prefix, each in its own allocation so ASan sees any
     * read past the end. */
    for (size_t n = 1; n < len; n++) {
        uint8_t *part = xmalloc(n);
        memcpy(part, png, n);
        assert_decode_fails(part, n, NULL);
        free(part);
    }
    free(png);
    image_free(img);
}

static void test_png_corrupt(void **state)
{
    (void)state;
    struct meme_image *img = gradient_image(20, 20);
    size_t len;
    uint8_t *png = encode_png_ok(img, &len);
    /* A flipped bit inside IDAT breaks its CRC. */
    png[8 + 25 + 8 + 5] ^= 0x10;
    assert_decode_fails(png, len, "PNG");
    free(png);
    image_free(img);
}

static void test_garbage(void **state)
{
    (void)state;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_decode_fails(NULL, 0, NULL);
    assert_decode_fails((const uint8_t *)"x", 1, NULL);
    for (int round = 0; round < 50; round++) {
        size_t n = 1 + rng() % 2000;
        uint8_t *data = xmalloc(n + 8);
        for (size_t i = 0; i < n + 8; i++)
            data[i] = (uint8_t)rng();
        if (data[0] == 0x89 || data[0] == 0xff)
            data[0] = 0;
        assert_decode_fails(data, n, "not PNG or JPEG");
        memcpy(data, png_sig, 8);
        assert_decode_fails(data, n + 8, "PNG");
        data[0] = 0xff;
        data[1] = 0xd8;
        data[2] = 0xff;
        assert_decode_fails(data, n + 3, "JPEG");
        free(data);
    }
}

static uint8_t *png_with_ihdr(uint32_t w, uint32_t h, size_t *len)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    uint8_t *p = xcalloc(8 + 25 + 12, 1);
    memcpy(p, sig, 8);
    put_be32(p + 8, 13);
    memcpy(p + 12, "IHDR", 4);
    put_be32(p + 16, w);
    put_be32(p + 20, h);
    p[24] = 8;
    p[25] = 2;
    put_be32(p + 29, libdeflate_crc32(0, p + 12, 17));
    /* An empty IDAT: there is no pixel data at all, so a decoder that got
     * past the size check would fail differently. */
    memcpy(p + 37, "IDAT", 4);
    put_be32(p + 41, libdeflate_crc32(0, p + 37, 4));
    *len = 8 + 25 + 12;
    return p;
}

static void test_png_too_large(void **state)
{
    (void)state;
    size_t len;
    uint8_t *p = png_with_ihdr(100000, 1, &len);
    assert_decode_fails(p, len, "100000x1");
    free(p);
    p = png_with_ihdr(1, IMAGE_MAX_DIM + 1, &len);
    assert_decode_fails(p, len, "1x8193");
    free(p);
    /* Too big to allocate at all (about 30 GB): refused from the header. */
    p = png_with_ihdr(100000, 100000, &len);
    assert_decode_fails(p, len, NULL);
    free(p);
}

/* ---- PNGs written by libpng -------------------------------------------- */

static void test_png_palette(void **state)
{
    (void)state;
    static const png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
    uint8_t rows[3 * 2] = {0, 1, 2, 3, 2, 1};
    struct png_spec s = {.width = 3,
                         .height = 2,
                         .depth = 8,
                         .type = PNG_COLOR_TYPE_PALETTE,
                         .palette = pal,
                         .npalette = 4};
    size_t len;
    uint8_t *data = libpng_write(&s, rows, 3, &len);
    struct meme_image *img = decode_ok(data, len);
    assert_int_equal(img->width, 3);
    assert_int_equal(img->height, 2);
    assert_px(img, 0, 0, 255, 0, 0, 0);
    assert_px(img, 1, 0, 0, 255, 0, 0);
    assert_px(img, 2, 0, 0, 0, 255, 0);
    assert_px(img, 0, 1, 10, 20, 30, 0);
    assert_px(img, 2, 1, 0, 255, 0, 0);
    image_free(img);
    free(data);

    /* 2-bit palette with transparency: index 1 fully transparent, index 2
     * half transparent, composited over white. */
    static const uint8_t trns[3] = {255, 0, 128};
    uint8_t packed[1] = {0x1b}; /* 00 01 10 11 */
    struct png_spec s2 = {.width = 4,
                          .height = 1,
                          .depth = 2,
                          .type = PNG_COLOR_TYPE_PALETTE,
                          .palette = pal,
                          .npalette = 4,
                          .trns = trns,
                          .ntrns = 3};
    data = libpng_write(&s2, packed, 1, &len);
    img = decode_ok(data, len);
    assert_int_equal(img->width, 4);
    assert_px(img, 0, 0, 255, 0, 0, 0);
    assert_px(img, 1, 0, 255, 255, 255, 0);
    assert_px(img, 2, 0, 127, 127, 255, 1);
    assert_px(img, 3, 0, 10, 20, 30, 0);
    image_free(img);
    free(data);
}

static void test_png_gray(void **state)
{
    (void)state;
    uint8_t g8[4] = {0, 100, 200, 255};
    struct png_spec s = {.width = 2, .height = 2, .depth = 8, .type = PNG_COLOR_TYPE_GRAY};
    size_t len;
    uint8_t *data = libpng_write(&s, g8, 2, &len);
    struct meme_image *img = decode_ok(data, len);
    assert_px(img, 0, 0, 0, 0, 0, 0);
    assert_px(img, 1, 0, 100, 100, 100, 0);
    assert_px(img, 0, 1, 200, 200, 200, 0);
    assert_px(img, 1, 1, 255, 255, 255, 0);
    image_free(img);
    free(data);

    /* 1-bit grey, 10 pixels wide: 1011001110 */
    uint8_t g1[2] = {0xb3, 0x80};
    struct png_spec s1 = {.width = 10, .height = 1, .depth = 1, .type = PNG_COLOR_TYPE_GRAY};
    data = libpng_write(&s1, g1, 2, &len);
    img = decode_ok(data, len);
    static const int bits[10] = {1, 0, 1, 1, 0, 0, 1, 1, 1, 0};
    for (int x = 0; x < 10; x++)
        assert_px(img, x, 0, bits[x] * 255, bits[x] * 255, bits[x] * 255, 0);
    image_free(img);
    free(data);

    /* 16-bit grey, big-endian samples, scaled to 8 bits. */
    uint8_t g16[4] = {0xff, 0xff, 0x80, 0x00};
    struct png_spec s16 = {.width = 2, .height = 1, .depth = 16, .type = PNG_COLOR_TYPE_GRAY};
    data = libpng_write(&s16, g16, 4, &len);
    img = decode_ok(data, len);
    assert_px(img, 0, 0, 255, 255, 255, 0);
    assert_px(img, 1, 0, 128, 128, 128, 1);
    image_free(img);
    free(data);

    /* Grey with a colour key: grey 50 is transparent (so white). */
    png_color_16 key = {.gray = 50};
    uint8_t gk[2] = {50, 60};
    struct png_spec sk = {
        .width = 2, .height = 1, .depth = 8, .type = PNG_COLOR_TYPE_GRAY, .trns_colour = &key};
    data = libpng_write(&sk, gk, 2, &len);
    img = decode_ok(data, len);
    assert_px(img, 0, 0, 255, 255, 255, 0);
    assert_px(img, 1, 0, 60, 60, 60, 0);
    image_free(img);
    free(data);
}

static void test_png_alpha(void **state)
{
    (void)state;
    uint8_t rgba[4 * 4] = {
        200, 100, 50, 255, /* opaque */
        200, 100, 50, 0,   /* transparent: white */
        0,   0,   0,  128, /* half black over white */
        255, 0,   0,  64,
    };
    struct png_spec s = {.width = 4, .height = 1, .depth = 8, .type = PNG_COLOR_TYPE_RGB_ALPHA};
    size_t len;
    uint8_t *data = libpng_write(&s, rgba, 16, &len);
    struct meme_image *img = decode_ok(data, len);
    assert_px(img, 0, 0, 200, 100, 50, 0);
    assert_px(img, 1, 0, 255, 255, 255, 0);
    assert_px(img, 2, 0, 127, 127, 127, 1);
    assert_px(img, 3, 0, 255, 191, 191, 1);
    image_free(img);
    free(data);

    uint8_t ga[2 * 2] = {80, 255, 80, 0};
    struct png_spec sg = {.width = 2, .height = 1, .depth = 8, .type = PNG_COLOR_TYPE_GRAY_ALPHA};
    data = libpng_write(&sg, ga, 4, &len);
    img = decode_ok(data, len);
    assert_px(img, 0, 0, 80, 80, 80, 0);
    assert_px(img, 1, 0, 255, 255, 255, 0);
    image_free(img);
    free(data);

    /* 16-bit RGBA: opaque mid red. */
    uint8_t rgba16[8] = {0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff};
    struct png_spec s16 = {.width = 1, .height = 1, .depth = 16, .type = PNG_COLOR_TYPE_RGB_ALPHA};
    data = libpng_write(&s16, rgba16, 8, &len);
    img = decode_ok(data, len);
    assert_px(img, 0, 0, 128, 0, 0, 1);
    image_free(img);
    free(data);
}

static void test_png_interlaced(void **state)
{
    (void)state;
    struct meme_image *want = noise_image(19, 13);
    struct png_spec s = {.width = 19,
                         .height = 13,
                         .depth = 8,
                         .type = PNG_COLOR_TYPE_RGB,
                         .interlace = PNG_INTERLACE_ADAM7};
    size_t len;
    uint8_t *data = libpng_write(&s, want->rgb, 19 * 3, &len);
    struct meme_image *img = decode_ok(data, len);
    assert_memory_equal(img->rgb, want->rgb, 19 * 13 * 3);
    image_free(img);
    free(data);

    /* Interlaced with alpha: opaque pixels keep their colour exactly. */
    uint8_t *rgba = xmalloc(19 * 13 * 4);
    for (int i = 0; i < 19 * 13; i++) {
        memcpy(rgba + i * 4, want->rgb + i * 3, 3);
        rgba[i * 4 + 3] = 255;
    }
    s.type = PNG_COLOR_TYPE_RGB_ALPHA;
    data = libpng_write(&s, rgba, 19 * 4, &len);
    img = decode_ok(data, len);
    assert_memory_equal(img->rgb, want->rgb, 19 * 13 * 3);
    image_free(img);
    free(data);
    free(rgba);
    image_free(want);
}

/* ---- JPEG -------------------------------------------------------------- */

static void test_jpeg_round_trip(void **state)
{
    (void)state;
    static const int sizes[][2] = {{1, 1}, {16, 16}, {33, 17}, {200, 120}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct meme_image *img = gradient_image(sizes[i][0], sizes[i][1]);
        size_t len;
        uint8_t *jpg = encode_jpeg_ok(img, 90, &len);
        assert_int_equal(image_sniff(jpg, len), IMAGE_JPEG);
        struct meme_image *back = decode_ok(jpg, len);
        assert_int_equal(back->width, img->width);
        assert_int_equal(back->height, img->height);
        double mae = mean_abs_error(img, back);
        if (mae > 3.0)
            fail_msg("%dx%d: mean abs error %.2f", img->width, img->height, mae);
        image_free(back);
        free(jpg);
        image_free(img);
    }

    /* Quality 0 means the default; image_encode() picks JPEG by format. */
    struct meme_image *img = gradient_image(64, 48);
    size_t l0, l85, l;
    uint8_t *q0 = encode_jpeg_ok(img, 0, &l0);
    uint8_t *q85 = encode_jpeg_ok(img, 85, &l85);
    assert_int_equal(l0, l85);
    assert_memory_equal(q0, q85, l0);
    uint8_t *out = NULL;
    struct meme_err err = {0};
    assert_int_equal(image_encode(img, IMAGE_JPEG, &out, &l, &err), 0);
    assert_int_equal(l, l85);
    assert_memory_equal(out, q85, l);
    free(out);
    assert_int_equal(image_encode(img, IMAGE_PNG, &out, &l, &err), 0);
    assert_int_equal(image_sniff(out, l), IMAGE_PNG);
    free(out);
    /* Lower quality, smaller file. */
    uint8_t *q10 = encode_jpeg_ok(img, 10, &l);
    assert_true(l < l85);
    free(q10);
    free(q0);
    free(q85);
    image_free(img);
}

static void test_jpeg_truncated(void **state)
{
    (void)state;
    struct meme_image *img = noise_image(24, 16);
    size_t len;
    uint8_t *jpg = encode_jpeg_ok(img, 75, &len);
    for (size_t n = 1; n < len; n++) {
        uint8_t *part = xmalloc(n);
        memcpy(part, jpg, n);
        assert_decode_fails(part, n, NULL);
        free(part);
    }
    free(jpg);
    image_free(img);
}

/* Finds the SOF0 segment and rewrites its height and width. */
static void jpeg_patch_size(uint8_t *jpg, size_t len, uint16_t w, uint16_t h)
{
    for (size_t i = 2; i + 9 < len;) {
        assert_int_equal(jpg[i], 0xff);
        uint8_t marker = jpg[i + 1];
        size_t seg = (size_t)jpg[i + 2] << 8 | jpg[i + 3];
        if (marker == 0xc0) {
            jpg[i + 5] = (uint8_t)(h >> 8);
            jpg[i + 6] = (uint8_t)h;
            jpg[i + 7] = (uint8_t)(w >> 8);
            jpg[i + 8] = (uint8_t)w;
            return;
        }
        i += 2 + seg;
    }
    fail_msg("no SOF0 segment");
}

static void test_jpeg_too_large(void **state)
{
    (void)state;
    struct meme_image *img = gradient_image(8, 8);
    size_t len;
    uint8_t *jpg = encode_jpeg_ok(img, 80, &len);
    jpeg_patch_size(jpg, len, 10000, 8);
    assert_decode_fails(jpg, len, "10000x8");
    jpeg_patch_size(jpg, len, 8, 60000);
    assert_decode_fails(jpg, len, "8x60000");
    free(jpg);
    image_free(img);
}

struct jpeg_out {
    unsigned char *data;
    unsigned long len;
};

/* A JPEG in another colour space, written by libjpeg directly. */
static void libjpeg_write(J_COLOR_SPACE cs, int comps, const uint8_t *pixels, int w, int h,
                          struct jpeg_out *out)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr jerr;
    c.err = jpeg_std_error(&jerr);
    jpeg_create_compress(&c);
    out->data = NULL;
    out->len = 0;
    jpeg_mem_dest(&c, &out->data, &out->len);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 95, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)pixels + (size_t)c.next_scanline * w * comps;
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
}

static void test_jpeg_gray_and_cmyk(void **state)
{
    (void)state;
    uint8_t gray[16 * 16];
    memset(gray, 90, sizeof(gray));
    struct jpeg_out out;
    libjpeg_write(JCS_GRAYSCALE, 1, gray, 16, 16, &out);
    struct meme_image *img = decode_ok(out.data, out.len);
    assert_int_equal(img->width, 16);
    assert_px(img, 5, 5, 90, 90, 90, 2);
    image_free(img);
    free(out.data);

    /* libjpeg marks CMYK with an Adobe segment, so the samples are read as
     * Adobe's inverted CMYK: this is red. */
    uint8_t cmyk[16 * 16 * 4];
    for (int i = 0; i < 16 * 16; i++) {
        cmyk[i * 4] = 255;
        cmyk[i * 4 + 1] = 0;
        cmyk[i * 4 + 2] = 0;
        cmyk[i * 4 + 3] = 255;
    }
    libjpeg_write(JCS_CMYK, 4, cmyk, 16, 16, &out);
    img = decode_ok(out.data, out.len);
    assert_px(img, 8, 8, 255, 0, 0, 3);
    image_free(img);
    free(out.data);
}

/* ---- files ------------------------------------------------------------- */

static void test_load(void **state)
{
    (void)state;
    struct meme_err err = {0};
    const char *missing = "/nonexistent-dir/no-such-image.png";
    assert_null(image_load(missing, &err));
    assert_true(err.code == MEME_E_NOT_FOUND || err.code == MEME_E_IO);
    assert_non_null(strstr(err.msg, missing));

    memset(&err, 0, sizeof(err));
    assert_null(image_load("/", &err));
    assert_int_equal(err.code, MEME_E_IO);
    assert_non_null(strstr(err.msg, "/"));

    const char *tmp = getenv("TMPDIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/test_image_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    struct meme_image *img = gradient_image(31, 9);
    size_t len;
    uint8_t *png = encode_png_ok(img, &len);
    assert_int_equal(write(fd, png, len), (ssize_t)len);
    close(fd);
    struct meme_image *back = image_load(path, &err);
    assert_non_null(back);
    assert_memory_equal(back->rgb, img->rgb, 31 * 9 * 3);
    image_free(back);

    /* Not an image: the decoder's error, naming the file. */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("hello, not an image\n", f);
    fclose(f);
    memset(&err, 0, sizeof(err));
    assert_null(image_load(path, &err));
    assert_int_equal(err.code, MEME_E_IMAGE);
    assert_non_null(strstr(err.msg, path));

    unlink(path);
    free(png);
    image_free(img);
}

/* ---- scaling ----------------------------------------------------------- */

static void assert_uniform(const struct meme_image *img, int r, int g, int b)
{
    for (int y = 0; y < img->height; y++)
        for (int x = 0; x < img->width; x++)
            assert_px(img, x, y, r, g, b, 0);
}

static void test_scale_uniform(void **state)
{
    (void)state;
    static const int sizes[][4] = {
        {100, 70, 33, 91}, {64, 64, 32, 32}, {10, 10, 37, 23}, {7, 300, 120, 11},
        {1, 1, 50, 40},    {50, 40, 1, 1},   {9, 9, 9, 4},     {333, 1, 1, 333},
    };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct meme_image *src = filled_image(sizes[i][0], sizes[i][1], 200, 13, 255);
        struct meme_image *dst = image_scale(src, sizes[i][2], sizes[i][3]);
        assert_non_null(dst);
        assert_int_equal(dst->width, sizes[i][2]);
        assert_int_equal(dst->height, sizes[i][3]);
        assert_uniform(dst, 200, 13, 255);
        image_free(dst);
        image_free(src);
    }
}

static void test_scale_average(void **state)
{
    (void)state;
    struct meme_image *src = image_new(2, 2);
    static const uint8_t quad[12] = {0, 40, 200, 10, 50, 210, 20, 60, 220, 30, 70, 230};
    memcpy(src->rgb, quad, 12);
    struct meme_image *dst = image_scale(src, 1, 1);
    assert_px(dst, 0, 0, 15, 55, 215, 0);
    image_free(dst);
    image_free(src);

    /* A 4x4 checkerboard of black and white: each 2x2 box is half and half. */
    src = image_new(4, 4);
    for (int y = 0; y < 4; y++)
        for (int x = 0; x < 4; x++)
            memset(src->rgb + (y * 4 + x) * 3, (x + y) % 2 ? 255 : 0, 3);
    dst = image_scale(src, 2, 2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++)
            assert_px(dst, x, y, 128, 128, 128, 1);
    image_free(dst);
    image_free(src);

    /* Three pixels into two: each output covers one and a half inputs. */
    src = image_new(3, 1);
    static const uint8_t row[9] = {0, 0, 0, 90, 90, 90, 180, 180, 180};
    memcpy(src->rgb, row, 9);
    dst = image_scale(src, 2, 1);
    assert_px(dst, 0, 0, 30, 30, 30, 1);
    assert_px(dst, 1, 0, 150, 150, 150, 1);
    image_free(dst);
    image_free(src);
}

static void test_scale_enlarge_and_mixed(void **state)
{
    (void)state;
    struct meme_image *src = image_new(2, 2);
    static const uint8_t quad[12] = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
    memcpy(src->rgb, quad, 12);
    struct meme_image *dst = image_scale(src, 4, 4);
    assert_non_null(dst);
    assert_px(dst, 0, 0, 255, 0, 0, 0);
    assert_px(dst, 3, 0, 0, 255, 0, 0);
    assert_px(dst, 0, 3, 0, 0, 255, 0);
    assert_px(dst, 3, 3, 255, 255, 255, 0);
    /* Inner pixels blend: (1,0) is 3/4 red, 1/4 green. */
    assert_px(dst, 1, 0, 191, 64, 0, 1);
    image_free(dst);
    image_free(src);

    /* Shrink x, enlarge y: a horizontal ramp keeps its ends and order. */
    src = image_new(8, 2);
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 8; x++)
            memset(src->rgb + (y * 8 + x) * 3, x * 30, 3);
    dst = image_scale(src, 4, 6);
    for (int y = 0; y < 6; y++) {
        assert_px(dst, 0, y, 15, 15, 15, 1);
        assert_px(dst, 3, y, 195, 195, 195, 1);
        for (int x = 1; x < 4; x++)
            assert_true(px(dst, x, y)[0] > px(dst, x - 1, y)[0]);
    }
    image_free(dst);
    image_free(src);

    /* The same size is a copy. */
    src = noise_image(13, 7);
    dst = image_scale(src, 13, 7);
    assert_ptr_not_equal(dst->rgb, src->rgb);
    assert_memory_equal(dst->rgb, src->rgb, 13 * 7 * 3);
    image_free(dst);
    image_free(src);
}

static void test_scale_invalid(void **state)
{
    (void)state;
    struct meme_image *src = noise_image(4, 4);
    assert_null(image_scale(src, 0, 4));
    assert_null(image_scale(src, 4, 0));
    assert_null(image_scale(src, -3, 4));
    assert_null(image_scale(src, IMAGE_MAX_DIM + 1, 4));
    assert_null(image_scale(NULL, 4, 4));
    struct meme_image bad = {0, 4, src->rgb};
    assert_null(image_scale(&bad, 2, 2));
    image_free(src);
}

/* Noise shrunk to a tenth keeps the mean of each channel. */
static void test_scale_noise_mean(void **state)
{
    (void)state;
    struct meme_image *src = noise_image(250, 130);
    struct meme_image *dst = image_scale(src, 25, 13);
    double ms = 0, md = 0;
    for (size_t i = 0; i < 250 * 130 * 3; i++)
        ms += src->rgb[i];
    for (size_t i = 0; i < 25 * 13 * 3; i++)
        md += dst->rgb[i];
    ms /= 250 * 130 * 3;
    md /= 25 * 13 * 3;
    assert_true(ms - md < 0.5 && md - ms < 0.5);
    image_free(dst);
    image_free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_free_dup),
        cmocka_unit_test(test_sniff_and_names),
        cmocka_unit_test(test_encode_rejects_bad_input),
        cmocka_unit_test(test_png_round_trip_exact),
        cmocka_unit_test(test_png_container_layout),
        cmocka_unit_test(test_png_read_by_libpng),
        cmocka_unit_test(test_png_truncated),
        cmocka_unit_test(test_png_corrupt),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_png_too_large),
        cmocka_unit_test(test_png_palette),
        cmocka_unit_test(test_png_gray),
        cmocka_unit_test(test_png_alpha),
        cmocka_unit_test(test_png_interlaced),
        cmocka_unit_test(test_jpeg_round_trip),
        cmocka_unit_test(test_jpeg_truncated),
        cmocka_unit_test(test_jpeg_too_large),
        cmocka_unit_test(test_jpeg_gray_and_cmyk),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_scale_uniform),
        cmocka_unit_test(test_scale_average),
        cmocka_unit_test(test_scale_enlarge_and_mixed),
        cmocka_unit_test(test_scale_invalid),
        cmocka_unit_test(test_scale_noise_mean),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
