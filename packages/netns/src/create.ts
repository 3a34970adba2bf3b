import { randomUUID } from "node:crypto";
import { closeSync, constants, lstatSync, openSync, statSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";
import { ETC_NETNS_DIR } from "./exec.js";
import { Netns } from "./handle.js";
import { helperCanHandle, helperFor, helperUnusableFor } from "./ip-batch.js";
import { DEFAULT_NETNS_DIR, netnsPath } from "./name.js";
import {
  claimMarker,
  DEFAULT_STATE_DIR,
  markerPath,
  type OwnerMarker,
  readMarker,
  removeClaimedMarker,
  selfIdentity,
  writeMarker,
} from "./owner.js";
import { isMounted, removeNamespaceFiles } from "./remove.js";
import { findTool, runTool } from "./tools.js";

const debug = createDebug("berth:netns");

/** Files written to `/etc/netns/NAME/` at creation, which `ip netns exec` (and berth's exec) bind over `/etc`. */
export interface NetnsEtcFiles {
  readonly resolvConf?: string;
  readonly hosts?: string;
  readonly hostname?: string;
}

/** Options of {@link createNetns}. */
export interface CreateNetnsOptions {
  /** The directory of named namespaces. Default `/run/netns` (where `ip netns` looks). */
  readonly dir?: string;
  /** Where berth's owner markers go. Default {@link DEFAULT_STATE_DIR} (`/run/berth/netns`). */
  readonly stateDir?: string;
  /** Bring the loopback interface up inside (`ip link set dev lo up`), as the ECS agent does before CNI runs. */
  readonly loopbackUp?: boolean;
  /** Write these files to `/etc/netns/NAME/` (the directory must not exist yet); removed again on delete. */
  readonly etc?: NetnsEtcFiles;
  /** Where the per-namespace `/etc` files go. Default `/etc/netns`, the only place `ip netns exec` reads. */
  readonly etcDir?: string;
  /**
   * Keep the namespace after this process ends: its marker names no owner, so {@link sweepNetns} never removes
   * it and disposing the handle does not delete it. Default false: owned by this process, removed by a sweep
   * once this process is gone.
   */
  readonly detached?: boolean;
  /**
   * Create through berth's resident `ip -force -batch -` helper when the namespace is in `/run/netns` (iproute2's
   * own directory) and its name is a plain word: no process is started per namespace. Default true. With false,
   * or elsewhere, berth runs `unshare --net=FILE` (util-linux) for each namespace. See {@link createNetns}.
   */
  readonly resident?: boolean;
  readonly signal?: AbortSignal;
  /** Where to look for `unshare`, `ip`, `flock`, `mount`, `umount` (see `findTool`). */
  readonly searchPath?: string;
}

/** Directories known to be shared mount points (checked once per process and directory). */
const sharedDirs = new Set<string>();
/** In-process lock per directory for the one-time mount setup (flock(1) covers other processes). */
const setups = new Map<string, Promise<Result<void, NetnsError>>>();

/** Whether `dir` is a mount point with shared propagation, from this process's mountinfo. */
export async function isSharedMountPoint(dir: string): Promise<boolean> {
  const text = await readFile("/proc/self/mountinfo", "utf8");
  let shared = false;
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const mountPoint = fields[4]?.replace(/\\([0-7]{3})/g, (_, o: string) =>
      String.fromCharCode(Number.parseInt(o, 8)),
    );
    if (mountPoint !== dir) continue;
    const separator = fields.indexOf("-", 6);
    // The last line for a mount point is the one on top; its optional fields say how it propagates.
    shared = fields.slice(6, separator < 0 ? undefined : separator).some((f) => f.startsWith("shared:"));
  }
  return shared;
}

// Run under `flock DIR`: iproute2's steps. Make the directory a shared mount point; if it is not a mount point
// (EINVAL), bind it onto itself first (recursively), make that private (its own peer group), then shared. A
// second process that waited on the lock finds it done by the first `mount --make-shared`.
const SETUP_SCRIPT = `
mount="$1"; dir="$2"
"$mount" --make-shared "$dir" 2>/dev/null && exit 0
"$mount" --rbind "$dir" "$dir" && "$mount" --make-private "$dir" && "$mount" --make-shared "$dir"
`;

