/*
 * The Kubernetes API client: requests over libcurl, loaded at run time with
 * dlopen() so that only the commands that talk to a cluster pay for it
 * (docs/design.md), credentials from the resolved kubeconfig, errors from
 * the API's Status objects, and watches read as newline-delimited JSON.
 * The views (lib/kube/kube_types.c) and the commands sit on top of this.
 */
#define CURL_DISABLE_TYPECHECK 1
#include "kube/kube.h"
#include "buf.h"
#include "term/term.h"
#include "xalloc.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* The part of libcurl's API we use, resolved from libcurl.so.4. */
static struct {
    CURLcode (*global_init)(long);
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_perform)(CURL *);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    void (*easy_cleanup)(CURL *);
    const char *(*easy_strerror)(CURLcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_perform)(CURLM *, int *);
    CURLMcode (*multi_poll)(CURLM *, struct curl_waitfd[], unsigned int, int, int *);
    CURLMcode (*multi_wakeup)(CURLM *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_cleanup)(CURLM *);
    bool ok;
    char why[256];
} cu;

static pthread_once_t cu_once = PTHREAD_ONCE_INIT;

static void cu_load(void)
{
    void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(cu.why, sizeof(cu.why),
                 "cannot load libcurl.so.4 (install libcurl4 to talk to Kubernetes): %s",
                 dlerror());
        return;
    }
    struct {
        const char *name;
        void **slot;
    } syms[] = {
        {"curl_global_init", (void **)&cu.global_init},
        {"curl_easy_init", (void **)&cu.easy_init},
        {"curl_easy_setopt", (void **)&cu.easy_setopt},
        {"curl_easy_perform", (void **)&cu.easy_perform},
        {"curl_easy_getinfo", (void **)&cu.easy_getinfo},
        {"curl_easy_cleanup", (void **)&cu.easy_cleanup},
        {"curl_easy_strerror", (void **)&cu.easy_strerror},
        {"curl_slist_append", (void **)&cu.slist_append},
        {"curl_slist_free_all", (void **)&cu.slist_free_all},
        {"curl_multi_init", (void **)&cu.multi_init},
        {"curl_multi_setopt", (void **)&cu.multi_setopt},
        {"curl_multi_add_handle", (void **)&cu.multi_add_handle},
        {"curl_multi_remove_handle", (void **)&cu.multi_remove_handle},
        {"curl_multi_perform", (void **)&cu.multi_perform},
        {"curl_multi_poll", (void **)&cu.multi_poll},
        {"curl_multi_wakeup", (void **)&cu.multi_wakeup},
        {"curl_multi_info_read", (void **)&cu.multi_info_read},
        {"curl_multi_cleanup", (void **)&cu.multi_cleanup},
    };
    for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
        void *p = dlsym(h, syms[i].name);
        if (!p) {
            snprintf(cu.why, sizeof(cu.why), "libcurl.so.4 has no \"%s\"", syms[i].name);
            return;
        }
        memcpy(syms[i].slot, &p, sizeof(p));
    }
    if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        snprintf(cu.why, sizeof(cu.why), "libcurl failed to initialise");
        return;
    }
    cu.ok = true; /* the handle stays open for the life of the process */
}

bool kube_curl_available(struct meme_err *err)
{
    pthread_once(&cu_once, cu_load);
    if (!cu.ok)
        meme_err_set(err, MEME_E_INTERNAL, "%s", cu.why);
    return cu.ok;
}

/* A credential from an exec plugin, cached until it expires. */
struct exec_cred {
    bool valid;
    time_t expires; /* 0: until the server refuses it */
    char *token;
    char *cert;
    char *key;
};

struct kube_client {
    struct kube_config cfg;
    pthread_mutex_t lock; /* the credential cache and the counters */
    pthread_mutex_t io;   /* the multi handle: one batch at a time */
    CURLM *multi;         /* keeps the open connections between batches */
    int timeout_ms;
    int last_status;
    long requests;
    volatile sig_atomic_t *stop;
    struct exec_cred cred;
};

struct kube_client *kube_client_new(struct kube_config *cfg)
{
    struct kube_client *c = xcalloc(1, sizeof(*c));
    c->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->io, NULL);
    c->timeout_ms = 10000;
    return c;
}

static void cred_clear(struct exec_cred *cr)
{
    if (cr->token)
        memset(cr->token, 0, strlen(cr->token));
    if (cr->key)
        memset(cr->key, 0, strlen(cr->key));
    free(cr->token);
    free(cr->cert);
    free(cr->key);
    memset(cr, 0, sizeof(*cr));
}

