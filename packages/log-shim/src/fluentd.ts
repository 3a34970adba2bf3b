import { err, ok, type Result } from "neverthrow";
import { firstFailure, optionalBoolean, optionalInteger, optionalString } from "./checks.js";
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
} from "./flags.js";
import { type GoDuration, parseGoDuration } from "./go-syntax.js";

/** The flags of the fluentd driver (names without the leading `--`). */
export const FLUENTD_FLAGS = [
  "fluentd-address",
  "fluentd-async",
  "fluentd-sub-second-precision",
  "fluentd-buffer-limit",
  "fluentd-tag",
  "fluentd-write-timeout",
] as const;

/** Where fluentd listens when `--fluentd-address` is not given. */
export const DEFAULT_FLUENTD_ADDRESS = { protocol: "tcp", host: "127.0.0.1", port: 24224 } as const;

/** A parsed `--fluentd-address`. */
export type FluentdAddress =
  | { readonly protocol: "tcp" | "tls"; readonly host: string; readonly port: number }
  | { readonly protocol: "unix"; readonly path: string };

/**
 * Options of the `fluentd` driver (Fluentd / Fluent Bit forward protocol; FireLens uses it), as the logger's
 * flags. All optional.
 */
export interface FluentdDriverOptions {
  readonly name: "fluentd";
  /**
   * `--fluentd-address`: `host:port`, `host`, `tcp://host:port`, `tls://host:port` or `unix:///abs/path.sock`
   * (see {@link parseFluentdAddress}).
   * @defaultValue `"127.0.0.1:24224"`
   */
  readonly address?: string;
  /**
   * `--fluentd-async`: connect in the background (and drop buffered lines on close instead of waiting).
   * @defaultValue `false`
   */
  readonly async?: boolean;
  /**
   * `--fluentd-sub-second-precision`: nanosecond timestamps. The logger defaults to `true`, unlike Docker.
   * @defaultValue `true`
   */
  readonly subSecondPrecision?: boolean;
  /** `--fluentd-buffer-limit`: a positive integer, Docker's fluentd buffer limit (Docker's default: 1048576). */
  readonly bufferLimit?: number;
  /**
   * `--fluentd-tag`: the tag of every record (a Docker log tag template such as `{{.Name}}`); ECS FireLens uses
   * `<container>-firelens-<taskID>`.
   * @defaultValue the first 12 characters of the container ID
   */
  readonly tag?: string;
  /**
   * `--fluentd-write-timeout`: give up a write after this Go duration (`"0"` means the default).
   * @defaultValue `"5s"`
   */
  readonly writeTimeout?: GoDuration;
}

function badAddress(address: string, why: string): LogShimError {
  return new LogShimError(
    "InvalidOption",
    `--fluentd-address ${JSON.stringify(address)} ${why}; write host:port, tcp://host:port, tls://host:port ` +
      `or unix:///absolute/path.sock`,
    { option: "fluentd-address" },
  );
}

/**
 * Parses a `--fluentd-address` the way Docker's fluentd driver (inside the logger) does: no scheme means `tcp`,
 * a missing host is 127.0.0.1 and a missing port 24224. An empty string is the default address.
 *
 * Stricter than Docker where Docker would quietly misread: a path after `tcp://host:port`, a host in
 * `unix://host/path` (Docker would use `/path`), `?`, `#`, `%` or `@` anywhere, and port 0 are refused.
 */
export function parseFluentdAddress(address: string): Result<FluentdAddress, LogShimError> {
  if (address === "") return ok(DEFAULT_FLUENTD_ADDRESS);
  if (/[?#%@\s]/.test(address)) return err(badAddress(address, "contains '?', '#', '%', '@' or whitespace"));
  const sep = address.indexOf("://");
  const scheme = sep === -1 ? "tcp" : address.slice(0, sep).toLowerCase();
  const rest = sep === -1 ? address : address.slice(sep + 3);
  if (scheme === "unix") {
    if (!rest.startsWith("/")) {
      return err(
        new LogShimError(
          "NotAbsolutePath",
          `--fluentd-address ${JSON.stringify(address)} must name an absolute socket path with three slashes, ` +
            `e.g. unix:///var/run/fluent.sock (Docker would read unix://host/path as /path)`,
          { option: "fluentd-address" },
        ),
      );
    }
    if (rest.replace(/^\/+/, "") === "") return err(badAddress(address, "has an empty socket path"));
    return ok({ protocol: "unix", path: rest });
  }
  if (scheme !== "tcp" && scheme !== "tls") {
    return err(
      new LogShimError(
        "InvalidOption",
        `--fluentd-address ${JSON.stringify(address)} has the unsupported scheme ${JSON.stringify(scheme)}; ` +
          `use tcp://, tls:// or unix://`,
        { option: "fluentd-address", allowed: ["tcp", "tls", "unix"] },
      ),
    );
  }
  if (rest.includes("/")) return err(badAddress(address, "must not contain a path after host:port"));
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]*)(?::(\d*))?$/.exec(rest);
  if (!m) return err(badAddress(address, "has an invalid host"));
  const host = (m[1] as string).replace(/^\[(.*)\]$/, "$1");
  const portText = m[2] ?? "";
  const port = portText === "" ? DEFAULT_FLUENTD_ADDRESS.port : Number(portText);
  if (!(Number.isInteger(port) && port >= 1 && port <= 65535)) {
    return err(badAddress(address, "has a port outside 1-65535"));
  }
  return ok({ protocol: scheme, host: host === "" ? DEFAULT_FLUENTD_ADDRESS.host : host, port });
}

