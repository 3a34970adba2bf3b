import { type ChildProcess, spawn } from "node:child_process";
import { realpathSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import createDebug from "debug";

const debug = createDebug("berth:netns:helper");

/**
 * How a command sent to the resident helper ended.
 *
 * - `done`: iproute2 ran it; `ok` is false when it reported the command failed, and `messages` holds what it
 *   printed to stderr for that command (the error, or warnings).
 * - `lost`: the helper died, timed out or was stopped before it answered. The command may or may not have taken
 *   effect; the caller must look at the system to find out (e.g. whether the namespace file exists).
 */
export type BatchOutcome =
  | { readonly kind: "done"; readonly ok: boolean; readonly messages: readonly string[] }
  | { readonly kind: "lost"; readonly reason: string };

/** Timings of an {@link IpBatch}. @internal */
export interface IpBatchOptions {
  /** Stop the helper after this long without commands. Default {@link HELPER_IDLE_MS}. */
  readonly idleMs?: number;
  /** Kill the helper when one command takes longer than this (a hung helper); time queued behind others does not count. Default 10 s. */
  readonly commandTimeoutMs?: number;
}

/** How long an idle resident helper lives before it is stopped (it is started again on demand). */
export const HELPER_IDLE_MS = 5_000;

const COMMAND_TIMEOUT_MS = 10_000;

/** After this many helpers in a row died without answering, {@link IpBatch.usable} turns false. */
const MAX_BARREN_HELPERS = 3;

/** The line sent after every command: an object iproute2 does not know, so it answers on stderr, in order. */
const SYNC = "berth-sync";
const FAILED = /^Command failed -:(\d+)$/;
const SYNC_ECHO = new RegExp(`^Object "${SYNC}" is unknown`);

interface Pending {
  readonly line: number;
  readonly syncLine: number;
  readonly messages: string[];
  failed: boolean;
  readonly resolve: (outcome: BatchOutcome) => void;
}

interface Running {
  readonly child: ChildProcess;
  readonly pending: Pending[];
  /** Lines written so far: iproute2 numbers the lines it reads from 1 and names them in "Command failed -:N". */
  lines: number;
  buffered: string;
  /** Kills the helper when the command at the head of the queue takes too long (queue time does not count). */
  watchdog: NodeJS.Timeout | undefined;
  /** Whether it answered at least one command. */
  answered: boolean;
  closed: Promise<void>;
  dead: boolean;
}

/**
 * A resident `ip -force -batch -` process (iproute2) that runs `netns add` / `netns del` commands for this
 * process, so creating or deleting a namespace costs a line on a pipe instead of starting a process.
 *
 * Protocol: each command is written followed by the line `berth-sync`. iproute2 runs the lines in order; for a
 * failing line it prints its error and then `Command failed -:N` (N = line number) to stderr, which is unbuffered;
 * the sync line always fails (`Object "berth-sync" is unknown`), so its `Command failed -:N+1` marks the end of the
 * command, and a `Command failed -:N` before it says the command failed. stdout goes to /dev/null (nothing used
 * prints there, and it is block-buffered). `-force` keeps the helper going after a failed command.
 *
 * Life cycle: started on the first command; concurrent callers share it (commands queue, each gets its own
 * outcome); stopped after {@link HELPER_IDLE_MS} idle, by {@link IpBatch.close}, or, because its stdin is a pipe
 * from this process, as soon as this process exits or is killed (it reads end-of-file). Its handles are unref'd
 * while idle, so it never keeps Node alive. If it dies, times out or garbles the protocol, every command in flight
 * resolves `lost` and the next command starts a new one. It runs with `cwd` `/` so it pins no directory.
 *
 * Only commands whose errors iproute2 *returns* are safe here: some of its errors call exit(3), which kills the
 * helper (the caller sees `lost`), and `netns exec` forks a child that can go on reading the shared stdin, so it
 * must never be sent.
 *
 * @internal
 */
export class IpBatch {
  readonly ipPath: string;
  readonly #idleMs: number;
  readonly #commandTimeoutMs: number;
  #running: Running | undefined;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Helpers in a row that ended without answering a single command. */
  #barren = 0;

  constructor(ipPath: string, options: IpBatchOptions = {}) {
    this.ipPath = ipPath;
    this.#idleMs = options.idleMs ?? HELPER_IDLE_MS;
    this.#commandTimeoutMs = options.commandTimeoutMs ?? COMMAND_TIMEOUT_MS;
  }

  /**
   * False once {@link MAX_BARREN_HELPERS} helpers in a row ended without answering any command (e.g. `ip`
   * cannot run here): callers should then use their fallback instead of starting yet another one.
   */
  get usable(): boolean {
    return this.#barren < MAX_BARREN_HELPERS;
  }

  /** The helper's pid while one runs. */
  get pid(): number | undefined {
    const r = this.#running;
    return r === undefined || r.dead ? undefined : r.child.pid;
  }

  /**
   * Runs one iproute2 batch line, e.g. `netns add task-1`. The line must be a single command without newlines,
   * quotes, `#` or backslashes (the caller validates its arguments).
   */
  run(command: string): Promise<BatchOutcome> {
    if (/[\n\r#\\'"]/.test(command)) {
      return Promise.resolve({ kind: "lost", reason: `not sent: ${JSON.stringify(command)} is not a plain line` });
    }
    const r = this.#start();
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    return new Promise<BatchOutcome>((resolve) => {
      const line = r.lines + 1;
      r.lines += 2;
      r.pending.push({ line, syncLine: line + 1, messages: [], failed: false, resolve });
      if (r.pending.length === 1) {
        refHandles(r.child, true);
        this.#watch(r);
      }
      debug("[%d] line %d: %s", r.child.pid, line, command);
      r.child.stdin?.write(`${command}\n${SYNC}\n`);
    });
  }

  /**
   * Stops the helper: closes its input, so it finishes the commands already sent and exits (SIGKILL after 2 s);
   * resolves once it has exited. Commands it did not answer resolve `lost`.
   */
  close(): Promise<void> {
    if (this.#idleTimer !== undefined) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
    const r = this.#running;
    if (r === undefined) return Promise.resolve();
    this.#running = undefined;
    if (!r.dead) {
      // Keep Node alive until the helper has exited, so a caller awaiting this knows it is gone.
      r.child.ref();
      refHandles(r.child, true);
      r.child.stdin?.end();
      const force = setTimeout(() => r.child.kill("SIGKILL"), 2_000);
      force.unref();
      void r.closed.then(() => clearTimeout(force));
    }
    return r.closed;
  }

  #start(): Running {
    if (this.#running !== undefined && !this.#running.dead) return this.#running;
    const child = spawn(this.ipPath, ["-force", "-batch", "-"], {
      cwd: "/",
      env: { ...process.env, LC_ALL: "C" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    let closed!: () => void;
    const r: Running = {
      child,
      pending: [],
      lines: 0,
      buffered: "",
      watchdog: undefined,
      answered: false,
      closed: new Promise<void>((resolve) => {
        closed = resolve;
      }),
      dead: false,
    };
    this.#running = r;
    debug("started %s -force -batch - (pid %s)", this.ipPath, child.pid);
    child.unref();
    refHandles(child, false);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => this.#onData(r, chunk));
    // A write after the helper died fails with EPIPE; its death is handled on "close".
    child.stdin?.on("error", (e) => debug("[%d] stdin: %s", child.pid, e.message));
    child.once("error", (e) => {
      this.#dead(r, `cannot run ${this.ipPath}: ${e.message}`);
      closed();
    });
    child.once("close", (code, signal) => {
      this.#dead(r, `the helper exited (${signal ?? `exit ${code}`})`);
      closed();
    });
    return r;
  }

  #onData(r: Running, chunk: string): void {
    r.buffered += chunk;
    for (let end = r.buffered.indexOf("\n"); end >= 0; end = r.buffered.indexOf("\n")) {
      const text = r.buffered.slice(0, end);
      r.buffered = r.buffered.slice(end + 1);
      this.#onLine(r, text);
      if (r.dead) return;
    }
  }

  #onLine(r: Running, text: string): void {
    const head = r.pending[0];
    const failed = FAILED.exec(text);
    if (failed !== null) {
      const n = Number(failed[1]);
      if (head !== undefined && n === head.line) {
        head.failed = true;
        return;
      }
      if (head !== undefined && n === head.syncLine) {
        r.pending.shift();
        r.answered = true;
        this.#barren = 0;
        this.#watch(r);
        debug("[%d] line %d %s %o", r.child.pid, head.line, head.failed ? "failed" : "ok", head.messages);
        head.resolve({ kind: "done", ok: !head.failed, messages: head.messages });
        if (r.pending.length === 0) this.#idle(r);
        return;
      }
      this.#kill(r, `out of step: "${text}" while waiting for line ${head?.line ?? "none"}`);
      return;
    }
    if (SYNC_ECHO.test(text)) return;
    if (head === undefined) debug("[%d] unexpected output: %s", r.child.pid, text);
    else head.messages.push(text);
  }

  /** (Re)arms the watchdog for the command now at the head of the queue, if any. */
  #watch(r: Running): void {
    if (r.watchdog !== undefined) clearTimeout(r.watchdog);
    r.watchdog = undefined;
    const head = r.pending[0];
    if (head === undefined || r.dead) return;
    r.watchdog = setTimeout(() => {
      this.#kill(r, `no answer to line ${head.line} within ${this.#commandTimeoutMs} ms`);
    }, this.#commandTimeoutMs);
    r.watchdog.unref();
  }

  #idle(r: Running): void {
    refHandles(r.child, false);
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#running === r && r.pending.length === 0) {
        debug("[%d] idle for %d ms: stopping", r.child.pid, this.#idleMs);
        void this.close();
      }
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  #kill(r: Running, reason: string): void {
    debug("[%d] killing the helper: %s", r.child.pid, reason);
    this.#dead(r, reason);
    r.child.kill("SIGKILL");
  }

  #dead(r: Running, reason: string): void {
    if (r.dead) return;
    r.dead = true;
    if (this.#running === r) this.#running = undefined;
    if (!r.answered && r.pending.length > 0) this.#barren++;
    refHandles(r.child, false);
    if (r.pending.length > 0) debug("[%s] %d command(s) lost: %s", r.child.pid, r.pending.length, reason);
    if (r.watchdog !== undefined) clearTimeout(r.watchdog);
    for (const p of r.pending.splice(0)) p.resolve({ kind: "lost", reason });
  }
}

/** Keeps Node alive (ref) while commands are in flight; lets it exit (unref) while the helper is idle. */
function refHandles(child: ChildProcess, ref: boolean): void {
  for (const stream of [child.stdin, child.stderr]) {
    const handle = stream as unknown as { ref?: () => void; unref?: () => void } | null;
    if (ref) handle?.ref?.();
    else handle?.unref?.();
  }
}

/**
 * Names sent to the helper: a plain word iproute2's batch parser passes through unchanged (no blanks, quotes,
 * `#` or backslash) that cannot be read as an option or keyword (`-all` would make `netns del` delete every
 * namespace). Other valid names take the spawned-tools path.
 */
const HELPER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:@+=,-]{0,199}$/;

const helperDirs = new Map<string, boolean>();

/** `dir` with symbolic links resolved, also when `dir` itself does not exist yet (its parent must). */
function realDir(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return join(realpathSync(dirname(dir)), basename(dir));
  }
}

function sameDirAsIproute2(dir: string): boolean {
  const known = helperDirs.get(dir);
  if (known !== undefined) return known;
  try {
    // iproute2's NETNS_RUN_DIR is compiled in: /var/run/netns (upstream) or /run/netns (Debian). Use the helper
    // only when both spellings and `dir` are the same directory, as they are wherever /var/run links to /run.
    const real = realDir(dir);
    const same = real === realDir("/run/netns") && real === realDir("/var/run/netns");
    helperDirs.set(dir, same);
    return same;
  } catch {
    return false;
  }
}

/** Stops using the helper for namespaces in `dir` (it did not create one where expected). @internal */
export function helperUnusableFor(dir: string): void {
  helperDirs.set(dir, false);
}

/**
 * Whether the namespace file `path` can be created and deleted through the resident helper: it is in iproute2's
 * own netns directory (`ip netns` takes names, not paths) and its name is a plain word (see above).
 *
 * @internal
 */
export function helperCanHandle(path: string): boolean {
  return HELPER_NAME.test(basename(path)) && sameDirAsIproute2(dirname(path));
}

const helpers = new Map<string, IpBatch>();

/** The shared helper that runs `ipPath`, created on first use. @internal */
export function helperFor(ipPath: string): IpBatch {
  let helper = helpers.get(ipPath);
  if (helper === undefined) {
    helper = new IpBatch(ipPath);
    helpers.set(ipPath, helper);
  }
  return helper;
}

/** The pids of the resident helpers running now (for tests and diagnostics). @internal */
export function helperPids(): number[] {
  return [...helpers.values()].map((h) => h.pid).filter((pid): pid is number => pid !== undefined);
}

/**
 * Stops the resident `ip -batch` helper(s) that {@link createNetns} and {@link deleteNetns} use for namespaces in
 * `/run/netns`, and waits until they have exited. Optional: an idle helper stops by itself after a few seconds
 * and whenever this process exits, and it never keeps Node running; call this at shutdown to stop it at once.
 * The next create or delete starts a new one.
 */
export async function stopNetnsHelper(): Promise<void> {
  await Promise.all([...helpers.values()].map((h) => h.close()));
}
