import { stat } from "node:fs/promises";
import {
  Channel,
  type ChannelCredentials,
  type ClientDuplexStream,
  type ClientOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  credentials,
  type CallOptions as GrpcCallOptions,
  status as GrpcStatus,
  Metadata,
  type ServiceError,
} from "@grpc/grpc-js";
import createDebug from "debug";
import { err, errAsync, ok, type Result, ResultAsync } from "neverthrow";
import type { ContainerdEndpoint } from "./address.js";
import { ContainerdError, codeOfGrpcStatus } from "./errors.js";

const debugGrpc = createDebug("berth:containerd:grpc");

/** containerd's Go client sends and accepts messages up to 16 MiB; grpc-js defaults to 4 MiB. */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** Per-call options accepted by every service method. */
export interface CallOptions {
  /** Aborts the call; the result is a `Canceled` error. */
  readonly signal?: AbortSignal;
  /** Deadline for this call in milliseconds; overrides the client's default. */
  readonly timeoutMs?: number;
  /** containerd namespace for this call; overrides the client's namespace. */
  readonly namespace?: string;
  /** Lease to attach created resources to (`containerd-lease` metadata). */
  readonly lease?: string;
}

/** What one call is sent with, after merging client defaults and per-call options. */
export interface CallContext {
  readonly namespace: string;
  readonly lease: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly signal: AbortSignal | undefined;
}

type ServerStreamMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
) => ClientReadableStream<Res>;

type BidiMethod<Req, Res> = (metadata: Metadata, options: Partial<GrpcCallOptions>) => ClientDuplexStream<Req, Res>;

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: Partial<GrpcCallOptions>,
  callback: (error: ServiceError | null, response: Res) => void,
) => ClientUnaryCall;

/**
 * One gRPC channel to one containerd. Service clients share it (`channelOverride`), so a
 * client holds one connection whatever the number of services it uses. grpc-js reconnects the
 * channel by itself after containerd restarts.
 */
export class Transport {
  readonly channel: Channel;
  readonly endpoint: ContainerdEndpoint;
  #closed = false;

