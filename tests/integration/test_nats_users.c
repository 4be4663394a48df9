/*
 * The NATS users of k8s/nats/values.yaml, proven on a real server: the
 * authorization block is read from the Helm values (libyaml), given fresh
 * passwords where the chart takes them from Secrets, and handed to
 * nats-server -js as is. A gateway, a worker and memectl then run under
 * their own users end to end without one permission violation, and the
 * attacks the permissions exist for fail: the worker's user cannot purge
 * the MEMES stream, the gateway's cannot publish on meme.response nor
 * overwrite a stored result. A test-only observer user (no permissions
 * block) watches subjects and counts messages.
 */
#include "common.h"
#include "mq/results.h"

#include <curl/curl.h>
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>
#include <cmocka.h>

#define NUSERS 3
static const char *const users[NUSERS] = {"meme-worker", "meme-gateway", "memectl"};
static char passwords[NUSERS][40];
static char observer_pw[40];
static char observer_url[160];
static struct harness_server nats;
static char *scratch;
static char *src;
static pid_t gateway = -1, worker = -1;
static int gw_port;

static const char *password_of(const char *user)
{
    for (int i = 0; i < NUSERS; i++)
        if (strcmp(users[i], user) == 0)
            return passwords[i];
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------ the Helm values */

static yaml_node_t *ymap(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = yaml_document_get_node(d, p->key);
        if (k && k->type == YAML_SCALAR_NODE && strcmp((char *)k->data.scalar.value, key) == 0)
            return yaml_document_get_node(d, p->value);
    }
    return NULL;
}

/* A YAML node as JSON; scalars stay strings, except "<< $VAR >>", which the
 * chart turns into the server's environment variable VAR: here the fresh
 * password of the user whose Secret it names. Unknown variables fail. */
static json_t *to_json(yaml_document_t *d, yaml_node_t *n, const char *const *env_user_pairs)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)n->data.scalar.value;
        char var[64];
        if (sscanf(v, "<< $%63[A-Z_] >>", var) == 1) {
            for (int i = 0; env_user_pairs[i]; i += 2)
                if (strcmp(env_user_pairs[i], var) == 0)
                    return json_string(password_of(env_user_pairs[i + 1]));
            fprintf(stderr, "k8s/nats/values.yaml: %s is not in container.env\n", var);
            return NULL;
        }
        return json_string(v);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            json_t *x = to_json(d, yaml_document_get_node(d, *i), env_user_pairs);
            if (!x) {
                json_decref(a);
                return NULL;
            }
            json_array_append_new(a, x);
        }
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(d, p->key);
            json_t *x = to_json(d, yaml_document_get_node(d, p->value), env_user_pairs);
            if (!x) {
                json_decref(o);
                return NULL;
            }
            json_object_set_new(o, (const char *)k->data.scalar.value, x);
        }
        return o;
    }
    default:
        return json_null();
    }
}

/* The server configuration: the values' authorization block with fresh
 * passwords, plus the test's observer. A new string, or NULL. */
