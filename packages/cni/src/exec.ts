import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { type Stats, statSync } from "node:fs";
import { join } from "node:path";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { CniError, cniErrorFromPlugin, describePlugin, errnoOf, messageOf, truncate } from "./errors.js";
import { launcher, type SpawnOutcome } from "./launcher.js";
import { shellLauncher } from "./shell-launcher.js";

const debug = createDebug("berth:cni:exec");

/** How many times a plugin is started when exec fails with "text file busy" (libcni: 6 attempts, 1 s apart). */
export const MAX_EXEC_ATTEMPTS = 6;
const TEXT_BUSY_RETRY_DELAY_MS = 1000;

/**
 * Directories that hold CNI plugin binaries, searched in order: a list, or one string separated by ':' (the
 * `CNI_PATH` format). Empty entries are ignored.
 */
export type CniPath = string | readonly string[];

/** The directories of a {@link CniPath}, in order, without empty entries. */
export function splitCniPath(cniPath: CniPath): string[] {
  const parts = typeof cniPath === "string" ? cniPath.split(":") : [...cniPath];
  return parts.filter((p) => p !== "");
}

/**
 * Finds a plugin binary the way libcni's `FindInPath` does: the first `<dir>/<type>` that is a regular file (after
 * following symlinks), trying the directories in order. Fails with `InvalidConfig` for an empty type or one
 * containing '/', and with `PluginNotFound` naming every directory searched.
 */
export function findPlugin(type: string, cniPath: CniPath): ResultAsync<string, CniError> {
  return new ResultAsync(findPluginAsync(type, splitCniPath(cniPath)));
}

async function findPluginAsync(type: string, dirs: readonly string[]): Promise<Result<string, CniError>> {
  if (type === "") {
    return err(new CniError("InvalidConfig", `no CNI plugin type given: name a plugin binary, e.g. "bridge"`));
  }
  if (type.includes("/")) {
    return err(
      new CniError(
        "InvalidConfig",
        `invalid CNI plugin type ${JSON.stringify(type)}: it must be a bare binary name without '/', e.g. "bridge"`,
        { plugin: type },
      ),
    );
  }
  if (dirs.length === 0) {
    return err(
      new CniError(
        "PluginNotFound",
        `CNI plugin ${JSON.stringify(type)} not found: no plugin directories were given; ` +
          `pass cniPath, e.g. ["/opt/cni/bin"] or "/usr/lib/cni"`,
        { plugin: type, details: "" },
      ),
    );
  }
  for (const dir of dirs) {
    const candidate = join(dir, type);
    // Synchronous: one stat of a local file costs less than a thread-pool round trip.
    let info: Stats | undefined;
    try {
      info = statSync(candidate, { throwIfNoEntry: false });
    } catch {
      info = undefined;
    }
    if (info?.isFile()) return ok(candidate);
  }
  return err(
    new CniError(
      "PluginNotFound",
      `CNI plugin ${JSON.stringify(type)} not found in ${dirs.join(", ")}: install it into one of these ` +
        `directories or add its directory to cniPath`,
      { plugin: type, details: dirs.join(":") },
    ),
  );
}

/** One plugin invocation for {@link execPlugin}. */
export interface PluginExecRequest {
  /** The plugin's `type`, for logs and errors. */
  readonly plugin: string;
  /** The binary to run, e.g. from {@link findPlugin}. */
  readonly path: string;
  /**
   * The plugin's complete environment, used as is (nothing is inherited from this process). Must contain
   * `CNI_COMMAND`; add `PATH` when a plugin needs to run other programs (e.g. iptables).
   */
  readonly env: Readonly<Record<string, string>>;
  /** The plugin's stdin: its JSON configuration. */
  readonly stdin: string | Uint8Array;
  /**
   * What a successful plugin prints: `"json"` (default), a JSON document that is parsed into
   * {@link PluginExecResult.output}; or `"ignore"` (e.g. DEL), in which case stdout is not interpreted.
   */
  readonly stdout?: "json" | "ignore";
  /** The network the plugin runs for, for errors. */
  readonly network?: string;
}

