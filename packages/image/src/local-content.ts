import { createHash, randomBytes } from "node:crypto";
import { createReadStream, constants as fsConstants } from "node:fs";
import { access, chmod, type FileHandle, link, mkdir, open, readdir, rm, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { Content, PluginInfo } from "@berth/containerd";
import createDebug from "debug";
import { errAsync, okAsync, type Result, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";
import type { Descriptor } from "./manifest.js";
import { openPartial, PartialBlob, type PartialFile } from "./partial-file.js";
import type { BlobWriter } from "./target.js";

const debug = createDebug("berth:image:local");

/**
 * How the containerd target stores blobs (see {@link ContainerdTargetOptions.localContent}):
 * - `"auto"` (default): place blobs straight into containerd's content store when it is on this host (detected and
 *   proven by a probe once per target), else stream them through the content service.
 * - `"off"`: always stream through the content service (`Content.Write`).
 * - `{ root }`: like `"auto"`, with the content store's root as this process sees it (when the daemon reports a path
 *   that is mounted elsewhere here, e.g. the daemon runs in another container).
 */
export type LocalContentMode = "auto" | "off" | { readonly root: string };

/** Which way a containerd target stores blobs, once decided (see {@link ContainerdTarget.localContent}). */
export interface LocalContentStatus {
  /** True when blobs are placed in the content store's directory; false when they stream through `Content.Write`. */
  readonly active: boolean;
  /** Why: e.g. `probe blob shared by the daemon`, `localContent is "off"`, `bolt policy is "isolated"`. */
  readonly reason: string;
  /** The content store's root, when one was found. */
  readonly root?: string;
}

/** containerd's content plugin (its `root` export is the local store's directory). */
const CONTENT_PLUGIN = { type: "io.containerd.content.v1", id: "content" };
/** containerd's metadata plugin (its `policy` export is `shared` or `isolated`). */
const METADATA_PLUGIN = { type: "io.containerd.metadata.v1", id: "bolt" };
/**
 * Directory of partial blobs under `<root>/blobs/`: containerd's local store walks only directories named after a
 * digest algorithm, so files here are invisible to it and to its garbage collector. Never `<root>/ingest/`, which
 * containerd owns.
 */
export const PARTIAL_DIRECTORY = "berth-partial";
/** Partials untouched for this long are swept, as containerd expires its own ingests after 24 h. */
export const PARTIAL_EXPIRY_MS = 24 * 60 * 60 * 1000;
/** Bytes buffered before a write to the partial file. */
const WRITE_BUFFER_BYTES = 1 << 20;
/**
 * Default of {@link LocalWriterDeps.syncEveryBytes}: a partial file is flushed to disk (`fdatasync`, in the background)
 * each time this many more bytes were written, so the `fsync` its commit waits for has little left to write.
 */
export const SYNC_EVERY_BYTES = 16 << 20;
/** Background flushes at once in this process: each holds a libuv pool thread, which file writes need too. */
const MAX_BACKGROUND_SYNCS = 2;
let backgroundSyncs = 0;

/** Partial files a writer in this process has open: a second writer for the same blob streams instead. */
const busy = new Set<string>();

/**
 * Decides from the daemon's plugins whether local placement can apply: the content plugin must report its `root`
 * and the metadata plugin the `shared` policy (with `isolated`, a blob another namespace did not write is never
 * shared, so a placed blob would have to be streamed anyway). Returns the root, or why not.
 */
export function localContentRoot(
  plugins: readonly PluginInfo[],
): { readonly root: string } | { readonly reason: string } {
  const content = plugins.find((p) => p.type === CONTENT_PLUGIN.type && p.id === CONTENT_PLUGIN.id);
  if (!content) return { reason: "the daemon has no local content store plugin (io.containerd.content.v1.content)" };
  if (content.initError) return { reason: `the daemon's content plugin failed to load: ${content.initError}` };
  const root = content.exports.root;
  if (!root) return { reason: "the daemon's content plugin reports no root" };
  const bolt = plugins.find((p) => p.type === METADATA_PLUGIN.type && p.id === METADATA_PLUGIN.id);
  const policy = bolt?.exports.policy;
  if (policy !== "shared") {
    return {
      reason: `the metadata store's content sharing policy is ${policy ? `"${policy}"` : "unknown"}, not "shared"`,
    };
  }
  return { root };
}

/** The only digest algorithm placed locally (containerd's local store layout `blobs/sha256/<hex>`). */
function sha256Hex(digest: string): string | undefined {
  const m = /^sha256:([a-f0-9]{64})$/.exec(digest);
  return m ? m[1] : undefined;
}

function ioError(what: string, cause: unknown): ImageError {
  return new ImageError(
    "Network",
    `${what} failed: ${(cause as Error)?.message ?? String(cause)}; check free space and permissions of containerd's content store, or pass localContent: "off"`,
    { cause },
  );
}

const isCode = (e: unknown, code: string) => (e as NodeJS.ErrnoException)?.code === code;

/** The content service calls a probe needs (`@berth/containerd`'s `Content.write` and `Content.abort`). */
export type ProbeContent = Pick<Content, "write" | "abort">;

/** Thrown by the probe's write source to end the stream once containerd told the offset. */
class ProbeStop extends Error {}

/**
 * Proves that the daemon sees files placed under `root`: writes a small random blob into `blobs/sha256/`, opens a
 * content write for its digest and expects containerd to report all of its bytes present (a shared blob), then
 * aborts the write and removes the blob. Resolves to why it failed, or undefined when it passed.
 */
export async function probeLocalContent(content: ProbeContent, root: string): Promise<string | undefined> {
  const blobs = join(root, "blobs", "sha256");
  const partials = join(root, "blobs", PARTIAL_DIRECTORY);
  try {
    await access(blobs, fsConstants.W_OK);
  } catch (e) {
    return `the content store ${blobs} is not writable from this process (${(e as Error).message})`;
  }
  const bytes = Buffer.concat([Buffer.from("berth local content probe\n"), randomBytes(32)]);
  const hex = createHash("sha256").update(bytes).digest("hex");
  const digest = `sha256:${hex}`;
  const final = join(blobs, hex);
  const ref = `berth-probe-${hex.slice(0, 16)}`;
  let offset: number | undefined;
  try {
    await mkdir(partials, { recursive: true });
    const tmp = join(partials, `probe-${hex}`);
    const f = await open(tmp, "wx", 0o644);
    try {
      await f.writeFile(bytes); // no fsync: the daemon only has to see the file, which is removed at once
    } finally {
      await f.close();
    }
    await chmod(tmp, 0o444);
    try {
      await link(tmp, final);
    } finally {
      await rm(tmp, { force: true });
    }
    const written = await content.write(
      ref,
      (at: number) => {
        offset = at;
        // Sends nothing: ends the stream (without a commit) as soon as containerd has told its offset.
        const stop: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new ProbeStop("probe done")) }),
        };
        return stop;
      },
      { expected: digest, size: bytes.byteLength },
    );
    if (offset === undefined && written.isErr()) {
      return `the daemon failed the probe write: ${written.error.message}`;
    }
  } catch (e) {
    return `placing a probe blob in ${blobs} failed: ${(e as Error).message}`;
  } finally {
    await content.abort(ref);
    await rm(final, { force: true });
  }
  if (offset === bytes.byteLength) return undefined;
  return offset === undefined
    ? "the daemon did not answer the probe write"
    : `the daemon does not see blobs placed in ${blobs} (it holds ${offset} of the probe's ${bytes.byteLength} bytes): another host or mount namespace`;
}

