import { createHash, randomBytes } from "node:crypto";
import createDebug from "debug";
import { ResultAsync } from "neverthrow";
import type { Containerd } from "./client.js";
import { ContainerdError } from "./errors.js";
import { blobPath, type OciLayoutSource, openOciLayout } from "./oci-layout.js";
import type { CallOptions } from "./transport.js";
import type { Descriptor } from "./types.js";

const debug = createDebug("berth:containerd:import");

const INDEX_TYPES = new Set([
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
]);
const MANIFEST_TYPES = new Set([
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
]);

/** Annotation containerd's exporter writes with the full image name. */
export const IMAGE_NAME_ANNOTATION = "io.containerd.image.name";
/** OCI annotation with the reference (often just the tag). */
export const REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name";

/** An OCI platform. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

/** Options of {@link importImage}. */
export interface ImportOptions extends CallOptions {
  /** Image name for entries of index.json without {@link IMAGE_NAME_ANNOTATION}. */
  readonly name?: string;
  /** Unpack into this snapshotter (default `overlayfs`). */
  readonly snapshotter?: string;
  /** Unpack layers so containers can run (default true). */
  readonly unpack?: boolean;
  /** Platform to unpack (default: this host's linux platform). */
  readonly platform?: Platform;
}

/** One image {@link importImage} created or updated. */
export interface ImportedImage {
  readonly name: string;
  readonly target: Descriptor;
  /** Chain id of the unpacked top layer (the parent for a container's snapshot), when unpacked. */
  readonly chainId: string | undefined;
  readonly snapshotter: string | undefined;
}

/** This host's platform in OCI terms. */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
    riscv64: "riscv64",
  };
  return { os: "linux", architecture: arch[process.arch] ?? process.arch };
}

/** The OCI image-spec chain ids of a list of layer diff ids. */
export function chainIds(diffIds: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIds) {
    const prev = out.at(-1);
    out.push(prev === undefined ? d : `sha256:${createHash("sha256").update(`${prev} ${d}`).digest("hex")}`);
  }
  return out;
}

interface Json {
  readonly mediaType?: string;
  readonly manifests?: readonly (Descriptor & { readonly platform?: Platform })[];
  readonly config?: Descriptor;
  readonly layers?: readonly Descriptor[];
}

function matches(p: Platform | undefined, want: Platform): boolean {
  if (!p) return true;
  return (
    p.os === want.os &&
    p.architecture === want.architecture &&
    (want.variant === undefined || p.variant === want.variant)
  );
}

function fail(message: string, cause?: unknown): ContainerdError {
  return ContainerdError.is(cause)
    ? cause
    : new ContainerdError("InvalidArgument", message, cause === undefined ? {} : { cause });
}

async function unwrap<T>(r: ResultAsync<T, ContainerdError>): Promise<T> {
  const v = await r;
  if (v.isErr()) throw v.error;
  return v.value;
}

class Importer {
  readonly #client: Containerd;
  readonly #src: OciLayoutSource;
  readonly #call: CallOptions;
  readonly #written = new Map<string, Json | undefined>();

  constructor(client: Containerd, src: OciLayoutSource, call: CallOptions) {
    this.#client = client;
    this.#src = src;
    this.#call = call;
  }