/** Cancellation and the way a plugin run is started. */
export interface ExecOptions {
  /** Aborting kills the plugin with SIGKILL and fails the call with `Aborted`. */
  readonly signal?: AbortSignal;
  /** Milliseconds for the whole call (retries included); then the plugin is killed (SIGKILL) and it fails with `Timeout`. */
  readonly timeoutMs?: number;
  /**
   * Start the plugin through berth's resident launchers (default true): small `dash` processes (a pool, one run at a
   * time each; where dash is missing, or for an environment a shell cannot assign, one `perl` process), started on
   * first use and shared by every run of this Node process, fork and exec the plugins, so this (much larger) process
   * is not forked for each run. Environment, stdin, stdout/stderr, exit status, exec errors ("text file busy"
   * included), timeouts and aborts behave exactly as with a direct spawn. Without dash and perl, or when no launcher
   * can start, runs fall back to a direct spawn. If a launcher dies, its runs in flight fail with `IOFailure` (their
   * plugins are killed) and the next run starts a new one. `false` always spawns the plugin directly from this process
   * (`child_process.spawn`).
   */
  readonly launcher?: boolean;
}

/** What a successful plugin run produced. */
export interface PluginExecResult {
  /** stdout parsed as JSON, or `undefined` when the request said `stdout: "ignore"`. */
  readonly output: unknown;
  /** stdout as text. */
  readonly stdout: string;
  /** stderr as text (informational only, as in libcni). */
  readonly stderr: string;
  /** Wall time of the last attempt, in milliseconds. */
  readonly durationMs: number;
  /** How many times the binary was started (more than 1 only after "text file busy"). */
  readonly attempts: number;
}

/**
 * Runs a plugin binary once: the exact environment in `env`, `stdin` written to it, stdout and stderr collected.
 * Exit 0 is success (stdout parsed as JSON unless ignored; unparseable output is `InvalidResult`). A non-zero exit
 * is decoded from the CNI error JSON on stdout ({@link cniErrorFromPlugin}), falling back to stderr text
 * (`PluginFailed`). A "text file busy" exec error is retried up to {@link MAX_EXEC_ATTEMPTS} times, 1 s apart, as
 * libcni does. On `timeoutMs` or an abort the plugin process gets SIGKILL (processes it started itself are not
 * touched) and the call fails with `Timeout` or `Aborted`. See {@link ExecOptions.launcher} for how the process is
 * started.
 */
export function execPlugin(
  request: PluginExecRequest,
  options: ExecOptions = {},
): ResultAsync<PluginExecResult, CniError> {
  return new ResultAsync(execAsync(request, options));
}

type StopReason = "timeout" | "aborted";

type Outcome = SpawnOutcome;

