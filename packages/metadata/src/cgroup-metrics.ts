// Structural shapes of containerd's task metrics (Tasks.Metrics -> Metric.data), so this package can
// convert them without depending on @berth/containerd. Field names follow the generated TypeScript
// of proto/containerd/cgroups/v{1,2}/metrics.proto (camelCase of the proto field names); 64-bit
// values may be bigint (as ts-proto decodes them with forceLong=bigint) or number. Every field is
// optional: daemons built against older cgroups libraries leave newer ones unset.

/** A 64-bit counter as decoded: bigint from the generated client, number from JSON. */
export type Uint64 = bigint | number;

/** `io.containerd.cgroups.v1.CPUUsage`: nanoseconds. */
export interface CgroupV1CpuUsage {
  readonly total?: Uint64;
  readonly kernel?: Uint64;
  readonly user?: Uint64;
  readonly perCpu?: readonly Uint64[];
}

/** `io.containerd.cgroups.v1.Throttle`. */
export interface CgroupV1Throttle {
  readonly periods?: Uint64;
  readonly throttledPeriods?: Uint64;
  /** Nanoseconds. */
  readonly throttledTime?: Uint64;
}

/** `io.containerd.cgroups.v1.MemoryEntry`: bytes. */
export interface CgroupV1MemoryEntry {
  readonly limit?: Uint64;
  readonly usage?: Uint64;
  readonly max?: Uint64;
  readonly failcnt?: Uint64;
}

/** `io.containerd.cgroups.v1.MemoryStat` (the counters of memory.stat plus the usage entries). */
export interface CgroupV1MemoryStat {
  readonly cache?: Uint64;
  readonly rss?: Uint64;
  readonly rssHuge?: Uint64;
  readonly mappedFile?: Uint64;
  readonly dirty?: Uint64;
  readonly writeback?: Uint64;
  readonly pgPgIn?: Uint64;
  readonly pgPgOut?: Uint64;
  readonly pgFault?: Uint64;
  readonly pgMajFault?: Uint64;
  readonly inactiveAnon?: Uint64;
  readonly activeAnon?: Uint64;
  readonly inactiveFile?: Uint64;
  readonly activeFile?: Uint64;
  readonly unevictable?: Uint64;
  readonly hierarchicalMemoryLimit?: Uint64;
  readonly hierarchicalSwapLimit?: Uint64;
  readonly totalCache?: Uint64;
  readonly totalRss?: Uint64;
  readonly totalRssHuge?: Uint64;
  readonly totalMappedFile?: Uint64;
  readonly totalDirty?: Uint64;
  readonly totalWriteback?: Uint64;
  readonly totalPgPgIn?: Uint64;
  readonly totalPgPgOut?: Uint64;
  readonly totalPgFault?: Uint64;
  readonly totalPgMajFault?: Uint64;
  readonly totalInactiveAnon?: Uint64;
  readonly totalActiveAnon?: Uint64;
  readonly totalInactiveFile?: Uint64;
  readonly totalActiveFile?: Uint64;
  readonly totalUnevictable?: Uint64;
  readonly usage?: CgroupV1MemoryEntry | undefined;
  readonly swap?: CgroupV1MemoryEntry | undefined;
  readonly kernel?: CgroupV1MemoryEntry | undefined;
  readonly kernelTcp?: CgroupV1MemoryEntry | undefined;
}

/** `io.containerd.cgroups.v1.BlkIOEntry`. */
export interface CgroupV1BlkioEntry {
  readonly op?: string;
  readonly device?: string;
  readonly major?: Uint64;
  readonly minor?: Uint64;
  readonly value?: Uint64;
}

/** `io.containerd.cgroups.v1.BlkIOStat`. */
export interface CgroupV1BlkioStat {
  readonly ioServiceBytesRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioServicedRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioQueuedRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioServiceTimeRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioWaitTimeRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioMergedRecursive?: readonly CgroupV1BlkioEntry[];
  readonly ioTimeRecursive?: readonly CgroupV1BlkioEntry[];
  readonly sectorsRecursive?: readonly CgroupV1BlkioEntry[];
}

