// Kubernetes Pods through the agent's task model: a Pod (JSON) becomes the ECS task definition it means, which the
// ordinary parser then validates. Fargate serves both orchestrators with one data plane; so does this agent.
import { AgentError } from "./errors.js";
import { fail, Invalid, isObject, type Json } from "./json-input.js";
import { type AgentResult, err, ok } from "./result.js";
import { type TaskDefinition, taskDefinitionFromJson } from "./task-definition.js";

/** A value that asks for nothing (`null`, `false`, `""`, `[]`, `{}`: Kubernetes' defaults), so nothing to map. */
function isEmpty(v: unknown): boolean {
  if (v === null || v === false || v === "") return true;
  return (Array.isArray(v) && v.length === 0) || (isObject(v) && Object.keys(v).length === 0);
}

function str(v: unknown, field: string): string {
  if (typeof v !== "string" || v === "") fail(field, `${field} must be a non-empty string`);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(field, `${field} must be an array of strings`);
  return v as string[];
}

/**
 * Fields that only matter to a cluster (scheduling, service accounts, cluster DNS) and mean nothing on one host:
 * accepted and ignored. Anything else the converter does not map is an error naming the field.
 */
const IGNORED_SPEC_FIELDS = new Set([
  "nodeName",
  "nodeSelector",
  "affinity",
  "tolerations",
  "topologySpreadConstraints",
  "schedulerName",
  "priority",
  "priorityClassName",
  "preemptionPolicy",
  "serviceAccount",
  "serviceAccountName",
  "automountServiceAccountToken",
  "enableServiceLinks",
]);
const IGNORED_CONTAINER_FIELDS = new Set(["imagePullPolicy", "terminationMessagePath", "terminationMessagePolicy"]);
const SPEC_HINTS: Readonly<Record<string, string>> = {
  terminationGracePeriodSeconds: "pass the grace period to the agent instead (berth task run --grace-ms)",
  imagePullSecrets: "give the agent's image source the registry credentials",
  hostNetwork: "every task gets its own network namespace (awsvpc)",
};
const CONTAINER_HINTS: Readonly<Record<string, string>> = {
  envFrom: "list the variables in env",
  livenessProbe: "probes are not run by the agent; remove it",
  readinessProbe: "probes are not run by the agent; remove it",
  startupProbe: "probes are not run by the agent; remove it",
};

function unsupported(field: string, hint: string | undefined): never {
  fail(field, `${field} is not supported by the Pod converter${hint ? `: ${hint}` : "; remove it"}`);
}

/** Rejects keys outside `known` and `ignored` unless their value {@link isEmpty}. */
function checkKeys(
  v: Json,
  at: string,
  known: readonly string[],
  ignored: ReadonlySet<string>,
  hints: Readonly<Record<string, string>> = {},
): void {
  for (const [k, value] of Object.entries(v)) {
    if (known.includes(k) || ignored.has(k) || isEmpty(value)) continue;
    unsupported(`${at}.${k}`, hints[k]);
  }
}

const DECIMAL: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  "": 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};
const BINARY: Readonly<Record<string, number>> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/**
 * The value of a Kubernetes resource quantity: `"500m"` is 0.5, `"128Mi"` is 134217728, `"1G"` is 1e9, `"1e3"` is
 * 1000; a JSON number is taken as is. Undefined when `value` is not a non-negative quantity.
 */
export function kubernetesQuantity(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$/.exec(value.trim());
  if (!m?.[1]) return undefined;
  const n = Number(m[1]);
  if (m[2] !== undefined) return n * 10 ** Number(m[2].slice(1));
  const suffix = m[3] ?? "";
  return n * (BINARY[suffix] ?? DECIMAL[suffix] ?? 1);
}

interface Resources {
  /** ECS CPU units (shares): cores * 1024, rounded up. */
  readonly cpu?: number;
  /** Hard memory limit in MiB, rounded up. */
  readonly memory?: number;
}

