import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import createDebug from "debug";
import { err, ok, okAsync, type Result, ResultAsync } from "neverthrow";
import type { CgroupMetrics } from "./cgroup-metrics.js";
import {
  type DockerNetworkStats,
  type DockerStats,
  dockerStatsFromCgroup,
  type PreviousSample,
} from "./docker-stats.js";
import { MetadataError } from "./errors.js";
import type { ContainerState, TaskState } from "./v4-types.js";

const log = createDebug("berth:metadata:stats");

/**
 * Where the server gets stats from. `containerStats` answers `/v4/<id>/stats` and, once per
 * container, `/v4/<id>/task/stats`; `undefined` means "no stats for this container" (a container
 * that is not running), which the task endpoint reports as `null` and the container endpoint as `{}`.
 */
export interface StatsProvider {
  containerStats(
    task: TaskState,
    container: ContainerState,
    signal: AbortSignal,
  ): ResultAsync<DockerStats | undefined, MetadataError>;
}

/** Reads one cgroup sample of a container, e.g. through containerd's `Tasks.Metrics`. */
export type MetricsSource = (
  task: TaskState,
  container: ContainerState,
  signal: AbortSignal,
) => ResultAsync<CgroupMetrics | undefined, MetadataError>;

/** Reads the interface counters of a task's network namespace (see `readNetnsCounters`). */
export type NetworkSource = (
  task: TaskState,
  signal: AbortSignal,
) => ResultAsync<Readonly<Record<string, DockerNetworkStats>> | undefined, MetadataError>;

/** Options of {@link createCgroupStatsProvider}. */
export interface CgroupStatsProviderOptions {
  readonly metrics: MetricsSource;
  /** Network counters per task; without it stats carry no `networks` or `network_rate_stats`. */
  readonly network?: NetworkSource;
  /** Host CPU time in nanoseconds; default {@link readSystemCpuUsage}. */
  readonly systemCpuUsage?: () => ResultAsync<number, MetadataError>;
  /** CPUs online; default `os.availableParallelism()`. */
  readonly onlineCpus?: () => number;
  /** The clock (for tests). */
  readonly now?: () => Date;
}

/** A {@link StatsProvider} that remembers each container's previous sample. */
export interface CgroupStatsProvider extends StatsProvider {
  /** Forgets the previous samples of a task's containers (call it when the task is removed). */
  forget(task: TaskState): void;
}

const CLOCK_TICKS_PER_SECOND = 100;

/**
 * Parses the first line of `/proc/stat` into host CPU time in nanoseconds, as Docker's
 * `system_cpu_usage`: (user + nice + system + idle + iowait + irq + softirq + steal) ticks at
 * USER_HZ (100 on Linux).
 */
export function parseProcStatCpu(text: string): Result<number, MetadataError> {
  const first = text.split("\n", 1)[0] ?? "";
  const parts = first.trim().split(/\s+/);
  if (parts[0] !== "cpu" || parts.length < 9) {
    return err(new MetadataError("InvalidInput", "not the contents of /proc/stat (no aggregate 'cpu' line)"));
  }
  let ticks = 0;
  for (const p of parts.slice(1, 9)) {
    const v = Number(p);
    if (!Number.isSafeInteger(v) || v < 0) return err(new MetadataError("InvalidInput", `bad /proc/stat field ${p}`));
    ticks += v;
  }
  return ok((ticks * 1e9) / CLOCK_TICKS_PER_SECOND);
}

/** Reads the host's total CPU time in nanoseconds from `/proc/stat`. */
export function readSystemCpuUsage(): ResultAsync<number, MetadataError> {
  return ResultAsync.fromPromise(
    readFile("/proc/stat", "utf8"),
    (cause) => new MetadataError("ProviderFailed", "could not read /proc/stat (is this Linux?)", { cause }),
  ).andThen(parseProcStatCpu);
}

/**
 * A stats provider over cgroup metrics: each request reads a fresh sample (metrics, host CPU time
 * and, when a network source is given, the task's interface counters), converts it with
 * `dockerStatsFromCgroup`, and keeps it as the container's previous sample so the next answer has
 * `precpu_stats`, `preread` and `network_rate_stats`.
 */
export function createCgroupStatsProvider(options: CgroupStatsProviderOptions): CgroupStatsProvider {
  const previous = new Map<string, PreviousSample>();
  const now = options.now ?? (() => new Date());
  const systemCpu = options.systemCpuUsage ?? readSystemCpuUsage;
  const onlineCpus = options.onlineCpus ?? availableParallelism;
  const key = (task: TaskState, container: ContainerState) => `${task.arn}\u0000${container.runtimeId}`;

  return {
    containerStats(task, container, signal) {
      const networks = options.network === undefined ? okAsync(undefined) : options.network(task, signal);
      return ResultAsync.combine([options.metrics(task, container, signal), systemCpu(), networks] as const).map(
        ([metrics, sys, nets]) => {
          if (metrics === undefined) return undefined;
          const k = key(task, container);
          const read = now();
          const stats = dockerStatsFromCgroup(
            { id: container.runtimeId, name: container.runtimeName },
            {
              metrics,
              read,
              systemCpuUsage: sys,
              onlineCpus: onlineCpus(),
              ...(nets === undefined ? {} : { networks: nets }),
            },
            previous.get(k),
          );
          previous.set(k, { read, cpu: stats.cpu_stats, ...(nets === undefined ? {} : { networks: nets }) });
          log("stats sample for %s (cgroup v%d)", container.runtimeId, metrics.version);
          return stats;
        },
      );
    },
    forget(task) {
      for (const c of task.containers) previous.delete(key(task, c));
    },
  };
}
