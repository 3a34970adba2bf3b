import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import {
  type CachedAttachment,
  DEFAULT_CACHE_DIR,
  deleteCachedAttachment,
  type ListCachedOptions,
  listCachedAttachments,
  readCachedAttachment,
  writeCachedAttachment,
} from "./cache.js";
import type { NetworkConfigList, PluginConfig } from "./config.js";
import { CniError } from "./errors.js";
import { type CniPath, type ExecOptions, execPlugin, findPlugin, splitCniPath } from "./exec.js";
import { goMarshal } from "./go-json.js";
import { type Attachment, buildPluginStdin, type CniCommand, pluginEnv, validateAttachment } from "./invoke.js";
import { type PluginVersionInfo, probeVersion } from "./probe-version.js";
import { type CniResult, convertResult, parseResult, resultToJson } from "./result.js";
import { compareVersions, negotiateVersion } from "./version.js";

const debug = createDebug("berth:cni");

/** How {@link createCni} finds plugins, where it caches results and what environment plugins inherit. */
export interface CniOptions {
  /** Directories holding plugin binaries, searched in order; also passed to plugins as `CNI_PATH`. */
  readonly cniPath: CniPath;
  /** The cache root (results go to `<cacheDir>/results`); default libcni's `/var/lib/cni`. */
  readonly cacheDir?: string;
  /**
   * The environment plugins inherit before the `CNI_*` variables are added. Default: this process's environment,
   * as libcni passes the runtime's (plugins such as portmap and firewall run `iptables` found on `PATH`).
   */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * Start plugins through berth's resident launcher (default true), a small `perl` process that forks and execs
   * them so that this process is not forked for every plugin run; `false` spawns each plugin directly. Plugins see
   * no difference. See {@link ExecOptions.launcher}.
   */
  readonly launcher?: boolean;
}

/** Cancellation and a deadline for one operation (all its plugin runs together). */
export interface OperationOptions {
  /** Aborting kills the running plugin and fails with `Aborted`. */
  readonly signal?: AbortSignal;
  /** Milliseconds for the whole operation; the running plugin is killed and the call fails with `Timeout`. */
  readonly timeoutMs?: number;
}

/** Options of {@link Cni.add}. */
export interface AddOptions extends OperationOptions {
  /**
   * When a plugin fails (or the result cannot be cached), run DEL for it and every plugin before it, in reverse,
   * so no half-wired namespace is left behind. Default true.
   */
  readonly rollback?: boolean;
  /** Deadline of the rollback, which runs even after an abort or a timeout. Default 30 000 ms (the ECS agent's). */
  readonly rollbackTimeoutMs?: number;
}

/** An attachment GC must keep (spec 1.1 `cni.dev/valid-attachments`). */
export interface GcAttachment {
  readonly containerId: string;
  readonly ifName: string;
}

/** The cached state of an attachment, from {@link Cni.cachedAttachment}. */
export interface CachedState {
  readonly attachment: CachedAttachment;
  /** The cached result converted to the list's version; undefined when it has none or it does not decode. */
  readonly result: CniResult | undefined;
}

