// Internal: the validation and encoding pieces v4-json.ts and v3-json.ts share. Not re-exported
// from index.ts.
import { MetadataError } from "./errors.js";
import { formatTimestamp, type Timestamp } from "./timestamp.js";
import type {
  ContainerState,
  HealthResponse,
  HealthState,
  LimitsResponse,
  NetworkState,
  PortResponse,
  TaskState,
  VolumeResponse,
} from "./v4-types.js";

/** Every key of `T` present (possibly `undefined`), so a builder cannot forget a field. */
export type Loose<T> = { [K in keyof T]-?: T[K] | undefined };

/**
 * Drops the `undefined` entries (Go's omitempty, decided by the caller) and keeps the others in
 * the order they were written, which is the order of the agent's Go struct fields.
 */
export function omitUndefined<T>(value: Loose<T>): T {
  const out: Record<string, unknown> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (entry !== undefined) out[key] = entry;
  }
  return out as T;
}

const TASK_STATUSES: ReadonlySet<string> = new Set(["NONE", "MANIFEST_PULLED", "CREATED", "RUNNING", "STOPPED"]);
const CONTAINER_STATUSES: ReadonlySet<string> = new Set([
  "NONE",
  "MANIFEST_PULLED",
  "PULLED",
  "CREATED",
  "RUNNING",
  "RESOURCES_PROVISIONED",
  "STOPPED",
]);
const CONTAINER_TYPES: ReadonlySet<string> = new Set([
  "NORMAL",
  "EMPTY_HOST_VOLUME",
  "CNI_PAUSE",
  "NAMESPACE_PAUSE",
  "MANAGED_DAEMON",
]);
const HEALTH_STATUSES: ReadonlySet<string> = new Set(["HEALTHY", "UNHEALTHY", "UNKNOWN"]);
const PROTOCOLS: ReadonlySet<string> = new Set(["tcp", "udp"]);

// Go's int and int64 as JSON numbers: JavaScript numbers are exact up to 2^53 - 1.
const MAX_INT = Number.MAX_SAFE_INTEGER;
const MIN_INT = Number.MIN_SAFE_INTEGER;
// The agent's container CPU value is at least 2 (Docker's minimum CPU shares).
const MINIMUM_CPU_UNITS = 2;

/**
 * Collects the first problem found while turning a model into JSON. Each method returns a usable
 * placeholder on failure so a builder can run to its end; the caller then checks {@link error}.
 */
export class Checker {
  error: MetadataError | undefined;

  fail(field: string, why: string): void {
    this.error ??= new MetadataError("InvalidInput", `${field}: ${why}`, { field });
  }

  /** A required string (kept even when empty: the agent's field has no omitempty). */
  string(field: string, value: unknown): string {
    if (typeof value === "string") return value;
    this.fail(field, `expected a string, got ${describe(value)}`);
    return "";
  }

