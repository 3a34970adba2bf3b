import { randomBytes } from "node:crypto";
import { createContainerd } from "@berth/containerd";
import { stack, uniqueName } from "@berth/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  type ContainerdTarget,
  createContainerdTarget,
  createRegistryClient,
  type PullProgress,
  pull,
  type RegistryClient,
} from "../src/index.js";
import { ctr, lines, must, removeNamespace } from "./containerd-fixtures.js";
import { deleteManifest, type FaultProxy, image, index, layer, push, startFaultProxy } from "./fixtures.js";

const s = stack();
const BUSYBOX = `${s?.registry ?? "127.0.0.1:5000"}/berth/busybox:latest`;

function registryClient(extraPlainHttp: string[] = []): RegistryClient {
  const registries: Record<string, { plainHttp: true }> = { [s?.registry ?? "127.0.0.1:5000"]: { plainHttp: true } };
  for (const h of extraPlainHttp) registries[h] = { plainHttp: true };
  return createRegistryClient({ registries });
}

describe.skipIf(!s).each(s?.daemons ?? [])("containerd target on $name", (daemon) => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A client on a fresh namespace that is removed after the test. */
  function namespace() {
    const ns = uniqueName("img");
    const client = createContainerd({ address: daemon.address, namespace: ns })._unsafeUnwrap();
    cleanups.push(async () => {
      await client.close();
      removeNamespace(daemon, ns);
      expect(lines(ctr(daemon, "default", "namespaces", "ls", "-q"))).not.toContain(ns);
    });
    return { ns, client };
  }

  it("pulls busybox so ctr runs it at once, lists it, and a second pull downloads nothing", async () => {
    const { ns, client } = namespace();
    const registry = registryClient();
    cleanups.push(() => registry.close());
    const target = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const phases: string[] = [];
    const unpacked = new Map<number, string[]>();
    const blobStates = new Map<string, string>();
    const first = await pull(BUSYBOX, {
      client: registry,
      target,
      name: BUSYBOX,
      signal: AbortSignal.timeout(120_000),
      onProgress: (e: PullProgress) => {
        if (e.type === "phase") phases.push(e.phase);
        if (e.type === "unpack") unpacked.set(e.index, [...(unpacked.get(e.index) ?? []), e.state]);
        if (e.type === "blob") blobStates.set(e.digest, e.state);
      },
    });
    expect(first.isOk(), first.isErr() ? first.error.message : "").toBe(true);
    const r = must(first);
    // Every blob was committed into this namespace: downloaded, or (when another namespace already holds it in
    // the daemon's shared content store) linked by a commit without downloading, as containerd's own fetcher does.
    expect([...blobStates.values()]).toEqual([r.config, ...r.layers].map(() => "done"));
    const sizes = [r.config, ...r.layers].reduce((n, d) => n + d.size, 0);
    expect(r.fetchedBytes).toBeLessThanOrEqual(sizes);
    expect(phases).toEqual(["resolve", "fetch", "commit", "unpack", "done"]);
    expect(unpacked.size).toBe(r.layers.length);
    for (const states of unpacked.values()) expect(states).toEqual(["waiting", "unpacking", "unpacked"]);
    expect(target.leaseId).toBeUndefined(); // deleted once the image record holds everything

    // ctr sees the image, its snapshot chain and its content, and runs it.
    const images = ctr(daemon, ns, "images", "ls");
    expect(images).toContain(BUSYBOX);
    expect(images).toContain(r.digest);
    const snapshots = lines(ctr(daemon, ns, "snapshots", "--snapshotter", daemon.snapshotter, "ls")).slice(1);
    expect(snapshots.length).toBe(r.layers.length);
    expect(snapshots.every((l) => /Committed/.test(l))).toBe(true);
    const content = lines(ctr(daemon, ns, "content", "ls", "-q"));
    for (const d of [r.manifest.digest, r.config.digest, ...r.layers.map((l) => l.digest)])
      expect(content).toContain(d);
    const configInfo = await client.content.info(r.config.digest);
    expect(Object.keys(must(configInfo).labels)).toContain(`containerd.io/gc.ref.snapshot.${daemon.snapshotter}`);
    const manifestInfo = must(await client.content.info(r.manifest.digest));
    expect(manifestInfo.labels["containerd.io/gc.ref.content.config"]).toBe(r.config.digest);
    expect(manifestInfo.labels["containerd.io/gc.ref.content.l.0"]).toBe(r.layers[0]?.digest);
    expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toEqual([]);
    const id = uniqueName("run");
    const out = ctr(daemon, ns, "run", "--rm", "--snapshotter", daemon.snapshotter, BUSYBOX, id, "echo", "hi");
    expect(out.trim()).toBe("hi");

    // Everything is there: nothing is downloaded, unpacked or recreated.
    const again = createContainerdTarget(client, { snapshotter: daemon.snapshotter });
    const states: string[] = [];
    const second = must(
      await pull(BUSYBOX, {
        client: registry,
        target: again,
        name: BUSYBOX,
        onProgress: (e) => {
          if (e.type === "unpack" && e.state !== "waiting") states.push(e.state);
        },
      }),
    );
    expect(second.fetchedBytes).toBe(0);
    expect(states).toEqual(r.layers.map(() => "exists"));
    expect(second.digest).toBe(r.digest);
    expect(lines(ctr(daemon, ns, "snapshots", "--snapshotter", daemon.snapshotter, "ls")).slice(1).length).toBe(
      r.layers.length,
    );
    expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([BUSYBOX]);

    // A fresh namespace on the same daemon: the shared store holds every blob, so nothing is downloaded, yet every
    // blob is committed here with its GC labels, the layers are unpacked and the image runs.
    const other = namespace();
    const linked = must(
      await pull(BUSYBOX, {
        client: registry,
        target: createContainerdTarget(other.client, { snapshotter: daemon.snapshotter }),
        name: BUSYBOX,
      }),
    );
    expect(linked.fetchedBytes).toBe(0);
    const linkedManifest = must(await other.client.content.info(r.manifest.digest));
    expect(linkedManifest.labels["containerd.io/gc.ref.content.config"]).toBe(r.config.digest);
    expect(linkedManifest.labels["containerd.io/gc.ref.content.l.0"]).toBe(r.layers[0]?.digest);
    const otherId = uniqueName("run");
    const otherOut = ctr(
      daemon,
      other.ns,
      "run",
      "--rm",
      "--snapshotter",
      daemon.snapshotter,
      BUSYBOX,
      otherId,
      "echo",
      "hi",
    );
    expect(otherOut.trim()).toBe("hi");
  });

  it("with transfer: hands the pull to containerd 2.x's Transfer service, or pulls itself on 1.x", async () => {
    const { ns, client } = namespace();
    const registry = registryClient();
    cleanups.push(() => registry.close());
    const target = createContainerdTarget(client, {
      snapshotter: daemon.snapshotter,
      transfer: { plainHttp: true },
      labels: { "berth.test/delegated": "yes" },
    });
    const events: string[] = [];
    const r = must(
      await pull(BUSYBOX, {
        client: registry,
        target,
        name: BUSYBOX,
        signal: AbortSignal.timeout(120_000),
        onProgress: (e) => {
          if (e.type === "phase" || e.type === "delegated") events.push(e.type === "phase" ? e.phase : e.type);
        },
      }),
    );
    const v2 = /^v?2\./.test(daemon.version);
    expect(r.delegated).toBe(v2);
    expect(events).toEqual(
      v2 ? ["resolve", "fetch", "delegated", "done"] : ["resolve", "fetch", "commit", "unpack", "done"],
    );
    expect(ctr(daemon, ns, "images", "ls")).toContain(r.digest);
    const record = must(await client.images.get(BUSYBOX));
    expect(record.target.digest).toBe(r.digest);
    expect(record.labels["berth.test/delegated"]).toBe("yes");
    expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toEqual([]);
    expect(target.leaseId).toBeUndefined();
    const id = uniqueName("run");
    const out = ctr(daemon, ns, "run", "--rm", "--snapshotter", daemon.snapshotter, BUSYBOX, id, "echo", "hi");
    expect(out.trim()).toBe("hi");
  });

  describe("through a fault proxy", () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await startFaultProxy(s?.registry ?? "127.0.0.1:5000");
    });
    afterAll(async () => {
      await proxy?.stop();
    });

    it("an abort mid-pull leaves no image record, only resumable content under the lease", async () => {
      const { ns, client } = namespace();
      const registry = registryClient([proxy.host]);
      cleanups.push(() => registry.close());
      // A layer no other namespace holds: containerd's content store is shared across namespaces, and a write of a
      // blob it already has (e.g. busybox, pulled by other tests) is linked at commit without any ingest to resume.
      const host = s?.registry ?? "127.0.0.1:5000";
      const repo = `berth-test/${uniqueName("abort")}`;
      const unique = image([layer({ "random.bin": randomBytes(1_500_000) }, "gzip")], {
        os: "linux",
        architecture: "amd64",
      });
      await push(host, repo, "v1", [unique]);
      cleanups.push(() => deleteManifest(host, repo, unique.manifest.digest));
      const viaProxy = `${proxy.host}/${repo}:v1`;
      proxy.fault = (req) => (req.url?.includes("/blobs/") ? { kind: "slow", bytesPerTick: 16 * 1024 } : undefined);
      cleanups.push(() => {
        proxy.fault = () => undefined;
      });
      // The streaming path (the same-host fast path's partial files are covered in local-content.integration.test.ts).
      const target: ContainerdTarget = createContainerdTarget(client, {
        snapshotter: daemon.snapshotter,
        localContent: "off",
      });
      const controller = new AbortController();
      let layerDigest = "";
      let layerSize = 0;
      let watching = false;
      const result = await pull(viaProxy, {
        client: registry,
        target,
        signal: controller.signal,
        onProgress: (e) => {
          if (e.type === "plan") {
            const l = e.blobs.find((b) => b.kind === "layer");
            layerDigest = l?.descriptor.digest ?? "";
            layerSize = l?.descriptor.size ?? 0;
          }
          // Abort once containerd itself holds part of the layer (the writer buffers ahead of the daemon).
          if (e.type === "blob" && e.digest === layerDigest && e.bytes > 64 * 1024 && !watching) {
            watching = true;
            const poll = async () => {
              const st = await client.content.status(`layer-${layerDigest}`);
              if (st.isOk() && st.value.offset > 0) controller.abort();
              else if (!controller.signal.aborted) setTimeout(poll, 10);
            };
            void poll();
          }
        },
      });
      expect(result.isErr()).toBe(true);
      expect(result._unsafeUnwrapErr().code).toBe("Aborted");
      expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([]);
      expect((await client.images.get(viaProxy)).isErr()).toBe(true);
      // The partial layer is an ingest containerd keeps under the pull's lease.
      expect(target.leaseId).toBeDefined();
      expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toContain(target.leaseId);
      const status = must(await client.content.status(`layer-${layerDigest}`));
      expect(status.offset).toBeGreaterThan(0);
      expect(status.offset).toBeLessThan(layerSize);
      // No unpacked (or half-unpacked) snapshot is left behind.
      expect(
        lines(ctr(daemon, ns, "snapshots", "--snapshotter", daemon.snapshotter, "ls"))
          .slice(1)
          .filter((l) => /Active/.test(l)),
      ).toEqual([]);

      // The next pull resumes from containerd's offset and completes the image.
      proxy.fault = () => undefined;
      const resumed = createContainerdTarget(client, { snapshotter: daemon.snapshotter, localContent: "off" });
      const done = must(await pull(viaProxy, { client: registry, target: resumed }));
      expect(done.fetchedBytes).toBeLessThan(layerSize - status.offset + 10_000);
      expect(lines(ctr(daemon, ns, "images", "ls", "-q"))).toEqual([viaProxy]);
      const ranged = proxy.log.filter((l) => l.path.includes(layerDigest) && l.range !== undefined);
      expect(ranged.length).toBeGreaterThan(0);

      // Giving up the first pull's lease leaves only what the image references.
      must(await target.release());
      expect(target.leaseId).toBeUndefined();
      expect(lines(ctr(daemon, ns, "leases", "ls", "-q"))).toEqual([]);
      expect(lines(ctr(daemon, ns, "content", "active"))).toHaveLength(1); // header only
    });
  });

  it("unpacks a three-layer image from an index (gzip, zstd, uncompressed) as a chain and keeps the index", async () => {
    const { ns, client } = namespace();
    const registry = registryClient();
    cleanups.push(() => registry.close());
    const host = s?.registry ?? "127.0.0.1:5000";
    const repo = `berth-test/${uniqueName("chain")}`;
    const amd64 = image(
      [
        layer({ "a.txt": `a ${repo}` }, "gzip"),
        layer({ "b.txt": `b ${repo}` }, "zstd"),
        layer({ "c.txt": `c ${repo}` }, "none"),
      ],
      { os: "linux", architecture: "amd64" },
    );
    const arm64 = image([layer({ "arm.txt": repo }, "gzip")], { os: "linux", architecture: "arm64", variant: "v8" });
    const idx = index([amd64, arm64]);
    await push(host, repo, "v1", [amd64, arm64], idx);
    cleanups.push(async () => {
      for (const d of [idx.digest, amd64.manifest.digest, arm64.manifest.digest]) await deleteManifest(host, repo, d);
    });
    const name = `${host}/${repo}:v1`;
    const target = createContainerdTarget(client, { snapshotter: daemon.snapshotter, labels: { "berth.test": "1" } });
    const r = must(await pull(name, { client: registry, target, platform: { os: "linux", architecture: "amd64" } }));
    expect(r.layers).toHaveLength(3);
    const img = must(await client.images.get(name));
    expect(img.target.digest).toBe(idx.digest); // containerd keeps the index, like ctr pull
    expect(img.labels["berth.test"]).toBe("1");
    const snaps = client.snapshots(daemon.snapshotter);
    const list = must(await snaps.list());
    expect(list).toHaveLength(3);
    const byName = new Map(list.map((x) => [x.name, x]));
    const top = must(await client.content.info(amd64.config.digest)).labels[
      `containerd.io/gc.ref.snapshot.${daemon.snapshotter}`
    ];
    expect(top).toBeDefined();
    // Walk the chain from the top: three committed snapshots, each the parent of the next.
    let at = byName.get(top ?? "");
    let depth = 0;
    while (at) {
      expect(at.kind).toBe("committed");
      depth++;
      at = at.parent ? byName.get(at.parent) : undefined;
    }
    expect(depth).toBe(3);
    // Only the amd64 manifest was fetched; the arm64 one is not in the store.
    const content = lines(ctr(daemon, ns, "content", "ls", "-q"));
    expect(content).toContain(idx.digest);
    expect(content).not.toContain(arm64.manifest.digest);
    const layerInfo = must(await client.content.info(amd64.layers[1]?.digest ?? ""));
    expect(layerInfo.labels["containerd.io/uncompressed"]).toMatch(/^sha256:/);
  });
});
