import { randomBytes } from "node:crypto";

// HalfSipHash-2-4 (Aumasson and Bernstein's SipHash on 32-bit words), 32-bit output. It is a
// keyed pseudo-random function built for hash tables fed by untrusted input: without the key,
// nobody can predict or steer which bucket a string lands in. In JS over bytes it costs a fraction
// of one `crypto.hash` call (a native call, a digest string and the Map hashing that string again),
// which matters because every metadata request looks its id up.

function rotl(x: number, b: number): number {
  return (x << b) | (x >>> (32 - b));
}

/**
 * HalfSipHash-2-4 of `bytes[0..length)` under the 64-bit key `k0`,`k1` (little-endian words), as an
 * unsigned 32-bit integer. Exported for its test vectors.
 */
export function halfSipHash24(k0: number, k1: number, bytes: Uint8Array, length: number): number {
  let v0 = k0 | 0;
  let v1 = k1 | 0;
  let v2 = (0x6c796765 ^ k0) | 0;
  let v3 = (0x74656462 ^ k1) | 0;
  const whole = length & ~3;
  // One message word: v3 ^= m; two rounds; v0 ^= m. The last word carries the length's low byte
  // in its top byte above the 0..3 trailing bytes.
  for (let i = 0; i <= whole; i += 4) {
    let m: number;
    if (i < whole) {
      m =
        (bytes[i] as number) |
        ((bytes[i + 1] as number) << 8) |
        ((bytes[i + 2] as number) << 16) |
        ((bytes[i + 3] as number) << 24);
    } else {
      const rest = length - whole;
      m = (length & 0xff) << 24;
      if (rest > 2) m |= (bytes[whole + 2] as number) << 16;
      if (rest > 1) m |= (bytes[whole + 1] as number) << 8;
      if (rest > 0) m |= bytes[whole] as number;
    }
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 = (v0 + v1) | 0;
      v1 = rotl(v1, 5) ^ v0;
      v0 = rotl(v0, 16);
      v2 = (v2 + v3) | 0;
      v3 = rotl(v3, 8) ^ v2;
      v0 = (v0 + v3) | 0;
      v3 = rotl(v3, 7) ^ v0;
      v2 = (v2 + v1) | 0;
      v1 = rotl(v1, 13) ^ v2;
      v2 = rotl(v2, 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0;
    v1 = rotl(v1, 5) ^ v0;
    v0 = rotl(v0, 16);
    v2 = (v2 + v3) | 0;
    v3 = rotl(v3, 8) ^ v2;
    v0 = (v0 + v3) | 0;
    v3 = rotl(v3, 7) ^ v0;
    v2 = (v2 + v1) | 0;
    v1 = rotl(v1, 13) ^ v2;
    v2 = rotl(v2, 16);
  }
  return (v1 ^ v3) >>> 0;
}

/**
 * Compares `a[0..length)` with all of `b` (which must be `length` long) in time that depends only
 * on `length`: every byte is compared, with no branch on their values (the differences are OR-ed).
 */
export function sameBytes(a: Uint8Array, b: Uint8Array, length: number): boolean {
  if (b.length !== length) return false;
  let diff = 0;
  for (let i = 0; i < length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

/** The longest key a {@link SecretMap} takes (credentials ids are at most 256 characters). */
export const MAX_SECRET_LENGTH = 256;

// Lookups are synchronous, so one buffer serves them all. UTF-8 needs at most 3 bytes per UTF-16
// code unit: any string up to the maximum length is encoded whole, so it is ASCII exactly when
// its byte count equals its length.
const scratch = new Uint8Array(3 * MAX_SECRET_LENGTH);
const encoder = new TextEncoder();

/** Encodes `text` into `scratch`; its length, or -1 when it is not ASCII or too long to be a key. */
function encodeAscii(text: string): number {
  const n = text.length;
  if (n > MAX_SECRET_LENGTH) return -1;
  const { read, written } = encoder.encodeInto(text, scratch);
  return read === n && written === n ? n : -1;
}

interface Slot<T> {
  readonly secret: Uint8Array;
  value: T;
}

/**
 * A map keyed by secret strings (endpoint and credentials ids) whose lookups take the same time
 * whatever the caller sends, so response timings cannot reveal a valid id piece by piece:
 *
 * - the table is keyed by a HalfSipHash of the secret under a random key made for this map, so
 *   where a probe lands and what it is compared with has no relation the caller can exploit
 *   (a plain `Map` of the secrets would compare the caller's string with a stored one and stop
 *   at the first differing character);
 * - a hash hit is confirmed by comparing every byte of the secret ({@link sameBytes}).
 *
 * Keys are ASCII strings of at most {@link MAX_SECRET_LENGTH} characters (the registry's ids are);
 * `set` refuses others, and lookups of others find nothing.
 */
export class SecretMap<T> {
  readonly #k0: number;
  readonly #k1: number;
  // Buckets by the hash's low 30 bits (always a small integer, V8's fastest Map key). A bucket
  // holds more than one slot only when two secrets collide, about once per billion pairs.
  readonly #buckets = new Map<number, Slot<T>[]>();

  /** `key` (two 32-bit words) is for tests; by default each map draws its own from the CSPRNG. */
  constructor(key?: readonly [number, number]) {
    if (key === undefined) {
      const random = randomBytes(8);
      this.#k0 = random.readInt32LE(0);
      this.#k1 = random.readInt32LE(4);
    } else {
      [this.#k0, this.#k1] = key;
    }
  }

  /** The bucket number of the `length` bytes in `scratch`. */
  #bucketOf(length: number): number {
    return halfSipHash24(this.#k0, this.#k1, scratch, length) & 0x3fffffff;
  }

  /** The slot index in `bucket` whose secret is the `length` bytes in `scratch`, or -1. */
  static #indexIn<T>(bucket: readonly Slot<T>[], length: number): number {
    let found = -1;
    for (let i = 0; i < bucket.length; i++) if (sameBytes(scratch, (bucket[i] as Slot<T>).secret, length)) found = i;
    return found;
  }

  get(secret: string): T | undefined {
    const n = encodeAscii(secret);
    if (n < 0) return undefined;
    const bucket = this.#buckets.get(this.#bucketOf(n));
    if (bucket === undefined) return undefined;
    return bucket[SecretMap.#indexIn(bucket, n)]?.value;
  }

  has(secret: string): boolean {
    const n = encodeAscii(secret);
    if (n < 0) return false;
    const bucket = this.#buckets.get(this.#bucketOf(n));
    return bucket !== undefined && SecretMap.#indexIn(bucket, n) >= 0;
  }

  /** Stores `value` under `secret`, replacing what was there. Throws a `TypeError` for a key it cannot take. */
  set(secret: string, value: T): void {
    const n = encodeAscii(secret);
    if (n < 0) throw new TypeError(`SecretMap keys are ASCII strings of at most ${MAX_SECRET_LENGTH} characters`);
    const key = this.#bucketOf(n);
    const bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      this.#buckets.set(key, [{ secret: scratch.slice(0, n), value }]);
      return;
    }
    const at = SecretMap.#indexIn(bucket, n);
    if (at < 0) bucket.push({ secret: scratch.slice(0, n), value });
    else (bucket[at] as Slot<T>).value = value;
  }

  delete(secret: string): boolean {
    const n = encodeAscii(secret);
    if (n < 0) return false;
    const key = this.#bucketOf(n);
    const bucket = this.#buckets.get(key);
    const at = bucket === undefined ? -1 : SecretMap.#indexIn(bucket, n);
    if (bucket === undefined || at < 0) return false;
    if (bucket.length === 1) this.#buckets.delete(key);
    else bucket.splice(at, 1);
    return true;
  }

  clear(): void {
    this.#buckets.clear();
  }
}
