import { appendFileSync, closeSync, createReadStream, fstatSync } from "node:fs";
import { Socket } from "node:net";
import type { Readable } from "node:stream";
import { format } from "node:util";
import createDebug from "debug";
import {
  BERTH_LOGGER_FLAGS,
  type BerthLoggerOptions,
  parseBerthLoggerArgv,
  resolveBerthLoggerLimits,
} from "./berth-logger-options.js";
import { parseFluentdAddress } from "./fluentd.js";
import { FluentdForwarder } from "./fluentd-forwarder.js";
import type { JsonFileChunk } from "./json-file-encoder.js";
import { JsonFileWriter } from "./json-file-writer.js";
import { LineSplitter, type LogBatch, type LogStream } from "./line-splitter.js";
import { wallClockNs } from "./rfc3339.js";

const debug = createDebug("berth:log-shim:logger");

// Milliseconds from an arbitrary origin (the `performance` global would load perf_hooks during start-up).
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** containerd's binary logging protocol: the file descriptors a logger inherits from the shim. */
export const CONTAINERD_LOGGER_FDS = { stdout: 3, stderr: 4, ready: 5 } as const;

/** What {@link runBerthLogger} runs with; the defaults are containerd's (fds 3, 4, 5 and the process env). */
export interface BerthLoggerProcess {
  /** The arguments after the script, as containerd passes them (`--key value`, any order) or `--key=value`. */
  readonly argv: readonly string[];
  /** `CONTAINER_ID` and `CONTAINER_NAMESPACE` are read from here. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Readable fds of the container's stdout and stderr, and the ready pipe closed once the logger is ready. */
  readonly fds?: { readonly stdout: number; readonly stderr: number; readonly ready: number };
  /**
   * The container's stdout and stderr as streams the caller already opened (a host such as
   * {@link startBerthLoggerServer}); read instead of `fds.stdout` / `fds.stderr` and destroyed at the end, also when
   * the runtime stops early (bad flags, a sink that cannot be opened). Give `readySignalled` with them.
   */
  readonly streams?: { readonly stdout: Readable; readonly stderr: Readable };
  /**
   * True when the ready pipe was already closed before the runtime started (the bin's shell preamble closes fd 5
   * before Node starts, so the container's start overlaps the logger's); the runtime then leaves that fd alone.
   */
  readonly readySignalled?: boolean;
  /** Where usage errors go (containerd gives a logger /dev/null as stderr). */
  readonly errorOut?: (line: string) => void;
  /**
   * Set when the runtime is hosted (by {@link startBerthLoggerServer}) rather than being the whole process: the drain
   * starts when this aborts instead of on SIGTERM, no process signal handler is installed, and `--debug-file` is left
   * to the host (its debug output is process-wide).
   */
  readonly terminate?: AbortSignal;
  /**
   * Hosted runtimes only: aborting it hands the container back before its output ended. The runtime stops reading
   * (what it read is written, a partial line as a partial record), closes its sink and resolves to
   * {@link BERTH_LOGGER_HANDED_BACK}; the rest stays in the pipes for whoever reads them next.
   */
  readonly detach?: AbortSignal;
}

/** What {@link runBerthLogger} resolves to when its `detach` signal stopped it before the output ended. */
export const BERTH_LOGGER_HANDED_BACK = 75;

/** What the logger did, as logged at exit. */
export interface BerthLoggerStats {
  /** Messages handed to the sink. */
  written: number;
  /** Messages dropped because the non-blocking buffer was full. */
  droppedBufferFull: number;
  /** Messages dropped because the sink failed (write error, fluentd unreachable or too slow, drain deadline). */
  droppedSinkFailure: number;
}

/** Usage text of the `berth-logger` binary. */
export const BERTH_LOGGER_USAGE = `usage: berth-logger --driver json-file|fluentd [flags]   (started by containerd's shim)

containerd's binary logging protocol: reads the container's stdout from fd 3 and stderr from fd 4, closes fd 5
once ready, takes CONTAINER_ID / CONTAINER_NAMESPACE from the environment, drains and exits on EOF or SIGTERM.
Flags (each takes a value, --flag value or --flag=value): ${BERTH_LOGGER_FLAGS.map((f) => `--${f}`).join(", ")}.
Build a URI with buildBerthLoggerUri() from @berth/log-shim or \`pnpm berth log-uri berth-logger ...\`.`;

// What a sink made of bytes read, queued until written: `lines` messages from `bytes` bytes read.
interface Prepared {
  readonly item: unknown;
  readonly lines: number;
}

// Decides whether `lines` messages of `bytesRead` bytes read, `bytesQueued` bytes once prepared, may be queued
// (non-blocking mode drops what does not fit, counting bytes read; blocking mode counts what waits for the sink).
type Admit = (bytesRead: number, lines: number, bytesQueued: number) => boolean;

