// A resident berth-logger: one Node process (`berth-logger serve`, or an agent embedding startBerthLoggerServer) that
// does the logging for every container whose URI carries `--server=<socket>`. The logger containerd starts is then
// the bin's shell preamble plus a small perl hand-over (src/bin/preamble.ts) instead of a Node process per container,
// so the container's start no longer shares the CPU with Node's start-up, and nothing is torn down at its exit.
//
// Protocol (one connection per container, on a unix stream socket):
//   client -> server  "<length>\n" then <length> bytes: "berth-logger/1" NUL <pid> NUL <CONTAINER_ID> NUL
//                     <CONTAINER_NAMESPACE> NUL <arg> NUL <arg> ...   (the logger's argv as containerd gave it)
//   server -> client  "error <text>\n" (any number: usage and sink errors, for the logger's stderr), then either
//                     "exit <code>\n" (the run is over: the client exits with that code) or
//                     "fallback <why>\n" (the server did not take the pipes: the client's shell runs the logger itself).
// The server opens the client's fds 3 and 4 through /proc/<pid>/fd (for a pipe that is a new reader of the same pipe)
// and runs the same runtime as the standalone logger on them. A connection that closes before "exit" (the server
// died) makes the client's shell run the standalone logger on the rest of the pipes.
//
// Access control is the socket's: it is created 0600, so only the server's user (root, like the shim's loggers)
// can connect; the server reads the pipes of whatever pid a client names, which root could read anyway.
import { chmodSync, constants, existsSync, openSync, rmSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { Readable } from "node:stream";
import createDebug from "debug";
import { errAsync, okAsync, ResultAsync } from "neverthrow";
import { LogShimError } from "./errors.js";
import { BERTH_LOGGER_HANDED_BACK, fdReader, runBerthLogger } from "./logger-runtime.js";

const debug = createDebug("berth:log-shim:server");

/** The first field of a hand-over request; a server refuses any other. */
export const BERTH_LOGGER_PROTOCOL = "berth-logger/1";

// A request is a few hundred bytes (argv and two ids); anything far larger is not a berth-logger client.
const MAX_REQUEST_BYTES = 64 * 1024;
const REQUEST_TIMEOUT_MS = 5000;

/** Options of {@link startBerthLoggerServer}. */
export interface BerthLoggerServerOptions {
  /** Absolute path of the unix socket to listen on; the `--server` of the loggers' URIs. Created 0600. */
  readonly socketPath: string;
  /** Aborting it closes the server as {@link BerthLoggerServer.close} does. */
  readonly signal?: AbortSignal;
}

/** A running resident logger. */
export interface BerthLoggerServer {
  /** The socket it listens on. */
  readonly socketPath: string;
  /** Containers it is logging for right now. */
  readonly sessions: number;
  /** Containers it has taken since it started. */
  readonly served: number;
  /**
   * Stops taking containers, removes the socket and hands every container it logs for back to that container's own
   * logger process, which goes on as a standalone logger (Node) from where the server stopped reading: what the
   * server read is written (a partial line as a partial record), the rest is read by the standalone logger. Resolves
   * once every container was handed back.
   */
  close(): Promise<void>;
}

interface Session {
  readonly terminate: AbortController;
  readonly detach: AbortController;
  readonly done: Promise<void>;
}

/** Parses a complete request payload; a string says what is wrong with it. */
function parseRequest(payload: string): { pid: number; env: Record<string, string>; argv: string[] } | string {
  const fields = payload.split("\0");
  if (fields[0] !== BERTH_LOGGER_PROTOCOL) return `not a ${BERTH_LOGGER_PROTOCOL} request`;
  const pid = Number(fields[1]);
  if (!Number.isSafeInteger(pid) || pid < 2) return `bad pid ${JSON.stringify(fields[1])}`;
  if (fields.length < 4) return "the request is incomplete";
  return {
    pid,
    env: { CONTAINER_ID: fields[2] ?? "", CONTAINER_NAMESPACE: fields[3] ?? "" },
    argv: fields.slice(4),
  };
}

// Opens the client's fds 3 and 4 (its stdout and stderr pipes from the shim) as new readers of the same pipes.
function openPipes(pid: number): { stdout: Readable; stderr: Readable } | string {
  const opened: Readable[] = [];
  for (const fd of [3, 4]) {
    const path = `/proc/${pid}/fd/${fd}`;
    let n: number;
    try {
      // Non-blocking: opening a pipe for reading would otherwise wait for a writer.
      n = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      for (const r of opened) r.destroy();
      return `cannot open ${path}: ${(e as Error).message}`;
    }
    try {
      opened.push(fdReader(n));
    } catch (e) {
      for (const r of opened) r.destroy();
      return `cannot read ${path}: ${(e as Error).message}`;
    }
  }
  const [stdout, stderr] = opened as [Readable, Readable];
  return { stdout, stderr };
}

/**
 * Starts a resident `berth-logger` on a unix socket: every logger whose URI carries `--server=<socketPath>` hands the
 * container's stdout and stderr pipes to this process, which logs them exactly as the standalone logger would (same
 * flags, drivers, modes and exit codes), without a Node start-up per container. Run it as root, like the loggers
 * containerd's shim starts (it opens their pipes through `/proc/<pid>/fd`). `berth-logger serve --socket PATH` runs
 * one as its own process.
 *
 * A stale socket file (nothing answers on it) is replaced. Fails with `NotAbsolutePath`, or `ServerFailed` when
 * another server answers on the socket or it cannot be listened on.
 */
export function startBerthLoggerServer(
  options: BerthLoggerServerOptions,
): ResultAsync<BerthLoggerServer, LogShimError> {
  const path = options.socketPath;
  if (typeof path !== "string" || !path.startsWith("/")) {
    return errAsync(
      new LogShimError("NotAbsolutePath", `socket path ${JSON.stringify(path)} is not an absolute path; give one`, {
        option: "server",
      }),
    );
  }
  if (options.signal?.aborted) {
    return errAsync(new LogShimError("ServerFailed", "the signal was already aborted: nothing was started"));
  }
  return ResultAsync.fromSafePromise(answers(path)).andThen((live) => {
    if (live) {
      return errAsync(
        new LogShimError(
          "ServerFailed",
          `a server already answers on ${path}: stop it, or give this one another socket path`,
          { option: "server" },
        ),
      );
    }
    if (existsSync(path)) rmSync(path, { force: true });
    return listen(path, options.signal);
  });
}

// True when something accepts connections on the socket.
function answers(path: string): Promise<boolean> {
  if (!existsSync(path)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
}

function listen(path: string, signal: AbortSignal | undefined): ResultAsync<BerthLoggerServer, LogShimError> {
  const sessions = new Set<Session>();
  // Connections whose request has not come yet.
  const pending = new Set<Socket>();
  let served = 0;
  let closing: Promise<void> | undefined;
  const server: Server = createServer((socket) => {
    served++;
    serve(socket, served, sessions, pending);
  });
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      debug("closing %s: %d containers still logging", path, sessions.size);
      signal?.removeEventListener("abort", onAbort);
      server.close(() => resolve());
      rmSync(path, { force: true });
      for (const s of pending) s.destroy();
      for (const s of sessions) s.detach.abort();
    }).then(() => Promise.all([...sessions].map((s) => s.done)).then(() => undefined));
    return closing;
  };
  const onAbort = () => void close();
  return ResultAsync.fromPromise(
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve();
      });
    }),
    (e) =>
      new LogShimError("ServerFailed", `cannot listen on ${path}: ${(e as Error).message}`, {
        option: "server",
        cause: e,
      }),
  ).andThen(() => {
    try {
      chmodSync(path, 0o600);
    } catch (e) {
      server.close();
      rmSync(path, { force: true });
      return errAsync(
        new LogShimError("ServerFailed", `cannot make ${path} private (0600): ${(e as Error).message}`, {
          option: "server",
          cause: e,
        }),
      );
    }
    server.on("error", (e) => debug("server %s: %s", path, e.message));
    signal?.addEventListener("abort", onAbort, { once: true });
    debug("serving on %s", path);
    return okAsync<BerthLoggerServer>({
      socketPath: path,
      get sessions() {
        return sessions.size;
      },
      get served() {
        return served;
      },
      close,
    });
  });
}

