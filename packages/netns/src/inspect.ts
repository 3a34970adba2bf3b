import type { BigIntStats } from "node:fs";
import { constants } from "node:fs";
import { type FileHandle, open, readdir, readlink, stat, statfs } from "node:fs/promises";
import { basename, dirname, resolve } from "node:path";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";
import { devMajorMinor, type NsfsMount, parseNsName, readNsfsMounts } from "./mountinfo.js";
import { DEFAULT_NETNS_DIR, netnsPath } from "./name.js";
import { runTool } from "./tools.js";

const debug = createDebug("berth:netns");

/** `statfs(2)` type of the kernel's namespace filesystem, which every namespace file lives on. */
export const NSFS_MAGIC = 0x6e736673;

/**
 * What makes a network namespace itself: the device and inode of its nsfs file. Two paths name the same
 * namespace exactly when their identities are equal (compare with {@link sameIdentity}). `ino` is the number
 * `/proc/PID/ns/net` shows as `net:[ino]`.
 */
export interface NetnsIdentity {
  readonly dev: bigint;
  readonly ino: bigint;
}

/** True when both identities name the same namespace. */
export function sameIdentity(a: NetnsIdentity, b: NetnsIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * The identity as the kernel names the namespace: `net:[4026531833]`, exactly what `readlink /proc/PID/ns/net`
 * prints and what `lsns -t net` lists as NS, so it can be compared with those directly.
 */
export function formatNetnsIdentity(identity: NetnsIdentity): string {
  return `net:[${identity.ino}]`;
}

/** A network namespace found at a path. */
export interface NetnsInfo {
  /** Its name, when it was looked up by name or its file is directly inside the netns directory. */
  readonly name?: string;
  /** Absolute path of its file, e.g. `/run/netns/task-1` or `/proc/42/ns/net`. */
  readonly path: string;
  readonly identity: NetnsIdentity;
}

/** Options of the inspecting functions. */
export interface InspectOptions {
  /** The directory of named namespaces. Default {@link DEFAULT_NETNS_DIR} (`/run/netns`), as iproute2. */
  readonly dir?: string;
  /** Aborts the operation with an `Aborted` error. */
  readonly signal?: AbortSignal;
}

/**
 * One entry of the netns directory, as {@link listNetns} found it: a mounted network namespace (`stale: false`),
 * or a file that is not one (`stale: true`), e.g. the mode-000 placeholder iproute2 leaves after a failed
 * `ip netns add` or an interrupted delete, with the `NotANamespace` error that says what it is.
 */
export type NetnsEntry =
  | (NetnsInfo & { readonly name: string; readonly stale: false })
  | { readonly name: string; readonly path: string; readonly stale: true; readonly problem: NetnsError };

/** Caches /proc/self/mountinfo for the duration of one public call (a listing reads it once). */
class Lookup {
  #mounts: Promise<NsfsMount[]> | undefined;
  readonly signal: AbortSignal | undefined;

  constructor(signal: AbortSignal | undefined) {
    this.signal = signal;
  }

  nsfsMounts(): Promise<NsfsMount[]> {
    this.#mounts ??= readNsfsMounts();
    return this.#mounts;
  }
}

function aborted(what: string, signal: AbortSignal): NetnsError {
  return new NetnsError("Aborted", `${what}: aborted by the caller's signal`, { cause: signal.reason });
}

const FS_NAMES: Readonly<Record<number, string>> = {
  16914836: "tmpfs",
  61267: "ext2/3/4",
  1481003842: "xfs",
  2435016766: "btrfs",
  2035054128: "overlayfs",
  40864: "procfs",
};

function describeFs(type: number): string {
  return FS_NAMES[type] ?? `a filesystem of type 0x${type.toString(16)}`;
}

function describeKind(st: BigIntStats): string {
  if (st.isDirectory()) return "a directory";
  if (st.isSocket()) return "a socket";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice() || st.isBlockDevice()) return "a device";
  return "not a regular file";
}

/**
 * Finds the namespace type of an open nsfs file, cheapest method first:
 * 1. readlink of `/proc/self/fd/N`: for a namespace opened through `/proc/PID/ns/*` (or an inherited fd) the
 *    kernel names it `net:[ino]`; for a bind mount it gives the mount's path instead, so:
 * 2. `/proc/self/mountinfo`: the root field of the nsfs mount whose device and inode match is `net:[ino]`;
 * 3. when the mount is not visible in this mount namespace (reached via `/proc/PID/root/...`), ask the kernel:
 *    `nsenter --net=/proc/PID/fd/N true` on the same open file. setns(2) checks the type before
 *    privileges, so EINVAL means "not a network namespace" and EPERM still proves it is one (works without root).
 */
