import { err, ok, type Result } from "neverthrow";
import { LogShimError } from "./errors.js";

/**
 * The log URI schemes containerd's runc shim (`containerd-shim-runc-v2`) acts on, on Linux:
 *
 * - `binary`: start a logger binary; it signals readiness by closing fd 5.
 * - `binary-v2` (containerd 2.2+): the same, but the logger must write one byte to fd 5 before closing it.
 * - `file`: the shim appends both streams to a file itself.
 *
 * Not modelled: a bare path (no scheme) is treated by the shim as a FIFO set that `cio` creates itself, and a
 * `fifo://` URI is opened literally as a path, so neither is a usable log URI; `npipe` is Windows-only; "no IO"
 * has no URI at all (empty stdio paths).
 */
export const LOG_URI_SCHEMES = ["binary", "binary-v2", "file"] as const;

/** One of {@link LOG_URI_SCHEMES}. */
export type LogUriScheme = (typeof LOG_URI_SCHEMES)[number];

/**
 * One query parameter of a `binary` URI: the shim passes `key` and then `value` to the logger as two separate
 * argv elements (so `["--mode", "non-blocking"]` becomes `--mode non-blocking`).
 */
export type LogUriArg = readonly [key: string, value: string];

/** A `binary://` or `binary-v2://` log URI: the logger binary's absolute path and its arguments. */
export interface BinaryLogUri {
  readonly scheme: "binary" | "binary-v2";
  /** Absolute path of the logger binary. */
  readonly path: string;
  /** Query parameters; each key appears at most once (containerd keeps only the first value of a key). */
  readonly args: readonly LogUriArg[];
}

/** A `file://` log URI: the shim appends stdout and stderr to this file (and creates its directory). */
export interface FileLogUri {
  readonly scheme: "file";
  /** Absolute path of the log file. */
  readonly path: string;
}

/** A containerd log URI, as `ctr run --log-uri` and the `Stdout`/`Stderr` fields of a task's IO carry it. */
export type LogUri = BinaryLogUri | FileLogUri;

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
const HEX = "0123456789ABCDEF";
// With the `u` flag a well-formed surrogate pair is one code point, so this matches lone surrogates only.
const LONE_SURROGATE = /\p{Surrogate}/u;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

// Go's net/url shouldEscape for a whole path (encodePath): unreserved characters and $&+,/:;=@ stay as they are.
function keepInPath(b: number): boolean {
  return isAlnum(b) || "-_.~$&+,/:;=@".includes(String.fromCharCode(b));
}

// Go's net/url QueryEscape: only unreserved characters stay; a space becomes '+'.
function keepInQuery(b: number): boolean {
  return isAlnum(b) || "-_.~".includes(String.fromCharCode(b));
}

function percentEncode(s: string, mode: "path" | "query"): string {
  let out = "";
  for (const b of encoder.encode(s)) {
    if (mode === "query" && b === 0x20) out += "+";
    else if (mode === "path" ? keepInPath(b) : keepInQuery(b)) out += String.fromCharCode(b);
    else out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function percentDecode(raw: string, mode: "path" | "query"): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] as string;
    if (c === "%") {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (c === "+" && mode === "query") {
      bytes.push(0x20);
    } else {
      const cp = raw.codePointAt(i) as number;
      if (cp > 0xffff) i++;
      for (const b of encoder.encode(String.fromCodePoint(cp))) bytes.push(b);
    }
  }
  try {
    return strictUtf8.decode(new Uint8Array(bytes));
  } catch {
    return undefined;
  }
}

// Go's sort.Strings orders by UTF-8 bytes; so does this (UTF-16 order differs above U+FFFF).
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function invalid(message: string, option?: string): LogShimError {
  return new LogShimError("InvalidUri", message, option === undefined ? {} : { option });
}

// Messages never quote argument values or whole URIs: a value (or a `--flag=value` key) may be a secret such as a
// Splunk token. Arguments are named by their flag part only.
function argName(key: string): string {
  return JSON.stringify(key.split("=")[0]);
}

