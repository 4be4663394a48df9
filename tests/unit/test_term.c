/*
 * Terminal graphics and text safety: reply parsing, detection from each
 * terminal's environment (kitty, Ghostty, iTerm2, WezTerm, Konsole, tmux with
 * and without passthrough, COLORTERM, a pipe) and against a fake terminal on
 * a pseudo terminal (a thread or a child process plays the terminal on the
 * master side), a real tmux server for its passthrough setting, every
 * encoder's output decoded back into pixels and compared with the meme
 * (kitty chunks, the OSC 1337 file, sixel through libsixel's decoder, half
 * blocks), and the sanitizer against what a hostile server could send.
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
#include <openssl/evp.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "term_decode.h"

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
    static const char *const names[] = {"auto", "kitty", "iterm2", "sixel", "blocks", "none"};
    enum term_display d = TERM_DISPLAY_NONE;
    for (int i = 0; i < TERM_DISPLAY_COUNT; i++) {
        assert_int_equal(term_display_parse(names[i], &d), 0);
        assert_int_equal(d, i);
        assert_string_equal(term_display_name((enum term_display)i), names[i]);
        assert_non_null(strstr(term_display_choices(), names[i]));
    }
    d = TERM_DISPLAY_NONE;
    assert_int_equal(term_display_parse("Sixel", &d), -1);
    assert_int_equal(term_display_parse("", &d), -1);
    assert_int_equal(term_display_parse("sixels", &d), -1);
    assert_int_equal(term_display_parse("iterm", &d), -1);
    assert_int_equal(term_display_parse(NULL, &d), -1);
    assert_int_equal(d, TERM_DISPLAY_NONE);
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

/* ---- replies ------------------------------------------------------------ */

static struct term_reply parse(const char *s)
{
    struct term_reply r;
    memset(&r, 0, sizeof(r));
    term_reply_parse(s, strlen(s), &r);
    return r;
}

static void test_reply_parse(void **state)
{
    /* kitty answers every query, the graphics one with our id and OK. */
    struct term_reply r = parse("\033_Gi=31;OK\033\\\033P>|kitty(0.26.5)\033\\\033[6;20;10t"
                                "\033[4;480;800t\033[?62;c");
    assert_true(r.answered);
    assert_true(r.kitty);
    assert_false(r.da1_sixel);
    assert_string_equal(r.version, "kitty(0.26.5)");
    assert_int_equal(r.cell_w, 10);
    assert_int_equal(r.cell_h, 20);
    assert_int_equal(r.win_w, 800);
    assert_int_equal(r.win_h, 480);

    /* xterm -ti vt340: XTSMGRAPHICS and DA1 with 4, no kitty. */
    r = parse("\033P>|XTerm(379)\033\\\033[?1;0;1024S\033[?63;1;2;4;6;9;15;22c");
    assert_true(r.answered);
    assert_false(r.kitty);
    assert_true(r.da1_sixel);
    assert_int_equal(r.sixel_colors, 1024);
    assert_string_equal(r.version, "XTerm(379)");

    /* An error from the graphics query, another id, a failed XTSMGRAPHICS. */
    r = parse("\033_Gi=31;ENOTSUPPORTED:no\033\\\033_Gi=7;OK\033\\\033[?1;3;0S\033[?1;2c");
    assert_true(r.answered);
    assert_false(r.kitty);
    assert_int_equal(r.sixel_colors, 0);

    /* Not finished: no DA1 yet, so not answered. */
    r = parse("\033_Gi=31;OK\033\\\033[?62;4");
    assert_false(r.answered);
    assert_true(r.kitty);

    /* Typed-ahead keys, an Alt-P (ESC P) that never ends, then the replies. */
    r = parse("ls\r\033P\033[?62;4c");
    assert_true(r.answered);
    assert_true(r.da1_sixel);

    /* A hostile version string is sanitized and bounded. */
    r = parse("\033P>|evil\033]0;title\a\x9b"
              "2J"
              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
              "\033\\\033[?1c");
    assert_true(r.answered);
    for (const char *c = r.version; *c; c++)
        assert_true((unsigned char)*c >= 0x20);
    assert_true(strlen(r.version) < sizeof(r.version));

    /* Absurd cell sizes are ignored. */
    r = parse("\033[6;0;10t\033[6;99999;99999t\033[?1c");
    assert_int_equal(r.cell_w, 0);
}

/* ---- detection on a pseudo terminal ----------------------------------- */