void kube_client_free(struct kube_client *c)
{
    if (!c)
        return;
    if (c->multi)
        cu.multi_cleanup(c->multi);
    cred_clear(&c->cred);
    kube_config_release(&c->cfg);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->io);
    free(c);
}

long kube_client_requests(struct kube_client *c)
{
    pthread_mutex_lock(&c->lock);
    long n = c->requests;
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void count_requests(struct kube_client *c, int n)
{
    pthread_mutex_lock(&c->lock);
    c->requests += n;
    pthread_mutex_unlock(&c->lock);
}

const struct kube_config *kube_client_config(const struct kube_client *c)
{
    return &c->cfg;
}

void kube_client_set_timeout(struct kube_client *c, int timeout_ms)
{
    c->timeout_ms = timeout_ms > 0 ? timeout_ms : 10000;
}

void kube_client_set_stop(struct kube_client *c, volatile sig_atomic_t *stop)
{
    c->stop = stop;
}

int kube_last_status(struct kube_client *c)
{
    pthread_mutex_lock(&c->lock);
    int s = c->last_status;
    pthread_mutex_unlock(&c->lock);
    return s;
}

/* RFC 3339 ("2026-11-23T14:00:00Z", fractions and offsets allowed) to time_t. */
static time_t parse_rfc3339(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return 0;
    time_t t = timegm(&tm);
    if (*p == '.')
        while (*++p >= '0' && *p <= '9')
            ;
    if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
        int h = atoi(p + 1), m = atoi(p + 4);
        t -= (*p == '+' ? 1 : -1) * (h * 3600 + m * 60);
    }
    return t;
}

static char *exec_info_json(const struct kube_client *c)
{
    json_t *spec = json_pack("{s:b}", "interactive", 0);
    if (c->cfg.exec.provide_cluster_info) {
        json_t *cl = json_pack("{s:s}", "server", c->cfg.server);
        if (c->cfg.tls_server_name)
            json_object_set_new(cl, "tls-server-name", json_string(c->cfg.tls_server_name));
        if (c->cfg.insecure)
            json_object_set_new(cl, "insecure-skip-tls-verify", json_true());
        json_object_set_new(spec, "cluster", cl);
    }
    json_t *info = json_pack("{s:s,s:s,s:o}", "apiVersion", c->cfg.exec.api_version, "kind",
                             "ExecCredential", "spec", spec);
    char *s = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return s;
}

/* Runs the exec plugin and fills c->cred. Call with c->lock held. */
static int run_exec(struct kube_client *c, struct meme_err *err)
{
    const struct kube_exec *ex = &c->cfg.exec;
    int out[2] = {-1, -1};
    int rc = 0;
    struct buf b = BUF_INIT;
    json_t *doc = NULL;
    char *info = exec_info_json(c);
    char *info_env = xasprintf("KUBERNETES_EXEC_INFO=%s", info);
    free(info);
    size_t n_env = 0, n_extra = 0, n_args = 0;
    while (environ[n_env])
        n_env++;
    while (ex->env && ex->env[n_extra])
        n_extra++;
    while (ex->args && ex->args[n_args])
        n_args++;
    char **envp = xcalloc(n_env + n_extra + 2, sizeof(*envp));
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++)
        if (strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) != 0)
            envp[k++] = environ[i];
    for (size_t i = 0; i < n_extra; i++)
        envp[k++] = ex->env[i];
    envp[k++] = info_env;
    char **argv = xcalloc(n_args + 2, sizeof(*argv));
    argv[0] = ex->command;
    for (size_t i = 0; i < n_args; i++)
        argv[i + 1] = ex->args[i];
    if (pipe2(out, O_CLOEXEC) != 0) {
        rc = meme_err_set(err, MEME_E_IO, "cannot run exec plugin: %s", strerror(errno));
        goto out;
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = meme_err_set(err, MEME_E_IO, "cannot run exec plugin: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(out[1], 1);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    close(out[1]);
    out[1] = -1;
    char chunk[4096];
    ssize_t got;
    while ((got = read(out[0], chunk, sizeof(chunk))) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 || b.len > (1u << 20))
            break;
        buf_append(&b, chunk, (size_t)got);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
        rc = meme_err_set(err, MEME_E_NOT_FOUND, "exec plugin \"%s\" could not be run%s%s",
                          ex->command, ex->install_hint ? ": " : "",
                          ex->install_hint ? ex->install_hint : "");
        goto out;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        rc = meme_err_set(err, MEME_E_IO, "exec plugin \"%s\" failed (exit status %d)", ex->command,
                          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        goto out;
    }
    json_error_t je;
    doc = json_loadb((const char *)b.data, b.len, 0, &je);
    json_t *st = doc ? json_object_get(doc, "status") : NULL;
    const char *kind = json_string_value(json_object_get(doc, "kind"));
    const char *av = json_string_value(json_object_get(doc, "apiVersion"));
    if (!st || !json_is_object(st) || !kind || strcmp(kind, "ExecCredential") != 0) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "exec plugin \"%s\" did not print an ExecCredential", ex->command);
        goto out;
    }
    if (av && strcmp(av, ex->api_version) != 0) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "exec plugin \"%s\" answered %s, the kubeconfig asks for %s", ex->command,
                          av, ex->api_version);
        goto out;
    }
    const char *tok = json_string_value(json_object_get(st, "token"));
    const char *cert = json_string_value(json_object_get(st, "clientCertificateData"));
    const char *key = json_string_value(json_object_get(st, "clientKeyData"));
    const char *exp = json_string_value(json_object_get(st, "expirationTimestamp"));
    if (!tok && !(cert && key)) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "exec plugin \"%s\" gave neither a token nor a client certificate "
                          "and key",
                          ex->command);
        goto out;
    }
    cred_clear(&c->cred);
    c->cred.valid = true;
    c->cred.token = tok ? xstrdup(tok) : NULL;
    c->cred.cert = cert ? xstrdup(cert) : NULL;
    c->cred.key = key ? xstrdup(key) : NULL;
    c->cred.expires = exp ? parse_rfc3339(exp) : 0;
