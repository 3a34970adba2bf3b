import { errAsync, okAsync, ResultAsync } from "neverthrow";
import { ContainerdError } from "./errors.js";
import {
  ContentClient,
  type Info as WireInfo,
  type Status as WireStatus,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "./gen/containerd/services/content/v1/content.js";
import { collect } from "./snapshots.js";
import type { BidiCall, CallOptions } from "./transport.js";
import { type Labels, quoted, type ServiceContext, toDate } from "./types.js";

/** Size of each WRITE message, as containerd's Go client uses. */
export const WRITE_CHUNK_BYTES = 1024 * 1024;

/** A blob's metadata in the content store. */
export interface ContentInfo {
  readonly digest: string;
  readonly size: number;
  readonly labels: Labels;
  readonly createdAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

/** An in-progress (resumable) write. */
export interface ContentStatus {
  readonly ref: string;
  /** Bytes received so far; a new write of the same ref resumes here. */
  readonly offset: number;
  readonly total: number;
  readonly expected: string;
  readonly startedAt: Date | undefined;
  readonly updatedAt: Date | undefined;
}

/** Where a {@link Content.write} takes its bytes from. */
export type WriteSource = Uint8Array | ((offset: number) => AsyncIterable<Uint8Array>);

/** What {@link Content.write} commits. */
export interface WriteOptions {
  /** Expected digest (`sha256:...`); the commit fails on mismatch. */
  readonly expected: string;
  /** Expected total size in bytes. */
  readonly size: number;
  /** Labels of the committed blob (e.g. `containerd.io/gc.ref.content.*`). */
  readonly labels?: Labels;
}

/** Result of {@link Content.write}. */
export interface WriteResult {
  readonly digest: string;
  /** Bytes this call sent (less than the size when it resumed or the blob existed). */
  readonly written: number;
  /** True when the blob was already in the store. */
  readonly existed: boolean;
}

function infoFromWire(i: WireInfo | undefined, digest: string): ContentInfo {
  return {
    digest: i?.digest ?? digest,
    size: Number(i?.size ?? 0n),
    labels: { ...(i?.labels ?? {}) },
    createdAt: toDate(i?.createdAt),
    updatedAt: toDate(i?.updatedAt),
  };
}

function statusFromWire(s: WireStatus | undefined, ref: string): ContentStatus {
  return {
    ref: s?.ref ?? ref,
    offset: Number(s?.offset ?? 0n),
    total: Number(s?.total ?? 0n),
    expected: s?.expected ?? "",
    startedAt: toDate(s?.startedAt),
    updatedAt: toDate(s?.updatedAt),
  };
}

function writeRequest(
  partial: Partial<WriteContentRequest> & { action: WriteAction; ref: string },
): WriteContentRequest {
  return { total: 0n, expected: "", offset: 0n, data: Buffer.alloc(0), labels: {}, ...partial };
}

/** containerd's Content service: the content-addressed blob store. */
export class Content {
  readonly #s: ServiceContext;
  readonly #c: ContentClient;

  /** @internal */
  constructor(s: ServiceContext) {
    this.#s = s;
    this.#c = s.transport.client(ContentClient);
  }

  /** A blob's metadata (`NotFound` if missing). */
  info(digest: string, options: CallOptions = {}): ResultAsync<ContentInfo, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.info, "Content.Info", { digest }, this.#s.context(options), quoted("blob", digest))
      .map((r) => infoFromWire(r.info, digest));
  }

  /** Blobs matching any of the filters (all when none). */
  list(
    filters: readonly string[] = [],
    options: CallOptions = {},
  ): ResultAsync<readonly ContentInfo[], ContainerdError> {
    const stream = this.#s.transport.serverStream(
      this.#c,
      this.#c.list,
      "Content.List",
      { filters: [...filters] },
      this.#s.context(options),
    );
    return collect(stream, (r) => r.info.map((i) => infoFromWire(i, i.digest)));
  }

  /** Sets labels on a blob (an empty value removes the key). */
  setLabels(digest: string, labels: Labels, options: CallOptions = {}): ResultAsync<ContentInfo, ContainerdError> {
    const info: WireInfo = { digest, size: 0n, createdAt: undefined, updatedAt: undefined, labels: { ...labels } };
    return this.#s.transport
      .unary(
        this.#c,
        this.#c.update,
        "Content.Update",
        { info, updateMask: Object.keys(labels).map((k) => `labels.${k}`) },
        this.#s.context(options),
        quoted("blob", digest),
      )
      .map((r) => infoFromWire(r.info, digest));
  }

  /** Deletes a blob. */
  delete(digest: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.delete, "Content.Delete", { digest }, this.#s.context(options), quoted("blob", digest))
      .map(() => undefined);
  }

  /** The status of an in-progress write. */
  status(ref: string, options: CallOptions = {}): ResultAsync<ContentStatus, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.status, "Content.Status", { ref }, this.#s.context(options), quoted("write", ref))
      .map((r) => statusFromWire(r.status, ref));
  }

  /** All in-progress writes matching any of the filters. */
  statuses(
    filters: readonly string[] = [],
    options: CallOptions = {},
  ): ResultAsync<readonly ContentStatus[], ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.listStatuses, "Content.ListStatuses", { filters: [...filters] }, this.#s.context(options))
      .map((r) => r.statuses.map((s) => statusFromWire(s, s.ref)));
  }

  /** Abandons an in-progress write. */
  abort(ref: string, options: CallOptions = {}): ResultAsync<void, ContainerdError> {
    return this.#s.transport
      .unary(this.#c, this.#c.abort, "Content.Abort", { ref }, this.#s.context(options), quoted("write", ref))
      .map(() => undefined);
  }

  /**
   * Streams a blob's bytes from `offset` (default 0), `size` bytes (default: to the end).
   * Breaking out of the loop cancels the read; failures are thrown as {@link ContainerdError}.
   */
  async *read(
    digest: string,
    range: { readonly offset?: number; readonly size?: number } = {},
    options: CallOptions = {},
  ): AsyncGenerator<Uint8Array, void, undefined> {
    const request = { digest, offset: BigInt(range.offset ?? 0), size: BigInt(range.size ?? 0) };
    for await (const r of this.#s.transport.serverStream(
      this.#c,
      this.#c.read,
      "Content.Read",
      request,
      this.#s.context(options),
      quoted("blob", digest),
    )) {
      yield r.data;
    }
  }

  /** A whole blob (or a range) in memory. */
  readAll(
    digest: string,
    range: { readonly offset?: number; readonly size?: number } = {},
    options: CallOptions = {},
  ): ResultAsync<Buffer, ContainerdError> {
    return collect(this.read(digest, range, options), (b) => [b]).map((parts) => Buffer.concat(parts));
  }

  /**
   * Writes a blob through the bidirectional Write stream: STAT (resuming from the offset the
   * daemon already holds for `ref`), WRITE in 1 MiB chunks, COMMIT with the expected digest,
   * size and labels. A blob already in the store counts as success (`existed: true`).
   */
  write(
    ref: string,
    source: WriteSource,
    opts: WriteOptions,
    options: CallOptions = {},
  ): ResultAsync<WriteResult, ContainerdError> {
    const attempt = async (): Promise<WriteResult> => {
      const opened = this.#s.transport.bidi(
        this.#c,
        this.#c.write,
        "Content.Write",
        this.#s.context(options),
        quoted("write", ref),
      );
      if (opened.isErr()) throw opened.error;
      const call = opened.value;
      try {
        return await this.#writeOn(call, ref, source, opts);
      } finally {
        call.close();
      }
    };
    const run = async (): Promise<WriteResult> => {
      // Another writer (or a just-cancelled stream of ours) may hold the ref: containerd answers
      // "ref ... locked" (Unavailable); back off and retry as the Go client does.
      for (let delay = 25; ; delay *= 2) {
        try {
          return await attempt();
        } catch (e) {
          const locked = ContainerdError.is(e) && e.code === "Unavailable" && /locked/i.test(e.message);
          if (!locked || delay > 2000 || options.signal?.aborted) throw e;
          await new Promise((r) => setTimeout(r, delay));
        }
      }
    };
    return ResultAsync.fromPromise(run(), (e) =>
      ContainerdError.is(e) ? e : new ContainerdError("Unknown", `Content.Write ${ref}: ${String(e)}`, { cause: e }),
    ).orElse((e) =>
      e.code === "AlreadyExists" ? okAsync({ digest: opts.expected, written: 0, existed: true }) : errAsync(e),
    );
  }

  async #writeOn(
    call: BidiCall<WriteContentRequest, WriteContentResponse>,
    ref: string,
    source: WriteSource,
    opts: WriteOptions,
  ): Promise<WriteResult> {
    const total = BigInt(opts.size);
    const stat = await call.send(writeRequest({ action: WriteAction.STAT, ref, total, expected: opts.expected }));
    if (stat.isErr()) throw stat.error;
    let offset = Number(stat.value.offset);
    const start = offset;
    const chunks: AsyncIterable<Uint8Array> =
      typeof source === "function" ? source(offset) : sliceChunks(source.subarray(offset));
    for await (const piece of chunks) {
      for (let i = 0; i < piece.byteLength; i += WRITE_CHUNK_BYTES) {
        const part = piece.subarray(i, i + WRITE_CHUNK_BYTES);
        const sent = await call.send(
          writeRequest({
            action: WriteAction.WRITE,
            ref,
            offset: BigInt(offset),
            data: Buffer.from(part.buffer, part.byteOffset, part.byteLength),
          }),
        );
        if (sent.isErr()) throw sent.error;
        offset += part.byteLength;
      }
    }
    const committed = await call.send(
      writeRequest({
        action: WriteAction.COMMIT,
        ref,
        total,
        offset: BigInt(offset),
        expected: opts.expected,
        labels: { ...(opts.labels ?? {}) },
      }),
    );
    if (committed.isErr()) throw committed.error;
    return { digest: committed.value.digest || opts.expected, written: offset - start, existed: false };
  }
}

async function* sliceChunks(data: Uint8Array): AsyncGenerator<Uint8Array, void, undefined> {
  yield data;
}