struct fake_term {
    int master;
    const char *reply;  /* written once the query arrived; NULL stays silent */
    const char *reply2; /* written 30 ms later, or NULL */
    char query[256];
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

static bool ends_with_da1(const char *buf, size_t len)
{
    return len >= 3 && memcmp(buf + len - 3, "\033[c", 3) == 0;
}

/* Reads from fd until the queries (ending in DA1) arrived or 2 s passed. */
static size_t read_query(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    long long deadline = now_ms() + 2000;
    while (!ends_with_da1(buf, len) && len < cap) {
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
    t->query_len = read_query(t->master, t->query, sizeof(t->query));
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

/* Runs the queries against a fake terminal and checks what every exchange
 * must leave behind: the queries sent, the settings restored, no reply
 * echoed to the screen and none left in the input. The decision is the one
 * term_decide() makes from an empty environment and these replies. */
static enum term_display detect_with(const char *reply, const char *reply2, int timeout_ms,
                                     long long *elapsed_ms)
{
    int master, slave;
    struct termios before, after;
    pthread_t th;
    struct fake_term t = {.reply = reply, .reply2 = reply2};
    char junk[512];
    struct term_reply r;
    struct term_env env;
    struct term_caps caps;

    assert_int_equal(openpty(&master, &slave, NULL, NULL, NULL), 0);
    t.master = master;
    assert_int_equal(tcgetattr(slave, &before), 0);
    assert_true(before.c_lflag & ECHO);
    assert_true(before.c_lflag & ICANON);
    assert_int_equal(pthread_create(&th, NULL, fake_term_run, &t), 0);

    long long t0 = now_ms();
    bool answered = term_query_on(slave, slave, timeout_ms, true, &r) == 0;
    if (elapsed_ms)
        *elapsed_ms = now_ms() - t0;
    assert_int_equal(pthread_join(th, NULL), 0);

    const char *q = term_query_string(true);
    assert_int_equal(t.query_len, strlen(q));
    assert_memory_equal(t.query, q, strlen(q));
    assert_int_equal(tcgetattr(slave, &after), 0);
    assert_true(termios_same(&before, &after));
    struct pollfd p = {.fd = master, .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0); /* nothing echoed */
    assert_int_equal(pending_input(slave, junk, sizeof(junk)), 0);
    close(slave);
    close(master);

    memset(&env, 0, sizeof(env));
    memset(&caps, 0, sizeof(caps));
    term_decide(&env, answered ? &r : NULL, TERM_DISPLAY_AUTO, &caps);
    return caps.mode;
}

static void test_detect_queries(void **state)
{
    /* The query string: the kitty query first, DA1 last, nothing else. */
    const char *q = term_query_string(true);
    assert_memory_equal(q, "\033_Gi=31,", 8);
    assert_memory_equal(q + strlen(q) - 3, "\033[c", 3);
    assert_null(strstr(term_query_string(false), "\033_G"));
    assert_non_null(strstr(q, "\033[16t"));
    assert_non_null(strstr(q, "\033[14t"));
    assert_non_null(strstr(q, "\033[?1;1;0S"));
    assert_non_null(strstr(q, "\033[>0q"));
}

static void test_detect_kitty_answer(void **state)
{
    assert_int_equal(detect_with("\033_Gi=31;OK\033\\\033[?62;22c", NULL, 1000, NULL),
                     TERM_DISPLAY_KITTY);
}

static void test_detect_sixel(void **state)
{
    assert_int_equal(detect_with("\033[?63;1;2;4;6;9;15;22c", NULL, 1000, NULL),
                     TERM_DISPLAY_SIXEL);
    /* XTSMGRAPHICS alone says sixel too (DA1 without 4, as some report). */
    assert_int_equal(detect_with("\033[?1;0;256S\033[?62;22c", NULL, 1000, NULL),
                     TERM_DISPLAY_SIXEL);
}

static void test_detect_iterm2_by_version(void **state)
{
    /* Over ssh TERM_PROGRAM is gone; XTVERSION still names the terminal. */
    assert_int_equal(
        detect_with("\033P>|WezTerm 20240203\033\\\033[?65;4;6;18;22c", NULL, 1000, NULL),
        TERM_DISPLAY_ITERM2);
    assert_int_equal(detect_with("\033P>|iTerm2 3.5.0\033\\\033[?62;4c", NULL, 1000, NULL),
                     TERM_DISPLAY_ITERM2);
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
    assert_int_equal(detect_with("\033_Gi=31;O", "K\033\\\033[?62c", 1000, NULL),
                     TERM_DISPLAY_KITTY);
}

static void test_detect_typeahead(void **state)
{
    assert_int_equal(detect_with("ls -l\r\033[?62;4c", NULL, 1000, NULL), TERM_DISPLAY_SIXEL);
    char noise[1400];
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
    assert_int_equal(detect_with("\033_Gi=31;OK\033\\\033[?62;4", NULL, 100, &ms),
                     TERM_DISPLAY_BLOCKS);
    assert_true(ms < 1000);
}

static void test_detect_on_not_a_tty(void **state)
{
    int p[2];
    struct term_reply r;
    assert_int_equal(pipe(p), 0);
    long long t0 = now_ms();
    assert_int_equal(term_query_on(p[0], p[1], 1000, true, &r), -1);
    assert_false(r.answered);
    assert_true(now_ms() - t0 < 500);
    /* Nothing was written into the pipe. */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0);
    close(p[0]);
    close(p[1]);
}

/* ---- the environment -------------------------------------------------- */

static enum term_display env_says(struct term_env *e, bool *truecolor)
{
    bool tc = false;
    enum term_display d = term_env_display(e, &tc, NULL);
    if (truecolor)
        *truecolor = tc;
    return d;
}

/* What term_decide() makes of an environment when the terminal said
 * nothing useful (DA1 without sixel). */
static struct term_caps decide(const struct term_env *e, enum term_display want)
{
    struct term_reply r;
    struct term_caps caps;
    memset(&r, 0, sizeof(r));
    memset(&caps, 0, sizeof(caps));
    r.answered = true;
    term_decide(e, &r, want, &caps);
    return caps;
}

static void test_env_terminals(void **state)
{
    struct term_env e;
    bool tc;

    memset(&e, 0, sizeof(e));
    e.term = "xterm-256color";
    assert_int_equal(env_says(&e, &tc), TERM_DISPLAY_AUTO);
    assert_false(tc);

    /* kitty: by TERM, or KITTY_WINDOW_ID when TERM was changed. */
    e.term = "xterm-kitty";
    assert_int_equal(env_says(&e, &tc), TERM_DISPLAY_KITTY);
    assert_true(tc);
    e.term = "xterm-256color";
    e.kitty_window_id = "1";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_KITTY);
    assert_int_equal(decide(&e, TERM_DISPLAY_AUTO).mode, TERM_DISPLAY_KITTY);
    e.kitty_window_id = NULL;

    e.term_program = "iTerm.app";
    assert_int_equal(env_says(&e, &tc), TERM_DISPLAY_ITERM2);
    assert_true(tc);
    e.term_program = "WezTerm";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_ITERM2);
    e.term_program = "ghostty";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_KITTY);
    e.term_program = "vscode";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_AUTO);
    e.term_program = NULL;

    /* iTerm2 over ssh: LC_TERMINAL is passed on. */
    e.lc_terminal = "iTerm2";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_ITERM2);
    e.lc_terminal = NULL;

    /* Konsole draws kitty images from 22.04; older ones get asked. */
    e.konsole_version = "230804";
    assert_int_equal(env_says(&e, &tc), TERM_DISPLAY_KITTY);
    e.konsole_version = "211201";
    assert_int_equal(env_says(&e, &tc), TERM_DISPLAY_AUTO);
    assert_true(tc);
    e.konsole_version = "22.04";
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_AUTO);
    e.konsole_version = NULL;

    /* COLORTERM: 24-bit half blocks, not 256 colours. */
    e.colorterm = "truecolor";
    struct term_caps c = decide(&e, TERM_DISPLAY_AUTO);
    assert_int_equal(c.mode, TERM_DISPLAY_BLOCKS);
    assert_true(c.truecolor);
    e.colorterm = "24bit";
    assert_true(decide(&e, TERM_DISPLAY_AUTO).truecolor);
    e.colorterm = "yes";
    assert_false(decide(&e, TERM_DISPLAY_AUTO).truecolor);
    e.colorterm = NULL;
    assert_false(decide(&e, TERM_DISPLAY_AUTO).truecolor);

    /* The environment wins over the replies; the replies over nothing. */
    e.term = "xterm-kitty";
    struct term_reply r;
    memset(&r, 0, sizeof(r));
    r.answered = r.da1_sixel = true;
    memset(&c, 0, sizeof(c));
    term_decide(&e, &r, TERM_DISPLAY_AUTO, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_KITTY);
    assert_false(c.tmux);
    e.term = "xterm";
    term_decide(&e, &r, TERM_DISPLAY_AUTO, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_SIXEL);
    /* An explicit mode is kept whatever the terminal is. */
    term_decide(&e, &r, TERM_DISPLAY_ITERM2, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_ITERM2);
    /* The cell size comes from CSI 16 t, else CSI 14 t over the cells. */
    memset(&c, 0, sizeof(c));
    c.cols = 80;
    c.rows = 24;
    r.win_w = 800;
    r.win_h = 480;
    term_decide(&e, &r, TERM_DISPLAY_AUTO, &c);
    assert_int_equal(c.cell_w, 10);
    assert_int_equal(c.cell_h, 20);
    memset(&c, 0, sizeof(c));
    r.cell_w = 9;
    r.cell_h = 18;
    term_decide(&e, &r, TERM_DISPLAY_AUTO, &c);
    assert_int_equal(c.cell_w, 9);
    assert_int_equal(c.cell_h, 18);
}

