import { randomBytes } from "node:crypto";
import { err, errAsync, okAsync, type Result, ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { LeasesClient, type Lease as WireLease } from "./gen/containerd/services/leases/v1/leases.js";
import type { CallOptions } from "./transport.js";
import { type Labels, quoted, type ServiceContext, toDate } from "./types.js";

/** Label holding a lease's expiry (RFC 3339); the garbage collector removes expired leases. */
export const GC_EXPIRE_LABEL = "containerd.io/gc.expire";

/** A lease: while it exists, resources created under it are safe from garbage collection. */
export interface Lease {
  readonly id: string;
  readonly labels: Labels;
  readonly createdAt: Date | undefined;
}

/** A resource attached to a lease, e.g. `{ type: "content", id: "sha256:..." }` or `{ type: "snapshots/overlayfs", id: key }`. */
export interface LeaseResource {
  readonly id: string;
  readonly type: string;
}

/** Options of {@link Leases.create}. */
export interface NewLease {
  /** Lease id; a random one when unset. */
  readonly id?: string;
  /** Expiry from now in milliseconds (stored as {@link GC_EXPIRE_LABEL}); 24 h, like containerd's Go client, when unset; 0 for none. */
  readonly expiresInMs?: number;
  readonly labels?: Labels;
}

function fromWire(l: WireLease): Lease {
  return { id: l.id, labels: { ...l.labels }, createdAt: toDate(l.createdAt) };
}

/** containerd's Leases service. */
export class Leases {
  readonly #s: ServiceContext;
  readonly #c: LeasesClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(LeasesClient);
  }

  /** Creates a lease (24 h expiry by default, like the Go client). */
  create(lease: NewLease = {}, options: CallOptions = {}): ResultAsync<Lease, ContainerdError> {
    const id = lease.id ?? `berth-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`;
    const labels: Record<string, string> = { ...(lease.labels ?? {}) };
    const expires = lease.expiresInMs ?? 24 * 3600 * 1000;
    if (expires > 0) labels[GC_EXPIRE_LABEL] = new Date(Date.now() + expires).toISOString().replace(/\.\d{3}Z$/, "Z");
    return this.#s.transport
      .unary(this.#c, this.#c.create, "Leases.Create", { id, labels }, this.#s.context(options), quoted("lease", id))
      .map((r) => (r.lease ? fromWire(r.lease) : { id, labels, createdAt: undefined }));
  }

  /** Leases matching any of the filters (all when none). */
  list(filters: readonly string[] = [], options: CallOptions = {}): ResultAsync<readonly Lease[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.list, "Leases.List", { filters: [...filters] }, this.#s.context(options))
      .map((r) => r.leases.map(fromWire));
  }

  /** Deletes a lease; `sync` waits for the garbage collection it triggers. */
  delete(id: string, sync = false, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.delete, "Leases.Delete", { id, sync }, this.#s.context(options), quoted("lease", id))
      .map(() => undefined);
  }

  /** Attaches a resource to a lease. */
  addResource(id: string, resource: LeaseResource, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.addResource,
        "Leases.AddResource",
        { id, resource: { ...resource } },
        this.#s.context(options),
        quoted("lease", id),
      )
      .map(() => undefined);
  }

  /** Detaches a resource from a lease. */
  removeResource(id: string, resource: LeaseResource, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.deleteResource,
        "Leases.DeleteResource",
        { id, resource: { ...resource } },
        this.#s.context(options),
        quoted("lease", id),
      )
      .map(() => undefined);
  }

  /** The resources attached to a lease. */
  resources(id: string, options: CallOptions = {}): ResultAsync<readonly LeaseResource[], ContainerdError> {
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.listResources,
        "Leases.ListResources",
        { id },
        this.#s.context(options),
        quoted("lease", id),
      )
      .map((r) => r.resources.map((x) => ({ id: x.id, type: x.type })));
  }

  /**
   * Runs `work` (returning a ResultAsync or a Promise of a Result) under a fresh lease (pass `lease.id` as `options.lease` to its calls) and
   * deletes the lease afterwards, whether `work` succeeded or not. The work's error wins over a
   * failure to delete the lease.
   */
  withLease<T>(
    work: (lease: Lease) => PromiseLike<Result<T, ContainerdError>>,
    lease: NewLease = {},
    options: CallOptions = {},
  ): ResultAsync<T, ContainerdError> {
    return this.create(lease, options).andThen((l) =>
      ResultAsync.fromSafePromise(
        (async () => {
          let result: Result<T, ContainerdError>;
          try {
            result = await work(l);
          } catch (e) {
            result = await errAsync(
              new ContainerdError("Unknown", `work under lease ${l.id} threw: ${String(e)}`, { cause: e }),
            );
          }
          const { lease: _ignored, ...rest } = options;
          const removed = await this.delete(l.id, false, rest);
          if (result.isOk() && removed.isErr()) return err(removed.error);
          return result;
        })(),
      ).andThen((r) => (r.isOk() ? okAsync(r.value) : errAsync(r.error))),
    );
  }
}
