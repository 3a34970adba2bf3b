import { createHash } from "node:crypto";
import { okAsync } from "neverthrow";
import { describe, expect, it } from "vitest";
import { type Descriptor, MEDIA_TYPE_OCI_MANIFEST } from "./manifest.js";
import { InOrderGate, pull } from "./pull.js";
import type { BlobResponse, RegistryClient } from "./registry-client.js";
import type { BlobWriter, Target } from "./target.js";

const sha = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;
const CHUNK = 64 << 10;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An image with layers of `chunks[i]` 64 KiB chunks, served chunk by chunk (one per event loop turn). */
function fakeRegistry(chunks: readonly number[]) {
  const blobs = new Map<string, Buffer>();
  const put = (b: Buffer, mediaType: string): Descriptor => {
    const digest = sha(b);
    blobs.set(digest, b);
    return { mediaType, digest, size: b.byteLength };
  };
  const config = put(
    Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux" })),
    "application/vnd.oci.image.config.v1+json",
  );
  const layerDescriptors = chunks.map((n, i) =>
    put(Buffer.alloc(n * CHUNK, i + 1), "application/vnd.oci.image.layer.v1.tar+gzip"),
  );
  const manifest = Buffer.from(
    JSON.stringify({ schemaVersion: 2, mediaType: MEDIA_TYPE_OCI_MANIFEST, config, layers: layerDescriptors }),
  );
  /** Every chunk served, in order: [layer index, byte offset after it]. */
  const served: Array<[number, number]> = [];
  /** Every blob request: [layer index (-1: not a layer), how many chunks had been served when it was opened]. */
  const opened: Array<[number, number]> = [];
  const client: RegistryClient = {
    resolve: () =>
      okAsync({
        digest: sha(manifest),
        mediaType: MEDIA_TYPE_OCI_MANIFEST,
        size: manifest.byteLength,
        bytes: manifest,
      }),
    fetchManifest: () => okAsync({ digest: sha(manifest), mediaType: MEDIA_TYPE_OCI_MANIFEST, bytes: manifest }),
    openBlob(_ref, digest, options = {}) {
      const bytes = blobs.get(digest) as Buffer;
      const index = layerDescriptors.findIndex((l) => l.digest === digest);
      opened.push([index, served.length]);
      const start = options.offset ?? 0;
      let stopped = false;
      const body = (async function* () {
        for (let at = start; at < bytes.byteLength && !stopped; at += CHUNK) {
          await tick();
          const chunk = bytes.subarray(at, Math.min(at + CHUNK, bytes.byteLength));
          served.push([index, at + chunk.byteLength]);
          yield chunk;
        }
      })();
      const response: BlobResponse = {
        offset: start,
        body,
        cancel: () => {
          stopped = true;
        },
      };
      return okAsync(response);
    },
    close: async () => undefined,
    [Symbol.asyncDispose]: async () => undefined,
  };
  return { client, layers: layerDescriptors, served, opened };
}

/** A target keeping blobs in memory; records the order blobs are committed in. */
function fakeTarget(unpacks: boolean) {
  const committed: string[] = [];
  const target: Target = {
    name: "fake",
    root: "manifest",
    unpacks,
    has: () => okAsync(false),
    writer(d) {
      const w: BlobWriter & { offset: number } = {
        offset: 0,
        write(chunk) {
          w.offset += chunk.byteLength;
          return okAsync(undefined);
        },
        reset() {
          w.offset = 0;
          return okAsync(undefined);
        },
        commit() {
          committed.push(d.digest);
          return okAsync(undefined);
        },
        close: () => okAsync(undefined),
      };
      return okAsync(w);
    },
    putImage: () => okAsync(undefined),
  };
  return { target, committed };
}

/** For each layer: when (index into `served`) its last chunk was served. */
const finishedAt = (served: Array<[number, number]>, layers: readonly Descriptor[]) =>
  layers.map((l, i) => served.findIndex(([at, end]) => at === i && end === l.size));
/** For each layer: when its first chunk was served. */
const startedAt = (served: Array<[number, number]>, layers: readonly Descriptor[]) =>
  layers.map((_, i) => served.findIndex(([at]) => at === i));

async function run(unpacks: boolean, chunks: readonly number[] = [32, 32, 32, 32]) {
  const registry = fakeRegistry(chunks);
  const { target, committed } = fakeTarget(unpacks);
  const r = await pull("127.0.0.1:5000/berth/fake:v1", { client: registry.client, target, concurrency: 4 });
  expect(r.isOk()).toBe(true);
  return { ...registry, committed };
}

