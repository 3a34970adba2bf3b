import { connect, type Socket } from "node:net";
import createDebug from "debug";

const debug = createDebug("berth:image:socket");

/** Bytes a socket reads at once: one buffer per request, reused for every read of its body. */
export const SOCKET_READ_BYTES = 256 * 1024;
/** A response head longer than this fails the request. */
const MAX_HEAD_BYTES = 64 * 1024;
/** Bytes of a non-2xx body kept for its error message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Bytes the iterator form queues before it stops reading the socket. */
const ITERATOR_QUEUE_BYTES = 1 << 20;
/** Default of {@link SocketRequestOptions.idleTimeoutMs}: undici's headers and body timeouts. */
const IDLE_TIMEOUT_MS = 300_000;

/**
 * Takes a body's bytes synchronously, read by read. `chunk` is valid only during the call (the socket's buffer is
 * reused for the next read). Return a promise to stop reading until it settles; throw (or reject) to fail the body.
 */
export type BodySink = (chunk: Uint8Array) => Promise<void> | undefined;

/** Options of {@link socketGet}. */
export interface SocketRequestOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal | undefined;
  /**
   * Milliseconds with no progress (connecting, the head, the body while it is read) before the request fails
   * (default 300 000). Time the consumer holds the body paused does not count.
   */
  readonly idleTimeoutMs?: number;
}

/** A response read by {@link socketGet}: header names lower-cased, repeated headers as arrays. */
export interface SocketResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: SocketBody;
}

/** Why {@link socketGet} handed a response back unread: its framing (a chunked 2xx body) is for undici. */
export class UnsupportedFraming extends Error {
  override readonly name = "UnsupportedFraming";
}

function errorWithCode(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function parseHead(text: string): { statusCode: number; headers: Record<string, string | string[]> } {
  const lines = text.split("\r\n");
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
  if (!status) throw errorWithCode(`malformed HTTP status line ${JSON.stringify(lines[0]?.slice(0, 80))}`, "EPROTO");
  const headers: Record<string, string | string[]> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw errorWithCode(`malformed HTTP header line ${JSON.stringify(line.slice(0, 80))}`, "EPROTO");
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    const prior = headers[name];
    headers[name] = prior === undefined ? value : Array.isArray(prior) ? [...prior, value] : [prior, value];
  }
  return { statusCode: Number(status[1]), headers };
}