function resources(v: unknown, at: string): Resources {
  if (v === undefined) return {};
  if (!isObject(v)) fail(at, `${at} must be an object {limits, requests}`);
  checkKeys(v, at, ["limits", "requests"], new Set(["claims"]));
  const read = (group: "limits" | "requests") => {
    const g = v[group];
    if (g === undefined) return {};
    const f = `${at}.${group}`;
    if (!isObject(g)) fail(f, `${f} must be an object {cpu, memory}`);
    checkKeys(g, f, ["cpu", "memory"], new Set(), {
      "ephemeral-storage": "the agent does not limit ephemeral storage",
    });
    const out: { cpu?: number; memory?: number } = {};
    if (g.cpu !== undefined) {
      const cores = kubernetesQuantity(g.cpu);
      if (cores === undefined || cores <= 0) {
        fail(
          `${f}.cpu`,
          `${f}.cpu must be a positive CPU quantity such as "500m" or "1", not ${JSON.stringify(g.cpu)}`,
        );
      }
      out.cpu = Math.ceil(cores * 1024);
    }
    if (g.memory !== undefined) {
      const bytes = kubernetesQuantity(g.memory);
      if (bytes === undefined || bytes <= 0) {
        fail(
          `${f}.memory`,
          `${f}.memory must be a positive memory quantity such as "128Mi" or "1G", not ${JSON.stringify(g.memory)}`,
        );
      }
      out.memory = Math.ceil(bytes / 2 ** 20);
      if (out.memory < 6) fail(`${f}.memory`, `${f}.memory ${JSON.stringify(g.memory)} is below the 6Mi minimum`);
    }
    return out;
  };
  const limits = read("limits");
  const requests = read("requests");
  // CPU: the request sets the shares, as the kubelet does (a limit alone is also the request). Memory: the limit is
  // the hard limit; a memory request only steers scheduling, so it has nothing to map to on one host.
  const cpu = requests.cpu ?? limits.cpu;
  return { ...(cpu === undefined ? {} : { cpu }), ...(limits.memory === undefined ? {} : { memory: limits.memory }) };
}

interface EnvEntry {
  readonly name: string;
  /** Known now (value or a metadata field), or undefined when a secret provider resolves it at run time. */
  readonly value?: string;
  readonly secret?: string;
}

/** Kubernetes `$(VAR)` expansion against the variables defined so far; `$$` escapes, unknown references stay. */
function expand(text: string, vars: ReadonlyMap<string, EnvEntry>, field: string): string {
  return text.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return "$";
    const entry = vars.get(name);
    if (entry === undefined) return whole;
    if (entry.value === undefined) {
      fail(field, `${field} refers to $(${name}), a secret resolved only when the container starts: use "$${name}"`);
    }
    return entry.value;
  });
}

function fieldRefValue(path: string, meta: Json, f: string): string {
  const labels = /^metadata\.(labels|annotations)\['([^']+)'\]$/.exec(path);
  if (labels?.[1] && labels[2] !== undefined) {
    const group = meta[labels[1]];
    const value = isObject(group) ? group[labels[2]] : undefined;
    return typeof value === "string" ? value : "";
  }
  if (path === "metadata.name") return String(meta.name);
  if (path === "metadata.namespace") return typeof meta.namespace === "string" ? meta.namespace : "default";
  if (path === "metadata.uid") {
    if (typeof meta.uid !== "string")
      fail(`${f}.fieldPath`, `${f}.fieldPath is metadata.uid, but metadata.uid is not set`);
    return meta.uid;
  }
  return fail(
    `${f}.fieldPath`,
    `${f}.fieldPath ${JSON.stringify(path)} cannot be mapped (only metadata.name, metadata.namespace, metadata.uid, ` +
      "metadata.labels['KEY'] and metadata.annotations['KEY'] are known before the task starts)",
  );
}