function checkText(what: string, value: string, option?: string): LogShimError | undefined {
  if (value.includes("\0")) {
    return invalid(`${what} contains a NUL byte, which cannot be passed to a process`, option);
  }
  if (LONE_SURROGATE.test(value)) {
    return invalid(`${what} is not valid Unicode (it has a lone surrogate)`, option);
  }
  return undefined;
}

function checkPath(scheme: string, path: string): LogShimError | undefined {
  if (!path.startsWith("/")) {
    return new LogShimError(
      "NotAbsolutePath",
      `the ${scheme} log URI path ${JSON.stringify(path)} is not absolute: containerd runs/opens it from the ` +
        `shim's working directory, so give an absolute path such as /usr/local/bin/shim-loggers-for-containerd`,
      { option: "path" },
    );
  }
  return checkText(`the path ${JSON.stringify(path)}`, path, "path");
}

/**
 * Formats a log URI exactly as containerd's own `cio.BinaryIO` / `cio.LogFile` would (Go's `url.URL.String` with
 * `url.Values.Encode`): `binary:///abs/path?--k=v&--k2=v2`. The path is percent-encoded like Go's
 * `URL.EscapedPath`, keys and values like Go's `url.QueryEscape` (a space becomes `+`), so containerd's
 * `url.Parse(...).Query()` yields exactly the given keys and values.
 *
 * Ordering: arguments are sorted by key (byte-wise on UTF-8, as Go's `url.Values.Encode` sorts). Their order
 * carries no meaning: the shim iterates a Go map, so the logger receives them in random order anyway.
 *
 * Fails with `NotAbsolutePath` for a relative path and `InvalidUri` for an unknown scheme, an empty or repeated
 * key (containerd would drop it), or text a process cannot receive (NUL bytes, lone surrogates).
 */
export function formatLogUri(u: LogUri): Result<string, LogShimError> {
  const scheme: string = u.scheme;
  if (!(LOG_URI_SCHEMES as readonly string[]).includes(scheme)) {
    return err(
      new LogShimError(
        "InvalidUri",
        `unknown log URI scheme ${JSON.stringify(scheme)}: use binary, binary-v2 or file`,
        {
          option: "scheme",
          allowed: LOG_URI_SCHEMES,
        },
      ),
    );
  }
  const pathProblem = checkPath(scheme, u.path);
  if (pathProblem) return err(pathProblem);
  const base = `${scheme}://${percentEncode(u.path, "path")}`;
  if (u.scheme === "file") return ok(base);

  const seen = new Set<string>();
  for (const [key, value] of u.args) {
    if (key === "")
      return err(invalid("a log URI argument has an empty key; containerd would pass it as an empty argv"));
    if (seen.has(key)) {
      return err(invalid(`argument ${argName(key)} is given twice; containerd passes only the first value`, key));
    }
    seen.add(key);
    const problem =
      checkText(`argument ${argName(key)}`, key, key) ?? checkText(`the value of ${argName(key)}`, value, key);
    if (problem) return err(problem);
  }
  if (u.args.length === 0) return ok(base);
  const query = [...u.args]
    .sort((a, b) => compareUtf8(a[0], b[0]))
    .map(([key, value]) => `${percentEncode(key, "query")}=${percentEncode(value, "query")}`)
    .join("&");
  return ok(`${base}?${query}`);
}

/**
 * Parses a log URI the way containerd's shim reads it (Go's `url.Parse` and `Query()`), but strictly: whatever
 * containerd would silently drop or misread is an error instead.
 *
 * Accepted: `binary:///abs/path?k=v&...`, `binary-v2:///...`, `file:///abs/path`; the scheme is
 * case-insensitive and the `//` may be omitted (`binary:/abs/path`), as in Go. Arguments come back in the
 * order they appear in the URI.
 *
 * Fails with `InvalidUri` for a missing or unknown scheme, a host (`binary://host/x` would run `/x`), a
 * fragment, control characters, a bad percent-escape, a `;` in the query, an empty or repeated key, or a query
 * on a `file` URI; with `NotAbsolutePath` for a relative or empty path.
 */