async function execAsync(
  request: PluginExecRequest,
  options: ExecOptions,
): Promise<Result<PluginExecResult, CniError>> {
  const command = request.env.CNI_COMMAND;
  const context = {
    plugin: request.plugin,
    ...(command ? { command } : {}),
    ...(request.network === undefined ? {} : { network: request.network }),
  };
  const fields = { plugin: request.plugin, ...(request.network === undefined ? {} : { network: request.network }) };
  const who = describePlugin(context);
  if (!command) {
    return err(
      new CniError(
        "InvalidEnvironment",
        `${who}: the environment has no CNI_COMMAND: set it to ADD, DEL, VERSION, ...`,
        fields,
      ),
    );
  }
  const { timeoutMs, signal } = options;
  if (timeoutMs !== undefined && !(timeoutMs > 0 && Number.isFinite(timeoutMs))) {
    return err(new CniError("InvalidConfig", `${who}: timeoutMs must be a positive number, not ${timeoutMs}`, fields));
  }

  // Nothing can stop a run without a signal or a deadline: then no controller and no listeners (each costs
  // microseconds per run, and this is the common case).
  const stop = signal === undefined && timeoutMs === undefined ? undefined : new AbortController();
  let reason: StopReason | undefined;
  const halt = (why: StopReason) => {
    if (reason !== undefined) return;
    reason = why;
    stop?.abort();
  };
  const onAbort = () => halt("aborted");
  if (signal?.aborted) halt("aborted");
  else signal?.addEventListener("abort", onAbort, { once: true });
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => halt("timeout"), timeoutMs);

  try {
    for (let attempt = 1; ; attempt++) {
      if (reason !== undefined) return err(stopped(reason, who, fields, timeoutMs, signal));
      const started = performance.now();
      const outcome = await startOnce(request, stop?.signal, options.launcher !== false);
      const durationMs = Math.round(performance.now() - started);
      if (outcome.kind === "stopped") {
        debug("%s %s killed after %dms (%s)", request.plugin, command, durationMs, reason);
        return err(stopped(reason ?? "aborted", who, fields, timeoutMs, signal));
      }
      if (outcome.kind === "spawn-error") {
        const errno = errnoOf(outcome.cause);
        debug("%s %s could not start: %s (attempt %d)", request.plugin, command, errno ?? outcome.cause, attempt);
        if (errno === "ETXTBSY" && attempt < MAX_EXEC_ATTEMPTS) {
          await sleep(TEXT_BUSY_RETRY_DELAY_MS, stop?.signal);
          continue;
        }
        return err(spawnFailure(outcome.cause, request.path, who, fields, attempt));
      }
      if (outcome.kind === "lost" || outcome.kind === "retry") {
        debug("%s %s lost: the launcher died while it ran (%s)", request.plugin, command, lostPid(outcome));
        return err(
          new CniError(
            "IOFailure",
            `${who}: berth's plugin launcher died while the plugin ran (${lostPid(outcome)}), so its result is lost: ` +
              `run the operation again (a new launcher starts), or pass launcher: false`,
            fields,
          ),
        );
      }
      debug(
        "%s %s exit %s in %dms%s",
        request.plugin,
        command,
        outcome.signal ?? outcome.code,
        durationMs,
        attempt > 1 ? ` (attempt ${attempt})` : "",
      );
      return decodeOutcome(outcome, request, context, who, fields).map((output) => ({
        output,
        stdout: outcome.stdout,
        stderr: outcome.stderr,
        durationMs,
        attempts: attempt,
      }));
    }
  } finally {
    if (timer !== undefined) clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
  }
}

function lostPid(outcome: Outcome): string {
  if (outcome.kind !== "lost" || !outcome.killed) return "its pid is unknown";
  return outcome.pid > 0 ? `pid ${outcome.pid}, now killed` : "the plugin, if it had started, was killed with it";
}

// Through the launcher when allowed and usable; a run handed back by a launcher that died before it was ready (so
// it started nothing) is tried again on a new one, then directly.
async function startOnce(
  request: PluginExecRequest,
  stop: AbortSignal | undefined,
  useLauncher: boolean,
): Promise<Outcome> {
  const launch = { path: request.path, env: request.env, stdin: request.stdin, cwd: process.cwd() };
  for (let i = 0; useLauncher && i < 3; i++) {
    const running = shellLauncher.run(launch, stop) ?? launcher.run(launch, stop);
    if (running === undefined) break;
    const outcome = await running;
    if (outcome.kind !== "retry") return outcome;
    debug("%s: the launcher died before starting it; trying again", request.plugin);
  }
  return spawnOnce(request, stop);
}

function spawnOnce(request: PluginExecRequest, stop: AbortSignal | undefined): Promise<Outcome> {
  return new Promise((resolve) => {
    let child: ChildProcessWithoutNullStreams;
    try {
      child = spawn(request.path, [], { env: { ...request.env }, stdio: ["pipe", "pipe", "pipe"] });
    } catch (cause) {
      resolve({ kind: "spawn-error", cause });
      return;
    }
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let settled = false;
    let exited = false;
    let stopping = false;
    const finish = (outcome: Outcome) => {
      if (settled) return;
      settled = true;
      stop?.removeEventListener("abort", onStop);
      resolve(outcome);
    };
    // Killed: do not wait for the pipes, which a process the plugin started may still hold open.
    const onStop = () => {
      stopping = true;
      if (!exited) child.kill("SIGKILL");
      child.stdin.destroy();
      child.stdout.destroy();
      child.stderr.destroy();
      if (exited) finish({ kind: "stopped" });
    };
    child.on("error", (cause) => {
      if (child.pid === undefined) finish({ kind: "spawn-error", cause });
    });
    child.on("exit", () => {
      exited = true;
      if (stopping) finish({ kind: "stopped" });
    });
    child.on("close", (code, signal) => {
      finish({
        kind: "exited",
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
      });
    });
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    // A plugin may exit without reading its stdin (EPIPE); its exit status tells what happened.
    child.stdin.on("error", () => {});
    child.stdin.end(request.stdin);
    if (stop?.aborted) onStop();
    else stop?.addEventListener("abort", onStop, { once: true });
  });
}

