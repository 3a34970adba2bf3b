import { err, ok, type Result } from "neverthrow";
import { CniError, isRecord } from "./errors.js";
import { compareSpecVersions, parseVersion } from "./version.js";

/** An interface a plugin created or configured (`interfaces[]` of a result). */
export interface CniInterface {
  /** The interface name, e.g. `eth0` or `veth1234abcd`. */
  readonly name: string;
  /** Its hardware address. */
  readonly mac?: string;
  /** MTU (spec 1.1). */
  readonly mtu?: number;
  /** The network namespace path the interface lives in; absent for host interfaces. */
  readonly sandbox?: string;
  /** Path to a vhost-user or similar socket (spec 1.1). */
  readonly socketPath?: string;
  /** PCI address of a device (spec 1.1). */
  readonly pciID?: string;
}

/** An IP address a plugin assigned (`ips[]` of a result). */
export interface CniIpConfig {
  /** `"4"` or `"6"`: present in results of spec 0.3.x and 0.4.0 only (1.0.0 dropped it). */
  readonly version?: "4" | "6";
  /** Index into {@link CniResult.interfaces} of the interface holding the address. */
  readonly interface?: number;
  /** The address with its prefix length, e.g. `10.22.0.5/24`. */
  readonly address: string;
  /** The default gateway for this subnet, when there is one. */
  readonly gateway?: string;
}

/** A route a plugin set up (`routes[]` of a result). */
export interface CniRoute {
  /** Destination, e.g. `0.0.0.0/0`. */
  readonly dst: string;
  /** Next hop; the IP's gateway when absent. */
  readonly gw?: string;
  /** Route MTU (spec 1.1). */
  readonly mtu?: number;
  /** Advertised MSS (spec 1.1). */
  readonly advmss?: number;
  /** Route priority (spec 1.1). */
  readonly priority?: number;
  /** Routing table (spec 1.1). */
  readonly table?: number;
  /** Route scope (spec 1.1). */
  readonly scope?: number;
}

/** DNS settings a plugin suggests (`dns` of a result). */
export interface CniDns {
  readonly nameservers?: readonly string[];
  readonly domain?: string;
  readonly search?: readonly string[];
  readonly options?: readonly string[];
}

/** A plugin's ADD result (spec 0.3.0 ... 1.1.0), typed. Unknown keys a plugin printed are dropped, as libcni does. */
export interface CniResult {
  /** The spec version the result is written in. */
  readonly cniVersion: string;
  readonly interfaces?: readonly CniInterface[];
  readonly ips?: readonly CniIpConfig[];
  readonly routes?: readonly CniRoute[];
  /** Always present (possibly empty), as libcni writes it. */
  readonly dns: CniDns;
}

/** The result versions berth reads, writes and converts between. */
export const RESULT_VERSIONS = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"] as const;

/**
 * Decodes a plugin's ADD output (already parsed JSON) into a {@link CniResult}. A result without `cniVersion`
 * takes `configVersion` (what libcni does). Fails with `InvalidResult` for a value that is not a result of a
 * supported version (0.3.0 ... 1.1.0) or has wrongly typed fields.
 */
