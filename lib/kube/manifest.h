/*
 * Kubernetes manifests on disk: a YAML file of one or more documents read
 * into the JSON the API would serve, so kube_types' parsers read a file as
 * they read the cluster; and where the bundled k8s/ manifests are (installed
 * under share/memectl next to the binary, or the source tree it was built
 * in). `memectl up --autoscale` and `memectl simulate` take their numbers
 * from there.
 */
#ifndef MEME_MANIFEST_H
#define MEME_MANIFEST_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

/* The bundled ScaledObject and the gateway's HPA, relative to the tree. */
#define MANIFEST_SCALEDOBJECT "k8s/base/worker/scaledobject.yaml"
#define MANIFEST_GATEWAY_HPA  "k8s/base/gateway/hpa.yaml"

/* The documents of text as a JSON array of objects (empty documents are
 * left out; plain scalars that are integers, booleans or null become those,
 * everything else a string). MEME_E_BAD_REQUEST with the line for bad YAML. */
int manifest_parse(const char *text, size_t len, const char *name, json_t **docs,
                   struct meme_err *err);
/* The same from a file (at most 4 MiB). */
int manifest_load(const char *path, json_t **docs, struct meme_err *err);
/* The first document of kind in docs, or NULL (borrowed). */
json_t *manifest_find_kind(json_t *docs, const char *kind);
/* The path of bundled manifest rel: EXE_DIR/../share/memectl/REL, else REL in
 * the directory of the executable or up to three above it (a build tree).
 * A new string, or NULL when there is none. */
char *manifest_find_bundled(const char *rel);

#endif
