/**
 * What went wrong while naming, resolving or fetching an image.
 *
 * - `InvalidReference`: an image reference or digest string does not follow the distribution grammar.
 * - `InvalidPlatform`: a platform specifier such as `linux/arm64/v8` could not be parsed.
 * - `NotFound`: the registry has no such repository, tag, manifest or blob.
 * - `Unauthorized`: the registry wants credentials, or rejected the ones given.
 * - `Denied`: the credentials were accepted but do not grant access to the repository.
 * - `TooManyRequests`: the registry rate-limited the client (HTTP 429); retry later.
 * - `DigestMismatch`: downloaded content does not hash to the digest that named it.
 * - `UnsupportedMediaType`: a manifest, index or layer type the puller does not handle (e.g. schema1).
 * - `NoMatchingPlatform`: an image index lists no manifest for the wanted platform.
 * - `Network`: the connection failed (DNS, refused, reset, TLS, timeout); retry later.
 * - `Aborted`: the caller's `AbortSignal` fired.
 * - `InvalidManifest`: a manifest or index is malformed, too large, or inconsistent.
 */
export type ImageErrorCode =
  | "InvalidReference"
  | "InvalidPlatform"
  | "NotFound"
  | "Unauthorized"
  | "Denied"
  | "TooManyRequests"
  | "DigestMismatch"
  | "UnsupportedMediaType"
  | "NoMatchingPlatform"
  | "Network"
  | "Aborted"
  | "InvalidManifest";

/** Options accepted by {@link ImageError}'s constructor. */
export interface ImageErrorOptions {
  /** The image reference the failure concerns, as the caller wrote it (e.g. `busybox:latest`). */
  readonly reference?: string;
  /** The HTTP status the registry answered with, when the failure came from a response. */
  readonly status?: number;
  /** The digest of the manifest or blob the failure concerns. */
  readonly digest?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/image`. Discriminate on {@link ImageError.code};
 * `_tag` identifies the type without `instanceof` (safe across duplicate package copies).
 */
export class ImageError extends Error {
  /** Identifies the type across package copies; see {@link ImageError.is}. */
  readonly _tag = "ImageError" as const;
  /** What went wrong; see {@link ImageErrorCode}. */
  readonly code: ImageErrorCode;
  /** The image reference the failure concerns, when there is one. */
  readonly reference: string | undefined;
  /** The HTTP status the registry answered with, when the failure came from a response. */
  readonly status: number | undefined;
  /** The digest of the manifest or blob the failure concerns, when there is one. */
  readonly digest: string | undefined;

  constructor(code: ImageErrorCode, message: string, options: ImageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ImageError";
    this.code = code;
    this.reference = options.reference;
    this.status = options.status;
    this.digest = options.digest;
  }

  /** True for failures that may succeed when retried unchanged (rate limiting, network trouble). */
  get retryable(): boolean {
    return this.code === "TooManyRequests" || this.code === "Network";
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is ImageError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "ImageError";
  }
}
