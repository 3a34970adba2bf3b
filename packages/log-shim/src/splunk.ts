import { err, ok, type Result } from "neverthrow";
import {
  firstFailure,
  optionalAbsolutePath,
  optionalBoolean,
  optionalCommaList,
  optionalHttpUrl,
  optionalInteger,
  optionalOneOf,
  optionalString,
  requiredString,
  splitCommaList,
} from "./checks.js";
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

/** The flags of the splunk driver (names without the leading `--`). */
export const SPLUNK_FLAGS = [
  "splunk-token",
  "splunk-token-endpoint",
  "splunk-url",
  "splunk-source",
  "splunk-sourcetype",
  "splunk-index",
  "splunk-capath",
  "splunk-caname",
  "splunk-insecureskipverify",
  "splunk-format",
  "splunk-verify-connection",
  "splunk-gzip",
  "splunk-gzip-level",
  "splunk-tag",
  "labels",
  "env",
  "env-regex",
] as const;

/** The values `--splunk-format` accepts. */
export const SPLUNK_FORMATS = ["inline", "json", "raw"] as const;

/**
 * Options of the `splunk` driver (Splunk HTTP Event Collector), as the logger's flags. Same semantics as Docker's
 * splunk driver, which the logger wraps. Exactly one of {@link token} and {@link tokenEndpoint} is required.
 */
export interface SplunkDriverOptions {
  readonly name: "splunk";
  /** `--splunk-url` (required): `scheme://host:port` of the HTTP Event Collector, no path, query or fragment. */
  readonly url: string;
  /**
   * `--splunk-token`: the HEC token. It ends up in the logger's argv (visible in `ps`); prefer
   * {@link tokenEndpoint} where that matters.
   */
  readonly token?: string;
  /** `--splunk-token-endpoint`: an http(s) URL the logger fetches `{"token": "..."}` from at start. */
  readonly tokenEndpoint?: string;
  /** `--splunk-source`: the event source. */
  readonly source?: string;
  /** `--splunk-sourcetype`: the event source type. */
  readonly sourcetype?: string;
  /** `--splunk-index`: the event index. */
  readonly index?: string;
  /** `--splunk-capath`: absolute path of a PEM root certificate to trust. */
  readonly capath?: string;
  /** `--splunk-caname`: the name to verify the server certificate against (default: the URL's host). */
  readonly caname?: string;
  /**
   * `--splunk-insecureskipverify`: skip server certificate verification.
   * @defaultValue `false`
   */
  readonly insecureSkipVerify?: boolean;
  /**
   * `--splunk-format`: message format.
   * @defaultValue `"inline"`
   */
  readonly format?: (typeof SPLUNK_FORMATS)[number];
  /**
   * `--splunk-verify-connection`: check at start that the server is reachable (the logger fails if not).
   * @defaultValue `true`
   */
  readonly verifyConnection?: boolean;
  /**
   * `--splunk-gzip`: gzip the requests.
   * @defaultValue `false`
   */
  readonly gzip?: boolean;
  /** `--splunk-gzip-level`: -1 (default compression), 0 (none), 1 (fastest) to 9 (best). */
  readonly gzipLevel?: number;
  /**
   * `--splunk-tag`: a Docker log tag template (e.g. `{{.Name}}/{{.ID}}`); the empty string removes the tag.
   * @defaultValue `"{{.ID}}"` (the first 12 characters of the container ID)
   */
  readonly tag?: string;
  /** `--labels`: names of container labels (from `containerLabels`) to attach to each message. */
  readonly labels?: readonly string[];
  /** `--env`: names of environment variables (from `containerEnv`) to attach to each message. */
  readonly env?: readonly string[];
  /** `--env-regex`: a Go regular expression selecting environment variables to attach. */
  readonly envRegex?: string;
}

