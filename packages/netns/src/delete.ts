import { statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import createDebug from "debug";
import { err, type Result, ResultAsync } from "neverthrow";
import { errnoOf, NetnsError, netnsErrorFromErrno } from "./errors.js";
import { DEFAULT_NETNS_DIR, netnsPath } from "./name.js";
import { DEFAULT_STATE_DIR, markerPath, readMarker } from "./owner.js";
import { isMounted, removeNamespaceFiles } from "./remove.js";

const debug = createDebug("berth:netns");

/** Options of {@link deleteNetns}. */
export interface DeleteNetnsOptions {
  /** The directory of named namespaces. Default `/run/netns`. */
  readonly dir?: string;
  /** Where berth's owner markers are. Default {@link DEFAULT_STATE_DIR}. */
  readonly stateDir?: string;
  /** Delete even a namespace berth did not create (e.g. one made by `ip netns add`). Default false. */
  readonly force?: boolean;
  /** Attempts at unlinking a busy (EBUSY) file, with doubling pauses from 10 ms. Default 6. */
  readonly busyAttempts?: number;
  readonly signal?: AbortSignal;
  /**
   * Unmount and unlink through berth's resident `ip -force -batch -` helper (`netns del NAME`) for namespaces in
   * `/run/netns` with plain names, instead of running `umount` for each. Default true; see `createNetns`.
   */
  readonly resident?: boolean;
  /** Where to look for `umount` and `ip` (see `findTool`). */
  readonly searchPath?: string;
}

/** Splits a name (in `dir`) or a path (anything with a `/`) into the namespace's directory, name and path. */
export function locate(
  nameOrPath: string,
  dir: string,
): Result<{ dir: string; name: string; path: string }, NetnsError> {
  if (nameOrPath.includes("/")) {
    const path = resolve(nameOrPath);
    return netnsPath(basename(path), dirname(path)).map(() => ({ dir: dirname(path), name: basename(path), path }));
  }
  return netnsPath(nameOrPath, dir).map((path) => ({ dir: resolve(dir), name: nameOrPath, path }));
}

/**
 * Deletes a named namespace the way `ip netns delete` does: lazy unmount (umount2 MNT_DETACH), then unlink,
 * retrying while the file is busy (EBUSY, e.g. while another mount namespace still holds a copy of the mount).
 * For a namespace in `/run/netns` with a plain name both steps run in berth's resident `ip -batch` helper (`netns
 * del NAME`, no process started; see `createNetns`); elsewhere, or if the helper is lost, through `umount
 * --lazy` and unlink(2). Every namespace stacked on the file is unmounted, so a duplicate mount is
 * removed too. Also removes the `/etc/netns/NAME` files berth wrote at creation and berth's owner marker.
 *
 * Idempotent: resolves `false` when there was nothing to delete, `true` when a namespace file was removed. The
 * namespace itself lives on while a process is still inside it; only its name goes away.
 *
 * Refuses (`NotOwned`) a namespace berth did not create, such as one made by `ip netns add`, or a namespace
 * that replaced berth's under the same name, unless `force` is set. Other errors: `InvalidName`,
 * `PermissionDenied` (needs CAP_SYS_ADMIN), `Busy` (still busy after all attempts), `ToolMissing`, `Aborted`.
 */
export function deleteNetns(nameOrPath: string, options: DeleteNetnsOptions = {}): ResultAsync<boolean, NetnsError> {
  const body = async (): Promise<Result<boolean, NetnsError>> => {
    const where = locate(nameOrPath, options.dir ?? DEFAULT_NETNS_DIR);
    if (where.isErr()) return err(where.error);
    const { dir, name, path } = where.value;
    if (options.signal?.aborted) {
      return err(new NetnsError("Aborted", `delete ${path}: aborted by the caller's signal`, { path }));
    }
    const markerFile = markerPath(options.stateDir ?? DEFAULT_STATE_DIR, dir, name);
    let marker: Awaited<ReturnType<typeof readMarker>>;
    let mounted: boolean | undefined;
    let ino: bigint | undefined;
    try {
      marker = await readMarker(markerFile);
      mounted = await isMounted(path);
      ino = mounted ? statSync(path, { bigint: true }).ino : undefined;
    } catch (e) {
      if (errnoOf(e) === "ENOENT") mounted = undefined;
      else return err(netnsErrorFromErrno(e, { path, action: "delete" }));
    }
    const replaced = marker?.ino !== undefined && ino !== undefined && marker.ino !== String(ino);
    if (mounted !== undefined && options.force !== true && (marker === undefined || replaced)) {
      const why =
        marker === undefined
          ? "berth did not create it (it has no owner marker; `ip netns add` or another tool made it)"
          : `it is not the namespace berth created under that name (net:[${ino}], berth's was net:[${marker.ino}])`;
      return err(
        new NetnsError(
          "NotOwned",
          `refusing to delete network namespace "${name}" (${path}): ${why}; pass force: true (CLI: --force) to ` +
            `delete it anyway`,
          { path },
        ),
      );
    }
    debug("delete %s (marker %s, mounted %s)", path, marker === undefined ? "none" : marker.state, mounted);
    // A marker that describes another namespace than the one now at the path says nothing about its /etc files.
    const etcDir = replaced ? undefined : marker?.etcDir;
    return removeNamespaceFiles(path, {
      markerFile,
      ...(etcDir === undefined ? {} : { etcDir }),
      ...(options.busyAttempts === undefined ? {} : { busyAttempts: options.busyAttempts }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
      ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
      ...(options.resident === undefined ? {} : { resident: options.resident }),
    });
  };
  return new ResultAsync(
    body().catch((e: unknown) => err(netnsErrorFromErrno(e, { path: nameOrPath, action: "delete" }))),
  );
}
