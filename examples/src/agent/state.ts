import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TaskState } from "@berth/metadata";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";
import type { HealthCheckDefinition } from "./task-definition.js";

/**
 * The version of the task record format {@link writeTaskRecord} writes. Version 1 (no `version` field) had only
 * the identifying fields; version 2 adds {@link TaskRuntime}, which is what re-attaching needs.
 */
export const TASK_RECORD_VERSION = 2;

/** One container of a recorded task, in start order. */
export interface RuntimeContainer {
  readonly name: string;
  /** containerd container (and task) id. */
  readonly id: string;
  readonly essential: boolean;
  /** Its json-file log, when it has a `json-file` logConfiguration. */
  readonly logPath?: string;
  /** Its `healthCheck`, which a re-attached agent runs again. */
  readonly healthCheck?: HealthCheckDefinition;
}

/**
 * Everything a new agent process needs to take a running task over and tear it down exactly as the agent that
 * started it would have: see `attachTask`.
 */
export interface TaskRuntime {
  /** The containerd namespace of the task's containers. */
  readonly namespace: string;
  readonly snapshotter: string;
  /** The agent's state directory (CNI cache, IPAM leases, task directories). */
  readonly stateDir: string;
  /** The per-task directory (logs, task files), removed on stop. */
  readonly taskDir: string;
  /** Grace period between SIGTERM and SIGKILL on stop, in ms. */
  readonly stopGraceMs: number;
  /** The task's network namespace. */
  readonly netns: { readonly name: string; readonly path: string };
  /** The CNI attachment: the network list as added (its exact JSON), and where the libcni cache lives. */
  readonly cni: {
    readonly cniPath: string;
    readonly cacheDir: string;
    readonly config: string;
    readonly containerId: string;
    readonly ifName: string;
  };
  /** ENI mode: the host end of the veth pair standing in for the ENI (deleting it deletes the pair). */
  readonly eniHostInterface?: string;
  /** The metadata server the containers were pointed at, and what it served. */
  readonly metadata: {
    readonly host: string;
    readonly port: number;
    /** Container runtime id to endpoint id, as baked into each container's `ECS_CONTAINER_METADATA_URI_V4`. */
    readonly endpoints: Readonly<Record<string, string>>;
    /** The task's metadata model (timestamps as RFC 3339 strings once read back). */
    readonly task: TaskState;
  };
  readonly containers: readonly RuntimeContainer[];
}

/** What the agent records about a running task, so `task ls`, `task stop` and `task attach` find it later. */
export interface TaskRecord {
  /** The record format ({@link TASK_RECORD_VERSION}); absent in version 1 records. */
  readonly version?: number;
  readonly id: string;
  readonly arn: string;
  readonly family: string;
  readonly ip: string;
  readonly netns: string;
  /** The agent process that runs (and will tear down) the task. */
  readonly pid: number;
  /** That process's start time (clock ticks since boot, /proc/PID/stat), so a reused pid is not taken for it. */
  readonly agentStartTime?: number;
  /** Where the detached agent's output goes, when detached. */
  readonly log?: string;
  /** The containerd socket the task's containers live behind. */
  readonly containerdAddress?: string;
  /** ISO 8601. */
  readonly startedAt: string;
  /** What re-attaching and teardown need (version 2 records). */
  readonly runtime?: TaskRuntime;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

function recordsDir(stateDir: string): string {
  return join(stateDir, "running");
}

function recordPath(stateDir: string, id: string): AgentResult<string> {
  if (!ID.test(id)) {
    return err(new AgentError("StateFailed", `${JSON.stringify(id)} is not a task id (see \`pnpm berth task ls\`)`));
  }
  return ok(join(recordsDir(stateDir), `${id}.json`));
}

/**
 * Writes (atomically replaces: a unique temporary file renamed over the record) a task's record under
 * `<stateDir>/running/`. Concurrent writers never see a half-written record; the last rename wins.
 */
export async function writeTaskRecord(stateDir: string, record: TaskRecord): Promise<AgentResult<void>> {
  const path = recordPath(stateDir, record.id);
  if (!path.ok) return path;
  const tmp = `${path.value}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
  try {
    await mkdir(recordsDir(stateDir), { recursive: true });
    await writeFile(tmp, `${JSON.stringify(record, null, 2)}\n`);
    await rename(tmp, path.value);
    return ok(undefined);
  } catch (e) {
    await rm(tmp, { force: true }).catch(() => {});
    return err(new AgentError("StateFailed", `writing ${path.value}: ${(e as Error).message}`, { cause: e }));
  }
}

/** A claim file older than this was left by a process that died while claiming; it is removed. */
const STALE_CLAIM_MS = 10_000;

/**
 * Makes the calling process the task's agent: under a short-lived exclusive claim file (`<id>.claim`, created with
 * O_EXCL, so two processes cannot interleave here), reads the record, refuses when another live agent holds it, and
 * rewrites it with this process's pid and start time. Returns the record as it was before. Fails (`StateFailed`)
 * when there is no record, when its agent still runs, or when another process is claiming it right now.
 */
export async function claimTaskRecord(stateDir: string, id: string): Promise<AgentResult<TaskRecord>> {
  const path = recordPath(stateDir, id);
  if (!path.ok) return path;
  const claimFile = path.value.replace(/\.json$/, ".claim");
  const before = await readTaskRecord(stateDir, id);
  if (!before.ok) return before;
  if (before.value === undefined) {
    return err(new AgentError("StateFailed", `no task ${id} is recorded in ${stateDir} (see \`pnpm berth task ls\`)`));
  }
  const take = async (): Promise<boolean> => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await writeFile(claimFile, `${process.pid}\n`, { flag: "wx" });
        return true;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const age = await stat(claimFile).then(
        (st) => Date.now() - st.mtimeMs,
        () => Number.POSITIVE_INFINITY, // gone meanwhile: try again
      );
      if (age < STALE_CLAIM_MS) return false;
      if (age !== Number.POSITIVE_INFINITY) await rm(claimFile, { force: true });
    }
    return false;
  };
  try {
    if (!(await take())) {
      return err(new AgentError("StateFailed", `another process is taking over task ${id} right now; try again`));
    }
  } catch (e) {
    return err(new AgentError("StateFailed", `claiming ${path.value}: ${(e as Error).message}`, { cause: e }));
  }
  try {
    const read = await readTaskRecord(stateDir, id);
    if (!read.ok) return read;
    const record = read.value;
    if (record === undefined) {
      return err(
        new AgentError("StateFailed", `no task ${id} is recorded in ${stateDir} (see \`pnpm berth task ls\`)`),
      );
    }
    if (record.pid !== process.pid && agentAlive(record)) {
      return err(
        new AgentError(
          "StateFailed",
          `task ${id} still has a live agent (pid ${record.pid}): stop it with \`pnpm berth task stop ${id}\` ` +
            `or end that process before re-attaching`,
        ),
      );
    }
    const startTime = processStartTime(process.pid);
    const { agentStartTime: _previous, ...rest } = record;
    const written = await writeTaskRecord(stateDir, {
      ...rest,
      pid: process.pid,
      ...(startTime === undefined ? {} : { agentStartTime: startTime }),
    });
    return written.ok ? ok(record) : written;
  } finally {
    await rm(claimFile, { force: true });
  }
}