function env(v: unknown, at: string, meta: Json): EnvEntry[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(at, `${at} must be an array of {name, value} or {name, valueFrom}`);
  const vars = new Map<string, EnvEntry>();
  const out: EnvEntry[] = [];
  v.forEach((e: unknown, i) => {
    const f = `${at}[${i}]`;
    if (!isObject(e)) fail(f, `${f} must be an object {name, value} or {name, valueFrom}`);
    checkKeys(e, f, ["name", "value", "valueFrom"], new Set());
    const name = str(e.name, `${f}.name`);
    if (name.includes("=")) fail(`${f}.name`, `${f}.name ${JSON.stringify(name)} must not contain '='`);
    let entry: EnvEntry;
    if (e.valueFrom !== undefined) {
      const from = e.valueFrom;
      const vf = `${f}.valueFrom`;
      if (!isObject(from)) fail(vf, `${vf} must be an object`);
      if (e.value !== undefined && e.value !== "") fail(f, `${f} has both value and valueFrom; keep one`);
      if (isObject(from.secretKeyRef)) {
        const ref = from.secretKeyRef;
        const rf = `${vf}.secretKeyRef`;
        checkKeys(ref, rf, ["name", "key", "optional"], new Set());
        if (ref.optional === true) {
          fail(
            `${rf}.optional`,
            `${rf}.optional cannot be honored: the agent's secret provider fails on a missing secret`,
          );
        }
        // The file provider reads SECRET/KEY: a secret is a directory of key files, as a mounted Secret is.
        entry = { name, secret: `${str(ref.name, `${rf}.name`)}/${str(ref.key, `${rf}.key`)}` };
      } else if (isObject(from.fieldRef)) {
        const ref = from.fieldRef;
        checkKeys(ref, `${vf}.fieldRef`, ["fieldPath", "apiVersion"], new Set());
        entry = { name, value: fieldRefValue(str(ref.fieldPath, `${vf}.fieldRef.fieldPath`), meta, `${vf}.fieldRef`) };
      } else {
        const kind = Object.keys(from)[0] ?? "{}";
        fail(
          vf,
          `${vf}.${kind} cannot be mapped: only secretKeyRef (resolved by the agent's secret provider as NAME/KEY) ` +
            "and fieldRef to metadata are; put the value in value instead",
        );
      }
    } else {
      if (e.value !== undefined && typeof e.value !== "string") {
        fail(`${f}.value`, `${f}.value must be a string (quote numbers in JSON)`);
      }
      entry = { name, value: expand(typeof e.value === "string" ? e.value : "", vars, `${f}.value`) };
    }
    vars.set(name, entry);
    out.push(entry);
  });
  return out;
}

function ports(v: unknown, at: string): Json[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(at, `${at} must be an array of {containerPort, protocol?, name?}`);
  return v.map((p: unknown, i) => {
    const f = `${at}[${i}]`;
    if (!isObject(p)) fail(f, `${f} must be an object {containerPort, protocol?, name?}`);
    checkKeys(p, f, ["containerPort", "hostPort", "protocol", "name"], new Set(), {
      hostIP: "the task's ports are on its own address",
    });
    const containerPort = p.containerPort;
    if (
      typeof containerPort !== "number" ||
      !Number.isInteger(containerPort) ||
      containerPort < 1 ||
      containerPort > 65535
    ) {
      fail(`${f}.containerPort`, `${f}.containerPort must be a port number 1-65535`);
    }
    if (p.hostPort !== undefined && p.hostPort !== containerPort) {
      fail(`${f}.hostPort`, `${f}.hostPort must equal containerPort (or be left out): the task has its own address`);
    }
    const protocol = p.protocol ?? "TCP";
    if (protocol !== "TCP" && protocol !== "UDP") {
      fail(`${f}.protocol`, `${f}.protocol must be "TCP" or "UDP", not ${JSON.stringify(protocol)}`);
    }
    return {
      containerPort,
      protocol: protocol === "TCP" ? "tcp" : "udp",
      ...(typeof p.name === "string" ? { name: p.name } : {}),
    };
  });
}

