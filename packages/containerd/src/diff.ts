import type { ResultAsync } from "neverthrow";
import type { ContainerdError } from "./errors.js";
import { DiffClient } from "./gen/containerd/services/diff/v1/diff.js";
import type { SnapshotMount } from "./spec/index.js";
import type { CallOptions } from "./transport.js";
import {
  type Descriptor,
  descriptorFromWire,
  descriptorToWire,
  type Labels,
  mountToWire,
  type ServiceContext,
} from "./types.js";

/** Options of {@link Diff.diff}. */
export interface DiffOptions {
  /** Media type of the produced layer; the daemon's default (gzip tar) when unset. */
  readonly mediaType?: string;
  /** Content-store ref for the upload. */
  readonly ref?: string;
  /** Labels for the committed blob. */
  readonly labels?: Labels;
}

/** containerd's Diff service: apply layers onto mounts, and compute layers between mounts. */
export class Diff {
  readonly #s: ServiceContext;
  readonly #c: DiffClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(DiffClient);
  }

  /** Applies the layer blob `layer` (from the content store) onto `mounts`; returns the applied (uncompressed) descriptor. */
  apply(
    layer: Descriptor,
    mounts: readonly SnapshotMount[],
    options: CallOptions = {},
  ): ResultAsync<Descriptor, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.apply,
        "Diff.Apply",
        { diff: descriptorToWire(layer), mounts: mounts.map(mountToWire), payloads: {}, syncFs: false },
        this.#s.context(options),
        `layer ${layer.digest}`,
      )
      .map((r) => descriptorFromWire(r.applied));
  }

  /** Writes the difference between `lower` and `upper` mounts as a layer into the content store. */
  diff(
    lower: readonly SnapshotMount[],
    upper: readonly SnapshotMount[],
    opts: DiffOptions = {},
    options: CallOptions = {},
  ): ResultAsync<Descriptor, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.diff,
        "Diff.Diff",
        {
          left: lower.map(mountToWire),
          right: upper.map(mountToWire),
          mediaType: opts.mediaType ?? "",
          ref: opts.ref ?? "",
          labels: { ...(opts.labels ?? {}) },
          sourceDateEpoch: undefined,
        },
        this.#s.context(options),
      )
      .map((r) => descriptorFromWire(r.diff));
  }
}
