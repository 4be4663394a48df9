/*
 * The local engine: sizes, formats, templates, and that caption pixels land
 * in the caption boxes and nowhere else.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/render.h"
#include "xalloc.h"

static struct renderer *open_renderer(const char *template_dir)
{
    struct meme_err err = {0};
    struct renderer *r = renderer_new(NULL, template_dir, &err);
    if (!r)
        fail_msg("renderer_new: %s", err.msg);
    return r;
}

static struct meme_image *draw(struct renderer *r, const char *tmpl, const char *top,
                               const char *bottom, int w, int h)
{
    struct meme_err err = {0};
    struct render_opts o = {.prompt = "test",
                            .top = top,
                            .bottom = bottom,
                            .template_name = tmpl,
                            .width = w,
                            .height = h};
    struct meme_image *img = renderer_draw(r, &o, NULL, 0, &err);
    if (!img)
        fail_msg("renderer_draw: %s", err.msg);
    return img;
}

struct diff {
    size_t top, mid, bottom, white, black;
};

/* Where a and b differ, by band: the top and bottom 30 % and the middle. */
static struct diff compare(const struct meme_image *a, const struct meme_image *b)
{
    struct diff d = {0};
    for (int y = 0; y < a->height; y++)
        for (int x = 0; x < a->width; x++) {
            size_t o = ((size_t)y * (size_t)a->width + (size_t)x) * 3;
            const uint8_t *p = a->rgb + o, *q = b->rgb + o;
            if (abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) < 30)
                continue;
            if (y < a->height * 3 / 10)
                d.top++;
            else if (y >= a->height * 7 / 10)
                d.bottom++;
            else
                d.mid++;
            if (p[0] > 230 && p[1] > 230 && p[2] > 230)
                d.white++;
            else if (p[0] < 40 && p[1] < 40 && p[2] < 40)
                d.black++;
        }
    return d;
}

static void test_captions_land_in_their_boxes(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    struct render_template_info info[64];
    size_t n = renderer_templates(r, info, 64);
    assert_true(n >= 6);
    for (size_t i = 0; i < n; i++) {
        struct meme_image *plain = draw(r, info[i].name, "", "", 320, 320);
        struct meme_image *cap =
            draw(r, info[i].name, "one does not simply", "scale to zero", 320, 320);
        struct diff d = compare(cap, plain);
        size_t total = d.top + d.mid + d.bottom;
        assert_true(d.top > 500);
        assert_true(d.bottom > 500);
        assert_int_equal(d.mid, 0);
        /* White letters with a black outline make up most of what changed. */
        assert_true(d.white > total / 4);
        assert_true(d.black > total / 10);
        image_free(plain);
        image_free(cap);
    }
    renderer_free(r);
}

static void test_long_caption_stays_in_box(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    char text[501];
    for (size_t i = 0; i < 500; i++)
        text[i] = (i % 7 == 6) ? ' ' : (char)('a' + i % 26);
    text[500] = '\0';
    struct meme_image *plain = draw(r, "advice-wheel", "", "", 512, 512);
    struct meme_image *cap = draw(r, "advice-wheel", text, text, 512, 512);
    struct diff d = compare(cap, plain);
    assert_true(d.top > 1000);
    assert_true(d.bottom > 1000);
    assert_int_equal(d.mid, 0);
    /* One enormous word cannot wrap: it shrinks or is cut, but stays in the box. */
    memset(text, 'W', 500);
    image_free(cap);
    cap = draw(r, "advice-wheel", text, NULL, 512, 512);
    d = compare(cap, plain);
    assert_true(d.top > 100);
    assert_int_equal(d.mid + d.bottom, 0);
    image_free(plain);
    image_free(cap);
    renderer_free(r);
}

static void test_unicode_caption(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    struct meme_image *plain = draw(r, "night-sky", "", "", 256, 256);
    /* Latin-1, Cyrillic and an emoji (from the colour emoji font). */
    struct meme_image *cap = draw(r, "night-sky", "\xc3\x89T\xc3\x89 \xd0\x9f\xd0\xa0\xd0\x98",
                                  "\xf0\x9f\x98\x80 OK", 256, 256);
    struct diff d = compare(cap, plain);
    assert_true(d.top > 100);
    assert_true(d.bottom > 100);
    assert_int_equal(d.mid, 0);
    image_free(plain);
    image_free(cap);
    renderer_free(r);
}

/* Captions in other scripts are drawn from the fallback chain: none comes
 * out as the '?' the renderer draws for a character no font has. Each
 * sample is compared, pixel by pixel, with the same number of literal '?'. */
struct script_sample {
    const char *name, *text;
    int chars;
};

static const struct script_sample samples[] = {
    {"emoji", "\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80", 2},                    /* 🎉🚀 */
    {"Japanese", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 3},             /* 日本語 */
    {"Arabic", "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", 5},           /* مرحبا */
    {"Cyrillic", "\xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82", 6}, /* привет */
};