static char *authorization_from_values(void)
{
    char *path = xasprintf("%s/k8s/nats/values.yaml", src);
    FILE *f = fopen(path, "r");
    free(path);
    if (!f)
        return NULL;
    yaml_parser_t p;
    yaml_document_t d;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_file(&p, f);
    char *out = NULL;
    if (!yaml_parser_load(&p, &d)) {
        yaml_parser_delete(&p);
        fclose(f);
        return NULL;
    }
    yaml_node_t *root = yaml_document_get_root_node(&d);
    yaml_node_t *auth = ymap(&d, ymap(&d, ymap(&d, root, "config"), "merge"), "authorization");
    yaml_node_t *env = ymap(&d, ymap(&d, root, "container"), "env");
    /* VAR -> user, from container.env's secretKeyRef names
     * (nats-user-<user>). */
    const char *pairs[2 * 8 + 1] = {NULL};
    int np = 0;
    for (yaml_node_pair_t *pr =
             env && env->type == YAML_MAPPING_NODE ? env->data.mapping.pairs.start : NULL;
         pr && pr < env->data.mapping.pairs.top && np < 16; pr++) {
        yaml_node_t *k = yaml_document_get_node(&d, pr->key);
        yaml_node_t *ref =
            ymap(&d, ymap(&d, yaml_document_get_node(&d, pr->value), "valueFrom"), "secretKeyRef");
        yaml_node_t *name = ymap(&d, ref, "name");
        if (!name || name->type != YAML_SCALAR_NODE ||
            strncmp((char *)name->data.scalar.value, "nats-user-", 10) != 0)
            continue;
        const char *user = (const char *)name->data.scalar.value + 10;
        if (!password_of(user))
            continue;
        pairs[np++] = (const char *)k->data.scalar.value;
        pairs[np++] = user;
    }
    json_t *j = auth ? to_json(&d, auth, pairs) : NULL;
    json_t *list = json_object_get(j, "users");
    if (json_is_array(list)) {
        json_array_append_new(
            list, json_pack("{s:s,s:s}", "user", "test-observer", "password", observer_pw));
        char *text = json_dumps(j, JSON_INDENT(2));
        out = xasprintf("authorization: %s\n", text);
        free(text);
    }
    json_decref(j);
    yaml_document_delete(&d);
    yaml_parser_delete(&p);
    fclose(f);
    return out;
}

/* ------------------------------------------------------------ helpers */

static int user_connect(struct mq_conn *c, const char *user)
{
    struct meme_err err = {0};
    struct mq_connect_opts o = {.url = nats.url,
                                .name = user,
                                .user = strcmp(user, "test-observer") == 0 ? "test-observer" : user,
                                .password = strcmp(user, "test-observer") == 0 ? observer_pw
                                                                               : password_of(user)};
    int rc = mq_connect(c, &o, &err);
    if (rc < 0)
        fprintf(stderr, "connect as %s: %s\n", user, err.msg);
    return rc;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    buf_append(arg, p, size * n);
    return size * n;
}

static long http(const char *method, const char *path, const char *body, struct buf *out,
                 char *meme_id)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", gw_port, path);
    CURL *c = curl_easy_init();
    struct buf sink = BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out ? out : &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    struct curl_slist *h = NULL;
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (method && !body)
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    (void)meme_id;
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    buf_release(&sink);
    return status;
}

/* GET /api/v1/events for ms milliseconds; the status it had. */
static long events_for(long ms)
{
    char url[160];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/api/v1/events", gw_port);
    CURL *c = curl_easy_init();
    struct buf sink = BUF_INIT;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    long status = 0;
    curl_easy_perform(c); /* ends with a timeout: the stream does not end by itself */
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    buf_release(&sink);
    return status;
}

static bool gateway_ready(void *arg)
{
    (void)arg;
    return http(NULL, "/readyz", NULL, NULL, NULL) == 200;
}

/* Permission violations the server logged, for a user (or any with NULL)
 * and a subject (or any). */
static int violations(const char *user, const char *subject)
{
    FILE *f = fopen(nats.log, "r");
    if (!f)
        return -1;
    char line[2048];
    int n = 0;
    while (fgets(line, sizeof(line), f)) {
        if (!strstr(line, "Violation"))
            continue;
        char u[96], s[160];
        snprintf(u, sizeof(u), "User \"%s\"", user ? user : "");
        snprintf(s, sizeof(s), "Subject \"%s\"", subject ? subject : "");
        if ((!user || strstr(line, u)) && (!subject || strstr(line, s)))
            n++;
    }
    fclose(f);
    return n;
}

static void print_violations(void)
{
    FILE *f = fopen(nats.log, "r");
    char line[2048];
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, "Violation"))
            fprintf(stderr, "  %s", line);
    if (f)
        fclose(f);
}