out:
    if (out[0] >= 0)
        close(out[0]);
    if (out[1] >= 0)
        close(out[1]);
    free(envp);
    free(argv);
    free(info_env);
    json_decref(doc);
    if (b.data)
        memset(b.data, 0, b.len);
    buf_release(&b);
    return rc;
}

/* What a request authenticates with; strings owned by the struct. */
struct auth {
    char *header; /* "Authorization: Bearer ..." or NULL */
    char *cert_pem, *key_pem;
};

static void auth_release(struct auth *a)
{
    if (a->header)
        memset(a->header, 0, strlen(a->header));
    if (a->key_pem)
        memset(a->key_pem, 0, strlen(a->key_pem));
    free(a->header);
    free(a->cert_pem);
    free(a->key_pem);
    memset(a, 0, sizeof(*a));
}

static int auth_get(struct kube_client *c, bool refresh, struct auth *a, struct meme_err *err)
{
    memset(a, 0, sizeof(*a));
    const struct kube_config *k = &c->cfg;
    if (k->has_exec) {
        pthread_mutex_lock(&c->lock);
        int rc = 0;
        if (refresh || !c->cred.valid || (c->cred.expires && time(NULL) >= c->cred.expires - 10))
            rc = run_exec(c, err);
        if (rc == 0) {
            if (c->cred.token)
                a->header = xasprintf("Authorization: Bearer %s", c->cred.token);
            a->cert_pem = c->cred.cert ? xstrdup(c->cred.cert) : NULL;
            a->key_pem = c->cred.key ? xstrdup(c->cred.key) : NULL;
        }
        pthread_mutex_unlock(&c->lock);
        return rc;
    }
    if (k->token_file) {
        FILE *f = fopen(k->token_file, "r");
        if (!f)
            return meme_err_set(err, MEME_E_IO, "cannot read token file \"%s\": %s", k->token_file,
                                strerror(errno));
        char tok[16384];
        size_t n = fread(tok, 1, sizeof(tok) - 1, f);
        fclose(f);
        while (n > 0 && (tok[n - 1] == '\n' || tok[n - 1] == '\r' || tok[n - 1] == ' '))
            n--;
        tok[n] = 0;
        a->header = xasprintf("Authorization: Bearer %s", tok);
        memset(tok, 0, sizeof(tok));
        return 0;
    }
    if (k->token)
        a->header = xasprintf("Authorization: Bearer %s", k->token);
    return 0;
}

struct req {
    struct kube_client *c;
    CURL *h;
    int status; /* HTTP status of this request */
    struct buf body;
    /* what the transfer needs until it ends */
    char ebuf[CURL_ERROR_SIZE];
    char *url, *connect;
    struct curl_slist *hdr, *cto;
    /* watch */
    bool watch;
    kube_watch_fn fn;
    void *arg;
    bool stopped, gone;
    int event_err;
    char event_msg[256];
};

