import createDebug from "debug";
import { err, ok, type Result } from "neverthrow";
import { AWSLOGS_FLAGS, type AwslogsDriverOptions, decodeAwslogs, encodeAwslogs, validateAwslogs } from "./awslogs.js";
import { COMMON_FLAGS, decodeCommon, encodeCommon, type ShimLoggerCommonOptions, validateCommon } from "./common.js";
import { LogShimError } from "./errors.js";
import { type EncodedFlag, FlagSet, splitFlag, toUriArg } from "./flags.js";
import { decodeFluentd, encodeFluentd, FLUENTD_FLAGS, type FluentdDriverOptions, validateFluentd } from "./fluentd.js";
import {
  decodeJsonFile,
  encodeJsonFile,
  JSON_FILE_FLAGS,
  type JsonFileDriverOptions,
  validateJsonFile,
} from "./json-file.js";
import { decodeSplunk, encodeSplunk, SPLUNK_FLAGS, type SplunkDriverOptions, validateSplunk } from "./splunk.js";
import { formatLogUri, type LogUriArg, parseLogUri } from "./uri.js";

const debug = createDebug("berth:log-shim");

/** The log drivers of AWS's shim-loggers-for-containerd (`--log-driver`). */
export const SHIM_LOGGER_DRIVERS = ["awslogs", "fluentd", "splunk", "json-file"] as const;

/** One of {@link SHIM_LOGGER_DRIVERS}. */
export type ShimLoggerDriver = (typeof SHIM_LOGGER_DRIVERS)[number];

/** The driver-specific options, discriminated by `name` (which becomes `--log-driver`). */
export type ShimLoggerDriverOptions =
  | AwslogsDriverOptions
  | FluentdDriverOptions
  | SplunkDriverOptions
  | JsonFileDriverOptions;

/**
 * A complete, typed configuration of AWS's shim-loggers-for-containerd binary: the common flags plus one
 * driver's flags. Field docs name the exact flag each field becomes.
 */
export interface ShimLoggerOptions extends ShimLoggerCommonOptions {
  /** The log driver and its options. */
  readonly driver: ShimLoggerDriverOptions;
}

/** What {@link parseShimLoggerUri} returns: the logger binary and its typed options. */
export interface ParsedShimLoggerUri {
  /** Absolute path of the logger binary. */
  readonly binaryPath: string;
  /** The options the URI carries. */
  readonly options: ShimLoggerOptions;
}

interface DriverCodec {
  readonly flags: readonly string[];
  validate(o: ShimLoggerDriverOptions): LogShimError | undefined;
  encode(o: ShimLoggerDriverOptions): EncodedFlag[];
  decode(flags: FlagSet): Result<ShimLoggerDriverOptions, LogShimError>;
}

// Each codec is only ever called with options of its own driver (looked up by `name`).
const CODECS: Readonly<Record<ShimLoggerDriver, DriverCodec>> = {
  awslogs: {
    flags: AWSLOGS_FLAGS,
    validate: (o) => validateAwslogs(o as AwslogsDriverOptions),
    encode: (o) => encodeAwslogs(o as AwslogsDriverOptions),
    decode: decodeAwslogs,
  },
  fluentd: {
    flags: FLUENTD_FLAGS,
    validate: (o) => validateFluentd(o as FluentdDriverOptions),
    encode: (o) => encodeFluentd(o as FluentdDriverOptions),
    decode: decodeFluentd,
  },
  splunk: {
    flags: SPLUNK_FLAGS,
    validate: (o) => validateSplunk(o as SplunkDriverOptions),
    encode: (o) => encodeSplunk(o as SplunkDriverOptions),
    decode: decodeSplunk,
  },
  "json-file": {
    flags: JSON_FILE_FLAGS,
    validate: (o) => validateJsonFile(o as JsonFileDriverOptions),
    encode: (o) => encodeJsonFile(o as JsonFileDriverOptions),
    decode: decodeJsonFile,
  },
};

function isDriver(name: unknown): name is ShimLoggerDriver {
  return typeof name === "string" && (SHIM_LOGGER_DRIVERS as readonly string[]).includes(name);
}

function unknownDriver(name: unknown): LogShimError {
  return new LogShimError(
    "UnknownDriver",
    `log driver ${JSON.stringify(name)} is not one of shim-loggers-for-containerd's drivers: ` +
      `use awslogs, fluentd, splunk or json-file`,
    { option: "log-driver", allowed: SHIM_LOGGER_DRIVERS },
  );
}

/**
 * Checks options against every rule the logger (and the Docker driver inside it) applies, so a bad value fails
 * here with a clear message instead of as a container that never starts. Returns the same options when valid.
 */
export function validateShimLoggerOptions(options: ShimLoggerOptions): Result<ShimLoggerOptions, LogShimError> {
  const driver: unknown = options.driver?.name;
  if (!isDriver(driver)) return err(unknownDriver(driver));
  const problem = validateCommon(options) ?? CODECS[driver].validate(options.driver);
  return problem ? err(problem) : ok(options);
}

/**
 * The logger's arguments as URI query pairs (unsorted), after validation: the pieces containerd's
 * `cio.BinaryIO(path, args)` takes. Most flags are `["--name", "value"]`; pflag booleans (`--verbose`,
 * `--fluentd-async`, `--fluentd-sub-second-precision`) are `["--name=true|false", ""]`, so that containerd's
 * split into two argv elements cannot turn `false` into `true`.
 */
