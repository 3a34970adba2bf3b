import { createHash, randomBytes } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ContainerdError, type PluginInfo } from "@berth/containerd";
import { errAsync, okAsync, ResultAsync } from "neverthrow";
import { afterEach, describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import {
  LocalBlobWriter,
  type LocalWriterDeps,
  localContentRoot,
  PARTIAL_DIRECTORY,
  type ProbeContent,
  probeLocalContent,
  removePartial,
  sweepPartials,
} from "./local-content.js";
import type { Descriptor } from "./manifest.js";
import type { BlobWriter } from "./target.js";

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A fake content root with containerd's `blobs/sha256/`. */
function root(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-local-"));
  dirs.push(d);
  mkdirSync(join(d, "blobs", "sha256"), { recursive: true });
  return d;
}
const stored = (r: string) => readdirSync(join(r, "blobs", "sha256"));
const partials = (r: string) =>
  existsSync(join(r, "blobs", PARTIAL_DIRECTORY)) ? readdirSync(join(r, "blobs", PARTIAL_DIRECTORY)) : [];

function plugin(type: string, id: string, exports: Record<string, string>, initError?: string): PluginInfo {
  return { type, id, initError, capabilities: [], exports };
}

describe("localContentRoot", () => {
  const content = plugin("io.containerd.content.v1", "content", { root: "/var/lib/containerd/c" });
  const bolt = (policy?: string) => plugin("io.containerd.metadata.v1", "bolt", policy ? { policy } : {});
  it("returns the content root when the metadata store shares content", () => {
    expect(localContentRoot([bolt("shared"), content])).toEqual({ root: "/var/lib/containerd/c" });
  });
  it("says why not otherwise", () => {
    expect(localContentRoot([bolt("isolated"), content])).toEqual({
      reason: 'the metadata store\'s content sharing policy is "isolated", not "shared"',
    });
    expect(localContentRoot([content])).toMatchObject({ reason: expect.stringMatching(/policy is unknown/) });
    expect(localContentRoot([bolt("shared")])).toMatchObject({ reason: expect.stringMatching(/no local content/) });
    expect(
      localContentRoot([bolt("shared"), plugin("io.containerd.content.v1", "content", {}, "disk full")]),
    ).toMatchObject({ reason: expect.stringMatching(/failed to load: disk full/) });
    expect(localContentRoot([bolt("shared"), plugin("io.containerd.content.v1", "content", {})])).toMatchObject({
      reason: expect.stringMatching(/no root/),
    });
  });
});

/** A content service that reports as present what is under `seen/blobs/sha256` (the daemon's view). */
function fakeContent(seen: string | undefined, options: { failWrite?: boolean } = {}) {
  const aborted: string[] = [];
  const content = {
    write: (_ref: string, source: unknown, opts: { expected: string; size: number }) =>
      ResultAsync.fromPromise(
        (async () => {
          if (options.failWrite) throw new ContainerdError("Unavailable", "connection refused");
          const file = seen ? join(seen, "blobs", "sha256", opts.expected.slice(7)) : "";
          const offset = seen && existsSync(file) ? statSync(file).size : 0;
          for await (const _ of (source as (o: number) => AsyncIterable<Uint8Array>)(offset)) {
            // a probe never sends
          }
          return { digest: opts.expected, written: 0, existed: false };
        })(),
        (e) => (ContainerdError.is(e) ? e : new ContainerdError("Unknown", String(e), { cause: e })),
      ),
    abort: (ref: string) => {
      aborted.push(ref);
      return okAsync(undefined);
    },
  };
  return { content: content as unknown as ProbeContent, aborted };
}

describe("probeLocalContent", () => {
  it("passes when the daemon sees the placed probe, and removes the probe and its write", async () => {
    const r = root();
    const fake = fakeContent(r);
    expect(await probeLocalContent(fake.content, r)).toBeUndefined();
    expect(fake.aborted).toHaveLength(1);
    expect(fake.aborted[0]).toMatch(/^berth-probe-/);
    expect(stored(r)).toEqual([]);
    expect(partials(r)).toEqual([]);
  });
  it("fails when the daemon does not see placed files (another host or mount namespace)", async () => {
    const r = root();
    const fake = fakeContent(undefined);
    expect(await probeLocalContent(fake.content, r)).toMatch(/does not see blobs placed .* holds 0 of the probe's/);
    expect(stored(r)).toEqual([]);
    expect(partials(r)).toEqual([]);
  });
  it("fails when the root is not there or not writable", async () => {
    const missing = join(tmpdir(), `berth-missing-${randomBytes(4).toString("hex")}`);
    expect(await probeLocalContent(fakeContent(missing).content, missing)).toMatch(/is not writable from this process/);
  });
  it("fails with the daemon's error when the write cannot start", async () => {
    const r = root();
    expect(await probeLocalContent(fakeContent(r, { failWrite: true }).content, r)).toMatch(
      /failed the probe write: connection refused/,
    );
    expect(stored(r)).toEqual([]);
  });
});

describe("sweepPartials", () => {
  it("removes partials older than the expiry, keeps fresh ones and those a writer holds open", async () => {
    const r = root();
    const dir = join(r, "blobs", PARTIAL_DIRECTORY);
    mkdirSync(dir);
    const day = 24 * 60 * 60 * 1000;
    writeFileSync(join(dir, "old"), "x");
    writeFileSync(join(dir, "fresh"), "x");
    const old = new Date(Date.now() - day - 60_000);
    utimesSync(join(dir, "old"), old, old);
    const d = descriptor(Buffer.from("held open"));
    const w = await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)));
    utimesSync(join(dir, d.digest.slice(7)), old, old);
    expect((await sweepPartials(r))._unsafeUnwrap()).toBe(1);
    expect(partials(r).sort()).toEqual([d.digest.slice(7), "fresh"].sort());
    expect((await sweepPartials(r, 0))._unsafeUnwrap()).toBe(1); // an explicit cleanup: all but the open one
    expect(partials(r)).toEqual([d.digest.slice(7)]);
    (await w?.close())?._unsafeUnwrap();
    expect((await sweepPartials(r, 0))._unsafeUnwrap()).toBe(1);
  });
  it("finds nothing to do without a partial directory", async () => {
    expect((await sweepPartials(root()))._unsafeUnwrap()).toBe(0);
  });
  it("removePartial leaves a file a writer holds open", async () => {
    const r = root();
    const d = descriptor(Buffer.from("abc"));
    const w = await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)));
    const path = w?.path ?? "";
    expect(await removePartial(path)).toBe(false);
    (await w?.close())?._unsafeUnwrap();
    expect(await removePartial(path)).toBe(true);
    expect(existsSync(path)).toBe(false);
  });
});

