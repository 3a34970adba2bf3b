/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError("median of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Value at quantile q (0..1) with linear interpolation. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new RangeError("quantile of an empty list");
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/** A benchmark's goal on the median ratio berth/peer. */
export interface Goal {
  readonly op: "<=" | ">=";
  readonly value: number;
}

export function goalMet(goal: Goal, ratio: number): boolean {
  return goal.op === "<=" ? ratio <= goal.value : ratio >= goal.value;
}

/** Summary of paired runs: per-round ratios berth/peer, their median and spread (p25..p75, min..max). */
export interface RatioSummary {
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
}

export function summarizeRatios(ratios: readonly number[]): RatioSummary {
  return {
    median: median(ratios),
    p25: quantile(ratios, 0.25),
    p75: quantile(ratios, 0.75),
    min: Math.min(...ratios),
    max: Math.max(...ratios),
  };
}
