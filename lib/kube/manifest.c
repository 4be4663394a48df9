/*
 * YAML manifests into JSON (see manifest.h) with libyaml's document API,
 * and the search for the bundled ones.
 */
#include "kube/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#include "paths.h"
#include "xalloc.h"

#define MANIFEST_MAX_BYTES (4u << 20)
#define MANIFEST_MAX_DEPTH 64

/* A plain scalar as YAML 1.2's core schema reads it. */
static json_t *scalar(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (len == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
        strcmp(v, "NULL") == 0)
        return json_null();
    if (strcmp(v, "true") == 0 || strcmp(v, "True") == 0 || strcmp(v, "TRUE") == 0)
        return json_true();
    if (strcmp(v, "false") == 0 || strcmp(v, "False") == 0 || strcmp(v, "FALSE") == 0)
        return json_false();
    char *end;
    errno = 0;
    long long i = strtoll(v, &end, 10);
    if (!errno && end != v && *end == 0 && (v[0] != '0' || len == 1))
        return json_integer(i);
    return json_stringn(v, len);
}

static json_t *node_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > MANIFEST_MAX_DEPTH)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar(n);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top;
             it++)
            json_array_append_new(a, node_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE)
                continue;
            char *key = xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
            json_object_set_new(o, key,
                                node_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
            free(key);
        }
        return o;
    }
    default:
        return json_null();
    }
}

int manifest_parse(const char *text, size_t len, const char *name, json_t **docs,
                   struct meme_err *err)
{
    yaml_parser_t p;
    yaml_parser_initialize(&p);
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    json_t *arr = json_array();
    int rc = 0;
    for (;;) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) {
            rc = meme_err_set(err, MEME_E_BAD_REQUEST,
                              "\"%s\" is not valid YAML: line %zu column %zu: %s", name,
                              p.problem_mark.line + 1, p.problem_mark.column + 1,
                              p.problem ? p.problem : "parse error");
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (!root) {
            yaml_document_delete(&doc);
            break; /* the end of the stream */
        }
        if (root->type == YAML_MAPPING_NODE)
            json_array_append_new(arr, node_json(&doc, root, 0));
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    if (rc) {
        json_decref(arr);
        return rc;
    }
    *docs = arr;
    return 0;
}

int manifest_load(const char *path, json_t **docs, struct meme_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return meme_err_set(err, errno == ENOENT ? MEME_E_NOT_FOUND : MEME_E_IO,
                            "cannot open \"%s\": %s", path, strerror(errno));
    char *b = xmalloc(MANIFEST_MAX_BYTES + 1);
    size_t n = fread(b, 1, MANIFEST_MAX_BYTES + 1, f);
    int bad = ferror(f);
    fclose(f);
    int rc;
    if (bad)
        rc = meme_err_set(err, MEME_E_IO, "cannot read \"%s\"", path);
    else if (n > MANIFEST_MAX_BYTES)
        rc = meme_err_set(err, MEME_E_BAD_REQUEST, "\"%s\" is larger than 4 MiB", path);
    else
        rc = manifest_parse(b, n, path, docs, err);
    free(b);
    return rc;
}

json_t *manifest_find_kind(json_t *docs, const char *kind)
{
    size_t i;
    json_t *d;
    json_array_foreach(docs, i, d)
    {
        const char *k = json_string_value(json_object_get(d, "kind"));
        if (k && strcmp(k, kind) == 0)
            return d;
    }
    return NULL;
}

char *manifest_find_bundled(const char *rel)
{
    char *dir = paths_exe_dir();
    if (!dir)
        return NULL;
    char *p = xasprintf("%s/../share/memectl/%s", dir, rel);
    if (access(p, R_OK) == 0)
        goto out;
    free(p);
    p = NULL;
    char *up = xstrdup(dir);
    for (int i = 0; i < 4 && !p; i++) {
        char *cand = xasprintf("%s/%s", up, rel);
        if (access(cand, R_OK) == 0)
            p = cand;
        else
            free(cand);
        char *next = xasprintf("%s/..", up);
        free(up);
        up = next;
    }
    free(up);
out:
    free(dir);
    if (p) {
        char *real = realpath(p, NULL); /* "/usr/local/share/..." rather than "bin/../share" */
        if (real) {
            free(p);
            p = xstrdup(real);
            free(real);
        }
    }
    return p;
}
