// Offline checks of the manifests that `kubectl kustomize k8s/overlays/X`
// builds. Run by tests/integration/test_k8s.c, which passes what only the
// compiled code knows (stream and consumer names, payload limit, the metric
// names the servers really export):
//
//   node check.mjs CHECK BUILT.yaml [EXPECT.json]
//
// CHECK is one of: schema, strict, names, security, rbac, autoscalers,
// network, metrics. Exits 0 when the check passes, 1 with one line per
// problem on stderr when it does not, 2 on a usage error.
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";

const [check, builtPath, expectPath] = process.argv.slice(2);
if (!check || !builtPath) {
  console.error("usage: node check.mjs CHECK BUILT.yaml [EXPECT.json]");
  process.exit(2);
}
const expect = expectPath ? JSON.parse(readFileSync(expectPath, "utf8")) : {};
const srcDir = process.env.MEME_SOURCE_DIR || join(import.meta.dirname ?? ".", "..", "..");
const docs = parseAllDocuments(readFileSync(builtPath, "utf8"))
  .map((d) => {
    if (d.errors.length) throw new Error(`${builtPath}: ${d.errors[0].message}`);
    return d.toJS();
  })
  .filter((d) => d && typeof d === "object");
const problems = [];
const fail = (obj, msg) =>
  problems.push(`${obj ? `${obj.kind}/${obj.metadata?.namespace ?? "-"}/${obj.metadata?.name}` : "-"}: ${msg}`);
const find = (kind, name, ns) =>
  docs.find((d) => d.kind === kind && d.metadata?.name === name && (!ns || d.metadata?.namespace === ns));

