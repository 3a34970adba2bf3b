import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type Descriptor, sha256Digest } from "./manifest.js";
import { ANNOTATION_REF_NAME, createOciLayoutTarget } from "./oci-layout.js";
import type { ImageRecord } from "./target.js";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-layout-unit-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const content = Buffer.from("x".repeat(3000) + "y".repeat(3000));
const desc: Descriptor = {
  mediaType: "application/vnd.oci.image.layer.v1.tar",
  digest: sha256Digest(content),
  size: content.length,
};
const hex = desc.digest.slice(7);

describe("OCI layout target", () => {
  it("commits a verified blob by rename; has() then reports it", async () => {
    const t = createOciLayoutTarget(dir, { writeBufferBytes: 1024 });
    expect((await t.has(desc))._unsafeUnwrap()).toBe(false);
    const w = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    expect(w.offset).toBe(0);
    for (let i = 0; i < content.length; i += 700) (await w.write(content.subarray(i, i + 700)))._unsafeUnwrap();
    (await w.commit())._unsafeUnwrap();
    expect(readFileSync(join(dir, "blobs", "sha256", hex))).toEqual(content);
    expect((await t.has(desc))._unsafeUnwrap()).toBe(true);
    expect(existsSync(join(dir, "index.json"))).toBe(false);
  });

  it("resumes at the offset of an abandoned write and still verifies the whole blob", async () => {
    const t = createOciLayoutTarget(dir);
    const w1 = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    (await w1.write(content.subarray(0, 2500)))._unsafeUnwrap();
    (await w1.close())._unsafeUnwrap();
    const w2 = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    expect(w2.offset).toBe(2500);
    (await w2.write(content.subarray(2500)))._unsafeUnwrap();
    (await w2.commit())._unsafeUnwrap();
    expect(readFileSync(join(dir, "blobs", "sha256", hex))).toEqual(content);
  });

  it("reset() starts over (a server that ignored Range)", async () => {
    const t = createOciLayoutTarget(dir);
    const w = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    (await w.write(Buffer.from("garbage")))._unsafeUnwrap();
    (await w.reset())._unsafeUnwrap();
    expect(w.offset).toBe(0);
    (await w.write(content))._unsafeUnwrap();
    (await w.commit())._unsafeUnwrap();
    expect(readFileSync(join(dir, "blobs", "sha256", hex))).toEqual(content);
  });

  it("a wrong digest or size fails with DigestMismatch, commits nothing and drops the partial data", async () => {
    const t = createOciLayoutTarget(dir);
    const w = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    const bad = Buffer.from(content);
    bad[10] = 0;
    (await w.write(bad))._unsafeUnwrap();
    const e = (await w.commit())._unsafeUnwrapErr();
    expect(e.code).toBe("DigestMismatch");
    expect(e.digest).toBe(desc.digest);
    expect(readdirSync(join(dir, "blobs", "sha256"))).toEqual([]);
    expect(readdirSync(join(dir, ".berth-ingest"))).toEqual([]);
    const short = (await t.writer(desc, { ref: "r" }))._unsafeUnwrap();
    (await short.write(content.subarray(0, 10)))._unsafeUnwrap();
    expect((await short.commit())._unsafeUnwrapErr().message).toContain("descriptor says");
  });

  it("putImage writes index.json last, replaces the same name and keeps other images", async () => {
    const t = createOciLayoutTarget(dir);
    const m = (n: number): Descriptor => ({
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: `sha256:${String(n).repeat(64)}`,
      size: n,
    });
    const rec = (name: string, d: Descriptor): ImageRecord => ({
      name,
      target: d,
      manifest: d,
      platform: { os: "linux", architecture: "arm", variant: "v7" },
    });
    (await t.putImage(rec("r.io/a:one", m(1))))._unsafeUnwrap();
    (await t.putImage(rec("r.io/a:two", m(2))))._unsafeUnwrap();
    (await t.putImage(rec("r.io/a:one", m(3))))._unsafeUnwrap();
    const index = JSON.parse(readFileSync(join(dir, "index.json"), "utf8"));
    expect(
      index.manifests.map((e: { annotations: Record<string, string> }) => e.annotations[ANNOTATION_REF_NAME]),
    ).toEqual(["two", "one"]);
    expect(index.manifests[1]).toMatchObject({ digest: m(3).digest, platform: { architecture: "arm", variant: "v7" } });
    expect(JSON.parse(readFileSync(join(dir, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    expect(readdirSync(dir).filter((f) => f.startsWith(".index.json"))).toEqual([]);
  });
});
