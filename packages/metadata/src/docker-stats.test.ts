import { describe, expect, it } from "vitest";
import type { CgroupV1Metrics, CgroupV2Metrics } from "./cgroup-metrics.js";
import { dockerStatsFromCgroup, GO_ZERO_TIME, networkRate } from "./docker-stats.js";

const container = { id: "abc123", name: "web" };

// Docker's stats JSON keys (types.StatsJSON), in Docker's order.
const DOCKER_KEYS = [
  "read",
  "preread",
  "pids_stats",
  "blkio_stats",
  "num_procs",
  "storage_stats",
  "cpu_stats",
  "precpu_stats",
  "memory_stats",
  "name",
  "id",
];

const v1: CgroupV1Metrics = {
  pids: { current: 3n, limit: 0n },
  cpu: {
    usage: { total: 5_000_000n, kernel: 1_000_000n, user: 4_000_000n, perCpu: [2_000_000n, 3_000_000n] },
    throttling: { periods: 10n, throttledPeriods: 2n, throttledTime: 777n },
  },
  memory: {
    cache: 4096n,
    rss: 8192n,
    totalRss: 8192n,
    pgFault: 11n,
    hierarchicalMemoryLimit: 2n ** 63n - 4096n,
    usage: { usage: 1_048_576n, max: 2_097_152n, limit: 268_435_456n, failcnt: 0n },
  },
  blkio: {
    ioServiceBytesRecursive: [
      { op: "Read", major: 8n, minor: 0n, value: 4096n },
      { op: "Write", major: 8n, minor: 0n, value: 0n },
    ],
  },
};

const v2: CgroupV2Metrics = {
  pids: { current: 2n, limit: 100n },
  cpu: { usageUsec: 1500n, userUsec: 1000n, systemUsec: 500n, nrPeriods: 4n, nrThrottled: 1n, throttledUsec: 20n },
  memory: { anon: 100n, file: 200n, usage: 300n, usageLimit: 1000n, maxUsage: 400n, pgfault: 7n },
  memoryEvents: { oom: 1n },
  io: { usage: [{ major: 259n, minor: 0n, rbytes: 10n, wbytes: 20n, rios: 1n, wios: 2n }] },
};