async function namespaceType(
  path: string,
  fd: number,
  identity: NetnsIdentity,
  lookup: Lookup,
): Promise<Result<string | undefined, NetnsError>> {
  const link = parseNsName(await readlink(`/proc/self/fd/${fd}`).catch(() => ""));
  if (link && link.ino === identity.ino) {
    debug("%s is %s:[%s] (from its proc link)", path, link.nsType, link.ino);
    return ok(link.nsType);
  }
  const { major, minor } = devMajorMinor(identity.dev);
  let mounts: NsfsMount[];
  try {
    mounts = await lookup.nsfsMounts();
  } catch (e) {
    return err(netnsErrorFromErrno(e, { path: "/proc/self/mountinfo", action: "read" }));
  }
  const mount = mounts.find((m) => m.ino === identity.ino && m.major === major && m.minor === minor);
  if (mount) {
    debug("%s is %s:[%s] (from the nsfs mount at %s)", path, mount.nsType, mount.ino, mount.mountPoint);
    return ok(mount.nsType);
  }
  // The child reopens our open file through /proc/PID/fd/N, so it probes the very file inspected here.
  const reopen = `/proc/${process.pid}/fd/${fd}`;
  const probe = await runTool("nsenter", [`--net=${reopen}`, "true"], lookup.signal ? { signal: lookup.signal } : {});
  if (probe.isErr()) return err(probe.error);
  const { exitCode, stderr } = probe.value;
  debug("%s: nsenter --net probe exited %s %s", path, exitCode, stderr.trim());
  if (exitCode === 0 || /Operation not permitted/.test(stderr)) return ok("net");
  if (/Invalid argument/.test(stderr)) return ok(undefined);
  if (/Permission denied/.test(stderr)) {
    return err(
      new NetnsError(
        "PermissionDenied",
        `cannot tell whether ${path} is a network namespace: nsenter may not open it (${stderr.trim()}); ` +
          `run as root or grant CAP_SYS_ADMIN`,
        { path, capability: "CAP_SYS_ADMIN" },
      ),
    );
  }
  return err(
    new NetnsError(
      "Failed",
      `cannot tell whether ${path} is a network namespace: \`nsenter --net=${reopen} true\` failed: ` +
        `${stderr.trim() || `exit ${exitCode}`}`,
      { path },
    ),
  );
}

/** Inspects one path; never rejects. */
async function inspectAt(
  path: string,
  name: string | undefined,
  lookup: Lookup,
): Promise<Result<NetnsInfo, NetnsError>> {
  const what = name === undefined ? path : `network namespace "${name}" (${path})`;
  if (lookup.signal?.aborted) return err(aborted(`inspect ${what}`, lookup.signal));
  const notANamespace = (why: string) =>
    err(new NetnsError("NotANamespace", `${what} is not a mounted network namespace: ${why}`, { path }));
  let st: BigIntStats;
  let fsType: number;
  try {
    const [s, f] = await Promise.all([stat(path, { bigint: true }), statfs(path)]);
    st = s;
    fsType = Number(f.type);
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === "ENOENT" || errno === "ENOTDIR") {
      const fix = name === undefined ? "check the path" : `create it with \`ip netns add ${name}\``;
      return err(new NetnsError("NotFound", `${what} does not exist: ${fix}`, { path, errno, cause: e }));
    }
    return err(netnsErrorFromErrno(e, { path, action: "inspect" }));
  }
  if (!st.isFile()) return notANamespace(`it is ${describeKind(st)}`);
  if (fsType !== NSFS_MAGIC) {
    const mode = (st.mode & 0o7777n).toString(8).padStart(4, "0");
    const remove =
      name === undefined ? `\`umount ${path}\` if mounted, then \`rm ${path}\`` : `\`ip netns delete ${name}\``;
    return notANamespace(
      `it is a plain file (mode ${mode}) on ${describeFs(fsType)}, with no namespace mounted on it. ` +
        `This is what a failed \`ip netns add\` or an interrupted delete leaves behind: remove it with ${remove}`,
    );
  }
  // Everything from here on is checked on one open file, so a concurrent delete or replace cannot mix two files.
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    return err(netnsErrorFromErrno(e, { path, action: "open" }));
  }
  try {
    const [fst, ffs] = await Promise.all([handle.stat({ bigint: true }), statfs(`/proc/self/fd/${handle.fd}`)]);
    if (Number(ffs.type) !== NSFS_MAGIC) return notANamespace("it was unmounted or replaced while being inspected");
    const identity: NetnsIdentity = { dev: fst.dev, ino: fst.ino };
    const type = await namespaceType(path, handle.fd, identity, lookup);
    if (type.isErr()) return err(type.error);
    if (type.value !== "net") {
      const kind = type.value === undefined ? "a namespace of another type" : `a ${type.value} namespace`;
      return notANamespace(`it is ${kind} (${type.value ?? "?"}:[${identity.ino}]), not a network namespace`);
    }
    return ok(name === undefined ? { path, identity } : { name, path, identity });
  } catch (e) {
    return err(netnsErrorFromErrno(e, { path, action: "inspect" }));
  } finally {
    await handle.close().catch(() => undefined);
  }
}

