import { err, ok, type Result } from "neverthrow";
import { CniError, isRecord } from "./errors.js";
import { parseVersion } from "./version.js";

/**
 * One plugin of a network: the JSON object from the configuration, with every key preserved as written
 * (unknown keys pass through to the plugin unchanged). Numbers go through JavaScript's `JSON.parse`, i.e.
 * float64, as they do in libcni's Go `interface{}` round trip.
 */
export interface PluginConfig {
  /** The plugin binary's name, looked up on the CNI path. */
  readonly type: string;
  /** Capability args the plugin accepts (`portMappings`, `ipRanges`, ...), when declared. */
  readonly capabilities?: Readonly<Record<string, boolean>>;
  readonly [key: string]: unknown;
}

/** A network configuration list (a `.conflist`): a named network and the plugins that build it, in order. */
export interface NetworkConfigList {
  /** The network's name. */
  readonly name: string;
  /** `cniVersion` as written; empty when the file has none. Use {@link negotiateVersion} to pick the version to run. */
  readonly cniVersion: string;
  /** `cniVersions` as written (spec 1.1), when present. */
  readonly cniVersions?: readonly string[];
  /** Runtimes must not call CHECK for this network. */
  readonly disableCheck: boolean;
  /** Runtimes must not call GC for this network. */
  readonly disableGC: boolean;
  /** Only the inlined `plugins` count; plugin files in the sibling `<dir>/<name>/` directory are ignored. */
  readonly loadOnlyInlinedPlugins: boolean;
  /** The plugins, in invocation order (ADD order). */
  readonly plugins: readonly PluginConfig[];
  /** The configuration's exact bytes (the file as read, or the text given). */
  readonly bytes: Uint8Array;
  /** The file it was loaded from, when it came from a file. */
  readonly path?: string;
}

/** A single-plugin network configuration (the older `.conf` format). */
export interface NetworkConfig {
  /** The network's name. */
  readonly name: string;
  /** `cniVersion` as written; empty when the file has none. */
  readonly cniVersion: string;
  /** The whole object, which is also the plugin's configuration. */
  readonly plugin: PluginConfig;
  /** The configuration's exact bytes. */
  readonly bytes: Uint8Array;
  /** The file it was loaded from, when it came from a file. */
  readonly path?: string;
}

/** Where configuration text came from, for error messages. */
export interface ParseOptions {
  /** The file the text was read from. */
  readonly path?: string;
}

// CNI network names (libcni's utils.ValidateNetworkName and the spec): an alphanumeric first character, then
// alphanumerics, '_', '.' or '-'.
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * Parses a network configuration list (`.conflist` JSON). Fails with `InvalidConfig` naming the offending key
 * for what libcni rejects: text that is not a JSON object, a missing or non-string `name`, a `cniVersion` that is
 * not a string, a `cniVersions` that is not a list of version strings, `disableCheck` / `disableGC` /
 * `loadOnlyInlinedPlugins` that are neither booleans nor `"true"`/`"false"`, a `plugins` that is not a non-empty
 * list, or a plugin without a string `type` or with wrongly typed `capabilities`, `ipam` or `dns`.
 *
 * berth also checks, earlier than libcni does (which would only fail when a plugin runs): the network name's
 * characters, that `cniVersion` parses as a version, and that `type` is a bare binary name.
 * A list without `plugins` is rejected here; {@link loadConfList} can take its plugins from files.
 */
export function parseConfList(
  text: string | Uint8Array,
  options: ParseOptions = {},
): Result<NetworkConfigList, CniError> {
  return parseConfListInternal(text, options, false);
}