static void test_scripts_are_not_question_marks(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
        char q[16];
        memset(q, '?', (size_t)samples[i].chars);
        q[samples[i].chars] = '\0';
        struct meme_image *text = draw(r, "night-sky", samples[i].text, "", 256, 256);
        struct meme_image *marks = draw(r, "night-sky", q, "", 256, 256);
        struct diff d = compare(text, marks);
        printf("# %s vs %s: %zu pixels differ in the top band\n", samples[i].name, q, d.top);
        if (d.top < 400)
            fail_msg("%s caption is drawn like \"%s\" (%zu pixels differ)", samples[i].name, q,
                     d.top);
        assert_int_equal(d.mid, 0);
        image_free(text);
        image_free(marks);
    }
    /* The example from the report: "🎉🚀 | 日本語" against "?? | ???". */
    struct meme_image *a = draw(r, "night-sky", "\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80",
                                "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 256, 256);
    struct meme_image *b = draw(r, "night-sky", "??", "???", 256, 256);
    struct diff d = compare(a, b);
    assert_true(d.top > 400);
    assert_true(d.bottom > 400);
    image_free(a);
    image_free(b);
    renderer_free(r);
}

/* Pixels of the top band that changed and are neither near white, near black
 * nor grey: colour that only an emoji brings onto a grey background. */
static size_t coloured_changes(const struct meme_image *img, const struct meme_image *plain,
                               size_t *black)
{
    size_t n = 0;
    *black = 0;
    for (int y = 0; y < img->height * 3 / 10; y++)
        for (int x = 0; x < img->width; x++) {
            size_t o = ((size_t)y * (size_t)img->width + (size_t)x) * 3;
            const uint8_t *p = img->rgb + o, *q = plain->rgb + o;
            if (abs(p[0] - q[0]) + abs(p[1] - q[1]) + abs(p[2] - q[2]) < 30)
                continue;
            int mx = p[0] > p[1] ? (p[0] > p[2] ? p[0] : p[2]) : (p[1] > p[2] ? p[1] : p[2]);
            int mn = p[0] < p[1] ? (p[0] < p[2] ? p[0] : p[2]) : (p[1] < p[2] ? p[1] : p[2]);
            if (mx < 40)
                (*black)++;
            else if (mx - mn > 80)
                n++;
        }
    return n;
}

static void test_emoji_in_colour_without_outline(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    /* A grey background (a user template) so any colour comes from the glyphs. */
    struct meme_image *grey = image_new(256, 256);
    memset(grey->rgb, 128, (size_t)256 * 256 * 3);
    struct meme_image *plain = image_dup(grey);
    struct meme_image *emoji = image_dup(grey);
    struct meme_image *latin = image_dup(grey);
    struct meme_err err = {0};
    assert_int_equal(renderer_caption(r, emoji, "\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80", "", &err), 0);
    assert_int_equal(renderer_caption(r, latin, "OK", "", &err), 0);
    size_t black_e, black_l;
    size_t colour_e = coloured_changes(emoji, plain, &black_e);
    size_t colour_l = coloured_changes(latin, plain, &black_l);
    printf("# emoji: %zu coloured, %zu black; Latin: %zu coloured, %zu black\n", colour_e, black_e,
           colour_l, black_l);
    assert_true(colour_e > 500);        /* colour bitmaps, not white outlines */
    assert_int_equal(colour_l, 0);      /* text stays white and black */
    assert_true(black_l > 200);         /* text has its outline */
    assert_true(black_e < black_l / 4); /* emoji have none */
    image_free(grey);
    image_free(plain);
    image_free(emoji);
    image_free(latin);
    renderer_free(r);
}

/* The sample captions drawn for a person to look at (docs/img has a copy):
 * written to $MEME_BUILD_DIR/captions-scripts.png when that is set. */
static void test_scripts_picture(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    struct meme_err err = {0};
    struct render_opts o = {
        .prompt = "scripts",
        .top = "\xf0\x9f\x8e\x89\xf0\x9f\x9a\x80 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3"
               "\x81\xae\xe3\x83\x9f\xe3\x83\xbc\xe3\x83\xa0",
        .bottom = "\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7 \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2"
                  "\xd0\xb5\xd1\x82 \xe2\x9d\xa4\xef\xb8\x8f",
        .template_name = "advice-wheel",
        .width = 512,
        .format = IMAGE_PNG};
    struct render_result res;
    assert_int_equal(renderer_render(r, &o, &res, &err), 0);
    const char *dir = getenv("MEME_BUILD_DIR");
    if (dir) {
        char *path = xasprintf("%s/captions-scripts.png", dir);
        FILE *f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(res.data, 1, res.len, f), res.len);
        fclose(f);
        printf("# wrote %s\n", path);
        free(path);
    }
    render_result_release(&res);
    renderer_free(r);
}

