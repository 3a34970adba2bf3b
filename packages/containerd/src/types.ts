import type { Descriptor as WireDescriptor } from "./gen/containerd/types/descriptor.js";
import type { Mount as WireMount } from "./gen/containerd/types/mount.js";
import type { Any as WireAny } from "./gen/google/protobuf/any.js";
import type { Timestamp } from "./gen/google/protobuf/timestamp.js";
import type { AnyMessage, SnapshotMount } from "./spec/index.js";
import type { CallContext, CallOptions, Transport } from "./transport.js";

/**
 * Number conventions of the public API: sizes, offsets, pids and exit statuses are `number`
 * (exact up to 2^53: 8 PiB, far beyond any blob or snapshot); counters that can pass 2^53
 * (cgroup CPU nanoseconds, byte counters in metrics) are `bigint`. Timestamps are `Date`.
 */
export type Labels = Readonly<Record<string, string>>;

/** An OCI content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  /** `sha256:<hex>`. */
  readonly digest: string;
  readonly size: number;
  readonly annotations?: Labels;
}

/** @internal Everything a service needs: the transport and how to merge per-call options. */
export interface ServiceContext {
  readonly transport: Transport;
  readonly context: (options: CallOptions) => CallContext;
}

/** @internal */
export function toDate(ts: Timestamp | undefined): Date | undefined {
  if (!ts) return undefined;
  return new Date(Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1e6));
}

/** @internal */
export function fromDate(d: Date): Timestamp {
  const ms = d.getTime();
  return { seconds: BigInt(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 };
}

/** @internal */
export function mountFromWire(m: WireMount): SnapshotMount {
  return { type: m.type, source: m.source, options: [...m.options] };
}

/** @internal */
export function mountToWire(m: SnapshotMount): WireMount {
  return { type: m.type, source: m.source, target: "", options: [...m.options] };
}

/** @internal */
export function descriptorFromWire(d: WireDescriptor | undefined): Descriptor {
  const annotations = d?.annotations ?? {};
  return {
    mediaType: d?.mediaType ?? "",
    digest: d?.digest ?? "",
    size: Number(d?.size ?? 0n),
    ...(Object.keys(annotations).length > 0 ? { annotations: { ...annotations } } : {}),
  };
}

/** @internal */
export function descriptorToWire(d: Descriptor): WireDescriptor {
  return { mediaType: d.mediaType, digest: d.digest, size: BigInt(d.size), annotations: { ...(d.annotations ?? {}) } };
}

/** @internal */
export function anyToWire(a: AnyMessage): WireAny {
  return { typeUrl: a.typeUrl, value: Buffer.from(a.value.buffer, a.value.byteOffset, a.value.byteLength) };
}

/** @internal */
export function anyFromWire(a: WireAny | undefined): AnyMessage | undefined {
  return a ? { typeUrl: a.typeUrl, value: new Uint8Array(a.value) } : undefined;
}

/** @internal Adds `resource` to an options-derived resource label. */
export function quoted(kind: string, name: string): string {
  return `${kind} ${JSON.stringify(name)}`;
}
