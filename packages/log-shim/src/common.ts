import { err, ok, type Result } from "neverthrow";
import {
  firstFailure,
  optionalBoolean,
  optionalHttpUrl,
  optionalOneOf,
  optionalString,
  requiredString,
} from "./checks.js";
import { LogShimError } from "./errors.js";
import {
  boolFlag,
  type EncodedFlag,
  type FlagSet,
  type Mutable,
  splitFlag,
  takeInt,
  takeOptional,
  takePflagBool,
  takeRequired,
} from "./flags.js";
import { type ByteSize, type GoDuration, parseByteSize, parseGoDuration } from "./go-syntax.js";

/** The logger's delivery modes (`--mode`). */
export const SHIM_LOGGER_MODES = ["blocking", "non-blocking"] as const;

/**
 * `blocking` (the default): a container write waits until the driver took the line. `non-blocking`: lines go
 * through an in-memory ring buffer of `--max-buffer-size` bytes; when it is full, lines are dropped instead of
 * blocking the container.
 */
export type ShimLoggerMode = (typeof SHIM_LOGGER_MODES)[number];

/** The longest `--cleanup-time` the logger accepts: containerd's shim kills the logger about 12 s after closing it. */
export const MAX_CLEANUP_TIME_NS = 12_000_000_000n;

/** The largest uid/gid accepted (`(uid_t)-1` is reserved by the kernel). */
export const MAX_SHIM_LOGGER_ID = 4_294_967_294;

/** Flags every driver of shim-loggers-for-containerd takes (names without the leading `--`). */
export const COMMON_FLAGS = [
  "log-driver",
  "container-id",
  "container-name",
  "mode",
  "max-buffer-size",
  "uid",
  "gid",
  "cleanup-time",
  "verbose",
  "container-image-id",
  "container-image-name",
  "container-env",
  "container-env-endpoint",
  "container-labels",
  "proxy-variable",
  "log-file-dir",
] as const;

/**
 * Options every driver takes: the container's identity, delivery mode, process identity and Docker-style
 * metadata. Absent optional fields are left to the logger's defaults (shown as `@defaultValue`).
 */
export interface ShimLoggerCommonOptions {
  /** `--container-id` (required): the containerd container ID. */
  readonly containerId: string;
  /** `--container-name` (required): a human name for the container (ECS: the task definition's container name). */
  readonly containerName: string;
  /**
   * `--mode`: see {@link ShimLoggerMode}.
   * @defaultValue `"blocking"`
   */
  readonly mode?: ShimLoggerMode;
  /**
   * `--max-buffer-size`: the non-blocking ring buffer's size, in binary units (`"1m"` = 1 MiB, `"512k"`,
   * `"200"` bytes). Only with `mode: "non-blocking"`; the ECS agent uses `"10m"` when the task does not say.
   * @defaultValue `"1m"`
   */
  readonly maxBufferSize?: ByteSize;
  /** `--uid`: run the logger as this user ID (a positive integer; 0 is refused by the logger). */
  readonly uid?: number;
  /** `--gid`: run the logger with this group ID (a positive integer; 0 is refused by the logger). */
  readonly gid?: number;
  /**
   * `--cleanup-time`: how long the logger keeps flushing after the container's pipes close, as a Go duration from
   * 0 to 12 s (containerd's shim kills the logger after about 12 s).
   * @defaultValue `"5s"`
   */
  readonly cleanupTime?: GoDuration;
  /**
   * `--verbose`: log the logger's own debug lines (to journald, or a file on Windows).
   * @defaultValue `false`
   */
  readonly verbose?: boolean;
  /** `--container-image-id`: image ID, made available to the splunk driver's message attributes. */
  readonly containerImageId?: string;
  /** `--container-image-name`: image name, made available to the splunk driver's message attributes. */
  readonly containerImageName?: string;
  /**
   * `--container-env` (sent as a JSON object): the container's environment, which the splunk driver's `env` and
   * `envRegex` pick from. It is visible in the logger's argv; prefer {@link containerEnvEndpoint} for secrets.
   */
  readonly containerEnv?: Readonly<Record<string, string>>;
  /**
   * `--container-env-endpoint`: an http(s) URL the logger fetches the environment from at start
   * (`{"env": {"KEY": "VALUE"}}`), instead of {@link containerEnv}.
   */
  readonly containerEnvEndpoint?: string;
  /** `--container-labels` (sent as a JSON object): the container's labels, for the splunk driver's `labels`. */
  readonly containerLabels?: Readonly<Record<string, string>>;
  /** `--proxy-variable` (Windows only): sets `HTTP_PROXY` and `HTTPS_PROXY` for the logger. */
  readonly proxyVariable?: string;
  /** `--log-file-dir` (Windows only): where the logger writes its own log files. */
  readonly logFileDir?: string;
}

