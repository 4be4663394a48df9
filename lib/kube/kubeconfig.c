/*
 * kubeconfig loading with libyaml: each file is parsed into a YAML document,
 * relative paths are resolved against that file's directory, and lookups
 * walk the files in order so the first file to name an entry wins, which is
 * how kubectl merges $KUBECONFIG. In-cluster configuration reads the
 * mounted service account. Only lib/kube/kube.c consumes the result.
 */
#include "kube/kubeconfig.h"
#include "mq/proto.h"
#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

#define KC_MAX_FILES 16
#define SA_DIR       "/var/run/secrets/kubernetes.io/serviceaccount"

struct kc_file {
    char *path;
    char *dir;
    yaml_document_t doc;
    bool loaded;
    yaml_node_t *root; /* a mapping, or NULL for an empty file */
};

struct kc_set {
    struct kc_file files[KC_MAX_FILES];
    int n;
};

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

static int read_file(const char *path, char **text, size_t *len, struct meme_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return meme_err_set(err, errno == ENOENT ? MEME_E_NOT_FOUND : MEME_E_IO,
                            "cannot open kubeconfig \"%s\": %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *b = xmalloc(cap);
    size_t got;
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            b = xrealloc(b, cap *= 2);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(b);
        return meme_err_set(err, MEME_E_IO, "cannot read \"%s\"", path);
    }
    b[n] = 0;
    *text = b;
    *len = n;
    return 0;
}

static int parse_doc(struct kc_file *f, const char *text, size_t len, struct meme_err *err)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    int rc = 0;
    if (!yaml_parser_load(&p, &f->doc)) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "kubeconfig \"%s\" is not valid YAML: line %zu column %zu: %s", f->path,
                          p.problem_mark.line + 1, p.problem_mark.column + 1,
                          p.problem ? p.problem : "parse error");
        goto out;
    }
    f->loaded = true;
    yaml_node_t *root = yaml_document_get_root_node(&f->doc);
    if (root && root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0)
        root = NULL;
    if (root && root->type != YAML_MAPPING_NODE) {
        rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                          "kubeconfig \"%s\" is not a mapping of clusters, users and contexts",
                          f->path);
        goto out;
    }
    f->root = root;
out:
    yaml_parser_delete(&p);
    return rc;
}

static yaml_node_t *ymap_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pr = map->data.mapping.pairs.start; pr < map->data.mapping.pairs.top;
         pr++) {
        yaml_node_t *k = yaml_document_get_node(d, pr->key);
        if (k && k->type == YAML_SCALAR_NODE && strlen(key) == k->data.scalar.length &&
            memcmp(k->data.scalar.value, key, k->data.scalar.length) == 0)
            return yaml_document_get_node(d, pr->value);
    }
    return NULL;
}

/* The scalar's text (borrowed), or NULL when absent, empty or not a scalar. */
static const char *ystr(yaml_node_t *n)
{
    if (!n || n->type != YAML_SCALAR_NODE || n->data.scalar.length == 0)
        return NULL;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
        (strcmp((const char *)n->data.scalar.value, "null") == 0 ||
         strcmp((const char *)n->data.scalar.value, "~") == 0))
        return NULL;
    return (const char *)n->data.scalar.value;
}

static bool ybool(yaml_node_t *n)
{
    const char *s = ystr(n);
    return s && (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "yes") == 0);
}

/* In file f, the inner mapping `kind` of the list entry named name. */
static yaml_node_t *find_in_file(struct kc_file *f, const char *list, const char *inner,
                                 const char *name, struct meme_err *err, int *rc)
{
    yaml_node_t *seq = ymap_get(&f->doc, f->root, list);
    if (!seq || (seq->type == YAML_SCALAR_NODE && !ystr(seq)))
        return NULL;
    if (seq->type != YAML_SEQUENCE_NODE) {
        *rc = meme_err_set(err, MEME_E_BAD_REQUEST, "kubeconfig \"%s\": \"%s\" is not a list",
                           f->path, list);
        return NULL;
    }
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *e = yaml_document_get_node(&f->doc, *it);
        const char *n = ystr(ymap_get(&f->doc, e, "name"));
        if (n && strcmp(n, name) == 0) {
            yaml_node_t *in = ymap_get(&f->doc, e, inner);
            if (in && in->type != YAML_MAPPING_NODE) {
                *rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                                   "kubeconfig \"%s\": %s \"%s\" has no \"%s\" mapping", f->path,
                                   list, name, inner);
                return NULL;
            }
            return in;
        }
    }
    return NULL;
}