static void watch_line(struct req *r, const char *line, size_t len)
{
    json_error_t je;
    json_t *ev = json_loadb(line, len, 0, &je);
    if (!ev) {
        r->event_err = MEME_E_BAD_JSON;
        snprintf(r->event_msg, sizeof(r->event_msg), "watch sent a line that is not JSON");
        r->stopped = true;
        return;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    json_t *obj = json_object_get(ev, "object");
    if (type && strcmp(type, "ERROR") == 0) {
        json_int_t code = json_integer_value(json_object_get(obj, "code"));
        if (code == 410) {
            r->gone = true;
        } else {
            const char *raw = json_string_value(json_object_get(obj, "message"));
            char *m = term_sanitize_dup(raw ? raw : "unknown error");
            r->event_err = MEME_E_IO;
            snprintf(r->event_msg, sizeof(r->event_msg), "watch error %lld: %s", (long long)code,
                     m);
            free(m);
        }
        r->stopped = true;
    } else if (type && obj && r->fn(r->arg, type, obj) != 0) {
        r->stopped = true;
    }
    json_decref(ev);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;
    if (r->body.len + n > (64u << 20))
        return 0; /* a runaway answer: stop reading */
    buf_append(&r->body, ptr, n);
    if (!r->watch || r->status != 200)
        return n;
    for (;;) {
        uint8_t *nl = memchr(r->body.data, '\n', r->body.len);
        if (!nl)
            break;
        size_t ll = (size_t)(nl - r->body.data);
        if (ll > 0 && !r->stopped)
            watch_line(r, (const char *)r->body.data, ll);
        memmove(r->body.data, nl + 1, r->body.len - ll - 1);
        r->body.len -= ll + 1;
    }
    return r->stopped ? 0 : n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct req *r = ud;
    size_t n = size * nmemb;
    if (n > 9 && memcmp(ptr, "HTTP/", 5) == 0) {
        const char *sp = memchr(ptr, ' ', n);
        if (sp)
            r->status = atoi(sp + 1);
    }
    return n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    struct req *r = ud;
    return r->c->stop && *r->c->stop;
}

/* "keda.sh/v1alpha1 scaledobjects" for an API path, into out. */
static const char *resource_of(const char *path, char *out, size_t outsz)
{
    char gv[128] = "", res[128] = "";
    const char *p = path;
    if (strncmp(p, "/apis/", 6) == 0) {
        const char *s1 = strchr(p + 6, '/');
        const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
        snprintf(gv, sizeof(gv), "%.*s", (int)((s2 ? s2 : p + strlen(p)) - (p + 6)), p + 6);
        p = s2 ? s2 : "";
    } else if (strncmp(p, "/api/", 5) == 0) {
        const char *s1 = strchr(p + 5, '/');
        snprintf(gv, sizeof(gv), "%.*s", (int)((s1 ? s1 : p + strlen(p)) - (p + 5)), p + 5);
        p = s1 ? s1 : "";
    } else {
        snprintf(out, outsz, "%s", path);
        return out;
    }
    if (strncmp(p, "/namespaces/", 12) == 0) {
        const char *s = strchr(p + 12, '/');
        p = s ? s : "";
    }
    if (*p == '/')
        p++;
    snprintf(res, sizeof(res), "%.*s", (int)strcspn(p, "/?"), p);
    snprintf(out, outsz, "%s %s", gv, res[0] ? res : "resources");
    return out;
}

/* The API's Status message for a refusal, in plain words. */
static int status_error(struct kube_client *c, int http, const char *path, const struct buf *body,
                        struct meme_err *err)
{
    json_t *st = json_loadb((const char *)body->data, body->len, 0, NULL);
    const char *m = json_string_value(json_object_get(st, "message"));
    char *msg = term_sanitize_dup(m ? m : "");
    json_t *details = json_object_get(st, "details");
    bool named = json_object_get(details, "name") != NULL;
    int rc;
    const char *user = c->cfg.user ? c->cfg.user : "(none)";
    char shown[512];
    kube_config_server_shown(&c->cfg, shown, sizeof(shown));
    switch (http) {
    case 401:
        rc = meme_err_set(err, MEME_E_IO,
                          "unauthorized: the API server at %s does not accept the credentials "
                          "of user \"%s\" (expired or wrong token or certificate?)",
                          shown, user);
        break;
    case 403:
        rc = meme_err_set(err, MEME_E_IO, "forbidden: %s", *msg ? msg : path);
        break;
    case 404:
        if (named || !*msg || strstr(msg, "could not find the requested resource") == NULL)
            rc = meme_err_set(err, MEME_E_NOT_FOUND, "not found: %s", *msg ? msg : path);
        else {
            char what[300];
            rc = meme_err_set(err, MEME_E_NOT_FOUND,
                              "the cluster does not serve %s (is the CRD installed?)",
                              resource_of(path, what, sizeof(what)));
        }
        break;
    default:
        rc = meme_err_set(err, http >= 500 ? MEME_E_UNREACHABLE : MEME_E_IO,
                          "the API server answered %d for %s%s%s", http, path, *msg ? ": " : "",
                          msg);
    }
    free(msg);
    json_decref(st);
    return rc;
}

static int curl_error(struct kube_client *c, CURLcode cc, const char *ebuf, struct meme_err *err)
{
    const char *why = ebuf[0] ? ebuf : cu.easy_strerror(cc);
    char shown[512];
    kube_config_server_shown(&c->cfg, shown, sizeof(shown));
    switch (cc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return meme_err_set(err, MEME_E_UNREACHABLE, "cannot reach the API server at %s: %s", shown,
                            why);
    case CURLE_OPERATION_TIMEDOUT:
        return meme_err_set(err, MEME_E_TIMEOUT, "the API server at %s did not answer in time",
                            shown);
    case CURLE_PEER_FAILED_VERIFICATION:
        return meme_err_set(err, MEME_E_IO,
                            "the API server at %s is not trusted (check certificate-authority "
                            "in the kubeconfig): %s",
                            shown, why);
    case CURLE_SSL_CERTPROBLEM:
        return meme_err_set(err, MEME_E_IO, "bad client certificate for user \"%s\": %s",
                            c->cfg.user ? c->cfg.user : "", why);
    case CURLE_SSL_CACERT_BADFILE:
        return meme_err_set(err, MEME_E_IO, "bad certificate-authority for cluster \"%s\": %s",
                            c->cfg.cluster ? c->cfg.cluster : "", why);
    case CURLE_ABORTED_BY_CALLBACK:
        return meme_err_set(err, MEME_E_SHUTTING_DOWN, "stopped");
    default:
        return meme_err_set(err, MEME_E_IO, "request to the API server at %s failed: %s", shown,
                            why);
    }
}

/* The URL for path, and the --connect-to mapping when tls-server-name is set. */
static void build_url(const struct kube_config *k, const char *path, char **url, char **connect)
{
    *connect = NULL;
    if (!k->tls_server_name) {
        *url = xasprintf("%s%s", k->server, path);
        return;
    }
    /* Verify and send SNI for tls-server-name while connecting to the server's
     * address: curl does both for the URL's host, so the URL names
     * tls-server-name and CONNECT_TO points it at the real host. */
    const char *hs = strstr(k->server, "://");
    hs = hs ? hs + 3 : k->server;
    const char *hend = hs;
    if (*hs == '[')
        hend = strchr(hs, ']') ? strchr(hs, ']') + 1 : hs + strlen(hs);
    else
        while (*hend && *hend != ':' && *hend != '/')
            hend++;
    const char *port = *hend == ':' ? hend + 1 : "443";
    size_t plen = strspn(port, "0123456789");
    *url = xasprintf("https://%s:%.*s%s", k->tls_server_name, (int)plen, port, path);
    *connect = xasprintf("%s:%.*s:%.*s:%.*s", k->tls_server_name, (int)plen, port, (int)(hend - hs),
                         hs, (int)plen, port);
}

/* Sets up r->h for path (creating the handle when it has none); release_req()
 * undoes it. Nothing is sent until the handle is performed. */
static void setup_req(struct kube_client *c, struct req *r, const char *path, const struct auth *a,
                      long timeout_ms)
{
    const struct kube_config *k = &c->cfg;
    if (!r->h)
        r->h = cu.easy_init();
    CURL *h = r->h;
    r->c = c;
    r->ebuf[0] = 0;
    build_url(k, path, &r->url, &r->connect);
    r->hdr = cu.slist_append(NULL, "Accept: application/json");
    r->hdr = cu.slist_append(r->hdr, "User-Agent: memectl/" MEME_VERSION);
    if (a->header)
        r->hdr = cu.slist_append(r->hdr, a->header);
    r->cto = r->connect ? cu.slist_append(NULL, r->connect) : NULL;
    cu.easy_setopt(h, CURLOPT_URL, r->url);
    cu.easy_setopt(h, CURLOPT_HTTPHEADER, r->hdr);
    cu.easy_setopt(h, CURLOPT_CONNECT_TO, r->cto);
    cu.easy_setopt(h, CURLOPT_ERRORBUFFER, r->ebuf);
    cu.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    cu.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    cu.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
    cu.easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    /* HTTP/2 where the server offers it (API servers do): then every request
     * of a batch shares one TLS connection. PIPEWAIT makes the later requests
     * wait for the first connection to know whether it multiplexes, instead
     * of each opening its own. */
    cu.easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    cu.easy_setopt(h, CURLOPT_PIPEWAIT, 1L);
    cu.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    cu.easy_setopt(h, CURLOPT_WRITEDATA, r);
    cu.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    cu.easy_setopt(h, CURLOPT_HEADERDATA, r);
    cu.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    cu.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    cu.easy_setopt(h, CURLOPT_XFERINFODATA, r);
    cu.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
    cu.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, k->insecure ? 0L : 1L);
    cu.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, k->insecure ? 0L : 2L);
    /* Blobs are copied by curl (CURL_BLOB_COPY): locals are fine. */
    struct curl_blob ca = {k->ca_data, k->ca_len, CURL_BLOB_COPY};
    if (k->ca_data)
        cu.easy_setopt(h, CURLOPT_CAINFO_BLOB, &ca);
    else if (k->ca_file)
        cu.easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    struct curl_blob cb, kb;
    if (a->cert_pem && a->key_pem) {
        cb = (struct curl_blob){a->cert_pem, strlen(a->cert_pem), CURL_BLOB_COPY};
        kb = (struct curl_blob){a->key_pem, strlen(a->key_pem), CURL_BLOB_COPY};
        cu.easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        cu.easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
    } else {
        if (k->cert_data) {
            cb = (struct curl_blob){k->cert_data, k->cert_len, CURL_BLOB_COPY};
            cu.easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        } else if (k->cert_file) {
            cu.easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
        }
        if (k->key_data) {
            kb = (struct curl_blob){k->key_data, k->key_len, CURL_BLOB_COPY};
            cu.easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
        } else if (k->key_file) {
            cu.easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
        }
    }
    /* Without proxy-url, curl follows https_proxy and no_proxy as kubectl does. */
    if (k->proxy_url)
        cu.easy_setopt(h, CURLOPT_PROXY, k->proxy_url);
    r->status = 0;
    r->body.len = 0;
}

