import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Containerd } from "@berth/containerd";
import { ContainerdError } from "@berth/containerd";
import { errAsync, okAsync, ResultAsync } from "neverthrow";
import { afterEach, describe, expect, it } from "vitest";
import { createContainerdTarget, ingestRef, resumeOffset } from "./containerd-target.js";
import type { Descriptor } from "./manifest.js";
import { parseReference } from "./reference.js";

const sha = (b: Uint8Array | string) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

function blob(mediaType: string, bytes: Buffer): Descriptor & { bytes: Buffer } {
  return { mediaType, digest: sha(bytes), size: bytes.byteLength, bytes };
}

/** An in-memory stand-in for the parts of `Containerd` the target uses, recording the calls in order. */
function fakeContainerd(
  options: {
    sharedStore?: boolean;
    messageDelayMs?: number;
    failAfterMessages?: number;
    /** containerd 1.x: Transfer.pull answers Unimplemented. */
    noTransfer?: boolean;
    /** Content.write of a blob the store holds resolves `existed` before asking the source (1.x AlreadyExists). */
    existsAtOnce?: boolean;
    /** Reported as the content plugin's root (the same-host fast path). */
    contentRoot?: string;
    /** The bolt plugin's policy; default `shared`. */
    policy?: string;
    /** The daemon sees files placed under `contentRoot` as blobs (same host); default true. */
    seesPlaced?: boolean;
  } = {},
) {
  const calls: string[] = [];
  const blobs = new Map<string, { bytes: Buffer; labels: Record<string, string> }>();
  const ingests = new Map<string, Buffer>();
  const snapshots = new Map<string, { parent: string; kind: string }>();
  const images = new Map<string, { target: Descriptor; labels: Record<string, string> }>();
  const leases = new Set<string>();
  const diffIds = new Map<string, string>();
  let failAfter = options.failAfterMessages;
  const notFound = (what: string) => errAsync(new ContainerdError("NotFound", `${what}: not found`));
  const placed = (digest: string) =>
    options.contentRoot !== undefined &&
    options.seesPlaced !== false &&
    existsSync(join(options.contentRoot, "blobs", "sha256", digest.slice(7)));
  const client = {
    namespace: "unit",
    plugins: () =>
      okAsync(
        options.contentRoot === undefined
          ? []
          : [
              {
                type: "io.containerd.content.v1",
                id: "content",
                initError: undefined,
                capabilities: [],
                exports: { root: options.contentRoot },
              },
              {
                type: "io.containerd.metadata.v1",
                id: "bolt",
                initError: undefined,
                capabilities: [],
                exports: { policy: options.policy ?? "shared" },
              },
            ],
      ),
    leases: {
      create: () => {
        leases.add("lease-1");
        calls.push("lease.create");
        return okAsync({ id: "lease-1", labels: {}, createdAt: undefined });
      },
      addResource: (_id: string, r: { id: string }) => {
        calls.push(`lease.add ${r.id}`);
        return okAsync(undefined);
      },
      delete: (id: string) => {
        calls.push(`lease.delete ${id}`);
        leases.delete(id);
        return okAsync(undefined);
      },
    },
    content: {
      info: (digest: string) => {
        const b = blobs.get(digest);
        return b
          ? okAsync({ digest, size: b.bytes.byteLength, labels: b.labels, createdAt: undefined, updatedAt: undefined })
          : notFound(digest);
      },
      status: (ref: string) => {
        const held = ingests.get(ref);
        return held
          ? okAsync({
              ref,
              offset: held.byteLength,
              total: 0,
              expected: "",
              startedAt: undefined,
              updatedAt: undefined,
            })
          : notFound(ref);
      },
      abort: (ref: string) => {
        ingests.delete(ref);
        return okAsync(undefined);
      },
      readAll: (digest: string) => {
        const b = blobs.get(digest);
        return b ? okAsync(b.bytes) : notFound(digest);
      },
      setLabels: (digest: string, labels: Record<string, string>) => {
        const b = blobs.get(digest);
        if (!b) return notFound(digest);
        Object.assign(b.labels, labels);
        calls.push(`content.label ${digest.slice(7, 15)} ${Object.keys(labels).join(",")}`);
        return okAsync({
          digest,
          size: b.bytes.byteLength,
          labels: b.labels,
          createdAt: undefined,
          updatedAt: undefined,
        });
      },
      write: (
        ref: string,
        source: (offset: number) => AsyncIterable<Uint8Array>,
        opts: { expected: string; size: number; labels?: Record<string, string> },
        call?: { lease?: string },
      ) =>
        ResultAsync.fromPromise(
          (async () => {
            if (call?.lease === undefined && !ref.startsWith("berth-probe-")) throw new Error("write without a lease");
            if (options.existsAtOnce && blobs.has(opts.expected)) {
              return { digest: opts.expected, written: 0, existed: true };
            }
            const shared = (options.sharedStore === true && blobs.has(opts.expected)) || placed(opts.expected);
            let held = shared ? Buffer.alloc(opts.size) : (ingests.get(ref) ?? Buffer.alloc(0));
            const messages: number[] = [];
            for await (const piece of source(held.byteLength)) {
              messages.push(piece.byteLength);
              if (failAfter !== undefined && messages.length > failAfter) {
                failAfter = undefined; // once
                throw new ContainerdError("Unavailable", "connection to containerd lost");
              }
              if (options.messageDelayMs) await new Promise((r) => setTimeout(r, options.messageDelayMs));
              held = Buffer.concat([held, piece]);
              if (!shared) ingests.set(ref, held);
            }
            if (!shared && sha(held) !== opts.expected) {
              throw new ContainerdError(
                "FailedPrecondition",
                `unexpected commit digest ${sha(held)}, expected ${opts.expected}`,
              );
            }
            ingests.delete(ref);
            const stored = shared
              ? (blobs.get(opts.expected)?.bytes ??
                (placed(opts.expected)
                  ? readFileSync(join(options.contentRoot ?? "", "blobs", "sha256", opts.expected.slice(7)))
                  : held))
              : held;
            blobs.set(opts.expected, { bytes: stored, labels: { ...(opts.labels ?? {}) } });
            calls.push(`commit ${ref.split("-")[0]} ${opts.expected.slice(7, 15)} (${messages.length} messages)`);
            return { digest: opts.expected, written: messages.reduce((a, b) => a + b, 0), existed: false };
          })(),
          (e) => (ContainerdError.is(e) ? e : new ContainerdError("Unknown", String(e), { cause: e })),
        ),
    },
    snapshots: (_name: string) => ({
      stat: (key: string) => {
        const s = snapshots.get(key);
        return s ? okAsync({ name: key, ...s, labels: {} }) : notFound(key);
      },
      prepare: (key: string, parent: string) => {
        snapshots.set(key, { parent, kind: "active" });
        calls.push(`prepare ${parent ? parent.slice(7, 15) : "-"}`);
        return okAsync([]);
      },
      commit: (name: string, key: string) => {
        const s = snapshots.get(key);
        snapshots.delete(key);
        snapshots.set(name, { parent: s?.parent ?? "", kind: "committed" });
        calls.push(`snapshot.commit ${name.slice(7, 15)}`);
        return okAsync(undefined);
      },
      remove: (key: string) => {
        snapshots.delete(key);
        return okAsync(undefined);
      },
    }),
    diff: {
      apply: (layer: Descriptor) => {
        calls.push(`apply ${layer.digest.slice(7, 15)}`);
        return okAsync({
          mediaType: "application/vnd.oci.image.layer.v1.tar",
          digest: diffIds.get(layer.digest) ?? "",
          size: 0,
        });
      },
    },
    transfer: {
      pull: (reference: string, opts: Record<string, unknown>) => {
        if (options.noTransfer) {
          return errAsync(new ContainerdError("Unimplemented", "this containerd has no Transfer service"));
        }
        calls.push(`transfer.pull ${reference} ${JSON.stringify({ ...opts, signal: undefined })}`);
        const name = opts.name as string;
        images.set(name, { target: { mediaType: "", digest: reference.split("@")[1] ?? "", size: 0 }, labels: {} });
        return okAsync(undefined);
      },
    },
    images: {
      create: (image: { name: string; target: Descriptor; labels?: Record<string, string> }) => {
        if (images.has(image.name)) return errAsync(new ContainerdError("AlreadyExists", `image ${image.name} exists`));
        images.set(image.name, { target: image.target, labels: { ...(image.labels ?? {}) } });
        calls.push(`image.create ${image.name}`);
        return okAsync(image);
      },
      update: (image: { name: string; target: Descriptor; labels?: Record<string, string> }, fields?: string[]) => {
        const old = images.get(image.name);
        if (fields && old) {
          for (const f of fields) {
            const key = f.replace(/^labels\./, "");
            old.labels[key] = image.labels?.[key] ?? "";
          }
        } else images.set(image.name, { target: image.target, labels: { ...(image.labels ?? {}) } });
        calls.push(`image.update ${image.name}${fields ? ` ${fields.join(",")}` : ""}`);
        return okAsync(image);
      },
    },
  };
  return { client: client as unknown as Containerd, calls, blobs, ingests, snapshots, images, leases, diffIds };
}

