/*
 * Terminal graphics and text safety: DA1 parsing, detection against a fake
 * terminal on a pseudo terminal (a thread or a child process plays the
 * terminal on the master side), the half-block encoder byte for byte, the
 * sixel encoder checked by decoding its output with libsixel, and the
 * sanitizer against the escape sequences a hostile server could send.
 */
#include "buf.h"
#include "err.h"
#include "render/image.h"
#include "term/term.h"
#include "xalloc.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <sixel.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define UPPER_HALF "\xe2\x96\x80"
#define RESET_NL   "\033[0m\n"

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- display names ---------------------------------------------------- */

static void test_display_parse(void **state)
{
    enum term_display d = TERM_DISPLAY_NONE;
    assert_int_equal(term_display_parse("auto", &d), 0);
    assert_int_equal(d, TERM_DISPLAY_AUTO);
    assert_int_equal(term_display_parse("sixel", &d), 0);
    assert_int_equal(d, TERM_DISPLAY_SIXEL);
    assert_int_equal(term_display_parse("blocks", &d), 0);
    assert_int_equal(d, TERM_DISPLAY_BLOCKS);
    assert_int_equal(term_display_parse("none", &d), 0);
    assert_int_equal(d, TERM_DISPLAY_NONE);
    assert_int_equal(term_display_parse("Sixel", &d), -1);
    assert_int_equal(term_display_parse("", &d), -1);
    assert_int_equal(term_display_parse("sixels", &d), -1);
    assert_int_equal(term_display_parse(NULL, &d), -1);
    assert_int_equal(d, TERM_DISPLAY_NONE);

    for (int i = TERM_DISPLAY_AUTO; i <= TERM_DISPLAY_NONE; i++) {
        assert_int_equal(term_display_parse(term_display_name((enum term_display)i), &d), 0);
        assert_int_equal(d, i);
    }
    assert_string_equal(term_display_name((enum term_display)42), "unknown");
}

/* ---- DA1 -------------------------------------------------------------- */

static bool da1(const char *s)
{
    return term_da1_has_sixel(s, strlen(s));
}

static void test_da1(void **state)
{
    assert_true(da1("\033[?63;1;2;4;6;9;15;22c")); /* xterm -ti vt340 */
    assert_true(da1("\033[?62;4c"));
    assert_true(da1("\033[?4c"));
    assert_true(da1("\033[?4;62c"));
    assert_true(da1("\x9b?62;4c")); /* 8-bit CSI */
    assert_false(da1("\033[?62;22c"));
    assert_false(da1("\033[?1;2c"));
    assert_false(da1("\033[?64;14c")); /* 14 is not 4 */
    assert_false(da1("\033[?64;41c"));
    assert_false(da1("\033[?44c"));
    assert_false(da1("\033[?c"));
    assert_false(da1("\033[?;c"));
    /* Cut short: no final 'c', so no verdict even when a 4 went by. */
    assert_false(da1("\033[?63;1;2;4"));
    assert_false(da1("\033[?63;1;2;4;"));
    assert_false(da1("\033[?"));
    assert_false(da1("\033["));
    assert_false(da1("\033"));
    assert_false(da1(""));
    assert_false(term_da1_has_sixel(NULL, 0));
    /* Leading garbage: typed-ahead keys, another report, a broken start. */
    assert_true(da1("abc\033[?62;4c"));
    assert_true(da1("\033[2;1R\033[?62;4c"));
    assert_true(da1("\033[?6x\033[?62;4c"));
    assert_true(da1("\033\033[?62;4c"));
    assert_false(da1("xyz4c"));
    assert_false(da1("\033[62;4c")); /* no '?' */
    assert_false(da1("\033[>0;4c")); /* DA2 is not DA1 */
    /* Only the first complete reply counts. */
    assert_false(da1("\033[?62c\033[?62;4c"));
    /* The length bounds the parse: a NUL is not an end. */
    assert_true(term_da1_has_sixel("\033[?62;4c", 8));
    assert_false(term_da1_has_sixel("\033[?62;4c", 7));
}

static void test_da1_long_input_is_linear(void **state)
{
    size_t n = 1 << 20;
    char *s = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        s[i] = "\033[?1;"[i % 5];
    long long t0 = now_ms();
    assert_false(term_da1_has_sixel(s, n));
    assert_true(now_ms() - t0 < 1000);
    free(s);
}

/* ---- detection on a pseudo terminal ----------------------------------- */