/* Frees what setup_req() made; the handle stays for reuse unless free_handle. */
static void release_req(struct req *r, bool free_handle)
{
    if (r->h) {
        /* Drop references to memory about to be freed before the handle is reused. */
        cu.easy_setopt(r->h, CURLOPT_HTTPHEADER, NULL);
        cu.easy_setopt(r->h, CURLOPT_CONNECT_TO, NULL);
        cu.easy_setopt(r->h, CURLOPT_ERRORBUFFER, NULL);
        if (free_handle) {
            cu.easy_cleanup(r->h);
            r->h = NULL;
        }
    }
    cu.slist_free_all(r->hdr);
    cu.slist_free_all(r->cto);
    free(r->url);
    free(r->connect);
    r->hdr = r->cto = NULL;
    r->url = r->connect = NULL;
}

static int result_of(struct kube_client *c, struct req *r, CURLcode cc, struct meme_err *err)
{
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && r->stopped))
        return curl_error(c, cc, r->ebuf, err);
    return 0;
}

/* The client's multi handle: HTTP/2 multiplexing, else a small pool. */
static CURLM *client_multi(struct kube_client *c)
{
    if (!c->multi) {
        c->multi = cu.multi_init();
        cu.multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
        cu.multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)KUBE_MAX_CONNECTIONS);
    }
    return c->multi;
}

