import type { CgroupMetrics, CgroupV1BlkioEntry, CgroupV1Metrics, CgroupV2Metrics, Uint64 } from "./cgroup-metrics.js";

// Docker Engine API stats JSON (types.StatsJSON), which the ECS agent embeds in its stats response.
// Keys, their order and their omitempty rules follow Docker's Go structs.

/** `cpu_stats.cpu_usage`: nanoseconds. `percpu_usage` only on cgroup v1. */
export interface DockerCpuUsage {
  readonly total_usage: number;
  readonly percpu_usage?: readonly number[];
  readonly usage_in_kernelmode: number;
  readonly usage_in_usermode: number;
}

/** `cpu_stats` / `precpu_stats`. */
export interface DockerCpuStats {
  readonly cpu_usage: DockerCpuUsage;
  /** The host's total CPU time in nanoseconds (all CPUs, all modes), for percentage computations. */
  readonly system_cpu_usage?: number;
  readonly online_cpus?: number;
  readonly throttling_data: {
    readonly periods: number;
    readonly throttled_periods: number;
    readonly throttled_time: number;
  };
}

/** `memory_stats`. */
export interface DockerMemoryStats {
  readonly usage?: number;
  readonly max_usage?: number;
  readonly stats?: Readonly<Record<string, number>>;
  readonly failcnt?: number;
  readonly limit?: number;
}

/** One `blkio_stats` entry. */
export interface DockerBlkioEntry {
  readonly major: number;
  readonly minor: number;
  readonly op: string;
  readonly value: number;
}

/** `blkio_stats`: lists are `null` when the cgroup version has no such counter, as Docker writes them. */
export interface DockerBlkioStats {
  readonly io_service_bytes_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_serviced_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_queue_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_service_time_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_wait_time_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_merged_recursive: readonly DockerBlkioEntry[] | null;
  readonly io_time_recursive: readonly DockerBlkioEntry[] | null;
  readonly sectors_recursive: readonly DockerBlkioEntry[] | null;
}

/** One interface's counters in `networks`. */
export interface DockerNetworkStats {
  readonly rx_bytes: number;
  readonly rx_packets: number;
  readonly rx_errors: number;
  readonly rx_dropped: number;
  readonly tx_bytes: number;
  readonly tx_packets: number;
  readonly tx_errors: number;
  readonly tx_dropped: number;
}

/** The ECS agent's `network_rate_stats`: bytes per second since the previous sample. */
export interface NetworkRateStats {
  readonly rx_bytes_per_sec: number;
  readonly tx_bytes_per_sec: number;
}

/**
 * One container's stats as the ECS task metadata endpoint serves them (`/v4/<id>/stats`): Docker's
 * stats JSON plus `network_rate_stats`.
 */
export interface DockerStats {
  /** When this sample was read (RFC 3339 with nanoseconds). */
  readonly read: string;
  /** When the previous sample was read; Go's zero time `0001-01-01T00:00:00Z` for the first one. */
  readonly preread: string;
  readonly pids_stats: { readonly current?: number; readonly limit?: number };
  readonly blkio_stats: DockerBlkioStats;
  readonly num_procs: number;
  readonly storage_stats: Record<string, never>;
  readonly cpu_stats: DockerCpuStats;
  readonly precpu_stats: DockerCpuStats;
  readonly memory_stats: DockerMemoryStats;
  /** `/` + the container's runtime name. */
  readonly name: string;
  /** The runtime's container id. */
  readonly id: string;
  readonly networks?: Readonly<Record<string, DockerNetworkStats>>;
  readonly network_rate_stats?: NetworkRateStats;
}

/** Go's zero `time.Time` as Docker prints it for a missing `preread`. */
export const GO_ZERO_TIME = "0001-01-01T00:00:00Z";

/** What a stats sample needs besides the cgroup metrics. */
export interface StatsSampleInput {
  readonly metrics: CgroupMetrics;
  /** When the metrics were read. */
  readonly read: Date;
  /** Host-wide CPU time in nanoseconds (see `readSystemCpuUsage`), if known. */
  readonly systemCpuUsage?: number;
  /** CPUs online on the host, if known. */
  readonly onlineCpus?: number;
  /** Per-interface counters of the task's network namespace, if known. */
  readonly networks?: Readonly<Record<string, DockerNetworkStats>>;
}

