/*
 * The dashboard's views: a fixed model drawn into a canvas, compared with
 * the expected text; and the model's handling of what sources report.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tui/tui_model.h"
#include "tui/tui_view.h"

/* The seed's autoscalers as the dashboard's rows. */
static void seed_rows(struct tui_model *m)
{
    m->nscalers = 3;
    m->scalers[0] = (struct kube_scaler_row){.kind = "HPA",
                                             .ns = "meme-generator",
                                             .name = "meme-generator-frontend-hpa",
                                             .target = "deploy/meme-generator-frontend",
                                             .has_replicas = true,
                                             .current = 2,
                                             .desired = 3,
                                             .min = 1,
                                             .max = 5,
                                             .has_pods = true,
                                             .ready = 2,
                                             .pods = 3,
                                             .why = "cpu 45%/30%, mem 38%/50%"};
    m->scalers[1] = (struct kube_scaler_row){.kind = "KEDA",
                                             .ns = "meme-generator",
                                             .name = "meme-generator-backend-scaler",
                                             .target = "deploy/meme-generator",
                                             .has_replicas = true,
                                             .current = 4,
                                             .desired = 5,
                                             .min = 0,
                                             .max = 10,
                                             .has_pods = true,
                                             .ready = 4,
                                             .pods = 5,
                                             .why = "lag 12/5 (queue)"};
    m->scalers[2] = (struct kube_scaler_row){.kind = "VPA",
                                             .ns = "cache",
                                             .name = "redis-vpa",
                                             .target = "sts/redis",
                                             .has_pods = true,
                                             .ready = 1,
                                             .pods = 1,
                                             .why = "cpu 163m, mem 260Mi"};
}

static void fixed_model(struct tui_model *m)
{
    tui_model_init(m);
    snprintf(m->server, sizeof(m->server), "nats://127.0.0.1:4222");
    m->nats_up = true;
    m->cluster = true;
    snprintf(m->cluster_note, sizeof(m->cluster_note), "kind-memes");
    seed_rows(m);
    m->queue_known = true;
    m->lag = 12;
    m->ack_pending = 4;
    m->waiting = 0;
    m->lag_threshold = 5;
    m->rate_in = 20.5;
    m->rate_out = 18;
    double lag[] = {0, 2, 4, 8, 12};
    double rep[] = {1, 1, 2, 4, 4};
    memcpy(m->lag_hist, lag, sizeof(lag));
    memcpy(m->replicas_hist, rep, sizeof(rep));
    m->hist_len = 5;
    double now = 100;
    const char *hb = "{\"id\":\"worker-a\",\"in_flight\":2,\"done\":40,\"failed\":1,"
                     "\"cache_hit_ratio\":0.25}";
    tui_model_heartbeat(m, hb, strlen(hb), now - 1);
    tui_model_sent(m, "id-1", "one does not simply | scale to zero", now - 2);
    tui_model_reply(m, "id-1", true, "", 23.4, "worker-a", false);
    const char *ev = "{\"id\":\"id-2\",\"status\":\"failed\",\"code\":\"prompt_too_long\","
                     "\"prompt\":\"\\u001b[2Jevil\",\"worker\":\"worker-a\"}";
    tui_model_event(m, ev, strlen(ev), now);
}

/* Compares a frame with tests/unit/frames/NAME.txt exactly (MEME_WRITE_FRAMES=1
 * rewrites the file, for whoever changes the view on purpose). */
static bool same_as_file(const char *name, const char *got)
{
    const char *root = getenv("MEME_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/unit/frames/%s.txt", root ? root : ".", name);
    char *want = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        struct buf b = BUF_INIT;
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
        buf_putc(&b, 0);
        want = (char *)buf_detach(&b, NULL);
    }
    bool same = want && strcmp(want, got) == 0;
    if (!same) {
        fprintf(stderr, "frame %s differs from %s; got:\n%s", name, path, got);
        if (getenv("MEME_WRITE_FRAMES") && (f = fopen(path, "wb")) != NULL) {
            fputs(got, f);
            fclose(f);
        }
    }
    free(want);
    return same;
}

/* The whole frame of fixed_model() at 80x24, 120x40 and 200x60: what a
 * person sees, exactly. The seed's names are never cut so that two rows
 * look alike, and every row of the Scalers table is aligned. */
