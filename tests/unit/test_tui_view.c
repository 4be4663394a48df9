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

#include "tui/tui_model.h"
#include "tui/tui_view.h"

static void fixed_model(struct tui_model *m)
{
    tui_model_init(m);
    snprintf(m->server, sizeof(m->server), "nats://127.0.0.1:4222");
    m->nats_up = true;
    m->cluster = true;
    snprintf(m->cluster_note, sizeof(m->cluster_note), "kind-memes");
    m->nscalers = 2;
    m->scalers[0] = (struct tui_scaler){
        "gateway", "HPA", "meme-generator/meme-gateway", 2, 3, 1, 10, "cpu 84%/70%"};
    m->scalers[1] = (struct tui_scaler){
        "worker", "ScaledObject", "meme-generator/meme-worker", 4, 4, 0, 10, "lag 12/5"};
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

/* The whole 80x24 frame of fixed_model(): what a person sees, exactly. */
static const char expected_80x24[] =
    "memectl tui  nats://127.0.0.1:4222  connected                cluster: kind-memes\n"
    "\xe2\x94\x8c\xe2\x94\x80 Scalers "
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x90\xe2\x94\x8c\xe2\x94\x80 Preview "
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x90\n"
    "\xe2\x94\x82 KIND         NAME               REPLICAS   WHY             "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 HPA          meme-gateway       2/3 1-10   cpu 84%/70%     "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 ScaledObject meme-worker        4/4 0-10   lag 12/5        "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x98\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x8c\xe2\x94\x80 Queue MEMES / meme-generator "
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x90\xe2\x94"
    "\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 lag 12 / threshold 5   ack pending 4   waiting pulls 0     "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 in 20.5/s   out 18.0/s   redelivered 0                     "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 lag       \xe2\x96\x82\xe2\x96\x83\xe2\x96\x86\xe2\x96\x88                       "
    "                      \xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 workers  \xe2\x96\x83\xe2\x96\x83\xe2\x96\x85\xe2\x96\x88\xe2\x96\x88            "
    "                                 \xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x98\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x8c\xe2\x94\x80 Workers (1) "
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x90\xe2\x94\x82 no image       \xe2\x94\x82\n"
    "\xe2\x94\x82 ID               IN FLIGHT     DONE FAILED  HIT%   SEEN    "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 worker-a                 2       40      1   25%     1s    "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x98\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x8c\xe2\x94\x80 Memes "
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x90\xe2\x94"
    "\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 STATE   LATENCY CACHE WORKER       PROMPT                  "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 failed                prompt_too_l evil                    "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82 done      23 ms  miss worker-a     * one does not simply | "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82                                                            "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x82                                                            "
    "\xe2\x94\x82\xe2\x94\x82                \xe2\x94\x82\n"
    "\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2"
    "\x94\x98\xe2\x94\x94\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80"
    "\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94"
    "\x80\xe2\x94\x80\xe2\x94\x80\xe2\x94\x98\n"
    "g new meme  b burst  Tab focus  \xe2\x86\x91\xe2\x86\x93 select  e explain  ? help  q quit\n";

static void test_frame_80x24(void **state)
{
    (void)state;
    struct tui_model m;
    fixed_model(&m);
    struct tui_view_state v = {.now = 100, .focus = FOCUS_MEMES};
    v.preview_note = "no image";
    struct canvas c;
    canvas_init(&c, 80, 24);
    tui_draw(&m, &v, &c);
    char *text = canvas_to_text(&c);
    if (strcmp(text, expected_80x24) != 0) {
        fputs("the frame differs; got:\n", stderr);
        fputs(text, stderr);
        fail();
    }
    /* The escape sequence from the network never reaches the screen. */
    assert_null(strchr(text, '\033'));
    free(text);
    canvas_free(&c);
    tui_model_destroy(&m);
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
        cmocka_unit_test(test_frame_80x24),
        cmocka_unit_test(test_no_cluster_no_nats),
        cmocka_unit_test(test_help_and_prompt),
        cmocka_unit_test(test_canvas_text_widths),
        cmocka_unit_test(test_model_workers_and_rates),
        cmocka_unit_test(test_meme_progress),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