/** Removes a task's record; a missing record is not an error. */
export async function removeTaskRecord(stateDir: string, id: string): Promise<AgentResult<void>> {
  const path = recordPath(stateDir, id);
  if (!path.ok) return path;
  try {
    await rm(path.value, { force: true });
    return ok(undefined);
  } catch (e) {
    return err(new AgentError("StateFailed", `removing ${path.value}: ${(e as Error).message}`, { cause: e }));
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);

function parseHealthCheck(v: unknown): HealthCheckDefinition | undefined {
  if (!isObject(v) || !Array.isArray(v.command) || !v.command.every(isString)) return undefined;
  const { interval, timeout, retries, startPeriod } = v;
  if (![interval, timeout, retries, startPeriod].every((n) => typeof n === "number" && n >= 0)) return undefined;
  return {
    command: v.command,
    interval: interval as number,
    timeout: timeout as number,
    retries: retries as number,
    startPeriod: startPeriod as number,
  };
}

function parseContainer(v: unknown): RuntimeContainer | undefined {
  if (!isObject(v) || !isString(v.name) || !isString(v.id) || typeof v.essential !== "boolean") return undefined;
  const healthCheck = v.healthCheck === undefined ? undefined : parseHealthCheck(v.healthCheck);
  if (v.healthCheck !== undefined && healthCheck === undefined) return undefined;
  return {
    name: v.name,
    id: v.id,
    essential: v.essential,
    ...(isString(v.logPath) ? { logPath: v.logPath } : {}),
    ...(healthCheck === undefined ? {} : { healthCheck }),
  };
}

/** The runtime section of a record, or undefined when any part of it is missing or malformed. */
function parseRuntime(v: unknown): TaskRuntime | undefined {
  if (!isObject(v)) return undefined;
  const { netns, cni, metadata } = v;
  if (!isString(v.namespace) || !isString(v.snapshotter) || !isString(v.stateDir) || !isString(v.taskDir)) {
    return undefined;
  }
  if (!isInt(v.stopGraceMs) || v.stopGraceMs < 0) return undefined;
  if (!isObject(netns) || !isString(netns.name) || !isString(netns.path)) return undefined;
  if (!isObject(cni) || !isString(cni.cniPath) || !isString(cni.cacheDir) || !isString(cni.config)) return undefined;
  if (!isString(cni.containerId) || !isString(cni.ifName)) return undefined;
  if (v.eniHostInterface !== undefined && !isString(v.eniHostInterface)) return undefined;
  if (!isObject(metadata) || !isString(metadata.host) || !isInt(metadata.port) || !isObject(metadata.endpoints)) {
    return undefined;
  }
  const endpoints = Object.entries(metadata.endpoints);
  if (!endpoints.every(([, e]) => isString(e))) return undefined;
  const task = metadata.task;
  if (!isObject(task) || !isString(task.arn) || !Array.isArray(task.containers)) return undefined;
  if (!Array.isArray(v.containers)) return undefined;
  const containers = v.containers.map(parseContainer);
  if (containers.some((c) => c === undefined)) return undefined;
  return {
    namespace: v.namespace,
    snapshotter: v.snapshotter,
    stateDir: v.stateDir,
    taskDir: v.taskDir,
    stopGraceMs: v.stopGraceMs,
    netns: { name: netns.name, path: netns.path },
    cni: {
      cniPath: cni.cniPath,
      cacheDir: cni.cacheDir,
      config: cni.config,
      containerId: cni.containerId,
      ifName: cni.ifName,
    },
    ...(v.eniHostInterface === undefined ? {} : { eniHostInterface: v.eniHostInterface }),
    metadata: {
      host: metadata.host,
      port: metadata.port,
      endpoints: Object.fromEntries(endpoints) as Record<string, string>,
      // Checked enough to re-register; the metadata registry validates the rest when it is registered again.
      task: task as unknown as TaskState,
    },
    containers: containers.filter((c): c is RuntimeContainer => c !== undefined),
  };
}

/** A record's JSON text as a {@link TaskRecord}, or the reason it is not one. */
export function parseTaskRecord(text: string): AgentResult<TaskRecord> {
  const bad = (why: string) => err<TaskRecord>(new AgentError("StateFailed", why));
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    return bad(`it is not JSON (${(e as Error).message})`);
  }
  if (!isObject(v)) return bad("it is not a JSON object");
  if (v.version !== undefined && (!isInt(v.version) || v.version < 1)) return bad("its version is not a number");
  if (isInt(v.version) && v.version > TASK_RECORD_VERSION) {
    return bad(`it has version ${v.version}, newer than this agent's ${TASK_RECORD_VERSION}: use a newer berth`);
  }
  if (!isString(v.id) || !isInt(v.pid) || !isString(v.arn) || !isString(v.family) || !isString(v.ip)) {
    return bad("id, pid, arn, family or ip is missing");
  }
  if (!isString(v.netns) || !isString(v.startedAt)) return bad("netns or startedAt is missing");
  const runtime = v.runtime === undefined ? undefined : parseRuntime(v.runtime);
  if (v.runtime !== undefined && runtime === undefined) return bad("its runtime section is incomplete");
  if (isInt(v.version) && v.version >= 2 && runtime === undefined) return bad("it has no runtime section");
  return ok({
    ...(isInt(v.version) ? { version: v.version } : {}),
    id: v.id,
    arn: v.arn,
    family: v.family,
    ip: v.ip,
    netns: v.netns,
    pid: v.pid,
    ...(isInt(v.agentStartTime) ? { agentStartTime: v.agentStartTime } : {}),
    ...(isString(v.log) ? { log: v.log } : {}),
    ...(isString(v.containerdAddress) ? { containerdAddress: v.containerdAddress } : {}),
    startedAt: v.startedAt,
    ...(runtime === undefined ? {} : { runtime }),
  });
}

