/*
 * In-memory RGB images, their codecs and resampling.
 *
 * PNG is written by hand around libdeflate (docs/design.md says why): the
 * signature, IHDR (8-bit RGB), one IDAT and IEND. Every row uses the SUB
 * filter and the whole filtered image is compressed in one call at level 1.
 * PNG is read with libpng from memory, JPEG is read and written with
 * libjpeg(-turbo). Both libraries report errors by longjmp; each decoder and
 * encoder keeps all of its state in one struct that outlives the setjmp
 * frame, so nothing depends on the value of a local after a longjmp.
 *
 * Decoding never trusts the input: dimensions are checked against
 * IMAGE_MAX_DIM before any pixel memory is allocated, truncated data is an
 * error, and the libraries never print or exit. Alpha is composited over
 * white; palette, grey and 16-bit images become 8-bit RGB.
 */
#include "render/image.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <jerror.h>
#include <libdeflate.h>
#include <png.h>

#define IMAGE_LOAD_MAX    (64u << 20) /* bytes image_load() reads at most */
#define JPEG_QUALITY      85
#define JPEG_MAX_SCANS    500 /* progressive scans accepted before giving up */
#define PNG_DEFLATE_LEVEL 1

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

static int dim_ok(int w, int h)
{
    return w >= 1 && w <= IMAGE_MAX_DIM && h >= 1 && h <= IMAGE_MAX_DIM;
}

static int image_valid(const struct meme_image *img)
{
    return img && img->rgb && dim_ok(img->width, img->height);
}

static size_t rgb_size(int w, int h)
{
    return (size_t)w * (size_t)h * 3;
}

struct meme_image *image_new(int w, int h)
{
    if (!dim_ok(w, h))
        return NULL;
    struct meme_image *img = xmalloc(sizeof(*img));
    img->width = w;
    img->height = h;
    img->rgb = xcalloc(rgb_size(w, h), 1);
    return img;
}

void image_free(struct meme_image *img)
{
    if (!img)
        return;
    free(img->rgb);
    free(img);
}

struct meme_image *image_dup(const struct meme_image *img)
{
    if (!image_valid(img))
        return NULL;
    struct meme_image *copy = xmalloc(sizeof(*copy));
    copy->width = img->width;
    copy->height = img->height;
    copy->rgb = xmalloc(rgb_size(img->width, img->height));
    memcpy(copy->rgb, img->rgb, rgb_size(img->width, img->height));
    return copy;
}

int image_sniff(const uint8_t *data, size_t len)
{
    if (!data)
        return -1;
    if (len >= sizeof(png_signature) && memcmp(data, png_signature, sizeof(png_signature)) == 0)
        return IMAGE_PNG;
    if (len >= 3 && data[0] == 0xff && data[1] == 0xd8 && data[2] == 0xff)
        return IMAGE_JPEG;
    return -1;
}

const char *image_content_type(enum image_format fmt)
{
    switch (fmt) {
    case IMAGE_PNG:
        return "image/png";
    case IMAGE_JPEG:
        return "image/jpeg";
    }
    return "application/octet-stream";
}

const char *image_extension(enum image_format fmt)
{
    switch (fmt) {
    case IMAGE_PNG:
        return "png";
    case IMAGE_JPEG:
        return "jpg";
    }
    return "bin";
}

/* ---- PNG encoding ---------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Writes the chunk header for len data bytes at p; the data must follow it.
 * png_chunk_end() then appends the CRC. */
static uint8_t *png_chunk_begin(uint8_t *p, const char type[4], uint32_t len)
{
    put_be32(p, len);
    memcpy(p + 4, type, 4);
    return p + 8;
}

static uint8_t *png_chunk_end(uint8_t *chunk, uint32_t len)
{
    uint32_t crc = libdeflate_crc32(0, chunk + 4, (size_t)len + 4);
    put_be32(chunk + 8 + len, crc);
    return chunk + 12 + len;
}

/* Each row: filter type 1 (SUB), then every byte minus the byte one pixel
 * to its left (the first pixel is kept as it is). */
