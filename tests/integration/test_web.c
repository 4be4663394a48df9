/*
 * The gateway's web page in a real browser: Debian's chromium driven by
 * puppeteer-core (tests/web/check.mjs, npm packages pinned by its
 * package-lock.json) against a real meme-gateway, two real meme-workers and
 * nats-server -js. The script plays two visitors by keyboard and reports
 * what it saw as JSON; each test here judges one part of that report: two
 * memes made and both kept, a second visitor's meme arriving live, the
 * gallery after a reload, the progress a waiting meme shows (queued,
 * working, done), a permalink with its preview tags, the download's
 * file name, a name for every control in the accessibility tree, the empty
 * prompt and the limit counted as the server counts it, JSON-only posts, no
 * console errors, and the screenshots (desktop, phone, permalink) that
 * docs/img keeps copies of. Set MEME_SCREENSHOTS=DIR to write them there
 * (MEME_SCREENSHOTS=docs/img refreshes the documentation's).
 *
 * chromium and the npm packages come from scripts/install-deps; without
 * them the tests fail and say so.
 */
#include "common.h"

#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <cmocka.h>

static struct harness_server nats;
static char *scratch, *shots;
static pid_t workers[2] = {-1, -1};
static pid_t gateway = -1;
static char base[64];
static json_t *report;
static char *why_not; /* set when the browser could not be run */

static bool gateway_ready(void *arg)
{
    (void)arg;
    char *url = xasprintf("%s/readyz", base);
    char *argv[] = {"curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 5000);
    bool ok = rc == 0 && out.len == 3 && memcmp(out.data, "200", 3) == 0;
    buf_release(&out);
    buf_release(&err);
    free(url);
    return ok;
}

/* The step of the report called name, or NULL. */
static json_t *step(const char *name)
{
    json_t *steps = json_object_get(report, "steps");
    for (size_t i = 0; i < json_array_size(steps); i++) {
        json_t *s = json_array_get(steps, i);
        const char *n = json_string_value(json_object_get(s, "name"));
        if (n && strcmp(n, name) == 0)
            return s;
    }
    return NULL;
}

static const char *str(json_t *o, const char *key)
{
    const char *v = json_string_value(json_object_get(o, key));
    return v ? v : "";
}

static void need_report(void)
{
    if (why_not)
        fail_msg("%s", why_not);
    assert_non_null(report);
    json_t *e = json_object_get(report, "error");
    if (e)
        fail_msg("the browser script stopped: %s", json_string_value(e));
}

static int setup(void **state)
{
    (void)state;
    scratch = harness_tmpdir("web");
    const char *keep = getenv("MEME_SCREENSHOTS");
    shots = keep && *keep ? xstrdup(keep) : xasprintf("%s/screenshots", scratch);
    mkdir(shots, 0755);
    const char *src = getenv("MEME_SOURCE_DIR");
    char *script = xasprintf("%s/tests/web/check.mjs", src ? src : ".");
    char *modules =
        xasprintf("%s/tests/web/node_modules/puppeteer-core/package.json", src ? src : ".");
    if (access("/usr/bin/chromium", X_OK) != 0)
        why_not = xstrdup("no /usr/bin/chromium: run scripts/install-deps");
    else if (!file_exists(modules))
        why_not = xstrdup("no puppeteer-core in tests/web/node_modules: run scripts/install-deps");
    free(modules);
    if (why_not) {
        free(script);
        return 0;
    }
    if (harness_nats_start(&nats) != 0)
        return -1;
    workers[0] = start_worker(nats.url, scratch, "web-w1");
    workers[1] = start_worker(nats.url, scratch, "web-w2");
    if (workers[0] < 0 || workers[1] < 0)
        return -1;
    char *bin = harness_bin("meme-gateway");
    char *log = xasprintf("%s/gateway.log", scratch);
    char listen[64];
    int port = harness_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    char *gargv[] = {bin, "--listen", listen, "--nats", nats.url, "--id", "web-gw", "-v", NULL};
    gateway = harness_spawn(gargv, NULL, log);
    free(bin);
    free(log);
    if (gateway < 0 || !harness_wait_for(gateway_ready, NULL, 20000)) {
        harness_failed();
        return -1;
    }
    /* One run of the browser script; its report is what the tests judge. */
    char *argv[] = {"node", script, base, shots, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    int rc = harness_run(argv, NULL, &out, &err, 400000);
    buf_putc(&err, '\0');
    if (rc != 0) {
        why_not = xasprintf("node check.mjs exited %d: %s", rc, (char *)err.data);
        harness_failed();
    } else {
        json_error_t je;
        report = json_loadb((const char *)out.data, out.len, 0, &je);
        if (!report) {
            why_not = xasprintf("the browser script's report is not JSON: %s", je.text);
            harness_failed();
        }
    }
    if (report) {
        char *dump = json_dumps(report, JSON_INDENT(1));
        printf("# browser report:\n%s\n", dump);
        free(dump);
    }
    buf_release(&out);
    buf_release(&err);
    free(script);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_kill(gateway, 10000);
    harness_kill(workers[0], 10000);
    harness_kill(workers[1], 10000);
    if (nats.pid > 0)
        harness_stop(&nats);
    json_decref(report);
    free(why_not);
    free(shots);
    free(scratch);
    return 0;
}

/* Fetches a meme the page made, by id, as any client would. */
static void assert_stored(const char *id)
{
    char *url = xasprintf("%s/api/v1/memes/%s", base, id);
    char *path = xasprintf("%s/stored.png", scratch);
    char *argv[] = {"curl", "-s", "-o", path, "-w", "%{http_code}", url, NULL};
    struct buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(harness_run(argv, NULL, &out, &err, 15000), 0);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "200", 3);
    struct meme_err e = {0};
    struct meme_image *img = image_load(path, &e);
    if (!img)
        fail_msg("meme %s as stored does not decode: %s", id, e.msg);
    assert_int_equal(img->width, 512);
    image_free(img);
    buf_release(&out);
    buf_release(&err);
    free(url);
    free(path);
}

/* By keyboard (Enter in the field, then Tab to the button and Space): each
 * meme shown with a placeholder while it was made, the focus where it was,
 * the result announced; both stay in the gallery. */
static void test_two_memes_kept(void **state)
{
    (void)state;
    need_report();
    json_t *first = step("first"), *second = step("second"), *kept = step("kept_both");
    assert_non_null(first);
    assert_non_null(second);
    assert_non_null(kept);
    assert_string_not_equal(str(first, "id"), str(second, "id"));
    assert_true(json_is_true(json_object_get(first, "waiting_shown")));
    assert_true(json_is_true(json_object_get(second, "waiting_shown")));
    assert_string_equal(str(first, "focus"), "prompt");
    assert_string_equal(str(second, "focus"), "go"); /* Space did not drop the focus */
    assert_non_null(strstr(str(first, "status"), "Done in"));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(first, "img"), "w")), 512);
    assert_true(json_is_true(json_object_get(kept, "ok")));
    assert_stored(str(first, "id"));
    assert_stored(str(second, "id"));
}