static int64_t stream_msgs(struct mq_conn *obs)
{
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    if (js_GetStreamInfo(&si, obs->js, PROTO_STREAM, NULL, &jerr) != NATS_OK)
        return -1;
    int64_t n = (int64_t)si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return n;
}

static int memectl_as(struct buf *out, struct buf *err, ...)
{
    char *env_user = xasprintf("NATS_USER=memectl");
    char *env_pw = xasprintf("NATS_PASSWORD=%s", password_of("memectl"));
    char *env[] = {env_user, env_pw, NULL};
    va_list ap;
    va_start(ap, err);
    int rc = memectl_va(out, err, env, 90000, nats.url, ap);
    va_end(ap);
    free(env_user);
    free(env_pw);
    return rc;
}

static pid_t spawn_as(const char *user, char *const argv[], const char *logname)
{
    char *env_user = xasprintf("NATS_USER=%s", user);
    char *env_pw = xasprintf("NATS_PASSWORD=%s", password_of(user));
    char *env[] = {env_user, env_pw, NULL};
    char *log = xasprintf("%s/%s", scratch, logname);
    pid_t pid = harness_spawn(argv, env, log);
    free(env_user);
    free(env_pw);
    free(log);
    return pid;
}

static pid_t start_worker_as_user(void)
{
    char *bin = harness_bin("meme-worker");
    char *argv[] = {bin, "--nats", nats.url, "--id", "users-w1", "-v", NULL};
    pid_t pid = spawn_as("meme-worker", argv, "worker.log");
    free(bin);
    struct wait_consumer w = {observer_url, 1};
    if (pid > 0 && !harness_wait_for(consumer_ready, &w, 20000)) {
        harness_failed();
        return -1;
    }
    return pid;
}