function descriptor(bytes: Buffer): Descriptor & { bytes: Buffer } {
  return {
    mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
    digest: sha(bytes),
    size: bytes.byteLength,
    bytes,
  };
}

/** containerd's writer for a blob: `shared` (offset = size, no bytes needed) or taking bytes from 0. */
function acceptingWriter(
  d: Descriptor,
  options: { shared?: boolean; failCommit?: boolean; onCommit?: () => void } = {},
): BlobWriter & { received: Buffer[]; labels: Record<string, string> | undefined; closed: boolean } {
  const w = {
    offset: options.shared ? d.size : 0,
    received: [] as Buffer[],
    labels: undefined as Record<string, string> | undefined,
    closed: false,
    write(chunk: Uint8Array) {
      w.received.push(Buffer.from(chunk));
      w.offset += chunk.byteLength;
      return okAsync(undefined);
    },
    reset: () => okAsync(undefined),
    commit(labels: Readonly<Record<string, string>> = {}) {
      if (options.failCommit) return errAsync(new ImageError("Network", "containerd went away"));
      w.labels = { ...labels };
      options.onCommit?.();
      return okAsync(undefined);
    },
    close() {
      w.closed = true;
      return okAsync(undefined);
    },
  };
  return w;
}

function deps(writer: BlobWriter, adopted = false) {
  const events: string[] = [];
  const d: LocalWriterDeps & { events: string[] } = {
    events,
    adopt: async () => {
      events.push("adopt");
      return writer;
    },
    adopted: async () => adopted,
    onFallback: (reason) => events.push(`fallback ${reason}`),
    onCommitted: () => events.push("committed"),
  };
  return d;
}

async function writeAll(w: LocalBlobWriter, bytes: Buffer, step = 7) {
  for (let i = w.offset; i < bytes.byteLength; i += step) (await w.write(bytes.subarray(i, i + step)))._unsafeUnwrap();
}

