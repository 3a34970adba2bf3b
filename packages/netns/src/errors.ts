/**
 * What went wrong with a network namespace operation.
 *
 * - `PermissionDenied`: the kernel refused (EACCES/EPERM); {@link NetnsError.capability} names the capability needed.
 * - `AlreadyExists`: a namespace (or file) with that name exists (EEXIST).
 * - `NotFound`: no such namespace file, process or directory (ENOENT).
 * - `NotANamespace`: the file exists but is not a mounted network namespace (a leftover placeholder, a regular
 *   file, or a namespace of another type such as `uts`).
 * - `Busy`: the mount is in use elsewhere (EBUSY); usually succeeds when retried.
 * - `ToolMissing`: an external tool (`ip`, `nsenter`, `unshare`) is not installed; {@link NetnsError.package}
 *   names the Debian package.
 * - `InvalidName`: the namespace name breaks iproute2's rules.
 * - `Aborted`: the caller's `AbortSignal` fired.
 * - `Timeout`: a command run inside a namespace did not finish within its `timeoutMs` (it was killed).
 * - `NotOwned`: the namespace was not created by berth (no owner marker, or the marker is for another
 *   namespace of the same name); deleting it needs `force: true`.
 * - `Failed`: anything else; see the message and `cause`.
 */
export type NetnsErrorCode =
  | "PermissionDenied"
  | "AlreadyExists"
  | "NotFound"
  | "NotANamespace"
  | "Busy"
  | "ToolMissing"
  | "InvalidName"
  | "Aborted"
  | "Timeout"
  | "NotOwned"
  | "Failed";

/** Options accepted by {@link NetnsError}'s constructor. */
export interface NetnsErrorOptions {
  /** The file the operation concerned, e.g. `/run/netns/task-1` or `/proc/42/ns/net`. */
  readonly path?: string;
  /** For `PermissionDenied`: the capability that would allow the operation, e.g. `CAP_SYS_ADMIN`. */
  readonly capability?: string;
  /** For `ToolMissing`: the Debian package that provides the tool, e.g. `iproute2`. */
  readonly package?: string;
  /** The Node errno code behind the failure, e.g. `ENOENT`, when there was one. */
  readonly errno?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/netns`. Discriminate on {@link NetnsError.code}; `_tag` identifies the
 * type without `instanceof` (safe across duplicate package copies).
 */
export class NetnsError extends Error {
  readonly _tag = "NetnsError" as const;
  /** What went wrong. */
  readonly code: NetnsErrorCode;
  /** The file the operation concerned, when there was one. */
  readonly path: string | undefined;
  /** For `PermissionDenied`: the capability that would allow the operation. */
  readonly capability: string | undefined;
  /** For `ToolMissing`: the Debian package to install. */
  readonly package: string | undefined;
  /** The Node errno code behind the failure, when there was one. */
  readonly errno: string | undefined;

  constructor(code: NetnsErrorCode, message: string, options: NetnsErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NetnsError";
    this.code = code;
    this.path = options.path;
    this.capability = options.capability;
    this.package = options.package;
    this.errno = options.errno;
  }

  /** True for failures that may succeed when retried unchanged (`Busy`: a mount still in use elsewhere). */
  get retryable(): boolean {
    return this.code === "Busy";
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is NetnsError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "NetnsError";
  }
}

/** What {@link netnsErrorFromErrno} needs to know to write a useful message. */
export interface ErrnoContext {
  /** The file the failed call was about. */
  readonly path: string;
  /** What was being done, as a verb phrase: `inspect`, `read the namespace of pid 42`, `create`. */
  readonly action: string;
  /** The capability to name on EACCES/EPERM. Defaults to `CAP_SYS_ADMIN`. */
  readonly capability?: string;
}

/** The errno code of a Node error (`ENOENT`, ...), or undefined for other values. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * Maps a failed Node filesystem or process call to a {@link NetnsError} that names the path and says
 * what to do: ENOENT/ENOTDIR → `NotFound`, EACCES/EPERM → `PermissionDenied`, EBUSY → `Busy`,
 * EEXIST → `AlreadyExists`, an `AbortError` → `Aborted`, anything else → `Failed`.
 */
export function netnsErrorFromErrno(error: unknown, context: ErrnoContext): NetnsError {
  const { path, action } = context;
  if (error instanceof Error && error.name === "AbortError") {
    return new NetnsError("Aborted", `${action} ${path}: aborted by the caller's signal`, { path, cause: error });
  }
  const errno = errnoOf(error);
  const base = { path, cause: error, ...(errno === undefined ? {} : { errno }) };
  switch (errno) {
    case "ENOENT":
    case "ENOTDIR":
      return new NetnsError("NotFound", `cannot ${action} ${path}: it does not exist (${errno})`, base);
    case "EACCES":
    case "EPERM": {
      const capability = context.capability ?? "CAP_SYS_ADMIN";
      return new NetnsError(
        "PermissionDenied",
        `cannot ${action} ${path}: permission denied (${errno}); run as root or grant ${capability}`,
        { ...base, capability },
      );
    }
    case "EBUSY":
      return new NetnsError(
        "Busy",
        `cannot ${action} ${path}: it is busy (EBUSY), usually because the mount is still referenced from another ` +
          `mount namespace; retry shortly`,
        base,
      );
    case "EEXIST":
      return new NetnsError(
        "AlreadyExists",
        `cannot ${action} ${path}: it already exists (EEXIST); pick another name or delete the old one first`,
        base,
      );
    default: {
      const detail = error instanceof Error ? error.message : String(error);
      return new NetnsError("Failed", `cannot ${action} ${path}: ${detail}`, base);
    }
  }
}