export function shimLoggerArgs(options: ShimLoggerOptions): Result<LogUriArg[], LogShimError> {
  return validateShimLoggerOptions(options).map((o) =>
    [splitFlag("log-driver", o.driver.name), ...encodeCommon(o), ...CODECS[o.driver.name].encode(o.driver)].map(
      toUriArg,
    ),
  );
}

/**
 * Builds the `binary://` log URI that makes containerd's shim run shim-loggers-for-containerd with these
 * options, e.g. `binary:///usr/local/bin/shim-loggers-for-containerd?--awslogs-group=...&--log-driver=awslogs&...`.
 * Arguments are sorted by key; values are percent-encoded so containerd decodes exactly what was given (see
 * {@link formatLogUri}).
 *
 * Fails with the first broken rule: `MissingOption`, `InvalidOption`, `ConflictingOptions`, `UnknownDriver`,
 * or `NotAbsolutePath` for a relative binary path.
 */
export function buildShimLoggerUri(binaryPath: string, options: ShimLoggerOptions): Result<string, LogShimError> {
  const built = shimLoggerArgs(options).andThen((args) => formatLogUri({ scheme: "binary", path: binaryPath, args }));
  if (built.isOk()) {
    debug("built %s logger URI for container %s (%s)", options.driver.name, options.containerId, binaryPath);
  } else {
    debug("refused %s logger options: %s", String(options.driver?.name), built.error.message);
  }
  return built;
}

/**
 * Parses a shim-loggers-for-containerd log URI back into typed options, applying the same rules as
 * {@link buildShimLoggerUri}; so `buildShimLoggerUri(p.binaryPath, p.options)` succeeds for every parsed `p`, and
 * gives back the same URI for every URI `buildShimLoggerUri` produced.
 *
 * Values the logger treats as "not set" (empty strings, negative uid/gid, a fluentd buffer limit of 0 or less)
 * read as absent; boolean spellings Go accepts (`1`, `T`, `TRUE`, ...) read as booleans; everything else is kept
 * as written. A flag the binary does not know, a flag of another driver, a repeated flag, a `binary-v2://` URI
 * (the binary never writes the ready byte that scheme waits for) or a `file://` URI is an error, as is a pflag
 * boolean written `?--flag=false` (which the binary reads as true).
 */
export function parseShimLoggerUri(uri: string): Result<ParsedShimLoggerUri, LogShimError> {
  const parsed = parseLogUri(uri);
  if (parsed.isErr()) return err(parsed.error);
  const logUri = parsed.value;
  if (logUri.scheme !== "binary") {
    const why =
      logUri.scheme === "binary-v2"
        ? "shim-loggers-for-containerd signals readiness by closing fd 5 without writing the byte binary-v2 waits " +
          "for, so containerd would fail the task; use binary://"
        : "a file:// URI makes the shim write the file itself; there is no logger to configure";
    return err(new LogShimError("InvalidUri", `a ${logUri.scheme}:// URI is not a shim logger URI: ${why}`));
  }
  const result = FlagSet.fromUriArgs(logUri.args).andThen((flags) => decodeAll(flags));
  if (result.isErr()) {
    debug("refused logger URI: %s", result.error.message);
    return err(result.error);
  }
  debug("parsed %s logger URI for container %s", result.value.driver.name, result.value.containerId);
  return ok({ binaryPath: logUri.path, options: result.value });
}

function decodeAll(flags: FlagSet): Result<ShimLoggerOptions, LogShimError> {
  const driverFlag = flags.take("log-driver");
  if (driverFlag === undefined) {
    return err(
      new LogShimError("MissingOption", "--log-driver is required: use awslogs, fluentd, splunk or json-file", {
        option: "log-driver",
        allowed: SHIM_LOGGER_DRIVERS,
      }),
    );
  }
  const name = driverFlag.value;
  if (!isDriver(name)) return err(unknownDriver(name));
  const common = decodeCommon(flags);
  if (common.isErr()) return err(common.error);
  const driver = CODECS[name].decode(flags);
  if (driver.isErr()) return err(driver.error);
  const leftover = flags.unread()[0];
  if (leftover !== undefined) {
    const owner = SHIM_LOGGER_DRIVERS.find((d) => CODECS[d].flags.includes(leftover));
    if (owner !== undefined) {
      return err(
        new LogShimError(
          "ConflictingOptions",
          `--${leftover} belongs to the ${owner} driver, but --log-driver is ${name}; remove it`,
          { option: leftover },
        ),
      );
    }
    return err(
      new LogShimError(
        "InvalidOption",
        `--${leftover} is not a flag of shim-loggers-for-containerd; the binary would exit with "unknown flag"`,
        { option: leftover },
      ),
    );
  }
  const options: ShimLoggerOptions = { ...common.value, driver: driver.value };
  return validateShimLoggerOptions(options);
}

/** Every flag shim-loggers-for-containerd registers (names without the leading `--`). */
export const SHIM_LOGGER_FLAGS: readonly string[] = [
  ...COMMON_FLAGS,
  ...AWSLOGS_FLAGS,
  ...FLUENTD_FLAGS,
  ...SPLUNK_FLAGS,
  ...JSON_FILE_FLAGS,
];