/** `spec.volumes`: `emptyDir` -> a task-scoped volume, `hostPath` -> `host.sourcePath`; their names, in order. */
function volumes(v: unknown): { json: Json[]; names: Set<string> } {
  const names = new Set<string>();
  if (v === undefined) return { json: [], names };
  if (!Array.isArray(v)) fail("spec.volumes", "spec.volumes must be an array of {name, emptyDir | hostPath}");
  const json = v.map((e: unknown, i) => {
    const f = `spec.volumes[${i}]`;
    if (!isObject(e)) fail(f, `${f} must be an object {name, emptyDir | hostPath}`);
    const name = str(e.name, `${f}.name`);
    names.add(name);
    const kinds = Object.keys(e).filter((k) => k !== "name");
    const kind = kinds[0];
    if (kinds.length !== 1 || (kind !== "emptyDir" && kind !== "hostPath")) {
      fail(
        kind === undefined || kinds.length !== 1 ? f : `${f}.${kind}`,
        `${f} must be one emptyDir or hostPath volume (configMap, secret, persistentVolumeClaim and the other ` +
          "kinds are not mapped)",
      );
    }
    if (kind === "emptyDir") {
      const dir = e.emptyDir;
      if (dir !== null && !isObject(dir)) fail(`${f}.emptyDir`, `${f}.emptyDir must be an object`);
      // The volume is a directory under the task's directory: no tmpfs, no size limit.
      checkKeys(dir ?? {}, `${f}.emptyDir`, [], new Set(), {
        medium: "the volume is a directory on the agent's disk (no tmpfs)",
        sizeLimit: "the agent does not limit a volume's size",
      });
      return { name };
    }
    const host = e.hostPath;
    if (!isObject(host)) fail(`${f}.hostPath`, `${f}.hostPath must be an object {path, type?}`);
    checkKeys(host, `${f}.hostPath`, ["path", "type"], new Set());
    if (host.type !== undefined && host.type !== "" && host.type !== "Directory") {
      fail(
        `${f}.hostPath.type`,
        `${f}.hostPath.type ${JSON.stringify(host.type)} is not supported: the directory must exist (type Directory)`,
      );
    }
    return { name, host: { sourcePath: str(host.path, `${f}.hostPath.path`) } };
  });
  return { json, names };
}

/** `volumeMounts` -> `mountPoints`. */
function mounts(v: unknown, at: string, volumeNames: ReadonlySet<string>): Json[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(at, `${at} must be an array of {name, mountPath, readOnly?}`);
  return v.map((m: unknown, i) => {
    const f = `${at}[${i}]`;
    if (!isObject(m)) fail(f, `${f} must be an object {name, mountPath, readOnly?}`);
    checkKeys(m, f, ["name", "mountPath", "readOnly", "mountPropagation"], new Set(), {
      subPath: "mount the whole volume",
      subPathExpr: "mount the whole volume",
    });
    if (m.mountPropagation !== undefined && m.mountPropagation !== "None") {
      fail(`${f}.mountPropagation`, `${f}.mountPropagation may only be None`);
    }
    const name = str(m.name, `${f}.name`);
    if (!volumeNames.has(name))
      fail(`${f}.name`, `${f}.name: there is no volume ${JSON.stringify(name)} in spec.volumes`);
    if (m.readOnly !== undefined && typeof m.readOnly !== "boolean") {
      fail(`${f}.readOnly`, `${f}.readOnly must be true or false`);
    }
    return { sourceVolume: name, containerPath: str(m.mountPath, `${f}.mountPath`), readOnly: m.readOnly === true };
  });
}

interface Converted {
  readonly json: Json;
  readonly resources: Resources;
}

function container(
  v: unknown,
  at: string,
  meta: Json,
  init: boolean,
  volumeNames: ReadonlySet<string>,
): Converted & { sidecar: boolean } {
  if (!isObject(v)) fail(at, `${at} must be an object`);
  checkKeys(
    v,
    at,
    [
      "name",
      "image",
      "command",
      "args",
      "env",
      "resources",
      "workingDir",
      "ports",
      "volumeMounts",
      ...(init ? ["restartPolicy"] : []),
    ],
    IGNORED_CONTAINER_FIELDS,
    CONTAINER_HINTS,
  );
  const name = str(v.name, `${at}.name`);
  const image = str(v.image, `${at}.image`);
  let sidecar = false;
  if (init && v.restartPolicy !== undefined) {
    if (v.restartPolicy !== "Always") {
      fail(`${at}.restartPolicy`, `${at}.restartPolicy may only be "Always" (a sidecar init container)`);
    }
    sidecar = true;
  }
  const variables = env(v.env, `${at}.env`, meta);
  const vars = new Map(variables.map((e) => [e.name, e]));
  const command =
    v.command === undefined
      ? undefined
      : strList(v.command, `${at}.command`).map((s) => expand(s, vars, `${at}.command`));
  const args =
    v.args === undefined ? undefined : strList(v.args, `${at}.args`).map((s) => expand(s, vars, `${at}.args`));
  const res = resources(v.resources, `${at}.resources`);
  const portMappings = ports(v.ports, `${at}.ports`);
  const mountPoints = mounts(v.volumeMounts, `${at}.volumeMounts`, volumeNames);
  // Kubernetes' command replaces the image's ENTRYPOINT and drops its CMD; args replace CMD. ECS's entryPoint and
  // command behave the same way (the agent drops the image's Cmd when entryPoint is set), so they map one to one.
  return {
    sidecar,
    resources: res,
    json: {
      name,
      image,
      ...(command === undefined ? {} : { entryPoint: command }),
      ...(args === undefined ? {} : { command: args }),
      environment: variables.flatMap((e) => (e.value === undefined ? [] : [{ name: e.name, value: e.value }])),
      secrets: variables.flatMap((e) => (e.secret === undefined ? [] : [{ name: e.name, valueFrom: e.secret }])),
      portMappings,
      ...(mountPoints.length === 0 ? {} : { mountPoints }),
      ...(res.cpu === undefined ? {} : { cpu: res.cpu }),
      ...(res.memory === undefined ? {} : { memory: res.memory }),
      ...(v.workingDir === undefined ? {} : { workingDirectory: str(v.workingDir, `${at}.workingDir`) }),
    },
  };
}

