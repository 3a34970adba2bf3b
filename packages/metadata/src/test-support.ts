// Test support (not exported from index.ts): small HTTP clients for the server tests.
import { request } from "node:http";
import { connect } from "node:net";

/** A response as the tests look at it. */
export interface TestResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/** One request on a fresh connection (no keep-alive pooling), with an optional local address. */
export function get(
  url: string,
  options: { method?: string; headers?: Record<string, string>; localAddress?: string; path?: string } = {},
): Promise<TestResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: options.path ?? `${u.pathname}${u.search}`,
        method: options.method ?? "GET",
        headers: options.headers ?? {},
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * Writes `chunks` to a raw TCP connection, waiting `gapMs` between them, and resolves with
 * everything the server sent back before closing (or after `maxMs`).
 */
export function raw(
  port: number,
  chunks: readonly string[],
  options: { gapMs?: number; maxMs?: number; host?: string } = {},
): Promise<{ text: string; closedByServer: boolean; elapsedMs: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    const socket = connect({ host: options.host ?? "127.0.0.1", port });
    let text = "";
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(limit);
      socket.destroy();
      resolve({ text, closedByServer, elapsedMs: performance.now() - started });
    };
    const limit = setTimeout(() => finish(false), options.maxMs ?? 10_000);
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    socket.on("close", () => finish(true));
    socket.on("error", () => finish(true));
    socket.on("connect", async () => {
      for (const chunk of chunks) {
        if (done || socket.destroyed) return;
        socket.write(chunk);
        if (options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
      }
    });
  });
}