// `take` runs as bytes are read (json-file encodes there, so only one buffer per read waits for the disk) and
// returns what to queue; `write` gets the queued items in order; `discard` frees items that will never be written.
// `writeSync`, when a sink has it, writes one item at once: blocking mode uses it instead of the queue (json-file:
// a synchronous write per read costs less than a thread-pool round trip, and blocking is what the mode asks for).
interface Sink {
  take(stream: LogStream, chunk: Buffer | undefined, timeNs: bigint, admit: Admit): Prepared | undefined;
  write(items: readonly unknown[], signal: AbortSignal): Promise<void>;
  writeSync?: (item: unknown) => void;
  discard(items: readonly unknown[]): void;
  close(): Promise<void>;
}

/**
 * A stream reading `fd`: pipes and sockets (what containerd gives a logger) without the thread pool, anything else
 * (a file) as a file stream. Throws when `fd` is not open.
 * @internal
 */
export function fdReader(fd: number): Readable {
  const st = fstatSync(fd);
  return st.isFIFO() || st.isSocket()
    ? new Socket({ fd, readable: true, writable: false })
    : createReadStream("", { fd });
}

/**
 * Turns on `berth:log-shim*` debug output (unless `DEBUG` says otherwise) and appends it to `path`; a file that
 * cannot be written is ignored.
 * @internal
 */
export function sendDebugTo(path: string): void {
  createDebug.enable(process.env.DEBUG || "berth:log-shim*");
  createDebug.log = (...args: unknown[]) => {
    try {
      appendFileSync(path, `${format(...args)}\n`);
    } catch {
      // A debug file that cannot be written must not stop the logger.
    }
  };
}

async function openSink(o: BerthLoggerOptions, env: BerthLoggerProcess["env"]): Promise<Sink | Error> {
  const limits = resolveBerthLoggerLimits(o);
  const d = o.driver;
  if (d.name === "json-file") {
    const opened = await JsonFileWriter.open(d.logPath, {
      maxSizeBytes: limits.maxSizeBytes,
      maxFile: d.maxFile ?? 1,
    });
    if (opened.isErr()) return opened.error;
    const writer = opened.value;
    const encoders = { stdout: writer.encoder("stdout"), stderr: writer.encoder("stderr") };
    return {
      take: (stream, chunk, timeNs, admit) => {
        const c = chunk === undefined ? encoders[stream].end(timeNs) : encoders[stream].push(chunk, timeNs);
        if (c === undefined) return undefined;
        if (admit(chunk?.length ?? 0, c.lines, c.data.length)) return { item: c, lines: c.lines };
        c.release();
        return undefined;
      },
      write: (chunks) => writer.writeChunks(chunks as JsonFileChunk[]),
      writeSync: (chunk) => writer.writeChunksSync([chunk as JsonFileChunk]),
      discard: (chunks) => {
        for (const c of chunks as JsonFileChunk[]) c.release();
      },
      close: () => writer.close(),
    };
  }
  const address = parseFluentdAddress(d.address ?? "")._unsafeUnwrap(); // validated, never tls
  const containerId = env.CONTAINER_ID ?? "";
  const forwarder = new FluentdForwarder({
    address: address as Exclude<typeof address, { protocol: "tls" }>,
    tag: d.tag ?? containerId.slice(0, 12),
    containerId,
    containerName: o.containerName ?? containerId,
    writeTimeoutMs: limits.writeTimeoutMs,
  });
  const splitters = { stdout: new LineSplitter(), stderr: new LineSplitter() };
  return {
    take: (stream, chunk, timeNs, admit) => {
      const lines = chunk === undefined ? splitters[stream].end() : splitters[stream].push(chunk);
      // Admitted line by line, so a full buffer drops whole messages and keeps the rest of the read.
      const admitted = lines.filter((l) => admit(l.end - l.start + 1, 1, l.end - l.start + 1));
      if (admitted.length === 0) return undefined;
      const batch: LogBatch = { stream, timeNs, lines: admitted };
      return { item: batch, lines: admitted.length };
    },
    write: (batches, signal) => forwarder.write(batches as LogBatch[], signal),
    discard: () => {},
    close: () => forwarder.close(),
  };
}