static void png_filter_sub(const struct meme_image *img, uint8_t *out)
{
    size_t stride = (size_t)img->width * 3;
    for (int y = 0; y < img->height; y++) {
        const uint8_t *row = img->rgb + (size_t)y * stride;
        *out++ = 1;
        out[0] = row[0];
        out[1] = row[1];
        out[2] = row[2];
        for (size_t i = 3; i < stride; i++)
            out[i] = (uint8_t)(row[i] - row[i - 3]);
        out += stride;
    }
}

int image_encode_png(const struct meme_image *img, uint8_t **out, size_t *len, struct meme_err *err)
{
    *out = NULL;
    *len = 0;
    if (!image_valid(img))
        return meme_err_set(err, MEME_E_IMAGE, "cannot encode PNG: invalid image");

    size_t raw_len = (size_t)img->height * (1 + (size_t)img->width * 3);
    uint8_t *raw = xmalloc(raw_len);
    png_filter_sub(img, raw);

    /* Allocating a level-1 compressor costs a few microseconds plus the page
     * faults of its ~200 KB, well under a tenth of one encode, so each call
     * has its own and there is no per-thread state to tear down. */
    struct libdeflate_compressor *c = libdeflate_alloc_compressor(PNG_DEFLATE_LEVEL);
    if (!c) {
        free(raw);
        return meme_err_set(err, MEME_E_IMAGE, "cannot encode PNG: out of memory");
    }
    size_t bound = libdeflate_zlib_compress_bound(c, raw_len);
    size_t head = sizeof(png_signature) + 12 + 13; /* signature, IHDR */
    uint8_t *png = xmalloc(head + 12 + bound + 12);

    uint8_t *p = png;
    memcpy(p, png_signature, sizeof(png_signature));
    p += sizeof(png_signature);

    uint8_t *chunk = p;
    uint8_t *d = png_chunk_begin(chunk, "IHDR", 13);
    put_be32(d, (uint32_t)img->width);
    put_be32(d + 4, (uint32_t)img->height);
    d[8] = 8;  /* bit depth */
    d[9] = 2;  /* colour type: RGB */
    d[10] = 0; /* deflate */
    d[11] = 0; /* adaptive filtering */
    d[12] = 0; /* not interlaced */
    p = png_chunk_end(chunk, 13);

    chunk = p;
    size_t zlen = libdeflate_zlib_compress(c, raw, raw_len, chunk + 8, bound);
    libdeflate_free_compressor(c);
    free(raw);
    if (zlen == 0 || zlen > 0x7fffffffu) {
        free(png);
        return meme_err_set(err, MEME_E_IMAGE, "cannot encode PNG: compression failed");
    }
    png_chunk_begin(chunk, "IDAT", (uint32_t)zlen);
    p = png_chunk_end(chunk, (uint32_t)zlen);

    chunk = p;
    png_chunk_begin(chunk, "IEND", 0);
    p = png_chunk_end(chunk, 0);

    *len = (size_t)(p - png);
    *out = xrealloc(png, *len);
    return 0;
}

/* ---- libjpeg error handling ------------------------------------------ */

/* Shared by the JPEG encoder and decoder; reached through client_data. */
struct jpeg_fail {
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
};

static void jpeg_on_error(j_common_ptr cinfo)
{
    struct jpeg_fail *f = cinfo->client_data;
    (*cinfo->err->format_message)(cinfo, f->msg);
    longjmp(f->jmp, 1);
}

/* Warnings are silent, except running out of data: libjpeg would pad the
 * image with grey and carry on, but a truncated file is an error here. */
static void jpeg_on_message(j_common_ptr cinfo, int level)
{
    if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) {
        struct jpeg_fail *f = cinfo->client_data;
        snprintf(f->msg, sizeof(f->msg), "truncated JPEG data");
        longjmp(f->jmp, 1);
    }
    if (level < 0)
        cinfo->err->num_warnings++;
}

static void jpeg_on_output(j_common_ptr cinfo)
{
    (void)cinfo;
}

