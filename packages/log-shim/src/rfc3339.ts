/**
 * Formats nanoseconds since the Unix epoch as Go's `time.RFC3339Nano` in UTC (what Docker writes in json-file
 * logs): `2006-01-02T15:04:05.999999999Z`, trailing zeros of the fraction removed, no fraction when it is zero.
 */
export function formatRfc3339Nano(epochNs: bigint): string {
  const sec = epochNs / 1_000_000_000n;
  const ns = Number(epochNs % 1_000_000_000n);
  // The date and time of day change once a second: berth-logger formats a time per read, many per second.
  if (sec !== lastSecond) {
    lastSecond = sec;
    lastBase = new Date(Number(epochNs / 1_000_000n)).toISOString().slice(0, 19);
  }
  if (ns === 0) return `${lastBase}Z`;
  return `${lastBase}.${String(ns).padStart(9, "0").replace(/0+$/, "")}Z`;
}

let lastSecond: bigint | undefined;
let lastBase = "";

const originNs = BigInt(Date.now()) * 1_000_000n;
const originHr = process.hrtime.bigint();

/** The wall clock in nanoseconds since the epoch (ms-accurate origin, monotonic ns progress after it). */
export function wallClockNs(): bigint {
  return originNs + (process.hrtime.bigint() - originHr);
}
