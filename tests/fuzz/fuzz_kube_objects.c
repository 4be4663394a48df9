/*
 * Fuzz target: objects from a Kubernetes API server (or a hostile server
 * named in a kubeconfig) into the typed views of lib/kube/kube_types.h. The input
 * is read like a watch stream: one JSON document a line; a watch event
 * ({"type": ..., "object": {...}}) hands its object on, anything else is
 * taken as the object itself. Every object goes through every decoder (HPA,
 * ScaledObject, VPA, workload, pod, pod metrics), whatever its kind says.
 * The watch stream's line splitter itself is private to lib/kube/kube.c and tied
 * to its libcurl callbacks, so this target mirrors it rather than calling it.
 * Properties: every decoded string is terminated inside its field and holds
 * no escape or other control byte; every count stays within its array.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/kube_types.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_str(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    for (; i < n && p[i]; i++)
        if (p[i] < 0x20 || p[i] == 0x7f)
            abort();
    if (i == n)
        abort();
}

#define CHECK(field) check_str((field), sizeof(field))

static void check_count(int n, int max)
{
    if (n < 0 || n > max)
        abort();
}

static void check_meta(const struct kube_meta *m)
{
    CHECK(m->name);
    CHECK(m->ns);
    CHECK(m->uid);
    CHECK(m->resource_version);
    CHECK(m->created);
    CHECK(m->owner_kind);
    CHECK(m->owner_name);
}

static void check_ref(const struct kube_ref *r)
{
    CHECK(r->api_version);
    CHECK(r->kind);
    CHECK(r->name);
}

static void check_conditions(const struct kube_condition *c, int n)
{
    check_count(n, KUBE_MAX_CONDITIONS);
    for (int i = 0; i < n; i++) {
        CHECK(c[i].type);
        CHECK(c[i].status);
        CHECK(c[i].reason);
        CHECK(c[i].message);
        CHECK(c[i].since);
    }
    (void)kube_condition_true(c, n, "Ready");
}

static void check_containers(const struct kube_container *c, int n)
{
    check_count(n, KUBE_MAX_CONTAINERS);
    for (int i = 0; i < n; i++)
        CHECK(c[i].name);
}

static void decode(json_t *obj)
{
    struct meme_err err = {0};
    static struct kube_hpa hpa;
    static struct kube_scaledobject so;
    static struct kube_vpa vpa;
    static struct kube_workload wl;
    static struct kube_pod pod;
    static struct kube_pod_metrics pm;

    if (kube_hpa_parse(obj, &hpa, &err) == 0) {
        check_meta(&hpa.meta);
        check_ref(&hpa.target);
        check_count(hpa.nmetrics, KUBE_MAX_METRICS);
        for (int i = 0; i < hpa.nmetrics; i++) {
            CHECK(hpa.metrics[i].type);
            CHECK(hpa.metrics[i].name);
        }
        check_count(hpa.up.npolicies, KUBE_MAX_POLICIES);
        check_count(hpa.down.npolicies, KUBE_MAX_POLICIES);
        CHECK(hpa.last_scale);
        check_conditions(hpa.conditions, hpa.nconditions);
        CHECK(hpa.keda_owner);
    }
    if (kube_scaledobject_parse(obj, &so, &err) == 0) {
        check_meta(&so.meta);
        check_ref(&so.target);
        check_count(so.ntriggers, KUBE_MAX_TRIGGERS);
        for (int i = 0; i < so.ntriggers; i++) {
            CHECK(so.triggers[i].type);
            CHECK(so.triggers[i].name);
            CHECK(so.triggers[i].stream);
            CHECK(so.triggers[i].consumer);
            CHECK(so.triggers[i].account);
            CHECK(so.triggers[i].endpoint);
        }
        CHECK(so.hpa_name);
        check_conditions(so.conditions, so.nconditions);
        CHECK(so.last_active);
    }
    if (kube_vpa_parse(obj, &vpa, &err) == 0) {
        check_meta(&vpa.meta);
        check_ref(&vpa.target);
        CHECK(vpa.update_mode);
        check_count(vpa.nrecs, KUBE_MAX_CONTAINERS);
        for (int i = 0; i < vpa.nrecs; i++)
            CHECK(vpa.recs[i].name);
        check_count(vpa.npolicies, KUBE_MAX_CONTAINERS);
        for (int i = 0; i < vpa.npolicies; i++) {
            CHECK(vpa.policies[i].container);
            CHECK(vpa.policies[i].mode);
        }
        check_conditions(vpa.conditions, vpa.nconditions);
    }
    if (kube_workload_parse(obj, &wl, &err) == 0) {
        check_meta(&wl.meta);
        CHECK(wl.kind);
        CHECK(wl.selector);
        check_containers(wl.containers, wl.ncontainers);
    }
    if (kube_pod_parse(obj, &pod, &err) == 0) {
        check_meta(&pod.meta);
        CHECK(pod.phase);
        CHECK(pod.node);
        check_containers(pod.containers, pod.ncontainers);
    }
    if (kube_pod_metrics_parse(obj, &pm, &err) == 0) {
        check_meta(&pm.meta);
        CHECK(pm.window);
    }
}

static void line(const uint8_t *p, size_t n)
{
    json_error_t je;
    json_t *doc = json_loadb((const char *)p, n, JSON_DECODE_ANY, &je);
    if (!doc)
        return;
    json_t *obj = json_object_get(doc, "object");
    if (json_is_string(json_object_get(doc, "type")) && obj)
        decode(obj);
    else
        decode(doc);
    /* a list answers with items */
    json_t *items = json_object_get(doc, "items");
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) decode(it);
    json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    while (size > 0) {
        const uint8_t *nl = memchr(data, '\n', size);
        size_t n = nl ? (size_t)(nl - data) : size;
        if (n > 0)
            line(data, n);
        if (!nl)
            break;
        data += n + 1;
        size -= n + 1;
    }
    return 0;
}