/**
 * Deletes partial blobs the containerd target's fast path left under `<root>/blobs/berth-partial/` (`root` is
 * containerd's content root, e.g. `/var/lib/containerd/io.containerd.content.v1.content`) that were not modified for
 * `olderThanMs` (default {@link PARTIAL_EXPIRY_MS}, containerd's own ingest expiry; `0` removes every one), skipping
 * those a writer of this process holds open. A containerd target sweeps expired ones on its own when it first
 * decides on the fast path; call this for an explicit cleanup. Resolves to how many files it removed.
 */
export function sweepPartials(
  root: string,
  olderThanMs: number = PARTIAL_EXPIRY_MS,
  now: number = Date.now(),
): ResultAsync<number, ImageError> {
  return ResultAsync.fromPromise(sweep(root, olderThanMs, now), (e) =>
    ioError(`sweeping partial blobs in ${join(root, "blobs", PARTIAL_DIRECTORY)}`, e),
  );
}

async function sweep(root: string, olderThanMs: number, now: number): Promise<number> {
  const dir = join(root, "blobs", PARTIAL_DIRECTORY);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (isCode(e, "ENOENT")) return 0;
    throw e;
  }
  let removed = 0;
  for (const name of names) {
    const path = join(dir, name);
    if (busy.has(path)) continue;
    try {
      const st = await stat(path);
      if (now - st.mtimeMs < olderThanMs) continue;
      await rm(path, { force: true });
      removed++;
    } catch (e) {
      if (!isCode(e, "ENOENT")) throw e;
    }
  }
  if (removed > 0) debug("swept %d stale partial blob(s) from %s", removed, dir);
  return removed;
}