export function parseLogUri(s: string): Result<LogUri, LogShimError> {
  if ([...s].some((c) => c < " " || c === "\x7f")) {
    return err(invalid("the log URI contains a control character; percent-encode it"));
  }
  const lone = checkText("the log URI", s);
  if (lone) return err(lone);
  if (s.includes("#")) {
    return err(invalid("the log URI has a '#' fragment, which containerd drops; percent-encode '#' as %23"));
  }
  const schemeMatch = SCHEME.exec(s);
  if (!schemeMatch) {
    return err(
      invalid(
        "the log URI has no scheme: write binary:///path/to/logger?--flag=value or " +
          `file:///path/to/file (a bare path is a FIFO to containerd, which this package does not model)`,
      ),
    );
  }
  const scheme = (schemeMatch[1] as string).toLowerCase();
  if (!(LOG_URI_SCHEMES as readonly string[]).includes(scheme)) {
    return err(
      new LogShimError(
        "InvalidUri",
        `the log URI has the unsupported scheme ${JSON.stringify(scheme)}: use binary, binary-v2 or file`,
        { option: "scheme", allowed: LOG_URI_SCHEMES },
      ),
    );
  }
  let rest = s.slice(schemeMatch[0].length);
  const q = rest.indexOf("?");
  const rawQuery = q === -1 ? "" : rest.slice(q + 1);
  if (q !== -1) rest = rest.slice(0, q);
  if (rest.startsWith("//")) {
    const slash = rest.indexOf("/", 2);
    const authority = slash === -1 ? rest.slice(2) : rest.slice(2, slash);
    if (authority !== "") {
      return err(
        invalid(
          `the log URI has the host ${JSON.stringify(authority)}; containerd ignores it and uses ` +
            `only the path after it. Write three slashes: ${scheme}:///absolute/path`,
        ),
      );
    }
    rest = slash === -1 ? "" : rest.slice(slash);
  }
  const path = percentDecode(rest, "path");
  if (path === undefined) {
    return err(invalid("the path of the log URI has a bad percent-escape or is not UTF-8", "path"));
  }
  const pathProblem = checkPath(scheme, path);
  if (pathProblem) return err(pathProblem);

  if (scheme === "file") {
    if (rawQuery !== "") {
      return err(invalid("a file log URI takes no query (containerd ignores it); remove it"));
    }
    return ok({ scheme: "file", path });
  }

  const args: LogUriArg[] = [];
  const seen = new Set<string>();
  const pairs = rawQuery.split("&");
  for (const [index, pair] of pairs.entries()) {
    if (pair === "") continue;
    const part = `query part ${index + 1}`;
    if (pair.includes(";")) {
      return err(
        invalid(`log URI ${part} contains ';', which Go's url.Query drops silently; percent-encode it as %3B`),
      );
    }
    const eq = pair.indexOf("=");
    const key = percentDecode(eq === -1 ? pair : pair.slice(0, eq), "query");
    const value = percentDecode(eq === -1 ? "" : pair.slice(eq + 1), "query");
    if (key === undefined || value === undefined) {
      return err(invalid(`log URI ${part} has a bad percent-escape or is not UTF-8`));
    }
    if (key === "") return err(invalid(`log URI ${part} has an empty key`));
    if (seen.has(key)) {
      return err(invalid(`log URI argument ${argName(key)} appears twice; containerd keeps only the first`, key));
    }
    seen.add(key);
    const problem =
      checkText(`argument ${argName(key)}`, key, key) ?? checkText(`the value of ${argName(key)}`, value, key);
    if (problem) return err(problem);
    args.push([key, value]);
  }
  return ok({ scheme: scheme as "binary" | "binary-v2", path, args });
}