/** A two-layer image: its blobs, with diff ids registered in the fake's Diff service. */
function twoLayers(fake: ReturnType<typeof fakeContainerd>) {
  const l0 = blob("application/vnd.oci.image.layer.v1.tar+gzip", Buffer.from("layer zero"));
  const l1 = blob("application/vnd.oci.image.layer.v1.tar+gzip", Buffer.from("layer one"));
  fake.diffIds.set(l0.digest, sha("tar zero"));
  fake.diffIds.set(l1.digest, sha("tar one"));
  const config = blob(
    "application/vnd.oci.image.config.v1+json",
    Buffer.from(JSON.stringify({ rootfs: { type: "layers", diff_ids: [sha("tar zero"), sha("tar one")] } })),
  );
  const manifest = blob(
    "application/vnd.oci.image.manifest.v1+json",
    Buffer.from(JSON.stringify({ schemaVersion: 2, config, layers: [l0, l1] })),
  );
  return { l0, l1, config, manifest };
}

async function writeBlob(
  target: ReturnType<typeof createContainerdTarget>,
  d: Descriptor & { bytes: Buffer },
  labels?: Record<string, string>,
) {
  const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
  for (let i = w.offset; i < d.size; i += 3) (await w.write(d.bytes.subarray(i, i + 3)))._unsafeUnwrap();
  (await w.commit(labels))._unsafeUnwrap();
}