/**
 * Runs `berth-logger`: parses its flags, opens the sink (json-file or fluentd), reads the container's stdout and
 * stderr pipes, closes the ready pipe, and forwards every line until both pipes reach EOF; the drain after EOF or
 * SIGTERM (whichever comes first) lasts at most the cleanup time. Resolves to the exit code: 0 after a drain, 2 on
 * bad flags, 1 when the sink cannot be opened ({@link BERTH_LOGGER_HANDED_BACK} when a host detached it).
 *
 * Modes: `blocking` lets a slow sink slow the container: json-file writes each read's JSON synchronously before
 * reading on; fluentd stops reading the pipes while more than the buffer size (1 MiB by default) waits for it;
 * `non-blocking` always reads and drops what does not fit `--max-buffer-size`.
 * In both modes a sink failure (write error, fluentd unreachable for `--fluentd-write-timeout`) drops the lines
 * concerned: the logger never exits or stalls on it. Drops are counted and logged.
 */
export async function runBerthLogger(p: BerthLoggerProcess): Promise<number> {
  const startedAt = nowMs();
  const fds = p.fds ?? CONTAINERD_LOGGER_FDS;
  const errorOut = p.errorOut ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (p.argv.includes("--help") || p.argv.includes("-h")) {
    errorOut(BERTH_LOGGER_USAGE);
    return 0;
  }
  const given = p.streams;
  const dropStreams = () => {
    given?.stdout.destroy();
    given?.stderr.destroy();
  };
  const parsed = parseBerthLoggerArgv(p.argv);
  if (parsed.isErr()) {
    dropStreams();
    errorOut(`berth-logger: ${parsed.error.message}\n\n${BERTH_LOGGER_USAGE}`);
    return 2;
  }
  const o = parsed.value;
  const hosted = p.terminate !== undefined;
  if (o.debugFile !== undefined && !hosted) sendDebugTo(o.debugFile);
  const limits = resolveBerthLoggerLimits(o);
  const nonBlocking = o.mode === "non-blocking";
  const sink = await openSink(o, p.env);
  if (sink instanceof Error) {
    dropStreams();
    debug("cannot start: %s", sink.message);
    errorOut(`berth-logger: ${sink.message}`);
    return 1;
  }
  debug(
    "container %s/%s: %s driver, %s mode, buffer %d bytes",
    p.env.CONTAINER_NAMESPACE ?? "",
    p.env.CONTAINER_ID ?? "",
    o.driver.name,
    nonBlocking ? "non-blocking" : "blocking",
    limits.maxBufferBytes,
  );

  const stats: BerthLoggerStats = { written: 0, droppedBufferFull: 0, droppedSinkFailure: 0 };
  let queue: Prepared[] = [];
  let queuedBytes = 0;
  let ended = 0;
  let dropping = 0;
  let wake: (() => void) | undefined;
  const readers: Readable[] = [];
  const abort = new AbortController();

  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };

  // Blocking mode with a synchronous sink writes each read as it is taken: nothing queues, nothing to bound.
  const direct = nonBlocking ? undefined : sink.writeSync;
  const admit: Admit = direct
    ? () => true
    : nonBlocking
      ? (bytes, lines) => {
          if (queuedBytes + bytes <= limits.maxBufferBytes || queuedBytes === 0) {
            queuedBytes += bytes;
            if (dropping > 0 && queuedBytes < limits.maxBufferBytes / 2) {
              debug(
                "buffer has room again after dropping %d lines (%d dropped in all)",
                dropping,
                stats.droppedBufferFull,
              );
              dropping = 0;
            }
            return true;
          }
          if (dropping === 0) debug("buffer full (%d bytes): dropping lines until the sink catches up", queuedBytes);
          dropping += lines;
          stats.droppedBufferFull += lines;
          return false;
        }
      : (_bytesRead, _lines, bytesQueued) => {
          // JSON is ~11x the bytes read for short lines: bounding it keeps the memory written to (and faulted in) small.
          queuedBytes += bytesQueued;
          if (queuedBytes >= limits.maxBufferBytes) for (const r of readers) r.pause();
          return true;
        };

  let reads = 0;
  let bytesRead = 0;
  // chunk undefined: the stream ended.
  const enqueue = (stream: LogStream, chunk: Buffer | undefined) => {
    if (chunk !== undefined) {
      reads++;
      bytesRead += chunk.length;
    }
    let prepared: Prepared | undefined;
    try {
      prepared = sink.take(stream, chunk, wallClockNs(), admit);
    } catch (e) {
      // Never let one bad read take the logger (and with it the container's pipes) down.
      stats.droppedSinkFailure++;
      debug("dropped a read of %d bytes: cannot encode it: %s", chunk?.length ?? 0, (e as Error).message);
      return;
    }
    if (prepared === undefined) return;
    if (direct !== undefined) {
      try {
        direct(prepared.item);
        stats.written += prepared.lines;
      } catch (e) {
        stats.droppedSinkFailure += prepared.lines;
        debug(
          "dropped %d lines: %s (%d dropped in all)",
          prepared.lines,
          (e as Error).message,
          stats.droppedSinkFailure,
        );
      }
      return;
    }
    queue.push(prepared);
    notify();
  };

  // The drain is bounded by --cleanup-time from SIGTERM or from the end of both streams, whichever comes first
  // (containerd's shim closes the pipes and sends SIGTERM together; the bin's shell preamble keeps SIGTERM away
  // from Node, which could not survive one during its start-up).
  let startDrain: (why: string) => void = () => {};
  const deadline = new Promise<void>((resolve) => {
    let started = false;
    startDrain = (why) => {
      if (started) return;
      started = true;
      debug("%s after %d ms: draining for up to %d ms", why, Math.round(nowMs() - startedAt), limits.cleanupMs);
      setTimeout(resolve, limits.cleanupMs).unref();
    };
  });
  const onSignal = () => startDrain("SIGTERM");
  const onTerminate = () => startDrain("terminate");
  if (hosted) p.terminate?.addEventListener("abort", onTerminate, { once: true });
  else {
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  }
  if (p.terminate?.aborted) onTerminate();
  const streamEnded = () => {
    ended++;
    if (ended >= 2) startDrain("end of output");
  };

  const stopReading: Array<() => void> = [];
  const open = (source: number | Readable, stream: LogStream) => {
    let socket: Readable;
    try {
      socket = typeof source === "number" ? fdReader(source) : source;
    } catch (e) {
      debug("cannot read %s from fd %d: %s", stream, source, (e as Error).message);
      streamEnded();
      return;
    }
    readers.push(socket);
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      debug("%s ended after %d ms", stream, Math.round(nowMs() - startedAt));
      enqueue(stream, undefined);
      streamEnded();
      notify();
    };
    socket.on("data", (chunk: Buffer) => enqueue(stream, chunk));
    socket.on("end", finish);
    socket.on("error", (e) => {
      debug("reading %s failed: %s", stream, e.message);
      finish();
    });
    socket.on("close", finish);
    // A stream the host opened may have ended before these listeners were attached ('end' comes only after its
    // buffered data was read, so nothing is lost).
    if (socket.readableEnded || socket.destroyed) finish();
    stopReading.push(() => {
      if (done) return;
      // Whatever a paused stream holds was read from the pipe: it is logged here, not lost.
      socket.pause();
      for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null) enqueue(stream, c);
      socket.destroy();
      finish();
    });
  };
  open(given?.stdout ?? fds.stdout, "stdout");
  open(given?.stderr ?? fds.stderr, "stderr");
  if (!p.readySignalled) {
    try {
      closeSync(fds.ready);
    } catch (e) {
      debug("ready fd %d: %s", fds.ready, (e as Error).message);
    }
  }

  let detached = false;
  const onDetach = () => {
    if (ended >= 2) return;
    detached = true;
    debug("handed back after %d ms", Math.round(nowMs() - startedAt));
    for (const stop of stopReading) stop();
  };
  if (p.detach?.aborted) onDetach();
  else p.detach?.addEventListener("abort", onDetach, { once: true });

  const pump = async () => {
    for (;;) {
      if (queue.length === 0) {
        if (ended >= 2 || abort.signal.aborted) return;
        await new Promise<void>((resolve) => {
          wake = resolve;
        });
        continue;
      }
      const batches = queue;
      queue = [];
      queuedBytes = 0;
      for (const r of readers) if (r.isPaused()) r.resume();
      let n = 0;
      for (const b of batches) n += b.lines;
      try {
        await sink.write(
          batches.map((b) => b.item),
          abort.signal,
        );
        stats.written += n;
      } catch (e) {
        stats.droppedSinkFailure += n;
        debug("dropped %d lines: %s (%d dropped in all)", n, (e as Error).message, stats.droppedSinkFailure);
      }
    }
  };

  await Promise.race([pump(), deadline]);
  p.terminate?.removeEventListener("abort", onTerminate);
  p.detach?.removeEventListener("abort", onDetach);
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  if (ended < 2 || queue.length > 0) {
    abort.abort();
    let n = 0;
    for (const b of queue) n += b.lines;
    sink.discard(queue.map((b) => b.item));
    queue = [];
    stats.droppedSinkFailure += n;
    debug("cleanup time over: %d queued lines dropped", n);
    notify();
  }
  for (const r of readers) r.destroy();
  await sink.close().catch((e: Error) => debug("closing the sink failed: %s", e.message));
  debug(
    "done: %d lines written, %d dropped (buffer full %d, sink failure %d); %d reads, %d bytes; %d ms since start",
    stats.written,
    stats.droppedBufferFull + stats.droppedSinkFailure,
    stats.droppedBufferFull,
    stats.droppedSinkFailure,
    reads,
    bytesRead,
    Math.round(nowMs() - startedAt),
  );
  return detached ? BERTH_LOGGER_HANDED_BACK : 0;
}
