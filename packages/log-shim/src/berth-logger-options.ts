import createDebug from "debug";
import { err, ok, type Result } from "neverthrow";
import {
  firstFailure,
  optionalAbsolutePath,
  optionalInteger,
  optionalOneOf,
  optionalString,
  requiredString,
} from "./checks.js";
import { MAX_CLEANUP_TIME_NS, SHIM_LOGGER_MODES, type ShimLoggerMode, sizeProblem } from "./common.js";
import { LogShimError } from "./errors.js";
import { FlagSet, type Mutable, splitFlag, takeInt, takeOptional, takeRequired, toUriArg } from "./flags.js";
import { parseFluentdAddress } from "./fluentd.js";
import { type ByteSize, type GoDuration, parseByteSize, parseGoDuration } from "./go-syntax.js";
import { formatLogUri, type LogUriArg, parseLogUri } from "./uri.js";

const debug = createDebug("berth:log-shim");

/** The drivers of berth's own logger, `berth-logger` (`--driver`). */
export const BERTH_LOGGER_DRIVERS = ["json-file", "fluentd"] as const;

/** One of {@link BERTH_LOGGER_DRIVERS}. */
export type BerthLoggerDriver = (typeof BERTH_LOGGER_DRIVERS)[number];

/** Every flag `berth-logger` takes (names without the leading `--`); each one takes a value. */
export const BERTH_LOGGER_FLAGS = [
  "driver",
  "mode",
  "max-buffer-size",
  "container-name",
  "cleanup-time",
  "debug-file",
  "server",
  "log-path",
  "max-size",
  "max-file",
  "fluentd-address",
  "fluentd-tag",
  "fluentd-write-timeout",
] as const;

/** `berth-logger`'s default `--max-buffer-size` in non-blocking mode (binary units). */
export const BERTH_LOGGER_DEFAULT_BUFFER = "1m";

/** `berth-logger`'s default `--cleanup-time`: how long it keeps draining after SIGTERM. */
export const BERTH_LOGGER_DEFAULT_CLEANUP = "5s";

/** `berth-logger`'s default `--fluentd-write-timeout`. */
export const BERTH_LOGGER_DEFAULT_WRITE_TIMEOUT = "5s";

/** `json-file` driver of `berth-logger`: Docker's JSON-lines file with size-based rotation. */
export interface BerthJsonFileDriverOptions {
  readonly name: "json-file";
  /** `--log-path` (required): absolute path of the log file; its directory is created if needed. */
  readonly logPath: string;
  /** `--max-size`: rotate before the file would exceed this size, in DECIMAL units (`"10m"` = 10 000 000 bytes). */
  readonly maxSize?: ByteSize;
  /**
   * `--max-file`: how many files to keep (the live one plus `path.1` ... `path.<n-1>`); 1 truncates on rotation.
   * @defaultValue `1`
   */
  readonly maxFile?: number;
}

/** `fluentd` driver of `berth-logger`: Fluentd forward protocol over TCP or a unix socket. */
export interface BerthFluentdDriverOptions {
  readonly name: "fluentd";
  /**
   * `--fluentd-address`: `host:port`, `host`, `tcp://host:port` or `unix:///abs/path.sock` (no TLS).
   * @defaultValue `"127.0.0.1:24224"`
   */
  readonly address?: string;
  /**
   * `--fluentd-tag`: the tag of every record.
   * @defaultValue the first 12 characters of the container ID
   */
  readonly tag?: string;
  /**
   * `--fluentd-write-timeout`: how long one batch may wait for a connection and its write (a Go duration, at least
   * 1ms) before it is dropped.
   * @defaultValue `"5s"`
   */
  readonly writeTimeout?: GoDuration;
}

/** The driver-specific options of `berth-logger`, discriminated by `name` (which becomes `--driver`). */
export type BerthLoggerDriverOptions = BerthJsonFileDriverOptions | BerthFluentdDriverOptions;