/** The previous sample of the same container (for `precpu_stats`, `preread`, `network_rate_stats`). */
export interface PreviousSample {
  readonly read: Date;
  readonly cpu: DockerCpuStats;
  readonly networks?: Readonly<Record<string, DockerNetworkStats>>;
}

function n(value: Uint64 | undefined): number {
  if (value === undefined) return 0;
  return typeof value === "bigint" ? Number(value) : value;
}

function nonZero(value: Uint64 | undefined): number | undefined {
  const v = n(value);
  return v === 0 ? undefined : v;
}

const EMPTY_CPU: DockerCpuStats = {
  cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
  throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
};

function cpuV1(m: CgroupV1Metrics, sys: number | undefined, cpus: number | undefined): DockerCpuStats {
  const usage = m.cpu?.usage;
  const thr = m.cpu?.throttling;
  const percpu = usage?.perCpu?.map(n) ?? [];
  return withOptional<DockerCpuStats>({
    cpu_usage: withOptional<DockerCpuUsage>({
      total_usage: n(usage?.total),
      percpu_usage: percpu.length === 0 ? undefined : percpu,
      usage_in_kernelmode: n(usage?.kernel),
      usage_in_usermode: n(usage?.user),
    }),
    system_cpu_usage: sys === 0 ? undefined : sys,
    online_cpus: cpus === 0 ? undefined : cpus,
    throttling_data: {
      periods: n(thr?.periods),
      throttled_periods: n(thr?.throttledPeriods),
      throttled_time: n(thr?.throttledTime),
    },
  });
}

function cpuV2(m: CgroupV2Metrics, sys: number | undefined, cpus: number | undefined): DockerCpuStats {
  const c = m.cpu;
  return withOptional<DockerCpuStats>({
    cpu_usage: {
      total_usage: n(c?.usageUsec) * 1000,
      usage_in_kernelmode: n(c?.systemUsec) * 1000,
      usage_in_usermode: n(c?.userUsec) * 1000,
    },
    system_cpu_usage: sys === 0 ? undefined : sys,
    online_cpus: cpus === 0 ? undefined : cpus,
    throttling_data: {
      periods: n(c?.nrPeriods),
      throttled_periods: n(c?.nrThrottled),
      throttled_time: n(c?.throttledUsec) * 1000,
    },
  });
}

// memory.stat key (as Docker reports it) -> field of the decoded message.
const V1_MEMORY_KEYS = [
  ["active_anon", "activeAnon"],
  ["active_file", "activeFile"],
  ["cache", "cache"],
  ["dirty", "dirty"],
  ["hierarchical_memory_limit", "hierarchicalMemoryLimit"],
  ["hierarchical_memsw_limit", "hierarchicalSwapLimit"],
  ["inactive_anon", "inactiveAnon"],
  ["inactive_file", "inactiveFile"],
  ["mapped_file", "mappedFile"],
  ["pgfault", "pgFault"],
  ["pgmajfault", "pgMajFault"],
  ["pgpgin", "pgPgIn"],
  ["pgpgout", "pgPgOut"],
  ["rss", "rss"],
  ["rss_huge", "rssHuge"],
  ["total_active_anon", "totalActiveAnon"],
  ["total_active_file", "totalActiveFile"],
  ["total_cache", "totalCache"],
  ["total_dirty", "totalDirty"],
  ["total_inactive_anon", "totalInactiveAnon"],
  ["total_inactive_file", "totalInactiveFile"],
  ["total_mapped_file", "totalMappedFile"],
  ["total_pgfault", "totalPgFault"],
  ["total_pgmajfault", "totalPgMajFault"],
  ["total_pgpgin", "totalPgPgIn"],
  ["total_pgpgout", "totalPgPgOut"],
  ["total_rss", "totalRss"],
  ["total_rss_huge", "totalRssHuge"],
  ["total_unevictable", "totalUnevictable"],
  ["total_writeback", "totalWriteback"],
  ["unevictable", "unevictable"],
  ["writeback", "writeback"],
] as const;

