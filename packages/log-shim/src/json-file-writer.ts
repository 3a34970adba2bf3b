import { close, mkdir, open, rename, rm, stat, writev } from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import createDebug from "debug";
import { errAsync, ResultAsync } from "neverthrow";
import { LogShimError } from "./errors.js";
import { endsLine, type LogBatch, type LogLine, type LogStream, lineText } from "./line-splitter.js";
import { formatRfc3339Nano } from "./rfc3339.js";

const debug = createDebug("berth:log-shim:logger");
const openAsync = promisify(open);
const closeAsync = promisify(close);
const statAsync = promisify(stat);
const mkdirAsync = promisify(mkdir);
const renameAsync = promisify(rename);
const rmAsync = promisify(rm);

// writev until every byte is written (a write to a regular file can be short, e.g. on a full disk's last blocks).
function writevAll(fd: number, buffers: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const rest = buffers.filter((b) => b.length > 0);
    const next = () => {
      if (rest.length === 0) return resolve();
      writev(fd, rest, (e, n) => {
        if (e) return reject(e);
        let left = n;
        while (rest.length > 0 && left >= (rest[0] as Buffer).length) left -= (rest.shift() as Buffer).length;
        if (left > 0) rest[0] = (rest[0] as Buffer).subarray(left);
        next();
      });
    };
    next();
  });
}

/** Encoded json-file lines of one batch: the bytes, and the offset just after each line. */
export interface JsonFileChunk {
  readonly data: Buffer;
  readonly ends: readonly number[];
  /** The buffer `data` lives in, reused once written. */
  readonly backing: Buffer;
}

const OUT_BYTES = 1 << 20;
const MAX_SPARE = 8;
const EMPTY = Buffer.alloc(0);

/** Rotation settings of {@link JsonFileWriter}. */
export interface JsonFileRotation {
  /** Rotate before the file would grow beyond this many bytes; undefined never rotates. */
  readonly maxSizeBytes: number | undefined;
  /** Files kept: the live one plus `path.1` .. `path.<maxFile-1>`; 1 truncates the live file instead. */
  readonly maxFile: number;
}

const PREFIX = Buffer.from('{"log":"');

// True when the bytes can be copied into a JSON string as they are: printable ASCII other than `"` and `\`.
// Anything else (control characters, non-ASCII that may be invalid UTF-8) goes through JSON.stringify.
function plainAscii(data: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const b = data[i] as number;
    if (b < 0x20 || b === 0x22 || b === 0x5c || b >= 0x7f) return false;
  }
  return true;
}

// Buffer#copy costs more than a loop for the short runs a log line is made of.
function copyInto(out: Buffer, at: number, src: Buffer, start: number, end: number): number {
  if (end - start > 128) return at + src.copy(out, at, start, end);
  let o = at;
  for (let i = start; i < end; i++) out[o++] = src[i] as number;
  return o;
}

/**
 * Encodes one message as a Docker json-file line: `{"log":"...\n","stream":"stdout","time":"<RFC3339Nano>"}\n`.
 * The `log` text ends with `\n` when the message ends its line; the pieces of a long line before its last one
 * carry no `\n` (that is how Docker's json-file marks a partial message). Bytes that are not UTF-8 become U+FFFD,
 * as Go's JSON encoder writes them.
 */
export function jsonFileLine(line: LogLine, stream: LogStream, time: string): string {
  const text = lineText(line);
  return `{"log":${JSON.stringify(endsLine(line) ? `${text}\n` : text)},"stream":"${stream}","time":"${time}"}\n`;
}

/**
 * Appends Docker json-file lines to a file with Docker's size-based rotation: before a line would take the file
 * past `maxSizeBytes`, `path.<n-1>` .. `path.1` shift up one, `path` becomes `path.1`, and a new `path` starts
 * (with `maxFile` 1 the live file is truncated). A single line larger than the limit still goes into a fresh file.
 */
export class JsonFileWriter {
  private out: Buffer = EMPTY;

  private constructor(
    private readonly path: string,
    private readonly rotation: JsonFileRotation,
    private fd: number,
    private size: number,
  ) {}

