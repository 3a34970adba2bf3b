import { err, ok, type Result } from "neverthrow";
import { CniError } from "./errors.js";

/** The newest CNI spec version this library implements; configurations are never run above it. */
export const CNI_SPEC_VERSION = "1.1.0";

/** Every released CNI spec version, oldest first. */
export const KNOWN_SPEC_VERSIONS = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

/** A parsed CNI spec version. */
export interface SpecVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
}

// libcni splits on '.' into at most three integer parts, missing parts being 0 ("1" is 1.0.0). berth accepts
// the same shapes but only plain decimal digits (libcni's Atoi would also take "+1" or "-1").
const VERSION = /^(\d+)(?:\.(\d+))?(?:\.(\d+))?$/;

/**
 * Parses a CNI version string such as `"0.3.1"` or `"1.1.0"`. Like libcni, `"1"` and `"1.0"` mean 1.0.0 and the
 * empty string means 0.1.0 (the spec's meaning of "no version declared").
 */
export function parseVersion(text: string): Result<SpecVersion, CniError> {
  if (text === "") return ok({ major: 0, minor: 1, patch: 0 });
  const m = VERSION.exec(text);
  if (!m) {
    return err(
      new CniError(
        "InvalidConfig",
        `invalid CNI version ${JSON.stringify(text)}: expected MAJOR.MINOR.PATCH with decimal numbers, e.g. "1.0.0"`,
      ),
    );
  }
  return ok({ major: Number(m[1]), minor: Number(m[2] ?? 0), patch: Number(m[3] ?? 0) });
}

/** Orders two parsed versions: negative when `a` is older, 0 when equal, positive when newer. */
export function compareSpecVersions(a: SpecVersion, b: SpecVersion): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** Orders two version strings (see {@link parseVersion}): -1, 0 or 1; an error when either does not parse. */
export function compareVersions(a: string, b: string): Result<-1 | 0 | 1, CniError> {
  return parseVersion(a).andThen((pa) =>
    parseVersion(b).map((pb) => Math.sign(compareSpecVersions(pa, pb)) as -1 | 0 | 1),
  );
}

/** The version fields of a network configuration list that take part in negotiation. */
export interface VersionedConfig {
  /** `cniVersion` as written; empty when the file has none. */
  readonly cniVersion: string;
  /** `cniVersions` as written (spec 1.1), when present. */
  readonly cniVersions?: readonly string[];
  /** The network's name, for error messages. */
  readonly name?: string;
}

/**
 * Picks the version to run a configuration list with, per the spec: the highest of `cniVersion` and
 * `cniVersions` that is not above `max` (default {@link CNI_SPEC_VERSION}). The winner is returned as written
 * in the file. A list with neither field gets `"0.1.0"`.
 *
 * Unlike libcni, which silently keeps a `cniVersion` above its own when nothing else qualifies (the plugins then
 * reject it), this fails with `IncompatibleVersion` so the problem is reported before any plugin runs.
 */
export function negotiateVersion(config: VersionedConfig, max: string = CNI_SPEC_VERSION): Result<string, CniError> {
  const network = config.name === undefined ? {} : { network: config.name };
  const limit = parseVersion(max);
  if (limit.isErr()) return err(limit.error);
  const candidates = [...(config.cniVersions ?? [])];
  if (config.cniVersion !== "") candidates.push(config.cniVersion);
  if (candidates.length === 0) return ok("0.1.0");
  let best: { text: string; version: SpecVersion } | undefined;
  for (const text of candidates) {
    const parsed = parseVersion(text);
    if (parsed.isErr()) {
      return err(new CniError("InvalidConfig", `${describeList(config)}: ${parsed.error.message}`, network));
    }
    if (compareSpecVersions(parsed.value, limit.value) > 0) continue;
    if (best === undefined || compareSpecVersions(parsed.value, best.version) > 0) {
      best = { text, version: parsed.value };
    }
  }
  if (best === undefined) {
    return err(
      new CniError(
        "IncompatibleVersion",
        `${describeList(config)} only offers CNI versions ${candidates.map((c) => JSON.stringify(c)).join(", ")}, ` +
          `all newer than ${max}, the newest this library implements: add an older version (e.g. "1.0.0") ` +
          `to "cniVersions"`,
        network,
      ),
    );
  }
  return ok(best.text);
}

function describeList(config: VersionedConfig): string {
  return config.name === undefined ? "the network configuration" : `network ${JSON.stringify(config.name)}`;
}
