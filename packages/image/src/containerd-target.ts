import { randomBytes } from "node:crypto";
import { type Containerd, ContainerdError, type ContentStatus, chainIds, type WriteResult } from "@berth/containerd";
import createDebug from "debug";
import { errAsync, okAsync, type Result, ResultAsync } from "neverthrow";
import { ImageError } from "./errors.js";
import {
  LocalBlobWriter,
  type LocalContentMode,
  type LocalContentStatus,
  localContentRoot,
  probeLocalContent,
  removePartial,
  sweepPartials,
} from "./local-content.js";
import type { Descriptor } from "./manifest.js";
import type {
  BlobWriter,
  DelegatedPull,
  ImageRecord,
  PlannedImage,
  Target,
  UnpackEvent,
  WriterOptions,
} from "./target.js";

const debug = createDebug("berth:image:containerd");
const debugLocal = createDebug("berth:image:local");

/** The snapshotter containerd uses on Linux unless told otherwise. */
export const DEFAULT_SNAPSHOTTER = "overlayfs";

/** Bytes a blob writer buffers ahead of containerd before `write` waits. */
const MAX_QUEUED_BYTES = 8 << 20;
/** Largest WRITE message (containerd's Go client sends 1 MiB). */
const MESSAGE_BYTES = 1 << 20;
/**
 * Content roots whose probe passed in this process: later targets on the same root skip the probe (a blob write and
 * removal, ~30-50 ms before the first download). A root whose commit falls back to streaming is dropped, so a daemon
 * that stops seeing placed blobs is probed again by the next target.
 */
const probedRoots = new Set<string>();

/**
 * Hands whole pulls to containerd 2.x's Transfer service (the daemon fetches, verifies, unpacks and records the
 * image itself, as `ctr images pull` does on 2.x) instead of berth's own client-side path. See
 * {@link ContainerdTargetOptions.transfer}.
 */
