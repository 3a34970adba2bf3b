import { mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";

/** What the agent records about a running task, so `task ls` and `task stop` find it from another process. */
export interface TaskRecord {
  readonly id: string;
  readonly arn: string;
  readonly family: string;
  readonly ip: string;
  readonly netns: string;
  /** The agent process that runs (and will tear down) the task. */
  readonly pid: number;
  /** Where the detached agent's output goes, when detached. */
  readonly log?: string;
  /** ISO 8601. */
  readonly startedAt: string;
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

/** Writes (atomically replaces) a task's record under `<stateDir>/running/`. */
export async function writeTaskRecord(stateDir: string, record: TaskRecord): Promise<AgentResult<void>> {
  const path = recordPath(stateDir, record.id);
  if (!path.ok) return path;
  try {
    await mkdir(recordsDir(stateDir), { recursive: true });
    await writeFile(`${path.value}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${path.value}.tmp`, path.value);
    return ok(undefined);
  } catch (e) {
    return err(new AgentError("StateFailed", `writing ${path.value}: ${(e as Error).message}`, { cause: e }));
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

function parseRecord(text: string): TaskRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<TaskRecord>;
    if (typeof v.id !== "string" || typeof v.pid !== "number" || !Number.isInteger(v.pid)) return undefined;
    if (typeof v.arn !== "string" || typeof v.family !== "string" || typeof v.ip !== "string") return undefined;
    if (typeof v.netns !== "string" || typeof v.startedAt !== "string") return undefined;
    return {
      id: v.id,
      arn: v.arn,
      family: v.family,
      ip: v.ip,
      netns: v.netns,
      pid: v.pid,
      startedAt: v.startedAt,
      ...(typeof v.log === "string" ? { log: v.log } : {}),
    };
  } catch {
    return undefined;
  }
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
  const record = parseRecord(text);
  if (!record) return err(new AgentError("StateFailed", `${path.value} is not a task record; remove it`));
  return ok(record);
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