/** Wraps an async body that returns a Result so that an unexpected rejection still becomes a `Failed` error. */
function resultAsync<T>(what: string, body: () => Promise<Result<T, NetnsError>>): ResultAsync<T, NetnsError> {
  return new ResultAsync(
    body().catch((e: unknown) =>
      err(new NetnsError("Failed", `${what}: ${e instanceof Error ? e.message : String(e)}`, { cause: e })),
    ),
  );
}

/**
 * Inspects a network namespace by name (looked up in `dir`, default `/run/netns`) or by path (anything
 * containing a `/`, as `ip netns exec` decides). Succeeds only for a file that is on nsfs (statfs type
 * {@link NSFS_MAGIC}) and is a *network* namespace: nsfs files of other types, such as `/proc/self/ns/uts`,
 * are `NotANamespace` too. The type is taken from the kernel's name of the open file (`net:[ino]`) or, for a
 * bind-mounted file, from its `/proc/self/mountinfo` line; only for a mount invisible from here does it run
 * `nsenter --net` on the open file.
 *
 * Errors: `NotFound` (no such file), `NotANamespace` (a plain file, e.g. the mode-000 placeholder a failed
 * `ip netns add` leaves, or a namespace of another type), `InvalidName`, `PermissionDenied`, `ToolMissing`
 * (only when `nsenter` is needed and absent), `Aborted`, `Failed`.
 *
 * @example
 * ```ts
 * const info = await inspectNetns("task-1");
 * if (info.isOk()) console.log(info.value.path, formatNetnsIdentity(info.value.identity));
 * ```
 */
export function inspectNetns(pathOrName: string, options: InspectOptions = {}): ResultAsync<NetnsInfo, NetnsError> {
  const dir = resolve(options.dir ?? DEFAULT_NETNS_DIR);
  return resultAsync(`inspect ${pathOrName}`, async () => {
    if (pathOrName.includes("/")) {
      if (pathOrName.includes("\0")) {
        return err(new NetnsError("InvalidName", `path ${JSON.stringify(pathOrName)} contains a NUL byte`));
      }
      const path = resolve(pathOrName);
      const name = dirname(path) === dir ? basename(path) : undefined;
      return inspectAt(path, name, new Lookup(options.signal));
    }
    const path = netnsPath(pathOrName, dir);
    if (path.isErr()) return err(path.error);
    return inspectAt(path.value, pathOrName, new Lookup(options.signal));
  });
}

async function identityOfProcFile(path: string, pid: string): Promise<Result<NetnsIdentity, NetnsError>> {
  try {
    const st = await stat(path, { bigint: true });
    return ok({ dev: st.dev, ino: st.ino });
  } catch (e) {
    const errno = errnoOf(e);
    if (errno === "ENOENT" || errno === "ESRCH") {
      return err(
        new NetnsError(
          "NotFound",
          `no process with pid ${pid} (it has exited, or is in a pid namespace this process cannot see)`,
          { path, errno, cause: e },
        ),
      );
    }
    return err(
      netnsErrorFromErrno(e, {
        path,
        action: `read the network namespace of pid ${pid} from`,
        capability: "CAP_SYS_PTRACE",
      }),
    );
  }
}