describe("ingestRef", () => {
  it("names ingests by kind and digest", () => {
    const digest = sha("x");
    expect(ingestRef({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest, size: 1 })).toBe(
      `layer-${digest}`,
    );
    expect(ingestRef({ mediaType: "application/vnd.docker.container.image.v1+json", digest, size: 1 })).toBe(
      `config-${digest}`,
    );
    expect(ingestRef({ mediaType: "application/vnd.oci.image.manifest.v1+json", digest, size: 1 })).toBe(
      `manifest-${digest}`,
    );
    expect(ingestRef({ mediaType: "application/vnd.docker.distribution.manifest.list.v2+json", digest, size: 1 })).toBe(
      `index-${digest}`,
    );
    expect(ingestRef({ mediaType: "application/vnd.oci.image.index.v1+json", digest, size: 1 })).toBe(
      `index-${digest}`,
    );
  });
});

describe("resumeOffset", () => {
  const d = { mediaType: "m", digest: sha("abc"), size: 10 };
  const status = (offset: number, expected = "") => ({
    ref: "r",
    offset,
    total: 10,
    expected,
    startedAt: undefined,
    updatedAt: undefined,
  });
  it("resumes at containerd's offset for the same blob", () => {
    expect(resumeOffset(status(4), d)).toBe(4);
    expect(resumeOffset(status(4, d.digest), d)).toBe(4);
  });
  it("starts over when the ingest is for another digest or longer than the blob", () => {
    expect(resumeOffset(status(4, sha("other")), d)).toBe(0);
    expect(resumeOffset(status(11), d)).toBe(0);
  });
});