static void test_env_tmux(void **state)
{
    struct term_env e;
    memset(&e, 0, sizeof(e));
    /* Inside tmux TERM and TERM_PROGRAM are tmux's; the client's TERM and
     * what the server inherited tell the outer terminal. */
    e.term = "tmux-256color";
    e.term_program = "tmux";
    e.tmux = "/tmp/tmux-1000/default,1234,0";
    snprintf(e.tmux_client_term, sizeof(e.tmux_client_term), "xterm-kitty");

    /* Passthrough off: no kitty, and the replies (tmux's own) decide. */
    e.tmux_passthrough = 0;
    assert_int_equal(env_says(&e, NULL), TERM_DISPLAY_AUTO);
    struct term_caps c = decide(&e, TERM_DISPLAY_AUTO);
    assert_int_equal(c.mode, TERM_DISPLAY_BLOCKS);
    assert_false(c.tmux);
    assert_non_null(strstr(c.why, "allow-passthrough"));
    /* Even when asked for: tmux would drop it, so half blocks. */
    c = decide(&e, TERM_DISPLAY_KITTY);
    assert_int_equal(c.mode, TERM_DISPLAY_BLOCKS);
    /* tmux built with sixel answers DA1 with 4 and draws sixel itself. */
    struct term_reply r;
    memset(&r, 0, sizeof(r));
    r.answered = r.da1_sixel = true;
    term_decide(&e, &r, TERM_DISPLAY_AUTO, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_SIXEL);
    assert_false(c.tmux);

    /* Passthrough on: kitty, wrapped. */
    e.tmux_passthrough = 1;
    c = decide(&e, TERM_DISPLAY_AUTO);
    assert_int_equal(c.mode, TERM_DISPLAY_KITTY);
    assert_true(c.tmux);
    assert_true(c.truecolor);
    /* TERM_PROGRAM=tmux names nobody; an iTerm2 outside shows in
     * LC_TERMINAL. */
    e.tmux_client_term[0] = '\0';
    assert_int_equal(decide(&e, TERM_DISPLAY_AUTO).mode, TERM_DISPLAY_BLOCKS);
    e.lc_terminal = "iTerm2";
    c = decide(&e, TERM_DISPLAY_AUTO);
    assert_int_equal(c.mode, TERM_DISPLAY_ITERM2);
    assert_true(c.tmux);
    /* Sixel is never wrapped: tmux draws it or drops it. */
    c = decide(&e, TERM_DISPLAY_SIXEL);
    assert_int_equal(c.mode, TERM_DISPLAY_SIXEL);
    assert_false(c.tmux);
}