  /** Opens (appends to) the log file, creating its directory. */
  static open(path: string, rotation: JsonFileRotation): ResultAsync<JsonFileWriter, LogShimError> {
    if (!path.startsWith("/")) {
      return errAsync(new LogShimError("NotAbsolutePath", `log path ${JSON.stringify(path)} must be absolute`));
    }
    return ResultAsync.fromPromise(
      (async () => {
        await mkdirAsync(dirname(path), { recursive: true });
        const fd = await openAsync(path, "a", 0o640);
        const { size } = await statAsync(path);
        return new JsonFileWriter(path, rotation, fd, size);
      })(),
      (cause) =>
        new LogShimError(
          "InvalidOption",
          `cannot open the log file ${path}: ${(cause as Error).message}; check the directory exists or can be ` +
            "created and is writable by the shim's user",
          { option: "log-path", cause },
        ),
    );
  }

  private ensure(used: number, more: number): void {
    if (used + more <= this.out.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.out.length * 2, used + more));
    this.out.copy(bigger, 0, 0, used);
    this.out = bigger;
  }

  // Output buffers are reused once written: fresh memory for every read costs page faults, not just a copy.
  private readonly spare: Buffer[] = [];

  /**
   * Encodes a batch into json-file lines now, so the messages (views into the bytes read) can be collected at
   * once and only one buffer per batch waits for the disk.
   */
  encode(batch: LogBatch): JsonFileChunk {
    const time = formatRfc3339Nano(batch.timeNs);
    const tailWhole = Buffer.from(`\\n","stream":"${batch.stream}","time":"${time}"}\n`);
    const tailPiece = tailWhole.subarray(2);
    const ends: number[] = [];
    let used = 0;
    this.out = this.spare.pop() ?? Buffer.allocUnsafeSlow(OUT_BYTES);
    for (const line of batch.lines) {
      if (plainAscii(line.buf, line.start, line.end)) {
        const tail = endsLine(line) ? tailWhole : tailPiece;
        this.ensure(used, PREFIX.length + line.end - line.start + tail.length);
        // Whole small buffers go in with TypedArray#set (fast, no call into C++); the line's bytes by loop.
        this.out.set(PREFIX, used);
        used = copyInto(this.out, used + PREFIX.length, line.buf, line.start, line.end);
        this.out.set(tail, used);
        used += tail.length;
      } else {
        const encoded = jsonFileLine(line, batch.stream, time);
        const n = Buffer.byteLength(encoded);
        this.ensure(used, n);
        this.out.write(encoded, used);
        used += n;
      }
      ends.push(used);
    }
    return { data: this.out.subarray(0, used), ends, backing: this.out };
  }

  /** Writes encoded chunks, rotating between lines; rejects on an I/O error (the caller counts the lines as dropped). */
  async writeChunks(chunks: readonly JsonFileChunk[]): Promise<void> {
    try {
      await this.writeAll(chunks);
    } finally {
      for (const c of chunks)
        if (this.spare.length < MAX_SPARE && c.backing.length === OUT_BYTES) this.spare.push(c.backing);
    }
  }

  private async writeAll(chunks: readonly JsonFileChunk[]): Promise<void> {
    const max = this.rotation.maxSizeBytes;
    if (max === undefined) {
      await writevAll(
        this.fd,
        chunks.map((c) => c.data),
      );
      return;
    }
    for (const chunk of chunks) {
      let from = 0;
      let prev = 0;
      for (const end of chunk.ends) {
        // The line [prev, end) would take the file past the limit: write what came before it, then rotate.
        if (this.size + (end - from) > max && this.size + (prev - from) > 0) {
          if (prev > from) await writevAll(this.fd, [chunk.data.subarray(from, prev)]);
          from = prev;
          await this.rotate();
        }
        prev = end;
      }
      if (prev > from) {
        await writevAll(this.fd, [chunk.data.subarray(from, prev)]);
        this.size += prev - from;
      }
    }
  }

  /** Encodes and writes batches (see {@link JsonFileWriter.encode} and {@link JsonFileWriter.writeChunks}). */
  async write(batches: readonly LogBatch[]): Promise<void> {
    await this.writeChunks(batches.map((b) => this.encode(b)));
  }

  private async rotate(): Promise<void> {
    await closeAsync(this.fd);
    const n = this.rotation.maxFile;
    if (n > 1) {
      await rmAsync(`${this.path}.${n - 1}`, { force: true });
      for (let i = n - 2; i >= 1; i--) {
        await renameAsync(`${this.path}.${i}`, `${this.path}.${i + 1}`).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== "ENOENT") throw e;
        });
      }
      await renameAsync(this.path, `${this.path}.1`);
      this.fd = await openAsync(this.path, "a", 0o640);
    } else {
      this.fd = await openAsync(this.path, "w", 0o640);
    }
    this.size = 0;
    debug("rotated %s (keeping %d files)", this.path, n);
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await closeAsync(this.fd);
  }
}