static size_t distinct_colours(const struct meme_image *img)
{
    /* A bitmap of 2^24 colours. */
    uint8_t *seen = xcalloc(1 << 21, 1);
    size_t n = 0;
    for (size_t i = 0; i < (size_t)img->width * (size_t)img->height; i++) {
        uint32_t c = (uint32_t)img->rgb[3 * i] << 16 | (uint32_t)img->rgb[3 * i + 1] << 8 |
                     img->rgb[3 * i + 2];
        if (!(seen[c >> 3] & (1 << (c & 7)))) {
            seen[c >> 3] |= (uint8_t)(1 << (c & 7));
            n++;
        }
    }
    free(seen);
    return n;
}

static void test_png_and_jpeg(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    struct meme_err err = {0};
    struct render_result res;
    struct render_opts o = {
        .prompt = "production outage on friday", .top = "prod is down", .bottom = "it is friday"};
    assert_int_equal(renderer_render(r, &o, &res, &err), 0);
    assert_int_equal(res.format, IMAGE_PNG);
    assert_int_equal(image_sniff(res.data, res.len), IMAGE_PNG);
    assert_int_equal(res.width, 512);
    assert_int_equal(res.height, 512);
    /* Picked from the prompt's words. */
    assert_string_equal(res.template_name, "advice-fire");
    struct meme_image *img = image_decode(res.data, res.len, &err);
    assert_non_null(img);
    assert_int_equal(img->width, 512);
    assert_true(distinct_colours(img) > 1000);
    image_free(img);
    render_result_release(&res);

    o.format = IMAGE_JPEG;
    o.width = 1024;
    assert_int_equal(renderer_render(r, &o, &res, &err), 0);
    assert_int_equal(image_sniff(res.data, res.len), IMAGE_JPEG);
    img = image_decode(res.data, res.len, &err);
    assert_non_null(img);
    assert_int_equal(img->width, 1024);
    assert_int_equal(img->height, 1024);
    image_free(img);
    render_result_release(&res);
    renderer_free(r);
}

static void test_pick_is_stable(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    char a[64], b[64];
    struct meme_err err = {0};
    struct render_opts o = {.prompt = "a prompt with no keywords at all", .width = 64};
    struct meme_image *i1 = renderer_draw(r, &o, a, sizeof(a), &err);
    struct meme_image *i2 = renderer_draw(r, &o, b, sizeof(b), &err);
    assert_non_null(i1);
    assert_non_null(i2);
    assert_string_equal(a, b);
    assert_memory_equal(i1->rgb, i2->rgb, 64 * 64 * 3);
    image_free(i1);
    image_free(i2);
    o.prompt = "3am pager alert again";
    i1 = renderer_draw(r, &o, a, sizeof(a), &err);
    assert_string_equal(a, "night-sky");
    image_free(i1);
    renderer_free(r);
}

static void test_bad_requests(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    struct meme_err err = {0};
    struct render_opts o = {.prompt = "x", .template_name = "no-such-thing"};
    assert_null(renderer_draw(r, &o, NULL, 0, &err));
    assert_int_equal(err.code, MEME_E_UNKNOWN_TEMPLATE);
    assert_non_null(strstr(err.msg, "no-such-thing"));
    assert_non_null(strstr(err.msg, "advice-wheel"));

    int sizes[][2] = {{63, 63}, {2049, 512}, {512, 10}, {-5, 512}};
    for (size_t i = 0; i < 4; i++) {
        struct render_opts s = {.prompt = "x", .width = sizes[i][0], .height = sizes[i][1]};
        memset(&err, 0, sizeof(err));
        assert_null(renderer_draw(r, &s, NULL, 0, &err));
        assert_int_equal(err.code, MEME_E_BAD_REQUEST);
    }
    /* Not square is fine. */
    struct meme_image *img = draw(r, "sunset", "wide", "meme", 400, 200);
    assert_int_equal(img->width, 400);
    assert_int_equal(img->height, 200);
    image_free(img);
    renderer_free(r);
}

static void test_font_errors(void **state)
{
    (void)state;
    struct meme_err err = {0};
    assert_null(renderer_new("/nonexistent/font.ttf", NULL, &err));
    assert_int_equal(err.code, MEME_E_FONT);
    assert_non_null(strstr(err.msg, "/nonexistent/font.ttf"));
    /* A file that is not a font. */
    char path[] = "/tmp/memectl-notafont-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    close(fd);
    memset(&err, 0, sizeof(err));
    assert_null(renderer_new(path, NULL, &err));
    assert_int_equal(err.code, MEME_E_FONT);
    unlink(path);
}