describe("pull's download order", () => {
  it("into a target that unpacks in order, equal layers finish one after another in manifest order", async () => {
    const { served, layers, committed } = await run(true);
    const finished = finishedAt(served, layers);
    expect(finished.every((f) => f >= 0)).toBe(true);
    for (let i = 1; i < finished.length; i++) expect(finished[i]).toBeGreaterThan(finished[i - 1] as number);
    expect(committed.filter((d) => layers.some((l) => l.digest === d))).toEqual(layers.map((l) => l.digest));
    // The head-of-line layer is well ahead: it is done before the last layer got half of its bytes.
    const lastHalf = served.findIndex(([at, end]) => at === 3 && end >= (layers[3] as Descriptor).size / 2);
    expect(finished[0]).toBeLessThan(lastHalf);
  });

  it("keeps the link busy: the next layer reads while the head-of-line one still downloads", async () => {
    const { served, layers } = await run(true);
    const started = startedAt(served, layers);
    const finished = finishedAt(served, layers);
    for (let i = 1; i < layers.length; i++) expect(started[i]).toBeLessThan(finished[i - 1] as number);
  });

  it("into a target that does not unpack, layers download side by side (no ordering)", async () => {
    const { served, layers } = await run(false);
    const started = startedAt(served, layers);
    const finished = finishedAt(served, layers);
    // Every layer started before any finished: the four downloads ran interleaved.
    expect(Math.max(...started)).toBeLessThan(Math.min(...finished));
  });

  it("a small layer after big ones waits until its predecessor has its head start", async () => {
    const { served, layers } = await run(true, [32, 32, 2]);
    const started = startedAt(served, layers);
    const finished = finishedAt(served, layers);
    const secondHalfway = served.findIndex(([at, end]) => at === 1 && end >= 16 * CHUNK);
    expect(started[2]).toBeGreaterThan(secondHalfway);
    expect(finished[2]).toBeGreaterThan(finished[0] as number);
  });

  it("a held-back layer sends its request only once the gate lets it read (no idle connection)", async () => {
    const { served, layers, opened } = await run(true);
    for (let i = 1; i < layers.length; i++) {
      const at = opened.find(([index]) => index === i)?.[1] ?? -1;
      expect(at).toBeGreaterThan(0);
      // What the predecessor held when layer i's request went out: at least its head start (75% of it).
      const held = Math.max(0, ...served.slice(0, at).flatMap(([index, end]) => (index === i - 1 ? [end] : [])));
      expect(held).toBeGreaterThanOrEqual(0.75 * (layers[i - 1] as Descriptor).size);
    }
  });

  it("with one download at a time, the order is the manifest's and nothing waits", async () => {
    const registry = fakeRegistry([8, 8, 8]);
    const { target, committed } = fakeTarget(true);
    const r = await pull("127.0.0.1:5000/berth/fake:v1", { client: registry.client, target, concurrency: 1 });
    expect(r.isOk()).toBe(true);
    expect(committed.slice(1, 4)).toEqual(registry.layers.map((l) => l.digest));
  });
});

describe("a failed pull and its target's own work", () => {
  it("aborts the signal plan was given and returns only once plan's promise settled", async () => {
    const registry = fakeRegistry([4, 4]);
    const { target } = fakeTarget(true);
    const steps: string[] = [];
    target.plan = (_image, signal) =>
      new Promise<void>((resolve) => {
        signal.addEventListener("abort", () => {
          steps.push("target saw the abort");
          setTimeout(() => {
            steps.push("target cleaned up");
            resolve();
          }, 50);
        });
      });
    target.putImage = () => {
      throw new Error("unreachable: the pull fails first");
    };
    const controller = new AbortController();
    const pulling = pull("127.0.0.1:5000/berth/fake:v1", {
      client: registry.client,
      target,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.type === "blob" && e.state === "fetching" && e.bytes > 0) controller.abort();
      },
    });
    const r = await pulling;
    steps.push("pull returned");
    expect(r._unsafeUnwrapErr().code).toBe("Aborted");
    expect(steps).toEqual(["target saw the abort", "target cleaned up", "pull returned"]);
  });
});

describe("InOrderGate", () => {
  it("lets the head read, and the next one only once the head holds the head start more bytes", () => {
    const gate = new InOrderGate([1000, 1000, 10], 0.5);
    expect(gate.mayRead(0)).toBe(true);
    expect(gate.mayRead(1)).toBe(false);
    gate.progress(0, 499);
    expect(gate.mayRead(1)).toBe(false);
    gate.progress(0, 500);
    expect(gate.mayRead(1)).toBe(true);
    gate.progress(1, 1);
    expect(gate.mayRead(1)).toBe(false);
    // The small last layer trails the second by half of the second's size, then runs free once it is done.
    gate.progress(1, 400);
    expect(gate.mayRead(2)).toBe(false);
    gate.progress(1, 500);
    expect(gate.mayRead(2)).toBe(true);
    gate.finish(0);
    expect(gate.mayRead(1)).toBe(true);
    gate.finish(1);
    gate.progress(2, 10);
    expect(gate.mayRead(2)).toBe(true);
  });

  it("holds the next download while its predecessor, with every byte in, is being committed", async () => {
    const gate = new InOrderGate([100, 100, 100], 0.5);
    gate.progress(0, 60);
    expect(gate.mayRead(1)).toBe(true);
    gate.progress(1, 10);
    gate.progress(0, 100);
    expect(gate.mayRead(1)).toBe(false);
    let woke = false;
    const waiting = gate.ready(1, new AbortController().signal).then(() => {
      woke = true;
    });
    await tick();
    expect(woke).toBe(false);
    gate.finish(0);
    await waiting;
    expect(gate.mayRead(1)).toBe(true);
  });

  it("wakes a waiting download on its predecessor's progress, and on abort", async () => {
    const gate = new InOrderGate([100, 100, 100], 0.5);
    const controller = new AbortController();
    let woke = false;
    const waiting = gate.ready(1, controller.signal).then(() => {
      woke = true;
    });
    await tick();
    gate.progress(0, 49);
    await tick();
    expect(woke).toBe(false);
    gate.progress(0, 50);
    await waiting;
    expect(woke).toBe(true);
    const stuck = gate.ready(2, controller.signal);
    controller.abort();
    await stuck; // resolves: the read then fails on the aborted body
    expect(gate.mayRead(2)).toBe(false);
  });

  it("never holds back downloads it does not know (the config) or the head", async () => {
    const gate = new InOrderGate([100, 100]);
    expect(gate.mayRead(-1)).toBe(true);
    expect(gate.mayRead(0)).toBe(true);
    await gate.ready(-1, new AbortController().signal);
  });
});
