import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import createDebug from "debug";
import { err, errAsync, ok, okAsync, type Result, ResultAsync } from "neverthrow";
import { CniError, errnoOf, isRecord, messageOf } from "./errors.js";
import { escapeGo, goMarshal } from "./go-json.js";

const debug = createDebug("berth:cni:cache");

/** libcni's default cache root; results live in `<root>/results`. */
export const DEFAULT_CACHE_DIR = "/var/lib/cni";

/** The `kind` libcni writes into every cache file. */
export const CNI_CACHE_KIND = "cniCacheV1";

/** What libcni (and berth) remember about one attachment of a container to a network. */
export interface CachedAttachment {
  /** The cache file. */
  readonly path: string;
  readonly containerId: string;
  readonly networkName: string;
  readonly ifName: string;
  /** The network namespace path given at ADD, when there was one. */
  readonly netns?: string;
  /** `CNI_ARGS` pairs given at ADD. */
  readonly cniArgs?: ReadonlyArray<readonly [string, string]>;
  /** Capability args given at ADD (all of them, not only those a plugin declared). */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
  /** The exact configuration bytes the network was added with (the list's file). */
  readonly config: Uint8Array;
  /** The final ADD result as stored (raw JSON object, in the version the last plugin printed). */
  readonly result?: Readonly<Record<string, unknown>>;
}

/** What {@link writeCachedAttachment} stores. */
export type CachedAttachmentInput = Omit<CachedAttachment, "path">;

/**
 * The cache file of an attachment, libcni's scheme: `<cacheDir>/results/<network>-<containerId>-<ifName>`.
 */
export function cacheFilePath(cacheDir: string, network: string, containerId: string, ifName: string): string {
  return join(cacheDir, "results", `${network}-${containerId}-${ifName}`);
}

/**
 * The cache file's JSON, byte-compatible with libcni's `cachedInfo`: keys `kind`, `containerId`, `config`
 * (base64), `ifName`, `networkName`, then `netns`, `cniArgs`, `capabilityArgs` and `result` when not empty.
 * @internal
 */
export function encodeCachedAttachment(entry: CachedAttachmentInput): string {
  const parts = [
    `"kind":${JSON.stringify(CNI_CACHE_KIND)}`,
    `"containerId":${JSON.stringify(entry.containerId)}`,
    `"config":${JSON.stringify(Buffer.from(entry.config).toString("base64"))}`,
    `"ifName":${JSON.stringify(entry.ifName)}`,
    `"networkName":${JSON.stringify(entry.networkName)}`,
  ];
  if (entry.netns) parts.push(`"netns":${JSON.stringify(entry.netns)}`);
  if (entry.cniArgs?.length) parts.push(`"cniArgs":${JSON.stringify(entry.cniArgs)}`);
  if (entry.capabilityArgs && Object.keys(entry.capabilityArgs).length > 0) {
    parts.push(`"capabilityArgs":${goMarshal(entry.capabilityArgs)}`);
  }
  if (entry.result && Object.keys(entry.result).length > 0) parts.push(`"result":${goMarshal(entry.result)}`);
  return escapeGo(`{${parts.join(",")}}`);
}

/**
 * Decodes a cache file's text. Fails (with the reason as text) for anything that is not a `cniCacheV1` object with
 * the fields libcni requires.
 * @internal
 */
export function decodeCachedAttachment(text: string, path: string): Result<CachedAttachment, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (cause) {
    return err(text.trim() === "" ? "the file is empty" : `it is not JSON (${messageOf(cause)})`);
  }
  if (!isRecord(raw)) return err("it is not a JSON object");
  if (raw.kind !== CNI_CACHE_KIND) return err(`its kind is ${JSON.stringify(raw.kind)}, not "${CNI_CACHE_KIND}"`);
  const str = (k: string) => (typeof raw[k] === "string" ? (raw[k] as string) : undefined);
  const containerId = str("containerId");
  const ifName = str("ifName");
  const networkName = str("networkName");
  if (!containerId || !ifName || !networkName) return err("containerId, ifName or networkName is missing");
  const config = typeof raw.config === "string" ? Buffer.from(raw.config, "base64") : new Uint8Array();
  const cniArgs = Array.isArray(raw.cniArgs)
    ? raw.cniArgs.filter(
        (p): p is [string, string] =>
          Array.isArray(p) && p.length === 2 && typeof p[0] === "string" && typeof p[1] === "string",
      )
    : undefined;
  const netns = str("netns");
  return ok({
    path,
    containerId,
    networkName,
    ifName,
    ...(netns ? { netns } : {}),
    ...(cniArgs?.length ? { cniArgs } : {}),
    ...(isRecord(raw.capabilityArgs) ? { capabilityArgs: raw.capabilityArgs } : {}),
    config: new Uint8Array(config),
    ...(isRecord(raw.result) ? { result: raw.result } : {}),
  });
}

// The per-attachment calls (write, read, delete) use synchronous file calls, as libcni does: the files are a few KB
// on a local disk, and each asynchronous call is a thread-pool round trip (a write was five: mkdir, open, write,
// close, rename; a read four), which costs more than the work itself and adds latency on a busy machine.

// Temporary file names: unique per process (random prefix, for processes sharing a cache dir) and per write.
const TMP_PREFIX = randomBytes(4).toString("hex");
let tmpSeq = 0;

