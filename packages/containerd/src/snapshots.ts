import { ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { Kind, SnapshotsClient, type Info as WireInfo } from "./gen/containerd/services/snapshots/v1/snapshots.js";
import type { SnapshotMount } from "./spec/index.js";
import type { CallOptions } from "./transport.js";
import { type Labels, mountFromWire, quoted, type ServiceContext, toDate } from "./types.js";

/** The kind of a snapshot. */
export type SnapshotKind = "view" | "active" | "committed" | "unknown";

/** A snapshot's metadata. */
export interface SnapshotInfo {
  /** Key (active/view) or name (committed). */
  readonly name: string;
  readonly parent: string;
  readonly kind: SnapshotKind;
  readonly labels: Labels;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

/** Disk usage of a snapshot. Sizes are numbers of bytes (exact below 2^53). */
export interface SnapshotUsage {
  readonly size: number;
  readonly inodes: number;
}

function kindOf(k: Kind): SnapshotKind {
  if (k === Kind.VIEW) return "view";
  if (k === Kind.ACTIVE) return "active";
  if (k === Kind.COMMITTED) return "committed";
  return "unknown";
}

function infoFromWire(i: WireInfo | undefined, key: string): SnapshotInfo {
  return {
    name: i?.name ?? key,
    parent: i?.parent ?? "",
    kind: kindOf(i?.kind ?? Kind.UNKNOWN),
    labels: { ...(i?.labels ?? {}) },
    createdAt: toDate(i?.createdAt),
    updatedAt: toDate(i?.updatedAt),
  };
}

/** containerd's Snapshots service for one snapshotter (e.g. `overlayfs`). */
export class Snapshots {
  readonly #s: ServiceContext;
  readonly #c: SnapshotsClient;
  /** The snapshotter every call addresses. */
  readonly snapshotter: string;

  /** @internal */
  constructor(s: ServiceContext, snapshotter: string, client?: SnapshotsClient) {
    this.#s = s;
    this.snapshotter = snapshotter;
    this.#c = client ?? s.transport.client(SnapshotsClient);
  }

  /** The same service for another snapshotter. */
  using(snapshotter: string): Snapshots {
    return new Snapshots(this.#s, snapshotter, this.#c);
  }

  #res(key: string): string {
    return `${quoted("snapshot", key)} (snapshotter ${this.snapshotter})`;
  }

  /** Creates an active (writable) snapshot on top of `parent` (a committed name, or "" for none) and returns its mounts. */
  prepare(
    key: string,
    parent = "",
    labels: Labels = {},
    options: CallOptions = {},
  ): ResultAsync<readonly SnapshotMount[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.prepare,
        "Snapshots.Prepare",
        { snapshotter: this.snapshotter, key, parent, labels: { ...labels } },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => r.mounts.map(mountFromWire));
  }

  /** Creates a read-only view of `parent` and returns its mounts. */
  view(
    key: string,
    parent: string,
    labels: Labels = {},
    options: CallOptions = {},
  ): ResultAsync<readonly SnapshotMount[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.view,
        "Snapshots.View",
        { snapshotter: this.snapshotter, key, parent, labels: { ...labels } },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => r.mounts.map(mountFromWire));
  }

  /** The mounts of an active snapshot or view. */
  mounts(key: string, options: CallOptions = {}): ResultAsync<readonly SnapshotMount[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.mounts,
        "Snapshots.Mounts",
        { snapshotter: this.snapshotter, key },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => r.mounts.map(mountFromWire));
  }

  /** Commits active snapshot `key` as the committed snapshot `name`. */
  commit(
    name: string,
    key: string,
    labels: Labels = {},
    options: CallOptions = {},
  ): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.commit,
        "Snapshots.Commit",
        { snapshotter: this.snapshotter, name, key, labels: { ...labels }, parent: "" },
        this.#s.context(options),
        this.#res(key),
      )
      .map(() => undefined);
  }

  /** Removes a snapshot (`FailedPrecondition` while it has children). */
  remove(key: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.remove,
        "Snapshots.Remove",
        { snapshotter: this.snapshotter, key },
        this.#s.context(options),
        this.#res(key),
      )
      .map(() => undefined);
  }

  /** A snapshot's metadata (`NotFound` if missing). */
  stat(key: string, options: CallOptions = {}): ResultAsync<SnapshotInfo, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.stat,
        "Snapshots.Stat",
        { snapshotter: this.snapshotter, key },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => infoFromWire(r.info, key));
  }

  /** Disk usage of a snapshot. */
  usage(key: string, options: CallOptions = {}): ResultAsync<SnapshotUsage, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.usage,
        "Snapshots.Usage",
        { snapshotter: this.snapshotter, key },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => ({ size: Number(r.size), inodes: Number(r.inodes) }));
  }

  /** Sets labels on a snapshot (an empty value removes the key). */
  setLabels(key: string, labels: Labels, options: CallOptions = {}): ResultAsync<SnapshotInfo, ContainerdError> {
    const info: WireInfo = {
      name: key,
      parent: "",
      kind: Kind.UNKNOWN,
      createdAt: undefined,
      updatedAt: undefined,
      labels: { ...labels },
    };
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.update,
        "Snapshots.Update",
        { snapshotter: this.snapshotter, info, updateMask: Object.keys(labels).map((k) => `labels.${k}`) },
        this.#s.context(options),
        this.#res(key),
      )
      .map((r) => infoFromWire(r.info, key));
  }

  /** Snapshots matching any of the filters (all when none). */
  list(
    filters: readonly string[] = [],
    options: CallOptions = {},
  ): ResultAsync<readonly SnapshotInfo[], ContainerdError> {
    const stream = this.#s.transport.serverStream(
      this.#c,
      this.#c.list,
      "Snapshots.List",
      { snapshotter: this.snapshotter, filters: [...filters] },
      this.#s.context(options),
    );
    return collect(stream, (r) => r.info.map((i) => infoFromWire(i, i.name)));
  }
}

/** @internal Drains a server stream into an array, as a ResultAsync. */
export function collect<Res, T>(
  stream: AsyncIterable<Res>,
  map: (r: Res) => readonly T[],
): ResultAsync<readonly T[], ContainerdError> {
  return ResultAsync.fromPromise(
    (async () => {
      const out: T[] = [];
      for await (const r of stream) out.push(...map(r));
      return out;
    })(),
    (e) => (ContainerdError.is(e) ? e : new ContainerdError("Unknown", String(e), { cause: e })),
  );
}