describe("createContainerdTarget", () => {
  it("writes under a lease, coalesces chunks, resumes at containerd's offset and commits the labels", async () => {
    const fake = fakeContainerd({ messageDelayMs: 5 });
    const target = createContainerdTarget(fake.client, { unpack: false });
    const big = blob("application/vnd.oci.image.layer.v1.tar+gzip", Buffer.alloc(3 << 20, 7));
    fake.ingests.set(`layer-${big.digest}`, big.bytes.subarray(0, 1000));
    expect((await target.has(big))._unsafeUnwrap()).toBe(false);
    const w = (await target.writer(big, { ref: "x" }))._unsafeUnwrap();
    expect(w.offset).toBe(1000);
    for (let i = 1000; i < big.size; i += 64 * 1024)
      (await w.write(big.bytes.subarray(i, i + 64 * 1024)))._unsafeUnwrap();
    (await w.commit({ "containerd.io/gc.ref.content.l.0": "sha256:x" }))._unsafeUnwrap();
    expect(fake.blobs.get(big.digest)?.labels).toEqual({ "containerd.io/gc.ref.content.l.0": "sha256:x" });
    const commit = fake.calls.find((c) => c.startsWith("commit layer")) ?? "";
    // ~3 MiB in 64 KiB chunks leaves as far fewer WRITE messages than chunks.
    expect(Number(/\((\d+) messages\)/.exec(commit)?.[1])).toBeLessThan(48);
    expect(fake.calls[0]).toBe("lease.create");
    expect(target.leaseId).toBe("lease-1");
    expect((await target.has(big))._unsafeUnwrap()).toBe(true);
    expect(fake.calls).toContain(`lease.add ${big.digest}`);
  });

  it("after the write stream breaks, fails the write and resumes at what containerd holds", async () => {
    const fake = fakeContainerd({ failAfterMessages: 1 });
    const target = createContainerdTarget(fake.client, { unpack: false });
    const d = blob("application/vnd.oci.image.layer.v1.tar", randomBytes(8 << 20));
    const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    let failures = 0;
    while (w.offset < d.size) {
      const r = await w.write(d.bytes.subarray(w.offset, w.offset + (1 << 20)));
      if (r.isErr()) {
        failures++;
        expect(r.error.code).toBe("Network");
        expect(r.error.message).toContain("connection to containerd lost");
        // The puller resumes from here: exactly what containerd holds, not what was queued.
        expect(w.offset).toBe(fake.ingests.get(`layer-${d.digest}`)?.byteLength ?? 0);
        expect(w.offset).toBeLessThan(d.size);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
    expect(failures).toBe(1);
    (await w.commit())._unsafeUnwrap();
    expect(fake.blobs.get(d.digest)?.bytes.equals(d.bytes)).toBe(true);
  });

  it("fails a blob that does not hash to its digest with DigestMismatch and commits nothing", async () => {
    const fake = fakeContainerd();
    const target = createContainerdTarget(fake.client, { unpack: false });
    const d = { ...blob("application/vnd.oci.image.layer.v1.tar", Buffer.from("right")), bytes: Buffer.from("wrong") };
    const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    (await w.write(d.bytes))._unsafeUnwrap();
    const r = await w.commit();
    expect(r._unsafeUnwrapErr().code).toBe("DigestMismatch");
    expect(fake.blobs.has(d.digest)).toBe(false);
  });

  it("keeps a closed write's bytes for the next writer and restarts from 0 on reset", async () => {
    const fake = fakeContainerd();
    const target = createContainerdTarget(fake.client, { unpack: false });
    const d = blob("application/vnd.oci.image.layer.v1.tar", Buffer.from("0123456789"));
    const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    (await w.write(d.bytes.subarray(0, 4)))._unsafeUnwrap();
    (await w.close())._unsafeUnwrap();
    expect(fake.ingests.get(`layer-${d.digest}`)?.toString()).toBe("0123");
    const again = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    expect(again.offset).toBe(4);
    (await again.write(Buffer.from("xx")))._unsafeUnwrap();
    (await again.reset())._unsafeUnwrap();
    expect(again.offset).toBe(0);
    (await again.write(d.bytes))._unsafeUnwrap();
    (await again.commit())._unsafeUnwrap();
    expect(fake.blobs.get(d.digest)?.bytes.toString()).toBe("0123456789");
  });

  it("needs no download when containerd already holds the whole blob (2.x shared store) and keeps the labels", async () => {
    const fake = fakeContainerd({ sharedStore: true });
    const d = blob("application/vnd.oci.image.manifest.v1+json", Buffer.alloc(1 << 20, 1));
    fake.blobs.set(d.digest, { bytes: d.bytes, labels: {} });
    const target = createContainerdTarget(fake.client, { unpack: false });
    const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    expect(w.offset).toBe(d.size); // the puller skips the download
    (await w.commit({ "containerd.io/gc.ref.content.config": "sha256:c" }))._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.startsWith("commit"))).toEqual([
      `commit manifest ${d.digest.slice(7, 15)} (0 messages)`,
    ]);
    // The COMMIT waited for commit(): its labels arrived with it.
    expect(fake.blobs.get(d.digest)?.labels).toEqual({ "containerd.io/gc.ref.content.config": "sha256:c" });
  });

  it("needs no download when containerd answers AlreadyExists at once (1.x shared store), then sets the labels", async () => {
    const fake = fakeContainerd({ existsAtOnce: true });
    const d = blob("application/vnd.oci.image.manifest.v1+json", Buffer.from("{}"));
    fake.blobs.set(d.digest, { bytes: d.bytes, labels: {} });
    const target = createContainerdTarget(fake.client, { unpack: false });
    const w = (await target.writer(d, { ref: "x" }))._unsafeUnwrap();
    expect(w.offset).toBe(d.size);
    (await w.commit({ "containerd.io/gc.ref.content.l.0": "sha256:l" }))._unsafeUnwrap();
    expect(fake.blobs.get(d.digest)?.labels).toEqual({ "containerd.io/gc.ref.content.l.0": "sha256:l" });
    expect(fake.calls).toContain(`content.label ${d.digest.slice(7, 15)} containerd.io/gc.ref.content.l.0`);
  });

  it("unpacks layer 0 as soon as it is committed, while layer 1 is still downloading, and records the image last", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { labels: { team: "a" } });
    const controller = new AbortController();
    target.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set() }, controller.signal);
    await writeBlob(target, config);
    await writeBlob(target, l0);
    await new Promise((r) => setTimeout(r, 20));
    expect(fake.calls).toContain(`apply ${l0.digest.slice(7, 15)}`);
    expect(fake.calls).not.toContain(`apply ${l1.digest.slice(7, 15)}`);
    await writeBlob(target, l1);
    await writeBlob(target, manifest, { "containerd.io/gc.ref.content.config": config.digest });
    (
      await target.putImage({
        name: "r/img:1",
        target: manifest,
        manifest,
        platform: { os: "linux", architecture: "amd64" },
      })
    )._unsafeUnwrap();
    const i = (c: string) => fake.calls.indexOf(c);
    const committedL1 = fake.calls.findIndex((c) => c.startsWith(`commit layer ${l1.digest.slice(7, 15)}`));
    expect(committedL1).toBeGreaterThan(-1);
    expect(i(`apply ${l1.digest.slice(7, 15)}`)).toBeGreaterThan(committedL1);
    expect(i("image.create r/img:1")).toBeGreaterThan(i(`apply ${l1.digest.slice(7, 15)}`));
    expect(i("lease.delete lease-1")).toBeGreaterThan(i("image.create r/img:1"));
    expect(fake.images.get("r/img:1")?.labels).toEqual({ team: "a" });
    const chain1 = `sha256:${createHash("sha256")
      .update(`${sha("tar zero")} ${sha("tar one")}`)
      .digest("hex")}`;
    expect(fake.snapshots.get(chain1)).toEqual({ parent: sha("tar zero"), kind: "committed" });
    expect(fake.blobs.get(config.digest)?.labels["containerd.io/gc.ref.snapshot.overlayfs"]).toBe(chain1);
    expect(fake.blobs.get(l1.digest)?.labels["containerd.io/uncompressed"]).toBe(sha("tar one"));
    expect(target.leaseId).toBeUndefined();

    // Again: all content exists, every chain id exists: nothing applied, the record updated.
    const before = fake.calls.filter((c) => c.startsWith("apply")).length;
    const again = createContainerdTarget(fake.client);
    for (const d of [config, l0, l1]) expect((await again.has(d))._unsafeUnwrap()).toBe(true);
    again.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set() }, new AbortController().signal);
    (
      await again.putImage({
        name: "r/img:1",
        target: manifest,
        manifest,
        platform: { os: "linux", architecture: "amd64" },
      })
    )._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.startsWith("apply")).length).toBe(before);
    expect(fake.calls.at(-2)).toBe("image.update r/img:1");
  });

  it("unpacks from the stored manifest when the puller gave no plan", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { snapshotter: "native" });
    for (const d of [config, l0, l1, manifest]) await writeBlob(target, d);
    (
      await target.putImage({ name: "n", target: manifest, manifest, platform: { os: "linux", architecture: "amd64" } })
    )._unsafeUnwrap();
    expect(fake.calls.filter((c) => c.startsWith("apply"))).toHaveLength(2);
    expect(Object.keys(fake.blobs.get(config.digest)?.labels ?? {})).toEqual(["containerd.io/gc.ref.snapshot.native"]);
  });

  it("an aborted pull leaves no image and keeps the lease until release()", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client);
    const controller = new AbortController();
    target.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set() }, controller.signal);
    await writeBlob(target, config);
    controller.abort(new Error("stop"));
    await new Promise((r) => setTimeout(r, 10));
    expect(fake.images.size).toBe(0);
    expect(fake.leases.has("lease-1")).toBe(true);
    expect([...fake.snapshots.values()].filter((s) => s.kind === "active")).toEqual([]);
    (await target.release())._unsafeUnwrap();
    expect(fake.leases.size).toBe(0);
    expect(target.leaseId).toBeUndefined();
  });

  it("refuses to unpack a foreign layer the pull skipped", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client);
    target.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set([l1.digest]) }, new AbortController().signal);
    for (const d of [config, l0, manifest]) await writeBlob(target, d);
    const r = await target.putImage({
      name: "f",
      target: manifest,
      manifest,
      platform: { os: "linux", architecture: "amd64" },
    });
    expect(r._unsafeUnwrapErr().code).toBe("UnsupportedMediaType");
    expect(fake.images.size).toBe(0);
  });

  it("reports each layer's unpack state in order: waiting, unpacking, unpacked; exists when already unpacked", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client);
    expect(target.unpacks).toBe(true);
    const events: string[] = [];
    target.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set() }, new AbortController().signal, (e) => {
      events.push(`${e.index} ${e.state}${e.state === "unpacked" ? ` ${typeof e.ms}` : ""}`);
    });
    for (const d of [config, l0, l1, manifest]) await writeBlob(target, d);
    const record = { name: "u", target: manifest, manifest, platform: { os: "linux", architecture: "amd64" } };
    (await target.putImage(record))._unsafeUnwrap();
    expect(events).toEqual([
      "0 waiting",
      "1 waiting",
      "0 unpacking",
      "0 unpacked number",
      "1 unpacking",
      "1 unpacked number",
    ]);

    const again = createContainerdTarget(fake.client);
    const states: string[] = [];
    for (const d of [config, l0, l1]) expect((await again.has(d))._unsafeUnwrap()).toBe(true);
    again.plan?.({ manifest, config, layers: [l0, l1], skipped: new Set() }, new AbortController().signal, (e) => {
      states.push(`${e.index} ${e.state}`);
      throw new Error("a throwing listener does not break the unpack");
    });
    (await again.putImage(record))._unsafeUnwrap();
    expect(states).toEqual(["0 waiting", "1 waiting", "0 exists", "1 exists"]);
    expect(createContainerdTarget(fake.client, { unpack: false }).unpacks).toBe(false);
  });

  it("with transfer, hands the pinned reference to the Transfer service, labels the record and drops the lease", async () => {
    const fake = fakeContainerd();
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, {
      snapshotter: "native",
      transfer: { plainHttp: true, headers: { authorization: "Bearer t" } },
      labels: { team: "a" },
    });
    expect(createContainerdTarget(fake.client).delegate).toBeUndefined();
    // Planning opened the lease (a blob already present was added to it).
    fake.blobs.set(config.digest, { bytes: config.bytes, labels: {} });
    expect((await target.has(config))._unsafeUnwrap()).toBe(true);
    expect(target.leaseId).toBe("lease-1");
    const reference = parseReference(`127.0.0.1:5000/app@${manifest.digest}`)._unsafeUnwrap();
    const took = await target.delegate?.(
      {
        reference,
        name: "127.0.0.1:5000/app:v1",
        digest: manifest.digest,
        platform: { os: "linux", architecture: "arm", variant: "v7" },
        image: { manifest, config, layers: [l0, l1], skipped: new Set() },
      },
      new AbortController().signal,
    );
    expect(took?._unsafeUnwrap()).toBe(true);
    const call = fake.calls.find((c) => c.startsWith("transfer.pull")) ?? "";
    expect(call.startsWith(`transfer.pull 127.0.0.1:5000/app@${manifest.digest} `)).toBe(true);
    expect(JSON.parse(call.slice(call.indexOf("{")))).toEqual({
      name: "127.0.0.1:5000/app:v1",
      platform: { os: "linux", architecture: "arm", variant: "v7" },
      snapshotter: "native",
      unpack: true,
      plainHttp: true,
      headers: { authorization: "Bearer t" },
    });
    expect(fake.images.get("127.0.0.1:5000/app:v1")?.labels).toEqual({ team: "a" });
    expect(fake.calls).toContain("lease.delete lease-1");
    expect(target.leaseId).toBeUndefined();
    expect(fake.calls.filter((c) => c.startsWith("commit") || c.startsWith("apply"))).toEqual([]);
  });

  it("with transfer on containerd 1.x (no Transfer service), declines so the puller does the work", async () => {
    const fake = fakeContainerd({ noTransfer: true });
    const { l0, l1, config, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { transfer: {} });
    const took = await target.delegate?.(
      {
        reference: parseReference(`r/app@${manifest.digest}`)._unsafeUnwrap(),
        name: "r/app:1",
        digest: manifest.digest,
        platform: { os: "linux", architecture: "amd64" },
        image: { manifest, config, layers: [l0, l1], skipped: new Set() },
      },
      new AbortController().signal,
    );
    expect(took?._unsafeUnwrap()).toBe(false);
    expect(fake.images.size).toBe(0);
  });
});

