import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Server, ServerCredentials, type ServerDuplexStream, type ServerWritableStream, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAddress } from "./address.js";
import { ContainerdError } from "./errors.js";
import {
  ContentClient,
  ContentService,
  type ReadContentRequest,
  type ReadContentResponse,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "./gen/containerd/services/content/v1/content.js";
import { type CallContext, Transport } from "./transport.js";

// An in-process gRPC server on a private unix socket plays containerd's Content service.
describe("Transport streaming", () => {
  let dir: string;
  let server: Server;
  let transport: Transport;
  let client: ContentClient;
  const cancelled: string[] = [];
  const namespaces: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "berth-transport-"));
    server = new Server();
    server.addService(ContentService, {
      read(call: ServerWritableStream<ReadContentRequest, ReadContentResponse>) {
        namespaces.push(String(call.metadata.get("containerd-namespace")[0]));
        if (call.request.digest === "missing") {
          call.emit("error", { code: status.NOT_FOUND, details: "content digest missing: not found" });
          return;
        }
        let offset = 0n;
        const timer = setInterval(() => {
          call.write({ offset, data: Buffer.from("chunk") });
          offset += 5n;
        }, 5);
        call.on("cancelled", () => {
          clearInterval(timer);
          cancelled.push(call.request.digest);
        });
      },
      write(call: ServerDuplexStream<WriteContentRequest, WriteContentResponse>) {
        let received = 0n;
        call.on("data", (req: WriteContentRequest) => {
          received += BigInt(req.data.length);
          call.write({
            action: req.action,
            startedAt: undefined,
            updatedAt: undefined,
            offset: received,
            total: req.total,
            digest: "",
          });
          if (req.action === WriteAction.COMMIT) call.end();
        });
      },
    } as never);
    const sock = join(dir, "c.sock");
    await new Promise<void>((resolve, reject) =>
      server.bindAsync(`unix://${sock}`, ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
    );
    transport = new Transport(parseAddress(sock)._unsafeUnwrap());
    client = transport.client(ContentClient);
  });

  afterAll(async () => {
    transport.close();
    server.forceShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const ctx = (signal?: AbortSignal): CallContext => ({
    namespace: "ns1",
    lease: undefined,
    timeoutMs: undefined,
    signal,
  });
  const read = (digest: string, signal?: AbortSignal) =>
    transport.serverStream(
      client,
      client.read,
      "Content.Read",
      { digest, offset: 0n, size: 0n },
      ctx(signal),
      `blob ${digest}`,
    );

  it("yields messages and cancels the call when the loop breaks", async () => {
    let n = 0;
    for await (const m of read("a")) {
      expect(m.data.toString()).toBe("chunk");
      if (++n === 3) break;
    }
    await expect.poll(() => cancelled.includes("a")).toBe(true);
    expect(namespaces).toContain("ns1");
  });

  it("cancels on abort and throws a Canceled ContainerdError", async () => {
    const controller = new AbortController();
    const seen: unknown[] = [];
    try {
      for await (const m of read("b", controller.signal)) {
        seen.push(m);
        controller.abort();
      }
      expect.unreachable();
    } catch (e) {
      expect(ContainerdError.is(e) && e.code).toBe("Canceled");
    }
    await expect.poll(() => cancelled.includes("b")).toBe(true);
  });

  it("throws the server's error as a tagged error naming the resource", async () => {
    try {
      for await (const _ of read("missing")) expect.unreachable();
      expect.unreachable();
    } catch (e) {
      expect(ContainerdError.is(e)).toBe(true);
      expect((e as ContainerdError).code).toBe("NotFound");
      expect((e as ContainerdError).resource).toBe("blob missing");
    }
  });

  it("runs a bidi stream in lock step", async () => {
    const call = transport.bidi(client, client.write, "Content.Write", ctx())._unsafeUnwrap();
    const base = { ref: "r", total: 6n, expected: "", offset: 0n, labels: {} };
    const a = await call.send({ ...base, action: WriteAction.WRITE, data: Buffer.from("abc") });
    const b = await call.send({ ...base, action: WriteAction.WRITE, data: Buffer.from("def") });
    const c = await call.send({ ...base, action: WriteAction.COMMIT, data: Buffer.alloc(0) });
    expect([a._unsafeUnwrap().offset, b._unsafeUnwrap().offset, c._unsafeUnwrap().action]).toEqual([
      3n,
      6n,
      WriteAction.COMMIT,
    ]);
    const after = await call.send({ ...base, action: WriteAction.STAT, data: Buffer.alloc(0) });
    expect(after.isErr()).toBe(true);
    call.close();
  });
});