/**
 * Deletes one partial blob (e.g. one a failed pull kept) unless a writer of this process holds it open. Resolves to
 * true when the file is gone.
 */
export async function removePartial(path: string): Promise<boolean> {
  if (busy.has(path)) return false;
  try {
    await rm(path);
    debug("removed partial %s", path);
  } catch (e) {
    if (!isCode(e, "ENOENT")) throw e;
  }
  return true;
}

/** What a {@link LocalBlobWriter} needs from its target. */
export interface LocalWriterDeps {
  /**
   * Opens containerd's writer for the blob (a content write with its expected digest, under the pull's lease): its
   * offset equals the size when containerd shares the placed file; otherwise the bytes are streamed into it.
   */
  adopt(): Promise<BlobWriter>;
  /** True when the namespace holds the blob (asked after a failed commit, before removing the placed file). */
  adopted(): Promise<boolean>;
  /** Told why a commit fell back to streaming (the target then stops placing blobs). */
  onFallback(reason: string): void;
  /** Told when the blob is committed into the namespace. */
  onCommitted(): void;
  /**
   * Flush the partial file in the background (`fdatasync`) every this many written bytes; default
   * {@link SYNC_EVERY_BYTES}, `0` never (the commit's `fsync` then writes the whole blob out). The commit always
   * `fsync`s before it places the file.
   */
  readonly syncEveryBytes?: number;
}

/**
 * A blob written straight into containerd's content store directory: the bytes go (hashed while streaming) to
 * `<root>/blobs/berth-partial/<hex>`; {@link LocalBlobWriter.commit} verifies digest and size, fsyncs, hard-links the
 * file to `blobs/sha256/<hex>` (mode 0444, as containerd's own commit leaves it) and then commits it into the
 * namespace through a content write that needs no data (containerd finds the blob in its store). When containerd
 * does not see it as shared, the placed link is removed and the bytes are streamed through that write instead.
 */
export class LocalBlobWriter implements BlobWriter {
  readonly #blob: PartialBlob;
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #final: string;
  readonly #descriptor: Descriptor;
  readonly #deps: LocalWriterDeps;
  /** How many of the file's bytes a background flush put on disk. */
  #synced = 0;
  #syncing: Promise<void> | undefined;
  #closed = false;

