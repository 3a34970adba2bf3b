import { errAsync, type ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import { TransferClient } from "./gen/containerd/services/transfer/v1/transfer.js";
import { ImageStore } from "./gen/containerd/types/transfer/imagestore.js";
import { OCIRegistry } from "./gen/containerd/types/transfer/registry.js";
import { hostPlatform, type Platform } from "./import.js";
import type { CallOptions } from "./transport.js";
import { quoted, type ServiceContext } from "./types.js";

/** Options of {@link Transfer.pull}. */
export interface TransferPullOptions extends CallOptions {
  /** Name to store the image under. Default: the reference. */
  readonly name?: string;
  /** Platform to fetch and unpack. Default: this host's. */
  readonly platform?: Platform;
  /** Snapshotter to unpack into; empty lets containerd pick its default. Default `overlayfs`. */
  readonly snapshotter?: string;
  /** Unpack into the snapshotter (so the image can run at once). Default true. */
  readonly unpack?: boolean;
  /** Talk plain HTTP to the registry (only for a trusted local registry such as 127.0.0.1:5000). */
  readonly plainHttp?: boolean;
  /** Extra HTTP headers for the registry, e.g. an Authorization for a pre-fetched token. */
  readonly headers?: Readonly<Record<string, string>>;
}

const OCI_REGISTRY_TYPE = "containerd.types.transfer.OCIRegistry";
const IMAGE_STORE_TYPE = "containerd.types.transfer.ImageStore";

/**
 * containerd 2.x's Transfer service: the daemon itself moves images (here: pulls from a registry
 * into its image store and unpacks). containerd 1.6/1.7 have no such service: there calls end in
 * `Unimplemented`; check `client.info()`'s `capabilities.transfer` first, or pull client-side with
 * `@berth/image` (which works with every version).
 */
export class Transfer {
  readonly #s: ServiceContext;
  readonly #c: TransferClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(TransferClient);
  }

  /**
   * Pulls `reference` inside the daemon (what `ctr images pull` does on 2.x) and resolves once the
   * image record exists (and is unpacked unless `unpack: false`). Anonymous access or `headers`;
   * progress is not streamed.
   */
  pull(reference: string, options: TransferPullOptions = {}): ResultAsync<void, ContainerdError> {
    if (reference.trim() === "") {
      return errAsync(new ContainerdError("InvalidArgument", "Transfer.pull needs an image reference"));
    }
    const p = options.platform ?? hostPlatform();
    const platform = {
      os: p.os,
      architecture: p.architecture,
      variant: p.variant ?? "",
      osVersion: "",
      osFeatures: [],
    };
    const source = OCIRegistry.encode({
      reference,
      resolver: {
        authStream: "",
        headers: { ...(options.headers ?? {}) },
        hostDir: "",
        defaultScheme: options.plainHttp ? "http" : "https",
        httpDebug: 0,
        logsStream: "",
      },
    }).finish();
    const destination = ImageStore.encode({
      name: options.name ?? reference,
      labels: {},
      platforms: [platform],
      allMetadata: false,
      manifestLimit: 0,
      extraReferences: [],
      unpacks: options.unpack === false ? [] : [{ platform, snapshotter: options.snapshotter ?? "overlayfs" }],
    }).finish();
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.transfer,
        "Transfer.Transfer",
        {
          source: { typeUrl: OCI_REGISTRY_TYPE, value: Buffer.from(source) },
          destination: { typeUrl: IMAGE_STORE_TYPE, value: Buffer.from(destination) },
          options: undefined,
        },
        this.#s.context(options),
        quoted("image", reference),
      )
      .map(() => undefined)
      .mapErr((e) =>
        e.code === "Unimplemented"
          ? new ContainerdError(
              "Unimplemented",
              `this containerd has no Transfer service (containerd 2.0+): pull ${reference} client-side with @berth/image instead`,
              { resource: quoted("image", reference), cause: e },
            )
          : e,
      );
  }
}
