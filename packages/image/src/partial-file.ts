import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";

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
