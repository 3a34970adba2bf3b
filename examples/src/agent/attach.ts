// Re-attaching to a task after its agent process died. The containers outlive the agent (containerd's shims own
// them), and so does everything else the task made (namespace, CNI attachment, ENI stand-in, task directory): the
// task record (state.ts) says where each piece is, containerd says which containers still run. attachTask puts a
// live AgentTask back together from both, and its stop() removes everything as runTask's stop() would have.
import { execFile } from "node:child_process";
import { constants as fsConstants, lstatSync, openSync, readdirSync } from "node:fs";
import { rm } from "node:fs/promises";
import { Socket } from "node:net";
import { tmpdir } from "node:os";
import { basename, dirname, join } from "node:path";
import { promisify } from "node:util";
import { createCni, parseConfList } from "@berth/cni";
import { type Containerd, type ProcessState, removeContainer, type Spec } from "@berth/containerd";
import { createTaskRegistry, type MetadataServer, startMetadataServer } from "@berth/metadata";
import { deleteNetns } from "@berth/netns";
import { AgentError } from "./errors.js";
import {
  execHealthProbe,
  type HealthMonitor,
  type HealthState,
  healthCheckArgs,
  startHealthMonitor,
} from "./health.js";
import { type AgentResult, err, ok } from "./result.js";
import { type AgentContainer, type AgentEvent, type AgentTask, DEFAULT_AGENT_STATE_DIR } from "./run-task.js";
import {
  claimTaskRecord,
  processStartTime,
  type RuntimeContainer,
  readTaskRecord,
  removeTaskRecord,
  TASK_RECORD_VERSION,
  type TaskRecord,
  type TaskRuntime,
  writeTaskRecord,
} from "./state.js";

const execFileAsync = promisify(execFile);

/** What containerd says about one recorded container when the agent re-attaches. */
export type ObservedContainer =
  | { readonly status: "running"; readonly pid: number }
  | { readonly status: "exited"; readonly exitCode: number }
  /** The container or its task no longer exists (removed by hand, or the containerd namespace is gone). */
  | { readonly status: "missing" };

/** Progress of a re-attach: the task's usual events, plus what was found for each container and what was lost. */
export type AttachEvent =
  | AgentEvent
  | { readonly kind: "found"; readonly container: string; readonly observed: ObservedContainer }
  | { readonly kind: "lost"; readonly what: string };

/** What {@link attachTask} needs. */
export interface AttachOptions {
  /** containerd client in the task's recorded namespace (`record.runtime.namespace`). */
  readonly containerd: Containerd;
  /** Where the task record is (default {@link DEFAULT_AGENT_STATE_DIR}). */
  readonly stateDir?: string;
  /** Grace period between SIGTERM and SIGKILL on stop (default: the one the task was started with). */
  readonly stopGraceMs?: number;
  /** Receives output of containers without a logConfiguration from now on (see docs/agent.md, Restarts). */
  readonly onOutput?: (container: string, stream: "stdout" | "stderr", chunk: Buffer) => void;
  readonly onEvent?: (event: AttachEvent) => void;
}

/** A task taken over by {@link attachTask}. */
export interface AttachedTask extends AgentTask {
  /** What was found changed while no agent ran (containers exited or gone, metadata endpoint not restored...). */
  readonly notes: readonly string[];
  /** Set when the task could not keep running (an essential container exited, every container is done): it is
   *  already being stopped, and {@link AgentTask.done} settles with this reason once everything is removed. */
  readonly stopReason: string | undefined;
}

/** What {@link assessTask} concludes from the observed containers. */
export interface Assessment {
  /** Why the task has to stop now, if it has to. */
  readonly stopReason: string | undefined;
  /** One line per container that changed while no agent ran. */
  readonly notes: readonly string[];
}

/**
 * Decides what re-attaching means for a task: ECS's essential semantics applied to what happened while no agent
 * ran. An essential container that exited (or is gone) stops the task; so does every container being done. A
 * container the dead agent had already seen exit (metadata `knownStatus` `STOPPED`) is not news.
 */