/** A complete, typed configuration of `berth-logger`. Field docs name the flag each field becomes. */
export interface BerthLoggerOptions {
  /** The driver and its options. */
  readonly driver: BerthLoggerDriverOptions;
  /**
   * `--mode`: `blocking` stops reading the container's pipes while the sink is behind (the container waits);
   * `non-blocking` always reads and drops what does not fit the buffer.
   * @defaultValue `"blocking"`
   */
  readonly mode?: ShimLoggerMode;
  /**
   * `--max-buffer-size`: the bounded buffer of `non-blocking` mode, in binary units (`"1m"` = 1 MiB).
   * @defaultValue `"1m"`
   */
  readonly maxBufferSize?: ByteSize;
  /** `--container-name`: the `container_name` of fluentd records (default: the container ID). */
  readonly containerName?: string;
  /**
   * `--cleanup-time`: how long the logger keeps draining after SIGTERM, at most `12s` (containerd kills the
   * logger about 12 s after closing its pipes).
   * @defaultValue `"5s"`
   */
  readonly cleanupTime?: GoDuration;
  /**
   * `--debug-file`: absolute path the logger appends its `berth:log-shim:logger*` debug lines to (containerd gives
   * a logger no stderr). Drops and a final count of lines written and dropped are logged there.
   */
  readonly debugFile?: string;
  /**
   * `--server`: absolute path of the unix socket of a resident logger (`berth-logger serve --socket PATH`, or
   * {@link startBerthLoggerServer} inside an agent). The logger then hands the container's pipes to that process
   * instead of starting Node for every container, which takes Node's start-up off the container's start. When nothing
   * serves the socket (or perl, which makes the hand-over, is missing) the logger runs on its own as without the
   * flag; the server takes the logger's own flags. See the package README, "Resident server".
   */
  readonly server?: string;
}

/** What {@link parseBerthLoggerUri} returns. */
export interface ParsedBerthLoggerUri {
  /** Absolute path of the logger binary. */
  readonly binaryPath: string;
  /** The options the URI carries. */
  readonly options: BerthLoggerOptions;
}

function durationCheck(option: string, value: unknown, minNs: bigint, maxNs?: bigint): LogShimError | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string") {
    return new LogShimError("InvalidOption", `--${option} must be a Go duration string such as "5s"`, { option });
  }
  const parsed = parseGoDuration(value, `--${option}`);
  if (parsed.isErr()) return parsed.error;
  if (parsed.value < minNs || (maxNs !== undefined && parsed.value > maxNs)) {
    const range = maxNs === undefined ? `at least ${minNs / 1_000_000n}ms` : `from 0 to ${maxNs / 1_000_000_000n}s`;
    return new LogShimError("InvalidOption", `--${option} ${JSON.stringify(value)} must be ${range}`, { option });
  }
  return undefined;
}

function validateDriver(d: BerthLoggerDriverOptions): LogShimError | undefined {
  if (d.name === "json-file") {
    return firstFailure(
      () => requiredString("log-path", d.logPath, "give the log file's absolute path"),
      () => optionalAbsolutePath("log-path", d.logPath, "the logger runs in the shim's working directory"),
      () => sizeProblem("max-size", d.maxSize, "decimal", 1),
      () => optionalInteger("max-file", d.maxFile, 1, 1_000_000),
    );
  }
  return firstFailure(
    () => optionalString("fluentd-address", d.address),
    () => {
      if (d.address === undefined) return undefined;
      const address = parseFluentdAddress(d.address);
      if (address.isErr()) return address.error;
      return address.value.protocol === "tls"
        ? new LogShimError("InvalidOption", "berth-logger speaks forward over tcp:// or unix:// only, not tls://", {
            option: "fluentd-address",
            allowed: ["tcp", "unix"],
          })
        : undefined;
    },
    () => optionalString("fluentd-tag", d.tag),
    () => durationCheck("fluentd-write-timeout", d.writeTimeout, 1_000_000n),
  );
}

/**
 * Checks `berth-logger` options: a known driver with its required options, sizes and durations the logger can
 * read, `maxBufferSize` only in non-blocking mode, `cleanupTime` at most 12 s, absolute paths. Returns the same
 * options when valid.
 */
export function validateBerthLoggerOptions(options: BerthLoggerOptions): Result<BerthLoggerOptions, LogShimError> {
  const name: unknown = options.driver?.name;
  if (!(BERTH_LOGGER_DRIVERS as readonly unknown[]).includes(name)) {
    return err(
      new LogShimError(
        "UnknownDriver",
        `berth-logger has no driver ${JSON.stringify(name)}: use json-file or fluentd`,
        { option: "driver", allowed: BERTH_LOGGER_DRIVERS },
      ),
    );
  }
  const problem = firstFailure(
    () => validateDriver(options.driver),
    () => optionalOneOf("mode", options.mode, SHIM_LOGGER_MODES),
    () => sizeProblem("max-buffer-size", options.maxBufferSize, "binary", 1),
    () =>
      options.maxBufferSize !== undefined && options.mode !== "non-blocking"
        ? new LogShimError(
            "ConflictingOptions",
            '--max-buffer-size only applies with --mode=non-blocking; set mode: "non-blocking" or drop maxBufferSize',
            { option: "max-buffer-size" },
          )
        : undefined,
    () => optionalString("container-name", options.containerName),
    () => durationCheck("cleanup-time", options.cleanupTime, 0n, MAX_CLEANUP_TIME_NS),
    () => optionalAbsolutePath("debug-file", options.debugFile, "the logger runs in the shim's working directory"),
    () =>
      optionalAbsolutePath("server", options.server, "give the socket path `berth-logger serve --socket` listens on"),
  );
  return problem ? err(problem) : ok(options);
}

