import { type ChildProcess, type StdioOptions, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { NetnsError, netnsErrorFromErrno } from "./errors.js";
import { inspectNetns, type NetnsInfo } from "./inspect.js";
import { DEFAULT_NETNS_DIR } from "./name.js";
import { findTool } from "./tools.js";

const debug = createDebug("berth:netns:exec");

/** Where iproute2's `ip netns exec NAME` finds the files it bind-mounts over `/etc` (`/etc/netns/NAME/*`). */
export const ETC_NETNS_DIR = "/etc/netns";

/** Options of {@link spawnInNetns}. */
export interface SpawnInNetnsOptions {
  /** The directory of named namespaces, when `netns` is a name. Default `/run/netns`. */
  readonly dir?: string;
  /** Kills the command (SIGKILL) and ends `exit` with `Aborted`. */
  readonly signal?: AbortSignal;
  /** Kills the command (SIGKILL) after this many milliseconds and ends `exit` with `Timeout`. */
  readonly timeoutMs?: number;
  /** The command's environment. Default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** As for `child_process.spawn`. Default `"pipe"` (stream stdin, stdout and stderr). */
  readonly stdio?: StdioOptions;
  /** Where to look for `nsenter` / `ip` (see `findTool`). */
  readonly searchPath?: string;
}

/** How a command run inside a namespace ended. */
export interface ExitStatus {
  /** The exit code, or null when a signal ended it. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A command running inside a network namespace. */
export interface NetnsProcess {
  /** The child process: stream its `stdin`/`stdout`/`stderr` (with the default `stdio: "pipe"`). */
  readonly child: ChildProcess;
  /** The namespace it runs in. */
  readonly netns: NetnsInfo;
  /**
   * Settles when it ends: its {@link ExitStatus} (a non-zero exit is still `ok`), or `Timeout` / `Aborted` after
   * it was killed, or `Failed` when it could not be started.
   */
  readonly exit: ResultAsync<ExitStatus, NetnsError>;
}

/**
 * The launcher for a namespace: `ip netns exec NAME` for a namespace in `/run/netns` with an `/etc/netns/NAME`
 * directory (iproute2 then bind-mounts those files over `/etc` and remounts `/sys` in a private mount namespace,
 * exactly as for `ip netns exec`), otherwise `nsenter --net=PATH` (util-linux), which enters the namespace and
 * nothing else. Both exec the command, so the child's pid is the command's.
 *
 * @internal exported for unit tests.
 */
export function launcherFor(
  info: NetnsInfo,
  etcNetnsDir: string = ETC_NETNS_DIR,
): { readonly tool: "ip" | "nsenter"; readonly args: readonly string[] } {
  const named = info.name !== undefined && dirname(info.path) === DEFAULT_NETNS_DIR;
  if (named && info.name !== undefined && existsSync(join(etcNetnsDir, info.name))) {
    return { tool: "ip", args: ["netns", "exec", info.name] };
  }
  return { tool: "nsenter", args: [`--net=${info.path}`, "--"] };
}

/**
 * Starts `command args...` inside a network namespace, by name (in `dir`, default `/run/netns`) or path, as a
 * child process with streaming stdio. The namespace is checked first (`NotFound`, `NotANamespace`), so a
 * non-zero exit is always the command's own. Code cannot run inside a namespace in this process: a namespace
 * belongs to a thread and Node.js cannot move its threads safely, so everything runs in a child process (to run
 * JavaScript inside, spawn `process.execPath` with a script).
 *
 * @example
 * ```ts
 * const p = await spawnInNetns("task-1", "ip", ["-j", "addr"]);
 * if (p.isOk()) {
 *   p.value.child.stdout?.pipe(process.stdout);
 *   const status = await p.value.exit;
 * }
 * ```
 */
export function spawnInNetns(
  netns: string,
  command: string,
  args: readonly string[] = [],
  options: SpawnInNetnsOptions = {},
): ResultAsync<NetnsProcess, NetnsError> {
  const { signal } = options;
  const inspectOptions = {
    ...(options.dir === undefined ? {} : { dir: options.dir }),
    ...(signal === undefined ? {} : { signal }),
  };
  return inspectNetns(netns, inspectOptions).andThen((info) => {
    const launcher = launcherFor(info);
    return findTool(launcher.tool, options.searchPath === undefined ? {} : { searchPath: options.searchPath }).andThen(
      (bin) => {
        if (signal?.aborted) {
          return err(new NetnsError("Aborted", `run ${command} in ${info.path}: aborted before it started`));
        }
        const argv = [...launcher.args, command, ...args];
        debug("%s: %s %o", info.path, bin, argv);
        let child: ChildProcess;
        try {
          child = spawn(bin, argv, {
            stdio: options.stdio ?? "pipe",
            ...(options.env === undefined ? {} : { env: options.env }),
            ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
          });
        } catch (e) {
          return err(netnsErrorFromErrno(e, { path: bin, action: "run" }));
        }
        const exit = new ResultAsync(watch(child, info.path, command, options));
        return ok<NetnsProcess, NetnsError>({ child, netns: info, exit });
      },
    );
  });
}

function watch(
  child: ChildProcess,
  path: string,
  command: string,
  options: SpawnInNetnsOptions,
): Promise<Result<ExitStatus, NetnsError>> {
  return new Promise((resolve) => {
    let reason: "timeout" | "abort" | undefined;
    let startError: unknown;
    const kill = (why: "timeout" | "abort") => {
      reason ??= why;
      child.kill("SIGKILL");
    };
    const timer =
      options.timeoutMs === undefined ? undefined : setTimeout(() => kill("timeout"), options.timeoutMs).unref();
    const onAbort = () => kill("abort");
    options.signal?.addEventListener("abort", onAbort, { once: true });
    child.once("error", (e) => {
      startError ??= e;
    });
    child.once("close", (exitCode: number | null, signalName: NodeJS.Signals | null) => {
      if (timer !== undefined) clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      const what = `${command} in ${path}`;
      if (reason === "timeout") {
        resolve(
          err(
            new NetnsError("Timeout", `${what} did not finish within ${options.timeoutMs} ms and was killed`, { path }),
          ),
        );
      } else if (reason === "abort") {
        resolve(err(new NetnsError("Aborted", `${what}: killed because the caller's signal fired`, { path })));
      } else if (startError !== undefined && exitCode === null && signalName === null) {
        resolve(err(netnsErrorFromErrno(startError, { path, action: `run ${command} in` })));
      } else {
        debug("%s: %s exited %s", path, command, exitCode ?? signalName);
        resolve(ok({ exitCode, signal: signalName }));
      }
    });
  });
}

/** Options of {@link execInNetns}. */
export interface ExecInNetnsOptions extends Omit<SpawnInNetnsOptions, "stdio"> {
  /** Written to the command's stdin, which is then closed. Default: stdin is closed at once. */
  readonly input?: string | Uint8Array;
}

/** What {@link execInNetns} collected. */
export interface ExecResult extends ExitStatus {
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `command args...` inside a network namespace (see {@link spawnInNetns}) and collects its output as
 * UTF-8. A non-zero exit is `ok` with that `exitCode`; errors are the namespace's (`NotFound`,
 * `NotANamespace`, ...), `ToolMissing`, `Timeout` and `Aborted`.
 *
 * @example
 * ```ts
 * const links = await execInNetns("task-1", "ip", ["-o", "link"]);
 * if (links.isOk()) console.log(links.value.stdout);
 * ```
 */
export function execInNetns(
  netns: string,
  command: string,
  args: readonly string[] = [],
  options: ExecInNetnsOptions = {},
): ResultAsync<ExecResult, NetnsError> {
  const { input, ...rest } = options;
  return spawnInNetns(netns, command, args, { ...rest, stdio: ["pipe", "pipe", "pipe"] }).andThen((p) => {
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    p.child.stdout?.on("data", (b: Buffer) => stdout.push(b));
    p.child.stderr?.on("data", (b: Buffer) => stderr.push(b));
    // A command that exits without reading its input makes the write fail with EPIPE: not an error of ours.
    p.child.stdin?.on("error", () => undefined);
    p.child.stdin?.end(input === undefined ? undefined : Buffer.from(input));
    return p.exit.map((status) => ({
      ...status,
      stdout: Buffer.concat(stdout).toString("utf8"),
      stderr: Buffer.concat(stderr).toString("utf8"),
    }));
  });
}
