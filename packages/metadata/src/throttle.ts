/** Token-bucket limits per source address. */
export interface ThrottleOptions {
  /** Requests per second each address may make in the long run (ECS default 40). */
  readonly steadyPerSecond: number;
  /** How many requests an idle address may make at once (ECS default 60). */
  readonly burst: number;
}

/** The ECS agent's task metadata throttle: steady 40 requests/s, burst 60, per source IP. */
export const DEFAULT_THROTTLE: ThrottleOptions = { steadyPerSecond: 40, burst: 60 };

interface Bucket {
  tokens: number;
  last: number;
}

/**
 * Per-address token buckets. `take(address)` answers whether a request from that address may
 * proceed. Buckets that have refilled completely are dropped by `sweep()`, so memory follows the
 * number of recently active addresses, not every address ever seen.
 */
export class AddressThrottle {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();
  readonly #now: () => number;

  constructor(options: ThrottleOptions, now: () => number = () => performance.now()) {
    this.#rate = options.steadyPerSecond / 1000;
    this.#burst = options.burst;
    this.#now = now;
  }

  /** Takes one token for `address`; false when its bucket is empty (answer 429). */
  take(address: string): boolean {
    const t = this.#now();
    const bucket = this.#buckets.get(address);
    if (bucket === undefined) {
      this.#buckets.set(address, { tokens: this.#burst - 1, last: t });
      return true;
    }
    bucket.tokens = Math.min(this.#burst, bucket.tokens + (t - bucket.last) * this.#rate);
    bucket.last = t;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Drops the buckets that would be full by now. */
  sweep(): void {
    const t = this.#now();
    for (const [address, b] of this.#buckets) {
      if (b.tokens + (t - b.last) * this.#rate >= this.#burst) this.#buckets.delete(address);
    }
  }

  /** How many addresses are being tracked. */
  get size(): number {
    return this.#buckets.size;
  }
}