/** The Pod's size as the kubelet computes it: the larger of the biggest init container and the app containers' sum. */
function podSize(inits: readonly Resources[], apps: readonly Resources[], key: keyof Resources): number | undefined {
  const values = apps.map((r) => r[key]);
  if (values.some((x) => x === undefined)) return undefined;
  const sum = values.reduce<number>((a, b) => a + (b ?? 0), 0);
  return Math.max(sum, ...inits.map((r) => r[key] ?? 0));
}

function convert(value: unknown): Json {
  if (!isObject(value)) fail("$", "a Pod must be a JSON object");
  if (value.kind !== "Pod") fail("kind", `kind must be "Pod", not ${JSON.stringify(value.kind)}`);
  if (value.apiVersion !== "v1") {
    fail("apiVersion", `apiVersion must be "v1" for a Pod, not ${JSON.stringify(value.apiVersion)}`);
  }
  checkKeys(value, "$", ["apiVersion", "kind", "metadata", "spec"], new Set(["status"]));
  const meta = value.metadata;
  if (!isObject(meta)) fail("metadata", "metadata must be an object with a name");
  const podName = str(meta.name, "metadata.name");
  // Pod names are DNS subdomains; a task family has no dots.
  const family = podName.replaceAll(".", "-");
  const spec = value.spec;
  if (!isObject(spec)) fail("spec", "spec must be an object with containers");
  checkKeys(
    spec,
    "spec",
    ["containers", "initContainers", "restartPolicy", "dnsPolicy", "volumes"],
    IGNORED_SPEC_FIELDS,
    SPEC_HINTS,
  );
  const restartPolicy = spec.restartPolicy ?? "Always";
  if (restartPolicy === "Always") {
    fail(
      "spec.restartPolicy",
      `spec.restartPolicy is ${spec.restartPolicy === undefined ? "not set, so Always (the Kubernetes default)" : "Always"}, ` +
        "but the agent does not restart containers: set it to Never (the task stops when an app container exits)",
    );
  }
  if (restartPolicy !== "Never" && restartPolicy !== "OnFailure") {
    fail("spec.restartPolicy", `spec.restartPolicy must be Never or OnFailure, not ${JSON.stringify(restartPolicy)}`);
  }
  if (spec.dnsPolicy !== undefined && spec.dnsPolicy !== "ClusterFirst" && spec.dnsPolicy !== "Default") {
    fail(
      "spec.dnsPolicy",
      `spec.dnsPolicy ${JSON.stringify(spec.dnsPolicy)} is not supported: tasks use the host's DNS`,
    );
  }
  if (!Array.isArray(spec.containers) || spec.containers.length === 0) {
    fail("spec.containers", "spec.containers must be a non-empty array");
  }
  if (spec.initContainers !== undefined && !Array.isArray(spec.initContainers)) {
    fail("spec.initContainers", "spec.initContainers must be an array");
  }
  const vols = volumes(spec.volumes);
  const inits = ((spec.initContainers as unknown[] | undefined) ?? []).map((c, i) =>
    container(c, `spec.initContainers[${i}]`, meta, true, vols.names),
  );
  const apps = spec.containers.map((c: unknown, i) => container(c, `spec.containers[${i}]`, meta, false, vols.names));
  // Init containers run one after another, each once the previous one succeeded (a sidecar init container, with
  // restartPolicy Always, once it started); every app container waits for all of them. App containers are essential.
  const condition = (c: { sidecar: boolean }) => (c.sidecar ? "START" : "SUCCESS");
  const definitions = [
    ...inits.map((c, i) => {
      const previous = inits[i - 1];
      return {
        ...c.json,
        essential: false,
        dependsOn: previous ? [{ containerName: previous.json.name, condition: condition(previous) }] : [],
      };
    }),
    ...apps.map((c) => ({
      ...c.json,
      essential: true,
      dependsOn: inits.map((d) => ({ containerName: d.json.name, condition: condition(d) })),
    })),
  ];
  const cpu = podSize(
    inits.map((c) => c.resources),
    apps.map((c) => c.resources),
    "cpu",
  );
  const memory = podSize(
    inits.map((c) => c.resources),
    apps.map((c) => c.resources),
    "memory",
  );
  return {
    family,
    networkMode: "awsvpc",
    ...(cpu === undefined ? {} : { cpu: String(cpu) }),
    ...(memory === undefined ? {} : { memory: String(memory) }),
    ...(vols.json.length === 0 ? {} : { volumes: vols.json }),
    containerDefinitions: definitions,
  };
}

