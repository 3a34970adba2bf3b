import { posix } from "node:path";
import { AgentError } from "./errors.js";
import { fail, Invalid, isObject } from "./json-input.js";
import { type AgentResult, err, ok } from "./result.js";

/** ECS `dependsOn[].condition` values the agent honors (HEALTHY needs a `healthCheck` on the dependency). */
export const DEPENDENCY_CONDITIONS = ["START", "COMPLETE", "SUCCESS", "HEALTHY"] as const;
/** A `dependsOn` condition: START (running), COMPLETE (exited), SUCCESS (exited with 0), HEALTHY (check passed). */
export type DependencyCondition = (typeof DEPENDENCY_CONDITIONS)[number];

/** One `dependsOn` entry. */
export interface ContainerDependency {
  readonly containerName: string;
  readonly condition: DependencyCondition;
}

/** One `portMappings` entry (recorded and reported in metadata; awsvpc exposes ports on the task's IP as is). */
export interface PortMappingDefinition {
  readonly containerPort: number;
  readonly hostPort: number;
  readonly protocol: "tcp" | "udp";
  readonly name?: string;
}

/** One `secrets` entry: the variable `name` gets the value `valueFrom` refers to (resolved by a secret provider). */
export interface SecretDefinition {
  readonly name: string;
  readonly valueFrom: string;
}

/** `logConfiguration`: the driver and its options, as written. */
export interface LogConfiguration {
  readonly logDriver: string;
  readonly options: Readonly<Record<string, string>>;
}

/**
 * One entry of the task's `volumes`. Without `sourcePath` it is a task-scoped directory the agent creates under its
 * per-task directory and removes on stop (Fargate's bind-mount volume); with `host.sourcePath` it bind-mounts that
 * existing host directory, which the agent never removes.
 */
export interface VolumeDefinition {
  readonly name: string;
  /** `host.sourcePath`: an absolute host path (it must exist when the task starts). */
  readonly sourcePath?: string;
}

/** One `mountPoints` entry: the volume `sourceVolume` at `containerPath`. */
export interface MountPointDefinition {
  readonly sourceVolume: string;
  /** Absolute path inside the container. */
  readonly containerPath: string;
  /** Default false. */
  readonly readOnly: boolean;
}

/** One `volumesFrom` entry: every mount point of `sourceContainer` (read-only when `readOnly`). */
export interface VolumeFromDefinition {
  readonly sourceContainer: string;
  /** True mounts them all read-only; false (the default) keeps each mount's own mode, as Docker's `--volumes-from`. */
  readonly readOnly: boolean;
}

/** One `environmentFiles` entry: `value` names a `.env` file (an S3 object ARN in ECS) an environment-file provider reads. */
export interface EnvironmentFileDefinition {
  readonly value: string;
  readonly type: "s3";
}

/** A container's `healthCheck`, with ECS defaults applied; times in seconds. */
export interface HealthCheckDefinition {
  /** As written: `["CMD-SHELL", "cmd"]` or `["CMD", "prog", ...args]`. */
  readonly command: readonly string[];
  /** Seconds between checks, 5..300 (default 30). */
  readonly interval: number;
  /** Seconds a check may take before it counts as failed, 2..60 (default 5). */
  readonly timeout: number;
  /** Consecutive failures that make the container UNHEALTHY, 1..10 (default 3). */
  readonly retries: number;
  /** Seconds after start in which failures do not count, 0..300 (default 0: off). */
  readonly startPeriod: number;
}

