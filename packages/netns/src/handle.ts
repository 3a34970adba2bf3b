import createDebug from "debug";
import { err, ok, ResultAsync } from "neverthrow";
import { type DeleteNetnsOptions, deleteNetns, locate } from "./delete.js";
import type { NetnsError } from "./errors.js";
import {
  type ExecInNetnsOptions,
  type ExecResult,
  execInNetns,
  type NetnsProcess,
  type SpawnInNetnsOptions,
  spawnInNetns,
} from "./exec.js";
import { inspectNetns, type NetnsIdentity, type NetnsInfo, sameIdentity } from "./inspect.js";
import { DEFAULT_NETNS_DIR } from "./name.js";
import { DEFAULT_STATE_DIR, markerPath, readMarker } from "./owner.js";

const debug = createDebug("berth:netns");

/** How a {@link Netns} handle came to be. @internal */
export interface NetnsHandleInit {
  readonly name: string;
  readonly dir: string;
  readonly path: string;
  readonly identity: NetnsIdentity;
  readonly stateDir: string;
  readonly createdByBerth: boolean;
  readonly deleteOnDispose: boolean;
  readonly searchPath?: string;
}

/**
 * A named network namespace: its name, file and identity, with ways to run commands inside it and to delete it.
 * Returned by {@link createNetns} and {@link openNetns}. Holds no file descriptor or process: it is a value plus
 * methods, so it can be kept or dropped freely.
 *
 * `await using ns = (await createNetns("task-1"))._unsafeUnwrap()` deletes the namespace when the scope ends
 * ({@link Netns.deleteOnDispose}); a handle from {@link openNetns} or a `detached` creation is left alone.
 */
export class Netns implements AsyncDisposable {
  /** The namespace's name (its file name). */
  readonly name: string;
  /** The directory it is in, e.g. `/run/netns`. */
  readonly dir: string;
  /** Its file, e.g. `/run/netns/task-1`: what containerd's spec and CNI's `CNI_NETNS` take. */
  readonly path: string;
  /** Device and inode of its nsfs file. */
  readonly identity: NetnsIdentity;
  /** True when berth created it (it has berth's owner marker), so {@link Netns.delete} needs no `force`. */
  readonly createdByBerth: boolean;
  /** True when disposing the handle deletes the namespace: handles from a non-detached {@link createNetns}. */
  readonly deleteOnDispose: boolean;
  readonly #stateDir: string;
  readonly #searchPath: string | undefined;
  #deleted = false;

  /** @internal use {@link createNetns} or {@link openNetns}. */
  constructor(init: NetnsHandleInit) {
    this.name = init.name;
    this.dir = init.dir;
    this.path = init.path;
    this.identity = init.identity;
    this.createdByBerth = init.createdByBerth;
    this.deleteOnDispose = init.deleteOnDispose;
    this.#stateDir = init.stateDir;
    this.#searchPath = init.searchPath;
  }

  /** True when this handle names the same namespace as `other` (a handle or an identity). */
  sameAs(other: Netns | NetnsIdentity): boolean {
    return sameIdentity(this.identity, other instanceof Netns ? other.identity : other);
  }

  /** Runs a command inside and collects its output; see {@link execInNetns}. */
  exec(
    command: string,
    args: readonly string[] = [],
    options: Omit<ExecInNetnsOptions, "dir"> = {},
  ): ResultAsync<ExecResult, NetnsError> {
    return execInNetns(this.path, command, args, this.#withSearchPath(options));
  }

  /** Starts a command inside with streaming stdio; see {@link spawnInNetns}. */
  spawn(
    command: string,
    args: readonly string[] = [],
    options: Omit<SpawnInNetnsOptions, "dir"> = {},
  ): ResultAsync<NetnsProcess, NetnsError> {
    return spawnInNetns(this.path, command, args, this.#withSearchPath(options));
  }

  /** Checks that the namespace is still mounted at its path and is still this one (`NotFound` otherwise). */
  inspect(options: { readonly signal?: AbortSignal } = {}): ResultAsync<NetnsInfo, NetnsError> {
    return inspectNetns(this.path, options.signal === undefined ? {} : { signal: options.signal });
  }

  /**
   * Deletes the namespace (see {@link deleteNetns}); resolves `false` when it was already gone. A namespace that
   * berth created needs no `force`; one made by another tool does.
   */
  delete(
    options: Pick<DeleteNetnsOptions, "force" | "signal" | "busyAttempts" | "resident"> = {},
  ): ResultAsync<boolean, NetnsError> {
    return deleteNetns(this.path, { ...this.#withSearchPath(options), stateDir: this.#stateDir }).map((existed) => {
      this.#deleted = true;
      return existed;
    });
  }

  /** Deletes the namespace if {@link Netns.deleteOnDispose} and not yet deleted; rejects with the `NetnsError`. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.deleteOnDispose || this.#deleted) return;
    const deleted = await this.delete();
    if (deleted.isErr()) {
      debug("dispose %s failed: %s", this.path, deleted.error.message);
      throw deleted.error;
    }
  }

  #withSearchPath<T extends object>(options: T): T & { searchPath?: string } {
    return this.#searchPath === undefined ? options : { ...options, searchPath: this.#searchPath };
  }
}

/** Options of {@link openNetns}. */
export interface OpenNetnsOptions {
  /** The directory of named namespaces, when opening by name. Default `/run/netns`. */
  readonly dir?: string;
  /** Where berth's owner markers are. Default `/run/berth/netns`. */
  readonly stateDir?: string;
  readonly signal?: AbortSignal;
  /** Where to look for tools (see `findTool`). */
  readonly searchPath?: string;
}

/**
 * Opens an existing named namespace, by name (in `dir`) or path: berth's or one made by `ip netns add`. Fails
 * like {@link inspectNetns} (`NotFound`, `NotANamespace`, ...). Disposing the handle does not delete it.
 */
export function openNetns(nameOrPath: string, options: OpenNetnsOptions = {}): ResultAsync<Netns, NetnsError> {
  const where = locate(nameOrPath, options.dir ?? DEFAULT_NETNS_DIR);
  if (where.isErr()) return new ResultAsync(Promise.resolve(err(where.error)));
  const { dir, name, path } = where.value;
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  return inspectNetns(path, options.signal === undefined ? {} : { signal: options.signal }).andThen((info) =>
    ResultAsync.fromSafePromise(readMarker(markerPath(stateDir, dir, name)).catch(() => undefined)).andThen((marker) =>
      ok(
        new Netns({
          name,
          dir,
          path,
          identity: info.identity,
          stateDir,
          createdByBerth:
            marker !== undefined && (marker.ino === undefined || marker.ino === String(info.identity.ino)),
          deleteOnDispose: false,
          ...(options.searchPath === undefined ? {} : { searchPath: options.searchPath }),
        }),
      ),
    ),
  );
}