struct fake_term {
    int master;
    const char *reply;  /* written once the query arrived; NULL stays silent */
    const char *reply2; /* written 30 ms later, or NULL */
    char query[64];
    size_t query_len;
};

static void write_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = write(fd, s, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

/* Reads from fd until want bytes arrived or 2 s passed. */
static size_t read_some(int fd, char *buf, size_t cap, size_t want)
{
    size_t len = 0;
    long long deadline = now_ms() + 2000;
    while (len < want && len < cap) {
        long long left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t n = read(fd, buf + len, cap - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    return len;
}

static void *fake_term_run(void *arg)
{
    struct fake_term *t = arg;
    t->query_len = read_some(t->master, t->query, sizeof(t->query), 3);
    if (t->reply)
        write_str(t->master, t->reply);
    if (t->reply2) {
        usleep(30 * 1000);
        write_str(t->master, t->reply2);
    }
    return NULL;
}

static bool termios_same(const struct termios *a, const struct termios *b)
{
    return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
           a->c_lflag == b->c_lflag && memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc)) == 0;
}

/* Bytes waiting in fd's input queue, read without blocking (raw for a
 * moment, since a canonical terminal hides a partial line). */
static size_t pending_input(int fd, char *buf, size_t cap)
{
    struct termios saved, raw;
    assert_int_equal(tcgetattr(fd, &saved), 0);
    raw = saved;
    raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    assert_int_equal(tcsetattr(fd, TCSANOW, &raw), 0);
    ssize_t n = read(fd, buf, cap);
    assert_int_equal(tcsetattr(fd, TCSANOW, &saved), 0);
    return n > 0 ? (size_t)n : 0;
}

/* Runs term_detect_on against a fake terminal and checks what every
 * detection must leave behind: the query sent, the settings restored, no
 * reply echoed to the screen and none left in the input. */
static enum term_display detect_with(const char *reply, const char *reply2, int timeout_ms,
                                     long long *elapsed_ms)
{
    int master, slave;
    struct termios before, after;
    pthread_t th;
    struct fake_term t = {.reply = reply, .reply2 = reply2};
    char junk[512];

    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    t.master = master;
    assert_int_equal(tcgetattr(slave, &before), 0);
    assert_true(before.c_lflag & ECHO);
    assert_true(before.c_lflag & ICANON);
    assert_int_equal(pthread_create(&th, NULL, fake_term_run, &t), 0);

    long long t0 = now_ms();
    enum term_display d = term_detect_on(slave, slave, timeout_ms);
    if (elapsed_ms)
        *elapsed_ms = now_ms() - t0;
    assert_int_equal(pthread_join(th, NULL), 0);

    assert_int_equal(t.query_len, 3);
    assert_memory_equal(t.query, "\033[c", 3);
    assert_int_equal(tcgetattr(slave, &after), 0);
    assert_true(termios_same(&before, &after));
    struct pollfd p = {.fd = master, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* nothing echoed */
    assert_int_equal(pending_input(slave, junk, sizeof(junk)), 0);
    close(slave);
    close(master);
    return d;
}

static void test_detect_sixel(void **state)
{
    assert_int_equal(detect_with("\033[?63;1;2;4;6;9;15;22c", NULL, 1000, NULL),
                     TERM_DISPLAY_SIXEL);
}

static void test_detect_no_sixel(void **state)
{
    long long ms;
    /* tmux without sixel support answers like this. */
    assert_int_equal(detect_with("\033[?1;2c", NULL, 1000, &ms), TERM_DISPLAY_BLOCKS);
    assert_true(ms < 900); /* the reply ends the wait, not the timeout */
}

static void test_detect_split_reply(void **state)
{
    assert_int_equal(detect_with("\033[?62;", "4;22c", 1000, NULL), TERM_DISPLAY_SIXEL);
}

static void test_detect_typeahead(void **state)
{
    assert_int_equal(detect_with("ls -l\r\033[?62;4c", NULL, 1000, NULL), TERM_DISPLAY_SIXEL);
    char noise[400];
    memset(noise, 'x', sizeof(noise) - 1);
    noise[sizeof(noise) - 1] = '\0';
    assert_int_equal(detect_with(noise, "\033[?62;4c", 1000, NULL), TERM_DISPLAY_SIXEL);
}

static void test_detect_silent_terminal(void **state)
{
    long long ms;
    assert_int_equal(detect_with(NULL, NULL, 100, &ms), TERM_DISPLAY_BLOCKS);
    assert_true(ms >= 90);
    assert_true(ms < 1000);
    /* Half a reply and then silence is still a bounded wait. */
    assert_int_equal(detect_with("\033[?62;4", NULL, 100, &ms), TERM_DISPLAY_BLOCKS);
    assert_true(ms < 1000);
}

static void test_detect_on_not_a_tty(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    long long t0 = now_ms();
    assert_int_equal(term_detect_on(p[0], p[1], 1000), TERM_DISPLAY_BLOCKS);
    assert_true(now_ms() - t0 < 500);
    close(p[0]);
    close(p[1]);
}

static void test_detect_pipe_is_none(void **state)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    unsetenv("MEMECTL_DISPLAY");
    assert_int_equal(term_detect(p[1], TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_NONE);
    /* An explicit choice is kept, terminal or not. */
    assert_int_equal(term_detect(p[1], TERM_DISPLAY_SIXEL, 100), TERM_DISPLAY_SIXEL);
    assert_int_equal(term_detect(p[1], TERM_DISPLAY_BLOCKS, 100), TERM_DISPLAY_BLOCKS);
    setenv("MEMECTL_DISPLAY", "sixel", 1);
    assert_int_equal(term_detect(p[1], TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_NONE);
    unsetenv("MEMECTL_DISPLAY");
    close(p[0]);
    close(p[1]);
}

static void test_detect_env_overrides(void **state)
{
    int master, slave;
    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    char *old_term = getenv("TERM") ? xstrdup(getenv("TERM")) : NULL;

    /* None of these may talk to a terminal: the master stays quiet. */
    setenv("MEMECTL_DISPLAY", "blocks", 1);
    assert_int_equal(term_detect(slave, TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_BLOCKS);
    setenv("MEMECTL_DISPLAY", "sixel", 1);
    assert_int_equal(term_detect(slave, TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_SIXEL);
    setenv("MEMECTL_DISPLAY", "none", 1);
    assert_int_equal(term_detect(slave, TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_NONE);
    setenv("MEMECTL_DISPLAY", "none", 1);
    assert_int_equal(term_detect(slave, TERM_DISPLAY_BLOCKS, 100), TERM_DISPLAY_BLOCKS);
    unsetenv("MEMECTL_DISPLAY");
    setenv("TERM", "dumb", 1);
    assert_int_equal(term_detect(slave, TERM_DISPLAY_AUTO, 100), TERM_DISPLAY_NONE);
    struct pollfd p = {.fd = master, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);

    if (old_term)
        setenv("TERM", old_term, 1);
    else
        unsetenv("TERM");
    free(old_term);
    close(slave);
    close(master);
}

/* The whole path through /dev/tty: a child makes the pseudo terminal its
 * controlling terminal and calls term_detect() (from a background process
 * group when asked); the parent answers any query. */
static int detect_in_child(const char *reply, const char *term_env, bool background)
{
    int master, slave, status = 0;
    char query[16];

    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(master);
        if (setsid() < 0 || ioctl(slave, TIOCSCTTY, 0) < 0)
            _exit(100);
        if (background) {
            pid_t job = fork();
            if (job < 0)
                _exit(102);
            if (job > 0) {
                int st = 0;
                waitpid(job, &st, 0);
                _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 103);
            }
            if (setpgid(0, 0) < 0)
                _exit(104);
        }
        unsetenv("MEMECTL_DISPLAY");
        setenv("TERM", term_env, 1);
        struct termios before, after;
        tcgetattr(slave, &before);
        enum term_display d = term_detect(slave, TERM_DISPLAY_AUTO, 2000);
        tcgetattr(slave, &after);
        _exit(termios_same(&before, &after) ? (int)d : 101);
    }
    close(slave);
    size_t n = read_some(master, query, sizeof(query), 3);
    if (reply) {
        assert_int_equal(n, 3);
        assert_memory_equal(query, "\033[c", 3);
        write_str(master, reply);
    } else {
        assert_int_equal(n, 0);
    }
    /* Bounded: a child stopped by SIGTTOU would otherwise hang the test. */
    pid_t done = 0;
    for (int i = 0; i < 500 && done == 0; i++) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            usleep(10 * 1000);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
    }
    close(master);
    assert_int_equal(done, pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

static void test_detect_controlling_tty(void **state)
{
    int r = detect_in_child("\033[?62;4c", "xterm-256color", false);
    if (r == 100)
        skip(); /* no permission to take a controlling terminal here */
    assert_int_equal(r, TERM_DISPLAY_SIXEL);
    assert_int_equal(detect_in_child("\033[?62;22c", "screen", false), TERM_DISPLAY_BLOCKS);
    assert_int_equal(detect_in_child(NULL, "dumb", false), TERM_DISPLAY_NONE);
    /* A background job must not query (SIGTTOU would stop it): no query,
     * half blocks. */
    assert_int_equal(detect_in_child(NULL, "xterm-256color", true), TERM_DISPLAY_BLOCKS);
}

/* ---- geometry --------------------------------------------------------- */

static void test_geometry(void **state)
{
    int master, slave, p[2];
    struct term_geometry g;
    struct winsize ws = {.ws_row = 40, .ws_col = 100, .ws_xpixel = 900, .ws_ypixel = 720};

    assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
    term_geometry(slave, &g);
    assert_int_equal(g.cols, 100);
    assert_int_equal(g.rows, 40);
    assert_int_equal(g.cell_w, 9);
    assert_int_equal(g.cell_h, 18);

    struct winsize no_pixels = {.ws_row = 30, .ws_col = 120};
    assert_int_equal(ioctl(slave, TIOCSWINSZ, &no_pixels), 0);
    term_geometry(slave, &g);
    assert_int_equal(g.cols, 120);
    assert_int_equal(g.rows, 30);
    assert_int_equal(g.cell_w, 10);
    assert_int_equal(g.cell_h, 20);
    close(slave);
    close(master);

    assert_int_equal(pipe(p), 0);
    term_geometry(p[1], &g);
    assert_int_equal(g.cols, 80);
    assert_int_equal(g.rows, 24);
    assert_int_equal(g.cell_w, 10);
    assert_int_equal(g.cell_h, 20);
    close(p[0]);
    close(p[1]);
}

/* ---- half blocks ------------------------------------------------------ */

static struct meme_image *image_from(int w, int h, const uint32_t *px)
{
    struct meme_image *img = image_new(w, h);
    for (int i = 0; i < w * h; i++) {
        img->rgb[i * 3] = (uint8_t)(px[i] >> 16);
        img->rgb[i * 3 + 1] = (uint8_t)(px[i] >> 8);
        img->rgb[i * 3 + 2] = (uint8_t)px[i];
    }
    return img;
}

#define R 0xff0000u
#define W 0xffffffu

static const uint32_t two_colour[16] = {
    R, R, W, W, /* */
    W, W, R, R, /* */
    R, W, R, W, /* */
    R, R, R, R,
};

static void test_blocks_truecolor(void **state)
{
    struct meme_image *img = image_from(4, 4, two_colour);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_blocks(img, 4, 2, true, &out), 0);
    const char *want =
        "\033[38;2;255;0;0m\033[48;2;255;255;255m" UPPER_HALF UPPER_HALF
        "\033[38;2;255;255;255m\033[48;2;255;0;0m" UPPER_HALF UPPER_HALF RESET_NL
        "\033[38;2;255;0;0m\033[48;2;255;0;0m" UPPER_HALF "\033[38;2;255;255;255m" UPPER_HALF
        "\033[38;2;255;0;0m" UPPER_HALF "\033[38;2;255;255;255m" UPPER_HALF RESET_NL;
    assert_string_equal((char *)out.data, want);
    assert_int_equal(out.len, strlen(want));
    buf_release(&out);
    image_free(img);
}

static void test_blocks_256(void **state)
{
    struct meme_image *img = image_from(4, 4, two_colour);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_blocks(img, 4, 2, false, &out), 0);
    const char *want = "\033[38;5;196m\033[48;5;231m" UPPER_HALF UPPER_HALF
                       "\033[38;5;231m\033[48;5;196m" UPPER_HALF UPPER_HALF RESET_NL
                       "\033[38;5;196m\033[48;5;196m" UPPER_HALF "\033[38;5;231m" UPPER_HALF
                       "\033[38;5;196m" UPPER_HALF "\033[38;5;231m" UPPER_HALF RESET_NL;
    assert_string_equal((char *)out.data, want);
    buf_release(&out);
    image_free(img);
}

/* The 256-colour escape pair for a cell with top over bottom. */
static void check_256(uint32_t top, uint32_t bottom, int fg, int bg)
{
    uint32_t px[2] = {top, bottom};
    struct meme_image *img = image_from(1, 2, px);
    struct buf out = BUF_INIT;
    char want[64];
    assert_int_equal(term_encode_blocks(img, 1, 1, false, &out), 0);
    snprintf(want, sizeof(want), "\033[38;5;%dm\033[48;5;%dm" UPPER_HALF RESET_NL, fg, bg);
    assert_string_equal((char *)out.data, want);
    buf_release(&out);
    image_free(img);
}

static void test_blocks_256_palette(void **state)
{
    check_256(0xff0000, 0xffffff, 196, 231); /* red, white */
    check_256(0x000000, 0x808080, 16, 244);  /* black, mid grey (ramp beats cube) */
    check_256(0x00ff00, 0x0000ff, 46, 21);   /* green, blue */
    check_256(0x080808, 0xeeeeee, 232, 255); /* the ends of the grey ramp */
    check_256(0x5f87af, 0xd7af00, 67, 178);  /* exact cube entries */
}

static void test_blocks_odd_height(void **state)
{
    uint32_t px[3] = {R, W, R};
    struct meme_image *img = image_from(1, 3, px);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_blocks(img, 1, 2, false, &out), 0);
    /* The last half row has no lower pixel: the background stays default. */
    assert_string_equal((char *)out.data, "\033[38;5;196m\033[48;5;231m" UPPER_HALF RESET_NL
                                          "\033[38;5;196m" UPPER_HALF RESET_NL);
    buf_release(&out);
    image_free(img);
}

/* Counts lines and cells and checks that every line ends with a reset. */
static void check_block_shape(const struct buf *out, int want_lines, int want_cells)
{
    const char *s = (const char *)out->data;
    int lines = 0;
    assert_true(out->len > 0);
    assert_int_equal(s[out->len - 1], '\n');
    for (const char *line = s; *line; lines++) {
        const char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line >= 4);
        assert_memory_equal(nl - 4, "\033[0m", 4);
        int cells = 0;
        for (const char *p = line; p < nl; p++)
            if (memcmp(p, UPPER_HALF, 3) == 0)
                cells++;
        assert_int_equal(cells, want_cells);
        line = nl + 1;
    }
    assert_int_equal(lines, want_lines);
}

static struct meme_image *gradient(int w, int h)
{
    struct meme_image *img = image_new(w, h);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->rgb + ((size_t)y * w + x) * 3;
            p[0] = (uint8_t)(x * 255 / (w > 1 ? w - 1 : 1));
            p[1] = (uint8_t)(y * 255 / (h > 1 ? h - 1 : 1));
            p[2] = (uint8_t)((x + y) * 7);
        }
    return img;
}