/** One entry of `containerDefinitions`, with ECS defaults applied. */
export interface ContainerDefinition {
  readonly name: string;
  readonly image: string;
  /** Replaces the image's Cmd. */
  readonly command?: readonly string[];
  /** Replaces the image's Entrypoint (and then its Cmd too, as Docker does). */
  readonly entryPoint?: readonly string[];
  /** `environment` as name/value pairs, in order (a later duplicate wins). */
  readonly environment: ReadonlyArray<readonly [string, string]>;
  /** `secrets`: environment variables whose values a {@link SecretDefinition.valueFrom} reference resolves. */
  readonly secrets: readonly SecretDefinition[];
  /** Default true, as in ECS. */
  readonly essential: boolean;
  readonly dependsOn: readonly ContainerDependency[];
  readonly portMappings: readonly PortMappingDefinition[];
  readonly logConfiguration?: LogConfiguration;
  /** CPU units (1024 = 1 vCPU). */
  readonly cpu?: number;
  /** Hard memory limit in MiB. */
  readonly memory?: number;
  readonly workingDirectory?: string;
  /** `mountPoints`: task volumes mounted into this container. */
  readonly mountPoints: readonly MountPointDefinition[];
  /** `volumesFrom`: other containers whose mount points this one gets too. */
  readonly volumesFrom: readonly VolumeFromDefinition[];
  /** `environmentFiles`: `.env` files whose variables are added (`environment` wins; earlier files win). */
  readonly environmentFiles: readonly EnvironmentFileDefinition[];
  /** Mount the root filesystem read-only (default false); mounted volumes stay writable unless `readOnly`. */
  readonly readonlyRootFilesystem: boolean;
  readonly healthCheck?: HealthCheckDefinition;
}

/** The subset of an ECS task definition the reference agent runs. Fields it does not know are ignored. */
export interface TaskDefinition {
  readonly family: string;
  readonly revision: number;
  readonly networkMode: "awsvpc";
  /** Task CPU units (1024 = 1 vCPU), from `"256"`, `256` or `"0.25 vCPU"`. */
  readonly cpu?: number;
  /** Task memory in MiB, from `"512"`, `512` or `"0.5 GB"`. */
  readonly memory?: number;
  /** `volumes`: task-scoped directories and host bind mounts the containers' `mountPoints` refer to. */
  readonly volumes: readonly VolumeDefinition[];
  /**
   * `ephemeralStorage.sizeInGiB` (21..200; Fargate's default is 20). Task volumes live under the agent's state
   * directory; the size is recorded, not enforced (plain directories have no quota).
   */
  readonly ephemeralStorageGiB?: number;
  readonly containerDefinitions: readonly ContainerDefinition[];
}

const NAME = /^[A-Za-z0-9_-]{1,255}$/;

function str(v: unknown, field: string): string {
  if (typeof v !== "string" || v === "") fail(field, `${field} must be a non-empty string`);
  return v;
}

function strList(v: unknown, field: string): string[] {
  if (!Array.isArray(v) || !v.every((s) => typeof s === "string")) fail(field, `${field} must be an array of strings`);
  return v as string[];
}

function positiveInt(v: unknown, field: string, min = 1): number {
  const n = typeof v === "string" && /^\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min) {
    fail(
      field,
      `${field} must be an integer of at least ${min} (a number or a numeric string), not ${JSON.stringify(v)}`,
    );
  }
  return n;
}

function bool(v: unknown, field: string, fallback: boolean): boolean {
  if (v === undefined) return fallback;
  if (typeof v !== "boolean") fail(field, `${field} must be true or false`);
  return v;
}

function intIn(v: unknown, field: string, min: number, max: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    fail(field, `${field} must be an integer from ${min} to ${max}, not ${JSON.stringify(v)}`);
  }
  return v;
}

function list(v: unknown, field: string, shape: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) fail(field, `${field} must be an array of ${shape}`);
  return v;
}

function absolutePath(v: unknown, field: string): string {
  const path = str(v, field);
  if (!posix.isAbsolute(path)) fail(field, `${field} ${JSON.stringify(path)} must be an absolute path (start with /)`);
  return posix.normalize(path).replace(/(.)\/+$/, "$1");
}

