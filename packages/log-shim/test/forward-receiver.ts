// A minimal fluentd forward-protocol receiver for tests: accepts Message, Forward and PackedForward
// (and CompressedPackedForward is refused), records every event with its tag and nanosecond time.
import { createServer, type Server, type Socket } from "node:net";
import { decodeMulti, decodeMultiStream, ExtData } from "@msgpack/msgpack";

export interface ForwardEvent {
  readonly tag: string;
  readonly timeNs: bigint;
  readonly record: Record<string, unknown>;
}

export interface ForwardReceiver {
  /** `127.0.0.1:port` or `unix:///path`, as --fluentd-address takes it. */
  readonly address: string;
  readonly events: ForwardEvent[];
  /** Resolves when at least `n` events arrived (rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs: number): Promise<void>;
  /** Stops listening and cuts every connection (a receiver that died). */
  kill(): Promise<void>;
}

function timeOf(t: unknown): bigint {
  const data = t instanceof ExtData && t.type === 0 ? (t.data as Uint8Array) : undefined;
  if (data?.length === 8) {
    const v = new DataView(data.buffer, data.byteOffset, 8);
    return BigInt(v.getUint32(0)) * 1_000_000_000n + BigInt(v.getUint32(4));
  }
  if (typeof t === "number") return BigInt(t) * 1_000_000_000n;
  throw new Error(`bad event time ${String(t)}`);
}

function entriesOf(tag: string, entries: unknown, out: ForwardEvent[]): void {
  const list = entries instanceof Uint8Array ? [...decodeMulti(entries)] : (entries as unknown[]);
  for (const e of list) {
    const [t, record] = e as [unknown, Record<string, unknown>];
    out.push({ tag, timeNs: timeOf(t), record });
  }
}

/** Starts a receiver on 127.0.0.1 port 0 (`listen` undefined) or on a unix socket path. */
export async function startForwardReceiver(unixPath?: string): Promise<ForwardReceiver> {
  const events: ForwardEvent[] = [];
  const sockets = new Set<Socket>();
  const waiters = new Set<() => void>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    (async () => {
      for await (const msg of decodeMultiStream(socket)) {
        const [tag, second, third, option] = msg as [string, unknown, unknown, Record<string, unknown>?];
        if (option && typeof option === "object" && "compressed" in option) throw new Error("compressed unsupported");
        if (Array.isArray(second) || second instanceof Uint8Array) entriesOf(tag, second, events);
        else events.push({ tag, timeNs: timeOf(second), record: third as Record<string, unknown> });
        for (const w of waiters) w();
      }
    })().catch(() => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    if (unixPath) server.listen(unixPath, resolve);
    else server.listen(0, "127.0.0.1", resolve);
  });
  const a = server.address();
  const address = typeof a === "string" ? `unix://${a}` : `127.0.0.1:${a?.port}`;
  return {
    address,
    events,
    waitFor(n, timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (events.length >= n) {
            clearTimeout(timer);
            waiters.delete(check);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`only ${events.length} of ${n} events arrived in ${timeoutMs} ms`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    kill() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