/**
 * The identity of the network namespace process `pid` is in (from `/proc/PID/ns/net`). `NotFound` when no such
 * process exists (or `pid` is not a positive integer); `PermissionDenied` for another user's process without
 * `CAP_SYS_PTRACE`.
 */
export function netnsOfPid(
  pid: number,
  options: { readonly signal?: AbortSignal } = {},
): ResultAsync<NetnsIdentity, NetnsError> {
  return resultAsync(`network namespace of pid ${pid}`, async () => {
    if (options.signal?.aborted) return err(aborted(`network namespace of pid ${pid}`, options.signal));
    if (!Number.isSafeInteger(pid) || pid <= 0) {
      return err(new NetnsError("NotFound", `no process has pid ${pid}: a pid is a positive integer`));
    }
    return identityOfProcFile(`/proc/${pid}/ns/net`, String(pid));
  });
}

/** The identity of the network namespace this process is in (from `/proc/self/ns/net`). */
export function currentNetns(): ResultAsync<NetnsIdentity, NetnsError> {
  return resultAsync("network namespace of this process", () => identityOfProcFile("/proc/self/ns/net", "self"));
}

async function readNames(dir: string): Promise<Result<string[], NetnsError>> {
  try {
    return ok((await readdir(dir)).sort());
  } catch (e) {
    // Like `ip netns list`: no directory yet means no namespaces yet.
    if (errnoOf(e) === "ENOENT") return ok([]);
    return err(netnsErrorFromErrno(e, { path: dir, action: "list the network namespace directory" }));
  }
}

/**
 * The named network namespaces in `dir` (default `/run/netns`), sorted by name. Files that are not mounted
 * network namespaces do not fail the listing: they come back with `stale: true` and the `NotANamespace` error
 * in `problem` (a later sweep can remove them). An entry deleted while listing is left out. A missing directory
 * is an empty list, as for `ip netns list`. Other failures (e.g. `PermissionDenied`) fail the whole listing,
 * because an entry that could not be checked must not be mistaken for a stale one.
 */
export function listNetns(options: InspectOptions = {}): ResultAsync<NetnsEntry[], NetnsError> {
  const dir = resolve(options.dir ?? DEFAULT_NETNS_DIR);
  return resultAsync(`list ${dir}`, async () => {
    const names = await readNames(dir);
    if (names.isErr()) return err(names.error);
    const lookup = new Lookup(options.signal);
    const entries: NetnsEntry[] = [];
    for (const name of names.value) {
      const path = resolve(dir, name);
      const info = await inspectAt(path, name, lookup);
      if (info.isOk()) {
        entries.push({ name, path, identity: info.value.identity, stale: false });
      } else if (info.error.code === "NotANamespace") {
        debug("stale entry %s: %s", path, info.error.message);
        entries.push({ name, path, stale: true, problem: info.error });
      } else if (info.error.code !== "NotFound") {
        return err(info.error);
      }
    }
    return ok(entries);
  });
}

/**
 * The named namespace in `dir` (default `/run/netns`) that process `pid` is in, or `undefined` when it is in an
 * unnamed one (e.g. the host's, or a container's without a file). When several names are bind mounts of the
 * same namespace, the first in name order is returned. Errors are those of {@link netnsOfPid} and of reading
 * the directory.
 */
export function findNetnsOfPid(
  pid: number,
  options: InspectOptions = {},
): ResultAsync<NetnsInfo | undefined, NetnsError> {
  const dir = resolve(options.dir ?? DEFAULT_NETNS_DIR);
  const signal = options.signal;
  return netnsOfPid(pid, signal ? { signal } : {}).andThen((identity) =>
    resultAsync(`find the named network namespace of pid ${pid}`, async () => {
      const names = await readNames(dir);
      if (names.isErr()) return err(names.error);
      for (const name of names.value) {
        if (signal?.aborted) return err(aborted(`find the named network namespace of pid ${pid}`, signal));
        const path = resolve(dir, name);
        // Matching (dev, ino) with the process's nsfs file is proof enough: only a mount of that very namespace
        // has its identity, so the full check of inspectNetns is not needed.
        const st = await stat(path, { bigint: true }).catch(() => undefined);
        if (st && sameIdentity({ dev: st.dev, ino: st.ino }, identity)) {
          debug("pid %d is in %s (%s)", pid, name, formatNetnsIdentity(identity));
          return ok<NetnsInfo | undefined>({ name, path, identity });
        }
      }
      return ok<NetnsInfo | undefined>(undefined);
    }),
  );
}