static void test_frames(void **state)
{
    (void)state;
    static const int sizes[][2] = {{80, 24}, {120, 40}, {200, 60}};
    bool all = true;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct tui_model m;
        fixed_model(&m);
        struct tui_view_state v = {.now = 100, .focus = FOCUS_SCALERS};
        v.sel[FOCUS_SCALERS] = 1;
        v.preview_note = "no image";
        struct canvas c;
        canvas_init(&c, sizes[i][0], sizes[i][1]);
        tui_draw(&m, &v, &c);
        char *text = canvas_to_text(&c);
        char name[32];
        snprintf(name, sizeof(name), "dashboard-%dx%d", sizes[i][0], sizes[i][1]);
        all &= same_as_file(name, text);
        /* The escape sequence from the network never reaches the screen. */
        assert_null(strchr(text, '\033'));
        /* The selected row is KEDA's, drawn reversed. */
        bool reversed = false;
        for (int k = 0; k < c.w * c.h; k++)
            reversed |= (c.cells[k].attr & TUI_REVERSE) && strcmp(c.cells[k].ch, "K") == 0;
        assert_true(reversed);
        free(text);
        canvas_free(&c);
        tui_model_destroy(&m);
    }
    assert_true(all);
}

static void test_no_cluster_no_nats(void **state)
{
    (void)state;
    struct tui_model m;
    tui_model_init(&m);
    snprintf(m.server, sizeof(m.server), "nats://127.0.0.1:4222");
    snprintf(m.cluster_note, sizeof(m.cluster_note), "no cluster: no kubeconfig");
    tui_model_queue_lost(&m, "cannot reach NATS at nats://127.0.0.1:4222");
    struct tui_view_state v = {.now = 0};
    struct canvas c;
    canvas_init(&c, 80, 24);
    tui_draw(&m, &v, &c);
    char *text = canvas_to_text(&c);
    assert_non_null(strstr(text, "reconnecting"));
    assert_non_null(strstr(text, "no cluster: no kubeconfig"));
    assert_non_null(strstr(text, "cannot reach NATS"));
    assert_non_null(strstr(text, "no heartbeats yet"));
    assert_non_null(strstr(text, "press g to make one"));
    free(text);
    canvas_free(&c);
    tui_model_destroy(&m);
}

static void test_help_and_prompt(void **state)
{
    (void)state;
    struct tui_model m;
    fixed_model(&m);
    struct tui_view_state v = {.now = 100, .help = true};
    struct canvas c;
    canvas_init(&c, 100, 30);
    tui_draw(&m, &v, &c);
    char *text = canvas_to_text(&c);
    assert_non_null(strstr(text, "burst: send a batch"));
    assert_non_null(strstr(text, "q        quit"));
    free(text);
    v.help = false;
    v.prompt_open = true;
    snprintf(v.prompt, sizeof(v.prompt), "caf\xc3\xa9 | \xe7\x8c\xab");
    tui_draw(&m, &v, &c);
    text = canvas_to_text(&c);
    assert_non_null(strstr(text, "meme> caf\xc3\xa9 | \xe7\x8c\xab_"));
    free(text);
    canvas_free(&c);
    tui_model_destroy(&m);
}

static void test_canvas_text_widths(void **state)
{
    (void)state;
    struct canvas c;
    canvas_init(&c, 10, 1);
    /* A wide character that does not fit is not split. */
    assert_int_equal(canvas_text(&c, 0, 0, 5, "ab\xe7\x8c\xab\xe7\x8c\xab", 0, 0), 4);
    char *t = canvas_to_text(&c);
    assert_string_equal(t, "ab\xe7\x8c\xab\n");
    free(t);
    /* Controls and invalid bytes are shown as '?', never written raw. */
    canvas_clear(&c);
    canvas_text(&c, 0, 0, 10,
                "a\x1b"
                "b\xff"
                "c",
                0, 0);
    t = canvas_to_text(&c);
    assert_string_equal(t, "a?b?c\n");
    free(t);
    canvas_free(&c);
}

