/*
 * Fuzz target: kubeconfig YAML (a kubeconfig is often copied from
 * elsewhere). kube_config_load_text() only parses and resolves: it never
 * reads the files a kubeconfig names (certificate-authority, client-key,
 * tokenFile) and never runs an exec plugin; those happen in lib/kube/kube.c when
 * a request is made, which this target never does. The text is loaded as a
 * file in a fixed directory that is never created, so a relative path can
 * only resolve to a name, never to something read. Properties: a loaded
 * configuration has a server, a context and a namespace; every file it names
 * is an absolute path; the server shown in messages hides any user
 * information in the URL.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kubeconfig.h"

#define FAKE_DIR  "/nonexistent/memectl-fuzz-kubeconfig"
#define FAKE_PATH FAKE_DIR "/config"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_path(const char *p)
{
    if (p && p[0] != '/')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The first byte picks the options, as --context and -n would. */
    struct kube_config_opts o = {.sa_dir = FAKE_DIR};
    if (size > 0) {
        if (data[0] & 1)
            o.context = "dev";
        if (data[0] & 2)
            o.namespace = "meme-generator";
        data++;
        size--;
    }
    struct kube_config c;
    struct meme_err err = {0};
    if (kube_config_load_text(&c, (const char *)data, size, FAKE_PATH, &o, &err) != 0) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (!c.server || !c.context || !c.namespace || !c.source)
        abort();
    if (o.namespace && strcmp(c.namespace, o.namespace) != 0)
        abort();
    check_path(c.ca_file);
    check_path(c.cert_file);
    check_path(c.key_file);
    check_path(c.token_file);
    if (c.has_exec && (!c.exec.command || !c.exec.api_version))
        abort();
    char shown[512];
    kube_config_server_shown(&c, shown, sizeof(shown));
    const char *host = strstr(shown, "://");
    host = host ? host + 3 : shown;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    if (at && (!slash || at < slash) && strncmp(host, "***@", 4) != 0)
        abort();
    kube_config_release(&c);
    return 0;
}