  /** An omitempty string: `undefined` and `""` are omitted. */
  optString(field: string, value: unknown): string | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "string") {
      this.fail(field, `expected a string or nothing, got ${describe(value)}`);
      return undefined;
    }
    return value === "" ? undefined : value;
  }

  /** A value from a closed set of strings. */
  oneOf(field: string, value: unknown, allowed: ReadonlySet<string>): string {
    if (typeof value === "string" && allowed.has(value)) return value;
    this.fail(field, `expected one of ${[...allowed].join(", ")}, got ${describe(value)}`);
    return "";
  }

  /** An integer in `[min, max]`, or `undefined` when missing. */
  int(field: string, value: unknown, min = MIN_INT, max = MAX_INT): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      this.fail(field, `expected an integer in [${min}, ${max}], got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A required integer in `[min, max]` (a Go int without omitempty). */
  requiredInt(field: string, value: unknown, min = MIN_INT, max = MAX_INT): number {
    if (value === undefined) {
      this.fail(field, "is required (an integer)");
      return 0;
    }
    return this.int(field, value, min, max) ?? 0;
  }

  /** A finite number at least `min`, or `undefined` when missing. */
  number(field: string, value: unknown, min = -Number.MAX_VALUE): number | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isFinite(value) || value < min) {
      this.fail(field, `expected a finite number >= ${min}, got ${describe(value)}`);
      return undefined;
    }
    return value;
  }

  /** A boolean, or `undefined` when missing. */
  boolean(field: string, value: unknown): boolean | undefined {
    if (value === undefined || typeof value === "boolean") return value;
    this.fail(field, `expected a boolean, got ${describe(value)}`);
    return undefined;
  }

  /** A timestamp in the agent's format, or `undefined` when missing. */
  time(field: string, value: Timestamp | undefined): string | undefined {
    if (value === undefined) return undefined;
    const formatted = formatTimestamp(value, field);
    if (formatted.isErr()) {
      this.error ??= formatted.error;
      return undefined;
    }
    return formatted.value;
  }

  /** An omitempty list of strings: missing and empty lists are omitted. */
  strings(field: string, value: readonly unknown[] | undefined): readonly string[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.fail(field, `expected an array of strings, got ${describe(value)}`);
      return undefined;
    }
    const out = value.map((entry, i) => this.string(`${field}[${i}]`, entry));
    return out.length === 0 ? undefined : out;
  }

  /**
   * An omitempty `map[string]string`: missing and empty maps are omitted; keys are sorted by their
   * UTF-8 bytes, as Go's encoder sorts map keys.
   */
  stringMap(field: string, value: Readonly<Record<string, string>> | undefined): Record<string, string> | undefined {
    if (value === undefined) return undefined;
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      this.fail(field, `expected an object of string values, got ${describe(value)}`);
      return undefined;
    }
    const entries = Object.entries(value).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    if (entries.length === 0) return undefined;
    const out: Record<string, string> = {};
    for (const [key, entry] of entries) {
      // defineProperty, so a key such as "__proto__" stays an ordinary entry.
      Object.defineProperty(out, key, {
        value: this.string(`${field}[${JSON.stringify(key)}]`, entry),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }

  /** A list of objects; each entry is converted by `convert`. Missing and empty lists are omitted. */
  list<I, O>(field: string, value: readonly I[] | undefined, convert: (entry: I, path: string) => O): O[] | undefined {
    if (value === undefined) return undefined;
    if (!Array.isArray(value)) {
      this.fail(field, `expected an array, got ${describe(value)}`);
      return undefined;
    }
    const out = value.map((entry, i) => {
      const path = `${field}[${i}]`;
      if (typeof entry !== "object" || entry === null) this.fail(path, `expected an object, got ${describe(entry)}`);
      return convert((entry ?? {}) as I, path);
    });
    return out.length === 0 ? undefined : out;
  }

  /** Checks that an optional nested value is an object before its fields are read. */
  object<T extends object>(field: string, value: T | undefined): T | undefined {
    if (value === undefined) return undefined;
    if (typeof value === "object" && value !== null && !Array.isArray(value)) return value;
    this.fail(field, `expected an object, got ${describe(value)}`);
    return undefined;
  }
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  return typeof value;
}

/** The fields every version shares, converted; the builders place them in their struct order. */
export interface ContainerCommon {
  readonly DockerId: string;
  readonly Name: string;
  readonly DockerName: string;
  readonly Image: string;
  readonly ImageID: string;
  readonly Ports: readonly PortResponse[] | undefined;
  readonly Labels: Record<string, string> | undefined;
  readonly DesiredStatus: string;
  readonly KnownStatus: string;
  readonly ExitCode: number | undefined;
  readonly Limits: LimitsResponse;
  readonly CreatedAt: string | undefined;
  readonly StartedAt: string | undefined;
  readonly FinishedAt: string | undefined;
  readonly Type: string;
  readonly Health: HealthResponse | undefined;
  readonly Volumes: readonly VolumeResponse[] | undefined;
}

/** Converts the fields of a container that v3 and v4 report alike (v4 adds `HostIp` to ports). */
export function containerCommon(check: Checker, c: ContainerState, path: string, withHostIp: boolean): ContainerCommon {
  if (typeof c !== "object" || c === null) check.fail(path, `expected a container object, got ${describe(c)}`);
  const container = (c ?? {}) as ContainerState;
  const limits = check.object(`${path}.limits`, container.limits);
  const cpu = check.int(`${path}.limits.cpu`, limits?.cpu, 0) ?? 0;
  const health = check.object(`${path}.health`, container.health);
  return {
    DockerId: check.string(`${path}.runtimeId`, container.runtimeId),
    Name: check.string(`${path}.name`, container.name),
    DockerName: check.string(`${path}.runtimeName`, container.runtimeName),
    Image: check.string(`${path}.image`, container.image),
    ImageID: check.string(`${path}.imageId`, container.imageId),
    Ports: check.list(`${path}.ports`, container.ports, (p, at) =>
      omitUndefined<PortResponse>({
        ContainerPort: nonZero(check.int(`${at}.containerPort`, p.containerPort, 0, 65535)),
        Protocol: p.protocol === undefined ? undefined : check.oneOf(`${at}.protocol`, p.protocol, PROTOCOLS),
        HostPort: nonZero(check.int(`${at}.hostPort`, p.hostPort, 0, 65535)),
        HostIp: withHostIp ? check.optString(`${at}.hostIp`, p.hostIp) : undefined,
      }),
    ),
    Labels: check.stringMap(`${path}.labels`, container.labels),
    DesiredStatus: check.oneOf(`${path}.desiredStatus`, container.desiredStatus, CONTAINER_STATUSES),
    KnownStatus: check.oneOf(`${path}.knownStatus`, container.knownStatus, CONTAINER_STATUSES),
    ExitCode: check.int(`${path}.exitCode`, container.exitCode),
    Limits: omitUndefined<LimitsResponse>({
      CPU: Math.max(cpu, MINIMUM_CPU_UNITS),
      Memory: check.int(`${path}.limits.memory`, limits?.memory, 0),
    }),
    CreatedAt: check.time(`${path}.createdAt`, container.createdAt),
    StartedAt: check.time(`${path}.startedAt`, container.startedAt),
    FinishedAt: check.time(`${path}.finishedAt`, container.finishedAt),
    Type: container.type === undefined ? "NORMAL" : check.oneOf(`${path}.type`, container.type, CONTAINER_TYPES),
    Health: health === undefined ? undefined : healthResponse(check, health, `${path}.health`),
    Volumes: check.list(`${path}.volumes`, container.volumes, (v, at) =>
      omitUndefined<VolumeResponse>({
        DockerName: check.optString(`${at}.name`, v.name),
        Source: check.optString(`${at}.source`, v.source),
        Destination: check.optString(`${at}.destination`, v.destination),
      }),
    ),
  };
}

function healthResponse(check: Checker, health: HealthState, path: string): HealthResponse {
  const status = check.oneOf(`${path}.status`, health.status, HEALTH_STATUSES);
  return omitUndefined<HealthResponse>({
    // The agent leaves the status out while it is UNKNOWN.
    status: status === "UNKNOWN" || status === "" ? undefined : status,
    statusSince: check.time(`${path}.since`, health.since),
    exitCode: nonZero(check.int(`${path}.exitCode`, health.exitCode)),
    output: check.optString(`${path}.output`, health.output),
  });
}

/** The networks reported for a container: its own, else the task's. */
export function networksOf(
  check: Checker,
  container: ContainerState,
  task: TaskState | undefined,
  path: string,
): { readonly networks: readonly NetworkState[] | undefined; readonly path: string } {
  const own = (container as ContainerState | undefined)?.networks;
  if (own !== undefined) return { networks: own, path: `${path}.networks` };
  if (task === undefined) return { networks: undefined, path: `${path}.networks` };
  if (typeof task !== "object" || task === null) check.fail("task", `expected a task object, got ${describe(task)}`);
  return { networks: (task as TaskState | null)?.networks, path: "task.networks" };
}

/** The task fields v3 and v4 share, converted. */
export interface TaskCommon {
  readonly Cluster: string;
  readonly TaskARN: string;
  readonly Family: string;
  readonly Revision: string;
  readonly DesiredStatus: string | undefined;
  readonly KnownStatus: string;
  readonly Limits: LimitsResponse | undefined;
  readonly PullStartedAt: string | undefined;
  readonly PullStoppedAt: string | undefined;
  readonly ExecutionStoppedAt: string | undefined;
  readonly AvailabilityZone: string | undefined;
  readonly TaskTags: Record<string, string> | undefined;
  readonly ContainerInstanceTags: Record<string, string> | undefined;
}

/** Converts the task fields v3 and v4 report alike; tags only when `withTags`. */
export function taskCommon(check: Checker, task: TaskState, withTags: boolean): TaskCommon {
  const limits = check.object("task.limits", task.limits);
  const cpu = nonZero(check.number("task.limits.cpu", limits?.cpu, 0));
  const memory = nonZero(check.int("task.limits.memory", limits?.memory, 0));
  const revision = task.revision;
  return {
    Cluster: check.string("task.cluster", task.cluster),
    TaskARN: check.string("task.arn", task.arn),
    Family: check.string("task.family", task.family),
    Revision:
      typeof revision === "number"
        ? String(check.int("task.revision", revision, 0) ?? "")
        : check.string("task.revision", revision),
    DesiredStatus:
      task.desiredStatus === undefined
        ? undefined
        : check.oneOf("task.desiredStatus", task.desiredStatus, TASK_STATUSES),
    KnownStatus: check.oneOf("task.knownStatus", task.knownStatus, TASK_STATUSES),
    Limits:
      cpu === undefined && memory === undefined
        ? undefined
        : omitUndefined<LimitsResponse>({ CPU: cpu, Memory: memory }),
    PullStartedAt: check.time("task.pullStartedAt", task.pullStartedAt),
    PullStoppedAt: check.time("task.pullStoppedAt", task.pullStoppedAt),
    ExecutionStoppedAt: check.time("task.executionStoppedAt", task.executionStoppedAt),
    AvailabilityZone: check.optString("task.availabilityZone", task.availabilityZone),
    TaskTags: withTags ? check.stringMap("task.tags", task.tags) : undefined,
    ContainerInstanceTags: withTags
      ? check.stringMap("task.containerInstanceTags", task.containerInstanceTags)
      : undefined,
  };
}

/** Validates that the task argument is an object with a containers array before the builders read it. */
export function checkTaskShape(check: Checker, task: TaskState): void {
  if (typeof task !== "object" || task === null) {
    check.fail("task", `expected a task object, got ${describe(task)}`);
    return;
  }
  if (!Array.isArray(task.containers))
    check.fail("task.containers", `expected an array, got ${describe(task.containers)}`);
}

/** `0` becomes `undefined`: Go's omitempty on a number. */
export function nonZero(value: number | undefined): number | undefined {
  return value === 0 ? undefined : value;
}
