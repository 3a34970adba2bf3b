import { err, ok, type Result } from "neverthrow";
import {
  firstFailure,
  optionalAbsolutePath,
  optionalBoolean,
  optionalCommaList,
  optionalInteger,
  optionalString,
  requiredString,
  splitCommaList,
} from "./checks.js";
import { sizeProblem } from "./common.js";
import { LogShimError } from "./errors.js";
import {
  type EncodedFlag,
  type FlagSet,
  type Mutable,
  splitFlag,
  takeOptional,
  takeRequired,
  takeStringBool,
} from "./flags.js";
import type { ByteSize } from "./go-syntax.js";

/** The flags of the json-file driver (names without the leading `--`). */
export const JSON_FILE_FLAGS = [
  "log-path",
  "max-size",
  "max-file",
  "compress",
  "json-file-labels",
  "json-file-labels-regex",
  "json-file-env",
  "json-file-env-regex",
  "json-file-tag",
] as const;

/** The largest `--max-file` accepted here (Go's `int` on 32-bit platforms). */
export const MAX_JSON_FILE_COUNT = 2_147_483_647;

/**
 * Options of the `json-file` driver (Docker's JSON-lines log file with rotation), as the logger's flags. The
 * logger creates the file's directory if needed.
 */
export interface JsonFileDriverOptions {
  readonly name: "json-file";
  /** `--log-path` (required): absolute path of the log file. */
  readonly logPath: string;
  /**
   * `--max-size`: rotate when the file reaches this size, in DECIMAL units (`"10m"` = 10 000 000 bytes, unlike
   * `maxBufferSize`). Unset: never rotate.
   */
  readonly maxSize?: ByteSize;
  /**
   * `--max-file`: how many files to keep, at least 1.
   * @defaultValue `1`
   */
  readonly maxFile?: number;
  /**
   * `--compress`: gzip rotated files; needs `maxFile` of 2 or more and `maxSize`.
   * @defaultValue `false`
   */
  readonly compress?: boolean;
  /** `--json-file-labels`: names of container labels to add to each line's `attrs`. */
  readonly labels?: readonly string[];
  /** `--json-file-labels-regex`: a Go regular expression selecting labels to add. */
  readonly labelsRegex?: string;
  /** `--json-file-env`: names of environment variables to add to each line's `attrs`. */
  readonly env?: readonly string[];
  /** `--json-file-env-regex`: a Go regular expression selecting environment variables to add. */
  readonly envRegex?: string;
  /** `--json-file-tag`: a Docker log tag template added as `attrs.tag` (no tag when unset). */
  readonly tag?: string;
}

/** Checks json-file options against the logger's (Docker's) rules. */
export function validateJsonFile(o: JsonFileDriverOptions): LogShimError | undefined {
  return firstFailure(
    () => requiredString("log-path", o.logPath, "give the log file's absolute path"),
    () =>
      optionalAbsolutePath(
        "log-path",
        o.logPath,
        "the logger runs in the shim's working directory, so give the log file's absolute path",
      ),
    () => sizeProblem("max-size", o.maxSize, "decimal", 1),
    () => optionalInteger("max-file", o.maxFile, 1, MAX_JSON_FILE_COUNT),
    () => optionalBoolean("compress", o.compress),
    () =>
      o.compress === true && (o.maxSize === undefined || o.maxFile === undefined || o.maxFile < 2)
        ? new LogShimError(
            "ConflictingOptions",
            "--compress=true needs --max-size and --max-file of 2 or more (only rotated files are compressed)",
            { option: "compress" },
          )
        : undefined,
    () => optionalCommaList("json-file-labels", o.labels),
    () => optionalString("json-file-labels-regex", o.labelsRegex),
    () => optionalCommaList("json-file-env", o.env),
    () => optionalString("json-file-env-regex", o.envRegex),
    () => optionalString("json-file-tag", o.tag),
  );
}

/** The flags for validated json-file options. */
export function encodeJsonFile(o: JsonFileDriverOptions): EncodedFlag[] {
  const flags = [splitFlag("log-path", o.logPath)];
  const optional: ReadonlyArray<readonly [string, string | undefined]> = [
    ["max-size", o.maxSize],
    ["max-file", o.maxFile === undefined ? undefined : String(o.maxFile)],
    ["compress", o.compress === undefined ? undefined : String(o.compress)],
    ["json-file-labels", o.labels?.join(",")],
    ["json-file-labels-regex", o.labelsRegex],
    ["json-file-env", o.env?.join(",")],
    ["json-file-env-regex", o.envRegex],
    ["json-file-tag", o.tag],
  ];
  for (const [name, value] of optional) if (value !== undefined) flags.push(splitFlag(name, value));
  return flags;
}

/** Reads the json-file flags from a parsed URI (empty values read as absent, as the logger reads them). */
export function decodeJsonFile(flags: FlagSet): Result<JsonFileDriverOptions, LogShimError> {
  const logPath = takeRequired(flags, "log-path", "give the log file's absolute path");
  if (logPath.isErr()) return err(logPath.error);
  const o: Mutable<JsonFileDriverOptions> = { name: "json-file", logPath: logPath.value };
  const maxSize = takeOptional(flags, "max-size");
  if (maxSize !== undefined) o.maxSize = maxSize;
  const maxFile = takeOptional(flags, "max-file");
  if (maxFile !== undefined) {
    if (!/^[+-]?\d{1,10}$/.test(maxFile)) {
      return err(
        new LogShimError("InvalidOption", `--max-file ${JSON.stringify(maxFile)} must be a whole number of files`, {
          option: "max-file",
        }),
      );
    }
    o.maxFile = Number(maxFile);
  }
  const compress = takeStringBool(flags, "compress");
  if (compress.isErr()) return err(compress.error);
  if (compress.value !== undefined) o.compress = compress.value;
  for (const [flag, field] of [
    ["json-file-labels-regex", "labelsRegex"],
    ["json-file-env-regex", "envRegex"],
    ["json-file-tag", "tag"],
  ] as const) {
    const value = takeOptional(flags, flag);
    if (value !== undefined) o[field] = value;
  }
  for (const [flag, field] of [
    ["json-file-labels", "labels"],
    ["json-file-env", "env"],
  ] as const) {
    const value = takeOptional(flags, flag);
    if (value === undefined) continue;
    const list = splitCommaList(flag, value);
    if (list instanceof LogShimError) return err(list);
    o[field] = list;
  }
  return ok(o);
}
