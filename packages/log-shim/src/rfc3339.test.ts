import { describe, expect, it } from "vitest";
import { formatRfc3339Nano, wallClockNs } from "./rfc3339.js";

describe("formatRfc3339Nano", () => {
  it("writes Go's RFC3339Nano: nanoseconds, trailing zeros trimmed", () => {
    expect(formatRfc3339Nano(1_700_000_000_123_456_789n)).toBe("2023-11-14T22:13:20.123456789Z");
    expect(formatRfc3339Nano(1_700_000_000_120_000_000n)).toBe("2023-11-14T22:13:20.12Z");
    expect(formatRfc3339Nano(1_700_000_000_000_000_000n)).toBe("2023-11-14T22:13:20Z");
    expect(formatRfc3339Nano(1_700_000_000_000_000_001n)).toBe("2023-11-14T22:13:20.000000001Z");
  });
  it("follows the wall clock", () => {
    const diff = Number(wallClockNs() / 1_000_000n) - Date.now();
    expect(Math.abs(diff)).toBeLessThan(50);
  });
});