/**
 * Writes an attachment's cache file (directory mode 0700, file 0600, as libcni). The file is written to a
 * temporary name and renamed, so a crash never leaves an empty or half-written cache file behind. The directory is
 * created only when the write finds it missing. Uses synchronous file calls (a few KB on a local disk).
 */
export function writeCachedAttachment(cacheDir: string, entry: CachedAttachmentInput): ResultAsync<string, CniError> {
  const path = cacheFilePath(cacheDir, entry.networkName, entry.containerId, entry.ifName);
  const dir = join(cacheDir, "results");
  const tmp = join(dir, `.${entry.networkName}-${TMP_PREFIX}${(++tmpSeq).toString(16)}.tmp`);
  return ResultAsync.fromPromise(
    (async () => {
      const text = encodeCachedAttachment(entry);
      try {
        try {
          writeFileSync(tmp, text, { mode: 0o600 });
        } catch (cause) {
          if (errnoOf(cause) !== "ENOENT") throw cause;
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          writeFileSync(tmp, text, { mode: 0o600 });
        }
        renameSync(tmp, path);
      } catch (cause) {
        try {
          unlinkSync(tmp);
        } catch {
          // never written
        }
        throw cause;
      }
      debug("wrote %s", path);
      return path;
    })(),
    (cause) => ioError(`could not write the CNI result cache file ${path}`, cause, entry.networkName),
  );
}

/**
 * Reads an attachment's cache file. `undefined` when there is none; `corrupt` (with the reason) when it exists but is
 * empty or unreadable as libcni's format (DEL still proceeds in that case, and removes it).
 */
export function readCachedAttachment(
  cacheDir: string,
  network: string,
  containerId: string,
  ifName: string,
): ResultAsync<
  | { readonly state: "missing" }
  | { readonly state: "corrupt"; readonly reason: string; readonly path: string }
  | {
      readonly state: "ok";
      readonly entry: CachedAttachment;
    },
  CniError
> {
  const path = cacheFilePath(cacheDir, network, containerId, ifName);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (cause) {
    return errnoOf(cause) === "ENOENT"
      ? okAsync({ state: "missing" } as const)
      : errAsync(ioError(`could not read the CNI result cache file ${path}`, cause, network));
  }
  const decoded = decodeCachedAttachment(text, path);
  return okAsync(
    decoded.isOk()
      ? ({ state: "ok", entry: decoded.value } as const)
      : ({ state: "corrupt", reason: decoded.error, path } as const),
  );
}

/** Removes an attachment's cache file; a missing file is not an error. */
export function deleteCachedAttachment(
  cacheDir: string,
  network: string,
  containerId: string,
  ifName: string,
): ResultAsync<void, CniError> {
  const path = cacheFilePath(cacheDir, network, containerId, ifName);
  try {
    unlinkSync(path);
  } catch (cause) {
    if (errnoOf(cause) !== "ENOENT") {
      return errAsync(ioError(`could not remove the CNI result cache file ${path}`, cause, network));
    }
  }
  debug("removed %s", path);
  return okAsync(undefined);
}

/** Filters for {@link listCachedAttachments}. */
export interface ListCachedOptions {
  /** Only this container's attachments. */
  readonly containerId?: string;
  /** Only attachments to this network. */
  readonly network?: string;
}

/**
 * Lists the attachments in the cache as libcni's `GetCachedAttachments` does: files in byte order, skipping files
 * that cannot be read or decoded (and berth's own temporary files). No cache directory means no attachments.
 */
export function listCachedAttachments(
  cacheDir: string,
  options: ListCachedOptions = {},
): ResultAsync<CachedAttachment[], CniError> {
  const dir = join(cacheDir, "results");
  return new ResultAsync(
    (async (): Promise<Result<CachedAttachment[], CniError>> => {
      let names: string[];
      try {
        names = (await readdir(dir)).sort();
      } catch (cause) {
        if (errnoOf(cause) === "ENOENT") return ok([]);
        return err(ioError(`could not list the CNI result cache ${dir}`, cause));
      }
      const out: CachedAttachment[] = [];
      const { containerId, network } = options;
      for (const name of names) {
        if (name.startsWith(".")) continue;
        if (containerId && !name.includes(`-${containerId}-`)) continue;
        const path = join(dir, name);
        const text = await readFile(path, "utf8").catch(() => undefined);
        if (text === undefined) continue;
        const decoded = decodeCachedAttachment(text, path);
        if (decoded.isErr()) {
          debug("skipping %s: %s", path, decoded.error);
          continue;
        }
        const entry = decoded.value;
        if (containerId && entry.containerId !== containerId) continue;
        if (network && entry.networkName !== network) continue;
        out.push(entry);
      }
      return ok(out);
    })(),
  );
}

function ioError(what: string, cause: unknown, network?: string): CniError {
  const errno = errnoOf(cause);
  const hint =
    errno === "EACCES" || errno === "EPERM"
      ? "run as root or choose a cacheDir this process may write"
      : "check the cache directory (cacheDir) exists on a writable filesystem";
  return new CniError("IOFailure", `${what}: ${messageOf(cause)}; ${hint}`, {
    ...(network === undefined ? {} : { network }),
    cause,
  });
}