static bool have_program(const char *name)
{
    char *cmd = xasprintf("command -v %s >/dev/null 2>&1", name);
    int rc = system(cmd);
    free(cmd);
    return rc == 0;
}

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    char cmd[1024];
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    return system(cmd);
}

/* term_tmux_probe() against a real tmux server on a socket of its own, as a
 * program in its pane sees it (TMUX and TMUX_PANE). */
static void test_tmux_probe(void **state)
{
    if (!have_program("tmux"))
        skip();
    char sock[64];
    snprintf(sock, sizeof(sock), "memectl-term-%d", (int)getpid());
    assert_int_equal(sh("tmux -L %s -f /dev/null new-session -d -x 80 -y 24 'sleep 30'", sock), 0);
    char path[256] = "";
    char *cmd =
        xasprintf("tmux -L %s display-message -p '#{socket_path},#{pid},0 #{pane_id}'", sock);
    FILE *f = popen(cmd, "r");
    free(cmd);
    assert_non_null(f);
    assert_non_null(fgets(path, sizeof(path), f));
    pclose(f);
    path[strcspn(path, "\n")] = '\0';
    char *space = strchr(path, ' ');
    assert_non_null(space);
    *space = '\0';
    setenv("TMUX", path, 1);
    setenv("TMUX_PANE", space + 1, 1);

    struct term_env e;
    memset(&e, 0, sizeof(e));
    e.tmux = path;
    assert_int_equal(sh("tmux -L %s set -g allow-passthrough off", sock), 0);
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 0);
    assert_int_equal(sh("tmux -L %s set -g allow-passthrough on", sock), 0);
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 1);
    /* A pane's own setting beats the global one. */
    assert_int_equal(sh("tmux -L %s set -p -t %s allow-passthrough off", sock, space + 1), 0);
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 0);
    assert_int_equal(sh("tmux -L %s set -g allow-passthrough off", sock), 0);
    assert_int_equal(sh("tmux -L %s set -p -t %s allow-passthrough on", sock, space + 1), 0);
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 1);

    sh("tmux -L %s kill-server", sock);
    /* No server any more: passthrough is not assumed. */
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 0);
    /* Not in tmux: nothing is run, nothing assumed. */
    e.tmux = NULL;
    e.tmux_passthrough = 1;
    term_tmux_probe(&e, 2000);
    assert_int_equal(e.tmux_passthrough, 0);
    unsetenv("TMUX");
    unsetenv("TMUX_PANE");
}

/* ---- term_detect on descriptors --------------------------------------- */

static const char *const env_names[] = {
    "TERM",        "TERM_PROGRAM", "COLORTERM",      "KITTY_WINDOW_ID", "KONSOLE_VERSION",
    "LC_TERMINAL", "TMUX",         "MEMECTL_DISPLAY"};
#define NENV (sizeof(env_names) / sizeof(env_names[0]))

static void env_save(char **saved)
{
    for (size_t i = 0; i < NENV; i++) {
        const char *v = getenv(env_names[i]);
        saved[i] = v ? xstrdup(v) : NULL;
        unsetenv(env_names[i]);
    }
}

static void env_restore(char **saved)
{
    for (size_t i = 0; i < NENV; i++) {
        if (saved[i])
            setenv(env_names[i], saved[i], 1);
        else
            unsetenv(env_names[i]);
        free(saved[i]);
    }
}

static void test_detect_pipe_is_none(void **state)
{
    int p[2];
    char *saved[NENV];
    struct term_caps c;
    assert_int_equal(pipe(p), 0);
    env_save(saved);
    /* Whatever the environment says, a pipe gets no graphics. */
    setenv("TERM", "xterm-kitty", 1);
    setenv("KITTY_WINDOW_ID", "3", 1);
    setenv("TERM_PROGRAM", "iTerm.app", 1);
    term_detect(p[1], TERM_DISPLAY_AUTO, 100, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_NONE);
    for (int d = TERM_DISPLAY_KITTY; d <= TERM_DISPLAY_SIXEL; d++) {
        term_detect(p[1], (enum term_display)d, 100, &c);
        assert_int_equal(c.mode, TERM_DISPLAY_NONE);
    }
    /* Half blocks are coloured text: kept when asked for (less -R). */
    term_detect(p[1], TERM_DISPLAY_BLOCKS, 100, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_BLOCKS);
    assert_true(c.truecolor);
    term_detect(p[1], TERM_DISPLAY_NONE, 100, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_NONE);
    /* A regular file is no terminal either. */
    FILE *f = tmpfile();
    term_detect(fileno(f), TERM_DISPLAY_KITTY, 100, &c);
    assert_int_equal(c.mode, TERM_DISPLAY_NONE);
    fclose(f);
    /* Nothing was written into the pipe. */
    struct pollfd pf = {.fd = p[0], .events = POLLIN};
    assert_int_equal(poll(&pf, 1, 0), 0);
    env_restore(saved);
    close(p[0]);
    close(p[1]);
}

