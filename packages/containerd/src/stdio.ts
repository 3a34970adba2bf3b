import { execFile } from "node:child_process";
import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable, Writable } from "node:stream";
import createDebug from "debug";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import type { StdioPaths } from "./tasks.js";

const debug = createDebug("berth:containerd:stdio");

/** Which FIFOs {@link createFifoIO} makes. */
export interface FifoIOOptions {
  /** Base name of the FIFOs (`<id>-stdin`...), usually the container or exec id. */
  readonly id: string;
  readonly stdin?: boolean;
  /** Default true. */
  readonly stdout?: boolean;
  /** Default true; ignored with `terminal` (a pty merges both streams into stdout). */
  readonly stderr?: boolean;
  readonly terminal?: boolean;
  /** Directory for the FIFO directory; the OS temp dir when unset. */
  readonly dir?: string;
}

/**
 * FIFO-backed stdio for one process, as Node streams. Lifecycle: create (before Tasks.Create /
 * Tasks.Exec) -> pass {@link FifoIO.paths} -> {@link FifoIO.attach} once the shim has opened
 * the FIFOs (after Tasks.Create for a task, after Tasks.Start for an exec) -> read stdout/stderr
 * until they end (they end once the process exited and its output drained: nothing is lost) ->
 * {@link FifoIO.close}.
 */
export class FifoIO {
  /** Paths to hand to Tasks.Create / Tasks.Exec. */
  readonly paths: StdioPaths;
  /** Writes to the process's stdin; `end()` it to send EOF. */
  readonly stdin: Writable | undefined;
  readonly #dir: string;
  readonly #holders = new Map<"stdout" | "stderr", number>();
  #stdout: Socket | undefined;
  #stderr: Socket | undefined;
  readonly #outputs: Promise<void>[] = [];
  #closed = false;

  /** @internal use {@link createFifoIO}. */
  constructor(dir: string, paths: StdioPaths, stdinFd: number | undefined, holders: Map<"stdout" | "stderr", number>) {
    this.#dir = dir;
    this.paths = paths;
    this.#holders = holders;
    if (stdinFd !== undefined) {
      const s = new Socket({ fd: stdinFd, readable: false, writable: true });
      s.on("error", (e) => debug("stdin %s: %s", dir, e.message));
      this.stdin = s;
    } else {
      this.stdin = undefined;
    }
  }

  /** The process's stdout (with a terminal: all output). Available after {@link FifoIO.attach}. */
  get stdout(): Readable | undefined {
    return this.#stdout;
  }

  /** The process's stderr. Available after {@link FifoIO.attach}. */
  get stderr(): Readable | undefined {
    return this.#stderr;
  }

  /**
   * Swaps each output FIFO's read-write placeholder fd for a read-only one, so the stream ends
   * when the shim closes its end. Call once the shim has opened the FIFOs for writing.
   */
  attach(): Result<void, ContainerdError> {
    for (const [name, rw] of this.#holders) {
      const path = name === "stdout" ? this.paths.stdout : this.paths.stderr;
      if (path === undefined) continue;
      let fd: number;
      try {
        fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      } catch (e) {
        return err(
          new ContainerdError("Unknown", `opening ${path} for reading: ${(e as Error).message}`, { cause: e }),
        );
      }
      const socket = new Socket({ fd, readable: true, writable: false });
      this.#outputs.push(
        new Promise<void>((resolve) => {
          socket.once("close", () => resolve());
          socket.on("error", (e) => debug("%s %s: %s", name, path, e.message));
        }),
      );
      if (name === "stdout") this.#stdout = socket;
      else this.#stderr = socket;
      closeSync(rw);
    }
    this.#holders.clear();
    return ok(undefined);
  }

  /** Resolves when every attached output stream has ended (the process exited and output drained) and been read. */
  drained(): Promise<void> {
    return Promise.all(this.#outputs).then(() => undefined);
  }

  /** Destroys the streams, closes any placeholder fds and removes the FIFOs. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.stdin?.destroy();
    this.#stdout?.destroy();
    this.#stderr?.destroy();
    for (const fd of this.#holders.values()) closeSync(fd);
    this.#holders.clear();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

function mkfifo(paths: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile("mkfifo", ["-m", "0600", ...paths], (error) => (error ? reject(error) : resolve()));
  });
}

/** Makes the FIFOs for one process and opens them without blocking (see {@link FifoIO}). */
export function createFifoIO(options: FifoIOOptions): ResultAsync<FifoIO, ContainerdError> {
  const make = async (): Promise<FifoIO> => {
    const dir = await mkdtemp(join(options.dir ?? tmpdir(), "berth-fifo-"));
    try {
      const wantErr = (options.stderr ?? true) && !(options.terminal ?? false);
      const names = {
        stdin: options.stdin ? join(dir, `${options.id}-stdin`) : undefined,
        stdout: (options.stdout ?? true) ? join(dir, `${options.id}-stdout`) : undefined,
        stderr: wantErr ? join(dir, `${options.id}-stderr`) : undefined,
      };
      const all = [names.stdin, names.stdout, names.stderr].filter((p): p is string => p !== undefined);
      if (all.length > 0) await mkfifo(all);
      const rw = fsConstants.O_RDWR | fsConstants.O_NONBLOCK;
      const holders = new Map<"stdout" | "stderr", number>();
      if (names.stdout) holders.set("stdout", openSync(names.stdout, rw));
      if (names.stderr) holders.set("stderr", openSync(names.stderr, rw));
      const stdinFd = names.stdin ? openSync(names.stdin, rw) : undefined;
      const paths: StdioPaths = {
        ...(names.stdin ? { stdin: names.stdin } : {}),
        ...(names.stdout ? { stdout: names.stdout } : {}),
        ...(names.stderr ? { stderr: names.stderr } : {}),
        ...(options.terminal ? { terminal: true } : {}),
      };
      debug("fifos in %s", dir);
      return new FifoIO(dir, paths, stdinFd, holders);
    } catch (e) {
      await rm(dir, { recursive: true, force: true });
      throw e;
    }
  };
  return ResultAsync.fromPromise(
    make(),
    (e) =>
      new ContainerdError("Unknown", `creating stdio FIFOs for ${options.id}: ${(e as Error).message}`, { cause: e }),
  );
}
