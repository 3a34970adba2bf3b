import { describe, expect, it } from "vitest";
import { goalMet, median, quantile, summarizeRatios } from "./stats.js";

describe("bench statistics", () => {
  it("computes medians and quantiles", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([10, 20], 0.5)).toBe(15);
    expect(() => median([])).toThrow(RangeError);
  });

  it("summarizes ratios and judges goals in both directions", () => {
    const s = summarizeRatios([0.9, 1.1, 1.0, 1.2, 0.8]);
    expect(s).toMatchObject({ median: 1.0, min: 0.8, max: 1.2, p25: 0.9, p75: 1.1 });
    expect(goalMet({ op: "<=", value: 1.0 }, s.median)).toBe(true);
    expect(goalMet({ op: "<=", value: 0.95 }, s.median)).toBe(false);
    expect(goalMet({ op: ">=", value: 0.9 }, 0.95)).toBe(true);
    expect(goalMet({ op: ">=", value: 0.9 }, 0.85)).toBe(false);
  });
});
