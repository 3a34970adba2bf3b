import {
  close,
  closeSync,
  mkdir,
  open,
  openSync,
  rename,
  renameSync,
  rm,
  rmSync,
  stat,
  writeSync,
  writev,
} from "node:fs";
import { dirname } from "node:path";
import { promisify } from "node:util";
import createDebug from "debug";
import { errAsync, ResultAsync } from "neverthrow";
import { dockerJsonString } from "./docker-json.js";
import { LogShimError } from "./errors.js";
import { JsonFileArena, type JsonFileChunk, JsonFileEncoder } from "./json-file-encoder.js";
import { endsLine, type LogBatch, type LogLine, type LogStream } from "./line-splitter.js";
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

// writeSync until every byte is written.
function writeAllSync(fd: number, data: Buffer): void {
  let from = 0;
  while (from < data.length) from += writeSync(fd, data, from, data.length - from);
}

// Chunks laid out one after the other in the same memory go to writev as one buffer.
function adjacentMerged(chunks: readonly JsonFileChunk[]): Buffer[] {
  const out: Buffer[] = [];
  let prev: Buffer | undefined;
  for (const { data } of chunks) {
    if (prev !== undefined && prev.buffer === data.buffer && prev.byteOffset + prev.length === data.byteOffset) {
      prev = Buffer.from(prev.buffer, prev.byteOffset, prev.length + data.length);
      out[out.length - 1] = prev;
    } else {
      prev = data;
      out.push(data);
    }
  }
  return out;
}

/** Rotation settings of {@link JsonFileWriter}. */
export interface JsonFileRotation {
  /** Rotate before the file would grow beyond this many bytes; undefined never rotates. */
  readonly maxSizeBytes: number | undefined;
  /** Files kept: the live one plus `path.1` .. `path.<maxFile-1>`; 1 truncates the live file instead. */
  readonly maxFile: number;
}

/**
 * Encodes one message as a Docker json-file line: `{"log":"...\n","stream":"stdout","time":"<RFC3339Nano>"}\n`.
 * The `log` text ends with `\n` when the message ends its line; the pieces of a long line before its last one
 * carry no `\n` (that is how Docker's json-file marks a partial message). The text is escaped exactly as Docker's
 * encoder does it ({@link escapeDockerJson}: invalid UTF-8 bytes become `\ufffd`, `<>&` are escaped, ...).
 */
export function jsonFileLine(line: LogLine, stream: LogStream, time: string): string {
  const text = dockerJsonString(line.buf.subarray(line.start, line.end));
  const log = endsLine(line) ? `${text.slice(0, -1)}\\n"` : text;
  return `{"log":${log},"stream":"${stream}","time":"${time}"}\n`;
}

/**
 * Appends Docker json-file lines to a file with Docker's size-based rotation: before a line would take the file
 * past `maxSizeBytes`, `path.<n-1>` .. `path.1` shift up one, `path` becomes `path.1`, and a new `path` starts
 * (with `maxFile` 1 the live file is truncated). A single line larger than the limit still goes into a fresh file.
 */
export class JsonFileWriter {
  private readonly arena = new JsonFileArena();

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

  /** An encoder of one stream's raw bytes into chunks for this writer (sharing its output memory). */
  encoder(stream: LogStream): JsonFileEncoder {
    return new JsonFileEncoder(stream, this.arena);
  }

  /** Encodes already split messages into one chunk (every line gets the batch's time). */
  encode(batch: LogBatch): JsonFileChunk | undefined {
    const time = formatRfc3339Nano(batch.timeNs);
    const a = this.arena;
    a.open();
    for (const line of batch.lines) {
      const text = jsonFileLine(line, batch.stream, time);
      const n = Buffer.byteLength(text);
      a.room(n);
      a.at += a.buf.write(text, a.at);
    }
    return a.close(batch.lines.length);
  }

  /**
   * Writes encoded chunks in order (one writev for all of them unless a rotation falls in between), rotating
   * between lines; rejects on an I/O error (the caller counts the lines as dropped). Releases the chunks.
   */
  async writeChunks(chunks: readonly JsonFileChunk[]): Promise<void> {
    try {
      await this.writeAll(chunks);
    } finally {
      for (const c of chunks) c.release();
    }
  }

  /**
   * {@link JsonFileWriter.writeChunks} done synchronously: blocking mode's path, where waiting for the disk is what
   * the mode asks for and a thread-pool round trip per read costs more than the write. Throws on an I/O error.
   */
  writeChunksSync(chunks: readonly JsonFileChunk[]): void {
    try {
      const max = this.rotation.maxSizeBytes;
      if (max === undefined) {
        for (const b of adjacentMerged(chunks)) {
          writeAllSync(this.fd, b);
          this.size += b.length;
        }
        return;
      }
      for (const { data } of chunks) {
        let from = 0;
        while (from < data.length) {
          const cut = this.nextCut(data, from, max);
          if (cut === undefined) {
            this.rotateSync();
            continue;
          }
          writeAllSync(this.fd, data.subarray(from, cut));
          this.size += cut - from;
          from = cut;
        }
      }
    } finally {
      for (const c of chunks) c.release();
    }
  }

  private async writeAll(chunks: readonly JsonFileChunk[]): Promise<void> {
    const max = this.rotation.maxSizeBytes;
    if (max === undefined) {
      await writevAll(this.fd, adjacentMerged(chunks));
      this.size += chunks.reduce((n, c) => n + c.data.length, 0);
      return;
    }
    for (const { data } of chunks) {
      let from = 0;
      while (from < data.length) {
        const cut = this.nextCut(data, from, max);
        if (cut === undefined) {
          await this.rotate();
          continue;
        }
        await writevAll(this.fd, [data.subarray(from, cut)]);
        this.size += cut - from;
        from = cut;
      }
    }
  }

  // Where the next write of data[from..) ends: after the last whole line that still fits the file, or after one
  // line larger than the limit when the file is empty; undefined when the file must rotate first.
  private nextCut(data: Buffer, from: number, max: number): number | undefined {
    const room = max - this.size;
    const cut = room > 0 ? data.lastIndexOf(10, Math.min(from + room - 1, data.length - 1)) + 1 : 0;
    if (cut > from) return cut;
    if (this.size > 0) return undefined;
    // A single line larger than the limit goes into a fresh file on its own.
    return data.indexOf(10, from) + 1 || data.length;
  }

  /** Encodes and writes batches (see {@link JsonFileWriter.encode} and {@link JsonFileWriter.writeChunks}). */
  async write(batches: readonly LogBatch[]): Promise<void> {
    const chunks: JsonFileChunk[] = [];
    for (const b of batches) {
      const c = this.encode(b);
      if (c) chunks.push(c);
    }
    await this.writeChunks(chunks);
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

  private rotateSync(): void {
    closeSync(this.fd);
    const n = this.rotation.maxFile;
    if (n > 1) {
      rmSync(`${this.path}.${n - 1}`, { force: true });
      for (let i = n - 2; i >= 1; i--) {
        try {
          renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
        }
      }
      renameSync(this.path, `${this.path}.1`);
      this.fd = openSync(this.path, "a", 0o640);
    } else {
      this.fd = openSync(this.path, "w", 0o640);
    }
    this.size = 0;
    debug("rotated %s (keeping %d files)", this.path, n);
  }

  /** Closes the file. */
  async close(): Promise<void> {
    await closeAsync(this.fd);
  }
}