/* Performs reqs[0..n-1] together on multi; each gets its CURLcode in codes. */
static void run_all(struct kube_client *c, CURLM *m, struct req **reqs, int n, CURLcode *codes)
{
    for (int i = 0; i < n; i++) {
        codes[i] = CURLE_OK;
        cu.multi_add_handle(m, reqs[i]->h);
    }
    int left = n, running = 0;
    while (left > 0) {
        cu.multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = cu.multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            for (int i = 0; i < n; i++)
                if (reqs[i]->h == msg->easy_handle) {
                    codes[i] = msg->data.result;
                    cu.multi_remove_handle(m, reqs[i]->h);
                    left--;
                    break;
                }
        }
        if (left > 0)
            cu.multi_poll(m, NULL, 0, 100, NULL);
    }
}

int kube_get_batch(struct kube_client *c, struct kube_batch_req *b, int n, struct meme_err *err)
{
    for (int i = 0; i < n; i++) {
        b[i].out = NULL;
        b[i].rc = 0;
        b[i].http = 0;
        memset(&b[i].err, 0, sizeof(b[i].err));
    }
    if (n <= 0)
        return 0;
    if (!kube_curl_available(err))
        return MEME_E_INTERNAL;
    struct req *rs = xcalloc((size_t)n, sizeof(*rs));
    struct req **todo = xcalloc((size_t)n, sizeof(*todo));
    CURLcode *codes = xcalloc((size_t)n, sizeof(*codes));
    int rc = 0;
    pthread_mutex_lock(&c->io);
    CURLM *m = client_multi(c);
    for (int attempt = 0; attempt < 2; attempt++) {
        struct auth a;
        if ((rc = auth_get(c, attempt > 0, &a, err)) != 0)
            break;
        int nt = 0;
        for (int i = 0; i < n; i++) {
            /* the second round: only what an exec credential failed */
            if (attempt > 0 && !(b[i].rc == 0 && rs[i].status == 401))
                continue;
            setup_req(c, &rs[i], b[i].path, &a, c->timeout_ms);
            todo[nt++] = &rs[i];
        }
        count_requests(c, nt);
        run_all(c, m, todo, nt, codes);
        for (int k = 0; k < nt; k++) {
            struct req *r = todo[k];
            int i = (int)(r - rs);
            b[i].rc = result_of(c, r, codes[k], &b[i].err);
            b[i].http = r->status;
            release_req(r, false);
        }
        auth_release(&a);
        bool again = false;
        for (int i = 0; i < n; i++)
            again |= b[i].rc == 0 && rs[i].status == 401;
        /* An exec credential the server refuses is fetched again, once. */
        if (!again || !c->cfg.has_exec)
            break;
    }
    pthread_mutex_unlock(&c->io);
    if (rc == 0) {
        for (int i = 0; i < n; i++) {
            struct req *r = &rs[i];
            if (b[i].rc == 0 && r->status != 200)
                b[i].rc = status_error(c, r->status, b[i].path, &r->body, &b[i].err);
            if (b[i].rc == 0) {
                json_error_t je;
                b[i].out = json_loadb((const char *)r->body.data, r->body.len, 0, &je);
                if (!b[i].out)
                    b[i].rc =
                        meme_err_set(&b[i].err, MEME_E_BAD_JSON,
                                     "the API server sent bad JSON for %s: %s", b[i].path, je.text);
            }
        }
        pthread_mutex_lock(&c->lock);
        c->last_status = rs[n - 1].status;
        pthread_mutex_unlock(&c->lock);
    }
    for (int i = 0; i < n; i++) {
        release_req(&rs[i], true);
        buf_release(&rs[i].body);
    }
    free(rs);
    free(todo);
    free(codes);
    return rc;
}