/**
 * Makes `dir` exist and be a shared mount point, as `ip netns add` does, so namespace mounts made in it do not
 * get duplicated into other mount namespaces (podman#24024) and unmount cleanly (moby#27277). The common case
 * (already shared) only reads `/proc/self/mountinfo`; the setup runs at most once per directory, under an
 * in-process lock and `flock(1)` on the directory against other processes.
 */
function ensureSharedDir(dir: string, toolOptions: ToolOptions): Promise<Result<void, NetnsError>> {
  if (sharedDirs.has(dir)) return Promise.resolve(ok(undefined));
  const pending = setups.get(dir);
  if (pending) return pending;
  const setup = (async (): Promise<Result<void, NetnsError>> => {
    try {
      await mkdir(dir, { recursive: true, mode: 0o755 });
      if (await isSharedMountPoint(dir)) {
        sharedDirs.add(dir);
        return ok(undefined);
      }
    } catch (e) {
      return err(netnsErrorFromErrno(e, { path: dir, action: "prepare the network namespace directory" }));
    }
    const mount = await findTool("mount", searchPathOnly(toolOptions));
    if (mount.isErr()) return err(mount.error);
    debug("making %s a shared mount point", dir);
    const run = await runTool("flock", [dir, "/bin/sh", "-c", SETUP_SCRIPT, "sh", mount.value, dir], toolOptions);
    if (run.isErr()) return err(run.error);
    if (run.value.exitCode !== 0) return err(mountFailure(dir, `make ${dir} a shared mount point`, run.value.stderr));
    sharedDirs.add(dir);
    return ok(undefined);
  })();
  setups.set(dir, setup);
  return setup.finally(() => setups.delete(dir));
}

interface ToolOptions {
  readonly signal?: AbortSignal;
  readonly searchPath?: string;
}

function searchPathOnly(options: ToolOptions): { searchPath?: string } {
  return options.searchPath === undefined ? {} : { searchPath: options.searchPath };
}

function mountFailure(path: string, action: string, stderr: string): NetnsError {
  const detail = stderr.trim() || "no message";
  if (/not permitted|ermission denied|must be superuser/i.test(stderr)) {
    return new NetnsError(
      "PermissionDenied",
      `cannot ${action}: ${detail}; creating a network namespace needs CAP_SYS_ADMIN: run as root or grant it`,
      { path, capability: "CAP_SYS_ADMIN" },
    );
  }
  return new NetnsError("Failed", `cannot ${action}: ${detail}`, { path });
}

async function writeEtcFiles(etcDir: string, files: NetnsEtcFiles): Promise<void> {
  const contents: Array<[string, string | undefined]> = [
    ["resolv.conf", files.resolvConf],
    ["hosts", files.hosts],
    ["hostname", files.hostname],
  ];
  for (const [file, text] of contents) {
    if (text !== undefined) await writeFile(join(etcDir, file), text, { mode: 0o644 });
  }
}