static int setup(void **state)
{
    (void)state;
    const char *s = getenv("MEME_SOURCE_DIR");
    src = s && *s ? xstrdup(s) : getcwd(NULL, 0);
    scratch = harness_tmpdir("nats-users");
    for (int i = 0; i < NUSERS; i++)
        proto_new_id(passwords[i]);
    proto_new_id(observer_pw);
    char *conf = authorization_from_values();
    if (!conf) {
        fprintf(stderr, "no authorization users in k8s/nats/values.yaml\n");
        return -1;
    }
    int rc = harness_nats_start_conf(&nats, conf);
    free(conf);
    if (rc != 0)
        return -1;
    snprintf(observer_url, sizeof(observer_url), "nats://test-observer:%s@127.0.0.1:%d",
             observer_pw, nats.port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    harness_kill(gateway, 10000);
    harness_kill(worker, 10000);
    harness_stop(&nats);
    free(scratch);
    free(src);
    return 0;
}

/* ------------------------------------------------------------ the tests */

/* Without a password nobody gets in: the users replace anonymous access. */
static void test_anonymous_refused(void **state)
{
    (void)state;
    struct mq_conn c;
    struct meme_err err = {0};
    struct mq_connect_opts o = {.url = nats.url, .name = "anonymous"};
    assert_true(mq_connect(&c, &o, &err) < 0);
    mq_close(&c);
    fprintf(stderr, "anonymous connect: %s\n", err.msg);
    assert_non_null(strstr(err.msg, "refused the credentials"));
    o.user = "meme-worker";
    o.password = "not-the-password";
    assert_true(mq_connect(&c, &o, &err) < 0);
    mq_close(&c);
}

/* Gateway first (it creates the stream and the consumer under its own
 * user), then the worker; a meme through the gateway, one through memectl,
 * results read back by both, one broadcast reply for the original design's
 * clients: no permission violation anywhere. */
static void test_end_to_end_under_each_user(void **state)
{
    (void)state;
    gw_port = harness_free_port();
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", gw_port);
    char *gbin = harness_bin("meme-gateway");
    char *gargv[] = {gbin, "--listen", listen, "--nats", nats.url, "--id", "users-gw", NULL};
    gateway = spawn_as("meme-gateway", gargv, "gateway.log");
    free(gbin);
    assert_true(gateway > 0);
    assert_true(harness_wait_for(gateway_ready, NULL, 20000));
    struct mq_conn obs;
    assert_int_equal(user_connect(&obs, "test-observer"), 0);
    struct mq_depth depth;
    /* The gateway provisioned the stream and consumer KEDA reads. */
    for (int i = 0; i < 100 && mq_depth(&obs, PROTO_STREAM, PROTO_CONSUMER, &depth, NULL) != 0; i++)
        sleep_ms(100);
    assert_int_equal(mq_depth(&obs, PROTO_STREAM, PROTO_CONSUMER, &depth, NULL), 0);

    worker = start_worker_as_user();
    assert_true(worker > 0);

    struct buf img = BUF_INIT;
    assert_int_equal(http(NULL, "/api/v1/memes",
                          "{\"id\":\"users-gw-1\",\"prompt\":\"least | privilege\",\"size\":256}",
                          &img, NULL),
                     200);
    assert_int_equal(image_sniff(img.data, img.len), IMAGE_PNG);
    buf_release(&img);
    long got = 0;
    for (int i = 0;
         i < 50 && (got = http(NULL, "/api/v1/memes/users-gw-1", NULL, NULL, NULL)) != 200; i++)
        sleep_ms(200);
    assert_int_equal(got, 200);
    /* The web page's reads: the gallery's history, the meme's page, and
     * the live events (a stream cut off after 2 s). */
    struct buf recent = BUF_INIT;
    assert_int_equal(http(NULL, "/api/v1/memes?limit=5", NULL, &recent, NULL), 200);
    buf_putc(&recent, '\0');
    assert_non_null(strstr((char *)recent.data, "users-gw-1"));
    buf_release(&recent);
    assert_int_equal(http(NULL, "/m/users-gw-1", NULL, NULL, NULL), 200);
    assert_int_equal(events_for(2000), 200);

    struct buf out = BUF_INIT, err = BUF_INIT;
    char *file = xasprintf("%s/gen.png", scratch);
    int rc = memectl_as(&out, &err, "gen", "--json", "--display", "none", "-o", file,
                        "memectl | under its own user", NULL);
    if (rc != 0)
        fprintf(stderr, "memectl gen: %s%s\n", (char *)out.data, (char *)err.data);
    assert_int_equal(rc, 0);
    assert_true(file_exists(file));
    json_t *made = json_loads((char *)out.data, 0, NULL);
    char id[PROTO_ID_MAX + 1];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(made, "id")));
    json_decref(made);
    assert_true(proto_id_valid(id));
    buf_release(&out);
    buf_release(&err);
    free(file);
    file = xasprintf("%s/get.png", scratch);
    rc = 1;
    for (int i = 0; i < 20 && rc != 0; i++) {
        buf_release(&out);
        buf_release(&err);
        rc = memectl_as(&out, &err, "get", id, "-o", file, NULL);
        if (rc != 0)
            sleep_ms(250);
    }
    if (rc != 0)
        fprintf(stderr, "memectl get: %s%s\n", (char *)out.data, (char *)err.data);
    assert_int_equal(rc, 0);
    buf_release(&out);
    buf_release(&err);
    free(file);

    /* The original design's request: no reply subject, answered on
     * meme.response.error (an unknown template) for everyone. */
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, obs.nc, "meme.response.>"), NATS_OK);
    natsConnection_Flush(obs.nc);
    struct mq_conn cli;
    assert_int_equal(user_connect(&cli, "memectl"), 0);
    assert_int_equal(natsConnection_PublishString(
                         cli.nc, PROTO_SUBJECT_REQUEST,
                         "{\"id\":\"users-legacy-1\",\"prompt\":\"x\",\"template\":\"nope\"}"),
                     NATS_OK);
    natsConnection_Flush(cli.nc);
    natsMsg *m = NULL;
    assert_int_equal(natsSubscription_NextMsg(&m, sub, 20000), NATS_OK);
    assert_string_equal(natsMsg_GetSubject(m), PROTO_SUBJECT_ERROR);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    mq_close(&cli);
    mq_close(&obs);

    int v = violations(NULL, NULL);
    fprintf(stderr,
            "end to end as meme-gateway, meme-worker and memectl: a meme through the gateway, "
            "one through memectl, results read by both, one broadcast error; permission "
            "violations: %d\n",
            v);
    if (v)
        print_violations();
    assert_int_equal(v, 0);
}

