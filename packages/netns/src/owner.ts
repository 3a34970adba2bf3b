import { linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { errnoOf } from "./errors.js";

/**
 * Where berth keeps its owner markers by default: one small JSON file per namespace it created, outside the
 * netns directory (so `ip netns list` does not show them). `/run` is a tmpfs on most systems, so markers go away
 * at reboot together with the namespaces they describe.
 */
export const DEFAULT_STATE_DIR = "/run/berth/netns";

/**
 * The process that owns a namespace: its pid and its start time (field 22 of `/proc/PID/stat`, clock ticks
 * since boot) on the boot `bootId`. A pid alone is not enough: after the owner dies its pid can be reused, but
 * the new process has a different start time.
 */
export interface ProcessIdentity {
  readonly pid: number;
  readonly startTime: string;
  readonly bootId: string;
}

/**
 * The owner marker berth writes for every namespace it creates (see {@link DEFAULT_STATE_DIR}).
 *
 * - `state: "creating"` is written before the namespace is made; a crash leaves it, and {@link sweepNetns}
 *   removes whatever was half made once `owner` is gone.
 * - `state: "ready"` records the namespace's inode, so a marker left by an interrupted delete never makes a
 *   later namespace of the same name (e.g. one made by `ip netns add`) look like berth's.
 * - `owner: null` marks a detached namespace (created with `detached: true`, e.g. by the CLI): berth created it,
 *   so it may delete it without `force`, but no process owns it and a sweep never removes it.
 */
export interface OwnerMarker {
  readonly version: 1;
  readonly name: string;
  /** Absolute path of the namespace file. */
  readonly path: string;
  readonly state: "creating" | "ready";
  readonly owner: ProcessIdentity | null;
  /** The namespace's inode (`net:[ino]`), once `state` is `ready`. */
  readonly ino?: string;
  /** The `/etc/netns/NAME` directory berth created for this namespace, when it wrote files there. */
  readonly etcDir?: string;
  /** ISO time the marker was first written. */
  readonly createdAt: string;
  /**
   * A random token naming the one `createNetns` call that wrote the marker: a creator that claimed the name by
   * creating the marker (the resident path) removes it on failure only while it still holds its own token.
   */
  readonly claim?: string;
}

/** The directory holding the markers of namespaces in `netnsDir`: `stateDir/<netnsDir, URI-encoded>`. */
export function markerDir(stateDir: string, netnsDir: string): string {
  return join(resolve(stateDir), encodeURIComponent(resolve(netnsDir)));
}

/** The marker file of namespace `name` in `netnsDir`. */
export function markerPath(stateDir: string, netnsDir: string, name: string): string {
  return join(markerDir(stateDir, netnsDir), `${name}.json`);
}

/**
 * Parses `/proc/PID/stat` text and returns its start time (field 22). The command name (field 2) is in
 * parentheses and may itself contain spaces and parentheses, so fields are counted after the last `)`.
 */
export function parseStartTime(stat: string): string | undefined {
  const close = stat.lastIndexOf(")");
  if (close < 0) return undefined;
  // After ")": field 3 (state) is the first, so field 22 is at index 19.
  const value = stat
    .slice(close + 1)
    .trim()
    .split(/\s+/)[19];
  return value !== undefined && /^\d+$/.test(value) ? value : undefined;
}

let bootId: Promise<string> | undefined;

function readBootId(): Promise<string> {
  bootId ??= readFile("/proc/sys/kernel/random/boot_id", "utf8").then(
    (text) => text.trim(),
    () => "unknown",
  );
  return bootId;
}

let self: Promise<ProcessIdentity> | undefined;

/** The identity of this process (read once). Rejects only if `/proc/self/stat` is unreadable. */
export function selfIdentity(): Promise<ProcessIdentity> {
  self ??= Promise.all([readFile("/proc/self/stat", "utf8"), readBootId()]).then(([stat, boot]) => {
    const startTime = parseStartTime(stat);
    if (startTime === undefined) throw new Error(`cannot parse /proc/self/stat: ${JSON.stringify(stat)}`);
    return { pid: process.pid, startTime, bootId: boot };
  });
  return self;
}

/**
 * Whether the owner process still runs: `dead` when no process has its pid, the pid now belongs to a process
 * with another start time (pid reuse), or the machine has rebooted since; `unknown` when `/proc/PID/stat`
 * cannot be read for another reason (e.g. `/proc` mounted with `hidepid`), which callers must treat as alive.
 */
export async function ownerState(owner: ProcessIdentity): Promise<"alive" | "dead" | "unknown"> {
  if ((await readBootId()) !== owner.bootId) return "dead";
  let stat: string;
  try {
    stat = await readFile(`/proc/${owner.pid}/stat`, "utf8");
  } catch (e) {
    const errno = errnoOf(e);
    return errno === "ENOENT" || errno === "ESRCH" ? "dead" : "unknown";
  }
  return parseStartTime(stat) === owner.startTime ? "alive" : "dead";
}

/** Checks that a parsed JSON value is an {@link OwnerMarker}. */
export function isOwnerMarker(value: unknown): value is OwnerMarker {
  if (typeof value !== "object" || value === null) return false;
  const m = value as Record<string, unknown>;
  const owner = m.owner as Record<string, unknown> | null | undefined;
  const ownerOk =
    owner === null ||
    (typeof owner === "object" &&
      owner !== undefined &&
      typeof owner.pid === "number" &&
      typeof owner.startTime === "string" &&
      typeof owner.bootId === "string");
  return (
    m.version === 1 &&
    typeof m.name === "string" &&
    typeof m.path === "string" &&
    (m.state === "creating" || m.state === "ready") &&
    ownerOk &&
    (m.ino === undefined || typeof m.ino === "string") &&
    (m.etcDir === undefined || typeof m.etcDir === "string") &&
    (m.claim === undefined || typeof m.claim === "string") &&
    typeof m.createdAt === "string"
  );
}

// Markers are tiny files on a tmpfs: they are read and written with synchronous calls, because a round trip
// through libuv's thread pool costs far more than the system call itself (measured under load in the netns
// benchmark), and creating a namespace does several of them.

/**
 * Reads a marker. Resolves `undefined` when there is none (or it is not a marker: a torn or foreign file is
 * treated as absent); rejects like `fs.readFile` for other failures.
 */
export async function readMarker(file: string): Promise<OwnerMarker | undefined> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw e;
  }
  try {
    const value: unknown = JSON.parse(text);
    return isOwnerMarker(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

const madeDirs = new Set<string>();
let tempCounter = 0;

/**
 * Writes a marker atomically (a temporary file renamed over it), so a reader or a crash never sees half of one.
 * Creates the marker directory the first time.
 */
export async function writeMarker(file: string, marker: OwnerMarker): Promise<void> {
  const dir = resolve(file, "..");
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    madeDirs.add(dir);
  }
  const temp = `${file}.${process.pid}.${tempCounter++}.tmp`;
  writeFileSync(temp, `${JSON.stringify(marker)}\n`, { mode: 0o644 });
  renameSync(temp, file);
}

/**
 * Creates a marker only if there is none: written to a temporary file that is then hard-linked to the marker's
 * name (link(2) fails with EEXIST instead of replacing), so of several creators exactly one succeeds. Resolves
 * false when a marker already exists.
 */
export async function claimMarker(file: string, marker: OwnerMarker): Promise<boolean> {
  const dir = resolve(file, "..");
  if (!madeDirs.has(dir)) {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    madeDirs.add(dir);
  }
  const temp = `${file}.${process.pid}.${tempCounter++}.tmp`;
  writeFileSync(temp, `${JSON.stringify(marker)}\n`, { mode: 0o644 });
  try {
    linkSync(temp, file);
    return true;
  } catch (e) {
    if (errnoOf(e) === "EEXIST") return false;
    throw e;
  } finally {
    unlinkSync(temp);
  }
}

/** Removes a marker if it still carries `claim` (see {@link OwnerMarker.claim}); resolves whether it did. */
export async function removeClaimedMarker(file: string, claim: string): Promise<boolean> {
  const marker = await readMarker(file);
  if (marker?.claim !== claim) return false;
  await removeMarker(file);
  return true;
}

/** Removes a marker; a missing one is fine. */
export async function removeMarker(file: string): Promise<void> {
  try {
    unlinkSync(file);
  } catch (e) {
    if (errnoOf(e) !== "ENOENT") throw e;
  }
}

/** The names that have a marker in `dir` (markers are `NAME.json`; temporary files are skipped). */
export async function markedNames(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir))
      .filter((f) => f.endsWith(".json"))
      .map((f) => f.slice(0, -".json".length))
      .sort();
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return [];
    throw e;
  }
}