function stringMapProblem(option: string, value: unknown): LogShimError | undefined {
  if (value === undefined) return undefined;
  const isMap =
    typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => typeof v === "string");
  return isMap
    ? undefined
    : new LogShimError("InvalidOption", `--${option} must be an object mapping names to string values`, { option });
}

function idProblem(option: "uid" | "gid", value: unknown): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (value === 0) {
    return new LogShimError(
      "InvalidOption",
      `--${option} 0 is refused by shim-loggers-for-containerd; omit --${option} to keep the shim's identity`,
      { option },
    );
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1 || value > MAX_SHIM_LOGGER_ID) {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} must be an integer from 1 to ${MAX_SHIM_LOGGER_ID}; omit it to keep the ` +
        `shim's identity (the logger's own default, -1, means the same)`,
      { option },
    );
  }
  return undefined;
}

function durationProblem(option: string, value: unknown, maxNs: bigint | undefined): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return new LogShimError("InvalidOption", `--${option} must be a Go duration string such as "5s"`, { option });
  }
  const parsed = parseGoDuration(value, option);
  if (parsed.isErr()) return parsed.error;
  if (parsed.value < 0n) {
    return new LogShimError("InvalidOption", `--${option} ${JSON.stringify(value)} must not be negative`, { option });
  }
  if (maxNs !== undefined && parsed.value > maxNs) {
    return new LogShimError(
      "InvalidOption",
      `--${option} ${JSON.stringify(value)} is longer than the 12s the logger allows (containerd's shim kills ` +
        `the logger about 12 s after closing its pipes); use at most "12s"`,
      { option },
    );
  }
  return undefined;
}

/** Validates a {@link ByteSize} option; `minBytes` is the smallest accepted size. */
export function sizeProblem(
  option: string,
  value: unknown,
  units: "binary" | "decimal",
  minBytes: number,
): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return new LogShimError("InvalidOption", `--${option} must be a size string such as "1m"`, { option });
  }
  const parsed = parseByteSize(value, units, option);
  if (parsed.isErr()) return parsed.error;
  if (parsed.value < minBytes) {
    return new LogShimError("InvalidOption", `--${option} ${JSON.stringify(value)} must be at least ${minBytes} byte`, {
      option,
    });
  }
  return undefined;
}

/** Checks the common options against the logger's rules. */
export function validateCommon(o: ShimLoggerCommonOptions): LogShimError | undefined {
  return firstFailure(
    () => requiredString("container-id", o.containerId, "give the containerd container ID"),
    () => requiredString("container-name", o.containerName, "give the container's name"),
    () => optionalOneOf("mode", o.mode, SHIM_LOGGER_MODES),
    () => sizeProblem("max-buffer-size", o.maxBufferSize, "binary", 1),
    () =>
      o.maxBufferSize !== undefined && o.mode !== "non-blocking"
        ? new LogShimError(
            "ConflictingOptions",
            `--max-buffer-size only applies with --mode=non-blocking (the logger ignores it in blocking mode); ` +
              `set mode: "non-blocking" or drop maxBufferSize`,
            { option: "max-buffer-size" },
          )
        : undefined,
    () => idProblem("uid", o.uid),
    () => idProblem("gid", o.gid),
    () => durationProblem("cleanup-time", o.cleanupTime, MAX_CLEANUP_TIME_NS),
    () => optionalBoolean("verbose", o.verbose),
    () => optionalString("container-image-id", o.containerImageId),
    () => optionalString("container-image-name", o.containerImageName),
    () => stringMapProblem("container-env", o.containerEnv),
    () => optionalHttpUrl("container-env-endpoint", o.containerEnvEndpoint),
    () =>
      o.containerEnv !== undefined && o.containerEnvEndpoint !== undefined
        ? new LogShimError(
            "ConflictingOptions",
            "--container-env and --container-env-endpoint are exclusive (the logger would ignore --container-env); " +
              "give one of them",
            { option: "container-env-endpoint" },
          )
        : undefined,
    () => stringMapProblem("container-labels", o.containerLabels),
    () => optionalString("proxy-variable", o.proxyVariable),
    () => optionalString("log-file-dir", o.logFileDir),
  );
}

