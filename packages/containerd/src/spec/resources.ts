import { err, ok, type Result } from "neverthrow";
import type { ContainerdError } from "../errors.js";
import { editSpec, invalidOption, type SpecOpt } from "./build.js";
import { checkInteger } from "./options.js";
import type { LinuxCpu, LinuxMemory, LinuxResources, Spec } from "./types.js";

/** CFS period berth uses for CPU limits: 100 ms, as Docker, ctr and the ECS agent do. */
export const DEFAULT_CPU_PERIOD_US = 100_000;

/** Smallest CFS quota the kernel accepts: 1 ms. */
export const MIN_CPU_QUOTA_US = 1_000;

/** CPU units per vCPU in ECS task definitions (`cpu: 1024` is one vCPU). */
export const CPU_UNITS_PER_VCPU = 1024;

/** Smallest cpu.shares the kernel accepts (Docker and the ECS agent raise smaller values to it). */
export const MIN_CPU_SHARES = 2;

function resourcesOf(d: Spec): LinuxResources {
  d.linux ??= {};
  d.linux.resources ??= {};
  return d.linux.resources;
}

function cpuOf(d: Spec): LinuxCpu {
  const r = resourcesOf(d);
  r.cpu ??= {};
  return r.cpu;
}

function memoryOf(d: Spec): LinuxMemory {
  const r = resourcesOf(d);
  r.memory ??= {};
  return r.memory;
}

/** Sets the relative CPU weight (cpu.shares; 2..262144). */
export function withCpuShares(shares: number): SpecOpt {
  return (spec) =>
    checkInteger("withCpuShares", "shares", shares, MIN_CPU_SHARES, 262_144).map(() =>
      editSpec(spec, (d) => {
        cpuOf(d).shares = shares;
      }),
    );
}

function checkQuota(option: string, quotaUs: number, periodUs: number): Result<void, ContainerdError> {
  if (quotaUs !== -1 && (!Number.isSafeInteger(quotaUs) || quotaUs < MIN_CPU_QUOTA_US)) {
    return err(invalidOption(option, `quota must be -1 or an integer >= ${MIN_CPU_QUOTA_US} µs, got ${quotaUs}`));
  }
  return checkInteger(option, "period", periodUs, 1_000, 1_000_000).map(() => undefined);
}

function setQuota(spec: Spec, quotaUs: number, periodUs: number): Spec {
  return editSpec(spec, (d) => {
    const cpu = cpuOf(d);
    cpu.quota = quotaUs;
    cpu.period = periodUs;
  });
}

/** Sets the CFS quota and period in microseconds (quota -1 removes the limit). */
export function withCpuQuota(quotaUs: number, periodUs: number = DEFAULT_CPU_PERIOD_US): SpecOpt {
  return (spec) => checkQuota("withCpuQuota", quotaUs, periodUs).map(() => setQuota(spec, quotaUs, periodUs));
}

/**
 * Limits the container to `vcpus` CPUs' worth of time (`ctr run --cpus`, `docker --cpus`):
 * quota = vcpus × 100000 µs per 100000 µs period (at least 1 ms). `0.5` is half a CPU.
 */
export function withCpus(vcpus: number): SpecOpt {
  return (spec) => {
    if (!Number.isFinite(vcpus) || vcpus <= 0) {
      return err(invalidOption("withCpus", `vcpus must be a positive number, got ${vcpus}`));
    }
    const quota = Math.max(MIN_CPU_QUOTA_US, Math.trunc(vcpus * DEFAULT_CPU_PERIOD_US));
    return checkQuota("withCpus", quota, DEFAULT_CPU_PERIOD_US).map(() => setQuota(spec, quota, DEFAULT_CPU_PERIOD_US));
  };
}

/** How {@link withCpuUnits} applies ECS CPU units. */
export interface CpuUnitsOptions {
  /** Also cap CPU time at units / 1024 vCPUs (CFS quota), as ECS does for a task-level `cpu`. Default false. */
  readonly limit?: boolean;
}