/** The first value of a (lower-cased) header. */
export function headerValue(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Decodes a complete chunked body (an error body read to the end of the connection); stops at what is there. */
function dechunk(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = raw.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = Number.parseInt(raw.subarray(at, eol).toString("latin1"), 16);
    if (!Number.isFinite(size) || size <= 0) break;
    parts.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

/**
 * The body of a {@link SocketResponse}: feed it to a synchronous sink ({@link SocketBody.pipeTo}, the fast form: no
 * copy, no stream), iterate it (copies of each read), read it as text, or drop it. Reading starts when a consumer
 * attaches; until then the socket is paused.
 */
export class SocketBody implements AsyncIterable<Uint8Array> {
  readonly #socket: Socket;
  /** Body bytes still to come; undefined: until the connection ends. */
  #remaining: number | undefined;
  readonly #chunked: boolean;
  /** Bytes read before a consumer attached (copied from the socket's buffer). */
  #early: Buffer[] = [];
  #sink: BodySink | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #wake: (() => void) | undefined;
  #attached = false;
  #ended = false;
  #error: Error | undefined;
  #settle: { resolve: () => void; reject: (e: Error) => void } | undefined;
  readonly #finish: () => void;
  readonly #idleMs: number;

  /**
   * @internal `idleMs`: the idle timeout, armed only while the body is being read (not while its consumer holds
   * it paused: that is not the server's silence).
   */
  constructor(
    socket: Socket,
    remaining: number | undefined,
    chunked: boolean,
    early: Buffer,
    finish: () => void,
    idleMs: number,
  ) {
    this.#socket = socket;
    this.#remaining = remaining;
    this.#chunked = chunked;
    this.#finish = finish;
    this.#idleMs = idleMs;
    if (remaining === 0) this.#ended = true;
    else if (early.length > 0) this.#early.push(remaining === undefined ? early : early.subarray(0, remaining));
    if (remaining !== undefined && early.length > 0) this.#take(Math.min(early.length, remaining));
    this.#pause();
  }

  /** True once every byte of the body was read (or it failed). */
  get ended(): boolean {
    return this.#ended || this.#error !== undefined;
  }

  /** @internal The socket read `n` bytes into `buffer`; false pauses the socket. */
  onRead(n: number, buffer: Buffer): boolean {
    if (this.ended) return false;
    let chunk = buffer.subarray(0, n);
    if (this.#remaining !== undefined && chunk.length > this.#remaining) chunk = chunk.subarray(0, this.#remaining);
    this.#take(chunk.length);
    let wait: Promise<void> | undefined;
    if (this.#sink) {
      try {
        wait = this.#sink(chunk);
      } catch (e) {
        this.fail(e as Error);
        return false;
      }
    } else if (this.#attached) {
      this.#queue.push(Buffer.from(chunk));
      this.#queued += chunk.length;
      this.#wake?.();
    } else {
      this.#early.push(Buffer.from(chunk));
    }
    if (this.#ended) {
      if (wait) {
        // The last read: close now, but settle only once the sink took it (and surface its rejection).
        this.#finish();
        wait.then(
          () => this.#done(),
          (e: unknown) => this.#failLast(e as Error),
        );
      } else this.#done();
      return false;
    }
    if (wait) {
      this.#pause();
      wait.then(
        () => this.#resume(),
        (e: unknown) => this.fail(e as Error),
      );
      return false;
    }
    const more = this.#sink !== undefined || (this.#attached && this.#queued < ITERATOR_QUEUE_BYTES);
    if (!more) this.#pause();
    return more;
  }

  /** @internal The connection ended (EOF). */
  onEnd(): void {
    if (this.ended) return;
    if (this.#remaining === undefined) {
      this.#ended = true;
      this.#done();
      return;
    }
    this.fail(errorWithCode(`connection closed with ${this.#remaining} bytes of the body unread`, "ECONNRESET"));
  }

  /** Fails the body (and closes the connection): the consumer's promise or iteration rejects with `e`. */
  fail(e: Error): void {
    if (this.ended) return;
    this.#error = e;
    this.#finish();
    this.#settle?.reject(e);
    this.#wake?.();
  }

  /** Reads the whole body into `sink`, read by read; resolves when every byte went in. */
  pipeTo(sink: BodySink): Promise<void> {
    if (this.#attached) return Promise.reject(new Error("the body is already being read"));
    this.#attached = true;
    return new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
      if (this.#error) reject(this.#error);
      else void this.#start(sink);
    });
  }

  /** Gives `sink` what was read before it attached, then reads on. */
  async #start(sink: BodySink): Promise<void> {
    try {
      for (const chunk of this.#early.splice(0)) await sink(chunk);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    if (this.#error) return;
    this.#sink = sink;
    if (this.#ended) this.#done();
    else this.#resume();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.#attached) throw new Error("the body is already being read");
    this.#attached = true;
    this.#queue = this.#early.splice(0);
    this.#queued = this.#queue.reduce((n, b) => n + b.length, 0);
    try {
      for (;;) {
        const next = this.#queue.shift();
        if (next) {
          this.#queued -= next.length;
          if (!this.ended && this.#queued < ITERATOR_QUEUE_BYTES) this.#resume();
          yield next;
          continue;
        }
        if (this.#error) throw this.#error;
        if (this.#ended) return;
        this.#resume();
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
      }
    } finally {
      if (this.ended) this.#finish();
      else this.destroy();
    }
  }

  /** The whole body as text (at most 64 KiB are kept; chunked framing is decoded). */
  async text(): Promise<string> {
    const parts: Buffer[] = [];
    let kept = 0;
    for await (const chunk of this) {
      if (kept < MAX_ERROR_BODY_BYTES) {
        parts.push(Buffer.from(chunk));
        kept += chunk.length;
      }
    }
    const raw = Buffer.concat(parts);
    return (this.#chunked ? dechunk(raw) : raw).subarray(0, MAX_ERROR_BODY_BYTES).toString("utf8");
  }

  /** Drops the body and closes the connection (every request has one of its own). */
  async dump(): Promise<void> {
    this.destroy();
  }

  /** Closes the connection; a consumer still reading fails. */
  destroy(): void {
    if (!this.ended) this.fail(errorWithCode("the body was dropped", "ECONNABORTED"));
    this.#finish();
  }

  #take(n: number): void {
    if (this.#remaining === undefined) return;
    this.#remaining -= n;
    if (this.#remaining <= 0) this.#ended = true;
  }

  /** Fails a body whose bytes were all read (the sink rejected the last one). */
  #failLast(e: Error): void {
    this.#error = e;
    this.#settle?.reject(e);
    this.#settle = undefined;
  }

  #done(): void {
    this.#finish();
    this.#settle?.resolve();
    this.#settle = undefined;
    this.#wake?.();
  }

  /** The consumer holds the body: the socket is (or is about to be) paused, and the idle timer with it. */
  #pause(): void {
    this.#socket.setTimeout(0);
  }

  #resume(): void {
    if (this.ended) return;
    this.#socket.setTimeout(this.#idleMs);
    this.#socket.resume();
  }
}

/**
 * One HTTP/1.1 GET over its own TCP connection (`Connection: close`), for plain-HTTP blob downloads: the body is read
 * into one buffer per request and handed to a synchronous sink, with no per-read allocation and no stream machinery
 * (on this 2-core machine about half the CPU undici's body stream costs per byte). Resolves once the response head
 * is in; the body waits (socket paused) until it is consumed or dropped. Interim 1xx responses are skipped; a chunked
 * 2xx body rejects with {@link UnsupportedFraming} (send that request through undici). Connection errors reject with
 * the socket's error (its `code`, e.g. `ECONNREFUSED`), an abort with the signal's reason.
 */
export function socketGet(url: URL, options: SocketRequestOptions): Promise<SocketResponse> {
  if (url.protocol !== "http:")
    return Promise.reject(new Error(`socketGet speaks plain HTTP only, not ${url.protocol}`));
  const signal = options.signal;
  if (signal?.aborted) return Promise.reject(signal.reason);
  const lines = [`GET ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, "connection: close"];
  for (const [name, value] of Object.entries(options.headers)) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) {
      return Promise.reject(errorWithCode(`header ${JSON.stringify(name)} holds a line break`, "ERR_INVALID_CHAR"));
    }
    lines.push(`${name}: ${value}`);
  }
  const request = `${lines.join("\r\n")}\r\n\r\n`;
  const idleMs = options.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  const port = url.port === "" ? 80 : Number(url.port);
  const hostname = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  return new Promise<SocketResponse>((resolve, reject) => {
    const buffer = Buffer.allocUnsafe(SOCKET_READ_BYTES);
    let head: Buffer = Buffer.alloc(0);
    let body: SocketBody | undefined;
    let settled = false;
    let closed = false;
    const finish = () => {
      if (closed) return;
      closed = true;
      signal?.removeEventListener("abort", onAbort);
      socket.destroy();
    };
    const failHead = (e: Error) => {
      finish();
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    const onAbort = () => {
      const reason = signal?.reason instanceof Error ? signal.reason : errorWithCode("aborted", "ABORT_ERR");
      if (body) body.fail(reason);
      else failHead(reason);
    };
    const onRead = (n: number, buf: Buffer): boolean => {
      if (body) return body.onRead(n, buf);
      head = Buffer.concat([head, buf.subarray(0, n)]);
      for (;;) {
        const end = head.indexOf("\r\n\r\n");
        if (end < 0) {
          if (head.length > MAX_HEAD_BYTES) failHead(errorWithCode("response head over 64 KiB", "EPROTO"));
          return !closed;
        }
        let parsed: ReturnType<typeof parseHead>;
        try {
          parsed = parseHead(head.subarray(0, end).toString("latin1"));
        } catch (e) {
          failHead(e as Error);
          return false;
        }
        const rest = head.subarray(end + 4);
        if (parsed.statusCode >= 100 && parsed.statusCode < 200) {
          head = rest;
          continue;
        }
        const { statusCode, headers } = parsed;
        const chunked = /\bchunked\b/i.test(headerValue(headers, "transfer-encoding") ?? "");
        if (chunked && statusCode >= 200 && statusCode < 300) {
          failHead(new UnsupportedFraming(`${url.host} sent a chunked body`));
          return false;
        }
        const length = headerValue(headers, "content-length");
        const remaining =
          statusCode === 204 || statusCode === 304 ? 0 : !chunked && length !== undefined ? Number(length) : undefined;
        if (remaining !== undefined && !(Number.isSafeInteger(remaining) && remaining >= 0)) {
          failHead(errorWithCode(`bad Content-Length ${JSON.stringify(length)}`, "EPROTO"));
          return false;
        }
        body = new SocketBody(socket, remaining, chunked, rest, finish, idleMs);
        settled = true;
        debug(
          "GET %s: HTTP %d, %s",
          url.pathname,
          statusCode,
          remaining === undefined ? "to EOF" : `${remaining} bytes`,
        );
        resolve({ statusCode, headers, body });
        return false;
      }
    };
    const socket = connect({ host: hostname, port, onread: { buffer, callback: onRead } });
    socket.setNoDelay(true);
    socket.setTimeout(idleMs, () => {
      const e = errorWithCode(`no progress from ${url.host} for ${idleMs} ms`, "ETIMEDOUT");
      if (body) body.fail(e);
      else failHead(e);
    });
    socket.on("error", (e) => {
      if (body) body.fail(e);
      else failHead(e);
    });
    // EOF, or the socket gone without one (each is a no-op once the body or the head settled).
    const onGone = () => {
      if (body) body.onEnd();
      else failHead(errorWithCode(`${url.host} closed the connection before a response`, "ECONNRESET"));
    };
    socket.on("end", onGone);
    socket.on("close", onGone);
    signal?.addEventListener("abort", onAbort, { once: true });
    socket.write(request, "latin1");
  });
}