  constructor(endpoint: ContainerdEndpoint) {
    this.endpoint = endpoint;
    this.channel = new Channel(endpoint.target, credentials.createInsecure(), {
      "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
      "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
      // containerd's unix socket has no authority; keep grpc-js from sending the path as one.
      "grpc.default_authority": "localhost",
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Constructs a generated service client on this transport's shared channel. */
  client<T>(ctor: new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => T): T {
    return new ctor(this.endpoint.target, credentials.createInsecure(), { channelOverride: this.channel });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.channel.close();
  }

  /**
   * Runs one unary call with containerd's metadata, a deadline and an AbortSignal, and maps
   * failures to {@link ContainerdError} with a message that says what to do.
   */
  unary<Req, Res>(
    service: object,
    method: UnaryMethod<Req, Res>,
    name: string,
    request: Req,
    ctx: CallContext,
    resource?: string,
  ): ResultAsync<Res, ContainerdError> {
    if (this.#closed) {
      return errAsync(new ContainerdError("Canceled", `${name}: the client is closed`, { resource: this.describe() }));
    }
    if (ctx.signal?.aborted) {
      return errAsync(
        new ContainerdError("Canceled", `${name}: aborted before it started`, { cause: ctx.signal.reason }),
      );
    }
    const metadata = new Metadata();
    metadata.set("containerd-namespace", ctx.namespace);
    if (ctx.lease !== undefined) metadata.set("containerd-lease", ctx.lease);
    const options: Partial<GrpcCallOptions> = {};
    if (ctx.timeoutMs !== undefined) options.deadline = Date.now() + ctx.timeoutMs;
    const started = debugGrpc.enabled ? performance.now() : 0;
    const settled = new Promise<Result<Res, ContainerdError>>((resolve) => {
      const call = method.call(service, request, metadata, options, (error, response) => {
        ctx.signal?.removeEventListener("abort", onAbort);
        if (debugGrpc.enabled) {
          const ms = (performance.now() - started).toFixed(1);
          if (error) debugGrpc("%s ns=%s failed after %sms: %s", name, ctx.namespace, ms, error.message);
          else debugGrpc("%s ns=%s ok in %sms", name, ctx.namespace, ms);
        }
        if (error) resolve(this.explain(error, name, ctx, resource).then((e) => err(e)));
        else resolve(ok(response));
      });
      const onAbort = () => call.cancel();
      ctx.signal?.addEventListener("abort", onAbort, { once: true });
    });
    return new ResultAsync(settled);
  }

  /** containerd's metadata (namespace, lease) and call options (deadline) for one call. */
  #prepare(ctx: CallContext): { metadata: Metadata; options: Partial<GrpcCallOptions> } {
    const metadata = new Metadata();
    metadata.set("containerd-namespace", ctx.namespace);
    if (ctx.lease !== undefined) metadata.set("containerd-lease", ctx.lease);
    const options: Partial<GrpcCallOptions> = {};
    if (ctx.timeoutMs !== undefined) options.deadline = Date.now() + ctx.timeoutMs;
    return { metadata, options };
  }

  /**
   * Runs one server-streaming call as an async iterable. Breaking out of the loop (or aborting
   * the signal) cancels the call; a failure is thrown as a {@link ContainerdError}.
   */
  async *serverStream<Req, Res>(
    service: object,
    method: ServerStreamMethod<Req, Res>,
    name: string,
    request: Req,
    ctx: CallContext,
    resource?: string,
  ): AsyncGenerator<Res, void, undefined> {
    if (this.#closed)
      throw new ContainerdError("Canceled", `${name}: the client is closed`, { resource: this.describe() });
    if (ctx.signal?.aborted) {
      throw new ContainerdError("Canceled", `${name}: aborted before it started`, { cause: ctx.signal.reason });
    }
    const { metadata, options } = this.#prepare(ctx);
    const call = method.call(service, request, metadata, options);
    // grpc-js emits 'error' after a local cancel; keep it from becoming an unhandled event.
    call.on("error", () => {});
    const onAbort = () => call.cancel();
    ctx.signal?.addEventListener("abort", onAbort, { once: true });
    let finished = false;
    debugGrpc("%s ns=%s stream opened", name, ctx.namespace);
    try {
      for await (const message of call as AsyncIterable<Res>) yield message;
      finished = true;
    } catch (e) {
      finished = true;
      throw await this.explain(e, name, ctx, resource);
    } finally {
      ctx.signal?.removeEventListener("abort", onAbort);
      if (!finished) call.cancel();
      debugGrpc("%s ns=%s stream closed", name, ctx.namespace);
    }
  }

  /**
   * Opens one bidirectional stream for lock-step request/response protocols (content Write):
   * each {@link BidiCall.send} writes one message and resolves with the next response.
   */
  bidi<Req, Res>(
    service: object,
    method: BidiMethod<Req, Res>,
    name: string,
    ctx: CallContext,
    resource?: string,
  ): Result<BidiCall<Req, Res>, ContainerdError> {
    if (this.#closed) {
      return err(new ContainerdError("Canceled", `${name}: the client is closed`, { resource: this.describe() }));
    }
    if (ctx.signal?.aborted) {
      return err(new ContainerdError("Canceled", `${name}: aborted before it started`, { cause: ctx.signal.reason }));
    }
    const { metadata, options } = this.#prepare(ctx);
    const call = method.call(service, metadata, options);
    return ok(new BidiCall(call, (e) => this.explain(e, name, ctx, resource), ctx.signal));
  }

  describe(): string {
    return this.endpoint.kind === "unix" ? `socket ${this.endpoint.path}` : `tcp ${this.endpoint.target}`;
  }

  /** Turns a grpc-js failure into a ContainerdError, diagnosing connection failures on the socket. */
  async explain(error: unknown, name: string, ctx: CallContext, resource?: string): Promise<ContainerdError> {
    const se = error as Partial<ServiceError>;
    const grpcCode = typeof se.code === "number" ? se.code : GrpcStatus.UNKNOWN;
    const details = se.details ?? (error instanceof Error ? error.message : String(error));
    const base = { grpcCode, cause: error, ...(resource === undefined ? {} : { resource }) };
    if (grpcCode === GrpcStatus.CANCELLED && ctx.signal?.aborted) {
      return new ContainerdError("Canceled", `${name}: aborted`, base);
    }
    if (grpcCode === GrpcStatus.UNAVAILABLE) {
      const why = await this.diagnoseUnavailable(details);
      return new ContainerdError("Unavailable", `${name}: ${why}`, { ...base, resource: resource ?? this.describe() });
    }
    if (grpcCode === GrpcStatus.INTERNAL && /protocol|http2|frame/i.test(details)) {
      return new ContainerdError(
        "Unavailable",
        `${name}: the server at ${this.describe()} does not speak gRPC (${details}); is this containerd's socket?`,
        { ...base, resource: resource ?? this.describe() },
      );
    }
    if (grpcCode === GrpcStatus.DEADLINE_EXCEEDED) {
      return new ContainerdError(
        "DeadlineExceeded",
        `${name}: no answer within ${ctx.timeoutMs ?? "the"} ms deadline from ${this.describe()}`,
        base,
      );
    }
    return new ContainerdError(codeOfGrpcStatus(grpcCode), `${name}: ${details}`, base);
  }

  async diagnoseUnavailable(details: string): Promise<string> {
    const where = this.describe();
    if (this.endpoint.kind === "unix") {
      const path = this.endpoint.path;
      try {
        const st = await stat(path);
        if (!st.isSocket()) return `${path} exists but is not a unix socket; point the address at containerd's socket`;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          return (
            `no containerd socket at ${path}: start containerd ` +
            `or set the address / CONTAINERD_ADDRESS to its socket`
          );
        }
        if (code === "EACCES")
          return `permission denied reaching ${path}: run as root or as a user allowed on the socket`;
      }
      if (/EACCES|EPERM/.test(details))
        return `permission denied connecting to ${path}: run as root or as a user allowed on the socket`;
      if (/ECONNREFUSED/.test(details))
        return `connection refused on ${path}: containerd is not running (stale socket file?)`;
    }
    return `containerd at ${where} is unavailable (${details}); is it running?`;
  }
}

/**
 * One open bidirectional stream used in lock step: every request is answered by one response.
 * Created by {@link Transport.bidi}; always {@link BidiCall.close} it.
 */
export class BidiCall<Req, Res> {
  readonly #call: ClientDuplexStream<Req, Res>;
  readonly #explain: (e: unknown) => Promise<ContainerdError>;
  readonly #signal: AbortSignal | undefined;
  readonly #responses: Res[] = [];
  #waiter: ((r: Result<Res, unknown>) => void) | undefined;
  #failure: unknown;
  #ended = false;
  readonly #onAbort = () => this.#call.cancel();

  constructor(
    call: ClientDuplexStream<Req, Res>,
    explain: (e: unknown) => Promise<ContainerdError>,
    signal: AbortSignal | undefined,
  ) {
    this.#call = call;
    this.#explain = explain;
    this.#signal = signal;
    signal?.addEventListener("abort", this.#onAbort, { once: true });
    call.on("data", (res: Res) => {
      const w = this.#waiter;
      this.#waiter = undefined;
      if (w) w(ok(res));
      else this.#responses.push(res);
    });
    call.on("error", (e: unknown) => this.#fail(e));
    call.on("end", () => {
      this.#ended = true;
      this.#fail(new Error("the server closed the stream"));
    });
  }

  #fail(e: unknown): void {
    if (this.#failure === undefined) this.#failure = e;
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.(err(e));
  }

  /** Sends one request and waits for its response. */
  send(request: Req): ResultAsync<Res, ContainerdError> {
    const next = new Promise<Result<Res, unknown>>((resolve) => {
      const queued = this.#responses.shift();
      if (queued !== undefined) {
        resolve(ok(queued));
        return;
      }
      if (this.#failure !== undefined) {
        resolve(err(this.#failure));
        return;
      }
      this.#waiter = resolve;
    });
    this.#call.write(request);
    return new ResultAsync(next.then(async (r) => (r.isOk() ? ok(r.value) : err(await this.#explain(r.error)))));
  }

  /** Half-closes the stream (cancelling it if the server has not finished) and detaches the signal. */
  close(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#call.end();
    if (!this.#ended) this.#call.cancel();
  }
}