/* The whole path through /dev/tty: a child makes the pseudo terminal its
 * controlling terminal, sets env (NAME=VALUE pairs, space-separated) and
 * calls term_detect() (from a background process group when asked); the
 * parent answers the queries with reply, or stays silent. Returns the mode,
 * or 100+ for a failure in the child; *asked tells whether queries came. */
static int detect_in_child(const char *reply, const char *env, bool background, bool *asked)
{
    int master, slave, status = 0;
    char query[256];
    struct winsize ws = {.ws_row = 24, .ws_col = 80};

    assert_int_equal(openpty(&master, &slave, NULL, NULL, &ws), 0);
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
        for (size_t i = 0; i < NENV; i++)
            unsetenv(env_names[i]);
        char *copy = xstrdup(env);
        for (char *tok = strtok(copy, " "); tok; tok = strtok(NULL, " ")) {
            char *eq = strchr(tok, '=');
            *eq = '\0';
            setenv(tok, eq + 1, 1);
        }
        free(copy);
        struct termios before, after;
        struct term_caps c;
        tcgetattr(slave, &before);
        term_detect(slave, TERM_DISPLAY_AUTO, 2000, &c);
        tcgetattr(slave, &after);
        _exit(termios_same(&before, &after) ? (int)c.mode : 101);
    }
    close(slave);
    size_t n = read_query(master, query, sizeof(query));
    *asked = n > 0;
    if (n > 0) {
        assert_true(ends_with_da1(query, n));
        write_str(master, reply ? reply : "\033[?62;22c");
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
    bool asked;
    int r = detect_in_child("\033[?62;4c", "TERM=xterm-256color", false, &asked);
    if (r == 100)
        skip(); /* no permission to take a controlling terminal here */
    assert_int_equal(r, TERM_DISPLAY_SIXEL);
    assert_true(asked);
    assert_int_equal(
        detect_in_child("\033_Gi=31;OK\033\\\033[?62;22c", "TERM=xterm-256color", false, &asked),
        TERM_DISPLAY_KITTY);
    assert_int_equal(detect_in_child("\033[?62;22c", "TERM=screen", false, &asked),
                     TERM_DISPLAY_BLOCKS);
    assert_int_equal(detect_in_child(NULL, "TERM=dumb", false, &asked), TERM_DISPLAY_NONE);
    assert_false(asked);
    /* The environment decides; the terminal is asked only for its cell size
     * (this pseudo terminal has no pixel size), and its DA1 does not matter. */
    assert_int_equal(detect_in_child("\033[?62;4c", "TERM=xterm-kitty", false, &asked),
                     TERM_DISPLAY_KITTY);
    assert_true(asked);
    assert_int_equal(
        detect_in_child("\033[?62;4c", "TERM=xterm-256color KITTY_WINDOW_ID=7", false, &asked),
        TERM_DISPLAY_KITTY);
    assert_int_equal(
        detect_in_child(NULL, "TERM=xterm-256color TERM_PROGRAM=iTerm.app", false, &asked),
        TERM_DISPLAY_ITERM2);
    assert_int_equal(
        detect_in_child(NULL, "TERM=xterm-256color TERM_PROGRAM=WezTerm", false, &asked),
        TERM_DISPLAY_ITERM2);
    assert_int_equal(
        detect_in_child(NULL, "TERM=xterm-ghostty TERM_PROGRAM=ghostty", false, &asked),
        TERM_DISPLAY_KITTY);
    assert_int_equal(
        detect_in_child(NULL, "TERM=xterm-256color KONSOLE_VERSION=230804", false, &asked),
        TERM_DISPLAY_KITTY);
    assert_int_equal(
        detect_in_child(NULL, "TERM=xterm-256color COLORTERM=truecolor", false, &asked),
        TERM_DISPLAY_BLOCKS);
    /* MEMECTL_DISPLAY is memectl's setting (read by the command), not the
     * library's: it does not change detection. */
    assert_int_equal(
        detect_in_child("\033[?62;4c", "TERM=xterm MEMECTL_DISPLAY=none", false, &asked),
        TERM_DISPLAY_SIXEL);
    /* A background job must not query (SIGTTOU would stop it): no query,
     * half blocks. */
    assert_int_equal(detect_in_child(NULL, "TERM=xterm-256color", true, &asked),
                     TERM_DISPLAY_BLOCKS);
    assert_false(asked);
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

/* ---- decoding what each mode writes ------------------------------------ */

/* A meme-like picture: gradients, a white caption bar with a black band,
 * noise; saved as PNG so the tests can pass the file along as memectl does. */
static struct meme_image *picture(int w, int h)
{
    struct meme_image *img = gradient(w, h);
    uint32_t seed = 12345;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint8_t *p = img->rgb + ((size_t)y * w + x) * 3;
            if (y < h / 6)
                p[0] = p[1] = p[2] = (x / 4 + y / 4) % 2 ? 255 : 0;
            else if (y > h * 3 / 4 && x < w / 3) {
                seed = seed * 1103515245 + 12345;
                p[0] = (uint8_t)(seed >> 16);
                p[1] = (uint8_t)(seed >> 8);
                p[2] = (uint8_t)(seed >> 24);
            }
        }
    return img;
}

static uint8_t *png_of(const struct meme_image *img, size_t *len)
{
    uint8_t *png = NULL;
    assert_int_equal(image_encode_png(img, &png, len, NULL), 0);
    return png;
}

static void assert_same_pixels(const struct meme_image *a, const struct meme_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    assert_memory_equal(a->rgb, b->rgb, (size_t)a->width * a->height * 3);
}

