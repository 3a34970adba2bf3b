import { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * What went wrong, as one of containerd's error classes (containerd's `errdefs`, carried as
 * gRPC status codes) plus the transport's own failures.
 */
export type ContainerdErrorCode =
  | "NotFound"
  | "AlreadyExists"
  | "FailedPrecondition"
  | "InvalidArgument"
  | "Unavailable"
  | "DeadlineExceeded"
  | "Canceled"
  | "Unimplemented"
  | "Unknown";

/** Options accepted by {@link ContainerdError}'s constructor. */
export interface ContainerdErrorOptions {
  /** The resource the call concerned, e.g. `container "web"` or `socket /run/containerd/containerd.sock`. */
  readonly resource?: string;
  /** The gRPC status code containerd answered with, when there was one. */
  readonly grpcCode?: number;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/containerd`. Discriminate on {@link ContainerdError.code};
 * `_tag` identifies the type without `instanceof` (safe across duplicate package copies).
 */
export class ContainerdError extends Error {
  readonly _tag = "ContainerdError" as const;
  readonly code: ContainerdErrorCode;
  readonly resource: string | undefined;
  readonly grpcCode: number | undefined;

  constructor(code: ContainerdErrorCode, message: string, options: ContainerdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ContainerdError";
    this.code = code;
    this.resource = options.resource;
    this.grpcCode = options.grpcCode;
  }

  /** True for failures that may succeed when retried unchanged (daemon restarting, deadline hit). */
  get retryable(): boolean {
    return this.code === "Unavailable" || this.code === "DeadlineExceeded";
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is ContainerdError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "ContainerdError";
  }
}

const CODE_OF_STATUS: Readonly<Record<number, ContainerdErrorCode>> = {
  [GrpcStatus.NOT_FOUND]: "NotFound",
  [GrpcStatus.ALREADY_EXISTS]: "AlreadyExists",
  [GrpcStatus.FAILED_PRECONDITION]: "FailedPrecondition",
  [GrpcStatus.INVALID_ARGUMENT]: "InvalidArgument",
  [GrpcStatus.OUT_OF_RANGE]: "InvalidArgument",
  [GrpcStatus.UNAVAILABLE]: "Unavailable",
  [GrpcStatus.DEADLINE_EXCEEDED]: "DeadlineExceeded",
  [GrpcStatus.CANCELLED]: "Canceled",
  [GrpcStatus.UNIMPLEMENTED]: "Unimplemented",
};

/** Maps a gRPC status code to berth's error code (containerd's errdefs mapping). */
export function codeOfGrpcStatus(code: number): ContainerdErrorCode {
  return CODE_OF_STATUS[code] ?? "Unknown";
}
