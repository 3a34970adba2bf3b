import { createHash, type Hash } from "node:crypto";
import { createReadStream, writeSync } from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";
import { err, ok, type Result, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";
import type { Descriptor } from "./manifest.js";

/** A partial blob file opened for appending, with the hash of the bytes it already holds. */
export interface PartialFile {
  readonly file: FileHandle;
  /** Bytes already in the file: the download resumes here. */
  readonly size: number;
  readonly hash: Hash;
}

/**
 * Opens (creating it with `mode`) the partial file of a blob of `expected` bytes for appending. A file longer than
 * the blob is started over; the returned hash (`algorithm`) covers the bytes kept. The file is closed on failure.
 */
export async function openPartial(
  path: string,
  algorithm: string,
  expected: number,
  mode?: number,
): Promise<PartialFile> {
  const file = await open(path, "a", mode);
  try {
    let size = (await file.stat()).size;
    if (size > expected) {
      await file.truncate(0);
      size = 0;
    }
    const hash = createHash(algorithm);
    if (size > 0) {
      for await (const chunk of createReadStream(path, { end: size - 1, highWaterMark: 1 << 20 })) {
        hash.update(chunk as Buffer);
      }
    }
    return { file, size, hash };
  } catch (e) {
    await file.close();
    throw e;
  }
}

/**
 * One blob on its way into its partial file: hashed as the bytes come, buffered up to `bufferLimit` and written in
 * order by one promise chain, so disk writes overlap reading the network. {@link PartialBlob.append} asks its caller
 * to wait only while more than 4 x `bufferLimit` bytes are queued; the first write error fails every later call.
 * The writers of both targets (OCI layout, containerd's content store) keep their bytes in one.
 */
export class PartialBlob {
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #descriptor: Descriptor;
  readonly #algorithm: string;
  readonly #bufferLimit: number;
  readonly #onWritten: ((written: number) => void) | undefined;
  #hash: Hash;
  #offset: number;
  #written: number;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #queued = 0;
  #chain: Promise<void> = Promise.resolve();
  #error: unknown;

  /** @param onWritten told the file's length after each write (bytes written, not necessarily on disk). */
  constructor(
    opened: PartialFile,
    path: string,
    descriptor: Descriptor,
    algorithm: string,
    bufferLimit: number,
    onWritten?: (written: number) => void,
  ) {
    this.#file = opened.file;
    this.#hash = opened.hash;
    this.#offset = opened.size;
    this.#written = opened.size;
    this.#path = path;
    this.#descriptor = descriptor;
    this.#algorithm = algorithm;
    this.#bufferLimit = bufferLimit;
    this.#onWritten = onWritten;
  }

  /** Bytes taken so far (the download's offset). */
  get offset(): number {
    return this.#offset;
  }

  /** The first error of a write (or one given to {@link fail}), if any. */
  get error(): unknown {
    return this.#error;
  }

  /** Fails every later call with `e` (unless an error came first). */
  fail(e: unknown): void {
    this.#error ??= e;
  }

  /** Takes a chunk; a promise when the caller should wait for the disk before the next one. */
  append(chunk: Uint8Array): Promise<void> | undefined {
    this.#hash.update(chunk);
    this.#offset += chunk.byteLength;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.byteLength;
    if (this.#pendingBytes < this.#bufferLimit) return undefined;
    this.#queue();
    return this.#queued <= 4 * this.#bufferLimit ? undefined : this.flush();
  }

  /**
   * Writes out what is buffered, then gives a function that takes the following chunks synchronously: each is hashed
   * and written to the file at once on this thread (`write(2)`; no copy, so the caller may reuse the chunk's memory
   * once it returns). `onError` words a write error. See {@link BlobWriter.direct}.
   */
  direct(
    onError: (e: unknown) => ImageError,
  ): ResultAsync<(chunk: Uint8Array) => Result<void, ImageError>, ImageError> {
    return ResultAsync.fromPromise(this.flush(), onError).map(() => (chunk: Uint8Array) => {
      if (this.#error !== undefined) return err(onError(this.#error));
      if (this.#pendingBytes > 0 || this.#queued > 0) {
        return err(onError(new Error("a direct write came while buffered writes were pending (call direct() again)")));
      }
      try {
        const fd = this.#file.fd;
        for (let done = 0; done < chunk.byteLength; ) done += writeSync(fd, chunk, done, chunk.byteLength - done);
      } catch (e) {
        this.#error = e;
        return err(onError(e));
      }
      this.#hash.update(chunk);
      this.#offset += chunk.byteLength;
      this.#written += chunk.byteLength;
      this.#onWritten?.(this.#written);
      return ok(undefined);
    });
  }

  /** Writes everything buffered and queued; rejects with the first write error. */
  async flush(): Promise<void> {
    this.#queue();
    await this.#chain;
    if (this.#error !== undefined) throw this.#error;
  }

  /** Starts over: drops what is buffered, writes out what is queued, then (after `beforeTruncate`) empties the file. */
  async restart(beforeTruncate?: () => Promise<void>): Promise<void> {
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#offset = 0;
    this.#hash = createHash(this.#algorithm);
    await this.flush();
    await beforeTruncate?.();
    this.#written = 0;
    await this.#file.truncate(0);
  }

  /**
   * Checks what was taken against the descriptor (call after {@link flush}); on a mismatch the partial file is
   * removed and it throws `DigestMismatch`.
   */
  async verify(): Promise<void> {
    const d = this.#descriptor;
    const computed = `${this.#algorithm}:${this.#hash.digest("hex")}`;
    if (this.#offset === d.size && computed === d.digest) return;
    await rm(this.#path, { force: true });
    throw new ImageError(
      "DigestMismatch",
      this.#offset !== d.size
        ? `blob ${d.digest} has ${this.#offset} bytes, but its descriptor says ${d.size}; the registry or a proxy served the wrong content (nothing was committed)`
        : `blob hashes to ${computed}, not ${d.digest}; the registry or a proxy corrupted it (nothing was committed)`,
      { digest: d.digest },
    );
  }

  #queue(): void {
    if (this.#pendingBytes === 0) return;
    const chunks = this.#pending;
    const bytes = this.#pendingBytes;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#queued += bytes;
    this.#chain = this.#chain.then(async () => {
      if (this.#error !== undefined) return;
      try {
        await this.#file.writev(chunks);
        this.#written += bytes;
        this.#onWritten?.(this.#written);
      } catch (e) {
        this.#error = e;
      } finally {
        this.#queued -= bytes;
      }
    });
  }
}