function parseMountPoints(v: unknown, at: string): MountPointDefinition[] {
  const seen = new Set<string>();
  return list(v, `${at}.mountPoints`, "{sourceVolume, containerPath, readOnly?}").map((m, j) => {
    const f = `${at}.mountPoints[${j}]`;
    if (!isObject(m)) fail(f, `${f} must be an object {sourceVolume, containerPath, readOnly?}`);
    const containerPath = absolutePath(m.containerPath, `${f}.containerPath`);
    if (containerPath === "/") fail(`${f}.containerPath`, `${f}.containerPath cannot be / (mount a volume below it)`);
    if (seen.has(containerPath)) {
      fail(`${f}.containerPath`, `${f}.containerPath ${containerPath} is already used by another mount point`);
    }
    seen.add(containerPath);
    return {
      sourceVolume: str(m.sourceVolume, `${f}.sourceVolume`),
      containerPath,
      readOnly: bool(m.readOnly, `${f}.readOnly`, false),
    };
  });
}

function parseVolumesFrom(v: unknown, at: string): VolumeFromDefinition[] {
  return list(v, `${at}.volumesFrom`, "{sourceContainer, readOnly?}").map((m, j) => {
    const f = `${at}.volumesFrom[${j}]`;
    if (!isObject(m)) fail(f, `${f} must be an object {sourceContainer, readOnly?}`);
    return {
      sourceContainer: str(m.sourceContainer, `${f}.sourceContainer`),
      readOnly: bool(m.readOnly, `${f}.readOnly`, false),
    };
  });
}

/** ECS allows at most 10 environment files per container. */
const MAX_ENVIRONMENT_FILES = 10;

function parseEnvironmentFiles(v: unknown, at: string): EnvironmentFileDefinition[] {
  const files = list(v, `${at}.environmentFiles`, '{value, type: "s3"}');
  if (files.length > MAX_ENVIRONMENT_FILES) {
    fail(`${at}.environmentFiles`, `${at}.environmentFiles may list at most ${MAX_ENVIRONMENT_FILES} files`);
  }
  return files.map((e, j) => {
    const f = `${at}.environmentFiles[${j}]`;
    if (!isObject(e)) fail(f, `${f} must be an object {value, type: "s3"}`);
    const value = str(e.value, `${f}.value`);
    if (!value.endsWith(".env"))
      fail(`${f}.value`, `${f}.value ${JSON.stringify(value)} must name a file ending in .env`);
    if (e.type !== "s3") fail(`${f}.type`, `${f}.type must be "s3" (the only type ECS has)`);
    return { value, type: "s3" as const };
  });
}

function parseHealthCheck(v: unknown, at: string): HealthCheckDefinition {
  const f = `${at}.healthCheck`;
  if (!isObject(v)) fail(f, `${f} must be an object {command, interval?, timeout?, retries?, startPeriod?}`);
  const command = strList(v.command, `${f}.command`);
  const [kind, ...rest] = command;
  if (kind !== "CMD" && kind !== "CMD-SHELL") {
    fail(
      `${f}.command`,
      `${f}.command must start with "CMD-SHELL" (one shell command) or "CMD" (a program and its arguments)`,
    );
  }
  if (rest.length === 0 || rest[0] === "") fail(`${f}.command`, `${f}.command needs the command after ${kind}`);
  return {
    command,
    interval: intIn(v.interval, `${f}.interval`, 5, 300, 30),
    timeout: intIn(v.timeout, `${f}.timeout`, 2, 60, 5),
    retries: intIn(v.retries, `${f}.retries`, 1, 10, 3),
    startPeriod: intIn(v.startPeriod, `${f}.startPeriod`, 0, 300, 0),
  };
}

