import type { ResultAsync } from "neverthrow";
import type { ContainerdError } from "./errors.js";
import { ContainerCreate, ContainerDelete, ContainerUpdate } from "./gen/containerd/events/container.js";
import { ImageCreate, ImageDelete, ImageUpdate } from "./gen/containerd/events/image.js";
import { NamespaceCreate, NamespaceDelete, NamespaceUpdate } from "./gen/containerd/events/namespace.js";
import {
  TaskCreate,
  TaskDelete,
  TaskExecAdded,
  TaskExecStarted,
  TaskExit,
  TaskOOM,
  TaskPaused,
  TaskResumed,
  TaskStart,
} from "./gen/containerd/events/task.js";
import { EventsClient } from "./gen/containerd/services/events/v1/events.js";
import type { Any } from "./gen/google/protobuf/any.js";
import type { AnyMessage } from "./spec/index.js";
import type { CallOptions } from "./transport.js";
import { type Labels, type ServiceContext, toDate } from "./types.js";

/** The decoded payload of an event, discriminated by `type` (containerd's message name). */
export type EventPayload =
  | { readonly type: "TaskCreate"; readonly containerId: string; readonly pid: number; readonly bundle: string }
  | { readonly type: "TaskStart"; readonly containerId: string; readonly pid: number }
  | {
      readonly type: "TaskExit";
      readonly containerId: string;
      /** Exec id, or the container id for the init process. */
      readonly id: string;
      readonly pid: number;
      readonly exitStatus: number;
      readonly exitedAt: Date | undefined;
    }
  | {
      readonly type: "TaskDelete";
      readonly containerId: string;
      readonly id: string;
      readonly pid: number;
      readonly exitStatus: number;
      readonly exitedAt: Date | undefined;
    }
  | { readonly type: "TaskOOM"; readonly containerId: string }
  | { readonly type: "TaskExecAdded"; readonly containerId: string; readonly execId: string }
  | { readonly type: "TaskExecStarted"; readonly containerId: string; readonly execId: string; readonly pid: number }
  | { readonly type: "TaskPaused"; readonly containerId: string }
  | { readonly type: "TaskResumed"; readonly containerId: string }
  | { readonly type: "ContainerCreate"; readonly id: string; readonly image: string; readonly runtime: string }
  | { readonly type: "ContainerUpdate"; readonly id: string; readonly image: string; readonly labels: Labels }
  | { readonly type: "ContainerDelete"; readonly id: string }
  | { readonly type: "ImageCreate" | "ImageUpdate"; readonly name: string; readonly labels: Labels }
  | { readonly type: "ImageDelete"; readonly name: string }
  | { readonly type: "NamespaceCreate" | "NamespaceUpdate"; readonly name: string; readonly labels: Labels }
  | { readonly type: "NamespaceDelete"; readonly name: string }
  /** Any other event, undecoded. */
  | { readonly type: "Other"; readonly payload: AnyMessage | undefined };

/** One event from containerd's event stream. */
export interface ContainerdEvent {
  readonly timestamp: Date | undefined;
  readonly namespace: string;
  /** e.g. `/tasks/exit`, `/containers/create`. */
  readonly topic: string;
  readonly event: EventPayload;
}

