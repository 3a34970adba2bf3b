/**
 * What was wrong with a log URI or a logger configuration.
 *
 * - `MissingOption`: a required option (flag) was not given, e.g. `--awslogs-group`.
 * - `InvalidOption`: an option has a value the logger would reject or misread (bad duration, size, URL, port,
 *   unknown flag, ...); {@link LogShimError.allowed} lists the accepted values when they form a fixed set.
 * - `ConflictingOptions`: options that cannot be combined, e.g. `awslogs-multiline-pattern` with
 *   `awslogs-datetime-format`, or `max-buffer-size` without `mode=non-blocking`.
 * - `UnknownDriver`: the log driver is not one this package knows; {@link LogShimError.allowed} lists the known ones.
 * - `NotAbsolutePath`: a path that must be absolute (logger binary, log file, CA file, unix socket) is relative.
 * - `InvalidUri`: a log URI could not be parsed, has an unsupported scheme, a host, a fragment, a bad
 *   percent-escape, or a query containerd would silently drop.
 * - `ServerFailed`: a resident logger server could not start (another one answers on its socket, or the socket
 *   cannot be created).
 */
export type LogShimErrorCode =
  | "MissingOption"
  | "InvalidOption"
  | "ConflictingOptions"
  | "UnknownDriver"
  | "NotAbsolutePath"
  | "InvalidUri"
  | "ServerFailed";

/** Options accepted by {@link LogShimError}'s constructor. */
export interface LogShimErrorOptions {
  /** The option concerned, as the logger binary or the ECS task definition spells it, e.g. `awslogs-group`. */
  readonly option?: string;
  /** The accepted values, when they form a fixed set (e.g. `["blocking", "non-blocking"]`). */
  readonly allowed?: readonly string[];
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/log-shim`. Discriminate on {@link LogShimError.code}; `_tag` identifies the
 * type without `instanceof` (safe across duplicate package copies).
 */
export class LogShimError extends Error {
  readonly _tag = "LogShimError" as const;
  /** What went wrong. */
  readonly code: LogShimErrorCode;
  /** The option concerned, without leading dashes (e.g. `awslogs-group`), when there was one. */
  readonly option: string | undefined;
  /** The accepted values, when they form a fixed set. */
  readonly allowed: readonly string[] | undefined;

  constructor(code: LogShimErrorCode, message: string, options: LogShimErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "LogShimError";
    this.code = code;
    this.option = options.option;
    this.allowed = options.allowed === undefined ? undefined : Object.freeze([...options.allowed]);
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is LogShimError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "LogShimError";
  }
}
