/**
 * What went wrong. The first group mirrors the CNI spec's well-known error codes a plugin reports
 * (the number is kept in {@link CniError.cniCode}); the second group is berth's own failures.
 *
 * Plugin-reported (CNI code in parentheses):
 * - `IncompatibleVersion` (1), `UnsupportedField` (2), `UnknownContainer` (3), `InvalidEnvironment` (4),
 *   `IOFailure` (5), `DecodeFailure` (6), `InvalidConfig` (7), `TryAgainLater` (11),
 *   `PluginNotAvailable` (50), `LimitedConnectivity` (51);
 * - `PluginSpecific`: a code of 100 or more, defined by the plugin itself;
 * - `PluginFailed`: the plugin exited non-zero without a usable CNI error (only stderr text, output that is
 *   not error JSON, code 0, or a code the spec reserves but does not define, such as 8).
 *
 * berth's own: `PluginNotFound` (no such binary on the CNI path), `Timeout`, `Aborted` (the caller's
 * `AbortSignal`), `InvalidResult` (a plugin reported success with output that is not a valid result),
 * `ConfigNotFound` (no such configuration file or network). `InvalidConfig` and `IOFailure` are also used for
 * configuration files berth itself rejects or cannot read.
 */
export type CniErrorCode =
  | "IncompatibleVersion"
  | "UnsupportedField"
  | "UnknownContainer"
  | "InvalidEnvironment"
  | "IOFailure"
  | "DecodeFailure"
  | "InvalidConfig"
  | "TryAgainLater"
  | "PluginNotAvailable"
  | "LimitedConnectivity"
  | "PluginSpecific"
  | "PluginFailed"
  | "PluginNotFound"
  | "Timeout"
  | "InvalidResult"
  | "Aborted"
  | "ConfigNotFound";

/** Options accepted by {@link CniError}'s constructor. */
export interface CniErrorOptions {
  /** The numeric CNI error code the plugin reported, when it reported one. */
  readonly cniCode?: number;
  /** The plugin (its `type`, i.e. binary name) the error concerns. */
  readonly plugin?: string;
  /** The network (configuration list `name`) the error concerns. */
  readonly network?: string;
  /** The configuration file or directory the error concerns. */
  readonly path?: string;
  /** The plugin's own `msg`, verbatim, when it reported a CNI error. */
  readonly pluginMessage?: string;
  /** Extra detail: the plugin's `details`, its stderr, or the directories searched. */
  readonly details?: string;
  /** The underlying error. */
  readonly cause?: unknown;
}

/**
 * The one error type of `@berth/cni`. Discriminate on {@link CniError.code}; `_tag` identifies the
 * type without `instanceof` (safe across duplicate package copies).
 */
export class CniError extends Error {
  readonly _tag = "CniError" as const;
  readonly code: CniErrorCode;
  readonly cniCode: number | undefined;
  readonly plugin: string | undefined;
  readonly network: string | undefined;
  readonly path: string | undefined;
  readonly pluginMessage: string | undefined;
  readonly details: string | undefined;

  constructor(code: CniErrorCode, message: string, options: CniErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "CniError";
    this.code = code;
    this.cniCode = options.cniCode;
    this.plugin = options.plugin;
    this.network = options.network;
    this.path = options.path;
    this.pluginMessage = options.pluginMessage;
    this.details = options.details;
  }

  /** True when the plugin asked to be called again later (CNI code 11). */
  get retryable(): boolean {
    return this.code === "TryAgainLater";
  }

  /** Narrowing helper that works across package copies. */
  static is(value: unknown): value is CniError {
    return typeof value === "object" && value !== null && (value as { _tag?: unknown })._tag === "CniError";
  }
}

const CODE_OF_CNI_CODE: Readonly<Record<number, CniErrorCode>> = {
  1: "IncompatibleVersion",
  2: "UnsupportedField",
  3: "UnknownContainer",
  4: "InvalidEnvironment",
  5: "IOFailure",
  6: "DecodeFailure",
  7: "InvalidConfig",
  11: "TryAgainLater",
  50: "PluginNotAvailable",
  51: "LimitedConnectivity",
};

