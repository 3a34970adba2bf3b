import createDebug from "debug";
import { err, ok, type Result, type ResultAsync } from "neverthrow";
import { type ContainerdEndpoint, DEFAULT_CONTAINERD_ADDRESS, parseAddress } from "./address.js";
import { Containers } from "./containers.js";
import { Content } from "./content.js";
import { Diff } from "./diff.js";
import { ContainerdError } from "./errors.js";
import { Events } from "./events.js";
import { IntrospectionClient } from "./gen/containerd/services/introspection/v1/introspection.js";
import { VersionClient } from "./gen/containerd/services/version/v1/version.js";
import { validateIdentifier } from "./identifiers.js";
import { Images } from "./images.js";
import { Leases } from "./leases.js";
import { Namespaces } from "./namespaces.js";
import { Snapshots } from "./snapshots.js";
import { Tasks } from "./tasks.js";
import { Transfer } from "./transfer.js";
import { type CallContext, type CallOptions, Transport } from "./transport.js";
import type { ServiceContext } from "./types.js";

const debug = createDebug("berth:containerd");

/** The namespace containerd's tools use when none is given. */
export const DEFAULT_NAMESPACE = "default";

/** How to reach containerd. Every field is optional. */
export interface ContainerdOptions {
  /**
   * Socket path, `unix:///path` or `tcp://host:port`. Defaults to `$CONTAINERD_ADDRESS`, then
   * `/run/containerd/containerd.sock` (as `ctr` does).
   */
  readonly address?: string;
  /** containerd namespace for every call. Defaults to `$CONTAINERD_NAMESPACE`, then `default`. */
  readonly namespace?: string;
  /** Default deadline for each call, in milliseconds. No deadline when unset. */
  readonly timeoutMs?: number;
}

/** What containerd's Version service reports. */
export interface ServerVersion {
  /** Release, e.g. `1.6.20` or `v2.1.9`, as the daemon reports it. */
  readonly version: string;
  /** Git revision the daemon was built from. */
  readonly revision: string;
  /** Major.minor.patch parsed from {@link ServerVersion.version}, when it has that shape. */
  readonly semver: { readonly major: number; readonly minor: number; readonly patch: number } | undefined;
}

/** One plugin as the Introspection service reports it. */
export interface PluginInfo {
  /** e.g. `io.containerd.grpc.v1`, `io.containerd.snapshotter.v1`. */
  readonly type: string;
  /** e.g. `tasks`, `overlayfs`. */
  readonly id: string;
  /** Why the plugin failed to load, when it did. */
  readonly initError: string | undefined;
  readonly capabilities: readonly string[];
  readonly exports: Readonly<Record<string, string>>;
}

/** Optional services the daemon offers (containerd 2.x adds them); berth uses them only when present. */
export interface ServerCapabilities {
  readonly transfer: boolean;
  readonly streaming: boolean;
  readonly sandbox: boolean;
  /** Snapshotters that loaded (e.g. `overlayfs`, `native`). */
  readonly snapshotters: readonly string[];
  /** Runtime plugins that loaded (e.g. `io.containerd.runc.v2` on 1.6; `task` on 2.x). */
  readonly runtimes: readonly string[];
}

/** What {@link Containerd.info} reports: version, identity and capabilities of the daemon. */
export interface ServerInfo extends ServerVersion {
  /** The daemon's instance UUID (empty on daemons without Introspection.Server). */
  readonly uuid: string;
  /** The daemon's pid (0 when unknown). */
  readonly pid: number;
  readonly plugins: readonly PluginInfo[];
  readonly capabilities: ServerCapabilities;
}

/**
 * A connection to one containerd daemon, scoped to a namespace. Cheap to create: the channel
 * connects on first use and reconnects on its own after a daemon restart.
 *
 * @example
 * ```ts
 * const client = createContainerd({ address: "/run/containerd/containerd.sock" })._unsafeUnwrap();
 * await using _ = client;
 * const v = await client.version();
 * if (v.isOk()) console.log(v.value.version);
 * ```
 */
export class Containerd implements AsyncDisposable {
  /** The namespace every call uses unless overridden per call. */
  readonly namespace: string;
  readonly #transport: Transport;
  readonly #timeoutMs: number | undefined;
  readonly #lease: string | undefined;
  readonly #version: VersionClient;
  readonly #introspection: IntrospectionClient;
  readonly #services: ServiceContext;
  /** Namespaces: create, list, label, delete. */
  readonly namespaces: Namespaces;
  /** Container records. */
  readonly containers: Containers;
  /** Image records. */
  readonly images: Images;
  /** The content store. */
  readonly content: Content;
  /** Leases (protection from garbage collection). */
  readonly leases: Leases;
  /** Layer apply / diff. */
  readonly diff: Diff;
  /** Event subscription and publishing. */
  readonly events: Events;
  /** Tasks (running containers) and their processes. */
  readonly tasks: Tasks;
  /** containerd 2.x's Transfer service (daemon-side pulls); `Unimplemented` on 1.x. */
  readonly transfer: Transfer;