/** Checks fluentd options against the logger's rules. */
export function validateFluentd(o: FluentdDriverOptions): LogShimError | undefined {
  return firstFailure(
    () => optionalString("fluentd-address", o.address),
    () =>
      o.address === undefined
        ? undefined
        : parseFluentdAddress(o.address).match(
            () => undefined,
            (e) => e,
          ),
    () => optionalBoolean("fluentd-async", o.async),
    () => optionalBoolean("fluentd-sub-second-precision", o.subSecondPrecision),
    () => optionalInteger("fluentd-buffer-limit", o.bufferLimit, 1, Number.MAX_SAFE_INTEGER),
    () => optionalString("fluentd-tag", o.tag),
    () => {
      if (o.writeTimeout === undefined) return undefined;
      if (typeof o.writeTimeout !== "string") {
        return new LogShimError("InvalidOption", `--fluentd-write-timeout must be a Go duration such as "5s"`, {
          option: "fluentd-write-timeout",
        });
      }
      const d = parseGoDuration(o.writeTimeout, "fluentd-write-timeout");
      if (d.isErr()) return d.error;
      return d.value < 0n
        ? new LogShimError(
            "InvalidOption",
            `--fluentd-write-timeout ${JSON.stringify(o.writeTimeout)} must not be negative`,
            { option: "fluentd-write-timeout" },
          )
        : undefined;
    },
  );
}

/** The flags for validated fluentd options. */
export function encodeFluentd(o: FluentdDriverOptions): EncodedFlag[] {
  const flags: EncodedFlag[] = [];
  if (o.address !== undefined) flags.push(splitFlag("fluentd-address", o.address));
  if (o.async !== undefined) flags.push(boolFlag("fluentd-async", o.async));
  if (o.subSecondPrecision !== undefined) flags.push(boolFlag("fluentd-sub-second-precision", o.subSecondPrecision));
  if (o.bufferLimit !== undefined) flags.push(splitFlag("fluentd-buffer-limit", String(o.bufferLimit)));
  if (o.tag !== undefined) flags.push(splitFlag("fluentd-tag", o.tag));
  if (o.writeTimeout !== undefined) flags.push(splitFlag("fluentd-write-timeout", o.writeTimeout));
  return flags;
}

/**
 * Reads the fluentd flags from a parsed URI. Values the logger treats as "not set" read as absent: empty
 * strings and a buffer limit of 0 or less.
 */
export function decodeFluentd(flags: FlagSet): Result<FluentdDriverOptions, LogShimError> {
  const o: Mutable<FluentdDriverOptions> = { name: "fluentd" };
  const address = takeOptional(flags, "fluentd-address");
  if (address !== undefined) o.address = address;
  const async = takePflagBool(flags, "fluentd-async");
  if (async.isErr()) return err(async.error);
  if (async.value !== undefined) o.async = async.value;
  const precision = takePflagBool(flags, "fluentd-sub-second-precision");
  if (precision.isErr()) return err(precision.error);
  if (precision.value !== undefined) o.subSecondPrecision = precision.value;
  const limit = takeInt(flags, "fluentd-buffer-limit");
  if (limit.isErr()) return err(limit.error);
  if (limit.value !== undefined && limit.value > 0) o.bufferLimit = limit.value;
  const tag = takeOptional(flags, "fluentd-tag");
  if (tag !== undefined) o.tag = tag;
  const timeout = flags.take("fluentd-write-timeout");
  if (timeout !== undefined) o.writeTimeout = timeout.value; // "" is refused by validateFluentd, as pflag refuses it
  return ok(o);
}
