// The typed services against the real containerd 1.6 and 2.1: introspection, namespaces,
// content (streamed read with ranges, resumable bidi write), leases, containers, snapshots, diff
// and images. The test image is imported from its OCI layout directory through berth.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stack, uniqueName } from "@berth/testkit";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Containerd, createContainerd, defaultSpec, resolveImage } from "../src/index.js";
import { expectEmpty, setUpNamespace, TEST_IMAGE, tearDownNamespace, unwrap } from "./helpers.js";

const s = stack();

const digestOf = (b: Uint8Array) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

describe.skipIf(!s).each(s?.daemons ?? [])("containerd services on $name", (daemon) => {
  let client: Containerd;

  beforeAll(async () => {
    client = await setUpNamespace(daemon, s?.testImageLayout ?? "");
  }, 120_000);

  afterAll(async () => {
    if (!client) return;
    await tearDownNamespace(client, daemon.snapshotter);
    await client.namespaces.delete(client.namespace);
    await client.close();
  }, 120_000);

  it("reports version, identity and capabilities", async () => {
    const info = unwrap(await client.info());
    expect(info.version.replace(/^v/, "").startsWith(daemon.version.replace(/^v/, ""))).toBe(true);
    expect(info.uuid).toMatch(/^[0-9a-f-]{36}$/);
    expect(info.capabilities.snapshotters).toContain(daemon.snapshotter);
    const two = info.semver?.major === 2;
    expect(info.capabilities.transfer).toBe(two);
    expect(info.capabilities.streaming).toBe(two);
    expect(info.plugins.some((p) => p.type === "io.containerd.grpc.v1" && p.id === "tasks")).toBe(true);
  });

  it("creates, labels, lists and deletes namespaces", async () => {
    const name = uniqueName("ns");
    try {
      expect(unwrap(await client.namespaces.create(name, { team: "a" }))).toEqual({
        name,
        labels: { team: "a" },
      });
      expect((await client.namespaces.create(name))._unsafeUnwrapErr().code).toBe("AlreadyExists");
      expect(unwrap(await client.namespaces.setLabels(name, { team: "", tier: "1" })).labels).toEqual({
        tier: "1",
      });
      expect(unwrap(await client.namespaces.list()).map((n) => n.name)).toContain(name);
      unwrap(await client.namespaces.delete(name));
      const gone = (await client.namespaces.get(name))._unsafeUnwrapErr();
      expect(gone.code).toBe("NotFound");
      expect(gone.resource).toBe(`namespace "${name}"`);
    } finally {
      await client.namespaces.delete(name);
    }
  });

  it("writes content over the bidi stream, resumes an interrupted write, reads ranges", async () => {
    // Unreferenced content and snapshots are garbage: work under a lease, as the Go client does.
    const lease = unwrap(await client.leases.create());
    const leased = client.withLease(lease.id);
    try {
      const data = Buffer.alloc(3 * 1024 * 1024 + 17);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 251;
      const expected = digestOf(data);
      const ref = uniqueName("ref");
      const half = 1024 * 1024;
      // First attempt: one chunk, then the source fails.
      const broken = await leased.content.write(
        ref,
        async function* () {
          yield data.subarray(0, half);
          throw new Error("source broke");
        },
        { expected, size: data.length },
      );
      expect(broken.isErr()).toBe(true);
      expect(unwrap(await leased.content.status(ref)).offset).toBe(half);
      let resumedAt = -1;
      const done = await leased.content.write(
        ref,
        (offset) => {
          resumedAt = offset;
          return (async function* () {
            yield data.subarray(offset);
          })();
        },
        { expected, size: data.length, labels: { "berth.test": "1" } },
      );
      expect(resumedAt).toBe(half);
      expect(unwrap(done)).toEqual({ digest: expected, written: data.length - half, existed: false });
      const info = unwrap(await leased.content.info(expected));
      expect(info.size).toBe(data.length);
      expect(info.labels).toEqual({ "berth.test": "1" });
      expect(unwrap(await leased.content.write(uniqueName("ref"), data, { expected, size: data.length })).existed).toBe(
        true,
      );
      const range = unwrap(await leased.content.readAll(expected, { offset: 1000, size: 5000 }));
      expect(range.equals(data.subarray(1000, 6000))).toBe(true);
      let chunks = 0;
      let total = 0;
      for await (const chunk of leased.content.read(expected)) {
        chunks++;
        total += chunk.byteLength;
      }
      expect(total).toBe(data.length);
      expect(chunks).toBeGreaterThan(1);
      expect(unwrap(await leased.content.setLabels(expected, { "berth.test": "" })).labels).toEqual({});
      unwrap(await leased.content.delete(expected));
      expect((await leased.content.info(expected))._unsafeUnwrapErr().code).toBe("NotFound");
      expect(unwrap(await leased.content.statuses())).toEqual([]);
    } finally {
      await client.leases.delete(lease.id, true);
    }
  });

  it("runs work under a lease and removes it; leases carry the GC expiry label", async () => {
    const blob = Buffer.from(`leased ${uniqueName("b")}`);
    const seen = await client.leases.withLease(async (lease) => {
      expect(lease.labels["containerd.io/gc.expire"]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const w = await client.content.write(
        uniqueName("ref"),
        blob,
        { expected: digestOf(blob), size: blob.length },
        { lease: lease.id },
      );
      if (w.isErr()) return w.map(() => lease.id);
      const resources = unwrap(await client.leases.resources(lease.id));
      expect(resources).toContainEqual({ id: digestOf(blob), type: "content" });
      return (await client.leases.list()).map((all) => {
        expect(all.map((l) => l.id)).toContain(lease.id);
        return lease.id;
      });
    });
    expect(seen._unsafeUnwrap()).toMatch(/^berth-/);
    expect(unwrap(await client.leases.list())).toEqual([]);
    const manual = unwrap(await client.leases.create({ expiresInMs: 0 }));
    expect(manual.labels).toEqual({});
    unwrap(await client.leases.addResource(manual.id, { id: "x", type: `snapshots/${daemon.snapshotter}` }));
    (
      await client.leases.removeResource(manual.id, { id: "x", type: `snapshots/${daemon.snapshotter}` })
    )._unsafeUnwrap();
    expect(unwrap(await client.leases.resources(manual.id))).toEqual([]);
    unwrap(await client.leases.delete(manual.id, true));
    // Without a lease or a reference, the blob is collected.
    await client.content.delete(digestOf(blob));
  });

  it("creates, filters, updates and deletes containers", async () => {
    const id = uniqueName("c");
    const spec = defaultSpec({ namespace: client.namespace, id });
    const created = (
      await client.containers.create({
        id,
        image: TEST_IMAGE,
        labels: { app: "web" },
        runtime: { name: "io.containerd.runc.v2" },
        spec,
      })
    )._unsafeUnwrap();
    expect(created.spec).toEqual(spec);
    expect(created.createdAt).toBeInstanceOf(Date);
    const found = unwrap(await client.containers.list(['labels."app"==web']));
    expect(found.map((c) => c.id)).toEqual([id]);
    expect(unwrap(await client.containers.list(['labels."app"==db']))).toEqual([]);
    const updated = (
      await client.containers.update(id, { labels: { app: "api", extra: "1" }, image: "other:latest" })
    )._unsafeUnwrap();
    expect(updated.labels).toEqual({ app: "api", extra: "1" });
    expect(updated.image).toBe("other:latest");
    expect(
      (await client.containers.create({ id, runtime: { name: "io.containerd.runc.v2" }, spec }))._unsafeUnwrapErr()
        .code,
    ).toBe("AlreadyExists");
    unwrap(await client.containers.delete(id));
    const missing = (await client.containers.get(id))._unsafeUnwrapErr();
    expect(missing.code).toBe("NotFound");
    expect(missing.resource).toBe(`container "${id}"`);
  });

  it("prepares, views, stats, labels, commits and removes snapshots; diffs and applies layers", async () => {
    // Unreferenced content and snapshots are garbage: work under a lease, as the Go client does.
    const lease = unwrap(await client.leases.create());
    const leased = client.withLease(lease.id);
    try {
      const snaps = leased.snapshots(daemon.snapshotter);
      const image = unwrap(await resolveImage(client, TEST_IMAGE));
      const key = uniqueName("snap");
      const mounts = unwrap(await snaps.prepare(key, image.chainId, { "berth.test": "1" }));
      expect(mounts.length).toBeGreaterThan(0);
      expect(unwrap(await snaps.mounts(key))).toEqual(mounts);
      const st = unwrap(await snaps.stat(key));
      expect(st).toMatchObject({ name: key, parent: image.chainId, kind: "active", labels: { "berth.test": "1" } });
      expect(unwrap(await snaps.setLabels(key, { "berth.test": "", more: "x" })).labels).toEqual({ more: "x" });
      const usage = unwrap(await snaps.usage(image.chainId));
      expect(usage.size).toBeGreaterThan(0);
      const viewKey = uniqueName("view");
      const lower = unwrap(await snaps.view(viewKey, image.chainId));
      // An unchanged upper gives an (empty) layer in the content store.
      const layer = unwrap(await leased.diff.diff(lower, mounts));
      expect(layer.mediaType).toMatch(/tar/);
      expect(unwrap(await leased.content.info(layer.digest)).size).toBe(layer.size);
      const committed = uniqueName("committed");
      unwrap(await snaps.commit(committed, key));
      expect(unwrap(await snaps.stat(committed)).kind).toBe("committed");
      expect(unwrap(await snaps.list([`name==${committed}`])).map((x) => x.name)).toEqual([committed]);
      // Apply the image's own layer onto an empty snapshot: the diff id matches the image's chain id (one layer).
      const fresh = uniqueName("apply");
      const target = unwrap(await client.images.get(TEST_IMAGE)).target;
      const manifest = JSON.parse(unwrap(await leased.content.readAll(target.digest)).toString()) as {
        layers: { mediaType: string; digest: string; size: number }[];
      };
      const applyMounts = unwrap(await snaps.prepare(fresh, ""));
      const applied = unwrap(await leased.diff.apply(manifest.layers[0] as never, applyMounts));
      expect(applied.digest).toBe(image.chainId);
      for (const k of [fresh, viewKey, committed]) unwrap(await snaps.remove(k));
      unwrap(await leased.content.delete(layer.digest));
      expect((await snaps.stat(key))._unsafeUnwrapErr().code).toBe("NotFound");
    } finally {
      await client.leases.delete(lease.id, true);
    }
  });

  it("creates, updates, lists and deletes image records", async () => {
    const target = unwrap(await client.images.get(TEST_IMAGE)).target;
    const name = `example.test/berth/${uniqueName("img")}:v1`;
    unwrap(await client.images.create({ name, target, labels: { a: "1" } }));
    expect((await client.images.create({ name, target }))._unsafeUnwrapErr().code).toBe("AlreadyExists");
    expect(unwrap(await client.images.update({ name, target, labels: { b: "2" } }, ["labels.b"])).labels).toEqual({
      a: "1",
      b: "2",
    });
    expect(unwrap(await client.images.list([`name==${name}`])).map((i) => i.target.digest)).toEqual([target.digest]);
    unwrap(await client.images.delete(name));
    expect((await client.images.get(name))._unsafeUnwrapErr().resource).toBe(`image "${name}"`);
  });

  it("names a gRPC server that is not containerd, and a missing socket", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-notctd-"));
    const server = new Server();
    try {
      const sock = join(dir, "grpc.sock");
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${sock}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
      );
      await using other = createContainerd({ address: sock, timeoutMs: 5000 })._unsafeUnwrap();
      const e = (await other.info())._unsafeUnwrapErr();
      expect(e.code).toBe("Unimplemented");
      expect(e.message).toContain("not containerd");
      await using none = createContainerd({ address: join(dir, "none.sock"), timeoutMs: 5000 })._unsafeUnwrap();
      const missing = (await none.info())._unsafeUnwrapErr();
      expect(missing.code).toBe("Unavailable");
      expect(missing.message).toContain("no containerd socket");
    } finally {
      server.forceShutdown();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("leaves nothing behind once the image is deleted", async () => {
    await tearDownNamespace(client, daemon.snapshotter);
    await expectEmpty(client, daemon.snapshotter);
  });
});