/* While a meme waits, what the gateway's status says (here a worker at
 * work) moves the page's steps and is said in the status region; at the
 * end every step is done. */
static void test_progress_shown(void **state)
{
    (void)state;
    need_report();
    json_t *p = step("progress");
    assert_non_null(p);
    assert_true(json_is_true(json_object_get(p, "working_shown")));
    assert_string_equal(str(p, "text"), "Working: web-w9 is making it\xe2\x80\xa6");
    json_t *steps = json_object_get(p, "done_steps");
    assert_int_equal(json_array_size(steps), 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(json_string_value(json_array_get(steps, i)), "done");
}

static void test_second_visitor_live(void **state)
{
    (void)state;
    need_report();
    json_t *live = step("live");
    assert_non_null(live);
    assert_true(json_is_true(json_object_get(live, "ok")));
    printf("# the second visitor's meme reached the first page %lld ms after it was done\n",
           (long long)json_integer_value(json_object_get(live, "after_ms")));
    assert_stored(str(live, "id"));
}

static void test_reload_keeps_gallery(void **state)
{
    (void)state;
    need_report();
    json_t *r = step("reload");
    assert_non_null(r);
    assert_true(json_is_true(json_object_get(r, "ok")));
    json_t *g = json_object_get(r, "gallery");
    /* Newest first: the second visitor's, then the second, then the first. */
    assert_true(json_array_size(g) >= 3);
    assert_string_equal(json_string_value(json_array_get(g, 0)), str(step("live"), "id"));
    assert_string_equal(json_string_value(json_array_get(g, 1)), str(step("second"), "id"));
    assert_string_equal(json_string_value(json_array_get(g, 2)), str(step("first"), "id"));
}

static void test_permalink(void **state)
{
    (void)state;
    need_report();
    json_t *p = step("permalink");
    assert_non_null(p);
    const char *id = str(step("first"), "id");
    assert_string_equal(str(p, "h1"), "when the queue hits five | keda wakes up");
    assert_non_null(strstr(str(p, "title"), "when the queue hits five"));
    char *img = xasprintf("%s/api/v1/memes/%s", base, id);
    assert_string_equal(str(p, "og_image"), img);
    free(img);
    assert_string_equal(str(p, "twitter_card"), "summary_large_image");
    json_t *image = json_object_get(p, "image");
    assert_int_equal(json_integer_value(json_object_get(image, "w")), 512);
    assert_true(json_array_size(json_object_get(p, "details")) >= 4);
    char *dl = xasprintf("/api/v1/memes/%s?download=1", id);
    assert_string_equal(str(p, "download"), dl);
    free(dl);
}

static void test_download_has_a_name(void **state)
{
    (void)state;
    need_report();
    json_t *d = step("download");
    assert_non_null(d);
    assert_int_equal(json_integer_value(json_object_get(d, "status")), 200);
    char want[160];
    snprintf(want, sizeof(want),
             "attachment; filename=\"when-the-queue-hits-five-keda-wakes-up-%.8s.png\"",
             str(step("first"), "id"));
    assert_string_equal(str(d, "disposition"), want);
}

static void assert_all_named(json_t *a11y, const char *where)
{
    json_t *unnamed = json_object_get(a11y, "unnamed");
    if (json_array_size(unnamed)) {
        char *s = json_dumps(unnamed, 0);
        fail_msg("%s: controls without a name: %s", where, s);
    }
    assert_true(json_array_size(json_object_get(a11y, "controls")) >= 4);
}

/* Every control has a name; the status is a live region. */
static void test_accessibility_tree(void **state)
{
    (void)state;
    need_report();
    json_t *a = step("accessibility");
    assert_non_null(a);
    assert_all_named(a, "the page");
    assert_true(json_is_true(json_object_get(a, "has_status")));
    json_t *controls = json_object_get(a, "controls");
    static const char *const want[] = {"textbox: Prompt", "combobox: Background", "combobox: Size",
                                       "combobox: Format", "button: Make it"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(controls); k++)
            found |= strcmp(json_string_value(json_array_get(controls, k)), want[i]) == 0;
        if (!found)
            fail_msg("no \"%s\" in the accessibility tree", want[i]);
    }
    assert_all_named(json_object_get(step("permalink"), "a11y"), "the permalink");
    /* The pickers were filled from the API. */
    json_t *c = json_object_get(report, "choices");
    assert_true(json_integer_value(json_object_get(c, "templates")) >= 7);
    assert_int_equal(json_array_size(json_object_get(c, "sizes")), 2);
}

