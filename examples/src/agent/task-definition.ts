import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";

/** ECS `dependsOn[].condition` values the agent honors (HEALTHY needs health checks, which it does not run). */
export const DEPENDENCY_CONDITIONS = ["START", "COMPLETE", "SUCCESS"] as const;
/** A `dependsOn` condition: START (running), COMPLETE (exited), SUCCESS (exited with 0). */
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
  readonly containerDefinitions: readonly ContainerDefinition[];
}

const NAME = /^[A-Za-z0-9_-]{1,255}$/;
type Json = Record<string, unknown>;

class Invalid {
  constructor(
    readonly field: string,
    readonly message: string,
  ) {}
}

function fail(field: string, message: string): never {
  throw new Invalid(field, message);
}

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

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
      if (condition === "HEALTHY") {
        fail(`${f}.condition`, `${f}.condition HEALTHY needs health checks, which this agent does not run: use START`);
      }
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
  };
}

function checkGraph(containers: readonly ContainerDefinition[]): void {
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
      if (dep?.essential && d.condition !== "START") {
        fail(
          `containerDefinitions[${i}].dependsOn[${j}].condition`,
          `${JSON.stringify(c.name)} waits for essential ${JSON.stringify(dep.name)} to exit (${d.condition}), ` +
            "but its exit stops the task: mark it essential: false or use START",
        );
      }
    });
  });
  startOrder(containers);
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
    checkGraph(containerDefinitions);
    return ok({
      family,
      revision: v.revision === undefined ? 1 : positiveInt(v.revision, "revision"),
      networkMode: "awsvpc",
      ...(v.cpu === undefined ? {} : { cpu: taskSize(v.cpu, "cpu", "vCPU", 1024) }),
      ...(v.memory === undefined ? {} : { memory: taskSize(v.memory, "memory", "GB", 1024) }),
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
