import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { SOCKET_READ_BYTES, type SocketResponse, socketGet, UnsupportedFraming } from "./socket-http.js";

/** One connection the test server accepted. */
interface Conn {
  readonly socket: Socket;
  /** The request head as received (up to and including the blank line). */
  readonly head: string;
  /** Every byte the client sent. */
  readonly received: () => Buffer;
  /** Resolves when the client's side is gone (the server socket closed). */
  readonly closed: Promise<void>;
}

interface TestServer {
  readonly port: number;
  readonly url: (path?: string) => URL;
  /** Connections accepted so far. */
  readonly accepted: () => number;
  /** Bytes received over every connection, head or not. */
  readonly bytesReceived: () => number;
  /** The next connection whose request head has arrived. */
  readonly next: () => Promise<Conn>;
  readonly server: Server;
  /** Server-side sockets still open (the cleanup cuts what a failing test left). */
  readonly live: Set<Socket>;
}

const servers: TestServer[] = [];

/** A loopback TCP server; `respond` runs once a connection's request head is in. */
async function serve(respond?: (c: Conn) => void): Promise<TestServer> {
  let accepted = 0;
  let bytes = 0;
  const ready: Conn[] = [];
  const waiting: ((c: Conn) => void)[] = [];
  const live = new Set<Socket>();
  const server = createServer((socket) => {
    accepted++;
    live.add(socket);
    socket.once("close", () => live.delete(socket));
    socket.on("error", () => {});
    const chunks: Buffer[] = [];
    const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
    let announced = false;
    socket.on("data", (d: Buffer) => {
      bytes += d.length;
      chunks.push(d);
      const all = Buffer.concat(chunks);
      const end = all.indexOf("\r\n\r\n");
      if (announced || end < 0) return;
      announced = true;
      const conn: Conn = {
        socket,
        head: all.subarray(0, end + 4).toString("latin1"),
        received: () => Buffer.concat(chunks),
        closed,
      };
      respond?.(conn);
      const w = waiting.shift();
      if (w) w(conn);
      else ready.push(conn);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const port = address.port;
  const s: TestServer = {
    port,
    url: (path = "/blob") => new URL(`http://127.0.0.1:${port}${path}`),
    accepted: () => accepted,
    bytesReceived: () => bytes,
    next: () => {
      const c = ready.shift();
      return c ? Promise.resolve(c) : new Promise<Conn>((resolve) => waiting.push(resolve));
    },
    server,
    live,
  };
  servers.push(s);
  return s;
}

function connections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n))));
}

/** Waits (up to 2 s) until the server holds no connection; the client closed every socket it opened. */
async function expectNoOpenConnections(server: Server): Promise<void> {
  const until = Date.now() + 2000;
  let n = await connections(server);
  while (n > 0 && Date.now() < until) {
    await sleep(10);
    n = await connections(server);
  }
  expect(n).toBe(0);
}

afterEach(async () => {
  const open = servers.splice(0);
  try {
    for (const s of open) await expectNoOpenConnections(s.server);
  } finally {
    for (const s of open) {
      // Only after the check: a leaked client socket must fail the test above, not be cut here.
      for (const c of s.live) c.destroy();
      await new Promise<void>((resolve) => s.server.close(() => resolve()));
    }
  }
});

