/*
 * Where the Kubernetes API is and how to authenticate to it: kubeconfig
 * files (libyaml) merged the way kubectl merges $KUBECONFIG, --kubeconfig,
 * --context and --namespace, or the in-cluster service account. The result
 * is one resolved struct that lib/kube/kube.c turns into HTTPS requests.
 */
#ifndef MEME_KUBECONFIG_H
#define MEME_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* An exec credential plugin (client.authentication.k8s.io). */
struct kube_exec {
    char *command; /* resolved against the kubeconfig's directory when it holds a '/' */
    char **args;   /* NULL-terminated */
    char **env;    /* "NAME=VALUE", NULL-terminated */
    char *api_version;
    char *install_hint;
    bool provide_cluster_info;
};

struct kube_config {
    char *source; /* the files it came from, or "in-cluster" */
    char *context;
    char *cluster;
    char *user;
    char *server; /* https://host:port, no trailing slash */
    char *namespace;
    /* TLS: files are absolute paths; *_data are decoded PEM bytes */
    char *ca_file;
    uint8_t *ca_data;
    size_t ca_len;
    bool insecure;
    char *tls_server_name;
    char *proxy_url;
    char *cert_file;
    uint8_t *cert_data;
    size_t cert_len;
    char *key_file;
    uint8_t *key_data;
    size_t key_len;
    /* credentials: never print these */
    char *token;
    char *token_file; /* re-read before each request: it rotates */
    bool has_exec;
    struct kube_exec exec;
    bool in_cluster;
};

struct kube_config_opts {
    const char *kubeconfig; /* --kubeconfig: this file only, and it must exist */
    const char *context;    /* --context */
    const char *namespace;  /* -n */
    /* Where the service account is mounted; NULL for
     * /var/run/secrets/kubernetes.io/serviceaccount. */
    const char *sa_dir;
};

/*
 * Resolves the configuration: --kubeconfig, else $KUBECONFIG (a ':' list,
 * merged: the first file to name a cluster, user or context wins, and the
 * first current-context wins), else ~/.kube/config, else the in-cluster
 * service account. MEME_E_NOT_FOUND when there is no configuration at all,
 * MEME_E_BAD_REQUEST for a broken file or a context that does not resolve,
 * each with a message naming the file and what is wrong.
 */
int kube_config_load(struct kube_config *c, const struct kube_config_opts *o, struct meme_err *err);
/* Loads only the given YAML text as if it were a file at path (tests). */
int kube_config_load_text(struct kube_config *c, const char *text, size_t len, const char *path,
                          const struct kube_config_opts *o, struct meme_err *err);
void kube_config_release(struct kube_config *c);
/* The server URL for messages, with any user:password@ replaced by "***@". */
const char *kube_config_server_shown(const struct kube_config *c, char *out, size_t outsz);

#endif