static void test_blocks_scaled(void **state)
{
    struct buf out = BUF_INIT;
    struct meme_image *img = gradient(64, 64);
    /* Square image, 40x10 cells = 40x20 px: height limits, 20x20 px. */
    assert_int_equal(term_encode_blocks(img, 40, 10, true, &out), 0);
    check_block_shape(&out, 10, 20);
    buf_release(&out);
    /* Wide box limit: 16 cells wide -> 16x16 px -> 8 lines. */
    assert_int_equal(term_encode_blocks(img, 16, 30, false, &out), 0);
    check_block_shape(&out, 8, 16);
    buf_release(&out);
    image_free(img);

    /* A wide banner: 200x50 into 50x50 cells -> 50x13 px -> 7 lines. */
    img = gradient(200, 50);
    assert_int_equal(term_encode_blocks(img, 50, 50, true, &out), 0);
    check_block_shape(&out, 7, 50);
    buf_release(&out);
    image_free(img);
}

static void test_blocks_bad_input(void **state)
{
    struct buf out = BUF_INIT;
    struct meme_image *img = gradient(4, 4);
    assert_true(term_encode_blocks(img, 0, 2, true, &out) < 0);
    assert_true(term_encode_blocks(img, 2, 0, true, &out) < 0);
    assert_true(term_encode_blocks(NULL, 2, 2, true, &out) < 0);
    assert_int_equal(out.len, 0);
    image_free(img);
}