export interface TransferDelegation {
  /** The daemon talks plain HTTP to the registry (only for a trusted local registry such as 127.0.0.1:5000). */
  readonly plainHttp?: boolean;
  /**
   * Extra HTTP headers the daemon sends to the registry (e.g. `Authorization` with a token fetched beforehand); the
   * Transfer service gets no credentials from berth's providers otherwise, so private registries need this.
   */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Options of {@link createContainerdTarget}. */
export interface ContainerdTargetOptions {
  /** The snapshotter to unpack into; default {@link DEFAULT_SNAPSHOTTER}. */
  readonly snapshotter?: string;
  /** Unpack the layers into the snapshotter (so the image can run at once); default true. */
  readonly unpack?: boolean;
  /** Labels of the image record. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Cancels the target's own work (leases, unpacking) in addition to each pull's signal. */
  readonly signal?: AbortSignal;
  /** Expiry of the pull's lease in milliseconds; default 24 h, as containerd's Go client. */
  readonly leaseExpiresInMs?: number;
  /**
   * Delegate each pull to containerd 2.x's Transfer service (off by default: berth's own path, which works with
   * every containerd version, resumes partial content and reports per-blob progress). The puller still resolves
   * the reference and plans the blobs; the daemon is then asked for `registry/repository@digest` under the pull's
   * name. With it the pull reports no per-blob or unpack progress, and image `labels` are set after the transfer.
   * A daemon without the service (containerd 1.x answers `Unimplemented`) gets berth's own path instead.
   */
  readonly transfer?: TransferDelegation;
  /**
   * Same-host fast path: with `"auto"` (default), when containerd runs on this host and shares content between
   * namespaces (its metadata policy `shared`, the default), blobs are written straight into its content store
   * directory (`<root>/blobs/berth-partial/<hex>`, verified, fsynced and hard-linked to `blobs/sha256/<hex>`) and
   * then committed into the namespace with a content write that carries no data, instead of streaming every byte
   * through `Content.Write`. Detected once per target from the daemon's plugins (content `root`, bolt `policy`) and
   * proven by a probe blob; when the probe or a later commit shows containerd does not see placed files (another
   * host or mount namespace, `isolated` policy), the target streams through the content service from then on.
   * `"off"` always streams. `{ root }` names the content root as this process sees it when it differs from the
   * path the daemon reports. Leases, GC labels, resume and the image record are the same either way; which path is
   * used, and why, is in {@link ContainerdTarget.localContent} and the `berth:image:local` debug namespace.
   */
  readonly localContent?: LocalContentMode;
}

/** A {@link Target} that writes into containerd; see {@link createContainerdTarget}. */
export interface ContainerdTarget extends Target {
  /** The lease protecting the current (or the last failed) pull's content and snapshots, if one is open. */
  readonly leaseId: string | undefined;
  /** The snapshotter layers are unpacked into. */
  readonly snapshotter: string;
  /**
   * How blobs are stored ({@link ContainerdTargetOptions.localContent}): undefined until the first write decides
   * it, then whether the same-host fast path is active and why (it turns inactive when a commit falls back).
   */
  readonly localContent: LocalContentStatus | undefined;
  /**
   * Deletes the open lease now (after a failed or aborted pull): its partial and unreferenced content and
   * snapshots become garbage at containerd's next collection instead of staying resumable until the lease expires.
   * Partial blobs the fast path kept under `<root>/blobs/berth-partial/` for this target are deleted too.
   */
  release(): ResultAsync<void, ImageError>;
}

function fromContainerd(what: string, e: unknown, digest?: string): ImageError {
  if (ImageError.is(e)) return e;
  const message = (e as Error)?.message ?? String(e);
  if (ContainerdError.is(e) && e.code === "Canceled") {
    return new ImageError("Aborted", `${what} was canceled`, { cause: e, ...(digest ? { digest } : {}) });
  }
  if (
    ContainerdError.is(e) &&
    (e.code === "FailedPrecondition" || e.code === "InvalidArgument") &&
    /digest|size/i.test(message)
  ) {
    return new ImageError(
      "DigestMismatch",
      `${what}: containerd rejected the blob (${message}); the registry or a proxy served the wrong content, nothing was committed`,
      { cause: e, ...(digest ? { digest } : {}) },
    );
  }
  return new ImageError(
    "Network",
    `${what} failed: ${message}; check that containerd is running and the socket is reachable`,
    { cause: e, ...(digest ? { digest } : {}) },
  );
}

async function unwrap<T, E>(r: PromiseLike<Result<T, E>>): Promise<T> {
  const v = await r;
  if (v.isErr()) throw v.error;
  return v.value;
}

/** A one-shot promise whose resolution is decided from outside. */
interface Deferred {
  readonly promise: Promise<void>;
  resolve(): void;
}

function deferred(): Deferred {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

/** Ends a write stream without committing it. */
class StopWrite extends Error {}

/**
 * Bridges the puller's push-style writes to `Content.write`'s pull-style source: chunks are queued (up to
 * {@link MAX_QUEUED_BYTES}) and coalesced into WRITE messages of up to 1 MiB while the previous one is in flight.
 */
class ContentWriter implements BlobWriter {
  readonly #client: Containerd;
  readonly #descriptor: Descriptor;
  readonly #ref: string;
  readonly #lease: string;
  readonly #signal: AbortSignal | undefined;
  readonly #committed: () => void;
  #offset: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #ended: "commit" | StopWrite | undefined;
  #wake: (() => void) | undefined;
  #drained: (() => void) | undefined;
  #labels: Record<string, string> = {};
  #stream: Promise<Result<WriteResult, ContainerdError>> | undefined;
  #done = false;
  #discard = false;
  /** Resolved when containerd has answered the write stream's STAT (the source was asked for bytes). */
  #opened: Deferred | undefined;
  readonly #pool: Array<Buffer | undefined> = [undefined, undefined];
  #flip = 0;
  /** Set when the current write stream failed: later writes fail at once instead of buffering. */
  #failed: ContainerdError | undefined;
  /** Why the stream ended before containerd answered its STAT (canceled, connection lost), if it did. */
  #openFailure: ContainerdError | undefined;

  constructor(
    client: Containerd,
    d: Descriptor,
    ref: string,
    lease: string,
    offset: number,
    onCommitted: () => void,
    signal: AbortSignal | undefined,
  ) {
    this.#client = client;
    this.#descriptor = d;
    this.#ref = ref;
    this.#lease = lease;
    this.#offset = offset;
    this.#signal = signal;
    this.#committed = onCommitted;
  }

  get offset(): number {
    return this.#offset;
  }

  /** Why the write stream failed before containerd told its offset (then {@link offset} says nothing). */
  get openFailure(): ContainerdError | undefined {
    return this.#openFailure;
  }

  /**
   * Copies `parts` into one of two reused 1 MiB buffers instead of a fresh allocation per message (fresh large
   * buffers cost page faults and GC). Safe because `Content.write` sends in lock step: it has encoded a message and
   * received containerd's answer to it before it asks the source for the next one, so a buffer is free again two
   * messages later.
   */
  #coalesce(parts: readonly Uint8Array[], n: number): Uint8Array {
    const i = this.#flip;
    this.#flip ^= 1;
    let buf = this.#pool[i];
    if (!buf) {
      buf = Buffer.allocUnsafe(MESSAGE_BYTES);
      this.#pool[i] = buf;
    }
    let at = 0;
    for (const p of parts) {
      buf.set(p, at);
      at += p.byteLength;
    }
    return buf.subarray(0, n);
  }

  /**
   * Opens the write stream before any byte is downloaded and waits for containerd's STAT answer. When containerd
   * already holds the whole blob (a shared content store: 1.x answers AlreadyExists, 2.x the full offset), the
   * offset becomes the size, so the puller downloads nothing and only commits (linking the blob into this
   * namespace with its labels), as containerd's own fetcher does.
   */
  async open(): Promise<void> {
    this.#opened = deferred();
    this.#start(this.#offset);
    const stream = this.#stream as Promise<Result<WriteResult, ContainerdError>>;
    const finished = await Promise.race([this.#opened.promise.then(() => undefined), stream]);
    if (finished?.isErr()) this.#openFailure = finished.error;
    if (finished?.isOk() && finished.value.existed) {
      debug("%s: containerd already holds %s; nothing to download", this.#ref, this.#descriptor.digest);
      this.#offset = this.#descriptor.size;
    } else if (this.#discard) {
      this.#offset = this.#descriptor.size;
    }
  }

  #start(from: number): void {
    this.#ended = undefined;
    this.#failed = undefined;
    const self = this;
    // Bytes handed to containerd so far. `Content.write` may call `source` again after a retry (a ref still locked
    // by the previous stream); containerd then reports what it holds, which is everything handed over before.
    let sent = from;
    async function* source(offset: number): AsyncGenerator<Uint8Array, void, undefined> {
      if (offset === self.#descriptor.size && offset !== sent) {
        // containerd 2.x answers STAT with the full size when another namespace already holds the blob (shared
        // content store): the COMMIT links it into this namespace; bytes still coming are dropped. Found at open()
        // (the usual case), the puller then downloads nothing. The COMMIT waits for commit(), which brings the labels.
        debug("%s: containerd already holds all %d bytes; committing without sending", self.#ref, offset);
        self.#discard = true;
        self.#queue = [];
        self.#queued = 0;
        self.#drained?.();
        self.#opened?.resolve();
        for (;;) {
          if (self.#ended === "commit") return;
          if (self.#ended) throw self.#ended;
          await new Promise<void>((r) => {
            self.#wake = r;
          });
        }
      }
      self.#opened?.resolve();
      if (offset !== sent) {
        throw new StopWrite(`containerd holds ${offset} bytes of ${self.#ref}, but ${sent} were sent`);
      }
      for (;;) {
        if (self.#queue.length === 0) {
          if (self.#ended === "commit") return;
          if (self.#ended) throw self.#ended;
          await new Promise<void>((r) => {
            self.#wake = r;
          });
          continue;
        }
        const parts: Uint8Array[] = [];
        let n = 0;
        // Fill whole 1 MiB messages: a chunk that would overflow is split, its tail left for the next message.
        while (self.#queue.length > 0 && n < MESSAGE_BYTES) {
          const c = self.#queue[0] as Uint8Array;
          const room = MESSAGE_BYTES - n;
          if (c.byteLength <= room) {
            self.#queue.shift();
            parts.push(c);
            n += c.byteLength;
          } else {
            parts.push(c.subarray(0, room));
            self.#queue[0] = c.subarray(room);
            n += room;
          }
        }
        self.#queued -= n;
        if (self.#queued <= MAX_QUEUED_BYTES) self.#drained?.();
        sent += n;
        yield parts.length === 1 ? (parts[0] as Uint8Array) : self.#coalesce(parts, n);
      }
    }
    const d = this.#descriptor;
    // `labels` is read when the COMMIT message is built, after the source ends: commit() fills it in first.
    const stream: Promise<Result<WriteResult, ContainerdError>> = Promise.resolve(
      this.#client.content.write(
        this.#ref,
        source,
        { expected: d.digest, size: d.size, labels: this.#labels },
        { lease: this.#lease, ...(this.#signal ? { signal: this.#signal } : {}) },
      ),
    );
    this.#stream = stream;
    // A stream that fails early (daemon gone) must release a waiting write().
    void stream.then((r) => {
      if (stream === this.#stream && r.isErr()) this.#failed = r.error;
      this.#drained?.();
    });
  }

  #end(how: "commit" | StopWrite): void {
    this.#ended = how;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  write(chunk: Uint8Array): ResultAsync<void, ImageError> {
    if (this.#done) return errAsync(new ImageError("Network", `write to ${this.#ref} after it was closed`));
    if (!this.#stream) this.#start(this.#offset);
    const failed = this.#failed;
    if (failed) return this.#recover(failed);
    if (this.#discard) {
      this.#offset += chunk.byteLength;
      return okAsync(undefined);
    }
    this.#queue.push(chunk);
    this.#queued += chunk.byteLength;
    this.#offset += chunk.byteLength;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (this.#queued <= MAX_QUEUED_BYTES) return okAsync(undefined);
    const stream = this.#stream as Promise<unknown>;
    return ResultAsync.fromSafePromise(
      Promise.race([
        new Promise<void>((r) => {
          this.#drained = r;
        }),
        stream.then(() => undefined),
      ]),
    ).andThen(() => (this.#failed ? this.#recover(this.#failed) : okAsync(undefined)));
  }

  /**
   * After the write stream broke (daemon restart, connection lost): drops what was queued, sets the offset to what
   * containerd holds for the ref, and fails with `Network`, so the puller resumes the download from that offset
   * (with `Range`) on a fresh stream.
   */
  #recover(cause: ContainerdError): ResultAsync<void, ImageError> {
    const error = fromContainerd(`writing ${this.#ref}`, cause, this.#descriptor.digest);
    this.#stream = undefined;
    this.#failed = undefined;
    this.#queue = [];
    this.#queued = 0;
    return ResultAsync.fromSafePromise(
      (async () => {
        const st = await this.#client.content.status(this.#ref, { lease: this.#lease });
        this.#offset = st.isOk() ? resumeOffset(st.value, this.#descriptor) : 0;
        debug("write of %s broke (%s); containerd holds %d bytes", this.#ref, cause.message, this.#offset);
      })(),
    ).andThen(() => errAsync(error));
  }

  async #stop(): Promise<void> {
    if (!this.#stream) return;
    this.#queue = [];
    this.#queued = 0;
    this.#end(new StopWrite(`write of ${this.#ref} stopped`));
    await this.#stream;
    this.#stream = undefined;
  }

  reset(): ResultAsync<void, ImageError> {
    return ResultAsync.fromPromise(
      (async () => {
        await this.#stop();
        const aborted = await this.#client.content.abort(this.#ref, { lease: this.#lease });
        if (aborted.isErr() && aborted.error.code !== "NotFound") throw aborted.error;
        this.#offset = 0;
      })(),
      (e) => fromContainerd(`restarting ${this.#ref}`, e, this.#descriptor.digest),
    );
  }

  commit(labels: Readonly<Record<string, string>> = {}): ResultAsync<void, ImageError> {
    const d = this.#descriptor;
    return ResultAsync.fromPromise(
      (async () => {
        this.#done = true;
        Object.assign(this.#labels, labels);
        if (!this.#stream) this.#start(this.#offset);
        this.#end("commit");
        const r = await unwrap(this.#stream as Promise<Result<WriteResult, ContainerdError>>);
        if (r.existed && Object.keys(labels).length > 0) {
          await unwrap(this.#client.content.setLabels(d.digest, labels, { lease: this.#lease }));
        }
        debug("committed %s (%d bytes sent%s)", d.digest, r.written, r.existed ? ", already present" : "");
        this.#committed();
      })(),
      (e) => fromContainerd(`committing ${d.digest} to containerd`, e, d.digest),
    );
  }

  close(): ResultAsync<void, ImageError> {
    if (this.#done) return okAsync(undefined);
    this.#done = true;
    return ResultAsync.fromPromise(this.#stop(), (e) =>
      fromContainerd(`closing ${this.#ref}`, e, this.#descriptor.digest),
    );
  }
}

/** containerd's ingest ref for a blob, by kind: `layer-<digest>`, `config-<digest>`, `manifest-<digest>`, `index-<digest>`. */
export function ingestRef(d: Descriptor): string {
  const t = d.mediaType;
  const kind = /index|manifest\.list/.test(t)
    ? "index"
    : /manifest/.test(t)
      ? "manifest"
      : /config|container\.image/.test(t)
        ? "config"
        : "layer";
  return `${kind}-${d.digest}`;
}

interface Unpacking {
  readonly manifest: string;
  readonly done: Promise<{ config: Descriptor; top: string | undefined }>;
}

/**
 * A {@link Target} that pulls into containerd through `@berth/containerd`, as containerd's own client does:
 *
 * - Every write, prepare and commit carries one lease (`containerd-lease`, 24 h expiry like the Go client's), created
 *   on first use. Blobs are written through the content service under ingest refs `layer-<digest>` (etc.), resuming
 *   from the offset containerd reports, committed with the expected digest and size (containerd verifies both) and
 *   the GC labels the puller computes (`containerd.io/gc.ref.content.*` on manifests and indexes). Blobs already in
 *   the store are skipped (and added to the lease so garbage collection cannot take them mid-pull).
 * - With `unpack` (default), layers are unpacked into the snapshotter while the others still download: layer N is
 *   applied (Prepare `extract-<rand> <chainID>` on the parent chain id, Diff.Apply, Commit `<chainID>`) as soon as
 *   the config and layers 0..N are committed; chain ids that already exist are skipped. The config then gets
 *   `containerd.io/gc.ref.snapshot.<snapshotter>=<top chain id>`.
 * - The image record (Images.Create, or Update when the name exists) is written last, then the lease is deleted:
 *   the record now holds everything through the GC labels.
 *
 * A failed or aborted pull writes no image record and keeps its lease: committed blobs and partial ingests stay
 * until the lease expires, so pulling again (with this or another target) resumes where it stopped. Call
 * {@link ContainerdTarget.release} to give them up at once.
 */
export function createContainerdTarget(client: Containerd, options: ContainerdTargetOptions = {}): ContainerdTarget {
  const snapshotter = options.snapshotter ?? DEFAULT_SNAPSHOTTER;
  const unpackLayers = options.unpack ?? true;
  let leaseId: string | undefined;
  let leasing: Promise<string> | undefined;
  let committed = new Map<string, Deferred>();
  let unpacking: Unpacking | undefined;
  let localDecision: Promise<LocalContentStatus> | undefined;
  let localStatus: LocalContentStatus | undefined;
  /** Partial files the fast path kept for this target (removed by release()). */
  const kept = new Set<string>();

  const setLocal = (st: LocalContentStatus): LocalContentStatus => {
    localStatus = st;
    debugLocal(
      "%s: %s (%s)",
      client.namespace,
      st.active ? `placing blobs in ${st.root}` : "streaming blobs through Content.Write",
      st.reason,
    );
    return st;
  };
  /** Decides once per target whether blobs are placed in the content store directory (see `localContent`). */
  const decideLocal = (): Promise<LocalContentStatus> => {
    localDecision ??= (async (): Promise<LocalContentStatus> => {
      const mode = options.localContent ?? "auto";
      if (mode === "off") return { active: false, reason: 'localContent is "off"' };
      const plugins = await client.plugins([]);
      if (plugins.isErr()) {
        return { active: false, reason: `the daemon's plugins could not be listed: ${plugins.error.message}` };
      }
      const found = localContentRoot(plugins.value);
      if ("reason" in found) return { active: false, reason: found.reason };
      const root = typeof mode === "object" ? mode.root : found.root;
      if (probedRoots.has(root)) {
        return { active: true, reason: "the daemon shared a probe blob placed in its content store (earlier)", root };
      }
      const failed = await probeLocalContent(client.content, root);
      if (failed !== undefined) return { active: false, reason: failed, root };
      probedRoots.add(root);
      void sweepPartials(root).mapErr((e) => {
        debugLocal("sweeping stale partials in %s failed: %s", root, e.message);
      });
      return { active: true, reason: "the daemon shares a probe blob placed in its content store", root };
    })().then(setLocal, (e: unknown) =>
      setLocal({ active: false, reason: `deciding failed: ${(e as Error)?.message ?? String(e)}` }),
    );
    return localDecision;
  };
  const fallBack = (reason: string): void => {
    if (localStatus?.root !== undefined) probedRoots.delete(localStatus.root);
    if (localStatus?.active === false) return;
    const st = setLocal({ active: false, reason, ...(localStatus?.root ? { root: localStatus.root } : {}) });
    localDecision = Promise.resolve(st);
  };

  const ensureLease = (): Promise<string> => {
    leasing ??= unwrap(
      client.leases.create({
        ...(options.leaseExpiresInMs !== undefined ? { expiresInMs: options.leaseExpiresInMs } : {}),
        labels: { "berth.dev/pull": "image" },
      }),
    ).then(
      (l) => {
        leaseId = l.id;
        debug("lease %s (namespace %s)", l.id, client.namespace);
        return l.id;
      },
      (e) => {
        leasing = undefined;
        throw e;
      },
    );
    return leasing;
  };
  const slot = (digest: string): Deferred => {
    let d = committed.get(digest);
    if (!d) {
      d = deferred();
      committed.set(digest, d);
    }
    return d;
  };
  const signalFor = (signal: AbortSignal | undefined): AbortSignal | undefined => {
    const all = [signal, options.signal].filter((s): s is AbortSignal => s !== undefined);
    return all.length === 0 ? undefined : all.length === 1 ? all[0] : AbortSignal.any(all);
  };

  async function unpack(
    config: Descriptor,
    layers: readonly Descriptor[],
    skipped: ReadonlySet<string>,
    signal: AbortSignal,
    report: (e: UnpackEvent) => void,
  ): Promise<{ config: Descriptor; top: string | undefined }> {
    const lease = await ensureLease();
    const call = { lease };
    await abortable(slot(config.digest).promise, signal);
    const bytes = await unwrap(client.content.readAll(config.digest, {}, { ...call, signal }));
    let diffIds: unknown;
    try {
      diffIds = (JSON.parse(bytes.toString("utf8")) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
    } catch (e) {
      throw new ImageError("InvalidManifest", `config ${config.digest} is not JSON: ${(e as Error).message}`, {
        digest: config.digest,
      });
    }
    if (!Array.isArray(diffIds) || diffIds.length !== layers.length || !diffIds.every((x) => typeof x === "string")) {
      throw new ImageError(
        "InvalidManifest",
        `config ${config.digest} lists ${Array.isArray(diffIds) ? diffIds.length : "no"} diff ids for ${layers.length} layers; the image is corrupt and cannot be unpacked`,
        { digest: config.digest },
      );
    }
    const ids = diffIds as string[];
    const chain = chainIds(ids);
    const snaps = client.snapshots(snapshotter);
    // Off the chain's critical path: every snapshot is looked up at once, while layers still download, and each
    // layer's `uncompressed` label is set while the next one is applied (all awaited before the image is recorded).
    const stats = chain.map((id) => Promise.resolve(snaps.stat(id, { ...call, signal })));
    const labelled: Array<Promise<unknown>> = [];
    try {
      for (const [i, layer] of layers.entries()) {
        const chainId = chain[i] as string;
        const parent = i === 0 ? "" : (chain[i - 1] as string);
        const existing = await (stats[i] as (typeof stats)[number]);
        if (existing.isOk()) {
          debug("layer %d (%s) already unpacked as %s", i, layer.digest, chainId);
          report({ index: i, digest: layer.digest, state: "exists" });
          continue;
        }
        if (existing.error.code !== "NotFound") throw existing.error;
        if (skipped.has(layer.digest)) {
          throw new ImageError(
            "UnsupportedMediaType",
            `layer ${layer.digest} is a foreign layer the pull skipped, so it cannot be unpacked; pull with foreignLayers: "fetch" or unpack: false`,
            { digest: layer.digest },
          );
        }
        // The snapshot is prepared before the layer's blob is in (as containerd's own unpacker does), so Diff.Apply
        // starts the moment the commit lands instead of after one more metadata transaction.
        // Not cancelled by the signal: an abort mid-call could leave a snapshot the daemon made but this never saw.
        // The wait below sees the abort and removes it.
        const key = `extract-${randomBytes(6).toString("hex")} ${chainId}`;
        const mounts = await unwrap(snaps.prepare(key, parent, {}, call));
        let started = Date.now();
        try {
          await abortable(slot(layer.digest).promise, signal);
          started = Date.now();
          report({ index: i, digest: layer.digest, state: "unpacking" });
          const applied = await unwrap(client.diff.apply(layer, mounts, { ...call, signal }));
          if (applied.digest !== ids[i]) {
            throw new ImageError(
              "DigestMismatch",
              `layer ${layer.digest} unpacked to ${applied.digest}, but the config expects ${ids[i]}; the image is corrupt`,
              { digest: layer.digest },
            );
          }
          const done = await snaps.commit(chainId, key, {}, call);
          if (done.isErr()) {
            if (done.error.code !== "AlreadyExists") throw done.error;
            await snaps.remove(key, call);
          }
        } catch (e) {
          await snaps.remove(key, call);
          throw e;
        }
        const label = unwrap(
          client.content.setLabels(layer.digest, { "containerd.io/uncompressed": ids[i] as string }, call),
        );
        label.catch(() => undefined); // handled below; not an unhandled rejection meanwhile
        labelled.push(label);
        const ms = Date.now() - started;
        debug("unpacked layer %d (%s) as %s in %dms", i, layer.digest, chainId, ms);
        report({ index: i, digest: layer.digest, state: "unpacked", ms });
      }
    } catch (e) {
      await Promise.allSettled(labelled);
      throw e;
    }
    await Promise.all(labelled);
    return { config, top: chain.at(-1) };
  }

  const startUnpack = (
    image: PlannedImage,
    signal: AbortSignal,
    onUnpack: ((e: UnpackEvent) => void) | undefined,
  ): Unpacking => {
    const report = (e: UnpackEvent) => {
      try {
        onUnpack?.(e);
      } catch (error) {
        debug("unpack progress listener threw: %s", (error as Error)?.message ?? String(error));
      }
    };
    image.layers.forEach((l, index) => {
      report({ index, digest: l.digest, state: "waiting" });
    });
    const done = unpack(image.config, image.layers, image.skipped, signal, report);
    done.catch(() => undefined); // awaited by putImage; a failed pull never gets there
    return { manifest: image.manifest.digest, done };
  };

  /** Hands the pull to containerd's Transfer service; `false` when the daemon has none (containerd 1.x). */
  const delegate = (p: DelegatedPull, signal: AbortSignal): ResultAsync<boolean, ImageError> => {
    const t = options.transfer as TransferDelegation;
    const s = signalFor(signal) ?? signal;
    const reference = p.reference.toString();
    return ResultAsync.fromPromise(
      (async () => {
        const started = Date.now();
        const pulled = await client.transfer.pull(reference, {
          name: p.name,
          platform: {
            os: p.platform.os,
            architecture: p.platform.architecture,
            ...(p.platform.variant !== undefined ? { variant: p.platform.variant } : {}),
          },
          snapshotter,
          unpack: unpackLayers,
          ...(t.plainHttp ? { plainHttp: true } : {}),
          ...(t.headers ? { headers: t.headers } : {}),
          signal: s,
        });
        if (pulled.isErr()) {
          if (pulled.error.code === "Unimplemented") {
            debug("no Transfer service in this containerd; pulling %s with berth's own path", reference);
            return false;
          }
          throw pulled.error;
        }
        if (options.labels && Object.keys(options.labels).length > 0) {
          const labels = options.labels;
          await unwrap(
            client.images.update(
              { name: p.name, target: { mediaType: "", digest: p.digest, size: 0 }, labels },
              Object.keys(labels).map((k) => `labels.${k}`),
            ),
          );
        }
        debug("Transfer service pulled %s as %s in %dms", reference, p.name, Date.now() - started);
        // Planning may have opened a lease (blobs already present were added to it): the record holds them now.
        const id = leaseId;
        reset();
        if (id !== undefined) {
          const removed = await client.leases.delete(id);
          if (removed.isErr() && removed.error.code !== "NotFound") throw removed.error;
        }
        return true;
      })(),
      (e) =>
        s.aborted && !ImageError.is(e)
          ? new ImageError("Aborted", `pulling ${reference} through containerd's Transfer service was aborted`, {
              cause: e,
            })
          : fromContainerd(`pulling ${reference} through containerd's Transfer service`, e),
    );
  };

  /** Opens (or resumes) a write of `descriptor` through the content service. */
  const openStream = async (
    descriptor: Descriptor,
    ref: string,
    lease: string,
    mark: () => void,
    s: AbortSignal | undefined,
    noIngest = false,
  ): Promise<ContentWriter> => {
    const status = await (noIngest
      ? errAsync<ContentStatus, ContainerdError>(new ContainerdError("NotFound", `no write ${ref}`))
      : client.content.status(ref, { lease }));
    let offset = 0;
    if (status.isOk()) {
      offset = resumeOffset(status.value, descriptor);
      if (offset === 0 && status.value.offset > 0) {
        const aborted = await client.content.abort(ref, { lease });
        if (aborted.isErr() && aborted.error.code !== "NotFound") throw aborted.error;
      } else if (offset > 0) {
        debug("resuming %s at %d of %d bytes", ref, offset, descriptor.size);
      }
    } else if (status.error.code !== "NotFound") {
      throw status.error;
    }
    const writer = new ContentWriter(client, descriptor, ref, lease, offset, mark, s);
    await writer.open();
    return writer;
  };

  const reset = () => {
    leaseId = undefined;
    leasing = undefined;
    committed = new Map();
    unpacking = undefined;
  };

  return {
    name: `containerd:${client.namespace}`,
    root: "index",
    snapshotter,
    get leaseId() {
      return leaseId;
    },
    get localContent() {
      return localStatus;
    },
    has(descriptor, signal) {
      const s = signalFor(signal);
      // Planning asks first: decide on the fast path (probe) while the puller still plans.
      if (!options.transfer) void decideLocal();
      return ResultAsync.fromPromise(
        (async () => {
          // The lookup does not need the lease; only holding a blob found does.
          const leased = ensureLease();
          leased.catch(() => undefined); // awaited below; not an unhandled rejection meanwhile
          const info = await client.content.info(descriptor.digest, s ? { signal: s } : {});
          const lease = await leased;
          if (info.isErr()) {
            if (info.error.code === "NotFound") return false;
            throw info.error;
          }
          if (info.value.size !== descriptor.size) return false;
          await unwrap(client.leases.addResource(lease, { type: "content", id: descriptor.digest }));
          slot(descriptor.digest).resolve();
          return true;
        })(),
        (e) => fromContainerd(`looking up ${descriptor.digest} in containerd`, e, descriptor.digest),
      );
    },
    writer(descriptor: Descriptor, o: WriterOptions) {
      const ref = ingestRef(descriptor);
      const s = signalFor(o.signal);
      return ResultAsync.fromPromise(
        (async (): Promise<BlobWriter> => {
          const lease = await ensureLease();
          const mark = () => slot(descriptor.digest).resolve();
          const local = await decideLocal();
          if (local.active && local.root !== undefined) {
            const status = await client.content.status(ref, { lease });
            if (status.isOk()) {
              debugLocal("%s: containerd holds a partial write; resuming it through Content.Write", ref);
            } else if (status.error.code !== "NotFound") {
              throw status.error;
            } else {
              const w = await LocalBlobWriter.open(local.root, descriptor, {
                // No ingest of this ref existed when the local write began: skip looking again.
                adopt: async () => {
                  const into = await openStream(descriptor, ref, lease, () => undefined, s, true);
                  // A canceled or broken stream says nothing about sharing: fail the commit, do not fall back.
                  if (into.openFailure) {
                    await into.close();
                    throw into.openFailure;
                  }
                  return into;
                },
                adopted: async () => (await client.content.info(descriptor.digest)).isOk(),
                onFallback: fallBack,
                onCommitted: () => {
                  kept.delete(w?.path ?? "");
                  mark();
                },
              });
              if (w) {
                kept.add(w.path);
                return w;
              }
            }
          }
          return openStream(descriptor, ref, lease, mark, s);
        })(),
        (e) => fromContainerd(`opening a write of ${descriptor.digest} in containerd`, e, descriptor.digest),
      );
    },
    unpacks: unpackLayers,
    plan(image, signal, onUnpack) {
      if (!unpackLayers) return;
      const s = signalFor(signal) ?? signal;
      unpacking = startUnpack(image, s, onUnpack);
      return unpacking.done.then(
        () => undefined,
        () => undefined,
      );
    },
    ...(options.transfer ? { delegate: (p: DelegatedPull, signal: AbortSignal) => delegate(p, signal) } : {}),
    putImage(record: ImageRecord, signal?: AbortSignal) {
      const s = signalFor(signal);
      return ResultAsync.fromPromise(
        (async () => {
          const lease = await ensureLease();
          const call = { lease, ...(s ? { signal: s } : {}) };
          if (unpackLayers) {
            if (unpacking?.manifest !== record.manifest.digest) {
              // No plan from the puller: read the manifest back and unpack what is already committed.
              const bytes = await unwrap(client.content.readAll(record.manifest.digest, {}, call));
              const m = JSON.parse(bytes.toString("utf8")) as { config?: Descriptor; layers?: Descriptor[] };
              if (!m.config || !Array.isArray(m.layers)) {
                throw new ImageError("InvalidManifest", `manifest ${record.manifest.digest} has no config or layers`, {
                  digest: record.manifest.digest,
                });
              }
              for (const d of [m.config, ...m.layers]) slot(d.digest).resolve();
              unpacking = startUnpack(
                { manifest: record.manifest, config: m.config, layers: m.layers, skipped: new Set() },
                s ?? new AbortController().signal,
                undefined,
              );
            }
            const { config, top } = await unpacking.done;
            if (top !== undefined) {
              await unwrap(
                client.content.setLabels(
                  config.digest,
                  { [`containerd.io/gc.ref.snapshot.${snapshotter}`]: top },
                  call,
                ),
              );
            }
          }
          if (s?.aborted) throw s.reason;
          const image = {
            name: record.name,
            target: record.target,
            labels: { ...(record.labels ?? {}), ...(options.labels ?? {}) },
          };
          const created = await client.images.create(image, call);
          if (created.isErr()) {
            if (created.error.code !== "AlreadyExists") throw created.error;
            await unwrap(client.images.update(image, undefined, call));
          }
          debug("image %s -> %s", record.name, record.target.digest);
          // The record references everything now; drop the lease (no sync: GC of leftovers can run later).
          const removed = await client.leases.delete(lease);
          if (removed.isErr() && removed.error.code !== "NotFound") throw removed.error;
          reset();
        })(),
        (e) =>
          s?.aborted && !ImageError.is(e)
            ? new ImageError("Aborted", `recording ${record.name} in containerd was aborted`, { cause: e })
            : fromContainerd(`recording ${record.name} in containerd`, e),
      );
    },
    release() {
      const id = leaseId;
      return ResultAsync.fromPromise(
        (async () => {
          for (const path of kept) {
            if (await removePartial(path)) kept.delete(path);
          }
          if (id !== undefined) {
            const removed = await client.leases.delete(id, true);
            if (removed.isErr() && removed.error.code !== "NotFound") throw removed.error;
          }
          reset();
        })(),
        (e) => fromContainerd(id === undefined ? "removing partial blobs" : `deleting lease ${id}`, e),
      );
    },
  };
}

/** Where a write resumes given containerd's status of its ref: its offset, or 0 when that is unusable. */
export function resumeOffset(status: ContentStatus, d: Descriptor): number {
  if (status.expected !== "" && status.expected !== d.digest) return 0;
  if (status.offset > d.size) return 0;
  return status.offset;
}
