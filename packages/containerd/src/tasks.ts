import { constants as osConstants } from "node:os";
import { err, errAsync, ok, type Result, type ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { TasksClient } from "./gen/containerd/services/tasks/v1/tasks.js";
import { Status, type Process as WireProcess } from "./gen/containerd/types/task/task.js";
import { decodeMetrics, type TaskMetrics } from "./metrics.js";
import { type AnyMessage, PROCESS_TYPE_URL, type SnapshotMount } from "./spec/index.js";
import type { CallOptions } from "./transport.js";
import {
  anyToWire,
  type Descriptor,
  descriptorFromWire,
  mountToWire,
  quoted,
  type ServiceContext,
  toDate,
} from "./types.js";

/** A signal by number or name (`SIGTERM`, `TERM`). */
export type SignalLike = number | string;

/** Resolves a signal name or number to its number (Linux numbering, from Node's os.constants). */
export function signalNumber(signal: SignalLike): Result<number, ContainerdError> {
  if (typeof signal === "number") {
    return Number.isInteger(signal) && signal > 0 && signal < 65
      ? ok(signal)
      : err(
          new ContainerdError("InvalidArgument", `signal ${signal} is out of range: use 1..64 or a name like SIGTERM`),
        );
  }
  const upper = signal.toUpperCase();
  const name = (upper.startsWith("SIG") ? upper : `SIG${upper}`) as keyof typeof osConstants.signals;
  const n = osConstants.signals[name];
  return n === undefined
    ? err(
        new ContainerdError(
          "InvalidArgument",
          `unknown signal ${JSON.stringify(signal)}: use a name like SIGTERM or a number`,
        ),
      )
    : ok(n);
}

/** A process's stdio: FIFO paths, or for stdout/stderr `file://` / `binary://` URIs; empty for none. */
export interface StdioPaths {
  readonly stdin?: string;
  readonly stdout?: string;
  readonly stderr?: string;
  /** Allocate a pty (stdout carries both streams; no stderr). */
  readonly terminal?: boolean;
}

/** What {@link Tasks.create} needs besides the container id. */
export interface NewTask extends StdioPaths {
  /** Root filesystem mounts (usually `snapshots.mounts(container.snapshotKey)`). */
  readonly rootfs?: readonly SnapshotMount[];
  /** Runtime options for this task, e.g. {@link runcOptionsAny}. */
  readonly options?: AnyMessage;
  /** Shim binary path instead of the one the runtime name resolves to. */
  readonly runtimePath?: string;
  /** Checkpoint to restore from. */
  readonly checkpoint?: Descriptor;
}

/** How a process ended. */
export interface ExitStatus {
  /** Exit code; 128+N when killed by signal N (as runc reports it). */
  readonly exitStatus: number;
  readonly exitedAt: Date | undefined;
}

/** The state of a process. */
export type ProcessStatus = "created" | "running" | "stopped" | "paused" | "pausing" | "unknown";

/** A task's (or exec'd process's) state. */
export interface ProcessState {
  readonly containerId: string;
  /** Exec id; empty for the init process. */
  readonly id: string;
  readonly pid: number;
  readonly status: ProcessStatus;
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly terminal: boolean;
  readonly exitStatus: number;
  readonly exitedAt: Date | undefined;
}

/** What {@link Tasks.exec} needs. */
export interface NewExec extends StdioPaths {
  readonly execId: string;
  /** The OCI runtime spec `process` object (args, env, cwd, user, terminal...). */
  readonly process: object;
}

function statusName(s: Status): ProcessStatus {
  switch (s) {
    case Status.CREATED:
      return "created";
    case Status.RUNNING:
      return "running";
    case Status.STOPPED:
      return "stopped";
    case Status.PAUSED:
      return "paused";
    case Status.PAUSING:
      return "pausing";
    default:
      return "unknown";
  }
}

function processFromWire(p: WireProcess | undefined, containerId: string): ProcessState {
  return {
    containerId: p?.containerId ?? containerId,
    id: p?.id ?? "",
    pid: p?.pid ?? 0,
    status: statusName(p?.status ?? Status.UNKNOWN),
    stdin: p?.stdin ?? "",
    stdout: p?.stdout ?? "",
    stderr: p?.stderr ?? "",
    terminal: p?.terminal ?? false,
    exitStatus: p?.exitStatus ?? 0,
    exitedAt: toDate(p?.exitedAt),
  };
}

/** containerd's Tasks service: the running side of containers. An empty `execId` means the init process. */
export class Tasks {
  readonly #s: ServiceContext;
  readonly #c: TasksClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(TasksClient);
  }

  /** Creates the task (init process, not yet started) of a container; returns its pid. */
  create(containerId: string, t: NewTask = {}, options: CallOptions = {}): ResultAsync<number, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.create,
        "Tasks.Create",
        {
          containerId,
          rootfs: (t.rootfs ?? []).map(mountToWire),
          stdin: t.stdin ?? "",
          stdout: t.stdout ?? "",
          stderr: t.stderr ?? "",
          terminal: t.terminal ?? false,
          checkpoint: t.checkpoint
            ? {
                mediaType: t.checkpoint.mediaType,
                digest: t.checkpoint.digest,
                size: BigInt(t.checkpoint.size),
                annotations: {},
              }
            : undefined,
          options: t.options ? anyToWire(t.options) : undefined,
          runtimePath: t.runtimePath ?? "",
          taskApiAddress: "",
          taskApiVersion: 0,
        },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map((r) => r.pid);
  }

  /** Starts the init process (or an exec'd one); returns its pid. Call {@link Tasks.wait} first. */
  start(containerId: string, execId = "", options: CallOptions = {}): ResultAsync<number, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.start,
        "Tasks.Start",
        { containerId, execId },
        this.#s.context(options),
        this.#res(containerId, execId),
      )
      .map((r) => r.pid);
  }

  /**
   * Waits for a process to exit. Blocks until then: start waiting before {@link Tasks.start} so a
   * fast exit is not missed. No deadline unless `options.timeoutMs` is given.
   */
  wait(containerId: string, execId = "", options: CallOptions = {}): ResultAsync<ExitStatus, ContainerdError> {
    const ctx = { ...this.#s.context(options), timeoutMs: options.timeoutMs };
    return this.#s.transport
      .unary(this.#c, this.#c.wait, "Tasks.Wait", { containerId, execId }, ctx, this.#res(containerId, execId))
      .map((r) => ({ exitStatus: r.exitStatus, exitedAt: toDate(r.exitedAt) }));
  }

  /** Sends a signal to a process; `all` signals every process of the container. */
  kill(
    containerId: string,
    signal: SignalLike = "SIGTERM",
    opts: { readonly execId?: string; readonly all?: boolean } = {},
    options: CallOptions = {},
  ): ResultAsync<void, ContainerdError> {
    const n = signalNumber(signal);
    if (n.isErr()) return errAsync(n.error);
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.kill,
        "Tasks.Kill",
        { containerId, execId: opts.execId ?? "", signal: n.value, all: opts.all ?? false },
        this.#s.context(options),
        this.#res(containerId, opts.execId ?? ""),
      )
      .map(() => undefined);
  }

  /** Deletes a stopped task; returns its exit status. */
  delete(
    containerId: string,
    options: CallOptions = {},
  ): ResultAsync<ExitStatus & { readonly pid: number }, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.delete,
        "Tasks.Delete",
        { containerId },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map((r) => ({ pid: r.pid, exitStatus: r.exitStatus, exitedAt: toDate(r.exitedAt) }));
  }

  /** Deletes an exited exec'd process; returns its exit status. */
  deleteProcess(
    containerId: string,
    execId: string,
    options: CallOptions = {},
  ): ResultAsync<ExitStatus & { readonly pid: number }, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.deleteProcess,
        "Tasks.DeleteProcess",
        { containerId, execId },
        this.#s.context(options),
        this.#res(containerId, execId),
      )
      .map((r) => ({ pid: r.pid, exitStatus: r.exitStatus, exitedAt: toDate(r.exitedAt) }));
  }

  /** The state of the init process or an exec'd one. */
  get(containerId: string, execId = "", options: CallOptions = {}): ResultAsync<ProcessState, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.get,
        "Tasks.Get",
        { containerId, execId },
        this.#s.context(options),
        this.#res(containerId, execId),
      )
      .map((r) => processFromWire(r.process, containerId));
  }

  /** Every task of the namespace (optionally filtered). */
  list(filter = "", options: CallOptions = {}): ResultAsync<readonly ProcessState[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.list, "Tasks.List", { filter }, this.#s.context(options))
      .map((r) => r.tasks.map((p) => processFromWire(p, p.containerId)));
  }

  /** Adds a process to a running task (start it with `start(containerId, execId)`). */
  exec(containerId: string, e: NewExec, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.exec,
        "Tasks.Exec",
        {
          containerId,
          execId: e.execId,
          stdin: e.stdin ?? "",
          stdout: e.stdout ?? "",
          stderr: e.stderr ?? "",
          terminal: e.terminal ?? false,
          spec: { typeUrl: PROCESS_TYPE_URL, value: Buffer.from(JSON.stringify(e.process)) },
        },
        this.#s.context(options),
        this.#res(containerId, e.execId),
      )
      .map(() => undefined);
  }

  /** Pids of the task's processes. */
  pids(containerId: string, options: CallOptions = {}): ResultAsync<readonly number[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.listPids,
        "Tasks.ListPids",
        { containerId },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map((r) => r.processes.map((p) => p.pid));
  }

  /** Freezes the task's processes. */
  pause(containerId: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.pause,
        "Tasks.Pause",
        { containerId },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map(() => undefined);
  }

  /** Thaws a paused task. */
  resume(containerId: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.resume,
        "Tasks.Resume",
        { containerId },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map(() => undefined);
  }

  /**
   * Checkpoints a task with CRIU (needs criu on the host; `FailedPrecondition`/`Unknown` otherwise).
   * Returns the checkpoint's blobs in the content store.
   */
  checkpoint(
    containerId: string,
    opts: { readonly parent?: string; readonly options?: AnyMessage } = {},
    options: CallOptions = {},
  ): ResultAsync<readonly Descriptor[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.checkpoint,
        "Tasks.Checkpoint",
        {
          containerId,
          parentCheckpoint: opts.parent ?? "",
          options: opts.options ? anyToWire(opts.options) : undefined,
        },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .map((r) => r.descriptors.map(descriptorFromWire));
  }

  /** Resource usage of one task, decoded from cgroups v1 or v2 metrics. */
  metrics(containerId: string, options: CallOptions = {}): ResultAsync<TaskMetrics, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.metrics,
        "Tasks.Metrics",
        { filters: [`id==${containerId}`] },
        this.#s.context(options),
        quoted("task", containerId),
      )
      .andThen((r) => {
        const m = r.metrics.find((x) => x.id === containerId) ?? r.metrics[0];
        const decoded = decodeMetrics(m?.data);
        return decoded
          ? ok(decoded)
          : err(
              new ContainerdError(
                "Unimplemented",
                `task ${JSON.stringify(containerId)}: no cgroups v1/v2 metrics in the answer (type ${m?.data?.typeUrl ?? "none"})`,
              ),
            );
      });
  }

  /** Closes a process's stdin (the process then reads EOF). */
  closeIO(containerId: string, execId = "", options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.closeIo,
        "Tasks.CloseIO",
        { containerId, execId, stdin: true },
        this.#s.context(options),
        this.#res(containerId, execId),
      )
      .map(() => undefined);
  }

  /** Resizes a process's pty. */
  resizePty(
    containerId: string,
    size: { readonly width: number; readonly height: number },
    execId = "",
    options: CallOptions = {},
  ): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.resizePty,
        "Tasks.ResizePty",
        { containerId, execId, width: size.width, height: size.height },
        this.#s.context(options),
        this.#res(containerId, execId),
      )
      .map(() => undefined);
  }

  #res(containerId: string, execId: string): string {
    return execId
      ? `process ${JSON.stringify(execId)} of task ${JSON.stringify(containerId)}`
      : quoted("task", containerId);
  }
}