function sha(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function head(status: string, headers: Record<string, string | number> = {}): string {
  const lines = [`HTTP/1.1 ${status}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/** Reads a body through pipeTo into one buffer (copying each read: the chunk is valid only during the call). */
async function pipeAll(res: SocketResponse): Promise<{ bytes: Buffer; reads: number; largest: number }> {
  const parts: Buffer[] = [];
  let largest = 0;
  await res.body.pipeTo((chunk) => {
    parts.push(Buffer.from(chunk));
    largest = Math.max(largest, chunk.byteLength);
    return undefined;
  });
  return { bytes: Buffer.concat(parts), reads: parts.length, largest };
}

async function iterateAll(res: SocketResponse): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of res.body) parts.push(chunk);
  return Buffer.concat(parts);
}

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (e) {
    return e as Error & { code?: string };
  }
  throw new Error("expected a rejection");
}

describe("socketGet: bodies", () => {
  const big = randomBytes(6 * 1024 * 1024 + 123);

  it("reads a multi-MB Content-Length body exactly through pipeTo, in reads of at most 256 KiB", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": big.length }));
      c.socket.write(big); // and the server keeps the connection open: the client must close it
    });
    const res = await socketGet(s.url(), { headers: {} });
    expect(res.statusCode).toBe(200);
    expect(res.body.ended).toBe(false);
    const { bytes, largest } = await pipeAll(res);
    expect(bytes.length).toBe(big.length);
    expect(sha(bytes)).toBe(sha(big));
    expect(largest).toBeLessThanOrEqual(SOCKET_READ_BYTES);
    expect(res.body.ended).toBe(true);
  });

  it("reads a multi-MB Content-Length body exactly through async iteration (copies of each read)", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": big.length }));
      c.socket.write(big);
    });
    const res = await socketGet(s.url(), { headers: {} });
    const parts: Uint8Array[] = [];
    for await (const chunk of res.body) parts.push(chunk);
    // Copies: no two chunks share memory (the socket's buffer is reused for every read).
    expect(new Set(parts.map((p) => p.buffer)).size).toBe(parts.length);
    const bytes = Buffer.concat(parts);
    expect(bytes.length).toBe(big.length);
    expect(sha(bytes)).toBe(sha(big));
  });

  it("stops at Content-Length even when the server sends more", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 5 })}helloEXTRA-BYTES`));
    const res = await socketGet(s.url(), { headers: {} });
    expect((await pipeAll(res)).bytes.toString()).toBe("hello");
  });

  it("keeps body bytes that came in the same packet as the head", async () => {
    const body = randomBytes(1000);
    const s = await serve((c) => {
      c.socket.write(Buffer.concat([Buffer.from(head("200 OK", { "Content-Length": body.length + 3 })), body]));
      setTimeout(() => c.socket.write("xyz"), 30);
    });
    const res = await socketGet(s.url(), { headers: {} });
    const { bytes } = await pipeAll(res);
    expect(bytes.equals(Buffer.concat([body, Buffer.from("xyz")]))).toBe(true);
  });

  it("serves a body that was wholly in the head's packet (both to pipeTo and to iteration)", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 11 })}hello world`));
    const a = await socketGet(s.url(), { headers: {} });
    await sleep(20);
    expect((await pipeAll(a)).bytes.toString()).toBe("hello world");
    const b = await socketGet(s.url(), { headers: {} });
    await sleep(20);
    expect((await iterateAll(b)).toString()).toBe("hello world");
  });

  it("loses nothing the server sent before the consumer attached", async () => {
    const body = randomBytes(3 * 1024 * 1024);
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": body.length }));
      c.socket.write(body);
    });
    const res = await socketGet(s.url(), { headers: {} });
    await sleep(150); // the server has written all it could meanwhile
    const { bytes } = await pipeAll(res);
    expect(sha(bytes)).toBe(sha(body));
    const again = await socketGet(s.url(), { headers: {} });
    await sleep(150);
    expect(sha(await iterateAll(again))).toBe(sha(body));
  });

  it("reads a body without Content-Length to the end of the connection", async () => {
    const body = randomBytes(2 * 1024 * 1024 + 7);
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Type": "application/octet-stream" }));
      c.socket.end(body);
    });
    const res = await socketGet(s.url(), { headers: {} });
    expect(sha((await pipeAll(res)).bytes)).toBe(sha(body));
    const again = await socketGet(s.url(), { headers: {} });
    expect(sha(await iterateAll(again))).toBe(sha(body));
  });

  it("ends a Content-Length: 0 body and a 204 at once, and closes their connections", async () => {
    let n = 0;
    const s = await serve((c) => {
      // Neither response ends the connection: the client must.
      c.socket.write(n++ === 0 ? head("200 OK", { "Content-Length": 0 }) : head("204 No Content"));
    });
    const zero = await socketGet(s.url(), { headers: {} });
    expect(zero.statusCode).toBe(200);
    expect(zero.body.ended).toBe(true);
    expect(await pipeAll(zero)).toEqual({ bytes: Buffer.alloc(0), reads: 0, largest: 0 });
    const none = await socketGet(s.url(), { headers: {} });
    expect(none.statusCode).toBe(204);
    expect(none.body.ended).toBe(true);
    expect((await iterateAll(none)).length).toBe(0);
  });

  it("skips interim 1xx responses, in one packet or apart", async () => {
    let n = 0;
    const s = await serve((c) => {
      const final = `${head("200 OK", { "Content-Length": 5 })}hello`;
      if (n++ === 0) c.socket.write(`HTTP/1.1 100 Continue\r\n\r\n${final}`);
      else {
        c.socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x>\r\n\r\n");
        setTimeout(() => c.socket.write(final), 30);
      }
    });
    for (let i = 0; i < 2; i++) {
      const res = await socketGet(s.url(), { headers: {} });
      expect(res.statusCode).toBe(200);
      expect(res.headers).toEqual({ "content-length": "5" });
      expect((await pipeAll(res)).bytes.toString()).toBe("hello");
    }
  });

  it("rejects a chunked 2xx with UnsupportedFraming and closes the connection", async () => {
    const s = await serve((c) =>
      c.socket.write(`${head("200 OK", { "Transfer-Encoding": "chunked" })}5\r\nhello\r\n0\r\n\r\n`),
    );
    const e = await rejection(socketGet(s.url(), { headers: {} }));
    expect(e).toBeInstanceOf(UnsupportedFraming);
    expect(e.name).toBe("UnsupportedFraming");
    expect(s.accepted()).toBe(1);
  });

  it("decodes a chunked error body in text()", async () => {
    const s = await serve((c) => {
      c.socket.write(head("404 Not Found", { "Transfer-Encoding": "chunked", "Content-Type": "application/json" }));
      const parts = ['{"errors', '":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"', "}]}"];
      // Sizes in hex, one with a chunk extension, then the last chunk and an empty trailer.
      const framed = parts.map((p, i) => `${Buffer.byteLength(p).toString(16)}${i === 1 ? ";ext=1" : ""}\r\n${p}\r\n`);
      c.socket.end(`${framed.join("")}0\r\n\r\n`);
    });
    const res = await socketGet(s.url(), { headers: {} });
    expect(res.statusCode).toBe(404);
    expect(await res.body.text()).toBe('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown to registry"}]}');
  });

  it("keeps at most 64 KiB of a text() body", async () => {
    const s = await serve((c) => {
      c.socket.write(head("500 Internal Server Error", { "Content-Length": 200_000 }));
      c.socket.write("a".repeat(200_000));
    });
    const res = await socketGet(s.url(), { headers: {} });
    expect(await res.body.text()).toBe("a".repeat(64 * 1024));
  });
});

describe("socketGet: request and headers", () => {
  it("sends the request line, Host, connection: close and the caller's headers; lower-cases response names", async () => {
    const s = await serve((c) =>
      c.socket.write(
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nDocker-Content-Digest: sha256:abc\r\nX-Rep: one\r\n" +
          'x-rep:  two \r\nX-REP: three\r\nWWW-Authenticate: Bearer realm="r"\r\n\r\n',
      ),
    );
    const res = await socketGet(s.url("/v2/lib/x/blobs/sha256:abc?ns=docker.io&n=1"), {
      headers: { Authorization: "Bearer tok", Range: "bytes=5-", "User-Agent": "berth-test" },
    });
    const c = await s.next();
    expect(c.head).toBe(
      "GET /v2/lib/x/blobs/sha256:abc?ns=docker.io&n=1 HTTP/1.1\r\n" +
        `host: 127.0.0.1:${s.port}\r\n` +
        "connection: close\r\n" +
        "Authorization: Bearer tok\r\n" +
        "Range: bytes=5-\r\n" +
        "User-Agent: berth-test\r\n\r\n",
    );
    expect(c.received().length).toBe(c.head.length);
    expect(res.headers).toEqual({
      "content-length": "0",
      "docker-content-digest": "sha256:abc",
      "x-rep": ["one", "two", "three"],
      "www-authenticate": 'Bearer realm="r"',
    });
    await res.body.dump();
  });

  it("rejects a header value or name holding CR or LF without sending a byte", async () => {
    const s = await serve((c) => c.socket.write(head("200 OK", { "Content-Length": 0 })));
    for (const headers of [
      { Authorization: "Bearer x\r\nX-Injected: 1" },
      { Authorization: "Bearer x\nX-Injected: 1" },
      { "X-A\r\nX-Injected": "1" },
    ]) {
      const e = await rejection(socketGet(s.url(), { headers }));
      expect(e.code).toBe("ERR_INVALID_CHAR");
    }
    await sleep(50);
    expect(s.bytesReceived()).toBe(0);
  });

  it("rejects a URL that is not plain http", async () => {
    for (const url of ["https://127.0.0.1:1/x", "ftp://127.0.0.1/x"]) {
      const e = await rejection(socketGet(new URL(url), { headers: {} }));
      expect(e.message).toMatch(/plain HTTP only/);
    }
  });

  it("rejects a malformed status line, a bad Content-Length and a head over 64 KiB with code EPROTO", async () => {
    let n = 0;
    const s = await serve((c) => {
      const which = n++;
      if (which === 0) c.socket.write("SSH-2.0-OpenSSH\r\n\r\n");
      else if (which === 1) c.socket.write(head("200 OK", { "Content-Length": "12abc" }));
      else if (which === 2) c.socket.write(head("200 OK", { "Content-Length": -1 }));
      else c.socket.write(`HTTP/1.1 200 OK\r\n${"X-Filler: yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n".repeat(2000)}`);
    });
    for (let i = 0; i < 4; i++) expect((await rejection(socketGet(s.url(), { headers: {} }))).code).toBe("EPROTO");
  });
});

describe("socketGet: failures", () => {
  it("rejects pipeTo with ECONNRESET when the server closes mid-body (FIN or RST)", async () => {
    let n = 0;
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 1_000_000 }));
      const first = n++ === 0;
      c.socket.write(Buffer.alloc(300_000, 1), () => {
        setTimeout(() => (first ? c.socket.end() : c.socket.resetAndDestroy()), 20);
      });
    });
    for (let i = 0; i < 2; i++) {
      const res = await socketGet(s.url(), { headers: {} });
      let got = 0;
      const e = await rejection(
        res.body.pipeTo((chunk) => {
          got += chunk.byteLength;
          return undefined;
        }),
      );
      expect(e.code).toBe("ECONNRESET");
      // After a FIN every byte sent was read; a reset may discard what the client had not read yet.
      if (i === 0) expect(got).toBe(300_000);
      else expect(got).toBeLessThanOrEqual(300_000);
      expect(res.body.ended).toBe(true);
    }
  });

  it("fails the iteration with ECONNRESET when the server closes mid-body", async () => {
    const s = await serve((c) => c.socket.end(`${head("200 OK", { "Content-Length": 100 })}only-this`));
    const res = await socketGet(s.url(), { headers: {} });
    expect((await rejection(iterateAll(res))).code).toBe("ECONNRESET");
  });

  it("rejects with ECONNRESET when the server closes before a response", async () => {
    const s = await serve((c) => c.socket.end());
    expect((await rejection(socketGet(s.url(), { headers: {} }))).code).toBe("ECONNRESET");
  });

  it("fails the body when the sink throws, and closes the socket", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 10_000_000 }));
      c.socket.write(Buffer.alloc(1_000_000, 7));
    });
    const res = await socketGet(s.url(), { headers: {} });
    const boom = new Error("disk full");
    let calls = 0;
    const e = await rejection(
      res.body.pipeTo(() => {
        calls++;
        throw boom;
      }),
    );
    expect(e).toBe(boom);
    expect(calls).toBe(1);
    expect(res.body.ended).toBe(true);
    await (await s.next()).closed;
  });

  it("fails the body when the sink's promise rejects", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 10_000_000 }));
      c.socket.write(Buffer.alloc(1_000_000, 7));
    });
    const res = await socketGet(s.url(), { headers: {} });
    const boom = new Error("write failed");
    expect(await rejection(res.body.pipeTo(() => Promise.reject(boom)))).toBe(boom);
    await (await s.next()).closed;
  });

  it("settles pipeTo only after the sink's promise for the last read settled", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 5 })}`));
    // Body bytes come after the consumer attached, so the last read goes to the sink from the socket.
    const res = await socketGet(s.url(), { headers: {} });
    const c = await s.next();
    let settled = false;
    const piped = res.body.pipeTo(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            settled = true;
            resolve();
          }, 100),
        ),
    );
    c.socket.write("hello");
    await piped;
    expect(settled).toBe(true);
  });

  it("fails the body when the sink's promise for the last read rejects", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 5 })}`));
    const boom = new Error("last write failed");
    const res2 = await socketGet(s.url(), { headers: {} });
    const c2 = await s.next();
    const piped2 = res2.body.pipeTo(() => Promise.reject(boom));
    c2.socket.write("hello");
    expect(await rejection(piped2)).toBe(boom);
  });

  it("rejects with ECONNREFUSED when nothing listens", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const e = await rejection(socketGet(new URL(`http://127.0.0.1:${port}/x`), { headers: {} }));
    expect(e.code).toBe("ECONNREFUSED");
  });

  it("times out with ETIMEDOUT while waiting for the head", async () => {
    const s = await serve(); // accepts, never answers
    const started = Date.now();
    const e = await rejection(socketGet(s.url(), { headers: {}, idleTimeoutMs: 150 }));
    expect(e.code).toBe("ETIMEDOUT");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("times out with ETIMEDOUT when the body stalls", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 100 })}part`));
    const res = await socketGet(s.url(), { headers: {}, idleTimeoutMs: 150 });
    let got = 0;
    const e = await rejection(
      res.body.pipeTo((chunk) => {
        got += chunk.byteLength;
        return undefined;
      }),
    );
    expect(e.code).toBe("ETIMEDOUT");
    expect(got).toBe(4);
  });
});

describe("socketGet: the idle timeout counts only the server's silence", () => {
  it("does not time out while the consumer holds the body (late attach, a slow sink)", async () => {
    const body = randomBytes(4 * 1024 * 1024);
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": body.length }));
      c.socket.write(body);
    });
    const res = await socketGet(s.url(), { headers: {}, idleTimeoutMs: 100 });
    await sleep(250); // nobody reads: longer than the idle timeout
    const hash = createHash("sha256");
    let calls = 0;
    await res.body.pipeTo((chunk) => {
      hash.update(chunk);
      return ++calls === 2 ? sleep(250).then(() => undefined) : undefined;
    });
    expect(hash.digest("hex")).toBe(createHash("sha256").update(body).digest("hex"));
    expect(calls).toBeGreaterThan(2);
  });
});

describe("socketGet: back-pressure, abort and release", () => {
  it("stops reading while the sink's promise is pending, then delivers every byte in order", async () => {
    const body = randomBytes(24 * 1024 * 1024);
    let serverConn: Conn | undefined;
    const s = await serve((c) => {
      serverConn = c;
      c.socket.write(head("200 OK", { "Content-Length": body.length }));
      c.socket.write(body);
    });
    const res = await socketGet(s.url(), { headers: {} });
    const out = Buffer.alloc(body.length);
    let at = 0;
    let calls = 0;
    let callsWhileHeld = -1;
    let backlogWhileHeld = -1;
    await res.body.pipeTo((chunk) => {
      out.set(chunk, at);
      at += chunk.byteLength;
      calls++;
      if (calls !== 2) return undefined;
      return (async () => {
        await sleep(200);
        callsWhileHeld = calls;
        backlogWhileHeld = serverConn?.socket.writableLength ?? -1;
      })();
    });
    expect(callsWhileHeld).toBe(2); // nothing was read while the sink held
    expect(backlogWhileHeld).toBeGreaterThan(0); // so the server could not drain its writes
    expect(at).toBe(body.length);
    expect(out.equals(body)).toBe(true);
  });

  it("rejects with the signal's reason when aborted before the request, without connecting", async () => {
    const s = await serve();
    const ac = new AbortController();
    const reason = new Error("stop now");
    ac.abort(reason);
    expect(await rejection(socketGet(s.url(), { headers: {}, signal: ac.signal }))).toBe(reason);
    await sleep(30);
    expect(s.accepted()).toBe(0);
  });

  it("rejects with the signal's reason when aborted while waiting for the head, and closes the socket", async () => {
    const s = await serve(); // never answers
    const ac = new AbortController();
    const pending = socketGet(s.url(), { headers: {}, signal: ac.signal });
    const c = await s.next();
    const reason = new Error("cancelled during head");
    ac.abort(reason);
    expect(await rejection(pending)).toBe(reason);
    await c.closed;
  });

  it("uses an AbortError when aborted without a reason", async () => {
    const s = await serve();
    const ac = new AbortController();
    const pending = socketGet(s.url(), { headers: {}, signal: ac.signal });
    await s.next();
    ac.abort();
    const e = await rejection(pending);
    expect(e.name).toBe("AbortError");
  });

  it("rejects pipeTo with the signal's reason when aborted during the body, and closes the socket", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 5_000_000 }));
      c.socket.write(Buffer.alloc(100_000, 3));
    });
    const ac = new AbortController();
    const res = await socketGet(s.url(), { headers: {}, signal: ac.signal });
    const c = await s.next();
    const reason = new Error("cancelled during body");
    let got = 0;
    const piped = res.body.pipeTo((chunk) => {
      got += chunk.byteLength;
      if (got === 100_000) setTimeout(() => ac.abort(reason), 10);
      return undefined;
    });
    expect(await rejection(piped)).toBe(reason);
    expect(got).toBe(100_000);
    await c.closed;
  });

  it("fails a later pipeTo with the reason when aborted after the head, before a consumer", async () => {
    const s = await serve((c) => c.socket.write(head("200 OK", { "Content-Length": 10 })));
    const ac = new AbortController();
    const res = await socketGet(s.url(), { headers: {}, signal: ac.signal });
    const reason = new Error("not wanted");
    ac.abort(reason);
    expect(await rejection(res.body.pipeTo(() => undefined))).toBe(reason);
  });

  it("closes the connection on dump() and on destroy(); a later read fails with ECONNABORTED", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 10_000_000 }));
      c.socket.write(Buffer.alloc(500_000));
    });
    const a = await socketGet(s.url(), { headers: {} });
    await a.body.dump();
    await (await s.next()).closed;
    expect((await rejection(a.body.pipeTo(() => undefined))).code).toBe("ECONNABORTED");

    const b = await socketGet(s.url(), { headers: {} });
    b.body.destroy();
    await (await s.next()).closed;
    expect((await rejection(iterateAll(b))).code).toBe("ECONNABORTED");
  });

  it("destroy() fails a read in progress with ECONNABORTED", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 10_000_000 }));
      c.socket.write(Buffer.alloc(200_000));
    });
    const res = await socketGet(s.url(), { headers: {} });
    let got = 0;
    const piped = res.body.pipeTo((chunk) => {
      got += chunk.byteLength;
      if (got === 200_000) setTimeout(() => res.body.destroy(), 10);
      return undefined;
    });
    expect((await rejection(piped)).code).toBe("ECONNABORTED");
    await (await s.next()).closed;
  });

  it("closes the connection when iteration stops early", async () => {
    const s = await serve((c) => {
      c.socket.write(head("200 OK", { "Content-Length": 10_000_000 }));
      c.socket.write(Buffer.alloc(2_000_000));
    });
    const res = await socketGet(s.url(), { headers: {} });
    let n = 0;
    for await (const chunk of res.body) {
      n += chunk.byteLength;
      if (n > 0) break;
    }
    expect(n).toBeGreaterThan(0);
    await (await s.next()).closed;
  });

  it("refuses a second consumer", async () => {
    const s = await serve((c) => c.socket.write(`${head("200 OK", { "Content-Length": 2 })}ok`));
    const res = await socketGet(s.url(), { headers: {} });
    const first = pipeAll(res);
    expect((await rejection(res.body.pipeTo(() => undefined))).message).toMatch(/already being read/);
    expect((await first).bytes.toString()).toBe("ok");
  });
});
