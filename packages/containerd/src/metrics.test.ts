import { describe, expect, it } from "vitest";
import { Metrics as V1 } from "./gen/containerd/cgroups/v1/metrics.js";
import { Metrics as V2 } from "./gen/containerd/cgroups/v2/metrics.js";
import { CGROUPS_V1_METRICS_TYPE, CGROUPS_V2_METRICS_TYPE, decodeMetrics } from "./metrics.js";

describe("decodeMetrics", () => {
  it("normalizes cgroups v1 metrics, keeping 64-bit counters exact", () => {
    const big = 2n ** 60n + 3n;
    const value = V1.encode(
      V1.fromPartial({
        cpu: { usage: { total: big, user: 5n, kernel: 6n }, throttling: { throttledPeriods: 2n } },
        memory: { usage: { usage: 4096n, limit: 8192n, max: 5000n }, swap: { usage: 1n } },
        pids: { current: 3n, limit: 100n },
      }),
    ).finish();
    expect(decodeMetrics({ typeUrl: CGROUPS_V1_METRICS_TYPE, value })).toEqual({
      cgroup: "v1",
      cpu: { usageNs: big, userNs: 5n, systemNs: 6n, throttledPeriods: 2n },
      memory: { usage: 4096n, limit: 8192n, maxUsage: 5000n, swapUsage: 1n },
      pids: { current: 3n, limit: 100n },
    });
  });

  it("converts cgroups v2 microseconds to nanoseconds", () => {
    const value = V2.encode(
      V2.fromPartial({
        cpu: { usageUsec: 10n, userUsec: 4n, systemUsec: 6n, nrThrottled: 1n },
        memory: { usage: 100n, usageLimit: 200n, maxUsage: 150n, swapUsage: 0n },
        pids: { current: 1n, limit: 10n },
      }),
    ).finish();
    const m = decodeMetrics({ typeUrl: CGROUPS_V2_METRICS_TYPE, value });
    expect(m?.cgroup).toBe("v2");
    expect(m?.cpu).toEqual({ usageNs: 10_000n, userNs: 4000n, systemNs: 6000n, throttledPeriods: 1n });
    expect(m?.memory.limit).toBe(200n);
    expect(m?.pids).toEqual({ current: 1n, limit: 10n });
  });

  it("returns undefined for other types", () => {
    expect(decodeMetrics({ typeUrl: "example.Other", value: new Uint8Array() })).toBeUndefined();
    expect(decodeMetrics(undefined)).toBeUndefined();
  });
});
