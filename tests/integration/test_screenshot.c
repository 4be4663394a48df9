/*
 * A meme on a real terminal's screen: scripts/screenshot runs memectl gen in
 * `xterm -ti vt340` (sixel, found by DA1) and in kitty (the kitty graphics
 * protocol, found by its environment; Mesa's software OpenGL) on Xvfb and
 * captures the screen, and the meme memectl saved is looked for in the
 * picture. Skips when Xvfb, ImageMagick or the terminal is not installed
 * (scripts/install-deps --x11), or kitty cannot start here.
 */
#include "common.h"

#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch;
static pid_t worker = -1;

static int setup(void **state)
{
    scratch = harness_tmpdir("screenshot");
    if (!scratch || harness_nats_start(&nats) != 0)
        return -1;
    worker = start_worker(nats.url, scratch, "w1");
    return worker > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    harness_kill(worker, 5000);
    harness_stop(&nats);
    free(scratch);
    return 0;
}

static char *source_path(const char *rel)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    return xasprintf("%s/%s", root && *root ? root : ".", rel);
}

/*
 * How far the meme is from the screen at its best place: the mean absolute
 * difference per channel, over a 64x64 grid of the meme's pixels, against the
 * screen at offset (dx, dy) with the meme drawn s pixels wide (terminals
 * scale kitty images to whole cells), the best over s in [smin, smax] and
 * offsets up to 16 pixels.
 */
static double best_match(const struct meme_image *screen, const struct meme_image *meme, int smin,
                         int smax, int *best_s)
{
    double best = 1e9;
    for (int s = smin; s <= smax; s++)
        for (int dy = 0; dy <= 16; dy++)
            for (int dx = 0; dx <= 16; dx++) {
                if (dx + s > screen->width || dy + s > screen->height)
                    continue;
                double sum = 0;
                int n = 0;
                for (int v = 0; v < 64; v++)
                    for (int u = 0; u < 64; u++) {
                        int mx = u * meme->width / 64 + meme->width / 128;
                        int my = v * meme->height / 64 + meme->height / 128;
                        int sx = dx + mx * s / meme->width, sy = dy + my * s / meme->height;
                        const uint8_t *a = meme->rgb + ((size_t)my * meme->width + mx) * 3;
                        const uint8_t *b = screen->rgb + ((size_t)sy * screen->width + sx) * 3;
                        for (int k = 0; k < 3; k++)
                            sum += abs((int)a[k] - (int)b[k]);
                        n += 3;
                    }
                if (sum / n < best) {
                    best = sum / n;
                    *best_s = s;
                }
            }
    return best;
}

/* Runs gen in the terminal; 77 when it cannot run here. */
static int shoot(const char *term, const char *shot, const char *meme, const char *prompt)
{
    char *script = source_path("scripts/screenshot");
    char *bin = harness_bin("memectl");
    char *argv[] = {script, (char *)term, (char *)shot,   bin, "-s", (char *)nats.url, "gen",
                    "-o",   (char *)meme, (char *)prompt, NULL};
    /* The terminal sets TERM and the rest; none of ours may leak in. */
    char *env[] = {"TERM", "TERM_PROGRAM",    "COLORTERM",      "KITTY_WINDOW_ID",
                   "TMUX", "MEMECTL_DISPLAY", "MEMECTL_CONFIG", "DISPLAY",
                   NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, env, &out, &err, 120000);
    if (rc != 0 && rc != 77)
        fprintf(stderr, "[screenshot] %s%s", (char *)out.data, (char *)err.data);
    buf_release(&out);
    buf_release(&err);
    free(bin);
    free(script);
    return rc;
}

static void check_screen(const char *term, int smin, int smax, double limit)
{
    char *shot = xasprintf("%s/%s.png", scratch, term);
    char *meme = xasprintf("%s/%s-meme.png", scratch, term);
    char *prompt = xasprintf("memectl in | %s", term);
    int rc = shoot(term, shot, meme, prompt);
    if (rc == 77) {
        free(shot);
        free(meme);
        free(prompt);
        skip();
    }
    assert_int_equal(rc, 0);
    struct meme_image *screen = load_image(shot), *img = load_image(meme);
    assert_non_null(screen);
    assert_non_null(img);
    int s = 0;
    double d = best_match(screen, img, smin, smax, &s);
    /* Against the meme upside down, the same search finds nothing close: the
     * measure tells a meme on the screen from anything else. */
    struct meme_image *flipped = image_new(img->width, img->height);
    for (int y = 0; y < img->height; y++)
        memcpy(flipped->rgb + (size_t)y * img->width * 3,
               img->rgb + (size_t)(img->height - 1 - y) * img->width * 3, (size_t)img->width * 3);
    int s2 = 0;
    double other = best_match(screen, flipped, smin, smax, &s2);
    fprintf(stderr, "[screenshot] %s: the meme at %d px, %.1f from the screen (flipped: %.1f)\n",
            term, s, d, other);
    assert_true(d < limit);
    assert_true(other > 3 * d);
    image_free(flipped);
    image_free(screen);
    image_free(img);
    free(prompt);
    free(meme);
    free(shot);
}

static void test_xterm_vt340_sixel(void **state)
{
    /* Sixel is drawn pixel for pixel: the meme's own size, dithered. */
    check_screen("xterm", 512, 512, 16.0);
}

static void test_kitty(void **state)
{
    /* kitty scales the PNG to whole cells, a few pixels either way. */
    check_screen("kitty", 480, 544, 12.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xterm_vt340_sixel),
        cmocka_unit_test(test_kitty),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    return harness_finish(failures);
}