function parseVolumes(v: unknown): VolumeDefinition[] {
  const names = new Set<string>();
  return list(v, "volumes", "{name, host?}").map((e, i) => {
    const f = `volumes[${i}]`;
    if (!isObject(e)) fail(f, `${f} must be an object {name, host?: {sourcePath?}}`);
    const name = str(e.name, `${f}.name`);
    if (!NAME.test(name)) fail(`${f}.name`, `${f}.name ${JSON.stringify(name)} may only hold letters, digits, _ and -`);
    if (names.has(name)) fail(`${f}.name`, `volume name ${JSON.stringify(name)} is used twice; names must be unique`);
    names.add(name);
    for (const other of [
      "dockerVolumeConfiguration",
      "efsVolumeConfiguration",
      "fsxWindowsFileServerVolumeConfiguration",
    ]) {
      if (e[other] !== undefined) {
        fail(`${f}.${other}`, `${f}.${other} is not supported: use a task-scoped volume (no host) or host.sourcePath`);
      }
    }
    if (e.configuredAtLaunch === true) {
      fail(
        `${f}.configuredAtLaunch`,
        `${f}.configuredAtLaunch is not supported: configure the volume in the definition`,
      );
    }
    if (e.host === undefined) return { name };
    if (!isObject(e.host)) fail(`${f}.host`, `${f}.host must be an object {sourcePath?}`);
    if (e.host.sourcePath === undefined) return { name };
    return { name, sourcePath: absolutePath(e.host.sourcePath, `${f}.host.sourcePath`) };
  });
}

/** Task-level size: a number, a numeric string, or `"<n> <unit>"` with unit vCPU / GB. */
function taskSize(v: unknown, field: string, unit: string, scale: number): number {
  if (typeof v === "string") {
    const m = new RegExp(`^\\s*(\\d+(?:\\.\\d+)?)\\s*${unit}\\s*$`, "i").exec(v);
    if (m?.[1] !== undefined) {
      const n = Math.round(Number(m[1]) * scale);
      if (n >= 1) return n;
    }
  }
  return positiveInt(v, field);
}