/* The first file (in merge order) that names the entry; sets *which. */
static yaml_node_t *find_named(struct kc_set *s, const char *list, const char *inner,
                               const char *name, struct kc_file **which, struct meme_err *err,
                               int *rc)
{
    for (int i = 0; i < s->n; i++) {
        if (!s->files[i].root)
            continue;
        yaml_node_t *n = find_in_file(&s->files[i], list, inner, name, err, rc);
        if (*rc)
            return NULL;
        if (n) {
            *which = &s->files[i];
            return n;
        }
    }
    return NULL;
}

static char *resolve_path(const struct kc_file *f, const char *p)
{
    if (!p)
        return NULL;
    if (p[0] == '/')
        return xstrdup(p);
    if (p[0] == '~' && p[1] == '/' && getenv("HOME"))
        return xasprintf("%s/%s", getenv("HOME"), p + 2);
    return xasprintf("%s/%s", f->dir, p);
}

static int decode_data(const struct kc_file *f, const char *field, const char *b64, uint8_t **out,
                       size_t *len, struct meme_err *err)
{
    if (!b64)
        return 0;
    if (proto_base64_decode(b64, strlen(b64), out, len) != 0)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "kubeconfig \"%s\": \"%s\" is not base64",
                            f->path, field);
    return 0;
}

static char **string_list(yaml_document_t *d, yaml_node_t *seq)
{
    size_t n = 0;
    if (seq && seq->type == YAML_SEQUENCE_NODE)
        n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    char **v = xcalloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = ystr(yaml_document_get_node(d, seq->data.sequence.items.start[i]));
        v[k++] = xstrdup(s ? s : "");
    }
    return v;
}

static char **env_list(yaml_document_t *d, yaml_node_t *seq)
{
    size_t n = 0;
    if (seq && seq->type == YAML_SEQUENCE_NODE)
        n = (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
    char **v = xcalloc(n + 1, sizeof(*v));
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *e = yaml_document_get_node(d, seq->data.sequence.items.start[i]);
        const char *name = ystr(ymap_get(d, e, "name"));
        const char *val = ystr(ymap_get(d, e, "value"));
        if (name)
            v[k++] = xasprintf("%s=%s", name, val ? val : "");
    }
    return v;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static int fill_cluster(struct kube_config *c, struct kc_file *f, yaml_node_t *cl,
                        struct meme_err *err)
{
    yaml_document_t *d = &f->doc;
    const char *server = ystr(ymap_get(d, cl, "server"));
    if (!server)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "kubeconfig \"%s\": cluster \"%s\" has no server", f->path, c->cluster);
    size_t sl = strlen(server);
    while (sl > 0 && server[sl - 1] == '/')
        sl--;
    c->server = xstrndup(server, sl);
    c->ca_file = resolve_path(f, ystr(ymap_get(d, cl, "certificate-authority")));
    c->insecure = ybool(ymap_get(d, cl, "insecure-skip-tls-verify"));
    c->tls_server_name = dup_or_null(ystr(ymap_get(d, cl, "tls-server-name")));
    c->proxy_url = dup_or_null(ystr(ymap_get(d, cl, "proxy-url")));
    return decode_data(f, "certificate-authority-data",
                       ystr(ymap_get(d, cl, "certificate-authority-data")), &c->ca_data, &c->ca_len,
                       err);
}

static int fill_user(struct kube_config *c, struct kc_file *f, yaml_node_t *u, struct meme_err *err)
{
    yaml_document_t *d = &f->doc;
    int rc;
    c->cert_file = resolve_path(f, ystr(ymap_get(d, u, "client-certificate")));
    c->key_file = resolve_path(f, ystr(ymap_get(d, u, "client-key")));
    c->token = dup_or_null(ystr(ymap_get(d, u, "token")));
    c->token_file = resolve_path(f, ystr(ymap_get(d, u, "tokenFile")));
    if ((rc = decode_data(f, "client-certificate-data",
                          ystr(ymap_get(d, u, "client-certificate-data")), &c->cert_data,
                          &c->cert_len, err)) != 0)
        return rc;
    if ((rc = decode_data(f, "client-key-data", ystr(ymap_get(d, u, "client-key-data")),
                          &c->key_data, &c->key_len, err)) != 0)
        return rc;
    yaml_node_t *ex = ymap_get(d, u, "exec");
    if (ex && ex->type == YAML_MAPPING_NODE) {
        const char *cmd = ystr(ymap_get(d, ex, "command"));
        if (!cmd)
            return meme_err_set(err, MEME_E_BAD_REQUEST,
                                "kubeconfig \"%s\": user \"%s\" has exec without a command",
                                f->path, c->user);
        c->has_exec = true;
        c->exec.command = strchr(cmd, '/') ? resolve_path(f, cmd) : xstrdup(cmd);
        c->exec.args = string_list(d, ymap_get(d, ex, "args"));
        c->exec.env = env_list(d, ymap_get(d, ex, "env"));
        const char *av = ystr(ymap_get(d, ex, "apiVersion"));
        c->exec.api_version = xstrdup(av ? av : "client.authentication.k8s.io/v1");
        c->exec.install_hint = dup_or_null(ystr(ymap_get(d, ex, "installHint")));
        c->exec.provide_cluster_info = ybool(ymap_get(d, ex, "provideClusterInfo"));
    }
    if (ymap_get(d, u, "auth-provider"))
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "kubeconfig \"%s\": user \"%s\" uses an auth-provider, which kubectl "
                            "removed; use an exec credential plugin",
                            f->path, c->user);
    return 0;
}

