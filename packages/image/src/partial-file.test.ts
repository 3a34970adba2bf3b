import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ImageError } from "./errors.js";
import { type Descriptor, sha256Digest } from "./manifest.js";
import { openPartial, PartialBlob } from "./partial-file.js";

let dir: string;
let path: string;
const handles: FileHandle[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-partial-unit-"));
  path = join(dir, "blob.partial");
});
afterEach(async () => {
  for (const h of handles.splice(0)) await h.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

function descriptorOf(content: Uint8Array): Descriptor {
  return { mediaType: "application/vnd.oci.image.layer.v1.tar", digest: sha256Digest(content), size: content.length };
}

const onError = (e: unknown) => new ImageError("Network", `writing the test blob: ${String(e)}`, { cause: e });

/** A PartialBlob over `path` for `content` (what it should end up holding), as the targets build one. */
async function blobFor(
  content: Uint8Array,
  bufferLimit = 1024,
  written?: number[],
): Promise<{ blob: PartialBlob; file: FileHandle }> {
  const opened = await openPartial(path, "sha256", content.length);
  handles.push(opened.file);
  const blob = new PartialBlob(opened, path, descriptorOf(content), "sha256", bufferLimit, (n) => written?.push(n));
  return { blob, file: opened.file };
}

async function directOf(blob: PartialBlob) {
  const r = await blob.direct(onError);
  if (r.isErr()) throw r.error;
  return r.value;
}

describe("PartialBlob.direct", () => {
  it("writes buffered append()s first, then direct chunks, to the exact bytes; verify() passes", async () => {
    const content = randomBytes(20_000);
    const written: number[] = [];
    const { blob } = await blobFor(content, 1024, written);
    // 300 bytes stay buffered (under the limit), then 2000 more queue a write.
    expect(blob.append(content.subarray(0, 300))).toBeUndefined();
    blob.append(content.subarray(300, 2300));
    const write = await directOf(blob);
    expect(readFileSync(path).equals(content.subarray(0, 2300))).toBe(true);
    for (let at = 2300; at < 12_000; at += 777) {
      const end = Math.min(at + 777, 12_000);
      expect(write(content.subarray(at, end)).isOk()).toBe(true);
      // Synchronous: the bytes are in the file when the call returns.
      expect(readFileSync(path).length).toBe(end);
    }
    expect(write(new Uint8Array(0)).isOk()).toBe(true);
    // Back to buffered appends, then direct again.
    blob.append(content.subarray(12_000, 15_000));
    const again = await directOf(blob);
    expect(again(content.subarray(15_000)).isOk()).toBe(true);
    expect(blob.offset).toBe(content.length);
    await blob.flush();
    await blob.verify();
    expect(readFileSync(path).equals(content)).toBe(true);
    expect(written.at(-1)).toBe(content.length);
    // Lengths reported only grow.
    expect(written).toEqual([...written].sort((a, b) => a - b));
  });

  it("resumes a partial file: the bytes already there count toward the hash", async () => {
    const content = randomBytes(5000);
    writeFileSync(path, content.subarray(0, 1234));
    const { blob } = await blobFor(content);
    expect(blob.offset).toBe(1234);
    const write = await directOf(blob);
    expect(write(content.subarray(1234)).isOk()).toBe(true);
    await blob.verify();
    expect(readFileSync(path).equals(content)).toBe(true);
  });

  it("copies nothing: the caller may reuse the chunk's memory once the call returns", async () => {
    const chunk = Buffer.alloc(4096, "A");
    const content = Buffer.concat([Buffer.alloc(4096, "A"), Buffer.alloc(4096, "B"), Buffer.alloc(100, "C")]);
    const { blob } = await blobFor(content);
    const write = await directOf(blob);
    expect(write(chunk).isOk()).toBe(true);
    chunk.fill("B");
    expect(write(chunk).isOk()).toBe(true);
    chunk.fill("C");
    expect(write(chunk.subarray(0, 100)).isOk()).toBe(true);
    chunk.fill("Z");
    await blob.verify();
    expect(readFileSync(path).equals(content)).toBe(true);
  });

  it("refuses a direct write while append()ed bytes are pending, writing nothing", async () => {
    const content = Buffer.from("0123456789abcdef");
    const { blob } = await blobFor(content);
    const write = await directOf(blob);
    expect(write(content.subarray(0, 4)).isOk()).toBe(true);
    blob.append(content.subarray(4, 8)); // buffered: under the 1024-byte limit
    const refused = write(content.subarray(8));
    expect(refused.isErr()).toBe(true);
    const e = refused._unsafeUnwrapErr();
    expect(e).toBeInstanceOf(ImageError);
    expect(String(e.cause)).toMatch(/pending/);
    expect(readFileSync(path).toString()).toBe("0123");
    // Not sticky: direct() again writes the pending bytes out and direct writes go on.
    const write2 = await directOf(blob);
    expect(write2(content.subarray(8)).isOk()).toBe(true);
    await blob.verify();
    expect(readFileSync(path).toString()).toBe("0123456789abcdef");
  });

  it("returns err when the file is closed under it, and every later call fails too", async () => {
    const content = randomBytes(3000);
    const { blob, file } = await blobFor(content);
    const write = await directOf(blob);
    expect(write(content.subarray(0, 1000)).isOk()).toBe(true);
    await file.close();
    const failed = write(content.subarray(1000, 2000));
    expect(failed.isErr()).toBe(true);
    expect(failed._unsafeUnwrapErr().code).toBe("Network");
    expect(blob.error).toBeDefined();
    expect(blob.offset).toBe(1000); // the failed chunk was not counted
    expect(write(content.subarray(1000, 2000)).isErr()).toBe(true);
    expect((await blob.direct(onError)).isErr()).toBe(true);
    await expect(blob.flush()).rejects.toBe(blob.error);
    expect(readFileSync(path).equals(content.subarray(0, 1000))).toBe(true);
  });

  it("returns err with the EBADF cause on a read-only descriptor", async () => {
    writeFileSync(path, "");
    const file = await open(path, "r");
    handles.push(file);
    const content = Buffer.from("data");
    const blob = new PartialBlob(
      { file, size: 0, hash: createHash("sha256") },
      path,
      descriptorOf(content),
      "sha256",
      1024,
    );
    const write = await directOf(blob);
    const failed = write(content);
    expect(failed.isErr()).toBe(true);
    expect((failed._unsafeUnwrapErr().cause as NodeJS.ErrnoException).code).toBe("EBADF");
    expect(write(content).isErr()).toBe(true);
    expect(readFileSync(path).length).toBe(0);
  });

  it("verify() throws DigestMismatch and removes the file when the bytes are wrong", async () => {
    const content = Buffer.from("the right bytes!");
    const { blob } = await blobFor(content);
    const write = await directOf(blob);
    expect(write(Buffer.from("the wrong bytes!")).isOk()).toBe(true);
    const e = await blob.verify().then(
      () => undefined,
      (x: unknown) => x,
    );
    expect(ImageError.is(e)).toBe(true);
    expect((e as ImageError).code).toBe("DigestMismatch");
    expect((e as ImageError).digest).toBe(descriptorOf(content).digest);
    expect(existsSync(path)).toBe(false);
  });

  it("verify() throws DigestMismatch on a short blob", async () => {
    const content = Buffer.from("twelve bytes");
    const { blob } = await blobFor(content);
    const write = await directOf(blob);
    expect(write(content.subarray(0, 11)).isOk()).toBe(true);
    await expect(blob.verify()).rejects.toMatchObject({ code: "DigestMismatch", message: /has 11 bytes/ });
    expect(existsSync(path)).toBe(false);
  });

  it("restart() after direct writes starts the file and the hash over", async () => {
    const content = randomBytes(4000);
    const written: number[] = [];
    const { blob } = await blobFor(content, 1024, written);
    const write = await directOf(blob);
    expect(write(randomBytes(2500)).isOk()).toBe(true);
    blob.append(randomBytes(100)); // buffered garbage is dropped too
    await blob.restart();
    expect(blob.offset).toBe(0);
    expect(readFileSync(path).length).toBe(0);
    const fresh = await directOf(blob);
    expect(fresh(content.subarray(0, 3000)).isOk()).toBe(true);
    expect(fresh(content.subarray(3000)).isOk()).toBe(true);
    await blob.verify();
    expect(readFileSync(path).equals(content)).toBe(true);
    expect(written.at(-1)).toBe(content.length);
  });
});