/** A CNI invoker with libcni's behaviour: see {@link createCni}. */
export interface Cni {
  /** The plugin directories, in search order. */
  readonly cniPath: readonly string[];
  /** The cache root. */
  readonly cacheDir: string;
  /**
   * ADD: runs the plugins in order, each getting the previous result as `prevResult`, caches the final result
   * (libcni's format and file) and returns it. On failure the earlier plugins are rolled back (see
   * {@link AddOptions.rollback}).
   */
  add(list: NetworkConfigList, attachment: Attachment, options?: AddOptions): ResultAsync<CniResult, CniError>;
  /**
   * CHECK: runs the plugins in order with the cached result as `prevResult`. A no-op for lists with
   * `disableCheck`; `IncompatibleVersion` for versions below 0.4.0.
   */
  check(list: NetworkConfigList, attachment: Attachment, options?: OperationOptions): ResultAsync<void, CniError>;
  /**
   * DEL: runs the plugins in reverse with the cached result as `prevResult` (0.4.0 and later), then removes the
   * cache file. An empty or corrupt cache file does not stop it. Idempotent as far as the plugins are. Without
   * `capabilityArgs` in the attachment, the cached ones are used.
   */
  del(list: NetworkConfigList, attachment: Attachment, options?: OperationOptions): ResultAsync<void, CniError>;
  /**
   * GC: DELs every cached attachment of this network that is not in `valid`, then (1.1.0 and later) sends GC with
   * `cni.dev/valid-attachments` to every plugin. A no-op for lists with `disableGC`. Keeps going after failures and
   * reports the first, counting the others.
   */
  gc(list: NetworkConfigList, valid: readonly GcAttachment[], options?: OperationOptions): ResultAsync<void, CniError>;
  /** STATUS (1.1.0 and later; a no-op below): asks each plugin in order whether it is ready, stops at the first error. */
  status(list: NetworkConfigList, options?: OperationOptions): ResultAsync<void, CniError>;
  /** VERSION: which spec versions a plugin supports. */
  versionInfo(pluginType: string, options?: OperationOptions): ResultAsync<PluginVersionInfo, CniError>;
  /**
   * Negotiates the list's version and checks every plugin exists and supports it (libcni's
   * `ValidateNetworkList`). Returns the version and the capabilities the plugins declare.
   */
  validate(
    list: NetworkConfigList,
    options?: OperationOptions,
  ): ResultAsync<{ readonly cniVersion: string; readonly capabilities: readonly string[] }, CniError>;
  /** The cached attachment and result, `undefined` when nothing is cached. */
  cachedAttachment(list: NetworkConfigList, attachment: Attachment): ResultAsync<CachedState | undefined, CniError>;
  /** The attachments in the cache (libcni's `GetCachedAttachments`), optionally filtered. */
  cachedAttachments(filter?: ListCachedOptions): ResultAsync<CachedAttachment[], CniError>;
}

/**
 * Creates a CNI invoker that drives plugins as libcni does: the same environment and stdin, the same cache
 * (`<cacheDir>/results/<network>-<containerId>-<ifName>`, shareable with containerd, CRI-O and cnitool) and the same
 * order of operations. Nothing is serialized: concurrent operations for different attachments run in parallel
 * (IPAM plugins lock their own state).
 *
 * @example
 * ```ts
 * const cni = createCni({ cniPath: ["/opt/cni/bin"] });
 * const result = await cni.add(list, { containerId: "web-1", netns: "/var/run/netns/web-1", ifName: "eth0" });
 * if (result.isOk()) console.log(result.value.ips);
 * ```
 */
