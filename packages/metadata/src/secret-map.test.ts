import { describe, expect, it } from "vitest";
import { newEndpointId } from "./endpoint-id.js";
import { halfSipHash24, MAX_SECRET_LENGTH, SecretMap, sameBytes } from "./secret-map.js";

// The reference implementation's HalfSipHash-2-4 32-bit vectors: key bytes 00..07, message bytes
// 00..(n-1) for n = 0, 1, 2, ... (the output read as a little-endian 32-bit word).
const VECTORS = [
  0x5b9f35a9, 0xb85a4727, 0x03a662fa, 0x04e7fe8a, 0x89466e2a, 0x69b6fac5, 0x23fc6358, 0xc563cf8b, 0x8f84b8d0,
  0x79e706f8, 0x3479b094, 0x50300808, 0x2f87f057, 0xff63e677, 0x7cf8ffd6, 0x972bfe74, 0x84acb5d9, 0x5b6474c4,
  0x9b8d5b46, 0x87e3ef7b, 0x45104de3, 0xb3623f61, 0xfe67f370,
];

const ascii = (text: string) => new TextEncoder().encode(text);

describe("halfSipHash24", () => {
  it("matches the reference test vectors for 0..22 byte messages (every tail length, several words)", () => {
    const message = Uint8Array.from({ length: 64 }, (_, i) => i);
    for (const [n, expected] of VECTORS.entries()) {
      expect(halfSipHash24(0x03020100, 0x07060504, message, n), `message of ${n} bytes`).toBe(expected);
    }
  });

  it("depends on the key", () => {
    const id = ascii(newEndpointId());
    expect(halfSipHash24(1, 2, id, id.length)).not.toBe(halfSipHash24(1, 3, id, id.length));
    expect(halfSipHash24(1, 2, id, id.length)).not.toBe(halfSipHash24(2, 2, id, id.length));
  });
});

describe("sameBytes", () => {
  it("is true only for identical byte runs of the given length", () => {
    const id = ascii(newEndpointId());
    expect(sameBytes(id, id.slice(), 32)).toBe(true);
    expect(sameBytes(new Uint8Array(0), new Uint8Array(0), 0)).toBe(true);
    for (const at of [0, 15, 31]) {
      const other = id.slice();
      other[at] = (other[at] ?? 0) ^ 1;
      expect(sameBytes(id, other, 32), `differs at ${at}`).toBe(false);
    }
    expect(sameBytes(id, id.slice(0, 31), 32)).toBe(false);
    // Only the first `length` bytes of the first run count (it is a scratch buffer).
    expect(sameBytes(id, id.slice(0, 31), 31)).toBe(true);
  });
});

describe("SecretMap", () => {
  it("finds exactly the stored secrets", () => {
    const map = new SecretMap<number>();
    const ids = Array.from({ length: 2000 }, () => newEndpointId());
    for (const [i, id] of ids.entries()) map.set(id, i);
    for (const [i, id] of ids.entries()) expect(map.get(id)).toBe(i);
    for (const id of ids.slice(0, 50)) {
      expect(map.get(id.toUpperCase())).toBeUndefined();
      expect(map.get(id.slice(1))).toBeUndefined();
      expect(map.get(`${id}0`)).toBeUndefined();
      expect(map.has(id)).toBe(true);
    }
    for (let i = 0; i < 2000; i++) expect(map.get(newEndpointId())).toBeUndefined();
    expect(map.get("")).toBeUndefined();
  });

  it("takes ASCII keys up to the maximum length, and never matches other strings", () => {
    const map = new SecretMap<string>();
    const longest = "k".repeat(MAX_SECRET_LENGTH);
    for (const text of ["", "abc", "abcd", "abcde", "abcdef", longest]) map.set(text, text);
    expect(map.get(longest)).toBe(longest);
    expect(map.get("")).toBe("");
    // "\u0161" has the low byte 0x61 ("a") and "\u00e1" encodes as two bytes: neither may pass for
    // an ASCII key. Also a string one character over the maximum whose prefix is a stored key.
    for (const text of ["\u0161bc", "\u00e1bc", "abcd\u0161", "abc\u{1f600}", `${longest}k`, "\ud800bc"]) {
      expect(map.get(text), text).toBeUndefined();
      expect(map.has(text), text).toBe(false);
      expect(map.delete(text), text).toBe(false);
      expect(() => map.set(text, "y"), text).toThrow(TypeError);
    }
    expect(map.get("abc")).toBe("abc");
  });

  it("replaces, deletes and clears", () => {
    const map = new SecretMap<string>();
    const [a, b] = [newEndpointId(), newEndpointId()];
    map.set(a, "one");
    map.set(a, "two");
    map.set(b, "three");
    expect(map.get(a)).toBe("two");
    expect(map.delete(a)).toBe(true);
    expect(map.delete(a)).toBe(false);
    expect(map.get(a)).toBeUndefined();
    expect(map.has(a)).toBe(false);
    expect(map.get(b)).toBe("three");
    map.clear();
    expect(map.get(b)).toBeUndefined();
  });

  it("keeps secrets apart when their hashes collide", () => {
    // Two short ASCII strings that share a bucket under a fixed key: with 30-bit buckets, one
    // turns up among ~40k strings on average. The map must still tell them apart.
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    for (let i = 0; pair === undefined && i < 400_000; i++) {
      const text = i.toString(36);
      const bytes = ascii(text);
      const at = halfSipHash24(7, 9, bytes, bytes.length) & 0x3fffffff;
      const before = seen.get(at);
      if (before === undefined) seen.set(at, text);
      else pair = [before, text];
    }
    expect(pair).toBeDefined();
    const [x, y] = pair ?? ["", ""];
    const fixed = new SecretMap<number>([7, 9]);
    fixed.set(x, 1);
    expect(fixed.get(y)).toBeUndefined();
    expect(fixed.has(y)).toBe(false);
    expect(fixed.delete(y)).toBe(false);
    fixed.set(y, 2);
    expect(fixed.get(x)).toBe(1);
    expect(fixed.get(y)).toBe(2);
    fixed.set(x, 3);
    expect(fixed.get(x)).toBe(3);
    expect(fixed.get(y)).toBe(2);
    expect(fixed.delete(x)).toBe(true);
    expect(fixed.get(x)).toBeUndefined();
    expect(fixed.get(y)).toBe(2);
  });
});
