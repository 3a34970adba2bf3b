import { createConnection, type Socket } from "node:net";
import { ExtData, encode } from "@msgpack/msgpack";
import createDebug from "debug";
import type { FluentdAddress } from "./fluentd.js";
import { type LogBatch, lineText } from "./line-splitter.js";

const debug = createDebug("berth:log-shim:fluentd");

/** Settings of {@link FluentdForwarder}. */
export interface FluentdForwarderOptions {
  /** Where fluentd (or Fluent Bit) listens: tcp or unix (TLS is not supported). */
  readonly address: Exclude<FluentdAddress, { protocol: "tls" }>;
  /** The tag of every record. */
  readonly tag: string;
  /** `container_id` of every record. */
  readonly containerId: string;
  /** `container_name` of every record. */
  readonly containerName: string;
  /** How long one batch may wait for a connection and its write before it fails. */
  readonly writeTimeoutMs: number;
}

/** A fluentd record as Docker's fluentd driver writes it (partial fields only on pieces of long lines). */
export interface FluentdRecord {
  container_id: string;
  container_name: string;
  source: string;
  log: string;
  partial_message?: "true";
  partial_id?: string;
  partial_ordinal?: string;
  partial_last?: "true" | "false";
}

/** Fluentd's EventTime (msgpack ext type 0): seconds and nanoseconds, both big-endian uint32. */
export function eventTime(epochNs: bigint): ExtData {
  const data = new Uint8Array(8);
  const view = new DataView(data.buffer);
  view.setUint32(0, Number(epochNs / 1_000_000_000n));
  view.setUint32(4, Number(epochNs % 1_000_000_000n));
  return new ExtData(0, data);
}

/**
 * Encodes batches as one Forward-mode message of the fluentd forward protocol: `[tag, [[EventTime, record], ...]]`.
 * Records carry `container_id`, `container_name`, `source` (stdout/stderr) and `log` (without the newline), like
 * Docker's fluentd driver; pieces of a long line add `partial_message`, `partial_id`, `partial_ordinal` and
 * `partial_last`.
 */
export function encodeForward(tag: string, containerId: string, containerName: string, batches: readonly LogBatch[]) {
  const entries: Array<[ExtData, FluentdRecord]> = [];
  for (const batch of batches) {
    const time = eventTime(batch.timeNs);
    for (const line of batch.lines) {
      const record: FluentdRecord = {
        container_id: containerId,
        container_name: containerName,
        source: batch.stream,
        log: lineText(line),
      };
      if (line.partial) {
        record.partial_message = "true";
        record.partial_id = line.partial.id;
        record.partial_ordinal = String(line.partial.ordinal);
        record.partial_last = line.partial.last ? "true" : "false";
      }
      entries.push([time, record]);
    }
  }
  return encode([tag, entries]);
}

function describe(a: FluentdForwarderOptions["address"]): string {
  return a.protocol === "unix" ? `unix://${a.path}` : `${a.host}:${a.port}`;
}

/**
 * A fluentd forward-protocol client: one connection, opened on demand and re-opened with back-off after a
 * failure; each {@link FluentdForwarder.write} either hands its message to the kernel within the write timeout
 * or fails (the caller drops the lines). No acknowledgements (`require_ack_response`) are requested, so what the
 * kernel accepted just before the receiver died can be lost, as with Docker's driver.
 */
export class FluentdForwarder {
  private socket: Socket | undefined;
  private backoffMs = 0;

  constructor(private readonly options: FluentdForwarderOptions) {}

  /** Sends the batches as one forward message; rejects on timeout, abort or connection failure. */
  async write(batches: readonly LogBatch[], signal?: AbortSignal): Promise<void> {
    const o = this.options;
    const payload = encodeForward(o.tag, o.containerId, o.containerName, batches);
    const deadline = Date.now() + o.writeTimeoutMs;
    const socket = await this.connected(deadline, signal);
    await new Promise<void>((resolve, reject) => {
      const fail = (e: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.drop(socket, e);
        reject(e);
      };
      const onAbort = () => fail(new Error("aborted"));
      const timer = setTimeout(() => fail(new Error("write timed out")), Math.max(1, deadline - Date.now()));
      signal?.addEventListener("abort", onAbort, { once: true });
      socket.write(payload, (e) => {
        if (e) return fail(e);
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve();
      });
    });
  }

  private drop(socket: Socket, why: Error): void {
    if (this.socket === socket) {
      debug("connection to %s lost: %s", describe(this.options.address), why.message);
      this.socket = undefined;
    }
    socket.destroy();
  }

  private async connected(deadline: number, signal?: AbortSignal): Promise<Socket> {
    while (this.socket === undefined) {
      if (signal?.aborted) throw new Error("aborted");
      if (this.backoffMs > 0) {
        const wait = Math.min(this.backoffMs, deadline - Date.now());
        if (wait <= 0) throw new Error(`cannot reach fluentd at ${describe(this.options.address)}`);
        await new Promise((r) => setTimeout(r, wait));
      }
      try {
        this.socket = await this.open(deadline, signal);
        this.backoffMs = 0;
        debug("connected to %s", describe(this.options.address));
      } catch (e) {
        this.backoffMs = Math.min(Math.max(this.backoffMs * 2, 50), 1000);
        if (Date.now() >= deadline) {
          throw new Error(`cannot reach fluentd at ${describe(this.options.address)}: ${(e as Error).message}`);
        }
      }
    }
    return this.socket;
  }

  private open(deadline: number, signal?: AbortSignal): Promise<Socket> {
    const a = this.options.address;
    return new Promise<Socket>((resolve, reject) => {
      const socket = a.protocol === "unix" ? createConnection(a.path) : createConnection(a.port, a.host);
      const timer = setTimeout(() => finish(new Error("connect timed out")), Math.max(1, deadline - Date.now()));
      const onAbort = () => finish(new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
      const finish = (e?: Error) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        socket.off("connect", onConnect);
        socket.off("error", onError);
        if (e) {
          socket.destroy();
          reject(e);
          return;
        }
        socket.on("error", (err) => this.drop(socket, err));
        socket.on("close", () => this.drop(socket, new Error("closed by peer")));
        // fluentd answers only when asked for acks; anything it sends is ignored.
        socket.on("data", () => {});
        resolve(socket);
      };
      const onConnect = () => finish();
      const onError = (e: Error) => finish(e);
      socket.once("connect", onConnect);
      socket.once("error", onError);
    });
  }

  /** Ends the connection after what was written so far. */
  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        socket.destroy();
        resolve();
      }, 1000);
      socket.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    socket.destroy();
  }
}
