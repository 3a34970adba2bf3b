import { describe, expect, it } from "vitest";
import { endsLine, LineSplitter, type LogLine, lineText, PARTIAL_LINE_BYTES } from "./line-splitter.js";

const texts = (lines: LogLine[]) => lines.map(lineText);

describe("LineSplitter", () => {
  it("splits on newlines across chunk boundaries", () => {
    const s = new LineSplitter();
    expect(texts(s.push(Buffer.from("a\nb")))).toEqual(["a"]);
    expect(texts(s.push(Buffer.from("c\n\nd")))).toEqual(["bc", ""]);
    const last = s.end();
    expect(texts(last)).toEqual(["d"]);
    expect(last.every(endsLine)).toBe(true);
  });

  it("cuts a long line into Docker-sized partial pieces with one id and rising ordinals", () => {
    const s = new LineSplitter();
    const line = "x".repeat(PARTIAL_LINE_BYTES * 2 + 100);
    const out = [...s.push(Buffer.from(line.slice(0, 20_000))), ...s.push(Buffer.from(`${line.slice(20_000)}\nok\n`))];
    expect(out.map((l) => l.end - l.start)).toEqual([PARTIAL_LINE_BYTES, PARTIAL_LINE_BYTES, 100, 2]);
    const [a, b, c, d] = out as [LogLine, LogLine, LogLine, LogLine];
    expect(a.partial?.id).toMatch(/^[0-9a-f]{32}$/);
    expect([a.partial, b.partial, c.partial].map((p) => [p?.id, p?.ordinal, p?.last])).toEqual([
      [a.partial?.id, 1, false],
      [a.partial?.id, 2, false],
      [a.partial?.id, 3, true],
    ]);
    expect(d.partial).toBeUndefined();
    expect(texts([a, b, c]).join("")).toBe(line);
  });

  it("gives each long line its own random partial id", () => {
    const s = new LineSplitter(4);
    const ids = s.push(Buffer.from("aaaaaa\nbbbbbb\n")).map((l) => l.partial?.id);
    expect(ids).toHaveLength(4);
    expect(ids[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[2]).toMatch(/^[0-9a-f]{32}$/);
    expect(ids[2]).not.toBe(ids[0]);
    expect(ids[3]).toBe(ids[2]);
  });

  it("never cuts inside a UTF-8 character", () => {
    const s = new LineSplitter(8);
    const line = "ab€€€€"; // 2 + 4 * 3 bytes
    const out = s.push(Buffer.from(`${line}\n`));
    expect(texts(out).join("")).toBe(line);
    expect(texts(out).some((t) => t.includes("\uFFFD"))).toBe(false);
    expect(out.every((l) => l.end - l.start <= 8)).toBe(true);
  });

  it("closes a long line that ended exactly at a piece boundary", () => {
    const s = new LineSplitter(4);
    expect(texts(s.push(Buffer.from("abcd")))).toEqual(["abcd"]);
    const rest = s.end();
    expect(rest).toHaveLength(1);
    expect(rest[0]?.partial).toMatchObject({ ordinal: 2, last: true });
  });

  it("refuses a limit too small to hold a character", () => {
    expect(() => new LineSplitter(3)).toThrow(RangeError);
  });
});
