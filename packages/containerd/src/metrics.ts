import { Metrics as V1Metrics } from "./gen/containerd/cgroups/v1/metrics.js";
import { Metrics as V2Metrics } from "./gen/containerd/cgroups/v2/metrics.js";
import type { AnyMessage } from "./spec/index.js";

/** Type URL of cgroups v1 metrics in a task's Metrics answer. */
export const CGROUPS_V1_METRICS_TYPE = "io.containerd.cgroups.v1.Metrics";
/** Type URL of cgroups v2 metrics in a task's Metrics answer. */
export const CGROUPS_V2_METRICS_TYPE = "io.containerd.cgroups.v2.Metrics";

/**
 * A task's resource usage, normalized across cgroups v1 and v2. Counters are `bigint`
 * (nanoseconds and bytes can pass 2^53). Values the cgroup version does not report are `undefined`.
 */
export interface TaskMetrics {
  readonly cgroup: "v1" | "v2";
  readonly cpu: {
    /** Total CPU time in nanoseconds (v2 reports microseconds; converted). */
    readonly usageNs: bigint;
    readonly userNs: bigint;
    readonly systemNs: bigint;
    readonly throttledPeriods: bigint;
  };
  readonly memory: {
    /** Current usage in bytes. */
    readonly usage: bigint;
    /** Limit in bytes (a huge number when unlimited). */
    readonly limit: bigint;
    readonly maxUsage: bigint | undefined;
    readonly swapUsage: bigint | undefined;
  };
  readonly pids: { readonly current: bigint; readonly limit: bigint };
}

/** Decodes a task metrics Any (cgroups v1 or v2); an unknown type gives `undefined`. */
export function decodeMetrics(any: AnyMessage | undefined): TaskMetrics | undefined {
  if (!any) return undefined;
  const name = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  if (name === CGROUPS_V1_METRICS_TYPE) {
    const m = V1Metrics.decode(any.value);
    return {
      cgroup: "v1",
      cpu: {
        usageNs: m.cpu?.usage?.total ?? 0n,
        userNs: m.cpu?.usage?.user ?? 0n,
        systemNs: m.cpu?.usage?.kernel ?? 0n,
        throttledPeriods: m.cpu?.throttling?.throttledPeriods ?? 0n,
      },
      memory: {
        usage: m.memory?.usage?.usage ?? 0n,
        limit: m.memory?.usage?.limit ?? 0n,
        maxUsage: m.memory?.usage?.max,
        swapUsage: m.memory?.swap?.usage,
      },
      pids: { current: m.pids?.current ?? 0n, limit: m.pids?.limit ?? 0n },
    };
  }
  if (name === CGROUPS_V2_METRICS_TYPE) {
    const m = V2Metrics.decode(any.value);
    return {
      cgroup: "v2",
      cpu: {
        usageNs: (m.cpu?.usageUsec ?? 0n) * 1000n,
        userNs: (m.cpu?.userUsec ?? 0n) * 1000n,
        systemNs: (m.cpu?.systemUsec ?? 0n) * 1000n,
        throttledPeriods: m.cpu?.nrThrottled ?? 0n,
      },
      memory: {
        usage: m.memory?.usage ?? 0n,
        limit: m.memory?.usageLimit ?? 0n,
        maxUsage: m.memory?.maxUsage,
        swapUsage: m.memory?.swapUsage,
      },
      pids: { current: m.pids?.current ?? 0n, limit: m.pids?.limit ?? 0n },
    };
  }
  return undefined;
}