/* Points cinfo's errors at jerr, with the handlers above. */
static struct jpeg_error_mgr *jpeg_errors_to(struct jpeg_error_mgr *jerr)
{
    jpeg_std_error(jerr);
    jerr->error_exit = jpeg_on_error;
    jerr->emit_message = jpeg_on_message;
    jerr->output_message = jpeg_on_output;
    return jerr;
}

/* ---- JPEG encoding --------------------------------------------------- */

struct jpeg_enc {
    struct jpeg_fail fail;
    struct jpeg_compress_struct cinfo;
    struct jpeg_error_mgr jerr;
    unsigned char *buf;
    unsigned long size;
};

static int jpeg_encode_run(struct jpeg_enc *e, const struct meme_image *img, int quality)
{
    if (setjmp(e->fail.jmp))
        return -1;
    jpeg_create_compress(&e->cinfo);
    jpeg_mem_dest(&e->cinfo, &e->buf, &e->size);
    e->cinfo.image_width = (JDIMENSION)img->width;
    e->cinfo.image_height = (JDIMENSION)img->height;
    e->cinfo.input_components = 3;
    e->cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&e->cinfo);
    jpeg_set_quality(&e->cinfo, quality, TRUE);
    jpeg_start_compress(&e->cinfo, TRUE);
    size_t stride = (size_t)img->width * 3;
    while (e->cinfo.next_scanline < e->cinfo.image_height) {
        JSAMPROW row = img->rgb + (size_t)e->cinfo.next_scanline * stride;
        jpeg_write_scanlines(&e->cinfo, &row, 1);
    }
    jpeg_finish_compress(&e->cinfo);
    return 0;
}

int image_encode_jpeg(const struct meme_image *img, int quality, uint8_t **out, size_t *len,
                      struct meme_err *err)
{
    *out = NULL;
    *len = 0;
    if (!image_valid(img))
        return meme_err_set(err, MEME_E_IMAGE, "cannot encode JPEG: invalid image");
    if (quality == 0)
        quality = JPEG_QUALITY;
    if (quality < 1 || quality > 100)
        return meme_err_set(err, MEME_E_IMAGE, "JPEG quality %d is outside 1..100", quality);

    struct jpeg_enc *e = xcalloc(1, sizeof(*e));
    /* Start with TurboJPEG's worst-case size for 4:2:0 (tjBufSize()), so
     * libjpeg has no reason to reallocate. If it ever does, e->buf ends up
     * as libjpeg's malloc()ed copy and ours is freed below. */
    size_t pw = ((size_t)img->width + 15) & ~(size_t)15;
    size_t ph = ((size_t)img->height + 15) & ~(size_t)15;
    unsigned char *first = xmalloc(pw * ph * 3 + 2048);
    e->buf = first;
    e->size = (unsigned long)(pw * ph * 3 + 2048);
    e->cinfo.err = jpeg_errors_to(&e->jerr);
    e->cinfo.client_data = &e->fail;

    int rc = jpeg_encode_run(e, img, quality);
    jpeg_destroy_compress(&e->cinfo);
    if (rc != 0) {
        rc = meme_err_set(err, MEME_E_IMAGE, "cannot encode JPEG: %s", e->fail.msg);
        if (e->buf != first)
            free(e->buf);
        free(first);
        free(e);
        return rc;
    }
    uint8_t *data = e->buf;
    size_t n = (size_t)e->size;
    if (data != first)
        free(first);
    free(e);
    *out = xrealloc(data, n);
    *len = n;
    return 0;
}

int image_encode(const struct meme_image *img, enum image_format fmt, uint8_t **out, size_t *len,
                 struct meme_err *err)
{
    switch (fmt) {
    case IMAGE_PNG:
        return image_encode_png(img, out, len, err);
    case IMAGE_JPEG:
        return image_encode_jpeg(img, JPEG_QUALITY, out, len, err);
    }
    *out = NULL;
    *len = 0;
    return meme_err_set(err, MEME_E_IMAGE, "unknown image format %d", (int)fmt);
}

