import { createReadStream } from "node:fs";
import { type FileHandle, open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** Read access to an OCI image layout, from a directory or an (uncompressed) tar archive of one. */
export interface OciLayoutSource {
  /** Where it was read from. */
  readonly location: string;
  /** Whole file, or undefined when the layout lacks it. */
  readFile(path: string): Promise<Buffer | undefined>;
  /** Size of a file, or undefined when missing. */
  size(path: string): Promise<number | undefined>;
  /** The file's bytes from `offset`. */
  stream(path: string, offset: number): AsyncIterable<Uint8Array>;
}

/** @internal Path of a blob inside a layout. */
export function blobPath(digest: string): string {
  const [alg, hex] = digest.split(":");
  return `blobs/${alg}/${hex}`;
}

class DirectorySource implements OciLayoutSource {
  readonly location: string;
  constructor(dir: string) {
    this.location = dir;
  }
  async readFile(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(join(this.location, path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
  async size(path: string): Promise<number | undefined> {
    try {
      return (await stat(join(this.location, path))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw e;
    }
  }
  stream(path: string, offset: number): AsyncIterable<Uint8Array> {
    return createReadStream(join(this.location, path), { start: offset });
  }
}

interface TarEntry {
  readonly offset: number;
  readonly size: number;
}

class TarSource implements OciLayoutSource {
  readonly location: string;
  readonly #entries: ReadonlyMap<string, TarEntry>;
  constructor(file: string, entries: ReadonlyMap<string, TarEntry>) {
    this.location = file;
    this.#entries = entries;
  }
  async readFile(path: string): Promise<Buffer | undefined> {
    const e = this.#entries.get(path);
    if (!e) return undefined;
    const fh = await open(this.location, "r");
    try {
      const buf = Buffer.alloc(e.size);
      await fh.read(buf, 0, e.size, e.offset);
      return buf;
    } finally {
      await fh.close();
    }
  }
  async size(path: string): Promise<number | undefined> {
    return this.#entries.get(path)?.size;
  }
  stream(path: string, offset: number): AsyncIterable<Uint8Array> {
    const e = this.#entries.get(path);
    if (!e) throw new Error(`${path} is not in ${this.location}`);
    if (offset >= e.size) return (async function* () {})();
    return createReadStream(this.location, { start: e.offset + offset, end: e.offset + e.size - 1 });
  }
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? raw.length : nul).toString("utf8");
}

function octal(block: Buffer, start: number, length: number): number {
  const first = block[start] ?? 0;
  if (first & 0x80) {
    // base-256 (GNU) for sizes beyond 8 GiB
    let n = 0;
    for (let i = start + 1; i < start + length; i++) n = n * 256 + (block[i] ?? 0);
    return n;
  }
  const text = field(block, start, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function normalize(name: string): string {
  return name.replace(/^(\.\/)+/, "").replace(/^\/+/, "");
}

function paxPath(data: Buffer): string | undefined {
  let i = 0;
  while (i < data.length) {
    const space = data.indexOf(0x20, i);
    if (space === -1) break;
    const len = Number.parseInt(data.subarray(i, space).toString("utf8"), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const record = data.subarray(space + 1, i + len - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (record.slice(0, eq) === "path") return record.slice(eq + 1);
    i += len;
  }
  return undefined;
}

/** Indexes a tar archive's regular files (ustar, pax and GNU long names). */
export async function indexTar(file: string): Promise<Map<string, TarEntry>> {
  const entries = new Map<string, TarEntry>();
  const fh: FileHandle = await open(file, "r");
  try {
    const total = (await fh.stat()).size;
    const header = Buffer.alloc(512);
    let pos = 0;
    let longName: string | undefined;
    while (pos + 512 <= total) {
      await fh.read(header, 0, 512, pos);
      if (header.every((b) => b === 0)) break;
      const size = octal(header, 124, 12);
      const type = String.fromCharCode(header[156] ?? 0x30);
      const dataAt = pos + 512;
      const prefix = field(header, 345, 155);
      const base = field(header, 0, 100);
      const name = longName ?? (prefix ? `${prefix}/${base}` : base);
      if (type === "x" || type === "L") {
        const data = Buffer.alloc(size);
        await fh.read(data, 0, size, dataAt);
        longName = type === "L" ? field(data, 0, size) : (paxPath(data) ?? longName);
      } else {
        if (type === "0" || type === "\0" || type === "7") entries.set(normalize(name), { offset: dataAt, size });
        longName = undefined;
      }
      pos = dataAt + Math.ceil(size / 512) * 512;
    }
  } finally {
    await fh.close();
  }
  return entries;
}

/** Opens an OCI layout directory or a tar archive of one. */
export async function openOciLayout(path: string): Promise<OciLayoutSource> {
  const st = await stat(path);
  if (st.isDirectory()) return new DirectorySource(path);
  return new TarSource(path, await indexTar(path));
}