// ---------------------------------------------------------------- models
// The model class for apiVersion/kind: kubernetes-models for the core API,
// @kubernetes-models/keda and /prometheus-operator for those CRDs. VPA and
// the Redis operator's Redis have no published models: they are checked
// with the schemas below, written from their CRDs.
async function modelFor(obj) {
  const [group, version] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
  let mod;
  try {
    if (group === "keda.sh") mod = await import(`@kubernetes-models/keda/keda.sh/${version}`);
    else if (group === "monitoring.coreos.com")
      mod = await import(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/${version}`);
    else mod = await import(`kubernetes-models/${group ? `${group}/` : ""}${version}`);
  } catch {
    return null;
  }
  return mod[obj.kind] ?? null;
}

// A core Kubernetes type (SecurityContext, Probe, ...) as a function that
// returns its errors with paths under prefix.
async function coreValidator(type) {
  const Model =
    type === "ObjectMeta"
      ? (await import("@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta")).ObjectMeta
      : (await import(`kubernetes-models/v1/${type}`))[type];
  return (sub, prefix) => {
    try {
      new Model(sub).validate();
      return [];
    } catch (e) {
      const list = e.errors ?? e.details ?? [{ instancePath: "", message: e.message }];
      return list.map((x) => ({ instancePath: prefix + (x.instancePath ?? ""), message: x.message ?? String(x) }));
    }
  };
}

const ajv = new Ajv({ allErrors: true, strict: false });
const quantity = { anyOf: [{ type: "string", pattern: "^[0-9.]+(m|Ki|Mi|Gi|Ti|k|M|G)?$" }, { type: "integer" }] };
const resourceList = {
  type: "object",
  additionalProperties: false,
  properties: { cpu: quantity, memory: quantity },
};
const vpaSchema = {
  type: "object",
  additionalProperties: false,
  required: ["apiVersion", "kind", "metadata", "spec"],
  properties: {
    apiVersion: { const: "autoscaling.k8s.io/v1" },
    kind: { const: "VerticalPodAutoscaler" },
    metadata: { type: "object" },
    spec: {
      type: "object",
      additionalProperties: false,
      required: ["targetRef"],
      properties: {
        targetRef: {
          type: "object",
          additionalProperties: false,
          required: ["kind", "name"],
          properties: { apiVersion: { type: "string" }, kind: { type: "string" }, name: { type: "string" } },
        },
        updatePolicy: {
          type: "object",
          additionalProperties: false,
          properties: {
            updateMode: { enum: ["Off", "Initial", "Recreate", "Auto", "InPlaceOrRecreate"] },
            minReplicas: { type: "integer", minimum: 1 },
          },
        },
        resourcePolicy: {
          type: "object",
          additionalProperties: false,
          properties: {
            containerPolicies: {
              type: "array",
              items: {
                type: "object",
                additionalProperties: false,
                properties: {
                  containerName: { type: "string" },
                  mode: { enum: ["Auto", "Off"] },
                  minAllowed: resourceList,
                  maxAllowed: resourceList,
                  controlledResources: { type: "array", items: { enum: ["cpu", "memory"] } },
                  controlledValues: { enum: ["RequestsAndLimits", "RequestsOnly"] },
                },
              },
            },
          },
        },
        recommenders: { type: "array", items: { type: "object" } },
      },
    },
  },
};
// Redis (redis.redis.opstreelabs.in/v1beta2): the top-level fields of the
// operator's CRD; the nested Kubernetes types are checked with the core
// validators (see redisParts).
const redisSpecKeys = [
  "TLS", "acl", "affinity", "env", "hostPort", "initContainer", "kubernetesConfig", "livenessProbe",
  "nodeSelector", "podSecurityContext", "priorityClassName", "readinessProbe", "redisConfig",
  "redisExporter", "securityContext", "serviceAccountName", "sidecars", "storage",
  "terminationGracePeriodSeconds", "tolerations",
];
const redisSchema = {
  type: "object",
  additionalProperties: false,
  required: ["apiVersion", "kind", "metadata", "spec"],
  properties: {
    apiVersion: { const: "redis.redis.opstreelabs.in/v1beta2" },
    kind: { const: "Redis" },
    metadata: { type: "object" },
    spec: {
      type: "object",
      additionalProperties: false,
      required: ["kubernetesConfig"],
      properties: {
        ...Object.fromEntries(redisSpecKeys.map((k) => [k, {}])),
        securityContext: { type: "object" },
        podSecurityContext: { type: "object" },
        livenessProbe: { type: "object" },
        readinessProbe: { type: "object" },
        kubernetesConfig: {
          type: "object",
          additionalProperties: false,
          required: ["image"],
          properties: {
            image: { type: "string" },
            imagePullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
            imagePullSecrets: { type: "array" },
            resources: { type: "object" },
            redisSecret: { type: "object" },
            service: { type: "object" },
            updateStrategy: { type: "object" },
            minReadySeconds: { type: "integer" },
            ignoreAnnotations: { type: "array" },
            persistentVolumeClaimRetentionPolicy: { type: "object" },
          },
        },
        redisConfig: {
          type: "object",
          additionalProperties: false,
          properties: {
            additionalRedisConfig: { type: "string" },
            dynamicConfig: { type: "array", items: { type: "string" } },
            maxMemoryPercentOfLimit: { type: "integer", minimum: 1, maximum: 100 },
          },
        },
        redisExporter: {
          type: "object",
          additionalProperties: false,
          properties: {
            enabled: { type: "boolean" },
            image: { type: "string" },
            imagePullPolicy: { enum: ["Always", "IfNotPresent", "Never"] },
            port: { type: "integer" },
            env: { type: "array" },
            resources: { type: "object" },
            securityContext: { type: "object" },
          },
        },
        terminationGracePeriodSeconds: { type: "integer", minimum: 0 },
      },
    },
  },
};
// Nested Kubernetes types inside a Redis, with the core validator for each.
const redisParts = [
  [["metadata"], "ObjectMeta"],
  [["spec", "kubernetesConfig", "resources"], "ResourceRequirements"],
  [["spec", "redisExporter", "resources"], "ResourceRequirements"],
  [["spec", "redisExporter", "securityContext"], "SecurityContext"],
  [["spec", "securityContext"], "SecurityContext"],
  [["spec", "podSecurityContext"], "PodSecurityContext"],
  [["spec", "livenessProbe"], "Probe"],
  [["spec", "readinessProbe"], "Probe"],
];
const dig = (obj, path) => path.reduce((o, k) => (o == null ? undefined : o[k]), obj);

// A validate(obj) -> [errors] for every document, or null when no schema
// is known for its kind.
async function validatorFor(obj) {
  if (obj.apiVersion === "autoscaling.k8s.io/v1" && obj.kind === "VerticalPodAutoscaler") {
    const v = ajv.compile(vpaSchema);
    const meta = await coreValidator("ObjectMeta");
    return (o) => {
      const errs = v(o) ? [] : v.errors.map((e) => ({ instancePath: e.instancePath, message: e.message }));
      if (o.metadata && typeof o.metadata === "object") errs.push(...meta(o.metadata, "/metadata"));
      return errs;
    };
  }
  if (obj.apiVersion === "redis.redis.opstreelabs.in/v1beta2" && obj.kind === "Redis") {
    const v = ajv.compile(redisSchema);
    const parts = await Promise.all(redisParts.map(async ([p, s]) => [p, await coreValidator(s)]));
    return (o) => {
      const errs = v(o) ? [] : v.errors.map((e) => ({ instancePath: e.instancePath, message: e.message }));
      for (const [p, fn] of parts) {
        const sub = dig(o, p);
        if (!sub || typeof sub !== "object") continue; /* the schema above reports it */
        errs.push(...fn(sub, "/" + p.join("/")));
      }
      return errs;
    };
  }
  const Model = await modelFor(obj);
  if (!Model) return null;
  return (o) => {
    try {
      new Model(o).validate();
      return [];
    } catch (e) {
      const list = e.errors ?? e.details ?? [{ instancePath: "", message: e.message }];
      return list.map((x) => ({ instancePath: x.instancePath ?? "", message: x.message ?? String(x) }));
    }
  };
}

// ---------------------------------------------------------------- checks
async function checkSchema() {
  for (const d of docs) {
    const v = await validatorFor(d);
    if (!v) {
      fail(d, `no schema known for ${d.apiVersion} ${d.kind}`);
      continue;
    }
    for (const e of v(d)) fail(d, `${e.instancePath || "/"}: ${e.message}`);
  }
}

// Unknown keys: the published validators ignore fields they do not know, so
// each key is probed: its value is replaced by a Symbol, which fails every
// type a schema can ask for. A key the schema knows then gives an error at
// exactly its path; a key it does not know gives none (a typo, or a field
// of another version). Free-form maps (labels, annotations, KEDA trigger
// metadata, ConfigMap data) are values, not keys, and are not probed.
const freeForm = [
  /\/metadata\/(labels|annotations)$/,
  /\/spec\/selector\/matchLabels$/,
  /\/podSelector\/matchLabels$/,
  /\/namespaceSelector\/matchLabels$/,
  /\/selector\/matchLabels$/,
  /\/labelSelector\/matchLabels$/,
  /\/triggers\/\d+\/metadata$/,
  /^\/data$/,
  /\/spec\/selector$/,
  /\/(limits|requests|minAllowed|maxAllowed)$/,
];
async function checkStrict() {
  for (const d of docs) {
    const v = await validatorFor(d);
    if (!v) {
      fail(d, `no schema known for ${d.apiVersion} ${d.kind}`);
      continue;
    }
    const walk = (node, path) => {
      if (Array.isArray(node)) {
        node.forEach((x, i) => walk(x, `${path}/${i}`));
        return;
      }
      if (!node || typeof node !== "object") return;
      if (freeForm.some((re) => re.test(path))) return;
      for (const key of Object.keys(node)) {
        const here = `${path}/${key}`;
        if (here === "/apiVersion" || here === "/kind") continue;
        const saved = node[key];
        node[key] = Symbol("probe");
        const errs = v(d);
        node[key] = saved;
        if (!errs.some((e) => e.instancePath === here || e.instancePath.startsWith(here + "/")))
          fail(d, `unknown field ${here}`);
        walk(saved, here);
      }
    };
    walk(d, "");
  }
}

function containersOf(d) {
  const spec = d.spec?.template?.spec ?? d.spec?.jobTemplate?.spec?.template?.spec;
  if (!spec) return null;
  return { pod: spec, containers: [...(spec.initContainers ?? []), ...(spec.containers ?? [])] };
}

function checkContainerSecurity(d, c, podSec) {
  const sc = c.securityContext ?? {};
  const where = `container "${c.name}"`;
  if (!(sc.runAsNonRoot === true || podSec?.runAsNonRoot === true)) fail(d, `${where}: runAsNonRoot is not true`);
  if (sc.readOnlyRootFilesystem !== true) fail(d, `${where}: readOnlyRootFilesystem is not true`);
  if (sc.allowPrivilegeEscalation !== false) fail(d, `${where}: allowPrivilegeEscalation is not false`);
  if (sc.privileged === true) fail(d, `${where}: privileged`);
  if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(d, `${where}: capabilities do not drop ALL`);
  if ((sc.capabilities?.add ?? []).length) fail(d, `${where}: adds capabilities`);
  for (const k of ["requests", "limits"])
    for (const r of ["cpu", "memory"])
      if (!c.resources?.[k]?.[r]) fail(d, `${where}: no ${k}.${r}`);
}

function checkSecurity() {
  let n = 0;
  for (const d of docs) {
    const cs = containersOf(d);
    if (cs) {
      for (const c of cs.containers) {
        n++;
        checkContainerSecurity(d, c, cs.pod.securityContext);
        // The project's images run as the user they are built with
        // (docker/*.Dockerfile: USER 10001:10001; the image has no other).
        if (/(^|\/)meme-(worker|gateway)([:@]|$)/.test(c.image ?? "")) {
          const uid = c.securityContext?.runAsUser ?? cs.pod.securityContext?.runAsUser;
          const gid = c.securityContext?.runAsGroup ?? cs.pod.securityContext?.runAsGroup;
          if (uid !== 10001 || gid !== 10001)
            fail(d, `container "${c.name}": runs as ${uid}:${gid}, not the image's user 10001:10001`);
        }
        if (!cs.pod.initContainers?.includes(c)) {
          if (!c.livenessProbe) fail(d, `container "${c.name}": no livenessProbe`);
          if (!c.readinessProbe) fail(d, `container "${c.name}": no readinessProbe`);
        }
        for (const e of c.env ?? [])
          if (/token|password|secret|key/i.test(e.name) && e.value !== undefined)
            fail(d, `container "${c.name}": ${e.name} is written in plain text; use a secretKeyRef`);
      }
      if (cs.pod.securityContext?.seccompProfile?.type !== "RuntimeDefault")
        fail(d, "pod seccompProfile is not RuntimeDefault");
      if (cs.pod.automountServiceAccountToken !== false) fail(d, "mounts a service-account token it does not use");
      if (cs.pod.hostNetwork || cs.pod.hostPID || cs.pod.hostIPC) fail(d, "uses the host's namespaces");
    }
    if (d.kind === "Redis") {
      n += 2;
      const s = d.spec;
      checkContainerSecurity(d, { name: "redis", securityContext: s.securityContext, resources: s.kubernetesConfig?.resources }, s.podSecurityContext);
      if (s.redisExporter?.enabled)
        checkContainerSecurity(d, { name: "redis-exporter", ...s.redisExporter }, s.podSecurityContext);
      if (!s.livenessProbe || !s.readinessProbe) fail(d, "redis: no liveness or readiness probe");
    }
    if (d.kind === "Secret") fail(d, "a Secret is in the manifests; secrets are created by hand (docs/deploy.md)");
    const text = JSON.stringify(d);
    if (/hf_[A-Za-z0-9]{20,}/.test(text)) fail(d, "contains what looks like a Hugging Face token");
  }
  if (n < 4) fail(null, `only ${n} containers found`);
}

