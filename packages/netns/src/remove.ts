import { statfsSync, unlinkSync } from "node:fs";
import { rm } from "node:fs/promises";
import { basename } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import createDebug from "debug";
import { err, ok, type Result } from "neverthrow";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";
import { NSFS_MAGIC } from "./inspect.js";
import { helperCanHandle, helperFor } from "./ip-batch.js";
import { removeMarker } from "./owner.js";
import { findTool, runTool } from "./tools.js";

const debug = createDebug("berth:netns");

/** How {@link removeNamespaceFiles} removes one namespace. @internal */
export interface RemoveOptions {
  /** The owner marker to remove last, when there is one. */
  readonly markerFile?: string;
  /** The `/etc/netns/NAME` directory berth created, removed with everything in it. */
  readonly etcDir?: string;
  /** Leave the namespace file and its mounts alone (they are not berth's); remove only the `/etc` files and marker. */
  readonly keepPath?: boolean;
  /** Unmount and unlink through the resident `ip -batch` helper where it can (see `createNetns`). Default true. */
  readonly resident?: boolean;
  /** Attempts at unlinking a file that is still busy (EBUSY), with doubling pauses from 10 ms. Default 6. */
  readonly busyAttempts?: number;
  readonly signal?: AbortSignal;
  readonly searchPath?: string;
}

/**
 * Whether `path` is on nsfs (a namespace is mounted on it); `undefined` when it does not exist. Synchronous like
 * the other metadata calls on the create/delete path: statfs is far cheaper than a thread-pool round trip.
 */
export async function isMounted(path: string): Promise<boolean | undefined> {
  try {
    return Number(statfsSync(path).type) === NSFS_MAGIC;
  } catch (e) {
    if (errnoOf(e) === "ENOENT") return undefined;
    throw e;
  }
}

/** The most mounts stacked on one file that are unmounted before giving up (a duplicate mount is one extra). */
const MAX_STACKED_MOUNTS = 8;

/**
 * Lazily unmounts (umount2 MNT_DETACH: the resident helper's `ip netns del`, or `umount --lazy`) every namespace
 * mounted on `path`, unlinks the file, retrying while it is busy, then removes the `/etc/netns` directory and the marker. Missing pieces are
 * skipped, so it is safe to repeat and finishes what an interrupted create or delete left. Resolves `true` when
 * a namespace file existed.
 *
 * @internal
 */
export async function removeNamespaceFiles(
  path: string,
  options: RemoveOptions = {},
): Promise<Result<boolean, NetnsError>> {
  const toolOptions = {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
  };
  let existed = false;
  try {
    for (let i = 0; !options.keepPath; i++) {
      const mounted = await isMounted(path);
      if (mounted === undefined) break;
      existed = true;
      if (!mounted) break;
      if (i === MAX_STACKED_MOUNTS) {
        return err(
          new NetnsError("Busy", `${path} still has a namespace mounted after ${i} unmounts; retry`, { path }),
        );
      }
      const unmounted = await unmount(path, toolOptions, options.resident !== false);
      if (unmounted.isErr()) return err(unmounted.error);
      const { ok: done, stderr } = unmounted.value;
      // A failure is only real while the namespace is still mounted: a concurrent delete of the same name may
      // have unmounted or even unlinked it between the check above and the unmount. `ip netns del` also fails
      // with EBUSY when it unmounted one of several mounts stacked on the file: the next round takes the next.
      if (!done && !/not mounted|resource busy/.test(stderr) && (await isMounted(path)) === true) {
        const detail = stderr.trim() || "no message";
        if (/ermission denied|not permitted|must be superuser/i.test(stderr)) {
          return err(
            new NetnsError(
              "PermissionDenied",
              `cannot unmount ${path}: ${detail}; run as root or grant CAP_SYS_ADMIN`,
              { path, capability: "CAP_SYS_ADMIN" },
            ),
          );
        }
        return err(new NetnsError("Failed", `cannot unmount ${path}: ${detail}`, { path }));
      }
      debug("unmounted %s", path);
    }
    if (existed) {
      const attempts = options.busyAttempts ?? 6;
      for (let attempt = 1; ; attempt++) {
        try {
          unlinkSync(path);
          debug("unlinked %s", path);
          break;
        } catch (e) {
          const errno = errnoOf(e);
          if (errno === "ENOENT") break;
          if (errno === "EBUSY" && attempt < attempts) {
            debug("unlink %s: EBUSY, attempt %d of %d", path, attempt, attempts);
            await sleep(10 * 2 ** (attempt - 1));
            continue;
          }
          return err(netnsErrorFromErrno(e, { path, action: "delete" }));
        }
      }
    }
    if (options.etcDir !== undefined) await rm(options.etcDir, { recursive: true, force: true });
    if (options.markerFile !== undefined) await removeMarker(options.markerFile);
    return ok(existed);
  } catch (e) {
    return err(netnsErrorFromErrno(e, { path, action: "delete" }));
  }
}

/**
 * Lazily unmounts the top namespace mounted on `path`: through the resident helper's `netns del NAME`
 * (umount2 MNT_DETACH, then unlink) when it can handle the path, otherwise, or when the helper is lost, by
 * running `umount --lazy`. `ok` false with `stderr` says why it failed.
 */
async function unmount(
  path: string,
  toolOptions: { readonly signal?: AbortSignal; readonly searchPath?: string },
  resident: boolean,
): Promise<Result<{ ok: boolean; stderr: string }, NetnsError>> {
  if (resident && helperCanHandle(path)) {
    const ip = await findTool("ip", toolOptions.searchPath === undefined ? {} : { searchPath: toolOptions.searchPath });
    if (ip.isOk() && helperFor(ip.value).usable) {
      const deleted = await helperFor(ip.value).run(`netns del ${basename(path)}`);
      if (deleted.kind === "done") return ok({ ok: deleted.ok, stderr: deleted.messages.join("\n") });
      debug("resident helper lost `netns del %s` (%s); running umount", basename(path), deleted.reason);
    }
  }
  // -n: do not touch /etc/mtab; -c: the path is already canonical (no lookups of its own).
  const run = await runTool("umount", ["--lazy", "-n", "-c", path], { ...toolOptions, discardStdout: true });
  if (run.isErr()) return err(run.error);
  return ok({ ok: run.value.exitCode === 0, stderr: run.value.stderr });
}