/* Mean absolute difference per channel between two images of one size. */
static double mean_abs_diff(const struct meme_image *a, const struct meme_image *b)
{
    assert_int_equal(a->width, b->width);
    assert_int_equal(a->height, b->height);
    size_t n = (size_t)a->width * a->height * 3;
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += abs((int)a->rgb[i] - (int)b->rgb[i]);
    return sum / (double)n;
}

static void test_kitty_pixels(void **state)
{
    struct meme_image *img = picture(512, 512);
    struct buf out = BUF_INIT;
    /* 80x40 cells of 10x20: the 512x512 meme fits as it is. */
    struct term_place pl = {.cols = 80, .rows = 40, .cell_w = 10, .cell_h = 20};
    assert_int_equal(term_encode_kitty(img, &pl, &out, NULL), 0);
    size_t pos = 0;
    struct kitty_cmd cmd;
    kitty_read(&out, &pos, &cmd);
    assert_int_equal(pos, out.len); /* one command, nothing else */
    assert_true(cmd.chunks > 1);
    char v[32];
    assert_string_equal(key(cmd.keys, "a", v, sizeof(v)), "T");
    assert_int_equal(key_int(cmd.keys, "q"), 2);
    assert_int_equal(key_int(cmd.keys, "C"), 1);
    /* Raw RGB at the meme's own size, deflated. */
    assert_int_equal(key_int(cmd.keys, "f"), 24);
    assert_int_equal(key_int(cmd.keys, "s"), 512);
    assert_int_equal(key_int(cmd.keys, "v"), 512);
    assert_string_equal(key(cmd.keys, "o", v, sizeof(v)), "z");
    assert_true(cmd.payload.len < 512 * 512 * 3 * 4 / 3);
    /* The square over the whole box (the terminal scales): 800x800 px is
     * 80 x 40 cells of 10x20. */
    assert_int_equal(key_int(cmd.keys, "c"), 80);
    assert_int_equal(key_int(cmd.keys, "r"), 40);
    assert_int_equal(pl.used_cols, 80);
    assert_int_equal(pl.used_rows, 40);
    /* Every pixel as it was. */
    struct meme_image *shown = kitty_image(&cmd);
    assert_same_pixels(shown, img);
    image_free(shown);
    buf_release(&cmd.payload);
    buf_release(&out);

    /* Noise does not deflate: sent as it is, still exact. */
    struct meme_image *noise = image_new(30, 30);
    uint32_t seed = 7;
    for (size_t i = 0; i < 30 * 30 * 3; i++) {
        seed = seed * 1103515245 + 12345;
        noise->rgb[i] = (uint8_t)(seed >> 16);
    }
    assert_int_equal(term_encode_kitty(noise, &pl, &out, NULL), 0);
    pos = 0;
    kitty_read(&out, &pos, &cmd);
    assert_null(key(cmd.keys, "o", v, sizeof(v)));
    assert_int_equal(cmd.chunks, 1);
    assert_null(key(cmd.keys, "m", v, sizeof(v))); /* one chunk: no m at all */
    shown = kitty_image(&cmd);
    assert_same_pixels(shown, noise);
    image_free(shown);
    image_free(noise);
    buf_release(&cmd.payload);
    buf_release(&out);
    image_free(img);
}

static void test_kitty_rgb_scaled(void **state)
{
    /* Into a small box: the image scaled to the cells' pixels, exactly what
     * image_scale() makes. */
    struct meme_image *img = picture(512, 512);
    struct buf out = BUF_INIT;
    struct term_place pl = {.cols = 30, .rows = 10, .cell_w = 8, .cell_h = 16, .id = 7};
    assert_int_equal(term_encode_kitty(img, &pl, &out, NULL), 0);
    size_t pos = 0;
    struct kitty_cmd cmd;
    kitty_read(&out, &pos, &cmd);
    assert_int_equal(pos, out.len);
    assert_int_equal(key_int(cmd.keys, "i"), 7);
    assert_int_equal(key_int(cmd.keys, "r"), 10);
    assert_int_equal(key_int(cmd.keys, "c"), 20); /* 160 px tall and wide */
    struct meme_image *shown = kitty_image(&cmd);
    struct meme_image *want = image_scale(img, 160, 160);
    assert_same_pixels(shown, want);
    image_free(want);
    image_free(shown);
    buf_release(&cmd.payload);
    buf_release(&out);
    image_free(img);
}

static void test_kitty_tmux_and_store(void **state)
{
    struct meme_image *img = picture(100, 60);
    struct buf out = BUF_INIT;
    struct term_place pl = {.cols = 40,
                            .rows = 20,
                            .cell_w = 10,
                            .cell_h = 20,
                            .tmux = true,
                            .id = 3,
                            .store_only = true};
    assert_int_equal(term_encode_kitty(img, &pl, &out, NULL), 0);
    /* Every chunk is a passthrough of its own; unwrapped it is the same
     * command, and the same picture. */
    assert_memory_equal(out.data, "\033Ptmux;\033\033_G", 11);
    struct buf plain = tmux_unwrap(&out);
    size_t pos = 0;
    struct kitty_cmd cmd;
    kitty_read(&plain, &pos, &cmd);
    assert_int_equal(pos, plain.len);
    char v[32];
    assert_string_equal(key(cmd.keys, "a", v, sizeof(v)), "t"); /* store, do not place */
    assert_null(key(cmd.keys, "c", v, sizeof(v)));
    struct meme_image *shown = kitty_image(&cmd);
    assert_same_pixels(shown, img);
    image_free(shown);
    buf_release(&cmd.payload);
    buf_release(&plain);
    buf_release(&out);

    /* Placing and deleting by id. */
    term_kitty_place(3, 12, 5, false, &out);
    term_kitty_delete(3, false, false, &out);
    term_kitty_delete(3, true, true, &out);
    buf_putc(&out, '\0');
    assert_string_equal((char *)out.data, "\033_Ga=p,i=3,C=1,c=12,r=5,q=2\033\\"
                                          "\033_Ga=d,d=i,i=3,q=2\033\\"
                                          "\033Ptmux;\033\033_Ga=d,d=I,i=3,q=2\033\033\\\033\\");
    buf_release(&out);
    image_free(img);
}