  /** @internal use {@link createContainerd}. */
  constructor(transport: Transport, namespace: string, timeoutMs: number | undefined, lease?: string) {
    this.#transport = transport;
    this.#lease = lease;
    this.namespace = namespace;
    this.#timeoutMs = timeoutMs;
    this.#version = transport.client(VersionClient);
    this.#introspection = transport.client(IntrospectionClient);
    this.#services = { transport, context: (o) => this.#context(o) };
    this.namespaces = new Namespaces(this.#services);
    this.containers = new Containers(this.#services);
    this.images = new Images(this.#services);
    this.content = new Content(this.#services);
    this.leases = new Leases(this.#services);
    this.diff = new Diff(this.#services);
    this.events = new Events(this.#services);
    this.tasks = new Tasks(this.#services);
    this.transfer = new Transfer(this.#services);
  }

  /** Snapshots of a snapshotter (default `overlayfs`, containerd's default). */
  snapshots(snapshotter = "overlayfs"): Snapshots {
    return new Snapshots(this.#services, snapshotter);
  }

  /** The daemon's plugins (Introspection.Plugins), optionally filtered (e.g. `type==io.containerd.grpc.v1`). */
  plugins(
    filters: readonly string[] = [],
    options: CallOptions = {},
  ): ResultAsync<readonly PluginInfo[], ContainerdError> {
    const c = this.#introspection;
    return this.#transport
      .unary(c, c.plugins, "Introspection.Plugins", { filters: [...filters] }, this.#context(options))
      .map((r) =>
        r.plugins.map((p) => ({
          type: p.type,
          id: p.id,
          initError: p.initErr && p.initErr.code !== 0 ? p.initErr.message || `code ${p.initErr.code}` : undefined,
          capabilities: [...p.capabilities],
          exports: { ...p.exports },
        })),
      );
  }

  /**
   * Version, identity (uuid, pid) and capabilities of the daemon. Fails with a clear
   * `Unimplemented` error when the server speaks gRPC but is not containerd.
   */
  info(options: CallOptions = {}): ResultAsync<ServerInfo, ContainerdError> {
    const c = this.#introspection;
    const ctx = this.#context(options);
    return this.version(options)
      .orElse((e) =>
        err(
          e.code === "Unimplemented"
            ? new ContainerdError(
                "Unimplemented",
                `the gRPC server at ${this.#transport.describe()} has no containerd Version service: it is not containerd (point the address at containerd's socket)`,
                { cause: e, resource: this.#transport.describe() },
              )
            : e,
        ),
      )
      .andThen((version) =>
        this.plugins([], options).andThen((plugins) =>
          this.#transport
            .unary(c, c.server, "Introspection.Server", {}, ctx)
            .map((s) => ({ uuid: s.uuid, pid: Number(s.pid) }))
            .orElse((e) => (e.code === "Unimplemented" ? ok({ uuid: "", pid: 0 }) : err(e)))
            .map((server): ServerInfo => ({ ...version, ...server, plugins, capabilities: capabilitiesOf(plugins) })),
        ),
      );
  }

  /** Where this client connects. */
  get endpoint(): ContainerdEndpoint {
    return this.#transport.endpoint;
  }

  /** A client for another namespace that shares this one's connection. */
  withNamespace(namespace: string): Result<Containerd, ContainerdError> {
    return validateIdentifier("namespace", namespace).map(
      (ns) => new Containerd(this.#transport, ns, this.#timeoutMs, this.#lease),
    );
  }

  /**
   * A client on the same connection whose calls all carry `containerd-lease: <leaseId>` (unless a
   * call names another), so the content and snapshots it creates are safe from garbage collection
   * until the lease goes: the Go client's `leases.WithLease(ctx, id)`.
   */
  withLease(leaseId: string): Containerd {
    return new Containerd(this.#transport, this.namespace, this.#timeoutMs, leaseId);
  }

  /** The daemon's version: `ctr version`'s server half. */
  version(options: CallOptions = {}): ResultAsync<ServerVersion, ContainerdError> {
    return this.#transport
      .unary(this.#version, this.#version.version, "Version", {}, this.#context(options))
      .map((r) => ({ version: r.version, revision: r.revision, semver: parseSemver(r.version) }));
  }

  /** Closes the connection. Calls made afterwards fail with `Canceled`. Idempotent. */
  close(): Promise<void> {
    if (!this.#transport.closed) debug("closing %s", this.#transport.describe());
    this.#transport.close();
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #context(options: CallOptions): CallContext {
    return {
      namespace: options.namespace ?? this.namespace,
      lease: options.lease ?? this.#lease,
      timeoutMs: options.timeoutMs ?? this.#timeoutMs,
      signal: options.signal,
    };
  }
}

/**
 * Creates a client. Fails only on invalid options (bad address or namespace); reaching the
 * daemon is checked by the first call, e.g. {@link Containerd.version}.
 */
export function createContainerd(options: ContainerdOptions = {}): Result<Containerd, ContainerdError> {
  const address = options.address ?? process.env.CONTAINERD_ADDRESS ?? DEFAULT_CONTAINERD_ADDRESS;
  const namespace = options.namespace ?? process.env.CONTAINERD_NAMESPACE ?? DEFAULT_NAMESPACE;
  return parseAddress(address).andThen((endpoint) =>
    validateIdentifier("namespace", namespace).map((ns) => {
      debug("client for %s namespace %s", endpoint.target, ns);
      return new Containerd(new Transport(endpoint), ns, options.timeoutMs);
    }),
  );
}

function capabilitiesOf(plugins: readonly PluginInfo[]): ServerCapabilities {
  const grpc = new Set(plugins.filter((p) => p.type === "io.containerd.grpc.v1" && !p.initError).map((p) => p.id));
  return {
    transfer: grpc.has("transfer"),
    streaming: grpc.has("streaming"),
    sandbox: grpc.has("sandbox-controllers") || grpc.has("sandboxes"),
    snapshotters: plugins.filter((p) => p.type === "io.containerd.snapshotter.v1" && !p.initError).map((p) => p.id),
    runtimes: plugins
      .filter((p) => (p.type === "io.containerd.runtime.v2" || p.type === "io.containerd.runtime.v1") && !p.initError)
      .map((p) => p.id),
  };
}

function parseSemver(version: string): ServerVersion["semver"] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}