/**
 * The logger's arguments as URI query pairs, after validation. Every `berth-logger` flag takes a value, so each
 * pair is `["--name", "value"]` and reaches the logger as two argv elements (it has no boolean flags, so the
 * pflag pitfall of shim-loggers-for-containerd does not arise).
 */
export function berthLoggerArgs(options: BerthLoggerOptions): Result<LogUriArg[], LogShimError> {
  return validateBerthLoggerOptions(options).map((o) => {
    const d = o.driver;
    const pairs: Array<readonly [string, string | undefined]> = [
      ["driver", d.name],
      ["mode", o.mode],
      ["max-buffer-size", o.maxBufferSize],
      ["container-name", o.containerName],
      ["cleanup-time", o.cleanupTime],
      ["debug-file", o.debugFile],
      ["server", o.server],
    ];
    if (d.name === "json-file") {
      pairs.push(
        ["log-path", d.logPath],
        ["max-size", d.maxSize],
        ["max-file", d.maxFile === undefined ? undefined : String(d.maxFile)],
      );
    } else {
      pairs.push(["fluentd-address", d.address], ["fluentd-tag", d.tag], ["fluentd-write-timeout", d.writeTimeout]);
    }
    return pairs.flatMap(([name, value]) => (value === undefined ? [] : [toUriArg(splitFlag(name, value))]));
  });
}

/**
 * Builds the `binary://` log URI that makes containerd's shim run `berth-logger` (at the absolute
 * `binaryPath`, e.g. the package's `dist/bin/berth-logger.js`, which starts with `#!/usr/bin/env node`) with
 * these options, e.g. `binary:///usr/lib/node_modules/@berth/log-shim/dist/bin/berth-logger.js?--driver=json-file&--log-path=%2Fvar%2Flog%2Fc.log`.
 *
 * Fails with `MissingOption`, `InvalidOption`, `ConflictingOptions`, `UnknownDriver` or `NotAbsolutePath`.
 */
export function buildBerthLoggerUri(binaryPath: string, options: BerthLoggerOptions): Result<string, LogShimError> {
  const built = berthLoggerArgs(options).andThen((args) => formatLogUri({ scheme: "binary", path: binaryPath, args }));
  if (built.isOk()) debug("built berth-logger %s URI (%s)", options.driver.name, binaryPath);
  else debug("refused berth-logger options: %s", built.error.message);
  return built;
}

function decodeFlags(flags: FlagSet): Result<BerthLoggerOptions, LogShimError> {
  const driverName = takeRequired(flags, "driver", "use json-file or fluentd");
  if (driverName.isErr()) return err(driverName.error);
  let driver: BerthLoggerDriverOptions;
  if (driverName.value === "json-file") {
    const logPath = takeRequired(flags, "log-path", "give the log file's absolute path");
    if (logPath.isErr()) return err(logPath.error);
    const d: Mutable<BerthJsonFileDriverOptions> = { name: "json-file", logPath: logPath.value };
    const maxSize = takeOptional(flags, "max-size");
    if (maxSize !== undefined) d.maxSize = maxSize;
    const maxFile = takeInt(flags, "max-file");
    if (maxFile.isErr()) return err(maxFile.error);
    if (maxFile.value !== undefined) d.maxFile = maxFile.value;
    driver = d;
  } else if (driverName.value === "fluentd") {
    const d: Mutable<BerthFluentdDriverOptions> = { name: "fluentd" };
    const address = takeOptional(flags, "fluentd-address");
    if (address !== undefined) d.address = address;
    const tag = takeOptional(flags, "fluentd-tag");
    if (tag !== undefined) d.tag = tag;
    const timeout = takeOptional(flags, "fluentd-write-timeout");
    if (timeout !== undefined) d.writeTimeout = timeout;
    driver = d;
  } else {
    return err(
      new LogShimError(
        "UnknownDriver",
        `berth-logger has no driver ${JSON.stringify(driverName.value)}: use json-file or fluentd`,
        { option: "driver", allowed: BERTH_LOGGER_DRIVERS },
      ),
    );
  }
  const o: Mutable<BerthLoggerOptions> = { driver };
  const mode = takeOptional(flags, "mode");
  if (mode !== undefined) o.mode = mode as ShimLoggerMode; // checked by validateBerthLoggerOptions
  const buffer = takeOptional(flags, "max-buffer-size");
  if (buffer !== undefined) o.maxBufferSize = buffer;
  const name = takeOptional(flags, "container-name");
  if (name !== undefined) o.containerName = name;
  const cleanup = takeOptional(flags, "cleanup-time");
  if (cleanup !== undefined) o.cleanupTime = cleanup;
  const debugFile = takeOptional(flags, "debug-file");
  if (debugFile !== undefined) o.debugFile = debugFile;
  const server = takeOptional(flags, "server");
  if (server !== undefined) o.server = server;
  const leftover = flags.unread()[0];
  if (leftover !== undefined) {
    const known = (BERTH_LOGGER_FLAGS as readonly string[]).includes(leftover);
    return err(
      new LogShimError(
        known ? "ConflictingOptions" : "InvalidOption",
        known
          ? `--${leftover} does not apply to the ${driver.name} driver; remove it`
          : `--${leftover} is not a berth-logger flag; known flags: ${BERTH_LOGGER_FLAGS.map((f) => `--${f}`).join(", ")}`,
        { option: leftover, allowed: BERTH_LOGGER_FLAGS },
      ),
    );
  }
  return validateBerthLoggerOptions(o);
}