/**
 * Applies an ECS-style `cpu` value (1024 units = 1 vCPU): cpu.shares = units (at least 2, as the
 * ECS agent does for 0 and 1), and with `limit` a CFS quota of units / 1024 vCPUs.
 */
export function withCpuUnits(units: number, options: CpuUnitsOptions = {}): SpecOpt {
  return (spec) =>
    checkInteger("withCpuUnits", "units", units, 0, 262_144).andThen(() => {
      const shares = Math.max(MIN_CPU_SHARES, units);
      if (options.limit === true && units === 0) {
        return err(invalidOption("withCpuUnits", "a CPU limit needs units > 0"));
      }
      const quota =
        options.limit === true
          ? Math.max(MIN_CPU_QUOTA_US, Math.round((units * DEFAULT_CPU_PERIOD_US) / CPU_UNITS_PER_VCPU))
          : undefined;
      return ok(
        editSpec(spec, (d) => {
          const cpu = cpuOf(d);
          cpu.shares = shares;
          if (quota !== undefined) {
            cpu.quota = quota;
            cpu.period = DEFAULT_CPU_PERIOD_US;
          }
        }),
      );
    });
}

/** Pins the container to CPUs (and optionally memory nodes), cpuset syntax: `"0-1"`, `"0,2"`. */
export function withCpuset(cpus: string, mems?: string): SpecOpt {
  const syntax = /^\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*$/;
  return (spec) => {
    if (!syntax.test(cpus))
      return err(invalidOption("withCpuset", `cpus ${JSON.stringify(cpus)} is not a cpuset list`));
    if (mems !== undefined && !syntax.test(mems)) {
      return err(invalidOption("withCpuset", `mems ${JSON.stringify(mems)} is not a cpuset list`));
    }
    return ok(
      editSpec(spec, (d) => {
        const cpu = cpuOf(d);
        cpu.cpus = cpus;
        if (mems !== undefined) cpu.mems = mems;
      }),
    );
  };
}

/** Sets the hard memory limit in bytes (ECS `memory` is MiB: multiply by 1024 × 1024). At least 6 MiB. */
export function withMemoryLimit(bytes: number): SpecOpt {
  return (spec) =>
    checkInteger("withMemoryLimit", "bytes", bytes, 6 * 1024 * 1024).map(() =>
      editSpec(spec, (d) => {
        memoryOf(d).limit = bytes;
      }),
    );
}

/** Sets the soft memory limit in bytes (ECS `memoryReservation`, in MiB there). */
export function withMemoryReservation(bytes: number): SpecOpt {
  return (spec) =>
    checkInteger("withMemoryReservation", "bytes", bytes, 0).andThen(() => {
      const limit = spec.linux?.resources?.memory?.limit;
      if (limit !== undefined && limit > 0 && bytes > limit) {
        return err(invalidOption("withMemoryReservation", `reservation ${bytes} exceeds the memory limit ${limit}`));
      }
      return ok(
        editSpec(spec, (d) => {
          memoryOf(d).reservation = bytes;
        }),
      );
    });
}

/** Sets the memory + swap limit in bytes (-1: unlimited swap). */
export function withMemorySwap(bytes: number): SpecOpt {
  return (spec) => {
    if (bytes !== -1 && (!Number.isSafeInteger(bytes) || bytes < 0)) {
      return err(invalidOption("withMemorySwap", `bytes must be -1 or a non-negative integer, got ${bytes}`));
    }
    return ok(
      editSpec(spec, (d) => {
        memoryOf(d).swap = bytes;
      }),
    );
  };
}

/** Limits the number of tasks (processes and threads) in the container; 0 or -1 removes the limit. */
export function withPidsLimit(limit: number): SpecOpt {
  return (spec) =>
    checkInteger("withPidsLimit", "limit", limit, -1).map(() =>
      editSpec(spec, (d) => {
        resourcesOf(d).pids = { limit };
      }),
    );
}
