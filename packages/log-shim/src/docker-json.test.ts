import { describe, expect, it } from "vitest";
import { dockerJsonString } from "./docker-json.js";

const enc = (bytes: number[] | string) =>
  dockerJsonString(typeof bytes === "string" ? Buffer.from(bytes) : Buffer.from(bytes));

// A seeded PRNG so failures reproduce (mulberry32).
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

// Go's utf8.DecodeRune, written independently of the encoder: the shortest prefix (1..4 bytes) that a strict
// UTF-8 decoder accepts as one code point, else one U+FFFD for the first byte.
const strict = new TextDecoder("utf-8", { fatal: true });
function goDecode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; ) {
    let n = 0;
    for (let k = 1; k <= 4 && i + k <= bytes.length && n === 0; k++) {
      try {
        const c = strict.decode(bytes.subarray(i, i + k));
        if ([...c].length === 1) n = k;
      } catch {
        // not yet a whole character
      }
    }
    if (n === 0) {
      s += "\uFFFD";
      i++;
    } else {
      s += strict.decode(bytes.subarray(i, i + n));
      i += n;
    }
  }
  return s;
}

describe("dockerJsonString (moby's ffjsonWriteJSONBytesAsString)", () => {
  it("escapes quotes, backslashes, \\n and \\r; every other control character as \\u00XX, tab included", () => {
    expect(enc('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(enc("\n\r\t\b\f")).toBe('"\\n\\r\\u0009\\u0008\\u000c"');
    const controls = Array.from({ length: 0x20 }, (_, b) => b).filter((b) => b !== 10 && b !== 13);
    expect(enc(controls)).toBe(`"${controls.map((b) => `\\u00${b.toString(16).padStart(2, "0")}`).join("")}"`);
  });

  it("escapes <, > and & like Go's HTML-safe encoder, and copies DEL and the rest of ASCII as is", () => {
    expect(enc("<a href='x'>&</a>")).toBe("\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"");
    expect(enc([0x7f, 0x20, 0x7e])).toBe('"\x7f ~"');
  });

  it("copies valid UTF-8 as is, U+FFFD included, but escapes U+2028 and U+2029", () => {
    expect(enc("é€😀\uFFFD")).toBe('"é€😀\uFFFD"');
    expect(enc("a\u2028b\u2029c")).toBe('"a\\u2028b\\u2029c"');
  });

  it("writes \\ufffd for every byte that does not start a valid sequence, as Go's DecodeRune does", () => {
    expect(enc([0xff])).toBe('"\\ufffd"');
    expect(enc([0x80, 0x41])).toBe('"\\ufffdA"'); // stray continuation byte
    expect(enc([0xe2, 0x82, 0x41])).toBe('"\\ufffd\\ufffdA"'); // truncated: one per byte (WHATWG would give one)
    expect(enc([0xe2, 0x82])).toBe('"\\ufffd\\ufffd"'); // truncated at the end
    expect(enc([0xc0, 0x80])).toBe('"\\ufffd\\ufffd"'); // overlong NUL
    expect(enc([0xe0, 0x80, 0x80])).toBe('"\\ufffd\\ufffd\\ufffd"'); // overlong
    expect(enc([0xf0, 0x80, 0x80, 0x80])).toBe('"\\ufffd\\ufffd\\ufffd\\ufffd"'); // overlong
    expect(enc([0xed, 0xa0, 0x80])).toBe('"\\ufffd\\ufffd\\ufffd"'); // a lone (high) surrogate, U+D800
    expect(enc([0xed, 0xbf, 0xbf])).toBe('"\\ufffd\\ufffd\\ufffd"'); // a lone (low) surrogate, U+DFFF
    expect(enc([0xf4, 0x90, 0x80, 0x80])).toBe('"\\ufffd\\ufffd\\ufffd\\ufffd"'); // above U+10FFFF
    expect(enc([0xf5, 0x41])).toBe('"\\ufffdA"');
    expect(enc([0xed, 0x9f, 0xbf])).toBe('"\uD7FF"'); // the last code point before the surrogates is fine
    expect(enc([0xf4, 0x8f, 0xbf, 0xbf])).toBe('"\u{10FFFF}"');
  });

  it("agrees with JSON.stringify on strings without <>&, U+2028/9 or control characters other than \\n \\r", () => {
    const next = rng(7);
    const pool = ["a", "Z", " ", "~", '"', "\\", "\n", "\r", "é", "ß", "€", "中", "😀", "\u007f", "\uFFFD", "0"];
    for (let n = 0; n < 2000; n++) {
      let s = "";
      const len = Math.floor(next() * 20);
      for (let k = 0; k < len; k++) s += pool[Math.floor(next() * pool.length)];
      expect(enc(s)).toBe(JSON.stringify(s));
    }
  });

  it("always produces JSON that parses back to Go's decoding of the bytes (random bytes)", () => {
    const next = rng(42);
    for (let n = 0; n < 3000; n++) {
      const len = Math.floor(next() * 12);
      const bytes = Buffer.alloc(len);
      for (let k = 0; k < len; k++) {
        // Bias towards the interesting bytes: ASCII specials, continuation bytes and sequence leaders.
        const r = next();
        bytes[k] =
          r < 0.3 ? Math.floor(next() * 0x80) : r < 0.6 ? 0x80 + Math.floor(next() * 0x40) : Math.floor(next() * 256);
      }
      const out = enc([...bytes]);
      expect(JSON.parse(out)).toBe(goDecode(bytes));
      // Valid UTF-8 survives unchanged (the decoded text equals what Buffer#toString makes of it).
      if (!goDecode(bytes).includes("\uFFFD")) expect(JSON.parse(out)).toBe(bytes.toString("utf8"));
    }
  });

  it("writes lone surrogates of a JS string the way Node encodes them to bytes (U+FFFD, copied as is)", () => {
    // Buffer.from turns a lone surrogate into EF BF BD, a valid U+FFFD, which Docker copies raw.
    expect(enc("a\uD800b")).toBe('"a\uFFFDb"');
  });
});