static void test_truecolor_env(void **state)
{
    char *old = getenv("COLORTERM") ? xstrdup(getenv("COLORTERM")) : NULL;
    setenv("COLORTERM", "truecolor", 1);
    assert_true(term_has_truecolor());
    setenv("COLORTERM", "24bit", 1);
    assert_true(term_has_truecolor());
    setenv("COLORTERM", "yes", 1);
    assert_false(term_has_truecolor());
    unsetenv("COLORTERM");
    assert_false(term_has_truecolor());
    if (old)
        setenv("COLORTERM", old, 1);
    free(old);
}

/* ---- sixel ------------------------------------------------------------ */

/* Decodes a sixel sequence with libsixel and returns its size. */
static void sixel_size(const struct buf *out, int *w, int *h)
{
    unsigned char *px = NULL, *pal = NULL;
    int ncolors = 0;
    SIXELSTATUS st = sixel_decode_raw((unsigned char *)out->data, (int)out->len, &px, w, h, &pal,
                                      &ncolors, NULL);
    assert_true(SIXEL_SUCCEEDED(st));
    assert_true(ncolors >= 1);
    free(px);
    free(pal);
}

static void check_sixel(const struct meme_image *img, int max_w, int max_h, int want_w, int want_h)
{
    struct buf out = BUF_INIT;
    struct meme_err err = {0};
    char raster[64];
    int w = 0, h = 0;

    assert_int_equal(term_encode_sixel(img, max_w, max_h, &out, &err), 0);
    assert_true(out.len > 10);
    assert_memory_equal(out.data, "\033P", 2);
    assert_memory_equal(out.data + out.len - 2, "\033\\", 2);
    assert_non_null(memchr(out.data, '#', out.len));
    /* Raster attributes, when present, give the pixel size. */
    snprintf(raster, sizeof(raster), "\"1;1;%d;%d", want_w, want_h);
    if (memchr(out.data, '"', out.len))
        assert_non_null(strstr((char *)out.data, raster));
    sixel_size(&out, &w, &h);
    assert_true(w <= max_w);
    assert_true(h <= max_h);
    assert_int_equal(w, want_w);
    assert_true(h >= want_h && h <= want_h + 5); /* sixel rows come in sixes */
    buf_release(&out);
}