function parseContainer(v: unknown, i: number): ContainerDefinition {
  const at = `containerDefinitions[${i}]`;
  if (!isObject(v)) fail(at, `${at} must be an object`);
  const name = str(v.name, `${at}.name`);
  if (!NAME.test(name)) fail(`${at}.name`, `${at}.name ${JSON.stringify(name)} may only hold letters, digits, _ and -`);
  const image = str(v.image, `${at}.image`);
  const environment: Array<[string, string]> = [];
  if (v.environment !== undefined) {
    if (!Array.isArray(v.environment)) fail(`${at}.environment`, `${at}.environment must be an array of {name, value}`);
    v.environment.forEach((e: unknown, j) => {
      const f = `${at}.environment[${j}]`;
      if (!isObject(e)) fail(f, `${f} must be an object {name, value}`);
      const key = str(e.name, `${f}.name`);
      if (key.includes("=")) fail(`${f}.name`, `${f}.name ${JSON.stringify(key)} must not contain '='`);
      if (typeof e.value !== "string") fail(`${f}.value`, `${f}.value must be a string (quote numbers in JSON)`);
      environment.push([key, e.value]);
    });
  }
  const secrets: SecretDefinition[] = [];
  if (v.secrets !== undefined) {
    if (!Array.isArray(v.secrets)) fail(`${at}.secrets`, `${at}.secrets must be an array of {name, valueFrom}`);
    v.secrets.forEach((e: unknown, j) => {
      const f = `${at}.secrets[${j}]`;
      if (!isObject(e)) fail(f, `${f} must be an object {name, valueFrom}`);
      const key = str(e.name, `${f}.name`);
      if (key.includes("=")) fail(`${f}.name`, `${f}.name ${JSON.stringify(key)} must not contain '='`);
      secrets.push({ name: key, valueFrom: str(e.valueFrom, `${f}.valueFrom`) });
    });
  }
  const dependsOn: ContainerDependency[] = [];
  if (v.dependsOn !== undefined) {
    if (!Array.isArray(v.dependsOn)) fail(`${at}.dependsOn`, `${at}.dependsOn must be an array`);
    v.dependsOn.forEach((d: unknown, j) => {
      const f = `${at}.dependsOn[${j}]`;
      if (!isObject(d)) fail(f, `${f} must be an object {containerName, condition}`);
      const containerName = str(d.containerName, `${f}.containerName`);
      const condition = d.condition;
      if (!DEPENDENCY_CONDITIONS.includes(condition as DependencyCondition)) {
        fail(`${f}.condition`, `${f}.condition must be one of ${DEPENDENCY_CONDITIONS.join(", ")}`);
      }
      dependsOn.push({ containerName, condition: condition as DependencyCondition });
    });
  }
  const portMappings: PortMappingDefinition[] = [];
  if (v.portMappings !== undefined) {
    if (!Array.isArray(v.portMappings)) fail(`${at}.portMappings`, `${at}.portMappings must be an array`);
    v.portMappings.forEach((p: unknown, j) => {
      const f = `${at}.portMappings[${j}]`;
      if (!isObject(p)) fail(f, `${f} must be an object {containerPort, hostPort?, protocol?}`);
      const containerPort = positiveInt(p.containerPort, `${f}.containerPort`);
      if (containerPort > 65535) fail(`${f}.containerPort`, `${f}.containerPort must be at most 65535`);
      const hostPort = p.hostPort === undefined ? containerPort : positiveInt(p.hostPort, `${f}.hostPort`);
      if (hostPort !== containerPort) {
        fail(`${f}.hostPort`, `${f}.hostPort must equal containerPort (or be left out) in awsvpc mode`);
      }
      const protocol = p.protocol ?? "tcp";
      if (protocol !== "tcp" && protocol !== "udp") fail(`${f}.protocol`, `${f}.protocol must be "tcp" or "udp"`);
      portMappings.push({
        containerPort,
        hostPort,
        protocol,
        ...(typeof p.name === "string" ? { name: p.name } : {}),
      });
    });
  }
  let logConfiguration: LogConfiguration | undefined;
  if (v.logConfiguration !== undefined) {
    const f = `${at}.logConfiguration`;
    const lc = v.logConfiguration;
    if (!isObject(lc)) fail(f, `${f} must be an object {logDriver, options}`);
    const logDriver = str(lc.logDriver, `${f}.logDriver`);
    const options: Record<string, string> = {};
    if (lc.options !== undefined) {
      if (!isObject(lc.options)) fail(`${f}.options`, `${f}.options must be an object of strings`);
      for (const [k, o] of Object.entries(lc.options)) {
        if (typeof o !== "string") fail(`${f}.options.${k}`, `${f}.options.${k} must be a string`);
        options[k] = o;
      }
    }
    logConfiguration = { logDriver, options };
  }
  const essential = v.essential ?? true;
  if (typeof essential !== "boolean") fail(`${at}.essential`, `${at}.essential must be true or false`);
  return {
    name,
    image,
    ...(v.command === undefined ? {} : { command: strList(v.command, `${at}.command`) }),
    ...(v.entryPoint === undefined ? {} : { entryPoint: strList(v.entryPoint, `${at}.entryPoint`) }),
    environment,
    secrets,
    essential,
    dependsOn,
    portMappings,
    ...(logConfiguration === undefined ? {} : { logConfiguration }),
    ...(v.cpu === undefined ? {} : { cpu: positiveInt(v.cpu, `${at}.cpu`, 0) }),
    ...(v.memory === undefined ? {} : { memory: positiveInt(v.memory, `${at}.memory`, 6) }),
    ...(v.workingDirectory === undefined
      ? {}
      : { workingDirectory: str(v.workingDirectory, `${at}.workingDirectory`) }),
    mountPoints: parseMountPoints(v.mountPoints, at),
    volumesFrom: parseVolumesFrom(v.volumesFrom, at),
    environmentFiles: parseEnvironmentFiles(v.environmentFiles, at),
    readonlyRootFilesystem: bool(v.readonlyRootFilesystem, `${at}.readonlyRootFilesystem`, false),
    ...(v.healthCheck === undefined ? {} : { healthCheck: parseHealthCheck(v.healthCheck, at) }),
  };
}

