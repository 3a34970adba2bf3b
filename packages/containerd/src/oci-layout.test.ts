import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { blobPath, indexTar, openOciLayout } from "./oci-layout.js";

describe("OCI layout sources", () => {
  let dir: string;
  const longName = `blobs/sha256/${"d".repeat(120)}`;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-layout-"));
    const layout = join(dir, "layout");
    await mkdir(join(layout, "blobs", "sha256"), { recursive: true });
    await writeFile(join(layout, "index.json"), '{"schemaVersion":2}');
    await writeFile(join(layout, "blobs", "sha256", "abc"), "0123456789");
    await writeFile(join(layout, longName), "long");
    // GNU tar writes a long-name record for the 133-character path; pax headers come from --format=pax.
    execFileSync("tar", ["-C", layout, "-cf", join(dir, "gnu.tar"), "."]);
    execFileSync("tar", ["-C", layout, "--format=pax", "-cf", join(dir, "pax.tar"), "index.json", "blobs"]);
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("maps digests to blob paths", () => {
    expect(blobPath("sha256:abc")).toBe("blobs/sha256/abc");
  });

  it.each(["gnu.tar", "pax.tar"])("indexes %s, long names included", async (name) => {
    const entries = await indexTar(join(dir, name));
    expect(entries.get("index.json")?.size).toBe(19);
    expect(entries.get("blobs/sha256/abc")?.size).toBe(10);
    expect(entries.get(longName)?.size).toBe(4);
  });

  it.each(["layout", "gnu.tar"])("reads files and ranges from %s", async (name) => {
    const src = await openOciLayout(join(dir, name));
    expect((await src.readFile("index.json"))?.toString()).toBe('{"schemaVersion":2}');
    expect(await src.readFile("missing")).toBeUndefined();
    expect(await src.size("blobs/sha256/abc")).toBe(10);
    expect(await text(src.stream("blobs/sha256/abc", 4) as AsyncIterable<Buffer>)).toBe("456789");
  });
});