export function assessTask(runtime: TaskRuntime, observed: ReadonlyMap<string, ObservedContainer>): Assessment {
  const notes: string[] = [];
  let stopReason: string | undefined;
  const seenStopped = new Set(
    runtime.metadata.task.containers.filter((c) => c.knownStatus === "STOPPED").map((c) => c.runtimeId),
  );
  for (const c of runtime.containers) {
    const o = observed.get(c.name) ?? { status: "missing" };
    if (o.status === "running") continue;
    const what = o.status === "exited" ? `exited with ${o.exitCode}` : "is gone from containerd";
    if (!(o.status === "exited" && seenStopped.has(c.id))) notes.push(`${c.name} ${what} while no agent ran`);
    if (c.essential && stopReason === undefined) stopReason = `essential container ${c.name} ${what}`;
  }
  if (stopReason === undefined && runtime.containers.every((c) => observed.get(c.name)?.status !== "running")) {
    stopReason = "every container has exited";
  }
  return { stopReason, notes };
}

/** The FIFO directory `createFifoIO` made for a pipe-stdio container, from one of its FIFO paths. */
export function fifoDirOf(path: string): string | undefined {
  if (!path.startsWith("/")) return undefined;
  const dir = dirname(path);
  return basename(dir).startsWith("berth-fifo-") ? dir : undefined;
}

/**
 * The FIFO directories `createFifoIO` made (in `parent`, the OS temp dir by default) for a container id, found by
 * their files (`<id>-stdout`, `<id>-stderr`): how the teardown finds them when containerd no longer knows the task.
 */
export function fifoDirsFor(containerId: string, parent: string = tmpdir()): string[] {
  let names: string[];
  try {
    names = readdirSync(parent).filter((n) => n.startsWith("berth-fifo-"));
  } catch {
    return [];
  }
  return names
    .map((n) => join(parent, n))
    .filter((dir) => ["stdout", "stderr"].some((s) => isFifo(join(dir, `${containerId}-${s}`))));
}

function isFifo(path: string): boolean {
  try {
    return lstatSync(path).isFIFO();
  } catch {
    return false;
  }
}

/** Reads a container's output FIFO again (the shim keeps writing to it); resolves when the stream ends. */
function reopenFifo(path: string, onChunk: (chunk: Buffer) => void): { done: Promise<void>; close(): void } {
  let socket: Socket | undefined;
  try {
    socket = new Socket({ fd: openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK), readable: true });
  } catch {
    return { done: Promise.resolve(), close: () => {} };
  }
  const s = socket;
  const done = new Promise<void>((resolve) => {
    s.on("data", onChunk);
    s.once("end", resolve);
    s.once("close", () => resolve());
    s.once("error", () => resolve());
  });
  return { done, close: () => s.destroy() };
}

const settle = (p: Promise<unknown>, ms: number) =>
  Promise.race([p.then(() => undefined), new Promise<void>((r) => setTimeout(r, ms).unref())]);

interface Live {
  readonly rc: RuntimeContainer;
  readonly observed: ObservedContainer;
  readonly container: AgentContainer;
  readonly fifoDirs: readonly string[];
  readonly closeOutput: () => void;
  readonly output: Promise<void>;
  exitedNow: boolean;
}

async function observe(
  client: Containerd,
  rc: RuntimeContainer,
): Promise<AgentResult<{ observed: ObservedContainer; state: ProcessState | undefined }>> {
  const task = await client.tasks.get(rc.id);
  if (task.isOk()) {
    const s = task.value;
    const observed: ObservedContainer =
      s.status === "stopped" ? { status: "exited", exitCode: s.exitStatus } : { status: "running", pid: s.pid };
    return ok({ observed, state: s });
  }
  if (task.error.code !== "NotFound") {
    return err(
      new AgentError("ContainerFailed", `asking containerd about ${rc.name} (${rc.id}): ${task.error.message}`, {
        container: rc.name,
        cause: task.error,
      }),
    );
  }
  return ok({ observed: { status: "missing" }, state: undefined });
}

/**
 * Takes over a task whose agent process is gone, in this process: reads its record (`<stateDir>/running/<id>.json`),
 * finds its containers in containerd, waits for their exits again, reads pipe-stdio containers' output FIFOs again,
 * restarts the metadata server on the same host and port with the same endpoint ids and task state (so the
 * containers' `ECS_CONTAINER_METADATA_URI_V4` keeps working), and resumes essential-exit semantics. The record is
 * claimed for this process (its pid). Returns a task whose `stop()` removes everything as runTask's does, and the
 * record too.
 *
 * What happened meanwhile is applied at once: when an essential container exited (or is gone) or every container
 * is done, the returned task is already stopping ({@link AttachedTask.stopReason}); await `done` or `stop()`. Parts
 * found missing (containers, namespace, CNI state) are skipped by the teardown and listed in
 * {@link AttachedTask.notes}. Fails (`StateFailed`) when there is no record, when it predates re-attach support
 * (version 1), when its agent still runs, or (`ContainerFailed`) when containerd cannot be asked.
 */