/**
 * Creates a persistent named network namespace at `dir/NAME` (default `/run/netns/NAME`) the way
 * `ip netns add` does, so iproute2 sees it (`ip netns list`, `ip netns exec NAME`):
 *
 * 1. make `dir` a shared mount point (once; under a lock, binding it onto itself when it is not a mount point);
 * 2. claim the name: in the spawned-tools path, create the file `NAME` with O_CREAT|O_EXCL, mode 0 (so two
 *    creators of one name cannot both win); in the resident path (below), check that no file `NAME` exists;
 * 3. write berth's owner marker (this process, by pid and start time), so a crash from here on is swept;
 * 4. make the namespace and bind-mount it on the file, then bring `lo` up when `loopbackUp`;
 * 5. record the namespace's inode in the marker.
 *
 * How step 4 runs (chosen by measurement, see the netns benchmark):
 *
 * - **Resident** (default for `/run/netns` and plain names, `resident: true`): the line `netns add NAME` is sent
 *   to a long-lived `ip -force -batch -` process (iproute2) shared by every create and delete of this process.
 *   `ip netns add` itself takes iproute2's lock, makes the directory a shared mount, creates the file with
 *   O_EXCL, unshares and bind-mounts, all inside that one process and without starting another, so a create
 *   costs a pipe round trip instead of a process start (about 20x cheaper on a loaded 2-core machine).
 *   `loopbackUp` then runs `ip -n NAME link set dev lo up` (one process). The helper is started on demand,
 *   stopped after a few seconds idle or when this process exits, and restarted if it dies; {@link
 *   stopNetnsHelper} stops it at once. If it dies or hangs mid-create, whatever it may have made at the path
 *   (which was free when claimed) is removed and the spawned-tools path is used for this namespace.
 * - **Spawned tools** (any other directory or name, `resident: false`, or as the fallback): `unshare
 *   --net=FILE CMD` (util-linux), which creates the namespace and bind-mounts it on the mode-0 placeholder,
 *   running `ip link set dev lo up` (`loopbackUp`) or `true` inside.
 *
 * Any failure undoes what was done; so does `signal` firing, which in the resident path takes effect when the
 * helper answers (`netns add` takes milliseconds; a helper silent for 10 s is killed). Errors: `InvalidName`, `AlreadyExists` (the name is taken, or the
 * `/etc/netns/NAME` directory exists), `PermissionDenied` (needs CAP_SYS_ADMIN), `ToolMissing`, `Aborted`,
 * `Failed`.
 *
 * @example
 * ```ts
 * await using ns = (await createNetns("task-1", { loopbackUp: true }))._unsafeUnwrap();
 * console.log(ns.path); // /run/netns/task-1, deleted when the scope ends
 * ```
 */