function checkGraph(containers: readonly ContainerDefinition[], volumes: readonly VolumeDefinition[]): void {
  const names = new Map<string, number>();
  containers.forEach((c, i) => {
    if (names.has(c.name)) {
      fail(
        `containerDefinitions[${i}].name`,
        `container name ${JSON.stringify(c.name)} is used twice; names must be unique`,
      );
    }
    names.set(c.name, i);
  });
  if (!containers.some((c) => c.essential)) {
    fail("containerDefinitions", "at least one container must be essential (essential defaults to true)");
  }
  containers.forEach((c, i) => {
    c.dependsOn.forEach((d, j) => {
      const f = `containerDefinitions[${i}].dependsOn[${j}].containerName`;
      if (d.containerName === c.name) fail(f, `container ${JSON.stringify(c.name)} cannot depend on itself`);
      const target = names.get(d.containerName);
      if (target === undefined) fail(f, `${f}: there is no container named ${JSON.stringify(d.containerName)}`);
      const dep = containers[target];
      if (d.condition === "HEALTHY" && !dep?.healthCheck) {
        fail(
          `containerDefinitions[${i}].dependsOn[${j}].condition`,
          `${JSON.stringify(c.name)} waits for ${JSON.stringify(d.containerName)} to be HEALTHY, but it has no healthCheck: add one or use START`,
        );
      }
      if (dep?.essential && (d.condition === "COMPLETE" || d.condition === "SUCCESS")) {
        fail(
          `containerDefinitions[${i}].dependsOn[${j}].condition`,
          `${JSON.stringify(c.name)} waits for essential ${JSON.stringify(dep.name)} to exit (${d.condition}), ` +
            "but its exit stops the task: mark it essential: false or use START",
        );
      }
    });
  });
  const volumeNames = new Set(volumes.map((v) => v.name));
  containers.forEach((c, i) => {
    c.mountPoints.forEach((m, j) => {
      if (!volumeNames.has(m.sourceVolume)) {
        const f = `containerDefinitions[${i}].mountPoints[${j}].sourceVolume`;
        fail(f, `${f}: there is no volume named ${JSON.stringify(m.sourceVolume)}; declare it in the task's volumes`);
      }
    });
    c.volumesFrom.forEach((vf, j) => {
      const f = `containerDefinitions[${i}].volumesFrom[${j}].sourceContainer`;
      if (vf.sourceContainer === c.name) fail(f, `container ${JSON.stringify(c.name)} cannot take volumes from itself`);
      if (!names.has(vf.sourceContainer)) {
        fail(f, `${f}: there is no container named ${JSON.stringify(vf.sourceContainer)}`);
      }
    });
  });
  for (const c of containers) resolveMounts(containers, c.name, []);
  startOrder(containers);
}

/** A container's mount points including those from `volumesFrom` (transitively); throws Invalid on a cycle or clash. */
function resolveMounts(
  containers: readonly ContainerDefinition[],
  name: string,
  path: readonly string[],
): MountPointDefinition[] {
  if (path.includes(name)) {
    fail("containerDefinitions", `volumesFrom has a cycle: ${[...path, name].join(" -> ")}; remove one of the entries`);
  }
  const c = containers.find((x) => x.name === name);
  if (!c) return [];
  const byPath = new Map<string, MountPointDefinition & { from?: string }>();
  for (const m of c.mountPoints) byPath.set(m.containerPath, m);
  for (const vf of c.volumesFrom) {
    for (const m of resolveMounts(containers, vf.sourceContainer, [...path, name])) {
      const have = byPath.get(m.containerPath);
      if (have === undefined) {
        byPath.set(m.containerPath, { ...m, readOnly: vf.readOnly || m.readOnly, from: vf.sourceContainer });
      } else if (have.from !== undefined && have.sourceVolume !== m.sourceVolume) {
        fail(
          "containerDefinitions",
          `${JSON.stringify(name)} gets two volumes at ${m.containerPath} through volumesFrom ` +
            `(${have.sourceVolume} from ${have.from}, ${m.sourceVolume} from ${vf.sourceContainer}); mount one there itself`,
        );
      }
      // The container's own mount point at that path wins, as with Docker's --volumes-from.
    }
  }
  return [...byPath.values()].map(({ sourceVolume, containerPath, readOnly }) => ({
    sourceVolume,
    containerPath,
    readOnly,
  }));
}