static void test_model_workers_and_rates(void **state)
{
    (void)state;
    struct tui_model m;
    tui_model_init(&m);
    assert_false(tui_model_heartbeat(&m, "not json", 8, 0));
    assert_true(tui_model_heartbeat(&m, "{\"id\":\"w1\",\"done\":1}", 20, 0));
    assert_true(tui_model_heartbeat(&m, "{\"id\":\"w2\",\"done\":1}", 20, 10));
    assert_true(tui_model_heartbeat(&m, "{\"id\":\"w1\",\"done\":5}", 20, 1));
    assert_int_equal(m.nworkers, 2);
    assert_int_equal(m.workers[0].done, 5);
    /* Gone quiet for 15 s: dropped. */
    tui_model_expire(&m, 16.5);
    assert_int_equal(m.nworkers, 1);
    assert_string_equal(m.workers[0].id, "w2");
    /* Rates from successive readings. */
    tui_model_queue(&m, 5, 5, 0, 1, 0, 100, 90, 1.0);
    tui_model_queue(&m, 3, 3, 0, 1, 0, 120, 112, 3.0);
    assert_true(m.rate_in > 9.99 && m.rate_in < 10.01);
    assert_true(m.rate_out > 10.99 && m.rate_out < 11.01);
    /* History keeps the last TUI_HISTORY samples. */
    for (int i = 0; i < TUI_HISTORY + 10; i++)
        tui_model_sample(&m, i);
    assert_int_equal(m.hist_len, TUI_HISTORY);
    /* Events: newest first, bounded. */
    for (int i = 0; i < TUI_MEMES + 5; i++) {
        char ev[96];
        int n = snprintf(ev, sizeof(ev), "{\"id\":\"e%d\",\"status\":\"done\",\"gen_ms\":2}", i);
        assert_true(tui_model_event(&m, ev, (size_t)n, i));
    }
    assert_int_equal(m.nmemes, TUI_MEMES);
    assert_string_equal(m.memes[0].id, "e68");
    tui_model_destroy(&m);
}

/* A meme of ours that waits says why, per meme, from the worker's progress;
 * its answer ends that, and a late progress message changes nothing. */
static void test_meme_progress(void **state)
{
    (void)state;
    struct tui_model m;
    tui_model_init(&m);
    snprintf(m.server, sizeof(m.server), "nats://127.0.0.1:4222");
    tui_model_sent(&m, "p-1", "slow | model", 1);
    tui_model_sent(&m, "p-2", "other | meme", 1);
    tui_model_progress(&m, "p-1", 2, "worker-b", "Hugging Face: HTTP 503: \033[2Jloading", 1, 5,
                       1500);
    tui_model_progress(&m, "p-2", 1, "worker-a", "engine local", 2, 5, 0);
    assert_string_equal(m.memes[1].waiting, "retry");
    assert_string_equal(m.memes[1].worker, "worker-b");
    assert_non_null(strstr(m.memes[1].note, "HTTP 503"));
    assert_non_null(strstr(m.memes[1].note, "attempt 1 of 5, next in 1.5 s"));
    assert_null(strchr(m.memes[1].note, '\033'));
    assert_string_equal(m.memes[0].waiting, "making");
    assert_string_equal(m.memes[0].note, "taken over: attempt 2 of 5");
    struct tui_view_state v = {.now = 2, .focus = FOCUS_MEMES};
    struct canvas c;
    canvas_init(&c, 120, 24);
    tui_draw(&m, &v, &c);
    char *text = canvas_to_text(&c);
    assert_non_null(strstr(text, "retry"));
    assert_non_null(strstr(text, "* Hugging Face: HTTP 503:"));
    assert_non_null(strstr(text, "making"));
    assert_non_null(strstr(text, "* taken over: attempt 2 of 5"));
    assert_null(strchr(text, '\033'));
    free(text);
    canvas_free(&c);
    tui_model_reply(&m, "p-1", true, "", 4000, "worker-b", false);
    tui_model_progress(&m, "p-1", 2, "worker-c", "late", 3, 5, 1000);
    assert_int_equal(m.memes[1].state, MEME_DONE);
    assert_string_equal(m.memes[1].worker, "worker-b");
    tui_model_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_no_cluster_no_nats),
        cmocka_unit_test(test_help_and_prompt),
        cmocka_unit_test(test_canvas_text_widths),
        cmocka_unit_test(test_model_workers_and_rates),
        cmocka_unit_test(test_meme_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
