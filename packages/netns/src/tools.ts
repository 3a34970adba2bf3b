import { spawn } from "node:child_process";
import { constants } from "node:fs";
import { access, stat } from "node:fs/promises";
import { delimiter, isAbsolute, join } from "node:path";
import createDebug from "debug";
import { err, errAsync, ok, type Result, ResultAsync } from "neverthrow";
import { NetnsError, netnsErrorFromErrno } from "./errors.js";

const debug = createDebug("berth:netns:tools");

/**
 * The external programs `@berth/netns` runs: `ip` (iproute2); `nsenter`, `unshare` and `flock` (util-linux);
 * `mount` and `umount` (Debian's mount package, also util-linux upstream).
 */
export type NetnsTool = "ip" | "nsenter" | "unshare" | "flock" | "mount" | "umount";

/** The Debian package that provides each {@link NetnsTool}. */
export const TOOL_PACKAGES: Readonly<Record<NetnsTool, string>> = {
  ip: "iproute2",
  nsenter: "util-linux",
  unshare: "util-linux",
  flock: "util-linux",
  mount: "mount",
  umount: "mount",
};

/** Searched after `$PATH`, because `ip` lives in sbin directories that a non-root `$PATH` often lacks. */
export const SYSTEM_TOOL_DIRS: readonly string[] = ["/usr/sbin", "/sbin"];

/** Where {@link findTool} looks. */
export interface FindToolOptions {
  /**
   * Colon-separated directories to search instead of `$PATH` followed by {@link SYSTEM_TOOL_DIRS}.
   * Relative entries are ignored (a tool found through them would depend on the working directory).
   */
  readonly searchPath?: string;
}

const found = new Map<string, string>();

function defaultSearchPath(): string {
  return [process.env.PATH ?? "", ...SYSTEM_TOOL_DIRS].join(delimiter);
}

async function isExecutableFile(candidate: string): Promise<boolean> {
  try {
    await access(candidate, constants.X_OK);
    return (await stat(candidate)).isFile();
  } catch {
    return false;
  }
}

/**
 * The absolute path of a tool, searched on `$PATH` and then in `/usr/sbin` and `/sbin`. Found paths are cached
 * for the life of the process (per search path); a miss is not cached, so installing the package later works
 * without a restart. Fails with `ToolMissing`, naming the Debian package to install.
 */
export function findTool(tool: NetnsTool, options: FindToolOptions = {}): ResultAsync<string, NetnsError> {
  const searchPath = options.searchPath ?? defaultSearchPath();
  const key = `${tool}\0${searchPath}`;
  const cached = found.get(key);
  if (cached !== undefined) return new ResultAsync(Promise.resolve(ok(cached)));
  const dirs = [...new Set(searchPath.split(delimiter).filter((d) => d !== "" && isAbsolute(d)))];
  const search = async (): Promise<Result<string, NetnsError>> => {
    for (const dir of dirs) {
      const candidate = join(dir, tool);
      if (await isExecutableFile(candidate)) {
        debug("found %s at %s", tool, candidate);
        found.set(key, candidate);
        return ok(candidate);
      }
    }
    const pkg = TOOL_PACKAGES[tool];
    debug("%s not found in %s", tool, dirs.join(delimiter));
    return err(
      new NetnsError(
        "ToolMissing",
        `\`${tool}\` was not found in ${dirs.join(delimiter) || "an empty search path"}: ` +
          `install the Debian package ${pkg} (\`apt-get install ${pkg}\`) or put \`${tool}\` on PATH`,
        { package: pkg },
      ),
    );
  };
  return new ResultAsync(search());
}

/** What a finished tool run printed and how it ended. */
export interface ToolRun {
  /** The exit code, or null when the process was killed by a signal. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runTool}. @internal */
export interface RunToolOptions {
  readonly signal?: AbortSignal;
  readonly searchPath?: string;
  /** Do not collect stdout (it goes to /dev/null): one pipe less for tools whose output is not read. */
  readonly discardStdout?: boolean;
}

/**
 * Runs a tool found by {@link findTool} with `LC_ALL=C` (so its messages can be matched) and stdin closed, and
 * returns how it ended, whatever the exit code: interpreting a non-zero exit is the caller's job. Fails only
 * when the tool is missing, cannot be started, or `signal` aborts it (`Aborted`; the process is killed).
 *
 * @internal not re-exported from the package entry point.
 */
export function runTool(
  tool: NetnsTool,
  args: readonly string[],
  options: RunToolOptions = {},
): ResultAsync<ToolRun, NetnsError> {
  const { signal } = options;
  if (signal?.aborted) {
    return errAsync(new NetnsError("Aborted", `${tool} ${args.join(" ")}: aborted before it started`));
  }
  return findTool(tool, options.searchPath === undefined ? {} : { searchPath: options.searchPath }).andThen((bin) => {
    debug("run %s %o", bin, args);
    const run = new Promise<Result<ToolRun, NetnsError>>((resolvePromise) => {
      const child = spawn(bin, [...args], {
        env: { ...process.env, LC_ALL: "C" },
        stdio: ["ignore", options.discardStdout ? "ignore" : "pipe", "pipe"],
        ...(signal === undefined ? {} : { signal }),
      });
      const out: Buffer[] = [];
      const errOut: Buffer[] = [];
      child.stdout?.on("data", (b: Buffer) => out.push(b));
      child.stderr?.on("data", (b: Buffer) => errOut.push(b));
      let failure: unknown;
      child.once("error", (e) => {
        failure ??= e;
      });
      child.once("close", (exitCode: number | null, killedBy: NodeJS.Signals | null) => {
        const stdout = Buffer.concat(out).toString("utf8");
        const stderr = Buffer.concat(errOut).toString("utf8");
        if (failure !== undefined) {
          resolvePromise(err(netnsErrorFromErrno(failure, { path: bin, action: "run" })));
          return;
        }
        if (exitCode !== 0) debug("%s exited with %s: %s", tool, exitCode ?? killedBy, stderr.trim());
        resolvePromise(ok({ exitCode, signal: killedBy, stdout, stderr }));
      });
    });
    return new ResultAsync(run);
  });
}