export async function attachTask(id: string, options: AttachOptions): Promise<AgentResult<AttachedTask>> {
  const client = options.containerd;
  const stateDir = options.stateDir ?? DEFAULT_AGENT_STATE_DIR;
  const emit = options.onEvent ?? (() => {});
  const read = await readTaskRecord(stateDir, id);
  if (!read.ok) return read;
  const record = read.value;
  if (record === undefined) {
    return err(new AgentError("StateFailed", `no task ${id} is recorded in ${stateDir} (see \`pnpm berth task ls\`)`));
  }
  const rt = record.runtime;
  if (rt === undefined) {
    return err(
      new AgentError(
        "StateFailed",
        `task ${id} was recorded by an agent without re-attach support (record version 1): remove its containers ` +
          `(namespace berth-agent), its network namespace ${record.netns} and the record by hand`,
      ),
    );
  }
  if (client.namespace !== rt.namespace) {
    return err(
      new AgentError(
        "StateFailed",
        `task ${id}'s containers are in containerd namespace ${rt.namespace}, but the client is in ` +
          `${client.namespace}: create the client with namespace ${rt.namespace}`,
      ),
    );
  }
  // Refuses a live agent, and another process re-attaching at the same moment.
  const claimed = await claimTaskRecord(stateDir, id);
  if (!claimed.ok) return claimed;

  // 1. What containerd still has.
  const observed = new Map<string, ObservedContainer>();
  const states = new Map<string, ProcessState | undefined>();
  for (const rc of rt.containers) {
    const o = await observe(client, rc);
    if (!o.ok) {
      await writeTaskRecord(stateDir, claimed.value); // give it back, untouched
      return o;
    }
    observed.set(rc.name, o.value.observed);
    states.set(rc.name, o.value.state);
    emit({ kind: "found", container: rc.name, observed: o.value.observed });
  }
  const assessment = assessTask(rt, observed);
  const notes = [...assessment.notes];
  const lost = (what: string) => {
    notes.push(what);
    emit({ kind: "lost", what });
  };
  for (const n of assessment.notes) emit({ kind: "lost", what: n });

  // 2. The metadata server, on the address and port baked into the containers' environment, serving what it did.
  const arn = rt.metadata.task.arn;
  const registry = createTaskRegistry();
  const registered = registry.registerTask(rt.metadata.task, rt.metadata.endpoints);
  if (registered.isErr()) lost(`the recorded task metadata could not be registered again: ${registered.error.message}`);
  let server: MetadataServer | undefined;
  const metadataUrl = `http://${rt.metadata.host}:${rt.metadata.port}`;
  if (registered.isOk() && assessment.stopReason === undefined) {
    const served = await startMetadataServer({ provider: registry, host: rt.metadata.host, port: rt.metadata.port });
    if (served.isOk()) {
      server = served.value;
      emit({ kind: "metadata", url: server.url });
    } else {
      lost(`the metadata server could not listen on ${metadataUrl} again (${served.error.message})`);
    }
  }

  // 3. The containers: exit waits, output, health checks, essential semantics.
  const live: Live[] = [];
  const monitors: HealthMonitor[] = [];
  const reportHealth = (runtimeId: string, health: HealthState) => {
    registry.updateContainer(arn, runtimeId, { health });
  };
  for (const rc of rt.containers) {
    const o = observed.get(rc.name) ?? ({ status: "missing" } as const);
    const state = states.get(rc.name);
    const fifos = [state?.stdout, state?.stderr].filter((p): p is string => p !== undefined && isFifo(p));
    // From containerd's view of the task, and (for a task it no longer knows) from the FIFOs' names.
    const fifoDirs = [
      ...new Set([...fifos.map(fifoDirOf).filter((d): d is string => d !== undefined), ...fifoDirsFor(rc.id)]),
    ];
    const readers =
      o.status === "missing"
        ? []
        : fifos.map((path) =>
            reopenFifo(path, (chunk) =>
              options.onOutput?.(rc.name, path === state?.stderr ? "stderr" : "stdout", chunk),
            ),
          );
    const output = Promise.all(readers.map((r) => r.done)).then(() => undefined);
    const recorded = rt.metadata.task.containers.find((c) => c.runtimeId === rc.id);
    let exited: Promise<number>;
    if (o.status === "running") {
      exited = Promise.resolve(client.tasks.wait(rc.id)).then(async (r) => {
        await settle(output, 2000);
        return r.isOk() ? r.value.exitStatus : 255;
      });
    } else {
      exited = Promise.resolve(o.status === "exited" ? o.exitCode : (recorded?.exitCode ?? 255));
    }
    const entry: Live = {
      rc,
      observed: o,
      fifoDirs,
      output,
      closeOutput: () => {
        for (const r of readers) r.close();
      },
      exitedNow: o.status !== "running",
      container: {
        name: rc.name,
        id: rc.id,
        pid: o.status === "running" ? o.pid : 0,
        essential: rc.essential,
        exited,
        ...(rc.logPath === undefined ? {} : { logPath: rc.logPath }),
      },
    };
    live.push(entry);
    // The health check starts over (UNKNOWN, first check one interval from now); until it decides, the metadata
    // keeps reporting the health recorded last.
    let monitor: HealthMonitor | undefined;
    const check = rc.healthCheck;
    if (o.status === "running" && check && assessment.stopReason === undefined) {
      const got = await client.containers.get(rc.id);
      if (got.isOk() && got.value.spec) {
        const probe = execHealthProbe(client, rc.id, got.value.spec as Spec, healthCheckArgs(check.command));
        const m = startHealthMonitor(rc.name, check, probe, (h) => {
          reportHealth(rc.id, h);
          emit({ kind: "health", container: rc.name, status: h.status });
        });
        monitor = m;
        monitors.push(m);
        Object.defineProperty(entry.container, "health", { get: () => m.state, enumerable: true });
      } else {
        lost(`the health check of ${rc.name} could not be restarted: ${got.isErr() ? got.error.message : "no spec"}`);
      }
    }
    if (o.status === "exited" && recorded?.knownStatus !== "STOPPED") {
      registry.updateContainer(arn, rc.id, { knownStatus: "STOPPED", exitCode: o.exitCode, finishedAt: new Date() });
    }
    if (o.status === "running") {
      void exited.then((code) => {
        void monitor?.stop();
        entry.exitedNow = true;
        registry.updateContainer(arn, rc.id, { knownStatus: "STOPPED", exitCode: code, finishedAt: new Date() });
        emit({ kind: "exited", container: rc.name, exitCode: code, essential: rc.essential });
      });
    }
  }

  // 4. stop(): SIGTERM (dependents first), SIGKILL after the grace period, then the teardown in runTask's order.
  let stopping: Promise<AgentResult<void>> | undefined;
  let resolveDone: (reason: string) => void = () => {};
  const done = new Promise<string>((r) => {
    resolveDone = r;
  });
  const teardown = async (): Promise<string[]> => {
    const problems: string[] = [];
    const step = async (what: string, run: () => Promise<string | undefined>) => {
      const problem = await run().catch((e: unknown) => String(e));
      if (problem !== undefined) problems.push(`${what}: ${problem}`);
    };
    for (const l of [...live].reverse()) {
      await step(`remove container ${l.rc.id}`, async () => {
        const r = await removeContainer(client, l.rc.id, { snapshotter: rt.snapshotter });
        await settle(l.output, 2000);
        l.closeOutput();
        for (const dir of l.fifoDirs) await rm(dir, { recursive: true, force: true });
        return r.isErr() ? r.error.message : undefined;
      });
    }
    await step("close the metadata server", async () => {
      registry.clear();
      const r = server ? await server.close() : undefined;
      return r?.isErr() ? r.error.message : undefined;
    });
    await step("CNI DEL", async () => {
      const list = parseConfList(rt.cni.config);
      if (list.isErr()) return `the recorded network configuration does not parse: ${list.error.message}`;
      const cni = createCni({ cniPath: rt.cni.cniPath, cacheDir: rt.cni.cacheDir });
      // Without the namespace (gone already) plugins release what they hold outside it (IPAM leases, host ends).
      const netnsThere = lstatExists(rt.netns.path);
      const attachment = {
        containerId: rt.cni.containerId,
        ifName: rt.cni.ifName,
        ...(netnsThere ? { netns: rt.netns.path } : {}),
      };
      const r = await cni.del(list.value, attachment, { timeoutMs: 60_000 });
      return r.isErr() ? r.error.message : undefined;
    });
    const eniHost = rt.eniHostInterface;
    if (eniHost !== undefined) {
      await step(`delete the ENI stand-in ${eniHost}`, async () => {
        try {
          await execFileAsync("ip", ["link", "del", eniHost]);
          return undefined;
        } catch (e) {
          const stderr = (e as { stderr?: string }).stderr?.trim() ?? "";
          // Gone already (its pair went with a deleted namespace, or someone removed it): nothing to do.
          return /Cannot find device|does not exist/.test(stderr) ? undefined : stderr || (e as Error).message;
        }
      });
    }
    await step(`delete network namespace ${rt.netns.name}`, async () => {
      const r = await deleteNetns(rt.netns.path);
      return r.isErr() ? r.error.message : undefined;
    });
    await step(`remove ${rt.taskDir}`, () => rm(rt.taskDir, { recursive: true, force: true }).then(() => undefined));
    await step("remove the task record", async () => {
      const r = await removeTaskRecord(stateDir, id);
      return r.ok ? undefined : r.error.message;
    });
    return problems;
  };
  const stop: AgentTask["stop"] = (stopOptions = {}) => {
    stopping ??= (async () => {
      const reason = stopOptions.reason ?? "stopped";
      emit({ kind: "stopping", reason });
      registry.updateTask(arn, { desiredStatus: "STOPPED" });
      await Promise.all(monitors.map((m) => m.stop()));
      const grace = stopOptions.graceMs ?? options.stopGraceMs ?? rt.stopGraceMs;
      await Promise.all(
        [...live].reverse().map(async (l) => {
          if (l.exitedNow) return;
          await client.tasks.kill(l.rc.id, "SIGTERM", { all: true });
          let timer: NodeJS.Timeout | undefined;
          const timedOut = new Promise<"timeout">((r) => {
            timer = setTimeout(() => r("timeout"), grace);
          });
          const first = await Promise.race([l.container.exited, timedOut]);
          clearTimeout(timer);
          if (first === "timeout") {
            await client.tasks.kill(l.rc.id, "SIGKILL", { all: true });
            await l.container.exited;
          }
        }),
      );
      registry.updateTask(arn, { knownStatus: "STOPPED", executionStoppedAt: new Date() });
      const problems = await teardown();
      emit({ kind: "stopped" });
      resolveDone(reason);
      if (problems.length > 0) {
        return err<void>(new AgentError("CleanupFailed", `stopping task ${id} left: ${problems.join("; ")}`));
      }
      return ok(undefined);
    })();
    return stopping;
  };

  const runtime = (): TaskRuntime => ({
    ...rt,
    metadata: { ...rt.metadata, task: registry.task(arn) ?? rt.metadata.task },
  });
  const task: AttachedTask = {
    id,
    arn: record.arn,
    family: record.family,
    ip: record.ip,
    netnsPath: rt.netns.path,
    metadataUrl,
    containers: live.map((l) => l.container),
    done,
    stop,
    runtime,
    notes,
    stopReason: assessment.stopReason,
  };

  // 5. Record what this agent serves, then apply what happened while no agent ran.
  const saved = await writeTaskRecord(stateDir, claim(record, runtime()));
  if (!saved.ok) lost(`the task record could not be updated: ${saved.error.message}`);
  if (assessment.stopReason !== undefined) {
    void stop({ reason: `${assessment.stopReason} while no agent ran` });
  } else {
    for (const l of live) {
      if (l.observed.status !== "running") continue;
      void l.container.exited.then((code) => {
        if (l.rc.essential) void stop({ reason: `essential container ${l.rc.name} exited with ${code}` });
      });
    }
  }
  return ok(task);
}

function lstatExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** The record with this process as the task's agent. */
function claim(record: TaskRecord, runtime: TaskRuntime): TaskRecord {
  const startTime = processStartTime(process.pid);
  const { agentStartTime: _previous, ...rest } = record;
  return {
    ...rest,
    version: TASK_RECORD_VERSION,
    pid: process.pid,
    ...(startTime === undefined ? {} : { agentStartTime: startTime }),
    runtime,
  };
}
