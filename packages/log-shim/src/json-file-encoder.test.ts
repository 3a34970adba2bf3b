import { describe, expect, it } from "vitest";
import { JsonFileArena, type JsonFileChunk, JsonFileEncoder } from "./json-file-encoder.js";
import { jsonFileLine } from "./json-file-writer.js";
import { LineSplitter, type LogStream } from "./line-splitter.js";
import { formatRfc3339Nano } from "./rfc3339.js";

const T0 = 1_700_000_000_123_456_789n;

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function take(chunk: JsonFileChunk | undefined, out: Buffer[], counts: number[]): void {
  if (chunk === undefined) return;
  out.push(Buffer.from(chunk.data));
  counts.push(chunk.lines);
  chunk.release();
}

// The chunked encoder against the line-by-line reference: LineSplitter + jsonFileLine, one time per push.
function both(pieces: Buffer[], stream: LogStream = "stdout", maxBytes = 16 * 1024, arena = new JsonFileArena()) {
  const encoder = new JsonFileEncoder(stream, arena, maxBytes);
  const splitter = new LineSplitter(maxBytes);
  const got: Buffer[] = [];
  const counts: number[] = [];
  let want = "";
  let wantLines = 0;
  pieces.forEach((p, i) => {
    const t = T0 + BigInt(i) * 1_000n;
    take(encoder.push(p, t), got, counts);
    for (const line of splitter.push(p)) {
      want += jsonFileLine(line, stream, formatRfc3339Nano(t));
      wantLines++;
    }
  });
  const tEnd = T0 + 999_999n;
  take(encoder.end(tEnd), got, counts);
  for (const line of splitter.end()) {
    want += jsonFileLine(line, stream, formatRfc3339Nano(tEnd));
    wantLines++;
  }
  return {
    got: Buffer.concat(got).toString("latin1"),
    want: Buffer.from(want).toString("latin1"),
    lines: counts.reduce((a, b) => a + b, 0),
    wantLines,
  };
}

function randomText(next: () => number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) {
    const r = next();
    b[i] =
      r < 0.75
        ? 0x61 + Math.floor(next() * 26)
        : r < 0.87
          ? 10
          : r < 0.93
            ? ([0x22, 0x5c, 0x3c, 0x26, 0x09, 0x0d, 0x7f, 0x20][Math.floor(next() * 8)] ?? 0x20)
            : Math.floor(next() * 256);
  }
  return b;
}

function cutRandomly(next: () => number, data: Buffer, maxPiece: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < data.length; ) {
    const n = 1 + Math.floor(next() * maxPiece);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

describe("JsonFileEncoder", () => {
  it("writes Docker's json-file lines for plain ASCII, one time per push", () => {
    const e = new JsonFileEncoder("stderr");
    const c = e.push(Buffer.from("a\n\nb c\npartial"), T0);
    expect(c?.lines).toBe(3);
    expect(c?.data.toString()).toBe(
      '{"log":"a\\n","stream":"stderr","time":"2023-11-14T22:13:20.123456789Z"}\n' +
        '{"log":"\\n","stream":"stderr","time":"2023-11-14T22:13:20.123456789Z"}\n' +
        '{"log":"b c\\n","stream":"stderr","time":"2023-11-14T22:13:20.123456789Z"}\n',
    );
    c?.release();
    expect(e.push(Buffer.from(" line"), T0)).toBeUndefined();
    const end = e.end(T0 + 1n);
    expect(end?.data.toString()).toBe(
      '{"log":"partial line\\n","stream":"stderr","time":"2023-11-14T22:13:20.12345679Z"}\n',
    );
    expect(e.end(T0)).toBeUndefined();
  });

  it("escapes a line that needs it without disturbing the plain lines around it", () => {
    const { got, want, lines } = both([Buffer.from('one\ntwo "quoted" <b>\tx\nthree\n\u00e9\u2028\nfour\n')]);
    expect(got).toBe(want);
    expect(lines).toBe(5);
    expect(got).toContain('"two \\"quoted\\" \\u003cb\\u003e\\u0009x\\n"');
  });

  it("cuts long lines into partial pieces (no \\n in log) exactly like LineSplitter + jsonFileLine", () => {
    const long = "y".repeat(40_000);
    const r = both([Buffer.from(`short\n${long}\nafter\n${"z".repeat(16_384)}\n`)]);
    expect(r.got).toBe(r.want);
    const logs = r.got
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { log: string }).log);
    expect(logs.map((l) => l.length)).toEqual([6, 16_384, 16_384, 40_000 - 32_768 + 1, 6, 16_385]);
    // A long line without a newline yet: its full pieces go out at once, the rest waits.
    const pieces = both([Buffer.from("x".repeat(40_000)), Buffer.from("x".repeat(100))]);
    expect(pieces.got).toBe(pieces.want);
    // A long line ending exactly at a piece boundary is closed with an empty final piece at the end.
    const exact = both([Buffer.from("w".repeat(32_768))]);
    expect(exact.got).toBe(exact.want);
    expect(exact.got.trim().split("\n").at(-1)).toContain('{"log":"\\n"');
  });

  it("matches the line-by-line reference on random text cut into random reads (property)", () => {
    const next = rng(2024);
    for (let round = 0; round < 60; round++) {
      const maxBytes = [4, 7, 64, 16 * 1024][round % 4] ?? 16 * 1024;
      const data = randomText(next, Math.floor(next() * 5000));
      const r = both(cutRandomly(next, data, 1 + Math.floor(next() * 700)), round % 2 ? "stdout" : "stderr", maxBytes);
      expect(r.got).toBe(r.want);
      expect(r.lines).toBe(r.wantLines);
    }
  });

  it("never cuts inside a UTF-8 character and agrees with the reference on multibyte long lines", () => {
    const next = rng(99);
    const chars = ["é", "€", "😀", "a"];
    let s = "";
    for (let i = 0; i < 30_000; i++) s += chars[Math.floor(next() * chars.length)];
    const r = both(cutRandomly(next, Buffer.from(`${s}\n${s}`), 9000));
    expect(r.got).toBe(r.want);
    for (const line of Buffer.from(r.got, "latin1").toString("utf8").trim().split("\n")) {
      expect((JSON.parse(line) as { log: string }).log).not.toContain("\uFFFD");
    }
  });

  it("keeps chunks intact while the arena grows, moves and reuses its memory", () => {
    const arena = new JsonFileArena();
    const e = new JsonFileEncoder("stdout", arena);
    const held: JsonFileChunk[] = [];
    const copies: string[] = [];
    // 3 MiB of output held at once: several 1 MiB buffers, and one read bigger than a buffer.
    for (let i = 0; i < 40; i++) {
      const c = e.push(Buffer.from(`${String(i).repeat(3)}\n`.repeat(1000)), T0);
      if (c) {
        held.push(c);
        copies.push(c.data.toString("latin1"));
      }
    }
    const big = e.push(Buffer.from("q\n".repeat(30_000)), T0);
    expect(big?.data.length).toBeGreaterThan(1 << 20);
    if (big) {
      held.push(big);
      copies.push(big.data.toString("latin1"));
    }
    expect(held.map((c) => c.data.toString("latin1"))).toEqual(copies);
    for (const c of held) c.release();
    // Released memory is written again; earlier copies were taken before.
    const again = e.push(Buffer.from("after\n"), T0);
    expect(again?.data.toString()).toContain('"after\\n"');
    again?.release();
    again?.release(); // a second release is ignored
  });

  it("refuses a piece size too small to hold a character", () => {
    expect(() => new JsonFileEncoder("stdout", new JsonFileArena(), 3)).toThrow(RangeError);
  });
});