/** Reads one task's record; `undefined` when there is none. */
export async function readTaskRecord(stateDir: string, id: string): Promise<AgentResult<TaskRecord | undefined>> {
  const path = recordPath(stateDir, id);
  if (!path.ok) return path;
  let text: string;
  try {
    text = await readFile(path.value, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok(undefined);
    return err(new AgentError("StateFailed", `reading ${path.value}: ${(e as Error).message}`, { cause: e }));
  }
  const record = parseTaskRecord(text);
  if (!record.ok) {
    return err(
      new AgentError("StateFailed", `${path.value} is not a task record (${record.error.message}); remove it`),
    );
  }
  return record;
}

/** Every readable task record, sorted by start time (unreadable files are skipped). */
export async function listTaskRecords(stateDir: string): Promise<AgentResult<TaskRecord[]>> {
  let names: string[];
  try {
    names = await readdir(recordsDir(stateDir));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return ok([]);
    return err(new AgentError("StateFailed", `listing ${recordsDir(stateDir)}: ${(e as Error).message}`, { cause: e }));
  }
  const records: TaskRecord[] = [];
  for (const name of names.filter((n) => n.endsWith(".json")).sort()) {
    const r = await readTaskRecord(stateDir, name.slice(0, -".json".length));
    if (r.ok && r.value) records.push(r.value);
  }
  return ok(records.sort((a, b) => a.startedAt.localeCompare(b.startedAt)));
}

/** True while `pid` is a live process (signal 0 probe; EPERM counts as alive). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** A process's start time in clock ticks since boot (field 22 of `/proc/PID/stat`), or undefined if unknown. */
export function processStartTime(pid: number): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: count fields after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = Number(fields[19]);
  return Number.isSafeInteger(start) ? start : undefined;
}

/**
 * True while the agent process a record names still runs: its pid is alive and, when the record has the agent's
 * start time, that process started at that time (so a pid reused by an unrelated process reads as gone).
 */
export function agentAlive(record: Pick<TaskRecord, "pid" | "agentStartTime">): boolean {
  if (!isAlive(record.pid)) return false;
  if (record.agentStartTime === undefined) return true;
  const now = processStartTime(record.pid);
  return now === undefined || now === record.agentStartTime;
}