/** Checks splunk options against the logger's rules. */
export function validateSplunk(o: SplunkDriverOptions): LogShimError | undefined {
  return firstFailure(
    () =>
      requiredString("splunk-url", o.url, "give the HTTP Event Collector URL, e.g. https://splunk.example.com:8088"),
    () => optionalHttpUrl("splunk-url", o.url),
    () => {
      const url = new URL(o.url);
      return url.pathname === "/" && url.search === "" && url.hash === ""
        ? undefined
        : new LogShimError(
            "InvalidOption",
            `--splunk-url ${JSON.stringify(o.url)} must be scheme://host:port only, without a path, query or ` +
              `fragment (the logger adds /services/collector/event/1.0 itself)`,
            { option: "splunk-url" },
          );
    },
    () => optionalString("splunk-token", o.token),
    () => optionalHttpUrl("splunk-token-endpoint", o.tokenEndpoint),
    () => {
      if (o.token !== undefined && o.tokenEndpoint !== undefined) {
        return new LogShimError(
          "ConflictingOptions",
          "--splunk-token and --splunk-token-endpoint are exclusive (the logger would ignore the token); give one",
          { option: "splunk-token-endpoint" },
        );
      }
      if (o.token === undefined && o.tokenEndpoint === undefined) {
        return new LogShimError(
          "MissingOption",
          "--splunk-token is required unless --splunk-token-endpoint is given (containerd passes the logger no " +
            "environment, so SPLUNK_TOKEN cannot be used)",
          { option: "splunk-token" },
        );
      }
      return undefined;
    },
    () => optionalString("splunk-source", o.source),
    () => optionalString("splunk-sourcetype", o.sourcetype),
    () => optionalString("splunk-index", o.index),
    () =>
      optionalAbsolutePath(
        "splunk-capath",
        o.capath,
        "the logger runs in the shim's working directory, so give the CA file's absolute path",
      ),
    () => optionalString("splunk-caname", o.caname),
    () => optionalBoolean("splunk-insecureskipverify", o.insecureSkipVerify),
    () => optionalOneOf("splunk-format", o.format, SPLUNK_FORMATS),
    () => optionalBoolean("splunk-verify-connection", o.verifyConnection),
    () => optionalBoolean("splunk-gzip", o.gzip),
    () => optionalInteger("splunk-gzip-level", o.gzipLevel, -1, 9),
    () =>
      o.tag === undefined || typeof o.tag === "string"
        ? undefined
        : new LogShimError("InvalidOption", "--splunk-tag must be a string", { option: "splunk-tag" }),
    () => optionalCommaList("labels", o.labels),
    () => optionalCommaList("env", o.env),
    () => optionalString("env-regex", o.envRegex),
  );
}

/** The flags for validated splunk options. */
export function encodeSplunk(o: SplunkDriverOptions): EncodedFlag[] {
  const flags = [splitFlag("splunk-url", o.url)];
  const bool = (b: boolean | undefined) => (b === undefined ? undefined : String(b));
  const optional: ReadonlyArray<readonly [string, string | undefined]> = [
    ["splunk-token", o.token],
    ["splunk-token-endpoint", o.tokenEndpoint],
    ["splunk-source", o.source],
    ["splunk-sourcetype", o.sourcetype],
    ["splunk-index", o.index],
    ["splunk-capath", o.capath],
    ["splunk-caname", o.caname],
    ["splunk-insecureskipverify", bool(o.insecureSkipVerify)],
    ["splunk-format", o.format],
    ["splunk-verify-connection", bool(o.verifyConnection)],
    ["splunk-gzip", bool(o.gzip)],
    ["splunk-gzip-level", o.gzipLevel === undefined ? undefined : String(o.gzipLevel)],
    ["splunk-tag", o.tag],
    ["labels", o.labels?.join(",")],
    ["env", o.env?.join(",")],
    ["env-regex", o.envRegex],
  ];
  for (const [name, value] of optional) if (value !== undefined) flags.push(splitFlag(name, value));
  return flags;
}

/**
 * Reads the splunk flags from a parsed URI. Empty values read as absent (as the logger reads them), except
 * `--splunk-tag`, where the empty string means "no tag".
 */
export function decodeSplunk(flags: FlagSet): Result<SplunkDriverOptions, LogShimError> {
  const url = takeRequired(flags, "splunk-url", "give the HTTP Event Collector URL");
  if (url.isErr()) return err(url.error);
  const o: Mutable<SplunkDriverOptions> = { name: "splunk", url: url.value };
  const strings = [
    ["splunk-token", "token"],
    ["splunk-token-endpoint", "tokenEndpoint"],
    ["splunk-source", "source"],
    ["splunk-sourcetype", "sourcetype"],
    ["splunk-index", "index"],
    ["splunk-capath", "capath"],
    ["splunk-caname", "caname"],
    ["env-regex", "envRegex"],
  ] as const;
  for (const [flag, field] of strings) {
    const value = takeOptional(flags, flag);
    if (value !== undefined) o[field] = value;
  }
  const bools = [
    ["splunk-insecureskipverify", "insecureSkipVerify"],
    ["splunk-verify-connection", "verifyConnection"],
    ["splunk-gzip", "gzip"],
  ] as const;
  for (const [flag, field] of bools) {
    const value = takeStringBool(flags, flag);
    if (value.isErr()) return err(value.error);
    if (value.value !== undefined) o[field] = value.value;
  }
  const format = takeOptional(flags, "splunk-format");
  if (format !== undefined) o.format = format as (typeof SPLUNK_FORMATS)[number]; // checked by validateSplunk
  const level = takeOptional(flags, "splunk-gzip-level");
  if (level !== undefined) {
    if (!/^[+-]?\d{1,3}$/.test(level)) {
      return err(
        new LogShimError(
          "InvalidOption",
          `--splunk-gzip-level ${JSON.stringify(level)} must be an integer from -1 to 9`,
          {
            option: "splunk-gzip-level",
          },
        ),
      );
    }
    o.gzipLevel = Number(level);
  }
  const tag = flags.take("splunk-tag");
  if (tag !== undefined) o.tag = tag.value;
  for (const [flag, field] of [
    ["labels", "labels"],
    ["env", "env"],
  ] as const) {
    const value = takeOptional(flags, flag);
    if (value === undefined) continue;
    const list = splitCommaList(flag, value);
    if (list instanceof LogShimError) return err(list);
    o[field] = list;
  }
  return ok(o);
}
