import type { Result, ResultAsync } from "neverthrow";
import type { ImageError } from "./errors.js";
import type { Descriptor } from "./manifest.js";
import type { Platform } from "./platform.js";
import type { ImageReference } from "./reference.js";

/**
 * An open, resumable write of one blob into a {@link Target}. The writer hashes what it is given; `commit` checks
 * the size and digest the writer was opened with and publishes the blob atomically, or fails with `DigestMismatch`
 * and discards the data. Modeled on containerd's content writer (ref, offset, expected digest/size, commit labels).
 */
export interface BlobWriter {
  /** Bytes already held for this blob (from an earlier, interrupted write): fetch from here with `Range`. */
  readonly offset: number;
  /** Appends bytes at {@link BlobWriter.offset}. */
  write(chunk: Uint8Array): ResultAsync<void, ImageError>;
  /**
   * Optional fast path for writers backed by a local file: writes out what earlier {@link BlobWriter.write} calls
   * buffered, then gives a function that takes the following chunks synchronously, hashing and writing each before
   * it returns (the caller may reuse the chunk's memory afterwards). The puller uses it to read plain-HTTP blobs
   * straight off the socket into the file. Do not mix it with `write` without calling `direct` again.
   */
  direct?(): ResultAsync<(chunk: Uint8Array) => Result<void, ImageError>, ImageError>;
  /** Drops what was written (the server ignored `Range` and restarts from byte 0). */
  reset(): ResultAsync<void, ImageError>;
  /**
   * Verifies size and digest and publishes the blob. `labels` are stored by targets that keep them
   * (containerd's GC references, e.g. `containerd.io/gc.ref.content.l.0`).
   */
  commit(labels?: Readonly<Record<string, string>>): ResultAsync<void, ImageError>;
  /** Abandons the write, keeping the bytes so a later writer for the same blob resumes at its offset. */
  close(): ResultAsync<void, ImageError>;
}

/** Options of {@link Target.writer}. */
export interface WriterOptions {
  /** A stable name for the write (containerd's ingest ref), e.g. `berth-pull-<digest>`. */
  readonly ref: string;
  readonly signal?: AbortSignal;
}

/** What a pull records once all of its content is committed. */
export interface ImageRecord {
  /** The image name, e.g. `127.0.0.1:5000/berth/busybox:latest`. */
  readonly name: string;
  /** What the reference resolved to (an index or a manifest). */
  readonly target: Descriptor;
  /** The manifest chosen for the platform (equal to `target` when the reference names a manifest). */
  readonly manifest: Descriptor;
  /** The platform the manifest was chosen for. */
  readonly platform: Platform;
  /** Labels for targets that keep them (containerd image labels). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** What {@link Target.plan} is told: the chosen manifest's blobs in manifest order. */
export interface PlannedImage {
  /** The chosen platform's manifest. */
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  /** The layers in manifest order (a layer may repeat). */
  readonly layers: readonly Descriptor[];
  /** Digests the pull will not store (foreign layers under the `skip` policy). */
  readonly skipped: ReadonlySet<string>;
}

/** Unpack progress of one layer, reported by a target that unpacks (see {@link Target.plan}). */
export interface UnpackEvent {
  /** The layer's position in the manifest. */
  readonly index: number;
  readonly digest: string;
  /**
   * `waiting`: its blob (or an earlier layer) is not ready yet; `unpacking`: being applied; `unpacked`: applied and
   * committed as a snapshot; `exists`: the snapshot was already there.
   */
  readonly state: "waiting" | "unpacking" | "unpacked" | "exists";
  /** Milliseconds the apply took (`unpacked` only). */
  readonly ms?: number;
}

/** What {@link Target.delegate} is asked to pull: everything the puller resolved and planned. */
export interface DelegatedPull {
  /** The reference pinned to the resolved digest (`registry/repository@digest`). */
  readonly reference: ImageReference;
  /** The name to record. */
  readonly name: string;
  /** The digest the reference resolved to (index or manifest). */
  readonly digest: string;
  /** The platform chosen (normalized). */
  readonly platform: Platform;
  /** The chosen manifest's blobs. */
  readonly image: PlannedImage;
}

/**
 * Where a pull puts an image: a content store plus an image record. Implementations: {@link createOciLayoutTarget}
 * (an OCI image layout directory); a containerd target (content under a lease, unpack, image record) fits the same
 * shape. Contract: nothing the pull writes is visible as an image until {@link Target.putImage} succeeds, which the
 * puller calls last, after every blob it references is committed.
 */
export interface Target {
  /** Short name for logs and progress, e.g. `oci-layout:/tmp/img`. */
  readonly name: string;
  /**
   * Which descriptor the image record names: `index` keeps the registry's index (containerd does this; only the
   * chosen platform's content is fetched), `manifest` names the chosen platform's manifest (as `skopeo copy` does),
   * and the index blob is then not stored at all.
   */
  readonly root: "index" | "manifest";
  /** True when the target already holds this blob in full (the puller then skips it). */
  has(descriptor: Descriptor, signal?: AbortSignal): ResultAsync<boolean, ImageError>;
  /** Opens (or resumes) a write of the blob `descriptor` names. */
  writer(descriptor: Descriptor, options: WriterOptions): ResultAsync<BlobWriter, ImageError>;
  /**
   * Optional: told the chosen manifest's blobs once they are planned, before any download starts, so a target can
   * work on them as they arrive (containerd's target unpacks layer N as soon as layers 0..N are committed). Called
   * at most once per pull, with the pull's signal (aborted when the pull fails). Must not throw. May return a promise
   * that settles (never rejects) once the work it started has finished or been cleaned up: a failed pull waits for
   * it before it returns, so nothing the target was still undoing is visible afterwards.
   */
  plan?(image: PlannedImage, signal: AbortSignal, onUnpack?: (event: UnpackEvent) => void): void | Promise<void>;
  /** True when the target unpacks layers (then the pull reports an `unpack` phase and per-layer unpack events). */
  readonly unpacks?: boolean;
  /**
   * Optional: pulls the whole planned image by other means instead of the puller's own downloads (the containerd
   * target hands it to containerd 2.x's Transfer service when asked to). Resolves `true` when the image is recorded,
   * `false` to let the puller do the work itself (e.g. the daemon has no such service). Called after planning, at
   * most once per pull; when it resolves `true`, no writer, `plan` or `putImage` is called.
   */
  delegate?(pull: DelegatedPull, signal: AbortSignal): ResultAsync<boolean, ImageError>;
  /** Records the image; called last. Must replace an existing record of the same name atomically. */
  putImage(record: ImageRecord, signal?: AbortSignal): ResultAsync<void, ImageError>;
}