static void test_iterm2(void **state)
{
    struct meme_image *img = picture(512, 512);
    struct buf out = BUF_INIT;
    char attrs[256];
    size_t got;

    /* Fits: a PNG of the meme at its own size, sized in cells. */
    struct term_place pl = {.cols = 100, .rows = 50, .cell_w = 10, .cell_h = 20};
    assert_int_equal(term_encode_iterm2(img, &pl, &out, NULL), 0);
    uint8_t *file = iterm2_read(&out, attrs, sizeof(attrs), &got);
    assert_int_equal(attr_int(attrs, "inline"), 1);
    assert_int_equal(attr_int(attrs, "size"), (int)got);
    assert_int_equal(attr_int(attrs, "width"), 100);
    assert_int_equal(attr_int(attrs, "height"), 50);
    assert_int_equal(image_sniff(file, got), IMAGE_PNG);
    struct meme_image *shown = image_decode(file, got, NULL);
    assert_same_pixels(shown, img);
    image_free(shown);
    free(file);
    buf_release(&out);

    /* Too large for the box: a PNG of the image scaled to it. */
    struct term_place small = {.cols = 20, .rows = 10, .cell_w = 10, .cell_h = 20};
    assert_int_equal(term_encode_iterm2(img, &small, &out, NULL), 0);
    file = iterm2_read(&out, attrs, sizeof(attrs), &got);
    assert_int_equal(attr_int(attrs, "width"), 20);
    assert_int_equal(attr_int(attrs, "height"), 10);
    shown = image_decode(file, got, NULL);
    struct meme_image *want = image_scale(img, 200, 200);
    assert_same_pixels(shown, want);
    image_free(want);
    image_free(shown);
    free(file);
    buf_release(&out);

    /* tmux: one passthrough around it, the same picture inside. */
    pl.tmux = true;
    assert_int_equal(term_encode_iterm2(img, &pl, &out, NULL), 0);
    assert_memory_equal(out.data, "\033Ptmux;\033\033]1337;", 15);
    struct buf plain = tmux_unwrap(&out);
    file = iterm2_read(&plain, attrs, sizeof(attrs), &got);
    shown = image_decode(file, got, NULL);
    assert_same_pixels(shown, img);
    image_free(shown);
    free(file);
    buf_release(&plain);
    buf_release(&out);
    image_free(img);
}

static void test_iterm2_tmux_limit(void **state)
{
    /* Noise does not compress: a 1024x1024 PNG of it is ~3 MB, over tmux's
     * 1 MiB; inside tmux it is scaled down until it fits. */
    struct meme_image *img = image_new(1024, 1024);
    uint32_t seed = 1;
    for (size_t i = 0; i < 1024 * 1024 * 3; i++) {
        seed = seed * 1103515245 + 12345;
        img->rgb[i] = (uint8_t)(seed >> 16);
    }
    size_t len;
    uint8_t *png = png_of(img, &len);
    assert_true(len > 1024 * 1024);
    struct buf out = BUF_INIT;
    struct term_place pl = {.cols = 200, .rows = 100, .cell_w = 10, .cell_h = 20, .tmux = true};
    assert_int_equal(term_encode_iterm2(img, &pl, &out, NULL), 0);
    assert_true(out.len < 1024 * 1024);
    struct buf plain = tmux_unwrap(&out);
    char attrs[256];
    size_t got;
    uint8_t *file = iterm2_read(&plain, attrs, sizeof(attrs), &got);
    struct meme_image *shown = image_decode(file, got, NULL);
    assert_non_null(shown);
    assert_true(shown->width < 1024 && shown->width == shown->height);
    /* Still drawn over the same cells. */
    assert_int_equal(attr_int(attrs, "width"), 200);
    assert_int_equal(attr_int(attrs, "height"), 100);
    image_free(shown);
    free(file);
    buf_release(&plain);
    buf_release(&out);
    free(png);
    image_free(img);
}

static void test_sixel_decodes_to_the_meme(void **state)
{
    struct meme_image *img = picture(300, 300);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_sixel(img, 300, 300, &out, NULL), 0);
    struct meme_image *shown = sixel_image(&out);
    /* 256 adaptive colours with diffusion: close, not equal. Rows come in
     * sixes, so compare the image's own rows. */
    assert_int_equal(shown->width, 300);
    assert_true(shown->height >= 300);
    shown->height = 300;
    double d = mean_abs_diff(shown, img);
    assert_true(d < 12.0);
    assert_true(d > 0.0);
    image_free(shown);
    buf_release(&out);
    /* Scaled: against the same scaling of the meme. */
    assert_int_equal(term_encode_sixel(img, 120, 120, &out, NULL), 0);
    shown = sixel_image(&out);
    shown->height = 120;
    struct meme_image *want = image_scale(img, 120, 120);
    assert_true(mean_abs_diff(shown, want) < 12.0);
    image_free(want);
    image_free(shown);
    buf_release(&out);
    image_free(img);
}

