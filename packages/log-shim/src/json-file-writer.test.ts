import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { JsonFileWriter, jsonFileLine } from "./json-file-writer.js";
import { LineSplitter, type LogBatch } from "./line-splitter.js";

const T = 1_700_000_000_123_456_789n;
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), "berth-jsonfile-"));
  dirs.push(d);
  return d;
}
function batch(text: string, stream: "stdout" | "stderr" = "stdout", splitter = new LineSplitter()): LogBatch {
  return { stream, timeNs: T, lines: [...splitter.push(Buffer.from(text)), ...splitter.end()] };
}
function records(path: string): Array<{ log: string; stream: string; time: string }> {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l));
}

describe("JsonFileWriter", () => {
  it("writes Docker's json-file lines, escaping what JSON needs and replacing invalid UTF-8", async () => {
    const path = join(tmp(), "sub", "c.log");
    const w = (await JsonFileWriter.open(path, { maxSizeBytes: undefined, maxFile: 1 }))._unsafeUnwrap();
    const weird = Buffer.concat([Buffer.from('q"\\\t\u0001é€'), Buffer.from([0xff]), Buffer.from("\n")]);
    await w.write([batch("plain\n"), { stream: "stderr", timeNs: T, lines: new LineSplitter().push(weird) }]);
    await w.close();
    const text = readFileSync(path, "utf8");
    expect(text.split("\n")[0]).toBe('{"log":"plain\\n","stream":"stdout","time":"2023-11-14T22:13:20.123456789Z"}');
    expect(records(path)).toEqual([
      { log: "plain\n", stream: "stdout", time: "2023-11-14T22:13:20.123456789Z" },
      { log: 'q"\\\t\u0001é€\uFFFD\n', stream: "stderr", time: "2023-11-14T22:13:20.123456789Z" },
    ]);
  });

  it("marks pieces of a long line by leaving out the newline, like Docker", async () => {
    const path = join(tmp(), "c.log");
    const w = (await JsonFileWriter.open(path, { maxSizeBytes: undefined, maxFile: 1 }))._unsafeUnwrap();
    const long = "y".repeat(40_000);
    await w.write([batch(`${long}\n`)]);
    await w.close();
    const r = records(path);
    expect(r.map((x) => x.log.length)).toEqual([16_384, 16_384, 40_000 - 32_768 + 1]);
    expect(r.map((x) => x.log).join("")).toBe(`${long}\n`);
  });

  it("appends to an existing file", async () => {
    const path = join(tmp(), "c.log");
    for (const t of ["one\n", "two\n"]) {
      const w = (await JsonFileWriter.open(path, { maxSizeBytes: undefined, maxFile: 1 }))._unsafeUnwrap();
      await w.write([batch(t)]);
      await w.close();
    }
    expect(records(path).map((r) => r.log)).toEqual(["one\n", "two\n"]);
  });

  it("rotates by size, keeping max-file files, never splitting a line across files", async () => {
    const dir = tmp();
    const path = join(dir, "c.log");
    const lineBytes = Buffer.byteLength(
      jsonFileLine(batch("000\n").lines[0] as never, "stdout", "2023-11-14T22:13:20.123456789Z"),
    );
    const w = (await JsonFileWriter.open(path, { maxSizeBytes: lineBytes * 3, maxFile: 3 }))._unsafeUnwrap();
    const lines = Array.from({ length: 10 }, (_, i) => `${String(i).padStart(3, "0")}\n`);
    await w.write([batch(lines.slice(0, 4).join(""))]);
    await w.write([batch(lines.slice(4).join(""))]);
    await w.close();
    expect(readdirSync(dir).sort()).toEqual(["c.log", "c.log.1", "c.log.2"]);
    expect(records(`${path}.2`).map((r) => r.log)).toEqual(lines.slice(3, 6));
    expect(records(`${path}.1`).map((r) => r.log)).toEqual(lines.slice(6, 9));
    expect(records(path).map((r) => r.log)).toEqual(lines.slice(9));
  });

  it("truncates on rotation with max-file 1", async () => {
    const path = join(tmp(), "c.log");
    const w = (await JsonFileWriter.open(path, { maxSizeBytes: 100, maxFile: 1 }))._unsafeUnwrap();
    await w.write([batch("a\nb\nc\n")]);
    await w.close();
    expect(records(path).map((r) => r.log)).toEqual(["c\n"]);
  });

  it("writeChunksSync: rotates like the async path, a line larger than the limit alone in a fresh file", async () => {
    const big = "b".repeat(300);
    for (const sync of [false, true]) {
      const dir = tmp();
      const path = join(dir, "c.log");
      // Lines of 3 characters make 73-byte records: two fit in 200 bytes.
      const w = (await JsonFileWriter.open(path, { maxSizeBytes: 200, maxFile: 3 }))._unsafeUnwrap();
      const enc = w.encoder("stdout");
      for (const text of ["000\n001\n002\n", `${big}\n003\n`, "004\n"]) {
        const c = enc.push(Buffer.from(text), T);
        if (!c) throw new Error("no chunk");
        if (sync) w.writeChunksSync([c]);
        else await w.writeChunks([c]);
      }
      await w.close();
      expect(readdirSync(dir).sort()).toEqual(["c.log", "c.log.1", "c.log.2"]);
      // 000 and 001 were rotated out (max-file 3); the 370-byte line got a file of its own.
      expect(records(`${path}.2`).map((r) => r.log)).toEqual(["002\n"]);
      expect(records(`${path}.1`).map((r) => r.log)).toEqual([`${big}\n`]);
      expect(records(path).map((r) => r.log)).toEqual(["003\n", "004\n"]);
    }
  });

  it("writeChunksSync: writes the same bytes as writeChunks, truncates with max-file 1, releases the chunks", async () => {
    const dir = tmp();
    const text = Buffer.from('plain\n<esc> & "q"\n\u00e9\n');
    const written: string[] = [];
    for (const sync of [false, true]) {
      const path = join(dir, `${sync}.log`);
      const w = (await JsonFileWriter.open(path, { maxSizeBytes: undefined, maxFile: 1 }))._unsafeUnwrap();
      const c = w.encoder("stderr").push(text, T);
      if (!c) throw new Error("no chunk");
      if (sync) w.writeChunksSync([c]);
      else await w.writeChunks([c]);
      await w.close();
      written.push(readFileSync(path, "utf8"));
    }
    expect(written[1]).toBe(written[0]);
    expect(records(join(dir, "true.log")).map((r) => r.log)).toEqual(["plain\n", '<esc> & "q"\n', "\u00e9\n"]);

    const path = join(dir, "t.log");
    const w = (await JsonFileWriter.open(path, { maxSizeBytes: 100, maxFile: 1 }))._unsafeUnwrap();
    const enc = w.encoder("stdout");
    // Two chunks from one arena: memory is handed back only when both are released (written).
    const a = enc.push(Buffer.from("a\nb\n"), T);
    const b = enc.push(Buffer.from("c\n"), T);
    if (!a || !b) throw new Error("no chunk");
    w.writeChunksSync([a, b]);
    await w.close();
    expect(records(path).map((r) => r.log)).toEqual(["c\n"]);
    // Released memory is reused: the next chunk starts where the first one did.
    const again = enc.push(Buffer.from("d\n"), T);
    expect(again?.data.byteOffset).toBe(a.data.byteOffset);
  });

  it("fails to open where the file cannot be created", async () => {
    const blocker = join(tmp(), "file");
    writeFileSync(blocker, "");
    const r = await JsonFileWriter.open(join(blocker, "c.log"), { maxSizeBytes: undefined, maxFile: 1 });
    expect(r.isErr() && r.error.option).toBe("log-path");
    expect(
      (await JsonFileWriter.open("rel.log", { maxSizeBytes: undefined, maxFile: 1 }))._unsafeUnwrapErr().code,
    ).toBe("NotAbsolutePath");
  });
});