/* An empty prompt and one over the limit are refused on the page, counted
 * in bytes as the server counts: at the limit both accept, one byte over
 * both refuse. Form-like posts are 415. */
static void test_prompt_rules(void **state)
{
    (void)state;
    need_report();
    json_t *b = step("blank"), *t = step("too_long"), *l = step("limit_agrees");
    assert_int_equal(json_integer_value(json_object_get(b, "posts")), 0);
    assert_string_equal(str(b, "invalid"), "true");
    assert_non_null(strstr(str(b, "status"), "Type something"));
    assert_int_equal(json_integer_value(json_object_get(t, "posts")), 0);
    assert_string_equal(str(t, "invalid"), "true");
    json_t *count = json_object_get(t, "count");
    assert_false(json_is_true(json_object_get(count, "hidden")));
    assert_non_null(strstr(str(count, "text"), "1800 of 1000 bytes"));
    assert_string_equal(str(l, "at_page"), "false");
    assert_int_equal(json_integer_value(json_object_get(l, "at_server")), 200);
    assert_string_equal(str(l, "over_page"), "true");
    assert_int_equal(json_integer_value(json_object_get(l, "over_server")), 400);
    json_t *f = step("form_post");
    assert_int_equal(json_integer_value(json_object_get(f, "text_plain")), 415);
    assert_int_equal(json_integer_value(json_object_get(f, "form")), 415);
}

static bool has_control(json_t *a11y, const char *want)
{
    json_t *controls = json_object_get(a11y, "controls");
    for (size_t k = 0; k < json_array_size(controls); k++)
        if (strcmp(json_string_value(json_array_get(controls, k)), want) == 0)
            return true;
    return false;
}

static void assert_control(json_t *a11y, const char *want)
{
    if (!has_control(a11y, want))
        fail_msg("no \"%s\" in the accessibility tree", want);
}

/* A browser that speaks German (--lang=de-DE, Accept-Language, and
 * navigator.languages) gets the page in German: <html lang>, the controls'
 * accessible names, the progress steps, the links, and the messages said in
 * the live region, for a meme made by keyboard. */