describe("LocalBlobWriter", () => {
  it("verifies, places the blob read-only in blobs/sha256 and commits it with the labels and no bytes", async () => {
    const r = root();
    const d = descriptor(randomBytes(3000));
    const into = acceptingWriter(d, { shared: true });
    const dep = deps(into);
    const w = (await LocalBlobWriter.open(r, d, dep)) as LocalBlobWriter;
    expect(w.offset).toBe(0);
    expect(w.path).toBe(join(r, "blobs", PARTIAL_DIRECTORY, d.digest.slice(7)));
    await writeAll(w, d.bytes);
    (await w.commit({ "containerd.io/gc.ref.content.l.0": "sha256:x" }))._unsafeUnwrap();
    const final = join(r, "blobs", "sha256", d.digest.slice(7));
    expect(readFileSync(final).equals(d.bytes)).toBe(true);
    expect(statSync(final).mode & 0o777).toBe(0o444);
    expect(into.received).toEqual([]);
    expect(into.labels).toEqual({ "containerd.io/gc.ref.content.l.0": "sha256:x" });
    expect(dep.events).toEqual(["adopt", "committed"]);
    expect(partials(r)).toEqual([]);
  });

  it("fails a corrupted blob with DigestMismatch: nothing placed, no partial kept, containerd never asked", async () => {
    const r = root();
    const d = descriptor(randomBytes(500));
    const dep = deps(acceptingWriter(d, { shared: true }));
    const w = (await LocalBlobWriter.open(r, d, dep)) as LocalBlobWriter;
    const bad = Buffer.from(d.bytes);
    bad[100] = (bad[100] ?? 0) ^ 0xff;
    await writeAll(w, bad);
    const c = await w.commit();
    expect(c.isErr() && c.error.code).toBe("DigestMismatch");
    expect(stored(r)).toEqual([]);
    expect(partials(r)).toEqual([]);
    expect(dep.events).toEqual([]);
  });

  it("keeps a closed write's bytes; the next writer resumes at its size and the hash carries on", async () => {
    const r = root();
    const d = descriptor(randomBytes(4000));
    const first = (await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)))) as LocalBlobWriter;
    (await first.write(d.bytes.subarray(0, 1500)))._unsafeUnwrap();
    (await first.close())._unsafeUnwrap();
    expect(statSync(first.path).size).toBe(1500);
    const dep = deps(acceptingWriter(d, { shared: true }));
    const second = (await LocalBlobWriter.open(r, d, dep)) as LocalBlobWriter;
    expect(second.offset).toBe(1500);
    await writeAll(second, d.bytes);
    (await second.commit())._unsafeUnwrap();
    expect(readFileSync(join(r, "blobs", "sha256", d.digest.slice(7))).equals(d.bytes)).toBe(true);
  });

  it("reset() starts the blob over (the registry ignored Range)", async () => {
    const r = root();
    const d = descriptor(randomBytes(800));
    const w = (await LocalBlobWriter.open(r, d, deps(acceptingWriter(d, { shared: true })))) as LocalBlobWriter;
    (await w.write(randomBytes(300)))._unsafeUnwrap();
    (await w.reset())._unsafeUnwrap();
    expect(w.offset).toBe(0);
    await writeAll(w, d.bytes);
    (await w.commit())._unsafeUnwrap();
    expect(readFileSync(join(r, "blobs", "sha256", d.digest.slice(7))).equals(d.bytes)).toBe(true);
  });

  it("flushes the partial in the background every syncEveryBytes, and never with 0", async () => {
    const bytes = randomBytes(5 << 20);
    const d = descriptor(bytes);
    const flushed: number[] = [];
    for (const syncEveryBytes of [1 << 20, 0]) {
      const r = root();
      const w = (await LocalBlobWriter.open(r, d, {
        ...deps(acceptingWriter(d, { shared: true })),
        syncEveryBytes,
      })) as LocalBlobWriter;
      await writeAll(w, bytes, 256 << 10);
      (await w.commit())._unsafeUnwrap();
      expect(readFileSync(join(r, "blobs", "sha256", d.digest.slice(7))).equals(bytes)).toBe(true);
      flushed.push(w.syncedBytes);
    }
    expect(flushed[0]).toBeGreaterThanOrEqual(1 << 20);
    expect(flushed[0]).toBeLessThanOrEqual(5 << 20);
    expect(flushed[1]).toBe(0);
  });

  it("reset() during background flushes starts the count over and still commits the right bytes", async () => {
    const r = root();
    const d = descriptor(randomBytes(3 << 20));
    const w = (await LocalBlobWriter.open(r, d, {
      ...deps(acceptingWriter(d, { shared: true })),
      syncEveryBytes: 1 << 20,
    })) as LocalBlobWriter;
    await writeAll(w, randomBytes(2 << 20), 256 << 10);
    (await w.reset())._unsafeUnwrap();
    expect(w.syncedBytes).toBe(0);
    await writeAll(w, d.bytes, 256 << 10);
    (await w.commit())._unsafeUnwrap();
    expect(readFileSync(join(r, "blobs", "sha256", d.digest.slice(7))).equals(d.bytes)).toBe(true);
  });

  it("a partial longer than the blob is started over", async () => {
    const r = root();
    const d = descriptor(randomBytes(100));
    mkdirSync(join(r, "blobs", PARTIAL_DIRECTORY));
    writeFileSync(join(r, "blobs", PARTIAL_DIRECTORY, d.digest.slice(7)), randomBytes(150));
    const w = (await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)))) as LocalBlobWriter;
    expect(w.offset).toBe(0);
    (await w.close())._unsafeUnwrap();
  });

  it("falls back to streaming the bytes when containerd does not share the placed file, and removes it", async () => {
    const r = root();
    const d = descriptor(randomBytes(5000));
    const into = acceptingWriter(d);
    const dep = deps(into);
    const w = (await LocalBlobWriter.open(r, d, dep)) as LocalBlobWriter;
    await writeAll(w, d.bytes);
    (await w.commit({ a: "b" }))._unsafeUnwrap();
    expect(Buffer.concat(into.received).equals(d.bytes)).toBe(true);
    expect(into.labels).toEqual({ a: "b" });
    expect(dep.events[0]).toBe("adopt");
    expect(dep.events[1]).toMatch(/^fallback containerd did not share .* \(it holds 0 bytes\)$/);
    expect(dep.events[2]).toBe("committed");
    expect(stored(r)).toEqual([]);
    expect(partials(r)).toEqual([]);
  });

  it("when containerd's commit fails, removes the placed file and keeps a resumable partial", async () => {
    const r = root();
    const d = descriptor(randomBytes(700));
    const dep = deps(acceptingWriter(d, { shared: true, failCommit: true }));
    const w = (await LocalBlobWriter.open(r, d, dep)) as LocalBlobWriter;
    await writeAll(w, d.bytes);
    const c = await w.commit();
    expect(c.isErr() && c.error.message).toMatch(/containerd went away/);
    expect(stored(r)).toEqual([]);
    expect(partials(r)).toEqual([d.digest.slice(7)]);
    expect(statSync(w.path).mode & 0o200).toBe(0o200); // writable again
    // The next pull finds all bytes there, downloads nothing, and commits.
    const again = (await LocalBlobWriter.open(r, d, deps(acceptingWriter(d, { shared: true })))) as LocalBlobWriter;
    expect(again.offset).toBe(d.size);
    (await again.commit())._unsafeUnwrap();
    expect(stored(r)).toEqual([d.digest.slice(7)]);
  });

  it("puts the file back when a garbage collection took it between the link and the commit", async () => {
    const r = root();
    const d = descriptor(randomBytes(600));
    const final = join(r, "blobs", "sha256", d.digest.slice(7));
    const into = acceptingWriter(d, { shared: true, onCommit: () => rmSync(final) });
    const w = (await LocalBlobWriter.open(r, d, deps(into))) as LocalBlobWriter;
    await writeAll(w, d.bytes);
    (await w.commit())._unsafeUnwrap();
    expect(readFileSync(final).equals(d.bytes)).toBe(true);
    expect(partials(r)).toEqual([]);
  });

  it("declines blobs containerd already stores, non-sha256 digests, and a blob another writer holds", async () => {
    const r = root();
    const d = descriptor(randomBytes(10));
    const there = descriptor(randomBytes(11));
    writeFileSync(join(r, "blobs", "sha256", there.digest.slice(7)), there.bytes);
    chmodSync(join(r, "blobs", "sha256", there.digest.slice(7)), 0o444);
    expect(await LocalBlobWriter.open(r, there, deps(acceptingWriter(there)))).toBeUndefined();
    const sha512 = { ...d, digest: `sha512:${"ab".repeat(64)}` };
    expect(await LocalBlobWriter.open(r, sha512, deps(acceptingWriter(d)))).toBeUndefined();
    const first = await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)));
    expect(first).toBeDefined();
    expect(await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)))).toBeUndefined();
    (await first?.close())?._unsafeUnwrap();
    const next = await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)));
    expect(next).toBeDefined();
    (await next?.close())?._unsafeUnwrap();
  });

  it("fails writes after close and surfaces I/O errors as ImageError", async () => {
    const r = root();
    const d = descriptor(randomBytes(10));
    const w = (await LocalBlobWriter.open(r, d, deps(acceptingWriter(d)))) as LocalBlobWriter;
    (await w.close())._unsafeUnwrap();
    expect((await w.write(Buffer.from("x"))).isErr()).toBe(true);
    expect((await w.commit()).isErr()).toBe(true);
    const file = join(r, "blobs", "sha256", "x");
    writeFileSync(file, "not a directory");
    await expect(LocalBlobWriter.open(file, d, deps(acceptingWriter(d)))).rejects.toSatisfy(ImageError.is);
  });
});