const V2_MEMORY_KEYS = [
  ["active_anon", "activeAnon"],
  ["active_file", "activeFile"],
  ["anon", "anon"],
  ["anon_thp", "anonThp"],
  ["file", "file"],
  ["file_dirty", "fileDirty"],
  ["file_mapped", "fileMapped"],
  ["file_writeback", "fileWriteback"],
  ["inactive_anon", "inactiveAnon"],
  ["inactive_file", "inactiveFile"],
  ["kernel_stack", "kernelStack"],
  ["pgactivate", "pgactivate"],
  ["pgdeactivate", "pgdeactivate"],
  ["pgfault", "pgfault"],
  ["pglazyfree", "pglazyfree"],
  ["pglazyfreed", "pglazyfreed"],
  ["pgmajfault", "pgmajfault"],
  ["pgrefill", "pgrefill"],
  ["pgscan", "pgscan"],
  ["pgsteal", "pgsteal"],
  ["shmem", "shmem"],
  ["slab", "slab"],
  ["slab_reclaimable", "slabReclaimable"],
  ["slab_unreclaimable", "slabUnreclaimable"],
  ["sock", "sock"],
  ["thp_collapse_alloc", "thpCollapseAlloc"],
  ["thp_fault_alloc", "thpFaultAlloc"],
  ["unevictable", "unevictable"],
  ["workingset_activate", "workingsetActivate"],
  ["workingset_nodereclaim", "workingsetNodereclaim"],
  ["workingset_refault", "workingsetRefault"],
] as const;

function memoryV1(m: CgroupV1Metrics): DockerMemoryStats {
  const mem = m.memory;
  if (mem === undefined) return {};
  const stats: Record<string, number> = {};
  for (const [key, field] of V1_MEMORY_KEYS) stats[key] = n(mem[field]);
  return withOptional<DockerMemoryStats>({
    usage: nonZero(mem.usage?.usage),
    max_usage: nonZero(mem.usage?.max),
    stats,
    failcnt: nonZero(mem.usage?.failcnt),
    limit: nonZero(mem.usage?.limit),
  });
}

function memoryV2(m: CgroupV2Metrics): DockerMemoryStats {
  const mem = m.memory;
  if (mem === undefined) return {};
  const stats: Record<string, number> = {};
  for (const [key, field] of V2_MEMORY_KEYS) stats[key] = n(mem[field]);
  return withOptional<DockerMemoryStats>({
    usage: nonZero(mem.usage),
    max_usage: nonZero(mem.maxUsage),
    stats,
    failcnt: nonZero(m.memoryEvents?.oom),
    limit: nonZero(mem.usageLimit),
  });
}

function blkioList(entries: readonly CgroupV1BlkioEntry[] | undefined): DockerBlkioEntry[] | null {
  if (entries === undefined || entries.length === 0) return null;
  return entries.map((e) => ({ major: n(e.major), minor: n(e.minor), op: e.op ?? "", value: n(e.value) }));
}

function blkioV1(m: CgroupV1Metrics): DockerBlkioStats {
  const b = m.blkio;
  return {
    io_service_bytes_recursive: blkioList(b?.ioServiceBytesRecursive),
    io_serviced_recursive: blkioList(b?.ioServicedRecursive),
    io_queue_recursive: blkioList(b?.ioQueuedRecursive),
    io_service_time_recursive: blkioList(b?.ioServiceTimeRecursive),
    io_wait_time_recursive: blkioList(b?.ioWaitTimeRecursive),
    io_merged_recursive: blkioList(b?.ioMergedRecursive),
    io_time_recursive: blkioList(b?.ioTimeRecursive),
    sectors_recursive: blkioList(b?.sectorsRecursive),
  };
}