/** @internal parseConfList that may leave `plugins` empty when the key is absent (for sibling plugin files). */
export function parseConfListInternal(
  text: string | Uint8Array,
  options: ParseOptions,
  allowMissingPlugins: boolean,
): Result<NetworkConfigList, CniError> {
  const what = describeSource("network configuration list", options.path);
  const parsed = decodeObject(text, what, options.path);
  if (parsed.isErr()) return err(parsed.error);
  const { raw, bytes } = parsed.value;
  const fail = (why: string, network?: string) => err(invalid(`${what}: ${why}`, options.path, network));

  if (!("name" in raw)) return fail(`it has no "name": add one, e.g. "name": "mynet"`);
  const name = checkName(raw.name);
  if (name.isErr()) return fail(name.error);
  const network = name.value;

  // libcni requires a list's cniVersion, when present, to be a string (null included).
  if (raw.cniVersion === null) return fail(`"cniVersion" must be a string such as "1.0.0", not null`, network);
  const cniVersion = checkVersionField(raw.cniVersion, "cniVersion");
  if (cniVersion.isErr()) return fail(cniVersion.error, network);
  let cniVersions: string[] | undefined;
  if ("cniVersions" in raw) {
    if (!Array.isArray(raw.cniVersions)) {
      return fail(`"cniVersions" must be a list of version strings, e.g. ["1.0.0", "1.1.0"]`, network);
    }
    cniVersions = [];
    for (const [i, v] of raw.cniVersions.entries()) {
      if (typeof v !== "string" || v === "") {
        return fail(`"cniVersions"[${i}] must be a version string such as "1.0.0", not ${JSON.stringify(v)}`, network);
      }
      const checked = checkVersionField(v, `cniVersions[${i}]`);
      if (checked.isErr()) return fail(checked.error, network);
      cniVersions.push(v);
    }
  }

  const flags: Record<"disableCheck" | "disableGC" | "loadOnlyInlinedPlugins", boolean> = {
    disableCheck: false,
    disableGC: false,
    loadOnlyInlinedPlugins: false,
  };
  for (const key of ["disableCheck", "disableGC", "loadOnlyInlinedPlugins"] as const) {
    const value = readBool(raw[key]);
    if (value === undefined) {
      return fail(
        `"${key}" must be true or false (or the strings "true"/"false"), not ${JSON.stringify(raw[key])}`,
        network,
      );
    }
    flags[key] = value;
  }

  const plugins: PluginConfig[] = [];
  if (!("plugins" in raw)) {
    if (flags.loadOnlyInlinedPlugins) {
      return fail(`"loadOnlyInlinedPlugins" is true but there is no "plugins" list: add the plugins inline`, network);
    }
    if (!allowMissingPlugins) {
      return fail(`it has no "plugins": add a list such as "plugins": [{"type": "bridge"}]`, network);
    }
  } else {
    if (!Array.isArray(raw.plugins)) return fail(`"plugins" must be a list of plugin objects`, network);
    if (raw.plugins.length === 0) {
      return fail(`"plugins" is empty: add at least one plugin, e.g. {"type": "bridge"}`, network);
    }
    for (const [i, p] of raw.plugins.entries()) {
      const plugin = checkPlugin(p);
      if (plugin.isErr()) return fail(`"plugins"[${i}] ${plugin.error}`, network);
      plugins.push(plugin.value);
    }
  }

  return ok({
    name: network,
    cniVersion: cniVersion.value,
    ...(cniVersions === undefined ? {} : { cniVersions }),
    ...flags,
    plugins,
    bytes,
    ...(options.path === undefined ? {} : { path: options.path }),
  });
}

/**
 * Parses a single-plugin network configuration (`.conf` JSON): a plugin object that also carries the network's
 * `name` and `cniVersion`. Fails with `InvalidConfig` for a missing `type` (libcni's rule) and, in berth, for a
 * missing or malformed `name` (no runtime can invoke a nameless network). Use {@link confListFromConf} to run it.
 */
export function parseConf(text: string | Uint8Array, options: ParseOptions = {}): Result<NetworkConfig, CniError> {
  const what = describeSource("network configuration", options.path);
  const parsed = decodeObject(text, what, options.path);
  if (parsed.isErr()) return err(parsed.error);
  const { raw, bytes } = parsed.value;
  const fail = (why: string, network?: string) => err(invalid(`${what}: ${why}`, options.path, network));
  const plugin = checkPlugin(raw);
  if (plugin.isErr()) {
    const hint = "plugins" in raw ? ` (it has "plugins": is it a .conflist? use parseConfList)` : "";
    return fail(`${plugin.error}${hint}`);
  }
  if (!("name" in raw)) return fail(`it has no "name": add one, e.g. "name": "mynet"`);
  const name = checkName(raw.name);
  if (name.isErr()) return fail(name.error);
  const cniVersion = checkVersionField(raw.cniVersion, "cniVersion");
  if (cniVersion.isErr()) return fail(cniVersion.error, name.value);
  return ok({
    name: name.value,
    cniVersion: cniVersion.value,
    plugin: plugin.value,
    bytes,
    ...(options.path === undefined ? {} : { path: options.path }),
  });
}

/**
 * Turns a single-plugin configuration into a one-plugin list the way libcni's `ConfListFromConf` does: the list
 * gets the configuration's `name` and `cniVersion`, and its only plugin is the whole original object (including
 * `name` and `cniVersion`, which are overwritten with the list's when the plugin runs anyway). `bytes` is the JSON
 * of that synthesized list.
 */
export function confListFromConf(conf: NetworkConfig): NetworkConfigList {
  const list = { name: conf.name, cniVersion: conf.cniVersion, plugins: [conf.plugin] };
  return {
    name: conf.name,
    cniVersion: conf.cniVersion,
    disableCheck: false,
    disableGC: false,
    loadOnlyInlinedPlugins: false,
    plugins: [conf.plugin],
    bytes: new TextEncoder().encode(JSON.stringify(list)),
    ...(conf.path === undefined ? {} : { path: conf.path }),
  };
}

/**
 * Parses one plugin configuration object on its own (a file in a list's sibling plugin directory): a JSON object
 * with a string `type`, as libcni's `NetworkPluginConfFromBytes` requires.
 */
export function parsePluginConf(text: string | Uint8Array, options: ParseOptions = {}): Result<PluginConfig, CniError> {
  const what = describeSource("plugin configuration", options.path);
  return decodeObject(text, what, options.path).andThen(({ raw }) => {
    const plugin = checkPlugin(raw);
    return plugin.isErr() ? err(invalid(`${what}: ${plugin.error}`, options.path)) : ok(plugin.value);
  });
}