/* The worker's user cannot purge (or delete) the queue, whatever a request
 * tricks it into: the deputy has no such right to lend. */
static void test_worker_user_cannot_purge(void **state)
{
    (void)state;
    /* Requests wait in the stream while no worker runs. */
    harness_kill(worker, 10000);
    worker = -1;
    struct mq_conn obs, cli, wk;
    assert_int_equal(user_connect(&obs, "test-observer"), 0);
    assert_int_equal(user_connect(&cli, "memectl"), 0);
    assert_int_equal(user_connect(&wk, "meme-worker"), 0);
    for (int i = 0; i < 5; i++) {
        struct proto_request req;
        struct meme_err err = {0};
        proto_request_init(&req);
        snprintf(req.id, sizeof(req.id), "users-queued-%d", i);
        req.prompt = xstrdup("waiting | for a worker");
        assert_int_equal(mq_publish_request(&cli, &req, 5000, &err), 0);
        proto_request_release(&req);
    }
    int64_t before = stream_msgs(&obs);
    jsErrCode jerr = 0;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = 2000;
    natsStatus purge = js_PurgeStream(wk.js, PROTO_STREAM, &jo, &jerr);
    natsStatus del = js_DeleteStream(wk.js, PROTO_STREAM, &jo, &jerr);
    /* The same request on the wire, the way a reply subject would carry it. */
    natsMsg *reply = NULL;
    natsStatus raw =
        natsConnection_RequestString(&reply, wk.nc, "$JS.API.STREAM.PURGE.MEMES", "", 2000);
    natsMsg_Destroy(reply);
    sleep_ms(500);
    int64_t after = stream_msgs(&obs);
    int pv = violations("meme-worker", "$JS.API.STREAM.PURGE.MEMES");
    int dv = violations("meme-worker", "$JS.API.STREAM.DELETE.MEMES");
    fprintf(stderr,
            "as meme-worker: purge MEMES -> %s, delete MEMES -> %s, raw publish -> %s; stream "
            "MEMES %lld messages before, %lld after; violations logged: purge %d, delete %d\n",
            natsStatus_GetText(purge), natsStatus_GetText(del), natsStatus_GetText(raw),
            (long long)before, (long long)after, pv, dv);
    assert_int_not_equal(purge, NATS_OK);
    assert_int_not_equal(del, NATS_OK);
    assert_int_not_equal(raw, NATS_OK);
    assert_int_equal(before, 5);
    assert_int_equal(after, 5);
    assert_true(pv >= 2);
    assert_true(dv >= 1);
    mq_close(&wk);
    mq_close(&cli);
    mq_close(&obs);
    /* A worker under its user then does the queued work. */
    worker = start_worker_as_user();
    assert_true(worker > 0);
    struct mq_conn o2;
    assert_int_equal(user_connect(&o2, "test-observer"), 0);
    int64_t left = -1;
    for (int i = 0; i < 100 && (left = stream_msgs(&o2)) != 0; i++)
        sleep_ms(200);
    fprintf(stderr, "a worker under meme-worker then took the %lld queued requests: %lld left\n",
            (long long)after, (long long)left);
    assert_int_equal(left, 0);
    mq_close(&o2);
}