/**
 * Parses a `berth-logger` log URI back into typed options with the same rules as {@link buildBerthLoggerUri};
 * `buildBerthLoggerUri(p.binaryPath, p.options)` gives back the URI for every URI the builder produced. A
 * `binary-v2://` URI is refused (berth-logger signals readiness by closing fd 5 without writing a byte).
 */
export function parseBerthLoggerUri(uri: string): Result<ParsedBerthLoggerUri, LogShimError> {
  const parsed = parseLogUri(uri);
  if (parsed.isErr()) return err(parsed.error);
  const u = parsed.value;
  if (u.scheme !== "binary") {
    return err(
      new LogShimError(
        "InvalidUri",
        `a ${u.scheme}:// URI is not a berth-logger URI: berth-logger is started with binary:// (it closes fd 5 ` +
          "without writing the byte binary-v2 waits for)",
      ),
    );
  }
  const result = FlagSet.fromUriArgs(u.args).andThen(decodeFlags);
  if (result.isErr()) {
    debug("refused berth-logger URI: %s", result.error.message);
    return err(result.error);
  }
  return ok({ binaryPath: u.path, options: result.value });
}

/**
 * Parses `berth-logger`'s own argv (without node and script), in any order, in both forms containerd and people
 * write: split (`--log-path /x`, as containerd passes each query key and value) and joined (`--log-path=/x`).
 * Empty elements are skipped: containerd appends one after a key whose value is empty, such as `?--k%3Dv=`.
 */
export function parseBerthLoggerArgv(argv: readonly string[]): Result<BerthLoggerOptions, LogShimError> {
  const args: LogUriArg[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === "") continue;
    if (!a.startsWith("--") || a === "--") {
      return err(
        new LogShimError("InvalidOption", `unexpected argument ${JSON.stringify(a)}: berth-logger takes --flag value`, {
          option: a,
        }),
      );
    }
    if (a.includes("=")) {
      args.push([a, ""]);
      continue;
    }
    const value = argv[i + 1];
    if (value === undefined) {
      return err(new LogShimError("MissingOption", `${a} needs a value`, { option: a.slice(2) }));
    }
    args.push([a, value]);
    i++;
  }
  return FlagSet.fromUriArgs(args).andThen(decodeFlags);
}

/** Sizes and durations of validated options, resolved to numbers for the logger's runtime. */
export interface ResolvedBerthLoggerLimits {
  /** The non-blocking buffer in bytes. */
  readonly maxBufferBytes: number;
  /** The drain deadline after SIGTERM, in ms. */
  readonly cleanupMs: number;
  /** json-file rotation size in bytes (undefined: never rotate). */
  readonly maxSizeBytes: number | undefined;
  /** The fluentd write timeout, in ms. */
  readonly writeTimeoutMs: number;
}

/** Resolves the numeric limits of options that passed {@link validateBerthLoggerOptions}. */
export function resolveBerthLoggerLimits(o: BerthLoggerOptions): ResolvedBerthLoggerLimits {
  const ms = (d: string) => Number(parseGoDuration(d)._unsafeUnwrap() / 1_000_000n);
  const d = o.driver;
  return {
    maxBufferBytes: parseByteSize(o.maxBufferSize ?? BERTH_LOGGER_DEFAULT_BUFFER, "binary")._unsafeUnwrap(),
    cleanupMs: ms(o.cleanupTime ?? BERTH_LOGGER_DEFAULT_CLEANUP),
    maxSizeBytes:
      d.name === "json-file" && d.maxSize !== undefined
        ? parseByteSize(d.maxSize, "decimal")._unsafeUnwrap()
        : undefined,
    writeTimeoutMs: d.name === "fluentd" ? ms(d.writeTimeout ?? BERTH_LOGGER_DEFAULT_WRITE_TIMEOUT) : 0,
  };
}
