import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { Socket } from "node:net";
import { constants, tmpdir } from "node:os";
import { join } from "node:path";
import createDebug from "debug";
import { errnoError, type LaunchRequest, SIGNAL_NAMES, type SpawnOutcome } from "./launcher.js";

const debug = createDebug("berth:cni:launcher");

// The shell launcher: resident `dash` processes that fork and exec plugins for this process, one run at a time
// each (a pool, so concurrent runs stay concurrent). dash is Debian's /bin/sh: its process is a few hundred KB, so its
// fork copies far fewer page-table entries, and causes far fewer copy-on-write faults afterwards, than the perl
// launcher's (./launcher.ts, which serves where dash is missing or a run cannot go through a shell) or this process's.
//
// Each shell has a private directory (0700) with four files: `s`, the run's command, written by this process; `i`, the
// plugin's stdin; `o` and `e`, its stdout and stderr, written by the plugin. Per run, this process writes `s` and `i`
// and sends "<id>\n"; the shell sources `s` and answers "X <id> <$?>\n"; this process reads `o` and `e`. `s` is one
// simple command: `NAME='value' ... '/path/to/plugin' <i >o 2>e`. Its assignments are the plugin's whole
// environment: the shell itself exports nothing (it starts with an empty environment and unsets the PWD and OLDPWD it
// exports on its own), and prefix assignments go to the command only. The shell's working directory is the run's
// (shells are pooled per directory). dash reports a failed exec as status 127 (ENOENT, ENOTDIR) or 126 (others) with
// "<file>: <path>: <reason>" on the command's stderr, which is mapped back to the errno; a plugin killed by a signal
// is reported as 128 + the signal number.
//
// Stopping a run kills the shell's whole process group (each shell leads its own), plugin and shell together; the
// pool forgets that shell. If a shell dies while a run is in flight, its process group is killed (so is the plugin)
// and the run is lost. Shells exit when their stdin closes (this process exits, or the pool has enough idle ones),
// and remove their directory as they go (so does this process when a shell dies, or at its exit).
const SCRIPT = `unset PWD OLDPWD
d=$1
echo ready
while read -r id; do
  . "$d/s"
  echo "X $id $?"
done
rm -rf -- "$d"`;

// Names a POSIX shell can assign; a run whose environment has any other name goes to the perl launcher.
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
// More idle shells than this are closed once their run ends.
const MAX_IDLE = 4;

// What dash prints (after "<file>: <path>: ") when exec fails, and the errno.
const { errno: E } = constants;
const EXEC_ERRORS = new Map<string, number>([
  ["not found", E.ENOENT],
  ["Permission denied", E.EACCES],
  ["Text file busy", E.ETXTBSY],
  ["Exec format error", E.ENOEXEC],
  ["Argument list too long", E.E2BIG],
  ["Out of memory", E.ENOMEM],
  ["Cannot allocate memory", E.ENOMEM],
  ["Is a directory", E.EISDIR],
]);

