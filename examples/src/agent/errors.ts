/** What went wrong in the reference agent. */
export type AgentErrorCode =
  /** The task definition is not valid JSON or breaks a rule (the message names the field). */
  | "InvalidTaskDefinition"
  /** Creating the network namespace or wiring it with CNI failed. */
  | "NetworkFailed"
  /** Getting an image into containerd failed. */
  | "ImageFailed"
  /** Creating or starting a container failed. */
  | "ContainerFailed"
  /** Metadata server start or task registration failed. */
  | "MetadataFailed"
  /** A dependsOn condition can never be met (e.g. a SUCCESS dependency exited non-zero). */
  | "DependencyFailed"
  /** The run was aborted through its AbortSignal. */
  | "Aborted"
  /** Tearing the task down left something behind (the message lists what). */
  | "CleanupFailed"
  /** Task state on disk could not be read or written. */
  | "StateFailed";

/** Options of {@link AgentError}. */
export interface AgentErrorOptions {
  /** The JSON path of the offending field (e.g. `containerDefinitions[1].dependsOn[0].condition`). */
  readonly field?: string;
  /** The container the failure is about. */
  readonly container?: string;
  readonly cause?: unknown;
}

/** The one error type of the reference agent. */
export class AgentError extends Error {
  readonly _tag = "AgentError" as const;
  readonly code: AgentErrorCode;
  readonly field: string | undefined;
  readonly container: string | undefined;

  constructor(code: AgentErrorCode, message: string, options: AgentErrorOptions = {}) {
    super(message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = "AgentError";
    this.code = code;
    this.field = options.field;
    this.container = options.container;
  }

  /** True for an {@link AgentError} (also across module copies). */
  static is(value: unknown): value is AgentError {
    return (
      value instanceof AgentError ||
      (typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "AgentError")
    );
  }
}