/* The gateway's user cannot speak for a worker: no meme.response, no
 * stored result, no reply to someone else's inbox. */
static void test_gateway_user_cannot_answer(void **state)
{
    (void)state;
    struct mq_conn obs, gw, wk;
    assert_int_equal(user_connect(&obs, "test-observer"), 0);
    assert_int_equal(user_connect(&gw, "meme-gateway"), 0);
    assert_int_equal(user_connect(&wk, "meme-worker"), 0);
    natsSubscription *sub = NULL;
    assert_int_equal(natsConnection_SubscribeSync(&sub, obs.nc, "meme.response"), NATS_OK);
    natsConnection_Flush(obs.nc);
    const char *fake = "{\"request_id\":\"users-fake\",\"image_data\":\"\",\"prompt\":\"forged\","
                       "\"timestamp\":0}";
    natsConnection_PublishString(gw.nc, PROTO_SUBJECT_RESPONSE, fake);
    natsConnection_Flush(gw.nc);
    natsMsg *m = NULL;
    natsStatus from_gw = natsSubscription_NextMsg(&m, sub, 1500);
    natsMsg_Destroy(m);
    m = NULL;
    /* The control: the worker's user may. */
    natsConnection_PublishString(wk.nc, PROTO_SUBJECT_RESPONSE, fake);
    natsConnection_Flush(wk.nc);
    natsStatus from_wk = natsSubscription_NextMsg(&m, sub, 5000);
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);

    /* A stored result stays as the worker wrote it. */
    kvStore *kv = NULL;
    struct meme_err err = {0};
    assert_int_equal(results_open(obs.js, PROTO_RESULTS_BUCKET, false, 0, 0, &kv, &err), 0);
    kvEntry *e = NULL;
    assert_int_equal(kvStore_Get(&e, kv, "users-gw-1"), NATS_OK);
    uint64_t rev = kvEntry_Revision(e);
    int len = kvEntry_ValueLen(e);
    kvEntry_Destroy(e);
    natsConnection_PublishString(gw.nc, "$KV.meme-results.users-gw-1", "overwritten");
    natsConnection_Flush(gw.nc);
    sleep_ms(500);
    assert_int_equal(kvStore_Get(&e, kv, "users-gw-1"), NATS_OK);
    uint64_t rev2 = kvEntry_Revision(e);
    int len2 = kvEntry_ValueLen(e);
    kvEntry_Destroy(e);
    kvStore_Destroy(kv);
    sleep_ms(200);
    int rv = violations("meme-gateway", PROTO_SUBJECT_RESPONSE);
    int kv_v = violations("meme-gateway", "$KV.meme-results.users-gw-1");
    fprintf(stderr,
            "as meme-gateway: publish meme.response -> %s at the observer (as meme-worker: "
            "%s); overwrite users-gw-1 -> revision %llu (%d bytes) before, %llu (%d bytes) "
            "after; violations logged: meme.response %d, $KV %d\n",
            from_gw == NATS_OK ? "delivered" : "nothing",
            from_wk == NATS_OK ? "delivered" : "nothing", (unsigned long long)rev, len,
            (unsigned long long)rev2, len2, rv, kv_v);
    assert_int_equal(from_gw, NATS_TIMEOUT);
    assert_int_equal(from_wk, NATS_OK);
    assert_true(rv >= 1);
    assert_int_equal(rev, rev2);
    assert_int_equal(len, len2);
    assert_true(kv_v >= 1);
    mq_close(&wk);
    mq_close(&gw);
    mq_close(&obs);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_anonymous_refused),
        cmocka_unit_test(test_end_to_end_under_each_user),
        cmocka_unit_test(test_worker_user_cannot_purge),
        cmocka_unit_test(test_gateway_user_cannot_answer),
    };
    int failures = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    nats_Close();
    return harness_finish(failures);
}