const quote = (value: string) => `'${value.replaceAll("'", `'\\''`)}'`;

// Every shell directory still on disk, removed at exit if this process exits with shells alive.
const liveDirs = new Set<string>();
let exitHookInstalled = false;
function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

/**
 * A pool of resident dash processes that start plugins (see the comment above for the protocol).
 * @internal exported for tests.
 */
export class ShellLauncher {
  /** @param shell the dash binary; when it does not exist, {@link run} always returns undefined. */
  constructor(private readonly shell = "/bin/dash") {}

  private readonly idle: Shell[] = [];
  private readonly busy = new Set<Shell>();
  // Checked once, on first use; set later when a shell cannot be started.
  private unavailable: string | undefined | null = null;
  private nextId = 1;

  /** Why the shell launcher is not used, or undefined while it is usable. */
  get unavailableReason(): string | undefined {
    if (this.unavailable === null) {
      this.unavailable = existsSync(this.shell) ? undefined : `${this.shell} does not exist`;
    }
    return this.unavailable;
  }

  /** Pids of the shells alive (idle or running a plugin). */
  get pids(): number[] {
    return [...this.idle, ...this.busy].map((s) => s.proc.pid as number);
  }

  /**
   * Runs a plugin through a shell of the pool. `undefined` means this run cannot go through a shell (no dash, or an
   * environment name a shell cannot assign): the caller uses another way. Stopping kills the plugin and its shell
   * (SIGKILL to the shell's process group) and settles as `stopped`.
   */
  run(request: LaunchRequest, stop?: AbortSignal): Promise<SpawnOutcome> | undefined {
    if (this.unavailableReason !== undefined) return undefined;
    const names = Object.keys(request.env);
    if (!names.every((n) => SHELL_NAME.test(n))) {
      debug(
        "environment name %j cannot be set by a shell",
        names.find((n) => !SHELL_NAME.test(n)),
      );
      return undefined;
    }
    if (stop?.aborted) return Promise.resolve({ kind: "stopped" });
    const at = this.idle.findIndex((s) => s.cwd === request.cwd && s.alive);
    let shell: Shell;
    if (at >= 0) {
      shell = this.idle.splice(at, 1)[0] as Shell;
    } else {
      const started = Shell.start(this.shell, request.cwd);
      if (started instanceof Error) {
        // The working directory is missing (or not a directory): the run fails as a spawn in it would.
        if ((started as NodeJS.ErrnoException).code === "ENOENT") {
          return Promise.resolve({ kind: "spawn-error", cause: errnoError(constants.errno.ENOENT, request.path) });
        }
        this.unavailable = `${this.shell} could not be started: ${started.message}`;
        debug("not using the shell launcher: %s", this.unavailable);
        return undefined;
      }
      shell = started;
    }
    this.busy.add(shell);
    return shell.run(this.nextId++, request, stop).then((outcome) => {
      this.busy.delete(shell);
      if (shell.alive && this.idle.length < MAX_IDLE) this.idle.push(shell);
      else shell.close();
      return outcome;
    });
  }

  /** Kills every shell (and any plugin one runs) with SIGKILL. For tests. */
  kill(): void {
    for (const s of [...this.idle, ...this.busy]) s.killGroup();
    this.idle.length = 0;
  }

  /** Closes the idle shells' stdin (they exit); running ones exit after their run. */
  close(): void {
    for (const s of this.idle.splice(0)) s.close();
  }
}

// One resident shell.
class Shell {
  alive = true;
  private ready = false;
  private inbuf = "";
  private current:
    | { readonly id: number; readonly path: string; readonly resolve: (o: SpawnOutcome) => void; stopping: boolean }
    | undefined;

  private constructor(
    readonly proc: ChildProcessWithoutNullStreams,
    readonly cwd: string,
    private readonly dir: string,
  ) {
    proc.stdout.setEncoding("latin1");
    proc.stdout.on("data", (chunk: string) => this.onData(chunk));
    proc.stdin.on("error", () => {
      // It died; 'close' settles the run in flight.
    });
    proc.stderr.resume();
    proc.on("close", (code, signal) => this.died(`exited with ${signal ?? `code ${code}`}`));
    this.setRef(false);
  }

  static start(shell: string, cwd: string): Shell | Error {
    if (!existsSync(cwd)) return Object.assign(new Error(`no such directory: ${cwd}`), { code: "ENOENT" });
    const dir = mkdtempSync(join(tmpdir(), "berth-cni-sh-"));
    trackDir(dir);
    let proc: ChildProcessWithoutNullStreams;
    try {
      proc = spawn(shell, ["-c", SCRIPT, "berth-cni-launcher", dir], {
        cwd,
        env: {},
        detached: true,
        stdio: ["pipe", "pipe", "pipe"],
      });
    } catch (e) {
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
      return e as Error;
    }
    const s = new Shell(proc, cwd, dir);
    // A spawn that fails asynchronously (ENOENT for the shell or the directory) reports through 'error' and 'close'.
    proc.on("error", (e) => debug("shell launcher could not start: %s", e.message));
    debug("started shell launcher pid %d in %s", proc.pid, cwd);
    return s;
  }

  run(id: number, request: LaunchRequest, stop: AbortSignal | undefined): Promise<SpawnOutcome> {
    return new Promise<SpawnOutcome>((resolve) => {
      const onStop = () => {
        if (this.current === undefined) return;
        this.current.stopping = true;
        this.killPlugin();
      };
      const done = (o: SpawnOutcome) => {
        stop?.removeEventListener("abort", onStop);
        this.current = undefined;
        this.setRef(false);
        resolve(o);
      };
      this.current = { id, path: request.path, resolve: done, stopping: false };
      let command = "";
      for (const [name, value] of Object.entries(request.env)) command += `${name}=${quote(value)} `;
      command += `${quote(request.path)} <${quote(join(this.dir, "i"))} >${quote(join(this.dir, "o"))} 2>${quote(join(this.dir, "e"))}\n`;
      try {
        writeFileSync(join(this.dir, "s"), command);
        writeFileSync(join(this.dir, "i"), request.stdin);
      } catch (cause) {
        done({ kind: "spawn-error", cause });
        return;
      }
      this.setRef(true);
      this.proc.stdin.write(`${id}\n`);
      if (stop?.aborted) onStop();
      else stop?.addEventListener("abort", onStop, { once: true });
    });
  }

  // Kills the plugin (the shell's child) so that the shell reaps it and answers: the run then settles once the
  // plugin is gone, as with a direct spawn. Before the shell has forked (no child yet), it is looked for again
  // shortly; without /proc/<pid>/task/<pid>/children, or when no child shows up, the shell's whole group goes.
  private killPlugin(tries = 0): void {
    const pid = this.proc.pid;
    if (pid === undefined || this.current === undefined) return;
    let children: string[];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, "latin1").split(" ").filter(Boolean);
    } catch {
      this.killGroup();
      return;
    }
    if (children.length === 0) {
      if (tries >= 20) this.killGroup();
      else setTimeout(() => this.killPlugin(tries + 1), 5);
      return;
    }
    for (const child of children) {
      try {
        process.kill(Number(child), "SIGKILL");
      } catch {
        // already gone
      }
    }
  }

  // Stops the shell and whatever it started: it leads its process group, the plugin is in it.
  killGroup(): void {
    const pid = this.proc.pid;
    if (pid === undefined) return;
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }

  close(): void {
    this.alive = false;
    this.proc.stdin.end();
  }

  private setRef(on: boolean): void {
    if (on) {
      this.proc.ref();
      (this.proc.stdout as unknown as Socket).ref();
    } else {
      this.proc.unref();
      (this.proc.stdout as unknown as Socket).unref();
      (this.proc.stdin as unknown as Socket).unref();
      (this.proc.stderr as unknown as Socket).unref();
    }
  }

  private onData(chunk: string): void {
    this.inbuf += chunk;
    for (let nl = this.inbuf.indexOf("\n"); nl >= 0; nl = this.inbuf.indexOf("\n")) {
      const line = this.inbuf.slice(0, nl);
      this.inbuf = this.inbuf.slice(nl + 1);
      if (line === "ready") {
        this.ready = true;
        continue;
      }
      const [kind, id, status] = line.split(" ");
      const run = this.current;
      if (kind !== "X" || run === undefined || Number(id) !== run.id) continue;
      run.resolve(run.stopping ? { kind: "stopped" } : this.outcome(run.path, Number(status)));
    }
  }

  private outcome(path: string, status: number): SpawnOutcome {
    let stdout: string;
    let stderr: string;
    try {
      stdout = readFileSync(join(this.dir, "o"), "utf8");
      stderr = readFileSync(join(this.dir, "e"), "utf8");
    } catch (cause) {
      return { kind: "spawn-error", cause };
    }
    if (status === 126 || status === 127) {
      const tail = `: ${path}: `;
      const at = stderr.lastIndexOf(tail);
      if (at >= 0 && stderr.indexOf("\n", at) === stderr.length - 1) {
        const reason = stderr.slice(at + tail.length, -1);
        const errno = EXEC_ERRORS.get(reason);
        if (errno !== undefined) return { kind: "spawn-error", cause: errnoError(errno, path) };
      }
    }
    if (status > 128) {
      const signal = SIGNAL_NAMES.get(status - 128);
      if (signal) return { kind: "exited", code: null, signal, stdout, stderr };
    }
    return { kind: "exited", code: status, signal: null, stdout, stderr };
  }

  private died(why: string): void {
    if (!this.alive && this.current === undefined) {
      this.cleanup();
      return;
    }
    this.alive = false;
    debug("shell launcher %d %s", this.proc.pid, why);
    const run = this.current;
    if (run !== undefined) {
      // Whatever it had started dies with its process group.
      this.killGroup();
      if (run.stopping) run.resolve({ kind: "stopped" });
      else run.resolve(this.ready ? { kind: "lost", pid: 0, killed: true } : { kind: "retry" });
    }
    this.cleanup();
  }

  private cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
    liveDirs.delete(this.dir);
  }
}

/**
 * The process-wide shell launcher.
 * @internal
 */
export const shellLauncher = new ShellLauncher();
