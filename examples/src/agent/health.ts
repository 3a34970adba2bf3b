import { randomBytes } from "node:crypto";
import { type Containerd, execProcess, type Spec } from "@berth/containerd";
import { AgentError } from "./errors.js";
import { type AgentResult, err, ok } from "./result.js";
import type { HealthCheckDefinition } from "./task-definition.js";

/** A container's health as ECS reports it: UNKNOWN until the first check decides (Docker's "starting"). */
export type HealthStatus = "UNKNOWN" | "HEALTHY" | "UNHEALTHY";

/** The current health of a container with a `healthCheck`. */
export interface HealthState {
  readonly status: HealthStatus;
  /** When the status last changed. */
  readonly since: Date;
  /** The exit code of the last failing check (-1 when it timed out or could not run). */
  readonly exitCode?: number;
}

/** One check's outcome: exit code 0 passes; -1 means it timed out or could not be run (`error` says why). */
export interface ProbeResult {
  readonly exitCode: number;
  readonly error?: string;
}

/** Runs the check once, giving up after `timeoutMs`, or at once when `signal` aborts. */
export type HealthProbe = (timeoutMs: number, signal: AbortSignal) => Promise<ProbeResult>;

/** Runs a container's health check every `interval` seconds and tracks its status. */
export interface HealthMonitor {
  readonly state: HealthState;
  /**
   * Settles once the container is HEALTHY (ok), or fails with `DependencyFailed` when it becomes UNHEALTHY or
   * `exited` settles first, or with `Aborted` when `signal` aborts.
   */
  waitHealthy(exited: Promise<number>, signal?: AbortSignal): Promise<AgentResult<void>>;
  /** Stops checking (a check in flight is abandoned and its process killed); idempotent. */
  stop(): Promise<void>;
}

/** The program to exec for an ECS health-check command: `CMD-SHELL` runs `/bin/sh -c`, `CMD` runs the rest as is. */
export function healthCheckArgs(command: readonly string[]): string[] {
  const [kind, ...rest] = command;
  // Docker joins a multi-part CMD-SHELL into one shell command.
  return kind === "CMD-SHELL" ? ["/bin/sh", "-c", rest.join(" ")] : rest;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener("abort", done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
  });
}

/**
 * Starts checking as Docker (and so ECS) does: the first check `interval` after start, then every `interval`; a pass
 * makes the container HEALTHY, `retries` consecutive failures make it UNHEALTHY; failures while it is still UNKNOWN
 * within `startPeriod` of the start do not count. A later pass makes an UNHEALTHY container HEALTHY again.
 */
export function startHealthMonitor(
  name: string,
  check: HealthCheckDefinition,
  probe: HealthProbe,
  onChange: (state: HealthState) => void = () => {},
): HealthMonitor {
  const startedAt = Date.now();
  const controller = new AbortController();
  const listeners = new Set<() => void>();
  let state: HealthState = { status: "UNKNOWN", since: new Date() };
  let streak = 0;
  const set = (status: HealthStatus, exitCode?: number) => {
    const changed = status !== state.status;
    state = {
      status,
      since: changed ? new Date() : state.since,
      ...(exitCode === undefined ? {} : { exitCode }),
    };
    if (changed) {
      onChange(state);
      for (const l of [...listeners]) l();
    }
  };
  const loop = (async () => {
    const signal = controller.signal;
    while (!signal.aborted) {
      await sleep(check.interval * 1000, signal);
      if (signal.aborted) break;
      const probeStarted = Date.now();
      const r = await probe(check.timeout * 1000, signal);
      if (signal.aborted) break;
      if (r.exitCode === 0) {
        streak = 0;
        set("HEALTHY");
        continue;
      }
      const grace = state.status === "UNKNOWN" && probeStarted - startedAt < check.startPeriod * 1000;
      if (grace) continue;
      streak += 1;
      set(streak >= check.retries ? "UNHEALTHY" : state.status, r.exitCode);
    }
  })();
  return {
    get state() {
      return state;
    },
    waitHealthy(exited, signal) {
      return new Promise((resolve) => {
        let settled = false;
        const finish = (r: AgentResult<void>) => {
          if (settled) return;
          settled = true;
          listeners.delete(onStatus);
          signal?.removeEventListener("abort", onAbort);
          resolve(r);
        };
        const onStatus = () => {
          if (state.status === "HEALTHY") finish(ok(undefined));
          else if (state.status === "UNHEALTHY") {
            finish(
              err(
                new AgentError(
                  "DependencyFailed",
                  `${name} became UNHEALTHY: its health check failed ${check.retries} time(s) in a row` +
                    (state.exitCode === undefined ? "" : ` (last exit code ${state.exitCode})`),
                  { container: name },
                ),
              ),
            );
          }
        };
        const onAbort = () =>
          finish(err(new AgentError("Aborted", `waiting for ${name} to be HEALTHY was aborted`, { container: name })));
        listeners.add(onStatus);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (signal?.aborted) onAbort();
        onStatus();
        void exited.then((code) =>
          finish(
            err(
              new AgentError("DependencyFailed", `${name} exited with ${code} before its health check passed`, {
                container: name,
              }),
            ),
          ),
        );
      });
    },
    async stop() {
      controller.abort();
      await loop;
    },
  };
}

let probes = 0;

/**
 * A probe that execs `args` inside the running container `containerId` (created with `spec`) through containerd,
 * without stdio, as the container's user and environment. A check that outlives its timeout is killed (SIGKILL) and
 * counts as failed; the exec'd process is always deleted again.
 */
export function execHealthProbe(
  client: Containerd,
  containerId: string,
  spec: Spec,
  args: readonly string[],
): HealthProbe {
  return async (timeoutMs, signal) => {
    const process = execProcess(spec, { args });
    if (process.isErr()) return { exitCode: -1, error: process.error.message };
    probes += 1;
    const execId = `health-${probes}-${randomBytes(3).toString("hex")}`;
    const made = await client.tasks.exec(containerId, { execId, process: process.value });
    if (made.isErr()) return { exitCode: -1, error: made.error.message };
    try {
      const waited = client.tasks.wait(containerId, execId);
      const started = await client.tasks.start(containerId, execId);
      if (started.isErr()) return { exitCode: -1, error: started.error.message };
      let timer: NodeJS.Timeout | undefined;
      let onAbort = () => {};
      const stopped = new Promise<"timeout">((resolve) => {
        onAbort = () => resolve("timeout");
        timer = setTimeout(onAbort, timeoutMs);
        signal.addEventListener("abort", onAbort, { once: true });
        if (signal.aborted) onAbort();
      });
      const first = await Promise.race([waited, stopped]);
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      if (first === "timeout") {
        await client.tasks.kill(containerId, "SIGKILL", { execId });
        await waited;
        return { exitCode: -1, error: `the check did not finish within ${timeoutMs} ms` };
      }
      return first.isOk() ? { exitCode: first.value.exitStatus } : { exitCode: -1, error: first.error.message };
    } finally {
      await client.tasks.deleteProcess(containerId, execId);
    }
  };
}