int kube_get(struct kube_client *c, const char *path, json_t **out, struct meme_err *err)
{
    struct kube_batch_req b = {.path = path};
    int rc = kube_get_batch(c, &b, 1, err);
    *out = NULL;
    if (rc != 0)
        return rc;
    if (b.rc != 0) {
        if (err)
            *err = b.err;
        return b.rc;
    }
    *out = b.out;
    return 0;
}

static char *watch_path(const char *path, const char *resource_version, int timeout_s)
{
    return xasprintf("%s%swatch=1&allowWatchBookmarks=true&timeoutSeconds=%d%s%s", path,
                     strchr(path, '?') ? "&" : "?", timeout_s > 0 ? timeout_s : 300,
                     resource_version && *resource_version ? "&resourceVersion=" : "",
                     resource_version && *resource_version ? resource_version : "");
}

/* How a finished watch ended: 0, KUBE_GONE or a negative code. */
static int watch_result(struct kube_client *c, struct req *r, int rc, const char *path,
                        struct meme_err *err)
{
    if (rc == 0 && r->status == 410)
        rc = KUBE_GONE;
    else if (rc == 0 && r->status != 200)
        rc = status_error(c, r->status, path, &r->body, err);
    else if (rc == 0 && r->gone)
        rc = KUBE_GONE;
    else if (rc == 0 && r->event_err)
        rc = meme_err_set(err, r->event_err, "%s", r->event_msg);
    return rc;
}