  async #json(d: Descriptor): Promise<Json> {
    const buf = await this.#src.readFile(blobPath(d.digest));
    if (!buf) throw fail(`${this.#src.location} lacks blob ${d.digest} (${d.mediaType}); is the layout complete?`);
    return JSON.parse(buf.toString("utf8")) as Json;
  }

  /** Writes a blob and (for indexes and manifests) its children first, with GC reference labels. Returns false when the blob is absent. */
  async write(d: Descriptor, kind: string): Promise<boolean> {
    if (this.#written.has(d.digest)) return true;
    const path = blobPath(d.digest);
    const size = await this.#src.size(path);
    if (size === undefined) return false;
    const labels: Record<string, string> = {};
    let doc: Json | undefined;
    if (INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType)) {
      doc = await this.#json(d);
      if (doc.manifests) {
        let n = 0;
        for (const m of doc.manifests) {
          if (await this.write(m, "manifest")) labels[`containerd.io/gc.ref.content.m.${n++}`] = m.digest;
        }
      }
      if (doc.config && (await this.write(doc.config, "config")))
        labels["containerd.io/gc.ref.content.config"] = doc.config.digest;
      for (const [i, l] of (doc.layers ?? []).entries()) {
        if (await this.write(l, "layer")) labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
      }
    }
    const ref = `${kind}-${d.digest}`;
    const r = await unwrap(
      this.#client.content.write(
        ref,
        (offset) => this.#src.stream(path, offset),
        { expected: d.digest, size, labels },
        this.#call,
      ),
    );
    if (r.existed && Object.keys(labels).length > 0)
      await unwrap(this.#client.content.setLabels(d.digest, labels, this.#call));
    debug("blob %s %s (%d bytes sent)", kind, d.digest, r.written);
    this.#written.set(d.digest, doc);
    return true;
  }

  /** Unpacks the platform's layers into the snapshotter; returns the top chain id. */
  async unpack(target: Descriptor, platform: Platform, snapshotter: string): Promise<string | undefined> {
    let manifestDesc: Descriptor | undefined = target;
    let doc = await this.#json(target);
    while (doc.manifests) {
      const pick: Descriptor | undefined = doc.manifests.find((m) =>
        MANIFEST_TYPES.has(m.mediaType) || INDEX_TYPES.has(m.mediaType) ? matches(m.platform, platform) : false,
      );
      if (!pick)
        throw fail(
          `${this.#src.location}: no manifest for ${platform.os}/${platform.architecture} in ${manifestDesc?.digest}`,
        );
      manifestDesc = pick;
      doc = await this.#json(pick);
    }
    if (!doc.config) throw fail(`${this.#src.location}: manifest ${manifestDesc?.digest} has no config`);
    const config = JSON.parse((await this.#src.readFile(blobPath(doc.config.digest)))?.toString("utf8") ?? "{}") as {
      rootfs?: { diff_ids?: string[] };
    };
    const diffIds = config.rootfs?.diff_ids ?? [];
    const layers = doc.layers ?? [];
    if (diffIds.length !== layers.length) {
      throw fail(`${this.#src.location}: config lists ${diffIds.length} diff ids for ${layers.length} layers`);
    }
    const snaps = this.#client.snapshots(snapshotter);
    const chain = chainIds(diffIds);
    for (const [i, layer] of layers.entries()) {
      const chainId = chain[i] as string;
      const parent = i === 0 ? "" : (chain[i - 1] as string);
      const existing = await snaps.stat(chainId, this.#call);
      if (existing.isOk()) continue;
      if (existing.error.code !== "NotFound") throw existing.error;
      const key = `extract-${randomBytes(6).toString("hex")} ${chainId}`;
      const mounts = await unwrap(snaps.prepare(key, parent, {}, this.#call));
      try {
        const applied = await unwrap(this.#client.diff.apply(layer, mounts, this.#call));
        if (applied.digest !== diffIds[i]) {
          throw fail(
            `layer ${layer.digest} unpacked to ${applied.digest}, but the config expects ${diffIds[i]}: corrupt image`,
          );
        }
        const committed = await snaps.commit(chainId, key, {}, this.#call);
        if (committed.isErr() && committed.error.code !== "AlreadyExists") throw committed.error;
        if (committed.isErr()) await snaps.remove(key, this.#call);
      } catch (e) {
        await snaps.remove(key, this.#call);
        throw e;
      }
      await unwrap(
        this.#client.content.setLabels(
          layer.digest,
          { "containerd.io/uncompressed": diffIds[i] as string },
          this.#call,
        ),
      );
      debug("unpacked %s as %s", layer.digest, chainId);
    }
    const top = chain.at(-1);
    if (top !== undefined) {
      await unwrap(
        this.#client.content.setLabels(
          doc.config.digest,
          { [`containerd.io/gc.ref.snapshot.${snapshotter}`]: top },
          this.#call,
        ),
      );
    }
    return top;
  }
}

/**
 * Imports the images of an OCI layout (a directory, or an uncompressed tar of one such as
 * `ctr export` / `docker save` of OCI layout writes) through the content and images services, under a lease:
 * every reachable blob is written (resumably) with GC reference labels, the host platform's
 * layers are unpacked into snapshots by chain id (`Snapshots.Prepare` + `Diff.Apply` +
 * `Snapshots.Commit`), the config gets its `gc.ref.snapshot` label, and an image record is
 * created or updated for each entry of index.json.
 */
export function importImage(
  client: Containerd,
  path: string,
  options: ImportOptions = {},
): ResultAsync<readonly ImportedImage[], ContainerdError> {
  const { name: defaultName, snapshotter = "overlayfs", unpack = true, platform = hostPlatform(), ...call } = options;
  return client.leases.withLease(
    (lease) =>
      ResultAsync.fromPromise(
        (async () => {
          let src: OciLayoutSource;
          try {
            src = await openOciLayout(path);
          } catch (e) {
            throw fail(
              `cannot read OCI layout ${path}: ${(e as Error).message}; give a layout directory or a tar of one`,
              e,
            );
          }
          const indexBuf = await src.readFile("index.json");
          if (!indexBuf) throw fail(`${path} has no index.json: not an OCI image layout`);
          const index = JSON.parse(indexBuf.toString("utf8")) as Json;
          const withLease: CallOptions = { ...call, lease: lease.id };
          const importer = new Importer(client, src, withLease);
          const out: ImportedImage[] = [];
          for (const entry of index.manifests ?? []) {
            const name = entry.annotations?.[IMAGE_NAME_ANNOTATION] ?? defaultName;
            if (name === undefined) {
              throw fail(
                `${path}: index.json entry ${entry.digest} has no ${IMAGE_NAME_ANNOTATION} annotation; pass a name`,
              );
            }
            if (!(await importer.write(entry, INDEX_TYPES.has(entry.mediaType) ? "index" : "manifest"))) {
              throw fail(`${path} lacks blob ${entry.digest} named in index.json`);
            }
            const chainId = unpack ? await importer.unpack(entry, platform, snapshotter) : undefined;
            const target: Descriptor = {
              mediaType: entry.mediaType,
              digest: entry.digest,
              size: entry.size,
              ...(entry.annotations ? { annotations: entry.annotations } : {}),
            };
            const created = await client.images.create({ name, target }, call);
            if (created.isErr()) {
              if (created.error.code !== "AlreadyExists") throw created.error;
              await unwrap(client.images.update({ name, target }, ["target"], call));
            }
            debug("imported %s -> %s", name, entry.digest);
            out.push({ name, target, chainId, snapshotter: unpack ? snapshotter : undefined });
          }
          return out;
        })(),
        (e) => fail(`importing ${path}: ${String(e)}`, e),
      ),
    {},
    call,
  );
}