static void test_blocks_decode_to_the_meme(void **state)
{
    struct meme_image *img = picture(512, 512);
    struct buf out = BUF_INIT;
    assert_int_equal(term_encode_blocks(img, 64, 32, true, &out), 0);
    struct meme_image *shown = blocks_image(&out, true);
    struct meme_image *want = image_scale(img, 64, 64);
    /* 24-bit: every pixel exact. */
    assert_same_pixels(shown, want);
    image_free(shown);
    buf_release(&out);
    /* 256 colours: the nearest of the cube and grey ramp, steps of up to 40. */
    assert_int_equal(term_encode_blocks(img, 64, 32, false, &out), 0);
    shown = blocks_image(&out, false);
    double d = mean_abs_diff(shown, want);
    assert_true(d > 0.0);
    assert_true(d < 20.0);
    image_free(shown);
    image_free(want);
    buf_release(&out);
    image_free(img);
}

static void test_draw_inline(void **state)
{
    struct meme_image *img = picture(512, 512);
    struct buf pre = BUF_INIT, out = BUF_INIT;
    struct term_caps caps = {
        .mode = TERM_DISPLAY_KITTY, .cols = 120, .rows = 40, .cell_w = 10, .cell_h = 20};

    /* Room first: 26 newlines, back up 26 rows, the image, down again. */
    assert_int_equal(term_draw(&caps, img, 119, 37, &pre, &out, NULL), 0);
    assert_int_equal(pre.len, 0);
    for (int i = 0; i < 26; i++)
        assert_int_equal(out.data[i], '\n');
    assert_memory_equal(out.data + 26, "\033[26A\033_G", 8);
    buf_putc(&out, '\0');
    assert_non_null(strstr((char *)out.data, "\033\\\033[26B\r"));
    buf_release(&out);

    /* Never larger than the meme: 512 px at 10x20 is 52x26 cells at most
     * (rounded up), however large the window. */
    assert_int_equal(term_draw(&caps, img, 500, 200, &pre, &out, NULL), 0);
    buf_putc(&out, '\0');
    assert_non_null(strstr((char *)out.data, "c=52,r=26"));
    buf_release(&out);

    /* tmux: the room goes in pre (written, then tmux catches up), the
     * wrapped image in out; iTerm2 with the cursor saved around it. */
    caps.mode = TERM_DISPLAY_ITERM2;
    caps.tmux = true;
    assert_int_equal(term_draw(&caps, img, 119, 37, &pre, &out, NULL), 0);
    assert_int_equal(pre.len, 26 + strlen("\033[26A"));
    assert_memory_equal(out.data, "\033Ptmux;\033\0337\033\\\033Ptmux;\033\033]1337;", 25);
    buf_release(&pre);
    buf_release(&out);

    /* Half blocks fill the cells given (a cell per pixel across, two down). */
    caps.mode = TERM_DISPLAY_BLOCKS;
    caps.truecolor = true;
    assert_int_equal(term_draw(&caps, img, 79, 21, &pre, &out, NULL), 0);
    struct meme_image *shown = blocks_image(&out, true);
    assert_int_equal(shown->width, 42);
    assert_int_equal(shown->height, 42);
    image_free(shown);
    buf_release(&out);

    /* Nothing for none; sixel ends on a new line. */
    caps.mode = TERM_DISPLAY_NONE;
    assert_int_equal(term_draw(&caps, img, 79, 21, &pre, &out, NULL), 0);
    assert_int_equal(out.len, 0);
    caps.mode = TERM_DISPLAY_SIXEL;
    assert_int_equal(term_draw(&caps, img, 20, 10, &pre, &out, NULL), 0);
    assert_memory_equal(out.data + out.len - 3, "\033\\\n", 3);
    shown = sixel_image(&out);
    assert_int_equal(shown->width, 200);
    image_free(shown);
    buf_release(&out);
    assert_int_equal(term_draw(&caps, NULL, 20, 10, &pre, &out, NULL), MEME_E_IMAGE);
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
        cmocka_unit_test(test_reply_parse),
        cmocka_unit_test(test_detect_queries),
        cmocka_unit_test(test_detect_kitty_answer),
        cmocka_unit_test(test_detect_sixel),
        cmocka_unit_test(test_detect_iterm2_by_version),
        cmocka_unit_test(test_detect_no_sixel),
        cmocka_unit_test(test_detect_split_reply),
        cmocka_unit_test(test_detect_typeahead),
        cmocka_unit_test(test_detect_silent_terminal),
        cmocka_unit_test(test_detect_on_not_a_tty),
        cmocka_unit_test(test_env_terminals),
        cmocka_unit_test(test_env_tmux),
        cmocka_unit_test(test_tmux_probe),
        cmocka_unit_test(test_detect_pipe_is_none),
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
        cmocka_unit_test(test_kitty_pixels),
        cmocka_unit_test(test_kitty_rgb_scaled),
        cmocka_unit_test(test_kitty_tmux_and_store),
        cmocka_unit_test(test_iterm2),
        cmocka_unit_test(test_iterm2_tmux_limit),
        cmocka_unit_test(test_sixel_decodes_to_the_meme),
        cmocka_unit_test(test_blocks_decode_to_the_meme),
        cmocka_unit_test(test_draw_inline),
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
