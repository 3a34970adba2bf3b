import createDebug from "debug";
import type { Result, ResultAsync } from "neverthrow";
import { type ContainerdEndpoint, DEFAULT_CONTAINERD_ADDRESS, parseAddress } from "./address.js";
import type { ContainerdError } from "./errors.js";
import { VersionClient } from "./gen/containerd/services/version/v1/version.js";
import { validateIdentifier } from "./identifiers.js";
import { type CallContext, type CallOptions, Transport } from "./transport.js";

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
  readonly #version: VersionClient;

  /** @internal use {@link createContainerd}. */
  constructor(transport: Transport, namespace: string, timeoutMs: number | undefined) {
    this.#transport = transport;
    this.namespace = namespace;
    this.#timeoutMs = timeoutMs;
    this.#version = transport.client(VersionClient);
  }

  /** Where this client connects. */
  get endpoint(): ContainerdEndpoint {
    return this.#transport.endpoint;
  }

  /** A client for another namespace that shares this one's connection. */
  withNamespace(namespace: string): Result<Containerd, ContainerdError> {
    return validateIdentifier("namespace", namespace).map((ns) => new Containerd(this.#transport, ns, this.#timeoutMs));
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
      lease: options.lease,
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

function parseSemver(version: string): ServerVersion["semver"] {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  return m ? { major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3]) } : undefined;
}