/* ---- JPEG decoding --------------------------------------------------- */

struct jpeg_dec {
    struct jpeg_fail fail;
    struct jpeg_decompress_struct cinfo;
    struct jpeg_error_mgr jerr;
    struct jpeg_progress_mgr progress;
    struct meme_image *img;
    uint8_t *row; /* one CMYK row */
};

/* A progressive JPEG can hold thousands of tiny scans, each a pass over the
 * whole image: stop well before that becomes a denial of service. */
static void jpeg_on_progress(j_common_ptr cinfo)
{
    if (!cinfo->is_decompressor)
        return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > JPEG_MAX_SCANS) {
        struct jpeg_fail *f = cinfo->client_data;
        snprintf(f->msg, sizeof(f->msg), "more than %d progressive scans", JPEG_MAX_SCANS);
        longjmp(f->jmp, 1);
    }
}

/* Adobe applications write CMYK inverted (0 = full ink) and mark the file
 * with an Adobe segment; without the marker, 0 means no ink. */
static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, int w, int inverted)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        unsigned c = in[0], m = in[1], y = in[2], k = in[3];
        if (!inverted) {
            c = 255 - c;
            m = 255 - m;
            y = 255 - y;
            k = 255 - k;
        }
        out[0] = (uint8_t)((c * k + 127) / 255);
        out[1] = (uint8_t)((m * k + 127) / 255);
        out[2] = (uint8_t)((y * k + 127) / 255);
    }
}

static int jpeg_decode_run(struct jpeg_dec *d, const uint8_t *data, size_t len)
{
    if (setjmp(d->fail.jmp))
        return -1;
    jpeg_create_decompress(&d->cinfo);
    d->cinfo.progress = &d->progress;
    jpeg_mem_src(&d->cinfo, data, (unsigned long)len);
    jpeg_read_header(&d->cinfo, TRUE);

    JDIMENSION w = d->cinfo.image_width, h = d->cinfo.image_height;
    if (w == 0 || h == 0 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM) {
        snprintf(d->fail.msg, sizeof(d->fail.msg), "image is %ux%u, the limit is %dx%d",
                 (unsigned)w, (unsigned)h, IMAGE_MAX_DIM, IMAGE_MAX_DIM);
        return -1;
    }
    int cmyk = d->cinfo.jpeg_color_space == JCS_CMYK || d->cinfo.jpeg_color_space == JCS_YCCK;
    d->cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&d->cinfo);
    if (d->cinfo.output_width != w || d->cinfo.output_height != h ||
        d->cinfo.output_components != (cmyk ? 4 : 3)) {
        snprintf(d->fail.msg, sizeof(d->fail.msg), "unexpected output layout");
        return -1;
    }

    d->img = image_new((int)w, (int)h);
    if (cmyk)
        d->row = xmalloc((size_t)w * 4);
    size_t stride = (size_t)w * 3;
    while (d->cinfo.output_scanline < h) {
        uint8_t *dst = d->img->rgb + (size_t)d->cinfo.output_scanline * stride;
        JSAMPROW row = cmyk ? d->row : dst;
        if (jpeg_read_scanlines(&d->cinfo, &row, 1) != 1) {
            snprintf(d->fail.msg, sizeof(d->fail.msg), "truncated JPEG data");
            return -1;
        }
        if (cmyk)
            cmyk_to_rgb(d->row, dst, (int)w, d->cinfo.saw_Adobe_marker);
    }
    jpeg_finish_decompress(&d->cinfo);
    return 0;
}

static struct meme_image *decode_jpeg(const uint8_t *data, size_t len, struct meme_err *err)
{
    struct jpeg_dec *d = xcalloc(1, sizeof(*d));
    d->cinfo.err = jpeg_errors_to(&d->jerr);
    d->cinfo.client_data = &d->fail;
    d->progress.progress_monitor = jpeg_on_progress;