/** True when `value` is a Kubernetes manifest of kind Pod (so {@link taskDefinitionFromPod} is the parser to use). */
export function isPod(value: unknown): boolean {
  return isObject(value) && value.kind === "Pod";
}

/**
 * Converts a Kubernetes Pod (`apiVersion: v1`, `kind: Pod`, parsed from JSON) to the ECS task definition JSON it
 * means: `command` -> `entryPoint`, `args` -> `command`; `env` values (with `$(VAR)` expanded), `secretKeyRef` ->
 * `secrets` (`valueFrom` `SECRET/KEY`), `fieldRef` to metadata -> values; `resources` -> `cpu` (cores * 1024, from
 * the request, else the limit) and `memory` (the limit in MiB); `ports` -> `portMappings`; `workingDir` ->
 * `workingDirectory`; `emptyDir` / `hostPath` volumes -> task-scoped / `host.sourcePath` volumes, `volumeMounts` ->
 * `mountPoints`. `initContainers` become non-essential containers that run in order (each `dependsOn` the
 * previous with SUCCESS) before every app container; app containers are essential. `restartPolicy` must be Never or
 * OnFailure (the agent restarts nothing, so OnFailure behaves as Never). Fields it cannot map are an
 * `InvalidTaskDefinition` error naming the field.
 */
export function podToTaskDefinitionJson(value: unknown): AgentResult<Record<string, unknown>> {
  try {
    return ok(convert(value));
  } catch (e) {
    if (e instanceof Invalid) {
      return err(new AgentError("InvalidTaskDefinition", `invalid Pod: ${e.message}`, { field: e.field }));
    }
    throw e;
  }
}

/** Converts a Pod (see {@link podToTaskDefinitionJson}) and validates the result as a {@link TaskDefinition}. */
export function taskDefinitionFromPod(value: unknown): AgentResult<TaskDefinition> {
  const json = podToTaskDefinitionJson(value);
  if (!json.ok) return json;
  const def = taskDefinitionFromJson(json.value);
  if (def.ok) return def;
  return err(
    new AgentError("InvalidTaskDefinition", `the Pod converts to an invalid task: ${def.error.message}`, {
      cause: def.error,
      ...(def.error.field === undefined ? {} : { field: def.error.field }),
    }),
  );
}

/**
 * Parses a task file's JSON text: a Kubernetes Pod (`"kind": "Pod"`) through {@link taskDefinitionFromPod}, anything
 * else as an ECS task definition. YAML is not read (convert it first, e.g. `kubectl create --dry-run=client -o json`).
 */
export function parseTaskFile(text: string): AgentResult<TaskDefinition> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return err(
      new AgentError(
        "InvalidTaskDefinition",
        `the task file is not JSON (${(e as Error).message}); YAML Pods must be converted to JSON first`,
        { field: "$", cause: e },
      ),
    );
  }
  return isPod(value) ? taskDefinitionFromPod(value) : taskDefinitionFromJson(value);
}
