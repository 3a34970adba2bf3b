import { err, ok, type Result, type ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import {
  ContainersClient,
  type Container as WireContainer,
} from "./gen/containerd/services/containers/v1/containers.js";
import { type AnyMessage, SPEC_TYPE_URL } from "./spec/index.js";
import type { CallOptions } from "./transport.js";
import { anyFromWire, anyToWire, type Labels, quoted, type ServiceContext, toDate } from "./types.js";

/** The runtime (shim) a container's task runs with, e.g. `io.containerd.runc.v2`, and its options. */
export interface RuntimeChoice {
  readonly name: string;
  readonly options?: AnyMessage;
}

/** A container record (metadata only; its process is a task). */
export interface Container {
  readonly id: string;
  readonly image: string;
  readonly labels: Labels;
  readonly runtime: RuntimeChoice;
  /** The OCI runtime spec, parsed from its JSON, when it has one. */
  readonly spec: unknown;
  readonly snapshotter: string;
  readonly snapshotKey: string;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
  readonly extensions: Readonly<Record<string, AnyMessage>>;
}

/** What {@link Containers.create} needs. */
export interface NewContainer {
  readonly id: string;
  readonly image?: string;
  readonly labels?: Labels;
  readonly runtime: RuntimeChoice;
  /** The OCI runtime spec object; sent as JSON with {@link SPEC_TYPE_URL}. */
  readonly spec: object;
  readonly snapshotter?: string;
  readonly snapshotKey?: string;
  readonly extensions?: Readonly<Record<string, AnyMessage>>;
}

/** Fields {@link Containers.update} can change; only the ones present are sent in the field mask. */
export interface ContainerUpdate {
  readonly image?: string;
  /** Labels to set (an empty value removes the key). */
  readonly labels?: Labels;
  readonly spec?: object;
  readonly snapshotKey?: string;
  readonly snapshotter?: string;
  readonly runtime?: RuntimeChoice;
}

function fromWire(c: WireContainer): Container {
  const raw = c.spec?.value;
  let spec: unknown;
  if (raw && raw.length > 0) {
    try {
      spec = JSON.parse(raw.toString("utf8"));
    } catch {
      spec = undefined;
    }
  }
  const rtOptions = anyFromWire(c.runtime?.options);
  const extensions: Record<string, AnyMessage> = {};
  for (const [k, v] of Object.entries(c.extensions)) {
    const a = anyFromWire(v);
    if (a) extensions[k] = a;
  }
  return {
    id: c.id,
    image: c.image,
    labels: { ...c.labels },
    runtime: { name: c.runtime?.name ?? "", ...(rtOptions ? { options: rtOptions } : {}) },
    spec,
    snapshotter: c.snapshotter,
    snapshotKey: c.snapshotKey,
    createdAt: toDate(c.createdAt),
    updatedAt: toDate(c.updatedAt),
    extensions,
  };
}

function specAny(spec: object) {
  return { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
}

/** containerd's Containers service: container records (the metadata a task is created from). */
export class Containers {
  readonly #s: ServiceContext;
  readonly #c: ContainersClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(ContainersClient);
  }

  /** Creates a container record. */
  create(c: NewContainer, options: CallOptions = {}): ResultAsync<Container, ContainerdError> {
    const ext: WireContainer["extensions"] = {};
    for (const [k, v] of Object.entries(c.extensions ?? {})) ext[k] = anyToWire(v);
    const container: WireContainer = {
      id: c.id,
      labels: { ...(c.labels ?? {}) },
      image: c.image ?? "",
      runtime: { name: c.runtime.name, options: c.runtime.options ? anyToWire(c.runtime.options) : undefined },
      spec: specAny(c.spec),
      snapshotter: c.snapshotter ?? "",
      snapshotKey: c.snapshotKey ?? "",
      createdAt: undefined,
      updatedAt: undefined,
      extensions: ext,
      sandbox: "",
    };
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.create,
        "Containers.Create",
        { container },
        this.#s.context(options),
        quoted("container", c.id),
      )
      .map((r) => fromWire(r.container ?? container));
  }

  /** One container (`NotFound` if missing). */
  get(id: string, options: CallOptions = {}): ResultAsync<Container, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.get, "Containers.Get", { id }, this.#s.context(options), quoted("container", id))
      .andThen((r) => this.#required(r.container, id));
  }

  #required(c: WireContainer | undefined, id: string): Result<Container, ContainerdError> {
    return c ? ok(fromWire(c)) : err(new ContainerdError("NotFound", `container ${JSON.stringify(id)}: empty answer`));
  }

  /**
   * Containers matching any of the filters (containerd filter syntax, e.g. `labels."app"==web`,
   * `id~=^web-`); all when none.
   */
  list(filters: readonly string[] = [], options: CallOptions = {}): ResultAsync<readonly Container[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.list, "Containers.List", { filters: [...filters] }, this.#s.context(options))
      .map((r) => r.containers.map(fromWire));
  }

  /** Updates the given fields (sent as a field mask; labels per key). */
  update(id: string, u: ContainerUpdate, options: CallOptions = {}): ResultAsync<Container, ContainerdError> {
    const mask: string[] = [];
    if (u.image !== undefined) mask.push("image");
    for (const k of Object.keys(u.labels ?? {})) mask.push(`labels.${k}`);
    if (u.spec !== undefined) mask.push("spec");
    if (u.snapshotKey !== undefined) mask.push("snapshotkey");
    if (u.snapshotter !== undefined) mask.push("snapshotter");
    if (u.runtime !== undefined) mask.push("runtime");
    const container: WireContainer = {
      id,
      labels: { ...(u.labels ?? {}) },
      image: u.image ?? "",
      runtime: u.runtime
        ? { name: u.runtime.name, options: u.runtime.options ? anyToWire(u.runtime.options) : undefined }
        : undefined,
      spec: u.spec === undefined ? undefined : specAny(u.spec),
      snapshotter: u.snapshotter ?? "",
      snapshotKey: u.snapshotKey ?? "",
      createdAt: undefined,
      updatedAt: undefined,
      extensions: {},
      sandbox: "",
    };
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.update,
        "Containers.Update",
        { container, updateMask: mask },
        this.#s.context(options),
        quoted("container", id),
      )
      .map((r) => fromWire(r.container ?? container));
  }

  /** Deletes a container record (its task must be deleted first). */
  delete(id: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.delete, "Containers.Delete", { id }, this.#s.context(options), quoted("container", id))
      .map(() => undefined);
  }
}
