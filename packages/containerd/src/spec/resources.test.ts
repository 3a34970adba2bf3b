import { describe, expect, it } from "vitest";
import { applySpecOpts, type SpecOpt } from "./build.js";
import { defaultSpec } from "./defaults.js";
import {
  withCpuQuota,
  withCpuShares,
  withCpus,
  withCpuset,
  withCpuUnits,
  withMemoryLimit,
  withMemoryReservation,
  withMemorySwap,
  withPidsLimit,
} from "./resources.js";

const ctx = { namespace: "test", id: "r1" };
const run = (...opts: SpecOpt[]) => applySpecOpts(defaultSpec(ctx), ctx, ...opts);

describe("CPU options", () => {
  it("withCpuShares sets the weight within the kernel's range", async () => {
    expect((await run(withCpuShares(512)))._unsafeUnwrap().linux?.resources?.cpu).toEqual({ shares: 512 });
    expect((await run(withCpuShares(1)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withCpuShares(1.5)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withCpus turns vCPUs into quota per 100 ms, like ctr --cpus", async () => {
    expect((await run(withCpus(1.5)))._unsafeUnwrap().linux?.resources?.cpu).toEqual({ quota: 150000, period: 100000 });
    expect((await run(withCpus(0.25)))._unsafeUnwrap().linux?.resources?.cpu?.quota).toBe(25000);
    expect((await run(withCpus(0.001)))._unsafeUnwrap().linux?.resources?.cpu?.quota).toBe(1000);
    expect((await run(withCpus(0)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withCpus(Number.NaN)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withCpuQuota accepts -1 (unlimited) and rejects quotas below 1 ms", async () => {
    expect((await run(withCpuQuota(-1)))._unsafeUnwrap().linux?.resources?.cpu).toEqual({ quota: -1, period: 100000 });
    expect((await run(withCpuQuota(50000, 50000)))._unsafeUnwrap().linux?.resources?.cpu?.period).toBe(50000);
    expect((await run(withCpuQuota(999)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withCpuQuota(10000, 10)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withCpuUnits maps ECS units to shares (at least 2) and optionally a quota", async () => {
    expect((await run(withCpuUnits(256)))._unsafeUnwrap().linux?.resources?.cpu).toEqual({ shares: 256 });
    expect((await run(withCpuUnits(0)))._unsafeUnwrap().linux?.resources?.cpu).toEqual({ shares: 2 });
    expect((await run(withCpuUnits(512, { limit: true })))._unsafeUnwrap().linux?.resources?.cpu).toEqual({
      shares: 512,
      quota: 50000,
      period: 100000,
    });
    expect((await run(withCpuUnits(2048, { limit: true })))._unsafeUnwrap().linux?.resources?.cpu?.quota).toBe(200000);
    expect((await run(withCpuUnits(0, { limit: true })))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect((await run(withCpuUnits(-5)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withCpuset pins CPUs and memory nodes", async () => {
    expect((await run(withCpuset("0-1,3", "0")))._unsafeUnwrap().linux?.resources?.cpu).toEqual({
      cpus: "0-1,3",
      mems: "0",
    });
    expect((await run(withCpuset("a")))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("CPU options combine", async () => {
    const cpu = (await run(withCpuShares(100), withCpus(2)))._unsafeUnwrap().linux?.resources?.cpu;
    expect(cpu).toEqual({ shares: 100, quota: 200000, period: 100000 });
  });
});

describe("memory and pids options", () => {
  const MiB = 1024 * 1024;

  it("sets limit, reservation and swap in bytes, keeping the device rules", async () => {
    const spec = (
      await run(withMemoryLimit(512 * MiB), withMemoryReservation(256 * MiB), withMemorySwap(-1))
    )._unsafeUnwrap();
    expect(spec.linux?.resources?.memory).toEqual({ limit: 512 * MiB, reservation: 256 * MiB, swap: -1 });
    expect(spec.linux?.resources?.devices?.length).toBe(10);
  });

  it("rejects limits too small to start a process, and a reservation above the limit", async () => {
    expect((await run(withMemoryLimit(MiB)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
    expect(
      (await run(withMemoryLimit(64 * MiB), withMemoryReservation(128 * MiB)))._unsafeUnwrapErr().message,
    ).toContain("exceeds");
    expect((await run(withMemorySwap(-2)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });

  it("withPidsLimit sets the task limit", async () => {
    expect((await run(withPidsLimit(64)))._unsafeUnwrap().linux?.resources?.pids).toEqual({ limit: 64 });
    expect((await run(withPidsLimit(-2)))._unsafeUnwrapErr().code).toBe("InvalidArgument");
  });
});