static void test_sixel(void **state)
{
    struct meme_image *img = gradient(40, 20);
    check_sixel(img, 40, 20, 40, 20);    /* as is */
    check_sixel(img, 100, 100, 100, 50); /* enlarged to the box */
    check_sixel(img, 16, 16, 16, 8);     /* shrunk, aspect kept */
    check_sixel(img, 100, 10, 20, 10);   /* height limits */
    image_free(img);

    img = gradient(7, 300); /* tall and thin */
    check_sixel(img, 64, 64, 1, 64);
    image_free(img);

    img = gradient(1, 1); /* one colour */
    check_sixel(img, 6, 6, 6, 6);
    image_free(img);
}

static void test_sixel_leaves_input_alone(void **state)
{
    struct meme_image *img = gradient(32, 32);
    struct meme_image *copy = image_dup(img);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_sixel(img, 32, 32, &out, NULL), 0);
    assert_memory_equal(img->rgb, copy->rgb, 32 * 32 * 3);
    buf_release(&out);
    image_free(copy);
    image_free(img);
}

static void test_sixel_appends(void **state)
{
    struct meme_image *img = gradient(8, 8);
    struct buf out = BUF_INIT;
    buf_puts(&out, "before");
    assert_int_equal(term_encode_sixel(img, 8, 8, &out, NULL), 0);
    assert_memory_equal(out.data, "before\033P", 8);
    buf_release(&out);
    image_free(img);
}