function sortedJson(map: Readonly<Record<string, string>>): string {
  const sorted: Record<string, string> = {};
  for (const key of Object.keys(map).sort()) sorted[key] = map[key] as string;
  return JSON.stringify(sorted);
}

/** The flags for validated common options (without `--log-driver`). */
export function encodeCommon(o: ShimLoggerCommonOptions): EncodedFlag[] {
  const flags = [splitFlag("container-id", o.containerId), splitFlag("container-name", o.containerName)];
  const optional: ReadonlyArray<readonly [string, string | undefined]> = [
    ["mode", o.mode],
    ["max-buffer-size", o.maxBufferSize],
    ["uid", o.uid === undefined ? undefined : String(o.uid)],
    ["gid", o.gid === undefined ? undefined : String(o.gid)],
    ["cleanup-time", o.cleanupTime],
    ["container-image-id", o.containerImageId],
    ["container-image-name", o.containerImageName],
    ["container-env", o.containerEnv === undefined ? undefined : sortedJson(o.containerEnv)],
    ["container-env-endpoint", o.containerEnvEndpoint],
    ["container-labels", o.containerLabels === undefined ? undefined : sortedJson(o.containerLabels)],
    ["proxy-variable", o.proxyVariable],
    ["log-file-dir", o.logFileDir],
  ];
  for (const [name, value] of optional) if (value !== undefined) flags.push(splitFlag(name, value));
  if (o.verbose !== undefined) flags.push(boolFlag("verbose", o.verbose));
  return flags;
}

function takeStringMap(flags: FlagSet, name: string): Result<Record<string, string> | undefined, LogShimError> {
  const value = takeOptional(flags, name);
  if (value === undefined) return ok(undefined);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (cause) {
    return err(
      new LogShimError("InvalidOption", `--${name} is not valid JSON; give a JSON object such as {"KEY":"value"}`, {
        option: name,
        cause,
      }),
    );
  }
  const problem = stringMapProblem(name, parsed);
  if (problem) return err(problem);
  return ok(parsed as Record<string, string>);
}

/**
 * Reads the common flags from a parsed URI. Values the logger treats as "not set" (empty strings, negative
 * uid/gid) read as absent; everything else is kept as written, then checked by {@link validateCommon}.
 */
export function decodeCommon(flags: FlagSet): Result<ShimLoggerCommonOptions, LogShimError> {
  const containerId = takeRequired(flags, "container-id", "give the containerd container ID");
  if (containerId.isErr()) return err(containerId.error);
  const containerName = takeRequired(flags, "container-name", "give the container's name");
  if (containerName.isErr()) return err(containerName.error);
  const o: Mutable<ShimLoggerCommonOptions> = { containerId: containerId.value, containerName: containerName.value };

  const mode = takeOptional(flags, "mode");
  if (mode !== undefined) o.mode = mode as ShimLoggerMode; // checked by validateCommon
  const maxBufferSize = takeOptional(flags, "max-buffer-size");
  if (maxBufferSize !== undefined) o.maxBufferSize = maxBufferSize;
  for (const name of ["uid", "gid"] as const) {
    const id = takeInt(flags, name);
    if (id.isErr()) return err(id.error);
    // The logger ignores negative ids (its default is -1).
    if (id.value !== undefined && id.value >= 0) o[name] = id.value;
  }
  const cleanup = flags.take("cleanup-time");
  if (cleanup !== undefined && cleanup.value !== "") o.cleanupTime = cleanup.value;
  const verbose = takePflagBool(flags, "verbose");
  if (verbose.isErr()) return err(verbose.error);
  if (verbose.value !== undefined) o.verbose = verbose.value;
  const imageId = takeOptional(flags, "container-image-id");
  if (imageId !== undefined) o.containerImageId = imageId;
  const imageName = takeOptional(flags, "container-image-name");
  if (imageName !== undefined) o.containerImageName = imageName;
  const env = takeStringMap(flags, "container-env");
  if (env.isErr()) return err(env.error);
  if (env.value !== undefined) o.containerEnv = env.value;
  const envEndpoint = takeOptional(flags, "container-env-endpoint");
  if (envEndpoint !== undefined) o.containerEnvEndpoint = envEndpoint;
  const labels = takeStringMap(flags, "container-labels");
  if (labels.isErr()) return err(labels.error);
  if (labels.value !== undefined) o.containerLabels = labels.value;
  const proxy = takeOptional(flags, "proxy-variable");
  if (proxy !== undefined) o.proxyVariable = proxy;
  const logFileDir = takeOptional(flags, "log-file-dir");
  if (logFileDir !== undefined) o.logFileDir = logFileDir;
  return ok(o);
}
