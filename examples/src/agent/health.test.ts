import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type HealthProbe, type HealthState, healthCheckArgs, startHealthMonitor } from "./health.js";
import type { HealthCheckDefinition } from "./task-definition.js";

const check = (fields: Partial<HealthCheckDefinition> = {}): HealthCheckDefinition => ({
  command: ["CMD", "true"],
  interval: 5,
  timeout: 2,
  retries: 3,
  startPeriod: 0,
  ...fields,
});

/** A probe answering with `codes` in turn (the last one repeated), recording when it ran (seconds since start). */
function scripted(codes: number[]) {
  const calls: number[] = [];
  const t0 = Date.now();
  const probe: HealthProbe = async () => {
    calls.push((Date.now() - t0) / 1000);
    return { exitCode: codes[Math.min(calls.length - 1, codes.length - 1)] ?? 0 };
  };
  return { probe, calls };
}

const never = new Promise<number>(() => {});

describe("healthCheckArgs", () => {
  it("runs CMD-SHELL through /bin/sh -c (joining its parts) and CMD as is", () => {
    expect(healthCheckArgs(["CMD-SHELL", "curl -f http://localhost/ || exit 1"])).toEqual([
      "/bin/sh",
      "-c",
      "curl -f http://localhost/ || exit 1",
    ]);
    expect(healthCheckArgs(["CMD-SHELL", "test", "-f /ready"])).toEqual(["/bin/sh", "-c", "test -f /ready"]);
    expect(healthCheckArgs(["CMD", "/bin/check", "--quick"])).toEqual(["/bin/check", "--quick"]);
  });
});

describe("startHealthMonitor", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("checks first after one interval, then every interval; a pass makes the container HEALTHY", async () => {
    const { probe, calls } = scripted([0]);
    const changes: HealthState[] = [];
    const m = startHealthMonitor("db", check(), probe, (s) => changes.push(s));
    expect(m.state.status).toBe("UNKNOWN");
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(m.state.status).toBe("HEALTHY");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toEqual([5, 10, 15]);
    expect(changes.map((s) => s.status)).toEqual(["HEALTHY"]);
    await m.stop();
  });

  it("becomes UNHEALTHY after `retries` consecutive failures, recording the exit code, and recovers on a pass", async () => {
    const { probe } = scripted([1, 0, 2, 2, 3, 0]);
    const changes: string[] = [];
    const m = startHealthMonitor("db", check({ retries: 3 }), probe, (s) =>
      changes.push(`${s.status}${s.exitCode === undefined ? "" : ` ${s.exitCode}`}`),
    );
    await vi.advanceTimersByTimeAsync(5000); // 1: fail (streak 1)
    expect(m.state).toMatchObject({ status: "UNKNOWN", exitCode: 1 });
    await vi.advanceTimersByTimeAsync(5000); // 0: pass
    await vi.advanceTimersByTimeAsync(10_000); // 2, 2: streak 2
    expect(m.state).toMatchObject({ status: "HEALTHY", exitCode: 2 });
    await vi.advanceTimersByTimeAsync(5000); // 3: streak 3
    expect(m.state).toMatchObject({ status: "UNHEALTHY", exitCode: 3 });
    await vi.advanceTimersByTimeAsync(5000); // 0: pass again
    expect(m.state.status).toBe("HEALTHY");
    expect(changes).toEqual(["HEALTHY", "UNHEALTHY 3", "HEALTHY"]);
    await m.stop();
  });

  it("does not count failures within startPeriod while the status is still UNKNOWN", async () => {
    const { probe } = scripted([1]);
    const m = startHealthMonitor("db", check({ retries: 1, startPeriod: 12 }), probe);
    await vi.advanceTimersByTimeAsync(10_000); // checks at 5 s and 10 s fail inside the start period
    expect(m.state.status).toBe("UNKNOWN");
    await vi.advanceTimersByTimeAsync(5000); // 15 s: counts
    expect(m.state.status).toBe("UNHEALTHY");
    await m.stop();
  });

  it("counts failures inside startPeriod once the container has been HEALTHY", async () => {
    const { probe } = scripted([0, 1]);
    const m = startHealthMonitor("db", check({ retries: 1, startPeriod: 60 }), probe);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(m.state.status).toBe("UNHEALTHY");
    await m.stop();
  });

  it("waitHealthy settles ok once HEALTHY", async () => {
    const { probe } = scripted([1, 0]);
    const m = startHealthMonitor("db", check(), probe);
    const waiting = m.waitHealthy(never);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await waiting).toEqual({ ok: true, value: undefined });
    // Already HEALTHY: settles at once.
    expect(await m.waitHealthy(never)).toEqual({ ok: true, value: undefined });
    await m.stop();
  });

  it("waitHealthy fails with DependencyFailed once UNHEALTHY", async () => {
    const { probe } = scripted([7]);
    const m = startHealthMonitor("db", check({ retries: 2 }), probe);
    const waiting = m.waitHealthy(never);
    await vi.advanceTimersByTimeAsync(10_000);
    const r = await waiting;
    expect(!r.ok && r.error.code).toBe("DependencyFailed");
    expect(!r.ok && r.error.message).toBe(
      "db became UNHEALTHY: its health check failed 2 time(s) in a row (last exit code 7)",
    );
    await m.stop();
  });

  it("waitHealthy fails when the container exits before a check passes, and on abort", async () => {
    const { probe } = scripted([1]);
    const m = startHealthMonitor("db", check(), probe);
    const r = await m.waitHealthy(Promise.resolve(4));
    expect(!r.ok && r.error.message).toBe("db exited with 4 before its health check passed");
    const controller = new AbortController();
    const waiting = m.waitHealthy(never, controller.signal);
    controller.abort();
    const aborted = await waiting;
    expect(!aborted.ok && aborted.error.code).toBe("Aborted");
    await m.stop();
  });

  it("stop abandons a check in flight and runs no more", async () => {
    let seen: AbortSignal | undefined;
    let calls = 0;
    let timeoutMs = 0;
    const probe: HealthProbe = (timeout, signal) => {
      calls += 1;
      timeoutMs = timeout;
      seen = signal;
      return new Promise((resolve) => signal.addEventListener("abort", () => resolve({ exitCode: -1 })));
    };
    const m = startHealthMonitor("db", check(), probe);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toBe(1);
    expect(timeoutMs).toBe(2000);
    await m.stop();
    expect(seen?.aborted).toBe(true);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(1);
    expect(m.state.status).toBe("UNKNOWN");
  });
});