static void test_sixel_bad_box(void **state)
{
    struct meme_image *img = gradient(8, 8);
    struct buf out = BUF_INIT;
    struct meme_err err = {0};
    buf_puts(&out, "keep");
    assert_int_equal(term_encode_sixel(img, 0, 10, &out, &err), MEME_E_IMAGE);
    assert_int_equal(err.code, MEME_E_IMAGE);
    assert_true(strlen(err.msg) > 0);
    assert_int_equal(term_encode_sixel(NULL, 10, 10, &out, NULL), MEME_E_IMAGE);
    assert_string_equal((char *)out.data, "keep");
    buf_release(&out);
    image_free(img);
}

/* ---- sanitizer -------------------------------------------------------- */

static char *clean(const char *s, size_t len, bool keep_newlines)
{
    struct buf out = BUF_INIT;
    term_sanitize(s, len, keep_newlines, &out);
    if (!out.data)
        return xstrdup("");
    return (char *)buf_detach(&out, NULL);
}

#define assert_clean(in, keep, want)                                                               \
    do {                                                                                           \
        char *got_ = clean(in, sizeof(in) - 1, keep);                                              \
        assert_string_equal(got_, want);                                                           \
        free(got_);                                                                                \
    } while (0)

static void test_sanitize_plain(void **state)
{
    assert_clean("", false, "");
    assert_clean("hello, world! ~{}[]", false, "hello, world! ~{}[]");
    assert_clean("caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad", false,
                 "caf\xc3\xa9 na\xc3\xafve \xe2\x82\xac \xf0\x9f\x98\x80 \xe4\xb8\xad");
    /* U+00A0 and U+FEFF are not controls. */
    assert_clean("x\xc2\xa0y\xef\xbb\xbfz", false, "x\xc2\xa0y\xef\xbb\xbfz");
}