export function createNetns(name: string, options: CreateNetnsOptions = {}): ResultAsync<Netns, NetnsError> {
  const body = async (): Promise<Result<Netns, NetnsError>> => {
    const dir = resolve(options.dir ?? DEFAULT_NETNS_DIR);
    const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
    const located = netnsPath(name, dir);
    if (located.isErr()) return err(located.error);
    const path = located.value;
    const { signal } = options;
    const toolOptions: ToolOptions = {
      ...(signal === undefined ? {} : { signal }),
      ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
    };
    const aborted = () => new NetnsError("Aborted", `create ${path}: aborted by the caller's signal`, { path });
    if (signal?.aborted) return err(aborted());

    // Find the tools first, so a missing one fails before anything is made. The resident path needs `ip`; when
    // it is missing there, the spawned-tools path (and its `unshare`) is used instead.
    const resident = options.resident !== false && helperCanHandle(path);
    const ip = options.loopbackUp || resident ? await findTool("ip", searchPathOnly(toolOptions)) : undefined;
    if (options.loopbackUp && ip?.isErr()) return err(ip.error);
    const helper = resident && ip?.isOk() && helperFor(ip.value).usable ? helperFor(ip.value) : undefined;
    const unshare = helper === undefined ? await findTool("unshare", searchPathOnly(toolOptions)) : undefined;
    if (unshare?.isErr()) return err(unshare.error);

    const shared = await ensureSharedDir(dir, toolOptions);
    if (shared.isErr()) return err(shared.error);

    const alreadyExists = (cause?: unknown) =>
      new NetnsError(
        "AlreadyExists",
        `network namespace "${name}" already exists (${path}): pick another name, or delete it first ` +
          `(\`ip netns delete ${name}\` or deleteNetns)`,
        { path, errno: "EEXIST", ...(cause === undefined ? {} : { cause }) },
      );
    // Claims the name for the spawned-tools path: an exclusive mode-0 placeholder for `unshare` to mount on.
    const placeholder = (): Result<void, NetnsError> => {
      try {
        // Synchronous on purpose: open(2) on a tmpfs costs less than a thread-pool round trip (see owner.ts).
        closeSync(openSync(path, constants.O_RDONLY | constants.O_CREAT | constants.O_EXCL, 0));
        debug("created %s", path);
        return ok(undefined);
      } catch (e) {
        if (errnoOf(e) === "EEXIST") return err(alreadyExists(e));
        return err(netnsErrorFromErrno(e, { path, action: "create" }));
      }
    };

    // Who holds the name decides what a failure may remove. Spawned tools: this call, from the moment its
    // exclusive placeholder exists, as before. Resident: a free path (checked here) plus the marker, created
    // exclusively and carrying this call's random claim; the path becomes ours once `ip netns add` made it.
    let mode: "resident" | "spawn" = helper === undefined ? "spawn" : "resident";
    const claim = helper === undefined ? undefined : randomUUID();
    let pathIsOurs = false;
    if (mode === "spawn") {
      const claimed = placeholder();
      if (claimed.isErr()) return err(claimed.error);
      pathIsOurs = true;
    } else {
      try {
        lstatSync(path);
        return err(alreadyExists());
      } catch (e) {
        if (errnoOf(e) !== "ENOENT") return err(netnsErrorFromErrno(e, { path, action: "create" }));
      }
    }

    const markerFile = markerPath(stateDir, dir, name);
    const etcDir = options.etc === undefined ? undefined : join(options.etcDir ?? ETC_NETNS_DIR, name);
    let etcMade = false;
    const undo = async (error: NetnsError): Promise<Result<Netns, NetnsError>> => {
      debug("create %s failed (%s); undoing", path, error.code);
      // Undo even when the caller's signal fired: the signal was for the creation, not for its clean-up.
      const etc = etcMade && etcDir !== undefined ? { etcDir } : {};
      const removed =
        mode === "spawn"
          ? await removeNamespaceFiles(path, { markerFile, ...etc, ...searchPathOnly(toolOptions) })
          : await removeNamespaceFiles(path, { ...etc, keepPath: !pathIsOurs, ...searchPathOnly(toolOptions) });
      if (removed.isErr()) debug("undo %s failed: %s", path, removed.error.message);
      if (mode === "resident" && claim !== undefined) {
        await removeClaimedMarker(markerFile, claim).catch((e: unknown) => debug("undo %s marker: %s", path, e));
      }
      return err(error);
    };

    if (etcDir !== undefined) {
      try {
        await mkdir(resolve(etcDir, ".."), { recursive: true, mode: 0o755 });
        await mkdir(etcDir, { mode: 0o755 });
        etcMade = true;
      } catch (e) {
        return undo(
          errnoOf(e) === "EEXIST"
            ? new NetnsError(
                "AlreadyExists",
                `cannot write /etc files for network namespace "${name}": ${etcDir} already exists; remove it ` +
                  `or create the namespace without \`etc\``,
                { path: etcDir, errno: "EEXIST", cause: e },
              )
            : netnsErrorFromErrno(e, { path: etcDir, action: "create" }),
        );
      }
    }

    let owner: OwnerMarker["owner"];
    const createdAt = new Date().toISOString();
    const etcField = etcDir === undefined ? {} : { etcDir };
    const claimField = claim === undefined ? {} : { claim };
    try {
      owner = await selfIdentity();
      const marker: OwnerMarker = {
        version: 1,
        name,
        path,
        state: "creating",
        owner,
        ...etcField,
        createdAt,
        ...claimField,
      };
      if (mode === "resident" && !(await claimMarker(markerFile, marker))) {
        // A marker exists: another creator of this name is under way, or one was left behind. Claim the name
        // the spawned-tools way instead (the exclusive placeholder decides), as a creator always did.
        debug("%s has a marker already; claiming with a placeholder", path);
        mode = "spawn";
        const claimed = placeholder();
        if (claimed.isErr()) {
          if (etcMade && etcDir !== undefined) await rm(etcDir, { recursive: true, force: true });
          return err(claimed.error);
        }
        pathIsOurs = true;
      }
      if (mode === "spawn") await writeMarker(markerFile, marker);
    } catch (e) {
      return undo(netnsErrorFromErrno(e, { path: markerFile, action: "write the owner marker" }));
    }

    if (etcDir !== undefined && options.etc !== undefined) {
      try {
        await writeEtcFiles(etcDir, options.etc);
      } catch (e) {
        return undo(netnsErrorFromErrno(e, { path: etcDir, action: "write files in" }));
      }
    }

    let made = false;
    if (mode === "resident" && helper !== undefined && claim !== undefined) {
      const added = await helper.run(`netns add ${name}`);
      if (added.kind === "done" && added.ok) {
        pathIsOurs = true;
        made = true;
        if ((await isMounted(path).catch(() => false)) !== true) {
          // iproute2 was built with another netns directory than the one checked: never use the helper for it again.
          helperUnusableFor(dir);
          return undo(new NetnsError("Failed", `\`ip netns add ${name}\` did not create ${path}`, { path }));
        }
        debug("created %s with the resident helper", path);
      } else if (added.kind === "done") {
        // `ip netns add` removes what it made when it fails, so the path is not ours: leave it alone.
        const detail = added.messages.join("; ");
        if (/File exists/.test(detail)) return undo(alreadyExists());
        return undo(mountFailure(path, `create a network namespace at ${path}`, detail));
      } else {
        // The helper died or hung: it may have made the namespace, or only the placeholder, or nothing. While
        // the marker still carries this call's claim, nobody else took the name, so what is at the path is what
        // the helper made: remove it (as a sweep would) and let the spawned tools make the namespace instead.
        debug("resident helper lost `netns add %s` (%s); falling back to unshare", name, added.reason);
        const marker = await readMarker(markerFile).catch(() => undefined);
        if (marker?.claim !== claim) return undo(alreadyExists());
        const cleared = await removeNamespaceFiles(path, searchPathOnly(toolOptions));
        if (cleared.isErr()) return undo(cleared.error);
        const claimed = placeholder();
        if (claimed.isErr()) return undo(claimed.error);
        pathIsOurs = true;
      }
    }
    if (!made) {
      const fallback = unshare ?? (await findTool("unshare", searchPathOnly(toolOptions)));
      if (fallback.isErr()) return undo(fallback.error);
      const inside = options.loopbackUp && ip?.isOk() ? [ip.value, "link", "set", "dev", "lo", "up"] : ["true"];
      const run = await runTool("unshare", [`--net=${path}`, ...inside], { ...toolOptions, discardStdout: true });
      if (run.isErr()) return undo(run.error.code === "Aborted" ? aborted() : run.error);
      if (run.value.exitCode !== 0) {
        const mounted = await isMounted(path).catch(() => false);
        const action = mounted ? `bring lo up in ${path}` : `create a network namespace at ${path}`;
        return undo(mountFailure(path, action, run.value.stderr || `unshare exited ${run.value.exitCode}`));
      }
    } else if (options.loopbackUp) {
      if (signal?.aborted) return undo(aborted());
      const up = await runTool("ip", ["-n", name, "link", "set", "dev", "lo", "up"], {
        ...toolOptions,
        discardStdout: true,
      });
      if (up.isErr()) return undo(up.error.code === "Aborted" ? aborted() : up.error);
      if (up.value.exitCode !== 0) {
        return undo(mountFailure(path, `bring lo up in ${path}`, up.value.stderr || `ip exited ${up.value.exitCode}`));
      }
    }
    if (signal?.aborted) return undo(aborted());

    let ino: bigint;
    let dev: bigint;
    try {
      ({ ino, dev } = statSync(path, { bigint: true }));
      await writeMarker(markerFile, {
        version: 1,
        name,
        path,
        state: "ready",
        owner: options.detached ? null : owner,
        ino: String(ino),
        ...etcField,
        createdAt,
        ...claimField,
      });
    } catch (e) {
      return undo(netnsErrorFromErrno(e, { path, action: "record the owner of" }));
    }
    debug("network namespace %s is net:[%s]%s", path, ino, options.detached ? " (detached)" : "");
    return ok(
      new Netns({
        name,
        dir,
        path,
        identity: { dev, ino },
        stateDir,
        createdByBerth: true,
        deleteOnDispose: options.detached !== true,
        ...searchPathOnly(toolOptions),
      }),
    );
  };
  return new ResultAsync(
    body().catch((e: unknown) => err(netnsErrorFromErrno(e, { path: name, action: "create network namespace" }))),
  );
}