function describeSource(kind: string, path: string | undefined): string {
  return path === undefined ? `invalid CNI ${kind}` : `invalid CNI ${kind} ${path}`;
}

function invalid(message: string, path: string | undefined, network?: string): CniError {
  return new CniError("InvalidConfig", message, {
    ...(path === undefined ? {} : { path }),
    ...(network === undefined ? {} : { network }),
  });
}

function decodeObject(
  text: string | Uint8Array,
  what: string,
  path: string | undefined,
): Result<{ raw: Record<string, unknown>; bytes: Uint8Array }, CniError> {
  const bytes = typeof text === "string" ? new TextEncoder().encode(text) : text;
  const source = typeof text === "string" ? text : new TextDecoder().decode(text);
  let raw: unknown;
  try {
    raw = JSON.parse(source);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    return err(
      new CniError("InvalidConfig", `${what}: it is not valid JSON (${why}): fix the syntax`, {
        ...(path === undefined ? {} : { path }),
        cause,
      }),
    );
  }
  if (!isRecord(raw)) {
    return err(invalid(`${what}: expected a JSON object, got ${jsonKind(raw)}`, path));
  }
  return ok({ raw, bytes });
}

function checkName(value: unknown): Result<string, string> {
  if (typeof value !== "string") return err(`"name" must be a string, not ${jsonKind(value)}`);
  if (!NETWORK_NAME.test(value)) {
    return err(
      `network name ${JSON.stringify(value)} is invalid: start with a letter or digit, then use only letters, ` +
        `digits, '_', '.' or '-' (e.g. "berth-net")`,
    );
  }
  return ok(value);
}

// An absent (or, in a plugin object, null) cniVersion reads as "" (Go leaves the string empty); anything else must
// be a version string.
function checkVersionField(value: unknown, key: string): Result<string, string> {
  if (value === undefined || value === null) return ok("");
  if (typeof value !== "string") return err(`"${key}" must be a string such as "1.0.0", not ${jsonKind(value)}`);
  const parsed = parseVersion(value);
  return parsed.isErr() ? err(`"${key}": ${parsed.error.message}`) : ok(value);
}

// libcni's readBool: absent is false; a boolean; or the strings "true"/"false" in any case.
function readBool(value: unknown): boolean | undefined {
  if (value === undefined) return false;
  if (typeof value === "boolean") return value;
  if (typeof value === "string") {
    const lower = value.toLowerCase();
    if (lower === "true") return true;
    if (lower === "false") return false;
  }
  return undefined;
}

// The fields libcni decodes into typed Go fields (types.PluginConf); a JSON null leaves a Go field untouched,
// so null is accepted wherever Go would.
function checkPlugin(value: unknown): Result<PluginConfig, string> {
  if (!isRecord(value)) return err(`must be a JSON object, not ${jsonKind(value)}`);
  const { type } = value;
  if (type === undefined || type === null || type === "") {
    return err(`is missing "type": name the plugin binary, e.g. "type": "bridge"`);
  }
  if (typeof type !== "string") return err(`"type" must be a string, not ${jsonKind(type)}`);
  if (type.includes("/")) {
    return err(`"type" ${JSON.stringify(type)} must be a bare plugin binary name without '/', e.g. "bridge"`);
  }
  for (const key of ["name", "cniVersion"] as const) {
    const v = value[key];
    if (v !== undefined && v !== null && typeof v !== "string")
      return err(`"${key}" must be a string, not ${jsonKind(v)}`);
  }
  const { capabilities, ipam, dns } = value;
  if (capabilities !== undefined && capabilities !== null) {
    if (!isRecord(capabilities))
      return err(`"capabilities" must be an object of booleans, e.g. {"portMappings": true}`);
    for (const [k, v] of Object.entries(capabilities)) {
      if (typeof v !== "boolean" && v !== null) return err(`"capabilities"."${k}" must be true or false`);
    }
  }
  if (ipam !== undefined && ipam !== null) {
    if (!isRecord(ipam)) return err(`"ipam" must be an object, e.g. {"type": "host-local"}`);
    if (ipam.type !== undefined && ipam.type !== null && typeof ipam.type !== "string") {
      return err(`"ipam"."type" must be a string, not ${jsonKind(ipam.type)}`);
    }
  }
  if (dns !== undefined && dns !== null) {
    if (!isRecord(dns)) return err(`"dns" must be an object`);
    if (dns.domain !== undefined && dns.domain !== null && typeof dns.domain !== "string") {
      return err(`"dns"."domain" must be a string`);
    }
    for (const key of ["nameservers", "search", "options"] as const) {
      const list = dns[key];
      if (list === undefined || list === null) continue;
      if (!Array.isArray(list) || !list.every((x) => typeof x === "string" || x === null)) {
        return err(`"dns"."${key}" must be a list of strings`);
      }
    }
  }
  return ok(value as PluginConfig);
}

function jsonKind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}
