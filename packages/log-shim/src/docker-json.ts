// Docker's json-file string encoder, byte for byte: moby's jsonlog `ffjsonWriteJSONBytesAsString`.
// It differs from JSON.stringify: `<`, `>` and `&` become \u003c, \u003e, \u0026; of the control characters only
// \n and \r get short escapes (tab is \u0009); U+2028 and U+2029 are escaped; and the input is bytes, decoded the
// way Go's utf8.DecodeRune does: every byte that does not start a valid UTF-8 sequence (a stray continuation byte,
// a truncated or overlong sequence, an encoded surrogate, anything above U+10FFFF) becomes one \ufffd, and
// decoding resumes at the next byte.

const HEX = "0123456789abcdef";
const BACKSLASH = 0x5c;

// What each ASCII byte becomes: 0 = copied as is, 1 = backslash + itself, 2 = \n, 3 = \r, 4 = \u00XX.
const ASCII_ACTION = new Uint8Array(128);
for (let b = 0; b < 0x20; b++) ASCII_ACTION[b] = 4;
ASCII_ACTION[0x0a] = 2;
ASCII_ACTION[0x0d] = 3;
ASCII_ACTION[0x22] = 1; // "
ASCII_ACTION[0x5c] = 1; // \
ASCII_ACTION[0x3c] = 4; // <
ASCII_ACTION[0x3e] = 4; // >
ASCII_ACTION[0x26] = 4; // &

/** The most bytes {@link escapeDockerJson} writes per input byte (`\ufffd` or `\u00XX` for one byte). */
export const DOCKER_JSON_MAX_EXPANSION = 6;

// Length of the valid UTF-8 sequence starting at src[i] (2, 3 or 4), or 0 when src[i] starts none (Go's rules).
function utf8SequenceLength(src: Buffer, i: number, end: number): number {
  const b0 = src[i] as number;
  if (b0 < 0xc2 || b0 > 0xf4) return 0;
  if (i + 1 >= end) return 0;
  const b1 = src[i + 1] as number;
  if (b0 < 0xe0) return (b1 & 0xc0) === 0x80 ? 2 : 0;
  // The second byte's range depends on the first (excludes overlongs, surrogates and > U+10FFFF).
  const lo = b0 === 0xe0 ? 0xa0 : b0 === 0xf0 ? 0x90 : 0x80;
  const hi = b0 === 0xed ? 0x9f : b0 === 0xf4 ? 0x8f : 0xbf;
  if (b1 < lo || b1 > hi || i + 2 >= end || ((src[i + 2] as number) & 0xc0) !== 0x80) return 0;
  if (b0 < 0xf0) return 3;
  return i + 3 < end && ((src[i + 3] as number) & 0xc0) === 0x80 ? 4 : 0;
}

function writeUnicodeEscape(out: Buffer, at: number, hex4: string): number {
  out[at] = BACKSLASH;
  out[at + 1] = 0x75; // u
  for (let k = 0; k < 4; k++) out[at + 2 + k] = hex4.charCodeAt(k);
  return at + 6;
}

/**
 * Writes `src[start..end)` as the inside of a JSON string (no quotes) the way Docker's json-file logger does, into
 * `out` at `at`; returns the offset after the last byte written. `out` must have room for
 * `(end - start) * DOCKER_JSON_MAX_EXPANSION` bytes.
 */
export function escapeDockerJson(src: Buffer, start: number, end: number, out: Buffer, at: number): number {
  let o = at;
  let i = start;
  while (i < end) {
    const b = src[i] as number;
    if (b < 0x80) {
      const action = ASCII_ACTION[b] as number;
      if (action === 0) out[o++] = b;
      else if (action === 1) {
        out[o++] = BACKSLASH;
        out[o++] = b;
      } else if (action === 2) {
        out[o++] = BACKSLASH;
        out[o++] = 0x6e; // n
      } else if (action === 3) {
        out[o++] = BACKSLASH;
        out[o++] = 0x72; // r
      } else o = writeUnicodeEscape(out, o, `00${HEX[b >> 4]}${HEX[b & 0xf]}`);
      i++;
      continue;
    }
    const n = utf8SequenceLength(src, i, end);
    if (n === 0) {
      o = writeUnicodeEscape(out, o, "fffd");
      i++;
    } else if (n === 3 && b === 0xe2 && src[i + 1] === 0x80 && (src[i + 2] === 0xa8 || src[i + 2] === 0xa9)) {
      o = writeUnicodeEscape(out, o, src[i + 2] === 0xa8 ? "2028" : "2029");
      i += 3;
    } else {
      for (let k = 0; k < n; k++) out[o++] = src[i + k] as number;
      i += n;
    }
  }
  return o;
}

/** `bytes` as a JSON string literal (quotes included) exactly as Docker's json-file logger writes it. */
export function dockerJsonString(bytes: Buffer): string {
  const out = Buffer.allocUnsafe(bytes.length * DOCKER_JSON_MAX_EXPANSION + 2);
  out[0] = 0x22;
  const end = escapeDockerJson(bytes, 0, bytes.length, out, 1);
  out[end] = 0x22;
  return out.toString("utf8", 0, end + 1);
}