static void test_sanitize_controls(void **state)
{
    assert_clean("a\rb\ac\bd\x7fx\x01\x1fy", false, "abcdxy");
    assert_clean("one\ntwo", true, "one\ntwo");
    assert_clean("one\ntwo", false, "one two");
    assert_clean("a\tb", true, "a b");
    assert_clean("line\r\n", true, "line\n");
    /* An embedded NUL is dropped, not an end. */
    assert_clean("a\0b", false, "ab");
}

static void test_sanitize_csi(void **state)
{
    assert_clean("\033[31mred\033[0m", false, "red");
    assert_clean("\033[2J\033[H\033[?1049hx", false, "x");
    assert_clean("a\033[38;2;1;2;3mb", false, "ab");
    assert_clean("\033[1;31", false, ""); /* unterminated */
    /* A control byte aborts the CSI; what follows is text again. */
    assert_clean("\033[12\nabc", true, "\nabc");
    /* ESC inside a CSI starts a new sequence. */
    assert_clean("\033[1\033[31mx", false, "x");
}

static void test_sanitize_osc(void **state)
{
    /* OSC 52 writes the clipboard: gone with its payload, both endings. */
    assert_clean("a\033]52;c;cm0gLXJmIH4=\ab", false, "ab");
    assert_clean("a\033]52;c;cm0gLXJmIH4=\033\\b", false, "ab");
    assert_clean("\033]0;evil title\athe text", false, "the text");
    assert_clean("\033]8;;http://x\033\\link\033]8;;\033\\", false, "link");
    /* Unterminated: everything after it would be swallowed by a terminal. */
    assert_clean("ok\033]52;c;AAAA", false, "ok");
    /* The UTF-8 ST ends it too. */
    assert_clean("\033]2;t\xc2\x9cz", false, "z");
}

static void test_sanitize_strings(void **state)
{
    assert_clean("x\033Pq#0;2;0;0;0#0!10~-\033\\y", false, "xy"); /* sixel */
    assert_clean("x\033P$qm\033\\y", false, "xy");                /* DECRQSS */
    assert_clean("x\033_Gf=100;AAAA\033\\y", false, "xy");        /* kitty APC */
    assert_clean("x\033^pm\033\\y", false, "xy");
    assert_clean("x\033Xsos\033\\y", false, "xy");
    assert_clean("x\033Pq\x18y", false, "xy"); /* CAN cancels */
}

static void test_sanitize_two_byte_escapes(void **state)
{
    assert_clean("a\033cb", false, "ab");      /* RIS */
    assert_clean("a\0337b\0338", false, "ab"); /* DECSC/DECRC */
    assert_clean("a\033(0b", false, "ab");     /* G0 line drawing */
    assert_clean("a\033#8b", false, "ab");     /* DECALN */
    assert_clean("a\033%Gb", false, "ab");
    assert_clean("end\033", false, "end"); /* lone ESC at the end */
    assert_clean("\033\033[31mx", false, "x");
    assert_clean("a\033\nb", true, "a\nb");
    assert_clean("a\033\xc3\xa9", false, "a\xc3\xa9");
}

static void test_sanitize_c1(void **state)
{
    /* 8-bit introducers spelled in UTF-8, with their bodies. */
    assert_clean("x\xc2\x9b?25ly", false, "xy");           /* CSI */
    assert_clean("x\302\23552;c;QUFB\ay", false, "xy");    /* OSC 52 (octal: U+009D) */
    assert_clean("x\xc2\x90q#0!5~\xc2\x9cy", false, "xy"); /* DCS ... ST */
    assert_clean("x\xc2\x9f_\033\\y", false, "xy");        /* APC */
    assert_clean("x\xc2\x85y\xc2\x80z", false, "xyz");     /* NEL, PAD: dropped */
    /* Raw C1 bytes outside UTF-8 are dropped alone: to a UTF-8 terminal
     * they mean nothing, and what follows them is plain text. */
    assert_clean("x\x9b?25ly", false, "x?25ly");
    assert_clean("x\x85y", false, "xy");
}

#define REPL "\xef\xbf\xbd"

static void test_sanitize_invalid_utf8(void **state)
{
    assert_clean("x\xffy", false, "x" REPL "y");
    assert_clean("\xc3(", false, REPL "(");         /* short */
    assert_clean("\xe2\x82", false, REPL);          /* cut off */
    assert_clean("\xc0\xaf", false, REPL REPL);     /* overlong */
    assert_clean("\xed\xa0\x80", false, REPL REPL); /* surrogate; 0x80 is raw C1 */
    assert_clean("\xf4\x90\x80\x80", false, REPL);  /* > U+10FFFF; the rest raw C1 */
    assert_clean("latin1 caf\xe9!", false, "latin1 caf" REPL "!");
}

