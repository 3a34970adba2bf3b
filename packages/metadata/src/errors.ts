/**
 * What went wrong in `@berth/metadata`.
 *
 * - `InvalidInput`: an argument or a registered task/container model is malformed (see {@link MetadataError.field}).
 * - `NotFound`: no container or credentials are registered under the id that was asked for.
 * - `AlreadyExists`: an id is already registered.
 * - `ProviderFailed`: a caller-supplied provider (stats, credentials) failed or returned something unusable.
 * - `ListenFailed`: the HTTP server could not bind its address.
 * - `Closed`: the server or registry was used after it was closed.
 */
export type MetadataErrorCode =
  | "InvalidInput"
  | "NotFound"
  | "AlreadyExists"
  | "ProviderFailed"
  | "ListenFailed"
  | "Closed";

/** Options accepted by {@link MetadataError}'s constructor. */
export interface MetadataErrorOptions {
  /** The input path that was wrong, e.g. `task.containers[1].limits.memory` or `credentialsFullUri`. */
  readonly field?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/metadata`. Discriminate on {@link MetadataError.code};
 * `_tag` identifies the type without `instanceof` (safe across duplicate package copies).
 */
export class MetadataError extends Error {
  readonly _tag = "MetadataError" as const;
  readonly code: MetadataErrorCode;
  /** The input path that was wrong, for `InvalidInput`; `undefined` otherwise. */
  readonly field: string | undefined;

  constructor(code: MetadataErrorCode, message: string, options: MetadataErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "MetadataError";
    this.code = code;
    this.field = options.field;
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is MetadataError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "MetadataError";
  }
}