export function createCni(options: CniOptions): Cni {
  const dirs = splitCniPath(options.cniPath);
  const cacheDir = options.cacheDir ?? DEFAULT_CACHE_DIR;
  const base = options.env ?? process.env;
  const run = async (
    command: CniCommand,
    plugin: PluginConfig,
    stdin: string,
    network: string,
    attachment: Attachment | undefined,
    deadline: Deadline,
  ): Promise<Result<unknown, CniError>> => {
    // Looked up on every run, as libcni does: plugins may be installed or replaced at any time.
    const path = await findPlugin(plugin.type, dirs);
    if (path.isErr()) return err(withNetwork(path.error, network));
    const remaining = deadline.remaining(plugin.type, network, command);
    if (remaining.isErr()) return err(remaining.error);
    const env = pluginEnv(base, {
      command,
      cniPath: dirs,
      ...(attachment === undefined
        ? {}
        : {
            containerId: attachment.containerId,
            ifName: attachment.ifName,
            ...(attachment.netns === undefined ? {} : { netns: attachment.netns }),
            ...(attachment.args === undefined ? {} : { args: attachment.args }),
          }),
    });
    const out = await execPlugin(
      { plugin: plugin.type, path: path.value, env, stdin, network, stdout: command === "ADD" ? "json" : "ignore" },
      {
        ...(deadline.signal === undefined ? {} : { signal: deadline.signal }),
        ...(remaining.value === undefined ? {} : { timeoutMs: remaining.value }),
        ...(options.launcher === undefined ? {} : { launcher: options.launcher }),
      },
    );
    if (out.isErr()) {
      // A plugin that gets no more time after an earlier one used it up still reports the operation's deadline.
      if (out.error.code === "Timeout" && remaining.value !== undefined)
        return err(deadline.timeoutError(plugin.type, network, command));
      return err(out.error);
    }
    return ok(out.value.output);
  };

  const delChain = async (
    list: NetworkConfigList,
    plugins: readonly PluginConfig[],
    version: string,
    attachment: Attachment,
    prevResult: CniResult | undefined,
    deadline: Deadline,
  ): Promise<Result<void, CniError>> => {
    for (let i = plugins.length - 1; i >= 0; i--) {
      const plugin = plugins[i] as PluginConfig;
      const stdin = buildPluginStdin(plugin, {
        network: list.name,
        cniVersion: version,
        ...(prevResult === undefined ? {} : { prevResult }),
        ...(attachment.capabilityArgs === undefined ? {} : { capabilityArgs: attachment.capabilityArgs }),
      });
      const done = await run("DEL", plugin, stdin, list.name, attachment, deadline);
      if (done.isErr()) return err(done.error);
    }
    return ok(undefined);
  };

  const prepare = (list: NetworkConfigList, attachment: Attachment | undefined): Result<string, CniError> =>
    negotiateVersion(list).andThen((version) =>
      attachment === undefined ? ok(version) : validateAttachment(attachment, list.name).map(() => version),
    );

  // The cached result in the list's version: undefined when missing; "corrupt" when unusable.
  const cachedResult = async (
    list: NetworkConfigList,
    version: string,
    attachment: Attachment,
  ): Promise<Result<{ entry?: CachedAttachment; result?: CniResult; problem?: string }, CniError>> => {
    const read = await readCachedAttachment(cacheDir, list.name, attachment.containerId, attachment.ifName);
    if (read.isErr()) return err(read.error);
    const state = read.value;
    if (state.state === "missing") return ok({});
    if (state.state === "corrupt") return ok({ problem: `${state.path}: ${state.reason}` });
    if (state.entry.result === undefined) return ok({ entry: state.entry });
    const result = parseResult(state.entry.result, version, { network: list.name }).andThen((r) =>
      convertResult(r, version),
    );
    if (result.isErr()) return ok({ entry: state.entry, problem: `${state.entry.path}: ${result.error.message}` });
    return ok({ entry: state.entry, result: result.value });
  };

  const cni: Cni = {
    cniPath: dirs,
    cacheDir,

    add(list, attachment, opts = {}) {
      return new ResultAsync(
        (async (): Promise<Result<CniResult, CniError>> => {
          const version = prepare(list, attachment);
          if (version.isErr()) return err(version.error);
          const deadline = new Deadline(opts);
          let prev: CniResult | undefined;
          let failed: CniError | undefined;
          let reached = 0;
          for (const [i, plugin] of list.plugins.entries()) {
            reached = i;
            const stdin = buildPluginStdin(plugin, {
              network: list.name,
              cniVersion: version.value,
              ...(prev === undefined ? {} : { prevResult: prev }),
              ...(attachment.capabilityArgs === undefined ? {} : { capabilityArgs: attachment.capabilityArgs }),
            });
            const out = await run("ADD", plugin, stdin, list.name, attachment, deadline);
            const result = out.andThen((o) =>
              parseResult(o, version.value, { plugin: plugin.type, network: list.name }),
            );
            if (result.isErr()) {
              failed = result.error;
              break;
            }
            prev = result.value;
          }
          if (failed === undefined && prev !== undefined) {
            reached = list.plugins.length - 1;
            const cached = await writeCachedAttachment(cacheDir, {
              containerId: attachment.containerId,
              networkName: list.name,
              ifName: attachment.ifName,
              ...(attachment.netns ? { netns: attachment.netns } : {}),
              ...(attachment.args ? { cniArgs: attachment.args } : {}),
              ...(attachment.capabilityArgs ? { capabilityArgs: attachment.capabilityArgs } : {}),
              config: list.bytes,
              result: resultToJson(prev),
            });
            if (cached.isOk()) {
              debug("ADD %s %s/%s: %o", list.name, attachment.containerId, attachment.ifName, prev.ips);
              return ok(prev);
            }
            failed = cached.error;
          }
          const error = failed as CniError;
          if (opts.rollback === false) return err(error);
          // Roll back the plugin that failed (it may have done part of its work) and every one before it.
          const rollbackDeadline = new Deadline({ timeoutMs: opts.rollbackTimeoutMs ?? 30_000 });
          const plugins = list.plugins.slice(0, reached + 1);
          const undone = await delChain(list, plugins, version.value, attachment, prev, rollbackDeadline);
          const names = plugins.map((p) => p.type).reverse();
          debug(
            "ADD %s failed (%s); rollback of %s: %s",
            list.name,
            error.code,
            names.join(", "),
            undone.isOk() ? "ok" : undone.error.message,
          );
          return err(
            annotate(
              error,
              undone.isOk()
                ? `rolled back: DEL ran for ${names.join(", ")}`
                : `rollback failed, the attachment may be half-wired (call del): ${undone.error.message}`,
            ),
          );
        })(),
      );
    },

    check(list, attachment, opts = {}) {
      return new ResultAsync(
        (async (): Promise<Result<void, CniError>> => {
          const version = prepare(list, attachment);
          if (version.isErr()) return err(version.error);
          const supported = compareVersions(version.value, "0.4.0");
          if (supported.isOk() && supported.value < 0) {
            return err(
              new CniError(
                "IncompatibleVersion",
                `network ${JSON.stringify(list.name)} has version ${version.value}, which does not support the CHECK ` +
                  `command: use cniVersion 0.4.0 or later`,
                { network: list.name },
              ),
            );
          }
          if (list.disableCheck) return ok(undefined);
          const cached = await cachedResult(list, version.value, attachment);
          if (cached.isErr()) return err(cached.error);
          if (cached.value.problem !== undefined) {
            return err(
              new CniError(
                "IOFailure",
                `network ${JSON.stringify(list.name)}: the cached result is unusable (${cached.value.problem}): ` +
                  `DEL and ADD the attachment again`,
                { network: list.name },
              ),
            );
          }
          const deadline = new Deadline(opts);
          for (const plugin of list.plugins) {
            const stdin = buildPluginStdin(plugin, {
              network: list.name,
              cniVersion: version.value,
              ...(cached.value.result === undefined ? {} : { prevResult: cached.value.result }),
              ...(attachment.capabilityArgs === undefined ? {} : { capabilityArgs: attachment.capabilityArgs }),
            });
            const done = await run("CHECK", plugin, stdin, list.name, attachment, deadline);
            if (done.isErr()) return err(done.error);
          }
          return ok(undefined);
        })(),
      );
    },

    del(list, attachment, opts = {}) {
      return new ResultAsync(
        (async (): Promise<Result<void, CniError>> => {
          const version = prepare(list, attachment);
          if (version.isErr()) return err(version.error);
          const withCache = compareVersions(version.value, "0.4.0");
          let prev: CniResult | undefined;
          let capabilityArgs = attachment.capabilityArgs;
          const cached = await cachedResult(list, version.value, attachment);
          if (cached.isOk()) {
            if (cached.value.problem !== undefined) {
              debug("DEL %s: ignoring the cached result: %s", list.name, cached.value.problem);
              await deleteCachedAttachment(cacheDir, list.name, attachment.containerId, attachment.ifName);
            }
            if (withCache.isOk() && withCache.value >= 0) prev = cached.value.result;
            capabilityArgs ??= cached.value.entry?.capabilityArgs;
          } else {
            debug("DEL %s: cannot read the cache: %s", list.name, cached.error.message);
          }
          const deadline = new Deadline(opts);
          const target = capabilityArgs === undefined ? attachment : { ...attachment, capabilityArgs };
          const done = await delChain(list, list.plugins, version.value, target, prev, deadline);
          if (done.isErr()) return err(done.error);
          const removed = await deleteCachedAttachment(cacheDir, list.name, attachment.containerId, attachment.ifName);
          debug("DEL %s %s/%s", list.name, attachment.containerId, attachment.ifName);
          return removed;
        })(),
      );
    },

    gc(list, valid, opts = {}) {
      return new ResultAsync(
        (async (): Promise<Result<void, CniError>> => {
          const version = prepare(list, undefined);
          if (version.isErr()) return err(version.error);
          if (list.disableGC) return ok(undefined);
          const errors: CniError[] = [];
          const keep = new Set(valid.map((a) => `${a.containerId}\u0000${a.ifName}`));
          const cached = await listCachedAttachments(cacheDir, { network: list.name });
          if (cached.isErr()) return err(cached.error);
          for (const entry of cached.value) {
            if (keep.has(`${entry.containerId}\u0000${entry.ifName}`)) continue;
            debug("GC %s: deleting stale attachment %s/%s", list.name, entry.containerId, entry.ifName);
            const removed = await cni.del(
              list,
              {
                containerId: entry.containerId,
                ifName: entry.ifName,
                ...(entry.netns === undefined ? {} : { netns: entry.netns }),
                ...(entry.cniArgs === undefined ? {} : { args: entry.cniArgs }),
                ...(entry.capabilityArgs === undefined ? {} : { capabilityArgs: entry.capabilityArgs }),
              },
              opts,
            );
            if (removed.isErr()) errors.push(removed.error);
          }
          const gcVersion = compareVersions(version.value, "1.1.0");
          if (gcVersion.isOk() && gcVersion.value >= 0) {
            const attachments = valid.map((a) => ({ containerID: a.containerId, ifname: a.ifName }));
            const deadline = new Deadline(opts);
            for (const plugin of list.plugins) {
              const stdin = goMarshal({
                ...plugin,
                name: list.name,
                cniVersion: version.value,
                "cni.dev/valid-attachments": attachments,
                "cni.dev/attachments": attachments,
              });
              const done = await run("GC", plugin, stdin, list.name, undefined, deadline);
              if (done.isErr()) errors.push(done.error);
            }
          }
          const [first, ...rest] = errors;
          if (first === undefined) return ok(undefined);
          return err(rest.length === 0 ? first : annotate(first, `and ${rest.length} more GC failure(s)`));
        })(),
      );
    },

    status(list, opts = {}) {
      return new ResultAsync(
        (async (): Promise<Result<void, CniError>> => {
          const version = prepare(list, undefined);
          if (version.isErr()) return err(version.error);
          const supported = compareVersions(version.value, "1.1.0");
          if (supported.isErr() || supported.value < 0) return ok(undefined);
          const deadline = new Deadline(opts);
          for (const plugin of list.plugins) {
            const stdin = goMarshal({ ...plugin, name: list.name, cniVersion: version.value });
            const done = await run("STATUS", plugin, stdin, list.name, undefined, deadline);
            if (done.isErr()) return err(done.error);
          }
          return ok(undefined);
        })(),
      );
    },

    versionInfo(pluginType, opts = {}) {
      return probeVersion(pluginType, {
        cniPath: dirs,
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
        ...(opts.timeoutMs === undefined ? {} : { timeoutMs: opts.timeoutMs }),
        ...(options.launcher === undefined ? {} : { launcher: options.launcher }),
      });
    },

    validate(list, opts = {}) {
      return new ResultAsync(
        (async () => {
          const version = negotiateVersion(list);
          if (version.isErr()) return err(version.error);
          const caps = new Set<string>();
          for (const plugin of list.plugins) {
            const info = await cni.versionInfo(plugin.type, opts);
            if (info.isErr()) return err(withNetwork(info.error, list.name));
            if (!info.value.supportedVersions.includes(version.value)) {
              return err(
                new CniError(
                  "IncompatibleVersion",
                  `CNI plugin ${JSON.stringify(plugin.type)} (${info.value.path}) does not support version ` +
                    `${version.value} of network ${JSON.stringify(list.name)}; it supports ` +
                    `${info.value.supportedVersions.join(", ")}: change the list's cniVersion or upgrade the plugin`,
                  { plugin: plugin.type, network: list.name },
                ),
              );
            }
            for (const [c, on] of Object.entries(plugin.capabilities ?? {})) if (on) caps.add(c);
          }
          return ok({ cniVersion: version.value, capabilities: [...caps].sort() });
        })(),
      );
    },

    cachedAttachment(list, attachment) {
      return new ResultAsync(
        (async (): Promise<Result<CachedState | undefined, CniError>> => {
          const version = prepare(list, attachment);
          if (version.isErr()) return err(version.error);
          const cached = await cachedResult(list, version.value, attachment);
          if (cached.isErr()) return err(cached.error);
          const { entry, result, problem } = cached.value;
          if (entry === undefined) {
            if (problem === undefined) return ok(undefined);
            return err(
              new CniError("IOFailure", `the cached attachment is unusable (${problem}): DEL removes it`, {
                network: list.name,
              }),
            );
          }
          return ok({ attachment: entry, result });
        })(),
      );
    },

    cachedAttachments(filter = {}) {
      return listCachedAttachments(cacheDir, filter);
    },
  };
  return cni;
}