/** Decodes an event's Any by its type URL (containerd uses the bare message name, with or without a prefix). */
export function decodeEvent(any: Any | undefined): EventPayload {
  if (!any) return { type: "Other", payload: undefined };
  const name = any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1);
  const v = any.value;
  switch (name) {
    case "containerd.events.TaskCreate": {
      const e = TaskCreate.decode(v);
      return { type: "TaskCreate", containerId: e.containerId, pid: e.pid, bundle: e.bundle };
    }
    case "containerd.events.TaskStart": {
      const e = TaskStart.decode(v);
      return { type: "TaskStart", containerId: e.containerId, pid: e.pid };
    }
    case "containerd.events.TaskExit": {
      const e = TaskExit.decode(v);
      return {
        type: "TaskExit",
        containerId: e.containerId,
        id: e.id,
        pid: e.pid,
        exitStatus: e.exitStatus,
        exitedAt: toDate(e.exitedAt),
      };
    }
    case "containerd.events.TaskDelete": {
      const e = TaskDelete.decode(v);
      return {
        type: "TaskDelete",
        containerId: e.containerId,
        id: e.id,
        pid: e.pid,
        exitStatus: e.exitStatus,
        exitedAt: toDate(e.exitedAt),
      };
    }
    case "containerd.events.TaskOOM":
      return { type: "TaskOOM", containerId: TaskOOM.decode(v).containerId };
    case "containerd.events.TaskExecAdded": {
      const e = TaskExecAdded.decode(v);
      return { type: "TaskExecAdded", containerId: e.containerId, execId: e.execId };
    }
    case "containerd.events.TaskExecStarted": {
      const e = TaskExecStarted.decode(v);
      return { type: "TaskExecStarted", containerId: e.containerId, execId: e.execId, pid: e.pid };
    }
    case "containerd.events.TaskPaused":
      return { type: "TaskPaused", containerId: TaskPaused.decode(v).containerId };
    case "containerd.events.TaskResumed":
      return { type: "TaskResumed", containerId: TaskResumed.decode(v).containerId };
    case "containerd.events.ContainerCreate": {
      const e = ContainerCreate.decode(v);
      return { type: "ContainerCreate", id: e.id, image: e.image, runtime: e.runtime?.name ?? "" };
    }
    case "containerd.events.ContainerUpdate": {
      const e = ContainerUpdate.decode(v);
      return { type: "ContainerUpdate", id: e.id, image: e.image, labels: { ...e.labels } };
    }
    case "containerd.events.ContainerDelete":
      return { type: "ContainerDelete", id: ContainerDelete.decode(v).id };
    case "containerd.services.images.v1.ImageCreate": {
      const e = ImageCreate.decode(v);
      return { type: "ImageCreate", name: e.name, labels: { ...e.labels } };
    }
    case "containerd.services.images.v1.ImageUpdate": {
      const e = ImageUpdate.decode(v);
      return { type: "ImageUpdate", name: e.name, labels: { ...e.labels } };
    }
    case "containerd.services.images.v1.ImageDelete":
      return { type: "ImageDelete", name: ImageDelete.decode(v).name };
    case "containerd.events.NamespaceCreate": {
      const e = NamespaceCreate.decode(v);
      return { type: "NamespaceCreate", name: e.name, labels: { ...e.labels } };
    }
    case "containerd.events.NamespaceUpdate": {
      const e = NamespaceUpdate.decode(v);
      return { type: "NamespaceUpdate", name: e.name, labels: { ...e.labels } };
    }
    case "containerd.events.NamespaceDelete":
      return { type: "NamespaceDelete", name: NamespaceDelete.decode(v).name };
    default:
      return { type: "Other", payload: { typeUrl: any.typeUrl, value: new Uint8Array(v) } };
  }
}

/** containerd's Events service. */
export class Events {
  readonly #s: ServiceContext;
  readonly #c: EventsClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(EventsClient);
  }

  /**
   * Subscribes to events (of every namespace: the daemon does not scope subscriptions; add a
   * filter such as `namespace==ns` and/or `topic~="/tasks/"`; events matching ANY filter are
   * delivered). Iterate with `for await`; break or abort `options.signal` to unsubscribe.
   * A broken stream throws a {@link ContainerdError}.
   */
  async *subscribe(
    filters: readonly string[] = [],
    options: CallOptions = {},
  ): AsyncGenerator<ContainerdEvent, void, undefined> {
    const stream = this.#s.transport.serverStream(
      this.#c,
      this.#c.subscribe,
      "Events.Subscribe",
      { filters: [...filters] },
      this.#s.context(options),
    );
    for await (const e of stream) {
      yield { timestamp: toDate(e.timestamp), namespace: e.namespace, topic: e.topic, event: decodeEvent(e.event) };
    }
  }

  /** Publishes an event on `topic` (e.g. `/berth/custom`) in the client's namespace. */
  publish(topic: string, event: AnyMessage, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.publish,
        "Events.Publish",
        { topic, event: { typeUrl: event.typeUrl, value: Buffer.from(event.value) } },
        this.#s.context(options),
        `topic ${topic}`,
      )
      .map(() => undefined);
  }
}
