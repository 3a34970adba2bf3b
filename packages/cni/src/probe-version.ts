import createDebug from "debug";
import { err, ok, type Result, type ResultAsync } from "neverthrow";
import { CniError, isRecord } from "./errors.js";
import { type CniPath, type ExecOptions, execPlugin, findPlugin, splitCniPath } from "./exec.js";
import { CNI_SPEC_VERSION } from "./version.js";

const debug = createDebug("berth:cni");

/** Options of {@link probeVersion}. */
export interface ProbeVersionOptions {
  /** Directories holding plugin binaries, searched in order (also passed to the plugin as `CNI_PATH`). */
  readonly cniPath: CniPath;
  /** Aborting kills the plugin and fails with `Aborted`. */
  readonly signal?: AbortSignal;
  /** Kill the plugin and fail with `Timeout` after this many milliseconds. No limit by default (as libcni). */
  readonly timeoutMs?: number;
  /** Start the plugin through berth's resident launcher (default true); see {@link ExecOptions.launcher}. */
  readonly launcher?: boolean;
}

/** A plugin's answer to the VERSION command. */
export interface PluginVersionInfo {
  /** The version of the VERSION answer itself (the spec version the plugin was built against). */
  readonly cniVersion: string;
  /** Every spec version the plugin accepts in its configuration. */
  readonly supportedVersions: readonly string[];
  /** The binary that answered. */
  readonly path: string;
}

// What a 0.1.0-era plugin answers to the VERSION command it does not know (libcni's GetVersionInfo).
const LEGACY_UNKNOWN_COMMAND = "unknown CNI_COMMAND: VERSION";

/**
 * Asks a plugin which CNI spec versions it supports, as libcni's `GetVersionInfo` does: the plugin is found on
 * `cniPath` ({@link findPlugin}) and run with `CNI_COMMAND=VERSION`, `CNI_PATH` and nothing else in its environment
 * and `{"cniVersion":"1.1.0"}` on stdin.
 *
 * Decoding follows libcni: an answer without `cniVersion` is `InvalidResult`; one without `supportedVersions` is
 * accepted only from a 0.2.0 plugin (meaning 0.1.0 and 0.2.0); a plugin that fails with
 * "unknown CNI_COMMAND: VERSION" predates the command and supports 0.1.0 only.
 *
 * @example
 * ```ts
 * const info = await probeVersion("bridge", { cniPath: ["/opt/cni/bin", "/usr/lib/cni"], timeoutMs: 5_000 });
 * if (info.isOk()) console.log(info.value.supportedVersions); // ["0.1.0", ..., "1.0.0"]
 * ```
 */
export function probeVersion(
  pluginType: string,
  options: ProbeVersionOptions,
): ResultAsync<PluginVersionInfo, CniError> {
  const dirs = splitCniPath(options.cniPath);
  const execOptions = {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.launcher === undefined ? {} : { launcher: options.launcher }),
  };
  return findPlugin(pluginType, dirs)
    .andThen((path) =>
      execPlugin(
        {
          plugin: pluginType,
          path,
          env: { CNI_COMMAND: "VERSION", CNI_PATH: dirs.join(":") },
          stdin: JSON.stringify({ cniVersion: CNI_SPEC_VERSION }),
        },
        execOptions,
      )
        .andThen((run) => decodeVersionInfo(run.output, pluginType, path))
        .orElse((error) => {
          if (error.pluginMessage === undefined || errorText(error) !== LEGACY_UNKNOWN_COMMAND) return err(error);
          debug("%s predates the VERSION command: it supports 0.1.0 only", pluginType);
          return ok({ cniVersion: "0.1.0", supportedVersions: ["0.1.0"], path });
        }),
    )
    .map((info) => {
      debug("%s (%s) supports %s", pluginType, info.path, info.supportedVersions.join(", "));
      return info;
    });
}

// libcni compares the whole error text, i.e. msg plus "; details" when there are details.
function errorText(error: CniError): string {
  const raw = error.cause as { details?: unknown } | undefined;
  const details = typeof raw?.details === "string" && raw.details !== "" ? `; ${raw.details}` : "";
  return `${error.pluginMessage ?? ""}${details}`;
}

/**
 * Decodes a VERSION answer with libcni's rules (its `PluginDecoder`).
 * @internal exported for tests.
 */
export function decodeVersionInfo(output: unknown, plugin: string, path: string): Result<PluginVersionInfo, CniError> {
  const bad = (why: string) =>
    err(
      new CniError(
        "InvalidResult",
        `CNI plugin ${JSON.stringify(plugin)} (VERSION) answered with an invalid version report: ${why}; ` +
          `expected {"cniVersion": "...", "supportedVersions": [...]}: is ${path} a CNI plugin?`,
        { plugin },
      ),
    );
  if (!isRecord(output)) return bad("it is not a JSON object");
  const { cniVersion, supportedVersions } = output;
  if (cniVersion !== undefined && cniVersion !== null && typeof cniVersion !== "string") {
    return bad(`"cniVersion" is not a string`);
  }
  if (!cniVersion) return bad(`"cniVersion" is missing`);
  if (
    supportedVersions === undefined ||
    supportedVersions === null ||
    (Array.isArray(supportedVersions) && supportedVersions.length === 0)
  ) {
    if (cniVersion === "0.2.0") return ok({ cniVersion, supportedVersions: ["0.1.0", "0.2.0"], path });
    return bad(`"supportedVersions" is missing`);
  }
  if (!Array.isArray(supportedVersions) || !supportedVersions.every((v): v is string => typeof v === "string")) {
    return bad(`"supportedVersions" is not a list of strings`);
  }
  return ok({ cniVersion, supportedVersions: [...supportedVersions], path });
}