static void test_user_templates(void **state)
{
    (void)state;
    char dir[] = "/tmp/memectl-templates-XXXXXX";
    assert_non_null(mkdtemp(dir));
    /* A teal 300x200 picture as "Office.png", and a broken "broken.jpg". */
    struct meme_image *pic = image_new(300, 200);
    for (size_t i = 0; i < 300 * 200; i++) {
        pic->rgb[3 * i] = 0;
        pic->rgb[3 * i + 1] = 128;
        pic->rgb[3 * i + 2] = 128;
    }
    uint8_t *png;
    size_t len;
    struct meme_err err = {0};
    assert_int_equal(image_encode_png(pic, &png, &len, &err), 0);
    char *p1 = xasprintf("%s/Office.png", dir), *p2 = xasprintf("%s/broken.jpg", dir);
    char *p3 = xasprintf("%s/notes.txt", dir);
    FILE *f = fopen(p1, "wb");
    assert_int_equal(fwrite(png, 1, len, f), len);
    fclose(f);
    f = fopen(p2, "wb");
    fputs("\xff\xd8\xff garbage", f);
    fclose(f);
    f = fopen(p3, "wb");
    fputs("not a template", f);
    fclose(f);
    free(png);
    image_free(pic);

    struct renderer *r = open_renderer(dir);
    struct render_template_info info[64];
    size_t n = renderer_templates(r, info, 64);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(info[i].name, "office") == 0) {
            assert_int_equal(info[i].builtin, 0);
            found++;
        }
        assert_null(strstr(info[i].name, "notes"));
    }
    assert_int_equal(found, 1);
    /* A file's own size is known; a generated template has none, a broken file neither. */
    for (size_t i = 0; i < n; i++) {
        int w = 0, h = 0;
        bool sized = renderer_template_size(r, i, &w, &h);
        if (strcmp(info[i].name, "office") == 0) {
            assert_true(sized);
            assert_int_equal(w, 300);
            assert_int_equal(h, 200);
        } else {
            assert_false(sized);
        }
    }
    struct meme_image *img = draw(r, "office", "top", "bottom", 256, 256);
    const uint8_t *mid = img->rgb + (128 * 256 + 128) * 3;
    assert_true(mid[0] < 10 && abs(mid[1] - 128) < 4 && abs(mid[2] - 128) < 4);
    image_free(img);
    struct render_opts o = {.prompt = "x", .template_name = "broken"};
    assert_null(renderer_draw(r, &o, NULL, 0, &err));
    assert_int_equal(err.code, MEME_E_IMAGE);
    renderer_free(r);

    /* A template directory that is not there is an error, not a silent default. */
    memset(&err, 0, sizeof(err));
    assert_null(renderer_new(NULL, "/nonexistent/templates", &err));
    assert_int_equal(err.code, MEME_E_NOT_FOUND);
    assert_non_null(strstr(err.msg, "/nonexistent/templates"));

    unlink(p1);
    unlink(p2);
    unlink(p3);
    rmdir(dir);
    free(p1);
    free(p2);
    free(p3);
}

static void test_caption_on_another_picture(void **state)
{
    (void)state;
    struct renderer *r = open_renderer(NULL);
    /* A flat grey picture, as another engine might return. */
    struct meme_image *plain = image_new(256, 256), *cap = image_new(256, 256);
    memset(plain->rgb, 120, 256 * 256 * 3);
    memset(cap->rgb, 120, 256 * 256 * 3);
    struct meme_err err = {0};
    assert_int_equal(renderer_caption(r, cap, "made elsewhere", "captioned here", &err), 0);
    struct diff d = compare(cap, plain);
    assert_true(d.top > 200);
    assert_true(d.bottom > 200);
    assert_int_equal(d.mid, 0);
    assert_true(d.white > 0 && d.black > 0);
    image_free(plain);
    image_free(cap);
    /* A picture too small for captions is refused, not scribbled on. */
    struct meme_image *tiny = image_new(16, 16);
    assert_int_equal(renderer_caption(r, tiny, "x", NULL, &err), MEME_E_BAD_REQUEST);
    image_free(tiny);
    renderer_free(r);
}

int main(void)
{
    unsetenv("MEME_FONT");
    unsetenv("MEME_TEMPLATE_DIR");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_captions_land_in_their_boxes),
        cmocka_unit_test(test_long_caption_stays_in_box),
        cmocka_unit_test(test_unicode_caption),
        cmocka_unit_test(test_scripts_are_not_question_marks),
        cmocka_unit_test(test_emoji_in_colour_without_outline),
        cmocka_unit_test(test_scripts_picture),
        cmocka_unit_test(test_png_and_jpeg),
        cmocka_unit_test(test_pick_is_stable),
        cmocka_unit_test(test_bad_requests),
        cmocka_unit_test(test_font_errors),
        cmocka_unit_test(test_user_templates),
        cmocka_unit_test(test_caption_on_another_picture),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