    int rc = jpeg_decode_run(d, data, len);
    jpeg_destroy_decompress(&d->cinfo);
    struct meme_image *img = d->img;
    if (rc != 0) {
        meme_err_set(err, MEME_E_IMAGE, "cannot decode JPEG: %s", d->fail.msg);
        image_free(img);
        img = NULL;
    }
    free(d->row);
    free(d);
    return img;
}

/* ---- PNG decoding ---------------------------------------------------- */

struct png_dec {
    png_structp png;
    png_infop info;
    const uint8_t *data;
    size_t len;
    size_t pos;
    char msg[256];
    struct meme_image *img;
    uint8_t *rgba; /* rows with alpha, before compositing */
};

static void png_on_error(png_structp png, png_const_charp msg)
{
    struct png_dec *d = png_get_error_ptr(png);
    snprintf(d->msg, sizeof(d->msg), "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static void png_read_mem(png_structp png, png_bytep out, size_t n)
{
    struct png_dec *d = png_get_io_ptr(png);
    if (n > d->len - d->pos)
        png_error(png, "truncated PNG data");
    memcpy(out, d->data + d->pos, n);
    d->pos += n;
}

/* Composites one RGBA row over white. */
static void composite_white(const uint8_t *in, uint8_t *out, int w)
{
    for (int x = 0; x < w; x++, in += 4, out += 3) {
        unsigned a = in[3], bg = 255 * (255 - a);
        out[0] = (uint8_t)((in[0] * a + bg + 127) / 255);
        out[1] = (uint8_t)((in[1] * a + bg + 127) / 255);
        out[2] = (uint8_t)((in[2] * a + bg + 127) / 255);
    }
}

static int png_decode_run(struct png_dec *d)
{
    if (setjmp(png_jmpbuf(d->png)))
        return -1;
    png_read_info(d->png, d->info);

    png_uint_32 w, h;
    int depth, type, interlace;
    png_get_IHDR(d->png, d->info, &w, &h, &depth, &type, &interlace, NULL, NULL);
    if (w == 0 || h == 0 || w > IMAGE_MAX_DIM || h > IMAGE_MAX_DIM) {
        snprintf(d->msg, sizeof(d->msg), "image is %lux%lu, the limit is %dx%d", (unsigned long)w,
                 (unsigned long)h, IMAGE_MAX_DIM, IMAGE_MAX_DIM);
        return -1;
    }

    if (type == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(d->png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(d->png);
    if (png_get_valid(d->png, d->info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(d->png);
    if (depth == 16)
        png_set_scale_16(d->png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(d->png);
    int passes = png_set_interlace_handling(d->png);
    png_read_update_info(d->png, d->info);

    int channels = png_get_channels(d->png, d->info);
    if (png_get_bit_depth(d->png, d->info) != 8 || (channels != 3 && channels != 4) ||
        png_get_rowbytes(d->png, d->info) != (size_t)w * (size_t)channels) {
        snprintf(d->msg, sizeof(d->msg), "unsupported PNG layout");
        return -1;
    }

    d->img = image_new((int)w, (int)h);
    size_t stride = (size_t)w * 3, rgba_stride = (size_t)w * 4;
    /* An interlaced image is complete only after the last pass, so its
     * alpha rows are all kept; otherwise one row is enough. */
    if (channels == 4)
        d->rgba = xmalloc(rgba_stride * (passes > 1 ? h : 1));
    for (int pass = 0; pass < passes; pass++) {
        for (png_uint_32 y = 0; y < h; y++) {
            uint8_t *dst = d->img->rgb + (size_t)y * stride;
            if (channels == 3) {
                png_read_row(d->png, dst, NULL);
                continue;
            }
            uint8_t *row = d->rgba + (passes > 1 ? (size_t)y * rgba_stride : 0);
            png_read_row(d->png, row, NULL);
            if (pass == passes - 1)
                composite_white(row, dst, (int)w);
        }
    }
    png_read_end(d->png, NULL);
    return 0;
}

static struct meme_image *decode_png(const uint8_t *data, size_t len, struct meme_err *err)
{
    struct png_dec *d = xcalloc(1, sizeof(*d));
    d->data = data;
    d->len = len;
    snprintf(d->msg, sizeof(d->msg), "out of memory");
    d->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, d, png_on_error, png_on_warning);
    if (d->png)
        d->info = png_create_info_struct(d->png);
    int rc = -1;
    if (d->png && d->info) {
        png_set_read_fn(d->png, d, png_read_mem);
        rc = png_decode_run(d);
    }
    png_destroy_read_struct(&d->png, &d->info, NULL);
    struct meme_image *img = d->img;
    if (rc != 0) {
        meme_err_set(err, MEME_E_IMAGE, "cannot decode PNG: %s", d->msg);
        image_free(img);
        img = NULL;
    }
    free(d->rgba);
    free(d);
    return img;
}

struct meme_image *image_decode(const uint8_t *data, size_t len, struct meme_err *err)
{
    if (!data || len == 0) {
        meme_err_set(err, MEME_E_IMAGE, "cannot decode image: no data");
        return NULL;
    }
    switch (image_sniff(data, len)) {
    case IMAGE_PNG:
        return decode_png(data, len, err);
    case IMAGE_JPEG:
        return decode_jpeg(data, len, err);
    }
    meme_err_set(err, MEME_E_IMAGE, "cannot decode image: not PNG or JPEG data (%zu bytes)", len);
    return NULL;
}

/* Reads all of fd, refusing more than IMAGE_LOAD_MAX bytes. */
static int read_bounded(int fd, const char *path, uint8_t **out, size_t *len, struct meme_err *err)
{
    struct stat st;
    size_t cap = 64 << 10;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size <= IMAGE_LOAD_MAX)
        cap = (size_t)st.st_size + 1; /* +1 sees end of file in one read */
    uint8_t *data = xmalloc(cap);
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (cap > IMAGE_LOAD_MAX) {
                free(data);
                return meme_err_set(err, MEME_E_IMAGE, "%s: larger than %u MiB", path,
                                    IMAGE_LOAD_MAX >> 20);
            }
            cap *= 2;
            if (cap > (size_t)IMAGE_LOAD_MAX + 1)
                cap = (size_t)IMAGE_LOAD_MAX + 1;
            data = xrealloc(data, cap);
        }
        ssize_t r = read(fd, data + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(data);
            return meme_err_set(err, MEME_E_IO, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > IMAGE_LOAD_MAX) {
        free(data);
        return meme_err_set(err, MEME_E_IMAGE, "%s: larger than %u MiB", path,
                            IMAGE_LOAD_MAX >> 20);
    }
    *out = data;
    *len = n;
    return 0;
}

struct meme_image *image_load(const char *path, struct meme_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        meme_err_set(err, e == ENOENT ? MEME_E_NOT_FOUND : MEME_E_IO, "%s: %s", path, strerror(e));
        return NULL;
    }
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = read_bounded(fd, path, &data, &len, err);
    close(fd);
    if (rc != 0)
        return NULL;
    struct meme_err derr = {0};
    struct meme_image *img = image_decode(data, len, &derr);
    free(data);
    if (!img)
        meme_err_set(err, derr.code, "%s: %s", path, derr.msg);
    return img;
}

/* ---- scaling --------------------------------------------------------- */

/* Weights are fixed point with W_BITS fraction bits and add up to exactly
 * 1 << W_BITS for every destination pixel, so a uniform image stays
 * uniform. The vertical pass keeps MID_BITS fraction bits per channel in
 * 16-bit values (255 << MID_BITS fits); the horizontal pass sums those in
 * 32 bits (at most 255 << (MID_BITS + W_BITS)). */
#define W_BITS   14
#define MID_BITS 7

struct taps {
    int *first; /* taps of destination i: first[i] .. first[i + 1] - 1 */
    int *src;
    uint32_t *weight;
    int max; /* most taps of any destination pixel */
};

static void taps_free(struct taps *t)
{
    free(t->first);
    free(t->src);
    free(t->weight);
}

/* One axis from n source pixels to m destination pixels. Shrinking: each
 * destination pixel is the average of the source span it covers, partly
 * covered pixels counting by the covered fraction. Enlarging (or keeping
 * the size): bilinear between pixel centres, edges clamped. */
static void taps_init(struct taps *t, int n, int m)
{
    size_t cap = (size_t)n + 2 * (size_t)m + 2;
    t->first = xmalloc(((size_t)m + 1) * sizeof(int));
    t->src = xmalloc(cap * sizeof(int));
    t->weight = xmalloc(cap * sizeof(uint32_t));
    t->max = 0;
    double scale = (double)n / m;
    const uint32_t one = 1u << W_BITS;
    int k = 0;
    for (int i = 0; i < m; i++) {
        t->first[i] = k;
        if (m < n) {
            double a = i * scale, b = (i + 1) * scale;
            if (b > n)
                b = n;
            int j0 = (int)floor(a), j1 = (int)ceil(b) - 1;
            if (j1 > n - 1)
                j1 = n - 1;
            for (int j = j0; j <= j1; j++) {
                double cover = fmin(b, j + 1.0) - fmax(a, (double)j);
                long wt = lround(cover / scale * one);
                if (wt > 0) {
                    t->src[k] = j;
                    t->weight[k++] = (uint32_t)wt;
                }
            }
        } else {
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0)
                x = 0;
            int j0 = (int)floor(x);
            if (j0 > n - 1)
                j0 = n - 1;
            uint32_t w1 = (uint32_t)lround((x - j0) * one);
            if (j0 + 1 > n - 1)
                w1 = 0;
            t->src[k] = j0;
            t->weight[k++] = one - w1;
            if (w1 > 0) {
                t->src[k] = j0 + 1;
                t->weight[k++] = w1;
            }
        }
        if (k == t->first[i]) { /* rounding left nothing: take the nearest */
            int j = (int)((i + 0.5) * scale);
            t->src[k] = j < n ? j : n - 1;
            t->weight[k++] = one;
        }
        /* Give the rounding error to the heaviest tap. */
        uint32_t sum = 0;
        int heavy = t->first[i];
        for (int j = t->first[i]; j < k; j++) {
            sum += t->weight[j];
            if (t->weight[j] > t->weight[heavy])
                heavy = j;
        }
        t->weight[heavy] += one - sum;
        if (k - t->first[i] > t->max)
            t->max = k - t->first[i];
    }
    t->first[m] = k;
}

/* Vertical pass for one destination row: the weighted sum of whole source
 * rows, n samples each, into out with MID_BITS fraction bits. */
static void scale_rows(const struct meme_image *src, const struct taps *t, int y, uint16_t *out,
                       uint32_t *acc)
{
    size_t n = (size_t)src->width * 3;
    int k0 = t->first[y], nt = t->first[y + 1] - k0;
    const int *sy = t->src + k0;
    const uint32_t *wt = t->weight + k0;
    const uint32_t half = 1u << (W_BITS - MID_BITS - 1);
    const int shift = W_BITS - MID_BITS;

    if (nt == 1) {
        const uint8_t *r0 = src->rgb + (size_t)sy[0] * n;
        for (size_t i = 0; i < n; i++)
            out[i] = (uint16_t)(r0[i] << MID_BITS);
        return;
    }
    if (nt == 2) {
        const uint8_t *r0 = src->rgb + (size_t)sy[0] * n, *r1 = src->rgb + (size_t)sy[1] * n;
        uint32_t w0 = wt[0], w1 = wt[1];
        for (size_t i = 0; i < n; i++)
            out[i] = (uint16_t)((w0 * r0[i] + w1 * r1[i] + half) >> shift);
        return;
    }
    for (size_t i = 0; i < n; i++)
        acc[i] = half;
    for (int k = 0; k < nt; k++) {
        const uint8_t *r = src->rgb + (size_t)sy[k] * n;
        uint32_t w = wt[k];
        for (size_t i = 0; i < n; i++)
            acc[i] += w * r[i];
    }
    for (size_t i = 0; i < n; i++)
        out[i] = (uint16_t)(acc[i] >> shift);
}

/* Rewrites t so every destination has exactly t->max taps, at
 * src[i * max ..], padding with weight 0 on a valid pixel. */
static void taps_pad(struct taps *t, int m)
{
    size_t total = (size_t)m * (size_t)t->max;
    int *src = xmalloc(total * sizeof(int));
    uint32_t *weight = xmalloc(total * sizeof(uint32_t));
    for (int i = 0; i < m; i++) {
        int k0 = t->first[i], nt = t->first[i + 1] - k0;
        for (int k = 0; k < t->max; k++) {
            src[(size_t)i * t->max + k] = t->src[k0 + (k < nt ? k : 0)];
            weight[(size_t)i * t->max + k] = k < nt ? t->weight[k0 + k] : 0;
        }
    }
    for (int i = 0; i <= m; i++)
        t->first[i] = i * t->max;
    free(t->src);
    free(t->weight);
    t->src = src;
    t->weight = weight;
}

/* Horizontal pass: m destination pixels from one row of the vertical
 * pass. Two-tap axes (bilinear, or halving) have been through taps_pad(). */
static void scale_cols(const uint16_t *in, const struct taps *t, int m, uint8_t *out)
{
    const uint32_t half = 1u << (W_BITS + MID_BITS - 1);
    const int shift = W_BITS + MID_BITS;
    const int *sx = t->src;
    const uint32_t *wt = t->weight;
    if (t->max == 1) {
        const uint32_t round = 1u << (MID_BITS - 1);
        for (int x = 0; x < m; x++, out += 3) {
            const uint16_t *p = in + (size_t)sx[x] * 3;
            out[0] = (uint8_t)((p[0] + round) >> MID_BITS);
            out[1] = (uint8_t)((p[1] + round) >> MID_BITS);
            out[2] = (uint8_t)((p[2] + round) >> MID_BITS);
        }
        return;
    }
    if (t->max == 2) {
        for (int x = 0; x < m; x++, out += 3, sx += 2, wt += 2) {
            const uint16_t *p = in + (size_t)sx[0] * 3, *q = in + (size_t)sx[1] * 3;
            uint32_t a = wt[0], b = wt[1];
            out[0] = (uint8_t)((a * p[0] + b * q[0] + half) >> shift);
            out[1] = (uint8_t)((a * p[1] + b * q[1] + half) >> shift);
            out[2] = (uint8_t)((a * p[2] + b * q[2] + half) >> shift);
        }
        return;
    }
    for (int x = 0; x < m; x++, out += 3) {
        uint32_t r = half, g = half, b = half;
        for (int k = t->first[x], end = t->first[x + 1]; k < end; k++) {
            const uint16_t *p = in + (size_t)sx[k] * 3;
            r += wt[k] * p[0];
            g += wt[k] * p[1];
            b += wt[k] * p[2];
        }
        out[0] = (uint8_t)(r >> shift);
        out[1] = (uint8_t)(g >> shift);
        out[2] = (uint8_t)(b >> shift);
    }
}

struct meme_image *image_scale(const struct meme_image *src, int w, int h)
{
    if (!image_valid(src) || !dim_ok(w, h))
        return NULL;
    if (w == src->width && h == src->height)
        return image_dup(src);

    struct taps tx, ty;
    taps_init(&tx, src->width, w);
    if (tx.max == 2)
        taps_pad(&tx, w);
    taps_init(&ty, src->height, h);
    struct meme_image *dst = image_new(w, h);

    /* Each destination row: the source rows it covers are blended into
     * one full-width row, which is then resampled across. */
    size_t n = (size_t)src->width * 3;
    uint16_t *mid = xmalloc(n * sizeof(uint16_t));
    uint32_t *acc = ty.max > 2 ? xmalloc(n * sizeof(uint32_t)) : NULL;
    for (int y = 0; y < h; y++) {
        scale_rows(src, &ty, y, mid, acc);
        scale_cols(mid, &tx, w, dst->rgb + (size_t)y * w * 3);
    }

    free(acc);
    free(mid);
    taps_free(&tx);
    taps_free(&ty);
    return dst;
}