/** `io.containerd.cgroups.v1.PidsStat` / `v2.PidsStat`. */
export interface CgroupPidsStat {
  readonly current?: Uint64;
  readonly limit?: Uint64;
}

/** `io.containerd.cgroups.v1.Metrics` (type URL `io.containerd.cgroups.v1.Metrics`). */
export interface CgroupV1Metrics {
  readonly pids?: CgroupPidsStat | undefined;
  readonly cpu?:
    | { readonly usage?: CgroupV1CpuUsage | undefined; readonly throttling?: CgroupV1Throttle | undefined }
    | undefined;
  readonly memory?: CgroupV1MemoryStat | undefined;
  readonly blkio?: CgroupV1BlkioStat | undefined;
}

/** `io.containerd.cgroups.v2.CPUStat`: microseconds. */
export interface CgroupV2CpuStat {
  readonly usageUsec?: Uint64;
  readonly userUsec?: Uint64;
  readonly systemUsec?: Uint64;
  readonly nrPeriods?: Uint64;
  readonly nrThrottled?: Uint64;
  readonly throttledUsec?: Uint64;
}

/** `io.containerd.cgroups.v2.MemoryStat`: memory.stat counters (bytes or events) plus usage and limit. */
export interface CgroupV2MemoryStat {
  readonly anon?: Uint64;
  readonly file?: Uint64;
  readonly kernelStack?: Uint64;
  readonly slab?: Uint64;
  readonly sock?: Uint64;
  readonly shmem?: Uint64;
  readonly fileMapped?: Uint64;
  readonly fileDirty?: Uint64;
  readonly fileWriteback?: Uint64;
  readonly anonThp?: Uint64;
  readonly inactiveAnon?: Uint64;
  readonly activeAnon?: Uint64;
  readonly inactiveFile?: Uint64;
  readonly activeFile?: Uint64;
  readonly unevictable?: Uint64;
  readonly slabReclaimable?: Uint64;
  readonly slabUnreclaimable?: Uint64;
  readonly pgfault?: Uint64;
  readonly pgmajfault?: Uint64;
  readonly workingsetRefault?: Uint64;
  readonly workingsetActivate?: Uint64;
  readonly workingsetNodereclaim?: Uint64;
  readonly pgrefill?: Uint64;
  readonly pgscan?: Uint64;
  readonly pgsteal?: Uint64;
  readonly pgactivate?: Uint64;
  readonly pgdeactivate?: Uint64;
  readonly pglazyfree?: Uint64;
  readonly pglazyfreed?: Uint64;
  readonly thpFaultAlloc?: Uint64;
  readonly thpCollapseAlloc?: Uint64;
  readonly usage?: Uint64;
  readonly usageLimit?: Uint64;
  readonly swapUsage?: Uint64;
  readonly swapLimit?: Uint64;
  readonly maxUsage?: Uint64;
}

/** `io.containerd.cgroups.v2.IOEntry`: one device's line of io.stat. */
export interface CgroupV2IoEntry {
  readonly major?: Uint64;
  readonly minor?: Uint64;
  readonly rbytes?: Uint64;
  readonly wbytes?: Uint64;
  readonly rios?: Uint64;
  readonly wios?: Uint64;
}

/** `io.containerd.cgroups.v2.Metrics` (type URL `io.containerd.cgroups.v2.Metrics`). */
export interface CgroupV2Metrics {
  readonly pids?: CgroupPidsStat | undefined;
  readonly cpu?: CgroupV2CpuStat | undefined;
  readonly memory?: CgroupV2MemoryStat | undefined;
  readonly io?: { readonly usage?: readonly CgroupV2IoEntry[] } | undefined;
  readonly memoryEvents?: { readonly oom?: Uint64 } | undefined;
}

/** One sample of a container's cgroup, tagged with the cgroup version it came from. */
export type CgroupMetrics =
  | { readonly version: 1; readonly metrics: CgroupV1Metrics }
  | { readonly version: 2; readonly metrics: CgroupV2Metrics };

/** containerd's type URL for each cgroup version's Metrics message (the `Any` in `Metric.data`). */
export const CGROUP_METRICS_TYPE_URLS = {
  1: "io.containerd.cgroups.v1.Metrics",
  2: "io.containerd.cgroups.v2.Metrics",
} as const;