int kube_watch(struct kube_client *c, const char *path, const char *resource_version, int timeout_s,
               kube_watch_fn fn, void *arg, struct meme_err *err)
{
    if (!kube_curl_available(err))
        return MEME_E_INTERNAL;
    struct req r;
    memset(&r, 0, sizeof(r));
    r.watch = true;
    r.fn = fn;
    r.arg = arg;
    int rc = 0;
    char *full = watch_path(path, resource_version, timeout_s);
    struct auth a;
    if ((rc = auth_get(c, false, &a, err)) != 0)
        goto out;
    setup_req(c, &r, full, &a, (long)(timeout_s > 0 ? timeout_s : 300) * 1000 + 30000);
    count_requests(c, 1);
    rc = result_of(c, &r, cu.easy_perform(r.h), err);
    auth_release(&a);
    rc = watch_result(c, &r, rc, path, err);
out:
    release_req(&r, true);
    buf_release(&r.body);
    free(full);
    return rc;
}

/* ---- several watches on one thread ---- */

struct ws_watch {
    int id;
    char *path;
    struct req r;
};

struct kube_watchset {
    struct kube_client *c;
    CURLM *multi;
    struct ws_watch **w; /* each on its own: curl keeps pointers into it */
    int n, cap;
};

struct kube_watchset *kube_watchset_new(struct kube_client *c)
{
    struct kube_watchset *ws = xcalloc(1, sizeof(*ws));
    ws->c = c;
    return ws;
}

int kube_watchset_add(struct kube_watchset *ws, int id, const char *path,
                      const char *resource_version, int timeout_s, kube_watch_fn fn, void *arg,
                      struct meme_err *err)
{
    if (!kube_curl_available(err))
        return MEME_E_INTERNAL;
    if (!ws->multi) {
        ws->multi = cu.multi_init();
        /* Watches stay open: on HTTP/2 they share one connection; on
         * HTTP/1.1 each needs its own, so no cap here. */
        cu.multi_setopt(ws->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    }
    struct auth a;
    int rc = auth_get(ws->c, false, &a, err);
    if (rc != 0)
        return rc;
    if (ws->n == ws->cap) {
        ws->cap = ws->cap ? 2 * ws->cap : 8;
        ws->w = xrealloc(ws->w, (size_t)ws->cap * sizeof(*ws->w));
    }
    struct ws_watch *w = xcalloc(1, sizeof(*w));
    ws->w[ws->n++] = w;
    w->id = id;
    w->path = xstrdup(path);
    w->r.watch = true;
    w->r.fn = fn;
    w->r.arg = arg;
    char *full = watch_path(path, resource_version, timeout_s);
    setup_req(ws->c, &w->r, full, &a, (long)(timeout_s > 0 ? timeout_s : 300) * 1000 + 30000);
    free(full);
    auth_release(&a);
    count_requests(ws->c, 1);
    cu.multi_add_handle(ws->multi, w->r.h);
    return 0;
}

static void ws_drop(struct kube_watchset *ws, int i)
{
    struct ws_watch *w = ws->w[i];
    cu.multi_remove_handle(ws->multi, w->r.h);
    release_req(&w->r, true);
    buf_release(&w->r.body);
    free(w->path);
    free(w);
    ws->w[i] = ws->w[--ws->n];
}

int kube_watchset_run(struct kube_watchset *ws, int wait_ms, int *id, int *result,
                      struct meme_err *err)
{
    if (!ws->multi || ws->n == 0) {
        if (wait_ms > 0)
            usleep((useconds_t)wait_ms * 1000);
        return 0;
    }
    int running = 0;
    cu.multi_perform(ws->multi, &running);
    CURLMsg *msg;
    int q;
    while ((msg = cu.multi_info_read(ws->multi, &q)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (int i = 0; i < ws->n; i++) {
            struct ws_watch *w = ws->w[i];
            if (w->r.h != msg->easy_handle)
                continue;
            int rc = result_of(ws->c, &w->r, msg->data.result, err);
            rc = watch_result(ws->c, &w->r, rc, w->path, err);
            *id = w->id;
            *result = rc;
            ws_drop(ws, i);
            return 1;
        }
    }
    cu.multi_poll(ws->multi, NULL, 0, wait_ms, NULL);
    return 0;
}

void kube_watchset_wakeup(struct kube_watchset *ws)
{
    if (ws && ws->multi)
        cu.multi_wakeup(ws->multi);
}

int kube_watchset_count(const struct kube_watchset *ws)
{
    return ws->n;
}

void kube_watchset_free(struct kube_watchset *ws)
{
    if (!ws)
        return;
    while (ws->n > 0)
        ws_drop(ws, ws->n - 1);
    if (ws->multi)
        cu.multi_cleanup(ws->multi);
    free(ws->w);
    free(ws);
}
