import { err, ok, type Result } from "neverthrow";
import type { PluginConfig } from "./config.js";
import { CniError } from "./errors.js";
import { escapeGo, goMarshal } from "./go-json.js";
import { type CniResult, resultToJson } from "./result.js";

/** The CNI commands a runtime sends. */
export type CniCommand = "ADD" | "CHECK" | "DEL" | "GC" | "STATUS" | "VERSION";

/**
 * One attachment of a container to a network: libcni's `RuntimeConf`. The cache key is (network, `containerId`,
 * `ifName`).
 */
export interface Attachment {
  /** The container's id (`CNI_CONTAINERID`): a letter or digit, then letters, digits, '_', '.' or '-'. */
  readonly containerId: string;
  /** Path of the network namespace (`CNI_NETNS`), e.g. `/var/run/netns/web`. May be omitted for DEL. */
  readonly netns?: string;
  /** The interface to create inside the namespace (`CNI_IFNAME`), e.g. `eth0`. */
  readonly ifName: string;
  /** `CNI_ARGS` as key/value pairs (sent as `K1=V1;K2=V2`). */
  readonly args?: ReadonlyArray<readonly [string, string]>;
  /**
   * Capability args (`portMappings`, `ipRanges`, `bandwidth`, `dns`, `ips`, `mac`, ...): each plugin gets, in its
   * `runtimeConfig`, the ones its `capabilities` enable.
   */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

/** What {@link buildPluginStdin} injects into one plugin's configuration. */
export interface PluginStdinInput {
  /** The list's name, injected as `name`. */
  readonly network: string;
  /** The list's negotiated version, injected as `cniVersion`. */
  readonly cniVersion: string;
  /** The previous plugin's result (ADD), or the cached result (CHECK, DEL). */
  readonly prevResult?: CniResult;
  /** The runtime's capability args; only those the plugin's `capabilities` enable go into `runtimeConfig`. */
  readonly capabilityArgs?: Readonly<Record<string, unknown>>;
}

/**
 * The `runtimeConfig` a plugin gets: the capability args whose names the plugin's `capabilities` set to true
 * (libcni's `injectRuntimeConfig`). `undefined` when there are none.
 */
export function runtimeConfigFor(
  plugin: PluginConfig,
  capabilityArgs: Readonly<Record<string, unknown>> | undefined,
): Record<string, unknown> | undefined {
  if (!capabilityArgs || !plugin.capabilities) return undefined;
  const rc: Record<string, unknown> = {};
  for (const [name, enabled] of Object.entries(plugin.capabilities)) {
    if (enabled === true && Object.hasOwn(capabilityArgs, name)) rc[name] = capabilityArgs[name];
  }
  return Object.keys(rc).length > 0 ? rc : undefined;
}

/**
 * One plugin's stdin, byte for byte as libcni's `buildOneConfig` produces it: the plugin's configuration with
 * `name`, `cniVersion`, `prevResult` (when given) and `runtimeConfig` (when a capability matches) injected, keys
 * sorted as Go's map encoder sorts them. Unknown keys pass through.
 */
export function buildPluginStdin(plugin: PluginConfig, input: PluginStdinInput): string {
  const rc = runtimeConfigFor(plugin, input.capabilityArgs);
  const conf: Record<string, unknown> = { ...plugin, name: input.network, cniVersion: input.cniVersion };
  if (rc !== undefined) {
    // libcni re-decodes the config to inject runtimeConfig, so prevResult's keys get sorted too.
    if (input.prevResult) conf.prevResult = resultToJson(input.prevResult);
    conf.runtimeConfig = rc;
    return goMarshal(conf);
  }
  if (!input.prevResult) return goMarshal(conf);
  // prevResult is a Go struct here: it keeps its field order while the rest is sorted.
  const keys = [...Object.keys(conf), "prevResult"].sort();
  const prev = escapeGo(JSON.stringify(resultToJson(input.prevResult)));
  const parts: string[] = [];
  for (const k of keys) {
    if (k === "prevResult") parts.push(`"prevResult":${prev}`);
    else if (conf[k] !== undefined) parts.push(`${goMarshal(k)}:${goMarshal(conf[k])}`);
  }
  return `{${parts.join(",")}}`;
}

/** The invocation variables of one plugin run (everything else in the environment is the caller's). */
export interface PluginEnvInput {
  readonly command: CniCommand;
  readonly containerId?: string;
  readonly netns?: string;
  readonly ifName?: string;
  readonly args?: ReadonlyArray<readonly [string, string]>;
  /** The plugin directories, joined with ':' into `CNI_PATH`. */
  readonly cniPath: readonly string[];
}

/**
 * A plugin's environment as libcni's `Args.AsEnv` builds it: the base environment (libcni passes the runtime's own
 * environment, which is how plugins find `iptables` and friends on `PATH`), then all six `CNI_*` variables
 * (empty when not applicable), which override any of the same name in the base.
 */
export function pluginEnv(
  base: Readonly<Record<string, string | undefined>>,
  input: PluginEnvInput,
): Record<string, string> {
  const env: Record<string, string> = {};
  // Keys, then one read each: Object.entries on process.env (the usual base) costs twice as much.
  for (const k of Object.keys(base)) {
    const v = base[k];
    if (v !== undefined) env[k] = v;
  }
  env.CNI_COMMAND = input.command;
  env.CNI_CONTAINERID = input.containerId ?? "";
  env.CNI_NETNS = input.netns ?? "";
  env.CNI_ARGS = (input.args ?? []).map(([k, v]) => `${k}=${v}`).join(";");
  env.CNI_IFNAME = input.ifName ?? "";
  env.CNI_PATH = input.cniPath.join(":");
  return env;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
// Linux IFNAMSIZ is 16 including the terminating NUL.
const MAX_IFNAME = 15;

/**
 * Checks a container id and interface name with libcni's rules (`ValidateContainerID`, `ValidateInterfaceName`).
 * Fails with `InvalidEnvironment`.
 */
export function validateAttachment(attachment: Attachment, network?: string): Result<void, CniError> {
  const fields = network === undefined ? {} : { network };
  const { containerId, ifName } = attachment;
  if (!CONTAINER_ID.test(containerId)) {
    return err(
      new CniError(
        "InvalidEnvironment",
        `invalid container id ${JSON.stringify(containerId)}: use a letter or digit, then letters, digits, '_', '.' ` +
          `or '-' (e.g. "web-1")`,
        fields,
      ),
    );
  }
  if (ifName === "" || ifName.length > MAX_IFNAME || ifName === "." || ifName === ".." || /[/:\s]/.test(ifName)) {
    return err(
      new CniError(
        "InvalidEnvironment",
        `invalid interface name ${JSON.stringify(ifName)}: use 1 to ${MAX_IFNAME} characters without '/', ':' or ` +
          `spaces (e.g. "eth0")`,
        fields,
      ),
    );
  }
  return ok(undefined);
}