/**
 * Every mount point container `name` gets: its own `mountPoints`, then those of its `volumesFrom` containers
 * (transitively; read-only when the entry says so, its own mount point winning at the same path). Throws nothing
 * for a definition {@link parseTaskDefinition} accepted; an unknown name has none.
 */
export function containerMountPoints(def: TaskDefinition, name: string): MountPointDefinition[] {
  return resolveMounts(def.containerDefinitions, name, []);
}

/**
 * The order containers are started in: every container after the ones it depends on, otherwise in definition
 * order. Throws nothing for a valid definition; a cycle is reported by {@link parseTaskDefinition}.
 */
export function startOrder(containers: readonly ContainerDefinition[]): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const byName = new Map(containers.map((c) => [c.name, c]));
  const visit = (c: ContainerDefinition, path: string[]) => {
    const s = state.get(c.name);
    if (s === "done") return;
    if (s === "visiting") {
      fail("containerDefinitions", `dependsOn has a cycle: ${[...path, c.name].join(" -> ")}; remove one of the edges`);
    }
    state.set(c.name, "visiting");
    for (const d of c.dependsOn) {
      const dep = byName.get(d.containerName);
      if (dep) visit(dep, [...path, c.name]);
    }
    state.set(c.name, "done");
    order.push(c.name);
  };
  for (const c of containers) visit(c, []);
  return order;
}

/** Validates a parsed JSON value as a task definition (see {@link parseTaskDefinition}). */
export function taskDefinitionFromJson(value: unknown): AgentResult<TaskDefinition> {
  try {
    if (!isObject(value)) fail("$", "a task definition must be a JSON object");
    // `aws ecs describe-task-definition` wraps it: accept { "taskDefinition": {...} } too.
    const v = isObject(value.taskDefinition) ? value.taskDefinition : value;
    const family = str(v.family, "family");
    if (!NAME.test(family)) fail("family", `family ${JSON.stringify(family)} may only hold letters, digits, _ and -`);
    const networkMode = v.networkMode ?? "awsvpc";
    if (networkMode !== "awsvpc") {
      fail("networkMode", `networkMode ${JSON.stringify(networkMode)} is not supported: this agent runs awsvpc tasks`);
    }
    if (!Array.isArray(v.containerDefinitions) || v.containerDefinitions.length === 0) {
      fail("containerDefinitions", "containerDefinitions must be a non-empty array");
    }
    const containerDefinitions = v.containerDefinitions.map(parseContainer);
    const volumes = parseVolumes(v.volumes);
    checkGraph(containerDefinitions, volumes);
    let ephemeralStorageGiB: number | undefined;
    if (v.ephemeralStorage !== undefined) {
      if (!isObject(v.ephemeralStorage)) fail("ephemeralStorage", "ephemeralStorage must be an object {sizeInGiB}");
      ephemeralStorageGiB = intIn(v.ephemeralStorage.sizeInGiB, "ephemeralStorage.sizeInGiB", 21, 200, 21);
    }
    return ok({
      family,
      revision: v.revision === undefined ? 1 : positiveInt(v.revision, "revision"),
      networkMode: "awsvpc",
      ...(v.cpu === undefined ? {} : { cpu: taskSize(v.cpu, "cpu", "vCPU", 1024) }),
      ...(v.memory === undefined ? {} : { memory: taskSize(v.memory, "memory", "GB", 1024) }),
      volumes,
      ...(ephemeralStorageGiB === undefined ? {} : { ephemeralStorageGiB }),
      containerDefinitions,
    });
  } catch (e) {
    if (e instanceof Invalid) {
      return err(new AgentError("InvalidTaskDefinition", `invalid task definition: ${e.message}`, { field: e.field }));
    }
    throw e;
  }
}

/** Parses an ECS task definition's JSON text into a {@link TaskDefinition}; `InvalidTaskDefinition` names the field. */
export function parseTaskDefinition(text: string): AgentResult<TaskDefinition> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    return err(
      new AgentError("InvalidTaskDefinition", `the task definition is not JSON: ${(e as Error).message}`, {
        field: "$",
        cause: e,
      }),
    );
  }
  return taskDefinitionFromJson(value);
}