static char *read_small(const char *path)
{
    char *t = NULL;
    size_t n = 0;
    if (read_file(path, &t, &n, NULL) != 0)
        return NULL;
    while (n > 0 && (t[n - 1] == '\n' || t[n - 1] == '\r' || t[n - 1] == ' '))
        t[--n] = 0;
    return t;
}

static int load_in_cluster(struct kube_config *c, const struct kube_config_opts *o,
                           struct meme_err *err)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = o && o->sa_dir ? o->sa_dir : SA_DIR;
    if (!host || !*host || !port || !*port)
        return meme_err_set(err, MEME_E_NOT_FOUND,
                            "no cluster configured: no kubeconfig (set KUBECONFIG or "
                            "--kubeconfig, or create ~/.kube/config) and not inside a pod");
    char *tf = xasprintf("%s/token", dir);
    struct stat st;
    if (stat(tf, &st) != 0) {
        int rc = meme_err_set(err, MEME_E_NOT_FOUND,
                              "no cluster configured: inside a pod, but no service account "
                              "token at \"%s\"",
                              tf);
        free(tf);
        return rc;
    }
    c->in_cluster = true;
    c->source = xstrdup("in-cluster");
    c->context = xstrdup("in-cluster");
    c->cluster = xstrdup("in-cluster");
    c->user = xstrdup("service-account");
    c->server = strchr(host, ':') ? xasprintf("https://[%s]:%s", host, port)
                                  : xasprintf("https://%s:%s", host, port);
    c->token_file = tf;
    c->ca_file = xasprintf("%s/ca.crt", dir);
    char *nsf = xasprintf("%s/namespace", dir);
    char *ns = read_small(nsf);
    free(nsf);
    if (o && o->namespace) {
        free(ns);
        ns = xstrdup(o->namespace);
    }
    c->namespace = ns ? ns : xstrdup("default");
    return 0;
}

/* Resolves the chosen context from the parsed files into c. */
static int resolve(struct kube_config *c, struct kc_set *s, const struct kube_config_opts *o,
                   struct meme_err *err)
{
    int rc = 0;
    const char *ctx = o ? o->context : NULL;
    for (int i = 0; !ctx && i < s->n; i++)
        if (s->files[i].root)
            ctx = ystr(ymap_get(&s->files[i].doc, s->files[i].root, "current-context"));
    if (!ctx)
        return meme_err_set(err, MEME_E_NOT_FOUND,
                            "kubeconfig \"%s\" has no current-context (pass --context)", c->source);
    struct kc_file *fc = NULL, *fcl = NULL, *fu = NULL;
    yaml_node_t *cx = find_named(s, "contexts", "context", ctx, &fc, err, &rc);
    if (rc)
        return rc;
    if (!cx)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "context \"%s\" is not in kubeconfig \"%s\"",
                            ctx, c->source);
    c->context = xstrdup(ctx);
    const char *cl = ystr(ymap_get(&fc->doc, cx, "cluster"));
    const char *us = ystr(ymap_get(&fc->doc, cx, "user"));
    const char *ns = ystr(ymap_get(&fc->doc, cx, "namespace"));
    c->namespace = xstrdup(o && o->namespace ? o->namespace : ns ? ns : "default");
    if (!cl)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "context \"%s\" names no cluster", ctx);
    c->cluster = xstrdup(cl);
    yaml_node_t *cln = find_named(s, "clusters", "cluster", cl, &fcl, err, &rc);
    if (rc)
        return rc;
    if (!cln)
        return meme_err_set(err, MEME_E_BAD_REQUEST,
                            "context \"%s\" names cluster \"%s\", which is not in kubeconfig "
                            "\"%s\"",
                            ctx, cl, c->source);
    if ((rc = fill_cluster(c, fcl, cln, err)) != 0)
        return rc;
    if (us) {
        c->user = xstrdup(us);
        yaml_node_t *un = find_named(s, "users", "user", us, &fu, err, &rc);
        if (rc)
            return rc;
        /* kubectl treats a missing user as no credentials; so do we. */
        if (un && (rc = fill_user(c, fu, un, err)) != 0)
            return rc;
    }
    return 0;
}