export function parseResult(
  output: unknown,
  configVersion: string,
  context: { readonly plugin?: string; readonly network?: string } = {},
): Result<CniResult, CniError> {
  const fields = {
    ...(context.plugin === undefined ? {} : { plugin: context.plugin }),
    ...(context.network === undefined ? {} : { network: context.network }),
  };
  const who =
    context.plugin === undefined ? "the CNI result" : `the result of CNI plugin ${JSON.stringify(context.plugin)}`;
  const bad = (why: string) =>
    err(
      new CniError(
        "InvalidResult",
        `${who} is invalid: ${why}; a CNI result looks like {"cniVersion", "interfaces", "ips", ...}`,
        fields,
      ),
    );
  if (!isRecord(output)) return bad("it is not a JSON object");
  const rawVersion = output.cniVersion;
  if (rawVersion !== undefined && rawVersion !== null && typeof rawVersion !== "string") {
    return bad(`"cniVersion" is not a string`);
  }
  const cniVersion = rawVersion ? rawVersion : configVersion;
  if (!isResultVersion(cniVersion)) {
    return bad(`its version ${JSON.stringify(cniVersion)} is not one berth reads (${RESULT_VERSIONS.join(", ")})`);
  }
  const legacy = isLegacy(cniVersion);
  const interfaces = list(output.interfaces, "interfaces", readInterface);
  if (interfaces.isErr()) return bad(interfaces.error);
  const ips = list(output.ips, "ips", (v, at) => readIp(v, at, legacy));
  if (ips.isErr()) return bad(ips.error);
  const routes = list(output.routes, "routes", readRoute);
  if (routes.isErr()) return bad(routes.error);
  const dns = output.dns === undefined || output.dns === null ? ok({}) : readDns(output.dns);
  if (dns.isErr()) return bad(dns.error);
  return ok({
    cniVersion,
    ...(interfaces.value === undefined ? {} : { interfaces: interfaces.value }),
    ...(ips.value === undefined ? {} : { ips: ips.value }),
    ...(routes.value === undefined ? {} : { routes: routes.value }),
    dns: dns.value,
  });
}

/**
 * Converts a result to another spec version, both ways, as libcni's `GetAsVersion` does: between 0.3.0, 0.3.1 and
 * 0.4.0 only the label changes; going to 1.0.0 or later drops `ips[].version`; going below 1.0.0 adds it (from the
 * address family) and drops the interface fields 0.4.0 does not know (`mtu`, `socketPath`, `pciID`). Fails with
 * `IncompatibleVersion` for a target outside 0.3.0 ... 1.1.0.
 */
export function convertResult(result: CniResult, toVersion: string): Result<CniResult, CniError> {
  if (!isResultVersion(toVersion)) {
    return err(
      new CniError(
        "IncompatibleVersion",
        `cannot convert a CNI result to version ${JSON.stringify(toVersion)}: berth converts between ` +
          `${RESULT_VERSIONS.join(", ")}; use a configuration with one of these versions`,
      ),
    );
  }
  if (result.cniVersion === toVersion) return ok(result);
  const legacy = isLegacy(toVersion);
  const interfaces = legacy
    ? result.interfaces?.map((i) => omitUndefined({ name: i.name, mac: i.mac, sandbox: i.sandbox }) as CniInterface)
    : result.interfaces;
  const ips = result.ips?.map((ip) => {
    const { version: _drop, ...rest } = ip;
    return legacy ? { version: ip.version ?? familyOf(ip.address), ...rest } : rest;
  });
  return ok({
    cniVersion: toVersion,
    ...(interfaces === undefined ? {} : { interfaces }),
    ...(ips === undefined ? {} : { ips }),
    ...(result.routes === undefined ? {} : { routes: result.routes }),
    dns: result.dns,
  });
}

/**
 * The result's JSON as libcni writes it (its Go struct order, empty lists left out, `dns` always present).
 * This is what the next plugin of a list receives as `prevResult`.
 */
export function resultToJson(result: CniResult): Record<string, unknown> {
  const legacy = isLegacy(result.cniVersion);
  const out: Record<string, unknown> = { cniVersion: result.cniVersion };
  if (result.interfaces?.length) {
    out.interfaces = result.interfaces.map((i) =>
      omitUndefined({
        name: i.name,
        mac: i.mac || undefined,
        ...(legacy ? {} : { mtu: i.mtu || undefined }),
        sandbox: i.sandbox || undefined,
        ...(legacy ? {} : { socketPath: i.socketPath || undefined, pciID: i.pciID || undefined }),
      }),
    );
  }
  if (result.ips?.length) {
    out.ips = result.ips.map((ip) =>
      omitUndefined({
        ...(legacy ? { version: ip.version ?? familyOf(ip.address) } : {}),
        interface: ip.interface,
        address: ip.address,
        gateway: ip.gateway || undefined,
      }),
    );
  }
  if (result.routes?.length) {
    out.routes = result.routes.map((r) =>
      omitUndefined({
        dst: r.dst,
        gw: r.gw || undefined,
        mtu: r.mtu || undefined,
        advmss: r.advmss || undefined,
        priority: r.priority || undefined,
        table: r.table,
        scope: r.scope,
      }),
    );
  }
  const dns = omitUndefined({
    nameservers: result.dns.nameservers?.length ? result.dns.nameservers : undefined,
    domain: result.dns.domain || undefined,
    search: result.dns.search?.length ? result.dns.search : undefined,
    options: result.dns.options?.length ? result.dns.options : undefined,
  });
  out.dns = dns;
  return out;
}