describe("containerd target: same-host local content", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  /** A fake content root with the local store's `blobs/sha256/`. */
  function root(): string {
    const d = mkdtempSync(join(tmpdir(), "berth-local-unit-"));
    dirs.push(d);
    mkdirSync(join(d, "blobs", "sha256"), { recursive: true });
    return d;
  }
  const partials = (r: string) => readdirSync(join(r, "blobs", "berth-partial"));
  const stored = (r: string) => readdirSync(join(r, "blobs", "sha256"));

  it("places blobs in the store's directory and commits them with no bytes through Content.Write", async () => {
    const r = root();
    const fake = fakeContainerd({ contentRoot: r });
    const { l0, manifest } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { unpack: false });
    expect(target.localContent).toBeUndefined();
    await writeBlob(target, l0);
    await writeBlob(target, manifest, { "containerd.io/gc.ref.content.l.0": l0.digest });
    expect(target.localContent).toMatchObject({ active: true, root: r });
    // Both committed in the namespace without a single WRITE message; the manifest keeps its GC label.
    expect(fake.calls.filter((c) => c.startsWith("commit"))).toEqual([
      `commit layer ${l0.digest.slice(7, 15)} (0 messages)`,
      `commit manifest ${manifest.digest.slice(7, 15)} (0 messages)`,
    ]);
    expect(fake.blobs.get(l0.digest)?.bytes.equals(l0.bytes)).toBe(true);
    expect(fake.blobs.get(manifest.digest)?.labels).toEqual({ "containerd.io/gc.ref.content.l.0": l0.digest });
    // The files are containerd's now (read-only, like its own commits); no partial and no probe is left.
    expect(stored(r).sort()).toEqual([l0.digest.slice(7), manifest.digest.slice(7)].sort());
    expect(statSync(join(r, "blobs", "sha256", l0.digest.slice(7))).mode & 0o777).toBe(0o444);
    expect(partials(r)).toEqual([]);
    expect(fake.ingests.size).toBe(0);
  });

  it('streams through Content.Write with localContent "off" and never looks at the plugins', async () => {
    const r = root();
    const fake = fakeContainerd({ contentRoot: r });
    const { l0 } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { unpack: false, localContent: "off" });
    await writeBlob(target, l0);
    expect(target.localContent).toEqual({ active: false, reason: 'localContent is "off"' });
    const commits = fake.calls.filter((c) => c.startsWith("commit"));
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatch(new RegExp(`^commit layer ${l0.digest.slice(7, 15)} \\([1-9]\\d* messages\\)$`));
    expect(stored(r)).toEqual([]);
    expect(existsSync(join(r, "blobs", "berth-partial"))).toBe(false);
  });

  it("streams when the metadata store is isolated or the daemon reports no content root", async () => {
    const isolated = fakeContainerd({ contentRoot: root(), policy: "isolated" });
    const t1 = createContainerdTarget(isolated.client, { unpack: false });
    await writeBlob(t1, twoLayers(isolated).l0);
    expect(t1.localContent?.active).toBe(false);
    expect(t1.localContent?.reason).toMatch(/"isolated", not "shared"/);
    const remote = fakeContainerd();
    const t2 = createContainerdTarget(remote.client, { unpack: false });
    await writeBlob(t2, twoLayers(remote).l0);
    expect(t2.localContent?.reason).toMatch(/no local content store plugin/);
  });

  it("streams when the probe shows the daemon does not see placed files (another host or mount namespace)", async () => {
    const r = root();
    const fake = fakeContainerd({ contentRoot: r, seesPlaced: false });
    const { l0 } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { unpack: false });
    await writeBlob(target, l0);
    expect(target.localContent).toMatchObject({ active: false, root: r });
    expect(target.localContent?.reason).toMatch(/does not see blobs placed/);
    const commits = fake.calls.filter((c) => c.startsWith("commit"));
    expect(commits).toHaveLength(1);
    expect(commits[0]).toMatch(new RegExp(`^commit layer ${l0.digest.slice(7, 15)} \\([1-9]\\d* messages\\)$`));
    expect(stored(r)).toEqual([]); // the probe blob was removed
    expect(partials(r)).toEqual([]);
  });

  it("probes a root once per process, and again after a commit on it fell back to streaming", async () => {
    const r = root();
    const first = fakeContainerd({ contentRoot: r });
    const t1 = createContainerdTarget(first.client, { unpack: false });
    await writeBlob(t1, twoLayers(first).l0);
    expect(t1.localContent?.reason).toBe("the daemon shares a probe blob placed in its content store");
    // Same root, but this daemon does not see placed files: the cached probe lets the target place the blob, the
    // commit finds containerd without it and streams it instead, and the root is forgotten.
    const blind = fakeContainerd({ contentRoot: r, seesPlaced: false });
    const t2 = createContainerdTarget(blind.client, { unpack: false });
    const { l1, config } = twoLayers(blind); // not l0: its file is in the store already, so it would stream anyway
    await writeBlob(t2, l1);
    expect(blind.calls.filter((c) => c.startsWith("commit"))).toEqual([
      expect.stringMatching(new RegExp(`^commit layer ${l1.digest.slice(7, 15)} \\([1-9]\\d* messages\\)$`)),
    ]);
    expect(blind.blobs.get(l1.digest)?.bytes.equals(l1.bytes)).toBe(true);
    expect(t2.localContent?.active).toBe(false);
    expect(t2.localContent?.reason).toMatch(/containerd did not share/);
    const t3 = createContainerdTarget(blind.client, { unpack: false });
    await writeBlob(t3, config);
    expect(t3.localContent?.reason).toMatch(/does not see blobs placed/);
  });

  it("uses the root given in localContent instead of the one the daemon reports", async () => {
    const reported = root();
    const mine = root();
    // The daemon "sees" files under `mine` (its reported path is mounted there for this process).
    const fake = fakeContainerd({ contentRoot: mine });
    const plugins = fake.client.plugins.bind(fake.client);
    (fake.client as unknown as { plugins: typeof plugins }).plugins = () =>
      plugins().map((ps) =>
        ps.map((p) => (p.id === "content" ? { ...p, exports: { root: reported } } : p)),
      ) as ReturnType<typeof plugins>;
    const { l0 } = twoLayers(fake);
    const target = createContainerdTarget(fake.client, { unpack: false, localContent: { root: mine } });
    await writeBlob(target, l0);
    expect(target.localContent).toMatchObject({ active: true, root: mine });
    expect(stored(mine)).toEqual([l0.digest.slice(7)]);
    expect(stored(reported)).toEqual([]);
  });

  it("resumes containerd's own partial write through Content.Write instead of starting a local one", async () => {
    const r = root();
    const fake = fakeContainerd({ contentRoot: r });
    const { l0 } = twoLayers(fake);
    fake.ingests.set(`layer-${l0.digest}`, l0.bytes.subarray(0, 4));
    const target = createContainerdTarget(fake.client, { unpack: false });
    const w = (await target.writer(l0, { ref: "x" }))._unsafeUnwrap();
    expect(w.offset).toBe(4);
    (await w.write(l0.bytes.subarray(4)))._unsafeUnwrap();
    (await w.commit())._unsafeUnwrap();
    expect(fake.blobs.get(l0.digest)?.bytes.equals(l0.bytes)).toBe(true);
    expect(stored(r)).toEqual([]);
  });

  it("keeps an aborted write's partial file for the next pull, and release() deletes it", async () => {
    const r = root();
    const fake = fakeContainerd({ contentRoot: r });
    const { l0 } = twoLayers(fake);
    const first = createContainerdTarget(fake.client, { unpack: false });
    const w = (await first.writer(l0, { ref: "x" }))._unsafeUnwrap();
    (await w.write(l0.bytes.subarray(0, 5)))._unsafeUnwrap();
    (await w.close())._unsafeUnwrap();
    expect(partials(r)).toEqual([l0.digest.slice(7)]);
    expect(fake.blobs.has(l0.digest)).toBe(false);
    // A second target resumes at the partial's size.
    const second = createContainerdTarget(fake.client, { unpack: false });
    const again = (await second.writer(l0, { ref: "x" }))._unsafeUnwrap();
    expect(again.offset).toBe(5);
    (await again.close())._unsafeUnwrap();
    (await second.release())._unsafeUnwrap();
    expect(partials(r)).toEqual([]);
  });
});