function decodeOutcome(
  outcome: Extract<Outcome, { kind: "exited" }>,
  request: PluginExecRequest,
  context: { plugin: string; command?: string; network?: string },
  who: string,
  fields: { plugin: string; network?: string },
): Result<unknown, CniError> {
  const out = outcome.stdout.trim();
  const errText = outcome.stderr.trim();
  if (outcome.code === 0 && outcome.signal === null) {
    if (request.stdout === "ignore") return ok(undefined);
    const withStderr = errText === "" ? {} : { details: `stderr: ${errText}` };
    if (out === "") {
      return err(
        new CniError("InvalidResult", `${who} succeeded but printed no result on stdout: the plugin is broken`, {
          ...fields,
          ...withStderr,
        }),
      );
    }
    try {
      return ok(JSON.parse(out) as unknown);
    } catch (cause) {
      return err(
        new CniError(
          "InvalidResult",
          `${who} succeeded but its output is not JSON (${messageOf(cause)}): ${truncate(out)}`,
          { ...fields, ...withStderr, cause },
        ),
      );
    }
  }
  const how = outcome.signal === null ? `exit code ${outcome.code}` : `signal ${outcome.signal}`;
  if (out !== "") {
    let body: unknown = out;
    try {
      body = JSON.parse(out);
    } catch {
      // Not JSON: cniErrorFromPlugin reports the raw text.
    }
    return err(cniErrorFromPlugin(body, { ...context, stderr: outcome.stderr }));
  }
  if (errText !== "") {
    return err(
      new CniError("PluginFailed", `${who} failed with ${how}: ${truncate(errText)}`, { ...fields, details: errText }),
    );
  }
  return err(new CniError("PluginFailed", `${who} failed with ${how} and printed nothing`, fields));
}

function stopped(
  reason: StopReason,
  who: string,
  fields: { plugin: string; network?: string },
  timeoutMs: number | undefined,
  signal: AbortSignal | undefined,
): CniError {
  if (reason === "timeout") {
    return new CniError(
      "Timeout",
      `${who} did not finish within ${timeoutMs} ms and was killed (SIGKILL): raise timeoutMs or check why the plugin hangs`,
      fields,
    );
  }
  return new CniError(
    "Aborted",
    `${who} was aborted by the caller's signal (the plugin was killed if it was running)`,
    {
      ...fields,
      cause: signal?.reason,
    },
  );
}

function spawnFailure(
  cause: unknown,
  path: string,
  who: string,
  fields: { plugin: string; network?: string },
  attempts: number,
): CniError {
  const errno = errnoOf(cause);
  const options = { ...fields, cause };
  switch (errno) {
    case "ETXTBSY":
      return new CniError(
        "IOFailure",
        `${who}: ${path} could not be executed after ${attempts} attempts: text file busy (ETXTBSY), something is ` +
          `still writing it; retry once the plugin is installed`,
        options,
      );
    case "ENOENT":
      return new CniError(
        "PluginNotFound",
        `${who}: ${path} could not be executed (ENOENT): it was removed, or its interpreter (#! line) is missing`,
        options,
      );
    case "EACCES":
      return new CniError(
        "IOFailure",
        `${who}: ${path} is not executable (EACCES): chmod +x it, and check the filesystem is not mounted noexec`,
        options,
      );
    default:
      return new CniError("IOFailure", `${who}: ${path} could not be executed: ${messageOf(cause)}`, options);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
