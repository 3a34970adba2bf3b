import { readdir, stat, unlink } from "node:fs/promises";
import { join, resolve } from "node:path";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";
import { DEFAULT_NETNS_DIR, netnsPath } from "./name.js";
import { DEFAULT_STATE_DIR, markedNames, markerDir, ownerState, readMarker, removeMarker } from "./owner.js";
import { isMounted, removeNamespaceFiles } from "./remove.js";

const debug = createDebug("berth:netns:sweep");

/** Options of {@link sweepNetns}. */
export interface SweepNetnsOptions {
  /** The directory of named namespaces. Default `/run/netns`. */
  readonly dir?: string;
  /** Where berth's owner markers are. Default `/run/berth/netns`. */
  readonly stateDir?: string;
  readonly signal?: AbortSignal;
  /**
   * Unmount and unlink through berth's resident `ip -force -batch -` helper (`netns del NAME`) for namespaces in
   * `/run/netns` with plain names, instead of running `umount` for each. Default true; see `createNetns`.
   */
  readonly resident?: boolean;
  /** Where to look for `umount` and `ip` (see `findTool`). */
  readonly searchPath?: string;
}

/** What {@link sweepNetns} did. */
export interface SweepReport {
  /** Names whose namespace (or half-made placeholder) was removed because its owner is gone. */
  readonly removed: readonly string[];
  /**
   * Names whose marker alone was removed: the owner is gone and nothing of berth's is left at the path (it was
   * already deleted, or another tool has since made a namespace of that name, which is left alone).
   */
  readonly markersRemoved: readonly string[];
  /** Names left alone: the owner still runs (or cannot be checked), or the namespace is detached. */
  readonly kept: readonly string[];
}

const TEMP_MARKER = /\.json\.(\d+)\.\d+\.tmp$/;

/** Removes marker temp files whose writer (by pid) no longer runs: what a crash mid-write leaves. */
async function removeDeadTempFiles(dir: string): Promise<void> {
  let files: string[];
  try {
    files = await readdir(dir);
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return;
    throw e;
  }
  for (const file of files) {
    const pid = TEMP_MARKER.exec(file)?.[1];
    if (pid === undefined) continue;
    const alive = await stat(`/proc/${pid}`).then(
      () => true,
      (e: unknown) => errnoOf(e) !== "ENOENT",
    );
    if (!alive) await unlink(join(dir, file)).catch(() => undefined);
  }
}

/**
 * Crash recovery: removes the namespaces berth created in `dir` whose owner process is gone (found by the owner
 * markers {@link createNetns} writes: pid plus start time, so a reused pid does not count as the owner). Removes
 * complete namespaces and whatever an interrupted create or delete left (a mode-0 placeholder, an `/etc/netns`
 * directory, the marker). Never touches namespaces without a berth marker (e.g. made by `ip netns add`),
 * detached ones, or ones whose owner still runs. Safe to run at any time, also concurrently with creates.
 *
 * Errors: `PermissionDenied` (needs CAP_SYS_ADMIN to unmount), `Aborted`, `Failed`; the first failure stops the
 * sweep, and running it again continues where it stopped.
 */
export function sweepNetns(options: SweepNetnsOptions = {}): ResultAsync<SweepReport, NetnsError> {
  const dir = resolve(options.dir ?? DEFAULT_NETNS_DIR);
  const markers = markerDir(options.stateDir ?? DEFAULT_STATE_DIR, dir);
  const body = async (): Promise<Result<SweepReport, NetnsError>> => {
    const removed: string[] = [];
    const markersRemoved: string[] = [];
    const kept: string[] = [];
    await removeDeadTempFiles(markers);
    for (const name of await markedNames(markers)) {
      if (options.signal?.aborted) {
        return err(new NetnsError("Aborted", `sweep ${dir}: aborted by the caller's signal`, { path: dir }));
      }
      const markerFile = join(markers, `${name}.json`);
      const path = netnsPath(name, dir);
      const marker = await readMarker(markerFile);
      if (path.isErr() || marker === undefined) {
        // Not a marker berth wrote (a bad name, or not one of its JSON files): leave it.
        continue;
      }
      if (marker.owner === null) {
        kept.push(name);
        continue;
      }
      const state = await ownerState(marker.owner);
      if (state !== "dead") {
        kept.push(name);
        continue;
      }
      const mounted = await isMounted(path.value);
      const ino = mounted ? String((await stat(path.value, { bigint: true })).ino) : undefined;
      if (marker.ino !== undefined && ino !== undefined && ino !== marker.ino) {
        debug(
          "%s: owner pid %d is gone; net:[%s] is another namespace now, removing the marker",
          name,
          marker.owner.pid,
          ino,
        );
        await removeMarker(markerFile);
        markersRemoved.push(name);
        continue;
      }
      debug("%s: owner pid %d is gone; removing %s (%s)", name, marker.owner.pid, path.value, marker.state);
      const gone = await removeNamespaceFiles(path.value, {
        markerFile,
        ...(marker.etcDir === undefined ? {} : { etcDir: marker.etcDir }),
        ...(options.signal === undefined ? {} : { signal: options.signal }),
        ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
        ...(options.resident === undefined ? {} : { resident: options.resident }),
      });
      if (gone.isErr()) return err(gone.error);
      (mounted === undefined ? markersRemoved : removed).push(name);
    }
    return ok({ removed, markersRemoved, kept });
  };
  return new ResultAsync(
    body().catch((e: unknown) => err(netnsErrorFromErrno(e, { path: markers, action: "sweep network namespaces in" }))),
  );
}