const HINT: Partial<Record<CniErrorCode, string>> = {
  IncompatibleVersion: "use a cniVersion the plugin lists in its VERSION output (probeVersion)",
  UnsupportedField: "remove the field the plugin does not support from the network configuration",
  UnknownContainer: "check the container id; the plugin has no state for it",
  InvalidEnvironment: "check the container id, network namespace path and interface name passed to the plugin",
  IOFailure: "check the plugin's files, permissions and free space on the host",
  DecodeFailure: "the plugin could not decode its input; check the configuration's JSON shape",
  InvalidConfig: "fix the network configuration the message names",
  TryAgainLater: "retry the same call later",
  PluginNotAvailable: "the plugin is not ready (STATUS); wait for it to become available",
  LimitedConnectivity: "the plugin is running with limited connectivity; new attachments may not get full networking",
  PluginSpecific: "see the plugin's documentation for this code",
  PluginFailed: "see the plugin's output above and its documentation",
};

/**
 * Maps a numeric CNI error code to berth's code: the spec's well-known codes to their names, 100 and
 * above to `PluginSpecific`, and anything else (0, reserved-but-undefined codes) to `PluginFailed`.
 */
export function codeOfCniCode(cniCode: number): CniErrorCode {
  if (Number.isInteger(cniCode) && cniCode >= 100) return "PluginSpecific";
  return CODE_OF_CNI_CODE[cniCode] ?? "PluginFailed";
}

/** Where a plugin error happened, for {@link cniErrorFromPlugin}'s message and fields. */
export interface PluginErrorContext {
  /** The plugin's `type` (binary name). */
  readonly plugin?: string;
  /** The network the plugin was invoked for. */
  readonly network?: string;
  /** The CNI command, e.g. `ADD`, for the message. */
  readonly command?: string;
  /** The plugin's stderr, appended to the details when it is not empty. */
  readonly stderr?: string;
}

/**
 * Turns a plugin's error output, `{"cniVersion", "code", "msg", "details"}` (already parsed from JSON), into a
 * {@link CniError}. A value that is not an object with an integer `code` becomes `PluginFailed` carrying the
 * value's text, as libcni does with undecodable error output.
 */
export function cniErrorFromPlugin(body: unknown, context: PluginErrorContext = {}): CniError {
  const who = describePlugin(context);
  const stderr = context.stderr?.trim() ? context.stderr.trim() : undefined;
  const base = {
    ...(context.plugin === undefined ? {} : { plugin: context.plugin }),
    ...(context.network === undefined ? {} : { network: context.network }),
  };
  if (!isRecord(body) || typeof body.code !== "number" || !Number.isInteger(body.code) || body.code < 0) {
    const text = typeof body === "string" ? body : JSON.stringify(body);
    const details = joinDetails(`output: ${truncate(text ?? String(body))}`, stderr);
    return new CniError(
      "PluginFailed",
      `${who} failed and its output is not a CNI error object ({"code", "msg", "details"}): ${truncate(text ?? "")}; ` +
        `${HINT.PluginFailed}`,
      { ...base, ...(details === undefined ? {} : { details }) },
    );
  }
  const cniCode = body.code;
  const code = codeOfCniCode(cniCode);
  const msg = typeof body.msg === "string" ? body.msg : "";
  const pluginDetails = typeof body.details === "string" && body.details !== "" ? body.details : undefined;
  const details = joinDetails(pluginDetails, stderr);
  const described =
    code === "PluginSpecific" || code === "PluginFailed" ? `code ${cniCode}` : `code ${cniCode}, ${code}`;
  const parts = [`${who} failed (${described}): ${msg === "" ? "(no message)" : msg}`];
  if (pluginDetails !== undefined) parts.push(pluginDetails);
  const hint = HINT[code];
  if (hint !== undefined) parts.push(hint);
  return new CniError(code, parts.join("; "), {
    ...base,
    cniCode,
    pluginMessage: msg,
    ...(details === undefined ? {} : { details }),
    cause: body,
  });
}

/** `CNI plugin "bridge" (ADD)`, or as much of it as is known. */
export function describePlugin(context: { readonly plugin?: string; readonly command?: string }): string {
  const name = context.plugin === undefined ? "CNI plugin" : `CNI plugin ${JSON.stringify(context.plugin)}`;
  return context.command === undefined ? name : `${name} (${context.command})`;
}

/** Cuts long plugin output for messages; the full text stays in `details` where kept. */
export function truncate(text: string, max = 512): string {
  return text.length <= max ? text : `${text.slice(0, max)}... (${text.length - max} more characters)`;
}

function joinDetails(first: string | undefined, stderr: string | undefined): string | undefined {
  if (stderr === undefined) return first;
  const s = `stderr: ${stderr}`;
  return first === undefined ? s : `${first}; ${s}`;
}

/** A plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The `code` of a Node.js system error (`ENOENT`, `EACCES`, ...), when it has one. */
export function errnoOf(cause: unknown): string | undefined {
  const code = (cause as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** An error's message, or the value as text. */
export function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