function blkioV2(m: CgroupV2Metrics): DockerBlkioStats {
  const usage = m.io?.usage ?? [];
  const bytes: DockerBlkioEntry[] = [];
  const ios: DockerBlkioEntry[] = [];
  for (const e of usage) {
    const major = n(e.major);
    const minor = n(e.minor);
    bytes.push({ major, minor, op: "read", value: n(e.rbytes) }, { major, minor, op: "write", value: n(e.wbytes) });
    ios.push({ major, minor, op: "read", value: n(e.rios) }, { major, minor, op: "write", value: n(e.wios) });
  }
  return {
    io_service_bytes_recursive: bytes.length === 0 ? null : bytes,
    io_serviced_recursive: ios.length === 0 ? null : ios,
    io_queue_recursive: null,
    io_service_time_recursive: null,
    io_wait_time_recursive: null,
    io_merged_recursive: null,
    io_time_recursive: null,
    sectors_recursive: null,
  };
}

/** Drops `undefined` entries (Go's omitempty); the type parameter names the result. */
function withOptional<T extends object>(value: { readonly [K in keyof T]?: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = v;
  return out as T;
}

/** Formats a `Date` as Go prints a `time.Time` in UTC (RFC 3339, trailing fractional zeros dropped). */
function goTime(date: Date): string {
  return date
    .toISOString()
    .replace(/\.?0+Z$/, "Z")
    .replace(/\.Z$/, "Z");
}

/**
 * The bytes-per-second rate of the summed counters of every interface between two samples, as the
 * ECS agent computes `network_rate_stats`; `undefined` without a usable previous sample.
 */
export function networkRate(
  current: Readonly<Record<string, DockerNetworkStats>> | undefined,
  currentRead: Date,
  previous: Readonly<Record<string, DockerNetworkStats>> | undefined,
  previousRead: Date | undefined,
): NetworkRateStats | undefined {
  if (current === undefined || previous === undefined || previousRead === undefined) return undefined;
  const seconds = (currentRead.getTime() - previousRead.getTime()) / 1000;
  if (!(seconds > 0)) return undefined;
  let rx = 0;
  let tx = 0;
  for (const [name, now] of Object.entries(current)) {
    const before = previous[name];
    if (before === undefined) continue;
    rx += Math.max(0, now.rx_bytes - before.rx_bytes);
    tx += Math.max(0, now.tx_bytes - before.tx_bytes);
  }
  return { rx_bytes_per_sec: rx / seconds, tx_bytes_per_sec: tx / seconds };
}

/**
 * Converts one cgroup sample of a container into the Docker stats JSON the ECS agent serves, as
 * Docker's daemon converts containerd's metrics: cgroup v2 microseconds become nanoseconds, v2 io.stat
 * lines become `read`/`write` blkio entries, memory.stat keys keep their kernel names, and
 * `memory_stats.failcnt` is the OOM event count on v2. `precpu_stats`, `preread` and
 * `network_rate_stats` come from `previous` (zeros and Go's zero time without one).
 */
export function dockerStatsFromCgroup(
  container: { readonly id: string; readonly name: string },
  sample: StatsSampleInput,
  previous?: PreviousSample,
): DockerStats {
  const { metrics, read } = sample;
  const cpu =
    metrics.version === 1
      ? cpuV1(metrics.metrics, sample.systemCpuUsage, sample.onlineCpus)
      : cpuV2(metrics.metrics, sample.systemCpuUsage, sample.onlineCpus);
  const pids = metrics.metrics.pids;
  const rate = networkRate(sample.networks, read, previous?.networks, previous?.read);
  return withOptional<DockerStats>({
    read: goTime(read),
    preread: previous === undefined ? GO_ZERO_TIME : goTime(previous.read),
    pids_stats: withOptional<DockerStats["pids_stats"]>({
      current: nonZero(pids?.current),
      limit: nonZero(pids?.limit),
    }),
    blkio_stats: metrics.version === 1 ? blkioV1(metrics.metrics) : blkioV2(metrics.metrics),
    num_procs: 0,
    storage_stats: {},
    cpu_stats: cpu,
    precpu_stats: previous?.cpu ?? EMPTY_CPU,
    memory_stats: metrics.version === 1 ? memoryV1(metrics.metrics) : memoryV2(metrics.metrics),
    name: `/${container.name}`,
    id: container.id,
    networks: sample.networks,
    network_rate_stats: rate,
  });
}