static void set_release(struct kc_set *s)
{
    for (int i = 0; i < s->n; i++) {
        if (s->files[i].loaded)
            yaml_document_delete(&s->files[i].doc);
        free(s->files[i].path);
        free(s->files[i].dir);
    }
    s->n = 0;
}

static int add_file(struct kc_set *s, const char *path, const char *text, size_t len,
                    struct meme_err *err)
{
    if (s->n >= KC_MAX_FILES)
        return meme_err_set(err, MEME_E_BAD_REQUEST, "more than %d kubeconfig files", KC_MAX_FILES);
    struct kc_file *f = &s->files[s->n++];
    memset(f, 0, sizeof(*f));
    f->path = xstrdup(path);
    f->dir = dir_of(path);
    return parse_doc(f, text, len, err);
}

static int add_path(struct kc_set *s, const char *path, bool must_exist, struct meme_err *err)
{
    char *text = NULL;
    size_t len = 0;
    int rc = read_file(path, &text, &len, err);
    if (rc == MEME_E_NOT_FOUND && !must_exist)
        return 0;
    if (rc) {
        if (err)
            err->code = MEME_E_BAD_REQUEST;
        return MEME_E_BAD_REQUEST;
    }
    rc = add_file(s, path, text, len, err);
    free(text);
    return rc;
}

static void join_sources(struct kube_config *c, struct kc_set *s)
{
    size_t n = 1;
    for (int i = 0; i < s->n; i++)
        n += strlen(s->files[i].path) + 1;
    c->source = xcalloc(n, 1);
    for (int i = 0; i < s->n; i++) {
        if (i)
            strcat(c->source, ":");
        strcat(c->source, s->files[i].path);
    }
}

static bool set_is_empty(struct kc_set *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->files[i].root)
            return false;
    return true;
}

int kube_config_load(struct kube_config *c, const struct kube_config_opts *o, struct meme_err *err)
{
    memset(c, 0, sizeof(*c));
    struct kc_set s;
    s.n = 0;
    int rc = 0;
    if (o && o->kubeconfig) {
        rc = add_path(&s, o->kubeconfig, true, err);
    } else if (getenv("KUBECONFIG") && *getenv("KUBECONFIG")) {
        char *list = xstrdup(getenv("KUBECONFIG"));
        char *save = NULL;
        for (char *p = strtok_r(list, ":", &save); p && !rc; p = strtok_r(NULL, ":", &save)) {
            bool dup = false;
            for (int i = 0; i < s.n; i++)
                dup |= strcmp(s.files[i].path, p) == 0;
            if (!dup)
                rc = add_path(&s, p, false, err);
        }
        free(list);
    } else if (getenv("HOME")) {
        char *p = xasprintf("%s/.kube/config", getenv("HOME"));
        rc = add_path(&s, p, false, err);
        free(p);
    }
    if (rc)
        goto out;
    if (set_is_empty(&s) && !(o && o->kubeconfig)) {
        rc = load_in_cluster(c, o, err);
        goto out;
    }
    join_sources(c, &s);
    rc = resolve(c, &s, o, err);
out:
    set_release(&s);
    if (rc)
        kube_config_release(c);
    return rc;
}

int kube_config_load_text(struct kube_config *c, const char *text, size_t len, const char *path,
                          const struct kube_config_opts *o, struct meme_err *err)
{
    memset(c, 0, sizeof(*c));
    struct kc_set s;
    s.n = 0;
    int rc = add_file(&s, path, text, len, err);
    if (rc == 0) {
        join_sources(c, &s);
        rc = resolve(c, &s, o, err);
    }
    set_release(&s);
    if (rc)
        kube_config_release(c);
    return rc;
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void kube_config_release(struct kube_config *c)
{
    if (!c)
        return;
    free(c->source);
    free(c->context);
    free(c->cluster);
    free(c->user);
    free(c->server);
    free(c->namespace);
    free(c->ca_file);
    free(c->ca_data);
    free(c->tls_server_name);
    free(c->proxy_url);
    free(c->cert_file);
    free(c->cert_data);
    free(c->key_file);
    if (c->key_data)
        memset(c->key_data, 0, c->key_len);
    free(c->key_data);
    if (c->token)
        memset(c->token, 0, strlen(c->token));
    free(c->token);
    free(c->token_file);
    free(c->exec.command);
    free_strv(c->exec.args);
    free_strv(c->exec.env);
    free(c->exec.api_version);
    free(c->exec.install_hint);
    memset(c, 0, sizeof(*c));
}

const char *kube_config_server_shown(const struct kube_config *c, char *out, size_t outsz)
{
    const char *s = c->server ? c->server : "";
    const char *host = strstr(s, "://");
    host = host ? host + 3 : s;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        snprintf(out, outsz, "%.*s***%s", (int)(host - s), s, at);
    else
        snprintf(out, outsz, "%s", s);
    return out;
}