// One operation's time budget across its plugin runs.
class Deadline {
  readonly signal: AbortSignal | undefined;
  private readonly end: number | undefined;
  private readonly timeoutMs: number | undefined;

  constructor(options: OperationOptions) {
    this.signal = options.signal;
    this.timeoutMs = options.timeoutMs;
    this.end = options.timeoutMs === undefined ? undefined : performance.now() + options.timeoutMs;
  }

  remaining(plugin: string, network: string, command: string): Result<number | undefined, CniError> {
    if (this.end === undefined) return ok(undefined);
    const left = Math.floor(this.end - performance.now());
    return left > 0 ? ok(left) : err(this.timeoutError(plugin, network, command));
  }

  timeoutError(plugin: string, network: string, command: string): CniError {
    return new CniError(
      "Timeout",
      `CNI ${command} of network ${JSON.stringify(network)} did not finish within ${this.timeoutMs} ms ` +
        `(plugin ${JSON.stringify(plugin)} was running or next, and was killed if running): raise timeoutMs or ` +
        `check why the plugin hangs`,
      { plugin, network },
    );
  }
}

function withNetwork(error: CniError, network: string): CniError {
  if (error.network !== undefined) return error;
  return copyError(error, error.message, network);
}

function annotate(error: CniError, note: string): CniError {
  return copyError(error, `${error.message} (${note})`, error.network);
}

function copyError(error: CniError, message: string, network: string | undefined): CniError {
  return new CniError(error.code, message, {
    ...(error.cniCode === undefined ? {} : { cniCode: error.cniCode }),
    ...(error.plugin === undefined ? {} : { plugin: error.plugin }),
    ...(network === undefined ? {} : { network }),
    ...(error.path === undefined ? {} : { path: error.path }),
    ...(error.pluginMessage === undefined ? {} : { pluginMessage: error.pluginMessage }),
    ...(error.details === undefined ? {} : { details: error.details }),
    cause: error,
  });
}