function isResultVersion(version: string): version is (typeof RESULT_VERSIONS)[number] {
  return (RESULT_VERSIONS as readonly string[]).includes(version);
}

// 0.3.x and 0.4.0 results carry ips[].version and know no 1.1 interface fields.
function isLegacy(version: string): boolean {
  const v = parseVersion(version);
  return v.isOk() && compareSpecVersions(v.value, { major: 1, minor: 0, patch: 0 }) < 0;
}

function familyOf(address: string): "4" | "6" {
  return address.includes(":") ? "6" : "4";
}

function omitUndefined<T extends Record<string, unknown>>(value: T): T {
  for (const k of Object.keys(value)) if (value[k] === undefined) delete value[k];
  return value;
}

function list<T>(
  value: unknown,
  key: string,
  read: (v: unknown, at: string) => Result<T, string>,
): Result<T[] | undefined, string> {
  if (value === undefined || value === null) return ok(undefined);
  if (!Array.isArray(value)) return err(`"${key}" is not a list`);
  const out: T[] = [];
  for (const [i, v] of value.entries()) {
    const item = read(v, `"${key}"[${i}]`);
    if (item.isErr()) return err(item.error);
    out.push(item.value);
  }
  return ok(out);
}

type Fields = Record<string, "string" | "number">;

function readFields(
  v: unknown,
  at: string,
  required: Fields,
  optional: Fields,
): Result<Record<string, unknown>, string> {
  if (!isRecord(v)) return err(`${at} is not an object`);
  const out: Record<string, unknown> = {};
  for (const [k, type] of Object.entries(required)) {
    if (typeof v[k] !== type) return err(`${at}."${k}" is missing or not a ${type}`);
    out[k] = v[k];
  }
  for (const [k, type] of Object.entries(optional)) {
    const x = v[k];
    if (x === undefined || x === null) continue;
    if (typeof x !== type) return err(`${at}."${k}" is not a ${type}`);
    out[k] = x;
  }
  return ok(out);
}

function readInterface(v: unknown, at: string): Result<CniInterface, string> {
  return readFields(
    v,
    at,
    { name: "string" },
    { mac: "string", mtu: "number", sandbox: "string", socketPath: "string", pciID: "string" },
  ).map((f) => f as unknown as CniInterface);
}

function readIp(v: unknown, at: string, legacy: boolean): Result<CniIpConfig, string> {
  return readFields(
    v,
    at,
    { address: "string" },
    { version: "string", interface: "number", gateway: "string" },
  ).andThen((f) => {
    if (f.version !== undefined && f.version !== "4" && f.version !== "6") {
      return err(`${at}."version" must be "4" or "6"`);
    }
    if (!legacy) delete f.version;
    return ok(f as unknown as CniIpConfig);
  });
}

function readRoute(v: unknown, at: string): Result<CniRoute, string> {
  return readFields(
    v,
    at,
    { dst: "string" },
    { gw: "string", mtu: "number", advmss: "number", priority: "number", table: "number", scope: "number" },
  ).map((f) => f as unknown as CniRoute);
}

function readDns(v: unknown): Result<CniDns, string> {
  if (!isRecord(v)) return err(`"dns" is not an object`);
  const out: Record<string, unknown> = {};
  if (v.domain !== undefined && v.domain !== null) {
    if (typeof v.domain !== "string") return err(`"dns"."domain" is not a string`);
    out.domain = v.domain;
  }
  for (const k of ["nameservers", "search", "options"] as const) {
    const x = v[k];
    if (x === undefined || x === null) continue;
    if (!Array.isArray(x) || !x.every((s) => typeof s === "string"))
      return err(`"dns"."${k}" is not a list of strings`);
    out[k] = x;
  }
  return ok(out as CniDns);
}