// The (group, resource) pairs memectl reads, from the API paths written in
// its sources ("/apis/GROUP/VERSION/.../RESOURCE" and "/api/v1/.../RESOURCE"),
// plus what the design says status reads.
function apiNeeds() {
  const needs = new Set([
    "autoscaling/horizontalpodautoscalers",
    "keda.sh/scaledobjects",
    "autoscaling.k8s.io/verticalpodautoscalers",
    "apps/deployments",
    "/pods",
    "metrics.k8s.io/pods",
  ]);
  // Every C file of the CLI and the TUI, and the kube client (lib/kube/).
  const files = [];
  for (const dir of ["cli", "tui", "lib/kube"])
    for (const f of existsSync(join(srcDir, dir)) ? readdirSync(join(srcDir, dir)) : [])
      if (f.endsWith(".c")) files.push(join(srcDir, dir, f));
  if (!files.some((f) => f.endsWith("kube_status.c"))) fail(null, "lib/kube/kube_status.c not found: the check reads the wrong folders");
  for (const f of files) {
    const src = readFileSync(f, "utf8");
    for (const m of src.matchAll(/"\/apis\/([a-z0-9.-]+)\/v[0-9a-z]+\/(?:[^"]*?\/)?([a-z]+)(?:[/?"%])/g))
      if (!["namespaces", "watch"].includes(m[2])) needs.add(`${m[1]}/${m[2]}`);
    for (const m of src.matchAll(/"\/api\/v1\/(?:[^"]*?\/)?([a-z]+)(?:[/?"%])/g))
      if (!["namespaces", "watch"].includes(m[1])) needs.add(`/${m[1]}`);
    // Tables of {"/apis/GROUP/VERSION", "RESOURCE"} (the kube client's).
    for (const m of src.matchAll(/\{\s*"\/apis\/([a-z0-9.-]+)\/v[0-9a-z]+"\s*,\s*"([a-z]+)"\s*\}/g)) needs.add(`${m[1]}/${m[2]}`);
    for (const m of src.matchAll(/\{\s*"\/api\/v1"\s*,\s*"([a-z]+)"\s*\}/g)) needs.add(`/${m[1]}`);
  }
  return { needs, files };
}

function checkRbac() {
  const role = find("ClusterRole", expect.rbac_role ?? "memectl-viewer");
  if (!role) return fail(null, "no ClusterRole memectl-viewer");
  const granted = new Set();
  for (const r of role.rules ?? []) {
    const verbs = new Set(r.verbs);
    for (const v of verbs)
      if (!["get", "list", "watch"].includes(v)) fail(role, `grants "${v}": the role must be read-only`);
    if ((r.resources ?? []).includes("*") || (r.apiGroups ?? []).includes("*")) fail(role, "uses a wildcard");
    if ((r.resources ?? []).some((x) => ["secrets", "configmaps"].includes(x))) fail(role, "reads secrets or configmaps");
    if (r.nonResourceURLs) fail(role, "grants non-resource URLs");
    for (const g of r.apiGroups ?? [])
      for (const res of r.resources ?? [])
        if (["get", "list", "watch"].every((v) => verbs.has(v))) granted.add(`${g}/${res}`);
  }
  const { needs, files } = apiNeeds();
  for (const n of needs) if (!granted.has(n)) fail(role, `memectl reads ${n} but the role does not grant get, list and watch on it`);
  for (const g of granted) if (!needs.has(g)) fail(role, `grants ${g}, which memectl never reads`);
  const binding = docs.find((d) => d.kind === "ClusterRoleBinding" && d.roleRef?.name === role.metadata.name);
  if (!binding) fail(role, "is bound to nothing");
  if (process.env.CHECK_VERBOSE) console.error(`rbac: read ${files.length} source files; needs ${[...needs].join(", ")}`);
}

const num = (q) => {
  const m = /^([0-9.]+)(m|Ki|Mi|Gi)?$/.exec(String(q));
  if (!m) return NaN;
  const f = { m: 1e-3, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2]] ?? 1;
  return parseFloat(m[1]) * f;
};
const bytesOf = (s) => {
  const m = /^([0-9]+)(kb|mb|gb)?$/i.exec(s);
  return m ? parseInt(m[1], 10) * ({ kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[m[2]?.toLowerCase()] ?? 1) : NaN;
};
const envOf = (c, name) => c.env?.find((e) => e.name === name)?.value;

function checkAutoscalers() {
  const gw = find("Deployment", "meme-generator-frontend", "meme-generator");
  const wk = find("Deployment", "meme-generator", "meme-generator");
  const hpa = find("HorizontalPodAutoscaler", "meme-generator-frontend-hpa", "meme-generator");
  const so = find("ScaledObject", "meme-generator-backend-scaler", "meme-generator");
  const vpa = find("VerticalPodAutoscaler", "redis-vpa", "cache");
  const redis = find("Redis", "redis", "cache");
  for (const [x, what] of [[gw, "gateway Deployment"], [wk, "worker Deployment"], [hpa, "HPA"], [so, "ScaledObject"], [vpa, "VPA"], [redis, "Redis"]])
    if (!x) fail(null, `no ${what} under the seed's name`);
  if (problems.length) return;
  // One autoscaler per target.
  const targets = [
    ["HPA", `${hpa.spec.scaleTargetRef.kind}/${hpa.spec.scaleTargetRef.name}`],
    ["KEDA", `Deployment/${so.spec.scaleTargetRef.name}`],
    ["VPA", `${vpa.spec.targetRef.kind}/${vpa.spec.targetRef.name}`],
  ];
  for (const d of docs.filter((x) => ["HorizontalPodAutoscaler", "ScaledObject", "VerticalPodAutoscaler"].includes(x.kind)))
    if (![hpa, so, vpa].includes(d)) fail(d, "a second autoscaler: each tier has exactly one");
  const seen = new Set(targets.map((t) => t[1]));
  if (seen.size !== 3) fail(null, `autoscalers share a target: ${JSON.stringify(targets)}`);
  if (targets[0][1] !== "Deployment/meme-generator-frontend") fail(hpa, "must drive the gateway");
  if (targets[1][1] !== "Deployment/meme-generator") fail(so, "must drive the worker");
  if (targets[2][1] !== "StatefulSet/redis") fail(vpa, "must drive the Redis StatefulSet (the Redis resource has no /scale)");
  // The seed's numbers.
  const canon = (v) => (typeof v === "string" ? v : JSON.stringify(v, (k, x) => (x && typeof x === "object" && !Array.isArray(x) ? Object.fromEntries(Object.entries(x).sort()) : x)));
  const eq = (obj, what, got, want) => {
    if (canon(got) !== canon(want)) fail(obj, `${what} is ${canon(got)}, want ${canon(want)}`);
  };
  eq(hpa, "minReplicas", hpa.spec.minReplicas, expect.hpa_min ?? 1);
  eq(hpa, "maxReplicas", hpa.spec.maxReplicas, 5);
  const util = Object.fromEntries(hpa.spec.metrics.map((m) => [m.resource.name, m.resource.target.averageUtilization]));
  eq(hpa, "cpu target", util.cpu, 30);
  eq(hpa, "memory target", util.memory, 50);
  eq(hpa, "scale-up window", hpa.spec.behavior.scaleUp.stabilizationWindowSeconds, 0);
  eq(hpa, "scale-up policy", hpa.spec.behavior.scaleUp.policies, [{ type: "Percent", value: 100, periodSeconds: 15 }]);
  eq(hpa, "scale-down window", hpa.spec.behavior.scaleDown.stabilizationWindowSeconds, 300);
  eq(hpa, "scale-down policy", hpa.spec.behavior.scaleDown.policies, [{ type: "Percent", value: 20, periodSeconds: 60 }]);
  eq(so, "minReplicaCount", so.spec.minReplicaCount, 0);
  eq(so, "maxReplicaCount", so.spec.maxReplicaCount, 10);
  eq(so, "pollingInterval", so.spec.pollingInterval, 5);
  eq(so, "cooldownPeriod", so.spec.cooldownPeriod, 30);
  const t = so.spec.triggers[0];
  eq(so, "trigger type", t.type, "nats-jetstream");
  eq(so, "account", t.metadata.account, "$G");
  eq(so, "lagThreshold", t.metadata.lagThreshold, "5");
  // KEDA activates on lag > activationLagThreshold: 1 never wakes a worker
  // for a single request.
  eq(so, "activationLagThreshold", t.metadata.activationLagThreshold, "0");
  const gwc = gw.spec.template.spec.containers[0], wkc = wk.spec.template.spec.containers[0];
  eq(gw, "requests", gwc.resources.requests, { cpu: "10m", memory: "64Mi" });
  eq(gw, "limits", gwc.resources.limits, { cpu: "100m", memory: "128Mi" });
  eq(wk, "requests", wkc.resources.requests, { cpu: "50m", memory: "64Mi" });
  eq(wk, "limits", wkc.resources.limits, { cpu: "500m", memory: "256Mi" });
  for (const d of [gw, wk]) if (d.spec.replicas !== undefined) fail(d, "sets replicas, which its autoscaler owns");
  // VPA: a single Redis is only resized with minReplicas 1.
  eq(vpa, "updatePolicy.minReplicas", vpa.spec.updatePolicy.minReplicas, 1);
  eq(vpa, "updateMode", vpa.spec.updatePolicy.updateMode, "Auto");
  const pol = vpa.spec.resourcePolicy.containerPolicies.find((p) => p.containerName === "redis");
  if (!pol) return fail(vpa, "no policy for the redis container");
  eq(vpa, "minAllowed", pol.minAllowed, { cpu: "50m", memory: "64Mi" });
  eq(vpa, "maxAllowed", pol.maxAllowed, { cpu: "1000m", memory: "1Gi" });
  // Redis ignores its cgroup: maxmemory below the smallest memory the VPA
  // may give it.
  const mm = (redis.spec.redisConfig?.dynamicConfig ?? []).map((l) => /^maxmemory\s+(\S+)$/.exec(l)).find(Boolean);
  if (!mm) fail(redis, "no maxmemory");
  else if (!(bytesOf(mm[1]) < num(pol.minAllowed.memory)))
    fail(redis, `maxmemory ${mm[1]} is not under the VPA's smallest memory ${pol.minAllowed.memory}`);
  // Drain: the grace period covers the drain.
  const drain = Number(envOf(wkc, "DRAIN_TIMEOUT") ?? expect.worker_drain_default_s ?? 25);
  if (!(wk.spec.template.spec.terminationGracePeriodSeconds > drain))
    fail(wk, `terminationGracePeriodSeconds ${wk.spec.template.spec.terminationGracePeriodSeconds} is not above the worker's drain timeout ${drain}`);
  const gdrain = Number(envOf(gwc, "GATEWAY_DRAIN_TIMEOUT") ?? 10);
  const prestop = Number(gwc.lifecycle?.preStop?.exec?.command?.slice(-1)[0] ?? 0);
  if (!(gw.spec.template.spec.terminationGracePeriodSeconds > gdrain + prestop))
    fail(gw, `terminationGracePeriodSeconds is not above preStop (${prestop}) + drain (${gdrain})`);
  const pdb = docs.find((d) => d.kind === "PodDisruptionBudget" && d.spec?.selector?.matchLabels?.app === "meme-generator-frontend");
  if (!pdb) fail(null, "no PodDisruptionBudget for the gateway");
  else if (pdb.spec.minAvailable !== undefined && !(hpa.spec.minReplicas > Number(pdb.spec.minAvailable)))
    fail(pdb, `minAvailable ${pdb.spec.minAvailable} with minReplicas ${hpa.spec.minReplicas} blocks every node drain`);
}

// Names in the manifests against the constants compiled into the code
// (expect.json, written by test_k8s.c from lib/mq/proto.h and lib/mq/mq.h).
function checkNames() {
  const ns = new Set(docs.filter((d) => d.kind === "Namespace").map((d) => d.metadata.name));
  for (const n of expect.namespaces ?? []) if (!ns.has(n)) fail(null, `namespace ${n} is missing`);
  const so = find("ScaledObject", "meme-generator-backend-scaler", "meme-generator");
  if (!so) return fail(null, "no ScaledObject");
  const t = so.spec.triggers[0].metadata;
  if (t.stream !== expect.stream) fail(so, `stream "${t.stream}" is not the code's "${expect.stream}"`);
  if (t.consumer !== expect.consumer) fail(so, `consumer "${t.consumer}" is not the code's "${expect.consumer}"`);
  const [host, port] = t.natsServerMonitoringEndpoint.split(":");
  if (port !== String(expect.nats_monitor_port)) fail(so, `monitoring port ${port} is not ${expect.nats_monitor_port}`);
  for (const d of docs.filter((x) => x.kind === "Deployment")) {
    for (const c of d.spec.template.spec.containers) {
      const stream = envOf(c, "NATS_STREAM"), consumer = envOf(c, "NATS_CONSUMER"), url = envOf(c, "NATS_URL");
      if (stream !== undefined && stream !== expect.stream) fail(d, `NATS_STREAM "${stream}" is not "${expect.stream}"`);
      if (consumer !== undefined && consumer !== expect.consumer) fail(d, `NATS_CONSUMER "${consumer}" is not "${expect.consumer}"`);
      // The same NATS: its Service, or (KEDA on a cluster) its headless twin.
      const svc = (h) => h.replace(/^([a-z0-9-]+?)(-headless)?\./, "$1.");
      const m = /^nats:\/\/([^:/]+):4222$/.exec(url ?? "");
      if (url && (!m || svc(m[1]) !== svc(host))) fail(d, `NATS_URL ${url} is not the server KEDA reads (${host})`);
    }
  }
  // The gateway's probes go to its probe port (GATEWAY_PROBE_ADDR, which
  // the compiled gateway reads), never to the API port that clients can
  // fill; Prometheus scrapes the same port.
  const gw = find("Deployment", "meme-generator-frontend", "meme-generator");
  if (gw) {
    const c = gw.spec.template.spec.containers[0];
    const probeAddr = envOf(c, expect.gateway_probe_env ?? "GATEWAY_PROBE_ADDR");
    const portNum = (p) => (typeof p === "number" ? p : (c.ports ?? []).find((x) => x.name === p)?.containerPort);
    const probePort = Number(/:(\d+)$/.exec(probeAddr ?? "")?.[1]);
    const listen = (c.args ?? []).join(" ").match(/--listen\s+\S*:(\d+)/)?.[1] ?? envOf(c, "GATEWAY_LISTEN")?.split(":").pop() ?? "8080";
    if (!probeAddr) fail(gw, "GATEWAY_PROBE_ADDR is not set: the probes share the API port with every client");
    else if (!(c.ports ?? []).some((x) => x.containerPort === probePort)) fail(gw, `the probe port ${probePort} of GATEWAY_PROBE_ADDR is not a container port`);
    if (probePort === Number(listen)) fail(gw, `the probe port ${probePort} is the API port`);
    for (const k of ["startupProbe", "livenessProbe", "readinessProbe"]) {
      const port = portNum(c[k]?.httpGet?.port);
      if (port !== probePort) fail(gw, `${k} uses port ${c[k]?.httpGet?.port} (${port}), not the probe port ${probePort}`);
    }
  }

  // The Helm values the same cluster is installed with.
  const valuesPath = join(srcDir, "k8s", "nats", "values.yaml");
  const values = parseAllDocuments(readFileSync(valuesPath, "utf8"))[0].toJS();
  if (!(values.config?.merge?.max_payload >= expect.payload_wanted))
    fail(null, `k8s/nats/values.yaml: max_payload ${values.config?.merge?.max_payload} is under the ${expect.payload_wanted} bytes the worker needs`);
  if (values.config?.monitor?.port !== expect.nats_monitor_port) fail(null, "k8s/nats/values.yaml: monitor port differs from KEDA's");
  if (values.service?.ports?.monitor?.enabled !== true) fail(null, "k8s/nats/values.yaml: the Service does not expose the monitoring port KEDA reads");
  if (values.config?.jetstream?.enabled !== true || values.config?.jetstream?.fileStore?.enabled !== true)
    fail(null, "k8s/nats/values.yaml: JetStream file storage is not on");
  if (!values.config?.jetstream?.merge?.sync_interval) fail(null, "k8s/nats/values.yaml: durability (sync_interval) is not chosen explicitly");
  // NATS users: every password is a variable the chart fills from a Secret
  // (container.env), never text; each Deployment's NATS_USER is one of the
  // users and takes its NATS_PASSWORD from the Secret of the same name.
  const natsUsers = values.config?.merge?.authorization?.users ?? [];
  if (!natsUsers.length) fail(null, "k8s/nats/values.yaml: no NATS users: every client may publish anywhere");
  for (const u of natsUsers) {
    const v = /^<< \$([A-Z_]+) >>$/.exec(String(u.password ?? ""));
    const ref = v && values.container?.env?.[v[1]]?.valueFrom?.secretKeyRef;
    if (!v) fail(null, `k8s/nats/values.yaml: the password of NATS user ${u.user} is not a << $VAR >> from a Secret`);
    else if (ref?.name !== `nats-user-${u.user}`) fail(null, `k8s/nats/values.yaml: ${v[1]} does not come from the Secret nats-user-${u.user}`);
    if (!u.permissions?.publish?.allow?.length) fail(null, `k8s/nats/values.yaml: NATS user ${u.user} may publish anywhere`);
    if (!u.permissions?.subscribe?.allow?.length) fail(null, `k8s/nats/values.yaml: NATS user ${u.user} may subscribe anywhere`);
  }
  for (const d of docs.filter((x) => x.kind === "Deployment")) {
    for (const c of d.spec.template.spec.containers) {
      if (envOf(c, "NATS_URL") === undefined) continue;
      const user = envOf(c, "NATS_USER");
      const pw = c.env?.find((e) => e.name === "NATS_PASSWORD")?.valueFrom?.secretKeyRef;
      if (!user) fail(d, "connects to NATS without NATS_USER");
      else if (!natsUsers.some((u) => u.user === user)) fail(d, `NATS_USER ${user} is not a user in k8s/nats/values.yaml`);
      else if (pw?.name !== `nats-user-${user}` || pw?.key !== "password") fail(d, `NATS_PASSWORD does not come from the Secret nats-user-${user} (key password)`);
    }
  }

  // The other Helm values parse, and hold no credential.
  for (const f of ["nats/values-cloud.yaml", "redis/operator-values.yaml", "monitoring/prometheus-values.yaml"]) {
    const doc = parseAllDocuments(readFileSync(join(srcDir, "k8s", f), "utf8"))[0];
    if (doc.errors.length) fail(null, `k8s/${f}: ${doc.errors[0].message}`);
    if (/adminPassword|password:\s*\S/i.test(doc.toString())) fail(null, `k8s/${f}: a password is written in it`);
  }
  const prom = parseAllDocuments(readFileSync(join(srcDir, "k8s", "monitoring", "prometheus-values.yaml"), "utf8"))[0].toJS();
  if (!prom.grafana?.admin?.existingSecret) fail(null, "k8s/monitoring/prometheus-values.yaml: Grafana's admin password does not come from a Secret");
}

// Every namespace with our pods denies by default; only the listed flows
// are open.
function checkNetwork() {
  const pols = docs.filter((d) => d.kind === "NetworkPolicy");
  for (const ns of ["meme-generator", "messaging", "cache"]) {
    const deny = pols.find((p) => p.metadata.namespace === ns && Object.keys(p.spec.podSelector ?? {}).length === 0 && !p.spec.ingress && !p.spec.egress);
    if (!deny) fail(null, `namespace ${ns} has no default-deny NetworkPolicy`);
  }
  const allows = (ns, podApp, dir, port, peerNs) =>
    pols.some(
      (p) =>
        p.metadata.namespace === ns &&
        (Object.keys(p.spec.podSelector ?? {}).length === 0 || p.spec.podSelector.matchLabels?.app === podApp || p.spec.podSelector.matchLabels?.["app.kubernetes.io/name"] === podApp) &&
        (p.spec[dir] ?? []).some(
          (r) =>
            (r.ports ?? []).some((x) => x.port === port) &&
            (!peerNs || (r[dir === "egress" ? "to" : "from"] ?? []).some((peer) => peer.namespaceSelector?.matchLabels?.["kubernetes.io/metadata.name"] === peerNs))
        )
    );
  const flows = [
    ["meme-generator", "meme-generator-frontend", "egress", 4222, "messaging"],
    ["meme-generator", "meme-generator", "egress", 4222, "messaging"],
    ["meme-generator", "meme-generator", "egress", 6379, "cache"],
    ["meme-generator", "meme-generator-frontend", "ingress", 8080, null],
    ["meme-generator", "meme-generator-frontend", "ingress", 8081, "monitoring"],
    ["meme-generator", "meme-generator", "ingress", 9090, "monitoring"],
    ["messaging", "nats", "ingress", 4222, "meme-generator"],
    ["messaging", "nats", "ingress", 8222, "keda"],
    ["cache", "redis", "ingress", 6379, "meme-generator"],
  ];
  for (const f of flows) if (!allows(...f)) fail(null, `no NetworkPolicy lets ${f[1]} (${f[0]}) ${f[2]} on ${f[3]}${f[4] ? ` with ${f[4]}` : ""}`);
  // The gateway's probe port is not open to everyone.
  for (const p of pols.filter((x) => x.metadata.namespace === "meme-generator" && x.spec.podSelector?.matchLabels?.app === "meme-generator-frontend"))
    for (const r of p.spec.ingress ?? [])
      if (!r.from && (r.ports ?? []).some((x) => x.port === 8081)) fail(p, "opens the gateway's probe port 8081 to everyone");
  // Nothing in meme-generator may reach Redis except the worker.
  for (const p of pols.filter((x) => x.metadata.namespace === "meme-generator" && x.spec.podSelector?.matchLabels?.app === "meme-generator-frontend"))
    for (const r of p.spec.egress ?? []) if ((r.ports ?? []).some((x) => x.port === 6379)) fail(p, "lets the gateway reach Redis");
}

// Metric names: every meme_* series the dashboard and the monitors use must
// be one the binaries export (expect.exported, scraped from the running
// gateway and worker by the C test); the monitors' ports must exist.
function checkMetrics() {
  const dashPath = join(srcDir, "k8s", "base", "monitoring", "dashboard.json");
  const dash = JSON.parse(readFileSync(dashPath, "utf8"));
  const exported = new Set(expect.exported ?? []);
  if (exported.size < 5) fail(null, "no exported metric names were given");
  const used = new Set();
  for (const p of dash.panels ?? [])
    for (const t of p.targets ?? [])
      for (const m of t.expr.matchAll(/\b(meme_[a-z0-9_]+)/g)) used.add(m[1]);
  const base = (n) => n.replace(/_(bucket|sum|count)$/, "");
  for (const u of used) if (!exported.has(u) && !exported.has(base(u))) fail(null, `dashboard uses ${u}, which neither meme-gateway nor meme-worker exports`);
  for (const want of ["meme_gateway_", "meme_worker_"])
    if (![...used].some((u) => u.startsWith(want))) fail(null, `dashboard shows no ${want}* metric`);
  const titles = (dash.panels ?? []).map((p) => p.title.toLowerCase()).join("|");
  for (const want of ["replicas", "lag", "request rate", "latency", "cache hit", "redis memory"])
    if (!titles.includes(want)) fail(null, `dashboard has no "${want}" panel`);
  // Monitors point at ports that exist.
  const portsOf = (app) =>
    docs
      .filter((d) => d.kind === "Deployment" && d.spec.template.metadata.labels?.app === app)
      .flatMap((d) => d.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name)));
  const sm = docs.find((d) => d.kind === "ServiceMonitor" && d.spec.selector?.matchLabels?.app === "meme-generator-frontend");
  const svc = find("Service", "meme-generator-frontend", "meme-generator");
  if (!sm) fail(null, "no ServiceMonitor for the gateway");
  else if (!svc?.spec.ports.some((p) => p.name === sm.spec.endpoints[0].port)) fail(sm, "scrapes a port the gateway Service does not have");
  const pm = docs.find((d) => d.kind === "PodMonitor" && d.spec.selector?.matchLabels?.app === "meme-generator");
  if (!pm) fail(null, "no PodMonitor for the worker");
  else if (!portsOf("meme-generator").includes(pm.spec.podMetricsEndpoints[0].port)) fail(pm, "scrapes a port the worker does not have");
  const wk = find("Deployment", "meme-generator", "meme-generator");
  const addr = wk && envOf(wk.spec.template.spec.containers[0], "METRICS_ADDR");
  const port = wk?.spec.template.spec.containers[0].ports?.find((p) => p.name === "metrics")?.containerPort;
  if (!addr || !addr.endsWith(`:${port}`)) fail(wk, `METRICS_ADDR ${addr} does not serve the metrics port ${port}`);
  if (!docs.some((d) => d.kind === "PodMonitor" && d.metadata.namespace === "messaging")) fail(null, "no monitor for the NATS exporter");
  const cm = docs.find((d) => d.kind === "ConfigMap" && d.metadata.labels?.grafana_dashboard === "1");
  if (!cm) fail(null, "the dashboard is not in a ConfigMap Grafana loads");
}

const checks = { schema: checkSchema, strict: checkStrict, security: checkSecurity, rbac: checkRbac, autoscalers: checkAutoscalers, names: checkNames, network: checkNetwork, metrics: checkMetrics };
if (!checks[check]) {
  console.error(`unknown check "${check}"; one of ${Object.keys(checks).join(", ")}`);
  process.exit(2);
}
await checks[check]();
for (const p of problems) console.error(`${check}: ${p}`);
console.log(`${check}: ${docs.length} objects, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
