import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Containerd, createContainerd } from "@berth/containerd";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type ContainerdTarget, createContainerdTarget, createRegistryClient, pull } from "../src/index.js";
import { ctr, lines, must, removeNamespace } from "./containerd-fixtures.js";
import {
  blob,
  deleteManifest,
  type FaultProxy,
  image,
  layer,
  push,
  startFaultProxy,
  type TestImage,
} from "./fixtures.js";

const s = stack();
const HOST = s?.registry ?? "127.0.0.1:5000";

/** busybox's single layer (from the stack's OCI layout) with its diff id, to build runnable test images on. */
function busyboxLayer(): { blob: ReturnType<typeof blob>; diffId: string } {
  const dir = s?.testImageLayout ?? "";
  const read = (digest: string) => readFileSync(join(dir, "blobs", "sha256", digest.slice(7)));
  const idx = JSON.parse(readFileSync(join(dir, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
  const manifest = JSON.parse(read(idx.manifests[0]?.digest ?? "").toString("utf8")) as {
    config: { digest: string };
    layers: Array<{ mediaType: string; digest: string }>;
  };
  const config = JSON.parse(read(manifest.config.digest).toString("utf8")) as { rootfs: { diff_ids: string[] } };
  const l = manifest.layers[0];
  if (!l || manifest.layers.length !== 1) throw new Error("the stack's busybox image should have one layer");
  return { blob: blob(l.mediaType, read(l.digest)), diffId: config.rootfs.diff_ids[0] ?? "" };
}

describe.skipIf(!s).each(s?.daemons ?? [])("containerd target's local content fast path on $name", (daemon) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  let contentRoot = "";
  let proxy: FaultProxy;
  beforeAll(async () => {
    const client = createContainerd({ address: daemon.address, namespace: "default" })._unsafeUnwrap();
    const plugins = must(await client.plugins(["type==io.containerd.content.v1"]));
    await client.close();
    contentRoot = plugins.find((p) => p.id === "content")?.exports.root ?? "";
    proxy = await startFaultProxy(HOST);
  });
  afterAll(async () => {
    await proxy?.stop();
  });

  const partial = (digest: string) => join(contentRoot, "blobs", "berth-partial", digest.slice(7));
  const stored = (digest: string) => join(contentRoot, "blobs", "sha256", digest.slice(7));

  /** A client on a fresh namespace, removed (with this test's partial files) afterwards. */
  function namespace(): { ns: string; client: Containerd } {
    const ns = uniqueName("local");
    const client = createContainerd({ address: daemon.address, namespace: ns })._unsafeUnwrap();
    cleanups.push(async () => {
      await client.close();
      removeNamespace(daemon, ns);
      expect(lines(ctr(daemon, "default", "namespaces", "ls", "-q"))).not.toContain(ns);
    });
    return { ns, client };
  }

  /** Pushes busybox + a layer of `bytes` random bytes (plus `/unique.txt`) as a fresh repository. */
  async function freshImage(bytes: number): Promise<{ ref: string; img: TestImage; marker: string }> {
    const repo = `berth-test/${uniqueName("local")}`;
    const marker = `unique ${repo}`;
    const img = image([busyboxLayer(), layer({ "unique.txt": marker, "random.bin": randomBytes(bytes) }, "gzip")], {
      os: "linux",
      architecture: "amd64",
    });
    await push(HOST, repo, "v1", [img]);
    cleanups.push(() => deleteManifest(HOST, repo, img.manifest.digest));
    cleanups.push(() => {
      for (const d of [img.config, ...img.layers, img.manifest]) rmSync(partial(d.digest), { force: true });
    });
    return { ref: `${HOST}/${repo}:v1`, img, marker };
  }

  function registry(): ReturnType<typeof createRegistryClient> {
    const r = createRegistryClient({ registries: { [HOST]: { plainHttp: true }, [proxy.host]: { plainHttp: true } } });
    cleanups.push(() => r.close());
    return r;
  }

  it("places the new blobs in the content store: the image runs, labels and lease as before, no partial left", async () => {
    const { ns, client } = namespace();
    const { ref, img, marker } = await freshImage(200_000);
    const target = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const r = must(await pull(ref, { client: registry(), target, signal: AbortSignal.timeout(120_000) }));
    expect(target.localContent).toEqual({
      active: true,
      reason: "the daemon shares a probe blob placed in its content store",
      root: contentRoot,
    });
    // The random layer, config and manifest were placed by berth: read-only files in blobs/sha256, none left behind.
    const unique = img.layers[1]?.digest ?? "";
    for (const d of [unique, img.config.digest, img.manifest.digest]) {
      expect(statSync(stored(d)).mode & 0o777).toBe(0o444);
      expect(existsSync(partial(d))).toBe(false);
    }
    expect(readFileSync(stored(unique)).equals(img.layers[1]?.bytes ?? Buffer.alloc(0))).toBe(true);
    // containerd holds them in this namespace with the GC labels, under no lease once the image is recorded.
    const content = lines(ctr(daemon, ns, "content", "ls", "-q"));
    for (const d of [img.manifest.digest, img.config.digest, ...img.layers.map((l) => l.digest)]) {
      expect(content).toContain(d);
    }
    const manifestInfo = must(await client.content.info(r.manifest.digest));
    expect(manifestInfo.labels["containerd.io/gc.ref.content.config"]).toBe(img.config.digest);
    expect(manifestInfo.labels["containerd.io/gc.ref.content.l.1"]).toBe(unique);
    const configInfo = must(await client.content.info(img.config.digest));
    expect(Object.keys(configInfo.labels)).toContain(`containerd.io/gc.ref.snapshot.${daemon.snapshotter}`);
    expect(must(await client.content.info(unique)).labels["containerd.io/uncompressed"]).toBe(
      JSON.parse(img.config.bytes.toString("utf8")).rootfs.diff_ids[1],
    );
    expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toEqual([]);
    expect(lines(ctr(daemon, ns, "content", "active"))).toHaveLength(1); // header only: no ingest
    expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([ref]);
    const id = uniqueName("run");
    const out = ctr(daemon, ns, "run", "--rm", "--snapshotter", daemon.snapshotter, ref, id, "/bin/cat", "/unique.txt");
    expect(out.trim()).toBe(marker);
  });

  it("an abort mid-pull leaves no image, only a partial file that the next pull resumes", async () => {
    const { ns, client } = namespace();
    const { ref, img } = await freshImage(1_500_000);
    const unique = img.layers[1] as (typeof img.layers)[number];
    const viaProxy = ref.replace(HOST, proxy.host);
    proxy.fault = (req) => (req.url?.includes(unique.digest) ? { kind: "slow", bytesPerTick: 16 * 1024 } : undefined);
    cleanups.push(() => {
      proxy.fault = () => undefined;
    });
    const target: ContainerdTarget = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const controller = new AbortController();
    const poll = setInterval(() => {
      if (existsSync(partial(unique.digest)) && statSync(partial(unique.digest)).size > 64 * 1024) controller.abort();
    }, 10);
    cleanups.push(() => clearInterval(poll));
    const client1 = registry();
    const result = await pull(viaProxy, { client: client1, target, signal: controller.signal });
    clearInterval(poll);
    expect(result.isErr() && result.error.code).toBe("Aborted");
    expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([]);
    // Only a partial file: not in blobs/sha256, not in this namespace, no containerd ingest for it.
    const kept = statSync(partial(unique.digest)).size;
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(unique.size);
    expect(existsSync(stored(unique.digest))).toBe(false);
    expect((await client.content.info(unique.digest)).isErr()).toBe(true);
    expect(lines(ctr(daemon, ns, "content", "active")).slice(1)).toEqual([]);
    expect(
      lines(ctr(daemon, ns, "snapshots", "--snapshotter", daemon.snapshotter, "ls"))
        .slice(1)
        .filter((l) => /Active/.test(l)),
    ).toEqual([]);

    // The next pull (a new target) resumes from the partial's size with Range and completes the image.
    proxy.fault = () => undefined;
    const resumed = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const done = must(await pull(viaProxy, { client: client1, target: resumed }));
    expect(resumed.localContent?.active).toBe(true);
    expect(done.fetchedBytes).toBeLessThan(unique.size - kept + 10_000);
    const ranged = proxy.log.filter((l) => l.path.includes(unique.digest) && l.range !== undefined);
    expect(ranged.map((l) => l.range)).toContain(`bytes=${kept}-`);
    expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([viaProxy]);
    expect(existsSync(partial(unique.digest))).toBe(false);
    expect(readFileSync(stored(unique.digest)).equals(unique.bytes)).toBe(true);
    must(await target.release());
    expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toEqual([]);
  });

  it("a corrupted blob fails with DigestMismatch and places nothing", async () => {
    const { ns, client } = namespace();
    const { ref, img } = await freshImage(300_000);
    const unique = img.layers[1] as (typeof img.layers)[number];
    proxy.fault = (req) => (req.url?.includes(unique.digest) ? { kind: "corrupt", atByte: 1000 } : undefined);
    cleanups.push(() => {
      proxy.fault = () => undefined;
    });
    const target = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const r = await pull(ref.replace(HOST, proxy.host), { client: registry(), target });
    expect(r.isErr() && r.error.code).toBe("DigestMismatch");
    expect(target.localContent?.active).toBe(true);
    expect(existsSync(stored(unique.digest))).toBe(false);
    expect(existsSync(partial(unique.digest))).toBe(false);
    expect((await client.content.info(unique.digest)).isErr()).toBe(true);
    expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([]);
    must(await target.release());
  });

  it('streams through Content.Write with localContent "off": nothing placed by berth', async () => {
    const { ns, client } = namespace();
    const { ref, img, marker } = await freshImage(100_000);
    const target = createContainerdTarget(client, { snapshotter: daemon.snapshotter, localContent: "off" });
    must(await pull(ref, { client: registry(), target }));
    expect(target.localContent).toEqual({ active: false, reason: 'localContent is "off"' });
    for (const d of [img.config, ...img.layers, img.manifest]) expect(existsSync(partial(d.digest))).toBe(false);
    // containerd wrote the blob itself (its commit too leaves it read-only).
    expect(existsSync(stored(img.layers[1]?.digest ?? ""))).toBe(true);
    const id = uniqueName("run");
    const out = ctr(daemon, ns, "run", "--rm", "--snapshotter", daemon.snapshotter, ref, id, "/bin/cat", "/unique.txt");
    expect(out.trim()).toBe(marker);
  });

  it("falls back to streaming when the probe fails (a root the daemon does not see)", async () => {
    const { ns, client } = namespace();
    const { ref, img, marker } = await freshImage(100_000);
    const elsewhere = mkdtempSync(join(tmpdir(), "berth-not-containerd-"));
    cleanups.push(() => rmSync(elsewhere, { recursive: true, force: true }));
    mkdirSync(join(elsewhere, "blobs", "sha256"), { recursive: true });
    const target = createContainerdTarget(client, {
      snapshotter: daemon.snapshotter,
      localContent: { root: elsewhere },
    });
    must(await pull(ref, { client: registry(), target }));
    expect(target.localContent?.active).toBe(false);
    expect(target.localContent?.reason).toMatch(/does not see blobs placed in/);
    // The probe left nothing in the fake root, and nothing went to the real one by berth's hand.
    expect(readdirSync(join(elsewhere, "blobs", "sha256"))).toEqual([]);
    expect(readdirSync(join(elsewhere, "blobs", "berth-partial"))).toEqual([]);
    for (const d of [img.config, ...img.layers, img.manifest]) expect(existsSync(partial(d.digest))).toBe(false);
    const id = uniqueName("run");
    const out = ctr(daemon, ns, "run", "--rm", "--snapshotter", daemon.snapshotter, ref, id, "/bin/cat", "/unique.txt");
    expect(out.trim()).toBe(marker);
  });
});
