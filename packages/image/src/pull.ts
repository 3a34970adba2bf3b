import { setMaxListeners } from "node:events";
import createDebug from "debug";
import { errAsync, type Result, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";
import {
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
  isForeignLayer,
  isKnownLayerType,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_MANIFEST,
  parseManifest,
  selectPlatform,
} from "./manifest.js";
import { hostPlatform, normalizePlatform, type Platform } from "./platform.js";
import { type ImageReference, parseReference } from "./reference.js";
import type { BlobResponse, RegistryClient } from "./registry-client.js";
import type { BlobWriter, Target, UnpackEvent } from "./target.js";

const debug = createDebug("berth:image:pull");

/** Default number of blobs downloaded at once (containerd uses 3, crane 4, containers/image 6). */
export const DEFAULT_PULL_CONCURRENCY = 4;

/**
 * How far ahead, as a fraction of the earlier layer's size, a layer download must be before the next layer in
 * manifest order may read its next bytes, when the target unpacks in order (see {@link InOrderGate}).
 */
export const HEAD_START_FRACTION = 0.75;

/**
 * Head-of-line priority for layer downloads into a target that unpacks them in manifest order ({@link Target.unpacks}):
 * download `i` may read its next chunk only while its predecessor `i - 1` is done or holds at least
 * `headStart * size(i - 1)` more bytes than it does. Equal layers started together then finish one after another
 * instead of all at the same moment, so layer `i` is unpacked while later ones still download, and the link stays busy
 * (the head reads alone only for its head start). While a predecessor with all of its bytes in is being committed
 * (until {@link InOrderGate.finish}), its successor waits too: the unpack waits for that commit, and on a 2-core
 * machine a download running beside it made that commit take ~200 ms instead of ~20 ms (fsync, metadata writes).
 * Positions are those of the layers the pull downloads, in manifest order; a download not registered here (the
 * config) is never held back.
 */
export class InOrderGate {
  readonly #sizes: readonly number[];
  readonly #lead: readonly number[];
  readonly #held: number[];
  readonly #done: boolean[];
  readonly #waiting: Array<(() => void) | undefined>;

  /** `sizes`: the layers' sizes in manifest order; `headStart`: the fraction above (default {@link HEAD_START_FRACTION}). */
  constructor(sizes: readonly number[], headStart: number = HEAD_START_FRACTION) {
    this.#sizes = sizes;
    this.#lead = sizes.map((_, i) => (i === 0 ? 0 : Math.max(1, Math.round(headStart * (sizes[i - 1] as number)))));
    this.#held = sizes.map(() => 0);
    this.#done = sizes.map(() => false);
    this.#waiting = sizes.map(() => undefined);
  }

  /** True when download `i` may read now. */
  mayRead(i: number): boolean {
    if (i <= 0 || i >= this.#sizes.length) return true;
    if (this.#done[i - 1]) return true;
    const before = this.#held[i - 1] as number;
    // An earlier layer with all of its bytes in is being committed: that is what the unpack waits for.
    if (before >= (this.#sizes[i - 1] as number)) return false;
    return before - (this.#held[i] as number) >= (this.#lead[i] as number);
  }

  /**
   * Resolves when download `i` may read its next chunk (at once when it may), or when `signal` aborts (the read then
   * fails on the aborted body).
   */
  async ready(i: number, signal: AbortSignal): Promise<void> {
    if (this.mayRead(i) || signal.aborted) return;
    await new Promise<void>((resolve) => {
      const wake = () => {
        this.#waiting[i] = undefined;
        signal.removeEventListener("abort", wake);
        resolve();
      };
      this.#waiting[i] = wake;
      signal.addEventListener("abort", wake, { once: true });
    });
  }

  /** Records that download `i` holds `bytes` (its writer's offset) and wakes its successor when it may read. */
  progress(i: number, bytes: number): void {
    if (i < 0 || i >= this.#sizes.length) return;
    this.#held[i] = bytes;
    this.#wake(i + 1);
  }

  /** Records that download `i` is committed (or stopped): its successor is no longer held back by it. */
  finish(i: number): void {
    if (i < 0 || i >= this.#sizes.length) return;
    this.#done[i] = true;
    this.#wake(i + 1);
  }

  #wake(i: number): void {
    const wake = this.#waiting[i];
    if (wake && this.mayRead(i)) wake();
  }
}

/** What to do with foreign / non-distributable layers (descriptors with `urls`, usually Windows base layers). */
export type ForeignLayerPolicy = "skip" | "fetch";

/**
 * The phases of a pull, in order: `resolve` (tag to digest, manifests), `fetch` (blob downloads), `commit` (manifest
 * and index blobs), `unpack` (targets that unpack only: layers are unpacked while others still download, see the
 * `unpack` events; this phase waits for the last ones, then the image is recorded), `done`. A pull the target
 * delegates (containerd's Transfer service) goes `resolve`, `fetch`, `done`.
 */
export type PullPhase = "resolve" | "fetch" | "commit" | "unpack" | "done";

/** The state of one blob in {@link PullProgress} events. */
export type BlobState = "waiting" | "fetching" | "resuming" | "done" | "exists" | "skipped";

/** One blob of the plan: the config or a layer. */
export interface PlannedBlob {
  readonly kind: "config" | "layer";
  readonly descriptor: Descriptor;
  readonly state: "waiting" | "exists" | "skipped";
}

/** Progress of a pull, delivered to {@link PullOptions.onProgress} synchronously as things happen. */
export type PullProgress =
  | { readonly type: "phase"; readonly phase: PullPhase }
  | { readonly type: "resolved"; readonly digest: string; readonly mediaType: string; readonly manifest: Descriptor }
  | {
      /** Every blob with its size, before any download starts: `totalBytes` is what will be fetched. */
      readonly type: "plan";
      readonly blobs: readonly PlannedBlob[];
      readonly totalBytes: number;
    }
  | {
      readonly type: "blob";
      readonly digest: string;
      readonly state: BlobState;
      /** Bytes of this blob held so far. */
      readonly bytes: number;
      readonly size: number;
      /** Bytes of all planned blobs held so far, and their total. */
      readonly completedBytes: number;
      readonly totalBytes: number;
    }
  | ({
      /** A layer's unpack state changed (targets that unpack only). */
      readonly type: "unpack";
    } & UnpackEvent)
  | {
      /** The target took the whole pull over (containerd's Transfer service): no blob events follow. */
      readonly type: "delegated";
      readonly target: string;
    };

/** Options of {@link pull}. */
export interface PullOptions {
  readonly client: RegistryClient;
  readonly target: Target;
  /** The platform to choose from an index; default the host's. */
  readonly platform?: Platform;
  /** Blobs downloaded at once; default {@link DEFAULT_PULL_CONCURRENCY}. */
  readonly concurrency?: number;
  /** Default `skip`: foreign layers are neither fetched nor stored (their descriptors stay in the manifest). */
  readonly foreignLayers?: ForeignLayerPolicy;
  /** How many times a dropped blob download is resumed before giving up. Default 5. */
  readonly resumeAttempts?: number;
  /** The name to record; default the canonical reference (`docker.io/library/busybox:latest`). */
  readonly name?: string;
  readonly signal?: AbortSignal;
  readonly onProgress?: (event: PullProgress) => void;
}

/** What a successful pull produced. */
export interface PullResult {
  /** The canonical reference pulled. */
  readonly name: string;
  /** The digest the reference resolved to (an index's or a manifest's). */
  readonly digest: string;
  readonly mediaType: string;
  /** The manifest chosen for the platform. */
  readonly manifest: Descriptor;
  readonly platform: Platform;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** Bytes downloaded by this pull (blobs the target already held are not counted). */
  readonly fetchedBytes: number;
  /** True when the target pulled the image itself ({@link Target.delegate}, e.g. containerd's Transfer service). */
  readonly delegated: boolean;
}

function aborted(reference: string, cause?: unknown): ImageError {
  return new ImageError("Aborted", `pulling ${reference} was aborted`, { reference, cause });
}

function toImageError(e: unknown, reference: string): ImageError {
  if (ImageError.is(e)) return e;
  return new ImageError("Network", `pulling ${reference} failed: ${(e as Error)?.message ?? String(e)}`, {
    reference,
    cause: e,
  });
}

async function unwrap<T>(r: ResultAsync<T, ImageError>): Promise<T> {
  const v = await r;
  if (v.isErr()) throw v.error;
  return v.value;
}

/** GC labels containerd expects on a manifest or index blob (children referenced by the content). */
function gcLabels(doc: ImageManifest | ImageIndex, stored: (d: Descriptor) => boolean): Record<string, string> {
  const labels: Record<string, string> = {};
  if (doc.kind === "index") {
    doc.manifests.forEach((m, i) => {
      if (stored(m)) labels[`containerd.io/gc.ref.content.m.${i}`] = m.digest;
    });
  } else {
    labels["containerd.io/gc.ref.content.config"] = doc.config.digest;
    doc.layers.forEach((l, i) => {
      if (stored(l)) labels[`containerd.io/gc.ref.content.l.${i}`] = l.digest;
    });
  }
  return labels;
}

/**
 * Pulls an image into a {@link Target}: resolves the reference, picks the platform's manifest from an index,
 * downloads the config and layers concurrently (each verified while streaming, resumed with `Range` when a
 * connection drops, skipped when the target already has it), then commits the manifest (and the index when the
 * target keeps it) and records the image last. A failure or abort leaves no image, only resumable partial content.
 */
export function pull(reference: string | ImageReference, options: PullOptions): ResultAsync<PullResult, ImageError> {
  const parsed = typeof reference === "string" ? parseReference(reference) : undefined;
  if (parsed?.isErr()) return errAsync(parsed.error);
  const ref = parsed ? parsed._unsafeUnwrap() : (reference as ImageReference);
  return ResultAsync.fromPromise(runPull(ref, options), (e) => toImageError(e, ref.toString()));
}

async function runPull(ref: ImageReference, o: PullOptions): Promise<PullResult> {
  const name = o.name ?? ref.toString();
  const reference = ref.toString();
  const emit = o.onProgress ?? (() => undefined);
  const platform = normalizePlatform(o.platform ?? hostPlatform());
  const { client, target } = o;
  // One controller for the whole pull: the caller's signal or the first failure stops every download.
  const controller = new AbortController();
  const onAbort = () => controller.abort(o.signal?.reason);
  if (o.signal?.aborted) throw aborted(reference, o.signal.reason);
  o.signal?.addEventListener("abort", onAbort, { once: true });
  const signal = controller.signal;
  // Every download, gRPC call and gate wait listens on it at once (a dozen is normal, not a leak).
  setMaxListeners(0, signal);
  /** Settles once the target's own work for this pull (see `Target.plan`) is done or cleaned up. */
  let planning: Promise<void> | undefined;
  try {
    emit({ type: "phase", phase: "resolve" });
    const resolved = await unwrap(client.resolve(ref, signal));
    const rootBytes = resolved.bytes
      ? { bytes: resolved.bytes, digest: resolved.digest, mediaType: resolved.mediaType }
      : await unwrap(client.fetchManifest(ref, resolved.digest, signal));
    const root = parseManifest(rootBytes.bytes, rootBytes.mediaType);
    if (root.isErr()) throw new ImageError(root.error.code, `${reference}: ${root.error.message}`, { reference });
    const rootDescriptor: Descriptor = {
      mediaType: root.value.mediaType,
      digest: resolved.digest,
      size: rootBytes.bytes.byteLength,
    };
    let manifestDescriptor = rootDescriptor;
    let manifestBytes = rootBytes.bytes;
    let manifest: ImageManifest;
    if (root.value.kind === "index") {
      const chosen = selectPlatform(root.value, platform);
      if (chosen.isErr())
        throw new ImageError(chosen.error.code, `${reference}: ${chosen.error.message}`, { reference });
      manifestDescriptor = chosen.value;
      const fetched = await unwrap(client.fetchManifest(ref, chosen.value.digest, signal));
      if (fetched.bytes.byteLength !== chosen.value.size) {
        throw new ImageError(
          "DigestMismatch",
          `manifest ${chosen.value.digest} has ${fetched.bytes.byteLength} bytes, but the index says ${chosen.value.size}`,
          { reference, digest: chosen.value.digest },
        );
      }
      const m = parseManifest(fetched.bytes, chosen.value.mediaType);
      if (m.isErr()) throw new ImageError(m.error.code, `${reference}: ${m.error.message}`, { reference });
      if (m.value.kind !== "manifest") {
        throw new ImageError("InvalidManifest", `${reference}: index entry ${chosen.value.digest} is itself an index`, {
          reference,
        });
      }
      manifest = m.value;
      manifestBytes = fetched.bytes;
    } else {
      manifest = root.value;
    }
    if (
      manifestDescriptor.mediaType !== MEDIA_TYPE_OCI_MANIFEST &&
      manifestDescriptor.mediaType !== MEDIA_TYPE_DOCKER_MANIFEST
    ) {
      manifestDescriptor = { ...manifestDescriptor, mediaType: manifest.mediaType };
    }
    emit({ type: "resolved", digest: resolved.digest, mediaType: root.value.mediaType, manifest: manifestDescriptor });
    debug(
      "%s: %s -> manifest %s, %d layers",
      reference,
      resolved.digest,
      manifestDescriptor.digest,
      manifest.layers.length,
    );

    for (const layer of manifest.layers) {
      if (!isKnownLayerType(layer.mediaType)) {
        throw new ImageError(
          "UnsupportedMediaType",
          `${reference}: layer ${layer.digest} has media type ${JSON.stringify(layer.mediaType)}, which is not an image layer ` +
            "(tar, tar+gzip, tar+zstd); this looks like an artifact, not a container image",
          { reference, digest: layer.digest },
        );
      }
    }

    // Plan: every blob once (a layer may repeat), with what the target already holds.
    const policy = o.foreignLayers ?? "skip";
    const seen = new Set<string>();
    const plan: PlannedBlob[] = [];
    const entries: Array<{ kind: "config" | "layer"; descriptor: Descriptor }> = [
      { kind: "config", descriptor: manifest.config },
      ...manifest.layers.map((descriptor) => ({ kind: "layer" as const, descriptor })),
    ];
    const unique = entries.filter(({ descriptor }) => !seen.has(descriptor.digest) && seen.add(descriptor.digest));
    // The target is asked about every blob at once (one round trip each to containerd, not one after another).
    const held = await Promise.all(
      unique.map(({ kind, descriptor }) =>
        kind === "layer" && isForeignLayer(descriptor) && policy === "skip"
          ? undefined
          : unwrap(target.has(descriptor, signal)),
      ),
    );
    unique.forEach(({ kind, descriptor }, i) => {
      const has = held[i];
      plan.push({ kind, descriptor, state: has === undefined ? "skipped" : has ? "exists" : "waiting" });
    });
    const totalBytes = plan.filter((p) => p.state === "waiting").reduce((n, p) => n + p.descriptor.size, 0);
    emit({ type: "plan", blobs: plan, totalBytes });
    const planned = {
      manifest: manifestDescriptor,
      config: manifest.config,
      layers: manifest.layers,
      skipped: new Set(plan.filter((p) => p.state === "skipped").map((p) => p.descriptor.digest)),
    };
    const result = (fetchedBytes: number, delegated: boolean): PullResult => ({
      name,
      digest: resolved.digest,
      mediaType: root.value.mediaType,
      manifest: manifestDescriptor,
      platform: manifestDescriptor.platform ?? platform,
      config: manifest.config,
      layers: manifest.layers,
      fetchedBytes,
      delegated,
    });
    if (target.delegate) {
      const pinned = parseReference(`${ref.registry}/${ref.repository}@${resolved.digest}`);
      if (pinned.isErr()) throw pinned.error;
      emit({ type: "phase", phase: "fetch" });
      const took = await unwrap(
        target.delegate(
          {
            reference: pinned.value,
            name,
            digest: resolved.digest,
            platform: manifestDescriptor.platform ?? platform,
            image: planned,
          },
          signal,
        ),
      );
      if (took) {
        debug("%s: pulled by %s", reference, target.name);
        emit({ type: "delegated", target: target.name });
        emit({ type: "phase", phase: "done" });
        return result(totalBytes, true);
      }
    }
    planning = target.plan?.(planned, signal, (e) => emit({ type: "unpack", ...e })) ?? undefined;
    if (!target.delegate) emit({ type: "phase", phase: "fetch" });

    let completed = 0;
    let fetchedBytes = 0;
    const blobEvent = (d: Descriptor, state: BlobState, bytes: number) =>
      emit({ type: "blob", digest: d.digest, state, bytes, size: d.size, completedBytes: completed, totalBytes });
    for (const p of plan) if (p.state !== "waiting") blobEvent(p.descriptor, p.state, p.descriptor.size);

    const queue = plan.filter((p) => p.state === "waiting").map((p) => p.descriptor);
    // A target that unpacks in manifest order gets the layers in that order: head-of-line first (see InOrderGate).
    const ordered = target.unpacks ? queue.filter((d) => d.digest !== manifest.config.digest) : [];
    const position = new Map(ordered.map((d, i) => [d.digest, i]));
    const gate = ordered.length > 1 ? new InOrderGate(ordered.map((d) => d.size)) : undefined;

    const download = async (d: Descriptor): Promise<void> => {
      const at = position.get(d.digest) ?? -1;
      const writer = await unwrap(target.writer(d, { ref: `berth-pull-${d.digest}`, signal }));
      let committed = false;
      try {
        let resumes = 0;
        const maxResumes = o.resumeAttempts ?? 5;
        const initial = writer.offset;
        completed += initial;
        // A target that already holds every byte (containerd's shared store) needs no download, only the commit.
        blobEvent(d, initial >= d.size ? "exists" : initial > 0 ? "resuming" : "fetching", initial);
        for (;;) {
          if (writer.offset >= d.size) break;
          // Held back by the in-order gate before the request, not after: no connection sits idle meanwhile.
          if (gate && at > 0) await gate.ready(at, signal);
          if (signal.aborted) throw aborted(reference, signal.reason);
          const start = writer.offset;
          const blob = await unwrap(
            client.openBlob(ref, d.digest, {
              offset: start,
              signal,
              ...(isForeignLayer(d) && d.urls ? { urls: d.urls } : {}),
            }),
          );
          if (blob.offset !== start) {
            completed -= start;
            await unwrap(writer.reset());
          }
          try {
            await copy(
              blob,
              writer,
              d,
              (n) => {
                completed += n;
                fetchedBytes += n;
                gate?.progress(at, writer.offset);
                blobEvent(d, "fetching", writer.offset);
              },
              gate && at > 0 ? () => (gate.mayRead(at) ? undefined : gate.ready(at, signal)) : undefined,
            );
            break;
          } catch (e) {
            blob.cancel();
            if (signal.aborted) throw aborted(reference, e);
            if (ImageError.is(e) && e.code !== "Network") throw e;
            resumes++;
            if (resumes > maxResumes) {
              throw new ImageError(
                "Network",
                `blob ${d.digest}: the connection dropped ${resumes} times (last: ${(e as Error).message}); retry later`,
                { reference, digest: d.digest, cause: e },
              );
            }
            debug("blob %s dropped at %d/%d (%s); resuming", d.digest, writer.offset, d.size, (e as Error).message);
            blobEvent(d, "resuming", writer.offset);
          }
        }
        const c = await writer.commit();
        committed = true;
        if (c.isErr())
          throw new ImageError(c.error.code, `${reference}: ${c.error.message}`, { reference, digest: d.digest });
        blobEvent(d, "done", d.size);
      } finally {
        gate?.finish(at);
        if (!committed) await writer.close();
      }
    };

    const workers = Math.max(1, Math.min(o.concurrency ?? DEFAULT_PULL_CONCURRENCY, queue.length));
    const failure: { error?: unknown } = {};
    await Promise.all(
      Array.from({ length: workers }, async () => {
        for (;;) {
          const next = queue.shift();
          if (!next || failure.error !== undefined) return;
          try {
            await download(next);
          } catch (e) {
            if (failure.error === undefined || isAbortError(failure.error)) {
              failure.error = e;
            }
            controller.abort(e);
            return;
          }
        }
      }),
    );
    if (failure.error !== undefined) throw failure.error;
    if (o.signal?.aborted) throw aborted(reference, o.signal.reason);

    // Commit: the manifest (children first), then the index when the target keeps it, then the image record.
    emit({ type: "phase", phase: "commit" });
    const stored = (d: Descriptor) => !plan.some((p) => p.descriptor.digest === d.digest && p.state === "skipped");
    await putBytes(target, manifestDescriptor, manifestBytes, gcLabels(manifest, stored), signal);
    if (target.root === "index" && root.value.kind === "index") {
      await putBytes(
        target,
        rootDescriptor,
        rootBytes.bytes,
        gcLabels(root.value, (d) => d.digest === manifestDescriptor.digest),
        signal,
      );
    }
    if (signal.aborted) throw aborted(reference, signal.reason);
    if (target.unpacks) emit({ type: "phase", phase: "unpack" });
    await unwrap(
      target.putImage(
        {
          name,
          target: target.root === "index" ? rootDescriptor : manifestDescriptor,
          manifest: manifestDescriptor,
          platform: manifestDescriptor.platform ?? platform,
        },
        signal,
      ),
    );
    emit({ type: "phase", phase: "done" });
    return result(fetchedBytes, false);
  } catch (e) {
    // Stop what the target still does for this pull and let it clean up (e.g. a prepared snapshot) before returning.
    controller.abort(e);
    await planning;
    if (o.signal?.aborted && !(ImageError.is(e) && e.code === "Aborted")) throw aborted(reference, e);
    throw e;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
}

function isAbortError(e: unknown): boolean {
  return ImageError.is(e) && e.code === "Aborted";
}

function tooLong(d: Descriptor): ImageError {
  return new ImageError(
    "DigestMismatch",
    `blob ${d.digest} is longer than its descriptor's ${d.size} bytes; the registry or a proxy served the wrong content`,
    { digest: d.digest },
  );
}

/**
 * Copies a blob's body into its writer. When the body comes off a socket of its own and the writer writes a local
 * file, each read goes straight from the socket's buffer through the hash into the file (`direct`), else chunk by
 * chunk through the body's iterator and `write`.
 */
async function copy(
  blob: BlobResponse,
  writer: BlobWriter,
  d: Descriptor,
  progress: (n: number) => void,
  ready?: () => Promise<void> | undefined,
): Promise<void> {
  try {
    await ready?.();
    let write: ((chunk: Uint8Array) => Result<void, ImageError>) | undefined;
    if (blob.pipeTo && writer.direct) {
      const direct = await writer.direct();
      if (direct.isErr()) throw direct.error;
      write = direct.value;
    }
    if (blob.pipeTo && write) {
      await blob.pipeTo((chunk) => {
        if (writer.offset + chunk.byteLength > d.size) throw tooLong(d);
        const w = write(chunk);
        if (w.isErr()) throw w.error;
        progress(chunk.byteLength);
        return ready?.();
      });
    } else {
      for await (const chunk of blob.body) {
        if (writer.offset + chunk.byteLength > d.size) throw tooLong(d);
        const w = await writer.write(chunk);
        if (w.isErr()) throw w.error;
        progress(chunk.byteLength);
        await ready?.();
      }
    }
  } catch (e) {
    if (ImageError.is(e)) throw e;
    throw new ImageError("Network", `reading blob ${d.digest}: ${(e as Error)?.message ?? String(e)}`, {
      digest: d.digest,
      cause: e,
    });
  }
  if (writer.offset < d.size) {
    throw new ImageError("Network", `blob ${d.digest} ended at ${writer.offset} of ${d.size} bytes`, {
      digest: d.digest,
    });
  }
}

async function putBytes(
  target: Target,
  d: Descriptor,
  bytes: Uint8Array,
  labels: Record<string, string>,
  signal: AbortSignal,
): Promise<void> {
  if (await unwrap(target.has(d, signal))) return;
  const writer = await unwrap(target.writer(d, { ref: `berth-pull-${d.digest}`, signal }));
  let committed = false;
  try {
    if (writer.offset > 0) await unwrap(writer.reset());
    await unwrap(writer.write(bytes));
    committed = true;
    await unwrap(writer.commit(labels));
  } finally {
    if (!committed) await writer.close();
  }
}