// One client connection: read its request, take its pipes, run the logger on them, answer with the exit code.
function serve(socket: Socket, n: number, sessions: Set<Session>, pending: Set<Socket>): void {
  let buf: Buffer = Buffer.alloc(0);
  let started = false;
  pending.add(socket);
  // A client sends its request at once; one that does not is dropped.
  socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
    if (started) return;
    debug("client %d: no request within %d ms", n, REQUEST_TIMEOUT_MS);
    socket.destroy();
  });
  socket.on("close", () => pending.delete(socket));
  const reply = (line: string) => {
    if (!socket.destroyed) socket.write(`${line}\n`);
  };
  socket.on("error", (e) => debug("client %d: %s", n, e.message));
  socket.on("data", (chunk: Buffer) => {
    if (started) return;
    if (buf.length + chunk.length > MAX_REQUEST_BYTES + 16) {
      started = true;
      socket.end("fallback request too large\n");
      return;
    }
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    const nl = buf.indexOf(10);
    const length = nl < 0 ? Number.NaN : Number(buf.toString("latin1", 0, nl));
    if (nl < 0 ? buf.length > 16 : !Number.isSafeInteger(length) || length > MAX_REQUEST_BYTES) {
      started = true;
      debug("client %d: not a %s client", n, BERTH_LOGGER_PROTOCOL);
      socket.end("fallback bad request\n");
      return;
    }
    if (nl < 0 || buf.length < nl + 1 + length) return;
    started = true;
    pending.delete(socket);
    socket.setTimeout(0);
    const request = parseRequest(buf.toString("utf8", nl + 1, nl + 1 + length));
    if (typeof request === "string") {
      debug("client %d: %s", n, request);
      socket.end(`fallback ${request}\n`);
      return;
    }
    const streams = openPipes(request.pid);
    if (typeof streams === "string") {
      debug("client %d (pid %d): %s", n, request.pid, streams);
      socket.end(`fallback ${streams}\n`);
      return;
    }
    const terminate = new AbortController();
    const detach = new AbortController();
    // The client went away before the end (it was killed): drain what is there within the cleanup time, as after
    // SIGTERM.
    socket.on("close", () => terminate.abort());
    debug(
      "client %d (pid %d): container %s/%s",
      n,
      request.pid,
      request.env.CONTAINER_NAMESPACE,
      request.env.CONTAINER_ID,
    );
    const done = runBerthLogger({
      argv: request.argv,
      env: request.env,
      streams,
      readySignalled: true,
      terminate: terminate.signal,
      detach: detach.signal,
      errorOut: (text) => {
        for (const line of text.split("\n")) reply(`error ${line}`);
      },
    })
      .catch((e: unknown) => {
        streams.stdout.destroy();
        streams.stderr.destroy();
        reply(`error berth-logger: unexpected failure: ${String(e)}`);
        return 1;
      })
      .then((code) => {
        debug(
          "client %d (pid %d): %s",
          n,
          request.pid,
          code === BERTH_LOGGER_HANDED_BACK ? "handed back" : `exit ${code}`,
        );
        if (!socket.destroyed) {
          socket.end(code === BERTH_LOGGER_HANDED_BACK ? "fallback the server is closing\n" : `exit ${code}\n`);
        }
        sessions.delete(session);
      });
    const session: Session = { terminate, detach, done };
    sessions.add(session);
  });
}
