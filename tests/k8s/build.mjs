// Builds a kustomization of k8s/ the way `kubectl kustomize` does, for the
// features k8s/ uses (resources, labels without selectors, a
// configMapGenerator from files without hash suffix, images, JSON 6902
// patches with a target), so the offline checks also run where kubectl is
// not installed (it is not a Debian package). test_k8s.c compares this
// output with kubectl's whenever kubectl is there, and fails on any
// difference, so this stays faithful.
//
//   node build.mjs DIR            print the built objects as YAML
//   node build.mjs --json DIR     print them as canonical JSON (sorted), to compare
//   node build.mjs --canon FILE   print the objects of a YAML file as canonical JSON
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";

function readYamlDocs(path) {
  return parseAllDocuments(readFileSync(path, "utf8"))
    .map((d) => {
      if (d.errors.length) throw new Error(`${path}: ${d.errors[0].message}`);
      return d.toJS();
    })
    .filter((d) => d && typeof d === "object");
}

function build(dir) {
  const k = readYamlDocs(join(dir, "kustomization.yaml"))[0];
  const known = new Set(["apiVersion", "kind", "resources", "labels", "configMapGenerator", "images", "patches"]);
  for (const key of Object.keys(k)) if (!known.has(key)) throw new Error(`${dir}: kustomization field "${key}" is not supported here`);
  let objs = [];
  for (const r of k.resources ?? []) {
    const p = join(dir, r);
    objs.push(...(statSync(p).isDirectory() ? build(p) : readYamlDocs(p)));
  }
  for (const g of k.configMapGenerator ?? []) {
    if (!g.options?.disableNameSuffixHash) throw new Error(`${dir}: only generators without hash suffix are supported`);
    const data = {};
    for (const f of g.files ?? []) {
      const [key, path] = f.includes("=") ? f.split("=") : [f.split("/").pop(), f];
      data[key] = readFileSync(join(dir, path), "utf8");
    }
    const meta = { name: g.name, ...(g.namespace ? { namespace: g.namespace } : {}) };
    if (g.options?.labels) meta.labels = { ...g.options.labels };
    objs.push({ apiVersion: "v1", kind: "ConfigMap", metadata: meta, data });
  }
  for (const l of k.labels ?? []) {
    if (l.includeSelectors || l.includeTemplates) throw new Error(`${dir}: labels on selectors or templates are not supported`);
    for (const o of objs) o.metadata.labels = { ...(o.metadata.labels ?? {}), ...l.pairs };
  }
  for (const img of k.images ?? []) {
    const visit = (node) => {
      if (Array.isArray(node)) return node.forEach(visit);
      if (!node || typeof node !== "object") return;
      if ((node.containers || node.initContainers) && !Array.isArray(node)) {
        for (const c of [...(node.containers ?? []), ...(node.initContainers ?? [])]) {
          const [name, tag] = c.image.split(":");
          if (name === img.name) c.image = `${img.newName ?? name}${img.newTag ?? tag ? `:${img.newTag ?? tag}` : ""}`;
        }
      }
      Object.values(node).forEach(visit);
    };
    objs.forEach(visit);
  }
  for (const p of k.patches ?? []) {
    const t = p.target ?? {};
    const ops = parseAllDocuments(p.patch)[0].toJS();
    for (const o of objs) {
      if ((t.kind && o.kind !== t.kind) || (t.name && o.metadata.name !== t.name) || (t.namespace && o.metadata.namespace !== t.namespace)) continue;
      for (const op of ops) applyOp(o, op);
    }
  }
  return objs;
}

function applyOp(obj, op) {
  const parts = op.path.split("/").slice(1).map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const last = parts.pop();
  let node = obj;
  for (const s of parts) {
    if (node[s] === undefined) throw new Error(`patch ${op.op} ${op.path}: no such path`);
    node = node[s];
  }
  if (op.op === "add" || op.op === "replace") {
    if (op.op === "replace" && node[last] === undefined) throw new Error(`patch replace ${op.path}: no such path`);
    if (Array.isArray(node) && op.op === "add") node.splice(last === "-" ? node.length : Number(last), 0, op.value);
    else node[last] = op.value;
  } else if (op.op === "remove") {
    if (node[last] === undefined) throw new Error(`patch remove ${op.path}: no such path`);
    if (Array.isArray(node)) node.splice(Number(last), 1);
    else delete node[last];
  } else throw new Error(`patch op "${op.op}" is not supported`);
}

const sortKeys = (x) =>
  Array.isArray(x) ? x.map(sortKeys) : x && typeof x === "object" ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, sortKeys(x[k])])) : x;

// Sorted keys and objects, so two builds compare as strings.
export function canonical(objs) {
  const key = (o) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
  return JSON.stringify([...objs].sort((a, b) => key(a).localeCompare(key(b))).map(sortKeys), null, 1);
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split("/").pop())) {
  const args = process.argv.slice(2);
  if (args[0] === "--canon" && args[1]) {
    process.stdout.write(canonical(readYamlDocs(args[1])) + "\n");
    process.exit(0);
  }
  const json = args[0] === "--json";
  const dir = json ? args[1] : args[0];
  if (!dir) {
    console.error("usage: node build.mjs [--json] DIR | --canon FILE");
    process.exit(2);
  }
  try {
    const objs = build(dir);
    if (json) process.stdout.write(canonical(objs) + "\n");
    // kubectl's layout: keys sorted, sequences not indented under their key.
    else process.stdout.write(objs.map((o) => stringify(sortKeys(o), { lineWidth: 0, indentSeq: false, version: "1.1" })).join("---\n"));
  } catch (e) {
    console.error(`build.mjs: ${e.message}`);
    process.exit(1);
  }
}