describe("dockerStatsFromCgroup", () => {
  it("converts cgroup v1 metrics into Docker's stats JSON", () => {
    const read = new Date("2026-01-01T00:00:01.5Z");
    const stats = dockerStatsFromCgroup(
      container,
      { metrics: { version: 1, metrics: v1 }, read, systemCpuUsage: 1e12, onlineCpus: 2 },
      undefined,
    );
    expect(Object.keys(stats)).toStrictEqual(DOCKER_KEYS);
    expect(stats.read).toBe("2026-01-01T00:00:01.5Z");
    expect(stats.preread).toBe(GO_ZERO_TIME);
    expect(stats.name).toBe("/web");
    expect(stats.id).toBe("abc123");
    expect(stats.pids_stats).toStrictEqual({ current: 3 });
    expect(stats.cpu_stats).toStrictEqual({
      cpu_usage: {
        total_usage: 5_000_000,
        percpu_usage: [2_000_000, 3_000_000],
        usage_in_kernelmode: 1_000_000,
        usage_in_usermode: 4_000_000,
      },
      system_cpu_usage: 1e12,
      online_cpus: 2,
      throttling_data: { periods: 10, throttled_periods: 2, throttled_time: 777 },
    });
    expect(stats.precpu_stats.cpu_usage.total_usage).toBe(0);
    expect(stats.memory_stats.usage).toBe(1_048_576);
    expect(stats.memory_stats.max_usage).toBe(2_097_152);
    expect(stats.memory_stats.limit).toBe(268_435_456);
    expect(stats.memory_stats).not.toHaveProperty("failcnt");
    expect(stats.memory_stats.stats).toMatchObject({ cache: 4096, rss: 8192, total_rss: 8192, pgfault: 11 });
    expect(stats.memory_stats.stats?.hierarchical_memory_limit).toBe(Number(2n ** 63n - 4096n));
    expect(stats.blkio_stats.io_service_bytes_recursive).toStrictEqual([
      { major: 8, minor: 0, op: "Read", value: 4096 },
      { major: 8, minor: 0, op: "Write", value: 0 },
    ]);
    expect(stats.blkio_stats.io_serviced_recursive).toBeNull();
    expect(stats).not.toHaveProperty("networks");
    expect(stats).not.toHaveProperty("network_rate_stats");
  });

  it("converts cgroup v2 metrics (microseconds to nanoseconds, io.stat to read/write entries, OOMs as failcnt)", () => {
    const stats = dockerStatsFromCgroup(container, {
      metrics: { version: 2, metrics: v2 },
      read: new Date("2026-01-01T00:00:00Z"),
    });
    expect(stats.read).toBe("2026-01-01T00:00:00Z");
    expect(stats.cpu_stats).toStrictEqual({
      cpu_usage: { total_usage: 1_500_000, usage_in_kernelmode: 500_000, usage_in_usermode: 1_000_000 },
      throttling_data: { periods: 4, throttled_periods: 1, throttled_time: 20_000 },
    });
    expect(stats.memory_stats).toMatchObject({ usage: 300, max_usage: 400, failcnt: 1, limit: 1000 });
    expect(stats.memory_stats.stats).toMatchObject({ anon: 100, file: 200, pgfault: 7 });
    expect(stats.pids_stats).toStrictEqual({ current: 2, limit: 100 });
    expect(stats.blkio_stats.io_service_bytes_recursive).toStrictEqual([
      { major: 259, minor: 0, op: "read", value: 10 },
      { major: 259, minor: 0, op: "write", value: 20 },
    ]);
    expect(stats.blkio_stats.io_serviced_recursive).toStrictEqual([
      { major: 259, minor: 0, op: "read", value: 1 },
      { major: 259, minor: 0, op: "write", value: 2 },
    ]);
    expect(stats.blkio_stats.sectors_recursive).toBeNull();
  });

  it("takes precpu_stats, preread and network_rate_stats from the previous sample", () => {
    const eth0 = (rx: number, tx: number) => ({
      rx_bytes: rx,
      rx_packets: 1,
      rx_errors: 0,
      rx_dropped: 0,
      tx_bytes: tx,
      tx_packets: 1,
      tx_errors: 0,
      tx_dropped: 0,
    });
    const first = dockerStatsFromCgroup(container, {
      metrics: { version: 2, metrics: v2 },
      read: new Date("2026-01-01T00:00:00Z"),
      networks: { eth0: eth0(1000, 500) },
    });
    expect(first.networks).toStrictEqual({ eth0: eth0(1000, 500) });
    expect(first).not.toHaveProperty("network_rate_stats");
    const second = dockerStatsFromCgroup(
      container,
      {
        metrics: { version: 2, metrics: { ...v2, cpu: { ...v2.cpu, usageUsec: 2500n } } },
        read: new Date("2026-01-01T00:00:02Z"),
        networks: { eth0: eth0(5000, 2500) },
      },
      { read: new Date("2026-01-01T00:00:00Z"), cpu: first.cpu_stats, networks: { eth0: eth0(1000, 500) } },
    );
    expect(second.preread).toBe("2026-01-01T00:00:00Z");
    expect(second.precpu_stats).toStrictEqual(first.cpu_stats);
    expect(second.cpu_stats.cpu_usage.total_usage).toBe(2_500_000);
    expect(second.network_rate_stats).toStrictEqual({ rx_bytes_per_sec: 2000, tx_bytes_per_sec: 1000 });
    expect(Object.keys(second).slice(-2)).toStrictEqual(["networks", "network_rate_stats"]);
  });

  it("treats missing fields (older daemons) as zeros and number input like bigint", () => {
    const stats = dockerStatsFromCgroup(container, {
      metrics: { version: 2, metrics: { cpu: { usageUsec: 10 } } },
      read: new Date(0),
    });
    expect(stats.cpu_stats.cpu_usage.total_usage).toBe(10_000);
    expect(stats.memory_stats).toStrictEqual({});
    expect(stats.pids_stats).toStrictEqual({});
  });
});

describe("networkRate", () => {
  const c = (rx: number, tx: number) => ({
    rx_bytes: rx,
    rx_packets: 0,
    rx_errors: 0,
    rx_dropped: 0,
    tx_bytes: tx,
    tx_packets: 0,
    tx_errors: 0,
    tx_dropped: 0,
  });
  it("sums interfaces, ignores new ones and counter resets, needs elapsed time", () => {
    const t0 = new Date(0);
    const t1 = new Date(500);
    expect(
      networkRate({ a: c(200, 100), b: c(50, 50), n: c(9, 9) }, t1, { a: c(100, 0), b: c(100, 0) }, t0),
    ).toStrictEqual({ rx_bytes_per_sec: 200, tx_bytes_per_sec: 300 });
    expect(networkRate({ a: c(1, 1) }, t0, { a: c(0, 0) }, t0)).toBeUndefined();
    expect(networkRate({ a: c(1, 1) }, t1, undefined, t0)).toBeUndefined();
  });
});
