import { randomBytes } from "node:crypto";
import { type FileHandle, mkdir, readFile, rename, rmdir, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import createDebug from "debug";
import { errAsync, okAsync, type Result, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";
import type { Descriptor } from "./manifest.js";
import { openPartial, PartialBlob, type PartialFile } from "./partial-file.js";
import { parseDigest } from "./reference.js";
import type { BlobWriter, ImageRecord, Target, WriterOptions } from "./target.js";

const debug = createDebug("berth:image:oci-layout");

/** The annotation OCI layouts use to name an image (skopeo's `oci:DIR:NAME`). */
export const ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name";
/** The annotation containerd uses for the full image name in OCI layouts it exports. */
export const ANNOTATION_CONTAINERD_IMAGE_NAME = "io.containerd.image.name";

/** Options of {@link createOciLayoutTarget}. */
export interface OciLayoutOptions {
  /**
   * The `org.opencontainers.image.ref.name` to give pulled images; default: the reference's tag (what
   * `skopeo copy ... oci:DIR:TAG` writes), or no name for digest-only references.
   */
  readonly refName?: (record: ImageRecord) => string | undefined;
  /** Where partial downloads live; default `DIR/.berth-ingest` (same filesystem, so commits are renames). */
  readonly ingestDirectory?: string;
  /** Bytes buffered before a write to disk. Default 1 MiB. */
  readonly writeBufferBytes?: number;
}

function ioError(what: string, cause: unknown): ImageError {
  return new ImageError(
    "Network",
    `${what} failed: ${(cause as Error)?.message ?? String(cause)}; check the layout directory's permissions and free space`,
    { cause },
  );
}

class LayoutWriter implements BlobWriter {
  readonly #blob: PartialBlob;
  readonly #file: FileHandle;
  readonly #path: string;
  readonly #final: string;
  readonly #descriptor: Descriptor;
  #closed = false;

  constructor(
    opened: PartialFile,
    path: string,
    final: string,
    descriptor: Descriptor,
    algorithm: string,
    bufferLimit: number,
  ) {
    this.#blob = new PartialBlob(opened, path, descriptor, algorithm, bufferLimit);
    this.#file = opened.file;
    this.#path = path;
    this.#final = final;
    this.#descriptor = descriptor;
  }

  get offset(): number {
    return this.#blob.offset;
  }

  write(chunk: Uint8Array): ResultAsync<void, ImageError> {
    if (this.#closed) return errAsync(new ImageError("Network", "write after the blob writer was closed"));
    if (this.#blob.error !== undefined) return errAsync(ioError(`writing ${this.#path}`, this.#blob.error));
    const wait = this.#blob.append(chunk);
    return wait ? ResultAsync.fromPromise(wait, (e) => ioError(`writing ${this.#path}`, e)) : okAsync(undefined);
  }

  direct(): ResultAsync<(chunk: Uint8Array) => Result<void, ImageError>, ImageError> {
    if (this.#closed) return errAsync(new ImageError("Network", "write after the blob writer was closed"));
    return this.#blob.direct((e) => ioError(`writing ${this.#path}`, e));
  }

  reset(): ResultAsync<void, ImageError> {
    return ResultAsync.fromPromise(this.#blob.restart(), (e) => ioError(`truncating ${this.#path}`, e));
  }

  commit(): ResultAsync<void, ImageError> {
    const d = this.#descriptor;
    return ResultAsync.fromPromise(
      (async () => {
        this.#closed = true;
        try {
          await this.#blob.flush();
        } finally {
          await this.#file.close();
        }
        await this.#blob.verify();
        await rename(this.#path, this.#final);
        debug("committed %s (%d bytes)", d.digest, d.size);
      })(),
      (e) => (ImageError.is(e) ? e : ioError(`committing ${d.digest}`, e)),
    );
  }

  close(): ResultAsync<void, ImageError> {
    if (this.#closed) return okAsync(undefined);
    this.#closed = true;
    return ResultAsync.fromPromise(
      (async () => {
        try {
          await this.#blob.flush();
        } finally {
          await this.#file.close();
        }
      })(),
      (e) => ioError(`closing ${this.#path}`, e),
    );
  }
}

interface IndexJson {
  schemaVersion: number;
  mediaType?: string;
  manifests: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

/**
 * A {@link Target} writing an OCI image layout directory (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), readable by
 * `skopeo inspect oci:DIR`, `skopeo copy oci:DIR ...` and umoci. Blobs are written under an ingest directory and
 * renamed into `blobs/` only once verified; `index.json` is replaced (write + rename) last, so a reader never sees a
 * partial image. Interrupted downloads stay in the ingest directory and resume on the next pull.
 */
export function createOciLayoutTarget(directory: string, options: OciLayoutOptions = {}): Target {
  const ingest = options.ingestDirectory ?? join(directory, ".berth-ingest");
  const bufferLimit = options.writeBufferBytes ?? 1 << 20;
  let prepared: Promise<void> | undefined;
  const prepare = () => {
    prepared ??= (async () => {
      await mkdir(join(directory, "blobs", "sha256"), { recursive: true });
    })();
    return prepared;
  };
  const blobPath = (algorithm: string, hex: string) => join(directory, "blobs", algorithm, hex);

  return {
    name: `oci-layout:${directory}`,
    root: "manifest",
    has(descriptor) {
      const parts = parseDigest(descriptor.digest);
      if (parts.isErr()) return errAsync(parts.error);
      const path = blobPath(parts.value.algorithm, parts.value.hex);
      return ResultAsync.fromPromise(
        stat(path).then(
          (s) => s.isFile() && s.size === descriptor.size,
          (e: NodeJS.ErrnoException) => {
            if (e.code === "ENOENT") return false;
            throw e;
          },
        ),
        (e) => ioError(`checking ${path}`, e),
      );
    },
    writer(descriptor: Descriptor, _o: WriterOptions) {
      const parts = parseDigest(descriptor.digest);
      if (parts.isErr()) return errAsync(parts.error);
      const { algorithm, hex } = parts.value;
      const path = join(ingest, `${algorithm}-${hex}`);
      return ResultAsync.fromPromise(
        (async () => {
          await prepare();
          await mkdir(join(directory, "blobs", algorithm), { recursive: true });
          await mkdir(ingest, { recursive: true });
          const opened = await openPartial(path, algorithm, descriptor.size);
          if (opened.size > 0) debug("resuming %s at %d of %d bytes", descriptor.digest, opened.size, descriptor.size);
          return new LayoutWriter(opened, path, blobPath(algorithm, hex), descriptor, algorithm, bufferLimit);
        })(),
        (e) => ioError(`opening ${path}`, e),
      );
    },
    putImage(record) {
      return ResultAsync.fromPromise(
        (async () => {
          await prepare();
          const layoutFile = join(directory, "oci-layout");
          const indexFile = join(directory, "index.json");
          let index: IndexJson = {
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.index.v1+json",
            manifests: [],
          };
          try {
            index = JSON.parse(await readFile(indexFile, "utf8")) as IndexJson;
            if (!Array.isArray(index.manifests)) index.manifests = [];
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
          }
          const refName = options.refName ? options.refName(record) : tagOf(record.name);
          const annotations: Record<string, string> = { [ANNOTATION_CONTAINERD_IMAGE_NAME]: record.name };
          if (refName !== undefined) annotations[ANNOTATION_REF_NAME] = refName;
          const root = record.manifest;
          const entry: Record<string, unknown> = {
            mediaType: root.mediaType,
            digest: root.digest,
            size: root.size,
            annotations,
            platform: {
              os: record.platform.os,
              architecture: record.platform.architecture,
              ...(record.platform.variant ? { variant: record.platform.variant } : {}),
            },
          };
          index.manifests = index.manifests.filter((m) => {
            const a = (m.annotations ?? {}) as Record<string, string>;
            if (refName !== undefined) return a[ANNOTATION_REF_NAME] !== refName;
            return a[ANNOTATION_CONTAINERD_IMAGE_NAME] !== record.name;
          });
          index.manifests.push(entry);
          const tmp = join(directory, `.index.json.${randomBytes(6).toString("hex")}`);
          await writeFile(layoutFile, JSON.stringify({ imageLayoutVersion: "1.0.0" }));
          await writeFile(tmp, JSON.stringify(index));
          await rename(tmp, indexFile);
          // Leave no trace of the ingest directory once nothing is in flight (fails harmlessly when not empty).
          await rmdir(ingest).catch(() => undefined);
          debug("index.json: %s -> %s", refName ?? record.name, root.digest);
        })(),
        (e) => ioError(`updating ${directory}/index.json`, e),
      );
    },
  };
}

function tagOf(name: string): string | undefined {
  const at = name.indexOf("@");
  const base = at >= 0 ? name.slice(0, at) : name;
  const slash = base.lastIndexOf("/");
  const colon = base.lastIndexOf(":");
  return colon > slash ? base.slice(colon + 1) : undefined;
}