  private constructor(opened: PartialFile, path: string, final: string, descriptor: Descriptor, deps: LocalWriterDeps) {
    this.#blob = new PartialBlob(opened, path, descriptor, "sha256", WRITE_BUFFER_BYTES, (written) =>
      this.#syncInBackground(written),
    );
    this.#file = opened.file;
    this.#path = path;
    this.#final = final;
    this.#descriptor = descriptor;
    this.#deps = deps;
  }

  /**
   * Opens (or resumes) the partial file of `d` under `root`. Resolves to undefined when the blob cannot be written
   * locally: not a sha256 digest, already in `blobs/sha256/` (containerd shares it without any bytes), or another
   * writer of this process holds the partial.
   */
  static async open(root: string, d: Descriptor, deps: LocalWriterDeps): Promise<LocalBlobWriter | undefined> {
    const hex = sha256Hex(d.digest);
    if (hex === undefined) {
      debug("%s: not a sha256 digest; streaming it", d.digest);
      return undefined;
    }
    const final = join(root, "blobs", "sha256", hex);
    try {
      await stat(final);
      debug("%s is already in the content store; containerd shares it", d.digest);
      return undefined;
    } catch (e) {
      if (!isCode(e, "ENOENT")) throw ioError(`looking up ${final}`, e);
    }
    const dir = join(root, "blobs", PARTIAL_DIRECTORY);
    const path = join(dir, hex);
    if (busy.has(path)) {
      debug("%s: another writer of this process holds %s; streaming it", d.digest, path);
      return undefined;
    }
    busy.add(path);
    try {
      await mkdir(dir, { recursive: true });
      const opened = await openPartial(path, "sha256", d.size, 0o644);
      if (opened.size > 0) debug("resuming %s at %d of %d bytes", path, opened.size, d.size);
      return new LocalBlobWriter(opened, path, final, d, deps);
    } catch (e) {
      busy.delete(path);
      throw ioError(`opening ${path}`, e);
    }
  }

  get offset(): number {
    return this.#blob.offset;
  }

  /** The partial file, `<root>/blobs/berth-partial/<hex>`. */
  get path(): string {
    return this.#path;
  }

  /** Bytes of the partial file the background flushes put on disk so far (the commit's `fsync` does the rest). */
  get syncedBytes(): number {
    return this.#synced;
  }

  /** Starts a background `fdatasync` when enough was written since the last one and none is running. */
  #syncInBackground(written: number): void {
    const every = this.#deps.syncEveryBytes ?? SYNC_EVERY_BYTES;
    if (every <= 0 || this.#syncing !== undefined || written - this.#synced < every) return;
    if (backgroundSyncs >= MAX_BACKGROUND_SYNCS) return;
    const upTo = written;
    backgroundSyncs++;
    this.#syncing = this.#file
      .datasync()
      .then(
        () => {
          this.#synced = Math.max(this.#synced, upTo);
        },
        (e: unknown) => {
          this.#blob.fail(e);
        },
      )
      .finally(() => {
        backgroundSyncs--;
        this.#syncing = undefined;
      });
  }

  /** Waits for a running background flush (before the final `fsync`, a truncate or closing the file). */
  async #settleSync(): Promise<void> {
    await this.#syncing;
    if (this.#blob.error !== undefined) throw this.#blob.error;
  }

  write(chunk: Uint8Array): ResultAsync<void, ImageError> {
    if (this.#closed) return errAsync(new ImageError("Network", `write to ${this.#path} after it was closed`));
    if (this.#blob.error !== undefined) return errAsync(ioError(`writing ${this.#path}`, this.#blob.error));
    const wait = this.#blob.append(chunk);
    return wait ? ResultAsync.fromPromise(wait, (e) => ioError(`writing ${this.#path}`, e)) : okAsync(undefined);
  }

  direct(): ResultAsync<(chunk: Uint8Array) => Result<void, ImageError>, ImageError> {
    if (this.#closed) return errAsync(new ImageError("Network", `write to ${this.#path} after it was closed`));
    return this.#blob.direct((e) => ioError(`writing ${this.#path}`, e));
  }

  reset(): ResultAsync<void, ImageError> {
    return ResultAsync.fromPromise(
      this.#blob.restart(async () => {
        await this.#settleSync();
        this.#synced = 0;
      }),
      (e) => ioError(`truncating ${this.#path}`, e),
    );
  }

  commit(labels: Readonly<Record<string, string>> = {}): ResultAsync<void, ImageError> {
    const d = this.#descriptor;
    return ResultAsync.fromPromise(this.#commit(labels), (e) =>
      ImageError.is(e) ? e : ioError(`committing ${d.digest} to containerd's content store`, e),
    );
  }

  async #commit(labels: Readonly<Record<string, string>>): Promise<void> {
    const d = this.#descriptor;
    if (this.#closed) throw new ImageError("Network", `commit of ${this.#path} after it was closed`);
    this.#closed = true;
    const started = performance.now();
    let synced = started;
    try {
      try {
        await this.#blob.flush();
        await this.#blob.verify();
        await this.#settleSync();
        const flushed = performance.now();
        await this.#file.sync();
        synced = performance.now();
        debug(
          "%s: flushed in %dms, fsynced in %dms (%d of %d bytes flushed before)",
          d.digest,
          Math.round(flushed - started),
          Math.round(synced - flushed),
          this.#synced,
          d.size,
        );
      } finally {
        await this.#syncing;
        await this.#file.close();
      }
      await chmod(this.#path, 0o444);
      let placed = true;
      try {
        await link(this.#path, this.#final);
      } catch (e) {
        if (!isCode(e, "EEXIST")) throw e;
        placed = false; // containerd (or another pull) stored the same blob meanwhile
      }
      try {
        await this.#adoptPlaced(labels, placed, synced);
      } catch (e) {
        // Nothing half-done: a file containerd did not take is removed; the partial stays for a resume.
        if (placed && !(await this.#deps.adopted().catch(() => false))) await rm(this.#final, { force: true });
        await chmod(this.#path, 0o644).catch(() => undefined);
        throw e;
      }
      await unlink(this.#path);
      this.#deps.onCommitted();
    } finally {
      busy.delete(this.#path);
    }
  }

  /** Commits the placed file into the namespace, or streams it when containerd does not see it as shared. */
  async #adoptPlaced(labels: Readonly<Record<string, string>>, placed: boolean, synced: number): Promise<void> {
    const d = this.#descriptor;
    const writer = await this.#deps.adopt();
    if (writer.offset === d.size) {
      await must(writer.commit(labels));
      // A garbage collection between the link and the commit may have taken the file: put it back (the namespace
      // references it now, so it stays).
      try {
        await stat(this.#final);
      } catch (e) {
        if (!isCode(e, "ENOENT")) throw e;
        debug("%s vanished before its commit (garbage collection); placing it again", this.#final);
        await link(this.#path, this.#final);
      }
      debug(
        "placed %s (%d bytes) in the content store%s; committed into the namespace in %dms",
        d.digest,
        d.size,
        placed ? "" : " (already there)",
        Math.round(performance.now() - synced),
      );
      return;
    }
    // containerd does not see the placed file as its blob: take it back and stream the bytes instead.
    const reason = `containerd did not share ${d.digest} placed in ${this.#final} (it holds ${writer.offset} bytes)`;
    debug("%s; streaming it through the content service", reason);
    this.#deps.onFallback(reason);
    if (placed) await rm(this.#final, { force: true });
    try {
      for await (const chunk of createReadStream(this.#path, {
        start: writer.offset,
        highWaterMark: WRITE_BUFFER_BYTES,
      })) {
        await must(writer.write(chunk as Buffer));
      }
      await must(writer.commit(labels));
    } catch (e) {
      await writer.close();
      throw e;
    }
    debug("streamed %s (%d bytes) from %s", d.digest, d.size, this.#path);
  }

  close(): ResultAsync<void, ImageError> {
    if (this.#closed) return okAsync(undefined);
    this.#closed = true;
    return ResultAsync.fromPromise(
      (async () => {
        try {
          await this.#blob.flush();
        } finally {
          busy.delete(this.#path);
          await this.#syncing;
          await this.#file.close();
        }
        debug(
          "kept %s (%d of %d bytes) for a later pull to resume",
          this.#path,
          this.#blob.offset,
          this.#descriptor.size,
        );
      })(),
      (e) => ioError(`closing ${this.#path}`, e),
    );
  }
}

async function must<T>(r: PromiseLike<Result<T, ImageError>>): Promise<T> {
  const v = await r;
  if (v.isErr()) throw v.error;
  return v.value;
}