static void test_sanitize_appends(void **state)
{
    struct buf out = BUF_INIT;
    buf_puts(&out, "[");
    term_sanitize("x\033[1my", 6, false, &out);
    buf_puts(&out, "]");
    assert_string_equal((char *)out.data, "[xy]");
    buf_release(&out);
}

static void test_sanitize_dup(void **state)
{
    char *s = term_sanitize_dup("worker-1\033[2J\nok\xff");
    assert_string_equal(s, "worker-1 ok\xef\xbf\xbd");
    free(s);
    s = term_sanitize_dup("");
    assert_string_equal(s, "");
    free(s);
    s = term_sanitize_dup("\033[31m");
    assert_string_equal(s, "");
    free(s);
    s = term_sanitize_dup(NULL);
    assert_string_equal(s, "");
    free(s);
}

/* Sanitized output never holds a control or an invalid byte, whatever the
 * input; and the work stays linear on hostile inputs. */
static void test_sanitize_hostile(void **state)
{
    static const char *const seeds[] = {"\033[", "\033]",   "\033P",    "\xc2\x9b", "\xc2\x9d",
                                        "\033",  "\033[1;", "\xf0\x9f", "\x9b",     "a"};
    size_t n = 1 << 20;
    char *s = xmalloc(n);
    uint32_t seed = 1;
    for (int round = 0; round < 12; round++) {
        for (size_t i = 0; i < n; i++) {
            seed = seed * 1103515245u + 12345u;
            if (round < 10)
                s[i] = seeds[round][i % strlen(seeds[round])];
            else
                s[i] = (char)(seed >> 16);
        }
        struct buf out = BUF_INIT;
        long long t0 = now_ms();
        term_sanitize(s, n, true, &out);
        assert_true(now_ms() - t0 < 2000);
        for (size_t i = 0; i < out.len; i++) {
            uint8_t c = out.data[i];
            assert_true(c == '\n' || (c >= 0x20 && c != 0x7f));
        }
        struct buf again = BUF_INIT;
        term_sanitize((char *)out.data, out.len, true, &again);
        assert_int_equal(again.len, out.len); /* clean text is a fixed point */
        if (out.len)
            assert_memory_equal(again.data, out.data, out.len);
        buf_release(&again);
        buf_release(&out);
    }
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_display_parse),
        cmocka_unit_test(test_da1),
        cmocka_unit_test(test_da1_long_input_is_linear),
        cmocka_unit_test(test_detect_sixel),
        cmocka_unit_test(test_detect_no_sixel),
        cmocka_unit_test(test_detect_split_reply),
        cmocka_unit_test(test_detect_typeahead),
        cmocka_unit_test(test_detect_silent_terminal),
        cmocka_unit_test(test_detect_on_not_a_tty),
        cmocka_unit_test(test_detect_pipe_is_none),
        cmocka_unit_test(test_detect_env_overrides),
        cmocka_unit_test(test_detect_controlling_tty),
        cmocka_unit_test(test_geometry),
        cmocka_unit_test(test_blocks_truecolor),
        cmocka_unit_test(test_blocks_256),
        cmocka_unit_test(test_blocks_256_palette),
        cmocka_unit_test(test_blocks_odd_height),
        cmocka_unit_test(test_blocks_scaled),
        cmocka_unit_test(test_blocks_bad_input),
        cmocka_unit_test(test_truecolor_env),
        cmocka_unit_test(test_sixel),
        cmocka_unit_test(test_sixel_leaves_input_alone),
        cmocka_unit_test(test_sixel_appends),
        cmocka_unit_test(test_sixel_bad_box),
        cmocka_unit_test(test_sanitize_plain),
        cmocka_unit_test(test_sanitize_controls),
        cmocka_unit_test(test_sanitize_csi),
        cmocka_unit_test(test_sanitize_osc),
        cmocka_unit_test(test_sanitize_strings),
        cmocka_unit_test(test_sanitize_two_byte_escapes),
        cmocka_unit_test(test_sanitize_c1),
        cmocka_unit_test(test_sanitize_invalid_utf8),
        cmocka_unit_test(test_sanitize_appends),
        cmocka_unit_test(test_sanitize_dup),
        cmocka_unit_test(test_sanitize_hostile),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