static void test_german_visitor(void **state)
{
    (void)state;
    need_report();
    json_t *de = step("german");
    assert_non_null(de);
    assert_string_equal(str(de, "lang"), "de");
    assert_all_named(de, "the German page");
    assert_true(json_is_true(json_object_get(de, "has_status")));
    assert_control(de, "textbox: Text");
    assert_control(de, "combobox: Hintergrund");
    assert_control(de, "combobox: Gr\xc3\xb6\xc3\x9f"
                       "e");
    assert_control(de, "combobox: Format");
    assert_control(de, "button: Erstellen");
    assert_false(has_control(de, "button: Make it"));
    assert_string_equal(str(de, "title"), "Meme-Generator");
    assert_string_equal(str(de, "live_region"), "polite");
    assert_string_equal(str(de, "focus"), "prompt");
    printf("# German status: %s\n", str(de, "status"));
    assert_non_null(strstr(str(de, "status"), "Fertig in "));
    assert_non_null(strstr(str(de, "status"), " ms"));
    assert_null(strstr(str(de, "status"), "Done"));
    assert_string_equal(str(de, "img_alt"), "Meme: wenn die Warteschlange f\xc3\xbc"
                                            "nf erreicht | wacht KEDA auf");
    json_t *links = json_object_get(de, "links");
    assert_int_equal(json_array_size(links), 2);
    assert_string_equal(json_string_value(json_array_get(links, 0)), "Seite \xc3\xb6"
                                                                     "ffnen");
    assert_string_equal(json_string_value(json_array_get(links, 1)), "Herunterladen");
    json_t *steps = json_object_get(de, "steps");
    assert_int_equal(json_array_size(steps), 3);
    assert_string_equal(json_string_value(json_array_get(steps, 0)), "In der Warteschlange");
    assert_string_equal(json_string_value(json_array_get(steps, 1)), "In Arbeit");
    assert_string_equal(json_string_value(json_array_get(steps, 2)), "Fertig");
    assert_non_null(
        strstr(json_string_value(json_array_get(json_object_get(de, "sizes"), 0)), " Pixel"));
    printf("# German empty-prompt message: %s\n", str(de, "blank"));
    assert_non_null(strstr(str(de, "blank"), "Gib etwas ein"));
}

/* Japanese is chosen by its primary subtag (ja-JP); a language the page does
 * not speak (Dutch, Finnish) falls back to English. */
static void test_japanese_and_fallback(void **state)
{
    (void)state;
    need_report();
    json_t *ja = step("japanese"), *en = step("fallback");
    assert_non_null(ja);
    assert_non_null(en);
    assert_string_equal(str(ja, "lang"), "ja");
    assert_all_named(ja, "the Japanese page");
    /* 作成 (make) and テキスト (text) */
    assert_control(ja, "button: \xe4\xbd\x9c\xe6\x88\x90");
    assert_control(ja, "textbox: \xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88");
    assert_string_equal(str(en, "lang"), "en");
    assert_all_named(en, "the page in a language it does not speak");
    assert_control(en, "button: Make it");
    assert_control(en, "textbox: Prompt");
}

static void test_no_console_errors(void **state)
{
    (void)state;
    need_report();
    json_t *errs = json_object_get(report, "console_errors");
    for (size_t i = 0; i < json_array_size(errs); i++)
        fprintf(stderr, "console: %s\n", json_string_value(json_array_get(errs, i)));
    assert_int_equal(json_array_size(errs), 0);
}

/* The screenshots are PNGs of the viewport sizes asked for; the phone's
 * page is no wider than the phone. */
static void test_screenshots(void **state)
{
    (void)state;
    need_report();
    static const struct {
        const char *name;
        int w, h;
    } want[] = {{"web-desktop.png", 1280, 900},
                {"web-phone.png", 780, 1688},
                {"web-permalink.png", 1280, 900}};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char *path = xasprintf("%s/%s", shots, want[i].name);
        struct meme_err err = {0};
        struct meme_image *img = image_load(path, &err);
        if (!img)
            fail_msg("no screenshot %s: %s", path, err.msg);
        assert_int_equal(img->width, want[i].w);
        assert_int_equal(img->height, want[i].h);
        printf("# screenshot %s (%dx%d)\n", path, img->width, img->height);
        image_free(img);
        free(path);
    }
    assert_int_equal(json_integer_value(json_object_get(step("phone"), "width")), 390);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_memes_kept),      cmocka_unit_test(test_progress_shown),
        cmocka_unit_test(test_second_visitor_live), cmocka_unit_test(test_reload_keeps_gallery),
        cmocka_unit_test(test_permalink),           cmocka_unit_test(test_download_has_a_name),
        cmocka_unit_test(test_accessibility_tree),  cmocka_unit_test(test_prompt_rules),
        cmocka_unit_test(test_german_visitor),      cmocka_unit_test(test_japanese_and_fallback),
        cmocka_unit_test(test_no_console_errors),   cmocka_unit_test(test_screenshots),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    return harness_finish(failures);
}
